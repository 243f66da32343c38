/*
 * virtio-pci (modern) with MSI-X; see pci.h. Every guest access to the BAR
 * runs with vdev->lock held, the same lock the device's worker holds, so
 * register state, queue configuration and interrupt masking are consistent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/pci.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/virtio.h"
#include "hv/hv.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device id: modern devices */
#define VIRTIO_PCI_SUBSYS_ID 0x40

/* BAR 0 layout. */
#define VP_BAR 0
#define VP_BAR_SIZE 0x8000
#define VP_COMMON 0x0000
#define VP_COMMON_SIZE 0x3c
#define VP_ISR 0x1000
#define VP_DEVICE 0x2000
#define VP_DEVICE_SIZE 0x1000
#define VP_NOTIFY 0x3000
#define VP_NOTIFY_MULT 4 /* each queue kicks its own 4 bytes: one ioeventfd per queue */
#define VP_MSIX_TABLE 0x4000
#define VP_MSIX_PBA 0x5000

/* virtio_pci_cap cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Common configuration structure offsets (4.1.4.3). */
enum {
	VPC_DFSELECT = 0, VPC_DF = 4, VPC_GFSELECT = 8, VPC_GF = 12, VPC_MSIX = 16, VPC_NUMQ = 18,
	VPC_STATUS = 20, VPC_CFGGEN = 21, VPC_Q_SELECT = 22, VPC_Q_SIZE = 24, VPC_Q_MSIX = 26,
	VPC_Q_ENABLE = 28, VPC_Q_NOFF = 30, VPC_Q_DESCLO = 32, VPC_Q_DESCHI = 36, VPC_Q_AVAILLO = 40,
	VPC_Q_AVAILHI = 44, VPC_Q_USEDLO = 48, VPC_Q_USEDHI = 52,
};

#define MSIX_ENTRY_SIZE 16
#define MSIX_CTRL_MASKED 1u
#define MSIX_FLAGS_ENABLE 0x8000
#define MSIX_FLAGS_MASKALL 0x4000
#define VP_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

struct vp_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct pci_dev pci;
	struct virtio_dev *vdev;
	struct virtio_pci_platform plat;

	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config;
	uint16_t queue_msix[VIRTIO_MAX_QUEUES];
	uint8_t isr;

	uint8_t msix_cap; /* config-space offset of the MSI-X capability */
	bool msix_enabled, msix_masked;
	unsigned nr_vectors;
	struct vp_msix_entry msix[VP_MAX_VECTORS];
	uint64_t pba;
	int irq_fd[VP_MAX_VECTORS];
	bool irqfd_on[VP_MAX_VECTORS];

	uint64_t notify_addr; /* where the queue kicks' ioeventfds are now (0: none) */
};

unsigned virtio_pci_nr_vectors(unsigned nr_queues)
{
	return nr_queues + 1;
}

/* --- interrupts ----------------------------------------------------------- */

static bool vp_vector_masked(const struct virtio_pci *vp, unsigned v)
{
	return vp->msix_masked || (vp->msix[v].ctrl & MSIX_CTRL_MASKED);
}

static void vp_fire(struct virtio_pci *vp, unsigned v)
{
	uint64_t one = 1;

	if (!vp->msix_enabled || v >= vp->nr_vectors)
		return; /* no MSI-X, no interrupt: bothy's functions have no INTx pin */
	if (vp_vector_masked(vp, v)) {
		vp->pba |= 1ull << v;
		return;
	}
	if (write(vp->irq_fd[v], &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated; an interrupt is pending anyway. */
	}
}

/* Points vector @v's GSI at what the driver wrote, then delivers what was held while masked. */
static void vp_vector_update(struct virtio_pci *vp, unsigned v)
{
	const struct vp_msix_entry *e = &vp->msix[v];
	int ret;

	if (!vp->msix_enabled || vp_vector_masked(vp, v))
		return;
	ret = vp->plat.hv_ops->vm_set_msi_route(vp->plat.hv_vm, vp->plat.gsi_base + v,
						 (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
	if (ret)
		log_err("%s: cannot route MSI-X vector %u: %s", vp->pci.name, v, strerror(-ret));
	if (vp->pba & (1ull << v)) {
		vp->pba &= ~(1ull << v);
		vp_fire(vp, v);
	}
}

static void vp_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_pci *vp = vdev->transport_priv;

	vp->isr |= 1;
	if (q < VIRTIO_MAX_QUEUES && vp->queue_msix[q] != VIRTIO_NO_VECTOR)
		vp_fire(vp, vp->queue_msix[q]);
}

static void vp_notify_config(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport_priv;

	vp->isr |= 2;
	if (vp->msix_config != VIRTIO_NO_VECTOR)
		vp_fire(vp, vp->msix_config);
}

static const struct virtio_transport_ops vp_transport_ops = {
	.notify_queue = vp_notify_queue,
	.notify_config = vp_notify_config,
};

/* --- fast paths ----------------------------------------------------------- */

static void vp_set_ioeventfds(struct virtio_pci *vp, uint64_t bar_addr)
{
	struct virtio_dev *vdev = vp->vdev;
	uint64_t addr = bar_addr ? bar_addr + VP_NOTIFY : 0;

	if (addr == vp->notify_addr || !vp->plat.hv_ops->vm_ioeventfd)
		return;
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		if (vp->notify_addr)
			vp->plat.hv_ops->vm_ioeventfd(vp->plat.hv_vm, vdev->kick_fd[q],
						      vp->notify_addr + q * VP_NOTIFY_MULT, 0, false,
						      HV_IOEVENTFD_ANY, false);
		if (addr) {
			/* Length 0: any write width matches (KVM's fast MMIO path). */
			int ret = vp->plat.hv_ops->vm_ioeventfd(vp->plat.hv_vm, vdev->kick_fd[q],
								addr + q * VP_NOTIFY_MULT, 0, false,
								HV_IOEVENTFD_ANY, true);

			if (ret)
				log_warn("%s: queue %u kicks go through the VMM (no ioeventfd: %s)", vp->pci.name,
					 q, strerror(-ret));
		}
	}
	vp->notify_addr = addr;
}

static void vp_bar_moved(struct pci_dev *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = dev->opaque;

	(void)old_addr;
	if (bar == VP_BAR)
		vp_set_ioeventfds(vp, new_addr);
}

static void vp_config_written(struct pci_dev *dev, uint32_t offset, unsigned size)
{
	struct virtio_pci *vp = dev->opaque;
	uint32_t flags_off = vp->msix_cap + 2u;
	uint16_t flags;

	if (offset + size <= flags_off || offset >= flags_off + 2)
		return;
	flags = pci_get16(dev->cfg + flags_off);
	pthread_mutex_lock(&vp->vdev->lock);
	vp->msix_enabled = flags & MSIX_FLAGS_ENABLE;
	vp->msix_masked = flags & MSIX_FLAGS_MASKALL;
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		vp_vector_update(vp, v);
	pthread_mutex_unlock(&vp->vdev->lock);
}

static const struct pci_dev_hooks vp_pci_hooks = {
	.config_written = vp_config_written,
	.bar_moved = vp_bar_moved,
};

/* --- common configuration -------------------------------------------------- */

static void vp_common_image(struct virtio_pci *vp, uint8_t *img)
{
	struct virtio_dev *vdev = vp->vdev;
	uint64_t features = virtio_dev_features(vdev);
	unsigned q = vp->queue_select;

	memset(img, 0, VP_COMMON_SIZE);
	pci_put32(img + VPC_DFSELECT, vp->dfselect);
	pci_put32(img + VPC_DF, vp->dfselect < 2 ? (uint32_t)(features >> (32 * vp->dfselect)) : 0);
	pci_put32(img + VPC_GFSELECT, vp->gfselect);
	pci_put32(img + VPC_GF, vp->gfselect < 2 ? (uint32_t)(vdev->driver_features >> (32 * vp->gfselect)) : 0);
	pci_put16(img + VPC_MSIX, vp->msix_config);
	pci_put16(img + VPC_NUMQ, (uint16_t)vdev->nr_queues);
	img[VPC_STATUS] = vdev->status;
	img[VPC_CFGGEN] = (uint8_t)vdev->config_generation;
	pci_put16(img + VPC_Q_SELECT, vp->queue_select);
	if (q < vdev->nr_queues) {
		const struct virtq *vq = &vdev->queues[q];

		pci_put16(img + VPC_Q_SIZE, vq->size);
		pci_put16(img + VPC_Q_MSIX, vp->queue_msix[q]);
		pci_put16(img + VPC_Q_ENABLE, vq->enabled);
		pci_put16(img + VPC_Q_NOFF, (uint16_t)q);
		pci_put32(img + VPC_Q_DESCLO, (uint32_t)vq->desc_gpa);
		pci_put32(img + VPC_Q_DESCHI, (uint32_t)(vq->desc_gpa >> 32));
		pci_put32(img + VPC_Q_AVAILLO, (uint32_t)vq->avail_gpa);
		pci_put32(img + VPC_Q_AVAILHI, (uint32_t)(vq->avail_gpa >> 32));
		pci_put32(img + VPC_Q_USEDLO, (uint32_t)vq->used_gpa);
		pci_put32(img + VPC_Q_USEDHI, (uint32_t)(vq->used_gpa >> 32));
	}
}

static void vp_set_half(uint64_t *field, bool high, uint32_t v)
{
	*field = high ? (*field & 0xffffffffull) | (uint64_t)v << 32 : (*field & ~0xffffffffull) | v;
}

static uint16_t vp_vector_or_none(const struct virtio_pci *vp, uint16_t v)
{
	/* A vector the device cannot map reads back as NO_VECTOR (the driver checks). */
	return v < vp->nr_vectors ? v : VIRTIO_NO_VECTOR;
}

static void vp_reset_transport(struct virtio_pci *vp)
{
	vp->dfselect = vp->gfselect = 0;
	vp->queue_select = 0;
	vp->msix_config = VIRTIO_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->queue_msix[q] = VIRTIO_NO_VECTOR;
	vp->isr = 0;
}

static void vp_common_write(struct virtio_pci *vp, uint32_t off, uint32_t v, unsigned size)
{
	struct virtio_dev *vdev = vp->vdev;
	unsigned q = vp->queue_select;
	struct virtq *vq = q < vdev->nr_queues ? &vdev->queues[q] : NULL;
	/* Queue registers are frozen once the queue is enabled or the device is live. */
	bool q_writable = vq && !vq->enabled && !(vdev->status & VIRTIO_STATUS_DRIVER_OK);

	switch (off | size << 8) {
	case VPC_DFSELECT | 4 << 8:
		vp->dfselect = v;
		break;
	case VPC_GFSELECT | 4 << 8:
		vp->gfselect = v;
		break;
	case VPC_GF | 4 << 8:
		virtio_dev_set_driver_features(vdev, vp->gfselect, v);
		break;
	case VPC_MSIX | 2 << 8:
		vp->msix_config = vp_vector_or_none(vp, (uint16_t)v);
		break;
	case VPC_STATUS | 1 << 8:
		virtio_dev_set_status(vdev, (uint8_t)v);
		if (v == 0)
			vp_reset_transport(vp);
		break;
	case VPC_Q_SELECT | 2 << 8:
		vp->queue_select = (uint16_t)v;
		break;
	case VPC_Q_SIZE | 2 << 8:
		if (q_writable)
			vq->size = (uint16_t)v; /* checked when the queue is enabled */
		break;
	case VPC_Q_MSIX | 2 << 8:
		if (vq)
			vp->queue_msix[q] = vp_vector_or_none(vp, (uint16_t)v);
		break;
	case VPC_Q_ENABLE | 2 << 8:
		if (q_writable && v == 1)
			virtio_dev_enable_queue(vdev, q);
		break;
	case VPC_Q_DESCLO | 4 << 8:
	case VPC_Q_DESCHI | 4 << 8:
		if (q_writable)
			vp_set_half(&vq->desc_gpa, off == VPC_Q_DESCHI, v);
		break;
	case VPC_Q_AVAILLO | 4 << 8:
	case VPC_Q_AVAILHI | 4 << 8:
		if (q_writable)
			vp_set_half(&vq->avail_gpa, off == VPC_Q_AVAILHI, v);
		break;
	case VPC_Q_USEDLO | 4 << 8:
	case VPC_Q_USEDHI | 4 << 8:
		if (q_writable)
			vp_set_half(&vq->used_gpa, off == VPC_Q_USEDHI, v);
		break;
	default:
		log_guest("%s: ignored %u-byte write of 0x%x at common config offset 0x%x", vp->pci.name, size, v,
			  off);
		break;
	}
}

/* --- BAR 0 ----------------------------------------------------------------- */

static void vp_msix_read(struct virtio_pci *vp, uint64_t off, void *data, unsigned size)
{
	uint8_t img[VP_MAX_VECTORS * MSIX_ENTRY_SIZE];

	if (off >= VP_MSIX_PBA) {
		uint64_t pba = vp->pba;

		off -= VP_MSIX_PBA;
		if (off + size <= 8)
			memcpy(data, (uint8_t *)&pba + off, size);
		return;
	}
	off -= VP_MSIX_TABLE;
	if (off + size > vp->nr_vectors * MSIX_ENTRY_SIZE)
		return;
	for (unsigned v = 0; v < vp->nr_vectors; v++) {
		pci_put32(img + v * MSIX_ENTRY_SIZE + 0, vp->msix[v].addr_lo);
		pci_put32(img + v * MSIX_ENTRY_SIZE + 4, vp->msix[v].addr_hi);
		pci_put32(img + v * MSIX_ENTRY_SIZE + 8, vp->msix[v].data);
		pci_put32(img + v * MSIX_ENTRY_SIZE + 12, vp->msix[v].ctrl);
	}
	memcpy(data, img + off, size);
}

static void vp_msix_write(struct virtio_pci *vp, uint64_t off, uint32_t v, unsigned size)
{
	unsigned vec;
	struct vp_msix_entry *e;

	off -= VP_MSIX_TABLE;
	vec = (unsigned)(off / MSIX_ENTRY_SIZE);
	if (off >= VP_MSIX_PBA - VP_MSIX_TABLE || vec >= vp->nr_vectors || vec >= VP_MAX_VECTORS || size != 4 ||
	    (off & 3))
		return; /* the PBA is read-only; table entries take dword writes */
	e = &vp->msix[vec];
	switch (off % MSIX_ENTRY_SIZE) {
	case 0: e->addr_lo = v; break;
	case 4: e->addr_hi = v; break;
	case 8: e->data = v; break;
	case 12: e->ctrl = v & MSIX_CTRL_MASKED; break;
	}
	vp_vector_update(vp, vec);
}

static void vp_bar_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;

	memset(data, 0, size);
	pthread_mutex_lock(&vdev->lock);
	if (off < VP_COMMON + VP_COMMON_SIZE) {
		uint8_t img[VP_COMMON_SIZE];

		if (off + size <= VP_COMMON_SIZE) {
			vp_common_image(vp, img);
			memcpy(data, img + off, size);
		}
	} else if (off == VP_ISR) {
		*(uint8_t *)data = vp->isr; /* read clears */
		vp->isr = 0;
	} else if (off >= VP_DEVICE && off < VP_DEVICE + VP_DEVICE_SIZE) {
		virtio_dev_config_read(vdev, (uint32_t)(off - VP_DEVICE), data, size);
	} else if (off >= VP_MSIX_TABLE) {
		vp_msix_read(vp, off, data, size);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void vp_bar_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	uint32_t v = 0;

	if (size > 4)
		return;
	memcpy(&v, data, size);
	pthread_mutex_lock(&vdev->lock);
	if (off < VP_COMMON + VP_COMMON_SIZE) {
		vp_common_write(vp, (uint32_t)off, v, size);
	} else if (off >= VP_DEVICE && off < VP_DEVICE + VP_DEVICE_SIZE) {
		virtio_dev_config_write(vdev, (uint32_t)(off - VP_DEVICE), data, size);
	} else if (off >= VP_NOTIFY && off < VP_NOTIFY + VIRTIO_MAX_QUEUES * VP_NOTIFY_MULT) {
		/* A kick the ioeventfd did not catch (no ioeventfd support): same effect. */
		virtio_dev_kick(vdev, (unsigned)(off - VP_NOTIFY) / VP_NOTIFY_MULT);
	} else if (off >= VP_MSIX_TABLE) {
		vp_msix_write(vp, off, v, size);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static const struct bus_device_ops vp_bar_ops = { .read = vp_bar_read, .write = vp_bar_write };

/* --- setup ----------------------------------------------------------------- */

static void vp_add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length,
			      const uint32_t *notify_mult)
{
	uint8_t cap[20] = { PCI_CAP_ID_VNDR, 0, notify_mult ? 20 : 16, type, VP_BAR };

	pci_put32(cap + 8, offset);
	pci_put32(cap + 12, length);
	if (notify_mult)
		pci_put32(cap + 16, *notify_mult);
	pci_dev_add_cap(&vp->pci, cap, cap[2]);
}

static uint32_t vp_class_code(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return 0x020000;     /* network: ethernet */
	case VIRTIO_ID_BLOCK: return 0x018000;   /* mass storage: other */
	case VIRTIO_ID_CONSOLE: return 0x078000; /* communication: other */
	default: return 0xff0000;                /* unclassified */
	}
}

int virtio_pci_create(struct virtio_dev *vdev, struct pci_bus *bus, const struct virtio_pci_platform *plat,
		      struct virtio_pci **out)
{
	struct virtio_pci *vp;
	uint8_t msix[12] = { PCI_CAP_ID_MSIX };
	const uint32_t mult = VP_NOTIFY_MULT;
	unsigned v;
	int ret;

	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->vdev = vdev;
	vp->plat = *plat;
	vp->nr_vectors = virtio_pci_nr_vectors(vdev->nr_queues);
	for (v = 0; v < VP_MAX_VECTORS; v++)
		vp->irq_fd[v] = -1;
	vp_reset_transport(vp);

	pci_dev_init(&vp->pci, vdev->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id),
		     vp_class_code(vdev->device_id), 1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
	vp->pci.hooks = &vp_pci_hooks;
	vp->pci.opaque = vp;
	ret = pci_dev_set_bar(&vp->pci, VP_BAR, VP_BAR_SIZE, &vp_bar_ops, vp);
	if (ret)
		goto free_vp;

	pci_put16(msix + 2, (uint16_t)(vp->nr_vectors - 1));
	pci_put32(msix + 4, VP_MSIX_TABLE | VP_BAR);
	pci_put32(msix + 8, VP_MSIX_PBA | VP_BAR);
	vp->msix_cap = pci_dev_add_cap(&vp->pci, msix, sizeof(msix));
	pci_put16(vp->pci.wmask + vp->msix_cap + 2, MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
	vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VP_COMMON, VP_COMMON_SIZE, NULL);
	vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VP_NOTIFY, vdev->nr_queues * VP_NOTIFY_MULT, &mult);
	vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VP_ISR, 1, NULL);
	if (vdev->config_size)
		vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VP_DEVICE, vdev->config_size, NULL);

	for (v = 0; v < vp->nr_vectors; v++) {
		vp->msix[v].ctrl = MSIX_CTRL_MASKED;
		vp->irq_fd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->irq_fd[v] < 0) {
			ret = -errno;
			goto close_irqs;
		}
		/* A harmless route first, so the irqfd has one; the driver's comes at unmask. */
		ret = plat->hv_ops->vm_set_msi_route(plat->hv_vm, plat->gsi_base + v, 0xfee00000, 0);
		if (!ret)
			ret = plat->hv_ops->vm_irqfd(plat->hv_vm, vp->irq_fd[v], plat->gsi_base + v, true);
		if (ret) {
			log_err("%s: cannot set up interrupt vector %u: %s", vdev->name, v, strerror(-ret));
			goto close_irqs;
		}
		vp->irqfd_on[v] = true;
	}

	vdev->transport = &vp_transport_ops;
	vdev->transport_priv = vp;
	ret = pci_bus_add(bus, &vp->pci);
	if (ret) {
		log_err("%s: no room on the PCI bus (%d slots)", vdev->name, PCI_MAX_SLOTS - 1);
		goto detach;
	}
	*out = vp;
	return 0;

detach:
	vdev->transport = NULL;
	vdev->transport_priv = NULL;
close_irqs:
	for (v = 0; v < vp->nr_vectors; v++) {
		if (vp->irqfd_on[v])
			plat->hv_ops->vm_irqfd(plat->hv_vm, vp->irq_fd[v], plat->gsi_base + v, false);
		if (vp->irq_fd[v] >= 0)
			close(vp->irq_fd[v]);
	}
free_vp:
	free(vp);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	vp_set_ioeventfds(vp, 0);
	for (unsigned v = 0; v < vp->nr_vectors; v++) {
		if (vp->irqfd_on[v])
			vp->plat.hv_ops->vm_irqfd(vp->plat.hv_vm, vp->irq_fd[v], vp->plat.gsi_base + v, false);
		if (vp->irq_fd[v] >= 0)
			close(vp->irq_fd[v]);
	}
	pthread_mutex_lock(&vp->pci.bus->lock);
	vp->pci.bus->devs[vp->pci.slot] = NULL;
	pthread_mutex_unlock(&vp->pci.bus->lock);
	vp->vdev->transport = NULL;
	free(vp);
}
