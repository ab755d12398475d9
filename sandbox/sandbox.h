#ifndef HYVE_SANDBOX_H
#define HYVE_SANDBOX_H

/*
 * A process confines itself once it holds every descriptor it will ever
 * need and before it reads one byte the guest controls.
 *
 * Backend roles (blk, net, rnd): drop to an unprivileged uid/gid if started
 * as root, new user, mount, pid, ipc, uts, cgroup and network namespaces,
 * an empty read-only tmpfs as root (no /proc, no /dev), every descriptor
 * closed but the kept ones, rlimits (no core, no processes, few files, no
 * file growth except for blk and a log file on stderr), no capabilities in any set, locked
 * securebits, no_new_privs, not dumpable, and last a seccomp allowlist for
 * the role whose default action names the syscall on stderr and kills the
 * process with SIGSYS.
 *
 * The core (sandbox_core): the core owns KVM and the vCPU threads, so it cannot take
 * namespaces; it runs as the tenant's uid (main.c drops it there first),
 * with no_new_privs, no core dumps, not dumpable and its seccomp allowlist
 * applied to all its threads.
 *
 * The monitor (sandbox_monitor): the privileged monitor (core/monitor.c) keeps the
 * capabilities in SANDBOX_MONITOR_CAPS and no others, no_new_privs, no core
 * dumps, not dumpable, and its allowlist (sandbox/seccomp_monitor.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <seccomp.h>

struct sandbox_exec;

/*
 * A role: what a process is given and held to.  sandbox_enter confines a
 * process by its row, the audit checks a running one against it.  Each
 * backend's row lives with its seccomp list in its own directory
 * (backends/blk/blk_sandbox.c) and its device class points at it; the
 * core's and the monitor's are in roles.c.  A backend gets new
 * namespaces, an empty root, no capabilities, rlimits and its list; the
 * core and the monitor, which cannot take namespaces, only what their
 * fields say.
 */
struct sandbox_row {
	const char	*name;			/* "blk" */
	int		(*rules)(scmp_filter_ctx c);	/* its seccomp list */
	unsigned	nofile;			/* RLIMIT_NOFILE by default */
	long long	nproc;			/* RLIMIT_NPROC: threads it needs */
	bool		writes;			/* writes files: no RLIMIT_FSIZE */
	const char	*device;		/* a device node it may hold */
	int		files;			/* regular files it may hold */
	bool		dir;			/* one directory, read-only
						   (sandbox_opts.dir) */
	bool		host;			/* the core: host namespaces and /,
						   a tenant uid, filter on all threads */
	bool		bounding;		/* may keep a full bounding set */
	bool		root;			/* the monitor: may be root, with caps */
	uint64_t	caps;			/* the capabilities it keeps */
	/* A program hyve did not write, and how it is started (below);
	 * rules is then NULL: it loads its own filter. */
	const struct sandbox_exec *exec;
	/* What such a program does under the monitor's filter, which it
	 * inherits: added to the monitor's list when the configuration has
	 * the role (sandbox_monitor_covers). */
	int		(*exec_rules)(scmp_filter_ctx c);
};

extern const struct sandbox_row sandbox_core, sandbox_monitor;

/*
 * The monitor keeps only these capabilities (one bit each in a CapEff
 * word): SETGID and SETUID to map a new backend's user namespace onto the
 * tenant's ids, DAC_OVERRIDE to open a disk the operator names for a swap,
 * NET_ADMIN to attach a tap for one, SYS_PTRACE to read the core's
 * /proc/PID/{fd,ns,root} for the audit (ptrace itself is refused by its
 * filter).
 */
#define SANDBOX_MONITOR_CAPS	((1ULL << 1) | (1ULL << 6) | (1ULL << 7) | \
				 (1ULL << 12) | (1ULL << 19))

struct sandbox_opts {
	/*
	 * sandbox=off.  A zeroed struct (or NULL opts) means fully sandboxed,
	 * so forgetting to fill it in can never disable the sandbox.
	 */
	bool off;
	const char *name;	/* "blk0" for messages; NULL: the role name */
	uid_t uid;		/* run as this when started as root; 0: 65534 */
	gid_t gid;		/* likewise; 0: 65534 */
	unsigned nofile;	/* RLIMIT_NOFILE; 0: the role's default */
	bool keep_stdio;	/* leave fds 0 and 1; else they become /dev/null */
	/*
	 * With dir: the directory dir_fd (O_PATH will do), bound read-only,
	 * is the root instead of an empty tmpfs; the role's row must allow
	 * it (dir).  Unix sockets in it can be connected to, nothing in it
	 * written, nothing outside it reached.
	 */
	bool dir;
	int dir_fd;
	/*
	 * Called after every step but the seccomp filter, in the confined
	 * process: for tests, and for a last setup call the allowlist forbids.
	 */
	void (*pre_filter)(void *arg);
	void *arg;
};

/* A seccomp death also stores the syscall number + 1 at slot (a word the
 * core can read: the device's counters page), so the core can name it. */
void sandbox_report_to(volatile uint64_t *slot);

/*
 * The profile of a role as loaded: the system calls its allowlist lets
 * through (for the core, those its denylist refuses), sorted by number.
 * A call allowed only with certain arguments has args_filtered set.
 */
#define SANDBOX_PROFILE_MAX	128
struct sandbox_profile {
	bool	denylist;		/* the core: names what is refused */
	int	n;
	struct {
		int	nr;
		char	name[24];
		bool	args_filtered;
	} sc[SANDBOX_PROFILE_MAX];
};
int sandbox_profile(const struct sandbox_row *role, struct sandbox_profile *p);

/*
 * Confines the calling process as role.  keep_fds are the descriptors the
 * process keeps (besides fd 2, always kept for logs).  Must be called
 * single-threaded for the backend roles.  Returns 0, or -errno after
 * logging what failed; the caller must then exit, never run unconfined.
 */
int sandbox_enter(const struct sandbox_row *role, const int *keep_fds, int nkeep,
    const struct sandbox_opts *o);
/*
 * Builds the filter of a host row (the core's) now, so that its
 * sandbox_enter, with the same opts, only loads it: an upgrade's new core
 * builds it before the guest pauses.
 */
int sandbox_prebuild(const struct sandbox_row *role,
    const struct sandbox_opts *o);

/*
 * The socket keeper of a standalone backend (backends/cli.c), a child
 * forked before the backend confines itself, that only waits and removes
 * the socket file: no_new_privs and an allowlist of read, write, lstat,
 * unlink and exit; anything else kills it.  Returns 0 or -errno.
 */
int sandbox_keeper(const char *name);

/*
 * In a child of the monitor, just before exec: every capability and the
 * bounding set dropped, no core dumps, no_new_privs, and the base seccomp
 * filter (what no backend needs: ptrace, modules, bpf, setns, ...).  The
 * caller has already put it in its namespaces and on the tenant's ids.
 */
int sandbox_pre_exec(void);
/* The same for a process in the host's namespaces that is still root:
 * it becomes uid and gid on the way (a new core). */
int sandbox_pre_exec_as(uid_t uid, gid_t gid);
/* The same for a sandbox_exec program: it keeps x->caps (see below). */
struct sandbox_exec;
int sandbox_pre_exec_foreign(const struct sandbox_exec *x);

/*
 * A program hyve did not write (virtiofsd for the fs role), which confines
 * itself its own way.  The monitor starts only the binary named here for
 * the role, as root of a user namespace of its own mapped onto the
 * tenant's ids, with no capabilities but caps (valid in that namespace
 * only), RLIMIT_NOFILE nofile, RLIMIT_NPROC nproc, no core dumps,
 * no_new_privs and the base filter; listen: its fd 3 is a listening socket
 * with the core's connection waiting, in a network namespace of its own.
 */
struct sandbox_exec {
	const char	*binary;
	uint64_t	caps;
	unsigned	nofile;
	long long	nproc;
	bool		listen;
};
/*
 * Before the monitor confines itself: a backend role its allowlist must
 * cover (every filter it has bounds its children), and for a program we
 * did not write, whether the configuration starts it (its exec_rules are
 * then added).  At most SANDBOX_MONITOR_ROLES.
 */
#define SANDBOX_MONITOR_ROLES	16
int sandbox_monitor_covers(const struct sandbox_row *role, bool starts);

/* --- audit: read back what a running process may do ------------------- */

#define SANDBOX_AUDIT_MAXFD	256
#define SANDBOX_AUDIT_NNS	8
#define SANDBOX_AUDIT_NRLIM	16	/* RLIMIT_CPU .. RLIMIT_RTTIME */
#define SANDBOX_RLIM_INF	(-1LL)	/* "unlimited" */

struct sandbox_audit_ns {
	char name[24];		/* "user", "mnt", ..., "pid_for_children" */
	char id[48];		/* "net:[4026531840]"; "" if unreadable */
	bool same_as_host;	/* same as the auditing process's own */
};

struct sandbox_audit_fd {
	int fd;
	char target[256];	/* readlink of /proc/PID/fd/N */
};

/* A mount the process sees: "/", an empty tmpfs or a role's directory. */
#define SANDBOX_AUDIT_NMNT	8
struct sandbox_audit_mnt {
	char at[128];		/* where the process sees it: "/" */
	char path[256];		/* what it is, as the auditor's host sees it */
	char fs[32];
	bool ro;
};

struct sandbox_audit {
	pid_t pid;
	long uid[4], gid[4];	/* real, effective, saved, filesystem */
	int seccomp;		/* 0 off, 1 strict, 2 filter; -1 unknown */
	int seccomp_filters;	/* -1 if the kernel does not say */
	int no_new_privs;	/* -1 unknown */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int nns;
	struct sandbox_audit_ns ns[SANDBOX_AUDIT_NNS];
	/* Indexed by RLIMIT_*; SANDBOX_RLIM_INF for unlimited. */
	long long rlim_soft[SANDBOX_AUDIT_NRLIM], rlim_hard[SANDBOX_AUDIT_NRLIM];
	char root[256];		/* readlink of /proc/PID/root */
	bool root_is_host;	/* same directory as the auditor's "/" */
	int nmnt;		/* its mounts, "/" first (more are cut off) */
	struct sandbox_audit_mnt mnt[SANDBOX_AUDIT_NMNT];
	int nfd;
	bool fd_truncated;	/* more than SANDBOX_AUDIT_MAXFD fds */
	struct sandbox_audit_fd fd[SANDBOX_AUDIT_MAXFD];
};

/* Reads /proc/PID/{status,ns,limits,root,fd}.  Returns 0 or -errno. */
int sandbox_audit_pid(pid_t pid, struct sandbox_audit *out);

struct json_object;
/* The audit as a new JSON object (the caller puts it).  0 or -errno. */
int sandbox_audit_json(const struct sandbox_audit *a, struct json_object **out);

/*
 * 0 if the process is confined as role requires; -EPERM otherwise, with the
 * first reason written to why ("seccomp is off (mode 0)").
 */
int sandbox_audit_verdict(const struct sandbox_audit *a,
    const struct sandbox_row *role, char *why, size_t len);

#endif
