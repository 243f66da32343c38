/* bothy: entry point and subcommand table. */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "rm/proto.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bothy <command> [options]\n"
		"\n"
		"commands:\n"
		"  run        boot a virtual machine in this process (no daemon)\n"
		"  abi        guest ABI: host fingerprints, fleet baselines, checks (`bothy abi help`)\n"
		"  vm         VMs owned by the resource manager bothyd (`bothy vm help`)\n"
		"  daemon     the resource manager itself (also started as `bothyd`; `bothy daemon --help`)\n"
		"  rpc-doc    print the resource manager protocol reference (docs/rpc.md)\n"
		"  help       show this help, or `bothy help run`\n"
		"  version    print the version (also --version)\n"
		"\n");
	cli_usage_run(out);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* Started as bothyd (a hard link): the daemon. */
	if (argv[0] && !strcmp(basename(argv[0]), "bothyd"))
		return cmd_daemon(argc, argv);
	if (!cmd) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "abi"))
		return cmd_abi(argc - 1, argv + 1);
	if (!strcmp(cmd, "vm"))
		return cmd_vm(argc - 1, argv + 1);
	if (!strcmp(cmd, "daemon"))
		return cmd_daemon(argc - 1, argv + 1);
	if (!strcmp(cmd, "rpc-doc")) {
		rm_doc_write(stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		if (argc > 2 && !strcmp(argv[2], "run"))
			cli_usage_run(stdout);
		else if (argc > 2 && !strcmp(argv[2], "abi"))
			cli_usage_abi(stdout);
		else
			usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("bothy %s\n", BOTHY_VERSION);
		return CLI_OK;
	}
	fprintf(stderr, "bothy: unknown command '%s' (try `bothy help`)\n", cmd);
	return CLI_USAGE;
}
