/*
 * The snapshot format: header, tagged sections, checksums (see
 * docs/SNAPSHOT.md).  Only the container lives here; what goes into each
 * section is the business of the code that owns the state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/snapshot.h"
#include "lib/log.h"

_Static_assert(sizeof(struct snap_header) == 32, "snap_header layout");
_Static_assert(sizeof(struct snap_section) == 16, "snap_section layout");

/* Section data starts 8-byte aligned: the next section after padding. */
static uint64_t
padded(uint64_t len)
{
	return (len + 7) & ~(uint64_t)7;
}

uint32_t
snap_crc32(uint32_t crc, const void *p, size_t len)
{
	static uint32_t table[256];
	const uint8_t *b = p;
	size_t i;

	if (table[1] == 0) {
		for (uint32_t n = 0; n < 256; n++) {
			uint32_t c = n;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[n] = c;
		}
	}
	crc = ~crc;
	for (i = 0; i < len; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint64_t
snap_memhash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

void
snap_init(struct snap *s)
{
	memset(s, 0, sizeof(*s));
}

void
snap_free(struct snap *s)
{
	free(s->buf);
	snap_init(s);
}

static int
snap_reserve(struct snap *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 4096;
	uint8_t *nb;

	if (more > SNAP_MAX_BODY || s->len + more > SNAP_MAX_BODY)
		return -EFBIG;
	while (cap < s->len + more)
		cap *= 2;
	if (cap == s->cap)
		return 0;
	if ((nb = realloc(s->buf, cap)) == NULL)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

int
snap_add(struct snap *s, uint32_t tag, uint32_t inst, const void *data,
    size_t len)
{
	struct snap_section sec = { .tag = tag, .inst = inst, .len = len };
	int rc;

	if (s->err < 0)
		return s->err;
	if ((rc = snap_reserve(s, sizeof(sec) + padded(len))) < 0)
		return s->err = rc;
	memcpy(s->buf + s->len, &sec, sizeof(sec));
	memset(s->buf + s->len + sizeof(sec), 0, padded(len));
	if (len > 0)
		memcpy(s->buf + s->len + sizeof(sec), data, len);
	s->len += sizeof(sec) + padded(len);
	return 0;
}

static int
write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t n;

	while (len > 0) {
		n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		b += n;
		len -= n;
	}
	return 0;
}

const char *
snap_versions(void)
{
	static char buf[48];

	if (SNAP_VERSION_MIN == SNAP_VERSION)
		snprintf(buf, sizeof(buf), "version %u", SNAP_VERSION);
	else
		snprintf(buf, sizeof(buf), "versions %u to %u",
		    SNAP_VERSION_MIN, SNAP_VERSION);
	return buf;
}

void
snap_header_make(const struct snap *s, struct snap_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SNAP_MAGIC, sizeof(h->magic));
	h->version = SNAP_VERSION;
	h->header_size = sizeof(*h);
	h->body_len = s->len;
	h->body_crc = snap_crc32(0, s->buf, s->len);
	h->header_crc = snap_crc32(0, h, offsetof(struct snap_header,
	    header_crc));
}

int
snap_write(struct snap *s, int fd, const char *name)
{
	struct snap_header h;
	int rc;

	if (s->err < 0) {
		hlog("%s: cannot build the snapshot: %s", name,
		    strerror(-s->err));
		return s->err;
	}
	snap_header_make(s, &h);
	if ((rc = write_all(fd, &h, sizeof(h))) < 0 ||
	    (rc = write_all(fd, s->buf, s->len)) < 0) {
		hlog("%s: cannot write the snapshot: %s", name, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Reads up to len bytes; the count read (short only at end of file). */
static ssize_t
read_full(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, b + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

static int
check_header(const struct snap_header *h, ssize_t n, const char *name)
{
	if (n >= 8 && memcmp(h->magic, SNAP_MAGIC, 8) != 0) {
		hlog("%s: not a hyve snapshot (no %s magic)", name, SNAP_MAGIC);
		return -EINVAL;
	}
	if (n < (ssize_t)sizeof(*h)) {
		hlog("%s: truncated: %zd bytes, shorter than the %zu-byte "
		    "header", name, n, sizeof(*h));
		return -EIO;
	}
	if (h->header_crc != snap_crc32(0, h, offsetof(struct snap_header,
	    header_crc))) {
		hlog("%s: corrupt: the header's checksum does not match", name);
		return -EINVAL;
	}
	if (h->version < SNAP_VERSION_MIN || h->version > SNAP_VERSION) {
		hlog("%s: snapshot format version %u; this hyve reads %s only",
		    name, h->version, snap_versions());
		return -EINVAL;
	}
	if (h->header_size != sizeof(*h) || h->body_len > SNAP_MAX_BODY) {
		hlog("%s: corrupt: header size %u, body %llu bytes", name,
		    h->header_size, (unsigned long long)h->body_len);
		return -EINVAL;
	}
	return 0;
}

/* Every section lies within the body. */
static int
check_sections(const struct snap *s, const char *name)
{
	struct snap_section sec;
	size_t off = 0;

	while (off < s->len) {
		if (s->len - off < sizeof(sec)) {
			hlog("%s: corrupt: a section header is cut at byte %zu",
			    name, off);
			return -EINVAL;
		}
		memcpy(&sec, s->buf + off, sizeof(sec));
		off += sizeof(sec);
		if (sec.len > s->len - off || padded(sec.len) > s->len - off) {
			hlog("%s: corrupt: section %u.%u runs past the end",
			    name, sec.tag, sec.inst);
			return -EINVAL;
		}
		off += padded(sec.len);
	}
	return 0;
}

static int read_state(struct snap *s, int fd, const char *name, bool whole);

int
snap_read(struct snap *s, int fd, const char *name)
{
	return read_state(s, fd, name, true);
}

int
snap_recv(struct snap *s, int fd, const char *name)
{
	return read_state(s, fd, name, false);
}

/* whole: the file must end with the snapshot. */
static int
read_state(struct snap *s, int fd, const char *name, bool whole)
{
	struct snap_header h;
	uint8_t extra;
	ssize_t n;
	int rc;

	snap_init(s);
	memset(&h, 0, sizeof(h));
	if ((n = read_full(fd, &h, sizeof(h))) < 0) {
		hlog("%s: cannot read: %s", name, strerror(-n));
		return n;
	}
	if ((rc = check_header(&h, n, name)) < 0)
		return rc;
	if ((s->buf = malloc(h.body_len ? h.body_len : 1)) == NULL)
		return -ENOMEM;
	s->cap = h.body_len;
	if ((n = read_full(fd, s->buf, h.body_len)) < 0) {
		hlog("%s: cannot read: %s", name, strerror(-n));
		snap_free(s);
		return n;
	}
	if ((size_t)n < h.body_len) {
		hlog("%s: truncated: %zu of %llu bytes", name,
		    (size_t)n + sizeof(h),
		    (unsigned long long)(h.body_len + sizeof(h)));
		snap_free(s);
		return -EIO;
	}
	s->len = n;
	if (snap_crc32(0, s->buf, s->len) != h.body_crc) {
		hlog("%s: corrupt: the checksum does not match the contents",
		    name);
		snap_free(s);
		return -EINVAL;
	}
	if (whole && read_full(fd, &extra, 1) != 0) {
		hlog("%s: corrupt: bytes after the end of the snapshot", name);
		snap_free(s);
		return -EINVAL;
	}
	if ((rc = check_sections(s, name)) < 0) {
		snap_free(s);
		return rc;
	}
	return 0;
}

const void *
snap_find(const struct snap *s, uint32_t tag, uint32_t inst, size_t *len)
{
	struct snap_section sec;
	size_t off = 0;

	while (off + sizeof(sec) <= s->len) {
		memcpy(&sec, s->buf + off, sizeof(sec));
		off += sizeof(sec);
		if (sec.tag == tag && sec.inst == inst) {
			if (len != NULL)
				*len = sec.len;
			return s->buf + off;
		}
		off += padded(sec.len);
	}
	return NULL;
}

const void *
snap_get(const struct snap *s, uint32_t tag, uint32_t inst, size_t len,
    const char *what)
{
	const void *p;
	size_t n;

	if ((p = snap_find(s, tag, inst, &n)) == NULL) {
		hlog("snapshot: no %s state in it (taken by another hyve "
		    "version?)", what);
		return NULL;
	}
	if (n != len) {
		hlog("snapshot: the %s state is %zu bytes, this hyve expects "
		    "%zu", what, n, len);
		return NULL;
	}
	return p;
}

int
snap_get_opt(const struct snap *s, uint32_t tag, uint32_t inst, size_t len,
    const char *what, const void **data)
{
	*data = NULL;
	if (snap_find(s, tag, inst, NULL) == NULL)
		return 0;
	if ((*data = snap_get(s, tag, inst, len, what)) == NULL)
		return -EINVAL;
	return 0;
}
