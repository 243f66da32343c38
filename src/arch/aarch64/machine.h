/* State of bothy's arm64 machine, hung off struct vm's arch pointer. */
#ifndef BOTHY_ARCH_AARCH64_MACHINE_H
#define BOTHY_ARCH_AARCH64_MACHINE_H

#include "arch/aarch64/boot.h"
#include "bothy/bothy.h"

struct serial;

struct arm64_machine {
	struct serial *uart;
	uint64_t mpidr[VM_MAX_CPUS]; /* read from KVM once the vCPUs exist */
	struct arm64_boot_info boot;
};

/* abi.c: writes the VM's guest-ABI manifest into @vcpu (before the first run). */
struct vm;
struct vcpu;
int arm64_abi_apply(struct vm *vm, struct vcpu *vcpu);
/* hcall.c: programs the VM's hypercall filter ranges into the hypervisor's SMCCC filter. */
int arm64_hcall_filter_init(struct vm *vm);

#endif
