/*
 * pgwrite's parts (prefix pgw_). pgwrite is the write client of the fault
 * tests: it writes numbered rows to whichever node answers 200 on GET
 * /leader, records every acknowledged id, and measures each outage; its
 * --verify mode checks that no acknowledged row is missing. See README.md.
 *
 *   pgw_leader.c  who leads: the answers of GET /leader (pure) and a poller
 *                 that asks every node at once (libcurl multi)
 *   pgw_outage.c  outage accounting (pure)
 *   pgw_ids.c     the acknowledged-id file and the comparison (pure)
 *   pgw_addr.c    --direct ADDR[:PORT] parsed (pure)
 *   pgw_history.c --history: one JSON line per write, its outcome (pure)
 *   pgw_db.c      libpq: connect, the table, one insert with a deadline
 *   pgw_run.c     the write loop
 *   pgwrite.c     options, --verify, main
 *
 * Time is milliseconds from the base clock; the pure parts take it as an
 * argument.
 */
#ifndef PGW_H
#define PGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "base.h"

#define PGW_MAX_HOSTS 16
#define PGW_POLL_INTERVAL_MS 20
#define PGW_HTTP_TIMEOUT_MS 200
#define PGW_HOST_MAX 256
#define PGW_DIRECT_CONNECT_TIMEOUT_MS 500

/* ---- pgw_addr.c ----------------------------------------------------------- */

/* Parse "ADDR[:PORT]" (ADDR an IPv4 address or a name; an IPv6 address bare,
 * without a port, or in brackets: "[fd00::1]:5432") into host (size bytes)
 * and *port. *port is left as it was when the text has none. 0 or -EINVAL
 * (then host and *port are untouched). */
int pgw_parse_direct(const char *s, char *host, size_t size, unsigned *port);

/* ---- pgw_history.c -------------------------------------------------------- */

/* A name fit for a history line unquoted: 1 to 63 of [A-Za-z0-9_.:-]. */
bool pgw_name_ok(const char *s);
/* The outcome of one insert (pgw_db_insert's return, and whether the server
 * answered the statement with an ERROR): "ok", "fail" (an ERROR: in
 * autocommit the row is certainly not committed) or "info" (anything else:
 * a timeout, a lost connection, a commit the server says may not be
 * replicated -- the row may or may not be there). */
const char *pgw_outcome(int rv, bool stmt_error);
/* The history line of one write into buf (with its newline):
 * {"client":..,"id":..,"route":..,"type":..,["epoch":..,"node":..,]
 * "t_start_ns":..,"t_end_ns":..}; epoch and node only for "ok". node
 * characters outside pgw_name_ok's set are written as '?'. The length, or
 * -ENOSPC. */
int pgw_history_line(char *buf, size_t size, const char *client, const char *route, int64_t id,
		     const char *type, int64_t epoch, const char *node, uint64_t t_start_ns,
		     uint64_t t_end_ns);

/* ---- pgw_leader.c --------------------------------------------------------- */

/* Which node leads, from the HTTP status of each node's GET /leader (codes[i]:
 * the status, 0 if no answer came). Returns the lowest index answering 200,
 * or -ENOENT if none does. *ret_n200 (may be NULL) gets how many answered
 * 200: more than one means two nodes claim to lead at the same moment. */
int pgw_pick_leader(const long *codes, size_t n, unsigned *ret_n200);

struct pgw_poller;
/* hosts: n addresses (IPv4 or names), borrowed for the poller's lifetime.
 * 0 or -ENOMEM / -EIO (libcurl could not start). */
int pgw_poller_new(const char *const *hosts, size_t n, unsigned port, unsigned timeout_ms,
		   struct pgw_poller **ret_poller);
/* One round: GET /leader on every node at once, done within timeout_ms;
 * codes[i] = HTTP status, or 0 (refused, timed out, malformed). 0 or a
 * negative errno if the round itself could not run. */
int pgw_poller_round(struct pgw_poller *p, long *codes);
void pgw_poller_free(struct pgw_poller *p); /* accepts NULL */

/* ---- pgw_outage.c --------------------------------------------------------- */

/* An outage runs from the start of the first failed write to the completion
 * of the next acknowledged one. Hosts are indexes; -1 is "none". */
struct pgw_outages {
	bool open;
	uint64_t start_ms;
	int from;
	unsigned count;
	uint64_t total_ms, max_ms;
	unsigned long long failed_writes;
};

struct pgw_outage {
	uint64_t ms;
	int from, to; /* to = -1: the run ended during the outage */
};

void pgw_outages_init(struct pgw_outages *o);
/* A write begun at started_ms on host failed: opens an outage unless one is
 * open. */
void pgw_outages_fail(struct pgw_outages *o, uint64_t started_ms, int host);
/* A write on host was acknowledged at now_ms: if an outage was open, it
 * closes; true and *ret_outage filled then, false otherwise. */
bool pgw_outages_ack(struct pgw_outages *o, uint64_t now_ms, int host,
		     struct pgw_outage *ret_outage);
/* The run ends at now_ms: an open outage is closed with to = -1 (true),
 * counted like the others. */
bool pgw_outages_finish(struct pgw_outages *o, uint64_t now_ms, struct pgw_outage *ret_outage);

/* ---- pgw_ids.c ------------------------------------------------------------ */

/* Read an acknowledged-id file (one decimal id per line; blank lines
 * ignored). On 0, *ret_ids (malloc'd, the caller frees) holds the ids sorted
 * and without duplicates. -EINVAL (errmsg names the line), -ENOMEM, or a
 * read error. */
int pgw_ids_read(FILE *f, int64_t **ret_ids, size_t *ret_n, char *errmsg, size_t errmsg_size);
/* Sort and deduplicate ids in place; returns the new count. */
size_t pgw_ids_normalize(int64_t *ids, size_t n);
/* acked and present are sorted and unique. How many of acked are not in
 * present; the first max_lost of them are copied to lost (may be NULL when
 * max_lost is 0). *ret_extra (may be NULL): how many of present are not in
 * acked (writes whose outcome the client never learned, or other runs'). */
size_t pgw_ids_compare(const int64_t *acked, size_t n_acked, const int64_t *present,
		       size_t n_present, int64_t *lost, size_t max_lost, size_t *ret_extra);

/* ---- pgw_db.c ------------------------------------------------------------- */

struct pgw_db_opts {
	const char *user, *password, *dbname, *table;
	unsigned port;
	unsigned connect_timeout_ms; /* 0: libpq's connect_timeout=1 (2 s, its minimum) */
	bool history;		     /* the table records each row's epoch and server */
};

struct pgw_conn {
	PGconn *pg;
	bool unreplicated; /* the server warned: committed locally, maybe not replicated */
	bool stmt_error;   /* the last statement was answered with an ERROR */
	bool history;	   /* pgw_db_opts.history, from the connect */
	int64_t epoch;	   /* history: the epoch and server of the last insert */
	char server[64];
	char errmsg[256];
};

/* Connect to host (sslmode=prefer), within o->connect_timeout_ms when it is
 * set, else libpq's connect_timeout=1. 0 or -ECONNREFUSED (errmsg in c). On
 * failure c->pg is NULL. */
int pgw_db_connect(struct pgw_conn *c, const struct pgw_db_opts *o, const char *host);
void pgw_db_close(struct pgw_conn *c); /* idempotent */
/* CREATE TABLE IF NOT EXISTS table (id bigint primary key, at timestamptz;
 * with history also epoch bigint, server text), then *ret_max = the highest
 * id in it (0 if none). 0 or -EIO. */
int pgw_db_prepare(struct pgw_conn *c, const char *table, unsigned timeout_ms, int64_t *ret_max);
/* INSERT one row (its own transaction) and wait for the commit, at most
 * timeout_ms. 0: acknowledged. -ETIMEDOUT: no answer in time (the caller
 * drops the connection: the outcome is unknown). -EIO: an error (errmsg).
 * -EPROTO: the server reported success but warned that the commit might
 * not be replicated (a cancelled synchronous-replication wait): not an
 * acknowledgement. */
int pgw_db_insert(struct pgw_conn *c, const char *table, int64_t id, unsigned timeout_ms);
/* The same, recording in the row the newest epoch of backstay_epoch and the
 * server's cluster_name, read in the same statement; c->epoch and c->server
 * get them. No epoch recorded yet: -EIO with stmt_error (nothing inserted). */
int pgw_db_insert_epoch(struct pgw_conn *c, const char *table, int64_t id, unsigned timeout_ms);
/* Every id in the table, sorted (malloc'd, the caller frees). 0 or -EIO,
 * -ENOMEM. */
int pgw_db_ids(struct pgw_conn *c, const char *table, unsigned timeout_ms, int64_t **ret_ids,
	       size_t *ret_n);

/* ---- pgw_run.c ------------------------------------------------------------ */

struct pgw_run_opts {
	const char *const *hosts;
	size_t n_hosts;
	bool direct; /* hosts[0] is the one address written to: no /leader polling */
	unsigned leader_port;
	struct pgw_db_opts db;
	uint64_t rows;	     /* stop once this many are acknowledged (0: no limit) */
	uint64_t seconds;    /* stop starting writes after this long (0: no limit) */
	double rate;	     /* rows per second (0: as fast as possible) */
	uint64_t timeout_ms; /* hard limit on the whole run */
	unsigned write_timeout_ms;
	int acked_fd;  /* every acknowledged id, one per line */
	FILE *history; /* NULL, or one JSON line per write (pgw_history_line) */
	const char *client, *route;
	int64_t id_base;    /* ids from id_base + 1 (0: after the table's highest) */
	volatile int *stop; /* set by a signal handler: end the run */
};

/* The write loop; prints its progress, outages and a summary on stdout.
 * 0 when the goal was met (rows, or seconds with at least one write
 * acknowledged), 1 otherwise, -ENOMEM / -EIO if it could not start. */
int pgw_run(const struct pgw_run_opts *o);

/* Find the node that leads, polling all of them every PGW_POLL_INTERVAL_MS
 * until deadline_ms (or *stop). Its index, or -ETIMEDOUT. *ret_split (may be
 * NULL) counts rounds in which several nodes answered 200. */
int pgw_find_leader(struct pgw_poller *p, size_t n_hosts, uint64_t deadline_ms, volatile int *stop,
		    unsigned long *ret_split);

#endif
