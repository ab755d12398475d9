/*
 * sandbox_enter: the steps, in the only order that works.
 *
 * 1. build the seccomp filter (allocates; nothing is changed yet)
 * 2. as root: drop supplementary groups, then gid, then uid to nobody
 * 3. dumpable again (a uid change cleared it, and /proc/self/uid_map of a
 *    non-dumpable process belongs to the real root, which the new user
 *    namespace cannot see), then unshare every namespace at once
 * 4. uid_map/gid_map: our own ids mapped to themselves, setgroups denied
 * 5. an empty read-only tmpfs becomes "/" by pivot_root (for a role that
 *    may hold one directory: that directory, bound read-only); the old
 *    root is
 *    detached, so there is no /proc, /dev or anything else by path
 * 6. fds 0 and 1 on /dev/null (opened before step 2), every other
 *    descriptor but the kept ones closed
 * 7. rlimits
 * 8. securebits locked, then every capability set emptied (this needs
 *    CAP_SETPCAP, which the new user namespace gave us until now)
 * 9. no_new_privs, not dumpable, and last the seccomp filter
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/securebits.h>

#include "lib/caps.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_impl.h"

#define NOBODY		65534
#define MAX_KEEP	256

static int
fail(const char *name, const char *what, int err)
{
	hlog("%s: sandbox: %s: %s", name, what, strerror(err));
	return -err;
}

static int
drop_ids(const char *name, const struct sandbox_opts *o)
{
	uid_t uid = o->uid ? o->uid : NOBODY;
	gid_t gid = o->gid ? o->gid : NOBODY;

	if (getuid() != 0 && geteuid() != 0)
		return 0;
	if (setgroups(0, NULL) < 0)
		return fail(name, "setgroups", errno);
	if (setresgid(gid, gid, gid) < 0)
		return fail(name, "setresgid to the sandbox gid", errno);
	if (setresuid(uid, uid, uid) < 0)
		return fail(name, "setresuid to the sandbox uid", errno);
	return 0;
}

static int
write_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	close(fd);
	return rc;
}

/*
 * A new pid namespace for children also forbids new threads (the kernel
 * refuses CLONE_THREAD across pid namespaces), which is what we want but
 * for a role that needs threads (nproc): io_uring's io-wq workers are
 * threads of the process.
 */
static int
namespaces(const char *name, const struct sandbox_row *r)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int rc, flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC |
	    CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET;

	/* Started as the init of a PID namespace of its own (the core does
	 * that when it can), a backend needs no other. */
	if (r->nproc == 0 && getpid() != 1)
		flags |= CLONE_NEWPID;
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (unshare(flags) < 0) {
		int e = errno;

		hlog("%s: sandbox: cannot create namespaces: %s; the kernel must "
		    "allow unprivileged user namespaces (sysctl "
		    "user.max_user_namespaces > 0, "
		    "kernel.unprivileged_userns_clone=1) and the process must "
		    "be single-threaded, or run the device with sandbox=off",
		    name, strerror(e));
		return -e;
	}
	snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
	if ((rc = write_file("/proc/self/uid_map", map)) < 0)
		return fail(name, "writing /proc/self/uid_map", -rc);
	if ((rc = write_file("/proc/self/setgroups", "deny")) < 0)
		return fail(name, "writing /proc/self/setgroups", -rc);
	snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
	if ((rc = write_file("/proc/self/gid_map", map)) < 0)
		return fail(name, "writing /proc/self/gid_map", -rc);
	return 0;
}

/* Any directory will do as a mount point: the mount is ours alone. */
static const char *
mount_point(void)
{
	static const char *const dirs[] = { "/tmp", "/mnt", "/var/tmp", "/dev" };
	struct stat st;

	for (size_t i = 0; i < NELEM(dirs); i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			return dirs[i];
	return "/";
}

/*
 * The root: an empty read-only tmpfs, or for a role that holds one
 * directory (sandbox_opts.dir), that directory bound read-only: the
 * working directory, which the new mount namespace translated.  A user
 * namespace may not change the atime flags of what it binds, so the
 * remount keeps the directory's.  (No mkdir or statfs: a backend the
 * monitor started runs under the monitor's filter too.)
 */
static int
new_root(const char *name, const struct sandbox_opts *o)
{
	static const struct { unsigned long st, ms; } atime[] = {
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	const char *mp = mount_point();
	struct statfs sf;

	if (!o->dir) {
		if (mount("hyve-empty", mp, "tmpfs", ro,
		    "size=4k,nr_inodes=2,mode=0555") < 0)
			return fail(name, "mounting an empty tmpfs", errno);
		return 0;
	}
	if (fstatfs(o->dir_fd, &sf) < 0)
		return fail(name, "fstatfs of the given directory", errno);
	for (size_t i = 0; i < NELEM(atime); i++)
		if (sf.f_flags & atime[i].st)
			ro |= atime[i].ms;
	if (mount(".", mp, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(name, "binding the given directory", errno);
	if (mount(NULL, mp, NULL, MS_REMOUNT | MS_BIND | ro, NULL) < 0)
		return fail(name, "making the given directory read-only", errno);
	return 0;
}

static int
empty_root(const char *name, const struct sandbox_opts *o)
{
	const char *mp = mount_point();
	int rc;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(name, "making / private", errno);
	if ((rc = new_root(name, o)) < 0)
		return rc;
	if (chdir(mp) < 0)
		return fail(name, "chdir to the new root", errno);
	/* new and old root on the same directory; then drop the old one */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(name, "pivot_root", errno);
	if (umount2(".", MNT_DETACH) < 0)
		return fail(name, "detaching the old root", errno);
	if (chdir("/") < 0)
		return fail(name, "chdir /", errno);
	return 0;
}

static bool
kept(int fd, const int *keep, int nkeep)
{
	for (int i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

/* Closes every fd that is not kept, by ranges between the kept ones. */
static int
close_fds(const char *name, const int *keep, int nkeep, int nul, bool stdio)
{
	int sorted[MAX_KEEP + 3], n = 0, lo = 0;

	for (int fd = 0; fd <= 2; fd++) {
		if (kept(fd, keep, nkeep) || fd == 2 || stdio)
			continue;
		if (nul >= 0 ? dup2(nul, fd) < 0 : close(fd) < 0 && errno != EBADF)
			return fail(name, "redirecting stdio to /dev/null", errno);
	}
	sorted[n++] = 0;
	sorted[n++] = 1;
	sorted[n++] = 2;
	for (int i = 0; i < nkeep; i++)
		if (keep[i] > 2)
			sorted[n++] = keep[i];
	/* insertion sort: a handful of fds */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			int t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		if (sorted[i] > lo &&
		    syscall(SYS_close_range, lo, sorted[i] - 1, 0) < 0)
			return fail(name, "close_range", errno);
		lo = sorted[i] + 1;
	}
	if (syscall(SYS_close_range, lo, ~0U, 0) < 0)
		return fail(name, "close_range", errno);
	return 0;
}

static int
limits(const char *name, const struct sandbox_row *r, const int *keep,
    int nkeep, const struct sandbox_opts *o)
{
	struct rlimit zero = { 0, 0 }, nf, np;
	struct stat st;
	/* kick, call, err per queue for up to 64 queues, regions, slack */
	unsigned nofile = o->nofile ? o->nofile : r->nofile;

	for (int i = 0; i < nkeep; i++)
		if (keep[i] >= 0 && (unsigned)keep[i] >= nofile)
			nofile = keep[i] + 1;
	nf.rlim_cur = nf.rlim_max = nofile;
	np.rlim_cur = np.rlim_max = r->nproc;
	if (setrlimit(RLIMIT_CORE, &zero) < 0)
		return fail(name, "RLIMIT_CORE", errno);
	if (setrlimit(RLIMIT_NOFILE, &nf) < 0)
		return fail(name, "RLIMIT_NOFILE", errno);
	if (setrlimit(RLIMIT_NPROC, &np) < 0)
		return fail(name, "RLIMIT_NPROC", errno);
	/*
	 * FSIZE limits writes through any fd to a regular file: blk writes
	 * its disk, and a log file on stderr must keep growing.
	 */
	if (!r->writes && !(fstat(2, &st) == 0 && S_ISREG(st.st_mode)) &&
	    setrlimit(RLIMIT_FSIZE, &zero) < 0)
		return fail(name, "RLIMIT_FSIZE", errno);
	return 0;
}

/* Effective and permitted: keep; inheritable, ambient and bounding:
 * nothing.  The bounding set goes first, while CAP_SETPCAP is held. */
static int
set_caps(uint64_t keep)
{
	struct caps c = { .eff = keep, .perm = keep, .inh = 0 };
	int rc;

	if ((rc = caps_bound(0)) < 0 || (rc = caps_clear_ambient()) < 0)
		return rc;
	return caps_set(&c);
}

static int
drop_caps(const char *name)
{
	int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
	    SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
	    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	int rc;

	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return fail(name, "locking securebits", errno);
	if ((rc = set_caps(0)) < 0)
		return fail(name, "dropping capabilities", -rc);
	if (!caps_none())
		return fail(name, "capabilities still held after dropping",
		    EPERM);
	return 0;
}

/*
 * Makes the directory dir_fd the working directory, in our own mount
 * namespace, which the new one then translates (bind_dir binds it).  A
 * descriptor opened in another mount namespace (the core's, when the
 * monitor started us in namespaces of our own) cannot be bound: its path
 * is looked up in ours instead, and must lead to the very same directory.
 */
static int
enter_dir(const char *name, int dir_fd)
{
	char link[32], path[PATH_MAX];
	struct stat want, got;
	ssize_t n;

	if (fstat(dir_fd, &want) < 0 || !S_ISDIR(want.st_mode))
		return fail(name, "the given directory descriptor", errno ?
		    errno : ENOTDIR);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dir_fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0 || path[0] != '/') {
		/* No /proc: the descriptor is bound as it is. */
		if (fchdir(dir_fd) < 0)
			return fail(name, "entering the given directory", errno);
		return 0;
	}
	path[n] = '\0';
	if (chdir(path) < 0) {
		int e = errno;

		hlog("%s: sandbox: cannot enter %s: %s (it and every directory "
		    "above it must be searchable by uid %u)", name, path,
		    strerror(e), (unsigned)geteuid());
		return -e;
	}
	if (stat(".", &got) < 0 || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino) {
		hlog("%s: sandbox: %s is not the directory the core opened",
		    name, path);
		return -ESTALE;
	}
	return 0;
}

static int
backend_enter(const struct sandbox_row *r, const int *keep, int nkeep,
    const struct sandbox_opts *o, const char *name, const char *prefix)
{
	scmp_filter_ctx c;
	int rc, nul;

	if (o->dir && !r->dir) {
		hlog("%s: sandbox: the %s role may hold no directory", name,
		    r->name);
		return -EPERM;
	}
	if (o->dir && (rc = enter_dir(name, o->dir_fd)) < 0)
		return rc;
	if ((c = sc_build(r, name, prefix)) == NULL)
		return -EINVAL;
	nul = o->keep_stdio ? -1 : open("/dev/null", O_RDWR | O_CLOEXEC);
	if ((rc = drop_ids(name, o)) < 0 || (rc = namespaces(name, r)) < 0 ||
	    (rc = empty_root(name, o)) < 0 ||
	    (rc = close_fds(name, keep, nkeep, nul, o->keep_stdio)) < 0 ||
	    (nul = -1, rc = limits(name, r, keep, nkeep, o)) < 0 ||
	    (rc = drop_caps(name)) < 0)
		goto out;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		rc = fail(name, "no_new_privs", errno);
		goto out;
	}
	if (o->pre_filter != NULL)
		o->pre_filter(o->arg);
	rc = sc_load(c, name);
	c = NULL;
out:
	if (c != NULL)
		seccomp_release(c);
	if (nul >= 0)
		close(nul);
	return rc;
}

/* No core dumps, no_new_privs, not dumpable. */
static int
lock(const struct sandbox_opts *o, const char *name)
{
	struct rlimit zero = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &zero) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(name, "no_new_privs and limits", errno);
	if (o->pre_filter != NULL)
		o->pre_filter(o->arg);
	return 0;
}

/* Then the filter. */
static int
lock_and_load(scmp_filter_ctx c, const struct sandbox_opts *o, const char *name)
{
	int rc = lock(o, name);

	if (rc < 0) {
		seccomp_release(c);
		return rc;
	}
	return sc_load(c, name);
}

/* sandbox_prebuild's program, for the row it was built for. */
static struct {
	const struct sandbox_row *row;
	struct sock_fprog prog;
} pre;

/* See seccomp_core.c for why the core keeps its ids and namespaces. */
static int
host_enter(const struct sandbox_row *r, const struct sandbox_opts *o,
    const char *name, const char *prefix)
{
	scmp_filter_ctx c;
	int rc;

	if (pre.row == r) {
		if ((rc = lock(o, name)) == 0)
			rc = sc_load_prog(&pre.prog, name);
		free(pre.prog.filter);
		pre.row = NULL;
		return rc;
	}
	if ((c = sc_build(r, name, prefix)) == NULL)
		return -EINVAL;
	return lock_and_load(c, o, name);
}

/* The monitor keeps its caps (SANDBOX_MONITOR_CAPS), in no set more, and
 * an empty bounding set: what it starts gains nothing by exec (a new core
 * runs in its namespaces; a backend's new user namespace starts afresh). */
static int
root_enter(const struct sandbox_row *r,
    const struct sandbox_opts *o, const char *name, const char *prefix)
{
	scmp_filter_ctx c;

	if ((c = sc_build(r, name, prefix)) == NULL)
		return -EINVAL;
	if (geteuid() == 0) {
		int rc = setgroups(0, NULL) < 0 ? -errno : set_caps(r->caps);

		if (rc < 0) {
			seccomp_release(c);
			return fail(name, "dropping capabilities", -rc);
		}
	}
	return lock_and_load(c, o, name);
}

/* Every exec'd child's end: no ambient capabilities, no core dumps,
 * no_new_privs, the base filter. */
static int
pre_exec_rest(void)
{
	struct rlimit zero = { 0, 0 };
	int rc;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail("exec", "clearing ambient capabilities", errno);
	if (setrlimit(RLIMIT_CORE, &zero) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("exec", "no_new_privs", errno);
	if ((rc = sandbox_load_base_filter()) < 0)
		return fail("exec", "loading the base seccomp filter", -rc);
	return 0;
}

int
sandbox_pre_exec(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return fail("exec", "dropping the bounding set", errno);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return fail("exec", "dropping capabilities", errno);
	return pre_exec_rest();
}

/*
 * For a new core (hyvectl upgrade), started by the root monitor in the
 * host's namespaces: the ids (which empties the capability sets; the
 * monitor's bounding set is empty already), then as sandbox_pre_exec.
 */
int
sandbox_pre_exec_as(uid_t uid, gid_t gid)
{
	/* A hyve started by a user is that user already, and may keep its
	 * groups and bounding set as its first core did. */
	if (geteuid() == 0) {
		for (int cap = 0; cap <= 63; cap++)
			if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				return fail("exec", "dropping the bounding set",
				    errno);
		if (setgroups(0, NULL) < 0)
			return fail("exec", "dropping the groups", errno);
	}
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return fail("exec", "becoming the tenant", errno);
	return pre_exec_rest();
}

/*
 * For a program that needs capabilities to confine itself (virtiofsd):
 * it runs as root of its user namespace, so exec gives it the bounding
 * set, which is x->caps; no_new_privs keeps a later exec from more.
 */
int
sandbox_pre_exec_foreign(const struct sandbox_exec *x)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit zero = { 0, 0 };
	struct rlimit nofile = { x->nofile, x->nofile };
	struct rlimit nproc = { x->nproc, x->nproc };
	int rc;

	for (int cap = 0; cap <= 63; cap++)
		if (!(x->caps & (1ULL << cap)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return fail("exec", "dropping the bounding set", errno);
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)x->caps;
	d[1].effective = d[1].permitted = (uint32_t)(x->caps >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return fail("exec", "narrowing capabilities", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail("exec", "clearing ambient capabilities", errno);
	if (setrlimit(RLIMIT_CORE, &zero) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
	    setrlimit(RLIMIT_NPROC, &nproc) < 0)
		return fail("exec", "rlimits", errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("exec", "no_new_privs", errno);
	if ((rc = sandbox_load_base_filter()) < 0)
		return fail("exec", "loading the base seccomp filter", -rc);
	return 0;
}

int
sandbox_keeper(const char *name)
{
	static const int nrs[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(newfstatat),
		SCMP_SYS(lstat), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
		SCMP_SYS(exit), SCMP_SYS(exit_group),
	};
	scmp_filter_ctx c = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc;

	if (c == NULL)
		return fail(name, "seccomp_init", ENOMEM);
	if ((rc = sc_allow(c, nrs, NELEM(nrs))) < 0) {
		seccomp_release(c);
		return fail(name, "building the socket keeper's filter", -rc);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		seccomp_release(c);
		return fail(name, "no_new_privs", errno);
	}
	rc = seccomp_load(c);
	seccomp_release(c);
	return rc < 0 ? fail(name, "loading the socket keeper's filter", -rc) : 0;
}

/* The name in messages, and the SIGSYS report's prefix. */
static void
names(const struct sandbox_row *r, const struct sandbox_opts *o, char *name,
    char *prefix)
{
	if (o->name != NULL) {
		snprintf(name, 64, "%s", o->name);
		snprintf(prefix, 80, "hyve[%s]", o->name);
	} else {
		snprintf(name, 64, "%s", r != NULL ? r->name : "unknown");
		snprintf(prefix, 80, "%s", log_role());
	}
}

int
sandbox_prebuild(const struct sandbox_row *r, const struct sandbox_opts *o)
{
	static const struct sandbox_opts def;
	char name[64], prefix[80];
	scmp_filter_ctx c;
	int rc;

	if (o == NULL)
		o = &def;
	if (r == NULL || !r->host || o->off)
		return -EINVAL;
	names(r, o, name, prefix);
	if ((c = sc_build(r, name, prefix)) == NULL)
		return -EINVAL;
	free(pre.prog.filter);
	pre.row = NULL;
	if ((rc = sc_export(c, &pre.prog, name)) == 0)
		pre.row = r;
	return rc;
}

int
sandbox_enter(const struct sandbox_row *r, const int *keep_fds, int nkeep,
    const struct sandbox_opts *o)
{
	static const struct sandbox_opts def;
	char name[64], prefix[80];

	if (o == NULL)
		o = &def;
	names(r, o, name, prefix);
	if (o->off) {
		hlog("SANDBOX DISABLED for %s: the device runs with all of "
		    "hyve's privileges", name);
		return 0;
	}
	if (r == NULL || nkeep < 0 || nkeep > MAX_KEEP ||
	    (nkeep > 0 && keep_fds == NULL)) {
		hlog("%s: sandbox: bad role or kept fds (at most %d)", name,
		    MAX_KEEP);
		return -EINVAL;
	}
	if (r->host)
		return host_enter(r, o, name, prefix);
	if (r->root)
		return root_enter(r, o, name, prefix);
	return backend_enter(r, keep_fds, nkeep, o, name, prefix);
}
