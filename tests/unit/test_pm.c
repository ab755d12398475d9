/* ACPI PM registers, i8042 and debug-exit, driven through the port bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "core/devices.h"
#include "core/layout.h"
#include "core/vm.h"

#define PM1_STS		PORT_PM1A_EVT
#define PM1_EN		(PORT_PM1A_EVT + 2)
#define PWRBTN		0x0100
#define SLP_EN		0x2000

static struct vm vm;

static int
setup(void **state)
{
	(void)state;
	if (vm_create_nokvm(&vm, "t", 16 << 20) < 0)
		return -1;
	if (pm_init(&vm) < 0 || i8042_init(&vm) < 0 ||
	    debug_exit_init(&vm, PORT_DEBUG_EXIT) < 0)
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

static uint64_t
in(uint16_t port, int size)
{
	uint64_t v = 0xDEADBEEF;

	assert_int_equal(bus_access(&vm.pio, port, size, false, &v), 0);
	return v;
}

static void
out(uint16_t port, int size, uint64_t v)
{
	assert_int_equal(bus_access(&vm.pio, port, size, true, &v), 0);
}

static void
test_sci_en_always_set(void **state)
{
	(void)state;
	assert_int_equal(in(PORT_PM1A_CNT, 2) & 1, 1);
	out(PORT_PM1A_CNT, 2, 0);
	assert_int_equal(in(PORT_PM1A_CNT, 2) & 1, 1);
	assert_int_equal(vm.exiting, 0);
}

static void
test_s5_powers_off(void **state)
{
	(void)state;
	/* SLP_TYP without SLP_EN does nothing yet. */
	out(PORT_PM1A_CNT, 2, SLP_TYP_S5 << 10);
	assert_int_equal(vm.exiting, 0);
	out(PORT_PM1A_CNT, 2, (SLP_TYP_S5 << 10) | SLP_EN);
	assert_int_equal(vm.exiting, 1);
	assert_int_equal(vm.exit_code, EXIT_POWEROFF);
	/* SLP_EN is write-only. */
	assert_int_equal(in(PORT_PM1A_CNT, 2) & SLP_EN, 0);
}

static void
test_other_sleep_ignored(void **state)
{
	unsigned typ;

	(void)state;
	for (typ = 0; typ < 8; typ++) {
		if (typ == SLP_TYP_S5)
			continue;
		out(PORT_PM1A_CNT, 2, (typ << 10) | SLP_EN);
	}
	assert_int_equal(vm.exiting, 0);
}

static void
test_reset_register(void **state)
{
	(void)state;
	out(PORT_RESET, 1, 0x02);		/* bit 2 clear: no reset */
	assert_int_equal(vm.exiting, 0);
	assert_int_equal(in(PORT_RESET, 1), 0x02);
	out(PORT_RESET, 1, RESET_VALUE);
	assert_int_equal(vm.exiting, 1);
	assert_int_equal(vm.exit_code, EXIT_REBOOT);
}

static void
test_power_button_sci(void **state)
{
	(void)state;
	/* Not enabled: status set, no SCI. */
	pm_power_button(&vm);
	assert_int_equal(in(PM1_STS, 2) & PWRBTN, PWRBTN);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	/* Enabling it with the status pending raises SCI. */
	out(PM1_EN, 2, PWRBTN);
	assert_int_equal(in(PM1_EN, 2), PWRBTN);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	/* Writing 0 to the status changes nothing; writing 1 clears. */
	out(PM1_STS, 2, 0);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	out(PM1_STS, 2, PWRBTN);
	assert_int_equal(in(PM1_STS, 2) & PWRBTN, 0);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	/* Enabled first, then pressed: SCI at once. */
	pm_power_button(&vm);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	/* A 32-bit access at the block sees STS low, EN high. */
	assert_int_equal(in(PM1_STS, 4), (PWRBTN << 16) | PWRBTN);
	out(PM1_STS, 4, (PWRBTN << 16) | PWRBTN);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	assert_int_equal(in(PM1_EN, 2), PWRBTN);
	/* Pressed again, then disabled: SCI drops though STS stays. */
	pm_power_button(&vm);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	out(PM1_EN, 2, 0);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	assert_int_equal(in(PM1_STS, 2) & PWRBTN, PWRBTN);
	/* Enable bits the device does not have stay clear. */
	out(PM1_EN, 2, 0xFFFF);
	assert_int_equal(in(PM1_EN, 2) & 0x0001, 0);
	assert_int_equal(vm.exiting, 0);
}

static void
test_gpe_sci(void **state)
{
	(void)state;
	/* Raised while disabled: status only. */
	pm_gpe_raise(&vm, 3);
	assert_int_equal(in(PORT_GPE0_BLK, 1), 1 << 3);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	/* Enabled: SCI; a 16-bit read has STS low, EN high. */
	out(PORT_GPE0_BLK + 1, 1, 1 << 3);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	assert_int_equal(in(PORT_GPE0_BLK, 2), (1 << 3) << 8 | 1 << 3);
	/* Writing 0 to STS changes nothing, 1 clears and drops the SCI. */
	out(PORT_GPE0_BLK, 1, 0);
	assert_int_equal(vm.irq_level[SCI_IRQ], 1);
	out(PORT_GPE0_BLK, 1, 1 << 3);
	assert_int_equal(in(PORT_GPE0_BLK, 1), 0);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	/* Another bit, other bits enabled: no SCI; bits past 7 ignored. */
	pm_gpe_raise(&vm, 0);
	pm_gpe_raise(&vm, 8);
	assert_int_equal(in(PORT_GPE0_BLK, 1), 1);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
	/* A 16-bit write sets EN and clears STS at once. */
	out(PORT_GPE0_BLK, 2, 0x0101);
	assert_int_equal(in(PORT_GPE0_BLK, 2), 0x0100);
	assert_int_equal(vm.irq_level[SCI_IRQ], 0);
}

static void
test_pm_timer_advances(void **state)
{
	struct timespec ts = { 0, 2000000 };	/* 2 ms = about 7159 ticks */
	uint32_t a, b;

	(void)state;
	a = in(PORT_PM_TMR, 4);
	nanosleep(&ts, NULL);
	b = in(PORT_PM_TMR, 4);
	assert_true((uint32_t)(b - a) >= 7000);
	assert_true((uint32_t)(b - a) < 3579545);	/* well under 1 s */
	out(PORT_PM_TMR, 4, 0);				/* read-only */
	assert_true((uint32_t)(in(PORT_PM_TMR, 4) - b) < 3579545);
}

static void
test_i8042(void **state)
{
	(void)state;
	assert_int_equal(in(PORT_I8042_CMD, 1) & 0x01, 0);	/* no data */
	assert_int_equal(in(PORT_I8042_CMD, 1) & 0x04, 0x04);	/* SYS */
	assert_int_equal(in(PORT_I8042_DATA, 1), 0);
	out(PORT_I8042_CMD, 1, 0xAA);
	assert_int_equal(in(PORT_I8042_CMD, 1) & 0x01, 0x01);
	assert_int_equal(in(PORT_I8042_DATA, 1), 0x55);
	assert_int_equal(in(PORT_I8042_CMD, 1) & 0x01, 0);
	out(PORT_I8042_CMD, 1, 0x60);
	out(PORT_I8042_DATA, 1, 0x47);
	out(PORT_I8042_CMD, 1, 0x20);
	assert_int_equal(in(PORT_I8042_DATA, 1), 0x47);
	out(PORT_I8042_CMD, 1, 0xAD);		/* ignored */
	assert_int_equal(vm.exiting, 0);
	out(PORT_I8042_CMD, 1, 0xFE);
	assert_int_equal(vm.exiting, 1);
	assert_int_equal(vm.exit_code, EXIT_REBOOT);
}

static void
test_debug_exit_0(void **state)
{
	(void)state;
	assert_int_equal(in(PORT_DEBUG_EXIT, 1), 0xFF);
	assert_int_equal(vm.exiting, 0);
	out(PORT_DEBUG_EXIT, 1, 0x00);
	assert_int_equal(vm.exiting, 1);
	assert_int_equal(vm.exit_code, 1);
}

static void
test_debug_exit_0x10(void **state)
{
	(void)state;
	out(PORT_DEBUG_EXIT, 1, 0x10);
	assert_int_equal(vm.exit_code, 33);
}

static void
test_debug_exit_word(void **state)
{
	(void)state;
	out(PORT_DEBUG_EXIT, 2, 0x0102);
	assert_int_equal(vm.exit_code, (0x0102 << 1) | 1);
}

static void
test_debug_exit_other_port(void **state)
{
	struct vm v2;
	uint64_t val = 3;

	(void)state;
	assert_int_equal(vm_create_nokvm(&v2, "t2", 16 << 20), 0);
	assert_int_equal(debug_exit_init(&v2, 0xF4), 0);
	assert_int_equal(bus_access(&v2.pio, PORT_DEBUG_EXIT, 1, true, &val),
	    -ENOENT);
	assert_int_equal(bus_access(&v2.pio, 0xF4, 1, true, &val), 0);
	assert_int_equal(v2.exit_code, 7);
	/* A second one on the same port is refused. */
	assert_true(debug_exit_init(&v2, 0xF4) < 0);
	vm_destroy(&v2);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_sci_en_always_set),
		T(test_s5_powers_off),
		T(test_other_sleep_ignored),
		T(test_reset_register),
		T(test_power_button_sci),
		T(test_gpe_sci),
		T(test_pm_timer_advances),
		T(test_i8042),
		T(test_debug_exit_0),
		T(test_debug_exit_0x10),
		T(test_debug_exit_word),
		T(test_debug_exit_other_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
