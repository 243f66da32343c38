/*
 * virtio-net (virtio 1.x 5.1) over a tap: one rx/tx queue pair. The guest's
 * virtio_net_hdr_v1 is the tap's vnet header, so frames pass through
 * unchanged both ways; offloads the guest accepts are switched on in the tap.
 *
 * tx: a chain's readable buffers are written to the tap in one writev. A full
 * tap (EAGAIN) keeps the chain and waits for EPOLLOUT: no frame is lost.
 * rx: a frame is read from the tap only when an rx chain is at hand, into a
 * bounce buffer, then scattered over as many chains as it needs (MRG_RXBUF)
 * or into the one chain (dropped if it does not fit). When the guest runs
 * out of buffers mid-frame, the frame and the chains filled so far wait for
 * its next kick. Without buffers the tap is not polled for input at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"

#define NET_TX_BATCH 256 /* frames per wake-up before giving rx a turn */
#define NET_RX_BATCH 256

struct net_used {
	uint16_t head;
	uint32_t len;
};

struct virtio_net {
	struct virtio_dev vdev; /* first: destroy frees the whole */
	struct tap *tap;
	uint8_t config[VIRTIO_NET_CONFIG_SIZE];

	uint32_t tap_events; /* what epoll watches on the tap fd now */
	bool tap_dead;       /* the tap went away (EPOLLERR/HUP): never polled again */
	bool rx_starved;     /* no rx buffers: EPOLLIN off until the guest kicks rx */
	bool tx_blocked;     /* the tap said EAGAIN: EPOLLOUT on */

	bool tx_held; /* tx_req was popped and waits for the tap */
	struct virtq_req tx_req;

	bool rx_held; /* rx_req was popped and not yet filled */
	struct virtq_req rx_req;
	struct virtq_req push_req; /* scratch to hand back chains recorded in rx_used */

	/* A frame read from the tap and not yet wholly placed in guest buffers. */
	bool frame_pending;
	size_t frame_len, frame_off;
	unsigned nr_used;
	struct net_used rx_used[VIRTIO_NET_QUEUE_SIZE];
	uint8_t *num_buffers[2]; /* where the first chain's header keeps num_buffers (guest RAM) */

	uint8_t bounce[VIRTIO_NET_MAX_FRAME];
};

static struct virtio_net *net_of(const struct virtio_dev *vdev)
{
	return vdev->priv;
}

static bool net_running(const struct virtio_net *n)
{
	return (n->vdev.status & VIRTIO_STATUS_DRIVER_OK) && !virtio_dev_broken(&n->vdev);
}

/* Makes epoll watch what the device needs now: input while rx can take it, output while tx waits. */
static void net_update_watch(struct virtio_net *n)
{
	uint32_t want = 0;

	if (n->tap_dead)
		return;
	if (net_running(n)) {
		if (n->vdev.queues[VIRTIO_NET_RXQ].enabled && !n->rx_starved)
			want |= EPOLLIN;
		if (n->tx_blocked)
			want |= EPOLLOUT;
	}
	if (want == n->tap_events)
		return;
	if (evloop_mod(n->vdev.loop, n->tap->fd, want) == 0)
		n->tap_events = want;
}

uint32_t virtio_net_tap_events(const struct virtio_dev *vdev)
{
	return net_of(vdev)->tap_events;
}

void virtio_net_handle_tx(struct virtio_dev *vdev)
{
	struct virtio_net *n = net_of(vdev);
	struct virtq *q = &vdev->queues[VIRTIO_NET_TXQ];
	struct virtq_req *req = &n->tx_req;
	unsigned pushed = 0, done;
	ssize_t wr;
	int ret;

	if (!net_running(n) || !q->enabled)
		return;
	for (done = 0; done < NET_TX_BATCH;) {
		if (!n->tx_held) {
			ret = virtq_pop(q, req);
			if (ret < 0) {
				virtio_dev_set_broken(vdev, "tx queue corrupt");
				goto out;
			}
			if (ret == 0) {
				if (virtq_enable_notify(q))
					continue;
				goto out;
			}
			/* Guest-controlled chain shape: tx buffers are all device-readable. */
			if (req->nr_in) {
				virtio_dev_set_broken(vdev, "tx buffer is device-writable");
				goto out;
			}
			if (req->out_len < VIRTIO_NET_HDR_LEN || req->out_len > VIRTIO_NET_MAX_FRAME) {
				log_guest("%s: tx frame of %zu bytes dropped (must be %d..%d with the header)",
					  vdev->name, req->out_len, VIRTIO_NET_HDR_LEN, VIRTIO_NET_MAX_FRAME);
				virtq_push(q, req, 0);
				pushed++;
				done++;
				continue;
			}
			n->tx_held = true;
		}
		wr = writev(n->tap->fd, req->iov, (int)req->nr_out);
		if (wr < 0 && errno == EINTR)
			continue;
		if (wr < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Keep the frame; the tap's EPOLLOUT resumes us. */
			n->tx_blocked = true;
			net_update_watch(n);
			goto out;
		}
		if (wr < 0)
			/* EINVAL: the kernel refused the guest's header (bad GSO fields); EIO: link down. */
			log_guest("%s: tap refused a tx frame of %zu bytes: %s", vdev->name, req->out_len,
				  strerror(errno));
		else if ((size_t)wr != req->out_len)
			log_guest("%s: tap took %zd of %zu bytes of a tx frame", vdev->name, wr, req->out_len);
		n->tx_held = false;
		virtq_push(q, req, 0);
		pushed++;
		done++;
	}
	/* Batch full with more to do: come back after rx had a turn. */
	virtio_dev_kick(vdev, VIRTIO_NET_TXQ);
out:
	if (n->tx_blocked && !n->tx_held) {
		n->tx_blocked = false;
		net_update_watch(n);
	}
	if (pushed)
		virtio_dev_queue_done(vdev, VIRTIO_NET_TXQ);
}

/* Makes sure rx_req holds a chain: 1, 0 if the guest has none (rx is then starved), -1 if broken. */
static int net_rx_take_chain(struct virtio_net *n)
{
	struct virtq *q = &n->vdev.queues[VIRTIO_NET_RXQ];
	struct virtq_req *req = &n->rx_req;
	int ret;

	if (n->rx_held)
		return 1;
	for (;;) {
		ret = virtq_pop(q, req);
		if (ret < 0) {
			virtio_dev_set_broken(&n->vdev, "rx queue corrupt");
			return -1;
		}
		if (ret > 0)
			break;
		if (virtq_enable_notify(q))
			continue;
		/* Sleep until the guest kicks rx: stop polling the tap for input meanwhile. */
		n->rx_starved = true;
		net_update_watch(n);
		return 0;
	}
	if (n->rx_starved) {
		n->rx_starved = false;
		virtq_disable_notify(q);
		net_update_watch(n);
	}
	/* Guest-controlled: rx buffers are writable and hold at least a header (5.1.6.3.1). */
	if (req->nr_out) {
		virtio_dev_set_broken(&n->vdev, "rx buffer is device-readable");
		return -1;
	}
	if (req->in_len < VIRTIO_NET_HDR_LEN) {
		virtio_dev_set_broken(&n->vdev, "rx buffer smaller than the virtio-net header");
		return -1;
	}
	n->rx_held = true;
	return 1;
}

/* Remembers where num_buffers lives in the first chain of a merged frame (may straddle buffers). */
static void net_rx_note_header(struct virtio_net *n)
{
	const struct virtq_req *req = &n->rx_req;
	size_t off = VIRTIO_NET_HDR_NUM_BUFFERS;
	unsigned found = 0;

	for (unsigned i = req->nr_out; i < req->nr_out + req->nr_in && found < 2; i++) {
		while (found < 2 && off < req->iov[i].iov_len)
			n->num_buffers[found++] = (uint8_t *)req->iov[i].iov_base + off++;
		off -= found < 2 ? req->iov[i].iov_len : 0;
	}
}

/* Places as much of the pending frame as buffers allow: true when it is all placed (or dropped). */
static bool net_rx_place(struct virtio_net *n, bool *dropped)
{
	bool mrg = virtio_dev_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	struct virtq_req *req = &n->rx_req;
	size_t chunk;

	*dropped = false;
	while (n->frame_off < n->frame_len) {
		if (net_rx_take_chain(n) <= 0)
			return false;
		if (!mrg) {
			if (req->in_len < n->frame_len) {
				/* The chain stays ours for the next frame. */
				log_guest("%s: rx frame of %zu bytes dropped: buffer of %zu bytes and no MRG_RXBUF",
					  n->vdev.name, n->frame_len, req->in_len);
				*dropped = true;
				return true;
			}
			n->bounce[VIRTIO_NET_HDR_NUM_BUFFERS] = 1;
			n->bounce[VIRTIO_NET_HDR_NUM_BUFFERS + 1] = 0;
			chunk = n->frame_len;
		} else {
			if (n->nr_used == sizeof(n->rx_used) / sizeof(n->rx_used[0])) {
				/* Only a driver recycling heads it has not got back gets here. */
				virtio_dev_set_broken(&n->vdev, "rx frame spans more buffers than the queue has");
				return false;
			}
			if (n->nr_used == 0)
				net_rx_note_header(n);
			chunk = n->frame_len - n->frame_off;
			if (chunk > req->in_len)
				chunk = req->in_len;
		}
		virtq_req_write(req, 0, n->bounce + n->frame_off, chunk);
		n->rx_used[n->nr_used++] = (struct net_used){ .head = req->head, .len = (uint32_t)chunk };
		n->frame_off += chunk;
		n->rx_held = false;
	}
	return true;
}

/* Hands the placed frame's chains to the guest, num_buffers first. */
static void net_rx_complete(struct virtio_net *n)
{
	struct virtq *q = &n->vdev.queues[VIRTIO_NET_RXQ];
	struct virtq_req *s = &n->push_req;

	if (virtio_dev_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF)) {
		*n->num_buffers[0] = (uint8_t)n->nr_used;
		*n->num_buffers[1] = (uint8_t)(n->nr_used >> 8);
	}
	for (unsigned i = 0; i < n->nr_used; i++) {
		s->head = n->rx_used[i].head;
		s->nr_out = 0;
		s->nr_in = 0;
		s->out_len = 0;
		s->in_len = n->rx_used[i].len;
		virtq_push(q, s, n->rx_used[i].len);
	}
}

void virtio_net_handle_rx(struct virtio_dev *vdev)
{
	struct virtio_net *n = net_of(vdev);
	bool pushed = false, dropped;
	unsigned frames;
	ssize_t rd;

	if (!net_running(n) || !vdev->queues[VIRTIO_NET_RXQ].enabled || n->tap_dead)
		return;
	for (frames = 0; frames < NET_RX_BATCH; frames++) {
		if (!n->frame_pending) {
			/* Read only with a buffer at hand: otherwise the frame waits in the tap. */
			if (net_rx_take_chain(n) <= 0)
				break;
			rd = read(n->tap->fd, n->bounce, sizeof(n->bounce));
			if (rd < 0 && errno == EINTR)
				continue;
			if (rd < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					log_guest("%s: tap read failed: %s", vdev->name, strerror(errno));
				break;
			}
			if (rd < VIRTIO_NET_HDR_LEN) {
				log_guest("%s: %zd-byte frame from the tap dropped", vdev->name, rd);
				continue;
			}
			n->frame_pending = true;
			n->frame_len = (size_t)rd;
			n->frame_off = 0;
			n->nr_used = 0;
		}
		if (!net_rx_place(n, &dropped))
			break; /* out of buffers (or broken): the frame waits for the next kick */
		if (!dropped) {
			net_rx_complete(n);
			pushed = true;
		}
		n->frame_pending = false;
	}
	if (pushed)
		virtio_dev_queue_done(vdev, VIRTIO_NET_RXQ);
}

/* The tap is readable or writable (worker thread). */
static void net_on_tap(void *opaque, int fd, uint32_t events)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->vdev.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		log_err("%s: tap %s went away; the link is down", n->vdev.name, n->tap->name);
		evloop_del(n->vdev.loop, fd);
		n->tap_dead = true;
		n->tap_events = 0;
		goto unlock;
	}
	if (!net_running(n)) {
		net_update_watch(n); /* reset or broken: stop polling */
		goto unlock;
	}
	if (events & EPOLLOUT) {
		n->tx_blocked = false;
		virtio_net_handle_tx(&n->vdev);
		net_update_watch(n);
	}
	if (events & EPOLLIN)
		virtio_net_handle_rx(&n->vdev);
unlock:
	pthread_mutex_unlock(&n->vdev.lock);
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *n = net_of(vdev);

	if (q == VIRTIO_NET_RXQ) {
		/* New buffers: poll the tap again and place any waiting frame. */
		n->rx_starved = false;
		net_update_watch(n);
		virtio_net_handle_rx(vdev);
	} else if (q == VIRTIO_NET_TXQ) {
		virtio_net_handle_tx(vdev);
	}
}

/* Guest-receive offloads the driver accepted, as the tap names them. */
static unsigned net_guest_offloads(const struct virtio_dev *vdev)
{
	unsigned off = 0;

	if (!virtio_dev_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))
		return 0; /* TSO without checksum offload is meaningless */
	off |= TAP_OFFLOAD_CSUM;
	if (virtio_dev_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
		off |= TAP_OFFLOAD_TSO4;
	if (virtio_dev_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
		off |= TAP_OFFLOAD_TSO6;
	if ((off & (TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)) &&
	    virtio_dev_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN))
		off |= TAP_OFFLOAD_TSO_ECN;
	return off;
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = net_of(vdev);
	int ret = tap_set_offloads(n->tap, net_guest_offloads(vdev));

	if (ret < 0) {
		log_err("%s: cannot set the tap's offloads: %s", vdev->name, strerror(-ret));
		return ret;
	}
	n->rx_starved = false;
	n->tx_blocked = false;
	net_update_watch(n); /* the core kicks every queue next */
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = net_of(vdev);

	/* Chains we held belong to the old rings: forget them. */
	n->tx_held = false;
	n->rx_held = false;
	n->frame_pending = false;
	n->nr_used = 0;
	n->rx_starved = false;
	n->tx_blocked = false;
	vdev->status = 0; /* net_update_watch sees the device stopped */
	net_update_watch(n);
	if (tap_set_offloads(n->tap, 0) < 0)
		log_warn("%s: cannot clear the tap's offloads", vdev->name);
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct virtio_net *n = net_of(vdev);

	tap_close(n->tap);
	free(n);
}

static const struct virtio_dev_ops net_ops = {
	.queue_notify = net_queue_notify,
	.activate = net_activate,
	.reset = net_reset,
	.destroy = net_destroy,
};

static uint64_t net_features(const struct tap *tap)
{
	uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CSUM) |
		     (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		     (1ULL << VIRTIO_NET_F_HOST_ECN);

	/* Guest-receive offloads only as far as the tap accepts them (probed at open). */
	if (tap->offloads_ok & TAP_OFFLOAD_CSUM)
		f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
	if (tap->offloads_ok & TAP_OFFLOAD_TSO4)
		f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
	if (tap->offloads_ok & TAP_OFFLOAD_TSO6)
		f |= 1ULL << VIRTIO_NET_F_GUEST_TSO6;
	if (tap->offloads_ok & TAP_OFFLOAD_TSO_ECN)
		f |= 1ULL << VIRTIO_NET_F_GUEST_ECN;
	return f;
}

int virtio_net_create_tap(struct gmem *gm, struct tap *tap, const uint8_t *mac, unsigned index,
			  struct virtio_dev **out)
{
	static const uint16_t sizes[2] = { VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_QUEUE_SIZE };
	struct virtio_net *n;
	char name[32];
	int ret;

	n = calloc(1, sizeof(*n));
	if (!n) {
		tap_close(tap);
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), "virtio-net%u", index);
	ret = virtio_dev_init(&n->vdev, name, VIRTIO_ID_NET, net_features(tap), 2, sizes, &net_ops, n);
	if (ret < 0) {
		log_err("%s: %s", name, strerror(-ret));
		tap_close(tap);
		free(n);
		return ret;
	}
	n->tap = tap;
	n->vdev.gmem = gm;
	n->vdev.config = n->config;
	n->vdev.config_size = sizeof(n->config);
	if (mac) {
		memcpy(n->config + VIRTIO_NET_CONFIG_MAC, mac, 6);
	} else {
		/* Locally administered, unicast: 02:62:<pid>:<index>. */
		unsigned pid = (unsigned)getpid();
		uint8_t def[6] = { 0x02, 0x62, (uint8_t)(pid >> 16), (uint8_t)(pid >> 8), (uint8_t)pid,
				   (uint8_t)index };

		memcpy(n->config + VIRTIO_NET_CONFIG_MAC, def, 6);
	}
	n->config[VIRTIO_NET_CONFIG_STATUS] = VIRTIO_NET_S_LINK_UP;
	n->config[VIRTIO_NET_CONFIG_MAX_VQ_PAIRS] = 1;
	/* Registered with no events: net_update_watch arms it once the driver is up. */
	ret = evloop_add(n->vdev.loop, tap->fd, 0, net_on_tap, n);
	if (ret < 0) {
		log_err("%s: cannot watch the tap: %s", name, strerror(-ret));
		virtio_dev_destroy(&n->vdev); /* net_destroy frees n and the tap */
		return ret;
	}
	*out = &n->vdev;
	return 0;
}

int virtio_net_create(struct gmem *gm, const struct virtio_net_params *p, unsigned index,
		      struct virtio_dev **out)
{
	struct tap *tap;
	int ret = tap_open(p->tap, &tap);

	if (ret < 0)
		return ret;
	return virtio_net_create_tap(gm, tap, p->has_mac ? p->mac : NULL, index, out);
}
