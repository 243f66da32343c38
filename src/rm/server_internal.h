/*
 * bothyd's insides, shared by its files: server.c (loop, connections, frames, notifications),
 * handlers.c (one function per request), registry.c (VM records, configuration, the VMM's command
 * line) and supervise.c (VMM processes, their link and console, stop, reset, orphans).
 */
#ifndef BOTHY_RM_SERVER_INTERNAL_H
#define BOTHY_RM_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rm/proto.h"
#include "rm/server.h"
#include "rm/wire.h"

/* What an epoll event belongs to (epoll data points at one of these, embedded in its owner). */
enum rm_ep_kind {
	RM_EP_LISTEN,
	RM_EP_SIGNAL,
	RM_EP_SHUTDOWN_TIMER,
	RM_EP_CONN,
	RM_EP_VMM_PID,
	RM_EP_VMM_LINK,
	RM_EP_VMM_CONSOLE,
	RM_EP_STOP_TIMER,
	RM_EP_CONSOLE_CLIENT,
};

struct rm_ep {
	enum rm_ep_kind kind;
	void *obj;
};

struct rm_out_frame {
	struct rm_out_frame *next;
	int fd; /* passed with this frame (SCM_RIGHTS) and closed once sent, or -1 */
	uint16_t len;
	uint8_t data[RM_FRAME_MAX];
};

struct rm_conn {
	struct rm_ep ep;
	struct rm_conn *next;
	int fd;
	uid_t uid;
	bool dead;     /* closed; freed at the end of the loop turn */
	bool want_out; /* EPOLLOUT armed */
	struct rm_reasm *reasm;
	struct rm_out_frame *out_head, *out_tail;
	unsigned queued;
	unsigned inflight; /* deferred replies owed to this connection */
	bool watch_all;
	uint8_t watch[(RM_VMID_MAX + 1) / 8];
};

/* A deferred reply (VM_INIT, VM_START, VM_STOP), answered when the VMM reports or dies. */
struct rm_pending {
	struct rm_pending *next;
	struct rm_conn *conn;
	uint16_t seq;
	uint32_t msg_id;
};

struct rm_console_client {
	struct rm_ep ep;
	struct rm_console_client *next;
	struct rm_vm *vm;
	int fd;
};

enum rm_slow_op { RM_SLOW_NONE, RM_SLOW_INIT, RM_SLOW_START, RM_SLOW_STOP };
enum rm_reset_stage { RM_RESET_KILL_VMM, RM_RESET_REAP, RM_RESET_CLOSE_LINKS, RM_RESET_RELEASE, RM_RESET_DONE };

#define RM_CONSOLE_RING (64 * 1024)

struct rm_vm {
	uint16_t vmid;
	char name[RM_NAME_MAX];
	uid_t owner;
	unsigned state;
	struct rm_vm_config_req *cfg; /* NULL until VM_CONFIG */
	struct rm_boot_reg boot[RM_MAX_BOOT_REGS];
	unsigned nr_boot;
	struct rm_vm_exited_ntf exit; /* the last run's */
	bool vmm_reported;            /* VMM_EXITED arrived in this run */
	enum rm_slow_op slow;         /* the slow operation under way, even if nobody waits for its reply */
	struct rm_pending *pending;
	enum rm_reset_stage reset_stage;

	/* The VMM process and its sockets (-1 when absent). */
	pid_t pid; /* 0: none, or reaped */
	int pidfd;
	int link_fd;
	int console_fd;
	int stop_timer;
	struct rm_ep pid_ep, link_ep, console_ep, timer_ep;
	struct rm_reasm *link_reasm;
	uint16_t link_seq;
	bool ready;  /* VMM_READY arrived */
	bool forced; /* SIGKILL sent by VM_STOP (force, or the stop timed out) */
	uint32_t vmm_cpus;

	/* The console: the last 64 KiB and the attached clients. */
	uint8_t *ring;
	size_t ring_start, ring_len;
	struct rm_console_client *clients;

	/* The forwarded hypercall waiting for its owner. */
	bool hcall_pending;
	uint32_t hcall_token;
	long long hcall_deadline_ms;
};

struct rm_server {
	struct rm_server_config cfg; /* strings point at the copies below */
	char *socket_path, *state_dir, *vmm_path;
	int epfd, listen_fd, sig_fd, shutdown_timer;
	struct rm_ep listen_ep, sig_ep, shutdown_ep;
	bool socket_created;
	bool stopping;
	struct rm_conn *conns;
	struct rm_vm *vms[RM_VMID_MAX + 1];
	unsigned nr_vms;
	unsigned next_vmid;
	unsigned live_vmms;
	struct rm_console_client *dead_clients;
	/* Scratch: a received message, a decoded request, a reply before encoding, an encoded message. */
	struct rm_message *msg;
	void *req_buf, *rep_buf;
	size_t payload_max;
	uint8_t *enc;
};

/* A request being answered. */
struct rm_req {
	struct rm_conn *conn;
	const struct rm_msg_desc *desc;
	uint16_t seq;
	bool deferred; /* the handler keeps the reply for later (rm_pending) */
	int pass_fd;   /* an fd to pass with the reply (owned by the request until queued) */
};

/* server.c */
long long rm_now_ms(void);
int rm_epoll_add(struct rm_server *s, int fd, uint32_t events, struct rm_ep *ep);
void rm_epoll_del(struct rm_server *s, int fd);
void rm_send_reply(struct rm_server *s, struct rm_conn *c, const struct rm_msg_desc *d, uint16_t seq, uint32_t err,
		   const void *rep, int pass_fd);
bool rm_conn_may_see(const struct rm_conn *c, const struct rm_vm *vm);
bool rm_vm_has_watcher(struct rm_server *s, const struct rm_vm *vm);
void rm_notify(struct rm_server *s, const struct rm_vm *vm, enum rm_msg_index index, const void *ntf);
/* Moves @vm to @to through the lifecycle table and notifies; false (nothing changes) if not an edge. */
bool rm_vm_set_state(struct rm_server *s, struct rm_vm *vm, unsigned to);
void rm_pending_add(struct rm_vm *vm, struct rm_req *r);
/* Answers every deferred reply of @vm with @err. */
void rm_pending_finish(struct rm_server *s, struct rm_vm *vm, uint32_t err);
void rm_watch_clear(struct rm_server *s, uint16_t vmid);

/* handlers.c */
/* Runs the handler of a decoded request; returns the error (ignored when r->deferred). */
uint32_t rm_handle(struct rm_server *s, struct rm_req *r, const void *req, void *rep);

/* registry.c */
struct rm_vm *rm_vm_get(struct rm_server *s, unsigned vmid);
/* RM_OK with *out, or IN_USE (vmid or name taken), NORESOURCE (--max-vms, no free id), ARGUMENT_INVALID. */
uint32_t rm_vm_new(struct rm_server *s, unsigned vmid, const char *name, uid_t owner, struct rm_vm **out);
void rm_vm_free(struct rm_server *s, struct rm_vm *vm);
bool rm_name_valid(const char *name);

#define RM_VMM_ARGS_MAX (32 + 2 * RM_MAX_ITEMS)
struct rm_vmm_argv {
	char *argv[RM_VMM_ARGS_MAX + 1]; /* NULL-terminated; argv[0] "bothy", argv[1] "run" */
	int argc;
	char cpus[16], memory[24], hcall_timeout[16], console_fd[8], link_fd[8];
	char vsock[RM_PATH_MAX + 32];
};
/*
 * The VMM's command line for @cfg (strings point into @cfg and @a). Validates what bothyd alone
 * checks (absolute paths, known kinds and flags) and then the whole line with cli_parse_run();
 * ARGUMENT_INVALID with the reason in @why.
 */
uint32_t rm_vmm_argv_build(const struct rm_vm_config_req *cfg, int hcall_timeout_ms, struct rm_vmm_argv *a,
			   char *why, size_t whylen);

/* supervise.c */
uint32_t rm_vmm_launch(struct rm_server *s, struct rm_vm *vm);
uint32_t rm_vmm_start(struct rm_server *s, struct rm_vm *vm);
void rm_vmm_stop(struct rm_server *s, struct rm_vm *vm, bool force);
void rm_vm_reset_run(struct rm_server *s, struct rm_vm *vm);
/* A new console client end for @vm (the ring replayed into it), or -errno. */
int rm_console_attach(struct rm_server *s, struct rm_vm *vm);
uint32_t rm_hcall_reply(struct rm_server *s, struct rm_vm *vm, const struct rm_hcall_reply_req *req);
void rm_supervise_event(struct rm_server *s, struct rm_ep *ep, uint32_t events);
void rm_console_client_event(struct rm_server *s, struct rm_console_client *cc, uint32_t events);
void rm_console_clients_sweep(struct rm_server *s);
/* Releases every process and fd of @vm (bothyd's exit, deallocation). */
void rm_vm_teardown(struct rm_server *s, struct rm_vm *vm);
void rm_orphans_reap(struct rm_server *s);
bool rm_vmm_alive(const struct rm_vm *vm);

#endif
