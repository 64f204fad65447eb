/*
 * pgwrite's write loop. Two states: finding the leader (every node's GET
 * /leader every PGW_POLL_INTERVAL_MS), and writing to it (one row per
 * transaction). Any failure — connect, table, insert, timeout — drops the
 * connection and goes back to finding the leader; the first failed write
 * opens an outage, the next acknowledged one closes it:
 *
 *   outage_ms=<n> from=<host> to=<host>
 *
 * With --direct (o->direct) there is one address (a VIP, an HAProxy) and no
 * polling: finding the leader is connecting to it again, every
 * PGW_POLL_INTERVAL_MS, each attempt bounded by the connect timeout.
 *
 * Every second: "progress t=<s> acked=<n> rate=<n>/s failed=<n> leader=<host>".
 * At the end an unfinished outage is printed with to=none, then a summary.
 * Every wait is bounded by the run's hard deadline (timeout_ms).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgw.h"

struct run {
	const struct pgw_run_opts *o;
	struct bs_clock *clock;
	struct pgw_poller *poller;
	struct pgw_conn conn;
	int leader; /* index of the node conn is open to, -1 if none */
	struct pgw_outages outages;
	uint64_t t0_ms, end_ms, deadline_ms, next_write_ms;
	uint64_t acked, acked_last_tick, next_tick_ms;
	int64_t next_id;
	bool id_base_known;
	unsigned long split_rounds;
};

static uint64_t now_ms(const struct run *r)
{
	return bs_clock_now_ms(r->clock);
}

static const char *host_name(const struct run *r, int i)
{
	return i < 0 ? "none" : r->o->hosts[i];
}

static void sleep_ms(uint64_t ms)
{
	poll(NULL, 0, (int)(ms > 1000 ? 1000 : ms));
}

/* The run is over: asked to stop, time is up, or enough rows. */
static bool done(const struct run *r)
{
	uint64_t now = now_ms(r);

	return *r->o->stop || now >= r->deadline_ms || (r->end_ms != 0 && now >= r->end_ms) ||
	       (r->o->rows != 0 && r->acked >= r->o->rows);
}

static void tick(struct run *r)
{
	uint64_t now = now_ms(r);

	if (now < r->next_tick_ms)
		return;
	printf("progress t=%" PRIu64 "s acked=%" PRIu64 " rate=%" PRIu64
	       "/s failed=%llu leader=%s%s\n",
	       (now - r->t0_ms) / 1000, r->acked, r->acked - r->acked_last_tick,
	       r->outages.failed_writes, host_name(r, r->leader),
	       r->outages.open ? " outage=open" : "");
	r->acked_last_tick = r->acked;
	while (r->next_tick_ms <= now)
		r->next_tick_ms += 1000;
}

static void print_outage(const struct pgw_outage *out, const struct run *r)
{
	printf("outage_ms=%" PRIu64 " from=%s to=%s\n", out->ms, host_name(r, out->from),
	       host_name(r, out->to));
}

int pgw_find_leader(struct pgw_poller *p, size_t n_hosts, uint64_t deadline_ms, volatile int *stop,
		    unsigned long *ret_split)
{
	long codes[PGW_MAX_HOSTS];
	struct bs_clock *clock = bs_clock_real();
	uint64_t start;
	unsigned n200;
	int i;

	while (!*stop && (start = bs_clock_now_ms(clock)) < deadline_ms) {
		if (pgw_poller_round(p, codes) == 0) {
			i = pgw_pick_leader(codes, n_hosts, &n200);
			if (n200 > 1 && ret_split != NULL)
				(*ret_split)++;
			if (i >= 0)
				return i;
		}
		if (bs_clock_now_ms(clock) < start + PGW_POLL_INTERVAL_MS)
			sleep_ms(start + PGW_POLL_INTERVAL_MS - bs_clock_now_ms(clock));
	}
	return -ETIMEDOUT;
}

/* Find the leader and connect to it, until done(). 0 when connected. */
static int connect_leader(struct run *r)
{
	uint64_t until;
	int64_t max;
	int i;

	while (!done(r)) {
		tick(r);
		until = now_ms(r) + 1000; /* come back for a progress line */
		if (until > r->deadline_ms)
			until = r->deadline_ms;
		i = r->o->direct ? 0
				 : pgw_find_leader(r->poller, r->o->n_hosts, until, r->o->stop,
						   &r->split_rounds);
		if (i < 0)
			continue;
		if (pgw_db_connect(&r->conn, &r->o->db, r->o->hosts[i]) != 0 ||
		    pgw_db_prepare(&r->conn, r->o->db.table, r->o->write_timeout_ms, &max) != 0) {
			fprintf(stderr, "pgwrite: %s: %s\n", r->o->hosts[i], r->conn.errmsg);
			pgw_db_close(&r->conn);
			sleep_ms(PGW_POLL_INTERVAL_MS);
			continue;
		}
		if (!r->id_base_known) { /* ids go on from what the table holds */
			r->next_id = r->o->id_base > 0 ? r->o->id_base + 1 : max + 1;
			r->id_base_known = true;
		}
		r->leader = i;
		return 0;
	}
	return -ECANCELED;
}

static void record_ack(struct run *r, int64_t id)
{
	struct pgw_outage out;

	r->acked++;
	if (dprintf(r->o->acked_fd, "%" PRId64 "\n", id) < 0)
		fprintf(stderr, "pgwrite: writing the acknowledged-id file: %s\n", strerror(errno));
	if (pgw_outages_ack(&r->outages, now_ms(r), r->leader, &out))
		print_outage(&out, r);
}

/* --history: the write's line, once its outcome is known. */
static void history(struct run *r, int64_t id, int rv, uint64_t t_start_ns)
{
	char line[512];

	if (r->o->history == NULL ||
	    pgw_history_line(line, sizeof line, r->o->client, r->o->route, id,
			     pgw_outcome(rv, r->conn.stmt_error), r->conn.epoch, r->conn.server,
			     t_start_ns, bs_clock_now_ns(r->clock)) < 0)
		return;
	if (fputs(line, r->o->history) == EOF || fflush(r->o->history) == EOF)
		fprintf(stderr, "pgwrite: writing the history: %s\n", strerror(errno));
}

/* One write to the current leader; on failure the connection is dropped. */
static void write_one(struct run *r)
{
	uint64_t start = now_ms(r), t_start_ns = bs_clock_now_ns(r->clock);
	int64_t id = r->next_id++;
	int rv;

	rv = r->o->history != NULL
		     ? pgw_db_insert_epoch(&r->conn, r->o->db.table, id, r->o->write_timeout_ms)
		     : pgw_db_insert(&r->conn, r->o->db.table, id, r->o->write_timeout_ms);
	history(r, id, rv, t_start_ns);
	if (rv == 0) {
		record_ack(r, id);
		return;
	}
	fprintf(stderr, "pgwrite: id %" PRId64 " on %s: %s\n", id, host_name(r, r->leader),
		r->conn.errmsg);
	pgw_outages_fail(&r->outages, start, r->leader);
	pgw_db_close(&r->conn);
	r->leader = -1;
}

/* Rate limit: wait until the next write is due (or the run is done). */
static void pace(struct run *r)
{
	uint64_t now;

	if (r->o->rate <= 0)
		return;
	while (!done(r) && (now = now_ms(r)) < r->next_write_ms) {
		tick(r);
		sleep_ms(r->next_write_ms - now);
	}
	r->next_write_ms = now_ms(r) + (uint64_t)(1000.0 / r->o->rate);
}

static void summary(struct run *r, int rc)
{
	struct pgw_outage out;
	uint64_t now = now_ms(r);

	if (pgw_outages_finish(&r->outages, now, &out))
		print_outage(&out, r);
	printf("summary acked=%" PRIu64 " failed_writes=%llu outages=%u max_outage_ms=%" PRIu64
	       " total_outage_ms=%" PRIu64 " split_leader_rounds=%lu elapsed_ms=%" PRIu64
	       " result=%s\n",
	       r->acked, r->outages.failed_writes, r->outages.count, r->outages.max_ms,
	       r->outages.total_ms, r->split_rounds, now - r->t0_ms, rc == 0 ? "ok" : "incomplete");
}

int pgw_run(const struct pgw_run_opts *o)
{
	struct run r = {.o = o, .clock = bs_clock_real(), .leader = -1};
	int rv, rc;

	if (!o->direct) {
		rv = pgw_poller_new(o->hosts, o->n_hosts, o->leader_port, PGW_HTTP_TIMEOUT_MS,
				    &r.poller);
		if (rv != 0)
			return rv;
	}
	pgw_outages_init(&r.outages);
	r.t0_ms = now_ms(&r);
	r.next_tick_ms = r.t0_ms + 1000;
	r.deadline_ms = r.t0_ms + o->timeout_ms;
	r.end_ms = o->seconds ? r.t0_ms + o->seconds * 1000 : 0;
	while (!done(&r)) {
		tick(&r);
		if (r.leader < 0 && connect_leader(&r) != 0)
			break;
		pace(&r);
		if (!done(&r))
			write_one(&r);
	}
	pgw_db_close(&r.conn);
	pgw_poller_free(r.poller);
	rc = (o->rows != 0 ? r.acked >= o->rows : r.acked > 0) ? 0 : 1;
	summary(&r, rc);
	return rc;
}
