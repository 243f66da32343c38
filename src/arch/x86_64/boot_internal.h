/*
 * Pieces of the x86-64 loader shared between boot.c, bzimage.c, elf.c,
 * zeropage.c, pvh.c and pagetables.c. Not part of the arch interface: the
 * rest of bothy uses boot.h and acpi.h only.
 *
 * Every structure the guest reads is defined here or next to its writer,
 * packed, with its size and field offsets pinned by _Static_assert, so the
 * build never depends on the host's <asm/bootparam.h> or <linux/elf.h>.
 */
#ifndef BOTHY_ARCH_X86_64_BOOT_INTERNAL_H
#define BOTHY_ARCH_X86_64_BOOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/gmem.h"

/* Structures are filled as host structs and copied byte for byte. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "x86 boot data is little-endian");

#define X86_PAGE_SIZE 0x1000ULL
#define X86_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))

/* Formats the one-line explanation x86_boot_load() hands back (NULL err is fine). */
void x86_boot_set_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- e820 (zeropage.c) ---------------------------------------------------- */

enum x86_e820_type {
	X86_E820_RAM = 1,
	X86_E820_RESERVED = 2,
	X86_E820_ACPI = 3,
	X86_E820_NVS = 4,
};

/* struct boot_e820_entry of the Linux zero page. */
struct x86_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct x86_e820_entry) == 20, "boot_e820_entry is 20 bytes");

/* Capacity of boot_params.e820_table (E820_MAX_ENTRIES_ZEROPAGE). */
#define X86_E820_MAX 128

/*
 * The guest's memory map from gm->regions, ascending: each RAM region as
 * RAM, except [X86_EBDA_ADDR, X86_HIMEM_ADDR) (EBDA, VGA hole, BIOS area,
 * where the ACPI tables live), which is reserved. Returns 0 or -ENOSPC.
 */
int x86_e820_build(const struct gmem *gm, struct x86_e820_entry *tab, unsigned max, unsigned *nr);

/* Size of the RAM region that starts at guest address 0 (0 if there is none). */
uint64_t x86_low_ram_top(const struct gmem *gm);

/* --- boot GDT and identity page tables (pagetables.c) --------------------- */

/* Writes the boot GDT at X86_GDT_ADDR; returns 0 or -EFAULT. */
int x86_gdt_write(struct gmem *gm, uint64_t *base, uint16_t *limit);
/* Identity-maps [0, 4 GiB) with 2 MiB pages at X86_PML4_ADDR; returns 0 or -EFAULT. */
int x86_pagetables_write(struct gmem *gm);

/* --- PVH start_info (pvh.c) ------------------------------------------------ */

struct x86_pvh_params {
	uint64_t cmdline_paddr;
	uint64_t initrd_start, initrd_len; /* len 0: no module */
	uint64_t rsdp_paddr;
	const struct x86_e820_entry *e820;
	unsigned e820_nr;
};

/* Writes struct hvm_start_info, its module list and memory map at X86_PVH_INFO_ADDR. */
int x86_pvh_write_start_info(struct gmem *gm, const struct x86_pvh_params *p);

#endif
