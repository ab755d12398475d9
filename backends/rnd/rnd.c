/*
 * hyve-rnd's device: fills the guest's buffers from getrandom(2), with a
 * token bucket for --rate.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backends/rnd/rnd.h"

#define RND_MAX_FILL	65536	/* bytes per request, so one guest cannot hog */
#define RND_MIN_FILL	256	/* with --rate: the least a request is given */

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

const struct vu_backend rnd_backend = {
	.name = "virtio-rng",
	.features = 0,
	.nqueues = 1,
	.max_queue_size = RND_QUEUE_SIZE,
	.kick = rnd_kick,
	.reset = rnd_reset,
};


int
rnd_start_rate(struct rnd *r, struct vu_dev *d)
{
	int rc;

	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (r->tfd < 0)
		return -errno;
	if ((rc = vu_watch(d, r->tfd, rnd_timer, r)) < 0)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &r->last);
	r->tokens = r->rate;
	return 0;
}
