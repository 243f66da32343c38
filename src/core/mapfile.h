/* Whole files mapped read-only: kernels and initrds, which the loaders treat as untrusted input. */
#ifndef BOTHY_CORE_MAPFILE_H
#define BOTHY_CORE_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

struct mapped_file {
	const uint8_t *data;
	size_t len;
};

/* Maps the regular, non-empty file @path; logs why not ("cannot open kernel '...': ..."). */
int mapped_file_open(const char *what, const char *path, struct mapped_file *f);
/* Unmaps; a zeroed struct is a no-op. */
void mapped_file_close(struct mapped_file *f);

/* The kernel and (if any) the initrd a boot loader reads; the initrd stays zeroed without one. */
struct boot_files {
	struct mapped_file kernel, initrd;
};

int boot_files_open(const char *kernel_path, const char *initrd_path, struct boot_files *b);
void boot_files_close(struct boot_files *b);

#endif
