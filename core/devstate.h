#ifndef HYVE_DEVSTATE_H
#define HYVE_DEVSTATE_H

#include <stdbool.h>

/*
 * Each device of the core saves and loads its own state (in its own file)
 * as snapshot sections; load runs on a VM built from the same
 * configuration, before its vCPUs start.  -EINVAL with one line naming
 * the device when the snapshot lacks it or has it in another shape.
 */
struct vm;
struct snap;

int uart_save(struct vm *vm, struct snap *s);
int uart_load(struct vm *vm, const struct snap *s);
int rtc_save(struct vm *vm, struct snap *s);
int rtc_load(struct vm *vm, const struct snap *s);
int pm_save(struct vm *vm, struct snap *s);
int pm_load(struct vm *vm, const struct snap *s);
int i8042_save(struct vm *vm, struct snap *s);
int i8042_load(struct vm *vm, const struct snap *s);
/* Config space of every PCI device, and the 0xcf8 latch. */
int pci_save(struct vm *vm, struct snap *s);
int pci_load(struct vm *vm, const struct snap *s);
/*
 * The virtio-pci transport of every device served by a backend: save
 * stops each running ring (GET_VRING_BASE: the backend finishes what it
 * has in flight) and records where; vpci_resume starts them again on the
 * same backends; load gives the new backends the rings where they
 * stopped.  With backends, save asks each backend for its own state too
 * (DEVICE_STATE); an upgrade, whose backends stay, does not.
 */
int vpci_save(struct vm *vm, struct snap *s, bool backends);
/* Before pausing: -ENOTSUP for a device whose backend holds state of its
 * own (vsock, fs), -EBUSY for one whose backend failed, -EAGAIN for one
 * whose backend is being restarted; err says which.  vpci_save returns
 * -EAGAIN too for a backend that dies while it is saved. */
int vpci_snapshot_check(char *err, size_t len);
int vpci_resume(struct vm *vm, const struct snap *s);
/* Without start the rings stay stopped until vpci_start (an upgrade's new
 * core, which must not touch a backend before the old core lets go). */
int vpci_load(struct vm *vm, const struct snap *s, bool start);
/* The rings loaded without start, on the backends the VM adopted; each
 * queue's interrupt is raised once, for completions the old VM took. */
int vpci_start(struct vm *vm, const struct snap *s);

#endif
