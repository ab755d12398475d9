#ifndef HYVE_VU_FRONTEND_H
#define HYVE_VU_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* Requests in one batch (vuf_batch): a device's ring start needs 2 + 7 per
 * queue. */
#define VUF_MAX_PENDING	160

/*
 * The core's side of vhost-user: one connection to one backend.  Every
 * reply is checked (a compromised backend must not be able to take over
 * the core) and every call is bounded in time.
 */
struct vu_front {
	int		sock;
	bool		advised;	/* its userfaultfd was handed over */
	const char	*name;		/* device name, for messages */
	uint64_t	features;	/* offered by the backend */
	uint64_t	pfeatures;	/* protocol features in use */
	unsigned	nqueues;	/* from GET_QUEUE_NUM, or 0 */
	/*
	 * A backend that breaks the protocol (a malformed or unasked
	 * message, no answer in time, a hang-up) loses its connection at
	 * once, so no later request reads a stale answer; why says what it
	 * did, and broken, if set (after vuf_open), is told.
	 */
	int		timeout;	/* ms, for the next answer */
	char		why[160];
	void		(*broken)(struct vu_front *f, void *arg);
	void		*arg;
	/* vuf_batch: requests sent whose acknowledgement is not read yet */
	bool		batch;
	unsigned	npending;
	uint32_t	pending[VUF_MAX_PENDING];
};

/*
 * vuf_batch(f, true): from now on, requests that only need an
 * acknowledgement (REPLY_ACK) go out without waiting for it;
 * vuf_batch(f, false) reads the acknowledgements, in order, and returns
 * the first failure.  A request with an answer of its own (GET_*) reads
 * the ones before it first.  Without REPLY_ACK there is nothing to batch.
 */
int vuf_batch(struct vu_front *f, bool on);
/* Takes sock; handshake: features, protocol features, owner, queue count. */
int vuf_open(struct vu_front *f, int sock, const char *name);
/* Takes sock, a connection another core made with this handshake's
 * results: nothing is sent (hyvectl upgrade). */
void vuf_adopt(struct vu_front *f, int sock, const char *name,
    uint64_t features, uint64_t pfeatures, unsigned nqueues);
void vuf_close(struct vu_front *f);
int vuf_get_config(struct vu_front *f, uint32_t off, void *buf, uint32_t len);
int vuf_set_features(struct vu_front *f, uint64_t features);
int vuf_set_mem_table(struct vu_front *f, struct vm *vm);
/*
 * SET_MEM_TABLE for a VM whose RAM stays in its snapshot's file
 * (memory.share_snapshot): on the connection's first, the backend's
 * userfaultfd comes into *uffd (POSTCOPY_ADVISE, LISTEN; else -1), and
 * rg[0..*n) get where the backend mapped each region, for ramfill.
 */
struct vuf_range {
	uint64_t	start, len, off;	/* the backend's address; memfd offset */
};
int vuf_set_mem_table_shared(struct vu_front *f, struct vm *vm, int *uffd,
    struct vuf_range *rg, unsigned *n);
struct vuf_ring {
	unsigned	num;
	uint64_t	desc, avail, used;	/* guest-physical */
	uint16_t	base;
	int		kick, call, err;	/* eventfds; call may be -1 */
};
int vuf_ring_start(struct vu_front *f, struct vm *vm, unsigned idx,
    const struct vuf_ring *r);
/* Stops ring idx; *base gets the next avail index the backend would use. */
int vuf_ring_stop(struct vu_front *f, unsigned idx, uint16_t *base);
int vuf_set_call(struct vu_front *f, unsigned idx, int fd);
/* The inflight region: the backend makes it (GET), the core keeps it and
 * hands it to every backend that serves the device after (SET). */
struct vuf_inflight {
	int		fd;
	uint64_t	size, offset;
	uint16_t	nqueues, qsize;
};
int vuf_get_inflight(struct vu_front *f, unsigned nq, unsigned qsize,
    struct vuf_inflight *in);
int vuf_set_inflight(struct vu_front *f, const struct vuf_inflight *in);
int vuf_reset(struct vu_front *f);
/*
 * The backend's own state (DEVICE_STATE), with every ring stopped: save
 * reads it into buf (at most cap bytes, *len its length), load gives it
 * to a new backend; both end by asking the backend whether it went well.
 * -ENOTSUP: the backend has no DEVICE_STATE; -EIO: it refused (its log
 * says why).
 */
int vuf_state_save(struct vu_front *f, void *buf, size_t cap, size_t *len);
int vuf_state_load(struct vu_front *f, const void *buf, size_t len);
/* A sign of life: GET_FEATURES answered, with the same features. */
int vuf_ping(struct vu_front *f);
/* Whether the backend's end of the socket is still open: after the
 * backend has died, a process it forked or gave the socket to holds it. */
bool vuf_peer_open(const struct vu_front *f);

/* How long a backend may take to answer, in milliseconds. */
#define VUF_TIMEOUT_MS	5000
/* The limit in use: VUF_TIMEOUT_MS, lowered by tests. */
extern int vuf_timeout_ms;
/* Whether data waiting before a request is an unasked message (true);
 * the fuzz target writes every answer in advance and turns it off. */
extern bool vuf_check_unasked;
/* The first answer of a backend just started: its exec and sandbox set-up
 * take seconds on a loaded or emulated machine.  A backend that dies
 * instead ends the wait at once (the socket hangs up). */
#define VUF_START_MS	60000

#endif
