/*
 * A small epoll event loop: one per device worker thread. Callbacks run on
 * the loop's thread. evloop_stop() may be called from any thread.
 */
#ifndef BOTHY_CORE_EVLOOP_H
#define BOTHY_CORE_EVLOOP_H

#include <stdint.h>

struct evloop;

/* @events: EPOLLIN/EPOLLOUT... as returned by epoll. */
typedef void (*evloop_fn)(void *opaque, int fd, uint32_t events);

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *loop); /* NULL is a no-op; the loop must not be running */
/* Watches @fd (level-triggered) for @events; -EEXIST if already watched. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
int evloop_del(struct evloop *loop, int fd);
/* Runs callbacks until evloop_stop(); 0, or a negative errno if epoll fails. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
