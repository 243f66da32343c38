/*
 * tap backend (see tap.h): /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/tap.h"
#include "core/log.h"

_Static_assert(TAP_OFFLOAD_CSUM == TUN_F_CSUM && TAP_OFFLOAD_TSO4 == TUN_F_TSO4 &&
		       TAP_OFFLOAD_TSO6 == TUN_F_TSO6 && TAP_OFFLOAD_TSO_ECN == TUN_F_TSO_ECN,
	       "TAP_OFFLOAD_* mirror TUN_F_*");

/* Largest offload set first: TSO needs CSUM and ECN needs TSO, so try supersets before subsets. */
static const unsigned tap_offload_probe[] = {
	TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
	TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
	TUN_F_CSUM | TUN_F_TSO4,
	TUN_F_CSUM,
};

static unsigned tap_probe_offloads(int fd)
{
	unsigned ok = 0;

	for (size_t i = 0; i < sizeof(tap_offload_probe) / sizeof(tap_offload_probe[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, tap_offload_probe[i]) == 0) {
			ok = tap_offload_probe[i];
			break;
		}
	}
	/* Nothing is enabled until the guest negotiates it. */
	if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
		ok = 0;
	return ok;
}

int tap_open(const char *name, struct tap **out)
{
	struct ifreq ifr;
	struct tap *tap;
	int hdr_len = TAP_VNET_HDR_LEN;
	int fd, ret;

	if (!name || !name[0]) {
		log_err("tap: no interface name given");
		return -EINVAL;
	}
	if (strlen(name) >= IFNAMSIZ) {
		log_err("tap: interface name '%s' is too long (at most %d characters)", name, IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
			log_err("tap: /dev/net/tun is missing: load the tun module (modprobe tun) or create the node (mknod /dev/net/tun c 10 200)");
		else if (ret == -EACCES || ret == -EPERM)
			log_err("tap: cannot open /dev/net/tun: %s (needs read/write access to it)", strerror(-ret));
		else
			log_err("tap: cannot open /dev/net/tun: %s", strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		if (ret == -EPERM)
			log_err("tap %s: permission denied: creating or attaching a tap needs CAP_NET_ADMIN "
				"(or a tap created for this user: ip tuntap add %s mode tap user $USER)", name, name);
		else if (ret == -EBUSY)
			log_err("tap %s: busy: another process has it open", name);
		else if (ret == -EINVAL)
			log_err("tap %s: cannot attach: invalid name, or the interface exists but is not a "
				"single-queue tap (a tun, or created with other flags)", name);
		else
			log_err("tap %s: TUNSETIFF failed: %s", name, strerror(-ret));
		goto close_fd;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		ret = -errno;
		log_err("tap %s: cannot set the virtio-net header size: %s", name, strerror(-ret));
		goto close_fd;
	}
#if __BYTE_ORDER == __BIG_ENDIAN
	{
		/* VERSION_1 headers are little-endian; the tap assumes host order otherwise. */
		int le = 1;

		if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
			ret = -errno;
			log_err("tap %s: cannot make the vnet header little-endian: %s", name, strerror(-ret));
			goto close_fd;
		}
	}
#endif
	tap = calloc(1, sizeof(*tap));
	if (!tap) {
		ret = -ENOMEM;
		goto close_fd;
	}
	tap->fd = fd;
	tap->is_tap = true;
	tap->offloads_ok = tap_probe_offloads(fd);
	snprintf(tap->name, sizeof(tap->name), "%s", name);
	*out = tap;
	return 0;

close_fd:
	close(fd);
	return ret;
}

int tap_open_fd(int fd, unsigned offloads_ok, struct tap **out)
{
	struct tap *tap;

	if (fd < 0)
		return -EBADF;
	tap = calloc(1, sizeof(*tap));
	if (!tap)
		return -ENOMEM;
	tap->fd = fd;
	tap->offloads_ok = offloads_ok & (TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6 |
					  TAP_OFFLOAD_TSO_ECN);
	snprintf(tap->name, sizeof(tap->name), "fd%d", fd);
	*out = tap;
	return 0;
}

void tap_close(struct tap *tap)
{
	if (!tap)
		return;
	close(tap->fd);
	free(tap);
}

int tap_set_offloads(struct tap *tap, unsigned offloads)
{
	if (offloads & ~tap->offloads_ok)
		return -EINVAL;
	if (!tap->is_tap)
		return 0;
	if (ioctl(tap->fd, TUNSETOFFLOAD, offloads) < 0)
		return -errno;
	return 0;
}
