/*
 * The nemesis of the simulation and the run itself: a seeded schedule of
 * partitions and crashes, then healing, a quiet period and the final
 * checks (one leader, everyone caught up, a last write commits, leases left
 * alone expire).
 */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static void isolate_one(struct sim *s)
{
	unsigned victim = 1 + (unsigned)sim_rand(s, s->o.nodes), i;

	for (i = 1; i <= s->o.nodes; i++)
		s->nodes[i].group = i == victim ? 1 : 0;
	sim_trace(s, "partition: node %u alone", victim);
}

/* A random minority on one side, the rest on the other. */
static void split(struct sim *s)
{
	unsigned minority = 1 + (unsigned)sim_rand(s, (s->o.nodes - 1) / 2), i, moved = 0;

	for (i = 1; i <= s->o.nodes; i++)
		s->nodes[i].group = 0;
	while (moved < minority) {
		i = 1 + (unsigned)sim_rand(s, s->o.nodes);
		if (s->nodes[i].group == 0) {
			s->nodes[i].group = 1;
			moved++;
		}
	}
	sim_trace(s, "partition: %u node(s) split off", minority);
}

static void crash_one(struct sim *s)
{
	unsigned victim = 1 + (unsigned)sim_rand(s, s->o.nodes);
	struct sim_node *n = &s->nodes[victim];

	if (!n->up)
		return;
	sim_node_crash(s, n);
	n->restart_at = s->now + 100 + sim_rand(s, 3000);
	sim_trace(s, "node %u crashes, back at %llu", victim, (unsigned long long)n->restart_at);
}

void sim_heal(struct sim *s)
{
	unsigned i;

	for (i = 1; i <= s->o.nodes; i++) {
		s->nodes[i].group = 0;
		if (!s->nodes[i].up)
			s->nodes[i].restart_at = s->now;
	}
	s->healed = true;
	s->heal_at = s->now;
	sim_trace(s, "heal: network whole, every node up");
}

void sim_fault(struct sim *s)
{
	unsigned pick = (unsigned)sim_rand(s, 10);

	if (s->now >= s->end_faults) {
		sim_heal(s);
		s->next_fault = UINT64_MAX;
		return;
	}
	if (pick < 2 && s->o.partitions)
		isolate_one(s);
	else if (pick < 4 && s->o.partitions)
		split(s);
	else if (pick < 6 && s->o.crashes)
		crash_one(s);
	else if (pick < 8) {
		unsigned i;

		for (i = 1; i <= s->o.nodes; i++)
			s->nodes[i].group = 0;
		sim_trace(s, "partition healed");
	}
	s->next_fault = s->now + 200 + sim_rand(s, 1800);
}

void sim_default_options(struct sim_options *o, unsigned nodes, uint64_t seed)
{
	memset(o, 0, sizeof *o);
	o->nodes = nodes;
	o->seed = seed;
	o->fault_ms = 20000;
	o->quiet_ms = 5000;
	o->crashes = true;
	o->partitions = true;
	o->drop_pct = 5;
	o->dup_pct = 2;
	o->max_delay_ms = 30;
	o->snapshot_threshold = 64;
	o->snapshot_trailing = 16;
}

static void bootstrap(struct sim *s)
{
	struct raft_configuration conf;
	struct cns__persist *p;
	unsigned i;

	raft_configuration_init(&conf);
	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		n->sim = s;
		n->id = i;
		snprintf(n->address, sizeof n->address, "n%u", i);
		if (raft_configuration_add(&conf, i, n->address, RAFT_VOTER) != 0)
			abort();
	}
	for (i = 1; i <= s->o.nodes; i++) {
		if (cns__drv_bootstrap_request(&conf, &p) != 0)
			abort();
		sim_disk_apply(&s->nodes[i].disk, p);
		cns__persist_free(p);
		sim_node_start(s, &s->nodes[i]);
	}
	raft_configuration_close(&conf);
}

static struct sim_node *sole_leader(struct sim *s)
{
	struct sim_node *leader = NULL;
	uint64_t term = 0;
	unsigned i;

	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up || cns__drv_state(n->drv) != RAFT_LEADER)
			continue;
		if (leader == NULL || cns__drv_term(n->drv) > term) {
			leader = n;
			term = cns__drv_term(n->drv);
		}
	}
	return leader != NULL && cns__drv_leader_ready(leader->drv) ? leader : NULL;
}

/* One clause per node: up/down, role, term, applied/commit/last index. */
static const char *describe(struct sim *s)
{
	static char buf[400];
	size_t off = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 1; i <= s->o.nodes && off < sizeof buf; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up) {
			off += (size_t)snprintf(buf + off, sizeof buf - off, "[%u down] ", i);
			continue;
		}
		off += (size_t)snprintf(
			buf + off, sizeof buf - off, "[%u %s t%llu a%llu c%llu l%llu] ", i,
			raft_state_name(cns__drv_state(n->drv)),
			(unsigned long long)cns__drv_term(n->drv), (unsigned long long)n->sm_index,
			(unsigned long long)cns__drv_commit_index(n->drv),
			(unsigned long long)cns__drv_last_index(n->drv));
	}
	return buf;
}

static bool all_applied(struct sim *s, uint64_t index)
{
	unsigned i;

	for (i = 1; i <= s->o.nodes; i++)
		if (!s->nodes[i].up || s->nodes[i].sm_index < index)
			return false;
	return true;
}

/* The last write: a put of "final". */
static int submit_final(struct sim_node *leader, uint64_t *ret_index, uint64_t *ret_term)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;

	put.key = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"final"};
	put.value = put.key;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &put;
	return sim_submit_command(leader, &cmd, ret_index, ret_term);
}

/* After healing: a leader exists, a new write commits and every node
 * applies everything (bounded in virtual time). */
static void final_checks(struct sim *s)
{
	uint64_t deadline = s->now + 20000, index = 0, term;
	struct sim_node *leader;

	while (s->r->ok && s->now < deadline && index == 0) {
		leader = sole_leader(s);
		if (leader != NULL && submit_final(leader, &index, &term) != 0)
			index = 0;
		if (index == 0)
			sim_step(s);
	}
	while (s->r->ok && s->now < deadline && !all_applied(s, index))
		sim_step(s);
	if (s->r->ok && index == 0)
		sim_violation(s, "no leader 20 s after the faults healed");
	else if (s->r->ok && !all_applied(s, index))
		sim_violation(s, "nodes did not catch up to %llu within 20 s: %s",
			      (unsigned long long)index, describe(s));
}

static void teardown(struct sim *s)
{
	struct sim_msg *m;
	unsigned i;

	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (n->up)
			sim_node_crash(s, n);
		free(n->writes);
		free(n->props);
		free(n->grants);
		sim_disk_free(&n->disk);
	}
	sim_lease_free(s);
	while ((m = s->msgs) != NULL) {
		s->msgs = m->next;
		free(m->bytes);
		free(m);
	}
	free(s->hash_at);
	free(s->chain_at);
	free(s->leader_of);
	bs_clock_free(s->rng);
}

bool sim_run(const struct sim_options *o, struct sim_result *r)
{
	struct sim *s = calloc(1, sizeof *s);
	uint64_t crashes;

	if (s == NULL || o->nodes < 1 || o->nodes > SIM_MAX_NODES)
		abort();
	memset(r, 0, sizeof *r);
	r->ok = true;
	s->o = *o;
	s->r = r;
	if (bs_clock_virtual_new(0, o->seed, &s->rng) != 0)
		abort();
	s->end_faults = o->fault_ms;
	s->end = o->fault_ms + o->quiet_ms;
	s->next_fault = 500;
	s->next_check = 50;
	s->next_grant = 1000;
	bootstrap(s);
	while (r->ok && s->now < s->end)
		sim_step(s);
	if (r->ok)
		final_checks(s);
	if (r->ok)
		sim_lease_final(s);
	crashes = r->crashes;
	teardown(s);
	r->crashes = crashes; /* teardown's stops are not crashes */
	free(s);
	return r->ok;
}
