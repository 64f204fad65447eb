/*
 * leader/'s state machine (docs/leader.md §7) on a virtual clock.
 *
 * Golden traces: a fixture drives (now, event) pairs through ldr_step and
 * writes every action (ldr_action_format) and every state move, in the
 * order the step made them, as "t=1500 ACT LEASE_RENEW" and "t=1700 STATE
 * leader -> deposed_leader"; each test compares the whole trace. Every
 * step also checks the invariants the randomized tests at the end check:
 * SERVE on only while holding an acquired epoch, never serving at or after
 * valid_until, every move in the transition table, PG_PROMOTE only after
 * ACQUIRED, the next deadline always in the future.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "leader.h"
#include "unit.h"

#define SELF 1

static const struct ldr_settings base_settings = {
	.self_id = SELF,
	.ttl_ms = 1500,
	.renew_ms = 100,
	.fence_budget_ms = 200,
	.rho_ppm = 10000,
	.collect_timeout_ms = 500,
	.retry_ms = 1000,
	.follow_timeout_ms = 5000,
	.switchover_timeout_ms = 10000,
	.max_pg_failures = 3,
	.max_es_failures = 3,
	.es_enabled = true,
	.fatal_system_checks = false,
	.max_bytes_behind = 0x100000,
	.quorum_sync = true,
	.promote_hold_ms = 8000,
};

/* --- the fixture: one state machine, its trace, a queue of answers ------- */

#define QUEUE_MAX 16

struct pending {
	uint64_t at;
	struct ldr_event ev;
};

struct fx {
	struct ldr_sm sm;
	uint64_t now;
	char trace[16384];
	size_t len;
	unsigned quiet;			      /* action types (bits) counted, not written */
	unsigned count[LDR_ACT_CMD_DONE + 1]; /* actions seen, by type */
	bool auto_renew;		      /* answer LEASE_RENEW with RENEWED 5 ms later */
	bool silent;			      /* no trace (randomized runs) */
	bool acquired;			      /* ACQUIRED seen and not fenced since */
	uint64_t acquired_epoch;	      /* the last ACQUIRED's epoch */
	unsigned n_queue;
	struct pending queue[QUEUE_MAX];
};

static void say(struct fx *f, const char *fmt, const char *a, const char *b)
{
	size_t room;
	int n;

	if (f->silent)
		return;
	room = sizeof f->trace - f->len;
	n = snprintf(f->trace + f->len, room, "t=%llu ", (unsigned long long)f->now);

	f->len += (size_t)n;
	n = snprintf(f->trace + f->len, sizeof f->trace - f->len, fmt, a, b);
	f->len += (size_t)n;
	assert_true(f->len < sizeof f->trace);
}

static void enqueue(struct fx *f, uint64_t at, struct ldr_event ev)
{
	assert_true(f->n_queue < QUEUE_MAX);
	f->queue[f->n_queue++] = (struct pending){at, ev};
}

static void record_action(struct fx *f, const struct ldr_action *a)
{
	char line[128];

	f->count[a->type]++;
	if (a->type == LDR_ACT_LEASE_RENEW && f->auto_renew)
		enqueue(f, f->now + 5,
			(struct ldr_event){.type = LDR_EV_RENEWED, .u.sent_ms = f->now});
	if (f->silent || (f->quiet & (1u << a->type)))
		return;
	ldr_action_format(a, line, sizeof line);
	say(f, "ACT %s%s\n", line, "");
}

/* The invariants of docs/leader.md §4 and §7 after one step. */
static void check_step(struct fx *f, const struct ldr_actions *acts, unsigned i)
{
	const struct ldr_action *a = &acts->a[i];

	if (a->type == LDR_ACT_PG_PROMOTE) {
		assert_true(f->acquired);
		assert_int_equal(a->epoch, f->acquired_epoch);
	}
	if (a->type == LDR_ACT_SERVE && a->on) {
		assert_true(f->acquired);
		assert_int_equal(f->sm.state, LDR_LEADER);
		assert_int_equal(f->sm.epoch, f->acquired_epoch);
	}
}

static void check_after(struct fx *f)
{
	unsigned i;

	for (i = 0; i < f->sm.n_moves; i++)
		assert_true(ldr_transition_allowed(f->sm.moves[i].from, f->sm.moves[i].to));
	if (ldr_serving(&f->sm))
		assert_true(f->now < f->sm.valid_until_ms);
	assert_true(ldr_next_deadline(&f->sm) > f->now);
	assert_int_equal(f->sm.bad_moves, 0);
}

static void step_acts(struct fx *f, uint64_t now, struct ldr_event ev, struct ldr_actions *ret)
{
	struct ldr_actions acts = {0};
	unsigned i, m = 0;

	assert_true(now >= f->now);
	f->now = now;
	if (ev.type == LDR_EV_ACQUIRED && !ldr_serving(&f->sm) && f->sm.acquiring) {
		f->acquired = true;
		f->acquired_epoch = ev.u.epoch;
	}
	ldr_step(&f->sm, &ev, now, &acts);
	for (i = 0; i <= acts.n; i++) {
		for (; m < f->sm.n_moves && f->sm.moves[m].after == i; m++)
			say(f, "STATE %s -> %s\n", ldr_state_name(f->sm.moves[m].from),
			    ldr_state_name(f->sm.moves[m].to));
		if (i == acts.n)
			break;
		check_step(f, &acts, i);
		record_action(f, &acts.a[i]);
	}
	if (f->sm.state == LDR_DEPOSED_LEADER || f->sm.state == LDR_WAITING_FOR_LEADER)
		f->acquired = false;
	check_after(f);
	if (ret)
		*ret = acts;
}

static bool pop_due(struct fx *f, uint64_t until, struct pending *ret)
{
	unsigned i, best = 0;

	if (!f->n_queue)
		return false;
	for (i = 1; i < f->n_queue; i++)
		if (f->queue[i].at < f->queue[best].at)
			best = i;
	if (f->queue[best].at > until || f->queue[best].at > ldr_next_deadline(&f->sm))
		return false;
	*ret = f->queue[best];
	f->queue[best] = f->queue[--f->n_queue];
	return true;
}

/* Virtual time passes to `until`: queued answers and ticks at deadlines. */
static void run_until(struct fx *f, uint64_t until)
{
	struct pending p;
	uint64_t d;

	for (;;) {
		if (pop_due(f, until, &p)) {
			step_acts(f, p.at < f->now ? f->now : p.at, p.ev, NULL);
			continue;
		}
		d = ldr_next_deadline(&f->sm);
		if (d > until)
			break;
		step_acts(f, d, (struct ldr_event){.type = LDR_EV_TICK}, NULL);
	}
	if (until > f->now)
		f->now = until;
}

/* An event at `now`, after the timers (and queued answers) due before it:
 * how the orchestrator runs the machine. */
static void step(struct fx *f, uint64_t now, struct ldr_event ev)
{
	run_until(f, now);
	step_acts(f, now, ev, NULL);
}

static void fx_init(struct fx *f, const struct ldr_settings *set)
{
	memset(f, 0, sizeof *f);
	ldr_init(&f->sm, set);
}

/* The trace's last n lines. */
static const char *last_lines(const char *trace, int n)
{
	const char *p = trace + strlen(trace);

	if (p > trace)
		p--; /* the last newline */
	while (p > trace && (p[-1] != '\n' || --n > 0))
		p--;
	return p;
}

static void clear_trace(struct fx *f)
{
	f->len = 0;
	f->trace[0] = '\0';
	memset(f->count, 0, sizeof f->count);
}

/* --- events -------------------------------------------------------------- */

static struct ldr_event ev(enum ldr_event_type t)
{
	return (struct ldr_event){.type = t};
}

static struct ldr_event raft_n(bool leader, uint64_t leader_id, unsigned n)
{
	struct ldr_event e = ev(LDR_EV_RAFT);
	unsigned i;

	e.u.raft.leader = leader;
	e.u.raft.leader_id = leader_id;
	e.u.raft.n_voters = n;
	for (i = 0; i < n; i++)
		e.u.raft.voters[i] = i + 1;
	return e;
}

static struct ldr_event raft(bool leader, uint64_t leader_id)
{
	return raft_n(leader, leader_id, 3);
}

static struct ldr_event holder(uint64_t id, uint64_t epoch)
{
	struct ldr_event e = ev(LDR_EV_HOLDER);

	e.u.holder.id = id;
	e.u.holder.epoch = epoch;
	return e;
}

static struct ldr_event control(bool cluster_blocked, bool node_blocked, uint64_t last_holder,
				uint64_t last_epoch)
{
	struct ldr_event e = ev(LDR_EV_CONTROL);

	e.u.control.cluster_blocked = cluster_blocked;
	e.u.control.node_blocked = node_blocked;
	e.u.control.last_holder = last_holder;
	e.u.control.last_epoch = last_epoch;
	return e;
}

static struct ldr_event standby(uint64_t lsn, uint64_t upstream, bool streaming)
{
	struct ldr_event e = ev(LDR_EV_PG);

	e.u.pg = (struct ldr_pg_sample){.ok = true,
					.in_recovery = true,
					.timeline = 1,
					.lsn = lsn,
					.streaming = streaming,
					.upstream = upstream};
	return e;
}

static struct ldr_event primary(uint64_t lsn)
{
	struct ldr_event e = ev(LDR_EV_PG);

	e.u.pg = (struct ldr_pg_sample){.ok = true, .timeline = 2, .lsn = lsn};
	return e;
}

static struct ldr_event pg_fail(void)
{
	return ev(LDR_EV_PG); /* ok = false */
}

static struct ldr_event health(enum ldr_event_type t, bool ok)
{
	struct ldr_event e = ev(t);

	e.u.ok = ok;
	return e;
}

static struct ldr_event done(enum ldr_action_type a, int status)
{
	struct ldr_event e = ev(LDR_EV_DONE);

	e.u.done.action = (int)a;
	e.u.done.status = status;
	return e;
}

static struct ldr_event acquired(uint64_t epoch)
{
	struct ldr_event e = ev(LDR_EV_ACQUIRED);

	e.u.epoch = epoch;
	return e;
}

static struct ldr_event renewed(uint64_t sent_ms)
{
	struct ldr_event e = ev(LDR_EV_RENEWED);

	e.u.sent_ms = sent_ms;
	return e;
}

static struct ldr_event cmd(enum ldr_cmd kind, uint64_t target)
{
	struct ldr_event e = ev(LDR_EV_CMD);

	e.u.cmd.kind = kind;
	e.u.cmd.target = target;
	return e;
}

/* A report: {id, has_lsn, timeline, lsn, blocks}. */
#define REP(id, lsn, blocks)                                                                       \
	{                                                                                          \
		(id), true, 1, (lsn), (blocks)                                                     \
	}
#define NOREP(id)                                                                                  \
	{                                                                                          \
		(id), false, 0, 0, 0                                                               \
	}

static struct ldr_event reports(unsigned n, const struct ldr_report *r)
{
	struct ldr_event e = ev(LDR_EV_REPORTS);

	e.u.reports.n = n;
	if (n)
		memcpy(e.u.reports.r, r, n * sizeof *r);
	return e;
}

#define REPORTS(...)                                                                               \
	reports(sizeof((struct ldr_report[]){__VA_ARGS__}) / sizeof(struct ldr_report),            \
		(struct ldr_report[]){__VA_ARGS__})

/* --- scenarios' common openings ------------------------------------------ */

/* Node 1 of {1,2,3} wins the first election at 0x3000 and serves at t=110. */
static void elect_self(struct fx *f)
{
	step(f, 0, raft(false, 0));
	step(f, 0, standby(0x3000, 0, false));
	step(f, 10, raft(true, SELF));
	step(f, 20, REPORTS(REP(1, 0x3000, 0), REP(2, 0x2000, 0), NOREP(3)));
	step(f, 30, acquired(1));
	step(f, 30, holder(SELF, 1));
	step(f, 100, done(LDR_ACT_PG_PROMOTE, 0));
	step(f, 110, done(LDR_ACT_PG_SYNC, 0));
}

/* A leader renewing on its own, the trace cleared: renewals only counted. */
static void leader_fx(struct fx *f)
{
	fx_init(f, &base_settings);
	elect_self(f);
	assert_true(ldr_serving(&f->sm));
	clear_trace(f);
	f->auto_renew = true;
	f->quiet = 1u << LDR_ACT_LEASE_RENEW;
}

/* Node 2 following holder 1 (epoch 1), streaming, the trace cleared. */
static void follower_fx(struct fx *f)
{
	struct ldr_settings s = base_settings;

	s.self_id = 2;
	fx_init(f, &s);
	step(f, 0, raft(false, 1));
	step(f, 0, holder(1, 1));
	step(f, 0, standby(0x3000, 1, true));
	assert_int_equal(f->sm.state, LDR_FOLLOWER);
	clear_trace(f);
}

/* --- elections (rule 4, §3) ---------------------------------------------- */

static void election_self_best(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	elect_self(&f);
	run_until(&f, 135);
	step(&f, 135, renewed(130));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT LEASE_ACQUIRE epoch=1\n"
				     "t=30 STATE waiting_for_leader -> promoting\n"
				     "t=30 ACT PG_PROMOTE epoch=1\n"
				     "t=100 STATE promoting -> leader\n"
				     "t=100 ACT PG_SYNC k=1\n"
				     "t=110 ACT SERVE on\n"
				     "t=130 ACT LEASE_RENEW\n");
	assert_true(ldr_serving(&f.sm));
	assert_int_equal(f.sm.epoch, 1);
	assert_int_equal(f.sm.valid_until_ms, 130 + 1285);
	assert_int_equal(f.sm.failovers, 1);
	assert_int_equal(ldr_next_deadline(&f.sm), 230);
}

/* A follower's report still carries "cluster failover off" from before
 * the switch went back on: the deciding node's view counts alone. */
static void election_ignores_stale_cluster_block(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x2000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20,
	     REPORTS(REP(1, 0x2000, 0), REP(2, 0x3000, LDR_BLOCK_CLUSTER), REP(3, 0x1000, 0)));
	assert_string_equal(f.sm.why, "node 2 is the candidate");
	assert_string_equal(last_lines(f.trace, 1), "t=20 ACT TRANSFER 2\n");
}

static void election_transfers_to_best(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x2000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x2000, 0), REP(3, 0x3000, 0), REP(2, 0x3000, 0)));
	assert_string_equal(f.sm.why, "node 2 is the candidate");
	step(&f, 40, raft(false, 2));
	step(&f, 60, holder(2, 1));
	step(&f, 300, done(LDR_ACT_PG_FOLLOW, 0));
	step(&f, 400, standby(0x3000, 2, true));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT TRANSFER 2\n"
				     "t=60 ACT PG_FOLLOW 2 reconf\n"
				     "t=400 STATE waiting_for_leader -> follower\n");
	assert_string_equal(f.sm.why, "");
}

static void election_needs_majority(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x3000, 0), NOREP(2), NOREP(3)));
	assert_string_equal(f.sm.why,
			    "no majority of voters reported a position (1 of 3, 2 needed)");
	assert_int_equal(ldr_next_deadline(&f.sm), 10 + 1000);
	run_until(&f, 1500); /* the second round is not answered: dropped at 2 x 500 */
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=1010 ACT COLLECT\n");
	run_until(&f, 2010);
	assert_string_equal(f.sm.why, "report round unanswered");
	assert_int_equal(f.count[LDR_ACT_COLLECT], 3);
	assert_int_equal(f.count[LDR_ACT_LEASE_ACQUIRE], 0);
}

static void election_best_ineligible(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 1, health(LDR_EV_ES, false));
	step(&f, 2, health(LDR_EV_ES, false));
	step(&f, 3, health(LDR_EV_ES, false));
	step(&f, 10, raft(true, SELF));
	/* this node's own answer is not in the round: the machine adds it */
	step(&f, 20, REPORTS(REP(2, 0x2000, 0), REP(3, 0x2000, 0)));
	assert_string_equal(f.sm.why, "no eligible node at the highest position "
				      "(node 1: elasticsearch unhealthy)");
	step(&f, 1010, health(LDR_EV_ES, true)); /* healthy again: the next round elects */
	step(&f, 1020, REPORTS(REP(2, 0x2000, 0), REP(3, 0x2000, 0)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=1010 ACT COLLECT\n"
				     "t=1020 ACT LEASE_ACQUIRE epoch=1\n");
}

static void election_remote_ineligible(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x2000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20,
	     REPORTS(REP(1, 0x2000, 0), REP(2, 0x3000, LDR_BLOCK_ES | LDR_BLOCK_PG), NOREP(3)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n");
	assert_string_equal(f.sm.why, "no eligible node at the highest position (node 2: "
				      "postgresql unhealthy, elasticsearch unhealthy)");
}

/* The timeline ranks before the LSN (M is the highest (timeline, lsn)). */
static void election_timeline_first(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x9000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x9000, 0), {2, true, 2, 0x1000, 0}, NOREP(3)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT TRANSFER 2\n");
}

/* --- the lease (rules 1 and 2, §4) --------------------------------------- */

static void renewal_keeps_leader_serving(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	run_until(&f, 10110);
	assert_string_equal(f.trace, "");
	assert_int_equal(f.count[LDR_ACT_LEASE_RENEW], 100);
	assert_true(ldr_serving(&f.sm));
	assert_int_equal(f.sm.valid_until_ms, 10030 + 1285);
}

static void renewals_stop_fence_at_valid_until(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	run_until(&f, 2000);
	f.auto_renew = false; /* 1930's renewal was the last confirmed one */
	assert_int_equal(f.sm.valid_until_ms, 1930 + 1285);
	run_until(&f, 3214);
	assert_true(ldr_serving(&f.sm));
	run_until(&f, 5000);
	assert_string_equal(f.trace, "t=3215 ACT SERVE off\n"
				     "t=3215 ACT PG_STOP immediate\n"
				     "t=3215 ACT NO_START on\n"
				     "t=3215 ACT LEASE_RELEASE epoch=1\n"
				     "t=3215 STATE leader -> deposed_leader\n");
	assert_string_equal(f.sm.why, "fenced: lease validity ended");
	assert_false(ldr_serving(&f.sm));
}

static void raft_loss_fences_at_once(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	run_until(&f, 500);
	step(&f, 500, raft(false, 2));
	assert_string_equal(f.trace, "t=500 ACT SERVE off\n"
				     "t=500 ACT PG_STOP immediate\n"
				     "t=500 ACT NO_START on\n"
				     "t=500 ACT LEASE_RELEASE epoch=1\n"
				     "t=500 STATE leader -> deposed_leader\n");
	assert_string_equal(f.sm.why, "fenced: no longer Raft leader");
}

static void renew_refused_fences(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	f.auto_renew = false;
	run_until(&f, 230);
	step(&f, 240, ev(LDR_EV_RENEW_FAILED));
	step(&f, 250, holder(SELF, 1)); /* late news about the old lease: nothing */
	assert_string_equal(f.trace, "t=240 ACT SERVE off\n"
				     "t=240 ACT PG_STOP immediate\n"
				     "t=240 ACT NO_START on\n"
				     "t=240 ACT LEASE_RELEASE epoch=1\n"
				     "t=240 STATE leader -> deposed_leader\n");
}

static void holder_key_change_fences(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 50 + 110, holder(0, 0));
	assert_string_equal(f.sm.why, "fenced: pg/leader no longer names this node");
	assert_int_equal(f.sm.state, LDR_DEPOSED_LEADER);
}

/* §4 "Stalls": a stall of 1.1 s after the renewal timer came due. */
static void stall_renews_inside_validity(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	run_until(&f, 1000); /* last renewal sent at 930, confirmed at 935 */
	assert_int_equal(f.sm.valid_until_ms, 930 + 1285);
	f.quiet = 0;
	f.auto_renew = false;
	step_acts(&f, 1030 + 1100, ev(LDR_EV_TICK), NULL); /* woke 1.1 s late */
	step(&f, 2135, renewed(2130));
	assert_string_equal(f.trace, "t=2130 ACT LEASE_RENEW\n");
	assert_true(ldr_serving(&f.sm));
	assert_int_equal(f.sm.valid_until_ms, 2130 + 1285);
}

static void stall_past_validity_fences(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	run_until(&f, 1000);
	f.quiet = 0;
	step_acts(&f, 930 + 1285, ev(LDR_EV_TICK), NULL); /* woke exactly at valid_until */
	assert_string_equal(f.trace, "t=2215 ACT SERVE off\n"
				     "t=2215 ACT PG_STOP immediate\n"
				     "t=2215 ACT NO_START on\n"
				     "t=2215 ACT LEASE_RELEASE epoch=1\n"
				     "t=2215 STATE leader -> deposed_leader\n");
}

static void promote_failure_fences(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x3000, 0), REP(2, 0x3000, 0)));
	step(&f, 30, acquired(1));
	step(&f, 90, done(LDR_ACT_PG_PROMOTE, -EIO));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT LEASE_ACQUIRE epoch=1\n"
				     "t=30 STATE waiting_for_leader -> promoting\n"
				     "t=30 ACT PG_PROMOTE epoch=1\n"
				     "t=90 ACT SERVE off\n"
				     "t=90 ACT PG_STOP immediate\n"
				     "t=90 ACT NO_START on\n"
				     "t=90 ACT LEASE_RELEASE epoch=1\n"
				     "t=90 STATE promoting -> deposed_leader\n");

	/* It stands aside for promote_hold_ms: at M and preferring itself on a
	 * tie, it would otherwise win the next round and fail again (CI,
	 * pg-promotefail, when pg_wal came back too late). */
	f.len = 0;
	f.trace[0] = '\0';
	step(&f, 100, done(LDR_ACT_PG_STOP, 0));
	step(&f, 110, holder(0, 1));
	step(&f, 400, standby(0x3000, 0, false));
	assert_true(f.sm.blocks & LDR_BLOCK_PROMOTE);
	step(&f, f.sm.next_round_ms, ev(LDR_EV_TICK));
	step(&f, f.now + 20, REPORTS(REP(2, 0x3000, 0), REP(3, 0x3000, 0)));
	assert_string_equal(f.trace, "t=1010 ACT COLLECT\n"
				     "t=1030 ACT TRANSFER 2\n");
	assert_true(ldr_next_deadline(&f.sm) <= 90 + 8000);
	/* The hold over, it is a candidate again (no other node answered). */
	step(&f, 90 + 8000, ev(LDR_EV_TICK));
	assert_false(f.sm.blocks & LDR_BLOCK_PROMOTE);
}

/* An acquisition answered after Raft leadership moved is handed back. */
static void late_acquire_released(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x3000, 0), REP(2, 0x3000, 0)));
	step(&f, 25, raft(false, 2));
	step(&f, 30, acquired(1));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT LEASE_ACQUIRE epoch=1\n"
				     "t=30 ACT LEASE_RELEASE epoch=1\n");
}

/* --- health and stepping down (rule 3) ----------------------------------- */

static void pg_flapping_never_steps_down(void **state)
{
	struct fx f;
	uint64_t t = 200;
	int round, i;

	(void)state;
	leader_fx(&f);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < 2; i++, t += 100) { /* max_pg_failures - 1 */
			run_until(&f, t);
			step(&f, t, pg_fail());
		}
		run_until(&f, t);
		step(&f, t, primary(0x5000));
		t += 100;
	}
	run_until(&f, t);
	assert_string_equal(f.trace, "");
	assert_true(ldr_serving(&f.sm));
}

static void pg_failures_step_down(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1100, primary(0x5000));
	step(&f, 1200, pg_fail());
	step(&f, 1300, pg_fail());
	assert_string_equal(f.trace, "");
	step(&f, 1400, pg_fail());
	step(&f, 1410, REPORTS(REP(2, 0x4f00, 0), REP(3, 0x4f80, 0)));
	assert_true(ldr_serving(&f.sm)); /* still, during the checkpoint */
	step(&f, 1450, done(LDR_ACT_PG_CHECKPOINT, 0));
	step(&f, 1500, done(LDR_ACT_PG_STOP, 0));
	step(&f, 1510, raft(false, 3));
	step(&f, 1530, holder(3, 2));
	assert_string_equal(f.trace, "t=1400 ACT COLLECT\n"
				     "t=1410 ACT PG_CHECKPOINT\n"
				     "t=1450 ACT SERVE off\n"
				     "t=1450 ACT PG_STOP fast\n"
				     "t=1500 ACT LEASE_RELEASE epoch=1\n"
				     "t=1500 ACT TRANSFER 3\n"
				     "t=1500 STATE leader -> waiting_for_leader\n"
				     "t=1530 ACT PG_FOLLOW 3 reconf\n");
}

static void es_failures_step_down(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1100, primary(0x5000));
	step(&f, 1200, health(LDR_EV_ES, false));
	step(&f, 1300, health(LDR_EV_ES, false));
	step(&f, 1400, health(LDR_EV_ES, false));
	assert_string_equal(f.sm.why, "stepping down: elasticsearch unhealthy");
	step(&f, 1410, REPORTS(REP(2, 0x4f00, 0), REP(3, 0x4000, 0)));
	step(&f, 1450, done(LDR_ACT_PG_CHECKPOINT, -EIO)); /* only made the stop shorter */
	step(&f, 1500, done(LDR_ACT_PG_STOP, 0));
	assert_string_equal(f.trace, "t=1400 ACT COLLECT\n"
				     "t=1410 ACT PG_CHECKPOINT\n"
				     "t=1450 ACT SERVE off\n"
				     "t=1450 ACT PG_STOP fast\n"
				     "t=1500 ACT LEASE_RELEASE epoch=1\n"
				     "t=1500 ACT TRANSFER 2\n"
				     "t=1500 STATE leader -> waiting_for_leader\n");
}

/* Nobody to hand over to: it keeps leading, and asks again every retry_ms. */
static void step_down_without_target_keeps_leading(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, primary(0x300000));
	step(&f, 1100, health(LDR_EV_ES, false));
	step(&f, 1200, health(LDR_EV_ES, false));
	step(&f, 1300, health(LDR_EV_ES, false));
	/* node 2 is more than max_bytes_behind (1 MiB) behind this leader */
	step(&f, 1310, REPORTS(REP(2, 0x100000, 0), REP(3, 0x2f0000, LDR_BLOCK_ES)));
	assert_string_equal(f.sm.why, "cannot step down: no eligible node to take over");
	run_until(&f, 2400);
	assert_string_equal(f.trace, "t=1300 ACT COLLECT\n"
				     "t=2300 ACT COLLECT\n");
	assert_true(ldr_serving(&f.sm));
}

static void pg_exit_fences_leader(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 700, ev(LDR_EV_PG_EXIT));
	assert_string_equal(f.trace, "t=700 ACT SERVE off\n"
				     "t=700 ACT PG_STOP immediate\n"
				     "t=700 ACT NO_START on\n"
				     "t=700 ACT LEASE_RELEASE epoch=1\n"
				     "t=700 STATE leader -> deposed_leader\n");
}

static void disk_blocks_only_when_fatal(void **state)
{
	struct ldr_settings s = base_settings;
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 700, health(LDR_EV_DISK, false));
	assert_string_equal(f.trace, "");
	assert_int_equal(f.sm.blocks, 0);
	s.fatal_system_checks = true;
	fx_init(&f, &s);
	step(&f, 0, health(LDR_EV_DISK, false));
	assert_int_equal(f.sm.blocks, LDR_BLOCK_DISK);
}

/* --- failover switches ----------------------------------------------------- */

static void cluster_failover_off_blocks_all_but_last_holder(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, control(true, false, 2, 4));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x3000, 0), REP(3, 0x3000, 0), REP(2, 0x2000, 0)));
	assert_string_equal(f.sm.why, "no eligible node at the highest position (node 1: "
				      "cluster failover off; node 3: cluster failover off)");
	run_until(&f, 1010);
	step(&f, 1020, REPORTS(REP(1, 0x3000, 0), REP(3, 0x3000, 0), REP(2, 0x3000, 0)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=1010 ACT COLLECT\n"
				     "t=1020 ACT TRANSFER 2\n");
}

static void cluster_failover_off_leader_keeps_leading(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, control(true, false, SELF, 1));
	run_until(&f, 5000);
	step(&f, 5000, cmd(LDR_CMD_DEMOTE, 0));
	assert_string_equal(f.trace, "t=5000 ACT CMD_DONE demote 0 EPERM\n");
	assert_string_equal(f.sm.why, "demote: cluster failover is off");
	assert_true(ldr_serving(&f.sm));
}

/* The last holder may acquire again with cluster failover off. */
static void cluster_failover_off_last_holder_acquires(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, control(true, false, SELF, 4));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(2, 0x3000, 0), REP(3, 0x3000, 0)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=20 ACT LEASE_ACQUIRE epoch=5\n");
}

static void node_failover_off_never_chosen(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, control(false, true, 0, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(2, 0x3000, LDR_BLOCK_NODE), REP(3, 0x2000, 0)));
	assert_string_equal(f.sm.why, "no eligible node at the highest position (node 1: node "
				      "failover off; node 2: node failover off)");
	run_until(&f, 1010);
	step(&f, 1020, REPORTS(REP(2, 0x3000, LDR_BLOCK_NODE), REP(3, 0x3000, 0)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=1010 ACT COLLECT\n"
				     "t=1020 ACT TRANSFER 3\n");
}

/* Node failover off does not demote a running leader (rule 3). */
static void node_failover_off_leader_keeps_leading(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, control(false, true, SELF, 1));
	run_until(&f, 3000);
	assert_string_equal(f.trace, "");
	assert_int_equal(f.sm.blocks, LDR_BLOCK_NODE);
	assert_true(ldr_serving(&f.sm));
}

/* --- commands (rule 8) ----------------------------------------------------- */

static void demote_hands_over_to_highest(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, primary(0x5000));
	step(&f, 1000, cmd(LDR_CMD_DEMOTE, 0));
	step(&f, 1010, REPORTS(REP(1, 0x5000, 0), REP(2, 0x4f00, 0), REP(3, 0x4f80, 0)));
	step(&f, 1030, done(LDR_ACT_PG_CHECKPOINT, 0));
	step(&f, 1050, done(LDR_ACT_PG_STOP, 0));
	step(&f, 1060, raft(false, 3));
	step(&f, 1100, holder(0, 0));
	step(&f, 1200, holder(3, 2));
	assert_string_equal(f.trace, "t=1000 ACT COLLECT\n"
				     "t=1010 ACT PG_CHECKPOINT\n"
				     "t=1030 ACT SERVE off\n"
				     "t=1030 ACT PG_STOP fast\n"
				     "t=1050 ACT LEASE_RELEASE epoch=1\n"
				     "t=1050 ACT TRANSFER 3\n"
				     "t=1050 STATE leader -> waiting_for_leader\n"
				     "t=1200 ACT PG_FOLLOW 3 reconf\n"
				     "t=1200 ACT CMD_DONE demote 3 ok\n");
}

/* The lease lost while the hand-over's checkpoint runs: rule 1's fence at
 * once (the adapter stops PostgreSQL beside the checkpoint), and the
 * checkpoint's late answer changes nothing. */
static void fence_during_handover_checkpoint(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, primary(0x5000));
	step(&f, 1000, cmd(LDR_CMD_DEMOTE, 0));
	step(&f, 1010, REPORTS(REP(2, 0x4f00, 0), REP(3, 0x4f80, 0)));
	step(&f, 1020, raft(false, 0));
	step(&f, 1040, done(LDR_ACT_PG_CHECKPOINT, 0));
	assert_string_equal(f.trace, "t=1000 ACT COLLECT\n"
				     "t=1010 ACT PG_CHECKPOINT\n"
				     "t=1020 ACT SERVE off\n"
				     "t=1020 ACT PG_STOP immediate\n"
				     "t=1020 ACT NO_START on\n"
				     "t=1020 ACT LEASE_RELEASE epoch=1\n"
				     "t=1020 STATE leader -> deposed_leader\n");
	assert_false(ldr_serving(&f.sm));
	assert_int_equal(f.sm.pg_busy, LDR_ACT_PG_STOP);
}

static void demote_without_eligible_target_refused(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, cmd(LDR_CMD_DEMOTE, 0));
	step(&f, 1010, REPORTS(REP(2, 0x2000, LDR_BLOCK_NODE), NOREP(3)));
	assert_string_equal(f.trace, "t=1000 ACT COLLECT\n"
				     "t=1010 ACT CMD_DONE demote 0 ENOENT\n");
	assert_true(ldr_serving(&f.sm));
}

static void demote_times_out(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	f.quiet |= 1u << LDR_ACT_COLLECT;
	step(&f, 1000, cmd(LDR_CMD_DEMOTE, 0));
	step(&f, 1010, REPORTS(REP(2, 0x2000, 0)));
	step(&f, 1030, done(LDR_ACT_PG_CHECKPOINT, 0));
	step(&f, 1050, done(LDR_ACT_PG_STOP, 0));
	run_until(&f, 12000); /* the transfer never happens */
	assert_string_equal(f.trace, "t=1010 ACT PG_CHECKPOINT\n"
				     "t=1030 ACT SERVE off\n"
				     "t=1030 ACT PG_STOP fast\n"
				     "t=1050 ACT LEASE_RELEASE epoch=1\n"
				     "t=1050 ACT TRANSFER 2\n"
				     "t=1050 STATE leader -> waiting_for_leader\n"
				     "t=2050 ACT PG_START 0\n"
				     "t=11000 ACT CMD_DONE demote 2 ETIMEDOUT\n");
	assert_string_equal(f.sm.why, "demote: no new leader within 10000 ms");
}

static void promote_refusals(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, cmd(LDR_CMD_PROMOTE, SELF));
	step(&f, 600, cmd(LDR_CMD_PROMOTE, 9));
	step(&f, 700, control(true, false, SELF, 1));
	step(&f, 700, cmd(LDR_CMD_PROMOTE, 2));
	step(&f, 800, control(false, false, SELF, 1));
	step(&f, 800, cmd(LDR_CMD_PROMOTE, 3));
	step(&f, 800, cmd(LDR_CMD_PROMOTE, 2)); /* one at a time */
	step(&f, 810, REPORTS(REP(2, 0x2000, 0), REP(3, 0x2000, LDR_BLOCK_NODE)));
	assert_string_equal(f.sm.why, "promote: node 3 is not eligible (node failover off)");
	assert_string_equal(f.trace, "t=500 ACT CMD_DONE promote 1 EALREADY\n"
				     "t=600 ACT CMD_DONE promote 9 EINVAL\n"
				     "t=700 ACT CMD_DONE promote 2 EPERM\n"
				     "t=800 ACT COLLECT\n"
				     "t=800 ACT CMD_DONE promote 2 EBUSY\n"
				     "t=810 ACT CMD_DONE promote 3 EPERM\n");
	assert_true(ldr_serving(&f.sm));
}

static void promote_hands_over_to_target(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, primary(0x5000));
	step(&f, 1000, cmd(LDR_CMD_PROMOTE, 2));
	step(&f, 1010, REPORTS(REP(2, 0x4f00, 0), REP(3, 0x5000, 0)));
	step(&f, 1030, done(LDR_ACT_PG_CHECKPOINT, 0));
	step(&f, 1050, done(LDR_ACT_PG_STOP, 0));
	step(&f, 1060, raft(false, 2));
	step(&f, 1200, holder(2, 2));
	assert_string_equal(f.trace, "t=1000 ACT COLLECT\n"
				     "t=1010 ACT PG_CHECKPOINT\n"
				     "t=1030 ACT SERVE off\n"
				     "t=1030 ACT PG_STOP fast\n"
				     "t=1050 ACT LEASE_RELEASE epoch=1\n"
				     "t=1050 ACT TRANSFER 2\n"
				     "t=1050 STATE leader -> waiting_for_leader\n"
				     "t=1200 ACT PG_FOLLOW 2 reconf\n"
				     "t=1200 ACT CMD_DONE promote 2 ok\n");
}

/* The target never led (its promotion failed, or it found itself behind)
 * and an election gave the lease to another node: the command says so at
 * once instead of waiting for its timeout. */
static void promote_superseded_answers_at_once(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 1000, primary(0x5000));
	step(&f, 1000, cmd(LDR_CMD_PROMOTE, 2));
	step(&f, 1010, REPORTS(REP(2, 0x5000, 0), REP(3, 0x5000, 0)));
	step(&f, 1030, done(LDR_ACT_PG_CHECKPOINT, 0));
	step(&f, 1050, done(LDR_ACT_PG_STOP, 0));
	step(&f, 1060, raft(false, 2));
	step(&f, 1500, raft(false, 3));
	step(&f, 1600, holder(3, 2));
	assert_string_equal(last_lines(f.trace, 2), "t=1600 ACT PG_FOLLOW 3 reconf\n"
						    "t=1600 ACT CMD_DONE promote 2 EIO\n");
	assert_string_equal(f.sm.why, "promote: node 2 did not take over; node 3 leads");
	assert_int_equal(f.sm.cmd, -1);
}

/* With no holder, promote picks the node only if it is at M; on a tie it
 * is preferred over this node. */
static void promote_without_holder(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x3000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x3000, LDR_BLOCK_ES), REP(2, 0x2000, 0), NOREP(3)));
	step(&f, 30, cmd(LDR_CMD_PROMOTE, 2));
	step(&f, 40, REPORTS(REP(1, 0x3000, LDR_BLOCK_ES), REP(2, 0x2000, 0), NOREP(3)));
	assert_string_equal(f.sm.why, "promote: node 2 is behind the highest position");
	step(&f, 50, cmd(LDR_CMD_PROMOTE, 2));
	step(&f, 60, REPORTS(REP(1, 0x3000, 0), REP(2, 0x3000, 0), NOREP(3)));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=30 ACT COLLECT\n"
				     "t=40 ACT CMD_DONE promote 2 EPERM\n"
				     "t=50 ACT COLLECT\n"
				     "t=60 ACT TRANSFER 2\n");
}

static void force_with_holder_refused(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, cmd(LDR_CMD_FORCE, 0));
	assert_string_equal(f.trace, "t=500 ACT CMD_DONE force-leader 0 EEXIST\n");
	assert_string_equal(f.sm.why, "force-leader: a node holds the lease");
}

static void force_acquires_behind_m(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 0));
	step(&f, 0, standby(0x2000, 0, false));
	step(&f, 10, raft(true, SELF));
	step(&f, 20, REPORTS(REP(1, 0x2000, 0), REP(2, 0x3000, LDR_BLOCK_PG), NOREP(3)));
	step(&f, 500, cmd(LDR_CMD_FORCE, 0));
	step(&f, 510, acquired(1));
	step(&f, 600, done(LDR_ACT_PG_PROMOTE, 0));
	step(&f, 610, done(LDR_ACT_PG_SYNC, 0));
	assert_string_equal(f.trace, "t=0 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT COLLECT\n"
				     "t=500 ACT LEASE_ACQUIRE epoch=1\n"
				     "t=510 STATE waiting_for_leader -> promoting\n"
				     "t=510 ACT PG_PROMOTE epoch=1\n"
				     "t=600 STATE promoting -> leader\n"
				     "t=600 ACT PG_SYNC k=1\n"
				     "t=600 ACT CMD_DONE force-leader 1 ok\n"
				     "t=610 ACT LEASE_RENEW\n"
				     "t=610 ACT SERVE on\n");
}

/* The Raft leader, deposed, its PostgreSQL start still in flight: the
 * election goes on without it (its report has no position) and leadership
 * goes to the candidate the others make. */
static void election_during_own_start(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, raft(false, 0));
	step(&f, 520, done(LDR_ACT_PG_STOP, 0));
	step(&f, 2000, raft_n(true, SELF, 3));
	step(&f, 2000, holder(0, 0));
	assert_int_equal(f.sm.pg_busy, LDR_ACT_PG_START); /* started at 1520, not done */
	clear_trace(&f);
	run_until(&f, 3000);
	step(&f, 3010, REPORTS(NOREP(1), REP(2, 0x3000, 0), REP(3, 0x2000, 0)));
	assert_string_equal(f.trace, "t=3000 ACT COLLECT\n"
				     "t=3010 ACT TRANSFER 2\n");
}

/* A deposed node (PostgreSQL stopped, sentinel written) forced: started
 * before the promotion, sentinel removed once promoted. */
static void force_on_deposed_node(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, raft(false, 0));
	step(&f, 520, done(LDR_ACT_PG_STOP, 0));
	step(&f, 2000, raft_n(true, SELF, 1)); /* quorum-loss recovery: alone */
	step(&f, 2000, holder(0, 0));
	clear_trace(&f);
	step(&f, 2010, reports(0, NULL));
	step(&f, 2100, cmd(LDR_CMD_FORCE, 0));
	step(&f, 2110, acquired(2));
	/* started as a standby at 1520 (no holder): promoted once it is up */
	step(&f, 2200, done(LDR_ACT_PG_START, 0));
	step(&f, 2300, done(LDR_ACT_PG_PROMOTE, 0));
	assert_string_equal(f.trace, "t=2100 ACT LEASE_ACQUIRE epoch=2\n"
				     "t=2110 STATE deposed_leader -> promoting\n"
				     "t=2200 ACT PG_PROMOTE epoch=2\n"
				     "t=2300 ACT NO_START off\n"
				     "t=2300 STATE promoting -> leader\n"
				     "t=2300 ACT PG_SYNC k=0\n"
				     "t=2300 ACT CMD_DONE force-leader 1 ok\n");
}

static void command_refused_off_raft_leader(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, cmd(LDR_CMD_DEMOTE, 0));
	step(&f, 100, cmd(LDR_CMD_FORCE, 0));
	assert_string_equal(f.trace, "t=100 ACT CMD_DONE demote 0 EAGAIN\n"
				     "t=100 ACT CMD_DONE force-leader 0 EAGAIN\n");
}

/* --- following (rules 6, 7) ----------------------------------------------- */

static void follow_escalates_on_errors(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, raft(false, 3));
	step(&f, 200, holder(3, 2));
	step(&f, 300, done(LDR_ACT_PG_FOLLOW, -EIO));
	step(&f, 400, done(LDR_ACT_PG_FOLLOW, -EIO));
	step(&f, 500, done(LDR_ACT_PG_FOLLOW, -EIO));
	run_until(&f, 20000);
	assert_string_equal(f.trace, "t=100 STATE follower -> waiting_for_leader\n"
				     "t=200 ACT PG_FOLLOW 3 reconf\n"
				     "t=300 ACT PG_FOLLOW 3 rewind\n"
				     "t=400 ACT PG_FOLLOW 3 basebackup\n");
	assert_string_equal(f.sm.why, "cannot follow node 3: basebackup failed (-5)");
	assert_int_equal(f.sm.blocks, LDR_BLOCK_UNSYNCED);
	step(&f, 20000, holder(3, 3)); /* a new epoch: a new chain, from the copy */
	assert_string_equal(last_lines(f.trace, 1), "t=20000 ACT PG_FOLLOW 3 basebackup\n");
}

/* Having given up, the chain starts again 4 follow timeouts later (what
 * failed may have been fixed); a copy that failed before its swap put the
 * unsynced sentinel back (the orchestrator's SENTINELS event), so the new
 * chain re-points instead of copying. */
static void follow_retries_after_giving_up(void **state)
{
	struct ldr_event sentinels = ev(LDR_EV_SENTINELS);
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, raft(false, 3));
	step(&f, 200, holder(3, 2));
	step(&f, 300, done(LDR_ACT_PG_FOLLOW, -EIO));
	step(&f, 400, done(LDR_ACT_PG_FOLLOW, -EIO));
	step(&f, 500, done(LDR_ACT_PG_FOLLOW, -EIO));
	assert_int_equal(f.sm.blocks, LDR_BLOCK_UNSYNCED);
	step(&f, 510, sentinels); /* no_start and unsynced both absent */
	assert_int_equal(f.sm.blocks, 0);
	clear_trace(&f);
	run_until(&f, 20499);
	assert_string_equal(f.trace, "");
	run_until(&f, 20600);
	assert_string_equal(f.trace, "t=20500 ACT PG_FOLLOW 3 reconf\n");
	assert_false(f.sm.follow_failed);
}

static void follow_escalates_on_timeout(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, raft(false, 3));
	step(&f, 200, holder(3, 2));
	step(&f, 300, done(LDR_ACT_PG_FOLLOW, 0));
	run_until(&f, 5300);
	step(&f, 5400, done(LDR_ACT_PG_FOLLOW, 0));
	run_until(&f, 10400);
	step(&f, 10500, done(LDR_ACT_PG_FOLLOW, 0));
	run_until(&f, 20000);
	assert_string_equal(f.trace, "t=100 STATE follower -> waiting_for_leader\n"
				     "t=200 ACT PG_FOLLOW 3 reconf\n"
				     "t=5300 ACT PG_FOLLOW 3 rewind\n"
				     "t=10400 ACT PG_FOLLOW 3 basebackup\n");
	assert_string_equal(f.sm.why, "cannot follow node 3: not streaming after basebackup");
	assert_int_equal(f.sm.blocks, 0); /* the copy itself finished */
}

/* A follower whose stream stopped gets follow_timeout before a re-point. */
static void follower_lost_stream_restarts(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, standby(0x3000, 1, false));
	step(&f, 2000, standby(0x3000, 1, true));
	step(&f, 3000, standby(0x3000, 1, false));
	run_until(&f, 8000);
	step(&f, 8100, done(LDR_ACT_PG_FOLLOW, 0));
	step(&f, 8200, standby(0x3100, 1, true));
	assert_string_equal(f.trace, "t=8000 ACT PG_FOLLOW 1 reconf\n");
	assert_int_equal(f.sm.state, LDR_FOLLOWER);
}

/* A follower whose PostgreSQL exited starts it again as the holder's
 * standby at once; without the exit it would wait follow_timeout. */
static void follower_pg_exit_restarts_at_once(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, ev(LDR_EV_PG_EXIT));
	step(&f, 200, done(LDR_ACT_PG_FOLLOW, 0));
	step(&f, 300, standby(0x3100, 1, true));
	run_until(&f, 20000);
	assert_string_equal(f.trace, "t=100 ACT PG_FOLLOW 1 reconf\n");
	assert_int_equal(f.sm.state, LDR_FOLLOWER);
	assert_false(f.sm.pg_exited);
}

/* A restart that fails (the disk still full) is tried again every
 * retry_ms for follow_timeout, then the usual chain goes on: no rewind or
 * base backup at the first failure. */
static void follower_pg_exit_retries_start(void **state)
{
	struct fx f;

	(void)state;
	follower_fx(&f);
	step(&f, 100, ev(LDR_EV_PG_EXIT));
	step(&f, 200, done(LDR_ACT_PG_FOLLOW, -28));
	run_until(&f, 1100);
	step(&f, 1200, done(LDR_ACT_PG_FOLLOW, -28));
	run_until(&f, 2100);
	step(&f, 2200, done(LDR_ACT_PG_FOLLOW, 0));
	step(&f, 2300, standby(0x3100, 1, true));
	run_until(&f, 20000);
	assert_string_equal(f.trace, "t=100 ACT PG_FOLLOW 1 reconf\n"
				     "t=1100 ACT PG_FOLLOW 1 reconf\n"
				     "t=2100 ACT PG_FOLLOW 1 reconf\n");
	assert_int_equal(f.sm.state, LDR_FOLLOWER);

	follower_fx(&f); /* failing for good: the chain after follow_timeout */
	step(&f, 100, ev(LDR_EV_PG_EXIT));
	for (uint64_t t = 200; t < 5100; t += 1000) {
		step(&f, t, done(LDR_ACT_PG_FOLLOW, -28));
		run_until(&f, t + 900);
	}
	run_until(&f, 5100);
	assert_string_equal(last_lines(f.trace, 2), "t=4100 ACT PG_FOLLOW 1 reconf\n"
						    "t=5100 ACT PG_FOLLOW 1 rewind\n");
}

static void deposed_leader_rejoins(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, raft(false, 2));
	step(&f, 520, done(LDR_ACT_PG_STOP, 0));
	step(&f, 600, pg_fail());
	step(&f, 700, holder(2, 2));
	step(&f, 900, done(LDR_ACT_PG_FOLLOW, 0));
	step(&f, 1000, standby(0x5000, 2, true));
	assert_string_equal(f.trace, "t=500 ACT SERVE off\n"
				     "t=500 ACT PG_STOP immediate\n"
				     "t=500 ACT NO_START on\n"
				     "t=500 ACT LEASE_RELEASE epoch=1\n"
				     "t=500 STATE leader -> deposed_leader\n"
				     "t=700 ACT PG_FOLLOW 2 rewind\n"
				     "t=1000 ACT NO_START off\n"
				     "t=1000 STATE deposed_leader -> follower\n");
	assert_false(f.sm.no_start);
}

/* A deposed leader with no holder starts its PostgreSQL as a standby with
 * no upstream, retry_ms after its stop, once: its reports then carry a
 * position (two deposed leaders of three, kept stopped, left no majority of
 * positions and no election could be decided). It stays deposed, its
 * sentinel on: it rejoins by pg_rewind. */
static void deposed_leader_starts_as_standby(void **state)
{
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, raft(false, 0));
	step(&f, 520, done(LDR_ACT_PG_STOP, 0));
	clear_trace(&f);
	step(&f, 3000, holder(0, 0));
	step(&f, 3100, done(LDR_ACT_PG_START, 0));
	run_until(&f, 30000);
	assert_string_equal(f.trace, "t=1520 ACT PG_START 0\n");
	assert_int_equal(f.sm.state, LDR_DEPOSED_LEADER);
	assert_true(f.sm.no_start);
}

static void lost_quorum(void **state)
{
	struct fx l, fo;

	(void)state;
	leader_fx(&l);
	follower_fx(&fo);
	step(&l, 700, raft(false, 0));
	step(&fo, 700, raft(false, 0));
	assert_string_equal(l.trace, "t=700 ACT SERVE off\n"
				     "t=700 ACT PG_STOP immediate\n"
				     "t=700 ACT NO_START on\n"
				     "t=700 ACT LEASE_RELEASE epoch=1\n"
				     "t=700 STATE leader -> deposed_leader\n");
	assert_string_equal(fo.trace, "t=700 STATE follower -> waiting_for_leader\n");
	run_until(&fo, 60000); /* its PostgreSQL keeps running as a standby */
	assert_string_equal(fo.trace, "t=700 STATE follower -> waiting_for_leader\n");
}

/* A node that starts with PostgreSQL running as a primary it does not lead
 * fences it; and with PostgreSQL down and no sentinel starts it. */
static void start_as_primary_fenced_start_when_down(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 2));
	step(&f, 0, holder(SELF, 3));
	step(&f, 10, primary(0x4000));
	assert_string_equal(f.trace, "t=10 ACT SERVE off\n"
				     "t=10 ACT PG_STOP immediate\n"
				     "t=10 ACT NO_START on\n"
				     "t=10 ACT LEASE_RELEASE epoch=3\n"
				     "t=10 STATE initializing -> deposed_leader\n");
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 2));
	step(&f, 10, ev(LDR_EV_PG_EXIT));
	step(&f, 100, done(LDR_ACT_PG_START, -EIO));
	run_until(&f, 1100);
	assert_string_equal(f.trace, "t=10 STATE initializing -> waiting_for_leader\n"
				     "t=10 ACT PG_START 0\n"
				     "t=1100 ACT PG_START 0\n");
	fx_init(&f, &base_settings);
	step(&f, 0, raft(false, 2));
	step(&f, 0, (struct ldr_event){.type = LDR_EV_SENTINELS, .u.sentinels.no_start = true});
	step(&f, 10, ev(LDR_EV_PG_EXIT));
	run_until(&f, 10000);
	step(&f, 10000, holder(2, 3));
	assert_string_equal(f.trace, "t=10 STATE initializing -> waiting_for_leader\n"
				     "t=10000 ACT PG_FOLLOW 2 rewind\n");
}

/* --- quorum k, async ------------------------------------------------------- */

static void quorum_k_by_voters(void **state)
{
	static const unsigned want[] = {0, 0, 0, 1, 1, 2, 2, 3};
	unsigned n;

	(void)state;
	for (n = 0; n < sizeof want / sizeof want[0]; n++)
		assert_int_equal(ldr_quorum_k(n), want[n]);
	for (n = 1; n <= LDR_MAX_NODES; n++) /* k + 1 copies meet every majority */
		assert_true(ldr_quorum_k(n) + 1 + n / 2 + 1 > n);
}

/* A round is decided once a majority answered with an LSN, except that a
 * promote waits for its target's own answer (or its giving up): deciding
 * without it refused promote NODE with "reported no position" whenever the
 * target answered last (CI, pg-promotefail). */
static void round_settled_waits_for_promote_target(void **state)
{
	struct ldr_sm sm;
	struct ldr_report r[3] = {
		{.id = 1, .has_lsn = true}, {.id = 2, .has_lsn = true}, {.id = 3}};
	bool answered[3] = {true, false, true};

	(void)state;
	ldr_init(&sm, &base_settings);
	assert_false(ldr_round_settled(&sm, r, answered, 3)); /* one LSN of three */
	r[2].has_lsn = true;
	assert_true(ldr_round_settled(&sm, r, answered, 3)); /* a majority: 1 and 3 */
	sm.cmd = LDR_CMD_DEMOTE;
	sm.cmd_target = 2;
	assert_true(ldr_round_settled(&sm, r, answered, 3)); /* a demote picks among them */
	sm.cmd = LDR_CMD_PROMOTE;
	assert_false(ldr_round_settled(&sm, r, answered, 3)); /* node 2 still to answer */
	answered[1] = true;
	assert_true(ldr_round_settled(&sm, r, answered, 3));
	answered[1] = false;
	r[1].id = 0; /* node 2's call failed: the round is decided without it */
	assert_true(ldr_round_settled(&sm, r, answered, 3));
	r[1].id = 2;
	sm.cmd_target = 3; /* the target answered already */
	assert_true(ldr_round_settled(&sm, r, answered, 3));
}

static void sync_k_follows_voters_and_mode(void **state)
{
	struct ldr_settings s = base_settings;
	struct fx f;

	(void)state;
	leader_fx(&f);
	step(&f, 500, raft_n(true, SELF, 5));
	step(&f, 510, done(LDR_ACT_PG_SYNC, 0));
	assert_string_equal(f.trace, "t=500 ACT PG_SYNC k=2\n");
	s.quorum_sync = false;
	fx_init(&f, &s);
	elect_self(&f);
	assert_string_equal(last_lines(f.trace, 2), "t=100 ACT PG_SYNC k=0\n"
						    "t=110 ACT SERVE on\n");
	assert_true(ldr_serving(&f.sm));
}

/* Another voter in place of one (same count, same k): the names change, so
 * synchronous_standby_names is set again. */
static void sync_again_when_voters_change(void **state)
{
	struct ldr_event e;
	struct fx f;

	(void)state;
	leader_fx(&f);
	e = raft_n(true, SELF, 3);
	e.u.raft.voters[2] = 9; /* 3 replaced by 9 */
	step(&f, 500, e);
	step(&f, 510, done(LDR_ACT_PG_SYNC, 0));
	step(&f, 520, e); /* the same set again: nothing */
	assert_string_equal(f.trace, "t=500 ACT PG_SYNC k=1\n");
}

/* --- the arithmetic, the table, the words ---------------------------------- */

static void valid_until_arithmetic(void **state)
{
	struct ldr_settings s = base_settings;

	(void)state;
	assert_int_equal(ldr_valid_until(&s, 1000), 1000 + 1500 - 15 - 200);
	s.rho_ppm = 0;
	assert_int_equal(ldr_valid_until(&s, 1000), 1000 + 1300);
	s.rho_ppm = 1; /* 1500 * 1e-6 ms rounds up to 1 */
	assert_int_equal(ldr_valid_until(&s, 0), 1299);
	s.rho_ppm = 2000000; /* beyond 1: no validity at all */
	assert_int_equal(ldr_valid_until(&s, 77), 77);
	s.rho_ppm = 10000;
	s.fence_budget_ms = 5000; /* the fence takes longer than the lease */
	assert_int_equal(ldr_valid_until(&s, 77), 77);
	s.fence_budget_ms = 200;
	s.ttl_ms = UINT64_MAX;
	assert_int_equal(ldr_valid_until(&s, UINT64_MAX - 5), UINT64_MAX);
	assert_int_equal(ldr_valid_until(&s, 0),
			 UINT64_MAX -
				 (UINT64_MAX / 1000000 * 10000 +
				  (UINT64_MAX % 1000000 * 10000 + 999999) / 1000000) -
				 200);
}

__extension__ typedef unsigned __int128 u128;

/* Against 128-bit arithmetic on seeded random inputs. */
static void valid_until_matches_wide_arithmetic(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		struct ldr_settings s = base_settings;
		u128 drift, want;
		uint64_t sent;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		s.ttl_ms = i % 2 ? x >> (x % 64) : x % 100000;
		s.rho_ppm = (uint32_t)(x % 1100000);
		s.fence_budget_ms = (x >> 20) % 3000;
		sent = i % 3 ? x % 1000000 : UINT64_MAX - x % 100000;
		drift = ((u128)s.ttl_ms * (s.rho_ppm > 1000000 ? 1000000 : s.rho_ppm) + 999999) /
			1000000;
		want = drift + s.fence_budget_ms >= s.ttl_ms
			       ? sent
			       : (u128)sent + s.ttl_ms - drift - s.fence_budget_ms;
		if (want > UINT64_MAX)
			want = UINT64_MAX;
		assert_true(ldr_valid_until(&s, sent) == (uint64_t)want);
	}
}

static void transition_table(void **state)
{
	/* from, to: the moves docs/leader.md §5 and §7 describe, nothing else */
	static const char *const want =
		"initializing>waiting_for_leader initializing>deposed_leader "
		"waiting_for_leader>promoting waiting_for_leader>follower "
		"waiting_for_leader>deposed_leader promoting>leader promoting>deposed_leader "
		"leader>waiting_for_leader leader>deposed_leader follower>waiting_for_leader "
		"follower>deposed_leader deposed_leader>waiting_for_leader "
		"deposed_leader>promoting deposed_leader>follower ";
	char got[1024] = "";
	int from, to;

	(void)state;
	for (from = 0; from < LDR_N_STATES; from++)
		for (to = 0; to < LDR_N_STATES; to++)
			if (ldr_transition_allowed(from, to)) {
				strcat(got, ldr_state_name(from));
				strcat(got, ">");
				strcat(got, ldr_state_name(to));
				strcat(got, " ");
			}
	assert_string_equal(got, want);
	assert_false(ldr_transition_allowed(LDR_N_STATES, LDR_LEADER));
}

static void words(void **state)
{
	struct ldr_action a = {.type = LDR_ACT_CMD_DONE,
			       .cmd = LDR_CMD_PROMOTE,
			       .target = 3,
			       .status = -ETIMEDOUT};
	char out[128];

	(void)state;
	ldr_action_format(&a, out, sizeof out);
	assert_string_equal(out, "CMD_DONE promote 3 ETIMEDOUT");
	a = (struct ldr_action){.type = LDR_ACT_PG_FOLLOW, .target = 2, .mode = LDR_FOLLOW_REWIND};
	ldr_action_format(&a, out, sizeof out);
	assert_string_equal(out, "PG_FOLLOW 2 rewind");
	a = (struct ldr_action){.type = 99};
	ldr_action_format(&a, out, sizeof out);
	assert_string_equal(out, "? 99");
	ldr_block_describe(0, out, sizeof out);
	assert_string_equal(out, "eligible");
	ldr_block_describe(LDR_BLOCK_PG | LDR_BLOCK_CLUSTER | LDR_BLOCK_LAG, out, sizeof out);
	assert_string_equal(out, "postgresql unhealthy, cluster failover off, "
				 "too far behind the leader");
	ldr_block_describe(0x7f, out, 20);
	assert_string_equal(out, "postgresql unhealth");
	assert_string_equal(ldr_state_name(LDR_DEPOSED_LEADER), "deposed_leader");
	assert_string_equal(ldr_state_name(LDR_N_STATES), "unknown");
}

/* --- randomized: one node, any event in any order ------------------------- */

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static unsigned pick(uint64_t *x, unsigned n)
{
	return (unsigned)(rnd(x) % n);
}

static struct ldr_event random_event(uint64_t *x, const struct fx *f)
{
	struct ldr_event e = ev((enum ldr_event_type)pick(x, LDR_EV_SENTINELS + 1));
	unsigned i;

	switch (e.type) {
	case LDR_EV_RAFT:
		e = raft_n(pick(x, 2), pick(x, 4), 1 + pick(x, 5));
		break;
	case LDR_EV_HOLDER:
		e = holder(pick(x, 4), f->sm.holder_epoch + pick(x, 3));
		break;
	case LDR_EV_CONTROL:
		e = control(pick(x, 4) == 0, pick(x, 4) == 0, pick(x, 4), pick(x, 5));
		break;
	case LDR_EV_PG:
		e = pick(x, 2) ? standby(0x1000 * pick(x, 8), pick(x, 4), pick(x, 2))
			       : (pick(x, 3) ? pg_fail() : primary(0x1000 * pick(x, 8)));
		break;
	case LDR_EV_ES:
	case LDR_EV_DISK:
		e.u.ok = pick(x, 3) != 0;
		break;
	case LDR_EV_RENEWED:
		e.u.sent_ms = f->now - (f->now ? pick(x, (unsigned)(f->now % 300 + 1)) : 0);
		break;
	case LDR_EV_ACQUIRED:
		e.u.epoch = f->sm.last_epoch + pick(x, 3);
		break;
	case LDR_EV_REPORTS:
		e.u.reports.n = pick(x, 5);
		for (i = 0; i < e.u.reports.n; i++)
			e.u.reports.r[i] = (struct ldr_report){1 + pick(x, 4), pick(x, 4) != 0, 1,
							       0x1000 * pick(x, 4),
							       pick(x, 3) ? 0 : 1u << pick(x, 7)};
		break;
	case LDR_EV_DONE:
		e = done((enum ldr_action_type)pick(x, LDR_ACT_CMD_DONE + 1),
			 pick(x, 4) ? 0 : -EIO);
		break;
	case LDR_EV_CMD:
		e = cmd((enum ldr_cmd)pick(x, 3), pick(x, 4));
		break;
	case LDR_EV_SENTINELS:
		e.u.sentinels.no_start = pick(x, 4) == 0;
		e.u.sentinels.unsynced = pick(x, 8) == 0;
		break;
	default:
		break;
	}
	return e;
}

/* The outcomes the actions ask for, now and then, so that runs get far. */
static void answer_some(uint64_t *x, struct fx *f, const struct ldr_actions *acts)
{
	unsigned i;

	for (i = 0; i < acts->n; i++) {
		const struct ldr_action *a = &acts->a[i];
		uint64_t at = f->now + pick(x, 50);

		if (f->n_queue >= QUEUE_MAX - 1 || pick(x, 4) == 0)
			continue;
		if (a->type == LDR_ACT_LEASE_ACQUIRE)
			enqueue(f, at, acquired(a->epoch));
		else if (a->type == LDR_ACT_LEASE_RENEW)
			enqueue(f, at, renewed(f->now));
		else if (a->type >= LDR_ACT_PG_START && a->type <= LDR_ACT_PG_SYNC)
			enqueue(f, at, done(a->type, pick(x, 8) ? 0 : -EIO));
	}
}

static void random_single_node(void **state)
{
	static struct fx f; /* large: off the stack */
	uint64_t seed;
	int i;

	(void)state;
	for (seed = 1; seed <= 3000; seed++) {
		uint64_t x = seed * 0x9e3779b97f4a7c15ull;
		struct ldr_actions acts;
		struct pending p;

		fx_init(&f, &base_settings);
		f.silent = true;
		for (i = 0; i < 200; i++) {
			uint64_t d = ldr_next_deadline(&f.sm), t = f.now + pick(&x, 400);

			if (pop_due(&f, t, &p))
				step_acts(&f, p.at < f.now ? f.now : p.at, p.ev, &acts);
			else if (d <= t)
				step_acts(&f, d, ev(LDR_EV_TICK), &acts);
			else
				step_acts(&f, t, random_event(&x, &f), &acts);
			answer_some(&x, &f, &acts);
		}
	}
}

/* --- randomized: three nodes sharing a fake KV and Raft -------------------- *
 *
 * The world grants the lease to the Raft leader only when pg/leader is
 * empty, expires it TTL after the last keep-alive it applied (the earliest
 * a Raft leader may), moves Raft leadership at random (sometimes without
 * telling the old leader, as a partition would), answers report rounds with
 * the nodes' own ldr_self_report and runs PostgreSQL as three records. At
 * every instant: at most one node serves, and a serving node is the one the
 * KV names, at its epoch, inside the lease. */

#define NN 3
#define WQ 256

struct wpg {
	bool up, primary;
	uint32_t tl;
	uint64_t lsn, upstream;
};

struct world {
	struct fx n[NN];
	uint64_t x, now;
	uint64_t raft_leader, holder, epoch, expire;
	struct wpg pg[NN];
	unsigned n_queue;
	struct {
		uint64_t at;
		unsigned node;
		struct ldr_event ev;
	} q[WQ];
	uint64_t last_at[NN]; /* FIFO per node: deliveries never reorder */
	uint64_t serving_ms, acquisitions, handovers;
};

static void wsend(struct world *w, unsigned node, uint64_t delay, struct ldr_event e)
{
	uint64_t at = w->now + delay;

	if (w->n_queue >= WQ)
		return; /* a lost message: the machine must cope */
	if (at < w->last_at[node])
		at = w->last_at[node];
	w->last_at[node] = at;
	w->q[w->n_queue].at = at;
	w->q[w->n_queue].node = node;
	w->q[w->n_queue++].ev = e;
}

static void wbroadcast_raft(struct world *w, int skip)
{
	unsigned i;

	for (i = 0; i < NN; i++)
		if ((int)i != skip)
			wsend(w, i, pick(&w->x, 20), raft(w->raft_leader == i + 1, w->raft_leader));
}

static void wbroadcast_holder(struct world *w)
{
	unsigned i;

	for (i = 0; i < NN; i++)
		wsend(w, i, pick(&w->x, 20), holder(w->holder, w->holder ? w->epoch : 0));
}

static struct ldr_event wsample(struct world *w, unsigned i)
{
	const struct wpg *p = &w->pg[i];
	const struct wpg *up = p->upstream ? &w->pg[p->upstream - 1] : NULL;
	struct ldr_event e = ev(LDR_EV_PG);

	if (!p->up)
		return e;
	e.u.pg = (struct ldr_pg_sample){.ok = true,
					.in_recovery = !p->primary,
					.timeline = p->tl,
					.lsn = p->lsn,
					.streaming = !p->primary && up && up->up && up->primary,
					.upstream = p->primary ? 0 : p->upstream};
	return e;
}

/* PostgreSQL on node i: writes on a serving primary, streaming standbys. */
static void wpg_tick(struct world *w)
{
	unsigned i;

	for (i = 0; i < NN; i++)
		if (w->pg[i].up && w->pg[i].primary && ldr_serving(&w->n[i].sm))
			w->pg[i].lsn += 0x100;
	for (i = 0; i < NN; i++) {
		struct wpg *p = &w->pg[i];
		const struct wpg *up = p->upstream ? &w->pg[p->upstream - 1] : NULL;

		if (p->up && !p->primary && up && up->up && up->primary && pick(&w->x, 3)) {
			p->lsn = up->lsn;
			p->tl = up->tl;
		}
	}
}

static uint32_t wmax_tl(const struct world *w)
{
	uint32_t m = 1;
	unsigned i;

	for (i = 0; i < NN; i++)
		if (w->pg[i].tl > m)
			m = w->pg[i].tl;
	return m;
}

static int wpg_action(struct world *w, unsigned i, const struct ldr_action *a)
{
	struct wpg *p = &w->pg[i];

	if (pick(&w->x, 20) == 0)
		return -EIO;
	switch (a->type) {
	case LDR_ACT_PG_START:
	case LDR_ACT_PG_FOLLOW:
		*p = (struct wpg){true, false, p->tl ? p->tl : 1, p->lsn, a->target};
		return 0;
	case LDR_ACT_PG_STOP:
		p->up = false;
		return 0;
	case LDR_ACT_PG_PROMOTE:
		if (!p->up)
			return -EIO;
		p->primary = true;
		p->upstream = 0;
		p->tl = wmax_tl(w) + 1;
		return 0;
	default:
		return 0;
	}
}

static void wreports(struct world *w, unsigned i)
{
	struct ldr_event e = ev(LDR_EV_REPORTS);
	unsigned j;

	for (j = 0; j < NN; j++)
		if (pick(&w->x, 5))
			ldr_self_report(&w->n[j].sm, &e.u.reports.r[e.u.reports.n++]);
	wsend(w, i, pick(&w->x, 500), e);
}

static void wlease(struct world *w, unsigned i, const struct ldr_action *a)
{
	uint64_t id = i + 1;

	if (a->type == LDR_ACT_LEASE_ACQUIRE) {
		if (w->raft_leader != id || w->holder || a->epoch <= w->epoch) {
			wsend(w, i, pick(&w->x, 30), ev(LDR_EV_ACQUIRE_FAILED));
			return;
		}
		w->holder = id;
		w->epoch = a->epoch;
		w->expire = w->now + base_settings.ttl_ms;
		w->acquisitions++;
		wsend(w, i, pick(&w->x, 30), acquired(a->epoch));
		wbroadcast_holder(w);
	} else if (a->type == LDR_ACT_LEASE_RENEW) {
		if (w->raft_leader == id && w->holder == id) {
			w->expire = w->now + base_settings.ttl_ms;
			wsend(w, i, pick(&w->x, 30), renewed(w->now));
		} else if (pick(&w->x, 2)) {
			wsend(w, i, pick(&w->x, 30), ev(LDR_EV_RENEW_FAILED));
		}
	} else if (a->type == LDR_ACT_LEASE_RELEASE) {
		if (w->raft_leader == id && w->holder == id && w->epoch == a->epoch) {
			w->holder = 0;
			wbroadcast_holder(w);
		}
	}
}

static void wact(struct world *w, unsigned i, const struct ldr_actions *acts)
{
	unsigned k;

	for (k = 0; k < acts->n; k++) {
		const struct ldr_action *a = &acts->a[k];

		if (a->type >= LDR_ACT_PG_START && a->type <= LDR_ACT_PG_SYNC) {
			wsend(w, i, 1 + pick(&w->x, 100), done(a->type, wpg_action(w, i, a)));
		} else if (a->type == LDR_ACT_COLLECT) {
			wreports(w, i);
		} else if (a->type == LDR_ACT_TRANSFER) {
			if (w->raft_leader == i + 1 && pick(&w->x, 4)) {
				w->raft_leader = a->target;
				wbroadcast_raft(w, -1);
			}
		} else if (a->type == LDR_ACT_SERVE && !a->on) {
			w->handovers++;
		} else {
			wlease(w, i, a);
		}
	}
}

/* The safety of docs/leader.md §4 at this instant. */
static void wcheck(struct world *w)
{
	unsigned i, serving = 0;

	for (i = 0; i < NN; i++) {
		const struct ldr_sm *sm = &w->n[i].sm;

		if (!ldr_serving(sm))
			continue;
		serving++;
		assert_int_equal(w->holder, i + 1);
		assert_int_equal(w->epoch, sm->epoch);
		assert_true(w->now < w->expire);
		assert_true(w->now < sm->valid_until_ms);
	}
	assert_true(serving <= 1);
	w->serving_ms += serving;
}

/* Something happens to the world: Raft, health, an operator. */
static void wchaos(struct world *w)
{
	unsigned r = pick(&w->x, 100), i = pick(&w->x, NN);

	if (r < 3) {
		int told_old = pick(&w->x, 3) ? -1 : (int)w->raft_leader - 1;

		w->raft_leader = pick(&w->x, NN + 1);
		wbroadcast_raft(w, told_old);
	} else if (r < 6) {
		wsend(w, i, 0, health(LDR_EV_ES, pick(&w->x, 3) != 0));
	} else if (r < 7) {
		w->pg[i].up = false;
		wsend(w, i, 0, ev(LDR_EV_PG_EXIT));
	} else if (r < 9) {
		wsend(w, i, 0, cmd((enum ldr_cmd)pick(&w->x, 3), 1 + pick(&w->x, NN)));
	} else if (r < 10) {
		wsend(w, i, 0,
		      control(pick(&w->x, 6) == 0, pick(&w->x, 6) == 0, w->holder, w->epoch));
	} else {
		wpg_tick(w);
		wsend(w, i, 0, wsample(w, i));
	}
}

static int wnext(struct world *w, uint64_t chaos_at, uint64_t *ret_at)
{
	int who = -1; /* -1 chaos, 0..NN-1 a node's deadline, NN + k queue entry k */
	uint64_t at = chaos_at;
	unsigned i;

	for (i = 0; i < NN; i++)
		if (ldr_next_deadline(&w->n[i].sm) < at) {
			at = ldr_next_deadline(&w->n[i].sm);
			who = (int)i;
		}
	for (i = 0; i < w->n_queue; i++)
		if (w->q[i].at < at) {
			at = w->q[i].at;
			who = NN + (int)i;
		}
	*ret_at = at;
	return who;
}

static void wrun(struct world *w, int events)
{
	uint64_t chaos_at = 0, at;
	struct ldr_actions acts;
	int k, who;

	for (k = 0; k < events; k++) {
		who = wnext(w, chaos_at, &at);
		w->now = at;
		if (w->holder && w->now >= w->expire) { /* the Raft leader expires it */
			w->holder = 0;
			wbroadcast_holder(w);
		}
		if (who < 0) {
			wchaos(w);
			chaos_at = w->now + 1 + pick(&w->x, 60);
			continue;
		}
		if (who < NN) {
			step_acts(&w->n[who], at, ev(LDR_EV_TICK), &acts);
		} else {
			unsigned q = (unsigned)(who - NN), node = w->q[q].node;
			struct ldr_event e = w->q[q].ev;

			w->q[q] = w->q[--w->n_queue];
			step_acts(&w->n[node], at, e, &acts);
			who = (int)node;
		}
		wact(w, (unsigned)who, &acts);
		wcheck(w);
	}
}

static void random_three_nodes(void **state)
{
	static struct world w; /* large: off the stack */
	uint64_t seed, serving = 0, acquisitions = 0, handovers = 0;
	unsigned i;

	(void)state;
	for (seed = 1; seed <= 2000; seed++) {
		memset(&w, 0, sizeof w);
		w.x = seed * 0xd1342543de82ef95ull;
		for (i = 0; i < NN; i++) {
			struct ldr_settings s = base_settings;

			s.self_id = i + 1;
			fx_init(&w.n[i], &s);
			w.n[i].silent = true;
			w.pg[i] = (struct wpg){true, false, 1, 0x1000 * pick(&w.x, 3), 0};
		}
		w.raft_leader = 1 + pick(&w.x, NN);
		wbroadcast_raft(&w, -1);
		wrun(&w, 1500);
		serving += w.serving_ms;
		acquisitions += w.acquisitions;
		handovers += w.handovers;
	}
	/* the runs went somewhere: leaders elected, served, deposed */
	assert_true(acquisitions > 2000);
	assert_true(serving > 100000);
	assert_true(handovers > 1000);
}

int bs_test_leader(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(election_self_best),
		cmocka_unit_test(election_transfers_to_best),
		cmocka_unit_test(election_ignores_stale_cluster_block),
		cmocka_unit_test(election_needs_majority),
		cmocka_unit_test(election_best_ineligible),
		cmocka_unit_test(election_remote_ineligible),
		cmocka_unit_test(election_timeline_first),
		cmocka_unit_test(renewal_keeps_leader_serving),
		cmocka_unit_test(renewals_stop_fence_at_valid_until),
		cmocka_unit_test(raft_loss_fences_at_once),
		cmocka_unit_test(renew_refused_fences),
		cmocka_unit_test(holder_key_change_fences),
		cmocka_unit_test(stall_renews_inside_validity),
		cmocka_unit_test(stall_past_validity_fences),
		cmocka_unit_test(promote_failure_fences),
		cmocka_unit_test(late_acquire_released),
		cmocka_unit_test(pg_flapping_never_steps_down),
		cmocka_unit_test(pg_failures_step_down),
		cmocka_unit_test(es_failures_step_down),
		cmocka_unit_test(step_down_without_target_keeps_leading),
		cmocka_unit_test(pg_exit_fences_leader),
		cmocka_unit_test(disk_blocks_only_when_fatal),
		cmocka_unit_test(cluster_failover_off_blocks_all_but_last_holder),
		cmocka_unit_test(cluster_failover_off_leader_keeps_leading),
		cmocka_unit_test(cluster_failover_off_last_holder_acquires),
		cmocka_unit_test(node_failover_off_never_chosen),
		cmocka_unit_test(node_failover_off_leader_keeps_leading),
		cmocka_unit_test(demote_hands_over_to_highest),
		cmocka_unit_test(fence_during_handover_checkpoint),
		cmocka_unit_test(demote_without_eligible_target_refused),
		cmocka_unit_test(demote_times_out),
		cmocka_unit_test(promote_refusals),
		cmocka_unit_test(promote_hands_over_to_target),
		cmocka_unit_test(promote_superseded_answers_at_once),
		cmocka_unit_test(promote_without_holder),
		cmocka_unit_test(force_with_holder_refused),
		cmocka_unit_test(force_acquires_behind_m),
		cmocka_unit_test(force_on_deposed_node),
		cmocka_unit_test(election_during_own_start),
		cmocka_unit_test(command_refused_off_raft_leader),
		cmocka_unit_test(follow_escalates_on_errors),
		cmocka_unit_test(follow_retries_after_giving_up),
		cmocka_unit_test(follow_escalates_on_timeout),
		cmocka_unit_test(follower_lost_stream_restarts),
		cmocka_unit_test(follower_pg_exit_restarts_at_once),
		cmocka_unit_test(follower_pg_exit_retries_start),
		cmocka_unit_test(deposed_leader_rejoins),
		cmocka_unit_test(deposed_leader_starts_as_standby),
		cmocka_unit_test(lost_quorum),
		cmocka_unit_test(start_as_primary_fenced_start_when_down),
		cmocka_unit_test(quorum_k_by_voters),
		cmocka_unit_test(round_settled_waits_for_promote_target),
		cmocka_unit_test(sync_k_follows_voters_and_mode),
		cmocka_unit_test(sync_again_when_voters_change),
		cmocka_unit_test(valid_until_arithmetic),
		cmocka_unit_test(valid_until_matches_wide_arithmetic),
		cmocka_unit_test(transition_table),
		cmocka_unit_test(words),
		cmocka_unit_test(random_single_node),
		cmocka_unit_test(random_three_nodes),
	};

	return cmocka_run_group_tests_name("leader", tests, NULL, NULL);
}
