/*
 * vhost-user message codec: framing, fd passing and validation.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc/vhost_user.h"

#define STATE_SIZE	((uint32_t)sizeof(struct vhost_vring_state))
#define ADDR_SIZE	((uint32_t)sizeof(struct vhost_vring_addr))
#define INFLIGHT_SIZE	((uint32_t)sizeof(struct vu_inflight))
#define MEM_HDR		((uint32_t)offsetof(struct vu_memtable, regions))
#define REGION_SIZE	((uint32_t)sizeof(struct vu_region))

static const char *const names[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = "GET_FEATURES",
	[VU_SET_FEATURES] = "SET_FEATURES",
	[VU_SET_OWNER] = "SET_OWNER",
	[VU_RESET_OWNER] = "RESET_OWNER",
	[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VU_SET_LOG_FD] = "SET_LOG_FD",
	[VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VU_GET_CONFIG] = "GET_CONFIG",
	[VU_SET_CONFIG] = "SET_CONFIG",
	[VU_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VU_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VU_RESET_DEVICE] = "RESET_DEVICE",
	[VU_SET_DEVICE_STATE_FD] = "SET_DEVICE_STATE_FD",
	[VU_CHECK_DEVICE_STATE] = "CHECK_DEVICE_STATE",
};

const char *
vu_request_name(uint32_t req)
{
	if (req < VU_REQUEST_MAX && names[req] != NULL)
		return names[req];
	return "unknown";
}

void
vu_msg_init(struct vu_msg *m, uint32_t req, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VU_VERSION;
	m->hdr.size = size;
	for (int i = 0; i < VU_MAX_FDS; i++)
		m->fds[i] = -1;
}

void
vu_msg_u64(struct vu_msg *m, uint32_t req, uint64_t v)
{
	vu_msg_init(m, req, sizeof(uint64_t));
	m->p.u64 = v;
}

void
vu_msg_state(struct vu_msg *m, uint32_t req, unsigned idx, unsigned num)
{
	vu_msg_init(m, req, STATE_SIZE);
	m->p.state.index = idx;
	m->p.state.num = num;
}

void
vu_msg_vring_fd(struct vu_msg *m, uint32_t req, unsigned idx, int fd)
{
	vu_msg_u64(m, req, idx & VU_VRING_IDX_MASK);
	if (fd < 0)
		m->p.u64 |= VU_VRING_NOFD;
	else
		vu_msg_add_fd(m, fd);
}

int
vu_msg_add_fd(struct vu_msg *m, int fd)
{
	if (m->nfds >= VU_MAX_FDS)
		return -E2BIG;
	m->fds[m->nfds++] = fd;
	return 0;
}

void
vu_msg_close_fds(struct vu_msg *m)
{
	for (int i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

int
vu_send(int sock, const struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov[2];
	struct msghdr mh;
	size_t total, done = 0;
	ssize_t n;

	if (m->hdr.size > VU_MAX_PAYLOAD || m->nfds < 0 || m->nfds > VU_MAX_FDS)
		return -EINVAL;
	total = sizeof(m->hdr) + m->hdr.size;
	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = (void *)&m->hdr;
	iov[0].iov_len = sizeof(m->hdr);
	iov[1].iov_base = (void *)&m->p;
	iov[1].iov_len = m->hdr.size;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (m->nfds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(m->nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(m->nfds * sizeof(int));
		memcpy(CMSG_DATA(c), m->fds, m->nfds * sizeof(int));
	}
	while (done < total) {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
		/* The fds went with the first byte; send the rest plainly. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov[0].iov_len) {
			n -= mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
			mh.msg_iov[0].iov_len -= n;
		}
	}
	return 0;
}

static int
read_full(int sock, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = recv(sock, (char *)buf + done, len - done, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;	/* stream ended inside a message */
		done += n;
	}
	return 0;
}

int
vu_recv(int sock, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;
	int rc;

	vu_msg_init(m, 0, 0);
	iov.iov_base = &m->hdr;
	iov.iov_len = sizeof(m->hdr);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	rc = -EBADMSG;
	if (mh.msg_flags & MSG_CTRUNC)
		goto bad;		/* more fds than VU_MAX_FDS */
	if ((size_t)n < sizeof(m->hdr) &&
	    read_full(sock, (char *)&m->hdr + n, sizeof(m->hdr) - n) < 0)
		goto bad;
	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
		goto bad;
	if (m->hdr.size > VU_MAX_PAYLOAD)
		goto bad;
	rc = read_full(sock, &m->p, m->hdr.size);
	if (rc < 0)
		goto bad;
	return 0;
bad:
	vu_msg_close_fds(m);
	return rc;
}

bool
vu_has_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_GET_VRING_BASE:
	case VU_GET_CONFIG:
	case VU_GET_INFLIGHT_FD:
	case VU_SET_DEVICE_STATE_FD:
	case VU_CHECK_DEVICE_STATE:
	case VU_POSTCOPY_ADVISE:
		return true;
	}
	return false;
}

int
vu_check_memtable(const struct vu_memtable *t, const char **why)
{
	uint32_t n = t->nregions;

	if (n == 0 || n > VU_MAX_REGIONS) {
		*why = "region count is 0 or above 8";
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct vu_region *a = &t->regions[i];

		if (a->size == 0 || a->gpa + a->size < a->gpa ||
		    a->uaddr + a->size < a->uaddr ||
		    a->mmap_offset + a->size < a->mmap_offset) {
			*why = "region is empty or wraps around";
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			const struct vu_region *b = &t->regions[j];

			if ((a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size) ||
			    (a->uaddr < b->uaddr + b->size &&
			    b->uaddr < a->uaddr + a->size)) {
				*why = "regions overlap";
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int
check_regions(const struct vu_msg *m, const char **why)
{
	uint32_t n = m->p.mem.nregions;

	if (m->hdr.size < MEM_HDR) {
		*why = "payload shorter than the region count";
		return -EBADMSG;
	}
	if (n == 0 || n > VU_MAX_REGIONS) {
		*why = "region count is 0 or above 8";
		return -EINVAL;
	}
	if (m->hdr.size != MEM_HDR + n * REGION_SIZE) {
		*why = "payload size does not match the region count";
		return -EBADMSG;
	}
	if ((uint32_t)m->nfds != n) {
		*why = "fd count does not match the region count";
		return -EBADMSG;
	}
	return vu_check_memtable(&m->p.mem, why);
}

static int
check_config(const struct vu_msg *m, const char **why)
{
	const struct vu_config *c = &m->p.config;

	if (m->hdr.size < VU_CONFIG_HDR) {
		*why = "payload shorter than the config header";
		return -EBADMSG;
	}
	if (c->size > VU_MAX_CONFIG || c->offset > VU_MAX_CONFIG ||
	    c->offset + c->size > VU_MAX_CONFIG) {
		*why = "config offset or size beyond 256 bytes";
		return -EINVAL;
	}
	if (m->hdr.size != VU_CONFIG_HDR + c->size) {
		*why = "payload size does not match the config size";
		return -EBADMSG;
	}
	return 0;
}

static int
want(const struct vu_msg *m, uint32_t size, int nfds, const char **why)
{
	if (m->hdr.size != size) {
		*why = "wrong payload size for this request";
		return -EBADMSG;
	}
	if (m->nfds != nfds) {
		*why = nfds ? "missing fd" : "unexpected fds";
		return -EBADMSG;
	}
	return 0;
}

static int
check_index(unsigned idx, unsigned nqueues, const char **why)
{
	if (idx >= nqueues) {
		*why = "vring index out of range";
		return -EINVAL;
	}
	return 0;
}

int
vu_validate(const struct vu_msg *m, unsigned nqueues, const char **why)
{
	const char *dummy;
	uint64_t v;
	int rc;

	if (why == NULL)
		why = &dummy;
	*why = "";
	if (m->hdr.flags & VU_FLAG_REPLY) {
		*why = "reply flag set on a request";
		return -EBADMSG;
	}
	switch (m->hdr.request) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_QUEUE_NUM:
	case VU_RESET_DEVICE:
	case VU_POSTCOPY_ADVISE:
	case VU_POSTCOPY_LISTEN:
		return want(m, 0, 0, why);
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		return want(m, sizeof(uint64_t), 0, why);
	case VU_SET_MEM_TABLE:
		return check_regions(m, why);
	case VU_SET_VRING_NUM:
		if ((rc = want(m, STATE_SIZE, 0, why)) < 0 ||
		    (rc = check_index(m->p.state.index, nqueues, why)) < 0)
			return rc;
		v = m->p.state.num;
		if (v == 0 || v > VU_MAX_QUEUE_SIZE || (v & (v - 1))) {
			*why = "queue size is not a power of 2 in 1..32768";
			return -EINVAL;
		}
		return 0;
	case VU_SET_VRING_BASE:
		if ((rc = want(m, STATE_SIZE, 0, why)) < 0 ||
		    (rc = check_index(m->p.state.index, nqueues, why)) < 0)
			return rc;
		if (m->p.state.num > 0xffff) {
			*why = "split ring base above 65535";
			return -EINVAL;
		}
		return 0;
	case VU_SET_VRING_ENABLE:
		if ((rc = want(m, STATE_SIZE, 0, why)) < 0 ||
		    (rc = check_index(m->p.state.index, nqueues, why)) < 0)
			return rc;
		if (m->p.state.num > 1) {
			*why = "enable value is not 0 or 1";
			return -EINVAL;
		}
		return 0;
	case VU_GET_VRING_BASE:
		if ((rc = want(m, STATE_SIZE, 0, why)) < 0)
			return rc;
		return check_index(m->p.state.index, nqueues, why);
	case VU_SET_VRING_ADDR:
		if ((rc = want(m, ADDR_SIZE, 0, why)) < 0)
			return rc;
		if (m->p.addr.flags & ~(1u << VHOST_VRING_F_LOG)) {
			*why = "unknown vring address flags";
			return -EINVAL;
		}
		return check_index(m->p.addr.index, nqueues, why);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		if (m->hdr.size != sizeof(uint64_t)) {
			*why = "wrong payload size for this request";
			return -EBADMSG;
		}
		v = m->p.u64;
		if (v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD)) {
			*why = "reserved bits set in vring fd payload";
			return -EINVAL;
		}
		if ((rc = want(m, sizeof(uint64_t),
		    (v & VU_VRING_NOFD) ? 0 : 1, why)) < 0)
			return rc;
		return check_index(v & VU_VRING_IDX_MASK, nqueues, why);
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		if (m->nfds != 0) {
			*why = "unexpected fds";
			return -EBADMSG;
		}
		return check_config(m, why);
	case VU_GET_INFLIGHT_FD:
		if ((rc = want(m, INFLIGHT_SIZE, 0, why)) < 0)
			return rc;
		goto inflight;
	case VU_SET_INFLIGHT_FD:
		if ((rc = want(m, INFLIGHT_SIZE, 1, why)) < 0)
			return rc;
	inflight:
		if (m->p.inflight.num_queues == 0 ||
		    m->p.inflight.num_queues > nqueues ||
		    m->p.inflight.queue_size == 0 ||
		    m->p.inflight.queue_size > VU_MAX_QUEUE_SIZE) {
			*why = "inflight queue count or size out of range";
			return -EINVAL;
		}
		return 0;
	case VU_SET_DEVICE_STATE_FD:
		if ((rc = want(m, sizeof(struct vu_state_xfer), 1, why)) < 0)
			return rc;
		if (m->p.xfer.direction > VU_STATE_LOAD ||
		    m->p.xfer.phase != VU_STATE_STOPPED) {
			*why = "unknown device state direction or phase";
			return -EINVAL;
		}
		return 0;
	case VU_CHECK_DEVICE_STATE:
		return want(m, 0, 0, why);
	}
	*why = "unknown or unsupported request";
	return -EBADMSG;
}

int
vu_validate_reply(const struct vu_msg *m, uint32_t req, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = "";
	if (!(m->hdr.flags & VU_FLAG_REPLY) || m->hdr.request != req) {
		*why = "not a reply to the request sent";
		return -EBADMSG;
	}
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
		return want(m, sizeof(uint64_t), 0, why);
	case VU_GET_VRING_BASE:
		return want(m, STATE_SIZE, 0, why);
	case VU_GET_CONFIG:
		if (m->hdr.size == 0) {
			*why = "backend refused GET_CONFIG";
			return -EIO;
		}
		if (m->nfds != 0) {
			*why = "unexpected fds";
			return -EBADMSG;
		}
		return check_config(m, why);
	case VU_GET_INFLIGHT_FD:
		return want(m, INFLIGHT_SIZE, 1, why);
	case VU_POSTCOPY_ADVISE:
		return want(m, 0, 1, why);
	case VU_SET_MEM_TABLE:
		/* A listening backend answers with the table it mapped. */
		if (m->hdr.size == sizeof(uint64_t))
			break;
		if (m->hdr.size < MEM_HDR || m->p.mem.nregions > VU_MAX_REGIONS ||
		    m->hdr.size != MEM_HDR + m->p.mem.nregions * REGION_SIZE ||
		    m->nfds != 0) {
			*why = "the table it mapped is malformed";
			return -EBADMSG;
		}
		return vu_check_memtable(&m->p.mem, why);
	case VU_SET_DEVICE_STATE_FD:
		/* A channel of the backend's own comes with bit 8 clear. */
		if (m->hdr.size == sizeof(uint64_t) &&
		    !(m->p.u64 & VU_STATE_NOFD) && (m->p.u64 & 0xff) == 0)
			return want(m, sizeof(uint64_t), 1, why);
		return want(m, sizeof(uint64_t), 0, why);
	}
	/* REPLY_ACK: u64, zero for success. */
	return want(m, sizeof(uint64_t), 0, why);
}

int
vu_call(int sock, const struct vu_msg *m, struct vu_msg *reply)
{
	const char *why;
	int rc;

	rc = vu_send(sock, m);
	if (rc < 0)
		return rc;
	if (!vu_has_reply(m->hdr.request) && !(m->hdr.flags & VU_FLAG_NEED_REPLY))
		return 0;
	rc = vu_recv(sock, reply);
	if (rc < 0)
		return rc;
	rc = vu_validate_reply(reply, m->hdr.request, &why);
	if (rc < 0) {
		vu_msg_close_fds(reply);
		return rc;
	}
	if (!vu_has_reply(m->hdr.request) && reply->p.u64 != 0)
		return -EIO;
	return 0;
}
