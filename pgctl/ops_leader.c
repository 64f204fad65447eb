/*
 * What a leader asks of its PostgreSQL (database lane): promote, wait for
 * quorum commits, keep slots for its standbys, record its epoch.
 *
 * synchronous_standby_names lives in postgresql.conf like every other
 * node-local setting: it is rendered again and written, the server is told
 * to reload, and the request ends only when the server shows the new
 * value, so that the caller's next commit is known to wait for it. ALTER
 * SYSTEM would put it in postgresql.auto.conf instead, which a base backup
 * or rewind copies from the source and which backstay empties after every
 * copy: one file, one owner.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pgctl_internal.h"

enum { SHOW_POLL_MS = 20 };

static const char slot_sql[] =
	"SELECT pg_create_physical_replication_slot($1, true)"
	" WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)";

static const char epoch_table_sql[] =
	"CREATE TABLE IF NOT EXISTS backstay_epoch("
	"epoch bigint PRIMARY KEY, node text NOT NULL, at timestamptz DEFAULT now())";

static const char epoch_insert_sql[] =
	"WITH ins AS (INSERT INTO backstay_epoch(epoch, node) VALUES ($1::bigint, $2)"
	" ON CONFLICT (epoch) DO NOTHING RETURNING node)"
	" SELECT node FROM ins"
	" UNION ALL SELECT node FROM backstay_epoch WHERE epoch = $1::bigint LIMIT 1";

/* The first value of a result, "" when there is none. */
static const char *first_value(const PGresult *res)
{
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
		return "";
	return PQgetvalue(res, 0, 0);
}

/* ------------------------------------------------------------------------
 * Promote.
 */
enum { PROMOTE_ASK, PROMOTE_CALL, PROMOTE_CHECKED };

/* No CHECKPOINT after pg_promote: a rewind against this node asks for one
 * itself (ops_follow.c), and the first writes need not wait for it. */
static int promote_step(struct pgc_req *req, const PGresult *res)
{
	switch (req->stage) {
	case PROMOTE_ASK:
		req->stage = PROMOTE_CALL;
		return pgc__sql(req, "SELECT pg_is_in_recovery()", 0);
	case PROMOTE_CALL:
		if (strcmp(first_value(res), "t") != 0)
			break; /* a primary already */
		req->stage = PROMOTE_CHECKED;
		return pgc__sql(req, "SELECT pg_promote(true, 60)", 0);
	case PROMOTE_CHECKED:
		if (strcmp(first_value(res), "t") != 0) {
			bs_errf(req->errmsg, sizeof req->errmsg,
				"pg_promote returned false: not promoted within %d s",
				PGC_PROMOTE_WAIT_S);
			return -EIO;
		}
		break;
	default:
		return -EINVAL;
	}
	req->p->target.primary = true;
	return PGC__DONE;
}

static const struct pgc__op promote_op = {"promote", PGC__LANE_DB, false, promote_step};

int pgc_promote(struct pgc *p, struct pgc_req *req, pgc_req_cb cb)
{
	return pgc__submit(p, req, &promote_op, PGC_PROMOTE_WAIT_S * 1000 + p->db_timeout_ms, cb);
}

/* ------------------------------------------------------------------------
 * Reload, then SHOW until the server has the value (shared by the
 * synchronous standbys and the re-pointing of a standby).
 */
enum { RELOAD_RENDER, RELOAD_SIGNAL, RELOAD_SHOW, RELOAD_CHECK };

/* The steps after the rendering is written: pg_reload_conf(), then poll
 * `show_sql` (one parameterless value) until it equals want. */
static int reload_until(struct pgc_req *req, const PGresult *res, const char *show_sql,
			const char *want)
{
	switch (req->stage) {
	case RELOAD_SIGNAL:
		req->stage = RELOAD_SHOW;
		return pgc__sql(req, "SELECT pg_reload_conf()", 0);
	case RELOAD_SHOW:
		req->stage = RELOAD_CHECK;
		return pgc__sql(req, show_sql, 0);
	case RELOAD_CHECK:
		if (req->act == PGC__SQL && strcmp(first_value(res), want) == 0)
			return PGC__DONE;
		req->stage = RELOAD_SHOW;
		return pgc__wait(req, SHOW_POLL_MS);
	default:
		return -EINVAL;
	}
}

/* Listed standbys whose walsender has not reloaded yet: priority 0 while
 * listed (or, when the list is being emptied, above 0). */
static const char walsenders_sql[] =
	"SELECT count(*) FROM pg_stat_replication"
	" WHERE application_name = ANY($1::text[]) AND (sync_priority = 0) <> $2::bool";

enum { SYNC_WALSENDERS = RELOAD_CHECK + 1, SYNC_WALSENDERS_CHECK };

static int sync_walsenders(struct pgc_req *req, const PGresult *res)
{
	if (req->stage == SYNC_WALSENDERS_CHECK) {
		if (strcmp(first_value(res), "0") == 0)
			return PGC__DONE;
		req->stage = SYNC_WALSENDERS;
		return pgc__wait(req, SHOW_POLL_MS);
	}
	req->stage = SYNC_WALSENDERS_CHECK;
	req->params[0] = req->u.sync.array;
	req->params[1] = req->u.sync.none ? "t" : "f";
	return pgc__sql(req, walsenders_sql, 2);
}

static int sync_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc *p = req->p;
	int rv;

	if (req->stage == RELOAD_RENDER) {
		req->stage = RELOAD_SIGNAL;
		snprintf(p->target.sync_names, sizeof p->target.sync_names, "%s",
			 req->u.sync.names);
		rv = pgc__files_prepare(req, PGC__F_CONF, false);
		return rv != 0 ? rv : pgc__work(req, pgc__files_write);
	}
	if (req->stage >= SYNC_WALSENDERS)
		return sync_walsenders(req, res);
	rv = reload_until(req, res, "SELECT current_setting('synchronous_standby_names')",
			  req->u.sync.names);
	if (rv == PGC__DONE)
		return sync_walsenders(req, NULL);
	return rv;
}

static const struct pgc__op sync_op = {"synchronous standbys", PGC__LANE_DB, false, sync_step};

/* {"a","b"}: a text[] literal, '"' and '\' escaped. */
static int text_array(const char *const *names, size_t n, char *buf, size_t size)
{
	size_t len = 0, i;
	const char *s;

	buf[len++] = '{';
	for (i = 0; i < n; i++) {
		if (len + 2 >= size)
			return -ENOSPC;
		if (i > 0)
			buf[len++] = ',';
		buf[len++] = '"';
		for (s = names[i]; *s != '\0'; s++) {
			if (len + 4 >= size)
				return -ENOSPC;
			if (*s == '"' || *s == '\\')
				buf[len++] = '\\';
			buf[len++] = *s;
		}
		buf[len++] = '"';
	}
	if (len + 2 > size)
		return -ENOSPC;
	buf[len++] = '}';
	buf[len] = '\0';
	return 0;
}

int pgc_set_sync_names(struct pgc *p, struct pgc_req *req, const char *const *names, size_t n,
		       unsigned k, pgc_req_cb cb)
{
	int rv = pgc_sync_names(names, n, k, req->u.sync.names, sizeof req->u.sync.names);

	if (rv == 0)
		rv = text_array(names, n, req->u.sync.array, sizeof req->u.sync.array);
	if (rv != 0) {
		bs_errf(req->errmsg, sizeof req->errmsg,
			"synchronous standbys: %s (k %u of %zu names)", bs_strerror(rv), k, n);
		return rv;
	}
	req->u.sync.none = k == 0;
	return pgc__submit(p, req, &sync_op, p->db_timeout_ms, cb);
}

/* ------------------------------------------------------------------------
 * Re-point a running standby.
 */
static int repoint_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc_conf_in in;
	struct pgc_upstream up;
	int rv;

	if (req->stage == RELOAD_RENDER) {
		req->stage = RELOAD_SIGNAL;
		pgc__conf_in(req->p, &in, &up);
		rv = pgc__primary_conninfo(&in, req->u.follow.conninfo,
					   sizeof req->u.follow.conninfo);
		if (rv == 0)
			rv = pgc__files_prepare(req, PGC__F_CONF | PGC__F_PASSFILE, true);
		return rv != 0 ? rv : pgc__work(req, pgc__files_write);
	}
	return reload_until(req, res, "SELECT current_setting('primary_conninfo')",
			    req->u.follow.conninfo);
}

static const struct pgc__op repoint_op = {"re-point", PGC__LANE_DB, false, repoint_step};

int pgc_repoint(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
		pgc_req_cb cb)
{
	int rv = pgc__target_upstream(p, upstream, req->errmsg, sizeof req->errmsg);

	if (rv != 0)
		return rv;
	p->target.primary = false;
	return pgc__submit(p, req, &repoint_op, p->db_timeout_ms, cb);
}

/* ------------------------------------------------------------------------
 * Slots.
 */
static bool slot_name_ok(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++, n++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return n > 0 && n < PGC_NAME_MAX;
}

static int slots_step(struct pgc_req *req, const PGresult *res)
{
	(void)res;
	if (req->u.slots.i == req->u.slots.n)
		return PGC__DONE;
	req->params[0] = req->u.slots.names[req->u.slots.i++];
	return pgc__sql(req, slot_sql, 1);
}

static const struct pgc__op slots_op = {"replication slots", PGC__LANE_DB, false, slots_step};

int pgc_create_slots(struct pgc *p, struct pgc_req *req, const char *const *names, size_t n,
		     pgc_req_cb cb)
{
	size_t i;

	if (n == 0 || n > PGC_SLOTS_MAX) {
		bs_errf(req->errmsg, sizeof req->errmsg, "replication slots: 1 to %d names",
			PGC_SLOTS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!slot_name_ok(names[i])) {
			bs_errf(req->errmsg, sizeof req->errmsg,
				"replication slots: '%s' is not a slot name ([a-z0-9_], 1 to 63)",
				names[i] != NULL ? names[i] : "");
			return -EINVAL;
		}
		snprintf(req->u.slots.names[i], sizeof req->u.slots.names[i], "%s", names[i]);
	}
	req->u.slots.n = n;
	req->u.slots.i = 0;
	return pgc__submit(p, req, &slots_op, p->db_timeout_ms, cb);
}

/* ------------------------------------------------------------------------
 * The leader's epoch.
 */
/* The commits run with synchronous_commit off: right after a promotion
 * they would wait for a WAL flush (and for standbys named before the
 * promotion) while no client can write yet. Nothing is lost by it: the
 * first acknowledged client commit flushes the WAL before it, and
 * pg/epoch in the KV is what decides. */
static int epoch_step(struct pgc_req *req, const PGresult *res)
{
	switch (req->stage++) {
	case 0:
		return pgc__sql(req, "SET synchronous_commit TO off", 0);
	case 1:
		return pgc__sql(req, epoch_table_sql, 0);
	case 2:
		req->params[0] = req->param_buf[0];
		req->params[1] = req->u.epoch.node;
		return pgc__sql(req, epoch_insert_sql, 2);
	case 3:
		snprintf(req->u.epoch.found, sizeof req->u.epoch.found, "%s", first_value(res));
		return pgc__sql(req, "RESET synchronous_commit", 0);
	default:
		if (strcmp(req->u.epoch.found, req->u.epoch.node) == 0)
			return PGC__DONE;
		bs_errf(req->errmsg, sizeof req->errmsg, "epoch %s is recorded for node '%s'",
			req->param_buf[0], req->u.epoch.found);
		return -EEXIST;
	}
}

static const struct pgc__op epoch_op = {"record epoch", PGC__LANE_DB, false, epoch_step};

int pgc_record_epoch(struct pgc *p, struct pgc_req *req, uint64_t epoch, const char *node,
		     pgc_req_cb cb)
{
	if (node == NULL || node[0] == '\0' || strlen(node) >= PGC_NAME_MAX ||
	    epoch > (uint64_t)INT64_MAX) {
		bs_errf(req->errmsg, sizeof req->errmsg, "record epoch: bad node name or epoch");
		return -EINVAL;
	}
	snprintf(req->param_buf[0], sizeof req->param_buf[0], "%" PRIu64, epoch);
	snprintf(req->u.epoch.node, sizeof req->u.epoch.node, "%s", node);
	return pgc__submit(p, req, &epoch_op, p->db_timeout_ms, cb);
}
