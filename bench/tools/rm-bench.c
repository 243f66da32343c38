/*
 * rm-bench: load for bench/<arch>/rm.bench, against bothyd (through the client library) and, for
 * comparison, QEMU's QMP monitor.
 *
 *   rm-bench latency SOCKET N                 N VM_GET_STATE round trips, then N allocate+deallocate
 *                                             pairs: p50/p99 in microseconds
 *   rm-bench throughput SOCKET CLIENTS SECS   CLIENTS connections, each its own thread and VM, sending
 *                                             VM_GET_STATE back to back for SECS: requests/s in all
 *   rm-bench starts SOCKET N KERNEL           N VMs created and started one after the other (allocate,
 *                                             config, init, start: until bothyd answers RUNNING, when
 *                                             the vCPUs enter the guest), each then stopped and
 *                                             destroyed outside the timing: VMs/s and p50/p99 in ms
 *   rm-bench qmp-latency SOCKET N             N QMP query-status round trips to a running QEMU
 *   rm-bench qmp-start N QEMU ARGS...         N QEMU launches (ARGS must include -qmp unix:PATH,server=on,
 *                                             wait=off as the first -qmp) until query-status says running
 *
 * Output: one "rm-bench: ..." line per figure. Exit status 1 when a request fails.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rm/client.h"

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i] : 0;
}

static void report(const char *what, double *v, size_t n, const char *unit, double scale)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("rm-bench: %s: n=%zu p50=%.1f%s p99=%.1f%s max=%.1f%s\n", what, n, pct(v, n, 0.5) / scale, unit,
	       pct(v, n, 0.99) / scale, unit, n ? v[n - 1] / scale : 0, unit);
}

static void die(const char *what, int err, uint32_t rm_err)
{
	if (err)
		fprintf(stderr, "rm-bench: %s: %s\n", what, strerror(-err));
	else
		fprintf(stderr, "rm-bench: %s: %s\n", what, rm_err_name(rm_err));
	exit(1);
}

/* call: one request that must succeed. */
static void call(struct rm_client *c, uint32_t id, const void *req, void *rep, const char *what)
{
	uint32_t rm_err = 0;
	int ret = rm_client_call(c, id, req, &rm_err, rep, NULL);

	if (ret || rm_err)
		die(what, ret, rm_err);
}

static struct rm_client *connect_or_die(const char *path)
{
	struct rm_client *c;
	int ret = rm_client_connect(path, &c);

	if (ret)
		die("connect", ret, 0);
	return c;
}

static uint16_t allocate(struct rm_client *c)
{
	struct rm_vm_allocate_req req = { 0 };
	struct rm_vmid rep;

	call(c, RM_ID_VM_ALLOCATE, &req, &rep, "VM_ALLOCATE");
	return rep.vmid;
}

static void deallocate(struct rm_client *c, uint16_t vmid)
{
	struct rm_vmid req = { .vmid = vmid };

	call(c, RM_ID_VM_DEALLOCATE, &req, NULL, "VM_DEALLOCATE");
}

static int cmd_latency(const char *path, size_t n)
{
	struct rm_client *c = connect_or_die(path);
	double *v = calloc(n, sizeof(*v));
	struct rm_vmid req = { .vmid = allocate(c) };
	struct rm_vm_state_rep rep;

	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();

		call(c, RM_ID_VM_GET_STATE, &req, &rep, "VM_GET_STATE");
		v[i] = now_us() - t0;
	}
	report("VM_GET_STATE round trip, 1 client", v, n, "us", 1);
	deallocate(c, req.vmid);
	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();

		deallocate(c, allocate(c));
		v[i] = now_us() - t0;
	}
	report("VM_ALLOCATE + VM_DEALLOCATE, 1 client", v, n, "us", 1);
	free(v);
	rm_client_close(c);
	return 0;
}

struct worker {
	pthread_t thread;
	const char *path;
	double seconds;
	unsigned long done;
	pthread_barrier_t *start;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct rm_client *c = connect_or_die(w->path);
	struct rm_vmid req = { .vmid = allocate(c) };
	struct rm_vm_state_rep rep;
	double end;

	pthread_barrier_wait(w->start);
	end = now_us() + w->seconds * 1e6;
	while (now_us() < end) {
		call(c, RM_ID_VM_GET_STATE, &req, &rep, "VM_GET_STATE");
		w->done++;
	}
	deallocate(c, req.vmid);
	rm_client_close(c);
	return NULL;
}

static int cmd_throughput(const char *path, unsigned clients, double seconds)
{
	struct worker *w = calloc(clients, sizeof(*w));
	pthread_barrier_t start;
	unsigned long total = 0;
	double t0;

	pthread_barrier_init(&start, NULL, clients + 1);
	for (unsigned i = 0; i < clients; i++) {
		w[i] = (struct worker){ .path = path, .seconds = seconds, .start = &start };
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]))
			die("pthread_create", -EAGAIN, 0);
	}
	pthread_barrier_wait(&start);
	t0 = now_us();
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].done;
	}
	printf("rm-bench: VM_GET_STATE throughput, %u client%s: %.0f requests/s (%lu in %.1f s)\n", clients,
	       clients == 1 ? "" : "s", total / ((now_us() - t0) / 1e6), total, (now_us() - t0) / 1e6);
	free(w);
	return 0;
}

static int cmd_starts(const char *path, size_t n, const char *kernel)
{
	struct rm_client *c = connect_or_die(path);
	double *v = calloc(n, sizeof(*v)), total = 0;

	for (size_t i = 0; i < n; i++) {
		static struct rm_vm_config_req cfg;
		struct rm_vmid id;
		struct rm_vm_stop_req stop;
		double t0 = now_us();

		memset(&cfg, 0, sizeof(cfg));
		id.vmid = allocate(c);
		cfg.vmid = id.vmid;
		cfg.cpus = 1;
		cfg.memory = 16 << 20;
		cfg.console = RM_CONSOLE_SERIAL;
		snprintf(cfg.kernel, sizeof(cfg.kernel), "%s", kernel);
		call(c, RM_ID_VM_CONFIG, &cfg, NULL, "VM_CONFIG");
		call(c, RM_ID_VM_INIT, &id, NULL, "VM_INIT");
		call(c, RM_ID_VM_START, &id, NULL, "VM_START");
		v[i] = now_us() - t0;
		total += v[i];
		stop = (struct rm_vm_stop_req){ .vmid = id.vmid, .flags = RM_STOP_FLAG_FORCE };
		call(c, RM_ID_VM_STOP, &stop, NULL, "VM_STOP");
		call(c, RM_ID_VM_RESET, &id, NULL, "VM_RESET");
		/* The reset finishes in the background: retry the deallocate until it is RESET. */
		for (int tries = 0;; tries++) {
			uint32_t rm_err = 0;
			int ret = rm_client_call(c, RM_ID_VM_DEALLOCATE, &id, &rm_err, NULL, NULL);

			if (ret)
				die("VM_DEALLOCATE", ret, 0);
			if (!rm_err)
				break;
			if (rm_err != RM_ERR_VM_STATE || tries > 5000)
				die("VM_DEALLOCATE", 0, rm_err);
			usleep(1000);
		}
	}
	printf("rm-bench: VMs created and started (allocate -> RUNNING), sequential: %.1f VMs/s\n",
	       n / (total / 1e6));
	report("VM create+start", v, n, "ms", 1000);
	free(v);
	rm_client_close(c);
	return 0;
}

/* --- QMP ---------------------------------------------------------------------------------- */

static int qmp_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads one JSON line (QMP messages end with \r\n) into buf; -1 on EOF. */
static int qmp_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return 0;
}

/* Sends a command and returns its answer line (skipping events). */
static int qmp_cmd(int fd, const char *cmd, char *buf, size_t cap)
{
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return -1;
	do {
		if (qmp_line(fd, buf, cap))
			return -1;
	} while (strstr(buf, "\"event\""));
	return 0;
}

static int qmp_open(const char *path)
{
	char buf[4096];
	int fd = qmp_connect(path);

	if (fd < 0)
		return -1;
	if (qmp_line(fd, buf, sizeof(buf)) || qmp_cmd(fd, "{\"execute\":\"qmp_capabilities\"}\n", buf, sizeof(buf))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cmd_qmp_latency(const char *path, size_t n)
{
	double *v = calloc(n, sizeof(*v));
	char buf[4096];
	int fd = qmp_open(path);

	if (fd < 0)
		die("QMP connect", -errno, 0);
	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();

		if (qmp_cmd(fd, "{\"execute\":\"query-status\"}\n", buf, sizeof(buf)))
			die("QMP query-status", -EPIPE, 0);
		v[i] = now_us() - t0;
	}
	report("QMP query-status round trip, 1 client", v, n, "us", 1);
	close(fd);
	free(v);
	return 0;
}

static const char *qmp_path_of(int argc, char **argv)
{
	static char path[108];

	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-qmp") && !strncmp(argv[i + 1], "unix:", 5)) {
			snprintf(path, sizeof(path), "%s", argv[i + 1] + 5);
			path[strcspn(path, ",")] = 0;
			return path;
		}
	return NULL;
}

static int cmd_qmp_start(size_t n, int argc, char **argv)
{
	const char *path = qmp_path_of(argc, argv);
	double *v = calloc(n, sizeof(*v)), total = 0;
	char buf[4096];

	if (!path)
		die("qmp-start needs -qmp unix:PATH,server=on,wait=off", -EINVAL, 0);
	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();
		pid_t pid;
		int fd = -1;

		unlink(path);
		pid = fork();
		if (pid == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		while (fd < 0) {
			if (waitpid(pid, NULL, WNOHANG) == pid)
				die("QEMU exited before its QMP socket answered", -ECHILD, 0);
			fd = qmp_open(path);
			if (fd < 0)
				usleep(200);
		}
		for (;;) {
			if (qmp_cmd(fd, "{\"execute\":\"query-status\"}\n", buf, sizeof(buf)))
				die("QMP query-status", -EPIPE, 0);
			if (strstr(buf, "\"running\": true") || strstr(buf, "\"running\":true"))
				break;
		}
		v[i] = now_us() - t0;
		total += v[i];
		close(fd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	printf("rm-bench: QEMU launched to running (process start -> query-status running), sequential: %.1f VMs/s\n",
	       n / (total / 1e6));
	report("QEMU launch to running", v, n, "ms", 1000);
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "latency"))
		return cmd_latency(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "throughput"))
		return cmd_throughput(argv[2], (unsigned)strtoul(argv[3], NULL, 0), strtod(argv[4], NULL));
	if (argc == 5 && !strcmp(argv[1], "starts"))
		return cmd_starts(argv[2], strtoul(argv[3], NULL, 0), argv[4]);
	if (argc == 4 && !strcmp(argv[1], "qmp-latency"))
		return cmd_qmp_latency(argv[2], strtoul(argv[3], NULL, 0));
	if (argc >= 4 && !strcmp(argv[1], "qmp-start"))
		return cmd_qmp_start(strtoul(argv[2], NULL, 0), argc - 3, argv + 3);
	fprintf(stderr, "usage: rm-bench latency|throughput|starts|qmp-latency|qmp-start ... (see the source)\n");
	return 2;
}
