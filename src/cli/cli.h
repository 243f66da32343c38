/* bothy's command line: subcommands and the parsing they share. */
#ifndef BOTHY_CLI_CLI_H
#define BOTHY_CLI_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "bothy/bothy.h"
#include "hcall/hcall.h"

/* Exit statuses of `bothy run` (docs/cli.md). Debug-exit values pass through. */
enum cli_status {
	CLI_OK = 0,
	CLI_ERROR = 1,       /* the VM could not be built or the VMM failed */
	CLI_USAGE = 2,       /* bad command line */
	CLI_GUEST_CRASH = 3, /* triple fault, hypervisor internal error */
	CLI_SIGNAL_BASE = 128,
};

/* The guest options `bothy run` and `bothy vm create/config` share, with their short letters. */
#define CLI_GUEST_LONGOPTS                                                                         \
	{ "kernel", required_argument, NULL, 'k' }, { "initrd", required_argument, NULL, 'i' },    \
	{ "cmdline", required_argument, NULL, 'c' }, { "append", required_argument, NULL, 'a' },  \
	{ "cpus", required_argument, NULL, 'p' }, { "memory", required_argument, NULL, 'm' }

struct run_options {
	struct vm_config vm;
	enum vm_reboot_policy on_reboot;
	char cmdline_buf[4096]; /* default command line plus --append */
	const char *abi_path;   /* --abi: template or manifest, loaded by cmd_run */
	struct hcall_range hcall_ranges[HCALL_MAX_RANGES]; /* --hcall-filter; vm.hcall_ranges points here */
	const char *hcall_handler;                         /* --hcall-handler SOCKET */
	int hcall_timeout_ms;
	bool stats;
	int verbose;
	int help;
	/* Virtio devices; vm.disks/vm.nets point here, their strings into strbuf. */
	struct vm_disk disks[VM_MAX_DISKS];
	struct vm_net nets[VM_MAX_NETS];
	char strbuf[8192];
	size_t strbuf_used;
};

/*
 * Parses `bothy run` arguments (argv[0] is "run"). Returns 0, or -EINVAL with
 * a one-line message in err.
 */
int cli_parse_run(int argc, char **argv, struct run_options *opts, char *err, size_t errlen);

int cmd_run(int argc, char **argv);
int cmd_abi(int argc, char **argv);
/* `bothy vm ...`: the resource manager's client (src/cli/vm.c). */
int cmd_vm(int argc, char **argv);
/* `bothyd` / `bothy daemon`: the resource manager (src/cli/daemon.c; argv[0] is the command). */
int cmd_daemon(int argc, char **argv);
void cli_usage_abi(FILE *out);

struct abi_doc;
/* Reads and parses a guest-ABI document ("-" is stdin); a one-line reason in @err on failure. */
int cli_load_abi_doc(const char *path, struct abi_doc *doc, char *err, size_t errlen);
void cli_usage_run(FILE *out);

#endif
