/*
 * An RM link: one SOCK_SEQPACKET socket carrying RM frames (rm/wire.h), one frame a packet, an fd
 * passed by SCM_RIGHTS with a message's first frame. The one place that turns messages into packets
 * and packets into frames, for the client library (rm/client.c), the VMM's end of its link to bothyd
 * (rm/vmm_link.c) and bothyd's ends of both (rm/supervise.c, rm/server.c).
 */
#ifndef BOTHY_RM_LINK_H
#define BOTHY_RM_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rm/proto.h"
#include "rm/wire.h"

#define RM_LINK_MAX_FDS 4 /* fds taken in per packet (the rest the kernel discards); a peer sends one at most */

/*
 * Encodes the payload of message @d: a reply is the u32 @err followed, on RM_OK, by @obj in the
 * reply layout (an error reply is the u32 alone); a request or notification is @obj in the request
 * layout. A NULL @obj encodes no fields. 0 with *len set, or rm_encode()'s -errno.
 */
int rm_link_encode(const struct rm_msg_desc *d, enum rm_msg_type type, uint32_t err, const void *obj,
		   uint8_t out[RM_MSG_MAX], size_t *len);

/*
 * Sends one packet, @pass_fd (or -1) attached by SCM_RIGHTS; MSG_NOSIGNAL is added to @flags and
 * EINTR retried. 0, -EIO when only part of it went, or -errno (-EAGAIN when a non-blocking socket is full).
 */
int rm_link_send_frame(int sock, const uint8_t *frame, size_t len, int pass_fd, int flags);

/*
 * Sends the message {@type, @seq, @msg_id, @payload} as its frames, @pass_fd (or -1) with the first,
 * each as rm_link_send_frame() with @flags. 0, -EMSGSIZE when @len exceeds RM_MSG_MAX, or
 * rm_link_send_frame()'s -errno (earlier frames may have gone). The caller keeps @pass_fd.
 */
int rm_link_send(int sock, enum rm_msg_type type, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len,
		 int pass_fd, int flags);

/*
 * Receives one packet into @frame (recvmsg with @flags, MSG_CMSG_CLOEXEC added; EINTR retried).
 * Returns its length, 0 when the peer has closed, -EMSGSIZE when it was longer than a frame (dropped,
 * its fds closed), or -errno (-EAGAIN: nothing waits on a non-blocking call). The first fd it carried
 * is stored in *@fd_out (-1 when none) or closed when @fd_out is NULL; any others are closed.
 */
ssize_t rm_link_recv_frame(int sock, uint8_t frame[RM_FRAME_MAX], int flags, int *fd_out);

#endif
