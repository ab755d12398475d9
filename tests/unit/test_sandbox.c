/*
 * sandbox_enter and the audit.  Every case forks a child that confines
 * itself, tries things, and reports "FAIL ..." lines and a final "DONE"
 * through a pipe it keeps; its stderr comes back through another pipe so
 * the SIGSYS report can be checked.  Checks that need syscalls the filter
 * forbids run in the pre_filter hook, after every other step.
 */
#include <errno.h>
#include <grp.h>
#include <sys/mount.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <liburing.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/securebits.h>

#include "backends/blk/blk.h"
#include "backends/net/net.h"
#include "backends/rnd/rnd.h"
#include "backends/vsock/vsock.h"
#include "backends/balloon/balloon.h"
#include "core/devclass.h"
#include "sandbox/sandbox.h"

#define NOBODY	65534

struct run {
	pid_t pid;
	int rep, err, ctl;	/* parent ends: report, stderr, control */
	int status;
	char out[4096];
	char errs[8192];
	size_t nout, nerr;
};

/* What the child does; fds[] were opened in the child before entering. */
struct spec {
	const struct sandbox_row *role;
	struct sandbox_opts o;
	void (*setup)(int *fds, int *nfds);	/* before sandbox_enter */
	void (*pre)(void);			/* before the filter */
	void (*body)(void);			/* confined */
	bool wait_ctl;				/* block until the parent says */
};

/* The child's state: one child per fork, so globals are fine there. */
static int rep = -1, ctl = -1;
static int cfds[8], ncfds;

/* exit_group directly: ASan's _exit would call sigaltstack, forbidden.
 * Inlined: ASan's check before a call to a noreturn function calls it
 * too. */
static inline __attribute__((noreturn, always_inline)) void
quit(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

static void
say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	if (write(rep, buf, n) < 0)
		quit(4);
}

#define CHECK(c) do { \
	if (!(c)) \
		say("FAIL line %d: %s (errno %d %s)\n", __LINE__, #c, errno, \
		    strerror(errno)); \
} while (0)

static void
pre_hook(void *arg)
{
	void (*pre)(void) = (void (*)(void))(uintptr_t)arg;

	pre();
}

static __attribute__((noreturn)) void
child(const struct spec *s, int repw, int errw, int ctlr)
{
	struct sandbox_opts o = s->o;
	int keep[12], n = 0, rc;

	rep = repw;
	ctl = ctlr;
	if (dup2(errw, 2) < 0)
		quit(5);
	close(errw);
	keep[n++] = rep;
	keep[n++] = ctl;
	ncfds = 0;
	if (s->setup != NULL)
		s->setup(cfds, &ncfds);
	for (int i = 0; i < ncfds; i++)
		keep[n++] = cfds[i];
	if (s->pre != NULL) {
		o.pre_filter = pre_hook;
		o.arg = (void *)(uintptr_t)s->pre;
	}
	rc = sandbox_enter(s->role, keep, n, &o);
	if (rc < 0) {
		say("FAIL sandbox_enter: %d\n", rc);
		quit(3);
	}
	if (s->wait_ctl) {
		char c;

		say("READY\n");
		while (read(ctl, &c, 1) > 0)
			;
	}
	if (s->body != NULL)
		s->body();
	say("DONE\n");
	quit(0);
}

static void
start(const struct spec *s, struct run *r)
{
	int rp[2], ep[2], cp[2];

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	assert_int_equal(pipe2(cp, O_CLOEXEC), 0);
	fflush(NULL);
	/* As hyve starts a backend: the init of a PID namespace of its own. */
	r->pid = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
	if (r->pid < 0)
		r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		close(rp[0]);
		close(ep[0]);
		close(cp[1]);
		child(s, rp[1], ep[1], cp[0]);
	}
	close(rp[1]);
	close(ep[1]);
	close(cp[0]);
	r->rep = rp[0];
	r->err = ep[0];
	r->ctl = cp[1];
}

/* Reads both pipes until the report has `until` in it, or both end. */
static void
collect(struct run *r, const char *until)
{
	struct pollfd p[2] = { { r->rep, POLLIN, 0 }, { r->err, POLLIN, 0 } };
	int open = 2;

	while (open > 0) {
		if (until != NULL && strstr(r->out, until) != NULL)
			return;
		assert_true(poll(p, 2, 20000) > 0);
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? r->out : r->errs;
			size_t *n = i == 0 ? &r->nout : &r->nerr;
			size_t cap = i == 0 ? sizeof(r->out) : sizeof(r->errs);
			ssize_t k;

			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			k = read(p[i].fd, buf + *n, cap - 1 - *n);
			if (k <= 0) {
				p[i].fd = -1;
				open--;
				continue;
			}
			*n += k;
			buf[*n] = '\0';
		}
	}
}

static void
finish(struct run *r)
{
	close(r->ctl);
	collect(r, NULL);
	assert_int_equal(waitpid(r->pid, &r->status, 0), r->pid);
	close(r->rep);
	close(r->err);
}

static void
run(const struct spec *s, struct run *r)
{
	start(s, r);
	finish(r);
}

static void
expect_clean(const struct run *r)
{
	if (strstr(r->out, "FAIL") != NULL || strstr(r->out, "DONE") == NULL ||
	    !WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("child status %#x\nreport:\n%s\nstderr:\n%s", r->status,
		    r->out, r->errs);
}

static void
expect_killed(const struct run *r, const char *name)
{
	char want[96];

	snprintf(want, sizeof(want), "hyve[t0]: killed by seccomp: %s (nr ",
	    name);
	if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGSYS ||
	    strstr(r->errs, want) == NULL || strstr(r->out, "BEFORE") == NULL ||
	    strstr(r->out, "AFTER") != NULL || strstr(r->out, "FAIL") != NULL)
		fail_msg("expected death by SIGSYS naming %s; status %#x\n"
		    "report:\n%s\nstderr:\n%s", name, r->status, r->out, r->errs);
}

/*
 * The sandbox needs unprivileged user namespaces.  If the kernel forbids
 * them, say so and skip, visibly.
 */
static void
need_userns(void)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (getuid() == 0 && (setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0))
			_exit(100);
		_exit(unshare(CLONE_NEWUSER) < 0 ? errno : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0) {
		print_message("SKIPPED: unprivileged user namespaces are not "
		    "available here (%s); enable them (sysctl "
		    "user.max_user_namespaces, kernel.unprivileged_userns_clone) "
		    "to test the sandbox\n", strerror(WEXITSTATUS(st)));
		skip();
	}
}

static const struct sandbox_opts named = { .name = "t0" };

/* --- a confined rnd backend: what it cannot and can still do ---------- */

static void
setup_datapath(int *fds, int *n)
{
	char pattern[4096];
	int efd = eventfd(0, EFD_CLOEXEC);
	int mfd = memfd_create("guest", MFD_CLOEXEC);

	memset(pattern, 0x5a, sizeof(pattern));
	if (efd < 0 || mfd < 0 || write(mfd, pattern, sizeof(pattern)) != 4096)
		_exit(6);
	fds[(*n)++] = efd;
	fds[(*n)++] = mfd;
	/* a file the sandbox must not let us grow (RLIMIT_FSIZE) */
	fds[(*n)++] = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	signal(SIGXFSZ, SIG_IGN);
}

static void
pre_confined(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl;
	struct stat st;
	gid_t groups[4];
	int bits;
	pid_t pid;

	/* an empty root: nothing by path */
	CHECK(open("/etc/passwd", O_RDONLY) < 0 && errno == ENOENT);
	CHECK(access("/proc/self/status", F_OK) < 0 && errno == ENOENT);
	CHECK(access("/dev/null", F_OK) < 0 && errno == ENOENT);
	CHECK(mkdir("/x", 0700) < 0);
	/* nobody, no groups, no way back to root */
	CHECK(getuid() == NOBODY && geteuid() == NOBODY);
	CHECK(getgid() == NOBODY && getegid() == NOBODY);
	CHECK(getgroups(4, groups) == 0);
	CHECK(setuid(0) < 0);
	CHECK(setgid(0) < 0);
	/* no capability in any set */
	memset(d, 0xff, sizeof(d));
	CHECK(syscall(SYS_capget, &h, d) == 0);
	CHECK(d[0].effective == 0 && d[0].permitted == 0 &&
	    d[0].inheritable == 0 && d[1].effective == 0 &&
	    d[1].permitted == 0 && d[1].inheritable == 0);
	CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0);
	CHECK(prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0) == 0);
	CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0,
	    0) == 0);
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	CHECK(bits >= 0 && (bits & SECBIT_NOROOT_LOCKED) &&
	    (bits & SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED));
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
	/* rlimits */
	CHECK(getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur == 0 &&
	    rl.rlim_max == 0);
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
	    rl.rlim_max == 0);
	CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == 0);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 64 &&
	    rl.rlim_max == 64);
	/* no processes even before seccomp */
	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(pid < 0 && errno == EAGAIN);
	/* stdin and stdout are /dev/null, nothing else is open */
	CHECK(fstat(0, &st) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(1, 3));
	CHECK(fstat(1, &st) == 0 && S_ISCHR(st.st_mode));
	for (int fd = 3; fd < 64; fd++) {
		bool kept = fd == rep || fd == ctl;

		for (int i = 0; i < ncfds; i++)
			kept |= fd == cfds[i];
		if (!kept)
			CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	}
}

static void
body_datapath(void)
{
	uint64_t v = 0;
	uint8_t rnd[32], *m;
	char c = 'x';
	void *big;

	/* eventfd kick/call */
	CHECK(write(cfds[0], &(uint64_t){ 5 }, 8) == 8);
	CHECK(read(cfds[0], &v, 8) == 8 && v == 5);
	/* guest memory: a memfd passed in, mapped shared */
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfds[1], 0);
	CHECK(m != MAP_FAILED);
	if (m != MAP_FAILED) {
		CHECK(m[0] == 0x5a && m[4095] == 0x5a);
		m[0] = 0xa5;
		CHECK(munmap(m, 4096) == 0);
	}
	CHECK(getrandom(rnd, sizeof(rnd), 0) == sizeof(rnd));
	/* malloc still works, big blocks come from mmap */
	big = malloc(1 << 20);
	CHECK(big != NULL);
	if (big != NULL)
		memset(big, 1, 1 << 20);
	free(big);
	/* RLIMIT_FSIZE 0: a regular file cannot grow */
	CHECK(write(cfds[2], &c, 1) < 0 && errno == EFBIG);
}

static void
test_rnd_confined(void **state)
{
	struct spec s = { &rnd_sandbox, named, setup_datapath, pre_confined,
	    body_datapath, false };
	struct run r;

	(void)state;
	need_userns();
	run(&s, &r);
	expect_clean(&r);
}

/* --- blk: io_uring on the disk fd, and the file may grow -------------- */

static struct io_uring ring;

static void
setup_blk(int *fds, int *n)
{
	char pattern[8192];

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = i * 7;
	fds[0] = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fds[0] < 0 || pwrite(fds[0], pattern, sizeof(pattern), 0) != 8192 ||
	    io_uring_queue_init(4, &ring, 0) < 0)
		_exit(6);
	fds[1] = ring.ring_fd;
	*n = 2;
}

static void
pre_blk(void)
{
	struct rlimit rl;

	CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 256);
	CHECK(getrlimit(RLIMIT_NPROC, &rl) == 0 &&
	    rl.rlim_max == BLK_NPROC);
}

static void
body_blk(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char buf[4096], w[512];
	bool same = true;

	memset(buf, 0, sizeof(buf));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, cfds[0], buf, sizeof(buf), 4096);
	CHECK(io_uring_submit(&ring) == 1);
	CHECK(io_uring_wait_cqe(&ring, &cqe) == 0);
	CHECK(cqe->res == 4096);
	io_uring_cqe_seen(&ring, cqe);
	for (size_t i = 0; i < sizeof(buf); i++)
		same &= buf[i] == (char)((i + 4096) * 7);
	CHECK(same);
	/* a write punted to io_uring's worker threads, past the end */
	memset(w, 4, sizeof(w));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write(sqe, cfds[0], w, sizeof(w), 12288);
	sqe->flags |= IOSQE_ASYNC;
	CHECK(io_uring_submit(&ring) == 1);
	CHECK(io_uring_wait_cqe(&ring, &cqe) == 0);
	if (cqe->res != sizeof(w))
		say("FAIL async write: %d\n", cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	/* inline I/O: preadv2 and pwritev2, the calls blk makes */
	CHECK(preadv2(cfds[0], &(struct iovec){ buf, 512 }, 1, 12288, 0) ==
	    512 && buf[0] == 4);
	/* the disk grows past its end: blk keeps RLIMIT_FSIZE */
	memset(w, 3, sizeof(w));
	CHECK(pwritev2(cfds[0], &(struct iovec){ w, sizeof(w) }, 1, 8192, 0) ==
	    sizeof(w));
	CHECK(preadv2(cfds[0], &(struct iovec){ buf, 512 }, 1, 8192, 0) ==
	    512 && buf[511] == 3);
	CHECK(fdatasync(cfds[0]) == 0);
	CHECK(fallocate(cfds[0], 0, 0, 16384) == 0);
}

static void
test_blk_io_uring(void **state)
{
	struct spec s = { &blk_sandbox, named, setup_blk, pre_blk, body_blk,
	    false };
	struct run r;

	(void)state;
	need_userns();
	run(&s, &r);
	expect_clean(&r);
}

/* --- net: only the tap ioctls pass the filter -------------------------- */

static void
body_net(void)
{
	unsigned hdr = 12;

	/* allowed requests reach the kernel (a pipe is no tap: ENOTTY) */
	CHECK(ioctl(rep, TUNSETOFFLOAD, 0) < 0 && errno == ENOTTY);
	CHECK(ioctl(rep, TUNSETVNETHDRSZ, &hdr) < 0 && errno == ENOTTY);
	CHECK(fcntl(rep, F_SETFL, O_NONBLOCK) == 0);
	CHECK(fcntl(rep, F_GETFL) & O_NONBLOCK);
}

static void
test_net_ioctls(void **state)
{
	struct spec s = { &net_sandbox, named, NULL, NULL, body_net, false };
	struct run r;

	(void)state;
	need_userns();
	run(&s, &r);
	expect_clean(&r);
}

/* --- forbidden calls kill with SIGSYS and name themselves ------------- */

static void
do_socket(void)
{
	say("BEFORE\n");
	socket(AF_UNIX, SOCK_STREAM, 0);
	say("AFTER\n");
}

static void
do_mmap_exec(void)
{
	say("BEFORE\n");
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	say("AFTER\n");
}

static void
do_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	say("BEFORE\n");
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	say("AFTER\n");
}

static void
do_ioctl(void)
{
	int n;

	say("BEFORE\n");
	ioctl(rep, FIONREAD, &n);
	say("AFTER\n");
}

static void
do_tunsetiff(void)
{
	struct ifreq { char name[16]; short flags; char pad[22]; } ifr = { 0 };

	say("BEFORE\n");
	ioctl(rep, TUNSETIFF, &ifr);
	say("AFTER\n");
}

static void
do_fork(void)
{
	say("BEFORE\n");
	if (fork() == 0)
		_exit(0);
	say("AFTER\n");
}

static void
do_open(void)
{
	say("BEFORE\n");
	open("/etc/passwd", O_RDONLY);
	say("AFTER\n");
}

static void
do_execve(void)
{
	char *argv[] = { "/bin/true", NULL };

	say("BEFORE\n");
	execve(argv[0], argv, argv + 1);
	say("AFTER\n");
}

static void
do_ptrace(void)
{
	say("BEFORE\n");
	syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	say("AFTER\n");
}

static void
do_fcntl_dup(void)
{
	say("BEFORE\n");
	fcntl(rep, F_DUPFD, 0);
	say("AFTER\n");
}

static void
do_getrandom(void)
{
	char b[8];

	say("BEFORE\n");
	if (getrandom(b, sizeof(b), 0) < 0)
		say("FAIL getrandom errno %d\n", errno);
	say("AFTER\n");
}

static void
do_io_uring_setup(void)
{
	struct io_uring_params p = { 0 };

	say("BEFORE\n");
	syscall(SYS_io_uring_setup, 4, &p);
	say("AFTER\n");
}

/* The test process, seen from outside the child's namespaces. */
static pid_t getppid_before = 1;

static void
do_kill(void)
{
	pid_t outside = getppid_before;

	say("BEFORE\n");
	kill(outside > 0 ? outside : 1, SIGTERM);
	say("AFTER\n");
}

static void
do_mount(void)
{
	say("BEFORE\n");
	mount("none", "/", "tmpfs", 0, NULL);
	say("AFTER\n");
}

static void
do_raise_rlimit(void)
{
	struct rlimit r = { 1024, 1024 };

	say("BEFORE\n");
	setrlimit(RLIMIT_NPROC, &r);
	say("AFTER\n");
}

static const struct kill_case {
	const struct sandbox_row *role;
	void (*body)(void);
	const char *name;
} kills[] = {
	{ &rnd_sandbox, do_socket, "socket" },
	{ &blk_sandbox, do_socket, "socket" },
	{ &net_sandbox, do_socket, "socket" },
	{ &rnd_sandbox, do_mmap_exec, "mmap" },
	{ &blk_sandbox, do_mprotect_exec, "mprotect" },
	{ &net_sandbox, do_ioctl, "ioctl" },
	{ &net_sandbox, do_tunsetiff, "ioctl" },
	{ &blk_sandbox, do_ioctl, "ioctl" },
	{ &rnd_sandbox, do_fork, "clone" },
	{ &blk_sandbox, do_fork, "clone" },
	{ &blk_sandbox, do_open, "openat" },
	{ &net_sandbox, do_execve, "execve" },
	{ &rnd_sandbox, do_ptrace, "ptrace" },
	{ &net_sandbox, do_fcntl_dup, "fcntl" },
	{ &blk_sandbox, do_getrandom, "getrandom" },
	{ &rnd_sandbox, do_io_uring_setup, "io_uring_setup" },
	{ &sandbox_core, do_ptrace, "ptrace" },
	{ &sandbox_core, do_fork, "clone" },
	{ &sandbox_core, do_execve, "execve" },
	{ &sandbox_core, do_socket, "socket" },
	{ &sandbox_core, do_mount, "mount" },
	{ &blk_sandbox, do_kill, "kill" },
	{ &net_sandbox, do_kill, "kill" },
	{ &rnd_sandbox, do_mount, "mount" },
	{ &blk_sandbox, do_mount, "mount" },
	{ &net_sandbox, do_raise_rlimit, "prlimit64" },
	{ &rnd_sandbox, do_raise_rlimit, "prlimit64" },
};

static void
test_forbidden_kills(void **state)
{
	(void)state;
	need_userns();
	for (size_t i = 0; i < sizeof(kills) / sizeof(kills[0]); i++) {
		struct spec s = { kills[i].role, named, NULL, NULL,
		    kills[i].body, false };
		struct run r;

		run(&s, &r);
		expect_killed(&r, kills[i].name);
	}
}

/* --- the audit ---------------------------------------------------------- */

static bool
has_fd(const struct sandbox_audit *a, int fd, const char *prefix)
{
	for (int i = 0; i < a->nfd; i++)
		if (a->fd[i].fd == fd &&
		    strncmp(a->fd[i].target, prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static int
count_fds(const struct sandbox_audit *a, const char *prefix)
{
	int n = 0;

	for (int i = 0; i < a->nfd; i++)
		n += strncmp(a->fd[i].target, prefix, strlen(prefix)) == 0;
	return n;
}

static void
test_audit_confined(void **state)
{
	struct spec s = { &rnd_sandbox, named, NULL, NULL, NULL, true };
	struct sandbox_audit *a = malloc(sizeof(*a));
	json_object *j, *v;
	char why[256];
	struct run r;

	(void)state;
	need_userns();
	assert_non_null(a);
	start(&s, &r);
	collect(&r, "READY");
	assert_non_null(strstr(r.out, "READY"));
	assert_int_equal(sandbox_audit_pid(r.pid, a), 0);
	if (sandbox_audit_verdict(a, &rnd_sandbox, why, sizeof(why)) != 0)
		fail_msg("confined child not accepted: %s", why);
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), 0);
	assert_int_equal(a->seccomp, 2);
	assert_true(a->seccomp_filters >= 1);
	assert_int_equal(a->no_new_privs, 1);
	assert_true(a->cap_bnd == 0 && a->cap_eff == 0 && a->cap_prm == 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(a->uid[i], NOBODY);
	assert_int_equal(a->rlim_soft[RLIMIT_NPROC], 0);
	assert_int_equal(a->rlim_hard[RLIMIT_CORE], 0);
	assert_int_equal(a->rlim_soft[RLIMIT_NOFILE], 64);
	assert_false(a->root_is_host);
	assert_int_equal(a->nmnt, 1);
	assert_string_equal(a->mnt[0].at, "/");
	assert_string_equal(a->mnt[0].fs, "tmpfs");
	assert_true(a->mnt[0].ro);
	/* A writable root: refused for our backends, accepted for virtiofsd,
	 * whose root is the share it serves read-write. */
	a->mnt[0].ro = false;
	assert_int_equal(sandbox_audit_verdict(a, &rnd_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "writable"));
	if (sandbox_audit_verdict(a, devclass_by_emul("virtio-fs")->role, why, sizeof(why)) != 0)
		fail_msg("a writable root refused for fs: %s", why);
	a->mnt[0].ro = true;
	for (int i = 0; i < a->nns; i++)
		assert_false(a->ns[i].same_as_host);
	/* fds 0 and 1 on /dev/null, 2 and the report are pipes, no more */
	assert_true(has_fd(a, 0, "/dev/null") && has_fd(a, 1, "/dev/null"));
	assert_true(has_fd(a, 2, "pipe:["));
	assert_int_equal(count_fds(a, "pipe:["), 3);
	assert_int_equal(a->nfd, 5);
	assert_int_equal(sandbox_audit_json(a, &j), 0);
	assert_true(json_object_object_get_ex(j, "seccomp", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(j, "fds", &v));
	assert_int_equal(json_object_array_length(v), a->nfd);
	assert_true(json_object_object_get_ex(j, "rlimits", &v));
	assert_true(json_object_object_get_ex(v, "nproc", &v));
	assert_true(json_object_object_get_ex(v, "hard", &v));
	assert_int_equal(json_object_get_int(v), 0);
	json_object_put(j);
	finish(&r);
	expect_clean(&r);

	/* this test process is not confined */
	assert_int_equal(sandbox_audit_pid(getpid(), a), 0);
	assert_int_equal(sandbox_audit_verdict(a, &rnd_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "seccomp"));
	free(a);
}

static void
setup_stray(int *fds, int *n)
{
	fds[(*n)++] = open("/etc/group", O_RDONLY | O_CLOEXEC);
	fds[(*n)++] = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
}

/* A path fd is fine for blk (its disk), not for rnd, and two are too many. */
static void
test_audit_stray_fd(void **state)
{
	struct spec s = { &rnd_sandbox, named, setup_stray, NULL, NULL, true };
	struct sandbox_audit *a = malloc(sizeof(*a));
	char why[256];
	struct run r;

	(void)state;
	need_userns();
	assert_non_null(a);
	start(&s, &r);
	collect(&r, "READY");
	assert_int_equal(sandbox_audit_pid(r.pid, a), 0);
	assert_int_equal(sandbox_audit_verdict(a, &rnd_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "/etc/group"));
	assert_int_equal(sandbox_audit_verdict(a, &blk_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "/etc/passwd"));
	finish(&r);
	expect_clean(&r);
	free(a);
}

/*
 * vsock: the one directory it is given, read-only, is its root (and
 * working directory): a unix socket there can be connected to; the audit
 * shows it and accepts it for vsock, not for a role without one.
 */
static void
body_dir(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "p_1" };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
}

static void
test_dir_for_vsock(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sandbox_audit *a = malloc(sizeof(*a));
	char dir[] = "/tmp/hyve-dir-XXXXXX", why[256], cmd[64];
	struct run r;
	int l, dfd;

	(void)state;
	need_userns();
	assert_non_null(a);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/p_1", dir);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(chmod(sa.sun_path, 0777), 0);
	assert_int_equal(listen(l, 4), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	struct spec s = { &vsock_sandbox, { .name = "t0", .dir = true,
	    .dir_fd = dfd }, NULL, NULL, body_dir, true };

	start(&s, &r);
	collect(&r, "READY");
	assert_int_equal(sandbox_audit_pid(r.pid, a), 0);
	if (sandbox_audit_verdict(a, &vsock_sandbox, why, sizeof(why)) != 0)
		fail_msg("vsock with its directory not accepted: %s", why);
	assert_int_equal(a->nmnt, 1);
	assert_string_equal(a->mnt[0].at, "/");
	assert_string_equal(a->mnt[0].path, dir);
	assert_true(a->mnt[0].ro);
	/* the directory fd itself was not kept */
	assert_int_equal(a->nfd, 5);
	assert_int_equal(sandbox_audit_verdict(a, &rnd_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, dir));
	finish(&r);
	expect_clean(&r);

	/* A role without a directory may not be given one. */
	s.role = &rnd_sandbox;
	s.body = NULL;
	s.wait_ctl = false;
	start(&s, &r);
	finish(&r);
	assert_non_null(strstr(r.out, "FAIL sandbox_enter"));
	close(dfd);
	close(l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(a);
}

static void
body_off(void)
{
	int fd = open("/etc/passwd", O_RDONLY);

	CHECK(fd >= 0);
	close(fd);
}

/* sandbox=off does nothing but say so loudly, and the audit fails it. */
static void
test_sandbox_off(void **state)
{
	struct spec s = { &blk_sandbox, { .off = true, .name = "blk0" }, NULL,
	    NULL, body_off, true };
	struct sandbox_audit *a = malloc(sizeof(*a));
	char why[256];
	struct run r;

	(void)state;
	assert_non_null(a);
	start(&s, &r);
	collect(&r, "READY");
	assert_int_equal(sandbox_audit_pid(r.pid, a), 0);
	assert_int_equal(sandbox_audit_verdict(a, &blk_sandbox, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "seccomp is off"));
	assert_int_equal(a->seccomp, 0);
	assert_true(a->root_is_host);
	finish(&r);
	expect_clean(&r);
	assert_non_null(strstr(r.errs, "SANDBOX DISABLED for blk0: the device "
	    "runs with all of hyve's privileges"));
	free(a);
}

/* --- the core role: an allowlist for what the running core does ------- */

/* As main.c does first: the core runs as the tenant, never as root. */
static void
setup_core(int *fds, int *n)
{
	(void)fds;
	*n = 0;
	if (geteuid() == 0 && (setgroups(0, NULL) < 0 ||
	    setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0))
		quit(6);
}

static void
body_core(void)
{
	struct rlimit rl;
	int sv[2];

	int n;

	/* What the running core does: getrlimit, a socket pair for a
	 * backend, how much of an answer has come.  It opens nothing: the
	 * monitor does. */
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_max == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(write(sv[1], "ab", 2) == 2);
	CHECK(ioctl(sv[0], FIONREAD, &n) == 0 && n == 2);
	close(sv[0]);
	close(sv[1]);
}

/* A child confined as the core: the audit takes it as one, not as a
 * backend. */
static void
check_core(const struct spec *s)
{
	struct sandbox_audit *a = malloc(sizeof(*a));
	char why[256];
	struct run r;

	assert_non_null(a);
	start(s, &r);
	collect(&r, "READY");
	assert_int_equal(sandbox_audit_pid(r.pid, a), 0);
	assert_int_equal(sandbox_audit_verdict(a, &sandbox_core, why,
	    sizeof(why)), 0);
	/* not enough for a backend */
	assert_int_equal(sandbox_audit_verdict(a, &rnd_sandbox, why,
	    sizeof(why)), -EPERM);
	finish(&r);
	expect_clean(&r);
	free(a);
}

static void
test_core(void **state)
{
	struct spec s = { &sandbox_core, named, setup_core, NULL, body_core,
	    true };

	(void)state;
	check_core(&s);
}

/* An upgrade's new core builds its filter before the pause: entering
 * then loads that one, which allows and forbids what the core's does. */
static void
setup_core_prebuilt(int *fds, int *n)
{
	setup_core(fds, n);
	if (sandbox_prebuild(&sandbox_core, &named) < 0)
		quit(7);
}

static void
test_core_prebuilt(void **state)
{
	struct spec s = { &sandbox_core, named, setup_core_prebuilt, NULL,
	    body_core, true };
	void (*forbidden[])(void) = { do_execve, do_socket, do_fork };
	const char *names[] = { "execve", "socket", "clone" };
	struct run r;

	(void)state;
	check_core(&s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		s.body = forbidden[i];
		s.wait_ctl = false;
		run(&s, &r);
		expect_killed(&r, names[i]);
	}
	/* Only the core's row is built ahead. */
	assert_int_equal(sandbox_prebuild(&rnd_sandbox, &named), -EINVAL);
}

static void
test_bad_args(void **state)
{
	int fd = 0;

	(void)state;
	assert_int_equal(sandbox_enter(&rnd_sandbox, &fd, -1, &named), -EINVAL);
	assert_int_equal(sandbox_enter(&rnd_sandbox, NULL, 1, &named), -EINVAL);
	assert_int_equal(sandbox_enter(NULL, NULL, 0, &named),
	    -EINVAL);
	assert_int_equal(sandbox_audit_pid(0, NULL), -EINVAL);
}

static bool
in_profile(const struct sandbox_profile *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->sc[i].name, name) == 0)
			return true;
	return false;
}

/* The profiles as loaded: small, and without what a backend must not do. */
static void
test_profiles(void **state)
{
	static const char *never[] = { "open", "openat", "socket", "execve",
	    "fork", "clone", "clone3", "ptrace", "kill", "mount", "prlimit64",
	    "setrlimit", "io_uring_setup", "io_uring_register", "memfd_create",
	    "ftruncate", "unshare", "setns" };
	const struct sandbox_row *roles[] = { &blk_sandbox, &net_sandbox, &rnd_sandbox,
	    &vsock_sandbox, &balloon_sandbox };
	struct sandbox_profile p;

	(void)state;
	for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
		assert_int_equal(sandbox_profile(roles[r], &p), 0);
		assert_false(p.denylist);
		assert_true(p.n > 10);
		if (p.n >= 40)
			fail_msg("%s allows %d syscalls; the target is under 40",
			    roles[r]->name, p.n);
		/* blk's queue threads: clone, CLONE_THREAD only; vsock's unix
		 * sockets (both checked below). */
		for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
			if (in_profile(&p, never[i]) && !(roles[r] ==
			    &blk_sandbox && strcmp(never[i], "clone") == 0) &&
			    !(roles[r] == &vsock_sandbox &&
			    strcmp(never[i], "socket") == 0))
				fail_msg("%s allows %s", roles[r]->name,
				    never[i]);
		assert_true(in_profile(&p, "recvmsg"));
		for (int i = 1; i < p.n; i++)
			assert_true(p.sc[i - 1].nr < p.sc[i].nr);
	}
	assert_int_equal(sandbox_profile(&blk_sandbox, &p), 0);
	assert_true(in_profile(&p, "io_uring_enter"));
	assert_false(in_profile(&p, "getrandom"));
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.sc[i].name, "clone") == 0)
			assert_true(p.sc[i].args_filtered);
	assert_int_equal(sandbox_profile(&rnd_sandbox, &p), 0);
	assert_true(in_profile(&p, "getrandom"));
	assert_false(in_profile(&p, "io_uring_enter"));
	/* vsock: unix stream sockets only (socket's arguments), no ioctl. */
	assert_int_equal(sandbox_profile(&vsock_sandbox, &p), 0);
	assert_true(in_profile(&p, "connect"));
	assert_false(in_profile(&p, "ioctl"));
	assert_false(in_profile(&p, "bind"));
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.sc[i].name, "socket") == 0)
			assert_true(p.sc[i].args_filtered);
	assert_int_equal(sandbox_profile(&net_sandbox, &p), 0);
	assert_true(in_profile(&p, "ioctl"));
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.sc[i].name, "ioctl") == 0)
			assert_true(p.sc[i].args_filtered);
	assert_int_equal(sandbox_profile(&sandbox_core, &p), 0);
	assert_false(p.denylist);
	assert_true(in_profile(&p, "ioctl"));
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (strcmp(never[i], "openat") != 0 &&
		    strcmp(never[i], "open") != 0 &&
		    strcmp(never[i], "kill") != 0 &&
		    strcmp(never[i], "prlimit64") != 0 &&
		    strcmp(never[i], "socket") != 0 &&
		    strcmp(never[i], "clone") != 0 && in_profile(&p, never[i]))
			fail_msg("the core allows %s", never[i]);
	/* These only with arguments: threads, an AF_INET datagram socket,
	 * getrlimit. */
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.sc[i].name, "clone") == 0 ||
		    strcmp(p.sc[i].name, "socket") == 0 ||
		    strcmp(p.sc[i].name, "prlimit64") == 0 ||
		    strcmp(p.sc[i].name, "ioctl") == 0)
			assert_true(p.sc[i].args_filtered);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_rnd_confined),
		cmocka_unit_test(test_blk_io_uring),
		cmocka_unit_test(test_net_ioctls),
		cmocka_unit_test(test_forbidden_kills),
		cmocka_unit_test(test_audit_confined),
		cmocka_unit_test(test_audit_stray_fd),
		cmocka_unit_test(test_dir_for_vsock),
		cmocka_unit_test(test_sandbox_off),
		cmocka_unit_test(test_core),
		cmocka_unit_test(test_core_prebuilt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
