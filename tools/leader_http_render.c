/*
 * What the leader endpoint (leader_http.h) says about a view: the /leader
 * verdict HAProxy acts on, /status as JSON, /metrics as Prometheus text.
 * Pure functions of the view; they run on the HTTP server's thread, on its
 * own copy of the view.
 *
 * The lease renewal quantiles are over the last CLI_LEADER_RENEW_SAMPLES
 * renewals (nearest rank), the _sum and _count over every one since start,
 * as a Prometheus summary has them.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leader_http.h"

#define TEXT_OF(x) #x
#define VALUE_TEXT(x) TEXT_OF(x)
#define RENEW_SAMPLES_TEXT VALUE_TEXT(CLI_LEADER_RENEW_SAMPLES) /* "256" */

static const char *const state_names[CLI_LEADER_STATE_COUNT] = {
	[CLI_LEADER_INITIALIZING] = "initializing",
	[CLI_LEADER_LEADER] = "leader",
	[CLI_LEADER_FOLLOWER] = "follower",
	[CLI_LEADER_WAITING_FOR_LEADER] = "waiting_for_leader",
	[CLI_LEADER_DEPOSED_LEADER] = "deposed_leader",
	[CLI_LEADER_PROMOTING] = "promoting",
};

const char *cli__leader_state_name(enum cli_leader_state state)
{
	return (unsigned)state < CLI_LEADER_STATE_COUNT ? state_names[state] : "?";
}

static const char *es_name(enum cli_leader_es es)
{
	switch (es) {
	case CLI_LEADER_ES_HEALTHY:
		return "healthy";
	case CLI_LEADER_ES_DISABLED:
		return "disabled";
	case CLI_LEADER_ES_UNHEALTHY:
		break;
	}
	return "unhealthy";
}

void cli__leader_view_init(struct cli_leader_view *v)
{
	memset(v, 0, sizeof *v);
	v->state = CLI_LEADER_INITIALIZING;
	v->es = CLI_LEADER_ES_UNHEALTHY;
}

void cli__leader_renew_add(struct cli_leader_view *v, uint32_t ms)
{
	v->renew.last_ms[v->renew.count % CLI_LEADER_RENEW_SAMPLES] = ms;
	v->renew.count++;
	v->renew.sum_ms += ms;
}

/* ---- /leader -------------------------------------------------------------------- */

/*
 * HAProxy sends traffic to the one node answering 2xx. Only a node that
 * serves may; and, as leaderl did, only while required_active_followers
 * followers stream from it, so that the frontends never write to a
 * leader whose writes would not be replicated as configured.
 */
int cli__leader_answer(const struct cli_leader_view *v, char *buf, size_t size,
		       const char **ret_body)
{
	if (v->fenced) {
		*ret_body = "fenced\n";
		return 503;
	}
	if (v->serving && v->streaming_followers < v->required_active_followers) {
		snprintf(buf, size, "waiting for %u more streaming follower(s)\n",
			 v->required_active_followers - v->streaming_followers);
		*ret_body = buf;
		return 503;
	}
	if (v->serving) {
		*ret_body = "leader\n";
		return 200;
	}
	if (v->state == CLI_LEADER_PROMOTING)
		*ret_body = "promoting\n";
	else if (v->state == CLI_LEADER_INITIALIZING)
		*ret_body = "initializing\n";
	else
		*ret_body = "not the leader\n";
	return 503;
}

/* ---- lease renewal latency ------------------------------------------------------ */

struct renew_summary {
	size_t n; /* samples the quantiles are over; 0: none yet */
	uint32_t p50_ms, p99_ms, max_ms;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The sample of rank ceil(q * n) among n sorted ones (nearest rank). */
static uint32_t nearest_rank(const uint32_t *sorted, size_t n, unsigned q_percent)
{
	size_t rank = (q_percent * n + 99) / 100;

	return sorted[rank > 0 ? rank - 1 : 0];
}

static void renew_summarize(const struct cli_leader_renew *r, struct renew_summary *ret)
{
	uint32_t sorted[CLI_LEADER_RENEW_SAMPLES];
	size_t n =
		r->count < CLI_LEADER_RENEW_SAMPLES ? (size_t)r->count : CLI_LEADER_RENEW_SAMPLES;

	*ret = (struct renew_summary){.n = n};
	if (n == 0)
		return;
	memcpy(sorted, r->last_ms, n * sizeof sorted[0]);
	qsort(sorted, n, sizeof sorted[0], cmp_u32);
	ret->p50_ms = nearest_rank(sorted, n, 50);
	ret->p99_ms = nearest_rank(sorted, n, 99);
	ret->max_ms = sorted[n - 1];
}

/* ---- /status -------------------------------------------------------------------- */

/* A count as a JSON integer (jansson's are signed 64-bit). */
static json_int_t jint(uint64_t x)
{
	return x <= (uint64_t)INT64_MAX ? (json_int_t)x : (json_int_t)INT64_MAX;
}

/* A sample as a JSON integer, or null when there is none. */
static json_t *sample_json(const struct renew_summary *s, uint32_t ms)
{
	return s->n > 0 ? json_integer(ms) : json_null();
}

static json_t *renew_json(const struct cli_leader_renew *r)
{
	struct renew_summary s;

	renew_summarize(r, &s);
	return json_pack("{s:o, s:o, s:o, s:I, s:I, s:I}", "p50", sample_json(&s, s.p50_ms), "p99",
			 sample_json(&s, s.p99_ms), "max", sample_json(&s, s.max_ms), "samples",
			 (json_int_t)s.n, "count", jint(r->count), "sum", jint(r->sum_ms));
}

/* What /leader answers, and why, for a person reading /status. */
static json_t *answer_json(const struct cli_leader_view *v)
{
	char buf[64];
	const char *body;
	int status = cli__leader_answer(v, buf, sizeof buf, &body);

	return json_pack("{s:i, s:s%}", "status", status, "reason", body, strcspn(body, "\n"));
}

char *cli__leader_status_json(const struct cli_leader_view *v)
{
	char id[17], lsn[40];
	json_t *doc;
	char *text;

	snprintf(id, sizeof id, "%" PRIx64, v->id);
	/* PostgreSQL's notation: the high and low 32 bits in hex. */
	snprintf(lsn, sizeof lsn, "%" PRIX64 "/%" PRIX64, v->lsn >> 32, v->lsn & 0xffffffffu);
	doc = json_pack(
		"{s:s, s:s, s:s, s:b, s:b, s:I, s:s?, s:b, s:b, s:b, s:b, s:s, s:I, s:i, "
		"s:i, s:I, s:o, s:I, s:s, s:o}",
		"name", v->name, "id", id, "state", cli__leader_state_name(v->state), "serving",
		v->serving, "fenced", v->fenced, "epoch", jint(v->epoch), "leader",
		v->leader_name[0] != '\0' ? v->leader_name : NULL, "eligible", v->eligible,
		"blocked", v->blocked, "partially_synced", v->partially_synced, "pg_healthy",
		v->pg_healthy, "es", es_name(v->es), "replication_lag_bytes",
		jint(v->replication_lag_bytes), "streaming_followers", (int)v->streaming_followers,
		"required_active_followers", (int)v->required_active_followers, "failovers_total",
		jint(v->failovers_total), "lease_renew_ms", renew_json(&v->renew), "timeline",
		(json_int_t)v->timeline, "lsn", lsn, "leader_check", answer_json(v));
	if (doc == NULL)
		return NULL;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* ---- /metrics ------------------------------------------------------------------- */

static void metrics_state(FILE *f, const struct cli_leader_view *v)
{
	int i;

	fputs("# HELP backstay_leader_state The leader module's state: 1 for the current one.\n"
	      "# TYPE backstay_leader_state gauge\n",
	      f);
	for (i = 0; i < CLI_LEADER_STATE_COUNT; i++)
		fprintf(f, "backstay_leader_state{state=\"%s\"} %d\n", state_names[i],
			(int)v->state == i);
}

static void metric(FILE *f, const char *name, const char *type, const char *help, uint64_t value)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
		value);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t value)
{
	metric(f, name, "gauge", help, value);
}

/* ms as seconds, or NaN when there is no sample. */
static void seconds(FILE *f, const struct renew_summary *s, uint32_t ms)
{
	if (s->n == 0)
		fputs("NaN\n", f);
	else
		fprintf(f, "%u.%03u\n", ms / 1000, ms % 1000);
}

static void metrics_renew(FILE *f, const struct cli_leader_renew *r)
{
	struct renew_summary s;

	renew_summarize(r, &s);
	fputs("# HELP backstay_lease_renew_seconds How long lease renewals took (quantiles over "
	      "the last " RENEW_SAMPLES_TEXT " renewals).\n"
	      "# TYPE backstay_lease_renew_seconds summary\n"
	      "backstay_lease_renew_seconds{quantile=\"0.5\"} ",
	      f);
	seconds(f, &s, s.p50_ms);
	fputs("backstay_lease_renew_seconds{quantile=\"0.99\"} ", f);
	seconds(f, &s, s.p99_ms);
	fprintf(f, "backstay_lease_renew_seconds_sum %" PRIu64 ".%03u\n", r->sum_ms / 1000,
		(unsigned)(r->sum_ms % 1000));
	fprintf(f, "backstay_lease_renew_seconds_count %" PRIu64 "\n", r->count);
	fputs("# HELP backstay_lease_renew_max_seconds The longest of the last " RENEW_SAMPLES_TEXT
	      " lease renewals.\n"
	      "# TYPE backstay_lease_renew_max_seconds gauge\n"
	      "backstay_lease_renew_max_seconds ",
	      f);
	seconds(f, &s, s.max_ms);
}

static void metrics_health(FILE *f, const struct cli_leader_view *v)
{
	bool es_enabled = v->es != CLI_LEADER_ES_DISABLED;

	gauge(f, "backstay_leader_eligible", "1 when this node may become the leader.",
	      v->eligible);
	gauge(f, "backstay_leader_blocked", "1 when failover to this node is blocked.", v->blocked);
	gauge(f, "backstay_leader_partially_synced",
	      "1 when a basebackup or rewind of this node did not finish.", v->partially_synced);
	gauge(f, "backstay_pg_healthy", "1 when the local PostgreSQL passes its health check.",
	      v->pg_healthy);
	gauge(f, "backstay_es_enabled",
	      "1 when the local Elasticsearch is checked (elasticsearch.enable).", es_enabled);
	/* Left out when not checked: neither 1 nor 0 would be true. */
	if (es_enabled)
		gauge(f, "backstay_es_healthy",
		      "1 when the local Elasticsearch is green or yellow.",
		      v->es == CLI_LEADER_ES_HEALTHY);
}

static void metrics_replication(FILE *f, const struct cli_leader_view *v)
{
	gauge(f, "backstay_replication_lag_bytes",
	      "Leader: the slowest streaming follower's lag; follower: its own.",
	      v->replication_lag_bytes);
	gauge(f, "backstay_streaming_followers", "Followers streaming from this node.",
	      v->streaming_followers);
	gauge(f, "backstay_required_active_followers",
	      "Streaming followers /leader requires (leaderl.required_active_followers).",
	      v->required_active_followers);
	gauge(f, "backstay_pg_timeline", "PostgreSQL's timeline.", v->timeline);
	gauge(f, "backstay_pg_lsn_bytes",
	      "PostgreSQL's current (leader) or replayed (follower) WAL position.", v->lsn);
}

static void metrics_write(FILE *f, const struct cli_leader_view *v)
{
	metrics_state(f, v);
	gauge(f, "backstay_leader_serving",
	      "1 when this node serves as the leader: it holds the lease, promotion is done, "
	      "it is not fenced.",
	      v->serving);
	gauge(f, "backstay_leader_fenced",
	      "1 when this node fenced itself, having failed to renew its lease in time.",
	      v->fenced);
	gauge(f, "backstay_leader_epoch", "The epoch of the leader lease this node knows.",
	      v->epoch);
	metric(f, "backstay_failovers_total", "counter",
	       "Leader lease acquisitions this node has seen since it started.",
	       v->failovers_total);
	metrics_health(f, v);
	metrics_replication(f, v);
	metrics_renew(f, &v->renew);
}

char *cli__leader_metrics_text(const struct cli_leader_view *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	metrics_write(f, v);
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
