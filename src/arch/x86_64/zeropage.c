/*
 * The guest memory map (e820) and the Linux zero page (struct boot_params)
 * for the 64-bit boot protocol.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/boot_internal.h"
#include "arch/x86_64/bzimage.h"
#include "arch/x86_64/layout.h"

uint64_t x86_low_ram_top(const struct gmem *gm)
{
	for (unsigned i = 0; i < gm->nr_regions; i++)
		if (gm->regions[i].gpa == 0)
			return gm->regions[i].size;
	return 0;
}

/* Appends [start, end) of @type, merging with a contiguous entry of the same type. */
static int e820_append(struct x86_e820_entry *tab, unsigned max, unsigned *nr, uint64_t start,
		       uint64_t end, uint32_t type)
{
	struct x86_e820_entry *last = *nr ? &tab[*nr - 1] : NULL;

	if (start >= end)
		return 0;
	if (last && last->type == type && last->addr + last->size == start) {
		last->size += end - start;
		return 0;
	}
	if (*nr == max)
		return -ENOSPC;
	tab[(*nr)++] = (struct x86_e820_entry){ .addr = start, .size = end - start, .type = type };
	return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int x86_e820_build(const struct gmem *gm, struct x86_e820_entry *tab, unsigned max, unsigned *nr)
{
	const struct gmem_region *sorted[GMEM_MAX_REGIONS];
	unsigned n = gm->nr_regions < GMEM_MAX_REGIONS ? gm->nr_regions : GMEM_MAX_REGIONS;
	int ret = 0;

	/* Insertion sort by address: regions may have been added in any order. */
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i;

		while (j > 0 && sorted[j - 1]->gpa > gm->regions[i].gpa) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = &gm->regions[i];
	}

	*nr = 0;
	for (unsigned i = 0; i < n && !ret; i++) {
		uint64_t a = sorted[i]->gpa, b = sorted[i]->gpa + sorted[i]->size;

		ret = e820_append(tab, max, nr, a, min_u64(b, X86_EBDA_ADDR), X86_E820_RAM);
		if (!ret)
			ret = e820_append(tab, max, nr, max_u64(a, X86_EBDA_ADDR), min_u64(b, X86_HIMEM_ADDR),
					  X86_E820_RESERVED);
		if (!ret)
			ret = e820_append(tab, max, nr, max_u64(a, X86_HIMEM_ADDR), b, X86_E820_RAM);
	}
	return ret;
}

int x86_zeropage_write(struct gmem *gm, const struct x86_bzimage *bz, const struct x86_zeropage_params *p)
{
	struct x86_boot_params bp;
	struct x86_setup_header *h = &bp.hdr;

	if (p->e820_nr > X86_E820_MAX || bz->hdr_len > BZ_HDR_END_MAX - BZ_SETUP_HDR_OFF)
		return -EINVAL;

	/* Zeroed, then the image's own setup header, then what the loader fills in. */
	memset(&bp, 0, sizeof(bp));
	memcpy((uint8_t *)&bp + BZ_SETUP_HDR_OFF, bz->hdr, bz->hdr_len);

	h->type_of_loader = BZ_LOADER_UNDEFINED;
	h->loadflags |= BZ_LOADFLAG_CAN_USE_HEAP;
	h->heap_end_ptr = BZ_HEAP_END;
	h->cmd_line_ptr = (uint32_t)p->cmdline_paddr;
	bp.ext_cmd_line_ptr = (uint32_t)(p->cmdline_paddr >> 32);
	h->ramdisk_image = (uint32_t)p->initrd_start;
	h->ramdisk_size = (uint32_t)p->initrd_len;
	bp.ext_ramdisk_image = (uint32_t)(p->initrd_start >> 32);
	bp.ext_ramdisk_size = (uint32_t)(p->initrd_len >> 32);
	if (!p->initrd_len) {
		h->ramdisk_image = h->ramdisk_size = 0;
		bp.ext_ramdisk_image = bp.ext_ramdisk_size = 0;
	}
	if (bz->version >= BZ_VERSION_RSDP)
		bp.acpi_rsdp_addr = p->rsdp_paddr;

	bp.e820_entries = (uint8_t)p->e820_nr;
	memcpy(bp.e820_table, p->e820, p->e820_nr * sizeof(*p->e820));

	return gmem_write(gm, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp));
}
