/*
 * The hypercall dispatcher: the filter decides, a built-in service, a denial
 * or the VM owner answers, and every call is counted per function.
 */
#include <inttypes.h>
#include <string.h>

#include "hcall/hcall.h"

void hcall_dispatcher_init(struct hcall_dispatcher *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->owner_lock, NULL);
}

void hcall_dispatcher_fini(struct hcall_dispatcher *d)
{
	pthread_mutex_destroy(&d->owner_lock);
}

enum outcome { HANDLED, FORWARDED, DENIED };

/* @fid's slot, claimed on first use; NULL when the table is full. */
static struct hcall_stat *stat_slot(struct hcall_dispatcher *d, uint32_t fid)
{
	const uint64_t key = HCALL_STAT_USED | fid;
	unsigned h = (fid * 2654435761u) % HCALL_STATS_SLOTS;

	for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++) {
		struct hcall_stat *slot = &d->stats[(h + i) % HCALL_STATS_SLOTS];
		uint64_t cur = __atomic_load_n(&slot->key, __ATOMIC_ACQUIRE);

		if (!cur && __atomic_compare_exchange_n(&slot->key, &cur, key, false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE))
			return slot;
		if (cur == key)
			return slot; /* (a failed claim left the winner's key in cur) */
	}
	return NULL;
}

static void count(struct hcall_dispatcher *d, uint32_t fid, enum outcome o)
{
	struct hcall_stat *s = stat_slot(d, fid);

	if (!s) {
		__atomic_fetch_add(&d->stats_other, 1, __ATOMIC_RELAXED); /* a guest spraying ids cannot grow the table */
		return;
	}
	__atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(o == HANDLED ? &s->handled : o == FORWARDED ? &s->forwarded : &s->denied, 1,
			   __ATOMIC_RELAXED);
}

void hcall_dispatch(struct hcall_dispatcher *d, struct hcall_call *c)
{
	enum hcall_action action;
	enum outcome o = DENIED;

	memset(c->ret, 0, sizeof(c->ret));
	c->ret[0] = HCALL_NOT_SUPPORTED;
	if (c->user && !d->user_allowed)
		goto out;
	/*
	 * A 64-bit-convention call from 32-bit code is malformed, whatever the filter says, and one
	 * through a transport that cannot return 64-bit results is too.
	 */
	if ((c->fid & HCALL_64) && (!c->is64 || c->results32))
		goto out;
	/* In no range: bothy's service if it has one, else NOT_SUPPORTED (a denial) all the same. */
	if (!hcall_filter_lookup(&d->filter, c->fid, &action))
		action = HCALL_HANDLE;
	switch (action) {
	case HCALL_HANDLE:
		if (hcall_service_call(d, c))
			o = HANDLED;
		break;
	case HCALL_FORWARD:
		if (c->read_args && c->read_args(c, c->read_ctx))
			break; /* the owner cannot see the call as made: denied (the transport logged why) */
		o = FORWARDED;
		pthread_mutex_lock(&d->owner_lock);
		if (!d->owner.call || d->owner.call(d->owner.opaque, c)) {
			memset(c->ret, 0, sizeof(c->ret));
			c->ret[0] = HCALL_NOT_SUPPORTED;
		}
		pthread_mutex_unlock(&d->owner_lock);
		break;
	case HCALL_DENY:
		break;
	}
out:
	count(d, c->fid, o);
}

void hcall_print_stats(struct hcall_dispatcher *d, FILE *out)
{
	unsigned long other = __atomic_load_n(&d->stats_other, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++) {
		const struct hcall_stat *s = &d->stats[i];
		uint64_t key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);

		if (key)
			fprintf(out, "hcall 0x%08" PRIx32 " calls %lu handled %lu forwarded %lu denied %lu\n",
				(uint32_t)key, __atomic_load_n(&s->calls, __ATOMIC_RELAXED),
				__atomic_load_n(&s->handled, __ATOMIC_RELAXED),
				__atomic_load_n(&s->forwarded, __ATOMIC_RELAXED),
				__atomic_load_n(&s->denied, __ATOMIC_RELAXED));
	}
	if (other)
		fprintf(out, "hcall other functions: calls %lu (beyond %d counted ids)\n", other, HCALL_STATS_SLOTS);
}
