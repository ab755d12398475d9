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

#include "backends/runtime.h"
#include "core/log.h"
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
usage(void)
{
	fprintf(stderr, "usage: hyve-rnd --socket PATH | --fd N "
	    "[--rate BYTES_PER_SEC]\n");
	exit(2);
}

static long long
number(const char *opt, const char *s, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 0 || v > max) {
		hlog("%s %s: not a number in 0..%lld", opt, s, max);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct sandbox_opts so = { 0 };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "rate", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "stats-fd", required_argument, NULL, 'X' },
		{ "no-sandbox", no_argument, NULL, 'O' },
		{ "debug-seccomp", no_argument, NULL, 'V' },
		{ "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct vu_dev d;
	int fd = -1, statsfd = -1, c, rc;

	log_set_role("rnd");
	while ((c = getopt_long(argc, argv, "s:f:r:n:X:OVU:G:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'f':
			fd = number("--fd", optarg, 1 << 20);
			break;
		case 'r':
			rnd.rate = number("--rate", optarg, 1ll << 40);
			break;
		case 'n':
			log_set_role(optarg);
			break;
		case 'O':
			so.off = true;
			break;
		case 'V':
			rnd.violate = true;
			break;
		case 'U':
			so.uid = number("--uid", optarg, 1 << 30);
			break;
		case 'G':
			so.gid = number("--gid", optarg, 1 << 30);
			break;
		case 'X':
			statsfd = number("--stats-fd", optarg, 1 << 20);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (path == NULL) == (fd < 0))
		usage();
	if (path != NULL && (fd = vu_listen(path)) < 0)
		return 1;
	if ((rc = vu_dev_init(&d, &rnd_backend, &rnd)) < 0 ||
	    (statsfd >= 0 && (rc = vu_stats_map(&d, statsfd)) < 0)) {
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
	{
		/* Everything is open: confine before the first guest byte. */
		int keep[] = { fd, d.epfd, d.infl_fd, rnd.tfd };

		so.name = log_name();
		if (sandbox_enter(SANDBOX_RND, keep, rnd.tfd >= 0 ? 4 : 3, &so) < 0)
			return 1;
	}
	rc = vu_serve(&d, fd);
	vu_dev_free(&d);
	return rc < 0 ? 1 : 0;
}
