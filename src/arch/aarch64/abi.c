/*
 * The guest ABI and hypercall transport on arm64, stage 1 of the arm64 backend (docs/arm64.md):
 * the aarch64 tables are known, but bothy does not yet read the host's ID registers or firmware
 * bitmap registers, so the host limit is empty (a template asking for anything is refused before
 * start, naming each field) and guests get KVM's defaults. HVC/SMC calls are KVM's own (PSCI, the
 * standard and vendor services it implements); nothing is forwarded to bothy yet.
 */
#include "abi/abi.h"
#include "arch/arch.h"
#include "hv/hv.h"

const struct abi_arch *arch_abi(void)
{
	return &abi_arch_aarch64;
}

int arch_abi_limit(const struct hv_ops *ops, struct hv *hv, struct abi_manifest *limit)
{
	(void)ops;
	(void)hv;
	abi_manifest_init(limit, &abi_arch_aarch64);
	return 0;
}

bool arch_hcall_exit(struct vcpu *vcpu, const struct hv_exit *exit)
{
	(void)vcpu;
	(void)exit;
	return false;
}
