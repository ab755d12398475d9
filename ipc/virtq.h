#ifndef HYVE_VIRTQ_H
#define HYVE_VIRTQ_H

/*
 * Split virtqueue layout helpers on top of linux/virtio_ring.h.  The ring
 * parts may live anywhere (virtio 1.0); these give each part's size and
 * alignment, and a packed layout for whoever places a ring (tests, the
 * legacy transport).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#define VIRTQ_MAX_SIZE	32768

struct virtq_layout {
	uint64_t desc;		/* offsets from the start of the ring area */
	uint64_t avail;
	uint64_t used;
	uint64_t size;		/* total bytes */
};

/* A split ring's size is a power of 2 in 1..32768. */
static inline bool
virtq_num_valid(unsigned num)
{
	return num != 0 && num <= VIRTQ_MAX_SIZE && (num & (num - 1)) == 0;
}

/* Bytes of each part, including the event index word. */
static inline uint64_t
virtq_desc_size(unsigned num)
{
	return (uint64_t)sizeof(struct vring_desc) * num;
}

static inline uint64_t
virtq_avail_size(unsigned num)
{
	return sizeof(uint16_t) * (3 + (uint64_t)num);
}

static inline uint64_t
virtq_used_size(unsigned num)
{
	return sizeof(uint16_t) * 3 + (uint64_t)sizeof(struct vring_used_elem) * num;
}

/* The event index words that follow the avail and used rings. */
static inline uint16_t *
virtq_used_event(struct vring_avail *avail, unsigned num)
{
	return &avail->ring[num];
}

static inline uint16_t *
virtq_avail_event(struct vring_used *used, unsigned num)
{
	return (uint16_t *)&used->ring[num];
}

/*
 * Lays out desc, avail, used one after the other; used starts on an
 * align boundary (a power of 2, at least 4).  Returns 0 or -EINVAL.
 */
int virtq_layout(unsigned num, unsigned align, struct virtq_layout *l);

/* Whether each ring address is aligned as virtio requires. */
bool virtq_aligned(uint64_t desc, uint64_t avail, uint64_t used);

#endif
