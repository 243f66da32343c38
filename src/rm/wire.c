/* The resource manager's framing and reassembly (rm/wire.h). */
#include <errno.h>
#include <string.h>

#include "rm/wire.h"

void rm_hdr_encode(uint8_t out[RM_HDR_SIZE], const struct rm_hdr *h)
{
	out[0] = RM_API_BYTE;
	out[1] = (uint8_t)((h->type & 0x3) | (h->fragments & 0x3f) << 2);
	rm_put16(out + 2, h->seq);
	rm_put32(out + 4, h->msg_id);
}

int rm_hdr_decode(const uint8_t *frame, size_t len, struct rm_hdr *h)
{
	if (len < RM_HDR_SIZE || len > RM_FRAME_MAX)
		return -EINVAL;
	if (frame[0] != RM_API_BYTE)
		return -EPROTO;
	h->type = frame[1] & 0x3;
	h->fragments = frame[1] >> 2;
	if (h->fragments > RM_MAX_CONTINUATIONS)
		return -EPROTO;
	h->seq = rm_get16(frame + 2);
	h->msg_id = rm_get32(frame + 4);
	return 0;
}

unsigned rm_frame_count(size_t len)
{
	if (len > RM_MSG_MAX)
		return 0;
	return len ? (unsigned)((len + RM_FRAME_PAYLOAD - 1) / RM_FRAME_PAYLOAD) : 1;
}

size_t rm_frame_build(uint8_t out[RM_FRAME_MAX], enum rm_msg_type type, uint16_t seq, uint32_t msg_id,
		      const uint8_t *payload, size_t len, unsigned index)
{
	unsigned n = rm_frame_count(len);
	struct rm_hdr h = {
		.type = index ? RM_TYPE_CONTINUATION : (uint8_t)type,
		.fragments = (uint8_t)(n ? n - 1 : 0),
		.seq = seq,
		.msg_id = msg_id,
	};
	size_t off = (size_t)index * RM_FRAME_PAYLOAD, chunk = 0;

	if (!n || index >= n)
		return 0; /* no such frame: never a plausible-looking empty one */
	rm_hdr_encode(out, &h);
	if (off < len) {
		chunk = len - off < RM_FRAME_PAYLOAD ? len - off : RM_FRAME_PAYLOAD;
		memcpy(out + RM_HDR_SIZE, payload + off, chunk);
	}
	return RM_HDR_SIZE + chunk;
}

void rm_reasm_init(struct rm_reasm *r)
{
	for (unsigned i = 0; i < RM_REASM_SLOTS; i++)
		r->slots[i].used = false;
	r->clock = 0;
	r->dropped = 0;
}

static struct rm_reasm_slot *slot_of_seq(struct rm_reasm *r, uint16_t seq)
{
	for (unsigned i = 0; i < RM_REASM_SLOTS; i++)
		if (r->slots[i].used && r->slots[i].hdr.seq == seq)
			return &r->slots[i];
	return NULL;
}

/* A slot for a new partial message: a free one, else the oldest partial is dropped. */
static struct rm_reasm_slot *slot_new(struct rm_reasm *r)
{
	struct rm_reasm_slot *oldest = &r->slots[0];

	for (unsigned i = 0; i < RM_REASM_SLOTS; i++) {
		if (!r->slots[i].used)
			return &r->slots[i];
		if (r->slots[i].age < oldest->age)
			oldest = &r->slots[i];
	}
	oldest->used = false;
	r->dropped++;
	return oldest;
}

static void deliver(struct rm_message *out, const struct rm_hdr *h, const uint8_t *data, size_t len)
{
	out->hdr = *h;
	out->len = len;
	if (len)
		memcpy(out->data, data, len);
}

int rm_reasm_feed(struct rm_reasm *r, const uint8_t *frame, size_t len, struct rm_message *out)
{
	const uint8_t *payload = frame + RM_HDR_SIZE;
	size_t plen;
	struct rm_reasm_slot *s;
	struct rm_hdr h;
	int ret;

	ret = rm_hdr_decode(frame, len, &h);
	if (ret) {
		r->dropped++;
		return ret;
	}
	plen = len - RM_HDR_SIZE;

	if (h.type != RM_TYPE_CONTINUATION) {
		/* A first frame: it replaces a partial message with the same seq (the RM drops a
		 * partial when a new message starts; here only the one it collides with). */
		s = slot_of_seq(r, h.seq);
		if (s) {
			s->used = false;
			r->dropped++;
		}
		if (!h.fragments) {
			deliver(out, &h, payload, plen);
			return 1;
		}
		/* Every frame but the last is full, so the sizes add up to at most RM_MSG_MAX. */
		if (plen != RM_FRAME_PAYLOAD) {
			r->dropped++;
			return -EBADMSG;
		}
		s = slot_new(r);
		s->used = true;
		s->hdr = h;
		s->got = 1;
		s->age = ++r->clock;
		s->len = plen;
		memcpy(s->data, payload, plen);
		return 0;
	}

	s = slot_of_seq(r, h.seq);
	if (!s || s->hdr.msg_id != h.msg_id || s->hdr.fragments != h.fragments) {
		/* A stray continuation, or one that does not belong to the partial with its seq:
		 * that partial cannot be trusted any more either. */
		if (s)
			s->used = false;
		r->dropped++;
		return -EBADMSG;
	}
	if (s->got < (unsigned)s->hdr.fragments && plen != RM_FRAME_PAYLOAD) {
		/* Not the last frame, so it must be full. */
		s->used = false;
		r->dropped++;
		return -EBADMSG;
	}
	/* s->got <= fragments and every frame so far was full, so this fits in RM_MSG_MAX. */
	memcpy(s->data + s->len, payload, plen);
	s->len += plen;
	s->got++;
	if (s->got <= (unsigned)s->hdr.fragments)
		return 0;
	deliver(out, &s->hdr, s->data, s->len);
	s->used = false;
	return 1;
}
