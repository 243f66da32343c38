#include "core/setup.h"

#include <errno.h>

void setup_unwind(const struct setup_step *steps, size_t n, void *ctx)
{
	while (n--)
		if (steps[n].fini)
			steps[n].fini(ctx);
}

int setup_run(const struct setup_step *steps, size_t n, void *ctx, const char **failed)
{
	for (size_t i = 0; i < n; i++) {
		int ret = steps[i].init(ctx);

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
