/*
 * hcall: SMCCC calls through HVC #0, as bothy's filter and KVM route them (docs/hypercalls.md).
 * Prints one line per call, "HC <name> <x0> <x1> <x2> <x3>" in hex, then "HC done", and powers off.
 * The test (tests/integration/aarch64/payload-arm64-hcall.test) runs it with different filters and
 * guest ABIs and checks the lines.
 */
#include <stdint.h>

#define UART 0x09000000ul
#define UART_LSR 5
#define LSR_THRE 0x20

int main(void);

static void putc_uart(char c)
{
	volatile uint8_t *u = (volatile uint8_t *)UART;

	while (!(u[UART_LSR] & LSR_THRE))
		;
	u[0] = (uint8_t)c;
}

static void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

static void puthex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[17];

	for (int i = 15; i >= 0; i--, v >>= 4)
		buf[i] = digits[v & 0xf];
	buf[16] = 0;
	puts_uart(buf);
}

/* One SMCCC call: id in x0, arguments x1..x6, results x0..x3 (x4..x17 may be clobbered). */
static void call(const char *name, uint64_t fid, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
		 uint64_t a6)
{
	register uint64_t x0 __asm__("x0") = fid;
	register uint64_t x1 __asm__("x1") = a1;
	register uint64_t x2 __asm__("x2") = a2;
	register uint64_t x3 __asm__("x3") = a3;
	register uint64_t x4 __asm__("x4") = a4;
	register uint64_t x5 __asm__("x5") = a5;
	register uint64_t x6 __asm__("x6") = a6;

	__asm__ volatile("hvc #0"
			 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6)
			 :
			 : "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory");
	/* Copied out before any call: register variables are only bound to their registers in asm. */
	const uint64_t r[4] = { x0, x1, x2, x3 };

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
	puts_uart("hcall payload\r\n");
	/* A vendor-hypervisor id the test forwards to its handler (64-bit convention). */
	call("fwd", 0xc6000100, 1, 2, 3, 4, 5, 6);
	/* The same, 32-bit convention: arguments and results are truncated to 32 bits. */
	call("fwd32", 0x86000101, 0x1111111100000001ull, 2, 3, 4, 5, 6);
	/* An id the test denies. */
	call("deny", 0xc6000200, 0, 0, 0, 0, 0, 0);
	/* Vendor hypervisor call UID: KVM's own, or bothy's when the test hands the range to bothy. */
	call("uid", 0x8600ff01, 0, 0, 0, 0, 0, 0);
	/* TRNG_VERSION: KVM's TRNG, present unless the guest ABI clears fw.std_bmap's trng bit. */
	call("trng", 0x84000050, 0, 0, 0, 0, 0, 0);
	/* An id in no range: KVM answers NOT_SUPPORTED. */
	call("none", 0xc6000300, 0, 0, 0, 0, 0, 0);
	puts_uart("HC done\r\n");
	return 0;
}
