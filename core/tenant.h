#ifndef HYVE_TENANT_H
#define HYVE_TENANT_H

#include <sys/types.h>

/*
 * Each VM's backends run as a uid and gid of their own, so two tenants'
 * backends cannot signal, trace or read each other.  The ids come from
 * tenant.uid / tenant.gid, or are taken from tenant.uid_range
 * (BASE-END, default 600000-600999): the first id whose lock file under
 * /run/hyve/ids/ no other hyve holds.  The lock is held while the VM runs.
 */
#define TENANT_RANGE_DEFAULT	"600000-600999"
#define TENANT_LOCK_DIR		"/run/hyve/ids"

int tenant_ids(uid_t *uid, gid_t *gid);

#endif
