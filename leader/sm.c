/*
 * leader/sm.c — the frame of the leader state machine (docs/leader.md §7).
 *
 * ldr_step absorbs the event's facts (this file: Raft role, holder,
 * switches, health; the outcome events go to the rule that caused them),
 * then applies the rules in §7's order, again while a pass moved or acted
 * (a move can arm a rule checked earlier), so that after a step every timer
 * ldr_next_deadline reports lies in the future. Every move is checked
 * against the transition table below. No I/O, no clock, no globals.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sm_internal.h"

/* The moves the rules make; anything else is a bug in them. */
static const bool allowed[LDR_N_STATES][LDR_N_STATES] = {
	[LDR_INITIALIZING] =
		{
			[LDR_WAITING_FOR_LEADER] = true, /* PostgreSQL's state is known */
			[LDR_DEPOSED_LEADER] = true,	 /* found running as a primary (fenced) */
		},
	[LDR_WAITING_FOR_LEADER] =
		{
			[LDR_PROMOTING] = true,	     /* acquired the lease (rule 5) */
			[LDR_FOLLOWER] = true,	     /* streaming from the holder (rule 6) */
			[LDR_DEPOSED_LEADER] = true, /* found running as a primary (fenced) */
		},
	[LDR_PROMOTING] =
		{
			[LDR_LEADER] = true,	     /* PostgreSQL promoted (rule 5) */
			[LDR_DEPOSED_LEADER] = true, /* fenced (rule 1) */
		},
	[LDR_LEADER] =
		{
			[LDR_DEPOSED_LEADER] = true, /* fenced (rule 1) */
			[LDR_WAITING_FOR_LEADER] =
				true, /* handed over: demote, promote, step down */
		},
	[LDR_FOLLOWER] =
		{
			[LDR_WAITING_FOR_LEADER] =
				true,		     /* holder gone, or following failed (6, 7) */
			[LDR_DEPOSED_LEADER] = true, /* found running as a primary (fenced) */
		},
	[LDR_DEPOSED_LEADER] =
		{
			[LDR_PROMOTING] = true,		 /* force-leader (rule 8) */
			[LDR_FOLLOWER] = true,		 /* rejoined (rule 6) */
			[LDR_WAITING_FOR_LEADER] = true, /* could not rejoin (rule 6) */
		},
};

bool ldr_transition_allowed(enum ldr_state from, enum ldr_state to)
{
	if ((unsigned)from >= LDR_N_STATES || (unsigned)to >= LDR_N_STATES)
		return false;
	return allowed[from][to];
}

void ldr__move(struct ldr_sm *sm, enum ldr_state to, const struct ldr_actions *acts)
{
	bool ok = ldr_transition_allowed(sm->state, to);

	if (to == sm->state)
		return;
	assert(ok && "leader: a move outside the transition table");
	if (!ok) {
		sm->bad_moves++;
		return;
	}
	if (sm->n_moves < LDR_MAX_MOVES)
		sm->moves[sm->n_moves++] = (struct ldr_move){sm->state, to, acts->n};
	sm->state = to;
}

void ldr__emit(struct ldr_sm *sm, struct ldr_actions *acts, struct ldr_action a)
{
	assert(acts->n < LDR_MAX_ACTIONS && "leader: a step with too many actions");
	if (acts->n >= LDR_MAX_ACTIONS) {
		sm->ignored++;
		return;
	}
	acts->a[acts->n++] = a;
}

void ldr__why(struct ldr_sm *sm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sm->why, sizeof sm->why, fmt, ap);
	va_end(ap);
}

bool ldr__holding(const struct ldr_sm *sm)
{
	return sm->state == LDR_PROMOTING || sm->state == LDR_LEADER;
}

bool ldr__pg_idle(const struct ldr_sm *sm)
{
	return sm->pg_busy < 0;
}

bool ldr__is_voter(const struct ldr_sm *sm, uint64_t id)
{
	unsigned i;

	for (i = 0; i < sm->n_voters; i++)
		if (sm->voters[i] == id)
			return true;
	return false;
}

/* docs/leader.md §3, "Eligible"; LAG is judged by whoever compares positions. */
unsigned ldr__blocks(const struct ldr_sm *sm)
{
	const struct ldr_settings *s = &sm->set;
	unsigned b = 0;

	if (sm->pg_failures >= (s->max_pg_failures ? s->max_pg_failures : 1))
		b |= LDR_BLOCK_PG;
	if (s->es_enabled && sm->es_failures >= (s->max_es_failures ? s->max_es_failures : 1))
		b |= LDR_BLOCK_ES;
	if (s->fatal_system_checks && !sm->disk_ok)
		b |= LDR_BLOCK_DISK;
	if (sm->node_blocked)
		b |= LDR_BLOCK_NODE;
	if (sm->cluster_blocked && sm->last_holder != s->self_id)
		b |= LDR_BLOCK_CLUSTER;
	if (sm->unsynced)
		b |= LDR_BLOCK_UNSYNCED;
	if (sm->promote_hold_until_ms)
		b |= LDR_BLOCK_PROMOTE;
	return b;
}

void ldr_init(struct ldr_sm *sm, const struct ldr_settings *set)
{
	memset(sm, 0, sizeof *sm);
	sm->set = *set;
	sm->state = LDR_INITIALIZING;
	sm->pg_busy = -1;
	sm->cmd = -1;
	sm->disk_ok = true;
	sm->sync_k = -1;
	sm->sync_sent_k = -1;
}

/* --- facts ---------------------------------------------------------------- */

static void on_raft(struct ldr_sm *sm, const struct ldr_event *ev)
{
	unsigned n = ev->u.raft.n_voters;

	if (n > LDR_MAX_NODES)
		n = LDR_MAX_NODES;
	sm->raft_leader = ev->u.raft.leader;
	sm->raft_leader_id = ev->u.raft.leader ? sm->set.self_id : ev->u.raft.leader_id;
	if (n) { /* 0: not known; a leader's k must not drop to 0 for it */
		/* Other voters: synchronous_standby_names lists them (and the
		 * adapter makes their slots), so it is set again even when k
		 * stays the same. */
		if (n != sm->n_voters ||
		    memcmp(sm->voters, ev->u.raft.voters, n * sizeof sm->voters[0]) != 0)
			sm->sync_k = -1;
		sm->n_voters = n;
		memcpy(sm->voters, ev->u.raft.voters, n * sizeof sm->voters[0]);
	}
	if (!sm->raft_leader)
		sm->collecting = false; /* a round only a Raft leader may act on */
}

/* A holder whose pg/leader now names another node, or none, has lost the
 * lease whatever its clock says: it fences (rule 1). */
static void on_holder(struct ldr_sm *sm, const struct ldr_event *ev)
{
	uint64_t id = ev->u.holder.id, epoch = ev->u.holder.epoch;

	if (ldr__holding(sm) && id != sm->set.self_id)
		sm->fence_cause = LDR__FENCE_HOLDER;
	if (id && epoch > sm->holder_epoch)
		sm->failovers++;
	sm->holder = id;
	if (!id)
		return;
	sm->holder_epoch = epoch;
	sm->last_holder = id;
	if (epoch > sm->last_epoch)
		sm->last_epoch = epoch;
}

static void on_control(struct ldr_sm *sm, const struct ldr_event *ev)
{
	sm->cluster_blocked = ev->u.control.cluster_blocked;
	sm->node_blocked = ev->u.control.node_blocked;
	if (ev->u.control.last_epoch < sm->last_epoch)
		return; /* older than what this node has seen */
	sm->last_holder = ev->u.control.last_holder;
	sm->last_epoch = ev->u.control.last_epoch;
}

/* A failed check keeps the last known position (a hand-over compares the
 * others with it). */
static void on_pg(struct ldr_sm *sm, const struct ldr_event *ev)
{
	uint32_t tl = sm->pg.timeline;
	uint64_t lsn = sm->pg.lsn;

	sm->pg = ev->u.pg;
	if (!sm->pg.ok) {
		sm->pg.timeline = tl;
		sm->pg.lsn = lsn;
	}
	sm->pg_known = true;
	sm->pg_down = !sm->pg.ok;
	if (sm->pg.ok)
		sm->pg_failures = 0, sm->pg_exited = false, sm->restart_until_ms = 0;
	else if (sm->pg_failures < UINT32_MAX)
		sm->pg_failures++;
}

/* Rule 3: "if the PostgreSQL process died, rule 1's fence". */
static void on_pg_exit(struct ldr_sm *sm)
{
	sm->pg_known = true;
	sm->pg_down = true;
	sm->pg_exited = true;
	sm->pg.ok = false;
	sm->pg.streaming = false;
	if (ldr__holding(sm))
		sm->fence_cause = LDR__FENCE_PG_EXIT;
}

static void on_es(struct ldr_sm *sm, bool ok)
{
	if (ok)
		sm->es_failures = 0;
	else if (sm->es_failures < UINT32_MAX)
		sm->es_failures++;
}

static void on_sentinels(struct ldr_sm *sm, const struct ldr_event *ev)
{
	sm->no_start = ev->u.sentinels.no_start;
	sm->unsynced = ev->u.sentinels.unsynced;
}

/* The outcome of the PG action in flight; any other is stale (superseded). */
static void on_done(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		    struct ldr_actions *acts)
{
	int status = ev->u.done.status;

	if (ev->u.done.action != sm->pg_busy || sm->pg_busy < 0) {
		sm->ignored++;
		return;
	}
	sm->pg_busy = -1;
	switch (ev->u.done.action) {
	case LDR_ACT_PG_START:
		ldr__done_start(sm, status, now);
		break;
	case LDR_ACT_PG_STOP:
		ldr__done_stop(sm, status, now, acts);
		break;
	case LDR_ACT_PG_PROMOTE:
		ldr__done_promote(sm, status, acts);
		break;
	case LDR_ACT_PG_FOLLOW:
		ldr__done_follow(sm, status, now, acts);
		break;
	case LDR_ACT_PG_SYNC:
		ldr__done_sync(sm, status, now, acts);
		break;
	case LDR_ACT_PG_CHECKPOINT:
		ldr__done_checkpoint(sm, acts);
		break;
	}
}

static void absorb(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		   struct ldr_actions *acts)
{
	switch (ev->type) {
	case LDR_EV_TICK:
		break;
	case LDR_EV_RAFT:
		on_raft(sm, ev);
		break;
	case LDR_EV_HOLDER:
		on_holder(sm, ev);
		break;
	case LDR_EV_CONTROL:
		on_control(sm, ev);
		break;
	case LDR_EV_PG:
		on_pg(sm, ev);
		break;
	case LDR_EV_PG_EXIT:
		on_pg_exit(sm);
		break;
	case LDR_EV_ES:
		on_es(sm, ev->u.ok);
		break;
	case LDR_EV_DISK:
		sm->disk_ok = ev->u.ok;
		break;
	case LDR_EV_RENEWED:
		ldr__on_renewed(sm, ev->u.sent_ms, now);
		break;
	case LDR_EV_RENEW_FAILED:
		ldr__on_renew_failed(sm);
		break;
	case LDR_EV_ACQUIRED:
		ldr__on_acquired(sm, ev->u.epoch, now, acts);
		break;
	case LDR_EV_ACQUIRE_FAILED:
		ldr__on_acquire_failed(sm);
		break;
	case LDR_EV_REPORTS:
		ldr__on_reports(sm, ev, now, acts);
		break;
	case LDR_EV_DONE:
		on_done(sm, ev, now, acts);
		break;
	case LDR_EV_CMD:
		ldr__on_cmd(sm, ev, now, acts);
		break;
	case LDR_EV_SENTINELS:
		on_sentinels(sm, ev);
		break;
	default:
		sm->ignored++;
	}
}

/* docs/leader.md §7, in its order. */
static void rules(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (sm->promote_hold_until_ms && now >= sm->promote_hold_until_ms)
		sm->promote_hold_until_ms = 0;
	sm->blocks = ldr__blocks(sm);
	ldr__round_timeout(sm, now);
	ldr__fence_rule(sm, now, acts);	   /* 1 */
	ldr__renew_rule(sm, now, acts);	   /* 2 */
	ldr__stepdown_rule(sm, now, acts); /* 3 */
	ldr__elect_rule(sm, now, acts);	   /* 4 */
	ldr__promote_rule(sm, now, acts);  /* 5 */
	ldr__follow_rule(sm, now, acts);   /* 6 */
	ldr__wait_rule(sm, now, acts);	   /* 7 */
	ldr__cmd_rule(sm, now, acts);	   /* 8 */
}

void ldr_step(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now_ms,
	      struct ldr_actions *ret_actions)
{
	unsigned pass, moves, n;

	sm->n_moves = 0;
	absorb(sm, ev, now_ms, ret_actions);
	for (pass = 0; pass < LDR_MAX_MOVES; pass++) {
		moves = sm->n_moves;
		n = ret_actions->n;
		rules(sm, now_ms, ret_actions);
		if (sm->n_moves == moves && ret_actions->n == n)
			break;
	}
	sm->fence_cause = LDR__FENCE_NONE;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Every timer, each only while its rule could fire at it. */
uint64_t ldr_next_deadline(const struct ldr_sm *sm)
{
	uint64_t t = UINT64_MAX;

	if (ldr__holding(sm)) {
		t = min_u64(t, sm->valid_until_ms);
		if (!sm->renew_in_flight)
			t = min_u64(t, sm->renew_due_ms);
	}
	if (ldr__elect_armed(sm) || ldr__stepdown_armed(sm))
		t = min_u64(t, sm->next_round_ms);
	if (sm->collecting)
		t = min_u64(t, sm->collect_deadline_ms);
	if (ldr__follow_armed(sm))
		t = min_u64(t, sm->follow_deadline_ms);
	if (ldr__restart_armed(sm))
		t = min_u64(t, sm->pg_retry_ms);
	if (sm->cmd >= 0)
		t = min_u64(t, sm->cmd_deadline_ms);
	if (sm->promote_hold_until_ms)
		t = min_u64(t, sm->promote_hold_until_ms);
	if (ldr__restop_armed(sm) || ldr__sync_armed(sm) || ldr__start_armed(sm))
		t = min_u64(t, sm->pg_retry_ms);
	return t;
}

bool ldr_serving(const struct ldr_sm *sm)
{
	return sm->state == LDR_LEADER && sm->serve;
}

/* docs/leader.md §3: k + 1 copies meet every majority: k = n - floor(n/2) - 1. */
unsigned ldr_quorum_k(unsigned n_voters)
{
	if (n_voters == 0)
		return 0;
	return n_voters - n_voters / 2 - 1;
}

void ldr_self_report(const struct ldr_sm *sm, struct ldr_report *ret_report)
{
	*ret_report = (struct ldr_report){
		.id = sm->set.self_id,
		.has_lsn = sm->pg_known && sm->pg.ok && !sm->pg_down,
		.timeline = sm->pg.timeline,
		.lsn = sm->pg.lsn,
		.blocks = ldr__blocks(sm),
	};
}
