/*
 * Hypercalls (docs/hypercalls.md): SMCCC-layout function ids on every
 * architecture, a filter of ranges deciding HANDLE / DENY / FORWARD, bothy's
 * built-in services, and the VM owner's handler. Transports (the x86 I/O-port
 * gate, arm64 SMCCC exits, riscv SBI exits) decode registers into a struct
 * hcall_call and write its results back; everything else lives here.
 */
#ifndef BOTHY_HCALL_H
#define BOTHY_HCALL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct abi_manifest;

#define HCALL_FAST (1u << 31)
#define HCALL_64 (1u << 30)
#define HCALL_OWNER(fid) (((fid) >> 24) & 0x3f)
#define HCALL_NUMBER(fid) ((fid) & 0xffff)
#define HCALL_MBZ(fid) (((fid) >> 16) & 0xff) /* must be zero */
#define HCALL_ID(fast64, owner, num) (HCALL_FAST | ((fast64) ? HCALL_64 : 0) | ((uint32_t)(owner) << 24) | (num))

enum hcall_owner_id {
	HCALL_OWNER_ARCH = 0,
	HCALL_OWNER_CPU = 1,
	HCALL_OWNER_SIP = 2,
	HCALL_OWNER_OEM = 3,
	HCALL_OWNER_STD = 4,	    /* standard secure services (TRNG) */
	HCALL_OWNER_STD_HYP = 5,    /* standard hypervisor services */
	HCALL_OWNER_VENDOR_HYP = 6, /* vendor hypervisor services (bothy's own) */
};

/* Results (signed, in the first result register). */
#define HCALL_SUCCESS 0
#define HCALL_NOT_SUPPORTED ((uint64_t)-1)
#define HCALL_TRNG_INVALID_PARAMETER ((uint64_t)-2)

enum hcall_action { HCALL_HANDLE, HCALL_DENY, HCALL_FORWARD };

/*
 * Arguments a call may carry: SMCCC 1.2's X1..X17 for SMC64/HVC64, SMCCC's W1..W7 for the 32-bit
 * convention. Transports pass what their architecture has (x86: six registers); the rest are zero.
 */
#define HCALL_MAX_ARGS 17
#define HCALL_MAX_ARGS32 7
/* The built-in services read args[0] only: a transport that reads registers one at a time reads this many up front. */
#define HCALL_SERVICE_ARGS 1

/* One call as a transport decoded it. */
struct hcall_call {
	unsigned vcpu;
	uint32_t fid;
	bool is64;			/* the caller runs the 64-bit convention (x86 long mode, AArch64) */
	bool user;			/* from user mode (x86 CPL > 0, EL0) */
	bool results32;			/* the transport returns 32-bit results only (x86's IN form): SMC64 is NOT_SUPPORTED */
	uint64_t args[HCALL_MAX_ARGS];	/* argument n in args[n - 1]; 32-bit callers: zero-extended */
	uint64_t ret[4];		/* filled by the dispatcher; the transport truncates for 32-bit callers */
	/*
	 * NULL when args[] is complete. Otherwise the transport has filled args[0] up to at least
	 * args[HCALL_SERVICE_ARGS - 1], and the dispatcher calls this (0 or -errno) to fill the rest
	 * just before the VM owner gets the call: only forwarded calls pay for reading (arm64: an
	 * ioctl per register) or clearing (x86) the others.
	 */
	int (*read_args)(struct hcall_call *c, void *ctx);
	void *read_ctx;
};

/* --- filter ---------------------------------------------------------------- */

#define HCALL_MAX_RANGES 32

struct hcall_range {
	uint32_t base, count;
	enum hcall_action action;
};

struct hcall_filter {
	struct hcall_range ranges[HCALL_MAX_RANGES]; /* sorted by base, disjoint */
	unsigned n;
	bool frozen; /* the VM has run */
};

/* KVM's SMCCC-filter rules: -EINVAL empty/wrapping, -EEXIST overlap, -EBUSY after run, -ENOSPC full. */
int hcall_filter_add(struct hcall_filter *f, uint32_t base, uint32_t count, enum hcall_action action);
/* The range's action, or false if no range holds @fid. */
bool hcall_filter_lookup(const struct hcall_filter *f, uint32_t fid, enum hcall_action *action);
/* "FIRST-LAST=ACTION" or "BASE+COUNT=ACTION" (numbers in C syntax). */
int hcall_filter_parse(const char *spec, uint32_t *base, uint32_t *count, enum hcall_action *action);
const char *hcall_action_name(enum hcall_action a);

/* --- the VM owner ----------------------------------------------------------- */

/*
 * Who answers FORWARD calls. call() fills c->ret and returns 0, or fails
 * (-ETIMEDOUT, -EPIPE, ...) and the guest gets NOT_SUPPORTED. It may block;
 * bothy serialises calls. An embedder passes one in vm_config; `bothy run`
 * passes an RM-link peer (bothyd, or --hcall-handler: rm/hcall_peer.h).
 */
struct hcall_owner {
	int (*call)(void *opaque, struct hcall_call *c);
	void *opaque;
};

/* --- dispatcher ------------------------------------------------------------- */

#define HCALL_STATS_SLOTS 64

/*
 * One function's counters. Lock-free, so that vCPUs making hypercalls at once do not serialize on
 * the dispatcher: a slot is claimed once by a compare-and-swap of its key and never freed, and the
 * counters are atomic increments.
 */
#define HCALL_STAT_USED (1ull << 32)
struct hcall_stat {
	uint64_t key; /* 0: free; else HCALL_STAT_USED | fid */
	unsigned long calls, handled, forwarded, denied;
};

struct hcall_dispatcher {
	struct hcall_filter filter;
	const struct abi_manifest *abi; /* service bitmaps (hcall_dispatcher_set_abi); NULL: all bothy has */
	int bitmap_reg[3];		/* the manifest's register of each owner bitmap, or -1 */
	struct hcall_owner owner;	/* .call NULL: FORWARD answers NOT_SUPPORTED */
	bool user_allowed;		/* calls from user mode are served (default: NOT_SUPPORTED) */
	/* The guest's clock and the host's realtime read with it, for clock pairing (NULL: none). */
	int (*get_clock)(void *clock_ctx, uint64_t *guest_ns, uint64_t *realtime_ns);
	void *clock_ctx;
	pthread_mutex_t owner_lock; /* one forwarded call at a time */
	struct hcall_stat stats[HCALL_STATS_SLOTS];
	unsigned long stats_other; /* calls of functions beyond the table (atomic) */
};

void hcall_dispatcher_init(struct hcall_dispatcher *d);
void hcall_dispatcher_fini(struct hcall_dispatcher *d);
/* The guest-ABI manifest whose service bitmaps decide which built-in services exist. */
void hcall_dispatcher_set_abi(struct hcall_dispatcher *d, const struct abi_manifest *m);
/* Decides and answers one call; always fills c->ret. */
void hcall_dispatch(struct hcall_dispatcher *d, struct hcall_call *c);
/* One line per function called: "hcall 0x84000053 calls 3 handled 3 forwarded 0 denied 0". */
void hcall_print_stats(struct hcall_dispatcher *d, FILE *out);

/* --- built-in services (services.c) ----------------------------------------- */

/* Service bitmaps bothy implements, per owner bitmap (0 std, 1 std_hyp, 2 vendor_hyp). */
uint64_t hcall_services_supported(unsigned bitmap);
/*
 * Answers a HANDLE call into c->ret, which the dispatcher has set to NOT_SUPPORTED; false when
 * bothy has no such service or the ABI hides it (the caller counts a denial).
 */
bool hcall_service_call(struct hcall_dispatcher *d, struct hcall_call *c);

#endif
