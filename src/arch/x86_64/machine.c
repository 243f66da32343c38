/*
 * bothy's x86-64 machine: RAM around a 3-4 GiB hole, KVM's in-kernel PIC,
 * IOAPIC, LAPICs and PIT, COM1, the ports Linux probes, HW-reduced ACPI power.
 */
#include "arch/x86_64/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/mapfile.h"
#include "core/vm.h"
#include "core/devices.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/virtio.h"

static struct x86_machine *machine(struct vm *vm)
{
	return vm->arch;
}

int arch_memory_init(struct vm *vm)
{
	uint64_t size = vm->cfg.mem_size;
	uint64_t low = size < X86_MMIO_HOLE_START ? size : X86_MMIO_HOLE_START;
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
	int ret;

	if (pages > 0 && page_size > 0 && size > (uint64_t)pages * (uint64_t)page_size) {
		log_err("--memory %llu MiB is more than this host's %llu MiB of RAM",
			(unsigned long long)(size >> 20),
			(unsigned long long)(((uint64_t)pages * (uint64_t)page_size) >> 20));
		return -E2BIG;
	}
	ret = gmem_add_region(vm->gmem, 0, low);
	if (!ret && size > low)
		ret = gmem_add_region(vm->gmem, X86_MMIO_HOLE_END, size - low);
	if (ret)
		log_err("cannot allocate %llu MiB of guest RAM: %s", (unsigned long long)(size >> 20),
			strerror(-ret));
	return ret;
}

int arch_platform_init(struct vm *vm)
{
	struct x86_machine *m;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	vm->arch = m;
	ret = vm->hv_ops->vm_create_irqchip(vm->hv_vm);
	if (ret) {
		log_err("cannot create the in-kernel interrupt controllers: %s", strerror(-ret));
		goto free_machine;
	}
	ret = serial_create(vm, X86_IRQ_COM1,
			    vm->cfg.console == VM_CONSOLE_STDIO ? vm->cfg.console_out_fd : -1, &m->com1);
	if (ret)
		goto free_machine;
	m->has_pci = vm_config_has_virtio(&vm->cfg);
	if (m->has_pci) {
		ret = pci_bus_init(&m->pci, X86_PCI_MMIO_BASE, X86_PCI_MMIO_SIZE);
		if (ret)
			goto destroy_serial;
		/* Port 0xcf9 sits inside the configuration ports: the bus passes its byte writes on. */
		m->pci.cf9_ops = &reset_control_bus_ops;
		m->pci.cf9_opaque = vm;
		m->next_gsi = HV_MSI_GSI_BASE;
		ret = bus_register(&vm->mmio_bus, X86_PCI_MMIO_BASE, X86_PCI_MMIO_SIZE, &pci_mmio_bus_ops, &m->pci,
				   "pci-mmio");
		if (ret)
			goto fini_pci;
	}
	ret = cmos_create(&m->cmos);
	if (ret)
		goto fini_pci;

	{
		const struct {
			uint16_t base, len;
			const struct bus_device_ops *ops;
			void *opaque;
			const char *name;
		} ports[] = {
			{ X86_PORT_COM1, SERIAL_NR_REGS, &serial_bus_ops, m->com1, "com1" },
			{ X86_PORT_I8042_DATA, 1, &sink_bus_ops, vm, "i8042-data" },
			{ X86_PORT_I8042_CMD, 1, &i8042_bus_ops, vm, "i8042-cmd" },
			{ X86_PORT_RTC, 2, &cmos_bus_ops, m->cmos, "cmos" },
			{ X86_PORT_POST, 1, &sink_bus_ops, vm, "post" },
			{ X86_PORT_ACPI_SLEEP_CTL, 3, &acpi_power_bus_ops, vm, "acpi-power" },
			{ X86_PORT_RESET_CTL, 1, &reset_control_bus_ops, vm, "reset-control" },
			{ PCI_CONF_PORT, PCI_CONF_PORTS, &pci_conf_bus_ops, &m->pci, "pci-config" },
			{ X86_PORT_DEBUG_EXIT, 1, &debug_exit_bus_ops, vm, "debug-exit" },
		};
		size_t n = sizeof(ports) / sizeof(ports[0]);

		if (!vm->cfg.debug_exit)
			n--; /* the test exit port is last and opt-in */
		for (size_t i = 0; i < n; i++) {
			/* With PCI, the configuration ports take 0xcf9 (one or the other, never both). */
			if (ports[i].ops == (m->has_pci ? &reset_control_bus_ops : &pci_conf_bus_ops))
				continue;
			ret = bus_register(&vm->pio_bus, ports[i].base, ports[i].len, ports[i].ops, ports[i].opaque,
					   ports[i].name);
			if (ret) {
				log_err("cannot register %s: %s", ports[i].name, strerror(-ret));
				goto destroy_cmos;
			}
		}
	}
	vm->console = m->com1;
	return 0;

destroy_cmos:
	cmos_destroy(m->cmos);
fini_pci:
	if (m->has_pci) {
		bus_init(&vm->mmio_bus, "mmio");
		pci_bus_fini(&m->pci);
	}
destroy_serial:
	serial_destroy(m->com1);
free_machine:
	free(m);
	vm->arch = NULL;
	return ret;
}

void arch_platform_fini(struct vm *vm)
{
	struct x86_machine *m = machine(vm);

	if (!m)
		return;
	vm->console = NULL;
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	if (m->has_pci)
		pci_bus_fini(&m->pci);
	cmos_destroy(m->cmos);
	serial_destroy(m->com1);
	free(m);
	vm->arch = NULL;
}

int arch_virtio_attach(struct vm *vm, struct virtio_dev *vdev, void **transport)
{
	struct x86_machine *m = machine(vm);
	struct virtio_pci_platform plat = { vm->hv_ops, vm->hv_vm, m->next_gsi };
	struct virtio_pci *vp;
	int ret;

	if (!m->has_pci)
		return -ENODEV;
	if (m->next_gsi + virtio_pci_nr_vectors(vdev->nr_queues) > HV_MAX_GSI)
		return -ENOSPC;
	ret = virtio_pci_create(vdev, &m->pci, &plat, &vp);
	if (ret)
		return ret;
	m->next_gsi += virtio_pci_nr_vectors(vdev->nr_queues);
	*transport = vp;
	return 0;
}

void arch_virtio_detach(struct vm *vm, void *transport)
{
	(void)vm;
	virtio_pci_destroy(transport);
}

int arch_boot_init(struct vm *vm)
{
	struct x86_machine *m = machine(vm);
	struct boot_files files;
	struct x86_boot_image img;
	char err[256] = "";
	int ret;

	ret = boot_files_open(vm->cfg.kernel_path, vm->cfg.initrd_path, &files);
	if (ret)
		return ret;
	img = (struct x86_boot_image){
		.kernel = files.kernel.data,
		.kernel_len = files.kernel.len,
		.initrd = files.initrd.data,
		.initrd_len = files.initrd.len,
		.cmdline = vm->cfg.cmdline,
		.ncpus = vm->nr_vcpus,
		.pci = m->has_pci,
	};
	ret = x86_boot_load(vm->gmem, &img, &m->boot, err, sizeof(err));
	if (ret)
		log_err("cannot boot '%s': %s", vm->cfg.kernel_path, err[0] ? err : strerror(-ret));
	boot_files_close(&files);
	return ret;
}

void arch_boot_fini(struct vm *vm)
{
	(void)vm; /* everything it wrote lives in guest RAM */
}

int arch_vcpu_init(struct vm *vm, struct vcpu *vcpu)
{
	return x86_cpu_init(vm, vcpu);
}
