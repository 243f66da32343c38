/*
 * The arm64 Image header (Documentation/arch/arm64/booting.rst) and the entry: a stack, main(),
 * then PSCI SYSTEM_OFF, which ends the VM.
 */
	.section .head, "ax"
	.globl _start
_start:
	b	start			/* code0 */
	.long	0			/* code1 */
	.quad	0			/* text_offset */
	.quad	_end - _start		/* image_size, stack included */
	.quad	0xa			/* flags: little-endian, 4K pages, anywhere in RAM */
	.quad	0, 0, 0			/* reserved */
	.ascii	"ARM\x64"		/* magic */
	.long	0			/* reserved (PE header offset) */

	.text
start:
	ldr	x1, =__stack_top
	mov	sp, x1
	bl	main
	ldr	x0, =0x84000008		/* PSCI SYSTEM_OFF */
	hvc	#0
1:	wfi
	b	1b
