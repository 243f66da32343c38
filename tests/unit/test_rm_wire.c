/*
 * The resource manager's framing (src/rm/wire.h): the 8-byte header, frame
 * building at every size boundary, reassembly round trips, the drop rules for
 * bad continuations, interleaved partial messages and the dropped counter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rm/wire.h"

#define MSG_ID 0x56000005u

struct fx {
	struct rm_reasm *r;
	struct rm_message *m;
	uint8_t *payload; /* RM_MSG_MAX + 1 bytes of a pattern */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->r = malloc(sizeof(*f->r));
	f->m = malloc(sizeof(*f->m));
	f->payload = malloc(RM_MSG_MAX + 1);
	if (!f->r || !f->m || !f->payload)
		return -1;
	/* dirty memory: rm_reasm_init must not rely on a zeroed allocation */
	memset(f->r, 0xa5, sizeof(*f->r));
	memset(f->m, 0x5a, sizeof(*f->m));
	rm_reasm_init(f->r);
	for (size_t i = 0; i <= RM_MSG_MAX; i++)
		f->payload[i] = (uint8_t)(i * 7 + (i >> 8) + 1);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	free(f->r);
	free(f->m);
	free(f->payload);
	free(f);
	return 0;
}

/* A raw header, byte by byte as the wire has it. */
static void raw_hdr(uint8_t *out, uint8_t api, unsigned type, unsigned frags, uint16_t seq, uint32_t id)
{
	out[0] = api;
	out[1] = (uint8_t)(type | frags << 2);
	rm_put16(out + 2, seq);
	rm_put32(out + 4, id);
}

static void test_hdr_encode(void **state)
{
	static const struct {
		struct rm_hdr h;
		uint8_t bytes[RM_HDR_SIZE];
	} cases[] = {
		{ { RM_TYPE_REQUEST, 0, 0x1234, 0x56000005 }, { 0x21, 0x01, 0x34, 0x12, 0x05, 0x00, 0x00, 0x56 } },
		{ { RM_TYPE_REPLY, 1, 0xffff, 0x5F100001 }, { 0x21, 0x06, 0xff, 0xff, 0x01, 0x00, 0x10, 0x5f } },
		{ { RM_TYPE_NOTIFY, 62, 0, 0xffffffff }, { 0x21, 0xfb, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff } },
		{ { RM_TYPE_CONTINUATION, 62, 1, 0 }, { 0x21, 0xf8, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00 } },
		{ { RM_TYPE_CONTINUATION, 0, 0x8000, 0x80 }, { 0x21, 0x00, 0x00, 0x80, 0x80, 0x00, 0x00, 0x00 } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[RM_HDR_SIZE + 1];
		struct rm_hdr h;

		memset(out, 0xcc, sizeof(out));
		rm_hdr_encode(out, &cases[i].h);
		assert_memory_equal(out, cases[i].bytes, RM_HDR_SIZE);
		assert_int_equal(out[RM_HDR_SIZE], 0xcc); /* exactly 8 bytes written */

		memset(&h, 0xee, sizeof(h));
		assert_int_equal(rm_hdr_decode(cases[i].bytes, RM_HDR_SIZE, &h), 0);
		assert_int_equal(h.type, cases[i].h.type);
		assert_int_equal(h.fragments, cases[i].h.fragments);
		assert_int_equal(h.seq, cases[i].h.seq);
		assert_int_equal(h.msg_id, cases[i].h.msg_id);
	}
}

static void test_hdr_decode_bits(void **state)
{
	uint8_t f[RM_FRAME_MAX + 1] = { 0 };
	struct rm_hdr h;

	(void)state;
	/* every type and fragment count that is allowed */
	for (unsigned type = 0; type < 4; type++) {
		for (unsigned frags = 0; frags <= RM_MAX_CONTINUATIONS; frags++) {
			raw_hdr(f, 0x21, type, frags, (uint16_t)(type * 1000 + frags), 0x100 + frags);
			assert_int_equal(rm_hdr_decode(f, RM_HDR_SIZE, &h), 0);
			assert_int_equal(h.type, type);
			assert_int_equal(h.fragments, frags);
			assert_int_equal(h.seq, type * 1000 + frags);
			assert_int_equal(h.msg_id, 0x100 + frags);
		}
	}
	/* 63 fragments: the 6-bit field can carry it, the protocol cannot */
	raw_hdr(f, 0x21, RM_TYPE_REQUEST, 63, 1, MSG_ID);
	assert_int_equal(f[1], 0xfd);
	assert_int_equal(rm_hdr_decode(f, RM_HDR_SIZE, &h), -EPROTO);
	raw_hdr(f, 0x21, RM_TYPE_CONTINUATION, 63, 1, MSG_ID);
	assert_int_equal(rm_hdr_decode(f, RM_FRAME_MAX, &h), -EPROTO);

	/* api byte: version 1 and 2 header words, nothing else */
	static const uint8_t bad_api[] = { 0x00, 0x01, 0x11, 0x20, 0x22, 0x31, 0x12, 0xa1, 0x29, 0xff };
	for (size_t i = 0; i < sizeof(bad_api); i++) {
		raw_hdr(f, bad_api[i], RM_TYPE_REQUEST, 0, 1, MSG_ID);
		assert_int_equal(rm_hdr_decode(f, RM_HDR_SIZE, &h), -EPROTO);
		assert_int_equal(rm_hdr_decode(f, RM_FRAME_MAX, &h), -EPROTO);
	}

	/* frame lengths: 8..240 */
	raw_hdr(f, 0x21, RM_TYPE_REQUEST, 0, 1, MSG_ID);
	for (size_t len = 0; len < RM_HDR_SIZE; len++)
		assert_int_equal(rm_hdr_decode(f, len, &h), -EINVAL);
	assert_int_equal(rm_hdr_decode(f, RM_HDR_SIZE, &h), 0);
	assert_int_equal(rm_hdr_decode(f, RM_HDR_SIZE + 1, &h), 0);
	assert_int_equal(rm_hdr_decode(f, RM_FRAME_MAX, &h), 0);
	assert_int_equal(rm_hdr_decode(f, RM_FRAME_MAX + 1, &h), -EINVAL);
	assert_int_equal(rm_hdr_decode(f, 65536, &h), -EINVAL);
}

static void test_frame_count(void **state)
{
	(void)state;
	assert_int_equal(RM_FRAME_PAYLOAD, 232);
	assert_int_equal(RM_MSG_MAX, 14616);
	assert_int_equal(rm_frame_count(0), 1);
	assert_int_equal(rm_frame_count(1), 1);
	assert_int_equal(rm_frame_count(231), 1);
	assert_int_equal(rm_frame_count(232), 1);
	assert_int_equal(rm_frame_count(233), 2);
	assert_int_equal(rm_frame_count(464), 2);
	assert_int_equal(rm_frame_count(465), 3);
	assert_int_equal(rm_frame_count(62 * 232), 62);
	assert_int_equal(rm_frame_count(62 * 232 + 1), 63);
	assert_int_equal(rm_frame_count(63 * 232), 63);
	assert_int_equal(rm_frame_count(63 * 232 + 1), 0);
	assert_int_equal(rm_frame_count(100000), 0);
	assert_int_equal(rm_frame_count((size_t)-1), 0);
}

/*
 * Builds every frame of a @len-byte message, checks each frame's length and header, feeds them in
 * order and checks the message that comes out.
 */
static void round_trip(struct fx *f, enum rm_msg_type type, uint16_t seq, uint32_t id, size_t len)
{
	unsigned n = rm_frame_count(len);
	unsigned long dropped = f->r->dropped;
	uint8_t frame[RM_FRAME_MAX + 16];

	assert_true(n >= 1 && n <= RM_MAX_CONTINUATIONS + 1);
	assert_int_equal(n, len ? (len + RM_FRAME_PAYLOAD - 1) / RM_FRAME_PAYLOAD : 1);
	for (unsigned i = 0; i < n; i++) {
		size_t off = (size_t)i * RM_FRAME_PAYLOAD;
		size_t chunk = len - off < RM_FRAME_PAYLOAD ? len - off : RM_FRAME_PAYLOAD;
		struct rm_hdr h;
		size_t flen;
		int ret;

		memset(frame, 0xcc, sizeof(frame));
		flen = rm_frame_build(frame, type, seq, id, f->payload, len, i);
		assert_int_equal(flen, RM_HDR_SIZE + chunk);
		assert_int_equal(frame[RM_FRAME_MAX], 0xcc); /* nothing past a frame */
		assert_int_equal(rm_hdr_decode(frame, flen, &h), 0);
		assert_int_equal(h.type, i == 0 ? type : RM_TYPE_CONTINUATION);
		assert_int_equal(h.fragments, n - 1);
		assert_int_equal(h.seq, seq);
		assert_int_equal(h.msg_id, id);
		assert_memory_equal(frame + RM_HDR_SIZE, f->payload + off, chunk);

		memset(f->m, 0x5a, sizeof(*f->m));
		ret = rm_reasm_feed(f->r, frame, flen, f->m);
		if (i + 1 < n) {
			assert_int_equal(ret, 0);
			continue;
		}
		assert_int_equal(ret, 1);
		assert_int_equal(f->m->hdr.type, type);
		assert_int_equal(f->m->hdr.fragments, n - 1);
		assert_int_equal(f->m->hdr.seq, seq);
		assert_int_equal(f->m->hdr.msg_id, id);
		assert_int_equal(f->m->len, len);
		if (len)
			assert_memory_equal(f->m->data, f->payload, len);
	}
	assert_int_equal(f->r->dropped, dropped);
}

static void test_round_trip_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 231, 232, 233, 464, 465, 466, 62 * 232 - 1, 62 * 232, 62 * 232 + 1,
					63 * 232 - 1, 63 * 232 };
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		round_trip(f, RM_TYPE_REQUEST, (uint16_t)(i + 1), MSG_ID, sizes[i]);
		round_trip(f, RM_TYPE_REPLY, (uint16_t)(i + 1), MSG_ID, sizes[i]);
		round_trip(f, RM_TYPE_NOTIFY, 0xffff, 0x56100008, sizes[i]);
	}
	/* the same seq again and again: a completed message leaves nothing behind */
	for (int i = 0; i < 3 * RM_REASM_SLOTS; i++)
		round_trip(f, RM_TYPE_REQUEST, 7, MSG_ID, 500);
	assert_int_equal(f->r->dropped, 0);
}

static void test_frame_max_message(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];
	size_t flen;

	/* 14616 bytes: 63 frames, all full */
	assert_int_equal(rm_frame_count(RM_MSG_MAX), 63);
	flen = rm_frame_build(frame, RM_TYPE_REQUEST, 3, MSG_ID, f->payload, RM_MSG_MAX, 62);
	assert_int_equal(flen, RM_FRAME_MAX);
	assert_int_equal(frame[1], RM_TYPE_CONTINUATION | 62 << 2);
	assert_memory_equal(frame + RM_HDR_SIZE, f->payload + 62 * 232, 232);
	round_trip(f, RM_TYPE_REQUEST, 3, MSG_ID, RM_MSG_MAX);
	/* one more byte: refused (no frame count), so the sender cannot build it */
	assert_int_equal(rm_frame_count(RM_MSG_MAX + 1), 0);
}

/* Feeds frame @index of a @len-byte message. */
static int feed(struct fx *f, enum rm_msg_type type, uint16_t seq, uint32_t id, size_t len, unsigned index)
{
	uint8_t frame[RM_FRAME_MAX];
	size_t flen = rm_frame_build(frame, type, seq, id, f->payload, len, index);

	return rm_reasm_feed(f->r, frame, flen, f->m);
}

static int feed_raw(struct fx *f, const uint8_t *frame, size_t len)
{
	return rm_reasm_feed(f->r, frame, len, f->m);
}

static void test_bad_headers_dropped(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX + 1];

	memset(frame, 0, sizeof(frame));
	raw_hdr(frame, 0x21, RM_TYPE_REQUEST, 0, 1, MSG_ID);
	assert_int_equal(feed_raw(f, frame, 7), -EINVAL);
	assert_int_equal(f->r->dropped, 1);
	assert_int_equal(feed_raw(f, frame, 0), -EINVAL);
	assert_int_equal(f->r->dropped, 2);
	assert_int_equal(feed_raw(f, frame, RM_FRAME_MAX + 1), -EINVAL);
	assert_int_equal(f->r->dropped, 3);
	raw_hdr(frame, 0x22, RM_TYPE_REQUEST, 0, 1, MSG_ID);
	assert_int_equal(feed_raw(f, frame, 20), -EPROTO);
	assert_int_equal(f->r->dropped, 4);
	raw_hdr(frame, 0x21, RM_TYPE_REQUEST, 63, 1, MSG_ID);
	assert_int_equal(feed_raw(f, frame, RM_FRAME_MAX), -EPROTO);
	assert_int_equal(f->r->dropped, 5);

	/* a header alone is a whole empty message; a short single frame is fine too */
	raw_hdr(frame, 0x21, RM_TYPE_NOTIFY, 0, 9, 0x56100001);
	assert_int_equal(feed_raw(f, frame, RM_HDR_SIZE), 1);
	assert_int_equal(f->m->len, 0);
	assert_int_equal(f->m->hdr.type, RM_TYPE_NOTIFY);
	frame[8] = 0x42;
	assert_int_equal(feed_raw(f, frame, RM_HDR_SIZE + 1), 1);
	assert_int_equal(f->m->len, 1);
	assert_int_equal(f->m->data[0], 0x42);
	assert_int_equal(f->r->dropped, 5);
}

static void test_bad_header_keeps_partial(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];

	/* a garbage frame between two good ones does not disturb the partial message */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 4, MSG_ID, 300, 0), 0);
	memset(frame, 0, sizeof(frame));
	raw_hdr(frame, 0x11, RM_TYPE_CONTINUATION, 1, 4, MSG_ID);
	assert_int_equal(feed_raw(f, frame, 100), -EPROTO);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 4, MSG_ID, 300, 1), 1);
	assert_int_equal(f->m->len, 300);
	assert_memory_equal(f->m->data, f->payload, 300);
	assert_int_equal(f->r->dropped, 1);
}

static void test_stray_continuation(void **state)
{
	struct fx *f = *state;

	/* no partial message at all */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 5, MSG_ID, 300, 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 1);
	/* a partial message, but of another seq */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 6, MSG_ID, 300, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 5, MSG_ID, 300, 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 2);
	/* ... which stays intact */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 6, MSG_ID, 300, 1), 1);
	assert_int_equal(f->m->hdr.seq, 6);
	assert_int_equal(f->m->len, 300);
	assert_memory_equal(f->m->data, f->payload, 300);
	assert_int_equal(f->r->dropped, 2);
}

static void test_extra_continuation_after_completion(void **state)
{
	struct fx *f = *state;

	/* the fragment count is fixed: a 64th frame cannot be announced, a frame past the last is stray */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 8, MSG_ID, 465, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 8, MSG_ID, 465, 1), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 8, MSG_ID, 465, 2), 1);
	assert_int_equal(f->m->len, 465);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 8, MSG_ID, 465, 2), -EBADMSG);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 8, MSG_ID, 465, 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 2);

	/* the full 63-frame message, then a 64th frame */
	for (unsigned i = 0; i < 62; i++)
		assert_int_equal(feed(f, RM_TYPE_REPLY, 9, MSG_ID, RM_MSG_MAX, i), 0);
	assert_int_equal(feed(f, RM_TYPE_REPLY, 9, MSG_ID, RM_MSG_MAX, 62), 1);
	assert_int_equal(f->m->len, RM_MSG_MAX);
	assert_memory_equal(f->m->data, f->payload, RM_MSG_MAX);
	assert_int_equal(feed(f, RM_TYPE_REPLY, 9, MSG_ID, RM_MSG_MAX, 62), -EBADMSG);
	assert_int_equal(f->r->dropped, 3);
}

/* After a mismatching continuation, the partial message of its seq is gone. */
static void assert_partial_gone(struct fx *f, uint16_t seq, size_t len)
{
	unsigned n = rm_frame_count(len);

	for (unsigned i = 1; i < n; i++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, seq, MSG_ID, len, i), -EBADMSG);
}

static void test_continuation_msg_id_differs(void **state)
{
	struct fx *f = *state;
	unsigned long d;

	assert_int_equal(feed(f, RM_TYPE_REQUEST, 10, MSG_ID, 700, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 10, MSG_ID, 700, 1), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 10, MSG_ID + 1, 700, 2), -EBADMSG);
	assert_true(f->r->dropped >= 1);
	d = f->r->dropped;
	/* the partial message went with it: the right last frame is now stray */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 10, MSG_ID, 700, 3), -EBADMSG);
	assert_int_equal(f->r->dropped, d + 1);
	/* and the seq can start over */
	round_trip(f, RM_TYPE_REQUEST, 10, MSG_ID, 700);
}

static void test_continuation_count_differs(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];
	size_t flen;

	/* first frame of a 4-frame message, continuation claiming 2 frames */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 11, MSG_ID, 700, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 11, MSG_ID, 300, 1), -EBADMSG);
	assert_true(f->r->dropped >= 1);
	assert_partial_gone(f, 11, 700);

	/* the same with the count byte patched: 3 where 2 were announced */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 12, MSG_ID, 465, 0), 0);
	flen = rm_frame_build(frame, RM_TYPE_REQUEST, 12, MSG_ID, f->payload, 465, 1);
	frame[1] = RM_TYPE_CONTINUATION | 3 << 2;
	assert_int_equal(feed_raw(f, frame, flen), -EBADMSG);
	assert_partial_gone(f, 12, 465);
	round_trip(f, RM_TYPE_REQUEST, 12, MSG_ID, 465);
}

static void test_short_first_frame_with_continuations(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];
	unsigned long d;

	memcpy(frame, f->payload, sizeof(frame));
	/* 100 payload bytes, one continuation announced */
	raw_hdr(frame, 0x21, RM_TYPE_REQUEST, 1, 13, MSG_ID);
	assert_int_equal(feed_raw(f, frame, RM_HDR_SIZE + 100), -EBADMSG);
	assert_int_equal(f->r->dropped, 1);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 13, MSG_ID, 300, 1), -EBADMSG);
	/* an empty first frame with continuations, and one byte short of full */
	raw_hdr(frame, 0x21, RM_TYPE_REQUEST, 5, 14, MSG_ID);
	assert_int_equal(feed_raw(f, frame, RM_HDR_SIZE), -EBADMSG);
	assert_int_equal(feed_raw(f, frame, RM_FRAME_MAX - 1), -EBADMSG);
	d = f->r->dropped;
	/* full: accepted */
	assert_int_equal(feed_raw(f, frame, RM_FRAME_MAX), 0);
	assert_int_equal(f->r->dropped, d);
}

static void test_short_middle_continuation(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];
	size_t flen;

	/* every frame but the last is full: a short middle frame drops the partial message */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 15, MSG_ID, 700, 0), 0);
	flen = rm_frame_build(frame, RM_TYPE_REQUEST, 15, MSG_ID, f->payload, 700, 1);
	assert_int_equal(flen, RM_FRAME_MAX);
	assert_int_equal(feed_raw(f, frame, flen - 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 1);
	assert_partial_gone(f, 15, 700);
	/* a last frame may be anything from empty to full */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 16, MSG_ID, 464, 0), 0);
	raw_hdr(frame, 0x21, RM_TYPE_CONTINUATION, 1, 16, MSG_ID);
	assert_int_equal(feed_raw(f, frame, RM_HDR_SIZE), 1);
	assert_int_equal(f->m->len, 232);
	assert_memory_equal(f->m->data, f->payload, 232);
}

static void test_interleaved(void **state)
{
	struct fx *f = *state;
	const size_t la = 600, lb = 3 * 232; /* 3 frames each */

	assert_int_equal(feed(f, RM_TYPE_REQUEST, 20, MSG_ID, la, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REPLY, 21, 0x56000017, lb, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 20, MSG_ID, la, 1), 0);
	assert_int_equal(feed(f, RM_TYPE_REPLY, 21, 0x56000017, lb, 1), 0);
	/* a single-frame message in between completes at once and disturbs neither */
	assert_int_equal(feed(f, RM_TYPE_NOTIFY, 22, 0x56100008, 8, 0), 1);
	assert_int_equal(f->m->hdr.seq, 22);
	assert_int_equal(f->m->len, 8);
	assert_int_equal(feed(f, RM_TYPE_REPLY, 21, 0x56000017, lb, 2), 1);
	assert_int_equal(f->m->hdr.type, RM_TYPE_REPLY);
	assert_int_equal(f->m->hdr.seq, 21);
	assert_int_equal(f->m->hdr.msg_id, 0x56000017);
	assert_int_equal(f->m->len, lb);
	assert_memory_equal(f->m->data, f->payload, lb);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 20, MSG_ID, la, 2), 1);
	assert_int_equal(f->m->hdr.type, RM_TYPE_REQUEST);
	assert_int_equal(f->m->hdr.seq, 20);
	assert_int_equal(f->m->hdr.msg_id, MSG_ID);
	assert_int_equal(f->m->len, la);
	assert_memory_equal(f->m->data, f->payload, la);
	assert_int_equal(f->r->dropped, 0);
}

static void test_all_slots_interleaved(void **state)
{
	struct fx *f = *state;
	const size_t len = 4 * 232 + 17; /* 5 frames */

	/* RM_REASM_SLOTS messages round-robin, frame by frame: all complete, nothing dropped */
	for (unsigned i = 0; i < 5; i++) {
		for (unsigned s = 0; s < RM_REASM_SLOTS; s++) {
			int ret = feed(f, RM_TYPE_REQUEST, (uint16_t)(100 + s), MSG_ID + s, len, i);

			assert_int_equal(ret, i == 4 ? 1 : 0);
			if (ret == 1) {
				assert_int_equal(f->m->hdr.seq, 100 + s);
				assert_int_equal(f->m->hdr.msg_id, MSG_ID + s);
				assert_int_equal(f->m->len, len);
				assert_memory_equal(f->m->data, f->payload, len);
			}
		}
	}
	assert_int_equal(f->r->dropped, 0);
}

static void test_evict_oldest(void **state)
{
	struct fx *f = *state;
	const size_t len = 300;

	/* RM_REASM_SLOTS + 1 partial messages: the first (oldest) goes */
	for (unsigned s = 0; s <= RM_REASM_SLOTS; s++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(200 + s), MSG_ID, len, 0), 0);
	assert_int_equal(f->r->dropped, 1);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 200, MSG_ID, len, 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 2);
	for (unsigned s = 1; s <= RM_REASM_SLOTS; s++) {
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(200 + s), MSG_ID, len, 1), 1);
		assert_int_equal(f->m->hdr.seq, 200 + s);
		assert_int_equal(f->m->len, len);
		assert_memory_equal(f->m->data, f->payload, len);
	}
	assert_int_equal(f->r->dropped, 2);
	/* every slot is free again */
	for (unsigned s = 0; s < RM_REASM_SLOTS; s++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(300 + s), MSG_ID, len, 0), 0);
	assert_int_equal(f->r->dropped, 2);
	for (unsigned s = 0; s < RM_REASM_SLOTS; s++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(300 + s), MSG_ID, len, 1), 1);
	assert_int_equal(f->r->dropped, 2);
}

static void test_same_seq_replaces(void **state)
{
	struct fx *f = *state;
	uint8_t frame[RM_FRAME_MAX];
	size_t flen;

	/* two frames of a 3-frame message, then a new 2-frame message on the same seq */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 30, MSG_ID, 600, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 30, MSG_ID, 600, 1), 0);
	/* the new one carries other bytes, so a mix-up shows */
	flen = rm_frame_build(frame, RM_TYPE_REQUEST, 30, 0x56000001, f->payload + 1000, 400, 0);
	assert_int_equal(feed_raw(f, frame, flen), 0);
	assert_int_equal(f->r->dropped, 1);
	flen = rm_frame_build(frame, RM_TYPE_REQUEST, 30, 0x56000001, f->payload + 1000, 400, 1);
	assert_int_equal(feed_raw(f, frame, flen), 1);
	assert_int_equal(f->m->hdr.msg_id, 0x56000001);
	assert_int_equal(f->m->hdr.fragments, 1);
	assert_int_equal(f->m->len, 400);
	assert_memory_equal(f->m->data, f->payload + 1000, 400);
	/* the old message's last frame is stray now */
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 30, MSG_ID, 600, 2), -EBADMSG);
	assert_int_equal(f->r->dropped, 2);

	/* replacing does not take a second slot: fill the others, replace, nothing evicted */
	for (unsigned s = 0; s < RM_REASM_SLOTS; s++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(40 + s), MSG_ID, 300, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 40, MSG_ID, 300, 0), 0);
	assert_int_equal(f->r->dropped, 3);
	for (unsigned s = 0; s < RM_REASM_SLOTS; s++)
		assert_int_equal(feed(f, RM_TYPE_REQUEST, (uint16_t)(40 + s), MSG_ID, 300, 1), 1);
	assert_int_equal(f->r->dropped, 3);
}

static void test_init_resets(void **state)
{
	struct fx *f = *state;

	assert_int_equal(feed(f, RM_TYPE_REQUEST, 50, MSG_ID, 600, 0), 0);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 51, MSG_ID, 600, 1), -EBADMSG);
	assert_int_equal(f->r->dropped, 1);
	rm_reasm_init(f->r);
	assert_int_equal(f->r->dropped, 0);
	for (unsigned s = 0; s < RM_REASM_SLOTS; s++)
		assert_false(f->r->slots[s].used);
	assert_int_equal(feed(f, RM_TYPE_REQUEST, 50, MSG_ID, 600, 1), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T(test_hdr_encode),
		T(test_hdr_decode_bits),
		T(test_frame_count),
		T(test_round_trip_sizes),
		T(test_frame_max_message),
		T(test_bad_headers_dropped),
		T(test_bad_header_keeps_partial),
		T(test_stray_continuation),
		T(test_extra_continuation_after_completion),
		T(test_continuation_msg_id_differs),
		T(test_continuation_count_differs),
		T(test_short_first_frame_with_continuations),
		T(test_short_middle_continuation),
		T(test_interleaved),
		T(test_all_slots_interleaved),
		T(test_evict_oldest),
		T(test_same_seq_replaces),
		T(test_init_resets),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
