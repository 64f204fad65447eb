/* base/clock.c: virtual time and PRNG, the real clock's basic promises. */
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "unit.h"

static void virtual_starts_at_start(void **state)
{
	struct bs_clock *c;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(1234, 1, &c), 0);
	assert_true(bs_clock_is_virtual(c));
	assert_int_equal(bs_clock_now_ms(c), 1234);
	assert_int_equal(bs_clock_wall_ms(c), 1234);
	bs_clock_free(c);
}

static void advance_moves_now_and_wall(void **state)
{
	struct bs_clock *c;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(1000, 1, &c), 0);
	bs_clock_advance(c, 0);
	assert_int_equal(bs_clock_now_ms(c), 1000);
	bs_clock_advance(c, 250);
	assert_int_equal(bs_clock_now_ms(c), 1250);
	assert_int_equal(bs_clock_wall_ms(c), 1250);
	assert_true(bs_clock_now_ns(c) == 1250000000u);
	bs_clock_advance(c, UINT64_MAX); /* saturates, never wraps backwards */
	assert_true(bs_clock_now_ms(c) == UINT64_MAX);
	bs_clock_free(c);
}

static void same_seed_same_bytes(void **state)
{
	struct bs_clock *a, *b;
	uint8_t x[100], y[100];

	(void)state;
	assert_int_equal(bs_clock_virtual_new(0, 42, &a), 0);
	assert_int_equal(bs_clock_virtual_new(999, 42, &b), 0);
	assert_int_equal(bs_clock_random(a, x, sizeof x), 0);
	assert_int_equal(bs_clock_random(b, y, sizeof y), 0);
	assert_memory_equal(x, y, sizeof x);
	/* and the stream continues identically */
	assert_int_equal(bs_clock_random(a, x, 7), 0);
	assert_int_equal(bs_clock_random(b, y, 7), 0);
	assert_memory_equal(x, y, 7);
	assert_true(bs_clock_random_below(a, 1000) == bs_clock_random_below(b, 1000));
	bs_clock_free(a);
	bs_clock_free(b);
}

static void different_seeds_differ(void **state)
{
	struct bs_clock *a, *b;
	uint8_t x[32], y[32];

	(void)state;
	assert_int_equal(bs_clock_virtual_new(0, 1, &a), 0);
	assert_int_equal(bs_clock_virtual_new(0, 2, &b), 0);
	assert_int_equal(bs_clock_random(a, x, sizeof x), 0);
	assert_int_equal(bs_clock_random(b, y, sizeof y), 0);
	assert_memory_not_equal(x, y, sizeof x);
	bs_clock_free(a);
	bs_clock_free(b);
}

static void random_below_in_range_and_covers(void **state)
{
	struct bs_clock *c;
	unsigned hits[7] = {0};
	uint64_t v;
	int i;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(0, 7, &c), 0);
	for (i = 0; i < 7000; i++) {
		v = bs_clock_random_below(c, 7);
		assert_true(v < 7);
		hits[v]++;
	}
	for (i = 0; i < 7; i++)
		assert_true(hits[i] > 0);
	assert_true(bs_clock_random_below(c, 1) == 0);
	for (i = 0; i < 100; i++) /* a bound above 2^63 exercises rejection */
		assert_true(bs_clock_random_below(c, UINT64_MAX - 5) < UINT64_MAX - 5);
	bs_clock_free(c);
}

static void real_clock_monotonic(void **state)
{
	struct bs_clock *r = bs_clock_real();
	uint64_t prev = bs_clock_now_ms(r), now, prev_ns, ns;
	int i;

	(void)state;
	assert_false(bs_clock_is_virtual(r));
	assert_true(bs_clock_real() == r);
	for (i = 0; i < 1000; i++) {
		now = bs_clock_now_ms(r);
		assert_true(now >= prev);
		prev = now;
	}
	prev_ns = bs_clock_now_ns(r); /* the same clock, finer: ms and ns agree */
	assert_true(prev_ns / 1000000u >= prev);
	for (i = 0; i < 1000; i++) {
		ns = bs_clock_now_ns(r);
		assert_true(ns >= prev_ns);
		prev_ns = ns;
	}
	assert_true(bs_clock_now_ms(r) >= prev_ns / 1000000u);
	assert_true(bs_clock_wall_ms(r) > 0);
	bs_clock_free(r); /* a no-op on the real clock */
	bs_clock_free(NULL);
}

static void real_random_fills(void **state)
{
	static const uint8_t zero[32];
	uint8_t buf[32], big[1000];

	(void)state;
	memset(buf, 0, sizeof buf);
	assert_int_equal(bs_clock_random(bs_clock_real(), buf, sizeof buf), 0);
	assert_memory_not_equal(buf, zero, sizeof buf);
	assert_int_equal(bs_clock_random(bs_clock_real(), big, sizeof big), 0);
	assert_true(bs_clock_random_below(bs_clock_real(), 10) < 10);
}

int bs_test_clock(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(virtual_starts_at_start),
		cmocka_unit_test(advance_moves_now_and_wall),
		cmocka_unit_test(same_seed_same_bytes),
		cmocka_unit_test(different_seeds_differ),
		cmocka_unit_test(random_below_in_range_and_covers),
		cmocka_unit_test(real_clock_monotonic),
		cmocka_unit_test(real_random_fills),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
