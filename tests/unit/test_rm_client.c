/*
 * The resource manager's client library against an in-process fake bothyd on
 * a socketpair: calls, several in flight answered out of order, notifications
 * queued while a reply is awaited, multi-frame replies, fds with replies, bad
 * and unasked replies, a closed link, timeouts, seq reuse; and the --reg parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rm/client.h"

struct fake {
	int srv;              /* the fake bothyd's end */
	struct rm_client *c;  /* the client on the other end */
	struct rm_reasm *reasm;
	struct rm_message *msg;
};

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->srv = sv[0];
	assert_int_equal(rm_client_from_fd(sv[1], &f->c), 0);
	f->reasm = malloc(sizeof(*f->reasm));
	f->msg = malloc(sizeof(*f->msg));
	assert_non_null(f->reasm);
	assert_non_null(f->msg);
	rm_reasm_init(f->reasm);
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	rm_client_close(f->c);
	if (f->srv >= 0)
		close(f->srv);
	free(f->reasm);
	free(f->msg);
	free(f);
	return 0;
}

/* The next whole request the client sent (blocks: call it after the client has sent one). */
static const struct rm_message *fake_recv(struct fake *f)
{
	uint8_t frame[RM_FRAME_MAX];
	ssize_t n;

	for (;;) {
		n = recv(f->srv, frame, sizeof(frame), 0);
		assert_true(n > 0);
		if (rm_reasm_feed(f->reasm, frame, (size_t)n, f->msg) == 1)
			break;
	}
	assert_int_equal(f->msg->hdr.type, RM_TYPE_REQUEST);
	return f->msg;
}

/* Sends a message in frames; @pass_fd (>= 0) rides on the first frame as SCM_RIGHTS. */
static void fake_send_raw(struct fake *f, enum rm_msg_type type, uint16_t seq, uint32_t msg_id, const uint8_t *data,
			  size_t len, int pass_fd)
{
	unsigned frames = rm_frame_count(len);

	assert_true(frames > 0);
	for (unsigned i = 0; i < frames; i++) {
		uint8_t frame[RM_FRAME_MAX];
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = { .iov_base = frame };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

		iov.iov_len = rm_frame_build(frame, type, seq, msg_id, data, len, i);
		if (i == 0 && pass_fd >= 0) {
			struct cmsghdr *cm;

			mh.msg_control = control.buf;
			mh.msg_controllen = sizeof(control.buf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
		}
		assert_int_equal(sendmsg(f->srv, &mh, 0), (ssize_t)iov.iov_len);
	}
}

/* A reply: u32 @err, then (@obj != NULL) @obj encoded by @msg_id's reply layout. */
static void fake_reply(struct fake *f, uint16_t seq, uint32_t msg_id, uint32_t err, const void *obj, int pass_fd)
{
	const struct rm_msg_desc *desc = rm_msg_find(msg_id);
	static uint8_t buf[RM_MSG_MAX];
	size_t len = 0;

	assert_non_null(desc);
	rm_put32(buf, err);
	if (obj)
		assert_int_equal(rm_encode(desc->rep, obj, buf + 4, sizeof(buf) - 4, &len), 0);
	fake_send_raw(f, RM_TYPE_REPLY, seq, msg_id, buf, 4 + len, pass_fd);
}

static void fake_notify(struct fake *f, uint32_t msg_id, const void *obj)
{
	const struct rm_msg_desc *desc = rm_msg_find(msg_id);
	static uint8_t buf[RM_MSG_MAX];
	size_t len;

	assert_non_null(desc);
	assert_int_equal(rm_encode(desc->req, obj, buf, sizeof(buf), &len), 0);
	fake_send_raw(f, RM_TYPE_NOTIFY, 0, msg_id, buf, len, -1);
}

static void test_call_round_trip(void **state)
{
	struct fake *f = *state;
	struct rm_vm_allocate_req alloc = { .vmid = 0, .name = "web" }, got;
	struct rm_vmid vmid = { .vmid = 7 }, rep_vmid;
	struct rm_version_rep ver = { .major = 1, .minor = 0, .features = RM_FEAT_CONSOLE_FD, .max_msg = RM_MSG_MAX,
				       .max_inflight = 16, .max_vms = 64, .server = "bothyd test" }, rep_ver;
	const struct rm_message *m;
	uint32_t err = 99;
	uint16_t seq;
	int fd = 5;

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_ALLOCATE, &alloc, &seq), 0);
	m = fake_recv(f);
	assert_int_equal(m->hdr.msg_id, RM_ID_VM_ALLOCATE);
	assert_int_equal(m->hdr.seq, seq);
	assert_int_equal(rm_decode(rm_msg_find(RM_ID_VM_ALLOCATE)->req, m->data, m->len, &got), 0);
	assert_string_equal(got.name, "web");
	fake_reply(f, seq, RM_ID_VM_ALLOCATE, RM_OK, &vmid, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, &rep_vmid, &fd), 0);
	assert_int_equal(err, RM_OK);
	assert_int_equal(rep_vmid.vmid, 7);
	assert_int_equal(fd, -1);
	/* The seq is free again. */
	assert_int_equal(rm_client_wait(f->c, seq, 0, &err, NULL, NULL), -ENOENT);

	/* An empty request, and an RM error. */
	assert_int_equal(rm_client_send(f->c, RM_ID_GET_VERSION, NULL, &seq), 0);
	m = fake_recv(f);
	assert_int_equal(m->len, 0);
	fake_reply(f, seq, RM_ID_GET_VERSION, RM_OK, &ver, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, &rep_ver, NULL), 0);
	assert_int_equal(err, RM_OK);
	assert_string_equal(rep_ver.server, "bothyd test");
	assert_int_equal(rep_ver.max_inflight, 16);

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), 0);
	fake_recv(f);
	fake_reply(f, seq, RM_ID_VM_START, RM_ERR_VM_STATE, NULL, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), 0);
	assert_int_equal(err, RM_ERR_VM_STATE);

	/* Not requests, or a payload missing. */
	assert_int_equal(rm_client_send(f->c, RM_ID_NOTIFY_VM_STATUS, &vmid, &seq), -EINVAL);
	assert_int_equal(rm_client_send(f->c, 0x12345678, &vmid, &seq), -EINVAL);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, NULL, &seq), -EINVAL);
}

static void test_out_of_order(void **state)
{
	struct fake *f = *state;
	struct rm_vmid a = { .vmid = 1 }, b = { .vmid = 2 };
	struct rm_vm_state_rep sa = { .vm_state = RM_VM_RUNNING }, sb = { .vm_state = RM_VM_PAUSED }, rep;
	uint16_t seq_a, seq_b;
	uint32_t err;

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_GET_STATE, &a, &seq_a), 0);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_GET_STATE, &b, &seq_b), 0);
	assert_int_not_equal(seq_a, seq_b);
	assert_int_equal(fake_recv(f)->hdr.seq, seq_a);
	assert_int_equal(fake_recv(f)->hdr.seq, seq_b);
	fake_reply(f, seq_b, RM_ID_VM_GET_STATE, RM_OK, &sb, -1);
	fake_reply(f, seq_a, RM_ID_VM_GET_STATE, RM_OK, &sa, -1);
	/* Waiting for a reads b's reply too, which waits for its own caller. */
	assert_int_equal(rm_client_wait(f->c, seq_a, 1000, &err, &rep, NULL), 0);
	assert_int_equal(rep.vm_state, RM_VM_RUNNING);
	assert_int_equal(rm_client_wait(f->c, seq_b, 0, &err, &rep, NULL), 0);
	assert_int_equal(rep.vm_state, RM_VM_PAUSED);
}

static void test_notification_while_waiting(void **state)
{
	struct fake *f = *state;
	struct rm_vm_status_ntf st = { .vmid = 3, .vm_status = RM_VM_RESET };
	struct rm_vm_exited_ntf ex = { .vmid = 3, .exit_type = RM_EXIT_TYPE_PLATFORM_OFF, .reason = RM_EXIT_POWEROFF,
				       .code = 0, .detail = "guest powered off" };
	struct rm_vmid vmid = { .vmid = 3 };
	struct rm_notification n;
	uint32_t err;
	uint16_t seq;

	assert_int_equal(rm_client_next_notification(f->c, &n, 0), -ETIMEDOUT);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_RESET, &vmid, &seq), 0);
	fake_recv(f);
	fake_notify(f, RM_ID_NOTIFY_VM_EXITED, &ex);
	fake_notify(f, RM_ID_NOTIFY_VM_STATUS, &st);
	fake_reply(f, seq, RM_ID_VM_RESET, RM_OK, NULL, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), 0);
	assert_int_equal(err, RM_OK);
	assert_int_equal(rm_client_notifications_queued(f->c), 2);
	assert_int_equal(rm_client_next_notification(f->c, &n, 0), 0);
	assert_int_equal(n.msg_id, RM_ID_NOTIFY_VM_EXITED);
	assert_int_equal(n.exited.vmid, 3);
	assert_int_equal(n.exited.reason, RM_EXIT_POWEROFF);
	assert_string_equal(n.exited.detail, "guest powered off");
	assert_int_equal(rm_client_next_notification(f->c, &n, 0), 0);
	assert_int_equal(n.msg_id, RM_ID_NOTIFY_VM_STATUS);
	assert_int_equal(n.status.vm_status, RM_VM_RESET);
	assert_int_equal(rm_client_next_notification(f->c, &n, 20), -ETIMEDOUT);
	assert_int_equal(rm_client_notifications_lost(f->c), 0);
}

static void test_notification_queue_bounded(void **state)
{
	struct fake *f = *state;
	struct rm_vm_status_ntf st = { .vmid = 4, .vm_status = RM_VM_RUNNING };
	struct rm_notification n;
	unsigned got = 0;

	for (unsigned i = 0; i < RM_CLIENT_NOTIFY_QUEUE + 10; i++) {
		st.app_status = (uint16_t)i;
		fake_notify(f, RM_ID_NOTIFY_VM_STATUS, &st);
		/* Keep the socket buffer from filling: the client reads as a watcher's loop would. */
		if (i % 64 == 63)
			assert_true(rm_client_process(f->c) > 0);
	}
	assert_int_equal(rm_client_process(f->c), 10); /* read, but no room: dropped */
	while (rm_client_next_notification(f->c, &n, 0) == 0) {
		assert_int_equal(n.status.app_status, got); /* in order; the newest were dropped */
		got++;
	}
	assert_int_equal(got, RM_CLIENT_NOTIFY_QUEUE);
	assert_int_equal(rm_client_notifications_lost(f->c), 10);
}

static void test_multi_frame_reply(void **state)
{
	struct fake *f = *state;
	struct rm_vm_list_rep *list = calloc(1, sizeof(*list)), *rep = calloc(1, sizeof(*rep));
	uint32_t err;
	uint16_t seq;

	assert_non_null(list);
	assert_non_null(rep);
	list->nr = 200;
	for (unsigned i = 0; i < list->nr; i++) {
		list->vms[i] = (struct rm_vm_info){ .vmid = (uint16_t)(i + 1), .state = RM_VM_RUNNING,
						    .owner_uid = 1000 + i, .vmm_pid = 4000 + i, .cpus = 2,
						    .memory = 512ull << 20 };
		snprintf(list->vms[i].name, sizeof(list->vms[i].name), "vm-number-%u", i);
	}
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_LIST, NULL, &seq), 0);
	fake_recv(f);
	fake_reply(f, seq, RM_ID_VM_LIST, RM_OK, list, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, rep, NULL), 0);
	assert_int_equal(err, RM_OK);
	assert_int_equal(rep->nr, 200);
	assert_int_equal(rep->vms[199].vmid, 200);
	assert_int_equal(rep->vms[199].owner_uid, 1199);
	assert_string_equal(rep->vms[123].name, "vm-number-123");
	free(list);
	free(rep);
}

static void test_fd_with_reply(void **state)
{
	struct fake *f = *state;
	struct rm_vmid vmid = { .vmid = 1 };
	int pipefd[2], fd = -1;
	uint32_t err;
	uint16_t seq;
	char buf[8] = { 0 };

	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_CONSOLE_ATTACH, &vmid, &seq), 0);
	fake_recv(f);
	fake_reply(f, seq, RM_ID_VM_CONSOLE_ATTACH, RM_OK, NULL, pipefd[1]);
	close(pipefd[1]);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, &fd), 0);
	assert_int_equal(err, RM_OK);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hi", 2), 2);
	close(fd);
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");
	/* Every copy of the write end is closed: the client kept none. */
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 0);

	/* An fd on a notification, or with an error reply, is closed, not leaked. */
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_CONSOLE_ATTACH, &vmid, &seq), 0);
	fake_recv(f);
	fake_reply(f, seq, RM_ID_VM_CONSOLE_ATTACH, RM_ERR_DENIED, NULL, pipefd[1]);
	close(pipefd[1]);
	fd = 1234;
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, &fd), 0);
	assert_int_equal(err, RM_ERR_DENIED);
	assert_int_equal(fd, -1);
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 0);
	close(pipefd[0]);
}

static void test_bad_reply(void **state)
{
	struct fake *f = *state;
	struct rm_vmid vmid = { .vmid = 1 };
	struct rm_vm_state_rep rep;
	uint8_t bad[8] = { 0 };
	uint32_t err;
	uint16_t seq;

	/* OK, then too short for the state layout. */
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_GET_STATE, &vmid, &seq), 0);
	fake_recv(f);
	fake_send_raw(f, RM_TYPE_REPLY, seq, RM_ID_VM_GET_STATE, bad, 6, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, &rep, NULL), -EBADMSG);
	/* Trailing bytes, when nobody wants the contents either. */
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), 0);
	fake_recv(f);
	fake_send_raw(f, RM_TYPE_REPLY, seq, RM_ID_VM_START, bad, 8, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), -EBADMSG);
	/* Shorter than the error code. */
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), 0);
	fake_recv(f);
	fake_send_raw(f, RM_TYPE_REPLY, seq, RM_ID_VM_START, bad, 2, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), -EBADMSG);
	/* A garbage frame and a bad notification are dropped; the link goes on. */
	assert_int_equal(send(f->srv, "garbage!!", 9, 0), 9);
	fake_send_raw(f, RM_TYPE_NOTIFY, 0, RM_ID_NOTIFY_VM_STATUS, bad, 3, -1);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), 0);
	fake_recv(f);
	fake_reply(f, seq, RM_ID_VM_START, RM_OK, NULL, -1);
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), 0);
	assert_int_equal(err, RM_OK);
	assert_int_equal(rm_client_notifications_queued(f->c), 0);
	assert_int_equal(rm_client_messages_dropped(f->c), 2);
}

static void test_unknown_seq_dropped(void **state)
{
	struct fake *f = *state;
	struct rm_vmid vmid = { .vmid = 9 }, other = { .vmid = 66 }, rep;
	struct rm_vm_allocate_req alloc = { 0 };
	uint32_t err;
	uint16_t seq;

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_ALLOCATE, &alloc, &seq), 0);
	fake_recv(f);
	fake_reply(f, (uint16_t)(seq + 100), RM_ID_VM_ALLOCATE, RM_OK, &other, -1); /* nobody's seq */
	fake_reply(f, seq, RM_ID_VM_START, RM_OK, NULL, -1);                       /* right seq, wrong message */
	fake_reply(f, seq, RM_ID_VM_ALLOCATE, RM_OK, &vmid, -1);
	fake_reply(f, seq, RM_ID_VM_ALLOCATE, RM_OK, &other, -1); /* a duplicate, after it was collected */
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, &rep, NULL), 0);
	assert_int_equal(rep.vmid, 9);
	assert_true(rm_client_process(f->c) >= 0); /* the duplicate may have been read while waiting */
	assert_int_equal(rm_client_messages_dropped(f->c), 3);
}

static void test_connection_closed(void **state)
{
	struct fake *f = *state;
	struct rm_vm_status_ntf st = { .vmid = 3, .vm_status = RM_VM_EXITED };
	struct rm_vmid vmid = { .vmid = 1 };
	struct rm_notification n;
	uint32_t err;
	uint16_t seq;

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_STOP, &(struct rm_vm_stop_req){ .vmid = 1 }, &seq), 0);
	fake_recv(f);
	fake_notify(f, RM_ID_NOTIFY_VM_STATUS, &st);
	close(f->srv);
	f->srv = -1;
	assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), -ECONNRESET);
	/* What came before the end is still delivered, then the end. */
	assert_int_equal(rm_client_next_notification(f->c, &n, 1000), 0);
	assert_int_equal(n.status.vm_status, RM_VM_EXITED);
	assert_int_equal(rm_client_next_notification(f->c, &n, -1), -ECONNRESET);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), -ECONNRESET);
}

static void test_timeout_and_abandon(void **state)
{
	struct fake *f = *state;
	struct rm_vmid vmid = { .vmid = 1 };
	uint32_t err;
	uint16_t seq, seqs[RM_CLIENT_MAX_INFLIGHT];

	rm_client_set_timeout(f->c, 30);
	assert_int_equal(rm_client_call(f->c, RM_ID_VM_INIT, &vmid, &err, NULL, NULL), -ETIMEDOUT);
	seq = fake_recv(f)->hdr.seq;
	/* The abandoned request keeps its seq until its late reply comes, which is then dropped. */
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT - 1; i++) {
		assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seqs[i]), 0);
		assert_int_not_equal(seqs[i], seq);
		fake_recv(f);
	}
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seqs[15]), -EBUSY);
	fake_reply(f, seq, RM_ID_VM_INIT, RM_OK, NULL, -1);
	assert_int_equal(rm_client_process(f->c), 1);
	assert_int_equal(rm_client_messages_dropped(f->c), 0);
	assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seqs[15]), 0);
	fake_recv(f);
	for (unsigned i = 0; i < RM_CLIENT_MAX_INFLIGHT; i++) {
		fake_reply(f, seqs[i], RM_ID_VM_START, RM_OK, NULL, -1);
		assert_int_equal(rm_client_wait(f->c, seqs[i], 1000, &err, NULL, NULL), 0);
	}
}

static void test_seq_wraps_around_inflight(void **state)
{
	struct fake *f = *state;
	struct rm_vmid vmid = { .vmid = 1 };
	uint16_t held, seq, prev;
	uint32_t err;

	assert_int_equal(rm_client_send(f->c, RM_ID_VM_INIT, &vmid, &held), 0);
	fake_recv(f);
	prev = held;
	for (unsigned i = 0; i < 70000; i++) {
		assert_int_equal(rm_client_send(f->c, RM_ID_VM_START, &vmid, &seq), 0);
		assert_int_not_equal(seq, held);
		/* Cyclic: the next seq, skipping the one still in flight. */
		assert_int_equal(seq, (uint16_t)(prev + 1) == held ? (uint16_t)(held + 1) : (uint16_t)(prev + 1));
		prev = seq;
		fake_recv(f);
		fake_reply(f, seq, RM_ID_VM_START, RM_OK, NULL, -1);
		assert_int_equal(rm_client_wait(f->c, seq, 1000, &err, NULL, NULL), 0);
	}
	fake_reply(f, held, RM_ID_VM_INIT, RM_OK, NULL, -1);
	assert_int_equal(rm_client_wait(f->c, held, 1000, &err, NULL, NULL), 0);
}

static void test_parse_reg(void **state)
{
	struct rm_boot_context_req r = { .vmid = 5 };

	(void)state;
	assert_int_equal(rm_client_parse_reg("x:3=0x1000", &r), 0);
	assert_int_equal(r.reg_set, RM_REG_SET_X);
	assert_int_equal(r.reg_index, 3);
	assert_int_equal(r.value, 0x1000);
	assert_int_equal(r.vmid, 5);
	assert_int_equal(rm_client_parse_reg("pc:0=0xffffffff80000000", &r), 0);
	assert_int_equal(r.reg_set, RM_REG_SET_PC);
	assert_int_equal(r.value, 0xffffffff80000000ull);
	assert_int_equal(rm_client_parse_reg("SP=4096", &r), 0);
	assert_int_equal(r.reg_set, RM_REG_SET_SP);
	assert_int_equal(r.reg_index, 0);
	assert_int_equal(r.value, 4096);
	assert_int_equal(rm_client_parse_reg("7:255=18446744073709551615", &r), 0);
	assert_int_equal(r.reg_set, 7);
	assert_int_equal(r.reg_index, 255);
	assert_int_equal(r.value, UINT64_MAX);

	static const char *const bad[] = {
		"", "x", "x=1", "x:1", "x:=1", "x:1=", "pc:1=0", "sp:2=0", "256:0=1", "x:256=1", "y:0=1",
		"x:0=-1", "x:0=18446744073709551616", "x:0=12abc", "x:-1=0", ":0=1", "x:0:0=1", "x:0=0x",
		"pc= 1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rm_client_parse_reg(bad[i], &r) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	}
}

static void test_parse_state(void **state)
{
	(void)state;
	assert_int_equal(rm_client_parse_state("RUNNING"), RM_VM_RUNNING);
	assert_int_equal(rm_client_parse_state("reset"), RM_VM_RESET);
	assert_int_equal(rm_client_parse_state("Init_Failed"), RM_VM_INIT_FAILED);
	assert_int_equal(rm_client_parse_state("?"), -EINVAL);
	assert_int_equal(rm_client_parse_state("RUN"), -EINVAL);
	assert_int_equal(rm_client_parse_state(""), -EINVAL);
}

static void test_connect_errors(void **state)
{
	struct rm_client *c = NULL;
	char longpath[200];

	(void)state;
	assert_int_equal(rm_client_connect("/nonexistent/bothyd.sock", &c), -ENOENT);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(rm_client_connect(longpath, &c), -ENAMETOOLONG);
	assert_null(c);
	setenv(RM_CLIENT_SOCKET_ENV, "/tmp/from-env.sock", 1);
	assert_string_equal(rm_client_socket_path(NULL), "/tmp/from-env.sock");
	assert_string_equal(rm_client_socket_path("/x.sock"), "/x.sock");
	unsetenv(RM_CLIENT_SOCKET_ENV);
	assert_string_equal(rm_client_socket_path(NULL), RM_CLIENT_DEFAULT_SOCKET);
	rm_client_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_round_trip, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_notification_while_waiting, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_notification_queue_bounded, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_multi_frame_reply, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fd_with_reply, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_bad_reply, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_seq_dropped, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_connection_closed, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_abandon, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_seq_wraps_around_inflight, fake_setup, fake_teardown),
		cmocka_unit_test(test_parse_reg),
		cmocka_unit_test(test_parse_state),
		cmocka_unit_test(test_connect_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
