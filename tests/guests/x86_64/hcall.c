/*
 * hcall: the x86 hypercall gate (docs/hypercalls.md) seen from a 32-bit guest.
 * A call is `outl %eax, $0xe0` (or, for a 32-bit-convention id, `inl $0xe0,
 * %eax`) with the function id in EAX and arguments in EBX, ECX, EDX, ESI, EDI;
 * results come back in EAX..EDX. The command line picks what the payload does:
 *
 *   (no mode word)      self-test of bothy's built-in services: one line per check,
 *                       then "hcall ok" (status 0), or "hcall FAIL: <what>" (status 1)
 *                       at the first failure. expect_trng=0: the guest ABI hides TRNG.
 *   deny=0xID           calls ID once:  "deny 0x<ID>: rax=<hex>"
 *   forward=0xID        calls ID with EBX..EDI = 0x11111111 .. 0x55555555:
 *                       "forward 0x<ID>: rax=<hex> rbx=<hex> rcx=<hex> rdx=<hex>";
 *                       repeat=N: N calls, one line each
 *   bench=bare|handled|handled-out|forward n=N [id=0xID]
 *                       N calls timed with the LAPIC timer, nothing printed in the loop:
 *                       "hcall bench <mode>: N calls in U us (D ns each)". bare: outl of
 *                       0 to the unclaimed port 0x500; handled: TRNG_VERSION through the
 *                       IN form; handled-out: the same through the OUT form; forward:
 *                       ID (default 0x86001000). Calls whose RAX is not what bothy (or
 *                       hcall-handler) answers are counted and reported after the loop.
 *   bench=mixed n=N [blocks=B]
 *                       N bare exits, N handled and N handled-out calls in B (default 20)
 *                       interleaved blocks, after one untimed call of each form (so all
 *                       kinds run on a vCPU that has made a hypercall, i.e. under the same
 *                       KVM register sync): "hcall bench mixed: N+N+N calls in B blocks:
 *                       bare D1 ns, handled D2 ns, handled-out D3 ns each". All kinds see
 *                       the same moment of the host, so their ratios do not carry the
 *                       run-to-run swings of an emulated host.
 *
 * Hex values are printed as 8 digits. Under a VMM without the gate (QEMU) a
 * call is an ignored port write: every register comes back unchanged.
 */
#include "lib.h"

#define HCALL_PORT 0xe0 /* in the asm below as an immediate: EDX stays an argument */
#define FREE_PORT  0x500

#define NOT_SUPPORTED      0xffffffffu
#define INVALID_PARAMETERS 0xfffffffeu

#define FID_UID(owner)      (0x8000ff01u | (uint32_t)(owner) << 24)
#define FID_REVISION(owner) (0x8000ff03u | (uint32_t)(owner) << 24)
#define FID_FEATURES        0x86000000u
#define FID_CLOCK_PAIRING   0xc6000001u
#define FID_TRNG_VERSION    0x84000050u
#define FID_TRNG_FEATURES   0x84000051u
#define FID_TRNG_GET_UUID   0x84000052u
#define FID_TRNG_RND32      0x84000053u
#define FID_TRNG_RND64      0xc4000053u

#define TRNG_VERSION_1_0   0x10000u
#define VENDOR_FUNC_FEAT   (1u << 0) /* features bitmap (RAX): the features call */
#define VENDOR_PTP         (1u << 1) /*                        clock pairing */
#define STD_TRNG           (1u << 0) /* standard-secure bitmap (RBX): TRNG */

#define DEFAULT_BENCH_N    20000
#define DEFAULT_FORWARD_ID 0x86001000u
/* What tests/tools/hcall-handler answers in RAX. */
#define HANDLER_RAX(fid)   ((fid) ^ 0xa5a5a5a5u)

/*
 * A UUID as SMCCC returns it: the UUID's 16 bytes in canonical (written) order,
 * read as four little-endian 32-bit words for RAX, RBX, RCX, RDX. UUID(...) takes
 * those bytes as written and pastes each word at build time, e.g.
 * a7d6c9d1-4b6e-4f5e-9a57-2b1f0c3e8d41 -> bytes a7 d6 c9 d1 | 4b 6e 4f 5e | ...
 * -> word0 = 0xd1c9d6a7, word1 = 0x5e4f6e4b, word2 = 0x1f2b579a, word3 = 0x418d3e0c.
 */
#define LE_WORD(b0, b1, b2, b3) 0x##b3##b2##b1##b0##u
#define UUID(a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3) \
	{ LE_WORD(a0, a1, a2, a3), LE_WORD(b0, b1, b2, b3), LE_WORD(c0, c1, c2, c3), LE_WORD(d0, d1, d2, d3) }

/* The UUIDs of docs/hypercalls.md. */
static const uint32_t uuid_std[4] = /* a7d6c9d1-4b6e-4f5e-9a57-2b1f0c3e8d41 */
	UUID(a7, d6, c9, d1, 4b, 6e, 4f, 5e, 9a, 57, 2b, 1f, 0c, 3e, 8d, 41);
static const uint32_t uuid_std_hyp[4] = /* 5c0f6a2e-93d1-4e27-b8a4-6d2e91f07c35 */
	UUID(5c, 0f, 6a, 2e, 93, d1, 4e, 27, b8, a4, 6d, 2e, 91, f0, 7c, 35);
static const uint32_t uuid_vendor_hyp[4] = /* b07e1f3a-2c5d-4a98-8e61-f4d3a2b1c0e9 */
	UUID(b0, 7e, 1f, 3a, 2c, 5d, 4a, 98, 8e, 61, f4, d3, a2, b1, c0, e9);
static const uint32_t uuid_trng[4] = /* e0c7a51b-6f3d-4c82-9b14-0a5d7e2f9c63 */
	UUID(e0, c7, a5, 1b, 6f, 3d, 4c, 82, 9b, 14, 0a, 5d, 7e, 2f, 9c, 63);
_Static_assert(LE_WORD(a7, d6, c9, d1) == 0xd1c9d6a7u, "UUID words are little-endian");

/* The registers of a call: EAX..EDX the results, ESI and EDI as they came back. */
struct regs {
	uint32_t a, b, c, d, si, di;
};

/*
 * One hypercall, through the OUT form or (in_form, 32-bit-convention ids only) the IN form.
 * EAX..EDI are all inputs; EAX..EDX are results. The gate does not write ESI or EDI, but they
 * are in/out here so the self-test can check that, and so nothing assumes it. (EBX is free:
 * this code is not PIC.) Inline, so that in_form is a constant in the benchmark's loops.
 */
static inline struct regs gate(bool in_form, uint32_t fid, uint32_t b, uint32_t c, uint32_t d, uint32_t si,
			       uint32_t di)
{
	struct regs r = { fid, b, c, d, si, di };

	if (in_form)
		__asm__ volatile("inl $0xe0, %%eax"
				 : "+a"(r.a), "+b"(r.b), "+c"(r.c), "+d"(r.d), "+S"(r.si), "+D"(r.di)
				 :
				 : "memory");
	else
		__asm__ volatile("outl %%eax, $0xe0"
				 : "+a"(r.a), "+b"(r.b), "+c"(r.c), "+d"(r.d), "+S"(r.si), "+D"(r.di)
				 :
				 : "memory");
	return r;
}

static inline struct regs hcall(uint32_t fid, uint32_t b, uint32_t c, uint32_t d, uint32_t si, uint32_t di)
{
	return gate(false, fid, b, c, d, si, di);
}

static inline struct regs hcall0(uint32_t fid)
{
	return gate(false, fid, 0, 0, 0, 0, 0);
}

static inline struct regs hcall_in(uint32_t fid, uint32_t b, uint32_t c, uint32_t d, uint32_t si, uint32_t di)
{
	return gate(true, fid, b, c, d, si, di);
}

static inline struct regs hcall_in0(uint32_t fid)
{
	return gate(true, fid, 0, 0, 0, 0, 0);
}

/* --- self-test ----------------------------------------------------------------------------- */

#define RAX 1u
#define RBX 2u
#define RCX 4u
#define RDX 8u

/* Are the registers in @mask (RAX..RDX) as wanted? If not, prints the FAIL line. */
static bool regs_are(const char *what, uint32_t fid, const struct regs *r, unsigned mask, uint32_t a, uint32_t b,
		     uint32_t c, uint32_t d)
{
	static const char *const names[4] = { "rax", "rbx", "rcx", "rdx" };
	const uint32_t got[4] = { r->a, r->b, r->c, r->d }, want[4] = { a, b, c, d };
	bool ok = true;

	for (unsigned i = 0; i < 4; i++)
		if ((mask & (1u << i)) && got[i] != want[i])
			ok = false;
	if (ok)
		return true;
	kprintf("hcall FAIL: %s (0x%08x):", what, fid);
	for (unsigned i = 0; i < 4; i++)
		if (mask & (1u << i))
			kprintf(" %s=%08x (expected %08x)", names[i], got[i], want[i]);
	kprintf("\n");
	return false;
}

/* @fid answers NOT_SUPPORTED in RAX. */
static bool not_supported(const char *what, uint32_t fid)
{
	struct regs r = hcall0(fid);

	if (!regs_are(what, fid, &r, RAX, NOT_SUPPORTED, 0, 0, 0))
		return false;
	kprintf("hcall: %s 0x%08x: not supported\n", what, fid);
	return true;
}

static bool fail(const char *what, uint32_t fid, const struct regs *r)
{
	kprintf("hcall FAIL: %s (0x%08x): rax=%08x rbx=%08x rcx=%08x rdx=%08x\n", what, fid, r->a, r->b, r->c, r->d);
	return false;
}

/* Owners 4, 5, 6: revision 1.0 and the UID. The inputs are junk the results must replace. */
static bool check_queries(void)
{
	static const uint32_t *const uuids[3] = { uuid_std, uuid_std_hyp, uuid_vendor_hyp };

	for (unsigned owner = 4; owner <= 6; owner++) {
		uint32_t fid = FID_REVISION(owner);
		struct regs r = hcall(fid, 0x5a5a5a5au, 0xa5a5a5a5u, 0x3c3c3c3cu, 0x13579bdfu, 0x2468ace0u);
		const uint32_t *u;

		if (!regs_are("revision", fid, &r, RAX | RBX, 1, 0, 0, 0))
			return false;
		if (r.si != 0x13579bdfu || r.di != 0x2468ace0u) {
			kprintf("hcall FAIL: revision (0x%08x) changed esi/edi: %08x %08x\n", fid, r.si, r.di);
			return false;
		}
		kprintf("hcall: revision 0x%08x: %u.%u, esi/edi kept\n", fid, r.a, r.b);

		fid = FID_UID(owner);
		u = uuids[owner - 4];
		r = hcall(fid, 0x5a5a5a5au, 0xa5a5a5a5u, 0x3c3c3c3cu, 0, 0);
		if (!regs_are("uid", fid, &r, RAX | RBX | RCX | RDX, u[0], u[1], u[2], u[3]))
			return false;
		kprintf("hcall: uid 0x%08x: %08x %08x %08x %08x\n", fid, r.a, r.b, r.c, r.d);
	}
	return true;
}

static bool check_features(bool trng)
{
	struct regs r = hcall(FID_FEATURES, 0x5a5a5a5au, 0xa5a5a5a5u, 0x3c3c3c3cu, 0, 0);

	if ((r.a & (VENDOR_FUNC_FEAT | VENDOR_PTP)) != (VENDOR_FUNC_FEAT | VENDOR_PTP))
		return fail("features: rax lacks bit 0 (features) or 1 (clock pairing)", FID_FEATURES, &r);
	if (!!(r.b & STD_TRNG) != trng)
		return fail(trng ? "features: rbx lacks bit 0 (TRNG)" : "features: rbx has bit 0 (TRNG) although hidden",
			    FID_FEATURES, &r);
	kprintf("hcall: features 0x%08x: rax=%08x rbx=%08x rcx=%08x\n", FID_FEATURES, r.a, r.b, r.c);
	return true;
}

static bool check_trng(void)
{
	struct regs r, r2;

	r = hcall0(FID_TRNG_VERSION);
	if (!regs_are("trng version", FID_TRNG_VERSION, &r, RAX, TRNG_VERSION_1_0, 0, 0, 0))
		return false;
	kprintf("hcall: trng version: %08x\n", r.a);

	r = hcall(FID_TRNG_FEATURES, FID_TRNG_RND32, 0, 0, 0, 0);
	if (!regs_are("trng features(rnd32)", FID_TRNG_FEATURES, &r, RAX, 0, 0, 0, 0))
		return false;
	r = hcall(FID_TRNG_FEATURES, 0x84000099u, 0, 0, 0, 0);
	if (!regs_are("trng features(0x84000099)", FID_TRNG_FEATURES, &r, RAX, NOT_SUPPORTED, 0, 0, 0))
		return false;
	kprintf("hcall: trng features: rnd32 00000000, 0x84000099 ffffffff\n");

	r = hcall0(FID_TRNG_GET_UUID);
	if (!regs_are("trng uuid", FID_TRNG_GET_UUID, &r, RAX | RBX | RCX | RDX, uuid_trng[0], uuid_trng[1],
		      uuid_trng[2], uuid_trng[3]))
		return false;
	kprintf("hcall: trng uuid: %08x %08x %08x %08x\n", r.a, r.b, r.c, r.d);

	/* 32 bits: RDX only; the inputs in ECX/EDX are junk the results must replace. */
	r = hcall(FID_TRNG_RND32, 32, 0x5a5a5a5au, 0xa5a5a5a5u, 0, 0);
	if (!regs_are("trng rnd32(32)", FID_TRNG_RND32, &r, RAX | RBX | RCX, 0, 0, 0, 0))
		return false;
	r2 = hcall(FID_TRNG_RND32, 32, 0x5a5a5a5au, 0xa5a5a5a5u, 0, 0);
	if (!regs_are("trng rnd32(32), second call", FID_TRNG_RND32, &r2, RAX | RBX | RCX, 0, 0, 0, 0))
		return false;
	if (r.d == r2.d) /* 2^-32 */
		return fail("trng rnd32(32): two calls gave the same rdx", FID_TRNG_RND32, &r2);
	kprintf("hcall: trng rnd32(32): rax=rbx=rcx=0, rdx differs between calls\n");

	/* 96 bits: every word is entropy; two calls differ in each (a word left as it was would not). */
	r = hcall(FID_TRNG_RND32, 96, 0, 0, 0, 0);
	r2 = hcall(FID_TRNG_RND32, 96, 0, 0, 0, 0);
	if (!regs_are("trng rnd32(96)", FID_TRNG_RND32, &r, RAX, 0, 0, 0, 0) ||
	    !regs_are("trng rnd32(96), second call", FID_TRNG_RND32, &r2, RAX, 0, 0, 0, 0))
		return false;
	if (r.b == r2.b || r.c == r2.c || r.d == r2.d)
		return fail("trng rnd32(96): a word is the same in two calls", FID_TRNG_RND32, &r2);
	kprintf("hcall: trng rnd32(96): rbx, rcx, rdx all filled\n");

	r = hcall(FID_TRNG_RND32, 0, 0, 0, 0, 0);
	if (!regs_are("trng rnd32(0)", FID_TRNG_RND32, &r, RAX, INVALID_PARAMETERS, 0, 0, 0))
		return false;
	r = hcall(FID_TRNG_RND32, 97, 0, 0, 0, 0);
	if (!regs_are("trng rnd32(97)", FID_TRNG_RND32, &r, RAX, INVALID_PARAMETERS, 0, 0, 0))
		return false;
	kprintf("hcall: trng rnd32(0), rnd32(97): invalid parameters\n");
	return true;
}

/* The guest ABI hides TRNG: every TRNG function is NOT_SUPPORTED. */
static bool check_trng_hidden(void)
{
	static const uint32_t fids[] = { FID_TRNG_VERSION, FID_TRNG_FEATURES, FID_TRNG_GET_UUID };
	struct regs r;

	for (unsigned i = 0; i < sizeof(fids) / sizeof(fids[0]); i++)
		if (!not_supported("hidden trng", fids[i]))
			return false;
	r = hcall(FID_TRNG_RND32, 32, 0, 0, 0, 0);
	if (!regs_are("hidden trng rnd32(32)", FID_TRNG_RND32, &r, RAX, NOT_SUPPORTED, 0, 0, 0))
		return false;
	kprintf("hcall: hidden trng 0x%08x: not supported\n", FID_TRNG_RND32);
	return true;
}

/* ESI and EDI as the call passed them: the gate never writes them. */
static bool si_di_kept(const char *what, const struct regs *r)
{
	if (r->si == 0x44444444u && r->di == 0x55555555u)
		return true;
	kprintf("hcall FAIL: %s: esi=%08x edi=%08x (expected 44444444 55555555)\n", what, r->si, r->di);
	return false;
}

/*
 * The IN form: the same results as the OUT form, whatever RBX..RDX held before (bothy writes them
 * only when they differ); a 1-byte read is no call (all ones in AL, every register kept).
 */
static bool check_in_form(void)
{
	struct regs r = hcall_in(FID_REVISION(6), 0, 0, 0, 0x44444444u, 0x55555555u);
	uint8_t al = 0x12;
	uint32_t b = 0x11111111u;

	if (!regs_are("in: revision", FID_REVISION(6), &r, RAX | RBX | RCX | RDX, 1, 0, 0, 0) ||
	    !si_di_kept("in: revision", &r))
		return false;
	r = hcall_in(FID_REVISION(6), 0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u, 0x55555555u);
	if (!regs_are("in: revision, stale rbx..rdx", FID_REVISION(6), &r, RAX | RBX | RCX | RDX, 1, 0, 0, 0) ||
	    !si_di_kept("in: revision, stale rbx..rdx", &r))
		return false;
	r = hcall_in(FID_UID(6), 0, 0, 0, 0x44444444u, 0x55555555u);
	if (!regs_are("in: vendor hyp uid", FID_UID(6), &r, RAX | RBX | RCX | RDX, uuid_vendor_hyp[0],
		      uuid_vendor_hyp[1], uuid_vendor_hyp[2], uuid_vendor_hyp[3]))
		return false;
	r = hcall_in(0x8600abcdu, 7, 8, 9, 0x44444444u, 0x55555555u);
	if (!regs_are("in: unknown function of owner 6", 0x8600abcdu, &r, RAX | RBX | RCX | RDX, NOT_SUPPORTED, 0,
		      0, 0))
		return false;
	__asm__ volatile("inb $0xe0, %%al" : "+a"(al), "+b"(b) : : "memory");
	if (al != 0xff || b != 0x11111111u) {
		kprintf("hcall FAIL: inb port 0x%x: al=%02x ebx=%08x (expected ff 11111111)\n", HCALL_PORT, al, b);
		return false;
	}
	kprintf("hcall: in form: revision, uid, unknown id as the out form; inb: ff, registers kept\n");
	return true;
}

static int self_test(bool trng)
{
	if (!check_queries() || !check_features(trng) || !(trng ? check_trng() : check_trng_hidden()) ||
	    !not_supported("rnd64 from 32-bit code", FID_TRNG_RND64) ||
	    !not_supported("clock pairing from 32-bit code", FID_CLOCK_PAIRING) ||
	    !not_supported("unknown function of owner 6", 0x8600abcdu) ||
	    !not_supported("not a fast call (bit 31 clear)", 0x06000000u) || !check_in_form())
		return 1;
	kprintf("hcall ok\n");
	return 0;
}

/* --- benchmark ----------------------------------------------------------------------------- */

static int bench(const char *mode, uint32_t n, uint32_t fid, uint32_t want, bool in_form)
{
	uint32_t elapsed, wrong = 0, last = 0;

	if (!lapic_timer_start(0xffffffffu)) {
		kprintf("hcall bench %s: no LAPIC timer, not timed\n", mode);
		return 1;
	}
	if (!fid) {
		for (uint32_t i = 0; i < n; i++)
			outl(FREE_PORT, 0);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			struct regs r = in_form ? hcall_in0(fid) : hcall0(fid);

			if (r.a != want) {
				wrong++;
				last = r.a;
			}
		}
	}
	elapsed = 0xffffffffu - lapic_timer_remaining(); /* 16 ns counts, < 68.7 s */
	kprintf("hcall bench %s: %u calls in %u us (%u ns each)\n", mode, n,
		lapic_counts_to_us(elapsed), lapic_counts_per_item_ns(elapsed, n));
	if (wrong)
		kprintf("hcall bench %s: %u of %u calls returned rax=%08x, expected %08x\n", mode, wrong, n, last, want);
	return 0;
}

/* The timer counts down: counts elapsed since *mark, and *mark moved to now. */
static uint32_t lap(uint32_t *mark)
{
	uint32_t now = lapic_timer_remaining(), d = *mark - now;

	*mark = now;
	return d;
}

static int bench_mixed(uint32_t n, uint32_t blocks)
{
	uint32_t per = n / blocks, bare = 0, handled = 0, handled_out = 0, wrong = 0, mark;

	if (!blocks || !per) {
		kprintf("hcall bench mixed: n=%u blocks=%u leaves no calls per block\n", n, blocks);
		return EXIT_SETUP_ERROR;
	}
	if (hcall_in0(FID_TRNG_VERSION).a != TRNG_VERSION_1_0 || hcall0(FID_TRNG_VERSION).a != TRNG_VERSION_1_0)
		wrong++;
	if (!lapic_timer_start(0xffffffffu)) {
		kprintf("hcall bench mixed: no LAPIC timer, not timed\n");
		return 1;
	}
	mark = 0xffffffffu;
	for (uint32_t b = 0; b < blocks; b++) {
		/* Rotate which kind goes first, so none always follows the timer read. */
		for (uint32_t k = 0; k < 3; k++) {
			switch ((b + k) % 3) {
			case 0:
				for (uint32_t i = 0; i < per; i++)
					outl(FREE_PORT, 0);
				bare += lap(&mark);
				break;
			case 1:
				for (uint32_t i = 0; i < per; i++)
					if (hcall_in0(FID_TRNG_VERSION).a != TRNG_VERSION_1_0)
						wrong++;
				handled += lap(&mark);
				break;
			default:
				for (uint32_t i = 0; i < per; i++)
					if (hcall0(FID_TRNG_VERSION).a != TRNG_VERSION_1_0)
						wrong++;
				handled_out += lap(&mark);
				break;
			}
		}
	}
	kprintf("hcall bench mixed: %u+%u+%u calls in %u blocks: bare %u ns, handled %u ns, handled-out %u ns each\n",
		per * blocks, per * blocks, per * blocks, blocks, lapic_counts_per_item_ns(bare, per * blocks),
		lapic_counts_per_item_ns(handled, per * blocks), lapic_counts_per_item_ns(handled_out, per * blocks));
	if (wrong)
		kprintf("hcall bench mixed: %u handled calls did not return TRNG_VERSION\n", wrong);
	return 0;
}

/* --- modes --------------------------------------------------------------------------------- */

static int usage(void)
{
	kprintf("hcall: usage: [expect_trng=0|1] | deny=ID | forward=ID [repeat=N] | "
		"bench=bare|handled|handled-out|forward|mixed [n=N] [id=ID] [blocks=B]\n");
	return EXIT_SETUP_ERROR;
}

int payload_main(const struct hvm_start_info *si)
{
	uint32_t id, n = DEFAULT_BENCH_N, repeat = 1, trng = 1, dummy;
	const char *cl;
	int has;

	if (!start_info_check(si, "hcall"))
		return EXIT_SETUP_ERROR;
	cl = start_info_cmdline(si);

	has = cmdline_u32(cl, "deny", &id);
	if (has < 0)
		return usage();
	if (has) {
		struct regs r = hcall0(id);

		kprintf("deny 0x%08x: rax=%08x\n", id, r.a);
		return 0;
	}

	has = cmdline_u32(cl, "forward", &id);
	if (has < 0 || cmdline_u32(cl, "repeat", &repeat) < 0)
		return usage();
	if (has) {
		for (uint32_t i = 0; i < repeat; i++) {
			struct regs r = hcall(id, 0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u, 0x55555555u);

			kprintf("forward 0x%08x: rax=%08x rbx=%08x rcx=%08x rdx=%08x\n", id, r.a, r.b, r.c, r.d);
		}
		return 0;
	}

	/* "bench=WORD": cmdline_u32 finds the key (a non-number is "malformed", not absent). */
	if (cmdline_u32(cl, "bench", &dummy)) {
		id = DEFAULT_FORWARD_ID;
		if (cmdline_u32(cl, "n", &n) < 0 || cmdline_u32(cl, "id", &id) < 0)
			return usage();
		if (cmdline_has(cl, "bench=bare"))
			return bench("bare", n, 0, 0, false);
		if (cmdline_has(cl, "bench=handled-out"))
			return bench("handled-out", n, FID_TRNG_VERSION, TRNG_VERSION_1_0, false);
		if (cmdline_has(cl, "bench=handled"))
			return bench("handled", n, FID_TRNG_VERSION, TRNG_VERSION_1_0, true);
		if (cmdline_has(cl, "bench=forward"))
			return bench("forward", n, id, HANDLER_RAX(id), false);
		if (cmdline_has(cl, "bench=mixed")) {
			uint32_t blocks = 20;

			if (cmdline_u32(cl, "blocks", &blocks) < 0)
				return usage();
			return bench_mixed(n, blocks);
		}
		return usage();
	}

	if (cmdline_u32(cl, "expect_trng", &trng) < 0 || trng > 1)
		return usage();
	return self_test(trng);
}
