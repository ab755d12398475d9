#ifndef HYVE_DEVSTATE_H
#define HYVE_DEVSTATE_H

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

#endif
