/*
 * hyve-balloon's device.  A reported block is punched out of guest RAM
 * with MADV_REMOVE: the memfd the core and every backend share loses the
 * pages, for all of them at once (KVM's mappings are dropped too), and the
 * guest's next touch of the block gets zeroed pages.  Buffers of the
 * inflate and deflate queues are returned untouched: the host asks for
 * nothing, so a driver that follows the spec never sends any.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/balloon/balloon.h"
#include "lib/log.h"

#define PAGE	4096ull

static struct iovec iov[BALLOON_QUEUE_SIZE];

/* Gives back the whole pages of [p, p+len); returns the bytes given. */
static uint64_t
give_back(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + PAGE - 1) & ~(PAGE - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(PAGE - 1);

	if (e <= a)
		return 0;
	if (madvise((void *)a, e - a, MADV_REMOVE) < 0) {
		hlog("cannot give back %zu bytes of guest RAM: %s",
		    (size_t)(e - a), strerror(errno));
		return 0;
	}
	return e - a;
}

static void
balloon_kick(struct vu_dev *d, struct vring_queue *vq)
{
	struct vring_req req;
	uint64_t given;
	int rc;

	do {
		while ((rc = vring_pop(vq, &d->mem, &req, iov,
		    BALLOON_QUEUE_SIZE)) > 0) {
			given = 0;
			if (vq->index == BALLOON_Q_REPORT)
				for (unsigned i = 0; i < req.nout + req.nin; i++)
					given += give_back(req.iov[i].iov_base,
					    req.iov[i].iov_len);
			/* The device writes nothing into the buffers. */
			vring_push(vq, &req, 0);
			/* A balloon's "bytes": what the guest reported, pages
			 * the host never held included. */
			if (d->stats != NULL)
				__atomic_fetch_add(&d->stats->bytes, given,
				    __ATOMIC_RELAXED);
		}
		vring_flush(vq);
		if (rc < 0)
			return;
	} while (vring_enable_notify(vq));
}

/* num_pages and actual, both 0: the host wants none of the guest's
 * memory.  The driver's writes of actual are not kept (the core takes
 * the config as read-only). */
static int
balloon_get_config(struct vu_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_balloon_config cfg = { 0 };

	(void)d;
	if (off > BALLOON_CFG_LEN || len > BALLOON_CFG_LEN - off)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&cfg + off, len);
	return 0;
}

const struct vu_backend balloon_backend = {
	.name = "virtio-balloon",
	.features = 1ull << VIRTIO_BALLOON_F_REPORTING,
	.nqueues = BALLOON_NQUEUES,
	.max_queue_size = BALLOON_QUEUE_SIZE,
	.kick = balloon_kick,
	.get_config = balloon_get_config,
};
