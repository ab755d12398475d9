/*
 * hyve: the core process.  Parses bhyve's command line, builds the VM (RAM,
 * devices, ACPI, boot image), runs the vCPUs and waits for the VM to end.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "core/acpi.h"
#include "core/boot.h"
#include "core/cmdline.h"
#include "core/config.h"
#include "core/control.h"
#include "core/devices.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/layout.h"
#include "core/monitor.h"
#include "core/pci.h"
#include "core/ramfill.h"
#include "core/spawner.h"
#include "core/supervisor.h"
#include "core/tenant.h"
#include "core/upgrade.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "core/vmgenid.h"
#include "core/vmsnap.h"
#include "lib/caps.h"
#include "lib/log.h"
#include "sandbox/sandbox.h"

#define MEM_MIN		MB(16)
#define MEM_MAX		GB(1024)
#define HALT_TICK_MS	200
#define POWEROFF_TIMEOUT 30	/* seconds the guest has to obey the button */

static struct vm the_vm;

/* A fatal signal must not leave the user's terminal in raw mode. */
static void
fatal_signal(int sig)
{
	uart_restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
catch_fatal_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int
memory_size(uint64_t *mem)
{
	int rc;

	if ((rc = config_get_size("memory.size", MB(256), mem)) < 0)
		return rc;
	if (*mem < MEM_MIN || *mem > MEM_MAX) {
		hlog("memory.size: %llu MiB is out of range (use -m between "
		    "16M and 1T)", (unsigned long long)(*mem >> 20));
		return -EINVAL;
	}
	return 0;
}

/* The vCPU topology and x86 options, into a vm vm_create has set up. */
static int
machine_config(struct vm *vm)
{
	uint64_t cpus, sockets, cores, threads;
	int rc;

	if ((rc = config_get_uint("cpus", 1, &cpus)) < 0 ||
	    (rc = config_get_uint("sockets", cpus, &sockets)) < 0 ||
	    (rc = config_get_uint("cores", 1, &cores)) < 0 ||
	    (rc = config_get_uint("threads", 1, &threads)) < 0 ||
	    (rc = config_get_bool("x86.strictio", false, &vm->strictio)) < 0 ||
	    (rc = config_get_bool("x86.strictmsr", true, &vm->strictmsr)) < 0)
		return rc;
	/* Only cpus given: one socket per CPU, as bhyve does. */
	if (!config_get("sockets") && !config_get("cores") && !config_get("threads"))
		sockets = cpus;
	if (cpus < 1 || cpus > 255 || sockets * cores * threads != cpus) {
		hlog("cpus: %llu CPUs do not match sockets=%llu x cores=%llu x "
		    "threads=%llu (use -c N or make the product equal N)",
		    (unsigned long long)cpus, (unsigned long long)sockets,
		    (unsigned long long)cores, (unsigned long long)threads);
		return -EINVAL;
	}
	vm->ncpus = cpus;
	vm->sockets = sockets;
	vm->cores = cores;
	vm->threads = threads;
	return 0;
}

static int
build_acpi(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_machine m;
	uint8_t apic_ids[256];
	int used[PCI_SLOTS], i, rc;
	bool on;

	*rsdp = 0;
	if ((rc = config_get_bool("acpi_tables", true, &on)) < 0)
		return rc;
	if (!on)
		return 0;
	memset(&m, 0, sizeof(m));
	m.ncpus = vm->ncpus;
	for (i = 0; i < vm->ncpus; i++)
		apic_ids[i] = vcpu_apic_id(vm, i);
	m.apic_ids = apic_ids;
	m.ecam_base = PCI_ECAM_BASE;
	m.mmio32_base = PCI_MMIO32_BASE;
	m.mmio32_end = PCI_MMIO32_END;
	m.mmio64_base = vm->mmio64_base;
	m.mmio64_end = vm->mmio64_base + PCI_MMIO64_SIZE;
	m.io_base = PCI_PIO_BASE;
	m.io_end = PCI_PIO_END;
	for (i = 0; i < 4; i++) {
		char key[32];

		snprintf(key, sizeof(key), "lpc.com%d.path", i + 1);
		if (config_get(key) != NULL)
			m.com_mask |= 1u << i;
	}
	pci_slots_used(used);
	for (i = 0; i < PCI_SLOTS; i++)
		m.pci_slots[i] = used[i];
	if ((rc = vmgenid_init(vm)) < 0)
		return rc;
	m.vmgenid_gpa = vm->vmgenid_gpa;
	rc = acpi_build(&m, vm_gpa(vm, ACPI_BASE, ACPI_SIZE), ACPI_SIZE,
	    ACPI_BASE);
	if (rc < 0) {
		hlog("ACPI tables do not fit in %llu KiB",
		    (unsigned long long)(ACPI_SIZE >> 10));
		return rc;
	}
	*rsdp = ACPI_BASE;
	return 0;
}

static const struct sandbox_opts core_sandbox_opts = { .name = "core" };

/* sandbox=off, read as the devices read it (a value that is not a
 * boolean was refused with them, before the core confines itself). */
static bool
core_sandbox_off(void)
{
	bool on;

	return config_get_bool("sandbox", true, &on) == 0 && !on;
}

static int
build_vm(struct vm *vm, struct boot_entry *entry)
{
	const char *restore = config_get("restore");
	struct boot_spec spec;
	uint64_t mem;
	bool utc_local;
	int rc;

	if ((rc = memory_size(&mem)) < 0)
		return rc;
	memset(&spec, 0, sizeof(spec));
	spec.kernel = config_get("boot.kernel");
	spec.initrd = config_get("boot.initrd");
	spec.cmdline = config_get("boot.cmdline");
	/* Before KVM, any device or backend exists: bad input costs one
	 * line, the same on every host. */
	/* An upgrade's configuration is a running VM's, its files are open
	 * already (and may be out of the tenant's reach). */
	if (!upgrading() && ((!restore && (rc = boot_check(&spec)) < 0) ||
	    (rc = pci_check()) < 0 || (rc = lpc_check()) < 0))
		return rc;
	/* An upgrade's new core gets /dev/kvm and the guest's RAM. */
	if ((rc = vm_create_from(vm, config_get("name"), mem,
	    upgrading() ? upg_take(UPG_KVM, 0, 0) : -1,
	    upgrading() ? upg_take(UPG_MEM, 0, 0) : -1)) < 0 ||
	    (rc = machine_config(vm)) < 0)
		return rc;
	if ((rc = irq_init(vm)) < 0 || (rc = evloop_init()) < 0)
		return rc;
	/* A new core makes its VM's vCPUs and its seccomp filter while the
	 * old core still runs the guest; the devices come with the state, in
	 * the pause. */
	if (upgrading() && ((rc = vcpus_create(vm, NULL)) < 0 ||
	    (!core_sandbox_off() && (rc = sandbox_prebuild(&sandbox_core,
	    &core_sandbox_opts)) < 0) || (rc = upgrade_prepared()) < 0))
		return rc;
	if ((rc = pci_init(vm)) < 0)
		return rc;
	if ((rc = config_get_bool("rtc.use_localtime", true, &utc_local)) < 0)
		return rc;
	if ((rc = rtc_init(vm, !utc_local)) < 0 || (rc = i8042_init(vm)) < 0 ||
	    (rc = pm_init(vm)) < 0)
		return rc;
	/* A running guest's RAM already holds its tables (and what it
	 * wrote in them). */
	if (upgrading()) {
		upg_mark("devices");
		return 0;
	}
	if ((rc = build_acpi(vm, &spec.rsdp)) < 0)
		return rc;
	/* A restored VM's RAM and registers come from its snapshot. */
	if (restore != NULL)
		return vcpus_create(vm, NULL);
	if ((rc = boot_load(vm, &spec, entry)) < 0)
		return rc;
	return vcpus_create(vm, entry);
}

static int halted_ticks, terms, ticks;
static time_t deadline;

static void
on_exit_fd(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		hlog("exit eventfd: %s", strerror(errno));
}

static void
on_signal(int fd, void *arg)
{
	struct vm *vm = arg;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo == SIGCHLD)
		return;
	if (++terms == 1) {
		hlog("%s: signal %d: pressing the power button (again to force)",
		    vm->name, si.ssi_signo);
		pm_power_button(vm);
		deadline = time(NULL) + POWEROFF_TIMEOUT;
	} else {
		vm_request_exit(vm, EXIT_POWEROFF, "forced power-off");
	}
}

static void
on_tick(int fd, void *arg)
{
	struct vm *vm = arg;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	if (vcpus_all_halted(vm)) {
		/* Twice in a row, so a stale answer cannot end the VM. */
		if (++halted_ticks >= 2)
			vm_request_exit(vm, EXIT_HALT,
			    "all vCPUs halted with interrupts off");
	} else {
		halted_ticks = 0;
	}
	/* Once a second, every backend must show a sign of life. */
	if (++ticks % (1000 / HALT_TICK_MS) == 0)
		sup_heartbeat();
	if (deadline != 0 && time(NULL) >= deadline)
		vm_request_exit(vm, EXIT_POWEROFF,
		    "the guest ignored the power button; forced power-off");
}

/* Waits for the VM to end: an exit request, signals, halt detection. */
static int
run_vm(struct vm *vm, int sfd)
{
	struct itimerspec its = {
		.it_interval = { 0, HALT_TICK_MS * 1000000L },
		.it_value = { 0, HALT_TICK_MS * 1000000L },
	};
	int tfd, rc;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		hlog("timerfd: %s", strerror(errno));
		return -errno;
	}
	if ((rc = evloop_add(vm->exit_fd, on_exit_fd, vm)) < 0 ||
	    (rc = evloop_add(sfd, on_signal, vm)) < 0 ||
	    (rc = evloop_add(tfd, on_tick, vm)) < 0)
		return rc;
	while (!__atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST)) {
		if ((rc = evloop_run_once(-1)) < 0) {
			hlog("event loop: %s", strerror(-rc));
			vm_request_exit(vm, EXIT_ERROR, "event loop failed");
		}
		/* Handed over, and the answer is sent. */
		if (upgrade_done())
			upgrade_retire(vm, sfd);
	}
	evloop_del(tfd);
	close(tfd);
	return 0;
}

/*
 * Before any thread exists: the core gives up its bounding and
 * inheritable sets (every thread it makes inherits that), so that once it
 * becomes the tenant it can never regain a capability.
 */
static int
drop_core_bounding(void)
{
	struct caps c;

	if (geteuid() != 0)
		return 0;
	if (caps_get(&c) == 0) {
		c.inh = 0;
		if (caps_bound(0) == 0 && caps_set(&c) == 0)
			return 0;
	}
	hlog("cannot drop the core's bounding capability set");
	return -EPERM;
}

/*
 * The running core needs no privilege: the monitor starts backends and
 * opens what a swap names.  As root it becomes the tenant (every thread:
 * glibc changes the ids of all), which empties its capability sets.
 */
static int
become_tenant(uid_t uid, gid_t gid)
{
	struct caps c;

	if (geteuid() != 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		hlog("cannot become the tenant (uid %u gid %u): %s",
		    (unsigned)uid, (unsigned)gid, strerror(errno));
		return -EPERM;
	}
	hlog("the core and its backends run as uid %u gid %u", (unsigned)uid,
	    (unsigned)gid);
	if (caps_get(&c) < 0 || (c.eff | c.perm | c.inh) != 0) {
		hlog("the core still holds capabilities as uid %u",
		    (unsigned)uid);
		return -EPERM;
	}
	return 0;
}

/* The core, once the VM is built, gives up what it no longer needs. */
static int
confine_core(uid_t uid, gid_t gid)
{
	if (core_sandbox_off()) {
		hlog("WARNING: the core runs WITHOUT ITS SANDBOX (sandbox=off)");
		return 0;
	}
	if (become_tenant(uid, gid) < 0)
		return -EPERM;
	uart_keep_sockets();
	return sandbox_enter(&sandbox_core, NULL, 0, &core_sandbox_opts);
}

/* The configuration is applied: the monitor takes the control socket.
 * A new core finds it there. */
static int
seal_monitor(struct vm *vm)
{
	int rc;

	if (upgrading()) {
		rc = control_adopt(vm, config_get("control.path"),
		    spawner_ctl_fd(), upg_started());
		upg_mark("monitor");
		return rc;
	}
	if ((rc = control_init(vm, config_get("control.path"))) < 0)
		return rc;
	if ((rc = spawner_seal(control_handoff(), control_path())) < 0)
		return rc;
	return control_from_monitor(spawner_ctl_fd());
}

int
main(int argc, char **argv)
{
	struct boot_entry entry;
	struct vm *vm = &the_vm;
	sigset_t set;
	char role[80];
	const char *name;
	uid_t uid;
	gid_t gid;
	bool dump;
	int rc, sfd;

	config_reset();
	/* Started by the monitor for hyvectl upgrade: the old core's state
	 * and descriptors, and the monitor's channels, are handed over. */
	if (argc == 2 && strcmp(argv[1], "--upgrade") == 0) {
		if (upgrade_receive(UPGRADE_FD) < 0 || config_check_keys() < 0 ||
		    tenant_ids(&uid, &gid) < 0)
			return EXIT_ERROR;
		spawner_adopt(UPGRADE_FD + 1, UPGRADE_FD + 2);
		goto started;
	}
	rc = cmdline_parse(argc, argv);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return EXIT_ERROR;
	if (config_get_bool("config.dump", false, &dump) < 0)
		return EXIT_ERROR;
	if (dump) {
		config_dump(stdout);
		return 0;
	}
	if (config_check_keys() < 0)
		return EXIT_ERROR;
	/* While the core is one thread and privileged: the monitor, which
	 * starts its backends, so the core itself never forks or execs. */
	if (tenant_ids(&uid, &gid) < 0 || spawner_start(uid, gid) < 0 ||
	    drop_core_bounding() < 0)
		return EXIT_ERROR;
started:
	name = config_get("name");
	snprintf(role, sizeof(role), "%s", name ? name : "vm");
	log_set_role(role);
	catch_fatal_signals();
	/* A console reader that goes away must not kill the VM. */
	signal(SIGPIPE, SIG_IGN);

	/* Signals go to the main loop only; vCPU threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Only for a first core that waits after an upgrade (it reaps). */
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		hlog("signalfd: %s", strerror(errno));
		return EXIT_ERROR;
	}

	memset(vm, 0, sizeof(*vm));
	vm->exit_fd = -1;
	if ((rc = build_vm(vm, &entry)) < 0 || (config_get("restore") != NULL &&
	    (rc = vmsnap_restore(vm, config_get("restore"))) < 0) ||
	    (upgrading() && (rc = upgrade_load(vm)) < 0)) {
		uart_restore_tty();
		return EXIT_ERROR;
	}
	if ((rc = seal_monitor(vm)) < 0 || (rc = confine_core(uid, gid)) < 0 ||
	    (upgrading() && upgrade_ready(vm) < 0) ||
	    (rc = vcpus_start(vm)) < 0) {
		uart_restore_tty();
		return EXIT_ERROR;
	}
	upgrade_running();
	run_vm(vm, sfd);
	control_fini();
	vcpus_join(vm);
	ramfill_fini();
	pci_reset_all();	/* stops and reaps the backends */
	spawner_stop();
	uart_fini(vm);
	uart_restore_tty();
	return vm->exit_code;
}
