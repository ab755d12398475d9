/* CMOS RTC: time formats, setting the clock, CMOS RAM and memory size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/devices.h"
#include "core/layout.h"
#include "core/vm.h"

#define REG_A	0x0A
#define REG_B	0x0B
#define REG_C	0x0C
#define REG_D	0x0D
#define B_SET	0x80
#define B_BIN	0x04
#define B_24H	0x02

static struct vm vm;

static int
setup(void **state)
{
	(void)state;
	if (vm_create_nokvm(&vm, "t", MB(128)) < 0 || rtc_init(&vm, true) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	vm_destroy(&vm);
	return 0;
}

static uint8_t
cmos_read_vm(struct vm *v, uint8_t idx)
{
	uint64_t val = idx | 0x80;	/* NMI mask bit must not matter */

	assert_int_equal(bus_access(&v->pio, PORT_RTC, 1, true, &val), 0);
	val = 0xDEAD;
	assert_int_equal(bus_access(&v->pio, PORT_RTC + 1, 1, false, &val), 0);
	return val;
}

static uint8_t
cmos_read(uint8_t idx)
{
	return cmos_read_vm(&vm, idx);
}

static void
cmos_write(uint8_t idx, uint8_t v)
{
	uint64_t val = idx;

	assert_int_equal(bus_access(&vm.pio, PORT_RTC, 1, true, &val), 0);
	val = v;
	assert_int_equal(bus_access(&vm.pio, PORT_RTC + 1, 1, true, &val), 0);
}

static int
bcd(uint8_t v)
{
	assert_true((v & 0x0F) <= 9 && (v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0F);
}

/* Guest seconds since midnight, read with the format in register B. */
static int
day_seconds(void)
{
	uint8_t b = cmos_read(REG_B);
	int s, m, h, hr;

	s = cmos_read(0x00);
	m = cmos_read(0x02);
	hr = cmos_read(0x04);
	if (!(b & B_BIN)) {
		s = bcd(s);
		m = bcd(m);
		h = bcd(hr & 0x7F);
	} else {
		h = hr & 0x7F;
	}
	if (!(b & B_24H)) {
		assert_in_range(h, 1, 12);
		h = (h % 12) + ((hr & 0x80) ? 12 : 0);
	}
	return h * 3600 + m * 60 + s;
}

static int
host_day_seconds(void)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* Same time of day, give or take 2 s (and midnight wrapping). */
static void
assert_near(int a, int b)
{
	int d = a - b;

	if (d < 0)
		d = -d;
	if (d > 86400 / 2)
		d = 86400 - d;
	assert_true(d <= 2);
}

static void
test_bcd_24h_default(void **state)
{
	time_t t = time(NULL);
	struct tm tm;

	(void)state;
	assert_int_equal(cmos_read(REG_B) & (B_BIN | B_24H), B_24H);
	assert_int_equal(cmos_read(REG_D), 0x80);
	assert_near(day_seconds(), host_day_seconds());
	gmtime_r(&t, &tm);
	assert_int_equal(bcd(cmos_read(0x09)), tm.tm_year % 100);
	assert_int_equal(bcd(cmos_read(0x32)), (tm.tm_year + 1900) / 100);
	assert_int_equal(bcd(cmos_read(0x08)), tm.tm_mon + 1);
}

static void
test_binary(void **state)
{
	time_t t = time(NULL);
	struct tm tm;

	(void)state;
	cmos_write(REG_B, B_24H | B_BIN);
	assert_near(day_seconds(), host_day_seconds());
	gmtime_r(&t, &tm);
	assert_int_equal(cmos_read(0x09), tm.tm_year % 100);
	assert_int_equal(cmos_read(0x32), (tm.tm_year + 1900) / 100);
}

static void
test_12h(void **state)
{
	(void)state;
	cmos_write(REG_B, 0);		/* BCD, 12 hour */
	assert_near(day_seconds(), host_day_seconds());
	cmos_write(REG_B, B_BIN);	/* binary, 12 hour */
	assert_near(day_seconds(), host_day_seconds());
}

static void
test_set_time(void **state)
{
	(void)state;
	/* 2001-02-03 13:04:05 UTC, in 12h BCD: 01 PM. */
	cmos_write(REG_B, B_SET);
	cmos_write(0x00, 0x05);
	cmos_write(0x02, 0x04);
	cmos_write(0x04, 0x81);
	cmos_write(0x07, 0x03);
	cmos_write(0x08, 0x02);
	cmos_write(0x09, 0x01);
	cmos_write(0x32, 0x20);
	/* Held while SET. */
	assert_int_equal(cmos_read(0x00), 0x05);
	cmos_write(REG_B, B_24H);
	assert_int_equal(cmos_read(0x04), 0x13);
	assert_int_equal(cmos_read(0x02), 0x04);
	assert_int_equal(cmos_read(0x07), 0x03);
	assert_int_equal(cmos_read(0x08), 0x02);
	assert_int_equal(cmos_read(0x09), 0x01);
	assert_int_equal(cmos_read(0x32), 0x20);
	assert_int_equal(cmos_read(0x06), 7);	/* a Saturday */
	assert_in_range(bcd(cmos_read(0x00)), 5, 7);

	/* A single write without SET moves the clock as well. */
	cmos_write(0x09, 0x99);
	assert_int_equal(cmos_read(0x09), 0x99);
	assert_int_equal(cmos_read(0x32), 0x20);
	/* Nonsense is not taken as the time. */
	cmos_write(0x08, 0x13);
	assert_int_equal(cmos_read(0x08), 0x02);
}

static void
test_seconds_advance(void **state)
{
	int a, b;

	(void)state;
	a = day_seconds();
	sleep(2);
	b = day_seconds();
	assert_true(b - a >= 1 && b - a <= 3);
}

static void
test_status_regs(void **state)
{
	int i, uip = 0;

	(void)state;
	assert_int_equal(cmos_read(REG_A) & 0x7F, 0x26);
	/* UIP is read-only and set only briefly. */
	cmos_write(REG_A, 0xA6);
	for (i = 0; i < 100; i++)
		uip += cmos_read(REG_A) >> 7;
	assert_true(uip < 50);
	assert_int_equal(cmos_read(REG_C), 0);
	cmos_write(REG_D, 0);
	assert_int_equal(cmos_read(REG_D), 0x80);
}

static void
test_ram(void **state)
{
	unsigned i;

	(void)state;
	for (i = 0x40; i < 0x80; i++)
		cmos_write(i, i ^ 0x5A);
	cmos_write(0x0E, 0x33);
	for (i = 0x40; i < 0x80; i++)
		assert_int_equal(cmos_read(i), i ^ 0x5A);
	assert_int_equal(cmos_read(0x0E), 0x33);
}

static void
test_memsize_128m(void **state)
{
	(void)state;
	assert_int_equal(cmos_read(0x15), 0x80);	/* 640 KiB */
	assert_int_equal(cmos_read(0x16), 0x02);
	assert_int_equal(cmos_read(0x17), 0xFF);	/* 127 MiB, capped */
	assert_int_equal(cmos_read(0x18), 0xFF);
	assert_int_equal(cmos_read(0x30), 0xFF);
	assert_int_equal(cmos_read(0x31), 0xFF);
	assert_int_equal(cmos_read(0x34), 0x00);	/* 112 MiB / 64 KiB */
	assert_int_equal(cmos_read(0x35), 0x07);
	assert_int_equal(cmos_read(0x5B), 0);
	assert_int_equal(cmos_read(0x5C), 0);
	assert_int_equal(cmos_read(0x5D), 0);
}

static void
test_memsize_5g(void **state)
{
	struct vm v;

	(void)state;
	assert_int_equal(vm_create_nokvm(&v, "big", GB(5)), 0);
	assert_int_equal(rtc_init(&v, false), 0);
	/* 3 GiB low: (3 GiB - 16 MiB) / 64 KiB = 0xBF00. */
	assert_int_equal(cmos_read_vm(&v, 0x34), 0x00);
	assert_int_equal(cmos_read_vm(&v, 0x35), 0xBF);
	/* 2 GiB high: 0x8000 chunks of 64 KiB. */
	assert_int_equal(cmos_read_vm(&v, 0x5B), 0x00);
	assert_int_equal(cmos_read_vm(&v, 0x5C), 0x80);
	assert_int_equal(cmos_read_vm(&v, 0x5D), 0x00);
	vm_destroy(&v);
}

static void
test_localtime(void **state)
{
	struct vm v;
	time_t t = time(NULL);
	struct tm tm;
	uint8_t h;

	(void)state;
	assert_int_equal(vm_create_nokvm(&v, "lt", MB(16)), 0);
	assert_int_equal(rtc_init(&v, false), 0);
	localtime_r(&t, &tm);
	h = cmos_read_vm(&v, 0x04);
	/* Allow for the hour turning over between the two reads. */
	assert_true(bcd(h) == tm.tm_hour || bcd(h) == (tm.tm_hour + 1) % 24);
	vm_destroy(&v);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bcd_24h_default),
		T(test_binary),
		T(test_12h),
		T(test_set_time),
		T(test_seconds_advance),
		T(test_status_regs),
		T(test_ram),
		T(test_memsize_128m),
		T(test_memsize_5g),
		T(test_localtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
