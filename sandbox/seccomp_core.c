/*
 * The core: a denylist for now, applied to every thread.  The core runs
 * KVM ioctls, vCPU threads and spawns backends (fork, exec), and the
 * backends inherit this filter, so it must leave them unshare, mount,
 * umount2, pivot_root and the set*id calls their own sandbox_enter makes.
 * What it takes away: debugging other processes, kernel modules and kexec,
 * the new mount API, host-wide settings, bpf, perf and userfaultfd.
 */
#include "sandbox/seccomp_impl.h"

int
sc_rules_core(scmp_filter_ctx c)
{
	static const int nrs[] = {
		SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev), SCMP_SYS(kcmp),
		SCMP_SYS(pidfd_getfd),
		SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
		SCMP_SYS(init_module), SCMP_SYS(finit_module),
		SCMP_SYS(delete_module), SCMP_SYS(reboot),
		SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(chroot),
		SCMP_SYS(setns), SCMP_SYS(fsopen), SCMP_SYS(fsconfig),
		SCMP_SYS(fsmount), SCMP_SYS(fspick), SCMP_SYS(move_mount),
		SCMP_SYS(open_tree), SCMP_SYS(mount_setattr),
		SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
		SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
		SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
		SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(acct),
		SCMP_SYS(settimeofday), SCMP_SYS(clock_settime),
		SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex),
		SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(vhangup),
		SCMP_SYS(uselib), SCMP_SYS(personality), SCMP_SYS(lookup_dcookie),
		SCMP_SYS(sethostname), SCMP_SYS(setdomainname),
	};
	int rc;

	for (size_t i = 0; i < NELEM(nrs); i++)
		if ((rc = seccomp_rule_add(c, SCMP_ACT_TRAP, nrs[i], 0)) < 0)
			return rc;
	return 0;
}
