/*
 * hyve-rnd: virtio-rng over vhost-user (rnd.c), optionally limited to
 * --rate bytes per second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cli.h"
#include "backends/rnd/rnd.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

static struct rnd rnd = { .tfd = -1 };

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: hyve-rnd --socket PATH | --fd N "
	    "[--rate BYTES_PER_SEC]\n"
	    "\t[--name NAME] [--stats-fd N] [--uid UID] [--gid GID] "
	    "[--no-sandbox]\n"
	    "  --rate N         at most N random bytes per second (default: no "
	    "limit)\n"
	    CLI_USAGE);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTIONS,
		{ "rate", required_argument, NULL, 'r' },
		{ "debug-seccomp", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = CLI_INIT;
	struct vu_dev d;
	int c, rc;

	log_set_role("rnd");
	while ((c = getopt_long(argc, argv, "s:f:r:n:X:OVU:G:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rnd.rate = cli_number("--rate", optarg, 0, 1ll << 40);
			break;
		case 'V':
			rnd.violate = true;
			break;
		case 'h':
			usage(0);
			break;
		default:
			if (!cli_option(&cli, c, optarg))
				usage(2);
		}
	}
	if (optind != argc || (cli.path == NULL) == (cli.fd < 0))
		usage(2);
	if (cli_listen(&cli) < 0)
		return 1;
	if ((rc = cli_dev_init(&cli, &d, &rnd_backend, &rnd)) < 0) {
		hlog("cannot set up the device: %s", strerror(-rc));
		return 1;
	}
	if (rnd.rate && (rc = rnd_start_rate(&rnd, &d)) < 0) {
		hlog("cannot create the --rate timer: %s", strerror(-rc));
		return 1;
	}
	if (cli_confine(&cli, &d, &rnd_sandbox, &rnd.tfd, rnd.tfd >= 0) < 0)
		return 1;
	return cli_serve(&cli, &d);
}
