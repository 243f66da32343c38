/*
 * Linux bzImage: the setup header and struct boot_params of the x86 boot
 * protocol (Documentation/arch/x86/boot.rst, zero-page.rst), the parser
 * that validates an image and the zero-page writer for the 64-bit entry.
 */
#ifndef BOTHY_ARCH_X86_64_BZIMAGE_H
#define BOTHY_ARCH_X86_64_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/boot_internal.h"
#include "core/gmem.h"

/* Offsets in the image file (and in struct boot_params: same numbering). */
#define BZ_SETUP_HDR_OFF 0x1f1
#define BZ_JUMP_OFF 0x200       /* 2-byte short jump; its second byte sizes the header */
#define BZ_MAGIC_OFF 0x202      /* "HdrS" */
#define BZ_MAGIC 0x53726448u    /* "HdrS" little-endian */
#define BZ_HDR_END_MAX 0x290    /* the header may not run past boot_params._pad7 */

#define BZ_LOADFLAG_LOADED_HIGH 0x01
#define BZ_LOADFLAG_CAN_USE_HEAP 0x80
#define BZ_XLF_KERNEL_64 0x0001
#define BZ_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002
#define BZ_MIN_VERSION 0x020c   /* 2.12: first protocol with xloadflags */
#define BZ_VERSION_RSDP 0x020e  /* 2.14: boot_params.acpi_rsdp_addr */
#define BZ_LOADER_UNDEFINED 0xff
#define BZ_HEAP_END 0xfe00      /* heap_end_ptr: what a real-mode loader would give */
#define BZ_ENTRY64_OFF 0x200    /* 64-bit entry: protected-mode start + 0x200 */
#define BZ_OLD_INITRD_MAX 0x37ffffffu /* initrd_addr_max before protocol 2.03 */

struct x86_setup_header {
	uint8_t setup_sects;           /* 0x1f1 */
	uint16_t root_flags;           /* 0x1f2 */
	uint32_t syssize;              /* 0x1f4 */
	uint16_t ram_size;             /* 0x1f8 */
	uint16_t vid_mode;             /* 0x1fa */
	uint16_t root_dev;             /* 0x1fc */
	uint16_t boot_flag;            /* 0x1fe */
	uint16_t jump;                 /* 0x200 */
	uint32_t header;               /* 0x202 */
	uint16_t version;              /* 0x206 */
	uint32_t realmode_swtch;       /* 0x208 */
	uint16_t start_sys_seg;        /* 0x20c */
	uint16_t kernel_version;       /* 0x20e */
	uint8_t type_of_loader;        /* 0x210 */
	uint8_t loadflags;             /* 0x211 */
	uint16_t setup_move_size;      /* 0x212 */
	uint32_t code32_start;         /* 0x214 */
	uint32_t ramdisk_image;        /* 0x218 */
	uint32_t ramdisk_size;         /* 0x21c */
	uint32_t bootsect_kludge;      /* 0x220 */
	uint16_t heap_end_ptr;         /* 0x224 */
	uint8_t ext_loader_ver;        /* 0x226 */
	uint8_t ext_loader_type;       /* 0x227 */
	uint32_t cmd_line_ptr;         /* 0x228 */
	uint32_t initrd_addr_max;      /* 0x22c */
	uint32_t kernel_alignment;     /* 0x230 */
	uint8_t relocatable_kernel;    /* 0x234 */
	uint8_t min_alignment;         /* 0x235 */
	uint16_t xloadflags;           /* 0x236 */
	uint32_t cmdline_size;         /* 0x238 */
	uint32_t hardware_subarch;     /* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;       /* 0x248 */
	uint32_t payload_length;       /* 0x24c */
	uint64_t setup_data;           /* 0x250 */
	uint64_t pref_address;         /* 0x258 */
	uint32_t init_size;            /* 0x260 */
	uint32_t handover_offset;      /* 0x264 */
	uint32_t kernel_info_offset;   /* 0x268 */
} __attribute__((packed));

#define BZ_HDR_FIELD(f) (BZ_SETUP_HDR_OFF + offsetof(struct x86_setup_header, f))
_Static_assert(sizeof(struct x86_setup_header) == 0x26c - 0x1f1, "setup header size");
_Static_assert(BZ_HDR_FIELD(jump) == BZ_JUMP_OFF, "jump at 0x200");
_Static_assert(BZ_HDR_FIELD(header) == BZ_MAGIC_OFF, "HdrS at 0x202");
_Static_assert(BZ_HDR_FIELD(version) == 0x206, "version at 0x206");
_Static_assert(BZ_HDR_FIELD(type_of_loader) == 0x210, "type_of_loader at 0x210");
_Static_assert(BZ_HDR_FIELD(ramdisk_image) == 0x218, "ramdisk_image at 0x218");
_Static_assert(BZ_HDR_FIELD(heap_end_ptr) == 0x224, "heap_end_ptr at 0x224");
_Static_assert(BZ_HDR_FIELD(cmd_line_ptr) == 0x228, "cmd_line_ptr at 0x228");
_Static_assert(BZ_HDR_FIELD(initrd_addr_max) == 0x22c, "initrd_addr_max at 0x22c");
_Static_assert(BZ_HDR_FIELD(xloadflags) == 0x236, "xloadflags at 0x236");
_Static_assert(BZ_HDR_FIELD(cmdline_size) == 0x238, "cmdline_size at 0x238");
_Static_assert(BZ_HDR_FIELD(pref_address) == 0x258, "pref_address at 0x258");
_Static_assert(BZ_HDR_FIELD(init_size) == 0x260, "init_size at 0x260");

/* struct boot_params, the "zero page": only the fields bothy writes are named. */
struct x86_boot_params {
	uint8_t screen_info[0x40];     /* 0x000 */
	uint8_t apm_bios_info[0x14];   /* 0x040 */
	uint8_t _pad2[4];              /* 0x054 */
	uint64_t tboot_addr;           /* 0x058 */
	uint8_t ist_info[0x10];        /* 0x060 */
	uint64_t acpi_rsdp_addr;       /* 0x070 */
	uint8_t _pad3[8];              /* 0x078 */
	uint8_t hd0_info[16];          /* 0x080 */
	uint8_t hd1_info[16];          /* 0x090 */
	uint8_t sys_desc_table[0x10];  /* 0x0a0 */
	uint8_t olpc_ofw_header[0x10]; /* 0x0b0 */
	uint32_t ext_ramdisk_image;    /* 0x0c0 */
	uint32_t ext_ramdisk_size;     /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;     /* 0x0c8 */
	uint8_t _pad4[0x1e8 - 0xcc];   /* 0x0cc: cc_blob_address, edid_info, efi_info, ... */
	uint8_t e820_entries;          /* 0x1e8 */
	uint8_t eddbuf_entries;        /* 0x1e9 */
	uint8_t edd_mbr_sig_buf_entries; /* 0x1ea */
	uint8_t kbd_status;            /* 0x1eb */
	uint8_t secure_boot;           /* 0x1ec */
	uint8_t _pad5[2];              /* 0x1ed */
	uint8_t sentinel;              /* 0x1ef: must stay 0 (we copy from 0x1f1 on) */
	uint8_t _pad6[1];              /* 0x1f0 */
	struct x86_setup_header hdr;   /* 0x1f1 */
	uint8_t _pad7[0x290 - 0x26c];  /* 0x26c */
	uint32_t edd_mbr_sig_buffer[16]; /* 0x290 */
	struct x86_e820_entry e820_table[X86_E820_MAX]; /* 0x2d0 */
	uint8_t _pad8[0x1000 - 0xcd0]; /* 0xcd0: eddbuf and padding */
} __attribute__((packed));

_Static_assert(sizeof(struct x86_boot_params) == 0x1000, "boot_params is one page");
_Static_assert(offsetof(struct x86_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr at 0x070");
_Static_assert(offsetof(struct x86_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct x86_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct x86_boot_params, e820_entries) == 0x1e8, "e820_entries at 0x1e8");
_Static_assert(offsetof(struct x86_boot_params, sentinel) == 0x1ef, "sentinel at 0x1ef");
_Static_assert(offsetof(struct x86_boot_params, hdr) == BZ_SETUP_HDR_OFF, "hdr at 0x1f1");
_Static_assert(offsetof(struct x86_boot_params, edd_mbr_sig_buffer) == BZ_HDR_END_MAX, "edd at 0x290");
_Static_assert(offsetof(struct x86_boot_params, e820_table) == 0x2d0, "e820_table at 0x2d0");

/* What the parser learned from a valid bzImage; pointers borrow the image. */
struct x86_bzimage {
	uint16_t version;          /* boot protocol, e.g. 0x020f */
	const uint8_t *hdr;        /* setup header bytes from file offset 0x1f1 */
	size_t hdr_len;            /* to 0x202 + image[0x201], capped at 0x290 */
	const uint8_t *pm;         /* protected-mode kernel */
	size_t pm_len;
	uint64_t load_addr;        /* X86_HIMEM_ADDR */
	uint64_t entry;            /* load_addr + 0x200 */
	/*
	 * End of the memory the kernel uses before it has read boot_params: the
	 * decompressor works in [max(load_addr, pref_address), + init_size).
	 */
	uint64_t footprint_end;
	uint64_t initrd_limit;     /* initrd must end at or below this (initrd_addr_max + 1) */
	uint64_t cmdline_max;      /* longest command line, NUL excluded */
};

/* Does the file carry the boot protocol magic? (Decides which parser runs.) */
int x86_bzimage_probe(const uint8_t *img, size_t len);

/*
 * Validates a bzImage for the 64-bit entry against the file and against
 * low RAM [0, low_top). 0, or -ENOEXEC / -E2BIG with a message in err.
 */
int x86_bzimage_parse(const uint8_t *img, size_t len, uint64_t low_top, struct x86_bzimage *out,
		      char *err, size_t errlen);

struct x86_zeropage_params {
	uint64_t cmdline_paddr;
	uint64_t initrd_start, initrd_len;
	uint64_t rsdp_paddr;
	const struct x86_e820_entry *e820;
	unsigned e820_nr;
};

/* Writes struct boot_params at X86_ZERO_PAGE_ADDR. 0 or -EFAULT / -EINVAL. */
int x86_zeropage_write(struct gmem *gm, const struct x86_bzimage *bz, const struct x86_zeropage_params *p);

#endif
