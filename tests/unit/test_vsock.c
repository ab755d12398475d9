/*
 * Frontend test for hyve-vsock: the real binary, sandboxed, on one end of
 * a socketpair, its three queues in a memfd; the test plays the guest's
 * driver on the rings and the host's programs on the unix sockets.
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
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/virtio_vsock.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "tests/unit/vufront.h"

#define MEMSZ	(4u << 20)
#define UVA	0x7f0000000000ull
#define NUM	64
#define RXBUF	(sizeof(struct virtio_vsock_hdr) + 4096)
#define RX_AT	0x100000	/* rx buffers */
#define TX_AT	0x200000	/* tx packets */
#define EV_AT	0x300000
#define CID	3
#define HDR	sizeof(struct virtio_vsock_hdr)

static char bin[PATH_MAX], dir[64], uds[96];
static pid_t pid;
static int sock, memfd;
static uint8_t *mem;
static struct vf_queue q[3];
static uint16_t rx_seen, tx_next;

static int host_connect(void);

static bool
find_binary(void)
{
	return vf_find_binary(bin, sizeof(bin), "hyve-vsock", "HYVE_VSOCK");
}

static int
setup(void **state)
{
	const char *argv[] = { bin, "--fd", "3", "--cid", "3", "--uds-path",
	    uds, NULL };

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hyve-vsock-XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) < 0)
		return -1;
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	sock = vf_spawn(argv, NULL, 0, -1, &pid);
	memfd = vf_guest_mem("vsock-guest", MEMSZ, &mem);
	for (int i = 0; i < 3; i++)
		vf_queue_open(&q[i]);
	rx_seen = tx_next = 0;
	return memfd < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	int st;

	(void)state;
	close(sock);
	if (pid > 0 && waitpid(pid, &st, 0) != pid)
		kill(pid, SIGKILL);
	munmap(mem, MEMSZ);
	close(memfd);
	for (int i = 0; i < 3; i++)
		vf_queue_close(&q[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
call_ok(struct vu_msg *m, struct vu_msg *r)
{
	vf_call_ok(sock, m, r);
}

/* rx with NUM buffers posted; tx and event empty. */
static void
configure_rings(void)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	assert_true(r.p.u64 & (1ull << 32));
	vu_msg_u64(&m, VU_SET_FEATURES, 1ull << 32 | 1ull << VU_F_PROTOCOL_FEATURES |
	    1ull << VIRTIO_RING_F_EVENT_IDX);
	call_ok(&m, &r);
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_MQ | 1ull << VU_PF_CONFIG);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 3);
	vf_mem_table(sock, memfd, MEMSZ, UVA);
	for (unsigned i = 0; i < 3; i++)
		vf_ring(sock, mem, UVA, i, NUM, 0x1000 + i * 0x4000, &q[i]);
	for (unsigned i = 0; i < NUM; i++) {
		q[0].desc[i] = (struct vring_desc){ RX_AT + i * 0x2000, RXBUF,
		    VRING_DESC_F_WRITE, 0 };
		q[0].avail->ring[i] = i;
	}
	__atomic_store_n(&q[0].avail->idx, NUM, __ATOMIC_RELEASE);
	eventfd_write(q[0].kick, 1);
}

/* Posts the event buffer (descriptor 0) once more. */
static void
event_post(void)
{
	uint16_t n = q[2].avail->idx;

	q[2].desc[0] = (struct vring_desc){ EV_AT, 4, VRING_DESC_F_WRITE, 0 };
	q[2].avail->ring[n % NUM] = 0;
	__atomic_store_n(&q[2].avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(q[2].kick, 1);
}

/* The backend's transport reset in the event buffer, within 5 s. */
static void
event_expect_reset(void)
{
	struct virtio_vsock_event *e = (void *)(mem + EV_AT);

	for (int t = 0; t < 5000 && q[2].used->idx == 0; t += 5)
		usleep(5000);
	assert_int_equal(q[2].used->idx, 1);
	assert_int_equal(q[2].used->ring[0].len, 4);
	assert_int_equal(e->id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	/* The buffer it will be given back must kick it (EVENT_IDX). */
	assert_int_equal(*virtq_avail_event(q[2].used, NUM), q[2].avail->idx);
}

/* As Linux's driver does: an event buffer, and once the backend's
 * transport reset is handled, the buffer given back. */
static void
configure(void)
{
	configure_rings();
	event_post();
	event_expect_reset();
	event_post();
}

/* Gives rx buffer id back to the backend (after reading its packet). */
static void
rx_repost(uint16_t id)
{
	uint16_t n = q[0].avail->idx;

	q[0].avail->ring[n % NUM] = id;
	__atomic_store_n(&q[0].avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(q[0].kick, 1);
}

/* The next packet on rx within ms, its payload to buf (cap bytes). */
static bool
rx_get(struct virtio_vsock_hdr *h, void *buf, size_t cap, uint32_t *len,
    int ms)
{
	for (int t = 0; t < ms; t += 5) {
		if (__atomic_load_n(&q[0].used->idx, __ATOMIC_ACQUIRE) !=
		    rx_seen) {
			struct vring_used_elem e = q[0].used->ring[rx_seen % NUM];
			uint8_t *p = mem + RX_AT + e.id * 0x2000;

			rx_seen++;
			assert_true(e.len >= HDR);
			memcpy(h, p, HDR);
			assert_int_equal(e.len, HDR + h->len);
			if (buf != NULL)
				memcpy(buf, p + HDR, h->len < cap ? h->len : cap);
			if (len != NULL)
				*len = h->len;
			rx_repost(e.id);
			return true;
		}
		usleep(5000);
	}
	return false;
}

/* Waits for an rx packet with op (skipping credit updates). */
static void
rx_expect(struct virtio_vsock_hdr *h, uint16_t op)
{
	do
		assert_true(rx_get(h, NULL, 0, NULL, 5000));
	while (h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE &&
	    op != VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h->op, op);
}

/* A packet from the guest: header + payload in one readable buffer. */
static void
tx_send_len(uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags,
    uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, uint32_t len,
    uint32_t hdr_len)
{
	struct virtio_vsock_hdr h = {
		.src_cid = CID, .dst_cid = 2, .src_port = sport,
		.dst_port = dport, .len = hdr_len, .type =
		VIRTIO_VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = buf_alloc, .fwd_cnt = fwd_cnt,
	};
	uint16_t d = tx_next % NUM, n = q[1].avail->idx;
	uint64_t at = TX_AT + d * 0x4000;

	assert_true(len <= 0x4000 - HDR);
	memcpy(mem + at, &h, HDR);
	if (len > 0)
		memcpy(mem + at + HDR, data, len);
	q[1].desc[d] = (struct vring_desc){ at, HDR + len, 0, 0 };
	q[1].avail->ring[n % NUM] = d;
	__atomic_store_n(&q[1].avail->idx, n + 1, __ATOMIC_RELEASE);
	tx_next++;
	eventfd_write(q[1].kick, 1);
	for (int t = 0; t < 5000; t += 5) {
		if (__atomic_load_n(&q[1].used->idx, __ATOMIC_ACQUIRE) ==
		    (uint16_t)(n + 1))
			return;
		usleep(5000);
	}
	fail_msg("tx packet %u not completed", n);
}

static void
tx_send(uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags,
    uint32_t fwd_cnt, const void *data, uint32_t len)
{
	tx_send_len(sport, dport, op, flags, 65536, fwd_cnt, data, len, len);
}

static int
host_listen(unsigned port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* The sandboxed backend runs as another uid. */
	assert_int_equal(chmod(sa.sun_path, 0777), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static ssize_t
read_within(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	return read(fd, buf, len);
}

/*
 * A new backend tells the driver that its connections are gone, and
 * sends it nothing until the driver has handled that (given the event
 * buffer back): a host CONNECT that came first waits, since Linux's reset
 * would end its connection too.
 */
static void
test_config_and_reset_event(void **state)
{
	struct virtio_vsock_event *e = (void *)(mem + EV_AT);
	struct virtio_vsock_hdr h;
	struct vu_msg m, r;
	uint64_t cid;
	int c;

	(void)state;
	if (!find_binary())
		skip();
	configure_rings();
	vu_msg_init(&m, VU_GET_CONFIG, 12 + 8);
	m.p.config.size = 8;
	call_ok(&m, &r);
	memcpy(&cid, r.p.config.data, 8);
	assert_int_equal(cid, CID);

	c = host_connect();
	assert_int_equal(write(c, "CONNECT 77\n", 11), 11);
	e->id = 0xffff;
	event_post();
	event_expect_reset();
	assert_false(rx_get(&h, NULL, 0, NULL, 300));
	event_post();
	rx_expect(&h, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 77);
	close(c);
}

static void
test_guest_connects(void **state)
{
	struct virtio_vsock_hdr h;
	char buf[64];
	uint32_t len;
	int l, c;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	l = host_listen(1234);
	tx_send(5000, 1234, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, 2);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.src_port, 1234);
	assert_int_equal(h.dst_port, 5000);
	assert_true(h.buf_alloc > 0);
	c = accept(l, NULL, NULL);
	assert_true(c >= 0);

	tx_send(5000, 1234, VIRTIO_VSOCK_OP_RW, 0, 0, "hello", 5);
	assert_int_equal(read_within(c, buf, sizeof(buf), 5000), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(c, "world!", 6), 6);
	do
		assert_true(rx_get(&h, buf, sizeof(buf), &len, 5000));
	while (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "world!", 6);

	/* The guest half-closes: the host reads EOF, and can still write. */
	tx_send(5000, 1234, VIRTIO_VSOCK_OP_SHUTDOWN,
	    VIRTIO_VSOCK_SHUTDOWN_SEND, 6, NULL, 0);
	assert_int_equal(read_within(c, buf, sizeof(buf), 5000), 0);
	assert_int_equal(write(c, "x", 1), 1);
	rx_expect(&h, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 1);
	/* The host closes: SHUTDOWN to the guest, then RST (both done). */
	close(c);
	rx_expect(&h, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_true(h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5000);
	/* Gone: a packet on it is answered with RST. */
	tx_send(5000, 1234, VIRTIO_VSOCK_OP_RW, 0, 0, "late", 4);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	close(l);
}

static void
test_refused_and_bad(void **state)
{
	struct virtio_vsock_hdr h;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	/* Nobody listens on PATH_99. */
	tx_send(5001, 99, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, 99);
	assert_int_equal(h.dst_port, 5001);
	/* Data for no connection. */
	tx_send(5002, 1, VIRTIO_VSOCK_OP_RW, 0, 0, "abc", 3);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	/* A length the buffer does not hold. */
	tx_send_len(5003, 1, VIRTIO_VSOCK_OP_RW, 0, 65536, 0, "abc", 3, 4000);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5003);
	/* The queue still works. */
	tx_send(5004, 98, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5004);
	/* A device-writable buffer on tx breaks the queue. */
	uint16_t d = tx_next % NUM, n = q[1].avail->idx;
	q[1].desc[d] = (struct vring_desc){ TX_AT, HDR, VRING_DESC_F_WRITE, 0 };
	q[1].avail->ring[n % NUM] = d;
	__atomic_store_n(&q[1].avail->idx, n + 1, __ATOMIC_RELEASE);
	eventfd_write(q[1].kick, 1);
	assert_true(vf_fired(q[1].err, 5000));
	assert_int_equal(q[1].used->idx, n);
}

static int
host_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void
test_host_connects_with_credit(void **state)
{
	struct virtio_vsock_hdr h;
	char buf[4096], ok[32], data[300];
	uint32_t len, hp;
	ssize_t k;
	int c;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	c = host_connect();
	assert_int_equal(write(c, "CONNECT 77\n", 11), 11);
	rx_expect(&h, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 77);
	hp = h.src_port;
	/* The guest accepts with room for 100 bytes. */
	tx_send_len(77, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, 100, 0, NULL, 0, 0);
	k = read_within(c, ok, sizeof(ok) - 1, 5000);
	assert_true(k > 0);
	ok[k] = '\0';
	snprintf(buf, sizeof(buf), "OK %u\n", hp);
	assert_string_equal(ok, buf);

	for (int i = 0; i < 300; i++)
		data[i] = (char)i;
	assert_int_equal(write(c, data, 300), 300);
	assert_true(rx_get(&h, buf, sizeof(buf), &len, 5000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(len, 100);
	assert_memory_equal(buf, data, 100);
	/* Out of credit: it asks, and sends nothing more. */
	rx_expect(&h, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	assert_false(rx_get(&h, buf, sizeof(buf), &len, 300));
	/* The guest read 100: 200 more, in one or two packets. */
	tx_send_len(77, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 200, 100, NULL,
	    0, 0);
	uint32_t got = 0;
	while (got < 200) {
		assert_true(rx_get(&h, buf, sizeof(buf), &len, 5000));
		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		assert_memory_equal(buf, data + 100 + got, len);
		got += len;
	}
	assert_int_equal(got, 200);
	/* Guest to host. */
	tx_send(77, hp, VIRTIO_VSOCK_OP_RW, 0, 300, "ping", 4);
	assert_int_equal(read_within(c, buf, sizeof(buf), 5000), 4);
	assert_memory_equal(buf, "ping", 4);
	/* The guest closes: RST, and the host reads EOF. */
	tx_send(77, hp, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_RCV |
	    VIRTIO_VSOCK_SHUTDOWN_SEND, 300, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(read_within(c, buf, sizeof(buf), 5000), 0);
	close(c);

	/* Not our protocol: the host's connection is closed. */
	c = host_connect();
	assert_int_equal(write(c, "HELLO 1\n", 8), 8);
	assert_int_equal(read_within(c, buf, sizeof(buf), 5000), 0);
	close(c);
}

/* A guest that ignores our credit is reset, the others go on. */
static void
test_credit_overrun(void **state)
{
	static char big[0x3000];
	struct virtio_vsock_hdr h;
	int l, c;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	l = host_listen(4000);
	tx_send(6000, 4000, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RESPONSE);
	c = accept(l, NULL, NULL);
	assert_true(c >= 0);
	/* The host never reads; the socket and our buffer fill up. */
	for (int i = 0; i < 400; i++) {
		tx_send(6000, 4000, VIRTIO_VSOCK_OP_RW, 0, 0, big, sizeof(big));
		if (__atomic_load_n(&q[0].used->idx, __ATOMIC_ACQUIRE) !=
		    rx_seen) {
			assert_true(rx_get(&h, NULL, 0, NULL, 100));
			if (h.op == VIRTIO_VSOCK_OP_RST)
				break;
		}
	}
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 6000);
	close(c);
	close(l);
}

/* CPU seconds (user + system) the backend used so far, in clock ticks. */
static long
cpu_ticks(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* after "(comm)": state is field 3, utime 14, stime 15 */
	assert_non_null(p = strrchr(buf, ')'));
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %lu %lu", &ut, &st), 2);
	return (long)(ut + st);
}

/* Idle after traffic: the backend sleeps (no kick ping-pong of its own). */
static void
test_idle_is_idle(void **state)
{
	struct virtio_vsock_hdr h;
	long t0;

	(void)state;
	if (!find_binary())
		skip();
	configure();
	tx_send(5001, 99, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0);
	rx_expect(&h, VIRTIO_VSOCK_OP_RST);
	t0 = cpu_ticks();
	usleep(1000000);
	/* A busy loop would take all of that second (100 ticks). */
	assert_true(cpu_ticks() - t0 < 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_reset_event,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused_and_bad, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_host_connects_with_credit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_overrun, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_is_idle, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (!find_binary())
		fprintf(stderr, "test_vsock: hyve-vsock not found next to the "
		    "test binary; run make build/hyve-vsock (or set HYVE_VSOCK)\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
