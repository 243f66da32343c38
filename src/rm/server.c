/*
 * bothyd's loop (rm/server.h): the listening socket, client connections with their reassembly and
 * bounded outgoing queues, request decoding and dispatch, notifications and deferred replies.
 * Nothing here blocks: a client that stops reading has its frames queued, up to RM_MAX_QUEUED_FRAMES,
 * and is disconnected beyond that.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "rm/lifecycle.h"
#include "rm/link.h"
#include "rm/server_internal.h"

long long rm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int rm_epoll_add(struct rm_server *s, int fd, uint32_t events, struct rm_ep *ep)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void rm_epoll_del(struct rm_server *s, int fd)
{
	if (fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* --- connections ---------------------------------------------------------------------- */

static void conn_kill(struct rm_server *s, struct rm_conn *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("client uid %u: disconnected (%s)", (unsigned)c->uid, why);
	c->dead = true;
	rm_epoll_del(s, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void conn_free(struct rm_server *s, struct rm_conn *c)
{
	/* Its deferred replies are dropped; its VMs stay (they belong to its uid). */
	for (unsigned i = 1; i <= RM_VMID_MAX; i++) {
		struct rm_vm *vm = s->vms[i];

		for (struct rm_pending **pp = vm ? &vm->pending : NULL; pp && *pp;) {
			struct rm_pending *p = *pp;

			if (p->conn == c) {
				*pp = p->next;
				free(p);
			} else {
				pp = &p->next;
			}
		}
	}
	while (c->out_head) {
		struct rm_out_frame *f = c->out_head;

		c->out_head = f->next;
		if (f->fd >= 0)
			close(f->fd);
		free(f);
	}
	free(c->reasm);
	free(c);
}

/* Frees connections killed during this loop turn (events of the turn may still name them). */
static void conns_sweep(struct rm_server *s)
{
	for (struct rm_conn **cp = &s->conns; *cp;) {
		struct rm_conn *c = *cp;

		if (c->dead) {
			*cp = c->next;
			conn_free(s, c);
		} else {
			cp = &c->next;
		}
	}
}

static void conn_update_epoll(struct rm_server *s, struct rm_conn *c, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = &c->ep };

	if (c->want_out == want_out)
		return;
	c->want_out = want_out;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		conn_kill(s, c, "epoll");
}

static void conn_flush(struct rm_server *s, struct rm_conn *c)
{
	while (!c->dead && c->out_head) {
		struct rm_out_frame *f = c->out_head;
		int ret = rm_link_send_frame(c->fd, f->data, f->len, f->fd, MSG_DONTWAIT);

		if (ret == -EAGAIN) {
			conn_update_epoll(s, c, true);
			return;
		}
		if (ret) {
			conn_kill(s, c, strerror(-ret));
			return;
		}
		c->out_head = f->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->queued--;
		if (f->fd >= 0)
			close(f->fd);
		free(f);
	}
	if (!c->dead)
		conn_update_epoll(s, c, false);
}

/* Queues one message ({type, seq, id} and @len bytes of s->enc); @pass_fd rides with the first frame. */
static void conn_queue(struct rm_server *s, struct rm_conn *c, enum rm_msg_type type, uint16_t seq, uint32_t id,
		       size_t len, int pass_fd)
{
	unsigned n = rm_frame_count(len);

	if (c->dead || !n || c->queued + n > RM_MAX_QUEUED_FRAMES) {
		if (!c->dead && n)
			log_warn("client uid %u: %u frames unread, disconnecting it", (unsigned)c->uid, c->queued);
		if (pass_fd >= 0)
			close(pass_fd);
		conn_kill(s, c, "queue full");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rm_out_frame *f = malloc(sizeof(*f));

		if (!f) {
			if (pass_fd >= 0 && i == 0)
				close(pass_fd);
			conn_kill(s, c, "out of memory");
			return;
		}
		f->next = NULL;
		f->fd = i == 0 ? pass_fd : -1;
		f->len = (uint16_t)rm_frame_build(f->data, type, seq, id, s->enc, len, i);
		if (c->out_tail)
			c->out_tail->next = f;
		else
			c->out_head = f;
		c->out_tail = f;
		c->queued++;
	}
	conn_flush(s, c);
}

void rm_send_reply(struct rm_server *s, struct rm_conn *c, const struct rm_msg_desc *d, uint16_t seq, uint32_t err,
		   const void *rep, int pass_fd)
{
	size_t len;
	int ret = rm_link_encode(d, RM_TYPE_REPLY, err, rep, s->enc, &len);

	if (ret) {
		log_err("%s: cannot encode the reply: %s", d->name, strerror(-ret));
		rm_put32(s->enc, RM_ERR_NOMEM);
		len = 4;
		if (pass_fd >= 0)
			close(pass_fd);
		pass_fd = -1;
	}
	conn_queue(s, c, RM_TYPE_REPLY, seq, d->id, len, pass_fd);
}

/* --- watchers and notifications ------------------------------------------------------------ */

bool rm_conn_may_see(const struct rm_conn *c, const struct rm_vm *vm)
{
	return c->uid == 0 || c->uid == vm->owner;
}

static bool conn_watches(const struct rm_conn *c, const struct rm_vm *vm)
{
	if (c->dead || !rm_conn_may_see(c, vm))
		return false;
	return c->watch_all || (c->watch[vm->vmid / 8] & (1u << (vm->vmid % 8)));
}

bool rm_vm_has_watcher(struct rm_server *s, const struct rm_vm *vm)
{
	for (struct rm_conn *c = s->conns; c; c = c->next)
		if (conn_watches(c, vm))
			return true;
	return false;
}

void rm_watch_clear(struct rm_server *s, uint16_t vmid)
{
	for (struct rm_conn *c = s->conns; c; c = c->next)
		c->watch[vmid / 8] &= (uint8_t)~(1u << (vmid % 8));
}

void rm_notify(struct rm_server *s, const struct rm_vm *vm, enum rm_msg_index index, const void *ntf)
{
	const struct rm_msg_desc *d = &rm_msgs[index];
	size_t len;
	int ret = rm_link_encode(d, RM_TYPE_NOTIFY, RM_OK, ntf, s->enc, &len);

	if (ret) {
		log_err("%s: cannot encode: %s", d->name, strerror(-ret));
		return;
	}
	for (struct rm_conn *c = s->conns; c; c = c->next) {
		if (!conn_watches(c, vm))
			continue;
		/* conn_queue builds frames from s->enc, which stays as encoded here. */
		conn_queue(s, c, RM_TYPE_NOTIFY, 0, d->id, len, -1);
	}
}

bool rm_vm_set_state(struct rm_server *s, struct rm_vm *vm, unsigned to)
{
	struct rm_vm_status_ntf ntf = { .vmid = vm->vmid, .vm_status = (uint8_t)to };

	if (!rm_state_change_valid(vm->state, to)) {
		log_err("vm %u: refused state change %s -> %s", vm->vmid, rm_vm_state_name(vm->state),
			rm_vm_state_name(to));
		return false;
	}
	log_info("vm %u: %s -> %s", vm->vmid, rm_vm_state_name(vm->state), rm_vm_state_name(to));
	vm->state = to;
	rm_notify(s, vm, RM_MSG_NOTIFY_VM_STATUS, &ntf);
	return true;
}

/* --- deferred replies --------------------------------------------------------------------- */

void rm_pending_add(struct rm_vm *vm, struct rm_req *r)
{
	struct rm_pending *p = calloc(1, sizeof(*p)), **tail;

	r->deferred = true;
	if (!p) {
		/* Nobody will be told; the operation still completes and notifies. */
		log_err("vm %u: no memory for a deferred reply", vm->vmid);
		return;
	}
	p->conn = r->conn;
	p->seq = r->seq;
	p->msg_id = r->desc->id;
	for (tail = &vm->pending; *tail; tail = &(*tail)->next)
		;
	*tail = p;
	r->conn->inflight++;
}

void rm_pending_finish(struct rm_server *s, struct rm_vm *vm, uint32_t err)
{
	while (vm->pending) {
		struct rm_pending *p = vm->pending;

		vm->pending = p->next;
		p->conn->inflight--;
		if (!p->conn->dead)
			rm_send_reply(s, p->conn, rm_msg_find(p->msg_id), p->seq, err, NULL, -1);
		free(p);
	}
}

/* --- requests --------------------------------------------------------------------------------- */

static void conn_message(struct rm_server *s, struct rm_conn *c, const struct rm_message *m)
{
	const struct rm_msg_desc *d;
	struct rm_req r = { .conn = c, .seq = m->hdr.seq, .pass_fd = -1 };
	uint32_t err;

	if (m->hdr.type != RM_TYPE_REQUEST) {
		log_debug("client uid %u: %s frame dropped", (unsigned)c->uid, m->hdr.type == RM_TYPE_REPLY ?
			  "reply" : "notification");
		return;
	}
	d = rm_msg_find(m->hdr.msg_id);
	if (!d) {
		rm_put32(s->enc, RM_ERR_UNIMPLEMENTED);
		conn_queue(s, c, RM_TYPE_REPLY, m->hdr.seq, m->hdr.msg_id, 4, -1);
		return;
	}
	if (d->kind != RM_KIND_REQ) {
		log_debug("client uid %u: %s is not a client request, dropped", (unsigned)c->uid, d->name);
		return;
	}
	r.desc = d;
	if (c->inflight >= RM_MAX_INFLIGHT) {
		rm_send_reply(s, c, d, r.seq, RM_ERR_BUSY, NULL, -1);
		return;
	}
	if (rm_decode(d->req, m->data, m->len, s->req_buf)) {
		log_debug("client uid %u: %s with a bad payload (%zu bytes)", (unsigned)c->uid, d->name, m->len);
		rm_send_reply(s, c, d, r.seq, RM_ERR_MSG_INVALID, NULL, -1);
		return;
	}
	memset(s->rep_buf, 0, s->payload_max);
	err = rm_handle(s, &r, s->req_buf, s->rep_buf);
	if (r.deferred)
		return;
	rm_send_reply(s, c, d, r.seq, err, s->rep_buf, err == RM_OK ? r.pass_fd : -1);
	if (err != RM_OK && r.pass_fd >= 0)
		close(r.pass_fd);
}

static void conn_readable(struct rm_server *s, struct rm_conn *c)
{
	uint8_t frame[RM_FRAME_MAX];

	/* A bounded batch per turn, so one chatty client cannot starve the others. */
	for (int i = 0; i < 64 && !c->dead; i++) {
		ssize_t n = rm_link_recv_frame(c->fd, frame, MSG_DONTWAIT, NULL);
		int r;

		if (n == -EAGAIN)
			return;
		if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
			conn_kill(s, c, n ? strerror((int)-n) : "EOF");
			return;
		}
		r = n < 0 ? (int)n : rm_reasm_feed(c->reasm, frame, (size_t)n, s->msg);
		if (r == 1)
			conn_message(s, c, s->msg);
		else if (r < 0)
			log_debug("client uid %u: frame dropped (%s)", (unsigned)c->uid, strerror(-r));
	}
}

int rm_server_add_client(struct rm_server *s, int fd, uid_t uid)
{
	struct rm_conn *c = calloc(1, sizeof(*c));
	int ret;

	if (!c || !(c->reasm = malloc(sizeof(*c->reasm)))) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	rm_reasm_init(c->reasm);
	c->fd = fd;
	c->uid = uid;
	c->ep = (struct rm_ep){ RM_EP_CONN, c };
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ret = rm_epoll_add(s, fd, EPOLLIN, &c->ep);
	if (ret) {
		free(c->reasm);
		free(c);
		close(fd);
		return ret;
	}
	c->next = s->conns;
	s->conns = c;
	return 0;
}

static void listener_readable(struct rm_server *s)
{
	for (int i = 0; i < 16; i++) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		log_debug("client pid %d uid %u connected", (int)cred.pid, (unsigned)cred.uid);
		rm_server_add_client(s, fd, cred.uid);
	}
}

/* --- the socket ------------------------------------------------------------------------------- */

static int socket_bind(struct rm_server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_umask;
	int fd, ret;

	if (strlen(s->socket_path) >= sizeof(sa.sun_path)) {
		log_err("socket path %s is too long", s->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, s->socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (lstat(s->socket_path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket", s->socket_path);
			close(fd);
			return -EEXIST;
		}
		/* Only a socket nobody answers on is stale. */
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			log_err("another bothyd serves %s", s->socket_path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		log_info("removing the stale socket %s", s->socket_path);
		unlink(s->socket_path);
	}
	/* Nobody may connect before the mode is right: bind with no access, then chmod. */
	old_umask = umask(0777);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		log_err("cannot bind %s: %s", s->socket_path, strerror(errno));
		close(fd);
		return ret;
	}
	s->socket_created = true;
	if (chmod(s->socket_path, s->cfg.socket_mode) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		log_err("cannot set up %s: %s", s->socket_path, strerror(errno));
		close(fd);
		return ret;
	}
	s->listen_fd = fd;
	return 0;
}

static char *dup_or_null(const char *str)
{
	return str ? strdup(str) : NULL;
}

int rm_server_create(const struct rm_server_config *cfg, struct rm_server **out)
{
	struct rm_server *s = calloc(1, sizeof(*s));
	sigset_t sigs;
	int ret = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->epfd = s->listen_fd = s->sig_fd = s->shutdown_timer = -1;
	s->cfg = *cfg;
	s->next_vmid = 1;
	s->socket_path = dup_or_null(cfg->socket_path);
	s->state_dir = dup_or_null(cfg->state_dir ? cfg->state_dir : RM_DEFAULT_STATE_DIR);
	s->vmm_path = dup_or_null(cfg->vmm_path ? cfg->vmm_path : "/proc/self/exe");
	s->cfg.socket_path = s->socket_path;
	s->cfg.state_dir = s->state_dir;
	s->cfg.vmm_path = s->vmm_path;
	s->payload_max = rm_payload_max();
	s->msg = malloc(sizeof(*s->msg));
	s->req_buf = malloc(s->payload_max);
	s->rep_buf = malloc(s->payload_max);
	s->enc = malloc(RM_MSG_MAX);
	if ((cfg->socket_path && !s->socket_path) || !s->state_dir || !s->vmm_path || !s->msg || !s->req_buf ||
	    !s->rep_buf || !s->enc)
		goto fail;
	s->listen_ep = (struct rm_ep){ RM_EP_LISTEN, NULL };
	s->sig_ep = (struct rm_ep){ RM_EP_SIGNAL, NULL };
	s->shutdown_ep = (struct rm_ep){ RM_EP_SHUTDOWN_TIMER, NULL };
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		ret = -errno;
		goto fail;
	}

	/* The socket first: a live bothyd answering on it owns the pid files, which must stay. */
	if (s->socket_path) {
		ret = socket_bind(s);
		if (ret)
			goto fail;
	}
	rm_orphans_reap(s);
	if (s->socket_path) {
		ret = rm_epoll_add(s, s->listen_fd, EPOLLIN, &s->listen_ep);
		if (ret)
			goto fail;
		/* A daemon ends by signal only; tests stop it with rm_server_shutdown(). */
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGTERM);
		sigaddset(&sigs, SIGINT);
		sigprocmask(SIG_BLOCK, &sigs, NULL);
		s->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
		if (s->sig_fd < 0 || rm_epoll_add(s, s->sig_fd, EPOLLIN, &s->sig_ep)) {
			ret = -errno;
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	rm_server_destroy(s);
	return ret;
}

/* --- shutdown ----------------------------------------------------------------------------------- */

unsigned rm_server_live_vmms(const struct rm_server *s)
{
	return s->live_vmms;
}

void rm_server_shutdown(struct rm_server *s)
{
	struct itimerspec its = { .it_value = { s->cfg.stop_timeout_ms / 1000,
						(s->cfg.stop_timeout_ms % 1000) * 1000000L } };

	if (s->stopping)
		return;
	s->stopping = true;
	log_info("stopping: %u VMM processes to stop", s->live_vmms);
	if (s->listen_fd >= 0) {
		rm_epoll_del(s, s->listen_fd);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	for (unsigned i = 1; i <= RM_VMID_MAX; i++)
		if (s->vms[i] && rm_vmm_alive(s->vms[i]))
			rm_vmm_stop(s, s->vms[i], false);
	if (!s->live_vmms)
		return;
	s->shutdown_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (s->shutdown_timer < 0 || timerfd_settime(s->shutdown_timer, 0, &its, NULL) < 0 ||
	    rm_epoll_add(s, s->shutdown_timer, EPOLLIN, &s->shutdown_ep)) {
		log_warn("no stop timer (%s): killing every VMM now", strerror(errno));
		for (unsigned i = 1; i <= RM_VMID_MAX; i++)
			if (s->vms[i] && rm_vmm_alive(s->vms[i]))
				rm_vmm_stop(s, s->vms[i], true);
	}
}

static void shutdown_timer_expired(struct rm_server *s)
{
	uint64_t ticks;

	if (read(s->shutdown_timer, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	log_warn("stop timeout: killing %u VMM processes", s->live_vmms);
	for (unsigned i = 1; i <= RM_VMID_MAX; i++)
		if (s->vms[i] && rm_vmm_alive(s->vms[i]))
			rm_vmm_stop(s, s->vms[i], true);
}

/* --- the loop --------------------------------------------------------------------------------------- */

int rm_server_step(struct rm_server *s, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(s->epfd, evs, 64, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct rm_ep *ep = evs[i].data.ptr;
		uint32_t events = evs[i].events;

		switch (ep->kind) {
		case RM_EP_LISTEN:
			if (s->listen_fd >= 0)
				listener_readable(s);
			break;
		case RM_EP_SIGNAL: {
			struct signalfd_siginfo si;

			if (read(s->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				log_info("%s: stopping", strsignal((int)si.ssi_signo));
				rm_server_shutdown(s);
			}
			break;
		}
		case RM_EP_SHUTDOWN_TIMER:
			shutdown_timer_expired(s);
			break;
		case RM_EP_CONN: {
			struct rm_conn *c = ep->obj;

			if (!c->dead && (events & EPOLLOUT))
				conn_flush(s, c);
			if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				conn_readable(s, c);
			break;
		}
		case RM_EP_CONSOLE_CLIENT:
			rm_console_client_event(s, ep->obj, events);
			break;
		case RM_EP_VMM_PID:
		case RM_EP_VMM_LINK:
		case RM_EP_VMM_CONSOLE:
		case RM_EP_STOP_TIMER:
			rm_supervise_event(s, ep, events);
			break;
		}
	}
	conns_sweep(s);
	rm_console_clients_sweep(s);
	return 0;
}

int rm_server_run(struct rm_server *s)
{
	log_info("bothyd %s: serving %s (state in %s)", BOTHY_VERSION, s->socket_path ? s->socket_path : "-",
		 s->state_dir);
	while (!s->stopping || s->live_vmms) {
		int ret = rm_server_step(s, -1);

		if (ret) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void rm_server_destroy(struct rm_server *s)
{
	if (!s)
		return;
	for (unsigned i = 1; i <= RM_VMID_MAX; i++)
		if (s->vms[i])
			rm_vm_free(s, s->vms[i]);
	for (struct rm_conn *c = s->conns; c; c = c->next)
		conn_kill(s, c, "bothyd exits");
	conns_sweep(s);
	rm_console_clients_sweep(s);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->socket_created && s->socket_path)
		unlink(s->socket_path);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	if (s->shutdown_timer >= 0)
		close(s->shutdown_timer);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->socket_path);
	free(s->state_dir);
	free(s->vmm_path);
	free(s->msg);
	free(s->req_buf);
	free(s->rep_buf);
	free(s->enc);
	free(s);
}
