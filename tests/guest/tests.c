/* The device tests and the tests that end the VM. */
#include "virtio.h"

int
test_uart(char *why, size_t len)
{
	int i;

	outb(PORT_COM1 + 7, 0x5a);
	if (inb(PORT_COM1 + 7) != 0x5a) {
		snprintf_(why, len, "COM1 scratch register (port 0x3ff) does "
		    "not keep 0x5a");
		return FAIL;
	}
	outb(PORT_COM1 + 7, 0xa5);
	if (inb(PORT_COM1 + 7) != 0xa5) {
		snprintf_(why, len, "COM1 scratch register (port 0x3ff) does "
		    "not keep 0xa5");
		return FAIL;
	}
	for (i = 0; i < 100000; i++)
		if (inb(PORT_COM1 + 5) & 0x20)
			break;
	if (i == 100000) {
		snprintf_(why, len, "COM1 LSR (port 0x3fd) never shows THRE");
		return FAIL;
	}
	puts_("uart: write works\n");
	return PASS;
}

int
test_timer(char *why, size_t len)
{
	uint32_t before = irq_count[TIMER_VECTOR];
	uint64_t end;

	lapic_enable();
	mmio_write32(LAPIC + 0x3E0, 0x3);		/* divide by 16 */
	mmio_write32(LAPIC + 0x320, TIMER_VECTOR);	/* one-shot */
	mmio_write32(LAPIC + 0x380, 100000);
	syscall2(SYS_STI, 0, 0);
	end = now_us() + 2000000;
	while (irq_count[TIMER_VECTOR] == before && now_us() < end)
		cpu_relax();
	syscall2(SYS_CLI, 0, 0);
	if (irq_count[TIMER_VECTOR] == before) {
		snprintf_(why, len, "no LAPIC timer interrupt on vector 0x%x "
		    "within 2 s (current count %u)", TIMER_VECTOR,
		    mmio_read32(LAPIC + 0x390));
		return FAIL;
	}
	return PASS;
}

static uint8_t
cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static int
bcd_ok(uint8_t v)
{
	return (v & 0xF) < 10 && (v >> 4) < 10;
}

struct rtc_time {
	uint8_t sec, min, hour, day, mon, year;
};

static int
rtc_read(struct rtc_time *t)
{
	struct rtc_time u;
	/* Generous: each register read is two exits through CPL 0, which a
	 * busy host can make slow. */
	uint64_t end = now_us() + 2000000;

	do {
		while (cmos(0x0A) & 0x80)
			if (now_us() > end)
				return -1;
		t->sec = cmos(0);
		t->min = cmos(2);
		t->hour = cmos(4);
		t->day = cmos(7);
		t->mon = cmos(8);
		t->year = cmos(9);
		while (cmos(0x0A) & 0x80)
			if (now_us() > end)
				return -1;
		u.sec = cmos(0);
		u.min = cmos(2);
		u.hour = cmos(4);
		if (now_us() > end)
			return -1;
	} while (u.sec != t->sec || u.min != t->min || u.hour != t->hour);
	return 0;
}

static uint8_t
bin(uint8_t v, int binary)
{
	return binary ? v : (uint8_t)((v >> 4) * 10 + (v & 0xF));
}

int
test_rtc(char *why, size_t len)
{
	struct rtc_time t, t2;
	uint8_t b, hour;
	int binary, h24;
	uint64_t end;

	if (acpi.fadt && (acpi.boot_arch & (1u << 5))) {
		snprintf_(why, len, "FADT says the CMOS RTC is not present");
		return SKIP;
	}
	b = cmos(0x0B);
	if (b == 0xFF && cmos(0x0A) == 0xFF && cmos(0x0D) == 0xFF) {
		snprintf_(why, len, "no CMOS RTC at port 0x70 (reads 0xff)");
		return SKIP;
	}
	binary = b & 0x04;
	h24 = b & 0x02;
	if (rtc_read(&t) < 0) {
		snprintf_(why, len, "update-in-progress (register A bit 7) "
		    "never clears");
		return FAIL;
	}
	hour = t.hour & 0x7F;
	if (!binary && !(bcd_ok(t.sec) && bcd_ok(t.min) && bcd_ok(hour) &&
	    bcd_ok(t.day) && bcd_ok(t.mon) && bcd_ok(t.year))) {
		snprintf_(why, len, "register B says BCD but the time reads "
		    "%02x:%02x:%02x %02x-%02x-%02x", t.hour, t.min, t.sec,
		    t.year, t.mon, t.day);
		return FAIL;
	}
	hour = bin(hour, binary);
	if (bin(t.sec, binary) > 59 || bin(t.min, binary) > 59 ||
	    (h24 ? hour > 23 : (hour < 1 || hour > 12)) ||
	    bin(t.day, binary) < 1 || bin(t.day, binary) > 31 ||
	    bin(t.mon, binary) < 1 || bin(t.mon, binary) > 12 ||
	    bin(t.year, binary) > 99) {
		snprintf_(why, len, "implausible time (register B 0x%02x): "
		    "%02x:%02x:%02x %02x-%02x-%02x", b, t.hour, t.min, t.sec,
		    t.year, t.mon, t.day);
		return FAIL;
	}
	end = now_us() + 2500000;
	do {
		udelay(20000);
		if (rtc_read(&t2) < 0) {
			snprintf_(why, len, "update-in-progress never clears");
			return FAIL;
		}
	} while (t2.sec == t.sec && now_us() < end);
	if (t2.sec == t.sec) {
		snprintf_(why, len, "seconds stuck at 0x%02x for 2.5 s", t.sec);
		return FAIL;
	}
	printf_("rtc: 20%02u-%02u-%02u %02u:%02u:%02u\n", bin(t2.year, binary),
	    bin(t2.mon, binary), bin(t2.day, binary),
	    bin(t2.hour & 0x7F, binary), bin(t2.min, binary),
	    bin(t2.sec, binary));
	return PASS;
}

static int
acpi_pm_ok(char *why, size_t len)
{
	if (!acpi.fadt) {
		snprintf_(why, len, "no FADT");
		return 0;
	}
	if (!acpi.pm1a_cnt || !acpi.pm1a_evt) {
		snprintf_(why, len, "FADT has no PM1a_EVT/PM1a_CNT block "
		    "(hardware-reduced ACPI)");
		return 0;
	}
	return 1;
}

static int
s5(char *why, size_t len)
{
	uint64_t end;

	if (acpi.slp_typ_s5 < 0) {
		snprintf_(why, len, "no simple \\_S5 package in the DSDT");
		return FAIL;
	}
	outw(acpi.pm1a_cnt, (uint16_t)((acpi.slp_typ_s5 & 7) << 10 | 1 << 13));
	end = now_us() + 1000000;
	while (now_us() < end)
		cpu_relax();
	snprintf_(why, len, "still running 1 s after writing SLP_TYP %d | "
	    "SLP_EN to PM1a_CNT (port 0x%x)", acpi.slp_typ_s5, acpi.pm1a_cnt);
	return FAIL;
}

static void
acpi_enable_sci(void)
{
	uint64_t end;

	if (inw(acpi.pm1a_cnt) & 1)
		return;
	if (!acpi.smi_cmd || !acpi.acpi_enable || acpi.smi_cmd > 0xFFFF)
		return;
	outb((uint16_t)acpi.smi_cmd, acpi.acpi_enable);
	end = now_us() + 1000000;
	while (!(inw(acpi.pm1a_cnt) & 1) && now_us() < end)
		cpu_relax();
}

int
test_idle(char *why, size_t len)
{
	uint16_t en = acpi.pm1a_evt + 2;

	if (!acpi_pm_ok(why, len))
		return SKIP;
	acpi_enable_sci();
	outw(en, inw(en) | 0x100);		/* PWRBTN_EN */
	outw(acpi.pm1a_evt, 0x100);		/* clear a stale PWRBTN_STS */
	puts_("idle: waiting for power button\n");
	for (;;) {
		if (inw(acpi.pm1a_evt) & 0x100)
			break;
		udelay(10000);
	}
	outw(acpi.pm1a_evt, 0x100);
	puts_("idle: power button pressed, powering off\n");
	return s5(why, len);
}

/* Like idle, but ignores the power button: only a forced stop ends it. */
int
test_idle_deaf(char *why, size_t len)
{
	uint16_t en = acpi.pm1a_evt + 2;
	int said = 0;

	if (!acpi_pm_ok(why, len))
		return SKIP;
	acpi_enable_sci();
	outw(en, inw(en) | 0x100);		/* PWRBTN_EN */
	outw(acpi.pm1a_evt, 0x100);
	puts_("idle: waiting for power button\n");
	for (;;) {
		if (inw(acpi.pm1a_evt) & 0x100) {
			outw(acpi.pm1a_evt, 0x100);
			if (!said++)
				puts_("idle-deaf: power button pressed, "
				    "ignoring it\n");
		}
		udelay(10000);
	}
}

int
test_poweroff(char *why, size_t len)
{
	if (!acpi_pm_ok(why, len))
		return SKIP;
	return s5(why, len);
}

int
test_reboot(char *why, size_t len)
{
	uint64_t end;

	if (acpi.reset_ok && acpi.reset_space == 1 && acpi.reset_addr < 0x10000)
		outb((uint16_t)acpi.reset_addr, acpi.reset_val);
	else if (acpi.reset_ok && acpi.reset_space == 0 &&
	    acpi.reset_addr < 0x100000000ULL)
		*(volatile uint8_t *)acpi.reset_addr = acpi.reset_val;
	else
		outb(0x64, 0xFE);
	end = now_us() + 1000000;
	while (now_us() < end)
		cpu_relax();
	snprintf_(why, len, "still running 1 s after the reset write");
	return FAIL;
}

int
test_halt(char *why, size_t len)
{
	puts_("halt: cli; hlt\n");
	syscall2(SYS_HALT, 0, 0);
	snprintf_(why, len, "came back from cli; hlt");
	return FAIL;
}

int
test_triplefault(char *why, size_t len)
{
	puts_("triplefault: empty IDT, then ud2\n");
	syscall2(SYS_LIDT0, 0, 0);
	__asm__ volatile("ud2");
	snprintf_(why, len, "survived ud2 with an empty IDT");
	return FAIL;
}

int
test_tour(char *why, size_t len)
{
	unsigned int i;

	(void)why;
	(void)len;
	printf_("tour: %u CPUs in the MADT, APIC ids", acpi.ncpus);
	for (i = 0; i < acpi.ncpus && i < MAX_CPUS; i++)
		printf_(" %u", acpi.apic_id[i]);
	printf_("\ntour: memory map (%u entries)\n", memmap_count);
	for (i = 0; i < memmap_count; i++)
		printf_("  0x%010lx-0x%010lx type %u\n",
		    (unsigned long)memmap[i].addr,
		    (unsigned long)(memmap[i].addr + memmap[i].size - 1),
		    memmap[i].type);
	printf_("tour: PCI bus 0\n");
	pci_list();
	printf_("tour: virtio devices\n");
	virtio_list();
	return PASS;
}

/*
 * count: state that lives across time, for snapshot tests.  count=N steps
 * (at most COUNT_STEPS, default COUNT_DEFAULT) of COUNT_STEP_US each fill the next slice of a buffer from a
 * running generator while a periodic LAPIC timer ticks; every step must
 * see ticks, and at the end the buffer and the generator must match a
 * fresh recomputation.  A snapshot taken in the middle and restored must
 * leave all of that as it was.
 */
#define COUNT_STEPS	240
#define COUNT_DEFAULT	24
#define COUNT_STEP_US	250000
#define COUNT_SLICE	8192

static uint64_t count_buf[COUNT_STEPS * COUNT_SLICE / 8];

static uint64_t
count_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x ^ (*x >> 29);
}

static void
count_timer(void)
{
	mmio_write32(LAPIC + 0x3E0, 0x3);			/* divide by 16 */
	mmio_write32(LAPIC + 0x320, TIMER_VECTOR | 0x20000);	/* periodic */
	mmio_write32(LAPIC + 0x380, 200000);
}

static int
count_run(char *why, size_t len, int rng)
{
	uint64_t x = 0x5eed, y = 0x5eed, t0, t1, end;
	uint32_t ticks;
	int step, steps = COUNT_DEFAULT;
	size_t i, per = COUNT_SLICE / 8;
	char buf[16];

	if (cmdline_value("count", buf, sizeof(buf)) && buf[0])
		steps = (int)strtoul_(buf, NULL, 10);
	if (steps < 1 || steps > COUNT_STEPS) {
		snprintf_(why, len, "count=%s: give 1 to %d steps", buf,
		    COUNT_STEPS);
		return FAIL;
	}
	lapic_enable();
	count_timer();
	syscall2(SYS_STI, 0, 0);
	for (step = 1; step <= steps; step++) {
		ticks = irq_count[TIMER_VECTOR];
		t0 = rdtsc();
		for (i = 0; i < per; i++)
			count_buf[(step - 1) * per + i] = count_next(&x);
		if (rng && rng_count_step(why, len) < 0) {
			syscall2(SYS_CLI, 0, 0);
			mmio_write32(LAPIC + 0x320, 0x10000);
			return FAIL;
		}
		/* The virtio wait programs the LAPIC timer for itself. */
		if (rng) {
			count_timer();
			ticks = irq_count[TIMER_VECTOR];
		}
		udelay(COUNT_STEP_US);
		/* A starved host may run the TSC past a step before the
		 * timer's tick is in: wait for it, boundedly. */
		end = now_us() + 5000000;
		while (irq_count[TIMER_VECTOR] == ticks && now_us() < end)
			cpu_relax();
		t1 = rdtsc();
		if (irq_count[TIMER_VECTOR] == ticks || t1 <= t0) {
			syscall2(SYS_CLI, 0, 0);
			mmio_write32(LAPIC + 0x320, 0x10000);
			snprintf_(why, len, "step %d: %s", step, t1 <= t0 ?
			    "the TSC went backwards" : "no timer tick in it, "
			    "nor 5 s after it");
			return FAIL;
		}
		printf_("count: step %d of %d\n", step, steps);
	}
	syscall2(SYS_CLI, 0, 0);
	mmio_write32(LAPIC + 0x320, 0x10000);			/* masked */
	for (i = 0; i < steps * per; i++)
		if (count_buf[i] != count_next(&y)) {
			snprintf_(why, len, "word %u of the buffer differs from "
			    "a recomputation", (unsigned)i);
			return FAIL;
		}
	if (x != y) {
		snprintf_(why, len, "the generator's state differs");
		return FAIL;
	}
	printf_("count: %d steps, buffer and generator verified%s\n", steps,
	    rng ? ", a virtio-rng read in each" : "");
	return PASS;
}

int
test_count(char *why, size_t len)
{
	return count_run(why, len, 0);
}

/* count with a virtio-rng read in every step: its ring across snapshots. */
int
test_count_rng(char *why, size_t len)
{
	return count_run(why, len, 1);
}

/*
 * tscgap: how long the guest stops, as the guest sees it.  For gap_s
 * seconds (default 10, at most 3600) a tight rdtsc loop keeps the largest
 * gap between two consecutive reads; every beat_ms (default 10, 1 to 1000)
 * of its own time it prints "tscgap: N G", G the largest gap in
 * microseconds since beat N-1, the previous line's printing included.  A
 * host that times the lines on arrival sees the pauses the TSC does not
 * count (a restore from a snapshot, a migration).
 */
int
test_tscgap(char *why, size_t len)
{
	uint64_t secs = 10, beat = 10, t, last, next, end, gap = 0, top = 0;
	unsigned long n = 0;
	char buf[16];

	if (cmdline_value("gap_s", buf, sizeof(buf)) && buf[0])
		secs = strtoul_(buf, NULL, 10);
	if (cmdline_value("beat_ms", buf, sizeof(buf)) && buf[0])
		beat = strtoul_(buf, NULL, 10);
	if (secs < 1 || secs > 3600 || beat < 1 || beat > 1000) {
		snprintf_(why, len, "give gap_s=1..3600 and beat_ms=1..1000");
		return FAIL;
	}
	beat = beat * tsc_khz;
	last = rdtsc();
	end = last + secs * 1000 * tsc_khz;
	next = last + beat;
	while (last < end) {
		t = rdtsc();
		if (t - last > gap)
			gap = t - last;
		last = t;
		if (t < next)
			continue;
		gap = gap * 1000 / tsc_khz;
		if (gap > top)
			top = gap;
		printf_("tscgap: %lu %lu\n", ++n, (unsigned long)gap);
		gap = 0;
		next = t + beat;
	}
	printf_("tscgap: %lu beats in %lu s, largest gap %lu us\n", n,
	    (unsigned long)secs, (unsigned long)top);
	return PASS;
}
