/*
 * launch: wall time and memory of a VM's processes, from exec to exit.
 *
 *   launch time RUNS CMD...
 *	runs CMD (stdin /dev/null, output discarded) RUNS times, one after
 *	the other; prints "launch time MEDIAN_MS MIN_MS MAX_MS STATUS".
 *   launch mem MARKER CMD...
 *	runs CMD once with its stdout on a pipe; when a line containing
 *	MARKER appears, sums RSS and PSS (/proc/PID/smaps_rollup) over CMD
 *	and all its descendants, then sends SIGTERM (SIGKILL after 5 s);
 *	prints "launch mem RSS_KIB PSS_KIB NPROCS".
 */
#include <ctype.h>
#include <dirent.h>
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
#include <sys/wait.h>

#include "lib/log.h"

#define MAXRUNS	64
#define MAXPROC	4096

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static pid_t
spawn(char **argv, int outfd)
{
	pid_t pid = fork();
	int null;

	if (pid != 0)
		return pid;
	null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(outfd >= 0 ? outfd : null, 1);
	dup2(null, 2);
	/* A process group of its own, so that a stray child can be killed. */
	setpgid(0, 0);
	execvp(argv[0], argv);
	_exit(127);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
do_time(int runs, char **argv)
{
	uint64_t t[MAXRUNS], t0;
	int i, st = 0;
	pid_t pid;

	for (i = 0; i < runs; i++) {
		t0 = now_ns();
		if ((pid = spawn(argv, -1)) < 0) {
			hlog("%s: fork: %s", argv[0], strerror(errno));
			return 1;
		}
		if (waitpid(pid, &st, 0) < 0)
			return 1;
		t[i] = now_ns() - t0;
		kill(-pid, SIGKILL);	/* anything it left behind */
	}
	qsort(t, runs, sizeof(t[0]), cmp_u64);
	printf("launch time %.2f %.2f %.2f %d\n", t[runs / 2] / 1e6, t[0] / 1e6,
	    t[runs - 1] / 1e6, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

static pid_t
ppid_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* Adds the Rss and Pss lines of pid's smaps_rollup to *rss, *pss (KiB). */
static int
rollup(pid_t pid, unsigned long *rss, unsigned long *pss)
{
	char path[64], line[256];
	unsigned long v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Rss: %lu", &v) == 1)
			*rss += v;
		else if (sscanf(line, "Pss: %lu", &v) == 1)
			*pss += v;
	}
	fclose(f);
	return 0;
}

/* Sums over root and every descendant. */
static int
tree_mem(pid_t root, unsigned long *rss, unsigned long *pss)
{
	static pid_t pids[MAXPROC], ppids[MAXPROC];
	pid_t tree[MAXPROC];
	int n = 0, nt = 1, i, j, grew;
	struct dirent *d;
	DIR *dir;

	if ((dir = opendir("/proc")) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL && n < MAXPROC) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pids[n] = atoi(d->d_name);
		ppids[n] = ppid_of(pids[n]);
		n++;
	}
	closedir(dir);
	tree[0] = root;
	do {
		grew = 0;
		for (i = 0; i < n; i++) {
			if (pids[i] == 0)
				continue;
			for (j = 0; j < nt; j++)
				if (ppids[i] == tree[j])
					break;
			if (j < nt && nt < MAXPROC) {
				tree[nt++] = pids[i];
				pids[i] = 0;
				grew = 1;
			}
		}
	} while (grew);
	*rss = *pss = 0;
	for (i = 0; i < nt; i++)
		rollup(tree[i], rss, pss);
	return nt;
}

static int
do_mem(const char *marker, char **argv)
{
	char buf[8192];
	size_t have = 0;
	unsigned long rss, pss;
	int p[2], st, nproc = -1, i;
	struct pollfd pf;
	ssize_t r;
	pid_t pid;

	if (pipe(p) < 0)
		return 1;
	if ((pid = spawn(argv, p[1])) < 0)
		return 1;
	close(p[1]);
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	/* Wait up to 30 s for the marker. */
	for (i = 0; i < 300 && nproc < 0; i++) {
		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = read(p[0], buf + have, sizeof(buf) - 1 - have);
		if (r <= 0)
			break;
		have += r;
		buf[have] = '\0';
		if (strstr(buf, marker) != NULL)
			nproc = tree_mem(pid, &rss, &pss);
		else if (have > sizeof(buf) / 2) {
			/* Keep the tail, where a split marker may start. */
			memmove(buf, buf + have - 256, 256);
			have = 256;
		}
	}
	kill(pid, SIGTERM);
	for (i = 0; i < 500 && waitpid(pid, &st, WNOHANG) == 0; i++) {
		if (read(p[0], buf, sizeof(buf)) == 0)
			usleep(10000);
	}
	if (i == 500) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(p[0]);
	if (nproc < 0) {
		hlog("%s: never printed '%s' (check the command by hand)", argv[0],
		    marker);
		return 1;
	}
	printf("launch mem %lu %lu %d\n", rss, pss, nproc);
	return 0;
}

int
main(int argc, char **argv)
{
	log_set_role("launch");
	if (argc >= 4 && !strcmp(argv[1], "time")) {
		int runs = atoi(argv[2]);

		if (runs >= 1 && runs <= MAXRUNS)
			return do_time(runs, argv + 3);
	}
	if (argc >= 4 && !strcmp(argv[1], "mem"))
		return do_mem(argv[2], argv + 3);
	fprintf(stderr, "usage: launch time RUNS CMD... | launch mem MARKER CMD...\n");
	return 2;
}
