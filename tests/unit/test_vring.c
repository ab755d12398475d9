/* Descriptor chain walker against a fake guest memory (a memfd). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/vring.h"
#include "ipc/virtq.h"

#define MEMSZ	(1u << 20)
#define UVA	0x40000000ull	/* frontend address of guest address 0 */
#define NUM	8
#define RING	0x1000		/* ring area, guest-physical */
#define BUF	0x10000		/* data buffers */
#define ITAB	0x8000		/* indirect tables */

static struct gmem gm;
static struct vring_queue vq;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;
static struct iovec iov[NUM];
static int memfd;

static uint8_t *
g(uint64_t gpa)
{
	return gmem_gpa(&gm, gpa, 1);
}

static int
setup_features(uint64_t features)
{
	struct vu_memtable t = { 0 };
	struct virtq_layout l;

	memfd = memfd_create("vring-test", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEMSZ) < 0)
		return -1;
	t.nregions = 1;
	t.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	gmem_init(&gm);
	if (gmem_set_table(&gm, &t, &memfd) < 0)
		return -1;
	virtq_layout(NUM, 4096, &l);
	vring_queue_init(&vq, 0);
	vq.num = NUM;
	vq.addr.desc_user_addr = UVA + RING + l.desc;
	vq.addr.avail_user_addr = UVA + RING + l.avail;
	vq.addr.used_user_addr = UVA + RING + l.used;
	vq.addr_set = true;
	if (vring_map(&vq, &gm, features) < 0)
		return -1;
	desc = (void *)g(RING + l.desc);
	avail = (void *)g(RING + l.avail);
	used = (void *)g(RING + l.used);
	vq.started = vq.enabled = true;
	vq.callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq.errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return setup_features(1ull << VIRTIO_RING_F_INDIRECT_DESC);
}

static int
setup_evidx(void **state)
{
	(void)state;
	return setup_features(1ull << VIRTIO_RING_F_INDIRECT_DESC |
	    1ull << VIRTIO_RING_F_EVENT_IDX);
}

static int
teardown(void **state)
{
	(void)state;
	vring_reset(&vq);
	gmem_free(&gm);
	close(memfd);
	return 0;
}

static void
set(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	t[i].addr = addr;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

static void
post(uint16_t head)
{
	avail->ring[avail->idx % NUM] = head;
	avail->idx++;
}

static uint64_t
count(int fd)
{
	eventfd_t v = 0;

	if (eventfd_read(fd, &v) < 0)
		return 0;
	return v;
}

/* The chain is refused, the queue stops and the err eventfd fires. */
static void
hostile(int rc)
{
	struct vring_req r;

	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), rc);
	assert_true(vq.broken);
	assert_int_equal(count(vq.errfd), 1);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), -EIO);
	assert_int_equal(count(vq.errfd), 0);	/* reported once */
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 0);
	assert_int_equal(used->idx, 0);
}

static void
test_simple(void **state)
{
	struct vring_req r;

	(void)state;
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 0);
	set(desc, 3, BUF, 16, VRING_DESC_F_NEXT, 5);
	set(desc, 5, BUF + 100, 64, VRING_DESC_F_WRITE, 0);
	post(3);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	assert_int_equal(r.head, 3);
	assert_int_equal(r.nout, 1);
	assert_int_equal(r.nin, 1);
	assert_int_equal(r.out_len, 16);
	assert_int_equal(r.in_len, 64);
	assert_ptr_equal(r.iov[0].iov_base, g(BUF));
	assert_int_equal(r.iov[0].iov_len, 16);
	assert_ptr_equal(r.iov[1].iov_base, g(BUF + 100));
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 0);
	vring_push(&vq, &r, 1000);		/* clamped to the writable length */
	assert_int_equal(used->idx, 0);		/* not yet published */
	assert_int_equal(vring_flush(&vq), 1);
	assert_int_equal(used->idx, 1);
	assert_int_equal(used->ring[0].id, 3);
	assert_int_equal(used->ring[0].len, 64);
	assert_int_equal(count(vq.callfd), 1);
	assert_false(vq.broken);
}

static void
test_batch_and_no_interrupt(void **state)
{
	struct vring_req r[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		set(desc, i, BUF + 64 * i, 64, VRING_DESC_F_WRITE, 0);
		post(i);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(vring_pop(&vq, &gm, &r[i], iov, NUM), 1);
	for (int i = 0; i < 3; i++)
		vring_push(&vq, &r[i], 8);
	assert_int_equal(vring_flush(&vq), 1);
	assert_int_equal(count(vq.callfd), 1);	/* one write for three */
	assert_int_equal(used->idx, 3);
	assert_int_equal(vring_flush(&vq), 0);	/* nothing new */

	avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	post(0);
	assert_int_equal(vring_pop(&vq, &gm, &r[0], iov, NUM), 1);
	vring_push(&vq, &r[0], 8);
	assert_int_equal(vring_flush(&vq), 0);
	assert_int_equal(count(vq.callfd), 0);
	assert_int_equal(used->idx, 4);
}

static void
test_indirect(void **state)
{
	struct vring_desc *it = (void *)g(ITAB);
	struct vring_req r;

	(void)state;
	set(it, 0, BUF, 10, VRING_DESC_F_NEXT, 2);
	set(it, 2, BUF + 10, 20, VRING_DESC_F_NEXT, 1);
	set(it, 1, BUF + 100, 30, VRING_DESC_F_WRITE, 0);
	set(desc, 4, ITAB, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	post(4);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	assert_int_equal(r.head, 4);
	assert_int_equal(r.nout, 2);
	assert_int_equal(r.nin, 1);
	assert_int_equal(r.out_len, 30);
	assert_int_equal(r.in_len, 30);
	assert_ptr_equal(r.iov[1].iov_base, g(BUF + 10));
	assert_ptr_equal(r.iov[2].iov_base, g(BUF + 100));
}

static void
test_event_idx(void **state)
{
	struct vring_req r;
	uint16_t *used_event = virtq_used_event(avail, NUM);
	uint16_t *avail_event = virtq_avail_event(used, NUM);

	(void)state;
	for (int i = 0; i < NUM; i++)
		set(desc, i, BUF + 64 * i, 64, VRING_DESC_F_WRITE, 0);
	/* The driver wants an interrupt once used idx passes 0. */
	*used_event = 0;
	post(0);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 1);
	assert_int_equal(count(vq.callfd), 1);
	/* used_event still 0: the next completion (1 -> 2) is suppressed. */
	post(1);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 0);
	assert_int_equal(count(vq.callfd), 0);
	/* used_event 3: suppressed at 2 -> 3, signalled at 3 -> 5. */
	*used_event = 3;
	post(2);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 0);
	post(3);
	post(4);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 1);
	assert_int_equal(count(vq.callfd), 1);
	assert_int_equal(used->idx, 5);
	/* NO_INTERRUPT is ignored with EVENT_IDX; the event index rules. */
	avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event = 5;
	post(5);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
	vring_push(&vq, &r, 1);
	assert_int_equal(vring_flush(&vq), 1);

	/* avail_event tells the driver where to kick next. */
	assert_false(vring_enable_notify(&vq));
	assert_int_equal(*avail_event, 6);
	post(6);
	assert_true(vring_enable_notify(&vq));
	assert_int_equal(*avail_event, 6);
}

static void
test_wraparound(void **state)
{
	struct vring_req r;

	(void)state;
	/* Indices wrap at 65536, not at the queue size. */
	vq.last_avail = 65534;
	vq.used_idx = vq.signalled = 65534;
	avail->idx = 65534;
	used->idx = 65534;
	set(desc, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	for (int i = 0; i < 4; i++) {
		post(0);
		assert_int_equal(vring_pop(&vq, &gm, &r, iov, NUM), 1);
		vring_push(&vq, &r, 4);
	}
	assert_int_equal(vring_flush(&vq), 1);
	assert_int_equal(used->idx, 2);
	assert_int_equal(vq.last_avail, 2);
	assert_false(vq.broken);
}

static void
test_loop(void **state)
{
	(void)state;
	set(desc, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set(desc, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	post(0);
	hostile(-ELOOP);
}

static void
test_self_loop(void **state)
{
	(void)state;
	set(desc, 2, BUF, 8, VRING_DESC_F_NEXT, 2);
	post(2);
	hostile(-ELOOP);
}

static void
test_too_long(void **state)
{
	(void)state;
	/* Every descriptor once, then one more: longer than the queue. */
	for (int i = 0; i < NUM; i++)
		set(desc, i, BUF, 8, VRING_DESC_F_NEXT, (i + 1) % NUM);
	post(0);
	hostile(-ELOOP);
}

static void
test_indirect_loop(void **state)
{
	struct vring_desc *it = (void *)g(ITAB);

	(void)state;
	set(it, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set(it, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	set(desc, 0, ITAB, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-ELOOP);
}

static void
test_out_of_ram(void **state)
{
	(void)state;
	set(desc, 0, MEMSZ, 8, 0, 0);
	post(0);
	hostile(-EFAULT);
}

static void
test_straddles_end(void **state)
{
	(void)state;
	set(desc, 0, MEMSZ - 4, 8, VRING_DESC_F_WRITE, 0);
	post(0);
	hostile(-EFAULT);
}

static void
test_wrap(void **state)
{
	(void)state;
	set(desc, 0, ~0ull - 15, 64, 0, 0);
	post(0);
	hostile(-EFAULT);
}

static void
test_zero_len(void **state)
{
	(void)state;
	set(desc, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set(desc, 1, BUF, 0, VRING_DESC_F_WRITE, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_huge_len(void **state)
{
	(void)state;
	set(desc, 0, BUF, 0xffffffff, VRING_DESC_F_WRITE, 0);
	post(0);
	hostile(-EFAULT);
}

static void
test_write_before_read(void **state)
{
	(void)state;
	set(desc, 0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set(desc, 1, BUF + 8, 8, 0, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_nested_indirect(void **state)
{
	struct vring_desc *it = (void *)g(ITAB);

	(void)state;
	set(it, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set(it, 1, ITAB + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	set(desc, 0, ITAB, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_indirect_bad_len(void **state)
{
	(void)state;
	set(desc, 0, ITAB, 17, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_indirect_zero_len(void **state)
{
	(void)state;
	set(desc, 0, ITAB, 0, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_indirect_too_big(void **state)
{
	(void)state;
	set(desc, 0, ITAB, (NUM + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_indirect_outside(void **state)
{
	(void)state;
	set(desc, 0, MEMSZ - 16, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EFAULT);
}

static void
test_indirect_with_next(void **state)
{
	(void)state;
	set(desc, 0, ITAB, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set(desc, 1, BUF, 8, 0, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_indirect_not_negotiated(void **state)
{
	(void)state;
	vq.indirect = false;
	set(desc, 0, ITAB, 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	hostile(-EINVAL);
}

static void
test_avail_jump(void **state)
{
	(void)state;
	set(desc, 0, BUF, 8, 0, 0);
	avail->idx = NUM + 1;
	hostile(-EINVAL);
}

static void
test_avail_backwards(void **state)
{
	(void)state;
	avail->idx = 0xffff;		/* one behind the device */
	hostile(-EINVAL);
}

static void
test_next_out_of_range(void **state)
{
	(void)state;
	set(desc, 0, BUF, 8, VRING_DESC_F_NEXT, NUM);
	post(0);
	hostile(-EINVAL);
}

static void
test_head_out_of_range(void **state)
{
	(void)state;
	post(NUM);
	hostile(-EINVAL);
}

static void
test_iov_too_small(void **state)
{
	struct vring_req r;

	(void)state;
	set(desc, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set(desc, 1, BUF, 8, 0, 0);
	post(0);
	assert_int_equal(vring_pop(&vq, &gm, &r, iov, 1), -E2BIG);
	assert_true(vq.broken);
}

static void
test_map(void **state)
{
	struct vring_queue q;

	(void)state;
	vring_queue_init(&q, 1);
	assert_int_equal(vring_map(&q, &gm, 0), -EINVAL);	/* nothing set */
	q.num = NUM;
	q.addr = vq.addr;
	q.addr_set = true;
	assert_int_equal(vring_map(&q, &gm, 0), 0);
	q.addr.avail_user_addr++;				/* misaligned */
	assert_int_equal(vring_map(&q, &gm, 0), -EINVAL);
	q.addr = vq.addr;
	q.addr.used_user_addr = UVA + MEMSZ - 16;		/* runs off */
	assert_int_equal(vring_map(&q, &gm, 0), -EINVAL);
	q.addr = vq.addr;
	q.addr.desc_user_addr = RING;				/* a gpa, not a uva */
	assert_int_equal(vring_map(&q, &gm, 0), -EINVAL);
	q.addr = vq.addr;
	q.num = 6;
	assert_int_equal(vring_map(&q, &gm, 0), -EINVAL);
	assert_null(q.desc);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

static uint8_t region[4096] __attribute__((aligned(64)));

/* A new backend over the same rings: it starts where the used ring is. */
static int
restart_queue(void)
{
	vq.last_avail = used->idx;
	vq.used_idx = used->idx;
	vq.broken = false;
	return vring_inflight_start(&vq);
}

static void
test_inflight_resubmit(void **state)
{
	struct vring_req r[3], x;
	struct iovec iv[3][NUM];
	int i;

	(void)state;
	memset(region, 0, sizeof(region));
	vq.infl = (struct inflight_queue *)region;
	assert_int_equal(vring_inflight_start(&vq), 0);
	assert_int_equal(vq.infl->version, INFLIGHT_VERSION);
	assert_int_equal(vq.infl->desc_num, NUM);
	for (i = 0; i < 3; i++) {
		set(desc, i, BUF + 0x100 * i, 16, VRING_DESC_F_WRITE, 0);
		post(i);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(vring_pop(&vq, &gm, &r[i], iv[i], NUM), 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(vq.infl->desc[i].inflight, 1);
	/* Only the middle one completes before the backend dies. */
	vring_push(&vq, &r[1], 16);
	vring_flush(&vq);
	assert_int_equal(used->idx, 1);
	assert_int_equal(vq.infl->desc[1].inflight, 0);
	assert_int_equal(vq.infl->used_idx, 1);

	/* The new backend runs the other two again, oldest first, and
	 * nothing else: the avail ring has no new entries. */
	assert_int_equal(restart_queue(), 2);
	assert_int_equal(vring_pop(&vq, &gm, &x, iov, NUM), 1);
	assert_int_equal(x.head, 0);
	vring_push(&vq, &x, 16);
	assert_int_equal(vring_pop(&vq, &gm, &x, iov, NUM), 1);
	assert_int_equal(x.head, 2);
	vring_push(&vq, &x, 16);
	assert_int_equal(vring_pop(&vq, &gm, &x, iov, NUM), 0);
	vring_flush(&vq);
	assert_int_equal(used->idx, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(vq.infl->desc[i].inflight, 0);
	/* A chain posted after the restart is taken normally. */
	post(1);
	assert_int_equal(vring_pop(&vq, &gm, &x, iov, NUM), 1);
	assert_int_equal(x.head, 1);
}

static void
test_inflight_published_before_death(void **state)
{
	struct vring_req r[2];
	struct iovec iv[2][NUM];
	int i;

	(void)state;
	memset(region, 0, sizeof(region));
	vq.infl = (struct inflight_queue *)region;
	assert_int_equal(vring_inflight_start(&vq), 0);
	for (i = 0; i < 2; i++) {
		set(desc, i, BUF + 0x100 * i, 16, VRING_DESC_F_WRITE, 0);
		post(i);
		assert_int_equal(vring_pop(&vq, &gm, &r[i], iv[i], NUM), 1);
	}
	/* Died after publishing both completions in the used ring but
	 * before clearing their flags: they must not run twice. */
	used->ring[0].id = 1;
	used->ring[1].id = 0;
	used->idx = 2;
	assert_int_equal(vq.infl->desc[0].inflight, 1);
	assert_int_equal(restart_queue(), 0);
	assert_int_equal(vq.infl->desc[0].inflight, 0);
	assert_int_equal(vq.infl->desc[1].inflight, 0);
	assert_int_equal(vq.infl->used_idx, 2);
}

static void
test_inflight_bad_region(void **state)
{
	(void)state;
	memset(region, 0, sizeof(region));
	vq.infl = (struct inflight_queue *)region;
	assert_int_equal(vring_inflight_start(&vq), 0);
	/* A region whose used index is far from the ring's: queue error. */
	vq.infl->used_idx = 100;
	assert_int_equal(restart_queue(), -EINVAL);
	assert_true(vq.broken);
	assert_int_equal(count(vq.errfd), 1);
	/* A region for another ring size is started afresh. */
	vq.broken = false;
	vq.infl->desc_num = NUM * 2;
	vq.infl->desc[0].inflight = 1;
	assert_int_equal(restart_queue(), 0);
	assert_int_equal(vq.infl->desc[0].inflight, 0);
	vq.infl = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inflight_resubmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_published_before_death, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_bad_region, setup, teardown),
		T(test_simple),
		T(test_batch_and_no_interrupt),
		T(test_indirect),
		cmocka_unit_test_setup_teardown(test_event_idx, setup_evidx, teardown),
		T(test_wraparound),
		T(test_loop),
		T(test_self_loop),
		T(test_too_long),
		T(test_indirect_loop),
		T(test_out_of_ram),
		T(test_straddles_end),
		T(test_wrap),
		T(test_zero_len),
		T(test_huge_len),
		T(test_write_before_read),
		T(test_nested_indirect),
		T(test_indirect_bad_len),
		T(test_indirect_zero_len),
		T(test_indirect_too_big),
		T(test_indirect_outside),
		T(test_indirect_with_next),
		T(test_indirect_not_negotiated),
		T(test_avail_jump),
		T(test_avail_backwards),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_iov_too_small),
		T(test_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
