#ifndef HYVE_VCPU_H
#define HYVE_VCPU_H

#include <pthread.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;
struct boot_entry;

struct vcpu {
	struct vm	*vm;
	int		id;
	uint32_t	apic_id;
	int		fd;
	struct kvm_run	*run;
	size_t		run_size;
	pthread_t	thread;
	int		started;
	/* Halt detection: the main thread asks, the vCPU answers. */
	int		halt_query;
	int		halted;		/* halted with interrupts off, or never started */
	int		parked;		/* out of KVM_RUN, paused (under park_lock) */
};

/* APIC id of vCPU i for the VM's topology. */
uint32_t vcpu_apic_id(const struct vm *vm, int i);
/* Creates vm->ncpus vCPUs with CPUID set; the BSP gets the boot entry state. */
int vcpus_create(struct vm *vm, const struct boot_entry *e);
int vcpus_start(struct vm *vm);
/* Makes every vCPU leave KVM_RUN soon; they stop if vm->exiting. */
void vcpus_kick(struct vm *vm);
void vcpus_join(struct vm *vm);
/*
 * Stops every vCPU outside KVM_RUN at a consistent point (an I/O exit in
 * flight completed); -ETIMEDOUT, naming the vCPU, if one does not stop in
 * time.  vcpus_resume lets them run on (or, once vm->exiting, end).
 */
int vcpus_pause(struct vm *vm, int timeout_ms);
void vcpus_resume(struct vm *vm);
/* Asks each vCPU whether it is halted for good; returns 1 if all are. */
int vcpus_all_halted(struct vm *vm);

/* Exit handling, split out for unit tests: the run loop calls this. */
int vcpu_handle_exit(struct vcpu *v);

#endif
