/*
 * The virtio-pci transport (virtio 1.x 4.1, modern only) with MSI-X: one
 * 32-bit memory BAR holds the common, ISR, device-config and notify regions
 * and the MSI-X table and PBA. Queue kicks reach the device's worker through
 * ioeventfds on the notify region and interrupts leave through irqfds on
 * MSI routes, so the data path never goes through a vCPU exit handler.
 */
#ifndef BOTHY_DEVICES_VIRTIO_PCI_H
#define BOTHY_DEVICES_VIRTIO_PCI_H

#include <stdint.h>

struct hv_ops;
struct hv_vm;
struct pci_bus;
struct virtio_dev;
struct virtio_pci;

/* How the transport reaches the hypervisor, and the GSIs it may use for its vectors. */
struct virtio_pci_platform {
	const struct hv_ops *hv_ops;
	struct hv_vm *hv_vm;
	uint32_t gsi_base; /* nr_queues + 1 consecutive GSIs from here */
};

/* Number of MSI-X vectors (and GSIs) a device with @nr_queues queues gets. */
unsigned virtio_pci_nr_vectors(unsigned nr_queues);

/* Attaches @vdev (borrowed; outlives the transport) to @bus in the next free slot. */
int virtio_pci_create(struct virtio_dev *vdev, struct pci_bus *bus, const struct virtio_pci_platform *plat,
		      struct virtio_pci **out);
/* Removes the fast paths (ioeventfds, irqfds) and frees the transport. NULL is a no-op. */
void virtio_pci_destroy(struct virtio_pci *vp);

#endif
