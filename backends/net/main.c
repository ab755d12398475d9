/*
 * hyve-net: command line, tap and MAC address.
 *
 *	hyve-net --fd N --tap-fd M [options]		(spawned by the core)
 *	hyve-net --socket PATH --tap NAME [options]	(standalone)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "backends/cli.h"
#include "backends/net/net.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

static struct net net = { .tapfd = -1, .tapep = -1,
	.tx_batch = NET_TX_BATCH };

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: hyve-net --fd N --tap-fd M | "
	    "--socket PATH --tap NAME\n"
	    "\t[--mac XX:XX:XX:XX:XX:XX] [--mtu N] [--tx-batch N]\n"
	    "\t[--name NAME] [--stats-fd N] [--uid UID] [--gid GID] "
	    "[--no-sandbox]\n"
	    "  --tap NAME       attach to tap NAME (with --socket)\n"
	    "  --tap-fd M       the tap, opened by the caller (with --fd)\n"
	    "  --mac ADDR       the guest's MAC address (default: from the tap "
	    "name)\n"
	    "  --mtu N          the MTU offered to the guest, 68..65535\n"
	    "  --tx-batch N     tx frames per system call (io_uring), 1..%d\n"
	    "                   (default %d; 1: one writev per frame)\n"
	    CLI_USAGE, NET_TX_BATCH, NET_TX_BATCH);
	exit(status);
}

static void
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int end = 0;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6 || end != 17) {
		hlog("--mac %s: not a MAC address; write it as "
		    "XX:XX:XX:XX:XX:XX", s);
		exit(2);
	}
	for (int i = 0; i < 6; i++)
		mac[i] = v[i];
	if ((mac[0] & 1) || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] |
	    mac[5]) == 0) {
		hlog("--mac %s: multicast or all-zero address; give a unicast "
		    "one", s);
		exit(2);
	}
}

/*
 * The default MAC, stable across runs for the same tap: bhyve hashes the
 * VM name and PCI slot into its own OUI; we take the 32-bit FNV-1a hash of
 * the tap name as the last four bytes after 02:68, so the address is
 * locally administered (0x02 bit) and unicast (0x01 bit clear).
 */
static void
default_mac(const char *ifname, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = ifname; *p != '\0'; p++) {
		h ^= (uint8_t)*p;
		h *= 16777619u;
	}
	mac[0] = 0x02;
	mac[1] = 0x68;
	mac[2] = h >> 24;
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

static int
open_tap(const char *name)
{
	struct ifreq ifr;
	int fd;

	if (strlen(name) >= IFNAMSIZ) {
		hlog("--tap %s: name too long (max %d bytes)", name,
		    IFNAMSIZ - 1);
		exit(2);
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		hlog("tap %s: cannot open /dev/net/tun: %s", name,
		    strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		hlog("tap %s: TUNSETIFF: %s; is it in use or not a tap?", name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTIONS,
		{ "tap", required_argument, NULL, 't' },
		{ "tap-fd", required_argument, NULL, 'T' },
		{ "mac", required_argument, NULL, 'm' },
		{ "mtu", required_argument, NULL, 'u' },
		{ "tx-batch", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = CLI_INIT;
	const char *tap = NULL;
	struct vu_backend be;
	struct vu_dev d;
	bool mac = false;
	int tapfd = -1, c, rc;

	log_set_role("net");
	while ((c = getopt_long(argc, argv, "s:f:t:T:m:u:n:X:OU:G:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tap = optarg;
			break;
		case 'T':
			tapfd = cli_number("--tap-fd", optarg, 0, 1 << 20);
			break;
		case 'm':
			parse_mac(optarg, net.mac);
			mac = true;
			break;
		case 'u':
			net.mtu = cli_number("--mtu", optarg, 68, 65535);
			break;
		case 'B':
			net.tx_batch = cli_number("--tx-batch", optarg, 1,
			    NET_TX_BATCH);
			break;
		case 'h':
			usage(0);
			break;
		default:
			if (!cli_option(&cli, c, optarg))
				usage(2);
		}
	}
	if (optind != argc || (cli.path == NULL) == (cli.fd < 0) ||
	    (tap == NULL) == (tapfd < 0))
		usage(2);
	if (tap != NULL && (tapfd = open_tap(tap)) < 0)
		return 1;
	if (net_init(&net, tapfd) < 0 || net_uring(&net) < 0)
		return 1;
	if (!mac)
		default_mac(net.ifname, net.mac);
	if (cli_listen(&cli) < 0)
		return 1;
	net_backend(&net, &be);
	if ((rc = cli_dev_init(&cli, &d, &be, &net)) < 0 ||
	    (rc = net_attach(&net, &d)) < 0) {
		hlog("tap %s: cannot set up the device: %s", net.ifname,
		    strerror(-rc));
		return 1;
	}
	{
		int keep[] = { net.tapfd, net.tapep, net.ring.ring_fd };

		if (cli_confine(&cli, &d, &net_sandbox, keep, net.ring_ok ? 3 : 2) < 0)
			return 1;
	}
	return cli_serve(&cli, &d);
}
