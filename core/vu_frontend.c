#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "core/layout.h"
#include "core/vm.h"
#include "core/vu_frontend.h"
#include "ipc/vhost_user.h"
#include "lib/log.h"
#include "lib/util.h"

/* Protocol features the core uses when the backend offers them. */
#define VUF_PFEATURES	(1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK | \
	1ull << VU_PF_CONFIG | 1ull << VU_PF_RESET_DEVICE | \
	1ull << VU_PF_INFLIGHT_SHMFD | 1ull << VU_PF_DEVICE_STATE | \
	1ull << VU_PF_PAGEFAULT)

int vuf_timeout_ms = VUF_TIMEOUT_MS;
bool vuf_check_unasked = true;

/* The backend broke the protocol: say what it did and drop it. */
static int __attribute__((format(printf, 3, 4)))
broken(struct vu_front *f, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	hlog("%s: the backend %s; dropping its connection", f->name, f->why);
	vuf_close(f);
	if (f->broken != NULL)
		f->broken(f, f->arg);
	return rc;
}

/* Before a request: anything the backend sent unasked, or its hang-up. */
static int
check_idle(struct vu_front *f)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	struct vu_hdr h;
	ssize_t n;

	if (!vuf_check_unasked || poll(&p, 1, 0) <= 0)
		return 0;
	n = recv(f->sock, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return broken(f, -ECONNRESET, "closed the connection");
	if (n < (ssize_t)sizeof(h))
		return broken(f, -EPROTO, "sent %zd bytes unasked", n);
	return broken(f, -EPROTO, "sent a message unasked (request %u, %s)",
	    h.request, vu_request_name(h.request));
}

/* Whether a whole message (or a hang-up, or a header vu_recv refuses)
 * waits in the socket, so that reading it cannot block. */
static bool
whole(int sock)
{
	struct vu_hdr h;
	ssize_t n;
	int q;

	n = recv(sock, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return true;
	if (n < (ssize_t)sizeof(h))
		return false;
	if (h.size > VU_MAX_PAYLOAD)
		return true;
	return ioctl(sock, FIONREAD, &q) == 0 &&
	    (size_t)q >= sizeof(h) + h.size;
}

/*
 * Waits until a whole answer is there, f->timeout ms at most in all: a
 * backend that trickles one byte at a time cannot stretch it.
 */
static int
wait_reply(struct vu_front *f)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN | POLLRDHUP };
	long long end = now_ms() + f->timeout, left;
	int n;

	while ((left = end - now_ms()) > 0) {
		n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		/* A hang-up, even inside a message: reading it says which. */
		if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) ||
		    whole(f->sock))
			return 0;
		usleep(1000);	/* part of one: wait for more */
	}
	return -EAGAIN;
}

static int
bad_reply(struct vu_front *f, struct vu_msg *m, struct vu_msg *r, int rc)
{
	const char *req = vu_request_name(m->hdr.request);

	switch (rc) {
	case -EAGAIN:
		if (recv(f->sock, &r->hdr, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			return broken(f, rc, "sent only part of an answer to "
			    "%s within %d ms", req, f->timeout);
		return broken(f, rc, "did not answer %s within %d ms", req,
		    f->timeout);
	case -ECONNRESET:
		return broken(f, rc, "closed the connection instead of "
		    "answering %s", req);
	case -EBADMSG:
		return broken(f, rc, "answered %s with a malformed or cut-off "
		    "message (a bad version, a size above %u bytes, over %d "
		    "fds, or a hang-up inside it)", req, VU_MAX_PAYLOAD,
		    VU_MAX_FDS);
	}
	return broken(f, rc, "answered %s unreadably: %s", req, strerror(-rc));
}

static int
check_reply(struct vu_front *f, struct vu_msg *m, struct vu_msg *r)
{
	const char *req = vu_request_name(m->hdr.request), *why;
	int rc;

	rc = vu_validate_reply(r, m->hdr.request, &why);
	if (rc == -EIO) {
		hlog("%s: the backend refused %s", f->name, req);
		return rc;
	}
	if (rc < 0) {
		int n = r->nfds;

		vu_msg_close_fds(r);
		return broken(f, rc, "answered %s with request %u (%s), flags "
		    "0x%x, %u bytes, %d fds: %s", req, r->hdr.request,
		    vu_request_name(r->hdr.request), r->hdr.flags, r->hdr.size,
		    n, why);
	}
	if (!vu_has_reply(m->hdr.request) && r->p.u64 != 0) {
		hlog("%s: the backend refused %s (status %llu)", f->name, req,
		    (unsigned long long)r->p.u64);
		return -EIO;
	}
	return 0;
}

/* Reads and checks the answer to m, into reply (NULL: dropped). */
static int
answer(struct vu_front *f, struct vu_msg *m, struct vu_msg *reply)
{
	struct vu_msg r;
	int rc;

	if (reply == NULL)
		reply = &r;
	if ((rc = wait_reply(f)) < 0 || (rc = vu_recv(f->sock, reply)) < 0)
		return bad_reply(f, m, reply, rc);
	rc = check_reply(f, m, reply);
	if (reply == &r || rc < 0)
		vu_msg_close_fds(reply);
	return rc;
}

/* Reads the acknowledgements of the requests sent in a batch; the
 * first failure. */
static int
drain(struct vu_front *f)
{
	int rc, first = 0;

	for (unsigned i = 0; i < f->npending && f->sock >= 0; i++) {
		struct vu_msg m;

		memset(&m.hdr, 0, sizeof(m.hdr));
		m.hdr.request = f->pending[i];
		if ((rc = answer(f, &m, NULL)) < 0 && first == 0)
			first = rc;
	}
	f->npending = 0;
	if (first == 0 && f->sock < 0)
		first = -ENOTCONN;
	return first;
}

int
vuf_batch(struct vu_front *f, bool on)
{
	int rc = drain(f);

	f->batch = on;
	return rc;
}

static int
call(struct vu_front *f, struct vu_msg *m, struct vu_msg *reply)
{
	bool ack = !vu_has_reply(m->hdr.request) &&
	    (f->pfeatures & (1ull << VU_PF_REPLY_ACK));
	int rc;

	if (f->sock < 0)
		return -ENOTCONN;
	/* A batch's acknowledgements come before any other answer. */
	if (f->npending > 0 && (!f->batch || !ack ||
	    f->npending == VUF_MAX_PENDING) && (rc = drain(f)) < 0)
		return rc;
	if (f->npending == 0 && (rc = check_idle(f)) < 0)
		return rc;
	/* With REPLY_ACK, every request that changes state is acknowledged,
	 * so a failure is seen where it happens (or at the batch's end). */
	if (ack)
		m->hdr.flags |= VU_FLAG_NEED_REPLY;
	if ((rc = vu_send(f->sock, m)) < 0) {
		int first;

		/* A backend that hung up in a batch did so at an earlier
		 * request: that one is what went wrong. */
		if (f->npending > 0 && (first = drain(f)) < 0)
			return first;
		return broken(f, rc, "took no %s: %s", vu_request_name(
		    m->hdr.request), rc == -EAGAIN ? "it stopped reading" :
		    strerror(-rc));
	}
	if (ack && f->batch) {
		f->pending[f->npending++] = m->hdr.request;
		return 0;
	}
	if (!vu_has_reply(m->hdr.request) &&
	    !(m->hdr.flags & VU_FLAG_NEED_REPLY))
		return 0;
	return answer(f, m, reply);
}

static int
get_u64(struct vu_front *f, uint32_t req, uint64_t *v)
{
	struct vu_msg m, r;
	int rc;

	vu_msg_init(&m, req, 0);
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	*v = r.p.u64;
	vu_msg_close_fds(&r);
	return 0;
}

static int
set_u64(struct vu_front *f, uint32_t req, uint64_t v)
{
	struct vu_msg m;

	vu_msg_u64(&m, req, v);
	return call(f, &m, NULL);
}

static void
sock_timeout(int sock, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
vuf_open(struct vu_front *f, int sock, const char *name)
{
	struct vu_msg m;
	uint64_t pf = 0, nq = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->name = name;
	f->timeout = VUF_START_MS;
	sock_timeout(sock, vuf_timeout_ms);
	rc = get_u64(f, VU_GET_FEATURES, &f->features);
	f->timeout = vuf_timeout_ms;
	if (rc < 0)
		return rc;
	if (f->features & (1ull << VU_F_PROTOCOL_FEATURES)) {
		if ((rc = get_u64(f, VU_GET_PROTOCOL_FEATURES, &pf)) < 0)
			return rc;
		pf &= VUF_PFEATURES;
		if ((rc = set_u64(f, VU_SET_PROTOCOL_FEATURES, pf)) < 0)
			return rc;
		f->pfeatures = pf;
	}
	vu_msg_init(&m, VU_SET_OWNER, 0);
	if ((rc = call(f, &m, NULL)) < 0)
		return rc;
	if (pf & (1ull << VU_PF_MQ)) {
		if ((rc = get_u64(f, VU_GET_QUEUE_NUM, &nq)) < 0)
			return rc;
		if (nq == 0 || nq > VU_MAX_QUEUES)
			return broken(f, -EPROTO, "claims %llu queues (at most "
			    "%d)", (unsigned long long)nq, VU_MAX_QUEUES);
		f->nqueues = nq;
	}
	return 0;
}

void
vuf_adopt(struct vu_front *f, int sock, const char *name, uint64_t features,
    uint64_t pfeatures, unsigned nqueues)
{
	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->name = name;
	f->features = features;
	f->pfeatures = pfeatures & VUF_PFEATURES;
	f->nqueues = nqueues;
	f->timeout = vuf_timeout_ms;
	sock_timeout(sock, vuf_timeout_ms);
}

void
vuf_close(struct vu_front *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	f->advised = false;
}

int
vuf_get_config(struct vu_front *f, uint32_t off, void *buf, uint32_t len)
{
	struct vu_msg m, r;
	int rc;

	if (!(f->pfeatures & (1ull << VU_PF_CONFIG)))
		return -ENOTSUP;
	if (len > VU_MAX_CONFIG || off > VU_MAX_CONFIG - len)
		return -EINVAL;
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + len);
	m.p.config.offset = off;
	m.p.config.size = len;
	m.p.config.flags = 0;
	memset(m.p.config.data, 0, len);
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	/* The reply must echo what was asked, or it is not believed. */
	if (r.hdr.size != VU_CONFIG_HDR + len || r.p.config.size != len ||
	    r.p.config.offset != off)
		return broken(f, -EPROTO, "answered GET_CONFIG of %u bytes at "
		    "%u with %u bytes at %u", len, off, r.p.config.size,
		    r.p.config.offset);
	memcpy(buf, r.p.config.data, len);
	vu_msg_close_fds(&r);
	return 0;
}

int
vuf_set_features(struct vu_front *f, uint64_t features)
{
	/* Only what the backend offered, and the protocol-features bit. */
	features &= f->features;
	return set_u64(f, VU_SET_FEATURES, features);
}

static void
mem_table(struct vu_msg *m, struct vm *vm)
{
	struct vu_memtable *t;
	int n = 0;

	vu_msg_init(m, VU_SET_MEM_TABLE, 0);
	t = &m->p.mem;
	t->regions[n] = (struct vu_region){ 0, vm->lowmem,
	    (uintptr_t)vm->mem, 0 };
	vu_msg_add_fd(m, vm->mem_fd);
	n++;
	if (vm->highmem > 0) {
		t->regions[n] = (struct vu_region){ HIGHMEM_BASE, vm->highmem,
		    (uintptr_t)vm->mem + vm->lowmem, vm->lowmem };
		vu_msg_add_fd(m, vm->mem_fd);
		n++;
	}
	t->nregions = n;
	m->hdr.size = 8 + n * sizeof(struct vu_region);
}

int
vuf_set_mem_table(struct vu_front *f, struct vm *vm)
{
	struct vu_msg m;

	mem_table(&m, vm);
	return call(f, &m, NULL);
}

/* The backend's userfaultfd (POSTCOPY_ADVISE) into *uffd, and it
 * listening. */
static int
take_uffd(struct vu_front *f, int *uffd)
{
	struct vu_msg m, r;
	int rc;

	vu_msg_init(&m, VU_POSTCOPY_ADVISE, 0);
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	*uffd = r.fds[0];
	f->advised = true;
	vu_msg_init(&m, VU_POSTCOPY_LISTEN, 0);
	return call(f, &m, NULL);
}

/*
 * The table the listening backend mapped, checked against the one sent
 * (sent): each region's range in the backend's address space, for the
 * core to register and serve.
 */
static int
mapped_ranges(struct vu_front *f, const struct vu_msg *sent,
    const struct vu_msg *r, struct vuf_range *rg)
{
	const struct vu_memtable *a = &sent->p.mem, *b = &r->p.mem;

	if (r->hdr.size == sizeof(uint64_t))
		return broken(f, -EPROTO, "acknowledged SET_MEM_TABLE instead "
		    "of answering with its mappings (POSTCOPY_LISTEN)");
	if (b->nregions != a->nregions)
		return broken(f, -EPROTO, "mapped %u regions of %u",
		    b->nregions, a->nregions);
	for (unsigned i = 0; i < a->nregions; i++) {
		const struct vu_region *x = &a->regions[i], *y = &b->regions[i];

		if (y->gpa != x->gpa || y->size != x->size ||
		    y->mmap_offset != x->mmap_offset || y->uaddr % 4096)
			return broken(f, -EPROTO, "answered SET_MEM_TABLE with "
			    "a region %u other than the one sent", i);
		rg[i] = (struct vuf_range){ .start = y->uaddr,
		    .len = y->size, .off = x->mmap_offset };
	}
	return 0;
}

int
vuf_set_mem_table_shared(struct vu_front *f, struct vm *vm, int *uffd,
    struct vuf_range *rg, unsigned *n)
{
	struct vu_msg m, r;
	const char *why;
	int rc;

	*uffd = -1;
	if (!(f->pfeatures & (1ull << VU_PF_PAGEFAULT))) {
		hlog("%s: its backend does not offer PAGEFAULT, so its first "
		    "touches of guest RAM cannot be served from the snapshot; "
		    "restore without memory.share_snapshot", f->name);
		return -EOPNOTSUPP;
	}
	if ((rc = drain(f)) < 0 || (!f->advised && (rc = take_uffd(f,
	    uffd)) < 0) || (rc = drain(f)) < 0)
		goto fail;
	/* Answered with the table, not acknowledged: no batch, no ack. */
	mem_table(&m, vm);
	if ((rc = check_idle(f)) < 0)
		goto fail;
	if ((rc = vu_send(f->sock, &m)) < 0) {
		rc = broken(f, rc, "took no SET_MEM_TABLE: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = wait_reply(f)) < 0 || (rc = vu_recv(f->sock, &r)) < 0) {
		rc = bad_reply(f, &m, &r, rc);
		goto fail;
	}
	if ((rc = vu_validate_reply(&r, VU_SET_MEM_TABLE, &why)) < 0) {
		vu_msg_close_fds(&r);
		rc = broken(f, rc, "answered SET_MEM_TABLE with request %u "
		    "(%s), %u bytes: %s", r.hdr.request,
		    vu_request_name(r.hdr.request), r.hdr.size, why);
		goto fail;
	}
	if ((rc = mapped_ranges(f, &m, &r, rg)) < 0)
		goto fail;
	*n = m.p.mem.nregions;
	return 0;
fail:
	if (*uffd >= 0)
		close(*uffd);
	*uffd = -1;
	return rc;
}

static int
ring_fd(struct vu_front *f, uint32_t req, unsigned idx, int fd)
{
	struct vu_msg m;

	vu_msg_vring_fd(&m, req, idx, fd);
	return call(f, &m, NULL);
}

static uint64_t
uva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = vm_gpa(vm, gpa, len);

	return p ? (uintptr_t)p : 0;
}

int
vuf_ring_start(struct vu_front *f, struct vm *vm, unsigned idx,
    const struct vuf_ring *r)
{
	struct vu_msg m;
	int rc;

	vu_msg_state(&m, VU_SET_VRING_NUM, idx, r->num);
	if ((rc = call(f, &m, NULL)) < 0)
		return rc;
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = idx;
	m.p.addr.flags = 0;
	/* Ring addresses travel as the core's virtual addresses. */
	m.p.addr.desc_user_addr = uva(vm, r->desc, 16ull * r->num);
	m.p.addr.avail_user_addr = uva(vm, r->avail, 6 + 2ull * r->num);
	m.p.addr.used_user_addr = uva(vm, r->used, 6 + 8ull * r->num);
	m.p.addr.log_guest_addr = 0;
	if (!m.p.addr.desc_user_addr || !m.p.addr.avail_user_addr ||
	    !m.p.addr.used_user_addr) {
		hlog("%s: queue %u: the guest placed its ring outside RAM",
		    f->name, idx);
		return -EFAULT;
	}
	if ((rc = call(f, &m, NULL)) < 0)
		return rc;
	vu_msg_state(&m, VU_SET_VRING_BASE, idx, r->base);
	if ((rc = call(f, &m, NULL)) < 0)
		return rc;
	if ((rc = ring_fd(f, VU_SET_VRING_KICK, idx, r->kick)) < 0 ||
	    (rc = ring_fd(f, VU_SET_VRING_CALL, idx, r->call)) < 0 ||
	    (rc = ring_fd(f, VU_SET_VRING_ERR, idx, r->err)) < 0)
		return rc;
	if (f->features & (1ull << VU_F_PROTOCOL_FEATURES)) {
		vu_msg_state(&m, VU_SET_VRING_ENABLE, idx, 1);
		if ((rc = call(f, &m, NULL)) < 0)
			return rc;
	}
	return 0;
}

int
vuf_ring_stop(struct vu_front *f, unsigned idx, uint16_t *base)
{
	struct vu_msg m, r;
	int rc;

	vu_msg_state(&m, VU_GET_VRING_BASE, idx, 0);
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	if (r.p.state.index != idx || r.p.state.num > 0xffff)
		return broken(f, -EPROTO, "answered GET_VRING_BASE for queue "
		    "%u with queue %u base %u", idx, r.p.state.index,
		    r.p.state.num);
	*base = r.p.state.num;
	vu_msg_close_fds(&r);
	return 0;
}

int
vuf_set_call(struct vu_front *f, unsigned idx, int fd)
{
	return ring_fd(f, VU_SET_VRING_CALL, idx, fd);
}

int
vuf_reset(struct vu_front *f)
{
	struct vu_msg m;

	if (f->pfeatures & (1ull << VU_PF_RESET_DEVICE))
		vu_msg_init(&m, VU_RESET_DEVICE, 0);
	else
		vu_msg_init(&m, VU_RESET_OWNER, 0);
	return call(f, &m, NULL);
}

/*
 * The core keeps the inflight fd and hands it to every later backend of
 * the device, which must be able to map it; a file this backend shrinks
 * afterwards is met by that backend's SIGBUS guard.
 */
static const char *
inflight_unusable(int fd, uint64_t off, uint64_t size)
{
	struct stat st;
	int seals;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "that is not a file";
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		return "that is not open for reading and writing";
	seals = fcntl(fd, F_GET_SEALS);
	if (seals > 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return "that is sealed against writing";
	if (off > (uint64_t)st.st_size || size > (uint64_t)st.st_size - off)
		return "that is smaller than the region it holds";
	return NULL;
}

int
vuf_get_inflight(struct vu_front *f, unsigned nq, unsigned qsize,
    struct vuf_inflight *in)
{
	struct vu_msg m, r;
	const char *why;
	int rc;

	in->fd = -1;
	if (!(f->pfeatures & (1ull << VU_PF_INFLIGHT_SHMFD)))
		return -ENOTSUP;
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.num_queues = nq;
	m.p.inflight.queue_size = qsize;
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	if (r.nfds != 1 || r.p.inflight.mmap_size == 0 ||
	    r.p.inflight.num_queues != nq || r.p.inflight.queue_size != qsize) {
		vu_msg_close_fds(&r);
		return broken(f, -EPROTO, "answered GET_INFLIGHT_FD for %u "
		    "queues of %u with %u of %u, %d fds, %llu bytes", nq, qsize,
		    r.p.inflight.num_queues, r.p.inflight.queue_size, r.nfds,
		    (unsigned long long)r.p.inflight.mmap_size);
	}
	if ((why = inflight_unusable(r.fds[0], r.p.inflight.mmap_offset,
	    r.p.inflight.mmap_size)) != NULL) {
		vu_msg_close_fds(&r);
		return broken(f, -EPROTO, "answered GET_INFLIGHT_FD with an fd "
		    "%s (%llu bytes at %llu)", why,
		    (unsigned long long)r.p.inflight.mmap_size,
		    (unsigned long long)r.p.inflight.mmap_offset);
	}
	in->fd = r.fds[0];
	in->size = r.p.inflight.mmap_size;
	in->offset = r.p.inflight.mmap_offset;
	in->nqueues = nq;
	in->qsize = qsize;
	return 0;
}

int
vuf_set_inflight(struct vu_front *f, const struct vuf_inflight *in)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_SET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.mmap_size = in->size;
	m.p.inflight.mmap_offset = in->offset;
	m.p.inflight.num_queues = in->nqueues;
	m.p.inflight.queue_size = in->qsize;
	vu_msg_add_fd(&m, in->fd);
	return call(f, &m, NULL);
}

int
vuf_ping(struct vu_front *f)
{
	uint64_t feat;
	int rc;

	if ((rc = get_u64(f, VU_GET_FEATURES, &feat)) < 0)
		return rc;
	if (feat != f->features)
		return broken(f, -EPROTO, "changed its features from 0x%llx "
		    "to 0x%llx", (unsigned long long)f->features,
		    (unsigned long long)feat);
	return 0;
}

bool
vuf_peer_open(const struct vu_front *f)
{
	struct pollfd p = { .fd = f->sock, .events = POLLRDHUP };

	return f->sock >= 0 && poll(&p, 1, 0) == 0;
}

/* Opens the state channel: ours is fd; the backend may give its own. */
static int
state_channel(struct vu_front *f, uint32_t dir, int fd, int *theirs)
{
	struct vu_msg m, r;
	int rc;

	*theirs = -1;
	if (!(f->pfeatures & (1ull << VU_PF_DEVICE_STATE)))
		return -ENOTSUP;
	vu_msg_init(&m, VU_SET_DEVICE_STATE_FD, sizeof(struct vu_state_xfer));
	m.p.xfer.direction = dir;
	m.p.xfer.phase = VU_STATE_STOPPED;
	vu_msg_add_fd(&m, fd);
	if ((rc = call(f, &m, &r)) < 0)
		return rc;
	if (r.p.u64 & 0xff) {
		vu_msg_close_fds(&r);
		return -EIO;
	}
	if (r.nfds == 1)
		*theirs = r.fds[0];
	return 0;
}

/* Waits for fd to be ready for ev until end (ms, now_ms's clock). */
static int
state_wait(struct vu_front *f, int fd, short ev, long long end)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long left;
	int n;

	while ((left = end - now_ms()) > 0) {
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
	return broken(f, -ETIMEDOUT, "did not move its device state "
	    "within %d ms", f->timeout);
}

static int
state_check(struct vu_front *f)
{
	uint64_t v;
	int rc;

	if ((rc = get_u64(f, VU_CHECK_DEVICE_STATE, &v)) < 0)
		return rc;
	return v != 0 ? -EIO : 0;
}

int
vuf_state_save(struct vu_front *f, void *buf, size_t cap, size_t *len)
{
	long long end = now_ms() + f->timeout;
	int p[2], theirs, fd, rc;
	ssize_t n = 0;

	*len = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[0], F_SETFL, O_NONBLOCK);	/* ours: waits are poll's */
	rc = state_channel(f, VU_STATE_SAVE, p[1], &theirs);
	close(p[1]);
	fd = theirs >= 0 ? theirs : p[0];
	if (theirs >= 0)
		close(p[0]);
	while (rc == 0) {
		if ((rc = state_wait(f, fd, POLLIN, end)) < 0)
			break;
		n = read(fd, (char *)buf + *len, cap - *len);
		if (n == 0)
			break;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			rc = -errno;
		else if ((*len += n) == cap)
			rc = broken(f, -EFBIG, "sent a device state above %zu "
			    "bytes", cap);
	}
	close(fd);
	return rc < 0 ? rc : state_check(f);
}

int
vuf_state_load(struct vu_front *f, const void *buf, size_t len)
{
	long long end = now_ms() + f->timeout;
	int p[2], theirs, fd, rc;
	size_t done = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	rc = state_channel(f, VU_STATE_LOAD, p[0], &theirs);
	close(p[0]);
	fd = theirs >= 0 ? theirs : p[1];
	if (theirs >= 0)
		close(p[1]);
	while (rc == 0 && done < len) {
		if ((rc = state_wait(f, fd, POLLOUT, end)) < 0)
			break;
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			rc = -errno;
		else
			done += n;
	}
	/* Its end of the channel tells the backend the state is whole. */
	close(fd);
	return rc < 0 ? rc : state_check(f);
}
