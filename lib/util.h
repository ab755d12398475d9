#ifndef HYVE_UTIL_H
#define HYVE_UTIL_H

/* Small helpers every process shares. */

#include <stddef.h>
#include <sys/types.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Writes all of buf to fd (a pipe or file), through EINTR and short
 * writes.  0, or -errno (-EIO for a write that wrote nothing). */
int write_all(int fd, const void *buf, size_t len);
/* Reads all len bytes at off, through EINTR and short reads.  0, or
 * -errno (-ENODATA: the file ends first). */
int pread_all(int fd, void *buf, size_t len, off_t off);
/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);

#endif
