/*
 * badback: a vhost-user backend that misbehaves on command, for the core's
 * tests (test_hostile_backend.c).  It serves the control plane only (no
 * rings) and, when told, answers one request wrongly:
 *
 *   HYVE_BADBACK=REQUEST@N:ACTION	the Nth REQUEST (a name such as
 *					GET_CONFIG; N from 1) gets ACTION
 *   HYVE_BADBACK_LIMIT_MS=ms		the frontend's limit for an answer,
 *					which the delays are timed against
 *					(default VUF_TIMEOUT_MS): "late"
 *					waits twice it, "trickle" sends a
 *					byte every tenth of it
 *   HYVE_BADBACK_MS=ms			the delay of "late" instead
 *   HYVE_BADBACK_NOACK=1		REPLY_ACK is not offered, so the
 *					frontend sends most requests without
 *					waiting for an answer
 *   HYVE_BADBACK_CHILD=fifo		what forkexit and forkstay fork opens
 *					the fifo for writing and writes "c":
 *					the reader sees it live, and gone
 *
 * ACTION is badcode, badsize, hugesize, trickle, never (no answer, and
 * nothing read ever after), late, close, stop, flood, errflood, garbage,
 * bigconfig, badconfig, queues, fds, forkexit (a child takes the socket
 * over and answers, the parent exits) or forkstay (the same, but the
 * parent stays, serving no more).  It talks on fd 3 (--fd 3, as hyve
 * starts its backends), or listens on --listen PATH for one frontend.
 * Every other argument is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/vu_frontend.h"
#include "ipc/vhost_user.h"

static char bad_req[32], action[16];
static int bad_n, late_ms, step_ms;
static int callfd = -1, errfd = -1;

static void
parse(void)
{
	const char *s = getenv("HYVE_BADBACK");
	int limit = VUF_TIMEOUT_MS;

	if (getenv("HYVE_BADBACK_LIMIT_MS") != NULL)
		limit = atoi(getenv("HYVE_BADBACK_LIMIT_MS"));
	late_ms = 2 * limit;
	step_ms = limit / 10;
	if (getenv("HYVE_BADBACK_MS") != NULL)
		late_ms = atoi(getenv("HYVE_BADBACK_MS"));
	if (s == NULL || sscanf(s, "%31[A-Z_]@%d:%15s", bad_req, &bad_n,
	    action) != 3)
		bad_req[0] = '\0';
}

static void *
flood(void *arg)
{
	int fd = *(int *)arg;

	for (;;)
		eventfd_write(fd, 1);
	return NULL;
}

static void
start_flood(int *fd)
{
	pthread_t t;

	if (*fd >= 0)
		pthread_create(&t, NULL, flood, fd);
}

/* The honest answer to m in r; false if m has none. */
static bool
answer(const struct vu_msg *m, struct vu_msg *r)
{
	uint64_t pf = 1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_CONFIG | 1ull << VU_PF_RESET_DEVICE;

	if (getenv("HYVE_BADBACK_NOACK") != NULL)
		pf &= ~(1ull << VU_PF_REPLY_ACK);

	switch (m->hdr.request) {
	case VU_GET_FEATURES:
		vu_msg_u64(r, m->hdr.request, 1ull << 32 |
		    1ull << VU_F_PROTOCOL_FEATURES);
		break;
	case VU_GET_PROTOCOL_FEATURES:
		vu_msg_u64(r, m->hdr.request, pf);
		break;
	case VU_GET_QUEUE_NUM:
		vu_msg_u64(r, m->hdr.request, 1);
		break;
	case VU_GET_VRING_BASE:
		vu_msg_state(r, m->hdr.request, m->p.state.index, 0);
		break;
	case VU_GET_CONFIG:
		*r = *m;
		r->nfds = 0;
		memset(r->p.config.data, 0, sizeof(r->p.config.data));
		r->p.config.data[0] = 8;	/* blk: 8 sectors */
		break;
	default:
		if (!(m->hdr.flags & VU_FLAG_NEED_REPLY))
			return false;
		vu_msg_u64(r, m->hdr.request, 0);
		break;
	}
	r->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	return true;
}

/* Sends a header that promises size bytes, and a few of them. */
static void
send_huge(int sock, uint32_t req)
{
	struct vu_hdr h = { req, VU_VERSION | VU_FLAG_REPLY, 0xfffffff0u };
	char junk[64] = { 0 };

	if (write(sock, &h, sizeof(h)) < 0 || write(sock, junk, sizeof(junk)) < 0)
		exit(1);
}

/* The answer one byte every step_ms: a tenth of the limit, so only a
 * few of its bytes come within it. */
static void
send_trickle(int sock, const struct vu_msg *r)
{
	const char *p = (const char *)&r->hdr;

	for (size_t i = 0; i < sizeof(r->hdr) + r->hdr.size; i++) {
		if (write(sock, i < sizeof(r->hdr) ? p + i :
		    (const char *)&r->p + i - sizeof(r->hdr), 1) != 1)
			exit(0);
		usleep(step_ms * 1000);
	}
}

/*
 * A child takes the socket over and goes on serving; the parent exits or
 * stays without serving.  The child holds the fifo, if any, till it ends.
 */
static void
fork_off(bool parent_exits)
{
	const char *fifo = getenv("HYVE_BADBACK_CHILD");
	int p[2], fd;
	pid_t pid;
	char c;

	if (pipe(p) < 0 || (pid = fork()) < 0)
		exit(1);
	if (pid > 0) {
		/* Only once the child holds the fifo. */
		close(p[1]);
		if (read(p[0], &c, 1) < 0 || parent_exits)
			exit(0);
		for (;;)
			pause();
	}
	close(p[0]);
	if (fifo != NULL && ((fd = open(fifo, O_WRONLY)) < 0 ||
	    write(fd, "c", 1) != 1))
		exit(1);
	close(p[1]);
}

/* Does action to m's answer r; returns false if nothing is to be sent. */
static bool
misbehave(int sock, const struct vu_msg *m, struct vu_msg *r)
{
	if (strcmp(action, "badcode") == 0)
		r->hdr.request = m->hdr.request == VU_GET_FEATURES ?
		    VU_GET_PROTOCOL_FEATURES : VU_GET_FEATURES;
	else if (strcmp(action, "badsize") == 0)
		r->hdr.size = 4;
	else if (strcmp(action, "trickle") == 0) {
		send_trickle(sock, r);
		return false;
	} else if (strcmp(action, "hugesize") == 0) {
		send_huge(sock, m->hdr.request);
		return false;
	} else if (strcmp(action, "never") == 0) {
		for (;;)
			pause();
	} else if (strcmp(action, "late") == 0)
		usleep(late_ms * 1000);
	else if (strcmp(action, "close") == 0)
		exit(0);
	else if (strcmp(action, "forkexit") == 0)
		fork_off(true);
	else if (strcmp(action, "forkstay") == 0)
		fork_off(false);
	else if (strcmp(action, "stop") == 0)
		raise(SIGSTOP);
	else if (strcmp(action, "flood") == 0)
		start_flood(&callfd);
	else if (strcmp(action, "errflood") == 0)
		start_flood(&errfd);
	else if (strcmp(action, "bigconfig") == 0) {
		r->p.config.size = VU_MAX_CONFIG;
		r->hdr.size = VU_CONFIG_HDR + VU_MAX_CONFIG;
	} else if (strcmp(action, "badconfig") == 0)
		r->p.config.size = 0xffffffffu;
	else if (strcmp(action, "queues") == 0)
		r->p.u64 = 100000;
	else if (strcmp(action, "fds") == 0) {
		for (int i = 0; i < VU_MAX_FDS; i++)
			vu_msg_add_fd(r, eventfd(0, 0));
	}
	return true;
}

/* An unasked message, as if the backend started a conversation. */
static void
send_garbage(int sock)
{
	struct vu_msg g;

	vu_msg_u64(&g, 0x7777, 0xdeadbeef);
	vu_send(sock, &g);
}

static void
keep_fd(const struct vu_msg *m, int *where)
{
	if (m->nfds == 1) {
		if (*where >= 0)
			return;		/* a flood may be using it */
		*where = dup(m->fds[0]);
	}
}

static void
serve(int sock)
{
	int seen[VU_REQUEST_MAX + 1] = { 0 };
	struct vu_msg m, r;
	bool bad, send;

	for (;;) {
		if (vu_recv(sock, &m) < 0)
			exit(0);
		if (m.hdr.request == VU_SET_VRING_CALL)
			keep_fd(&m, &callfd);
		if (m.hdr.request == VU_SET_VRING_ERR)
			keep_fd(&m, &errfd);
		vu_msg_close_fds(&m);
		bad = m.hdr.request < VU_REQUEST_MAX && bad_req[0] != '\0' &&
		    strcmp(vu_request_name(m.hdr.request), bad_req) == 0 &&
		    ++seen[m.hdr.request] == bad_n;
		send = answer(&m, &r);
		if (bad && strcmp(action, "garbage") != 0)
			send = misbehave(sock, &m, &r) && send;
		if (send && vu_send(sock, &r) < 0)
			exit(0);
		vu_msg_close_fds(&r);
		if (bad && strcmp(action, "garbage") == 0)
			send_garbage(sock);
	}
}

static void
serve_in_child(int sock)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		serve(sock);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	exit(0);
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, c;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 1) < 0) {
		perror(path);
		exit(1);
	}
	printf("ready\n");
	fflush(stdout);
	c = accept(s, NULL, NULL);
	close(s);
	unlink(path);
	return c;
}

int
main(int argc, char **argv)
{
	int sock = 3;

	parse();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--listen") == 0)
			sock = listen_on(argv[i + 1]);
	if (sock < 0)
		return 1;
	/* hyve may start it as pid 1 of a pid namespace, which cannot stop
	 * itself: a child serves, stops, and dies with its parent. */
	if (strcmp(action, "stop") == 0)
		serve_in_child(sock);
	serve(sock);
	return 0;
}
