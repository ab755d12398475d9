#ifndef HYVE_COMPAT_H
#define HYVE_COMPAT_H

/*
 * x86.compat: running unmodified kernels on an emulating KVM (kvm_pvm), whose
 * instruction emulator executes guest CPL 0 code and fails on a few
 * instructions.  Two parts: a conservative CPUID that steers the guest away
 * from what the emulator cannot execute, and userspace completion of the few
 * instructions that remain (int3, fwait, clac/stac, popcnt, ...).
 *
 * The instruction logic works on a struct compat_cpu and a guest-physical
 * memory callback, so it is tested without KVM.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;
struct vcpu;

/*
 * mode: "auto" (or NULL), "on" or "off".  auto turns compat on when the host
 * KVM is an emulating one (/sys/module/kvm_pvm exists).  kernel: the guest
 * kernel's path; a System.map next to it gives symbols for error messages.
 * Returns 1 if compat is on, 0 if off, -EINVAL for a bad mode.
 */
int compat_init(const char *mode, const char *kernel);
bool compat_enabled(void);
/* 1 if this host's KVM emulates guest CPL 0 code. */
bool compat_host_emulates(void);

/*
 * Linux command-line options for what kvm_pvm's CPUID cannot hide (it ORs
 * the host's XSAVE, POPCNT, SMAP, ... in); appended to boot.cmdline for a
 * Linux guest when compat is on.
 */
const char *compat_linux_cmdline(void);

/* Hides from the guest what the emulator cannot run; a no-op when off. */
void compat_filter_cpuid(struct vm *vm, struct kvm_cpuid2 *cpuid);

/*
 * For KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION: 0 if the
 * instruction was completed (resume the vCPU); -1 if the VM must stop (the
 * instruction bytes, RIP and symbol are logged, and exit 4 requested).
 */
int compat_emulation_failure(struct vcpu *v);

/* The pure part. */
struct compat_cpu {
	uint64_t	gpr[16];	/* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
	uint64_t	rip, rflags;
	uint64_t	cr0, cr3, cr4, efer;
	uint64_t	fs_base, gs_base;
	uint16_t	fsw;		/* x87 status word */
	uint32_t	mxcsr;		/* SSE control and status */
	bool		cs_l;		/* 64-bit code segment */
};

struct compat_mem {
	/* Guest-physical access; 0 or -EFAULT. */
	int	(*read)(void *arg, uint64_t gpa, void *buf, size_t len);
	int	(*write)(void *arg, uint64_t gpa, const void *buf, size_t len);
	void	*arg;
};

struct compat_event {
	int		vector;		/* exception to inject */
	bool		has_error;
	uint32_t	error_code;
	uint64_t	cr2;		/* for #PF */
};

enum {
	COMPAT_DONE = 0,	/* cpu updated, rip past the instruction */
	COMPAT_INJECT = 1,	/* inject ev; cpu (rip) updated for it */
};

/*
 * Completes the instruction at cpu->rip whose bytes are insn[0..len).
 * Returns COMPAT_DONE, COMPAT_INJECT, or -ENOTSUP (not an instruction we
 * complete), -EFAULT (an operand is not in guest RAM).
 */
int compat_emulate(struct compat_cpu *cpu, const uint8_t *insn, size_t len,
    const struct compat_mem *mem, struct compat_event *ev);

/* Walks the guest page tables; 0, or -EFAULT with ev set to the #PF. */
int compat_translate(const struct compat_cpu *cpu, const struct compat_mem *mem,
    uint64_t va, bool write, uint64_t *gpa, struct compat_event *ev);

/* Symbols: System.map lines "ADDR T name".  0 or -errno. */
int compat_load_symbols(const char *path);
/* "name+0xoff" for addr, or "?" if unknown; buf is returned. */
const char *compat_symbol(uint64_t addr, char *buf, size_t len);

#endif
