/*
 * The node runtime: the Raft driver, the LMDB writer, the transport and the
 * KV state machine wired onto one uv loop. This file: start, close, status,
 * and the driver's and transport's callbacks. Requests, lease clocks and
 * membership changes are in node_req.c; bootstrap and recovery in
 * node_boot.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"
#include "wire.h"

#define NODE_TICK_MS 50

uint64_t node__now(struct cns_node *n)
{
	return bs_clock_now_ms(n->cfg.clock);
}

bool node__is_ready(struct cns_node *n)
{
	return n->drv != NULL && cns__drv_leader_ready(n->drv);
}

/* ---- the driver's environment ------------------------------------------- */

static void io_send(void *data, const struct raft_message *m)
{
	struct cns_node *n = data;
	struct cns__wire_msg w;

	if (n->closing || cns__wire_encode(m, n->cfg.id, n->address, &w) != 0)
		return;
	if (node__snapshot_needs_chunks(m))
		node__send_chunked(n, m->server_id, &w);
	else
		cns__tr_send(&n->tr, m->server_id, &w.env); /* best effort: Raft resends */
	cns__wire_msg_release(&w);
}

static void io_persist(void *data, struct cns__persist *p)
{
	struct cns_node *n = data;

	cns__writer_submit(&n->writer, p);
}

/* A committed command changes the KV state; a lease it granted or ended
 * updates the leader's lease clocks; a configuration changes the peers. */
static void io_apply(void *data, uint64_t index, const struct cns__entry *e)
{
	struct cns_node *n = data;
	Backstay__KvResult *result = NULL;

	if (e->type == RAFT_COMMAND) {
		if (cns__fsm_apply(n->fsm, index, e->buf.base, e->buf.len, &result) != 0) {
			/* Skipping it would diverge from the peers. */
			bs_error("consensus", "applying entry %llu: out of memory; stopping",
				 (unsigned long long)index);
			abort();
		}
		if (result->lease_id != 0)
			node__lease_granted(n, result->lease_id, result->ttl_ms, node__now(n));
	} else if (e->type == RAFT_CHANGE) {
		n->applied_conf_index = index;
	}
	node__requests_applied(n, index, e, &result); /* may take result */
	if (result != NULL)
		backstay__kv_result__free_unpacked(result, NULL);
}

static int io_snapshot(void *data, struct raft_buffer *ret)
{
	return cns__fsm_snapshot(((struct cns_node *)data)->fsm, ret);
}

static int io_restore(void *data, const struct raft_buffer *buf)
{
	struct cns_node *n = data;
	int rv = cns__fsm_restore(n->fsm, buf->base, buf->len);

	if (rv != 0)
		bs_error("consensus", "restoring a snapshot: %s", bs_strerror(rv));
	return rv;
}

static enum cns_role role_of(struct cns_node *n);

/* Cheap enough for every event: only a change builds the full status. */
static void state_changed(struct cns_node *n)
{
	enum cns_role role = role_of(n);
	uint64_t term = cns__drv_term(n->drv), leader = cns__drv_leader(n->drv, NULL);

	if (role == n->last_role && term == n->last_term && leader == n->last_leader)
		return;
	if (role == CNS_FAILED)
		bs_error("consensus", "node failed: %s", cns__drv_errmsg(n->drv));
	else
		bs_info("consensus", "%s in term %llu, leader %llu", cns_role_name(role),
			(unsigned long long)term, (unsigned long long)leader);
	n->last_role = role;
	n->last_term = term;
	n->last_leader = leader;
	if (n->cfg.on_state != NULL)
		n->cfg.on_state(n->cfg.data);
}

/* A leader's own leadership counts as hearing from a leader (fsm_lease.c):
 * when it stops leading, that moment is its last contact. */
static void note_leading(struct cns_node *n)
{
	bool leads = n->drv != NULL && cns__drv_state(n->drv) == RAFT_LEADER;

	if (n->leading && !leads)
		n->leader_contact_ms = node__now(n);
	n->leading = leads;
}

static void io_state(void *data)
{
	struct cns_node *n = data;

	note_leading(n);

	/* Reads and keep-alives need this node to lead; proposals wait for
	 * their index to be applied, whoever leads then. (During
	 * cns__drv_start n->drv is not set yet: nothing waits then.) */
	if (n->drv != NULL && cns__drv_state(n->drv) != RAFT_LEADER)
		node__requests_fail_all(n, BS_E_NOT_LEADER);
}

static void raft_timer_cb(uv_timer_t *t);

static void io_timer(void *data, uint64_t at_ms)
{
	struct cns_node *n = data;
	uint64_t now = node__now(n);

	if (!n->closing)
		uv_timer_start(&n->raft_timer, raft_timer_cb, at_ms > now ? at_ms - now : 0, 0);
}

static bool same_conf(const struct raft_configuration *a, const struct raft_configuration *b)
{
	unsigned i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->servers[i].id != b->servers[i].id ||
		    strcmp(a->servers[i].address, b->servers[i].address) != 0)
			return false;
	return true;
}

/* Remember conf as the one the transport was last told about. */
static void remember_conf(struct cns_node *n, const struct raft_configuration *conf)
{
	unsigned i;

	raft_configuration_close(&n->peers);
	raft_configuration_init(&n->peers);
	for (i = 0; i < conf->n; i++)
		if (raft_configuration_add(&n->peers, conf->servers[i].id, conf->servers[i].address,
					   conf->servers[i].role) != 0) {
			/* Out of memory: forget it, so the next event tries again. */
			raft_configuration_close(&n->peers);
			raft_configuration_init(&n->peers);
			return;
		}
}

static bool has_server(const struct raft_configuration *conf, uint64_t id)
{
	unsigned i;

	for (i = 0; i < conf->n; i++)
		if (conf->servers[i].id == id)
			return true;
	return false;
}

/* Peers follow raft's current configuration, which changes as soon as a
 * configuration entry is appended, before it commits: new members are
 * dialed, removed ones no longer. */
static void sync_peers(struct cns_node *n)
{
	const struct raft_configuration *conf = cns__drv_configuration(n->drv);
	unsigned i;

	if (same_conf(conf, &n->peers))
		return; /* the usual case: nothing to tell the transport */
	for (i = 0; i < n->peers.n; i++)
		if (!has_server(conf, n->peers.servers[i].id))
			cns__tr_remove_peer(&n->tr, n->peers.servers[i].id);
	for (i = 0; i < conf->n; i++)
		if (conf->servers[i].id != n->cfg.id)
			cns__tr_set_peer(&n->tr, conf->servers[i].id, conf->servers[i].address);
	remember_conf(n, conf);
}

/* After every driver event: peers, lease clocks, state notifications. */
static void after_event(struct cns_node *n)
{
	if (n->closing || n->drv == NULL)
		return;
	note_leading(n);
	sync_peers(n);
	node__leases_state(n, node__now(n));
	state_changed(n);
	node__dispatch(n);
}

static void raft_timer_cb(uv_timer_t *t)
{
	struct cns_node *n = t->data;

	cns__drv_tick(n->drv, node__now(n));
	after_event(n);
}

static void tick_cb(uv_timer_t *t)
{
	struct cns_node *n = t->data;
	uint64_t now = node__now(n);

	node__leases_tick(n, now);
	node__requests_tick(n, now);
	node__change_tick(n, now);
	node__peer_tick(n, now);
	after_event(n);
	node__peer_dispatch(n);
}

void node__soon(struct cns_node *n)
{
	if (!n->closing && n->timers_open)
		uv_timer_start(&n->tick, tick_cb, 0, NODE_TICK_MS);
}

/* ---- the writer's and transport's callbacks ------------------------------- */

static void writer_done(struct cns__writer *w, struct cns__persist *p)
{
	struct cns_node *n = w->data;

	cns__drv_persisted(n->drv, p, node__now(n));
	after_event(n);
}

static void writer_failed(struct cns__writer *w, int status, const char *errmsg)
{
	struct cns_node *n = w->data;

	cns__drv_set_disk_ok(n->drv, status == 0);
	if (status != 0)
		bs_error("consensus", "%s; refusing new entries until writes succeed", errmsg);
	else
		bs_info("consensus", "disk writes succeed again; accepting entries");
}

/* What only a leader sends: the lease clocks' base counts from the last one
 * (fsm_lease.c). Whether raft then accepts it does not matter: a later base
 * only lengthens leases. */
static bool from_leader(const Backstay__RaftMessage *pb)
{
	return pb->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES ||
	       pb->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT ||
	       pb->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW;
}

static bool is_chunk(const Backstay__RaftMessage *pb)
{
	return pb->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT &&
	       (pb->install_snapshot->offset != 0 || !pb->install_snapshot->last);
}

/*
 * Leader stickiness, relaxed when the leader is known to be gone. libraft
 * refuses a (pre-)vote while the voter still has a leader, and a follower
 * forgets its leader only when its own randomized timer fires: after the
 * leader dies, the first follower to time out is refused and the election
 * waits for the second one (docs/BENCHMARKS.md: 1.67 s on average with a
 * 1 s election timeout, against 1.33 s for etcd, whose voters ignore votes
 * only within the base timeout). A voter with no connection at all to the
 * leader it believes in (a crash or kill -9 closes it at once; a partition
 * leaves it open until the transport gives up on it) votes as if it had no
 * leader: the request is marked disrupt_leader, which libraft honours as it
 * does for a leadership transfer. Election safety is untouched: one vote
 * per term, and only for a log at least as up to date.
 */
static void unstick(struct cns_node *n, struct raft_message *m)
{
	uint64_t leader;

	if (m->type != RAFT_REQUEST_VOTE || m->request_vote.disrupt_leader)
		return;
	leader = cns__drv_leader(n->drv, NULL);
	if (leader != 0 && leader != n->cfg.id && cns__tr_peer_conns(&n->tr, leader) == 0)
		m->request_vote.disrupt_leader = true;
}

static void on_raft(void *data, uint64_t from_id, const Backstay__RaftMessage *pb)
{
	struct cns_node *n = data;
	Backstay__RaftMessage whole;
	Backstay__InstallSnapshot whole_is;
	struct raft_message m;
	int rv;

	if (n->closing)
		return;
	if (from_leader(pb))
		n->leader_contact_ms = node__now(n);
	if (is_chunk(pb)) {
		if (!node__snapshot_chunk(n, from_id, pb, &whole, &whole_is))
			return;
		pb = &whole;
	}
	rv = cns__wire_decode(pb, &m); /* copies the snapshot data */
	if (pb == &whole)
		node__snapshot_rx_reset(n);
	if (rv != 0)
		return; /* refused by the codec: logged and counted there */
	unstick(n, &m);
	rv = cns__drv_receive(n->drv, &m, node__now(n));
	cns__wire_release(&m, rv);
	after_event(n);
}

static void on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		   const Backstay__CtlRequest *req)
{
	struct cns_node *n = data;

	if (n->closing)
		return;
	if (role == BACKSTAY__ROLE__PEER)
		node__peer_request(n, conn_id, node_id, req);
	else if (n->cfg.on_ctl != NULL)
		n->cfg.on_ctl(n->cfg.data, conn_id, role, node_id, req);
}

/* Only PEER connections carry answers to this node: a node dials no
 * ctl connections. */
static void on_ctl_response(void *data, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	struct cns_node *n = data;

	if (!n->closing)
		node__peer_response(n, conn_id, resp);
}

static void on_closed(void *data, uint64_t conn_id, enum cns__tr_reason reason)
{
	struct cns_node *n = data;

	(void)reason;
	if (!n->closing)
		node__peer_conn_closed(n, conn_id);
}

static void on_peer(void *data, uint64_t id, bool up)
{
	(void)data;
	bs_info("consensus", "peer %llu %s", (unsigned long long)id,
		up ? "connected" : "disconnected");
}

int cns_ctl_reply(struct cns_node *n, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	if (node__is_peer_token(conn_id))
		return node__peer_reply(n, conn_id, resp);
	return cns__tr_reply(&n->tr, conn_id, resp);
}

int cns_node_port(const struct cns_node *n)
{
	return cns__tr_port(&n->tr);
}

/* ---- start ------------------------------------------------------------------ */

static int copy_config(struct cns_node *n, const struct cns_config *cfg)
{
	n->cfg = *cfg;
	n->address = strdup(cfg->address);
	n->data_dir = strdup(cfg->data_dir);
	n->listen_host = strdup(cfg->listen_host);
	if (n->address == NULL || n->data_dir == NULL || n->listen_host == NULL)
		return -ENOMEM;
	n->cfg.address = n->address;
	n->cfg.data_dir = n->data_dir;
	n->cfg.listen_host = n->listen_host;
	n->secrets = *cfg->secrets;
	n->cfg.secrets = &n->secrets;
	return 0;
}

static int start_transport(struct cns_node *n, char *errmsg, size_t size)
{
	struct cns__tr_config tc = {
		.self_id = n->cfg.id,
		.self_address = n->address,
		.secrets = &n->secrets,
		.max_frame = n->cfg.max_frame,
	};
	struct cns__tr_cb cb = {
		.on_raft = on_raft,
		.on_ctl = on_ctl,
		.on_ctl_response = on_ctl_response,
		.on_peer = on_peer,
		.on_closed = on_closed,
	};
	int rv = cns__tr_init(&n->tr, n->loop, n->cfg.clock, &tc, &cb, n);

	if (rv == 0) {
		n->open++;
		n->tr_open = true;
		rv = cns__tr_listen(&n->tr, n->listen_host, n->cfg.listen_port);
	}
	if (rv != 0)
		bs_errf(errmsg, size, "transport: %s", n->tr.errmsg);
	return rv;
}

static int start_driver(struct cns_node *n, struct cns__loaded *loaded, char *errmsg, size_t size)
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
	struct cns__drv_config dc = {
		.id = n->cfg.id,
		.address = n->address,
		.election_timeout_ms = n->cfg.election_timeout_ms,
		.heartbeat_ms = n->cfg.heartbeat_ms,
		.snapshot_threshold = n->cfg.snapshot_threshold,
		.snapshot_trailing = n->cfg.snapshot_trailing,
	};

	if (bs_clock_random(n->cfg.clock, &dc.seed, sizeof dc.seed) != 0)
		dc.seed = (unsigned)(n->cfg.id * 2654435761u);
	return cns__drv_start(&dc, &io, loaded, node__now(n), &n->drv, errmsg, size);
}

static int start_timers(struct cns_node *n)
{
	uv_timer_init(n->loop, &n->raft_timer);
	uv_timer_init(n->loop, &n->tick);
	n->raft_timer.data = n;
	n->tick.data = n;
	n->open += 2;
	n->timers_open = true;
	return uv_timer_start(&n->tick, tick_cb, NODE_TICK_MS, NODE_TICK_MS);
}

static void node_free(struct cns_node *n)
{
	cns__drv_stop(n->drv);
	node__watches_free(n);
	node__peer_free(n);
	node__snapshot_rx_reset(n);
	raft_configuration_close(&n->peers);
	cns__fsm_free(n->fsm);
	cns__store_close(n->store);
	bs_secrets_wipe(&n->secrets);
	cns__lease_free(&n->leases);
	free(n->address);
	free(n->data_dir);
	free(n->listen_host);
	free(n);
}

static void close_step(struct cns_node *n)
{
	if (--n->open > 0)
		return;
	node__dispatch(n); /* the -ECANCELED completions */
	node__peer_dispatch(n);
	if (n->close_cb != NULL)
		n->close_cb(n->close_data);
	node_free(n);
}

static void timer_closed(uv_handle_t *h)
{
	close_step(h->data);
}

static void tr_closed(struct cns__tr *t)
{
	close_step(t->data);
}

static void writer_closed(struct cns__writer *w)
{
	close_step(w->data);
}

/* What a failed start leaves open is closed the same way as a node. */
static int start_failed(struct cns_node *n, int rv, uv_loop_t *loop)
{
	n->closing = true;
	if (n->open == 0) {
		node_free(n);
		return rv;
	}
	n->open++; /* held until the loop has closed everything */
	cns_node_close(n, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	close_step(n);
	return rv;
}

int cns_node_start(uv_loop_t *loop, const struct cns_config *cfg, struct cns_node **ret_node,
		   char *errmsg, size_t errmsg_size)
{
	struct cns_node *n = calloc(1, sizeof *n);
	struct cns__loaded *loaded = NULL;
	int rv;

	if (n == NULL)
		return -ENOMEM;
	n->loop = loop;
	rv = copy_config(n, cfg);
	n->boot_ms = node__now(n);
	if (rv == 0)
		rv = cns__store_open(n->data_dir, &n->store, errmsg, errmsg_size);
	if (rv == 0)
		rv = cns__store_load(n->store, &loaded, errmsg, errmsg_size);
	if (rv == 0)
		rv = cns__fsm_new(&n->fsm);
	if (rv == 0 &&
	    (rv = cns__writer_init(&n->writer, loop, n->store, writer_done, writer_failed)) == 0) {
		n->writer.data = n;
		n->open++;
		n->writer_open = true;
	}
	if (rv == 0)
		rv = start_transport(n, errmsg, errmsg_size);
	if (rv == 0)
		rv = start_timers(n);
	if (rv == 0) {
		rv = start_driver(n, loaded, errmsg, errmsg_size); /* takes loaded */
		loaded = NULL;
	}
	cns__loaded_free(loaded);
	if (rv != 0)
		return start_failed(n, rv, loop);
	n->last_role = CNS_FOLLOWER;
	after_event(n);
	*ret_node = n;
	return 0;
}

void cns_node_close(struct cns_node *n, void (*cb)(void *data), void *data)
{
	if (n->close_cb != NULL || n->open == 0)
		return;
	n->closing = true;
	n->close_cb = cb;
	n->close_data = data;
	node__requests_fail_all(n, -ECANCELED);
	node__peer_fail_all(n, -ECANCELED);
	if (n->timers_open) {
		uv_close((uv_handle_t *)&n->raft_timer, timer_closed);
		uv_close((uv_handle_t *)&n->tick, timer_closed);
	}
	if (n->tr_open)
		cns__tr_close(&n->tr, tr_closed);
	if (n->writer_open)
		cns__writer_close(&n->writer, writer_closed);
}

/* ---- status ------------------------------------------------------------------- */

const char *cns_role_name(enum cns_role role)
{
	static const char *const names[] = {"follower", "candidate", "leader", "failed"};

	return role <= CNS_FAILED ? names[role] : "unknown";
}

static enum cns_role role_of(struct cns_node *n)
{
	switch (cns__drv_state(n->drv)) {
	case RAFT_LEADER:
		return CNS_LEADER;
	case RAFT_CANDIDATE:
		return CNS_CANDIDATE;
	case RAFT_FOLLOWER:
		return CNS_FOLLOWER;
	default:
		return CNS_FAILED;
	}
}

static void status_members(struct cns_node *n, struct cns_status *st)
{
	const struct raft_configuration *conf = cns__drv_configuration(n->drv);
	unsigned i;

	for (i = 0; i < conf->n && st->n_members < 16; i++) {
		struct cns_member *m = &st->members[st->n_members++];

		m->id = conf->servers[i].id;
		snprintf(m->address, sizeof m->address, "%s", conf->servers[i].address);
		m->voter = conf->servers[i].role == RAFT_VOTER;
	}
}

void cns_node_status(struct cns_node *n, struct cns_status *st)
{
	const char *leader_address = NULL;

	memset(st, 0, sizeof *st);
	st->id = n->cfg.id;
	st->role = role_of(n);
	st->ready = node__is_ready(n);
	st->term = cns__drv_term(n->drv);
	st->leader_id = cns__drv_leader(n->drv, &leader_address);
	if (leader_address != NULL)
		snprintf(st->leader_address, sizeof st->leader_address, "%s", leader_address);
	st->commit_index = cns__drv_commit_index(n->drv);
	st->last_applied = cns__drv_last_applied(n->drv);
	st->last_index = cns__drv_last_index(n->drv);
	st->revision = cns__fsm_revision(n->fsm);
	st->disk_failing = cns__writer_failing(&n->writer);
	st->leader_contact_ms = n->leader_contact_ms;
	if (cns__lease_is_armed(&n->leases))
		st->lease_base_ms = n->lease_base_ms;
	status_members(n, st);
	if (st->role == CNS_FAILED)
		snprintf(st->errmsg, sizeof st->errmsg, "%s", cns__drv_errmsg(n->drv));
}
