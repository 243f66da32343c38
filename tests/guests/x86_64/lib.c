/*
 * lib.c: UART console, formatted output, debug-exit, start_info and command
 * line access, LAPIC timer, string helpers. See lib.h.
 */
#include <stdarg.h>

#include "lib.h"

/* 16550 registers (offsets from COM1_PORT). */
#define UART_THR 0 /* transmit holding (DLAB=0) / divisor latch low (DLAB=1) */
#define UART_IER 1 /* interrupt enable / divisor latch high */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_THRE 0x20
/* Polls of LSR before sending a byte anyway (a UART that never drains must not hang us). */
#define UART_POLL_MAX 100000

struct spinlock console_lock;
uint32_t lapic_base = LAPIC_DEFAULT_BASE;

void uart_init(void)
{
	outb(COM1_PORT + UART_IER, 0x00); /* no interrupts: we poll */
	outb(COM1_PORT + UART_LCR, 0x80); /* DLAB: divisor 1 = 115200 baud */
	outb(COM1_PORT + UART_THR, 0x01);
	outb(COM1_PORT + UART_IER, 0x00);
	outb(COM1_PORT + UART_LCR, 0x03); /* 8N1 */
	outb(COM1_PORT + UART_FCR, 0x07); /* FIFOs on and cleared */
	outb(COM1_PORT + UART_MCR, 0x03); /* DTR, RTS */
}

void uart_putc(char c)
{
	for (uint32_t i = 0; i < UART_POLL_MAX; i++) {
		if (inb(COM1_PORT + UART_LSR) & UART_LSR_THRE)
			break;
		cpu_relax();
	}
	outb(COM1_PORT + UART_THR, (uint8_t)c);
}

static void console_putc(char c)
{
	if (c == '\n')
		uart_putc('\r');
	uart_putc(c);
}

void uart_puts(const char *s)
{
	while (*s)
		console_putc(*s++);
}

void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
}

void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static void put_number(uint32_t v, unsigned base, unsigned width, char pad, bool negative)
{
	char buf[12];
	unsigned n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		buf[n++] = '-';
	while (width > n) {
		console_putc(pad);
		width--;
	}
	while (n)
		console_putc(buf[--n]);
}

/* Whole calls are atomic with respect to other CPUs' kprintf() calls. */
void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&console_lock);
	for (; *fmt; fmt++) {
		char pad = ' ';
		unsigned width = 0;

		if (*fmt != '%') {
			console_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			uart_puts(s ? s : "(null)");
			break;
		}
		case 'c':
			console_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			int v = va_arg(ap, int);
			put_number(v < 0 ? 0u - (uint32_t)v : (uint32_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_number(va_arg(ap, unsigned), 10, width, pad, false);
			break;
		case 'x':
			put_number(va_arg(ap, unsigned), 16, width, pad, false);
			break;
		case '%':
			console_putc('%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			console_putc('%');
			console_putc(*fmt);
			break;
		}
	}
	spin_unlock(&console_lock);
	va_end(ap);
}

void debug_exit(uint8_t code)
{
	outb(DEBUG_EXIT_PORT, code);
	halt_forever();
}

void payload_start(const struct hvm_start_info *si)
{
	int status;

	uart_init();
	status = payload_main(si);
	debug_exit((uint8_t)status);
}

const struct hvm_start_info *start_info_check(const struct hvm_start_info *si, const char *who)
{
	if (!si || si->magic != HVM_START_MAGIC) {
		kprintf("%s: no PVH start_info at EBX=0x%x (magic 0x%x, expected 0x%x)\n", who,
			(uint32_t)(uintptr_t)si, si ? si->magic : 0u, HVM_START_MAGIC);
		return NULL;
	}
	return si;
}

/* A copy, so later payload code may reuse low memory freely. */
static char cmdline_buf[CMDLINE_MAX];

const char *start_info_cmdline(const struct hvm_start_info *si)
{
	const char *src;
	size_t i;

	if (cmdline_buf[0])
		return cmdline_buf;
	if (!si || !si->cmdline_paddr || si->cmdline_paddr >= 0x100000000ull)
		return "";
	src = phys((uint32_t)si->cmdline_paddr);
	for (i = 0; i < CMDLINE_MAX - 1 && src[i]; i++)
		cmdline_buf[i] = src[i];
	cmdline_buf[i] = '\0';
	return cmdline_buf;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int parse_u32(const char *s, const char *end, uint32_t *val)
{
	unsigned base = 10;
	uint32_t v = 0;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (s == end)
		return -1;
	for (; s < end; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (0xffffffffu - d) / base)
			return -1;
		v = v * base + d;
	}
	*val = v;
	return 1;
}

int cmdline_u32(const char *cmdline, const char *key, uint32_t *val)
{
	size_t klen = strlen(key);
	const char *p = cmdline;
	int found = 0;

	while (*p) {
		const char *word, *end;

		while (is_space(*p))
			p++;
		word = p;
		while (*p && !is_space(*p))
			p++;
		end = p;
		/* The last occurrence wins, as with kernel parameters. */
		if ((size_t)(end - word) > klen && !memcmp(word, key, klen) && word[klen] == '=')
			found = parse_u32(word + klen + 1, end, val);
	}
	return found;
}

bool cmdline_has(const char *cmdline, const char *word)
{
	size_t len = strlen(word);
	const char *p = cmdline;

	while (*p) {
		const char *start;

		while (is_space(*p))
			p++;
		start = p;
		while (*p && !is_space(*p))
			p++;
		if ((size_t)(p - start) == len && !memcmp(start, word, len))
			return true;
	}
	return false;
}

bool lapic_timer_start(uint32_t count)
{
	lapic_write(LAPIC_TDCR, 0x3);                 /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, 0x10000 | 0xfe); /* masked, one-shot */
	lapic_write(LAPIC_TMICT, count);
	return count == 0 || lapic_read(LAPIC_TMCCT) != 0;
}

uint32_t lapic_counts_to_us(uint32_t counts)
{
	return counts / 1000u * 16u + counts % 1000u * 16u / 1000u;
}

uint32_t lapic_counts_per_item_ns(uint32_t counts, uint32_t n)
{
	if (!n)
		return 0;
	if (n >= 1u << 28)
		return counts / (n >> 4);
	return counts / n * 16u + (counts % n) * 16u / n;
}

void udelay(uint32_t us)
{
	uint32_t max_us = 0xffffffffu / (LAPIC_TIMER_HZ / 1000000u + 1);

	if (us > max_us)
		us = max_us;
	if (lapic_timer_start(us * (LAPIC_TIMER_HZ / 1000000u) + (us * 5u) / 10u)) {
		while (lapic_timer_remaining())
			cpu_relax();
		return;
	}
	/* No usable timer: a loop, long enough for anything we wait on. */
	for (volatile uint32_t i = 0; i < us * 100u; i++)
		cpu_relax();
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}
