/* Host side of virtio-vsock over Unix stream sockets (see vsock_uds.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/vsock_uds.h"
#include "core/log.h"

#define VSOCK_UDS_BACKLOG 128
#define VSOCK_UDS_PORT_SUFFIX_MAX 11 /* "_4294967295" */

static int vsock_uds_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

static int vsock_uds_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/* True if something accepts connections on @sa (a connect that is not refused). */
static bool vsock_uds_live(const struct sockaddr_un *sa)
{
	int fd = vsock_uds_socket();
	bool live;

	if (fd < 0)
		return false;
	/* EAGAIN: a listener with a full backlog is still a listener. */
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

int vsock_uds_listen(const char *path, int *out_fd)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	/* Guest->host connections append "_<port>": that must fit too. */
	if (!path || strlen(path) + VSOCK_UDS_PORT_SUFFIX_MAX >= sizeof(sa.sun_path)) {
		log_err("vsock: socket path '%s' is too long (at most %zu bytes)", path ? path : "",
			sizeof(sa.sun_path) - 1 - VSOCK_UDS_PORT_SUFFIX_MAX);
		return -ENAMETOOLONG;
	}
	ret = vsock_uds_addr(&sa, path);
	if (ret) {
		log_err("vsock: socket path '%s' is not usable", path);
		return ret;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("vsock: %s exists and is not a socket; not replacing it", path);
			return -EEXIST;
		}
		if (vsock_uds_live(&sa)) {
			log_err("vsock: another process is listening on %s", path);
			return -EADDRINUSE;
		}
		/* A socket file nobody accepts on: left by an earlier run. */
		if (unlink(path) < 0 && errno != ENOENT) {
			ret = -errno;
			log_err("vsock: cannot remove stale socket %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	fd = vsock_uds_socket();
	if (fd < 0) {
		log_err("vsock: socket: %s", strerror(-fd));
		return fd;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, VSOCK_UDS_BACKLOG) < 0) {
		ret = -errno;
		log_err("vsock: cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	*out_fd = fd;
	return 0;
}

int vsock_uds_connect(const char *path, uint32_t port, int *out_fd)
{
	struct sockaddr_un sa;
	char name[sizeof(sa.sun_path) + VSOCK_UDS_PORT_SUFFIX_MAX + 1];
	int fd, ret, n;

	n = snprintf(name, sizeof(name), "%s_%u", path, port);
	if (n < 0 || (size_t)n >= sizeof(name))
		return -ENAMETOOLONG;
	ret = vsock_uds_addr(&sa, name);
	if (ret)
		return ret;
	fd = vsock_uds_socket();
	if (fd < 0)
		return fd;
	/* Unix stream connects complete at once or fail (EAGAIN: backlog full): no EINPROGRESS. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out_fd = fd;
	return 0;
}

int vsock_uds_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	size_t i = sizeof(verb) - 1, digits = 0;
	uint64_t v = 0;

	if (len < i + 2 || len > VSOCK_UDS_LINE_MAX || buf[len - 1] != '\n')
		return -EINVAL;
	if (memcmp(buf, verb, i) != 0)
		return -EINVAL;
	len--; /* the newline */
	if (buf[len - 1] == '\r')
		len--;
	for (; i < len; i++, digits++) {
		if (buf[i] < '0' || buf[i] > '9' || digits >= 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	/* 0xffffffff is VMADDR_PORT_ANY: not a port one can connect to. */
	if (digits == 0 || v >= UINT32_MAX)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}
