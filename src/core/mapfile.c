/* Kernels and initrds, mapped whole and read-only (core/mapfile.h). */
#include "core/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

int mapped_file_open(const char *what, const char *path, struct mapped_file *f)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open %s '%s': %s", what, path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s '%s' is not a regular file", what, path);
		ret = -EINVAL;
		goto close_fd;
	}
	if (st.st_size == 0) {
		log_err("%s '%s' is empty", what, path);
		ret = -ENOEXEC;
		goto close_fd;
	}
	f->len = (size_t)st.st_size;
	f->data = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f->data == MAP_FAILED) {
		ret = -errno;
		log_err("cannot read %s '%s': %s", what, path, strerror(errno));
		goto close_fd;
	}
	close(fd);
	return 0;

close_fd:
	close(fd);
	return ret;
}

void mapped_file_close(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
}

int boot_files_open(const char *kernel_path, const char *initrd_path, struct boot_files *b)
{
	int ret;

	*b = (struct boot_files){ 0 };
	ret = mapped_file_open("kernel", kernel_path, &b->kernel);
	if (!ret && initrd_path)
		ret = mapped_file_open("initrd", initrd_path, &b->initrd);
	if (ret)
		boot_files_close(b);
	return ret;
}

void boot_files_close(struct boot_files *b)
{
	mapped_file_close(&b->initrd);
	mapped_file_close(&b->kernel);
}
