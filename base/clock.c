/*
 * The only code in backstay that reads a clock or a random source
 * (CONVENTIONS §7). The real clock is a static, immutable singleton over
 * CLOCK_MONOTONIC, CLOCK_REALTIME and getrandom(2). A virtual clock holds its
 * own time and a xoshiro256** generator seeded through splitmix64, so a
 * simulation with the same seed replays the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

struct bs_clock {
	bool is_virtual;
	uint64_t now_ms; /* virtual: both now and wall */
	uint64_t rng[4]; /* virtual: xoshiro256** state */
};

static struct bs_clock real_clock = {.is_virtual = false};

struct bs_clock *bs_clock_real(void)
{
	return &real_clock;
}

/* splitmix64: expands the seed into xoshiro's state (its authors' advice). */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna). */
static uint64_t xoshiro_next(uint64_t s[4])
{
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

int bs_clock_virtual_new(uint64_t start_ms, uint64_t seed, struct bs_clock **ret_clock)
{
	struct bs_clock *c = malloc(sizeof *c);
	size_t i;

	if (c == NULL)
		return -ENOMEM;
	c->is_virtual = true;
	c->now_ms = start_ms;
	for (i = 0; i < 4; i++)
		c->rng[i] = splitmix64(&seed);
	*ret_clock = c;
	return 0;
}

void bs_clock_free(struct bs_clock *clock)
{
	if (clock == NULL || clock == &real_clock)
		return;
	free(clock);
}

bool bs_clock_is_virtual(const struct bs_clock *clock)
{
	return clock->is_virtual;
}

static uint64_t read_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		bs__die("bs_clock: clock_gettime failed");
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t bs_clock_now_ms(const struct bs_clock *clock)
{
	return clock->is_virtual ? clock->now_ms : read_ms(CLOCK_MONOTONIC);
}

uint64_t bs_clock_now_ns(const struct bs_clock *clock)
{
	struct timespec ts;

	if (clock->is_virtual)
		return clock->now_ms * 1000000u;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		bs__die("bs_clock: clock_gettime failed");
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bs_clock_wall_ms(const struct bs_clock *clock)
{
	return clock->is_virtual ? clock->now_ms : read_ms(CLOCK_REALTIME);
}

void bs_clock_advance(struct bs_clock *clock, uint64_t delta_ms)
{
	if (!clock->is_virtual)
		bs__die("bs_clock_advance on the real clock");
	/* Saturate rather than wrap: time never goes backwards. */
	clock->now_ms =
		clock->now_ms + delta_ms < clock->now_ms ? UINT64_MAX : clock->now_ms + delta_ms;
}

static int real_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t got;

	while (n > 0) {
		got = getrandom(p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Bytes are taken little-endian from each 64-bit output, so a seed gives the
 * same stream on every host. */
static void virtual_random(struct bs_clock *clock, unsigned char *p, size_t n)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			x = xoshiro_next(clock->rng);
		p[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
}

int bs_clock_random(struct bs_clock *clock, void *buf, size_t n)
{
	if (!clock->is_virtual)
		return real_random(buf, n);
	virtual_random(clock, buf, n);
	return 0;
}

static uint64_t random_u64(struct bs_clock *clock)
{
	uint64_t x;

	if (clock->is_virtual)
		return xoshiro_next(clock->rng);
	if (real_random(&x, sizeof x) != 0)
		bs__die("bs_clock: getrandom failed");
	return x;
}

/* Rejection sampling: draws below 2^64 mod bound would make the low values
 * more likely, so they are redrawn (at most half of all draws, for huge
 * bounds; almost never for small ones). */
uint64_t bs_clock_random_below(struct bs_clock *clock, uint64_t bound)
{
	uint64_t threshold, x;

	if (bound == 0)
		bs__die("bs_clock_random_below with bound 0");
	threshold = -bound % bound;
	do
		x = random_u64(clock);
	while (x < threshold);
	return x % bound;
}
