#ifndef HYVE_SPAWNER_H
#define HYVE_SPAWNER_H

#include <sys/types.h>

/*
 * The spawner: a small process the core forks at the very start, while it
 * is still single-threaded and unconfined, that starts backends for it
 * (clone into a new PID namespace as the core's own child, exec).  With it the
 * core itself never needs fork, exec or namespaces, so its own seccomp
 * filter can leave them out.
 */
int spawner_start(void);
/* Ends the spawner (at exit). */
void spawner_stop(void);
/* Whether spawner_start succeeded (else backend.c forks by itself). */
int spawner_active(void);
/* Starts path with argv; sock becomes fd 3, fds[i] fd 4+i. */
int spawner_spawn(const char *path, char *const argv[], int sock,
    const int *fds, int nfds, pid_t *pid);

#endif
