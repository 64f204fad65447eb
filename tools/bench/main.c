/*
 * backstay-bench: runs the workload against each cluster in turn (backstay,
 * then etcd) and prints the side-by-side table. scripts/bench.sh starts the
 * clusters, runs this and writes docs/BENCHMARKS.md.
 *
 * Per system: wait for a leader; RSS of every node idle; load N keys with
 * 64 clients; RSS again; put phases with 1, 16 and 64 clients; linearizable
 * gets with 64 clients; three failovers. Every phase is bounded in time,
 * every wait has a deadline.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bench.h"

#define LEADER_WAIT_MS 30000
#define LOAD_LIMIT_MS 300000
#define IDLE_SETTLE_MS 2000

struct options {
	const char *backstay_dir, *secrets, *etcd_dir, *out;
	struct bench_settings set;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: backstay-bench [--backstay DIR --secrets FILE] [--etcd DIR] [--out FILE]\n"
		"                      [--duration-ms N] [--warmup-ms N] [--keys N]\n"
		"                      [--election-timeout-ms N] [--heartbeat-ms N]\n"
		"                      [--retry-timeout-ms N]\n"
		"DIR holds n1..n3/{endpoint,pid,start} (scripts/bench.sh writes them).\n"
		"The election timeout and heartbeat are what both clusters were started with\n"
		"(for the report). Phases last at most 600 s each, loads 10M keys.\n"
		"The table goes to stdout and, with --out, to FILE; progress to stderr.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"backstay", required_argument, NULL, 'b'},
		{"secrets", required_argument, NULL, 's'},
		{"etcd", required_argument, NULL, 'e'},
		{"out", required_argument, NULL, 'o'},
		{"duration-ms", required_argument, NULL, 'd'},
		{"warmup-ms", required_argument, NULL, 'w'},
		{"keys", required_argument, NULL, 'k'},
		{"election-timeout-ms", required_argument, NULL, 'E'},
		{"heartbeat-ms", required_argument, NULL, 'H'},
		{"retry-timeout-ms", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->backstay_dir = optarg;
			break;
		case 's':
			o->secrets = optarg;
			break;
		case 'e':
			o->etcd_dir = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'd':
			o->set.duration_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o->set.warmup_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o->set.keys = strtoull(optarg, NULL, 10);
			break;
		case 'E':
			o->set.election_timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			o->set.heartbeat_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->set.retry_timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || (o->backstay_dir == NULL && o->etcd_dir == NULL) ||
	    (o->backstay_dir != NULL && o->secrets == NULL) || o->set.duration_ms == 0 ||
	    o->set.duration_ms > 600000 || o->set.warmup_ms > 60000 || o->set.keys == 0 ||
	    o->set.keys > 10000000 || o->set.retry_timeout_ms == 0 ||
	    o->set.retry_timeout_ms > 10000)
		return -EINVAL;
	return 0;
}

static void note(struct bench_result *r, const char *fmt, const char *what, const char *why)
{
	size_t n = strlen(r->notes);

	snprintf(r->notes + n, sizeof r->notes - n, fmt, n ? "; " : "", what, why);
}

static int leader_of(struct bench_sys *s, int *ret)
{
	uint64_t deadline = bench_now_ns() + LEADER_WAIT_MS * 1000000ull;

	while (bench_now_ns() < deadline) {
		if (s->ops->leader(s, ret) == 0)
			return 0;
		bench_run_for(s->loop, 100);
	}
	return -ETIMEDOUT;
}

static void measure_rss(struct bench_sys *s, double ret_mib[BENCH_NODES],
			double ret_anon[BENCH_NODES], double ret_file[BENCH_NODES])
{
	uint64_t anon, file;
	int i;

	for (i = 0; i < BENCH_NODES; i++) {
		ret_mib[i] = (double)bench_node_rss_kib(s->cluster, i, &anon, &file) / 1024.0;
		if (ret_anon != NULL)
			ret_anon[i] = (double)anon / 1024.0;
		if (ret_file != NULL)
			ret_file[i] = (double)file / 1024.0;
	}
}

static void log_phase(const char *sys, const char *what, const struct bench_stats *st)
{
	fprintf(stderr,
		"bench: %s %s: %llu ops, %.0f ops/s, p50 %.2f ms, p99 %.2f ms, %llu errors%s%s\n",
		sys, what, (unsigned long long)st->ops, st->ops_per_s, st->p50_ms, st->p99_ms,
		(unsigned long long)st->errors, st->errors ? " — last: " : "", st->last_error);
}

/* One phase on the current leader; a failure is noted, not fatal. */
static void run_phase(struct bench_sys *s, struct bench_phase *p, struct bench_stats *st,
		      struct bench_result *r, const char *what)
{
	char err[256] = "";
	int rv = leader_of(s, &p->node);

	if (rv == 0)
		rv = bench_phase_run(s, p, st, err, sizeof err);
	else
		snprintf(err, sizeof err, "no leader within %d ms", LEADER_WAIT_MS);
	if (rv != 0) {
		note(r, "%s%s: %s", what, err);
		fprintf(stderr, "bench: %s %s: %s\n", s->ops->name, what, err);
	}
	log_phase(s->ops->name, what, st);
}

static void run_failovers(struct bench_sys *s, const struct bench_settings *set,
			  struct bench_result *r)
{
	char err[256];
	unsigned i;

	for (i = 0; i < BENCH_FAILOVERS; i++) {
		double ms = 0;
		int rv = bench_failover_run(s, set->retry_timeout_ms, &ms, err, sizeof err);

		if (rv == 0 || ms > 0) {
			r->failover_ms[r->n_failover++] = ms;
			fprintf(stderr, "bench: %s failover %u: %.0f ms\n", s->ops->name, i + 1,
				ms);
		}
		if (rv != 0) {
			note(r, "%s%s: %s", "failover", err);
			fprintf(stderr, "bench: %s failover %u: %s\n", s->ops->name, i + 1, err);
			if (ms <= 0)
				break;
		}
	}
}

static void run_system(struct bench_sys *s, const struct bench_settings *set,
		       struct bench_result *r)
{
	struct bench_phase p = {.value_len = set->value_len, .keys = set->keys};
	char what[32];
	unsigned i;
	int lead;

	r->ran = true;
	if (leader_of(s, &lead) != 0) {
		note(r, "%s%s: %s", "start", "no leader");
		return;
	}
	s->ops->version(s, r->version, sizeof r->version);
	bench_run_for(s->loop, IDLE_SETTLE_MS);
	measure_rss(s, r->rss_idle_mib, NULL, NULL);
	p.op = BENCH_LOAD;
	p.tag = "load";
	p.clients = set->levels[BENCH_LEVELS - 1];
	p.duration_ms = LOAD_LIMIT_MS;
	run_phase(s, &p, &r->load, r, "load");
	bench_run_for(s->loop, IDLE_SETTLE_MS);
	measure_rss(s, r->rss_loaded_mib, r->anon_loaded_mib, r->file_loaded_mib);
	fprintf(stderr, "bench: %s RSS MiB idle %.1f/%.1f/%.1f, loaded %.1f/%.1f/%.1f\n",
		s->ops->name, r->rss_idle_mib[0], r->rss_idle_mib[1], r->rss_idle_mib[2],
		r->rss_loaded_mib[0], r->rss_loaded_mib[1], r->rss_loaded_mib[2]);
	p.warmup_ms = set->warmup_ms;
	p.duration_ms = set->duration_ms;
	for (i = 0; i < BENCH_LEVELS; i++) {
		snprintf(what, sizeof what, "c%u", set->levels[i]);
		p.op = BENCH_PUT;
		p.tag = what;
		p.clients = set->levels[i];
		run_phase(s, &p, &r->put[i], r, what);
	}
	p.op = BENCH_GET;
	p.tag = "get";
	p.clients = set->levels[BENCH_LEVELS - 1];
	run_phase(s, &p, &r->get, r, "get");
	run_failovers(s, set, r);
}

typedef int (*open_fn)(uv_loop_t *loop, struct bench_cluster *c, const struct options *o,
		       struct bench_sys **ret, char *errmsg, size_t size);

static int open_bsys(uv_loop_t *loop, struct bench_cluster *c, const struct options *o,
		     struct bench_sys **ret, char *errmsg, size_t size)
{
	return bench_bsys_open(loop, c, o->secrets, ret, errmsg, size);
}

static int open_etcd(uv_loop_t *loop, struct bench_cluster *c, const struct options *o,
		     struct bench_sys **ret, char *errmsg, size_t size)
{
	(void)o;
	return bench_etcd_open(loop, c, ret, errmsg, size);
}

static int bench_one(uv_loop_t *loop, const char *dir, open_fn open, const struct options *o,
		     struct bench_result *r)
{
	struct bench_cluster cluster;
	struct bench_sys *s;
	char err[256];
	int rv;

	rv = bench_cluster_load(&cluster, dir, err, sizeof err);
	if (rv == 0)
		rv = open(loop, &cluster, o, &s, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "backstay-bench: %s\n", err);
		return rv;
	}
	run_system(s, &o->set, r);
	s->ops->close(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {
		.set = {.levels = {1, 16, 64},
			.warmup_ms = 1000,
			.duration_ms = 10000,
			.keys = 100000,
			.value_len = 256,
			.election_timeout_ms = 1000,
			.heartbeat_ms = 100,
			.retry_timeout_ms = 100},
	};
	struct bench_result bs = {0}, etcd = {0};
	uv_loop_t loop;
	FILE *f;
	int rv = 0;

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	/* A node killed while a frame is being written must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	bs_log_set_level(BS_LOG_WARN);
	uv_loop_init(&loop);
	if (o.backstay_dir != NULL)
		rv |= bench_one(&loop, o.backstay_dir, open_bsys, &o, &bs);
	if (o.etcd_dir != NULL)
		rv |= bench_one(&loop, o.etcd_dir, open_etcd, &o, &etcd);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "backstay-bench: handles left open at exit\n");
	bench_report(stdout, &o.set, &bs, &etcd);
	if (o.out != NULL) {
		f = fopen(o.out, "we");
		if (f == NULL) {
			perror(o.out);
			return 1;
		}
		bench_report(f, &o.set, &bs, &etcd);
		fclose(f);
	}
	return rv != 0 ? 1 : 0;
}
