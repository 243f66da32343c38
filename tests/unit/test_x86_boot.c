/*
 * x86_boot_load() against hand-built images: a minimal bzImage (setup
 * header + payload) and PVH ELF32/ELF64 files, each made in memory by the
 * test. Guest memory is checked at raw offsets of the boot protocol, the
 * PVH start_info ABI and the x86 paging/GDT formats, written out here
 * independently of the loader's structs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "core/gmem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* --- little-endian helpers -------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t g8(struct gmem *gm, uint64_t gpa)
{
	uint8_t v;

	assert_int_equal(gmem_read(gm, gpa, &v, 1), 0);
	return v;
}

static uint16_t g16(struct gmem *gm, uint64_t gpa)
{
	return (uint16_t)(g8(gm, gpa) | g8(gm, gpa + 1) << 8);
}

static uint32_t g32(struct gmem *gm, uint64_t gpa)
{
	return (uint32_t)g16(gm, gpa) | (uint32_t)g16(gm, gpa + 2) << 16;
}

static uint64_t g64(struct gmem *gm, uint64_t gpa)
{
	return (uint64_t)g32(gm, gpa) | (uint64_t)g32(gm, gpa + 4) << 32;
}

/* Guest RAM the way arch_memory_init lays it out: [0, 3 GiB) and the rest at 4 GiB. */
static struct gmem *make_ram(uint64_t size)
{
	uint64_t low = size < X86_MMIO_HOLE_START ? size : X86_MMIO_HOLE_START;
	struct gmem *gm;

	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, low), 0);
	if (size > low)
		assert_int_equal(gmem_add_region(gm, X86_MMIO_HOLE_END, size - low), 0);
	return gm;
}

static void assert_err_has(const char *err, const char *what)
{
	if (!strstr(err, what))
		fail_msg("error message \"%s\" does not mention \"%s\"", err, what);
}

/* Loads and expects failure @code with @what in the message; *out must stay untouched. */
static void expect_fail(struct gmem *gm, const struct x86_boot_image *img, int code, const char *what)
{
	struct x86_boot_info info, before;
	char err[256] = "stale";

	memset(&info, 0x5a, sizeof(info));
	before = info;
	assert_int_equal(x86_boot_load(gm, img, &info, err, sizeof(err)), code);
	assert_err_has(err, what);
	assert_true(strlen(err) > 10);
	assert_null(strchr(err, '\n'));
	assert_memory_equal(&info, &before, sizeof(info));
}

/* --- bzImage builder ------------------------------------------------------ */

struct bz_opts {
	uint8_t setup_sects;    /* 0 means 4 */
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t init_size;
	uint64_t pref_address;
	uint32_t kernel_alignment;
	uint8_t relocatable;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint32_t syssize;       /* 0: derived from payload_len */
	size_t payload_len;     /* protected-mode code */
	uint8_t hdr_jump;       /* byte at 0x201 */
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.setup_sects = 1,
		.version = 0x020f,
		.loadflags = 0x01, /* LOADED_HIGH */
		.xloadflags = 0x0003, /* KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
		.init_size = 0x400000,
		.pref_address = 0x1000000,
		.kernel_alignment = 0x200000,
		.relocatable = 1,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.payload_len = 0x4000,
		.hdr_jump = 0x6a, /* header to 0x26c, as 2.15 kernels have it */
	};
}

#define BZ_ENTRY_MARK 0xc3fa /* bytes at payload + 0x200 */

static uint8_t *bz_build(const struct bz_opts *o, size_t *len)
{
	size_t setup = ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
	uint8_t *img;

	*len = setup + o->payload_len;
	img = calloc(1, *len < 0x400 ? 0x400 : *len);
	assert_non_null(img);
	img[0x1ef] = 0xee;                  /* sentinel: must not reach the zero page */
	img[0x1f1] = o->setup_sects;
	put32(img + 0x1f4, o->syssize ? o->syssize : (uint32_t)((o->payload_len + 15) / 16));
	put16(img + 0x1fa, 0xffff);         /* vid_mode, copied through */
	put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = o->hdr_jump;
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, o->version);
	put16(img + 0x20e, 0x1234);         /* kernel_version, copied through */
	img[0x211] = o->loadflags;
	put32(img + 0x214, 0x100000);       /* code32_start */
	put32(img + 0x22c, o->initrd_addr_max);
	put32(img + 0x230, o->kernel_alignment);
	img[0x234] = o->relocatable;
	put16(img + 0x236, o->xloadflags);
	put32(img + 0x238, o->cmdline_size);
	put64(img + 0x258, o->pref_address);
	put32(img + 0x260, o->init_size);
	img[0x270] = 0x77;                  /* past the header end: must not be copied */
	for (size_t i = 0; i < o->payload_len; i++)
		img[setup + i] = (uint8_t)(i * 7 + 1);
	if (o->payload_len >= 0x202)
		put16(img + setup + 0x200, BZ_ENTRY_MARK);
	return img;
}

static void assert_e820(struct gmem *gm, uint64_t table, unsigned stride, unsigned i, uint64_t addr,
			uint64_t size, uint32_t type)
{
	uint64_t e = table + (uint64_t)i * stride;

	assert_int_equal(g64(gm, e), addr);
	assert_int_equal(g64(gm, e + 8), size);
	assert_int_equal(g32(gm, e + 16), type);
}

static void test_bzimage_loads(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	uint8_t initrd[5000];
	struct x86_boot_image img = { .initrd = initrd, .initrd_len = sizeof(initrd), .cmdline = "console=ttyS0 quiet",
				      .ncpus = 2 };
	struct x86_boot_info info;
	uint8_t *k, back[5000];
	size_t klen;
	char err[256];
	const uint64_t zp = X86_ZERO_PAGE_ADDR;

	(void)state;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	/* Leftovers from a previous boot must not survive in the zero page. */
	assert_int_equal(gmem_fill(gm, zp, 0xcc, 4096), 0);

	assert_int_equal(x86_boot_load(gm, &img, &info, err, sizeof(err)), 0);
	assert_int_equal(info.mode, X86_ENTRY_LINUX64);
	assert_int_equal(info.entry, 0x100200);
	assert_int_equal(info.boot_params, zp);
	assert_int_equal(info.cr3, X86_PML4_ADDR);
	assert_int_equal(info.gdt_base, X86_GDT_ADDR);
	assert_int_equal(info.gdt_limit, 6 * 8 - 1);
	assert_int_equal(info.rsdp, X86_ACPI_ADDR);
	assert_int_equal(info.kernel_start, X86_HIMEM_ADDR);
	/* The decompressor runs at pref_address (16 MiB) for init_size bytes. */
	assert_int_equal(info.kernel_end, 0x1000000 + 0x400000);

	/* The protected-mode code at 1 MiB, its 64-bit entry at +0x200. */
	assert_int_equal(g8(gm, X86_HIMEM_ADDR), 1);
	assert_int_equal(g8(gm, X86_HIMEM_ADDR + 0x3fff), (uint8_t)(0x3fff * 7 + 1));
	assert_int_equal(g16(gm, info.entry), BZ_ENTRY_MARK);

	/* Zero page: the image's header from 0x1f1 to 0x202 + image[0x201]. */
	assert_int_equal(g8(gm, zp + 0x1ef), 0);      /* sentinel not copied */
	assert_int_equal(g8(gm, zp + 0x1f1), 1);      /* setup_sects */
	assert_int_equal(g16(gm, zp + 0x1fa), 0xffff); /* vid_mode */
	assert_int_equal(g16(gm, zp + 0x1fe), 0xaa55);
	assert_int_equal(g32(gm, zp + 0x202), 0x53726448); /* HdrS */
	assert_int_equal(g16(gm, zp + 0x206), 0x020f);
	assert_int_equal(g16(gm, zp + 0x20e), 0x1234);
	assert_int_equal(g32(gm, zp + 0x260), 0x400000); /* init_size */
	assert_int_equal(g8(gm, zp + 0x270), 0);      /* beyond the header: zero */
	assert_int_equal(g8(gm, zp + 0), 0);          /* screen_info etc.: zero */
	/* What the loader fills in. */
	assert_int_equal(g8(gm, zp + 0x210), 0xff);   /* type_of_loader */
	assert_int_equal(g8(gm, zp + 0x211), 0x81);   /* LOADED_HIGH | CAN_USE_HEAP */
	assert_int_equal(g16(gm, zp + 0x224), 0xfe00); /* heap_end_ptr */
	assert_int_equal(g32(gm, zp + 0x228), X86_CMDLINE_ADDR);
	assert_int_equal(g32(gm, zp + 0x0c8), 0);     /* ext_cmd_line_ptr */
	assert_int_equal(g32(gm, zp + 0x218), info.initrd_start);
	assert_int_equal(g32(gm, zp + 0x21c), sizeof(initrd));
	assert_int_equal(g32(gm, zp + 0x0c0), 0);
	assert_int_equal(g32(gm, zp + 0x0c4), 0);
	assert_int_equal(g64(gm, zp + 0x070), X86_ACPI_ADDR); /* acpi_rsdp_addr */

	/* e820: low RAM, the reserved EBDA..1 MiB (ACPI tables), RAM above. */
	assert_int_equal(g8(gm, zp + 0x1e8), 3);
	assert_e820(gm, zp + 0x2d0, 20, 0, 0, X86_EBDA_ADDR, 1);
	assert_e820(gm, zp + 0x2d0, 20, 1, X86_EBDA_ADDR, X86_HIMEM_ADDR - X86_EBDA_ADDR, 2);
	assert_e820(gm, zp + 0x2d0, 20, 2, X86_HIMEM_ADDR, 63 * MiB, 1);
	assert_true(X86_ACPI_ADDR >= X86_EBDA_ADDR && X86_ACPI_ADDR + X86_ACPI_MAX <= X86_HIMEM_ADDR);

	/* Command line, NUL-terminated. */
	{
		char cl[32];

		assert_int_equal(gmem_read(gm, X86_CMDLINE_ADDR, cl, 20), 0);
		assert_string_equal(cl, "console=ttyS0 quiet");
	}

	/* initrd: top of RAM, 4 KiB aligned, above the kernel, contents intact. */
	assert_int_equal(info.initrd_len, sizeof(initrd));
	assert_int_equal(info.initrd_start % 4096, 0);
	assert_int_equal(info.initrd_start, (64 * MiB - sizeof(initrd)) & ~0xfffULL);
	assert_true(info.initrd_start >= info.kernel_end);
	assert_int_equal(gmem_read(gm, info.initrd_start, back, sizeof(back)), 0);
	assert_memory_equal(back, initrd, sizeof(initrd));

	/* The RSDP really is where the zero page says. */
	{
		char sig[8];

		assert_int_equal(gmem_read(gm, info.rsdp, sig, 8), 0);
		assert_memory_equal(sig, "RSD PTR ", 8);
	}
	free(k);
	gmem_destroy(gm);
}

static void test_bzimage_above_4g(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(5 * GiB);
	uint8_t initrd[100000];
	struct x86_boot_image img = { .initrd = initrd, .initrd_len = sizeof(initrd), .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;
	const uint64_t zp = X86_ZERO_PAGE_ADDR;

	(void)state;
	memset(initrd, 0x42, sizeof(initrd));
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);

	/* RAM to 3 GiB, nothing in the hole, 2 GiB at 4 GiB. */
	assert_int_equal(g8(gm, zp + 0x1e8), 4);
	assert_e820(gm, zp + 0x2d0, 20, 0, 0, X86_EBDA_ADDR, 1);
	assert_e820(gm, zp + 0x2d0, 20, 1, X86_EBDA_ADDR, X86_HIMEM_ADDR - X86_EBDA_ADDR, 2);
	assert_e820(gm, zp + 0x2d0, 20, 2, X86_HIMEM_ADDR, X86_MMIO_HOLE_START - X86_HIMEM_ADDR, 1);
	assert_e820(gm, zp + 0x2d0, 20, 3, X86_MMIO_HOLE_END, 2 * GiB, 1);

	/* initrd_addr_max 0x7fffffff caps the initrd below 2 GiB, not 3. */
	assert_int_equal(info.initrd_start, (2 * GiB - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(g32(gm, zp + 0x218), info.initrd_start);
	assert_int_equal(g8(gm, info.initrd_start + sizeof(initrd) - 1), 0x42);

	/* A kernel that allows the whole 32-bit range still stays below the MMIO hole. */
	free(k);
	o.initrd_addr_max = 0xffffffff;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(info.initrd_start, (X86_MMIO_HOLE_START - sizeof(initrd)) & ~0xfffULL);
	free(k);
	gmem_destroy(gm);
}

static void test_bzimage_initrd_addr_max(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	uint8_t initrd[12345];
	struct x86_boot_image img = { .initrd = initrd, .initrd_len = sizeof(initrd), .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;

	(void)state;
	memset(initrd, 1, sizeof(initrd));
	o.initrd_addr_max = 0x1ffffff; /* last byte the initrd may occupy: 32 MiB - 1 */
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(info.initrd_start, (32 * MiB - sizeof(initrd)) & ~0xfffULL);
	assert_true(info.initrd_start + info.initrd_len - 1 <= 0x1ffffff);
	assert_int_equal(info.initrd_start % 4096, 0);
	free(k);
	gmem_destroy(gm);
}

/* The decompressor's buffer bounds both the RAM a kernel needs and where the initrd may go. */
static void test_bzimage_footprint(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k, *initrd = calloc(1, 9 * MiB);
	size_t klen;
	char err[256];

	(void)state;
	assert_non_null(initrd);
	o.init_size = 40 * MiB;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.initrd = initrd;

	img.initrd_len = 8 * MiB; /* [56 MiB, 64 MiB): just fits */
	assert_int_equal(x86_boot_load(gm, &img, &info, err, sizeof(err)), 0);
	assert_int_equal(info.kernel_end, 56 * MiB);
	assert_int_equal(info.initrd_start, 56 * MiB);

	img.initrd_len = 8 * MiB + 1;
	expect_fail(gm, &img, -E2BIG, "initrd");

	/* Without pref_address, a relocatable kernel runs from 1 MiB rounded up to its alignment. */
	free(k);
	o.pref_address = 0;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.initrd_len = 0;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(info.kernel_end, 2 * MiB + 40 * MiB);

	/* init_size beyond RAM */
	free(k);
	o.pref_address = 0x1000000;
	o.init_size = 60 * MiB;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	expect_fail(gm, &img, -E2BIG, "init_size");
	free(k);
	free(initrd);
	gmem_destroy(gm);
}

static void test_bzimage_setup_sects_zero_means_4(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;

	(void)state;
	o.setup_sects = 0;
	k = bz_build(&o, &klen);
	assert_int_equal(klen, 5 * 512 + o.payload_len);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(g8(gm, X86_HIMEM_ADDR), 1); /* first payload byte, from offset 0xa00 */
	assert_int_equal(g16(gm, info.entry), BZ_ENTRY_MARK);
	free(k);
	gmem_destroy(gm);
}

/* A signed kernel has data after syssize*16 bytes: it is not loaded. */
static void test_bzimage_syssize_bounds_payload(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;

	(void)state;
	o.syssize = 0x300; /* 0x3000 of the 0x4000 payload bytes */
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(gmem_fill(gm, X86_HIMEM_ADDR, 0xee, 0x4000), 0);
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(g8(gm, X86_HIMEM_ADDR + 0x2fff), (uint8_t)(0x2fff * 7 + 1));
	assert_int_equal(g8(gm, X86_HIMEM_ADDR + 0x3000), 0xee);

	o.syssize = 0x401; /* one paragraph more than the file has */
	free(k);
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	expect_fail(gm, &img, -ENOEXEC, "truncated");
	free(k);
	gmem_destroy(gm);
}

static void test_bzimage_old_protocol_rsdp(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;

	(void)state;
	o.version = 0x020d; /* 2.13: no acpi_rsdp_addr yet, the kernel scans 0xe0000 */
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(g64(gm, X86_ZERO_PAGE_ADDR + 0x070), 0);
	assert_int_equal(info.rsdp, X86_ACPI_ADDR);
	free(k);
	gmem_destroy(gm);
}

static void test_bzimage_rejects(void **state)
{
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct bz_opts o;
	uint8_t *k;
	size_t klen;

	(void)state;
#define WITH(field, value, code, what)          \
	do {                                      \
		o = bz_default();                 \
		o.field = value;                  \
		k = bz_build(&o, &klen);          \
		img.kernel = k;                   \
		img.kernel_len = klen;            \
		expect_fail(gm, &img, code, what); \
		free(k);                          \
	} while (0)

	WITH(version, 0x020b, -ENOEXEC, "too old");
	WITH(version, 0x0200, -ENOEXEC, "2.00");
	WITH(xloadflags, 0x0002, -ENOEXEC, "XLF_KERNEL_64");
	WITH(loadflags, 0x00, -ENOEXEC, "zImage");
	WITH(hdr_jump, 0x40, -ENOEXEC, "setup header");  /* header ends at 0x242: shorter than 2.12's */
	WITH(payload_len, 0x200, -ENOEXEC, "64-bit entry");
	WITH(init_size, 0xffffffffu, -E2BIG, "init_size");
	WITH(pref_address, 0xfffffffffffff000ULL, -E2BIG, "init_size");
	WITH(payload_len, 64 * MiB, -E2BIG, "does not fit");
#undef WITH

	/* setup_sects pointing past the end of the file */
	o = bz_default();
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	k[0x1f1] = (uint8_t)(klen / 512);
	expect_fail(gm, &img, -ENOEXEC, "setup_sects");
	k[0x1f1] = o.setup_sects;

	/* Truncated: the file ends inside the setup code. */
	img.kernel_len = 0x300;
	expect_fail(gm, &img, -ENOEXEC, "truncated");
	/* ... or inside the setup header itself. */
	img.kernel_len = 0x240;
	expect_fail(gm, &img, -ENOEXEC, "truncated");
	/* Too small to carry the magic at all. */
	img.kernel_len = 0x100;
	expect_fail(gm, &img, -ENOEXEC, "not a bzImage or PVH ELF");
	/* Wrong magic. */
	img.kernel_len = klen;
	memcpy(k + 0x202, "HdrX", 4);
	expect_fail(gm, &img, -ENOEXEC, "not a bzImage or PVH ELF");
	free(k);
	gmem_destroy(gm);
}

static void test_cmdline_limits(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	char *cl = malloc(X86_CMDLINE_MAX + 1), back[17];
	uint8_t *k;
	size_t klen;

	(void)state;
	assert_non_null(cl);
	o.cmdline_size = 16;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.cmdline = cl;

	memset(cl, 'a', 16);
	cl[16] = '\0';
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(gmem_read(gm, X86_CMDLINE_ADDR, back, 17), 0);
	assert_memory_equal(back, cl, 17); /* 16 bytes + NUL */

	cl[16] = 'b';
	cl[17] = '\0';
	expect_fail(gm, &img, -E2BIG, "command line");

	/* No command line at all: an empty string. */
	img.cmdline = NULL;
	assert_int_equal(gmem_fill(gm, X86_CMDLINE_ADDR, 'x', 4), 0);
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(g8(gm, X86_CMDLINE_ADDR), 0);
	assert_int_equal(g8(gm, X86_CMDLINE_ADDR + 1), 0); /* the old one is gone */

	/* A kernel allowing more than bothy's buffer is held to X86_CMDLINE_MAX - 1. */
	free(k);
	o.cmdline_size = 0x7fffffff;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.cmdline = cl;
	memset(cl, 'c', X86_CMDLINE_MAX);
	cl[X86_CMDLINE_MAX] = '\0';
	expect_fail(gm, &img, -E2BIG, "command line");
	cl[X86_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(g8(gm, X86_CMDLINE_ADDR + X86_CMDLINE_MAX - 2), 'c');
	assert_int_equal(g8(gm, X86_CMDLINE_ADDR + X86_CMDLINE_MAX - 1), 0);
	free(k);
	free(cl);
	gmem_destroy(gm);
}

static void test_initrd_too_big(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	uint8_t *k, *initrd = calloc(1, 70 * MiB);
	size_t klen;

	(void)state;
	assert_non_null(initrd);
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.initrd = initrd;
	img.initrd_len = 70 * MiB;
	expect_fail(gm, &img, -E2BIG, "initrd");
	/* Just over what is left between the kernel's end (20 MiB) and 64 MiB. */
	img.initrd_len = 44 * MiB + 1;
	expect_fail(gm, &img, -E2BIG, "initrd");
	img.initrd_len = 44 * MiB;
	{
		struct x86_boot_info info;

		assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
		assert_int_equal(info.initrd_start, 20 * MiB);
	}
	free(k);
	free(initrd);
	gmem_destroy(gm);
}

static void test_bad_arguments(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB), *no_low;
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k, junk[600];
	size_t klen;

	(void)state;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	img.ncpus = 0;
	expect_fail(gm, &img, -EINVAL, "vCPUs");
	img.ncpus = 255;
	expect_fail(gm, &img, -EINVAL, "vCPUs");
	img.ncpus = 254;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	img.ncpus = 1;
	img.initrd_len = 10; /* without data */
	expect_fail(gm, &img, -EINVAL, "initrd");
	img.initrd_len = 0;
	assert_int_equal(x86_boot_load(NULL, &img, &info, NULL, 0), -EINVAL);
	assert_int_equal(x86_boot_load(gm, NULL, &info, NULL, 0), -EINVAL);
	assert_int_equal(x86_boot_load(gm, &img, NULL, NULL, 0), -EINVAL);

	/* RAM that does not start at 0 */
	assert_int_equal(gmem_create(&no_low), 0);
	assert_int_equal(gmem_add_region(no_low, 16 * MiB, 64 * MiB), 0);
	expect_fail(no_low, &img, -EINVAL, "RAM");
	gmem_destroy(no_low);

	/* Anything that is neither a bzImage nor an ELF */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 17);
	img.kernel = junk;
	img.kernel_len = sizeof(junk);
	expect_fail(gm, &img, -ENOEXEC, "not a bzImage or PVH ELF");
	img.kernel_len = 0;
	expect_fail(gm, &img, -ENOEXEC, "empty");
	free(k);
	gmem_destroy(gm);
}

static void test_gdt_and_page_tables(void **state)
{
	struct bz_opts o = bz_default();
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	uint8_t *k;
	size_t klen;

	(void)state;
	k = bz_build(&o, &klen);
	img.kernel = k;
	img.kernel_len = klen;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);

	/* GDT: flat segments with base 0, limit 4 GiB (G=1, limit 0xfffff). */
	assert_int_equal(g64(gm, X86_GDT_ADDR), 0);
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_CODE32), 0x00cf9b000000ffffULL); /* D=1 */
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_CODE64), 0x00af9b000000ffffULL); /* L=1, D=0 */
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_DATA), 0x00cf93000000ffffULL);
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_TSS), 0x00008b0000000067ULL); /* busy TSS */
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_TSS + 8), 0);
	assert_int_equal(info.gdt_limit, X86_SEL_TSS + 16 - 1);
	/* Linux's boot selectors are fixed by its boot protocol. */
	assert_int_equal(X86_SEL_CODE64, 0x10);
	assert_int_equal(X86_SEL_DATA, 0x18);

	/* Identity map of 0..4 GiB in 2 MiB pages. */
	assert_int_equal(g64(gm, X86_PML4_ADDR), X86_PDPT_ADDR | 3);
	assert_int_equal(g64(gm, X86_PML4_ADDR + 8), 0);
	assert_int_equal(g64(gm, X86_PML4_ADDR + 4088), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(g64(gm, X86_PDPT_ADDR + 8 * i), (X86_PD_ADDR + 4096 * i) | 3);
	assert_int_equal(g64(gm, X86_PDPT_ADDR + 8 * 4), 0);
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB) {
		uint64_t pml4e = g64(gm, X86_PML4_ADDR + 8 * ((va >> 39) & 511));
		uint64_t pdpte = g64(gm, (pml4e & ~0xfffULL) + 8 * ((va >> 30) & 511));
		uint64_t pde = g64(gm, (pdpte & ~0xfffULL) + 8 * ((va >> 21) & 511));

		assert_int_equal(pde & 0x83, 0x83); /* present, writable, 2 MiB */
		assert_int_equal(pde & ~0x1fffffULL, va);
	}
	free(k);
	gmem_destroy(gm);
}

/* --- PVH ELF builder ----------------------------------------------------- */

struct elf_seg {
	uint32_t type;
	uint64_t paddr, filesz, memsz;
	uint64_t offset; /* 0: placed by the builder */
};

struct elf_opts {
	int is64;
	uint64_t entry;       /* note value */
	unsigned descsz;      /* 4 or 8 */
	int note_in_phdr;     /* a PT_NOTE segment */
	int note_in_shdr;     /* an SHT_NOTE section */
	int extra_notes;      /* GNU and "Linux" notes before the Xen one */
	uint32_t note_type;
	unsigned nsegs;
	struct elf_seg segs[4];
};

struct elf_file {
	uint8_t *buf;
	size_t len;
	size_t seg_off[4]; /* where each PT_LOAD's data was put */
};

static size_t note_put(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t off = 12;

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

static struct elf_file elf_build(const struct elf_opts *o)
{
	size_t ehsize = o->is64 ? 64 : 52, phsize = o->is64 ? 56 : 32, shsize = o->is64 ? 64 : 40;
	unsigned nph = o->nsegs + (o->note_in_phdr ? 1 : 0);
	size_t data = ehsize + nph * phsize, note_off, note_len = 0, sh_off, total;
	struct elf_file f = { 0 };
	uint8_t notes[256], *p;

	/* Notes. */
	{
		uint8_t desc[8] = { 0 };
		const uint8_t gnu_desc[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

		memset(notes, 0, sizeof(notes));
		if (o->extra_notes) {
			note_len += note_put(notes + note_len, "GNU", 3, gnu_desc, 16);
			note_len += note_put(notes + note_len, "Linux", 1, "6.1", 3); /* namesz 6, descsz 3: padding */
			note_len += note_put(notes + note_len, "Xen", 5, "linux", 5); /* XEN_ELFNOTE_GUEST_OS */
		}
		put64(desc, o->entry);
		note_len += note_put(notes + note_len, "Xen", o->note_type, desc, o->descsz);
	}
	note_off = data;
	data += note_len;
	for (unsigned i = 0; i < o->nsegs; i++) {
		data = (data + 15) & ~(size_t)15;
		f.seg_off[i] = o->segs[i].offset ? o->segs[i].offset : data;
		if (!o->segs[i].offset && o->segs[i].filesz < 16 * MiB)
			data += o->segs[i].filesz;
	}
	sh_off = (data + 7) & ~(size_t)7;
	total = sh_off + (o->note_in_shdr ? 2 * shsize : 0);
	f.len = total;
	f.buf = p = calloc(1, total);
	assert_non_null(p);

	memcpy(p, "\x7f" "ELF", 4);
	p[4] = o->is64 ? 2 : 1;
	p[5] = 1;
	p[6] = 1;
	put16(p + 16, 2);                      /* ET_EXEC */
	put16(p + 18, o->is64 ? 62 : 3);       /* EM_X86_64 / EM_386 */
	put32(p + 20, 1);
	if (o->is64) {
		put64(p + 24, 0xffffffff81000000ULL); /* e_entry: virtual, ignored by PVH */
		put64(p + 32, ehsize);
		put64(p + 40, o->note_in_shdr ? sh_off : 0);
		put16(p + 52, 64);
		put16(p + 54, 56);
		put16(p + 56, (uint16_t)nph);
		put16(p + 58, 64);
		put16(p + 60, o->note_in_shdr ? 2 : 0);
	} else {
		put32(p + 24, 0xc1000000);
		put32(p + 28, (uint32_t)ehsize);
		put32(p + 32, o->note_in_shdr ? (uint32_t)sh_off : 0);
		put16(p + 40, 52);
		put16(p + 42, 32);
		put16(p + 44, (uint16_t)nph);
		put16(p + 46, 40);
		put16(p + 48, o->note_in_shdr ? 2 : 0);
	}

	for (unsigned i = 0; i < nph; i++) {
		uint8_t *ph = p + ehsize + i * phsize;
		struct elf_seg s;

		if (i < o->nsegs) {
			s = o->segs[i];
			s.offset = f.seg_off[i];
		} else {
			s = (struct elf_seg){ .type = 4, .offset = note_off, .filesz = note_len, .memsz = 0 };
		}
		if (o->is64) {
			put32(ph, s.type);
			put32(ph + 4, 5);
			put64(ph + 8, s.offset);
			put64(ph + 16, s.paddr + 0xffffffff80000000ULL);
			put64(ph + 24, s.paddr);
			put64(ph + 32, s.filesz);
			put64(ph + 40, s.memsz);
			put64(ph + 48, s.type == 4 ? 4 : 4096);
		} else {
			put32(ph, s.type);
			put32(ph + 4, (uint32_t)s.offset);
			put32(ph + 8, (uint32_t)s.paddr + 0xc0000000u);
			put32(ph + 12, (uint32_t)s.paddr);
			put32(ph + 16, (uint32_t)s.filesz);
			put32(ph + 20, (uint32_t)s.memsz);
			put32(ph + 24, 5);
			put32(ph + 28, s.type == 4 ? 4 : 4096);
		}
	}
	memcpy(p + note_off, notes, note_len);
	for (unsigned i = 0; i < o->nsegs; i++)
		if (!o->segs[i].offset && o->segs[i].filesz < 16 * MiB)
			for (size_t j = 0; j < o->segs[i].filesz; j++)
				p[f.seg_off[i] + j] = (uint8_t)(0x10 * (i + 1) + j % 13);
	if (o->note_in_shdr) {
		uint8_t *sh = p + sh_off + shsize; /* section 0 stays SHN_UNDEF */

		if (o->is64) {
			put32(sh + 4, 7); /* SHT_NOTE */
			put64(sh + 24, note_off);
			put64(sh + 32, note_len);
			put64(sh + 48, 4);
		} else {
			put32(sh + 4, 7);
			put32(sh + 16, (uint32_t)note_off);
			put32(sh + 20, (uint32_t)note_len);
			put32(sh + 32, 4);
		}
	}
	return f;
}

static struct elf_opts elf_default(int is64)
{
	return (struct elf_opts){
		.is64 = is64,
		.entry = 0x100040,
		.descsz = is64 ? 8 : 4,
		.note_in_phdr = 1,
		.note_type = 18,
		.nsegs = 2,
		.segs = {
			{ .type = 1, .paddr = 0x100000, .filesz = 0x3000, .memsz = 0x5000 }, /* 8 KiB of bss */
			{ .type = 1, .paddr = 0x200000, .filesz = 0x1000, .memsz = 0x1000 },
		},
	};
}

/* Loads, expecting success; checks segments and bss zeroing against the file. */
static void load_pvh(struct gmem *gm, const struct elf_opts *o, struct x86_boot_image *img,
		     struct x86_boot_info *info)
{
	struct elf_file f = elf_build(o);
	char err[256] = "";

	for (unsigned i = 0; i < o->nsegs; i++)
		assert_int_equal(gmem_fill(gm, o->segs[i].paddr, 0xaa, o->segs[i].memsz), 0);
	img->kernel = f.buf;
	img->kernel_len = f.len;
	if (x86_boot_load(gm, img, info, err, sizeof(err)))
		fail_msg("PVH load failed: %s", err);
	for (unsigned i = 0; i < o->nsegs; i++) {
		const struct elf_seg *s = &o->segs[i];

		assert_int_equal(g8(gm, s->paddr), f.buf[f.seg_off[i]]);
		assert_int_equal(g8(gm, s->paddr + s->filesz - 1), f.buf[f.seg_off[i] + s->filesz - 1]);
		for (uint64_t a = s->paddr + s->filesz; a < s->paddr + s->memsz; a += 509)
			assert_int_equal(g8(gm, a), 0);
		if (s->memsz > s->filesz)
			assert_int_equal(g8(gm, s->paddr + s->memsz - 1), 0);
	}
	free(f.buf);
	img->kernel = NULL;
}

static void check_start_info_memmap(struct gmem *gm, uint64_t ram)
{
	const uint64_t si = X86_PVH_INFO_ADDR;
	uint64_t map = g64(gm, si + 0x28);
	unsigned n = g32(gm, si + 0x30);
	uint64_t low = ram < X86_MMIO_HOLE_START ? ram : X86_MMIO_HOLE_START;

	assert_int_equal(n, ram > low ? 4 : 3);
	assert_true(map >= si && map + n * 24 <= si + 4096);
	assert_e820(gm, map, 24, 0, 0, X86_EBDA_ADDR, 1);
	assert_e820(gm, map, 24, 1, X86_EBDA_ADDR, X86_HIMEM_ADDR - X86_EBDA_ADDR, 2);
	assert_e820(gm, map, 24, 2, X86_HIMEM_ADDR, low - X86_HIMEM_ADDR, 1);
	if (ram > low)
		assert_e820(gm, map, 24, 3, X86_MMIO_HOLE_END, ram - low, 1);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(g32(gm, map + 24 * i + 20), 0); /* reserved */
}

static void test_pvh_elf64_loads(void **state)
{
	struct elf_opts o = elf_default(1);
	struct gmem *gm = make_ram(64 * MiB);
	uint8_t initrd[8192];
	struct x86_boot_image img = { .initrd = initrd, .initrd_len = sizeof(initrd), .cmdline = "pvh console=ttyS0",
				      .ncpus = 4 };
	struct x86_boot_info info;
	const uint64_t si = X86_PVH_INFO_ADDR;
	char cl[32];

	(void)state;
	memset(initrd, 0x3c, sizeof(initrd));
	load_pvh(gm, &o, &img, &info);
	assert_int_equal(info.mode, X86_ENTRY_PVH32);
	assert_int_equal(info.entry, 0x100040);
	assert_int_equal(info.boot_params, si);
	assert_int_equal(info.cr3, 0);
	assert_int_equal(info.gdt_base, X86_GDT_ADDR);
	assert_int_equal(info.rsdp, X86_ACPI_ADDR);
	assert_int_equal(info.kernel_start, 0x100000);
	assert_int_equal(info.kernel_end, 0x201000);
	assert_int_equal(info.initrd_start, 64 * MiB - sizeof(initrd));

	/* struct hvm_start_info */
	assert_int_equal(g32(gm, si + 0x00), 0x336ec578); /* magic */
	assert_int_equal(g32(gm, si + 0x04), 1);          /* version */
	assert_int_equal(g32(gm, si + 0x08), 0);          /* flags */
	assert_int_equal(g32(gm, si + 0x0c), 1);          /* nr_modules */
	assert_int_equal(g64(gm, si + 0x18), X86_CMDLINE_ADDR);
	assert_int_equal(g64(gm, si + 0x20), X86_ACPI_ADDR);
	assert_int_equal(gmem_read(gm, g64(gm, si + 0x18), cl, 18), 0);
	assert_string_equal(cl, "pvh console=ttyS0");
	/* module 0 = initrd */
	{
		uint64_t mod = g64(gm, si + 0x10);

		assert_true(mod >= si + 0x38 && mod + 32 <= si + 4096);
		assert_int_equal(g64(gm, mod), info.initrd_start);
		assert_int_equal(g64(gm, mod + 8), sizeof(initrd));
		assert_int_equal(g64(gm, mod + 16), 0); /* no module command line */
		assert_int_equal(g8(gm, info.initrd_start), 0x3c);
	}
	check_start_info_memmap(gm, 64 * MiB);
	/* The LINUX64 structures are not used by PVH, but the GDT is. */
	assert_int_equal(g64(gm, X86_GDT_ADDR + X86_SEL_CODE32), 0x00cf9b000000ffffULL);
	gmem_destroy(gm);
}

static void test_pvh_elf32_loads(void **state)
{
	struct elf_opts o = elf_default(0);
	struct gmem *gm = make_ram(5 * GiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	const uint64_t si = X86_PVH_INFO_ADDR;

	(void)state;
	o.entry = 0x200ffc; /* last word of the second segment */
	assert_int_equal(gmem_fill(gm, si, 0xff, 4096), 0);
	load_pvh(gm, &o, &img, &info);
	assert_int_equal(info.mode, X86_ENTRY_PVH32);
	assert_int_equal(info.entry, 0x200ffc);
	assert_int_equal(info.initrd_len, 0);
	assert_int_equal(g32(gm, si + 0x0c), 0);  /* no modules */
	assert_int_equal(g64(gm, si + 0x10), 0);
	assert_int_equal(g64(gm, si + 0x18), X86_CMDLINE_ADDR);
	assert_int_equal(g8(gm, X86_CMDLINE_ADDR), 0);
	assert_int_equal(g32(gm, si + 0x34), 0); /* reserved */
	check_start_info_memmap(gm, 5 * GiB);
	gmem_destroy(gm);
}

static void test_pvh_note_variants(void **state)
{
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	struct elf_opts o;

	(void)state;
	/* Only in a section (SHT_NOTE), no PT_NOTE. */
	o = elf_default(1);
	o.note_in_phdr = 0;
	o.note_in_shdr = 1;
	load_pvh(gm, &o, &img, &info);
	assert_int_equal(info.entry, 0x100040);

	/* After other notes, one with padded name and desc. */
	o = elf_default(0);
	o.extra_notes = 1;
	o.entry = 0x100ff0;
	load_pvh(gm, &o, &img, &info);
	assert_int_equal(info.entry, 0x100ff0);

	/* A 4-byte value in an ELF64 is fine too. */
	o = elf_default(1);
	o.descsz = 4;
	o.entry = 0x100100;
	load_pvh(gm, &o, &img, &info);
	assert_int_equal(info.entry, 0x100100);
	gmem_destroy(gm);
}

/* Builds the ELF, lets @patch damage it, expects failure. */
static void elf_expect_fail(struct gmem *gm, const struct elf_opts *o, void (*patch)(struct elf_file *),
			    int code, const char *what)
{
	struct elf_file f = elf_build(o);
	struct x86_boot_image img = { .ncpus = 1 };

	if (patch)
		patch(&f);
	img.kernel = f.buf;
	img.kernel_len = f.len;
	expect_fail(gm, &img, code, what);
	free(f.buf);
}

static void patch_machine_arm(struct elf_file *f)
{
	put16(f->buf + 18, 40);
}

static void patch_type_dyn(struct elf_file *f)
{
	put16(f->buf + 16, 3);
}

static void patch_phoff_far(struct elf_file *f)
{
	put64(f->buf + 32, 0xfffffffffffffff0ULL);
}

static void patch_phnum_many(struct elf_file *f)
{
	put16(f->buf + 56, 0xffff);
}

static void patch_phentsize(struct elf_file *f)
{
	put16(f->buf + 54, 32);
}

static void patch_big_endian(struct elf_file *f)
{
	f->buf[5] = 2;
}

static void patch_truncate_header(struct elf_file *f)
{
	f->len = 40;
}

static void patch_truncate_data(struct elf_file *f)
{
	f->len -= 0x800; /* into the second segment's data */
}

/* The first note's namesz claims more than the note area holds. */
static void patch_note_namesz(struct elf_file *f)
{
	size_t note = 64 + 3 * 56; /* 2 PT_LOADs + PT_NOTE after the 64-bit header */

	put32(f->buf + note, 0x7fffffff);
}

static void test_elf_rejects(void **state)
{
	struct gmem *gm = make_ram(64 * MiB), *big = make_ram(5 * GiB);
	struct elf_opts o;

	(void)state;
	/* No PVH note: its own message, whichever way the note is missing. */
	o = elf_default(1);
	o.note_type = 17;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "no PVH entry note");
	o = elf_default(0);
	o.note_in_phdr = 0;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "XEN_ELFNOTE_PHYS32_ENTRY");

	/* Header problems. */
	o = elf_default(1);
	elf_expect_fail(gm, &o, patch_machine_arm, -ENOEXEC, "not x86");
	elf_expect_fail(gm, &o, patch_type_dyn, -ENOEXEC, "ET_EXEC");
	elf_expect_fail(gm, &o, patch_phoff_far, -ENOEXEC, "truncated");
	elf_expect_fail(gm, &o, patch_phnum_many, -ENOEXEC, "program headers");
	elf_expect_fail(gm, &o, patch_phentsize, -ENOEXEC, "program header size");
	elf_expect_fail(gm, &o, patch_big_endian, -ENOEXEC, "little-endian");
	elf_expect_fail(gm, &o, patch_truncate_header, -ENOEXEC, "truncated");
	elf_expect_fail(gm, &o, patch_truncate_data, -ENOEXEC, "truncated");
	elf_expect_fail(gm, &o, patch_note_namesz, -ENOEXEC, "malformed ELF note");

	/* Notes with bad values. */
	o = elf_default(1);
	o.entry = 0x100000040ULL;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "32-bit");
	o = elf_default(1);
	o.descsz = 2;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "4 or 8");

	/* Segment outside the file. */
	o = elf_default(1);
	o.segs[1].offset = 0x100000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "past the end");
	/* p_offset + p_filesz wraps around */
	o = elf_default(1);
	o.segs[1].offset = 0xffffffffffffff00ULL;
	o.segs[1].filesz = 0x200;
	o.segs[1].memsz = 0x1000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "past the end");
	/* p_filesz > p_memsz */
	o = elf_default(1);
	o.segs[0].memsz = 0x2000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "p_filesz");
	/* below 1 MiB */
	o = elf_default(1);
	o.segs[1].paddr = 0x80000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "below 1 MiB");
	/* beyond RAM */
	o = elf_default(1);
	o.segs[1].paddr = 100 * MiB;
	elf_expect_fail(gm, &o, NULL, -E2BIG, "beyond guest RAM");
	/* ends one byte past RAM */
	o = elf_default(1);
	o.segs[1].paddr = 64 * MiB - 0x1000;
	o.segs[1].memsz = 0x1001;
	elf_expect_fail(gm, &o, NULL, -E2BIG, "beyond guest RAM");
	/* across the MMIO hole (RAM on both sides) */
	o = elf_default(1);
	o.segs[1].paddr = X86_MMIO_HOLE_START - 0x1000;
	o.segs[1].memsz = 0x2000;
	elf_expect_fail(big, &o, NULL, -ENOEXEC, "MMIO hole");
	/* in RAM above 4 GiB: unreachable from 32-bit code */
	o = elf_default(1);
	o.segs[1].paddr = X86_MMIO_HOLE_END;
	elf_expect_fail(big, &o, NULL, -ENOEXEC, "4 GiB");
	/* address + size overflows */
	o = elf_default(1);
	o.segs[1].paddr = 0xfffffffffffff000ULL;
	o.segs[1].memsz = 0x2000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "overflows");
	o = elf_default(1);
	o.segs[0].memsz = ~0ULL;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "overflows");
	/* overlapping segments */
	o = elf_default(1);
	o.segs[1].paddr = 0x104000; /* inside segment 0's bss */
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "overlaps");
	/* entry outside every segment, or in bss */
	o = elf_default(1);
	o.entry = 0x300000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "not inside");
	o.entry = 0x104000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "not inside");
	/* no PT_LOAD at all */
	o = elf_default(0);
	o.nsegs = 0;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "no loadable");
	/* ELF32: a segment that wraps the 32-bit space is still caught */
	o = elf_default(0);
	o.segs[1].paddr = 0xfffff000;
	o.segs[1].memsz = 0x2000;
	elf_expect_fail(gm, &o, NULL, -ENOEXEC, "4 GiB");
	gmem_destroy(gm);
	gmem_destroy(big);
}

/* PVH kernels get the whole command-line buffer; the initrd goes above the segments. */
static void test_pvh_limits(void **state)
{
	struct elf_opts o = elf_default(1);
	struct gmem *gm = make_ram(64 * MiB);
	struct x86_boot_image img = { .ncpus = 1 };
	struct x86_boot_info info;
	struct elf_file f;
	char *cl = malloc(X86_CMDLINE_MAX + 1);
	uint8_t *initrd = calloc(1, 64 * MiB);

	(void)state;
	assert_non_null(cl);
	assert_non_null(initrd);
	f = elf_build(&o);
	img.kernel = f.buf;
	img.kernel_len = f.len;
	img.cmdline = cl;
	memset(cl, 'p', X86_CMDLINE_MAX);
	cl[X86_CMDLINE_MAX] = '\0';
	expect_fail(gm, &img, -E2BIG, "command line");
	cl[X86_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	img.cmdline = NULL;

	img.initrd = initrd;
	img.initrd_len = 64 * MiB - 0x201000 + 1; /* one byte more than fits above the kernel */
	expect_fail(gm, &img, -E2BIG, "initrd");
	img.initrd_len = 64 * MiB - 0x201000;
	assert_int_equal(x86_boot_load(gm, &img, &info, NULL, 0), 0);
	assert_int_equal(info.initrd_start, 0x201000);
	free(f.buf);
	free(cl);
	free(initrd);
	gmem_destroy(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_loads),
		cmocka_unit_test(test_bzimage_above_4g),
		cmocka_unit_test(test_bzimage_initrd_addr_max),
		cmocka_unit_test(test_bzimage_footprint),
		cmocka_unit_test(test_bzimage_setup_sects_zero_means_4),
		cmocka_unit_test(test_bzimage_syssize_bounds_payload),
		cmocka_unit_test(test_bzimage_old_protocol_rsdp),
		cmocka_unit_test(test_bzimage_rejects),
		cmocka_unit_test(test_cmdline_limits),
		cmocka_unit_test(test_initrd_too_big),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_gdt_and_page_tables),
		cmocka_unit_test(test_pvh_elf64_loads),
		cmocka_unit_test(test_pvh_elf32_loads),
		cmocka_unit_test(test_pvh_note_variants),
		cmocka_unit_test(test_elf_rejects),
		cmocka_unit_test(test_pvh_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
