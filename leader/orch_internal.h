/* Shared by orch*.c only. */
#ifndef BS_LEADER_ORCH_INTERNAL_H
#define BS_LEADER_ORCH_INTERNAL_H

#include "orch.h"

#define LDR_COMPONENT "leader"
#define LDR_PENDING_MAX 16 /* report requests waiting for a fresh sample */
#define LDR_VALUE_MAX 512
#define LDR_READY_POLL_MS 5 /* leading, barrier not applied yet: look again after */

/* One peer's answer in a report round. */
struct ldr__collect_call {
	struct cns_peer_req preq;
	struct ldr_orch *o;
	unsigned slot;
	uint64_t round;
};

struct ldr__pending {
	uint64_t conn_id, id;
};

struct ldr_orch {
	struct ldr_orch_config c;
	struct ldr_sm sm;
	uv_timer_t timer;
	uint64_t next_health_ms;
	bool closing;
	void (*close_cb)(void *data);
	void *close_data;
	bool timer_closed;
	bool ready_poll;
	unsigned inflight; /* consensus requests and peer calls not yet called back */
	/* facts as last given to the state machine */
	bool raft_leader;
	uint64_t raft_leader_id;
	unsigned n_voters;
	uint64_t voters[LDR_MAX_NODES];
	uint64_t holder, holder_epoch;
	bool control_known;
	bool cluster_blocked, node_blocked;
	uint64_t last_holder, last_epoch, epoch_mod_revision;
	uint64_t watch_ids[2];
	/* the lease while we hold it */
	uint64_t lease_id, lease_epoch;
	uint64_t acquire_epoch;
	uint64_t renew_sent_ms;
	char leader_value[LDR_VALUE_MAX];
	struct cns_req acquire_req, renew_req, release_req, revoke_req, nudge_req;
	bool nudge_busy;
	bool acquire_busy, renew_busy, release_busy, revoke_busy;
	/* a report round */
	bool collecting, asking;
	uint64_t round; /* rounds decided so far: an answer for an older one is late */
	bool answered[LDR_MAX_NODES];
	bool call_busy[LDR_MAX_NODES];
	struct ldr_report reports[LDR_MAX_NODES];
	unsigned n_reports;
	struct ldr__collect_call calls[LDR_MAX_NODES];
	bool self_report_wanted;
	/* report requests from the Raft leader, answered by the next sample */
	struct ldr__pending pending[LDR_PENDING_MAX];
	unsigned n_pending;
	/* health */
	struct ldr_pg_sample last_sample;
	bool sample_known;
	bool es_ok;
	char es_detail[256];
	int progress;
	/* an operator's command waiting for its outcome */
	bool cmd_waiting;
	bool force_pending; /* force-leader here: waiting to become Raft leader */
	uint64_t force_deadline_ms;
	struct cns_peer_req yield_req;
	uint64_t cmd_conn, cmd_id;
	bool sentinels_known, no_start, unsynced;
};

uint64_t ldr__now(struct ldr_orch *o);
/* Feed ev to the state machine and run what it answers. */
void ldr__step(struct ldr_orch *o, const struct ldr_event *ev);
void ldr__run(struct ldr_orch *o, const struct ldr_action *a);
/* The member's publish address and names; false if unknown. */
bool ldr__peer(struct ldr_orch *o, uint64_t id, struct ldr_peer *ret_peer);
/* Voters other than this node, as peers. */
unsigned ldr__others(struct ldr_orch *o, struct ldr_peer *out);
/* This node's report from its last sample. */
void ldr__self_report(struct ldr_orch *o, struct ldr_report *r);
json_t *ldr__report_json(const struct ldr_report *r);
int ldr__reply(struct ldr_orch *o, uint64_t conn_id, uint64_t id, int code, const char *msg,
	       json_t *payload);
void ldr__answer_pending(struct ldr_orch *o);
/* Our own place in a report round, from the sample just taken. */
void ldr__self_round(struct ldr_orch *o);
void ldr__force_check(struct ldr_orch *o);
void ldr__cmd_done(struct ldr_orch *o, const struct ldr_action *a);
const char *ldr__name(struct ldr_orch *o, uint64_t id, char *buf, size_t size);
/* The sentinel files as they are now: a SENTINELS event when they changed. */
void ldr__sentinels(struct ldr_orch *o);
/* pg/leader in the local state: holder id, epoch, mod_revision; false when absent. */
bool ldr__leader_key(struct ldr_orch *o, uint64_t *ret_id, uint64_t *ret_epoch,
		     uint64_t *ret_mod_revision);
/* Free o once closing, its timer closed and nothing in flight. */
void ldr__maybe_free(struct ldr_orch *o);

#endif
