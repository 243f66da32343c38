/*
 * virtio-console (virtio 1.x 5.3), one port (hvc0), no MULTIPORT: receiveq
 * (0) carries host input to the guest, transmitq (1) guest output to the host.
 *
 * Input: in_fd is watched only while the guest has receive buffers; bytes are
 * read straight into them. Without buffers (or after EOF) the fd is not
 * watched at all, so a full pipe or a hung-up tty cannot make the worker spin.
 * Output: written in full to out_fd with the device lock dropped, so a slow
 * terminal blocks only this device's worker, never a vCPU touching its registers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_CONSOLE_F_SIZE 0

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define CONSOLE_QUEUE_SIZE 128
#define CONSOLE_RX_BATCH 64

/* Config space (5.3.4): cols, rows (F_SIZE), max_nr_ports, emerg_wr; little-endian. */
#define CONSOLE_CONFIG_SIZE 12

struct virtio_console {
	struct virtio_dev vdev; /* first: destroy frees the whole */
	int in_fd, out_fd;
	bool in_pollable; /* epoll takes in_fd (not a regular file) */
	bool in_watched;  /* in_fd is in the worker's loop */
	bool in_eof;      /* EOF or a read error: input is over */
	bool out_failed;  /* said once that out_fd refuses output */
	bool rx_held;     /* rx_req was popped and not yet filled */
	uint64_t generation; /* bumped by reset: a request popped before is void */
	struct virtq_req rx_req, tx_req;
	uint8_t config[CONSOLE_CONFIG_SIZE];
};

static struct virtio_console *console_of(const struct virtio_dev *vdev)
{
	return vdev->priv;
}

static bool console_running(const struct virtio_console *c)
{
	return (c->vdev.status & VIRTIO_STATUS_DRIVER_OK) && !virtio_dev_broken(&c->vdev);
}

static void console_on_input(void *opaque, int fd, uint32_t events);

/* Worker thread only: evloop_add/del are not safe against the loop running elsewhere. */
static void console_watch_input(struct virtio_console *c, bool on)
{
	on = on && c->in_pollable && !c->in_eof && console_running(c);
	if (on == c->in_watched)
		return;
	if (on) {
		if (evloop_add(c->vdev.loop, c->in_fd, EPOLLIN, console_on_input, c) < 0)
			return;
	} else {
		evloop_del(c->vdev.loop, c->in_fd);
	}
	c->in_watched = on;
}

/* True if a read of in_fd will not block (pipes and ttys may be handed to us blocking). */
static bool console_input_ready(const struct virtio_console *c)
{
	struct pollfd p = { .fd = c->in_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/* Moves input into receive buffers until input or buffers run out. */
static void console_handle_rx(struct virtio_console *c)
{
	struct virtq *q = &c->vdev.queues[CONSOLE_RXQ];
	struct virtq_req *req = &c->rx_req;
	bool pushed = false;
	unsigned i;
	ssize_t rd;
	int ret;

	if (!console_running(c) || !q->enabled || c->in_fd < 0 || c->in_eof)
		return;
	for (i = 0; i < CONSOLE_RX_BATCH; i++) {
		if (!c->rx_held) {
			ret = virtq_pop(q, req);
			if (ret < 0) {
				virtio_dev_set_broken(&c->vdev, "receive queue corrupt");
				break;
			}
			if (ret == 0) {
				if (virtq_enable_notify(q))
					continue;
				/* No buffers: stop watching input until the guest kicks receiveq. */
				console_watch_input(c, false);
				break;
			}
			/* Guest-controlled: receive buffers are writable and not empty. */
			if (req->nr_out || !req->in_len) {
				virtio_dev_set_broken(&c->vdev, "receive buffer is not device-writable");
				break;
			}
			c->rx_held = true;
		}
		if (!console_input_ready(c))
			break;
		rd = readv(c->in_fd, req->iov + req->nr_out, (int)(req->nr_in > IOV_MAX ? IOV_MAX : req->nr_in));
		if (rd < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (rd <= 0) {
			if (rd < 0)
				log_err("%s: input read failed: %s; input closed", c->vdev.name, strerror(errno));
			c->in_eof = true;
			console_watch_input(c, false);
			break;
		}
		virtq_push(q, req, (uint32_t)rd);
		c->rx_held = false;
		pushed = true;
	}
	/* Batch used up: come back (a regular file gives no readiness events to do it). */
	if (i == CONSOLE_RX_BATCH)
		virtio_dev_kick(&c->vdev, CONSOLE_RXQ);
	if (pushed)
		virtio_dev_queue_done(&c->vdev, CONSOLE_RXQ);
}

static void console_on_input(void *opaque, int fd, uint32_t events)
{
	struct virtio_console *c = opaque;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&c->vdev.lock);
	if (!console_running(c))
		console_watch_input(c, false); /* reset or broken: the next DRIVER_OK kicks us back */
	else
		console_handle_rx(c);
	pthread_mutex_unlock(&c->vdev.lock);
}

/* Writes all of @req's readable bytes (lock dropped by the caller). false if out_fd failed. */
static bool console_write_all(int fd, const struct virtq_req *req, int *err)
{
	for (unsigned i = 0; i < req->nr_out; i++) {
		const uint8_t *p = req->iov[i].iov_base;
		size_t left = req->iov[i].iov_len;

		while (left) {
			ssize_t wr = write(fd, p, left);

			if (wr < 0 && errno == EINTR)
				continue;
			if (wr < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };

				poll(&pf, 1, -1); /* a non-blocking out_fd: wait on this worker only */
				continue;
			}
			if (wr <= 0) {
				*err = wr < 0 ? errno : EIO;
				return false;
			}
			p += wr;
			left -= (size_t)wr;
		}
	}
	return true;
}

/* A reader that went away must give EPIPE, not kill the VMM: block SIGPIPE in the writing thread. */
static void console_block_sigpipe(void)
{
	static __thread bool blocked;
	sigset_t set;

	if (blocked)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	blocked = true;
}

static void console_handle_tx(struct virtio_console *c)
{
	struct virtio_dev *vdev = &c->vdev;
	struct virtq *q = &vdev->queues[CONSOLE_TXQ];
	struct virtq_req *req = &c->tx_req;
	bool pushed = false;
	uint64_t gen;
	int ret, err = 0;

	for (;;) {
		if (!console_running(c) || !q->enabled)
			break;
		ret = virtq_pop(q, req);
		if (ret < 0) {
			virtio_dev_set_broken(vdev, "transmit queue corrupt");
			break;
		}
		if (ret == 0) {
			if (virtq_enable_notify(q))
				continue;
			break;
		}
		if (req->nr_in) {
			virtio_dev_set_broken(vdev, "transmit buffer is device-writable");
			break;
		}
		if (c->out_fd >= 0 && !c->out_failed) {
			console_block_sigpipe();
			gen = c->generation;
			pthread_mutex_unlock(&vdev->lock);
			ret = console_write_all(c->out_fd, req, &err);
			pthread_mutex_lock(&vdev->lock);
			if (!ret && !c->out_failed) {
				log_err("%s: output write failed: %s; guest output is discarded from now on",
					vdev->name, strerror(err));
				c->out_failed = true;
			}
			if (gen != c->generation)
				return; /* reset while we wrote: the request belongs to the old rings */
		}
		virtq_push(q, req, 0);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(vdev, CONSOLE_TXQ);
}

static void console_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *c = console_of(vdev);

	if (q == CONSOLE_RXQ) {
		/* New receive buffers: wait for input again, take what is there now. */
		console_watch_input(c, true);
		console_handle_rx(c);
	} else if (q == CONSOLE_TXQ) {
		console_handle_tx(c);
	}
}

static void console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *c = console_of(vdev);

	/* in_fd stays watched until its next event (worker thread) sees the device stopped. */
	c->rx_held = false;
	c->generation++;
}

static void console_destroy(struct virtio_dev *vdev)
{
	free(console_of(vdev));
}

static const struct virtio_dev_ops console_ops = {
	.queue_notify = console_queue_notify,
	.reset = console_reset,
	.destroy = console_destroy,
};

static void console_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int virtio_console_create(struct gmem *gm, const struct virtio_console_params *p, unsigned index,
			  struct virtio_dev **out)
{
	static const uint16_t sizes[2] = { CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE };
	uint16_t cols = 80, rows = 25;
	struct virtio_console *c;
	struct winsize ws;
	struct stat st;
	char name[32];
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(name, sizeof(name), "virtio-console%u", index);
	ret = virtio_dev_init(&c->vdev, name, VIRTIO_ID_CONSOLE, 1ULL << VIRTIO_CONSOLE_F_SIZE, 2, sizes,
			      &console_ops, c);
	if (ret < 0) {
		log_err("%s: %s", name, strerror(-ret));
		free(c);
		return ret;
	}
	c->vdev.gmem = gm;
	c->vdev.config = c->config;
	c->vdev.config_size = sizeof(c->config);
	c->in_fd = p->in_fd;
	c->out_fd = p->out_fd;
	/* Regular files cannot be polled: they are always ready, read them on demand. */
	c->in_pollable = c->in_fd >= 0 && !(fstat(c->in_fd, &st) == 0 && S_ISREG(st.st_mode));
	if (c->out_fd >= 0 && ioctl(c->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	console_put16(c->config + 0, cols);
	console_put16(c->config + 2, rows);
	c->config[4] = 1; /* max_nr_ports: read only with MULTIPORT, but say the truth */
	*out = &c->vdev;
	return 0;
}
