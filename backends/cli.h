/*
 * The command line every backend shares: --socket, --fd, --name,
 * --stats-fd, --no-sandbox, --uid, --gid, --help, and the start-up steps
 * around them (listen, device set-up, sandbox, serve).
 */
#ifndef HYVE_BACKENDS_CLI_H
#define HYVE_BACKENDS_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "backends/runtime.h"
#include "sandbox/sandbox.h"

/* The shared entries of a backend's getopt_long table. */
#define CLI_OPTIONS \
	{ "socket", required_argument, NULL, 's' }, \
	{ "fd", required_argument, NULL, 'f' }, \
	{ "name", required_argument, NULL, 'n' }, \
	{ "stats-fd", required_argument, NULL, 'X' }, \
	{ "no-sandbox", no_argument, NULL, 'O' }, \
	{ "uid", required_argument, NULL, 'U' }, \
	{ "gid", required_argument, NULL, 'G' }, \
	{ "uffd", required_argument, NULL, 'Y' }, \
	{ "help", no_argument, NULL, 'h' }

struct cli {
	const char *path;	/* --socket */
	int fd;			/* --fd, or the socket listening on path */
	int statsfd;		/* --stats-fd, -1 if none */
	int uffd;		/* --uffd: /dev/userfaultfd, -1 if none */
	struct sandbox_opts so;
};

#define CLI_INIT	{ .fd = -1, .statsfd = -1, .uffd = -1 }

/* --help's lines for the shared options, after a backend's own. */
#define CLI_USAGE \
	"  --socket PATH    listen on PATH, serve one frontend at a time\n" \
	"                   (standalone use; the file is removed at exit)\n" \
	"  --fd N           serve the unix socket N, listening or connected\n" \
	"                   (as the hyve core starts a backend)\n" \
	"  --name NAME      log as hyve[NAME]\n" \
	"  --stats-fd N     count requests, bytes, kicks in the page of\n" \
	"                   memfd N (hyve's core passes one)\n" \
	"  --uid UID        started as root, run as UID (default 65534)\n" \
	"  --gid GID        started as root, run as GID (default 65534)\n" \
	"  --no-sandbox     do not confine the process (debugging only)\n" \
	"  --uffd N         make a userfaultfd from /dev/userfaultfd open as fd\n" \
	"                   N and hand it to the frontend (hyve's core, when it\n" \
	"                   restores with memory.share_snapshot)\n" \
	"  --help           print this and exit\n"

/* Parses a decimal option value in min..max; exits 2 if it is not one. */
long long cli_number(const char *opt, const char *s, long long min,
    long long max);
/* Handles one of the CLI_OPTIONS (not --help); false if opt is another. */
bool cli_option(struct cli *c, int opt, const char *arg);
/*
 * With --socket, listens on it and forks the keeper that removes the
 * file when the backend exits; SIGTERM, SIGINT and SIGHUP then remove it
 * and exit 0.  -1 (already reported) on failure.
 */
int cli_listen(struct cli *c);
/* vu_dev_init, then maps --stats-fd if given.  -errno on failure. */
int cli_dev_init(struct cli *c, struct vu_dev *d, const struct vu_backend *be,
    void *priv);
/* Enters the sandbox keeping the socket, d's fds and extra[0..nextra). */
int cli_confine(struct cli *c, struct vu_dev *d,
    const struct sandbox_row *role, const int *extra, int nextra);
/* Serves the frontend until it leaves; returns the exit status. */
int cli_serve(struct cli *c, struct vu_dev *d);

#endif
