/*
 * A conventional PCI bus 0 reached through configuration mechanism #1 (ports
 * 0xcf8/0xcfc, which the stock x86 kernels probe; no ECAM needed for 256-byte
 * config spaces), with a host bridge at 00.0. Devices have 32-bit memory BARs
 * that bothy places in an MMIO window the firmware tables describe; the guest
 * may move them, and the device hears about it (bar_moved) to re-point fast
 * paths such as ioeventfds.
 *
 * Config space is guest-writable only where a per-byte write mask says so;
 * everything else reads back what the device model put there.
 */
#ifndef BOTHY_DEVICES_PCI_H
#define BOTHY_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"

#define PCI_MAX_SLOTS 32
#define PCI_CFG_SIZE 256
#define PCI_NR_BARS 6

/* Config space offsets and bits used here. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_START 0x40
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

struct pci_dev;

struct pci_dev_hooks {
	/* After the guest wrote config bytes [offset, offset+size) (bus lock held). Optional. */
	void (*config_written)(struct pci_dev *dev, uint32_t offset, unsigned size);
	/* Before a config read of [offset, offset+size) (bus lock held), to refresh live bytes. Optional. */
	void (*config_reading)(struct pci_dev *dev, uint32_t offset, unsigned size);
	/* A BAR is decoded at a new address (0: no longer decoded). Optional. */
	void (*bar_moved)(struct pci_dev *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr);
};

struct pci_bar {
	uint32_t size; /* power of 2, >= 4 KiB; 0: unused */
	uint64_t mapped; /* address decoded now (0: not decoded) */
	const struct bus_device_ops *ops; /* offsets relative to the BAR */
	void *opaque;
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	uint8_t last_cap;            /* offset of the last capability (0: none) */
	uint8_t cap_end;             /* next free byte for a capability */
	struct pci_bar bars[PCI_NR_BARS];
	const struct pci_dev_hooks *hooks;
	void *opaque; /* the device model that owns this function */
	struct pci_bus *bus;
	unsigned slot;
	char name[32];
};

struct pci_bus {
	pthread_mutex_t lock; /* config address latch, config spaces, BAR placement */
	uint32_t config_address;
	struct pci_dev *devs[PCI_MAX_SLOTS];
	struct pci_dev host_bridge;
	uint64_t mmio_base, mmio_size, mmio_next; /* the BAR window and its allocation cursor */
	/* A byte written to port 0xcf9 (within the config ports) goes here: the PC reset control register. */
	const struct bus_device_ops *cf9_ops;
	void *cf9_opaque;
};

int pci_bus_init(struct pci_bus *bus, uint64_t mmio_base, uint64_t mmio_size);
void pci_bus_fini(struct pci_bus *bus);

/* Header type 0 function; class = base << 16 | sub << 8 | prog-if. */
void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/* Appends a capability (its first two bytes, id and next, are filled in); returns its offset, or 0 if full. */
uint8_t pci_dev_add_cap(struct pci_dev *dev, const void *cap, unsigned len);
/* Declares 32-bit memory BAR @bar of @size bytes, served by @ops; placed when the device is added. */
int pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint32_t size, const struct bus_device_ops *ops,
		    void *opaque);
/* Puts @dev in the next free slot and places its BARs in the window (decoded from the start, as
 * firmware leaves them). -ENOSPC: no slot or no room in the window. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *dev);

/* Ports 0xcf8-0xcff (opaque = struct pci_bus). */
extern const struct bus_device_ops pci_conf_bus_ops;
#define PCI_CONF_PORT 0xcf8
#define PCI_CONF_PORTS 8
/* The BAR window on the MMIO bus (opaque = struct pci_bus; offsets relative to mmio_base). */
extern const struct bus_device_ops pci_mmio_bus_ops;

/* Little-endian helpers for config-space and register images. */
static inline void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}
static inline uint16_t pci_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t pci_get32(const uint8_t *p)
{
	return pci_get16(p) | (uint32_t)pci_get16(p + 2) << 16;
}

#endif
