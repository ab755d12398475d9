/*
 * The monitor's allowlist, and the base filter every program it starts
 * gets before exec.
 *
 * A seccomp filter is inherited by children and kept across exec, so what
 * the monitor allows bounds everything it starts: its own calls (requests
 * from the core, the control socket, opening an operator's disk or tap,
 * /proc for the audit), what its child does between clone and exec, a
 * backend's start-up up to its own filter (the loader, namespaces, the
 * empty root) and every backend's datapath.  Calls such as mount and
 * unshare are allowed for the backends' sandboxes; the monitor itself holds
 * no CAP_SYS_ADMIN, so in the host's namespaces they fail.  Never allowed:
 * ptrace and its kin, kernel modules, kexec, bpf, perf, keyrings, setns,
 * clock and reboot calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <linux/userfaultfd.h>

#include "lib/log.h"
#include "sandbox/seccomp_impl.h"

/* The backend roles its children take, and which foreign ones it starts. */
static struct {
	const struct sandbox_row *row;
	bool starts;
} covers[SANDBOX_MONITOR_ROLES];
static int ncovers;

int
sandbox_monitor_covers(const struct sandbox_row *role, bool starts)
{
	for (int i = 0; i < ncovers; i++)
		if (covers[i].row == role) {
			covers[i].starts |= starts;
			return 0;
		}
	if (ncovers == SANDBOX_MONITOR_ROLES)
		return -ENOSPC;
	covers[ncovers].row = role;
	covers[ncovers++].starts = starts;
	return 0;
}

int
sc_rules_monitor(scmp_filter_ctx c)
{
	static const int plain[] = {
		/* itself: requests, the control socket, the audit */
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv),
		SCMP_SYS(writev), SCMP_SYS(close), SCMP_SYS(recvmsg),
		SCMP_SYS(sendmsg), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
		SCMP_SYS(accept4), SCMP_SYS(poll), SCMP_SYS(ppoll),
		SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(fcntl),
		SCMP_SYS(openat), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(statx), SCMP_SYS(lseek), SCMP_SYS(getdents64),
		SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(access),
		SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(unlink),
		SCMP_SYS(pidfd_open), SCMP_SYS(brk), SCMP_SYS(mmap),
		SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
		SCMP_SYS(mprotect), SCMP_SYS(futex), SCMP_SYS(getpid),
		SCMP_SYS(getppid), SCMP_SYS(gettid), SCMP_SYS(getuid),
		SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
		SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(getrandom), SCMP_SYS(sysinfo),
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(restart_syscall), SCMP_SYS(prlimit64),
		/* its child, between clone and exec */
		SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups),
		SCMP_SYS(capget), SCMP_SYS(capset), SCMP_SYS(prctl),
		SCMP_SYS(seccomp), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
		SCMP_SYS(close_range), SCMP_SYS(execve), SCMP_SYS(execveat),
		/* a backend starting: the loader, then its own sandbox */
		SCMP_SYS(arch_prctl), SCMP_SYS(set_tid_address),
		SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(pread64),
		SCMP_SYS(fstatfs), SCMP_SYS(ftruncate), SCMP_SYS(memfd_create),
		SCMP_SYS(unshare), SCMP_SYS(mount), SCMP_SYS(umount2),
		SCMP_SYS(pivot_root), SCMP_SYS(chdir), SCMP_SYS(setrlimit),
		SCMP_SYS(epoll_create1), SCMP_SYS(eventfd2),
		SCMP_SYS(timerfd_create), SCMP_SYS(bind), SCMP_SYS(listen),
		SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_register),
		SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(sched_yield),
		SCMP_SYS(sched_getaffinity), SCMP_SYS(uname),
		SCMP_SYS(getcwd),
	};
	static const unsigned long ioctls[] = {
		TUNSETIFF, TUNGETIFF,
		/* a backend of a memory.share_snapshot restore making its
		 * userfaultfd from the /dev/userfaultfd the core gave it */
		USERFAULTFD_IOC_NEW, UFFDIO_API,
	};
	int rc;

	if ((rc = sc_allow(c, plain, NELEM(plain))) < 0)
		return rc;
	/* Its children run under this filter too: every backend's list, and
	 * that of each program we did not write that it will start. */
	for (int i = 0; i < ncovers; i++) {
		const struct sandbox_row *r = covers[i].row;

		if (r->host || r->root)
			continue;
		if (r->rules != NULL)
			rc = r->rules(c);
		else if (r->exec_rules != NULL && covers[i].starts)
			rc = r->exec_rules(c);
		if (rc < 0)
			return rc;
	}
	/* A new core (hyvectl upgrade) starts under this filter too. */
	if ((rc = sc_rules_core(c)) < 0 || (rc = sc_rules_core_start(c)) < 0)
		return rc;
	/* A new backend: clone, never a thread (the monitor has none). */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	    0)) < 0)
		return rc;
	/* Attaching a tap for a swap; hyve-net asking which it was given; a
	 * backend's userfaultfd. */
	if ((rc = sc_allow_ioctls(c, ioctls, NELEM(ioctls))) < 0)
		return rc;
	/* A backend's sockets are unix ones. */
	if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0 ||
	    (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0)
		return rc;
	return 0;
}

/*
 * The base filter: what no backend needs and an attacker's program would
 * want, refused with EPERM.  Everything else is left to the backend's own
 * allowlist, loaded once it holds its descriptors; a program that loads
 * none stays bounded by this one and the monitor's.
 */
int
sandbox_load_base_filter(void)
{
	static const int deny[] = {
		SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev), SCMP_SYS(kcmp), SCMP_SYS(setns),
		SCMP_SYS(init_module), SCMP_SYS(finit_module),
		SCMP_SYS(delete_module), SCMP_SYS(kexec_load),
		SCMP_SYS(kexec_file_load), SCMP_SYS(bpf),
		SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
		SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
		SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff),
		SCMP_SYS(acct), SCMP_SYS(syslog), SCMP_SYS(iopl),
		SCMP_SYS(ioperm), SCMP_SYS(settimeofday),
		SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime),
		SCMP_SYS(adjtimex), SCMP_SYS(open_by_handle_at),
		SCMP_SYS(name_to_handle_at), SCMP_SYS(quotactl),
		SCMP_SYS(fanotify_init), SCMP_SYS(personality),
		SCMP_SYS(vhangup), SCMP_SYS(chroot), SCMP_SYS(mknod),
		SCMP_SYS(mknodat),
	};
	scmp_filter_ctx c;
	int rc = 0;

	if ((c = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		return -ENOMEM;
	rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; rc == 0 && i < NELEM(deny); i++)
		rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), deny[i], 0);
	if (rc == 0)
		rc = seccomp_load(c);
	seccomp_release(c);
	return rc;
}
