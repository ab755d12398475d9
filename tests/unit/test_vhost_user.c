/* vhost-user codec: round trips and malformed messages. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/vhost_user.h"

#define NQ	2

static int sv[2];

static int
setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

static int
teardown(void **state)
{
	(void)state;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* Sends m, receives it on the other end, checks it is identical and valid. */
static void
roundtrip(const struct vu_msg *m, bool reply)
{
	struct vu_msg r;
	const char *why = NULL;

	assert_int_equal(vu_send(sv[0], m), 0);
	assert_int_equal(vu_recv(sv[1], &r), 0);
	assert_memory_equal(&r.hdr, &m->hdr, sizeof(m->hdr));
	if (m->hdr.size)
		assert_memory_equal(&r.p, &m->p, m->hdr.size);
	assert_int_equal(r.nfds, m->nfds);
	for (int i = 0; i < m->nfds; i++) {
		assert_int_not_equal(r.fds[i], m->fds[i]);
		assert_true(same_file(r.fds[i], m->fds[i]));
	}
	if (reply)
		assert_int_equal(vu_validate_reply(&r, m->hdr.request, &why), 0);
	else
		assert_int_equal(vu_validate(&r, NQ, &why), 0);
	vu_msg_close_fds(&r);
}

/* Sends m and expects vu_validate to reject it with rc. */
static void
rejected(const struct vu_msg *m, int rc)
{
	struct vu_msg r;
	const char *why = NULL;

	assert_int_equal(vu_send(sv[0], m), 0);
	assert_int_equal(vu_recv(sv[1], &r), 0);
	assert_int_equal(vu_validate(&r, NQ, &why), rc);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	vu_msg_close_fds(&r);
}

static void
as_reply(struct vu_msg *m)
{
	m->hdr.flags |= VU_FLAG_REPLY;
}

static void
test_simple(void **state)
{
	struct vu_msg m;

	(void)state;
	vu_msg_init(&m, VU_GET_FEATURES, 0);
	roundtrip(&m, false);
	vu_msg_u64(&m, VU_GET_FEATURES, 0x140000000ull);
	as_reply(&m);
	roundtrip(&m, true);
	vu_msg_u64(&m, VU_SET_FEATURES, 1ull << 32 | 1ull << 30);
	roundtrip(&m, false);
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	roundtrip(&m, false);
	vu_msg_u64(&m, VU_GET_PROTOCOL_FEATURES, 1u << VU_PF_REPLY_ACK);
	as_reply(&m);
	roundtrip(&m, true);
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1u << VU_PF_MQ);
	roundtrip(&m, false);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	roundtrip(&m, false);
	vu_msg_init(&m, VU_RESET_OWNER, 0);
	roundtrip(&m, false);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	roundtrip(&m, false);
	vu_msg_u64(&m, VU_GET_QUEUE_NUM, 2);
	as_reply(&m);
	roundtrip(&m, true);
	vu_msg_init(&m, VU_RESET_DEVICE, 0);
	roundtrip(&m, false);
}

static void
test_vring(void **state)
{
	struct vu_msg m;
	int efd;

	(void)state;
	vu_msg_state(&m, VU_SET_VRING_NUM, 1, 256);
	roundtrip(&m, false);
	vu_msg_state(&m, VU_SET_VRING_BASE, 0, 65535);
	roundtrip(&m, false);
	vu_msg_state(&m, VU_GET_VRING_BASE, 1, 0);
	roundtrip(&m, false);
	vu_msg_state(&m, VU_GET_VRING_BASE, 1, 77);
	as_reply(&m);
	roundtrip(&m, true);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, 0, 1);
	roundtrip(&m, false);
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = 1;
	m.p.addr.desc_user_addr = 0x7f0000001000ull;
	m.p.addr.avail_user_addr = 0x7f0000002000ull;
	m.p.addr.used_user_addr = 0x7f0000003000ull;
	roundtrip(&m, false);

	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 1, efd);
	assert_int_equal(m.nfds, 1);
	roundtrip(&m, false);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 0, efd);
	roundtrip(&m, false);
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, 1, efd);
	roundtrip(&m, false);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 1, -1);
	assert_int_equal(m.nfds, 0);
	assert_true(m.p.u64 & VU_VRING_NOFD);
	roundtrip(&m, false);
	close(efd);
}

static void
test_mem_config_inflight(void **state)
{
	struct vu_msg m;
	int fd[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		fd[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(fd[i] >= 0);
	}
	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + 3 * sizeof(struct vu_region));
	m.p.mem.nregions = 3;
	for (int i = 0; i < 3; i++) {
		m.p.mem.regions[i].gpa = (uint64_t)i << 32;
		m.p.mem.regions[i].size = 1u << 20;
		m.p.mem.regions[i].uaddr = 0x7f0000000000ull + ((uint64_t)i << 32);
		m.p.mem.regions[i].mmap_offset = 4096 * i;
		assert_int_equal(vu_msg_add_fd(&m, fd[i]), 0);
	}
	roundtrip(&m, false);

	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 8);
	m.p.config.offset = 0;
	m.p.config.size = 8;
	roundtrip(&m, false);
	memcpy(m.p.config.data, "abcdefgh", 8);
	as_reply(&m);
	roundtrip(&m, true);
	vu_msg_init(&m, VU_SET_CONFIG, VU_CONFIG_HDR + 4);
	m.p.config.offset = 252;
	m.p.config.size = 4;
	roundtrip(&m, false);

	vu_msg_init(&m, VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.num_queues = 2;
	m.p.inflight.queue_size = 256;
	roundtrip(&m, false);
	m.p.inflight.mmap_size = 8192;
	vu_msg_add_fd(&m, fd[0]);
	as_reply(&m);
	roundtrip(&m, true);
	m.hdr.flags = VU_VERSION;
	m.hdr.request = VU_SET_INFLIGHT_FD;
	roundtrip(&m, false);

	/* REPLY_ACK */
	vu_msg_state(&m, VU_SET_VRING_NUM, 0, 128);
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	roundtrip(&m, false);
	vu_msg_u64(&m, VU_SET_VRING_NUM, 0);
	as_reply(&m);
	roundtrip(&m, true);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
}

static void
test_short_header(void **state)
{
	struct vu_msg r;
	uint32_t w[2] = { VU_GET_FEATURES, VU_VERSION };

	(void)state;
	assert_int_equal(write(sv[0], w, 5), 5);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(vu_recv(sv[1], &r), -EBADMSG);
	/* And a clean end of stream is reported as such. */
	assert_int_equal(vu_recv(sv[1], &r), -ECONNRESET);
}

static void
test_short_payload(void **state)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 8 };
	struct vu_msg r;

	(void)state;
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sv[0], "abc", 3), 3);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(vu_recv(sv[1], &r), -EBADMSG);
}

static void
test_bad_header(void **state)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, VU_MAX_PAYLOAD + 1 };
	struct vu_msg r;

	(void)state;
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vu_recv(sv[1], &r), -EBADMSG);
	h.size = 0;
	h.flags = 2;		/* version 2 */
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vu_recv(sv[1], &r), -EBADMSG);
}

static void
test_too_many_fds(void **state)
{
	int fds[VU_MAX_FDS + 1];
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct vu_hdr h = { VU_SET_OWNER, VU_VERSION, 0 };
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;
	struct vu_msg r;
	int before;

	(void)state;
	for (int i = 0; i <= VU_MAX_FDS; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(h));
	for (int i = 0; i <= VU_MAX_FDS; i++)
		close(fds[i]);
	before = dup(0);
	close(before);
	assert_int_equal(vu_recv(sv[1], &r), -EBADMSG);
	/* No fd leaked: the next free fd is the same as before. */
	fds[0] = dup(0);
	assert_int_equal(fds[0], before);
	close(fds[0]);
}

static void
test_sizes(void **state)
{
	struct vu_msg m;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	vu_msg_init(&m, VU_GET_FEATURES, 8);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_FEATURES, 4);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_OWNER, 8);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_VRING_NUM, 4);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_VRING_ADDR, 32);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_VRING_KICK, 4);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, 20);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 4);
	m.p.config.size = 8;
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_CONFIG, 8);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_CONFIG, VU_CONFIG_HDR + 8);
	m.p.config.size = 8;
	m.p.config.offset = 250;
	rejected(&m, -EINVAL);
	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + 32);
	m.p.mem.nregions = 2;
	vu_msg_add_fd(&m, efd);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	/* A reply flag on a request. */
	vu_msg_init(&m, VU_SET_OWNER, 0);
	as_reply(&m);
	rejected(&m, -EBADMSG);
	close(efd);
}

static void
test_fds(void **state)
{
	struct vu_msg m;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	/* fds where none expected */
	vu_msg_init(&m, VU_SET_OWNER, 0);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	vu_msg_u64(&m, VU_SET_FEATURES, 0);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 0, -1);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	/* fd missing */
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 0, efd);
	m.nfds = 0;
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.num_queues = 1;
	m.p.inflight.queue_size = 64;
	rejected(&m, -EBADMSG);
	/* two fds for one vring */
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 0, efd);
	vu_msg_add_fd(&m, efd);
	rejected(&m, -EBADMSG);
	/* reserved bits in the vring fd word */
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 0, efd);
	m.p.u64 |= 1ull << 40;
	rejected(&m, -EINVAL);
	close(efd);
}

static void
mem_msg(struct vu_msg *m, unsigned n, int fd)
{
	vu_msg_init(m, VU_SET_MEM_TABLE, 8 + n * sizeof(struct vu_region));
	m->p.mem.nregions = n;
	for (unsigned i = 0; i < n && i < VU_MAX_REGIONS; i++) {
		m->p.mem.regions[i].gpa = (uint64_t)i << 30;
		m->p.mem.regions[i].size = 1u << 20;
		m->p.mem.regions[i].uaddr = (uint64_t)(i + 1) << 36;
		vu_msg_add_fd(m, fd);
	}
}

static void
test_regions(void **state)
{
	struct vu_msg m;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	mem_msg(&m, 8, efd);
	roundtrip(&m, false);
	mem_msg(&m, 0, efd);
	rejected(&m, -EINVAL);
	/* nine regions: header claims 9 but only 8 fit; size says 9 */
	mem_msg(&m, 8, efd);
	m.p.mem.nregions = 9;
	rejected(&m, -EINVAL);
	mem_msg(&m, 2, efd);
	m.p.mem.regions[1].gpa = m.p.mem.regions[0].gpa + 4096;
	rejected(&m, -EINVAL);
	mem_msg(&m, 2, efd);
	m.p.mem.regions[1].uaddr = m.p.mem.regions[0].uaddr;
	rejected(&m, -EINVAL);
	mem_msg(&m, 1, efd);
	m.p.mem.regions[0].size = 0;
	rejected(&m, -EINVAL);
	mem_msg(&m, 1, efd);
	m.p.mem.regions[0].gpa = ~0ull - 4095;
	rejected(&m, -EINVAL);
	mem_msg(&m, 1, efd);
	m.p.mem.regions[0].mmap_offset = ~0ull;
	rejected(&m, -EINVAL);
	close(efd);
}

static void
test_values(void **state)
{
	struct vu_msg m;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	vu_msg_init(&m, 99, 0);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_SET_LOG_BASE, 8);
	rejected(&m, -EBADMSG);
	vu_msg_state(&m, VU_SET_VRING_NUM, NQ, 256);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_BASE, 7, 0);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_GET_VRING_BASE, 0xffffffff, 0);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, NQ, 1);
	rejected(&m, -EINVAL);
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = NQ;
	rejected(&m, -EINVAL);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, NQ, efd);
	rejected(&m, -EINVAL);
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, 255, -1);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_NUM, 0, 100);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_NUM, 0, 0);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_NUM, 0, 65536);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_BASE, 0, 65536);
	rejected(&m, -EINVAL);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, 0, 2);
	rejected(&m, -EINVAL);
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.num_queues = NQ + 1;
	m.p.inflight.queue_size = 64;
	rejected(&m, -EINVAL);
	close(efd);
}

static void
test_reply_checks(void **state)
{
	struct vu_msg m;
	const char *why;

	(void)state;
	vu_msg_u64(&m, VU_GET_FEATURES, 1);
	assert_int_equal(vu_validate_reply(&m, VU_GET_FEATURES, &why), -EBADMSG);
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_GET_FEATURES, &why), 0);
	assert_int_equal(vu_validate_reply(&m, VU_GET_QUEUE_NUM, &why), -EBADMSG);
	m.hdr.size = 4;
	assert_int_equal(vu_validate_reply(&m, VU_GET_FEATURES, &why), -EBADMSG);
	vu_msg_init(&m, VU_GET_CONFIG, 0);
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_GET_CONFIG, &why), -EIO);
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight));
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_GET_INFLIGHT_FD, &why), -EBADMSG);
	assert_string_equal(vu_request_name(VU_SET_MEM_TABLE), "SET_MEM_TABLE");
	assert_string_equal(vu_request_name(1000), "unknown");
}

/* DEVICE_STATE: a channel fd, a known direction and phase; the reply may
 * carry the backend's own channel only with the no-fd bit clear. */
static void
test_device_state(void **state)
{
	struct vu_msg m;
	const char *why;
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	vu_msg_init(&m, VU_SET_DEVICE_STATE_FD, sizeof(struct vu_state_xfer));
	m.p.xfer.direction = VU_STATE_LOAD;
	vu_msg_add_fd(&m, fd);
	roundtrip(&m, false);
	m.p.xfer.direction = 2;
	rejected(&m, -EINVAL);
	m.p.xfer.direction = VU_STATE_SAVE;
	m.p.xfer.phase = 1;
	rejected(&m, -EINVAL);
	vu_msg_init(&m, VU_SET_DEVICE_STATE_FD, sizeof(struct vu_state_xfer));
	rejected(&m, -EBADMSG);			/* no fd */
	vu_msg_init(&m, VU_CHECK_DEVICE_STATE, 0);
	roundtrip(&m, false);
	vu_msg_u64(&m, VU_CHECK_DEVICE_STATE, 0);
	rejected(&m, -EBADMSG);
	vu_msg_u64(&m, VU_SET_DEVICE_STATE_FD, VU_STATE_NOFD);
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_SET_DEVICE_STATE_FD, &why), 0);
	m.p.u64 = 0;				/* its own channel: an fd */
	assert_int_equal(vu_validate_reply(&m, VU_SET_DEVICE_STATE_FD, &why),
	    -EBADMSG);
	vu_msg_add_fd(&m, fd);
	assert_int_equal(vu_validate_reply(&m, VU_SET_DEVICE_STATE_FD, &why), 0);
	assert_string_equal(vu_request_name(VU_CHECK_DEVICE_STATE),
	    "CHECK_DEVICE_STATE");
	close(fd);
}

/* PAGEFAULT: ADVISE and LISTEN carry nothing; ADVISE's answer is one fd;
 * a listening backend answers SET_MEM_TABLE with a well-formed table of
 * no fds, or an acknowledgement. */
static void
test_pagefault(void **state)
{
	struct vu_msg m;
	const char *why;
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	vu_msg_init(&m, VU_POSTCOPY_ADVISE, 0);
	roundtrip(&m, false);
	assert_true(vu_has_reply(VU_POSTCOPY_ADVISE));
	vu_msg_init(&m, VU_POSTCOPY_LISTEN, 0);
	roundtrip(&m, false);
	assert_false(vu_has_reply(VU_POSTCOPY_LISTEN));
	vu_msg_u64(&m, VU_POSTCOPY_LISTEN, 0);
	rejected(&m, -EBADMSG);
	vu_msg_init(&m, VU_POSTCOPY_ADVISE, 0);
	vu_msg_add_fd(&m, fd);
	rejected(&m, -EBADMSG);			/* the request has none */
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_POSTCOPY_ADVISE, &why), 0);
	vu_msg_init(&m, VU_POSTCOPY_ADVISE, 0);
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_POSTCOPY_ADVISE, &why),
	    -EBADMSG);				/* no userfaultfd */

	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + 2 * sizeof(struct vu_region));
	m.p.mem.nregions = 2;
	m.p.mem.regions[0] = (struct vu_region){ 0, 1 << 20, 0x7f0000000000,
	    0 };
	m.p.mem.regions[1] = (struct vu_region){ 1ull << 32, 1 << 20,
	    0x7f0000200000, 1 << 20 };
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_SET_MEM_TABLE, &why), 0);
	m.p.mem.regions[1].gpa = 1 << 19;	/* overlaps region 0 */
	assert_int_equal(vu_validate_reply(&m, VU_SET_MEM_TABLE, &why),
	    -EINVAL);
	m.p.mem.regions[1].gpa = 1ull << 32;
	m.hdr.size -= 8;			/* cut */
	assert_int_equal(vu_validate_reply(&m, VU_SET_MEM_TABLE, &why),
	    -EBADMSG);
	m.hdr.size += 8;
	vu_msg_add_fd(&m, fd);			/* fds are the request's */
	assert_int_equal(vu_validate_reply(&m, VU_SET_MEM_TABLE, &why),
	    -EBADMSG);
	vu_msg_u64(&m, VU_SET_MEM_TABLE, 0);	/* an acknowledgement */
	as_reply(&m);
	assert_int_equal(vu_validate_reply(&m, VU_SET_MEM_TABLE, &why), 0);
	assert_string_equal(vu_request_name(VU_POSTCOPY_ADVISE),
	    "POSTCOPY_ADVISE");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_config_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test(test_reply_checks),
		cmocka_unit_test_setup_teardown(test_device_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagefault, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
