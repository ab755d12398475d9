/*
 * hyve-rnd: virtio-rng (device type 4) over vhost-user.  One queue; every
 * device-writable buffer the guest posts is filled from getrandom(2),
 * optionally limited to --rate bytes per second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include "backends/cli.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

#define RND_QUEUE_SIZE	1024
#define RND_MAX_FILL	65536	/* bytes per request, so one guest cannot hog */
#define RND_MIN_FILL	256	/* with --rate: the least a request is given */

struct rnd {
	uint64_t rate;		/* bytes per second, 0 = unlimited */
	uint64_t tokens;
	struct timespec last;
	int tfd;
	bool waiting;		/* timer armed for more tokens */
	bool violate;		/* --debug-seccomp: break the rules when kicked */
};

static struct rnd rnd = { .tfd = -1 };
static struct iovec iov[RND_QUEUE_SIZE];

static void
refill(struct rnd *r)
{
	struct timespec now;
	uint64_t ns, add;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (now.tv_sec - r->last.tv_sec) * 1000000000ull + now.tv_nsec -
	    r->last.tv_nsec;
	add = ns * r->rate / 1000000000ull;
	if (add == 0)
		return;
	r->last = now;
	r->tokens = r->tokens + add > r->rate ? r->rate : r->tokens + add;
}

static void
wait_tokens(struct rnd *r)
{
	uint64_t ns = 1000000000ull / r->rate;
	struct itimerspec it = { 0 };

	if (ns < 1000000)
		ns = 1000000;
	it.it_value.tv_sec = ns / 1000000000ull;
	it.it_value.tv_nsec = ns % 1000000000ull;
	timerfd_settime(r->tfd, 0, &it, NULL);
	r->waiting = true;
}

static uint32_t
fill(const struct iovec *v, unsigned n, uint64_t budget)
{
	uint32_t done = 0;

	for (unsigned i = 0; i < n && budget > 0; i++) {
		size_t want = v[i].iov_len < budget ? v[i].iov_len : budget;
		size_t got = 0;

		while (got < want) {
			ssize_t k = getrandom((char *)v[i].iov_base + got,
			    want - got, 0);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return done;
			got += k;
		}
		done += got;
		budget -= got;
	}
	return done;
}

static void
rnd_kick(struct vu_dev *d, struct vring_queue *vq)
{
	struct rnd *r = d->priv;
	struct vring_req req;
	uint64_t budget;
	uint32_t len;
	int rc;

	if (r->waiting)
		return;
	/* For tests of the sandbox and the supervisor: a forbidden call. */
	if (r->violate)
		syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
	do {
		for (;;) {
			budget = RND_MAX_FILL;
			if (r->rate) {
				refill(r);
				/* Not a trickle of a few bytes per request: wait
				 * until a useful amount is there. */
				if (r->tokens < (r->rate < RND_MIN_FILL ? r->rate :
				    RND_MIN_FILL)) {
					vring_flush(vq);
					wait_tokens(r);
					return;
				}
				if (budget > r->tokens)
					budget = r->tokens;
			}
			rc = vring_pop(vq, &d->mem, &req, iov, RND_QUEUE_SIZE);
			if (rc <= 0)
				break;
			/* Readable buffers carry nothing for this device. */
			len = fill(req.iov + req.nout, req.nin, budget);
			if (r->rate)
				r->tokens -= len;
			vring_push(vq, &req, len);
		}
		vring_flush(vq);
		if (rc < 0)
			return;
	} while (vring_enable_notify(vq));
}

static void
rnd_timer(struct vu_dev *d, void *arg)
{
	struct rnd *r = arg;
	uint64_t n;

	if (read(r->tfd, &n, sizeof(n)) < 0)
		return;
	r->waiting = false;
	rnd_kick(d, &d->vq[0]);
}

static void
rnd_reset(struct vu_dev *d)
{
	struct rnd *r = d->priv;
	struct itimerspec it = { 0 };

	if (r->tfd >= 0)
		timerfd_settime(r->tfd, 0, &it, NULL);
	r->waiting = false;
}

static const struct vu_backend rnd_backend = {
	.name = "virtio-rng",
	.features = 0,
	.nqueues = 1,
	.max_queue_size = RND_QUEUE_SIZE,
	.kick = rnd_kick,
	.reset = rnd_reset,
};

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
	if (rnd.rate) {
		rnd.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (rnd.tfd < 0 || vu_watch(&d, rnd.tfd, rnd_timer, &rnd) < 0) {
			hlog("cannot create the --rate timer: %s", strerror(errno));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &rnd.last);
		rnd.tokens = rnd.rate;
	}
	if (cli_confine(&cli, &d, SANDBOX_RND, &rnd.tfd, rnd.tfd >= 0) < 0)
		return 1;
	return cli_serve(&cli, &d);
}
