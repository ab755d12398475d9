/*
 * stamp FIFO OUT SECONDS: part 9's serial reader (bench/upgrade.sh).
 * Reads the VM's serial output from FIFO (held open for writing too, so
 * that one VM process after another may write to it) and writes each line
 * to OUT as "NS LINE", NS the CLOCK_REALTIME nanoseconds it arrived at.
 * Ends after SECONDS or on SIGTERM.
 *
 * It does what "pause.py stamp" did, in C: under the lab VM's emulation the
 * Python reader took milliseconds per wake-up on the one CPU the guest
 * also needs, and its late stamps set a floor of 200-400 ms under every
 * host-timed gap.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long
ns_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static char buf[1 << 16];
	size_t have = 0;
	long long end;
	FILE *out;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: stamp FIFO OUT SECONDS\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDWR)) < 0 ||
	    (out = fopen(argv[2], "w")) == NULL) {
		perror(fd < 0 ? argv[1] : argv[2]);
		return 1;
	}
	end = ns_now(CLOCK_MONOTONIC) + atoll(argv[3]) * 1000000000LL;
	for (;;) {
		long long left = end - ns_now(CLOCK_MONOTONIC), ns;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl, *line;
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
			continue;
		if ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) <= 0)
			continue;
		ns = ns_now(CLOCK_REALTIME);
		have += n;
		buf[have] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			fprintf(out, "%lld %s\n", ns, line);
			line = nl + 1;
		}
		fflush(out);
		have -= line - buf;
		memmove(buf, line, have);
		/* A line longer than the buffer: written as it is. */
		if (have == sizeof(buf) - 1) {
			fprintf(out, "%lld %s\n", ns, buf);
			have = 0;
		}
	}
}
