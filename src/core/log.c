#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level log_threshold = LOG_WARN;

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* \r: the terminal may be in raw mode while a guest runs. */
	fprintf(stderr, "bothy: %s: %s\r\n", prefix[level], line);
}

#define RATELIMIT_BURST 10
#define RATELIMIT_WINDOW_MS 1000

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts;
	long long now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
	pthread_mutex_lock(&lock);
	if (now - rl->window_start_ms >= RATELIMIT_WINDOW_MS) {
		if (rl->suppressed)
			log_msg(LOG_WARN, "guest: %u similar messages suppressed", rl->suppressed);
		rl->window_start_ms = now;
		rl->burst_used = 0;
		rl->suppressed = 0;
	}
	ok = rl->burst_used < RATELIMIT_BURST;
	if (ok)
		rl->burst_used++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&lock);
	return ok;
}
