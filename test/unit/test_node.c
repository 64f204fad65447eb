/*
 * The node runtime in-process (node_fixture.h): real LMDB files, real TCP on
 * 127.0.0.1, one uv loop for every node. Timing decisions (lease expiry)
 * run on a virtual clock; elections use the real one. Every wait is
 * bounded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_fixture.h"

struct call {
	struct cns_req req;
	bool done;
	int status;
	int64_t code;
	uint64_t lease, revision;
	char value[64];
};

static void call_cb(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct call *call = req->data;

	call->done = true;
	call->status = status;
	if (r != NULL) {
		call->code = r->code;
		call->lease = r->lease_id;
		call->revision = r->revision;
		if (r->n_kvs > 0)
			snprintf(call->value, sizeof call->value, "%.*s", (int)r->kvs[0]->value.len,
				 (const char *)r->kvs[0]->value.data);
		else if (r->kv != NULL)
			snprintf(call->value, sizeof call->value, "%.*s", (int)r->kv->value.len,
				 (const char *)r->kv->value.data);
	}
}

static bool call_done(struct cluster *c, void *arg)
{
	(void)c;
	return ((struct call *)arg)->done;
}

static void put(struct cluster *c, unsigned node, const char *key, const char *value,
		uint64_t lease, struct call *call)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut p = BACKSTAY__KV_PUT__INIT;

	memset(call, 0, sizeof *call);
	call->req.data = call;
	p.key.data = (uint8_t *)key;
	p.key.len = strlen(key);
	p.value.data = (uint8_t *)value;
	p.value.len = strlen(value);
	p.lease = lease;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &p;
	assert_int_equal(cns_propose(c->nodes[node], &call->req, &cmd, 0, call_cb), 0);
	assert_true(run_until(c, call_done, call));
}

static void read_key(struct cluster *c, unsigned node, const char *key, struct call *call)
{
	memset(call, 0, sizeof *call);
	call->req.data = call;
	assert_int_equal(cns_read(c->nodes[node], &call->req, key, strlen(key), 0, call_cb), 0);
	assert_true(run_until(c, call_done, call));
}

static void single_node_put_read(void **state)
{
	struct cluster c;
	struct call call;
	Backstay__KvResult *local;

	(void)state;
	cluster_init(&c, 1, 1, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	put(&c, 0, "a/1", "one", 0, &call);
	assert_int_equal(call.status, 0);
	assert_int_equal(call.code, 0);
	read_key(&c, 0, "a/1", &call);
	assert_int_equal(call.status, 0);
	assert_string_equal(call.value, "one");
	assert_int_equal(cns_read_local(c.nodes[0], "a/", 2, 0, &local), 0);
	assert_int_equal(local->n_kvs, 1);
	backstay__kv_result__free_unpacked(local, NULL);
	cluster_free(&c);
}

/* Restarting a node finds every acknowledged write in its store. */
static void restart_keeps_writes(void **state)
{
	struct cluster c;
	struct call call;
	char key[16];
	unsigned i;

	(void)state;
	cluster_init(&c, 1, 1, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	for (i = 0; i < 100; i++) { /* past the snapshot threshold */
		snprintf(key, sizeof key, "k%03u", i);
		put(&c, 0, key, key, 0, &call);
		assert_int_equal(call.status, 0);
	}
	close_node(&c, 0);
	start_node(&c, 0);
	assert_true(run_until(&c, has_leader, NULL));
	read_key(&c, 0, "k099", &call);
	assert_string_equal(call.value, "k099");
	read_key(&c, 0, "k000", &call);
	assert_string_equal(call.value, "k000");
	cluster_free(&c);
}

static void lease_grant(struct cluster *c, unsigned node, int64_t ttl, struct call *call)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseGrant g = BACKSTAY__LEASE_GRANT__INIT;

	memset(call, 0, sizeof *call);
	call->req.data = call;
	g.ttl_ms = ttl;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_GRANT;
	cmd.lease_grant = &g;
	assert_int_equal(cns_propose(c->nodes[node], &call->req, &cmd, 0, call_cb), 0);
	assert_true(run_until(c, call_done, call));
}

static bool key_gone(struct cluster *c, void *arg)
{
	Backstay__KvResult *r;
	bool gone;

	assert_int_equal(cns_read_local(c->nodes[0], arg, strlen(arg), 0, &r), 0);
	gone = r->n_kvs == 0;
	backstay__kv_result__free_unpacked(r, NULL);
	return gone;
}

/* Lease clocks run on the node's (virtual) clock: a kept-alive lease lives,
 * one left alone past its TTL is expired by the leader with its keys. */
static void lease_expires_on_leader_clock(void **state)
{
	struct bs_clock *clock;
	struct cluster c;
	struct call call;
	uint64_t lease, left;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(1000000, 7, &clock), 0);
	cluster_init(&c, 1, 1, clock);
	assert_true(run_until(&c, has_leader, NULL));
	lease_grant(&c, 0, 5000, &call);
	assert_int_equal(call.status, 0);
	lease = call.lease;
	assert_true(lease > 0);
	put(&c, 0, "leader", "node1", lease, &call);
	assert_int_equal(call.code, 0);

	bs_clock_advance(clock, 4000);
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_lease_keepalive(c.nodes[0], &call.req, lease, call_cb), 0);
	assert_true(run_until(&c, call_done, &call));
	assert_int_equal(call.status, 0);
	assert_int_equal(cns_lease_time_left(c.nodes[0], lease, &left), 0);
	assert_int_equal(left, 5000); /* renewed at the virtual time it arrived */

	bs_clock_advance(clock, 4999);
	assert_false(key_gone(&c, "leader"));
	bs_clock_advance(clock, 2);
	assert_true(run_until(&c, key_gone, "leader"));
	assert_int_equal(cns_lease_time_left(c.nodes[0], lease, &left), -ENOENT);
	cluster_free(&c);
	bs_clock_free(clock);
}

static void follower_refuses_and_names_leader(struct cluster *c, int leader)
{
	struct cns_status st;
	struct call call;
	unsigned f = (unsigned)(leader + 1) % c->n;

	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_read(c->nodes[f], &call.req, "x", 1, 0, call_cb), BS_E_NOT_LEADER);
	assert_false(call.done);
	cns_node_status(c->nodes[f], &st);
	assert_int_equal(st.leader_id, (uint64_t)leader + 1);
	assert_string_equal(st.leader_address, c->members[leader].address);
}

static bool all_see(struct cluster *c, void *arg)
{
	unsigned i;

	for (i = 0; i < c->n; i++) {
		Backstay__KvResult *r;
		bool seen;

		if (c->nodes[i] == NULL)
			continue;
		assert_int_equal(cns_read_local(c->nodes[i], arg, strlen(arg), 0, &r), 0);
		seen = r->n_kvs == 1;
		backstay__kv_result__free_unpacked(r, NULL);
		if (!seen)
			return false;
	}
	return true;
}

/* Three nodes: writes replicate; the leader goes away and the other two
 * elect a new one that still has every acknowledged write. */
static void three_nodes_failover(void **state)
{
	struct cluster c;
	struct call call;
	int leader;

	(void)state;
	cluster_init(&c, 3, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	follower_refuses_and_names_leader(&c, leader);
	put(&c, (unsigned)leader, "before", "failover", 0, &call);
	assert_int_equal(call.status, 0);
	assert_true(run_until(&c, all_see, "before"));

	close_node(&c, (unsigned)leader);
	assert_true(run_until(&c, has_leader, NULL));
	assert_true(leader_of(&c) != leader);
	read_key(&c, (unsigned)leader_of(&c), "before", &call);
	assert_int_equal(call.status, 0);
	assert_string_equal(call.value, "failover");
	put(&c, (unsigned)leader_of(&c), "after", "failover", 0, &call);
	assert_int_equal(call.status, 0);
	cluster_free(&c);
}

static bool four_voters(struct cluster *c, void *arg)
{
	struct cns_status st;
	unsigned i, voters = 0;

	(void)arg;
	cns_node_status(c->nodes[3], &st);
	for (i = 0; i < st.n_members; i++)
		voters += st.members[i].voter;
	return voters == 4;
}

/* A fresh node joins as a standby, catches up and becomes a voter. */
static void member_joins(void **state)
{
	struct cluster c;
	struct call call, w;
	int leader;

	(void)state;
	cluster_init(&c, 4, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	put(&c, (unsigned)leader, "k", "v", 0, &w);
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_add_member(c.nodes[leader], &call.req, &c.members[3], call_cb), 0);
	assert_true(run_until(&c, call_done, &call));
	assert_int_equal(call.status, 0);
	assert_true(run_until(&c, four_voters, NULL));
	assert_true(run_until(&c, all_see, "k"));
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_add_member(c.nodes[leader], &call.req, &c.members[3], call_cb),
			 -EEXIST);
	cluster_free(&c);
}

/* Every running node other than `arg` (an int index, or -1) has member 4
 * in its committed configuration as a standby. */
static bool standby_everywhere(struct cluster *c, void *arg)
{
	struct cns_status st;
	unsigned i, j, seen = 0, running = 0;

	(void)arg;
	for (i = 0; i < c->n; i++) {
		if (c->nodes[i] == NULL)
			continue;
		running++;
		cns_node_status(c->nodes[i], &st);
		for (j = 0; j < st.n_members; j++)
			seen += st.members[j].id == 4 && !st.members[j].voter;
	}
	return seen == running;
}

/* An add cut short by the leader's loss leaves a standby; the next leader
 * promotes it once its node is up (cns_promote_member). */
static void standby_promoted_by_next_leader(void **state)
{
	struct cluster c;
	struct call add, promote;
	int leader, next;

	(void)state;
	cluster_init(&c, 4, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	close_node(&c, 3); /* the joiner is down: its catch-up cannot finish */
	memset(&add, 0, sizeof add);
	add.req.data = &add;
	assert_int_equal(cns_add_member(c.nodes[leader], &add.req, &c.members[3], call_cb), 0);
	assert_true(run_until(&c, standby_everywhere, NULL));
	close_node(&c, (unsigned)leader);
	assert_true(add.done);
	assert_int_equal(add.status, -ECANCELED);
	assert_true(run_until(&c, has_leader, NULL));
	next = leader_of(&c);

	memset(&promote, 0, sizeof promote);
	promote.req.data = &promote;
	assert_int_equal(
		cns_promote_member(c.nodes[next], &promote.req, c.members[next].id, call_cb),
		-EINVAL);
	assert_int_equal(cns_promote_member(c.nodes[next], &promote.req, 99, call_cb), -ENOENT);
	start_node(&c, 3);
	assert_int_equal(cns_promote_member(c.nodes[next], &promote.req, 4, call_cb), 0);
	assert_true(run_until(&c, call_done, &promote));
	assert_int_equal(promote.status, 0);
	assert_true(run_until(&c, four_voters, NULL));
	cluster_free(&c);
}

static int quiet(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_WARN); /* elections and connections are routine here */
	return 0;
}

static int loud(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_INFO);
	return 0;
}

/* A joiner far behind gets the snapshot, which is bigger than one chunk
 * (1 MiB): it crosses the wire in pieces and is reassembled. */
static void joiner_gets_chunked_snapshot(void **state)
{
	static char value[8193];
	struct cluster c;
	struct call call;
	char key[16];
	int leader;
	unsigned i;

	(void)state;
	memset(value, 'v', sizeof value - 1);
	cluster_init(&c, 4, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	for (i = 0; i < 300; i++) { /* 2.4 MB of values, snapshots every 64 */
		snprintf(key, sizeof key, "big%03u", i);
		put(&c, (unsigned)leader, key, value, 0, &call);
		assert_int_equal(call.status, 0);
	}
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_add_member(c.nodes[leader], &call.req, &c.members[3], call_cb), 0);
	assert_true(run_until(&c, call_done, &call));
	assert_int_equal(call.status, 0);
	assert_true(run_until(&c, all_see, "big000"));
	assert_true(run_until(&c, all_see, "big299"));
	cluster_free(&c);
}

/* Two of three nodes are lost for good: the survivor's store is rewritten
 * offline to a configuration of itself alone, and it leads again with every
 * write it had. Recovering a store that holds nothing is refused. */
static void quorum_loss_recovery(void **state)
{
	struct cluster c;
	struct call call;
	char dir[512], errmsg[256];
	int leader;
	unsigned i;

	(void)state;
	cluster_init(&c, 3, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	put(&c, (unsigned)leader, "kept", "yes", 0, &call);
	assert_int_equal(call.status, 0);
	assert_true(run_until(&c, all_see, "kept"));
	for (i = 0; i < 3; i++)
		close_node(&c, i);

	node_dir(&c, 0, dir, sizeof dir);
	assert_int_equal(cns_recover(dir, &c.members[0], 1, errmsg, sizeof errmsg), 0);
	c.n = 1; /* nodes 2 and 3 stay down */
	start_node(&c, 0);
	assert_true(run_until(&c, has_leader, NULL));
	read_key(&c, 0, "kept", &call);
	assert_string_equal(call.value, "yes");
	put(&c, 0, "after", "recovery", 0, &call);
	assert_int_equal(call.status, 0);
	c.n = 3;

	snprintf(dir, sizeof dir, "%s/empty", c.dir);
	assert_int_equal(cns_recover(dir, &c.members[0], 1, errmsg, sizeof errmsg), -ENOENT);
	assert_non_null(strstr(errmsg, "no Raft state"));
	unit_tmpdir_remove(strdup(dir));
	cluster_free(&c);
}

static bool leader_is(struct cluster *c, void *arg)
{
	return leader_of(c) == *(int *)arg;
}

static bool two_members(struct cluster *c, void *arg)
{
	struct cns_status st;

	cns_node_status(c->nodes[*(int *)arg], &st);
	return st.n_members == 2;
}

/* Leadership goes where it is sent; a removed member leaves the
 * configuration and the remaining two carry on writing. */
static void transfer_and_remove(void **state)
{
	struct cluster c;
	struct call call;
	int leader, target, victim;

	(void)state;
	cluster_init(&c, 3, 3, bs_clock_real());
	assert_true(run_until(&c, has_leader, NULL));
	leader = leader_of(&c);
	target = (leader + 1) % 3;
	assert_int_equal(cns_transfer_leadership(c.nodes[leader], (uint64_t)target + 1), 0);
	assert_true(run_until(&c, leader_is, &target));

	victim = (target + 1) % 3;
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(
		cns_remove_member(c.nodes[target], &call.req, (uint64_t)victim + 1, call_cb), 0);
	assert_true(run_until(&c, call_done, &call));
	assert_int_equal(call.status, 0);
	assert_true(run_until(&c, two_members, &target));
	close_node(&c, (unsigned)victim);
	put(&c, (unsigned)target, "two", "left", 0, &call);
	assert_int_equal(call.status, 0);
	cluster_free(&c);
}

/* ---- lease clocks across a failover, on a virtual clock ------------------- */

#define LEASE_TTL 2000

/* Virtual time that flows with real time (so elections and heartbeats
 * behave as on the real clock) but never past `until`, while pred does not
 * hold. */
struct flow {
	struct bs_clock *clock;
	uint64_t real_last;
	uint64_t until;
	bool (*pred)(struct cluster *c, void *arg);
	void *arg;
};

static bool flowing(struct cluster *c, void *arg)
{
	struct flow *f = arg;
	uint64_t real = bs_clock_now_ms(bs_clock_real());
	uint64_t now = bs_clock_now_ms(f->clock), dt = real - f->real_last;

	f->real_last = real;
	if (now >= f->until)
		dt = 0;
	else if (dt > f->until - now)
		dt = f->until - now;
	bs_clock_advance(f->clock, dt);
	return f->pred(c, f->arg);
}

static bool reached(struct cluster *c, void *arg)
{
	(void)c;
	return bs_clock_now_ms(((struct flow *)arg)->clock) >= ((struct flow *)arg)->until;
}

/* Let virtual time flow to `until` (UINT64_MAX: unbounded) until pred
 * holds (NULL: until `until` is reached). */
static void flow_until(struct cluster *c, struct bs_clock *clock, uint64_t until,
		       bool (*pred)(struct cluster *c, void *arg), void *arg)
{
	struct flow f = {.clock = clock, .until = until, .pred = pred, .arg = arg};

	f.real_last = bs_clock_now_ms(bs_clock_real());
	if (pred == NULL) {
		f.pred = reached;
		f.arg = &f;
	}
	assert_true(run_until(c, flowing, &f));
}

struct on_node {
	unsigned node;
	const char *key;
	uint64_t lease;
};

/* The leader has decided the lease's end (submitted its LeaseExpire). */
static bool lease_expiring(struct cluster *c, void *arg)
{
	const struct on_node *o = arg;
	uint64_t left;

	return cns_lease_time_left(c->nodes[o->node], o->lease, &left) == -ENOENT;
}

static bool gone_on(struct cluster *c, void *arg)
{
	const struct on_node *o = arg;
	Backstay__KvResult *r;
	bool gone;

	assert_int_equal(cns_read_local(c->nodes[o->node], o->key, strlen(o->key), 0, &r), 0);
	gone = r->n_kvs == 0;
	backstay__kv_result__free_unpacked(r, NULL);
	return gone;
}

/* Leader A grants a lease (TTL LEASE_TTL) held by a key and keeps it alive
 * at virtual time *ret_t or after; then the clock stops. Returns the lease. */
static uint64_t kept_alive_then_frozen(struct cluster *c, struct bs_clock *clock, unsigned a,
				       uint64_t *ret_t)
{
	struct call call;
	uint64_t lease;

	lease_grant(c, a, LEASE_TTL, &call);
	assert_int_equal(call.status, 0);
	lease = call.lease;
	put(c, a, "held", "by-lease", lease, &call);
	assert_int_equal(call.code, 0);
	flow_until(c, clock, UINT64_MAX, all_see, "held");
	flow_until(c, clock, bs_clock_now_ms(clock) + 200, NULL, NULL);
	*ret_t = bs_clock_now_ms(clock);
	memset(&call, 0, sizeof call);
	call.req.data = &call;
	assert_int_equal(cns_lease_keepalive(c->nodes[a], &call.req, lease, call_cb), 0);
	flow_until(c, clock, UINT64_MAX, call_done, &call);
	assert_int_equal(call.status, 0);
	return lease; /* the clock stands still until the next flow_until */
}

/* The next leader (whichever) starts the clocks of earlier terms' leases
 * at base[its index]: the lease expires exactly at base + ttl, not ttl
 * after the election. */
static void expires_from(struct cluster *c, struct bs_clock *clock, uint64_t lease,
			 const uint64_t base_of[MAX_NODES])
{
	struct cns_status st;
	struct on_node held, expiring;
	uint64_t left, now, base;
	int n;

	flow_until(c, clock, UINT64_MAX, has_leader, NULL);
	n = leader_of(c);
	base = base_of[n];
	now = bs_clock_now_ms(clock);
	assert_true(now < base + LEASE_TTL);
	cns_node_status(c->nodes[n], &st);
	assert_int_equal(st.lease_base_ms, base);
	assert_int_equal(cns_lease_time_left(c->nodes[n], lease, &left), 0);
	assert_int_equal(left,
			 base + LEASE_TTL - now); /* not LEASE_TTL: the election does not count */

	held = (struct on_node){.node = (unsigned)n, .key = "held"};
	flow_until(c, clock, base + LEASE_TTL - 1, NULL, NULL); /* the last valid millisecond */
	assert_int_equal(leader_of(c), n);
	assert_false(gone_on(c, &held));
	assert_int_equal(cns_lease_time_left(c->nodes[n], lease, &left), 0);
	assert_int_equal(left, 1);
	/* Expired at base + ttl, not a millisecond later (the LeaseExpire is
	 * submitted while the clock stands there), and gone once committed. */
	expiring = (struct on_node){.node = (unsigned)n, .lease = lease};
	flow_until(c, clock, base + LEASE_TTL, lease_expiring, &expiring);
	assert_int_equal(bs_clock_now_ms(clock), base + LEASE_TTL);
	flow_until(c, clock, UINT64_MAX, gone_on, &held);
}

/* The holder's leader A dies: the next leader counts the lease from the
 * last time it heard from A (at or after the keep-alive's barrier, so at or
 * after the keep-alive), and the lease ends ttl after that. */
static void lease_counts_from_last_leader_contact(void **state)
{
	uint64_t base_of[MAX_NODES] = {0};
	struct bs_clock *clock;
	struct cns_status st;
	struct cluster c;
	uint64_t lease, t;
	unsigned i;
	int a;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(1000000, 11, &clock), 0);
	cluster_init(&c, 3, 3, clock);
	flow_until(&c, clock, UINT64_MAX, has_leader, NULL);
	a = leader_of(&c);
	lease = kept_alive_then_frozen(&c, clock, (unsigned)a, &t);
	close_node(&c, (unsigned)a);
	for (i = 0; i < 3; i++) { /* nothing reaches them now: A is gone, time stands */
		if (i == (unsigned)a)
			continue;
		cns_node_status(c.nodes[i], &st);
		base_of[i] = st.leader_contact_ms;
		assert_true(base_of[i] <= bs_clock_now_ms(clock));
	}
	expires_from(&c, clock, lease, base_of);
	assert_true(base_of[leader_of(&c)] >= t); /* it got the keep-alive's barrier */
	cluster_free(&c);
	bs_clock_free(clock);
}

/* The same when the next leader heard nothing since it started (all three
 * went down, two came back 500 ms later): it counts from its start. */
static void lease_counts_from_boot(void **state)
{
	uint64_t base_of[MAX_NODES] = {0};
	struct bs_clock *clock;
	struct cns_status st;
	struct cluster c;
	uint64_t lease, t, boot;
	unsigned i;
	int a;

	(void)state;
	assert_int_equal(bs_clock_virtual_new(1000000, 12, &clock), 0);
	cluster_init(&c, 3, 3, clock);
	flow_until(&c, clock, UINT64_MAX, has_leader, NULL);
	a = leader_of(&c);
	lease = kept_alive_then_frozen(&c, clock, (unsigned)a, &t);
	for (i = 0; i < 3; i++)
		close_node(&c, i);
	bs_clock_advance(clock, 500);
	boot = bs_clock_now_ms(clock);
	for (i = 0; i < 3; i++) {
		if (i == (unsigned)a)
			continue;
		start_node(&c, i);
		cns_node_status(c.nodes[i], &st);
		assert_int_equal(st.leader_contact_ms, 0);
		base_of[i] = boot;
	}
	expires_from(&c, clock, lease, base_of);
	assert_true(boot > t);
	cluster_free(&c);
	bs_clock_free(clock);
}

int bs_test_node(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_node_put_read),
		cmocka_unit_test(restart_keeps_writes),
		cmocka_unit_test(lease_expires_on_leader_clock),
		cmocka_unit_test(three_nodes_failover),
		cmocka_unit_test(member_joins),
		cmocka_unit_test(standby_promoted_by_next_leader),
		cmocka_unit_test(joiner_gets_chunked_snapshot),
		cmocka_unit_test(quorum_loss_recovery),
		cmocka_unit_test(transfer_and_remove),
		cmocka_unit_test(lease_counts_from_last_leader_contact),
		cmocka_unit_test(lease_counts_from_boot),
	};

	return cmocka_run_group_tests_name("node", tests, quiet, loud);
}
