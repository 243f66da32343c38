/*
 * x86-64 vCPU state: CPUID (the host limit with this VM's topology), the
 * MSRs a BIOS would have set, and the entry registers of the boot CPU.
 * Secondary CPUs stay in KVM's wait-for-SIPI state until the guest starts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/machine.h"
#include "core/vm.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1ull
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE (1ull << 11)
#define MTRR_TYPE_WB 6ull
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

static unsigned order_base_2(unsigned n)
{
	unsigned shift = 0;

	while ((1u << shift) < n)
		shift++;
	return shift;
}

unsigned x86_cpuid_for_vcpu(const struct hv_x86_cpuid_entry *host, unsigned nent, unsigned index,
			    unsigned ncpus, struct hv_x86_cpuid_entry *out)
{
	unsigned apic_id = index; /* MADT and ACPI use the same numbering */

	for (unsigned i = 0; i < nent; i++) {
		struct hv_x86_cpuid_entry e = host[i];

		switch (e.function) {
		case 0x1:
			/* Initial APIC id, logical processor count, and "running under a hypervisor". */
			e.ebx = (e.ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xff) << 16);
			e.ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e.edx |= 1u << 28; /* HTT: the count field above is valid */
			break;
		case 0xb:
		case 0x1f:
			/* Topology: one thread per core, ncpus cores in one package. */
			e.edx = apic_id;
			if (e.index == 0) {
				e.eax = 0;
				e.ebx = 1;
				e.ecx = (1u << 8) | e.index;
			} else if (e.index == 1) {
				e.eax = order_base_2(ncpus);
				e.ebx = ncpus;
				e.ecx = (2u << 8) | e.index;
			} else {
				e.eax = e.ebx = 0;
				e.ecx = e.index;
			}
			break;
		case 0x80000008:
			/* AMD: number of cores in the package minus one. */
			e.ecx = (e.ecx & ~0xffu) | ((ncpus - 1) & 0xff);
			break;
		default:
			break;
		}
		out[i] = e;
	}
	return nent;
}

static void set_flat_segment(struct hv_x86_segment *s, uint16_t selector, uint8_t type, bool code64)
{
	*s = (struct hv_x86_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,
		.s = 1,
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

static int set_boot_registers(struct vm *vm, struct vcpu *vcpu)
{
	const struct x86_boot_info *boot = &((struct x86_machine *)vm->arch)->boot;
	const struct hv_ops *ops = vm->hv_ops;
	struct hv_x86_sregs sregs;
	struct hv_x86_regs regs = { .rflags = 0x2, .rip = boot->entry };
	bool long_mode = boot->mode == X86_ENTRY_LINUX64;
	int ret;

	ret = ops->x86_get_sregs(vcpu->hv_vcpu, &sregs);
	if (ret)
		return ret;
	set_flat_segment(&sregs.cs, long_mode ? X86_SEL_CODE64 : X86_SEL_CODE32, 0xb, long_mode);
	set_flat_segment(&sregs.ds, X86_SEL_DATA, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct hv_x86_segment){ .selector = X86_SEL_TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.gdt = (struct hv_x86_dtable){ boot->gdt_base, boot->gdt_limit };
	sregs.idt = (struct hv_x86_dtable){ 0, 0 };
	if (long_mode) {
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs.cr3 = boot->cr3;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsi = boot->boot_params; /* Linux: struct boot_params */
	} else {
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = boot->boot_params; /* PVH: struct hvm_start_info */
	}
	ret = ops->x86_set_sregs(vcpu->hv_vcpu, &sregs);
	if (ret)
		return ret;
	return ops->x86_set_regs(vcpu->hv_vcpu, &regs);
}

int x86_cpu_init(struct vm *vm, struct vcpu *vcpu)
{
	struct x86_machine *m = vm->arch;
	const struct hv_ops *ops = vm->hv_ops;
	struct hv_x86_cpuid_entry cpuid[HV_MAX_CPUID_ENTRIES];
	const struct hv_x86_msr msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	struct hv_x86_msr feature_msrs[16];
	unsigned n;
	int ret;

	if (!m->cpuid_nent) {
		m->cpuid_nent = HV_MAX_CPUID_ENTRIES;
		ret = ops->x86_get_supported_cpuid(vm->hv, m->cpuid, &m->cpuid_nent);
		if (ret) {
			m->cpuid_nent = 0;
			return ret;
		}
		x86_abi_apply_cpuid(&vm->abi, m->cpuid, m->cpuid_nent);
	}
	n = x86_cpuid_for_vcpu(m->cpuid, m->cpuid_nent, vcpu->index, vm->nr_vcpus, cpuid);
	ret = ops->x86_set_cpuid(vcpu->hv_vcpu, cpuid, n);
	if (ret)
		return ret;
	/* Without this KVM lets a guest use paravirt features CPUID does not list. */
	ret = ops->x86_enforce_pv_cpuid(vcpu->hv_vcpu);
	if (ret && ret != -EOPNOTSUPP)
		return ret;
	ret = ops->x86_set_msrs(vcpu->hv_vcpu, msrs, sizeof(msrs) / sizeof(msrs[0]));
	if (ret)
		return ret;
	n = x86_abi_msrs(&vm->abi, &vm->abi_limit, feature_msrs, sizeof(feature_msrs) / sizeof(feature_msrs[0]));
	ret = n ? ops->x86_set_msrs(vcpu->hv_vcpu, feature_msrs, n) : 0;
	if (ret)
		return ret;
	ret = ops->x86_init_fpu_lapic(vcpu->hv_vcpu);
	if (ret)
		return ret;
	return vcpu->index == 0 ? set_boot_registers(vm, vcpu) : 0;
}

static void dump_segment(FILE *out, const char *name, const struct hv_x86_segment *s)
{
	fprintf(out, "%-3s sel=%04x base=%016" PRIx64 " limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u\n",
		name, s->selector, s->base, s->limit, s->type, s->present, s->dpl, s->db, s->l, s->g);
}

void arch_vcpu_dump(struct vcpu *vcpu, FILE *out)
{
	const struct hv_ops *ops = vcpu->vm->hv_ops;
	struct hv_x86_regs r;
	struct hv_x86_sregs s;
	uint64_t linear, gpa;
	uint8_t insn[16];

	if (ops->x86_get_regs(vcpu->hv_vcpu, &r) || ops->x86_get_sregs(vcpu->hv_vcpu, &s)) {
		fprintf(out, "(registers unavailable)\n");
		return;
	}
	fprintf(out, "RIP=%016" PRIx64 " RFLAGS=%08" PRIx64 " exits=%" PRIu64 "\n", r.rip, r.rflags,
		vcpu->nr_exits);
	fprintf(out, "RAX=%016" PRIx64 " RBX=%016" PRIx64 " RCX=%016" PRIx64 " RDX=%016" PRIx64 "\n", r.rax,
		r.rbx, r.rcx, r.rdx);
	fprintf(out, "RSI=%016" PRIx64 " RDI=%016" PRIx64 " RSP=%016" PRIx64 " RBP=%016" PRIx64 "\n", r.rsi,
		r.rdi, r.rsp, r.rbp);
	fprintf(out, "R8 =%016" PRIx64 " R9 =%016" PRIx64 " R10=%016" PRIx64 " R11=%016" PRIx64 "\n", r.r8,
		r.r9, r.r10, r.r11);
	fprintf(out, "R12=%016" PRIx64 " R13=%016" PRIx64 " R14=%016" PRIx64 " R15=%016" PRIx64 "\n", r.r12,
		r.r13, r.r14, r.r15);
	fprintf(out, "CR0=%08" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08" PRIx64 " EFER=%" PRIx64 "\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment(out, "CS", &s.cs);
	dump_segment(out, "SS", &s.ss);
	dump_segment(out, "DS", &s.ds);
	dump_segment(out, "TR", &s.tr);
	fprintf(out, "GDT=%016" PRIx64 "/%04x IDT=%016" PRIx64 "/%04x\n", s.gdt.base, s.gdt.limit, s.idt.base,
		s.idt.limit);
	/* Page tables outside guest RAM: nothing the guest could have set up (its state was corrupted). */
	if (s.cr0 & CR0_PG) {
		uint64_t entry;

		if (gmem_read(vcpu->vm->gmem, s.cr3 & 0x000ffffffffff000ULL, &entry, sizeof(entry)))
			fprintf(out, "(CR3 is outside guest RAM: this vCPU's state is corrupt)\n");
	}
	/* AMD SVM resets the vCPU before KVM reports a triple fault. */
	if (r.rip == 0xfff0 && s.cs.base == 0xffff0000)
		fprintf(out, "(registers show the reset state: on AMD hosts KVM resets a vCPU before "
			     "reporting its triple fault, so the faulting RIP is lost)\n");

	/* The instruction bytes at CS:RIP, through the guest's own page tables. */
	linear = s.cs.base + r.rip;
	if (!(s.cr0 & CR0_PG))
		linear &= 0xffffffff;
	if (ops->x86_translate(vcpu->hv_vcpu, linear, &gpa) == 0 &&
	    gmem_read(vcpu->vm->gmem, gpa, insn, sizeof(insn)) == 0) {
		fprintf(out, "code at %016" PRIx64 " (gpa %" PRIx64 "):", linear, gpa);
		for (size_t i = 0; i < sizeof(insn); i++)
			fprintf(out, " %02x", insn[i]);
		fprintf(out, "\n");
	} else {
		fprintf(out, "code at %016" PRIx64 ": not in guest RAM\n", linear);
	}
}

/* --- the boot context (arch/arch.h) ---------------------------------------------------------------- */

/* General registers by number: rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15. */
#define X86_BOOT_GPRS 16

bool arch_boot_reg_valid(unsigned set, unsigned index)
{
	switch (set) {
	case 0:
		return index < X86_BOOT_GPRS;
	case 1: /* rip */
	case 2: /* rsp */
		return index == 0;
	}
	return false;
}

int arch_set_boot_regs(struct vm *vm, const struct arch_boot_reg *regs, unsigned n)
{
	struct hv_x86_regs r = { 0 };
	uint64_t *gpr[X86_BOOT_GPRS] = { &r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rsp, &r.rbp,
					 &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15 };
	struct hv_vcpu *vcpu;
	int ret;

	for (unsigned i = 0; i < n; i++)
		if (!arch_boot_reg_valid(regs[i].set, regs[i].index))
			return -EINVAL;
	if (!n)
		return 0;
	if (!vm->nr_vcpus)
		return -EINVAL;
	vcpu = vm->vcpus[0].hv_vcpu;
	ret = vm->hv_ops->x86_get_regs(vcpu, &r);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++) {
		if (regs[i].set == 0)
			*gpr[regs[i].index] = regs[i].value;
		else if (regs[i].set == 1)
			r.rip = regs[i].value;
		else
			r.rsp = regs[i].value;
	}
	return vm->hv_ops->x86_set_regs(vcpu, &r);
}
