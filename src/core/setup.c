#include "core/setup.h"

#include <errno.h>
#include <time.h>

#include "core/log.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void setup_unwind(const struct setup_step *steps, size_t n, void *ctx)
{
	while (n--) {
		double t0;

		if (!steps[n].fini)
			continue;
		t0 = now_ms();
		steps[n].fini(ctx);
		/* -vv: and where the time to exit goes. */
		log_debug("teardown: %s in %.1f ms", steps[n].name, now_ms() - t0);
	}
}

int setup_run(const struct setup_step *steps, size_t n, void *ctx, const char **failed)
{
	for (size_t i = 0; i < n; i++) {
		double t0 = now_ms();
		int ret = steps[i].init(ctx);

		/* -vv: where start-up time goes, step by step. */
		log_debug("setup: %s %s in %.1f ms", steps[i].name, ret ? "failed" : "done", now_ms() - t0);
		if (ret) {
			if (ret > 0) /* a step broke the convention; never report success */
				ret = -EIO;
			if (failed)
				*failed = steps[i].name;
			setup_unwind(steps, i, ctx);
			return ret;
		}
	}
	if (failed)
		*failed = NULL;
	return 0;
}
