/* Diagnostics: one place decides where messages go and how often. */
#ifndef BOTHY_CORE_LOG_H
#define BOTHY_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Guest-triggered messages go through a per-call-site limiter so a guest
 * cannot flood the host's terminal: the first few print, then one per second.
 */
struct log_ratelimit {
	unsigned burst_used;
	long long window_start_ms;
	unsigned suppressed;
};
bool log_ratelimit_ok(struct log_ratelimit *rl);

#define log_guest(...)                                                    \
	do {                                                              \
		static struct log_ratelimit rl_;                          \
		if (log_ratelimit_ok(&rl_))                               \
			log_msg(LOG_WARN, "guest: " __VA_ARGS__);         \
	} while (0)

#endif
