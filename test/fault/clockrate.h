/*
 * test/fault/clockrate.h — the arithmetic of libbsclockrate.so
 * (clockrate.c): one monotonic clock mapped from real to fake time,
 * piecewise linear, continuous across changes of rate, never going back.
 * Pure; tested by test_clockrate.c.
 */
#ifndef BS_FAULT_CLOCKRATE_H
#define BS_FAULT_CLOCKRATE_H

#include <stdbool.h>
#include <stdint.h>

struct crate_clock {
	bool started;
	uint64_t base_real, base_fake; /* fake = base_fake + (real - base_real) * rate */
	uint64_t last;		       /* the last value handed out */
};

/* The fake time at `real` (nanoseconds) under `rate`; the first call starts
 * the clock at real time. Never less than a value handed out before. */
static inline uint64_t crate_map(struct crate_clock *c, uint64_t real, double rate)
{
	uint64_t fake;

	if (!c->started) {
		c->started = true;
		c->base_real = c->base_fake = c->last = real;
	}
	fake = c->base_fake;
	if (real > c->base_real)
		fake += (uint64_t)((double)(real - c->base_real) * rate);
	if (fake < c->last)
		fake = c->last;
	c->last = fake;
	return fake;
}

/* A change of rate at `real`: the clock goes on from where `old_rate` took it. */
static inline void crate_rebase(struct crate_clock *c, uint64_t real, double old_rate)
{
	if (!c->started)
		return;
	c->base_fake = crate_map(c, real, old_rate);
	c->base_real = real;
}

#endif
