/*
 * The spawner process and the core's side of it.  Messages on one unix
 * socket pair:
 *   core -> spawner: "S", then path and argv as NUL-terminated strings,
 *	with the backend's socket and descriptors attached (SCM_RIGHTS);
 *   spawner -> core: "P" + pid (or -errno), the answer to a spawn.
 * The backend is cloned with CLONE_PARENT: it is the core's child, so the
 * core watches and reaps it as before, and ps shows it under hyve.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "core/backend.h"
#include "core/log.h"
#include "core/spawner.h"

#define SP_MAXMSG	8192
#define SP_MAXFDS	8
#define SP_MAXARGS	32

struct sp_report {
	char	type;
	int32_t	pid;
	int32_t	status;
} __attribute__((packed));

static int sp_fd = -1;			/* the core's end */
static pid_t sp_pid;

/* --- the spawner process --------------------------------------------- */

static int
sp_send(int fd, char type, pid_t pid, int status)
{
	struct sp_report r = { type, pid, status };

	return send(fd, &r, sizeof(r), MSG_NOSIGNAL) == sizeof(r) ? 0 : -1;
}

static void
sp_spawn(int fd, char *buf, size_t len, int *fds, int nfds)
{
	char *argv[SP_MAXARGS + 1], *p = buf + 1, *end = buf + len;
	int argc = 0, i;
	pid_t pid;

	/* path, then argv[0..]; every string NUL-terminated inside buf */
	while (p < end && argc < SP_MAXARGS) {
		char *z = memchr(p, '\0', end - p);

		if (z == NULL)
			break;
		argv[argc++] = p;
		p = z + 1;
	}
	argv[argc] = NULL;
	if (argc < 2 || nfds < 1) {
		sp_send(fd, 'P', -EINVAL, 0);
		goto out;
	}
	pid = backend_start(CLONE_PARENT, argv[0], argv + 1, fds[0], fds + 1,
	    nfds - 1, fd);
	sp_send(fd, 'P', pid < 0 ? -errno : pid, 0);
out:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static int
sp_recv(int fd, char *buf, size_t len, int *fds, int *nfds)
{
	char cbuf[CMSG_SPACE(SP_MAXFDS * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	}
	return n;
}

static void __attribute__((noreturn))
sp_main(int fd)
{
	char buf[SP_MAXMSG];
	int fds[SP_MAXFDS], nfds, n;

	log_set_role("spawner");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "hyve-spawner");
	for (;;) {
		n = sp_recv(fd, buf, sizeof(buf) - 1, fds, &nfds);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			_exit(0);	/* the core is gone */
		}
		buf[n] = '\0';
		if (buf[0] == 'S')
			sp_spawn(fd, buf, n, fds, nfds);
		else
			while (nfds > 0)
				close(fds[--nfds]);
	}
}

/* --- the core's side ------------------------------------------------------ */

int
spawner_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		hlog("spawner: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		hlog("spawner: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		sp_main(sv[1]);
	}
	close(sv[1]);
	sp_fd = sv[0];
	sp_pid = pid;
	return 0;
}

void
spawner_stop(void)
{
	if (sp_fd < 0)
		return;
	close(sp_fd);		/* it exits when its socket closes */
	sp_fd = -1;
	waitpid(sp_pid, NULL, 0);
}

int
spawner_active(void)
{
	return sp_fd >= 0;
}

/* Reads one report; exit reports are kept for spawner_status. */
static int
read_report(int ms, struct sp_report *r)
{
	struct pollfd p = { .fd = sp_fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	n = recv(sp_fd, r, sizeof(*r), 0);
	if (n != sizeof(*r))
		return -EPIPE;
	return 0;
}

int
spawner_spawn(const char *path, char *const argv[], int sock, const int *fds,
    int nfds, pid_t *pid)
{
	char buf[SP_MAXMSG], cbuf[CMSG_SPACE(SP_MAXFDS * sizeof(int))];
	struct iovec iov = { buf, 0 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = CMSG_SPACE((nfds + 1) *
		    sizeof(int)),
	};
	struct cmsghdr *c;
	struct sp_report r;
	size_t len = 1;
	int i, all[SP_MAXFDS], rc;

	if (nfds + 1 > SP_MAXFDS)
		return -EINVAL;
	buf[0] = 'S';
	for (i = -1; i == -1 || argv[i] != NULL; i++) {
		const char *s = i < 0 ? path : argv[i];
		size_t l = strlen(s) + 1;

		if (len + l > sizeof(buf) || i >= SP_MAXARGS - 2)
			return -E2BIG;
		memcpy(buf + len, s, l);
		len += l;
	}
	iov.iov_len = len;
	all[0] = sock;
	memcpy(all + 1, fds, nfds * sizeof(int));
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((nfds + 1) * sizeof(int));
	memcpy(CMSG_DATA(c), all, (nfds + 1) * sizeof(int));
	if (sendmsg(sp_fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	do {
		if ((rc = read_report(5000, &r)) < 0) {
			hlog("spawner: no answer: %s", strerror(-rc));
			return rc;
		}
	} while (r.type != 'P');
	if (r.pid < 0)
		return r.pid;
	*pid = r.pid;
	return 0;
}
