/*
 * hyve-blk: virtio-blk over vhost-user, with bhyve's virtio-blk options.
 *
 *   hyve-blk --fd N --disk-fd M [options]	(spawned by the core)
 *   hyve-blk --socket PATH --file IMG [options]	(standalone, behind QEMU)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include "backends/blk/blk.h"
#include "backends/cli.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

enum { OPT_FIXED_FILE = 256, OPT_DEFER_TASKRUN };

static struct blk blk = { .fd = -1, .wake_efd = -1 };

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: hyve-blk --fd N --disk-fd M | "
	    "--socket PATH --file IMG\n"
	    "\t[--ro] [--nocache] [--sync|--direct] [--nodelete]\n"
	    "\t[--sectorsize LOG[/PHYS]] [--ser SERIAL] [--queues N]\n"
	    "\t[--inline-io auto|on|off] [--poll-us N] [--fixed-file] "
	    "[--defer-taskrun]\n"
	    "\t[--name NAME] [--stats-fd N] [--uid UID] [--gid GID] "
	    "[--no-sandbox]\n"
	    "  --file IMG       the disk image or block device (with --socket)\n"
	    "  --disk-fd M      the disk, opened by the caller (with --fd)\n"
	    "  --ro             read-only disk\n"
	    "  --nocache        O_DIRECT: bypass the host's page cache\n"
	    "  --sync, --direct every write reaches the disk before it completes\n"
	    "  --nodelete       no discard\n"
	    "  --sectorsize LOG[/PHYS]  logical and physical sector sizes\n"
	    "                   (512..4096, default 512)\n"
	    "  --ser SERIAL     the disk's serial number (20 bytes at most)\n"
	    "  --queues N       request queues, 1..%d (default 1); more than\n"
	    "                   one: a thread and an io_uring per queue\n"
	    "  --inline-io M    reads and writes in the backend's thread, not\n"
	    "                   io_uring: auto (default) does so for a disk in\n"
	    "                   memory (tmpfs, ramfs), where they never wait\n"
	    "  --poll-us N      after work, look for more for up to N us before\n"
	    "                   sleeping (adaptive; 0: never; default %d)\n"
	    "  --fixed-file     the disk as io_uring's registered file\n"
	    "  --defer-taskrun  completions run when the backend asks for them\n"
	    "                   (SINGLE_ISSUER|DEFER_TASKRUN; one queue only)\n"
	    CLI_USAGE, BLK_MAX_QUEUES, BLK_POLL_US);
	exit(status);
}

static bool
sector_size_ok(long long v)
{
	return v >= 512 && v <= 4096 && (v & (v - 1)) == 0;
}

/* --sectorsize LOG[/PHYS], as bhyve's sectorsize=. */
static void
sectorsize(const char *s)
{
	char buf[32], *slash;
	long long log, phys;

	if (strlen(s) >= sizeof(buf)) {
		hlog("--sectorsize %s: expected LOG or LOG/PHYS", s);
		exit(2);
	}
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	log = cli_number("--sectorsize", buf, 512, 4096);
	phys = slash != NULL ? cli_number("--sectorsize", slash, 512, 4096) : log;
	if (!sector_size_ok(log) || !sector_size_ok(phys) || phys < log) {
		hlog("--sectorsize %s: sizes must be powers of two in 512..4096, "
		    "the physical one at least the logical one", s);
		exit(2);
	}
	blk.blk_size = log;
	blk.phys_size = phys;
}

static int
open_file(const char *path, bool sync)
{
	int flags = (blk.ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd;

	if (blk.nocache)
		flags |= O_DIRECT;
	if (sync)
		flags |= O_SYNC;
	fd = open(path, flags);
	if (fd < 0 && errno == EINVAL && blk.nocache) {
		hlog("disk %s: its filesystem does not support O_DIRECT; "
		    "drop --nocache", path);
		exit(1);
	}
	if (fd < 0) {
		hlog("disk %s: %s", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Checks a disk fd passed by the core and adapts it to the options. */
static void
check_fd(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0) {
		hlog("--disk-fd %d: not an open file descriptor; the core must "
		    "pass the disk", fd);
		exit(1);
	}
	if ((fl & O_ACCMODE) == O_RDONLY && !blk.ro) {
		hlog("--disk-fd %d: opened read-only; exposing the disk read-only",
		    fd);
		blk.ro = true;
	}
	if (blk.nocache && !(fl & O_DIRECT) &&
	    fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
		hlog("--disk-fd %d: cannot switch to O_DIRECT (%s); drop --nocache",
		    fd, strerror(errno));
		exit(1);
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Whether the disk's file lives in memory: its I/O never waits. */
static bool
in_memory(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && (sf.f_type == TMPFS_MAGIC ||
	    sf.f_type == RAMFS_MAGIC);
}

/* Size, alignment and default serial from the open disk. */
static void
probe(const char *name)
{
	struct stat st;
	uint64_t size, h = 0xcbf29ce484222325ull;
	uint64_t key[2];
	int ssz;

	if (fstat(blk.fd, &st) < 0) {
		hlog("disk %s: %s", name, strerror(errno));
		exit(1);
	}
	blk.align = 512;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(blk.fd, BLKGETSIZE64, &size) < 0) {
			hlog("disk %s: cannot read the block device's size: %s",
			    name, strerror(errno));
			exit(1);
		}
		if (ioctl(blk.fd, BLKSSZGET, &ssz) == 0 && ssz > 512 &&
		    ssz <= 65536 && (ssz & (ssz - 1)) == 0)
			blk.align = ssz;
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
	} else {
		hlog("disk %s: not a regular file or a block device", name);
		exit(1);
	}
	blk.sectors = size / 512;
	if (blk.sectors == 0)
		hlog("disk %s: smaller than one sector; the guest sees an empty "
		    "disk", name);
	if (blk.serial[0] == '\0') {
		/* FNV-1a of st_dev and st_ino: stable across restarts. */
		key[0] = st.st_dev;
		key[1] = st.st_ino;
		for (size_t i = 0; i < sizeof(key); i++) {
			h ^= ((const uint8_t *)key)[i];
			h *= 0x100000001b3ull;
		}
		snprintf(blk.serial, sizeof(blk.serial), "HYVE-%04X-%04X-%04X",
		    (unsigned)(h >> 32) & 0xffff, (unsigned)(h >> 16) & 0xffff,
		    (unsigned)h & 0xffff);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTIONS,
		{ "file", required_argument, NULL, 'F' },
		{ "disk-fd", required_argument, NULL, 'D' },
		{ "ro", no_argument, NULL, 'r' },
		{ "nocache", no_argument, NULL, 'C' },
		{ "sync", no_argument, NULL, 'S' },
		{ "direct", no_argument, NULL, 'S' },
		{ "sectorsize", required_argument, NULL, 'z' },
		{ "nodelete", no_argument, NULL, 'd' },
		{ "ser", required_argument, NULL, 'i' },
		{ "queues", required_argument, NULL, 'q' },
		{ "inline-io", required_argument, NULL, 'I' },
		{ "poll-us", required_argument, NULL, 'P' },
		/* Above any letter: CLI_OPTIONS take letters too. */
		{ "fixed-file", no_argument, NULL, OPT_FIXED_FILE },
		{ "defer-taskrun", no_argument, NULL, OPT_DEFER_TASKRUN },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = CLI_INIT;
	const char *file = NULL;
	char dname[32];
	struct vu_dev d;
	const char *inl = "auto";
	long long poll_us = BLK_POLL_US;
	int c, rc;
	bool sync = false;

	log_set_role("blk");
	blk.blk_size = blk.phys_size = 512;
	blk.nqueues = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			file = optarg;
			break;
		case 'D':
			blk.fd = cli_number("--disk-fd", optarg, 0, 1 << 20);
			break;
		case 'r':
			blk.ro = true;
			break;
		case 'C':
			blk.nocache = true;
			break;
		case 'S':
			sync = true;
			break;
		case 'z':
			sectorsize(optarg);
			break;
		case 'd':
			blk.nodelete = true;
			break;
		case 'i':
			if (strlen(optarg) > VIRTIO_BLK_ID_BYTES) {
				hlog("--ser %s: longer than %d bytes", optarg,
				    VIRTIO_BLK_ID_BYTES);
				exit(2);
			}
			/* Zero-padded, not terminated when 20 bytes long. */
			strncpy(blk.serial, optarg, sizeof(blk.serial));
			break;
		case 'q':
			blk.nqueues = cli_number("--queues", optarg, 1,
			    BLK_MAX_QUEUES);
			break;
		case 'I':
			if (strcmp(optarg, "auto") && strcmp(optarg, "on") &&
			    strcmp(optarg, "off")) {
				hlog("--inline-io %s: expected auto, on or off",
				    optarg);
				exit(2);
			}
			inl = optarg;
			break;
		case 'P':
			poll_us = cli_number("--poll-us", optarg, 0, 1000000);
			break;
		case OPT_FIXED_FILE:
			blk.fixed_file = true;
			break;
		case OPT_DEFER_TASKRUN:
			blk.defer_taskrun = true;
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
	    (cli.path == NULL) != (file == NULL) || (cli.fd < 0) != (blk.fd < 0)) {
		hlog("give either --fd and --disk-fd, or --socket and --file");
		usage(2);
	}
	if (blk.defer_taskrun && blk.nqueues > 1) {
		hlog("--defer-taskrun: an io_uring with one issuer serves one "
		    "queue, not %u", blk.nqueues);
		exit(2);
	}
	if (blk.fd >= 0 && cli.fd >= 0 && blk.fd == cli.fd) {
		hlog("--fd and --disk-fd are both %d; pass two descriptors",
		    cli.fd);
		exit(2);
	}
	if (file != NULL) {
		blk.fd = open_file(file, sync);
	} else {
		check_fd(blk.fd);
		snprintf(dname, sizeof(dname), "fd %d", blk.fd);
		file = dname;
	}
	if (sync)
		blk.rwflags = RWF_SYNC;
	probe(file);
	blk.inline_io = !strcmp(inl, "on") || (!strcmp(inl, "auto") &&
	    in_memory(blk.fd));
	if (blk.inline_io)
		hlog("disk %s: reads and writes inline (--inline-io %s)", file,
		    inl);
	if (cli_listen(&cli) < 0)
		return 1;
	if ((rc = blk_init(&blk)) < 0)
		return 1;
	if ((rc = cli_dev_init(&cli, &d, &blk.be, &blk)) < 0 ||
	    (rc = blk_attach(&blk, &d)) < 0) {
		hlog("cannot set up the device: %s", strerror(-rc));
		return 1;
	}
	/* The workers sleep on their own epoll; polling is the server's. */
	if (poll_us > 0 && blk.nqueues > 1)
		hlog("--poll-us %lld: polling serves one queue; with --queues %u "
		    "every queue's thread sleeps until kicked", poll_us,
		    blk.nqueues);
	else
		d.poll_max_ns = (uint64_t)poll_us * 1000;
	{
		int keep[2 + 3 * BLK_MAX_QUEUES] = { blk.fd };
		int n = 1 + blk_fds(&blk, keep + 1, 1 + 3 * BLK_MAX_QUEUES);

		if (cli_confine(&cli, &d, &blk_sandbox, keep, n) < 0)
			return 1;
	}
	if (blk_start(&blk) < 0)
		return 1;
	rc = cli_serve(&cli, &d);
	blk_free(&blk);
	return rc;
}
