#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

/* Register offsets and bits (PC16550D data sheet). */
enum { UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5,
       UART_MSR = 6, UART_SCR = 7 };
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_MASK 0x0f
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_ENABLED 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* Larger than a real FIFO so pasted text is not dropped while the guest catches up. */
#define RX_BUF 4096
/* Output is written a line (or this much) at a time: one write per byte costs a syscall, and a
 * wakeup of whoever reads the console (bothyd's relay), for every character the guest prints. */
#define TX_BUF 256

struct serial {
	struct vm *vm;
	uint32_t irq;
	int out_fd;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;
	bool irq_level;
	uint8_t rx[RX_BUF];
	size_t rx_head, rx_count;
	uint8_t tx[TX_BUF];
	size_t tx_len;
	int flush_timer_fd; /* timerfd armed while a partial line waits; -1: write every byte */
	bool timer_armed;
};

int serial_create(struct vm *vm, uint32_t irq, int out_fd, struct serial **out)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->irq = irq;
	s->out_fd = out_fd;
	s->flush_timer_fd = -1;
	s->dll = 12; /* 9600 baud until the guest says otherwise */
	s->mcr = MCR_OUT2;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	serial_flush(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void update_irq(struct serial *s)
{
	bool level = ((s->ier & IER_RDI) && s->rx_count) || ((s->ier & IER_THRI) && s->thri_pending);

	if (level != s->irq_level && s->vm) {
		s->irq_level = level;
		vm_irq_line(s->vm, s->irq, level);
	}
}

static void rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count == RX_BUF)
		return;
	s->rx[(s->rx_head + s->rx_count++) % RX_BUF] = byte;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_BUF;
	s->rx_count--;
	return byte;
}

/* A partial line waits this long for the rest before the VMM's main loop writes it. */
#define TX_PARTIAL_DELAY_NS 2000000

static void arm_flush_timer(struct serial *s, bool on)
{
	struct itimerspec its = { .it_value = { .tv_nsec = on ? TX_PARTIAL_DELAY_NS : 0 } };

	if (s->timer_armed != on && timerfd_settime(s->flush_timer_fd, 0, &its, NULL) == 0)
		s->timer_armed = on;
}

/* Lock held. A console that cannot take output (closed pipe) loses it; the guest goes on. */
static void tx_flush_locked(struct serial *s)
{
	size_t done = 0;

	while (done < s->tx_len) {
		ssize_t n = write(s->out_fd, s->tx + done, s->tx_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	s->tx_len = 0;
	if (s->flush_timer_fd >= 0)
		arm_flush_timer(s, false);
}

static void transmit(struct serial *s, uint8_t byte)
{
	s->thri_pending = true;
	if (s->mcr & MCR_LOOP) {
		rx_push(s, byte);
		return;
	}
	if (s->out_fd < 0)
		return;
	s->tx[s->tx_len++] = byte;
	if (byte == '\n' || s->tx_len == TX_BUF || s->flush_timer_fd < 0) {
		tx_flush_locked(s);
	} else if (s->tx_len == 1) {
		/* A line starts: if it is still partial in a moment (a prompt, an echoed key), the timer
		 * wakes the VMM's main loop to write it. No other thread is woken per line. */
		arm_flush_timer(s, true);
		if (!s->timer_armed)
			tx_flush_locked(s);
	}
}

void serial_set_flush_timer(struct serial *s, int timerfd)
{
	pthread_mutex_lock(&s->lock);
	tx_flush_locked(s);
	s->flush_timer_fd = timerfd;
	s->timer_armed = false;
	pthread_mutex_unlock(&s->lock);
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	tx_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR_THR:
		return (s->lcr & LCR_DLAB) ? s->dll : rx_pop(s);
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR_FCR:
		if ((s->ier & IER_RDI) && s->rx_count) {
			v = IIR_RDI;
		} else if ((s->ier & IER_THRI) && s->thri_pending) {
			v = IIR_THRI;
			s->thri_pending = false; /* reading IIR acknowledges THRE */
		} else {
			v = IIR_NO_INT;
		}
		return v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case UART_MSR:
		if (s->mcr & MCR_LOOP)
			return ((s->mcr & MCR_OUT2) ? MSR_DCD : 0) | ((s->mcr & MCR_OUT1) ? MSR_RI : 0) |
			       ((s->mcr & MCR_DTR) ? MSR_DSR : 0) | ((s->mcr & MCR_RTS) ? MSR_CTS : 0);
		return MSR_DCD | MSR_DSR | MSR_CTS;
	default:
		return s->scr;
	}
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			/* Enabling THRE interrupts with an empty THR raises one at once. */
			if (!(s->ier & IER_THRI) && (v & IER_THRI))
				s->thri_pending = true;
			s->ier = v & IER_MASK;
		}
		break;
	case UART_IIR_FCR:
		if (v & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		s->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static void serial_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct serial *s = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&s->lock);
	/* Wider accesses read consecutive registers, as on an ISA bus. */
	for (unsigned i = 0; i < size; i++)
		out[i] = offset + i < SERIAL_NR_REGS ? reg_read(s, (unsigned)(offset + i)) : 0xff;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct serial *s = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		if (offset + i < SERIAL_NR_REGS)
			reg_write(s, (unsigned)(offset + i), in[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_device_ops serial_bus_ops = { .read = serial_read, .write = serial_write };

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = RX_BUF - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->rx_count < RX_BUF; n++)
		rx_push(s, buf[n]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
