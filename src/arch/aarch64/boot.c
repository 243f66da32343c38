/*
 * Loading an arm64 Linux Image: the header check, the placement of kernel, initrd and device tree
 * in guest RAM (docs/arm64.md), and the device tree itself (fdt.c). The Image and the initrd are
 * untrusted files: every size and offset is checked against the file and the RAM before use.
 */
#include "arch/aarch64/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"

#define PAGE 0x1000ULL

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

int arm64_image_parse(const uint8_t *data, size_t len, struct arm64_image *out, char *err, size_t errlen)
{
	struct arm64_image img;

	if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b)
		return fail(err, errlen, -ENOEXEC, "a gzip-compressed file: bothy boots the uncompressed Image "
			    "(gunzip it first)");
	if (len >= 8 && data[0] == 'M' && data[1] == 'Z' && !memcmp(data + 4, "zimg", 4))
		return fail(err, errlen, -ENOEXEC, "an EFI zboot (compressed) kernel: bothy boots the "
			    "uncompressed Image");
	if (len < ARM64_IMAGE_HDR_SIZE)
		return fail(err, errlen, -ENOEXEC, "%zu bytes: too short for an arm64 Image header (%d)", len,
			    ARM64_IMAGE_HDR_SIZE);
	if (le32(data + ARM64_IMAGE_MAGIC_OFF) != ARM64_IMAGE_MAGIC)
		return fail(err, errlen, -ENOEXEC, "not an arm64 Linux Image (no \"ARM\\x64\" magic at offset %d)",
			    ARM64_IMAGE_MAGIC_OFF);
	img.text_offset = le64(data + 8);
	img.image_size = le64(data + 16);
	img.flags = le64(data + 24);
	if (img.image_size == 0)
		return fail(err, errlen, -ENOEXEC, "the header's image_size is 0 (a kernel older than 3.17): "
			    "not supported");
	if (img.flags & ARM64_IMAGE_FLAG_BE)
		return fail(err, errlen, -ENOEXEC, "a big-endian kernel: not supported");
	if (img.text_offset % PAGE || img.text_offset >= ARM64_IPA_LIMIT || img.image_size >= ARM64_IPA_LIMIT)
		return fail(err, errlen, -ENOEXEC, "implausible header: text_offset 0x%llx, image_size 0x%llx",
			    (unsigned long long)img.text_offset, (unsigned long long)img.image_size);
	if (len > img.image_size)
		return fail(err, errlen, -ENOEXEC, "the file (%zu bytes) is longer than the header's image_size "
			    "(%llu): corrupt", len, (unsigned long long)img.image_size);
	*out = img;
	return 0;
}

int arm64_boot_load(struct gmem *gm, const struct arm64_boot_image *img, struct arm64_boot_info *info, char *err,
		    size_t errlen)
{
	struct arm64_fdt_config fc;
	struct arm64_boot_info bi = { 0 };
	struct arm64_image hdr;
	uint64_t ram_end = img->ram_base + img->ram_size, low_end;
	void *dtb;
	int ret;

	if (img->ram_base % ARM64_KERNEL_ALIGN || ram_end <= img->ram_base)
		return fail(err, errlen, -EINVAL, "RAM at 0x%llx+0x%llx is not a 2 MiB aligned region",
			    (unsigned long long)img->ram_base, (unsigned long long)img->ram_size);
	ret = arm64_image_parse(img->kernel, img->kernel_len, &hdr, err, errlen);
	if (ret)
		return ret;

	/* The device tree in the last 2 MiB block of RAM (never shared with anything that needs other attributes). */
	if (img->ram_size < 2 * ARM64_DTB_MAX)
		return fail(err, errlen, -E2BIG, "guest RAM (%llu MiB) is too small", (unsigned long long)(img->ram_size >> 20));
	bi.dtb_addr = (ram_end - ARM64_DTB_MAX) & ~(ARM64_KERNEL_ALIGN - 1);

	/* The kernel at the 2 MiB aligned base of RAM plus its text_offset. */
	bi.kernel_addr = img->ram_base + hdr.text_offset;
	bi.kernel_end = bi.kernel_addr + hdr.image_size;
	bi.entry = bi.kernel_addr;
	low_end = bi.dtb_addr;
	if (img->initrd_len) {
		if (img->initrd_len > low_end - img->ram_base)
			return fail(err, errlen, -E2BIG, "the initrd (%zu bytes) does not fit in guest RAM",
				    img->initrd_len);
		bi.initrd_addr = (low_end - img->initrd_len) & ~(PAGE - 1);
		bi.initrd_size = img->initrd_len;
		low_end = bi.initrd_addr;
	}
	if (bi.kernel_end > low_end)
		return fail(err, errlen, -E2BIG, "guest RAM (%llu MiB) is too small for the kernel (%llu MiB with "
			    "its BSS)%s", (unsigned long long)(img->ram_size >> 20),
			    (unsigned long long)(hdr.image_size >> 20), img->initrd_len ? ", the initrd" : "");

	ret = gmem_write(gm, bi.kernel_addr, img->kernel, img->kernel_len);
	if (!ret && img->initrd_len)
		ret = gmem_write(gm, bi.initrd_addr, img->initrd, img->initrd_len);
	if (ret)
		return fail(err, errlen, ret, "cannot write the kernel or initrd into guest RAM");

	fc = (struct arm64_fdt_config){
		.ram_base = img->ram_base,
		.ram_size = img->ram_size,
		.ncpus = img->ncpus,
		.mpidr = img->mpidr,
		.cmdline = img->cmdline,
		.initrd_start = bi.initrd_addr,
		.initrd_end = bi.initrd_addr + bi.initrd_size,
		.virtio = img->virtio,
		.nr_virtio = img->nr_virtio,
	};
	dtb = gmem_ptr(gm, bi.dtb_addr, ARM64_DTB_MAX);
	if (!dtb)
		return fail(err, errlen, -EFAULT, "no guest RAM for the device tree at 0x%llx",
			    (unsigned long long)bi.dtb_addr);
	ret = arm64_fdt_build(&fc, dtb, ARM64_DTB_MAX);
	if (ret < 0)
		return fail(err, errlen, ret, "cannot build the device tree: %s",
			    ret == -ENOSPC ? "larger than 2 MiB (command line too long?)" : strerror(-ret));
	bi.dtb_size = (uint64_t)ret;
	*info = bi;
	return 0;
}
