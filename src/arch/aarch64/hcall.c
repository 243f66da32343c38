/*
 * The arm64 hypercall transport (docs/hypercalls.md): HVC/SMC #0 with the function id in W0,
 * arguments in X1..X17 (SMCCC 1.2; W1..W7 for the 32-bit convention) and results in X0..X3.
 * bothy's filter ranges are programmed into KVM's SMCCC filter before the first run: HANDLE (a
 * bothy built-in service) and FORWARD (the VM owner) ranges come to bothy as hypercall exits, DENY
 * ranges are refused inside KVM; ids in no range stay with KVM (PSCI, and the services its firmware
 * bitmap registers leave on). KVM has already moved the PC past the instruction; registers are read
 * and written through ONE_REG, one ioctl each, for this exit only: the arguments the built-in
 * services need up front, the rest only when the dispatcher forwards the call.
 */
#include <errno.h>
#include <string.h>

#include "arch/aarch64/machine.h"
#include "arch/arch.h"
#include "core/log.h"
#include "core/vm.h"

#define PSTATE_NRW 0x10u /* AArch32 */
#define PSTATE_EL(p) (((p) >> 2) & 3)

int arm64_hcall_filter_init(struct vm *vm)
{
	const struct hcall_filter *f = &vm->hcall.filter;

	for (unsigned i = 0; i < f->n; i++) {
		const struct hcall_range *r = &f->ranges[i];
		enum hv_smccc_action a = r->action == HCALL_DENY ? HV_SMCCC_DENY : HV_SMCCC_FORWARD;
		int ret = vm->hv_ops->arm64_smccc_filter ?
				  vm->hv_ops->arm64_smccc_filter(vm->hv_vm, r->base, r->count, a) : -ENXIO;

		if (ret) {
			log_err("hypercall filter range 0x%08x+%u (%s): %s", r->base, r->count,
				hcall_action_name(r->action),
				ret == -ENXIO ? "this host's KVM has no SMCCC filter (Linux 6.4 or later)" :
				ret == -EEXIST ? "KVM keeps the Arm architecture calls 0x80000000-0x8000ffff and "
						 "0xc0000000-0xc000ffff" :
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* SMCCC: a 32-bit-convention call uses the low 32 bits of each register, whoever makes it. */
static bool wide_call(const struct hcall_call *c)
{
	return c->is64 && (c->fid & HCALL_64);
}

/* Arguments @first..@end - 1 (X@first+1 ...) into c->args. */
static int read_args(struct vcpu *vcpu, struct hcall_call *c, unsigned first, unsigned end)
{
	const struct hv_ops *ops = vcpu->vm->hv_ops;
	bool wide = wide_call(c);
	int ret = 0;

	for (unsigned i = first; !ret && i < end; i++) {
		ret = ops->arm64_get_reg(vcpu->hv_vcpu, HV_ARM64_X0 + 1 + i, &c->args[i]);
		if (!wide)
			c->args[i] = (uint32_t)c->args[i];
	}
	if (ret)
		log_err("vCPU %u: cannot read registers for a hypercall: %s", vcpu->index, strerror(-ret));
	return ret;
}

/* hcall_call.read_args: the rest, for the VM owner (AArch32 has no X8 and up: W1..W7 only). */
static int read_owner_args(struct hcall_call *c, void *vcpu)
{
	return read_args(vcpu, c, HCALL_SERVICE_ARGS, wide_call(c) ? HCALL_MAX_ARGS : HCALL_MAX_ARGS32);
}

bool arch_hcall_exit(struct vcpu *vcpu, const struct hv_exit *exit)
{
	const struct hv_ops *ops = vcpu->vm->hv_ops;
	struct hcall_call c = { .vcpu = vcpu->index, .read_args = read_owner_args, .read_ctx = vcpu };
	uint64_t pstate;
	bool wide;
	int ret;

	if (exit->reason != HV_EXIT_HYPERCALL)
		return false;
	ret = ops->arm64_get_reg(vcpu->hv_vcpu, HV_ARM64_PSTATE, &pstate);
	if (ret) {
		log_err("vCPU %u: cannot read registers for a hypercall: %s", vcpu->index, strerror(-ret));
		return true;
	}
	c.fid = (uint32_t)exit->hypercall.nr; /* guest-controlled: the dispatcher checks every bit */
	c.is64 = !(pstate & PSTATE_NRW);
	c.user = PSTATE_EL(pstate) == 0;
	if (read_args(vcpu, &c, 0, HCALL_SERVICE_ARGS))
		return true;

	hcall_dispatch(&vcpu->vm->hcall, &c);

	wide = wide_call(&c);
	for (unsigned i = 0; !ret && i < 4; i++)
		ret = ops->arm64_set_reg(vcpu->hv_vcpu, HV_ARM64_X0 + i, wide ? c.ret[i] : (uint32_t)c.ret[i]);
	if (ret)
		log_err("vCPU %u: cannot write hypercall results: %s", vcpu->index, strerror(-ret));
	return true;
}
