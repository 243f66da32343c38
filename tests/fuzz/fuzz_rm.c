/*
 * libFuzzer target: the resource manager's receive path as bothyd and its
 * clients run it, against a peer that sends anything. The input is a list of
 * frames, each fed to rm_reasm_feed; every message that comes out is decoded
 * with its table layouts (the request or notification layout, and as a reply:
 * u32 error + reply layout). A message whose id is not in the table is tried
 * with the layouts of entry id % RM_NR_MSGS, so every layout gets fuzzed.
 *
 * Checked: what reassembly returns (errors, sizes, the slots it keeps), that
 * rebuilding a completed message with rm_frame_build and reassembling it gives
 * the same message, and that every successful decode re-encodes to exactly
 * the bytes it came from (the encoding is canonical: reserved fields and
 * padding are zero) and decodes again to an equal struct.
 *
 * Input layout: repeated [len (1 byte)][len bytes: one frame], the last frame
 * cut short by the end of the input. Lengths above 240 test the size check.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rm/proto.h"
#include "rm/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                    \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "fuzz_rm: invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

static struct rm_reasm *reasm, *reasm2;
static struct rm_message *msg, *msg2;
static uint8_t *enc;

static void check_slots(const struct rm_reasm *r)
{
	for (unsigned i = 0; i < RM_REASM_SLOTS; i++) {
		const struct rm_reasm_slot *s = &r->slots[i];

		if (!s->used)
			continue;
		CHECK(s->hdr.type != RM_TYPE_CONTINUATION);
		CHECK(s->hdr.fragments >= 1 && s->hdr.fragments <= RM_MAX_CONTINUATIONS);
		CHECK(s->got >= 1 && s->got <= s->hdr.fragments);
		CHECK(s->len == (size_t)s->got * RM_FRAME_PAYLOAD); /* every frame but the last is full */
		CHECK(s->age <= r->clock);
		for (unsigned j = 0; j < i; j++)
			CHECK(!r->slots[j].used || r->slots[j].hdr.seq != s->hdr.seq);
	}
}

/* Decode by @l; on success, re-encode and decode again: the same bytes, the same struct. */
static void try_layout(const struct rm_layout *l, const uint8_t *in, size_t len)
{
	void *obj = malloc(l->size), *obj2 = malloc(l->size);
	size_t elen = 0;
	int ret;

	CHECK(obj && obj2);
	ret = rm_decode(l, in, len, obj);
	CHECK(ret == 0 || ret == -EBADMSG);
	if (ret == 0) {
		ret = rm_encode(l, obj, enc, RM_MSG_MAX, &elen);
		CHECK(ret == 0);
		CHECK(elen == len);
		CHECK(memcmp(enc, in, len) == 0);
		CHECK(rm_decode(l, enc, elen, obj2) == 0);
		CHECK(memcmp(obj, obj2, l->size) == 0);
	}
	free(obj);
	free(obj2);
}

static void check_message(const struct rm_message *m)
{
	const struct rm_msg_desc *d = rm_msg_find(m->hdr.msg_id);
	unsigned n;

	CHECK(m->hdr.type != RM_TYPE_CONTINUATION && m->hdr.type <= RM_TYPE_NOTIFY);
	CHECK(m->hdr.fragments <= RM_MAX_CONTINUATIONS);
	CHECK(m->len <= RM_MSG_MAX);
	CHECK(m->len <= (size_t)(m->hdr.fragments + 1) * RM_FRAME_PAYLOAD);
	CHECK(m->len >= (size_t)m->hdr.fragments * RM_FRAME_PAYLOAD);

	/* The sender's side: the same message framed by rm_frame_build reassembles to itself. */
	n = rm_frame_count(m->len);
	CHECK(n >= 1 && n <= RM_MAX_CONTINUATIONS + 1);
	rm_reasm_init(reasm2);
	for (unsigned i = 0; i < n; i++) {
		uint8_t frame[RM_FRAME_MAX];
		size_t flen = rm_frame_build(frame, (enum rm_msg_type)m->hdr.type, m->hdr.seq, m->hdr.msg_id, m->data,
					     m->len, i);
		int ret;

		CHECK(flen >= RM_HDR_SIZE && flen <= RM_FRAME_MAX);
		ret = rm_reasm_feed(reasm2, frame, flen, msg2);
		CHECK(ret == (i + 1 == n ? 1 : 0));
	}
	CHECK(reasm2->dropped == 0);
	CHECK(msg2->hdr.type == m->hdr.type && msg2->hdr.seq == m->hdr.seq && msg2->hdr.msg_id == m->hdr.msg_id);
	CHECK(msg2->len == m->len);
	CHECK(memcmp(msg2->data, m->data, m->len) == 0);
	/* A peer may announce more frames than the length needs (a full message, then an empty last frame). */
	CHECK(msg2->hdr.fragments <= m->hdr.fragments);

	if (!d)
		d = &rm_msgs[m->hdr.msg_id % RM_NR_MSGS];
	try_layout(d->req, m->data, m->len);
	if (m->len >= 4 && rm_get32(m->data) == RM_OK)
		try_layout(d->rep, m->data + 4, m->len - 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	if (!reasm) {
		reasm = malloc(sizeof(*reasm));
		reasm2 = malloc(sizeof(*reasm2));
		msg = malloc(sizeof(*msg));
		msg2 = malloc(sizeof(*msg2));
		enc = malloc(RM_MSG_MAX);
		CHECK(reasm && reasm2 && msg && msg2 && enc);
	}
	rm_reasm_init(reasm);
	while (pos < size) {
		size_t len = data[pos++];
		unsigned long dropped = reasm->dropped;
		uint8_t *frame;
		int ret;

		if (len > size - pos)
			len = size - pos;
		/* an exact-size copy, so ASan sees any read past the frame */
		frame = malloc(len ? len : 1);
		CHECK(frame);
		memcpy(frame, data + pos, len);
		pos += len;

		ret = rm_reasm_feed(reasm, frame, len, msg);
		free(frame);
		CHECK(ret == 0 || ret == 1 || ret == -EINVAL || ret == -EPROTO || ret == -EBADMSG);
		if (ret < 0)
			CHECK(reasm->dropped > dropped);
		else
			CHECK(reasm->dropped <= dropped + 1); /* at most one partial replaced or evicted */
		check_slots(reasm);
		if (ret == 1)
			check_message(msg);
	}
	return 0;
}
