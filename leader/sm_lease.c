/*
 * leader/sm_lease.c — this node as the lease holder: rules 1 (fence first),
 * 2 (renew) and 5 (promote) of docs/leader.md §7, and the deadline
 * arithmetic of §4.
 *
 * A holder is valid until sent + TTL * (1 - rho) - fence_budget of its
 * newest confirmed keep-alive (at acquisition: the acquire's send time).
 * "The lease can end elsewhere only when a Raft leader expires it, no
 * earlier than TTL after the keep-alive arrived (t >= s) by its clock ...
 * the holder has finished fencing fence_budget before that." (§4)
 */
#include <stdio.h>

#include "sm_internal.h"

#define PPM 1000000u

uint64_t ldr_valid_until(const struct ldr_settings *set, uint64_t sent_ms)
{
	uint64_t rho = set->rho_ppm > PPM ? PPM : set->rho_ppm;
	uint64_t ttl = set->ttl_ms;
	/* ttl * rho / 1e6 rounded up, without forming ttl * rho: the first term
	 * is at most ttl, the second's product below 1e12. */
	uint64_t drift = ttl / PPM * rho + (ttl % PPM * rho + PPM - 1) / PPM;
	uint64_t span = ttl - drift;

	if (span <= set->fence_budget_ms)
		return sent_ms;
	span -= set->fence_budget_ms;
	return sent_ms > UINT64_MAX - span ? UINT64_MAX : sent_ms + span;
}

static const char *const fence_text[] = {
	[LDR__FENCE_NONE] = "",
	[LDR__FENCE_EXPIRED] = "lease validity ended",
	[LDR__FENCE_NOT_RAFT] = "no longer Raft leader",
	[LDR__FENCE_RENEW_FAILED] = "lease renewal refused",
	[LDR__FENCE_HOLDER] = "pg/leader no longer names this node",
	[LDR__FENCE_PG_EXIT] = "PostgreSQL exited",
	[LDR__FENCE_PROMOTE_FAILED] = "promotion failed",
	[LDR__FENCE_STOP_FAILED] = "switchover stop failed",
	[LDR__FENCE_ROGUE] = "PostgreSQL runs as a primary this node does not lead",
};

/* Rule 1's actions, SERVE off first (§4: 503 and the VIP before the stop). */
void ldr__fence(struct ldr_sm *sm, int cause, uint64_t release_epoch, struct ldr_actions *acts)
{
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_SERVE, .on = false});
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_STOP, .on = true});
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_NO_START, .on = true});
	if (release_epoch)
		ldr__emit(
			sm, acts,
			(struct ldr_action){.type = LDR_ACT_LEASE_RELEASE, .epoch = release_epoch});
	sm->serve = false;
	sm->no_start = true;
	sm->must_stop = true;
	sm->pg_busy = LDR_ACT_PG_STOP;
	sm->renew_in_flight = false;
	sm->handover_target = 0;
	ldr__why(sm, "fenced: %s", fence_text[cause]);
	ldr__move(sm, LDR_DEPOSED_LEADER, acts);
}

bool ldr__restop_armed(const struct ldr_sm *sm)
{
	return sm->must_stop && ldr__pg_idle(sm) && !ldr__holding(sm);
}

/* A fence's stop that failed is retried every retry_ms. */
void ldr__restop(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (!ldr__restop_armed(sm) || now < sm->pg_retry_ms)
		return;
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_STOP, .on = true});
	sm->pg_busy = LDR_ACT_PG_STOP;
}

/* Rule 1. */
void ldr__fence_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	int cause = sm->fence_cause;

	sm->fence_cause = LDR__FENCE_NONE;
	if (ldr__holding(sm)) {
		if (!cause && now >= sm->valid_until_ms)
			cause = LDR__FENCE_EXPIRED;
		if (!cause && !sm->raft_leader)
			cause = LDR__FENCE_NOT_RAFT;
		/* A node whose promotion failed would win the next round again
		 * (it is at M and prefers itself on a tie): it stands aside for
		 * promote_hold_ms so that another node at M is chosen. */
		if (cause == LDR__FENCE_PROMOTE_FAILED && sm->set.promote_hold_ms)
			sm->promote_hold_until_ms = now + sm->set.promote_hold_ms;
		if (cause)
			ldr__fence(sm, cause, sm->epoch, acts);
		return;
	}
	ldr__restop(sm, now, acts);
}

/* Rule 2: one keep-alive in flight at a time, every renew_ms. */
void ldr__renew_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (!ldr__holding(sm) || sm->renew_in_flight || now < sm->renew_due_ms)
		return;
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_LEASE_RENEW});
	sm->renew_in_flight = true;
	sm->renew_sent_ms = now;
}

/* A confirmation never shortens validity, and a send time from the
 * future (a confused caller) counts as now. */
void ldr__on_renewed(struct ldr_sm *sm, uint64_t sent_ms, uint64_t now)
{
	uint64_t v;

	if (!ldr__holding(sm) || !sm->renew_in_flight) {
		sm->ignored++;
		return;
	}
	if (sent_ms > now)
		sent_ms = now;
	sm->renew_in_flight = false;
	v = ldr_valid_until(&sm->set, sent_ms);
	if (v > sm->valid_until_ms)
		sm->valid_until_ms = v;
	sm->renew_due_ms = sent_ms + sm->set.renew_ms;
}

void ldr__on_renew_failed(struct ldr_sm *sm)
{
	if (!ldr__holding(sm)) {
		sm->ignored++;
		return;
	}
	sm->renew_in_flight = false;
	sm->fence_cause = LDR__FENCE_RENEW_FAILED;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Rule 4's (or force-leader's) acquisition: epoch = last_epoch + 1. */
void ldr__acquire(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	uint64_t e = max_u64(max_u64(sm->last_epoch, sm->holder_epoch), sm->epoch) + 1;

	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_LEASE_ACQUIRE, .epoch = e});
	sm->acquiring = true;
	sm->acquire_sent_ms = now;
}

void ldr__on_acquire_failed(struct ldr_sm *sm)
{
	if (!sm->acquiring) {
		sm->ignored++;
		return;
	}
	sm->acquiring = false;
	ldr__why(sm, "lease acquisition refused");
}

/* A lease this node did not ask for, or acquired after losing Raft
 * leadership, is handed back untouched: PostgreSQL is not promoted. */
static bool acquired_usable(struct ldr_sm *sm, uint64_t epoch, struct ldr_actions *acts)
{
	bool asked = sm->acquiring;

	sm->acquiring = false;
	if (asked && sm->raft_leader &&
	    (sm->state == LDR_WAITING_FOR_LEADER || sm->state == LDR_DEPOSED_LEADER))
		return true;
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_LEASE_RELEASE, .epoch = epoch});
	ldr__why(sm, "acquired epoch %llu it could not use; released", (unsigned long long)epoch);
	return false;
}

/* Rule 5: "ACQUIRED{epoch}: state PROMOTING, renewal clock starts". */
void ldr__on_acquired(struct ldr_sm *sm, uint64_t epoch, uint64_t now, struct ldr_actions *acts)
{
	if (ldr__holding(sm)) {
		sm->ignored++;
		return;
	}
	if (!acquired_usable(sm, epoch, acts))
		return;
	sm->epoch = sm->holder_epoch = sm->last_epoch = epoch;
	sm->holder = sm->last_holder = sm->set.self_id;
	sm->failovers++;
	sm->valid_until_ms = ldr_valid_until(&sm->set, sm->acquire_sent_ms);
	sm->renew_due_ms = now + sm->set.renew_ms;
	sm->renew_in_flight = false;
	sm->serve = false;
	sm->must_stop = false;
	sm->sync_k = -1;
	sm->pg_retry_ms = 0;
	ldr__move(sm, LDR_PROMOTING, acts);
}

/* Rule 5: PG_PROMOTE epoch (PostgreSQL started first if it is down, as
 * after force-leader on a deposed node). Rule 1 ran first: a lease already
 * past valid_until is fenced instead. */
void ldr__promote_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (sm->state == LDR_LEADER && ldr__sync_armed(sm) && now >= sm->pg_retry_ms) {
		unsigned k = sm->set.quorum_sync ? ldr_quorum_k(sm->n_voters) : 0;

		ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_SYNC, .k = k});
		sm->sync_sent_k = (int)k;
		sm->pg_busy = LDR_ACT_PG_SYNC;
		return;
	}
	if (sm->state != LDR_PROMOTING || !ldr__pg_idle(sm))
		return;
	if (sm->pg_down) {
		ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_START});
		sm->pg_busy = LDR_ACT_PG_START;
		return;
	}
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_PROMOTE, .epoch = sm->epoch});
	sm->pg_busy = LDR_ACT_PG_PROMOTE;
}

/* "DONE(PG_PROMOTE, 0): state LEADER, PG_SYNC k ...; DONE(PG_PROMOTE,
 * error): rule 1's fence." */
void ldr__done_promote(struct ldr_sm *sm, int status, struct ldr_actions *acts)
{
	if (sm->state != LDR_PROMOTING) {
		sm->ignored++;
		return;
	}
	if (status) {
		sm->fence_cause = LDR__FENCE_PROMOTE_FAILED;
		return;
	}
	sm->pg_down = false;
	sm->pg_retry_ms = 0; /* PG_SYNC at once */
	sm->why[0] = '\0';
	if (sm->no_start) {
		ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_NO_START, .on = false});
		sm->no_start = false;
	}
	ldr__move(sm, LDR_LEADER, acts);
}

/* The k PostgreSQL should run with differs from the k in force. */
bool ldr__sync_armed(const struct ldr_sm *sm)
{
	int k = sm->set.quorum_sync ? (int)ldr_quorum_k(sm->n_voters) : 0;

	return sm->state == LDR_LEADER && !sm->handover_target && ldr__pg_idle(sm) &&
	       sm->sync_k != k;
}

/* SERVE on only once the quorum rule is in force: a commit acknowledged
 * before would not be on k standbys (§3). */
void ldr__done_sync(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts)
{
	if (sm->state != LDR_LEADER) {
		sm->ignored++;
		return;
	}
	if (status) {
		sm->pg_retry_ms = now + sm->set.retry_ms;
		return;
	}
	sm->sync_k = sm->sync_sent_k;
	if (sm->serve || sm->handover_target)
		return;
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_SERVE, .on = true});
	sm->serve = true;
}
