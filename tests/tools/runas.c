/*
 * runas: run a command as another user, for tests in the busybox test host
 * (which has no su or setpriv), e.g. a second VM owner talking to bothyd.
 *
 *   runas UID[:GID] CMD [ARGS...]
 *
 * Drops every supplementary group, takes GID (default: the same number as
 * UID), then UID, and execs CMD (searched in $PATH). Needs root (or
 * CAP_SETUID and CAP_SETGID). Exit status: CMD's own; 2 on a usage error; 1
 * when a credential could not be changed; 127 when CMD was not found, 126
 * when it could not be run.
 * Plain libc: built static so the busybox test host can run it.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: runas UID[:GID] CMD [ARGS...]\n");
	exit(2);
}

/* A decimal id below (uid_t)-1, which means "unchanged" to the set*id calls; -1 when it is not. */
static long long parse_id(const char *s, const char *end)
{
	long long v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v >= 0xffffffffLL)
			return -1;
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *spec, *colon;
	long long uid, gid;

	if (argc < 3)
		usage();
	spec = argv[1];
	colon = strchr(spec, ':');
	uid = parse_id(spec, colon ? colon : spec + strlen(spec));
	gid = colon ? parse_id(colon + 1, colon + 1 + strlen(colon + 1)) : uid;
	if (uid < 0 || gid < 0)
		usage();

	if (setgroups(0, NULL) < 0) {
		perror("runas: setgroups");
		return 1;
	}
	if (setgid((gid_t)gid) < 0) {
		perror("runas: setgid");
		return 1;
	}
	if (setuid((uid_t)uid) < 0) {
		perror("runas: setuid");
		return 1;
	}
	/* paranoia: a partial change must not go unnoticed (setuid keeps the saved id for non-root) */
	if (getuid() != (uid_t)uid || geteuid() != (uid_t)uid || getgid() != (gid_t)gid ||
	    getegid() != (gid_t)gid) {
		fprintf(stderr, "runas: credentials did not change to %lld:%lld\n", uid, gid);
		return 1;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "runas: %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
