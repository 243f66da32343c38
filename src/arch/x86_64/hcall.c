/*
 * The x86-64 hypercall transport (docs/hypercalls.md), two forms of one gate
 * at port 0xe0, both with the function id in EAX and arguments in RBX, RCX,
 * RDX, RSI, RDI, R8 (arguments 7..17, which arm64 has, stay zero), results in
 * RAX..RDX:
 *   outl %eax, $0xe0   any call; bothy writes RAX..RDX back.
 *   inl $0xe0, %eax    32-bit-convention calls only. KVM itself puts the first
 *                      result in RAX (zero-extended) when it completes the IN,
 *                      so when RBX..RDX already hold the other three (zero, for
 *                      most calls) bothy writes no register at all: KVM's
 *                      register write-back is most of the gap between a
 *                      handled call and a bare exit.
 * One KVM_GET_REGS (free with KVM's synced registers) reads them all, for
 * this exit only. KVM moves RIP past the instruction when the vCPU resumes,
 * as for any port access, so RIP is written back unchanged.
 */
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/vm.h"

#define CR0_PE (1ull << 0)
#define EFER_LMA (1ull << 10)
#define RFLAGS_VM (1ull << 17)
#define X86_HCALL_ARGS 6

static unsigned current_cpl(const struct hv_x86_mode *m, const struct hv_x86_regs *r)
{
	if (!(m->cr0 & CR0_PE))
		return 0; /* real mode */
	if (r->rflags & RFLAGS_VM)
		return 3; /* virtual-8086 */
	return m->cs_selector & 3;
}

/* hcall_call.read_args: x86 has no arguments 7..17; they are cleared only for the VM owner. */
static int clear_rest(struct hcall_call *c, void *unused)
{
	(void)unused;
	memset(c->args + X86_HCALL_ARGS, 0, sizeof(c->args) - X86_HCALL_ARGS * sizeof(c->args[0]));
	return 0;
}

bool arch_hcall_exit(struct vcpu *vcpu, const struct hv_exit *exit)
{
	const struct hv_ops *ops = vcpu->vm->hv_ops;
	/* Every field the dispatcher reads is set below: zeroing all 17 arguments would slow each call. */
	struct hcall_call c;
	struct hv_x86_regs r;
	struct hv_x86_mode mode;
	bool wide, in_form;
	int ret;

	if (exit->reason != HV_EXIT_IO || exit->io.port != X86_PORT_HCALL)
		return false;
	if (exit->io.size != 4 || exit->io.count != 1) {
		log_guest("vCPU %u: hypercall gate %s with %u x %u bytes; only a 4-byte OUT or IN is a call",
			  vcpu->index, exit->io.write ? "written" : "read", exit->io.count, exit->io.size);
		if (!exit->io.write)
			memset(exit->io.data, 0xff, (size_t)exit->io.size * exit->io.count);
		return true;
	}
	in_form = !exit->io.write;
	if (in_form)
		memset(exit->io.data, 0xff, 4); /* NOT_SUPPORTED, should the registers be unreadable */
	ret = ops->x86_get_regs(vcpu->hv_vcpu, &r);
	if (!ret)
		ret = ops->x86_get_mode(vcpu->hv_vcpu, &mode);
	if (ret) {
		log_err("vCPU %u: cannot read registers for a hypercall: %s", vcpu->index, strerror(-ret));
		return true;
	}
	c.vcpu = vcpu->index;
	if (in_form)
		c.fid = (uint32_t)r.rax;
	else
		memcpy(&c.fid, exit->io.data, sizeof(c.fid)); /* EAX, as the OUT wrote it */
	c.results32 = in_form;
	c.is64 = (mode.efer & EFER_LMA) && mode.cs_l;
	c.user = current_cpl(&mode, &r) != 0;
	c.args[0] = r.rbx;
	c.args[1] = r.rcx;
	c.args[2] = r.rdx;
	c.args[3] = r.rsi;
	c.args[4] = r.rdi;
	c.args[5] = c.is64 ? r.r8 : 0; /* 32-bit code cannot set R8 */
	c.read_args = clear_rest;
	c.read_ctx = NULL;
	/* SMCCC: a 32-bit-convention call uses the low 32 bits of each register, whoever makes it. */
	wide = c.is64 && (c.fid & HCALL_64) && !in_form;
	if (!wide)
		for (int i = 0; i < X86_HCALL_ARGS; i++)
			c.args[i] = (uint32_t)c.args[i];

	hcall_dispatch(&vcpu->vm->hcall, &c);

	if (in_form) {
		uint32_t rax = (uint32_t)c.ret[0];

		memcpy(exit->io.data, &rax, sizeof(rax)); /* KVM zero-extends it into RAX */
		if (r.rbx == (uint32_t)c.ret[1] && r.rcx == (uint32_t)c.ret[2] && r.rdx == (uint32_t)c.ret[3])
			return true;
		/* RAX is written back unchanged: KVM completes the IN after applying these. */
	} else {
		r.rax = wide ? c.ret[0] : (uint32_t)c.ret[0];
	}
	r.rbx = wide ? c.ret[1] : (uint32_t)c.ret[1];
	r.rcx = wide ? c.ret[2] : (uint32_t)c.ret[2];
	r.rdx = wide ? c.ret[3] : (uint32_t)c.ret[3];
	ret = ops->x86_set_regs(vcpu->hv_vcpu, &r);
	if (ret)
		log_err("vCPU %u: cannot write hypercall results: %s", vcpu->index, strerror(-ret));
	return true;
}
