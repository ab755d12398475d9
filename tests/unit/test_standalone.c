/*
 * The backends run standalone (--socket PATH), against hostile or hasty
 * frontends: quick reconnects, a memory file that shrinks under a ring, a
 * second instance on a live socket, SIGTERM, garbage.  Each case runs the
 * real binary, sandboxed, and checks it serves the next frontend.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "tests/unit/vufront.h"

#define MEMSZ	(1u << 20)
#define UVA	0x7f0000000000ull
#define NUM	8
#define RING	0x1000
#define BUF	0x10000
#define CYCLES	100

struct backend {
	const char *name, *env;
	bool netns;		/* hyve-net: its own network namespace and tap */
};

static const struct backend blk = { "hyve-blk", "HYVE_BLK", false };
/* hyve-blk with two queues: a thread per queue. */
static const struct backend blk2 = { "hyve-blk", "HYVE_BLK", false };
static const struct backend rnd = { "hyve-rnd", "HYVE_RND", false };
static const struct backend net = { "hyve-net", "HYVE_NET", true };

static char dir[] = "/tmp/hyve-standalone.XXXXXX";
static char sockpath[100], logpath[100], imgpath[100];
static pid_t started[8];	/* killed by teardown, should a test fail */
static int nstarted;

/* Prints the end of the backend's log. */
static void
show_log(void)
{
	char buf[4096];
	int fd = open(logpath, O_RDONLY | O_CLOEXEC);
	off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
	ssize_t n = -1;

	if (fd >= 0 && lseek(fd, end > 4000 ? end - 4000 : 0, SEEK_SET) >= 0)
		n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		print_message("backend log:\n%s", buf);
	}
	if (fd >= 0)
		close(fd);
}

static bool log_has(const char *s);

/* Fails unless the backend logged s. */
static void
expect_log(const char *s)
{
	if (log_has(s))
		return;
	show_log();
	fail_msg("the backend did not log \"%s\"", s);
}

static bool
log_has(const char *s)
{
	static char buf[65536];
	int fd = open(logpath, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/*
 * Starts the backend on sockpath, logging to logpath; waits until it
 * listens.  Returns its pid, or 0 if it cannot run here (the test skips).
 */
static pid_t
start_on(const struct backend *be, const char *path, bool wait)
{
	char bin[PATH_MAX];
	const char *argv[8] = { bin, "--socket", path };
	int n = 3, logfd;
	pid_t pid;

	if (!vf_find_binary(bin, sizeof(bin), be->name, be->env)) {
		print_message("%s not found next to the test binary; run make "
		    "(or set %s)\n", be->name, be->env);
		return 0;
	}
	if (be == &blk || be == &blk2) {
		argv[n++] = "--file";
		argv[n++] = imgpath;
		if (be == &blk2) {
			argv[n++] = "--queues";
			argv[n++] = "2";
		}
	} else if (be == &net) {
		argv[n++] = "--tap";
		argv[n++] = "hvstand0";
	}
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(logfd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (be->netns && unshare(CLONE_NEWNET) < 0)
			_exit(77);
		dup2(logfd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(logfd);
	if (nstarted < 8)
		started[nstarted++] = pid;
	for (int i = 0; wait && i < 500; i++) {
		struct stat st;
		int status;

		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return pid;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
				print_message("%s: cannot make a network "
				    "namespace here (not root?); skipped\n",
				    be->name);
				return 0;
			}
			show_log();
			fail_msg("%s exited before it listened", be->name);
		}
		usleep(10000);
	}
	if (wait) {
		show_log();
		fail_msg("%s did not listen on %s", be->name, path);
	}
	return pid;
}

static pid_t
start(const struct backend *be)
{
	return start_on(be, sockpath, true);
}

static bool
alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

static void
stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Waits up to ms for pid to end; its wait status, or -1. */
static int
reap(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

/* connect(2) once, no retry; replies time out after 5 s. */
static int
dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* True if GET_FEATURES on sock is answered. */
static bool
answered(int sock)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	return vu_call(sock, &m, &r) == 0 && (r.p.u64 & (1ull << 32));
}

/* A new frontend is served. */
static void
serves(const char *name)
{
	int s = dial();

	if (s < 0)
		show_log();
	assert_true(s >= 0);
	if (!answered(s)) {
		show_log();
		fail_msg("%s: a new frontend was not served", name);
	}
	close(s);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/be.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/be.log", dir);
	snprintf(imgpath, sizeof(imgpath), "%s/disk.img", dir);
	fd = open(imgpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, MEMSZ) < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[200];

	(void)state;
	for (int i = 0; i < nstarted; i++)
		if (waitpid(started[i], NULL, WNOHANG) == 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
		}
	nstarted = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * connect, close, connect again at once, GET_FEATURES: every second
 * connection must be answered, though the first one's hang-up may still
 * be unread when the backend accepts it.
 */
static void
reconnect(const struct backend *be)
{
	pid_t pid = start(be);
	int ok = 0;

	if (pid == 0)
		skip();
	for (int i = 0; i < CYCLES; i++) {
		int a = dial(), b;

		assert_true(a >= 0);
		close(a);
		b = dial();
		assert_true(b >= 0);
		ok += answered(b);
		close(b);
	}
	if (ok != CYCLES)
		show_log();
	assert_int_equal(ok, CYCLES);
	assert_true(alive(pid));
	stop(pid);
}

static void
test_reconnect_blk(void **state)
{
	(void)state;
	reconnect(&blk);
}

static void
test_reconnect_rnd(void **state)
{
	(void)state;
	reconnect(&rnd);
}

static void
test_reconnect_net(void **state)
{
	(void)state;
	reconnect(&net);
}

static void
negotiate(int s, uint64_t *nq)
{
	struct vu_msg m, r;

	vu_msg_u64(&m, VU_SET_FEATURES, 1ull << 32 | 1ull << VU_F_PROTOCOL_FEATURES);
	vf_call_ok(s, &m, &r);
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK);
	vf_call_ok(s, &m, &r);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	vf_call_ok(s, &m, &r);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	vf_call_ok(s, &m, &r);
	*nq = r.p.u64;
}

/* True once the backend has closed s (EOF within 5 s). */
static bool
closed_by_peer(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	char c;

	return poll(&p, 1, 5000) == 1 && recv(s, &c, 1, MSG_DONTWAIT) == 0;
}

/*
 * A ring in a memfd that cannot be sealed; the frontend truncates the
 * memfd to 0 and kicks.  The backend must not die of SIGBUS: it drops
 * that frontend and serves the next.
 */
static void
shrink(const struct backend *be)
{
	struct vf_queue vq;
	uint64_t nq;
	uint8_t *mem = NULL;
	pid_t pid = start(be);
	int s, memfd;

	if (pid == 0)
		skip();
	s = dial();
	assert_true(s >= 0);
	assert_true(answered(s));
	negotiate(s, &nq);
	assert_true(nq >= 1);
	memfd = vf_guest_mem("shrinking", MEMSZ, &mem);
	assert_true(memfd >= 0);
	vf_queue_open(&vq);
	assert_int_equal(vf_mem_table(s, memfd, MEMSZ, UVA), 0);
	assert_int_equal(vf_ring(s, mem, UVA, 0, NUM, RING, &vq), 0);
	vq.desc[0] = (struct vring_desc){ BUF, 64, VRING_DESC_F_WRITE, 0 };
	vq.avail->ring[0] = 0;
	__atomic_store_n(&vq.avail->idx, 1, __ATOMIC_RELEASE);
	munmap(mem, MEMSZ);
	assert_int_equal(ftruncate(memfd, 0), 0);
	eventfd_write(vq.kick, 1);
	if (!closed_by_peer(s)) {
		show_log();
		fail_msg("%s: the shrink did not end the connection", be->name);
	}
	close(s);
	close(memfd);
	vf_queue_close(&vq);
	serves(be->name);
	if (!alive(pid)) {
		show_log();
		fail_msg("%s died", be->name);
	}
	expect_log("shrank a memory file");
	stop(pid);
}

static void
test_shrink_blk(void **state)
{
	(void)state;
	shrink(&blk);
}

/* The same where a queue thread, not the server's, hits the shrunk file. */
static void
test_shrink_blk_queues(void **state)
{
	(void)state;
	shrink(&blk2);
}

static void
test_shrink_rnd(void **state)
{
	(void)state;
	shrink(&rnd);
}

/* SET_MEM_TABLE of one region from fd; the backend's ack (0: taken). */
static uint64_t
mem_table_ack(int s, int fd)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + sizeof(struct vu_region));
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	vu_msg_add_fd(&m, fd);
	assert_int_equal(vu_send(s, &m), 0);
	assert_int_equal(vu_recv(s, &r), 0);
	assert_int_equal(r.hdr.request, VU_SET_MEM_TABLE);
	return r.p.u64;
}

/* A memfd that could be sealed against shrinking must be. */
static void
test_seals(void **state)
{
	pid_t pid = start(&rnd);
	uint64_t nq;
	int s, fd;

	(void)state;
	if (pid == 0)
		skip();
	s = dial();
	assert_true(s >= 0);
	negotiate(s, &nq);
	fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEMSZ), 0);
	assert_int_not_equal(mem_table_ack(s, fd), 0);
	expect_log("F_SEAL_SHRINK");
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	assert_int_equal(mem_table_ack(s, fd), 0);
	assert_true(ftruncate(fd, 0) < 0);
	close(fd);
	close(s);
	serves("hyve-rnd");
	stop(pid);
}

/* SIGTERM and SIGINT: exit 0 with the socket file removed; SIGKILL: the
 * file goes soon after. */
static void
ends(const struct backend *be, int sig)
{
	pid_t pid = start(be);
	struct stat st;
	int status, i;

	if (pid == 0)
		skip();
	serves(be->name);
	kill(pid, sig);
	status = reap(pid, 5000);
	assert_int_not_equal(status, -1);
	if (sig != SIGKILL) {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_true(stat(sockpath, &st) < 0 && errno == ENOENT);
		return;
	}
	for (i = 0; i < 500 && stat(sockpath, &st) == 0; i++)
		usleep(10000);
	assert_true(i < 500);
}

static void
test_sigterm_removes_socket(void **state)
{
	(void)state;
	ends(&rnd, SIGTERM);
	ends(&blk, SIGTERM);
}

static void
test_sigint_removes_socket(void **state)
{
	(void)state;
	ends(&rnd, SIGINT);
	ends(&blk, SIGINT);
}

static void
test_sigkill_removes_socket(void **state)
{
	(void)state;
	ends(&rnd, SIGKILL);
}

/* A second instance on a live socket refuses; a stale socket is replaced. */
static void
test_live_socket(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t first = start(&rnd), second;
	int status, fd;

	(void)state;
	if (first == 0)
		skip();
	second = start_on(&blk, sockpath, false);
	status = reap(second, 5000);
	if (status == -1)
		stop(second);
	assert_true(status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 1);
	expect_log("another process is listening");
	assert_true(alive(first));
	serves("hyve-rnd");
	stop(first);

	/* A socket file nobody listens on: the next instance takes it. */
	unlink(sockpath);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	second = start(&rnd);
	fd = vf_connect(sockpath);	/* the file was there before it listened */
	assert_true(fd >= 0);
	assert_true(answered(fd));
	close(fd);
	stop(second);
}

/* Garbage closes the connection, and the log says so. */
static void
test_garbage_closes(void **state)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 4 };
	pid_t pid = start(&rnd);
	int s;

	(void)state;
	if (pid == 0)
		skip();
	s = dial();
	assert_true(s >= 0);
	assert_int_equal(write(s, &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(s, "abcd", 4), 4);
	assert_true(closed_by_peer(s));
	close(s);
	expect_log("closing the connection");
	assert_false(log_has("dropping it"));
	serves("hyve-rnd");
	stop(pid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reconnect_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_rnd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrink_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrink_blk_queues, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shrink_rnd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_removes_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigint_removes_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_removes_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_closes, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
