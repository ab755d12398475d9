#ifndef HYVE_RUNTIME_H
#define HYVE_RUNTIME_H

/*
 * The runtime every backend shares: a vhost-user server that serves one
 * frontend at a time over a unix socket, keeps the memory table and the
 * vrings, and calls the device when a queue is kicked.  A frontend that
 * sends garbage or goes away is dropped and the device reset; with a
 * listening socket the server then waits for the next one.
 */

#include <stdbool.h>
#include <stdint.h>

#include "backends/guestmem.h"
#include "backends/vring.h"
#include "ipc/stats.h"
#include "ipc/vhost_user.h"

struct vu_dev;

struct vu_backend {
	const char *name;		/* device name for messages */
	uint64_t features;		/* device feature bits offered */
	unsigned nqueues;
	unsigned max_queue_size;
	/* The queue was kicked or (re)started: process it. */
	void (*kick)(struct vu_dev *d, struct vring_queue *vq);
	/* Fill len bytes of config space at off; NULL if the device has none. */
	int (*get_config)(struct vu_dev *d, uint32_t off, void *buf, uint32_t len);
	/* The frontend reset the device or went away. */
	void (*reset)(struct vu_dev *d);
	/* Finish every request of the queue in flight (complete it into the
	 * used ring): called before its base is reported, before the memory
	 * table changes, and before a reset.  May be NULL. */
	void (*drain)(struct vu_dev *d, struct vring_queue *vq);
	/* Looks for work without waiting (new avail entries, completions)
	 * and does it; returns whether there was any.  With it and a poll
	 * window (vu_dev.poll_max_ns), the server spins on it for a while
	 * before it sleeps.  May be NULL. */
	bool (*poll)(struct vu_dev *d);
	/* A device that runs its queues in threads of its own: the epoll fd
	 * that watches queue q's kick fd (the thread passes the events to
	 * vu_kick_event), and the lock that keeps every such thread out while
	 * the server changes the rings, memory or device state.  NULL: the
	 * server's own loop runs the queues. */
	int (*kick_epfd)(struct vu_dev *d, unsigned q);
	void (*lock)(struct vu_dev *d, bool on);
	/* Its own part of a snapshot (vu_devstate.c), beyond the device
	 * name, features and config the runtime saves: at most cap bytes
	 * into buf, returns the length or -errno; load gets them back in a
	 * new backend.  NULL: nothing to add. */
	int (*save_state)(struct vu_dev *d, void *buf, size_t cap);
	int (*load_state)(struct vu_dev *d, const void *buf, size_t len);
	/* Whether the config saved may differ from this device's as it
	 * does (a clone's MAC); NULL: it must be the same. */
	bool (*state_config_ok)(struct vu_dev *d, const uint8_t *saved,
	    const uint8_t *now, uint32_t len);
};

#define VU_MAX_WATCH	4

struct vu_watch {
	int fd;
	void (*cb)(struct vu_dev *d, void *arg);
	void *arg;
};

struct vu_dev {
	const struct vu_backend *be;
	void *priv;
	int epfd;
	int lfd;			/* listening socket, or -1 */
	int cfd;			/* connected frontend, or -1 */
	uint32_t conn_gen;		/* counts frontends (epoll tags) */
	uint32_t kick_gen[VU_MAX_QUEUES];	/* counts kick fds per queue */
	uint64_t features;		/* negotiated */
	uint64_t pfeatures;		/* negotiated protocol features */
	bool proto_set;			/* SET_PROTOCOL_FEATURES was received */
	struct gmem mem;
	struct vring_queue vq[VU_MAX_QUEUES];
	struct vu_watch watch[VU_MAX_WATCH];
	unsigned nwatch;
	struct hyve_stats *stats;	/* --stats-fd page, or NULL */
	/* Polling before sleeping: at most poll_max_ns (0: never); the
	 * window poll_ns adapts to how soon work came after the last ones. */
	uint64_t poll_max_ns;
	uint64_t poll_ns;
	/* The inflight region (GET/SET_INFLIGHT_FD), or NULL.  infl_fd is
	 * made before the sandbox (which forbids making files), big enough
	 * for every queue at its largest; GET_INFLIGHT_FD hands it out. */
	int infl_fd;
	size_t infl_cap;
	uint8_t *infl;
	size_t infl_len;
	size_t infl_stride;		/* bytes per queue */
	unsigned infl_nq;
	unsigned infl_qsize;
	int infl_guard;			/* gmem_guard slot of infl */
	/* What the last state transfer came to, for CHECK_DEVICE_STATE:
	 * 0, or -errno (-ENODATA before any). */
	int state_rc;
	/* --uffd: a userfaultfd of this process, made before the sandbox
	 * (which has no userfaultfd request), for POSTCOPY_ADVISE to hand
	 * over;
	 * after POSTCOPY_LISTEN, SET_MEM_TABLE is answered with the table
	 * as mapped. */
	int uffd;
	bool pagefault;			/* offers VU_PF_PAGEFAULT */
	bool listening;
};

/* Features every backend offers on top of the device's own. */
#define VU_RUNTIME_FEATURES	(1ull << 32 /* VIRTIO_F_VERSION_1 */ | \
	1ull << VIRTIO_RING_F_INDIRECT_DESC | 1ull << VIRTIO_RING_F_EVENT_IDX | \
	1ull << VU_F_PROTOCOL_FEATURES)
#define VU_RUNTIME_PFEATURES	(1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK | \
	1ull << VU_PF_CONFIG | 1ull << VU_PF_RESET_DEVICE | \
	1ull << VU_PF_INFLIGHT_SHMFD | 1ull << VU_PF_DEVICE_STATE)

/* The device state of a snapshot (vu_devstate.c), written to fd or read
 * from it to its end, with every ring stopped.  0 or -errno (logged). */
int vu_state_save(struct vu_dev *d, int fd);
int vu_state_load(struct vu_dev *d, int fd);

int vu_dev_init(struct vu_dev *d, const struct vu_backend *be, void *priv);
/* --uffd: makes d's userfaultfd from dev, an open /dev/userfaultfd (then
 * closed).  -errno (logged). */
int vu_dev_uffd(struct vu_dev *d, int dev);
void vu_dev_free(struct vu_dev *d);

/* Maps the counters page the core passed (--stats-fd). */
int vu_stats_map(struct vu_dev *d, int fd);

/*
 * Binds and listens on path.  A stale socket there (nobody listening) is
 * replaced; a live one is refused with -EADDRINUSE.
 */
int vu_listen(const char *path);

/* Calls cb whenever fd is readable (a timer, say). */
int vu_watch(struct vu_dev *d, int fd, void (*cb)(struct vu_dev *d, void *arg),
    void *arg);

/*
 * Serves fd: a listening socket (serve frontends one after another,
 * forever) or a connected one (return 0 when it goes away).  Returns -errno
 * on a fatal error.
 */
int vu_serve(struct vu_dev *d, int fd);

/*
 * Handles one message from the connected frontend.  Returns 0, or -errno
 * when the connection must be dropped.  vu_serve calls it; exposed for tests.
 */
int vu_handle(struct vu_dev *d);

/* Runs the device's kick for vq, as a kick on its eventfd does: at most
 * two rings' worth of chains, then the rest after the other events. */
void vu_run_queue(struct vu_dev *d, struct vring_queue *vq);

/* A queue thread's epoll event on a kick fd (see vu_backend.kick_epfd):
 * runs the queue if the fd is still the queue's.  Called with the
 * device's lock held. */
void vu_kick_event(struct vu_dev *d, uint64_t tag);

/* Drops the frontend: closes its socket and fds, resets the device. */
void vu_disconnect(struct vu_dev *d);

#endif
