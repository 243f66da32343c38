/* Raw image backend (see block.h). */
#include "backends/block.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct block {
	int fd;
	bool readonly;
	/* Atomic: the queues of one disk are served by concurrent workers. */
	atomic_bool punch_ok; /* fallocate(PUNCH_HOLE) not yet refused by the file system */
	atomic_bool zero_ok;  /* fallocate(ZERO_RANGE) likewise */
	uint64_t sectors;
	uint32_t discard_granularity;
	char *path;
};

/* What write-zeroes writes when fallocate cannot help: read-only, shared by all backends. */
#define BLOCK_ZERO_CHUNK (64u * 1024)
#define BLOCK_ZERO_IOVS 16
static const uint8_t block_zeros[BLOCK_ZERO_CHUNK];

static int block_size_of(const char *path, int fd, const struct stat *st, uint64_t *bytes)
{
	if (S_ISREG(st->st_mode)) {
		*bytes = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, bytes) < 0) {
			int ret = -errno;

			log_err("disk image %s: cannot read the block device's size: %s", path, strerror(-ret));
			return ret;
		}
		return 0;
	}
	if (S_ISDIR(st->st_mode)) {
		log_err("disk image %s is a directory", path);
		return -EISDIR;
	}
	log_err("disk image %s is neither a regular file nor a block device", path);
	return -EINVAL;
}

static int block_lock(const char *path, int fd, bool readonly)
{
	if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		log_err("disk image %s is in use (locked by another VM or program)%s", path,
			readonly ? "" : "; two VMs must not write one image");
		return -EBUSY;
	}
	if (errno == ENOLCK || errno == EOPNOTSUPP) {
		/* Some network file systems cannot lock: say so, and go on unprotected. */
		log_warn("disk image %s: cannot be locked (%s); nothing stops a second VM opening it", path,
			 strerror(errno));
		return 0;
	}
	return -errno;
}

static uint32_t block_granularity_of(const struct stat *st)
{
	uint32_t g = BLOCK_SECTOR_SIZE;

	/* st_blksize is the file system's preferred I/O size: a power of 2 in practice; check. */
	if (st->st_blksize > 0 && st->st_blksize <= (1 << 20) && !(st->st_blksize & (st->st_blksize - 1)) &&
	    (uint32_t)st->st_blksize > g)
		g = (uint32_t)st->st_blksize;
	return g;
}

int block_open(const char *path, bool readonly, struct block **out)
{
	struct block *b;
	struct stat st;
	uint64_t bytes;
	int ret;

	if (!path || !*path) {
		log_err("disk image: no path given");
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->path = strdup(path);
	if (!b->path) {
		ret = -ENOMEM;
		goto free_block;
	}
	b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			log_err("disk image %s does not exist", path);
		else if (ret == -EISDIR)
			log_err("disk image %s is a directory", path);
		else if ((ret == -EACCES || ret == -EROFS || ret == -EPERM) && !readonly)
			log_err("disk image %s cannot be opened for writing (%s); attach it read-only?", path,
				strerror(-ret));
		else
			log_err("disk image %s cannot be opened: %s", path, strerror(-ret));
		goto free_path;
	}
	if (fstat(b->fd, &st) < 0) {
		ret = -errno;
		log_err("disk image %s: %s", path, strerror(-ret));
		goto close_fd;
	}
	ret = block_size_of(path, b->fd, &st, &bytes);
	if (ret)
		goto close_fd;
	if (bytes < BLOCK_SECTOR_SIZE) {
		log_err("disk image %s is empty (smaller than one %u-byte sector)", path, BLOCK_SECTOR_SIZE);
		ret = -EINVAL;
		goto close_fd;
	}
	if (bytes % BLOCK_SECTOR_SIZE)
		log_warn("disk image %s: size %llu is not a multiple of %u; the last %llu bytes are not used",
			 path, (unsigned long long)bytes, BLOCK_SECTOR_SIZE,
			 (unsigned long long)(bytes % BLOCK_SECTOR_SIZE));
	ret = block_lock(path, b->fd, readonly);
	if (ret)
		goto close_fd;
	b->sectors = bytes >> BLOCK_SECTOR_SHIFT;
	b->readonly = readonly;
	b->punch_ok = true;
	b->zero_ok = true;
	b->discard_granularity = block_granularity_of(&st);
	*out = b;
	return 0;

close_fd:
	close(b->fd);
free_path:
	free(b->path);
free_block:
	free(b);
	return ret;
}

void block_close(struct block *b)
{
	if (!b)
		return;
	close(b->fd); /* drops the flock */
	free(b->path);
	free(b);
}

uint64_t block_sectors(const struct block *b)
{
	return b->sectors;
}

bool block_readonly(const struct block *b)
{
	return b->readonly;
}

const char *block_path(const struct block *b)
{
	return b->path;
}

uint32_t block_discard_granularity(const struct block *b)
{
	return b->discard_granularity;
}

/*
 * Moves (i, skip) forward by @n bytes over @iov: after a short transfer the
 * next call starts mid-buffer. Only indexes change: the iovecs are the
 * caller's and stay untouched.
 */
static void block_iov_advance(const struct iovec *iov, unsigned iovcnt, unsigned *i, size_t *skip, size_t n)
{
	while (n && *i < iovcnt) {
		size_t left = iov[*i].iov_len - *skip;

		if (n < left) {
			*skip += n;
			return;
		}
		n -= left;
		(*i)++;
		*skip = 0;
	}
}

static int block_rw(struct block *b, const struct iovec *iov, unsigned iovcnt, uint64_t offset, bool write)
{
	unsigned i = 0;
	size_t skip = 0;

	while (i < iovcnt) {
		ssize_t n;

		if (iov[i].iov_len == skip) { /* empty buffer */
			i++;
			skip = 0;
			continue;
		}
		if (offset > (uint64_t)INT64_MAX)
			return -EINVAL;
		if (skip) {
			/* Resuming inside a buffer: finish that one alone, then vectors again. */
			void *base = (uint8_t *)iov[i].iov_base + skip;
			size_t len = iov[i].iov_len - skip;

			n = write ? pwrite(b->fd, base, len, (off_t)offset) : pread(b->fd, base, len, (off_t)offset);
		} else {
			int cnt = iovcnt - i > IOV_MAX ? IOV_MAX : (int)(iovcnt - i);

			n = write ? pwritev(b->fd, iov + i, cnt, (off_t)offset) : preadv(b->fd, iov + i, cnt, (off_t)offset);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* end of file: the image shrank, or the device is full */
		offset += (uint64_t)n;
		block_iov_advance(iov, iovcnt, &i, &skip, (size_t)n);
	}
	return 0;
}

int block_readv(struct block *b, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	return block_rw(b, iov, iovcnt, offset, false);
}

int block_writev(struct block *b, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	if (b->readonly)
		return -EROFS;
	return block_rw(b, iov, iovcnt, offset, true);
}

int block_flush(struct block *b)
{
	while (fdatasync(b->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static bool block_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS;
}

/* fallocate with @mode; 1 if done, 0 if the file system refused the mode (remembered in *ok), -errno. */
static int block_fallocate(struct block *b, int mode, uint64_t offset, uint64_t len, atomic_bool *ok)
{
	if (!*ok)
		return 0;
	if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - offset)
		return -EINVAL;
	while (fallocate(b->fd, mode, (off_t)offset, (off_t)len) < 0) {
		if (errno == EINTR)
			continue;
		if (block_unsupported(errno)) {
			*ok = false;
			return 0;
		}
		return -errno;
	}
	return 1;
}

int block_discard(struct block *b, uint64_t offset, uint64_t len)
{
	int ret;

	if (b->readonly)
		return -EROFS;
	if (!len)
		return 0;
	ret = block_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len, &b->punch_ok);
	return ret < 0 ? ret : 0; /* refused: discard is only a hint */
}

static int block_write_zero_bytes(struct block *b, uint64_t offset, uint64_t len)
{
	struct iovec iov[BLOCK_ZERO_IOVS] = { 0 };
	unsigned n;
	int ret;

	while (len) {
		for (n = 0; n < BLOCK_ZERO_IOVS && len; n++) {
			size_t chunk = len < BLOCK_ZERO_CHUNK ? (size_t)len : BLOCK_ZERO_CHUNK;

			/* The kernel only reads from a write's buffers: const is kept. */
			iov[n].iov_base = (void *)block_zeros;
			iov[n].iov_len = chunk;
			len -= chunk;
		}
		ret = block_rw(b, iov, n, offset, true);
		if (ret)
			return ret;
		for (unsigned k = 0; k < n; k++)
			offset += iov[k].iov_len;
	}
	return 0;
}

int block_write_zeroes(struct block *b, uint64_t offset, uint64_t len, bool may_unmap)
{
	int ret;

	if (b->readonly)
		return -EROFS;
	if (!len)
		return 0;
	/* A punched hole reads back as zeros: the cheapest way when deallocating is allowed. */
	if (may_unmap) {
		ret = block_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len, &b->punch_ok);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	ret = block_fallocate(b, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, len, &b->zero_ok);
	if (ret)
		return ret < 0 ? ret : 0;
	return block_write_zero_bytes(b, offset, len);
}
