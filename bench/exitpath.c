/*
 * Exit path benchmark: the cost of a guest port write handled by hyve's
 * exit dispatch (vcpu_handle_exit -> bus -> device handler) against a bare
 * loop that does nothing but KVM_RUN and return.
 *
 * Both sides run the same vCPU of the same VM (made by vm_create and
 * vcpus_create, so KVM state is identical), executing the same four bytes
 * of 32-bit guest code, `1: out %al,(%dx); jmp 1b`, at CPL 0.  Batches of
 * the two sides alternate so that noise from other load hits both alike.
 *
 * Output: one line per side, "exitpath SIDE NS_PER_EXIT_MEDIAN MIN MAX",
 * then "exitpath ratio R".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include "core/boot.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "lib/log.h"

#define PORT	0x510
#define ENTRY	0x1000
#define MAXROUNDS 64

static uint64_t hits;

static int
bench_port(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	if (!write)
		*val = 0;
	hits++;
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The minimal loop: KVM_RUN, check that it was our port, go again. */
static int
run_bare(struct vcpu *v, long n)
{
	struct kvm_run *run = v->run;
	long i;

	for (i = 0; i < n; i++) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				i--;
				continue;
			}
			return -errno;
		}
		if (run->exit_reason != KVM_EXIT_IO || run->io.port != PORT)
			return -EPROTO;
	}
	return 0;
}

/* hyve's path, as its vCPU loop runs it. */
static int
run_hyve(struct vcpu *v, long n)
{
	struct vm *vm = v->vm;
	uint64_t want = hits + n;

	while (hits < want) {
		if (__atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST))
			return -ECANCELED;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (vcpu_handle_exit(v) < 0)
			return -EPROTO;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *side, uint64_t *ns, int rounds, long n)
{
	qsort(ns, rounds, sizeof(ns[0]), cmp_u64);
	printf("exitpath %s %.1f %.1f %.1f\n", side, (double)ns[rounds / 2] / n,
	    (double)ns[0] / n, (double)ns[rounds - 1] / n);
}

int
main(int argc, char **argv)
{
	/* mov $PORT,%edx; 1: out %al,(%dx); jmp 1b */
	static const uint8_t code[] = { 0xba, PORT & 0xff, PORT >> 8, 0, 0,
	    0xee, 0xeb, 0xfd };
	struct boot_entry e = { .mode = BOOT_PVH, .entry = ENTRY, .info = 0 };
	uint64_t tb[MAXROUNDS], th[MAXROUNDS], t0;
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	struct vm vm;
	struct vcpu *v;
	int r, rc;

	log_set_role("exitpath");
	if (n < 1 || rounds < 1 || rounds > MAXROUNDS) {
		fprintf(stderr, "usage: exitpath [EXITS_PER_ROUND [ROUNDS<=%d]]\n",
		    MAXROUNDS);
		return 2;
	}
	if ((rc = vm_create(&vm, "exitpath", 16u << 20)) < 0)
		return 1;
	if (vm_write(&vm, ENTRY, code, sizeof(code)) < 0 ||
	    vcpus_create(&vm, &e) < 0 ||
	    vm_register_pio(&vm, PORT, 1, bench_port, NULL, "bench-port") < 0) {
		hlog("cannot set up the benchmark VM");
		return 1;
	}
	v = &vm.vcpus[0];
	/* Warm up: the first exits fault in guest pages and kvm_run. */
	if ((rc = run_bare(v, 1000)) < 0 || (rc = run_hyve(v, 1000)) < 0) {
		hlog("warm-up failed: %s", strerror(-rc));
		return 1;
	}
	for (r = 0; r < rounds; r++) {
		t0 = now_ns();
		if ((rc = run_bare(v, n)) < 0)
			break;
		tb[r] = now_ns() - t0;
		t0 = now_ns();
		if ((rc = run_hyve(v, n)) < 0)
			break;
		th[r] = now_ns() - t0;
	}
	if (rc < 0) {
		hlog("round %d: the guest left its port loop: %s", r, strerror(-rc));
		return 1;
	}
	printf("exitpath exits_per_round %ld rounds %d\n", n, rounds);
	report("bare", tb, rounds, n);
	report("hyve", th, rounds, n);
	/* Ratio of medians; report() sorted both arrays. */
	printf("exitpath ratio %.3f\n", (double)th[rounds / 2] / tb[rounds / 2]);
	vm_destroy(&vm);
	return 0;
}
