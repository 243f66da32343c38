/*
 * hcall-test: bothy's x86 hypercall gate (docs/hypercalls.md) seen from user
 * mode in a stock 64-bit Linux guest. A static program (make packs it as
 * /bin/hcall-test into build/<arch>/payloads/hcall-linux.cpio.gz, which
 * tests/integration/linux-hcall.test appends to the guest initramfs).
 *
 *   hcall-test selftest           checks what only 64-bit code sees (below);
 *                                 prints "hcall-test: ok", or one
 *                                 "hcall-test: FAIL <what>" line per failed
 *                                 check and exits 1
 *   hcall-test call FID [ARG...]  one call, FID in EAX and up to six arguments
 *                                 in RBX, RCX, RDX, RSI, RDI, R8 (numbers as
 *                                 strtoull base 0 reads them); prints
 *                                 "rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx"
 *
 * Both need ioperm() on ports 0xe0-0xe3 (a 32-bit OUT), so root (the guest's init is); without it
 * they say why and exit 2, as on a usage error. Whether bothy admits the call
 * from user mode is its business (--hcall-cpl any; by default a CPL 3 call
 * gets NOT_SUPPORTED, rax=00000000ffffffff: an SMC32 id gets 32-bit results).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>

#define HCALL_PORT 0xe0

#define TRNG_INVALID_PARAMETER UINT64_C(0xfffffffffffffffe) /* -2 */

#define FID_VENDOR_HYP_UID 0x8600ff01u
#define FID_FEATURES       0x86000000u
#define FID_CLOCK_PAIRING  0xc6000001u
#define FID_TRNG_VERSION   0x84000050u
#define FID_TRNG_RND32     0x84000053u
#define FID_TRNG_RND64     0xc4000053u
#define TRNG_VERSION_1_0   UINT64_C(0x10000)

/* Bits of the features call's RAX (the vendor-hypervisor bitmap). */
#define VENDOR_FEATURES      (1u << 0)
#define VENDOR_CLOCK_PAIRING (1u << 1)

/*
 * The vendor-hypervisor UUID, b07e1f3a-2c5d-4a98-8e61-f4d3a2b1c0e9, as the
 * UID call returns it: the UUID's 16 bytes in the order they are written
 * (b0 7e 1f 3a | 2c 5d 4a 98 | 8e 61 f4 d3 | a2 b1 c0 e9), each group of four
 * read as a little-endian 32-bit word (its first byte is bits 7:0), for RAX,
 * RBX, RCX, RDX; the upper halves are zero. So the first group b0 7e 1f 3a is
 * 0x3a1f7eb0. (KVM's own vendor UID is packed the same way.)
 */
static const uint64_t vendor_hyp_uid[4] = { 0x3a1f7eb0, 0x984a5d2c, 0xd3f4618e, 0xe9c0b1a2 };

struct hregs {
	uint64_t rax, rbx, rcx, rdx;
};

/*
 * One call through the gate: a 32-bit OUT of EAX to port 0xe0. RAX holds the
 * function id zero-extended; RAX..RDX come back as results, so they are
 * in-out operands; RSI, RDI and R8 are arguments only (bothy writes back
 * RAX..RDX alone). "memory" keeps the call in its place among the program's
 * other memory accesses (the clock test's nanosleep, the output).
 */
static struct hregs hcall(uint32_t fid, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
			  uint64_t a4, uint64_t a5)
{
	register uint64_t r8 __asm__("r8") = a5;
	uint64_t rax = fid, rbx = a0, rcx = a1, rdx = a2;

	__asm__ volatile("outl %%eax, %[port]"
			 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx)
			 : [port] "i"(HCALL_PORT), "S"(a3), "D"(a4), "r"(r8)
			 : "memory", "cc");
	return (struct hregs){ rax, rbx, rcx, rdx };
}

/*
 * The same call, with RSI, RDI and R8 as in-out operands, so that a VMM which
 * wrote them back cannot corrupt the compiled code and the self-test can see
 * it did. in_form: the IN form (32-bit-convention ids), `inl $0xe0, %eax`;
 * the function id is EAX, and the upper half of @rax is not part of it.
 */
static struct hregs hcall_keep(bool in_form, uint64_t rax, const uint64_t args[6], uint64_t after[3])
{
	register uint64_t r8 __asm__("r8") = args[5];
	uint64_t rbx = args[0], rcx = args[1], rdx = args[2], rsi = args[3], rdi = args[4];

	if (in_form)
		__asm__ volatile("inl %[port], %%eax"
				 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "+r"(r8)
				 : [port] "i"(HCALL_PORT)
				 : "memory", "cc");
	else
		__asm__ volatile("outl %%eax, %[port]"
				 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi), "+D"(rdi), "+r"(r8)
				 : [port] "i"(HCALL_PORT)
				 : "memory", "cc");
	after[0] = rsi;
	after[1] = rdi;
	after[2] = r8;
	return (struct hregs){ rax, rbx, rcx, rdx };
}

static struct hregs hcall1(uint32_t fid, uint64_t a0)
{
	return hcall(fid, a0, 0, 0, 0, 0, 0);
}

static int failures;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;

	fputs("hcall-test: FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

static void print_regs(const char *what, uint32_t fid, const struct hregs *r)
{
	printf("hcall-test: %s 0x%08" PRIx32 ": rax=%016" PRIx64 " rbx=%016" PRIx64
	       " rcx=%016" PRIx64 " rdx=%016" PRIx64 "\n",
	       what, fid, r->rax, r->rbx, r->rcx, r->rdx);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void test_trng(void)
{
	struct hregs r;

	/* 192 bits: all three registers carry entropy. */
	r = hcall1(FID_TRNG_RND64, 192);
	if (r.rax != 0)
		failf("TRNG_RND64(192): rax=%016" PRIx64 ", expected 0", r.rax);
	else if ((r.rbx | r.rcx | r.rdx) == 0)
		failf("TRNG_RND64(192): rbx, rcx and rdx are all zero");

	/* 64 bits: right-aligned, so only RDX. */
	r = hcall1(FID_TRNG_RND64, 64);
	if (r.rax != 0)
		failf("TRNG_RND64(64): rax=%016" PRIx64 ", expected 0", r.rax);
	else if (r.rbx != 0 || r.rcx != 0)
		failf("TRNG_RND64(64): rbx=%016" PRIx64 " rcx=%016" PRIx64 ", expected both 0",
		      r.rbx, r.rcx);

	/* Out of range: the error in RAX, zero in the other three. */
	r = hcall1(FID_TRNG_RND64, 193);
	if (r.rax != TRNG_INVALID_PARAMETER)
		failf("TRNG_RND64(193): rax=%016" PRIx64 ", expected %016" PRIx64, r.rax,
		      TRNG_INVALID_PARAMETER);
	else if ((r.rbx | r.rcx | r.rdx) != 0)
		failf("TRNG_RND64(193): rbx=%016" PRIx64 " rcx=%016" PRIx64 " rdx=%016" PRIx64
		      ", expected all 0",
		      r.rbx, r.rcx, r.rdx);

	/* A 64-bit argument is read whole: 2^32 + 64 is out of range, not 64. */
	r = hcall1(FID_TRNG_RND64, (UINT64_C(1) << 32) + 64);
	if (r.rax != TRNG_INVALID_PARAMETER)
		failf("TRNG_RND64(0x100000040): rax=%016" PRIx64 ", expected %016" PRIx64, r.rax,
		      TRNG_INVALID_PARAMETER);

	/* The 32-bit TRNG call from 64-bit code: 32-bit results, upper halves zero. */
	r = hcall1(FID_TRNG_RND32, 96);
	if (r.rax != 0)
		failf("TRNG_RND32(96): rax=%016" PRIx64 ", expected 0", r.rax);
	else if ((r.rbx | r.rcx | r.rdx) >> 32)
		failf("TRNG_RND32(96): rbx=%016" PRIx64 " rcx=%016" PRIx64 " rdx=%016" PRIx64
		      ", expected the upper halves zero",
		      r.rbx, r.rcx, r.rdx);
	else if ((r.rbx | r.rcx | r.rdx) == 0)
		failf("TRNG_RND32(96): rbx, rcx and rdx are all zero");
}

static void test_clock_pairing(void)
{
	/* 1.6e18 ns after the epoch is September 2020. */
	const uint64_t after_2020 = UINT64_C(1600000000000000000);
	struct hregs a, b;

	a = hcall(FID_CLOCK_PAIRING, 0, 0, 0, 0, 0, 0);
	print_regs("clock pairing", FID_CLOCK_PAIRING, &a);
	/* Signed, as results are: NOT_SUPPORTED (-1) is not a time. */
	if ((int64_t)a.rax <= (int64_t)after_2020) {
		failf("clock pairing: realtime rax=%" PRIu64 " ns, expected > %" PRIu64, a.rax,
		      after_2020);
		return;
	}
	if (a.rbx == 0 || a.rcx == 0) {
		failf("clock pairing: monotonic rbx=%" PRIu64 ", kvmclock rcx=%" PRIu64
		      ", expected both > 0",
		      a.rbx, a.rcx);
		return;
	}
	if (a.rdx != 0)
		failf("clock pairing: rdx=%016" PRIx64 ", expected 0", a.rdx);

	sleep_ms(10);
	b = hcall(FID_CLOCK_PAIRING, 0, 0, 0, 0, 0, 0);
	print_regs("clock pairing", FID_CLOCK_PAIRING, &b);
	if (b.rbx <= a.rbx)
		failf("clock pairing: monotonic did not advance over 10 ms: %" PRIu64 " then %" PRIu64,
		      a.rbx, b.rbx);
	if (b.rcx <= a.rcx)
		failf("clock pairing: kvmclock did not advance over 10 ms: %" PRIu64 " then %" PRIu64,
		      a.rcx, b.rcx);
}

static void test_uid(void)
{
	struct hregs r = hcall(FID_VENDOR_HYP_UID, 0, 0, 0, 0, 0, 0);

	if (r.rax != vendor_hyp_uid[0] || r.rbx != vendor_hyp_uid[1] || r.rcx != vendor_hyp_uid[2] ||
	    r.rdx != vendor_hyp_uid[3])
		failf("vendor-hypervisor UID: %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64
		      ", expected %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64,
		      r.rax, r.rbx, r.rcx, r.rdx, vendor_hyp_uid[0], vendor_hyp_uid[1],
		      vendor_hyp_uid[2], vendor_hyp_uid[3]);
}

static void test_features(void)
{
	const uint64_t want = VENDOR_FEATURES | VENDOR_CLOCK_PAIRING;
	struct hregs r = hcall(FID_FEATURES, 0, 0, 0, 0, 0, 0);

	print_regs("features", FID_FEATURES, &r);
	if ((int64_t)r.rax < 0 || (r.rax & want) != want)
		failf("features: rax=%016" PRIx64 ", expected a bitmap with bits 0 and 1 set", r.rax);
}

/* RSI, RDI and R8 (64-bit patterns) come back unchanged: bothy writes only RAX..RDX. */
static void test_preserved(void)
{
	static const char *const names[3] = { "rsi", "rdi", "r8" };
	const uint64_t args[6] = { 0, 0, 0, UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210),
				   UINT64_C(0x8badf00dcafef00d) };
	uint64_t after[3];

	hcall_keep(false, FID_TRNG_VERSION, args, after);
	for (int i = 0; i < 3; i++)
		if (after[i] != args[3 + i])
			failf("%s changed by a call: %016" PRIx64 " -> %016" PRIx64, names[i],
			      args[3 + i], after[i]);
}

static void test_in_form(void)
{
	const uint64_t garbage = UINT64_C(0xdeadbeef) << 32;
	uint64_t args[6] = { 7, 8, 9, UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210),
			     UINT64_C(0x8badf00dcafef00d) };
	uint64_t after[3];
	struct hregs r;

	/* TRNG_VERSION with stale RBX..RDX and garbage above EAX: 1.0, zero in the other three. */
	r = hcall_keep(true, garbage | FID_TRNG_VERSION, args, after);
	if (r.rax != TRNG_VERSION_1_0 || r.rbx || r.rcx || r.rdx)
		failf("in form: TRNG_VERSION: rax=%016" PRIx64 " rbx=%016" PRIx64 " rcx=%016" PRIx64
		      " rdx=%016" PRIx64 ", expected 0x10000 0 0 0",
		      r.rax, r.rbx, r.rcx, r.rdx);
	for (int i = 0; i < 3; i++)
		if (after[i] != args[3 + i])
			failf("in form: register %d of rsi/rdi/r8 changed: %016" PRIx64, i, after[i]);

	/* TRNG_RND32(96): 32-bit results, RAX's upper half cleared by the IN. */
	args[0] = 96;
	r = hcall_keep(true, garbage | FID_TRNG_RND32, args, after);
	if (r.rax != 0)
		failf("in form: TRNG_RND32(96): rax=%016" PRIx64 ", expected 0", r.rax);
	else if ((r.rbx | r.rcx | r.rdx) >> 32 || (r.rbx | r.rcx | r.rdx) == 0)
		failf("in form: TRNG_RND32(96): rbx=%016" PRIx64 " rcx=%016" PRIx64 " rdx=%016" PRIx64
		      ", expected 32-bit values, not all zero",
		      r.rbx, r.rcx, r.rdx);

	/* A 64-bit-convention id cannot get its 64-bit results through IN: NOT_SUPPORTED, 32 bits. */
	args[0] = 64;
	r = hcall_keep(true, FID_TRNG_RND64, args, after);
	if (r.rax != UINT32_MAX || r.rbx || r.rcx || r.rdx)
		failf("in form: TRNG_RND64: rax=%016" PRIx64 " rbx=%016" PRIx64 " rcx=%016" PRIx64
		      " rdx=%016" PRIx64 ", expected 0xffffffff 0 0 0",
		      r.rax, r.rbx, r.rcx, r.rdx);
}

static int selftest(void)
{
	test_trng();
	test_clock_pairing();
	test_uid();
	test_features();
	test_preserved();
	test_in_form();
	if (failures)
		return 1;
	puts("hcall-test: ok");
	return 0;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (*s == '-' || *s == '\0')
		return false;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end != '\0')
		return false;
	*v = x;
	return true;
}

/* parse_call: FID and up to six arguments from argv; false (having said why) if malformed. */
static bool parse_call(int argc, char **argv, uint32_t *fid, uint64_t args[6])
{
	uint64_t f;

	if (argc < 1 || argc > 7) {
		fprintf(stderr, "hcall-test: call FID [ARG...] takes a function id and up to 6 arguments\n");
		return false;
	}
	if (!parse_u64(argv[0], &f) || f > UINT32_MAX) {
		fprintf(stderr, "hcall-test: '%s' is not a 32-bit function id\n", argv[0]);
		return false;
	}
	*fid = (uint32_t)f;
	for (int i = 1; i < argc; i++) {
		if (!parse_u64(argv[i], &args[i - 1])) {
			fprintf(stderr, "hcall-test: argument '%s' is not a 64-bit number\n", argv[i]);
			return false;
		}
	}
	return true;
}

static int usage(void)
{
	fprintf(stderr, "usage: hcall-test selftest\n"
			"       hcall-test call FID [ARG...]   (at most 6 arguments)\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool self;
	uint32_t fid = 0;
	uint64_t args[6] = { 0 };
	struct hregs r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "selftest") == 0)
		self = true;
	else if (argc >= 3 && strcmp(argv[1], "call") == 0)
		self = false;
	else
		return usage();
	if (!self && !parse_call(argc - 2, argv + 2, &fid, args))
		return 2;

	/* A 4-byte OUT needs permission for all four ports it touches, 0xe0-0xe3. */
	if (ioperm(HCALL_PORT, 4, 1) != 0) {
		fprintf(stderr, "hcall-test: ioperm(0x%x, 4): %s (needs root, CAP_SYS_RAWIO)\n", HCALL_PORT,
			strerror(errno));
		return 2;
	}
	if (self)
		return selftest();
	r = hcall(fid, args[0], args[1], args[2], args[3], args[4], args[5]);
	printf("rax=%016" PRIx64 " rbx=%016" PRIx64 " rcx=%016" PRIx64 " rdx=%016" PRIx64 "\n", r.rax,
	       r.rbx, r.rcx, r.rdx);
	return 0;
}
