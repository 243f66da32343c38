/*
 * The guest-ABI engine: what a guest can discover about its platform, as one
 * value (the manifest), checked field by field against what a host can provide
 * (the limit). Pure C, no system calls: architectures describe their registers
 * and fields as data (src/abi/<arch>.def); the hypervisor backends read limits
 * and program manifests. docs/guest-abi.md explains the model and the rules.
 */
#ifndef BOTHY_ABI_H
#define BOTHY_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * How a field's requested value may relate to the host limit (the rules of
 * arm64's feature tables; signed fields compare as signed, so a signed 4-bit
 * 0xF, "not implemented", is below 0).
 */
enum abi_rule {
	ABI_RULE_EXACT,		  /* equal to the limit, or to the field's safe value */
	ABI_RULE_LOWER_SAFE,	  /* at most the limit (feature levels, 1-bit features) */
	ABI_RULE_HIGHER_SAFE,	  /* at least the limit (e.g. "not vulnerable" claims reversed) */
	ABI_RULE_HIGHER_OR_ZERO_SAFE, /* zero, or at least the limit */
	ABI_RULE_COUNT,
};

enum abi_reg_kind {
	ABI_REG_FEATURE, /* feature register made of fields (CPUID word, ID register, MSR) */
	ABI_REG_BITMAP,	 /* set of bits, requested ⊆ supported (hypercall services, extensions) */
};

/* Field flags. */
#define ABI_F_FIXED 0x1u      /* not writable: must equal the limit */
#define ABI_F_NO_DISABLE 0x2u /* no architectural way to hide it: must equal the limit */
#define ABI_F_VMM 0x4u	      /* owned by the VMM (topology, APIC id): not part of the manifest */
/* In a violation only: fixed because the host's writable mask leaves the field out. */
#define ABI_F_HOST_FIXED 0x8u

struct abi_reg {
	const char *name; /* "cpuid.0x7.0.ebx", "id_aa64pfr0_el1", "riscv.isa_ext.0" */
	enum abi_reg_kind kind;
	uint8_t width;	   /* bits: 32 or 64 */
	uint64_t key;	   /* architecture-specific locator (CPUID leaf/subleaf/register, sysreg id, ...) */
	const char *owner; /* bitmaps: the service owner ("kvm", "smccc.std", "sbi"); else NULL */
};

struct abi_field {
	uint16_t reg; /* index into the architecture's register table */
	const char *name;
	uint8_t shift, width;
	bool is_signed;
	enum abi_rule rule;
	uint64_t safe;	       /* EXACT: the other accepted value */
	uint32_t flags;	       /* ABI_F_* */
	const char *host_name; /* when the host knows it by another name (riscv Ssnpm → Smnpm), else NULL */
};

/* A VMM-specific rule for one field, taking precedence over the generic one. */
struct abi_override {
	const char *reg, *field;
	enum abi_rule rule;
	uint64_t safe;
};

struct abi_arch {
	const char *name; /* "x86_64", "aarch64", "riscv64" */
	const struct abi_reg *regs;
	size_t nregs;
	const struct abi_field *fields;
	size_t nfields;
	const struct abi_override *overrides;
	size_t noverrides;
};

extern const struct abi_arch abi_arch_x86_64;
extern const struct abi_arch abi_arch_aarch64;
extern const struct abi_arch abi_arch_riscv64;

const struct abi_arch *abi_arch_by_name(const char *name);

#define ABI_MAX_REGS 256

/*
 * A manifest: one value per register of the architecture. present[] says
 * whether the register exists (an absent CPUID leaf, an ID register the host
 * does not report); an absent register is treated as all zeros.
 */
struct abi_manifest {
	const struct abi_arch *arch;
	uint64_t val[ABI_MAX_REGS];
	bool present[ABI_MAX_REGS];
	/*
	 * A host limit may say which bits of a register the hypervisor lets a VMM change (arm64:
	 * KVM_ARM_GET_REG_WRITABLE_MASKS). Where writable_known[reg], a field is fixed exactly when
	 * it lies outside writable[reg], whatever the tables' ABI_F_FIXED says; elsewhere the tables
	 * decide. Only read from the limit.
	 */
	uint64_t writable[ABI_MAX_REGS];
	bool writable_known[ABI_MAX_REGS];
	bool frozen; /* the VM has run: only identical writes are accepted */
};

void abi_manifest_init(struct abi_manifest *m, const struct abi_arch *arch);

/* One reason a manifest cannot run on a host. */
struct abi_violation {
	uint16_t reg;
	int16_t field;	/* index into arch->fields, or -1 for bits no field describes */
	uint64_t value; /* requested (the field's value, or the undescribed bits) */
	uint64_t limit; /* the host's */
	enum abi_rule rule;
	uint32_t flags;
};

#define ABI_MAX_VIOLATIONS 64
struct abi_report {
	size_t count;	/* every violation found (may exceed what is stored) */
	struct abi_violation v[ABI_MAX_VIOLATIONS];
};

/* The rule in force for a field: an override if the architecture has one. */
enum abi_rule abi_field_rule(const struct abi_arch *arch, size_t field, uint64_t *safe);

/*
 * A field's flags on the host with @limit (may be NULL: the tables' flags): ABI_F_FIXED comes from
 * the limit's writable mask where it has one, with ABI_F_HOST_FIXED added when the mask leaves the
 * field out.
 */
uint32_t abi_field_flags(const struct abi_arch *arch, size_t field, const struct abi_manifest *limit);

/* Value of a field in a register value (sign-extended for signed fields). */
int64_t abi_field_get(const struct abi_field *f, uint64_t reg);
uint64_t abi_field_put(const struct abi_field *f, uint64_t reg, uint64_t value);
uint64_t abi_field_mask(const struct abi_field *f);

/* Does a requested field value satisfy the rule against the limit? */
bool abi_rule_allows(enum abi_rule rule, bool is_signed, uint8_t width, uint64_t req, uint64_t limit,
		     uint64_t safe);

/*
 * Check one register value against the limit; appends violations to @rep
 * (may be NULL). Returns 0, -EINVAL (bits no field describes differ from the
 * limit, or the register does not exist on the host), -E2BIG (a field breaks
 * its rule).
 */
int abi_check_reg(const struct abi_arch *arch, unsigned reg, uint64_t value, bool present,
		  const struct abi_manifest *limit, struct abi_report *rep);

/* Check a whole manifest: 0 if it runs on @limit, else -E2BIG/-EINVAL with every violation in @rep. */
int abi_check(const struct abi_manifest *m, const struct abi_manifest *limit, struct abi_report *rep);

/*
 * Write one register of a manifest as KVM's ID-register writes behave:
 * validated against @limit; once frozen a different value is -EBUSY and the
 * same value is accepted.
 */
int abi_set_reg(struct abi_manifest *m, const struct abi_manifest *limit, unsigned reg, uint64_t value,
		struct abi_report *rep);

/*
 * Fleet baseline: the most capable manifest that runs on every limit, field
 * by field under each field's rule. Registers absent on any host are absent.
 * Returns -EINVAL with violations in @rep when hosts disagree on something
 * that has no common value (undescribed bits, EXACT fields without a safe value
 * reachable on every host).
 */
int abi_baseline(const struct abi_manifest *const *limits, size_t n, struct abi_manifest *out,
		 struct abi_report *rep);

/* Lookups by name; -1 if none. A field is found by "field" (if unique) or "reg.field". */
int abi_find_reg(const struct abi_arch *arch, const char *name);
int abi_find_field(const struct abi_arch *arch, const char *name);
/* The bitmap register of a service owner ("smccc.std", "kvm", "isa"...); -1 if none. */
int abi_find_owner(const struct abi_arch *arch, const char *owner);

const char *abi_rule_name(enum abi_rule rule);

/* One line describing a violation, e.g. "cpuid.0x7.0.ebx avx512f: requested 1, host limit 0 (LOWER_SAFE)". */
void abi_violation_format(const struct abi_arch *arch, const struct abi_violation *v, char *buf, size_t len);

#endif
