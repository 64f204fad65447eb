/*
 * Requests on a node: proposals, linearizable reads and lease keep-alives
 * (which share barriers), the leader's lease clocks, watches and membership
 * changes. Every completion is queued and its callback runs from
 * node__dispatch(), outside raft_step(), so callbacks may submit again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

#define NODE_DEFAULT_TIMEOUT_MS 10000
#define NODE_CHANGE_TIMEOUT_MS 60000

/* ---- lists and completion ---------------------------------------------------- */

static void list_push(struct cns_req **head, struct cns_req *req)
{
	struct cns_req **pp = head;

	while (*pp != NULL)
		pp = &(*pp)->next;
	req->next = NULL;
	*pp = req;
}

void node__complete(struct cns_req *req, int status, Backstay__KvResult *result)
{
	struct cns_node *n = req->node;

	req->status = status;
	req->result = result;
	req->next = NULL;
	if (n->done_tail != NULL)
		n->done_tail->next = req;
	else
		n->done_head = req;
	n->done_tail = req;
}

static void fail_list(struct cns_req **head, int status)
{
	struct cns_req *req;

	while ((req = *head) != NULL) {
		*head = req->next;
		node__complete(req, status, NULL);
	}
}

void node__requests_fail_all(struct cns_node *n, int status)
{
	fail_list(&n->reads_next, status);
	fail_list(&n->reads_wait, status);
	n->barrier_pending = false;
	if (n->change.req != NULL) {
		node__complete(n->change.req, status, NULL);
		n->change.req = NULL;
	}
	if (status == -ECANCELED)
		fail_list(&n->proposals, status);
}

/* A read answers from the state machine as it is when its barrier is
 * applied (or later: the state only moves forward). */
static void finish_read(struct cns_req *req)
{
	struct cns_node *n = req->node;
	Backstay__KvResult *result = NULL;

	req->status = cns__fsm_range(n->fsm, req->key, req->key_len, req->limit, &result);
	req->result = result;
}

/* A keep-alive confirmed by a barrier: the lease lives at least until
 * arrival + ttl by this leader's clock. */
static void finish_keepalive(struct cns_req *req)
{
	struct cns_node *n = req->node;
	int64_t ttl;
	Backstay__KvResult *r;

	if (cns__fsm_lease_ttl(n->fsm, req->lease, &ttl) != 0 ||
	    cns__lease_confirm_keepalive(&n->leases, req->lease, req->arrived_ms, ttl) != 0) {
		req->status = -ENOENT;
		return;
	}
	r = malloc(sizeof *r);
	if (r == NULL) {
		req->status = -ENOMEM;
		return;
	}
	backstay__kv_result__init(r);
	r->lease_id = req->lease;
	r->ttl_ms = ttl;
	req->result = r;
}

void node__dispatch(struct cns_node *n)
{
	Backstay__KvResult *result;
	struct cns_req *req;

	while ((req = n->done_head) != NULL) {
		n->done_head = req->next;
		if (n->done_head == NULL)
			n->done_tail = NULL;
		if (req->status == 0 && req->kind == NODE_REQ_READ)
			finish_read(req);
		else if (req->status == 0 && req->kind == NODE_REQ_KEEPALIVE)
			finish_keepalive(req);
		free((void *)req->key);
		req->key = NULL;
		result = req->result; /* the callback may free req */
		req->result = NULL;
		req->cb(req, req->status, req->status == 0 ? result : NULL);
		if (result != NULL)
			backstay__kv_result__free_unpacked(result, NULL);
	}
}

/* ---- proposals ------------------------------------------------------------------ */

static int submit_command(struct cns_node *n, const Backstay__KvCommand *cmd, uint64_t *ret_index,
			  uint64_t *ret_term)
{
	size_t len = backstay__kv_command__get_packed_size(cmd);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	int rv;

	if (buf == NULL)
		return -ENOMEM;
	backstay__kv_command__pack(cmd, buf);
	rv = cns__drv_submit(n->drv, RAFT_COMMAND, buf, len, node__now(n), ret_index, ret_term);
	free(buf);
	return rv;
}

static void req_init(struct cns_node *n, struct cns_req *req, int kind, cns_req_cb cb)
{
	void *data = req->data;

	memset(req, 0, sizeof *req);
	req->data = data;
	req->node = n;
	req->kind = kind;
	req->cb = cb;
	req->arrived_ms = node__now(n);
}

int cns_propose(struct cns_node *n, struct cns_req *req, const Backstay__KvCommand *cmd,
		unsigned timeout_ms, cns_req_cb cb)
{
	uint64_t index, term;
	int rv;

	if (n->closing)
		return -ESHUTDOWN;
	rv = submit_command(n, cmd, &index, &term);
	if (rv != 0)
		return rv;
	req_init(n, req, NODE_REQ_PROPOSE, cb);
	req->index = index;
	req->term = term;
	req->deadline_ms = req->arrived_ms + (timeout_ms ? timeout_ms : NODE_DEFAULT_TIMEOUT_MS);
	list_push(&n->proposals, req);
	return 0;
}

/* ---- barriers: linearizable reads and keep-alives ------------------------------ */

static int submit_barrier(struct cns_node *n)
{
	static const uint8_t zero[8];
	int rv = cns__drv_submit(n->drv, RAFT_BARRIER, zero, sizeof zero, node__now(n),
				 &n->barrier_index, &n->barrier_term);

	n->barrier_pending = rv == 0;
	return rv;
}

/* Queue a request behind a barrier submitted after it arrived: the current
 * one if none is in flight, else the next one. */
static int enqueue_barrier(struct cns_node *n, struct cns_req *req)
{
	int rv;

	if (!node__is_ready(n))
		return BS_E_NOT_LEADER;
	if (n->barrier_pending) {
		list_push(&n->reads_next, req);
		return 0;
	}
	rv = submit_barrier(n);
	if (rv == 0)
		list_push(&n->reads_wait, req);
	return rv;
}

int cns_read(struct cns_node *n, struct cns_req *req, const void *prefix, size_t len, size_t limit,
	     cns_req_cb cb)
{
	void *copy;
	int rv;

	if (n->closing)
		return -ESHUTDOWN;
	copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, prefix, len);
	req_init(n, req, NODE_REQ_READ, cb);
	req->key = copy;
	req->key_len = len;
	req->limit = limit;
	req->deadline_ms = req->arrived_ms + NODE_DEFAULT_TIMEOUT_MS;
	rv = enqueue_barrier(n, req);
	if (rv != 0)
		free(copy);
	return rv;
}

int cns_read_local(struct cns_node *n, const void *prefix, size_t len, size_t limit,
		   Backstay__KvResult **ret_result)
{
	return cns__fsm_range(n->fsm, prefix, len, limit, ret_result);
}

int cns_lease_keepalive(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb)
{
	if (n->closing)
		return -ESHUTDOWN;
	req_init(n, req, NODE_REQ_KEEPALIVE, cb);
	req->lease = id;
	req->deadline_ms = req->arrived_ms + NODE_DEFAULT_TIMEOUT_MS;
	return enqueue_barrier(n, req);
}

int cns_lease_time_left(struct cns_node *n, uint64_t id, uint64_t *ret_ms)
{
	if (!node__is_ready(n) || !cns__lease_is_armed(&n->leases))
		return BS_E_NOT_LEADER;
	return cns__lease_time_left(&n->leases, id, node__now(n), ret_ms);
}

/* The barrier at index was applied: if it is ours (same term) its waiters
 * are answered and the next group gets a barrier; if another leader's entry
 * took its place, this node no longer leads them. */
static void barrier_applied(struct cns_node *n, uint64_t index, uint64_t term)
{
	struct cns_req *req;
	int status;

	if (!n->barrier_pending || index != n->barrier_index)
		return;
	n->barrier_pending = false;
	status = term == n->barrier_term ? 0 : BS_E_NOT_LEADER;
	while ((req = n->reads_wait) != NULL) {
		n->reads_wait = req->next;
		node__complete(req, status, NULL);
	}
	if (n->reads_next != NULL) {
		n->reads_wait = n->reads_next;
		n->reads_next = NULL;
		if (submit_barrier(n) != 0)
			fail_list(&n->reads_wait, BS_E_NOT_LEADER);
	}
}

void node__requests_applied(struct cns_node *n, uint64_t index, const struct cns__entry *e,
			    Backstay__KvResult **result)
{
	struct cns_req **pp = &n->proposals, *req;

	if (e->type == RAFT_BARRIER)
		barrier_applied(n, index, e->term);
	while ((req = *pp) != NULL) {
		if (req->index != index) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		if (req->term == e->term) {
			node__complete(req, 0, *result);
			*result = NULL; /* taken */
		} else {
			node__complete(req, BS_E_NOT_LEADER, NULL);
		}
	}
}

static void expire_list(struct cns_node *n, struct cns_req **head, uint64_t now)
{
	struct cns_req **pp = head, *req;

	while ((req = *pp) != NULL) {
		if (req->deadline_ms > now) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		node__complete(req, -ETIMEDOUT, NULL);
	}
	(void)n;
}

void node__requests_tick(struct cns_node *n, uint64_t now)
{
	expire_list(n, &n->proposals, now);
	expire_list(n, &n->reads_next, now);
	expire_list(n, &n->reads_wait, now);
}

/* ---- lease clocks (leader): the decisions are lease.c's ----------------------- */

/* Where a new leader's lease clocks start (fsm_lease.c): the later of the
 * last time it heard from a leader and its boot. A table armed again in the
 * same term (it was dropped for want of memory) starts at now: keep-alives
 * this leader confirmed may have moved deadlines past base + ttl. */
static uint64_t lease_base(struct cns_node *n, uint64_t term, uint64_t now)
{
	uint64_t base = n->leader_contact_ms > n->boot_ms ? n->leader_contact_ms : n->boot_ms;

	if (n->lease_base_term == term || base > now)
		return now;
	return base;
}

/* A new leader restarts the clock of every lease of an earlier term at its
 * base, of a lease granted in its own term before it was ready at now, so
 * that no lease ends earlier than its holder was promised by any leader
 * (fsm_lease.c). A node that does not lead keeps none. */
void node__leases_state(struct cns_node *n, uint64_t now)
{
	uint64_t term = cns__drv_term(n->drv), base;

	if (!node__is_ready(n)) {
		cns__lease_disarm(&n->leases);
		return;
	}
	if (cns__lease_armed_for(&n->leases, term))
		return;
	base = lease_base(n, term, now);
	if (cns__lease_arm_from(&n->leases, n->fsm, base, cns__drv_ready_index(n->drv), now,
				term) != 0)
		return; /* not armed: retried after the next event */
	n->lease_base_ms = base;
	n->lease_base_term = term;
	bs_info("consensus", "leading term %llu: %u lease clock(s) started %llu ms ago",
		(unsigned long long)term, n->leases.n, (unsigned long long)(now - base));
}

/* A command that named a lease was applied: granted (it exists now) or
 * ended (it does not). Out of memory disarms the table: it is rebuilt after
 * the event, with fresh (longer) clocks. */
void node__lease_granted(struct cns_node *n, uint64_t id, int64_t ttl_ms, uint64_t now)
{
	(void)ttl_ms;
	cns__lease_update(&n->leases, id, n->fsm, now);
}

struct expire_ctx {
	struct cns_node *n;
	uint64_t term;
};

/* Submit the LeaseExpire of a due lease: 0 marks it expiring. */
static int submit_expire(void *data, uint64_t id)
{
	struct expire_ctx *c = data;
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseExpire expire = BACKSTAY__LEASE_EXPIRE__INIT;
	uint64_t index, term;
	int rv;

	expire.id = id;
	expire.leader_term = c->term;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_EXPIRE;
	cmd.lease_expire = &expire;
	rv = submit_command(c->n, &cmd, &index, &term);
	if (rv == 0)
		bs_info("consensus", "lease %llu expired", (unsigned long long)id);
	return rv;
}

/* The leader expires a lease by committing LeaseExpire once its own clock
 * passes the lease's last valid millisecond. */
void node__leases_tick(struct cns_node *n, uint64_t now)
{
	struct expire_ctx c = {.n = n};

	if (!cns__lease_is_armed(&n->leases) || !node__is_ready(n))
		return;
	c.term = cns__drv_term(n->drv);
	cns__lease_due(&n->leases, now, submit_expire, &c);
}

/* ---- watches ----------------------------------------------------------------------- */

struct node_watch {
	uint64_t id;
	cns_watch_cb cb;
	void *data;
	struct node_watch *next;
};

static void watch_trampoline(void *data, const struct cns__fsm_event *ev)
{
	struct node_watch *w = data;
	struct cns_watch_event out = {
		.deleted = ev->type == CNS__FSM_DELETE,
		.kv = ev->kv,
		.prev = ev->prev,
		.revision = ev->revision,
	};

	w->cb(w->data, &out);
}

int cns_watch(struct cns_node *n, const void *prefix, size_t len, cns_watch_cb cb, void *data,
	      uint64_t *ret_id)
{
	struct node_watch *w = calloc(1, sizeof *w);
	int rv;

	if (w == NULL)
		return -ENOMEM;
	w->cb = cb;
	w->data = data;
	rv = cns__fsm_watch(n->fsm, prefix, len, watch_trampoline, w, &w->id);
	if (rv != 0) {
		free(w);
		return rv;
	}
	w->next = n->watches;
	n->watches = w;
	*ret_id = w->id;
	return 0;
}

int cns_unwatch(struct cns_node *n, uint64_t id)
{
	struct node_watch **pp, *w;

	for (pp = &n->watches; (w = *pp) != NULL; pp = &w->next) {
		if (w->id == id) {
			*pp = w->next;
			cns__fsm_unwatch(n->fsm, id);
			free(w);
			return 0;
		}
	}
	return -ENOENT;
}

void node__watches_free(struct cns_node *n)
{
	struct node_watch *w;

	while ((w = n->watches) != NULL) {
		n->watches = w->next;
		free(w);
	}
}

/* ---- membership ---------------------------------------------------------------------- */

/* raft's current configuration with member `id` given `role`, or removed
 * when role < 0; address used when adding. */
static int conf_with(struct cns_node *n, uint64_t id, const char *address, int role,
		     struct raft_configuration *ret)
{
	const struct raft_configuration *cur = cns__drv_configuration(n->drv);
	bool found = false;
	unsigned i;
	int rv = 0;

	raft_configuration_init(ret);
	for (i = 0; rv == 0 && i < cur->n; i++) {
		const struct raft_server *s = &cur->servers[i];

		if (s->id == id) {
			found = true;
			if (role >= 0)
				rv = raft_configuration_add(ret, s->id, s->address, role);
		} else {
			rv = raft_configuration_add(ret, s->id, s->address, s->role);
		}
	}
	if (rv == 0 && !found && role >= 0)
		rv = raft_configuration_add(ret, id, address, role);
	if (rv != 0) {
		raft_configuration_close(ret);
		return -ENOMEM;
	}
	return 0;
}

static int propose_conf(struct cns_node *n, uint64_t id, const char *address, int role)
{
	struct raft_configuration conf;
	int rv = conf_with(n, id, address, role, &conf);

	if (rv != 0)
		return rv;
	rv = cns__drv_change(n->drv, &conf, node__now(n));
	raft_configuration_close(&conf);
	if (rv == 0)
		n->change.index = cns__drv_last_index(n->drv);
	return rv;
}

static bool is_member(struct cns_node *n, const struct cns_member *m)
{
	const struct raft_configuration *cur = cns__drv_configuration(n->drv);
	unsigned i;

	for (i = 0; i < cur->n; i++)
		if (cur->servers[i].id == m->id || strcmp(cur->servers[i].address, m->address) == 0)
			return true;
	return false;
}

static int start_change(struct cns_node *n, struct cns_req *req, cns_req_cb cb)
{
	if (n->closing)
		return -ESHUTDOWN;
	if (!node__is_ready(n))
		return BS_E_NOT_LEADER;
	if (n->change.req != NULL)
		return -EBUSY;
	req_init(n, req, NODE_REQ_MEMBER, cb);
	return 0;
}

int cns_add_member(struct cns_node *n, struct cns_req *req, const struct cns_member *m,
		   cns_req_cb cb)
{
	int rv = start_change(n, req, cb);

	if (rv != 0)
		return rv;
	if (m->id == 0 || is_member(n, m))
		return -EEXIST;
	/* A standby is replicated to but not counted: quorum never waits
	 * for a node that is still catching up. */
	rv = propose_conf(n, m->id, m->address, RAFT_STANDBY);
	if (rv != 0)
		return rv;
	n->change.req = req;
	n->change.member = *m;
	n->change.removing = false;
	n->change.phase = NODE_CHANGE_ADDED;
	n->change.deadline_ms = req->arrived_ms + NODE_CHANGE_TIMEOUT_MS;
	return 0;
}

int cns_promote_member(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb)
{
	const struct raft_configuration *cur;
	unsigned i;
	int rv = start_change(n, req, cb);

	if (rv != 0)
		return rv;
	cur = cns__drv_configuration(n->drv);
	for (i = 0; i < cur->n && cur->servers[i].id != id; i++)
		;
	if (i == cur->n)
		return -ENOENT;
	if (cur->servers[i].role != RAFT_STANDBY)
		return -EINVAL;
	n->change.req = req;
	n->change.member = (struct cns_member){.id = id, .voter = true};
	snprintf(n->change.member.address, sizeof n->change.member.address, "%s",
		 cur->servers[i].address);
	n->change.removing = false;
	n->change.phase = NODE_CHANGE_ADDED; /* in the committed configuration already */
	n->change.index = n->applied_conf_index;
	n->change.deadline_ms = req->arrived_ms + NODE_CHANGE_TIMEOUT_MS;
	return 0;
}

int cns_remove_member(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb)
{
	int rv = start_change(n, req, cb);

	if (rv != 0)
		return rv;
	rv = propose_conf(n, id, NULL, -1);
	if (rv != 0)
		return rv;
	n->change.req = req;
	n->change.member.id = id;
	n->change.removing = true;
	n->change.phase = NODE_CHANGE_PROMOTED; /* only the commit is left */
	n->change.deadline_ms = req->arrived_ms + NODE_CHANGE_TIMEOUT_MS;
	return 0;
}

int cns_transfer_leadership(struct cns_node *n, uint64_t id)
{
	return cns__drv_transfer(n->drv, id, node__now(n));
}

static void change_done(struct cns_node *n, int status)
{
	node__complete(n->change.req, status, NULL);
	n->change.req = NULL;
}

/* Advance the change in progress: added (committed) -> catch up -> promote
 * (committed) -> done. */
void node__change_tick(struct cns_node *n, uint64_t now)
{
	struct node_change *c = &n->change;
	int st;

	if (c->req == NULL)
		return;
	if (now > c->deadline_ms || !node__is_ready(n)) {
		change_done(n, now > c->deadline_ms ? -ETIMEDOUT : BS_E_NOT_LEADER);
		return;
	}
	if (n->applied_conf_index < c->index)
		return; /* the last configuration entry is not applied yet */
	if (c->phase == NODE_CHANGE_PROMOTED) {
		change_done(n, 0);
		return;
	}
	if (c->phase == NODE_CHANGE_ADDED) {
		if (cns__drv_catch_up(n->drv, c->member.id, now) == 0)
			c->phase = NODE_CHANGE_CATCHING_UP;
		return;
	}
	st = cns__drv_catch_up_status(n->drv, c->member.id);
	if (st == RAFT_CATCH_UP_FINISHED && propose_conf(n, c->member.id, NULL, RAFT_VOTER) == 0)
		c->phase = NODE_CHANGE_PROMOTED;
	else if (st == RAFT_CATCH_UP_ABORTED)
		c->phase = NODE_CHANGE_ADDED; /* try again until the deadline */
}
