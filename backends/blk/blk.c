/*
 * virtio-blk request processing.  Every request is parsed from a copy of
 * what the guest wrote, checked against the disk's capacity, and then
 * handed to io_uring with iovecs that point into guest memory.
 */
#include <endian.h>
#include <errno.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "backends/blk/blk.h"
#include "backends/iov.h"
#include "lib/log.h"

#define SECTOR	512ull

static void blk_kick(struct vu_dev *d, struct vring_queue *vq);

static bool
iov_aligned(const struct iovec *iov, unsigned n, uint32_t align)
{
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align)
			return false;
	return true;
}

/*
 * Whether p..p+len still lies in the current memory table: the frontend may
 * replace it while a request is in flight.
 */
static bool
in_guest(const struct blk *b, const void *p, size_t len)
{
	const struct gmem *gm = &b->dev->mem;
	const uint8_t *q = p;

	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];

		if (r->host != NULL && q >= r->host && len <= r->size &&
		    (uint64_t)(q - r->host) <= r->size - len)
			return true;
	}
	return false;
}

/* The disk in an sqe: its fd, or index 0 of the registered files. */
static void
disk(struct blk_queue *q, struct io_uring_sqe *sqe)
{
	if (q->b->fixed_file) {
		sqe->fd = 0;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

static struct io_uring_sqe *
get_sqe(struct blk_queue *q)
{
	struct io_uring_sqe *sqe;

	int rc;

	while ((sqe = io_uring_get_sqe(&q->ring)) == NULL) {
		rc = io_uring_submit(&q->ring);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
			hlog("io_uring submit failed: %s; giving up", strerror(-rc));
			exit(1);
		}
		q->queued = 0;
	}
	q->queued++;
	return sqe;
}

static void
submit(struct blk_queue *q)
{
	int rc;

	if (q->queued == 0)
		return;
	rc = io_uring_submit(&q->ring);
	if (rc < 0)
		hlog("io_uring submit failed: %s", strerror(-rc));
	q->queued = 0;
}

static void
release(struct blk *b, struct blk_req *r)
{
	struct blk_queue *q = r->q;

	free(r->bounce);
	r->bounce = NULL;
	(void)b;
	r->next = q->free;
	q->free = r;
	q->inflight--;
}

static void
complete(struct blk *b, struct blk_req *r, uint8_t status)
{
	struct blk_queue *q = r->q;
	struct vring_queue *vq = &b->dev->vq[q->index];

	if (b->dropping) {
		release(b, r);
		return;
	}
	if (status == VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_IN &&
	    r->bounce != NULL) {
		for (unsigned i = 0; i < r->ngdata; i++)
			if (!in_guest(b, r->gdata[i].iov_base, r->gdata[i].iov_len))
				status = VIRTIO_BLK_S_IOERR;
		if (status == VIRTIO_BLK_S_OK)
			iov_from_buf(r->gdata, r->ngdata, r->bounce, r->used - 1);
	}
	if (in_guest(b, r->status, 1))
		*r->status = status;
	vring_push(vq, &r->vr, status == VIRTIO_BLK_S_OK ? r->used : 1);
	q->touched = true;
	release(b, r);
}

static void io_done(struct blk *b, struct blk_req *r, int res);

/* The transfer at once, in this thread; io_done goes on from there. */
static void
inline_rw(struct blk *b, struct blk_req *r)
{
	ssize_t n;

	do {
		if (r->zeroing) {
			r->biov.iov_base = b->zero;
			r->biov.iov_len = r->left < BLK_ZERO_CHUNK ? r->left :
			    BLK_ZERO_CHUNK;
			n = pwritev2(b->fd, &r->biov, 1, r->off, b->rwflags);
		} else if (r->type == VIRTIO_BLK_T_IN) {
			n = preadv2(b->fd, r->data, r->ndata, r->off, 0);
		} else {
			n = pwritev2(b->fd, r->data, r->ndata, r->off,
			    b->rwflags);
		}
	} while (n < 0 && errno == EINTR);
	io_done(b, r, n < 0 ? -errno : (int)(n > INT_MAX ? INT_MAX : n));
}

static void
submit_rw(struct blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe;

	if (b->inline_io) {
		inline_rw(b, r);
		return;
	}
	sqe = get_sqe(r->q);

	if (r->zeroing) {
		r->biov.iov_base = b->zero;
		r->biov.iov_len = r->left < BLK_ZERO_CHUNK ? r->left : BLK_ZERO_CHUNK;
		io_uring_prep_writev2(sqe, b->fd, &r->biov, 1, r->off, b->rwflags);
	} else if (r->type == VIRTIO_BLK_T_IN) {
		io_uring_prep_readv(sqe, b->fd, r->data, r->ndata, r->off);
	} else {
		io_uring_prep_writev2(sqe, b->fd, r->data, r->ndata, r->off,
		    b->rwflags);
	}
	disk(r->q, sqe);
	io_uring_sqe_set_data(sqe, r);
}

/* Reads and writes bounce through an aligned buffer under O_DIRECT. */
static int
start_rw(struct blk *b, struct blk_req *r)
{
	if (r->left == 0)
		return VIRTIO_BLK_S_OK;
	if (b->nocache && !iov_aligned(r->data, r->ndata, b->align)) {
		if (r->left > BLK_MAX_BOUNCE)
			return VIRTIO_BLK_S_IOERR;
		r->bounce = aligned_alloc(b->align, (r->left + b->align - 1) /
		    b->align * b->align);
		if (r->bounce == NULL)
			return VIRTIO_BLK_S_IOERR;
		if (r->type == VIRTIO_BLK_T_OUT)
			iov_to_buf(r->data, r->ndata, 0, r->bounce, r->left);
		r->biov.iov_base = r->bounce;
		r->biov.iov_len = r->left;
		r->data = &r->biov;
		r->ndata = 1;
	}
	submit_rw(b, r);
	return -1;
}

static int
start_discard(struct blk *b, struct blk_req *r, const struct iovec *seg,
    unsigned nseg, size_t len)
{
	struct virtio_blk_discard_write_zeroes dz;
	uint64_t sector;
	uint32_t num, flags;
	int mode;
	struct io_uring_sqe *sqe;

	if (r->type == VIRTIO_BLK_T_DISCARD && b->nodelete)
		return VIRTIO_BLK_S_UNSUPP;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	/* max_discard_seg and max_write_zeroes_seg are 1. */
	if (len != sizeof(dz))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(seg, nseg, 0, &dz, sizeof(dz));
	sector = le64toh(dz.sector);
	num = le32toh(dz.num_sectors);
	flags = le32toh(dz.flags);
	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP;
	if (r->type == VIRTIO_BLK_T_DISCARD && flags)
		return VIRTIO_BLK_S_UNSUPP;
	if (num > BLK_MAX_DISCARD || sector > b->sectors ||
	    num > b->sectors - sector)
		return VIRTIO_BLK_S_IOERR;
	if (num == 0)
		return VIRTIO_BLK_S_OK;
	r->off = sector * SECTOR;
	r->left = num * SECTOR;
	if (r->type == VIRTIO_BLK_T_DISCARD || flags)
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	sqe = get_sqe(r->q);
	io_uring_prep_fallocate(sqe, b->fd, mode, r->off, r->left);
	disk(r->q, sqe);
	io_uring_sqe_set_data(sqe, r);
	return -1;
}

static int
get_id(struct blk *b, struct blk_req *r)
{
	char id[VIRTIO_BLK_ID_BYTES];
	size_t n;

	memcpy(id, b->serial, sizeof(id));
	n = iov_from_buf(r->data, r->ndata, id, sizeof(id));
	r->used = n + 1;
	return VIRTIO_BLK_S_OK;
}

/*
 * Parses a request and starts it.  Returns a status to complete it with
 * now, or -1 when it went to io_uring.
 */
static int
start(struct blk *b, struct blk_req *r)
{
	struct vring_req *vr = &r->vr;
	struct virtio_blk_outhdr h;
	struct iovec *in = r->iov + vr->nout, *out = r->iov;
	unsigned nin = vr->nin, nout = vr->nout;
	uint64_t sector, len;

	if (vr->out_len < sizeof(h))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(out, nout, 0, &h, sizeof(h));
	r->type = le32toh(h.type);
	sector = le64toh(h.sector);
	r->used = 1;
	r->zeroing = false;
	/* The status byte is the chain's last; the data ends before it. */
	if (--in[nin - 1].iov_len == 0)
		nin--;
	iov_skip(&out, &nout, sizeof(h));

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->type == VIRTIO_BLK_T_IN) {
			r->data = in;
			r->ndata = nin;
			len = vr->in_len - 1;
		} else {
			if (b->ro)
				return VIRTIO_BLK_S_IOERR;
			r->data = out;
			r->ndata = nout;
			len = vr->out_len - sizeof(h);
		}
		if (len % SECTOR || sector > b->sectors ||
		    len / SECTOR > b->sectors - sector)
			return VIRTIO_BLK_S_IOERR;
		r->gdata = r->data;
		r->ngdata = r->ndata;
		r->off = sector * SECTOR;
		r->left = len;
		if (r->type == VIRTIO_BLK_T_IN)
			r->used = len + 1;
		return start_rw(b, r);
	case VIRTIO_BLK_T_FLUSH: {
		struct io_uring_sqe *sqe = get_sqe(r->q);

		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		disk(r->q, sqe);
		io_uring_sqe_set_data(sqe, r);
		return -1;
	}
	case VIRTIO_BLK_T_GET_ID:
		r->data = in;
		r->ndata = nin;
		return get_id(b, r);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return start_discard(b, r, out, nout, vr->out_len - sizeof(h));
	}
	return VIRTIO_BLK_S_UNSUPP;
}

/* One completion from io_uring. */
static void
io_done(struct blk *b, struct blk_req *r, int res)
{
	if (b->dropping) {
		complete(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (r->zeroing)
			break;
		if (res == -EOPNOTSUPP || res == -EINVAL) {
			/* No fallocate mode for this file: write zeroes. */
			r->zeroing = true;
			submit_rw(b, r);
			return;
		}
		/* FALLTHROUGH */
	default:
		/* Discard is a hint: a file that cannot punch holes keeps the data. */
		if (r->type == VIRTIO_BLK_T_DISCARD && res == -EOPNOTSUPP)
			res = 0;
		complete(b, r, res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
		return;
	}
	if (res <= 0) {
		complete(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	/* A short transfer: go on with the rest. */
	if ((uint64_t)res > r->left)
		res = r->left;
	r->off += res;
	r->left -= res;
	if (r->left == 0) {
		complete(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	if (!r->zeroing)
		iov_skip(&r->data, &r->ndata, res);
	submit_rw(b, r);
}

static void
reap(struct blk *b, struct blk_queue *q)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		if (r != NULL)
			io_done(b, r, res);
	}
}

/* Completions on q's io_uring: finish them, then take what waited. */
static void
queue_io(struct blk *b, struct blk_queue *q)
{
	struct vring_queue *vq = &b->dev->vq[q->index];
	eventfd_t v;

	eventfd_read(q->efd, &v);
	/* Deferred: completions are posted only when this thread asks. */
	if (b->defer_taskrun)
		io_uring_get_events(&q->ring);
	reap(b, q);
	submit(q);
	if (q->touched) {
		q->touched = false;
		vring_flush(vq);
	}
	if (q->starved && q->free != NULL && vring_ready(vq))
		blk_kick(b->dev, vq);
}

static void
blk_io_event(struct vu_dev *d, void *arg)
{
	struct blk_queue *q = arg;

	queue_io(d->priv, q);
}

/* Polling (one queue, no worker): completions, or requests in the ring. */
static bool
blk_poll(struct vu_dev *d)
{
	struct blk *b = d->priv;
	bool work = false;

	if (b->q[0].inflight > 0 && b->defer_taskrun)
		io_uring_get_events(&b->q[0].ring);
	if (b->q[0].inflight > 0 && io_uring_cq_ready(&b->q[0].ring) > 0) {
		queue_io(b, &b->q[0]);
		work = true;
	}
	for (unsigned i = 0; i < b->nqueues; i++) {
		if (vring_pending(&d->vq[i])) {
			vu_run_queue(d, &d->vq[i]);
			work = true;
		}
	}
	return work;
}

/* Gives the queue one request slot per ring entry. */
static int
queue_slots(struct blk_queue *q, unsigned num)
{
	if (q->nreqs == num || (q->inflight > 0 && q->nreqs > 0))
		return 0;
	free(q->reqs);
	q->reqs = calloc(num, sizeof(*q->reqs));
	q->nreqs = 0;
	q->free = NULL;
	if (q->reqs == NULL) {
		hlog("queue %u: out of memory for %u requests", q->index, num);
		return -ENOMEM;
	}
	q->nreqs = num;
	hlog("queue %u: started, %u entries", q->index, num);
	for (unsigned i = num; i-- > 0;) {
		q->reqs[i].q = q;
		q->reqs[i].next = q->free;
		q->free = &q->reqs[i];
	}
	return 0;
}

static void
blk_kick(struct vu_dev *d, struct vring_queue *vq)
{
	struct blk *b = d->priv;
	struct blk_queue *q = &b->q[vq->index];
	struct blk_req *r;
	int rc = 0, st;

	if (vq->index >= b->nqueues || queue_slots(q, vq->num) < 0)
		return;
	do {
		while ((r = q->free) != NULL) {
			rc = vring_pop(vq, &d->mem, &r->vr, r->iov, BLK_IOV_MAX);
			if (rc <= 0)
				break;
			q->free = r->next;
			q->inflight++;
			/* No status byte to write, or no header to read: the
			 * chain itself is malformed (a short header is only a
			 * bad request, answered with IOERR). */
			if (r->vr.nin == 0 || r->vr.nout == 0) {
				release(b, r);
				vring_fail(vq, -EINVAL, r->vr.nin == 0 ?
				    "request without a device-writable status "
				    "byte" : "request without a "
				    "device-readable header");
				rc = -EINVAL;
				break;
			}
			r->status = (uint8_t *)r->iov[r->vr.nout + r->vr.nin - 1].iov_base +
			    r->iov[r->vr.nout + r->vr.nin - 1].iov_len - 1;
			st = start(b, r);
			if (st >= 0)
				complete(b, r, st);
		}
		submit(q);
		q->starved = r == NULL;
		if (q->touched) {
			q->touched = false;
			vring_flush(vq);
		}
		if (rc < 0 || r == NULL)
			return;
	} while (vring_enable_notify(vq));
}

/* Waits for every request in flight and forgets them. */
static void
blk_reset(struct vu_dev *d)
{
	struct blk *b = d->priv;
	struct io_uring_cqe *cqe;
	int rc;

	b->dropping = true;
	for (unsigned i = 0; i < b->nqueues; i++) {
		struct blk_queue *q = &b->q[i];

		submit(q);
		while (q->inflight > 0) {
			rc = io_uring_wait_cqe(&q->ring, &cqe);
			if (rc == -EINTR)
				continue;
			if (rc < 0) {
				hlog("queue %u: io_uring wait failed during "
				    "reset: %s", i, strerror(-rc));
				break;
			}
			reap(b, q);
		}
		q->starved = false;
		q->touched = false;
	}
	b->dropping = false;
}

/* Completes every request of vq in flight, so its used ring is final. */
static void
blk_drain(struct vu_dev *d, struct vring_queue *vq)
{
	struct blk *b = d->priv;
	struct blk_queue *q;
	struct io_uring_cqe *cqe;
	int rc;

	if (vq->index >= b->nqueues)
		return;
	q = &b->q[vq->index];
	submit(q);
	while (q->inflight > 0) {
		rc = io_uring_wait_cqe(&q->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			hlog("io_uring wait failed while draining queue %u: %s",
			    vq->index, strerror(-rc));
			break;
		}
		reap(b, q);
		submit(q);
	}
	if (q->touched) {
		q->touched = false;
		vring_flush(vq);
	}
}

static int
blk_get_config(struct vu_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct blk *b = d->priv;
	uint8_t cfg[VU_MAX_CONFIG] = { 0 };

	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(cfg, &b->cfg, sizeof(b->cfg));
	memcpy(buf, cfg + off, len);
	return 0;
}

static unsigned
log2u(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/*
 * io_uring operations do not pass through seccomp: the ring itself is
 * limited to the operations the datapath submits, and no more register
 * calls, before it is enabled.
 */
static int
restrict_ring(struct blk_queue *q)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV,
	    IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_restriction r[sizeof(ops) + 1];
	size_t i, n = sizeof(ops);
	int rc;

	memset(r, 0, sizeof(r));
	for (i = 0; i < sizeof(ops); i++) {
		r[i].opcode = IORING_RESTRICTION_SQE_OP;
		r[i].sqe_op = ops[i];
	}
	if (q->b->fixed_file) {
		r[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
		r[n++].sqe_flags = IOSQE_FIXED_FILE;
	}
	/* Raw calls: Debian's liburing 2.3 declares but does not export the
	 * wrappers. */
	if (syscall(SYS_io_uring_register, q->ring.ring_fd,
	    IORING_REGISTER_RESTRICTIONS, r, n) < 0 ||
	    syscall(SYS_io_uring_register, q->ring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		rc = -errno;
		hlog("cannot restrict the io_uring to the datapath's operations: "
		    "%s", strerror(-rc));
		return rc;
	}
	return 0;
}

static int
blk_kick_epfd(struct vu_dev *d, unsigned q)
{
	struct blk *b = d->priv;

	return b->q[q].epfd;
}

static void
blk_lock(struct vu_dev *d, bool on)
{
	struct blk *b = d->priv;

	for (unsigned i = 0; i < b->nqueues; i++) {
		if (on)
			pthread_mutex_lock(&b->q[i].lock);
		else
			pthread_mutex_unlock(&b->q[i].lock);
	}
}

static int queue_init(struct blk *b, struct blk_queue *q);

int
blk_init(struct blk *b)
{
	struct virtio_blk_config *c = &b->cfg;
	uint64_t f;
	int rc;

	_Static_assert(sizeof(struct virtio_blk_config) <= VU_MAX_CONFIG,
	    "virtio-blk config larger than a vhost-user config message");
	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->sectors);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(b->blk_size);
	c->physical_block_exp = log2u(b->phys_size / b->blk_size);
	c->min_io_size = htole16(b->phys_size / b->blk_size);
	c->num_queues = htole16(b->nqueues);
	c->max_discard_sectors = htole32(BLK_MAX_DISCARD);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(b->blk_size / SECTOR);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DISCARD);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;

	f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
	    1ull << VIRTIO_BLK_F_TOPOLOGY | 1ull << VIRTIO_BLK_F_FLUSH |
	    1ull << VIRTIO_BLK_F_WRITE_ZEROES | 1ull << VIRTIO_BLK_F_MQ;
	if (!b->nodelete)
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (b->ro)
		f |= 1ull << VIRTIO_BLK_F_RO;
	b->be = (struct vu_backend){
		.name = "virtio-blk",
		.features = f,
		.nqueues = b->nqueues,
		.max_queue_size = BLK_QUEUE_SIZE,
		.kick = blk_kick,
		.get_config = blk_get_config,
		.reset = blk_reset,
		.drain = blk_drain,
		.poll = blk_poll,
	};
	for (unsigned i = 0; i < BLK_MAX_QUEUES; i++)
		b->q[i].index = i;

	b->zero = aligned_alloc(4096, BLK_ZERO_CHUNK);
	if (b->zero == NULL)
		return -ENOMEM;
	memset(b->zero, 0, BLK_ZERO_CHUNK);
	b->threads = b->nqueues > 1;
	if (b->threads) {
		b->be.poll = NULL;
		b->be.kick_epfd = blk_kick_epfd;
		b->be.lock = blk_lock;
	}
	for (unsigned i = 0; i < b->nqueues; i++)
		if ((rc = queue_init(b, &b->q[i])) < 0)
			return rc;
	return 0;
}

/* The queue's io_uring, its eventfd and, with workers, its epoll fd. */
static int
queue_init(struct blk *b, struct blk_queue *q)
{
	struct io_uring_params p = { 0 };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	int rc;

	q->b = b;
	q->efd = q->epfd = -1;
	pthread_mutex_init(&q->lock, NULL);
	/* Room for a completion from every request slot: none overflows.  The
	 * ring starts disabled so it can be restricted first. */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
	/* The ring's one issuer is the thread that enables it: one queue. */
	if (b->defer_taskrun && !b->threads)
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	else
		b->defer_taskrun = false;
	p.cq_entries = BLK_QUEUE_SIZE;
	rc = io_uring_queue_init_params(BLK_RING_SIZE, &q->ring, &p);
	if (rc < 0) {
		hlog("cannot set up io_uring: %s; hyve-blk needs io_uring "
		    "(Linux 5.6 or later, not disabled by kernel.io_uring_disabled)",
		    strerror(-rc));
		return rc;
	}
	q->ring_ok = true;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	rc = io_uring_register_eventfd(&q->ring, q->efd);
	if (rc < 0) {
		hlog("cannot register the io_uring eventfd: %s", strerror(-rc));
		return rc;
	}
	if (b->fixed_file &&
	    (rc = io_uring_register_files(&q->ring, &b->fd, 1)) < 0) {
		hlog("cannot register the disk with io_uring: %s",
		    strerror(-rc));
		return rc;
	}
	if (b->threads) {
		q->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (q->epfd < 0 || epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->efd,
		    &ev) < 0)
			return -errno;
	}
	return restrict_ring(q);
}

/* Nothing to do: the server's loop checks guest memory after any event. */
static void
blk_wake(struct vu_dev *d, void *arg)
{
	struct blk *b = arg;
	eventfd_t v;

	(void)d;
	eventfd_read(b->wake_efd, &v);
}

int
blk_attach(struct blk *b, struct vu_dev *d)
{
	b->dev = d;
	if (!b->threads)
		return vu_watch(d, b->q[0].efd, blk_io_event, &b->q[0]);
	b->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_efd < 0)
		return -errno;
	return vu_watch(d, b->wake_efd, blk_wake, b);
}

int
blk_fds(const struct blk *b, int *fds, int max)
{
	int n = 0;

	if (b->threads && max > 0)
		fds[n++] = b->wake_efd;
	for (unsigned i = 0; i < b->nqueues && n + 3 <= max; i++) {
		fds[n++] = b->q[i].ring.ring_fd;
		fds[n++] = b->q[i].efd;
		if (b->q[i].epfd >= 0)
			fds[n++] = b->q[i].epfd;
	}
	return n;
}

/*
 * A queue's worker: waits for a kick or a completion, then does the work
 * under the queue's lock (the server's thread holds every lock while it
 * handles a message).  It lives as long as the process: stopping a queue
 * (GET_VRING_BASE, a reset) takes its kick fd out of the epoll set, and
 * the worker sleeps until the queue is started again.
 */
static void *
worker(void *arg)
{
	struct blk_queue *q = arg;
	struct blk *b = q->b;
	struct epoll_event ev[8];
	int n;

	for (;;) {
		n = epoll_wait(q->epfd, ev, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hlog("queue %u: epoll_wait failed: %s", q->index,
			    strerror(errno));
			_exit(1);
		}
		pthread_mutex_lock(&q->lock);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == 0)
				queue_io(b, q);
			else
				vu_kick_event(b->dev, ev[i].data.u64);
		}
		/* A frontend that shrank guest memory under us is dropped by
		 * the server's loop, which looks after every event. */
		if (gmem_lost(&b->dev->mem) || gmem_guard_lost(b->dev->infl_guard))
			eventfd_write(b->wake_efd, 1);
		pthread_mutex_unlock(&q->lock);
	}
	return NULL;
}

/*
 * The workers start after the sandbox: it unshares a user namespace,
 * which the kernel refuses to a process with threads.  The blk seccomp
 * filter therefore allows clone with CLONE_THREAD (and answers clone3
 * with ENOSYS so that glibc falls back to it), and RLIMIT_NPROC
 * (BLK_NPROC) counts them with io_uring's workers.  Signals go to
 * the main thread only.
 */
int
blk_start(struct blk *b)
{
	sigset_t all, old;
	int rc = 0;

	if (!b->threads)
		return 0;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < b->nqueues && rc == 0; i++)
		rc = -pthread_create(&b->q[i].thread, NULL, worker, &b->q[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		hlog("cannot start the queue threads: %s", strerror(-rc));
	return rc;
}

void
blk_free(struct blk *b)
{
	/* Workers, if any, still run: only the main thread's exit ends them. */
	if (b->threads)
		return;
	for (unsigned i = 0; i < BLK_MAX_QUEUES; i++) {
		if (b->q[i].ring_ok)
			io_uring_queue_exit(&b->q[i].ring);
		b->q[i].ring_ok = false;
		free(b->q[i].reqs);
		b->q[i].reqs = NULL;
		b->q[i].nreqs = 0;
	}
	free(b->zero);
	b->zero = NULL;
}
