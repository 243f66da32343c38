/*
 * bothy's arm64 machine: RAM from 1 GiB, KVM's in-kernel GICv3 (with the arch timer), a 16550A
 * UART on MMIO, PSCI in KVM, and a device tree describing it all (layout.h, docs/arm64.md).
 */
#include "arch/aarch64/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/aarch64/layout.h"
#include "arch/arch.h"
#include "core/log.h"
#include "core/mapfile.h"
#include "core/vm.h"
#include "devices/serial.h"

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

int arch_virtio_attach(struct vm *vm, struct virtio_dev *vdev, void **transport)
{
	(void)vm;
	(void)vdev;
	(void)transport;
	log_err("virtio devices are not available on arm64 yet (docs/arm64.md)");
	return -ENOTSUP;
}

void arch_virtio_detach(struct vm *vm, void *transport)
{
	(void)vm;
	(void)transport;
}

/*
 * Runs after every vCPU exists: the GIC can be finished, and each vCPU's MPIDR (its id in the
 * device tree) read from KVM rather than guessed.
 */
int arch_boot_init(struct vm *vm)
{
	struct arm64_machine *m = machine(vm);
	struct boot_files files;
	struct arm64_boot_image img;
	char err[256] = "";
	int ret;

	ret = vm->hv_ops->arm64_init_gic(vm->hv_vm);
	if (ret) {
		log_err("cannot initialise the GICv3: %s", strerror(-ret));
		return ret;
	}
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
