/*
 * The VM's virtio devices: created from the configuration, attached to the
 * architecture's transport (x86-64: virtio-pci), started, and torn down in
 * reverse. One place, so every device gets the same lifecycle.
 */
#ifndef BOTHY_CORE_DEVICES_H
#define BOTHY_CORE_DEVICES_H

#include <stdbool.h>

#include "bothy/bothy.h"

struct vm;
struct virtio_dev;

#define VM_MAX_VIRTIO (VM_MAX_DISKS + VM_MAX_NETS + 3) /* + rng, vsock, console */

struct vm_virtio {
	struct virtio_dev *vdev;
	void *transport; /* arch transport instance */
};

struct vm_devices {
	struct vm_virtio devs[VM_MAX_VIRTIO];
	unsigned nr;
	int console_in[2]; /* pipe: the VM's console pump → virtio-console (hvc0) */
};

/* True if @cfg asks for any virtio device (decides the default command line and the PCI bus). */
bool vm_config_has_virtio(const struct vm_config *cfg);
int vm_devices_init(struct vm *vm);
void vm_devices_fini(struct vm *vm);

#endif
