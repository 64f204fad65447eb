/*
 * The leader endpoint on leaderl.http_address:leaderl.http_port (7331), for
 * stock Chef Infra Server frontends' HAProxy and for monitoring, answered
 * from a snapshot (a struct cli_leader_view) the daemon's loop thread
 * publishes (docs/leader-http.md):
 *
 *   GET /leader   200 "leader\n" when this node serves (it holds the lease,
 *                 promotion is done, it is not fenced) and at least
 *                 required_active_followers followers stream from it;
 *                 otherwise 503 with the reason ("fenced\n", "not the
 *                 leader\n", "waiting for 1 more streaming follower(s)\n")
 *   GET /status   200, the view as JSON
 *   GET /metrics  200, Prometheus text exposition format 0.0.4
 * HEAD answers as GET without the body; another method on these paths is
 * 405 with "Allow: GET, HEAD"; any other path is 404.
 *
 * Threads: answers are made on the HTTP server's thread (http.h) from a
 * copy of the view taken under a mutex; cli__leader_http_publish swaps a
 * new view in under the same mutex from the loop thread. Neither ever
 * waits on the other for longer than a copy of the struct.
 */
#ifndef BS_TOOLS_LEADER_HTTP_H
#define BS_TOOLS_LEADER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The leader module's states, with leaderl's names (status shows them). */
enum cli_leader_state {
	CLI_LEADER_INITIALIZING,       /* starting; knows nothing yet */
	CLI_LEADER_LEADER,	       /* holds the lease */
	CLI_LEADER_FOLLOWER,	       /* follows the lease holder */
	CLI_LEADER_WAITING_FOR_LEADER, /* no usable leader; not eligible to be one */
	CLI_LEADER_DEPOSED_LEADER,     /* lost the lease; to rejoin as a follower */
	CLI_LEADER_PROMOTING,	       /* won the lease; PostgreSQL not promoted yet */
	CLI_LEADER_STATE_COUNT
};

/* Elasticsearch as the leader module sees it. */
enum cli_leader_es {
	CLI_LEADER_ES_UNHEALTHY, /* red, or the check fails */
	CLI_LEADER_ES_HEALTHY,	 /* green or yellow */
	CLI_LEADER_ES_DISABLED,	 /* elasticsearch.enable false: not checked */
};

/* Lease renewals kept for the latency quantiles. */
#define CLI_LEADER_RENEW_SAMPLES 256

/* How long lease renewals took: the last CLI_LEADER_RENEW_SAMPLES in a
 * ring, and every one since start in count and sum_ms. */
struct cli_leader_renew {
	uint32_t last_ms[CLI_LEADER_RENEW_SAMPLES]; /* ring; slot count % N is next */
	uint64_t count;				    /* renewals since start */
	uint64_t sum_ms;			    /* their total */
};

/* What the endpoint shows. Strings are NUL-terminated UTF-8. */
struct cli_leader_view {
	char name[256]; /* this node's name ("backend-1") */
	uint64_t id;	/* this node's id, shown as lower-case hex */
	enum cli_leader_state state;
	bool serving; /* holds the lease, promotion done, not fenced */
	bool fenced;  /* could not renew in time: VIP dropped, writes stopped */
	uint64_t epoch;
	char leader_name[256]; /* the lease holder's name; "" when none is known */
	bool eligible;	       /* healthy and fresh enough to lead */
	bool blocked;	       /* failover blocked (set-cluster/node-failover) */
	bool partially_synced; /* a basebackup or rewind did not finish */
	bool pg_healthy;
	enum cli_leader_es es;
	uint64_t replication_lag_bytes;	    /* leader: the slowest streaming follower's;
					 * follower: its own */
	unsigned streaming_followers;	    /* leader: followers streaming from it */
	unsigned required_active_followers; /* leaderl.required_active_followers */
	uint64_t failovers_total;	    /* lease acquisitions seen since start */
	struct cli_leader_renew renew;
	uint32_t timeline; /* PostgreSQL's */
	uint64_t lsn;	   /* PostgreSQL's current (leader) or replayed (follower) */
};

/* The view a node starts with: state initializing, everything else zero. */
void cli__leader_view_init(struct cli_leader_view *v);

/* Record one lease renewal that took ms in v. */
void cli__leader_renew_add(struct cli_leader_view *v, uint32_t ms);

/* "initializing", "leader", ...; "?" out of range. */
const char *cli__leader_state_name(enum cli_leader_state state);

struct cli_leader_http;

/*
 * Serve on host:port (see cli__http_start: numeric host, port 0 = any free
 * port) with the view of cli__leader_view_init until the first publish.
 * 0 and *ret_server (stop with cli__leader_http_stop), or negative errno
 * with errmsg saying "listen 0.0.0.0:7331: Address already in use".
 */
int cli__leader_http_start(const char *host, int port, struct cli_leader_http **ret_server,
			   char *errmsg, size_t errmsg_size);

/* The port it listens on. */
int cli__leader_http_port(const struct cli_leader_http *s);

/*
 * Loop thread: answer from v (copied) from now on. 0, or -EINVAL (a name
 * that is not NUL-terminated UTF-8, a state out of range); on failure the
 * previous view stays.
 */
int cli__leader_http_publish(struct cli_leader_http *s, const struct cli_leader_view *v);

/* Stop serving (joins the server thread) and free s. Accepts NULL. */
void cli__leader_http_stop(struct cli_leader_http *s);

/* ---- rendering (leader_http_render.c), for the server and its tests ---- */

/* The /leader answer for v: 200 or 503, and the body (static text, or
 * "waiting for N more ..." written into buf). */
int cli__leader_answer(const struct cli_leader_view *v, char *buf, size_t size,
		       const char **ret_body);

/* /status: the view as compact JSON, malloc'd; NULL when out of memory. */
char *cli__leader_status_json(const struct cli_leader_view *v);

/* /metrics: Prometheus text, malloc'd; NULL when out of memory. */
char *cli__leader_metrics_text(const struct cli_leader_view *v);

#endif
