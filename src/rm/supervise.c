/*
 * bothyd's VMM processes (docs/resource-manager.md, "Supervision"): launch as the owner, the link
 * (READY, START, EXITED, forwarded hypercalls), the console relay and its ring, stop with a
 * timeout, the staged reset, reaping through pidfds, and orphans left by an earlier bothyd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "hcall/hcall.h"
#include "rm/lifecycle.h"
#include "rm/link.h"
#include "rm/server_internal.h"

/* fds of a VMM process, as `bothy run --rm-control 3 --console-fd 4` and BOTHY_KVM_FD expect them. */
enum { VMM_FD_LINK = 3, VMM_FD_CONSOLE = 4, VMM_FD_KVM = 5, VMM_NR_FDS = 6 };

bool rm_vmm_alive(const struct rm_vm *vm)
{
	return vm->pid > 0;
}

static void state_path(const struct rm_server *s, char *buf, size_t len, const char *fmt, unsigned vmid)
{
	char name[32];

	snprintf(name, sizeof(name), fmt, vmid);
	snprintf(buf, len, "%s/%s", s->state_dir, name);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_watched(struct rm_server *s, int *fd)
{
	rm_epoll_del(s, *fd);
	close_fd(fd);
}

/* --- launch ------------------------------------------------------------------------------------- */

static void vmm_deadline(struct rm_server *s, struct rm_vm *vm, int ms);

static void close_from(int first)
{
	if (syscall(SYS_close_range, (unsigned)first, ~0u, 0) == 0)
		return;
	for (int fd = first; fd < 65536; fd++)
		close(fd);
}

/* The child between fork and exec: single-threaded parent, so libc calls here are safe. */
static void __attribute__((noreturn)) vmm_child(const struct rm_server *s, struct rm_vmm_argv *argv,
						 int fds[VMM_NR_FDS], uid_t uid, gid_t gid, pid_t parent)
{
	sigset_t none;
	int high[VMM_NR_FDS];

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Out of the way of 0..5 first, so no dup2 overwrites a source still needed. */
	for (int i = 0; i < VMM_NR_FDS; i++) {
		high[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD, 64) : -1;
		if (fds[i] >= 0 && high[i] < 0)
			_exit(126);
	}
	for (int i = 0; i < VMM_NR_FDS; i++) {
		if (high[i] >= 0 && dup2(high[i], i) < 0)
			_exit(126);
		if (high[i] < 0)
			close(i);
	}
	close_from(VMM_NR_FDS);
	if (geteuid() == 0 && uid != 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
			dprintf(2, "bothyd: cannot take uid %u gid %u: %s\n", (unsigned)uid, (unsigned)gid,
				strerror(errno));
			_exit(126);
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		_exit(126);
	if (getppid() != parent)
		_exit(126); /* bothyd died before the death signal was armed */
	if (fds[VMM_FD_KVM] >= 0)
		setenv("BOTHY_KVM_FD", "5", 1);
	else
		unsetenv("BOTHY_KVM_FD");
	execv(s->vmm_path, argv->argv);
	dprintf(2, "bothyd: cannot run %s: %s\n", s->vmm_path, strerror(errno));
	_exit(127);
}

static void pidfile_write(struct rm_server *s, struct rm_vm *vm)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	state_path(s, path, sizeof(path), "vmm-%u.pid", vm->vmid);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f || fprintf(f, "%d\n", (int)vm->pid) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
		log_warn("vm %u: cannot write %s: %s", vm->vmid, path, strerror(errno));
		unlink(tmp);
	}
}

static void pidfile_remove(struct rm_server *s, struct rm_vm *vm)
{
	char path[PATH_MAX];

	state_path(s, path, sizeof(path), "vmm-%u.pid", vm->vmid);
	unlink(path);
}

uint32_t rm_vmm_launch(struct rm_server *s, struct rm_vm *vm)
{
	struct rm_vmm_argv *argv = malloc(sizeof(*argv));
	int link[2] = { -1, -1 }, con[2] = { -1, -1 }, fds[VMM_NR_FDS];
	char why[320], path[PATH_MAX];
	uint32_t err = RM_ERR_NORESOURCE;
	gid_t gid = vm->owner;
	int logfd = -1, nullfd = -1, kvmfd = -1, pidfd;
	pid_t pid, parent = getpid();

	if (!argv)
		return RM_ERR_NOMEM;
	err = rm_vmm_argv_build(vm->cfg, s->cfg.hcall_timeout_ms, argv, why, sizeof(why));
	if (err) {
		log_warn("vm %u: %s", vm->vmid, why);
		goto out;
	}
	err = RM_ERR_NORESOURCE;
	if (!vm->ring && !(vm->ring = malloc(RM_CONSOLE_RING)))
		goto out;
	if (!vm->link_reasm && !(vm->link_reasm = malloc(sizeof(*vm->link_reasm))))
		goto out;
	rm_reasm_init(vm->link_reasm);
	state_path(s, path, sizeof(path), "vm-%u.log", vm->vmid);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		log_warn("vm %u: cannot open %s or /dev/null: %s", vm->vmid, path, strerror(errno));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0) {
		log_warn("vm %u: socketpair: %s", vm->vmid, strerror(errno));
		goto out;
	}
	/* bothyd opens /dev/kvm, so an owner without access to it can still run VMs. */
	kvmfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (geteuid() == 0 && vm->owner != 0) {
		struct passwd *pw = getpwuid(vm->owner);

		gid = pw ? pw->pw_gid : (gid_t)vm->owner;
		if (fchown(logfd, vm->owner, gid) < 0)
			log_warn("vm %u: cannot give %s to uid %u: %s", vm->vmid, path, (unsigned)vm->owner,
				 strerror(errno));
	}
	fds[0] = nullfd;
	fds[1] = fds[2] = logfd;
	fds[VMM_FD_LINK] = link[1];
	fds[VMM_FD_CONSOLE] = con[1];
	fds[VMM_FD_KVM] = kvmfd;
	pid = fork();
	if (pid < 0) {
		log_warn("vm %u: fork: %s", vm->vmid, strerror(errno));
		goto out;
	}
	if (pid == 0)
		vmm_child(s, argv, fds, vm->owner, gid, parent);

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || rm_epoll_add(s, pidfd, EPOLLIN, &vm->pid_ep)) {
		log_err("vm %u: cannot watch VMM %d: %s", vm->vmid, (int)pid, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (pidfd >= 0)
			close(pidfd);
		goto out;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	vm->pid = pid;
	vm->pidfd = pidfd;
	s->live_vmms++;
	vm->link_fd = link[0];
	vm->console_fd = con[0];
	link[0] = con[0] = -1;
	fcntl(vm->link_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	if (rm_epoll_add(s, vm->link_fd, EPOLLIN, &vm->link_ep) ||
	    rm_epoll_add(s, vm->console_fd, EPOLLIN, &vm->console_ep))
		log_warn("vm %u: cannot watch the VMM's sockets: %s", vm->vmid, strerror(errno)); /* READY never comes: INIT_FAILED */
	vm->ready = vm->forced = vm->vmm_reported = false;
	vm->exit = (struct rm_vm_exited_ntf){ .vmid = vm->vmid };
	vm->ring_start = vm->ring_len = 0;
	pidfile_write(s, vm);
	if (s->cfg.init_timeout_ms > 0)
		vmm_deadline(s, vm, s->cfg.init_timeout_ms);
	log_info("vm %u: VMM %d started (log %s)", vm->vmid, (int)pid, path);
	err = RM_OK;
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&link[i]);
		close_fd(&con[i]);
	}
	close_fd(&logfd);
	close_fd(&nullfd);
	close_fd(&kvmfd);
	free(argv);
	return err;
}

/* --- the link ------------------------------------------------------------------------------------ */

static int link_send(struct rm_server *s, struct rm_vm *vm, enum rm_msg_type type, uint16_t seq,
		     enum rm_msg_index index, const void *obj)
{
	const struct rm_msg_desc *d = &rm_msgs[index];
	size_t len;
	int ret;

	if (vm->link_fd < 0)
		return -EPIPE;
	ret = rm_link_encode(d, type, RM_OK, obj, s->enc, &len);
	if (ret)
		return ret;
	/* A few frames into an otherwise idle socket: they fit, or the VMM is stuck and will be killed. */
	return rm_link_send(vm->link_fd, type, seq, d->id, s->enc, len, -1, MSG_DONTWAIT);
}

uint32_t rm_vmm_start(struct rm_server *s, struct rm_vm *vm)
{
	struct rm_vmm_start_req start = { .nr_regs = (uint16_t)vm->nr_boot };

	if (!rm_vmm_alive(vm) || !vm->ready)
		return RM_ERR_VM_STATE;
	memcpy(start.regs, vm->boot, sizeof(start.regs[0]) * vm->nr_boot);
	vm->link_seq++;
	if (link_send(s, vm, RM_TYPE_REQUEST, vm->link_seq, RM_MSG_VMM_START, &start)) {
		log_warn("vm %u: cannot send VMM_START: the VMM is not listening", vm->vmid);
		return RM_ERR_NORESOURCE;
	}
	return RM_OK;
}

static void hcall_answer(struct rm_server *s, struct rm_vm *vm, uint32_t token, const uint64_t ret[4])
{
	struct rm_hcall_reply_req r = { .token = token };

	memcpy(r.ret, ret, sizeof(r.ret));
	if (link_send(s, vm, RM_TYPE_NOTIFY, 0, RM_MSG_VMM_HCALL_RET, &r))
		log_warn("vm %u: cannot answer hypercall token %u", vm->vmid, token);
}

static void link_hcall(struct rm_server *s, struct rm_vm *vm, struct rm_vm_hcall_ntf *h)
{
	static const uint64_t not_supported[4] = { HCALL_NOT_SUPPORTED };

	/* Nobody to ask: the guest hears NOT_SUPPORTED now rather than after the timeout. */
	if ((vm->state != RM_VM_RUNNING && vm->state != RM_VM_PAUSED) || !rm_vm_has_watcher(s, vm)) {
		hcall_answer(s, vm, h->token, not_supported);
		return;
	}
	vm->hcall_pending = true;
	vm->hcall_token = h->token;
	vm->hcall_deadline_ms = rm_now_ms() + s->cfg.hcall_timeout_ms;
	h->vmid = vm->vmid;
	rm_notify(s, vm, RM_MSG_NOTIFY_VM_HCALL, h);
}

uint32_t rm_hcall_reply(struct rm_server *s, struct rm_vm *vm, const struct rm_hcall_reply_req *req)
{
	if (!vm->hcall_pending || req->token != vm->hcall_token)
		return RM_ERR_HANDLE_INVALID;
	vm->hcall_pending = false;
	if (rm_now_ms() > vm->hcall_deadline_ms)
		return RM_ERR_HANDLE_INVALID; /* the VMM gave up on it already */
	hcall_answer(s, vm, req->token, req->ret);
	return RM_OK;
}

static void link_message(struct rm_server *s, struct rm_vm *vm, const struct rm_message *m)
{
	const struct rm_msg_desc *d = rm_msg_find(m->hdr.msg_id);
	union {
		struct rm_vmm_ready_ntf ready;
		struct rm_vm_exited_ntf exited;
		struct rm_vm_hcall_ntf hcall;
	} u;

	if (!d || d->kind != RM_KIND_VMM) {
		log_warn("vm %u: VMM sent message 0x%x, dropped", vm->vmid, m->hdr.msg_id);
		return;
	}
	if (m->hdr.type == RM_TYPE_REPLY && d->index == RM_MSG_VMM_START) {
		uint32_t err = m->len == 4 ? rm_get32(m->data) : RM_ERR_MSG_INVALID;

		if (vm->slow != RM_SLOW_START || m->hdr.seq != vm->link_seq || vm->state != RM_VM_READY)
			return;
		vm->slow = RM_SLOW_NONE;
		if (err == RM_OK)
			rm_vm_set_state(s, vm, RM_VM_RUNNING);
		else
			log_warn("vm %u: the VMM refused the boot context: %s", vm->vmid, rm_err_name(err));
		rm_pending_finish(s, vm, err);
		return;
	}
	/* Only the VMM's own notifications, decoded into a union that holds exactly those. */
	if (m->hdr.type != RM_TYPE_NOTIFY ||
	    (d->index != RM_MSG_VMM_READY && d->index != RM_MSG_VMM_EXITED && d->index != RM_MSG_VMM_HCALL) ||
	    d->req->size > sizeof(u) || rm_decode(d->req, m->data, m->len, &u)) {
		log_warn("vm %u: bad %s from the VMM, dropped", vm->vmid, d->name);
		return;
	}
	switch (d->index) {
	case RM_MSG_VMM_READY:
		if (vm->slow != RM_SLOW_INIT || vm->ready)
			return;
		vm->ready = true;
		close_watched(s, &vm->stop_timer); /* the init deadline */
		vm->vmm_cpus = u.ready.cpus;
		vm->slow = RM_SLOW_NONE;
		rm_vm_set_state(s, vm, RM_VM_READY);
		rm_pending_finish(s, vm, RM_OK);
		break;
	case RM_MSG_VMM_EXITED:
		if (u.exited.reason == RM_EXIT_NONE || u.exited.reason > RM_EXIT_REASON_MAX)
			u.exited.reason = RM_EXIT_VMM_ERROR;
		vm->exit = u.exited;
		vm->exit.vmid = vm->vmid;
		vm->vmm_reported = true;
		break;
	case RM_MSG_VMM_HCALL:
		link_hcall(s, vm, &u.hcall);
		break;
	default:
		log_warn("vm %u: VMM sent %s, dropped", vm->vmid, d->name);
		break;
	}
}

static void link_readable(struct rm_server *s, struct rm_vm *vm)
{
	uint8_t frame[RM_FRAME_MAX];

	for (int i = 0; i < 256 && vm->link_fd >= 0; i++) {
		ssize_t n = rm_link_recv_frame(vm->link_fd, frame, MSG_DONTWAIT, NULL);
		int r;

		if (n == -EAGAIN)
			return;
		if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
			/* The VMM is gone or going: its pidfd says when; the socket stays until reset. */
			rm_epoll_del(s, vm->link_fd);
			return;
		}
		r = n < 0 ? (int)n : rm_reasm_feed(vm->link_reasm, frame, (size_t)n, s->msg);
		if (r == 1)
			link_message(s, vm, s->msg);
		else if (r < 0)
			log_warn("vm %u: bad frame from the VMM (%s)", vm->vmid, strerror(-r));
	}
}

/* --- the console ------------------------------------------------------------------------------------ */

static void client_close(struct rm_server *s, struct rm_console_client *cc)
{
	struct rm_vm *vm = cc->vm;

	for (struct rm_console_client **pp = &vm->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cc) {
			*pp = cc->next;
			break;
		}
	}
	close_watched(s, &cc->fd);
	cc->vm = NULL;
	cc->next = s->dead_clients;
	s->dead_clients = cc;
}

void rm_console_clients_sweep(struct rm_server *s)
{
	while (s->dead_clients) {
		struct rm_console_client *cc = s->dead_clients;

		s->dead_clients = cc->next;
		free(cc);
	}
}

static void ring_append(struct rm_vm *vm, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		vm->ring[(vm->ring_start + vm->ring_len) % RM_CONSOLE_RING] = buf[i];
		if (vm->ring_len < RM_CONSOLE_RING)
			vm->ring_len++;
		else
			vm->ring_start = (vm->ring_start + 1) % RM_CONSOLE_RING;
	}
}

/* Console output to a client that cannot take it now is dropped for that client: the VM never waits. */
static void client_write(struct rm_server *s, struct rm_console_client *cc, const uint8_t *buf, size_t len)
{
	ssize_t n = send(cc->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		client_close(s, cc);
}

static void console_readable(struct rm_server *s, struct rm_vm *vm)
{
	uint8_t buf[4096];

	for (int i = 0; i < 16 && vm->console_fd >= 0; i++) {
		ssize_t n = read(vm->console_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			rm_epoll_del(s, vm->console_fd);
			return;
		}
		ring_append(vm, buf, (size_t)n);
		for (struct rm_console_client *cc = vm->clients, *next; cc; cc = next) {
			next = cc->next;
			client_write(s, cc, buf, (size_t)n);
		}
	}
}

void rm_console_client_event(struct rm_server *s, struct rm_console_client *cc, uint32_t events)
{
	uint8_t buf[4096];
	ssize_t n;

	(void)events;
	if (cc->fd < 0)
		return; /* closed earlier in this turn */
	n = read(cc->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(s, cc);
		return;
	}
	/* Input the VMM cannot take now is dropped, as a UART drops what overflows its FIFO. */
	if (cc->vm->console_fd >= 0 && send(cc->vm->console_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("vm %u: console input dropped: %s", cc->vm->vmid, strerror(errno));
}

int rm_console_attach(struct rm_server *s, struct rm_vm *vm)
{
	struct rm_console_client *cc;
	int sv[2], ret;

	if (!vm->ring)
		return -ENOTCONN;
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		free(cc);
		return ret;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	cc->ep = (struct rm_ep){ RM_EP_CONSOLE_CLIENT, cc };
	cc->vm = vm;
	cc->fd = sv[0];
	ret = rm_epoll_add(s, cc->fd, EPOLLIN, &cc->ep);
	if (ret) {
		close(sv[0]);
		close(sv[1]);
		free(cc);
		return ret;
	}
	cc->next = vm->clients;
	vm->clients = cc;
	/* The recent past first: the ring in order (its two pieces). */
	if (vm->ring_len) {
		size_t first = RM_CONSOLE_RING - vm->ring_start;

		if (first > vm->ring_len)
			first = vm->ring_len;
		client_write(s, cc, vm->ring + vm->ring_start, first);
		if (vm->ring_len > first && cc->fd >= 0)
			client_write(s, cc, vm->ring, vm->ring_len - first);
	}
	return sv[1];
}

/* --- stop, exit, reset ------------------------------------------------------------------------------ */

/*
 * The VMM's deadline: to say READY after launch, or to exit after SIGTERM. When it passes the VMM is
 * killed (vmm_deadline_passed). Without a timer, the VMM is killed at once: never left unbounded.
 */
static void vmm_deadline(struct rm_server *s, struct rm_vm *vm, int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (ms % 1000) * 1000000L } };

	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	close_watched(s, &vm->stop_timer);
	vm->stop_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->stop_timer < 0 || timerfd_settime(vm->stop_timer, 0, &its, NULL) < 0 ||
	    rm_epoll_add(s, vm->stop_timer, EPOLLIN, &vm->timer_ep)) {
		log_warn("vm %u: no VMM timer (%s): killing VMM now", vm->vmid, strerror(errno));
		close_watched(s, &vm->stop_timer);
		vm->forced = true;
		kill(vm->pid, SIGKILL);
	}
}

void rm_vmm_stop(struct rm_server *s, struct rm_vm *vm, bool force)
{
	if (!rm_vmm_alive(vm))
		return;
	if (force) {
		log_info("vm %u: killing VMM %d", vm->vmid, (int)vm->pid);
		vm->forced = true;
		kill(vm->pid, SIGKILL);
		return;
	}
	log_info("vm %u: stopping VMM %d", vm->vmid, (int)vm->pid);
	kill(vm->pid, SIGTERM);
	if (vm->state == RM_VM_PAUSED)
		kill(vm->pid, SIGCONT);
	if (vm->stop_timer >= 0 && vm->ready)
		return; /* already counting */
	vmm_deadline(s, vm, s->cfg.stop_timeout_ms);
}

static void exit_from_status(struct rm_vm *vm, int status)
{
	struct rm_vm_exited_ntf *e = &vm->exit;

	if (vm->vmm_reported)
		return;
	*e = (struct rm_vm_exited_ntf){ .vmid = vm->vmid };
	if (vm->forced) {
		e->reason = RM_EXIT_FORCED;
		e->exit_type = RM_EXIT_TYPE_VM_STOP_FORCED;
		e->code = SIGKILL;
		snprintf(e->detail, sizeof(e->detail), "VMM killed by bothyd (forced stop)");
		return;
	}
	e->reason = RM_EXIT_VMM_DIED;
	e->exit_type = RM_EXIT_TYPE_SOFTWARE_ERROR;
	if (WIFSIGNALED(status)) {
		e->code = (uint32_t)WTERMSIG(status);
		snprintf(e->detail, sizeof(e->detail), "VMM killed by signal %d", WTERMSIG(status));
	} else {
		e->code = (uint32_t)WEXITSTATUS(status);
		snprintf(e->detail, sizeof(e->detail), "VMM exited with status %d", WEXITSTATUS(status));
	}
}

/* The VMM process is gone: reap it, then move the VM on from whatever state it was in. */
static void vmm_reap(struct rm_server *s, struct rm_vm *vm)
{
	int status = 0;
	pid_t r;

	/* Its last words (VMM_EXITED) may still sit in the link. */
	if (vm->link_fd >= 0)
		link_readable(s, vm);
	r = waitpid(vm->pid, &status, WNOHANG);
	if (r == 0)
		return; /* not yet: the pidfd stays readable */
	if (r < 0)
		log_warn("vm %u: waitpid %d: %s", vm->vmid, (int)vm->pid, strerror(errno));
	close_watched(s, &vm->pidfd);
	close_watched(s, &vm->stop_timer);
	pidfile_remove(s, vm);
	s->live_vmms--;
	vm->pid = 0;
	vm->hcall_pending = false;
	exit_from_status(vm, status);
	log_info("vm %u: VMM gone: %s (%s)", vm->vmid, rm_exit_reason_name(vm->exit.reason), vm->exit.detail);

	switch (vm->state) {
	case RM_VM_INIT:
	case RM_VM_RESET:
		/* It never said READY: VM_INIT fails. */
		log_warn("vm %u: VM_INIT failed: %s (see %s/vm-%u.log)", vm->vmid, vm->exit.detail, s->state_dir,
			 vm->vmid);
		vm->slow = RM_SLOW_NONE;
		rm_vm_set_state(s, vm, RM_VM_INIT_FAILED);
		rm_pending_finish(s, vm, RM_ERR_NORESOURCE);
		break;
	case RM_VM_READY:
	case RM_VM_RUNNING:
	case RM_VM_PAUSED: {
		enum rm_slow_op slow = vm->slow;

		vm->slow = RM_SLOW_NONE;
		rm_notify(s, vm, RM_MSG_NOTIFY_VM_EXITED, &vm->exit);
		rm_vm_set_state(s, vm, RM_VM_EXITED);
		/* A stop is done; a start the VMM never answered failed. */
		rm_pending_finish(s, vm, slow == RM_SLOW_STOP ? RM_OK : RM_ERR_NORESOURCE);
		break;
	}
	case RM_VM_RESETTING:
		rm_vm_reset_run(s, vm);
		break;
	default:
		break;
	}
}

static void close_links(struct rm_server *s, struct rm_vm *vm)
{
	close_watched(s, &vm->link_fd);
	close_watched(s, &vm->console_fd);
	while (vm->clients)
		client_close(s, vm->clients); /* console clients see EOF */
}

void rm_vm_reset_run(struct rm_server *s, struct rm_vm *vm)
{
	for (;;) {
		switch (vm->reset_stage) {
		case RM_RESET_KILL_VMM:
			if (rm_vmm_alive(vm)) {
				log_info("vm %u: reset: killing VMM %d", vm->vmid, (int)vm->pid);
				kill(vm->pid, SIGKILL);
			}
			vm->reset_stage = RM_RESET_REAP;
			break;
		case RM_RESET_REAP:
			if (rm_vmm_alive(vm))
				return; /* resumed by vmm_reap() */
			vm->reset_stage = RM_RESET_CLOSE_LINKS;
			break;
		case RM_RESET_CLOSE_LINKS:
			close_links(s, vm);
			vm->reset_stage = RM_RESET_RELEASE;
			break;
		case RM_RESET_RELEASE:
			vm->nr_boot = 0;
			vm->hcall_pending = false;
			vm->ready = false;
			free(vm->ring);
			vm->ring = NULL;
			vm->ring_start = vm->ring_len = 0;
			free(vm->link_reasm);
			vm->link_reasm = NULL;
			vm->reset_stage = RM_RESET_DONE;
			break;
		case RM_RESET_DONE:
			if (vm->state == RM_VM_RESETTING)
				rm_vm_set_state(s, vm, RM_VM_RESET);
			return;
		}
	}
}

void rm_supervise_event(struct rm_server *s, struct rm_ep *ep, uint32_t events)
{
	struct rm_vm *vm = ep->obj;
	uint64_t ticks;

	(void)events;
	switch (ep->kind) {
	case RM_EP_VMM_PID:
		if (vm->pidfd >= 0)
			vmm_reap(s, vm);
		break;
	case RM_EP_VMM_LINK:
		if (vm->link_fd >= 0)
			link_readable(s, vm);
		break;
	case RM_EP_VMM_CONSOLE:
		if (vm->console_fd >= 0)
			console_readable(s, vm);
		break;
	case RM_EP_STOP_TIMER:
		if (vm->stop_timer < 0 || read(vm->stop_timer, &ticks, sizeof(ticks)) < 0)
			break;
		close_watched(s, &vm->stop_timer);
		if (rm_vmm_alive(vm)) {
			if (vm->ready)
				log_warn("vm %u: VMM %d did not stop within %d ms: killing it", vm->vmid,
					 (int)vm->pid, s->cfg.stop_timeout_ms);
			else
				log_warn("vm %u: VMM %d not ready within %d ms: killing it", vm->vmid, (int)vm->pid,
					 s->cfg.init_timeout_ms);
			vm->forced = true;
			kill(vm->pid, SIGKILL);
		}
		break;
	default:
		break;
	}
}

void rm_vm_teardown(struct rm_server *s, struct rm_vm *vm)
{
	if (rm_vmm_alive(vm)) {
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
		pidfile_remove(s, vm);
		s->live_vmms--;
		vm->pid = 0;
	}
	close_watched(s, &vm->pidfd);
	close_watched(s, &vm->stop_timer);
	close_links(s, vm);
	while (vm->pending) {
		struct rm_pending *p = vm->pending;

		vm->pending = p->next;
		p->conn->inflight--;
		free(p);
	}
	free(vm->ring);
	vm->ring = NULL;
	free(vm->link_reasm);
	vm->link_reasm = NULL;
}

/* --- orphans of an earlier bothyd ----------------------------------------------------------------------- */

/* Is @pid a VMM started by a bothyd: `bothy run --rm-control ...` of a binary named bothy*? */
static bool is_bothy_vmm(pid_t pid)
{
	char path[64], buf[4096], exe[PATH_MAX];
	bool run = false, control = false;
	ssize_t n, e;
	const char *base;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *arg = buf, *end = buf + n; arg < end; arg += strlen(arg) + 1) {
		if (arg != buf && !strcmp(arg, "run") && !run)
			run = true;
		if (!strcmp(arg, "--rm-control"))
			control = true;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	e = readlink(path, exe, sizeof(exe) - 1);
	if (e > 0) {
		exe[e] = '\0';
		base = strrchr(exe, '/');
		base = base ? base + 1 : exe;
		if (strncmp(base, "bothy", 5))
			return false;
	}
	return run && control;
}

void rm_orphans_reap(struct rm_server *s)
{
	DIR *dir = opendir(s->state_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char path[PATH_MAX], buf[32], tail;
		unsigned vmid;
		int pid = 0, fd;
		ssize_t n;

		if (sscanf(de->d_name, "vmm-%u.pi%c", &vmid, &tail) != 2 || tail != 'd' ||
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".pid"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->state_dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			pid = atoi(buf);
		}
		if (pid > 1 && is_bothy_vmm(pid)) {
			log_warn("orphan VMM %d of vm %u (left by an earlier bothyd): killing it", pid, vmid);
			kill(pid, SIGKILL);
		} else {
			log_info("removing stale %s", path);
		}
		unlink(path);
	}
	closedir(dir);
}
