/*
 * Ordered setup with unwinding (Gunyah's setup events, without the
 * constructor magic): a table of {name, init, fini} run in order; when a step
 * fails, the steps already done are undone in reverse and the failing step's
 * name is reported. fini may be NULL for steps with nothing to undo.
 */
#ifndef BOTHY_CORE_SETUP_H
#define BOTHY_CORE_SETUP_H

#include <stddef.h>

struct setup_step {
	const char *name;
	int (*init)(void *ctx);
	void (*fini)(void *ctx);
};

/*
 * Runs steps[0..n). Returns 0 with all steps done, or the failing step's
 * negative errno after unwinding; *failed (if non-NULL) names that step.
 */
int setup_run(const struct setup_step *steps, size_t n, void *ctx, const char **failed);

/* Undoes steps[0..n) in reverse order (teardown of a fully set-up object). */
void setup_unwind(const struct setup_step *steps, size_t n, void *ctx);

#endif
