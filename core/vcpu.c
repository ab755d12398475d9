/*
 * vCPU threads: creation, CPUID, the KVM_RUN loop and the exit dispatch
 * table (in the manner of bhyve's vmexit_handlers).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "core/boot.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "lib/log.h"

#define SIG_KICK	SIGUSR1
#define CPUID_MAX	256

/*
 * Pausing: the main thread asks, every vCPU leaves KVM_RUN (a kick; with
 * immediate_exit KVM first completes an I/O exit in flight, so the state
 * read afterwards is consistent) and parks here until resumed.
 */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int pause_req;

/* Unknown ports and MMIO pages are logged once each. */
static uint8_t pio_logged[65536 / 8];
static int mmio_logged_any;

static int
order(int n)
{
	int s = 0;

	while ((1 << s) < n)
		s++;
	return s;
}

uint32_t
vcpu_apic_id(const struct vm *vm, int i)
{
	int t = i % vm->threads;
	int c = (i / vm->threads) % vm->cores;
	int s = i / (vm->threads * vm->cores);
	int tshift = order(vm->threads), cshift = order(vm->cores);

	return (s << (tshift + cshift)) | (c << tshift) | t;
}

static struct kvm_cpuid2 *
cpuid_supported(struct vm *vm)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + CPUID_MAX * sizeof(c->entries[0]));
	if (c == NULL)
		return NULL;
	c->nent = CPUID_MAX;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		hlog("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

/* Per-vCPU CPUID: APIC ids, topology leaves and the hypervisor bit. */
static void
cpuid_patch(struct vm *vm, struct kvm_cpuid2 *c, struct vcpu *v)
{
	int tshift = order(vm->threads);
	int cshift = order(vm->cores) + tshift;
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) |
			    ((uint32_t)(vm->cores * vm->threads) << 16) |
			    (v->apic_id << 24);
			e->ecx |= 1u << 31;		/* running on a hypervisor */
			if (vm->cores * vm->threads > 1)
				e->edx |= 1u << 28;	/* HTT: topology leaves valid */
			break;
		case 4:
			e->eax = (e->eax & 0x03ffffff) |
			    ((uint32_t)(vm->cores - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			if (e->index == 0) {
				e->eax = tshift;
				e->ebx = vm->threads;
				e->ecx = (1 << 8) | 0;
			} else if (e->index == 1) {
				e->eax = cshift;
				e->ebx = vm->cores * vm->threads;
				e->ecx = (2 << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			e->edx = v->apic_id;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffu) | (vm->cores * vm->threads - 1);
			break;
		}
	}
}

static void
kick_handler(int sig)
{
	(void)sig;
}

static int
vcpu_init(struct vm *vm, struct vcpu *v, struct kvm_cpuid2 *cpuid,
    const struct boot_entry *e)
{
	int rc;

	/* On x86 the vCPU id is its initial APIC id. */
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, v->apic_id);
	if (v->fd < 0) {
		rc = -errno;
		hlog("vcpu %d: KVM_CREATE_VCPU: %s", v->id, strerror(errno));
		return rc;
	}
	v->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    v->fd, 0);
	if (v->run == MAP_FAILED) {
		rc = -errno;
		hlog("vcpu %d: mmap of kvm_run: %s", v->id, strerror(errno));
		v->run = NULL;
		return rc;
	}
	cpuid_patch(vm, cpuid, v);
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
		rc = -errno;
		hlog("vcpu %d: KVM_SET_CPUID2: %s", v->id, strerror(errno));
		return rc;
	}
	if (v->id == 0 && e != NULL) {
		struct kvm_sregs sregs;
		struct kvm_regs regs;

		if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
			return -errno;
		memset(&regs, 0, sizeof(regs));
		boot_cpu_state(e, &sregs, &regs);
		if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ||
		    ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
			rc = -errno;
			hlog("vcpu 0: setting the boot register state: %s",
			    strerror(errno));
			return rc;
		}
	}
	return 0;
}

int
vcpus_create(struct vm *vm, const struct boot_entry *e)
{
	struct kvm_cpuid2 *cpuid;
	struct sigaction sa;
	int i, rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigaction(SIG_KICK, &sa, NULL);

	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (vm->vcpus == NULL)
		return -ENOMEM;
	if ((cpuid = cpuid_supported(vm)) == NULL)
		return -ENOTSUP;
	for (i = 0; i < vm->ncpus && rc == 0; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->vm = vm;
		v->id = i;
		v->fd = -1;
		v->apic_id = vcpu_apic_id(vm, i);
		rc = vcpu_init(vm, v, cpuid, e);
	}
	free(cpuid);
	return rc;
}

static void
dump_regs(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return;
	hlog("vcpu %d: rip %#llx rsp %#llx rflags %#llx cr0 %#llx cr3 %#llx "
	    "cr4 %#llx efer %#llx cs %#x", v->id, r.rip, r.rsp, r.rflags,
	    s.cr0, s.cr3, s.cr4, s.efer, s.cs.selector);
}

static int
exit_io(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint16_t port = run->io.port;
	int size = run->io.size;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t n;
	int rc = 0;

	pthread_mutex_lock(&vm->dev_lock);
	for (n = 0; n < run->io.count; n++, data += size) {
		uint64_t val = 0;

		if (write)
			memcpy(&val, data, size);
		rc = bus_access(&vm->pio, port, size, write, &val);
		if (rc == -ENOENT) {
			val = ~0ULL;
			if (!(pio_logged[port / 8] & (1 << (port % 8)))) {
				pio_logged[port / 8] |= 1 << (port % 8);
				hlog("vcpu %d: %s of unhandled port 0x%x (size %d)%s",
				    v->id, write ? "write" : "read", port, size,
				    vm->strictio ? "" : "; reads as all-ones");
			}
			if (vm->strictio) {
				pthread_mutex_unlock(&vm->dev_lock);
				vm_request_exit(vm, EXIT_ERROR,
				    "unhandled port access with x86.strictio");
				return -1;
			}
			rc = 0;
		}
		if (!write)
			memcpy(data, &val, size);
	}
	pthread_mutex_unlock(&vm->dev_lock);
	(void)rc;
	return 0;
}

static int
exit_mmio(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint64_t val = 0;
	int size = run->mmio.len, rc;

	if (size < 1 || size > 8)
		return 0;
	if (run->mmio.is_write)
		memcpy(&val, run->mmio.data, size);
	pthread_mutex_lock(&vm->dev_lock);
	rc = bus_access(&vm->mmio, run->mmio.phys_addr, size,
	    run->mmio.is_write, &val);
	pthread_mutex_unlock(&vm->dev_lock);
	if (rc == -ENOENT) {
		val = ~0ULL;
		hlog_once(&mmio_logged_any, "vcpu %d: %s of unhandled MMIO "
		    "address 0x%llx (size %d)%s; further ones not logged", v->id,
		    run->mmio.is_write ? "write" : "read",
		    (unsigned long long)run->mmio.phys_addr, size,
		    vm->strictio ? "" : "; reads as all-ones");
		if (vm->strictio) {
			vm_request_exit(vm, EXIT_ERROR,
			    "unhandled MMIO access with x86.strictio");
			return -1;
		}
	}
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &val, size);
	return 0;
}

static int
exit_shutdown(struct vcpu *v)
{
	dump_regs(v);
	vm_request_exit(v->vm, EXIT_TRIPLEFAULT, "triple fault");
	return -1;
}

static int
exit_hlt(struct vcpu *v)
{
	vm_request_exit(v->vm, EXIT_HALT, "vcpu halted");
	return -1;
}

static int
exit_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(v->vm, EXIT_POWEROFF, "system event: shutdown");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(v->vm, EXIT_REBOOT, "system event: reset");
		break;
	default:
		vm_request_exit(v->vm, EXIT_ERROR, "system event: crash");
		break;
	}
	return -1;
}

static int
exit_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char buf[256];
	int n = 0;
	uint32_t i;

	n = snprintf(buf, sizeof(buf), "vcpu %d: KVM internal error, suberror %u",
	    v->id, run->internal.suberror);
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
		n += snprintf(buf + n, sizeof(buf) - n,
		    " (instruction emulation failed)");
	for (i = 0; i < run->internal.ndata && i < 4 && n < (int)sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n, " %#llx",
		    (unsigned long long)run->internal.data[i]);
	hlog("%s", buf);
	dump_regs(v);
	vm_request_exit(v->vm, EXIT_ERROR, "KVM internal error");
	return -1;
}

static int
exit_fail_entry(struct vcpu *v)
{
	hlog("vcpu %d: KVM could not enter the guest (reason %#llx)", v->id,
	    (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
	dump_regs(v);
	vm_request_exit(v->vm, EXIT_ERROR, "entry failure");
	return -1;
}

static int
exit_intr(struct vcpu *v)
{
	(void)v;
	return 0;
}

typedef int (*exit_handler_t)(struct vcpu *);

static const exit_handler_t exit_handlers[] = {
	[KVM_EXIT_IO]		= exit_io,
	[KVM_EXIT_MMIO]		= exit_mmio,
	[KVM_EXIT_HLT]		= exit_hlt,
	[KVM_EXIT_SHUTDOWN]	= exit_shutdown,
	[KVM_EXIT_FAIL_ENTRY]	= exit_fail_entry,
	[KVM_EXIT_INTR]		= exit_intr,
	[KVM_EXIT_INTERNAL_ERROR] = exit_internal_error,
	[KVM_EXIT_SYSTEM_EVENT]	= exit_system_event,
};

int
vcpu_handle_exit(struct vcpu *v)
{
	uint32_t reason = v->run->exit_reason;
	char why[64];

	if (reason < sizeof(exit_handlers) / sizeof(exit_handlers[0]) &&
	    exit_handlers[reason] != NULL)
		return exit_handlers[reason](v);
	hlog("vcpu %d: unexpected KVM exit reason %u", v->id, reason);
	dump_regs(v);
	snprintf(why, sizeof(why), "unhandled exit %u", reason);
	vm_request_exit(v->vm, EXIT_ERROR, why);
	return -1;
}

/* Called on the vCPU thread after a kick: may it ever run again? */
static void
vcpu_answer_halt(struct vcpu *v)
{
	struct kvm_mp_state mp;
	struct kvm_regs r;
	int halted = 0;

	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0) {
		if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
		    mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
			halted = 1;
		else if (mp.mp_state == KVM_MP_STATE_HALTED &&
		    ioctl(v->fd, KVM_GET_REGS, &r) == 0 && !(r.rflags & (1 << 9)))
			halted = 1;
	}
	__atomic_store_n(&v->halted, halted, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->halt_query, 0, __ATOMIC_SEQ_CST);
}

static void
vcpu_park(struct vcpu *v)
{
	pthread_mutex_lock(&park_lock);
	v->parked = 1;
	pthread_cond_broadcast(&park_cv);
	while (pause_req && !__atomic_load_n(&v->vm->exiting, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&park_cv, &park_lock);
	v->parked = 0;
	pthread_mutex_unlock(&park_lock);
}

static void *
vcpu_loop(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, SIG_KICK);
	pthread_sigmask(SIG_SETMASK, &set, NULL);

	while (!__atomic_load_n(&vm->exiting, __ATOMIC_SEQ_CST)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			/* EAGAIN: an AP woken by SIPI; EINTR: a kick. */
			if (errno != EINTR && errno != EAGAIN) {
				hlog("vcpu %d: KVM_RUN: %s", v->id, strerror(errno));
				vm_request_exit(vm, EXIT_ERROR, "KVM_RUN failed");
				break;
			}
			v->run->immediate_exit = 0;
			if (__atomic_load_n(&v->halt_query, __ATOMIC_SEQ_CST))
				vcpu_answer_halt(v);
			if (__atomic_load_n(&pause_req, __ATOMIC_SEQ_CST))
				vcpu_park(v);
			continue;
		}
		if (vcpu_handle_exit(v) < 0)
			break;
	}
	pthread_mutex_lock(&park_lock);
	v->parked = 1;		/* gone for good: as good as parked */
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_lock);
	return NULL;
}

int
vcpus_start(struct vm *vm)
{
	int i, rc;

	for (i = 0; i < vm->ncpus; i++) {
		rc = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_loop,
		    &vm->vcpus[i]);
		if (rc != 0) {
			hlog("vcpu %d: cannot start its thread: %s", i, strerror(rc));
			return -rc;
		}
		vm->vcpus[i].started = 1;
	}
	return 0;
}

static void
vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, SIG_KICK);
}

void
vcpus_kick(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

void
vcpus_join(struct vm *vm)
{
	int i;

	/* A parked vCPU sees vm->exiting only when woken. */
	pthread_mutex_lock(&park_lock);
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_lock);
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started) {
			vcpu_kick(&vm->vcpus[i]);
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = 0;
		}
	}
}

int
vcpus_all_halted(struct vm *vm)
{
	int i, all = 1;

	/* Collect the answers to the previous query, then ask again. */
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (__atomic_load_n(&v->halt_query, __ATOMIC_SEQ_CST) ||
		    !__atomic_load_n(&v->halted, __ATOMIC_SEQ_CST))
			all = 0;
	}
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		__atomic_store_n(&v->halt_query, 1, __ATOMIC_SEQ_CST);
		vcpu_kick(v);
	}
	return all;
}

int
vcpus_pause(struct vm *vm, int timeout_ms)
{
	struct timespec dl;
	int i, rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	__atomic_store_n(&pause_req, 1, __ATOMIC_SEQ_CST);
	vcpus_kick(vm);
	pthread_mutex_lock(&park_lock);
	for (i = 0; i < vm->ncpus && rc == 0; i++) {
		struct vcpu *v = &vm->vcpus[i];

		while (v->started && !v->parked && rc == 0)
			rc = pthread_cond_timedwait(&park_cv, &park_lock, &dl);
	}
	pthread_mutex_unlock(&park_lock);
	if (rc != 0) {
		hlog("%s: vcpu %d did not stop within %d ms", vm->name, i - 1,
		    timeout_ms);
		vcpus_resume(vm);
		return -ETIMEDOUT;
	}
	return 0;
}

void
vcpus_resume(struct vm *vm)
{
	(void)vm;
	pthread_mutex_lock(&park_lock);
	__atomic_store_n(&pause_req, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_lock);
}
