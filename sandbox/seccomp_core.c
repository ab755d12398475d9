/*
 * The core, once its VM is built: an allowlist like the backends', for
 * what the running core does — vCPU exits and KVM (ioctls filtered by
 * request), the event loop, the control connections the monitor passes,
 * the backends' sockets and eventfds, and for a restart or swap: a
 * socketpair, a message to the monitor, reaping; for a snapshot, the
 * KVM_GET_* ioctls and writes to the files hyvectl passes; for a restore,
 * reads of the memory file and userfaultfd's copy, wake and unregister.
 * It opens nothing by path
 * (the monitor opens a swap's disk or tap and reads /proc for the audit),
 * never forks or execs (the monitor does that), creates no namespaces,
 * loads nothing executable.
 * New threads: none are made after confinement, so clone3 answers ENOSYS
 * and plain clone is allowed only with CLONE_THREAD (what glibc falls back
 * to), never as fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <termios.h>

#include "sandbox/seccomp_impl.h"

int
sc_rules_core(scmp_filter_ctx c)
{
	static const int plain[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv),
		SCMP_SYS(writev), SCMP_SYS(close), SCMP_SYS(fstat),
		SCMP_SYS(lseek), SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk),
		SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
		SCMP_SYS(tgkill), SCMP_SYS(kill), SCMP_SYS(getpid),
		SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
		SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(exit),
		SCMP_SYS(exit_group),
		SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
		SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(timerfd_create),
		SCMP_SYS(timerfd_settime), SCMP_SYS(clock_gettime),
		SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
		SCMP_SYS(sched_yield), SCMP_SYS(getrandom), SCMP_SYS(sysinfo),
		SCMP_SYS(accept4), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
		SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(setsockopt),
		SCMP_SYS(getsockopt), SCMP_SYS(shutdown),
		SCMP_SYS(pidfd_open), SCMP_SYS(wait4), SCMP_SYS(waitid),
		SCMP_SYS(fcntl),
		/* a snapshot's channel for a backend's own state */
		SCMP_SYS(pipe2),
		/* a restore's RAM, read from the file it opened before */
		SCMP_SYS(pread64),
	};
	static const unsigned long ioctls[] = {
		KVM_RUN, KVM_GET_MP_STATE, KVM_GET_REGS, KVM_SET_REGS,
		KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_VCPU_EVENTS,
		KVM_SET_VCPU_EVENTS, KVM_TRANSLATE, KVM_IRQ_LINE, KVM_IRQFD,
		KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, KVM_SIGNAL_MSI,
		/* hyvectl snapshot: reading the VM's state, never setting it */
		KVM_GET_MSR_INDEX_LIST, KVM_GET_MSRS, KVM_GET_XSAVE,
		KVM_GET_XCRS, KVM_GET_LAPIC, KVM_GET_DEBUGREGS,
		KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK,
		KVM_HAS_DEVICE_ATTR, KVM_GET_DEVICE_ATTR,	/* TSC offset */
		TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ,
		FIONREAD,	/* is a backend's whole answer there yet */
		/* a restore's RAM loaded while the guest runs (ramfill.c);
		 * the userfaultfd itself is made before confinement; with
		 * memory.share_snapshot the backends' mappings are registered
		 * on theirs, which they hand over */
		UFFDIO_COPY, UFFDIO_WAKE, UFFDIO_UNREGISTER, UFFDIO_REGISTER,
	};
	int rc;

	if ((rc = sc_allow(c, plain, NELEM(plain))) < 0)
		return rc;
	if ((rc = sc_allow_ioctls(c, ioctls, NELEM(ioctls))) < 0)
		return rc;
	/* Nothing executable. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return rc;
	/* Threads only, never a new process. */
	if ((rc = sc_threads_only(c)) < 0)
		return rc;
	/* fstat as glibc does it, never a path; a backend's socket pair;
	 * getrlimit. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
	    SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
	    SCMP_A2(SCMP_CMP_EQ, 0, 0))) < 0)
		return rc;
	return 0;
}

/*
 * A new core (hyvectl upgrade) starts under the monitor's filter, which
 * is kept across exec: what it calls from exec until it loads its own,
 * building its VM from what it was handed.  The monitor's filter adds it
 * and sc_rules_core, so the new core ends up held to the core's list.
 */
int
sc_rules_core_start(scmp_filter_ctx c)
{
	static const int plain[] = {
		SCMP_SYS(signalfd4), SCMP_SYS(eventfd2),
		SCMP_SYS(epoll_create1), SCMP_SYS(sigaltstack),
	};
	int rc;

	if ((rc = sc_allow(c, plain, NELEM(plain))) < 0)
		return rc;
	/* KVM's own ioctls: creating the VM and its vCPUs, setting state. */
	return seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8));
}
