/*
 * Cluster membership over the ctl protocol (docs/ctl.md):
 *
 *   cluster.members   any node, local state: the Raft configuration joined
 *                     with each member's metadata and the failover switches
 *   member.join       role JOIN, leader only: ["check" | "add", id, address,
 *                     name, guid, publish_address]
 *   member.remove     leader only: [id]
 *
 * Member metadata lives in the replicated KV under cluster/members/<id as
 * 16 hex>: {"id", "name", "guid", "publish_address", "address"}. The
 * leader writes a joining member's at the end of its join, keeps its own
 * current, and deletes the metadata of ids no longer in the configuration
 * (after remove-node or a quorum-loss recovery).
 *
 * Membership changes run one at a time in arrival order: two joins started
 * at the same moment are serialised here, not refused. A join whose node
 * does not catch up in time (consensus/node_req.c: 60 s) is removed again,
 * so that a failed join leaves the configuration as it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "discovery.h"
#include "internal.h"

#define CLUSTER_COMPONENT "cluster"

enum change_kind { CHANGE_ADD, CHANGE_REMOVE };

enum change_phase {
	PH_QUEUED,   /* waiting for the changes before it */
	PH_CHANGING, /* cns_add_member / cns_remove_member running */
	PH_META,     /* writing or deleting the member's metadata */
	PH_UNDO,     /* a join that failed: removing the standby again */
	PH_DONE,     /* answered; freed by daemon__changes_reap */
};

struct daemon_change {
	struct daemon *d;
	enum change_kind kind;
	enum change_phase phase;
	uint64_t conn_id, req_id;
	struct cns_member m;
	char name[256], guid[CLI_GUID_LEN + 1], publish[CNS_ADDRESS_MAX];
	/* One request per step: the node reads a request after its callback. */
	struct cns_req change_req, meta_req, undo_req;
	int status; /* of a failed join, answered once the undo is done */
	struct daemon_change *next;
};

/* ---- metadata ------------------------------------------------------------------ */

static void meta_key(char *out, size_t size, uint64_t id)
{
	snprintf(out, size, "%s%016" PRIx64, CLI_KV_MEMBERS, id);
}

static char *meta_value(uint64_t id, const char *name, const char *guid, const char *publish,
			const char *address)
{
	json_t *obj = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "name", name,
				"guid", guid, "publish_address", publish, "address", address);
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(obj);
	return text;
}

/* Propose a put (value != NULL) or delete of key. */
static int propose_kv(struct daemon *d, struct cns_req *req, const char *key, const char *value,
		      cns_req_cb cb)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	Backstay__KvDelete del = BACKSTAY__KV_DELETE__INIT;

	if (value != NULL) {
		put.key.data = (uint8_t *)key;
		put.key.len = strlen(key);
		put.value.data = (uint8_t *)value;
		put.value.len = strlen(value);
		cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
		cmd.put = &put;
	} else {
		del.key.data = (uint8_t *)key;
		del.key.len = strlen(key);
		cmd.op_case = BACKSTAY__KV_COMMAND__OP_DEL;
		cmd.del = &del;
	}
	return cns_propose(d->node, req, &cmd, 0, cb);
}

/* This node's KV entries under prefix (local state). NULL when out of
 * memory. */
static Backstay__KvResult *local_range(struct daemon *d, const char *prefix)
{
	Backstay__KvResult *r = NULL;

	if (cns_read_local(d->node, prefix, strlen(prefix), 0, &r) != 0)
		return NULL;
	return r;
}

/* The metadata object of member id in r, borrowed into *ret (a new
 * reference, caller decrefs), or NULL. */
static json_t *meta_find(const Backstay__KvResult *r, uint64_t id)
{
	char key[64];
	size_t i;

	meta_key(key, sizeof key, id);
	for (i = 0; i < r->n_kvs; i++)
		if (r->kvs[i]->key.len == strlen(key) &&
		    memcmp(r->kvs[i]->key.data, key, strlen(key)) == 0)
			return json_loadb((const char *)r->kvs[i]->value.data, r->kvs[i]->value.len,
					  0, NULL);
	return NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* ---- cluster.members ------------------------------------------------------------- */

/* "enabled" unless key holds "disabled". */
static const char *switch_state(const Backstay__KvResult *r, const char *key)
{
	size_t i, len = strlen(key);

	for (i = 0; r != NULL && i < r->n_kvs; i++)
		if (r->kvs[i]->key.len == len && memcmp(r->kvs[i]->key.data, key, len) == 0)
			return r->kvs[i]->value.len == 8 &&
					       memcmp(r->kvs[i]->value.data, "disabled", 8) == 0
				       ? "disabled"
				       : "enabled";
	return "enabled";
}

static json_t *member_json(const struct cns_member *m, const Backstay__KvResult *r)
{
	json_t *meta = meta_find(r, m->id), *obj;
	char key[CLI_GUID_LEN + 64];

	snprintf(key, sizeof key, "%s%s", CLI_KV_NODE_FAILOVER, jstr(meta, "guid"));
	obj = json_pack("{s:I, s:s, s:b, s:s, s:s, s:s, s:s}", "id", (json_int_t)m->id, "address",
			m->address, "voter", m->voter, "name", jstr(meta, "name"), "guid",
			jstr(meta, "guid"), "publish_address", jstr(meta, "publish_address"),
			"node_failover", jstr(meta, "guid")[0] ? switch_state(r, key) : "enabled");
	json_decref(meta);
	return obj;
}

static json_t *cluster_json(struct daemon *d)
{
	Backstay__KvResult *r = local_range(d, CLI_KV_PREFIX);
	json_t *members = json_array(), *obj = NULL;
	struct cns_status st;
	unsigned i;

	cns_node_status(d->node, &st);
	for (i = 0; r != NULL && members != NULL && i < st.n_members; i++)
		if (json_array_append_new(members, member_json(&st.members[i], r)) != 0)
			goto out;
	if (r != NULL && members != NULL)
		obj = json_pack("{s:s, s:I, s:O}", "cluster_failover",
				switch_state(r, CLI_KV_FAILOVER), "leader_id",
				(json_int_t)st.leader_id, "members", members);
out:
	json_decref(members);
	if (r != NULL)
		backstay__kv_result__free_unpacked(r, NULL);
	return obj;
}

static void reply_json(struct daemon *d, uint64_t conn_id, uint64_t id, json_t *obj)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

	if (text == NULL)
		daemon__reply_error(d, conn_id, id, -ENOMEM);
	else
		daemon__reply_raw(d, conn_id, id, 0, "", (const uint8_t *)text, strlen(text));
	free(text);
	json_decref(obj);
}

/* ---- the queue of changes ---------------------------------------------------------- */

static void change_start(struct daemon_change *c);

/* Answer c, take it off the queue and start the next change. */
static void change_finish(struct daemon_change *c, int code, const char *msg)
{
	struct daemon *d = c->d;
	struct daemon_change **pp;

	if (code == 0)
		reply_json(d, c->conn_id, c->req_id, cluster_json(d));
	else if (code == BS_E_NOT_LEADER || msg == NULL)
		daemon__reply_error(d, c->conn_id, c->req_id, code);
	else
		daemon__reply_raw(d, c->conn_id, c->req_id, code, msg, NULL, 0);
	bs_info(CLUSTER_COMPONENT, "%s %s (id %llu, %s): %s",
		c->kind == CHANGE_ADD ? "join of" : "removal of", c->name[0] ? c->name : "member",
		(unsigned long long)c->m.id, c->m.address,
		code == 0 ? "done" : (msg != NULL ? msg : bs_strerror(code)));
	for (pp = &d->changes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->phase = PH_DONE;
	daemon__discovery_publish(d);
	c->next = d->changes_done;
	d->changes_done = c;
	if (d->changes != NULL && !d->stopping)
		change_start(d->changes);
}

static void meta_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon_change *c = req->data;
	char msg[300];

	(void)result;
	if (status == 0) {
		change_finish(c, 0, "");
		return;
	}
	snprintf(msg, sizeof msg, "%s, but its name could not be recorded: %s",
		 c->kind == CHANGE_ADD ? "joined" : "removed", bs_strerror(status));
	change_finish(c, status, msg);
}

static void undo_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon_change *c = req->data;
	char msg[300];

	(void)result;
	snprintf(msg, sizeof msg, "the new node did not catch up in time (%s); %s",
		 bs_strerror(c->status),
		 status == 0 ? "it was removed again" : "removing it again failed too");
	change_finish(c, c->status, msg);
}

static void change_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon_change *c = req->data;
	struct daemon *d = c->d;
	char key[64], *value = NULL;
	int rv;

	(void)result;
	if (status == -ETIMEDOUT && c->kind == CHANGE_ADD) {
		c->status = status;
		c->phase = PH_UNDO;
		rv = cns_remove_member(d->node, &c->undo_req, c->m.id, undo_done);
		if (rv != 0)
			change_finish(c, status,
				      "the new node did not catch up in time, and "
				      "removing it again failed: run remove-node");
		return;
	}
	if (status != 0) {
		change_finish(c, status, NULL);
		return;
	}
	meta_key(key, sizeof key, c->m.id);
	if (c->kind == CHANGE_ADD &&
	    (value = meta_value(c->m.id, c->name, c->guid, c->publish, c->m.address)) == NULL) {
		change_finish(c, -ENOMEM, "joined, but its name could not be recorded");
		return;
	}
	c->phase = PH_META;
	rv = propose_kv(d, &c->meta_req, key, value, meta_done);
	free(value);
	if (rv != 0)
		meta_done(&c->meta_req, rv, NULL);
}

/* Start the change at the head of the queue; -EBUSY (a change of the
 * node's own) leaves it queued for the next tick. */
static void change_start(struct daemon_change *c)
{
	struct daemon *d = c->d;
	int rv;

	if (c->kind == CHANGE_ADD)
		rv = cns_add_member(d->node, &c->change_req, &c->m, change_done);
	else
		rv = cns_remove_member(d->node, &c->change_req, c->m.id, change_done);
	if (rv == -EBUSY)
		return;
	if (rv != 0) {
		change_finish(c, rv, NULL);
		return;
	}
	c->phase = PH_CHANGING;
}

static void change_enqueue(struct daemon *d, struct daemon_change *c)
{
	struct daemon_change **pp = &d->changes;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c;
	if (d->changes == c)
		change_start(c);
	else
		bs_info(CLUSTER_COMPONENT, "%s waits for the membership change before it",
			c->name[0] ? c->name : c->m.address);
}

void daemon__changes_reap(struct daemon *d, bool all)
{
	struct daemon_change *c;

	while ((c = d->changes_done) != NULL) {
		d->changes_done = c->next;
		free(c);
	}
	while (all && (c = d->changes) != NULL) {
		d->changes = c->next;
		free(c);
	}
}

static struct daemon_change *change_new(struct daemon *d, enum change_kind kind, uint64_t conn_id,
					uint64_t req_id)
{
	struct daemon_change *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->d = d;
	c->kind = kind;
	c->conn_id = conn_id;
	c->req_id = req_id;
	c->change_req.data = c->meta_req.data = c->undo_req.data = c;
	return c;
}

/* ---- member.join --------------------------------------------------------------------- */

struct join_args {
	bool add; /* else check */
	struct cns_member m;
	const char *name, *guid, *publish;
};

static const char *parse_join(const Backstay__CtlRequest *req, struct join_args *a)
{
	char *end;

	if (req->n_args != 6)
		return "wants args [check|add, id, address, name, guid, publish_address]";
	if (strcmp(req->args[0], "check") != 0 && strcmp(req->args[0], "add") != 0)
		return "the first arg must be 'check' or 'add'";
	a->add = strcmp(req->args[0], "add") == 0;
	errno = 0;
	a->m.id = strtoull(req->args[1], &end, 10);
	if (*end != '\0' || errno != 0 || a->m.id == 0 || a->m.id > INT64_MAX)
		return "id must be a number from 1 to 2^63-1";
	if (!cli__address_valid(req->args[2]) || strlen(req->args[2]) >= sizeof a->m.address)
		return "address must be IP:PORT with a numeric IP";
	snprintf(a->m.address, sizeof a->m.address, "%s", req->args[2]);
	a->m.voter = true;
	a->name = req->args[3];
	a->guid = req->args[4];
	a->publish = req->args[5];
	if (a->name[0] == '\0' || strlen(a->name) >= 256 || strlen(a->guid) != CLI_GUID_LEN ||
	    strlen(a->publish) >= CNS_ADDRESS_MAX)
		return "name must not be empty, guid must be 32 hex digits";
	return NULL;
}

/*
 * Why a cannot join, into msg (0), or 0 with *ret_member true when exactly
 * this member (id and address) is already a voter: a retried add.
 */
static int join_conflict(struct daemon *d, const struct join_args *a, char *msg, size_t size,
			 bool *ret_member)
{
	Backstay__KvResult *r = local_range(d, CLI_KV_MEMBERS);
	struct cns_status st;
	unsigned i;
	int rv = 0;

	*ret_member = false;
	if (r == NULL)
		return -ENOMEM;
	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && rv == 0; i++) {
		const struct cns_member *m = &st.members[i];
		json_t *meta = meta_find(r, m->id);
		const char *name = jstr(meta, "name")[0] ? jstr(meta, "name") : m->address;

		if (m->id == a->m.id && strcmp(m->address, a->m.address) == 0 && m->voter)
			*ret_member = true;
		else if (m->id == a->m.id || strcmp(m->address, a->m.address) == 0)
			rv = snprintf(msg, size,
				      "%s is already a member (%s): run remove-node %s on another "
				      "node first, then join-cluster --recovery on this one",
				      a->m.address, name, name);
		else if (strcmp(jstr(meta, "guid"), a->guid) == 0)
			rv = snprintf(msg, size,
				      "this node is still a member, as %s at %s: run remove-node "
				      "%s first",
				      name, m->address, name);
		else if (strcmp(jstr(meta, "name"), a->name) == 0)
			rv = snprintf(msg, size,
				      "a member named %s already exists (at %s): give this node "
				      "another fqdn",
				      a->name, m->address);
		json_decref(meta);
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return rv > 0 ? -EEXIST : 0;
}

static void handle_join(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	struct join_args a = {0};
	const char *invalid = parse_join(req, &a);
	struct daemon_change *c;
	bool member;
	char msg[512];
	int rv;

	if (invalid != NULL) {
		daemon__reply_raw(d, conn_id, req->id, -EINVAL, invalid, NULL, 0);
		return;
	}
	if (!daemon__is_ready_leader(d)) {
		daemon__reply_error(d, conn_id, req->id, BS_E_NOT_LEADER);
		return;
	}
	rv = join_conflict(d, &a, msg, sizeof msg, &member);
	if (rv != 0) {
		daemon__reply_raw(d, conn_id, req->id, rv, rv == -EEXIST ? msg : bs_strerror(rv),
				  NULL, 0);
		return;
	}
	if (!a.add || member) { /* check passed, or an add already done */
		reply_json(d, conn_id, req->id, cluster_json(d));
		return;
	}
	c = change_new(d, CHANGE_ADD, conn_id, req->id);
	if (c == NULL) {
		daemon__reply_error(d, conn_id, req->id, -ENOMEM);
		return;
	}
	c->m = a.m;
	snprintf(c->name, sizeof c->name, "%s", a.name);
	snprintf(c->guid, sizeof c->guid, "%s", a.guid);
	snprintf(c->publish, sizeof c->publish, "%s", a.publish);
	bs_info(CLUSTER_COMPONENT, "%s (id %llu) asks to join from %s", c->name,
		(unsigned long long)c->m.id, c->m.address);
	change_enqueue(d, c);
}

/* ---- member.remove --------------------------------------------------------------------- */

static void handle_remove(struct daemon *d, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	struct daemon_change *c;
	struct cns_status st;
	uint64_t id;
	unsigned i;
	char *end;

	errno = 0;
	id = req->n_args == 1 ? strtoull(req->args[0], &end, 10) : 0;
	if (req->n_args != 1 || *end != '\0' || errno != 0 || id == 0) {
		daemon__reply_raw(d, conn_id, req->id, -EINVAL, "wants args [id]", NULL, 0);
		return;
	}
	if (!daemon__is_ready_leader(d)) {
		daemon__reply_error(d, conn_id, req->id, BS_E_NOT_LEADER);
		return;
	}
	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && st.members[i].id != id; i++)
		;
	if (i == st.n_members) {
		daemon__reply_raw(d, conn_id, req->id, -ENOENT, "no such member", NULL, 0);
		return;
	}
	c = change_new(d, CHANGE_REMOVE, conn_id, req->id);
	if (c == NULL) {
		daemon__reply_error(d, conn_id, req->id, -ENOMEM);
		return;
	}
	c->m = st.members[i];
	bs_info(CLUSTER_COMPONENT, "removing member %llu (%s)", (unsigned long long)id,
		c->m.address);
	change_enqueue(d, c);
}

/* ---- dispatch and upkeep ------------------------------------------------------------------ */

bool daemon__cluster_ctl(struct daemon *d, uint64_t conn_id, Backstay__Role role,
			 const Backstay__CtlRequest *req)
{
	const char *verb = req->verb != NULL ? req->verb : "";

	if (strcmp(verb, "member.join") == 0 && role == BACKSTAY__ROLE__JOIN)
		handle_join(d, conn_id, req);
	else if (role != BACKSTAY__ROLE__CTL)
		return false;
	else if (strcmp(verb, "cluster.members") == 0)
		reply_json(d, conn_id, req->id, cluster_json(d));
	else if (strcmp(verb, "member.remove") == 0)
		handle_remove(d, conn_id, req);
	else
		return false;
	return true;
}

/* d->meta_req is used again only at a later tick, after the node's
 * dispatch that ran this callback is over. */
static void meta_upkeep_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon *d = req->data;

	(void)result;
	d->meta_pending = false;
	if (status != 0)
		bs_debug(CLUSTER_COMPONENT, "member metadata upkeep: %s", bs_strerror(status));
}

static bool in_config(const struct cns_status *st, uint64_t id)
{
	unsigned i;

	for (i = 0; i < st->n_members; i++)
		if (st->members[i].id == id)
			return true;
	return false;
}

/* The id of a metadata key, or 0. */
static uint64_t meta_key_id(const ProtobufCBinaryData *key)
{
	size_t plen = strlen(CLI_KV_MEMBERS);
	char hex[17];

	if (key->len != plen + 16)
		return 0;
	memcpy(hex, key->data + plen, 16);
	hex[16] = '\0';
	return strtoull(hex, NULL, 16);
}

/* One metadata write the leader owes, as (key, value or NULL to delete):
 * its own entry when missing or stale, else the entry of an id no longer
 * in the configuration. false when there is nothing to do. */
static bool meta_owed(struct daemon *d, const Backstay__KvResult *r, char *key, size_t size,
		      char **ret_value)
{
	const char *publish = bs_config_str(d->config, BS_SET_PUBLISH_ADDRESS);
	char *want = meta_value(d->self.id, d->self.name, d->self.guid, publish, d->address);
	json_t *have = meta_find(r, d->self.id);
	char *have_text = have != NULL ? json_dumps(have, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct cns_status st;
	size_t i;

	json_decref(have);
	if (want != NULL && (have_text == NULL || strcmp(want, have_text) != 0)) {
		free(have_text);
		meta_key(key, size, d->self.id);
		*ret_value = want;
		return true;
	}
	free(have_text);
	free(want);
	cns_node_status(d->node, &st);
	for (i = 0; i < r->n_kvs; i++) {
		uint64_t id = meta_key_id(&r->kvs[i]->key);

		if (id != 0 && !in_config(&st, id) && d->changes == NULL) {
			meta_key(key, size, id);
			*ret_value = NULL;
			return true;
		}
	}
	return false;
}

void daemon__cluster_tick(struct daemon *d)
{
	Backstay__KvResult *r;
	char key[64], *value = NULL;

	if (d->node == NULL || d->stopping || !daemon__is_ready_leader(d))
		return;
	if (d->changes != NULL && d->changes->phase == PH_QUEUED)
		change_start(d->changes);
	if (d->meta_pending || (r = local_range(d, CLI_KV_MEMBERS)) == NULL)
		return;
	if (meta_owed(d, r, key, sizeof key, &value)) {
		memset(&d->meta_req, 0, sizeof d->meta_req);
		d->meta_req.data = d;
		d->meta_pending = propose_kv(d, &d->meta_req, key, value, meta_upkeep_done) == 0;
	}
	free(value);
	backstay__kv_result__free_unpacked(r, NULL);
}

/* ---- member discovery ----------------------------------------------------------------- */

/* The host part of "ip:port" / "[ipv6]:port", brackets kept. */
static void address_host(const char *address, char *out, size_t size)
{
	const char *colon = strrchr(address, ':');
	size_t len = colon != NULL ? (size_t)(colon - address) : strlen(address);

	snprintf(out, size, "%.*s", (int)len, address);
}

void daemon__discovery_publish(struct daemon *d)
{
	Backstay__KvResult *r;
	struct cli_discovery_member m[16];
	long long client_port = bs_config_int(d->config, BS_SET_ETCD_CLIENT_PORT);
	struct cns_status st;
	char host[CNS_ADDRESS_MAX];
	unsigned i;

	if (d->discovery == NULL || d->node == NULL || (r = local_range(d, CLI_KV_MEMBERS)) == NULL)
		return;
	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && i < 16; i++) {
		json_t *meta = meta_find(r, st.members[i].id);

		address_host(st.members[i].address, host, sizeof host);
		m[i].id = st.members[i].id;
		snprintf(m[i].name, sizeof m[i].name, "%s",
			 jstr(meta, "name")[0] ? jstr(meta, "name") : host);
		snprintf(m[i].peer_url, sizeof m[i].peer_url, "http://%s", st.members[i].address);
		snprintf(m[i].client_url, sizeof m[i].client_url, "http://%s:%lld", host,
			 client_port);
		json_decref(meta);
	}
	cli__discovery_publish(d->discovery, m, i, st.leader_id != 0);
	backstay__kv_result__free_unpacked(r, NULL);
}
