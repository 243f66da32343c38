/* The arm64 payloads' UART output (lib.h). */
#include "lib.h"

#define UART 0x09000000ul
#define UART_LSR 5
#define LSR_THRE 0x20

void putc_uart(char c)
{
	volatile uint8_t *u = (volatile uint8_t *)UART;

	while (!(u[UART_LSR] & LSR_THRE))
		;
	u[0] = (uint8_t)c;
}

void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

void puthex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[17];

	for (int i = 15; i >= 0; i--, v >>= 4)
		buf[i] = digits[v & 0xf];
	buf[16] = 0;
	puts_uart(buf);
}
