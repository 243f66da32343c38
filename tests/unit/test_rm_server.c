/*
 * bothyd without a real VMM: the VMM command line built from a configuration and the checks made
 * at VM_CONFIG time, the shared boot-register rule, and the request handlers driven over a
 * socketpair (vmid policy, names, authorisation, lifecycle refusals, garbage, VM_LIST filtering,
 * the in-flight limit), plus VM_INIT of a VMM that dies at once (INIT_FAILED, reset, relaunch).
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

#include "arch/arch.h"
#include "rm/proto.h"
#include "rm/server_internal.h"
#include "rm/vmm_link.h"

static struct rm_vm_config_req *good_config(void)
{
	struct rm_vm_config_req *cfg = calloc(1, sizeof(*cfg));

	assert_non_null(cfg);
	cfg->cpus = 2;
	cfg->memory = 256ull << 20;
	cfg->console = RM_CONSOLE_VIRTIO;
	cfg->flags = RM_CFG_RNG;
	strcpy(cfg->kernel, "/boot/vmlinuz");
	strcpy(cfg->initrd, "/boot/initrd.img");
	strcpy(cfg->cmdline, "console=hvc0 quiet");
	cfg->vsock_cid = 3;
	strcpy(cfg->vsock_path, "/run/vm.vsock");
	cfg->nr_items = 3;
	cfg->items[0] = (struct rm_cfg_item){ RM_ITEM_DISK, "path=/img/root.img,ro" };
	cfg->items[1] = (struct rm_cfg_item){ RM_ITEM_NET, "tap=tap0,mac=02:00:00:00:00:01" };
	cfg->items[2] = (struct rm_cfg_item){ RM_ITEM_HCALL_RANGE, "0xc6000000-0xc60000ff=forward" };
	return cfg;
}

static bool argv_has(const struct rm_vmm_argv *a, const char *opt, const char *val)
{
	for (int i = 0; i + (val ? 1 : 0) < a->argc; i++)
		if (!strcmp(a->argv[i], opt) && (!val || !strcmp(a->argv[i + 1], val)))
			return true;
	return false;
}

static void test_argv_from_config(void **state)
{
	struct rm_vm_config_req *cfg = good_config();
	struct rm_vmm_argv a;
	char why[320];

	(void)state;
	assert_int_equal(rm_vmm_argv_build(cfg, 700, &a, why, sizeof(why)), RM_OK);
	assert_string_equal(a.argv[0], "bothy");
	assert_string_equal(a.argv[1], "run");
	assert_null(a.argv[a.argc]);
	assert_true(argv_has(&a, "--rm-control", "3"));
	assert_true(argv_has(&a, "--console-fd", "4"));
	assert_true(argv_has(&a, "--kernel", "/boot/vmlinuz"));
	assert_true(argv_has(&a, "--cpus", "2"));
	assert_true(argv_has(&a, "--memory", "268435456"));
	assert_true(argv_has(&a, "--on-reboot", "exit"));
	assert_true(argv_has(&a, "--console", "virtio"));
	assert_true(argv_has(&a, "--hcall-timeout", "700"));
	assert_true(argv_has(&a, "--initrd", "/boot/initrd.img"));
	assert_true(argv_has(&a, "--cmdline", "console=hvc0 quiet"));
	assert_true(argv_has(&a, "--vsock", "cid=3,path=/run/vm.vsock"));
	assert_true(argv_has(&a, "--rng", NULL));
	assert_false(argv_has(&a, "--debug-exit", NULL));
	assert_false(argv_has(&a, "--abi", NULL));
	assert_true(argv_has(&a, "--disk", "path=/img/root.img,ro"));
	assert_true(argv_has(&a, "--net", "tap=tap0,mac=02:00:00:00:00:01"));
	assert_true(argv_has(&a, "--hcall-filter", "0xc6000000-0xc60000ff=forward"));

	cfg->console = RM_CONSOLE_SERIAL;
	assert_int_equal(rm_vmm_argv_build(cfg, 1000, &a, why, sizeof(why)), RM_OK);
	assert_true(argv_has(&a, "--console", "stdio"));
	free(cfg);
}

static void test_config_refused(void **state)
{
	struct rm_vm_config_req *cfg = good_config();
	struct rm_vmm_argv a;
	char why[320];

	(void)state;
#define REFUSED(change, restore)                                                                      \
	do {                                                                                          \
		change;                                                                               \
		assert_int_equal(rm_vmm_argv_build(cfg, 1000, &a, why, sizeof(why)),                 \
				 RM_ERR_ARGUMENT_INVALID);                                            \
		assert_true(why[0]);                                                                  \
		restore;                                                                              \
		assert_int_equal(rm_vmm_argv_build(cfg, 1000, &a, why, sizeof(why)), RM_OK);         \
	} while (0)
	REFUSED(strcpy(cfg->kernel, "vmlinuz"), strcpy(cfg->kernel, "/boot/vmlinuz"));
	REFUSED(cfg->kernel[0] = 0, strcpy(cfg->kernel, "/boot/vmlinuz"));
	REFUSED(strcpy(cfg->initrd, "initrd"), strcpy(cfg->initrd, "/boot/initrd.img"));
	REFUSED(strcpy(cfg->abi, "abi.json"), cfg->abi[0] = 0);
	REFUSED(strcpy(cfg->vsock_path, "v.sock"), strcpy(cfg->vsock_path, "/run/vm.vsock"));
	REFUSED(cfg->vsock_cid = 0, cfg->vsock_cid = 3);
	REFUSED(cfg->vsock_cid = 2, cfg->vsock_cid = 3); /* cli_parse_run: cids 0-2 are reserved */
	REFUSED(cfg->cpus = 0, cfg->cpus = 2);
	REFUSED(cfg->cpus = 65, cfg->cpus = 2);
	REFUSED(cfg->memory = 1000, cfg->memory = 256ull << 20);
	REFUSED(cfg->console = 3, cfg->console = RM_CONSOLE_VIRTIO);
	REFUSED(cfg->flags = 4, cfg->flags = RM_CFG_RNG);
	REFUSED(cfg->items[0].kind = 9, cfg->items[0].kind = RM_ITEM_DISK);
	REFUSED(strcpy(cfg->items[0].spec, "path=root.img"), strcpy(cfg->items[0].spec, "path=/img/root.img"));
	REFUSED(strcpy(cfg->items[0].spec, "ro,path=img"), strcpy(cfg->items[0].spec, "path=/img/root.img"));
	REFUSED(strcpy(cfg->items[0].spec, "path=/a,bogus"), strcpy(cfg->items[0].spec, "path=/img/root.img"));
	REFUSED(strcpy(cfg->items[1].spec, "tap=x,mac=01:00:00:00:00:01"), strcpy(cfg->items[1].spec, "tap=t"));
	REFUSED(strcpy(cfg->items[2].spec, "0x10-0x1=forward"), strcpy(cfg->items[2].spec, "0x10-0x20=deny"));
#undef REFUSED
	free(cfg);
}

static void test_boot_regs(void **state)
{
	(void)state;
#ifdef __x86_64__
	for (unsigned i = 0; i < 16; i++)
		assert_true(arch_boot_reg_valid(RM_REG_SET_X, i));
	assert_false(arch_boot_reg_valid(RM_REG_SET_X, 16));
	assert_true(arch_boot_reg_valid(RM_REG_SET_PC, 0));
	assert_true(arch_boot_reg_valid(RM_REG_SET_SP, 0));
	assert_false(arch_boot_reg_valid(RM_REG_SET_PC, 1));
	assert_false(arch_boot_reg_valid(RM_REG_SET_SP, 1));
#endif
	assert_false(arch_boot_reg_valid(3, 0));
	assert_false(arch_boot_reg_valid(255, 255));
}

/* --- the server over socketpairs ---------------------------------------------------------------- */

struct peer {
	int fd;
	uint16_t seq;
	struct rm_reasm *reasm;
	struct rm_message *msg;
	unsigned notes; /* NOTIFY_VM_STATUS received */
	uint8_t last_status;
};

struct env {
	struct rm_server *s;
	char dir[32]; /* the state directory: VMM logs and pid files */
	struct peer alice, bob, root; /* uid 1000, 1001, 0 */
};

static void peer_init(struct env *e, struct peer *p, uid_t uid)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(rm_server_add_client(e->s, sv[0], uid), 0);
	p->fd = sv[1];
	p->reasm = malloc(sizeof(*p->reasm));
	p->msg = malloc(sizeof(*p->msg));
	assert_non_null(p->reasm);
	assert_non_null(p->msg);
	rm_reasm_init(p->reasm);
}

static int setup(void **state)
{
	struct rm_server_config cfg = { .max_vms = 4, .stop_timeout_ms = 100, .hcall_timeout_ms = 100,
					.vmm_path = "/bin/false" };
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	strcpy(e->dir, "/tmp/bothyd-test-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	cfg.state_dir = e->dir;
	assert_int_equal(rm_server_create(&cfg, &e->s), 0);
	peer_init(e, &e->alice, 1000);
	peer_init(e, &e->bob, 1001);
	peer_init(e, &e->root, 0);
	*state = e;
	return 0;
}

static void peer_fini(struct peer *p)
{
	close(p->fd);
	free(p->reasm);
	free(p->msg);
}

static int teardown(void **state)
{
	struct env *e = *state;

	peer_fini(&e->alice);
	peer_fini(&e->bob);
	peer_fini(&e->root);
	rm_server_step(e->s, 0);
	rm_server_destroy(e->s);
	/* Only VMM logs are left (pid files go when a VMM is reaped). */
	for (unsigned vmid = 1; vmid <= 200; vmid++) {
		char path[64];

		snprintf(path, sizeof(path), "%s/vm-%u.log", e->dir, vmid);
		unlink(path);
	}
	assert_int_equal(rmdir(e->dir), 0);
	free(e);
	return 0;
}

static void send_raw(struct peer *p, enum rm_msg_type type, uint16_t seq, uint32_t id, const uint8_t *buf, size_t len)
{
	uint8_t frame[RM_FRAME_MAX];

	for (unsigned i = 0; i < rm_frame_count(len); i++) {
		size_t n = rm_frame_build(frame, type, seq, id, buf, len, i);

		assert_int_equal(send(p->fd, frame, n, 0), (ssize_t)n);
	}
}

/* The next message for @p, turning the server's loop until it comes (NULL if none in a while). */
static struct rm_message *next_msg(struct env *e, struct peer *p)
{
	uint8_t frame[RM_FRAME_MAX];

	for (int turns = 0; turns < 200; turns++) {
		ssize_t n = recv(p->fd, frame, sizeof(frame), MSG_DONTWAIT);

		if (n > 0) {
			if (rm_reasm_feed(p->reasm, frame, (size_t)n, p->msg) == 1)
				return p->msg;
			continue;
		}
		rm_server_step(e->s, 10);
	}
	return NULL;
}

/* One request; returns the reply's error and decodes its payload into @rep (if given). */
static uint32_t call(struct env *e, struct peer *p, enum rm_msg_index index, const void *req, void *rep)
{
	const struct rm_msg_desc *d = &rm_msgs[index];
	uint8_t *buf = malloc(RM_MSG_MAX);
	struct rm_message *m;
	uint16_t seq = ++p->seq;
	size_t len = 0;
	uint32_t err;

	assert_non_null(buf);
	assert_int_equal(rm_encode(d->req, req, buf, RM_MSG_MAX, &len), 0);
	send_raw(p, RM_TYPE_REQUEST, seq, d->id, buf, len);
	free(buf);
	for (;;) {
		m = next_msg(e, p);
		assert_non_null(m);
		if (m->hdr.type == RM_TYPE_NOTIFY) {
			if (m->hdr.msg_id == RM_ID_NOTIFY_VM_STATUS) {
				p->notes++;
				p->last_status = m->data[4];
			}
			continue;
		}
		assert_int_equal(m->hdr.type, RM_TYPE_REPLY);
		assert_int_equal(m->hdr.seq, seq);
		assert_int_equal(m->hdr.msg_id, d->id);
		assert_true(m->len >= 4);
		err = rm_get32(m->data);
		if (err == RM_OK && rep)
			assert_int_equal(rm_decode(d->rep, m->data + 4, m->len - 4, rep), 0);
		else if (err != RM_OK)
			assert_int_equal(m->len, 4);
		return err;
	}
}

static uint16_t allocate(struct env *e, struct peer *p, uint16_t vmid, const char *name, uint32_t *err)
{
	struct rm_vm_allocate_req req = { .vmid = vmid };
	struct rm_vmid rep = { 0 };

	snprintf(req.name, sizeof(req.name), "%s", name);
	*err = call(e, p, RM_MSG_VM_ALLOCATE, &req, &rep);
	return rep.vmid;
}

static unsigned vm_state(struct env *e, struct peer *p, uint16_t vmid)
{
	struct rm_vmid req = { vmid };
	struct rm_vm_state_rep rep = { 0 };

	assert_int_equal(call(e, p, RM_MSG_VM_GET_STATE, &req, &rep), RM_OK);
	return rep.vm_state;
}

static void test_version_and_garbage(void **state)
{
	struct env *e = *state;
	struct rm_empty empty = { 0 };
	struct rm_version_rep v;
	uint8_t junk[3] = { 1, 2, 3 };
	struct rm_message *m;

	assert_int_equal(call(e, &e->alice, RM_MSG_GET_VERSION, &empty, &v), RM_OK);
	assert_int_equal(v.major, RM_PROTO_MAJOR);
	assert_int_equal(v.max_inflight, RM_MAX_INFLIGHT);
	assert_int_equal(v.max_vms, 4);
	assert_int_equal(v.max_msg, RM_MSG_MAX);
	assert_true(!strncmp(v.server, "bothyd ", 7));

	/* A reply, a notification and a VMM message from a client: dropped, no answer. */
	send_raw(&e->alice, RM_TYPE_REPLY, 7, RM_ID_VM_LIST, NULL, 0);
	send_raw(&e->alice, RM_TYPE_NOTIFY, 8, RM_ID_NOTIFY_VM_STATUS, NULL, 0);
	send_raw(&e->alice, RM_TYPE_REQUEST, 9, RM_ID_VMM_START, NULL, 0);
	/* An unknown id: UNIMPLEMENTED. A bad payload: MSG_INVALID. */
	send_raw(&e->alice, RM_TYPE_REQUEST, 10, 0x12345678, NULL, 0);
	m = next_msg(e, &e->alice);
	assert_non_null(m);
	assert_int_equal(m->hdr.seq, 10);
	assert_int_equal(rm_get32(m->data), RM_ERR_UNIMPLEMENTED);
	send_raw(&e->alice, RM_TYPE_REQUEST, 11, RM_ID_VM_GET_STATE, junk, sizeof(junk));
	m = next_msg(e, &e->alice);
	assert_non_null(m);
	assert_int_equal(m->hdr.seq, 11);
	assert_int_equal(rm_get32(m->data), RM_ERR_MSG_INVALID);
	/* A bare frame that is not a header at all: dropped; the connection still works. */
	assert_int_equal(send(e->alice.fd, junk, sizeof(junk), 0), 3);
	assert_int_equal(call(e, &e->alice, RM_MSG_GET_VERSION, &empty, &v), RM_OK);
}

static void test_vmids_and_names(void **state)
{
	struct env *e = *state;
	struct rm_vmid id;
	uint32_t err;
	uint16_t a, b;

	a = allocate(e, &e->alice, 0, "web", &err);
	assert_int_equal(err, RM_OK);
	assert_int_equal(a, 1);
	assert_int_equal(e->alice.last_status, RM_VM_LOAD); /* the allocator watches its VM */
	allocate(e, &e->bob, 0, "web", &err);
	assert_int_equal(err, RM_ERR_IN_USE);
	allocate(e, &e->bob, 1, "", &err);
	assert_int_equal(err, RM_ERR_IN_USE);
	allocate(e, &e->bob, RM_VMID_MAX + 1, "", &err);
	assert_int_equal(err, RM_ERR_ARGUMENT_INVALID);
	allocate(e, &e->bob, 0, "bad name", &err);
	assert_int_equal(err, RM_ERR_ARGUMENT_INVALID);
	b = allocate(e, &e->bob, 100, "db", &err);
	assert_int_equal(err, RM_OK);
	assert_int_equal(b, 100);
	/* Cyclic: the next dynamic id follows the last one handed out, not the lowest free. */
	id.vmid = a;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_DEALLOCATE, &id, NULL), RM_OK);
	assert_int_equal(allocate(e, &e->alice, 0, "", &err), 2);
	assert_int_equal(allocate(e, &e->alice, 0, "", &err), 3);
	assert_int_equal(allocate(e, &e->alice, 0, "", &err), 4);
	/* --max-vms 4 */
	allocate(e, &e->alice, 0, "", &err);
	assert_int_equal(err, RM_ERR_NORESOURCE);
}

static void test_authorisation(void **state)
{
	struct env *e = *state;
	struct rm_vm_config_req *cfg = good_config();
	struct rm_vm_list_rep *list = malloc(sizeof(*list));
	struct rm_empty empty = { 0 };
	struct rm_vmid id;
	uint32_t err;

	id.vmid = allocate(e, &e->alice, 0, "", &err);
	assert_int_equal(err, RM_OK);
	assert_int_equal(call(e, &e->bob, RM_MSG_VM_GET_STATE, &id, NULL), RM_ERR_DENIED);
	assert_int_equal(call(e, &e->bob, RM_MSG_WATCH, &id, NULL), RM_ERR_DENIED);
	assert_int_equal(call(e, &e->bob, RM_MSG_VM_DEALLOCATE, &id, NULL), RM_ERR_DENIED);
	cfg->vmid = id.vmid;
	assert_int_equal(call(e, &e->bob, RM_MSG_VM_CONFIG, cfg, NULL), RM_ERR_DENIED);
	assert_int_equal(call(e, &e->root, RM_MSG_VM_GET_STATE, &id, NULL), RM_OK);
	id.vmid = 77;
	assert_int_equal(call(e, &e->bob, RM_MSG_VM_GET_STATE, &id, NULL), RM_ERR_VMID_INVALID);
	assert_int_equal(call(e, &e->root, RM_MSG_VM_GET_STATE, &id, NULL), RM_ERR_VMID_INVALID);
	id.vmid = 0;
	assert_int_equal(call(e, &e->root, RM_MSG_VM_GET_STATE, &id, NULL), RM_ERR_VMID_INVALID);

	allocate(e, &e->bob, 0, "", &err);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_LIST, &empty, list), RM_OK);
	assert_int_equal(list->nr, 1);
	assert_int_equal(list->vms[0].owner_uid, 1000);
	assert_int_equal(call(e, &e->root, RM_MSG_VM_LIST, &empty, list), RM_OK);
	assert_int_equal(list->nr, 2);
	free(list);
	free(cfg);
}

static void test_lifecycle_refusals(void **state)
{
	struct env *e = *state;
	struct rm_vm_config_req *cfg = good_config();
	struct rm_boot_context_req boot = { .reg_set = RM_REG_SET_PC };
	struct rm_vm_stop_req stop = { 0 };
	struct rm_hcall_reply_req hr = { 0 };
	struct rm_hyp_resources_rep *res = malloc(sizeof(*res));
	struct rm_vmid id;
	uint32_t err;

	id.vmid = allocate(e, &e->alice, 0, "", &err);
	/* LOAD: nothing but VM_CONFIG and VM_DEALLOCATE. */
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_INIT, &id, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_START, &id, NULL), RM_ERR_VM_STATE);
	stop.vmid = boot.vmid = hr.vmid = id.vmid;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_STOP, &stop, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_PAUSE, &id, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_RESUME, &id, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_RESET, &id, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_SET_BOOT_CONTEXT, &boot, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONSOLE_ATTACH, &id, NULL), RM_ERR_VM_STATE);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_HCALL_REPLY, &hr, NULL), RM_ERR_HANDLE_INVALID);
	assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_LOAD);
	/* A bad configuration changes nothing; a good one moves to INIT, again replaces it. */
	cfg->vmid = id.vmid;
	cfg->cpus = 0;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONFIG, cfg, NULL), RM_ERR_ARGUMENT_INVALID);
	assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_LOAD);
	cfg->cpus = 3;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONFIG, cfg, NULL), RM_OK);
	assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_INIT);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONFIG, cfg, NULL), RM_OK);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_GET_HYP_RESOURCES, &id, res), RM_OK);
	/* 3 vCPUs, the console, virtio console + disk + net + vsock + rng; no VMM process. */
	assert_int_equal(res->nr, 3 + 1 + 5);
	assert_int_equal(res->res[0].type, RM_RES_VCPU);
	assert_int_equal(res->res[2].label, 2);
	assert_int_equal(res->res[3].type, RM_RES_CONSOLE);
	assert_int_equal(res->res[5].type, RM_RES_VIRTIO_PCI);
	assert_int_equal(res->res[5].cap_id, 2); /* the disk */
	assert_int_equal(res->res[8].cap_id, 4); /* rng */
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_DEALLOCATE, &id, NULL), RM_OK);
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_GET_STATE, &id, NULL), RM_ERR_VMID_INVALID);
	free(res);
	free(cfg);
}

/* /bin/false as the VMM: it dies before VMM_READY, so VM_INIT fails and the VM is INIT_FAILED. */
static void test_init_failed_reset_relaunch(void **state)
{
	struct env *e = *state;
	struct rm_vm_config_req *cfg = good_config();
	struct rm_vmid id;
	uint32_t err;

	id.vmid = allocate(e, &e->alice, 0, "", &err);
	cfg->vmid = id.vmid;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONFIG, cfg, NULL), RM_OK);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(call(e, &e->alice, RM_MSG_VM_INIT, &id, NULL), RM_ERR_NORESOURCE);
		assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_INIT_FAILED);
		assert_int_equal(rm_server_live_vmms(e->s), 0);
		assert_int_equal(call(e, &e->alice, RM_MSG_VM_DEALLOCATE, &id, NULL), RM_ERR_VM_STATE);
		assert_int_equal(call(e, &e->alice, RM_MSG_VM_RESET, &id, NULL), RM_OK);
		assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_RESET);
	}
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_DEALLOCATE, &id, NULL), RM_OK);
	free(cfg);
}

/* A client that disconnects with a VM_INIT pending: the reply is dropped, the VM carries on. */
static void test_disconnect_mid_request(void **state)
{
	struct env *e = *state;
	struct rm_vm_config_req *cfg = good_config();
	uint8_t buf[8];
	struct rm_vmid id;
	uint32_t err;

	id.vmid = allocate(e, &e->alice, 0, "", &err);
	cfg->vmid = id.vmid;
	assert_int_equal(call(e, &e->alice, RM_MSG_VM_CONFIG, cfg, NULL), RM_OK);
	rm_put16(buf, id.vmid);
	rm_put16(buf + 2, 0);
	send_raw(&e->alice, RM_TYPE_REQUEST, 500, RM_ID_VM_INIT, buf, 4);
	rm_server_step(e->s, 0);
	peer_fini(&e->alice);
	peer_init(e, &e->alice, 1000);
	for (int i = 0; i < 100 && rm_server_live_vmms(e->s); i++)
		rm_server_step(e->s, 10);
	assert_int_equal(vm_state(e, &e->alice, id.vmid), RM_VM_INIT_FAILED);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_from_config),
		cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_boot_regs),
		cmocka_unit_test_setup_teardown(test_version_and_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmids_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorisation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_failed_reset_relaunch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_mid_request, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
