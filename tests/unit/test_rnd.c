/*
 * Frontend test for hyve-rnd: fork the real binary on one end of a
 * socketpair, set it up over vhost-user like the core does, and fetch
 * random bytes through a virtqueue in a memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"

#define MEMSZ	(1u << 20)
#define UVA	0x7f0000000000ull
#define NUM	8
#define RING	0x1000
#define BUF	0x10000

static char bin[PATH_MAX];
static pid_t pid;
static int sock, memfd, kick, call, err;
static uint8_t *mem;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;

static bool
find_binary(void)
{
	static const char *const rel[] = { "/../hyve-rnd", "/../../hyve-rnd" };
	char self[PATH_MAX - 32];
	ssize_t n;

	if (getenv("HYVE_RND") != NULL) {
		snprintf(bin, sizeof(bin), "%s", getenv("HYVE_RND"));
		return access(bin, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(bin, sizeof(bin), "%s%s", self, rel[i]);
		if (access(bin, X_OK) == 0)
			return true;
	}
	return false;
}

static int
setup(void **state)
{
	int sv[2];

	(void)state;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(sv[1], 3);		/* dup2 clears close-on-exec */
		execl(bin, bin, "--fd", "3", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	sock = sv[0];
	memfd = memfd_create("rnd-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMSZ) < 0)
		return -1;
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return mem == MAP_FAILED ? -1 : 0;
}

static int
teardown(void **state)
{
	int st;

	(void)state;
	close(sock);
	if (waitpid(pid, &st, 0) != pid)
		kill(pid, SIGKILL);
	munmap(mem, MEMSZ);
	close(memfd);
	close(kick);
	close(call);
	close(err);
	return 0;
}

static void
call_ok(struct vu_msg *m, struct vu_msg *r)
{
	assert_int_equal(vu_call(sock, m, r), 0);
}

static void
configure(void)
{
	struct virtq_layout l;
	struct vu_msg m, r;
	uint64_t f;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	f = r.p.u64;
	assert_true(f & (1ull << 32));
	assert_true(f & (1ull << VU_F_PROTOCOL_FEATURES));
	assert_true(f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	vu_msg_u64(&m, VU_SET_FEATURES, 1ull << 32 | 1ull << VU_F_PROTOCOL_FEATURES |
	    1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_RING_F_INDIRECT_DESC);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	call_ok(&m, &r);
	assert_true(r.p.u64 & (1ull << VU_PF_REPLY_ACK));
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_MQ);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 1);

	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + sizeof(struct vu_region));
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	vu_msg_add_fd(&m, memfd);
	call_ok(&m, &r);

	virtq_layout(NUM, 4096, &l);
	desc = (void *)(mem + RING + l.desc);
	avail = (void *)(mem + RING + l.avail);
	used = (void *)(mem + RING + l.used);
	vu_msg_state(&m, VU_SET_VRING_NUM, 0, NUM);
	call_ok(&m, &r);
	vu_msg_state(&m, VU_SET_VRING_BASE, 0, 0);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.desc_user_addr = UVA + RING + l.desc;
	m.p.addr.avail_user_addr = UVA + RING + l.avail;
	m.p.addr.used_user_addr = UVA + RING + l.used;
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 0, call);
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, 0, err);
	call_ok(&m, &r);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 0, kick);
	call_ok(&m, &r);
	vu_msg_state(&m, VU_SET_VRING_ENABLE, 0, 1);
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	call_ok(&m, &r);
}

static bool
wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	eventfd_t v;

	if (poll(&p, 1, 5000) != 1)
		return false;
	return eventfd_read(fd, &v) == 0;
}

/* Posts one 64-byte writable buffer at gpa and waits for it to come back. */
static void
request(uint16_t d, uint64_t gpa)
{
	uint16_t n = avail->idx;

	desc[d] = (struct vring_desc){ gpa, 64, VRING_DESC_F_WRITE, 0 };
	*virtq_used_event(avail, NUM) = n;	/* interrupt on this one */
	avail->ring[n % NUM] = d;
	__atomic_store_n(&avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(kick, 1);
	assert_true(wait_fd(call));
	assert_int_equal(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE), n + 1);
	assert_int_equal(used->ring[n % NUM].id, d);
	assert_int_equal(used->ring[n % NUM].len, 64);
}

static void
test_random_bytes(void **state)
{
	static const uint8_t zero[64];
	struct vu_msg m, r;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	request(0, BUF);
	request(1, BUF + 64);
	assert_memory_not_equal(mem + BUF, zero, 64);
	assert_memory_not_equal(mem + BUF + 64, zero, 64);
	assert_memory_not_equal(mem + BUF, mem + BUF + 64, 64);
	assert_memory_equal(mem + BUF + 128, zero, 64);	/* no overrun */

	/* A hostile chain stops the queue and fires the err eventfd. */
	desc[2] = (struct vring_desc){ MEMSZ, 64, VRING_DESC_F_WRITE, 0 };
	avail->ring[2] = 2;
	__atomic_store_n(&avail->idx, 3, __ATOMIC_RELEASE);
	eventfd_write(kick, 1);
	assert_true(wait_fd(err));
	assert_int_equal(used->idx, 2);

	vu_msg_state(&m, VU_GET_VRING_BASE, 0, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.state.num, 2);
}

static void
test_garbage_drops(void **state)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 4 };
	int st;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	assert_int_equal(write(sock, &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sock, "abcd", 4), 4);
	/* The backend drops the frontend; with an inherited fd it exits. */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	pid = -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_drops, setup, teardown),
	};

	if (!find_binary())
		fprintf(stderr, "test_rnd: hyve-rnd not found next to the test "
		    "binary; run make build/hyve-rnd (or set HYVE_RND)\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
