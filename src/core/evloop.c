/*
 * A small epoll event loop (see evloop.h). Registrations live in a fixed-size
 * table indexed by slot so the epoll cookie stays valid while callbacks add
 * or remove fds; a removed slot is marked free and never called again in the
 * same round.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/evloop.h"

#define EVLOOP_MAX_FDS 1100 /* a vsock device's connections plus its queues */

struct evloop_slot {
	int fd; /* -1: free */
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int stop_fd; /* eventfd: evloop_stop() from any thread */
	bool stopping;
	struct evloop_slot slots[EVLOOP_MAX_FDS];
};

int evloop_create(struct evloop **out)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	int ret;

	if (!loop)
		return -ENOMEM;
	for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
		loop->slots[i].fd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = -errno;
		goto free_loop;
	}
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->stop_fd < 0) {
		ret = -errno;
		goto close_ep;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stop_fd, &ev) < 0) {
		ret = -errno;
		goto close_stop;
	}
	*out = loop;
	return 0;

close_stop:
	close(loop->stop_fd);
close_ep:
	close(loop->epfd);
free_loop:
	free(loop);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	close(loop->stop_fd);
	close(loop->epfd);
	free(loop);
}

static int evloop_slot_of(const struct evloop *loop, int fd)
{
	for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
		if (loop->slots[i].fd == fd)
			return (int)i;
	return -1;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	int slot;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (evloop_slot_of(loop, fd) >= 0)
		return -EEXIST;
	slot = evloop_slot_of(loop, -1);
	if (slot < 0)
		return -ENOSPC;
	ev.data.u64 = (uint64_t)slot;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->slots[slot] = (struct evloop_slot){ .fd = fd, .fn = fn, .opaque = opaque };
	return 0;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	int slot = evloop_slot_of(loop, fd);
	struct epoll_event ev = { .events = events };

	if (slot < 0)
		return -ENOENT;
	ev.data.u64 = (uint64_t)slot;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int evloop_del(struct evloop *loop, int fd)
{
	int slot = evloop_slot_of(loop, fd);

	if (slot < 0)
		return -ENOENT;
	loop->slots[slot].fd = -1;
	return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event evs[32];

	while (!__atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(loop->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			uint64_t slot = evs[i].data.u64;
			struct evloop_slot *s;

			if (slot == UINT64_MAX)
				continue; /* stop_fd: the loop condition decides */
			s = &loop->slots[slot];
			/* The slot may have been freed (or reused) by an earlier callback this round. */
			if (s->fd < 0)
				continue;
			s->fn(s->opaque, s->fd, evs[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	__atomic_store_n(&loop->stopping, true, __ATOMIC_RELEASE);
	if (write(loop->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the loop wakes anyway. */
	}
}
