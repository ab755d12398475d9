/*
 * PVH boot: an ELF kernel (ELF32 or ELF64) with a Xen XEN_ELFNOTE_PHYS32_ENTRY
 * note is entered in 32-bit protected mode with %ebx pointing at an
 * hvm_start_info.  The file is untrusted: every header field is checked.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/boot.h"
#include "core/boot_impl.h"
#include "core/layout.h"
#include "core/vm.h"
#include "lib/log.h"

#define ELF_MAX_PHDRS	256
#define ELF_MAX_SHDRS	4096
#define ELF_MAX_NOTE	(1 << 20)

/* Program and section headers, class-independent. */
struct elf_ph {
	uint32_t	type;
	uint64_t	offset, paddr, filesz, memsz;
};

struct elf {
	const struct boot_file *f;
	int		is64;
	uint64_t	phoff, shoff;
	unsigned	phnum, shnum, phentsize, shentsize;
	struct elf_ph	*ph;
};

static int
elf_header(struct elf *elf)
{
	const char *path = elf->f->path;
	unsigned char id[EI_NIDENT];
	Elf64_Ehdr h64;
	Elf32_Ehdr h32;
	unsigned type, machine;
	int rc;

	if ((rc = boot_read(elf->f, 0, id, sizeof(id))) < 0)
		return rc;
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64) {
		hlog("%s: bad ELF class %u", path, id[EI_CLASS]);
		return -ENOEXEC;
	}
	if (id[EI_DATA] != ELFDATA2LSB || id[EI_VERSION] != EV_CURRENT) {
		hlog("%s: not a little-endian ELF version 1 file", path);
		return -ENOEXEC;
	}
	elf->is64 = id[EI_CLASS] == ELFCLASS64;
	if (elf->is64) {
		if ((rc = boot_read(elf->f, 0, &h64, sizeof(h64))) < 0)
			return rc;
		type = h64.e_type;
		machine = h64.e_machine;
		elf->phoff = h64.e_phoff;
		elf->phnum = h64.e_phnum;
		elf->phentsize = h64.e_phentsize;
		elf->shoff = h64.e_shoff;
		elf->shnum = h64.e_shnum;
		elf->shentsize = h64.e_shentsize;
	} else {
		if ((rc = boot_read(elf->f, 0, &h32, sizeof(h32))) < 0)
			return rc;
		type = h32.e_type;
		machine = h32.e_machine;
		elf->phoff = h32.e_phoff;
		elf->phnum = h32.e_phnum;
		elf->phentsize = h32.e_phentsize;
		elf->shoff = h32.e_shoff;
		elf->shnum = h32.e_shnum;
		elf->shentsize = h32.e_shentsize;
	}
	if (type != ET_EXEC) {
		hlog("%s: ELF type %u is not an executable", path, type);
		return -ENOEXEC;
	}
	if (machine != (elf->is64 ? EM_X86_64 : EM_386)) {
		hlog("%s: ELF machine %u is not x86", path, machine);
		return -ENOEXEC;
	}
	if (elf->phnum == 0 || elf->phnum > ELF_MAX_PHDRS ||
	    elf->phentsize != (elf->is64 ? sizeof(Elf64_Phdr) :
	    sizeof(Elf32_Phdr))) {
		hlog("%s: bad ELF program headers (%u of %u bytes)", path,
		    elf->phnum, elf->phentsize);
		return -ENOEXEC;
	}
	return 0;
}

static int
elf_phdrs(struct elf *elf)
{
	uint64_t off;
	unsigned i;
	Elf64_Phdr p64;
	Elf32_Phdr p32;
	struct elf_ph *ph;
	int rc;

	/* phnum <= ELF_MAX_PHDRS, so the product cannot overflow. */
	if (elf->phoff > elf->f->size ||
	    (uint64_t)elf->phnum * elf->phentsize > elf->f->size - elf->phoff) {
		hlog("%s: ELF program headers lie past the end of the file",
		    elf->f->path);
		return -ENOEXEC;
	}
	elf->ph = calloc(elf->phnum, sizeof(*elf->ph));
	if (elf->ph == NULL)
		return -ENOMEM;
	for (i = 0; i < elf->phnum; i++) {
		off = elf->phoff + (uint64_t)i * elf->phentsize;
		ph = &elf->ph[i];
		if (elf->is64) {
			if ((rc = boot_read(elf->f, off, &p64, sizeof(p64))) < 0)
				return rc;
			ph->type = p64.p_type;
			ph->offset = p64.p_offset;
			ph->paddr = p64.p_paddr;
			ph->filesz = p64.p_filesz;
			ph->memsz = p64.p_memsz;
		} else {
			if ((rc = boot_read(elf->f, off, &p32, sizeof(p32))) < 0)
				return rc;
			ph->type = p32.p_type;
			ph->offset = p32.p_offset;
			ph->paddr = p32.p_paddr;
			ph->filesz = p32.p_filesz;
			ph->memsz = p32.p_memsz;
		}
	}
	return 0;
}

/* Checks and loads every PT_LOAD segment; *end is the highest loaded byte + 1. */
static int
elf_load(struct vm *vm, struct elf *elf, uint64_t *end)
{
	const char *path = elf->f->path;
	struct elf_ph *ph;
	uint8_t *dst;
	unsigned i, n = 0;
	int rc;

	*end = 0;
	for (i = 0; i < elf->phnum; i++) {
		ph = &elf->ph[i];
		if (ph->type != PT_LOAD || ph->memsz == 0)
			continue;
		if (ph->filesz > ph->memsz || ph->offset > elf->f->size ||
		    ph->filesz > elf->f->size - ph->offset) {
			hlog("%s: ELF segment %u lies past the end of the file",
			    path, i);
			return -ENOEXEC;
		}
		if (ph->paddr < BIOS_AREA_END || ph->paddr >= vm->lowmem ||
		    ph->memsz > vm->lowmem - ph->paddr) {
			hlog("%s: ELF segment %u at 0x%" PRIx64 "+0x%" PRIx64
			    " is outside guest RAM [0x%" PRIx64 ", 0x%" PRIx64
			    "); give the VM more memory or relink the kernel",
			    path, i, ph->paddr, ph->memsz, (uint64_t)BIOS_AREA_END,
			    vm->lowmem);
			return -ERANGE;
		}
		dst = vm_gpa(vm, ph->paddr, ph->memsz);
		if (dst == NULL) {
			hlog("%s: ELF segment %u at 0x%" PRIx64 " is not guest "
			    "RAM", path, i, ph->paddr);
			return -ERANGE;
		}
		if ((rc = boot_read(elf->f, ph->offset, dst, ph->filesz)) < 0)
			return rc;
		memset(dst + ph->filesz, 0, ph->memsz - ph->filesz);
		if (ph->paddr + ph->memsz > *end)
			*end = ph->paddr + ph->memsz;
		n++;
	}
	if (n == 0) {
		hlog("%s: ELF file has no loadable segment", path);
		return -ENOEXEC;
	}
	return 0;
}

/* Looks through the notes in [off, off+len) for the PVH entry. */
static int
elf_notes(const struct elf *elf, uint64_t off, uint64_t len, uint64_t *entry)
{
	const char *path = elf->f->path;
	uint32_t nh[3], namesz, descsz, v32;
	uint64_t pos = 0, nlen, dlen, v64;
	uint8_t *buf;
	int rc, found = 0;

	if (len == 0)
		return 0;
	if (off > elf->f->size || len > elf->f->size - off || len > ELF_MAX_NOTE) {
		hlog("%s: ELF note at offset 0x%" PRIx64 " lies past the end "
		    "of the file", path, off);
		return -ENOEXEC;
	}
	buf = malloc(len);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = boot_read(elf->f, off, buf, len)) < 0)
		goto out;
	while (len - pos >= sizeof(nh)) {
		memcpy(nh, buf + pos, sizeof(nh));
		pos += sizeof(nh);
		namesz = nh[0];
		descsz = nh[1];
		nlen = ((uint64_t)namesz + 3) & ~3ULL;
		dlen = ((uint64_t)descsz + 3) & ~3ULL;
		if (nlen > len - pos || dlen > len - pos - nlen) {
			hlog("%s: ELF note at offset 0x%" PRIx64 " is truncated",
			    path, off + pos - sizeof(nh));
			rc = -ENOEXEC;
			goto out;
		}
		if (nh[2] == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(buf + pos, "Xen", 4) == 0) {
			if (descsz == 4) {
				memcpy(&v32, buf + pos + nlen, 4);
				v64 = v32;
			} else if (descsz == 8) {
				memcpy(&v64, buf + pos + nlen, 8);
			} else {
				hlog("%s: XEN_ELFNOTE_PHYS32_ENTRY note has %u "
				    "bytes, not 4 or 8", path, descsz);
				rc = -ENOEXEC;
				goto out;
			}
			*entry = v64;
			found = 1;
		}
		pos += nlen + dlen;
	}
	rc = found;
out:
	free(buf);
	return rc;
}

static int
elf_find_entry(const struct elf *elf, uint64_t *entry)
{
	uint64_t off;
	unsigned i;
	Elf64_Shdr s64;
	Elf32_Shdr s32;
	uint32_t type;
	uint64_t soff, ssize;
	int rc;

	for (i = 0; i < elf->phnum; i++) {
		if (elf->ph[i].type != PT_NOTE)
			continue;
		rc = elf_notes(elf, elf->ph[i].offset, elf->ph[i].filesz, entry);
		if (rc != 0)
			return rc;
	}
	/* No note segment with the entry: try the note sections. */
	if (elf->shoff == 0 || elf->shnum == 0)
		return 0;
	if (elf->shnum > ELF_MAX_SHDRS || elf->shentsize !=
	    (elf->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)) ||
	    elf->shoff > elf->f->size ||
	    (uint64_t)elf->shnum * elf->shentsize > elf->f->size - elf->shoff) {
		hlog("%s: bad ELF section headers", elf->f->path);
		return -ENOEXEC;
	}
	for (i = 0; i < elf->shnum; i++) {
		off = elf->shoff + (uint64_t)i * elf->shentsize;
		if (elf->is64) {
			if ((rc = boot_read(elf->f, off, &s64, sizeof(s64))) < 0)
				return rc;
			type = s64.sh_type;
			soff = s64.sh_offset;
			ssize = s64.sh_size;
		} else {
			if ((rc = boot_read(elf->f, off, &s32, sizeof(s32))) < 0)
				return rc;
			type = s32.sh_type;
			soff = s32.sh_offset;
			ssize = s32.sh_size;
		}
		if (type != SHT_NOTE)
			continue;
		rc = elf_notes(elf, soff, ssize, entry);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
pvh_write_info(struct vm *vm, const struct boot_spec *spec, uint64_t initrd,
    uint64_t initrd_size)
{
	struct boot_mem map[BOOT_MEMMAP_MAX];
	struct hvm_memmap_table_entry mt[BOOT_MEMMAP_MAX];
	struct hvm_modlist_entry mod;
	struct hvm_start_info si;
	int i, n, rc;

	n = boot_memmap(vm, map, BOOT_MEMMAP_MAX);
	if (n < 0)
		return n;
	memset(mt, 0, sizeof(mt));
	for (i = 0; i < n; i++) {
		mt[i].addr = map[i].addr;
		mt[i].size = map[i].size;
		mt[i].type = map[i].type;
	}
	if ((rc = vm_write(vm, BOOT_MEMMAP_ADDR, mt, n * sizeof(mt[0]))) < 0)
		return rc;

	memset(&si, 0, sizeof(si));
	si.magic = HVM_START_MAGIC;
	si.version = HVM_START_VERSION;
	si.cmdline_paddr = BOOT_CMDLINE_ADDR;
	si.rsdp_paddr = spec->rsdp;
	si.memmap_paddr = BOOT_MEMMAP_ADDR;
	si.memmap_entries = n;
	if (initrd_size > 0) {
		memset(&mod, 0, sizeof(mod));
		mod.paddr = initrd;
		mod.size = initrd_size;
		if ((rc = vm_write(vm, BOOT_MODLIST_ADDR, &mod, sizeof(mod))) < 0)
			return rc;
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_MODLIST_ADDR;
	}
	return vm_write(vm, BOOT_INFO_ADDR, &si, sizeof(si));
}

static int
entry_loaded(const struct elf *elf, uint64_t entry)
{
	unsigned i;

	for (i = 0; i < elf->phnum; i++) {
		if (elf->ph[i].type == PT_LOAD && entry >= elf->ph[i].paddr &&
		    entry - elf->ph[i].paddr < elf->ph[i].memsz)
			return 1;
	}
	return 0;
}

int
boot_load_pvh(struct vm *vm, const struct boot_spec *spec,
    const struct boot_file *f, struct boot_entry *e)
{
	struct elf elf = { .f = f };
	uint64_t entry = 0, end, initrd = 0, initrd_size = 0;
	int rc;

	if ((rc = elf_header(&elf)) < 0 || (rc = elf_phdrs(&elf)) < 0)
		goto out;
	rc = elf_find_entry(&elf, &entry);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		hlog("%s: not a PVH kernel (no XEN_ELFNOTE_PHYS32_ENTRY note)",
		    f->path);
		rc = -ENOEXEC;
		goto out;
	}
	if (entry >= GB(4) || !entry_loaded(&elf, entry)) {
		hlog("%s: PVH entry 0x%" PRIx64 " is not in a loaded segment",
		    f->path, entry);
		rc = -ENOEXEC;
		goto out;
	}
	if ((rc = elf_load(vm, &elf, &end)) < 0)
		goto out;
	if ((rc = boot_write_cmdline(vm, spec->cmdline, BOOT_CMDLINE_MAX - 1)) < 0)
		goto out;
	if (spec->initrd != NULL &&
	    (rc = boot_load_initrd(vm, spec->initrd, end, vm->lowmem, 0,
	    &initrd, &initrd_size)) < 0)
		goto out;
	if ((rc = pvh_write_info(vm, spec, initrd, initrd_size)) < 0)
		goto out;
	e->mode = BOOT_PVH;
	e->entry = entry;
	e->info = BOOT_INFO_ADDR;
	rc = 0;
out:
	free(elf.ph);
	return rc;
}
