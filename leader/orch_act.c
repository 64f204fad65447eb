/*
 * The orchestrator's hands: each action of the state machine run against
 * the consensus node (the lease, pg/epoch and pg/leader, report rounds,
 * leadership transfer), the sentinel files, or an adapter. Outcomes come
 * back to the state machine as events (ldr__step).
 *
 * Acquisition (docs/leader.md §2): grant a lease of the TTL; put pg/epoch
 * = {"epoch": E, "id": self} only if pg/epoch is unchanged since we read it
 * (so two acquisitions can never hand out one epoch); put pg/leader
 * create-only, attached to the lease. Any step failing revokes the lease.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orch_internal.h"

static void event(struct ldr_orch *o, enum ldr_event_type type)
{
	struct ldr_event ev = {.type = type};

	ldr__step(o, &ev);
}

static bool settle(struct ldr_orch *o, bool *busy)
{
	*busy = false;
	o->inflight--;
	if (o->closing) {
		ldr__maybe_free(o);
		return false;
	}
	return true;
}

/* ---- the lease -------------------------------------------------------------------- */

static int put(struct ldr_orch *o, struct cns_req *req, const char *key, const char *value,
	       uint64_t lease, bool create_only, uint64_t mod_revision, cns_req_cb cb)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut p = BACKSTAY__KV_PUT__INIT;
	Backstay__KvCompare cmp = BACKSTAY__KV_COMPARE__INIT;

	p.key.data = (uint8_t *)key;
	p.key.len = strlen(key);
	p.value.data = (uint8_t *)value;
	p.value.len = strlen(value);
	p.lease = lease;
	if (create_only || mod_revision != 0) {
		cmp.target_case = BACKSTAY__KV_COMPARE__TARGET_MOD_REVISION;
		cmp.mod_revision = create_only ? 0 : mod_revision;
		p.compare = &cmp;
	}
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &p;
	return cns_propose(o->c.node, req, &cmd, 2000, cb);
}

static void revoke_lease(struct ldr_orch *o, uint64_t lease);

static void acquire_failed(struct ldr_orch *o, const char *what, int status)
{
	bs_warn(LDR_COMPONENT, "acquiring the lease: %s: %s", what, bs_strerror(status));
	if (o->lease_id != 0)
		revoke_lease(o, o->lease_id);
	o->lease_id = 0;
	event(o, LDR_EV_ACQUIRE_FAILED);
}

static int result_code(int status, const Backstay__KvResult *r)
{
	return status != 0 ? status : r->code != 0 ? r->code : 0;
}

static void on_nudged(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;

	(void)status;
	(void)r;
	settle(o, &o->nudge_busy);
}

/* Followers learn that an entry is committed from the next message the
 * leader sends them, a heartbeat up to heartbeat_interval later unless
 * another entry goes out first: a read's barrier makes one go out now, so
 * that they see the new holder (and re-point their standbys) at once. */
static void nudge_followers(struct ldr_orch *o)
{
	static const char key[] = LDR_KEY_LEADER;

	if (o->nudge_busy)
		return;
	o->nudge_req = (struct cns_req){.data = o};
	if (cns_read(o->c.node, &o->nudge_req, key, sizeof key - 1, 1, on_nudged) == 0) {
		o->nudge_busy = true;
		o->inflight++;
	}
}

static void on_leader_put(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;
	struct ldr_event ev = {.type = LDR_EV_ACQUIRED};

	if (!settle(o, &o->acquire_busy))
		return;
	status = result_code(status, r);
	if (status != 0) {
		acquire_failed(o, "pg/leader", status);
		return;
	}
	bs_info(LDR_COMPONENT, "acquired the lease: epoch %" PRIu64, o->acquire_epoch);
	nudge_followers(o);
	ev.u.epoch = o->acquire_epoch;
	ldr__step(o, &ev);
}

static void on_epoch_put(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;
	struct ldr_peer self;
	json_t *j;
	char *text;
	int rv;

	if (!settle(o, &o->acquire_busy))
		return;
	status = result_code(status, r);
	if (status != 0) {
		acquire_failed(o, "pg/epoch", status);
		return;
	}
	if (!ldr__peer(o, o->c.set.self_id, &self))
		snprintf(self.host, sizeof self.host, "%s", "");
	j = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)o->c.set.self_id, "epoch",
		      (json_int_t)o->acquire_epoch, "address", self.host);
	text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (text == NULL) {
		acquire_failed(o, "pg/leader", -ENOMEM);
		return;
	}
	snprintf(o->leader_value, sizeof o->leader_value, "%s", text);
	free(text);
	rv = put(o, &o->acquire_req, LDR_KEY_LEADER, o->leader_value, o->lease_id, true, 0,
		 on_leader_put);
	if (rv != 0) {
		acquire_failed(o, "pg/leader", rv);
		return;
	}
	o->acquire_busy = true;
	o->inflight++;
}

static void on_grant(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;
	char value[128];
	int rv;

	if (!settle(o, &o->acquire_busy))
		return;
	status = result_code(status, r);
	if (status != 0) {
		acquire_failed(o, "lease grant", status);
		return;
	}
	o->lease_id = r->lease_id;
	o->lease_epoch = o->acquire_epoch;
	snprintf(value, sizeof value, "{\"epoch\":%" PRIu64 ",\"id\":%" PRIu64 "}",
		 o->acquire_epoch, o->c.set.self_id);
	rv = put(o, &o->acquire_req, LDR_KEY_EPOCH, value, 0, o->epoch_mod_revision == 0,
		 o->epoch_mod_revision, on_epoch_put);
	if (rv != 0) {
		acquire_failed(o, "pg/epoch", rv);
		return;
	}
	o->acquire_busy = true;
	o->inflight++;
}

static void acquire(struct ldr_orch *o, uint64_t epoch)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseGrant g = BACKSTAY__LEASE_GRANT__INIT;
	int rv;

	if (o->acquire_busy) {
		event(o, LDR_EV_ACQUIRE_FAILED);
		return;
	}
	o->acquire_epoch = epoch;
	o->lease_id = 0;
	o->acquire_req.data = o;
	g.ttl_ms = (int64_t)o->c.set.ttl_ms;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_GRANT;
	cmd.lease_grant = &g;
	rv = cns_propose(o->c.node, &o->acquire_req, &cmd, 2000, on_grant);
	if (rv != 0) {
		acquire_failed(o, "lease grant", rv);
		return;
	}
	o->acquire_busy = true;
	o->inflight++;
}

static void on_renewed(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;
	struct ldr_event ev = {.type = LDR_EV_RENEWED};

	if (!settle(o, &o->renew_busy))
		return;
	status = result_code(status, r);
	if (status != 0) {
		bs_warn(LDR_COMPONENT, "lease keep-alive: %s", bs_strerror(status));
		event(o, LDR_EV_RENEW_FAILED);
		return;
	}
	ev.u.sent_ms = o->renew_sent_ms;
	if (o->c.ad.renewed != NULL)
		o->c.ad.renewed(o->c.ad.data, ldr__now(o) - o->renew_sent_ms);
	ldr__step(o, &ev);
}

static void renew(struct ldr_orch *o)
{
	int rv;

	if (o->renew_busy)
		return;
	o->renew_req.data = o;
	o->renew_sent_ms = ldr__now(o);
	rv = cns_lease_keepalive(o->c.node, &o->renew_req, o->lease_id, on_renewed);
	if (rv != 0) {
		bs_warn(LDR_COMPONENT, "lease keep-alive: %s", bs_strerror(rv));
		event(o, LDR_EV_RENEW_FAILED);
		return;
	}
	o->renew_busy = true;
	o->inflight++;
}

static void on_revoked(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;

	(void)status;
	(void)r;
	settle(o, &o->revoke_busy);
}

static void revoke_lease(struct ldr_orch *o, uint64_t lease)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseRevoke rv = BACKSTAY__LEASE_REVOKE__INIT;

	if (o->revoke_busy || lease == 0)
		return;
	rv.id = lease;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_REVOKE;
	cmd.lease_revoke = &rv;
	o->revoke_req.data = o;
	if (cns_propose(o->c.node, &o->revoke_req, &cmd, 2000, on_revoked) == 0) {
		o->revoke_busy = true;
		o->inflight++;
	}
}

static void on_deleted(struct cns_req *req, int status, const Backstay__KvResult *r)
{
	struct ldr_orch *o = req->data;

	(void)status;
	(void)r;
	settle(o, &o->release_busy);
}

/* pg/leader deleted if it still names this node at epoch (compared by
 * its mod_revision): for a holder that no longer knows its lease (it
 * restarted). */
static void delete_key(struct ldr_orch *o, uint64_t epoch)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvDelete del = BACKSTAY__KV_DELETE__INIT;
	Backstay__KvCompare cmp = BACKSTAY__KV_COMPARE__INIT;
	uint64_t id, at, rev;

	if (o->release_busy || !ldr__leader_key(o, &id, &at, &rev) || id != o->c.set.self_id ||
	    at != epoch)
		return;
	del.key.data = (uint8_t *)LDR_KEY_LEADER;
	del.key.len = strlen(LDR_KEY_LEADER);
	cmp.target_case = BACKSTAY__KV_COMPARE__TARGET_MOD_REVISION;
	cmp.mod_revision = rev;
	del.compare = &cmp;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_DEL;
	cmd.del = &del;
	o->release_req.data = o;
	if (cns_propose(o->c.node, &o->release_req, &cmd, 2000, on_deleted) == 0) {
		o->release_busy = true;
		o->inflight++;
	}
}

/* Revoking the lease deletes pg/leader with it (keys attached to a lease
 * vanish when it ends). Only the Raft leader can; a fenced node that is
 * not lets the lease expire. */
static void release(struct ldr_orch *o, uint64_t epoch)
{
	if (o->lease_id != 0 && o->lease_epoch == epoch) {
		revoke_lease(o, o->lease_id);
		o->lease_id = 0;
		return;
	}
	delete_key(o, epoch);
}

/* ---- report rounds ----------------------------------------------------------------- */

static void round_done(struct ldr_orch *o)
{
	struct ldr_event ev = {.type = LDR_EV_REPORTS};
	unsigned i;

	o->collecting = false;
	o->round++; /* answers still on their way belong to no round now */
	for (i = 0; i < o->n_reports && ev.u.reports.n < LDR_MAX_NODES; i++)
		if (o->reports[i].id != 0 && o->answered[i])
			ev.u.reports.r[ev.u.reports.n++] = o->reports[i];
	ldr__step(o, &ev);
}

static void round_check(struct ldr_orch *o)
{
	if (o->collecting && !o->asking &&
	    ldr_round_settled(&o->sm, o->reports, o->answered, o->n_reports))
		round_done(o);
}

static bool report_parse(const Backstay__CtlResponse *resp, struct ldr_report *r)
{
	json_t *j;

	if (resp->code != 0)
		return false;
	j = json_loadb((const char *)resp->payload.data, resp->payload.len, 0, NULL);
	if (j == NULL)
		return false;
	r->has_lsn = json_is_true(json_object_get(j, "has_lsn"));
	r->timeline = (uint32_t)json_integer_value(json_object_get(j, "timeline"));
	r->lsn = (uint64_t)json_integer_value(json_object_get(j, "lsn"));
	r->blocks = (unsigned)json_integer_value(json_object_get(j, "blocks"));
	json_decref(j);
	return true;
}

static void on_report(struct cns_peer_req *preq, int status, const Backstay__CtlResponse *resp)
{
	struct ldr__collect_call *call = preq->data;
	struct ldr_orch *o = call->o;
	struct ldr_report *r = &o->reports[call->slot];

	o->inflight--;
	o->call_busy[call->slot] = false;
	if (o->closing) {
		ldr__maybe_free(o);
		return;
	}
	if (call->round != o->round || !o->collecting)
		return; /* a round already decided */
	if (status != 0 || !report_parse(resp, r)) {
		bs_debug(LDR_COMPONENT, "report from %" PRIx64 ": %s", r->id,
			 status != 0 ? bs_strerror(status) : "malformed answer");
		r->id = 0;
	} else {
		o->answered[call->slot] = true;
	}
	round_check(o);
}

static void ask(struct ldr_orch *o, unsigned slot)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	struct ldr__collect_call *call = &o->calls[slot];

	call->o = o;
	call->slot = slot;
	call->round = o->round;
	call->preq.data = call;
	req.id = slot + 1;
	req.verb = "pg.report";
	if (cns_peer_call(o->c.node, &call->preq, o->reports[slot].id, &req,
			  (unsigned)o->c.set.collect_timeout_ms, on_report) != 0) {
		o->reports[slot].id = 0;
		return;
	}
	o->call_busy[slot] = true;
	o->inflight++;
}

/* Ask every voter; this node answers itself with a fresh sample. A call
 * of an earlier round still in flight keeps its slot's struct busy: that
 * voter is left out of this round. */
static void collect(struct ldr_orch *o)
{
	unsigned i;

	if (o->collecting)
		return;
	o->collecting = true;
	o->asking = true;
	o->n_reports = o->n_voters;
	memset(o->reports, 0, sizeof o->reports);
	memset(o->answered, 0, sizeof o->answered);
	for (i = 0; i < o->n_voters; i++) {
		o->reports[i].id = o->voters[i];
		if (o->voters[i] == o->c.set.self_id)
			o->self_report_wanted = true;
		else if (!o->call_busy[i])
			ask(o, i);
		else
			o->reports[i].id = 0;
	}
	o->asking = false;
	if (o->self_report_wanted)
		o->c.ad.pg_check(o->c.ad.data); /* answered in ldr__answer_pending */
	round_check(o);
}

/* The fresh sample for our own place in a round. */
void ldr__self_round(struct ldr_orch *o)
{
	unsigned i;

	if (!o->collecting || !o->self_report_wanted)
		return;
	o->self_report_wanted = false;
	for (i = 0; i < o->n_reports; i++)
		if (o->reports[i].id == o->c.set.self_id) {
			ldr__self_report(o, &o->reports[i]);
			o->answered[i] = true;
		}
	round_check(o);
}

/* ---- the rest ---------------------------------------------------------------------- */

static void sentinel(struct ldr_orch *o, bool on)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/no-start-pgsql", o->c.sentinel_dir);
	if (!on) {
		if (unlink(path) != 0 && errno != ENOENT)
			bs_warn(LDR_COMPONENT, "remove %s: %s", path, bs_strerror(-errno));
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		bs_warn(LDR_COMPONENT, "create %s: %s", path, bs_strerror(-errno));
		return;
	}
	(void)fsync(fd);
	close(fd);
}

static void pg(struct ldr_orch *o, const struct ldr_action *a)
{
	struct ldr_peer peers[LDR_MAX_NODES], up;
	unsigned n = ldr__others(o, peers);
	bool have_up = a->target != 0 && ldr__peer(o, a->target, &up);
	int rv = 0;

	switch (a->type) {
	case LDR_ACT_PG_START:
		rv = o->c.ad.pg_start(o->c.ad.data, have_up ? &up : NULL);
		break;
	case LDR_ACT_PG_STOP:
		rv = o->c.ad.pg_stop(o->c.ad.data, a->on);
		break;
	case LDR_ACT_PG_PROMOTE:
		rv = o->c.ad.pg_promote(o->c.ad.data, a->epoch, peers, n);
		break;
	case LDR_ACT_PG_FOLLOW:
		rv = have_up ? o->c.ad.pg_follow(o->c.ad.data, &up, a->mode) : -ENOENT;
		break;
	case LDR_ACT_PG_CHECKPOINT:
		rv = o->c.ad.pg_checkpoint(o->c.ad.data);
		break;
	default:
		rv = o->c.ad.pg_sync(o->c.ad.data, a->k, peers, n);
		break;
	}
	if (rv != 0)
		ldr_orch_done(o, a->type, rv);
}

void ldr__run(struct ldr_orch *o, const struct ldr_action *a)
{
	char line[128];

	ldr_action_format(a, line, sizeof line);
	bs_debug(LDR_COMPONENT, "action %s", line);
	switch (a->type) {
	case LDR_ACT_SERVE:
		o->c.ad.serve(o->c.ad.data, a->on);
		break;
	case LDR_ACT_LEASE_ACQUIRE:
		acquire(o, a->epoch);
		break;
	case LDR_ACT_LEASE_RENEW:
		renew(o);
		break;
	case LDR_ACT_LEASE_RELEASE:
		release(o, a->epoch);
		break;
	case LDR_ACT_COLLECT:
		collect(o);
		break;
	case LDR_ACT_TRANSFER:
		bs_info(LDR_COMPONENT, "handing leadership to %" PRIx64, a->target);
		(void)cns_transfer_leadership(o->c.node, a->target);
		break;
	case LDR_ACT_NO_START:
		sentinel(o, a->on);
		o->no_start = a->on;
		break;
	case LDR_ACT_CMD_DONE:
		ldr__cmd_done(o, a);
		break;
	default:
		pg(o, a);
		break;
	}
}
