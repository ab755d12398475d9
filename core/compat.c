/*
 * x86.compat: helps unmodified kernels along on an emulating KVM (kvm_pvm).
 * There, guest CPL 0 code runs in KVM's instruction emulator, which fails on
 * cmpxchg16b, the XSAVE family, int3, clac, popcnt, fwait and others.  We
 * offer a CPUID without the features that lead the guest to them, and
 * complete in userspace the few instructions a guest runs regardless.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "core/compat.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm.h"

#define RFLAGS_CF	(1u << 0)
#define RFLAGS_PF	(1u << 2)
#define RFLAGS_AF	(1u << 4)
#define RFLAGS_ZF	(1u << 6)
#define RFLAGS_SF	(1u << 7)
#define RFLAGS_OF	(1u << 11)
#define RFLAGS_AC	(1u << 18)

#define CR0_MP		(1u << 1)
#define CR0_TS		(1u << 3)
#define CR0_NE		(1u << 5)
#define CR0_WP		(1u << 16)
#define CR0_PG		(1u << 31)
#define CR4_LA57	(1u << 12)
#define CR4_SMAP	(1u << 21)
#define EFER_LMA	(1u << 10)

#define VEC_UD		6
#define VEC_NM		7
#define VEC_PF		14
#define VEC_MF		16
#define VEC_BP		3
#define VEC_GP		13

#define MXCSR_RESERVED	0xffff0000u

#define PTE_P		(1ull << 0)
#define PTE_W		(1ull << 1)
#define PTE_PS		(1ull << 7)
#define PTE_ADDR	0x000ffffffffff000ull

static bool compat_on;

/* Per handled instruction: how many times, and whether logged. */
enum {
	K_INT3, K_FWAIT, K_CLAC, K_STAC, K_POPCNT, K_PREFETCH, K_LDMXCSR,
	K_STMXCSR, K_NKINDS
};
static const char *const kind_name[K_NKINDS] = {
	"int3", "fwait", "clac", "stac", "popcnt", "prefetch", "ldmxcsr",
	"stmxcsr",
};
static int kind_logged[K_NKINDS];
static uint64_t kind_count[K_NKINDS];

/* Symbols from a System.map, sorted by address. */
struct sym {
	uint64_t	addr;
	char		*name;
};
static struct sym *syms;
static size_t nsyms;

bool
compat_host_emulates(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

bool
compat_enabled(void)
{
	return compat_on;
}

int
compat_init(const char *mode, const char *kernel)
{
	if (mode == NULL || strcmp(mode, "auto") == 0)
		compat_on = compat_host_emulates();
	else if (strcmp(mode, "on") == 0)
		compat_on = true;
	else if (strcmp(mode, "off") == 0)
		compat_on = false;
	else {
		hlog("x86.compat: '%s' is not auto, on or off", mode);
		return -EINVAL;
	}
	if (kernel != NULL) {
		char path[4096];
		const char *slash = strrchr(kernel, '/');
		int n = slash ? (int)(slash - kernel) + 1 : 0;

		snprintf(path, sizeof(path), "%.*sSystem.map", n, kernel);
		if (access(path, R_OK) == 0)
			compat_load_symbols(path);
	}
	return compat_on;
}

const char *
compat_linux_cmdline(void)
{
	/*
	 * Linux 6.1 cpufeatures.h bits: PCLMULQDQ SSSE3 FMA SSE4.1 SSE4.2
	 * MOVBE POPCNT AES XSAVE AVX F16C RDRAND PCID FSGSBASE BMI1 AVX2 SMEP
	 * BMI2 ERMS INVPCID AVX512F RDSEED ADX SMAP CLFLUSHOPT CLWB SHA_NI
	 * UMIP RDPID FSRM: the kernel's own SIMD code (chacha, crc32c) needs
	 * SSE instructions the emulator lacks.  Emulated, the kernel is slow
	 * enough to trip the soft-lockup watchdog and to spend minutes in
	 * the crypto self-tests and in mitigation thunks.
	 */
	return "noxsave clearcpuid=129,137,140,147,148,150,151,153,154,156,"
	    "157,158,145,288,291,293,295,296,297,298,304,306,307,308,311,312,"
	    "317,514,534,580 nosoftlockup cryptomgr.notests mitigations=off";
}

/* Clears bits in the (function, index) leaves; index -1 matches any. */
static void
clear_bits(struct kvm_cpuid2 *c, uint32_t fn, int idx, uint32_t eax,
    uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != fn || (idx >= 0 && e->index != (uint32_t)idx))
			continue;
		e->eax &= ~eax;
		e->ebx &= ~ebx;
		e->ecx &= ~ecx;
		e->edx &= ~edx;
	}
}

void
compat_filter_cpuid(struct vm *vm, struct kvm_cpuid2 *c)
{
	(void)vm;
	if (!compat_on)
		return;
	/*
	 * Leaf 1 ecx: PCLMULQDQ, MONITOR, SSSE3, FMA, CX16, PCID, SSE4.1,
	 * SSE4.2, MOVBE, POPCNT, AES, XSAVE, OSXSAVE, AVX, F16C, RDRAND.
	 */
	clear_bits(c, 1, -1, 0, 0,
	    (1u << 1) | (1u << 3) | (1u << 9) | (1u << 12) | (1u << 13) |
	    (1u << 17) | (1u << 19) | (1u << 20) | (1u << 22) | (1u << 23) |
	    (1u << 25) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29) |
	    (1u << 30), 0);
	/* Leaf 7: FSGSBASE, BMI, AVX2, SMEP, SMAP, ERMS, UMIP, ... all of it. */
	clear_bits(c, 7, -1, 0, ~0u, ~0u, ~0u);
	clear_bits(c, 7, 1, ~0u, 0, 0, 0);
	/* XSAVE state, processor trace. */
	clear_bits(c, 0xd, -1, ~0u, ~0u, ~0u, ~0u);
	clear_bits(c, 0x14, -1, ~0u, ~0u, ~0u, ~0u);
	/*
	 * 0x80000001 ecx: ABM/LZCNT, SSE4A, PREFETCHW, XOP, FMA4, TBM;
	 * edx: 1 GiB pages (they fault on kvm_pvm), RDTSCP.
	 */
	clear_bits(c, 0x80000001, -1, 0, 0,
	    (1u << 5) | (1u << 6) | (1u << 8) | (1u << 11) | (1u << 16) |
	    (1u << 21), (1u << 26) | (1u << 27));
	clear_bits(c, 0x80000008, -1, 0, ~0u, 0, 0);
}

/* Page walk (long mode, 4 or 5 levels) or identity without paging. */
int
compat_translate(const struct compat_cpu *cpu, const struct compat_mem *mem,
    uint64_t va, bool write, uint64_t *gpa, struct compat_event *ev)
{
	uint64_t table, pte = 0;
	int level, shift;

	if (!(cpu->cr0 & CR0_PG)) {
		*gpa = va & 0xffffffffull;
		return 0;
	}
	if (!(cpu->efer & EFER_LMA))
		return -ENOTSUP;
	level = (cpu->cr4 & CR4_LA57) ? 5 : 4;
	table = cpu->cr3 & PTE_ADDR;
	for (; level >= 1; level--) {
		shift = 12 + 9 * (level - 1);
		if (mem->read(mem->arg, table + ((va >> shift) & 511) * 8, &pte,
		    8) < 0)
			return -EFAULT;
		if (!(pte & PTE_P) || (write && !(pte & PTE_W) &&
		    (cpu->cr0 & CR0_WP))) {
			memset(ev, 0, sizeof(*ev));
			ev->vector = VEC_PF;
			ev->has_error = true;
			ev->error_code = (pte & PTE_P ? 1 : 0) | (write ? 2 : 0);
			ev->cr2 = va;
			return -EFAULT;
		}
		if (level == 1 || ((level == 2 || level == 3) && (pte & PTE_PS)))
			break;
		table = pte & PTE_ADDR;
	}
	*gpa = (pte & PTE_ADDR & ~((1ull << shift) - 1)) |
	    (va & ((1ull << shift) - 1));
	return 0;
}

/* Reads len bytes at a linear address, page by page. */
static int
read_linear(const struct compat_cpu *cpu, const struct compat_mem *mem,
    uint64_t va, void *buf, size_t len, struct compat_event *ev)
{
	uint8_t *p = buf;
	uint64_t gpa;
	size_t n;
	int rc;

	while (len > 0) {
		n = 4096 - (va & 4095);
		if (n > len)
			n = len;
		if ((rc = compat_translate(cpu, mem, va, false, &gpa, ev)) < 0)
			return rc;
		if (mem->read(mem->arg, gpa, p, n) < 0)
			return -EFAULT;
		p += n;
		va += n;
		len -= n;
	}
	return 0;
}

static int
write_linear(const struct compat_cpu *cpu, const struct compat_mem *mem,
    uint64_t va, const void *buf, size_t len, struct compat_event *ev)
{
	const uint8_t *p = buf;
	uint64_t gpa[2];
	size_t n[2], i, k = 0;
	int rc;

	/* Translate every page first, so a fault leaves memory untouched. */
	while (len > 0 && k < 2) {
		n[k] = 4096 - (va & 4095);
		if (n[k] > len)
			n[k] = len;
		if ((rc = compat_translate(cpu, mem, va, true, &gpa[k], ev)) < 0)
			return rc;
		va += n[k];
		len -= n[k++];
	}
	if (len > 0)
		return -ENOTSUP;
	for (i = 0; i < k; p += n[i], i++)
		if (mem->write(mem->arg, gpa[i], p, n[i]) < 0)
			return -EFAULT;
	return 0;
}

/* A decoded instruction: prefixes, opcode, ModRM operand. */
struct insn {
	const uint8_t	*b;
	size_t		len, pos;
	bool		opsize, addrsize, rep, repne, lock;
	int		seg;		/* 0, 4 (fs) or 5 (gs) */
	uint8_t		rex;
	int		mod, reg, rm;	/* reg and rm include REX bits */
	bool		rip_rel;
	uint64_t	ea;		/* effective address without segment */
};

static int
fetch(struct insn *in, uint8_t *v)
{
	if (in->pos >= in->len)
		return -ENOTSUP;
	*v = in->b[in->pos++];
	return 0;
}

static int
fetch_disp(struct insn *in, int n, int64_t *d)
{
	uint8_t b;
	int32_t v32 = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (fetch(in, &b) < 0)
			return -ENOTSUP;
		v32 |= (int32_t)((uint32_t)b << (8 * i));
	}
	*d = n == 1 ? (int8_t)v32 : v32;
	return 0;
}

static int
decode_prefixes(struct insn *in)
{
	uint8_t b;

	for (;;) {
		if (fetch(in, &b) < 0)
			return -ENOTSUP;
		switch (b) {
		case 0x66: in->opsize = true; continue;
		case 0x67: in->addrsize = true; continue;
		case 0xf3: in->rep = true; continue;
		case 0xf2: in->repne = true; continue;
		case 0xf0: in->lock = true; continue;
		case 0x26: case 0x2e: case 0x36: case 0x3e: continue;
		case 0x64: in->seg = 4; continue;
		case 0x65: in->seg = 5; continue;
		}
		break;
	}
	if ((b & 0xf0) == 0x40) {
		in->rex = b;
		if (fetch(in, &b) < 0)
			return -ENOTSUP;
	}
	in->pos--;
	return 0;
}

/* ModRM, SIB and displacement (64-bit addressing). */
static int
decode_modrm(struct insn *in, const struct compat_cpu *cpu)
{
	uint8_t m, sib;
	int64_t disp = 0;
	int base, index, scale;

	if (fetch(in, &m) < 0)
		return -ENOTSUP;
	in->mod = m >> 6;
	in->reg = ((m >> 3) & 7) | ((in->rex & 4) ? 8 : 0);
	in->rm = (m & 7) | ((in->rex & 1) ? 8 : 0);
	if (in->mod == 3)
		return 0;
	in->ea = 0;
	if ((m & 7) == 4) {
		if (fetch(in, &sib) < 0)
			return -ENOTSUP;
		scale = sib >> 6;
		index = ((sib >> 3) & 7) | ((in->rex & 2) ? 8 : 0);
		base = (sib & 7) | ((in->rex & 1) ? 8 : 0);
		if (index != 4)
			in->ea += cpu->gpr[index] << scale;
		if ((sib & 7) == 5 && in->mod == 0) {
			if (fetch_disp(in, 4, &disp) < 0)
				return -ENOTSUP;
		} else
			in->ea += cpu->gpr[base];
	} else if ((m & 7) == 5 && in->mod == 0) {
		in->rip_rel = true;
		if (fetch_disp(in, 4, &disp) < 0)
			return -ENOTSUP;
	} else
		in->ea += cpu->gpr[in->rm];
	if (in->mod == 1 && fetch_disp(in, 1, &disp) < 0)
		return -ENOTSUP;
	if (in->mod == 2 && fetch_disp(in, 4, &disp) < 0)
		return -ENOTSUP;
	in->ea += disp;
	return 0;
}

/* The linear address of the memory operand, once the length is known. */
static uint64_t
operand_address(const struct insn *in, const struct compat_cpu *cpu)
{
	uint64_t ea = in->ea;

	if (in->rip_rel)
		ea += cpu->rip + in->pos;
	if (in->addrsize)
		ea &= 0xffffffffull;
	if (in->seg == 4)
		ea += cpu->fs_base;
	else if (in->seg == 5)
		ea += cpu->gs_base;
	return ea;
}

static void
inject(struct compat_event *ev, int vector)
{
	memset(ev, 0, sizeof(*ev));
	ev->vector = vector;
}

/* A memory fault becomes the #PF to inject; anything else stays an error. */
static int
mem_result(int rc, const struct compat_event *ev)
{
	return rc == -EFAULT && ev->vector == VEC_PF ? COMPAT_INJECT : rc;
}

static int
emulate_popcnt(struct compat_cpu *cpu, struct insn *in,
    const struct compat_mem *mem, struct compat_event *ev)
{
	int size = (in->rex & 8) ? 8 : in->opsize ? 2 : 4;
	uint64_t src = 0, n;
	int rc;

	if (decode_modrm(in, cpu) < 0)
		return -ENOTSUP;
	if (in->mod == 3)
		src = cpu->gpr[in->rm];
	else if ((rc = read_linear(cpu, mem, operand_address(in, cpu), &src,
	    size, ev)) < 0)
		return mem_result(rc, ev);
	if (size < 8)
		src &= (1ull << (8 * size)) - 1;
	n = __builtin_popcountll(src);
	if (size == 2)
		cpu->gpr[in->reg] = (cpu->gpr[in->reg] & ~0xffffull) | n;
	else
		cpu->gpr[in->reg] = n;	/* a 32-bit write zero-extends */
	cpu->rflags &= ~(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF |
	    RFLAGS_SF | RFLAGS_OF);
	if (src == 0)
		cpu->rflags |= RFLAGS_ZF;
	cpu->rip += in->pos;
	return COMPAT_DONE;
}

/* 0F AE /2 ldmxcsr m32, /3 stmxcsr m32. */
static int
emulate_mxcsr(struct compat_cpu *cpu, struct insn *in,
    const struct compat_mem *mem, struct compat_event *ev, int *kind)
{
	uint32_t v;
	int rc;

	if (decode_modrm(in, cpu) < 0 || in->mod == 3 || in->lock ||
	    ((in->reg & 7) != 2 && (in->reg & 7) != 3))
		return -ENOTSUP;
	if (cpu->cr0 & CR0_TS) {
		inject(ev, VEC_NM);
		return COMPAT_INJECT;
	}
	if ((in->reg & 7) == 2) {
		*kind = K_LDMXCSR;
		if ((rc = read_linear(cpu, mem, operand_address(in, cpu), &v, 4,
		    ev)) < 0)
			return mem_result(rc, ev);
		if (v & MXCSR_RESERVED) {
			inject(ev, VEC_GP);
			ev->has_error = true;
			return COMPAT_INJECT;
		}
		cpu->mxcsr = v;
	} else {
		*kind = K_STMXCSR;
		v = cpu->mxcsr;
		if ((rc = write_linear(cpu, mem, operand_address(in, cpu), &v, 4,
		    ev)) < 0)
			return mem_result(rc, ev);
	}
	cpu->rip += in->pos;
	return COMPAT_DONE;
}

static int
emulate(struct compat_cpu *cpu, struct insn *in, const struct compat_mem *mem,
    struct compat_event *ev, int *kind)
{
	uint8_t op, op2, m;

	if (decode_prefixes(in) < 0 || fetch(in, &op) < 0)
		return -ENOTSUP;
	switch (op) {
	case 0xcc:
		*kind = K_INT3;
		cpu->rip += in->pos;	/* a trap: #BP returns after it */
		inject(ev, VEC_BP);
		return COMPAT_INJECT;
	case 0x9b:
		*kind = K_FWAIT;
		if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
			inject(ev, VEC_NM);
			return COMPAT_INJECT;
		}
		if ((cpu->fsw & 0x80) && (cpu->cr0 & CR0_NE)) {
			inject(ev, VEC_MF);
			return COMPAT_INJECT;
		}
		cpu->rip += in->pos;
		return COMPAT_DONE;
	case 0x0f:
		break;
	default:
		return -ENOTSUP;
	}
	if (fetch(in, &op2) < 0)
		return -ENOTSUP;
	switch (op2) {
	case 0x01:
		if (fetch(in, &m) < 0 || (m != 0xca && m != 0xcb))
			return -ENOTSUP;
		*kind = m == 0xca ? K_CLAC : K_STAC;
		if (!(cpu->cr4 & CR4_SMAP)) {
			inject(ev, VEC_UD);
			return COMPAT_INJECT;
		}
		if (m == 0xca)
			cpu->rflags &= ~RFLAGS_AC;
		else
			cpu->rflags |= RFLAGS_AC;
		cpu->rip += in->pos;
		return COMPAT_DONE;
	case 0x0d:	/* prefetch, prefetchw */
	case 0x18:	/* prefetchnta, t0, t1, t2 and hint nops */
		*kind = K_PREFETCH;
		if (decode_modrm(in, cpu) < 0 || in->mod == 3)
			return -ENOTSUP;
		cpu->rip += in->pos;
		return COMPAT_DONE;
	case 0xae:
		if (in->rep || in->repne || in->opsize)
			return -ENOTSUP;
		return emulate_mxcsr(cpu, in, mem, ev, kind);
	case 0xb8:
		if (!in->rep || in->lock)
			return -ENOTSUP;
		*kind = K_POPCNT;
		return emulate_popcnt(cpu, in, mem, ev);
	}
	return -ENOTSUP;
}

static int
emulate_kind(struct compat_cpu *cpu, const uint8_t *insn, size_t len,
    const struct compat_mem *mem, struct compat_event *ev, int *kind)
{
	struct insn in;

	*kind = -1;
	memset(ev, 0, sizeof(*ev));
	if (!cpu->cs_l)
		return -ENOTSUP;
	memset(&in, 0, sizeof(in));
	in.b = insn;
	in.len = len > 15 ? 15 : len;
	return emulate(cpu, &in, mem, ev, kind);
}

int
compat_emulate(struct compat_cpu *cpu, const uint8_t *insn, size_t len,
    const struct compat_mem *mem, struct compat_event *ev)
{
	int kind;

	return emulate_kind(cpu, insn, len, mem, ev, &kind);
}

/* Symbols. */

static int
sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int
compat_load_symbols(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], name[256], type;
	unsigned long long addr;
	size_t cap = 0;
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		hlog("%s: cannot read symbols: %s", path, strerror(errno));
		return rc;
	}
	while (nsyms > 0)
		free(syms[--nsyms].name);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (nsyms == cap) {
			struct sym *n;

			cap = cap ? cap * 2 : 4096;
			if ((n = realloc(syms, cap * sizeof(*n))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			syms = n;
		}
		if ((syms[nsyms].name = strdup(name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		syms[nsyms++].addr = addr;
	}
	fclose(f);
	if (nsyms > 0)
		qsort(syms, nsyms, sizeof(*syms), sym_cmp);
	return rc;
}

const char *
compat_symbol(uint64_t addr, char *buf, size_t len)
{
	size_t lo = 0, hi = nsyms;

	/* The last symbol at or below addr, within 1 MiB of it. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr - syms[lo - 1].addr >= (1u << 20))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s+0x%llx", syms[lo - 1].name,
		    (unsigned long long)(addr - syms[lo - 1].addr));
	return buf;
}

/* The KVM side. */

static int
vm_mem_read(void *arg, uint64_t gpa, void *buf, size_t len)
{
	void *p = vm_gpa(arg, gpa, len);

	if (p == NULL)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static int
vm_mem_write(void *arg, uint64_t gpa, const void *buf, size_t len)
{
	void *p = vm_gpa(arg, gpa, len);

	if (p == NULL)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

static void
regs_to_cpu(const struct kvm_regs *r, struct compat_cpu *c)
{
	const uint64_t g[16] = {
		r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
		r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
	};

	memcpy(c->gpr, g, sizeof(g));
	c->rip = r->rip;
	c->rflags = r->rflags;
}

static void
cpu_to_regs(const struct compat_cpu *c, struct kvm_regs *r)
{
	r->rax = c->gpr[0]; r->rcx = c->gpr[1]; r->rdx = c->gpr[2];
	r->rbx = c->gpr[3]; r->rsp = c->gpr[4]; r->rbp = c->gpr[5];
	r->rsi = c->gpr[6]; r->rdi = c->gpr[7]; r->r8 = c->gpr[8];
	r->r9 = c->gpr[9]; r->r10 = c->gpr[10]; r->r11 = c->gpr[11];
	r->r12 = c->gpr[12]; r->r13 = c->gpr[13]; r->r14 = c->gpr[14];
	r->r15 = c->gpr[15];
	r->rip = c->rip;
	r->rflags = c->rflags;
}

/* The instruction bytes: from KVM if it gave them, else from guest memory. */
static size_t
insn_bytes(struct vcpu *v, const struct compat_cpu *c,
    const struct compat_mem *mem, uint8_t *buf)
{
	struct kvm_run *run = v->run;
	struct compat_event ev;
	size_t n;

	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags &
	    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > 15)
			n = 15;
		memcpy(buf, run->emulation_failure.insn_bytes, n);
		return n;
	}
	/* Up to the end of the page, to stay clear of an unmapped next page. */
	n = 4096 - (c->rip & 4095);
	if (n > 15)
		n = 15;
	if (read_linear(c, mem, c->rip, buf, n, &ev) < 0)
		return 0;
	return n;
}

static int
apply(struct vcpu *v, const struct compat_cpu *c, struct kvm_regs *r,
    struct kvm_sregs *s, int rc, const struct compat_event *ev)
{
	struct kvm_vcpu_events e;

	cpu_to_regs(c, r);
	if (ioctl(v->fd, KVM_SET_REGS, r) < 0)
		return -errno;
	if (rc != COMPAT_INJECT)
		return 0;
	if (ev->vector == VEC_PF) {
		s->cr2 = ev->cr2;
		if (ioctl(v->fd, KVM_SET_SREGS, s) < 0)
			return -errno;
	}
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &e) < 0)
		return -errno;
	e.exception.injected = 1;
	e.exception.nr = ev->vector;
	e.exception.has_error_code = ev->has_error;
	e.exception.error_code = ev->error_code;
	e.flags = 0;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &e) < 0)
		return -errno;
	return 0;
}

static void
log_failure(struct vcpu *v, const struct compat_cpu *c, const uint8_t *b,
    size_t n, const char *why)
{
	char hex[64], sym[128];
	size_t i;
	int k = 0;

	hex[0] = '\0';
	for (i = 0; i < n && k < (int)sizeof(hex) - 4; i++)
		k += snprintf(hex + k, sizeof(hex) - k, "%s%02x", i ? " " : "",
		    b[i]);
	hlog("vcpu %d: KVM cannot emulate the instruction [%s] at rip %#llx "
	    "(%s): %s", v->id, n ? hex : "unreadable",
	    (unsigned long long)c->rip, compat_symbol(c->rip, sym, sizeof(sym)),
	    why);
}

int
compat_emulation_failure(struct vcpu *v)
{
	struct compat_mem mem = { vm_mem_read, vm_mem_write, v->vm };
	struct compat_cpu c;
	struct compat_event ev;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_fpu fpu;
	uint8_t b[15];
	size_t n;
	int rc, kind;

	memset(&c, 0, sizeof(c));
	memset(&fpu, 0, sizeof(fpu));
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		hlog("vcpu %d: emulation failure, and its registers cannot be "
		    "read: %s", v->id, strerror(errno));
		vm_request_exit(v->vm, EXIT_ERROR, "instruction emulation failed");
		return -1;
	}
	regs_to_cpu(&r, &c);
	c.cr0 = s.cr0;
	c.cr3 = s.cr3;
	c.cr4 = s.cr4;
	c.efer = s.efer;
	c.fs_base = s.fs.base;
	c.gs_base = s.gs.base;
	c.cs_l = s.cs.l;
	if (ioctl(v->fd, KVM_GET_FPU, &fpu) == 0) {
		c.fsw = fpu.fsw;
		c.mxcsr = fpu.mxcsr;
	}
	n = insn_bytes(v, &c, &mem, b);
	if (!compat_on) {
		log_failure(v, &c, b, n, "x86.compat is off; try -o x86.compat=on");
		vm_request_exit(v->vm, EXIT_ERROR, "instruction emulation failed");
		return -1;
	}
	rc = emulate_kind(&c, b, n, &mem, &ev, &kind);
	if (rc >= 0) {
		if (kind >= 0) {
			kind_count[kind]++;
			hlog_once(&kind_logged[kind], "vcpu %d: x86.compat: "
			    "completing %s for KVM (first at rip %#llx)", v->id,
			    kind_name[kind], (unsigned long long)r.rip);
		}
		if (c.mxcsr != fpu.mxcsr) {
			fpu.mxcsr = c.mxcsr;
			if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
				hlog("vcpu %d: x86.compat: KVM_SET_FPU: %s",
				    v->id, strerror(errno));
				vm_request_exit(v->vm, EXIT_ERROR,
				    "instruction emulation failed");
				return -1;
			}
		}
		if ((rc = apply(v, &c, &r, &s, rc, &ev)) == 0)
			return 0;
		hlog("vcpu %d: x86.compat: cannot update the vCPU: %s", v->id,
		    strerror(-rc));
	} else {
		c.rip = r.rip;
		log_failure(v, &c, b, n, rc == -EFAULT ?
		    "an operand is not in guest RAM" :
		    "x86.compat does not handle it");
	}
	vm_request_exit(v->vm, EXIT_ERROR, "instruction emulation failed");
	return -1;
}
