/*
 * The device tree bothy hands an arm64 guest, built with libfdt: memory, cpus (PSCI enable
 * method), PSCI, the GICv3, the arch timer, the 16550 UART, the virtio-mmio windows and /chosen. Pure code: unit tests parse
 * the result back on any host.
 */
#ifndef BOTHY_ARCH_AARCH64_FDT_H
#define BOTHY_ARCH_AARCH64_FDT_H

#include <stddef.h>
#include <stdint.h>

struct virtio_mmio_desc;

struct arm64_fdt_config {
	uint64_t ram_base, ram_size;
	unsigned ncpus;
	const uint64_t *mpidr; /* per vCPU */
	const char *cmdline;
	uint64_t initrd_start, initrd_end; /* equal: no initrd */
	const struct virtio_mmio_desc *virtio; /* "virtio,mmio" nodes, edge-triggered SPIs */
	unsigned nr_virtio;
};

/* Phandle of the GIC, the interrupt parent of everything. */
#define ARM64_FDT_GIC_PHANDLE 1

/* Writes the flattened tree into @buf; returns its size, or -ENOSPC if it does not fit, -EINVAL. */
int arm64_fdt_build(const struct arm64_fdt_config *cfg, void *buf, size_t size);

#endif
