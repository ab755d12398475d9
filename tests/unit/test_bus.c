#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/bus.h"

static int
echo_off(void *opaque, uint64_t off, int size, bool write, uint64_t *val)
{
	int *calls = opaque;

	(*calls)++;
	if (!write)
		*val = 0xA5A5A5A500000000ULL | (off << 8) | (uint64_t)size;
	return 0;
}

static void
test_register_and_find(void **state)
{
	struct bus b;
	int calls = 0;
	uint64_t v;

	(void)state;
	bus_init(&b, "port");
	assert_int_equal(bus_register(&b, 0x3f8, 8, echo_off, &calls, "com1"), 0);
	assert_int_equal(bus_register(&b, 0x70, 2, echo_off, &calls, "rtc"), 0);
	assert_int_equal(bus_register(&b, 0x2f8, 8, echo_off, &calls, "com2"), 0);
	assert_non_null(bus_find(&b, 0x3f8));
	assert_non_null(bus_find(&b, 0x3ff));
	assert_null(bus_find(&b, 0x400));
	assert_null(bus_find(&b, 0x3f7));
	assert_string_equal(bus_find(&b, 0x71)->name, "rtc");
	/* The handler sees the offset; reads are truncated to the size. */
	assert_int_equal(bus_access(&b, 0x3fd, 1, false, &v), 0);
	assert_int_equal(v, (5 << 8 | 1) & 0xff);
	assert_int_equal(bus_access(&b, 0x3fc, 2, false, &v), 0);
	assert_int_equal(v, (4 << 8) | 2);
	assert_int_equal(calls, 2);
	assert_int_equal(bus_access(&b, 0x80, 1, false, &v), -ENOENT);
	bus_free(&b);
}

static void
test_overlap_rejected(void **state)
{
	struct bus b;
	int calls = 0;

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_register(&b, 0x1000, 0x1000, echo_off, &calls, "a"), 0);
	assert_int_equal(bus_register(&b, 0x1fff, 1, echo_off, &calls, "b"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x0800, 0x900, echo_off, &calls, "c"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x2000, 0x10, echo_off, &calls, "d"), 0);
	assert_int_equal(bus_register(&b, 0x5000, 0, echo_off, &calls, "e"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX - 4, 16, echo_off, &calls, "f"),
	    -EINVAL);
	assert_int_equal(bus_unregister(&b, 0x1000), 0);
	assert_null(bus_find(&b, 0x1800));
	assert_int_equal(bus_register(&b, 0x1fff, 1, echo_off, &calls, "b"), 0);
	assert_int_equal(bus_unregister(&b, 0x9999), -ENOENT);
	bus_free(&b);
}

static void
test_many_ranges_sorted(void **state)
{
	struct bus b;
	int calls = 0, i;

	(void)state;
	bus_init(&b, "port");
	/* Registered in reverse order; lookup must still find each. */
	for (i = 99; i >= 0; i--)
		assert_int_equal(bus_register(&b, i * 16, 8, echo_off, &calls,
		    "x"), 0);
	for (i = 0; i < 100; i++) {
		assert_non_null(bus_find(&b, i * 16 + 7));
		assert_null(bus_find(&b, i * 16 + 8));
	}
	bus_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_find),
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_many_ranges_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
