/*
 * The handle's one libpq connection, driven without ever blocking: opened
 * with PQconnectStartParams and PQconnectPoll, statements sent with
 * PQsendQuery(Params), input read with PQconsumeInput, all on a uv_poll_t
 * over libpq's socket. The connection stays open between requests; while
 * idle it is watched too, so that a server that goes away is noticed and
 * the next request connects afresh instead of failing on a dead socket.
 *
 * It connects as postgresql.db_superuser with its password over the
 * node's unix socket (pg_hba.conf's `local all <db_superuser> md5`), or,
 * for pgc_initdb's bootstrap server, as postgres with trust.
 *
 * libpq's outcomes become errno values here and nowhere else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl_internal.h"

struct pgc__watch {
	uv_poll_t poll;
	struct pgc *p;
	int fd;
};

static void poll_cb(uv_poll_t *h, int status, int events);

int pgc__pq_errno(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL)
		return -EIO;
	if (strcmp(state, "57P03") == 0)
		return -EAGAIN; /* cannot_connect_now: starting up */
	if (strcmp(state, "25006") == 0)
		return -EROFS; /* read_only_sql_transaction */
	if (strcmp(state, "42501") == 0)
		return -EACCES; /* insufficient_privilege */
	if (strcmp(state, "57014") == 0)
		return -ECANCELED; /* query_canceled */
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0)
		return -ECONNRESET; /* connection exception, shutdown */
	return -EIO;
}

/* libpq's multi-line message as one line. */
static void one_line(char *buf, size_t size, const char *msg)
{
	size_t n = 0;
	bool space = false;

	for (; msg != NULL && *msg != '\0' && n + 1 < size; msg++) {
		if (*msg == '\n' || *msg == '\t' || *msg == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < size)
			buf[n++] = ' ';
		space = false;
		buf[n++] = *msg;
	}
	buf[n] = '\0';
}

static void watch_closed(uv_handle_t *h)
{
	struct pgc__watch *w = h->data;
	struct pgc *p = w->p;

	p->db.watches--;
	free(w);
	if (p->closing)
		pgc__close_step(p);
}

static void unwatch(struct pgc *p)
{
	if (p->db.watch == NULL)
		return;
	uv_close((uv_handle_t *)&p->db.watch->poll, watch_closed); /* stops polling at once */
	p->db.watch = NULL;
}

static int watch(struct pgc *p, int events)
{
	struct pgc__watch *w = p->db.watch;
	int fd = PQsocket(p->db.conn);

	if (fd < 0)
		return -EBADF;
	if (w != NULL && w->fd != fd)
		unwatch(p); /* libpq moved to another socket */
	if (p->db.watch == NULL) {
		w = malloc(sizeof *w);
		if (w == NULL)
			return -ENOMEM;
		w->p = p;
		w->fd = fd;
		if (uv_poll_init(p->loop, &w->poll, fd) < 0) {
			free(w);
			return -EBADF;
		}
		w->poll.data = w;
		p->db.watch = w;
		p->db.watches++;
	}
	return uv_poll_start(&p->db.watch->poll, events, poll_cb) < 0 ? -EBADF : 0;
}

void pgc__db_drop(struct pgc *p)
{
	struct pgc__db *db = &p->db;

	unwatch(p); /* before PQfinish closes the socket */
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
	PQclear(db->last);
	db->last = NULL;
	db->state = PGC__DB_DOWN;
	db->req = NULL;
	db->flushing = false;
	db->err = 0;
}

/* The connection failed under the request: report it, start over. */
static void fail(struct pgc *p, int err, const char *doing)
{
	struct pgc_req *req = p->db.req;
	char msg[sizeof req->errmsg];

	one_line(msg, sizeof msg, p->db.conn != NULL ? PQerrorMessage(p->db.conn) : "");
	bs_errf(req->errmsg, sizeof req->errmsg, "%s: %s", doing,
		msg[0] != '\0' ? msg : bs_strerror(err));
	pgc__db_drop(p);
	pgc__action_done(req, err, NULL);
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs ("relation already exists, skipping") */
}

static void connect_start(struct pgc *p)
{
	const struct bs_config *c = p->node.config;
	char port[16];
	const char *keys[] = {"host",	 "port",       "dbname",   "user", "application_name",
			      "sslmode", "gssencmode", "password", NULL};
	const char *values[] = {p->paths.socket_dir, port,	"postgres", NULL, "backstay",
				"disable",	     "disable", NULL,	    NULL};

	snprintf(port, sizeof port, "%lld", (long long)bs_config_int(c, BS_SET_POSTGRESQL_PORT));
	values[3] = p->boot ? "postgres" : bs_config_str(c, BS_SET_POSTGRESQL_DB_SUPERUSER);
	values[7] = p->boot ? NULL : p->node.secrets->db_superuser_password;
	p->db.conn = PQconnectStartParams(keys, values, 0);
	if (p->db.conn == NULL) {
		fail(p, -ENOMEM, "connecting");
		return;
	}
	PQsetNoticeProcessor(p->db.conn, quiet, NULL);
	if (PQstatus(p->db.conn) == CONNECTION_BAD || watch(p, UV_WRITABLE) != 0) {
		fail(p, -ECONNREFUSED, "connecting");
		return;
	}
	p->db.state = PGC__DB_CONNECTING;
	p->db.polling = PGRES_POLLING_WRITING;
}

static void flush(struct pgc *p)
{
	int rv = PQflush(p->db.conn);

	if (rv < 0) {
		fail(p, -ECONNRESET, "sending");
		return;
	}
	p->db.flushing = rv == 1;
	if (watch(p, UV_READABLE | (p->db.flushing ? UV_WRITABLE : 0)) != 0)
		fail(p, -ECONNRESET, "sending");
}

static void send_sql(struct pgc *p)
{
	struct pgc_req *req = p->db.req;
	int ok;

	if (req->nparams > 0)
		ok = PQsendQueryParams(p->db.conn, req->sql, req->nparams, NULL, req->params, NULL,
				       NULL, 0);
	else
		ok = PQsendQuery(p->db.conn, req->sql);
	if (!ok) {
		fail(p, -ECONNRESET, "sending");
		return;
	}
	p->db.state = PGC__DB_BUSY;
	flush(p);
}

void pgc__db_run(struct pgc *p, struct pgc_req *req)
{
	p->db.req = req;
	if (p->db.state == PGC__DB_IDLE)
		send_sql(p);
	else
		connect_start(p);
}

static void connect_poll(struct pgc *p)
{
	p->db.polling = PQconnectPoll(p->db.conn);
	switch (p->db.polling) {
	case PGRES_POLLING_READING:
		if (watch(p, UV_READABLE) != 0)
			fail(p, -ECONNREFUSED, "connecting");
		break;
	case PGRES_POLLING_WRITING:
		if (watch(p, UV_WRITABLE) != 0)
			fail(p, -ECONNREFUSED, "connecting");
		break;
	case PGRES_POLLING_OK:
		p->db.state = PGC__DB_IDLE;
		if (PQsetnonblocking(p->db.conn, 1) != 0)
			fail(p, -ECONNREFUSED, "connecting");
		else
			send_sql(p);
		break;
	default:
		fail(p, -ECONNREFUSED, "connecting");
	}
}

/* A result of the running statement: keep the last, note the first error. */
static void collect(struct pgc *p, PGresult *res)
{
	struct pgc__db *db = &p->db;
	ExecStatusType st = PQresultStatus(res);

	if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && db->err == 0) {
		db->err = pgc__pq_errno(res);
		one_line(db->req->errmsg, sizeof db->req->errmsg, PQresultErrorMessage(res));
	}
	PQclear(db->last);
	db->last = res;
}

/* Every result is in: hand the last one to the request. */
static void statement_done(struct pgc *p)
{
	struct pgc__db *db = &p->db;
	struct pgc_req *req = db->req;
	PGresult *res = db->last;
	int err = db->err;

	db->last = NULL;
	db->err = 0;
	db->req = NULL;
	db->state = PGC__DB_IDLE;
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		if (err == 0 || err == -EIO)
			err = -ECONNRESET;
		pgc__db_drop(p);
	} else if (watch(p, UV_READABLE) != 0) {
		pgc__db_drop(p);
	}
	if (err != 0) {
		PQclear(res);
		res = NULL;
	}
	pgc__action_done(req, err, res);
}

static void busy_io(struct pgc *p, int events)
{
	PGresult *res;

	if ((events & UV_WRITABLE) && p->db.flushing) {
		flush(p);
		if (p->db.state != PGC__DB_BUSY)
			return;
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(p->db.conn)) {
		fail(p, -ECONNRESET, "reading");
		return;
	}
	while (!PQisBusy(p->db.conn)) {
		res = PQgetResult(p->db.conn);
		if (res == NULL) {
			statement_done(p);
			return;
		}
		collect(p, res);
	}
}

/* Idle: the server may have closed the connection, or sent a notice. */
static void idle_io(struct pgc *p)
{
	PGresult *res;

	if (!PQconsumeInput(p->db.conn) || PQstatus(p->db.conn) == CONNECTION_BAD) {
		pgc__db_drop(p);
		return;
	}
	while (!PQisBusy(p->db.conn) && (res = PQgetResult(p->db.conn)) != NULL)
		PQclear(res);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct pgc__watch *w = h->data;
	struct pgc *p = w->p;

	if (p->db.watch != w)
		return;
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* let libpq find the error */
	switch (p->db.state) {
	case PGC__DB_CONNECTING:
		connect_poll(p);
		break;
	case PGC__DB_BUSY:
		busy_io(p, events);
		break;
	case PGC__DB_IDLE:
		idle_io(p);
		break;
	default:
		break;
	}
}
