/*
 * PCI bus 0 and the virtio-pci transport, driven the way Linux drives them:
 * configuration mechanism #1 through the port handlers, BAR 0 through the
 * MMIO window, MSI-X programmed in the table. The device behind it is the
 * real virtio-rng with its worker thread; interrupts are read from the
 * irqfds the transport registered with the (fake) hypervisor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "core/gmem.h"
#include "devices/pci.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/virtio.h"
#include "hv/fake.h"
#include "hv/hv.h"

#define WIN_BASE 0xc0000000ULL
#define WIN_SIZE 0x10000000ULL
#define GSI_BASE 24
#define RING_GPA 0x10000ULL
#define BUF_GPA 0x20000ULL
#define MSI_ADDR 0xfee00000u

/* BAR 0 layout (docs/virtio.md). */
#define COMMON 0x0000
#define ISR 0x1000
#define NOTIFY 0x3000
#define MSIX_TABLE 0x4000
#define MSIX_PBA 0x5000

struct rig {
	struct pci_bus bus;
	struct gmem *gm;
	struct virtio_dev *vdev;
	struct virtio_pci *vp;
	unsigned slot;
};

static uint32_t cfg_read(struct rig *r, unsigned slot, unsigned off, unsigned size)
{
	uint32_t addr = 0x80000000u | slot << 11 | (off & 0xfc), v = 0;

	pci_conf_bus_ops.write(&r->bus, 0, &addr, 4);
	pci_conf_bus_ops.read(&r->bus, 4 + (off & 3), &v, size);
	return v;
}

static void cfg_write(struct rig *r, unsigned slot, unsigned off, uint32_t v, unsigned size)
{
	uint32_t addr = 0x80000000u | slot << 11 | (off & 0xfc);

	pci_conf_bus_ops.write(&r->bus, 0, &addr, 4);
	pci_conf_bus_ops.write(&r->bus, 4 + (off & 3), &v, size);
}

static uint64_t bar0(struct rig *r)
{
	return cfg_read(r, r->slot, PCI_BAR0, 4) & ~0xfu;
}

static uint32_t bar_read(struct rig *r, uint64_t off, unsigned size)
{
	uint32_t v = 0;

	pci_mmio_bus_ops.read(&r->bus, bar0(r) - WIN_BASE + off, &v, size);
	return v;
}

static void bar_write(struct rig *r, uint64_t off, uint32_t v, unsigned size)
{
	pci_mmio_bus_ops.write(&r->bus, bar0(r) - WIN_BASE + off, &v, size);
}

static int rig_setup(void **state)
{
	static struct rig r;
	struct virtio_pci_platform plat = { &hv_fake_ops, NULL, GSI_BASE };

	memset(&r, 0, sizeof(r));
	fake_hv_reset();
	assert_int_equal(pci_bus_init(&r.bus, WIN_BASE, WIN_SIZE), 0);
	assert_int_equal(gmem_create(&r.gm), 0);
	assert_int_equal(gmem_add_region(r.gm, 0, 1 << 20), 0);
	assert_int_equal(virtio_rng_create(r.gm, 0, &r.vdev), 0);
	assert_int_equal(virtio_pci_create(r.vdev, &r.bus, &plat, &r.vp), 0);
	assert_int_equal(virtio_dev_start(r.vdev), 0);
	r.slot = 1;
	*state = &r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	virtio_pci_destroy(r->vp);
	virtio_dev_destroy(r->vdev);
	gmem_destroy(r->gm);
	pci_bus_fini(&r->bus);
	/* Everything the transport registered is gone again. */
	assert_int_equal(fake_state.nr_ioeventfds, 0);
	assert_int_equal(fake_state.nr_irqfds, 0);
	return 0;
}

/* The capability of virtio cfg_type @type, or 0. */
static unsigned find_virtio_cap(struct rig *r, uint8_t type)
{
	for (unsigned off = cfg_read(r, r->slot, PCI_CAPABILITY_LIST, 1), n = 0; off && n < 48; n++) {
		if (cfg_read(r, r->slot, off, 1) == PCI_CAP_ID_VNDR && cfg_read(r, r->slot, off + 3, 1) == type)
			return off;
		off = cfg_read(r, r->slot, off + 1, 1);
	}
	return 0;
}

static void test_enumeration(void **state)
{
	struct rig *r = *state;
	unsigned cap;

	/* Host bridge at 00.0, the device at 00.1, nothing else on bus 0 or beyond. */
	assert_int_equal(cfg_read(r, 0, PCI_REVISION_ID, 4) >> 8, 0x060000);
	assert_int_equal(cfg_read(r, 1, PCI_VENDOR_ID, 4), 0x1044u << 16 | 0x1af4);
	assert_int_equal(cfg_read(r, 1, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_read(r, 2, PCI_VENDOR_ID, 4), 0xffffffffu);
	{
		uint32_t addr = 0x80000000u | 1u << 16, v; /* bus 1 */

		pci_conf_bus_ops.write(&r->bus, 0, &addr, 4);
		pci_conf_bus_ops.read(&r->bus, 4, &v, 4);
		assert_int_equal(v, 0xffffffffu);
	}
	/* No INTx: interrupts are MSI-X only. Capability list present. */
	assert_int_equal(cfg_read(r, 1, PCI_INTERRUPT_PIN, 1), 0);
	assert_true(cfg_read(r, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* The four virtio structures Linux looks for, all in BAR 0; notify multiplier 4. */
	assert_int_not_equal(find_virtio_cap(r, 1), 0);
	assert_int_not_equal(find_virtio_cap(r, 3), 0);
	cap = find_virtio_cap(r, 2);
	assert_int_not_equal(cap, 0);
	assert_int_equal(cfg_read(r, 1, cap + 4, 1), 0);
	assert_int_equal(cfg_read(r, 1, cap + 8, 4), NOTIFY);
	assert_int_equal(cfg_read(r, 1, cap + 16, 4), 4);
	/* BAR 0 placed in the window, 32-bit memory, sized 32 KiB. */
	assert_int_equal(bar0(r), WIN_BASE);
	assert_true(cfg_read(r, 1, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	cfg_write(r, 1, PCI_BAR0, 0xffffffffu, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), 0xffff8000u);
	cfg_write(r, 1, PCI_BAR0, (uint32_t)WIN_BASE, 4);
	/* Read-only identity bytes stay. */
	cfg_write(r, 1, PCI_VENDOR_ID, 0x12345678, 4);
	assert_int_equal(cfg_read(r, 1, PCI_VENDOR_ID, 2), 0x1af4);
}

static bool has_ioeventfd(uint64_t addr)
{
	for (unsigned i = 0; i < fake_state.nr_ioeventfds; i++)
		if (fake_state.ioeventfds[i].addr == addr && !fake_state.ioeventfds[i].pio)
			return true;
	return false;
}

static void test_bar_move_follows_ioeventfds(void **state)
{
	struct rig *r = *state;
	uint64_t moved = WIN_BASE + 0x100000;

	assert_true(has_ioeventfd(WIN_BASE + NOTIFY));
	assert_int_equal(fake_state.nr_irqfds, 2); /* one queue + config */
	/* The guest moves BAR 0 (decode off while it does, as Linux does). */
	cfg_write(r, 1, PCI_COMMAND, 0, 2);
	assert_false(has_ioeventfd(WIN_BASE + NOTIFY));
	cfg_write(r, 1, PCI_BAR0, (uint32_t)moved, 4);
	cfg_write(r, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(has_ioeventfd(moved + NOTIFY));
	assert_int_equal(fake_state.nr_ioeventfds, 1);
	assert_int_equal(bar_read(r, COMMON + 18, 2), 1); /* num_queues, at the new place */
	/* Outside the window: not decoded at all. */
	cfg_write(r, 1, PCI_BAR0, 0x10000, 4);
	assert_int_equal(fake_state.nr_ioeventfds, 0);
	cfg_write(r, 1, PCI_BAR0, (uint32_t)WIN_BASE, 4);
	assert_true(has_ioeventfd(WIN_BASE + NOTIFY));
}

static void set_status(struct rig *r, uint8_t st)
{
	bar_write(r, COMMON + 20, st, 1);
}

/* Feature negotiation, queue 0 at RING_GPA with vector 1, MSI-X on with both vectors unmasked. */
static void bring_up(struct rig *r)
{
	unsigned msix = 0;

	set_status(r, 0);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	bar_write(r, COMMON + 0, 1, 4); /* device_feature_select = 1 */
	assert_true(bar_read(r, COMMON + 4, 4) & 1); /* VERSION_1 (bit 32) offered */
	bar_write(r, COMMON + 8, 1, 4);
	bar_write(r, COMMON + 12, 1, 4);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(bar_read(r, COMMON + 20, 1) & VIRTIO_STATUS_FEATURES_OK);

	for (unsigned off = cfg_read(r, 1, PCI_CAPABILITY_LIST, 1); off; off = cfg_read(r, 1, off + 1, 1))
		if (cfg_read(r, 1, off, 1) == PCI_CAP_ID_MSIX)
			msix = off;
	assert_int_not_equal(msix, 0);
	assert_int_equal(cfg_read(r, 1, msix + 2, 2) & 0x7ff, 1); /* table size 2 */
	cfg_write(r, 1, msix + 2, 0x8000, 2);                     /* enable */
	for (unsigned v = 0; v < 2; v++) {
		bar_write(r, MSIX_TABLE + 16 * v + 0, MSI_ADDR, 4);
		bar_write(r, MSIX_TABLE + 16 * v + 4, 0, 4);
		bar_write(r, MSIX_TABLE + 16 * v + 8, 0x40 + v, 4);
		bar_write(r, MSIX_TABLE + 16 * v + 12, 0, 4); /* unmask */
	}
	bar_write(r, COMMON + 16, 0, 2); /* config vector 0 */
	assert_int_equal(bar_read(r, COMMON + 16, 2), 0);

	bar_write(r, COMMON + 22, 0, 2); /* queue_select */
	assert_int_equal(bar_read(r, COMMON + 24, 2), 64);
	bar_write(r, COMMON + 24, 16, 2);
	bar_write(r, COMMON + 26, 1, 2);
	assert_int_equal(bar_read(r, COMMON + 26, 2), 1);
	bar_write(r, COMMON + 32, (uint32_t)RING_GPA, 4);
	bar_write(r, COMMON + 36, 0, 4);
	bar_write(r, COMMON + 40, (uint32_t)RING_GPA + 0x100, 4);
	bar_write(r, COMMON + 44, 0, 4);
	bar_write(r, COMMON + 48, (uint32_t)RING_GPA + 0x1000, 4);
	bar_write(r, COMMON + 52, 0, 4);
	bar_write(r, COMMON + 28, 1, 2);
	assert_int_equal(bar_read(r, COMMON + 28, 2), 1);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			      VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(bar_read(r, COMMON + 20, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* The routes the driver programmed reached the hypervisor. */
	assert_true(fake_state.msi_routes[GSI_BASE + 1].set);
	assert_int_equal(fake_state.msi_routes[GSI_BASE + 1].addr, MSI_ADDR);
	assert_int_equal(fake_state.msi_routes[GSI_BASE + 1].data, 0x41);
}

static int irqfd_of(uint32_t gsi)
{
	for (unsigned i = 0; i < fake_state.nr_irqfds; i++)
		if (fake_state.irqfds[i].gsi == gsi)
			return fake_state.irqfds[i].fd;
	return -1;
}

/* Waits up to @ms for an interrupt on @gsi and consumes it. */
static bool wait_irq(uint32_t gsi, int ms)
{
	struct pollfd p = { .fd = irqfd_of(gsi), .events = POLLIN };
	uint64_t n;

	if (p.fd < 0 || poll(&p, 1, ms) != 1)
		return false;
	return read(p.fd, &n, sizeof(n)) == sizeof(n);
}

/* Offers one 64-byte writable buffer and kicks queue 0 through the notify region. */
static void offer_and_kick(struct rig *r, uint16_t idx)
{
	uint8_t desc[16] = { 0 };
	uint64_t gpa = BUF_GPA;
	uint32_t len = 64;
	uint16_t flags = VIRTQ_DESC_F_WRITE, head = 0;

	memcpy(desc, &gpa, 8);
	memcpy(desc + 8, &len, 4);
	memcpy(desc + 12, &flags, 2);
	gmem_write(r->gm, RING_GPA, desc, sizeof(desc));
	gmem_write(r->gm, RING_GPA + 0x100 + 4 + 2 * ((idx - 1) % 16), &head, 2);
	gmem_write(r->gm, RING_GPA + 0x100 + 2, &idx, 2);
	bar_write(r, NOTIFY, 0, 2);
}

static uint16_t used_idx(struct rig *r)
{
	uint16_t v;

	gmem_read(r->gm, RING_GPA + 0x1000 + 2, &v, 2);
	return v;
}

static void test_request_and_msix_interrupt(void **state)
{
	struct rig *r = *state;
	uint8_t buf[64], zero[64] = { 0 };
	uint32_t used_len;

	bring_up(r);
	gmem_fill(r->gm, BUF_GPA, 0, 64);
	offer_and_kick(r, 1);
	assert_true(wait_irq(GSI_BASE + 1, 2000));
	assert_int_equal(used_idx(r), 1);
	gmem_read(r->gm, RING_GPA + 0x1000 + 8, &used_len, 4);
	assert_int_equal(used_len, 64);
	gmem_read(r->gm, BUF_GPA, buf, 64);
	assert_memory_not_equal(buf, zero, 64);

	/* Masked vector: the interrupt waits in the PBA and arrives on unmask. */
	bar_write(r, MSIX_TABLE + 16 + 12, 1, 4);
	offer_and_kick(r, 2);
	for (int i = 0; i < 2000 && used_idx(r) != 2; i++)
		usleep(1000);
	assert_int_equal(used_idx(r), 2);
	assert_false(wait_irq(GSI_BASE + 1, 50));
	assert_int_equal(bar_read(r, MSIX_PBA, 4) & 2, 2);
	bar_write(r, MSIX_TABLE + 16 + 12, 0, 4);
	assert_true(wait_irq(GSI_BASE + 1, 1000));
	assert_int_equal(bar_read(r, MSIX_PBA, 4) & 2, 0);
}

static void test_driver_mistakes(void **state)
{
	struct rig *r = *state;

	/* No VERSION_1: FEATURES_OK does not stick. */
	set_status(r, 0);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	bar_write(r, COMMON + 8, 1, 4);
	bar_write(r, COMMON + 12, 0, 4);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(bar_read(r, COMMON + 20, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* A vector the device does not have reads back as NO_VECTOR. */
	bar_write(r, COMMON + 16, 7, 2);
	assert_int_equal(bar_read(r, COMMON + 16, 2), 0xffff);
	/* A queue that does not exist: size 0, writes ignored. */
	bar_write(r, COMMON + 22, 5, 2);
	assert_int_equal(bar_read(r, COMMON + 24, 2), 0);
	bar_write(r, COMMON + 24, 16, 2);
	assert_int_equal(bar_read(r, COMMON + 24, 2), 0);
	/* Rings outside RAM: enabling the queue breaks the device, the VM lives on. */
	bring_up(r);
	set_status(r, 0);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	bar_write(r, COMMON + 8, 1, 4);
	bar_write(r, COMMON + 12, 1, 4);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	bar_write(r, COMMON + 22, 0, 2);
	bar_write(r, COMMON + 32, 0x40000000, 4);
	bar_write(r, COMMON + 28, 1, 2);
	assert_true(bar_read(r, COMMON + 20, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* Reset recovers it. */
	set_status(r, 0);
	assert_int_equal(bar_read(r, COMMON + 20, 1), 0);
	assert_int_equal(bar_read(r, COMMON + 28, 2), 0);
	bring_up(r);
	/* Odd accesses: ignored, nothing breaks. */
	bar_write(r, COMMON + 3, 0xff, 1);
	bar_write(r, MSIX_TABLE + 2, 0xffff, 2);
	bar_write(r, MSIX_PBA, 0xffffffff, 4);
	assert_int_equal(bar_read(r, MSIX_PBA, 4), 0);
	assert_int_equal(bar_read(r, COMMON + 20, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumeration, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_bar_move_follows_ioeventfds, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_request_and_msix_interrupt, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_driver_mistakes, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
