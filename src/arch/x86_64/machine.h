/* State of bothy's x86-64 machine, hung off struct vm's arch pointer. */
#ifndef BOTHY_ARCH_X86_64_MACHINE_H
#define BOTHY_ARCH_X86_64_MACHINE_H

#include "arch/x86_64/boot.h"
#include "hv/hv.h"

struct serial;
struct cmos;
struct vm;
struct vcpu;

struct x86_machine {
	struct serial *com1;
	struct cmos *cmos;
	struct x86_boot_info boot;
	struct hv_x86_cpuid_entry cpuid[HV_MAX_CPUID_ENTRIES]; /* host limit, read once */
	unsigned cpuid_nent;
};

/* cpu.c */
int x86_cpu_init(struct vm *vm, struct vcpu *vcpu);
/* Fills a guest CPUID table for vCPU @index of @ncpus from the host limit. */
unsigned x86_cpuid_for_vcpu(const struct hv_x86_cpuid_entry *host, unsigned nent, unsigned index,
			    unsigned ncpus, struct hv_x86_cpuid_entry *out);

#endif
