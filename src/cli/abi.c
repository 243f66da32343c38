/*
 * bothy abi: host fingerprints, fleet baselines, checks, and the effective
 * manifest of a VM (docs/guest-abi.md). Reads and writes the JSON documents
 * of src/abi/doc.c; this host's limit comes from the hypervisor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "abi/doc.h"
#include "arch/arch.h"
#include "cli/cli.h"
#include "hv/hv.h"

#define ABI_MAX_FILE (1u << 20)

int cli_load_abi_doc(const char *path, struct abi_doc *doc, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	char *text, msg[200];
	size_t n;
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	text = malloc(ABI_MAX_FILE + 1);
	if (!text) {
		if (f != stdin)
			fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	n = fread(text, 1, ABI_MAX_FILE + 1, f);
	ret = ferror(f) ? -EIO : 0;
	if (f != stdin)
		fclose(f);
	if (!ret && n > ABI_MAX_FILE)
		ret = -EFBIG;
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
		free(text);
		return ret;
	}
	text[n] = '\0';
	ret = abi_doc_parse(text, doc, msg, sizeof(msg));
	free(text);
	if (ret)
		snprintf(err, errlen, "%s: %s", path, msg);
	return ret;
}

static void read_cpu_name(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		/* x86 "model name"; arm64 has no name, riscv "uarch". */
		if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "uarch", 5))) {
			colon += 1 + (colon[1] == ' ');
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, len, "%s", colon);
			break;
		}
	}
	fclose(f);
}

/* Who this host is: names from uname and /proc/cpuinfo, the CPU's identity from the hypervisor. */
static void host_info(const struct hv_ops *ops, struct hv *hv, struct abi_host_info *info)
{
	struct utsname u;
	char name[96], id[96];

	memset(info, 0, sizeof(*info));
	if (uname(&u) == 0) {
		snprintf(info->hostname, sizeof(info->hostname), "%.63s", u.nodename);
		snprintf(info->kernel, sizeof(info->kernel), "%.20s %.70s", u.sysname, u.release);
	}
	read_cpu_name(name, sizeof(name));
	if (!ops || !hv || arch_abi_host_cpu(ops, hv, id, sizeof(id)))
		id[0] = '\0';
	if (name[0] && id[0])
		snprintf(info->cpu, sizeof(info->cpu), "%.40s, %.52s", name, id);
	else
		snprintf(info->cpu, sizeof(info->cpu), "%s", name[0] ? name : id[0] ? id : "unknown");
	snprintf(info->bothy, sizeof(info->bothy), "%s", BOTHY_VERSION);
}

/* This host's limit and (if @info) identity, from the hypervisor. */
static int host_read(struct abi_manifest *limit, struct abi_host_info *info)
{
	const struct hv_ops *ops = &hv_kvm_ops;
	struct hv *hv;
	int ret = ops->open(&hv);

	if (ret) {
		fprintf(stderr, "bothy: cannot read this host's guest-ABI limit: %s: %s\n", ops->name,
			strerror(-ret));
		return ret;
	}
	ret = arch_abi_limit(ops, hv, limit);
	if (!ret && info)
		host_info(ops, hv, info);
	ops->close(hv);
	if (ret)
		fprintf(stderr, "bothy: cannot read this host's guest-ABI limit: %s\n", strerror(-ret));
	return ret;
}

static int print_doc(const struct abi_manifest *m, const struct abi_host_info *host)
{
	char *text = abi_doc_write(m, host);

	if (!text) {
		fprintf(stderr, "bothy: out of memory\n");
		return CLI_ERROR;
	}
	printf("%s\n", text);
	free(text);
	return fflush(stdout) ? CLI_ERROR : CLI_OK;
}

static int cmd_fingerprint(int argc, char **argv)
{
	struct abi_manifest limit;
	struct abi_host_info info;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: bothy abi fingerprint > host.json\n");
		return CLI_USAGE;
	}
	if (host_read(&limit, &info))
		return CLI_ERROR;
	return print_doc(&limit, &info);
}

/* A host limit from a fingerprint (or manifest) file, or from this host when @path is NULL. */
static int load_limit(const char *path, struct abi_manifest *limit, char *name, size_t namelen)
{
	static struct abi_doc doc;
	char err[256];

	if (!path) {
		struct abi_host_info info;

		host_info(NULL, NULL, &info);
		snprintf(name, namelen, "this host (%s)", info.hostname);
		return host_read(limit, NULL) ? CLI_ERROR : 0;
	}
	if (cli_load_abi_doc(path, &doc, err, sizeof(err))) {
		fprintf(stderr, "bothy: %s\n", err);
		return CLI_USAGE;
	}
	if (doc.kind == ABI_DOC_TEMPLATE) {
		fprintf(stderr, "bothy: %s is a template; a host is described by a fingerprint\n", path);
		return CLI_USAGE;
	}
	*limit = doc.m;
	if (doc.kind == ABI_DOC_FINGERPRINT && doc.host.hostname[0])
		snprintf(name, namelen, "%s (%s)", doc.host.hostname, path);
	else
		snprintf(name, namelen, "%s", path);
	return 0;
}

static void print_report(const struct abi_arch *arch, const struct abi_report *rep)
{
	for (size_t i = 0; i < rep->count && i < ABI_MAX_VIOLATIONS; i++) {
		char line[256];

		abi_violation_format(arch, &rep->v[i], line, sizeof(line));
		printf("  %s\n", line);
	}
	if (rep->count > ABI_MAX_VIOLATIONS)
		printf("  ... and %zu more\n", rep->count - ABI_MAX_VIOLATIONS);
}

static int cmd_baseline(int argc, char **argv)
{
	static struct abi_manifest limits[64];
	const struct abi_manifest *ptrs[64];
	struct abi_manifest out;
	struct abi_report rep = { 0 };
	char name[160];
	int n = argc - 1, ret;

	if (n < 1 || n > 64) {
		fprintf(stderr, "usage: bothy abi baseline HOST.json... > fleet.json (1 to 64 hosts)\n");
		return CLI_USAGE;
	}
	for (int i = 0; i < n; i++) {
		ret = load_limit(argv[i + 1], &limits[i], name, sizeof(name));
		if (ret)
			return ret;
		if (i && limits[i].arch != limits[0].arch) {
			fprintf(stderr, "bothy: %s is %s, %s is %s: a baseline is per architecture\n", argv[i + 1],
				limits[i].arch->name, argv[1], limits[0].arch->name);
			return CLI_USAGE;
		}
		ptrs[i] = &limits[i];
	}
	ret = abi_baseline(ptrs, (size_t)n, &out, &rep);
	if (ret) {
		fprintf(stderr, "bothy: these hosts have no common guest ABI (%zu conflict%s):\n", rep.count,
			rep.count == 1 ? "" : "s");
		fflush(stdout);
		for (size_t i = 0; i < rep.count && i < ABI_MAX_VIOLATIONS; i++) {
			char line[256];
			abi_violation_format(out.arch, &rep.v[i], line, sizeof(line));
			fprintf(stderr, "  %s\n", line);
		}
		return CLI_ERROR;
	}
	return print_doc(&out, NULL);
}

/* The manifest a document asks for on a host: templates are applied to the host's limit. */
static int load_request(const char *path, const struct abi_manifest *limit, struct abi_manifest *out)
{
	static struct abi_doc doc;
	char err[256];

	if (cli_load_abi_doc(path, &doc, err, sizeof(err))) {
		fprintf(stderr, "bothy: %s\n", err);
		return CLI_USAGE;
	}
	if (doc.arch != limit->arch) {
		fprintf(stderr, "bothy: %s is for %s, the host is %s\n", path, doc.arch->name, limit->arch->name);
		return CLI_USAGE;
	}
	abi_doc_apply(&doc, limit, out);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	struct abi_manifest limit, req;
	struct abi_report rep = { 0 };
	char host[160];
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bothy abi check MANIFEST.json [HOST.json]   (default host: this one)\n");
		return CLI_USAGE;
	}
	ret = load_limit(argc == 3 ? argv[2] : NULL, &limit, host, sizeof(host));
	if (ret)
		return ret;
	ret = load_request(argv[1], &limit, &req);
	if (ret)
		return ret;
	if (abi_check(&req, &limit, &rep) == 0) {
		printf("ok: %s runs on %s\n", argv[1], host);
		return CLI_OK;
	}
	printf("no: %s does not run on %s (%zu problem%s):\n", argv[1], host, rep.count, rep.count == 1 ? "" : "s");
	print_report(req.arch, &rep);
	return CLI_ERROR;
}

static void show_value(char *buf, size_t len, const struct abi_field *f, uint64_t reg)
{
	int64_t v = abi_field_get(f, reg);

	if (f->is_signed || (v >= 0 && v < 10))
		snprintf(buf, len, "%" PRId64, v);
	else
		snprintf(buf, len, "%#" PRIx64, (uint64_t)v);
}

static int cmd_show(int argc, char **argv)
{
	const char *doc_path = NULL, *host_path = NULL;
	struct abi_manifest limit, m;
	bool changed_only = false, json = false;
	char host[160];
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--changed"))
			changed_only = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host_path = argv[++i];
		else if (argv[i][0] != '-' && !doc_path)
			doc_path = argv[i];
		else {
			fprintf(stderr, "usage: bothy abi show [--changed|--json] [--host HOST.json] [TEMPLATE|MANIFEST]\n");
			return CLI_USAGE;
		}
	}
	ret = load_limit(host_path, &limit, host, sizeof(host));
	if (ret)
		return ret;
	m = limit;
	if (doc_path && (ret = load_request(doc_path, &limit, &m)))
		return ret;

	const struct abi_arch *arch = limit.arch;
	static struct abi_report rep;
	static bool violated[4096];

	memset(&rep, 0, sizeof(rep));
	memset(violated, 0, sizeof(violated));
	abi_check(&m, &limit, &rep);
	if (json) {
		if (rep.count) {
			fprintf(stderr, "bothy: %s cannot run on %s (`bothy abi check` lists why)\n",
				doc_path, host);
			return CLI_ERROR;
		}
		return print_doc(&m, NULL);
	}
	for (size_t i = 0; i < rep.count && i < ABI_MAX_VIOLATIONS; i++)
		if (rep.v[i].field >= 0 && (size_t)rep.v[i].field < sizeof(violated))
			violated[rep.v[i].field] = true;
	printf("guest ABI of %s on %s (%s)\n", doc_path ? doc_path : "the default VM", host, arch->name);
	printf("%-24s %-24s %12s %12s  %s\n", "register", "field", "guest", "host", "rule");
	for (size_t fi = 0; fi < arch->nfields; fi++) {
		const struct abi_field *f = &arch->fields[fi];
		char gv[24], hv[24];
		const char *note = "";
		uint32_t flags = abi_field_flags(arch, fi, &limit);

		if (flags & ABI_F_VMM)
			continue;
		show_value(gv, sizeof(gv), f, m.present[f->reg] ? m.val[f->reg] : 0);
		show_value(hv, sizeof(hv), f, limit.present[f->reg] ? limit.val[f->reg] : 0);
		if (changed_only && !strcmp(gv, hv))
			continue;
		if (strcmp(gv, hv))
			note = violated[fi] ? "  (NOT ALLOWED)" : "  (changed)";
		printf("%-24s %-24s %12s %12s  %s%s%s\n", arch->regs[f->reg].name, f->name, gv, hv,
		       abi_rule_name(abi_field_rule(arch, fi, NULL)),
		       flags & ABI_F_NO_DISABLE ? ",no-disable" : flags & ABI_F_FIXED ? ",fixed" : "", note);
	}
	if (rep.count) {
		printf("this host cannot run it (%zu problem%s):\n", rep.count, rep.count == 1 ? "" : "s");
		print_report(arch, &rep);
		return CLI_ERROR;
	}
	return CLI_OK;
}

void cli_usage_abi(FILE *out)
{
	fprintf(out,
		"usage: bothy abi <command>\n"
		"  fingerprint                     print this host's guest-ABI limit and identity (JSON)\n"
		"  baseline HOST.json...           the most capable manifest every listed host can run\n"
		"  check MANIFEST.json [HOST.json] does the manifest (or template) run on the host?\n"
		"                                  (default host: this one; exit 0 yes, 1 no)\n"
		"  show [--changed|--json] [--host HOST.json] [TEMPLATE|MANIFEST]\n"
		"                                  the effective guest ABI, field by field\n"
		"                                  (--json: as a manifest document)\n");
}

int cmd_abi(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub || !strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		cli_usage_abi(sub ? stdout : stderr);
		return sub ? CLI_OK : CLI_USAGE;
	}
	if (!strcmp(sub, "fingerprint"))
		return cmd_fingerprint(argc - 1, argv + 1);
	if (!strcmp(sub, "baseline"))
		return cmd_baseline(argc - 1, argv + 1);
	if (!strcmp(sub, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(sub, "show"))
		return cmd_show(argc - 1, argv + 1);
	fprintf(stderr, "bothy: unknown abi command '%s'\n", sub);
	cli_usage_abi(stderr);
	return CLI_USAGE;
}
