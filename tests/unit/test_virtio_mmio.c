/*
 * The virtio-mmio transport driven the way a driver drives it (virtio 1.x
 * 4.2.3): a small fake device behind the core records what reaches it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"

#define BASE 0xa000000ULL
#define IRQ 42
#define F_DEV_LOW 1 /* device-specific feature bits the fake offers */
#define F_DEV_HIGH 40

struct fake {
	struct virtio_dev vdev;
	uint8_t config[8];
	unsigned notified[2]; /* per queue, written by the worker */
	unsigned activated, resets;
	uint32_t cfg_off, cfg_size, cfg_writes;
	uint8_t cfg_data[4];
	/* platform side */
	bool level;
	unsigned raises;
	unsigned ioeventfd_calls;
	int ioeventfd_fd;
	uint64_t ioeventfd_addr;
	uint32_t ioeventfd_match;
	bool ioeventfd_assigned;
	struct gmem *gm;
	struct virtio_mmio *m;
};

static void fake_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake *f = (struct fake *)vdev;

	__atomic_add_fetch(&f->notified[q], 1, __ATOMIC_RELEASE);
}

static int fake_activate(struct virtio_dev *vdev)
{
	((struct fake *)vdev)->activated++;
	return 0;
}

static void fake_reset(struct virtio_dev *vdev)
{
	((struct fake *)vdev)->resets++;
}

static void fake_config_write(struct virtio_dev *vdev, uint32_t offset, const void *data, unsigned size)
{
	struct fake *f = (struct fake *)vdev;

	f->cfg_off = offset;
	f->cfg_size = size;
	f->cfg_writes++;
	memcpy(f->cfg_data, data, size);
}

static const struct virtio_dev_ops fake_ops = {
	.queue_notify = fake_queue_notify,
	.activate = fake_activate,
	.reset = fake_reset,
	.config_write = fake_config_write,
};

static void fake_set_irq(void *opaque, bool level)
{
	struct fake *f = opaque;

	if (level)
		f->raises++;
	f->level = level;
}

/* Accepts queue 0 only, as a platform without datamatch for more would. */
static int fake_ioeventfd(void *opaque, int fd, uint64_t addr, uint32_t datamatch, bool assign)
{
	struct fake *f = opaque;

	f->ioeventfd_calls++;
	if (datamatch != 0)
		return -EOPNOTSUPP;
	f->ioeventfd_fd = fd;
	f->ioeventfd_addr = addr;
	f->ioeventfd_match = datamatch;
	f->ioeventfd_assigned = assign;
	return 0;
}

static struct fake *fake_setup(bool with_ioeventfd)
{
	static const uint16_t sizes[2] = { 16, 8 };
	struct fake *f = test_calloc(1, sizeof(*f));
	struct virtio_mmio_platform plat = {
		.base = BASE, .irq = IRQ, .opaque = f, .set_irq = fake_set_irq,
		.ioeventfd = with_ioeventfd ? fake_ioeventfd : NULL,
	};

	assert_non_null(f);
	assert_int_equal(gmem_create(&f->gm), 0);
	assert_int_equal(gmem_add_region(f->gm, 0, 1 << 20), 0);
	assert_int_equal(virtio_dev_init(&f->vdev, "fake0", 0x1234, (1ULL << F_DEV_LOW) | (1ULL << F_DEV_HIGH),
					 2, sizes, &fake_ops, f),
			 0);
	f->vdev.gmem = f->gm;
	for (unsigned i = 0; i < sizeof(f->config); i++)
		f->config[i] = (uint8_t)(0x11 * (i + 1));
	f->vdev.config = f->config;
	f->vdev.config_size = sizeof(f->config);
	assert_int_equal(virtio_mmio_create(&f->vdev, &plat, &f->m), 0);
	return f;
}

static void fake_teardown(struct fake *f)
{
	virtio_mmio_destroy(f->m);
	virtio_dev_destroy(&f->vdev); /* no ops->destroy: f is freed here */
	gmem_destroy(f->gm);
	test_free(f);
}

static uint32_t rd(struct fake *f, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	virtio_mmio_bus_ops.read(f->m, off, &v, 4);
	return v;
}

static void wr(struct fake *f, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(f->m, off, &v, 4);
}

/* 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. Returns the status read back. */
static uint32_t negotiate(struct fake *f, uint32_t lo, uint32_t hi)
{
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, lo);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, hi);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return rd(f, VIRTIO_MMIO_STATUS);
}

#define V1_HI (1u << (VIRTIO_F_VERSION_1 - 32))
#define ALL_OK (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)

/* Queue @q with rings in RAM at @gpa (desc), +0x1000 (avail), +0x2000 (used). */
static void setup_queue(struct fake *f, uint32_t q, uint32_t num, uint64_t gpa)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)gpa);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(gpa >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(gpa + 0x1000));
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((gpa + 0x1000) >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(gpa + 0x2000));
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((gpa + 0x2000) >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Reads and clears @fd's eventfd counter: 0 if nothing was signalled. */
static uint64_t drain_kick(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void test_identity(void **state)
{
	struct fake *f = fake_setup(false);
	struct virtio_mmio_desc d;

	(void)state;
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION_REG), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), 0x1234);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID_REG), VIRTIO_MMIO_VENDOR_ID);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* queue sizes, and 0 for a queue that does not exist */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 8);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	/* no shared memory regions: length reads as -1 */
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);

	virtio_mmio_describe(f->m, &d);
	assert_true(d.base == BASE && d.size == 0x200 && d.irq == IRQ);
	fake_teardown(f);
}

static void test_bus_registration(void **state)
{
	struct fake *f = fake_setup(false);
	struct bus bus;
	uint32_t v = 0;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(virtio_mmio_register(f->m, &bus), 0);
	assert_true(bus_access(&bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, false, &v, 4));
	assert_int_equal(v, VIRTIO_MMIO_MAGIC);
	assert_true(bus_access(&bus, BASE + 0x1fc, false, &v, 4));
	assert_false(bus_access(&bus, BASE + 0x200, false, &v, 4));
	fake_teardown(f);
}

static void test_feature_negotiation(void **state)
{
	struct fake *f = fake_setup(false);
	uint32_t lo, hi;

	(void)state;
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(lo & (1u << F_DEV_LOW));
	assert_true(hi & (1u << (F_DEV_HIGH - 32)));
	assert_true(hi & V1_HI);
	assert_int_equal(((uint64_t)hi << 32 | lo), virtio_dev_features(&f->vdev));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);

	/* a subset across both words, with VERSION_1: accepted */
	assert_int_equal(negotiate(f, 1u << F_DEV_LOW, V1_HI | (1u << (F_DEV_HIGH - 32))), ALL_OK);
	assert_true(virtio_dev_has_feature(&f->vdev, F_DEV_LOW));
	assert_true(virtio_dev_has_feature(&f->vdev, F_DEV_HIGH));
	assert_true(virtio_dev_has_feature(&f->vdev, VIRTIO_F_VERSION_1));
	/* once accepted, the features are fixed */
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_true(virtio_dev_has_feature(&f->vdev, F_DEV_LOW));

	/* a bit that was not offered (bit 2, or in the high word bit 41): refused */
	assert_int_equal(negotiate(f, 1u << 2, V1_HI) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_int_equal(negotiate(f, 0, V1_HI | (1u << 9)) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* no VERSION_1 (this transport has no legacy mode): refused */
	assert_int_equal(negotiate(f, 1u << F_DEV_LOW, 0) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* features words beyond 1 do not exist */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_int_equal(f->vdev.driver_features, 0);
	fake_teardown(f);
}

static void test_queue_setup(void **state)
{
	struct fake *f = fake_setup(false);
	struct virtq *q0 = &f->vdev.queues[0], *q1 = &f->vdev.queues[1];

	(void)state;
	/* QueueReady before FEATURES_OK is refused: ring features are unknown */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	setup_queue(f, 0, 16, 0x10000);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);

	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_true(q0->enabled);
	assert_int_equal(q0->size, 16);
	assert_int_equal(q0->desc_gpa, 0x10000);
	assert_int_equal(q0->avail_gpa, 0x11000);
	assert_int_equal(q0->used_gpa, 0x12000);
	/* a ready queue's registers are fixed */
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x20000);
	assert_int_equal(q0->size, 16);
	assert_int_equal(q0->desc_gpa, 0x10000);
	/* the selector picks the queue: queue 1 is still unconfigured */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	/* a size above the maximum is not truncated into a valid one */
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 0x10008);
	assert_int_equal(q1->size, 0);

	/* DRIVER_OK activates the device; queue registers are fixed from then on */
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->activated, 1);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x30000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(q1->size, 0);
	assert_int_equal(q1->desc_gpa, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	/* and queue 0 cannot be taken away under the worker */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	fake_teardown(f);
}

static void test_queue_ready_zero_and_bad_ring(void **state)
{
	struct fake *f = fake_setup(false);

	(void)state;
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	/* the driver may take a queue back before DRIVER_OK (Linux reads back 0) */
	setup_queue(f, 0, 16, 0x10000);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(f->vdev.queues[0].enabled);

	/* rings outside guest RAM: the queue stays off and the device needs a reset */
	setup_queue(f, 1, 8, 0x7fff0000);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* a reset recovers */
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	fake_teardown(f);
}

static void test_notify_kicks_the_queue(void **state)
{
	struct fake *f = fake_setup(false);

	(void)state;
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	setup_queue(f, 1, 8, 0x20000);
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	/* DRIVER_OK kicks every ready queue once; take those */
	assert_int_equal(drain_kick(f->vdev.kick_fd[0]), 1);
	assert_int_equal(drain_kick(f->vdev.kick_fd[1]), 1);

	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(drain_kick(f->vdev.kick_fd[0]), 0);
	assert_int_equal(drain_kick(f->vdev.kick_fd[1]), 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(drain_kick(f->vdev.kick_fd[0]), 2);
	/* a queue that does not exist: nothing */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_int_equal(drain_kick(f->vdev.kick_fd[0]), 0);
	assert_int_equal(drain_kick(f->vdev.kick_fd[1]), 0);
	fake_teardown(f);
}

static bool wait_count(unsigned *p, unsigned want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) >= want)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

static void test_notify_reaches_the_device(void **state)
{
	struct fake *f = fake_setup(false);

	(void)state;
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	setup_queue(f, 1, 8, 0x20000);
	assert_int_equal(virtio_dev_start(&f->vdev), 0);
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(wait_count(&f->notified[0], 1));
	assert_true(wait_count(&f->notified[1], 1));
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_true(wait_count(&f->notified[1], 2));
	assert_int_equal(__atomic_load_n(&f->notified[0], __ATOMIC_ACQUIRE), 1);
	fake_teardown(f);
}

static void test_ioeventfd_hook(void **state)
{
	struct fake *f = fake_setup(true);
	int fd0 = f->vdev.kick_fd[0];

	(void)state;
	/* offered for both queues; the fake platform takes queue 0 only */
	assert_int_equal(f->ioeventfd_calls, 2);
	assert_true(f->ioeventfd_assigned);
	assert_int_equal(f->ioeventfd_fd, fd0);
	assert_int_equal(f->ioeventfd_addr, BASE + 0x50);
	assert_int_equal(f->ioeventfd_match, 0);

	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	setup_queue(f, 1, 8, 0x20000);
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	drain_kick(fd0);
	drain_kick(f->vdev.kick_fd[1]);
	/* queue 0's notifies belong to the ioeventfd (the hypervisor signals it); queue 1 traps */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(drain_kick(fd0), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(drain_kick(f->vdev.kick_fd[1]), 1);

	/* destroy deassigns what was assigned, and only that */
	virtio_mmio_destroy(f->m);
	f->m = NULL;
	assert_int_equal(f->ioeventfd_calls, 3);
	assert_false(f->ioeventfd_assigned);
	assert_int_equal(f->ioeventfd_fd, fd0);
	fake_teardown(f);
}

static void test_interrupts(void **state)
{
	struct fake *f = fake_setup(false);
	uint32_t gen;

	(void)state;
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_false(f->level);

	/* a used buffer: bit 0, line up */
	pthread_mutex_lock(&f->vdev.lock);
	f->vdev.transport->notify_queue(&f->vdev, 0);
	pthread_mutex_unlock(&f->vdev.lock);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_true(f->level);
	assert_int_equal(f->raises, 1);

	/* a config change on top: bit 1 and a new generation; the line stays up */
	gen = rd(f, VIRTIO_MMIO_CONFIG_GENERATION);
	pthread_mutex_lock(&f->vdev.lock);
	virtio_dev_config_changed(&f->vdev);
	pthread_mutex_unlock(&f->vdev.lock);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	assert_int_equal(f->raises, 1);

	/* ACK one bit: the other keeps the line up; ACK the last: down */
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_true(f->level);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_false(f->level);

	/* a broken device tells the driver through a config interrupt */
	pthread_mutex_lock(&f->vdev.lock);
	virtio_dev_set_broken(&f->vdev, "test");
	pthread_mutex_unlock(&f->vdev.lock);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(f->level);
	assert_int_equal(f->raises, 2);
	/* reset clears the interrupt state and the line */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_false(f->level);
	fake_teardown(f);
}

static void test_reset_clears_queues(void **state)
{
	struct fake *f = fake_setup(false);
	unsigned resets;

	(void)state;
	assert_int_equal(negotiate(f, 1u << F_DEV_LOW, V1_HI), ALL_OK);
	setup_queue(f, 0, 16, 0x10000);
	setup_queue(f, 1, 8, 0x20000);
	wr(f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);

	resets = f->resets;
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(f->resets, resets + 1);
	assert_int_equal(f->vdev.driver_features, 0);
	for (uint32_t q = 0; q < 2; q++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
		assert_false(f->vdev.queues[q].enabled);
	}
	/* and the device can be brought up again from scratch */
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	setup_queue(f, 0, 8, 0x30000);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(f->vdev.queues[0].size, 8);
	assert_int_equal(f->vdev.queues[0].desc_gpa, 0x30000);
	fake_teardown(f);
}

static void test_config_space(void **state)
{
	struct fake *f = fake_setup(false);
	uint8_t b = 0;
	uint16_t h = 0;
	uint32_t w = 0;

	(void)state;
	virtio_mmio_bus_ops.read(f->m, 0x100, &b, 1);
	assert_int_equal(b, 0x11);
	virtio_mmio_bus_ops.read(f->m, 0x103, &b, 1);
	assert_int_equal(b, 0x44);
	virtio_mmio_bus_ops.read(f->m, 0x102, &h, 2);
	assert_int_equal(h, 0x4433);
	virtio_mmio_bus_ops.read(f->m, 0x104, &w, 4);
	assert_int_equal(w, 0x88776655);
	/* beyond the device's config: zeros */
	virtio_mmio_bus_ops.read(f->m, 0x108, &w, 4);
	assert_int_equal(w, 0);
	/* misaligned: ignored */
	h = 0xffff;
	virtio_mmio_bus_ops.read(f->m, 0x101, &h, 2);
	assert_int_equal(h, 0);

	h = 0xbeef;
	virtio_mmio_bus_ops.write(f->m, 0x102, &h, 2);
	assert_int_equal(f->cfg_writes, 1);
	assert_int_equal(f->cfg_off, 2);
	assert_int_equal(f->cfg_size, 2);
	assert_memory_equal(f->cfg_data, &h, 2);
	virtio_mmio_bus_ops.write(f->m, 0x103, &h, 2);
	virtio_mmio_bus_ops.write(f->m, 0x1fe, &w, 4); /* runs off the window */
	assert_int_equal(f->cfg_writes, 1);
	fake_teardown(f);
}

static void test_bad_accesses_ignored(void **state)
{
	struct fake *f = fake_setup(false);
	uint64_t q = ~0ULL;
	uint16_t h = 0xffff;
	uint8_t b = VIRTIO_STATUS_ACKNOWLEDGE;
	uint32_t w = VIRTIO_STATUS_ACKNOWLEDGE;

	(void)state;
	/* registers are 32-bit only: narrower, wider and misaligned reads give 0 */
	virtio_mmio_bus_ops.read(f->m, VIRTIO_MMIO_MAGIC_VALUE, &h, 2);
	assert_int_equal(h, 0);
	virtio_mmio_bus_ops.read(f->m, VIRTIO_MMIO_MAGIC_VALUE, &q, 8);
	assert_int_equal(q, 0);
	w = 0xffffffff;
	virtio_mmio_bus_ops.read(f->m, VIRTIO_MMIO_MAGIC_VALUE + 2, &w, 4);
	assert_int_equal(w, 0);
	/* ... and such writes change nothing */
	virtio_mmio_bus_ops.write(f->m, VIRTIO_MMIO_STATUS, &b, 1);
	w = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_bus_ops.write(f->m, VIRTIO_MMIO_STATUS + 1, &w, 4);
	q = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_bus_ops.write(f->m, VIRTIO_MMIO_STATUS, &q, 8);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	/* offsets outside the window, unknown registers, read-only ones */
	virtio_mmio_bus_ops.write(f->m, 0x200, &w, 4);
	virtio_mmio_bus_ops.write(f->m, 0x1000, &w, 4);
	virtio_mmio_bus_ops.read(f->m, 0x200, &w, 4);
	assert_int_equal(w, 0);
	assert_int_equal(rd(f, 0x0f0), 0);
	wr(f, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(f, VIRTIO_MMIO_DEVICE_ID, 7);
	wr(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), 0x1234);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	/* a status with reserved bits is not taken */
	wr(f, VIRTIO_MMIO_STATUS, 0x101);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	/* queue registers of a queue that does not exist */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0x80000000);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* the device still works normally */
	assert_int_equal(negotiate(f, 0, V1_HI), ALL_OK);
	fake_teardown(f);
}

/* The whole path with a real device: a driver's notify, the rng's worker, the used ring, the line. */
struct line {
	bool level;
	unsigned raises;
};

static void line_set(void *opaque, bool level)
{
	struct line *l = opaque;

	if (level)
		__atomic_add_fetch(&l->raises, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&l->level, level, __ATOMIC_RELEASE);
}

static void test_rng_end_to_end(void **state)
{
	struct line line = { 0 };
	struct virtio_mmio_platform plat = { .base = BASE, .irq = IRQ, .opaque = &line, .set_irq = line_set };
	struct fake f; /* only its gm and m fields: rd/wr/negotiate/setup_queue take a fake */
	struct virtio_dev *vdev;
	uint8_t desc[16] = { 0 };
	uint64_t addr = 0x40000;
	uint32_t len = 32, used_len = 0;
	uint16_t flags = VIRTQ_DESC_F_WRITE, head = 0, one = 1;
	uint16_t *used_idx;
	int i;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(gmem_create(&f.gm), 0);
	assert_int_equal(gmem_add_region(f.gm, 0, 1 << 20), 0);
	assert_int_equal(virtio_rng_create(f.gm, 0, &vdev), 0);
	assert_int_equal(virtio_mmio_create(vdev, &plat, &f.m), 0);
	assert_int_equal(virtio_dev_start(vdev), 0);

	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(negotiate(&f, 0, V1_HI), ALL_OK);
	setup_queue(&f, 0, 8, 0x10000);
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(&f, VIRTIO_MMIO_STATUS, ALL_OK | VIRTIO_STATUS_DRIVER_OK);

	/* one 32-byte writable buffer, made available, then notified */
	memcpy(desc, &addr, 8);
	memcpy(desc + 8, &len, 4);
	memcpy(desc + 12, &flags, 2);
	assert_int_equal(gmem_write(f.gm, 0x10000, desc, sizeof(desc)), 0);
	assert_int_equal(gmem_write(f.gm, 0x11004, &head, 2), 0);
	__atomic_store_n((uint16_t *)gmem_ptr(f.gm, 0x11002, 2), one, __ATOMIC_RELEASE);
	wr(&f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

	used_idx = gmem_ptr(f.gm, 0x12002, 2);
	for (i = 0; i < 2000 && !__atomic_load_n(&line.level, __ATOMIC_ACQUIRE); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(__atomic_load_n(&line.level, __ATOMIC_ACQUIRE));
	assert_int_equal(__atomic_load_n(used_idx, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(gmem_read(f.gm, 0x12008, &used_len, 4), 0);
	assert_int_equal(used_len, 32);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(&f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_false(__atomic_load_n(&line.level, __ATOMIC_ACQUIRE));
	assert_int_equal(__atomic_load_n(&line.raises, __ATOMIC_ACQUIRE), 1);

	virtio_mmio_destroy(f.m);
	virtio_dev_destroy(vdev);
	gmem_destroy(f.gm);
}

static void test_create_checks_arguments(void **state)
{
	struct virtio_mmio_platform plat = { .base = BASE };
	struct virtio_mmio *m = NULL;
	struct virtio_dev vdev;

	(void)state;
	memset(&vdev, 0, sizeof(vdev));
	assert_int_equal(virtio_mmio_create(&vdev, &plat, &m), -EINVAL); /* no set_irq */
	assert_int_equal(virtio_mmio_create(NULL, &plat, &m), -EINVAL);
	assert_null(m);
	virtio_mmio_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_bus_registration),
		cmocka_unit_test(test_feature_negotiation),
		cmocka_unit_test(test_queue_setup),
		cmocka_unit_test(test_queue_ready_zero_and_bad_ring),
		cmocka_unit_test(test_notify_kicks_the_queue),
		cmocka_unit_test(test_notify_reaches_the_device),
		cmocka_unit_test(test_ioeventfd_hook),
		cmocka_unit_test(test_interrupts),
		cmocka_unit_test(test_reset_clears_queues),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_bad_accesses_ignored),
		cmocka_unit_test(test_rng_end_to_end),
		cmocka_unit_test(test_create_checks_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
