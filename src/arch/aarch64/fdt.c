/*
 * The arm64 guest's device tree (bindings: Documentation/devicetree/bindings in Linux). Written with
 * libfdt's sequential-write functions; every call is checked, and a tree that does not fit in the
 * caller's buffer is -ENOSPC, never truncated.
 */
#include "arch/aarch64/fdt.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "arch/aarch64/layout.h"
#include "bothy/bothy.h"
#include "devices/virtio/mmio.h"

/* Interrupt specifiers of the GICv3 binding: type, number, flags. */
#define GIC_SPI 0u
#define GIC_PPI 1u
#define IRQ_EDGE_RISING 1u
#define IRQ_LEVEL_HIGH 4u

/* The affinity fields of MPIDR_EL1 (Aff3 at 39:32, Aff2..Aff0 at 23:0): a cpu node's reg. */
#define MPIDR_AFFINITY_MASK 0xff00ffffffULL

/* Big-endian cells of a (base, size) pair with #address-cells = #size-cells = 2. */
static int prop_reg2(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t cells[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", cells, sizeof(cells));
}

static int prop_cells(void *fdt, const char *name, const uint32_t *v, unsigned n)
{
	fdt32_t cells[12];

	if (n > sizeof(cells) / sizeof(cells[0]))
		return -FDT_ERR_INTERNAL;
	for (unsigned i = 0; i < n; i++)
		cells[i] = cpu_to_fdt32(v[i]);
	return fdt_property(fdt, name, cells, (int)(n * sizeof(cells[0])));
}

/* Each step returns a libfdt error (negative) or 0; CHECK stops at the first. */
#define CHECK(call)                    \
	do {                           \
		int r_ = (call);       \
		if (r_ < 0)            \
			return r_;     \
	} while (0)

static int add_cpus(void *fdt, const struct arm64_fdt_config *cfg)
{
	char name[32];

	CHECK(fdt_begin_node(fdt, "cpus"));
	CHECK(fdt_property_cell(fdt, "#address-cells", 2));
	CHECK(fdt_property_cell(fdt, "#size-cells", 0));
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		uint64_t aff = cfg->mpidr[i] & MPIDR_AFFINITY_MASK;
		fdt64_t reg = cpu_to_fdt64(aff);

		snprintf(name, sizeof(name), "cpu@%" PRIx64, aff);
		CHECK(fdt_begin_node(fdt, name));
		CHECK(fdt_property_string(fdt, "device_type", "cpu"));
		CHECK(fdt_property_string(fdt, "compatible", "arm,armv8"));
		CHECK(fdt_property_string(fdt, "enable-method", "psci"));
		CHECK(fdt_property(fdt, "reg", &reg, sizeof(reg)));
		CHECK(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int add_gic(void *fdt, unsigned ncpus)
{
	char name[40];
	fdt64_t reg[4] = {
		cpu_to_fdt64(ARM64_GIC_DIST_BASE), cpu_to_fdt64(ARM64_GIC_DIST_SIZE),
		cpu_to_fdt64(ARM64_GIC_REDIST_BASE), cpu_to_fdt64(ARM64_GIC_REDIST_STRIDE * ncpus),
	};

	snprintf(name, sizeof(name), "interrupt-controller@%llx", (unsigned long long)ARM64_GIC_DIST_BASE);
	CHECK(fdt_begin_node(fdt, name));
	CHECK(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
	CHECK(fdt_property_cell(fdt, "#interrupt-cells", 3));
	CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
	CHECK(fdt_property_cell(fdt, "#redistributor-regions", 1));
	CHECK(fdt_property(fdt, "reg", reg, sizeof(reg)));
	CHECK(fdt_property_cell(fdt, "phandle", ARM64_FDT_GIC_PHANDLE));
	return fdt_end_node(fdt);
}

static int add_timer(void *fdt)
{
	/* Order of the binding: secure physical, non-secure physical, virtual, hypervisor. */
	const uint32_t irqs[] = {
		GIC_PPI, ARM64_TIMER_PPI_SEC, IRQ_LEVEL_HIGH,  GIC_PPI, ARM64_TIMER_PPI_PHYS, IRQ_LEVEL_HIGH,
		GIC_PPI, ARM64_TIMER_PPI_VIRT, IRQ_LEVEL_HIGH, GIC_PPI, ARM64_TIMER_PPI_HYP, IRQ_LEVEL_HIGH,
	};

	CHECK(fdt_begin_node(fdt, "timer"));
	CHECK(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	CHECK(prop_cells(fdt, "interrupts", irqs, sizeof(irqs) / sizeof(irqs[0])));
	CHECK(fdt_property(fdt, "always-on", NULL, 0));
	return fdt_end_node(fdt);
}

static int add_uart(void *fdt, char *path, size_t pathlen)
{
	const uint32_t irq[] = { GIC_SPI, ARM64_UART_SPI, IRQ_LEVEL_HIGH };

	snprintf(path, pathlen, "/uart@%llx", (unsigned long long)ARM64_UART_BASE);
	CHECK(fdt_begin_node(fdt, path + 1));
	CHECK(fdt_property_string(fdt, "compatible", "ns16550a"));
	CHECK(prop_reg2(fdt, ARM64_UART_BASE, ARM64_UART_SIZE));
	CHECK(fdt_property_cell(fdt, "clock-frequency", ARM64_UART_CLOCK));
	CHECK(fdt_property_cell(fdt, "reg-shift", 0));
	CHECK(fdt_property_cell(fdt, "reg-io-width", 1));
	CHECK(prop_cells(fdt, "interrupts", irq, 3));
	return fdt_end_node(fdt);
}

/*
 * A virtio-mmio window. Its interrupt is edge-triggered: bothy raises it through an irqfd, one edge
 * each time InterruptStatus becomes non-zero, and the driver's handler reads and acknowledges the
 * status before it looks at the queues, so no edge is lost. dma-coherent: guest RAM is cacheable
 * normal memory to both sides, so Linux must not map buffers non-cacheable.
 */
static int add_virtio_mmio(void *fdt, const struct virtio_mmio_desc *d)
{
	const uint32_t irq[] = { GIC_SPI, d->irq, IRQ_EDGE_RISING };
	char name[40];

	snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)d->base);
	CHECK(fdt_begin_node(fdt, name));
	CHECK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
	CHECK(prop_reg2(fdt, d->base, d->size));
	CHECK(prop_cells(fdt, "interrupts", irq, 3));
	CHECK(fdt_property(fdt, "dma-coherent", NULL, 0));
	return fdt_end_node(fdt);
}

static int build(const struct arm64_fdt_config *cfg, void *fdt, size_t size)
{
	/* The PSCI 0.2 function ids Linux reads from a "arm,psci" node are implied by the 0.2 binding. */
	static const char psci_compat[] = "arm,psci-1.0\0arm,psci-0.2";
	char name[40], uart_path[40];

	CHECK(fdt_create(fdt, (int)size));
	CHECK(fdt_finish_reservemap(fdt));
	CHECK(fdt_begin_node(fdt, ""));
	CHECK(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	CHECK(fdt_property_string(fdt, "model", "bothy arm64"));
	CHECK(fdt_property_cell(fdt, "#address-cells", 2));
	CHECK(fdt_property_cell(fdt, "#size-cells", 2));
	CHECK(fdt_property_cell(fdt, "interrupt-parent", ARM64_FDT_GIC_PHANDLE));

	CHECK(add_uart(fdt, uart_path, sizeof(uart_path)));
	CHECK(fdt_begin_node(fdt, "chosen"));
	CHECK(fdt_property_string(fdt, "bootargs", cfg->cmdline ? cfg->cmdline : ""));
	CHECK(fdt_property_string(fdt, "stdout-path", uart_path));
	if (cfg->initrd_end > cfg->initrd_start) {
		CHECK(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_start));
		CHECK(fdt_property_u64(fdt, "linux,initrd-end", cfg->initrd_end));
	}
	CHECK(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)cfg->ram_base);
	CHECK(fdt_begin_node(fdt, name));
	CHECK(fdt_property_string(fdt, "device_type", "memory"));
	CHECK(prop_reg2(fdt, cfg->ram_base, cfg->ram_size));
	CHECK(fdt_end_node(fdt));

	CHECK(add_cpus(fdt, cfg));

	CHECK(fdt_begin_node(fdt, "psci"));
	CHECK(fdt_property(fdt, "compatible", psci_compat, sizeof(psci_compat)));
	CHECK(fdt_property_string(fdt, "method", "hvc"));
	CHECK(fdt_end_node(fdt));

	CHECK(add_gic(fdt, cfg->ncpus));
	CHECK(add_timer(fdt));
	for (unsigned i = 0; i < cfg->nr_virtio; i++)
		CHECK(add_virtio_mmio(fdt, &cfg->virtio[i]));

	CHECK(fdt_end_node(fdt));
	CHECK(fdt_finish(fdt));
	return fdt_totalsize(fdt);
}

int arm64_fdt_build(const struct arm64_fdt_config *cfg, void *buf, size_t size)
{
	int ret;

	if (!cfg->ncpus || cfg->ncpus > VM_MAX_CPUS || !cfg->mpidr || !cfg->ram_size || size > INT32_MAX ||
	    (cfg->nr_virtio && !cfg->virtio))
		return -EINVAL;
	ret = build(cfg, buf, size);
	if (ret == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return ret < 0 ? -EINVAL : ret;
}
