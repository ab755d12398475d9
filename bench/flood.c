/*
 * The rx peer of the guest's bench-net, in C: netecho.py --flood speaks the
 * same protocol but Python sends some 50,000 frames/s, which is what the rx
 * figure then measures.  On TAP, wait for the guest's "HYVE-FLOOD-START"
 * (ethertype 0x88B5), send it SIZE-byte "HYVE-FLOOD <seq>" frames in
 * batches as fast as the tap takes them until "HYVE-FLOOD-STOP", for at most
 * SECONDS in all (or until SIGINT).  A full tap queue drops the frame,
 * as a wire would.
 *
 * Usage: flood TAP SIZE SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#define ETYPE	0x88B5
#define BATCH	32

static volatile sig_atomic_t stop;
static const uint8_t peer[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static void
on_int(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1 for START, 2 for STOP from the guest (its MAC in mac), else 0. */
static int
control(int s, uint8_t *mac)
{
	uint8_t f[2048];
	struct sockaddr_ll sa;
	socklen_t sl = sizeof(sa);
	ssize_t n;

	n = recvfrom(s, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&sa, &sl);
	if (n < 14 + 15 || sa.sll_pkttype == PACKET_OUTGOING)
		return 0;
	if (memcmp(f + 14, "HYVE-FLOOD-STOP", 15) == 0)
		return 2;
	if (n >= 14 + 16 && memcmp(f + 14, "HYVE-FLOOD-START", 16) == 0) {
		memcpy(mac, f + 6, 6);
		return 1;
	}
	return 0;
}

int
main(int ac, char **av)
{
	static uint8_t frames[BATCH][1514];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sa = { .sll_family = AF_PACKET };
	uint8_t mac[6];
	unsigned long seq = 0, sent = 0;
	double end;
	int s, size, on = 0, i, c, n, one = 1;

	if (ac != 4 || (size = atoi(av[2])) < 60 || size > 1514) {
		fprintf(stderr, "usage: flood TAP SIZE(60-1514) SECONDS\n");
		return 2;
	}
	end = now() + atof(av[3]);
	signal(SIGINT, on_int);
	s = socket(AF_PACKET, SOCK_RAW, htons(ETYPE));
	sa.sll_protocol = htons(ETYPE);
	sa.sll_ifindex = (int)if_nametoindex(av[1]);
	if (s < 0 || sa.sll_ifindex == 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "flood: tap %s: %s\n", av[1], strerror(errno));
		return 1;
	}
	/* Our own frames would fill the queue the guest's STOP arrives on. */
	if (setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
	    sizeof(one)) < 0) {
		fprintf(stderr, "flood: tap %s: PACKET_IGNORE_OUTGOING: %s\n",
		    av[1], strerror(errno));
		return 1;
	}
	memset(msg, 0, sizeof(msg));
	while (!stop && now() < end) {
		c = control(s, mac);
		if (c == 1 && !on) {
			on = 1;
			for (i = 0; i < BATCH; i++) {
				memset(frames[i], 0, size);
				memcpy(frames[i], mac, 6);
				memcpy(frames[i] + 6, peer, 6);
				frames[i][12] = ETYPE >> 8;
				frames[i][13] = ETYPE & 0xFF;
				iov[i] = (struct iovec){ frames[i], size };
				msg[i].msg_hdr.msg_iov = &iov[i];
				msg[i].msg_hdr.msg_iovlen = 1;
			}
		} else if (c == 2)
			on = 0;
		if (!on) {
			usleep(200);
			continue;
		}
		for (i = 0; i < BATCH; i++)
			snprintf((char *)frames[i] + 14, 24, "HYVE-FLOOD %lu",
			    seq++);
		if ((n = sendmmsg(s, msg, BATCH, 0)) > 0)
			sent += n;
	}
	printf("flood: %lu frames of %d bytes sent to %s\n", sent, size, av[1]);
	return 0;
}
