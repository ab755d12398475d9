#ifndef HYVE_BOOT_H
#define HYVE_BOOT_H

#include <stdint.h>
#include <linux/kvm.h>

struct vm;

/* How the first vCPU enters the guest. */
enum boot_mode {
	BOOT_PVH,	/* 32-bit flat protected mode, paging off, ebx = start info */
	BOOT_LINUX64,	/* 64-bit long mode, identity map of 4 GiB, rsi = boot_params */
};

struct boot_entry {
	enum boot_mode	mode;
	uint64_t	entry;		/* guest-physical entry point */
	uint64_t	info;		/* hvm_start_info or boot_params address */
};

struct boot_spec {
	const char	*kernel;	/* PVH ELF (test guest, vmlinux) or bzImage */
	const char	*initrd;	/* may be NULL */
	const char	*cmdline;	/* may be NULL */
	uint64_t	rsdp;		/* guest-physical address of the RSDP */
};

/*
 * Loads the kernel (format detected: ELF with a Xen PVH note, or bzImage
 * with boot protocol >= 2.12 and a 64-bit entry), the initrd and the
 * command line into guest RAM and writes the boot structures.  Errors print
 * one line naming the file and what is wrong, and return -errno.
 */
int boot_load(struct vm *vm, const struct boot_spec *spec, struct boot_entry *e);
/* The kernel's format and the initrd, without a VM: for bad input before
 * KVM is opened. */
int boot_check(const struct boot_spec *spec);

/* The register state for entry e (pure: unit-testable). sregs must hold what
 * KVM_GET_SREGS returned; fields for entry are overwritten. */
void boot_cpu_state(const struct boot_entry *e, struct kvm_sregs *sregs,
    struct kvm_regs *regs);

/* e820-style map of the VM: RAM, the reserved legacy areas, the PCI hole. */
struct boot_mem {
	uint64_t	addr, size;
	uint32_t	type;		/* 1 RAM, 2 reserved, 3 ACPI */
};
int boot_memmap(const struct vm *vm, struct boot_mem *map, int max);

#endif
