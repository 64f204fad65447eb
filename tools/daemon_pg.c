/*
 * The leader module's PostgreSQL adapter in the daemon: each pg_* adapter
 * call of leader/orch.h as a short chain of pgctl requests, ending in
 * ldr_orch_done (docs/leader.md §7). One chain at a time (the state
 * machine never asks for two); health queries run beside it in pgctl's
 * database lane.
 *
 *   start      pgc_start as a standby of upstream, then wait until ready
 *   stop       pgc_stop (immediate or fast)
 *   promote    slots for the other voters, pg_promote, the epoch recorded
 *              (with synchronous_commit off: the standbys may still point
 *              elsewhere; no client writes before PG_SYNC and SERVE on)
 *   follow     RECONF: re-point a running standby, start a stopped one, a
 *              base backup when there is no data directory yet; REWIND:
 *              stop, pg_rewind, start; BASEBACKUP: stop, pg_basebackup,
 *              start
 *   sync       synchronous_standby_names = ANY k (the other voters)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon.h"
#include "daemon_leader.h"

#define PG_COMPONENT "postgresql"
#define READY_TIMEOUT_MS 60000
#define SKIP 1 /* submit: nothing to do for this op */

static void step(struct daemon_pg *g, int status);

enum stage_op {
	OP_END,
	OP_START,
	OP_READY,
	OP_STOP_FAST,
	OP_STOP_IMMEDIATE,
	OP_REPOINT,
	OP_REWIND,
	OP_BASEBACKUP,
	OP_SLOTS,
	OP_PROMOTE,
	OP_EPOCH,
	OP_SYNC,
	OP_CHECKPOINT
};

static const char *const op_done[] = {
	[OP_REWIND] = "pg_rewind against %s: done, starting as its standby",
	[OP_BASEBACKUP] = "base backup from %s: done, starting as its standby",
	[OP_REPOINT] = "following %s (re-pointed, no restart)",
	[OP_PROMOTE] = "promoted: this node's PostgreSQL is the primary",
	[OP_STOP_IMMEDIATE] = "PostgreSQL stopped (immediate shutdown)",
	[OP_STOP_FAST] = "PostgreSQL stopped (fast shutdown)",
};

/* A promotion that failed: usually the server died, and its log says why. */
static void warn_log_error(struct daemon_pg *g)
{
	char why[300];

	pgc_log_last_error(g->pgc, why, sizeof why);
	if (why[0] != '\0')
		bs_warn(PG_COMPONENT, "PostgreSQL's log: %s", why);
}

static void chain_cb(struct pgc_req *req, int status)
{
	struct daemon_pg *g = req->data;
	int op = g->stage > 0 ? g->chain[g->stage - 1] : OP_END;

	if (status != 0) {
		bs_warn(PG_COMPONENT, "%s", req->errmsg);
		if (op == OP_PROMOTE)
			warn_log_error(g);
	} else if (op < (int)(sizeof op_done / sizeof op_done[0]) && op_done[op] != NULL)
		bs_info(PG_COMPONENT, op_done[op], g->upstream.host);
	if (status == -ECANCELED && g->closing)
		return;
	step(g, status);
}

static void finish(struct daemon_pg *g, int status)
{
	enum ldr_action_type action = g->action;

	g->busy = false;
	g->stage = 0;
	g->gen++; /* a check in flight now answers for the time before */
	if (action == LDR_ACT_PG_FOLLOW)
		ldr_orch_progress(g->orch, -1); /* a base backup's progress ends with it */
	ldr_orch_done(g->orch, action, status);
}

static int upstream_of(struct daemon_pg *g, struct pgc_upstream *u)
{
	if (!g->have_upstream)
		return -ENOENT;
	u->host = g->upstream.host;
	u->port = g->port;
	u->slot = g->app_name;
	return 0;
}

static bool data_dir_empty(struct daemon_pg *g)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof path, "%s/PG_VERSION", pgc_paths(g->pgc)->data_dir);
	return stat(path, &st) != 0;
}

static bool was_primary(struct daemon_pg *g)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof path, "%s/standby.signal", pgc_paths(g->pgc)->data_dir);
	return stat(path, &st) != 0;
}

/* ---- the chains --------------------------------------------------------------------- */

static int submit(struct daemon_pg *g, enum stage_op op)
{
	struct pgc_start_opts so = {0};
	struct pgc_upstream u;
	const char *names[LDR_MAX_NODES];
	unsigned i;

	g->req.data = g;
	switch (op) {
	case OP_START:
		/* The state machine guards the no-start sentinel (it starts a
		 * deposed leader only to rejoin or when an operator forces it);
		 * pgctl's refusal is for everyone else. */
		so.override_no_start = true;
		so.upstream = upstream_of(g, &u) == 0 ? &u : NULL;
		return pgc_start(g->pgc, &g->req, &so, chain_cb);
	case OP_READY:
		return pgc_wait_ready(g->pgc, &g->req, READY_TIMEOUT_MS, chain_cb);
	case OP_STOP_FAST:
	case OP_STOP_IMMEDIATE:
		return pgc_stop(g->pgc, &g->req,
				op == OP_STOP_FAST ? PGC_STOP_FAST : PGC_STOP_IMMEDIATE, 0,
				chain_cb);
	case OP_REPOINT:
		return upstream_of(g, &u) == 0 ? pgc_repoint(g->pgc, &g->req, &u, chain_cb)
					       : -ENOENT;
	case OP_REWIND:
		return upstream_of(g, &u) == 0 ? pgc_rewind(g->pgc, &g->req, &u, false, chain_cb)
					       : -ENOENT;
	case OP_BASEBACKUP:
		g->req.progress_cb = daemon__pg_progress;
		return upstream_of(g, &u) == 0 ? pgc_basebackup(g->pgc, &g->req, &u, chain_cb)
					       : -ENOENT;
	case OP_SLOTS:
		if (g->n_others == 0)
			return SKIP;
		for (i = 0; i < g->n_others; i++)
			names[i] = g->others[i].app_name;
		return pgc_create_slots(g->pgc, &g->req, names, g->n_others, chain_cb);
	case OP_PROMOTE:
		return pgc_promote(g->pgc, &g->req, chain_cb);
	case OP_EPOCH:
		return pgc_record_epoch(g->pgc, &g->req, g->epoch, g->app_name, chain_cb);
	case OP_CHECKPOINT:
		return pgc_exec(g->pgc, &g->req, "CHECKPOINT", 0, chain_cb);
	case OP_SYNC:
		for (i = 0; i < g->n_others; i++)
			names[i] = g->others[i].app_name;
		return pgc_set_sync_names(g->pgc, &g->req, names, g->n_others, g->sync_k, chain_cb);
	default:
		return 0;
	}
}

/* Run the chain's next op; a failure ends it (the stop of a process that
 * already ended is fine: pgc_stop answers 0). */
static void step(struct daemon_pg *g, int status)
{
	int rv;

	for (;;) {
		enum stage_op op;

		if (status != 0) {
			finish(g, status);
			return;
		}
		op = (enum stage_op)g->chain[g->stage++];
		if (op == OP_END) {
			finish(g, 0);
			return;
		}
		g->req = (struct pgc_req){0};
		rv = submit(g, op);
		if (rv == 0)
			return;
		if (rv == SKIP || (op == OP_START && rv == -EALREADY)) {
			status = 0; /* already running: go on */
			continue;
		}
		bs_warn(PG_COMPONENT, "%s",
			g->req.errmsg[0] != '\0' ? g->req.errmsg : bs_strerror(rv));
		status = rv;
	}
}

static int run(struct daemon_pg *g, enum ldr_action_type action, const int *ops)
{
	size_t i;

	if (g->busy)
		return -EBUSY;
	for (i = 0; ops[i] != OP_END && i + 1 < DAEMON_PG_CHAIN_MAX; i++)
		g->chain[i] = ops[i];
	g->chain[i] = OP_END;
	g->busy = true;
	g->action = action;
	g->stage = 0;
	step(g, 0);
	return 0;
}

static void set_upstream(struct daemon_pg *g, const struct ldr_peer *up)
{
	g->have_upstream = up != NULL;
	if (up != NULL)
		g->upstream = *up;
}

static void set_others(struct daemon_pg *g, const struct ldr_peer *others, unsigned n)
{
	g->n_others = n < LDR_MAX_NODES ? n : LDR_MAX_NODES;
	memcpy(g->others, others, g->n_others * sizeof *others);
}

/* ---- the adapter calls ------------------------------------------------------------- */

int daemon__pg_start(void *data, const struct ldr_peer *upstream)
{
	struct daemon_pg *g = data;
	static const int ops[] = {OP_START, OP_READY, OP_END};

	/* A node that joined has no data until its first base backup (a follow
	 * of the leader): nothing to start, and nothing wrong. */
	if (data_dir_empty(g)) {
		if (!g->said_no_data)
			bs_info(PG_COMPONENT,
				"no data directory yet: PostgreSQL starts once copied "
				"from a leader");
		g->said_no_data = true;
		return -ENODATA;
	}
	set_upstream(g, upstream);
	return run(g, LDR_ACT_PG_START, ops);
}

static void preempt_cb(struct pgc_req *req, int status)
{
	struct daemon_pg *g = req->data;

	g->stop_busy = false;
	if (status == -ECANCELED && g->closing)
		return;
	if (status != 0)
		bs_warn(PG_COMPONENT, "%s", req->errmsg);
	else
		bs_info(PG_COMPONENT, "%s", op_done[OP_STOP_IMMEDIATE]);
	g->gen++; /* a check in flight answers for the time before the stop */
	ldr_orch_done(g->orch, LDR_ACT_PG_STOP, status);
}

/* A fence cannot wait for the chain in flight (a checkpoint, a reload, a
 * promotion): its stop goes beside it at once. The chain's own end still
 * reaches the state machine, which no longer waits for it and ignores it. */
static int preempt_stop(struct daemon_pg *g)
{
	int rv;

	if (g->stop_busy)
		return -EBUSY;
	g->stop_req = (struct pgc_req){0};
	g->stop_req.data = g;
	rv = pgc_stop(g->pgc, &g->stop_req, PGC_STOP_IMMEDIATE, 0, preempt_cb);
	g->stop_busy = rv == 0;
	return rv;
}

int daemon__pg_stop(void *data, bool immediate)
{
	struct daemon_pg *g = data;
	static const int fast[] = {OP_STOP_FAST, OP_END}, now[] = {OP_STOP_IMMEDIATE, OP_END};

	if (immediate && g->busy)
		return preempt_stop(g);
	return run(g, LDR_ACT_PG_STOP, immediate ? now : fast);
}

int daemon__pg_promote(void *data, uint64_t epoch, const struct ldr_peer *others, unsigned n)
{
	struct daemon_pg *g = data;
	static const int ops[] = {OP_SLOTS, OP_PROMOTE, OP_EPOCH, OP_END};

	g->epoch = epoch;
	set_others(g, others, n);
	return run(g, LDR_ACT_PG_PROMOTE, ops);
}

int daemon__pg_follow(void *data, const struct ldr_peer *upstream, enum ldr_follow_mode mode)
{
	struct daemon_pg *g = data;
	static const int repoint[] = {OP_REPOINT, OP_END}, start[] = {OP_START, OP_READY, OP_END},
			 rewind[] = {OP_STOP_FAST, OP_REWIND, OP_START, OP_READY, OP_END},
			 copy[] = {OP_STOP_FAST, OP_BASEBACKUP, OP_START, OP_READY, OP_END};

	set_upstream(g, upstream);
	if (mode == LDR_FOLLOW_BASEBACKUP || data_dir_empty(g))
		return run(g, LDR_ACT_PG_FOLLOW, copy);
	/* A stopped data directory that was a primary (no standby.signal: a
	 * leader killed before it could fence) may hold WAL past the new
	 * leader's fork: re-pointing would wait for a stream that never
	 * comes; pg_rewind says "no rewind required" at once when none is. */
	if (mode == LDR_FOLLOW_REWIND || (!pgc_running(g->pgc) && was_primary(g)))
		return run(g, LDR_ACT_PG_FOLLOW, rewind);
	return run(g, LDR_ACT_PG_FOLLOW, pgc_running(g->pgc) ? repoint : start);
}

int daemon__pg_checkpoint(void *data)
{
	static const int ops[] = {OP_CHECKPOINT, OP_END};

	return run(data, LDR_ACT_PG_CHECKPOINT, ops);
}

int daemon__pg_sync(void *data, unsigned k, const struct ldr_peer *others, unsigned n)
{
	struct daemon_pg *g = data;
	static const int ops[] = {OP_SLOTS, OP_SYNC, OP_END};

	set_others(g, others, n);
	g->sync_k = k < g->n_others ? k : g->n_others;
	return run(g, LDR_ACT_PG_SYNC, ops);
}
