/*
 * PCI bus 0 over configuration mechanism #1, with a host bridge (see pci.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "devices/pci.h"

/* Host bridge ids: those Cloud Hypervisor's virtual host bridge uses; Linux only needs a class-0600 device. */
#define PCI_HOST_BRIDGE_VENDOR 0x8086
#define PCI_HOST_BRIDGE_DEVICE 0x0d57
#define PCI_CLASS_HOST_BRIDGE 0x060000

#define PCI_CONFIG_ENABLE 0x80000000u

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	pci_put16(dev->cfg + PCI_VENDOR_ID, vendor);
	pci_put16(dev->cfg + PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	dev->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	dev->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	pci_put16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_put16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
	pci_put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->cap_end = PCI_CAP_START;
}

uint8_t pci_dev_add_cap(struct pci_dev *dev, const void *cap, unsigned len)
{
	unsigned off = dev->cap_end;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(dev->cfg + off, cap, len);
	dev->cfg[off + 1] = 0; /* next: end of list */
	if (dev->last_cap)
		dev->cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)off;
	dev->cap_end = (uint8_t)((off + len + 3) & ~3u);
	return (uint8_t)off;
}

int pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint32_t size, const struct bus_device_ops *ops,
		    void *opaque)
{
	if (bar >= PCI_NR_BARS || size < 4096 || (size & (size - 1)) || !ops)
		return -EINVAL;
	dev->bars[bar] = (struct pci_bar){ .size = size, .ops = ops, .opaque = opaque };
	/* Memory, 32-bit, non-prefetchable: the low 4 bits are read-only zero. */
	pci_put32(dev->wmask + PCI_BAR0 + 4 * bar, ~(size - 1));
	return 0;
}

int pci_bus_init(struct pci_bus *bus, uint64_t mmio_base, uint64_t mmio_size)
{
	memset(bus, 0, sizeof(*bus));
	bus->mmio_base = bus->mmio_next = mmio_base;
	bus->mmio_size = mmio_size;
	pci_dev_init(&bus->host_bridge, "host-bridge", PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
		     PCI_CLASS_HOST_BRIDGE, 0, 0, 0);
	bus->devs[0] = &bus->host_bridge;
	bus->host_bridge.bus = bus;
	return -pthread_mutex_init(&bus->lock, NULL);
}

void pci_bus_fini(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

static uint64_t pci_bar_addr(const struct pci_dev *dev, unsigned bar)
{
	return pci_get32(dev->cfg + PCI_BAR0 + 4 * bar) & ~0xfu;
}

/* Decoded address of every BAR from COMMAND and the BAR registers; tells the device what moved. */
static void pci_dev_update_bars(struct pci_dev *dev)
{
	bool decode = pci_get16(dev->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY;

	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		uint64_t addr = decode ? pci_bar_addr(dev, i) : 0;
		uint64_t old = b->mapped;

		if (!b->size || addr == old)
			continue;
		/* A BAR being sized (all ones) or placed outside the window is not decoded. */
		if (addr && (addr < dev->bus->mmio_base || addr + b->size > dev->bus->mmio_base + dev->bus->mmio_size))
			addr = 0;
		if (addr == old)
			continue;
		b->mapped = addr;
		if (dev->hooks && dev->hooks->bar_moved)
			dev->hooks->bar_moved(dev, i, old, addr);
	}
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *dev)
{
	unsigned slot;
	uint64_t next = bus->mmio_next;

	for (slot = 1; slot < PCI_MAX_SLOTS && bus->devs[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS)
		return -ENOSPC;
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		uint32_t size = dev->bars[i].size;

		if (!size)
			continue;
		next = (next + size - 1) & ~(uint64_t)(size - 1);
		if (next + size > bus->mmio_base + bus->mmio_size)
			return -ENOSPC;
		pci_put32(dev->cfg + PCI_BAR0 + 4 * i, (uint32_t)next);
		next += size;
	}
	pthread_mutex_lock(&bus->lock);
	bus->mmio_next = next;
	dev->slot = slot;
	dev->bus = bus;
	bus->devs[slot] = dev;
	/* Firmware leaves devices decoding their BARs; Linux keeps assignments inside the _CRS window. */
	pci_put16(dev->cfg + PCI_COMMAND, pci_get16(dev->cfg + PCI_COMMAND) | PCI_COMMAND_MEMORY);
	pci_dev_update_bars(dev);
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

/* The function the latch addresses, or NULL (other buses and functions do not exist). */
static struct pci_dev *pci_latched_dev(struct pci_bus *bus, uint32_t *reg)
{
	uint32_t a = bus->config_address;

	if (!(a & PCI_CONFIG_ENABLE) || ((a >> 16) & 0xff) || ((a >> 8) & 7))
		return NULL;
	*reg = a & 0xfc;
	return bus->devs[(a >> 11) & 0x1f];
}

static void pci_config_read(struct pci_dev *dev, uint32_t off, void *data, unsigned size)
{
	if (dev->hooks && dev->hooks->config_reading)
		dev->hooks->config_reading(dev, off, size);
	memcpy(data, dev->cfg + off, size);
}

static void pci_config_write(struct pci_dev *dev, uint32_t off, const void *data, unsigned size)
{
	const uint8_t *d = data;

	for (unsigned i = 0; i < size; i++)
		dev->cfg[off + i] = (uint8_t)((dev->cfg[off + i] & ~dev->wmask[off + i]) | (d[i] & dev->wmask[off + i]));
	if (off < PCI_BAR0 + 4 * PCI_NR_BARS && off + size > PCI_COMMAND)
		pci_dev_update_bars(dev);
	if (dev->hooks && dev->hooks->config_written)
		dev->hooks->config_written(dev, off, size);
}

static void pci_conf_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *dev;
	uint32_t reg;

	memset(data, 0xff, size);
	pthread_mutex_lock(&bus->lock);
	if (offset == 0 && size == 4) {
		memcpy(data, &bus->config_address, 4);
	} else if (offset >= 4 && offset - 4 + size <= 4) {
		dev = pci_latched_dev(bus, &reg);
		if (dev)
			pci_config_read(dev, reg + (uint32_t)(offset - 4), data, size);
	}
	pthread_mutex_unlock(&bus->lock);
}

static void pci_conf_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *dev;
	uint32_t reg;

	if (offset == 1 && size == 1) {
		if (bus->cf9_ops)
			bus->cf9_ops->write(bus->cf9_opaque, 0, data, 1);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	if (offset == 0 && size == 4) {
		memcpy(&bus->config_address, data, 4);
	} else if (offset >= 4 && offset - 4 + size <= 4) {
		dev = pci_latched_dev(bus, &reg);
		if (dev)
			pci_config_write(dev, reg + (uint32_t)(offset - 4), data, size);
	}
	pthread_mutex_unlock(&bus->lock);
}

const struct bus_device_ops pci_conf_bus_ops = { .read = pci_conf_read, .write = pci_conf_write };

/* The BAR that decodes @addr: its ops, opaque and the offset inside it. */
static bool pci_find_bar(struct pci_bus *bus, uint64_t addr, unsigned size, struct pci_bar *out, uint64_t *offset)
{
	bool found = false;

	pthread_mutex_lock(&bus->lock);
	for (unsigned s = 1; s < PCI_MAX_SLOTS && !found; s++) {
		struct pci_dev *dev = bus->devs[s];

		for (unsigned i = 0; dev && i < PCI_NR_BARS; i++) {
			const struct pci_bar *b = &dev->bars[i];

			if (b->mapped && addr >= b->mapped && addr - b->mapped + size <= b->size) {
				*out = *b;
				*offset = addr - b->mapped;
				found = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&bus->lock);
	return found;
}

static void pci_mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_bar bar;
	uint64_t off;

	if (pci_find_bar(bus, bus->mmio_base + offset, size, &bar, &off))
		bar.ops->read(bar.opaque, off, data, size);
	else
		memset(data, 0xff, size);
}

static void pci_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_bar bar;
	uint64_t off;

	if (pci_find_bar(bus, bus->mmio_base + offset, size, &bar, &off))
		bar.ops->write(bar.opaque, off, data, size);
}

const struct bus_device_ops pci_mmio_bus_ops = { .read = pci_mmio_read, .write = pci_mmio_write };
