/*
 * The guest-ABI engine: field rules, manifest validation, KVM-style writes
 * that freeze after first run, and the fleet baseline. Table-driven; the
 * architectures' tables are in src/abi/<arch>.def.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "abi/abi.h"

static const struct abi_arch *const abi_arches[] = { &abi_arch_x86_64, &abi_arch_aarch64, &abi_arch_riscv64 };

const struct abi_arch *abi_arch_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(abi_arches) / sizeof(abi_arches[0]); i++)
		if (!strcmp(abi_arches[i]->name, name))
			return abi_arches[i];
	return NULL;
}

const char *abi_rule_name(enum abi_rule rule)
{
	static const char *const names[ABI_RULE_COUNT] = {
		[ABI_RULE_EXACT] = "EXACT",
		[ABI_RULE_LOWER_SAFE] = "LOWER_SAFE",
		[ABI_RULE_HIGHER_SAFE] = "HIGHER_SAFE",
		[ABI_RULE_HIGHER_OR_ZERO_SAFE] = "HIGHER_OR_ZERO_SAFE",
	};
	return (unsigned)rule < ABI_RULE_COUNT ? names[rule] : "?";
}

void abi_manifest_init(struct abi_manifest *m, const struct abi_arch *arch)
{
	memset(m, 0, sizeof(*m));
	m->arch = arch;
}

uint64_t abi_field_mask(const struct abi_field *f)
{
	uint64_t ones = f->width >= 64 ? ~0ull : (1ull << f->width) - 1;
	return ones << f->shift;
}

/* A raw field value as a comparable number: sign-extended when the field is signed. */
static int64_t field_number(bool is_signed, uint8_t width, uint64_t raw)
{
	if (width < 64) {
		raw &= (1ull << width) - 1;
		if (is_signed && (raw >> (width - 1)) & 1)
			raw |= ~0ull << width;
	}
	return (int64_t)raw;
}

int64_t abi_field_get(const struct abi_field *f, uint64_t reg)
{
	return field_number(f->is_signed, f->width, (reg & abi_field_mask(f)) >> f->shift);
}

uint64_t abi_field_put(const struct abi_field *f, uint64_t reg, uint64_t value)
{
	uint64_t mask = abi_field_mask(f);

	return (reg & ~mask) | ((value << f->shift) & mask);
}

/* Compare two raw field values under the field's signedness. */
static int field_cmp(bool is_signed, uint8_t width, uint64_t a, uint64_t b)
{
	if (is_signed) {
		int64_t sa = field_number(true, width, a), sb = field_number(true, width, b);
		return (sa > sb) - (sa < sb);
	}
	a = (uint64_t)field_number(false, width, a);
	b = (uint64_t)field_number(false, width, b);
	return (a > b) - (a < b);
}

bool abi_rule_allows(enum abi_rule rule, bool is_signed, uint8_t width, uint64_t req, uint64_t limit,
		     uint64_t safe)
{
	int cmp = field_cmp(is_signed, width, req, limit);

	if (cmp == 0)
		return true;
	switch (rule) {
	case ABI_RULE_EXACT:
		return field_cmp(is_signed, width, req, safe) == 0;
	case ABI_RULE_LOWER_SAFE:
		return cmp < 0;
	case ABI_RULE_HIGHER_SAFE:
		return cmp > 0;
	case ABI_RULE_HIGHER_OR_ZERO_SAFE:
		/* Zero always; otherwise at least the limit, and a zero limit admits only zero. */
		if (field_number(is_signed, width, req) == 0)
			return true;
		return field_number(is_signed, width, limit) != 0 && cmp > 0;
	default:
		return false;
	}
}

enum abi_rule abi_field_rule(const struct abi_arch *arch, size_t field, uint64_t *safe)
{
	const struct abi_field *f = &arch->fields[field];
	const char *reg = arch->regs[f->reg].name;

	for (size_t i = 0; i < arch->noverrides; i++) {
		const struct abi_override *o = &arch->overrides[i];

		if (!strcmp(o->reg, reg) && !strcmp(o->field, f->name)) {
			if (safe)
				*safe = o->safe;
			return o->rule;
		}
	}
	if (safe)
		*safe = f->safe;
	return f->rule;
}

static uint64_t reg_width_mask(const struct abi_reg *r)
{
	return r->width >= 64 ? ~0ull : (1ull << r->width) - 1;
}

/* Bits of a register that some field describes. */
static uint64_t described_bits(const struct abi_arch *arch, unsigned reg)
{
	uint64_t mask = 0;

	for (size_t i = 0; i < arch->nfields; i++)
		if (arch->fields[i].reg == reg)
			mask |= abi_field_mask(&arch->fields[i]);
	return mask;
}

/* Bits of a register that the manifest governs: all but the VMM-owned fields. */
static uint64_t governed_bits(const struct abi_arch *arch, unsigned reg)
{
	uint64_t mask = reg_width_mask(&arch->regs[reg]);

	for (size_t i = 0; i < arch->nfields; i++)
		if (arch->fields[i].reg == reg && (arch->fields[i].flags & ABI_F_VMM))
			mask &= ~abi_field_mask(&arch->fields[i]);
	return mask;
}

static void report_add(struct abi_report *rep, const struct abi_violation *v)
{
	if (!rep)
		return;
	if (rep->count < ABI_MAX_VIOLATIONS)
		rep->v[rep->count] = *v;
	rep->count++;
}

uint32_t abi_field_flags(const struct abi_arch *arch, size_t field, const struct abi_manifest *limit)
{
	const struct abi_field *f = &arch->fields[field];
	uint64_t mask = abi_field_mask(f);
	uint32_t flags = f->flags;

	if (!limit || !limit->writable_known[f->reg])
		return flags;
	/* The host's word is newer than the tables: a field only partly writable counts as fixed. */
	flags &= ~ABI_F_FIXED;
	if ((limit->writable[f->reg] & mask) != mask)
		flags |= ABI_F_FIXED | ABI_F_HOST_FIXED;
	return flags;
}

/* Is a field's requested value acceptable against the limit? */
static bool field_allows(const struct abi_arch *arch, size_t fi, uint32_t flags, uint64_t req, uint64_t limit)
{
	const struct abi_field *f = &arch->fields[fi];
	uint64_t safe;
	enum abi_rule rule = abi_field_rule(arch, fi, &safe);

	if (flags & ABI_F_VMM)
		return true;
	if (flags & (ABI_F_FIXED | ABI_F_NO_DISABLE))
		return field_cmp(f->is_signed, f->width, req, limit) == 0;
	return abi_rule_allows(rule, f->is_signed, f->width, req, limit, safe);
}

int abi_check_reg(const struct abi_arch *arch, unsigned reg, uint64_t value, bool present,
		  const struct abi_manifest *limit, struct abi_report *rep)
{
	const struct abi_reg *r = &arch->regs[reg];
	uint64_t lim = limit->present[reg] ? limit->val[reg] : 0;
	uint64_t undescribed = reg_width_mask(r) & ~described_bits(arch, reg);
	int ret = 0;

	if (!present)
		value = 0;
	if ((value & ~reg_width_mask(r)) || ((value ^ lim) & undescribed)) {
		struct abi_violation v = {
			.reg = (uint16_t)reg,
			.field = -1,
			.value = value & (undescribed | ~reg_width_mask(r)),
			.limit = lim & undescribed,
		};
		report_add(rep, &v);
		ret = -EINVAL;
	}
	for (size_t i = 0; i < arch->nfields; i++) {
		const struct abi_field *f = &arch->fields[i];
		uint64_t req_f = (value & abi_field_mask(f)) >> f->shift;
		uint64_t lim_f = (lim & abi_field_mask(f)) >> f->shift;
		uint32_t flags;

		if (f->reg != reg)
			continue;
		flags = abi_field_flags(arch, i, limit);
		if (field_allows(arch, i, flags, req_f, lim_f))
			continue;
		struct abi_violation v = {
			.reg = (uint16_t)reg,
			.field = (int16_t)i,
			.value = req_f,
			.limit = lim_f,
			.rule = abi_field_rule(arch, i, NULL),
			.flags = flags,
		};
		report_add(rep, &v);
		if (!ret)
			ret = -E2BIG;
	}
	return ret;
}

int abi_check(const struct abi_manifest *m, const struct abi_manifest *limit, struct abi_report *rep)
{
	int ret = 0;

	if (m->arch != limit->arch)
		return -EXDEV;
	for (unsigned reg = 0; reg < m->arch->nregs; reg++) {
		int r = abi_check_reg(m->arch, reg, m->val[reg], m->present[reg], limit, rep);

		/* EINVAL (malformed) outranks E2BIG (asks too much). */
		if (r && (!ret || r == -EINVAL))
			ret = r;
	}
	return ret;
}

int abi_set_reg(struct abi_manifest *m, const struct abi_manifest *limit, unsigned reg, uint64_t value,
		struct abi_report *rep)
{
	int ret;

	if (reg >= m->arch->nregs)
		return -ENOENT;
	if (m->frozen) {
		uint64_t governed = governed_bits(m->arch, reg);
		return ((value ^ m->val[reg]) & governed) ? -EBUSY : 0;
	}
	ret = abi_check_reg(m->arch, reg, value, true, limit, rep);
	if (ret)
		return ret;
	m->val[reg] = value;
	m->present[reg] = true;
	return 0;
}

/* The most capable value of one field that every limit admits. */
static bool baseline_field(const struct abi_arch *arch, size_t fi, const struct abi_manifest *const *limits,
			   size_t n, uint64_t *out)
{
	const struct abi_field *f = &arch->fields[fi];
	uint64_t safe, best = (limits[0]->val[f->reg] & abi_field_mask(f)) >> f->shift;
	enum abi_rule rule = abi_field_rule(arch, fi, &safe);
	bool all_equal = true, any_zero = field_number(f->is_signed, f->width, best) == 0;
	uint32_t flags = abi_field_flags(arch, fi, limits[0]);

	for (size_t i = 1; i < n; i++) {
		uint64_t v = (limits[i]->val[f->reg] & abi_field_mask(f)) >> f->shift;
		int cmp = field_cmp(f->is_signed, f->width, v, best);

		if (cmp)
			all_equal = false;
		if (field_number(f->is_signed, f->width, v) == 0)
			any_zero = true;
		/* Fixed on one host is fixed for the fleet. */
		flags |= abi_field_flags(arch, fi, limits[i]);
		/* VMM-owned and LOWER_SAFE fields take the minimum, HIGHER_* the maximum. */
		if (rule == ABI_RULE_HIGHER_SAFE || rule == ABI_RULE_HIGHER_OR_ZERO_SAFE ? cmp > 0 : cmp < 0)
			best = v;
	}
	if (all_equal || (flags & ABI_F_VMM)) {
		*out = best;
		return true;
	}
	if (flags & (ABI_F_FIXED | ABI_F_NO_DISABLE))
		return false;
	switch (rule) {
	case ABI_RULE_EXACT:
		*out = safe;
		return true;
	case ABI_RULE_HIGHER_OR_ZERO_SAFE:
		*out = any_zero ? 0 : best;
		return true;
	default:
		*out = best;
		return true;
	}
}

int abi_baseline(const struct abi_manifest *const *limits, size_t n, struct abi_manifest *out,
		 struct abi_report *rep)
{
	const struct abi_arch *arch;
	int ret = 0;

	if (!n)
		return -EINVAL;
	arch = limits[0]->arch;
	for (size_t i = 1; i < n; i++)
		if (limits[i]->arch != arch)
			return -EXDEV;
	abi_manifest_init(out, arch);
	for (unsigned reg = 0; reg < arch->nregs; reg++) {
		uint64_t undescribed = reg_width_mask(&arch->regs[reg]) & ~described_bits(arch, reg);
		bool present = true;
		uint64_t v = 0;

		for (size_t i = 0; i < n; i++)
			present = present && limits[i]->present[reg];
		if (!present)
			continue; /* absent anywhere: absent (all zeros) in the baseline */
		v = limits[0]->val[reg] & undescribed;
		for (size_t i = 1; i < n; i++) {
			uint64_t diff = (limits[i]->val[reg] ^ limits[0]->val[reg]) & undescribed;
			if (diff) {
				struct abi_violation viol = { .reg = (uint16_t)reg, .field = -1,
							      .value = limits[i]->val[reg] & undescribed,
							      .limit = v };
				report_add(rep, &viol);
				ret = -EINVAL;
			}
		}
		for (size_t fi = 0; fi < arch->nfields; fi++) {
			const struct abi_field *f = &arch->fields[fi];
			uint64_t fv;

			if (f->reg != reg)
				continue;
			if (!baseline_field(arch, fi, limits, n, &fv)) {
				struct abi_violation viol = {
					.reg = (uint16_t)reg, .field = (int16_t)fi,
					.value = (limits[0]->val[reg] & abi_field_mask(f)) >> f->shift,
					.limit = (limits[n - 1]->val[reg] & abi_field_mask(f)) >> f->shift,
					.rule = abi_field_rule(arch, fi, NULL),
					.flags = abi_field_flags(arch, fi, limits[0]),
				};
				for (size_t i = 1; i < n; i++) {
					uint64_t o = (limits[i]->val[reg] & abi_field_mask(f)) >> f->shift;
					if (o != viol.value) {
						viol.limit = o;
						break;
					}
				}
				report_add(rep, &viol);
				ret = -EINVAL;
				continue;
			}
			v = abi_field_put(f, v, fv);
		}
		out->val[reg] = v;
		out->present[reg] = true;
	}
	return ret;
}

int abi_find_reg(const struct abi_arch *arch, const char *name)
{
	for (size_t i = 0; i < arch->nregs; i++)
		if (!strcmp(arch->regs[i].name, name))
			return (int)i;
	return -1;
}

int abi_find_owner(const struct abi_arch *arch, const char *owner)
{
	for (size_t i = 0; i < arch->nregs; i++)
		if (arch->regs[i].kind == ABI_REG_BITMAP && arch->regs[i].owner && !strcmp(arch->regs[i].owner, owner))
			return (int)i;
	return -1;
}

int abi_find_field(const struct abi_arch *arch, const char *name)
{
	const char *dot = strrchr(name, '.');
	int found = -1;

	for (size_t i = 0; i < arch->nfields; i++) {
		const struct abi_field *f = &arch->fields[i];

		if (!strcmp(f->name, name)) {
			if (found >= 0)
				return -1; /* ambiguous: ask for "reg.field" */
			found = (int)i;
		}
	}
	if (found >= 0 || !dot)
		return found;
	/* "reg.field": the register name itself contains dots, so split at the last one. */
	for (size_t i = 0; i < arch->nfields; i++) {
		const struct abi_field *f = &arch->fields[i];
		const char *reg = arch->regs[f->reg].name;
		size_t rlen = strlen(reg);

		if ((size_t)(dot - name) == rlen && !strncmp(name, reg, rlen) && !strcmp(dot + 1, f->name))
			return (int)i;
	}
	return -1;
}

static void format_value(char *buf, size_t len, uint64_t v, bool is_signed, uint8_t width)
{
	if (is_signed)
		snprintf(buf, len, "%" PRId64, field_number(true, width, v));
	else if (v < 10)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%#" PRIx64, v);
}

void abi_violation_format(const struct abi_arch *arch, const struct abi_violation *v, char *buf, size_t len)
{
	const char *reg = arch->regs[v->reg].name;
	char req[32], lim[32];

	if (v->field < 0) {
		snprintf(buf, len, "%s: bits no field describes are %#" PRIx64 ", host has %#" PRIx64
			 " (they must match the host)", reg, v->value, v->limit);
		return;
	}
	const struct abi_field *f = &arch->fields[v->field];
	format_value(req, sizeof(req), v->value, f->is_signed, f->width);
	format_value(lim, sizeof(lim), v->limit, f->is_signed, f->width);
	if (v->flags & ABI_F_NO_DISABLE)
		snprintf(buf, len, "%s %s: requested %s, host %s (cannot be hidden: no architectural switch)",
			 reg, f->name, req, lim);
	else if (v->flags & ABI_F_HOST_FIXED)
		snprintf(buf, len, "%s %s: requested %s, host %s (fixed: not in the host's writable mask)", reg,
			 f->name, req, lim);
	else if (v->flags & ABI_F_FIXED)
		snprintf(buf, len, "%s %s: requested %s, host %s (fixed: must equal the host)", reg, f->name, req,
			 lim);
	else
		snprintf(buf, len, "%s %s: requested %s, host limit %s (%s)", reg, f->name, req, lim,
			 abi_rule_name(v->rule));
}
