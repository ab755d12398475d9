/*
 * Each core device's snapshot state: what the guest set in one VM reads
 * back the same in another after save and load; a snapshot without a
 * device's state is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/pci_regs.h>

#include "core/config.h"
#include "core/devices.h"
#include "core/devstate.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "core/vmgenid.h"

static struct vm a, b;

static uint64_t
in(struct vm *vm, uint16_t port, int size)
{
	uint64_t v = 0xDEAD;

	assert_int_equal(bus_access(&vm->pio, port, size, false, &v), 0);
	return v;
}

static void
out(struct vm *vm, uint16_t port, int size, uint64_t v)
{
	assert_int_equal(bus_access(&vm->pio, port, size, true, &v), 0);
}

static int
setup(void **state)
{
	(void)state;
	config_reset();
	pci_reset_all();
	if (vm_create_nokvm(&a, "a", MB(16)) < 0 ||
	    vm_create_nokvm(&b, "b", MB(16)) < 0)
		return -1;
	for (struct vm *vm = &a; vm != NULL; vm = vm == &a ? &b : NULL)
		if (uart_init(vm, 0, "/dev/null") < 0 || rtc_init(vm, true) < 0 ||
		    pm_init(vm) < 0 || i8042_init(vm) < 0)
			return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	uart_fini(&a);
	uart_fini(&b);
	pci_reset_all();
	vm_destroy(&a);
	vm_destroy(&b);
	config_reset();
	return 0;
}

/* What a guest would set in vm: UART, CMOS RAM, PM enable, i8042. */
static void
guest_writes(struct vm *vm)
{
	out(vm, PORT_COM1 + 7, 1, 0x5a);	/* scratch */
	out(vm, PORT_COM1 + 3, 1, 0x83);	/* DLAB */
	out(vm, PORT_COM1 + 0, 1, 0x03);	/* divisor 3 */
	out(vm, PORT_COM1 + 3, 1, 0x1b);	/* 8E1 */
	out(vm, PORT_COM1 + 4, 1, 0x0b);	/* DTR, RTS, OUT2 */
	out(vm, PORT_RTC, 1, 0x40);
	out(vm, PORT_RTC + 1, 1, 0x77);		/* NVRAM byte */
	out(vm, PORT_RTC, 1, 0x41);		/* index left at 0x41 */
	out(vm, PORT_PM1A_EVT + 2, 2, 0x0100);	/* PWRBTN_EN */
	out(vm, PORT_GPE0_BLK + 1, 1, 0x01);	/* GPE0_EN bit 0 */
	out(vm, PORT_I8042_CMD, 1, 0x60);
	out(vm, PORT_I8042_DATA, 1, 0x47);	/* command byte */
}

static void
check_reads(struct vm *vm)
{
	assert_int_equal(in(vm, PORT_COM1 + 7, 1), 0x5a);
	assert_int_equal(in(vm, PORT_COM1 + 3, 1), 0x1b);
	assert_int_equal(in(vm, PORT_COM1 + 4, 1), 0x0b);
	out(vm, PORT_COM1 + 3, 1, 0x9b);
	assert_int_equal(in(vm, PORT_COM1 + 0, 1), 0x03);
	out(vm, PORT_COM1 + 3, 1, 0x1b);
	out(vm, PORT_RTC + 1, 1, 0x12);		/* goes to 0x41, the index kept */
	out(vm, PORT_RTC, 1, 0x40);
	assert_int_equal(in(vm, PORT_RTC + 1, 1), 0x77);
	out(vm, PORT_RTC, 1, 0x41);
	assert_int_equal(in(vm, PORT_RTC + 1, 1), 0x12);
	assert_int_equal(in(vm, PORT_PM1A_EVT + 2, 2), 0x0100);
	assert_int_equal(in(vm, PORT_GPE0_BLK, 2), 0x0100);	/* EN, no STS */
	out(vm, PORT_I8042_CMD, 1, 0x20);
	assert_int_equal(in(vm, PORT_I8042_DATA, 1), 0x47);
}

static int
save_all(struct vm *vm, struct snap *s)
{
	int rc;

	if ((rc = uart_save(vm, s)) < 0 || (rc = rtc_save(vm, s)) < 0 ||
	    (rc = pm_save(vm, s)) < 0 || (rc = i8042_save(vm, s)) < 0)
		return rc;
	return 0;
}

static int
load_all(struct vm *vm, const struct snap *s)
{
	int rc;

	if ((rc = uart_load(vm, s)) < 0 || (rc = rtc_load(vm, s)) < 0 ||
	    (rc = pm_load(vm, s)) < 0 || (rc = i8042_load(vm, s)) < 0)
		return rc;
	return 0;
}

static void
test_legacy_round_trip(void **state)
{
	struct snap s;

	(void)state;
	guest_writes(&a);
	/* b is fresh: it does not read like a. */
	assert_int_not_equal(in(&b, PORT_COM1 + 7, 1), 0x5a);
	snap_init(&s);
	assert_int_equal(save_all(&a, &s), 0);
	assert_int_equal(load_all(&b, &s), 0);
	snap_free(&s);
	check_reads(&b);
}

static void
test_missing_device_refused(void **state)
{
	struct snap s;

	(void)state;
	snap_init(&s);
	assert_int_equal(uart_save(&a, &s), 0);
	assert_int_equal(rtc_load(&b, &s), -EINVAL);
	assert_int_equal(pm_load(&b, &s), -EINVAL);
	assert_int_equal(i8042_load(&b, &s), -EINVAL);
	snap_free(&s);
	/* The wrong size: another hyve's idea of the device. */
	snap_init(&s);
	assert_int_equal(snap_add(&s, SNAP_DEV_RTC, 0, "x", 1), 0);
	assert_int_equal(rtc_load(&b, &s), -EINVAL);
	snap_free(&s);
}

/* A restore gets a new VM generation ID and announces it with GPE0 bit
 * GPE_VMGENID; an upgrade keeps the ID and raises nothing. */
static void
test_vmgenid(void **state)
{
	uint8_t zero[16] = { 0 };
	uint8_t *ida = vm_gpa(&a, VMGENID_ADDR, 16);
	uint8_t *idb = vm_gpa(&b, VMGENID_ADDR, 16);
	uint64_t bad = MB(64);
	struct snap s;

	(void)state;
	assert_int_equal(vmgenid_init(&a), 0);
	assert_memory_not_equal(ida, zero, 16);
	out(&a, PORT_GPE0_BLK + 1, 1, 1 << GPE_VMGENID);
	snap_init(&s);
	assert_int_equal(save_all(&a, &s), 0);
	assert_int_equal(vmgenid_save(&a, &s), 0);
	/* An upgrade: the same VM, RAM as it was. */
	memcpy(idb, ida, 16);
	assert_int_equal(load_all(&b, &s), 0);
	assert_int_equal(vmgenid_load(&b, &s, false), 0);
	assert_int_equal(b.vmgenid_gpa, VMGENID_ADDR);
	assert_memory_equal(idb, ida, 16);
	assert_int_equal(in(&b, PORT_GPE0_BLK, 1), 0);
	assert_int_equal(b.irq_level[SCI_IRQ], 0);
	/* A restore: a new ID, GPE0_STS set and the SCI up (enabled). */
	assert_int_equal(vmgenid_load(&b, &s, true), 0);
	assert_memory_not_equal(idb, ida, 16);
	assert_memory_not_equal(idb, zero, 16);
	assert_int_equal(in(&b, PORT_GPE0_BLK, 1), 1 << GPE_VMGENID);
	assert_int_equal(b.irq_level[SCI_IRQ], 1);
	/* The guest's handler clears the status: the SCI drops. */
	out(&b, PORT_GPE0_BLK, 1, 1 << GPE_VMGENID);
	assert_int_equal(b.irq_level[SCI_IRQ], 0);
	snap_free(&s);
	/* A snapshot from before the device: none, nothing written. */
	snap_init(&s);
	assert_int_equal(save_all(&a, &s), 0);
	memset(idb, 0, 16);
	assert_int_equal(vmgenid_load(&b, &s, true), 0);
	assert_int_equal(b.vmgenid_gpa, 0);
	assert_memory_equal(idb, zero, 16);
	assert_int_equal(in(&b, PORT_GPE0_BLK, 1), 0);
	/* An address outside RAM is refused. */
	assert_int_equal(snap_add(&s, SNAP_VMGENID, 0, &bad, sizeof(bad)), 0);
	assert_int_equal(vmgenid_load(&b, &s, true), -EINVAL);
	snap_free(&s);
}

static uint32_t
cf8_rw(struct vm *vm, int slot, int reg, int size, bool write, uint32_t v)
{
	uint64_t addr = 0x80000000U | (slot << 11) | (reg & 0xfc), val = v;

	out(vm, PORT_PCI_CONF_ADDR, 4, addr);
	assert_int_equal(bus_access(&vm->pio, PORT_PCI_CONF_DATA + (reg & 3),
	    size, write, &val), 0);
	return val;
}

static void
test_pci_round_trip(void **state)
{
	struct snap s;

	(void)state;
	assert_int_equal(config_set("pci.0.0.0.device", "hostbridge"), 0);
	assert_int_equal(config_set("pci.0.31.0.device", "lpc"), 0);
	assert_int_equal(pci_init(&a), 0);
	cf8_rw(&a, 31, PCI_INTERRUPT_LINE, 1, true, 0x0b);
	cf8_rw(&a, 31, PCI_COMMAND, 2, true, PCI_COMMAND_IO);
	cf8_rw(&a, 0, PCI_CACHE_LINE_SIZE, 1, true, 0x10);
	out(&a, PORT_PCI_CONF_ADDR, 4, 0x80000000U | (31 << 11) | 0x3c);
	snap_init(&s);
	assert_int_equal(pci_save(&a, &s), 0);
	pci_reset_all();
	assert_int_equal(pci_init(&b), 0);
	assert_int_equal(cf8_rw(&b, 31, PCI_INTERRUPT_LINE, 1, false, 0), 0);
	assert_int_equal(pci_load(&b, &s), 0);
	snap_free(&s);
	/* The latch came back: a data read without writing 0xcf8 first. */
	uint64_t v = 0;
	assert_int_equal(bus_access(&b.pio, PORT_PCI_CONF_DATA, 1, false, &v), 0);
	assert_int_equal(v, 0x0b);
	assert_int_equal(cf8_rw(&b, 31, PCI_COMMAND, 2, false, 0) &
	    PCI_COMMAND_IO, PCI_COMMAND_IO);
	assert_int_equal(cf8_rw(&b, 0, PCI_CACHE_LINE_SIZE, 1, false, 0), 0x10);
	/* Read-only identity stays this hyve's. */
	assert_int_equal(cf8_rw(&b, 31, PCI_VENDOR_ID, 2, false, 0), 0x8086);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_legacy_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_device_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmgenid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_round_trip, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
