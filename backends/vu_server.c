/*
 * vhost-user server loop shared by all backends.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backends/runtime.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

/* ".PID" (at most 7 digits) of the temporary name vu_listen binds first. */
#define VU_TMP_SUFFIX	8

/*
 * epoll tags: the kind in the low 32 bits; for a frontend's socket and a
 * kick fd, the generation of that fd in the high 32, so that an event of
 * a connection or kick fd replaced earlier in the same batch is ignored.
 */
enum { TAG_LISTEN = 1, TAG_CONN, TAG_KICK = 0x100, TAG_WATCH = 0x200 };

static uint64_t
tag_gen(uint32_t kind, uint32_t gen)
{
	return (uint64_t)gen << 32 | kind;
}

int
vu_dev_init(struct vu_dev *d, const struct vu_backend *be, void *priv)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (be->nqueues == 0 || be->nqueues > VU_MAX_QUEUES)
		return -EINVAL;
	d->be = be;
	d->priv = priv;
	d->lfd = -1;
	d->cfd = -1;
	d->uffd = -1;
	d->state_rc = -ENODATA;
	/* A frontend that closes its end of the state channel early must
	 * not end the backend. */
	signal(SIGPIPE, SIG_IGN);
	gmem_init(&d->mem);
	if ((rc = gmem_guard_install()) < 0) {
		hlog("guest memory: cannot install the SIGBUS handler: %s",
		    strerror(-rc));
		return rc;
	}
	d->infl_cap = inflight_queue_size(be->max_queue_size) * be->nqueues;
	/*
	 * Every frontend gets this file in turn; sealed, so that one cannot
	 * shrink it and leave the next without an inflight region.
	 */
	d->infl_fd = memfd_create("hyve-inflight", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	if (d->infl_fd < 0 || ftruncate(d->infl_fd, d->infl_cap) < 0 ||
	    fcntl(d->infl_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) < 0) {
		hlog("inflight region: %s", strerror(errno));
		return -errno;
	}
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		vring_queue_init(&d->vq[i], i);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	return 0;
}

int
vu_dev_uffd(struct vu_dev *d, int dev)
{
	struct uffdio_api api = { .api = UFFD_API };
	int err = 0;

	/* A userfaultfd of this process that also takes the kernel's own
	 * faults (a read(2) into guest memory): the device's permission was
	 * checked when the core opened it. */
	d->uffd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (d->uffd < 0 || ioctl(d->uffd, UFFDIO_API, &api) < 0)
		err = errno;
	close(dev);
	if (err != 0) {
		hlog("--uffd %d: userfaultfd: %s; pass an open /dev/userfaultfd "
		    "(Linux 6.1 or later)", dev, strerror(err));
		if (d->uffd >= 0)
			close(d->uffd);
		d->uffd = -1;
		return -err;
	}
	d->pagefault = true;
	return 0;
}

void
vu_dev_free(struct vu_dev *d)
{
	vu_disconnect(d);
	if (d->epfd >= 0)
		close(d->epfd);
	d->epfd = -1;
	if (d->infl_fd >= 0)
		close(d->infl_fd);
	d->infl_fd = -1;
	if (d->uffd >= 0)
		close(d->uffd);
	d->uffd = -1;
}

static int
ep_add_to(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static int
ep_add(struct vu_dev *d, int fd, uint64_t tag)
{
	return ep_add_to(d->epfd, fd, tag);
}

/* Where queue q's kick fd is watched: a queue thread's epoll or ours. */
static int
kick_ep(struct vu_dev *d, unsigned q)
{
	return d->be->kick_epfd != NULL ? d->be->kick_epfd(d, q) : d->epfd;
}

/* Keeps the device's queue threads (if any) out of the rings. */
static void
lock_queues(struct vu_dev *d, bool on)
{
	if (d->be != NULL && d->be->lock != NULL)
		d->be->lock(d, on);
}

int
vu_stats_map(struct vu_dev *d, int fd)
{
	void *p = mmap(NULL, sizeof(struct hyve_stats), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		hlog("--stats-fd %d: %s", fd, strerror(errno));
		return -errno;
	}
	d->stats = p;
	sandbox_report_to(&d->stats->seccomp_nr);
	close(fd);
	return 0;
}

int
vu_watch(struct vu_dev *d, int fd, void (*cb)(struct vu_dev *, void *), void *arg)
{
	int rc;

	if (d->nwatch >= VU_MAX_WATCH)
		return -ENOSPC;
	if ((rc = ep_add(d, fd, TAG_WATCH + d->nwatch)) < 0)
		return rc;
	d->watch[d->nwatch++] = (struct vu_watch){ fd, cb, arg };
	return 0;
}

/*
 * A socket file at sa: if something listens there, -EADDRINUSE; if not (a
 * stale socket from an earlier run), it is removed.
 */
static int
take_stale(const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;	/* nothing, or not a socket: bind says */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A full backlog (EAGAIN) means a listener too. */
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 :
	    -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN) {
		hlog("socket %s: another process is listening on it; stop that "
		    "one first or choose another path", path);
		return -EADDRINUSE;
	}
	if (rc == -ECONNREFUSED && unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		hlog("socket %s: cannot remove the stale socket: %s", path,
		    strerror(-rc));
		return rc;
	}
	return 0;
}

/*
 * The socket is bound under a temporary name and listens before it is
 * linked to path, so whoever waits for the file to appear can connect at
 * once; link, unlike bind over a removed file, fails if another instance
 * got there first.
 */
int
vu_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, tmp = sa;
	int fd, rc, e;

	if (path[0] == '\0') {
		hlog("socket: empty path; give the path of the socket to listen on");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(sa.sun_path) - VU_TMP_SUFFIX) {
		hlog("socket %s: path too long (max %zu bytes)", path,
		    sizeof(sa.sun_path) - VU_TMP_SUFFIX - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%u", path,
	    (unsigned)getpid() % 10000000);
	if ((rc = take_stale(&sa)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 ||
	    listen(fd, 1) < 0 || link(tmp.sun_path, path) < 0) {
		e = errno;
		hlog("socket %s: %s; choose another path", path, strerror(e));
		unlink(tmp.sun_path);
		close(fd);
		return -e;
	}
	unlink(tmp.sun_path);
	return fd;
}

static void
drain_ring(struct vu_dev *d, struct vring_queue *vq)
{
	if (vq->started && d->be->drain)
		d->be->drain(d, vq);
}

static void
stop_ring(struct vu_dev *d, struct vring_queue *vq)
{
	drain_ring(d, vq);
	if (vq->kickfd >= 0) {
		epoll_ctl(kick_ep(d, vq->index), EPOLL_CTL_DEL, vq->kickfd,
		    NULL);
		close(vq->kickfd);
		vq->kickfd = -1;
		d->kick_gen[vq->index]++;
	}
	vring_flush(vq);
	vq->started = false;
	vq->broken = false;
}

static void
reset_rings(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->be->nqueues; i++) {
		stop_ring(d, &d->vq[i]);
		vring_inflight_clear(&d->vq[i]);
		vring_reset(&d->vq[i]);
	}
	if (d->be->reset)
		d->be->reset(d);
}

static void inflight_unmap(struct vu_dev *d);

void
vu_disconnect(struct vu_dev *d)
{
	if (d->be == NULL)
		return;
	lock_queues(d, true);
	reset_rings(d);
	gmem_free(&d->mem);
	inflight_unmap(d);
	lock_queues(d, false);
	d->features = 0;
	d->pfeatures = 0;
	d->proto_set = false;
	if (d->cfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->cfd, NULL);
		close(d->cfd);
		d->cfd = -1;
		if (d->lfd >= 0)
			hlog("vhost-user: frontend gone; waiting for the next one");
	}
}

static void
run_queue(struct vu_dev *d, struct vring_queue *vq)
{
	vu_run_queue(d, vq);
}

void
vu_run_queue(struct vu_dev *d, struct vring_queue *vq)
{
	if (!vring_ready(vq) || d->be->kick == NULL)
		return;
	/* At most two rings' worth per turn; the rest after the other
	 * events, by kicking ourselves. */
	vq->budget = 2 * vq->num;
	vq->taken = 0;
	vq->yielded = false;
	d->be->kick(d, vq);
	vq->budget = 0;
	if (vq->yielded && vq->kickfd >= 0)
		eventfd_write(vq->kickfd, 1);
	vq->yielded = false;
}

static int
reply(struct vu_dev *d, struct vu_msg *m, uint32_t size)
{
	m->hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	m->hdr.size = size;
	return vu_send(d->cfd, m);
}

static void
start_ring(struct vu_dev *d, struct vring_queue *vq)
{
	int n;

	if (vring_map(vq, &d->mem, d->features) < 0) {
		vring_fail(vq, -EINVAL, "ring addresses are not in guest memory");
		return;
	}
	vq->stats = d->stats;
	vq->infl = NULL;
	if (d->infl != NULL && vq->index < d->infl_nq && vq->num <= d->infl_qsize)
		vq->infl = (struct inflight_queue *)(d->infl +
		    vq->index * d->infl_stride);
	if ((n = vring_inflight_start(vq)) < 0)
		return;
	if (n > 0)
		hlog("queue %u: resubmitting %d request(s) a previous backend "
		    "left unfinished", vq->index, n);
	vq->started = true;
	if (!(d->features & (1ull << VU_F_PROTOCOL_FEATURES)))
		vq->enabled = true;
	run_queue(d, vq);
}

static void
inflight_unmap(struct vu_dev *d)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		d->vq[i].infl = NULL;
	gmem_unguard(d->infl_guard);
	d->infl_guard = 0;
	if (d->infl != NULL)
		munmap(d->infl, d->infl_len);
	d->infl = NULL;
	d->infl_len = 0;
	d->infl_nq = 0;
}

static int
inflight_check(struct vu_dev *d, const struct vu_inflight *in)
{
	unsigned qs = in->queue_size;

	if (in->num_queues == 0 || in->num_queues > d->be->nqueues ||
	    qs == 0 || (qs & (qs - 1)) != 0 || qs > d->be->max_queue_size) {
		hlog("vhost-user: inflight region for %u queues of %u entries: "
		    "not a valid ring set for this device", in->num_queues, qs);
		return -EINVAL;
	}
	return 0;
}

static int
inflight_map(struct vu_dev *d, int fd, uint64_t off, const struct vu_inflight *in)
{
	size_t stride = inflight_queue_size(in->queue_size);
	size_t len = stride * in->num_queues;
	struct stat st;
	void *p;
	int g;

	if (in->mmap_size < len || fstat(fd, &st) < 0 ||
	    off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off) {
		hlog("vhost-user: inflight region is smaller than %zu bytes", len);
		return -EINVAL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (p == MAP_FAILED)
		return -errno;
	if ((g = gmem_guard(p, len)) < 0) {
		munmap(p, len);
		return g;
	}
	inflight_unmap(d);
	d->infl_guard = g;
	d->infl = p;
	d->infl_len = len;
	d->infl_stride = stride;
	d->infl_nq = in->num_queues;
	d->infl_qsize = in->queue_size;
	return 0;
}

/* GET_INFLIGHT_FD: the backend makes the region; the frontend keeps it. */
static int
get_inflight(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_inflight in = m->p.inflight;
	size_t len;
	int rc;

	if ((rc = inflight_check(d, &in)) < 0)
		return rc;
	len = inflight_queue_size(in.queue_size) * in.num_queues;
	if (len > d->infl_cap)
		return -EINVAL;
	in.mmap_size = len;
	in.mmap_offset = 0;
	if ((rc = inflight_map(d, d->infl_fd, 0, &in)) < 0)
		return rc;
	/* A new region: whatever an earlier frontend left there is void. */
	memset(d->infl, 0, len);
	m->p.inflight = in;
	m->nfds = 0;
	vu_msg_add_fd(m, d->infl_fd);
	rc = reply(d, m, sizeof(m->p.inflight));
	m->fds[0] = -1;
	m->nfds = 0;
	return rc;
}

static int
set_inflight(struct vu_dev *d, struct vu_msg *m)
{
	int rc;

	if ((rc = inflight_check(d, &m->p.inflight)) < 0)
		return rc;
	hlog("inflight region from the frontend: %u queue(s) of %u entries",
	    m->p.inflight.num_queues, m->p.inflight.queue_size);
	return inflight_map(d, m->fds[0], m->p.inflight.mmap_offset,
	    &m->p.inflight);
}

static int
set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	int rc;

	/* Requests in flight point into the old mappings. */
	for (unsigned i = 0; i < d->be->nqueues; i++)
		drain_ring(d, &d->vq[i]);
	rc = gmem_set_table(&d->mem, &m->p.mem, m->fds);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < d->be->nqueues; i++) {
		struct vring_queue *vq = &d->vq[i];

		if (!vq->started)
			continue;
		vring_flush(vq);
		if (vring_map(vq, &d->mem, d->features) < 0)
			vring_fail(vq, -EINVAL, "ring left guest memory");
	}
	return 0;
}

/* A listening backend's answer to SET_MEM_TABLE: the table m asked for,
 * with where this process mapped each region. */
static int
mapped_table(struct vu_dev *d, const struct vu_msg *m)
{
	struct vu_msg r;

	vu_msg_init(&r, VU_SET_MEM_TABLE, 0);
	r.p.mem = m->p.mem;
	for (unsigned i = 0; i < d->mem.n; i++)
		r.p.mem.regions[i].uaddr = (uintptr_t)d->mem.r[i].host;
	return reply(d, &r, m->hdr.size);
}

/* POSTCOPY_ADVISE: the userfaultfd goes to the front-end, once. */
static int
advise(struct vu_dev *d, struct vu_msg *m)
{
	int rc;

	if (d->uffd < 0) {
		hlog("vhost-user: POSTCOPY_ADVISE: %s", d->pagefault ?
		    "the userfaultfd was handed over already" :
		    "started without --uffd");
		return -ENOTSUP;
	}
	vu_msg_init(m, VU_POSTCOPY_ADVISE, 0);
	vu_msg_add_fd(m, d->uffd);
	rc = reply(d, m, 0);
	m->nfds = 0;
	close(d->uffd);
	d->uffd = -1;
	return rc;
}

static int
set_vring_fd(struct vu_dev *d, struct vu_msg *m)
{
	struct vring_queue *vq = &d->vq[m->p.u64 & VU_VRING_IDX_MASK];
	int fd = -1, rc;

	if (m->nfds == 1) {
		fd = m->fds[0];
		m->fds[0] = -1;
		m->nfds = 0;
	}
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		stop_ring(d, vq);
		vq->kickfd = fd;
		if (fd >= 0 && (rc = ep_add_to(kick_ep(d, vq->index), fd,
		    tag_gen(TAG_KICK + vq->index, d->kick_gen[vq->index]))) < 0)
			return rc;
		start_ring(d, vq);
		break;
	case VU_SET_VRING_CALL:
		if (vq->callfd >= 0)
			close(vq->callfd);
		vq->callfd = fd;
		/*
		 * QEMU's vhost-user netdev sends a queue's SET_VRING_CALL
		 * after its SET_VRING_KICK and lets the guest run on without
		 * waiting for us: a request completed in between signalled
		 * the fd replaced here (QEMU's masked notifier, which nobody
		 * reads then).  A spurious interrupt costs the guest a look at
		 * the used ring; a lost one can stall it for good.
		 */
		if (fd >= 0 && vq->started)
			eventfd_write(fd, 1);
		break;
	case VU_SET_VRING_ERR:
		if (vq->errfd >= 0)
			close(vq->errfd);
		vq->errfd = fd;
		break;
	}
	return 0;
}

static int
get_config(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t size = m->p.config.size;

	if (d->be->get_config == NULL ||
	    d->be->get_config(d, m->p.config.offset, m->p.config.data, size) < 0)
		return reply(d, m, 0);
	return reply(d, m, VU_CONFIG_HDR + size);
}

/*
 * The channel for the device's state: the reply first (the frontend reads
 * or writes the pipe only after it), then the whole transfer.  The rings
 * must be stopped, as the protocol's suspended device.
 */
static int
set_state_fd(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t dir = m->p.xfer.direction;
	int fd = m->fds[0], rc = 0;
	struct stat st;

	m->fds[0] = -1;
	m->nfds = 0;
	/* Read to its end or written and closed: a pipe, nothing that could
	 * hold the transfer open for ever (an eventfd never ends). */
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		hlog("device state: the frontend's channel is not a pipe");
		rc = -EINVAL;
	}
	for (unsigned i = 0; i < d->be->nqueues; i++)
		if (d->vq[i].started) {
			hlog("device state: queue %u still runs; the frontend "
			    "must stop every ring first", i);
			rc = -EBUSY;
		}
	vu_msg_u64(m, VU_SET_DEVICE_STATE_FD, VU_STATE_NOFD | (rc < 0));
	d->state_rc = rc;
	/* Blocking: the transfer is the only thing the device does now. */
	fcntl(fd, F_SETFL, 0);
	if ((rc = reply(d, m, sizeof(uint64_t))) == 0 && d->state_rc == 0)
		d->state_rc = dir == VU_STATE_SAVE ? vu_state_save(d, fd) :
		    vu_state_load(d, fd);
	close(fd);
	return rc;
}

/* Returns 0, or -errno for a request that failed. */
static int
dispatch(struct vu_dev *d, struct vu_msg *m)
{
	const struct vu_backend *be = d->be;
	uint64_t offered = be->features | VU_RUNTIME_FEATURES;
	/* No config space, no CONFIG protocol feature. */
	uint64_t pfeatures = (VU_RUNTIME_PFEATURES &
	    ~(be->get_config ? 0 : 1ull << VU_PF_CONFIG)) |
	    (d->pagefault ? 1ull << VU_PF_PAGEFAULT : 0);
	struct vring_queue *vq = &d->vq[m->p.state.index % VU_MAX_QUEUES];
	int rc;

	switch (m->hdr.request) {
	case VU_GET_FEATURES:
		m->p.u64 = offered;
		return reply(d, m, sizeof(uint64_t));
	case VU_SET_FEATURES:
		if (m->p.u64 & ~offered)
			return -ENOTSUP;
		d->features = m->p.u64;
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		m->p.u64 = pfeatures;
		return reply(d, m, sizeof(uint64_t));
	case VU_SET_PROTOCOL_FEATURES:
		if (m->p.u64 & ~pfeatures)
			return -ENOTSUP;
		d->pfeatures = m->p.u64;
		d->proto_set = true;
		return 0;
	case VU_GET_QUEUE_NUM:
		m->p.u64 = be->nqueues;
		return reply(d, m, sizeof(uint64_t));
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		reset_rings(d);
		return 0;
	case VU_SET_MEM_TABLE:
		if ((rc = set_mem_table(d, m)) < 0 || !d->listening)
			return rc;
		return mapped_table(d, m);
	case VU_POSTCOPY_ADVISE:
		return advise(d, m);
	case VU_POSTCOPY_LISTEN:
		if (!(d->pfeatures & (1ull << VU_PF_PAGEFAULT)))
			return -ENOTSUP;
		d->listening = true;
		return 0;
	case VU_SET_VRING_NUM:
		if (m->p.state.num > be->max_queue_size)
			return -EINVAL;
		vq->num = m->p.state.num;
		/* A running ring was checked for its old size. */
		if (vq->started) {
			vring_flush(vq);
			if (vring_map(vq, &d->mem, d->features) < 0)
				vring_fail(vq, -EINVAL, "ring does not fit "
				    "guest memory at its new size");
		}
		return 0;
	case VU_SET_VRING_ADDR:
		vq = &d->vq[m->p.addr.index];
		vq->addr = m->p.addr;
		vq->addr_set = true;
		if (vq->started) {
			vring_flush(vq);
			if (vring_map(vq, &d->mem, d->features) < 0)
				vring_fail(vq, -EINVAL, "ring addresses are not "
				    "in guest memory");
		}
		return 0;
	case VU_SET_VRING_BASE:
		vq->last_avail = m->p.state.num;
		vq->used_idx = m->p.state.num;
		return 0;
	case VU_GET_VRING_BASE:
		stop_ring(d, vq);
		m->p.state.num = vq->last_avail;
		return reply(d, m, sizeof(m->p.state));
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return set_vring_fd(d, m);
	case VU_SET_VRING_ENABLE:
		/* QEMU's vhost-user netdev sends this before SET_FEATURES; the
		 * protocol features having been set is proof enough. */
		if (!(d->features & (1ull << VU_F_PROTOCOL_FEATURES)) &&
		    !d->proto_set)
			return -EINVAL;
		vq->enabled = m->p.state.num;
		run_queue(d, vq);
		return 0;
	case VU_GET_CONFIG:
		return get_config(d, m);
	case VU_GET_INFLIGHT_FD:
		return get_inflight(d, m);
	case VU_SET_INFLIGHT_FD:
		return set_inflight(d, m);
	case VU_SET_DEVICE_STATE_FD:
		return set_state_fd(d, m);
	case VU_CHECK_DEVICE_STATE:
		m->p.u64 = d->state_rc < 0;
		return reply(d, m, sizeof(uint64_t));
	}
	return -ENOTSUP;
}

int
vu_handle(struct vu_dev *d)
{
	struct vu_msg m;
	const char *why;
	uint32_t req, flags;
	int rc;

	rc = vu_recv(d->cfd, &m);
	if (rc == -ECONNRESET)
		return rc;
	if (rc < 0) {
		hlog("vhost-user: malformed message from the frontend (%s); "
		    "closing the connection", strerror(-rc));
		return rc;
	}
	req = m.hdr.request;
	flags = m.hdr.flags;
	rc = vu_validate(&m, d->be->nqueues, &why);
	if (rc < 0) {
		hlog("vhost-user: bad %s from the frontend: %s; closing the "
		    "connection", vu_request_name(req), why);
		vu_msg_close_fds(&m);
		return rc;
	}
	lock_queues(d, true);
	rc = dispatch(d, &m);
	lock_queues(d, false);
	vu_msg_close_fds(&m);
	/* A listening backend's SET_MEM_TABLE was answered with its table
	 * (or, failing, ends the connection). */
	if ((flags & VU_FLAG_NEED_REPLY) && !vu_has_reply(req) &&
	    !(req == VU_SET_MEM_TABLE && d->listening) &&
	    (d->pfeatures & (1ull << VU_PF_REPLY_ACK))) {
		vu_msg_u64(&m, req, rc < 0);
		if (rc < 0)
			hlog("vhost-user: %s failed: %s", vu_request_name(req),
			    strerror(-rc));
		return reply(d, &m, sizeof(uint64_t));
	}
	if (rc < 0)
		hlog("vhost-user: %s failed: %s; closing the connection",
		    vu_request_name(req), strerror(-rc));
	return rc;
}

static void
on_kick(struct vu_dev *d, unsigned q)
{
	struct vring_queue *vq = &d->vq[q];
	eventfd_t v;

	if (vq->kickfd < 0)
		return;
	if (eventfd_read(vq->kickfd, &v) < 0 && errno != EAGAIN)
		return;
	if (d->stats != NULL)
		__atomic_fetch_add(&d->stats->kicks, 1, __ATOMIC_RELAXED);
	run_queue(d, vq);
}

void
vu_kick_event(struct vu_dev *d, uint64_t tag)
{
	uint32_t kind = tag, gen = tag >> 32;

	if (kind >= TAG_KICK && kind < TAG_KICK + VU_MAX_QUEUES &&
	    gen == d->kick_gen[kind - TAG_KICK])
		on_kick(d, kind - TAG_KICK);
}

/*
 * Whether the connected frontend has gone, its hang-up perhaps not yet
 * read (it may be later in the same epoll batch as the new connection).
 * What it sent before it left is handled first, in order.
 */
static bool
conn_gone(struct vu_dev *d)
{
	char c;

	for (;;) {
		ssize_t n = recv(d->cfd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;	/* alive, nothing to read */
		if (n <= 0 || vu_handle(d) < 0)
			return true;
	}
}

static int
accept_one(struct vu_dev *d)
{
	int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (d->cfd >= 0 && conn_gone(d))
		vu_disconnect(d);
	if (d->cfd >= 0) {
		hlog("vhost-user: a frontend is already connected; refusing "
		    "the new connection (one frontend at a time)");
		close(fd);
		return 0;
	}
	d->cfd = fd;
	d->conn_gen++;
	hlog("vhost-user: frontend connected");
	return ep_add(d, fd, tag_gen(TAG_CONN, d->conn_gen));
}

/* The frontend shrank a file under guest memory or the inflight region. */
static bool
memory_lost(struct vu_dev *d)
{
	if (!gmem_lost(&d->mem) && !gmem_guard_lost(d->infl_guard))
		return false;
	hlog("vhost-user: the frontend shrank a memory file the backend had "
	    "mapped; closing the connection");
	return true;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void
notify_all(struct vu_dev *d, bool on)
{
	for (unsigned i = 0; i < d->be->nqueues; i++)
		vring_notify(&d->vq[i], on);
}

/*
 * Spins on the device's poll for the current window: whether it found
 * work.  Kicks are suppressed meanwhile, and allowed again before the
 * caller sleeps (one last look closes the race with a driver that saw the
 * suppression).
 */
static bool
poll_spin(struct vu_dev *d)
{
	uint64_t end;
	bool found = false;

	if (d->poll_ns == 0 || d->cfd < 0)
		return false;
	notify_all(d, false);
	end = mono_ns() + d->poll_ns;
	do {
		if (d->be->poll(d)) {
			found = true;
			break;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	} while (mono_ns() < end);
	notify_all(d, true);
	return found || d->be->poll(d);
}

/*
 * After sleeping slept ns: a window that long would have caught the work,
 * so grow it (to the maximum); a longer sleep means polling was wasted, so
 * halve it: an idle device soon sleeps at once.
 */
static void
poll_adapt(struct vu_dev *d, uint64_t slept)
{
	if (slept <= d->poll_max_ns)
		d->poll_ns = d->poll_ns * 2 > d->poll_max_ns ? d->poll_max_ns :
		    d->poll_ns < 2048 ? 4096 : d->poll_ns * 2;
	else
		d->poll_ns /= 2;
	if (d->poll_ns < 1024)
		d->poll_ns = 0;
	if (d->poll_ns > d->poll_max_ns)
		d->poll_ns = d->poll_max_ns;
}

/* epoll_wait, after polling the device for a while if it can be polled. */
static int
wait_events(struct vu_dev *d, struct epoll_event *ev, int max)
{
	uint64_t t0;
	int n;

	if (d->poll_max_ns == 0 || d->be->poll == NULL)
		return epoll_wait(d->epfd, ev, max, -1);
	n = epoll_wait(d->epfd, ev, max, 0);
	if (n != 0 || poll_spin(d))
		return n;
	t0 = mono_ns();
	n = epoll_wait(d->epfd, ev, max, -1);
	poll_adapt(d, mono_ns() - t0);
	return n;
}

int
vu_serve(struct vu_dev *d, int fd)
{
	int listening = 0, rc;
	socklen_t len = sizeof(listening);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
		hlog("vhost-user: fd %d is not a socket: %s; pass a unix socket",
		    fd, strerror(errno));
		return -ENOTSOCK;
	}
	if (listening) {
		d->lfd = fd;
		rc = ep_add(d, fd, TAG_LISTEN);
	} else {
		d->cfd = fd;
		rc = ep_add(d, fd, tag_gen(TAG_CONN, d->conn_gen));
	}
	if (rc < 0)
		return rc;
	for (;;) {
		struct epoll_event ev[16];
		int n = wait_events(d, ev, 16);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint32_t tag = ev[i].data.u64, gen = ev[i].data.u64 >> 32;
			bool drop = false;

			if (tag == TAG_LISTEN) {
				if ((rc = accept_one(d)) < 0)
					return rc;
			} else if (tag == TAG_CONN) {
				drop = gen == d->conn_gen && d->cfd >= 0 &&
				    vu_handle(d) < 0;
			} else if (tag >= TAG_WATCH) {
				struct vu_watch *w = &d->watch[tag - TAG_WATCH];

				w->cb(d, w->arg);
			} else if (tag >= TAG_KICK) {
				if (gen == d->kick_gen[tag - TAG_KICK])
					on_kick(d, tag - TAG_KICK);
			}
			if (drop || (d->cfd >= 0 && memory_lost(d))) {
				vu_disconnect(d);
				if (!listening)
					return 0;
			}
		}
	}
}
