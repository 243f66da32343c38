/*
 * Hypercalls: filter rules (KVM's), dispatch defaults, each built-in
 * service's results and edge cases, ABI-hidden services, the user-mode policy,
 * counters, and the RM-link peer's failure modes (garbage, late, silent, stopped, dead).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "abi/abi.h"
#include "hcall/hcall.h"
#include "rm/hcall_peer.h"
#include "rm/link.h"
#include "rm/proto.h"

#define NOT_SUPPORTED HCALL_NOT_SUPPORTED
#define TRNG_RND32 0x84000053u
#define TRNG_RND64 0xC4000053u

static void test_filter_rules(void **state)
{
	struct hcall_filter f = { 0 };
	enum hcall_action a;

	(void)state;
	assert_int_equal(hcall_filter_add(&f, 0x86000100, 0x100, HCALL_FORWARD), 0);
	assert_int_equal(hcall_filter_add(&f, 0x84000000, 0x10, HCALL_DENY), 0);
	assert_int_equal(hcall_filter_add(&f, 0x86000100, 1, HCALL_DENY), -EEXIST);	 /* same base */
	assert_int_equal(hcall_filter_add(&f, 0x860001ff, 2, HCALL_DENY), -EEXIST);	 /* tail overlap */
	assert_int_equal(hcall_filter_add(&f, 0x860000f0, 0x20, HCALL_DENY), -EEXIST); /* head overlap */
	assert_int_equal(hcall_filter_add(&f, 0x86000000, 0x1000, HCALL_DENY), -EEXIST); /* covers */
	assert_int_equal(hcall_filter_add(&f, 0x1000, 0, HCALL_DENY), -EINVAL);		 /* empty */
	assert_int_equal(hcall_filter_add(&f, 0xfffffff0, 0x11, HCALL_DENY), -EINVAL);	 /* wraps */
	assert_int_equal(hcall_filter_add(&f, 0xfffffff0, 0x10, HCALL_DENY), 0);	 /* ends at 2^32 */
	assert_int_equal(hcall_filter_add(&f, 0x86000200, 1, HCALL_HANDLE), 0);		 /* adjacent */
	assert_int_equal(f.n, 4);
	for (unsigned i = 1; i < f.n; i++)
		assert_true(f.ranges[i - 1].base < f.ranges[i].base);
	assert_true(hcall_filter_lookup(&f, 0x86000100, &a));
	assert_int_equal(a, HCALL_FORWARD);
	assert_true(hcall_filter_lookup(&f, 0x860001ff, &a));
	assert_int_equal(a, HCALL_FORWARD);
	assert_true(hcall_filter_lookup(&f, 0x86000200, &a));
	assert_int_equal(a, HCALL_HANDLE);
	assert_false(hcall_filter_lookup(&f, 0x86000201, &a));
	assert_false(hcall_filter_lookup(&f, 0x860000ff, &a));
	assert_true(hcall_filter_lookup(&f, 0xffffffff, &a));
	f.frozen = true;
	assert_int_equal(hcall_filter_add(&f, 0x1000, 1, HCALL_DENY), -EBUSY);
	f.frozen = false;
	while (f.n < HCALL_MAX_RANGES)
		assert_int_equal(hcall_filter_add(&f, 0x10000 + f.n, 1, HCALL_DENY), 0);
	assert_int_equal(hcall_filter_add(&f, 0x20000, 1, HCALL_DENY), -ENOSPC);
}

static void test_filter_parse(void **state)
{
	uint32_t base, count;
	enum hcall_action a;

	(void)state;
	assert_int_equal(hcall_filter_parse("0x86001000-0x860010ff=forward", &base, &count, &a), 0);
	assert_int_equal(base, 0x86001000);
	assert_int_equal(count, 0x100);
	assert_int_equal(a, HCALL_FORWARD);
	assert_int_equal(hcall_filter_parse("0x84000050+4=deny", &base, &count, &a), 0);
	assert_int_equal(count, 4);
	assert_int_equal(a, HCALL_DENY);
	assert_int_equal(hcall_filter_parse("5-5=handle", &base, &count, &a), 0);
	assert_int_equal(count, 1);
	static const char *const bad[] = { "0x10-0x5=deny", "0x10+0=deny", "0x10=deny", "0x10-0x20", "0x10-0x20=allow",
					   "-5-6=deny", "0x1-0x100000000=deny", "0xffffffff+2=deny", "x-y=deny",
					   "0x10-=deny", "0-0xffffffff=deny" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hcall_filter_parse(bad[i], &base, &count, &a) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static struct hcall_dispatcher d;

static int dispatcher_setup(void **state)
{
	(void)state;
	hcall_dispatcher_init(&d);
	return 0;
}

static int dispatcher_teardown(void **state)
{
	(void)state;
	hcall_dispatcher_fini(&d);
	return 0;
}

static struct hcall_call call(uint32_t fid, uint64_t a0)
{
	struct hcall_call c = { .fid = fid, .is64 = true, .args = { a0 } };

	hcall_dispatch(&d, &c);
	return c;
}

static const struct hcall_stat *stat_of(uint32_t fid)
{
	for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++)
		if (d.stats[i].key == (HCALL_STAT_USED | fid))
			return &d.stats[i];
	return NULL;
}

static void test_queries_and_features(void **state)
{
	struct hcall_call c;

	(void)state;
	for (uint32_t owner = 4; owner <= 6; owner++) {
		c = call(0x8000FF03u | owner << 24, 0);
		assert_int_equal(c.ret[0], 1);
		assert_int_equal(c.ret[1], 0);
		c = call(0x8000FF01u | owner << 24, 0);
		assert_true(c.ret[0] | c.ret[1] | c.ret[2] | c.ret[3]);
		assert_true(c.ret[0] <= 0xffffffffu && c.ret[3] <= 0xffffffffu);
	}
	c = call(0x8600FF01u, 0); /* vendor hypervisor UUID b07e1f3a-2c5d-4a98-8e61-f4d3a2b1c0e9 */
	assert_int_equal(c.ret[0], 0x3a1f7eb0);
	assert_int_equal(c.ret[1], 0x984a5d2c);
	assert_int_equal(c.ret[2], 0xd3f4618e);
	assert_int_equal(c.ret[3], 0xe9c0b1a2);
	c = call(0x86000000u, 0);
	assert_int_equal(c.ret[0], 0x3); /* features, clock pairing */
	assert_int_equal(c.ret[1], 0x1); /* TRNG */
	assert_int_equal(c.ret[2], 0x0);
	c = call(0x8600ABCDu, 0); /* unknown function of a handled owner */
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	c = call(0x06000000u, 0); /* not a fast call */
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	c = call(0x8601FF01u, 0); /* bits 23:16 must be zero */
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	c = call(0x83000001u, 0); /* no service, no range: DENY */
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	assert_int_equal(stat_of(0x83000001u)->denied, 1);
	assert_int_equal(stat_of(0x86000000u)->handled, 1);
	/* A transport with 32-bit results only (x86's IN form): SMC64 is refused, SMC32 served. */
	c = (struct hcall_call){ .fid = 0xC4000053u, .is64 = true, .results32 = true, .args = { 64 } };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	assert_int_equal(c.ret[3], 0);
	assert_int_equal(stat_of(0xC4000053u)->denied, 1);
	c = (struct hcall_call){ .fid = 0x84000053u, .is64 = true, .results32 = true, .args = { 32 } };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], 0);
	assert_int_equal(stat_of(0x84000053u)->handled, 1);
}

static unsigned popcount3(const struct hcall_call *c)
{
	return (unsigned)(__builtin_popcountll(c->ret[1]) + __builtin_popcountll(c->ret[2]) +
			  __builtin_popcountll(c->ret[3]));
}

static void test_trng(void **state)
{
	struct hcall_call c, c2;

	(void)state;
	assert_int_equal(call(0x84000050u, 0).ret[0], 0x10000);
	assert_int_equal(call(0x84000051u, TRNG_RND32).ret[0], 0);
	assert_int_equal(call(0x84000051u, TRNG_RND64).ret[0], 0);
	assert_int_equal(call(0x84000051u, 0x84000054u).ret[0], NOT_SUPPORTED);
	assert_int_equal(call(0x84000051u, 0x100000000ull | TRNG_RND32).ret[0], NOT_SUPPORTED);
	c = call(0x84000052u, 0);
	assert_int_equal(c.ret[0], 0x1ba5c7e0);

	/* RND32: N bits right-aligned in three 32-bit words. */
	c = call(TRNG_RND32, 32);
	assert_int_equal(c.ret[0], 0);
	assert_int_equal(c.ret[1], 0);
	assert_int_equal(c.ret[2], 0);
	assert_true(c.ret[3] <= 0xffffffffu);
	c2 = call(TRNG_RND32, 32);
	assert_true(c.ret[3] != c2.ret[3]); /* 2^-32 odds of a false failure */
	c = call(TRNG_RND32, 1);
	assert_true(c.ret[3] <= 1 && !c.ret[1] && !c.ret[2]);
	c = call(TRNG_RND32, 40);
	assert_true(c.ret[2] <= 0xff && !c.ret[1]);
	c = call(TRNG_RND32, 96);
	assert_int_equal(c.ret[0], 0);
	assert_true(c.ret[1] <= 0xffffffffu && c.ret[2] <= 0xffffffffu && c.ret[3] <= 0xffffffffu);
	assert_true(popcount3(&c) > 16); /* 96 random bits: fewer than 17 ones is 1e-11 */
	assert_int_equal(call(TRNG_RND32, 0).ret[0], HCALL_TRNG_INVALID_PARAMETER);
	assert_int_equal(call(TRNG_RND32, 97).ret[0], HCALL_TRNG_INVALID_PARAMETER);
	assert_int_equal(call(TRNG_RND32, 1ull << 32).ret[0], HCALL_TRNG_INVALID_PARAMETER);

	/* RND64: up to 192 bits in 64-bit words; only from 64-bit code. */
	c = call(TRNG_RND64, 192);
	assert_int_equal(c.ret[0], 0);
	assert_true(popcount3(&c) > 48);
	c = call(TRNG_RND64, 64);
	assert_true(!c.ret[1] && !c.ret[2]);
	c = call(TRNG_RND64, 65);
	assert_true(c.ret[2] <= 1 && !c.ret[1]);
	assert_int_equal(call(TRNG_RND64, 193).ret[0], HCALL_TRNG_INVALID_PARAMETER);
	c = (struct hcall_call){ .fid = TRNG_RND64, .is64 = false, .args = { 64 } };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
}

static void test_clock_pairing(void **state)
{
	struct hcall_call c;

	(void)state;
	c = call(0xC6000001u, 0); /* no hypervisor clock: realtime and monotonic only */
	assert_true(c.ret[0] > 1600000000ull * 1000000000ull);
	assert_true(c.ret[1] > 0);
	assert_int_equal(c.ret[2], 0);
	c = (struct hcall_call){ .fid = 0xC6000001u, .is64 = false };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
}

static void test_abi_hides_services(void **state)
{
	const struct abi_arch *x86 = abi_arch_by_name("x86_64");
	struct abi_manifest m;
	int std = abi_find_owner(x86, "smccc.std"), vendor = abi_find_owner(x86, "smccc.vendor_hyp");

	(void)state;
	assert_true(std >= 0 && vendor >= 0);
	abi_manifest_init(&m, x86);
	m.present[std] = m.present[vendor] = true;
	m.val[std] = 0;	  /* TRNG hidden */
	m.val[vendor] = 1; /* features only */
	hcall_dispatcher_set_abi(&d, &m);
	assert_int_equal(call(0x84000050u, 0).ret[0], NOT_SUPPORTED);
	assert_int_equal(call(TRNG_RND32, 32).ret[0], NOT_SUPPORTED);
	assert_int_equal(call(0xC6000001u, 0).ret[0], NOT_SUPPORTED);
	struct hcall_call c = call(0x86000000u, 0);
	assert_int_equal(c.ret[0], 1);
	assert_int_equal(c.ret[1], 0);
	assert_int_equal(stat_of(TRNG_RND32)->denied, 1);
	m.val[vendor] = 0;
	assert_int_equal(call(0x86000000u, 0).ret[0], NOT_SUPPORTED);
	/* Queries stay: a guest can always ask who is there. */
	assert_int_equal(call(0x8400FF03u, 0).ret[0], 1);
	hcall_dispatcher_set_abi(&d, NULL);
}

static int echo_calls;
static int echo_owner(void *opaque, struct hcall_call *c)
{
	(void)opaque;
	echo_calls++;
	c->ret[0] = c->fid ^ 0xa5a5a5a5u;
	c->ret[1] = c->args[0] + c->args[1];
	c->ret[3] = c->vcpu;
	return 0;
}

static int failing_owner(void *opaque, struct hcall_call *c)
{
	(void)opaque;
	c->ret[1] = 42; /* must not leak to the guest */
	return -ETIMEDOUT;
}

static void test_forward_and_policy(void **state)
{
	struct hcall_call c;

	(void)state;
	assert_int_equal(call(0x86001000u, 0).ret[0], NOT_SUPPORTED); /* default deny */
	assert_int_equal(hcall_filter_add(&d.filter, 0x86001000u, 0x100, HCALL_FORWARD), 0);
	assert_int_equal(call(0x86001000u, 0).ret[0], NOT_SUPPORTED); /* no owner */
	d.owner = (struct hcall_owner){ echo_owner, NULL };
	c = (struct hcall_call){ .vcpu = 3, .fid = 0x86001005u, .is64 = true, .args = { 1, 2 } };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], 0x86001005u ^ 0xa5a5a5a5u);
	assert_int_equal(c.ret[1], 3);
	assert_int_equal(c.ret[3], 3);
	assert_int_equal(stat_of(0x86001005u)->forwarded, 1);
	/* A built-in function inside a FORWARD range goes to the owner. */
	assert_int_equal(hcall_filter_add(&d.filter, 0x84000050u, 4, HCALL_FORWARD), 0);
	assert_int_equal(call(0x84000050u, 0).ret[0], 0x84000050u ^ 0xa5a5a5a5u);
	/* A HANDLE range without a service, a DENY range over a service. */
	assert_int_equal(hcall_filter_add(&d.filter, 0x86000000u, 1, HCALL_DENY), 0);
	assert_int_equal(call(0x86000000u, 0).ret[0], NOT_SUPPORTED);
	assert_int_equal(hcall_filter_add(&d.filter, 0x87000000u, 1, HCALL_HANDLE), 0);
	assert_int_equal(call(0x87000000u, 0).ret[0], NOT_SUPPORTED);
	/* Owner failure: NOT_SUPPORTED and nothing else. */
	d.owner = (struct hcall_owner){ failing_owner, NULL };
	c = call(0x86001006u, 0);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	assert_int_equal(c.ret[1], 0);
	/* User mode is refused by default, admitted when allowed. */
	d.owner = (struct hcall_owner){ echo_owner, NULL };
	echo_calls = 0;
	c = (struct hcall_call){ .fid = 0x86001005u, .is64 = true, .user = true };
	hcall_dispatch(&d, &c);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	assert_int_equal(echo_calls, 0);
	d.user_allowed = true;
	hcall_dispatch(&d, &c);
	assert_int_equal(echo_calls, 1);
}

/* A transport that reads registers one at a time: X1 up front, X2..X17 only when asked. */
static unsigned reads;
static int read_fail;
static int lazy_read(struct hcall_call *c, void *ctx)
{
	const uint64_t *regs = ctx;
	unsigned end = c->is64 && (c->fid & HCALL_64) ? HCALL_MAX_ARGS : HCALL_MAX_ARGS32;

	reads++;
	if (read_fail)
		return read_fail;
	for (unsigned i = HCALL_SERVICE_ARGS; i < end; i++)
		c->args[i] = regs[i];
	return 0;
}

static struct hcall_call seen; /* what the owner got */
static int recording_owner(void *opaque, struct hcall_call *c)
{
	(void)opaque;
	seen = *c;
	c->ret[0] = c->args[HCALL_MAX_ARGS - 1];
	return 0;
}

static struct hcall_call lazy_call(uint32_t fid, const uint64_t *regs)
{
	struct hcall_call c = { .fid = fid, .is64 = true, .args = { regs[0] }, .read_args = lazy_read,
				.read_ctx = (void *)(uintptr_t)regs };

	hcall_dispatch(&d, &c);
	return c;
}

static void test_forward_17_args(void **state)
{
	uint64_t regs[HCALL_MAX_ARGS];
	struct hcall_call c;

	(void)state;
	for (unsigned i = 0; i < HCALL_MAX_ARGS; i++)
		regs[i] = (uint64_t)(i + 1) << 56 | (i + 1); /* X(n) = n << 56 | n: both halves set */
	d.owner = (struct hcall_owner){ recording_owner, NULL };
	assert_int_equal(hcall_filter_add(&d.filter, 0xC6001000u, 0x10, HCALL_FORWARD), 0);
	assert_int_equal(hcall_filter_add(&d.filter, 0x86001000u, 0x10, HCALL_FORWARD), 0);

	/* Handled and denied calls never ask the transport for more than it read up front. */
	reads = 0;
	assert_int_equal(lazy_call(0x84000050u, regs).ret[0], 0x10000); /* TRNG_VERSION */
	assert_int_equal(lazy_call(0x84000051u, (const uint64_t[HCALL_MAX_ARGS]){ TRNG_RND32 }).ret[0], 0);
	assert_int_equal(lazy_call(0xC6000300u, regs).ret[0], NOT_SUPPORTED); /* default deny */
	assert_int_equal(reads, 0);

	/* A forwarded SMC64 call: the owner sees X1..X17, each in its place. */
	memset(&seen, 0, sizeof(seen));
	c = lazy_call(0xC6001001u, regs);
	assert_int_equal(reads, 1);
	assert_int_equal(c.ret[0], regs[16]);
	assert_memory_equal(seen.args, regs, sizeof(regs));
	assert_int_equal(stat_of(0xC6001001u)->forwarded, 1);

	/* SMC32: W1..W7 reach the owner, nothing beyond (the arm64 payload test checks the truncation). */
	memset(&seen, 0, sizeof(seen));
	c = lazy_call(0x86001001u, regs);
	assert_int_equal(reads, 2);
	assert_memory_equal(seen.args, regs, HCALL_MAX_ARGS32 * sizeof(regs[0]));
	for (unsigned i = HCALL_MAX_ARGS32; i < HCALL_MAX_ARGS; i++)
		assert_int_equal(seen.args[i], 0);

	/* A transport that cannot read the rest: NOT_SUPPORTED, the owner never asked, counted denied. */
	read_fail = -EIO;
	memset(&seen, 0, sizeof(seen));
	c = lazy_call(0xC6001002u, regs);
	read_fail = 0;
	assert_int_equal(reads, 3);
	assert_int_equal(c.ret[0], NOT_SUPPORTED);
	assert_int_equal(c.ret[1] | c.ret[2] | c.ret[3], 0);
	assert_int_equal(seen.fid, 0);
	assert_int_equal(stat_of(0xC6001002u)->denied, 1);
	assert_int_equal(stat_of(0xC6001002u)->forwarded, 0);

	/* A transport with every argument up front (x86): no callback, the tail stays zero. */
	c = (struct hcall_call){ .fid = 0xC6001003u, .is64 = true, .args = { 1, 2, 3, 4, 5, 6 } };
	hcall_dispatch(&d, &c);
	assert_int_equal(seen.args[5], 6);
	assert_int_equal(c.ret[0], 0);
}

static void test_stats_bounded(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	for (uint32_t i = 0; i < 1000; i++)
		call(0x83000000u + i, 0); /* a guest spraying ids */
	call(0x84000050u, 0);
	f = open_memstream(&buf, &len);
	hcall_print_stats(&d, f);
	fclose(f);
	assert_non_null(strstr(buf, "hcall other functions: calls"));
	free(buf);
}

#define RACE_THREADS 4
#define RACE_CALLS 20000
#define RACE_FIDS 8

static void *race_calls(void *unused)
{
	(void)unused;
	for (uint32_t i = 0; i < RACE_CALLS; i++) {
		struct hcall_call c = { .fid = 0x83000100u + i % RACE_FIDS, .is64 = true };

		hcall_dispatch(&d, &c);
	}
	return NULL;
}

/* vCPUs counting at once: every call counted once, in one slot per function (no lock to lean on). */
static void test_stats_concurrent(void **state)
{
	pthread_t t[RACE_THREADS];

	(void)state;
	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_calls, NULL), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	for (uint32_t f = 0; f < RACE_FIDS; f++) {
		unsigned slots = 0;

		for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++)
			slots += d.stats[i].key == (HCALL_STAT_USED | (0x83000100u + f));
		assert_int_equal(slots, 1);
		assert_int_equal(stat_of(0x83000100u + f)->calls, RACE_THREADS * RACE_CALLS / RACE_FIDS);
		assert_int_equal(stat_of(0x83000100u + f)->denied, RACE_THREADS * RACE_CALLS / RACE_FIDS);
	}
}

/* --- the VM owner as a peer on an RM link ----------------------------------- */

enum peer_mode { PEER_ANSWER, PEER_GARBAGE, PEER_SILENT, PEER_CLOSE };

struct fake_peer {
	int fd;
	enum peer_mode mode;
	struct rm_vm_hcall_ntf got;
	pthread_t thread;
};

/* Sends a notification @desc {obj} on @fd, as bothyd or hcall-handler would. */
static void peer_notify(int fd, const struct rm_msg_desc *desc, const void *obj)
{
	static uint8_t buf[RM_MSG_MAX];
	size_t len;

	assert_int_equal(rm_link_encode(desc, RM_TYPE_NOTIFY, 0, obj, buf, &len), 0);
	assert_int_equal(rm_link_send(fd, RM_TYPE_NOTIFY, 0, desc->id, buf, len, -1, 0), 0);
}

static void peer_answer(int fd, uint32_t token, uint64_t ret0)
{
	struct rm_hcall_reply_req r = { .token = token, .ret = { ret0 } };

	peer_notify(fd, &rm_msgs[RM_MSG_VMM_HCALL_RET], &r);
}

/* One request in (a one-frame VMM_HCALL), then the answer @h->mode asks for: ret0 = 2 * arg0. */
static void *peer_thread(void *arg)
{
	static const struct rm_vmm_ready_ntf stray = { .vmm_pid = 1, .cpus = 1 };
	struct fake_peer *h = arg;
	uint8_t frame[RM_FRAME_MAX];
	struct rm_hdr hdr;
	ssize_t n = rm_link_recv_frame(h->fd, frame, 0, NULL);

	if (n <= 0 || rm_hdr_decode(frame, (size_t)n, &hdr) || hdr.type != RM_TYPE_NOTIFY ||
	    hdr.msg_id != RM_ID_VMM_HCALL ||
	    rm_decode(rm_msgs[RM_MSG_VMM_HCALL].req, frame + RM_HDR_SIZE, (size_t)n - RM_HDR_SIZE, &h->got))
		return NULL;
	switch (h->mode) {
	case PEER_CLOSE:
		close(h->fd);
		h->fd = -1;
		return NULL;
	case PEER_SILENT:
		return NULL;
	case PEER_GARBAGE:
		send(h->fd, "junk", 4, 0);			     /* no RM header */
		peer_answer(h->fd, h->got.token + 7, 1);	     /* a wrong token */
		peer_notify(h->fd, &rm_msgs[RM_MSG_VMM_READY], &stray); /* not an answer at all */
		break;
	case PEER_ANSWER:
		break;
	}
	peer_answer(h->fd, h->got.token, h->got.args[0] * 2);
	return NULL;
}

static int peer_call(struct hcall_peer *p, struct fake_peer *h, enum peer_mode mode, uint64_t arg, uint64_t *ret0)
{
	struct hcall_call c = { .vcpu = 1, .fid = 0x86001000u, .is64 = true, .args = { arg, 0, 0, 0, 0, 6, 7, [16] = 17 } };
	int ret;

	h->mode = mode;
	memset(&h->got, 0, sizeof(h->got));
	pthread_create(&h->thread, NULL, peer_thread, h);
	ret = hcall_peer_call(p, &c);
	pthread_join(h->thread, NULL);
	*ret0 = c.ret[0];
	return ret;
}

static void test_peer(void **state)
{
	struct fake_peer h;
	struct hcall_peer *p;
	uint64_t r0;
	int sv[2], stop;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	h.fd = sv[1];
	assert_int_equal(hcall_peer_open(sv[0], 200, &p), 0);

	assert_int_equal(peer_call(p, &h, PEER_ANSWER, 21, &r0), 0);
	assert_int_equal(r0, 42);
	/* What went out: VMM_HCALL {vcpu, token 1, fid, flags 64-bit, args}, with arguments 7..17. */
	assert_int_equal(h.got.vcpu, 1);
	assert_int_equal(h.got.token, 1);
	assert_int_equal(h.got.fid, 0x86001000u);
	assert_int_equal(h.got.flags, HCALL_WIRE_FLAG_64);
	assert_int_equal(h.got.args[5], 6);
	assert_int_equal(h.got.args[6], 7);
	assert_int_equal(h.got.args[15], 0);
	assert_int_equal(h.got.args[16], 17);
	assert_int_equal(peer_call(p, &h, PEER_GARBAGE, 5, &r0), 0); /* junk, a wrong token, a stray message */
	assert_int_equal(r0, 10);
	assert_int_equal(h.got.token, 2);
	assert_int_equal(hcall_peer_dropped(p), 3);
	assert_int_equal(peer_call(p, &h, PEER_SILENT, 1, &r0), -ETIMEDOUT);
	/* The late answer to the timed-out call (token 3) must not be taken for the next one. */
	peer_answer(h.fd, 3, 999);
	assert_int_equal(peer_call(p, &h, PEER_ANSWER, 4, &r0), 0);
	assert_int_equal(r0, 8);
	assert_int_equal(hcall_peer_dropped(p), 4);
	/* The VM stopping ends a wait at once; the peer stays usable. */
	stop = eventfd(1, EFD_CLOEXEC);
	assert_true(stop >= 0);
	hcall_peer_set_stop_fd(p, stop);
	assert_int_equal(peer_call(p, &h, PEER_SILENT, 1, &r0), -ECANCELED);
	hcall_peer_set_stop_fd(p, -1);
	close(stop);
	assert_int_equal(peer_call(p, &h, PEER_ANSWER, 3, &r0), 0);
	assert_int_equal(r0, 6);
	assert_int_equal(peer_call(p, &h, PEER_CLOSE, 1, &r0), -EPIPE); /* dies mid-call */
	assert_int_equal(hcall_peer_call(p, &(struct hcall_call){ .fid = 0x86001000u }), -EPIPE); /* at once */
	hcall_peer_close(p);
	assert_true(fcntl(sv[0], F_GETFD) >= 0); /* the caller's fd: hcall_peer_open does not take it */
	close(sv[0]);
}

/* hcall_peer_connect: --hcall-handler SOCKET. */
static void test_peer_connect(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct fake_peer h;
	struct hcall_peer *p;
	char path[108];
	uint64_t r0;
	int lfd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/bothy-test-hcall-%d.sock", (int)getpid());
	unlink(path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(hcall_peer_connect(path, 200, &p), 0);
	h.fd = accept(lfd, NULL, NULL);
	assert_true(h.fd >= 0);
	assert_int_equal(peer_call(p, &h, PEER_ANSWER, 7, &r0), 0);
	assert_int_equal(r0, 14);
	hcall_peer_close(p);
	/* The peer closed its own socket: the handler sees the end. */
	assert_int_equal(recv(h.fd, &r0, sizeof(r0), 0), 0);
	close(h.fd);
	close(lfd);
	unlink(path);
	assert_int_equal(hcall_peer_connect(path, 200, &p), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_rules),
		cmocka_unit_test(test_filter_parse),
		cmocka_unit_test_setup_teardown(test_queries_and_features, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_trng, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_clock_pairing, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_abi_hides_services, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_forward_and_policy, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_forward_17_args, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_stats_concurrent, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test_setup_teardown(test_stats_bounded, dispatcher_setup, dispatcher_teardown),
		cmocka_unit_test(test_peer),
		cmocka_unit_test(test_peer_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
