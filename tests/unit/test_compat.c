/* x86.compat: CPUID filter, page walk and each instruction it completes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/compat.h"

#define MEMSZ	(4u << 20)
#define RIP	0xffffffff81000000ull

static uint8_t *ram;

static int
ram_read(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa >= MEMSZ || len > MEMSZ - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

static int
ram_write(void *arg, uint64_t gpa, const void *buf, size_t len)
{
	(void)arg;
	if (gpa >= MEMSZ || len > MEMSZ - gpa)
		return -EFAULT;
	memcpy(ram + gpa, buf, len);
	return 0;
}

static const struct compat_mem mem = { ram_read, ram_write, NULL };

static void
put64(uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, 8);
}

/*
 * Page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD), 0x4000 (PT):
 * va 0x400000 -> 4K page at 0x100000, va 0x401000 -> 0x105000 (so a read
 * across the boundary is split), va 0x600000 -> 2M page at 0x200000.
 */
static void
map_pages(void)
{
	put64(0x1000, 0x2000 | 3);
	put64(0x2000, 0x3000 | 3);
	put64(0x3000 + 2 * 8, 0x4000 | 3);
	put64(0x4000 + 0 * 8, 0x100000 | 3);
	put64(0x4000 + 1 * 8, 0x105000 | 1);	/* read-only */
	put64(0x3000 + 3 * 8, 0x200000 | 0x80 | 3);
}

static int
setup(void **state)
{
	(void)state;
	if ((ram = calloc(1, MEMSZ)) == NULL)
		return -1;
	map_pages();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static void
cpu_init(struct compat_cpu *c)
{
	memset(c, 0, sizeof(*c));
	c->rip = RIP;
	c->rflags = 0x2;
	c->cr0 = 0x80050033;		/* PG WP NE ET MP PE */
	c->cr3 = 0x1000;
	c->cr4 = 0x20;
	c->efer = 0xd01;		/* LMA LME NX SCE */
	c->cs_l = true;
}

static int
run(struct compat_cpu *c, const uint8_t *b, size_t n, struct compat_event *ev)
{
	return compat_emulate(c, b, n, &mem, ev);
}

static void
test_int3_injects_bp_after_it(void **state)
{
	static const uint8_t b[] = { 0xcc, 0x90 };
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	assert_int_equal(run(&c, b, sizeof(b), &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 3);
	assert_false(ev.has_error);
	assert_int_equal(c.rip, RIP + 1);	/* #BP is a trap */
}

static void
test_fwait(void **state)
{
	static const uint8_t b[] = { 0x9b };
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	assert_int_equal(run(&c, b, 1, &ev), COMPAT_DONE);
	assert_int_equal(c.rip, RIP + 1);

	/* A pending unmasked x87 exception with CR0.NE: #MF, a fault. */
	cpu_init(&c);
	c.fsw = 0x80 | 0x01;
	assert_int_equal(run(&c, b, 1, &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 16);
	assert_int_equal(c.rip, RIP);

	/* CR0.TS with CR0.MP: #NM, so a lazy-FPU kernel can load its state. */
	cpu_init(&c);
	c.cr0 |= 1u << 3;
	assert_int_equal(run(&c, b, 1, &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 7);
	assert_int_equal(c.rip, RIP);
}

static void
test_clac_stac(void **state)
{
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca };
	static const uint8_t stac[] = { 0x0f, 0x01, 0xcb };
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	c.cr4 |= 1u << 21;
	assert_int_equal(run(&c, stac, 3, &ev), COMPAT_DONE);
	assert_true(c.rflags & (1u << 18));
	assert_int_equal(c.rip, RIP + 3);
	assert_int_equal(run(&c, clac, 3, &ev), COMPAT_DONE);
	assert_false(c.rflags & (1u << 18));
	assert_int_equal(c.rip, RIP + 6);

	/* Without CR4.SMAP they are undefined. */
	cpu_init(&c);
	assert_int_equal(run(&c, clac, 3, &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 6);
	assert_int_equal(c.rip, RIP);
}

static void
test_popcnt_registers(void **state)
{
	static const uint8_t q[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };	/* rax, rbx */
	static const uint8_t d[] = { 0xf3, 0x44, 0x0f, 0xb8, 0xc9 };	/* r9d, ecx */
	static const uint8_t w[] = { 0x66, 0xf3, 0x0f, 0xb8, 0xd1 };	/* dx, cx */
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	c.gpr[3] = 0xf00000000000000full;
	c.rflags |= 1u | (1u << 11);		/* CF and OF must be cleared */
	assert_int_equal(run(&c, q, sizeof(q), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[0], 8);
	assert_int_equal(c.rflags & ((1u << 6) | 1u | (1u << 11)), 0);
	assert_int_equal(c.rip, RIP + 5);

	cpu_init(&c);
	c.gpr[1] = 0xffffffff00000000ull;	/* upper half is not counted */
	c.gpr[9] = ~0ull;			/* a 32-bit result zero-extends */
	assert_int_equal(run(&c, d, sizeof(d), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[9], 0);
	assert_true(c.rflags & (1u << 6));	/* ZF: the source was 0 */

	cpu_init(&c);
	c.gpr[1] = 0x12340007;
	c.gpr[2] = 0xaaaabbbbccccddddull;	/* a 16-bit result keeps the rest */
	assert_int_equal(run(&c, w, sizeof(w), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[2], 0xaaaabbbbcccc0003ull);
}

static void
test_popcnt_memory(void **state)
{
	/* popcnt eax, [rdi+8]; popcnt rax, gs:[rip+0x10]; across pages */
	static const uint8_t m8[] = { 0xf3, 0x0f, 0xb8, 0x47, 0x08 };
	static const uint8_t rr[] = { 0x65, 0xf3, 0x48, 0x0f, 0xb8, 0x05,
	    0x10, 0x00, 0x00, 0x00 };
	static const uint8_t sib[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x04, 0x8e };
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	put64(0x100000 + 0x18, 0x0000000300000007ull);
	cpu_init(&c);
	c.gpr[7] = 0x400010;
	assert_int_equal(run(&c, m8, sizeof(m8), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[0], 3);
	assert_int_equal(c.rip, RIP + 5);

	/* gs base + rip of the next instruction + disp32, in the 2M page. */
	cpu_init(&c);
	c.rip = 0x1000;				/* rip-relative from 0x100a */
	c.gs_base = 0x600000 - 0x100a;
	put64(0x200010, 0xffffull);
	assert_int_equal(run(&c, rr, sizeof(rr), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[0], 16);

	/* [rsi + rcx*4], 8 bytes straddling 0x400ffc..0x401003. */
	cpu_init(&c);
	c.gpr[6] = 0x400000;
	c.gpr[1] = 0x3ff;
	put64(0x100ff8, 0x0000000f00000000ull);	/* 4 bits in 0x100ffc */
	put64(0x105000, 0x0000000000000003ull);	/* 2 bits in 0x105000 */
	assert_int_equal(run(&c, sib, sizeof(sib), &ev), COMPAT_DONE);
	assert_int_equal(c.gpr[0], 6);
}

static void
test_popcnt_unmapped_operand_faults(void **state)
{
	static const uint8_t b[] = { 0xf3, 0x0f, 0xb8, 0x07 };	/* eax, [rdi] */
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	c.gpr[7] = 0x800123;
	c.gpr[0] = 77;
	assert_int_equal(run(&c, b, sizeof(b), &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 14);
	assert_true(ev.has_error);
	assert_int_equal(ev.error_code, 0);	/* not present, read */
	assert_int_equal(ev.cr2, 0x800123);
	assert_int_equal(c.rip, RIP);		/* a fault: nothing changed */
	assert_int_equal(c.gpr[0], 77);
}

static void
test_ldmxcsr_stmxcsr(void **state)
{
	static const uint8_t ld[] = { 0x0f, 0xae, 0x54, 0x24, 0x04 };	/* [rsp+4] */
	static const uint8_t st[] = { 0x0f, 0xae, 0x1f };		/* [rdi] */
	struct compat_cpu c;
	struct compat_event ev;
	uint32_t v = 0x1f80;

	(void)state;
	memcpy(ram + 0x100104, &v, 4);
	cpu_init(&c);
	c.gpr[4] = 0x400100;
	assert_int_equal(run(&c, ld, sizeof(ld), &ev), COMPAT_DONE);
	assert_int_equal(c.mxcsr, 0x1f80);
	assert_int_equal(c.rip, RIP + 5);

	c.mxcsr = 0x9fc0;
	c.gpr[7] = 0x400200;
	assert_int_equal(run(&c, st, sizeof(st), &ev), COMPAT_DONE);
	memcpy(&v, ram + 0x100200, 4);
	assert_int_equal(v, 0x9fc0);
	assert_int_equal(c.rip, RIP + 8);

	/* Reserved bits: #GP(0), MXCSR unchanged. */
	v = 0x10000;
	memcpy(ram + 0x100104, &v, 4);
	cpu_init(&c);
	c.gpr[4] = 0x400100;
	c.mxcsr = 0x1f80;
	assert_int_equal(run(&c, ld, sizeof(ld), &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 13);
	assert_true(ev.has_error);
	assert_int_equal(ev.error_code, 0);
	assert_int_equal(c.mxcsr, 0x1f80);
	assert_int_equal(c.rip, RIP);

	/* stmxcsr to a read-only page: #PF, present and write. */
	cpu_init(&c);
	c.gpr[7] = 0x401010;
	assert_int_equal(run(&c, st, sizeof(st), &ev), COMPAT_INJECT);
	assert_int_equal(ev.vector, 14);
	assert_int_equal(ev.error_code, 3);
	assert_int_equal(c.rip, RIP);

	/* A register operand is not ldmxcsr. */
	assert_int_equal(run(&c, (const uint8_t *)"\x0f\xae\xd0", 3, &ev),
	    -ENOTSUP);
}

static void
test_translate(void **state)
{
	struct compat_cpu c;
	struct compat_event ev;
	uint64_t gpa = 0;

	(void)state;
	cpu_init(&c);
	assert_int_equal(compat_translate(&c, &mem, 0x400abc, false, &gpa, &ev), 0);
	assert_int_equal(gpa, 0x100abc);
	assert_int_equal(compat_translate(&c, &mem, 0x6abcde, true, &gpa, &ev), 0);
	assert_int_equal(gpa, 0x2abcde);
	/* A write to a read-only page with CR0.WP. */
	assert_int_equal(compat_translate(&c, &mem, 0x401000, true, &gpa, &ev),
	    -EFAULT);
	assert_int_equal(ev.vector, 14);
	assert_int_equal(ev.error_code, 3);
	/* A page table outside RAM. */
	put64(0x1000 + 8, 0x7fff0000000ull | 3);
	assert_int_equal(compat_translate(&c, &mem, 1ull << 39, false, &gpa, &ev),
	    -EFAULT);
	put64(0x1000 + 8, 0);
	/* No paging: identity. */
	c.cr0 = 0x11;
	assert_int_equal(compat_translate(&c, &mem, 0x1234, false, &gpa, &ev), 0);
	assert_int_equal(gpa, 0x1234);
}

static void
test_prefetch_is_skipped(void **state)
{
	static const uint8_t pw[] = { 0x0f, 0x0d, 0x48, 0x40 };	/* prefetchw [rax+0x40] */
	static const uint8_t nta[] = { 0x0f, 0x18, 0x04, 0x24 };	/* prefetchnta [rsp] */
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	assert_int_equal(run(&c, pw, sizeof(pw), &ev), COMPAT_DONE);
	assert_int_equal(c.rip, RIP + 4);
	assert_int_equal(run(&c, nta, sizeof(nta), &ev), COMPAT_DONE);
	assert_int_equal(c.rip, RIP + 8);
}

static void
test_unhandled(void **state)
{
	static const uint8_t xrstor[] = { 0x48, 0x0f, 0xae, 0x2f };
	static const uint8_t cx16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x4d, 0x20 };
	static const uint8_t cut[] = { 0xf3, 0x48, 0x0f, 0xb8 };
	static const uint8_t prefixes[15] = {
	    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66 };
	static const uint8_t lockpop[] = { 0xf0, 0xf3, 0x0f, 0xb8, 0xc3 };
	struct compat_cpu c;
	struct compat_event ev;

	(void)state;
	cpu_init(&c);
	assert_int_equal(run(&c, xrstor, sizeof(xrstor), &ev), -ENOTSUP);
	assert_int_equal(run(&c, cx16, sizeof(cx16), &ev), -ENOTSUP);
	assert_int_equal(run(&c, cut, sizeof(cut), &ev), -ENOTSUP);
	assert_int_equal(run(&c, prefixes, sizeof(prefixes), &ev), -ENOTSUP);
	assert_int_equal(run(&c, lockpop, sizeof(lockpop), &ev), -ENOTSUP);
	assert_int_equal(run(&c, xrstor, 0, &ev), -ENOTSUP);
	assert_int_equal(c.rip, RIP);
	/* Only 64-bit code. */
	c.cs_l = false;
	assert_int_equal(run(&c, (const uint8_t *)"\xcc", 1, &ev), -ENOTSUP);
}

static struct kvm_cpuid2 *
cpuid_table(void)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + 4 * sizeof(t->entries[0]));

	assert_non_null(t);
	t->nent = 4;
	t->entries[0].function = 1;
	t->entries[0].ecx = 0xfffa3203;
	t->entries[0].edx = 0x1f8bfbff;
	t->entries[1].function = 7;
	t->entries[1].ebx = 0xf1bf2ffb;
	t->entries[2].function = 0x80000001;
	t->entries[2].edx = 0x2c100800;
	t->entries[3].function = 0xd;
	t->entries[3].eax = 0xe7;
	return t;
}

static void
test_cpuid_filter(void **state)
{
	struct kvm_cpuid2 *t = cpuid_table();

	(void)state;
	assert_int_equal(compat_init("off", NULL), 0);
	compat_filter_cpuid(NULL, t);
	assert_int_equal(t->entries[0].ecx, 0xfffa3203);

	assert_int_equal(compat_init("on", NULL), 1);
	assert_true(compat_enabled());
	compat_filter_cpuid(NULL, t);
	assert_false(t->entries[0].ecx & (1u << 13));	/* CX16 */
	assert_false(t->entries[0].ecx & (1u << 26));	/* XSAVE */
	assert_false(t->entries[0].ecx & (1u << 23));	/* POPCNT */
	assert_true(t->entries[0].ecx & (1u << 31));	/* hypervisor stays */
	assert_true(t->entries[0].ecx & (1u << 21));	/* x2APIC stays */
	assert_int_equal(t->entries[0].edx, 0x1f8bfbff);	/* FPU, SSE2, ... */
	assert_int_equal(t->entries[1].ebx, 0);
	assert_false(t->entries[2].edx & (1u << 26));	/* 1 GiB pages */
	assert_true(t->entries[2].edx & (1u << 29));	/* long mode stays */
	assert_int_equal(t->entries[3].eax, 0);
	free(t);

	assert_non_null(strstr(compat_linux_cmdline(), "noxsave"));
	assert_non_null(strstr(compat_linux_cmdline(), "308"));	/* SMAP */
	assert_int_equal(compat_init("sometimes", NULL), -EINVAL);
	assert_int_equal(compat_init("auto", NULL),
	    compat_host_emulates() ? 1 : 0);
	compat_init("off", NULL);
}

static void
test_symbols(void **state)
{
	char dir[] = "/tmp/test_compat.XXXXXX", path[64], kernel[64], buf[64];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/System.map", dir);
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "ffffffff81000000 T _text\n"
	    "ffffffff81001000 t int3_selftest\n"
	    "ffffffff81002000 D some_data\n"
	    "ffffffff81003000 T fpu__init_cpu\n"
	    "garbage line\n");
	fclose(f);
	compat_init("off", kernel);		/* finds System.map next to it */
	assert_string_equal(compat_symbol(0xffffffff81001010ull, buf,
	    sizeof(buf)), "int3_selftest+0x10");
	/* Data symbols are not functions: 0x2800 is still int3_selftest. */
	assert_string_equal(compat_symbol(0xffffffff81002800ull, buf,
	    sizeof(buf)), "int3_selftest+0x1800");
	assert_string_equal(compat_symbol(0xffffffff81003000ull, buf,
	    sizeof(buf)), "fpu__init_cpu+0x0");
	assert_string_equal(compat_symbol(0x1000, buf, sizeof(buf)), "?");
	assert_string_equal(compat_symbol(0xffffffff91000000ull, buf,
	    sizeof(buf)), "?");
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int3_injects_bp_after_it),
		cmocka_unit_test(test_fwait),
		cmocka_unit_test(test_clac_stac),
		cmocka_unit_test(test_popcnt_registers),
		cmocka_unit_test(test_popcnt_memory),
		cmocka_unit_test(test_popcnt_unmapped_operand_faults),
		cmocka_unit_test(test_ldmxcsr_stmxcsr),
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_prefetch_is_skipped),
		cmocka_unit_test(test_unhandled),
		cmocka_unit_test(test_cpuid_filter),
		cmocka_unit_test(test_symbols),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
