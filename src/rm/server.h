/*
 * bothyd, the resource manager (docs/resource-manager.md): one epoll loop owns the listening socket,
 * the client connections, the VM registry and the VMM processes it supervises.
 */
#ifndef BOTHY_RM_SERVER_H
#define BOTHY_RM_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#define RM_DEFAULT_SOCKET "/run/bothy/bothyd.sock"
#define RM_DEFAULT_STATE_DIR "/run/bothy"
/* The connection limits (RM_MAX_INFLIGHT, RM_MAX_QUEUED_FRAMES) are protocol facts: rm/proto.h. */

struct rm_server_config {
	const char *socket_path; /* NULL: no listening socket (tests add connections themselves) */
	mode_t socket_mode;
	const char *state_dir;
	unsigned max_vms;
	unsigned max_vms_per_user; /* VMs one non-root uid may hold (0: no limit but max_vms) */
	int stop_timeout_ms;
	int init_timeout_ms; /* a VMM not READY by then is killed: INIT_FAILED (0: no deadline) */
	int hcall_timeout_ms;
	const char *vmm_path; /* the bothy binary started as each VMM */
};

struct rm_server;

/* Reaps orphans of an earlier bothyd, binds the socket; -errno with the reason logged. */
int rm_server_create(const struct rm_server_config *cfg, struct rm_server **out);
/* Serves until SIGTERM/SIGINT (blocked and read through a signalfd) and every VMM has been reaped. */
int rm_server_run(struct rm_server *s);
/* Kills what is still alive, closes everything, removes the socket and pid files. */
void rm_server_destroy(struct rm_server *s);

/* For tests: serve a connected socket as a client with @uid; one turn of the loop. */
int rm_server_add_client(struct rm_server *s, int fd, uid_t uid);
int rm_server_step(struct rm_server *s, int timeout_ms);
/* Begins the shutdown rm_server_run does on SIGTERM. */
void rm_server_shutdown(struct rm_server *s);
/* Live VMM processes (0 once everything has been reaped). */
unsigned rm_server_live_vmms(const struct rm_server *s);

#endif
