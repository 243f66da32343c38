/*
 * The guest ABI on arm64 (docs/guest-abi.md, docs/arm64.md). The aarch64 tables' keys are KVM
 * ONE_REG ids: the AArch64 ID registers and KVM's SMCCC firmware bitmap registers. The host limit
 * is what KVM gives a new VM (read from a scratch VM); a manifest is applied by writing every
 * register that differs from the limit, on each vCPU before the first run, so KVM itself enforces
 * it (ID fields through its safe-value rules, hypercall services through the bitmaps). KVM checks
 * the same rules as the engine, which refused anything out of range before the VM was built.

 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "abi/abi.h"
#include "abi/aarch64.h"
#include "arch/aarch64/machine.h"
#include "arch/arch.h"
#include "core/log.h"
#include "core/vm.h"
#include "hv/hv.h"

const struct abi_arch *arch_abi(void)
{
	return &abi_arch_aarch64;
}

int arch_abi_limit(const struct hv_ops *ops, struct hv *hv, struct abi_manifest *limit)
{
	const struct abi_arch *arch = &abi_arch_aarch64;
	uint64_t ids[ABI_MAX_REGS];

	abi_manifest_init(limit, arch);
	if (!ops->arm64_host_regs)
		return 0; /* a backend without registers offers nothing */
	for (unsigned reg = 0; reg < arch->nregs; reg++)
		ids[reg] = arch->regs[reg].key;
	/* With KVM's writable masks the engine refuses what KVM would, before KVM is asked. */
	return ops->arm64_host_regs(hv, ids, arch->nregs, limit->val, limit->present, limit->writable,
				    limit->writable_known);
}

/* MIDR_EL1's implementer codes (Arm ARM D23.2) for the ones bothy is likely to meet. */
static const char *midr_implementer(unsigned code)
{
	static const struct {
		unsigned code;
		const char *name;
	} names[] = {
		{ 0x41, "Arm" },     { 0x42, "Broadcom" }, { 0x43, "Cavium" },   { 0x46, "Fujitsu" },
		{ 0x48, "HiSilicon" }, { 0x4e, "NVIDIA" },  { 0x50, "APM" },      { 0x51, "Qualcomm" },
		{ 0x61, "Apple" },   { 0x6d, "Microsoft" }, { 0xc0, "Ampere" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	return NULL;
}

int arch_abi_host_cpu(const struct hv_ops *ops, struct hv *hv, char *buf, size_t len)
{
	const uint64_t midr_id = AARCH64_SYSREG_KEY(3, 0, 0, 0, 0);
	uint64_t midr, writable;
	bool present, writable_known;
	const char *impl;
	int ret;

	if (!ops->arm64_host_regs)
		return -ENOTSUP;
	ret = ops->arm64_host_regs(hv, &midr_id, 1, &midr, &present, &writable, &writable_known);
	if (ret)
		return ret;
	if (!present)
		return -ENOENT;
	/* Implementer [31:24], variant [23:20], part [15:4], revision [3:0]: Arm's "rVpR" naming. */
	impl = midr_implementer((unsigned)(midr >> 24) & 0xff);
	if (impl)
		snprintf(buf, len, "%s part 0x%03x r%up%u (MIDR_EL1 %#" PRIx64 ")", impl,
			 (unsigned)(midr >> 4) & 0xfff, (unsigned)(midr >> 20) & 0xf, (unsigned)midr & 0xf, midr);
	else
		snprintf(buf, len, "implementer 0x%02x part 0x%03x r%up%u (MIDR_EL1 %#" PRIx64 ")",
			 (unsigned)(midr >> 24) & 0xff, (unsigned)(midr >> 4) & 0xfff, (unsigned)(midr >> 20) & 0xf,
			 (unsigned)midr & 0xf, midr);
	return 0;
}

/* What KVM's refusal of an ID or firmware bitmap register write means (arm64 sys_regs.c, hypercalls.c). */
static const char *one_reg_refusal(int err)
{
	switch (err) {
	case -EBUSY:
		return "the VM has already run, and KVM only accepts the value it started with";
	case -EINVAL:
		return "bits this KVM does not know (a service or field newer than the host kernel)";
	case -E2BIG:
		return "more than KVM offers this VM, or a field it does not let a VMM change";
	default:
		return strerror(-err);
	}
}

int arm64_abi_write_reg(const struct hv_ops *ops, struct hv_vcpu *vcpu, unsigned vcpu_index,
			const struct abi_manifest *m, unsigned reg)
{
	const struct abi_reg *r = &m->arch->regs[reg];
	uint64_t want = m->present[reg] ? m->val[reg] : 0;
	int ret = ops->arm64_set_one_reg(vcpu, r->key, want);

	if (ret)
		log_err("guest ABI: KVM refused %s = %#" PRIx64 " on vCPU %u: %s (%s)", r->name, want, vcpu_index,
			one_reg_refusal(ret), strerror(-ret));
	return ret;
}

int arm64_abi_apply(struct vm *vm, struct vcpu *vcpu)
{
	const struct abi_manifest *m = &vm->abi, *limit = &vm->abi_limit;

	for (unsigned reg = 0; reg < m->arch->nregs; reg++) {
		uint64_t want = m->present[reg] ? m->val[reg] : 0;
		int ret;

		/* Registers the host lacks cannot be written; a checked manifest has them zero. */
		if (!limit->present[reg] || want == limit->val[reg])
			continue;
		ret = arm64_abi_write_reg(vm->hv_ops, vcpu->hv_vcpu, vcpu->index, m, reg);
		if (ret)
			return ret;
	}
	return 0;
}
