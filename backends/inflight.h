#ifndef HYVE_INFLIGHT_H
#define HYVE_INFLIGHT_H

/*
 * The vhost-user inflight region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) for
 * split rings: shared memory that survives the backend, in which it marks
 * each descriptor chain it took from the avail ring until the chain's
 * completion is published in the used ring.  A restarted backend finds
 * there the requests the dead one had not completed and runs them again,
 * so nothing the guest submitted is lost or completed twice.
 */

#include <stddef.h>
#include <stdint.h>

struct inflight_desc {
	uint8_t		inflight;
	uint8_t		padding[5];
	uint16_t	next;
	uint64_t	counter;	/* order in which chains were taken */
};

struct inflight_queue {
	uint64_t	features;
	uint16_t	version;	/* 0: not set up yet */
	uint16_t	desc_num;
	uint16_t	last_batch_head;
	uint16_t	used_idx;	/* used idx the flags agree with */
	struct inflight_desc desc[];
};

#define INFLIGHT_VERSION	1

/* Bytes one queue of size num takes in the region (64-byte aligned). */
static inline size_t
inflight_queue_size(unsigned num)
{
	return (sizeof(struct inflight_queue) +
	    num * sizeof(struct inflight_desc) + 63) & ~(size_t)63;
}

#endif
