/*
 * PVH ELF kernels: 32- or 64-bit x86 ELF executables with a Xen
 * XEN_ELFNOTE_PHYS32_ENTRY note, loaded by physical address (p_paddr) and
 * entered in 32-bit protected mode.
 */
#ifndef BOTHY_ARCH_X86_64_ELF_H
#define BOTHY_ARCH_X86_64_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/boot_internal.h"
#include "core/gmem.h"

/* On-the-wire ELF structures (only what the loader reads). */
#define ELF_EI_NIDENT 16
#define ELF_EI_CLASS 4
#define ELF_EI_DATA 5
#define ELF_EI_VERSION 6
#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA2LSB 1
#define ELF_EV_CURRENT 1
#define ELF_ET_EXEC 2
#define ELF_EM_386 3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD 1
#define ELF_PT_NOTE 4
#define ELF_SHT_NOTE 7
#define ELF_PN_XNUM 0xffff

#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct elf32_ehdr {
	uint8_t e_ident[ELF_EI_NIDENT];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint32_t e_entry;
	uint32_t e_phoff;
	uint32_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
} __attribute__((packed));

struct elf64_ehdr {
	uint8_t e_ident[ELF_EI_NIDENT];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry;
	uint64_t e_phoff;
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
} __attribute__((packed));

struct elf32_phdr {
	uint32_t p_type;
	uint32_t p_offset;
	uint32_t p_vaddr;
	uint32_t p_paddr;
	uint32_t p_filesz;
	uint32_t p_memsz;
	uint32_t p_flags;
	uint32_t p_align;
} __attribute__((packed));

struct elf64_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset;
	uint64_t p_vaddr;
	uint64_t p_paddr;
	uint64_t p_filesz;
	uint64_t p_memsz;
	uint64_t p_align;
} __attribute__((packed));

struct elf32_shdr {
	uint32_t sh_name;
	uint32_t sh_type;
	uint32_t sh_flags;
	uint32_t sh_addr;
	uint32_t sh_offset;
	uint32_t sh_size;
	uint32_t sh_link;
	uint32_t sh_info;
	uint32_t sh_addralign;
	uint32_t sh_entsize;
} __attribute__((packed));

struct elf64_shdr {
	uint32_t sh_name;
	uint32_t sh_type;
	uint64_t sh_flags;
	uint64_t sh_addr;
	uint64_t sh_offset;
	uint64_t sh_size;
	uint32_t sh_link;
	uint32_t sh_info;
	uint64_t sh_addralign;
	uint64_t sh_entsize;
} __attribute__((packed));

struct elf_nhdr {
	uint32_t n_namesz;
	uint32_t n_descsz;
	uint32_t n_type;
} __attribute__((packed));

_Static_assert(sizeof(struct elf32_ehdr) == 52, "Elf32_Ehdr");
_Static_assert(sizeof(struct elf64_ehdr) == 64, "Elf64_Ehdr");
_Static_assert(offsetof(struct elf64_ehdr, e_phoff) == 32, "Elf64_Ehdr.e_phoff");
_Static_assert(offsetof(struct elf64_ehdr, e_phnum) == 56, "Elf64_Ehdr.e_phnum");
_Static_assert(offsetof(struct elf32_ehdr, e_phnum) == 44, "Elf32_Ehdr.e_phnum");
_Static_assert(sizeof(struct elf32_phdr) == 32, "Elf32_Phdr");
_Static_assert(sizeof(struct elf64_phdr) == 56, "Elf64_Phdr");
_Static_assert(offsetof(struct elf64_phdr, p_paddr) == 24, "Elf64_Phdr.p_paddr");
_Static_assert(sizeof(struct elf32_shdr) == 40, "Elf32_Shdr");
_Static_assert(sizeof(struct elf64_shdr) == 64, "Elf64_Shdr");
_Static_assert(sizeof(struct elf_nhdr) == 12, "Elf_Nhdr");

/* Limits on untrusted headers (Linux's vmlinux has about five segments). */
#define X86_ELF_MAX_PHDRS 64
#define X86_ELF_MAX_SHDRS 4096
#define X86_ELF_MAX_LOADS 16

struct x86_elf_segment {
	uint64_t paddr;
	const uint8_t *data; /* borrowed from the image */
	uint64_t filesz;
	uint64_t memsz;
};

struct x86_pvh_elf {
	int is64;
	uint64_t entry;            /* from the PHYS32_ENTRY note */
	uint64_t start, end;       /* lowest and highest guest address the segments cover */
	unsigned nr_segs;
	struct x86_elf_segment segs[X86_ELF_MAX_LOADS];
};

/* Starts with the ELF magic? */
int x86_elf_probe(const uint8_t *img, size_t len);

/*
 * Validates a PVH ELF against the file and guest RAM (each PT_LOAD inside
 * one RAM region, at or above 1 MiB, below 4 GiB; the entry inside a
 * segment's file-backed part). 0, or -ENOEXEC / -E2BIG with a message.
 */
int x86_elf_parse(const struct gmem *gm, const uint8_t *img, size_t len, struct x86_pvh_elf *out,
		  char *err, size_t errlen);

/* Copies the segments in and zeroes their bss parts. 0 or -EFAULT. */
int x86_elf_load(struct gmem *gm, const struct x86_pvh_elf *elf);

#endif
