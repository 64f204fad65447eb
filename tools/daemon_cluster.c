/*
 * Cluster membership over the ctl protocol (docs/ctl.md):
 *
 *   cluster.members   any node, local state: the Raft configuration joined
 *                     with each member's metadata and the failover switches
 *   member.join       role JOIN, leader only: ["check" | "add", id, address,
 *                     name, guid, publish_address]
 *   member.remove     leader only: [id]
 *
 * (cluster.members and the member metadata are daemon_members.c's; a join
 * ends with the new member's metadata written.)
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
	bool promote; /* an add whose standby is in the configuration already */
	enum change_phase phase;
	uint64_t conn_id, req_id;
	struct cns_member m;
	char name[256], guid[CLI_GUID_LEN + 1], publish[CNS_ADDRESS_MAX];
	/* One request per step: the node reads a request after its callback. */
	struct cns_req change_req, meta_req, undo_req;
	int status; /* of a failed join, answered once the undo is done */
	struct daemon_change *next;
};
/* ---- the queue of changes ---------------------------------------------------------- */

static void change_start(struct daemon_change *c);

/* Answer c, take it off the queue and start the next change. */
static void change_finish(struct daemon_change *c, int code, const char *msg)
{
	struct daemon *d = c->d;
	struct daemon_change **pp;

	if (c->conn_id == 0)
		; /* the leader's own upkeep: nobody asked */
	else if (code == 0)
		daemon__reply_json(d, c->conn_id, c->req_id, daemon__cluster_json(d));
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
	if (status == -ETIMEDOUT && c->kind == CHANGE_ADD) { /* and a promotion */
		c->status = status;
		c->phase = PH_UNDO;
		rv = cns_remove_member(d->node, &c->undo_req, c->m.id, undo_done);
		if (rv != 0)
			change_finish(c, status,
				      "the new node did not catch up in time, and "
				      "removing it again failed: run remove-node");
		return;
	}
	if (status != 0 || (c->kind == CHANGE_ADD && c->name[0] == '\0')) {
		change_finish(c, status, NULL); /* no name to record: upkeep */
		return;
	}
	daemon__meta_key(key, sizeof key, c->m.id);
	if (c->kind == CHANGE_ADD &&
	    (value = daemon__meta_value(c->m.id, c->name, c->guid, c->publish, c->m.address)) ==
		    NULL) {
		change_finish(c, -ENOMEM, "joined, but its name could not be recorded");
		return;
	}
	c->phase = PH_META;
	rv = daemon__propose_kv(d, &c->meta_req, key, value, meta_done);
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

	if (c->kind == CHANGE_ADD && c->promote)
		rv = cns_promote_member(d->node, &c->change_req, c->m.id, change_done);
	else if (c->kind == CHANGE_ADD)
		rv = cns_add_member(d->node, &c->change_req, &c->m, change_done);
	else
		rv = cns_remove_member(d->node, &c->change_req, c->m.id, change_done);
	if (rv == -EBUSY)
		return;
	c->phase = PH_CHANGING;
	if (rv == -EINVAL && c->promote) /* it votes already (promoted meanwhile) */
		change_done(&c->change_req, 0, NULL);
	else if (rv != 0)
		change_finish(c, rv, NULL);
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

/* Where a joining member stands in the configuration. */
enum join_state {
	JOIN_NEW,     /* not in it: add */
	JOIN_STANDBY, /* this id at this address as a standby: an add cut short
		       * (leadership moved); promote it */
	JOIN_VOTER,   /* this id at this address votes: a retried add; only its
		       * metadata may be missing */
};

/* Why a cannot join, into msg (-EEXIST), or 0 and *ret_state. */
static int join_conflict(struct daemon *d, const struct join_args *a, char *msg, size_t size,
			 enum join_state *ret_state)
{
	Backstay__KvResult *r = daemon__local_range(d, CLI_KV_MEMBERS);
	struct cns_status st;
	unsigned i;
	int rv = 0;

	*ret_state = JOIN_NEW;
	if (r == NULL)
		return -ENOMEM;
	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && rv == 0; i++) {
		const struct cns_member *m = &st.members[i];
		json_t *meta = daemon__meta_find(r, m->id);
		const char *name =
			cli__jstr(meta, "name")[0] ? cli__jstr(meta, "name") : m->address;

		if (m->id == a->m.id && strcmp(m->address, a->m.address) == 0)
			*ret_state = m->voter ? JOIN_VOTER : JOIN_STANDBY;
		else if (m->id == a->m.id || strcmp(m->address, a->m.address) == 0)
			rv = snprintf(msg, size,
				      "%s is already a member (%s): run remove-node %s on another "
				      "node first, then join-cluster --recovery on this one",
				      a->m.address, name, name);
		else if (strcmp(cli__jstr(meta, "guid"), a->guid) == 0)
			rv = snprintf(msg, size,
				      "this node is still a member, as %s at %s: run remove-node "
				      "%s first",
				      name, m->address, name);
		else if (strcmp(cli__jstr(meta, "name"), a->name) == 0)
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
	enum join_state state;
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
	rv = join_conflict(d, &a, msg, sizeof msg, &state);
	if (rv != 0) {
		daemon__reply_raw(d, conn_id, req->id, rv, rv == -EEXIST ? msg : bs_strerror(rv),
				  NULL, 0);
		return;
	}
	if (!a.add) { /* the check passed: the members, and the cluster's vip */
		json_t *obj = daemon__cluster_json(d);
		const char *vip = bs_config_str(d->config, BS_SET_VIP);

		if (obj != NULL && vip != NULL)
			json_object_set_new(obj, "vip", json_string(vip));
		daemon__reply_json(d, conn_id, req->id, obj);
		return;
	}
	c = change_new(d, CHANGE_ADD, conn_id, req->id);
	if (c == NULL) {
		daemon__reply_error(d, conn_id, req->id, -ENOMEM);
		return;
	}
	c->m = a.m;
	/* A standby is promoted; a voter (a retried add, or promoted by the
	 * upkeep meanwhile) only gets its metadata written. */
	c->promote = state != JOIN_NEW;
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
		daemon__reply_json(d, conn_id, req->id, daemon__cluster_json(d));
	else if (strcmp(verb, "member.remove") == 0)
		handle_remove(d, conn_id, req);
	else
		return false;
	return true;
}

/* A standby nobody here is adding was left by an add cut short (the leader
 * that ran it lost leadership): promote it, as its join would have. If its
 * node is gone, the promotion times out and it is removed again. */
static void adopt_standby(struct daemon *d)
{
	struct daemon_change *c;
	struct cns_status st;
	unsigned i;

	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && st.members[i].voter; i++)
		;
	if (i == st.n_members || (c = change_new(d, CHANGE_ADD, 0, 0)) == NULL)
		return;
	c->m = st.members[i];
	c->promote = true;
	bs_info(CLUSTER_COMPONENT,
		"member %llu (%s) is a standby left by an unfinished join: "
		"promoting it",
		(unsigned long long)c->m.id, c->m.address);
	change_enqueue(d, c);
}

void daemon__cluster_tick(struct daemon *d)
{
	if (d->node == NULL || d->stopping || !daemon__is_ready_leader(d))
		return;
	if (d->changes != NULL && d->changes->phase == PH_QUEUED)
		change_start(d->changes);
	if (d->changes == NULL)
		adopt_standby(d);
	daemon__members_tick(d);
}
