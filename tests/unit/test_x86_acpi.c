/*
 * x86 ACPI tables, checked byte by byte against the ACPI 6.5 layouts (the
 * offsets here are written out independently of acpi.c's structs): every
 * checksum and length, the RSDP -> XSDT/RSDT -> FADT/MADT -> DSDT links, the
 * FADT power registers, the MADT CPU and I/O APIC entries, and the AML of
 * \_S5_, COM1 and the RTC, decoded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/layout.h"
#include "core/gmem.h"

#define RAM (64ULL << 20)

struct acpi_image {
	struct gmem *gm;
	uint8_t mem[X86_ACPI_MAX]; /* copy of [X86_ACPI_ADDR, + X86_ACPI_MAX) */
	uint64_t rsdp;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static struct gmem *make_ram(void)
{
	struct gmem *gm;

	assert_int_equal(gmem_create(&gm), 0);
	assert_int_equal(gmem_add_region(gm, 0, RAM), 0);
	return gm;
}

static void build(struct acpi_image *img, unsigned ncpus)
{
	img->gm = make_ram();
	/* Garbage first: the builder must not rely on zeroed memory. */
	assert_int_equal(gmem_fill(img->gm, X86_ACPI_ADDR, 0xa5, X86_ACPI_MAX), 0);
	assert_int_equal(x86_acpi_build(img->gm, X86_ACPI_ADDR, X86_ACPI_MAX, ncpus, false, &img->rsdp), 0);
	assert_int_equal(img->rsdp, X86_ACPI_ADDR);
	assert_int_equal(gmem_read(img->gm, X86_ACPI_ADDR, img->mem, sizeof(img->mem)), 0);
}

/* A table by guest address, after checking signature, length and checksum. */
static const uint8_t *table_at(const struct acpi_image *img, uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= X86_ACPI_ADDR && gpa + 36 <= X86_ACPI_ADDR + X86_ACPI_MAX);
	t = img->mem + (gpa - X86_ACPI_ADDR);
	assert_memory_equal(t, sig, 4);
	len = le32(t + 4);
	assert_true(len >= 36);
	assert_true(gpa + len <= X86_ACPI_ADDR + X86_ACPI_MAX);
	assert_int_equal(sum8(t, len), 0);
	assert_memory_equal(t + 10, "BOTHY ", 6); /* OEMID */
	return t;
}

static const uint8_t *find_table(const struct acpi_image *img, const uint8_t *xsdt, const char *sig,
				 uint64_t *gpa)
{
	uint32_t n = (le32(xsdt + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = le64(xsdt + 36 + 8 * i);

		if (a >= X86_ACPI_ADDR && a < X86_ACPI_ADDR + X86_ACPI_MAX &&
		    !memcmp(img->mem + (a - X86_ACPI_ADDR), sig, 4)) {
			if (gpa)
				*gpa = a;
			return table_at(img, a, sig);
		}
	}
	fail_msg("XSDT has no %s", sig);
	return NULL;
}

static void check_rsdp(const struct acpi_image *img, uint64_t *xsdt, uint64_t *rsdt)
{
	const uint8_t *r = img->mem;

	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum8(r, 20), 0);  /* ACPI 1.0 checksum */
	assert_int_equal(sum8(r, 36), 0);  /* extended checksum */
	assert_int_equal(r[15], 2);        /* revision */
	assert_int_equal(le32(r + 20), 36); /* length */
	*rsdt = le32(r + 16);
	*xsdt = le64(r + 24);
	assert_int_equal(*xsdt % 8, 0);
}

static void test_acpi_tables_link_and_checksum(void **state)
{
	static struct acpi_image img;
	const uint8_t *xsdt, *rsdt, *fadt, *madt, *dsdt;
	uint64_t xsdt_gpa, rsdt_gpa, fadt_gpa, madt_gpa, dsdt_gpa;

	(void)state;
	build(&img, 1);
	check_rsdp(&img, &xsdt_gpa, &rsdt_gpa);
	xsdt = table_at(&img, xsdt_gpa, "XSDT");
	assert_int_equal(xsdt[8], 1);
	assert_int_equal(le32(xsdt + 4), 36 + 2 * 8); /* exactly FADT and MADT */
	fadt = find_table(&img, xsdt, "FACP", &fadt_gpa);
	madt = find_table(&img, xsdt, "APIC", &madt_gpa);
	assert_non_null(madt);

	/* The RSDT lists the same two tables with 32-bit pointers. */
	rsdt = table_at(&img, rsdt_gpa, "RSDT");
	assert_int_equal(le32(rsdt + 4), 36 + 2 * 4);
	assert_true((le32(rsdt + 36) == fadt_gpa && le32(rsdt + 40) == madt_gpa) ||
		    (le32(rsdt + 36) == madt_gpa && le32(rsdt + 40) == fadt_gpa));

	/* FADT -> DSDT, both pointer fields agreeing. */
	assert_int_equal(le32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6);
	dsdt_gpa = le64(fadt + 140);
	assert_int_equal(le32(fadt + 40), dsdt_gpa);
	dsdt = table_at(&img, dsdt_gpa, "DSDT");
	assert_true(dsdt[8] >= 2); /* 64-bit AML integers */

	/* No two tables overlap. */
	{
		uint64_t a[] = { X86_ACPI_ADDR, rsdt_gpa, xsdt_gpa, fadt_gpa, madt_gpa, dsdt_gpa };
		uint64_t l[] = { 36, le32(rsdt + 4), le32(xsdt + 4), le32(fadt + 4), le32(madt + 4), le32(dsdt + 4) };

		for (unsigned i = 0; i < 6; i++)
			for (unsigned j = i + 1; j < 6; j++)
				assert_false(a[i] < a[j] + l[j] && a[j] < a[i] + l[i]);
	}
	gmem_destroy(img.gm);
}

static void check_gas_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1); /* system I/O */
	assert_int_equal(g[1], 8); /* bit width */
	assert_int_equal(g[2], 0); /* bit offset */
	assert_int_equal(g[3], 1); /* byte access */
	assert_int_equal(le64(g + 4), port);
}

static void test_acpi_fadt_hw_reduced_power(void **state)
{
	static struct acpi_image img;
	uint64_t xsdt_gpa, rsdt_gpa;
	const uint8_t *fadt;
	uint32_t flags;
	uint16_t iapc;

	(void)state;
	build(&img, 2);
	check_rsdp(&img, &xsdt_gpa, &rsdt_gpa);
	fadt = find_table(&img, table_at(&img, xsdt_gpa, "XSDT"), "FACP", NULL);

	flags = le32(fadt + 112);
	assert_true(flags & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10)); /* RESET_REG_SUP */
	assert_true(flags & (1u << 4));  /* PWR_BUTTON: no fixed power button */
	assert_true(flags & (1u << 5));  /* SLP_BUTTON: no fixed sleep button */

	iapc = le16(fadt + 109);
	assert_true(iapc & (1u << 2));   /* VGA not present */
	assert_false(iapc & (1u << 1));  /* no 8042: Linux must not probe it */
	assert_false(iapc & (1u << 3));  /* MSI allowed (virtio-pci MSI-X) */
	assert_false(iapc & (1u << 5));  /* the CMOS RTC exists */

	/* HW-reduced: no SCI, no SMI, no PM1/GPE blocks, no FACS. */
	assert_int_equal(le16(fadt + 46), 0);
	assert_int_equal(le32(fadt + 48), 0);
	for (unsigned off = 56; off < 96; off++)
		assert_int_equal(fadt[off], 0);
	assert_int_equal(le32(fadt + 36), 0);
	assert_int_equal(le64(fadt + 132), 0);
	for (unsigned off = 148; off < 244; off++)
		assert_int_equal(fadt[off], 0);

	check_gas_io8(fadt + 116, X86_PORT_ACPI_RESET);
	assert_int_equal(fadt[128], X86_ACPI_RESET_VALUE);
	check_gas_io8(fadt + 244, X86_PORT_ACPI_SLEEP_CTL);
	check_gas_io8(fadt + 256, X86_PORT_ACPI_SLEEP_STS);
	assert_int_equal(fadt[131], 5); /* FADT minor version: 6.5 */
	assert_memory_equal(fadt + 268, "BOTHY", 5);
	gmem_destroy(img.gm);
}

static void check_madt(unsigned ncpus)
{
	static struct acpi_image img;
	uint64_t xsdt_gpa, rsdt_gpa;
	const uint8_t *madt;
	uint32_t len, off;
	unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	int seen[X86_ACPI_MAX_CPUS] = { 0 };

	build(&img, ncpus);
	check_rsdp(&img, &xsdt_gpa, &rsdt_gpa);
	madt = find_table(&img, table_at(&img, xsdt_gpa, "XSDT"), "APIC", NULL);
	len = le32(madt + 4);
	assert_int_equal(le32(madt + 36), X86_LAPIC_ADDR);
	assert_int_equal(le32(madt + 40), 1); /* PCAT_COMPAT: KVM's irqchip has the 8259s */

	for (off = 44; off < len; off += madt[off + 1]) {
		const uint8_t *e = madt + off;

		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], e[3]); /* UID = APIC id */
			assert_true(e[3] < ncpus);
			assert_false(seen[e[3]]);
			seen[e[3]] = 1;
			assert_int_equal(le32(e + 4), 1); /* enabled */
			lapics++;
			break;
		case 1: /* I/O APIC */
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], ncpus);
			assert_int_equal(le32(e + 4), X86_IOAPIC_ADDR);
			assert_int_equal(le32(e + 8), 0);
			ioapics++;
			break;
		case 2: /* Interrupt Source Override */
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0); /* ISA */
			assert_int_equal(e[3], 0); /* IRQ0 */
			/* KVM's default routing: the PIT is GSI 0 / pin 0; edge, active high. */
			assert_int_equal(le32(e + 4), 0);
			assert_int_equal(le16(e + 8), 0x5);
			isos++;
			break;
		case 4: /* Local APIC NMI */
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1); /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len); /* entries exactly fill the table */
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 1);
	assert_int_equal(nmis, 1);
	gmem_destroy(img.gm);
}

static void test_acpi_madt_1_cpu(void **state)
{
	(void)state;
	check_madt(1);
}

static void test_acpi_madt_8_cpus(void **state)
{
	(void)state;
	check_madt(8);
}

static void test_acpi_madt_max_cpus(void **state)
{
	(void)state;
	check_madt(X86_ACPI_MAX_CPUS);
}

/* --- a tiny AML reader --------------------------------------------------------- */

/* PkgLength at *p: returns the package length and advances past the encoding. */
static size_t aml_read_pkglen(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	unsigned n;
	size_t v;

	assert_true(q < end);
	n = q[0] >> 6;
	if (!n) {
		*p = q + 1;
		return q[0] & 0x3f;
	}
	assert_true(q + 1 + n <= end);
	assert_int_equal(q[0] & 0x30, 0); /* reserved bits */
	v = q[0] & 0xf;
	for (unsigned i = 0; i < n; i++)
		v |= (size_t)q[1 + i] << (4 + 8 * i);
	*p = q + 1 + n;
	return v;
}

static uint64_t aml_read_int(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	uint64_t v = 0;
	unsigned size;

	assert_true(q < end);
	switch (q[0]) {
	case 0x00: *p = q + 1; return 0;
	case 0x01: *p = q + 1; return 1;
	case 0xff: *p = q + 1; return ~0ULL;
	case 0x0a: size = 1; break;
	case 0x0b: size = 2; break;
	case 0x0c: size = 4; break;
	case 0x0e: size = 8; break;
	default: fail_msg("not an AML integer: opcode 0x%02x", q[0]); return 0;
	}
	assert_true(q + 1 + size <= end);
	memcpy(&v, q + 1, size);
	*p = q + 1 + size;
	return v;
}

/* The NameOp for a 4-character root-level or nested name, or NULL. */
static const uint8_t *aml_find_name(const uint8_t *aml, size_t len, const char *seg)
{
	for (size_t i = 0; i + 5 <= len; i++)
		if (aml[i] == 0x08 && !memcmp(aml + i + 1, seg, 4))
			return aml + i;
	return NULL;
}

static const uint8_t *dsdt_of(const struct acpi_image *img)
{
	uint64_t xsdt_gpa, rsdt_gpa;
	const uint8_t *fadt;

	check_rsdp(img, &xsdt_gpa, &rsdt_gpa);
	fadt = find_table(img, table_at(img, xsdt_gpa, "XSDT"), "FACP", NULL);
	return table_at(img, le64(fadt + 140), "DSDT");
}

static void test_acpi_dsdt_s5(void **state)
{
	static struct acpi_image img;
	const uint8_t *dsdt, *aml, *end, *p, *pkg_start, *pkg_end;
	size_t pkglen;
	uint64_t elem[4];

	(void)state;
	build(&img, 1);
	dsdt = dsdt_of(&img);
	aml = dsdt + 36;
	end = dsdt + le32(dsdt + 4);

	/* \_S5_ must be at the root: the first top-level object of the DSDT. */
	p = aml_find_name(aml, (size_t)(end - aml), "_S5_");
	assert_ptr_equal(p, aml);
	p += 5;
	assert_int_equal(*p++, 0x12); /* PackageOp */
	pkg_start = p;
	pkglen = aml_read_pkglen(&p, end);
	pkg_end = pkg_start + pkglen;
	assert_true(pkg_end <= end);
	assert_int_equal(*p++, 4); /* NumElements */
	for (int i = 0; i < 4; i++)
		elem[i] = aml_read_int(&p, pkg_end);
	assert_ptr_equal(p, pkg_end); /* PkgLength covers exactly the elements */
	assert_int_equal(elem[0], X86_ACPI_S5_TYPE); /* SLP_TYPa, what Linux writes */
	assert_int_equal(elem[1], X86_ACPI_S5_TYPE);
	assert_int_equal(elem[2], 0);
	assert_int_equal(elem[3], 0);
	/* The value the power device acts on: SLP_TYP in bits 4:2 with SLP_EN. */
	assert_int_equal(((elem[0] << 2) & 0x1c) | 0x20, 0x34);
	gmem_destroy(img.gm);
}

/* One Device() in \_SB_: checks _HID and a _CRS of one I/O range and one IRQ. */
static const uint8_t *check_isa_device(const uint8_t *p, const uint8_t *end, const char *name, uint32_t eisa,
				       uint16_t port, uint8_t len, unsigned irq)
{
	const uint8_t *dev_end, *crs_end, *q;
	size_t n;
	int saw_io = 0, saw_irq = 0;

	assert_int_equal(p[0], 0x5b); /* DeviceOp */
	assert_int_equal(p[1], 0x82);
	p += 2;
	q = p;
	n = aml_read_pkglen(&p, end);
	dev_end = q + n;
	assert_true(dev_end <= end);
	assert_memory_equal(p, name, 4);
	p += 4;

	q = aml_find_name(p, (size_t)(dev_end - p), "_HID");
	assert_non_null(q);
	q += 5;
	assert_int_equal(aml_read_int(&q, dev_end), eisa);

	q = aml_find_name(p, (size_t)(dev_end - p), "_CRS");
	assert_non_null(q);
	q += 5;
	assert_int_equal(*q++, 0x11); /* BufferOp */
	{
		const uint8_t *s = q;

		n = aml_read_pkglen(&q, dev_end);
		crs_end = s + n;
	}
	assert_true(crs_end <= dev_end);
	n = aml_read_int(&q, crs_end); /* BufferSize */
	assert_ptr_equal(q + n, crs_end);
	while (q < crs_end) {
		uint8_t tag = q[0];
		size_t dlen = tag & 7;

		assert_false(tag & 0x80); /* small descriptors only */
		assert_true(q + 1 + dlen <= crs_end);
		if (tag == 0x47) {
			assert_int_equal(q[1] & 1, 1); /* 16-bit decode */
			assert_int_equal(le16(q + 2), port);
			assert_int_equal(le16(q + 4), port);
			assert_int_equal(q[7], len);
			saw_io++;
		} else if ((tag & 0xf8) == 0x20) {
			assert_int_equal(le16(q + 1), 1u << irq);
			saw_irq++;
		} else if (tag == 0x79) {
			assert_ptr_equal(q + 2, crs_end);
		} else {
			fail_msg("unexpected resource descriptor 0x%02x", tag);
		}
		q += 1 + dlen;
	}
	assert_int_equal(saw_io, 1);
	assert_int_equal(saw_irq, 1);
	return dev_end;
}

static void test_acpi_dsdt_isa_devices(void **state)
{
	static struct acpi_image img;
	const uint8_t *dsdt, *aml, *end, *p, *scope_end;
	size_t n;

	(void)state;
	build(&img, 1);
	dsdt = dsdt_of(&img);
	aml = dsdt + 36;
	end = dsdt + le32(dsdt + 4);

	/* Skip \_S5_ (its PkgLength is trusted by test_acpi_dsdt_s5), then Scope(\_SB_). */
	p = aml + 5 + 1;
	n = aml_read_pkglen(&(const uint8_t *){ p }, end);
	p += n;
	assert_int_equal(*p, 0x10); /* ScopeOp */
	p++;
	{
		const uint8_t *s = p;

		n = aml_read_pkglen(&p, end);
		scope_end = s + n;
	}
	assert_ptr_equal(scope_end, end); /* the scope closes the table */
	assert_memory_equal(p, "\\_SB_", 5);
	p += 5;
	p = check_isa_device(p, scope_end, "COM1", 0x0105d041 /* PNP0501 */, X86_PORT_COM1, 8, X86_IRQ_COM1);
	p = check_isa_device(p, scope_end, "RTC_", 0x000bd041 /* PNP0B00 */, X86_PORT_RTC, 2, 8);
	assert_ptr_equal(p, scope_end); /* nothing else */
	gmem_destroy(img.gm);
}

static void test_acpi_pkglen_encoding(void **state)
{
	uint8_t b[4];

	(void)state;
	assert_int_equal(x86_acpi_encode_pkglen(b, 0), 1);
	assert_int_equal(b[0], 1);
	assert_int_equal(x86_acpi_encode_pkglen(b, 62), 1);
	assert_int_equal(b[0], 63);
	/* 63 body bytes need two length bytes: 65 = 0x41 -> 0x41 0x04 */
	assert_int_equal(x86_acpi_encode_pkglen(b, 63), 2);
	assert_int_equal(b[0], 0x41);
	assert_int_equal(b[1], 0x04);
	assert_int_equal(x86_acpi_encode_pkglen(b, 0xffd), 2);
	assert_int_equal(b[0], 0x4f);
	assert_int_equal(b[1], 0xff);
	/* 0xffe + 2 would be 0x1000: three bytes, 0x1001 */
	assert_int_equal(x86_acpi_encode_pkglen(b, 0xffe), 3);
	assert_int_equal(b[0], 0x81);
	assert_int_equal(b[1], 0x00);
	assert_int_equal(b[2], 0x01);
	assert_int_equal(x86_acpi_encode_pkglen(b, 0x100000), 4);
	assert_int_equal(b[0] >> 6, 3);
	assert_int_equal(x86_acpi_encode_pkglen(b, 0x10000000), 0);

	/* Round trip through the reader above for every boundary. */
	for (size_t body = 0; body < 0x2000; body += 7) {
		const uint8_t *p = b;
		size_t n = x86_acpi_encode_pkglen(b, body);

		assert_int_equal(aml_read_pkglen(&p, b + n), body + n);
	}
}

static void test_acpi_errors(void **state)
{
	struct gmem *gm = make_ram();
	uint64_t rsdp = 0x1234;

	(void)state;
	assert_int_equal(x86_acpi_build(gm, X86_ACPI_ADDR, X86_ACPI_MAX, 0, false, &rsdp), -EINVAL);
	assert_int_equal(x86_acpi_build(gm, X86_ACPI_ADDR, X86_ACPI_MAX, X86_ACPI_MAX_CPUS + 1, false, &rsdp), -EINVAL);
	assert_int_equal(x86_acpi_build(gm, X86_ACPI_ADDR + 4, X86_ACPI_MAX, 1, false, &rsdp), -EINVAL);
	assert_int_equal(x86_acpi_build(gm, X86_ACPI_ADDR, 128, 1, false, &rsdp), -ENOSPC);
	assert_int_equal(x86_acpi_build(gm, RAM - 64, X86_ACPI_MAX, 1, false, &rsdp), -EFAULT);
	assert_int_equal(x86_acpi_build(gm, X86_ACPI_ADDR, X86_ACPI_MAX, 1, false, NULL), -EINVAL);
	assert_int_equal(rsdp, 0x1234); /* untouched on failure */
	gmem_destroy(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acpi_tables_link_and_checksum),
		cmocka_unit_test(test_acpi_fadt_hw_reduced_power),
		cmocka_unit_test(test_acpi_madt_1_cpu),
		cmocka_unit_test(test_acpi_madt_8_cpus),
		cmocka_unit_test(test_acpi_madt_max_cpus),
		cmocka_unit_test(test_acpi_dsdt_s5),
		cmocka_unit_test(test_acpi_dsdt_isa_devices),
		cmocka_unit_test(test_acpi_pkglen_encoding),
		cmocka_unit_test(test_acpi_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
