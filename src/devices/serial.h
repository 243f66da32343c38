/*
 * A 16550A UART: what Linux's 8250 driver expects (FIFOs, loopback for its
 * probe, THRE and receive interrupts). Output goes to a host fd a line at a
 * time once a flush timer is set (else byte by byte); input is fed by the
 * VMM's console pump.
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

/*
 * Buffer output by lines: while a partial line waits, @timerfd (a
 * CLOCK_MONOTONIC timerfd the caller polls) is armed to expire shortly, and the
 * caller then calls serial_flush(). -1 goes back to writing every byte at once.
 * Either way pending output is written first.
 */
void serial_set_flush_timer(struct serial *s, int timerfd);
void serial_flush(struct serial *s);

/* Bytes the receive FIFO can take now. */
size_t serial_rx_room(struct serial *s);
/* Queues input for the guest; returns how many bytes were taken. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
