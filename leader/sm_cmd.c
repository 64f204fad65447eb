/*
 * leader/sm_cmd.c — operators' commands and the switchover: rule 8 of
 * docs/leader.md §7 (and the hand-over that rule 3's step-down shares).
 *
 * A hand-over: a CHECKPOINT while still serving, then SERVE off and
 * PG_STOP fast ("PostgreSQL ships every
 * WAL record to streaming standbys before it exits"); only once that stop
 * is DONE, LEASE_RELEASE and TRANSFER — the target must not start its
 * election while the old primary may still write. A command ends with one
 * CMD_DONE: 0 once a new leader holds the lease (this node: once promoted),
 * a refusal at once, or -ETIMEDOUT after switchover_timeout.
 */
#include <errno.h>
#include <stdio.h>

#include "sm_internal.h"

static void answer(struct ldr_sm *sm, int cmd, uint64_t target, int status,
		   struct ldr_actions *acts)
{
	ldr__emit(
		sm, acts,
		(struct ldr_action){
			.type = LDR_ACT_CMD_DONE, .cmd = cmd, .target = target, .status = status});
}

static void finish(struct ldr_sm *sm, int status, struct ldr_actions *acts)
{
	answer(sm, sm->cmd, sm->cmd_target, status, acts);
	sm->cmd = -1;
	sm->cmd_target = 0;
	sm->cmd_wait_reports = false;
}

static int refuse(struct ldr_sm *sm, int status, const char *what)
{
	ldr__why(sm, "%s", what);
	return status;
}

static int demote_refusal(struct ldr_sm *sm)
{
	if (sm->state != LDR_LEADER)
		return refuse(sm, -ENOENT, "demote: this node is not the leader");
	if (sm->handover_target)
		return refuse(sm, -EBUSY, "demote: a hand-over is running");
	if (sm->cluster_blocked)
		return refuse(sm, -EPERM, "demote: cluster failover is off");
	return 0;
}

static int promote_refusal(struct ldr_sm *sm, uint64_t target)
{
	if (!target || !ldr__is_voter(sm, target))
		return refuse(sm, -EINVAL, "promote: not a voter");
	if (target == sm->holder)
		return refuse(sm, -EALREADY, "promote: that node already leads");
	if (sm->cluster_blocked && target != sm->last_holder)
		return refuse(sm, -EPERM, "promote: cluster failover is off");
	if (sm->handover_target)
		return refuse(sm, -EBUSY, "promote: a hand-over is running");
	if (sm->holder && sm->state != LDR_LEADER)
		return refuse(sm, -EAGAIN, "promote: the leader is changing");
	return 0;
}

static int force_refusal(struct ldr_sm *sm)
{
	if (sm->holder)
		return refuse(sm, -EEXIST, "force-leader: a node holds the lease");
	if (sm->acquiring)
		return refuse(sm, -EBUSY, "force-leader: an acquisition is running");
	return 0;
}

static int refusal(struct ldr_sm *sm, enum ldr_cmd kind, uint64_t target)
{
	if (sm->cmd >= 0)
		return refuse(sm, -EBUSY, "another command is running");
	if (!sm->raft_leader)
		return refuse(sm, -EAGAIN, "not the Raft leader");
	if (sm->state == LDR_INITIALIZING)
		return refuse(sm, -EAGAIN, "PostgreSQL's state is not known yet");
	if (kind == LDR_CMD_DEMOTE)
		return demote_refusal(sm);
	if (kind == LDR_CMD_PROMOTE)
		return promote_refusal(sm, target);
	if (kind == LDR_CMD_FORCE)
		return force_refusal(sm);
	return refuse(sm, -EINVAL, "unknown command");
}

/* Rule 8: DEMOTE and PROMOTE start with a report round; FORCE acquires
 * "without the LSN rule" (and without the eligibility one: the operator's
 * decision after cluster-status). */
void ldr__on_cmd(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		 struct ldr_actions *acts)
{
	enum ldr_cmd kind = ev->u.cmd.kind;
	uint64_t target = kind == LDR_CMD_PROMOTE ? ev->u.cmd.target : 0;
	int err = refusal(sm, kind, target);

	if (err) {
		answer(sm, (int)kind, target, err, acts);
		return;
	}
	sm->cmd = (int)kind;
	sm->cmd_target = kind == LDR_CMD_FORCE ? sm->set.self_id : target;
	sm->cmd_deadline_ms = now + sm->set.switchover_timeout_ms;
	sm->cmd_epoch = sm->holder_epoch;
	if (kind == LDR_CMD_FORCE) {
		sm->collecting = false; /* an election round's answer is moot now */
		ldr__acquire(sm, now, acts);
		return;
	}
	sm->cmd_wait_reports = true;
	if (!sm->collecting)
		ldr__collect(sm, now, acts);
}

/* A hand-over starts with a CHECKPOINT while writes go on: the fast stop's
 * own checkpoint, inside the write pause, then has little left to write. */
static void handover(struct ldr_sm *sm, uint64_t target, struct ldr_actions *acts)
{
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_CHECKPOINT});
	sm->handover_target = target;
	sm->pg_busy = LDR_ACT_PG_CHECKPOINT;
	if (sm->cmd >= 0)
		sm->cmd_target = target;
	ldr__why(sm, "handing over to node %llu", (unsigned long long)target);
}

/* Then "SERVE off, PG_STOP fast" (a failed checkpoint changes nothing: it
 * only made the stop shorter). */
void ldr__done_checkpoint(struct ldr_sm *sm, struct ldr_actions *acts)
{
	if (sm->state != LDR_LEADER || !sm->handover_target) {
		sm->ignored++;
		return;
	}
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_SERVE, .on = false});
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_PG_STOP, .on = false});
	sm->serve = false;
	sm->pg_busy = LDR_ACT_PG_STOP;
}

/* Rule 3's step-down and DEMOTE: "the best other eligible node". */
void ldr__handover_decide(struct ldr_sm *sm, const struct ldr__round *rd, struct ldr_actions *acts)
{
	bool demote = sm->cmd == LDR_CMD_DEMOTE;
	uint64_t target;

	if (sm->state != LDR_LEADER || sm->handover_target ||
	    (!demote && !(sm->blocks & LDR__STEP_DOWN_BLOCKS)))
		return;
	target = ldr__best_other(sm, rd);
	if (target) {
		handover(sm, target, acts);
	} else if (demote) {
		ldr__why(sm, "demote: no eligible node to take over");
		finish(sm, -ENOENT, acts);
	} else {
		ldr__why(sm, "cannot step down: no eligible node to take over");
	}
}

/* PROMOTE target: refused if it did not answer or is not eligible; from a
 * leader a hand-over; with no holder only a target at M (force-leader on
 * that node is how an operator accepts losing what M holds). */
static void promote_decide(struct ldr_sm *sm, const struct ldr__round *rd, uint64_t now,
			   struct ldr_actions *acts)
{
	const struct ldr_report *r = ldr__find(rd, sm->cmd_target);
	uint64_t ref = sm->state == LDR_LEADER ? sm->pg.lsn : rd->m_lsn;

	if (!r || !r->has_lsn) {
		ldr__why(sm, "promote: the node reported no position");
		finish(sm, -EPERM, acts);
	} else if (r->blocks | ldr__lag_block(sm, r, ref)) {
		char text[96];

		ldr_block_describe(r->blocks | ldr__lag_block(sm, r, ref), text, sizeof text);
		ldr__why(sm, "promote: node %llu is not eligible (%s)", (unsigned long long)r->id,
			 text);
		finish(sm, -EPERM, acts);
	} else if (sm->state == LDR_LEADER && !sm->handover_target) {
		handover(sm, r->id, acts);
	} else if (sm->holder || !sm->raft_leader) {
		ldr__why(sm, "promote: the leader changed");
		finish(sm, -EAGAIN, acts);
	} else if (!ldr__at_m(rd, r)) {
		ldr__why(sm, "promote: node %llu is behind the highest position",
			 (unsigned long long)r->id);
		finish(sm, -EPERM, acts);
	} else if (r->id == sm->set.self_id) {
		ldr__acquire(sm, now, acts);
	} else {
		ldr__transfer(sm, r->id, now, acts);
	}
}

void ldr__cmd_reports(struct ldr_sm *sm, const struct ldr__round *rd, uint64_t now,
		      struct ldr_actions *acts)
{
	sm->cmd_wait_reports = false;
	if (sm->cmd == LDR_CMD_PROMOTE)
		promote_decide(sm, rd, now, acts);
	else
		ldr__handover_decide(sm, rd, acts);
}

/* A new holder at a newer epoch, the one the command asked for; this node
 * counts once it is promoted. */
static bool cmd_succeeded(const struct ldr_sm *sm)
{
	uint64_t self = sm->set.self_id;

	if (!sm->holder || sm->holder_epoch <= sm->cmd_epoch)
		return false;
	if (sm->holder == self && sm->state != LDR_LEADER)
		return false;
	if (sm->cmd == LDR_CMD_DEMOTE)
		return sm->holder != self;
	return sm->holder == sm->cmd_target;
}

/* PROMOTE: another node leads at a newer epoch (the target's promotion
 * failed and an election chose someone else): the answer need not wait
 * for the timeout. */
static bool cmd_superseded(const struct ldr_sm *sm)
{
	return sm->cmd == LDR_CMD_PROMOTE && sm->holder && sm->holder_epoch > sm->cmd_epoch &&
	       sm->holder != sm->cmd_target &&
	       (sm->holder != sm->set.self_id || sm->state == LDR_LEADER);
}

/* Rule 8: "A command past switchover_timeout is dropped and why says so." */
void ldr__cmd_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (sm->cmd < 0)
		return;
	if (cmd_succeeded(sm)) {
		finish(sm, 0, acts);
	} else if (cmd_superseded(sm)) {
		ldr__why(sm, "promote: node %llu did not take over; node %llu leads",
			 (unsigned long long)sm->cmd_target, (unsigned long long)sm->holder);
		finish(sm, -EIO, acts);
	} else if (sm->cmd_wait_reports && !sm->collecting) {
		ldr__why(sm, "%s: the report round was lost", ldr__cmd_name(sm->cmd));
		finish(sm, -EAGAIN, acts);
	} else if (now >= sm->cmd_deadline_ms) {
		ldr__why(sm, "%s: no new leader within %llu ms", ldr__cmd_name(sm->cmd),
			 (unsigned long long)sm->set.switchover_timeout_ms);
		finish(sm, -ETIMEDOUT, acts);
	}
}

/* The stop of a hand-over (then release and transfer) or of a fence. */
void ldr__done_stop(struct ldr_sm *sm, int status, uint64_t now, struct ldr_actions *acts)
{
	sm->pg.ok = false;
	sm->pg.streaming = false;
	sm->pg_retry_ms = now + sm->set.retry_ms;
	if (!status) {
		sm->pg_down = true;
		sm->must_stop = false;
	}
	if (sm->state != LDR_LEADER || !sm->handover_target)
		return;
	if (status) {
		sm->fence_cause = LDR__FENCE_STOP_FAILED;
		return;
	}
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_LEASE_RELEASE, .epoch = sm->epoch});
	ldr__transfer(sm, sm->handover_target, now, acts);
	sm->handover_target = 0;
	ldr__move(sm, LDR_WAITING_FOR_LEADER, acts);
}
