/*
 * hyve-vsock: virtio-vsock over vhost-user (vsock.c), the host side on
 * unix sockets: the listening socket PATH and the sockets PATH_P in its
 * directory.  From hyve's core it gets both as descriptors (--listen-fd,
 * --dir-fd); standalone it binds --uds-path itself before it confines
 * itself.  In the sandbox that directory, read-only, is its root and
 * working directory, and the only one it can reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/cli.h"
#include "backends/vsock/vsock.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

static struct vsock vs;

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: hyve-vsock --socket PATH | "
	    "--fd N  --cid CID\n"
	    "\t(--uds-path PATH | --listen-fd N --dir-fd N --uds-name NAME)\n"
	    "\t[--name NAME] [--stats-fd N] [--uid UID] [--gid GID] "
	    "[--no-sandbox]\n"
	    "  --cid CID        the guest's context id (3 or more)\n"
	    "  --uds-path PATH  listen on PATH for host connections (\"CONNECT "
	    "<port>\\n\");\n"
	    "                   a guest's connection to port P goes to PATH_P\n"
	    "  --listen-fd N    the same, PATH already listening as fd N\n"
	    "  --dir-fd N       PATH's directory, opened (O_PATH) as fd N\n"
	    "  --uds-name NAME  PATH's last component\n"
	    CLI_USAGE);
	exit(status);
}

/* Standalone: PATH listens, and its directory is opened for the sandbox. */
static int
uds_open(const char *path, int *lfd, int *dfd, const char **name)
{
	char *a = strdup(path), *b = strdup(path);

	if (a == NULL || b == NULL)
		return -ENOMEM;
	if ((*lfd = vu_listen(path)) < 0)
		return *lfd;
	if ((*dfd = open(dirname(a), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = errno;

		hlog("--uds-path %s: its directory: %s", path, strerror(e));
		return -e;
	}
	*name = basename(b);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTIONS,
		{ "cid", required_argument, NULL, 'c' },
		{ "uds-path", required_argument, NULL, 'u' },
		{ "listen-fd", required_argument, NULL, 'l' },
		{ "dir-fd", required_argument, NULL, 'd' },
		{ "uds-name", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = CLI_INIT;
	const char *uds = NULL, *name = NULL;
	long long cid = -1;
	int lfd = -1, dfd = -1, c, rc;
	struct vu_dev d;

	log_set_role("vsock");
	while ((c = getopt_long(argc, argv, "s:f:n:X:OU:G:c:u:l:d:m:h", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			cid = cli_number("--cid", optarg, 3, UINT32_MAX - 1);
			break;
		case 'u':
			uds = optarg;
			break;
		case 'l':
			lfd = cli_number("--listen-fd", optarg, 0, 1 << 20);
			break;
		case 'd':
			dfd = cli_number("--dir-fd", optarg, 0, 1 << 20);
			break;
		case 'm':
			name = optarg;
			break;
		case 'h':
			usage(0);
			break;
		default:
			if (!cli_option(&cli, c, optarg))
				usage(2);
		}
	}
	if (optind != argc || (cli.path == NULL) == (cli.fd < 0) || cid < 0 ||
	    (uds != NULL) == (lfd >= 0 || dfd >= 0 || name != NULL) ||
	    (uds == NULL && (lfd < 0 || dfd < 0 || name == NULL)) ||
	    strchr(name ? name : "", '/') != NULL)
		usage(2);
	if (uds != NULL && uds_open(uds, &lfd, &dfd, &name) < 0)
		return 1;
	if (cli_listen(&cli) < 0)
		return 1;
	if ((rc = cli_dev_init(&cli, &d, &vsock_backend, &vs)) < 0 ||
	    (rc = vsock_init(&vs, &d, cid, lfd, name)) < 0) {
		hlog("cannot set up the device: %s", strerror(-rc));
		return 1;
	}
	/* PATH_P is reached relative to the working directory: PATH's. */
	if (cli.so.off && fchdir(dfd) < 0) {
		hlog("cannot enter the directory of %s: %s", name,
		    strerror(errno));
		return 1;
	}
	cli.so.dir = true;
	cli.so.dir_fd = dfd;
	int keep[] = { lfd, vs.ep };
	if (cli_confine(&cli, &d, &vsock_sandbox, keep, 2) < 0)
		return 1;
	return cli_serve(&cli, &d);
}
