/*
 * Linux's arm64 boot protocol (Documentation/arch/arm64/booting.rst): the Image header, where the
 * kernel, initrd and device tree go in guest RAM, and what the boot vCPU starts with. Pure code
 * (guest RAM through gmem only), so unit tests run it on any host.
 */
#ifndef BOTHY_ARCH_AARCH64_BOOT_H
#define BOTHY_ARCH_AARCH64_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/gmem.h"

/* The 64-byte header at the start of an Image. */
#define ARM64_IMAGE_HDR_SIZE 64
#define ARM64_IMAGE_MAGIC_OFF 56
#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" little-endian */
#define ARM64_IMAGE_FLAG_BE 0x1ull     /* bit 0: kernel endianness, 1 = big */

struct arm64_image {
	uint64_t text_offset; /* load address = a 2 MiB aligned base + text_offset */
	uint64_t image_size;  /* bytes the kernel uses from its load address, BSS included */
	uint64_t flags;
};

/* Checks an Image file and reads its header; -ENOEXEC with a reason in @err if it is not one bothy boots. */
int arm64_image_parse(const uint8_t *data, size_t len, struct arm64_image *out, char *err, size_t errlen);

struct virtio_mmio_desc;

struct arm64_boot_image {
	const uint8_t *kernel; /* untrusted: the Image file */
	size_t kernel_len;
	const uint8_t *initrd; /* optional */
	size_t initrd_len;
	const char *cmdline;
	unsigned ncpus;
	const uint64_t *mpidr; /* per vCPU: its MPIDR_EL1 (the device tree's cpu reg) */
	uint64_t ram_base, ram_size; /* one RAM region */
	const struct virtio_mmio_desc *virtio; /* the virtio-mmio windows, for the device tree */
	unsigned nr_virtio;
};

/* Where things went; entry and dtb_addr are the boot vCPU's PC and X0. */
struct arm64_boot_info {
	uint64_t kernel_addr, kernel_end;
	uint64_t initrd_addr, initrd_size;
	uint64_t dtb_addr, dtb_size;
	uint64_t entry;
};

/* Loads kernel, initrd and a generated device tree into guest RAM; -errno with a reason in @err. */
int arm64_boot_load(struct gmem *gm, const struct arm64_boot_image *img, struct arm64_boot_info *info, char *err,
		    size_t errlen);

/* PSTATE at entry: EL1 with SP_EL1 (EL1h), debug, SError, IRQ and FIQ masked, as booting.rst asks. */
#define ARM64_PSTATE_EL1H 0x5ull
#define ARM64_PSTATE_DAIF (0xfull << 6)
#define ARM64_BOOT_PSTATE (ARM64_PSTATE_EL1H | ARM64_PSTATE_DAIF)

#endif
