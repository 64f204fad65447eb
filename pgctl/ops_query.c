/*
 * Questions to the local PostgreSQL (database lane): is it ready, what is
 * its replication state, and any SQL (tests, tools).
 *
 * The state is one statement for every node and, on a primary, a second
 * for pg_stat_replication. The timeline of a standby is the highest of:
 * the one its walreceiver receives, the newest timeline of a WAL segment
 * in pg_wal, and the last restartpoint's — a standby whose primary died
 * has no walreceiver, and its last restartpoint may be timelines behind
 * the WAL it holds (the leader election compares (timeline, LSN), so an
 * old timeline here would lose to a node with less WAL). A primary's is
 * the one it writes, read from the name of its current WAL file
 * (pg_control_checkpoint() lags behind a promotion until the next
 * checkpoint).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl_internal.h"

static const char state_sql[] =
	"SELECT pg_is_in_recovery(),"
	" CASE WHEN pg_is_in_recovery()"
	"  THEN greatest((SELECT received_tli FROM pg_stat_wal_receiver),"
	"   (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()"
	"     WHERE name ~ '^[0-9A-F]{24}(\\.partial)?$'),"
	"   (SELECT timeline_id FROM pg_control_checkpoint()))"
	"  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
	" pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(),"
	" CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END,"
	/* Streaming, and on the newest timeline this standby knows of: a
	 * standby that diverged (a crashed primary's WAL past the fork point)
	 * fetches the new timeline's history file, restarts streaming on its
	 * own timeline and is refused at every try -- "streaming" for an
	 * instant each time, never on the new timeline. */
	" coalesce((SELECT status = 'streaming' AND received_tli >= coalesce("
	"   (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()"
	"     WHERE name ~ '^[0-9A-F]{8}\\.history$'), 0) FROM pg_stat_wal_receiver), false),"
	" (SELECT sender_host FROM pg_stat_wal_receiver),"
	" current_setting('synchronous_standby_names'),"
	" (SELECT latest_end_lsn FROM pg_stat_wal_receiver)";

static const char standbys_sql[] =
	"SELECT application_name, state, coalesce(sync_state, ''), flush_lsn"
	" FROM pg_stat_replication ORDER BY application_name";

enum { READY_TIMEOUT_DEFAULT_MS = 60000 };

/* A pg_lsn column: 0 when NULL. */
static int lsn_at(const PGresult *res, int row, int col, uint64_t *ret)
{
	*ret = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	return pgc_lsn_parse(PQgetvalue(res, row, col), ret);
}

static void text_at(const PGresult *res, int row, int col, char *buf, size_t size)
{
	snprintf(buf, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static int parse_state(struct pgc_req *req, const PGresult *res)
{
	struct pgc_state *s = &req->state;
	int rv;

	if (PQntuples(res) != 1 || PQnfields(res) != 9) {
		bs_errf(req->errmsg, sizeof req->errmsg, "unexpected answer (%d rows)",
			PQntuples(res));
		return -EIO;
	}
	s->reachable = true;
	s->in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
	s->timeline = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	rv = lsn_at(res, 0, 2, &s->receive_lsn);
	if (rv == 0)
		rv = lsn_at(res, 0, 3, &s->replay_lsn);
	if (rv == 0)
		rv = lsn_at(res, 0, 4, &s->flush_lsn);
	if (rv == 0)
		rv = lsn_at(res, 0, 8, &s->sender_end_lsn);
	s->receiver_streaming = PQgetvalue(res, 0, 5)[0] == 't';
	text_at(res, 0, 6, s->receiver_host, sizeof s->receiver_host);
	text_at(res, 0, 7, s->sync_names, sizeof s->sync_names);
	if (rv != 0)
		bs_errf(req->errmsg, sizeof req->errmsg, "unexpected LSN text");
	return rv;
}

static void parse_standbys(struct pgc_req *req, const PGresult *res)
{
	struct pgc_state *s = &req->state;
	struct pgc_standby *sb;
	int i, n = PQntuples(res);

	s->n_standbys = (unsigned)n;
	for (i = 0; i < n; i++) {
		if (strcmp(PQgetvalue(res, i, 1), "streaming") == 0)
			s->n_streaming++;
		if (i >= PGC_STANDBYS_MAX)
			continue;
		sb = &s->standbys[i];
		text_at(res, i, 0, sb->app_name, sizeof sb->app_name);
		text_at(res, i, 1, sb->state, sizeof sb->state);
		text_at(res, i, 2, sb->sync_state, sizeof sb->sync_state);
		if (lsn_at(res, i, 3, &sb->flush_lsn) != 0)
			sb->flush_lsn = 0;
	}
}

static int state_step(struct pgc_req *req, const PGresult *res)
{
	int rv;

	if (req->act_status < 0) {
		req->state.reachable = false;
		req->keep_errmsg = true;
		return PGC__DONE;
	}
	switch (req->stage++) {
	case 0:
		memset(&req->state, 0, sizeof req->state);
		return pgc__sql(req, state_sql, 0);
	case 1:
		rv = parse_state(req, res);
		if (rv != 0 || req->state.in_recovery)
			return rv != 0 ? rv : PGC__DONE;
		return pgc__sql(req, standbys_sql, 0);
	case 2:
		parse_standbys(req, res);
		return PGC__DONE;
	default:
		return -EINVAL;
	}
}

static const struct pgc__op state_op = {"state query", PGC__LANE_DB, true, state_step};

int pgc_query_state(struct pgc *p, struct pgc_req *req, pgc_req_cb cb)
{
	memset(&req->state, 0, sizeof req->state);
	return pgc__submit(p, req, &state_op, p->db_timeout_ms, cb);
}

/* ------------------------------------------------------------------------
 * Readiness: SELECT 1 until it answers.
 */
static int ready_failed(struct pgc_req *req)
{
	char last[sizeof req->errmsg];

	memcpy(last, req->errmsg, sizeof last);
	if (req->abort == -ETIMEDOUT)
		bs_errf(req->errmsg, sizeof req->errmsg, "not ready in time; last: %s", last);
	return req->abort;
}

static int ready_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc *p = req->p;
	char tail[220];

	(void)res;
	if (req->abort != 0)
		return ready_failed(req);
	if (req->stage++ == 0 || req->act == PGC__WAIT)
		return pgc__sql(req, "SELECT 1", 0);
	if (req->act_status == 0 && p->server.exits == req->u.ready.exits)
		return PGC__DONE;
	if (p->server.exits != req->u.ready.exits) {
		pgc__file_tail(p->paths.log_file, 2, tail, sizeof tail);
		bs_errf(req->errmsg, sizeof req->errmsg, "PostgreSQL exited: %s", tail);
		return -ESRCH;
	}
	return pgc__wait(req, PGC__RETRY_MS);
}

static const struct pgc__op ready_op = {"wait ready", PGC__LANE_DB, true, ready_step};

int pgc_wait_ready(struct pgc *p, struct pgc_req *req, unsigned timeout_ms, pgc_req_cb cb)
{
	req->u.ready.exits = p->server.exits;
	return pgc__submit(p, req, &ready_op,
			   timeout_ms > 0 ? timeout_ms : READY_TIMEOUT_DEFAULT_MS, cb);
}

/* ------------------------------------------------------------------------
 * Any SQL.
 */
static int exec_step(struct pgc_req *req, const PGresult *res)
{
	if (req->stage++ == 0)
		return pgc__sql(req, req->sql, 0);
	req->value[0] = '\0';
	req->rows = 0;
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		req->rows = PQntuples(res);
		if (req->rows > 0 && PQnfields(res) > 0)
			text_at(res, 0, 0, req->value, sizeof req->value);
	} else {
		req->rows = atoi(PQcmdTuples((PGresult *)res));
	}
	return PGC__DONE;
}

static const struct pgc__op exec_op = {"exec", PGC__LANE_DB, false, exec_step};

int pgc_exec(struct pgc *p, struct pgc_req *req, const char *sql, unsigned timeout_ms,
	     pgc_req_cb cb)
{
	if (sql == NULL) {
		bs_errf(req->errmsg, sizeof req->errmsg, "exec: no SQL");
		return -EINVAL;
	}
	req->sql = sql;
	return pgc__submit(p, req, &exec_op, timeout_ms > 0 ? timeout_ms : p->db_timeout_ms, cb);
}
