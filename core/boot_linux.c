/*
 * bzImage boot through the Linux x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the protected-mode part is loaded, a
 * zero page is built from the image's setup header, and the vCPU starts in
 * long mode at load address + 0x200 on an identity map of the low 4 GiB.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <asm/bootparam.h>

#include "core/boot.h"
#include "core/boot_impl.h"
#include "core/layout.h"
#include "core/vm.h"
#include "lib/log.h"

#define HDR_OFF		0x1f1		/* setup header in the image and zero page */
#define HDR_MIN_END	0x264		/* up to init_size: protocol 2.10+ */
#define PROTO_MIN	0x020C
#define PROTO_RSDP	0x020E
#define LOADER_UNKNOWN	0xFF
#define HEAP_END	0x10000		/* a full 64 KiB setup segment */
#define VGA_NORMAL	0xFFFF

#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_PS		0x80ULL

/* Reads the setup header into bp->hdr and checks what the protocol needs. */
static int
linux_header(const struct boot_file *f, struct boot_params *bp)
{
	uint8_t len;
	uint64_t end;
	int rc;

	if ((rc = boot_read(f, 0x201, &len, 1)) < 0)
		return rc;
	end = 0x202 + (uint64_t)len;
	if (end < HDR_MIN_END) {
		hlog("%s: bzImage setup header ends at 0x%" PRIx64 ", before "
		    "init_size; the kernel is too old", f->path, end);
		return -ENOEXEC;
	}
	if (end > HDR_OFF + sizeof(bp->hdr))
		end = HDR_OFF + sizeof(bp->hdr);
	if ((rc = boot_read(f, HDR_OFF, &bp->hdr, end - HDR_OFF)) < 0)
		return rc;
	if (bp->hdr.version < PROTO_MIN) {
		hlog("%s: boot protocol %u.%02u is too old; need 2.12 or later",
		    f->path, bp->hdr.version >> 8, bp->hdr.version & 0xff);
		return -ENOEXEC;
	}
	if (!(bp->hdr.xloadflags & XLF_KERNEL_64)) {
		hlog("%s: kernel has no 64-bit entry point (XLF_KERNEL_64 not "
		    "set in xloadflags); use a 64-bit kernel", f->path);
		return -ENOEXEC;
	}
	if (!(bp->hdr.loadflags & LOADED_HIGH)) {
		hlog("%s: not a bzImage (LOADED_HIGH not set)", f->path);
		return -ENOEXEC;
	}
	return 0;
}

/*
 * Where the protected-mode part goes.  A relocatable kernel is loaded at the
 * first kernel_alignment boundary from 1 MiB; it decompresses itself at
 * pref_address if it was loaded below that, so *end covers both.
 */
static int
linux_place(struct vm *vm, const struct boot_file *f, const struct boot_params *bp,
    uint64_t ksize, uint64_t *load, uint64_t *end)
{
	uint64_t align = bp->hdr.kernel_alignment, pref = bp->hdr.pref_address;
	uint64_t need, base;

	if (bp->hdr.relocatable_kernel) {
		if (align < BOOT_PAGE || align > GB(1) || (align & (align - 1))) {
			hlog("%s: bad kernel_alignment 0x%" PRIx64, f->path, align);
			return -ENOEXEC;
		}
		*load = (KERNEL_LOAD_ADDR + align - 1) & ~(align - 1);
	} else {
		*load = pref != 0 ? pref : KERNEL_LOAD_ADDR;
		if (*load < BIOS_AREA_END || *load >= vm->lowmem) {
			hlog("%s: kernel is not relocatable and wants to be "
			    "loaded at 0x%" PRIx64 ", outside guest RAM",
			    f->path, *load);
			return -ERANGE;
		}
	}
	need = bp->hdr.init_size > ksize ? bp->hdr.init_size : ksize;
	base = pref > *load && pref < vm->lowmem ? pref : *load;
	if (base >= vm->lowmem || need > vm->lowmem - base) {
		hlog("%s: kernel needs %" PRIu64 " bytes at 0x%" PRIx64 " but "
		    "RAM below 4 GiB ends at 0x%" PRIx64 "; give the VM more "
		    "memory (-m)", f->path, need, base, vm->lowmem);
		return -E2BIG;
	}
	*end = base + need;
	return 0;
}

static int
linux_page_tables(struct vm *vm)
{
	uint64_t pt[512];
	int i, j, rc;

	memset(pt, 0, sizeof(pt));
	pt[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	if ((rc = vm_write(vm, BOOT_PML4_ADDR, pt, sizeof(pt))) < 0)
		return rc;
	for (i = 0; i < 4; i++)
		pt[i] = (BOOT_PD_ADDR + i * BOOT_PAGE) | PTE_P | PTE_RW;
	if ((rc = vm_write(vm, BOOT_PDPT_ADDR, pt, sizeof(pt))) < 0)
		return rc;
	/* 2 MiB pages: 1 GiB pages fault under kvm_pvm. */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 512; j++)
			pt[j] = ((uint64_t)(i * 512 + j) << 21) | PTE_P |
			    PTE_RW | PTE_PS;
		rc = vm_write(vm, BOOT_PD_ADDR + i * BOOT_PAGE, pt, sizeof(pt));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
linux_gdt(struct vm *vm)
{
	uint64_t gdt[BOOT_GDT_ENTRIES] = { 0, 0, BOOT_GDT_CODE64, BOOT_GDT_DATA };

	return vm_write(vm, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

static int
linux_e820(const struct vm *vm, struct boot_params *bp)
{
	struct boot_mem map[E820_MAX_ENTRIES_ZEROPAGE];
	int i, n;

	n = boot_memmap(vm, map, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		bp->e820_table[i].addr = map[i].addr;
		bp->e820_table[i].size = map[i].size;
		bp->e820_table[i].type = map[i].type;
	}
	bp->e820_entries = n;
	return 0;
}

int
boot_load_linux(struct vm *vm, const struct boot_spec *spec,
    const struct boot_file *f, struct boot_entry *e)
{
	struct boot_params bp;
	uint64_t setup, ksize, load, end, hi, initrd = 0, initrd_size = 0;
	int rc;

	memset(&bp, 0, sizeof(bp));
	if ((rc = linux_header(f, &bp)) < 0)
		return rc;
	setup = ((uint64_t)(bp.hdr.setup_sects ? bp.hdr.setup_sects : 4) + 1) * 512;
	if (f->size <= setup) {
		hlog("%s: bzImage is truncated (%" PRIu64 " bytes, setup alone "
		    "is %" PRIu64 ")", f->path, f->size, setup);
		return -ENOEXEC;
	}
	ksize = f->size - setup;
	if ((rc = linux_place(vm, f, &bp, ksize, &load, &end)) < 0)
		return rc;
	if ((rc = boot_read_guest(vm, f, setup, load, ksize)) < 0)
		return rc;

	if ((rc = boot_write_cmdline(vm, spec->cmdline, bp.hdr.cmdline_size)) < 0)
		return rc;
	if (spec->initrd != NULL) {
		hi = (uint64_t)bp.hdr.initrd_addr_max + 1;
		if (hi > vm->lowmem)
			hi = vm->lowmem;
		rc = boot_load_initrd(vm, spec->initrd, end, hi, 1, &initrd,
		    &initrd_size);
		if (rc < 0)
			return rc;
	}

	bp.hdr.type_of_loader = LOADER_UNKNOWN;
	bp.hdr.loadflags |= CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = HEAP_END - 0x200;
	bp.hdr.vid_mode = VGA_NORMAL;
	bp.hdr.code32_start = load;
	bp.hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp.ext_cmd_line_ptr = BOOT_CMDLINE_ADDR >> 32;
	bp.hdr.ramdisk_image = (uint32_t)initrd;
	bp.hdr.ramdisk_size = (uint32_t)initrd_size;
	bp.ext_ramdisk_image = initrd >> 32;
	bp.ext_ramdisk_size = initrd_size >> 32;
	if (bp.hdr.version >= PROTO_RSDP)
		bp.acpi_rsdp_addr = spec->rsdp;
	if ((rc = linux_e820(vm, &bp)) < 0)
		return rc;
	if ((rc = vm_write(vm, BOOT_INFO_ADDR, &bp, sizeof(bp))) < 0)
		return rc;
	if ((rc = linux_page_tables(vm)) < 0 || (rc = linux_gdt(vm)) < 0)
		return rc;

	e->mode = BOOT_LINUX64;
	e->entry = load + 0x200;
	e->info = BOOT_INFO_ADDR;
	return 0;
}
