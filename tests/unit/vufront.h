/*
 * A fake vhost-user frontend for the backend tests (test_blk, test_net,
 * test_rnd): find the backend binary, spawn it on a socketpair, share a
 * memfd as guest memory and set virtqueues up like the core does.
 * Header-only (static inline, so a test need not use every helper): each
 * test binary is built from one test_X.c.  Include it after <cmocka.h>.
 */
#ifndef HYVE_TESTS_VUFRONT_H
#define HYVE_TESTS_VUFRONT_H

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"

/* One virtqueue as the frontend sees it. */
struct vf_queue {
	int kick, call, err;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next;		/* next free descriptor, for tests that care */
};

/*
 * Finds the backend: $env if set, else name next to the test binary or
 * one directory up (build/tests/ and build/asan/tests/).
 */
static inline bool
vf_find_binary(char *bin, size_t size, const char *name, const char *env)
{
	char self[PATH_MAX - 32];
	ssize_t n;

	if (getenv(env) != NULL) {
		snprintf(bin, size, "%s", getenv(env));
		return access(bin, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	for (int up = 1; up <= 2; up++) {
		snprintf(bin, size, "%s/%s%s", self, up == 2 ? "../../" : "../",
		    name);
		if (access(bin, X_OK) == 0)
			return true;
	}
	return false;
}

/* A memfd of size bytes mapped at *mem; returns the memfd or -1. */
static inline int
vf_guest_mem(const char *name, size_t size, uint8_t **mem)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, size) < 0)
		return -1;
	*mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return *mem == MAP_FAILED ? -1 : fd;
}

static inline void
vf_queue_open(struct vf_queue *q)
{
	q->kick = eventfd(0, EFD_CLOEXEC);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static inline void
vf_queue_close(struct vf_queue *q)
{
	close(q->kick);
	close(q->call);
	close(q->err);
}

/*
 * Starts argv[0] with one end of a socketpair as fd 3 and fds[i] as fd
 * 4 + i; errfd, if not -1, becomes its stderr.  Returns the other end.
 */
static inline int
vf_spawn(const char *const *argv, const int *fds, int nfds, int errfd,
    pid_t *pid)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		int tmp[8], e = errfd >= 0 ? fcntl(errfd, F_DUPFD, 10) : -1;

		/* Out of the way first, so no dup2 overwrites a source. */
		tmp[0] = fcntl(sv[1], F_DUPFD, 10);
		for (int i = 0; i < nfds && i < 7; i++)
			tmp[i + 1] = fcntl(fds[i], F_DUPFD, 10);
		for (int i = 0; i <= nfds && i < 8; i++)
			dup2(tmp[i], 3 + i);	/* dup2 clears close-on-exec */
		if (e >= 0)
			dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	return sv[0];
}

/* Connects to a backend's --socket, waiting up to 5 s for it. */
static inline int
vf_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 500; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	return -1;
}

static inline void
vf_call_ok(int sock, struct vu_msg *m, struct vu_msg *r)
{
	assert_int_equal(vu_call(sock, m, r), 0);
}

/* One region: guest address 0 at user address uva.  Returns the ack. */
static inline uint64_t
vf_mem_table(int sock, int memfd, uint64_t size, uint64_t uva)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + sizeof(struct vu_region));
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, size, uva, 0 };
	vu_msg_add_fd(&m, memfd);
	vf_call_ok(sock, &m, &r);
	return r.p.u64;
}

/*
 * Lays queue q out (num entries) at guest address off of mem, which the
 * backend sees at uva, hands it its eventfds and enables it.  Returns the
 * ack of the enable.
 */
static inline uint64_t
vf_ring(int sock, uint8_t *mem, uint64_t uva, unsigned q, unsigned num,
    uint64_t off, struct vf_queue *vq)
{
	struct virtq_layout l;
	struct vu_msg m, r;

	virtq_layout(num, 4096, &l);
	memset(mem + off, 0, l.size);
	vq->desc = (void *)(mem + off + l.desc);
	vq->avail = (void *)(mem + off + l.avail);
	vq->used = (void *)(mem + off + l.used);
	vq->next = 0;
	vu_msg_state(&m, VU_SET_VRING_NUM, q, num);
	vf_call_ok(sock, &m, &r);
	vu_msg_state(&m, VU_SET_VRING_BASE, q, 0);
	vf_call_ok(sock, &m, &r);
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = q;
	m.p.addr.desc_user_addr = uva + off + l.desc;
	m.p.addr.avail_user_addr = uva + off + l.avail;
	m.p.addr.used_user_addr = uva + off + l.used;
	vf_call_ok(sock, &m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, q, vq->call);
	vf_call_ok(sock, &m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, q, vq->err);
	vf_call_ok(sock, &m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, q, vq->kick);
	vf_call_ok(sock, &m, &r);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, q, 1);
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	vf_call_ok(sock, &m, &r);
	return r.p.u64;
}

/* True if the eventfd fires within ms; consumes the count. */
static inline bool
vf_fired(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	eventfd_t v;

	return poll(&p, 1, ms) == 1 && eventfd_read(fd, &v) == 0;
}

#endif
