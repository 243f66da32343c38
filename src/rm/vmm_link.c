/* The VMM's end of the link to bothyd (rm/vmm_link.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "core/log.h"
#include "core/vm.h"
#include "rm/hcall_peer.h"
#include "rm/link.h"
#include "rm/proto.h"
#include "rm/vmm_link.h"

struct vmm_link {
	int fd;
	struct hcall_peer *hcall; /* on the same fd: only it reads the link while the VM runs */
	struct rm_reasm reasm;
	struct rm_message msg;
	uint8_t buf[RM_MSG_MAX];
};

int vmm_link_open(int fd, int hcall_timeout_ms, struct vmm_link **out)
{
	struct vmm_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	ret = hcall_peer_open(fd, hcall_timeout_ms, &l->hcall);
	if (ret) {
		free(l);
		return ret;
	}
	l->fd = fd;
	rm_reasm_init(&l->reasm);
	*out = l;
	return 0;
}

void vmm_link_close(struct vmm_link *l)
{
	if (!l)
		return;
	hcall_peer_close(l->hcall);
	close(l->fd);
	free(l);
}

struct hcall_peer *vmm_link_hcall_peer(struct vmm_link *l)
{
	return l->hcall;
}

/* Encodes @obj by @d's layout (a reply: after the u32 @err) and sends it frame by frame. */
static int link_send(struct vmm_link *l, enum rm_msg_type type, uint16_t seq, const struct rm_msg_desc *d,
		     const void *obj, uint32_t err)
{
	size_t len;
	int ret = rm_link_encode(d, type, err, obj, l->buf, &len);

	return ret ? ret : rm_link_send(l->fd, type, seq, d->id, l->buf, len, -1, 0);
}

/* Receives one whole message; 1 and @l->msg filled, 0 on EOF, -errno. Bad frames are dropped. */
static int link_recv(struct vmm_link *l)
{
	uint8_t frame[RM_FRAME_MAX];

	for (;;) {
		ssize_t n = rm_link_recv_frame(l->fd, frame, 0, NULL);
		int r;

		if (n < 0 && n != -EMSGSIZE)
			return (int)n;
		if (n == 0)
			return 0;
		r = n < 0 ? (int)n : rm_reasm_feed(&l->reasm, frame, (size_t)n, &l->msg);
		if (r == 1)
			return 1;
		if (r < 0)
			log_warn("rm link: frame dropped: %s", strerror(-r));
	}
}

int vmm_link_ready(struct vmm_link *l, unsigned cpus)
{
	struct rm_vmm_ready_ntf ready = { .vmm_pid = (uint32_t)getpid(), .cpus = cpus };

	return link_send(l, RM_TYPE_NOTIFY, 0, &rm_msgs[RM_MSG_VMM_READY], &ready, 0);
}

static int apply_boot_regs(struct vm *vm, const struct rm_vmm_start_req *start)
{
	struct arch_boot_reg regs[RM_MAX_BOOT_REGS];

	for (unsigned i = 0; i < start->nr_regs; i++)
		regs[i] = (struct arch_boot_reg){ .set = start->regs[i].reg_set, .index = start->regs[i].reg_index,
						  .value = start->regs[i].value };
	return arch_set_boot_regs(vm, regs, start->nr_regs);
}

int vmm_link_wait_start(struct vmm_link *l, struct vm *vm)
{
	struct rm_vmm_start_req *start;
	int ret;

	start = malloc(sizeof(*start));
	if (!start)
		return -ENOMEM;
	for (;;) {
		uint32_t err;

		ret = link_recv(l);
		if (ret <= 0) {
			ret = ret ? ret : 1;
			break;
		}
		if (l->msg.hdr.type != RM_TYPE_REQUEST || l->msg.hdr.msg_id != RM_ID_VMM_START)
			continue; /* nothing else is expected before the start */
		if (rm_decode(rm_msgs[RM_MSG_VMM_START].req, l->msg.data, l->msg.len, start)) {
			err = RM_ERR_MSG_INVALID;
		} else {
			ret = apply_boot_regs(vm, start);
			err = ret == -EINVAL ? RM_ERR_ARGUMENT_INVALID : ret ? RM_ERR_NORESOURCE : RM_OK;
		}
		ret = link_send(l, RM_TYPE_REPLY, l->msg.hdr.seq, &rm_msgs[RM_MSG_VMM_START], NULL, err);
		if (ret || err == RM_OK)
			break;
		log_warn("rm link: VMM_START refused: %s", rm_err_name(err));
	}
	free(start);
	return ret;
}

static void send_exited(struct vmm_link *l, const struct rm_vm_exited_ntf *ntf)
{
	int ret = link_send(l, RM_TYPE_NOTIFY, 0, &rm_msgs[RM_MSG_VMM_EXITED], ntf, 0);

	if (ret)
		log_info("rm link: cannot report the exit: %s", strerror(-ret));
}

void vmm_link_exited(struct vmm_link *l, const struct vm_stop_status *st)
{
	struct rm_vm_exited_ntf ntf = { .code = (uint32_t)st->code };

	switch (st->reason) {
	case VM_STOP_POWEROFF:
		ntf.reason = RM_EXIT_POWEROFF;
		ntf.exit_type = RM_EXIT_TYPE_PLATFORM_OFF;
		break;
	case VM_STOP_REBOOT:
		ntf.reason = RM_EXIT_REBOOT;
		ntf.exit_type = RM_EXIT_TYPE_PLATFORM_RESET;
		break;
	case VM_STOP_DEBUG_EXIT:
		ntf.reason = RM_EXIT_DEBUG_EXIT;
		ntf.exit_type = RM_EXIT_TYPE_VM_EXIT;
		break;
	case VM_STOP_SIGNAL:
		ntf.reason = RM_EXIT_STOPPED;
		ntf.exit_type = RM_EXIT_TYPE_VM_EXIT;
		break;
	case VM_STOP_CRASH:
		ntf.reason = RM_EXIT_CRASH;
		ntf.exit_type = RM_EXIT_TYPE_SOFTWARE_ERROR;
		break;
	case VM_STOP_NONE:
	case VM_STOP_VMM_ERROR:
		ntf.reason = RM_EXIT_VMM_ERROR;
		ntf.exit_type = RM_EXIT_TYPE_SOFTWARE_ERROR;
		break;
	}
	/* The detail is free text from the VMM: keep it to what the wire string carries. */
	snprintf(ntf.detail, sizeof(ntf.detail), "%s", st->detail);
	send_exited(l, &ntf);
}

void vmm_link_failed(struct vmm_link *l, const char *detail)
{
	struct rm_vm_exited_ntf ntf = { .reason = RM_EXIT_VMM_ERROR, .exit_type = RM_EXIT_TYPE_SOFTWARE_ERROR };

	snprintf(ntf.detail, sizeof(ntf.detail), "%s", detail);
	send_exited(l, &ntf);
}
