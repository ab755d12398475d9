/*
 * vunet: hyve-net alone, against the tap's own limit.
 *
 * With --socket, a minimal vhost-user-net frontend: it gives the backend a
 * memfd as "guest memory" and the two queues of one pair, then for SECS
 * seconds either keeps the tx ring full of SIZE-byte frames (one kick per
 * batch, waiting on the call eventfd like a guest waiting for its
 * interrupt) or keeps the rx ring full of empty buffers while a child
 * floods the backend's tap.  With --raw TAP, the same frames go through a
 * tap opened the same way (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12-byte
 * vnet header) by this program alone, one write() or read() per frame: the
 * most the tap passes to or from one process that does nothing else.
 *
 * The tx frames are addressed to a MAC nobody has: the host takes each one
 * from the tap and drops it.  --tso sends 65536-byte TCP/IPv4 frames with
 * GSO_TCPV4 and gso_size 1448 (the backend must offer HOST_TSO4); mbps is
 * then Mbit/s of TCP payload.  The rx flood is SIZE-byte frames sent with
 * sendmmsg on a packet socket bound to the tap (--flood-if for the
 * backend's tap), as fast as the tap takes them; a full tap queue drops
 * the rest, so the rx rate is the reader's.
 *
 * Output (one line):
 *   vunet LABEL tx|rx|tso SIZE pps=N mbps=N cpu_us=N fe_cpu_us=N
 * cpu_us: CPU time per frame of the backend (--pid), or of this program
 * with --raw; fe_cpu_us: this program's with --socket (the "guest").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "ipc/vhost_user.h"
#include "ipc/virtq.h"
#include "lib/log.h"
#include "bench/fe.h"

#define UVA		0x7f0000000000ull
#define NUM		256
#define HDRLEN		12		/* virtio_net_hdr_mrg_rxbuf (VERSION_1) */
#define RING(q)		(0x10000ull * ((q) + 1))
#define SLOT		0x11000ull	/* vnet header + 64 KiB frame */
#define BUF(q, s)	(0x100000ull + ((q) * NUM + (s)) * SLOT)
#define MEMSZ		BUF(2, 0)
#define RXBUF		2048		/* one rx buffer: a whole 1514-byte frame */
#define TSO_SIZE	65536
#define TSO_MSS		1448
#define TSO_HDRS	54		/* Ethernet + IPv4 + TCP */
#define FLOOD_BATCH	32

enum { RXQ, TXQ };
enum { TX, RX, TSO };

struct queue {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_used;
	int kick, call;
};

static int sock = -1, errfd;
static uint8_t *mem;
static struct queue qs[2];
static const uint8_t nobody[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };
static const uint8_t us[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint16_t
ip_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * One tx frame with its vnet header at p: SIZE bytes of ethertype 0x88B5,
 * or a 64 KiB TCP/IPv4 segment for the tap to take whole.  Returns the
 * bytes written (header included).
 */
static size_t
make_frame(uint8_t *p, int mode, size_t size)
{
	struct virtio_net_hdr_mrg_rxbuf *h = (void *)p;
	uint8_t *f = p + HDRLEN, *ip = f + 14, *tcp = ip + 20;
	uint32_t sum;

	memset(p, 0, HDRLEN + size);
	memcpy(f, nobody, 6);
	memcpy(f + 6, us, 6);
	if (mode != TSO) {
		f[12] = 0x88;
		f[13] = 0xb5;
		memcpy(f + 14, "HYVE-VUNET", 10);
		return HDRLEN + size;
	}
	f[12] = 0x08;
	f[13] = 0x00;
	ip[0] = 0x45;
	ip[2] = (size - 14) >> 8;
	ip[3] = (size - 14) & 0xff;
	ip[6] = 0x40;			/* DF */
	ip[8] = 64;
	ip[9] = 6;			/* TCP */
	memcpy(ip + 12, (uint8_t[]){ 10, 0, 0, 2, 10, 0, 0, 9 }, 8);
	sum = ip_csum(ip, 20, 0);
	ip[10] = ~sum >> 8;
	ip[11] = ~sum & 0xff;
	tcp[0] = 0x04; tcp[1] = 0xd2;	/* 1234 -> 5678 */
	tcp[2] = 0x16; tcp[3] = 0x2e;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;			/* PSH ACK */
	tcp[14] = 0xff; tcp[15] = 0xff;
	/* The pseudo-header sum (length 0, as for TSO) for the tap to finish. */
	sum = ip_csum(ip + 12, 8, 6);
	tcp[16] = sum >> 8;
	tcp[17] = sum & 0xff;
	h->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr.hdr_len = TSO_HDRS;
	h->hdr.gso_size = TSO_MSS;
	h->hdr.csum_start = 34;
	h->hdr.csum_offset = 16;
	return HDRLEN + size;
}

/* The flood child: SIZE-byte frames on ifname until killed. */
static pid_t
flood(const char *ifname, size_t size)
{
	static uint8_t frames[FLOOD_BATCH][1514];
	struct mmsghdr msg[FLOOD_BATCH];
	struct iovec iov[FLOOD_BATCH];
	struct sockaddr_ll sa = { .sll_family = AF_PACKET };
	int s, one = 1;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	sa.sll_protocol = htons(0x88b5);
	sa.sll_ifindex = (int)if_nametoindex(ifname);
	if (s < 0 || sa.sll_ifindex == 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "vunet: flood on %s: %s\n", ifname,
		    strerror(errno));
		_exit(1);
	}
	/* Straight to the tap's queue, no qdisc: a full queue drops. */
	setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(msg, 0, sizeof(msg));
	for (int i = 0; i < FLOOD_BATCH; i++) {
		memset(frames[i], 0, size);
		memcpy(frames[i], nobody, 6);
		memcpy(frames[i] + 6, us, 6);
		frames[i][12] = 0x88;
		frames[i][13] = 0xb5;
		iov[i] = (struct iovec){ frames[i], size };
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;)
		sendmmsg(s, msg, FLOOD_BATCH, 0);
}

static void
stop_flood(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int
open_tap(const char *name)
{
	struct ifreq ifr;
	int fd, hdrlen = HDRLEN;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		hlog("tap %s: /dev/net/tun: %s", name, strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
		hlog("tap %s: cannot attach: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The tap alone: one write() or read() per frame for secs seconds. */
static int
run_raw(const char *tap, int mode, size_t size, double warm, double secs,
    uint64_t *frames, double *el, double *cpu)
{
	static uint8_t buf[HDRLEN + TSO_SIZE];
	struct pollfd pf;
	size_t len = 0;
	double t0, tstart = 0, tend, c0 = 0, t;
	uint64_t n = 0;
	pid_t fl = -1;
	ssize_t r;
	int fd;

	if ((fd = open_tap(tap)) < 0)
		return -1;
	if (mode == RX)
		fl = flood(tap, size);
	else
		len = make_frame(buf, mode, size);
	pf = (struct pollfd){ .fd = fd, .events = mode == RX ? POLLIN : POLLOUT };
	t0 = now();
	tend = t0 + warm + secs;
	for (int warmed = 0;;) {
		if (mode == RX)
			r = read(fd, buf, sizeof(buf));
		else
			r = write(fd, buf, len);
		if (r < 0 && errno == EAGAIN) {
			if (poll(&pf, 1, 1000) <= 0) {
				hlog("tap %s: no progress in 1 s", tap);
				stop_flood(fl);
				return -1;
			}
			continue;
		}
		if (r < 0) {
			hlog("tap %s: %s: %s", tap, mode == RX ? "read" : "write",
			    strerror(errno));
			stop_flood(fl);
			return -1;
		}
		if ((n & 63) == 0) {
			t = now();
			if (!warmed && t >= t0 + warm) {
				warmed = 1;
				n = 0;
				tstart = t;
				c0 = fe_self_cpu();
			} else if (warmed && t >= tend) {
				break;
			}
		}
		n++;
	}
	*el = now() - tstart;
	*cpu = fe_self_cpu() - c0;
	*frames = n;
	stop_flood(fl);
	close(fd);
	return 0;
}

static int
setup_queue(unsigned q)
{
	struct virtq_layout l;
	struct vu_msg m, r;
	struct queue *Q = &qs[q];

	virtq_layout(NUM, 4096, &l);
	Q->desc = (void *)(mem + RING(q) + l.desc);
	Q->avail = (void *)(mem + RING(q) + l.avail);
	Q->used = (void *)(mem + RING(q) + l.used);
	Q->kick = eventfd(0, EFD_CLOEXEC);
	Q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (Q->kick < 0 || Q->call < 0)
		return -errno;
	vu_msg_state(&m, VU_SET_VRING_NUM, q, NUM);
	if (fe_call(sock, &m, &r, "SET_VRING_NUM") < 0)
		return -EIO;
	vu_msg_state(&m, VU_SET_VRING_BASE, q, 0);
	if (fe_call(sock, &m, &r, "SET_VRING_BASE") < 0)
		return -EIO;
	vu_msg_init(&m, VU_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.p.addr.index = q;
	m.p.addr.desc_user_addr = UVA + RING(q) + l.desc;
	m.p.addr.avail_user_addr = UVA + RING(q) + l.avail;
	m.p.addr.used_user_addr = UVA + RING(q) + l.used;
	if (fe_call(sock, &m, &r, "SET_VRING_ADDR") < 0)
		return -EIO;
	vu_msg_vring_fd(&m, VU_SET_VRING_CALL, q, Q->call);
	if (fe_call(sock, &m, &r, "SET_VRING_CALL") < 0)
		return -EIO;
	vu_msg_vring_fd(&m, VU_SET_VRING_ERR, q, errfd);
	if (fe_call(sock, &m, &r, "SET_VRING_ERR") < 0)
		return -EIO;
	return 0;
}

static int
start_queue(unsigned q)
{
	struct vu_msg m, r;

	vu_msg_vring_fd(&m, VU_SET_VRING_KICK, q, qs[q].kick);
	if (fe_call(sock, &m, &r, "SET_VRING_KICK") < 0)
		return -EIO;
	vu_msg_state(&m, VU_SET_VRING_ENABLE, q, 1);
	if (fe_call(sock, &m, &r, "SET_VRING_ENABLE") < 0)
		return -EIO;
	return 0;
}

static int
setup(int mode)
{
	struct vu_msg m, r;
	uint64_t f, want;

	vu_msg_init(&m, VU_GET_FEATURES, 0);
	if (fe_call(sock, &m, &r, "GET_FEATURES") < 0)
		return -EIO;
	f = r.p.u64;
	want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES);
	if (mode == TSO)
		want |= (1ull << VIRTIO_NET_F_CSUM) |
		    (1ull << VIRTIO_NET_F_HOST_TSO4);
	if ((f & want) != want) {
		hlog("backend: lacks features 0x%llx (offers 0x%llx)",
		    (unsigned long long)(want & ~f), (unsigned long long)f);
		return -ENOTSUP;
	}
	vu_msg_u64(&m, VU_SET_FEATURES, want);
	if (fe_call(sock, &m, &r, "SET_FEATURES") < 0)
		return -EIO;
	vu_msg_init(&m, VU_GET_PROTOCOL_FEATURES, 0);
	if (fe_call(sock, &m, &r, "GET_PROTOCOL_FEATURES") < 0)
		return -EIO;
	vu_msg_u64(&m, VU_SET_PROTOCOL_FEATURES,
	    r.p.u64 & (1ull << VU_PF_REPLY_ACK));
	if (fe_call(sock, &m, &r, "SET_PROTOCOL_FEATURES") < 0)
		return -EIO;
	vu_msg_init(&m, VU_SET_OWNER, 0);
	if (fe_call(sock, &m, &r, "SET_OWNER") < 0)
		return -EIO;
	vu_msg_init(&m, VU_SET_MEM_TABLE, 8 + sizeof(struct vu_region));
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, MEMSZ, UVA, 0 };
	if (vu_msg_add_fd(&m, memfd_create("vunet-guest", MFD_CLOEXEC)) < 0)
		return -EIO;
	{
		int fd = m.fds[0];

		if (fd < 0 || ftruncate(fd, MEMSZ) < 0 ||
		    (mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0)) == MAP_FAILED) {
			hlog("guest memory: %s", strerror(errno));
			return -errno;
		}
		if (fe_call(sock, &m, &r, "SET_MEM_TABLE") < 0)
			return -EIO;
		close(fd);
	}
	if (setup_queue(RXQ) < 0 || setup_queue(TXQ) < 0)
		return -EIO;
	return 0;
}

/* Puts head s (descriptor s, one buffer) on queue q's avail ring. */
static void
post(unsigned q, uint16_t s)
{
	struct queue *Q = &qs[q];
	uint16_t idx = Q->avail->idx;

	Q->avail->ring[idx % NUM] = s;
	__atomic_store_n(&Q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* The backend: keep queue q full for secs seconds, counting completions. */
static int
run_vu(int mode, size_t size, double warm, double secs, int pid,
    const char *flood_if, uint64_t *frames, double *el, double *cpu,
    double *fecpu)
{
	unsigned q = mode == RX ? RXQ : TXQ;
	struct queue *Q = &qs[q];
	struct pollfd pf[2];
	double t0, tstart = 0, tend, t, c0 = 0, f0 = 0;
	uint64_t n = 0;
	int warmed = 0;
	pid_t fl = -1;
	eventfd_t ev;

	for (uint16_t s = 0; s < NUM; s++) {
		uint64_t a = BUF(q, s);

		/* Guest-physical addresses: the region starts at 0. */
		if (q == TXQ)
			Q->desc[s] = (struct vring_desc){ a,
			    make_frame(mem + a, mode, size), 0, 0 };
		else
			Q->desc[s] = (struct vring_desc){ a, RXBUF,
			    VRING_DESC_F_WRITE, 0 };
		post(q, s);
	}
	if (start_queue(RXQ) < 0 || start_queue(TXQ) < 0)
		return -1;
	if (mode == RX && (fl = flood(flood_if, size)) < 0)
		return -1;
	eventfd_write(Q->kick, 1);
	pf[0] = (struct pollfd){ .fd = Q->call, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = errfd, .events = POLLIN };
	t0 = now();
	tend = t0 + warm + secs;
	for (;;) {
		uint16_t u = __atomic_load_n(&Q->used->idx, __ATOMIC_ACQUIRE);

		if (u == Q->last_used) {
			if (poll(pf, 2, 2000) <= 0 || pf[1].revents) {
				hlog("backend: %s", pf[1].revents ? "put a queue "
				    "in error" : "no completion in 2 s");
				stop_flood(fl);
				return -1;
			}
			eventfd_read(Q->call, &ev);
			continue;
		}
		t = now();
		if (!warmed && t >= t0 + warm) {
			warmed = 1;
			tstart = t;
			c0 = fe_proc_cpu(pid);
			f0 = fe_self_cpu();
		} else if (warmed) {
			n += (uint16_t)(u - Q->last_used);
		}
		for (; Q->last_used != u; Q->last_used++) {
			uint32_t id = Q->used->ring[Q->last_used % NUM].id;

			if (id >= NUM) {
				hlog("backend: used ring names head %u", id);
				stop_flood(fl);
				return -1;
			}
			post(q, id);
		}
		eventfd_write(Q->kick, 1);
		if (warmed && t >= tend)
			break;
	}
	*el = now() - tstart;
	*cpu = fe_proc_cpu(pid) - c0;
	*fecpu = fe_self_cpu() - f0;
	*frames = n;
	stop_flood(fl);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: vunet --socket PATH --pid BACKEND --flood-if TAP "
	    "| --raw TAP\n\t[--label L] [--mode tx|rx|tso] [--size BYTES] "
	    "[--time SECS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", 1, NULL, 's' }, { "raw", 1, NULL, 'R' },
		{ "label", 1, NULL, 'l' }, { "mode", 1, NULL, 'm' },
		{ "size", 1, NULL, 'z' }, { "time", 1, NULL, 't' },
		{ "pid", 1, NULL, 'p' }, { "flood-if", 1, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *raw = NULL, *label = "backend";
	const char *mname = "tx", *flood_if = NULL;
	size_t size = 64;
	double secs = 3, warm = 0.5, el = 0, cpu = 0, fecpu = 0, pl;
	uint64_t frames = 0;
	int mode, pid = 0, c, rc;

	log_set_role("vunet");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'R': raw = optarg; break;
		case 'l': label = optarg; break;
		case 'm': mname = optarg; break;
		case 'z': size = strtoul(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'p': pid = atoi(optarg); break;
		case 'f': flood_if = optarg; break;
		default: usage();
		}
	}
	if (!strcmp(mname, "tx"))
		mode = TX;
	else if (!strcmp(mname, "rx"))
		mode = RX;
	else if (!strcmp(mname, "tso"))
		mode = TSO;
	else
		usage();
	if (mode == TSO)
		size = TSO_SIZE;
	if ((path == NULL) == (raw == NULL) || secs <= 0 || size < 60 ||
	    (mode != TSO && size > 1514) ||
	    (path != NULL && (pid <= 0 || (mode == RX && flood_if == NULL))))
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (raw != NULL) {
		rc = run_raw(raw, mode, size, warm, secs, &frames, &el, &cpu);
	} else {
		errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (errfd < 0 || (sock = fe_connect(path)) < 0 || setup(mode) < 0)
			return 1;
		rc = run_vu(mode, size, warm, secs, pid, flood_if, &frames, &el,
		    &cpu, &fecpu);
	}
	if (rc < 0 || frames == 0 || el <= 0) {
		hlog("%s: no frames %s", raw ? raw : path,
		    mode == RX ? "received" : "sent");
		return 1;
	}
	pl = mode == TSO ? TSO_SIZE - TSO_HDRS : size;
	printf("vunet %s %s %zu pps=%.0f mbps=%.1f cpu_us=%.3f fe_cpu_us=%.3f\n",
	    label, mname, size, frames / el, frames * pl * 8 / el / 1e6,
	    cpu >= 0 ? cpu * 1e6 / frames : -1, fecpu * 1e6 / frames);
	if (sock >= 0)
		close(sock);
	return 0;
}
