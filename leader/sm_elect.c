/*
 * leader/sm_elect.c — report rounds and the choice of candidate: rules 3
 * (step down) and 4 (elect) of docs/leader.md §7, the choice of §3:
 *
 * "It decides only when a majority of voters (itself included) answered
 * with an LSN. Let M be the highest (timeline, LSN) among those answers.
 * The candidate is an eligible answering node at M — this node on a tie,
 * else the lowest id."
 *
 * While an operator's demote or promote runs, its target takes this node's
 * place in the tie-break (it is the node the operator asked for).
 */
#include <stdio.h>
#include <string.h>

#include "sm_internal.h"

static int pos_cmp(uint32_t a_tl, uint64_t a_lsn, uint32_t b_tl, uint64_t b_lsn)
{
	if (a_tl != b_tl)
		return a_tl < b_tl ? -1 : 1;
	if (a_lsn != b_lsn)
		return a_lsn < b_lsn ? -1 : 1;
	return 0;
}

const struct ldr_report *ldr__find(const struct ldr__round *rd, uint64_t id)
{
	unsigned i;

	for (i = 0; i < rd->n; i++)
		if (rd->r[i].id == id)
			return &rd->r[i];
	return NULL;
}

bool ldr__at_m(const struct ldr__round *rd, const struct ldr_report *r)
{
	return r->has_lsn && pos_cmp(r->timeline, r->lsn, rd->m_tl, rd->m_lsn) == 0;
}

/* Every voter answered or gave up (id 0), or a majority answered with an
 * LSN: any majority holds every acknowledged commit (docs/leader.md §3), so
 * the slowest (a dead or cut-off node's timeout) need not be waited for --
 * unless it is the node a `promote` names, whose own answer decides. */
bool ldr_round_settled(const struct ldr_sm *sm, const struct ldr_report *reports,
		       const bool *answered, unsigned n)
{
	unsigned i, with_lsn = 0, settled = 0;
	bool target_open = false;

	for (i = 0; i < n; i++) {
		bool done = answered[i] || reports[i].id == 0;

		settled += done;
		with_lsn += answered[i] && reports[i].has_lsn;
		target_open |=
			!done && sm->cmd == LDR_CMD_PROMOTE && reports[i].id == sm->cmd_target;
	}
	return settled == n || (with_lsn > n / 2 && !target_open);
}

/* "at most max_bytes_behind_leader behind" ref (the holder's flush LSN, or M). */
unsigned ldr__lag_block(const struct ldr_sm *sm, const struct ldr_report *r, uint64_t ref_lsn)
{
	uint64_t max = sm->set.max_bytes_behind;

	if (!max || !r->has_lsn || r->lsn >= ref_lsn)
		return 0;
	return ref_lsn - r->lsn > max ? LDR_BLOCK_LAG : 0;
}

/* "cluster failover off blocks every node except last_holder": this node
 * applies its own view of the switch to every answer. */
static void add_report(const struct ldr_sm *sm, struct ldr__round *rd, const struct ldr_report *r)
{
	struct ldr_report *dst;
	unsigned i;

	if (rd->n >= LDR_MAX_NODES || ldr__find(rd, r->id) || !ldr__is_voter(sm, r->id))
		return;
	for (i = rd->n++; i > 0 && rd->r[i - 1].id > r->id; i--) /* kept in id order */
		rd->r[i] = rd->r[i - 1];
	dst = &rd->r[i];
	*dst = *r;
	/* The cluster switch is the deciding node's view alone: a follower's
	 * own may lag a heartbeat behind (set-cluster-failover on, then at
	 * once demote). */
	dst->blocks &= ~(unsigned)LDR_BLOCK_CLUSTER;
	if (sm->cluster_blocked && r->id != sm->last_holder)
		dst->blocks |= LDR_BLOCK_CLUSTER;
	if (!r->has_lsn)
		return;
	if (!rd->n_lsn++ || pos_cmp(r->timeline, r->lsn, rd->m_tl, rd->m_lsn) > 0) {
		rd->m_tl = r->timeline;
		rd->m_lsn = r->lsn;
	}
}

/* The voters' answers, each once, by id; this node's own if the round lacks it. */
static void gather(const struct ldr_sm *sm, const struct ldr_event *ev, struct ldr__round *rd)
{
	unsigned i, n = ev->u.reports.n > LDR_MAX_NODES ? LDR_MAX_NODES : ev->u.reports.n;
	struct ldr_report self;

	memset(rd, 0, sizeof *rd);
	for (i = 0; i < n; i++)
		add_report(sm, rd, &ev->u.reports.r[i]);
	ldr_self_report(sm, &self);
	add_report(sm, rd, &self);
}

void ldr__collect(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_COLLECT});
	sm->collecting = true;
	sm->collect_deadline_ms = now + 2 * sm->set.collect_timeout_ms;
	sm->next_round_ms = now + sm->set.retry_ms;
}

/* The orchestrator bounds a round by collect_timeout and always answers;
 * a round unanswered after twice that is dropped (rule 4 starts another). */
void ldr__round_timeout(struct ldr_sm *sm, uint64_t now)
{
	if (!sm->collecting || now < sm->collect_deadline_ms)
		return;
	sm->collecting = false;
	ldr__why(sm, "report round unanswered");
}

void ldr__transfer(struct ldr_sm *sm, uint64_t target, uint64_t now, struct ldr_actions *acts)
{
	ldr__emit(sm, acts, (struct ldr_action){.type = LDR_ACT_TRANSFER, .target = target});
	sm->next_round_ms = now + sm->set.retry_ms;
}

/* A start of this node's PostgreSQL in flight does not hold the election
 * up: its own report has no position until the start is done, so it can
 * only hand leadership to another node. (A standby that cannot reach a
 * consistent state without an upstream takes the whole ready timeout, 60 s,
 * to fail: found by the fault harness, seed 200.) */
bool ldr__elect_armed(const struct ldr_sm *sm)
{
	return sm->raft_leader && sm->holder == 0 && !sm->collecting && !sm->acquiring &&
	       (ldr__pg_idle(sm) || sm->pg_busy == LDR_ACT_PG_START) && sm->n_voters > 0 &&
	       (sm->state == LDR_WAITING_FOR_LEADER || sm->state == LDR_DEPOSED_LEADER);
}

/* Rule 4: "Raft leader, no holder, nothing in flight: COLLECT (at most
 * every retry_ms)". */
void ldr__elect_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	if (ldr__elect_armed(sm) && now >= sm->next_round_ms)
		ldr__collect(sm, now, acts);
}

bool ldr__stepdown_armed(const struct ldr_sm *sm)
{
	return sm->state == LDR_LEADER && (sm->blocks & LDR__STEP_DOWN_BLOCKS) &&
	       !sm->handover_target && !sm->collecting && sm->cmd < 0;
}

/* Rule 3: a leader past its health limits looks for a node to hand over to,
 * at most every retry_ms; failover switches never make it step down. */
void ldr__stepdown_rule(struct ldr_sm *sm, uint64_t now, struct ldr_actions *acts)
{
	char text[96];

	if (!ldr__stepdown_armed(sm) || now < sm->next_round_ms)
		return;
	ldr_block_describe(sm->blocks & LDR__STEP_DOWN_BLOCKS, text, sizeof text);
	ldr__why(sm, "stepping down: %s", text);
	ldr__collect(sm, now, acts);
}

/* "Candidate: an eligible answering node at M — this node (or the
 * command's target) on a tie, else the lowest id." */
static uint64_t candidate(const struct ldr_sm *sm, const struct ldr__round *rd)
{
	uint64_t prefer = sm->cmd >= 0 && sm->cmd_target ? sm->cmd_target : sm->set.self_id;
	uint64_t best = 0;
	unsigned i;

	for (i = 0; i < rd->n; i++) {
		const struct ldr_report *r = &rd->r[i];

		if (!ldr__at_m(rd, r) || r->blocks)
			continue;
		if (r->id == prefer)
			return prefer;
		if (!best || r->id < best)
			best = r->id;
	}
	return best;
}

/* "node 1: elasticsearch unhealthy; node 3: node failover off" for why. */
void ldr__describe_at_m(const struct ldr__round *rd, char *out, size_t size)
{
	size_t len = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < rd->n && len < size; i++) {
		char blocks[96];

		if (!ldr__at_m(rd, &rd->r[i]))
			continue;
		ldr_block_describe(rd->r[i].blocks, blocks, sizeof blocks);
		len += (size_t)snprintf(out + len, size - len, "%snode %llu: %s", len ? "; " : "",
					(unsigned long long)rd->r[i].id, blocks);
	}
}

static void elect_decide(struct ldr_sm *sm, const struct ldr__round *rd, uint64_t now,
			 struct ldr_actions *acts)
{
	unsigned need = sm->n_voters / 2 + 1;
	char text[96];
	uint64_t c;

	if (rd->n_lsn < need) {
		ldr__why(sm, "no majority of voters reported a position (%u of %u, %u needed)",
			 rd->n_lsn, sm->n_voters, need);
		return;
	}
	c = candidate(sm, rd);
	if (!c) {
		ldr__describe_at_m(rd, text, sizeof text);
		ldr__why(sm, "no eligible node at the highest position (%s)", text);
	} else if (c == sm->set.self_id) {
		ldr__acquire(sm, now, acts);
	} else {
		ldr__why(sm, "node %llu is the candidate", (unsigned long long)c);
		ldr__transfer(sm, c, now, acts);
	}
}

/* The best other eligible node for a handover: highest position, no more
 * than max_bytes_behind behind this holder; the lowest id on a tie. */
uint64_t ldr__best_other(const struct ldr_sm *sm, const struct ldr__round *rd)
{
	const struct ldr_report *best = NULL;
	unsigned i;

	for (i = 0; i < rd->n; i++) {
		const struct ldr_report *r = &rd->r[i];
		int c;

		if (r->id == sm->set.self_id || !r->has_lsn ||
		    (r->blocks | ldr__lag_block(sm, r, sm->pg.lsn)))
			continue;
		c = best ? pos_cmp(r->timeline, r->lsn, best->timeline, best->lsn) : 1;
		if (c > 0 || (c == 0 && r->id < best->id))
			best = r;
	}
	return best ? best->id : 0;
}

void ldr__on_reports(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now,
		     struct ldr_actions *acts)
{
	struct ldr__round rd;

	if (!sm->collecting) {
		sm->ignored++;
		return;
	}
	sm->collecting = false;
	gather(sm, ev, &rd);
	if (sm->cmd_wait_reports)
		ldr__cmd_reports(sm, &rd, now, acts);
	else if (ldr__holding(sm))
		ldr__handover_decide(sm, &rd, acts);
	else if (ldr__elect_armed(sm))
		elect_decide(sm, &rd, now, acts);
	else
		sm->ignored++;
}
