/*
 * The virtio-mmio transport, version 2 (see mmio.h). Registers are decoded
 * here; status, features, reset and queue enabling go through the virtio
 * core. Everything a guest writes arrives through virtio_mmio_write, which
 * checks width, alignment and offset before looking at the value.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"

struct virtio_mmio {
	struct virtio_dev *vdev;
	struct virtio_mmio_platform plat;
	/* Driver-written selectors (guest values, range-checked where used). */
	uint32_t device_features_sel, driver_features_sel, queue_sel, shm_sel;
	uint32_t interrupt_status; /* VIRTIO_MMIO_INT_* */
	bool irq_level;            /* what we last told the platform */
	bool ioeventfd[VIRTIO_MAX_QUEUES];
};

/* Lock held. The line follows InterruptStatus: high while any bit is set. */
static void virtio_mmio_update_irq(struct virtio_mmio *m)
{
	bool level = m->interrupt_status != 0;

	if (level == m->irq_level)
		return;
	m->irq_level = level;
	m->plat.set_irq(m->plat.opaque, level);
}

static void virtio_mmio_notify_queue(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_mmio *m = vdev->transport_priv;

	(void)q; /* one line, one bit for all queues */
	m->interrupt_status |= VIRTIO_MMIO_INT_VRING;
	virtio_mmio_update_irq(m);
}

static void virtio_mmio_notify_config(struct virtio_dev *vdev)
{
	struct virtio_mmio *m = vdev->transport_priv;

	m->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
	virtio_mmio_update_irq(m);
}

static const struct virtio_transport_ops virtio_mmio_transport_ops = {
	.notify_queue = virtio_mmio_notify_queue,
	.notify_config = virtio_mmio_notify_config,
};

static uint32_t virtio_mmio_read_reg(struct virtio_mmio *m, uint64_t offset)
{
	struct virtio_dev *vdev = m->vdev;
	struct virtq *q = m->queue_sel < vdev->nr_queues ? &vdev->queues[m->queue_sel] : NULL;

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION_REG:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return vdev->device_id;
	case VIRTIO_MMIO_VENDOR_ID_REG:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (m->device_features_sel > 1)
			return 0;
		return (uint32_t)(virtio_dev_features(vdev) >> (32 * m->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? q->max_size : 0; /* 0: no such queue */
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->enabled : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return m->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return vdev->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions: length -1 */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vdev->config_generation;
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
	case VIRTIO_MMIO_DRIVER_FEATURES:
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
	case VIRTIO_MMIO_QUEUE_SEL:
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_NOTIFY:
	case VIRTIO_MMIO_INTERRUPT_ACK:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
	case VIRTIO_MMIO_SHM_SEL:
		return 0; /* write-only */
	default:
		log_guest("%s: read of unknown virtio-mmio register 0x%llx", vdev->name,
			  (unsigned long long)offset);
		return 0;
	}
}

/* Replaces the low or high half of a 64-bit ring address. */
static void virtio_mmio_set_half(uint64_t *addr, bool high, uint32_t value)
{
	if (high)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)value << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | value;
}

/*
 * Queue configuration registers: the selected queue must exist, be not yet
 * ready, and the driver not yet running (4.2.2.3: the device ignores changes
 * afterwards; the rings belong to the worker then).
 */
static struct virtq *virtio_mmio_config_queue(struct virtio_mmio *m, uint64_t offset)
{
	struct virtio_dev *vdev = m->vdev;
	struct virtq *q;

	if (m->queue_sel >= vdev->nr_queues) {
		log_guest("%s: queue register 0x%llx written for missing queue %u", vdev->name,
			  (unsigned long long)offset, m->queue_sel);
		return NULL;
	}
	q = &vdev->queues[m->queue_sel];
	if (q->enabled || (vdev->status & VIRTIO_STATUS_DRIVER_OK)) {
		log_guest("%s: queue %u register 0x%llx written while %s", vdev->name, m->queue_sel,
			  (unsigned long long)offset, q->enabled ? "ready" : "DRIVER_OK");
		return NULL;
	}
	return q;
}

static void virtio_mmio_write_queue_ready(struct virtio_mmio *m, uint32_t value)
{
	struct virtio_dev *vdev = m->vdev;
	struct virtq *q;

	if (m->queue_sel >= vdev->nr_queues) {
		log_guest("%s: QueueReady written for missing queue %u", vdev->name, m->queue_sel);
		return;
	}
	q = &vdev->queues[m->queue_sel];
	if (value > 1) {
		log_guest("%s: QueueReady 0x%x is neither 0 nor 1", vdev->name, value);
		return;
	}
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		log_guest("%s: QueueReady written after DRIVER_OK", vdev->name);
		return;
	}
	if (value == 0) {
		/* The driver takes the queue back (Linux does on teardown and reads back 0). */
		if (q->enabled)
			virtq_reset(q);
		return;
	}
	if (q->enabled)
		return;
	if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Ring features are unknown until FEATURES_OK (3.1.1 orders queue setup after it). */
		log_guest("%s: queue %u made ready before FEATURES_OK", vdev->name, m->queue_sel);
		return;
	}
	virtio_dev_enable_queue(vdev, m->queue_sel); /* a bad ring marks the device NEEDS_RESET */
}

static void virtio_mmio_write_status(struct virtio_mmio *m, uint32_t value)
{
	struct virtio_dev *vdev = m->vdev;

	if (value > 0xff) {
		log_guest("%s: status 0x%x has reserved bits", vdev->name, value);
		return;
	}
	virtio_dev_set_status(vdev, (uint8_t)value);
	if (value == 0) {
		/* Reset: the transport's own state goes back to power-on too. */
		m->device_features_sel = 0;
		m->driver_features_sel = 0;
		m->queue_sel = 0;
		m->shm_sel = 0;
		m->interrupt_status = 0;
		virtio_mmio_update_irq(m);
	}
}

static void virtio_mmio_write_reg(struct virtio_mmio *m, uint64_t offset, uint32_t value)
{
	struct virtio_dev *vdev = m->vdev;
	struct virtq *q;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = value;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (m->driver_features_sel > 1) {
			if (value)
				log_guest("%s: driver features word %u: 0x%x not offered", vdev->name,
					  m->driver_features_sel, value);
			break;
		}
		virtio_dev_set_driver_features(vdev, m->driver_features_sel, value);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		q = virtio_mmio_config_queue(m, offset);
		/* An out-of-range size is kept as 0 so virtq_enable refuses it rather than truncating. */
		if (q)
			q->size = value <= q->max_size ? (uint16_t)value : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		virtio_mmio_write_queue_ready(m, value);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (value >= vdev->nr_queues) {
			log_guest("%s: notify for missing queue %u", vdev->name, value);
			break;
		}
		if (!m->ioeventfd[value])
			virtio_dev_kick(vdev, value);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->interrupt_status &= ~value;
		virtio_mmio_update_irq(m);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_mmio_write_status(m, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		q = virtio_mmio_config_queue(m, offset);
		if (q)
			virtio_mmio_set_half(&q->desc_gpa, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, value);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		q = virtio_mmio_config_queue(m, offset);
		if (q)
			virtio_mmio_set_half(&q->avail_gpa, offset == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, value);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		q = virtio_mmio_config_queue(m, offset);
		if (q)
			virtio_mmio_set_half(&q->used_gpa, offset == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, value);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		m->shm_sel = value;
		break;
	default:
		log_guest("%s: write 0x%x to %s virtio-mmio register 0x%llx", vdev->name, value,
			  offset < VIRTIO_MMIO_CONFIG_GENERATION + 4 ? "read-only or unknown" : "unknown",
			  (unsigned long long)offset);
		break;
	}
}

/*
 * Registers take aligned 32-bit accesses only (4.2.2.2); config space takes
 * naturally aligned 8-, 16- and 32-bit ones. False (after a rate-limited
 * message) for anything else, which is then ignored.
 */
static bool virtio_mmio_access_ok(const struct virtio_mmio *m, uint64_t offset, unsigned size, bool write)
{
	bool ok;

	if (offset >= VIRTIO_MMIO_SIZE || size > VIRTIO_MMIO_SIZE - offset)
		ok = false;
	else if (offset >= VIRTIO_MMIO_CONFIG)
		ok = (size == 1 || size == 2 || size == 4) && offset % size == 0;
	else
		ok = size == 4 && offset % 4 == 0;
	if (!ok)
		log_guest("%s: ignored %u-byte virtio-mmio %s at 0x%llx", m->vdev->name, size,
			  write ? "write" : "read", (unsigned long long)offset);
	return ok;
}

static void virtio_mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct virtio_mmio *m = opaque;
	uint32_t value;

	memset(data, 0, size); /* what an ignored read returns */
	if (!virtio_mmio_access_ok(m, offset, size, false))
		return;
	pthread_mutex_lock(&m->vdev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		/* Config space is the device's little-endian bytes: no conversion. */
		virtio_dev_config_read(m->vdev, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data, size);
	} else {
		value = htole32(virtio_mmio_read_reg(m, offset));
		memcpy(data, &value, sizeof(value));
	}
	pthread_mutex_unlock(&m->vdev->lock);
}

static void virtio_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct virtio_mmio *m = opaque;
	uint32_t value;

	if (!virtio_mmio_access_ok(m, offset, size, true))
		return;
	pthread_mutex_lock(&m->vdev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		virtio_dev_config_write(m->vdev, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data, size);
	} else {
		memcpy(&value, data, sizeof(value));
		virtio_mmio_write_reg(m, offset, le32toh(value)); /* guest value: checked per register */
	}
	pthread_mutex_unlock(&m->vdev->lock);
}

const struct bus_device_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};

int virtio_mmio_create(struct virtio_dev *vdev, const struct virtio_mmio_platform *plat,
		       struct virtio_mmio **out)
{
	struct virtio_mmio *m;

	if (!vdev || !plat || !plat->set_irq)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vdev = vdev;
	m->plat = *plat;
	if (plat->ioeventfd) {
		for (unsigned q = 0; q < vdev->nr_queues; q++)
			m->ioeventfd[q] = plat->ioeventfd(plat->opaque, vdev->kick_fd[q],
							  plat->base + VIRTIO_MMIO_QUEUE_NOTIFY, q, true) == 0;
	}
	pthread_mutex_lock(&vdev->lock);
	vdev->transport = &virtio_mmio_transport_ops;
	vdev->transport_priv = m;
	pthread_mutex_unlock(&vdev->lock);
	*out = m;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	struct virtio_dev *vdev;

	if (!m)
		return;
	vdev = m->vdev;
	pthread_mutex_lock(&vdev->lock);
	vdev->transport = NULL;
	vdev->transport_priv = NULL;
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (m->ioeventfd[q])
			m->plat.ioeventfd(m->plat.opaque, vdev->kick_fd[q],
					  m->plat.base + VIRTIO_MMIO_QUEUE_NOTIFY, q, false);
	free(m);
}

int virtio_mmio_register(struct virtio_mmio *m, struct bus *bus)
{
	return bus_register(bus, m->plat.base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, m, m->vdev->name);
}

void virtio_mmio_describe(const struct virtio_mmio *m, struct virtio_mmio_desc *out)
{
	out->base = m->plat.base;
	out->size = VIRTIO_MMIO_SIZE;
	out->irq = m->plat.irq;
}
