/*
 * The resource manager's framing (docs/rpc.md): Gunyah RM frames of at most
 * 240 bytes, an 8-byte little-endian header and up to 232 bytes of payload; a
 * long message is a first frame plus up to 62 continuation frames that repeat
 * seq, msg_id and the fragment count. One frame per SOCK_SEQPACKET packet.
 *
 * Unlike Gunyah's single reassembly per link, a receiver keeps a few partial
 * messages at once, told apart by seq, so a peer may interleave the frames
 * of several requests in flight.
 */
#ifndef BOTHY_RM_WIRE_H
#define BOTHY_RM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RM_API_BYTE 0x21 /* api_version 1 (bits 3:0), header_words 2 (bits 7:4) */
#define RM_HDR_SIZE 8
#define RM_FRAME_MAX 240
#define RM_FRAME_PAYLOAD (RM_FRAME_MAX - RM_HDR_SIZE) /* 232 */
#define RM_MAX_CONTINUATIONS 62
#define RM_MSG_MAX (RM_FRAME_PAYLOAD * (RM_MAX_CONTINUATIONS + 1)) /* 14616 */
#define RM_REASM_SLOTS 4 /* partial messages a receiver keeps per link */

enum rm_msg_type {
	RM_TYPE_CONTINUATION = 0,
	RM_TYPE_REQUEST = 1,
	RM_TYPE_REPLY = 2,
	RM_TYPE_NOTIFY = 3,
};

struct rm_hdr {
	uint8_t type;      /* enum rm_msg_type */
	uint8_t fragments; /* continuation frames that follow the first (0..62) */
	uint16_t seq;
	uint32_t msg_id;
};

void rm_hdr_encode(uint8_t out[RM_HDR_SIZE], const struct rm_hdr *h);
/* -EINVAL: shorter than a header, or a frame longer than 240 bytes; -EPROTO: not byte 0x21, or more
 * than 62 fragments. */
int rm_hdr_decode(const uint8_t *frame, size_t len, struct rm_hdr *h);

/* Frames a message of @len bytes needs (1 for an empty message), or 0 above RM_MSG_MAX. */
unsigned rm_frame_count(size_t len);
/*
 * Builds frame @index (0-based) of the message {type, seq, msg_id, payload} into @out; returns
 * its length, or 0 when the message is too long or @index is past its last frame. The caller loops
 * index over rm_frame_count(len).
 */
size_t rm_frame_build(uint8_t out[RM_FRAME_MAX], enum rm_msg_type type, uint16_t seq, uint32_t msg_id,
		      const uint8_t *payload, size_t len, unsigned index);

/* A whole message: the first frame's header and the reassembled payload. */
struct rm_message {
	struct rm_hdr hdr; /* type is the first frame's (request, reply, notify) */
	size_t len;
	uint8_t data[RM_MSG_MAX];
};

struct rm_reasm_slot {
	bool used;
	struct rm_hdr hdr;
	unsigned got; /* frames received so far */
	uint64_t age; /* for evicting the oldest */
	size_t len;
	uint8_t data[RM_MSG_MAX];
};

/* One link's receive side (about 60 KiB: allocate it, do not put it on a stack). */
struct rm_reasm {
	struct rm_reasm_slot slots[RM_REASM_SLOTS];
	uint64_t clock;
	unsigned long dropped; /* frames or partial messages thrown away */
};

void rm_reasm_init(struct rm_reasm *r);
/*
 * Feeds one received frame. Returns 1 with *out filled when it completes a message, 0 when more
 * frames are needed, or a negative errno when the frame (or the partial message it belonged to) is
 * dropped: -EINVAL/-EPROTO bad header (as rm_hdr_decode), -EBADMSG a continuation with no partial
 * message of its seq, or whose msg_id or fragment count differ (that partial message is dropped
 * too), or a first frame that is not full although more frames follow. A new first frame whose seq
 * equals a partial message's replaces it; when every slot is busy the oldest partial is dropped.
 * Nothing here trusts the peer: every length is checked before it is used.
 */
int rm_reasm_feed(struct rm_reasm *r, const uint8_t *frame, size_t len, struct rm_message *out);

/* Little-endian helpers for payload codecs. */
static inline void rm_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void rm_put32(uint8_t *p, uint32_t v)
{
	rm_put16(p, (uint16_t)v);
	rm_put16(p + 2, (uint16_t)(v >> 16));
}
static inline void rm_put64(uint8_t *p, uint64_t v)
{
	rm_put32(p, (uint32_t)v);
	rm_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t rm_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t rm_get32(const uint8_t *p)
{
	return (uint32_t)rm_get16(p) | (uint32_t)rm_get16(p + 2) << 16;
}
static inline uint64_t rm_get64(const uint8_t *p)
{
	return (uint64_t)rm_get32(p) | (uint64_t)rm_get32(p + 4) << 32;
}

#endif
