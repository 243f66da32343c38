/*
 * triplefault: loads an IDT with limit 0, then raises an exception. It cannot
 * be delivered (#GP), neither can the #GP (#DF), nor the #DF: a triple fault,
 * which shuts the machine down. The VMM must stop with a non-zero status and a
 * diagnostic (bothy: status 3, "triple fault" and the registers). First prints
 *
 *   triplefault: empty IDT, <insn> at 0x<address of the faulting instruction>
 *
 * The exception comes from ud2 (#UD) unless the command line says fault=de
 * (divide by zero), fault=gp (loading a selector beyond the GDT) or fault=int3.
 * They differ for a KVM that emulates guest code instead of running it (the
 * software KVM of PLATFORM.md cannot emulate int3 in protected mode, and an
 * instruction emulator raises #DE and #GP itself but may not decode ud2).
 */
#include "lib.h"

extern const char triplefault_ud2[], triplefault_de[], triplefault_gp[], triplefault_int3[];

static const struct __attribute__((packed)) {
	uint16_t limit;
	uint32_t base;
} empty_idt = { 0, 0 };

static void announce(const char *insn, const char *at)
{
	kprintf("triplefault: empty IDT, %s at 0x%x\n", insn, (uint32_t)(uintptr_t)at);
}

int payload_main(const struct hvm_start_info *si)
{
	const char *cl = start_info_check(si, "triplefault") ? start_info_cmdline(si) : "";

	if (cmdline_has(cl, "fault=de")) {
		announce("div", triplefault_de);
		__asm__ volatile("lidt %0\n\t"
				 "xorl %%eax, %%eax\n\t"
				 "xorl %%edx, %%edx\n\t"
				 "xorl %%ecx, %%ecx\n\t"
				 ".globl triplefault_de\n"
				 "triplefault_de:\n\t"
				 "divl %%ecx"
				 : : "m"(empty_idt) : "eax", "ecx", "edx", "memory");
	} else if (cmdline_has(cl, "fault=gp")) {
		announce("mov to ds", triplefault_gp);
		__asm__ volatile("lidt %0\n\t"
				 "movl $0x1238, %%eax\n\t"
				 ".globl triplefault_gp\n"
				 "triplefault_gp:\n\t"
				 "movl %%eax, %%ds"
				 : : "m"(empty_idt) : "eax", "memory");
	} else if (cmdline_has(cl, "fault=int3")) {
		announce("int3", triplefault_int3);
		__asm__ volatile("lidt %0\n\t"
				 ".globl triplefault_int3\n"
				 "triplefault_int3:\n\t"
				 "int3"
				 : : "m"(empty_idt) : "memory");
	} else {
		announce("ud2", triplefault_ud2);
		__asm__ volatile("lidt %0\n\t"
				 ".globl triplefault_ud2\n"
				 "triplefault_ud2:\n\t"
				 "ud2"
				 : : "m"(empty_idt) : "memory");
	}
	kprintf("triplefault: still running after the fault\n");
	return 1;
}
