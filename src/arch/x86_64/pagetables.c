/*
 * The boot GDT and the identity page tables the 64-bit entry runs on.
 *
 * GDT (selectors from layout.h):
 *   0x00 null
 *   0x08 flat 32-bit code  (PVH entry: CS)
 *   0x10 64-bit code       (Linux __BOOT_CS)
 *   0x18 flat data         (Linux __BOOT_DS; DS/ES/SS for both entries)
 *   0x20 TSS, 16 bytes     (base 0, limit 0x67, busy: what TR holds at entry)
 * The descriptors carry the accessed bit, as the cached segment state the
 * vCPU starts with does.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/boot_internal.h"
#include "arch/x86_64/layout.h"

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL /* 2 MiB page in a PD entry */
#define PT_ENTRIES 512
#define PD_COUNT 4     /* 4 x 1 GiB */
#define HUGE_2M (2ULL << 20)

/* Access byte | flags nibble << 12, as in the descriptor's bytes 5..6. */
#define GDT_CODE32 0xc09bu /* G, D; P, S, type execute/read, accessed */
#define GDT_CODE64 0xa09bu /* G, L; P, S, type execute/read, accessed */
#define GDT_DATA 0xc093u   /* G, B; P, S, type read/write, accessed */
#define GDT_TSS 0x008bu    /* P, system, type 0xb: busy TSS (32-bit or 64-bit) */
#define TSS_LIMIT 0x67u

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int x86_gdt_write(struct gmem *gm, uint64_t *base, uint16_t *limit)
{
	uint64_t gdt[6] = { 0 };
	int ret;

	_Static_assert(X86_SEL_TSS / 8 + 2 == sizeof(gdt) / sizeof(gdt[0]), "TSS is the last, 16-byte, entry");
	gdt[X86_SEL_CODE32 / 8] = gdt_entry(GDT_CODE32, 0, 0xfffff);
	gdt[X86_SEL_CODE64 / 8] = gdt_entry(GDT_CODE64, 0, 0xfffff);
	gdt[X86_SEL_DATA / 8] = gdt_entry(GDT_DATA, 0, 0xfffff);
	gdt[X86_SEL_TSS / 8] = gdt_entry(GDT_TSS, 0, TSS_LIMIT);
	gdt[X86_SEL_TSS / 8 + 1] = 0; /* base bits 63:32 of the long-mode TSS descriptor */

	ret = gmem_write(gm, X86_GDT_ADDR, gdt, sizeof(gdt));
	if (ret)
		return ret;
	*base = X86_GDT_ADDR;
	*limit = sizeof(gdt) - 1;
	return 0;
}

int x86_pagetables_write(struct gmem *gm)
{
	uint64_t table[PT_ENTRIES];
	int ret;

	_Static_assert(X86_PDPT_ADDR == X86_PML4_ADDR + X86_PAGE_SIZE, "PDPT follows PML4");
	_Static_assert(X86_PD_ADDR == X86_PDPT_ADDR + X86_PAGE_SIZE, "PDs follow PDPT");
	_Static_assert(X86_PD_ADDR + PD_COUNT * X86_PAGE_SIZE <= X86_CMDLINE_ADDR, "PDs below cmdline");

	memset(table, 0, sizeof(table));
	table[0] = X86_PDPT_ADDR | PTE_P | PTE_RW;
	ret = gmem_write(gm, X86_PML4_ADDR, table, sizeof(table));
	if (ret)
		return ret;

	memset(table, 0, sizeof(table));
	for (unsigned i = 0; i < PD_COUNT; i++)
		table[i] = (X86_PD_ADDR + i * X86_PAGE_SIZE) | PTE_P | PTE_RW;
	ret = gmem_write(gm, X86_PDPT_ADDR, table, sizeof(table));
	if (ret)
		return ret;

	for (unsigned pd = 0; pd < PD_COUNT; pd++) {
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			table[i] = ((uint64_t)pd * PT_ENTRIES + i) * HUGE_2M | PTE_P | PTE_RW | PTE_PS;
		ret = gmem_write(gm, X86_PD_ADDR + pd * X86_PAGE_SIZE, table, sizeof(table));
		if (ret)
			return ret;
	}
	return 0;
}
