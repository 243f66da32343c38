/*
 * What each architecture backend provides to the core (src/arch/<arch>/).
 * The core calls these in its setup table, in this order.
 */
#ifndef BOTHY_ARCH_ARCH_H
#define BOTHY_ARCH_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct vm;
struct hv;
struct hv_ops;
struct abi_arch;
struct abi_manifest;
struct vcpu;

/* Lays out guest RAM (gmem regions) for cfg.mem_size. */
int arch_memory_init(struct vm *vm);
/* Interrupt controllers, timers and platform devices (UART, power, RTC...). */
int arch_platform_init(struct vm *vm);
void arch_platform_fini(struct vm *vm);
/* Attaches a virtio device to this machine's transport (x86-64: PCI); *transport is for detach. */
struct virtio_dev;
int arch_virtio_attach(struct vm *vm, struct virtio_dev *vdev, void **transport);
void arch_virtio_detach(struct vm *vm, void *transport);
/* Loads kernel/initrd/cmdline and builds boot data (zero page, ACPI...). */
int arch_boot_init(struct vm *vm);
void arch_boot_fini(struct vm *vm);
/* Per-vCPU state (CPUID, MSRs, registers for the boot CPU). */
int arch_vcpu_init(struct vm *vm, struct vcpu *vcpu);
/* The guest-ABI tables of this architecture. */
const struct abi_arch *arch_abi(void);
/* This host's guest-ABI limit: what the hypervisor offers minus what bothy cannot virtualize. */
int arch_abi_limit(const struct hv_ops *ops, struct hv *hv, struct abi_manifest *limit);
/*
 * What identifies the host CPU beyond /proc/cpuinfo's name, for a fingerprint (arm64: MIDR_EL1 as
 * KVM gives it to a new vCPU); -ENOTSUP where the name is all there is (x86: "model name").
 */
int arch_abi_host_cpu(const struct hv_ops *ops, struct hv *hv, char *buf, size_t len);
/* Exits the architecture's hypercall transport consumes (x86: the I/O-port gate); true if consumed. */
struct hv_exit;
bool arch_hcall_exit(struct vcpu *vcpu, const struct hv_exit *exit);
/*
 * The boot context (the resource manager's VM_SET_BOOT_CONTEXT): initial registers of vCPU 0, in
 * Gunyah's register sets: 0 general registers by number, 1 the PC (index 0), 2 the SP (index 0).
 * arch_boot_reg_valid() is the one rule, applied by bothyd when a register is set and by the VMM
 * before it writes them.
 */
struct arch_boot_reg {
	unsigned set, index;
	uint64_t value;
};
bool arch_boot_reg_valid(unsigned set, unsigned index);
/* Writes @n boot registers to vCPU 0, which has not run yet; -EINVAL for an invalid one. */
int arch_set_boot_regs(struct vm *vm, const struct arch_boot_reg *regs, unsigned n);
/* Writes registers and the faulting instruction for a crash diagnostic. */
void arch_vcpu_dump(struct vcpu *vcpu, FILE *out);

#endif
