/*
 * bzImage recognition and validation for the Linux 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst). The image is an untrusted file: every
 * header field is checked against the file size and guest RAM before use.
 */
#include "arch/x86_64/bzimage.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86_64/layout.h"

#define BZ_SECTOR 512u
#define BZ_DEFAULT_SETUP_SECTS 4u /* setup_sects == 0 means 4 */
#define BZ_OLD_CMDLINE_MAX 255u   /* before protocol 2.06 */
#define MiB(x) ((unsigned long long)((x) >> 20))

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int x86_bzimage_probe(const uint8_t *img, size_t len)
{
	return img && len >= BZ_MAGIC_OFF + 4 && get_le32(img + BZ_MAGIC_OFF) == BZ_MAGIC;
}

/* Where the decompressor runs: see arch/x86/boot/compressed/head_64.S (startup_64). */
static uint64_t bz_decompress_base(const struct x86_setup_header *h, uint64_t load_addr)
{
	uint64_t base = load_addr;
	uint32_t align = h->kernel_alignment;

	if (h->relocatable_kernel && align && !(align & (align - 1)))
		base = (load_addr + align - 1) & ~((uint64_t)align - 1);
	if (h->pref_address > base)
		base = h->pref_address;
	return base;
}

int x86_bzimage_parse(const uint8_t *img, size_t len, uint64_t low_top, struct x86_bzimage *out,
		      char *err, size_t errlen)
{
	struct x86_setup_header h = { 0 };
	uint64_t setup_size, pm_len, init_size, base, end;
	size_t hdr_end, copy;

	if (!x86_bzimage_probe(img, len)) {
		x86_boot_set_error(err, errlen, "not a bzImage (no \"HdrS\" at offset 0x%x)", BZ_MAGIC_OFF);
		return -ENOEXEC;
	}
	/* "The end of setup header can be calculated as 0x0202 + byte value at offset 0x0201" */
	hdr_end = BZ_MAGIC_OFF + (size_t)img[BZ_JUMP_OFF + 1];
	if (hdr_end > len) {
		x86_boot_set_error(err, errlen,
				   "truncated bzImage: setup header ends at 0x%zx, file has %zu bytes",
				   hdr_end, len);
		return -ENOEXEC;
	}
	if (hdr_end > BZ_HDR_END_MAX)
		hdr_end = BZ_HDR_END_MAX;
	copy = hdr_end - BZ_SETUP_HDR_OFF;
	memcpy(&h, img + BZ_SETUP_HDR_OFF, copy < sizeof(h) ? copy : sizeof(h));

	if (h.version < BZ_MIN_VERSION) {
		x86_boot_set_error(err, errlen,
				   "bzImage boot protocol %u.%02u is too old: the 64-bit entry needs 2.12 or later",
				   h.version >> 8, h.version & 0xff);
		return -ENOEXEC;
	}
	/* 2.12 defines the header up to handover_offset (0x264..0x267). */
	if (hdr_end < BZ_HDR_FIELD(handover_offset) + 4) {
		x86_boot_set_error(err, errlen,
				   "corrupt bzImage: setup header ends at 0x%zx, too short for protocol %u.%02u",
				   hdr_end, h.version >> 8, h.version & 0xff);
		return -ENOEXEC;
	}
	if (!(h.xloadflags & BZ_XLF_KERNEL_64)) {
		x86_boot_set_error(err, errlen,
				   "bzImage has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags 0x%x)",
				   h.xloadflags);
		return -ENOEXEC;
	}
	if (!(h.loadflags & BZ_LOADFLAG_LOADED_HIGH)) {
		x86_boot_set_error(err, errlen, "zImage (kernel loaded below 1 MiB) is not supported");
		return -ENOEXEC;
	}

	setup_size = ((uint64_t)(h.setup_sects ? h.setup_sects : BZ_DEFAULT_SETUP_SECTS) + 1) * BZ_SECTOR;
	if (setup_size >= len) {
		x86_boot_set_error(err, errlen,
				   "truncated bzImage: setup_sects=%u puts the kernel at offset 0x%" PRIx64
				   ", past the end of the %zu-byte file",
				   h.setup_sects, setup_size, len);
		return -ENOEXEC;
	}
	pm_len = len - setup_size;
	if (h.syssize) {
		/* syssize counts 16-byte paragraphs; anything after them (a signature) is not kernel. */
		uint64_t sys = (uint64_t)h.syssize * 16;

		if (sys > pm_len) {
			x86_boot_set_error(err, errlen,
					   "truncated bzImage: header says %" PRIu64
					   " bytes of kernel after the setup code, file has %" PRIu64,
					   sys, pm_len);
			return -ENOEXEC;
		}
		pm_len = sys;
	}
	if (pm_len <= BZ_ENTRY64_OFF) {
		x86_boot_set_error(err, errlen,
				   "corrupt bzImage: %" PRIu64 "-byte kernel cannot hold the 64-bit entry at +0x%x",
				   pm_len, BZ_ENTRY64_OFF);
		return -ENOEXEC;
	}

	if (X86_HIMEM_ADDR + pm_len > low_top) {
		x86_boot_set_error(err, errlen,
				   "kernel (%llu MiB) does not fit in %llu MiB of low guest RAM",
				   MiB(pm_len), MiB(low_top));
		return -E2BIG;
	}
	init_size = h.init_size ? h.init_size : pm_len;
	base = bz_decompress_base(&h, X86_HIMEM_ADDR);
	if (base >= low_top || init_size > low_top - base) {
		x86_boot_set_error(err, errlen,
				   "kernel needs %llu MiB of RAM from 0x%" PRIx64
				   " to decompress (init_size), but low guest RAM ends at %llu MiB",
				   MiB(init_size + (1 << 20) - 1), base, MiB(low_top));
		return -E2BIG;
	}
	end = base + init_size;
	if (end < X86_HIMEM_ADDR + pm_len)
		end = X86_HIMEM_ADDR + pm_len;

	*out = (struct x86_bzimage){
		.version = h.version,
		.hdr = img + BZ_SETUP_HDR_OFF,
		.hdr_len = hdr_end - BZ_SETUP_HDR_OFF,
		.pm = img + setup_size,
		.pm_len = (size_t)pm_len,
		.load_addr = X86_HIMEM_ADDR,
		.entry = X86_HIMEM_ADDR + BZ_ENTRY64_OFF,
		.footprint_end = end,
		/* 2.03+ always have initrd_addr_max; older kernels imply 0x37ffffff. */
		.initrd_limit = (uint64_t)(h.version >= 0x0203 ? h.initrd_addr_max : BZ_OLD_INITRD_MAX) + 1,
		.cmdline_max = h.version >= 0x0206 ? h.cmdline_size : BZ_OLD_CMDLINE_MAX,
	};
	return 0;
}
