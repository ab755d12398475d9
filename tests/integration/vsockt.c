/*
 * vsockt: the guest's end of t_linux_vsock, on AF_VSOCK (the Debian guest
 * has no socat or python).  Built static by the test and put into the
 * guest's disk.
 *
 *   vsockt cid               prints the local CID (/dev/vsock)
 *   vsockt connect CID PORT  stdin to the connection (then shutdown),
 *                            the connection to stdout until EOF
 *   vsockt hashd PORT N      accepts N connections, at once: each one's
 *                            bytes go through sha256sum, whose line is
 *                            written back
 *   vsockt hold CID PORT     connects, writes a line, then waits until
 *                            the connection breaks; exit 0 if it did
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/vm_sockets.h>

static int
die(const char *what)
{
	fprintf(stderr, "vsockt: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
dial(unsigned cid, unsigned port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid,
	    .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	return fd;
}

static int
copy(int from, int to)
{
	static char buf[65536];
	ssize_t n, w;

	n = read(from, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (ssize_t off = 0; off < n; off += w)
		if ((w = write(to, buf + off, n - off)) <= 0)
			return -errno;
	return 1;
}

/* stdin -> fd in a child, fd -> stdout here. */
static int
relay(int fd)
{
	pid_t p = fork();
	int rc, st;

	if (p == 0) {
		while ((rc = copy(0, fd)) > 0)
			;
		shutdown(fd, SHUT_WR);
		_exit(rc < 0);
	}
	while ((rc = copy(fd, 1)) > 0)
		;
	waitpid(p, &st, 0);
	return rc < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

static void
hash_one(int c)
{
	int in[2], out[2], rc;
	pid_t p;

	if (pipe(in) < 0 || pipe(out) < 0)
		die("pipe");
	if ((p = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("sha256sum", "sha256sum", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	while ((rc = copy(c, in[1])) > 0)
		;
	close(in[1]);
	if (rc < 0)
		die("reading the connection");
	while (copy(out[0], c) > 0)
		;
	waitpid(p, NULL, 0);
	close(c);
}

static int
hashd(unsigned port, int n)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
	    .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int l = socket(AF_VSOCK, SOCK_STREAM, 0), bad = 0, st;

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, n) < 0)
		die("listen");
	for (int i = 0; i < n; i++) {
		int c = accept(l, NULL, NULL);

		if (c < 0)
			die("accept");
		if (fork() == 0) {
			close(l);
			hash_one(c);
			_exit(0);
		}
		close(c);
	}
	while (wait(&st) > 0)
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	return bad;
}

static int
hold(unsigned cid, unsigned port)
{
	char b[256];
	int fd = dial(cid, port);
	ssize_t n;

	if (write(fd, "hold\n", 5) != 5)
		die("write");
	while ((n = read(fd, b, sizeof(b))) > 0)
		;
	printf("hold: the connection broke: %s\n", n == 0 ? "EOF" :
	    strerror(errno));
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned cid;
	int fd;

	if (argc == 2 && strcmp(argv[1], "cid") == 0) {
		if ((fd = open("/dev/vsock", O_RDONLY)) < 0 ||
		    ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
			die("/dev/vsock");
		printf("%u\n", cid);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return relay(dial(atoi(argv[2]), atoi(argv[3])));
	if (argc == 4 && strcmp(argv[1], "hashd") == 0)
		return hashd(atoi(argv[2]), atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return hold(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: vsockt cid | connect CID PORT | hashd PORT N | "
	    "hold CID PORT\n");
	return 2;
}
