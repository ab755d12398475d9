#ifndef HYVE_BUS_H
#define HYVE_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An I/O bus: the port space or the MMIO space.  Devices register ranges;
 * the exit dispatcher looks up the range that holds an access and calls the
 * handler with the offset into the range.  Ranges never overlap.
 *
 * A handler returns 0, or -errno; on a read it stores the value in *val
 * (zero-extended to the access size).  Handlers are called with the VM's
 * device lock held, so device state needs no lock of its own.
 */
typedef int (*bus_handler_t)(void *opaque, uint64_t off, int size, bool write,
    uint64_t *val);

struct bus_range {
	uint64_t	base;
	uint64_t	len;
	bus_handler_t	fn;
	void		*opaque;
	const char	*name;
};

struct bus {
	const char	*what;		/* "port" or "mmio", for messages */
	struct bus_range *r;		/* sorted by base */
	int		n, cap;
};

void bus_init(struct bus *b, const char *what);
void bus_free(struct bus *b);
/* -EEXIST (with a message naming both devices) if the range overlaps. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_handler_t fn,
    void *opaque, const char *name);
int bus_unregister(struct bus *b, uint64_t base);
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);
/* -ENOENT if no device claims addr. */
int bus_access(const struct bus *b, uint64_t addr, int size, bool write,
    uint64_t *val);

#endif
