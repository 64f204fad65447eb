/*
 * The side-by-side table (markdown): backstay, etcd, ratio backstay/etcd
 * and the target each measure is held to, then the details a reader needs
 * to judge the figures (CPU per phase, errors, every failover run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

enum better { HIGHER, LOWER };

static void fmt_num(char *buf, size_t size, double v, bool ran)
{
	if (!ran || v <= 0)
		snprintf(buf, size, "—");
	else if (v >= 100)
		snprintf(buf, size, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.2f", v);
}

static void fmt_ratio(char *buf, size_t size, double a, double b)
{
	if (a <= 0 || b <= 0)
		snprintf(buf, size, "—");
	else
		snprintf(buf, size, "%.2f×", a / b);
}

/* "≥ 2× (met)" etc.; "" when the measure has no target. */
static void fmt_target(char *buf, size_t size, const char *text, double a, double b,
		       enum better better, double bound)
{
	bool met;

	if (text == NULL) {
		buf[0] = '\0';
		return;
	}
	if (a <= 0 || b <= 0) {
		snprintf(buf, size, "%s", text);
		return;
	}
	met = better == HIGHER ? a / b >= bound : a / b <= bound;
	snprintf(buf, size, "%s: **%s**", text, met ? "met" : "missed");
}

static void row(FILE *out, const char *measure, double a, bool a_ran, double b, bool b_ran,
		const char *target, enum better better, double bound)
{
	char x[32], y[32], r[32], t[64];

	fmt_num(x, sizeof x, a, a_ran);
	fmt_num(y, sizeof y, b, b_ran);
	fmt_ratio(r, sizeof r, a_ran ? a : 0, b_ran ? b : 0);
	fmt_target(t, sizeof t, target, a_ran ? a : 0, b_ran ? b : 0, better, bound);
	fprintf(out, "| %s | %s | %s | %s | %s |\n", measure, x, y, r, t);
}

static double max3(const double v[BENCH_NODES])
{
	double m = 0;
	int i;

	for (i = 0; i < BENCH_NODES; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const struct bench_result *r)
{
	double v[BENCH_FAILOVERS];

	if (r->n_failover == 0)
		return 0;
	memcpy(v, r->failover_ms, sizeof v);
	qsort(v, r->n_failover, sizeof v[0], cmp_double);
	return v[r->n_failover / 2];
}

static void main_table(FILE *out, const struct bench_settings *set, const struct bench_result *a,
		       const struct bench_result *b)
{
	char m[96];
	unsigned i;

	fprintf(out, "| measure | backstay %s | etcd %s | ratio | target |\n", a->version,
		b->version);
	fprintf(out, "|---|---:|---:|---:|---|\n");
	for (i = 0; i < BENCH_LEVELS; i++) {
		bool top = i == BENCH_LEVELS - 1;

		snprintf(m, sizeof m, "put ops/s, %u client%s", set->levels[i],
			 set->levels[i] > 1 ? "s" : "");
		row(out, m, a->put[i].ops_per_s, a->ran, b->put[i].ops_per_s, b->ran,
		    top ? "≥ 2×" : NULL, HIGHER, 2.0);
		snprintf(m, sizeof m, "put p50 ms, %u client%s", set->levels[i],
			 set->levels[i] > 1 ? "s" : "");
		row(out, m, a->put[i].p50_ms, a->ran, b->put[i].p50_ms, b->ran, NULL, LOWER, 1);
		snprintf(m, sizeof m, "put p99 ms, %u client%s", set->levels[i],
			 set->levels[i] > 1 ? "s" : "");
		row(out, m, a->put[i].p99_ms, a->ran, b->put[i].p99_ms, b->ran, "≤ 1×", LOWER, 1.0);
	}
	snprintf(m, sizeof m, "linearizable get ops/s, %u clients", set->levels[BENCH_LEVELS - 1]);
	row(out, m, a->get.ops_per_s, a->ran, b->get.ops_per_s, b->ran, NULL, HIGHER, 1);
	row(out, "get p99 ms", a->get.p99_ms, a->ran, b->get.p99_ms, b->ran, NULL, LOWER, 1);
	row(out, "RSS per node, idle (MiB, largest of 3)", max3(a->rss_idle_mib), a->ran,
	    max3(b->rss_idle_mib), b->ran, NULL, LOWER, 1);
	snprintf(m, sizeof m, "RSS per node, %llu keys (MiB, largest of 3)",
		 (unsigned long long)set->keys);
	row(out, m, max3(a->rss_loaded_mib), a->ran, max3(b->rss_loaded_mib), b->ran, "≤ 0.25×",
	    LOWER, 0.25);
	snprintf(m, sizeof m, "failover: kill -9 leader → first put (ms, median of %u)",
		 BENCH_FAILOVERS);
	row(out, m, median(a), a->n_failover > 0, median(b), b->n_failover > 0, "≤ 1×", LOWER, 1.0);
}

static void phase_row(FILE *out, const char *sys, const char *phase, const struct bench_stats *st)
{
	fprintf(out,
		"| %s | %s | %llu | %.0f | %.2f / %.2f | %llu | %llu | %.2f | %.2f | %.2f | %.2f | "
		"%.2f | %.1f |\n",
		sys, phase, (unsigned long long)st->ops, st->ops_per_s, st->p50_ms, st->p99_ms,
		(unsigned long long)st->errors, (unsigned long long)st->redirects, st->server_cores,
		st->leader_cores, st->client_cores, st->other_cores, st->kernel_cores,
		st->forks_per_s);
}

static void details(FILE *out, const struct bench_settings *set, const char *name,
		    const struct bench_result *r)
{
	char phase[32];
	unsigned i;

	if (!r->ran)
		return;
	for (i = 0; i < BENCH_LEVELS; i++) {
		snprintf(phase, sizeof phase, "put, %u client%s", set->levels[i],
			 set->levels[i] > 1 ? "s" : "");
		phase_row(out, name, phase, &r->put[i]);
	}
	snprintf(phase, sizeof phase, "get, %u clients", set->levels[BENCH_LEVELS - 1]);
	phase_row(out, name, phase, &r->get);
	snprintf(phase, sizeof phase, "load %llu keys", (unsigned long long)set->keys);
	phase_row(out, name, phase, &r->load);
}

static void memory_and_failover(FILE *out, const char *name, const struct bench_result *r)
{
	unsigned i;

	if (!r->ran)
		return;
	fprintf(out, "| %s | %.1f / %.1f / %.1f |", name, r->rss_idle_mib[0], r->rss_idle_mib[1],
		r->rss_idle_mib[2]);
	for (i = 0; i < BENCH_NODES; i++)
		fprintf(out, "%s%.1f (%.1f + %.1f)", i ? " / " : " ", r->rss_loaded_mib[i],
			r->anon_loaded_mib[i], r->file_loaded_mib[i]);
	fprintf(out, " |");
	for (i = 0; i < r->n_failover; i++)
		fprintf(out, "%s%.0f", i ? ", " : " ", r->failover_ms[i]);
	fprintf(out, " |\n");
}

void bench_report(FILE *out, const struct bench_settings *set, const struct bench_result *bs,
		  const struct bench_result *etcd)
{
	main_table(out, set, bs, etcd);
	fprintf(out,
		"\netcd is driven through its v3 JSON gateway (grpc-gateway) over HTTP/1.1 "
		"keep-alive connections (libcurl); backstay through its ctl protocol over "
		"authenticated TCP (one connection per client). Every client talks to the leader. "
		"Values are %zu bytes, every put writes a new key. Puts and gets: %u ms warm-up, "
		"then %u ms measured; latency is per request, client-side. Election timeout %u ms, "
		"heartbeat %u ms on both. Failover: one client puts back to back, a request "
		"unanswered after %u ms or refused is retried on the next member %s; ratio = "
		"backstay / etcd.\n",
		set->value_len, set->warmup_ms, set->duration_ms, set->election_timeout_ms,
		set->heartbeat_ms, set->retry_timeout_ms, "5 ms later");
	if (bs->notes[0] || etcd->notes[0])
		fprintf(out, "\nProblems during the run: %s%s%s\n", bs->notes,
			bs->notes[0] && etcd->notes[0] ? "; " : "", etcd->notes);
	fprintf(out,
		"\nWhere the time goes (CPU in cores over the measured window: sum of the 3 "
		"nodes, the leader alone, the bench client, every other user-space process on "
		"the machine, and what is charged to no process alive throughout the window: "
		"interrupts, loopback networking and I/O in kernel threads, short-lived "
		"processes; the machine has %ld), and how many processes the machine started per "
		"second (the bench starts none while it measures: other work did):\n\n",
		sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(out, "| system | phase | ops | ops/s | p50 / p99 ms | errors | redirects | "
		     "servers | leader | client | other | unattributed | forks/s |\n");
	fprintf(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	details(out, set, "backstay", bs);
	details(out, set, "etcd", etcd);
	fprintf(out,
		"\n| system | RSS idle, MiB (n1 / n2 / n3) | RSS at %llu keys (anonymous + "
		"file-backed) | failover runs, ms |\n",
		(unsigned long long)set->keys);
	fprintf(out, "|---|---|---|---|\n");
	memory_and_failover(out, "backstay", bs);
	memory_and_failover(out, "etcd", etcd);
}
