/*
 * blk-bench: block I/O throughput and IOPS of one device or file, for
 * bench/x86_64/blk.bench. Static, plain libc; runs in the stock guest
 * (/bin/blk-bench from virtio-linux.cpio.gz) and on the test host against
 * the image file itself ($PAYLOADS/blk-bench), so both sides are measured by
 * the same code.
 *
 *   blk-bench [-b] [-j JOBS] [-t SECS] [-s SIZE] TARGET MODE BS
 *
 * MODE is read, write (sequential, each job on its own slice, wrapping) or
 * randread, randwrite (BS-aligned offsets, uniform). I/O is synchronous
 * pread/pwrite, one request in flight per job (JOBS threads, default 1), with
 * O_DIRECT unless -b; writes end with fdatasync, inside the timed interval.
 * The run lasts SECS seconds (default 3). SIZE limits the span used (default:
 * the whole device or file). BS and SIZE take K, M, G suffixes.
 *
 * Prints "blk-bench: MODE bs=BS jobs=J direct=D: N ops, B bytes in S s, X MB/s, Y IOPS";
 * "blk-bench: FAIL: why" and exit 1 on an I/O error; 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, usleep */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/parse_size.h"

#define MAX_JOBS 16

struct job {
	pthread_t thread;
	unsigned index;
	uint64_t ops;
	int err;	/* errno of the first failure */
	uint64_t err_off;
};

static int fd;
static bool writing, random_io;
static uint64_t bs, span, nblocks;
static unsigned njobs = 1;
static double deadline;
static struct job jobs[MAX_JOBS];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	uint64_t slice = nblocks / njobs, blk = slice * j->index;
	uint64_t x = 0x9e3779b97f4a7c15ull * (j->index + 1);
	unsigned char *buf;

	/* O_DIRECT wants aligned buffers; 4096 covers every logical block size in use. */
	if (posix_memalign((void **)&buf, 4096, bs)) {
		j->err = ENOMEM;
		return NULL;
	}
	memset(buf, 0x5a ^ (int)j->index, bs);
	do {
		/* Check the clock every 16 requests: cheap, and still within a few ms. */
		for (int k = 0; k < 16; k++) {
			uint64_t off;
			ssize_t n;

			if (random_io) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				off = (x % nblocks) * bs;
			} else {
				off = blk * bs;
				if (++blk == nblocks)
					blk = 0;
			}
			n = writing ? pwrite(fd, buf, bs, (off_t)off) : pread(fd, buf, bs, (off_t)off);
			if (n != (ssize_t)bs) {
				j->err = n < 0 ? errno : EIO;
				j->err_off = off;
				free(buf);
				return NULL;
			}
			j->ops++;
		}
	} while (now() < deadline);
	free(buf);
	return NULL;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: blk-bench [-b] [-j JOBS] [-t SECS] [-s SIZE] TARGET read|write|randread|randwrite BS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *target, *mode;
	bool direct = true;
	double secs = 3, t0, el;
	uint64_t ops = 0, size = 0;
	struct stat st;
	int opt, flags;

	while ((opt = getopt(argc, argv, "bj:t:s:")) != -1) {
		switch (opt) {
		case 'b':
			direct = false;
			break;
		case 'j':
			njobs = (unsigned)atoi(optarg);
			if (njobs < 1 || njobs > MAX_JOBS)
				usage();
			break;
		case 't':
			secs = atof(optarg);
			if (secs <= 0)
				usage();
			break;
		case 's':
			if (parse_size(optarg, &size))
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	target = argv[optind];
	mode = argv[optind + 1];
	if (parse_size(argv[optind + 2], &bs) || bs == 0 || bs % 512 || bs > (64u << 20))
		usage();
	if (!strcmp(mode, "read")) {
	} else if (!strcmp(mode, "write")) {
		writing = true;
	} else if (!strcmp(mode, "randread")) {
		random_io = true;
	} else if (!strcmp(mode, "randwrite")) {
		writing = random_io = true;
	} else {
		usage();
	}

	flags = (writing ? O_RDWR : O_RDONLY) | O_CLOEXEC | (direct ? O_DIRECT : 0);
	fd = open(target, flags);
	if (fd < 0) {
		printf("blk-bench: FAIL: open %s%s: %s\n", target, direct ? " (O_DIRECT)" : "", strerror(errno));
		return 1;
	}
	if (fstat(fd, &st)) {
		printf("blk-bench: FAIL: stat %s: %s\n", target, strerror(errno));
		return 1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &span)) {
			printf("blk-bench: FAIL: BLKGETSIZE64 %s: %s\n", target, strerror(errno));
			return 1;
		}
	} else {
		span = (uint64_t)st.st_size;
	}
	if (size && size < span)
		span = size;
	nblocks = span / bs;
	if (nblocks < njobs) {
		printf("blk-bench: FAIL: %s has %" PRIu64 " bytes, fewer than %u blocks of %" PRIu64 "\n", target,
		       span, njobs, bs);
		return 1;
	}

	t0 = now();
	deadline = t0 + secs;
	for (unsigned i = 0; i < njobs; i++) {
		jobs[i].index = i;
		if (pthread_create(&jobs[i].thread, NULL, job_run, &jobs[i])) {
			printf("blk-bench: FAIL: cannot start job %u\n", i);
			return 1;
		}
	}
	for (unsigned i = 0; i < njobs; i++) {
		pthread_join(jobs[i].thread, NULL);
		ops += jobs[i].ops;
	}
	if (writing && fdatasync(fd)) {
		printf("blk-bench: FAIL: fdatasync %s: %s\n", target, strerror(errno));
		return 1;
	}
	el = now() - t0;
	for (unsigned i = 0; i < njobs; i++) {
		if (jobs[i].err) {
			printf("blk-bench: FAIL: %s %s at offset %" PRIu64 ": %s\n", mode, target, jobs[i].err_off,
			       strerror(jobs[i].err));
			return 1;
		}
	}
	printf("blk-bench: %s bs=%" PRIu64 " jobs=%u direct=%d: %" PRIu64 " ops, %" PRIu64
	       " bytes in %.3f s, %.1f MB/s, %.0f IOPS\n",
	       mode, bs, njobs, direct, ops, ops * bs, el, ops * bs / el / 1e6, ops / el);
	close(fd);
	return 0;
}
