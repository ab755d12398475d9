/*
 * hyve-balloon: virtio-balloon over vhost-user (balloon.c), free page
 * reporting only: the memory a guest frees goes back to the host.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/balloon/balloon.h"
#include "backends/cli.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: hyve-balloon --socket PATH | "
	    "--fd N\n"
	    "\t[--name NAME] [--stats-fd N] [--uid UID] [--gid GID] "
	    "[--no-sandbox]\n"
	    CLI_USAGE);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = CLI_INIT;
	struct vu_dev d;
	int c, rc;

	log_set_role("balloon");
	while ((c = getopt_long(argc, argv, "s:f:n:X:OU:G:h", opts, NULL)) != -1) {
		switch (c) {
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
	if ((rc = cli_dev_init(&cli, &d, &balloon_backend, NULL)) < 0) {
		hlog("cannot set up the device: %s", strerror(-rc));
		return 1;
	}
	if (cli_confine(&cli, &d, &balloon_sandbox, NULL, false) < 0)
		return 1;
	return cli_serve(&cli, &d);
}
