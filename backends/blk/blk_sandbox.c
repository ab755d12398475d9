/*
 * hyve-blk: the shared datapath plus I/O on the disk fd, through io_uring
 * (set up, eventfd registered, before confinement) or plain positional
 * I/O.  io_uring_register is not needed once the ring runs.
 * With more than one queue, a thread per queue, started after confinement
 * (the sandbox's unshare of a user namespace needs a single-threaded
 * process): clone3 answers ENOSYS, so glibc falls back to clone, which is
 * allowed only with CLONE_THREAD, never as fork; the threads lock with
 * futexes and glibc registers rseq and the robust list in each.
 */
#include <errno.h>
#include <sched.h>

/* glibc's SIGSETXID: the kernel's SIGRTMIN (32) + 1, hidden by <signal.h>. */
#define SIGRTMIN_KERNEL	32

#include "backends/blk/blk.h"
#include "sandbox/seccomp_impl.h"

static int
sc_rules_blk(scmp_filter_ctx c)
{
	static const int nrs[] = {
		SCMP_SYS(io_uring_enter),
		/* inline I/O: glibc's preadv2/pwritev2 are the syscalls */
		SCMP_SYS(preadv2), SCMP_SYS(pwritev2),
		SCMP_SYS(fallocate), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
		SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(rt_sigprocmask),
	};
	int rc;

	if ((rc = sc_backend_base(c)) < 0 ||
	    (rc = sc_allow(c, nrs, NELEM(nrs))) < 0)
		return rc;
	if ((rc = sc_threads_only(c)) < 0)
		return rc;
	/* glibc's first pthread_create installs its SIGSETXID handler (for
	 * setuid in a threaded process, which the filter forbids anyway) and
	 * ignores a failure. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(rt_sigaction), 1, SCMP_A0(SCMP_CMP_EQ, SIGRTMIN_KERNEL + 1,
	    0))) < 0)
		return rc;
	return 0;
}

const struct sandbox_row blk_sandbox = {
	.name = "blk", .rules = sc_rules_blk, .nofile = 256,
	/* io_uring's io-wq workers are threads of the process */
	.nproc = BLK_NPROC,
	.writes = true, .files = 1,	/* its disk */
};
