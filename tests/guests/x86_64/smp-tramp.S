/*
 * smp-tramp.S: where application processors start.
 *
 * ap_trampoline..ap_trampoline_end is copied to AP_TRAMPOLINE (a page below
 * 1 MiB) by smp.c; a SIPI with vector AP_TRAMPOLINE >> 12 starts an AP there
 * in real mode with CS = AP_TRAMPOLINE >> 4, IP = 0. It loads the payload's
 * GDT (its descriptor travels inside the trampoline, so it is reachable from
 * real mode), enters protected mode and jumps to ap_entry32 in the image.
 * There each AP takes a ticket (lock xadd), which picks its stack, and calls
 * ap_main(ticket) in smp.c.
 */
#include "defs.h"

	.section .text, "ax", @progbits
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	cld
	lgdtl %cs:(ap_gdt_desc - ap_trampoline)
	movl %cr0, %eax
	orl $1, %eax			/* PE */
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.p2align 2
ap_gdt_desc:
	.word GDT_LIMIT
	.long payload_gdt
ap_trampoline_end:

	.code32
	.type ap_entry32, @function
ap_entry32:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $1, %eax
	lock xaddl %eax, ap_ticket
	cmpl $MAX_APS, %eax
	jae halt_forever		/* more APs than stacks: stay out of the way */
	leal 1(%eax), %ecx
	shll $AP_STACK_SHIFT, %ecx
	addl $ap_stacks, %ecx
	movl %ecx, %esp
	xorl %ebp, %ebp
	pushl %eax
	call ap_main
	jmp halt_forever
	.size ap_entry32, . - ap_entry32

	.section .data, "aw", @progbits
	.p2align 2
ap_ticket:
	.long 0

	/* Not cleared at boot, not stored in the file. */
	.section .noinit, "aw", @nobits
	.p2align 4
ap_stacks:
	.skip MAX_APS * AP_STACK_SIZE

	.section .note.GNU-stack, "", @progbits
