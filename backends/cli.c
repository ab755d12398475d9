/*
 * The command line every backend shares; see cli.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "backends/cli.h"
#include "lib/log.h"

#define CLI_MAX_KEEP	64	/* hyve-blk: 3 per queue */

static int keeper_fd = -1;	/* the backend's end, to the socket keeper */

long long
cli_number(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max) {
		hlog("%s %s: not a number in %lld..%lld", opt, s, min, max);
		exit(2);
	}
	return v;
}

bool
cli_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		if (arg[0] == '\0') {
			hlog("--socket: empty path; give the path of the socket "
			    "to listen on");
			exit(2);
		}
		c->path = arg;
		break;
	case 'f':
		c->fd = cli_number("--fd", arg, 0, 1 << 20);
		break;
	case 'n':
		log_set_role(arg);
		break;
	case 'X':
		c->statsfd = cli_number("--stats-fd", arg, 0, 1 << 20);
		break;
	case 'O':
		c->so.off = true;
		break;
	case 'U':
		c->so.uid = cli_number("--uid", arg, 0, 1 << 30);
		break;
	case 'G':
		c->so.gid = cli_number("--gid", arg, 0, 1 << 30);
		break;
	case 'Y':
		c->uffd = cli_number("--uffd", arg, 0, 1 << 20);
		break;
	default:
		return false;
	}
	return true;
}

/* SIGTERM, SIGINT, SIGHUP: the keeper removes the socket, then we exit. */
static void
on_stop(int sig)
{
	char b = (char)sig;

	if (write(keeper_fd, &b, 1) == 1 && read(keeper_fd, &b, 1) < 0)
		b = 0;
	_exit(0);
}

/*
 * The socket keeper: the confined backend may not unlink, and its root and
 * ids are no longer those that made the file, so a child forked before
 * confinement removes the socket file once the backend exits, whether on a
 * signal (on_stop asks and waits for it) or a crash (EOF).  It removes only
 * the file the backend made, not one a later instance put there.
 */
static void
keeper(int fd, const char *path, const struct stat *made)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	struct stat st;
	char b;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_IGN);
	if ((fd != 3 && dup2(fd, 3) < 0) ||
	    syscall(SYS_close_range, 4, ~0U, 0) < 0 ||
	    sandbox_keeper(log_name()) < 0)
		_exit(1);
	while (read(3, &b, 1) < 0 && errno == EINTR)
		;
	if (lstat(path, &st) == 0 && st.st_dev == made->st_dev &&
	    st.st_ino == made->st_ino && unlink(path) < 0)
		hlog("socket %s: cannot remove it: %s", path, strerror(errno));
	if (write(3, &b, 1) < 0)
		b = 0;
	_exit(0);
}

static int
start_keeper(const char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	struct stat made;
	int sv[2];
	pid_t pid;

	if (lstat(path, &made) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (pid = fork()) < 0) {
		hlog("socket %s: cannot start the process that removes it at "
		    "exit: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	if (pid == 0)
		keeper(sv[1], path, &made);
	close(sv[1]);
	keeper_fd = sv[0];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

int
cli_listen(struct cli *c)
{
	if (c->path == NULL)
		return 0;
	if ((c->fd = vu_listen(c->path)) < 0)
		return -1;
	return start_keeper(c->path);
}

int
cli_dev_init(struct cli *c, struct vu_dev *d, const struct vu_backend *be,
    void *priv)
{
	int rc;

	if ((rc = vu_dev_init(d, be, priv)) < 0)
		return rc;
	if (c->statsfd >= 0 && (rc = vu_stats_map(d, c->statsfd)) < 0)
		return rc;
	if (c->uffd >= 0 && (rc = vu_dev_uffd(d, c->uffd)) < 0)
		return rc;
	return 0;
}

int
cli_confine(struct cli *c, struct vu_dev *d, const struct sandbox_row *role,
    const int *extra, int nextra)
{
	int keep[CLI_MAX_KEEP] = { c->fd, d->epfd, d->infl_fd, keeper_fd,
	    d->uffd };
	int n = 5;

	for (int i = 0; i < nextra && n < CLI_MAX_KEEP; i++)
		keep[n++] = extra[i];
	/* Everything is open: confine before the first guest byte. */
	c->so.name = log_name();
	return sandbox_enter(role, keep, n, &c->so);
}

int
cli_serve(struct cli *c, struct vu_dev *d)
{
	int rc = vu_serve(d, c->fd);

	vu_dev_free(d);
	return rc < 0 ? 1 : 0;
}
