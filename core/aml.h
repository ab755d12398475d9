/*
 * A small AML (ACPI Machine Language) emitter: enough to write a static
 * DSDT by hand.  Output goes into a caller's fixed buffer; running out of
 * room, nesting too deep or a bad name sets a->err and turns later calls
 * into no-ops, so callers check a->err once at the end.
 */
#ifndef HYVE_AML_H
#define HYVE_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH	16

struct aml {
	uint8_t		*buf;
	size_t		cap;
	size_t		len;
	int		err;		/* 0 or -errno */
	int		depth;
	size_t		open[AML_MAX_DEPTH];	/* body start of each open object */
	uint8_t		kind[AML_MAX_DEPTH];
};

void	aml_init(struct aml *a, uint8_t *buf, size_t cap);
void	aml_bytes(struct aml *a, const void *p, size_t n);
void	aml_byte(struct aml *a, uint8_t b);

/* "\\_SB_.PC00", "PC00", "_S5": segments shorter than 4 are padded with '_'. */
void	aml_namestring(struct aml *a, const char *path);
/* Smallest encoding: Zero, One, Ones, Byte, Word, DWord or QWord. */
void	aml_int(struct aml *a, uint64_t v);
void	aml_string(struct aml *a, const char *s);
/* EisaId("PNP0A08") as a DWord. */
void	aml_eisaid(struct aml *a, const char *id);
/* Name(path, ...): the caller emits the value next. */
void	aml_name(struct aml *a, const char *path);
/* Notify(path, value), inside a method. */
void	aml_notify(struct aml *a, const char *path, uint8_t value);

/* Objects with a PkgLength; each open is matched by aml_close(). */
void	aml_scope(struct aml *a, const char *path);
void	aml_device(struct aml *a, const char *path);
void	aml_package(struct aml *a, uint8_t nelem);
/* Method(path, nargs, NotSerialized): its body follows, then aml_close. */
void	aml_method(struct aml *a, const char *path, uint8_t nargs);
void	aml_buffer(struct aml *a);	/* size is filled in by aml_close */
void	aml_close(struct aml *a);

/* Resource descriptors for a _CRS buffer. */
void	aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
	    uint8_t len);
void	aml_res_irq_noflags(struct aml *a, unsigned irq);
void	aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void	aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void	aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max);
void	aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max);
void	aml_res_end(struct aml *a);

#endif
