/*
 * The test guest's virtio-pci modern (1.x) driver: device discovery,
 * capabilities, MSI-X, the init sequence and split virtqueues.  It runs at
 * CPL 3; every register is MMIO.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_blk.h>

#include "guest.h"

#define VQ_MAX		128	/* descriptors per queue we use at most */
#define VDEV_MAXQ	2
#define VEC_BASE	0x50	/* IDT vectors for MSI-X: VEC_BASE + 4 * dev + entry */
#define WAIT_US		5000000

/* A queue's rings: descriptors at 0, avail at 2048, used at 4096. */
struct vq_page {
	uint8_t b[8192];
} __attribute__((aligned(4096)));

struct vq {
	uint16_t index;
	uint16_t size;
	uint16_t msix;			/* MSI-X entry, or VIRTIO_MSI_NO_VECTOR */
	uint8_t vector;			/* its IDT vector */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t free_head, nfree;
	uint16_t avail_idx, last_used;
	uint32_t irq_mark;		/* irq_count[vector] when last seen empty */
	uint16_t next[VQ_MAX];		/* our own free list: the guest may not trust desc */
	uint16_t chain_len[VQ_MAX];
	uint64_t notify;		/* MMIO address of this queue's notify */
};

struct vdev {
	const char *name;		/* "virtio-blk" */
	int slot, fn;
	unsigned int devno;		/* picks the IDT vectors */
	uint16_t type;			/* VIRTIO_ID_* */
	uint64_t bar[6];
	uint64_t common, isr, devcfg, notify_base;
	uint32_t notify_mult, notify_len, devcfg_len;
	int msix_cap;
	uint16_t msix_n;
	uint64_t msix_table;
	uint16_t cfg_msix;
	uint8_t cfg_vector;
	int shared_vec;			/* one MSI-X entry for all */
	int poll;			/* vdev_init: queues without interrupts */
	uint64_t offered, features;
	unsigned int nq;
	struct vq vq[VDEV_MAXQ];
	struct vq_page mem[VDEV_MAXQ];
};

/* vq_used / vq_wait: a head id (>= 0) or one of these. */
#define VQ_EMPTY	-1	/* nothing used (vq_wait: before the deadline) */
#define VQ_NOIRQ	-2	/* used, but no interrupt arrived */
#define VQ_BADID	-3	/* the device returned an id we never gave it */

struct vbuf {
	void *addr;
	uint32_t len;
	int write;			/* device-writable */
};

const char *virtio_type_name(uint16_t type);
int vdev_find(uint16_t type, int nth, int *slot, int *fn);
int vdev_probe(struct vdev *d, int slot, int fn, char *why, size_t len);
int vdev_init(struct vdev *d, uint64_t want, unsigned int nq, char *why,
    size_t len);
void vdev_reset(struct vdev *d);
uint8_t vdev_status(struct vdev *d);
uint32_t vdev_cfg32(struct vdev *d, unsigned int off);
uint64_t vdev_cfg64(struct vdev *d, unsigned int off);
int vq_add(struct vq *q, const struct vbuf *b, unsigned int n);
void vq_kick(struct vq *q);
void vq_kick_if_wanted(struct vq *q);
int vq_used(struct vq *q, uint32_t *len);
int vq_pending(struct vq *q);
int vq_wait(struct vq *q, int irq, uint64_t us, uint32_t *len);
void irq_sleep(uint64_t us);
int vdev_open(struct vdev *d, uint16_t type, const char *test, uint64_t want,
    unsigned int nq, char *why, size_t len);
int vdev_open_poll(struct vdev *d, uint16_t type, const char *test,
    uint64_t want, unsigned int nq, int poll, char *why, size_t len);
void virtio_list(void);

/* blkio.c: virtio-blk requests, several in flight. */
#define BIO_MAX		32
struct bio {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
	uint8_t busy;
	uint32_t type;
	uint64_t sector;
	uint8_t *buf;
	uint32_t len;
	uint64_t t0;			/* now_us() at submit */
	uint64_t tsc;			/* rdtsc() at submit */
};
const char *bio_op(uint32_t type);
int bio_submit(struct vdev *d, struct bio *b, uint32_t type, uint64_t sector,
    void *buf, uint32_t len);
struct bio *bio_reap(struct vdev *d, char *why, size_t len, int *bad);
uint64_t bio_capacity(struct vdev *d);

/* stress.c, bench.c */
int test_blk_stress(char *, size_t);
int test_net_echo(char *, size_t);
int test_rng_stress(char *, size_t);
int test_bench_blk(char *, size_t);
int test_bench_net(char *, size_t);

#endif
