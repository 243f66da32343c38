/*
 * hcall: SMCCC calls through HVC #0, as bothy's filter and KVM route them (docs/hypercalls.md).
 * Prints one line per call, "HC <name> <x0> <x1> <x2> <x3>" in hex, then "HC done", and powers off.
 * The test (tests/integration/aarch64/payload-arm64-hcall.test) runs it with different filters and
 * guest ABIs and checks the lines.
 */
#include <stdint.h>

#include "lib.h"

#define NARGS 17 /* SMCCC 1.2: X1..X17 */

/*
 * One SMCCC call: id in x0, a[n - 1] in Xn for every n (so no register the handler sees holds
 * junk), results x0..x3 (x4..x17 may be clobbered). Loaded and stored by the asm itself: 18
 * register operands in and out would pass GCC's limit of 30.
 */
static void call(const char *name, uint64_t fid, const uint64_t a[NARGS])
{
	uint64_t r[4];

	__asm__ volatile("mov x0, %[fid]\n\t"
			 "ldp x1, x2, [%[a]]\n\t"
			 "ldp x3, x4, [%[a], #16]\n\t"
			 "ldp x5, x6, [%[a], #32]\n\t"
			 "ldp x7, x8, [%[a], #48]\n\t"
			 "ldp x9, x10, [%[a], #64]\n\t"
			 "ldp x11, x12, [%[a], #80]\n\t"
			 "ldp x13, x14, [%[a], #96]\n\t"
			 "ldp x15, x16, [%[a], #112]\n\t"
			 "ldr x17, [%[a], #128]\n\t"
			 "hvc #0\n\t"
			 "stp x0, x1, [%[r]]\n\t"
			 "stp x2, x3, [%[r], #16]"
			 :
			 : [fid] "r"(fid), [a] "r"(a), [r] "r"(r)
			 : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
			   "x15", "x16", "x17", "memory");

	puts_uart("HC ");
	puts_uart(name);
	for (int i = 0; i < 4; i++) {
		putc_uart(' ');
		puthex(r[i]);
	}
	puts_uart("\r\n");
}

int main(void)
{
	static const uint64_t none[NARGS], bits128[NARGS] = { 128 }, bits193[NARGS] = { 193 };
	uint64_t all[NARGS];

	/* Xn = n << 32 | n: every register distinct, both halves set. */
	for (unsigned n = 1; n <= NARGS; n++)
		all[n - 1] = (uint64_t)n << 32 | n;
	puts_uart("hcall payload\r\n");
	/* A vendor-hypervisor id the test forwards to its handler (64-bit convention). */
	call("fwd", 0xc6000100, (const uint64_t[NARGS]){ 1, 2, 3, 4, 5, 6 });
	/* The same, 32-bit convention: arguments and results are truncated to 32 bits. */
	call("fwd32", 0x86000101, (const uint64_t[NARGS]){ 0x1111111100000001ull, 2, 3, 4, 5, 6 });
	/* Forwarded with X1..X17 all set: the handler's answer depends on X7..X17 (SMCCC 1.2). */
	call("fwd17", 0xc6000102, all);
	/* The same registers, 32-bit convention: the handler gets W1..W7 only. */
	call("fwd17w", 0x86000103, all);
	/* An id the test denies. */
	call("deny", 0xc6000200, none);
	/* Vendor hypervisor call UID: KVM's own, or bothy's when the test hands the range to bothy. */
	call("uid", 0x8600ff01, none);
	/* TRNG_VERSION: KVM's TRNG, present unless the guest ABI clears fw.std_bmap's trng bit. */
	call("trng", 0x84000050, none);
	/* An id in no range: KVM answers NOT_SUPPORTED. */
	call("none", 0xc6000300, none);
	/* TRNG_GET_UUID: KVM's back end, or bothy's when the test hands the TRNG range to bothy. */
	call("trnguid", 0x84000052, none);
	/* TRNG_RND64 for 128 bits (X1 = 0, X2:X3 the bits), and for 193 (INVALID_PARAMETER). */
	call("rnd64", 0xc4000053, bits128);
	call("rnd64bad", 0xc4000053, bits193);
	/* Vendor hypervisor features: KVM's bitmap, or bothy's service bitmaps from the guest ABI. */
	call("feat", 0x86000000, none);
	puts_uart("HC done\r\n");
	return 0;
}
