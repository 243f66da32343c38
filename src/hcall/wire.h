/*
 * The wire format between bothy and an external hypercall handler
 * (docs/hypercalls.md): one SOCK_SEQPACKET packet per request and per reply,
 * little-endian. Header-only so the handler tool (tests/tools/) shares it.
 */
#ifndef BOTHY_HCALL_WIRE_H
#define BOTHY_HCALL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HCALL_WIRE_REQ_MAGIC 0x51434842u   /* "BHCQ" */
#define HCALL_WIRE_REPLY_MAGIC 0x52434842u /* "BHCR" */
#define HCALL_WIRE_REQ_SIZE 80
#define HCALL_WIRE_REPLY_SIZE 48
#define HCALL_WIRE_FLAG_64 1u /* the caller uses the 64-bit convention */

struct hcall_wire_request {
	uint32_t vcpu, fid, flags;
	uint64_t seq;
	uint64_t args[6];
};

struct hcall_wire_reply {
	uint64_t seq;
	uint64_t ret[4];
};

static inline void hcall_wire_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hcall_wire_put64(uint8_t *p, uint64_t v)
{
	hcall_wire_put32(p, (uint32_t)v);
	hcall_wire_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t hcall_wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hcall_wire_get64(const uint8_t *p)
{
	return (uint64_t)hcall_wire_get32(p) | (uint64_t)hcall_wire_get32(p + 4) << 32;
}

static inline void hcall_wire_encode_request(uint8_t out[HCALL_WIRE_REQ_SIZE], const struct hcall_wire_request *r)
{
	hcall_wire_put32(out, HCALL_WIRE_REQ_MAGIC);
	hcall_wire_put32(out + 4, r->vcpu);
	hcall_wire_put32(out + 8, r->fid);
	hcall_wire_put32(out + 12, r->flags);
	hcall_wire_put64(out + 16, r->seq);
	for (int i = 0; i < 6; i++)
		hcall_wire_put64(out + 24 + 8 * i, r->args[i]);
	hcall_wire_put64(out + 72, 0);
}

/* False unless @in is a whole request (size and magic). */
static inline bool hcall_wire_decode_request(const uint8_t *in, size_t len, struct hcall_wire_request *r)
{
	if (len != HCALL_WIRE_REQ_SIZE || hcall_wire_get32(in) != HCALL_WIRE_REQ_MAGIC)
		return false;
	r->vcpu = hcall_wire_get32(in + 4);
	r->fid = hcall_wire_get32(in + 8);
	r->flags = hcall_wire_get32(in + 12);
	r->seq = hcall_wire_get64(in + 16);
	for (int i = 0; i < 6; i++)
		r->args[i] = hcall_wire_get64(in + 24 + 8 * i);
	return true;
}

static inline void hcall_wire_encode_reply(uint8_t out[HCALL_WIRE_REPLY_SIZE], const struct hcall_wire_reply *r)
{
	hcall_wire_put32(out, HCALL_WIRE_REPLY_MAGIC);
	hcall_wire_put32(out + 4, 0);
	hcall_wire_put64(out + 8, r->seq);
	for (int i = 0; i < 4; i++)
		hcall_wire_put64(out + 16 + 8 * i, r->ret[i]);
}

/* False unless @in is a whole reply (size and magic). */
static inline bool hcall_wire_decode_reply(const uint8_t *in, size_t len, struct hcall_wire_reply *r)
{
	if (len != HCALL_WIRE_REPLY_SIZE || hcall_wire_get32(in) != HCALL_WIRE_REPLY_MAGIC)
		return false;
	r->seq = hcall_wire_get64(in + 8);
	for (int i = 0; i < 4; i++)
		r->ret[i] = hcall_wire_get64(in + 16 + 8 * i);
	return true;
}

#endif
