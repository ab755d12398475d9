/*
 * The control socket, as the monitor serves it.  hyvectl connects here;
 * the monitor reads each request line itself, answers audit (it reads
 * /proc, which the core no longer can), notes what a restart or swap names
 * (the operator's grant that monitor.c checks the core's requests against)
 * and passes the line on to the core over a socket pair of the
 * connection's own, relaying the core's answer back.  One request per
 * connection is in flight at a time, so every grant ends with its answer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "core/config.h"
#include "core/control.h"
#include "core/monitor.h"
#include "ipc/control.h"
#include "lib/log.h"

#define SEND_TIMEOUT	5	/* seconds a client has to take an answer */

struct client {
	int		cfd;		/* hyvectl */
	int		pfd;		/* the pair to the core */
	bool		waiting;	/* a request is with the core */
	bool		eof;		/* the client sent all it will */
	bool		grant;		/* req names what the operator asked */
	struct ctl_req	req;
	struct ctl_lines in;
	int		fds[2];		/* snapshot: the client's open files */
	int		nfds;
};

static struct {
	int		lfd, corefd;
	char		path[108];
	dev_t		dev;
	ino_t		ino;
	struct client	*c[CONTROL_MAX_CONN];
} mc = { .lfd = -1, .corefd = -1 };

void
mctl_init(int lfd, const char *path, const char *vmname, int corefd)
{
	struct stat st;

	(void)vmname;
	mc.lfd = lfd;
	mc.corefd = corefd;
	if (path != NULL && lfd >= 0) {
		snprintf(mc.path, sizeof(mc.path), "%s", path);
		if (lstat(path, &st) == 0) {
			mc.dev = st.st_dev;
			mc.ino = st.st_ino;
		}
	}
}

void
mctl_set_core(int corefd)
{
	mc.corefd = corefd;
}

bool
mctl_upgrade_granted(const char *binary)
{
	for (int i = 0; i < CONTROL_MAX_CONN; i++) {
		struct client *c = mc.c[i];

		if (c != NULL && c->waiting && c->grant &&
		    c->req.cmd == CTL_UPGRADE &&
		    strcmp(c->req.backend, binary) == 0)
			return true;
	}
	return false;
}

/* The COM ports' listening sockets: the confined core may not unlink. */
static void
consoles_fini(void)
{
	char key[32];
	const char *v;
	struct stat st;

	for (int i = 1; i <= 4; i++) {
		snprintf(key, sizeof(key), "lpc.com%d.path", i);
		v = config_get(key);
		if (v != NULL && strncmp(v, "unix:", 5) == 0 &&
		    lstat(v + 5, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(v + 5);
	}
}

static int send_all(int fd, const char *s, size_t len);

/*
 * The core is gone: relay the answers it sent before it went, which the
 * same poll may have seen with its end (a forced power-off answers and
 * exits at once).
 */
static void
relay_last(void)
{
	char buf[16384];
	ssize_t n;

	for (int i = 0; i < CONTROL_MAX_CONN; i++) {
		struct client *c = mc.c[i];

		while (c != NULL && c->waiting && (n = recv(c->pfd, buf,
		    sizeof(buf), MSG_DONTWAIT)) > 0)
			if (send_all(c->cfd, buf, n) < 0)
				break;
	}
}

void
mctl_fini(void)
{
	struct stat st;

	relay_last();
	/* Only our own socket: another hyve may have replaced it. */
	if (mc.lfd >= 0 && mc.path[0] != '\0' && lstat(mc.path, &st) == 0 &&
	    st.st_dev == mc.dev && st.st_ino == mc.ino)
		unlink(mc.path);
	consoles_fini();
}

bool
mctl_granted(const char *device, const char *binary, const char *path,
    const char *tap)
{
	for (int i = 0; i < CONTROL_MAX_CONN; i++) {
		struct client *c = mc.c[i];

		if (c == NULL || !c->waiting || !c->grant ||
		    strcmp(c->req.device, device) != 0)
			continue;
		if ((binary && strcmp(c->req.backend, binary) == 0) ||
		    (path && strcmp(c->req.path, path) == 0) ||
		    (tap && strcmp(c->req.tap, tap) == 0))
			return true;
	}
	return false;
}


static void
drop_fds(struct client *c)
{
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
}

/* A snapshot's line goes to the core with the files the client passed. */
static int
send_with_fds(struct client *c, const char *line, size_t len)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)line, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = CMSG_SPACE(c->nfds *
		    sizeof(int)),
	};
	struct cmsghdr *cm;
	ssize_t n;

	if (c->nfds == 0)
		return send_all(c->pfd, line, len);
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(c->nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), c->fds, c->nfds * sizeof(int));
	do
		n = sendmsg(c->pfd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	drop_fds(c);
	if (n <= 0)
		return -1;
	return send_all(c->pfd, line + n, len - n);
}

static void
drop(struct client *c)
{
	for (int i = 0; i < CONTROL_MAX_CONN; i++)
		if (mc.c[i] == c)
			mc.c[i] = NULL;
	close(c->cfd);
	if (c->pfd >= 0)
		close(c->pfd);
	drop_fds(c);
	free(c);
}

/* Blocking, with SEND_TIMEOUT set on the socket. */
static int
send_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= n;
	}
	return 0;
}

static int
send_line(struct client *c, char *line)
{
	int rc = line ? send_all(c->cfd, line, strlen(line)) : -1;

	free(line);
	return rc;
}

static json_object *
audit(void)
{
	struct mon_proc p[MON_MAXDEVS + 2];
	struct control_proc cp[MON_MAXDEVS + 2];
	const char *name = config_get_default("name", "vm");
	int n = monitor_procs(p, MON_MAXDEVS + 2);

	for (int i = 0; i < n; i++) {
		snprintf(cp[i].role, sizeof(cp[i].role), "%.15s", p[i].role);
		snprintf(cp[i].name, sizeof(cp[i].name), "%s",
		    i == 0 ? name : p[i].name);
		cp[i].pid = p[i].pid;
	}
	return control_audit(name, cp, n);
}

/* The next request lines, while none is with the core. */
static int
serve_lines(struct client *c)
{
	const char *name = config_get_default("name", "vm");
	char *line, err[512];
	size_t len;
	json_object *r;
	int rc;

	while (!c->waiting && (rc = ctl_lines_next(&c->in, &line, &len)) != 0) {
		if (rc < 0) {
			send_line(c, ctl_build_error("request line longer than "
			    "%d bytes; closing the connection",
			    CTL_MAX_LINE - 1));
			return -1;
		}
		if (ctl_parse_request(line, len, &c->req, err, sizeof(err)) < 0) {
			if (send_line(c, ctl_build_error("%s", err)) < 0)
				return -1;
			continue;
		}
		if (c->req.cmd == CTL_AUDIT && (c->req.vm[0] == '\0' ||
		    strcmp(c->req.vm, name) == 0)) {
			r = audit();
			if (send_line(c, r ? ctl_build_ok(r) : ctl_build_error(
			    "audit: out of memory")) < 0)
				return -1;
			continue;
		}
		if ((c->req.cmd == CTL_SWAP || c->req.cmd == CTL_UPGRADE) &&
		    c->req.backend[0] != '\0' &&
		    access(c->req.backend, X_OK) < 0) {
			if (send_line(c, ctl_build_error("%s: %s",
			    c->req.backend, strerror(errno))) < 0)
				return -1;
			continue;
		}
		c->grant = c->req.cmd == CTL_SWAP || c->req.cmd == CTL_UPGRADE;
		line[len] = '\n';
		if (c->req.cmd != CTL_SNAPSHOT)
			drop_fds(c);
		if (send_with_fds(c, line, len + 1) < 0)
			return -1;
		c->waiting = true;
	}
	return c->eof && !c->waiting ? -1 : 0;
}

static void
from_client(struct client *c)
{
	size_t room;
	char *p = ctl_lines_space(&c->in, &room);
	ssize_t n;

	if (room == 0) {
		drop(c);
		return;
	}
	n = ctl_recv_fds(c->cfd, p, room, c->fds, &c->nfds, 2);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		c->eof = true;
	else
		ctl_lines_added(&c->in, n);
	if (serve_lines(c) < 0)
		drop(c);
}

/* The core's answer: relayed; its newline ends the request and grant. */
static void
from_core(struct client *c)
{
	char buf[16384];
	ssize_t n = recv(c->pfd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || send_all(c->cfd, buf, n) < 0) {
		drop(c);
		return;
	}
	if (memchr(buf, '\n', n) != NULL) {
		c->waiting = false;
		c->grant = false;
		if (serve_lines(c) < 0)
			drop(c);
	}
}

/* Only root and the user who started hyve; never the core's tenant. */
static bool
peer_allowed(int fd)
{
	struct ucred cr;
	int rc;

	if ((rc = ctl_peer_check(fd, getuid(), &cr)) == 0)
		return true;
	if (rc != -EACCES)
		return false;
	hlog("control socket %s: refusing pid %d of uid %d (only uid %d and "
	    "root may connect)", mc.path, (int)cr.pid, (int)cr.uid,
	    (int)getuid());
	return false;
}

/* Hands one end of a new pair to the core as a control connection. */
static int
pair_to_core(void)
{
	char cbuf[CMSG_SPACE(sizeof(int))], t = 'C';
	struct iovec iov = { &t, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sv[1], sizeof(int));
	if (sendmsg(mc.corefd, &mh, MSG_NOSIGNAL) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	close(sv[1]);
	return sv[0];
}

static void
accept_one(void)
{
	struct timeval tv = { SEND_TIMEOUT, 0 };
	struct client *c;
	int fd, i;

	if ((fd = accept4(mc.lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return;
	for (i = 0; i < CONTROL_MAX_CONN && mc.c[i] != NULL; i++)
		;
	if (!peer_allowed(fd) || i == CONTROL_MAX_CONN ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		char *e = ctl_build_error(i == CONTROL_MAX_CONN ? "too many "
		    "control connections; close some and retry" : "permission "
		    "denied: only the VM's owner and root may use its control "
		    "socket");

		if (e != NULL && send(fd, e, strlen(e), MSG_NOSIGNAL |
		    MSG_DONTWAIT) < 0)
			hlog("control socket: a refused client went away");
		free(e);
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->cfd = fd;
	ctl_lines_init(&c->in);
	if ((c->pfd = pair_to_core()) < 0) {
		drop(c);
		return;
	}
	mc.c[i] = c;
}

int
mctl_pollfds(struct pollfd *p, int max)
{
	int n = 0;

	if (mc.lfd >= 0 && n < max) {
		p[n].fd = mc.lfd;
		p[n++].events = POLLIN;
	}
	for (int i = 0; i < CONTROL_MAX_CONN && n + 2 <= max; i++) {
		struct client *c = mc.c[i];

		if (c == NULL)
			continue;
		p[n].fd = c->eof ? -1 : c->cfd;
		p[n++].events = POLLIN;
		p[n].fd = c->pfd;
		p[n++].events = POLLIN;
	}
	return n;
}

void
mctl_serve(const struct pollfd *p, int n)
{
	for (int k = 0; k < n; k++) {
		if (p[k].revents == 0)
			continue;
		if (p[k].fd == mc.lfd) {
			accept_one();
			continue;
		}
		/* The client may have gone while an earlier fd was served. */
		for (int i = 0; i < CONTROL_MAX_CONN; i++) {
			struct client *c = mc.c[i];

			if (c != NULL && p[k].fd == c->cfd)
				from_client(c);
			else if (c != NULL && p[k].fd == c->pfd)
				from_core(c);
			else
				continue;
			break;
		}
	}
}
