/*
 * Restart benchmark: the time from SIGKILL of a block backend to the first
 * request completed by the backend that replaces it, while the guest keeps
 * I/O going (blk-stress).
 *
 *	restart hyve SOCKET DEVICE KILLS GAP_MS
 *		hyve restarts the backend itself.  Over hyve's control socket:
 *		find DEVICE's backend pid (status), SIGKILL it, wait for it to
 *		be gone, then ask for the device's request count (stats) until
 *		it grows.
 *	restart spawn KILLS GAP_MS WAITPID BACKEND ARGS...
 *		A frontend we do not control (QEMU with reconnect=1): spawn
 *		BACKEND ARGS --stats-fd N ourselves, SIGKILL it, start a new
 *		one at once and watch the counters page until the request count
 *		grows.  Then keep the last backend until WAITPID exits.
 *
 * Kills are GAP_MS to 1.5 * GAP_MS apart.  Output: one line per kill,
 * "restart ms N.NN", and "restart failed WHY" for a kill that was not
 * followed by a completed request within 10 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ipc/control.h"
#include "ipc/stats.h"

#define WAIT_MS		10000	/* for the first request after a kill */
#define POLL_US		200	/* between two looks at the counter */

static struct ctl_lines lines;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_us(uint64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void
gap(long ms)
{
	sleep_us((uint64_t)(ms + random() % (ms / 2 + 1)) * 1000);
}

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits up to ms for the process behind pidfd to end. */
static int
wait_gone(int pidfd, int ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1 ? 0 : -ETIMEDOUT;
}

/* --- hyve: over the control socket ----------------------------------- */

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "restart: %s: socket path too long\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "restart: %s: %s (is hyve running with "
		    "-o control.path=%s?)\n", path, strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	ctl_lines_init(&lines);
	return fd;
}

/* Sends cmd, returns the result object (caller's reference) or NULL. */
static json_object *
ctl_call(int fd, const char *cmd)
{
	char req[128], err[256], *line, *sp;
	json_object *res;
	size_t room, len;
	ssize_t n;
	int rc, l;

	l = snprintf(req, sizeof(req), "{\"version\":1,\"cmd\":\"%s\"}\n", cmd);
	if (write(fd, req, l) != l) {
		fprintf(stderr, "restart: control socket: write: %s\n",
		    strerror(errno));
		return NULL;
	}
	while ((rc = ctl_lines_next(&lines, &line, &len)) == 0) {
		if ((sp = ctl_lines_space(&lines, &room)) == NULL || room == 0 ||
		    (n = read(fd, sp, room)) <= 0) {
			fprintf(stderr, "restart: control socket closed by "
			    "hyve during %s\n", cmd);
			return NULL;
		}
		ctl_lines_added(&lines, n);
	}
	if (rc < 0 || ctl_parse_response(line, len, &res, err, sizeof(err))) {
		fprintf(stderr, "restart: %s: %s\n", cmd,
		    rc < 0 ? "response too long" : err);
		return NULL;
	}
	return res;
}

/* The device's entry in a status or stats result, or NULL. */
static json_object *
ctl_dev(json_object *res, const char *dev)
{
	json_object *devs, *d, *name;
	size_t i;

	if (!json_object_object_get_ex(res, "devices", &devs))
		return NULL;
	for (i = 0; i < json_object_array_length(devs); i++) {
		d = json_object_array_get_idx(devs, i);
		if (json_object_object_get_ex(d, "name", &name) &&
		    strcmp(json_object_get_string(name), dev) == 0)
			return d;
	}
	return NULL;
}

/* A number field of the device's entry in cmd's result, or -1. */
static int64_t
ctl_num(int fd, const char *cmd, const char *dev, const char *key)
{
	json_object *res, *d, *v;
	int64_t n = -1;

	if ((res = ctl_call(fd, cmd)) == NULL)
		return -1;
	if ((d = ctl_dev(res, dev)) != NULL &&
	    json_object_object_get_ex(d, key, &v) &&
	    json_object_is_type(v, json_type_int))
		n = json_object_get_int64(v);
	json_object_put(res);
	return n;
}

static int
hyve_one(int fd, const char *dev)
{
	uint64_t t0, t;
	int64_t pid = -1, r0, r;
	int i, pidfd;

	/* The backend is up and serving: a request completed after it. */
	for (i = 0; i < 5000 && pid <= 0; i++) {
		pid = ctl_num(fd, "status", dev, "pid");
		if (pid <= 0)
			sleep_us(1000);
	}
	if (pid <= 0) {
		printf("restart failed %s has no backend pid\n", dev);
		return -ESRCH;
	}
	if ((pidfd = pidfd_open(pid)) < 0) {
		printf("restart failed pidfd_open %lld: %s\n", (long long)pid,
		    strerror(errno));
		return -errno;
	}
	t0 = now_us();
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 ||
	    wait_gone(pidfd, 2000) < 0) {
		printf("restart failed kill %lld: %s\n", (long long)pid,
		    strerror(errno));
		close(pidfd);
		return -EIO;
	}
	close(pidfd);
	/* Dead: its count is final. */
	r0 = ctl_num(fd, "stats", dev, "requests");
	while ((r = ctl_num(fd, "stats", dev, "requests")) == r0 && r0 >= 0) {
		if (now_us() - t0 > WAIT_MS * 1000) {
			printf("restart failed no request completed on %s "
			    "within %d ms\n", dev, WAIT_MS);
			return -ETIMEDOUT;
		}
		sleep_us(POLL_US);
	}
	t = now_us();
	if (r < 0) {
		printf("restart failed no stats for %s\n", dev);
		return -EIO;
	}
	printf("restart ms %.2f\n", (t - t0) / 1000.0);
	fflush(stdout);
	return 0;
}

static int
bench_hyve(char **av)
{
	int kills = atoi(av[2]), fd, i, bad = 0;
	long ms = atol(av[3]);

	if ((fd = ctl_connect(av[0])) < 0)
		return 1;
	for (i = 0; i < kills; i++) {
		gap(ms);
		if (hyve_one(fd, av[1]) < 0 && ++bad > 2)
			break;
	}
	close(fd);
	return bad ? 1 : 0;
}

/* --- a backend of our own, behind another frontend ------------------- */

static pid_t
spawn(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(argv[0], argv);
		fprintf(stderr, "restart: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Waits until the count is above r0; -ETIMEDOUT after WAIT_MS. */
static int
grows(volatile struct hyve_stats *st, uint64_t r0, uint64_t t0)
{
	while (__atomic_load_n(&st->requests, __ATOMIC_RELAXED) == r0) {
		if (now_us() - t0 > WAIT_MS * 1000)
			return -ETIMEDOUT;
		sleep_us(POLL_US);
	}
	return 0;
}

static int
bench_spawn(int ac, char **av)
{
	int kills = atoi(av[0]), i, n, bad = 0, sfd, wfd;
	long ms = atol(av[1]);
	pid_t pid, waitfor = atoi(av[2]);
	volatile struct hyve_stats *st;
	char **argv, num[16];
	uint64_t t0, r0;

	sfd = memfd_create("restart-stats", 0);
	if (sfd < 0 || ftruncate(sfd, 4096) < 0 ||
	    (st = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sfd,
	    0)) == MAP_FAILED) {
		fprintf(stderr, "restart: counters page: %s\n", strerror(errno));
		return 1;
	}
	if ((wfd = pidfd_open(waitfor)) < 0) {
		fprintf(stderr, "restart: pid %d: %s\n", (int)waitfor,
		    strerror(errno));
		return 1;
	}
	n = ac - 3;
	argv = calloc(n + 3, sizeof(*argv));
	if (argv == NULL)
		return 1;
	memcpy(argv, av + 3, n * sizeof(*argv));
	snprintf(num, sizeof(num), "%d", sfd);
	argv[n] = "--stats-fd";
	argv[n + 1] = num;
	if ((pid = spawn(argv)) < 0)
		return 1;
	/* The frontend has connected and the guest's I/O runs. */
	if (grows(st, 0, now_us()) < 0) {
		fprintf(stderr, "restart: %s served no request within %d ms\n",
		    argv[0], WAIT_MS);
		kill(pid, SIGKILL);
		return 1;
	}
	for (i = 0; i < kills && bad < 3; i++) {
		gap(ms);
		t0 = now_us();
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r0 = st->requests;
		if ((pid = spawn(argv)) < 0)
			return 1;
		if (grows(st, r0, t0) < 0) {
			printf("restart failed no request completed within "
			    "%d ms\n", WAIT_MS);
			bad++;
			continue;
		}
		printf("restart ms %.2f\n", (now_us() - t0) / 1000.0);
		fflush(stdout);
	}
	wait_gone(wfd, 120000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return bad ? 1 : 0;
}

int
main(int ac, char **av)
{
	srandom(getpid());
	if (ac == 6 && strcmp(av[1], "hyve") == 0)
		return bench_hyve(av + 2);
	if (ac >= 6 && strcmp(av[1], "spawn") == 0)
		return bench_spawn(ac - 2, av + 2);
	fprintf(stderr, "usage: restart hyve SOCKET DEVICE KILLS GAP_MS\n"
	    "       restart spawn KILLS GAP_MS WAITPID BACKEND ARGS...\n");
	return 2;
}
