#ifndef HYVE_BACKEND_H
#define HYVE_BACKEND_H

#include <sys/types.h>

/*
 * Backend processes: the monitor starts each one for the core (or, without
 * a monitor, the core itself with fork+exec), handing it
 * one end of a socketpair (as fd 3) and the descriptors it serves (disk,
 * tap) as fds 4, 5, ...  The backend opens nothing by path.
 */
#define BACKEND_SOCK_FD	3
#define BACKEND_FD(i)	(BACKEND_SOCK_FD + 1 + (i))	/* fds[i] */

struct backend_proc {
	char	name[16];	/* "blk0" */
	char	role[8];	/* "blk": its sandbox role, for the audit */
	char	path[4096];	/* the binary */
	pid_t	pid;
	int	pidfd;		/* readable when the backend exits */
	int	sock;		/* the core's end of the vhost-user socket */
};

/* The binary for type ("blk"): next to the running hyve, unless override. */
int backend_binary(const char *type, const char *override, char *out,
    size_t len);
/*
 * Starts path with argv (argv[0] is set here), fds[i] as fd 4+i.  On
 * success fills bp->pid, bp->pidfd and bp->sock.
 */
int backend_spawn(struct backend_proc *bp, char *const argv[], const int *fds,
    int nfds);
/*
 * Clones (with flags, e.g. CLONE_PARENT) a child in a new PID namespace
 * where allowed; the child closes closefd, gets sock as fd 3 and fds[i] as
 * fd 4+i, closes the rest and execs path.  Returns the pid, or -1.
 */
pid_t backend_start(int flags, const char *path, char *const argv[], int sock,
    const int *fds, int nfds, int closefd);
/* Reaps an exited backend; writes why it ended into buf, or, for one
 * another process reaps, BACKEND_REAPED_ELSEWHERE. */
int backend_reap(struct backend_proc *bp, char *buf, size_t len);
#define BACKEND_REAPED_ELSEWHERE "ended (the first core reaped it)"
/* A wait status in words: "exited with status 1", "killed by signal 9". */
void backend_status_text(int status, char *buf, size_t len);
/* Ends a backend whose socket the core has closed: it has a moment to
 * exit by itself, then it is killed; either way it is reaped. */
void backend_stop(struct backend_proc *bp);
/* Connects to a vhost-user backend someone else started. */
int backend_connect(const char *path);

#endif
