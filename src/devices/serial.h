/*
 * A 16550A UART: what Linux's 8250 driver expects (FIFOs, loopback for its
 * probe, THRE and receive interrupts). Output is written to a host fd as the
 * guest writes it; input is fed by the VMM's console pump.
 */
#ifndef BOTHY_DEVICES_SERIAL_H
#define BOTHY_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"

struct vm;
struct serial;

#define SERIAL_NR_REGS 8

/* @out_fd may be -1 (output discarded). The irq is raised through vm_irq_line(). */
int serial_create(struct vm *vm, uint32_t irq, int out_fd, struct serial **out);
void serial_destroy(struct serial *s);
extern const struct bus_device_ops serial_bus_ops;

/* Bytes the receive FIFO can take now. */
size_t serial_rx_room(struct serial *s);
/* Queues input for the guest; returns how many bytes were taken. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
