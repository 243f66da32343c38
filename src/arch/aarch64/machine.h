/* State of bothy's arm64 machine, hung off struct vm's arch pointer. */
#ifndef BOTHY_ARCH_AARCH64_MACHINE_H
#define BOTHY_ARCH_AARCH64_MACHINE_H

#include "arch/aarch64/boot.h"
#include "bothy/bothy.h"

#include "arch/aarch64/layout.h"

struct serial;
struct vm;
struct virtio_mmio;

/* A virtio-mmio slot: the transport and the eventfd KVM turns into an edge on its SPI. */
struct arm64_virtio_slot {
	struct vm *vm;
	struct virtio_mmio *mmio;
	uint64_t base;
	uint32_t spi;	    /* SPI number (interrupt id - 32), which is also its irqfd GSI */
	int irqfd;	    /* -1: slot free */
	bool irqfd_on;	    /* assigned in KVM (once the GIC is initialised) */
};

struct arm64_machine {
	struct serial *uart;
	uint64_t mpidr[VM_MAX_CPUS]; /* read from KVM once the vCPUs exist */
	struct arm64_boot_info boot;
	struct arm64_virtio_slot virtio[ARM64_VIRTIO_MMIO_SLOTS];
};

/* abi.c: writes the VM's guest-ABI manifest into @vcpu (before the first run). */
struct vcpu;
int arm64_abi_apply(struct vm *vm, struct vcpu *vcpu);
/*
 * abi.c: writes register @reg of @m into one vCPU through ONE_REG, as arm64_abi_apply does for
 * each register; a refusal is logged with what KVM means by it (EBUSY: the VM has run; EINVAL:
 * bits KVM does not know; E2BIG: above its limit) and its errno returned.
 */
struct hv_ops;
struct hv_vcpu;
struct abi_manifest;
int arm64_abi_write_reg(const struct hv_ops *ops, struct hv_vcpu *vcpu, unsigned vcpu_index,
			const struct abi_manifest *m, unsigned reg);
/* hcall.c: programs the VM's hypercall filter ranges into the hypervisor's SMCCC filter. */
int arm64_hcall_filter_init(struct vm *vm);

#endif
