/* `bothyd` / `bothy daemon`: the resource manager in the foreground, logging to stderr. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "rm/proto.h"
#include "rm/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bothyd [options]   (also: bothy daemon [options])\n"
		"  --socket PATH        listening socket (default %s)\n"
		"  --socket-mode OCTAL  who may connect (default 0660)\n"
		"  --state-dir DIR      VMM logs and pid files (default %s)\n"
		"  --max-vms N          VMs at most (default 256, at most %d)\n"
		"  --max-vms-per-user N VMs one non-root user may hold (default 32; 0: only --max-vms)\n"
		"  --stop-timeout MS    graceful stop before SIGKILL (default 10000)\n"
		"  --init-timeout MS    a VMM not ready by then is killed: INIT_FAILED (default 30000)\n"
		"  --hcall-timeout MS   how long a forwarded hypercall waits for its owner (default 1000)\n"
		"  --vmm PATH           the bothy binary run as each VMM (default: this one)\n"
		"  -v, --verbose        more diagnostics (repeat for debug)\n"
		"SIGTERM or SIGINT stops every VM and exits. docs/resource-manager.md has the details.\n",
		RM_DEFAULT_SOCKET, RM_DEFAULT_STATE_DIR, RM_VMID_MAX);
}

static int parse_num(const char *s, unsigned long min, unsigned long max, int base, unsigned long *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, base);
	return errno || *end || *out < min || *out > max ? -EINVAL : 0;
}

int cmd_daemon(int argc, char **argv)
{
	enum { OPT_SOCKET = 256, OPT_MODE, OPT_STATE, OPT_MAX_VMS, OPT_MAX_VMS_USER, OPT_STOP, OPT_INIT, OPT_HCALL,
	       OPT_VMM };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "socket-mode", required_argument, NULL, OPT_MODE },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "max-vms", required_argument, NULL, OPT_MAX_VMS },
		{ "max-vms-per-user", required_argument, NULL, OPT_MAX_VMS_USER },
		{ "stop-timeout", required_argument, NULL, OPT_STOP },
		{ "init-timeout", required_argument, NULL, OPT_INIT },
		{ "hcall-timeout", required_argument, NULL, OPT_HCALL },
		{ "vmm", required_argument, NULL, OPT_VMM },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rm_server_config cfg = {
		.socket_path = RM_DEFAULT_SOCKET,
		.socket_mode = 0660,
		.state_dir = RM_DEFAULT_STATE_DIR,
		.max_vms = 256,
		.max_vms_per_user = 32,
		.stop_timeout_ms = 10000,
		.init_timeout_ms = 30000,
		.hcall_timeout_ms = 1000,
	};
	const char *vmm = NULL;
	char exe[PATH_MAX];
	struct rm_server *s;
	unsigned long v;
	int c, verbose = 0, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		const char *bad = NULL;

		switch (c) {
		case OPT_SOCKET:
			cfg.socket_path = optarg;
			break;
		case OPT_MODE:
			if (parse_num(optarg, 0, 0777, 8, &v))
				bad = "--socket-mode: expected an octal mode such as 0660";
			cfg.socket_mode = (mode_t)v;
			break;
		case OPT_STATE:
			cfg.state_dir = optarg;
			break;
		case OPT_MAX_VMS:
			if (parse_num(optarg, 1, RM_VMID_MAX, 10, &v))
				bad = "--max-vms: expected a number from 1 to 32767";
			cfg.max_vms = (unsigned)v;
			break;
		case OPT_MAX_VMS_USER:
			if (parse_num(optarg, 0, RM_VMID_MAX, 10, &v))
				bad = "--max-vms-per-user: expected a number from 0 to 32767";
			cfg.max_vms_per_user = (unsigned)v;
			break;
		case OPT_STOP:
			if (parse_num(optarg, 0, 3600000, 10, &v))
				bad = "--stop-timeout: expected milliseconds, 0 to 3600000";
			cfg.stop_timeout_ms = (int)v;
			break;
		case OPT_INIT:
			if (parse_num(optarg, 1, 3600000, 10, &v))
				bad = "--init-timeout: expected milliseconds, 1 to 3600000";
			cfg.init_timeout_ms = (int)v;
			break;
		case OPT_HCALL:
			if (parse_num(optarg, 1, 600000, 10, &v))
				bad = "--hcall-timeout: expected milliseconds, 1 to 600000";
			cfg.hcall_timeout_ms = (int)v;
			break;
		case OPT_VMM:
			vmm = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case ':':
			bad = "an option needs a value";
			break;
		default:
			bad = "unknown option";
			break;
		}
		if (bad) {
			fprintf(stderr, "bothyd: %s (%s)\n", bad, argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bothyd: unexpected argument '%s'\n", argv[optind]);
		return CLI_USAGE;
	}
	/* The VMM is this very binary unless told otherwise; resolved now, in case it is replaced later. */
	if (!vmm) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n <= 0) {
			fprintf(stderr, "bothyd: cannot resolve /proc/self/exe: %s\n", strerror(errno));
			return CLI_ERROR;
		}
		exe[n] = '\0';
		vmm = exe;
	}
	if (vmm[0] != '/' || access(vmm, X_OK) < 0) {
		fprintf(stderr, "bothyd: --vmm %s: not an absolute path to an executable\n", vmm);
		return CLI_USAGE;
	}
	cfg.vmm_path = vmm;
	log_set_level(verbose >= 2 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_WARN);
	/* A client that hangs up mid-send is an error return, never a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (mkdir(cfg.state_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "bothyd: cannot create %s: %s\n", cfg.state_dir, strerror(errno));
		return CLI_ERROR;
	}
	ret = rm_server_create(&cfg, &s);
	if (ret) {
		fprintf(stderr, "bothyd: cannot start: %s\n", strerror(-ret));
		return CLI_ERROR;
	}
	ret = rm_server_run(s);
	rm_server_destroy(s);
	return ret ? CLI_ERROR : CLI_OK;
}
