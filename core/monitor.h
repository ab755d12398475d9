#ifndef HYVE_MONITOR_H
#define HYVE_MONITOR_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * The monitor: the one process of a VM that keeps privilege, forked by the
 * core before anything else and confined at once (sandbox_monitor).  Like
 * vmd's parent it does what needs privilege and nothing else:
 *
 * - starts backends for the core (and virtiofsd, the one program it
 *   starts that hyve did not write, held to its own row): every child is
 *   cloned into new user,
 *   PID, mount, network, IPC, UTS and cgroup namespaces, mapped onto the
 *   tenant's uid and gid, and drops every capability, sets no_new_privs and
 *   loads the base seccomp filter BEFORE it execs, so even a program chosen
 *   by an attacker starts as confined as a backend;
 * - owns the control socket: hyvectl talks to it, it answers audit itself
 *   and passes the other requests on to the core;
 * - opens what an operator's swap names (a disk, a tap).
 *
 * What it acts on comes from the operator.  Until the core seals it (just
 * before the core confines itself, so before any guest code runs), the
 * spawns it makes are the configuration being applied, and each device's
 * binary and argv are recorded.  After the seal, a spawn must repeat a
 * device's recorded binary and argv (a restart), or carry the binary an
 * operator's swap request named for that device; an open must name the disk
 * or tap an operator's swap request named.  Anything else is refused and
 * logged.
 *
 * Messages on a SOCK_SEQPACKET pair, strings NUL-terminated:
 *   'S' name role path argv0 argv1 ...  fds: socket, then the device's
 *	-> 'P' pid or -errno; for a role with a sandbox_exec that listens
 *	(virtiofsd) the reply carries the core's connection, the socket is
 *	unused, and the program is started as sandbox.h says
 *   'O' name kind("blk"|"tap") target flags  -> 'F' 0 + the fd, or -errno
 *   'L' control-path  fd: the listening control socket (may be absent)
 *	-> 'K' 0
 *   'U' binary ("": the one hyve was started from)  -> 'P' the new core's
 *	pid, with the old core's end of their handover socket, or -errno:
 *	a new core, the old one's sibling (CLONE_PARENT), as the tenant,
 *	with its handover socket and its own pair of channels to the
 *	monitor as fds UPGRADE_FD, +1 and +2 (core/upgrade.c)
 *   'H'  -> 'K' 0: the new core is ready; the monitor serves it from now
 *   'A'  -> 'K' 0: it failed (the old core, as the tenant, killed it);
 *	the monitor forgets it and serves the old one
 * and on a second pair, monitor to core: 'C' with one control connection.
 */
#define MON_MAXMSG	8192
#define MON_MAXFDS	8
#define MON_MAXARGS	32
#define MON_MAXDEVS	64

/* A new core's handover socket; its request and connection channels to
 * the monitor follow. */
#define UPGRADE_FD	3

struct mon_reply {
	char	type;
	int32_t	val;
} __attribute__((packed));

/*
 * Its children take every device class's role under its filter: the roles
 * its allowlist covers (sandbox_monitor_covers), with the programs we did
 * not write that the configuration starts.  The core calls it before it
 * forks the monitor, which inherits them, so its audit lists the same
 * allowlist.  0 or -errno.
 */
int monitor_cover_roles(void);

/* Runs the monitor on fd (requests) and ctl (connections to the core). */
void monitor_main(int fd, int ctl, pid_t core, uid_t uid, gid_t gid)
    __attribute__((noreturn));

/* In monitor_ctl.c: the control socket, served by the monitor. */
void mctl_init(int lfd, const char *path, const char *vmname, int corefd);
/* Adds its descriptors to the poll set; returns how many. */
int mctl_pollfds(struct pollfd *p, int max);
/* Serves whatever the poll found ready. */
void mctl_serve(const struct pollfd *p, int n);
/* Removes the socket's path (the VM is ending). */
void mctl_fini(void);
/* The channel on which the core gets connections (a new core's). */
void mctl_set_core(int corefd);
/* Whether an operator's pending upgrade names binary. */
bool mctl_upgrade_granted(const char *binary);
/* Whether an operator's pending swap of device names binary, path or tap. */
bool mctl_granted(const char *device, const char *binary, const char *path,
    const char *tap);

/* In monitor.c: what the audit lists.  Fills up to max entries. */
struct mon_proc {
	char	role[16], name[16];
	pid_t	pid;
};
int monitor_procs(struct mon_proc *p, int max);

#endif
