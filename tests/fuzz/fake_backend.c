/*
 * The fuzz targets' stand-in device, served by the real backend runtime.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ids.h>

#include "ipc/virtq.h"
#include "tests/fuzz/fake_backend.h"
#include "tests/fuzz/fuzz.h"

#define FAKE_QSIZE	256

static struct iovec iov[FAKE_QSIZE];

static bool
in_table(const struct gmem *gm, const void *p, uint64_t len)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_region *r = &gm->r[i];

		if (b >= r->host && len <= r->size &&
		    (uint64_t)(b - r->host) <= r->size - len)
			return true;
	}
	return false;
}

static void
fake_kick(struct vu_dev *d, struct vring_queue *vq)
{
	struct vring_req req;
	int rc, n = 0;

	/* Whatever the frontend did since, the rings lie in guest memory. */
	FZ_CHECK(vq->num <= FAKE_QSIZE);
	FZ_CHECK(in_table(&d->mem, vq->desc, virtq_desc_size(vq->num)));
	FZ_CHECK(in_table(&d->mem, vq->avail, virtq_avail_size(vq->num)));
	FZ_CHECK(in_table(&d->mem, vq->used, virtq_used_size(vq->num)));
	do {
		while ((rc = vring_pop(vq, &d->mem, &req, iov, FAKE_QSIZE)) > 0) {
			for (unsigned k = 0; k < req.nout + req.nin; k++)
				FZ_CHECK(in_table(&d->mem, iov[k].iov_base,
				    iov[k].iov_len));
			if (req.nin > 0)
				memset(iov[req.nout].iov_base, 0xa5,
				    iov[req.nout].iov_len);
			vring_push(vq, &req, req.in_len);
			if (++n > 4 * FAKE_QSIZE)
				FZ_CHECK(!"a ring yields more chains than it holds");
		}
		vring_flush(vq);
		if (rc < 0)
			return;
	} while (vring_enable_notify(vq));
}

static int
fake_get_config(struct vu_dev *d, uint32_t off, void *buf, uint32_t len)
{
	(void)d;
	FZ_CHECK(off <= VU_MAX_CONFIG && len <= VU_MAX_CONFIG - off);
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(off + i);
	return 0;
}

const struct vu_backend fake_backend = {
	.name = "fuzz-fake",
	.features = 1ull << 0 | 1ull << 5,
	.nqueues = 2,
	.max_queue_size = FAKE_QSIZE,
	.kick = fake_kick,
	.get_config = fake_get_config,
};

static void *
serve(void *arg)
{
	struct vu_dev *d = calloc(1, sizeof(*d));
	int lfd = (int)(intptr_t)arg;

	if (d == NULL || vu_dev_init(d, &fake_backend, NULL) < 0)
		abort();
	vu_serve(d, lfd);
	return NULL;
}

int
fake_backend_thread(int lfd)
{
	pthread_t t;
	int rc;

	rc = pthread_create(&t, NULL, serve, (void *)(intptr_t)lfd);
	if (rc != 0)
		return -rc;
	pthread_detach(t);
	return 0;
}
