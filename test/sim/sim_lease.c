/*
 * Leases in the simulation: seeded clients grant leases at a leader and keep
 * them alive; every node runs the leader's lease clocks (consensus/lease.h)
 * the way node_req.c drives them; the checker holds the leaders to what the
 * holders were promised.
 *
 * The promise (consensus.h, cns_lease_keepalive): a holder that sent a
 * keep-alive at s and had it acknowledged may use its lease strictly before
 * s + ttl; a grant proposed at s and acknowledged promises the same. A
 * keep-alive is acknowledged as the node does it: a barrier submitted after
 * it arrived is applied on that leader in that leader's term, and the lease
 * is then in the table, not expiring, and in the fsm.
 *
 * Checked: whenever a node applies the LeaseExpire that removes lease L, at
 * time t, t >= every end promised for L, and so was the time its leader
 * decided it (a promise acknowledged after such an apply is checked the
 * same way). Loosely, the converse: once healed, a lease no keep-alive
 * reached for ttl + 5 s is gone from every node.
 *
 * Keep-alives whose barriers were applied in one event are confirmed newest
 * first, on purpose: the table must not care (a deadline never moves back).
 * The node confirms in arrival order, where that rule is never needed; here
 * it is, and a table that let a deadline shrink is caught.
 *
 * The leader's tick runs exactly when its earliest lease falls due
 * (cns__lease_next_due), the earliest any tick could expire it; the node
 * ticks every 50 ms, which only expires later. One virtual clock stands for
 * every node's: no drift.
 */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_TTL_MIN 300
#define SIM_TTL_SPAN 2701 /* TTLs are 300..3000 ms */
#define SIM_TTL_MAX (SIM_TTL_MIN + SIM_TTL_SPAN - 1)
#define SIM_LIVENESS_SLACK_MS 5000
#define SIM_RETRY_TICK_MS 50

/* ---- the leases the checker knows -------------------------------------------- */

static struct sim_lease *find_lease(struct sim *s, uint64_t id)
{
	unsigned i;

	for (i = 0; i < s->nleases; i++)
		if (s->leases[i].id == id)
			return &s->leases[i];
	return NULL;
}

static struct sim_lease *add_lease(struct sim *s, uint64_t id, int64_t ttl)
{
	struct sim_lease *l = find_lease(s, id);

	if (l != NULL)
		return l;
	s->leases = sim_grow(s->leases, &s->capleases, s->nleases + 1, sizeof *s->leases);
	l = &s->leases[s->nleases++];
	memset(l, 0, sizeof *l);
	l->id = id;
	l->ttl = ttl;
	l->next_ka = UINT64_MAX;
	return l;
}

static struct sim_expire *find_expire(struct sim *s, uint64_t index, uint64_t term)
{
	unsigned i;

	for (i = 0; i < s->nexpires; i++)
		if (s->expires[i].index == index && s->expires[i].term == term)
			return &s->expires[i];
	return NULL;
}

/* The invariant for lease l: an expiry applied at t and decided at d
 * (0: none yet) against the latest promised end. */
static void check_lease(struct sim *s, const struct sim_lease *l, unsigned node, uint64_t t,
			uint64_t d, unsigned decider)
{
	if (t == 0 || l->end == 0)
		return;
	if (t < l->end)
		sim_violation(s,
			      "lease %llu: node %u applied its expiry at t=%llu, before the end "
			      "promised to its holder (%llu)",
			      (unsigned long long)l->id, node, (unsigned long long)t,
			      (unsigned long long)l->end);
	else if (d < l->end)
		sim_violation(s,
			      "lease %llu: leader %u decided its expiry at t=%llu, before the end "
			      "promised to its holder (%llu)",
			      (unsigned long long)l->id, decider, (unsigned long long)d,
			      (unsigned long long)l->end);
}

/* A holder was promised its lease until end (exclusive). */
static void promise(struct sim *s, struct sim_lease *l, uint64_t end, unsigned node)
{
	if (l->end < end)
		l->end = end;
	check_lease(s, l, node, l->expired_at, l->decided_at, l->decided_by);
}

/* The holder's next keep-alive after one sent (or a grant proposed) at
 * `from`: a quarter to three quarters of the TTL later, or, one time in six,
 * too late (after the promise ran out: the lease may well expire). */
static uint64_t next_keepalive(struct sim *s, uint64_t from, int64_t ttl)
{
	uint64_t t = (uint64_t)ttl;

	if (sim_rand(s, 6) == 0)
		return from + t + sim_rand(s, t);
	return from + t / 4 + sim_rand(s, t / 2);
}

/* A keep-alive was refused (not the leader, or it stopped leading): the
 * holder tries again soon. */
static void retry(struct sim *s, uint64_t id)
{
	struct sim_lease *l = find_lease(s, id);
	uint64_t soon = s->now + 20 + sim_rand(s, 80);

	if (l != NULL && l->next_ka != UINT64_MAX && soon < l->next_ka)
		l->next_ka = soon;
}

uint64_t sim_lease_pick(struct sim *s)
{
	struct sim_lease *l;

	if (s->nleases == 0)
		return 0;
	l = &s->leases[sim_rand(s, s->nleases)];
	return l->held && l->expired_at == 0 ? l->id : 0;
}

/* ---- on the nodes ------------------------------------------------------------- */

static void ka_push(struct sim_ka **head, struct sim_ka *ka)
{
	ka->next = *head;
	*head = ka;
}

static void refuse_list(struct sim *s, struct sim_ka **head)
{
	struct sim_ka *ka;

	while ((ka = *head) != NULL) {
		*head = ka->next;
		retry(s, ka->lease);
		free(ka);
	}
}

void sim_lease_node_reset(struct sim_node *n, bool all)
{
	refuse_list(n->sim, &n->ka_wait);
	if (!all)
		return;
	refuse_list(n->sim, &n->ka_done);
	n->ngrants = 0;
	cns__lease_disarm(&n->leases);
	n->lease_tick_at = UINT64_MAX;
}

/* The barrier a keep-alive waits for was applied: in the leader's term it
 * is confirmed after the event; otherwise another leader's entry took its
 * place. */
static void barrier_applied(struct sim_node *n, uint64_t index, uint64_t term)
{
	struct sim_ka **pp = &n->ka_wait, *ka;

	while ((ka = *pp) != NULL) {
		if (ka->index != index) {
			pp = &ka->next;
			continue;
		}
		*pp = ka->next;
		if (ka->term == term) {
			ka_push(&n->ka_done, ka);
		} else {
			retry(n->sim, ka->lease);
			free(ka);
		}
	}
}

/* The grants n proposed up to index are answered (as cns_propose is). */
static void grants_applied(struct sim_node *n, uint64_t index, uint64_t term,
			   const Backstay__KvResult *r)
{
	struct sim *s = n->sim;
	unsigned i, kept = 0;
	struct sim_lease *l;

	for (i = 0; i < n->ngrants; i++) {
		struct sim_grant *g = &n->grants[i];

		if (g->index > index) {
			n->grants[kept++] = *g;
			continue;
		}
		if (g->index != index || g->term != term || r->code != 0 || r->lease_id != index)
			continue;
		l = find_lease(s, index);
		l->held = true;
		l->next_ka = next_keepalive(s, g->sent, l->ttl);
		s->r->leases_granted++;
		sim_trace(s, "node %u granted lease %llu (ttl %lld ms)", n->id,
			  (unsigned long long)index, (long long)l->ttl);
		promise(s, l, g->sent + (uint64_t)l->ttl, n->id);
	}
	n->ngrants = kept;
}

/* n applied the LeaseExpire at index that removed lease id. */
static void expired(struct sim_node *n, uint64_t index, uint64_t term, uint64_t id, int64_t ttl)
{
	struct sim *s = n->sim;
	struct sim_expire *x = find_expire(s, index, term);
	struct sim_lease *l = add_lease(s, id, ttl);

	if (x == NULL || x->lease != id) {
		sim_violation(s, "node %u applied an expiry of lease %llu no leader decided", n->id,
			      (unsigned long long)id);
		return;
	}
	if (l->expired_at == 0) {
		l->expired_at = s->now;
		l->decided_at = x->at;
		l->decided_by = x->node;
		s->r->leases_expired++;
	}
	check_lease(s, l, n->id, s->now, x->at, x->node);
}

void sim_lease_applied(struct sim_node *n, uint64_t index, const struct cns__entry *e,
		       const Backstay__KvResult *r)
{
	struct sim *s = n->sim;

	if (r == NULL) {
		barrier_applied(n, index, e->term);
		return;
	}
	if (r->code == 0 && r->lease_id == index)
		add_lease(s, index, r->ttl_ms); /* a grant */
	else if (r->lease_id != 0 && r->ttl_ms > 0)
		expired(n, index, e->term, r->lease_id, r->ttl_ms);
	/* As node.c's io_apply: a command that named a lease. */
	if (r->lease_id != 0)
		cns__lease_update(&n->leases, r->lease_id, n->fsm, s->now);
	if (n->ngrants > 0)
		grants_applied(n, index, e->term, r);
}

/* A keep-alive whose barrier was applied in its leader's term: confirmed
 * as node_req.c's finish_keepalive does it. */
static void confirm(struct sim *s, struct sim_node *n, const struct sim_ka *ka)
{
	struct sim_lease *l = find_lease(s, ka->lease);
	int64_t ttl;

	if (!sim_node_ready(n)) {
		retry(s, ka->lease);
		return;
	}
	if (cns__fsm_lease_ttl(n->fsm, ka->lease, &ttl) != 0 ||
	    cns__lease_confirm_keepalive(&n->leases, ka->lease, ka->at, ttl) != 0) {
		l->next_ka = UINT64_MAX; /* -ENOENT: the holder lets it go */
		return;
	}
	s->r->keepalives_acked++;
	promise(s, l, ka->sent + (uint64_t)ttl, n->id);
}

void sim_lease_after_event(struct sim *s, struct sim_node *n)
{
	struct sim_ka *ka;
	uint64_t term;

	if (!n->up)
		return;
	if (!sim_node_ready(n)) {
		cns__lease_disarm(&n->leases);
	} else {
		term = cns__drv_term(n->drv);
		if (!cns__lease_armed_for(&n->leases, term) &&
		    cns__lease_arm(&n->leases, n->fsm, s->now, term) == 0) {
			s->armed_at = s->now;
			sim_trace(s, "node %u: %u lease clock(s) started for term %llu", n->id,
				  n->leases.n, (unsigned long long)term);
		}
	}
	while ((ka = n->ka_done) != NULL) {
		n->ka_done = ka->next;
		confirm(s, n, ka);
		free(ka);
	}
	n->lease_tick_at = cns__lease_next_due(&n->leases);
}

/* ---- the leader's tick --------------------------------------------------------- */

/* Submit the LeaseExpire of a due lease (node_req.c's submit_expire) and
 * note when it was decided. */
static int submit_expire(void *data, uint64_t id)
{
	struct sim_node *n = data;
	struct sim *s = n->sim;
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseExpire x = BACKSTAY__LEASE_EXPIRE__INIT;
	uint64_t index, term;
	int rv;

	x.id = id;
	x.leader_term = cns__drv_term(n->drv);
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_EXPIRE;
	cmd.lease_expire = &x;
	rv = sim_submit_command(n, &cmd, &index, &term);
	if (rv != 0)
		return rv;
	s->expires = sim_grow(s->expires, &s->capexpires, s->nexpires + 1, sizeof *s->expires);
	s->expires[s->nexpires++] = (struct sim_expire){
		.index = index, .term = term, .at = s->now, .lease = id, .node = n->id};
	sim_trace(s, "node %u expires lease %llu (entry %llu)", n->id, (unsigned long long)id,
		  (unsigned long long)index);
	return 0;
}

static void lease_tick(struct sim *s, struct sim_node *n)
{
	if (sim_node_ready(n))
		cns__lease_due(&n->leases, s->now, submit_expire, n);
	n->lease_tick_at = cns__lease_next_due(&n->leases);
	if (n->lease_tick_at <= s->now)
		n->lease_tick_at = s->now + SIM_RETRY_TICK_MS; /* a submit failed */
}

/* ---- the clients ----------------------------------------------------------------- */

/* A node the client takes for the leader (possibly a stale one); 0: none. */
static unsigned pick_leader(struct sim *s)
{
	unsigned cand[SIM_MAX_NODES], n = 0, i;

	for (i = 1; i <= s->o.nodes; i++)
		if (s->nodes[i].up && cns__drv_state(s->nodes[i].drv) == RAFT_LEADER)
			cand[n++] = i;
	return n == 0 ? 0 : cand[sim_rand(s, n)];
}

static void grant(struct sim *s)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseGrant g = BACKSTAY__LEASE_GRANT__INIT;
	unsigned to = pick_leader(s);
	struct sim_node *n;
	struct sim_grant pg = {.sent = s->now};

	g.ttl_ms = SIM_TTL_MIN + (int64_t)sim_rand(s, SIM_TTL_SPAN);
	if (to == 0)
		return;
	n = &s->nodes[to];
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_GRANT;
	cmd.lease_grant = &g;
	if (sim_submit_command(n, &cmd, &pg.index, &pg.term) != 0)
		return;
	n->grants = sim_grow(n->grants, &n->capgrants, n->ngrants + 1, sizeof *n->grants);
	n->grants[n->ngrants++] = pg;
}

static void send_keepalive(struct sim *s, struct sim_lease *l)
{
	unsigned to = pick_leader(s);
	struct sim_ka *ka;

	if (to == 0) {
		l->next_ka = s->now + 50 + sim_rand(s, 200);
		return;
	}
	ka = calloc(1, sizeof *ka);
	if (ka == NULL)
		abort();
	ka->lease = l->id;
	ka->sent = s->now;
	ka->to = to;
	ka->at = s->now + sim_rand(s, s->o.max_delay_ms + 1);
	ka_push(&s->ka_flight, ka);
	l->next_ka = next_keepalive(s, s->now, l->ttl);
}

/* A keep-alive reaches its node: a ready leader records its arrival and
 * submits a barrier behind it; anything else refuses it. */
static void arrive(struct sim *s, struct sim_ka *ka)
{
	static const uint8_t zero[8];
	struct sim_node *n = &s->nodes[ka->to];
	struct sim_lease *l = find_lease(s, ka->lease);

	if (sim_node_ready(n) && cns__drv_submit(n->drv, RAFT_BARRIER, zero, sizeof zero, s->now,
						 &ka->index, &ka->term) == 0) {
		ka->at = s->now;
		l->last_ka = s->now;
		ka_push(&n->ka_wait, ka);
		return;
	}
	retry(s, ka->lease);
	free(ka);
}

static void deliver_keepalives(struct sim *s)
{
	struct sim_ka **pp = &s->ka_flight, *ka;

	while ((ka = *pp) != NULL) {
		if (ka->at > s->now) {
			pp = &ka->next;
			continue;
		}
		*pp = ka->next;
		arrive(s, ka);
	}
}

/* ---- the engine's hooks ------------------------------------------------------------ */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Clients grant and keep alive only while faults run: after healing every
 * lease is left to expire (the liveness check). */
uint64_t sim_lease_next_event(struct sim *s)
{
	uint64_t t = UINT64_MAX;
	struct sim_ka *ka;
	unsigned i;

	if (!s->healed) {
		t = s->next_grant;
		for (i = 0; i < s->nleases; i++)
			t = min_u64(t, s->leases[i].next_ka);
	}
	for (ka = s->ka_flight; ka != NULL; ka = ka->next)
		t = min_u64(t, ka->at);
	for (i = 1; i <= s->o.nodes; i++)
		if (s->nodes[i].up)
			t = min_u64(t, s->nodes[i].lease_tick_at);
	return t;
}

void sim_lease_step(struct sim *s)
{
	unsigned i;

	if (!s->healed && s->next_grant <= s->now) {
		grant(s);
		s->next_grant = s->now + 300 + sim_rand(s, 2000);
	}
	deliver_keepalives(s);
	for (i = 0; !s->healed && i < s->nleases; i++)
		if (s->leases[i].held && s->leases[i].next_ka <= s->now)
			send_keepalive(s, &s->leases[i]);
	for (i = 1; i <= s->o.nodes; i++)
		if (s->nodes[i].up && s->nodes[i].lease_tick_at <= s->now)
			lease_tick(s, &s->nodes[i]);
}

/* The lease clocks of a lease with no keep-alive run from the latest of:
 * its last keep-alive, the heal (keep-alives stop then), and the moment the
 * current leader (re)started every clock after taking over. */
static uint64_t quiet_since(struct sim *s, const struct sim_lease *l)
{
	uint64_t quiet = s->heal_at > s->armed_at ? s->heal_at : s->armed_at;

	return l != NULL && l->last_ka > quiet ? l->last_ka : quiet;
}

/* Every node's leases, once every lease's clock has run ttl + 5 s. */
static void check_gone(struct sim *s, struct sim_node *n)
{
	uint64_t id = 0, quiet;
	struct sim_lease *l;
	int64_t ttl;

	while (s->r->ok && cns__fsm_lease_next(n->fsm, id, &id, &ttl)) {
		l = find_lease(s, id);
		quiet = quiet_since(s, l);
		if (s->now > quiet + (uint64_t)ttl + SIM_LIVENESS_SLACK_MS)
			sim_violation(s,
				      "node %u still holds lease %llu (ttl %lld ms) %llu ms after "
				      "its last keep-alive or the heal",
				      n->id, (unsigned long long)id, (long long)ttl,
				      (unsigned long long)(s->now - quiet));
	}
}

void sim_lease_final(struct sim *s)
{
	uint64_t cap = s->heal_at + 60000; /* bounded whatever the elections do */
	unsigned i;

	s->next_write = UINT64_MAX; /* writes were checked already: only leases are left */
	while (s->r->ok && s->now < cap &&
	       s->now < quiet_since(s, NULL) + SIM_TTL_MAX + SIM_LIVENESS_SLACK_MS + 100)
		sim_step(s);
	for (i = 1; s->r->ok && i <= s->o.nodes; i++)
		if (s->nodes[i].up)
			check_gone(s, &s->nodes[i]);
}

void sim_lease_free(struct sim *s)
{
	struct sim_ka *ka;

	while ((ka = s->ka_flight) != NULL) {
		s->ka_flight = ka->next;
		free(ka);
	}
	free(s->leases);
	free(s->expires);
	s->leases = NULL;
	s->expires = NULL;
}
