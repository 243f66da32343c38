/*
 * struct hvm_start_info for the PVH entry (Xen's public
 * arch-x86/hvm/start_info.h, version 1), laid out in one page at
 * X86_PVH_INFO_ADDR: start_info, then the module list, then the memory map.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/boot_internal.h"
#include "arch/x86_64/layout.h"

#define HVM_START_MAGIC 0x336ec578u
#define HVM_START_VERSION 1

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version 1 */
	uint32_t memmap_entries; /* version 1 */
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* e820 types */
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct hvm_start_info) == 0x38, "hvm_start_info size");
_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 0x10, "modlist_paddr");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 0x20, "rsdp_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 0x28, "memmap_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 0x30, "memmap_entries");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry size");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry size");

#define PVH_MODLIST_OFF 0x40
#define PVH_MEMMAP_OFF 0x80
#define PVH_MEMMAP_MAX ((X86_PAGE_SIZE - PVH_MEMMAP_OFF) / sizeof(struct hvm_memmap_table_entry))

_Static_assert(sizeof(struct hvm_start_info) <= PVH_MODLIST_OFF, "start_info before modlist");
_Static_assert(PVH_MODLIST_OFF + sizeof(struct hvm_modlist_entry) <= PVH_MEMMAP_OFF, "modlist before memmap");
_Static_assert(X86_PVH_INFO_ADDR + X86_PAGE_SIZE <= X86_ZERO_PAGE_ADDR, "start_info page is free");

int x86_pvh_write_start_info(struct gmem *gm, const struct x86_pvh_params *p)
{
	struct {
		struct hvm_start_info si;
		uint8_t _pad1[PVH_MODLIST_OFF - sizeof(struct hvm_start_info)];
		struct hvm_modlist_entry mod;
		uint8_t _pad2[PVH_MEMMAP_OFF - PVH_MODLIST_OFF - sizeof(struct hvm_modlist_entry)];
		struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	} __attribute__((packed)) page;

	_Static_assert(sizeof(page) <= X86_PAGE_SIZE, "start_info fits its page");
	if (p->e820_nr > PVH_MEMMAP_MAX || p->e820_nr > X86_E820_MAX)
		return -EINVAL;

	memset(&page, 0, sizeof(page));
	page.si = (struct hvm_start_info){
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.flags = 0,
		.cmdline_paddr = p->cmdline_paddr,
		.rsdp_paddr = p->rsdp_paddr,
		.memmap_paddr = X86_PVH_INFO_ADDR + PVH_MEMMAP_OFF,
		.memmap_entries = p->e820_nr,
	};
	/* Linux takes module 0 as the initrd. */
	if (p->initrd_len) {
		page.si.nr_modules = 1;
		page.si.modlist_paddr = X86_PVH_INFO_ADDR + PVH_MODLIST_OFF;
		page.mod = (struct hvm_modlist_entry){ .paddr = p->initrd_start, .size = p->initrd_len };
	}
	for (unsigned i = 0; i < p->e820_nr; i++)
		page.map[i] = (struct hvm_memmap_table_entry){
			.addr = p->e820[i].addr,
			.size = p->e820[i].size,
			.type = p->e820[i].type,
		};
	return gmem_write(gm, X86_PVH_INFO_ADDR, &page, sizeof(page));
}
