#ifndef HYVE_BENCH_FE_H
#define HYVE_BENCH_FE_H

#include "ipc/vhost_user.h"

/* What the vhost-user benchmark frontends (vublk, vunet) share. */

/* A connected socket to the backend at path, retried for 5 s while it
 * starts; -errno (logged) if none. */
int fe_connect(const char *path);
/* One request and its reply; a failure is logged with what. */
int fe_call(int sock, struct vu_msg *m, struct vu_msg *r, const char *what);
/* CPU seconds of process pid, all its threads; -1 if unknown. */
double fe_proc_cpu(int pid);
/* CPU seconds of this process. */
double fe_self_cpu(void);

#endif
