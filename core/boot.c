/*
 * Loading a kernel without firmware: format detection, the memory map, the
 * initial register state, and the file helpers both loaders share.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/boot.h"
#include "core/boot_impl.h"
#include "core/layout.h"
#include "core/vm.h"
#include "lib/log.h"
#include "lib/util.h"

int
boot_open(struct boot_file *f, const char *path, const char *what)
{
	struct stat st;
	int err;

	f->path = path;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		err = errno;
		hlog("%s: cannot open %s: %s", path, what, strerror(err));
		return -err;
	}
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		hlog("%s: %s is not a regular file", path, what);
		close(f->fd);
		f->fd = -1;
		return -EINVAL;
	}
	f->size = st.st_size;
	return 0;
}

void
boot_close(struct boot_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

int
boot_read(const struct boot_file *f, uint64_t off, void *buf, uint64_t len)
{
	int rc;

	if (off > f->size || len > f->size - off) {
		hlog("%s: file is truncated (needs %" PRIu64 " bytes at offset %"
		    PRIu64 ", has %" PRIu64 ")", f->path, len, off, f->size);
		return -EINVAL;
	}
	if ((rc = pread_all(f->fd, buf, len, off)) < 0) {
		hlog("%s: read at offset %" PRIu64 " failed: %s", f->path, off,
		    rc == -ENODATA ? "file shrank" : strerror(-rc));
		return rc == -ENODATA ? -EIO : rc;
	}
	return 0;
}

int
boot_read_guest(struct vm *vm, const struct boot_file *f, uint64_t off,
    uint64_t gpa, uint64_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = vm_gpa(vm, gpa, len);
	if (dst == NULL) {
		hlog("%s: %" PRIu64 " bytes at guest address 0x%" PRIx64
		    " are not guest RAM; give the VM more memory", f->path,
		    len, gpa);
		return -ERANGE;
	}
	return boot_read(f, off, dst, len);
}

int
boot_write_cmdline(struct vm *vm, const char *cmdline, uint64_t maxlen)
{
	size_t len;

	if (cmdline == NULL)
		cmdline = "";
	if (maxlen > BOOT_CMDLINE_MAX - 1)
		maxlen = BOOT_CMDLINE_MAX - 1;
	len = strlen(cmdline);
	if (len > maxlen) {
		hlog("kernel command line: %zu bytes is too long (at most %"
		    PRIu64 "); shorten it", len, maxlen);
		return -E2BIG;
	}
	return vm_write(vm, BOOT_CMDLINE_ADDR, cmdline, len + 1);
}

int
boot_load_initrd(struct vm *vm, const char *path, uint64_t lo, uint64_t hi,
    int high, uint64_t *addr, uint64_t *size)
{
	struct boot_file f;
	uint64_t a;
	int rc;

	rc = boot_open(&f, path, "initrd");
	if (rc < 0)
		return rc;
	lo = (lo + BOOT_PAGE - 1) & ~(BOOT_PAGE - 1);
	if (lo >= hi || f.size > hi - lo) {
		hlog("%s: initrd of %" PRIu64 " bytes does not fit in guest RAM "
		    "between 0x%" PRIx64 " and 0x%" PRIx64 "; give the VM more "
		    "memory (-m)", path, f.size, lo, hi);
		boot_close(&f);
		return -E2BIG;
	}
	a = high ? (hi - f.size) & ~(BOOT_PAGE - 1) : lo;
	rc = boot_read_guest(vm, &f, 0, a, f.size);
	boot_close(&f);
	if (rc < 0)
		return rc;
	*addr = a;
	*size = f.size;
	return 0;
}

enum kernel_kind { KERNEL_ELF, KERNEL_BZIMAGE };

/* What the open kernel file is, from its first bytes. */
static int
kernel_kind(const struct boot_file *f)
{
	static const uint8_t elfmag[4] = { 0x7f, 'E', 'L', 'F' };
	uint8_t hdr[0x206];
	int rc;

	memset(hdr, 0, sizeof(hdr));
	rc = boot_read(f, 0, hdr, f->size < sizeof(hdr) ? f->size : sizeof(hdr));
	if (rc < 0)
		return rc;
	if (f->size >= 4 && memcmp(hdr, elfmag, 4) == 0)
		return KERNEL_ELF;
	if (f->size >= sizeof(hdr) && memcmp(hdr + 0x202, "HdrS", 4) == 0)
		return KERNEL_BZIMAGE;
	hlog("%s: unknown kernel format (neither an ELF with a PVH note "
	    "nor a bzImage)", f->path);
	return -ENOEXEC;
}

int
boot_check(const struct boot_spec *spec)
{
	struct boot_file f;
	int rc;

	if (spec->kernel == NULL) {
		hlog("no guest kernel: give one with -o boot.kernel=FILE "
		    "(a PVH ELF such as build/testguest, or a bzImage)");
		return -EINVAL;
	}
	if ((rc = boot_open(&f, spec->kernel, "kernel")) < 0)
		return rc;
	rc = kernel_kind(&f);
	boot_close(&f);
	if (rc < 0 || spec->initrd == NULL)
		return rc < 0 ? rc : 0;
	if ((rc = boot_open(&f, spec->initrd, "initrd")) < 0)
		return rc;
	boot_close(&f);
	return 0;
}

int
boot_load(struct vm *vm, const struct boot_spec *spec, struct boot_entry *e)
{
	struct boot_file f;
	int rc;

	if (spec->kernel == NULL) {
		hlog("no kernel given; give one with -o boot.kernel=FILE");
		return -EINVAL;
	}
	rc = boot_open(&f, spec->kernel, "kernel");
	if (rc < 0)
		return rc;
	rc = kernel_kind(&f);
	if (rc == KERNEL_ELF)
		rc = boot_load_pvh(vm, spec, &f, e);
	else if (rc == KERNEL_BZIMAGE)
		rc = boot_load_linux(vm, spec, &f, e);
	boot_close(&f);
	return rc;
}

static int
memmap_add(struct boot_mem *map, int max, int n, uint64_t addr,
    uint64_t end, uint32_t type)
{
	if (end <= addr)
		return n;
	if (n >= max)
		return -ENOSPC;
	map[n].addr = addr;
	map[n].size = end - addr;
	map[n].type = type;
	return n + 1;
}

int
boot_memmap(const struct vm *vm, struct boot_mem *map, int max)
{
	uint64_t low = vm->lowmem;
	int n = 0;

	if (low > LOWMEM_LIMIT)
		low = LOWMEM_LIMIT;
	n = memmap_add(map, max, n, 0, low < EBDA_BASE ? low : EBDA_BASE, 1);
	if (n >= 0)
		n = memmap_add(map, max, n, EBDA_BASE, BIOS_AREA_END, 2);
	if (n >= 0)
		n = memmap_add(map, max, n, BIOS_AREA_END, low, 1);
	if (n >= 0)
		n = memmap_add(map, max, n, PCI_ECAM_BASE,
		    PCI_ECAM_BASE + PCI_ECAM_SIZE, 2);
	if (n >= 0 && vm->highmem > 0)
		n = memmap_add(map, max, n, HIGHMEM_BASE,
		    HIGHMEM_BASE + vm->highmem, 1);
	if (n < 0)
		hlog("%s: memory map needs more than %d entries", vm->name, max);
	return n;
}

static void
seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xFFFFFFFF;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

void
boot_cpu_state(const struct boot_entry *e, struct kvm_sregs *sregs,
    struct kvm_regs *regs)
{
	int lm = e->mode == BOOT_LINUX64;
	uint16_t cs = lm ? 0x10 : 0x08, ds = lm ? 0x18 : 0x10;

	seg(&sregs->cs, cs, 0xB, lm);
	seg(&sregs->ds, ds, 0x3, 0);
	sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;

	/* KVM refuses to enter protected mode without a busy 32-bit TSS. */
	memset(&sregs->tr, 0, sizeof(sregs->tr));
	sregs->tr.limit = 0x67;
	sregs->tr.type = 0xB;
	sregs->tr.present = 1;
	memset(&sregs->ldt, 0, sizeof(sregs->ldt));
	sregs->ldt.unusable = 1;

	if (lm) {
		sregs->gdt.base = BOOT_GDT_ADDR;
		sregs->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
		sregs->cr0 = 0x80000011;	/* PG | ET | PE */
		sregs->cr3 = BOOT_PML4_ADDR;
		sregs->cr4 = 0x20;		/* PAE */
		sregs->efer = 0x500;		/* LMA | LME */
	} else {
		sregs->cr0 = 0x11;		/* ET | PE */
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}

	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;
	regs->rip = e->entry;
	if (lm)
		regs->rsi = e->info;
	else
		regs->rbx = e->info;
}
