/*
 * The simulation engine: nodes, their I/O callbacks, the network, the
 * write workload and the invariant checks. Faults are in sim_fault.c,
 * leases (clients, the leader's clocks, their checks) in sim_lease.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"
#include "wire.h"

uint64_t sim_rand(struct sim *s, uint64_t bound)
{
	return bound == 0 ? 0 : bs_clock_random_below(s->rng, bound);
}

/* arr with room for `need` elements of `size` bytes (aborts on ENOMEM). */
void *sim_grow(void *arr, unsigned *cap, unsigned need, size_t size)
{
	unsigned n = *cap ? *cap : 16;

	if (need <= *cap)
		return arr;
	while (n < need)
		n *= 2;
	arr = realloc(arr, (size_t)n * size);
	if (arr == NULL)
		abort();
	*cap = n;
	return arr;
}

int sim_submit_command(struct sim_node *n, const Backstay__KvCommand *cmd, uint64_t *ret_index,
		       uint64_t *ret_term)
{
	size_t len = backstay__kv_command__get_packed_size(cmd);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	int rv;

	if (buf == NULL)
		abort();
	backstay__kv_command__pack(cmd, buf);
	rv = cns__drv_submit(n->drv, RAFT_COMMAND, buf, len, n->sim->now, ret_index, ret_term);
	free(buf);
	return rv;
}

/* A leader whose own-term barrier is applied: it serves keep-alives and
 * runs lease clocks. */
bool sim_node_ready(struct sim_node *n)
{
	return n->up && cns__drv_state(n->drv) == RAFT_LEADER && cns__drv_leader_ready(n->drv);
}

void sim_violation(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!s->r->ok)
		return; /* keep the first */
	s->r->ok = false;
	n = snprintf(s->r->why, sizeof s->r->why,
		     "seed %llu, t=%llu ms: ", (unsigned long long)s->o.seed,
		     (unsigned long long)s->now);
	va_start(ap, fmt);
	vsnprintf(s->r->why + n, sizeof s->r->why - (size_t)n, fmt, ap);
	va_end(ap);
}

void sim_trace(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->o.trace == NULL)
		return;
	fprintf(s->o.trace, "%8llu ms  ", (unsigned long long)s->now);
	va_start(ap, fmt);
	vfprintf(s->o.trace, fmt, ap);
	va_end(ap);
	fputc('\n', s->o.trace);
}

/* ---- the replicated state machine and its checks --------------------------- */

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t entry_hash(uint64_t term, unsigned type, const void *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv(h, &term, sizeof term);
	h = fnv(h, &type, sizeof type);
	return fnv(h, data, len);
}

static uint64_t chain_next(uint64_t chain, uint64_t hash)
{
	return fnv(chain ^ 0x9e3779b97f4a7c15ull, &hash, sizeof hash);
}

static void grow(uint64_t **arr, uint64_t *cap, uint64_t need)
{
	uint64_t n = *cap ? *cap : 1024;

	if (need < *cap)
		return;
	while (n <= need)
		n *= 2;
	*arr = realloc(*arr, n * sizeof **arr);
	if (*arr == NULL)
		abort();
	memset(*arr + *cap, 0, (n - *cap) * sizeof **arr);
	*cap = n;
}

static void grow_index(struct sim *s, uint64_t index)
{
	uint64_t cap = s->cap_at;

	grow(&s->hash_at, &cap, index);
	cap = s->cap_at;
	grow(&s->chain_at, &cap, index);
	s->cap_at = cap;
}

/* The first node to apply an index fixes what every node must apply there. */
static void check_same(struct sim *s, uint64_t **arr, const char *what, uint64_t index,
		       uint64_t value, unsigned node)
{
	grow_index(s, index);
	if ((*arr)[index] == 0)
		(*arr)[index] = value;
	else if ((*arr)[index] != value)
		sim_violation(s, "node %u applied a different %s at index %llu", node, what,
			      (unsigned long long)index);
}

static void ack_proposals(struct sim_node *n, uint64_t index, uint64_t term, uint64_t hash)
{
	unsigned i, kept = 0;

	for (i = 0; i < n->nprops; i++) {
		struct sim_proposal *p = &n->props[i];

		if (p->index > index) {
			n->props[kept++] = *p;
			continue;
		}
		if (p->index == index && p->term == term) {
			if (p->hash != hash)
				sim_violation(n->sim, "node %u: acknowledged write at %llu changed",
					      n->id, (unsigned long long)index);
			n->sim->r->acked++;
		}
	}
	n->nprops = kept;
}

/* A committed command goes through the real KV state machine; every
 * command the workload makes is a valid KvCommand. */
static void apply_command(struct sim_node *n, uint64_t index, const struct cns__entry *e)
{
	Backstay__KvResult *r = NULL;

	if (cns__fsm_apply(n->fsm, index, e->buf.base, e->buf.len, &r) != 0)
		abort(); /* out of memory */
	if (r->code == -EINVAL)
		sim_violation(n->sim, "node %u applied an undecodable command at %llu", n->id,
			      (unsigned long long)index);
	sim_lease_applied(n, index, e, r);
	backstay__kv_result__free_unpacked(r, NULL);
}

static void io_apply(void *data, uint64_t index, const struct cns__entry *e)
{
	struct sim_node *n = data;
	struct sim *s = n->sim;
	uint64_t h = entry_hash(e->term, e->type, e->buf.base, e->buf.len);

	if (index != n->sm_index + 1)
		sim_violation(s, "node %u applied %llu after %llu", n->id,
			      (unsigned long long)index, (unsigned long long)n->sm_index);
	n->sm_index = index;
	n->sm_chain = chain_next(n->sm_chain, h);
	check_same(s, &s->hash_at, "entry", index, h, n->id);
	check_same(s, &s->chain_at, "history", index, n->sm_chain, n->id);
	if (index > s->r->max_commit)
		s->r->max_commit = index;
	ack_proposals(n, index, e->term, h);
	if (e->type == RAFT_COMMAND)
		apply_command(n, index, e);
	else if (e->type == RAFT_BARRIER)
		sim_lease_applied(n, index, e, NULL);
}

/* A snapshot: the applied index and hash chain, then the fsm's bytes. */
#define SIM_SNAP_HEADER (2 * sizeof(uint64_t))

static int io_snapshot(void *data, struct raft_buffer *ret)
{
	struct sim_node *n = data;
	struct raft_buffer fsm;
	uint64_t head[2] = {n->sm_index, n->sm_chain};
	uint8_t *buf;

	if (cns__fsm_snapshot(n->fsm, &fsm) != 0)
		return -ENOMEM;
	buf = malloc(SIM_SNAP_HEADER + fsm.len);
	if (buf == NULL) {
		free(fsm.base);
		return -ENOMEM;
	}
	memcpy(buf, head, SIM_SNAP_HEADER);
	memcpy(buf + SIM_SNAP_HEADER, fsm.base, fsm.len);
	free(fsm.base);
	ret->base = buf;
	ret->len = SIM_SNAP_HEADER + fsm.len;
	return 0;
}

static int io_restore(void *data, const struct raft_buffer *buf)
{
	struct sim_node *n = data;
	uint64_t v[2];
	int rv;

	if (buf->len < SIM_SNAP_HEADER)
		return -EINVAL;
	memcpy(v, buf->base, SIM_SNAP_HEADER);
	rv = cns__fsm_restore(n->fsm, (const uint8_t *)buf->base + SIM_SNAP_HEADER,
			      buf->len - SIM_SNAP_HEADER);
	if (rv != 0)
		return rv;
	n->sm_index = v[0];
	n->sm_chain = v[1];
	n->nprops = 0;
	sim_lease_node_reset(n, true);
	if (n->sm_index > 0)
		check_same(n->sim, &n->sim->chain_at, "snapshot", n->sm_index, n->sm_chain, n->id);
	n->sim->r->snapshots_installed++;
	return 0;
}

/* At most one leader per term (Raft's Election Safety). */
static void io_state(void *data)
{
	struct sim_node *n = data;
	struct sim *s = n->sim;
	uint64_t term;

	if (cns__drv_state(n->drv) == RAFT_UNAVAILABLE) {
		sim_violation(s, "node %u failed: %s", n->id, cns__drv_errmsg(n->drv));
		return;
	}
	if (cns__drv_state(n->drv) != RAFT_LEADER) {
		sim_lease_node_reset(n, false); /* keep-alives need a leader */
		return;
	}
	term = cns__drv_term(n->drv);
	grow(&s->leader_of, &s->cap_term, term);
	if (s->leader_of[term] == 0) {
		s->leader_of[term] = n->id;
		s->r->leaders++;
		sim_trace(s, "node %u leads term %llu", n->id, (unsigned long long)term);
	} else if (s->leader_of[term] != n->id) {
		sim_violation(s, "two leaders in term %llu: nodes %llu and %u",
			      (unsigned long long)term, (unsigned long long)s->leader_of[term],
			      n->id);
	}
}

static void io_timer(void *data, uint64_t at_ms)
{
	((struct sim_node *)data)->timer_at = at_ms;
}

static void io_persist(void *data, struct cns__persist *p)
{
	struct sim_node *n = data;
	struct sim *s = n->sim;
	uint64_t start = n->disk_free_at > s->now ? n->disk_free_at : s->now;

	if (n->wn == n->wcap) {
		n->wcap = n->wcap ? 2 * n->wcap : 64;
		n->writes = realloc(n->writes, n->wcap * sizeof *n->writes);
		if (n->writes == NULL)
			abort();
	}
	n->disk_free_at = start + 1 + sim_rand(s, 3);
	n->writes[n->wn].p = p;
	n->writes[n->wn].done_at = n->disk_free_at;
	n->wn++;
}

/* ---- the network ---------------------------------------------------------- */

static bool connected(struct sim *s, unsigned a, unsigned b)
{
	return s->nodes[a].up && s->nodes[b].up && s->nodes[a].group == s->nodes[b].group;
}

static void queue_msg(struct sim *s, unsigned from, unsigned to, const struct raft_message *m)
{
	struct sim_msg *msg = calloc(1, sizeof *msg);
	struct cns__wire_msg w;

	if (msg == NULL || cns__wire_encode(m, from, s->nodes[from].address, &w) != 0)
		abort();
	msg->len = backstay__envelope__get_packed_size(&w.env);
	msg->bytes = malloc(msg->len ? msg->len : 1);
	if (msg->bytes == NULL)
		abort();
	backstay__envelope__pack(&w.env, msg->bytes);
	cns__wire_msg_release(&w);
	msg->from = from;
	msg->to = to;
	msg->at = s->now + 1 + sim_rand(s, s->o.max_delay_ms);
	msg->seq = s->seq++;
	msg->next = s->msgs;
	s->msgs = msg;
}

static void io_send(void *data, const struct raft_message *m)
{
	struct sim_node *n = data;
	struct sim *s = n->sim;
	unsigned to = (unsigned)m->server_id;

	if (to == 0 || to > s->o.nodes || !connected(s, n->id, to))
		return;
	if (!s->healed && sim_rand(s, 100) < s->o.drop_pct)
		return;
	queue_msg(s, n->id, to, m);
	if (!s->healed && sim_rand(s, 100) < s->o.dup_pct)
		queue_msg(s, n->id, to, m);
}

static void msg_free(struct sim_msg *msg)
{
	free(msg->bytes);
	free(msg);
}

/* Unpack and decode as a node's transport would, then step it. */
static void deliver(struct sim *s, struct sim_msg *msg)
{
	struct sim_node *to = &s->nodes[msg->to];
	Backstay__Envelope *env;
	struct raft_message m;
	int rv;

	if (connected(s, msg->from, msg->to)) {
		env = backstay__envelope__unpack(NULL, msg->len, msg->bytes);
		if (env == NULL || env->raft == NULL || cns__wire_decode(env->raft, &m) != 0) {
			sim_violation(s, "a message from node %u did not decode", msg->from);
		} else {
			rv = cns__drv_receive(to->drv, &m, s->now);
			cns__wire_release(&m, rv);
			sim_lease_after_event(s, to);
		}
		if (env != NULL)
			backstay__envelope__free_unpacked(env, NULL);
	}
	msg_free(msg);
}

/* ---- nodes ----------------------------------------------------------------- */

void sim_node_start(struct sim *s, struct sim_node *n)
{
	struct cns__drv_io io = {
		.data = n,
		.send = io_send,
		.persist = io_persist,
		.apply = io_apply,
		.snapshot = io_snapshot,
		.restore = io_restore,
		.state = io_state,
		.timer = io_timer,
	};
	struct cns__drv_config cfg = {
		.id = n->id,
		.address = n->address,
		.election_timeout_ms = 1000,
		.heartbeat_ms = 100,
		.snapshot_threshold = s->o.snapshot_threshold,
		.snapshot_trailing = s->o.snapshot_trailing,
		.seed = (unsigned)(s->o.seed * 31 + n->id * 7919 + s->r->crashes),
	};
	char errmsg[256];

	n->sm_index = 0;
	n->sm_chain = 0;
	n->nprops = 0;
	n->up = true;
	n->disk_free_at = s->now;
	if (cns__fsm_new(&n->fsm) != 0)
		abort();
	cns__lease_init(&n->leases);
	if (cns__drv_start(&cfg, &io, sim_disk_load(&n->disk), s->now, &n->drv, errmsg,
			   sizeof errmsg) != 0) {
		n->drv = NULL;
		n->up = false;
		cns__fsm_free(n->fsm);
		n->fsm = NULL;
		sim_violation(s, "node %u did not start: %s", n->id, errmsg);
		return;
	}
	sim_lease_after_event(s, n);
}

void sim_node_crash(struct sim *s, struct sim_node *n)
{
	unsigned i;

	cns__drv_stop(n->drv);
	n->drv = NULL;
	for (i = n->whead; i < n->wn; i++)
		cns__persist_free(n->writes[i].p); /* lost: never reached the disk */
	n->whead = n->wn = 0;
	n->up = false;
	sim_lease_node_reset(n, true); /* memory only: gone */
	cns__lease_free(&n->leases);
	cns__fsm_free(n->fsm);
	n->fsm = NULL;
	s->r->crashes++;
}

static void complete_write(struct sim *s, struct sim_node *n)
{
	struct cns__persist *p = n->writes[n->whead].p;

	if (++n->whead == n->wn)
		n->whead = n->wn = 0;
	if (!sim_disk_apply(&n->disk, p))
		sim_violation(s, "node %u wrote a non-contiguous log at %llu", n->id,
			      (unsigned long long)p->first_index);
	cns__drv_persisted(n->drv, p, s->now);
	sim_lease_after_event(s, n);
}

/* ---- workload --------------------------------------------------------------- */

/* A put of a unique value to one of 16 keys, now and then on a lease. */
static uint8_t *pack_put(struct sim *s, size_t *ret_len)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	char key[8], value[24];
	uint64_t w = s->writes_made++;
	uint8_t *buf;

	snprintf(key, sizeof key, "k%u", (unsigned)(w % 16));
	snprintf(value, sizeof value, "w%llu", (unsigned long long)w);
	put.key = (ProtobufCBinaryData){.len = strlen(key), .data = (uint8_t *)key};
	put.value = (ProtobufCBinaryData){.len = strlen(value), .data = (uint8_t *)value};
	put.lease = sim_rand(s, 8) == 0 ? sim_lease_pick(s) : 0;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &put;
	*ret_len = backstay__kv_command__get_packed_size(&cmd);
	buf = malloc(*ret_len > 0 ? *ret_len : 1);
	if (buf == NULL)
		abort();
	backstay__kv_command__pack(&cmd, buf);
	return buf;
}

static void propose(struct sim *s)
{
	struct sim_proposal p;
	uint8_t *payload;
	size_t len;
	unsigned i;
	int rv;

	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up || cns__drv_state(n->drv) != RAFT_LEADER)
			continue;
		payload = pack_put(s, &len);
		rv = cns__drv_submit(n->drv, RAFT_COMMAND, payload, len, s->now, &p.index, &p.term);
		if (rv == 0)
			p.hash = entry_hash(p.term, RAFT_COMMAND, payload, len);
		free(payload);
		if (rv != 0)
			continue;
		n->props = sim_grow(n->props, &n->capprops, n->nprops + 1, sizeof *n->props);
		n->props[n->nprops++] = p;
	}
}

/* Log Matching: entries at the same index with the same term are the same
 * in every live node's log. */
static void check_logs(struct sim *s)
{
	unsigned a, b;
	uint64_t i, last;

	for (a = 1; a <= s->o.nodes; a++) {
		for (b = a + 1; b <= s->o.nodes; b++) {
			if (!s->nodes[a].up || !s->nodes[b].up)
				continue;
			last = cns__drv_last_index(s->nodes[a].drv);
			for (i = last > 64 ? last - 64 : 1; i <= last; i++) {
				const struct cns__entry *x = cns__drv_entry(s->nodes[a].drv, i);
				const struct cns__entry *y = cns__drv_entry(s->nodes[b].drv, i);

				if (x == NULL || y == NULL || x->term != y->term)
					continue;
				if (x->buf.len != y->buf.len ||
				    memcmp(x->buf.base, y->buf.base, x->buf.len) != 0)
					sim_violation(
						s, "log matching: nodes %u and %u differ at %llu",
						a, b, (unsigned long long)i);
			}
		}
	}
}

/* ---- the event loop ------------------------------------------------------------ */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t next_event(struct sim *s)
{
	uint64_t t = min_u64(min_u64(s->next_fault, s->next_write), s->next_check);
	struct sim_msg *m;
	unsigned i;

	t = min_u64(t, sim_lease_next_event(s));

	for (m = s->msgs; m != NULL; m = m->next)
		t = min_u64(t, m->at);
	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up) {
			t = min_u64(t, n->restart_at);
			continue;
		}
		t = min_u64(t, n->timer_at);
		if (n->whead < n->wn)
			t = min_u64(t, n->writes[n->whead].done_at);
	}
	return t;
}

/* The due message with the smallest sequence number, unlinked. */
static struct sim_msg *take_due_msg(struct sim *s)
{
	struct sim_msg **pp, **best = NULL;

	for (pp = &s->msgs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->at <= s->now && (best == NULL || (*pp)->seq < (*best)->seq))
			best = pp;
	if (best == NULL)
		return NULL;
	{
		struct sim_msg *m = *best;

		*best = m->next;
		return m;
	}
}

static void run_nodes(struct sim *s)
{
	unsigned i;

	for (i = 1; i <= s->o.nodes && s->r->ok; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up) {
			if (n->restart_at <= s->now) {
				sim_trace(s, "node %u restarts", n->id);
				sim_node_start(s, n);
			}
			continue;
		}
		while (n->up && n->whead < n->wn && n->writes[n->whead].done_at <= s->now)
			complete_write(s, n);
		if (n->up && n->timer_at <= s->now) {
			cns__drv_tick(n->drv, s->now);
			sim_lease_after_event(s, n);
		}
	}
}

void sim_step(struct sim *s)
{
	struct sim_msg *m;
	uint64_t t = next_event(s);

	/* Bounded: time must move (a node that stops re-arming its timer would
	 * spin here), and the schedule has an event budget. */
	s->stalled = t == s->now ? s->stalled + 1 : 0;
	if (s->stalled > 100000 || s->r->events > 20000000) {
		sim_violation(s, "no progress: %llu events at t=%llu",
			      (unsigned long long)s->stalled, (unsigned long long)t);
		return;
	}
	s->now = t;
	s->r->events++;
	if (s->next_fault <= s->now)
		sim_fault(s);
	run_nodes(s);
	while (s->r->ok && (m = take_due_msg(s)) != NULL)
		deliver(s, m);
	if (s->r->ok)
		sim_lease_step(s);
	if (s->next_write <= s->now) {
		propose(s);
		s->next_write = s->now + 5 + sim_rand(s, 20);
	}
	if (s->next_check <= s->now) {
		check_logs(s);
		s->next_check = s->now + 50;
	}
}
