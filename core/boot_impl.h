/* Internal to the boot loaders (boot.c, boot_pvh.c, boot_linux.c). */
#ifndef HYVE_BOOT_IMPL_H
#define HYVE_BOOT_IMPL_H

#include <stdint.h>

#include "core/boot.h"

#define BOOT_PAGE		4096ULL
#define BOOT_MEMMAP_MAX		128

/* Xen's PVH start of day structures (xen/include/public/arch-x86/hvm/start_info.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define HVM_START_MAGIC			0x336ec578
#define HVM_START_VERSION		1

struct hvm_start_info {
	uint32_t	magic;
	uint32_t	version;
	uint32_t	flags;
	uint32_t	nr_modules;
	uint64_t	modlist_paddr;
	uint64_t	cmdline_paddr;
	uint64_t	rsdp_paddr;
	uint64_t	memmap_paddr;		/* version 1 and later */
	uint32_t	memmap_entries;
	uint32_t	reserved;
};

struct hvm_modlist_entry {
	uint64_t	paddr;
	uint64_t	size;
	uint64_t	cmdline_paddr;
	uint64_t	reserved;
};

struct hvm_memmap_table_entry {
	uint64_t	addr;
	uint64_t	size;
	uint32_t	type;
	uint32_t	reserved;
};

/* The GDT the 64-bit Linux entry runs on. */
#define BOOT_GDT_ENTRIES	4
#define BOOT_GDT_CODE64		0x00AF9A000000FFFFULL	/* selector 0x10 */
#define BOOT_GDT_DATA		0x00CF92000000FFFFULL	/* selector 0x18 */

/* An open kernel or initrd image. */
struct boot_file {
	const char	*path;
	int		fd;
	uint64_t	size;
};

int boot_open(struct boot_file *f, const char *path, const char *what);
void boot_close(struct boot_file *f);
/* Reads exactly len bytes at off; a short file is an error naming it. */
int boot_read(const struct boot_file *f, uint64_t off, void *buf, uint64_t len);
/* Reads [off, off+len) of the file into guest RAM at gpa. */
int boot_read_guest(struct vm *vm, const struct boot_file *f, uint64_t off,
    uint64_t gpa, uint64_t len);

/* Writes the NUL-terminated command line at BOOT_CMDLINE_ADDR. */
int boot_write_cmdline(struct vm *vm, const char *cmdline, uint64_t maxlen);

/*
 * Loads the initrd page-aligned in [lo, hi): as low as possible, or as high
 * as possible if high is set.
 */
int boot_load_initrd(struct vm *vm, const char *path, uint64_t lo, uint64_t hi,
    int high, uint64_t *addr, uint64_t *size);

int boot_load_pvh(struct vm *vm, const struct boot_spec *spec,
    const struct boot_file *f, struct boot_entry *e);
int boot_load_linux(struct vm *vm, const struct boot_spec *spec,
    const struct boot_file *f, struct boot_entry *e);

#endif
