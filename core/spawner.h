#ifndef HYVE_SPAWNER_H
#define HYVE_SPAWNER_H

#include <sys/types.h>

/*
 * The core's end of the monitor (core/monitor.h): forked at the very
 * start, while the core is one thread and still privileged, it starts the
 * backends, opens what an operator's swap names and serves the control
 * socket.  With it the core itself never needs fork, exec, namespaces,
 * open or any capability, so it can run as the tenant with none.
 */
int spawner_start(uid_t uid, gid_t gid);
/* Ends the monitor (at exit). */
void spawner_stop(void);
/* Whether spawner_start succeeded (else backend.c forks by itself). */
int spawner_active(void);
/* Whether the monitor is sealed: from now on it checks every request. */
int spawner_sealed(void);
/*
 * Starts path with argv for device name of role ("blk"); sock becomes fd
 * 3, fds[i] fd 4+i.  For a program that wants a listening socket (the
 * role's sandbox_exec), *conn is the core's connection to it, else -1.
 */
int spawner_spawn(const char *name, const char *role, const char *path,
    char *const argv[], int sock, const int *fds, int nfds, pid_t *pid,
    int *conn);
/* Asks for a disk ("blk", path, open flags) or a tap ("tap", name) for a
 * swap of device name; the new descriptor, or -errno. */
int spawner_open(const char *name, const char *kind, const char *target,
    int flags);
/*
 * The configuration is applied: the monitor takes the listening control
 * socket lfd (closed here; -1 for none) at path, and from now on checks
 * each request against what was started so far and what an operator asks.
 */
int spawner_seal(int lfd, const char *path);
/* Where the monitor hands the core its control connections, or -1. */
int spawner_ctl_fd(void);

/*
 * hyvectl upgrade (core/upgrade.c): the monitor starts a new core from
 * binary (NULL: hyve's own) and gives its pid and the old core's end of
 * their handover socket; commit makes the monitor serve the new one,
 * abort kills it.  A new core adopts its channels to the monitor.
 */
int spawner_upgrade(const char *binary, pid_t *pid, int *hv);
int spawner_commit(void);
void spawner_abort(void);
void spawner_adopt(int fd, int ctl);

#endif
