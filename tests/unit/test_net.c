/*
 * Frontend test for hyve-net: in a private network namespace, create a tap,
 * hand it to the real binary with a vhost-user socketpair, and move frames
 * through the two virtqueues in a memfd.  Frames the guest sends come out
 * of the tap into the host stack, where an AF_PACKET socket (with
 * PACKET_VNET_HDR, so offload metadata shows) sees them; frames for the
 * guest are sent out of the tap by another AF_PACKET socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "tests/unit/vufront.h"

#define MEMSZ	(4u << 20)
#define UVA	0x7f0000000000ull
#define NUM	16
#define RXRING	0x1000
#define TXRING	0x3000
#define RXBUF	0x10000		/* rx buffers, 0x1000 apart */
#define TXBUF	0x100000	/* tx buffers, room for > 64 KiB */
#define HDRLEN	12
#define ETYPE	0x88b5		/* local experimental ethertype */

#define F(bit)	(1ull << (bit))
#define BASE_F	(F(VIRTIO_F_VERSION_1) | F(VU_F_PROTOCOL_FEATURES) | \
	F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_RING_F_INDIRECT_DESC) | \
	F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static char bin[PATH_MAX];
static const char *noenv;	/* why the tests cannot run here */
static int tapn;
static char tapname[IFNAMSIZ];
static int ifindex;
static pid_t pid = -1;
static int sock = -1, memfd, psock = -1, ssock = -1, logfd = -1;
static uint8_t *mem;
static struct vf_queue rq[2];
static uint64_t mtu_f;		/* VIRTIO_NET_F_MTU when --mtu was given */

static bool have_bin;

static bool
find_binary(void)
{
	return vf_find_binary(bin, sizeof(bin), "hyve-net", "HYVE_NET");
}

static void
sysctl_write(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0)
			(void)0;
		close(fd);
	}
}

/* Once: a private network namespace where taps may be created. */
static int
group_setup(void **state)
{
	int fd;

	(void)state;
	have_bin = find_binary();
	if (!have_bin) {
		noenv = "hyve-net not found next to the test binary; run make "
		    "build/hyve-net (or set HYVE_NET)";
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		noenv = "unshare(CLONE_NEWNET) failed (needs root)";
		return 0;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		noenv = "/dev/net/tun cannot be opened";
		return 0;
	}
	close(fd);
	/* No IPv6 chatter (DAD, MLD) on the taps: only our frames flow. */
	sysctl_write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	sysctl_write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
need_env(void)
{
	if (noenv != NULL) {
		fprintf(stderr, "SKIP: %s\n", noenv);
		skip();
	}
}

static int
tap_open(const char *name, bool persist)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	if (persist)
		assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	return fd;
}

/* MTU 9000 (room for the 4000-byte frame), up, and packet sockets on it. */
static void
link_up(const char *name)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = 9000;
	assert_int_equal(ioctl(s, SIOCSIFMTU, &ifr), 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	ifindex = if_nametoindex(name);
	assert_true(ifindex > 0);

	psock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(psock >= 0);
	assert_int_equal(setsockopt(psock, SOL_PACKET, PACKET_VNET_HDR, &one,
	    sizeof(one)), 0);
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	assert_int_equal(bind(psock, (struct sockaddr *)&sll, sizeof(sll)), 0);
	ssock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	assert_true(ssock >= 0);
	sll.sll_protocol = 0;		/* send only */
	assert_int_equal(bind(ssock, (struct sockaddr *)&sll, sizeof(sll)), 0);
}

static void
guest_mem(void)
{
	memfd = vf_guest_mem("net-guest", MEMSZ, &mem);
	assert_true(memfd >= 0);
	for (int q = 0; q < 2; q++)
		vf_queue_open(&rq[q]);
}

static const char *tx_batch = "64";	/* --tx-batch of the next spawn */

static void
spawn(int tapfd, const char *mac)
{
	const char *argv[] = { bin, "--fd", "3", "--tap-fd", "4", "--mac", mac,
	    "--mtu", "9000", "--name", "net-test", "--tx-batch", tx_batch, NULL };

	logfd = memfd_create("net-log", MFD_CLOEXEC);
	assert_true(logfd >= 0);
	sock = vf_spawn(argv, &tapfd, 1, logfd, &pid);
}

static int
setup(void **state)
{
	int tapfd;

	(void)state;
	if (noenv != NULL)
		return 0;
	snprintf(tapname, sizeof(tapname), "hyvet%d", tapn++);
	tapfd = tap_open(tapname, false);
	link_up(tapname);
	guest_mem();
	spawn(tapfd, "52:54:00:12:34:56");
	mtu_f = F(VIRTIO_NET_F_MTU);
	close(tapfd);		/* the tap goes away with the backend */
	return 0;
}

/* What the backend logged so far. */
static const char *
backend_log(void)
{
	static char b[16384];
	ssize_t n = pread(logfd, b, sizeof(b) - 1, 0);

	b[n > 0 ? n : 0] = '\0';
	return b;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
teardown(void **state)
{
	int st;

	(void)state;
	if (noenv != NULL)
		return 0;
	close_fd(&sock);
	if (pid > 0) {
		/* The frontend went away: the backend must exit 0.  Bounds here
		 * are for a hang; a loaded machine under ASan needs seconds. */
		for (int i = 0; i < 6000 && waitpid(pid, &st, WNOHANG) == 0; i++)
			usleep(10000);
		if (kill(pid, 0) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("hyve-net did not exit when its socket closed");
		}
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	pid = -1;
	if (logfd >= 0)
		fputs(backend_log(), stderr);
	close_fd(&logfd);
	close_fd(&psock);
	close_fd(&ssock);
	munmap(mem, MEMSZ);
	close(memfd);
	for (int q = 0; q < 2; q++)
		vf_queue_close(&rq[q]);
	return 0;
}

static void
call_ok(struct vu_msg *m, struct vu_msg *r)
{
	vf_call_ok(sock, m, r);
}

/* Sets the device up like the core does, with the given net features. */
static void
configure(uint64_t netf)
{
	struct vu_msg m, r;

	netf |= BASE_F | mtu_f;
	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64 & netf, netf);
	assert_int_equal(!!(r.p.u64 & F(VIRTIO_NET_F_MTU)), !!mtu_f);
	vu_msg_u64(&m, VU_SET_FEATURES, netf);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	call_ok(&m, &r);
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PF_REPLY_ACK |
	    1ull << VU_PF_MQ | 1ull << VU_PF_CONFIG);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_SET_OWNER, 0);
	call_ok(&m, &r);
	vu_msg_init(&m, VU_GET_QUEUE_NUM, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.u64, 2);

	vf_mem_table(sock, memfd, MEMSZ, UVA);
	vf_ring(sock, mem, UVA, 0, NUM, RXRING, &rq[0]);
	vf_ring(sock, mem, UVA, 1, NUM, TXRING, &rq[1]);
}

struct buf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

/* Makes the buffers one chain, offers it and kicks.  Returns the head. */
static uint16_t
post(unsigned q, const struct buf *b, unsigned n)
{
	struct vf_queue *r = &rq[q];
	uint16_t head = r->next % NUM, idx = r->avail->idx;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (head + i) % NUM;

		r->desc[d] = (struct vring_desc){ b[i].gpa, b[i].len, b[i].flags,
		    (d + 1) % NUM };
		if (i + 1 < n)
			r->desc[d].flags |= VRING_DESC_F_NEXT;
	}
	r->next += n;
	*virtq_used_event(r->avail, NUM) = r->used->idx;
	r->avail->ring[idx % NUM] = head;
	__atomic_store_n(&r->avail->idx, idx + 1, __ATOMIC_RELEASE);
	eventfd_write(rq[q].kick, 1);
	return head;
}

/* Waits up to 5 s for the used index to reach idx. */
static bool
wait_used(unsigned q, uint16_t idx)
{
	for (int i = 0; i < 60000; i++) {
		if (__atomic_load_n(&rq[q].used->idx, __ATOMIC_ACQUIRE) == idx)
			return true;
		usleep(1000);
	}
	return false;
}

/* An Ethernet frame of len bytes whose payload starts with id. */
static void
make_frame(uint8_t *f, size_t len, const uint8_t *dst, const uint8_t *src,
    uint8_t id)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETYPE >> 8;
	f[13] = ETYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 7 + id);
	f[14] = id;
}

/* Guest tx: header and frame in two buffers of one chain. */
static void
tx(const struct virtio_net_hdr_mrg_rxbuf *h, const uint8_t *f, size_t len)
{
	struct buf b[2] = {
		{ TXBUF, HDRLEN, 0 },
		{ TXBUF + 0x1000, len, 0 },
	};

	memcpy(mem + TXBUF, h, HDRLEN);
	memcpy(mem + TXBUF + 0x1000, f, len);
	post(1, b, 2);
}

/*
 * The next frame from the guest's MAC seen by the host stack, with its
 * vnet header (10 bytes, PACKET_VNET_HDR).  Returns its length or -1.
 */
static ssize_t
host_recv(struct virtio_net_hdr *vh, uint8_t *f, size_t max, int ms)
{
	static uint8_t b[70000];
	struct pollfd p = { .fd = psock, .events = POLLIN };

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = recv(psock, b, sizeof(b), MSG_DONTWAIT);

		if (n < (ssize_t)(sizeof(*vh) + 14))
			continue;
		if (memcmp(b + sizeof(*vh) + 6, guest_mac, 6) != 0)
			continue;
		n -= sizeof(*vh);
		memcpy(vh, b, sizeof(*vh));
		if ((size_t)n > max)
			n = max;
		memcpy(f, b + sizeof(*vh), n);
		return n;
	}
	return -1;
}

/* A frame for the guest: the host stack sends it out of the tap. */
static void
host_send(const uint8_t *f, size_t len)
{
	assert_int_equal(send(ssock, f, len, 0), (ssize_t)len);
}

static void
rx_post(unsigned count, uint32_t len)
{
	for (unsigned i = 0; i < count; i++) {
		struct buf b = { RXBUF + (uint64_t)(rq[0].next % NUM) * 0x1000,
		    len, VRING_DESC_F_WRITE };

		post(0, &b, 1);
	}
}

static uint8_t *
rx_buf(uint16_t head)
{
	return mem + RXBUF + (uint64_t)head * 0x1000;
}

static void
test_config(void **state)
{
	struct virtio_net_config c;
	struct vu_msg m, r;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	vu_msg_init(&m, VU_GET_FEATURES, 0);
	call_ok(&m, &r);
	assert_true(r.p.u64 & F(VIRTIO_NET_F_CSUM));
	assert_true(r.p.u64 & F(VIRTIO_NET_F_GUEST_TSO4));
	assert_true(r.p.u64 & F(VIRTIO_NET_F_HOST_TSO6));
	assert_false(r.p.u64 & F(VIRTIO_NET_F_CTRL_VQ));

	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + sizeof(c));
	m.p.config.offset = 0;
	m.p.config.size = sizeof(c);
	call_ok(&m, &r);
	assert_int_equal(r.hdr.size, VU_CONFIG_HDR + sizeof(c));
	memcpy(&c, r.p.config.data, sizeof(c));
	assert_memory_equal(c.mac, guest_mac, 6);
	assert_int_equal(c.status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(c.max_virtqueue_pairs, 1);
	assert_int_equal(c.mtu, 9000);

	/* A read past the config space is refused (an empty reply). */
	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 8);
	m.p.config.offset = sizeof(c) - 4;
	m.p.config.size = 8;
	assert_true(vu_call(sock, &m, &r) < 0);
}

static void
test_tx(void **state)
{
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };
	struct virtio_net_hdr vh;
	uint8_t f[1000], got[2000];
	struct buf one = { TXBUF + 0x8000, HDRLEN + 200, 0 };

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	make_frame(f, sizeof(f), peer_mac, guest_mac, 1);
	tx(&h, f, sizeof(f));
	assert_int_equal(host_recv(&vh, got, sizeof(got), 3000), sizeof(f));
	assert_memory_equal(got, f, sizeof(f));
	assert_false(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_true(wait_used(1, 1));
	assert_int_equal(rq[1].used->ring[0].len, 0);
	assert_true(vf_fired(rq[1].call, 1000));

	/* Header and frame in one buffer. */
	make_frame(f, 200, peer_mac, guest_mac, 2);
	memset(mem + one.gpa, 0, HDRLEN);
	memcpy(mem + one.gpa + HDRLEN, f, 200);
	post(1, &one, 1);
	assert_int_equal(host_recv(&vh, got, sizeof(got), 3000), 200);
	assert_memory_equal(got, f, 200);
	assert_true(wait_used(1, 2));
}

/*
 * QEMU's vhost-user netdev starts a queue with SET_VRING_KICK and only then
 * sends SET_VRING_CALL with the fd of the guest's interrupt, without
 * waiting for us in between; the guest may have queued a frame by then.
 * The new call fd must fire even when the frame was completed before the
 * message was read: an interrupt only on the old fd (QEMU's masked
 * notifier, which nobody reads) is one the guest never gets.  The same
 * for a running ring whose new call fd is still unread when a kick comes.
 */
static void
test_call_fd_replaced(void **state)
{
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };
	struct vu_msg m, r;
	uint8_t f[100];
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	int call2 = eventfd(0, EFD_CLOEXEC);

	(void)state;
	need_env();
	assert_true(kick >= 0 && call >= 0 && call2 >= 0);
	configure(F(VIRTIO_NET_F_MRG_RXBUF));

	/* Stopped, a frame queued, then restarted in QEMU's order. */
	vu_msg_state(&m, VU_GET_VRING_BASE, 1, 0);
	call_ok(&m, &r);
	assert_int_equal(r.p.state.num, 0);
	make_frame(f, sizeof(f), peer_mac, guest_mac, 7);
	tx(&h, f, sizeof(f));
	eventfd_write(kick, 1);
	vu_msg_state(&m, VU_SET_VRING_BASE, 1, 0);
	assert_int_equal(vu_send(sock, &m), 0);
	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, 1, kick);
	assert_int_equal(vu_send(sock, &m), 0);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 1, call);
	assert_int_equal(vu_send(sock, &m), 0);
	assert_true(wait_used(1, 1));
	assert_true(vf_fired(call, 3000));

	/* Running: the new call fd is on its way when the guest kicks. */
	vu_msg_init(&m, VU_SET_OWNER, 0);
	assert_int_equal(vu_send(sock, &m), 0);
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, 1, call2);
	assert_int_equal(vu_send(sock, &m), 0);
	make_frame(f, sizeof(f), peer_mac, guest_mac, 8);
	tx(&h, f, sizeof(f));	/* its kick goes to the old, closed ring fd */
	eventfd_write(kick, 1);
	assert_true(wait_used(1, 2));
	assert_true(vf_fired(call2, 3000));
	close(kick);
	close(call);
	close(call2);
}

static void
test_rx(void **state)
{
	struct virtio_net_hdr_mrg_rxbuf h;
	uint8_t f[60];

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	rx_post(2, 2048);
	make_frame(f, sizeof(f), guest_mac, peer_mac, 3);
	host_send(f, sizeof(f));
	assert_true(wait_used(0, 1));
	assert_true(vf_fired(rq[0].call, 1000));
	assert_int_equal(rq[0].used->ring[0].id, 0);
	assert_int_equal(rq[0].used->ring[0].len, HDRLEN + sizeof(f));
	memcpy(&h, rx_buf(0), HDRLEN);
	assert_int_equal(h.num_buffers, 1);
	assert_int_equal(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(rx_buf(0) + HDRLEN, f, sizeof(f));

	/* The next frame takes the next buffer. */
	make_frame(f, sizeof(f), guest_mac, peer_mac, 4);
	host_send(f, sizeof(f));
	assert_true(wait_used(0, 2));
	assert_int_equal(rq[0].used->ring[1].id, 1);
	assert_memory_equal(rx_buf(1) + HDRLEN, f, sizeof(f));
}

static void
test_rx_mergeable(void **state)
{
	static uint8_t f[4000], all[HDRLEN + 4000];
	struct virtio_net_hdr_mrg_rxbuf h;
	struct vring_used_elem *u;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	u = rq[0].used->ring;
	rx_post(4, 1500);
	make_frame(f, sizeof(f), guest_mac, peer_mac, 5);
	host_send(f, sizeof(f));
	assert_true(wait_used(0, 3));
	assert_int_equal(u[0].len, 1500);
	assert_int_equal(u[1].len, 1500);
	assert_int_equal(u[2].len, HDRLEN + sizeof(f) - 3000);
	memcpy(&h, rx_buf(u[0].id), HDRLEN);
	assert_int_equal(h.num_buffers, 3);
	for (int i = 0; i < 3; i++)
		memcpy(all + i * 1500, rx_buf(u[i].id), u[i].len);
	assert_memory_equal(all + HDRLEN, f, sizeof(f));
	usleep(50000);
	assert_int_equal(rq[0].used->idx, 3);	/* the 4th chain stays free */
}

static void
test_rx_no_mergeable(void **state)
{
	static uint8_t f[4000];
	struct virtio_net_hdr_mrg_rxbuf h;

	(void)state;
	need_env();
	configure(0);
	rx_post(2, 1500);
	/* Too big for one buffer: dropped, the buffers stay the guest's. */
	make_frame(f, sizeof(f), guest_mac, peer_mac, 6);
	host_send(f, sizeof(f));
	make_frame(f, 100, guest_mac, peer_mac, 7);
	host_send(f, 100);
	assert_true(wait_used(0, 1));
	assert_int_equal(rq[0].used->ring[0].id, 0);
	assert_int_equal(rq[0].used->ring[0].len, HDRLEN + 100);
	memcpy(&h, rx_buf(0), HDRLEN);
	assert_int_equal(h.num_buffers, 1);
	assert_memory_equal(rx_buf(0) + HDRLEN, f, 100);
	usleep(50000);
	assert_int_equal(rq[0].used->idx, 1);
	assert_non_null(strstr(backend_log(), "larger than the guest's receive "
	    "buffers (1 "));
}

static void
test_rx_waits_for_buffers(void **state)
{
	uint8_t f[3][80];

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	for (int i = 0; i < 3; i++) {
		make_frame(f[i], sizeof(f[i]), guest_mac, peer_mac, 10 + i);
		host_send(f[i], sizeof(f[i]));
	}
	usleep(200000);
	assert_int_equal(rq[0].used->idx, 0);
	/* One buffer: one frame, the rest keep waiting in the tap. */
	rx_post(1, 2048);
	assert_true(wait_used(0, 1));
	assert_memory_equal(rx_buf(0) + HDRLEN, f[0], sizeof(f[0]));
	usleep(100000);
	assert_int_equal(rq[0].used->idx, 1);
	rx_post(2, 2048);
	assert_true(wait_used(0, 3));
	assert_memory_equal(rx_buf(1) + HDRLEN, f[1], sizeof(f[1]));
	assert_memory_equal(rx_buf(2) + HDRLEN, f[2], sizeof(f[2]));
	assert_false(vf_fired(rq[0].err, 0));
}

/* A minimal IPv4 frame: UDP, or TCP when tcp is set. */
static size_t
make_ip(uint8_t *f, size_t payload, bool tcp)
{
	size_t l4 = tcp ? 20 : 8, len = 14 + 20 + l4 + payload;
	uint8_t *ip = f + 14, *th = f + 34;

	memset(f, 0, len);
	memcpy(f, peer_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (len - 14) >> 8;
	ip[3] = (len - 14) & 0xff;
	ip[8] = 64;
	ip[9] = tcp ? 6 : 17;
	memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	th[0] = 0x30;		/* ports 12345 -> 80 */
	th[1] = 0x39;
	th[3] = 80;
	if (tcp) {
		th[12] = 5 << 4;
		th[13] = 0x18;	/* PSH ACK */
		th[15] = 0xff;
	} else {
		th[4] = (l4 + payload) >> 8;
		th[5] = (l4 + payload) & 0xff;
	}
	for (size_t i = 34 + l4; i < len; i++)
		f[i] = (uint8_t)i;
	return len;
}

static void
test_tx_offload(void **state)
{
	static uint8_t f[4000], got[70000];
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };
	struct virtio_net_hdr vh;
	size_t len;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4));
	len = make_ip(f, 100, false);
	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr.csum_start = 34;
	h.hdr.csum_offset = 6;
	tx(&h, f, len);
	assert_int_equal(host_recv(&vh, got, sizeof(got), 3000), len);
	assert_memory_equal(got, f, len);
	assert_true(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 6);

	/* TSO: one 3000-byte TCP segment to be cut at 1000 bytes. */
	len = make_ip(f, 3000, true);
	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.hdr.gso_size = 1000;
	h.hdr.hdr_len = 54;
	h.hdr.csum_start = 34;
	h.hdr.csum_offset = 16;
	tx(&h, f, len);
	assert_int_equal(host_recv(&vh, got, sizeof(got), 3000), len);
	assert_memory_equal(got, f, len);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vh.gso_size, 1000);
	assert_true(wait_used(1, 2));
}

static void
test_rx_offload(void **state)
{
	static uint8_t f[4000];
	struct virtio_net_hdr_mrg_rxbuf h;
	struct virtio_net_hdr vh = { 0 };
	struct iovec v[2];
	size_t len;
	int one = 1;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_GUEST_CSUM) |
	    F(VIRTIO_NET_F_GUEST_TSO4));
	rx_post(2, 0x1000);
	/* Host sends a TSO frame: with the tap's offload set, it stays one. */
	assert_int_equal(setsockopt(ssock, SOL_PACKET, PACKET_VNET_HDR, &one,
	    sizeof(one)), 0);
	len = make_ip(f, 3000, true);
	memcpy(f, guest_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 1000;
	vh.hdr_len = 54;
	vh.csum_start = 34;
	vh.csum_offset = 16;
	v[0] = (struct iovec){ &vh, sizeof(vh) };
	v[1] = (struct iovec){ f, len };
	assert_int_equal(writev(ssock, v, 2), (ssize_t)(sizeof(vh) + len));
	assert_true(wait_used(0, 1));
	assert_int_equal(rq[0].used->ring[0].len, HDRLEN + len);
	memcpy(&h, rx_buf(0), HDRLEN);
	assert_int_equal(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.hdr.gso_size, 1000);
	assert_true(h.hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.num_buffers, 1);
	assert_memory_equal(rx_buf(0) + HDRLEN, f, len);
}

static void
test_tx_hostile(void **state)
{
	static uint8_t f[70000], got[2000];
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };
	struct virtio_net_hdr vh;
	struct buf shorthdr = { TXBUF + 0x20000, 8, 0 };
	int st;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4));
	make_frame(f, 200, peer_mac, guest_mac, 20);
	h.hdr.gso_type = 5;			/* unknown */
	tx(&h, f, 200);
	assert_true(wait_used(1, 1));
	h.hdr.gso_type = 0;
	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr.csum_start = 190;		/* 190 + 10 + 2 > 200 */
	h.hdr.csum_offset = 10;
	tx(&h, f, 200);
	assert_true(wait_used(1, 2));
	post(1, &shorthdr, 1);			/* 8 bytes: no room for header */
	assert_true(wait_used(1, 3));
	memset(&h, 0, sizeof(h));
	make_frame(f, sizeof(f), peer_mac, guest_mac, 21);
	tx(&h, f, 65537);			/* over 64 KiB */
	assert_true(wait_used(1, 4));
	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;	/* not negotiated */
	h.hdr.gso_size = 1000;
	h.hdr.csum_start = 54;
	h.hdr.csum_offset = 16;
	tx(&h, f, 200);
	assert_true(wait_used(1, 5));
	for (int i = 0; i < 5; i++)
		assert_int_equal(rq[1].used->ring[i].len, 0);
	/* Each was refused by the backend, not by the tap. */
	assert_non_null(strstr(backend_log(), "unknown gso_type (1 "));
	assert_non_null(strstr(backend_log(), "beyond the frame (2 "));
	assert_non_null(strstr(backend_log(), "vnet header (3 "));
	assert_non_null(strstr(backend_log(), "64 KiB (4 "));
	assert_non_null(strstr(backend_log(), "HOST_TSO6 feature (5 "));

	/* None of them reached the host; the backend still works. */
	memset(&h, 0, sizeof(h));
	make_frame(f, 300, peer_mac, guest_mac, 22);
	tx(&h, f, 300);
	assert_int_equal(host_recv(&vh, got, sizeof(got), 3000), 300);
	assert_int_equal(got[14], 22);
	assert_true(wait_used(1, 6));
	assert_false(vf_fired(rq[1].err, 0));
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
}

static void
test_rx_bad_chain(void **state)
{
	struct buf b = { RXBUF, 2048, 0 };	/* device-readable: wrong */
	uint8_t f[60];
	int st;

	(void)state;
	need_env();
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	post(0, &b, 1);
	make_frame(f, sizeof(f), guest_mac, peer_mac, 30);
	host_send(f, sizeof(f));
	assert_true(vf_fired(rq[0].err, 3000));
	assert_int_equal(rq[0].used->idx, 0);
	assert_non_null(strstr(backend_log(), "device-readable"));
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
}

static void
get_mac(uint8_t mac[6])
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_GET_CONFIG, VU_CONFIG_HDR + 6);
	m.p.config.size = 6;
	call_ok(&m, &r);
	assert_int_equal(r.hdr.size, VU_CONFIG_HDR + 6);
	memcpy(mac, r.p.config.data, 6);
}

/* One frame host -> guest on a fresh connection. */
static void
rx_once(uint8_t id)
{
	uint8_t f[64];

	rx_post(1, 2048);
	make_frame(f, sizeof(f), guest_mac, peer_mac, id);
	host_send(f, sizeof(f));
	assert_true(wait_used(0, 1));
	assert_memory_equal(rx_buf(0) + HDRLEN, f, sizeof(f));
}

static void
test_standalone(void **state)
{
	char path[108];
	uint8_t mac1[6], mac2[6];
	int fd, st;

	(void)state;
	need_env();
	snprintf(tapname, sizeof(tapname), "hyves%d", tapn++);
	fd = tap_open(tapname, true);
	close(fd);
	mtu_f = 0;
	link_up(tapname);
	guest_mem();
	snprintf(path, sizeof(path), "/tmp/hyve-net-test.%d", (int)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(bin, bin, "--socket", path, "--tap", tapname, (char *)NULL);
		_exit(127);
	}
	sock = vf_connect(path);
	assert_true(sock >= 0);
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	get_mac(mac1);
	assert_int_equal(mac1[0] & 3, 2);	/* local, unicast */
	rx_once(40);
	close(sock);

	/* The next frontend is served from scratch. */
	sock = vf_connect(path);
	assert_true(sock >= 0);
	configure(F(VIRTIO_NET_F_MRG_RXBUF));
	get_mac(mac2);
	assert_memory_equal(mac1, mac2, 6);
	rx_once(41);
	close_fd(&sock);

	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	pid = -1;
	unlink(path);
	fd = tap_open(tapname, false);
	ioctl(fd, TUNSETPERSIST, 0);
	close(fd);
}

static int
run(const char *a1, const char *a2, const char *a3, const char *a4)
{
	pid_t p = fork();
	int st, null;

	assert_true(p >= 0);
	if (p == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 2);
		dup2(null, 4);
		execl(bin, bin, "--fd", "3", a1, a2, a3, a4, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_bad_options(void **state)
{
	(void)state;
	if (!have_bin) {	/* needs no namespace, only the binary */
		fprintf(stderr, "SKIP: hyve-net not found\n");
		skip();
	}
	assert_int_equal(run("--tap-fd", "4", "--mtu", "67"), 2);
	assert_int_equal(run("--tap-fd", "4", "--mtu", "65536"), 2);
	assert_int_equal(run("--tap-fd", "4", "--mac", "01:00:00:00:00:01"), 2);
	assert_int_equal(run("--tap-fd", "4", "--mac", "52:54:00:12:34"), 2);
	assert_int_equal(run("--tap-fd", "4", "--bogus", "1"), 2);
	assert_int_equal(run("--tap", "x", "--tap-fd", "4"), 2);
	/* fd 4 is /dev/null, not a tap. */
	assert_int_equal(run("--tap-fd", "4", "--name", "n"), 1);
}

/* The same frames written one writev each instead of batched. */
#define ONE_BY_ONE(t) static void t##_one(void **state) \
	{ tx_batch = "1"; t(state); tx_batch = "64"; }
ONE_BY_ONE(test_tx)
ONE_BY_ONE(test_tx_offload)
ONE_BY_ONE(test_tx_hostile)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_fd_replaced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_no_mergeable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tx_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_offload_one, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tx_hostile_one, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rx_bad_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standalone, NULL, teardown),
		cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
