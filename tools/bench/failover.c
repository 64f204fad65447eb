/*
 * Failover: time from kill -9 of the leader to the first successful put.
 *
 * One client puts back to back, starting on the leader. On an error or a
 * timeout (retry_timeout_ms) it moves to the next member after RETRY_MS;
 * told "not the leader" it goes where the answer points (the next member
 * when it names none). After STEADY_MS of successful puts the leader gets
 * SIGKILL; the measure ends with the first put sent after the kill that
 * succeeds. The killed node is then restarted and must follow a leader
 * again before the next run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bench.h"

#define RETRY_MS 5
#define STEADY_MS 2000
#define GIVE_UP_MS 30000
#define REJOIN_MS 60000
#define SETTLE_MS 1000

struct fo {
	struct bench_client bc;
	struct bench_sys *s;
	uv_timer_t retry;
	uint64_t seq, t0, t_kill, t_first;
	uint64_t ok_before, errors_after;
	bool killed, got, stop, inflight, closed;
	bool trace; /* BENCH_TRACE set: every attempt after the kill to stderr */
	uint8_t value[256];
	char last_error[160];
};

static void fo_issue(struct fo *f);

static void retry_cb(uv_timer_t *t)
{
	fo_issue(t->data);
}

static void next_node(struct fo *f, int hint)
{
	f->bc.node = hint >= 0 && hint != f->bc.node ? hint : (f->bc.node + 1) % BENCH_NODES;
}

static void fo_done(struct bench_client *c, int status)
{
	struct fo *f = c->data;
	uint64_t now = bench_now_ns();

	f->inflight = false;
	if (f->trace && f->killed)
		fprintf(stderr, "bench: trace +%.1f ms: put to node %d (sent +%.1f): %s%s%s\n",
			(double)(now - f->t_kill) / 1e6, c->node + 1,
			((double)f->t0 - (double)f->t_kill) / 1e6,
			status == BENCH_REDIRECT ? "not the leader" : bs_strerror(status),
			c->errmsg[0] ? ": " : "", c->errmsg);
	if (status == 0) {
		if (f->killed && !f->got && f->t0 >= f->t_kill) {
			f->t_first = now;
			f->got = true;
		} else if (!f->killed) {
			f->ok_before++;
		}
		fo_issue(f);
		return;
	}
	if (f->killed)
		f->errors_after++;
	if (status != BENCH_REDIRECT)
		bs_errf(f->last_error, sizeof f->last_error, "node %d: %s", c->node + 1,
			c->errmsg[0] ? c->errmsg : bs_strerror(status));
	next_node(f, status == BENCH_REDIRECT ? c->redirect : -1);
	uv_timer_start(&f->retry, retry_cb, status == BENCH_REDIRECT ? 1 : RETRY_MS, 0);
}

static void fo_issue(struct fo *f)
{
	char key[64];
	int len, rv;

	if (f->stop || f->got)
		return;
	len = snprintf(key, sizeof key, "bench/failover/%llu", (unsigned long long)f->seq++);
	f->t0 = bench_now_ns();
	f->bc.errmsg[0] = '\0';
	rv = f->s->ops->put(&f->bc, key, (size_t)len, f->value, sizeof f->value, fo_done);
	f->inflight = rv == 0;
	if (rv != 0) {
		next_node(f, -1);
		uv_timer_start(&f->retry, retry_cb, RETRY_MS, 0);
	}
}

static bool fo_finished(void *arg)
{
	return ((struct fo *)arg)->got;
}

static bool fo_idle(void *arg)
{
	return !((struct fo *)arg)->inflight;
}

static bool fo_closed(void *arg)
{
	return ((struct fo *)arg)->closed;
}

static void retry_closed(uv_handle_t *h)
{
	((struct fo *)h->data)->closed = true;
}

/* Wait (bounded) until node i follows a leader. */
static bool wait_ready(struct bench_sys *s, int i, uint64_t deadline)
{
	while (bench_now_ns() < deadline) {
		if (s->ops->node_ready(s, i))
			return true;
		bench_run_for(s->loop, 100);
	}
	return false;
}

static int find_leader(struct bench_sys *s, int *ret, uint64_t deadline)
{
	while (bench_now_ns() < deadline) {
		if (s->ops->leader(s, ret) == 0)
			return 0;
		bench_run_for(s->loop, 100);
	}
	return -ETIMEDOUT;
}

static int measure(struct fo *f, int lead, char *errmsg, size_t size)
{
	struct bench_sys *s = f->s;

	fo_issue(f);
	bench_run_for(s->loop, STEADY_MS);
	if (f->ok_before == 0) {
		bs_errf(errmsg, size, "no put succeeded before the kill (%s)", f->last_error);
		return -EIO;
	}
	f->t_kill = bench_now_ns();
	f->killed = true;
	if (bench_node_kill(s->cluster, lead) != 0) {
		bs_errf(errmsg, size, "kill node %d failed", lead + 1);
		return -ESRCH;
	}
	if (!bench_run_until(s->loop, fo_finished, f, f->t_kill + GIVE_UP_MS * 1000000ull)) {
		bs_errf(errmsg, size, "no put succeeded within %d ms of the kill (%s)", GIVE_UP_MS,
			f->last_error);
		return -ETIMEDOUT;
	}
	return 0;
}

int bench_failover_run(struct bench_sys *s, unsigned retry_timeout_ms, double *ret_ms, char *errmsg,
		       size_t size)
{
	static uint64_t run;
	struct fo f;
	int lead, rv;

	rv = find_leader(s, &lead, bench_now_ns() + GIVE_UP_MS * 1000000ull);
	if (rv != 0) {
		bs_errf(errmsg, size, "no leader before the kill");
		return rv;
	}
	memset(&f, 0, sizeof f);
	memset(f.value, 'f', sizeof f.value);
	f.s = s;
	f.seq = ++run * 1000000000ull;
	f.bc.data = &f;
	f.bc.node = lead;
	f.bc.timeout_ms = retry_timeout_ms;
	f.trace = getenv("BENCH_TRACE") != NULL;
	rv = s->ops->client_init(s, &f.bc);
	if (rv != 0)
		return rv;
	uv_timer_init(s->loop, &f.retry);
	f.retry.data = &f;
	rv = measure(&f, lead, errmsg, size);
	f.stop = true;
	uv_timer_stop(&f.retry);
	if (f.inflight)
		bench_run_until(s->loop, fo_idle, &f, bench_now_ns() + 11000000000ull);
	s->ops->client_close(&f.bc);
	uv_close((uv_handle_t *)&f.retry, retry_closed);
	bench_run_until(s->loop, fo_closed, &f, bench_now_ns() + 1000000000ull);
	if (rv == 0)
		*ret_ms = (double)(f.t_first - f.t_kill) / 1e6;
	if (s->cluster->nodes[lead].pid == 0) {
		char why[256];
		int rv2 = bench_node_start(s->cluster, lead, why, sizeof why);

		if (rv2 == 0 && !wait_ready(s, lead, bench_now_ns() + REJOIN_MS * 1000000ull)) {
			snprintf(why, sizeof why, "node %d did not rejoin within %d ms", lead + 1,
				 REJOIN_MS);
			rv2 = -ETIMEDOUT;
		}
		if (rv2 != 0 && rv == 0) {
			bs_errf(errmsg, size, "restart: %s", why);
			rv = rv2;
		}
	}
	bench_run_for(s->loop, SETTLE_MS);
	return rv;
}
