/*
 * libpq for pgwrite: connect with a short timeout, make the table, insert one
 * row and wait for its commit with a deadline of our own.
 *
 * No statement_timeout and no cancel request: cancelling a commit that waits
 * for synchronous replication makes PostgreSQL report success with a warning
 * ("The transaction has already committed locally, but might not have been
 * replicated to the standby"), which would turn an unreplicated write into a
 * false acknowledgement. On our deadline we drop the connection instead (the
 * outcome is then unknown, and not recorded), and such a warning, should a
 * server send it, is never taken as an acknowledgement.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "pgw.h"

static void on_notice(void *data, const PGresult *res)
{
	struct pgw_conn *c = data;
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

	if ((msg != NULL && strstr(msg, "synchronous replication") != NULL) ||
	    (detail != NULL && strstr(detail, "might not have been replicated") != NULL))
		c->unreplicated = true;
}

static void set_err(struct pgw_conn *c, const char *what, const char *why)
{
	size_t n;

	bs_errf(c->errmsg, sizeof c->errmsg, "%s: %s", what, why);
	n = strlen(c->errmsg);
	while (n > 0 && c->errmsg[n - 1] == '\n')
		c->errmsg[--n] = '\0';
}

/* PQconnectPoll until the connection is made, fails, or deadline_ms. */
static bool connect_poll(struct pgw_conn *c, uint64_t deadline_ms)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	struct pollfd pfd;
	uint64_t now;

	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		now = bs_clock_now_ms(bs_clock_real());
		if (now >= deadline_ms) {
			set_err(c, "connect", "no connection in time");
			return false;
		}
		pfd = (struct pollfd){.fd = PQsocket(c->pg),
				      .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		if (poll(&pfd, 1, (int)(deadline_ms - now)) < 0 && errno != EINTR) {
			set_err(c, "poll", strerror(errno));
			return false;
		}
		if (pfd.revents != 0)
			st = PQconnectPoll(c->pg);
	}
	if (st == PGRES_POLLING_FAILED)
		set_err(c, "connect", PQerrorMessage(c->pg));
	return st == PGRES_POLLING_OK;
}

int pgw_db_connect(struct pgw_conn *c, const struct pgw_db_opts *o, const char *host)
{
	char port[16];
	const char *keys[] = {"host",	 "port",
			      "user",	 "password",
			      "dbname",	 "connect_timeout",
			      "sslmode", "application_name",
			      NULL};
	const char *vals[] = {host, port,     o->user,	 o->password, o->dbname,
			      "1",  "prefer", "pgwrite", NULL};

	snprintf(port, sizeof port, "%u", o->port);
	c->unreplicated = false;
	c->history = o->history;
	if (o->connect_timeout_ms == 0) {
		c->pg = PQconnectdbParams(keys, vals, 0);
	} else { /* our own deadline: libpq's is whole seconds, at least 2 */
		vals[5] = "0";
		c->pg = PQconnectStartParams(keys, vals, 0);
	}
	if (c->pg == NULL) {
		set_err(c, "connect", "out of memory");
		return -ECONNREFUSED;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD ||
	    (o->connect_timeout_ms == 0 && PQstatus(c->pg) != CONNECTION_OK)) {
		set_err(c, "connect", PQerrorMessage(c->pg));
		pgw_db_close(c);
		return -ECONNREFUSED;
	}
	if (o->connect_timeout_ms != 0 &&
	    !connect_poll(c, bs_clock_now_ms(bs_clock_real()) + o->connect_timeout_ms)) {
		pgw_db_close(c);
		return -ECONNREFUSED;
	}
	PQsetNoticeReceiver(c->pg, on_notice, c);
	return 0;
}

void pgw_db_close(struct pgw_conn *c)
{
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
}

/* Wait for the result of the query just sent, at most timeout_ms; the last
 * result is returned (the caller PQclear()s it), NULL on a timeout or a lost
 * connection (errmsg set, *ret_timeout tells which). */
static PGresult *wait_result(struct pgw_conn *c, unsigned timeout_ms, bool *ret_timeout)
{
	uint64_t deadline = bs_clock_now_ms(bs_clock_real()) + timeout_ms, now;
	struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
	PGresult *last = NULL, *r;

	*ret_timeout = false;
	for (;;) {
		while (!PQisBusy(c->pg)) {
			r = PQgetResult(c->pg);
			if (r == NULL)
				return last;
			PQclear(last);
			last = r;
		}
		now = bs_clock_now_ms(bs_clock_real());
		if (now >= deadline) {
			*ret_timeout = true;
			set_err(c, "write", "no answer in time");
			break;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
			set_err(c, "poll", strerror(errno));
			break;
		}
		if (!PQconsumeInput(c->pg)) {
			set_err(c, "read", PQerrorMessage(c->pg));
			break;
		}
	}
	PQclear(last);
	return NULL;
}

/* Run sql with its parameters (text); 0 if its last result has the status
 * want. *ret_res (may be NULL) gets that result. */
static int exec_wait(struct pgw_conn *c, const char *sql, int nparams, const char *const *params,
		     unsigned timeout_ms, ExecStatusType want, PGresult **ret_res)
{
	PGresult *r;
	bool timeout;

	if (!PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
		set_err(c, "send", PQerrorMessage(c->pg));
		return -EIO;
	}
	r = wait_result(c, timeout_ms, &timeout);
	if (r == NULL)
		return timeout ? -ETIMEDOUT : -EIO;
	if (PQresultStatus(r) != want) {
		const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

		/* ERROR, not FATAL: the statement failed and its transaction
		 * rolled back (a FATAL may end a session whose commit is done). */
		c->stmt_error = PQresultStatus(r) == PGRES_FATAL_ERROR && sev != NULL &&
				strcmp(sev, "ERROR") == 0;
		set_err(c, "query", PQresultErrorMessage(r));
		PQclear(r);
		return -EIO;
	}
	if (ret_res != NULL)
		*ret_res = r;
	else
		PQclear(r);
	return 0;
}

/* "INSERT INTO <quoted table> ..." into buf; 0 or -ENOMEM / -ENAMETOOLONG. */
static int with_table(struct pgw_conn *c, const char *fmt, const char *table, char *buf,
		      size_t size)
{
	char *q = PQescapeIdentifier(c->pg, table, strlen(table));
	int n;

	if (q == NULL) {
		set_err(c, "table name", PQerrorMessage(c->pg));
		return -ENOMEM;
	}
	n = snprintf(buf, size, fmt, q);
	PQfreemem(q);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int pgw_db_prepare(struct pgw_conn *c, const char *table, unsigned timeout_ms, int64_t *ret_max)
{
	char sql[512];
	PGresult *r;
	int rv;

	rv = with_table(
		c,
		c->history ? "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, "
			     "epoch bigint, server text, at timestamptz NOT NULL DEFAULT now())"
			   : "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, "
			     "at timestamptz NOT NULL DEFAULT now())",
		table, sql, sizeof sql);
	if (rv == 0)
		rv = exec_wait(c, sql, 0, NULL, timeout_ms, PGRES_COMMAND_OK, NULL);
	if (rv == 0)
		rv = with_table(c, "SELECT coalesce(max(id), 0) FROM %s", table, sql, sizeof sql);
	if (rv == 0)
		rv = exec_wait(c, sql, 0, NULL, timeout_ms, PGRES_TUPLES_OK, &r);
	if (rv != 0)
		return rv;
	*ret_max = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int pgw_db_insert(struct pgw_conn *c, const char *table, int64_t id, unsigned timeout_ms)
{
	char sql[256], val[24];
	const char *params[] = {val};
	int rv;

	snprintf(val, sizeof val, "%" PRId64, id);
	c->unreplicated = c->stmt_error = false;
	rv = with_table(c, "INSERT INTO %s (id) VALUES ($1)", table, sql, sizeof sql);
	if (rv == 0)
		rv = exec_wait(c, sql, 1, params, timeout_ms, PGRES_COMMAND_OK, NULL);
	if (rv == 0 && c->unreplicated) {
		set_err(c, "write", "committed locally but maybe not replicated (server warning)");
		return -EPROTO;
	}
	return rv;
}

int pgw_db_insert_epoch(struct pgw_conn *c, const char *table, int64_t id, unsigned timeout_ms)
{
	char sql[512], val[24];
	const char *params[] = {val};
	PGresult *r;
	int rv;

	snprintf(val, sizeof val, "%" PRId64, id);
	c->unreplicated = c->stmt_error = false;
	rv = with_table(c,
			"INSERT INTO %s (id, epoch, server) SELECT $1, epoch, "
			"current_setting('cluster_name') FROM backstay_epoch ORDER BY epoch DESC "
			"LIMIT 1 RETURNING epoch, server",
			table, sql, sizeof sql);
	if (rv == 0)
		rv = exec_wait(c, sql, 1, params, timeout_ms, PGRES_TUPLES_OK, &r);
	if (rv != 0)
		return rv;
	if (PQntuples(r) != 1) { /* no epoch: nothing inserted, nothing committed */
		PQclear(r);
		set_err(c, "write", "backstay_epoch holds no epoch");
		c->stmt_error = true;
		return -EIO;
	}
	c->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(c->server, sizeof c->server, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	if (c->unreplicated) {
		set_err(c, "write", "committed locally but maybe not replicated (server warning)");
		return -EPROTO;
	}
	return 0;
}

int pgw_db_ids(struct pgw_conn *c, const char *table, unsigned timeout_ms, int64_t **ret_ids,
	       size_t *ret_n)
{
	char sql[256];
	PGresult *r;
	int64_t *ids;
	int i, n, rv;

	rv = with_table(c, "SELECT id FROM %s ORDER BY id", table, sql, sizeof sql);
	if (rv == 0)
		rv = exec_wait(c, sql, 0, NULL, timeout_ms, PGRES_TUPLES_OK, &r);
	if (rv != 0)
		return rv;
	n = PQntuples(r);
	ids = malloc((n > 0 ? (size_t)n : 1) * sizeof *ids);
	if (ids == NULL) {
		PQclear(r);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	*ret_ids = ids;
	*ret_n = (size_t)n;
	return 0;
}
