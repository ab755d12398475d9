/*
 * Split virtqueue walker for backends.  The guest owns the ring memory and
 * may change it at any time, so each descriptor is copied once and only the
 * copy is checked and used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backends/vring.h"
#include "ipc/virtq.h"
#include "lib/log.h"

void
vring_queue_init(struct vring_queue *vq, unsigned index)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->kickfd = -1;
	vq->callfd = -1;
	vq->errfd = -1;
}

void
vring_reset(struct vring_queue *vq)
{
	unsigned index = vq->index;

	free(vq->resubmit);
	free(vq->batch_heads);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->callfd >= 0)
		close(vq->callfd);
	if (vq->errfd >= 0)
		close(vq->errfd);
	vring_queue_init(vq, index);
}

int
vring_map(struct vring_queue *vq, const struct gmem *gm, uint64_t features)
{
	const struct vhost_vring_addr *a = &vq->addr;
	unsigned num = vq->num;

	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (!virtq_num_valid(num) || !vq->addr_set) {
		hlog("queue %u: started before its size and addresses were set; "
		    "fix the frontend's setup order", vq->index);
		return -EINVAL;
	}
	if (!virtq_aligned(a->desc_user_addr, a->avail_user_addr,
	    a->used_user_addr)) {
		hlog("queue %u: ring addresses are misaligned", vq->index);
		return -EINVAL;
	}
	vq->desc = gmem_uva(gm, a->desc_user_addr, virtq_desc_size(num));
	vq->avail = gmem_uva(gm, a->avail_user_addr, virtq_avail_size(num));
	vq->used = gmem_uva(gm, a->used_user_addr, virtq_used_size(num));
	/* A region whose address is not page aligned can misalign an aligned
	 * ring address once translated. */
	if (vq->desc == NULL || vq->avail == NULL || vq->used == NULL ||
	    !virtq_aligned((uintptr_t)vq->desc, (uintptr_t)vq->avail,
	    (uintptr_t)vq->used)) {
		hlog("queue %u: ring address outside the memory table or "
		    "misaligned in it", vq->index);
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EINVAL;
	}
	vq->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->indirect = (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED);
	vq->published = vq->used_idx;
	vq->signalled = vq->used_idx;
	vq->batch = 0;
	return 0;
}

bool
vring_ready(const struct vring_queue *vq)
{
	return vq->started && vq->enabled && !vq->broken && vq->desc != NULL;
}

void
vring_count_error(struct vring_queue *vq)
{
	if (vq->stats != NULL)
		__atomic_fetch_add(&vq->stats->errors, 1, __ATOMIC_RELAXED);
}

void
vring_fail(struct vring_queue *vq, int err, const char *why)
{
	(void)err;
	if (vq->broken)
		return;
	vq->broken = true;
	vring_count_error(vq);
	hlog("queue %u: %s; queue stopped until the guest resets the device",
	    vq->index, why);
	if (vq->errfd >= 0)
		eventfd_write(vq->errfd, 1);
}

static int
bad(struct vring_queue *vq, int err, const char *why)
{
	vring_fail(vq, err, why);
	return err;
}

static void
read_desc(struct vring_desc *d, const struct vring_desc *table, unsigned i)
{
	/*
	 * One copy, so the guest cannot change it between check and use; the
	 * barrier stops the compiler from reading guest memory again instead.
	 */
	memcpy(d, &table[i], sizeof(*d));
	__asm__ __volatile__("" ::: "memory");
}

int
vring_pop(struct vring_queue *vq, const struct gmem *gm,
    struct vring_req *req, struct iovec *iov, unsigned iovmax)
{
	const struct vring_desc *table = vq->desc;
	unsigned tsize = vq->num, count = 0, k = 0, i;
	uint64_t out = 0, in = 0;
	uint16_t aidx, head;
	struct vring_desc d;
	bool nested = false;
	void *buf;

	bool again = false;

	if (!vring_ready(vq))
		return vq->broken ? -EIO : 0;
	if (vq->budget != 0 && vq->taken >= vq->budget) {
		vq->yielded = true;
		return 0;
	}
	if (vq->resubmit_pos < vq->nresubmit) {
		/* A chain a previous backend took but did not complete. */
		head = vq->resubmit[vq->resubmit_pos];
		again = true;
	} else {
		aidx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		if ((uint16_t)(aidx - vq->last_avail) > vq->num)
			return bad(vq, -EINVAL, "avail index moved by more than "
			    "the queue size");
		if (aidx == vq->last_avail)
			return 0;
		head = __atomic_load_n(&vq->avail->ring[vq->last_avail &
		    (vq->num - 1)], __ATOMIC_RELAXED);
	}
	if (head >= vq->num)
		return bad(vq, -EINVAL, "avail ring head index out of range");
	memset(req, 0, sizeof(*req));
	req->head = head;
	req->iov = iov;
	i = head;
	for (;;) {
		if (++count > tsize)
			return bad(vq, -ELOOP, "descriptor chain loops or is "
			    "longer than its table");
		read_desc(&d, table, i);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return bad(vq, -EINVAL, "indirect descriptor "
				    "without INDIRECT_DESC");
			/* Not table != vq->desc: an indirect table may
			 * alias the ring's own table, and would loop. */
			if (nested)
				return bad(vq, -EINVAL, "nested indirect descriptor");
			if (count != 1 || (d.flags & VRING_DESC_F_NEXT))
				return bad(vq, -EINVAL, "indirect descriptor "
				    "chained to others");
			if (d.len == 0 || d.len % sizeof(d) ||
			    d.len / sizeof(d) > vq->num)
				return bad(vq, -EINVAL, "indirect table length "
				    "is not 1..queue-size descriptors");
			table = gmem_gpa(gm, d.addr, d.len);
			if (table == NULL)
				return bad(vq, -EFAULT, "indirect table outside "
				    "guest memory");
			tsize = d.len / sizeof(d);
			nested = true;
			count = 0;
			i = 0;
			continue;
		}
		if (d.len == 0)
			return bad(vq, -EINVAL, "zero-length buffer");
		buf = gmem_gpa(gm, d.addr, d.len);
		if (buf == NULL)
			return bad(vq, -EFAULT, "buffer outside guest memory");
		if (k >= iovmax)
			return bad(vq, -E2BIG, "chain has more buffers than the "
			    "backend's iovec array");
		if (d.flags & VRING_DESC_F_WRITE) {
			req->nin++;
			in += d.len;
		} else {
			if (req->nin)
				return bad(vq, -EINVAL, "device-readable buffer "
				    "after a device-writable one");
			req->nout++;
			out += d.len;
		}
		if (in > UINT32_MAX || out > UINT32_MAX)
			return bad(vq, -EINVAL, "chain longer than 4 GiB");
		iov[k].iov_base = buf;
		iov[k].iov_len = d.len;
		k++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
		if (i >= tsize)
			return bad(vq, -EINVAL, "next descriptor index out of range");
	}
	req->out_len = out;
	req->in_len = in;
	vq->taken++;
	if (again) {
		vq->resubmit_pos++;
		return 1;
	}
	vq->last_avail++;
	if (vq->infl != NULL) {
		vq->infl->desc[head].counter = vq->counter++;
		__atomic_store_n(&vq->infl->desc[head].inflight, 1,
		    __ATOMIC_RELEASE);
	}
	return 1;
}

void
vring_push(struct vring_queue *vq, const struct vring_req *req, uint32_t len)
{
	struct vring_used_elem *e;

	if (vq->used == NULL || vq->broken)
		return;
	if (len > req->in_len)
		len = req->in_len;
	e = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	__atomic_store_n(&e->id, req->head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	/* Our own copy: the guest may scribble on its used ring. */
	if (vq->infl != NULL) {
		vq->batch_heads[vq->used_idx & (vq->num - 1)] = req->head;
		vq->infl->last_batch_head = req->head;
	}
	vq->used_idx++;
	vq->batch++;
	if (vq->stats != NULL) {
		__atomic_fetch_add(&vq->stats->requests, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&vq->stats->bytes, (uint64_t)req->out_len + len,
		    __ATOMIC_RELAXED);
	}
}

static bool
need_notify(struct vring_queue *vq)
{
	uint16_t old = vq->signalled, event;

	vq->signalled = vq->used_idx;
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
		    VRING_AVAIL_F_NO_INTERRUPT);
	event = __atomic_load_n(virtq_used_event(vq->avail, vq->num),
	    __ATOMIC_RELAXED);
	return vring_need_event(event, vq->used_idx, old);
}

/*
 * The chains now in the used ring are done: clear their flags, then record
 * the used index the flags agree with.  A crash between the two is repaired
 * by vring_inflight_start from the used ring itself.
 */
static void
inflight_published(struct vring_queue *vq)
{
	uint16_t i;

	for (i = vq->published; i != vq->used_idx; i++)
		__atomic_store_n(&vq->infl->desc[vq->batch_heads[i &
		    (vq->num - 1)]].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vq->infl->used_idx, vq->used_idx, __ATOMIC_RELEASE);
}

int
vring_flush(struct vring_queue *vq)
{
	if (vq->batch == 0 || vq->used == NULL || vq->broken)
		return 0;
	vq->batch = 0;
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	/* The used index must be visible before we read used_event/flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->infl != NULL)
		inflight_published(vq);
	vq->published = vq->used_idx;
	if (!need_notify(vq))
		return 0;
	if (vq->callfd >= 0)
		eventfd_write(vq->callfd, 1);
	if (vq->stats != NULL)
		__atomic_fetch_add(&vq->stats->interrupts, 1, __ATOMIC_RELAXED);
	return 1;
}

bool
vring_enable_notify(struct vring_queue *vq)
{
	if (!vring_ready(vq) || vq->yielded)
		return false;
	if (vq->event_idx)
		__atomic_store_n(virtq_avail_event(vq->used, vq->num),
		    vq->last_avail, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

void
vring_kick_after(struct vring_queue *vq, uint16_t idx)
{
	if (!vring_ready(vq))
		return;
	if (vq->event_idx)
		__atomic_store_n(virtq_avail_event(vq->used, vq->num), idx,
		    __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void
vring_notify(struct vring_queue *vq, bool on)
{
	if (!vring_ready(vq) || vq->event_idx)
		return;
	__atomic_store_n(&vq->used->flags, on ? 0 : VRING_USED_F_NO_NOTIFY,
	    __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool
vring_pending(const struct vring_queue *vq)
{
	if (!vring_ready(vq))
		return false;
	return vq->resubmit_pos < vq->nresubmit ||
	    __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

static int
by_counter(const void *a, const void *b, void *arg)
{
	const struct inflight_queue *q = arg;
	uint64_t x = q->desc[*(const uint16_t *)a].counter;
	uint64_t y = q->desc[*(const uint16_t *)b].counter;

	return x < y ? -1 : x > y;
}

int
vring_inflight_start(struct vring_queue *vq)
{
	struct inflight_queue *q = vq->infl;
	uint16_t uidx, i, n = 0;
	uint64_t maxc = 0;

	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->nresubmit = vq->resubmit_pos = 0;
	free(vq->batch_heads);
	vq->batch_heads = calloc(vq->num, sizeof(uint16_t));
	if (vq->batch_heads == NULL)
		return bad(vq, -ENOMEM, "out of memory for inflight tracking");
	if (q == NULL)
		return 0;
	uidx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (q->version != INFLIGHT_VERSION || q->desc_num != vq->num) {
		/* A fresh region, or one for another ring: start clean. */
		memset(q, 0, inflight_queue_size(vq->num));
		q->version = INFLIGHT_VERSION;
		q->desc_num = vq->num;
		q->used_idx = uidx;
		vq->counter = 0;
		return 0;
	}
	/* Completions published after the flags were last brought up to
	 * date: the used ring names them. */
	if ((uint16_t)(uidx - q->used_idx) > vq->num)
		return bad(vq, -EINVAL, "inflight region disagrees with the used "
		    "ring by more than the queue size");
	for (i = q->used_idx; i != uidx; i++) {
		uint32_t id = __atomic_load_n(&vq->used->ring[i & (vq->num - 1)].id,
		    __ATOMIC_RELAXED);

		if (id < vq->num)
			q->desc[id].inflight = 0;
	}
	q->used_idx = uidx;
	vq->resubmit = calloc(vq->num, sizeof(uint16_t));
	if (vq->resubmit == NULL)
		return bad(vq, -ENOMEM, "out of memory for inflight tracking");
	for (i = 0; i < vq->num; i++) {
		if (q->desc[i].inflight != 1)
			continue;
		vq->resubmit[n++] = i;
		if (q->desc[i].counter >= maxc)
			maxc = q->desc[i].counter + 1;
	}
	qsort_r(vq->resubmit, n, sizeof(uint16_t), by_counter, q);
	vq->nresubmit = n;
	vq->counter = maxc;
	/* The avail entries of the resubmitted chains are behind us. */
	vq->last_avail = uidx + n;
	vq->used_idx = vq->published = vq->signalled = uidx;
	return n;
}

void
vring_inflight_clear(struct vring_queue *vq)
{
	if (vq->infl != NULL && vq->num != 0)
		memset(vq->infl, 0, inflight_queue_size(vq->num));
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->nresubmit = vq->resubmit_pos = 0;
}
