/*
 * The core's side of the monitor: one request at a time on a
 * SOCK_SEQPACKET pair, each answered before the next (core/monitor.h has
 * the messages), and a second pair on which the monitor hands over control
 * connections.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "core/monitor.h"
#include "core/spawner.h"
#include "lib/log.h"

static int sp_fd = -1, sp_ctl = -1;	/* the core's ends */
static pid_t sp_pid;
static int sealed;

int
spawner_start(uid_t uid, gid_t gid)
{
	int sv[2], cv[2];
	pid_t pid, core = getpid();
	int rc;

	if ((rc = monitor_cover_roles()) < 0) {
		hlog("monitor: too many backend roles: %s", strerror(-rc));
		return rc;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0) {
		hlog("monitor: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		hlog("monitor: fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		close(cv[0]);
		monitor_main(sv[1], cv[1], core, uid, gid);
	}
	close(sv[1]);
	close(cv[1]);
	sp_fd = sv[0];
	sp_ctl = cv[0];
	sp_pid = pid;
	return 0;
}

void
spawner_stop(void)
{
	if (sp_fd < 0)
		return;
	close(sp_fd);		/* it exits when its socket closes */
	close(sp_ctl);
	sp_fd = sp_ctl = -1;
	if (sp_pid > 0)
		waitpid(sp_pid, NULL, 0);
}

int
spawner_active(void)
{
	return sp_fd >= 0;
}

int
spawner_sealed(void)
{
	return sp_fd >= 0 && sealed;
}

int
spawner_ctl_fd(void)
{
	return sp_ctl;
}

/* Sends type and the strings, with fds; reads the answer (and its fd). */
static int
ask(char type, const char *const s[], int ns, const int *fds, int nfds,
    int *val, int *fdout)
{
	char buf[MON_MAXMSG], cbuf[CMSG_SPACE(MON_MAXFDS * sizeof(int))];
	struct iovec iov = { buf, 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = sp_fd, .events = POLLIN };
	struct mon_reply r;
	struct cmsghdr *c;
	size_t len = 1;
	ssize_t n;

	if (nfds > MON_MAXFDS)
		return -EINVAL;
	buf[0] = type;
	for (int i = 0; i < ns; i++) {
		size_t l = strlen(s[i]) + 1;

		if (len + l > sizeof(buf))
			return -E2BIG;
		memcpy(buf + len, s[i], l);
		len += l;
	}
	iov.iov_len = len;
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(sp_fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	if (poll(&p, 1, 10000) <= 0) {
		hlog("monitor: no answer in 10 s");
		return -ETIMEDOUT;
	}
	iov.iov_base = &r;
	iov.iov_len = sizeof(r);
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(sp_fd, &mh, MSG_CMSG_CLOEXEC)) != sizeof(r))
		return -EPIPE;
	*val = r.val;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int fd;

			memcpy(&fd, CMSG_DATA(c), sizeof(int));
			if (fdout != NULL && *fdout < 0)
				*fdout = fd;
			else
				close(fd);
		}
	return 0;
}

int
spawner_spawn(const char *name, const char *role, const char *path,
    char *const argv[], int sock, const int *fds, int nfds, pid_t *pid,
    int *conn)
{
	const char *s[MON_MAXARGS + 3];
	int all[MON_MAXFDS], ns = 0, val, rc;

	if (nfds + 1 > MON_MAXFDS)
		return -EINVAL;
	s[ns++] = name;
	s[ns++] = role;
	s[ns++] = path;
	for (int i = 0; argv[i] != NULL; i++) {
		if (ns == MON_MAXARGS + 3)
			return -E2BIG;
		s[ns++] = argv[i];
	}
	all[0] = sock;
	if (nfds > 0)
		memcpy(all + 1, fds, nfds * sizeof(int));
	*conn = -1;
	if ((rc = ask('S', s, ns, all, nfds + 1, &val, conn)) < 0)
		return rc;
	if (val < 0) {
		if (*conn >= 0)
			close(*conn);
		*conn = -1;
		return val;
	}
	*pid = val;
	return 0;
}

int
spawner_open(const char *name, const char *kind, const char *target,
    int flags)
{
	char f[16];
	const char *s[4] = { name, kind, target, f };
	int fd = -1, val, rc;

	snprintf(f, sizeof(f), "%d", flags);
	if ((rc = ask('O', s, 4, NULL, 0, &val, &fd)) < 0)
		return rc;
	if (val < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return val < 0 ? val : -EPROTO;
	}
	return fd;
}

int
spawner_seal(int lfd, const char *path)
{
	const char *s[1] = { path ? path : "" };
	int val, rc;

	rc = ask('L', s, 1, &lfd, lfd >= 0 ? 1 : 0, &val, NULL);
	if (lfd >= 0)
		close(lfd);
	if (rc < 0) {
		hlog("monitor: cannot hand it the control socket: %s",
		    strerror(-rc));
		return rc;
	}
	sealed = 1;
	return 0;
}

int
spawner_upgrade(const char *binary, pid_t *pid, int *hv)
{
	const char *s[1] = { binary ? binary : "" };
	int val, rc;

	*hv = -1;
	if ((rc = ask('U', s, 1, NULL, 0, &val, hv)) < 0)
		return rc;
	if (val < 0 || *hv < 0) {
		if (*hv >= 0)
			close(*hv);
		*hv = -1;
		return val < 0 ? val : -EPROTO;
	}
	*pid = val;
	return 0;
}

int
spawner_commit(void)
{
	int val, rc;

	const char *s[1] = { "" };	/* a bare type byte is ignored */

	if ((rc = ask('H', s, 1, NULL, 0, &val, NULL)) < 0)
		return rc;
	return val;
}

void
spawner_abort(void)
{
	const char *s[1] = { "" };
	int val;

	ask('A', s, 1, NULL, 0, &val, NULL);
}

void
spawner_adopt(int fd, int ctl)
{
	sp_fd = fd;
	sp_ctl = ctl;
	sp_pid = 0;		/* the monitor is not our child */
	sealed = 1;
}
