/*
 * The guest-ABI engine: every rule on edge values (signed fields too),
 * overrides, undescribed bits, freeze-after-run, the fleet baseline's algebra,
 * JSON documents (malformed and out-of-range input), and the sanity of each
 * architecture's tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/abi.h"
#include "abi/doc.h"

/* A synthetic architecture: one register per rule, a bitmap and a register with a fixed field. */
enum { R_FEAT, R_SIGNED, R_BITMAP, R_FIXED, NR_REGS };

static const struct abi_reg t_regs[NR_REGS] = {
	[R_FEAT] = { "feat", ABI_REG_FEATURE, 64, 0, NULL },
	[R_SIGNED] = { "signed", ABI_REG_FEATURE, 32, 1, NULL },
	[R_BITMAP] = { "svc", ABI_REG_BITMAP, 32, 2, "owner" },
	[R_FIXED] = { "id", ABI_REG_FEATURE, 32, 3, NULL },
};

enum { F_LOWER, F_HIGHER, F_HZ, F_EXACT, F_OVR, F_SLOWER, F_SEXACT, F_SVC0, F_SVC1, F_VENDOR, F_TOPO, F_NODIS };

static const struct abi_field t_fields[] = {
	[F_LOWER] = { R_FEAT, "lower", 0, 4, false, ABI_RULE_LOWER_SAFE, 0, 0, NULL },
	[F_HIGHER] = { R_FEAT, "higher", 4, 4, false, ABI_RULE_HIGHER_SAFE, 0, 0, NULL },
	[F_HZ] = { R_FEAT, "hz", 8, 4, false, ABI_RULE_HIGHER_OR_ZERO_SAFE, 0, 0, NULL },
	[F_EXACT] = { R_FEAT, "exact", 12, 4, false, ABI_RULE_EXACT, 2, 0, NULL },
	[F_OVR] = { R_FEAT, "ovr", 16, 4, false, ABI_RULE_EXACT, 0, 0, NULL },
	/* Bits 20..63 of "feat" are described by nobody. */
	[F_SLOWER] = { R_SIGNED, "slower", 0, 4, true, ABI_RULE_LOWER_SAFE, 0, 0, NULL },
	[F_SEXACT] = { R_SIGNED, "sexact", 4, 4, true, ABI_RULE_EXACT, 0xf, 0, NULL },
	[F_SVC0] = { R_BITMAP, "svc0", 0, 1, false, ABI_RULE_LOWER_SAFE, 0, 0, NULL },
	[F_SVC1] = { R_BITMAP, "svc1", 1, 1, false, ABI_RULE_LOWER_SAFE, 0, 0, NULL },
	[F_VENDOR] = { R_FIXED, "vendor", 0, 8, false, ABI_RULE_EXACT, 0, ABI_F_FIXED, NULL },
	[F_TOPO] = { R_FIXED, "topo", 8, 8, false, ABI_RULE_EXACT, 0, ABI_F_VMM, NULL },
	[F_NODIS] = { R_FIXED, "nodis", 16, 1, false, ABI_RULE_EXACT, 0, ABI_F_NO_DISABLE, NULL },
};

static const struct abi_override t_overrides[] = {
	{ "feat", "ovr", ABI_RULE_LOWER_SAFE, 0 },
};

static const struct abi_arch t_arch = {
	.name = "test",
	.regs = t_regs,
	.nregs = NR_REGS,
	.fields = t_fields,
	.nfields = sizeof(t_fields) / sizeof(t_fields[0]),
	.overrides = t_overrides,
	.noverrides = 1,
};

static void limit_init(struct abi_manifest *m, uint64_t feat, uint64_t sgn, uint64_t svc, uint64_t id)
{
	abi_manifest_init(m, &t_arch);
	m->val[R_FEAT] = feat;
	m->val[R_SIGNED] = sgn;
	m->val[R_BITMAP] = svc;
	m->val[R_FIXED] = id;
	for (int i = 0; i < NR_REGS; i++)
		m->present[i] = true;
}

static uint64_t put(int field, uint64_t reg, uint64_t v)
{
	return abi_field_put(&t_fields[field], reg, v);
}

static int check_field(int field, uint64_t req, uint64_t lim)
{
	struct abi_manifest limit, m;
	struct abi_report rep = { 0 };
	unsigned reg = t_fields[field].reg;

	limit_init(&limit, 0, 0, 0, 0);
	limit.val[reg] = put(field, 0, lim);
	m = limit;
	m.val[reg] = put(field, 0, req);
	return abi_check(&m, &limit, &rep);
}

static void test_rule_lower_safe(void **state)
{
	(void)state;
	assert_int_equal(check_field(F_LOWER, 3, 3), 0);
	assert_int_equal(check_field(F_LOWER, 0, 3), 0);
	assert_int_equal(check_field(F_LOWER, 4, 3), -E2BIG);
	assert_int_equal(check_field(F_LOWER, 15, 0), -E2BIG);
	assert_int_equal(check_field(F_LOWER, 0, 15), 0);
}

static void test_rule_higher_safe(void **state)
{
	(void)state;
	assert_int_equal(check_field(F_HIGHER, 5, 3), 0);
	assert_int_equal(check_field(F_HIGHER, 3, 3), 0);
	assert_int_equal(check_field(F_HIGHER, 2, 3), -E2BIG);
	assert_int_equal(check_field(F_HIGHER, 0, 1), -E2BIG);
	assert_int_equal(check_field(F_HIGHER, 15, 0), 0);
}

static void test_rule_higher_or_zero_safe(void **state)
{
	(void)state;
	assert_int_equal(check_field(F_HZ, 0, 5), 0);  /* zero always */
	assert_int_equal(check_field(F_HZ, 6, 5), 0);  /* higher */
	assert_int_equal(check_field(F_HZ, 5, 5), 0);  /* equal */
	assert_int_equal(check_field(F_HZ, 4, 5), -E2BIG);
	assert_int_equal(check_field(F_HZ, 1, 0), -E2BIG); /* a zero limit admits only zero */
}

static void test_rule_exact_and_safe_value(void **state)
{
	(void)state;
	assert_int_equal(check_field(F_EXACT, 7, 7), 0);
	assert_int_equal(check_field(F_EXACT, 2, 7), 0); /* the field's safe value */
	assert_int_equal(check_field(F_EXACT, 6, 7), -E2BIG);
	assert_int_equal(check_field(F_EXACT, 8, 7), -E2BIG);
}

static void test_signed_fields(void **state)
{
	(void)state;
	/* Signed 4-bit: 0xF is -1, "not implemented", below 0. */
	assert_int_equal(check_field(F_SLOWER, 0xf, 0), 0);
	assert_int_equal(check_field(F_SLOWER, 0, 0xf), -E2BIG);
	assert_int_equal(check_field(F_SLOWER, 1, 0), -E2BIG);
	assert_int_equal(check_field(F_SLOWER, 0x8, 0x7), 0);	  /* -8 <= 7 */
	assert_int_equal(check_field(F_SLOWER, 0x7, 0x8), -E2BIG); /* 7 > -8 */
	assert_int_equal(check_field(F_SEXACT, 0xf, 3), 0);	  /* safe value -1 */
	assert_int_equal(check_field(F_SEXACT, 0xe, 3), -E2BIG);
	assert_true(abi_field_get(&t_fields[F_SLOWER], 0xf) == -1);
	assert_true(abi_field_get(&t_fields[F_SLOWER], 0x7) == 7);
	assert_true(abi_rule_allows(ABI_RULE_LOWER_SAFE, true, 4, 0xf, 0x0, 0));
	assert_false(abi_rule_allows(ABI_RULE_LOWER_SAFE, false, 4, 0xf, 0x0, 0));
}

static void test_override_wins(void **state)
{
	uint64_t safe = 99;

	(void)state;
	/* "ovr" is EXACT in the generic table but LOWER_SAFE by override. */
	assert_int_equal(abi_field_rule(&t_arch, F_OVR, &safe), ABI_RULE_LOWER_SAFE);
	assert_int_equal(safe, 0);
	assert_int_equal(check_field(F_OVR, 1, 3), 0);
	assert_int_equal(check_field(F_OVR, 4, 3), -E2BIG);
	assert_int_equal(abi_field_rule(&t_arch, F_EXACT, NULL), ABI_RULE_EXACT);
}

static void test_fixed_no_disable_vmm(void **state)
{
	struct abi_manifest limit, m;
	struct abi_report rep = { 0 };
	char line[256];

	(void)state;
	limit_init(&limit, 0, 0, 0, 0x1aa55); /* nodis=1 topo=0xaa vendor=0x55 */
	m = limit;
	m.val[R_FIXED] = 0x1ff55; /* topo differs: VMM-owned, not checked */
	assert_int_equal(abi_check(&m, &limit, &rep), 0);
	m.val[R_FIXED] = 0x1aa54; /* vendor lower: fixed */
	assert_int_equal(abi_check(&m, &limit, &rep), -E2BIG);
	abi_violation_format(&t_arch, &rep.v[0], line, sizeof(line));
	assert_non_null(strstr(line, "fixed"));
	memset(&rep, 0, sizeof(rep));
	m.val[R_FIXED] = 0x0aa55; /* hide a feature that cannot be hidden */
	assert_int_equal(abi_check(&m, &limit, &rep), -E2BIG);
	abi_violation_format(&t_arch, &rep.v[0], line, sizeof(line));
	assert_non_null(strstr(line, "cannot be hidden"));
}

/*
 * A host limit with writable masks (arm64 KVM_ARM_GET_REG_WRITABLE_MASKS): a field outside the mask
 * must equal the host, whatever the tables say, and the violation says why; a field the tables
 * mark fixed is free under its rule when the mask includes it; without masks the tables decide.
 */
static void test_host_writable_mask(void **state)
{
	struct abi_manifest limit, m;
	struct abi_report rep = { 0 };
	char line[256];

	(void)state;
	limit_init(&limit, put(F_LOWER, put(F_HIGHER, 0, 2), 3), 0, 0x3, 0x55);
	m = limit;
	m.val[R_FEAT] = put(F_LOWER, m.val[R_FEAT], 1);
	assert_int_equal(abi_check(&m, &limit, &rep), 0); /* no mask: the rule allows lowering */
	limit.writable_known[R_FEAT] = true;
	limit.writable[R_FEAT] = abi_field_mask(&t_fields[F_HIGHER]);
	assert_int_equal(abi_check(&m, &limit, &rep), -E2BIG);
	assert_int_equal(rep.count, 1);
	assert_int_equal(rep.v[0].field, F_LOWER);
	assert_true(rep.v[0].flags & ABI_F_HOST_FIXED);
	abi_violation_format(&t_arch, &rep.v[0], line, sizeof(line));
	assert_string_equal(line, "feat lower: requested 1, host 3 (fixed: not in the host's writable mask)");
	/* Refused before anything is written, as KVM would refuse it. */
	assert_int_equal(abi_set_reg(&m, &limit, R_FEAT, m.val[R_FEAT], NULL), -E2BIG);
	/* Partly writable is not writable. */
	limit.writable[R_FEAT] = abi_field_mask(&t_fields[F_LOWER]) & ~1ull;
	assert_int_equal(abi_check(&m, &limit, NULL), -E2BIG);
	/* In the mask: the field's rule applies again (above the limit is still refused). */
	limit.writable[R_FEAT] = abi_field_mask(&t_fields[F_LOWER]);
	assert_int_equal(abi_check(&m, &limit, NULL), 0);
	m.val[R_FEAT] = put(F_LOWER, m.val[R_FEAT], 4);
	assert_int_equal(abi_check(&m, &limit, NULL), -E2BIG);
	/* Statically fixed, but the host's mask lets it change: the rule (EXACT, safe 0) decides. */
	m = limit;
	m.val[R_FIXED] = 0;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(abi_check(&m, &limit, &rep), -E2BIG); /* no mask for R_FIXED: vendor is fixed */
	assert_int_equal(rep.v[0].field, F_VENDOR);
	limit.writable_known[R_FIXED] = true;
	limit.writable[R_FIXED] = 0xff;
	assert_int_equal(abi_check(&m, &limit, NULL), 0);
	m.val[R_FIXED] = 0x01;
	assert_int_equal(abi_check(&m, &limit, NULL), -E2BIG); /* EXACT: 1 is neither host nor safe */
	assert_false(abi_field_flags(&t_arch, F_VENDOR, &limit) & ABI_F_FIXED);
	assert_true(abi_field_flags(&t_arch, F_VENDOR, NULL) & ABI_F_FIXED);
	assert_true(abi_field_flags(&t_arch, F_NODIS, &limit) & ABI_F_HOST_FIXED);
}

/* The fleet baseline: a field fixed on any host (by its mask) has no common value when hosts differ. */
static void test_baseline_host_fixed(void **state)
{
	struct abi_manifest h[2], out;
	const struct abi_manifest *p[2] = { &h[0], &h[1] };
	struct abi_report rep = { 0 };

	(void)state;
	limit_init(&h[0], put(F_LOWER, 0, 3), 0, 0x1, 0x55);
	limit_init(&h[1], put(F_LOWER, 0, 2), 0, 0x1, 0x55);
	assert_int_equal(abi_baseline(p, 2, &out, &rep), 0);
	assert_int_equal(abi_field_get(&t_fields[F_LOWER], out.val[R_FEAT]), 2);
	h[1].writable_known[R_FEAT] = true;
	h[1].writable[R_FEAT] = 0;
	assert_int_equal(abi_baseline(p, 2, &out, &rep), -EINVAL);
	assert_int_equal(rep.v[0].field, F_LOWER);
}

static void test_every_violation_reported(void **state)
{
	struct abi_manifest limit, m;
	struct abi_report rep = { 0 };
	char line[256];

	(void)state;
	limit_init(&limit, put(F_LOWER, 0, 2), 0, 0x1, 0);
	m = limit;
	m.val[R_FEAT] = put(F_LOWER, put(F_HZ, 0, 3), 5); /* two fields out of bounds */
	m.val[R_BITMAP] = 0x2;				   /* svc1 not offered */
	assert_int_equal(abi_check(&m, &limit, &rep), -E2BIG);
	assert_int_equal(rep.count, 3);
	assert_int_equal(rep.v[0].field, F_LOWER);
	assert_int_equal(rep.v[0].value, 5);
	assert_int_equal(rep.v[0].limit, 2);
	abi_violation_format(&t_arch, &rep.v[0], line, sizeof(line));
	assert_string_equal(line, "feat lower: requested 5, host limit 2 (LOWER_SAFE)");
	assert_int_equal(rep.v[1].field, F_HZ);
	assert_int_equal(rep.v[2].field, F_SVC1);
}

static void test_undescribed_bits_einval(void **state)
{
	struct abi_manifest limit, m;
	struct abi_report rep = { 0 };

	(void)state;
	limit_init(&limit, 1ull << 40, 0, 0x1, 0);
	m = limit;
	m.val[R_FEAT] = 0; /* clears a bit nobody describes */
	assert_int_equal(abi_check(&m, &limit, &rep), -EINVAL);
	assert_int_equal(rep.v[0].field, -1);
	m = limit;
	m.val[R_BITMAP] |= 1u << 7; /* unknown service bit */
	assert_int_equal(abi_check(&m, &limit, NULL), -EINVAL);
	m = limit;
	m.val[R_SIGNED] = 1ull << 33; /* beyond a 32-bit register */
	assert_int_equal(abi_check(&m, &limit, NULL), -EINVAL);
}

static void test_freeze_after_run(void **state)
{
	struct abi_manifest limit, m;

	(void)state;
	limit_init(&limit, put(F_LOWER, 0, 3), 0, 0x3, 0);
	m = limit;
	assert_int_equal(abi_set_reg(&m, &limit, R_BITMAP, 0x1, NULL), 0); /* hide svc1 before run */
	assert_int_equal(abi_set_reg(&m, &limit, R_BITMAP, 0x4, NULL), -EINVAL);
	assert_int_equal(abi_set_reg(&m, &limit, R_FEAT, put(F_LOWER, 0, 4), NULL), -E2BIG);
	assert_int_equal(m.val[R_BITMAP], 0x1); /* failed writes changed nothing */
	m.frozen = true;
	assert_int_equal(abi_set_reg(&m, &limit, R_BITMAP, 0x1, NULL), 0); /* same value */
	assert_int_equal(abi_set_reg(&m, &limit, R_BITMAP, 0x3, NULL), -EBUSY);
	assert_int_equal(abi_set_reg(&m, &limit, R_BITMAP, 0x0, NULL), -EBUSY);
	assert_int_equal(m.val[R_BITMAP], 0x1);
	/* VMM-owned bits may differ after run: bothy sets them per vCPU. */
	assert_int_equal(abi_set_reg(&m, &limit, R_FIXED, m.val[R_FIXED] | 0x3300, NULL), 0);
	assert_int_equal(abi_set_reg(&m, &limit, NR_REGS, 0, NULL), -ENOENT);
}

/* Three synthetic fingerprints for the baseline. */
static void three_hosts(struct abi_manifest h[3])
{
	limit_init(&h[0], put(F_LOWER, put(F_HIGHER, put(F_HZ, put(F_EXACT, 0, 7), 3), 2), 5), 0x0f, 0x3, 0x55);
	limit_init(&h[1], put(F_LOWER, put(F_HIGHER, put(F_HZ, put(F_EXACT, 0, 7), 4), 6), 3), 0x01, 0x1, 0x55);
	limit_init(&h[2], put(F_LOWER, put(F_HIGHER, put(F_HZ, put(F_EXACT, 0, 5), 0), 1), 4), 0x03, 0x3, 0x2255);
}

static void test_baseline_runs_everywhere(void **state)
{
	struct abi_manifest h[3], out;
	const struct abi_manifest *p[3] = { &h[0], &h[1], &h[2] };
	struct abi_report rep = { 0 };

	(void)state;
	three_hosts(h);
	assert_int_equal(abi_baseline(p, 3, &out, &rep), 0);
	assert_int_equal(abi_field_get(&t_fields[F_LOWER], out.val[R_FEAT]), 3);
	assert_int_equal(abi_field_get(&t_fields[F_HIGHER], out.val[R_FEAT]), 6);
	assert_int_equal(abi_field_get(&t_fields[F_HZ], out.val[R_FEAT]), 0); /* one host has 0 */
	assert_int_equal(abi_field_get(&t_fields[F_EXACT], out.val[R_FEAT]), 2); /* differ: safe value */
	assert_int_equal(abi_field_get(&t_fields[F_SLOWER], out.val[R_SIGNED]), -1); /* 0xf signed min */
	assert_int_equal(out.val[R_BITMAP], 0x1);
	/* Never above any input: the baseline runs on every host. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(abi_check(&out, &h[i], NULL), 0);
}

static void test_baseline_commutative_idempotent(void **state)
{
	struct abi_manifest h[3], a, b, c;
	const struct abi_manifest *p1[3] = { &h[0], &h[1], &h[2] };
	const struct abi_manifest *p2[3] = { &h[2], &h[0], &h[1] };
	const struct abi_manifest *pa[2] = { &a, &a };

	(void)state;
	three_hosts(h);
	assert_int_equal(abi_baseline(p1, 3, &a, NULL), 0);
	assert_int_equal(abi_baseline(p2, 3, &b, NULL), 0);
	assert_memory_equal(a.val, b.val, sizeof(a.val));
	assert_int_equal(abi_baseline(pa, 2, &c, NULL), 0);
	assert_memory_equal(a.val, c.val, sizeof(a.val));
	/* Baseline of a baseline and a host is the baseline. */
	const struct abi_manifest *pb[2] = { &a, &h[1] };
	assert_int_equal(abi_baseline(pb, 2, &c, NULL), 0);
	assert_memory_equal(a.val, c.val, sizeof(a.val));
}

static void test_baseline_conflict(void **state)
{
	struct abi_manifest h[2], out;
	const struct abi_manifest *p[2] = { &h[0], &h[1] };
	struct abi_report rep = { 0 };

	(void)state;
	limit_init(&h[0], 0, 0, 0, 0x55);
	limit_init(&h[1], 0, 0, 0, 0x56); /* fixed vendor differs */
	assert_int_equal(abi_baseline(p, 2, &out, &rep), -EINVAL);
	assert_int_equal(rep.count, 1);
	assert_int_equal(rep.v[0].field, F_VENDOR);
	h[1].present[R_FIXED] = false; /* absent on one host: absent in the baseline */
	h[1].val[R_FIXED] = 0;
	assert_int_equal(abi_baseline(p, 2, &out, NULL), 0);
	assert_false(out.present[R_FIXED]);
}

/* --- documents ------------------------------------------------------------- */

static struct abi_doc doc;

static int parse(const char *text, char *err)
{
	return abi_doc_parse(text, &doc, err, 256);
}

static void test_doc_template(void **state)
{
	char err[256] = "";
	struct abi_manifest limit, out;
	const struct abi_arch *x86 = abi_arch_by_name("x86_64");
	int l7 = abi_find_reg(x86, "cpuid.0x7.0.ebx");
	int avx2 = abi_find_field(x86, "avx2");
	int pv = abi_find_field(x86, "kvm_pv_eoi");

	(void)state;
	assert_true(l7 >= 0 && avx2 >= 0 && pv >= 0);
	assert_int_equal(parse("{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
			       "\"registers\":{\"cpuid.0x7.0.ebx\":\"xxxx_xxxx_xxxx_xxxx_xxxx_xxxx_xxxx_1xx0\"},"
			       "\"features\":{\"avx2\":false,\"kvm_pv_eoi\":false}}",
			       err),
			 0);
	assert_int_equal(doc.kind, ABI_DOC_TEMPLATE);
	abi_manifest_init(&limit, x86);
	limit.val[l7] = 0xffffffff;
	limit.present[l7] = true;
	limit.val[x86->fields[pv].reg] = 0x7f;
	limit.present[x86->fields[pv].reg] = true;
	abi_doc_apply(&doc, &limit, &out);
	assert_int_equal(out.val[l7] & 1, 0);	  /* mask '0' */
	assert_int_equal((out.val[l7] >> 3) & 1, 1); /* mask '1' */
	assert_int_equal(abi_field_get(&x86->fields[avx2], out.val[l7]), 0);
	assert_int_equal(abi_field_get(&x86->fields[pv], out.val[x86->fields[pv].reg]), 0);
	assert_int_equal(out.val[x86->fields[pv].reg], 0x3f);
}

static void test_doc_malformed(void **state)
{
	static const struct {
		const char *text, *expect;
	} bad[] = {
		{ "{", "line 1" },
		{ "[]", "object" },
		{ "{\"format\":\"bothy-abi/2\",\"kind\":\"template\",\"arch\":\"x86_64\"}", "format" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"recipe\",\"arch\":\"x86_64\"}", "kind" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"sparc\"}", "arch" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\",\"extra\":1}", "extra" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"features\":{\"warp_drive\":true}}",
		  "warp_drive" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"features\":{\"avx2\":2}}",
		  "outside" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"features\":{\"max_basic_leaf\":-1}}",
		  "outside" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"features\":{\"avx2\":\"no\"}}",
		  "true or false" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"registers\":{\"cpuid.0x7.0.ebx\":\"xx1\"}}",
		  "mask" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"template\",\"arch\":\"x86_64\","
		  "\"registers\":{\"cpuid.0x7.0.ebx\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2\"}}",
		  "mask" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\","
		  "\"registers\":{\"cpuid.0x7.0.ebx\":\"0x100000000\"}}",
		  "32-bit" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\","
		  "\"registers\":{\"cpuid.0x7.0.ebx\":\"-1\"}}",
		  "32-bit" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\","
		  "\"registers\":{\"cpuid.0x99.0.eax\":\"0x1\"}}",
		  "unknown" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\","
		  "\"features\":{\"avx2\":false}}",
		  "unexpected" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\",\"arch\":\"x86_64\"}",
		  "duplicate" },
		{ "{\"format\":\"bothy-abi/1\",\"kind\":\"fingerprint\",\"arch\":\"x86_64\",\"host\":{\"x\":\"y\"}}",
		  "unknown key" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].text, err), -EINVAL);
		if (!strstr(err, bad[i].expect))
			fail_msg("case %zu: error \"%s\" does not mention \"%s\"", i, err, bad[i].expect);
	}
}

static void test_doc_roundtrip(void **state)
{
	const struct abi_arch *x86 = abi_arch_by_name("x86_64");
	struct abi_host_info host = { "h1", "Linux 6.12", "Some CPU", "test" };
	struct abi_manifest m;
	char err[256];
	char *text;

	(void)state;
	abi_manifest_init(&m, x86);
	for (size_t i = 0; i < x86->nregs; i += 3) {
		m.val[i] = (0x9e3779b97f4a7c15ull * (i + 1)) & (x86->regs[i].width == 64 ? ~0ull : 0xffffffffull);
		m.present[i] = true;
	}
	text = abi_doc_write(&m, &host);
	assert_non_null(text);
	assert_int_equal(parse(text, err), 0);
	free(text);
	assert_int_equal(doc.kind, ABI_DOC_FINGERPRINT);
	assert_string_equal(doc.host.hostname, "h1");
	assert_memory_equal(doc.m.val, m.val, sizeof(m.val));
	assert_memory_equal(doc.m.present, m.present, sizeof(m.present));
	/* A fingerprint carries its host's writable masks; a manifest does not. */
	m.writable_known[2] = true;
	m.writable[2] = 0xf0;
	m.writable_known[4] = true;
	text = abi_doc_write(&m, &host);
	assert_non_null(text);
	assert_int_equal(parse(text, err), 0);
	free(text);
	assert_memory_equal(doc.m.writable_known, m.writable_known, sizeof(m.writable_known));
	assert_int_equal(doc.m.writable[2], 0xf0);
	assert_int_equal(doc.m.writable[4], 0);
	text = abi_doc_write(&m, NULL);
	assert_non_null(text);
	assert_null(strstr(text, "writable"));
	free(text);
	assert_int_equal(parse("{\"format\":\"bothy-abi/1\",\"kind\":\"manifest\",\"arch\":\"x86_64\","
			       "\"writable\":{}}", err), -EINVAL);
	assert_int_equal(parse("{\"format\":\"bothy-abi/1\",\"kind\":\"fingerprint\",\"arch\":\"x86_64\","
			       "\"writable\":{\"nope\":\"0x1\"}}", err), -EINVAL);
	assert_non_null(strstr(err, "nope"));
}

/* --- the architectures' tables ------------------------------------------- */

static void check_tables(const struct abi_arch *arch)
{
	assert_true(arch->nregs <= ABI_MAX_REGS);
	for (size_t i = 0; i < arch->nfields; i++) {
		const struct abi_field *f = &arch->fields[i];

		if (f->reg >= arch->nregs || !f->width || f->shift + f->width > arch->regs[f->reg].width)
			fail_msg("%s: field %s does not fit its register", arch->name, f->name);
		if ((f->flags & ABI_F_NO_DISABLE) && f->rule != ABI_RULE_EXACT)
			fail_msg("%s: %s cannot be disabled but is not EXACT", arch->name, f->name);
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(f->name, arch->fields[j].name))
				fail_msg("%s: field name %s twice", arch->name, f->name);
			if (arch->fields[j].reg == f->reg &&
			    (abi_field_mask(&arch->fields[j]) & abi_field_mask(f)))
				fail_msg("%s: fields %s and %s overlap", arch->name, arch->fields[j].name, f->name);
		}
		assert_int_equal(abi_find_field(arch, f->name), (int)i);
	}
	for (size_t i = 0; i < arch->nregs; i++) {
		assert_int_equal(abi_find_reg(arch, arch->regs[i].name), (int)i);
		if (arch->regs[i].kind == ABI_REG_BITMAP)
			assert_non_null(arch->regs[i].owner);
	}
	for (size_t i = 0; i < arch->noverrides; i++) {
		char name[128];

		snprintf(name, sizeof(name), "%s.%s", arch->overrides[i].reg, arch->overrides[i].field);
		if (abi_find_field(arch, name) < 0)
			fail_msg("%s: override %s names no field", arch->name, name);
	}
}

static void test_tables(void **state)
{
	(void)state;
	check_tables(abi_arch_by_name("x86_64"));
	check_tables(abi_arch_by_name("aarch64"));
	check_tables(abi_arch_by_name("riscv64"));
	assert_null(abi_arch_by_name("sparc"));
	/* Spot checks against the architecture manuals. */
	const struct abi_arch *x86 = abi_arch_by_name("x86_64");
	const struct abi_field *f = &x86->fields[abi_find_field(x86, "avx512f")];
	assert_string_equal(x86->regs[f->reg].name, "cpuid.0x7.0.ebx");
	assert_int_equal(f->shift, 16);
	f = &x86->fields[abi_find_field(x86, "kvm_pv_unhalt")];
	assert_string_equal(x86->regs[f->reg].owner, "kvm");
	assert_int_equal(f->shift, 7);
	const struct abi_arch *rv = abi_arch_by_name("riscv64");
	f = &rv->fields[abi_find_field(rv, "smnpm")];
	assert_string_equal(f->host_name, "ssnpm");
	assert_true(rv->fields[abi_find_field(rv, "i")].flags & ABI_F_NO_DISABLE);
	const struct abi_arch *a64 = abi_arch_by_name("aarch64");
	assert_true(abi_find_field(a64, "trng") >= 0);
	assert_true(abi_find_field(a64, "id_aa64pfr0_el1.fp") >= 0);
	f = &a64->fields[abi_find_field(a64, "id_aa64pfr0_el1.fp")];
	assert_true(f->is_signed);
	assert_int_equal(f->shift, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_lower_safe),
		cmocka_unit_test(test_rule_higher_safe),
		cmocka_unit_test(test_rule_higher_or_zero_safe),
		cmocka_unit_test(test_rule_exact_and_safe_value),
		cmocka_unit_test(test_signed_fields),
		cmocka_unit_test(test_override_wins),
		cmocka_unit_test(test_fixed_no_disable_vmm),
		cmocka_unit_test(test_host_writable_mask),
		cmocka_unit_test(test_baseline_host_fixed),
		cmocka_unit_test(test_every_violation_reported),
		cmocka_unit_test(test_undescribed_bits_einval),
		cmocka_unit_test(test_freeze_after_run),
		cmocka_unit_test(test_baseline_runs_everywhere),
		cmocka_unit_test(test_baseline_commutative_idempotent),
		cmocka_unit_test(test_baseline_conflict),
		cmocka_unit_test(test_doc_template),
		cmocka_unit_test(test_doc_malformed),
		cmocka_unit_test(test_doc_roundtrip),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
