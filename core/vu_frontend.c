#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/layout.h"
#include "core/log.h"
#include "core/vm.h"
#include "core/vu_frontend.h"
#include "ipc/vhost_user.h"

/* Protocol features the core uses when the backend offers them. */
#define VUF_PFEATURES	(1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK | \
	1ull << VU_PF_CONFIG | 1ull << VU_PF_RESET_DEVICE | \
	1ull << VU_PF_INFLIGHT_SHMFD)

static int
call(struct vu_front *f, struct vu_msg *m, struct vu_msg *reply)
{
	struct vu_msg r;
	int rc;

	if (f->sock < 0)
		return -ENOTCONN;
	/* With REPLY_ACK, every request that changes state is acknowledged,
	 * so a failure is seen where it happens. */
	if (!vu_has_reply(m->hdr.request) &&
	    (f->pfeatures & (1ull << VU_PF_REPLY_ACK)))
		m->hdr.flags |= VU_FLAG_NEED_REPLY;
	rc = vu_call(f->sock, m, reply ? reply : &r);
	if (rc < 0)
		hlog("%s: vhost-user %s failed: %s", f->name,
		    vu_request_name(m->hdr.request),
		    rc == -EAGAIN ? "the backend did not answer in time" :
		    strerror(-rc));
	if (reply == NULL && rc == 0 && (vu_has_reply(m->hdr.request) ||
	    (m->hdr.flags & VU_FLAG_NEED_REPLY)))
		vu_msg_close_fds(&r);
	return rc;
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
	sock_timeout(sock, VUF_START_MS);
	rc = get_u64(f, VU_GET_FEATURES, &f->features);
	sock_timeout(sock, VUF_TIMEOUT_MS);
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
		if (nq == 0 || nq > VU_MAX_QUEUES) {
			hlog("%s: the backend claims %llu queues", name,
			    (unsigned long long)nq);
			return -EPROTO;
		}
		f->nqueues = nq;
	}
	return 0;
}

void
vuf_close(struct vu_front *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
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
	    r.p.config.offset != off) {
		hlog("%s: GET_CONFIG reply does not match the request", f->name);
		vu_msg_close_fds(&r);
		return -EPROTO;
	}
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

int
vuf_set_mem_table(struct vu_front *f, struct vm *vm)
{
	struct vu_msg m;
	struct vu_memtable *t;
	int n = 0;

	vu_msg_init(&m, VU_SET_MEM_TABLE, 0);
	t = &m.p.mem;
	t->regions[n] = (struct vu_region){ 0, vm->lowmem,
	    (uintptr_t)vm->mem, 0 };
	vu_msg_add_fd(&m, vm->mem_fd);
	n++;
	if (vm->highmem > 0) {
		t->regions[n] = (struct vu_region){ HIGHMEM_BASE, vm->highmem,
		    (uintptr_t)vm->mem + vm->lowmem, vm->lowmem };
		vu_msg_add_fd(&m, vm->mem_fd);
		n++;
	}
	t->nregions = n;
	m.hdr.size = 8 + n * sizeof(struct vu_region);
	return call(f, &m, NULL);
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
	if (r.p.state.index != idx || r.p.state.num > 0xffff) {
		hlog("%s: GET_VRING_BASE answered queue %u base %u for queue %u",
		    f->name, r.p.state.index, r.p.state.num, idx);
		vu_msg_close_fds(&r);
		return -EPROTO;
	}
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

int
vuf_get_inflight(struct vu_front *f, unsigned nq, unsigned qsize,
    struct vuf_inflight *in)
{
	struct vu_msg m, r;
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
		hlog("%s: GET_INFLIGHT_FD reply does not match the request",
		    f->name);
		vu_msg_close_fds(&r);
		return -EPROTO;
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
	return feat == f->features ? 0 : -EPROTO;
}
