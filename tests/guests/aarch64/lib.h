/*
 * What every arm64 payload shares: output on bothy's 16550 UART (src/arch/aarch64/layout.h),
 * polled, one byte per MMIO write. Power-off is entry.S's job, after main returns.
 */
#ifndef BOTHY_PAYLOAD_AARCH64_LIB_H
#define BOTHY_PAYLOAD_AARCH64_LIB_H

#include <stdint.h>

int main(void);

void putc_uart(char c);
void puts_uart(const char *s);
/* @v as 16 hex digits. */
void puthex(uint64_t v);

#endif
