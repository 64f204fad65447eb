/*
 * The leader module in the daemon: the orchestrator (leader/orch.h) with
 * this node's adapters — PostgreSQL through pgctl (daemon_pg.c), health
 * checks (PostgreSQL state, the Elasticsearch probe, free disk space),
 * /leader /status /metrics on leaderl.http_port, and the VIP when one is
 * configured. Runs only with postgresql.enable (a cluster without it is
 * the replicated KV alone, as the consensus tests run it).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "daemon.h"
#include "daemon_leader.h"

#define LEADER_COMPONENT "leader"
#define ES_TIMEOUT_MS 2000
#define FENCE_BUDGET_MS 200
#define RHO_PPM 10000 /* 1 %: far above real clock-rate error (docs/leader.md §4) */
#define COLLECT_TIMEOUT_MS 500
#define RETRY_MS 500
#define FOLLOW_TIMEOUT_MS 15000
#define PROMOTE_HOLD_MS 10000
#define SWITCHOVER_TIMEOUT_MS 30000

static struct daemon_pg *pg_of(struct daemon *d)
{
	return d->pg;
}

/* ---- health ------------------------------------------------------------------------- */

static void defer_later(struct daemon_pg *g);

static void sample_from_state(const struct pgc_state *s, struct ldr_pg_sample *out)
{
	memset(out, 0, sizeof *out);
	out->ok = s->reachable;
	out->in_recovery = s->in_recovery;
	out->timeline = s->timeline;
	if (s->in_recovery)
		out->lsn = s->receive_lsn > s->replay_lsn ? s->receive_lsn : s->replay_lsn;
	else
		out->lsn = s->flush_lsn;
	out->streaming = s->receiver_streaming;
	out->standbys_streaming = s->n_streaming;
}

/* The member whose publish_address is host (a WAL receiver's sender). */
static uint64_t member_at(struct daemon *d, const char *host)
{
	Backstay__KvResult *r = host[0] != '\0' ? daemon__local_range(d, "cluster/members/") : NULL;
	uint64_t id = 0;
	size_t i;

	for (i = 0; r != NULL && i < r->n_kvs && id == 0; i++) {
		json_t *m = json_loadb((const char *)r->kvs[i]->value.data, r->kvs[i]->value.len, 0,
				       NULL);

		if (strcmp(cli__jstr(m, "publish_address"), host) == 0)
			id = (uint64_t)json_integer_value(json_object_get(m, "id"));
		json_decref(m);
	}
	if (r != NULL)
		backstay__kv_result__free_unpacked(r, NULL);
	return id;
}

static void pg_check(void *data);

static void on_dropped(struct pgc_req *req, int status)
{
	struct daemon_pg *g = req->data;

	g->slots_busy = false;
	if (status != 0 && !g->closing)
		bs_warn(LEADER_COMPONENT, "dropping old replication slots: %s", req->errmsg);
	else if (status == 0 && strcmp(req->value, "0") != 0)
		bs_info(LEADER_COMPONENT, "dropped %s replication slot(s) of former members",
			req->value);
}

/* Slots of backstay's naming that no voter uses any more (a removed
 * member's) would keep WAL on the primary for ever: dropped, unless a
 * walsender uses them right now. Names are "backstay_" + hex: safe in SQL. */
static void drop_old_slots(struct daemon_pg *g)
{
	size_t n;
	unsigned i;

	n = (size_t)snprintf(g->slots_sql, sizeof g->slots_sql,
			     "select count(pg_drop_replication_slot(slot_name)) from "
			     "pg_replication_slots where slot_name like 'backstay\\_%%' and not "
			     "active and slot_name not in (''");
	for (i = 0; i < g->n_others && n < sizeof g->slots_sql; i++)
		n += (size_t)snprintf(g->slots_sql + n, sizeof g->slots_sql - n, ", '%s'",
				      g->others[i].app_name);
	if (n + 2 >= sizeof g->slots_sql)
		goto done;
	snprintf(g->slots_sql + n, sizeof g->slots_sql - n, ")");
	g->slots_req = (struct pgc_req){.data = g};
	if (pgc_exec(g->pgc, &g->slots_req, g->slots_sql, 0, on_dropped) == 0)
		return;
done:
	g->slots_busy = false;
}

static void on_slots(struct pgc_req *req, int status)
{
	struct daemon_pg *g = req->data;

	if (status != 0 && !g->closing)
		bs_warn(LEADER_COMPONENT, "replication slots: %s", req->errmsg);
	if (status != 0 || g->closing) {
		g->slots_busy = false;
		return;
	}
	drop_old_slots(g);
}

/* The serving primary keeps a slot for every other voter, whatever
 * happened to them (dropped by hand, invalidated): a follower back after
 * a base backup streams through it; and drops the slots of former
 * members. Two small idempotent queries per check. */
static void keep_slots(struct daemon_pg *g, const struct ldr_pg_sample *s)
{
	const char *names[LDR_MAX_NODES];
	unsigned i;

	if (!g->serving || !s->ok || s->in_recovery || g->slots_busy || g->n_others == 0)
		return;
	for (i = 0; i < g->n_others; i++)
		names[i] = g->others[i].app_name;
	g->slots_req = (struct pgc_req){.data = g};
	if (pgc_create_slots(g->pgc, &g->slots_req, names, g->n_others, on_slots) == 0)
		g->slots_busy = true;
}

static void on_state_answer(struct pgc_req *req, int status)
{
	struct daemon_pg *g = req->data;
	struct ldr_pg_sample s;

	g->check_busy = false;
	if (g->closing)
		return;
	if (g->check_gen != g->gen) { /* from before the last action's end: ask again */
		pg_check(g);
		return;
	}
	if (status != 0)
		memset(&s, 0, sizeof s);
	else
		sample_from_state(&req->state, &s);
	if (s.streaming)
		s.upstream = member_at(g->d, req->state.receiver_host);
	if (!s.ok)
		bs_debug(LEADER_COMPONENT, "postgresql check: %s", req->errmsg);
	g->view.lsn = s.lsn;
	g->view.timeline = s.timeline;
	g->view.streaming_followers = s.standbys_streaming;
	g->view.replication_lag_bytes = status == 0 ? pgc_state_lag(&req->state) : 0;
	keep_slots(g, &s);
	ldr_orch_pg_sample(g->orch, &s);
	if (g->check_again && !g->closing) {
		g->check_again = false;
		pg_check(g);
	}
}

static void pg_check(void *data)
{
	struct daemon_pg *g = data;

	if (!pgc_running(g->pgc)) {
		g->defer_pg = true; /* down: a sample that says so, from the loop */
		defer_later(g);
		return;
	}
	if (g->check_busy) {
		g->check_again = true; /* a fresh one after the one in flight */
		return;
	}
	g->check_req = (struct pgc_req){.data = g};
	g->check_gen = g->gen;
	if (pgc_query_state(g->pgc, &g->check_req, on_state_answer) == 0)
		g->check_busy = true;
	else
		g->defer_pg = true, defer_later(g);
}

static void on_es_answer(struct ldr_es_req *req, int status, const struct ldr_es_health *h)
{
	struct daemon_pg *g = req->data;
	char detail[300];

	g->es_busy = false;
	if (status == -ECANCELED || g->closing)
		return;
	if (status != 0)
		snprintf(detail, sizeof detail, "%s", h != NULL ? h->errmsg : bs_strerror(status));
	else
		snprintf(detail, sizeof detail, "%s", ldr_es_status_name(h->status));
	ldr_orch_es(g->orch, status == 0 && h->healthy, detail);
}

static void es_check(void *data)
{
	struct daemon_pg *g = data;
	const struct bs_config *c = g->d->config;

	if (g->es == NULL || g->es_busy)
		return;
	g->es_req.data = g;
	if (ldr_es_check(g->es, &g->es_req, bs_config_str(c, BS_SET_ELASTICSEARCH_HOST),
			 (int)bs_config_int(c, BS_SET_ELASTICSEARCH_PORT), ES_TIMEOUT_MS,
			 on_es_answer) == 0)
		g->es_busy = true;
}

/* Free space of every disk_paths entry at least disk_min_space_mb. */
static bool disks_ok(const struct bs_config *c)
{
	size_t i, n = bs_config_list_len(c, BS_SET_LEADERL_HEALTH_CHECK_DISK_PATHS);
	uint64_t min = (uint64_t)bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_DISK_MIN_SPACE_MB)
		       << 20;
	struct statvfs sv;

	for (i = 0; i < n; i++)
		if (statvfs(bs_config_list_at(c, BS_SET_LEADERL_HEALTH_CHECK_DISK_PATHS, i), &sv) ==
			    0 &&
		    (uint64_t)sv.f_bavail * sv.f_frsize < min)
			return false;
	return true;
}

static void disk_check(void *data)
{
	struct daemon_pg *g = data;

	g->disk_ok = disks_ok(g->d->config);
	daemon__vip_check(g->vip); /* every health interval: there exactly when serving */
	g->defer_disk = true;
	defer_later(g);
}

static void on_defer(uv_timer_t *t)
{
	struct daemon_pg *g = t->data;
	struct ldr_pg_sample down = {0};

	if (g->closing)
		return;
	if (g->defer_pg) {
		g->defer_pg = false;
		ldr_orch_pg_sample(g->orch, &down);
	}
	if (g->defer_disk) {
		g->defer_disk = false;
		ldr_orch_disk(g->orch, g->disk_ok);
	}
}

static void defer_later(struct daemon_pg *g)
{
	uv_timer_start(&g->defer, on_defer, 0, 0);
}

void daemon__pg_progress(struct pgc_req *req, const struct pgc_progress *progress)
{
	struct daemon_pg *g = req->data;

	ldr_orch_progress(g->orch, (int)progress->percent);
}

/* ---- serving: /leader and the VIP ---------------------------------------------------- */

static void publish(void *data);

static void serve(void *data, bool on)
{
	struct daemon_pg *g = data;

	if (!on && g->serving)
		bs_warn(LEADER_COMPONENT, "no longer serving writes: /leader answers 503");
	if (on && !g->serving)
		bs_info(LEADER_COMPONENT, "serving writes: /leader answers 200");
	g->view.fenced = !on && g->serving;
	g->serving = on;
	g->view.serving = on;
	daemon__vip_serve(g->vip, on); /* off: removed before this returns (§4's first step) */
	publish(g);
}

static enum cli_leader_state view_state(enum ldr_state s)
{
	static const enum cli_leader_state map[LDR_N_STATES] = {
		[LDR_INITIALIZING] = CLI_LEADER_INITIALIZING,
		[LDR_WAITING_FOR_LEADER] = CLI_LEADER_WAITING_FOR_LEADER,
		[LDR_PROMOTING] = CLI_LEADER_PROMOTING,
		[LDR_LEADER] = CLI_LEADER_LEADER,
		[LDR_FOLLOWER] = CLI_LEADER_FOLLOWER,
		[LDR_DEPOSED_LEADER] = CLI_LEADER_DEPOSED_LEADER,
	};

	return map[s];
}

/* The holder's name from its member metadata. */
static void holder_name(struct daemon *d, uint64_t id, char *out, size_t size)
{
	Backstay__KvResult *r = daemon__local_range(d, "cluster/members/");
	json_t *m = r != NULL ? daemon__meta_find(r, id) : NULL;

	snprintf(out, size, "%s", id == 0 ? "" : cli__or(cli__jstr(m, "name"), "?"));
	json_decref(m);
	if (r != NULL)
		backstay__kv_result__free_unpacked(r, NULL);
}

static void publish(void *data)
{
	struct daemon_pg *g = data;
	const struct ldr_sm *sm = ldr_orch_sm(g->orch);

	if (g->http == NULL)
		return;
	g->view.state = view_state(sm->state);
	g->view.epoch = sm->holder_epoch;
	holder_name(g->d, sm->holder, g->view.leader_name, sizeof g->view.leader_name);
	g->view.eligible = sm->blocks == 0;
	g->view.blocked = (sm->blocks & (LDR_BLOCK_NODE | LDR_BLOCK_CLUSTER)) != 0;
	g->view.partially_synced = (sm->blocks & LDR_BLOCK_UNSYNCED) != 0;
	g->view.pg_healthy = (sm->blocks & LDR_BLOCK_PG) == 0 && sm->pg_known;
	g->view.es = !sm->set.es_enabled		? CLI_LEADER_ES_DISABLED
		     : (sm->blocks & LDR_BLOCK_ES) == 0 ? CLI_LEADER_ES_HEALTHY
							: CLI_LEADER_ES_UNHEALTHY;
	g->view.failovers_total = sm->failovers;
	cli__leader_http_publish(g->http, &g->view);
}

static void renewed(void *data, uint64_t latency_ms)
{
	struct daemon_pg *g = data;

	cli__leader_renew_add(&g->view,
			      latency_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_ms);
	daemon__vip_renewed(g->vip); /* the VIP's lifetime follows the lease */
}

/* ---- PostgreSQL's own end ------------------------------------------------------------ */

static void on_pg_exit(void *data, const struct pgc_exit *e)
{
	struct daemon_pg *g = data;

	if (g->closing || e->requested)
		return;
	bs_warn(LEADER_COMPONENT, "PostgreSQL exited (%s %d): %s",
		e->term_signal != 0 ? "signal" : "status",
		e->term_signal != 0 ? e->term_signal : (int)e->exit_status, e->log_tail);
	ldr_orch_pg_exited(g->orch);
}

/* ---- start and stop ---------------------------------------------------------------- */

static void settings(struct daemon *d, struct ldr_settings *s)
{
	const struct bs_config *c = d->config;

	*s = (struct ldr_settings){
		.self_id = d->self.id,
		.ttl_ms = (uint64_t)(bs_config_float(c, BS_SET_LEADERL_LEADER_TTL_SECONDS) * 1000),
		.renew_ms = (uint64_t)bs_config_int(c, BS_SET_LEADERL_LEASE_RENEW_MS),
		.fence_budget_ms = FENCE_BUDGET_MS,
		.rho_ppm = RHO_PPM,
		.collect_timeout_ms = COLLECT_TIMEOUT_MS,
		.retry_ms = RETRY_MS,
		.follow_timeout_ms = FOLLOW_TIMEOUT_MS,
		.promote_hold_ms = PROMOTE_HOLD_MS,
		.switchover_timeout_ms = SWITCHOVER_TIMEOUT_MS,
		.max_pg_failures =
			(unsigned)bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_MAX_PGSQL_FAILURES),
		.max_es_failures = (unsigned)bs_config_int(
			c, BS_SET_LEADERL_HEALTH_CHECK_MAX_ELASTICSEARCH_FAILURES),
		.es_enabled = bs_config_bool(c, BS_SET_ELASTICSEARCH_ENABLE),
		.fatal_system_checks =
			bs_config_bool(c, BS_SET_LEADERL_HEALTH_CHECK_FATAL_SYSTEM_CHECKS),
		.max_bytes_behind = (uint64_t)bs_config_int(
			c, BS_SET_LEADERL_HEALTH_CHECK_MAX_BYTES_BEHIND_LEADER),
		.quorum_sync =
			strcmp(bs_config_str(c, BS_SET_POSTGRESQL_SYNCHRONOUS_MODE), "async") != 0,
	};
}

static int start_pgc(struct daemon *d, struct daemon_pg *g)
{
	struct pgc_node node = {
		.loop = &d->loop,
		.config = d->config,
		.secrets = &d->secrets,
		.state_dir = d->data_dir,
		.app_name = g->app_name,
		.cert_cn = d->self.name,
	};
	char errmsg[256];
	int rv = pgc_new(&node, on_pg_exit, g, &g->pgc, errmsg, sizeof errmsg);

	if (rv != 0)
		bs_error(LEADER_COMPONENT, "postgresql: %s", errmsg);
	return rv;
}

static int start_http(struct daemon *d, struct daemon_pg *g)
{
	const struct bs_config *c = d->config;
	char errmsg[256];
	int rv;

	snprintf(g->view.name, sizeof g->view.name, "%s", d->self.name);
	g->view.id = d->self.id;
	g->view.required_active_followers =
		(unsigned)bs_config_int(c, BS_SET_LEADERL_REQUIRED_ACTIVE_FOLLOWERS);
	g->view.es = bs_config_bool(c, BS_SET_ELASTICSEARCH_ENABLE) ? CLI_LEADER_ES_UNHEALTHY
								    : CLI_LEADER_ES_DISABLED;
	rv = cli__leader_http_start(bs_config_str(c, BS_SET_LEADERL_HTTP_ADDRESS),
				    (int)bs_config_int(c, BS_SET_LEADERL_HTTP_PORT), &g->http,
				    errmsg, sizeof errmsg);
	if (rv != 0)
		bs_error(LEADER_COMPONENT, "leaderl.http_port: %s", errmsg);
	else
		cli__leader_http_publish(g->http, &g->view);
	return rv;
}

static int start_orch(struct daemon *d, struct daemon_pg *g)
{
	struct ldr_orch_config oc = {
		.loop = &d->loop,
		.node = d->node,
		.clock = bs_clock_real(),
		.guid = d->self.guid,
		.sentinel_dir = d->data_dir,
		.health_interval_ms =
			(uint64_t)bs_config_int(d->config,
						BS_SET_LEADERL_HEALTH_CHECK_INTERVAL_SECONDS) *
			1000,
		.ad = {.data = g,
		       .pg_start = daemon__pg_start,
		       .pg_stop = daemon__pg_stop,
		       .pg_promote = daemon__pg_promote,
		       .pg_follow = daemon__pg_follow,
		       .pg_sync = daemon__pg_sync,
		       .pg_checkpoint = daemon__pg_checkpoint,
		       .pg_check = pg_check,
		       .es_check = es_check,
		       .disk_check = disk_check,
		       .serve = serve,
		       .changed = publish,
		       .renewed = renewed},
	};
	char errmsg[256];
	int rv;

	settings(d, &oc.set);
	g->vip = daemon__vip_start(&d->loop, d->config, ldr_valid_until(&oc.set, 0),
				   oc.set.renew_ms);
	rv = ldr_orch_start(&oc, &g->orch, errmsg, sizeof errmsg);
	if (rv != 0)
		bs_error(LEADER_COMPONENT, "%s", errmsg);
	return rv;
}

int daemon__leader_start(struct daemon *d)
{
	struct daemon_pg *g;
	int rv;

	if (!bs_config_bool(d->config, BS_SET_POSTGRESQL_ENABLE))
		return 0;
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return -ENOMEM;
	g->d = d;
	d->pg = g;
	g->port = (int)bs_config_int(d->config, BS_SET_POSTGRESQL_PORT);
	snprintf(g->app_name, sizeof g->app_name, "backstay_%016" PRIx64, d->self.id);
	uv_timer_init(&d->loop, &g->defer);
	g->defer.data = g;
	rv = start_pgc(d, g);
	if (rv == 0 && bs_config_bool(d->config, BS_SET_ELASTICSEARCH_ENABLE))
		rv = ldr_es_probe_new(&d->loop, &g->es);
	if (rv == 0)
		rv = start_http(d, g);
	if (rv == 0)
		rv = start_orch(d, g);
	if (rv == 0)
		bs_info(LEADER_COMPONENT, "leader module started (PostgreSQL %s, %s replication)",
			pgc_paths(g->pgc)->data_dir,
			bs_config_str(d->config, BS_SET_POSTGRESQL_SYNCHRONOUS_MODE));
	return rv;
}

/* Closing: the orchestrator first (it stops asking), then the probe,
 * PostgreSQL (stopped fast by the daemon's stop, immediate here if still
 * running) and the endpoint. */
struct closing {
	struct daemon_pg *g;
	unsigned left;
	void (*cb)(void *data);
	void *data;
};

static void closed_one(void *data)
{
	struct closing *cl = data;

	if (--cl->left > 0)
		return;
	cli__leader_http_stop(cl->g->http);
	cl->g->d->pg = NULL;
	free(cl->g);
	cl->cb(cl->data);
	free(cl);
}

static void defer_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void on_pg_stopped(struct pgc_req *req, int status)
{
	struct closing *cl = req->data;

	(void)status;
	pgc_close(cl->g->pgc, closed_one, cl);
}

/* A clean (fast) stop of PostgreSQL unless a chain is under way (a base
 * backup, a rewind: pgc_close cancels it and stops PostgreSQL at once). */
static void close_pg(struct closing *cl)
{
	struct daemon_pg *g = cl->g;

	if (g->pgc == NULL) {
		closed_one(cl);
		return;
	}
	g->req = (struct pgc_req){.data = cl};
	if (g->busy || !pgc_running(g->pgc) ||
	    pgc_stop(g->pgc, &g->req, PGC_STOP_FAST, 10000, on_pg_stopped) != 0)
		pgc_close(g->pgc, closed_one, cl);
}

void daemon__leader_close(struct daemon *d, void (*cb)(void *data), void *data)
{
	struct daemon_pg *g = pg_of(d);
	struct closing *cl;

	if (g == NULL || (cl = calloc(1, sizeof *cl)) == NULL) {
		cb(data);
		return;
	}
	daemon__vip_serve(g->vip, false);
	g->closing = true;
	cl->g = g;
	cl->cb = cb;
	cl->data = data;
	cl->left = 5;
	daemon__vip_close(g->vip, closed_one, cl);
	ldr_orch_close(g->orch, closed_one, cl);
	if (g->es != NULL)
		ldr_es_probe_close(g->es, closed_one, cl);
	else
		cl->left--;
	close_pg(cl);
	g->defer.data = cl;
	uv_close((uv_handle_t *)&g->defer, defer_closed);
}

void daemon__leader_raft_changed(struct daemon *d)
{
	if (pg_of(d) != NULL && pg_of(d)->orch != NULL && !pg_of(d)->closing)
		ldr_orch_raft_changed(pg_of(d)->orch);
}

bool daemon__leader_ctl(struct daemon *d, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
			const Backstay__CtlRequest *req)
{
	if (pg_of(d) == NULL || pg_of(d)->orch == NULL || pg_of(d)->closing)
		return false;
	return ldr_orch_on_ctl(pg_of(d)->orch, conn_id, role, node_id, req);
}

json_t *daemon__leader_json(struct daemon *d)
{
	struct pgc_progress p;
	json_t *j;

	if (pg_of(d) == NULL || pg_of(d)->orch == NULL)
		return NULL;
	j = ldr_orch_status_json(pg_of(d)->orch);
	if (j != NULL && pg_of(d)->busy && pgc_progress(pg_of(d)->pgc, &p))
		json_object_set_new(j, "sync_percent", json_integer(p.percent));
	if (j != NULL && pg_of(d)->vip != NULL)
		json_object_set_new(j, "vip", daemon__vip_json(pg_of(d)->vip));
	return j;
}
