/* An RM link: messages to packets and packets to frames over SOCK_SEQPACKET (rm/link.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/link.h"

int rm_link_encode(const struct rm_msg_desc *d, enum rm_msg_type type, uint32_t err, const void *obj,
		   uint8_t out[RM_MSG_MAX], size_t *len)
{
	size_t pos = 0;
	int ret;

	*len = 0;
	if (type == RM_TYPE_REPLY) {
		rm_put32(out, err);
		pos = 4;
		if (err != RM_OK)
			obj = NULL;
	}
	if (obj) {
		ret = rm_encode(type == RM_TYPE_REPLY ? d->rep : d->req, obj, out + pos, RM_MSG_MAX - pos, len);
		if (ret)
			return ret;
	}
	*len += pos;
	return 0;
}

int rm_link_send_frame(int sock, const uint8_t *frame, size_t len, int pass_fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)frame, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int rm_link_send(int sock, enum rm_msg_type type, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len,
		 int pass_fd, int flags)
{
	unsigned frames = rm_frame_count(len);
	uint8_t frame[RM_FRAME_MAX];

	if (!frames)
		return -EMSGSIZE;
	for (unsigned i = 0; i < frames; i++) {
		size_t n = rm_frame_build(frame, type, seq, msg_id, payload, len, i);
		int ret = rm_link_send_frame(sock, frame, n, i == 0 ? pass_fd : -1, flags);

		if (ret)
			return ret;
	}
	return 0;
}

/* Keeps the first fd of a packet's SCM_RIGHTS in *fd_out (or closes it), closes any others. */
static void take_fds(struct msghdr *mh, int *fd_out)
{
	int keep = -1;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t nfds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfds; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (keep < 0 && fd_out)
				keep = fd;
			else
				close(fd);
		}
	}
	if (fd_out)
		*fd_out = keep;
}

ssize_t rm_link_recv_frame(int sock, uint8_t frame[RM_FRAME_MAX], int flags, int *fd_out)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RM_LINK_MAX_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = frame, .iov_len = RM_FRAME_MAX };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	if (fd_out)
		*fd_out = -1;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Fds the control buffer could not hold (MSG_CTRUNC) the kernel has discarded; the frame stands. */
	if (!(mh.msg_flags & MSG_TRUNC)) {
		take_fds(&mh, fd_out);
		return n;
	}
	take_fds(&mh, NULL);
	return -EMSGSIZE;
}
