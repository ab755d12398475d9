/*
 * The virtio-pci transport against a real hyve-rnd backend, without KVM:
 * the test plays the guest driver through the MMIO bus, with the rings in
 * the VM's memfd that the backend maps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "core/config.h"
#include "core/devstate.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/snapshot.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "core/vm.h"

#define SLOT	4
#define QSZ	8
#define RING	0x100000ULL	/* desc, then avail, then used */
#define BUF	0x200000ULL

static struct vm vm;
static uint64_t bar4, bar0;

static uint64_t
rd(uint64_t addr, int size)
{
	uint64_t v;

	assert_int_equal(bus_access(&vm.mmio, addr, size, false, &v), 0);
	return v;
}

static void
wr(uint64_t addr, int size, uint64_t v)
{
	assert_int_equal(bus_access(&vm.mmio, addr, size, true, &v), 0);
}

static int
setup(void **state)
{
	struct pci_dev *pd;

	(void)state;
	if (access("build/hyve-rnd", X_OK) != 0)
		fail_msg("build/hyve-rnd is missing: run make first");
	config_reset();
	pci_reset_all();
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(64)), 0);
	assert_int_equal(irq_init(&vm), 0);
	assert_int_equal(evloop_init(), 0);
	assert_int_equal(config_set("pci.0.4.0.device", "virtio-rnd"), 0);
	assert_int_equal(config_set("pci.0.4.0.binary", "build/hyve-rnd"), 0);
	assert_int_equal(pci_init(&vm), 0);
	pd = pci_find(0, SLOT, 0);
	assert_non_null(pd);
	bar0 = pci_get_cfg32(pd, PCI_BASE_ADDRESS_0) & ~0xfULL;
	bar4 = pci_get_cfg32(pd, PCI_BASE_ADDRESS_4) & ~0xfULL;
	return 0;
}

static int
teardown(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd ? pd->arg : NULL;

	(void)state;
	if (v != NULL && v->sup.bp.pid > 0) {
		kill(v->sup.bp.pid, SIGKILL);
		waitpid(v->sup.bp.pid, NULL, 0);
	}
	pci_reset_all();
	vm_destroy(&vm);
	return 0;
}

static void
test_config_space(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	int p, types = 0, msix = 0;

	(void)state;
	assert_int_equal(pci_cfg_read(pd, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(pci_cfg_read(pd, PCI_DEVICE_ID, 2), 0x1044);
	assert_int_equal(pci_cfg_read(pd, PCI_REVISION_ID, 1), 1);
	assert_true(pci_cfg_read(pd, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk the capabilities as a driver does. */
	for (p = pci_cfg_read(pd, PCI_CAPABILITY_LIST, 1); p != 0;
	    p = pci_cfg_read(pd, p + 1, 1)) {
		int id = pci_cfg_read(pd, p, 1);

		if (id == PCI_CAP_ID_VNDR) {
			int type = pci_cfg_read(pd, p + 3, 1);

			types |= 1 << type;
			assert_int_equal(pci_cfg_read(pd, p + 4, 1), VPCI_BAR);
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
				assert_int_equal(pci_cfg_read(pd, p + 16, 4),
				    VPCI_NOTIFY_MULT);
		} else if (id == PCI_CAP_ID_MSIX) {
			msix = 1;
			/* Two vectors: the queue's and config. */
			assert_int_equal(pci_cfg_read(pd, p + 2, 2) & 0x7ff, 1);
		}
	}
	assert_int_equal(types, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5);
	assert_true(msix);
	assert_true(bar4 >= PCI_MMIO32_BASE && bar4 < PCI_MMIO32_END);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	wr(bar4 + VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_DF, 4) & 1);	/* VERSION_1 */
	wr(bar4 + VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	/* The vhost-user protocol bit never reaches the guest. */
	assert_false(rd(bar4 + VIRTIO_PCI_COMMON_DF, 4) & (1u << 30));
}

static void
driver_init(int nbufs)
{
	struct vring_desc *d = vm_gpa(&vm, RING, 16 * QSZ);
	struct vring_avail *a = vm_gpa(&vm, RING + 16 * QSZ, 6 + 2 * QSZ);
	int i;

	memset(vm_gpa(&vm, RING, 0x1000), 0, 0x1000);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER);
	wr(bar4 + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_GF, 4, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_GF, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_FEATURES_OK);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_SIZE, 2, QSZ);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_DESCLO, 4, RING);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, RING + 16 * QSZ);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_USEDLO, 4, RING + 0x800);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	for (i = 0; i < nbufs; i++) {
		d[i].addr = BUF + 0x1000 * i;
		d[i].len = 64;
		d[i].flags = VRING_DESC_F_WRITE;
		a->ring[i] = i;
	}
	memset(vm_gpa(&vm, BUF, 0x1000 * QSZ), 0, 0x1000 * QSZ);
	__atomic_store_n(&a->idx, nbufs, __ATOMIC_RELEASE);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

static int
wait_used(int n)
{
	struct vring_used *u = vm_gpa(&vm, RING + 0x800, 6 + 8 * QSZ);
	int i;

	for (i = 0; i < 60000; i++) {	/* a bound for a hang, not a speed */
		if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) >= n)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void
kick(void)
{
	/* No KVM here: the notify write reaches the transport, which kicks. */
	wr(bar4 + VPCI_NOTIFY, 2, 0);
}

static void
test_random_bytes(void **state)
{
	struct vring_used *u = vm_gpa(&vm, RING + 0x800, 6 + 8 * QSZ);
	uint8_t *b0 = vm_gpa(&vm, BUF, 64), *b1 = vm_gpa(&vm, BUF + 0x1000, 64);
	uint8_t zero[64] = { 0 };

	(void)state;
	driver_init(2);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	kick();
	assert_true(wait_used(2));
	assert_int_equal(u->ring[0].len, 64);
	assert_memory_not_equal(b0, zero, 64);
	assert_memory_not_equal(b0, b1, 64);
}

static void
test_hostile_ring_then_reset(void **state)
{
	struct vring_desc *d = vm_gpa(&vm, RING, 16 * QSZ);
	int i;

	(void)state;
	driver_init(0);
	/* A descriptor loop: 0 -> 1 -> 0. */
	d[0] = (struct vring_desc){ BUF, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ BUF, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0 };
	((struct vring_avail *)vm_gpa(&vm, RING + 16 * QSZ, 8))->ring[0] = 0;
	__atomic_store_n(&((struct vring_avail *)vm_gpa(&vm, RING + 16 * QSZ,
	    8))->idx, 1, __ATOMIC_RELEASE);
	kick();
	/* The backend reports through the err eventfd; the core's loop sets
	 * DEVICE_NEEDS_RESET. */
	for (i = 0; i < 200; i++) {
		evloop_run_once(10);
		if (rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
		    VIRTIO_CONFIG_S_NEEDS_RESET)
			break;
	}
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	/* After a reset the device works again. */
	driver_init(2);
	kick();
	assert_true(wait_used(2));
}

static void
test_msix_table(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;

	(void)state;
	/* Entries start masked; the table reads back what was written. */
	assert_int_equal(rd(bar0 + 12, 4), 1);
	wr(bar0 + 0, 4, 0xfee00000);
	wr(bar0 + 4, 4, 0);
	wr(bar0 + 8, 4, 0x41);
	wr(bar0 + 12, 4, 0);
	assert_int_equal(rd(bar0 + 0, 4), 0xfee00000);
	assert_int_equal(rd(bar0 + 8, 4), 0x41);
	assert_int_equal(v->vec[0].data, 0x41);
	assert_int_equal(rd(bar0 + 12, 4), 0);
	/* Entries past the table size read as zero and ignore writes. */
	wr(bar0 + 16 * 5, 4, 0x1234);
	assert_int_equal(rd(bar0 + 16 * 5, 4), 0);
	/* Queue vector numbers beyond the table are refused. */
	wr(bar4 + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_MSIX, 2, 7);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_Q_MSIX, 2),
	    VIRTIO_MSI_NO_VECTOR);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_Q_MSIX, 2), 0);
}

static void
test_bad_features_refused(void **state)
{
	(void)state;
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER);
	/* Without VERSION_1 (a legacy driver), FEATURES_OK does not stick. */
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_false(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_FEATURES_OK);
	/* A feature the device did not offer: refused too. */
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_GF, 4, 1 | 1 << 2);	/* + RING_PACKED */
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_false(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_FEATURES_OK);
}

/* Posts buffer i (64 writable bytes) as the next avail entry. */
static void
post(int i)
{
	struct vring_desc *d = vm_gpa(&vm, RING, 16 * QSZ);
	struct vring_avail *a = vm_gpa(&vm, RING + 16 * QSZ, 6 + 2 * QSZ);

	d[i] = (struct vring_desc){ BUF + 0x1000 * i, 64, VRING_DESC_F_WRITE, 0 };
	a->ring[a->idx % QSZ] = i;
	__atomic_store_n(&a->idx, a->idx + 1, __ATOMIC_RELEASE);
}

static void
wait_restart(struct vpci *v, pid_t old)
{
	int i;

	for (i = 0; i < 6000 && (v->sup.bp.pid == old || v->sup.down); i++)
		evloop_run_once(10);
}

static void
test_backend_restart(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;
	struct vring_used *u = vm_gpa(&vm, RING + 0x800, 6 + 8 * QSZ);
	uint8_t *b2 = vm_gpa(&vm, BUF + 0x2000, 64), zero[64] = { 0 };
	pid_t old;

	(void)state;
	driver_init(2);
	kick();
	assert_true(wait_used(2));
	/* Kill the backend: a new one takes over the running device. */
	old = v->sup.bp.pid;
	kill(old, SIGKILL);
	wait_restart(v, old);
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_false(v->sup.down);
	assert_false(v->sup.failed);
	assert_int_equal(v->sup.restarts, 1);
	assert_int_equal(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* The guest goes on: a new buffer, a kick, random bytes. */
	post(2);
	kick();
	assert_true(wait_used(3));
	assert_int_equal(u->ring[2].id, 2);
	assert_memory_not_equal(b2, zero, 64);
}

static void
test_kick_while_down_not_lost(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;
	pid_t old;

	(void)state;
	driver_init(1);
	kick();
	assert_true(wait_used(1));
	old = v->sup.bp.pid;
	kill(old, SIGKILL);
	usleep(20000);
	/* The guest submits and kicks while no backend runs. */
	post(1);
	kick();
	wait_restart(v, old);
	assert_true(wait_used(2));
}

static void
test_repeated_deaths_fail(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;
	char err[256];
	int n, i;

	(void)state;
	driver_init(0);
	for (n = 0; n <= SUP_RESTART_MAX && !v->sup.failed; n++) {
		pid_t old = v->sup.bp.pid;

		kill(old, SIGKILL);
		for (i = 0; i < 500 && !v->sup.failed &&
		    (v->sup.bp.pid == old || v->sup.down); i++)
			evloop_run_once(10);
	}
	assert_true(v->sup.failed);
	assert_int_equal(n, SUP_RESTART_MAX + 1);
	assert_string_equal(sup_state(v), "failed");
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	/* A snapshot does not wait for a failed device. */
	assert_int_equal(vpci_snapshot_check(err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "its backend failed"));
}

/* Kills pid and waits until it is dead, leaving it to the supervisor to
 * reap: the core has not seen the death yet. */
static void
kill_unseen(pid_t pid)
{
	siginfo_t si;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
}

static bool
needs_reset(void)
{
	return rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET;
}

/*
 * A snapshot meets a backend that died before the supervisor saw it: the
 * save says "try again" (-EAGAIN) and names the device, the rings of the
 * others start again, nothing needs a reset, and once the restart is done
 * the snapshot goes through.  One that dies after its rings stopped is
 * left to its restart on resume.
 */
static void
test_snapshot_backend_dies(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;
	struct snap s;
	char err[256], want[64];
	size_t len;
	pid_t old;

	(void)state;
	driver_init(1);
	kick();
	assert_true(wait_used(1));
	assert_int_equal(vpci_snapshot_check(err, sizeof(err)), 0);

	old = v->sup.bp.pid;
	kill_unseen(old);
	snap_init(&s);
	assert_int_equal(vpci_save(&vm, &s, true), -EAGAIN);
	assert_int_equal(vpci_snapshot_check(err, sizeof(err)), -EAGAIN);
	snprintf(want, sizeof(want), "%s: its backend is restarting", v->name);
	assert_string_equal(err, want);
	assert_int_equal(vpci_resume(&vm, &s), 0);
	snap_free(&s);
	assert_false(needs_reset());
	wait_restart(v, old);
	assert_int_equal(v->sup.restarts, 1);
	assert_int_equal(vpci_snapshot_check(err, sizeof(err)), 0);

	snap_init(&s);
	assert_int_equal(vpci_save(&vm, &s, true), 0);
	assert_non_null(snap_find(&s, SNAP_DEV_VIRTIO, SLOT << 3, &len));
	old = v->sup.bp.pid;
	kill_unseen(old);
	assert_int_equal(vpci_resume(&vm, &s), 0);
	snap_free(&s);
	assert_false(needs_reset());
	wait_restart(v, old);
	assert_int_equal(v->sup.restarts, 2);
	post(1);
	kick();
	assert_true(wait_used(2));
}

static void
test_swap_backend(void **state)
{
	struct pci_dev *pd = pci_find(0, SLOT, 0);
	struct vpci *v = pd->arg;
	struct sup_swap sw = { .binary = "build/hyve-rnd" };
	char err[128];
	pid_t old;

	(void)state;
	driver_init(1);
	kick();
	assert_true(wait_used(1));
	old = v->sup.bp.pid;
	assert_int_equal(sup_swap("nosuch0", &sw, err, sizeof(err)), -ENOENT);
	assert_int_equal(sup_swap(v->name, &sw, err, sizeof(err)), 0);
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_int_equal(kill(old, 0), -1);	/* the old one is gone */
	post(1);
	kick();
	assert_true(wait_used(2));
	sw.path = "/tmp/x";
	assert_int_equal(sup_swap(v->name, &sw, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a disk"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ring_then_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_features_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_while_down_not_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_deaths_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_backend_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_backend, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
