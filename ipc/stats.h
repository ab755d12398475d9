#ifndef HYVE_STATS_H
#define HYVE_STATS_H

#include <stdint.h>

/*
 * A device's counters, in a page of shared memory the core creates and
 * hands to each backend that serves the device (--stats-fd): the backend
 * counts, the core reads, and the counts outlive a backend's restart.
 * Each field only grows; the backend is the only writer.
 */
struct hyve_stats {
	uint64_t	requests;	/* descriptor chains completed */
	uint64_t	bytes;		/* bytes read from and written to the guest */
	uint64_t	errors;		/* queue errors and failed requests */
	uint64_t	kicks;		/* notifications from the guest */
	uint64_t	interrupts;	/* notifications to the guest */
	uint64_t	seccomp_nr;	/* syscall that killed a backend, + 1 */
};

#endif
