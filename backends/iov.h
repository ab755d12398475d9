#ifndef HYVE_IOV_H
#define HYVE_IOV_H

/* Copies between a request's buffers and flat memory, for every backend. */

#include <stddef.h>
#include <sys/uio.h>

/* Copies up to len bytes at offset skip of the iovecs into buf; returns
 * how many. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf,
    size_t len);
/* Copies up to len bytes of buf into the iovecs; returns how many. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, const void *buf,
    size_t len);
/* Drops the first skip bytes of *iov; the array is edited in place. */
void iov_skip(struct iovec **iov, unsigned *n, size_t skip);

#endif
