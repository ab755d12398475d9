/*
 * Backend supervision: start, watch, restart with replay, back off, give
 * up, swap.  Everything here runs on the main thread (event loop
 * callbacks, the control socket) and takes the VM's device lock before it
 * touches a device.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <linux/virtio_config.h>
#include <seccomp.h>

#include "core/config.h"
#include "core/devclass.h"
#include "core/evloop.h"
#include "core/pci.h"
#include "core/spawner.h"
#include "core/supervisor.h"
#include "core/snapshot.h"
#include "core/tenant.h"
#include "core/upgrade.h"
#include "core/virtio_pci.h"
#include "core/vm.h"
#include "lib/log.h"
#include "lib/util.h"

#define MAX_DEVS	64

static struct vpci *devs[MAX_DEVS];
static int ndevs;
static uint64_t restart_max = SUP_RESTART_MAX, window_ms = SUP_WINDOW_S * 1000;
static uint64_t retry_ms = SUP_RETRY_S * 1000;

/* An argument for v's backend; one too many is an error for sup_attach. */
static void
arg(struct vpci *v, const char *a)
{
	if (v->sup.argc < (int)NELEM(v->sup.argv) - 1) {
		v->sup.argv[v->sup.argc++] = strdup(a);
		v->sup.argv[v->sup.argc] = NULL;
	} else if (!v->sup.argv_full) {
		hlog("%s: more than %d arguments for its backend; '%s' and "
		    "what follows cannot be passed", v->name,
		    (int)NELEM(v->sup.argv) - 1, a);
		v->sup.argv_full = true;
	}
}

static void
arg2(struct vpci *v, const char *a, const char *b)
{
	arg(v, a);
	arg(v, b);
}

void
sup_arg(struct vpci *v, const char *a, const char *b)
{
	arg(v, a);
	if (b != NULL)
		arg(v, b);
}

void
sup_give(struct vpci *v, int slot, int fd)
{
	v->sup.slot[slot] = fd;
}

/* /dev/userfaultfd, open while the core may still open it, for every
 * backend of a memory.share_snapshot restore (--uffd), or -1. */
static int uffd_dev = -1;

/* The descriptors v's backend is given, in order: the class's slots,
 * the counters page, /dev/userfaultfd.  Returns how many. */
static int
backend_fds(struct vpci *v, int *fds)
{
	int i, n = 0;

	for (i = 0; i < DEV_MAX_SLOTS; i++)
		if (v->sup.slot[i] >= 0)
			fds[n++] = v->sup.slot[i];
	if (v->sup.statsfd >= 0)
		fds[n++] = v->sup.statsfd;
	if (v->sup.uffd_arg && uffd_dev >= 0)
		fds[n++] = uffd_dev;
	return n;
}

/* --disk-fd N for each slot the class filled, N where start() puts it. */
static void
slot_args(struct vpci *v)
{
	char opt[32], n[16];
	int i, k = 0;

	for (i = 0; i < DEV_MAX_SLOTS; i++) {
		if (v->sup.slot[i] < 0)
			continue;
		snprintf(opt, sizeof(opt), "--%s-fd", v->cls->slots[i]);
		snprintf(n, sizeof(n), "%d", BACKEND_FD(k++));
		arg2(v, opt, n);
	}
}

/* sandbox=on|off (or any boolean); unset means on. */
static int
sandbox_off(const char *key, const char *val, bool *off)
{
	bool on = true;

	*off = false;
	if (val == NULL)
		return 0;
	if (strcmp(val, "on") == 0 || strcmp(val, "off") == 0)
		on = strcmp(val, "on") == 0;
	else if (parse_bool(val, &on) < 0) {
		hlog("%s%s: '%s' is not on or off", key, strcmp(key, "sandbox") ?
		    ".sandbox" : "", val);
		return -EINVAL;
	}
	*off = !on;
	return 0;
}

/* The sandbox the backend puts itself in: on unless sandbox=off for the
 * VM or the device; as the VM's own uid and gid. */
static int
sandbox_args(struct vpci *v, const char *node)
{
	char n[16];
	uid_t uid;
	gid_t gid;
	bool off;
	int rc;

	if ((rc = sandbox_off("sandbox", config_get("sandbox"), &off)) < 0)
		return rc;
	if (!off) {
		if ((rc = sandbox_off(node, config_node_get(node, "sandbox"),
		    &off)) < 0)
			return rc;
	}
	if (off) {
		hlog("WARNING: %s runs WITHOUT A SANDBOX (sandbox=off): a guest "
		    "that takes over its backend gets hyve's privileges; "
		    "hyvectl audit reports it as a failure", v->name);
		arg(v, "--no-sandbox");
		return 0;
	}
	if ((rc = tenant_ids(&uid, &gid)) < 0)
		return rc;
	snprintf(n, sizeof(n), "%u", (unsigned)uid);
	arg2(v, "--uid", n);
	snprintf(n, sizeof(n), "%u", (unsigned)gid);
	arg2(v, "--gid", n);
	return 0;
}

/* A restore that leaves RAM in the snapshot's file (ramfill.c): every
 * backend brings a userfaultfd for the core to serve its first touches. */
static bool
shares_snapshot(void)
{
	bool shared = false;

	return config_get("restore") != NULL &&
	    config_get_bool("memory.share_snapshot", false, &shared) == 0 &&
	    shared;
}

/*
 * --uffd N: the backend makes its userfaultfd from /dev/userfaultfd
 * (USERFAULTFD_IOC_NEW), whose permission was checked when the core
 * opened it; a backend started as the tenant could not make one that
 * catches the kernel's own accesses to guest memory otherwise.  It comes
 * after the counters page.
 */
static int
uffd_args(struct vpci *v)
{
	char n[16];
	int i, k = 1;

	if (uffd_dev < 0 &&
	    (uffd_dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)) < 0) {
		hlog("%s: /dev/userfaultfd: %s; memory.share_snapshot needs it "
		    "(Linux 6.1 or later); restore without it", v->name,
		    strerror(errno));
		return -errno;
	}
	for (i = 0; i < DEV_MAX_SLOTS; i++)
		k += v->sup.slot[i] >= 0;
	snprintf(n, sizeof(n), "%d", BACKEND_FD(k));
	arg2(v, "--uffd", n);
	v->sup.uffd_arg = true;
	return 0;
}

/* --- starting and watching -------------------------------------------- */

static void on_exit_fd(int fd, void *arg);

/* The counters page: created once, handed to every backend of v. */
static int
stats_create(struct vpci *v)
{
	char n[16];
	int i, k = 0;

	v->sup.statsfd = memfd_create("hyve-stats", MFD_CLOEXEC);
	if (v->sup.statsfd < 0 || ftruncate(v->sup.statsfd, 4096) < 0) {
		hlog("%s: counters page: %s", v->name, strerror(errno));
		return -errno;
	}
	v->sup.stats = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
	    v->sup.statsfd, 0);
	if (v->sup.stats == MAP_FAILED) {
		v->sup.stats = NULL;
		return -errno;
	}
	/* It comes after the slots (backend_fds). */
	for (i = 0; i < DEV_MAX_SLOTS; i++)
		k += v->sup.slot[i] >= 0;
	snprintf(n, sizeof(n), "%d", BACKEND_FD(k));
	arg2(v, "--stats-fd", n);
	return 0;
}

/* With the lock held: no more automatic restarts until a try or an
 * operator brings the device back. */
static void
fail(struct vpci *v, const char *why)
{
	v->sup.failed = true;
	v->sup.failed_reset = !(v->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	vpci_needs_reset(v, why);
}

/* With the lock held: a backend serves the failed device again.  The
 * guest's driver never reset it, so its rings are where the new backend
 * took them up; the NEEDS_RESET that failing set no longer holds. */
static void
revived(struct vpci *v)
{
	v->sup.failed = false;
	if (v->sup.failed_reset)
		v->status &= ~VIRTIO_CONFIG_S_NEEDS_RESET;
	v->sup.failed_reset = false;
	hlog("%s: the device works again", v->name);
}

/*
 * The frontend dropped a backend that broke the protocol.  One the core
 * started is killed and so restarted (its death counts towards
 * restart.max); one someone else started cannot be: the device fails.
 */
static void
on_broken(struct vu_front *f, void *arg)
{
	struct vpci *v = arg;
	char why[200];

	if (v->sup.spawned) {
		if (v->sup.bp.pid > 0) {
			hlog("%s: killing backend pid %d", v->name,
			    (int)v->sup.bp.pid);
			kill(v->sup.bp.pid, SIGKILL);
		}
		return;
	}
	if (v->sup.failed)
		return;
	snprintf(v->sup.last_exit, sizeof(v->sup.last_exit), "the backend %s", f->why);
	snprintf(why, sizeof(why), "the backend %s (device failed)", f->why);
	fail(v, why);
}

/* Spawns the backend and does the handshake; on failure it is killed. */
static int
start(struct vpci *v)
{
	int fds[DEV_MAX_SLOTS + 2], n = backend_fds(v, fds), rc;

	rc = backend_spawn(&v->sup.bp, v->sup.argv, fds, n);
	if (rc < 0)
		return rc;
	if (v->sup.bp.pidfd >= 0)
		evloop_add(v->sup.bp.pidfd, on_exit_fd, v);
	rc = vuf_open(&v->vu, v->sup.bp.sock, v->name);
	v->sup.bp.sock = -1;		/* the frontend owns it now */
	v->vu.broken = on_broken;
	v->vu.arg = v;
	if (rc < 0) {
		hlog("%s: backend pid %d did not complete the vhost-user "
		    "handshake", v->name, (int)v->sup.bp.pid);
		kill(v->sup.bp.pid, SIGKILL);
	}
	return rc;
}

/* --- hyvectl upgrade ------------------------------------------------------- */

int
sup_upgrade_check(char *err, size_t len)
{
	for (int i = 0; i < ndevs; i++) {
		struct vpci *v = devs[i];

		if (v->sup.down || v->sup.failed || v->vu.sock < 0) {
			snprintf(err, len, "%s: its backend is %s; upgrade once "
			    "the device works again", v->name, v->sup.failed ?
			    "failed" : "restarting");
			return -EBUSY;
		}
	}
	return 0;
}

/* v's argv, NUL after each. */
static int
give_argv(struct vpci *v, struct snap *s)
{
	char buf[8192];
	size_t n = 0;

	for (int i = 0; i < v->sup.argc; i++) {
		size_t l = strlen(v->sup.argv[i]) + 1;

		if (n + l > sizeof(buf))
			return -E2BIG;
		memcpy(buf + n, v->sup.argv[i], l);
		n += l;
	}
	return snap_add(s, SNAP_UPG_ARGV, vpci_bdf(v), buf, n);
}

int
sup_handover(struct upg_out *o)
{
	for (int i = 0; i < ndevs; i++) {
		struct vpci *v = devs[i];
		uint32_t bdf = vpci_bdf(v);
		struct upg_dev d = {
			.pid = v->sup.bp.pid, .spawned = v->sup.spawned,
			.restarts = v->sup.restarts, .nqueues = v->vu.nqueues,
			.features = v->vu.features, .pfeatures = v->vu.pfeatures,
			.infl_size = v->infl.size, .infl_offset = v->infl.offset,
			.infl_nq = v->infl.nqueues, .infl_qsize = v->infl.qsize,
		};
		int rc;

		if ((rc = snap_add(o->s, SNAP_UPG_DEV, bdf, &d, sizeof(d))) < 0 ||
		    (rc = give_argv(v, o->s)) < 0 ||
		    (rc = upg_give(o, v->vu.sock, UPG_DEV_SOCK, bdf, 0)) < 0 ||
		    (rc = upg_give(o, v->sup.bp.pidfd, UPG_DEV_PIDFD, bdf,
		    0)) < 0 ||
		    (rc = upg_give(o, v->sup.statsfd, UPG_DEV_STATS, bdf,
		    0)) < 0 ||
		    (rc = upg_give(o, v->infl.fd, UPG_DEV_INFL, bdf, 0)) < 0)
			return rc;
		for (int k = 0; k < DEV_MAX_SLOTS; k++)
			if ((rc = upg_give(o, v->sup.slot[k], UPG_DEV_SLOT, bdf,
			    k)) < 0)
				return rc;
	}
	return 0;
}

void
sup_reaped(pid_t pid, int status)
{
	for (int i = 0; i < ndevs; i++) {
		struct vpci *v = devs[i];

		if (v->sup.last_pid != pid || strcmp(v->sup.last_exit,
		    BACKEND_REAPED_ELSEWHERE) != 0)
			continue;
		pthread_mutex_lock(&v->vm->dev_lock);
		backend_status_text(status, v->sup.last_exit,
		    sizeof(v->sup.last_exit));
		pthread_mutex_unlock(&v->vm->dev_lock);
		hlog("backend %s (pid %d) had %s", v->name, (int)pid,
		    v->sup.last_exit);
	}
}

/* The new core: v's backend as the old core left it; nothing is sent. */
static int
adopt(struct vpci *v)
{
	const struct snap *s = upg_state();
	uint32_t bdf = vpci_bdf(v);
	const struct upg_dev *d;
	const char *a;
	size_t len, off;
	int sock;

	d = snap_get(s, SNAP_UPG_DEV, bdf, sizeof(*d), v->name);
	a = snap_find(s, SNAP_UPG_ARGV, bdf, &len);
	if (d == NULL || a == NULL || len == 0 || a[len - 1] != '\0' ||
	    (sock = upg_take(UPG_DEV_SOCK, bdf, 0)) < 0) {
		hlog("upgrade: %s: the old core handed over no backend for it "
		    "(another configuration?)", v->name);
		return -EINVAL;
	}
	for (off = 0; off < len; off += strlen(a + off) + 1)
		arg(v, a + off);
	for (int k = 0; k < DEV_MAX_SLOTS; k++)
		v->sup.slot[k] = upg_take(UPG_DEV_SLOT, bdf, k);
	v->sup.statsfd = upg_take(UPG_DEV_STATS, bdf, 0);
	if (v->sup.statsfd >= 0 && (v->sup.stats = mmap(NULL, 4096, PROT_READ |
	    PROT_WRITE, MAP_SHARED, v->sup.statsfd, 0)) == MAP_FAILED)
		v->sup.stats = NULL;
	v->infl.fd = upg_take(UPG_DEV_INFL, bdf, 0);
	v->infl.size = d->infl_size;
	v->infl.offset = d->infl_offset;
	v->infl.nqueues = d->infl_nq;
	v->infl.qsize = d->infl_qsize;
	v->sup.spawned = d->spawned;
	v->sup.restarts = d->restarts;
	v->sup.bp.pid = d->pid;
	v->sup.bp.pidfd = upg_take(UPG_DEV_PIDFD, bdf, 0);
	if (v->sup.argc > 0)
		snprintf(v->sup.bp.path, sizeof(v->sup.bp.path), "%s",
		    v->sup.argv[0]);
	snprintf(v->sup.bp.name, sizeof(v->sup.bp.name), "%s", v->name);
	snprintf(v->sup.bp.role, sizeof(v->sup.bp.role), "%s", v->cls->prefix);
	if (v->sup.bp.pidfd >= 0)
		evloop_add(v->sup.bp.pidfd, on_exit_fd, v);
	vuf_adopt(&v->vu, sock, v->name, d->features, d->pfeatures,
	    d->nqueues);
	v->vu.broken = on_broken;
	v->vu.arg = v;
	return 0;
}

void
sup_init(struct sup_dev *d)
{
	int i;

	d->bp.pidfd = -1;
	d->bp.sock = -1;
	for (i = 0; i < DEV_MAX_SLOTS; i++)
		d->slot[i] = -1;
	d->statsfd = -1;
	d->timer = -1;
}

int
sup_attach(struct vpci *v, const char *node, int sock)
{
	int rc;

	uint64_t w, r;

	if (ndevs == MAX_DEVS)
		return -ENOSPC;
	if ((rc = config_get_uint("restart.max", SUP_RESTART_MAX,
	    &restart_max)) < 0 ||
	    (rc = config_get_uint("restart.window", SUP_WINDOW_S, &w)) < 0 ||
	    (rc = config_get_uint("restart.retry", SUP_RETRY_S, &r)) < 0)
		return rc;
	window_ms = w * 1000;
	retry_ms = r * 1000;
	snprintf(v->sup.node, sizeof(v->sup.node), "%s", node);
	if (upgrading()) {
		if (sock >= 0)
			close(sock);	/* the handed-over one serves */
		if ((rc = adopt(v)) == 0)
			devs[ndevs++] = v;
		return rc;
	}
	if (sock >= 0) {
		rc = vuf_open(&v->vu, sock, v->name);
		v->vu.broken = on_broken;
		v->vu.arg = v;
		if (rc < 0)
			hlog("%s (%s): the backend did not complete the "
			    "vhost-user handshake", v->name, v->pd->name);
	} else if (v->cls->foreign) {
		/* Its own options only; the monitor holds it to its row. */
		arg(v, "");
		rc = v->cls->prepare(v, node);
	} else {
		char fd[16];

		snprintf(fd, sizeof(fd), "%d", BACKEND_SOCK_FD);
		arg(v, "");
		arg2(v, "--fd", fd);
		arg2(v, "--name", v->name);
		if ((rc = sandbox_args(v, node)) < 0)
			return rc;
		if (v->cls->prepare != NULL)
			rc = v->cls->prepare(v, node);
		if (rc == 0) {
			slot_args(v);
			rc = stats_create(v);
		}
		if (rc == 0 && shares_snapshot())
			rc = uffd_args(v);
	}
	if (sock < 0) {
		if (rc == 0 && v->sup.argv_full)
			rc = -E2BIG;
		if (rc == 0)
			rc = backend_binary(v->cls->binary,
			    config_node_get(node, "binary"), v->sup.bp.path,
			    sizeof(v->sup.bp.path));
		if (rc < 0)
			return rc;
		free(v->sup.argv[0]);
		v->sup.argv[0] = strdup(v->sup.bp.path);
		snprintf(v->sup.bp.name, sizeof(v->sup.bp.name), "%s", v->name);
		snprintf(v->sup.bp.role, sizeof(v->sup.bp.role), "%s", v->cls->prefix);
		v->sup.spawned = true;
		rc = start(v);
	}
	if (rc == 0)
		devs[ndevs++] = v;
	return rc;
}

void
sup_detach(struct vpci *v)
{
	int i;

	for (i = 0; i < ndevs; i++) {
		if (devs[i] == v) {
			devs[i] = devs[--ndevs];
			break;
		}
	}
	vuf_close(&v->vu);
	if (v->sup.bp.pidfd >= 0)
		evloop_del(v->sup.bp.pidfd);
	backend_stop(&v->sup.bp);
	if (v->sup.timer >= 0) {
		evloop_del(v->sup.timer);
		close(v->sup.timer);
		v->sup.timer = -1;
	}
	for (i = 0; i < v->sup.argc; i++)
		free(v->sup.argv[i]);
	v->sup.argv_full = false;
	v->sup.argc = 0;
	if (v->sup.stats != NULL)
		munmap(v->sup.stats, 4096);
	v->sup.stats = NULL;
	if (v->sup.statsfd >= 0)
		close(v->sup.statsfd);
	v->sup.statsfd = -1;
	for (i = 0; i < DEV_MAX_SLOTS; i++) {
		if (v->sup.slot[i] >= 0)
			close(v->sup.slot[i]);
		v->sup.slot[i] = -1;
	}
}

static void died(struct vpci *v);

/*
 * With the lock held: a new backend did not take over (rc).  One that
 * runs is killed and counted when reaped; one that never ran (its binary
 * is gone, say) is counted now.
 */
static void
not_taken(struct vpci *v, int rc)
{
	if (v->sup.bp.pid > 0) {
		kill(v->sup.bp.pid, SIGKILL);
		return;
	}
	snprintf(v->sup.last_exit, sizeof(v->sup.last_exit),
	    "could not be started: %s", strerror(-rc));
	died(v);
}

/* With the lock held: a new backend serves the device. */
static void
taken(struct vpci *v)
{
	v->sup.down = false;
	v->sup.restarts++;
	if (v->sup.failed)
		revived(v);
}

/* With the device lock held: a new backend, given the running device. */
static void
restart(struct vpci *v)
{
	long long t0 = now_ms();
	int rc;

	if ((rc = start(v)) < 0) {
		not_taken(v, rc);
		return;
	}
	if ((rc = vpci_replay(v, NULL)) < 0) {
		hlog("%s: the new backend (pid %d) refused the device's state; "
		    "killing it", v->name, (int)v->sup.bp.pid);
		not_taken(v, rc);
		return;
	}
	taken(v);
	hlog("%s: backend restarted: pid %d, %lld ms, restart %d", v->name,
	    (int)v->sup.bp.pid, now_ms() - t0, v->sup.restarts);
}

static void
on_timer(int fd, void *arg)
{
	struct vpci *v = arg;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&v->vm->dev_lock);
	v->sup.next_try = 0;
	if (v->sup.down)
		restart(v);
	pthread_mutex_unlock(&v->vm->dev_lock);
}

/* With the lock held: the next try in ms from now; ms < 0: none. */
static void
try_later(struct vpci *v, long long ms)
{
	struct itimerspec it;

	memset(&it, 0, sizeof(it));
	v->sup.next_try = 0;
	if (ms >= 0) {
		/* An it_value of 0 would disarm the timer. */
		it.it_value.tv_sec = ms / 1000;
		it.it_value.tv_nsec = (ms % 1000) * 1000000L + 1;
		v->sup.next_try = now_ms() + ms;
	}
	if (v->sup.timer < 0 && ms >= 0) {
		v->sup.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
		    TFD_NONBLOCK);
		if (v->sup.timer < 0 || evloop_add(v->sup.timer, on_timer, v) < 0) {
			hlog("%s: no timer for a delayed restart (%s); "
			    "restarting now", v->name, strerror(errno));
			if (v->sup.timer >= 0)
				close(v->sup.timer);
			v->sup.timer = -1;
			v->sup.next_try = 0;
			restart(v);
			return;
		}
	}
	if (v->sup.timer >= 0)
		timerfd_settime(v->sup.timer, 0, &it, NULL);
}

/* A backend killed by its seccomp filter left the syscall in its
 * counters page: name it. */
static bool
seccomp_culprit(struct vpci *v)
{
	uint64_t nr;
	char *name;

	if (v->sup.stats == NULL || (nr = v->sup.stats->seccomp_nr) == 0)
		return false;
	v->sup.stats->seccomp_nr = 0;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr - 1);
	snprintf(v->sup.last_exit, sizeof(v->sup.last_exit), "killed by seccomp: %s",
	    name ? name : "an unknown syscall");
	free(name);
	return true;
}

/*
 * With the lock held: v's backend is gone (last_exit says why).  The
 * first death restarts at once, repeated ones back off; past restart.max
 * in restart.window the device fails and is tried every restart.retry s.
 */
static void
died(struct vpci *v)
{
	long long now = now_ms(), delay;
	char why[200];

	v->sup.down = true;
	if (now - v->sup.window_start > (long long)window_ms) {
		v->sup.window_start = now;
		v->sup.recent = 0;
	}
	if ((uint64_t)++v->sup.recent > restart_max) {
		if (!v->sup.failed) {
			snprintf(why, sizeof(why), "backend died %d times in "
			    "%llu s; giving up (device failed; see "
			    "restart.max)", v->sup.recent,
			    (unsigned long long)(window_ms / 1000));
			fail(v, why);
		}
		if (retry_ms == 0) {
			hlog("%s: failed until hyvectl restart "
			    "(restart.retry=0)", v->name);
			return;
		}
		hlog("%s: next try in %llu s (restart.retry), or at once "
		    "with hyvectl restart", v->name,
		    (unsigned long long)(retry_ms / 1000));
		try_later(v, (long long)retry_ms);
		return;
	}
	delay = v->sup.recent == 1 ? 0 :
	    (long long)SUP_BACKOFF_MS << (v->sup.recent - 2);
	if (delay > SUP_BACKOFF_MAX_MS)
		delay = SUP_BACKOFF_MAX_MS;
	if (delay == 0)
		restart(v);
	else {
		hlog("%s: restarting in %lld ms", v->name, delay);
		try_later(v, delay);
	}
}

static void
on_exit_fd(int fd, void *arg)
{
	struct vpci *v = arg;
	pid_t pid = v->sup.bp.pid;
	bool seccomp;

	evloop_del(fd);
	v->sup.last_pid = pid;
	if (backend_reap(&v->sup.bp, v->sup.last_exit, sizeof(v->sup.last_exit)) < 0)
		snprintf(v->sup.last_exit, sizeof(v->sup.last_exit), "went away");
	/* A seccomp death explains a hang-up the frontend saw as well. */
	seccomp = seccomp_culprit(v);
	pthread_mutex_lock(&v->vm->dev_lock);
	if (!seccomp && v->vu.why[0] != '\0')
		snprintf(v->sup.last_exit, sizeof(v->sup.last_exit), "killed: it %s",
		    v->vu.why);
	if (vuf_peer_open(&v->vu))
		strncat(v->sup.last_exit, "; its socket stayed open in a process "
		    "it forked or passed it to", sizeof(v->sup.last_exit) -
		    strlen(v->sup.last_exit) - 1);
	vuf_close(&v->vu);
	hlog("backend %s (pid %d) %s", v->name, (int)pid, v->sup.last_exit);
	died(v);
	pthread_mutex_unlock(&v->vm->dev_lock);
}

/* --- on request ----------------------------------------------------------- */

static struct vpci *
find(const char *name)
{
	int i;

	for (i = 0; i < ndevs; i++)
		if (strcmp(devs[i]->name, name) == 0)
			return devs[i];
	return NULL;
}

/* Whether swap --opt (given: not NULL) fits v's class; else err says why. */
static int
swap_target_ok(struct vpci *v, const char *opt, const char *given, char *err,
    size_t len)
{
	const struct devclass *c = devclass_by_swap(opt);

	if (given == NULL || (v->cls->swap_opt != NULL &&
	    strcmp(v->cls->swap_opt, opt) == 0))
		return 0;
	snprintf(err, len, "%s is not a %s: --%s is for %s", v->name,
	    c ? c->noun : "device", opt, c ? c->pe.name : "no device");
	return -EINVAL;
}

/* With the lock held: replace fd and binary, then start and replay. */
static int
swap_locked(struct vpci *v, const struct sup_swap *sw, char *err, size_t len)
{
	const struct devclass *c = v->cls;
	uint16_t bases[VPCI_MAX_QUEUES];
	uint8_t cfg[VPCI_DEVCFG_SIZE];
	const char *target = sw->path ? sw->path : sw->tap;
	bool stopped = false;
	int fd = -1, rc;

	if (!v->sup.spawned) {
		snprintf(err, len, "%s is served by a backend hyve did not "
		    "start; it cannot be swapped", v->name);
		return -EINVAL;
	}
	if ((rc = swap_target_ok(v, "path", sw->path, err, len)) < 0 ||
	    (rc = swap_target_ok(v, "tap", sw->tap, err, len)) < 0)
		return rc;
	/* Once sealed, the monitor checked it when the request came by. */
	if (sw->binary && !spawner_sealed() && access(sw->binary, X_OK) < 0) {
		snprintf(err, len, "%s: %s", sw->binary, strerror(errno));
		return -ENOENT;
	}
	if (target != NULL && (fd = c->reopen(v, target, err, len)) < 0)
		return fd;
	/* Stop the rings where the old backend is; it finishes what it has. */
	if (vpci_backend_ok(v) && vpci_stop_rings(v, bases) == 0)
		stopped = true;
	vuf_close(&v->vu);
	if (v->sup.bp.pidfd >= 0)
		evloop_del(v->sup.bp.pidfd);
	backend_stop(&v->sup.bp);
	if (fd >= 0) {
		close(v->sup.slot[0]);
		v->sup.slot[0] = fd;
	}
	if (sw->binary) {
		snprintf(v->sup.bp.path, sizeof(v->sup.bp.path), "%s", sw->binary);
		free(v->sup.argv[0]);
		v->sup.argv[0] = strdup(sw->binary);
	}
	v->sup.down = true;
	v->sup.recent = 0;
	try_later(v, -1);
	v->vu.why[0] = '\0';
	if ((rc = start(v)) < 0 || (rc = vpci_replay(v, stopped ? bases :
	    NULL)) < 0) {
		if (v->vu.why[0] != '\0')
			snprintf(err, len, "%s: the new backend %s; see the log",
			    v->name, v->vu.why);
		else
			snprintf(err, len, "%s: the new backend did not take "
			    "over (%s); see the log", v->name, strerror(-rc));
		not_taken(v, rc);
		return rc;
	}
	taken(v);
	memcpy(cfg, v->devcfg, sizeof(cfg));
	if (c->cfg_len > 0 && vuf_get_config(&v->vu, 0, v->devcfg,
	    c->cfg_len) == 0 && c->cfg_changed != NULL &&
	    c->cfg_changed(v->name, cfg, v->devcfg))
		vpci_config_changed(v);
	hlog("%s: backend swapped: pid %d, %s%s%s%s%s", v->name, (int)v->sup.bp.pid,
	    v->sup.bp.path, target ? ", " : "", target ? c->slots[0] : "",
	    target ? " " : "", target ? target : "");
	return 0;
}

int
sup_swap(const char *name, const struct sup_swap *sw, char *err, size_t len)
{
	struct vpci *v = find(name);
	int rc;

	if (v == NULL) {
		snprintf(err, len, "no device named %s", name);
		return -ENOENT;
	}
	pthread_mutex_lock(&v->vm->dev_lock);
	rc = swap_locked(v, sw, err, len);
	pthread_mutex_unlock(&v->vm->dev_lock);
	return rc;
}

pid_t
sup_pid(const char *name)
{
	struct vpci *v = find(name);

	return v ? v->sup.bp.pid : -1;
}

void
sup_heartbeat(void)
{
	int i;

	for (i = 0; i < ndevs; i++) {
		struct vpci *v = devs[i];

		/* One that does not answer is dropped (on_broken). */
		pthread_mutex_lock(&v->vm->dev_lock);
		if (vpci_backend_ok(v))
			vuf_ping(&v->vu);
		pthread_mutex_unlock(&v->vm->dev_lock);
	}
}

void
sup_foreach(void (*fn)(struct vpci *v, void *arg), void *arg)
{
	int i;

	for (i = 0; i < ndevs; i++)
		fn(devs[i], arg);
}

long long
sup_next_try(const struct vpci *v)
{
	long long ms;

	if (v->sup.next_try == 0)
		return -1;
	ms = v->sup.next_try - now_ms();
	return ms < 0 ? 0 : ms;
}

const char *
sup_state(const struct vpci *v)
{
	if (v->sup.failed)
		return "failed";
	if (v->sup.down)
		return "restarting";
	if (v->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return "needs-reset";
	return "running";
}
