/*
 * test/fault/test_clockrate.c — the clock-rate shim's arithmetic
 * (clockrate.h) on made-up readings: rate applied, continuous across a
 * change of rate, never going back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clockrate.h"

#define S 1000000000ull

static void starts_at_real_time(void **state)
{
	struct crate_clock c = {0};

	(void)state;
	assert_int_equal(crate_map(&c, 5 * S, 2.0), 5 * S);
	assert_int_equal(crate_map(&c, 6 * S, 2.0), 7 * S);
}

static void continuous_across_changes(void **state)
{
	struct crate_clock c = {0};

	(void)state;
	crate_map(&c, 10 * S, 1.0);
	assert_int_equal(crate_map(&c, 20 * S, 1.0), 20 * S);
	crate_rebase(&c, 20 * S, 1.0); /* 1 -> 2 at real 20 s */
	assert_int_equal(crate_map(&c, 20 * S, 2.0), 20 * S);
	assert_int_equal(crate_map(&c, 23 * S, 2.0), 26 * S);
	crate_rebase(&c, 24 * S, 2.0); /* 2 -> 0.5 at real 24 s: fake 28 s */
	assert_int_equal(crate_map(&c, 24 * S, 0.5), 28 * S);
	assert_int_equal(crate_map(&c, 28 * S, 0.5), 30 * S);
}

static void never_goes_back(void **state)
{
	struct crate_clock c = {0};

	(void)state;
	crate_map(&c, 10 * S, 1.0);
	crate_rebase(&c, 12 * S, 1.0);
	/* A reading taken before the rebase (another thread's) maps to no
	 * less than what was handed out. */
	assert_int_equal(crate_map(&c, 11 * S, 3.0), 12 * S);
	assert_int_equal(crate_map(&c, 13 * S, 3.0), 15 * S);
	assert_int_equal(crate_map(&c, 12 * S, 3.0), 15 * S);
}

static void rebase_before_start_is_nothing(void **state)
{
	struct crate_clock c = {0};

	(void)state;
	crate_rebase(&c, 7 * S, 4.0);
	assert_false(c.started);
	assert_int_equal(crate_map(&c, 9 * S, 1.0), 9 * S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_at_real_time),
		cmocka_unit_test(continuous_across_changes),
		cmocka_unit_test(never_goes_back),
		cmocka_unit_test(rebase_before_start_is_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
