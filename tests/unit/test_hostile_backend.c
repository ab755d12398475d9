/*
 * The core against a hostile vhost-user backend (badback.c), without KVM:
 * a virtio-blk device whose backend answers one request wrongly, hangs,
 * floods or hangs up.  Each case: the core neither crashes nor hangs, the
 * device ends restarted or failed with a reason, and the log names what
 * the backend did.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <cmocka.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "core/config.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/layout.h"
#include "core/pci.h"
#include "core/supervisor.h"
#include "core/virtio_pci.h"
#include "core/vm.h"
#include "core/vu_frontend.h"
#include "ipc/vhost_user.h"
#include "lib/caps.h"

#define SLOT	4
#define QSZ	8
#define RING	0x100000ULL

/*
 * The core's limit for an answer (vuf_timeout_ms) in these tests.  Every
 * delay badback injects is a multiple or a fraction of it (it gets it in
 * HYVE_BADBACK_LIMIT_MS), and so is every bound below.  An honest answer
 * and a hang-up must come well within it on a loaded 2-core machine under
 * ASan: an ASan backend's socket closes only after its leak check at exit,
 * about 0.4 s with eight busy loops on the two cores (300 ms was too
 * little).  Each case that waits the limit out costs it once.
 */
#define LIMIT_MS	1500
/*
 * A call that waits the limit out, or a wrong answer, returns within this:
 * the limit and three times as much again, for the stalls of a loaded
 * machine (over 1.5 s seen with a lab VM running).  The faults it catches
 * are far beyond it: a wait for ever, or one per byte of a trickle.
 */
#define BOUND_MS	(4 * LIMIT_MS)
/* What backend_stop gives an old backend to exit, in a swap. */
#define GRACE_MS	500
/* How long an expected event (a restart, a child's end) may take before
 * the test gives up on it: it costs nothing when the event comes. */
#define WAIT_MS		(10 * LIMIT_MS)

static struct vm vm;
static struct vpci *v;
static uint64_t bar4;
static char badback[PATH_MAX], disk[64], logpath[64];
static int saved_err = -1;
static pid_t ext = -1;		/* a backend started by the test */
static char extsock[64];
static char fifo[64];		/* where a forked child says it lives */
static int life = -1;		/* its read end */
static bool nosysadmin;		/* CAP_SYS_ADMIN dropped from effective */

/* What the core logs when something did not come in time: what, and
 * "within" the limit. */
static const char *
within_limit(const char *what)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s within %d ms", what, LIMIT_MS);
	return buf;
}

/* Sets the environment variable name to ms. */
static void
setenv_ms(const char *name, int ms)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", ms);
	assert_int_equal(setenv(name, buf, 1), 0);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static uint64_t
rd(uint64_t addr, int size)
{
	uint64_t val;

	assert_int_equal(bus_access(&vm.mmio, addr, size, false, &val), 0);
	return val;
}

static void
wr(uint64_t addr, int size, uint64_t val)
{
	assert_int_equal(bus_access(&vm.mmio, addr, size, true, &val), 0);
}

/* The core's log (its stderr, captured for the test) has s in it. */
static bool
log_has(const char *s)
{
	static char buf[1 << 16];
	int fd = open(logpath, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, s) != NULL;
}

static int
log_count(const char *s)
{
	static char buf[1 << 20];
	int fd = open(logpath, O_RDONLY), k = 0;
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; (p = strstr(p, s)) != NULL; p++)
		k++;
	return k;
}

static int
nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int k = 0;

	while (readdir(d) != NULL)
		k++;
	closedir(d);
	return k;
}

static int
setup(void **state)
{
	char self[PATH_MAX - 16];
	ssize_t n;
	int fd;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(badback, sizeof(badback), "%s/badback", self);
	if (access(badback, X_OK) != 0)
		fail_msg("%s is missing: run make unit", badback);
	snprintf(disk, sizeof(disk), "/tmp/hyve-hostile-XXXXXX");
	fd = mkstemp(disk);
	assert_true(fd >= 0 && ftruncate(fd, 4096) == 0);
	close(fd);
	snprintf(logpath, sizeof(logpath), "/tmp/hyve-hostile-log-XXXXXX");
	fd = mkstemp(logpath);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_err = dup(2);
	dup2(fd, 2);
	close(fd);
	vuf_timeout_ms = LIMIT_MS;
	setenv_ms("HYVE_BADBACK_LIMIT_MS", LIMIT_MS);
	v = NULL;
	config_reset();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (v != NULL && v->sup.bp.pid > 0) {
		kill(v->sup.bp.pid, SIGKILL);
		waitpid(v->sup.bp.pid, NULL, 0);
	}
	pci_reset_all();
	vm_destroy(&vm);
	if (ext > 0) {
		kill(ext, SIGKILL);
		waitpid(ext, NULL, 0);
		ext = -1;
	}
	if (life >= 0) {
		close(life);
		unlink(fifo);
		life = -1;
	}
	if (nosysadmin) {
		struct caps c;

		if (caps_get(&c) == 0) {
			c.eff |= CAP_BIT(CAP_SYS_ADMIN);
			caps_set(&c);
		}
		nosysadmin = false;
	}
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	if (getenv("HYVE_TEST_LOG") != NULL) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "cat %s >&2", logpath);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot show %s\n", logpath);
	}
	unlink(disk);
	unlink(logpath);
	unsetenv("HYVE_BADBACK");
	unsetenv("HYVE_BADBACK_MS");
	unsetenv("HYVE_BADBACK_LIMIT_MS");
	unsetenv("HYVE_BADBACK_NOACK");
	unsetenv("HYVE_BADBACK_CHILD");
	vuf_timeout_ms = VUF_TIMEOUT_MS;
	return 0;
}

/* A VM with one virtio-blk device served by badback in mode (or NULL). */
static int
bring_up(const char *mode)
{
	struct pci_dev *pd;
	int rc;

	if (mode != NULL)
		setenv("HYVE_BADBACK", mode, 1);
	pci_reset_all();
	assert_int_equal(vm_create_nokvm(&vm, "t", MB(64)), 0);
	assert_int_equal(irq_init(&vm), 0);
	assert_int_equal(evloop_init(), 0);
	assert_int_equal(config_set("pci.0.4.0.device", "virtio-blk"), 0);
	assert_int_equal(config_set("pci.0.4.0.path", disk), 0);
	assert_int_equal(config_set("pci.0.4.0.binary", badback), 0);
	assert_int_equal(config_set("pci.0.4.0.sandbox", "off"), 0);
	if ((rc = pci_init(&vm)) < 0)
		return rc;
	pd = pci_find(0, SLOT, 0);
	assert_non_null(pd);
	v = pd->arg;
	bar4 = pci_get_cfg32(pd, PCI_BASE_ADDRESS_4) & ~0xfULL;
	return 0;
}

/* Runs the event loop until the backend is back (or failed), WAIT_MS at
 * most. */
static void
wait_settled(pid_t old)
{
	long long end = now_ms() + WAIT_MS;

	while (now_ms() < end && !v->sup.failed &&
	    (v->sup.bp.pid == old || v->sup.down || v->vu.sock < 0))
		evloop_run_once(10);
}

/* A new backend replaced old, once, and the device runs. */
static void
restarted_once(pid_t old)
{
	wait_settled(old);
	assert_false(v->sup.failed);
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_int_equal(v->sup.restarts, 1);
	assert_string_equal(sup_state(v), "running");
}

/* The device config, as the guest reads it (blk: capacity, low word). */
static uint32_t
capacity(void)
{
	return rd(bar4 + VPCI_DEVCFG, 4);
}

/*
 * The common shape: the second GET_CONFIG (the guest's first read of the
 * device config) is answered per mode; the core must drop and restart
 * the backend, log what, and the next backend must serve.
 */
static void
restarted(const char *logged)
{
	long long t0, took;
	pid_t old;

	old = v->sup.bp.pid;
	t0 = now_ms();
	(void)capacity();
	/* The read came back in bounded time (the limit and change). */
	if ((took = now_ms() - t0) >= BOUND_MS)
		fail_msg("the config read took %lld ms (the limit is %d ms)",
		    took, LIMIT_MS);
	restarted_once(old);
	assert_non_null(strstr(v->sup.last_exit, "killed: it "));
	if (!log_has(logged))
		fail_msg("the log does not say '%s'", logged);
	/* The new backend's first GET_CONFIG is honest. */
	assert_int_equal(capacity(), 8);
}

static void
restarted_after(const char *mode, const char *logged)
{
	assert_int_equal(bring_up(mode), 0);
	restarted(logged);
}

static void
test_wrong_reply_code(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:badcode", "the backend answered "
	    "GET_CONFIG with request 1 (GET_FEATURES)");
}

static void
test_wrong_reply_size(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:badsize", "answered GET_CONFIG with "
	    "request 24 (GET_CONFIG), flags 0x5, 4 bytes, 0 fds: payload "
	    "shorter than the config header");
}

static void
test_huge_size_field(void **state)
{
	struct rusage before, after;

	(void)state;
	getrusage(RUSAGE_SELF, &before);
	restarted_after("GET_CONFIG@2:hugesize", "answered GET_CONFIG with a "
	    "malformed or cut-off message");
	/* Nothing was allocated for the 4 GiB the header promised. */
	getrusage(RUSAGE_SELF, &after);
	assert_true(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
}

static void
test_reply_trickles(void **state)
{
	(void)state;
	/* A byte every tenth of the limit: a few bytes come within it. */
	restarted_after("GET_CONFIG@2:trickle", within_limit("the backend "
	    "sent only part of an answer to GET_CONFIG"));
}

static void
test_reply_never_comes(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:never", within_limit("the backend did "
	    "not answer GET_CONFIG"));
}

static void
test_reply_too_late(void **state)
{
	(void)state;
	setenv_ms("HYVE_BADBACK_MS", 2 * LIMIT_MS);
	restarted_after("GET_CONFIG@2:late", within_limit("did not answer "
	    "GET_CONFIG"));
}

static void
test_reply_late_in_time(void **state)
{
	pid_t pid;

	(void)state;
	setenv_ms("HYVE_BADBACK_MS", LIMIT_MS / 5);
	assert_int_equal(bring_up("GET_CONFIG@2:late"), 0);
	pid = v->sup.bp.pid;
	assert_int_equal(capacity(), 8);
	assert_int_equal(capacity(), 8);
	assert_int_equal(v->sup.bp.pid, pid);
	assert_int_equal(v->sup.restarts, 0);
	assert_false(log_has("dropping its connection"));
}

static void
test_backend_stops_itself(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:stop", within_limit("the backend did "
	    "not answer GET_CONFIG"));
}

static void
test_oversized_config(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:bigconfig", "answered GET_CONFIG of 60 "
	    "bytes at 0 with 256 bytes at 0");
}

static void
test_malformed_config(void **state)
{
	(void)state;
	restarted_after("GET_CONFIG@2:badconfig", "config offset or size "
	    "beyond 256 bytes");
}

static void
test_unasked_message(void **state)
{
	pid_t old;

	(void)state;
	assert_int_equal(bring_up("GET_CONFIG@2:garbage"), 0);
	old = v->sup.bp.pid;
	/* Answered honestly, then a message of its own. */
	assert_int_equal(capacity(), 8);
	assert_int_equal(poll(&(struct pollfd){ .fd = v->vu.sock,
	    .events = POLLIN }, 1, WAIT_MS), 1);
	/* The next request finds it, and does not take it for its answer. */
	(void)capacity();
	wait_settled(old);
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_int_equal(v->sup.restarts, 1);
	assert_true(log_has("the backend sent a message unasked (request "
	    "30583, unknown)"));
	assert_int_equal(capacity(), 8);
}

static void
test_reply_with_fds(void **state)
{
	int before;

	(void)state;
	assert_int_equal(bring_up("GET_CONFIG@2:fds"), 0);
	before = nfds();
	restarted("answered GET_CONFIG with request 24 (GET_CONFIG), flags "
	    "0x5, 72 bytes, 8 fds: unexpected fds");
	/* The 8 descriptors it sent were closed. */
	assert_int_equal(nfds(), before);
}

/* The driver resets the device and negotiates VERSION_1; the status. */
static uint8_t
driver_features(void)
{
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, s);
	wr(bar4 + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_GF, 4, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_GF, 4, 0);
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, s);
	return s;
}

/* With features negotiated (status s): queue 0, QSZ entries, INTx (no
 * MSI-X), then DRIVER_OK. */
static void
driver_queue(uint8_t s)
{
	wr(bar4 + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_SIZE, 2, QSZ);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_DESCLO, 4, RING);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, RING + 16 * QSZ);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_USEDLO, 4, RING + 0x800);
	wr(bar4 + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1, s | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The driver sets the device up. */
static void
driver_init(void)
{
	driver_queue(driver_features());
}

/* The core's CPU time, in ms, while its loop runs for ms of wall time. */
static long long
cpu_while_running(int ms)
{
	struct rusage a, b;
	long long end = now_ms() + ms;

	getrusage(RUSAGE_SELF, &a);
	while (now_ms() < end)
		evloop_run_once(10);
	getrusage(RUSAGE_SELF, &b);
	return (b.ru_utime.tv_sec - a.ru_utime.tv_sec +
	    b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1000LL +
	    (b.ru_utime.tv_usec - a.ru_utime.tv_usec +
	    b.ru_stime.tv_usec - a.ru_stime.tv_usec) / 1000;
}

/* Runs the core's loop until *what has a bit of mask, WAIT_MS at most. */
static bool
loop_until(const uint8_t *what, uint8_t mask)
{
	long long end = now_ms() + WAIT_MS;

	while (!(*what & mask) && now_ms() < end)
		evloop_run_once(10);
	return (*what & mask) != 0;
}

/*
 * A flood of call-eventfd writes.  With MSI-X the call eventfd is a KVM
 * irqfd and the core never sees it; with INTx the core turns calls into
 * the interrupt line, and must not wake once per write.
 */
static void
test_call_flood(void **state)
{
	long long cpu;

	(void)state;
	assert_int_equal(bring_up("SET_VRING_ENABLE@1:flood"), 0);
	driver_init();
	if (!loop_until(&v->isr, 1))
		fail_msg("the call flood raised no interrupt in %d ms", WAIT_MS);
	/* The line is up, the flood goes on: the core must stay quiet. */
	cpu = cpu_while_running(1000);
	assert_true(rd(bar4 + VPCI_ISR, 1) & 1);	/* the guest was told */
	if (cpu > 200)
		fail_msg("the core used %lld ms of CPU in 1 s of call flood",
		    cpu);
	assert_false(v->sup.failed);
	assert_int_equal(v->sup.restarts, 0);
	/* The control plane still answers. */
	assert_int_equal(capacity(), 8);
}

/* A flood of err-eventfd writes: one DEVICE_NEEDS_RESET, one log line. */
static void
test_err_flood(void **state)
{
	long long cpu;

	(void)state;
	assert_int_equal(bring_up("SET_VRING_ENABLE@1:errflood"), 0);
	driver_init();
	if (!loop_until(&v->status, VIRTIO_CONFIG_S_NEEDS_RESET))
		fail_msg("the err flood set no DEVICE_NEEDS_RESET in %d ms",
		    WAIT_MS);
	cpu = cpu_while_running(1000);
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(log_count("the backend put queue 0 in error"), 1);
	if (cpu > 200)
		fail_msg("the core used %lld ms of CPU in 1 s of err flood",
		    cpu);
}

/*
 * The ring start goes out as one batch whose acknowledgements are read
 * after it (vuf_batch): a wrong one in the middle is still caught and
 * named, the backend is replaced as for any broken answer, and the
 * device, whose queues did not start, asks the driver for a reset.
 */
static void
test_batch_bad_ack(void **state)
{
	pid_t old;

	(void)state;
	assert_int_equal(bring_up("SET_VRING_BASE@1:badcode"), 0);
	old = v->sup.bp.pid;
	driver_init();
	unsetenv("HYVE_BADBACK");
	wait_settled(old);
	assert_int_not_equal(v->sup.bp.pid, old);
	if (!log_has("answered SET_VRING_BASE with request 1 (GET_FEATURES)"))
		fail_msg("the log does not name the bad acknowledgement");
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(capacity(), 8);
}

/* Starts badback in mode on a socket of its own, as an operator would. */
static void
start_external(const char *mode)
{
	int p[2];
	char c;

	snprintf(extsock, sizeof(extsock), "/tmp/hyve-hostile-%d.sock",
	    (int)getpid());
	assert_int_equal(pipe(p), 0);
	ext = fork();
	assert_true(ext >= 0);
	if (ext == 0) {
		dup2(p[1], 1);
		setenv("HYVE_BADBACK", mode, 1);
		execl(badback, badback, "--listen", extsock, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);	/* "ready" */
	close(p[0]);
}

/*
 * A backend hyve did not start cannot be restarted: the device fails,
 * with the reason in its state, and the VM's other device runs on.
 */
static void
test_external_backend_fails_device(void **state)
{
	struct pci_dev *other;

	(void)state;
	start_external("GET_CONFIG@2:badcode");
	assert_int_equal(config_set("pci.0.5.0.device", "vhost-user"), 0);
	assert_int_equal(config_set("pci.0.5.0.socket", extsock), 0);
	assert_int_equal(config_set("pci.0.5.0.type", "blk"), 0);
	assert_int_equal(bring_up(NULL), 0);
	other = pci_find(0, 5, 0);
	assert_non_null(other);
	v = other->arg;
	bar4 = pci_get_cfg32(other, PCI_BASE_ADDRESS_4) & ~0xfULL;
	(void)capacity();
	assert_true(v->sup.failed);
	assert_string_equal(sup_state(v), "failed");
	assert_non_null(strstr(v->sup.last_exit, "the backend answered GET_CONFIG "
	    "with request 1 (GET_FEATURES)"));
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(log_has("(device failed); the guest must reset the "
	    "device"));
	/* Later reads use the last good config and ask no one. */
	assert_int_equal(capacity(), 8);
	/* The device hyve started, in slot 4, is untouched. */
	v = pci_find(0, SLOT, 0)->arg;
	bar4 = pci_get_cfg32(pci_find(0, SLOT, 0), PCI_BASE_ADDRESS_4) & ~0xfULL;
	assert_int_equal(capacity(), 8);
	assert_string_equal(sup_state(v), "running");
}

static void
test_close_in_handshake(void **state)
{
	(void)state;
	assert_true(bring_up("GET_PROTOCOL_FEATURES@1:close") < 0);
	assert_true(log_has("the backend closed the connection instead of "
	    "answering GET_PROTOCOL_FEATURES"));
	assert_true(log_has("did not complete the vhost-user handshake"));
}

static void
test_close_in_every_restart(void **state)
{
	long long end;
	pid_t old;

	(void)state;
	assert_int_equal(bring_up(NULL), 0);
	setenv("HYVE_BADBACK", "GET_PROTOCOL_FEATURES@1:close", 1);
	old = v->sup.bp.pid;
	kill(old, SIGKILL);
	end = now_ms() + WAIT_MS;
	while (now_ms() < end && !v->sup.failed)
		evloop_run_once(10);
	assert_true(v->sup.failed);
	assert_string_equal(sup_state(v), "failed");
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(log_has("closed the connection instead of answering "
	    "GET_PROTOCOL_FEATURES"));
	assert_true(log_has("giving up (device failed"));
}

/* The backend dies as the driver sets FEATURES_OK: the driver still sees
 * FEATURES_OK, and the next backend gets the features with the replay. */
static void
test_gone_at_features_ok(void **state)
{
	uint8_t s;
	pid_t old;

	(void)state;
	assert_int_equal(bring_up("SET_FEATURES@1:close"), 0);
	unsetenv("HYVE_BADBACK");	/* the next backend behaves */
	old = v->sup.bp.pid;
	s = driver_features();
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_FEATURES_OK);
	wait_settled(old);
	assert_false(v->sup.failed);
	assert_true(v->sup.bp.pid != old && v->sup.bp.pid > 0);
	assert_string_equal(sup_state(v), "running");
	driver_queue(s);
	assert_false(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(log_has("closed the connection instead of answering "
	    "SET_FEATURES"));
}

static void
test_too_many_queues(void **state)
{
	(void)state;
	assert_true(bring_up("GET_QUEUE_NUM@1:queues") < 0);
	assert_true(log_has("the backend claims 100000 queues (at most 64)"));
}

/* --- a backend that forks ------------------------------------------------ */

/* Whether pid runs in the test's own pid namespace. */
static bool
own_pidns(pid_t pid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	assert_int_equal(stat(path, &a), 0);
	assert_int_equal(stat("/proc/self/ns/pid", &b), 0);
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/*
 * As root the core starts a backend as pid 1 of a new pid namespace
 * (backend_start); without CAP_SYS_ADMIN it cannot and forks plainly,
 * and what the backend forks may outlive it.
 */
static void
without_pidns(void)
{
	struct caps c;

	assert_int_equal(caps_get(&c), 0);
	if (!(c.eff & CAP_BIT(CAP_SYS_ADMIN)))
		return;
	c.eff &= ~CAP_BIT(CAP_SYS_ADMIN);
	assert_int_equal(caps_set(&c), 0);
	nosysadmin = true;
}

/* The fifo that badback's forked child holds open while it lives. */
static void
child_fifo(void)
{
	snprintf(fifo, sizeof(fifo), "/tmp/hyve-hostile-child-%d",
	    (int)getpid());
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	life = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(life >= 0);
	setenv("HYVE_BADBACK_CHILD", fifo, 1);
}

/* The child was forked and took the socket over (it wrote "c"). */
static void
child_forked(void)
{
	struct pollfd p = { .fd = life, .events = POLLIN };
	char c;

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(read(life, &c, 1), 1);
}

/* The child has ended (the fifo has no writer left), within ms. */
static bool
child_gone(int ms)
{
	struct pollfd p = { .fd = life, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && (p.revents & POLLHUP) &&
	    read(life, &c, 1) == 0;
}

/* A backend, started in mode, forks at the guest's first config read. */
static pid_t
forked(const char *mode)
{
	pid_t pid;

	child_fifo();
	assert_int_equal(bring_up(mode), 0);
	driver_init();		/* the backend has the guest's memory */
	pid = v->sup.bp.pid;
	(void)capacity();
	child_forked();
	unsetenv("HYVE_BADBACK");
	return pid;
}

/*
 * A backend forks; the child keeps the socket and answers, the parent
 * exits.  Here without a pid namespace, so the child outlives its parent:
 * the core reaps the parent, closes its end of the socket and restarts
 * the device; the child, reading, finds the end of the file and ends.
 * hyve adds two walls: its monitor starts every backend as pid 1 of a
 * pid namespace of its own (CLONE_NEWUSER | CLONE_NEWPID, core/monitor.c),
 * whose other processes the kernel kills when it ends, so the child dies
 * with its parent even if it ignores the hang-up
 * (test_fork_in_pid_namespace); and a sandboxed backend cannot fork at
 * all: clone, fork and vfork are on no backend's seccomp allowlist.
 */
static void
test_fork_parent_exits(void **state)
{
	char line[256];
	pid_t old;

	(void)state;
	without_pidns();
	old = forked("GET_CONFIG@2:forkexit");
	assert_true(own_pidns(old));
	restarted_once(old);
	assert_string_equal(v->sup.last_exit, "exited with status 0; its socket "
	    "stayed open in a process it forked or passed it to");
	snprintf(line, sizeof(line), "backend %s (pid %d) %s", v->name,
	    (int)old, v->sup.last_exit);
	assert_true(log_has(line));
	if (!child_gone(WAIT_MS))
		fail_msg("the forked child still runs after the core moved on");
	assert_int_equal(capacity(), 8);
}

/*
 * The same as hyve runs it: the parent is pid 1 of its pid namespace and
 * the child ends with it.  Whether the child answered first is a race, so
 * either reason is right.
 */
static void
test_fork_in_pid_namespace(void **state)
{
	pid_t old;

	(void)state;
	old = forked("GET_CONFIG@2:forkexit");
	if (own_pidns(old))
		skip();		/* no pid namespaces for this user */
	if (!child_gone(WAIT_MS))
		fail_msg("the forked child outlived pid 1 of its namespace");
	restarted_once(old);
	if (strcmp(v->sup.last_exit, "exited with status 0") != 0 &&
	    strstr(v->sup.last_exit, "killed: it closed the connection instead "
	    "of answering GET_CONFIG") == NULL)
		fail_msg("last_exit is '%s'", v->sup.last_exit);
	assert_int_equal(capacity(), 8);
}

/*
 * The parent stays but serves no more; the child serves.  The protocol is
 * kept, so the device runs on.  When the core moves on (a swap here) it
 * closes the socket and kills the silent parent after its grace time; the
 * child, without a pid namespace, finds the end of the file.
 */
static void
test_fork_parent_stays(void **state)
{
	char err[256];
	pid_t old;

	(void)state;
	without_pidns();
	old = forked("GET_CONFIG@2:forkstay");
	assert_true(own_pidns(old));
	assert_int_equal(capacity(), 8);
	assert_true(cpu_while_running(100) < 100);
	assert_int_equal(v->sup.bp.pid, old);
	assert_int_equal(v->sup.restarts, 0);
	assert_string_equal(sup_state(v), "running");
	assert_int_equal(sup_swap(v->name, &(struct sup_swap){
	    .binary = badback }, err, sizeof(err)), 0);
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_string_equal(sup_state(v), "running");
	assert_true(log_has("backend swapped"));
	if (!child_gone(WAIT_MS))
		fail_msg("the forked child still runs after the swap");
	assert_int_equal(capacity(), 8);
}

/* --- a hang-up in the middle of a swap ---------------------------------- */

/* A second device, slot 5, whose backend must not notice. */
static void
add_second(void)
{
	assert_int_equal(config_set("pci.0.5.0.device", "virtio-blk"), 0);
	assert_int_equal(config_set("pci.0.5.0.path", disk), 0);
	assert_int_equal(config_set("pci.0.5.0.binary", badback), 0);
	assert_int_equal(config_set("pci.0.5.0.sandbox", "off"), 0);
}

static struct vpci *
second(void)
{
	return pci_find(0, 5, 0)->arg;
}

/* The second device serves on, with the backend it had. */
static void
second_runs(pid_t pid)
{
	struct pci_dev *pd = pci_find(0, 5, 0);

	assert_int_equal(rd((pci_get_cfg32(pd, PCI_BASE_ADDRESS_4) & ~0xfULL) +
	    VPCI_DEVCFG, 4), 8);
	assert_int_equal(second()->sup.bp.pid, pid);
	assert_int_equal(second()->sup.restarts, 0);
	assert_string_equal(sup_state(second()), "running");
}

/* Swaps slot 4's backend for badback in mode: sup_swap's result. */
static int
swap_to(const char *mode, char *err, size_t len)
{
	long long t0 = now_ms(), took;
	int rc;

	setenv("HYVE_BADBACK", mode, 1);
	err[0] = '\0';
	rc = sup_swap(v->name, &(struct sup_swap){ .binary = badback }, err,
	    len);
	/* The old backend's grace, then a new one waits the limit at most. */
	if ((took = now_ms() - t0) >= GRACE_MS + BOUND_MS)
		fail_msg("the swap to %s took %lld ms (the limit is %d ms)", mode,
		    took, LIMIT_MS);
	return rc;
}

/*
 * The new backend hangs up in the handshake or in the replay of the
 * device's state.  The swap fails saying why; the supervisor watches the
 * new backend from its start, so its death restarts the device the usual
 * way (here with an honest backend); the other device runs on.
 */
static void
swap_hangs_up(const char *mode, const char *why)
{
	char err[256];
	pid_t other;

	add_second();
	assert_int_equal(bring_up(NULL), 0);
	other = second()->sup.bp.pid;
	driver_init();
	assert_true(swap_to(mode, err, sizeof(err)) < 0);
	unsetenv("HYVE_BADBACK");
	if (strstr(err, why) == NULL)
		fail_msg("the swap's error '%s' does not say '%s'", err, why);
	assert_string_equal(sup_state(v), "restarting");
	wait_settled(v->sup.bp.pid);
	assert_false(v->sup.failed);
	assert_string_equal(sup_state(v), "running");
	assert_int_equal(v->sup.restarts, 1);
	if (strstr(v->sup.last_exit, why) == NULL)
		fail_msg("last_exit '%s' does not say '%s'", v->sup.last_exit, why);
	assert_true(log_has("backend restarted"));
	assert_int_equal(capacity(), 8);
	second_runs(other);
}

static void
test_swap_close_in_handshake(void **state)
{
	(void)state;
	swap_hangs_up("GET_PROTOCOL_FEATURES@1:close", "closed the connection "
	    "instead of answering GET_PROTOCOL_FEATURES");
}

static void
test_swap_close_in_replay(void **state)
{
	(void)state;
	swap_hangs_up("SET_VRING_ADDR@1:close", "closed the connection "
	    "instead of answering SET_VRING_ADDR");
}

/* A new binary that hangs up every time: the device fails, with why. */
static void
test_swap_close_every_time(void **state)
{
	char err[256];
	long long end;
	pid_t other;

	(void)state;
	assert_int_equal(config_set("restart.max", "1"), 0);
	add_second();
	assert_int_equal(bring_up(NULL), 0);
	other = second()->sup.bp.pid;
	driver_init();
	assert_true(swap_to("SET_VRING_ADDR@1:close", err, sizeof(err)) < 0);
	end = now_ms() + WAIT_MS;
	while (now_ms() < end && !v->sup.failed)
		evloop_run_once(10);
	unsetenv("HYVE_BADBACK");
	assert_true(v->sup.failed);
	assert_string_equal(sup_state(v), "failed");
	assert_non_null(strstr(v->sup.last_exit, "closed the connection instead "
	    "of answering SET_VRING_ADDR"));
	assert_true(rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) &
	    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(log_has("giving up (device failed"));
	second_runs(other);
}

/* The old backend hangs up when the swap stops its rings: the new one
 * takes over all the same, from the used indexes. */
static void
test_swap_old_closes(void **state)
{
	char err[256];
	pid_t old, other;

	(void)state;
	add_second();
	assert_int_equal(bring_up("GET_VRING_BASE@1:close"), 0);
	other = second()->sup.bp.pid;
	driver_init();
	old = v->sup.bp.pid;
	unsetenv("HYVE_BADBACK");
	assert_int_equal(sup_swap(v->name, &(struct sup_swap){
	    .binary = badback }, err, sizeof(err)), 0);
	assert_true(log_has("the backend closed the connection instead of "
	    "answering GET_VRING_BASE"));
	assert_true(log_has("backend swapped"));
	assert_int_not_equal(v->sup.bp.pid, old);
	assert_string_equal(sup_state(v), "running");
	assert_int_equal(capacity(), 8);
	second_runs(other);
}

/* --- a backend that stops reading ------------------------------------------ */

/*
 * Without REPLY_ACK most requests get no answer by design, so a backend
 * that stops reading is not noticed until the socket's buffer is full:
 * the guest, resetting and starting the device again and again, makes
 * the core send until it is.  The send then waits at most the limit (the
 * socket's SO_SNDTIMEO), the backend is dropped and restarted, and no
 * guest access is held longer.
 */
static void
test_backend_stops_reading(void **state)
{
	long long t0, worst = 0, end;
	pid_t old, other;
	int cycles = 0;

	(void)state;
	setenv("HYVE_BADBACK_NOACK", "1", 1);
	add_second();
	assert_int_equal(bring_up("RESET_DEVICE@1:never"), 0);
	other = second()->sup.bp.pid;
	assert_false(v->vu.pfeatures & (1ull << VU_PF_REPLY_ACK));
	old = v->sup.bp.pid;
	end = now_ms() + WAIT_MS;
	while (v->vu.sock >= 0 && now_ms() < end) {
		t0 = now_ms();
		(void)driver_features();
		wr(bar4 + VIRTIO_PCI_COMMON_STATUS, 1,
		    rd(bar4 + VIRTIO_PCI_COMMON_STATUS, 1) |
		    VIRTIO_CONFIG_S_DRIVER_OK);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		cycles++;
	}
	unsetenv("HYVE_BADBACK");
	unsetenv("HYVE_BADBACK_NOACK");
	assert_true(v->vu.sock < 0);
	if (worst >= BOUND_MS)
		fail_msg("one reset and start took %lld ms (the limit is %d ms)",
		    worst, LIMIT_MS);
	assert_true(cycles > 2);
	assert_true(log_has("it stopped reading; dropping its connection"));
	restarted_once(old);
	assert_non_null(strstr(v->sup.last_exit, "killed: it took no "));
	assert_int_equal(capacity(), 8);
	second_runs(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrong_reply_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_reply_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_size_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_trickles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_never_comes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_too_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_late_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_stops_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unasked_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_with_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_bad_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_backend_fails_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_every_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_at_features_ok,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_parent_exits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_in_pid_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_parent_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_close_in_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_close_in_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_close_every_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_old_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_stops_reading, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
