/*
 * The VM owner as a peer on an RM link (docs/hypercalls.md): a forwarded hypercall goes out as
 * VMM_HCALL {vcpu, token, fid, flags, args} and the guest's results come back in the VMM_HCALL_RET
 * with the same token (docs/rpc.md). The one mechanism for both owners bothy knows: bothyd, on the
 * VMM's link (`bothy run --rm-control FD`), and an external handler process (`--hcall-handler SOCKET`).
 *
 * The peer is not trusted: malformed or late replies are dropped (and counted), a silent one times
 * out, one that closed or failed makes every later call fail at once; none of it stops the VM.
 */
#ifndef BOTHY_RM_HCALL_PEER_H
#define BOTHY_RM_HCALL_PEER_H

#include "hcall/hcall.h"

#define HCALL_WIRE_FLAG_64 1u /* VMM_HCALL flags: the caller uses the 64-bit convention */

struct hcall_peer;

/* A peer on @fd, a SOCK_SEQPACKET end the caller keeps (and closes after hcall_peer_close). */
int hcall_peer_open(int fd, int timeout_ms, struct hcall_peer **out);
/* Connects to the SOCK_SEQPACKET socket at @path; the peer owns that fd. */
int hcall_peer_connect(const char *path, int timeout_ms, struct hcall_peer **out);
void hcall_peer_close(struct hcall_peer *p);
/* Makes @stop_fd (readable when the VM stops) end a wait early. */
void hcall_peer_set_stop_fd(struct hcall_peer *p, int stop_fd);
/* struct hcall_owner.call: 0, -ETIMEDOUT, -ECANCELED (the VM stops), -EPIPE (the peer is gone), -errno. */
int hcall_peer_call(void *peer, struct hcall_call *c);
/* Frames and messages dropped: malformed, not a VMM_HCALL_RET, or a token not awaited (late). */
unsigned long hcall_peer_dropped(const struct hcall_peer *p);

#endif
