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
#include "tests/unit/vufront.h"

#define MEMSZ	(1u << 20)
#define UVA	0x7f0000000000ull
#define NUM	8
#define RING	0x1000
#define BUF	0x10000

static char bin[PATH_MAX];
static pid_t pid;
static int sock, memfd;
static uint8_t *mem;
static struct vf_queue vq;

static bool
find_binary(void)
{
	return vf_find_binary(bin, sizeof(bin), "hyve-rnd", "HYVE_RND");
}

static int
setup(void **state)
{
	const char *argv[] = { bin, "--fd", "3", NULL };

	(void)state;
	sock = vf_spawn(argv, NULL, 0, -1, &pid);
	memfd = vf_guest_mem("rnd-guest", MEMSZ, &mem);
	vf_queue_open(&vq);
	return memfd < 0 ? -1 : 0;
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
	vf_queue_close(&vq);
	return 0;
}

static void
call_ok(struct vu_msg *m, struct vu_msg *r)
{
	vf_call_ok(sock, m, r);
}

static void
configure(void)
{
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

	vf_mem_table(sock, memfd, MEMSZ, UVA);
	vf_ring(sock, mem, UVA, 0, NUM, RING, &vq);
}

/* Posts one 64-byte writable buffer at gpa and waits for it to come back. */
static void
request(uint16_t d, uint64_t gpa)
{
	uint16_t n = vq.avail->idx;

	vq.desc[d] = (struct vring_desc){ gpa, 64, VRING_DESC_F_WRITE, 0 };
	*virtq_used_event(vq.avail, NUM) = n;	/* interrupt on this one */
	vq.avail->ring[n % NUM] = d;
	__atomic_store_n(&vq.avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(vq.kick, 1);
	assert_true(vf_fired(vq.call, 5000));
	assert_int_equal(__atomic_load_n(&vq.used->idx, __ATOMIC_ACQUIRE), n + 1);
	assert_int_equal(vq.used->ring[n % NUM].id, d);
	assert_int_equal(vq.used->ring[n % NUM].len, 64);
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
	vq.desc[2] = (struct vring_desc){ MEMSZ, 64, VRING_DESC_F_WRITE, 0 };
	vq.avail->ring[2] = 2;
	__atomic_store_n(&vq.avail->idx, 3, __ATOMIC_RELEASE);
	eventfd_write(vq.kick, 1);
	assert_true(vf_fired(vq.err, 5000));
	assert_int_equal(vq.used->idx, 2);

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
