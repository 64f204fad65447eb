/*
 * The orchestrator's conversations: the report a peer asks for (pg.report,
 * answered from a sample taken after the question arrived), the operator's
 * demote / promote / force-leader (pg.demote, pg.promote, pg.force, run on
 * the Raft leader and answered when a new holder leads, or when they
 * fail), member lookup, and the status object.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "orch_internal.h"

/* ---- members --------------------------------------------------------------------- */

bool ldr__peer(struct ldr_orch *o, uint64_t id, struct ldr_peer *ret_peer)
{
	char key[64];
	Backstay__KvResult *r = NULL;
	json_t *j = NULL;
	const char *host;

	memset(ret_peer, 0, sizeof *ret_peer);
	ret_peer->id = id;
	snprintf(ret_peer->app_name, sizeof ret_peer->app_name, "backstay_%016" PRIx64, id);
	snprintf(key, sizeof key, "%s%016" PRIx64, LDR_KEY_MEMBERS, id);
	if (cns_read_local(o->c.node, key, strlen(key), 1, &r) != 0)
		return false;
	if (r->n_kvs == 1)
		j = json_loadb((const char *)r->kvs[0]->value.data, r->kvs[0]->value.len, 0, NULL);
	backstay__kv_result__free_unpacked(r, NULL);
	host = json_string_value(json_object_get(j, "publish_address"));
	if (host != NULL)
		snprintf(ret_peer->host, sizeof ret_peer->host, "%s", host);
	json_decref(j);
	return ret_peer->host[0] != '\0';
}

unsigned ldr__others(struct ldr_orch *o, struct ldr_peer *out)
{
	unsigned i, n = 0;

	for (i = 0; i < o->n_voters; i++)
		if (o->voters[i] != o->c.set.self_id) {
			(void)ldr__peer(o, o->voters[i], &out[n]);
			n++;
		}
	return n;
}

/* ---- reports ----------------------------------------------------------------------- */

void ldr__self_report(struct ldr_orch *o, struct ldr_report *r)
{
	ldr_self_report(&o->sm, r);
}

/* A member's name from its metadata, into buf; "?" when unknown. */
const char *ldr__name(struct ldr_orch *o, uint64_t id, char *buf, size_t size)
{
	char key[64];
	Backstay__KvResult *r = NULL;
	json_t *j = NULL;

	snprintf(buf, size, "?");
	snprintf(key, sizeof key, "%s%016" PRIx64, LDR_KEY_MEMBERS, id);
	if (cns_read_local(o->c.node, key, strlen(key), 1, &r) != 0)
		return buf;
	if (r->n_kvs == 1)
		j = json_loadb((const char *)r->kvs[0]->value.data, r->kvs[0]->value.len, 0, NULL);
	backstay__kv_result__free_unpacked(r, NULL);
	if (json_string_value(json_object_get(j, "name")) != NULL)
		snprintf(buf, size, "%s", json_string_value(json_object_get(j, "name")));
	json_decref(j);
	return buf;
}

json_t *ldr__report_json(const struct ldr_report *r)
{
	return json_pack("{s:b, s:I, s:I, s:I}", "has_lsn", r->has_lsn, "timeline",
			 (json_int_t)r->timeline, "lsn", (json_int_t)r->lsn, "blocks",
			 (json_int_t)r->blocks);
}

int ldr__reply(struct ldr_orch *o, uint64_t conn_id, uint64_t id, int code, const char *msg,
	       json_t *payload)
{
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	char *text = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
	int rv;

	resp.id = id;
	resp.code = code;
	resp.message = (char *)(msg != NULL ? msg : "");
	if (text != NULL) {
		resp.payload.data = (uint8_t *)text;
		resp.payload.len = strlen(text);
	}
	rv = cns_ctl_reply(o->c.node, conn_id, &resp);
	free(text);
	json_decref(payload);
	return rv;
}

/* A sample just arrived: it answers every question asked before it was
 * requested — and our own place in a round. */
void ldr__answer_pending(struct ldr_orch *o)
{
	struct ldr_report r;
	unsigned i;

	ldr__self_round(o);
	if (o->n_pending == 0)
		return;
	ldr__self_report(o, &r);
	for (i = 0; i < o->n_pending; i++)
		(void)ldr__reply(o, o->pending[i].conn_id, o->pending[i].id, 0, "",
				 ldr__report_json(&r));
	o->n_pending = 0;
}

static void report_asked(struct ldr_orch *o, uint64_t conn_id, uint64_t id)
{
	struct ldr_report r;

	if (o->n_pending == LDR_PENDING_MAX) {
		ldr__self_report(o, &r); /* a flood: the last sample will do */
		(void)ldr__reply(o, conn_id, id, 0, "", ldr__report_json(&r));
		return;
	}
	o->pending[o->n_pending].conn_id = conn_id;
	o->pending[o->n_pending].id = id;
	o->n_pending++;
	o->c.ad.pg_check(o->c.ad.data);
}

/* ---- operator commands ----------------------------------------------------------- */

static uint64_t member_by_name(struct ldr_orch *o, const char *name)
{
	Backstay__KvResult *r = NULL;
	uint64_t id = 0;
	size_t i;

	if (cns_read_local(o->c.node, LDR_KEY_MEMBERS, strlen(LDR_KEY_MEMBERS), 0, &r) != 0)
		return 0;
	for (i = 0; i < r->n_kvs && id == 0; i++) {
		json_t *j = json_loadb((const char *)r->kvs[i]->value.data, r->kvs[i]->value.len, 0,
				       NULL);
		const char *n = json_string_value(json_object_get(j, "name"));
		const char *a = json_string_value(json_object_get(j, "publish_address"));

		if ((n != NULL && strcmp(n, name) == 0) || (a != NULL && strcmp(a, name) == 0))
			id = (uint64_t)json_integer_value(json_object_get(j, "id"));
		json_decref(j);
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return id;
}

/* The state machine's answer to the command we hold (LDR_ACT_CMD_DONE). */
void ldr__cmd_done(struct ldr_orch *o, const struct ldr_action *a)
{
	char msg[256];

	if (!o->cmd_waiting)
		return;
	o->cmd_waiting = false;
	if (a->status == 0)
		snprintf(msg, sizeof msg, "%s leads at epoch %" PRIu64,
			 ldr__name(o, o->holder, msg + 200, 56), o->holder_epoch);
	else
		snprintf(msg, sizeof msg, "%s",
			 o->sm.why[0] != '\0' ? o->sm.why : bs_strerror(a->status));
	(void)ldr__reply(o, o->cmd_conn, o->cmd_id, a->status, msg, NULL);
}

static void on_yielded(struct cns_peer_req *preq, int status, const Backstay__CtlResponse *resp)
{
	struct ldr_orch *o = preq->data;

	o->inflight--;
	if (o->closing) {
		ldr__maybe_free(o);
		return;
	}
	if (!o->force_pending)
		return;
	if (status == 0 && resp->code == 0)
		return; /* leadership comes: ldr__force_check feeds the command */
	o->force_pending = false;
	o->cmd_waiting = false;
	(void)ldr__reply(o, o->cmd_conn, o->cmd_id, status != 0 ? status : resp->code,
			 status != 0 ? bs_strerror(status) : resp->message, NULL);
}

/* force-leader makes *this* node the leader (chef-backend-ctl's rule): the
 * Raft leader is asked to hand Raft leadership over (pg.yield, refused
 * while a lease holder exists); once this node leads, the command runs
 * here (ldr__force_check). */
static bool force_here(struct ldr_orch *o, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	Backstay__CtlRequest y = BACKSTAY__CTL_REQUEST__INIT;

	if (o->raft_leader_id == 0) {
		(void)ldr__reply(o, conn_id, req->id, -EAGAIN,
				 "no Raft leader: this node cannot reach a majority (a lost "
				 "quorum is recovered with create-cluster --quorum-loss-recovery)",
				 NULL);
		return true;
	}
	o->cmd_waiting = true;
	o->force_pending = true;
	o->force_deadline_ms = ldr__now(o) + o->c.set.switchover_timeout_ms;
	o->cmd_conn = conn_id;
	o->cmd_id = req->id;
	o->yield_req.data = o;
	y.id = 1;
	y.verb = "pg.yield";
	if (cns_peer_call(o->c.node, &o->yield_req, o->raft_leader_id, &y, 2000, on_yielded) != 0) {
		o->force_pending = o->cmd_waiting = false;
		(void)ldr__reply(o, conn_id, req->id, -ENOTCONN, "cannot reach the Raft leader",
				 NULL);
		return true;
	}
	o->inflight++;
	return true;
}

/* After every step: a force-leader waiting for Raft leadership. */
void ldr__force_check(struct ldr_orch *o)
{
	struct ldr_event ev = {.type = LDR_EV_CMD};

	if (!o->force_pending)
		return;
	if (o->raft_leader) {
		o->force_pending = false;
		ev.u.cmd.kind = LDR_CMD_FORCE;
		ldr__step(o, &ev);
	} else if (ldr__now(o) >= o->force_deadline_ms) {
		o->force_pending = false;
		o->cmd_waiting = false;
		(void)ldr__reply(o, o->cmd_conn, o->cmd_id, -ETIMEDOUT,
				 "this node did not become the Raft leader in time", NULL);
	}
}

/* On the Raft leader: another node's force-leader asks for leadership. */
static void yield_asked(struct ldr_orch *o, uint64_t conn_id, uint64_t id, uint64_t node_id)
{
	int rv;

	if (!o->raft_leader) {
		(void)ldr__reply(o, conn_id, id, BS_E_NOT_LEADER, "", NULL);
		return;
	}
	if (o->holder != 0) {
		(void)ldr__reply(o, conn_id, id, -EEXIST, "a leader exists: force-leader refused",
				 NULL);
		return;
	}
	rv = cns_transfer_leadership(o->c.node, node_id);
	(void)ldr__reply(o, conn_id, id, rv, rv != 0 ? bs_strerror(rv) : "", NULL);
}

static bool command(struct ldr_orch *o, uint64_t conn_id, const Backstay__CtlRequest *req,
		    enum ldr_cmd kind)
{
	struct ldr_event ev = {.type = LDR_EV_CMD};
	struct cns_status st;

	if (kind == LDR_CMD_FORCE && !o->raft_leader && !o->cmd_waiting)
		return force_here(o, conn_id, req);
	if (!o->raft_leader) {
		cns_node_status(o->c.node, &st);
		(void)ldr__reply(
			o, conn_id, req->id, BS_E_NOT_LEADER,
			st.leader_id != 0 && st.leader_id != st.id ? st.leader_address : "", NULL);
		return true;
	}
	if (o->cmd_waiting) {
		(void)ldr__reply(o, conn_id, req->id, -EBUSY, "another command is running", NULL);
		return true;
	}
	ev.u.cmd.kind = kind;
	if (kind == LDR_CMD_PROMOTE) {
		ev.u.cmd.target = req->n_args > 0 ? member_by_name(o, req->args[0]) : 0;
		if (ev.u.cmd.target == 0) {
			(void)ldr__reply(o, conn_id, req->id, -ENOENT, "no such member", NULL);
			return true;
		}
	}
	o->cmd_waiting = true;
	o->cmd_conn = conn_id;
	o->cmd_id = req->id;
	ldr__step(o, &ev);
	return true;
}

bool ldr_orch_on_ctl(struct ldr_orch *o, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		     const Backstay__CtlRequest *req)
{
	const char *verb = req->verb != NULL ? req->verb : "";

	if (strcmp(verb, "pg.report") == 0 && role == BACKSTAY__ROLE__PEER) {
		report_asked(o, conn_id, req->id);
		return true;
	}
	if (strcmp(verb, "pg.yield") == 0 && role == BACKSTAY__ROLE__PEER) {
		yield_asked(o, conn_id, req->id, node_id);
		return true;
	}
	if (role != BACKSTAY__ROLE__CTL)
		return false;
	if (strcmp(verb, "pg.demote") == 0)
		return command(o, conn_id, req, LDR_CMD_DEMOTE);
	if (strcmp(verb, "pg.promote") == 0)
		return command(o, conn_id, req, LDR_CMD_PROMOTE);
	if (strcmp(verb, "pg.force") == 0)
		return command(o, conn_id, req, LDR_CMD_FORCE);
	return false;
}

/* ---- status ------------------------------------------------------------------------ */

json_t *ldr_orch_status_json(struct ldr_orch *o)
{
	const struct ldr_sm *sm = &o->sm;
	char blocks[256], lsn[32];
	json_t *j;

	ldr_block_describe(sm->blocks, blocks, sizeof blocks);
	snprintf(lsn, sizeof lsn, "%X/%X", (unsigned)(o->last_sample.lsn >> 32),
		 (unsigned)o->last_sample.lsn);
	j = json_pack("{s:s, s:b, s:s, s:I, s:I, s:b, s:s, s:b, s:b, s:I, s:s, s:I, s:s, s:i, "
		      "s:I, s:b}",
		      "state", ldr_state_name(sm->state), "eligible", sm->blocks == 0, "blocked",
		      blocks, "holder", (json_int_t)o->holder, "epoch", (json_int_t)o->holder_epoch,
		      "serving", ldr_serving(sm), "why", sm->why, "pg_ok",
		      o->sample_known && o->last_sample.ok, "in_recovery",
		      o->last_sample.in_recovery, "timeline", (json_int_t)o->last_sample.timeline,
		      "lsn", lsn, "standbys_streaming",
		      (json_int_t)o->last_sample.standbys_streaming, "es",
		      !o->c.set.es_enabled ? "disabled"
		      : o->es_ok	   ? "healthy"
					   : "unhealthy",
		      "progress", o->progress, "failovers", (json_int_t)sm->failovers,
		      "partially_synced", (sm->blocks & LDR_BLOCK_UNSYNCED) != 0);
	return j;
}
