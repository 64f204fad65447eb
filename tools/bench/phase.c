/*
 * Closed-loop phases: N clients, each issuing its next request as soon as
 * the previous one is answered, for a fixed time (PUT, GET) or a fixed
 * number of keys (LOAD). Every successful request's latency inside the
 * measured window is kept and sorted for percentiles; failed requests are
 * retried after a short backoff and counted.
 *
 * Keys: PUT writes bench/put/<tag>/<client>/<seq>, never the same key twice;
 * LOAD writes bench/load/00000000 ... in order, shared by its clients; GET
 * reads loaded keys picked by a seeded generator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "bench.h"

#define RETRY_MS 10
#define LAT_MAX (64u << 20) /* latencies kept per phase; more are counted only */

struct wl;

struct wl_client {
	struct bench_client bc;
	struct wl *wl;
	unsigned idx;
	uint64_t seq;
	uint64_t load_key; /* LOAD: the key this client writes until it succeeds */
	bool have_load_key;
	uint64_t t0; /* when the request in flight was sent */
	uv_timer_t retry;
	bool inited, busy;
};

struct wl {
	struct bench_sys *s;
	const struct bench_phase *p;
	struct wl_client cl[BENCH_MAX_CLIENTS];
	uint64_t t_start, t_measure, t_end, t_last_ok;
	uint64_t *lat;
	size_t n_lat, cap_lat;
	uint64_t ok, load_next, errors, redirects, rng;
	unsigned busy, timers_open;
	uint8_t *value;
	char last_error[160];
	/* CPU at the start and end of the measured window. */
	uv_timer_t mark;
	bool marked_start, marked_end;
	uint64_t cpu_nodes[2][BENCH_NODES], cpu_self[2], cpu_t[2], cpu_machine[2], cpu_foreign[2];
	uint64_t forks[2];
};

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: a seeded, reproducible choice of keys (not a secret). */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void snapshot_cpu(struct wl *w, int k)
{
	int i;

	for (i = 0; i < BENCH_NODES; i++)
		w->cpu_nodes[k][i] = bench_node_cpu_ticks(w->s->cluster, i);
	w->cpu_self[k] = bench_self_cpu_ns();
	w->cpu_machine[k] = bench_machine_busy_ticks();
	w->cpu_foreign[k] = bench_foreign_ticks(w->s->cluster);
	w->forks[k] = bench_machine_forks();
	w->cpu_t[k] = bench_now_ns();
}

static void mark_cb(uv_timer_t *t)
{
	struct wl *w = t->data;

	if (!w->marked_start) {
		snapshot_cpu(w, 0);
		w->marked_start = true;
		uv_timer_start(&w->mark, mark_cb, w->p->duration_ms, 0);
	} else if (!w->marked_end) {
		snapshot_cpu(w, 1);
		w->marked_end = true;
	}
}

static void record(struct wl *w, uint64_t lat)
{
	if (w->n_lat == w->cap_lat && w->cap_lat < LAT_MAX) {
		size_t cap = w->cap_lat ? 2 * w->cap_lat : 65536;
		uint64_t *p = realloc(w->lat, cap * sizeof *p);

		if (p != NULL) {
			w->lat = p;
			w->cap_lat = cap;
		}
	}
	if (w->n_lat < w->cap_lat)
		w->lat[w->n_lat++] = lat;
	w->ok++;
}

static void go_idle(struct wl_client *cl)
{
	if (cl->busy) {
		cl->busy = false;
		cl->wl->busy--;
	}
}

static void issue(struct wl_client *cl);

static void retry_cb(uv_timer_t *t)
{
	issue(t->data);
}

static void fail(struct wl_client *cl, int status, const char *what)
{
	struct wl *w = cl->wl;

	w->errors++;
	bs_errf(w->last_error, sizeof w->last_error, "%s: %s", what,
		cl->bc.errmsg[0] ? cl->bc.errmsg : bs_strerror(status));
	uv_timer_start(&cl->retry, retry_cb, RETRY_MS, 0);
}

static void done_cb(struct bench_client *c, int status)
{
	struct wl_client *cl = c->data;
	struct wl *w = cl->wl;
	uint64_t now = bench_now_ns();

	if (status == BENCH_REDIRECT) {
		w->redirects++;
		c->node = c->redirect >= 0 ? c->redirect : (c->node + 1) % BENCH_NODES;
		uv_timer_start(&cl->retry, retry_cb, 1, 0);
		return;
	}
	if (status != 0) {
		fail(cl, status, w->p->op == BENCH_GET ? "get" : "put");
		return;
	}
	if (w->p->op == BENCH_LOAD) {
		cl->have_load_key = false;
		record(w, now - cl->t0);
		w->t_last_ok = now;
	} else if (cl->t0 >= w->t_measure && now <= w->t_end) {
		record(w, now - cl->t0);
	}
	issue(cl);
}

static size_t load_key(char *buf, size_t size, uint64_t i)
{
	return (size_t)snprintf(buf, size, "bench/load/%08llu", (unsigned long long)i);
}

/* The next key for cl, or 0 when it has nothing left to do. */
static size_t next_key(struct wl_client *cl, char *key, size_t size)
{
	struct wl *w = cl->wl;
	const struct bench_phase *p = w->p;

	switch (p->op) {
	case BENCH_PUT:
		return (size_t)snprintf(key, size, "bench/put/%s/%u/%llu", p->tag, cl->idx,
					(unsigned long long)cl->seq++);
	case BENCH_GET:
		return load_key(key, size, next_rand(&w->rng) % p->keys);
	case BENCH_LOAD:
		if (!cl->have_load_key) {
			if (w->load_next >= p->keys)
				return 0;
			cl->load_key = w->load_next++;
			cl->have_load_key = true;
		}
		return load_key(key, size, cl->load_key);
	}
	return 0;
}

static void issue(struct wl_client *cl)
{
	struct wl *w = cl->wl;
	const struct bench_sys_ops *ops = w->s->ops;
	char key[96];
	size_t klen;
	int rv;

	cl->t0 = bench_now_ns();
	klen = cl->t0 < w->t_end ? next_key(cl, key, sizeof key) : 0;
	if (klen == 0) {
		go_idle(cl);
		return;
	}
	cl->bc.errmsg[0] = '\0';
	if (w->p->op == BENCH_GET)
		rv = ops->get(&cl->bc, key, klen, done_cb);
	else
		rv = ops->put(&cl->bc, key, klen, w->value, w->p->value_len, done_cb);
	if (rv != 0)
		fail(cl, rv, "submit");
}

static bool all_idle(void *arg)
{
	return ((struct wl *)arg)->busy == 0;
}

static bool timers_closed(void *arg)
{
	return ((struct wl *)arg)->timers_open == 0;
}

static void timer_closed(uv_handle_t *h)
{
	struct wl *w = h->data;

	w->timers_open--;
}

static int start_clients(struct wl *w, char *errmsg, size_t size)
{
	unsigned i;
	int rv;

	for (i = 0; i < w->p->clients; i++) {
		struct wl_client *cl = &w->cl[i];

		cl->wl = w;
		cl->idx = i;
		cl->bc.data = cl;
		cl->bc.node = w->p->node;
		rv = w->s->ops->client_init(w->s, &cl->bc);
		if (rv != 0) {
			bs_errf(errmsg, size, "client %u: %s", i, bs_strerror(rv));
			return rv;
		}
		cl->inited = true;
		uv_timer_init(w->s->loop, &cl->retry);
		cl->retry.data = cl;
		w->timers_open++;
	}
	for (i = 0; i < w->p->clients; i++) {
		w->cl[i].busy = true;
		w->busy++;
		issue(&w->cl[i]);
	}
	return 0;
}

static void stop_clients(struct wl *w)
{
	unsigned i;

	for (i = 0; i < w->p->clients; i++) {
		struct wl_client *cl = &w->cl[i];

		if (!cl->inited)
			continue;
		w->s->ops->client_close(&cl->bc);
		cl->retry.data = w;
		uv_close((uv_handle_t *)&cl->retry, timer_closed);
	}
	w->mark.data = w;
	uv_close((uv_handle_t *)&w->mark, timer_closed);
	bench_run_until(w->s->loop, timers_closed, w, bench_now_ns() + 5000000000ull);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double pct_ms(const struct wl *w, unsigned pct)
{
	size_t rank;

	if (w->n_lat == 0)
		return 0;
	rank = (w->n_lat * pct + 99) / 100;
	return (double)w->lat[rank > 0 ? rank - 1 : 0] / 1e6;
}

static void summarize(struct wl *w, struct bench_stats *st)
{
	long hz = sysconf(_SC_CLK_TCK);
	double wall, ticks = 0;
	int i;

	memset(st, 0, sizeof *st);
	st->ops = w->ok;
	st->errors = w->errors;
	st->redirects = w->redirects;
	snprintf(st->last_error, sizeof st->last_error, "%s", w->last_error);
	if (w->p->op == BENCH_LOAD)
		st->seconds = (double)(w->t_last_ok - w->t_start) / 1e9;
	else
		st->seconds = (double)w->p->duration_ms / 1e3;
	st->ops_per_s = st->seconds > 0 ? (double)st->ops / st->seconds : 0;
	qsort(w->lat, w->n_lat, sizeof *w->lat, cmp_u64);
	st->p50_ms = pct_ms(w, 50);
	st->p99_ms = pct_ms(w, 99);
	if (!w->marked_end)
		snapshot_cpu(w, 1); /* LOAD: the window is the whole phase */
	wall = (double)(w->cpu_t[1] - w->cpu_t[0]) / 1e9;
	if (wall <= 0 || hz <= 0)
		return;
	for (i = 0; i < BENCH_NODES; i++)
		ticks += (double)(w->cpu_nodes[1][i] - w->cpu_nodes[0][i]);
	st->server_cores = ticks / (double)hz / wall;
	st->leader_cores = (double)(w->cpu_nodes[1][w->p->node] - w->cpu_nodes[0][w->p->node]) /
			   (double)hz / wall;
	st->client_cores = (double)(w->cpu_self[1] - w->cpu_self[0]) / 1e9 / wall;
	/* A process that exits in the window takes its ticks with it: the sum
	 * may shrink. Its CPU then counts as unattributed. */
	st->other_cores =
		((double)w->cpu_foreign[1] - (double)w->cpu_foreign[0]) / (double)hz / wall;
	if (st->other_cores < 0)
		st->other_cores = 0;
	st->forks_per_s = (double)(w->forks[1] - w->forks[0]) / wall;
	st->kernel_cores =
		((double)w->cpu_machine[1] - (double)w->cpu_machine[0]) / (double)hz / wall -
		st->server_cores - st->client_cores - st->other_cores;
	if (st->kernel_cores < 0.005)
		st->kernel_cores = 0; /* tick rounding */
}

int bench_phase_run(struct bench_sys *s, const struct bench_phase *p, struct bench_stats *ret,
		    char *errmsg, size_t size)
{
	struct wl *w;
	size_t i;
	int rv;

	if (p->clients == 0 || p->clients > BENCH_MAX_CLIENTS)
		return -EINVAL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->value = malloc(p->value_len ? p->value_len : 1);
	if (w->value == NULL) {
		free(w);
		return -ENOMEM;
	}
	w->s = s;
	w->p = p;
	w->rng = 0x9e3779b97f4a7c15ull ^ p->clients;
	for (i = 0; i < p->value_len; i++)
		w->value[i] = (uint8_t)next_rand(&w->rng);
	w->t_start = bench_now_ns();
	if (p->op == BENCH_LOAD) {
		w->t_measure = w->t_start;
		w->t_end = w->t_start + (uint64_t)p->duration_ms * 1000000u;
		snapshot_cpu(w, 0);
		w->marked_start = true;
	} else {
		w->t_measure = w->t_start + (uint64_t)p->warmup_ms * 1000000u;
		w->t_end = w->t_measure + (uint64_t)p->duration_ms * 1000000u;
	}
	uv_timer_init(s->loop, &w->mark);
	w->mark.data = w;
	w->timers_open++;
	if (p->op != BENCH_LOAD)
		uv_timer_start(&w->mark, mark_cb, p->warmup_ms, 0);
	rv = start_clients(w, errmsg, size);
	if (rv == 0) {
		/* In-flight requests end by their own timeout (at most 10 s). */
		bench_run_until(s->loop, all_idle, w, w->t_end + 15000000000ull);
		if (p->op == BENCH_LOAD && w->ok < p->keys) {
			bs_errf(errmsg, size, "loaded %llu of %llu keys in %u ms (last error: %s)",
				(unsigned long long)w->ok, (unsigned long long)p->keys,
				p->duration_ms, w->last_error[0] ? w->last_error : "none");
			rv = -ETIMEDOUT;
		}
	}
	stop_clients(w);
	summarize(w, ret);
	free(w->lat);
	free(w->value);
	free(w);
	return rv;
}
