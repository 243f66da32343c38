/* State of bothy's x86-64 machine, hung off struct vm's arch pointer. */
#ifndef BOTHY_ARCH_X86_64_MACHINE_H
#define BOTHY_ARCH_X86_64_MACHINE_H

#include "devices/pci.h"
#include "arch/x86_64/boot.h"
#include "hv/hv.h"

struct serial;
struct cmos;
struct vm;
struct vcpu;

struct x86_machine {
	bool has_pci;           /* the VM has PCI devices: bus, config ports, ACPI host bridge */
	struct pci_bus pci;
	uint32_t next_gsi;      /* MSI GSIs handed to PCI functions */
	struct serial *com1;
	struct cmos *cmos;
	struct x86_boot_info boot;
	struct hv_x86_cpuid_entry cpuid[HV_MAX_CPUID_ENTRIES]; /* host CPUID with the VM's manifest applied */
	unsigned cpuid_nent;
};

/* cpu.c */
int x86_cpu_init(struct vm *vm, struct vcpu *vcpu);
/* Fills a guest CPUID table for vCPU @index of @ncpus from the host limit. */
unsigned x86_cpuid_for_vcpu(const struct hv_x86_cpuid_entry *host, unsigned nent, unsigned index,
			    unsigned ncpus, struct hv_x86_cpuid_entry *out);

/* abi.c */
struct abi_manifest;
void x86_abi_limit_from(const struct hv_x86_cpuid_entry *cpuid, unsigned nent, const struct hv_ops *ops,
			struct hv *hv, struct abi_manifest *limit);
/* Rewrites the manifest's registers in a CPUID table (VMM-owned fields stay). */
void x86_abi_apply_cpuid(const struct abi_manifest *m, struct hv_x86_cpuid_entry *cpuid, unsigned nent);
/* The feature MSRs to write: those the host has, with the manifest's values. */
unsigned x86_abi_msrs(const struct abi_manifest *m, const struct abi_manifest *limit, struct hv_x86_msr *out,
		      unsigned max);

#endif
