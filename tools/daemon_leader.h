/*
 * The leader module in the daemon (daemon_leader.c: the orchestrator, its
 * health checks, /leader on 7331 and the VIP; daemon_pg.c: PostgreSQL
 * through pgctl). Only when postgresql.enable is true.
 */
#ifndef BS_TOOLS_DAEMON_LEADER_H
#define BS_TOOLS_DAEMON_LEADER_H

#include "es_probe.h"
#include "leader.h"
#include "leader_http.h"
#include "orch.h"
#include "pgctl.h"

#define DAEMON_PG_CHAIN_MAX 8

struct daemon;
struct daemon_vip;

struct daemon_pg {
	struct daemon *d;
	struct ldr_orch *orch;
	struct pgc *pgc;
	bool closing;
	int port;	   /* postgresql.port, the same on every node */
	char app_name[32]; /* this node's: backstay_<id hex> */
	/* the chain of pgctl requests that runs one adapter call */
	struct pgc_req req;
	struct pgc_req stop_req; /* a fence's stop beside the chain in flight */
	bool stop_busy;
	bool busy;
	enum ldr_action_type action;
	int chain[DAEMON_PG_CHAIN_MAX];
	int stage;
	bool have_upstream;
	struct ldr_peer upstream;
	struct ldr_peer others[LDR_MAX_NODES];
	unsigned n_others;
	uint64_t epoch;
	unsigned sync_k;
	/* health */
	struct pgc_req check_req, slots_req;
	bool slots_busy;
	char slots_sql[1024]; /* borrowed by pgc_exec until its callback */
	bool check_busy, check_again;
	unsigned gen, check_gen; /* gen: chains finished; a check from an older gen is stale */
	struct ldr_es_probe *es;
	struct ldr_es_req es_req;
	bool es_busy;
	uv_timer_t defer; /* answers that must not come from inside the asking call */
	bool defer_pg, defer_disk, disk_ok;
	/* what /leader, /status and /metrics show */
	struct cli_leader_http *http;
	struct cli_leader_view view;
	bool serving;
	struct daemon_vip *vip; /* NULL: no vip configured */
	bool said_no_data;	/* "no data directory yet" logged */
};

/* Start the leader module (after the consensus node): 0, or negative errno
 * logged. */
int daemon__leader_start(struct daemon *d);
/* Close it (before the consensus node); cb when done. */
void daemon__leader_close(struct daemon *d, void (*cb)(void *data), void *data);
/* The consensus node's state changed. */
void daemon__leader_raft_changed(struct daemon *d);
/* A ctl request for the leader module: true when it took it. */
bool daemon__leader_ctl(struct daemon *d, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
			const Backstay__CtlRequest *req);
/* The "leader" object of the status answer (a new reference), or NULL
 * when the module does not run. */
struct json_t *daemon__leader_json(struct daemon *d);

/* daemon_vip.c: the VIP (vip, vip_interface) on the daemon's loop; NULL
 * when no vip is set. valid_ms: the lease's validity window (TTL * (1 -
 * rho) - fence budget), which bounds the address's lifetime. Every call
 * accepts NULL. serve(false) removes the VIP before it returns. */
struct daemon_vip *daemon__vip_start(uv_loop_t *loop, const struct bs_config *c, uint64_t valid_ms,
				     uint64_t renew_ms);
void daemon__vip_serve(struct daemon_vip *v, bool on);
void daemon__vip_renewed(struct daemon_vip *v);
void daemon__vip_check(struct daemon_vip *v);
struct json_t *daemon__vip_json(const struct daemon_vip *v); /* a new reference, or NULL */
/* Remove the VIP if held, then free; cb when done. */
void daemon__vip_close(struct daemon_vip *v, void (*cb)(void *data), void *data);

/* daemon_pg.c: the adapter calls (leader/orch.h) */
int daemon__pg_start(void *data, const struct ldr_peer *upstream);
int daemon__pg_stop(void *data, bool immediate);
int daemon__pg_promote(void *data, uint64_t epoch, const struct ldr_peer *others, unsigned n);
int daemon__pg_follow(void *data, const struct ldr_peer *upstream, enum ldr_follow_mode mode);
int daemon__pg_sync(void *data, unsigned k, const struct ldr_peer *others, unsigned n);
int daemon__pg_checkpoint(void *data);
void daemon__pg_progress(struct pgc_req *req, const struct pgc_progress *progress);

#endif
