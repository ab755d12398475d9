/*
 * Frontend test for hyve-balloon: fork the real binary on one end of a
 * socketpair, set it up over vhost-user like the core does, and report
 * free blocks of a memfd "guest RAM": their pages must leave the memfd
 * (and read back as zeros), partial pages and the other queues' buffers
 * must be left alone.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/virtio_balloon.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "tests/unit/vufront.h"

#define MEMSZ	(4u << 20)
#define UVA	0x7f0000000000ull
#define NUM	8
#define RING_R	0x1000		/* the reporting queue (2) */
#define RING_I	0x8000		/* the inflate queue (0) */
#define BLOCK	0x100000	/* a reported block, 256 KiB */
#define PART	0x200000	/* a block that is not page-aligned */
#define PFNS	0x300000	/* an inflate buffer */

static char bin[PATH_MAX];
static pid_t pid;
static int sock, memfd;
static uint8_t *mem;
static struct vf_queue rq, iq;

static bool
find_binary(void)
{
	return vf_find_binary(bin, sizeof(bin), "hyve-balloon", "HYVE_BALLOON");
}

static int
setup(void **state)
{
	const char *argv[] = { bin, "--fd", "3", NULL };

	(void)state;
	sock = vf_spawn(argv, NULL, 0, -1, &pid);
	memfd = vf_guest_mem("balloon-guest", MEMSZ, &mem);
	vf_queue_open(&rq);
	vf_queue_open(&iq);
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
	vf_queue_close(&rq);
	vf_queue_close(&iq);
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
	uint8_t zero[8] = { 0 };
	uint64_t f;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	f = r.p.u64;
	assert_true(f & (1ull << VIRTIO_BALLOON_F_REPORTING));
	/* Nothing that would make a driver inflate or expect other queues. */
	assert_false(f & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
	assert_false(f & (1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	assert_false(f & (1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST));
	vu_msg_u64(&m, VU_SET_FEATURES, 1ull << 32 | 1ull << VU_F_PROTOCOL_FEATURES |
	    1ull << VIRTIO_BALLOON_F_REPORTING);
	call_ok(&m, &r);
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_MQ | 1ull << VU_PF_CONFIG | 1ull << VU_PF_INFLIGHT_SHMFD);
	call_ok(&m, &r);
	/* The core asks every backend for an inflight region of its queues
	 * at its largest size (256). */
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight));
	m.p.inflight.num_queues = 3;
	m.p.inflight.queue_size = 256;
	call_ok(&m, &r);
	assert_int_equal(r.p.inflight.num_queues, 3);
	assert_int_equal(r.p.inflight.queue_size, 256);
	assert_int_equal(r.nfds, 1);
	close(r.fds[0]);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 3);
	/* num_pages 0: the host asks for none of the guest's memory. */
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 8);
	m.p.config.offset = 0;
	m.p.config.size = 8;
	call_ok(&m, &r);
	assert_int_equal(r.hdr.size, VU_CONFIG_HDR + 8);
	assert_memory_equal(r.p.config.data, zero, 8);

	vf_mem_table(sock, memfd, MEMSZ, UVA);
	vf_ring(sock, mem, UVA, 2, NUM, RING_R, &rq);
	vf_ring(sock, mem, UVA, 0, NUM, RING_I, &iq);
}

/* Posts chain head..head+n-1 on q and waits for it to come back. */
static void
post(struct vf_queue *q, uint16_t head)
{
	uint16_t n = q->avail->idx;

	*virtq_used_event(q->avail, NUM) = n;
	q->avail->ring[n % NUM] = head;
	__atomic_store_n(&q->avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(q->kick, 1);
	assert_true(vf_fired(q->call, 5000));
	assert_int_equal(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE), n + 1);
	assert_int_equal(q->used->ring[n % NUM].id, head);
	assert_int_equal(q->used->ring[n % NUM].len, 0);
}

static long long
held(void)
{
	struct stat st;

	assert_int_equal(fstat(memfd, &st), 0);
	return (long long)st.st_blocks * 512;
}

static bool
all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void
test_report(void **state)
{
	long long before;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	memset(mem + BLOCK, 0xaa, 0x40000);
	memset(mem + PART, 0xbb, 0x3000);
	memset(mem + PFNS, 0xcc, 4096);
	before = held();

	/* One report of two blocks, as Linux sends them (writable). */
	rq.desc[0] = (struct vring_desc){ BLOCK, 0x20000,
	    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	rq.desc[1] = (struct vring_desc){ BLOCK + 0x20000, 0x20000,
	    VRING_DESC_F_WRITE, 0 };
	post(&rq, 0);
	/* Before reading them: a read of shmem's hole allocates a page. */
	if (held() > before - 0x40000)
		fail_msg("the memfd holds %lld bytes, %lld before: the 256 KiB "
		    "reported are not given back", held(), before);
	assert_true(all(mem + BLOCK, 0x40000, 0));

	/* A block that is not page-aligned: only its whole page goes. */
	rq.desc[2] = (struct vring_desc){ PART + 100, 0x2000, VRING_DESC_F_WRITE, 0 };
	post(&rq, 2);
	assert_true(all(mem + PART, 0x1000, 0xbb));
	assert_true(all(mem + PART + 0x1000, 0x1000, 0));
	assert_true(all(mem + PART + 0x2000, 0x1000, 0xbb));

	/* The inflate queue's PFNs are returned, nothing given back. */
	iq.desc[0] = (struct vring_desc){ PFNS, 16, 0, 0 };
	post(&iq, 0);
	assert_true(all(mem + PFNS, 4096, 0xcc));

	/* A block outside guest RAM stops the queue; nothing is touched. */
	rq.desc[3] = (struct vring_desc){ MEMSZ - 0x1000, 0x2000,
	    VRING_DESC_F_WRITE, 0 };
	rq.avail->ring[rq.avail->idx % NUM] = 3;
	__atomic_store_n(&rq.avail->idx, rq.avail->idx + 1, __ATOMIC_RELEASE);
	eventfd_write(rq.kick, 1);
	assert_true(vf_fired(rq.err, 5000));
	assert_int_equal(rq.used->idx, 2);
	assert_true(all(mem + PART, 0x1000, 0xbb));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report, setup, teardown),
	};

	if (!find_binary())
		fprintf(stderr, "test_balloon: hyve-balloon not found next to the "
		    "test binary; run make build/hyve-balloon (or set "
		    "HYVE_BALLOON)\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
