/* Guest memory table: mapping and range-checked translation. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/guestmem.h"

#define MB	(1ull << 20)

static int
mkmem(uint64_t size)
{
	int fd = memfd_create("gmem-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

/* Two regions: gpa 0..1M at file offset 0, gpa 4G..4G+2M at offset 4096. */
static void
table(struct vu_memtable *t)
{
	memset(t, 0, sizeof(*t));
	t->nregions = 2;
	t->regions[0] = (struct vu_region){ 0, MB, 0x10000000, 0 };
	t->regions[1] = (struct vu_region){ 4096 * MB, 2 * MB, 0x20000000, 4096 };
}

static void
test_translate(void **state)
{
	struct vu_memtable t;
	struct gmem gm;
	int fds[2];
	uint8_t *p, b = 0;

	(void)state;
	fds[0] = mkmem(MB);
	fds[1] = mkmem(2 * MB + 4096);
	table(&t);
	gmem_init(&gm);
	assert_int_equal(gmem_set_table(&gm, &t, fds), 0);
	assert_int_equal(gm.n, 2);

	p = gmem_gpa(&gm, 0, 1);
	assert_non_null(p);
	assert_ptr_equal(gmem_gpa(&gm, 100, 10), p + 100);
	assert_ptr_equal(gmem_gpa(&gm, MB - 1, 1), p + MB - 1);
	assert_null(gmem_gpa(&gm, MB - 1, 2));		/* crosses the end */
	assert_null(gmem_gpa(&gm, MB, 1));		/* in the gap */
	assert_null(gmem_gpa(&gm, 0, MB + 1));
	assert_null(gmem_gpa(&gm, 0, 0));		/* zero length */
	assert_null(gmem_gpa(&gm, ~0ull, 2));		/* wraps */
	assert_null(gmem_gpa(&gm, 4096 * MB + 16, ~0ull - 8));	/* huge */
	assert_ptr_equal(gmem_uva(&gm, 0x10000000 + 5, 4), p + 5);
	assert_null(gmem_uva(&gm, 5, 4));

	/* Writes land in the file at the region's offset. */
	p = gmem_gpa(&gm, 4096 * MB + 2 * MB - 1, 1);
	assert_non_null(p);
	*p = 0xa5;
	assert_int_equal(pread(fds[1], &b, 1, 4096 + 2 * MB - 1), 1);
	assert_int_equal(b, 0xa5);
	assert_ptr_equal(gmem_uva(&gm, 0x20000000 + 2 * MB - 1, 1), p);

	gmem_free(&gm);
	assert_int_equal(gm.n, 0);
	assert_null(gmem_gpa(&gm, 0, 1));
	close(fds[0]);
	close(fds[1]);
}

static void
test_bad_tables(void **state)
{
	struct vu_memtable t;
	struct gmem gm;
	int fds[2];
	void *p;

	(void)state;
	fds[0] = mkmem(MB);
	fds[1] = mkmem(2 * MB);		/* 4096 bytes short for region 1 */
	table(&t);
	gmem_init(&gm);
	assert_int_equal(gmem_set_table(&gm, &t, fds), -EINVAL);
	assert_int_equal(gm.n, 0);

	/* A good table stays in place when its replacement fails. */
	t.nregions = 1;
	assert_int_equal(gmem_set_table(&gm, &t, fds), 0);
	p = gmem_gpa(&gm, 0, 1);
	assert_non_null(p);
	table(&t);
	t.regions[1].gpa = MB / 2;			/* overlaps region 0 */
	t.regions[1].mmap_offset = 0;
	assert_int_equal(gmem_set_table(&gm, &t, fds), -EINVAL);
	assert_ptr_equal(gmem_gpa(&gm, 0, 1), p);
	t.nregions = 0;
	assert_int_equal(gmem_set_table(&gm, &t, fds), -EINVAL);
	t.nregions = VU_MAX_REGIONS + 1;
	assert_int_equal(gmem_set_table(&gm, &t, fds), -EINVAL);
	table(&t);
	t.regions[1].uaddr = ~0ull - 100;		/* wraps */
	assert_int_equal(gmem_set_table(&gm, &t, fds), -EINVAL);

	/* Not a file. */
	table(&t);
	t.nregions = 1;
	{
		int pfd[2];

		assert_int_equal(pipe(pfd), 0);
		assert_int_equal(gmem_set_table(&gm, &t, pfd), -EINVAL);
		close(pfd[0]);
		close(pfd[1]);
	}
	assert_ptr_equal(gmem_gpa(&gm, 0, 1), p);
	gmem_free(&gm);
	close(fds[0]);
	close(fds[1]);
}

/*
 * A file that shrinks under a mapped region: the access reads zeros
 * instead of raising SIGBUS, and the table reports the loss.  A memfd
 * that could be sealed against shrinking but is not is refused.
 */
static void
test_shrinking_file(void **state)
{
	struct vu_memtable t;
	struct gmem gm;
	volatile uint8_t *p;
	int fd, sealable;

	(void)state;
	assert_int_equal(gmem_guard_install(), 0);
	fd = mkmem(MB);
	table(&t);
	t.nregions = 1;
	gmem_init(&gm);
	assert_int_equal(gmem_set_table(&gm, &t, &fd), 0);
	p = gmem_gpa(&gm, MB - 1, 1);
	*p = 7;
	assert_false(gmem_lost(&gm));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(*p, 0);
	*p = 1;
	assert_true(gmem_lost(&gm));
	gmem_free(&gm);
	close(fd);

	sealable = memfd_create("gmem-sealable", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(sealable >= 0);
	assert_int_equal(ftruncate(sealable, MB), 0);
	assert_int_equal(gmem_set_table(&gm, &t, &sealable), -EINVAL);
	assert_int_equal(fcntl(sealable, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(gmem_set_table(&gm, &t, &sealable), 0);
	assert_false(gmem_lost(&gm));
	gmem_free(&gm);
	close(sealable);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_shrinking_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
