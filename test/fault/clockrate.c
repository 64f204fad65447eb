/*
 * test/fault/clockrate.c — libbsclockrate.so, the fault suite's clock-rate
 * nemesis: an LD_PRELOAD shim that makes a process's monotonic clocks run
 * at a rate read from a file, changed while it runs.
 *
 *   LD_PRELOAD=libbsclockrate.so BS_CLOCKRATE_FILE=/etc/backstay/clockrate backstay ...
 *
 * The file holds one number, the rate ("1", "0.5", "2"); it is read again
 * at most every 100 ms. Each monotonic clock (MONOTONIC, _COARSE, _RAW,
 * BOOTTIME) then reads base_fake + (real - base_real) * rate, rebased at
 * every change of rate, so that it never jumps and never goes back -- what
 * a crystal running fast or slow does. The wall clock (REALTIME) is left
 * alone: libfaketime skews it (clock-skew). libfaketime's own rate
 * modifier ("+0 x2") cannot be used for this: changed while a process
 * runs, it jumps the clock by the whole elapsed time times the change, or
 * with FAKETIME_XRESET back to the process's start (measured here).
 *
 * Timers are not scaled: a wait of d ms lasts d real ms, after which the
 * caller reads its clock, finds the deadline not yet due (slow clock) and
 * waits again for what is left -- so timers fire late or early in real
 * time as they would with a slow or fast crystal.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clockrate.h"

#define REREAD_NS 100000000ull
#define N_CLOCKS 4

typedef int (*clock_fn)(clockid_t, struct timespec *);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct crate_clock clocks[N_CLOCKS];
static double rate = 1.0;
static uint64_t next_read_ns; /* real CLOCK_MONOTONIC */

static const clockid_t ids[N_CLOCKS] = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
					CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME};

static int slot(clockid_t id)
{
	int i;

	for (i = 0; i < N_CLOCKS; i++)
		if (ids[i] == id)
			return i;
	return -1;
}

static uint64_t ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* "0.5\n" -> 0.5; anything else (no file, junk, <= 0) -> keep `cur`. */
static double read_rate(double cur)
{
	const char *path = getenv("BS_CLOCKRATE_FILE");
	char buf[64], *end;
	double r;
	ssize_t n;
	int fd;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cur;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return cur;
	buf[n] = '\0';
	r = strtod(buf, &end);
	return end != buf && r > 0 && r < 1000 ? r : cur;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static clock_fn real;
	struct timespec now;
	uint64_t real_ns, fake_ns;
	int s, rc, i;

	if (!real) {
		void *sym = dlsym(RTLD_NEXT, "clock_gettime");

		memcpy(&real, &sym, sizeof real); /* POSIX: a function's address as void * */
	}
	rc = real(id, ts);
	s = slot(id);
	if (rc || s < 0)
		return rc;
	pthread_mutex_lock(&lock);
	if (real(CLOCK_MONOTONIC, &now) == 0 && ns_of(&now) >= next_read_ns) {
		double r = read_rate(rate);

		next_read_ns = ns_of(&now) + REREAD_NS;
		for (i = 0; r != rate && i < N_CLOCKS; i++)
			if (real(ids[i], &now) == 0)
				crate_rebase(&clocks[i], ns_of(&now), rate);
		rate = r;
	}
	real(id, ts); /* read after any rebase: never before its base */
	real_ns = ns_of(ts);
	fake_ns = crate_map(&clocks[s], real_ns, rate);
	pthread_mutex_unlock(&lock);
	ts->tv_sec = (time_t)(fake_ns / 1000000000ull);
	ts->tv_nsec = (long)(fake_ns % 1000000000ull);
	return 0;
}
