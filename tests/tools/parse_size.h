/*
 * "64M"-style sizes for the test programs (tests/tools/xfer.c, tests/guests/linux/blk-bench.c):
 * a decimal number with an optional K, M or G suffix (powers of 1024). 0, or -1 on junk.
 */
#ifndef BOTHY_TESTS_TOOLS_PARSE_SIZE_H
#define BOTHY_TESTS_TOOLS_PARSE_SIZE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static inline int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

#endif
