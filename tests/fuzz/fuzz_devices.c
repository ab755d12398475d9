/*
 * Surface 5: the core's device registers as a hostile guest reaches them:
 * every port and MMIO range registered on the buses (PCI config space by
 * 0xCF8/0xCFC and ECAM, the virtio-pci BARs: common config, ISR, device
 * config, notify, MSI-X table and PBA; UART, RTC, ACPI PM, i8042).
 *
 * Two virtio devices (vhost-user, type rng and blk) are served by the
 * fuzz targets' fake backend on the real backend runtime, in a thread of
 * this process, so that queue setup goes through vhost-user for real.
 * Device state carries over between inputs, except that each input starts
 * with the virtio devices reset and their BARs where pci_init put them.
 *
 * Input: accesses of 9 bytes: u8 kind (bits 0-1: port, mmio, run the
 * event loop; bit 7: write), u8 range (index into the bus's ranges),
 * u16 offset in the range, u8 size (1, 2, 4 or 8 bytes), u32 value.
 *
 * With FUZZ_DEVICES_RANGES set in the environment it prints the ranges
 * ("pio|mmio INDEX BASE LEN NAME") and exits, so that tests/fuzz/record.sh
 * can turn a real guest's accesses into inputs.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "backends/runtime.h"
#include "core/config.h"
#include "core/devices.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/vm.h"
#include "tests/fuzz/fake_backend.h"
#include "tests/fuzz/fuzz.h"

static struct vm vm;
static const int slots[] = { 4, 5 };
static uint32_t bars[2][6];
static char sock[2][64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void
serve(int i)
{
	int lfd;

	snprintf(sock[i], sizeof(sock[i]), "/tmp/hyve-fuzz-%d-%d.sock",
	    (int)getpid(), i);
	if ((lfd = vu_listen(sock[i])) < 0 || fake_backend_thread(lfd) < 0)
		abort();
}

static void
cleanup(void)
{
	unlink(sock[0]);
	unlink(sock[1]);
}

static void
set(const char *k, const char *v)
{
	if (config_set(k, v) < 0)
		abort();
}

static void
print_ranges(void)
{
	const struct bus *b[2] = { &vm.pio, &vm.mmio };

	for (int i = 0; i < 2; i++)
		for (int k = 0; k < b[i]->n; k++)
			printf("%s %d %#llx %#llx %s\n", i ? "mmio" : "pio", k,
			    (unsigned long long)b[i]->r[k].base,
			    (unsigned long long)b[i]->r[k].len, b[i]->r[k].name);
	exit(0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	serve(0);
	serve(1);
	atexit(cleanup);
	config_reset();
	pci_reset_all();
	if (vm_create_nokvm(&vm, "fuzz", MB(64)) < 0 || irq_init(&vm) < 0 ||
	    evloop_init() < 0)
		abort();
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.31.0.device", "lpc");
	set("lpc.com1.path", "/dev/null");
	set("pci.0.4.0.device", "vhost-user");
	set("pci.0.4.0.socket", sock[0]);
	set("pci.0.4.0.type", "rng");
	set("pci.0.5.0.device", "vhost-user");
	set("pci.0.5.0.socket", sock[1]);
	set("pci.0.5.0.type", "blk");
	if (pci_init(&vm) < 0)
		abort();
	/* Whichever of these lpc did not already set up. */
	rtc_init(&vm, true);
	pm_init(&vm);
	i8042_init(&vm);
	for (int s = 0; s < 2; s++)
		for (int b = 0; b < 6; b++)
			bars[s][b] = pci_get_cfg32(pci_find(0, slots[s], 0),
			    PCI_BASE_ADDRESS_0 + 4 * b);
	if (getenv("FUZZ_DEVICES_RANGES") != NULL)
		print_ranges();
	return 0;
}

static void
access_bus(struct bus *b, struct fz *f, bool write, bool port)
{
	const struct bus_range *r;
	uint64_t addr, v;
	unsigned sel = fz_u8(f), off = fz_u16(f), size = 1u << (fz_u8(f) % 4);

	v = fz_u32(f);
	if (b->n == 0)
		return;
	if (port && size == 8)
		size = 4;
	r = &b->r[sel % b->n];
	addr = r->base + off % r->len;
	pthread_mutex_lock(&vm.dev_lock);
	bus_access(b, addr, size, write, &v);
	pthread_mutex_unlock(&vm.dev_lock);
}

/* Back to where pci_init left the virtio devices, then reset them. */
static void
reset_devices(void)
{
	for (int s = 0; s < 2; s++) {
		struct pci_dev *pd = pci_find(0, slots[s], 0);
		uint64_t v = 0;

		pthread_mutex_lock(&vm.dev_lock);
		pci_cfg_write(pd, PCI_COMMAND, 2, 0);
		for (int b = 0; b < 6; b++)
			pci_cfg_write(pd, PCI_BASE_ADDRESS_0 + 4 * b, 4, bars[s][b]);
		pci_cfg_write(pd, PCI_COMMAND, 2, PCI_COMMAND_MEMORY |
		    PCI_COMMAND_IO | PCI_COMMAND_MASTER);
		pthread_mutex_unlock(&vm.dev_lock);
		/* device_status is at byte 20 of the common config. */
		pthread_mutex_lock(&vm.dev_lock);
		bus_access(&vm.mmio, (bars[s][4] & ~0xfu) + 20, 1, true, &v);
		pthread_mutex_unlock(&vm.dev_lock);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	reset_devices();
	for (int n = 0; f.n > 0 && n < 512; n++) {
		unsigned kind = fz_u8(&f);
		bool write = kind & 0x80;

		switch (kind & 3) {
		case 0:
			access_bus(&vm.pio, &f, write, true);
			break;
		case 1:
		case 2:
			access_bus(&vm.mmio, &f, write, false);
			break;
		case 3:
			evloop_run_once(0);
			break;
		}
	}
	return 0;
}
