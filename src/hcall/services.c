/*
 * bothy's built-in hypercall services (docs/hypercalls.md): the SMCCC general
 * queries of the owners bothy speaks for, the features bitmap, the Arm TRNG
 * interface backed by getrandom(), and host/guest clock pairing. A service
 * whose bit the VM's guest-ABI manifest clears is not there for the guest.
 * Services see args[0] .. args[HCALL_SERVICE_ARGS - 1] only: arm64 reads the
 * other registers just for forwarded calls (hcall.h); raise it to read more.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "abi/abi.h"
#include "hcall/hcall.h"

/* Owner bitmaps: the same bits as KVM arm64's firmware registers (src/abi/hcall_bitmaps.def). */
enum { BMAP_STD, BMAP_STD_HYP, BMAP_VENDOR_HYP };
static const char *const bitmap_owner[] = { "smccc.std", "smccc.std_hyp", "smccc.vendor_hyp" };
#define STD_TRNG (1u << 0)
#define VENDOR_FUNC_FEAT (1u << 0)
#define VENDOR_PTP (1u << 1)

#define FID_QUERY_COUNT 0xff00
#define FID_QUERY_UID 0xff01
#define FID_QUERY_REVISION 0xff03
#define FID_FEATURES HCALL_ID(false, HCALL_OWNER_VENDOR_HYP, 0)
#define FID_CLOCK_PAIRING HCALL_ID(true, HCALL_OWNER_VENDOR_HYP, 1)
#define FID_TRNG_VERSION HCALL_ID(false, HCALL_OWNER_STD, 0x50)
#define FID_TRNG_FEATURES HCALL_ID(false, HCALL_OWNER_STD, 0x51)
#define FID_TRNG_GET_UUID HCALL_ID(false, HCALL_OWNER_STD, 0x52)
#define FID_TRNG_RND32 HCALL_ID(false, HCALL_OWNER_STD, 0x53)
#define FID_TRNG_RND64 HCALL_ID(true, HCALL_OWNER_STD, 0x53)

#define TRNG_VERSION_1_0 0x10000
#define TRNG_NO_ENTROPY ((uint64_t)-3)

/* UUIDs as SMCCC returns them: four little-endian 32-bit words of the UUID's bytes. */
static const uint8_t uuid_std[16] = { 0xa7, 0xd6, 0xc9, 0xd1, 0x4b, 0x6e, 0x4f, 0x5e,
				      0x9a, 0x57, 0x2b, 0x1f, 0x0c, 0x3e, 0x8d, 0x41 };
static const uint8_t uuid_std_hyp[16] = { 0x5c, 0x0f, 0x6a, 0x2e, 0x93, 0xd1, 0x4e, 0x27,
					  0xb8, 0xa4, 0x6d, 0x2e, 0x91, 0xf0, 0x7c, 0x35 };
static const uint8_t uuid_vendor_hyp[16] = { 0xb0, 0x7e, 0x1f, 0x3a, 0x2c, 0x5d, 0x4a, 0x98,
					     0x8e, 0x61, 0xf4, 0xd3, 0xa2, 0xb1, 0xc0, 0xe9 };
static const uint8_t uuid_trng[16] = { 0xe0, 0xc7, 0xa5, 0x1b, 0x6f, 0x3d, 0x4c, 0x82,
				       0x9b, 0x14, 0x0a, 0x5d, 0x7e, 0x2f, 0x9c, 0x63 };

uint64_t hcall_services_supported(unsigned bitmap)
{
	switch (bitmap) {
	case BMAP_STD:
		return STD_TRNG;
	case BMAP_VENDOR_HYP:
		return VENDOR_FUNC_FEAT | VENDOR_PTP;
	default:
		return 0; /* standard hypervisor services (PV time) are not offered */
	}
}

void hcall_dispatcher_set_abi(struct hcall_dispatcher *d, const struct abi_manifest *m)
{
	d->abi = m;
	for (unsigned i = 0; i < 3; i++)
		d->bitmap_reg[i] = m ? abi_find_owner(m->arch, bitmap_owner[i]) : -1;
}

/* The guest's bitmap for an owner: the manifest's value, or everything bothy has. */
static uint64_t guest_bitmap(const struct hcall_dispatcher *d, unsigned bitmap)
{
	const struct abi_manifest *m = d->abi;
	int reg = m ? d->bitmap_reg[bitmap] : -1;

	if (reg < 0)
		return hcall_services_supported(bitmap);
	return (m->present[reg] ? m->val[reg] : 0) & hcall_services_supported(bitmap);
}

static bool is_query(uint32_t fid)
{
	unsigned owner = HCALL_OWNER(fid), num = HCALL_NUMBER(fid);

	return !(fid & HCALL_64) && HCALL_MBZ(fid) == 0 &&
	       (owner == HCALL_OWNER_STD || owner == HCALL_OWNER_STD_HYP || owner == HCALL_OWNER_VENDOR_HYP) &&
	       (num == FID_QUERY_COUNT || num == FID_QUERY_UID || num == FID_QUERY_REVISION);
}

static bool is_trng(uint32_t fid)
{
	return fid == FID_TRNG_VERSION || fid == FID_TRNG_FEATURES || fid == FID_TRNG_GET_UUID ||
	       fid == FID_TRNG_RND32 || fid == FID_TRNG_RND64;
}

static void put_uuid(struct hcall_call *c, const uint8_t uuid[16])
{
	for (int i = 0; i < 4; i++)
		c->ret[i] = (uint32_t)uuid[4 * i] | (uint32_t)uuid[4 * i + 1] << 8 |
			    (uint32_t)uuid[4 * i + 2] << 16 | (uint32_t)uuid[4 * i + 3] << 24;
}

static void query(struct hcall_call *c)
{
	unsigned owner = HCALL_OWNER(c->fid);
	static const uint8_t *const uuids[] = { uuid_std, uuid_std_hyp, uuid_vendor_hyp };

	switch (HCALL_NUMBER(c->fid)) {
	case FID_QUERY_UID:
		put_uuid(c, uuids[owner - HCALL_OWNER_STD]);
		break;
	case FID_QUERY_REVISION:
		c->ret[0] = 1;
		c->ret[1] = 0;
		break;
	default: /* call count: the functions bothy implements in the owner */
		c->ret[0] = owner == HCALL_OWNER_STD ? 5 + 3 : owner == HCALL_OWNER_VENDOR_HYP ? 2 + 3 : 3;
		break;
	}
}

/* TRNG_RND32/64: @bits of entropy right-aligned in ret[1..3], ret[3] least significant. */
static void trng_rnd(struct hcall_call *c, unsigned word_bits)
{
	uint64_t n = c->args[0], words[3] = { 0 };
	unsigned max = 3 * word_bits;

	if (n == 0 || n > max) {
		c->ret[0] = HCALL_TRNG_INVALID_PARAMETER;
		return;
	}
	if (getrandom(words, sizeof(words), 0) != (ssize_t)sizeof(words)) {
		c->ret[0] = TRNG_NO_ENTROPY;
		return;
	}
	for (int i = 2; i >= 0; i--) {
		unsigned take = n >= word_bits ? word_bits : (unsigned)n;
		uint64_t mask = take >= 64 ? ~0ull : (1ull << take) - 1;

		c->ret[1 + i] = words[i] & mask;
		n -= take;
	}
	c->ret[0] = HCALL_SUCCESS;
	explicit_bzero(words, sizeof(words));
}

static void clock_pairing(struct hcall_dispatcher *d, struct hcall_call *c)
{
	struct timespec rt, mono;
	uint64_t guest_ns = 0, realtime_ns = 0;

	if (!d->get_clock || d->get_clock(d->clock_ctx, &guest_ns, &realtime_ns)) {
		guest_ns = 0;
		realtime_ns = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	if (!realtime_ns) {
		clock_gettime(CLOCK_REALTIME, &rt);
		realtime_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	}
	c->ret[0] = realtime_ns;
	c->ret[1] = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	c->ret[2] = guest_ns;
	c->ret[3] = 0;
}

bool hcall_service_call(struct hcall_dispatcher *d, struct hcall_call *c)
{
	if (is_query(c->fid)) {
		query(c);
		return true;
	}
	if (is_trng(c->fid)) {
		if (!(guest_bitmap(d, BMAP_STD) & STD_TRNG))
			return false;
		switch (c->fid) {
		case FID_TRNG_VERSION:
			c->ret[0] = TRNG_VERSION_1_0;
			break;
		case FID_TRNG_FEATURES:
			c->ret[0] = is_trng((uint32_t)c->args[0]) && c->args[0] <= 0xffffffffu ? HCALL_SUCCESS
											: HCALL_NOT_SUPPORTED;
			break;
		case FID_TRNG_GET_UUID:
			put_uuid(c, uuid_trng);
			break;
		case FID_TRNG_RND32:
			trng_rnd(c, 32);
			break;
		default:
			trng_rnd(c, 64);
			break;
		}
		return true;
	}
	if (c->fid == FID_FEATURES) {
		if (!(guest_bitmap(d, BMAP_VENDOR_HYP) & VENDOR_FUNC_FEAT))
			return false;
		c->ret[0] = guest_bitmap(d, BMAP_VENDOR_HYP);
		c->ret[1] = guest_bitmap(d, BMAP_STD);
		c->ret[2] = guest_bitmap(d, BMAP_STD_HYP);
		return true;
	}
	if (c->fid == FID_CLOCK_PAIRING) {
		if (!(guest_bitmap(d, BMAP_VENDOR_HYP) & VENDOR_PTP))
			return false;
		clock_pairing(d, c);
		return true;
	}
	return false; /* an unknown function of a handled owner: NOT_SUPPORTED */
}
