/*
 * What each architecture backend provides to the core (src/arch/<arch>/).
 * The core calls these in its setup table, in this order.
 */
#ifndef BOTHY_ARCH_ARCH_H
#define BOTHY_ARCH_ARCH_H

#include <stdbool.h>
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
/* Exits the architecture's hypercall transport consumes (x86: the I/O-port gate); true if consumed. */
struct hv_exit;
bool arch_hcall_exit(struct vcpu *vcpu, const struct hv_exit *exit);
/* Writes registers and the faulting instruction for a crash diagnostic. */
void arch_vcpu_dump(struct vcpu *vcpu, FILE *out);

#endif
