/*
 * AML emitter.  Opcodes and encodings are those of the ACPI specification,
 * chapter 20 (ACPI Machine Language) and section 6.4 (resource data types).
 */
#include <errno.h>
#include <string.h>

#include "core/aml.h"

#define ZERO_OP		0x00
#define ONE_OP		0x01
#define NAME_OP		0x08
#define BYTE_PREFIX	0x0A
#define WORD_PREFIX	0x0B
#define DWORD_PREFIX	0x0C
#define STRING_PREFIX	0x0D
#define QWORD_PREFIX	0x0E
#define SCOPE_OP	0x10
#define BUFFER_OP	0x11
#define PACKAGE_OP	0x12
#define METHOD_OP	0x14
#define NOTIFY_OP	0x86
#define EXT_OP_PREFIX	0x5B
#define DEVICE_OP	0x82	/* after EXT_OP_PREFIX */
#define DUAL_NAME	0x2E
#define MULTI_NAME	0x2F
#define ROOT_CHAR	'\\'
#define PARENT_CHAR	'^'

enum { K_SCOPE, K_DEVICE, K_PACKAGE, K_BUFFER, K_METHOD };

static void
fail(struct aml *a, int err)
{
	if (a->err == 0)
		a->err = err;
}

void
aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
}

void
aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void
aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void
le(uint8_t *out, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static void
aml_le(struct aml *a, uint64_t v, int n)
{
	uint8_t b[8];

	le(b, v, n);
	aml_bytes(a, b, n);
}

/* Encodes an integer constant into out (up to 9 bytes); returns its size. */
static size_t
int_encode(uint64_t v, uint8_t *out)
{
	if (v == 0 || v == 1) {
		out[0] = v ? ONE_OP : ZERO_OP;
		return 1;
	}
	if (v <= 0xFF) {
		out[0] = BYTE_PREFIX;
		out[1] = (uint8_t)v;
		return 2;
	}
	if (v <= 0xFFFF) {
		out[0] = WORD_PREFIX;
		le(out + 1, v, 2);
		return 3;
	}
	if (v <= 0xFFFFFFFF) {
		out[0] = DWORD_PREFIX;
		le(out + 1, v, 4);
		return 5;
	}
	out[0] = QWORD_PREFIX;
	le(out + 1, v, 8);
	return 9;
}

void
aml_int(struct aml *a, uint64_t v)
{
	uint8_t b[9];

	aml_bytes(a, b, int_encode(v, b));
}

void
aml_string(struct aml *a, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c > 0x7F) {
			fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int
lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

/* One NameSeg from s (up to the next '.' or end); returns chars consumed. */
static size_t
name_seg(struct aml *a, const char *s)
{
	char seg[4] = { '_', '_', '_', '_' };
	size_t n;

	for (n = 0; s[n] != '\0' && s[n] != '.'; n++) {
		if (n == 4 || !(lead_char(s[n]) || (n > 0 && s[n] >= '0' &&
		    s[n] <= '9'))) {
			fail(a, -EINVAL);
			return n;
		}
		seg[n] = s[n];
	}
	if (n == 0)
		fail(a, -EINVAL);
	aml_bytes(a, seg, 4);
	return n;
}

void
aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	int nseg = 0;

	if (*p == ROOT_CHAR)
		aml_byte(a, *p++);
	else
		while (*p == PARENT_CHAR)
			aml_byte(a, *p++);
	if (*p == '\0') {
		aml_byte(a, ZERO_OP);	/* NullName */
		return;
	}
	for (const char *c = p; *c; c++)
		if (*c == '.')
			nseg++;
	nseg++;
	if (nseg > 255) {
		fail(a, -EINVAL);
		return;
	}
	if (nseg == 2)
		aml_byte(a, DUAL_NAME);
	else if (nseg > 2) {
		aml_byte(a, MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	for (int i = 0; i < nseg && a->err == 0; i++) {
		p += name_seg(a, p);
		if (*p == '.')
			p++;
	}
}

void
aml_eisaid(struct aml *a, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t v = 0;
	const char *h;

	if (strlen(id) != 7) {
		fail(a, -EINVAL);
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)(id[i] - '@') << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		if (id[i] == '\0' || (h = strchr(hex, id[i])) == NULL) {
			fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)(h - hex) << (4 * (6 - i));
	}
	/* The compressed id is stored most significant byte first. */
	aml_byte(a, DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
}

void
aml_name(struct aml *a, const char *path)
{
	aml_byte(a, NAME_OP);
	aml_namestring(a, path);
}

static void
push(struct aml *a, int kind)
{
	if (a->err)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		fail(a, -E2BIG);
		return;
	}
	a->kind[a->depth] = (uint8_t)kind;
	a->open[a->depth++] = a->len;
}

void
aml_scope(struct aml *a, const char *path)
{
	aml_byte(a, SCOPE_OP);
	push(a, K_SCOPE);
	aml_namestring(a, path);
}

void
aml_device(struct aml *a, const char *path)
{
	aml_byte(a, EXT_OP_PREFIX);
	aml_byte(a, DEVICE_OP);
	push(a, K_DEVICE);
	aml_namestring(a, path);
}

void
aml_method(struct aml *a, const char *path, uint8_t nargs)
{
	if (nargs > 7)
		fail(a, -EINVAL);
	aml_byte(a, METHOD_OP);
	push(a, K_METHOD);
	aml_namestring(a, path);
	aml_byte(a, nargs);		/* not serialized, sync level 0 */
}

void
aml_notify(struct aml *a, const char *path, uint8_t value)
{
	aml_byte(a, NOTIFY_OP);
	aml_namestring(a, path);
	aml_int(a, value);
}

void
aml_package(struct aml *a, uint8_t nelem)
{
	aml_byte(a, PACKAGE_OP);
	push(a, K_PACKAGE);
	aml_byte(a, nelem);
}

void
aml_buffer(struct aml *a)
{
	aml_byte(a, BUFFER_OP);
	push(a, K_BUFFER);
}

/*
 * Inserts the PkgLength (and for a buffer its BufferSize) in front of the
 * body of the innermost open object.  PkgLength counts its own bytes.
 */
void
aml_close(struct aml *a)
{
	uint8_t pre[16];
	size_t start, body, npre, n, total = 0;

	if (a->err)
		return;
	if (a->depth == 0) {
		fail(a, -EINVAL);
		return;
	}
	start = a->open[--a->depth];
	body = a->len - start;
	npre = 4;		/* room for the longest PkgLength */
	if (a->kind[a->depth] == K_BUFFER)
		npre += int_encode(body, pre + 4);
	for (n = 1; n <= 4; n++) {
		total = body + (npre - 4) + n;
		if ((n == 1 && total < 0x40) ||
		    (n > 1 && total < (1UL << (4 + 8 * (n - 1)))))
			break;
	}
	if (n > 4) {
		fail(a, -E2BIG);
		return;
	}
	if (n == 1)
		pre[3] = (uint8_t)total;
	else {
		pre[4 - n] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
		for (size_t i = 1; i < n; i++)
			pre[4 - n + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	npre -= 4 - n;
	if (npre > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memmove(a->buf + start + npre, a->buf + start, body);
	memcpy(a->buf + start, pre + 4 - n, npre);
	a->len += npre;
}

/* Small IO port descriptor, 16-bit decode. */
void
aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
    uint8_t len)
{
	aml_byte(a, 0x47);
	aml_byte(a, 0x01);
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void
aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		fail(a, -EINVAL);
		return;
	}
	aml_byte(a, 0x22);
	aml_le(a, 1U << irq, 2);
}

/*
 * Address space descriptors, as a bridge's windows: ResourceProducer,
 * positive decode, minimum and maximum fixed, no translation.
 */
#define ADDR_FLAGS	0x0C

static void
addr_space(struct aml *a, uint8_t tag, uint8_t type, uint8_t tflags,
    int width, uint64_t min, uint64_t max)
{
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * (unsigned)width, 2);
	aml_byte(a, type);
	aml_byte(a, ADDR_FLAGS);
	aml_byte(a, tflags);
	aml_le(a, 0, width);			/* granularity */
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width);			/* translation offset */
	aml_le(a, max - min + 1, width);	/* length */
}

void
aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, 0x88, 2, 0, 2, min, max);
}

void
aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, 0x88, 1, 0x03, 2, min, max);	/* entire range */
}

void
aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max)
{
	addr_space(a, 0x87, 0, 0x01, 4, min, max);	/* non-cacheable, rw */
}

void
aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max)
{
	addr_space(a, 0x8A, 0, 0x03, 8, min, max);	/* cacheable, rw */
}

void
aml_res_end(struct aml *a)
{
	aml_byte(a, 0x79);
	aml_byte(a, 0x00);	/* checksum 0: treated as valid */
}
