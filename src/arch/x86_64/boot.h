/*
 * x86-64 boot data builders: pure functions over guest memory (no
 * hypervisor calls), so each is unit-tested against hand-made images.
 * Kernel images are untrusted files: every offset and size is validated.
 */
#ifndef BOTHY_ARCH_X86_64_BOOT_H
#define BOTHY_ARCH_X86_64_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/gmem.h"

enum x86_entry_mode {
	X86_ENTRY_LINUX64, /* bzImage 64-bit entry: long mode, RSI = zero page */
	X86_ENTRY_PVH32,   /* PVH ELF: 32-bit protected mode, no paging, EBX = start_info */
};

struct x86_boot_image {
	const uint8_t *kernel; /* whole file */
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline;
	unsigned ncpus;
	bool pci; /* the machine has a PCI host bridge to describe */
};

struct x86_boot_info {
	enum x86_entry_mode mode;
	uint64_t entry;       /* first RIP */
	uint64_t boot_params; /* RSI (zero page) or RBX (start_info) */
	uint64_t cr3;         /* identity page tables (LINUX64) */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t rsdp;
	uint64_t kernel_start, kernel_end; /* guest range the kernel occupies */
	uint64_t initrd_start, initrd_len;
};

/*
 * Recognises the image, loads it with the initrd and command line, and writes
 * every boot structure (GDT, page tables, zero page or start_info, e820, ACPI).
 * Returns 0, or -ENOEXEC (not a bootable image), -E2BIG (does not fit in RAM),
 * -EINVAL (bad arguments) with a one-line human explanation in err.
 */
int x86_boot_load(struct gmem *gm, const struct x86_boot_image *img, struct x86_boot_info *out,
		  char *err, size_t errlen);

#endif
