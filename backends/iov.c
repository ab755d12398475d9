/*
 * Copies between a request's buffers and flat memory; see iov.h.
 */
#include <stdint.h>
#include <string.h>

#include "backends/iov.h"

size_t
iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf,
    size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len;

		if (skip >= k) {
			skip -= k;
			continue;
		}
		k -= skip;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, k);
		done += k;
		skip = 0;
	}
	return done;
}

size_t
iov_from_buf(const struct iovec *iov, unsigned n, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, (const uint8_t *)buf + done, k);
		done += k;
	}
	return done;
}

void
iov_skip(struct iovec **iov, unsigned *n, size_t skip)
{
	while (*n > 0 && skip >= (*iov)->iov_len) {
		skip -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0 && skip > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + skip;
		(*iov)->iov_len -= skip;
	}
}
