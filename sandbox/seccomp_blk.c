/*
 * hyve-blk: the shared datapath plus I/O on the disk fd, through io_uring
 * (set up, eventfd registered, before confinement) or plain positional
 * I/O.  io_uring_register is not needed once the ring runs.
 */
#include "sandbox/seccomp_impl.h"

int
sc_rules_blk(scmp_filter_ctx c)
{
	static const int nrs[] = {
		SCMP_SYS(io_uring_enter),
		SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
		SCMP_SYS(pwritev), SCMP_SYS(preadv2), SCMP_SYS(pwritev2),
		SCMP_SYS(fallocate), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
	};
	int rc;

	if ((rc = sc_backend_base(c)) < 0)
		return rc;
	return sc_allow(c, nrs, NELEM(nrs));
}
