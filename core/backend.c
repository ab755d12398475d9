#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "core/backend.h"
#include "core/devclass.h"
#include "core/spawner.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

#define FIRST_FD	BACKEND_SOCK_FD

int
backend_binary(const char *type, const char *override, char *out, size_t len)
{
	char self[4096];
	ssize_t n;

	if (override != NULL) {
		snprintf(out, len, "%s", override);
	} else if (type[0] == '/') {
		snprintf(out, len, "%s", type);	/* a program we did not write */
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			hlog("cannot find the hyve binary: /proc/self/exe: %s",
			    strerror(errno));
			return -errno;
		}
		self[n] = '\0';
		snprintf(out, len, "%s/hyve-%s", dirname(self), type);
	}
	if (access(out, X_OK) < 0) {
		int e = errno;
		hlog("backend %s: %s (%s)", out, strerror(e), type[0] == '/' ?
		    "install it: sh tools/deps.sh" :
		    "build it with make, or give binary=PATH");
		return -e;
	}
	return 0;
}

/* In the child: put fds in place, close the rest, exec. */
static void __attribute__((noreturn))
backend_exec(const char *path, char *const argv[], int sock, const int *fds,
    int nfds)
{
	int tmp[8], i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Move everything out of the way first, so dup2 cannot clobber. */
	tmp[0] = fcntl(sock, F_DUPFD, 100);
	for (i = 0; i < nfds; i++)
		tmp[i + 1] = fcntl(fds[i], F_DUPFD, 100);
	for (i = 0; i <= nfds; i++) {
		if (tmp[i] < 0 || dup2(tmp[i], FIRST_FD + i) < 0)
			_exit(127);
	}
	syscall(SYS_close_range, FIRST_FD + nfds + 1, ~0U, 0);
	execv(path, argv);
	fprintf(stderr, "hyve: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

pid_t
backend_start(int flags, const char *path, char *const argv[], int sock,
    const int *fds, int nfds, int closefd)
{
	pid_t pid;

	/* Its own PID namespace, as its init: it sees no other process, and
	 * unlike unshare(CLONE_NEWPID) this leaves it able to have threads
	 * (io_uring's workers).  Without privilege, without one. */
	pid = syscall(SYS_clone, flags | CLONE_NEWPID | SIGCHLD, NULL, NULL,
	    NULL, 0);
	if (pid < 0 && (errno == EPERM || errno == EINVAL))
		pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0) {
		sigset_t none;

		/* The backend starts with no signal blocked or ignored. */
		sigemptyset(&none);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (closefd >= 0)
			close(closefd);
		backend_exec(path, argv, sock, fds, nfds);
	}
	return pid;
}

int
backend_spawn(struct backend_proc *bp, char *const argv[], const int *fds,
    int nfds)
{
	sigset_t all, old;
	int sv[2], rc, conn = -1;
	pid_t pid;
	const struct sandbox_exec *x = devclass_exec(bp->role);
	bool listens = x != NULL && x->listen;

	if (nfds > 7)
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		hlog("%s: socketpair: %s", bp->name, strerror(errno));
		return -errno;
	}
	if (spawner_active()) {
		rc = spawner_spawn(bp->name, bp->role, bp->path, argv, sv[1],
		    fds, nfds, &pid, &conn);
		close(sv[1]);
		if (rc < 0) {
			hlog("%s: cannot start %s: %s", bp->name, bp->path,
			    strerror(-rc));
			close(sv[0]);
			return rc;
		}
		/* It listens: the core's end is the connection made there. */
		if (conn >= 0) {
			close(sv[0]);
			sv[0] = conn;
		}
		goto started;
	}
	if (listens) {
		hlog("%s: %s can only be started by hyve's monitor (run hyve "
		    "as root)", bp->name, bp->path);
		close(sv[0]);
		close(sv[1]);
		return -ENOTSUP;
	}
	/* No signal may arrive between the clone and the exec. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = backend_start(0, bp->path, argv, sv[1], fds, nfds, sv[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = -errno;
	close(sv[1]);
	if (pid < 0) {
		hlog("%s: fork: %s", bp->name, strerror(-rc));
		close(sv[0]);
		return rc;
	}
started:
	bp->pid = pid;
	bp->sock = sv[0];
	bp->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (bp->pidfd < 0)
		hlog("%s: pidfd_open: %s (exits will be noticed late)",
		    bp->name, strerror(errno));
	return 0;
}

void
backend_status_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "killed by seccomp (SIGSYS)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended (status 0x%x)", status);
}

int
backend_reap(struct backend_proc *bp, char *buf, size_t len)
{
	struct pollfd p = { .fd = bp->pidfd, .events = POLLIN };
	int status;
	pid_t r;

	if (bp->pid <= 0)
		return -ECHILD;
	r = waitpid(bp->pid, &status, WNOHANG);
	if (r < 0 && errno == ECHILD && bp->pidfd >= 0 && poll(&p, 1, 0) == 1) {
		/* Started under an earlier core (hyvectl upgrade): the
		 * first core is its parent, reaps it and tells us how it
		 * ended (sup_reaped). */
		snprintf(buf, len, "%s", BACKEND_REAPED_ELSEWHERE);
	} else if (r <= 0) {
		return -EAGAIN;
	} else {
		backend_status_text(status, buf, len);
	}
	if (bp->pidfd >= 0)
		close(bp->pidfd);
	bp->pidfd = -1;
	bp->pid = 0;
	return 0;
}

void
backend_stop(struct backend_proc *bp)
{
	struct pollfd p = { .fd = bp->pidfd, .events = POLLIN };
	if (bp->pid <= 0)
		return;
	/* A backend exits when its frontend goes away; give it 500 ms. */
	if (bp->pidfd < 0 || poll(&p, 1, 500) <= 0)
		kill(bp->pid, SIGKILL);
	waitpid(bp->pid, NULL, 0);
	bp->pid = 0;
	if (bp->pidfd >= 0)
		close(bp->pidfd);
	bp->pidfd = -1;
}

int
backend_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		hlog("vhost-user socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		hlog("vhost-user socket %s: %s (is the backend running?)", path,
		    strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}
