/*
 * The VM lifecycle (docs/rpc.md): the RM's states and the one table of
 * transitions bothyd may make. Every state change goes through
 * rm_state_change_valid(); a request whose transition is not in the table gets
 * VM_STATE and changes nothing.
 */
#ifndef BOTHY_RM_LIFECYCLE_H
#define BOTHY_RM_LIFECYCLE_H

#include <stdbool.h>

#include "rm/proto.h"

/* Is @from -> @to an edge of the table? (Unknown state values never are.) */
bool rm_state_change_valid(unsigned from, unsigned to);

/* States in which the VM has a live VMM process: READY, RUNNING, PAUSED. */
bool rm_state_has_vmm(unsigned state);

#endif
