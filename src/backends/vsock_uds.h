/*
 * Host side of virtio-vsock: Unix stream sockets (the "hybrid vsock" scheme).
 *
 *   guest -> host: a connection to (CID 2, port P) becomes a connection to
 *                  the Unix socket "<uds_path>_P", which a host service listens on;
 *   host -> guest: a host client connects to <uds_path>, sends "CONNECT P\n"
 *                  and, once the guest accepts, reads "OK <hostport>\n" and then
 *                  the stream.
 *
 * All fds come back non-blocking and close-on-exec. Functions return 0 or -errno.
 */
#ifndef BOTHY_BACKENDS_VSOCK_UDS_H
#define BOTHY_BACKENDS_VSOCK_UDS_H

#include <stddef.h>
#include <stdint.h>

/* Longest "CONNECT <port>\n" line a host client may send, newline included. */
#define VSOCK_UDS_LINE_MAX 64

/*
 * Listens on @path. A stale socket file (nobody accepting) is removed first;
 * a live listener, or a file that is not a socket, is refused (-EADDRINUSE,
 * -EEXIST) after a log_err naming the path. -ENAMETOOLONG if "<path>_<port>"
 * could not fit a socket address.
 */
int vsock_uds_listen(const char *path, int *out_fd);

/*
 * Connects to "<path>_<port>" without blocking. -ECONNREFUSED / -ENOENT when
 * nothing listens there, -EAGAIN when its backlog is full.
 */
int vsock_uds_connect(const char *path, uint32_t port, int *out_fd);

/*
 * Parses a host client's line @buf[0..len) (the newline included, at the end).
 * Accepts "CONNECT <decimal port>\n" (or "\r\n"), port < 2^32 - 1. 0 or -EINVAL.
 */
int vsock_uds_parse_connect(const char *buf, size_t len, uint32_t *port);

#endif
