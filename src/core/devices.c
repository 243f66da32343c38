/* The VM's virtio devices (see devices.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "core/devices.h"
#include "core/log.h"
#include "core/vm.h"
#include "devices/virtio/devices.h"
#include "devices/virtio/virtio.h"

bool vm_config_has_virtio(const struct vm_config *cfg)
{
	return cfg->nr_disks || cfg->nr_nets || cfg->vsock_cid || cfg->rng || cfg->console == VM_CONSOLE_VIRTIO;
}

static int vm_devices_add(struct vm *vm, struct virtio_dev *vdev)
{
	struct vm_devices *d = &vm->devices;
	struct vm_virtio *slot = &d->devs[d->nr];
	int ret;

	if (d->nr == VM_MAX_VIRTIO) {
		virtio_dev_destroy(vdev);
		return -ENOSPC;
	}
	ret = arch_virtio_attach(vm, vdev, &slot->transport);
	if (ret) {
		virtio_dev_destroy(vdev);
		return ret;
	}
	slot->vdev = vdev;
	d->nr++;
	return 0;
}

static int vm_devices_create(struct vm *vm)
{
	const struct vm_config *cfg = &vm->cfg;
	struct virtio_dev *vdev;
	int ret;

	if (cfg->nr_disks > VM_MAX_DISKS || cfg->nr_nets > VM_MAX_NETS) {
		log_err("too many devices: at most %d disks and %d network interfaces", VM_MAX_DISKS, VM_MAX_NETS);
		return -E2BIG;
	}
	if (cfg->console == VM_CONSOLE_VIRTIO) {
		struct virtio_console_params p = { .out_fd = cfg->console_out_fd };

		if (pipe2(vm->devices.console_in, O_CLOEXEC | O_NONBLOCK) < 0)
			return -errno;
		p.in_fd = vm->devices.console_in[0];
		ret = virtio_console_create(vm->gmem, &p, 0, &vdev);
		if (ret || (ret = vm_devices_add(vm, vdev)))
			return ret;
	}
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		struct virtio_blk_params p = {
			.path = cfg->disks[i].path,
			.readonly = cfg->disks[i].readonly,
			.serial = cfg->disks[i].serial,
			.nr_queues = cfg->ncpus < VIRTIO_MAX_QUEUES ? cfg->ncpus : VIRTIO_MAX_QUEUES,
		};

		ret = virtio_blk_create(vm->gmem, &p, i, &vdev);
		if (ret || (ret = vm_devices_add(vm, vdev)))
			return ret;
	}
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		struct virtio_net_params p = { .tap = cfg->nets[i].tap, .has_mac = cfg->nets[i].has_mac };

		memcpy(p.mac, cfg->nets[i].mac, sizeof(p.mac));
		ret = virtio_net_create(vm->gmem, &p, i, &vdev);
		if (ret || (ret = vm_devices_add(vm, vdev)))
			return ret;
	}
	if (cfg->vsock_cid) {
		struct virtio_vsock_params p = { .guest_cid = cfg->vsock_cid, .uds_path = cfg->vsock_path };

		ret = virtio_vsock_create(vm->gmem, &p, 0, &vdev);
		if (ret || (ret = vm_devices_add(vm, vdev)))
			return ret;
	}
	if (cfg->rng) {
		ret = virtio_rng_create(vm->gmem, 0, &vdev);
		if (ret || (ret = vm_devices_add(vm, vdev)))
			return ret;
	}
	return 0;
}

int vm_devices_init(struct vm *vm)
{
	struct vm_devices *d = &vm->devices;
	int ret;

	d->console_in[0] = d->console_in[1] = -1;
	ret = vm_devices_create(vm);
	for (unsigned i = 0; !ret && i < d->nr; i++) {
		ret = virtio_dev_start(d->devs[i].vdev);
		if (ret)
			log_err("%s: cannot start its worker thread: %s", d->devs[i].vdev->name, strerror(-ret));
	}
	/* The configuration's device lists are borrowed only for vm_create(). */
	vm->cfg.disks = NULL;
	vm->cfg.nets = NULL;
	vm->cfg.vsock_path = NULL;
	if (ret)
		vm_devices_fini(vm);
	return ret;
}

void vm_devices_fini(struct vm *vm)
{
	struct vm_devices *d = &vm->devices;

	while (d->nr) {
		struct vm_virtio *v = &d->devs[--d->nr];

		arch_virtio_detach(vm, v->transport);
		virtio_dev_destroy(v->vdev);
		*v = (struct vm_virtio){ 0 };
	}
	for (unsigned i = 0; i < 2; i++) {
		if (d->console_in[i] >= 0)
			close(d->console_in[i]);
		d->console_in[i] = -1;
	}
}
