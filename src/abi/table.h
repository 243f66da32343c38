/*
 * Expands an architecture's .def file into its register, field and override
 * tables and its struct abi_arch. Include with ABI_ARCH (identifier) and
 * ABI_DEF (the .def path) defined. The .def file uses:
 *
 *   ABI_REG(ident, "name", KIND, width, key, owner)
 *       KIND: FEATURE or BITMAP; key: arch locator; owner: service owner or NULL
 *   ABI_FIELD(reg_ident, "name", shift, width, U|S, RULE, safe, flags, host_name)
 *       RULE: EXACT, LOWER_SAFE, HIGHER_SAFE, HIGHER_OR_ZERO_SAFE
 *       flags: 0 or ABI_F_* ORed; host_name: NULL or the host's name for it
 *   ABI_OVERRIDE("reg", "field", RULE, safe)
 */
#define ABI_CAT_(a, b) a##b
#define ABI_CAT(a, b) ABI_CAT_(a, b)
#define ABI_STR_(a) #a
#define ABI_STR(a) ABI_STR_(a)

#define ABI_SIGN_U false
#define ABI_SIGN_S true

enum {
#define ABI_REG(ident, name, kind, width, key, owner) ABI_CAT(ABI_CAT(ABI_ARCH, _REG_), ident),
#define ABI_FIELD(...)
#define ABI_OVERRIDE(...)
#include ABI_DEF
#undef ABI_REG
#undef ABI_FIELD
#undef ABI_OVERRIDE
	ABI_CAT(ABI_ARCH, _NREGS)
};

_Static_assert(ABI_CAT(ABI_ARCH, _NREGS) <= ABI_MAX_REGS, "too many ABI registers");

static const struct abi_reg ABI_CAT(ABI_ARCH, _regs)[] = {
#define ABI_REG(ident, rname, rkind, rwidth, rkey, rowner) \
	{ .name = rname, .kind = ABI_REG_##rkind, .width = rwidth, .key = rkey, .owner = rowner },
#define ABI_FIELD(...)
#define ABI_OVERRIDE(...)
#include ABI_DEF
#undef ABI_REG
#undef ABI_FIELD
#undef ABI_OVERRIDE
};

static const struct abi_field ABI_CAT(ABI_ARCH, _fields)[] = {
#define ABI_REG(...)
#define ABI_FIELD(regid, fname, fshift, fwidth, fsign, frule, fsafe, fflags, fhost)                        \
	{ .reg = ABI_CAT(ABI_CAT(ABI_ARCH, _REG_), regid), .name = fname, .shift = fshift, .width = fwidth, \
	  .is_signed = ABI_SIGN_##fsign, .rule = ABI_RULE_##frule, .safe = fsafe, .flags = fflags,         \
	  .host_name = fhost },
#define ABI_OVERRIDE(...)
#include ABI_DEF
#undef ABI_REG
#undef ABI_FIELD
#undef ABI_OVERRIDE
};

static const struct abi_override ABI_CAT(ABI_ARCH, _overrides)[] = {
#define ABI_REG(...)
#define ABI_FIELD(...)
#define ABI_OVERRIDE(oreg, ofield, orule, osafe) { .reg = oreg, .field = ofield, .rule = ABI_RULE_##orule, .safe = osafe },
#include ABI_DEF
#undef ABI_REG
#undef ABI_FIELD
#undef ABI_OVERRIDE
	{ NULL, NULL, ABI_RULE_EXACT, 0 } /* keeps the array non-empty */
};

const struct abi_arch ABI_CAT(abi_arch_, ABI_ARCH) = {
	.name = ABI_STR(ABI_ARCH),
	.regs = ABI_CAT(ABI_ARCH, _regs),
	.nregs = ABI_CAT(ABI_ARCH, _NREGS),
	.fields = ABI_CAT(ABI_ARCH, _fields),
	.nfields = sizeof(ABI_CAT(ABI_ARCH, _fields)) / sizeof(struct abi_field),
	.overrides = ABI_CAT(ABI_ARCH, _overrides),
	.noverrides = sizeof(ABI_CAT(ABI_ARCH, _overrides)) / sizeof(struct abi_override) - 1,
};
