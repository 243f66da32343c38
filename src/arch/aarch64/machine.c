/*
 * bothy's arm64 machine: RAM from 1 GiB, KVM's in-kernel GICv3 (with the arch timer), a 16550A
 * UART and virtio-mmio slots on MMIO, PSCI in KVM, and a device tree describing it all (layout.h,
 * docs/arm64.md).
 */
#include "arch/aarch64/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/aarch64/layout.h"
#include "arch/arch.h"
#include "core/log.h"
#include "core/mapfile.h"
#include "core/vm.h"
#include "devices/serial.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"

static struct arm64_machine *machine(struct vm *vm)
{
	return vm->arch;
}

int arch_memory_init(struct vm *vm)
{
	uint64_t size = vm->cfg.mem_size;
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
	int ret;

	if (pages > 0 && page_size > 0 && size > (uint64_t)pages * (uint64_t)page_size) {
		log_err("--memory %llu MiB is more than this host's %llu MiB of RAM",
			(unsigned long long)(size >> 20),
			(unsigned long long)(((uint64_t)pages * (uint64_t)page_size) >> 20));
		return -E2BIG;
	}
	if (size > ARM64_IPA_LIMIT - ARM64_RAM_BASE) {
		log_err("--memory %llu MiB does not fit below the guest's 40-bit physical address limit",
			(unsigned long long)(size >> 20));
		return -E2BIG;
	}
	ret = gmem_add_region(vm->gmem, ARM64_RAM_BASE, size);
	if (ret)
		log_err("cannot allocate %llu MiB of guest RAM: %s", (unsigned long long)(size >> 20),
			strerror(-ret));
	return ret;
}

int arch_platform_init(struct vm *vm)
{
	const struct hv_arm64_gic gic = { .dist_base = ARM64_GIC_DIST_BASE, .redist_base = ARM64_GIC_REDIST_BASE };
	struct arm64_machine *m;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (unsigned i = 0; i < ARM64_VIRTIO_MMIO_SLOTS; i++)
		m->virtio[i].irqfd = -1;
	vm->arch = m;
	if (!vm->hv_ops->arm64_create_gic) {
		log_err("the %s hypervisor backend has no arm64 interrupt controller", vm->hv_ops->name);
		ret = -ENOTSUP;
		goto free_machine;
	}
	ret = vm->hv_ops->arm64_create_gic(vm->hv_vm, &gic);
	if (ret) {
		log_err("cannot create the in-kernel GICv3: %s", strerror(-ret));
		goto free_machine;
	}
	ret = arm64_hcall_filter_init(vm);
	if (ret)
		goto free_machine;
	ret = serial_create(vm, ARM64_SPI_BASE + ARM64_UART_SPI,
			    vm->cfg.console == VM_CONSOLE_STDIO ? vm->cfg.console_out_fd : -1, &m->uart);
	if (ret)
		goto free_machine;
	ret = bus_register(&vm->mmio_bus, ARM64_UART_BASE, ARM64_UART_SIZE, &serial_bus_ops, m->uart, "uart");
	if (ret) {
		log_err("cannot register the UART: %s", strerror(-ret));
		goto destroy_serial;
	}
	vm->console = m->uart;
	return 0;

destroy_serial:
	serial_destroy(m->uart);
free_machine:
	free(m);
	vm->arch = NULL;
	return ret;
}

void arch_platform_fini(struct vm *vm)
{
	struct arm64_machine *m = machine(vm);

	if (!m)
		return;
	vm->console = NULL;
	bus_init(&vm->mmio_bus, "mmio");
	serial_destroy(m->uart);
	free(m);
	vm->arch = NULL;
	/* The GIC goes with the hypervisor's VM. */
}

/*
 * The transport's line, from a vCPU or the device's worker with the device's lock held: a rising
 * edge is one eventfd write, which KVM injects into the GIC without an exit or an ioctl. A falling
 * edge needs nothing: the device tree makes the SPI edge-triggered.
 */
static void virtio_slot_set_irq(void *opaque, bool level)
{
	struct arm64_virtio_slot *s = opaque;

	if (level && eventfd_write(s->irqfd, 1) < 0)
		log_warn("virtio-mmio SPI %u: cannot signal its irqfd: %s", s->spi, strerror(errno));
}

/* All queues share the QueueNotify register; KVM tells them apart by the value written. */
static int virtio_slot_ioeventfd(void *opaque, int fd, uint64_t addr, uint32_t datamatch, bool assign)
{
	struct arm64_virtio_slot *s = opaque;

	return s->vm->hv_ops->vm_ioeventfd(s->vm->hv_vm, fd, addr, 4, false, datamatch, assign);
}

int arch_virtio_attach(struct vm *vm, struct virtio_dev *vdev, void **transport)
{
	struct arm64_machine *m = machine(vm);
	struct arm64_virtio_slot *s = NULL;
	struct virtio_mmio_platform plat;
	unsigned i;
	int ret;

	for (i = 0; i < ARM64_VIRTIO_MMIO_SLOTS && !s; i++)
		if (m->virtio[i].irqfd < 0)
			s = &m->virtio[i];
	if (!s) {
		log_err("%s: all %u virtio-mmio slots are taken", vdev->name, ARM64_VIRTIO_MMIO_SLOTS);
		return -ENOSPC;
	}
	i = (unsigned)(s - m->virtio);
	*s = (struct arm64_virtio_slot){
		.vm = vm,
		.base = ARM64_VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE,
		.spi = ARM64_VIRTIO_SPI + i,
		.irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
	};
	if (s->irqfd < 0) {
		ret = -errno;
		log_err("%s: cannot create its interrupt eventfd: %s", vdev->name, strerror(-ret));
		return ret;
	}
	plat = (struct virtio_mmio_platform){
		.base = s->base,
		.irq = s->spi,
		.opaque = s,
		.set_irq = virtio_slot_set_irq,
		.ioeventfd = vm->hv_ops->vm_ioeventfd ? virtio_slot_ioeventfd : NULL,
	};
	ret = virtio_mmio_create(vdev, &plat, &s->mmio);
	if (ret) {
		log_err("%s: cannot create its virtio-mmio transport: %s", vdev->name, strerror(-ret));
		goto close_irqfd;
	}
	ret = virtio_mmio_register(s->mmio, &vm->mmio_bus);
	if (ret) {
		log_err("%s: cannot map its virtio-mmio window at 0x%llx: %s", vdev->name,
			(unsigned long long)s->base, strerror(-ret));
		goto destroy_mmio;
	}
	*transport = s;
	return 0;

destroy_mmio:
	virtio_mmio_destroy(s->mmio);
close_irqfd:
	close(s->irqfd);
	*s = (struct arm64_virtio_slot){ .irqfd = -1 };
	return ret;
}

void arch_virtio_detach(struct vm *vm, void *transport)
{
	struct arm64_virtio_slot *s = transport;

	bus_unregister(&vm->mmio_bus, s->base);
	virtio_mmio_destroy(s->mmio);
	if (s->irqfd_on)
		vm->hv_ops->vm_irqfd(vm->hv_vm, s->irqfd, s->spi, false);
	close(s->irqfd);
	*s = (struct arm64_virtio_slot){ .irqfd = -1 };
}

/*
 * KVM routes irqfds to SPIs once the GIC is initialised (GSI n is SPI n); an edge signalled before
 * that is delivered when the irqfd is assigned. Fills @descs for the device tree.
 */
static int virtio_slots_connect(struct vm *vm, struct virtio_mmio_desc *descs, unsigned *n)
{
	struct arm64_machine *m = machine(vm);

	*n = 0;
	for (unsigned i = 0; i < ARM64_VIRTIO_MMIO_SLOTS; i++) {
		struct arm64_virtio_slot *s = &m->virtio[i];
		int ret;

		if (s->irqfd < 0)
			continue;
		if (!s->irqfd_on) {
			ret = vm->hv_ops->vm_irqfd(vm->hv_vm, s->irqfd, s->spi, true);
			if (ret) {
				log_err("cannot connect virtio-mmio slot %u to SPI %u: %s", i, s->spi,
					strerror(-ret));
				return ret;
			}
			s->irqfd_on = true;
		}
		virtio_mmio_describe(s->mmio, &descs[(*n)++]);
	}
	return 0;
}

/*
 * Runs after every vCPU exists: the GIC can be finished, and each vCPU's MPIDR (its id in the
 * device tree) read from KVM rather than guessed.
 */
int arch_boot_init(struct vm *vm)
{
	struct arm64_machine *m = machine(vm);
	struct virtio_mmio_desc virtio[ARM64_VIRTIO_MMIO_SLOTS];
	struct boot_files files;
	struct arm64_boot_image img;
	char err[256] = "";
	unsigned nr_virtio;
	int ret;

	ret = vm->hv_ops->arm64_init_gic(vm->hv_vm);
	if (ret) {
		log_err("cannot initialise the GICv3: %s", strerror(-ret));
		return ret;
	}
	ret = virtio_slots_connect(vm, virtio, &nr_virtio);
	if (ret)
		return ret;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = vm->hv_ops->arm64_get_reg(vm->vcpus[i].hv_vcpu, HV_ARM64_MPIDR_EL1, &m->mpidr[i]);
		if (ret) {
			log_err("cannot read vCPU %u's MPIDR: %s", i, strerror(-ret));
			return ret;
		}
	}
	ret = boot_files_open(vm->cfg.kernel_path, vm->cfg.initrd_path, &files);
	if (ret)
		return ret;
	img = (struct arm64_boot_image){
		.kernel = files.kernel.data,
		.kernel_len = files.kernel.len,
		.initrd = files.initrd.data,
		.initrd_len = files.initrd.len,
		.cmdline = vm->cfg.cmdline,
		.ncpus = vm->nr_vcpus,
		.mpidr = m->mpidr,
		.ram_base = ARM64_RAM_BASE,
		.ram_size = vm->cfg.mem_size,
		.virtio = virtio,
		.nr_virtio = nr_virtio,
	};
	ret = arm64_boot_load(vm->gmem, &img, &m->boot, err, sizeof(err));
	if (ret)
		log_err("cannot boot '%s': %s", vm->cfg.kernel_path, err[0] ? err : strerror(-ret));
	else
		log_debug("arm64: kernel 0x%llx-0x%llx, initrd 0x%llx+%llu, device tree 0x%llx+%llu",
			  (unsigned long long)m->boot.kernel_addr, (unsigned long long)m->boot.kernel_end,
			  (unsigned long long)m->boot.initrd_addr, (unsigned long long)m->boot.initrd_size,
			  (unsigned long long)m->boot.dtb_addr, (unsigned long long)m->boot.dtb_size);
	boot_files_close(&files);
	return ret;
}

void arch_boot_fini(struct vm *vm)
{
	(void)vm; /* everything it wrote lives in guest RAM */
}
