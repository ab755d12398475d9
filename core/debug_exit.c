/*
 * QEMU's isa-debug-exit: a guest write of V ends the VM with (V << 1) | 1,
 * so a test guest can report pass/fail through the exit status.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/devices.h"
#include "core/vm.h"
#include "lib/log.h"

struct debug_exit {
	struct vm	*vm;
	uint16_t	port;
	struct debug_exit *next;
};

/* Keeps every instance reachable; there is no teardown hook yet. */
static struct debug_exit *debug_exits;

static int
debug_exit_io(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	struct debug_exit *d = opaque;
	uint64_t v;

	if (!write) {
		*val = 0xFFFF;
		return 0;
	}
	if (off != 0 || (size != 1 && size != 2))
		return 0;
	v = *val & (size == 1 ? 0xFF : 0xFFFF);
	vm_request_exit(d->vm, (int)((v << 1) | 1), "debug-exit");
	return 0;
}

int
debug_exit_init(struct vm *vm, uint16_t port)
{
	struct debug_exit *d;
	int rc;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->vm = vm;
	d->port = port;
	rc = vm_register_pio(vm, port, 1, debug_exit_io, d, "debug-exit");
	if (rc < 0) {
		hlog("debug-exit: cannot claim port 0x%x; choose a free port",
		    port);
		free(d);
		return rc;
	}
	d->next = debug_exits;
	debug_exits = d;
	return 0;
}
