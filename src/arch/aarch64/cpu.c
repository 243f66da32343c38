/*
 * arm64 vCPU state: the boot vCPU's entry registers (booting.rst: X0 = device tree, X1..X3 = 0,
 * EL1h with DAIF masked, MMU off), the boot context, and the crash diagnostic. Secondary vCPUs
 * start powered off; the guest starts them with PSCI CPU_ON, which KVM handles.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/aarch64/machine.h"
#include "arch/arch.h"
#include "core/vm.h"

#define SCTLR_M 0x1ull /* stage-1 MMU enabled */

int arch_vcpu_init(struct vm *vm, struct vcpu *vcpu)
{
	const struct arm64_machine *m = vm->arch;
	const struct {
		enum hv_arm64_reg reg;
		uint64_t value;
	} regs[] = {
		{ HV_ARM64_X0, m->boot.dtb_addr },
		{ HV_ARM64_X0 + 1, 0 },
		{ HV_ARM64_X0 + 2, 0 },
		{ HV_ARM64_X0 + 3, 0 },
		{ HV_ARM64_PSTATE, ARM64_BOOT_PSTATE },
		{ HV_ARM64_PC, m->boot.entry },
	};
	int ret;

	/* Every vCPU: KVM's ID registers were per vCPU before Linux 6.7 (and the same value is accepted again). */
	ret = arm64_abi_apply(vm, vcpu);
	if (ret)
		return ret;
	if (vcpu->index)
		return 0;
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		ret = vm->hv_ops->arm64_set_reg(vcpu->hv_vcpu, regs[i].reg, regs[i].value);
		if (ret)
			return ret;
	}
	return 0;
}

void arch_vcpu_dump(struct vcpu *vcpu, FILE *out)
{
	const struct hv_ops *ops = vcpu->vm->hv_ops;
	static const struct {
		enum hv_arm64_reg reg;
		const char *name;
	} sys[] = {
		{ HV_ARM64_SP, "SP_EL0" },     { HV_ARM64_SP_EL1, "SP_EL1" }, { HV_ARM64_ELR_EL1, "ELR_EL1" },
		{ HV_ARM64_SPSR_EL1, "SPSR_EL1" }, { HV_ARM64_ESR_EL1, "ESR_EL1" }, { HV_ARM64_FAR_EL1, "FAR_EL1" },
		{ HV_ARM64_VBAR_EL1, "VBAR_EL1" }, { HV_ARM64_SCTLR_EL1, "SCTLR_EL1" },
	};
	uint64_t pc, pstate, v, sctlr = 0;
	uint32_t insn;

	if (ops->arm64_get_reg(vcpu->hv_vcpu, HV_ARM64_PC, &pc) ||
	    ops->arm64_get_reg(vcpu->hv_vcpu, HV_ARM64_PSTATE, &pstate)) {
		fprintf(out, "(registers unavailable)\n");
		return;
	}
	fprintf(out, "PC=%016" PRIx64 " PSTATE=%08" PRIx64 " (EL%u) exits=%" PRIu64 "\n", pc, pstate,
		(unsigned)((pstate >> 2) & 3), vcpu->nr_exits);
	for (unsigned i = 0; i <= 30; i++) {
		if (ops->arm64_get_reg(vcpu->hv_vcpu, HV_ARM64_X0 + i, &v))
			v = 0;
		fprintf(out, "X%-2u=%016" PRIx64 "%s", i, v, i % 4 == 3 || i == 30 ? "\n" : " ");
	}
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (ops->arm64_get_reg(vcpu->hv_vcpu, sys[i].reg, &v))
			fprintf(out, "%s=?%s", sys[i].name, i % 4 == 3 ? "\n" : " ");
		else
			fprintf(out, "%s=%016" PRIx64 "%s", sys[i].name, v, i % 4 == 3 ? "\n" : " ");
		if (sys[i].reg == HV_ARM64_SCTLR_EL1)
			sctlr = v;
	}
	/* With the MMU off the PC is a guest physical address; with it on, bothy cannot translate. */
	if (sctlr & SCTLR_M)
		fprintf(out, "code at %016" PRIx64 ": MMU on (virtual address, not translated)\n", pc);
	else if (gmem_read(vcpu->vm->gmem, pc, &insn, sizeof(insn)) == 0)
		fprintf(out, "code at %016" PRIx64 ": %08x\n", pc, insn);
	else
		fprintf(out, "code at %016" PRIx64 ": not in guest RAM\n", pc);
}

/* --- the boot context (arch/arch.h) ---------------------------------------------------------------- */

#define ARM64_BOOT_GPRS 31 /* X0..X30 */

bool arch_boot_reg_valid(unsigned set, unsigned index)
{
	switch (set) {
	case 0:
		return index < ARM64_BOOT_GPRS;
	case 1: /* pc */
	case 2: /* sp (SP_EL1: the kernel starts in EL1h) */
		return index == 0;
	}
	return false;
}

int arch_set_boot_regs(struct vm *vm, const struct arch_boot_reg *regs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!arch_boot_reg_valid(regs[i].set, regs[i].index))
			return -EINVAL;
	if (n && !vm->nr_vcpus)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		enum hv_arm64_reg reg = regs[i].set == 0 ? (enum hv_arm64_reg)(HV_ARM64_X0 + regs[i].index) :
					regs[i].set == 1 ? HV_ARM64_PC : HV_ARM64_SP_EL1;
		int ret = vm->hv_ops->arm64_set_reg(vm->vcpus[0].hv_vcpu, reg, regs[i].value);

		if (ret)
			return ret;
	}
	return 0;
}
