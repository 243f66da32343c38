/*
 * The arm64 loader and device tree (src/arch/aarch64/boot.c, fdt.c) against hand-built Images:
 * header checks on truncated and corrupt files, placement in guest RAM, and the device tree parsed
 * back with libfdt. Pure code: runs on any host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/boot.h"
#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"
#include "devices/virtio/mmio.h"
#include "core/gmem.h"

#define MiB (1ULL << 20)

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* An Image of @len bytes whose header says text_offset/image_size/flags; the body is a pattern. */
static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	uint8_t *p = calloc(1, len < 64 ? 64 : len);

	assert_non_null(p);
	for (size_t i = 64; i < len; i++)
		p[i] = (uint8_t)(i * 7);
	put32(p, 0x91005a4d); /* code0: what a real Image starts with; the loader ignores it */
	put64(p + 8, text_offset);
	put64(p + 16, image_size);
	put64(p + 24, flags);
	put32(p + ARM64_IMAGE_MAGIC_OFF, ARM64_IMAGE_MAGIC);
	return p;
}

static struct gmem *make_ram(uint64_t size)
{
	struct gmem *gm;

	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, ARM64_RAM_BASE, size), 0);
	return gm;
}

static void assert_err_has(const char *err, const char *what)
{
	if (!strstr(err, what))
		fail_msg("error message \"%s\" does not mention \"%s\"", err, what);
}

static void expect_parse_fail(const uint8_t *data, size_t len, const char *what)
{
	struct arm64_image img, before;
	char err[256] = "";

	memset(&img, 0x5a, sizeof(img));
	before = img;
	assert_int_equal(arm64_image_parse(data, len, &img, err, sizeof(err)), -ENOEXEC);
	assert_err_has(err, what);
	assert_memory_equal(&img, &before, sizeof(img));
}

static void test_image_header(void **state)
{
	uint8_t *p = make_image(4096, 0x80000, 1 * MiB, 0xa);
	struct arm64_image img;

	(void)state;
	assert_int_equal(arm64_image_parse(p, 4096, &img, NULL, 0), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_int_equal(img.image_size, 1 * MiB);
	assert_int_equal(img.flags, 0xa);
	free(p);
}

static void test_image_rejects(void **state)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0 };
	uint8_t zboot[64] = { 'M', 'Z', 0, 0, 'z', 'i', 'm', 'g' };
	uint8_t *p;

	(void)state;
	/* Truncated: nothing, a few bytes, one byte short of the header. */
	p = make_image(64, 0, 1 * MiB, 0);
	expect_parse_fail(p, 0, "too short");
	expect_parse_fail(p, 10, "too short");
	expect_parse_fail(p, 63, "too short");
	/* Corrupt magic. */
	p[ARM64_IMAGE_MAGIC_OFF] ^= 0xff;
	expect_parse_fail(p, 64, "ARM\\x64");
	free(p);
	expect_parse_fail(gz, sizeof(gz), "gzip");
	expect_parse_fail(zboot, sizeof(zboot), "zboot");
	/* Header fields. */
	p = make_image(4096, 0, 0, 0);
	expect_parse_fail(p, 4096, "image_size is 0");
	free(p);
	p = make_image(4096, 0, 1 * MiB, ARM64_IMAGE_FLAG_BE);
	expect_parse_fail(p, 4096, "big-endian");
	free(p);
	p = make_image(4096, 0x123, 1 * MiB, 0);
	expect_parse_fail(p, 4096, "implausible");
	free(p);
	p = make_image(4096, 0, UINT64_MAX, 0);
	expect_parse_fail(p, 4096, "implausible");
	free(p);
	p = make_image(8192, 0, 4096, 0); /* the file is bigger than the kernel says it is */
	expect_parse_fail(p, 8192, "longer than");
	free(p);
}

static const uint64_t mpidrs[2] = { 0x80000000, 0x80000001 };

static struct arm64_boot_image boot_image(const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
					  uint64_t ram)
{
	return (struct arm64_boot_image){
		.kernel = k, .kernel_len = klen, .initrd = initrd, .initrd_len = ilen,
		.cmdline = "console=ttyS0 -- echo hi", .ncpus = 2, .mpidr = mpidrs,
		.ram_base = ARM64_RAM_BASE, .ram_size = ram,
	};
}

static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
	int off = fdt_path_offset(fdt, path);
	const void *v;

	if (off < 0)
		fail_msg("no node %s", path);
	v = fdt_getprop(fdt, off, name, len);
	if (!v)
		fail_msg("no property %s in %s", name, path);
	return v;
}

static uint64_t prop64(const void *fdt, const char *path, const char *name, unsigned i)
{
	int len;
	const uint8_t *v = prop(fdt, path, name, &len);
	fdt64_t cell;

	/* Properties are only 4-byte aligned: copy before converting. */
	assert_true((unsigned)len >= (i + 1) * 8);
	memcpy(&cell, v + 8 * i, sizeof(cell));
	return fdt64_to_cpu(cell);
}

static uint32_t prop32(const void *fdt, const char *path, const char *name, unsigned i)
{
	int len;
	const fdt32_t *v = prop(fdt, path, name, &len);

	assert_true((unsigned)len >= (i + 1) * 4);
	return fdt32_to_cpu(v[i]);
}

static void test_boot_load(void **state)
{
	const size_t klen = 3 * MiB + 100;
	uint8_t *k = make_image(klen, 0, 8 * MiB, 0xa);
	uint8_t initrd[5000];
	struct gmem *gm = make_ram(256 * MiB);
	struct arm64_boot_image img;
	struct arm64_boot_info info;
	char err[256] = "";
	const void *fdt;
	uint8_t back[64];
	int len;

	(void)state;
	memset(initrd, 0xa5, sizeof(initrd));
	img = boot_image(k, klen, initrd, sizeof(initrd), 256 * MiB);
	assert_int_equal(arm64_boot_load(gm, &img, &info, err, sizeof(err)), 0);
	/* Kernel at the base of RAM (text_offset 0), entry at its first byte. */
	assert_int_equal(info.kernel_addr, ARM64_RAM_BASE);
	assert_int_equal(info.entry, ARM64_RAM_BASE);
	assert_int_equal(info.kernel_end, ARM64_RAM_BASE + 8 * MiB);
	assert_int_equal(gmem_read(gm, ARM64_RAM_BASE + klen - 64, back, 64), 0);
	assert_memory_equal(back, k + klen - 64, 64);
	/* The device tree in the last 2 MiB, 8-byte aligned; the initrd right below it. */
	assert_int_equal(info.dtb_addr, ARM64_RAM_BASE + 254 * MiB);
	assert_int_equal(info.dtb_addr % 8, 0);
	assert_true(info.initrd_addr + info.initrd_size <= info.dtb_addr);
	assert_true(info.initrd_addr >= info.kernel_end);
	assert_int_equal(info.initrd_addr % 4096, 0);
	assert_int_equal(gmem_read(gm, info.initrd_addr, back, 64), 0);
	assert_memory_equal(back, initrd, 64);

	fdt = gmem_ptr(gm, info.dtb_addr, info.dtb_size);
	assert_non_null(fdt);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_int_equal(fdt_totalsize(fdt), info.dtb_size);
	assert_string_equal(prop(fdt, "/chosen", "bootargs", &len), "console=ttyS0 -- echo hi");
	assert_int_equal(prop64(fdt, "/chosen", "linux,initrd-start", 0), info.initrd_addr);
	assert_int_equal(prop64(fdt, "/chosen", "linux,initrd-end", 0), info.initrd_addr + sizeof(initrd));
	assert_string_equal(prop(fdt, "/chosen", "stdout-path", &len), "/uart@9000000");
	free(k);
	gmem_destroy(gm);
}

static void test_fdt_contents(void **state)
{
	static uint8_t buf[64 * 1024];
	struct arm64_fdt_config cfg = {
		.ram_base = ARM64_RAM_BASE, .ram_size = 512 * MiB, .ncpus = 2, .mpidr = mpidrs,
		.cmdline = "quiet",
	};
	const void *fdt = buf;
	int len, gic, off;

	(void)state;
	assert_true(arm64_fdt_build(&cfg, buf, sizeof(buf)) > 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_string_equal(prop(fdt, "/", "compatible", &len), "linux,dummy-virt");
	assert_int_equal(prop32(fdt, "/", "#address-cells", 0), 2);
	assert_int_equal(prop32(fdt, "/", "interrupt-parent", 0), ARM64_FDT_GIC_PHANDLE);
	/* No initrd: no initrd properties. */
	off = fdt_path_offset(fdt, "/chosen");
	assert_null(fdt_getprop(fdt, off, "linux,initrd-start", &len));

	/* Memory. */
	assert_string_equal(prop(fdt, "/memory@40000000", "device_type", &len), "memory");
	assert_int_equal(prop64(fdt, "/memory@40000000", "reg", 0), ARM64_RAM_BASE);
	assert_int_equal(prop64(fdt, "/memory@40000000", "reg", 1), 512 * MiB);

	/* CPUs: one node per vCPU, reg = MPIDR affinity, PSCI to start them. */
	assert_int_equal(prop64(fdt, "/cpus/cpu@0", "reg", 0), 0);
	assert_int_equal(prop64(fdt, "/cpus/cpu@1", "reg", 0), 1);
	assert_string_equal(prop(fdt, "/cpus/cpu@1", "enable-method", &len), "psci");
	assert_string_equal(prop(fdt, "/cpus/cpu@0", "device_type", &len), "cpu");
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@2") < 0);
	assert_string_equal(prop(fdt, "/psci", "method", &len), "hvc");
	assert_int_equal(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/psci"), "arm,psci-0.2"), 0);

	/* GICv3: distributor and one redistributor frame pair per vCPU. */
	gic = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
	assert_true(gic >= 0);
	assert_int_equal(fdt_get_phandle(fdt, gic), ARM64_FDT_GIC_PHANDLE);
	assert_non_null(fdt_getprop(fdt, gic, "interrupt-controller", &len));
	assert_int_equal(prop32(fdt, "/interrupt-controller@8000000", "#interrupt-cells", 0), 3);
	assert_int_equal(prop64(fdt, "/interrupt-controller@8000000", "reg", 0), ARM64_GIC_DIST_BASE);
	assert_int_equal(prop64(fdt, "/interrupt-controller@8000000", "reg", 1), ARM64_GIC_DIST_SIZE);
	assert_int_equal(prop64(fdt, "/interrupt-controller@8000000", "reg", 2), ARM64_GIC_REDIST_BASE);
	assert_int_equal(prop64(fdt, "/interrupt-controller@8000000", "reg", 3), 2 * ARM64_GIC_REDIST_STRIDE);

	/* Timer PPIs in the binding's order: 13, 14, 11, 10. */
	assert_int_equal(prop32(fdt, "/timer", "interrupts", 0), 1);
	assert_int_equal(prop32(fdt, "/timer", "interrupts", 1), 13);
	assert_int_equal(prop32(fdt, "/timer", "interrupts", 4), 14);
	assert_int_equal(prop32(fdt, "/timer", "interrupts", 7), 11);
	assert_int_equal(prop32(fdt, "/timer", "interrupts", 10), 10);

	/* The UART: a 16550 on MMIO, byte registers, SPI 1. */
	assert_int_equal(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/uart@9000000"), "ns16550a"), 0);
	assert_int_equal(prop64(fdt, "/uart@9000000", "reg", 0), ARM64_UART_BASE);
	assert_int_equal(prop32(fdt, "/uart@9000000", "reg-shift", 0), 0);
	assert_int_equal(prop32(fdt, "/uart@9000000", "interrupts", 0), 0);
	assert_int_equal(prop32(fdt, "/uart@9000000", "interrupts", 1), ARM64_UART_SPI);
	assert_int_equal(prop32(fdt, "/uart@9000000", "clock-frequency", 0), ARM64_UART_CLOCK);

	/* No virtio devices: no virtio-mmio nodes. */
	assert_true(fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio") < 0);
}

/* Each virtio-mmio window becomes a "virtio,mmio" node: its registers, an edge-triggered SPI. */
static void test_fdt_virtio_mmio(void **state)
{
	static uint8_t buf[64 * 1024];
	const struct virtio_mmio_desc virtio[] = {
		{ ARM64_VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE, ARM64_VIRTIO_SPI },
		{ ARM64_VIRTIO_MMIO_BASE + VIRTIO_MMIO_SIZE, VIRTIO_MMIO_SIZE, ARM64_VIRTIO_SPI + 1 },
	};
	struct arm64_fdt_config cfg = {
		.ram_base = ARM64_RAM_BASE, .ram_size = 512 * MiB, .ncpus = 1, .mpidr = mpidrs,
		.cmdline = "", .virtio = virtio, .nr_virtio = 2,
	};
	const void *fdt = buf;
	int len, off, n = 0;

	(void)state;
	assert_true(arm64_fdt_build(&cfg, buf, sizeof(buf)) > 0);
	for (off = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); off >= 0;
	     off = fdt_node_offset_by_compatible(fdt, off, "virtio,mmio"))
		n++;
	assert_int_equal(n, 2);
	assert_int_equal(prop64(fdt, "/virtio_mmio@a000000", "reg", 0), ARM64_VIRTIO_MMIO_BASE);
	assert_int_equal(prop64(fdt, "/virtio_mmio@a000000", "reg", 1), VIRTIO_MMIO_SIZE);
	assert_int_equal(prop32(fdt, "/virtio_mmio@a000000", "interrupts", 0), 0); /* SPI */
	assert_int_equal(prop32(fdt, "/virtio_mmio@a000000", "interrupts", 1), ARM64_VIRTIO_SPI);
	assert_int_equal(prop32(fdt, "/virtio_mmio@a000000", "interrupts", 2), 1); /* edge rising */
	prop(fdt, "/virtio_mmio@a000000", "dma-coherent", &len);
	assert_int_equal(len, 0);
	assert_int_equal(prop64(fdt, "/virtio_mmio@a000200", "reg", 0), ARM64_VIRTIO_MMIO_BASE + VIRTIO_MMIO_SIZE);
	assert_int_equal(prop32(fdt, "/virtio_mmio@a000200", "interrupts", 1), ARM64_VIRTIO_SPI + 1);

	/* A count without the array is refused, not dereferenced. */
	cfg.virtio = NULL;
	assert_int_equal(arm64_fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
}

static void test_fdt_limits(void **state)
{
	static uint8_t buf[64 * 1024];
	char *big = malloc(100000);
	struct arm64_fdt_config cfg = {
		.ram_base = ARM64_RAM_BASE, .ram_size = 512 * MiB, .ncpus = 1, .mpidr = mpidrs, .cmdline = big,
	};

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 99999);
	big[99999] = 0;
	assert_int_equal(arm64_fdt_build(&cfg, buf, sizeof(buf)), -ENOSPC);
	cfg.cmdline = "";
	cfg.ncpus = 0;
	assert_int_equal(arm64_fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
	cfg.ncpus = 1;
	cfg.mpidr = NULL;
	assert_int_equal(arm64_fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
	free(big);
}

static void expect_load_fail(const struct arm64_boot_image *img, struct gmem *gm, int code, const char *what)
{
	struct arm64_boot_info info, before;
	char err[256] = "";

	memset(&info, 0x5a, sizeof(info));
	before = info;
	assert_int_equal(arm64_boot_load(gm, img, &info, err, sizeof(err)), code);
	assert_err_has(err, what);
	assert_memory_equal(&info, &before, sizeof(info));
}

static void test_boot_rejects(void **state)
{
	uint8_t *k = make_image(4096, 0, 8 * MiB, 0);
	uint8_t *huge = make_image(4096, 0, 63 * MiB, 0);
	uint8_t *mid = make_image(4096, 0, 60 * MiB, 0);
	static uint8_t initrd[4 * MiB];
	struct gmem *gm = make_ram(64 * MiB);
	struct arm64_boot_image img;

	(void)state;
	/* A kernel whose BSS runs into the device tree. */
	img = boot_image(huge, 4096, NULL, 0, 64 * MiB);
	expect_load_fail(&img, gm, -E2BIG, "too small for the kernel");
	/* An initrd that would overlap the kernel (60 MiB of it, the initrd below the device tree). */
	img = boot_image(k, 4096, initrd, sizeof(initrd), 64 * MiB);
	img.kernel = mid;
	expect_load_fail(&img, gm, -E2BIG, "too small");
	/* An initrd bigger than RAM. */
	img = boot_image(k, 4096, initrd, sizeof(initrd), 4 * MiB);
	expect_load_fail(&img, gm, -E2BIG, "does not fit");
	/* RAM too small for anything. */
	img = boot_image(k, 4096, NULL, 0, 2 * MiB);
	expect_load_fail(&img, gm, -E2BIG, "too small");
	/* A corrupt kernel is named as such. */
	img = boot_image(k, 40, NULL, 0, 64 * MiB);
	expect_load_fail(&img, gm, -ENOEXEC, "too short");
	/* RAM not where it should be. */
	img = boot_image(k, 4096, NULL, 0, 64 * MiB);
	img.ram_base += 4096;
	expect_load_fail(&img, gm, -EINVAL, "2 MiB aligned");
	free(k);
	free(huge);
	free(mid);
	gmem_destroy(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_header),
		cmocka_unit_test(test_image_rejects),
		cmocka_unit_test(test_boot_load),
		cmocka_unit_test(test_fdt_contents),
		cmocka_unit_test(test_fdt_virtio_mmio),
		cmocka_unit_test(test_fdt_limits),
		cmocka_unit_test(test_boot_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
