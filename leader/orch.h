/*
 * The orchestrator: runs the leader state machine (leader.h) on a uv loop
 * against the consensus node and the adapters the daemon hands it (its
 * PostgreSQL, its HTTP endpoint and VIP, its health checks).
 *
 * Threads: everything on the loop of the consensus node.
 *
 * Adapters: every asynchronous adapter call returns 0 and later calls
 * ldr_orch_done(o, action, status) exactly once, or returns a negative
 * errno and never calls back (CONVENTIONS §6). Health samples arrive
 * through ldr_orch_pg_sample / ldr_orch_es / ldr_orch_disk, whenever the
 * adapter has one (the orchestrator asks with check() every interval and
 * whenever it needs a fresh LSN).
 */
#ifndef BS_LEADER_ORCH_H
#define BS_LEADER_ORCH_H

#include <jansson.h>
#include <uv.h>

#include "base.h"
#include "consensus.h"
#include "leader.h"

/* Replicated keys (docs/leader.md §2). */
#define LDR_KEY_LEADER "pg/leader"
#define LDR_KEY_EPOCH "pg/epoch"
#define LDR_KEY_CLUSTER_FAILOVER "cluster/failover"    /* "enabled" | "disabled" */
#define LDR_KEY_NODE_FAILOVER "cluster/node_failover/" /* + guid */
#define LDR_KEY_MEMBERS "cluster/members/"	       /* + id as 16 hex: {"publish_address"} */

/* A member as PostgreSQL sees it. */
struct ldr_peer {
	uint64_t id;
	char host[CNS_ADDRESS_MAX]; /* its publish_address */
	char app_name[32];	    /* application_name / slot name: "backstay_<id hex>" */
};

struct ldr_orch;

struct ldr_adapters {
	void *data;
	/* PostgreSQL. upstream NULL: start with no primary_conninfo. */
	int (*pg_start)(void *data, const struct ldr_peer *upstream);
	int (*pg_stop)(void *data, bool immediate);
	int (*pg_promote)(void *data, uint64_t epoch, const struct ldr_peer *others, unsigned n);
	int (*pg_follow)(void *data, const struct ldr_peer *upstream, enum ldr_follow_mode mode);
	int (*pg_sync)(void *data, unsigned k, const struct ldr_peer *others, unsigned n);
	int (*pg_checkpoint)(void *data);
	/* Health: ask for a sample of each (answers through ldr_orch_pg_sample,
	 * ldr_orch_es, ldr_orch_disk); es_check may be NULL when disabled. */
	void (*pg_check)(void *data);
	void (*es_check)(void *data);
	void (*disk_check)(void *data);
	/* /leader 200 and the VIP (on), or 503 and no VIP (off). Synchronous. */
	void (*serve)(void *data, bool on);
	/* Something shown by status or /status changed. May be NULL. */
	void (*changed)(void *data);
	/* A lease renewal was confirmed latency_ms after it was sent. May be NULL. */
	void (*renewed)(void *data, uint64_t latency_ms);
};

struct ldr_orch_config {
	uv_loop_t *loop;
	struct cns_node *node;
	struct bs_clock *clock;
	struct ldr_settings set;
	const char *guid;	  /* this node's GUID (node failover key) */
	const char *sentinel_dir; /* no-start-pgsql, unsynced */
	uint64_t health_interval_ms;
	struct ldr_adapters ad;
};

int ldr_orch_start(const struct ldr_orch_config *c, struct ldr_orch **ret_orch, char *errmsg,
		   size_t errmsg_size);
/* Stop; cb once the timer is closed and every consensus request and peer
 * call it made has called back. Close it before the consensus node, whose
 * close cancels those (the orchestrator then only counts them). */
void ldr_orch_close(struct ldr_orch *o, void (*cb)(void *data), void *data);

/* The consensus node's role or leader changed (the daemon's on_state). */
void ldr_orch_raft_changed(struct ldr_orch *o);
/* An adapter action finished. */
void ldr_orch_done(struct ldr_orch *o, enum ldr_action_type action, int status);
void ldr_orch_pg_sample(struct ldr_orch *o, const struct ldr_pg_sample *s);
void ldr_orch_pg_exited(struct ldr_orch *o);
void ldr_orch_es(struct ldr_orch *o, bool ok, const char *detail);
void ldr_orch_disk(struct ldr_orch *o, bool ok);
/* Base backup progress (percent, -1 = none) for status. */
void ldr_orch_progress(struct ldr_orch *o, int percent);

/* ctl requests this module answers ("pg.report" from peers; "pg.demote",
 * "pg.promote NODE", "pg.force" from the CLI): true when it took the
 * request (it replies through cns_ctl_reply, now or later). */
bool ldr_orch_on_ctl(struct ldr_orch *o, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		     const Backstay__CtlRequest *req);

/* The state for status and /status: a new JSON object (the caller's). */
json_t *ldr_orch_status_json(struct ldr_orch *o);
const struct ldr_sm *ldr_orch_sm(const struct ldr_orch *o);

#endif /* BS_LEADER_ORCH_H */
