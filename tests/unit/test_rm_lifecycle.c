/*
 * The VM lifecycle table (src/rm/lifecycle.h): every (from, to) pair against
 * the edges written out here from docs/resource-manager.md ("Lifecycle") and
 * the Gunyah RM table quoted in lifecycle.c, so a change to either side shows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "rm/lifecycle.h"

/* The RM's numbering, spelled out: a renumbering in proto.h must fail here. */
enum { NONE = 0, INIT = 1, READY = 2, RUNNING = 3, PAUSED = 4, LOAD = 5, AUTH = 6, INIT_FAILED = 8, EXITED = 9,
       RESETTING = 10, RESET = 11 };

static const struct {
	unsigned from, to;
	const char *why;
} edges[] = {
	{ NONE, LOAD, "VM_ALLOCATE" },
	{ LOAD, INIT, "VM_CONFIG" },
	{ RESET, INIT, "VM_CONFIG after a reset (bothy)" },
	{ INIT, READY, "VM_INIT" },
	{ RESET, READY, "VM_INIT relaunches with the kept configuration (bothy)" },
	{ READY, RUNNING, "VM_START" },
	{ PAUSED, RUNNING, "VM_RESUME" },
	{ RUNNING, PAUSED, "VM_PAUSE" },
	{ INIT, INIT_FAILED, "VM_INIT failed" },
	{ READY, INIT_FAILED, "Gunyah's table" },
	{ LOAD, INIT_FAILED, "Gunyah's table" },
	{ AUTH, INIT_FAILED, "Gunyah's table" },
	{ RESET, INIT_FAILED, "VM_INIT after a reset failed" },
	{ RUNNING, EXITED, "VM_STOP, guest exit, VMM death" },
	{ PAUSED, EXITED, "VM_STOP of a paused VM, VMM death" },
	{ READY, EXITED, "a VMM that dies before VM_START (bothy)" },
	{ EXITED, RESETTING, "VM_RESET" },
	{ READY, RESETTING, "VM_RESET" },
	{ INIT_FAILED, RESETTING, "VM_RESET" },
	{ RESETTING, RESET, "the staged teardown is done" },
	{ RESET, NONE, "VM_DEALLOCATE" },
	{ LOAD, NONE, "VM_DEALLOCATE before any configuration (bothy)" },
	{ INIT, NONE, "VM_DEALLOCATE of a VM that never ran (bothy)" },
};

static const char *why(unsigned from, unsigned to)
{
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		if (edges[i].from == from && edges[i].to == to)
			return edges[i].why;
	return NULL;
}

static void test_numbering(void **state)
{
	(void)state;
	assert_int_equal(RM_VM_NONE, NONE);
	assert_int_equal(RM_VM_INIT, INIT);
	assert_int_equal(RM_VM_READY, READY);
	assert_int_equal(RM_VM_RUNNING, RUNNING);
	assert_int_equal(RM_VM_PAUSED, PAUSED);
	assert_int_equal(RM_VM_LOAD, LOAD);
	assert_int_equal(RM_VM_AUTH, AUTH);
	assert_int_equal(RM_VM_INIT_FAILED, INIT_FAILED);
	assert_int_equal(RM_VM_EXITED, EXITED);
	assert_int_equal(RM_VM_RESETTING, RESETTING);
	assert_int_equal(RM_VM_RESET, RESET);
	assert_int_equal(RM_VM_STATE_MAX, RESET);
}

static void test_every_pair(void **state)
{
	unsigned valid = 0;

	(void)state;
	for (unsigned from = 0; from <= 12; from++) {
		for (unsigned to = 0; to <= 12; to++) {
			bool want = why(from, to) != NULL, got = rm_state_change_valid(from, to);

			if (got != want)
				fail_msg("%u (%s) -> %u (%s): the table says %s, expected %s (%s)", from,
					 rm_vm_state_name(from), to, rm_vm_state_name(to), got ? "valid" : "invalid",
					 want ? "valid" : "invalid", want ? why(from, to) : "no such edge");
			valid += got;
		}
	}
	assert_int_equal(valid, sizeof(edges) / sizeof(edges[0]));
}

static void test_no_self_edges(void **state)
{
	(void)state;
	/* staying in a state (VM_CONFIG again in INIT, VM_SET_BOOT_CONTEXT in READY) is not a transition */
	for (unsigned s = 0; s <= 255; s++)
		assert_false(rm_state_change_valid(s, s));
}

static void test_unknown_states(void **state)
{
	static const unsigned unknown[] = { 7, 12, 13, 16, 31, 32, 64, 255, 256, 0x80000000u, ~0u };

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		for (unsigned s = 0; s <= 300; s++) {
			assert_false(rm_state_change_valid(unknown[i], s));
			assert_false(rm_state_change_valid(s, unknown[i]));
		}
		assert_false(rm_state_change_valid(unknown[i], ~0u));
		assert_false(rm_state_change_valid(~0u, unknown[i]));
	}
}

static void test_paths(void **state)
{
	/* whole lives a VM can have, each step an edge */
	static const unsigned lives[][10] = {
		{ NONE, LOAD, INIT, READY, RUNNING, PAUSED, RUNNING, EXITED, RESETTING, RESET },
		{ RESET, INIT, READY, EXITED, RESETTING, RESET, READY, RUNNING, EXITED, RESETTING },
		{ NONE, LOAD, INIT, INIT_FAILED, RESETTING, RESET, NONE, LOAD, NONE, LOAD },
		{ LOAD, INIT, NONE, LOAD, INIT_FAILED, RESETTING, RESET, INIT_FAILED, RESETTING, RESET },
	};

	(void)state;
	for (size_t l = 0; l < sizeof(lives) / sizeof(lives[0]); l++)
		for (size_t i = 1; i < 10; i++)
			assert_true(rm_state_change_valid(lives[l][i - 1], lives[l][i]));
	/* shortcuts the table forbids */
	assert_false(rm_state_change_valid(LOAD, READY));    /* VM_INIT before VM_CONFIG */
	assert_false(rm_state_change_valid(INIT, RUNNING));  /* VM_START before VM_INIT */
	assert_false(rm_state_change_valid(EXITED, READY));  /* VM_INIT without VM_RESET */
	assert_false(rm_state_change_valid(EXITED, NONE));   /* VM_DEALLOCATE while the VMM may live */
	assert_false(rm_state_change_valid(RUNNING, NONE));
	assert_false(rm_state_change_valid(RUNNING, RESETTING)); /* VM_RESET of a running VM */
	assert_false(rm_state_change_valid(PAUSED, PAUSED));
	assert_false(rm_state_change_valid(EXITED, RUNNING));
	assert_false(rm_state_change_valid(RESETTING, NONE));
	assert_false(rm_state_change_valid(NONE, INIT));
	assert_false(rm_state_change_valid(AUTH, READY));
	assert_false(rm_state_change_valid(LOAD, AUTH));     /* bothy never authenticates */
}

static void test_has_vmm(void **state)
{
	(void)state;
	assert_true(rm_state_has_vmm(READY));
	assert_true(rm_state_has_vmm(RUNNING));
	assert_true(rm_state_has_vmm(PAUSED));
	/* no VMM has been started, or its teardown is complete */
	assert_false(rm_state_has_vmm(NONE));
	assert_false(rm_state_has_vmm(LOAD));
	assert_false(rm_state_has_vmm(INIT));
	assert_false(rm_state_has_vmm(INIT_FAILED));
	assert_false(rm_state_has_vmm(RESET));
	assert_false(rm_state_has_vmm(AUTH));
	assert_false(rm_state_has_vmm(7));
	assert_false(rm_state_has_vmm(12));
	assert_false(rm_state_has_vmm(255));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbering),
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_no_self_edges),
		cmocka_unit_test(test_unknown_states),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_has_vmm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
