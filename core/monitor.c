/*
 * The monitor process (see monitor.h): starting backends, confined before
 * exec, and opening what an operator's swap names.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/if_tun.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/devclass.h"
#include "core/monitor.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

#define FIRST_FD	BACKEND_SOCK_FD
#define CHILD_NS	(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | \
			 CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
			 CLONE_NEWCGROUP)

/* A device's backend as the configuration started it. */
struct mon_dev {
	char	name[16], role[16];
	char	path[4096];
	char	*argv[MON_MAXARGS + 1];
	pid_t	pid;
	int	pidfd;
};

static struct {
	struct mon_dev	devs[MON_MAXDEVS];
	int		ndevs;
	bool		sealed;
	pid_t		core, first;	/* the core; the one hyve started */
	int		fd, ctl;	/* its requests, its connections */
	uid_t		uid;
	gid_t		gid;
	char		self[4096];	/* the binary hyve was started from */
	pid_t		next;		/* a new core, not yet ready */
	int		next_fd, next_ctl;
} mon = { .next_fd = -1, .next_ctl = -1 };

static int
reply(int fd, char type, int val, int passfd)
{
	struct mon_reply r = { type, val };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &r, sizeof(r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (passfd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static struct mon_dev *
find_dev(const char *name)
{
	for (int i = 0; i < mon.ndevs; i++)
		if (strcmp(mon.devs[i].name, name) == 0)
			return &mon.devs[i];
	return NULL;
}

static bool
same_args(char *const a[], char *const b[])
{
	int i;

	/* argv[0] is the binary, checked on its own */
	for (i = 1; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == NULL && b[i] == NULL;
}

static void
record(struct mon_dev *d, const char *path, char *const argv[])
{
	int i;

	snprintf(d->path, sizeof(d->path), "%s", path);
	for (i = 0; d->argv[i] != NULL; i++)
		free(d->argv[i]);
	for (i = 0; argv[i] != NULL && i < MON_MAXARGS; i++)
		d->argv[i] = strdup(argv[i]);
	d->argv[i] = NULL;
}

/*
 * Whether the core may start path with argv for device name: anything
 * before the seal (that is the configuration), afterwards only the
 * recorded binary and argv, or the binary an operator's swap named.
 */
static int
authorise_spawn(const char *name, const char *role, const char *path,
    char *const argv[], struct mon_dev **out)
{
	struct mon_dev *d = find_dev(name);
	const struct sandbox_exec *x = devclass_exec(role);

	/* A program that starts with capabilities: that one and no other. */
	if (x != NULL && strcmp(path, x->binary) != 0) {
		hlog("REFUSED: the core asked to start %s for %s (role %s), "
		    "which may only run %s", path, name, role, x->binary);
		return -EPERM;
	}
	if (!mon.sealed) {
		if (d == NULL) {
			if (mon.ndevs == MON_MAXDEVS)
				return -ENOSPC;
			d = &mon.devs[mon.ndevs++];
			snprintf(d->name, sizeof(d->name), "%s", name);
			snprintf(d->role, sizeof(d->role), "%s", role);
			d->pidfd = -1;
		}
		record(d, path, argv);
		*out = d;
		return 0;
	}
	if (d == NULL) {
		hlog("REFUSED: the core asked to start %s for a device %s that "
		    "the configuration does not have", path, name);
		return -EPERM;
	}
	if (!same_args(argv, d->argv)) {
		hlog("REFUSED: the core asked to start %s for %s with other "
		    "arguments than the configuration gave", path, name);
		return -EPERM;
	}
	if (strcmp(path, d->path) != 0) {
		if (!mctl_granted(name, path, NULL, NULL)) {
			hlog("REFUSED: the core asked to start %s for %s, which "
			    "no operator named (configured: %s)", path, name,
			    d->path);
			return -EPERM;
		}
		record(d, path, argv);
	}
	*out = d;
	return 0;
}

static int
write_file(pid_t pid, const char *what, const char *s)
{
	char path[64];
	size_t len = strlen(s);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, s, len) != (ssize_t)len)
		rc = -errno;
	close(fd);
	return rc;
}

/* The child's user namespace: the tenant's ids, and only those (as 0
 * inside for a program that must be root there). */
static int
map_ids(pid_t pid, bool root)
{
	char map[64];
	int rc;

	snprintf(map, sizeof(map), "%u %u 1\n", root ? 0 : (unsigned)mon.uid,
	    (unsigned)mon.uid);
	if ((rc = write_file(pid, "uid_map", map)) < 0)
		return rc;
	if ((rc = write_file(pid, "setgroups", "deny")) < 0)
		return rc;
	snprintf(map, sizeof(map), "%u %u 1\n", root ? 0 : (unsigned)mon.gid,
	    (unsigned)mon.gid);
	return write_file(pid, "gid_map", map);
}

/* The value of "-o" "source=DIR" in argv, or NULL. */
static const char *
source_dir(char *const argv[])
{
	for (int i = 1; argv[i] != NULL && argv[i + 1] != NULL; i++)
		if (strcmp(argv[i], "-o") == 0 &&
		    strncmp(argv[i + 1], "source=", 7) == 0)
			return argv[i + 1] + 7;
	return NULL;
}

/*
 * In a foreign program's child: "hyve:ro" makes its source a read-only
 * bind mount in the child's mount namespace (its mounts came from the
 * host's as slaves: nothing goes back) and is dropped from argv.
 */
static int
foreign_mounts(char **argv)
{
	const char *dir = source_dir(argv);
	int i, j;

	for (i = j = 0; argv[i] != NULL; i++) {
		if (strcmp(argv[i], "hyve:ro") != 0) {
			argv[j++] = argv[i];
			continue;
		}
		if (dir == NULL || mount(dir, dir, NULL, MS_BIND | MS_REC,
		    NULL) < 0 || mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND |
		    MS_RDONLY, NULL) < 0) {
			fprintf(stderr, "hyve-monitor: child: cannot make %s "
			    "read-only: %s\n", dir ? dir : "(no source)",
			    strerror(errno));
			return -1;
		}
	}
	argv[j] = NULL;
	return 0;
}

/*
 * In a foreign program's child, in its own network namespace: a listening
 * socket (fd 3 for it) with a connection waiting; the connected end goes
 * to the monitor on sync, for the core.  No one else can reach the
 * abstract name in a namespace no one else is in.
 */
static int
foreign_listen(int sync)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	char cbuf[CMSG_SPACE(sizeof(int))], c = 'f';
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int l, fd;

	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || fd < 0 || bind(l, (struct sockaddr *)&sa, len) < 0 ||
	    listen(l, 1) < 0)
		return -1;
	len = sizeof(sa);
	if (getsockname(l, (struct sockaddr *)&sa, &len) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, len) < 0)
		return -1;
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sync, &mh, MSG_NOSIGNAL) != 1)
		return -1;
	close(fd);
	return l;
}

/* fds 0 and 1 on /dev/null. */
static int
stdio_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -1;
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		rc = -1;
	close(fd);
	return rc;
}

/*
 * In the child, in its new namespaces: wait for the id maps, become the
 * tenant, shed every privilege, put the descriptors in place and exec the
 * binary by descriptor (the tenant may not be able to reach its path).
 */
static void __attribute__((noreturn))
child(int sync, int bin, char **argv, int sock, const int *fds,
    int nfds, const struct sandbox_exec *x)
{
	extern char **environ;
	sigset_t none;
	int tmp[MON_MAXFDS + 1], i, n = 0;
	char c = 'r';
	uid_t uid = x ? 0 : mon.uid;
	gid_t gid = x ? 0 : mon.gid;

	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The monitor writes our maps in /proc: they must be its to write. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (write(sync, &c, 1) != 1 || read(sync, &c, 1) != 1 || c != 'g')
		_exit(126);
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		fprintf(stderr, "hyve-monitor: child: cannot become uid %u: %s\n",
		    (unsigned)mon.uid, strerror(errno));
		_exit(126);
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (x != NULL && (foreign_mounts(argv) < 0 ||
	    (x->listen && (sock = foreign_listen(sync)) < 0))) {
		fprintf(stderr, "hyve-monitor: child: cannot prepare %s: %s\n",
		    argv[0], strerror(errno));
		_exit(126);
	}
	if (x != NULL ? sandbox_pre_exec_foreign(x) < 0 :
	    sandbox_pre_exec() < 0) {
		fprintf(stderr, "hyve-monitor: child: cannot drop privileges\n");
		_exit(126);
	}
	/* Our backends put their stdin and stdout on /dev/null themselves;
	 * a program we did not write must not get the VM's console. */
	if (x != NULL && stdio_null() < 0) {
		fprintf(stderr, "hyve-monitor: child: /dev/null: %s\n",
		    strerror(errno));
		_exit(126);
	}
	/* Everything out of the way first, so dup2 cannot clobber. */
	tmp[n++] = fcntl(sock, F_DUPFD_CLOEXEC, 100);
	for (i = 0; i < nfds; i++)
		tmp[n++] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
	bin = fcntl(bin, F_DUPFD_CLOEXEC, 100);
	sync = fcntl(sync, F_DUPFD_CLOEXEC, 100);
	for (i = 0; i < n; i++)
		if (tmp[i] < 0 || dup2(tmp[i], FIRST_FD + i) < 0)
			_exit(127);
	if (bin < 0 || dup3(bin, FIRST_FD + n, O_CLOEXEC) < 0 ||
	    sync < 0 || dup3(sync, FIRST_FD + n + 1, O_CLOEXEC) < 0)
		_exit(127);
	sync = FIRST_FD + n + 1;
	syscall(SYS_close_range, FIRST_FD + n + 2, ~0U, 0);
	/* Success closes sync (close-on-exec): the monitor's sign. */
	syscall(SYS_execveat, FIRST_FD + n, "", argv, environ, AT_EMPTY_PATH);
	c = 'e';
	if (write(sync, &c, 1) < 0)
		_exit(127);
	fprintf(stderr, "hyve-monitor: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Starts the child as the core's child (CLONE_PARENT); its pid or -errno. */
/* The connected end a foreign child sent ('f' + fd), or -1. */
static int
recv_conn(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c = 0;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cmsghdr *cm;
	int conn = -1;

	if (poll(&p, 1, 5000) != 1 || recvmsg(fd, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS)
			memcpy(&conn, CMSG_DATA(cm), sizeof(int));
	if (c != 'f' && conn >= 0) {
		close(conn);
		conn = -1;
	}
	return conn;
}

static pid_t
start(const char *path, char **argv, int sock, const int *fds,
    int nfds, int closefd, const struct sandbox_exec *x, int *conn)
{
	struct pollfd p;
	int sv[2], bin, rc;
	char c;
	pid_t pid;

	if ((bin = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		hlog("backend %s: %s", path, strerror(errno));
		return rc;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		close(bin);
		return rc;
	}
	pid = syscall(SYS_clone, CLONE_PARENT | CHILD_NS | SIGCHLD, NULL, NULL,
	    NULL, 0);
	if (pid == 0) {
		close(sv[0]);
		close(closefd);
		child(sv[1], bin, argv, sock, fds, nfds, x);
	}
	rc = pid < 0 ? -errno : 0;
	close(sv[1]);
	close(bin);
	if (rc < 0) {
		hlog("backend %s: cannot clone it into new namespaces: %s (the "
		    "kernel must allow user namespaces)", path, strerror(-rc));
		close(sv[0]);
		return rc;
	}
	p.fd = sv[0];
	p.events = POLLIN;
	if (poll(&p, 1, 5000) != 1 || read(sv[0], &c, 1) != 1)
		rc = -ETIMEDOUT;
	else if ((rc = map_ids(pid, x != NULL)) < 0)
		hlog("backend %s: cannot map its user namespace to uid %u: %s",
		    path, (unsigned)mon.uid, strerror(-rc));
	c = rc < 0 ? 'x' : 'g';
	if (write(sv[0], &c, 1) != 1 && rc == 0)
		rc = -EPIPE;
	if (rc == 0 && x != NULL && x->listen &&
	    (*conn = recv_conn(sv[0])) < 0) {
		hlog("backend %s: it did not hand over its socket (see above)",
		    path);
		rc = -EPROTO;
	}
	/* Answer once it runs the program, confined: end of file on sync. */
	if (rc == 0 && (poll(&p, 1, 5000) != 1 || read(sv[0], &c, 1) != 0)) {
		hlog("backend %s: it did not start (see above)", path);
		rc = -ENOEXEC;
	}
	close(sv[0]);
	/* On failure the child exits at once; the core reaps it. */
	return rc < 0 ? rc : pid;
}

/* Splits buf (after the type byte) into NUL-terminated strings. */
static int
split(char *buf, size_t len, char **s, int max)
{
	char *p = buf + 1, *end = buf + len;
	int n = 0;

	while (p < end && n < max) {
		char *z = memchr(p, '\0', end - p);

		if (z == NULL)
			break;
		s[n++] = p;
		p = z + 1;
	}
	s[n] = NULL;
	return n;
}

static void
do_spawn(int fd, char *buf, size_t len, int *fds, int nfds)
{
	char *s[MON_MAXARGS + 4];
	struct mon_dev *d;
	pid_t pid;
	int n = split(buf, len, s, MON_MAXARGS + 3), rc, conn;

	/* name, role, path, argv0 ... */
	if (n < 4 || nfds < 1) {
		reply(fd, 'P', -EINVAL, -1);
		return;
	}
	if ((rc = authorise_spawn(s[0], s[1], s[2], s + 3, &d)) < 0) {
		reply(fd, 'P', rc, -1);
		return;
	}
	conn = -1;
	pid = start(s[2], s + 3, fds[0], fds + 1, nfds - 1, fd,
	    devclass_exec(s[1]), &conn);
	if (pid > 0) {
		if (d->pidfd >= 0)
			close(d->pidfd);
		d->pid = pid;
		d->pidfd = syscall(SYS_pidfd_open, pid, 0);
	}
	reply(fd, 'P', pid, pid > 0 ? conn : -1);
	if (conn >= 0)
		close(conn);
}

static int
open_tap(const char *tap)
{
	struct ifreq ifr;
	int fd, rc;

	if (strlen(tap) >= IFNAMSIZ)
		return -EINVAL;
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* A disk or tap for a swap: only the one an operator's request named. */
static void
do_open(int fd, char *buf, size_t len)
{
	char *s[5];
	int n = split(buf, len, s, 4), flags, rc;
	bool blk;

	if (n != 4 || (strcmp(s[1], "blk") != 0 && strcmp(s[1], "tap") != 0)) {
		reply(fd, 'F', -EINVAL, -1);
		return;
	}
	blk = strcmp(s[1], "blk") == 0;
	if (find_dev(s[0]) == NULL || !mctl_granted(s[0], NULL,
	    blk ? s[2] : NULL, blk ? NULL : s[2])) {
		hlog("REFUSED: the core asked to open %s %s for %s, which no "
		    "operator named", blk ? "disk" : "tap", s[2], s[0]);
		reply(fd, 'F', -EPERM, -1);
		return;
	}
	flags = atoi(s[3]) & (O_ACCMODE | O_DIRECT | O_SYNC);
	if (blk)
		rc = open(s[2], flags | O_CLOEXEC | O_NOCTTY);
	else
		rc = open_tap(s[2]);
	if (rc < 0) {
		reply(fd, 'F', blk ? -errno : rc, -1);
		return;
	}
	reply(fd, 'F', 0, rc);
	close(rc);
}

static void
do_seal(int fd, int ctl, char *buf, size_t len, int *fds, int nfds)
{
	char *s[2];

	mon.sealed = true;
	if (split(buf, len, s, 1) == 1 && nfds == 1)
		mctl_init(fds[0], s[0], NULL, ctl);
	else
		mctl_init(-1, NULL, NULL, ctl);
	reply(fd, 'K', 0, -1);
}

static int
recv_req(int fd, char *buf, size_t len, int *fds, int *nfds)
{
	char cbuf[CMSG_SPACE(MON_MAXFDS * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR) ? 1 : -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	return n;
}

/* --- a new core (hyvectl upgrade) ---------------------------------------- */

/*
 * In the new core's child: the tenant, every privilege shed as for a
 * backend (it gets no namespaces: it needs /dev/kvm's descriptor only,
 * which comes over the handover), its three descriptors in place.
 */
static void __attribute__((noreturn))
core_child(int bin, const char *path, int hv, int req, int ctl)
{
	extern char **environ;
	char *argv[] = { (char *)path, "--upgrade", NULL };
	int fds[3] = { hv, req, ctl };
	sigset_t none;

	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its parent is the first core: when that ends, so does the VM. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (sandbox_pre_exec_as(mon.uid, mon.gid) < 0)
		_exit(126);
	for (int i = 0; i < 3; i++)
		fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
	bin = fcntl(bin, F_DUPFD_CLOEXEC, 100);
	for (int i = 0; i < 3; i++)
		if (fds[i] < 0 || dup2(fds[i], UPGRADE_FD + i) < 0)
			_exit(127);
	if (bin < 0 || dup3(bin, UPGRADE_FD + 3, O_CLOEXEC) < 0)
		_exit(127);
	syscall(SYS_close_range, UPGRADE_FD + 4, ~0U, 0);
	syscall(SYS_execveat, UPGRADE_FD + 3, "", argv, environ, AT_EMPTY_PATH);
	fprintf(stderr, "hyve-monitor: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

static void
closeif(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void
drop_next(void)
{
	if (mon.next_fd >= 0)
		close(mon.next_fd);
	if (mon.next_ctl >= 0)
		close(mon.next_ctl);
	mon.next_fd = mon.next_ctl = -1;
	mon.next = 0;
}

/* The new core's binary: the one hyve came from, or an operator's. */
static int
authorise_core(const char *path)
{
	if (strcmp(path, mon.self) == 0 || mctl_upgrade_granted(path))
		return 0;
	hlog("REFUSED: the core asked to upgrade to %s, which no operator "
	    "named (hyve is %s)", path, mon.self);
	return -EPERM;
}

static void
do_upgrade(int fd, char *buf, size_t len)
{
	char *s[2], *path;
	int hv[2] = { -1, -1 }, sv[2] = { -1, -1 }, cv[2] = { -1, -1 };
	int bin, rc;
	pid_t pid;

	if (split(buf, len, s, 1) != 1 || mon.next > 0) {
		reply(fd, 'P', mon.next > 0 ? -EBUSY : -EINVAL, -1);
		return;
	}
	path = s[0][0] != '\0' ? s[0] : mon.self;
	if ((rc = authorise_core(path)) < 0) {
		reply(fd, 'P', rc, -1);
		return;
	}
	if ((bin = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		hlog("upgrade: %s: %s", path, strerror(errno));
		reply(fd, 'P', rc, -1);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hv) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0) {
		rc = -errno;
		pid = -1;
	} else {
		pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL,
		    NULL, 0);
		if (pid == 0)
			core_child(bin, path, hv[1], sv[1], cv[1]);
		rc = pid < 0 ? -errno : 0;
	}
	close(bin);
	closeif(hv[1]);
	closeif(sv[1]);
	closeif(cv[1]);
	if (rc < 0) {
		hlog("upgrade: cannot start %s: %s", path, strerror(-rc));
		closeif(hv[0]);
		closeif(sv[0]);
		closeif(cv[0]);
		reply(fd, 'P', rc, -1);
		return;
	}
	mon.next = pid;
	mon.next_fd = sv[0];
	mon.next_ctl = cv[0];
	hlog("upgrade: new core %s, pid %d", path, (int)pid);
	reply(fd, 'P', pid, hv[0]);
	close(hv[0]);
}

/* The new core is ready: it is the core from now on. */
static void
do_commit(int fd)
{
	int old = mon.fd, oldctl = mon.ctl;

	if (mon.next <= 0) {
		reply(fd, 'K', -EINVAL, -1);
		return;
	}
	mon.fd = mon.next_fd;
	mon.ctl = mon.next_ctl;
	mon.core = mon.next;
	mon.next_fd = mon.next_ctl = -1;
	mon.next = 0;
	mctl_set_core(mon.ctl);
	reply(old, 'K', 0, -1);
	close(old);
	close(oldctl);
	hlog("upgrade: the core is pid %d now", (int)mon.core);
}

/* The old core has killed it (it runs as the tenant, out of our reach
 * without CAP_KILL). */
static void
do_abort(int fd)
{
	if (mon.next > 0)
		hlog("upgrade: new core pid %d given up", (int)mon.next);
	drop_next();
	reply(fd, 'K', 0, -1);
}

/* One request from the core; -1 when the core is gone. */
static int
serve_core(int fd, int ctl)
{
	char buf[MON_MAXMSG];
	int fds[MON_MAXFDS], nfds, n, i;

	n = recv_req(fd, buf, sizeof(buf) - 1, fds, &nfds);
	if (n < 0)
		return -1;
	if (n <= 1 && nfds == 0)
		return 0;
	buf[n] = '\0';
	if (buf[0] == 'S')
		do_spawn(fd, buf, n, fds, nfds);
	else if (buf[0] == 'O')
		do_open(fd, buf, n);
	else if (buf[0] == 'U' && mon.sealed)
		do_upgrade(fd, buf, n);
	else if (buf[0] == 'H') {
		do_commit(fd);
		return 0;		/* fd is closed, or kept */
	} else if (buf[0] == 'A')
		do_abort(fd);
	else if (buf[0] == 'L' && !mon.sealed) {
		do_seal(fd, ctl, buf, n, fds, nfds);
		return 0;		/* the listening socket is kept */
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return 0;
}

/*
 * virtiofsd forks once for its sandbox: the first process waits, its
 * child serves.  Both are audited: the child as NAME+ (1), if there.
 */
static int
foreign_child(const struct mon_dev *d, struct mon_proc *p)
{
	char path[80], buf[64];
	ssize_t len;
	int fd;
	long pid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d->pid,
	    (int)d->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	if ((pid = strtol(buf, NULL, 10)) <= 0)
		return 0;
	snprintf(p->role, sizeof(p->role), "%s", d->role);
	snprintf(p->name, sizeof(p->name), "%.14s+", d->name);
	p->pid = pid;
	return 1;
}

int
monitor_procs(struct mon_proc *p, int max)
{
	int i, n = 0;

	if (max < 2)
		return 0;
	snprintf(p[n].role, sizeof(p[n].role), "core");
	p[n++].pid = mon.core;
	/* After an upgrade the first core waits for the VM's end. */
	if (mon.first != mon.core && n < max) {
		snprintf(p[n].role, sizeof(p[n].role), "core");
		snprintf(p[n].name, sizeof(p[n].name), "first core");
		p[n++].pid = mon.first;
	}
	snprintf(p[n].role, sizeof(p[n].role), "monitor");
	snprintf(p[n].name, sizeof(p[n].name), "monitor");
	p[n++].pid = getpid();
	for (i = 0; i < mon.ndevs && n < max; i++) {
		struct mon_dev *d = &mon.devs[i];
		struct pollfd pf = { .fd = d->pidfd, .events = POLLIN };

		/* A pidfd turns readable when its process has exited. */
		if (d->pid <= 0 || d->pidfd < 0 || poll(&pf, 1, 0) != 0)
			continue;
		snprintf(p[n].role, sizeof(p[n].role), "%s", d->role);
		snprintf(p[n].name, sizeof(p[n].name), "%s", d->name);
		p[n++].pid = d->pid;
		if (devclass_exec(d->role) != NULL && n < max)
			n += foreign_child(d, &p[n]);
	}
	return n;
}

/* A device whose backend hyve did not write widens the allowlist. */
static int
foreign_roles(const char *path, const char *value, void *arg)
{
	const char *dot = strrchr(path, '.');
	const struct devclass *c;

	(void)arg;
	if (dot != NULL && strcmp(dot, ".device") == 0 &&
	    (c = devclass_by_emul(value)) != NULL && c->foreign)
		return sandbox_monitor_covers(c->role, true);
	return 0;
}

int
monitor_cover_roles(void)
{
	int rc;

	for (int i = 0; devclasses[i] != NULL; i++)
		if ((rc = sandbox_monitor_covers(devclasses[i]->role,
		    false)) < 0)
			return rc;
	return config_foreach("pci", foreign_roles, NULL);
}

void
monitor_main(int fd, int ctl, pid_t core, uid_t uid, gid_t gid)
{
	struct sandbox_opts so = { .name = "monitor" };
	struct pollfd p[64];
	int n;

	log_set_role("monitor");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "hyve-monitor");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	mon.core = mon.first = core;
	mon.fd = fd;
	mon.ctl = ctl;
	mon.uid = uid;
	mon.gid = gid;
	if (readlink("/proc/self/exe", mon.self, sizeof(mon.self) - 1) < 0)
		mon.self[0] = '\0';
	/* Its roles were covered before the fork (spawner_start). */
	if (sandbox_enter(&sandbox_monitor, NULL, 0, &so) < 0)
		_exit(1);
	for (;;) {
		p[0].fd = mon.fd;
		p[0].events = POLLIN;
		n = 1 + mctl_pollfds(p + 1, 63);
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && serve_core(mon.fd, mon.ctl) < 0)
			break;		/* the core is gone */
		mctl_serve(p + 1, n - 1);
	}
	mctl_fini();
	/* exit_group itself: a sanitizer's _exit would make calls the
	 * filter refuses. */
	for (;;)
		syscall(SYS_exit_group, 0);
}
