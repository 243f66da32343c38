/*
 * The resource manager's client library (docs/resource-manager.md): one
 * connection to bothyd, requests matched to replies by seq and msg_id,
 * several in flight at once, notifications queued as they arrive (so none is
 * lost while a caller waits for a reply), fds received with replies.
 *
 * Every function returns 0 (or a count) or a negative errno for what went
 * wrong locally or on the link; the RM's own answer (enum rm_err) comes back
 * through an out-parameter. Not thread-safe: one thread per client.
 */
#ifndef BOTHY_RM_CLIENT_H
#define BOTHY_RM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "rm/proto.h"

#define RM_CLIENT_DEFAULT_SOCKET "/run/bothy/bothyd.sock"
#define RM_CLIENT_SOCKET_ENV "BOTHY_RM_SOCKET"
#define RM_CLIENT_MAX_INFLIGHT RM_MAX_INFLIGHT /* bothyd's limit per connection (more gets BUSY) */
#define RM_CLIENT_NOTIFY_QUEUE 512 /* notifications kept until read; later ones are counted and dropped */
#define RM_CLIENT_DEFAULT_TIMEOUT_MS 60000

struct rm_client;

/* A decoded notification: msg_id says which member is valid. */
struct rm_notification {
	uint32_t msg_id; /* RM_ID_NOTIFY_VM_STATUS, RM_ID_NOTIFY_VM_EXITED, RM_ID_NOTIFY_VM_HCALL */
	union {
		struct rm_vm_status_ntf status;
		struct rm_vm_exited_ntf exited;
		struct rm_vm_hcall_ntf hcall;
	};
};

/* @path, else $BOTHY_RM_SOCKET, else RM_CLIENT_DEFAULT_SOCKET. */
const char *rm_client_socket_path(const char *path);

/*
 * Connects to bothyd's SOCK_SEQPACKET socket at rm_client_socket_path(@path). -ENAMETOOLONG for a
 * path a sockaddr_un cannot hold, else connect()'s errno (-ENOENT, -ECONNREFUSED, -EACCES, ...).
 */
int rm_client_connect(const char *path, struct rm_client **out);
/* Wraps an already connected SOCK_SEQPACKET socket (tests: a socketpair); takes ownership of @fd. */
int rm_client_from_fd(int fd, struct rm_client **out);
/* Closes the socket and every fd received but not collected. NULL is a no-op. */
void rm_client_close(struct rm_client *c);

/* The socket, for poll() in an event loop: call rm_client_process() when it is readable. */
int rm_client_fd(const struct rm_client *c);
/* Timeout of rm_client_call() in ms (-1: none); default RM_CLIENT_DEFAULT_TIMEOUT_MS. */
void rm_client_set_timeout(struct rm_client *c, int timeout_ms);

/*
 * Sends request @msg_id with @req (the message's request layout; NULL when it is empty) and
 * returns its seq in *seq without waiting. -EINVAL: not a request or a payload that does not encode,
 * -EBUSY: RM_CLIENT_MAX_INFLIGHT requests in flight already, -ECONNRESET: the link is gone.
 */
int rm_client_send(struct rm_client *c, uint32_t msg_id, const void *req, uint16_t *seq);
/*
 * Waits up to @timeout_ms (-1: forever; 0: only what has arrived) for the reply to @seq. 0 when it
 * came: *rm_err is the RM's error code; when it is RM_OK, @rep (the message's reply struct, may be
 * NULL) holds the decoded reply and *fd (may be NULL: it is closed then) an fd passed with it or -1;
 * the caller owns that fd. The seq is then free. Errors: -ETIMEDOUT (still in flight: wait again or
 * rm_client_abandon()), -EBADMSG (a reply that does not decode), -ECONNRESET (bothyd closed the
 * link), -ENOENT (@seq is not in flight).
 */
int rm_client_wait(struct rm_client *c, uint16_t seq, int timeout_ms, uint32_t *rm_err, void *rep, int *fd);
/* Stops waiting for @seq: its reply is dropped when it comes, and the seq reused only after that. */
void rm_client_abandon(struct rm_client *c, uint16_t seq);
/* rm_client_send() + rm_client_wait() with the client's timeout; a request that times out is abandoned. */
int rm_client_call(struct rm_client *c, uint32_t msg_id, const void *req, uint32_t *rm_err, void *rep, int *fd);

/*
 * The oldest queued notification, waiting up to @timeout_ms (-1: forever, 0: do not wait) for one.
 * -ETIMEDOUT: none came; -ECONNRESET: the link is gone and the queue is empty.
 */
int rm_client_next_notification(struct rm_client *c, struct rm_notification *n, int timeout_ms);
/* Notifications waiting in the queue. */
unsigned rm_client_notifications_queued(const struct rm_client *c);
/* Notifications dropped because the queue was full, and messages dropped as malformed or unasked. */
unsigned long rm_client_notifications_lost(const struct rm_client *c);
unsigned long rm_client_messages_dropped(const struct rm_client *c);

/*
 * Reads every packet already waiting on the socket, without blocking, and dispatches the messages
 * they complete. Returns the packets read, or -ECONNRESET when bothyd has closed the link.
 */
int rm_client_process(struct rm_client *c);

/*
 * Parses a boot register "SET:INDEX=VALUE" (SET: x, pc, sp or a number 0-255; INDEX 0-255; VALUE a
 * 64-bit number, 0x for hex) into @out's reg_set, reg_index and value ("pc=V" and "sp=V" mean index
 * 0). -EINVAL for anything else.
 */
int rm_client_parse_reg(const char *s, struct rm_boot_context_req *out);
/* The VM state named @s (as rm_vm_state_name, any case), or -EINVAL. */
int rm_client_parse_state(const char *s);

#endif
