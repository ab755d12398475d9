#ifndef HYVE_VRING_H
#define HYVE_VRING_H

/*
 * The split virtqueue as a backend processes it.  Everything the guest
 * wrote is checked: avail index, head and next indices, chain length, loops,
 * indirect tables, buffer addresses and lengths, and the order of readable
 * and writable buffers.  Any violation puts the queue in error: it stops,
 * and the err eventfd is written so that the frontend can set
 * DEVICE_NEEDS_RESET.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#include "backends/guestmem.h"
#include "backends/inflight.h"
#include "ipc/stats.h"

struct vring_queue {
	unsigned index;
	unsigned num;			/* 0 until SET_VRING_NUM */
	struct vhost_vring_addr addr;
	bool addr_set;
	struct vring_desc *desc;	/* set by vring_map */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;		/* next avail entry to take */
	uint16_t used_idx;		/* next used entry to fill */
	uint16_t signalled;		/* used_idx when last notified */
	unsigned batch;			/* completions not yet published */
	bool event_idx;
	bool indirect;
	bool started;			/* kick received, rings mapped */
	bool enabled;
	bool broken;
	int kickfd;
	int callfd;
	int errfd;
	struct hyve_stats *stats;	/* the device's counters, or NULL */
	/* Fairness: chains one kick may take before the runtime's loop gets
	 * a turn (0 = no limit); a guest whose rings overlap can otherwise
	 * feed a backend forever from a single kick. */
	unsigned budget;
	bool yielded;			/* stopped on the budget; kick again */
	unsigned taken;			/* chains taken since the budget was set */
	/* Inflight tracking, when the frontend gave a region (else NULL). */
	struct inflight_queue *infl;
	uint64_t counter;		/* next chain's order number */
	uint16_t published;		/* used idx last written to the ring */
	uint16_t *resubmit;		/* heads to run again, oldest first */
	uint16_t *batch_heads;		/* heads pushed, by used ring slot */
	unsigned nresubmit, resubmit_pos;
};

/* One descriptor chain: nout device-readable buffers, then nin writable. */
struct vring_req {
	uint16_t head;
	unsigned nout;
	unsigned nin;
	uint32_t out_len;
	uint32_t in_len;
	struct iovec *iov;
};

void vring_queue_init(struct vring_queue *vq, unsigned index);

/* Closes the queue's fds and forgets its state (but not its index). */
void vring_reset(struct vring_queue *vq);

/*
 * Translates the ring addresses through gm and checks their alignment and
 * extent.  features are the negotiated virtio features (EVENT_IDX,
 * INDIRECT_DESC).  Returns 0 or -EINVAL.
 */
int vring_map(struct vring_queue *vq, const struct gmem *gm, uint64_t features);

/* Whether the queue may be processed now. */
bool vring_ready(const struct vring_queue *vq);

/*
 * Takes the next available chain into req, its buffers into iov[iovmax]
 * (give at least vq->num entries).  Returns 1 for a chain, 0 when the ring
 * is empty, or -errno after putting the queue in error.
 */
int vring_pop(struct vring_queue *vq, const struct gmem *gm,
    struct vring_req *req, struct iovec *iov, unsigned iovmax);

/* Returns a chain to the driver with len bytes written; publishes nothing. */
void vring_push(struct vring_queue *vq, const struct vring_req *req, uint32_t len);

/*
 * Publishes the pushed chains and writes the call eventfd once if the
 * driver wants an interrupt.  Returns 1 if it notified, else 0.
 */
int vring_flush(struct vring_queue *vq);

/*
 * Asks the driver to kick for entries after the ones taken (avail_event).
 * Returns true if more entries arrived meanwhile, so the caller goes on.
 */
bool vring_enable_notify(struct vring_queue *vq);

/*
 * Asks the driver not to kick (VRING_USED_F_NO_NOTIFY) while the backend
 * polls the ring, or to kick again.  Without EVENT_IDX only; with it the
 * avail event already says when to kick.  After allowing kicks again, the
 * caller looks at the ring once more before sleeping.
 */
void vring_notify(struct vring_queue *vq, bool on);

/*
 * Asks the driver to kick once it makes an entry available after the
 * first idx (avail_event = idx), whatever the backend has taken: a
 * backend that waits for one buffer given back, not for the ring.
 */
void vring_kick_after(struct vring_queue *vq, uint16_t idx);

/* Whether the driver has made entries available that were not taken. */
bool vring_pending(const struct vring_queue *vq);

/*
 * With an inflight region: after the ring is mapped, reconciles the region
 * with the used ring and queues the chains a previous backend left
 * unfinished, so the next vring_pop calls return them first.  Returns the
 * number of chains to resubmit, or -errno after putting the queue in error.
 */
int vring_inflight_start(struct vring_queue *vq);
/* Forgets the queue's inflight state (the guest reset the device). */
void vring_inflight_clear(struct vring_queue *vq);

/* Counts a request that failed without breaking the queue. */
void vring_count_error(struct vring_queue *vq);

/* Puts the queue in error: stop it, log why, write the err eventfd. */
void vring_fail(struct vring_queue *vq, int err, const char *why);

#endif
