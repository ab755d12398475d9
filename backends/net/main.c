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

#include "backends/net/net.h"
#include "core/log.h"
#include "sandbox/sandbox.h"

static struct net net = { .tapfd = -1, .tapep = -1 };

static void
usage(void)
{
	fprintf(stderr, "usage: hyve-net --fd N --tap-fd M | --socket PATH "
	    "--tap NAME [--mac XX:XX:XX:XX:XX:XX] [--mtu N] [--name NAME]\n");
	exit(2);
}

static long long
number(const char *opt, const char *s, long long min, long long max)
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
	struct sandbox_opts so = { 0 };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "tap", required_argument, NULL, 't' },
		{ "tap-fd", required_argument, NULL, 'T' },
		{ "mac", required_argument, NULL, 'm' },
		{ "mtu", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "stats-fd", required_argument, NULL, 'X' },
		{ "no-sandbox", no_argument, NULL, 'O' },
		{ "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *tap = NULL;
	struct vu_backend be;
	struct vu_dev d;
	bool mac = false;
	int fd = -1, tapfd = -1, statsfd = -1, c, rc;

	log_set_role("net");
	while ((c = getopt_long(argc, argv, "s:f:t:T:m:u:n:X:OU:G:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'f':
			fd = number("--fd", optarg, 0, 1 << 20);
			break;
		case 't':
			tap = optarg;
			break;
		case 'T':
			tapfd = number("--tap-fd", optarg, 0, 1 << 20);
			break;
		case 'm':
			parse_mac(optarg, net.mac);
			mac = true;
			break;
		case 'u':
			net.mtu = number("--mtu", optarg, 68, 65535);
			break;
		case 'n':
			log_set_role(optarg);
			break;
		case 'O':
			so.off = true;
			break;
		case 'U':
			so.uid = number("--uid", optarg, 0, 1 << 30);
			break;
		case 'G':
			so.gid = number("--gid", optarg, 0, 1 << 30);
			break;
		case 'X':
			statsfd = number("--stats-fd", optarg, 0, 1 << 20);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (path == NULL) == (fd < 0) ||
	    (tap == NULL) == (tapfd < 0))
		usage();
	if (tap != NULL && (tapfd = open_tap(tap)) < 0)
		return 1;
	if (net_init(&net, tapfd) < 0)
		return 1;
	if (!mac)
		default_mac(net.ifname, net.mac);
	if (path != NULL && (fd = vu_listen(path)) < 0)
		return 1;
	net_backend(&net, &be);
	if ((rc = vu_dev_init(&d, &be, &net)) < 0 ||
	    (statsfd >= 0 && (rc = vu_stats_map(&d, statsfd)) < 0) ||
	    (rc = net_attach(&net, &d)) < 0) {
		hlog("tap %s: cannot set up the device: %s", net.ifname,
		    strerror(-rc));
		return 1;
	}
	{
		/* Everything is open: confine before the first guest byte. */
		int keep[] = { fd, d.epfd, d.infl_fd, net.tapfd, net.tapep };

		so.name = log_name();
		if (sandbox_enter(SANDBOX_NET, keep, 5, &so) < 0)
			return 1;
	}
	rc = vu_serve(&d, fd);
	vu_dev_free(&d);
	return rc < 0 ? 1 : 0;
}
