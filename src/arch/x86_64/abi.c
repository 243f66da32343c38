/*
 * The guest ABI on x86-64: the host limit is KVM's supported CPUID and feature
 * MSRs minus what bothy cannot virtualize, plus the hypercall services bothy
 * implements; a manifest is applied by rewriting
 * the CPUID entries (all but the per-vCPU fields bothy owns) and writing the
 * feature MSRs before the first run.
 */
#include <errno.h>
#include <string.h>

#include "abi/abi.h"
#include "abi/x86_64.h"
#include "arch/arch.h"
#include "arch/x86_64/machine.h"
#include "hcall/hcall.h"
#include "hv/hv.h"

/* Features KVM may offer that bothy does not virtualize. */
static const char *const not_virtualized[] = {
	"epb", /* energy-performance-bias MSR: not emulated, the guest would #GP */
};

const struct abi_arch *arch_abi(void)
{
	return &abi_arch_x86_64;
}

static uint32_t *entry_reg(struct hv_x86_cpuid_entry *e, unsigned regno)
{
	switch (regno) {
	case X86_EAX:
		return &e->eax;
	case X86_EBX:
		return &e->ebx;
	case X86_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

/* The entry for a leaf/subleaf, or NULL. */
static struct hv_x86_cpuid_entry *find_entry(struct hv_x86_cpuid_entry *e, unsigned nent, uint32_t leaf,
					     uint32_t subleaf)
{
	for (unsigned i = 0; i < nent; i++) {
		if (e[i].function != leaf)
			continue;
		/* A leaf without subleaves answers every ECX; the tables name it as subleaf 0. */
		if (e[i].flags & HV_CPUID_FLAG_SIGNIFICANT_INDEX ? e[i].index == subleaf : subleaf == 0)
			return &e[i];
	}
	return NULL;
}

void x86_abi_limit_from(const struct hv_x86_cpuid_entry *cpuid, unsigned nent, const struct hv_ops *ops,
			struct hv *hv, struct abi_manifest *limit)
{
	const struct abi_arch *arch = &abi_arch_x86_64;

	abi_manifest_init(limit, arch);
	for (unsigned reg = 0; reg < arch->nregs; reg++) {
		uint64_t key = arch->regs[reg].key;

		if (X86_KEY_IS_HCALL(key)) {
			/* bothy serves these itself: the limit is what it implements. */
			limit->val[reg] = hcall_services_supported(X86_KEY_LEAF(key));
			limit->present[reg] = true;
			continue;
		}
		if (X86_KEY_IS_MSR(key)) {
			uint64_t v;
			if (hv && ops->x86_get_feature_msr(hv, X86_KEY_MSR_INDEX(key), &v) == 0) {
				limit->val[reg] = v;
				limit->present[reg] = true;
			}
			continue;
		}
		struct hv_x86_cpuid_entry *e = find_entry((struct hv_x86_cpuid_entry *)cpuid, nent,
							  X86_KEY_LEAF(key), X86_KEY_SUBLEAF(key));
		if (e) {
			limit->val[reg] = *entry_reg(e, X86_KEY_REGNO(key));
			limit->present[reg] = true;
		}
	}
	for (size_t i = 0; i < sizeof(not_virtualized) / sizeof(not_virtualized[0]); i++) {
		int fi = abi_find_field(arch, not_virtualized[i]);

		if (fi >= 0) {
			const struct abi_field *f = &arch->fields[fi];
			limit->val[f->reg] = abi_field_put(f, limit->val[f->reg], 0);
		}
	}
}

int arch_abi_limit(const struct hv_ops *ops, struct hv *hv, struct abi_manifest *limit)
{
	struct hv_x86_cpuid_entry cpuid[HV_MAX_CPUID_ENTRIES];
	unsigned nent = HV_MAX_CPUID_ENTRIES;
	int ret = ops->x86_get_supported_cpuid(hv, cpuid, &nent);

	if (ret)
		return ret;
	x86_abi_limit_from(cpuid, nent, ops, hv, limit);
	return 0;
}

int arch_abi_host_cpu(const struct hv_ops *ops, struct hv *hv, char *buf, size_t len)
{
	(void)ops;
	(void)hv;
	(void)buf;
	(void)len;
	return -ENOTSUP; /* /proc/cpuinfo's "model name" says it all */
}

void x86_abi_apply_cpuid(const struct abi_manifest *m, struct hv_x86_cpuid_entry *cpuid, unsigned nent)
{
	const struct abi_arch *arch = m->arch;

	for (unsigned reg = 0; reg < arch->nregs; reg++) {
		uint64_t key = arch->regs[reg].key;
		uint64_t governed = 0xffffffffu;
		struct hv_x86_cpuid_entry *e;
		uint32_t *r;

		if (!X86_KEY_IS_CPUID(key))
			continue;
		e = find_entry(cpuid, nent, X86_KEY_LEAF(key), X86_KEY_SUBLEAF(key));
		if (!e)
			continue; /* the host lacks the leaf, so a valid manifest has it all zero */
		for (size_t i = 0; i < arch->nfields; i++)
			if (arch->fields[i].reg == reg && (arch->fields[i].flags & ABI_F_VMM))
				governed &= ~(uint32_t)abi_field_mask(&arch->fields[i]);
		r = entry_reg(e, X86_KEY_REGNO(key));
		*r = (uint32_t)((*r & ~governed) | ((m->present[reg] ? m->val[reg] : 0) & governed));
	}
}

unsigned x86_abi_msrs(const struct abi_manifest *m, const struct abi_manifest *limit, struct hv_x86_msr *out,
		      unsigned max)
{
	unsigned n = 0;

	for (unsigned reg = 0; reg < m->arch->nregs && n < max; reg++) {
		uint64_t key = m->arch->regs[reg].key;

		/* Only MSRs the host has: KVM refuses writes to feature MSRs it does not emulate. */
		if (X86_KEY_IS_MSR(key) && limit->present[reg])
			out[n++] = (struct hv_x86_msr){ X86_KEY_MSR_INDEX(key), m->present[reg] ? m->val[reg] : 0 };
	}
	return n;
}
