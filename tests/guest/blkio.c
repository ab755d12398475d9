/*
 * virtio-blk requests for the stress test and the benchmark: each request
 * (struct bio) owns its header and status byte, so many can be in flight;
 * the caller kicks after a batch and reaps completions one by one.
 */
#include "virtio.h"

static struct bio *bio_of[VQ_MAX];	/* the request each head id carries */

const char *
bio_op(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return "read";
	case VIRTIO_BLK_T_OUT:
		return "write";
	case VIRTIO_BLK_T_FLUSH:
		return "flush";
	default:
		return "request";
	}
}

uint64_t
bio_capacity(struct vdev *d)
{
	return vdev_cfg64(d, offsetof(struct virtio_blk_config, capacity));
}

/* Puts one request in queue 0 (no kick): 0, or -1 when the ring is full. */
int
bio_submit(struct vdev *d, struct bio *b, uint32_t type, uint64_t sector,
    void *buf, uint32_t len)
{
	struct vbuf v[3];
	int id;

	b->hdr.type = type;
	b->hdr.ioprio = 0;
	b->hdr.sector = sector;
	b->status = 0xFF;
	b->type = type;
	b->sector = sector;
	b->buf = buf;
	b->len = len;
	v[0] = (struct vbuf){ &b->hdr, sizeof(b->hdr), 0 };
	v[1] = (struct vbuf){ buf, len, type == VIRTIO_BLK_T_IN };
	v[2] = (struct vbuf){ &b->status, 1, 1 };
	b->tsc = rdtsc();
	b->t0 = now_us();
	if ((id = vq_add(&d->vq[0], v, 3)) < 0)
		return -1;
	bio_of[id] = b;
	b->busy = 1;
	return 0;
}

/*
 * One completed request, or NULL when none is there yet.  *bad is set when
 * the device returned an id that does not carry a request of ours.
 */
struct bio *
bio_reap(struct vdev *d, char *why, size_t len, int *bad)
{
	struct bio *b;
	int id;

	*bad = 0;
	id = vq_used(&d->vq[0], NULL);
	if (id == VQ_EMPTY)
		return NULL;
	if (id < 0 || !bio_of[id] || !bio_of[id]->busy) {
		snprintf_(why, len, "virtio-blk: used ring has id %d, which "
		    "carries no request of ours", id);
		*bad = 1;
		return NULL;
	}
	b = bio_of[id];
	bio_of[id] = NULL;
	b->busy = 0;
	return b;
}
