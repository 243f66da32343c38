/* The hypercall filter: ordered, disjoint ranges of function ids, KVM's rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hcall/hcall.h"

const char *hcall_action_name(enum hcall_action a)
{
	switch (a) {
	case HCALL_HANDLE:
		return "handle";
	case HCALL_DENY:
		return "deny";
	case HCALL_FORWARD:
		return "forward";
	}
	return "?";
}

int hcall_filter_add(struct hcall_filter *f, uint32_t base, uint32_t count, enum hcall_action action)
{
	unsigned i;

	if (f->frozen)
		return -EBUSY;
	if (!count || (uint64_t)base + count > (1ull << 32) ||
	    (action != HCALL_HANDLE && action != HCALL_DENY && action != HCALL_FORWARD))
		return -EINVAL;
	for (i = 0; i < f->n; i++) {
		const struct hcall_range *r = &f->ranges[i];

		if ((uint64_t)base < (uint64_t)r->base + r->count && (uint64_t)r->base < (uint64_t)base + count)
			return -EEXIST;
	}
	if (f->n == HCALL_MAX_RANGES)
		return -ENOSPC;
	for (i = f->n; i > 0 && f->ranges[i - 1].base > base; i--)
		f->ranges[i] = f->ranges[i - 1];
	f->ranges[i] = (struct hcall_range){ base, count, action };
	f->n++;
	return 0;
}

bool hcall_filter_lookup(const struct hcall_filter *f, uint32_t fid, enum hcall_action *action)
{
	unsigned lo = 0, hi = f->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct hcall_range *r = &f->ranges[mid];

		if (fid < r->base)
			hi = mid;
		else if ((uint64_t)fid >= (uint64_t)r->base + r->count)
			lo = mid + 1;
		else {
			*action = r->action;
			return true;
		}
	}
	return false;
}

static int parse_u32(const char *s, const char *end, uint64_t *out)
{
	char buf[24], *e;
	size_t len = (size_t)(end - s);

	if (!len || len >= sizeof(buf) || *s == '-' || *s == '+')
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &e, 0);
	if (errno || *e || *out > 0xffffffffull)
		return -EINVAL;
	return 0;
}

int hcall_filter_parse(const char *spec, uint32_t *base, uint32_t *count, enum hcall_action *action)
{
	const char *eq = strchr(spec, '='), *sep;
	uint64_t a, b;

	if (!eq)
		return -EINVAL;
	if (!strcmp(eq + 1, "handle"))
		*action = HCALL_HANDLE;
	else if (!strcmp(eq + 1, "deny"))
		*action = HCALL_DENY;
	else if (!strcmp(eq + 1, "forward"))
		*action = HCALL_FORWARD;
	else
		return -EINVAL;
	sep = strpbrk(spec, "-+");
	if (!sep || sep > eq)
		return -EINVAL;
	if (parse_u32(spec, sep, &a) || parse_u32(sep + 1, eq, &b))
		return -EINVAL;
	if (*sep == '+') {
		if (!b || a + b > (1ull << 32))
			return -EINVAL;
		*count = (uint32_t)b;
	} else {
		if (b < a)
			return -EINVAL;
		*count = (uint32_t)(b - a + 1); /* 0 when the range is all 2^32 ids: refused by add */
		if (b - a + 1 > 0xffffffffull)
			return -EINVAL;
	}
	*base = (uint32_t)a;
	return 0;
}
