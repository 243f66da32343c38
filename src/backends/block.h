/*
 * Host block backend: a raw disk image (a regular file or a block device)
 * read and written in place with preadv/pwritev on the caller's iovecs, so
 * guest buffers go straight to the kernel without a bounce copy.
 *
 * Opening:
 *  - O_RDWR, or O_RDONLY when read-only; always O_CLOEXEC.
 *  - An advisory flock(): LOCK_EX for a writable image, LOCK_SH for a
 *    read-only one, never waiting. Two VMs cannot both write one image, and a
 *    writer excludes readers (they would see it change under them): the
 *    second open fails with -EBUSY. Locks are per open, so this holds
 *    within one process too.
 *  - The capacity is the size in 512-byte sectors. A size that is not a
 *    multiple of 512 is rounded DOWN with a warning (the tail is never read
 *    or written); an image smaller than one sector is refused (-EINVAL).
 *  - Errors print one message naming the image and the cause (log_err).
 *
 * Discard and write-zeroes use fallocate(). Whether the file system supports
 * PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE is learnt on first use: on EOPNOTSUPP
 * the backend remembers it, discard becomes a successful no-op (allowed: it
 * is only a hint) and write-zeroes falls back to writing zeros.
 *
 * Offsets and lengths are in bytes; callers check them against the capacity.
 * Functions return 0 or a negative errno. One thread at a time per backend.
 */
#ifndef BOTHY_BACKENDS_BLOCK_H
#define BOTHY_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLOCK_SECTOR_SIZE 512u
#define BLOCK_SECTOR_SHIFT 9

struct block;

/* Opens and locks @path (borrowed); *out on success. */
int block_open(const char *path, bool readonly, struct block **out);
/* Unlocks and closes. NULL is a no-op. */
void block_close(struct block *b);

uint64_t block_sectors(const struct block *b);
bool block_readonly(const struct block *b);
/* The image's path as given to block_open (a private copy). */
const char *block_path(const struct block *b);
/* Preferred discard granularity in bytes: the file system's block size (a power of 2, >= 512). */
uint32_t block_discard_granularity(const struct block *b);

/*
 * Reads/writes the whole of @iov (total bytes) at byte @offset, retrying
 * short transfers. Reading past the end of the file (it shrank after open)
 * or a write that makes no progress gives -EIO.
 */
int block_readv(struct block *b, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
int block_writev(struct block *b, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
/* fdatasync. */
int block_flush(struct block *b);
/* Deallocates [offset, offset+len) if the file system can (reads then return zeros); else no-op. */
int block_discard(struct block *b, uint64_t offset, uint64_t len);
/* Makes [offset, offset+len) read as zeros; with @may_unmap it may deallocate the range. */
int block_write_zeroes(struct block *b, uint64_t offset, uint64_t len, bool may_unmap);

#endif
