/*
 * VM generation ID: 16 random bytes in reserved guest memory (the last
 * page of the BIOS area, VMGENID_ADDR) that the DSDT's device VGEN points
 * to, as Microsoft's "Virtual Machine Generation ID" specifies.  They are
 * new at boot and again whenever the VM is restored from a snapshot, so
 * that every clone of one snapshot gets its own; the restore then raises
 * GPE0 bit GPE_VMGENID, whose _E00 method notifies the device, and Linux's
 * vmgenid driver mixes the new ID into its RNG (and sends a uevent with
 * NEW_VMGENID=1).  An upgrade keeps the ID: it is the same VM.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/devices.h"
#include "core/layout.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "core/vmgenid.h"
#include "lib/log.h"

#define VMGENID_SIZE	16

static int
new_id(struct vm *vm)
{
	uint8_t id[VMGENID_SIZE];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(id)) {
		n = getrandom(id + got, sizeof(id) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hlog("vmgenid: getrandom: %s", strerror(errno));
			return -errno;
		}
		got += (size_t)n;
	}
	return vm_write(vm, vm->vmgenid_gpa, id, sizeof(id));
}

int
vmgenid_init(struct vm *vm)
{
	vm->vmgenid_gpa = VMGENID_ADDR;
	return new_id(vm);
}

int
vmgenid_save(struct vm *vm, struct snap *s)
{
	if (vm->vmgenid_gpa == 0)
		return 0;
	return snap_add(s, SNAP_VMGENID, 0, &vm->vmgenid_gpa,
	    sizeof(vm->vmgenid_gpa));
}

int
vmgenid_load(struct vm *vm, const struct snap *s, bool restored)
{
	const uint64_t *gpa;
	int rc;

	/* A VM saved by a hyve without the device has none. */
	vm->vmgenid_gpa = 0;
	if (snap_get_opt(s, SNAP_VMGENID, 0, sizeof(*gpa), "vmgenid",
	    (const void **)&gpa) < 0)
		return -EINVAL;
	if (gpa == NULL)
		return 0;
	if (*gpa == 0 || vm_gpa(vm, *gpa, VMGENID_SIZE) == NULL) {
		hlog("vmgenid: the saved address %#llx is not in the VM's RAM",
		    (unsigned long long)*gpa);
		return -EINVAL;
	}
	vm->vmgenid_gpa = *gpa;
	if (!restored)
		return 0;
	if ((rc = new_id(vm)) < 0)
		return rc;
	pm_gpe_raise(vm, GPE_VMGENID);
	return 0;
}
