/*
 * The audit: what a running process may do, read back from /proc the way
 * an auditor would check it by hand, and a verdict per role.  The auditor
 * needs ptrace read access to the process (root, or the same uid and a
 * dumpable target), since /proc/PID/{fd,ns,root} are guarded by it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <json-c/json.h>

#include "sandbox/sandbox.h"
#include "sandbox/seccomp_impl.h"

static const char *const ns_names[SANDBOX_AUDIT_NNS] = {
	"user", "mnt", "net", "ipc", "uts", "cgroup", "pid", "pid_for_children",
};

/* /proc/PID/limits lines, in RLIMIT_* order, and short names for JSON. */
static const struct {
	const char *proc, *key;
} rlims[SANDBOX_AUDIT_NRLIM] = {
	{ "Max cpu time", "cpu" }, { "Max file size", "fsize" },
	{ "Max data size", "data" }, { "Max stack size", "stack" },
	{ "Max core file size", "core" }, { "Max resident set", "rss" },
	{ "Max processes", "nproc" }, { "Max open files", "nofile" },
	{ "Max locked memory", "memlock" }, { "Max address space", "as" },
	{ "Max file locks", "locks" }, { "Max pending signals", "sigpending" },
	{ "Max msgqueue size", "msgqueue" }, { "Max nice priority", "nice" },
	{ "Max realtime priority", "rtprio" },
	{ "Max realtime timeout", "rttime" },
};

static int
read_status(pid_t pid, struct sandbox_audit *a)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		long *ids = NULL;
		uint64_t *cap = NULL;
		char *v = strchr(line, ':');

		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "Uid") == 0)
			ids = a->uid;
		else if (strcmp(line, "Gid") == 0)
			ids = a->gid;
		else if (strcmp(line, "CapInh") == 0)
			cap = &a->cap_inh;
		else if (strcmp(line, "CapPrm") == 0)
			cap = &a->cap_prm;
		else if (strcmp(line, "CapEff") == 0)
			cap = &a->cap_eff;
		else if (strcmp(line, "CapBnd") == 0)
			cap = &a->cap_bnd;
		else if (strcmp(line, "CapAmb") == 0)
			cap = &a->cap_amb;
		else if (strcmp(line, "Seccomp") == 0)
			a->seccomp = atoi(v);
		else if (strcmp(line, "Seccomp_filters") == 0)
			a->seccomp_filters = atoi(v);
		else if (strcmp(line, "NoNewPrivs") == 0)
			a->no_new_privs = atoi(v);
		if (ids != NULL)
			sscanf(v, "%ld %ld %ld %ld", &ids[0], &ids[1], &ids[2],
			    &ids[3]);
		if (cap != NULL)
			*cap = strtoull(v, NULL, 16);
	}
	fclose(f);
	return 0;
}

static void
read_link(const char *path, char *buf, size_t len)
{
	ssize_t n = readlink(path, buf, len - 1);

	buf[n < 0 ? 0 : n] = '\0';
}

/*
 * The fd is the null device, by its device number.  The path the kernel
 * shows depends on the mount it was opened on, which a backend's
 * sandbox detaches: the static backends' fds 0 and 1 read "/null".
 */
static bool
null_device(const char *link)
{
	struct stat st;

	return stat(link, &st) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(1, 3);
}

static void
read_ns(pid_t pid, struct sandbox_audit *a)
{
	char path[96], mine[sizeof(a->ns[0].id)];

	for (size_t i = 0; i < NELEM(ns_names); i++) {
		struct sandbox_audit_ns *ns = &a->ns[i];

		snprintf(ns->name, sizeof(ns->name), "%s", ns_names[i]);
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid,
		    ns_names[i]);
		read_link(path, ns->id, sizeof(ns->id));
		/*
		 * After unshare(CLONE_NEWPID) and before a first child, the
		 * kernel has no namespace to show: a new one all the same.
		 */
		if (ns->id[0] == '\0' && errno == ENOENT &&
		    strcmp(ns_names[i], "pid_for_children") == 0) {
			snprintf(ns->id, sizeof(ns->id), "pid:[new, empty]");
			ns->same_as_host = false;
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_names[i]);
		read_link(path, mine, sizeof(mine));
		/* Unreadable counts as shared: the audit cannot vouch for it. */
		ns->same_as_host = ns->id[0] == '\0' || strcmp(ns->id, mine) == 0;
	}
	a->nns = NELEM(ns_names);
}

static long long
rlim_value(const char *s)
{
	return strcmp(s, "unlimited") == 0 ? SANDBOX_RLIM_INF : atoll(s);
}

static int
read_limits(pid_t pid, struct sandbox_audit *a)
{
	char path[64], line[256], soft[32], hard[32];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		for (size_t i = 0; i < NELEM(rlims); i++) {
			size_t n = strlen(rlims[i].proc);

			/* The names are padded with spaces to column 26. */
			if (strncmp(line, rlims[i].proc, n) != 0 ||
			    line[n] != ' ' || strlen(line) < 27 ||
			    sscanf(line + 26, "%31s %31s", soft, hard) != 2)
				continue;
			a->rlim_soft[i] = rlim_value(soft);
			a->rlim_hard[i] = rlim_value(hard);
		}
	}
	fclose(f);
	return 0;
}

static int
by_fd(const void *x, const void *y)
{
	const struct sandbox_audit_fd *a = x, *b = y;

	return (a->fd > b->fd) - (a->fd < b->fd);
}

static int
read_fds(pid_t pid, struct sandbox_audit *a)
{
	char path[64], link[96];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end != '\0' || end == de->d_name || fd < 0 || fd > INT_MAX)
			continue;
		if (a->nfd == SANDBOX_AUDIT_MAXFD) {
			a->fd_truncated = true;
			break;
		}
		snprintf(link, sizeof(link), "%s/%ld", path, fd);
		a->fd[a->nfd].fd = fd;
		read_link(link, a->fd[a->nfd].target,
		    sizeof(a->fd[a->nfd].target));
		if (null_device(link))
			snprintf(a->fd[a->nfd].target,
			    sizeof(a->fd[a->nfd].target), "/dev/null");
		a->nfd++;
	}
	closedir(d);
	qsort(a->fd, a->nfd, sizeof(a->fd[0]), by_fd);
	return 0;
}

/* One line of a mountinfo: its device, root in the filesystem, mount
 * point, options and type.  false if it is not one. */
static bool
mountinfo_line(char *line, char *dev, char *root, char *at, char *opts,
    char *fs)
{
	char *dash = strstr(line, " - ");

	return dash != NULL &&
	    sscanf(line, "%*d %*d %31s %255s %127s %63s", dev, root, at,
	    opts) == 4 && sscanf(dash + 3, "%31s", fs) == 1;
}

/* The auditor's own path of root on dev: by its mount of that device
 * whose root is the longest prefix of root. */
static void
host_path(const char *dev, const char *root, char *out, size_t len)
{
	char line[1024], d[32], r[256], at[128], opts[64], fs[32];
	size_t best = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (snprintf(out, len, "%s on device %s", root, dev) < 0)
		out[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		size_t n;

		if (!mountinfo_line(line, d, r, at, opts, fs) ||
		    strcmp(d, dev) != 0)
			continue;
		n = strcmp(r, "/") == 0 ? 0 : strlen(r);
		if (strncmp(root, r, n) != 0 || (root[n] != '/' &&
		    root[n] != '\0') || (best != 0 && n + 1 <= best))
			continue;
		best = n + 1;
		if (snprintf(out, len, "%s%s", strcmp(at, "/") == 0 && root[n] ?
		    "" : at, root + n) < 0)
			out[0] = '\0';
	}
	if (f != NULL)
		fclose(f);
}

static void
read_mounts(pid_t pid, struct sandbox_audit *a)
{
	char path[64], line[1024], dev[32], root[256], at[128], opts[64];
	char fs[32];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct sandbox_audit_mnt *m;

		if (!mountinfo_line(line, dev, root, at, opts, fs))
			continue;
		if (a->nmnt++ >= SANDBOX_AUDIT_NMNT)
			continue;
		m = &a->mnt[a->nmnt - 1];
		snprintf(m->at, sizeof(m->at), "%s", at);
		snprintf(m->fs, sizeof(m->fs), "%s", fs);
		m->ro = strncmp(opts, "ro", 2) == 0 &&
		    (opts[2] == ',' || opts[2] == '\0');
		host_path(dev, root, m->path, sizeof(m->path));
	}
	fclose(f);
}

int
sandbox_audit_pid(pid_t pid, struct sandbox_audit *a)
{
	struct stat host, st;
	char path[64];
	int rc;

	if (pid <= 0)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->pid = pid;
	a->seccomp = a->seccomp_filters = a->no_new_privs = -1;
	for (int i = 0; i < 4; i++)
		a->uid[i] = a->gid[i] = -1;
	for (int i = 0; i < SANDBOX_AUDIT_NRLIM; i++)
		a->rlim_soft[i] = a->rlim_hard[i] = SANDBOX_RLIM_INF;
	if ((rc = read_status(pid, a)) < 0)
		return rc;
	read_ns(pid, a);
	if ((rc = read_limits(pid, a)) < 0)
		return rc;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	read_link(path, a->root, sizeof(a->root));
	/* The link text is relative to our root; the inode is not. */
	snprintf(path, sizeof(path), "/proc/%d/root/", (int)pid);
	a->root_is_host = stat(path, &st) < 0 || stat("/", &host) < 0 ||
	    (st.st_dev == host.st_dev && st.st_ino == host.st_ino);
	read_mounts(pid, a);
	return read_fds(pid, a);
}

static json_object *
rlim_json(long long v)
{
	return v == SANDBOX_RLIM_INF ? json_object_new_string("unlimited") :
	    json_object_new_int64(v);
}

static json_object *
cap_json(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
	return json_object_new_string(buf);
}

int
sandbox_audit_json(const struct sandbox_audit *a, json_object **out)
{
	json_object *o, *uid, *gid, *caps, *ns, *rl, *root, *fds, *mnts;

	o = json_object_new_object();
	if (o == NULL)
		return -ENOMEM;
	uid = json_object_new_array();
	gid = json_object_new_array();
	for (int i = 0; i < 4; i++) {
		json_object_array_add(uid, json_object_new_int64(a->uid[i]));
		json_object_array_add(gid, json_object_new_int64(a->gid[i]));
	}
	caps = json_object_new_object();
	json_object_object_add(caps, "inheritable", cap_json(a->cap_inh));
	json_object_object_add(caps, "permitted", cap_json(a->cap_prm));
	json_object_object_add(caps, "effective", cap_json(a->cap_eff));
	json_object_object_add(caps, "bounding", cap_json(a->cap_bnd));
	json_object_object_add(caps, "ambient", cap_json(a->cap_amb));
	ns = json_object_new_object();
	for (int i = 0; i < a->nns && i < SANDBOX_AUDIT_NNS; i++) {
		json_object *n = json_object_new_object();

		json_object_object_add(n, "id",
		    json_object_new_string(a->ns[i].id));
		json_object_object_add(n, "shared_with_host",
		    json_object_new_boolean(a->ns[i].same_as_host));
		json_object_object_add(ns, a->ns[i].name, n);
	}
	rl = json_object_new_object();
	for (size_t i = 0; i < NELEM(rlims); i++) {
		json_object *l = json_object_new_object();

		json_object_object_add(l, "soft", rlim_json(a->rlim_soft[i]));
		json_object_object_add(l, "hard", rlim_json(a->rlim_hard[i]));
		json_object_object_add(rl, rlims[i].key, l);
	}
	root = json_object_new_object();
	json_object_object_add(root, "path", json_object_new_string(a->root));
	json_object_object_add(root, "host", json_object_new_boolean(a->root_is_host));
	mnts = json_object_new_array();
	for (int i = 0; i < a->nmnt && i < SANDBOX_AUDIT_NMNT; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "at", json_object_new_string(a->mnt[i].at));
		json_object_object_add(m, "path",
		    json_object_new_string(a->mnt[i].path));
		json_object_object_add(m, "fs", json_object_new_string(a->mnt[i].fs));
		json_object_object_add(m, "ro", json_object_new_boolean(a->mnt[i].ro));
		json_object_array_add(mnts, m);
	}
	fds = json_object_new_array();
	for (int i = 0; i < a->nfd && i < SANDBOX_AUDIT_MAXFD; i++) {
		json_object *f = json_object_new_object();

		json_object_object_add(f, "fd", json_object_new_int(a->fd[i].fd));
		json_object_object_add(f, "target",
		    json_object_new_string(a->fd[i].target));
		json_object_array_add(fds, f);
	}
	json_object_object_add(o, "pid", json_object_new_int(a->pid));
	json_object_object_add(o, "uid", uid);
	json_object_object_add(o, "gid", gid);
	json_object_object_add(o, "seccomp", json_object_new_int(a->seccomp));
	json_object_object_add(o, "seccomp_filters",
	    json_object_new_int(a->seccomp_filters));
	json_object_object_add(o, "no_new_privs",
	    json_object_new_int(a->no_new_privs));
	json_object_object_add(o, "capabilities", caps);
	json_object_object_add(o, "namespaces", ns);
	json_object_object_add(o, "rlimits", rl);
	json_object_object_add(o, "root", root);
	json_object_object_add(o, "mounts", mnts);
	json_object_object_add(o, "fds", fds);
	json_object_object_add(o, "fds_truncated",
	    json_object_new_boolean(a->fd_truncated));
	*out = o;
	return 0;
}

static int
why_not(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EPERM;
}

static bool
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* stderr may be a log file or a terminal: whatever the parent gave. */
static bool
log_file(const struct sandbox_audit *a)
{
	for (int i = 0; i < a->nfd; i++)
		if (a->fd[i].fd == 2)
			return a->fd[i].target[0] == '/' &&
			    strncmp(a->fd[i].target, "/dev/", 5) != 0;
	return false;
}

/* Sockets, pipes, eventfds, io_uring, memfds, guest RAM and /dev/null
 * are harmless. */
static int
check_fds(const struct sandbox_audit *a, const struct sandbox_row *r,
    char *why, size_t len)
{
	int paths = 0;

	if (a->fd_truncated)
		return why_not(why, len, "more than %d open fds",
		    SANDBOX_AUDIT_MAXFD);
	for (int i = 0; i < a->nfd; i++) {
		const char *t = a->fd[i].target;

		if (a->fd[i].fd == 2)
			continue;
		if (starts(t, "socket:[") || starts(t, "pipe:[") ||
		    starts(t, "anon_inode:") || starts(t, "/memfd:") ||
		    strcmp(t, "/hyve-ram (deleted)") == 0 ||
		    strcmp(t, "/dev/null") == 0)
			continue;
		if (r->device != NULL && strcmp(t, r->device) == 0)
			continue;
		/* blk holds exactly one file: its disk (r->files) */
		if (t[0] == '/' && (r->files < 0 || paths++ < r->files))
			continue;
		return why_not(why, len, "fd %d points to %s, outside what "
		    "a %s backend needs", a->fd[i].fd, t[0] ? t : "(unreadable)",
		    r->name);
	}
	return 0;
}

/*
 * virtiofsd's first process, which only waits for the one that
 * pivot_root'ed: no capability in any set and no file by path.
 */
static bool
waiter(const struct sandbox_audit *a)
{
	if (a->cap_inh | a->cap_prm | a->cap_eff | a->cap_bnd | a->cap_amb)
		return false;
	for (int i = 0; i < a->nfd; i++)
		if (a->fd[i].fd != 2 && a->fd[i].target[0] == '/' &&
		    strcmp(a->fd[i].target, "/dev/null") != 0)
			return false;
	return true;
}

int
sandbox_audit_verdict(const struct sandbox_audit *a,
    const struct sandbox_row *r, char *why, size_t len)
{
	static const char *const capname[] = {
		"inheritable", "permitted", "effective", "bounding", "ambient",
	};
	const uint64_t caps[] = {
		a->cap_inh, a->cap_prm, a->cap_eff, a->cap_bnd, a->cap_amb,
	};

	if (why != NULL && len > 0)
		why[0] = '\0';
	if (r == NULL)
		return why_not(why, len, "unknown role");
	if (a->seccomp != 2)
		return why_not(why, len, "seccomp is %s (mode %d), not filtering",
		    a->seccomp == 0 ? "off" : "not a filter", a->seccomp);
	if (a->seccomp_filters == 0)
		return why_not(why, len, "no seccomp filter is loaded");
	if (a->no_new_privs != 1)
		return why_not(why, len, "no_new_privs is not set");
	if (a->rlim_soft[RLIMIT_CORE] != 0 || a->rlim_hard[RLIMIT_CORE] != 0)
		return why_not(why, len, "core dumps are allowed (RLIMIT_CORE)");
	/*
	 * The monitor keeps its few capabilities, and no others.  The core
	 * holds none; its bounding set only limits an exec, which its filter
	 * and no_new_privs rule out (and which a non-root user cannot empty).
	 */
	for (size_t i = 0; i < NELEM(caps); i++)
		if ((!r->bounding || i != 3) && caps[i] & ~r->caps)
			return why_not(why, len, "%s capability set is %#" PRIx64
			    ", %s%s%s", capname[i], caps[i], r->caps ?
			    "more than the " : "not empty", r->caps ? r->name : "",
			    r->caps ? "'s" : "");
	if (r->root)
		return 0;
	/* The core faces the guest: it must not be root in any id. */
	for (int i = 0; i < 4; i++)
		if (a->uid[i] <= 0 || a->gid[i] <= 0)
			return why_not(why, len, "runs as uid %ld gid %ld",
			    a->uid[i], a->gid[i]);
	if (r->host)
		return 0;
	/* hyve starts each backend as the init of a PID namespace of its
	 * own, so every namespace must differ from the host's. */
	for (int i = 0; i < a->nns; i++)
		if (a->ns[i].same_as_host)
			return why_not(why, len, "shares the host's %s namespace",
			    a->ns[i].name);
	if (a->nns < SANDBOX_AUDIT_NNS)
		return why_not(why, len, "namespaces were not read");
	if (a->rlim_hard[RLIMIT_NPROC] == SANDBOX_RLIM_INF ||
	    a->rlim_hard[RLIMIT_NPROC] > r->nproc)
		return why_not(why, len, "may create processes (RLIMIT_NPROC "
		    "above %lld)", r->nproc);
	if (!r->writes && !log_file(a) &&
	    a->rlim_hard[RLIMIT_FSIZE] != 0)
		return why_not(why, len, "may write files (RLIMIT_FSIZE)");
	if (a->root_is_host && !(r->exec != NULL && waiter(a)))
		return why_not(why, len, "its root is the host's / (%s)",
		    a->root[0] ? a->root : "unreadable");
	/* One mount, "/", read-only: an empty tmpfs, or the role's one
	 * directory.  A program we did not write that serves a directory
	 * (virtiofsd) has that directory as its root, on any filesystem,
	 * writable unless the share is ro. */
	if (a->nmnt != 1 || strcmp(a->mnt[0].at, "/") != 0)
		return why_not(why, len, "has %d mounts%s%s, not only its root",
		    a->nmnt, a->nmnt > 1 ? ", one at " : "", a->nmnt > 1 ?
		    a->mnt[1].at : "");
	if (r->exec != NULL && r->writes)
		return check_fds(a, r, why, len);
	if (!a->mnt[0].ro)
		return why_not(why, len, "its root (%s) is writable",
		    a->mnt[0].path);
	if (!r->dir && strcmp(a->mnt[0].fs, "tmpfs") != 0)
		return why_not(why, len, "its root is %s (%s), not an empty "
		    "tmpfs", a->mnt[0].path, a->mnt[0].fs);
	return check_fds(a, r, why, len);
}
