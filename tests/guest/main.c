/*
 * The test guest's CPL 3 main: reads hvm_start_info, runs the tests named by
 * test=a,b,c, prints one line per test and the summary, and leaves through
 * the debug-exit port (value 0 when all passed, 1 otherwise).
 */
#include "virtio.h"

struct hvm_start_info start_info;
char cmdline[1024];
struct hvm_memmap_entry memmap[MAX_MEMMAP];
unsigned int memmap_count;
uint64_t tsc_khz;
int io_direct;
static uint64_t tsc0;
static const char *current_test = "boot";
static int npass, nfail, nskip;

static const struct test tests[] = {
	{ "uart", test_uart },
	{ "pci", test_pci },
	{ "acpi", test_acpi },
	{ "smp", test_smp },
	{ "timer", test_timer },
	{ "rtc", test_rtc },
	{ "idle", test_idle },
	{ "reboot", test_reboot },
	{ "poweroff", test_poweroff },
	{ "halt", test_halt },
	{ "triplefault", test_triplefault },
	{ "tour", test_tour },
	{ "idle-deaf", test_idle_deaf },
	{ "rng", test_rng },
	{ "blk", test_blk },
	{ "net", test_net },
	{ "hostile", test_hostile },
	{ "vsock", test_vsock },
	{ "blk-stress", test_blk_stress },
	{ "net-echo", test_net_echo },
	{ "rng-stress", test_rng_stress },
	{ "bench-blk", test_bench_blk },
	{ "bench-net", test_bench_net },
	{ "count", test_count },
	{ "count-rng", test_count_rng },
	{ "tscgap", test_tscgap },
};

/* test=virtio runs these; a missing device is then a SKIP, not a FAIL. */
static const char *const virtio_group[] = { "rng", "blk", "net" };
int test_explicit;

uint64_t
now_us(void)
{
	return (rdtsc() - tsc0) * 1000 / tsc_khz;
}

void
udelay(uint64_t us)
{
	uint64_t end = now_us() + us;

	while (now_us() < end)
		cpu_relax();
}

void
exit_vm(int value)
{
	outb(PORT_DEBUG_EXIT, (uint8_t)value);
	/* No debug-exit device: halt with interrupts off instead. */
	syscall2(SYS_HALT, 0, 0);
	for (;;)
		;
}

/* The value of key=... on the command line, or NULL. */
const char *
cmdline_value(const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key), n;
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			p += klen + 1;
			for (n = 0; p[n] && p[n] != ' ' && n + 1 < len; n++)
				buf[n] = p[n];
			buf[n] = 0;
			return buf;
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

/* The number in key=N on the command line, or def. */
unsigned long
cmdline_num(const char *key, unsigned long def)
{
	char buf[32];
	const char *end;
	unsigned long v;

	if (!cmdline_value(key, buf, sizeof(buf)) || !buf[0])
		return def;
	v = strtoul_(buf, &end, 0);
	return *end ? def : v;
}

/* Copies what the loader gave us before anything overwrites low memory. */
static void
read_start_info(void)
{
	const struct hvm_start_info *si;
	const struct hvm_memmap_entry *mm;
	const char *cl;
	unsigned int i;

	if (boot_info_ptr == 0 || boot_info_ptr > 0xFFFFF000)
		return;
	si = (const struct hvm_start_info *)(uintptr_t)boot_info_ptr;
	if (si->magic != HVM_START_MAGIC)
		return;
	start_info = *si;
	if (start_info.cmdline_paddr && start_info.cmdline_paddr < 0xC0000000) {
		cl = (const char *)(uintptr_t)start_info.cmdline_paddr;
		for (i = 0; i + 1 < sizeof(cmdline) && cl[i]; i++)
			cmdline[i] = cl[i];
		cmdline[i] = 0;
	}
	if (start_info.version >= 1 && start_info.memmap_paddr &&
	    start_info.memmap_paddr < 0xC0000000) {
		mm = (const struct hvm_memmap_entry *)(uintptr_t)start_info.memmap_paddr;
		for (i = 0; i < start_info.memmap_entries && i < MAX_MEMMAP; i++)
			memmap[i] = mm[i];
		memmap_count = i;
	}
}

/*
 * One reading of a reference clock, with the TSC read just before and just
 * after it.  A vCPU can be descheduled between the two (an emulator under
 * load takes the CPU away for 100 ms and more): that shows as a wide
 * bracket, so the tightest of a few tries is kept.
 */
struct tick {
	uint64_t tsc;		/* the middle of the bracket */
	uint64_t spread;	/* its width */
	uint32_t ref;
};

static void
sample(uint32_t (*ref)(void), struct tick *t)
{
	uint64_t a, b;
	uint32_t r;
	int i;

	t->spread = ~0ULL;
	for (i = 0; i < 8; i++) {
		a = rdtsc();
		r = ref();
		b = rdtsc();
		if (b - a < t->spread) {
			t->spread = b - a;
			t->tsc = a + (b - a) / 2;
			t->ref = r;
		}
	}
}

/*
 * The TSC rate in kHz against ref, which counts up at hz (mask: its
 * width), over 50 ms; 0 if ref does not move.  A measurement is taken when
 * its two brackets are within 1% of the interval, else the best of 20.
 */
static uint64_t
measure(uint32_t (*ref)(void), uint32_t mask, uint64_t hz)
{
	uint64_t dt, khz = 0, err, best = ~0ULL, limit = 4000000000ULL;
	uint32_t ticks;
	struct tick s0, s1;
	int i;

	for (i = 0; i < 20; i++) {
		sample(ref, &s0);
		do {
			sample(ref, &s1);
			ticks = (s1.ref - s0.ref) & mask;
		} while (ticks < hz / 20 && s1.tsc - s0.tsc < limit);
		if (ticks < hz / 20)
			return 0;
		dt = s1.tsc - s0.tsc;
		err = (s0.spread + s1.spread) * 1000 / dt;
		if (err < best) {
			best = err;
			khz = dt * hz / ((uint64_t)ticks * 1000);
		}
		if (err <= 10)
			break;
	}
	return khz;
}

static uint32_t pm_mask;

static uint32_t
pm_ticks(void)
{
	return inl((uint16_t)acpi.pm_tmr) & pm_mask;
}

/* The LAPIC timer counts down from its initial count. */
static uint32_t
lapic_ticks(void)
{
	return ~mmio_read32(LAPIC + 0x390);
}

/* TSC rate from the ACPI PM timer, else from the LAPIC timer (1 GHz bus). */
static void
calibrate_tsc(void)
{
	tsc_khz = 0;
	if (acpi.pm_tmr && acpi.pm_tmr < 0x10000) {
		pm_mask = (acpi.flags & (1u << 8)) ? 0xFFFFFFFF : 0xFFFFFF;
		tsc_khz = measure(pm_ticks, pm_mask, 3579545);
	}
	if (!tsc_khz) {
		mmio_write32(LAPIC + 0x320, 0x10000);	/* masked */
		mmio_write32(LAPIC + 0x3E0, 0xB);	/* divide by 1 */
		mmio_write32(LAPIC + 0x380, 0xFFFFFFFF);
		tsc_khz = measure(lapic_ticks, 0xFFFFFFFF, 1000000000);
		mmio_write32(LAPIC + 0x380, 0);
	}
	if (!tsc_khz) {
		printf_("testguest: cannot calibrate the TSC, assuming 3 GHz\n");
		tsc_khz = 3000000;
	}
}

static void
report(const char *name, int rc, const char *why)
{
	switch (rc) {
	case PASS:
		npass++;
		printf_("PASS %s\n", name);
		break;
	case SKIP:
		nskip++;
		printf_("SKIP %s: %s\n", name, why);
		break;
	default:
		nfail++;
		printf_("FAIL %s: %s\n", name, why);
		break;
	}
}

static void __attribute__((noreturn))
finish(void)
{
	if (nskip)
		printf_("%d passed, %d failed, %d skipped\n", npass, nfail, nskip);
	else
		printf_("%d passed, %d failed\n", npass, nfail);
	exit_vm(nfail ? 1 : 0);
}

static void
run_test(const char *name, int explicit)
{
	char why[256];
	unsigned int i;
	int rc;

	if (!strncmp(name, "virtio", 7)) {
		for (i = 0; i < sizeof(virtio_group) / sizeof(virtio_group[0]); i++)
			run_test(virtio_group[i], 0);
		return;
	}
	test_explicit = explicit;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (strlen(tests[i].name) != strlen(name) ||
		    strncmp(tests[i].name, name, strlen(name)))
			continue;
		current_test = tests[i].name;
		snprintf_(why, sizeof(why), "no reason given");
		rc = tests[i].fn(why, sizeof(why));
		report(name, rc, why);
		return;
	}
	report(name, FAIL, "unknown test");
}

void
guest_main(void)
{
	char list[512], name[32];
	const char *p;
	size_t n;
	uint64_t fl;

	__asm__ volatile("pushfq; popq %0" : "=r"(fl));
	io_direct = ((fl >> 12) & 3) == 3;
	/* Mask both 8259s: their vectors would collide with exceptions. */
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
	uart_init();
	read_start_info();
	tsc0 = rdtsc();
	tsc_khz = 1000000;
	acpi_scan(list, sizeof(list));
	calibrate_tsc();
	printf_("testguest: cmdline '%s', tsc %lu kHz, port I/O %s\n",
	    cmdline, (unsigned long)tsc_khz,
	    io_direct ? "direct (IOPL 3)" : "through CPL 0");
	if (start_info.magic != HVM_START_MAGIC)
		report("boot", FAIL, "no hvm_start_info (bad magic) in %ebx");
	if (!cmdline_value("test", list, sizeof(list)) || !list[0]) {
		report("test", FAIL, "no test named on the command line "
		    "(give test=uart,pci,...)");
		finish();
	}
	for (p = list; *p; ) {
		for (n = 0; p[n] && p[n] != ','; n++)
			;
		if (n >= sizeof(name)) {
			report("test", FAIL, "test name too long");
		} else if (n) {
			memcpy(name, p, n);
			name[n] = 0;
			run_test(name, 1);
		}
		p += n;
		if (*p == ',')
			p++;
	}
	finish();
}

void
fault_entry(void)
{
	static int nested;
	char why[160];

	/* A fault while reporting one: give up quietly rather than loop. */
	if (nested++) {
		if (nested == 2)
			exit_vm(1);
		for (;;)
			;
	}
	snprintf_(why, sizeof(why), "exception %lu error 0x%lx at rip 0x%lx "
	    "cs 0x%lx cr2 0x%lx", (unsigned long)fault_vec,
	    (unsigned long)fault_err, (unsigned long)fault_rip,
	    (unsigned long)fault_cs, (unsigned long)fault_cr2);
	report(current_test, FAIL, why);
	finish();
}
