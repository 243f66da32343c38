/*
 * The resource manager's message table and payload codec (src/rm/proto.h):
 * the table against messages.def, every layout's round trip with strings and
 * lists at their edges, exact bytes of Gunyah-compatible payloads, the
 * decoder's rejections, the encoder's refusals, the names and the reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rm/proto.h"

#define BIG (256 * 1024) /* more than any layout can encode to */

/* messages.def, read on its own: what the table must say about each entry. */
static const struct {
	const char *name;
	uint32_t id;
	enum rm_msg_kind kind;
	const char *req, *rep;
	size_t req_size, rep_size;
} expect[] = {
#define RM_MSG(name, id, kind, req, rep, doc) \
	{ #name, id, RM_KIND_##kind, #req, #rep, sizeof(struct rm_##req), sizeof(struct rm_##rep) },
#include "rm/messages.def"
#undef RM_MSG
};
#define NR_EXPECT (sizeof(expect) / sizeof(expect[0]))

static const struct rm_layout *req_of(uint32_t id)
{
	const struct rm_msg_desc *d = rm_msg_find(id);

	assert_non_null(d);
	return d->req;
}

static const struct rm_layout *rep_of(uint32_t id)
{
	const struct rm_msg_desc *d = rm_msg_find(id);

	assert_non_null(d);
	return d->rep;
}

/* --- the table ------------------------------------------------------------------------- */

static void test_msg_find(void **state)
{
	static const uint32_t unknown[] = { 0, 1, 0x56000003, 0x56000007, 0x56001008, 0x56100002, 0x5F000002,
					    0x5F100005, 0xffffffff, 0x56001000 | 1u << 20 };

	(void)state;
	assert_int_equal(RM_NR_MSGS, NR_EXPECT);
	for (unsigned i = 0; i < NR_EXPECT; i++) {
		const struct rm_msg_desc *d = rm_msg_find(expect[i].id);

		assert_non_null(d);
		assert_ptr_equal(d, &rm_msgs[i]);
		assert_int_equal(d->index, i);
		assert_int_equal(d->id, expect[i].id);
		assert_string_equal(d->name, expect[i].name);
		assert_int_equal(d->kind, expect[i].kind);
		assert_non_null(d->req);
		assert_non_null(d->rep);
		assert_string_equal(d->req->name, expect[i].req);
		assert_string_equal(d->rep->name, expect[i].rep);
		assert_int_equal(d->req->size, expect[i].req_size);
		assert_int_equal(d->rep->size, expect[i].rep_size);
		assert_non_null(d->doc);
		assert_true(strlen(d->doc) > 0);
	}
	assert_int_equal(rm_msg_find(RM_ID_VM_STOP)->index, RM_MSG_VM_STOP);
	assert_int_equal(RM_ID_VM_STOP, 0x56000005); /* Gunyah's VM_STOP */
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(rm_msg_find(unknown[i]));
}

static void check_layout(const struct rm_layout *l, unsigned depth)
{
	bool tail = false;

	assert_true(depth < 3);
	assert_non_null(l->name);
	assert_true(l->size > 0);
	assert_true(l->nr_fields == 0 || l->fields);
	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];

		assert_non_null(f->name);
		assert_non_null(f->doc);
		/* an optional tail holds scalars only, in a message's own layout, once */
		if (tail)
			assert_true(f->type == RM_F_U8 || f->type == RM_F_U16 || f->type == RM_F_U32 ||
				    f->type == RM_F_U64);
		switch (f->type) {
		case RM_F_U8:
			assert_true(f->off + 1 <= l->size);
			break;
		case RM_F_U16:
			assert_true(f->off + 2 <= l->size);
			break;
		case RM_F_U32:
			assert_true(f->off + 4 <= l->size);
			break;
		case RM_F_U64:
			assert_true(f->off + 8 <= l->size);
			break;
		case RM_F_RES8:
		case RM_F_RES16:
		case RM_F_RES32:
			break;
		case RM_F_STR:
			assert_true(f->cap >= 2);
			assert_true(f->cap - 1 <= UINT16_MAX);
			assert_true(f->off + f->cap <= l->size);
			break;
		case RM_F_LIST:
			assert_non_null(f->elem);
			assert_true(f->cap >= 1 && f->cap <= UINT16_MAX);
			assert_true(f->off + 2 <= l->size);
			assert_true(f->elem_off + f->cap * f->elem->size <= l->size);
			/* the count member lies outside the element array */
			assert_true(f->off + 2 <= f->elem_off || f->off >= f->elem_off + f->cap * f->elem->size);
			check_layout(f->elem, depth + 1);
			break;
		case RM_F_TAIL:
			assert_int_equal(depth, 0);
			assert_false(tail);
			assert_true(i + 1 < l->nr_fields);
			tail = true;
			break;
		default:
			fail_msg("layout %s field %s: unknown type %d", l->name, f->name, f->type);
		}
	}
}

static void test_table_well_formed(void **state)
{
	size_t max = rm_payload_max();

	(void)state;
	for (unsigned i = 0; i < RM_NR_MSGS; i++) {
		const struct rm_msg_desc *d = &rm_msgs[i];

		for (unsigned j = 0; j < i; j++) {
			assert_int_not_equal(d->id, rm_msgs[j].id);
			assert_string_not_equal(d->name, rm_msgs[j].name);
		}
		/* Gunyah's RM: bit 20 tells notifications from requests */
		if (d->id >> 24 == 0x56) {
			if (d->kind == RM_KIND_REQ)
				assert_int_equal(d->id & 1u << 20, 0);
			else
				assert_int_equal(d->id & 1u << 20, 1u << 20);
		}
		assert_true(d->kind == RM_KIND_REQ || d->kind == RM_KIND_NOTIFY || d->kind == RM_KIND_VMM);
		/* only requests have replies */
		if (d->kind == RM_KIND_NOTIFY)
			assert_string_equal(d->rep->name, "empty");
		assert_true(d->id != 0); /* msg_id 0 is reserved in Gunyah */
		check_layout(d->req, 0);
		check_layout(d->rep, 0);
		assert_true(max >= d->req->size);
		assert_true(max >= d->rep->size);
	}
	assert_true(max >= sizeof(struct rm_vm_config_req));
	assert_true(max >= sizeof(struct rm_vm_list_rep));
}

/* --- a walker that knows the wire rules, independent of the codec --------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Fills @obj (zeroed by the caller) by @l: random scalars, every string @slen bytes long (capped at
 * what its member holds; SIZE_MAX: the maximum), every list @count entries (capped likewise).
 */
static void populate(const struct rm_layout *l, uint8_t *obj, size_t slen, size_t count)
{
	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];
		uint8_t *m = obj + f->off;
		uint64_t v = rnd();
		size_t n;

		switch (f->type) {
		case RM_F_U8:
			*m = (uint8_t)v;
			break;
		case RM_F_U16:
			memcpy(m, &(uint16_t){ (uint16_t)v }, 2);
			break;
		case RM_F_U32:
			memcpy(m, &(uint32_t){ (uint32_t)v }, 4);
			break;
		case RM_F_U64:
			memcpy(m, &v, 8);
			break;
		case RM_F_STR:
			n = slen < f->cap - 1 ? slen : f->cap - 1;
			for (size_t c = 0; c < n; c++)
				m[c] = (uint8_t)(1 + (rnd() % 255)); /* any byte but NUL */
			m[n] = 0;
			break;
		case RM_F_LIST:
			n = count < f->cap ? count : f->cap;
			memcpy(m, &(uint16_t){ (uint16_t)n }, 2);
			for (size_t e = 0; e < n; e++)
				populate(f->elem, obj + f->elem_off + e * f->elem->size, slen, count);
			break;
		default:
			break;
		}
	}
}

/* The members of @l's fields from @from on, as bytes: are they all zero? */
static bool members_zero(const struct rm_layout *l, unsigned from, const uint8_t *obj)
{
	static const size_t width[] = { [RM_F_U8] = 1, [RM_F_U16] = 2, [RM_F_U32] = 4, [RM_F_U64] = 8 };

	for (unsigned i = from; i < l->nr_fields; i++)
		for (size_t b = 0; l->fields[i].type <= RM_F_U64 && b < width[l->fields[i].type]; b++)
			if (obj[l->fields[i].off + b])
				return false;
	return true;
}

/*
 * The encoding of @obj by the wire rules, written into @out (NULL: size only) at *pos, with @zero
 * marking the bytes that must be zero (reserved fields, list reserved halves, string padding);
 * *tail_pos (unless NULL) gets where an optional tail starts, or SIZE_MAX.
 */
static void expected(const struct rm_layout *l, const uint8_t *obj, uint8_t *out, bool *zero, size_t *pos,
		     size_t *tail_pos)
{
	if (tail_pos)
		*tail_pos = SIZE_MAX;
	for (unsigned i = 0; i < l->nr_fields; i++) {
		const struct rm_field *f = &l->fields[i];
		const uint8_t *m = obj + f->off;
		size_t w = 0, n, pad;
		uint64_t v = 0;
		uint16_t count;

		switch (f->type) {
		case RM_F_TAIL:
			if (members_zero(l, i + 1, obj))
				return; /* left out */
			if (tail_pos)
				*tail_pos = *pos;
			continue;
		case RM_F_U8: w = 1; v = *m; break;
		case RM_F_U16: w = 2; v = *(const uint16_t *)m; break;
		case RM_F_U32: w = 4; v = *(const uint32_t *)m; break;
		case RM_F_U64: w = 8; v = *(const uint64_t *)m; break;
		case RM_F_RES8: w = 1; break;
		case RM_F_RES16: w = 2; break;
		case RM_F_RES32: w = 4; break;
		case RM_F_STR:
			n = strlen((const char *)m);
			pad = (4 - (*pos + 2 + n) % 4) % 4;
			if (out) {
				out[*pos] = (uint8_t)n;
				out[*pos + 1] = (uint8_t)(n >> 8);
				memcpy(out + *pos + 2, m, n);
				memset(out + *pos + 2 + n, 0, pad);
				memset(zero + *pos, 0, 2 + n);
				memset(zero + *pos + 2 + n, 1, pad);
			}
			*pos += 2 + n + pad;
			continue;
		case RM_F_LIST:
			count = *(const uint16_t *)m;
			if (out) {
				out[*pos] = (uint8_t)count;
				out[*pos + 1] = (uint8_t)(count >> 8);
				out[*pos + 2] = out[*pos + 3] = 0;
				zero[*pos] = zero[*pos + 1] = false;
				zero[*pos + 2] = zero[*pos + 3] = true;
			}
			*pos += 4;
			for (unsigned e = 0; e < count; e++)
				expected(f->elem, obj + f->elem_off + e * f->elem->size, out, zero, pos, NULL);
			continue;
		}
		if (out) {
			for (size_t b = 0; b < w; b++) {
				out[*pos + b] = (uint8_t)(v >> (8 * b));
				zero[*pos + b] = f->type == RM_F_RES8 || f->type == RM_F_RES16 || f->type == RM_F_RES32;
			}
		}
		*pos += w;
	}
}

struct bufs {
	uint8_t *obj, *obj2, *enc, *want, *tmp;
	bool *zero;
};

static int bufs_setup(void **state)
{
	struct bufs *b = calloc(1, sizeof(*b));
	size_t max = rm_payload_max();

	if (!b)
		return -1;
	b->obj = malloc(max);
	b->obj2 = malloc(max);
	b->enc = malloc(BIG);
	b->want = malloc(BIG);
	b->tmp = malloc(BIG);
	b->zero = malloc(BIG * sizeof(bool));
	if (!b->obj || !b->obj2 || !b->enc || !b->want || !b->tmp || !b->zero)
		return -1;
	rng_state = 0x9e3779b97f4a7c15ull;
	*state = b;
	return 0;
}

static int bufs_teardown(void **state)
{
	struct bufs *b = *state;

	free(b->obj);
	free(b->obj2);
	free(b->enc);
	free(b->want);
	free(b->tmp);
	free(b->zero);
	free(b);
	return 0;
}

/* Encode, compare with the expected bytes, decode, compare with the struct; then the edges. */
static void round_trip(struct bufs *b, const char *what, const struct rm_layout *l, size_t slen, size_t count)
{
	size_t len = 0, want_len = 0, len2, tail_pos;
	int ret;

	memset(b->obj, 0, l->size);
	populate(l, b->obj, slen, count);
	expected(l, b->obj, b->want, b->zero, &want_len, &tail_pos);
	assert_true(want_len < BIG);

	ret = rm_encode(l, b->obj, b->enc, BIG, &len);
	if (ret)
		fail_msg("%s (%s, strings %zu, lists %zu): encode %d", what, l->name, slen, count, ret);
	assert_int_equal(len, want_len);
	assert_int_equal(len % 4, 0); /* every layout ends on a 4-byte boundary */
	if (memcmp(b->enc, b->want, len))
		fail_msg("%s (%s, strings %zu, lists %zu): bytes differ from the wire rules", what, l->name, slen,
			 count);

	memset(b->obj2, 0xa5, l->size);
	ret = rm_decode(l, b->enc, len, b->obj2);
	if (ret)
		fail_msg("%s (%s, strings %zu, lists %zu): decode %d", what, l->name, slen, count, ret);
	assert_memory_equal(b->obj2, b->obj, l->size);

	/* the output buffer: exactly big enough works, a byte less does not; RM_MSG_MAX as a sender has it */
	assert_int_equal(rm_encode(l, b->obj, b->tmp, len, &len2), 0);
	assert_int_equal(len2, len);
	if (len)
		assert_int_equal(rm_encode(l, b->obj, b->tmp, len - 1, &len2), -E2BIG);
	assert_int_equal(rm_encode(l, b->obj, b->tmp, RM_MSG_MAX, &len2), len > RM_MSG_MAX ? -E2BIG : 0);

	/* every proper prefix is short, but one that stops where an optional tail starts; a trailing byte is too much */
	for (size_t p = 0; p < len; p += (len > 2048 ? 1 + len / 512 : 1))
		assert_int_equal(rm_decode(l, b->enc, p, b->obj2), p == tail_pos ? 0 : -EBADMSG);
	b->enc[len] = 0;
	assert_int_equal(rm_decode(l, b->enc, len + 1, b->obj2), -EBADMSG);

	/* any bit in a reserved field or in padding makes the payload invalid */
	for (size_t p = 0; p < len; p++) {
		if (!b->zero[p])
			continue;
		b->enc[p] = 0x80;
		if (rm_decode(l, b->enc, len, b->obj2) != -EBADMSG)
			fail_msg("%s (%s): non-zero reserved/padding byte %zu accepted", what, l->name, p);
		b->enc[p] = 0;
	}
}

static void test_round_trip_every_layout(void **state)
{
	static const size_t slens[] = { 0, 1, 3, 4, SIZE_MAX };
	static const size_t counts[] = { 0, 1, 3, 4, SIZE_MAX };
	struct bufs *b = *state;

	for (unsigned i = 0; i < RM_NR_MSGS; i++) {
		for (size_t s = 0; s < sizeof(slens) / sizeof(slens[0]); s++) {
			round_trip(b, rm_msgs[i].name, rm_msgs[i].req, slens[s], counts[s]);
			round_trip(b, rm_msgs[i].name, rm_msgs[i].rep, slens[s], counts[s]);
		}
		/* strings at their longest with few list entries, and the other way round */
		round_trip(b, rm_msgs[i].name, rm_msgs[i].req, SIZE_MAX, 2);
		round_trip(b, rm_msgs[i].name, rm_msgs[i].rep, SIZE_MAX, 2);
		round_trip(b, rm_msgs[i].name, rm_msgs[i].req, 2, SIZE_MAX);
		round_trip(b, rm_msgs[i].name, rm_msgs[i].rep, 2, SIZE_MAX);
	}
}

/* --- exact bytes of Gunyah-compatible payloads ------------------------------------------ */

static void test_bytes_vm_stop(void **state)
{
	static const uint8_t want[] = { 0x34, 0x12, 0x01, 0x00, 0xef, 0xbe, 0xad, 0xde };
	struct rm_vm_stop_req req = { .vmid = 0x1234, .flags = RM_STOP_FLAG_FORCE, .stop_reason = 0xdeadbeef };
	struct rm_vm_stop_req back;
	const struct rm_layout *l = req_of(RM_ID_VM_STOP);
	uint8_t out[64];
	size_t len;

	(void)state;
	assert_int_equal(rm_encode(l, &req, out, sizeof(out), &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(out, want, 8);
	assert_int_equal(rm_decode(l, want, 8, &back), 0);
	assert_int_equal(back.vmid, 0x1234);
	assert_int_equal(back.flags, 1);
	assert_int_equal(back.stop_reason, 0xdeadbeef);
	/* the reply is the bare u32 error: no fields */
	assert_int_equal(rm_encode(rep_of(RM_ID_VM_STOP), &(struct rm_empty){ 0 }, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
}

static void test_bytes_vm_status(void **state)
{
	static const uint8_t want[] = { 0x02, 0x01, 0x00, 0x00, 0x03, 0x44, 0x66, 0x55 };
	struct rm_vm_status_ntf ntf = { .vmid = 0x0102, .vm_status = RM_VM_RUNNING, .os_status = 0x44,
					.app_status = 0x5566 };
	struct rm_vm_status_ntf back;
	const struct rm_layout *l = req_of(RM_ID_NOTIFY_VM_STATUS);
	uint8_t out[64];
	size_t len;

	(void)state;
	assert_int_equal(rm_encode(l, &ntf, out, sizeof(out), &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(out, want, 8);
	assert_int_equal(rm_decode(l, want, 8, &back), 0);
	assert_memory_equal(&back, &ntf, sizeof(ntf));
}

static void test_bytes_hyp_resources(void **state)
{
	struct bufs *b = *state;
	struct rm_hyp_resources_rep *rep = (void *)b->obj, *back = (void *)b->obj2;
	const struct rm_layout *l = rep_of(RM_ID_VM_GET_HYP_RESOURCES);
	size_t len;

	memset(rep, 0, sizeof(*rep));
	rep->nr = 3;
	for (unsigned i = 0; i < 3; i++) {
		rep->res[i] = (struct rm_hyp_resource){
			.type = (uint8_t)(RM_RES_VCPU + i), .partner_vmid = (uint16_t)(0x0a0b + i),
			.handle = 0x11121314 + i, .label = 0x21222324 + i, .cap_id = 0x3132333435363738ull + i,
			.virq_handle = 0x41424344 + i, .virq = 0x51525354 + i,
			.base = 0x6162636465666768ull + i, .size = 0x7172737475767778ull + i,
		};
	}
	assert_int_equal(rm_encode(l, rep, b->enc, BIG, &len), 0);
	assert_int_equal(len, 4 + 3 * 44);
	assert_int_equal(rm_get16(b->enc), 3);
	assert_int_equal(rm_get16(b->enc + 2), 0);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *e = b->enc + 4 + 44 * i;

		assert_int_equal(e[0], RM_RES_VCPU + i);
		assert_int_equal(e[1], 0);
		assert_int_equal(rm_get16(e + 2), 0x0a0b + i);
		assert_int_equal(rm_get32(e + 4), 0x11121314 + i);
		assert_int_equal(rm_get32(e + 8), 0x21222324 + i);
		assert_int_equal(rm_get64(e + 12), 0x3132333435363738ull + i);
		assert_int_equal(rm_get32(e + 20), 0x41424344 + i);
		assert_int_equal(rm_get32(e + 24), 0x51525354 + i);
		assert_int_equal(rm_get64(e + 28), 0x6162636465666768ull + i);
		assert_int_equal(rm_get64(e + 36), 0x7172737475767778ull + i);
	}
	assert_int_equal(rm_decode(l, b->enc, len, back), 0);
	assert_int_equal(back->nr, 3);
	assert_memory_equal(back->res, rep->res, 3 * sizeof(rep->res[0]));

	/* an empty list: just the count and its reserved half */
	rep->nr = 0;
	assert_int_equal(rm_encode(l, rep, b->enc, BIG, &len), 0);
	assert_int_equal(len, 4);
	/* the longest list: 128 entries, 5636 bytes, still a single message */
	rep->nr = RM_MAX_RESOURCES;
	assert_int_equal(rm_encode(l, rep, b->enc, RM_MSG_MAX, &len), 0);
	assert_int_equal(len, 4 + RM_MAX_RESOURCES * 44);
}

static void test_bytes_strings(void **state)
{
	static const struct {
		const char *name;
		uint8_t want[16];
		size_t len;
	} cases[] = {
		/* vmid 0x0007, reserved, u16 length, the bytes, zeros up to a multiple of 4 */
		{ "", { 7, 0, 0, 0, 0, 0, 0, 0 }, 8 },
		{ "a", { 7, 0, 0, 0, 1, 0, 'a', 0 }, 8 },
		{ "ab", { 7, 0, 0, 0, 2, 0, 'a', 'b' }, 8 },
		{ "abc", { 7, 0, 0, 0, 3, 0, 'a', 'b', 'c', 0, 0, 0 }, 12 },
		{ "abcd", { 7, 0, 0, 0, 4, 0, 'a', 'b', 'c', 'd', 0, 0 }, 12 },
		{ "abcdef", { 7, 0, 0, 0, 6, 0, 'a', 'b', 'c', 'd', 'e', 'f' }, 12 },
	};
	const struct rm_layout *l = req_of(RM_ID_VM_ALLOCATE);
	struct rm_vm_allocate_req req, back;
	uint8_t out[128];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.vmid = 7;
		strcpy(req.name, cases[i].name);
		assert_int_equal(rm_encode(l, &req, out, sizeof(out), &len), 0);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(out, cases[i].want, len);
		assert_int_equal(rm_decode(l, cases[i].want, cases[i].len, &back), 0);
		assert_int_equal(back.vmid, 7);
		assert_string_equal(back.name, cases[i].name);
	}

	/* GET_VERSION: 16 bytes of scalars, then the server string padded from the payload's start */
	struct rm_version_rep v = { .major = 1, .minor = 2, .features = 0xf, .max_msg = RM_MSG_MAX,
				    .max_inflight = 16, .max_vms = 0x100, .server = "bothyd 1" };
	struct rm_version_rep vb;

	assert_int_equal(rm_encode(rep_of(RM_ID_GET_VERSION), &v, out, sizeof(out), &len), 0);
	assert_int_equal(len, 28);
	assert_int_equal(rm_get16(out), 1);
	assert_int_equal(rm_get16(out + 2), 2);
	assert_int_equal(rm_get32(out + 4), 0xf);
	assert_int_equal(rm_get32(out + 8), RM_MSG_MAX);
	assert_int_equal(rm_get16(out + 12), 16);
	assert_int_equal(rm_get16(out + 14), 0x100);
	assert_int_equal(rm_get16(out + 16), 8);
	assert_memory_equal(out + 18, "bothyd 1", 8);
	assert_int_equal(out[26] | out[27], 0);
	assert_int_equal(rm_decode(rep_of(RM_ID_GET_VERSION), out, len, &vb), 0);
	assert_memory_equal(&vb, &v, sizeof(v));

	/* VM_GET_STATE's reply: Gunyah's 4 bytes */
	struct rm_vm_state_rep st = { .vm_state = RM_VM_PAUSED, .os_state = 0, .app_status = 0x0102 };

	assert_int_equal(rm_encode(rep_of(RM_ID_VM_GET_STATE), &st, out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, ((uint8_t[]){ 4, 0, 2, 1 }), 4);
}

/* VMM_HCALL (and NOTIFY_VM_HCALL, the same layout): arguments 7..17 are an optional tail. */
static void test_bytes_hcall_tail(void **state)
{
	const struct rm_layout *l = req_of(RM_ID_VMM_HCALL);
	struct rm_vm_hcall_ntf h = { .vmid = 3, .vcpu = 2, .token = 0x01020304, .fid = 0xC6000100, .flags = 1 };
	struct rm_vm_hcall_ntf back;
	uint8_t out[512], six[64];
	size_t len;

	(void)state;
	assert_ptr_equal(req_of(RM_ID_NOTIFY_VM_HCALL), l);
	for (unsigned i = 0; i < RM_HCALL_ARGS; i++)
		h.args[i] = (uint64_t)(i + 1) << 56 | (i + 1);

	/* Protocol 1.0's 64 bytes for six arguments: what x86 sends, what every receiver understands. */
	back = h;
	memset(back.args + RM_HCALL_ARGS_BASE, 0, sizeof(back.args) - RM_HCALL_ARGS_BASE * sizeof(back.args[0]));
	assert_int_equal(rm_encode(l, &back, six, sizeof(six), &len), 0);
	assert_int_equal(len, 64);
	assert_int_equal(rm_get16(six), 3);
	assert_int_equal(rm_get16(six + 2), 2);
	assert_int_equal(rm_get32(six + 4), 0x01020304);
	assert_int_equal(rm_get32(six + 8), 0xC6000100);
	assert_int_equal(rm_get32(six + 12), 1);
	for (unsigned i = 0; i < RM_HCALL_ARGS_BASE; i++)
		assert_int_equal(rm_get64(six + 16 + 8 * i), h.args[i]);
	assert_int_equal(rm_hcall_nargs(&back), RM_HCALL_ARGS_BASE);
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(rm_decode(l, six, 64, &back), 0);
	for (unsigned i = RM_HCALL_ARGS_BASE; i < RM_HCALL_ARGS; i++)
		assert_int_equal(back.args[i], 0);

	/* Any one of 7..17 set: all eleven follow, 152 bytes, and come back in their places. */
	for (unsigned set = RM_HCALL_ARGS_BASE; set < RM_HCALL_ARGS; set++) {
		struct rm_vm_hcall_ntf one = h;

		memset(one.args + RM_HCALL_ARGS_BASE, 0, sizeof(one.args) - RM_HCALL_ARGS_BASE * sizeof(one.args[0]));
		one.args[set] = 1;
		assert_int_equal(rm_encode(l, &one, out, sizeof(out), &len), 0);
		assert_int_equal(len, 64 + 11 * 8);
		assert_int_equal(rm_decode(l, out, len, &back), 0);
		assert_memory_equal(&back, &one, sizeof(one));
		assert_int_equal(rm_hcall_nargs(&back), RM_HCALL_ARGS);
	}
	assert_int_equal(rm_encode(l, &h, out, sizeof(out), &len), 0);
	assert_int_equal(len, 152);
	assert_memory_equal(out, six, 64);
	for (unsigned i = RM_HCALL_ARGS_BASE; i < RM_HCALL_ARGS; i++)
		assert_int_equal(rm_get64(out + 16 + 8 * i), h.args[i]);
	assert_int_equal(rm_decode(l, out, len, &back), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	/* a buffer that holds the six but not the tail */
	assert_int_equal(rm_encode(l, &h, out + 160, 151, &len), -E2BIG);
	assert_int_equal(rm_encode(l, &h, out + 160, 64, &len), -E2BIG);

	/* Truncated anywhere but at the tail's start, or too long: refused. */
	for (size_t p = 0; p < 152; p++)
		assert_int_equal(rm_decode(l, out, p, &back), p == 64 ? 0 : -EBADMSG);
	memset(out + 152, 0, 8);
	assert_int_equal(rm_decode(l, out, 153, &back), -EBADMSG);
	assert_int_equal(rm_decode(l, out, 160, &back), -EBADMSG);
	/* A tail of zeros is not how a sender says "no tail": refused, so every payload has one encoding. */
	memset(out + 64, 0, 88);
	assert_int_equal(rm_decode(l, out, 152, &back), -EBADMSG);
	out[151] = 1; /* its last byte alone makes it a tail */
	assert_int_equal(rm_decode(l, out, 152, &back), 0);
	assert_int_equal(back.args[16], 1ull << 56);
}

/* --- what the decoder refuses ------------------------------------------------------------ */

static void test_decode_rejects(void **state)
{
	struct bufs *b = *state;
	const struct rm_layout *stop = req_of(RM_ID_VM_STOP), *alloc = req_of(RM_ID_VM_ALLOCATE);
	const struct rm_layout *res = rep_of(RM_ID_VM_GET_HYP_RESOURCES);
	uint8_t p[128];

	/* short and trailing */
	memcpy(p, ((uint8_t[]){ 1, 0, 0, 0, 0, 0, 0, 0, 0 }), 9);
	assert_int_equal(rm_decode(stop, p, 8, b->obj), 0);
	assert_int_equal(rm_decode(stop, p, 7, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(stop, p, 0, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(stop, p, 9, b->obj), -EBADMSG);
	/* non-zero reserved byte */
	p[3] = 1;
	assert_int_equal(rm_decode(stop, p, 8, b->obj), -EBADMSG);
	/* an empty layout takes nothing */
	assert_int_equal(rm_decode(req_of(RM_ID_GET_VERSION), p, 0, b->obj), 0);
	assert_int_equal(rm_decode(req_of(RM_ID_GET_VERSION), p, 1, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(req_of(RM_ID_GET_VERSION), p, 4, b->obj), -EBADMSG);

	/* strings: the longest a member holds (63), one more, a NUL inside, a length past the end */
	memset(p, 0, sizeof(p));
	rm_put16(p + 4, RM_NAME_MAX - 1);
	memset(p + 6, 'n', RM_NAME_MAX - 1);
	assert_int_equal(rm_decode(alloc, p, 72, b->obj), 0);
	assert_int_equal(strlen(((struct rm_vm_allocate_req *)b->obj)->name), RM_NAME_MAX - 1);
	rm_put16(p + 4, RM_NAME_MAX);
	memset(p + 6, 'n', RM_NAME_MAX);
	assert_int_equal(rm_decode(alloc, p, 72, b->obj), -EBADMSG);
	memset(p, 0, sizeof(p));
	rm_put16(p + 4, 3);
	memcpy(p + 6, "a\0b", 3);
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), -EBADMSG);
	memcpy(p + 6, "ab\0", 3);
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), -EBADMSG);
	memcpy(p + 6, "abc", 3);
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), 0);
	assert_int_equal(rm_decode(alloc, p, 11, b->obj), -EBADMSG); /* padding missing */
	assert_int_equal(rm_decode(alloc, p, 16, b->obj), -EBADMSG);
	p[10] = 'x'; /* padding */
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), -EBADMSG);
	p[10] = 0;
	rm_put16(p + 4, 0xffff); /* a length the payload does not have */
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), -EBADMSG);
	rm_put16(p + 4, 7);
	assert_int_equal(rm_decode(alloc, p, 12, b->obj), -EBADMSG);

	/* lists: count above the cap (with the bytes there), reserved half, a truncated entry */
	size_t full = 4 + (RM_MAX_RESOURCES + 1) * 44;

	memset(b->enc, 0, full);
	rm_put16(b->enc, RM_MAX_RESOURCES);
	assert_int_equal(rm_decode(res, b->enc, full - 44, b->obj), 0);
	rm_put16(b->enc, RM_MAX_RESOURCES + 1);
	assert_int_equal(rm_decode(res, b->enc, full, b->obj), -EBADMSG);
	rm_put16(b->enc, 0xffff);
	assert_int_equal(rm_decode(res, b->enc, full, b->obj), -EBADMSG);
	rm_put16(b->enc, 2);
	assert_int_equal(rm_decode(res, b->enc, 4 + 2 * 44, b->obj), 0);
	assert_int_equal(rm_decode(res, b->enc, 4 + 44 + 22, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(res, b->enc, 4 + 2 * 44 - 1, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(res, b->enc, 4 + 44, b->obj), -EBADMSG);
	assert_int_equal(rm_decode(res, b->enc, 4 + 3 * 44, b->obj), -EBADMSG);
	rm_put16(b->enc + 2, 1);
	assert_int_equal(rm_decode(res, b->enc, 4 + 2 * 44, b->obj), -EBADMSG);
	rm_put16(b->enc + 2, 0);
	b->enc[4 + 44 + 1] = 1; /* the second entry's reserved byte */
	assert_int_equal(rm_decode(res, b->enc, 4 + 2 * 44, b->obj), -EBADMSG);
	b->enc[4 + 44 + 1] = 0;
	assert_int_equal(rm_decode(res, b->enc, 2, b->obj), -EBADMSG); /* not even the list header */

	/* a failed decode leaves no stale data behind a good one: the struct is zeroed first */
	memset(b->obj, 0xff, sizeof(struct rm_vm_allocate_req));
	memset(p, 0, sizeof(p));
	assert_int_equal(rm_decode(alloc, p, 8, b->obj), 0);
	for (size_t i = 0; i < sizeof(struct rm_vm_allocate_req); i++)
		assert_int_equal(b->obj[i], 0);
}

/* --- what the encoder refuses ------------------------------------------------------------ */

static void test_encode_rejects(void **state)
{
	struct bufs *b = *state;
	struct rm_vm_config_req *cfg = (void *)b->obj;
	const struct rm_layout *lcfg = req_of(RM_ID_VM_CONFIG);
	struct rm_vm_allocate_req a = { 0 };
	size_t len = 1;

	/* a VM_CONFIG whose strings add up to more than a message */
	memset(cfg, 0, sizeof(*cfg));
	memset(cfg->kernel, 'k', sizeof(cfg->kernel) - 1);
	memset(cfg->initrd, 'i', sizeof(cfg->initrd) - 1);
	memset(cfg->cmdline, 'c', sizeof(cfg->cmdline) - 1);
	cfg->nr_items = RM_MAX_ITEMS;
	for (unsigned i = 0; i < RM_MAX_ITEMS; i++) {
		cfg->items[i].kind = RM_ITEM_DISK;
		memset(cfg->items[i].spec, 's', sizeof(cfg->items[i].spec) - 1);
	}
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, RM_MSG_MAX, &len), -E2BIG);
	assert_int_equal(len, 0);
	/* ... and with 8 items it fits: 24 + 1028 + 1028 + 2052 + 4 + 4 + 4 + 8 * 1288 = 14448 bytes */
	cfg->nr_items = 8;
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, RM_MSG_MAX, &len), 0);
	assert_int_equal(len, 14448);
	cfg->nr_items = 9;
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, RM_MSG_MAX, &len), -E2BIG);

	/* unterminated strings, at the top and inside a list entry */
	memset(a.name, 'x', sizeof(a.name));
	assert_int_equal(rm_encode(req_of(RM_ID_VM_ALLOCATE), &a, b->enc, BIG, &len), -EINVAL);
	a.name[RM_NAME_MAX - 1] = 0;
	assert_int_equal(rm_encode(req_of(RM_ID_VM_ALLOCATE), &a, b->enc, BIG, &len), 0);
	assert_int_equal(len, 4 + 2 + 63 + 3);
	cfg->nr_items = 2;
	memset(cfg->items[1].spec, 's', sizeof(cfg->items[1].spec));
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, BIG, &len), -EINVAL);
	cfg->items[1].spec[0] = 0;
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, BIG, &len), 0);
	memset(cfg->cmdline, 'c', sizeof(cfg->cmdline));
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, BIG, &len), -EINVAL);
	cfg->cmdline[0] = 0;

	/* a list count above its cap */
	cfg->nr_items = RM_MAX_ITEMS + 1;
	assert_int_equal(rm_encode(lcfg, cfg, b->enc, BIG, &len), -EINVAL);
	struct rm_hyp_resources_rep *r = (void *)b->obj2;

	memset(r, 0, sizeof(*r));
	r->nr = RM_MAX_RESOURCES + 1;
	assert_int_equal(rm_encode(rep_of(RM_ID_VM_GET_HYP_RESOURCES), r, b->enc, BIG, &len), -EINVAL);

	/* an output buffer too small anywhere in the payload */
	struct rm_vm_stop_req s = { .vmid = 1 };

	for (size_t cap = 0; cap < 8; cap++)
		assert_int_equal(rm_encode(req_of(RM_ID_VM_STOP), &s, b->enc, cap, &len), -E2BIG);
}

/* --- names and the reference ---------------------------------------------------------------- */

static void test_names(void **state)
{
	static const struct {
		uint32_t v;
		const char *name;
	} errs[] = {
		{ 0, "OK" }, { 1, "NOMEM" }, { 2, "NORESOURCE" }, { 3, "DENIED" }, { 4, "MSG_INVALID" }, { 5, "BUSY" },
		{ 6, "ARGUMENT_INVALID" }, { 7, "HANDLE_INVALID" }, { 8, "VALIDATE_FAILED" }, { 0xd, "VMID_INVALID" },
		{ 0xe, "LOOKUP_FAILED" }, { 0x12, "IN_USE" }, { 0x14, "VM_STATE" }, { 0xffffffff, "UNIMPLEMENTED" },
	};
	static const char *const states[] = { "NONE", "INIT", "READY", "RUNNING", "PAUSED", "LOAD", "AUTH",
					      NULL, "INIT_FAILED", "EXITED", "RESETTING", "RESET" };
	static const char *const reasons[] = { "none", "poweroff", "reboot", "crash", "stopped", "forced",
					       "vmm-died", "vmm-error", "debug-exit" };
	static const uint32_t bad_errs[] = { 9, 0xa, 0xc, 0xf, 0x13, 0x15, 0x100, 0x80000000, 0xfffffffe };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		assert_string_equal(rm_err_name(errs[i].v), errs[i].name);
	for (size_t i = 0; i < sizeof(bad_errs) / sizeof(bad_errs[0]); i++) {
		const char *n = rm_err_name(bad_errs[i]);

		assert_non_null(n);
		for (size_t j = 0; j < sizeof(errs) / sizeof(errs[0]); j++)
			assert_string_not_equal(n, errs[j].name);
	}

	assert_int_equal(sizeof(states) / sizeof(states[0]), RM_VM_STATE_MAX + 1);
	for (unsigned s = 0; s <= RM_VM_STATE_MAX; s++)
		assert_string_equal(rm_vm_state_name(s), states[s] ? states[s] : "?");
	assert_string_equal(rm_vm_state_name(12), "?");
	assert_string_equal(rm_vm_state_name(255), "?");
	assert_string_equal(rm_vm_state_name(~0u), "?");

	assert_int_equal(sizeof(reasons) / sizeof(reasons[0]), RM_EXIT_REASON_MAX + 1);
	for (unsigned r = 0; r <= RM_EXIT_REASON_MAX; r++)
		assert_string_equal(rm_exit_reason_name(r), reasons[r]);
	for (unsigned r = RM_EXIT_REASON_MAX + 1; r < 300; r += 37) {
		const char *n = rm_exit_reason_name(r);

		assert_non_null(n);
		for (size_t j = 0; j < sizeof(reasons) / sizeof(reasons[0]); j++)
			assert_string_not_equal(n, reasons[j]);
	}
	assert_non_null(rm_exit_reason_name(~0u));
}

static void test_doc_write(void **state)
{
	char *text = NULL, id[16];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	(void)state;
	assert_non_null(f);
	rm_doc_write(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(text);
	assert_true(size > 1000);
	for (unsigned i = 0; i < RM_NR_MSGS; i++) {
		if (!strstr(text, rm_msgs[i].name))
			fail_msg("the reference does not mention %s", rm_msgs[i].name);
		snprintf(id, sizeof(id), "%08X", rm_msgs[i].id);
		if (!strstr(text, id))
			fail_msg("the reference does not give %s's id %s", rm_msgs[i].name, id);
	}
	assert_non_null(strstr(text, "14616"));
	assert_non_null(strstr(text, "VM_STATE"));
	assert_non_null(strstr(text, "INIT_FAILED"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, bufs_setup, bufs_teardown)
		T(test_msg_find),
		T(test_table_well_formed),
		T(test_round_trip_every_layout),
		T(test_bytes_vm_stop),
		T(test_bytes_vm_status),
		T(test_bytes_hyp_resources),
		T(test_bytes_hcall_tail),
		T(test_bytes_strings),
		T(test_decode_rejects),
		T(test_encode_rejects),
		T(test_names),
		T(test_doc_write),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
