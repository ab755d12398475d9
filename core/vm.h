#ifndef HYVE_VM_H
#define HYVE_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/bus.h"

/* Exit codes, exactly as bhyve(8). */
enum {
	EXIT_REBOOT	= 0,
	EXIT_POWEROFF	= 1,
	EXIT_HALT	= 2,
	EXIT_TRIPLEFAULT = 3,
	EXIT_ERROR	= 4,
};

struct vcpu;

struct vm {
	const char	*name;
	int		kvm_fd;		/* -1 in unit tests: no KVM behind this vm */
	int		vm_fd;
	int		mem_fd;		/* sealed memfd holding all guest RAM */
	uint8_t		*mem;		/* the whole memfd, mapped */
	uint64_t	mem_size;	/* bytes of RAM in all */
	uint64_t	lowmem;		/* RAM at [0, lowmem) */
	uint64_t	highmem;	/* RAM at [4 GiB, 4 GiB + highmem) */
	uint64_t	mmio64_base;	/* 64-bit PCI window, above high RAM */

	int		ncpus, sockets, cores, threads;
	struct vcpu	*vcpus;

	struct bus	pio, mmio;
	pthread_mutex_t	dev_lock;	/* held around every device handler */
	bool		strictio;	/* unknown port -> error (-e) */
	bool		strictmsr;

	uint8_t		irq_level[24];	/* last level set per IOAPIC pin */
	uint64_t	vmgenid_gpa;	/* the VM generation ID (vmgenid.c); 0 = none */

	/* Set once, by the first device or event that ends the VM. */
	int		exit_code;
	int		exiting;
	int		exit_fd;	/* eventfd: wakes the main loop on exit */
};

/*
 * A vm with RAM and buses but no KVM, for unit tests and for tools that only
 * build guest images: vm_fd is -1, irq lines are only recorded.
 */
int vm_create_nokvm(struct vm *vm, const char *name, uint64_t mem_size);
int vm_create(struct vm *vm, const char *name, uint64_t mem_size);
/* The same with /dev/kvm and guest RAM handed over (each -1: open or make
 * one), for an upgrade's new core. */
int vm_create_from(struct vm *vm, const char *name, uint64_t mem_size,
    int kvm_fd, int mem_fd);
void vm_destroy(struct vm *vm);

/* Host address of [gpa, gpa+len) if it lies wholly in one RAM region, else NULL. */
void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len);
/* Copy into guest RAM; -EFAULT (naming what) if the range is not RAM. */
int vm_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len);

/* Set an IOAPIC/PIC input line (ISA IRQs 0-15 go to both). */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);
/* Pulse an edge-triggered line. */
int vm_irq_pulse(struct vm *vm, unsigned gsi);

/*
 * Ask every vCPU to stop and the VM to exit with code.  The first caller
 * wins; why is logged.
 */
void vm_request_exit(struct vm *vm, int code, const char *why);

/* Register with the port or MMIO bus (see bus.h). */
int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len, bus_handler_t fn,
    void *opaque, const char *name);
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, bus_handler_t fn,
    void *opaque, const char *name);

#endif
