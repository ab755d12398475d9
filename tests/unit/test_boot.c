/* Boot loaders: memory map, PVH ELF, bzImage, initial register state. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/bootparam.h>
#include <cmocka.h>

#include "core/boot.h"
#include "core/boot_impl.h"
#include "core/layout.h"
#include "core/vm.h"

static char dir[] = "/tmp/hyve-test-boot.XXXXXX";
static char kpath[128], ipath[128];
static char errbuf[8192];
static int saved_fd = -1;

/* stderr capture, to check that errors name the file at fault. */
static void
capture_begin(void)
{
	FILE *t = tmpfile();

	assert_non_null(t);
	fflush(stderr);
	saved_fd = dup(2);
	dup2(fileno(t), 2);
	fclose(t);
}

static const char *
capture_end(void)
{
	ssize_t n;

	fflush(stderr);
	lseek(2, 0, SEEK_SET);
	n = read(2, errbuf, sizeof(errbuf) - 1);
	errbuf[n > 0 ? n : 0] = '\0';
	dup2(saved_fd, 2);
	close(saved_fd);
	return errbuf;
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(kpath, sizeof(kpath), "%s/kernel", dir);
	snprintf(ipath, sizeof(ipath), "%s/initrd", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(kpath);
	unlink(ipath);
	rmdir(dir);
	return 0;
}

/* Loads kernel kpath (with optional initrd/cmdline) into a fresh VM. */
static int
load(struct vm *vm, uint64_t mem, const char *initrd, const char *cmdline,
    struct boot_entry *e)
{
	struct boot_spec spec = {
		.kernel = kpath, .initrd = initrd, .cmdline = cmdline,
		.rsdp = 0xE0000,
	};

	assert_int_equal(vm_create_nokvm(vm, "t", mem), 0);
	return boot_load(vm, &spec, e);
}

/* Expects boot_load to fail with rc and an error naming kpath and what. */
static void
load_fails(uint64_t mem, const char *initrd, const char *cmdline, int rc,
    const char *what)
{
	struct vm vm;
	struct boot_entry e;
	const char *err;
	int r;

	capture_begin();
	r = load(&vm, mem, initrd, cmdline, &e);
	err = capture_end();
	vm_destroy(&vm);
	if (rc != 0)
		assert_int_equal(r, rc);
	else
		assert_true(r < 0);
	if (what != NULL) {
		if (strstr(err, what) == NULL)
			fail_msg("error \"%s\" does not say \"%s\"", err, what);
	}
}

/* --- memory map ------------------------------------------------------ */

static void
check_mem(const struct boot_mem *m, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(m->addr, addr);
	assert_int_equal(m->size, size);
	assert_int_equal(m->type, type);
}

static void
test_memmap_128m(void **state)
{
	struct boot_mem map[16];
	struct vm vm;

	(void)state;
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(128)), 0);
	assert_int_equal(boot_memmap(&vm, map, 16), 4);
	check_mem(&map[0], 0, EBDA_BASE, 1);
	check_mem(&map[1], EBDA_BASE, BIOS_AREA_END - EBDA_BASE, 2);
	check_mem(&map[2], MB(1), MB(127), 1);
	check_mem(&map[3], PCI_ECAM_BASE, PCI_ECAM_SIZE, 2);
	assert_int_equal(boot_memmap(&vm, map, 3), -ENOSPC);
	vm_destroy(&vm);
}

static void
test_memmap_highmem(void **state)
{
	struct boot_mem map[16];
	uint64_t ram = 0;
	struct vm vm;
	int i, n;

	(void)state;
	assert_int_equal(vm_create_nokvm(&vm, "t", GB(4) + MB(512)), 0);
	n = boot_memmap(&vm, map, 16);
	assert_int_equal(n, 5);
	check_mem(&map[2], MB(1), LOWMEM_LIMIT - MB(1), 1);
	check_mem(&map[3], PCI_ECAM_BASE, PCI_ECAM_SIZE, 2);
	check_mem(&map[4], HIGHMEM_BASE, GB(1) + MB(512), 1);
	for (i = 0; i < n; i++) {
		if (map[i].type == 1)
			ram += map[i].size;
		if (i > 0)
			assert_true(map[i].addr >= map[i - 1].addr + map[i - 1].size);
	}
	/* All RAM but the legacy hole is in the map. */
	assert_int_equal(ram, GB(4) + MB(512) - (BIOS_AREA_END - EBDA_BASE));
	vm_destroy(&vm);
}

/* --- PVH ELF ---------------------------------------------------------- */

#define SEG1_OFF	0x1000
#define SEG1_ADDR	0x100000ULL
#define SEG1_FILESZ	0x100
#define SEG1_MEMSZ	0x2000
#define SEG2_OFF	0x1100
#define SEG2_ADDR	0x300000ULL
#define SEG2_SIZE	0x10
#define NOTE_OFF	0x100
#define SHDR_OFF	0x200
#define PVH_ENTRY	0x100010
#define ELF_LEN		(SEG2_OFF + SEG2_SIZE)

enum note_kind { NOTE_PT4, NOTE_PT8, NOTE_SECTION, NOTE_NONE };

static uint8_t img[0x20000] __attribute__((aligned(16)));

/* Writes a note at off; returns its length. */
static size_t
put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
    uint32_t descsz)
{
	uint32_t h[3] = { strlen(name) + 1, descsz, type };
	size_t n = sizeof(h);

	memcpy(p, h, sizeof(h));
	memcpy(p + n, name, h[0]);
	n += (h[0] + 3) & ~3u;
	memcpy(p + n, desc, descsz);
	n += (descsz + 3) & ~3u;
	return n;
}

/*
 * An ELF kernel: two PT_LOAD segments (the first with bss), a note segment
 * holding a GNU note and then the PVH entry note, section headers.
 */
static size_t
build_elf(int is64, enum note_kind nk)
{
	uint64_t e64 = PVH_ENTRY, gnu = 0x1122334455667788ULL;
	uint32_t e32 = PVH_ENTRY;
	size_t notelen, i;
	int phnum = nk == NOTE_SECTION ? 2 : 3;
	int note_type = nk == NOTE_NONE ? 17 : XEN_ELFNOTE_PHYS32_ENTRY;

	memset(img, 0, sizeof(img));
	notelen = put_note(img + NOTE_OFF, "GNU", 3, &gnu, 8);
	if (nk == NOTE_PT8)
		notelen += put_note(img + NOTE_OFF + notelen, "Xen", note_type, &e64, 8);
	else
		notelen += put_note(img + NOTE_OFF + notelen, "Xen", note_type, &e32, 4);
	for (i = 0; i < SEG1_FILESZ; i++)
		img[SEG1_OFF + i] = i ^ 0x5a;
	memset(img + SEG2_OFF, 0xC3, SEG2_SIZE);

	if (is64) {
		Elf64_Ehdr h = { .e_type = ET_EXEC, .e_machine = EM_X86_64,
		    .e_version = EV_CURRENT, .e_entry = 0xffffffff81000000,
		    .e_phoff = sizeof(h), .e_shoff = SHDR_OFF,
		    .e_ehsize = sizeof(h), .e_phentsize = sizeof(Elf64_Phdr),
		    .e_phnum = phnum, .e_shentsize = sizeof(Elf64_Shdr),
		    .e_shnum = 2 };
		Elf64_Phdr ph[3] = {
			{ .p_type = PT_LOAD, .p_offset = SEG1_OFF,
			  .p_vaddr = 0xffffffff81000000, .p_paddr = SEG1_ADDR,
			  .p_filesz = SEG1_FILESZ, .p_memsz = SEG1_MEMSZ },
			{ .p_type = PT_LOAD, .p_offset = SEG2_OFF,
			  .p_paddr = SEG2_ADDR, .p_filesz = SEG2_SIZE,
			  .p_memsz = SEG2_SIZE },
			{ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
			  .p_filesz = notelen },
		};
		Elf64_Shdr sh[2] = { { 0 }, { .sh_type = SHT_NOTE,
		    .sh_offset = NOTE_OFF, .sh_size = notelen } };

		memcpy(h.e_ident, ELFMAG, SELFMAG);
		h.e_ident[EI_CLASS] = ELFCLASS64;
		h.e_ident[EI_DATA] = ELFDATA2LSB;
		h.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &h, sizeof(h));
		memcpy(img + sizeof(h), ph, sizeof(ph));
		memcpy(img + SHDR_OFF, sh, sizeof(sh));
	} else {
		Elf32_Ehdr h = { .e_type = ET_EXEC, .e_machine = EM_386,
		    .e_version = EV_CURRENT, .e_entry = PVH_ENTRY,
		    .e_phoff = sizeof(h), .e_shoff = SHDR_OFF,
		    .e_ehsize = sizeof(h), .e_phentsize = sizeof(Elf32_Phdr),
		    .e_phnum = phnum, .e_shentsize = sizeof(Elf32_Shdr),
		    .e_shnum = 2 };
		Elf32_Phdr ph[3] = {
			{ .p_type = PT_LOAD, .p_offset = SEG1_OFF,
			  .p_paddr = SEG1_ADDR, .p_filesz = SEG1_FILESZ,
			  .p_memsz = SEG1_MEMSZ },
			{ .p_type = PT_LOAD, .p_offset = SEG2_OFF,
			  .p_paddr = SEG2_ADDR, .p_filesz = SEG2_SIZE,
			  .p_memsz = SEG2_SIZE },
			{ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
			  .p_filesz = notelen },
		};
		Elf32_Shdr sh[2] = { { 0 }, { .sh_type = SHT_NOTE,
		    .sh_offset = NOTE_OFF, .sh_size = notelen } };

		memcpy(h.e_ident, ELFMAG, SELFMAG);
		h.e_ident[EI_CLASS] = ELFCLASS32;
		h.e_ident[EI_DATA] = ELFDATA2LSB;
		h.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &h, sizeof(h));
		memcpy(img + sizeof(h), ph, sizeof(ph));
		memcpy(img + SHDR_OFF, sh, sizeof(sh));
	}
	return ELF_LEN;
}

static Elf64_Ehdr *
eh64(void)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *
ph64(int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

/* Loads the ELF in img and checks everything the PVH loader writes. */
static void
check_pvh(size_t len, const char *initrd, size_t initrd_len,
    const char *cmdline)
{
	struct boot_mem map[BOOT_MEMMAP_MAX];
	struct hvm_memmap_table_entry *mt;
	struct hvm_modlist_entry *mod;
	struct hvm_start_info *si;
	struct boot_entry e;
	struct vm vm;
	uint8_t *p;
	int i, n;

	write_file(kpath, img, len);
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(128)), 0);
	/* Dirty the bss so the loader has to clear it. */
	memset(vm_gpa(&vm, SEG1_ADDR, SEG1_MEMSZ), 0xAA, SEG1_MEMSZ);
	{
		struct boot_spec spec = { .kernel = kpath, .initrd = initrd,
		    .cmdline = cmdline, .rsdp = 0xE0000 };
		assert_int_equal(boot_load(&vm, &spec, &e), 0);
	}
	assert_int_equal(e.mode, BOOT_PVH);
	assert_int_equal(e.entry, PVH_ENTRY);
	assert_int_equal(e.info, BOOT_INFO_ADDR);

	p = vm_gpa(&vm, SEG1_ADDR, SEG1_MEMSZ);
	for (i = 0; i < SEG1_FILESZ; i++)
		assert_int_equal(p[i], (uint8_t)(i ^ 0x5a));
	for (; i < SEG1_MEMSZ; i++)
		assert_int_equal(p[i], 0);
	p = vm_gpa(&vm, SEG2_ADDR, SEG2_SIZE);
	for (i = 0; i < SEG2_SIZE; i++)
		assert_int_equal(p[i], 0xC3);

	si = vm_gpa(&vm, BOOT_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->magic, 0x336ec578);
	assert_int_equal(si->version, 1);
	assert_int_equal(si->flags, 0);
	assert_int_equal(si->cmdline_paddr, BOOT_CMDLINE_ADDR);
	assert_int_equal(si->rsdp_paddr, 0xE0000);
	assert_int_equal(si->memmap_paddr, BOOT_MEMMAP_ADDR);
	assert_int_equal(si->reserved, 0);
	assert_string_equal((char *)vm_gpa(&vm, BOOT_CMDLINE_ADDR, 1),
	    cmdline ? cmdline : "");

	n = boot_memmap(&vm, map, BOOT_MEMMAP_MAX);
	assert_int_equal(si->memmap_entries, n);
	mt = vm_gpa(&vm, BOOT_MEMMAP_ADDR, n * sizeof(*mt));
	for (i = 0; i < n; i++) {
		assert_int_equal(mt[i].addr, map[i].addr);
		assert_int_equal(mt[i].size, map[i].size);
		assert_int_equal(mt[i].type, map[i].type);
		assert_int_equal(mt[i].reserved, 0);
	}

	if (initrd == NULL) {
		assert_int_equal(si->nr_modules, 0);
		assert_int_equal(si->modlist_paddr, 0);
	} else {
		assert_int_equal(si->nr_modules, 1);
		assert_int_equal(si->modlist_paddr, BOOT_MODLIST_ADDR);
		mod = vm_gpa(&vm, BOOT_MODLIST_ADDR, sizeof(*mod));
		/* Page-aligned, just above the highest loaded byte. */
		assert_int_equal(mod->paddr, 0x301000);
		assert_int_equal(mod->size, initrd_len);
		assert_int_equal(mod->cmdline_paddr, 0);
		p = vm_gpa(&vm, mod->paddr, initrd_len);
		for (i = 0; i < (int)initrd_len; i++)
			assert_int_equal(p[i], (uint8_t)(i * 7));
	}
	vm_destroy(&vm);
}

static size_t
make_initrd(size_t len)
{
	uint8_t *b = malloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = i * 7;
	write_file(ipath, b, len);
	free(b);
	return len;
}

static void
test_pvh_elf64(void **state)
{
	(void)state;
	check_pvh(build_elf(1, NOTE_PT4), ipath, make_initrd(5000),
	    "console=ttyS0 hyve");
}

static void
test_pvh_no_initrd(void **state)
{
	(void)state;
	check_pvh(build_elf(1, NOTE_PT4), NULL, 0, NULL);
}

static void
test_pvh_note8(void **state)
{
	(void)state;
	check_pvh(build_elf(1, NOTE_PT8), NULL, 0, "x");
}

static void
test_pvh_section_note(void **state)
{
	(void)state;
	check_pvh(build_elf(1, NOTE_SECTION), ipath, make_initrd(4096), "y");
}

static void
test_pvh_elf32(void **state)
{
	(void)state;
	check_pvh(build_elf(0, NOTE_PT4), ipath, make_initrd(1), "z");
	check_pvh(build_elf(0, NOTE_SECTION), NULL, 0, NULL);
}

static void
test_pvh_no_note(void **state)
{
	char want[256];

	(void)state;
	write_file(kpath, img, build_elf(1, NOTE_NONE));
	snprintf(want, sizeof(want),
	    "%s: not a PVH kernel (no XEN_ELFNOTE_PHYS32_ENTRY note)", kpath);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, want);
	write_file(kpath, img, build_elf(0, NOTE_NONE));
	load_fails(MB(128), NULL, NULL, -ENOEXEC, want);
}

static void
test_pvh_truncated(void **state)
{
	size_t len, full;

	(void)state;
	for (int is64 = 0; is64 < 2; is64++) {
		full = build_elf(is64, NOTE_PT4);
		/* Every prefix of the file fails cleanly and names it. */
		for (len = 0; len < full; len += len < 0x300 ? 1 : 0x41) {
			write_file(kpath, img, len);
			load_fails(MB(128), NULL, NULL, 0, kpath);
		}
	}
}

static void
test_pvh_bad_headers(void **state)
{
	(void)state;
	build_elf(1, NOTE_PT4);
	eh64()->e_phnum = 0xFFFF;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* too many, though in the file */
	eh64()->e_phnum = 300;
	write_file(kpath, img, 0x8000);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* the PVH note type, not from Xen */
	memcpy(img + NOTE_OFF + 24 + 12, "Xem", 4);
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "not a PVH kernel");

	build_elf(1, NOTE_PT4);
	eh64()->e_phoff = 0xFFFFFFFFFFFFFFF0ULL;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);
	eh64()->e_phentsize = 32;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);
	eh64()->e_machine = EM_AARCH64;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* filesz > memsz */
	ph64(0)->p_memsz = SEG1_FILESZ - 1;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* segment data past end of file */
	ph64(0)->p_offset = 0xFFFFFFFFFFFFFF00ULL;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* note size overflows */
	ph64(2)->p_filesz = 0xFFFFFFFFFFFFFFFFULL;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* namesz of the first note huge */
	*(uint32_t *)(img + NOTE_OFF) = 0xFFFFFFFF;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_SECTION);	/* section headers overflow */
	eh64()->e_shnum = 0xFFFF;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);

	build_elf(1, NOTE_PT4);		/* entry outside every segment */
	*(uint32_t *)(img + NOTE_OFF + 24 + 16) = 0x200000;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "PVH entry 0x200000");
}

static void
test_pvh_segment_outside_ram(void **state)
{
	(void)state;
	build_elf(1, NOTE_PT4);		/* crosses the end of RAM */
	ph64(1)->p_paddr = MB(128) - 8;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ERANGE, kpath);

	build_elf(1, NOTE_PT4);		/* on top of the boot structures */
	ph64(1)->p_paddr = BOOT_INFO_ADDR;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ERANGE, "outside guest RAM");

	build_elf(1, NOTE_PT4);		/* address + size wraps */
	ph64(1)->p_paddr = 0xFFFFFFFFFFFFFFF8ULL;
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ERANGE, kpath);

	build_elf(1, NOTE_PT4);		/* bss larger than RAM */
	ph64(0)->p_memsz = GB(2);
	write_file(kpath, img, ELF_LEN);
	load_fails(MB(128), NULL, NULL, -ERANGE, kpath);
}

static void
test_pvh_cmdline(void **state)
{
	char *cl = malloc(BOOT_CMDLINE_MAX + 1);

	(void)state;
	memset(cl, 'a', BOOT_CMDLINE_MAX);
	cl[BOOT_CMDLINE_MAX] = '\0';
	write_file(kpath, img, build_elf(1, NOTE_PT4));
	load_fails(MB(128), NULL, cl, -E2BIG, "command line");
	cl[BOOT_CMDLINE_MAX - 1] = '\0';	/* exactly the maximum */
	check_pvh(ELF_LEN, NULL, 0, cl);
	free(cl);
}

static void
test_pvh_initrd_too_big(void **state)
{
	int fd;

	(void)state;
	write_file(kpath, img, build_elf(1, NOTE_PT4));
	fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MB(16)), 0);
	close(fd);
	load_fails(MB(16), ipath, NULL, -E2BIG, ipath);
	load_fails(MB(16), ipath, NULL, -E2BIG, "16777216 bytes");
	load_fails(MB(32), "/nonexistent/initrd", NULL, -ENOENT,
	    "/nonexistent/initrd");
}

static void
test_missing_and_unknown(void **state)
{
	struct boot_spec spec = { .kernel = "/nonexistent/vmlinuz" };
	struct boot_entry e;
	struct vm vm;
	const char *err;

	(void)state;
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(16)), 0);
	capture_begin();
	assert_int_equal(boot_load(&vm, &spec, &e), -ENOENT);
	err = capture_end();
	assert_non_null(strstr(err, "/nonexistent/vmlinuz"));
	vm_destroy(&vm);

	memset(img, 0x90, 0x1000);
	write_file(kpath, img, 0x1000);
	load_fails(MB(16), NULL, NULL, -ENOEXEC, "unknown kernel format");
}

/* --- bzImage ---------------------------------------------------------- */

#define BZ_PAYLOAD	0x3000
#define BZ_PREF		0x1000000
#define BZ_INIT_SIZE	0x800000
#define BZ_ALIGN	0x200000

struct bz {
	uint16_t	version;
	uint16_t	xloadflags;
	uint8_t		setup_sects;
	uint8_t		relocatable;
	uint32_t	align;
	uint32_t	init_size;
	uint32_t	cmdline_size;
};

static const struct bz bz_default = {
	.version = 0x020F, .xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
	.setup_sects = 27, .relocatable = 1, .align = BZ_ALIGN,
	.init_size = BZ_INIT_SIZE, .cmdline_size = 2047,
};

static size_t
setup_len(const struct bz *b)
{
	return ((size_t)(b->setup_sects ? b->setup_sects : 4) + 1) * 512;
}

static size_t
build_bz(const struct bz *b)
{
	struct setup_header h;
	size_t setup = setup_len(b), i;

	memset(img, 0, sizeof(img));
	memset(&h, 0, sizeof(h));
	h.setup_sects = b->setup_sects;
	h.syssize = BZ_PAYLOAD / 16;
	h.vid_mode = 0xFFFD;
	h.boot_flag = 0xAA55;
	h.jump = 0x6AEB;		/* jmp to 0x26C: the header ends there */
	memcpy(&h.header, "HdrS", 4);
	h.version = b->version;
	h.loadflags = LOADED_HIGH;
	h.code32_start = 0x100000;
	h.initrd_addr_max = 0x7FFFFFFF;
	h.kernel_alignment = b->align;
	h.relocatable_kernel = b->relocatable;
	h.min_alignment = 21;
	h.xloadflags = b->xloadflags;
	h.cmdline_size = b->cmdline_size;
	h.pref_address = BZ_PREF;
	h.init_size = b->init_size;
	h.kernel_info_offset = 0x1234;
	memcpy(img + 0x1f1, &h, sizeof(h));
	for (i = 0; i < BZ_PAYLOAD; i++)
		img[setup + i] = i * 13 + 1;
	return setup + BZ_PAYLOAD;
}

/* Zero page fields by protocol offset (unaligned-safe). */
static uint64_t
zget(const uint8_t *zp, size_t off, size_t len)
{
	uint64_t v = 0;

	memcpy(&v, zp + off, len);
	return v;
}
#define U8(p, off)	zget(p, off, 1)
#define U16(p, off)	zget(p, off, 2)
#define U32(p, off)	zget(p, off, 4)
#define U64(p, off)	zget(p, off, 8)

/* Loads the bzImage in img and checks the zero page by protocol offsets. */
static void
check_bz(const struct bz *b, uint64_t mem, uint64_t want_load,
    const char *initrd, size_t initrd_len, const char *cmdline)
{
	struct boot_mem map[E820_MAX_ENTRIES_ZEROPAGE];
	struct boot_entry e;
	struct vm vm;
	uint8_t *zp, *p;
	uint64_t rd, kend;
	size_t i;
	int n;

	write_file(kpath, img, build_bz(b));
	assert_int_equal(load(&vm, mem, initrd, cmdline, &e), 0);
	assert_int_equal(e.mode, BOOT_LINUX64);
	assert_int_equal(e.entry, want_load + 0x200);
	assert_int_equal(e.info, BOOT_INFO_ADDR);

	p = vm_gpa(&vm, want_load, BZ_PAYLOAD);
	for (i = 0; i < BZ_PAYLOAD; i++)
		assert_int_equal(p[i], (uint8_t)(i * 13 + 1));

	zp = vm_gpa(&vm, BOOT_INFO_ADDR, 4096);
	/* The setup header is the image's, at the same offset. */
	assert_int_equal(U8(zp, 0x1f1), b->setup_sects);
	assert_int_equal(U16(zp, 0x1fe), 0xAA55);
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(U16(zp, 0x206), b->version);
	assert_int_equal(U32(zp, 0x230), b->align);
	assert_int_equal(U32(zp, 0x258), BZ_PREF & 0xFFFFFFFF);
	assert_int_equal(U32(zp, 0x260), b->init_size);
	assert_int_equal(U32(zp, 0x268), 0x1234);
	/* What the loader fills in. */
	assert_int_equal(U16(zp, 0x1fa), 0xFFFF);		/* vid_mode */
	assert_int_equal(U8(zp, 0x210), 0xFF);			/* type_of_loader */
	assert_int_equal(U8(zp, 0x211), LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(U16(zp, 0x224), 0xFE00);		/* heap_end_ptr */
	assert_int_equal(U32(zp, 0x228), BOOT_CMDLINE_ADDR);	/* cmd_line_ptr */
	assert_int_equal(U32(zp, 0x0c8), 0);			/* ext_cmd_line_ptr */
	assert_string_equal((char *)vm_gpa(&vm, BOOT_CMDLINE_ADDR, 1),
	    cmdline ? cmdline : "");
	assert_int_equal(U64(zp, 0x070), b->version >= 0x020E ? 0xE0000 : 0);

	n = boot_memmap(&vm, map, E820_MAX_ENTRIES_ZEROPAGE);
	assert_int_equal(U8(zp, 0x1e8), n);			/* e820_entries */
	for (i = 0; i < (size_t)n; i++) {
		assert_int_equal(U64(zp, 0x2d0 + 20 * i), map[i].addr);
		assert_int_equal(U64(zp, 0x2d0 + 20 * i + 8), map[i].size);
		assert_int_equal(U32(zp, 0x2d0 + 20 * i + 16), map[i].type);
	}

	rd = U32(zp, 0x218) | (uint64_t)U32(zp, 0x0c0) << 32;
	if (initrd == NULL) {
		assert_int_equal(rd, 0);
		assert_int_equal(U32(zp, 0x21c), 0);
	} else {
		assert_int_equal(U32(zp, 0x21c), initrd_len);	/* ramdisk_size */
		assert_int_equal(U32(zp, 0x0c4), 0);
		/* As high as possible, page aligned, above the kernel. */
		kend = (want_load > BZ_PREF ? want_load : BZ_PREF) + b->init_size;
		assert_int_equal(rd & 0xFFF, 0);
		assert_true(rd >= kend);
		assert_true(rd + initrd_len <= vm.lowmem);
		assert_true(rd + initrd_len <= 0x80000000ULL);
		assert_true(rd + initrd_len + 4096 > (vm.lowmem < 0x80000000ULL ?
		    vm.lowmem : 0x80000000ULL));
		p = vm_gpa(&vm, rd, initrd_len);
		for (i = 0; i < initrd_len; i++)
			assert_int_equal(p[i], (uint8_t)(i * 7));
	}
	vm_destroy(&vm);
}

static void
test_bz_load(void **state)
{
	(void)state;
	check_bz(&bz_default, MB(128), BZ_ALIGN, ipath, make_initrd(10000),
	    "console=ttyS0 root=/dev/vda");
	check_bz(&bz_default, MB(128), BZ_ALIGN, NULL, 0, NULL);
	/* initrd_addr_max (2 GiB) below the end of RAM (3 GiB). */
	check_bz(&bz_default, GB(4), BZ_ALIGN, ipath, make_initrd(5000), "a");
}

static void
test_bz_variants(void **state)
{
	struct bz b;

	(void)state;
	b = bz_default;			/* protocol 2.12: no acpi_rsdp_addr */
	b.version = 0x020C;
	check_bz(&b, MB(128), BZ_ALIGN, NULL, 0, NULL);
	b = bz_default;			/* setup_sects 0 means 4 */
	b.setup_sects = 0;
	check_bz(&b, MB(128), BZ_ALIGN, NULL, 0, NULL);
	b = bz_default;			/* 4 KiB alignment: load at 1 MiB */
	b.align = 0x1000;
	check_bz(&b, MB(128), KERNEL_LOAD_ADDR, ipath, make_initrd(3), NULL);
	b = bz_default;			/* not relocatable: at pref_address */
	b.relocatable = 0;
	check_bz(&b, MB(128), BZ_PREF, NULL, 0, NULL);
}

static void
test_bz_rejects(void **state)
{
	struct bz b;
	size_t len;
	char cl[64];

	(void)state;
	b = bz_default;
	b.version = 0x020B;
	write_file(kpath, img, build_bz(&b));
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "2.12");

	b = bz_default;
	b.xloadflags = 0;
	write_file(kpath, img, build_bz(&b));
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "XLF_KERNEL_64");

	b = bz_default;
	b.align = 0x300000;
	write_file(kpath, img, build_bz(&b));
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "kernel_alignment");

	b = bz_default;			/* needs more RAM than the VM has */
	b.init_size = MB(120);
	write_file(kpath, img, build_bz(&b));
	load_fails(MB(128), NULL, NULL, -E2BIG, kpath);

	b = bz_default;			/* command line over cmdline_size */
	b.cmdline_size = 10;
	write_file(kpath, img, build_bz(&b));
	memset(cl, 'c', 11);
	cl[11] = '\0';
	load_fails(MB(128), NULL, cl, -E2BIG, "command line");
	cl[10] = '\0';
	check_bz(&b, MB(128), BZ_ALIGN, NULL, 0, cl);

	/* Truncated: setup only, then in the header, then in the magic. */
	len = build_bz(&bz_default);
	write_file(kpath, img, setup_len(&bz_default));
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);
	write_file(kpath, img, 0x240);
	load_fails(MB(128), NULL, NULL, -EINVAL, kpath);
	write_file(kpath, img, 0x204);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, kpath);
	(void)len;

	/* A header that ends before init_size. */
	build_bz(&bz_default);
	img[0x201] = 0x40;
	write_file(kpath, img, setup_len(&bz_default) + BZ_PAYLOAD);
	load_fails(MB(128), NULL, NULL, -ENOEXEC, "too old");
}

static void
test_bz_page_tables_gdt(void **state)
{
	struct boot_entry e;
	struct vm vm;
	uint64_t *pt;
	int i;

	(void)state;
	write_file(kpath, img, build_bz(&bz_default));
	assert_int_equal(load(&vm, MB(128), NULL, NULL, &e), 0);
	pt = vm_gpa(&vm, BOOT_PML4_ADDR, 4096);
	assert_int_equal(pt[0], BOOT_PDPT_ADDR | 3);
	for (i = 1; i < 512; i++)
		assert_int_equal(pt[i], 0);
	pt = vm_gpa(&vm, BOOT_PDPT_ADDR, 4096);
	for (i = 0; i < 4; i++)
		assert_int_equal(pt[i], (BOOT_PD_ADDR + i * 4096) | 3);
	for (i = 4; i < 512; i++)
		assert_int_equal(pt[i], 0);
	pt = vm_gpa(&vm, BOOT_PD_ADDR, 4 * 4096);
	for (i = 0; i < 2048; i++)
		assert_int_equal(pt[i], ((uint64_t)i << 21) | 0x83);
	pt = vm_gpa(&vm, BOOT_GDT_ADDR, 32);
	assert_int_equal(pt[0], 0);
	assert_int_equal(pt[1], 0);
	/* 64-bit code: L=1, D=0, P=1, DPL 0, type execute/read. */
	assert_int_equal(pt[2], 0x00AF9A000000FFFFULL);
	assert_int_equal(pt[3], 0x00CF92000000FFFFULL);
	vm_destroy(&vm);
}

/* --- initial register state ---------------------------------------- */

static void
test_cpu_state_pvh(void **state)
{
	struct boot_entry e = { BOOT_PVH, 0x100010, BOOT_INFO_ADDR };
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment *ds[] = { &s.ds, &s.es, &s.fs, &s.gs, &s.ss };
	unsigned i;

	(void)state;
	memset(&s, 0x55, sizeof(s));
	memset(&r, 0x55, sizeof(r));
	s.cr0 = 0x60000010;
	boot_cpu_state(&e, &s, &r);
	assert_int_equal(s.cr0, 0x11);
	assert_int_equal(s.cr4, 0);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.cs.base, 0);
	assert_int_equal(s.cs.limit, 0xFFFFFFFF);
	assert_int_equal(s.cs.selector, 0x8);
	assert_int_equal(s.cs.type, 0xB);
	assert_int_equal(s.cs.s, 1);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.g, 1);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.dpl, 0);
	assert_int_equal(s.cs.unusable, 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(ds[i]->selector, 0x10);
		assert_int_equal(ds[i]->type, 0x3);
		assert_int_equal(ds[i]->base, 0);
		assert_int_equal(ds[i]->limit, 0xFFFFFFFF);
		assert_int_equal(ds[i]->present, 1);
		assert_int_equal(ds[i]->s, 1);
		assert_int_equal(ds[i]->db, 1);
		assert_int_equal(ds[i]->g, 1);
	}
	assert_int_equal(s.tr.type, 0xB);
	assert_int_equal(s.tr.s, 0);
	assert_int_equal(s.tr.present, 1);
	assert_int_equal(s.tr.unusable, 0);
	assert_int_equal(s.ldt.unusable, 1);
	assert_int_equal(r.rflags, 0x2);
	assert_int_equal(r.rip, 0x100010);
	assert_int_equal(r.rbx, BOOT_INFO_ADDR);
	assert_int_equal(r.rsi, 0);
	assert_int_equal(r.rsp, 0);
}

static void
test_cpu_state_linux64(void **state)
{
	struct boot_entry e = { BOOT_LINUX64, 0x200200, BOOT_INFO_ADDR };
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment *ds[] = { &s.ds, &s.es, &s.fs, &s.gs, &s.ss };
	unsigned i;

	(void)state;
	memset(&s, 0x55, sizeof(s));
	memset(&r, 0x55, sizeof(r));
	boot_cpu_state(&e, &s, &r);
	assert_int_equal(s.cr0, 0x80000011);		/* PG | ET | PE */
	assert_int_equal(s.cr3, BOOT_PML4_ADDR);
	assert_int_equal(s.cr4, 0x20);			/* PAE */
	assert_int_equal(s.efer, 0x500);		/* LMA | LME */
	assert_int_equal(s.gdt.base, BOOT_GDT_ADDR);
	assert_int_equal(s.gdt.limit, 31);
	assert_int_equal(s.cs.selector, 0x10);
	assert_int_equal(s.cs.type, 0xB);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.s, 1);
	for (i = 0; i < 5; i++) {
		assert_int_equal(ds[i]->selector, 0x18);
		assert_int_equal(ds[i]->type, 0x3);
		assert_int_equal(ds[i]->present, 1);
		assert_int_equal(ds[i]->l, 0);
	}
	assert_int_equal(s.tr.type, 0xB);
	assert_int_equal(s.tr.present, 1);
	assert_int_equal(s.ldt.unusable, 1);
	assert_int_equal(r.rflags, 0x2);		/* IF clear */
	assert_int_equal(r.rip, 0x200200);
	assert_int_equal(r.rsi, BOOT_INFO_ADDR);
	assert_int_equal(r.rbx, 0);
	assert_int_equal(r.rbp, 0);
	assert_int_equal(r.rdi, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memmap_128m),
		cmocka_unit_test(test_memmap_highmem),
		cmocka_unit_test(test_pvh_elf64),
		cmocka_unit_test(test_pvh_no_initrd),
		cmocka_unit_test(test_pvh_note8),
		cmocka_unit_test(test_pvh_section_note),
		cmocka_unit_test(test_pvh_elf32),
		cmocka_unit_test(test_pvh_no_note),
		cmocka_unit_test(test_pvh_truncated),
		cmocka_unit_test(test_pvh_bad_headers),
		cmocka_unit_test(test_pvh_segment_outside_ram),
		cmocka_unit_test(test_pvh_cmdline),
		cmocka_unit_test(test_pvh_initrd_too_big),
		cmocka_unit_test(test_missing_and_unknown),
		cmocka_unit_test(test_bz_load),
		cmocka_unit_test(test_bz_variants),
		cmocka_unit_test(test_bz_rejects),
		cmocka_unit_test(test_bz_page_tables_gdt),
		cmocka_unit_test(test_cpu_state_pvh),
		cmocka_unit_test(test_cpu_state_linux64),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
