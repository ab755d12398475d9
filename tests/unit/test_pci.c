#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/pci_regs.h>

#include "core/config.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/vm.h"

static struct vm vm;

static int
setup(void **state)
{
	(void)state;
	config_reset();
	pci_reset_all();
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(64)), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pci_reset_all();
	vm_destroy(&vm);
	config_reset();
	return 0;
}

static uint32_t
cf8_read(int slot, int func, int reg, int size)
{
	uint64_t v = 0x80000000U | (slot << 11) | (func << 8) | (reg & 0xfc);

	assert_int_equal(bus_access(&vm.pio, PORT_PCI_CONF_ADDR, 4, true, &v), 0);
	assert_int_equal(bus_access(&vm.pio, PORT_PCI_CONF_DATA + (reg & 3),
	    size, false, &v), 0);
	return v;
}

static uint32_t
ecam_read(int slot, int func, int reg, int size)
{
	uint64_t v;

	assert_int_equal(bus_access(&vm.mmio, PCI_ECAM_BASE + (slot << 15) +
	    (func << 12) + reg, size, false, &v), 0);
	return v;
}

static void
test_hostbridge_and_lpc(void **state)
{
	(void)state;
	assert_int_equal(config_set("pci.0.0.0.device", "hostbridge"), 0);
	assert_int_equal(config_set("pci.0.31.0.device", "lpc"), 0);
	assert_int_equal(pci_init(&vm), 0);
	assert_true(lpc_present());

	assert_int_equal(cf8_read(0, 0, PCI_VENDOR_ID, 2), 0x1275);
	assert_int_equal(cf8_read(0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(cf8_read(31, 0, PCI_VENDOR_ID, 4), 0x70008086);
	assert_int_equal(cf8_read(31, 0, PCI_CLASS_DEVICE + 1, 1), 0x06);
	assert_int_equal(cf8_read(31, 0, PCI_CLASS_DEVICE, 1), 0x01);
	/* Empty slots and functions read as all-ones. */
	assert_int_equal(cf8_read(5, 0, PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(cf8_read(0, 1, PCI_VENDOR_ID, 4), 0xffffffff);
	/* ECAM sees the same config space. */
	assert_int_equal(ecam_read(31, 0, PCI_VENDOR_ID, 4), 0x70008086);
	assert_int_equal(ecam_read(0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(ecam_read(7, 0, 0, 4), 0xffffffff);
}

static void
test_disabled_cf8(void **state)
{
	uint64_t v = (31 << 11);	/* enable bit clear */

	(void)state;
	assert_int_equal(config_set("pci.0.31.0.device", "lpc"), 0);
	assert_int_equal(pci_init(&vm), 0);
	assert_int_equal(bus_access(&vm.pio, PORT_PCI_CONF_ADDR, 4, true, &v), 0);
	assert_int_equal(bus_access(&vm.pio, PORT_PCI_CONF_DATA, 4, false, &v), 0);
	assert_int_equal(v, 0xffffffff);
	/* The address latch reads back. */
	assert_int_equal(bus_access(&vm.pio, PORT_PCI_CONF_ADDR, 4, false, &v), 0);
	assert_int_equal(v, 31 << 11);
}

static void
test_unknown_emulation(void **state)
{
	(void)state;
	assert_int_equal(config_set("pci.0.3.0.device", "frobnicator"), 0);
	assert_int_equal(pci_init(&vm), -ENOENT);
}

static void
test_two_lpc_rejected(void **state)
{
	(void)state;
	assert_int_equal(config_set("pci.0.30.0.device", "lpc"), 0);
	assert_int_equal(config_set("pci.0.31.0.device", "lpc"), 0);
	assert_int_equal(pci_init(&vm), -EEXIST);
}

/* A device with BARs, built by hand to test sizing and moving. */
static int bar_reads, bar_writes, last_bar;
static uint64_t last_off;

static int
tbar_read(struct pci_dev *pd, int bar, uint64_t off, int size, uint64_t *val)
{
	(void)pd;
	(void)size;
	bar_reads++;
	last_bar = bar;
	last_off = off;
	*val = 0x1234;
	return 0;
}

static int
tbar_write(struct pci_dev *pd, int bar, uint64_t off, int size, uint64_t val)
{
	(void)pd;
	(void)size;
	(void)val;
	bar_writes++;
	last_bar = bar;
	last_off = off;
	return 0;
}

static const struct pci_devemu tdev = {
	.name = "t", .barread = tbar_read, .barwrite = tbar_write,
};

static void
test_bar_sizing_and_move(void **state)
{
	static struct pci_dev pd;
	uint64_t v;
	uint32_t bar0;

	(void)state;
	memset(&pd, 0, sizeof(pd));
	pd.vm = &vm;
	pd.pe = &tdev;
	pd.slot = 4;
	strcpy(pd.name, "test");
	assert_int_equal(pci_alloc_bar(&pd, 0, PCIBAR_MEM32, 0x4000), 0);
	assert_int_equal(pci_alloc_bar(&pd, 1, PCIBAR_IO, 0x20), 0);
	assert_int_equal(pci_alloc_bar(&pd, 2, PCIBAR_MEM64, 0x100000), 0);
	assert_int_equal(pci_alloc_bar(&pd, 3, PCIBAR_MEM32, 3000), -EINVAL);

	bar0 = pci_cfg_read(&pd, PCI_BASE_ADDRESS_0, 4);
	assert_int_equal(bar0 & 0x3fff, 0);
	assert_true(bar0 >= PCI_MMIO32_BASE && bar0 < PCI_MMIO32_END);
	assert_true(pci_get_cfg16(&pd, PCI_COMMAND) & PCI_COMMAND_MEMORY);
	assert_true(pci_get_cfg16(&pd, PCI_COMMAND) & PCI_COMMAND_IO);

	/* Decoded where placed, with the offset inside the BAR. */
	assert_int_equal(bus_access(&vm.mmio, bar0 + 0x10, 4, false, &v), 0);
	assert_int_equal(v, 0x1234);
	assert_int_equal(last_bar, 0);
	assert_int_equal(last_off, 0x10);

	/* Sizing: all-ones reads back the size mask. */
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_0, 2, 0);	/* harmless */
	pci_cfg_write(&pd, PCI_COMMAND, 2, 0);	/* decoding off while sizing */
	assert_int_equal(bus_access(&vm.mmio, bar0, 4, false, &v), -ENOENT);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(pci_cfg_read(&pd, PCI_BASE_ADDRESS_0, 4), 0xffffc000);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	assert_int_equal(pci_cfg_read(&pd, PCI_BASE_ADDRESS_1, 4), 0xffe1);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	assert_int_equal(pci_cfg_read(&pd, PCI_BASE_ADDRESS_2, 4), 0xfff00004);
	assert_int_equal(pci_cfg_read(&pd, PCI_BASE_ADDRESS_3, 4), 0xffffffff);

	/* Move BAR 0 and the I/O BAR, then enable decoding. */
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_0, 4, 0xd0000000);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_1, 4, 0x3000);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_2, 4, 0);
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_3, 4, 0x10);
	pci_cfg_write(&pd, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(bus_access(&vm.mmio, 0xd0000ffc, 4, true, &v), 0);
	assert_int_equal(last_off, 0xffc);
	assert_int_equal(bus_access(&vm.mmio, bar0, 4, false, &v), -ENOENT);
	assert_int_equal(bus_access(&vm.pio, 0x3004, 1, false, &v), 0);
	assert_int_equal(last_bar, 1);
	assert_int_equal(last_off, 4);
	assert_int_equal(bus_access(&vm.mmio, 0x1000000000ULL + 8, 8, false, &v), 0);
	assert_int_equal(last_bar, 2);
	/* A BAR moved over RAM is not decoded. */
	pci_cfg_write(&pd, PCI_BASE_ADDRESS_0, 4, 0x100000);
	assert_int_equal(bus_access(&vm.mmio, 0xd0000000, 4, false, &v), -ENOENT);
}

static void
test_caps_and_intx(void **state)
{
	static struct pci_dev pd;
	uint8_t cap1[8] = { 0x11, 0xff, 1, 2, 3, 4, 5, 6 };
	uint8_t cap2[4] = { 0x09, 0xff, 7, 8 };
	int o1, o2;

	(void)state;
	memset(&pd, 0, sizeof(pd));
	pd.vm = &vm;
	pd.pe = &tdev;
	pd.slot = 5;
	o1 = pci_add_cap(&pd, cap1, sizeof(cap1));
	o2 = pci_add_cap(&pd, cap2, 3);
	assert_int_equal(o1, 0x40);
	assert_int_equal(o2, 0x48);
	assert_int_equal(pd.cfg[PCI_CAPABILITY_LIST], 0x40);
	assert_int_equal(pd.cfg[0x41], 0x48);
	assert_int_equal(pd.cfg[0x49], 0);
	assert_int_equal(pd.cfg[0x42], 1);
	assert_true(pci_get_cfg16(&pd, PCI_STATUS) & PCI_STATUS_CAP_LIST);

	pci_intx_request(&pd);
	assert_int_equal(pci_get_cfg8(&pd, PCI_INTERRUPT_PIN), 1);
	assert_int_equal(pd.intx_gsi, pci_intx_gsi(5, 1));
	assert_int_equal(pci_intx_gsi(0, 1), 16);
	assert_int_equal(pci_intx_gsi(7, 2), 16);
	assert_int_equal(pci_intx_gsi(31, 4), 16 + (31 + 3) % 8);
	pci_intx_assert(&pd);
	assert_int_equal(vm.irq_level[pd.intx_gsi], 1);
	pci_intx_deassert(&pd);
	assert_int_equal(vm.irq_level[pd.intx_gsi], 0);
	/* INTx disable in the command register holds the line low. */
	pci_cfg_write(&pd, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	pci_intx_assert(&pd);
	assert_int_equal(vm.irq_level[pd.intx_gsi], 0);
}

static void
test_readonly_fields(void **state)
{
	(void)state;
	assert_int_equal(config_set("pci.0.0.0.device", "hostbridge"), 0);
	assert_int_equal(pci_init(&vm), 0);
	/* Vendor, device and class ids cannot be written. */
	pci_cfg_write(pci_find(0, 0, 0), PCI_VENDOR_ID, 4, 0xdeadbeef);
	pci_cfg_write(pci_find(0, 0, 0), PCI_CLASS_REVISION, 4, 0);
	assert_int_equal(cf8_read(0, 0, PCI_VENDOR_ID, 4), 0x12751275);
	assert_int_equal(cf8_read(0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	/* Misaligned or out-of-range accesses are refused. */
	assert_int_equal(pci_cfg_read(pci_find(0, 0, 0), 4095, 4), 0xffffffff);
	assert_int_equal(pci_cfg_read(pci_find(0, 0, 0), 2, 4), 0xffffffff);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hostbridge_and_lpc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_cf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_emulation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_lpc_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_and_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps_and_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_fields, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
