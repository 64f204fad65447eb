/*
 * leader/sm_internal.h — what the state machine's files (sm*.c) share.
 * Rules are numbered as in docs/leader.md §7; each file implements some:
 * sm.c the frame (facts, transition table, timers), sm_lease.c 1, 2 and 5,
 * sm_elect.c 3 and 4, sm_follow.c 6 and 7, sm_cmd.c 8, sm_format.c text.
 */
#ifndef BS_LEADER_SM_INTERNAL_H
#define BS_LEADER_SM_INTERNAL_H

#include "leader.h"

/* Blocks that make a running leader step down (rule 3); failover switches do not. */
#define LDR__STEP_DOWN_BLOCKS (LDR_BLOCK_PG | LDR_BLOCK_ES | LDR_BLOCK_DISK)
#define LDR__FOLLOW_RETRY 4 /* follow timeouts from giving up to the next chain */

/* Why a holder fences (rule 1), in sm->fence_cause. */
enum ldr__fence_cause {
	LDR__FENCE_NONE,
	LDR__FENCE_EXPIRED,	   /* now >= valid_until */
	LDR__FENCE_NOT_RAFT,	   /* no longer Raft leader */
	LDR__FENCE_RENEW_FAILED,   /* a keep-alive was refused */
	LDR__FENCE_HOLDER,	   /* pg/leader names another node, or none */
	LDR__FENCE_PG_EXIT,	   /* PostgreSQL died under the holder */
	LDR__FENCE_PROMOTE_FAILED, /* PG_PROMOTE (or the start before it) failed */
	LDR__FENCE_STOP_FAILED,	   /* the switchover's PG_STOP fast failed */
	LDR__FENCE_ROGUE,	   /* a primary this node does not lead */
};

/* A finished report round, reduced to the voters, this node included. */
struct ldr__round {
	unsigned n;
	struct ldr_report r[LDR_MAX_NODES];
	unsigned n_lsn; /* answers with a position */
	uint32_t m_tl;	/* M = the highest (timeline, lsn) among them */
	uint64_t m_lsn;
};

/* sm.c */
void ldr__emit(struct ldr_sm *sm, struct ldr_actions *acts, struct ldr_action a);
void ldr__move(struct ldr_sm *sm, enum ldr_state to, const struct ldr_actions *acts);
void ldr__why(struct ldr_sm *sm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool ldr__holding(const struct ldr_sm *sm);
bool ldr__pg_idle(const struct ldr_sm *sm);
bool ldr__is_voter(const struct ldr_sm *sm, uint64_t id);
unsigned ldr__blocks(const struct ldr_sm *sm);

/* sm_lease.c: rules 1, 2, 5 */
void ldr__fence(struct ldr_sm *sm, int cause, uint64_t release_epoch, struct ldr_actions *acts);
void ldr__fence_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__renew_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__promote_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
bool ldr__restop_armed(const struct ldr_sm *sm);
void ldr__restop(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
bool ldr__sync_armed(const struct ldr_sm *sm);
void ldr__acquire(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__on_renewed(struct ldr_sm *sm, uint64_t sent_ms, uint64_t now);
void ldr__on_renew_failed(struct ldr_sm *sm);
void ldr__on_acquired(struct ldr_sm *sm, uint64_t epoch, uint64_t now, struct ldr_actions *acts);
void ldr__on_acquire_failed(struct ldr_sm *sm);
void ldr__done_promote(struct ldr_sm *sm, int status, struct ldr_actions *acts);
void ldr__done_sync(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts);
void ldr__done_checkpoint(struct ldr_sm *sm, struct ldr_actions *acts);

/* sm_elect.c: rules 3, 4 and report rounds */
bool ldr__elect_armed(const struct ldr_sm *sm);
bool ldr__stepdown_armed(const struct ldr_sm *sm);
void ldr__round_timeout(struct ldr_sm *sm, uint64_t now);
void ldr__stepdown_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__elect_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__collect(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__transfer(struct ldr_sm *sm, uint64_t target, uint64_t now, struct ldr_actions *acts);
void ldr__on_reports(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		     struct ldr_actions *acts);
const struct ldr_report *ldr__find(const struct ldr__round *rd, uint64_t id);
bool ldr__at_m(const struct ldr__round *rd, const struct ldr_report *r);
unsigned ldr__lag_block(const struct ldr_sm *sm, const struct ldr_report *r, uint64_t ref_lsn);
uint64_t ldr__best_other(const struct ldr_sm *sm, const struct ldr__round *rd);
void ldr__describe_at_m(const struct ldr__round *rd, char *out, size_t size);

/* sm_follow.c: rules 6, 7 */
uint64_t ldr__holder_seen(const struct ldr_sm *sm);
bool ldr__follow_armed(const struct ldr_sm *sm);
bool ldr__restart_armed(const struct ldr_sm *sm);
bool ldr__start_armed(const struct ldr_sm *sm);
void ldr__follow_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__wait_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__done_follow(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts);
void ldr__done_start(struct ldr_sm *sm, int status, uint64_t now);

/* sm_cmd.c: rule 8 and the switchover */
void ldr__on_cmd(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		 struct ldr_actions *acts);
void ldr__cmd_reports(struct ldr_sm *sm, const struct ldr__round *rd, uint64_t now,
		      struct ldr_actions *acts);
void ldr__handover_decide(struct ldr_sm *sm, const struct ldr__round *rd, struct ldr_actions *acts);
void ldr__cmd_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts);
void ldr__done_stop(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts);

/* sm_format.c */
const char *ldr__cmd_name(int cmd);
const char *ldr__mode_name(int mode);
const char *ldr__errno_name(int status);

#endif /* BS_LEADER_SM_INTERNAL_H */
