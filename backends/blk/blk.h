#ifndef HYVE_BLK_H
#define HYVE_BLK_H

/*
 * hyve-blk: virtio-blk (device type 2) over vhost-user.  Requests go to the
 * disk through one io_uring, straight from and into the guest's buffers;
 * completions arrive on the ring's eventfd.  Reads and writes of a disk in
 * memory (inline_io) are done at once instead.  With more than one queue,
 * every queue has its own io_uring and its own thread (a "worker"), which
 * waits on the queue's kick fd and the ring's eventfd; the vhost-user
 * server's thread takes every worker's lock while it handles a message.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <liburing.h>
#include <linux/virtio_blk.h>

#include "backends/runtime.h"

#define BLK_MAX_QUEUES	16
#define BLK_QUEUE_SIZE	1024
#define BLK_SEG_MAX	126		/* data buffers per request */
#define BLK_IOV_MAX	(BLK_SEG_MAX + 8)	/* plus header and status */
#define BLK_RING_SIZE	256		/* io_uring submission entries */
#define BLK_ZERO_CHUNK	(1u << 20)	/* write-zeroes fallback unit */
#define BLK_MAX_DISCARD	(1u << 22)	/* sectors per discard/write-zeroes */
#define BLK_MAX_BOUNCE	(64u << 20)	/* largest unaligned O_DIRECT request */
#define BLK_POLL_US	0		/* --poll-us default */

struct blk_queue;

struct blk_req {
	struct blk_queue *q;
	struct blk_req *next;		/* free list */
	struct vring_req vr;
	struct iovec iov[BLK_IOV_MAX];	/* the chain, trimmed to the data */
	struct iovec *gdata;		/* the guest's data buffers */
	unsigned ngdata;
	struct iovec *data;		/* what the next I/O uses */
	unsigned ndata;
	struct iovec biov;		/* bounce or zero buffer */
	void *bounce;
	uint8_t *status;
	uint32_t type;
	uint64_t off;			/* byte offset of the next I/O */
	uint64_t left;			/* bytes still to transfer */
	uint32_t used;			/* used length on success */
	bool zeroing;			/* writing zeroes after fallocate failed */
};

struct blk;

struct blk_queue {
	struct blk *b;
	unsigned index;
	struct io_uring ring;
	bool ring_ok;
	int efd;			/* the ring's completions */
	int epfd;			/* worker: kick fd and efd, or -1 */
	unsigned queued;		/* SQEs not yet submitted */
	pthread_t thread;
	pthread_mutex_t lock;
	struct blk_req *reqs;
	unsigned nreqs;
	struct blk_req *free;
	unsigned inflight;
	bool starved;			/* stopped taking requests: no slot */
	bool touched;			/* completions not yet flushed */
};

struct blk {
	int fd;
	bool ro;
	bool nocache;
	bool nodelete;
	int rwflags;			/* RWF_SYNC for --sync */
	/* Reads and writes done at once with preadv2/pwritev2 rather than
	 * through io_uring: for a disk in memory (tmpfs), where io_uring
	 * hands every one to a worker thread and the copy never waits. */
	bool inline_io;
	/* io_uring set-ups to measure (issue 20): the disk as a registered
	 * file (no fd lookup per request), and completions run only when
	 * the one thread asks (SINGLE_ISSUER|DEFER_TASKRUN; one queue). */
	bool fixed_file;
	bool defer_taskrun;
	uint32_t align;			/* O_DIRECT buffer alignment */
	uint32_t blk_size;
	uint32_t phys_size;
	uint64_t sectors;		/* capacity in 512-byte sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	unsigned nqueues;
	bool threads;			/* a worker per queue (nqueues > 1) */
	int wake_efd;			/* workers: wakes the server's loop */
	struct virtio_blk_config cfg;
	bool dropping;			/* reset: complete nothing to the guest */
	void *zero;
	struct vu_dev *dev;
	struct vu_backend be;
	struct blk_queue q[BLK_MAX_QUEUES];
};

/* Sets up config space, the io_uring and the backend description. */
int blk_init(struct blk *b);
void blk_free(struct blk *b);

/* Starts watching the io_uring eventfd on d (after vu_dev_init). */
int blk_attach(struct blk *b, struct vu_dev *d);

/* The fds the sandbox must keep: at most 3 per queue and one more.
 * Returns how many. */
int blk_fds(const struct blk *b, int *fds, int max);

/* Starts the queue workers (no-op with one queue). */
int blk_start(struct blk *b);

/*
 * RLIMIT_NPROC is 0 but for blk: io_uring's io-wq workers are threads of
 * the process and count against it.  Seccomp still forbids the process any
 * fork, clone or clone3 of its own.
 */
#define BLK_NPROC	64

/* Its sandbox: what it is given and held to (blk_sandbox.c). */
struct sandbox_row;
extern const struct sandbox_row blk_sandbox;

#endif
