/*
 * A backend's own state over vhost-user DEVICE_STATE (SET_DEVICE_STATE_FD,
 * CHECK_DEVICE_STATE), between the core's frontend (vu_frontend.c) and
 * real backends: saved from one hyve-blk, loaded into a second on a disk
 * of the same size, refused by one on a disk of another size, by another
 * kind of device, and when it is cut off, corrupt or of another version.
 * hyve-vsock's state is taken by one with another CID (a clone's).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/vu_frontend.h"
#include "tests/unit/vufront.h"

#define MIB		(1024 * 1024)

static char dir[] = "/tmp/hyve-devstate.XXXXXX", logpath[64];
static int logfd = -1;

struct be {
	pid_t pid;
	struct vu_front f;
};

/* Starts hyve-blk on a disk of size bytes (or hyve-rnd if size is 0) and
 * opens the core's side of it, features set as a driver would. */
static void
start(struct be *b, off_t size)
{
	char bin[PATH_MAX], img[64];
	const char *blk[] = { bin, "--fd", "3", "--disk-fd", "4", NULL };
	const char *rnd[] = { bin, "--fd", "3", NULL };
	static int n;
	int dfd = -1, sock;

	assert_true(vf_find_binary(bin, sizeof(bin), size ? "hyve-blk" :
	    "hyve-rnd", size ? "HYVE_BLK" : "HYVE_RND"));
	if (size) {
		snprintf(img, sizeof(img), "%s/disk%d.img", dir, n++);
		dfd = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(dfd >= 0);
		assert_int_equal(ftruncate(dfd, size), 0);
	}
	sock = vf_spawn(size ? blk : rnd, &dfd, size ? 1 : 0, logfd, &b->pid);
	if (dfd >= 0)
		close(dfd);
	assert_int_equal(vuf_open(&b->f, sock, size ? "blk0" : "rnd0"), 0);
	assert_true(b->f.pfeatures & (1ull << VU_PF_DEVICE_STATE));
	assert_int_equal(vuf_set_features(&b->f, b->f.features &
	    (1ull << 32 | 1ull << VIRTIO_RING_F_EVENT_IDX)), 0);
}

static void
stop(struct be *b)
{
	vuf_close(&b->f);
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
}

static bool
logged(const char *s)
{
	char buf[8192];
	ssize_t n = pread(logfd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, s) != NULL;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/be.log", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int
each_setup(void **state)
{
	(void)state;
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return logfd < 0;
}

static int
each_teardown(void **state)
{
	(void)state;
	close(logfd);
	return 0;
}

static size_t
save(off_t size, uint8_t *buf, size_t cap)
{
	struct be a;
	size_t len;

	start(&a, size);
	assert_int_equal(vuf_state_save(&a.f, buf, cap, &len), 0);
	stop(&a);
	assert_true(len > 0);
	return len;
}

static int
load(off_t size, const uint8_t *buf, size_t len)
{
	struct be b;
	int rc;

	start(&b, size);
	rc = vuf_state_load(&b.f, buf, len);
	/* Refused or not, the backend still answers. */
	assert_int_equal(vuf_ping(&b.f), 0);
	stop(&b);
	return rc;
}

/* Saved from one backend, taken by another of the same device. */
static void
test_round_trip(void **state)
{
	uint8_t buf[VU_MAX_PAYLOAD + 4096];
	size_t len;

	(void)state;
	len = save(MIB, buf, sizeof(buf));
	assert_memory_equal(buf, "hyve-vus", 8);
	assert_int_equal(load(MIB, buf, len), 0);
	assert_false(logged("device state:"));
}

/* Another disk size, another kind of device: refused, and said why. */
static void
test_other_device(void **state)
{
	uint8_t buf[VU_MAX_PAYLOAD + 4096];
	size_t len;

	(void)state;
	len = save(MIB, buf, sizeof(buf));
	assert_int_equal(load(2 * MIB, buf, len), -EIO);
	assert_true(logged("config differs from the saved one"));
	assert_int_equal(load(0, buf, len), -EIO);
	assert_true(logged("it is a virtio-blk's, this is a virtio-rng"));
}

/* hyve-vsock with guest CID cid, its host socket in dir. */
static void
start_vsock(struct be *b, unsigned cid)
{
	char bin[PATH_MAX], c[16], name[24], vs[64];
	const char *argv[] = { bin, "--fd", "3", "--cid", c, "--listen-fd", "4",
	    "--dir-fd", "5", "--uds-name", name, NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fds[2], sock;

	assert_true(vf_find_binary(bin, sizeof(bin), "hyve-vsock",
	    "HYVE_VSOCK"));
	snprintf(c, sizeof(c), "%u", cid);
	snprintf(name, sizeof(name), "v%u.sock", cid);
	/* The sandbox binds it as the backend's root: open to others. */
	snprintf(vs, sizeof(vs), "%s/vs", dir);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_true(mkdir(vs, 0777) == 0 || errno == EEXIST);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", vs, name);
	unlink(sa.sun_path);
	fds[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fds[0], 1), 0);
	fds[1] = open(vs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fds[1] >= 0);
	sock = vf_spawn(argv, fds, 2, logfd, &b->pid);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(vuf_open(&b->f, sock, "vsock0"), 0);
	assert_true(b->f.pfeatures & (1ull << VU_PF_DEVICE_STATE));
	assert_int_equal(vuf_set_features(&b->f, b->f.features &
	    (1ull << 32 | 1ull << VIRTIO_F_VERSION_1)), 0);
}

/*
 * A vsock device's state carries no connection (the new backend resets
 * them), so the CID, which the driver reads again at that reset, may
 * change: a clone's own.  Another kind of device is still refused.
 */
static void
test_vsock_cid(void **state)
{
	uint8_t buf[VU_MAX_PAYLOAD + 4096];
	struct be a, b;
	size_t len;

	(void)state;
	start_vsock(&a, 5);
	assert_int_equal(vuf_state_save(&a.f, buf, sizeof(buf), &len), 0);
	stop(&a);
	start_vsock(&b, 6);
	assert_int_equal(vuf_state_load(&b.f, buf, len), 0);
	assert_int_equal(vuf_ping(&b.f), 0);
	stop(&b);
	assert_true(logged("the guest's CID is 6 now, 5 when saved"));
	assert_int_equal(load(0, buf, len), -EIO);
	assert_true(logged("it is a virtio-vsock's, this is a virtio-rng"));
}

/* Cut off, corrupt, another version, garbage: each refused. */
static void
test_bad_state(void **state)
{
	uint8_t buf[VU_MAX_PAYLOAD + 4096], bad[sizeof(buf)];
	size_t len;

	(void)state;
	len = save(MIB, buf, sizeof(buf));
	assert_int_equal(load(MIB, buf, len - 1), -EIO);
	assert_true(logged("do not add up"));
	memcpy(bad, buf, len);
	bad[8]++;			/* the version */
	assert_int_equal(load(MIB, bad, len), -EIO);
	assert_true(logged("version 2, this backend reads 1"));
	memset(bad, 0x5a, len);
	assert_int_equal(load(MIB, bad, len), -EIO);
	assert_true(logged("not a hyve backend's state"));
	assert_int_equal(load(MIB, bad, 0), -EIO);
}

/* A channel that is not a pipe (an eventfd would never end): refused,
 * and the backend goes on answering. */
static void
test_not_a_pipe(void **state)
{
	struct vu_msg m, r;
	struct be a;
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	start(&a, MIB);
	vu_msg_init(&m, VU_SET_DEVICE_STATE_FD, sizeof(struct vu_state_xfer));
	m.p.xfer.direction = VU_STATE_LOAD;
	vu_msg_add_fd(&m, fd);
	assert_int_equal(vu_call(a.f.sock, &m, &r), 0);
	assert_int_equal(r.p.u64, VU_STATE_NOFD | 1);
	assert_true(logged("channel is not a pipe"));
	vu_msg_init(&m, VU_CHECK_DEVICE_STATE, 0);
	assert_int_equal(vu_call(a.f.sock, &m, &r), 0);
	assert_int_not_equal(r.p.u64, 0);
	assert_int_equal(vuf_ping(&a.f), 0);
	stop(&a);
	close(fd);
}

/*
 * A ring running: the device is not suspended, so no state; stopped
 * (GET_VRING_BASE), it is.  CHECK before any transfer is no success.
 */
static void
test_rings_running(void **state)
{
	struct vf_queue q;
	struct be a;
	uint8_t buf[4096], *mem = NULL;
	uint16_t base;
	size_t len;
	int memfd = vf_guest_mem("devstate", MIB, &mem);

	(void)state;
	assert_true(memfd >= 0);
	start(&a, MIB);
	assert_int_equal(vuf_state_load(&a.f, buf, 0), -EIO);
	assert_true(logged("not a hyve backend's state (0 bytes)"));
	vf_queue_open(&q);
	assert_int_equal(vf_mem_table(a.f.sock, memfd, MIB, 0x10000000), 0);
	assert_int_equal(vf_ring(a.f.sock, mem, 0x10000000, 0, 8, 0, &q), 0);
	assert_int_equal(vuf_state_save(&a.f, buf, sizeof(buf), &len), -EIO);
	assert_true(logged("queue 0 still runs"));
	assert_int_equal(vuf_ring_stop(&a.f, 0, &base), 0);
	assert_int_equal(vuf_state_save(&a.f, buf, sizeof(buf), &len), 0);
	assert_true(len > 0);
	stop(&a);
	vf_queue_close(&q);
	munmap(mem, MIB);
	close(memfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_other_device, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_bad_state, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_rings_running, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_pipe, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_vsock_cid, each_setup,
		    each_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
