/*
 * leader/sm_follow.c — this node as a standby: rules 6 (follow) and 7 (no
 * holder) of docs/leader.md §7, and what a node does with a PostgreSQL it
 * does not lead running as a primary (it fences it, as rule 1 would).
 *
 * The holder this node follows is the one pg/leader names *while that node
 * is the Raft leader* (§1: the two are the same node; once the Raft leader
 * is another node or none, the holder is gone even though its key lives
 * until its lease expires). A follow is a chain for one (holder, epoch):
 * RECONF (REWIND for a deposed leader, BASEBACKUP for a partial copy), then
 * on a DONE error or no streaming follow_timeout after a DONE, the next
 * mode, and after BASEBACKUP waiting_for_leader until the holder changes or
 * LDR__FOLLOW_RETRY follow timeouts have passed.
 */
#include <stdio.h>

#include "sm_internal.h"

uint64_t ldr__holder_seen(const struct ldr_sm *sm)
{
	uint64_t h = sm->holder;

	return h && h != sm->set.self_id && h == sm->raft_leader_id ? h : 0;
}

static bool streaming_from(const struct ldr_sm *sm, uint64_t h)
{
	const struct ldr_pg_sample *p = &sm->pg;

	return p->ok && p->in_recovery && p->streaming &&
	       (p->upstream == h || (p->upstream == 0 && sm->following == h));
}

static bool follow_state(const struct ldr_sm *sm)
{
	return sm->state == LDR_WAITING_FOR_LEADER || sm->state == LDR_FOLLOWER ||
	       sm->state == LDR_DEPOSED_LEADER;
}

/* The chain in progress is for the holder seen now. */
static bool chain_current(const struct ldr_sm *sm, uint64_t h)
{
	return h && sm->following == h && sm->following_epoch == sm->holder_epoch;
}

bool ldr__follow_armed(const struct ldr_sm *sm)
{
	uint64_t h = ldr__holder_seen(sm);

	return follow_state(sm) && chain_current(sm, h) && !streaming_from(sm, h) &&
	       ldr__pg_idle(sm) && !sm->must_stop && (sm->follow_failed || sm->follow_timing);
}

/* restart() is due at pg_retry_ms. */
bool ldr__restart_armed(const struct ldr_sm *sm)
{
	uint64_t h = ldr__holder_seen(sm);

	return follow_state(sm) && chain_current(sm, h) && !streaming_from(sm, h) &&
	       ldr__pg_idle(sm) && !sm->must_stop && !sm->follow_failed && sm->pg_exited &&
	       !sm->follow_active;
}

static void follow(struct ldr_sm *sm, enum ldr_follow_mode mode, struct ldr_actions *acts)
{
	ldr__emit(sm, acts,
		  (struct ldr_action){
			  .type = LDR_ACT_PG_FOLLOW, .target = sm->following, .mode = mode});
	sm->follow_mode = mode;
	sm->follow_active = true;
	sm->follow_timing = false;
	sm->pg_busy = LDR_ACT_PG_FOLLOW;
	if (mode == LDR_FOLLOW_BASEBACKUP)
		sm->unsynced = true; /* the adapter writes the sentinel first */
}

static void chain_start(struct ldr_sm *sm, uint64_t h, struct ldr_actions *acts)
{
	enum ldr_follow_mode mode = LDR_FOLLOW_RECONF;

	if (sm->unsynced)
		mode = LDR_FOLLOW_BASEBACKUP;
	else if (sm->state == LDR_DEPOSED_LEADER || sm->no_start)
		mode = LDR_FOLLOW_REWIND;
	sm->following = h;
	sm->following_epoch = sm->holder_epoch;
	sm->follow_failed = false;
	follow(sm, mode, acts);
}

/* The chain starts again LDR__FOLLOW_RETRY follow timeouts after giving up
 * (an operator may have fixed what failed: a full disk, a bad file), or at
 * once when the holder changes. */
static void give_up(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	sm->follow_failed = true;
	sm->follow_active = false;
	sm->follow_timing = false;
	sm->follow_deadline_ms = now + LDR__FOLLOW_RETRY * sm->set.follow_timeout_ms;
	if (sm->follow_status)
		ldr__why(sm, "cannot follow node %llu: %s failed (%d)",
			 (unsigned long long)sm->following, ldr__mode_name(sm->follow_mode),
			 sm->follow_status);
	else
		ldr__why(sm, "cannot follow node %llu: not streaming after %s",
			 (unsigned long long)sm->following, ldr__mode_name(sm->follow_mode));
	ldr__move(sm, LDR_WAITING_FOR_LEADER, acts);
}

/* "DONE error or not streaming by follow_deadline → next mode (RECONF →
 * REWIND → BASEBACKUP → WAITING_FOR_LEADER with why)". A follower that lost
 * its stream restarts the chain at RECONF. */
static void escalate(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (!sm->follow_active)
		follow(sm, LDR_FOLLOW_RECONF, acts);
	else if (sm->follow_mode == LDR_FOLLOW_BASEBACKUP)
		give_up(sm, now, acts);
	else
		follow(sm, sm->follow_mode + 1, acts);
}

/* "streaming → FOLLOWER (a deposed leader also NO_START off)". */
static void joined(struct ldr_sm *sm, uint64_t h, struct ldr_actions *acts)
{
	sm->following = h;
	sm->following_epoch = sm->holder_epoch;
	sm->follow_active = false;
	sm->follow_timing = false;
	sm->follow_failed = false;
	if (sm->no_start) {
		ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_NO_START, .on = false});
		sm->no_start = false;
	}
	if (sm->state != LDR_FOLLOWER)
		sm->why[0] = '\0';
	ldr__move(sm, LDR_FOLLOWER, acts);
}

/* INITIALIZING ends with the first sample; a primary this node does not
 * lead is fenced (it may be a leader that restarted: its lease, if any, is
 * not renewed by anyone). */
static void role_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	bool primary = sm->pg.ok && !sm->pg.in_recovery;
	uint64_t self = sm->set.self_id;

	if (sm->state == LDR_INITIALIZING && sm->pg_known && !primary)
		ldr__move(sm, LDR_WAITING_FOR_LEADER, acts);
	if (!primary || ldr__holding(sm) || !ldr__pg_idle(sm) || !sm->pg_known)
		return;
	if (sm->state == LDR_DEPOSED_LEADER) {
		sm->must_stop = true;
		ldr__restop(sm, now, acts);
		return;
	}
	ldr__fence(sm, LDR__FENCE_ROGUE, sm->holder == self ? sm->holder_epoch : 0, acts);
}

/* PostgreSQL died under a follower: a dead server streams from no one, so
 * it starts again as the holder's standby now, not a follow_timeout later
 * (the node was out of the quorum for 15 s: test/fault, seeds 1017 and
 * 1030). A start that fails (a disk still full) is tried again every
 * retry_ms for follow_timeout, not escalated to a rewind or a base backup
 * at once; then the usual chain. A server that hangs gets the timeout. */
static void restart(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (now < sm->pg_retry_ms)
		return;
	if (!sm->restart_until_ms)
		sm->restart_until_ms = now + sm->set.follow_timeout_ms;
	if (now >= sm->restart_until_ms) {
		sm->pg_exited = false; /* RECONF failed: the chain's next mode */
		sm->restart_until_ms = 0;
		follow(sm, LDR_FOLLOW_REWIND, acts);
		return;
	}
	sm->pg_retry_ms = now + sm->set.retry_ms;
	follow(sm, LDR_FOLLOW_RECONF, acts);
}

/* Rule 6: "Not the holder, a holder exists: if PostgreSQL is not streaming
 * from it, PG_FOLLOW holder RECONF (a deposed leader: REWIND)". */
void ldr__follow_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	uint64_t h = ldr__holder_seen(sm);

	role_rule(sm, now, acts);
	if (!h || !follow_state(sm))
		return;
	if (streaming_from(sm, h)) {
		joined(sm, h, acts);
		return;
	}
	if (!ldr__pg_idle(sm) || sm->must_stop)
		return;
	if (!chain_current(sm, h)) {
		chain_start(sm, h, acts);
	} else if (sm->follow_failed) {
		if (now >= sm->follow_deadline_ms)
			chain_start(sm, h, acts);
	} else if (sm->pg_exited && !sm->follow_active) {
		restart(sm, now, acts);
	} else if (!sm->follow_timing) {
		sm->follow_deadline_ms = now + sm->set.follow_timeout_ms; /* lost its stream */
		sm->follow_timing = true;
	} else if (now >= sm->follow_deadline_ms) {
		sm->follow_status = 0;
		escalate(sm, now, acts);
	}
}

void ldr__done_follow(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts)
{
	sm->pg.ok = false;
	if (!follow_state(sm) || !sm->follow_active) {
		sm->ignored++;
		return;
	}
	/* A failed copy leaves the sentinel only if it had replaced the data
	 * directory (pgctl): the orchestrator reads the file again after this
	 * DONE (LDR_EV_SENTINELS); until then the sentinel counts. */
	if (sm->follow_mode == LDR_FOLLOW_BASEBACKUP && !status)
		sm->unsynced = false;
	if (!status) {
		sm->pg_down = false;
		sm->follow_deadline_ms = now + sm->set.follow_timeout_ms;
		sm->follow_timing = true;
		return;
	}
	sm->follow_status = status;
	if (sm->restart_until_ms && sm->follow_mode == LDR_FOLLOW_RECONF &&
	    now < sm->restart_until_ms) {
		sm->follow_active = false; /* restart() again after retry_ms */
		return;
	}
	if (chain_current(sm, ldr__holder_seen(sm)))
		escalate(sm, now, acts);
}

/* A deposed leader starts too, as a standby with no upstream (the sentinel
 * stays: it still rejoins by pg_rewind): its report then carries its
 * position. Kept stopped, two deposed leaders of three (a partition of the
 * leader, then of the next) left no majority of positions, and no election
 * could ever be decided (found by test/fault, seed 101). A standby takes no
 * writes: the fence holds. */
bool ldr__start_armed(const struct ldr_sm *sm)
{
	return ((sm->state == LDR_WAITING_FOR_LEADER && !sm->no_start) ||
		sm->state == LDR_DEPOSED_LEADER) &&
	       !ldr__holder_seen(sm) && sm->pg_down && ldr__pg_idle(sm) && !sm->must_stop &&
	       !sm->collecting && !sm->acquiring;
}

/* Rule 7: "No holder: WAITING_FOR_LEADER (PostgreSQL keeps running as a
 * standby; PG_START if it is not running and there is no no-start
 * sentinel)", at most every retry_ms; on the Raft leader too, whose
 * report needs a position. A deposed leader starts as a standby too. */
void ldr__wait_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (ldr__holder_seen(sm))
		return;
	if (sm->state == LDR_FOLLOWER) {
		ldr__why(sm, "the leader is gone");
		ldr__move(sm, LDR_WAITING_FOR_LEADER, acts);
	}
	if (!ldr__start_armed(sm) || now < sm->pg_retry_ms)
		return;
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_START});
	sm->pg_busy = LDR_ACT_PG_START;
}

void ldr__done_start(struct ldr_sm *sm, int status, uint64_t now)
{
	sm->pg.ok = false;
	sm->pg_retry_ms = now + sm->set.retry_ms;
	if (!status)
		sm->pg_down = false;
	else if (sm->state == LDR_PROMOTING)
		sm->fence_cause = LDR__FENCE_PROMOTE_FAILED;
}
