/*
 * hyvectl upgrade (core/upgrade.h, docs/UPGRADE.md): the old core's
 * handover, the new core's taking over, and the first core's wait.
 *
 * The handover socket (a stream the monitor made) carries, old to new:
 * 'F' bytes each with up to FDS_PER_MSG descriptors, 'E', then the state
 * (snapshot header and body).  New to old: 'R' (ready) or 'X' and a line
 * (refused).  Old to new: 'G' (go); anything else, or nothing within the
 * deadline, and the new core ends without having touched a backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "core/control.h"
#include "core/devices.h"
#include "core/devstate.h"
#include "core/evloop.h"
#include "core/ramfill.h"
#include "core/snapshot.h"
#include "core/spawner.h"
#include "core/supervisor.h"
#include "core/upgrade.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "core/vmsnap.h"
#include "lib/log.h"
#include "lib/util.h"

#define PAUSE_TIMEOUT_MS	5000
#define FDS_PER_MSG		64
/* How long a ready new core waits for the old one's word. */
#define GO_TIMEOUT_MS		60000
/* How long the old core waits, after the go, for the new one to run. */
#define RUNNING_TIMEOUT_MS	2000

static struct {
	/* the old side */
	bool		done;		/* handed over: retire */
	bool		first;		/* the core hyve started: it waits */
	int		anchor;		/* the first core's channel */
	pid_t		next;
	/* the new side */
	bool		upgrading;
	int		hv;
	struct snap	s;
	int		n;
	int		fds[UPG_MAXFDS];
	struct upg_fd	tab[UPG_MAXFDS];
	/* the new core's phases, for its log line */
	int		nmarks;
	const char	*mark[12];
	long long	at[12];
} up = { .first = true, .anchor = -1, .hv = -1 };

void
upg_mark(const char *what)
{
	if (up.upgrading && up.nmarks < 12) {
		up.mark[up.nmarks] = what;
		up.at[up.nmarks++] = now_ms();
	}
}

/* "configuration 3, vm 120, ...": each phase of the new core's start. */
void
upgrade_running(void)
{
	char buf[256];
	size_t o = 0;

	upg_mark("vcpus");
	/* The old core ends once this is closed (wait_running). */
	if (up.hv >= 0)
		close(up.hv);
	up.hv = -1;
	for (int i = 1; i < up.nmarks && o < sizeof(buf); i++)
		o += snprintf(buf + o, sizeof(buf) - o, "%s%s %lld",
		    i > 1 ? ", " : "", up.mark[i], up.at[i] - up.at[i - 1]);
	if (up.nmarks > 1)
		hlog("upgrade: the new core's phases (ms): %s", buf);
}

int
upg_give(struct upg_out *o, int fd, uint32_t kind, uint32_t inst,
    int32_t slot)
{
	if (fd < 0)
		return 0;
	if (o->n == UPG_MAXFDS)
		return -ENOSPC;
	o->fds[o->n] = fd;
	o->tab[o->n++] = (struct upg_fd){ .kind = kind, .inst = inst,
	    .slot = slot };
	return 0;
}

/* --- the old core ---------------------------------------------------------- */

/* What the new core cannot open, besides KVM and the RAM (prepare): the
 * first core's channel and every backend's descriptors; and the table
 * saying which is which. */
static int
collect(struct upg_out *o, int *ach)
{
	int rc;

	if (up.first && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    ach) < 0)
		return -errno;
	int64_t start = control_started();

	if ((rc = upg_give(o, up.first ? ach[1] : up.anchor, UPG_ANCHOR, 0,
	    0)) < 0 || (rc = sup_handover(o)) < 0 ||
	    (rc = uart_handover(o)) < 0 ||
	    (rc = snap_add(o->s, SNAP_UPG_START, 0, &start, sizeof(start))) < 0)
		return rc;
	return snap_add(o->s, SNAP_UPG_FDS, 0, o->tab, o->n * sizeof(o->tab[0]));
}

static int
send_fds(int hv, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))], c = 'F';
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	return sendmsg(hv, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* Writes len bytes by the deadline (hv is non-blocking). */
static int
put(int hv, const void *buf, size_t len, long long deadline)
{
	const char *p = buf;
	struct pollfd pf = { .fd = hv, .events = POLLOUT };
	ssize_t n;

	while (len > 0) {
		long long left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, left) < 0 && errno != EINTR)
			return -errno;
		n = send(hv, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int
hand_over(int hv, struct upg_out *o, long long deadline)
{
	struct snap_header h;
	int rc;

	for (int i = 0; i < o->n; i += FDS_PER_MSG)
		if ((rc = send_fds(hv, o->fds + i, o->n - i < FDS_PER_MSG ?
		    o->n - i : FDS_PER_MSG)) < 0)
			return rc;
	if (o->s->err < 0)
		return o->s->err;
	snap_header_make(o->s, &h);
	if (fcntl(hv, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	if ((rc = put(hv, "E", 1, deadline)) < 0 ||
	    (rc = put(hv, &h, sizeof(h), deadline)) < 0)
		return rc;
	return put(hv, o->s->buf, o->s->len, deadline);
}

/*
 * The new core closes its end once its vCPUs run.  Until then this core
 * leaves the CPU to it: its own end (the teardown of its KVM VM and
 * mappings) would otherwise come first on a busy host and lengthen the
 * pause.  Bounded: a new core that hangs must not hold this one.
 */
static void
wait_running(int hv)
{
	struct pollfd pf = { .fd = hv, .events = POLLIN };
	long long deadline = now_ms() + RUNNING_TIMEOUT_MS;
	ssize_t n;
	char c;

	for (;;) {
		long long left = deadline - now_ms();

		if (left <= 0 || (poll(&pf, 1, left) < 0 && errno != EINTR))
			return;
		n = recv(hv, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* The new core's answer: want ('P' prepared, 'R' ready), or why not in
 * err. */
static int
wait_answer(int hv, pid_t pid, char want, int timeout_ms, long long deadline,
    char *err, size_t errlen)
{
	struct pollfd pf = { .fd = hv, .events = POLLIN };
	char buf[256];
	ssize_t n;

	for (;;) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			snprintf(err, errlen, "the new core (pid %d) did not "
			    "report ready within %d ms", (int)pid, timeout_ms);
			return -ETIMEDOUT;
		}
		if (poll(&pf, 1, left) <= 0)
			continue;
		n = recv(hv, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == 1 && buf[0] == want)
			return 0;
		if (n > 1 && buf[0] == 'X') {
			buf[n] = '\0';
			snprintf(err, errlen, "the new core (pid %d) refused: %s",
			    (int)pid, buf + 1);
			return -EPROTO;
		}
		snprintf(err, errlen, "the new core (pid %d) ended before it "
		    "was ready (its log lines say why)", (int)pid);
		return -ECHILD;
	}
}

static void
upg_sent_error(int rc, pid_t pid, char *err, size_t errlen)
{
	if (rc == -EPIPE || rc == -ECONNRESET)
		snprintf(err, errlen, "the new core (pid %d) ended before it "
		    "was ready (its log lines say why)", (int)pid);
	else
		snprintf(err, errlen, "handing over to the new core (pid %d): "
		    "%s", (int)pid, strerror(-rc));
}

/* While the guest runs: /dev/kvm, the RAM and the configuration, from
 * which the new core builds its VM and vCPUs before the pause. */
static int
prepare(struct vm *vm, int hv, long long deadline)
{
	struct upg_out *o;
	struct snap s;
	int rc;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return -ENOMEM;
	snap_init(&s);
	o->s = &s;
	if ((rc = upg_give(o, vm->kvm_fd, UPG_KVM, 0, 0)) == 0 &&
	    (rc = upg_give(o, vm->mem_fd, UPG_MEM, 0, 0)) == 0 &&
	    (rc = vmsnap_save_config(&s)) == 0 &&
	    (rc = snap_add(&s, SNAP_UPG_FDS, 0, o->tab,
	    o->n * sizeof(o->tab[0]))) == 0)
		rc = hand_over(hv, o, deadline);
	snap_free(&s);
	free(o);
	return rc;
}

int
upgrade_run(struct vm *vm, const char *binary, int timeout_ms,
    struct upg_result *res, char *err, size_t errlen)
{
	long long asked, started, t0, paused, built, sent, ready, deadline;
	struct upg_out *o;
	struct snap s;
	int hv = -1, ach[2] = { -1, -1 }, rc;
	pid_t pid = 0;

	memset(res, 0, sizeof(*res));
	if (up.done || __atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST)) {
		snprintf(err, errlen, "the VM is ending");
		return -EBUSY;
	}
	if (ramfill_busy()) {
		snprintf(err, errlen, "the VM's RAM is still being restored "
		    "from its snapshot; upgrade once the log says \"RAM "
		    "restored\"");
		return -EBUSY;
	}
	if (ramfill_shared()) {
		snprintf(err, errlen, "the VM's RAM is served from its snapshot's "
		    "file for as long as it runs (memory.share_snapshot); this "
		    "core cannot hand that over");
		return -EOPNOTSUPP;
	}
	if ((rc = sup_upgrade_check(err, errlen)) < 0)
		return rc;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return -ENOMEM;
	snap_init(&s);
	o->s = &s;
	/* The new process starts (exec, the loader, its main) while the
	 * guest still runs; it waits for the handover. */
	asked = now_ms();
	if ((rc = spawner_upgrade(binary, &pid, &hv)) < 0) {
		snprintf(err, errlen, "cannot start the new core %s: %s",
		    binary ? binary : "(hyve's own binary)", strerror(-rc));
		hlog("%s: upgrade failed: %s; the VM runs on", vm->name, err);
		free(o);
		return rc;
	}
	started = now_ms();
	deadline = started + timeout_ms;
	if ((rc = prepare(vm, hv, deadline)) < 0) {
		upg_sent_error(rc, pid, err, errlen);
		goto fail;
	}
	if ((rc = wait_answer(hv, pid, 'P', timeout_ms, deadline, err,
	    errlen)) < 0)
		goto fail;
	t0 = now_ms();
	if ((rc = vcpus_pause(vm, PAUSE_TIMEOUT_MS)) < 0) {
		snprintf(err, errlen, "the vCPUs did not stop within %d ms",
		    PAUSE_TIMEOUT_MS);
		goto fail;
	}
	paused = now_ms();
	/* Console input (a key, a client connecting) waits for whichever
	 * core goes on; the consoles' state holds still. */
	uart_stop_input(vm);
	if ((rc = vmsnap_build(vm, &s, false)) < 0) {
		snprintf(err, errlen, "reading the VM's state failed: %s (see "
		    "the VM's log)", strerror(-rc));
		goto fail;
	}
	if ((rc = collect(o, ach)) < 0) {
		snprintf(err, errlen, "collecting what to hand over: %s",
		    strerror(-rc));
		goto fail;
	}
	built = now_ms();
	if ((rc = hand_over(hv, o, deadline)) < 0) {
		upg_sent_error(rc, pid, err, errlen);
		goto fail;
	}
	sent = now_ms();
	if ((rc = wait_answer(hv, pid, 'R', timeout_ms, deadline, err,
	    errlen)) < 0)
		goto fail;
	ready = now_ms();
	/* Go first: once the monitor serves the new core, there is no way
	 * back.  A new core that dies here has lost the VM either way. */
	if (send(hv, "G", 1, MSG_NOSIGNAL) != 1) {
		snprintf(err, errlen, "the new core (pid %d) went away when it "
		    "was ready", (int)pid);
		rc = -ECHILD;
		goto fail;
	}
	if ((rc = spawner_commit()) < 0)
		hlog("upgrade: the monitor did not take the new core: %s",
		    strerror(-rc));
	res->handover_ms = now_ms() - t0;
	if (up.first) {
		close(ach[1]);
		up.anchor = ach[0];
	}
	/* Nothing else of this core's may run now: a heartbeat or a restart
	 * would talk to a backend the new core talks to. */
	evloop_hold();
	up.done = true;
	up.next = pid;
	res->old_pid = getpid();
	res->pid = pid;
	hlog("upgrade: %lld ms to hand over: pause %lld, state %lld, send "
	    "%lld, new core ready %lld, go %lld (spawn %lld, prepare %lld "
	    "before)", res->handover_ms, paused - t0, built - paused,
	    sent - built, ready - sent, t0 + res->handover_ms - ready,
	    started - asked, t0 - started);
	wait_running(hv);
	close(hv);
	snap_free(&s);
	free(o);
	return 0;
fail:
	if (pid > 0) {
		/* The tenant's like us (the monitor may not signal it); the
		 * first core, its parent, reaps it. */
		kill(pid, SIGKILL);
		spawner_abort();
		if (up.first)
			waitpid(pid, NULL, 0);
	}
	if (hv >= 0)
		close(hv);
	if (ach[0] >= 0) {
		close(ach[0]);
		close(ach[1]);
	}
	if (vpci_resume(vm, &s) < 0)
		hlog("upgrade: a device's backend could not start its rings "
		    "again (see above)");
	if (uart_start_input(vm) < 0)
		hlog("upgrade: a console takes no input (see above)");
	snap_free(&s);
	free(o);
	vcpus_resume(vm);	/* also after a pause that timed out */
	hlog("%s: upgrade failed: %s; the VM runs on", vm->name, err);
	return rc;
}

bool
upgrade_done(void)
{
	return up.done;
}

/* The first core's word to the core of the moment: a backend it reaped. */
struct upg_reaped {
	int32_t	pid, status;
};

/* The newest core's pid, when a later core named one. */
static void
read_anchor(pid_t *cur)
{
	pid_t p;

	while (recv(up.anchor, &p, sizeof(p), MSG_DONTWAIT) == sizeof(p))
		*cur = p;
}

/* The new core's side of the first core's channel. */
static void
on_anchor(int fd, void *arg)
{
	struct upg_reaped r;

	(void)arg;
	while (recv(fd, &r, sizeof(r), MSG_DONTWAIT) == sizeof(r))
		sup_reaped(r.pid, r.status);
}

static void __attribute__((noreturn))
exit_as(int status)
{
	uart_restore_tty();
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		raise(WTERMSIG(status));
	}
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_ERROR);
}

/* Lets go of the VM: no vCPU page, no RAM, no descriptor but those kept. */
static void
let_go(struct vm *vm, int keep1, int keep2)
{
	struct rlimit rl = { 1024, 1024 };

	uart_stop_input(vm);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].run != NULL)
			munmap(vm->vcpus[i].run, vm->vcpus[i].run_size);
	munmap(vm->mem, vm->mem_size);
	getrlimit(RLIMIT_NOFILE, &rl);
	for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
		if (fd != keep1 && fd != keep2)
			close(fd);
}

/*
 * The first core stays, holding the VM's place for whoever started hyve:
 * it passes on the signals it is sent, reaps what ends (every backend and
 * core is its child), and exits as the last core does.
 */
void
upgrade_retire(struct vm *vm, int sfd)
{
	pid_t cur = up.next, p;
	int status;

	if (!up.first) {
		/* The first core learns who runs the VM now. */
		if (send(up.anchor, &up.next, sizeof(up.next), MSG_NOSIGNAL) < 0)
			hlog("upgrade: telling the first core: %s",
			    strerror(errno));
		_exit(0);
	}
	hlog("%s: the core is pid %d now; this one waits for the VM's end",
	    vm->name, (int)cur);
	let_go(vm, sfd, up.anchor);
	for (;;) {
		struct pollfd pf[2] = { { .fd = sfd, .events = POLLIN },
		    { .fd = up.anchor, .events = POLLIN } };
		struct signalfd_siginfo si;

		poll(pf, 2, 1000);
		read_anchor(&cur);
		/* A signal from the terminal reached the whole group;
		 * SIGCHLD only wakes us to reap. */
		if ((pf[0].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_code != SI_KERNEL && si.ssi_signo != SIGCHLD)
			kill(cur, si.ssi_signo);
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			struct upg_reaped r = { p, status };

			read_anchor(&cur);
			if (p == cur)
				exit_as(status);
			/* A backend, or a core that handed over or failed. */
			send(up.anchor, &r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (p < 0 && errno == ECHILD)
			exit(EXIT_ERROR);
	}
}

/* --- the new core ---------------------------------------------------------- */

bool
upgrading(void)
{
	return up.upgrading;
}

/* One line to the old core, which reports it. */
static void
refuse(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	buf[0] = 'X';
	va_start(ap, fmt);
	vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	hlog("upgrade: %s", buf + 1);
	if (send(up.hv, buf, strlen(buf), MSG_NOSIGNAL) < 0)
		hlog("upgrade: the old core is gone");
}

static int
recv_fds(int fd, char *type)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { type, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	if ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) != 1)
		return n < 0 ? -errno : -EPIPE;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		int k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (up.n + k > UPG_MAXFDS)
			return -E2BIG;
		memcpy(up.fds + up.n, CMSG_DATA(c), k * sizeof(int));
		up.n += k;
	}
	return 0;
}

/* The state's format must be one this binary reads. */
static int
check_version(int fd)
{
	struct snap_header h;

	if (recv(fd, &h, sizeof(h), MSG_PEEK | MSG_WAITALL) != sizeof(h))
		return -EPIPE;
	if (memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic)) == 0 &&
	    (h.version < SNAP_VERSION_MIN || h.version > SNAP_VERSION)) {
		refuse("the old core wrote state version %u; this binary reads "
		    "%s only", h.version, snap_versions());
		return -EINVAL;
	}
	return 0;
}

/* One part of the handover: descriptors, then a state whose table says
 * what each one is. */
static int
receive(struct snap *s)
{
	const struct upg_fd *tab;
	int n0 = up.n, rc;
	size_t len;
	char t = 'F';

	while (t == 'F')
		if ((rc = recv_fds(up.hv, &t)) < 0) {
			hlog("upgrade: the handover broke off: %s", strerror(-rc));
			return rc;
		}
	if (t != 'E')
		return -EPROTO;
	if ((rc = check_version(up.hv)) < 0 ||
	    (rc = snap_recv(s, up.hv, "upgrade: the old core's state")) < 0)
		return rc;
	tab = snap_find(s, SNAP_UPG_FDS, 0, &len);
	if (tab == NULL || len != (up.n - n0) * sizeof(*tab)) {
		refuse("%d descriptors came with a table of %zu", up.n - n0,
		    tab ? len / sizeof(*tab) : 0);
		return -EPROTO;
	}
	memcpy(up.tab + n0, tab, len);
	return 0;
}

int
upgrade_receive(int fd)
{
	struct snap s;
	int rc;

	up.upgrading = true;
	up.first = false;
	up.hv = fd;
	upg_mark("started");
	snap_init(&s);
	if ((rc = receive(&s)) == 0)
		rc = vmsnap_config_from(&s, "upgrade: the old core's "
		    "configuration");
	snap_free(&s);
	upg_mark("configuration");
	return rc;
}

/*
 * This binary's pages mapped now, while the guest runs: a fresh process
 * faults its code in page by page as it first runs it, and in the pause it
 * runs much of it for the first time (each fault a costly exit under
 * nested virtualisation).  Best effort: a kernel before 5.14 has no
 * MADV_POPULATE_READ, and then the faults come as before.
 */
static int
populate(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + p->p_vaddr, b = a + p->p_memsz;

		if (p->p_type == PT_LOAD && p->p_memsz > 0)
			madvise((void *)(a & ~4095ul), ((b + 4095) & ~4095ul) -
			    (a & ~4095ul), MADV_POPULATE_READ);
	}
	return 1;	/* the executable only */
}

int
upgrade_prepared(void)
{
	int rc;

	dl_iterate_phdr(populate, NULL);
	upg_mark("vm");
	if (send(up.hv, "P", 1, MSG_NOSIGNAL) != 1)
		return -EPIPE;
	if ((rc = receive(&up.s)) < 0)
		return rc;
	up.anchor = upg_take(UPG_ANCHOR, 0, 0);
	upg_mark("state");
	return 0;
}

int
upg_take(uint32_t kind, uint32_t inst, int32_t slot)
{
	for (int i = 0; i < up.n; i++)
		if (up.fds[i] >= 0 && up.tab[i].kind == kind &&
		    up.tab[i].inst == inst && up.tab[i].slot == slot) {
			int fd = up.fds[i];

			up.fds[i] = -1;
			return fd;
		}
	return -1;
}

const struct snap *
upg_state(void)
{
	return &up.s;
}

int64_t
upg_started(void)
{
	const void *t = snap_find(&up.s, SNAP_UPG_START, 0, NULL);
	struct timespec now;
	int64_t v;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (t == NULL)
		return now.tv_sec;
	memcpy(&v, t, sizeof(v));
	return v;
}

int
upgrade_load(struct vm *vm)
{
	int rc = vmsnap_load(vm, &up.s, true);

	upg_mark("load");
	if (rc < 0)
		refuse("it could not load the VM's state (its log says why)");
	return rc;
}

int
upgrade_ready(struct vm *vm)
{
	struct pollfd pf = { .fd = up.hv, .events = POLLIN };
	char c = 0;
	int rc;

	upg_mark("sandbox");
	if (send(up.hv, "R", 1, MSG_NOSIGNAL) != 1 ||
	    poll(&pf, 1, GO_TIMEOUT_MS) != 1 || recv(up.hv, &c, 1, 0) != 1 ||
	    c != 'G') {
		/* The old core runs the VM: leave everything as it is. */
		hlog("upgrade: the old core goes on; this one ends");
		_exit(EXIT_ERROR);
	}
	upg_mark("go");
	if (up.anchor >= 0)
		evloop_add(up.anchor, on_anchor, NULL);
	/* A device whose backend cannot start again is marked needing a
	 * reset (and its backend restarted): the VM goes on. */
	if (uart_start_input(vm) < 0)
		hlog("upgrade: a console takes no input (see above)");
	if ((rc = vpci_start(vm, &up.s)) < 0)
		hlog("upgrade: a device did not start again: %s (see above)",
		    strerror(-rc));
	upg_mark("rings");
	for (int i = 0; i < up.n; i++)
		if (up.fds[i] >= 0)
			close(up.fds[i]);
	up.n = 0;
	snap_free(&up.s);
	hlog("%s: upgraded: this core (pid %d) runs the VM", vm->name,
	    (int)getpid());
	return 0;
}
