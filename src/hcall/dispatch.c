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
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->owner_lock, NULL);
}

void hcall_dispatcher_fini(struct hcall_dispatcher *d)
{
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->owner_lock);
}

enum outcome { HANDLED, FORWARDED, DENIED };

static void count(struct hcall_dispatcher *d, uint32_t fid, enum outcome o)
{
	struct hcall_stat *s = NULL;
	unsigned h = (fid * 2654435761u) % HCALL_STATS_SLOTS;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++) {
		struct hcall_stat *slot = &d->stats[(h + i) % HCALL_STATS_SLOTS];

		if (!slot->used) {
			slot->used = true;
			slot->fid = fid;
		}
		if (slot->fid == fid) {
			s = slot;
			break;
		}
	}
	if (s) {
		s->calls++;
		if (o == HANDLED)
			s->handled++;
		else if (o == FORWARDED)
			s->forwarded++;
		else
			s->denied++;
	} else {
		d->stats_other++; /* a guest spraying ids cannot grow the table */
	}
	pthread_mutex_unlock(&d->lock);
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
	if (!hcall_filter_lookup(&d->filter, c->fid, &action))
		action = hcall_service_exists(c->fid) ? HCALL_HANDLE : HCALL_DENY;
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
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < HCALL_STATS_SLOTS; i++) {
		const struct hcall_stat *s = &d->stats[i];

		if (s->used)
			fprintf(out, "hcall 0x%08" PRIx32 " calls %lu handled %lu forwarded %lu denied %lu\n", s->fid,
				s->calls, s->handled, s->forwarded, s->denied);
	}
	if (d->stats_other)
		fprintf(out, "hcall other functions: calls %lu (beyond %d counted ids)\n", d->stats_other,
			HCALL_STATS_SLOTS);
	pthread_mutex_unlock(&d->lock);
}
