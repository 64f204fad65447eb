/*
 * The daemon's answers to ctl requests (docs/ctl.md), through the consensus
 * API: writes are proposed (cns_propose), linearizable reads wait for a
 * barrier on the leader (cns_read), local reads and status answer at once,
 * watches stream one response per event until the client goes away.
 *
 * Every answer is a CtlResponse with the request's id: code 0 or a negative
 * errno / BS_E_* code, message for the operator (on BS_E_NOT_LEADER: the
 * leader's address, "" when none is known), payload a packed KvResult (for
 * status: JSON).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bs_build.h"
#include "daemon.h"
#include "daemon_leader.h"
#include "internal.h"

#define CTL_COMPONENT "ctl"

/* A request waiting for the node (a proposal or a linearizable read). */
struct daemon_req {
	struct cns_req req;
	struct daemon_req *next; /* in d->answered */
	struct daemon *d;
	uint64_t conn_id, id;
	bool exact; /* kv.get: only the key itself, not what it prefixes */
	char *key;
	size_t key_len;
};

struct daemon_watch {
	struct daemon *d;
	uint64_t conn_id, req_id, watch_id;
	struct daemon_watch *next;
};

/* ---- answering ----------------------------------------------------------------- */

int daemon__reply_raw(struct daemon *d, uint64_t conn_id, uint64_t id, int code, const char *msg,
		      const uint8_t *payload, size_t len)
{
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;

	resp.id = id;
	resp.code = code;
	resp.message = (char *)(msg != NULL ? msg : "");
	resp.payload.data = (uint8_t *)payload;
	resp.payload.len = len;
	return cns_ctl_reply(d->node, conn_id, &resp);
}

/* Answer with result packed as the payload (may be NULL). An answer too big
 * for one frame becomes an error the operator can act on. */
static int reply(struct daemon *d, uint64_t conn_id, uint64_t id, int code, const char *msg,
		 const Backstay__KvResult *result)
{
	size_t len = result != NULL ? backstay__kv_result__get_packed_size(result) : 0;
	uint8_t *buf = malloc(len > 0 ? len : 1);
	int rv;

	if (buf == NULL)
		return daemon__reply_raw(d, conn_id, id, -ENOMEM, bs_strerror(-ENOMEM), NULL, 0);
	if (result != NULL)
		backstay__kv_result__pack(result, buf);
	rv = daemon__reply_raw(d, conn_id, id, code, msg, buf, len);
	free(buf);
	if (rv == BS_E_FRAME_TOO_BIG)
		rv = daemon__reply_raw(
			d, conn_id, id, rv,
			"the answer is larger than consensus.max_frame_bytes: ask for less "
			"(--limit)",
			NULL, 0);
	if (rv != 0 && rv != -ENOTCONN)
		bs_warn(CTL_COMPONENT, "answering request %llu: %s", (unsigned long long)id,
			bs_strerror(rv));
	return rv;
}

/* A failed request: the leader's address for BS_E_NOT_LEADER, else the
 * error's text (and what it means for a write whose fate is unknown). */
void daemon__reply_error(struct daemon *d, uint64_t conn_id, uint64_t id, int code)
{
	struct cns_status st;
	const char *msg = bs_strerror(code);

	if (code == BS_E_NOT_LEADER) {
		cns_node_status(d->node, &st);
		msg = st.leader_id != 0 && st.leader_id != st.id ? st.leader_address : "";
		reply(d, conn_id, id, code, msg, NULL);
		return;
	}
	if (code == -ETIMEDOUT)
		msg = "timed out: the write may still be applied; read the key to know";
	else if (code == -ENOSPC)
		msg = "this node cannot write to its disk; new entries are refused";
	reply(d, conn_id, id, code, msg, NULL);
}

static void reply_invalid(struct daemon *d, uint64_t conn_id, uint64_t id, const char *why)
{
	reply(d, conn_id, id, -EINVAL, why, NULL);
}

/* What the state machine's code means to an operator. */
static const char *result_text(int code)
{
	switch (code) {
	case 0:
		return "";
	case -ECANCELED:
		return "compare failed";
	case -ENOENT:
		return "no such lease";
	case -EINVAL:
		return "invalid command";
	default:
		return bs_strerror(code);
	}
}

/* The request's callback has run: it is freed later (daemon__reap). */
static void req_answered(struct daemon_req *dr)
{
	dr->next = dr->d->answered;
	dr->d->answered = dr;
}

void daemon__reap(struct daemon *d)
{
	struct daemon_req *dr;

	while ((dr = d->answered) != NULL) {
		d->answered = dr->next;
		free(dr->key);
		free(dr);
	}
}

/* ---- writes ---------------------------------------------------------------------- */

static void write_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon_req *dr = req->data;

	if (status != 0)
		daemon__reply_error(dr->d, dr->conn_id, dr->id, status);
	else
		reply(dr->d, dr->conn_id, dr->id, result->code, result_text(result->code), result);
	req_answered(dr);
}

/* The payload's KvCommand if it is the op the verb names, with a key. */
static const char *check_command(const Backstay__KvCommand *cmd, Backstay__KvCommand__OpCase want)
{
	if (cmd == NULL)
		return "payload is not a KvCommand";
	if (cmd->op_case != want)
		return want == BACKSTAY__KV_COMMAND__OP_PUT ? "kv.put wants a KvCommand put"
							    : "kv.del wants a KvCommand del";
	if (want == BACKSTAY__KV_COMMAND__OP_PUT && cmd->put->key.len == 0)
		return "empty key";
	if (want == BACKSTAY__KV_COMMAND__OP_DEL && cmd->del->key.len == 0 && !cmd->del->prefix)
		return "empty key";
	return NULL;
}

static void handle_write(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req,
			 Backstay__KvCommand__OpCase want)
{
	Backstay__KvCommand *cmd =
		backstay__kv_command__unpack(NULL, req->payload.len, req->payload.data);
	const char *invalid = check_command(cmd, want);
	struct daemon_req *dr = NULL;
	int rv = -ENOMEM;

	if (invalid != NULL) {
		reply_invalid(d, conn_id, req->id, invalid);
		goto out;
	}
	dr = calloc(1, sizeof *dr);
	if (dr != NULL) {
		dr->req.data = dr;
		dr->d = d;
		dr->conn_id = conn_id;
		dr->id = req->id;
		rv = cns_propose(d->node, &dr->req, cmd, 0, write_done); /* packs cmd */
	}
	if (rv != 0) {
		daemon__reply_error(d, conn_id, req->id, rv);
		free(dr);
	}
out:
	if (cmd != NULL)
		backstay__kv_command__free_unpacked(cmd, NULL);
}

/* ---- reads ----------------------------------------------------------------------- */

struct read_args {
	const char *key;
	bool local;
	size_t limit;
};

/* args = [key or prefix, "linearizable" (default) | "local", limit (0 =
 * all)]. NULL, or why they are not valid. */
static const char *parse_read_args(const Backstay__CtlRequest *req, struct read_args *ra)
{
	char *end;

	if (req->n_args < 1 || req->n_args > 3)
		return "wants args [key, consistency, limit]";
	ra->key = req->args[0];
	ra->local = req->n_args >= 2 && strcmp(req->args[1], "local") == 0;
	if (req->n_args >= 2 && !ra->local && strcmp(req->args[1], "linearizable") != 0)
		return "consistency must be 'linearizable' or 'local'";
	ra->limit = 0;
	if (req->n_args == 3) {
		errno = 0;
		ra->limit = strtoul(req->args[2], &end, 10);
		if (req->args[2][0] < '0' || req->args[2][0] > '9' || *end != '\0' || errno != 0)
			return "limit must be a number";
	}
	return NULL;
}

/* Answer a range result; for kv.get only the key itself (a prefix read of
 * one key also finds the keys it prefixes, which sort after it). */
static void reply_range(struct daemon *d, uint64_t conn_id, uint64_t id, bool exact,
			const char *key, size_t key_len, const Backstay__KvResult *r)
{
	Backstay__KvResult one = BACKSTAY__KV_RESULT__INIT;

	if (!exact) {
		reply(d, conn_id, id, 0, "", r);
		return;
	}
	one.revision = r->revision;
	if (r->n_kvs > 0 && r->kvs[0]->key.len == key_len &&
	    memcmp(r->kvs[0]->key.data, key, key_len) == 0) {
		one.kvs = r->kvs;
		one.n_kvs = 1;
	}
	reply(d, conn_id, id, 0, "", &one);
}

static void read_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon_req *dr = req->data;

	if (status != 0)
		daemon__reply_error(dr->d, dr->conn_id, dr->id, status);
	else
		reply_range(dr->d, dr->conn_id, dr->id, dr->exact, dr->key, dr->key_len, result);
	req_answered(dr);
}

static int read_linearizable(struct daemon *d, uint64_t conn_id, uint64_t id,
			     const struct read_args *ra, bool exact)
{
	struct daemon_req *dr = calloc(1, sizeof *dr);
	int rv;

	if (dr == NULL || (dr->key = strdup(ra->key)) == NULL) {
		free(dr);
		return -ENOMEM;
	}
	dr->req.data = dr;
	dr->d = d;
	dr->conn_id = conn_id;
	dr->id = id;
	dr->exact = exact;
	dr->key_len = strlen(ra->key);
	rv = cns_read(d->node, &dr->req, dr->key, dr->key_len, exact ? 1 : ra->limit, read_done);
	if (rv != 0) {
		free(dr->key);
		free(dr);
	}
	return rv;
}

static void handle_read(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req,
			bool exact)
{
	struct read_args ra;
	const char *invalid = parse_read_args(req, &ra);
	Backstay__KvResult *r = NULL;
	size_t len;
	int rv;

	if (invalid != NULL) {
		reply_invalid(d, conn_id, req->id, invalid);
		return;
	}
	len = strlen(ra.key);
	if (!ra.local) {
		rv = read_linearizable(d, conn_id, req->id, &ra, exact);
	} else {
		rv = cns_read_local(d->node, ra.key, len, exact ? 1 : ra.limit, &r);
		if (rv == 0)
			reply_range(d, conn_id, req->id, exact, ra.key, len, r);
		if (r != NULL)
			backstay__kv_result__free_unpacked(r, NULL);
	}
	if (rv != 0)
		daemon__reply_error(d, conn_id, req->id, rv);
}

/* ---- watches --------------------------------------------------------------------- */

static void watch_drop(struct daemon_watch *w)
{
	struct daemon *d = w->d;
	struct daemon_watch **pp;

	for (pp = &d->watches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	cns_unwatch(d->node, w->watch_id);
	bs_debug(CTL_COMPONENT, "watch %llu ended", (unsigned long long)w->watch_id);
	free(w);
}

/* Send one note on w's stream; a stream that cannot take it (the client is
 * gone, or too slow to keep up) ends. */
static void watch_send(struct daemon_watch *w, const char *kind, const Backstay__KvResult *r)
{
	if (reply(w->d, w->conn_id, w->req_id, 0, kind, r) != 0)
		watch_drop(w);
}

static void watch_event(void *data, const struct cns_watch_event *ev)
{
	struct daemon_watch *w = data;
	Backstay__KvResult r = BACKSTAY__KV_RESULT__INIT;

	r.revision = ev->revision;
	r.kv = (Backstay__KeyValue *)ev->kv;
	r.prev = (Backstay__KeyValue *)ev->prev;
	watch_send(w, ev->deleted ? "delete" : "put", &r);
}

static void handle_watch(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	struct daemon_watch *w;
	Backstay__KvResult r = BACKSTAY__KV_RESULT__INIT;
	struct cns_status st;
	int rv;

	if (req->n_args != 1) {
		reply_invalid(d, conn_id, req->id, "wants args [prefix]");
		return;
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		daemon__reply_error(d, conn_id, req->id, -ENOMEM);
		return;
	}
	w->d = d;
	w->conn_id = conn_id;
	w->req_id = req->id;
	rv = cns_watch(d->node, req->args[0], strlen(req->args[0]), watch_event, w, &w->watch_id);
	if (rv != 0) {
		free(w);
		daemon__reply_error(d, conn_id, req->id, rv);
		return;
	}
	w->next = d->watches;
	d->watches = w;
	bs_debug(CTL_COMPONENT, "watch %llu on '%s'", (unsigned long long)w->watch_id,
		 req->args[0]);
	cns_node_status(d->node, &st);
	r.revision = st.revision;
	watch_send(w, "watching", &r);
}

void daemon__watches_progress(struct daemon *d)
{
	Backstay__KvResult r = BACKSTAY__KV_RESULT__INIT;
	struct daemon_watch *w, *next;
	struct cns_status st;

	if (d->watches == NULL)
		return;
	cns_node_status(d->node, &st);
	r.revision = st.revision;
	for (w = d->watches; w != NULL; w = next) {
		next = w->next;
		watch_send(w, "progress", &r);
	}
}

void daemon__watches_free(struct daemon *d)
{
	struct daemon_watch *w;

	while ((w = d->watches) != NULL) {
		d->watches = w->next;
		free(w);
	}
}

/* ---- status ---------------------------------------------------------------------- */

static json_t *status_json(const struct cns_status *st)
{
	json_t *members = json_array(), *obj;
	unsigned i;

	for (i = 0; members != NULL && i < st->n_members; i++)
		json_array_append_new(members, json_pack("{s:I, s:s, s:b}", "id",
							 (json_int_t)st->members[i].id, "address",
							 st->members[i].address, "voter",
							 st->members[i].voter));
	obj = json_pack("{s:I, s:s, s:b, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:b, s:o, s:s}", "id",
			(json_int_t)st->id, "role", cns_role_name(st->role), "ready", st->ready,
			"term", (json_int_t)st->term, "leader_id", (json_int_t)st->leader_id,
			"leader_address", st->leader_address, "commit_index",
			(json_int_t)st->commit_index, "last_applied", (json_int_t)st->last_applied,
			"last_index", (json_int_t)st->last_index, "revision",
			(json_int_t)st->revision, "disk_failing", st->disk_failing, "members",
			members, "error", st->errmsg);
	return obj;
}

json_t *daemon__node_json(struct daemon *d)
{
	uint64_t now = bs_clock_now_ms(bs_clock_real());
	const char *publish = bs_config_str(d->config, BS_SET_PUBLISH_ADDRESS);

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "name", d->self.name, "guid",
			 d->self.guid, "publish_address", publish != NULL ? publish : "", "pid",
			 (json_int_t)getpid(), "uptime_s",
			 (json_int_t)((now - d->started_ms) / 1000), "version", BS_VERSION);
}

static void handle_status(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	struct cns_status st;
	json_t *obj;
	char *text;

	cns_node_status(d->node, &st);
	obj = status_json(&st);
	if (obj != NULL) {
		json_t *leader = daemon__leader_json(d);

		json_object_set_new(obj, "node", daemon__node_json(d));
		if (leader != NULL)
			json_object_set_new(obj, "leader", leader);
	}
	text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (text == NULL) {
		daemon__reply_error(d, conn_id, req->id, -ENOMEM);
		return;
	}
	daemon__reply_raw(d, conn_id, req->id, 0, "", (const uint8_t *)text, strlen(text));
	free(text);
}

/* ---- dispatch -------------------------------------------------------------------- */

void daemon__on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		    const Backstay__CtlRequest *req)
{
	struct daemon *d = data;
	const char *verb = req->verb != NULL ? req->verb : "";
	char msg[160];

	bs_debug(CTL_COMPONENT, "request %llu '%s' on connection %llu", (unsigned long long)req->id,
		 verb, (unsigned long long)conn_id);
	if (d->stopping) {
		daemon__reply_error(d, conn_id, req->id, -ESHUTDOWN);
	} else if (daemon__cluster_ctl(d, conn_id, role, req)) {
		/* answered (or to be) by daemon_cluster.c */
	} else if (daemon__leader_ctl(d, conn_id, role, node_id, req)) {
		/* answered (or to be) by the leader module */
	} else if (role == BACKSTAY__ROLE__PEER) {
		reply(d, conn_id, req->id, -EOPNOTSUPP, "not a request between peers", NULL);
	} else if (role != BACKSTAY__ROLE__CTL) {
		reply(d, conn_id, req->id, -EOPNOTSUPP, "a joining node may only ask member.join",
		      NULL);
	} else if (strcmp(verb, "kv.put") == 0) {
		handle_write(d, conn_id, req, BACKSTAY__KV_COMMAND__OP_PUT);
	} else if (strcmp(verb, "kv.del") == 0) {
		handle_write(d, conn_id, req, BACKSTAY__KV_COMMAND__OP_DEL);
	} else if (strcmp(verb, "kv.get") == 0) {
		handle_read(d, conn_id, req, true);
	} else if (strcmp(verb, "kv.list") == 0) {
		handle_read(d, conn_id, req, false);
	} else if (strcmp(verb, "kv.watch") == 0) {
		handle_watch(d, conn_id, req);
	} else if (strcmp(verb, "status") == 0) {
		handle_status(d, conn_id, req);
	} else {
		bs_warn(CTL_COMPONENT, "unknown request '%.100s'", verb); /* escaped by bs_log */
		snprintf(msg, sizeof msg, "unknown request '%.100s'", verb);
		reply(d, conn_id, req->id, -EOPNOTSUPP, msg, NULL);
	}
	(void)node_id;
}
