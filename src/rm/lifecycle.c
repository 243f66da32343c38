/* The VM lifecycle table (rm/lifecycle.h). */
#include "rm/lifecycle.h"

#define S(x) (1u << RM_VM_##x)

/*
 * allowed_from[to]: the states a VM may move to @to from. Gunyah's RM table
 * (vm_mgnt_state_change_valid), with bothy's additions marked:
 *   LOAD <- NONE             VM_ALLOCATE
 *   INIT <- LOAD | RESET     VM_CONFIG (bothy: also from RESET, to configure anew)
 *   READY <- INIT | RESET    VM_INIT (bothy: RESET -> READY relaunches with the kept config)
 *   RUNNING <- READY|PAUSED  VM_START, VM_RESUME
 *   PAUSED <- RUNNING        VM_PAUSE
 *   INIT_FAILED <- INIT | READY | LOAD | AUTH | RESET
 *   EXITED <- RUNNING | PAUSED | READY (bothy: a VMM that dies before VM_START)
 *   RESETTING <- EXITED | READY | INIT_FAILED
 *   RESET <- RESETTING
 *   NONE <- RESET | LOAD | INIT (bothy: VM_DEALLOCATE of a VM that never ran)
 * AUTH (image authentication) is in the numbering but bothy has no use for it.
 */
static const unsigned allowed_from[RM_VM_STATE_MAX + 1] = {
	[RM_VM_NONE] = S(RESET) | S(LOAD) | S(INIT),
	[RM_VM_LOAD] = S(NONE),
	[RM_VM_INIT] = S(LOAD) | S(RESET),
	[RM_VM_READY] = S(INIT) | S(RESET),
	[RM_VM_RUNNING] = S(READY) | S(PAUSED),
	[RM_VM_PAUSED] = S(RUNNING),
	[RM_VM_AUTH] = 0,
	[RM_VM_INIT_FAILED] = S(INIT) | S(READY) | S(LOAD) | S(AUTH) | S(RESET),
	[RM_VM_EXITED] = S(RUNNING) | S(PAUSED) | S(READY),
	[RM_VM_RESETTING] = S(EXITED) | S(READY) | S(INIT_FAILED),
	[RM_VM_RESET] = S(RESETTING),
};

static bool state_known(unsigned s)
{
	return s <= RM_VM_STATE_MAX && s != 7;
}

bool rm_state_change_valid(unsigned from, unsigned to)
{
	if (!state_known(from) || !state_known(to))
		return false;
	return allowed_from[to] & (1u << from);
}

bool rm_state_has_vmm(unsigned state)
{
	return state == RM_VM_READY || state == RM_VM_RUNNING || state == RM_VM_PAUSED;
}
