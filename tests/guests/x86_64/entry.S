/*
 * entry.S: PVH entry of every x86-64 test payload.
 *
 * The VMM enters _start in 32-bit protected mode with paging off, flat
 * CS/DS, interrupts off and EBX = physical address of struct hvm_start_info
 * (the Xen PVH boot ABI; the entry point comes from the ELF note below).
 * We load our own GDT, so nothing of the VMM's boot structures is used
 * after the first instruction, clear .bss, switch to our stack and call
 * payload_start(start_info) in lib.c, which never returns.
 */
#include "defs.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

	/* The PVH note: name "Xen", type 18, desc = 32-bit physical entry address. */
	.section .note.Xen, "a", @note
	.p2align 2
	.long 2f - 1f			/* namesz */
	.long 4f - 3f			/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.p2align 2
3:	.long _start
4:	.p2align 2

	.section .text.entry, "ax", @progbits
	.code32
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	lgdt payload_gdt_desc
	ljmp $SEL_CODE32, $1f
1:	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl %ebx, %esi			/* start_info, kept across the .bss clear */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	movl $boot_stack + BOOT_STACK_SIZE, %esp
	xorl %ebp, %ebp
	pushl %esi
	call payload_start
	/* payload_start does not return; fall through to halt regardless. */
	.size _start, . - _start

	.globl halt_forever
	.type halt_forever, @function
halt_forever:
	cli
	hlt
	jmp halt_forever
	.size halt_forever, . - halt_forever

	.section .data, "aw", @progbits
	.p2align 3
	.globl payload_gdt
payload_gdt:
	.quad 0				/* null */
	.quad 0x00cf9a000000ffff	/* SEL_CODE32: base 0, 4 GiB, 32-bit code */
	.quad 0x00cf92000000ffff	/* SEL_DATA:   base 0, 4 GiB, data */
payload_gdt_end:
	.if payload_gdt_end - payload_gdt - 1 - GDT_LIMIT
	.error "GDT_LIMIT in defs.h does not match payload_gdt"
	.endif
	.p2align 2
	.globl payload_gdt_desc
payload_gdt_desc:
	.word GDT_LIMIT
	.long payload_gdt

	.section .bss, "aw", @nobits
	.p2align 4
boot_stack:
	.skip BOOT_STACK_SIZE

	.section .note.GNU-stack, "", @progbits
