#ifndef HYVE_UTIL_H
#define HYVE_UTIL_H

/* Small helpers every process shares. */

#include <stddef.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Writes all of buf to fd (a pipe or file), through EINTR and short
 * writes.  0, or -errno (-EIO for a write that wrote nothing). */
int write_all(int fd, const void *buf, size_t len);
/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);

#endif
