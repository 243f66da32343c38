/*
 * The VMM's end of its link to bothyd (docs/resource-manager.md): `bothy run --rm-control FD` says
 * VMM_READY once the VM is built, waits for VMM_START (the boot context), runs, and says VMM_EXITED
 * on the way out. Forwarded hypercalls travel on the same link (VMM_HCALL / VMM_HCALL_RET), through
 * the link's hcall peer (rm/hcall_peer.h), the same code that serves `--hcall-handler`.
 * Blocking I/O: the main thread uses the link before and after vm_run(); during the run only the
 * (serialised) hcall peer does.
 */
#ifndef BOTHY_RM_VMM_LINK_H
#define BOTHY_RM_VMM_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "bothy/bothy.h"

struct hcall_peer;
struct vmm_link;
struct vm;

/* Takes @fd (a SOCK_SEQPACKET end from bothyd); -errno. */
int vmm_link_open(int fd, int hcall_timeout_ms, struct vmm_link **out);
void vmm_link_close(struct vmm_link *l);
/* VMM_READY {pid, cpus}. */
int vmm_link_ready(struct vmm_link *l, unsigned cpus);
/*
 * Waits for VMM_START and applies its registers to vCPU 0 of @vm. 0: run; 1: bothyd closed the
 * link (exit quietly); -errno: the link failed. A bad register set is answered ARGUMENT_INVALID
 * and the wait goes on.
 */
int vmm_link_wait_start(struct vmm_link *l, struct vm *vm);
/* VMM_EXITED from the way the VM stopped (best effort: bothyd may be gone). */
void vmm_link_exited(struct vmm_link *l, const struct vm_stop_status *st);
/* Also sent when the VM could not be built (before READY). */
void vmm_link_failed(struct vmm_link *l, const char *detail);
/* The VM owner at bothyd, answering forwarded hypercalls on this link (rm/hcall_peer.h). */
struct hcall_peer *vmm_link_hcall_peer(struct vmm_link *l);

#endif
