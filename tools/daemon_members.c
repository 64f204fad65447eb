/*
 * The cluster's own entries in the replicated KV (docs/ctl.md, "Files"):
 * member metadata under cluster/members/<Raft id as 16 hex> = {"id",
 * "name", "guid", "publish_address", "address"}, and the failover switches.
 * The leader writes a joining member's metadata at the end of its join
 * (daemon_cluster.c), keeps its own current, and deletes the metadata of
 * ids no longer in the configuration (after remove-node or a quorum-loss
 * recovery). Also: the cluster.members answer, and what member discovery
 * (etcd.client_port) publishes.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "discovery.h"
#include "internal.h"

#define MEMBERS_COMPONENT "cluster"

/* ---- metadata ------------------------------------------------------------------ */

void daemon__meta_key(char *out, size_t size, uint64_t id)
{
	snprintf(out, size, "%s%016" PRIx64, CLI_KV_MEMBERS, id);
}

char *daemon__meta_value(uint64_t id, const char *name, const char *guid, const char *publish,
			 const char *address)
{
	json_t *obj = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "name", name,
				"guid", guid, "publish_address", publish, "address", address);
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(obj);
	return text;
}

/* Propose a put (value != NULL) or delete of key. */
int daemon__propose_kv(struct daemon *d, struct cns_req *req, const char *key, const char *value,
		       cns_req_cb cb)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	Backstay__KvDelete del = BACKSTAY__KV_DELETE__INIT;

	cli__kv_text_command(&cmd, &put, &del, key, value);
	return cns_propose(d->node, req, &cmd, 0, cb);
}

/* This node's KV entries under prefix (local state). NULL when out of
 * memory. */
Backstay__KvResult *daemon__local_range(struct daemon *d, const char *prefix)
{
	Backstay__KvResult *r = NULL;

	if (cns_read_local(d->node, prefix, strlen(prefix), 0, &r) != 0)
		return NULL;
	return r;
}

/* The metadata object of member id in r, borrowed into *ret (a new
 * reference, caller decrefs), or NULL. */
json_t *daemon__meta_find(const Backstay__KvResult *r, uint64_t id)
{
	char key[64];
	size_t i;

	daemon__meta_key(key, sizeof key, id);
	for (i = 0; i < r->n_kvs; i++)
		if (r->kvs[i]->key.len == strlen(key) &&
		    memcmp(r->kvs[i]->key.data, key, strlen(key)) == 0)
			return json_loadb((const char *)r->kvs[i]->value.data, r->kvs[i]->value.len,
					  0, NULL);
	return NULL;
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
	json_t *meta = daemon__meta_find(r, m->id), *obj;
	char key[CLI_GUID_LEN + 64];

	snprintf(key, sizeof key, "%s%s", CLI_KV_NODE_FAILOVER, cli__jstr(meta, "guid"));
	obj = json_pack("{s:I, s:s, s:b, s:s, s:s, s:s, s:s}", "id", (json_int_t)m->id, "address",
			m->address, "voter", m->voter, "name", cli__jstr(meta, "name"), "guid",
			cli__jstr(meta, "guid"), "publish_address",
			cli__jstr(meta, "publish_address"), "node_failover",
			cli__jstr(meta, "guid")[0] ? switch_state(r, key) : "enabled");
	json_decref(meta);
	return obj;
}

json_t *daemon__cluster_json(struct daemon *d)
{
	Backstay__KvResult *r = daemon__local_range(d, CLI_KV_PREFIX);
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

void daemon__reply_json(struct daemon *d, uint64_t conn_id, uint64_t id, json_t *obj)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

	if (text == NULL)
		daemon__reply_error(d, conn_id, id, -ENOMEM);
	else
		daemon__reply_raw(d, conn_id, id, 0, "", (const uint8_t *)text, strlen(text));
	free(text);
	json_decref(obj);
}

/* d->meta_req is used again only at a later tick, after the node's
 * dispatch that ran this callback is over. */
static void meta_upkeep_done(struct cns_req *req, int status, const Backstay__KvResult *result)
{
	struct daemon *d = req->data;

	(void)result;
	d->meta_pending = false;
	if (status != 0)
		bs_debug(MEMBERS_COMPONENT, "member metadata upkeep: %s", bs_strerror(status));
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
	char *want =
		daemon__meta_value(d->self.id, d->self.name, d->self.guid, publish, d->address);
	json_t *have = daemon__meta_find(r, d->self.id);
	char *have_text = have != NULL ? json_dumps(have, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct cns_status st;
	size_t i;

	json_decref(have);
	if (want != NULL && (have_text == NULL || strcmp(want, have_text) != 0)) {
		free(have_text);
		daemon__meta_key(key, size, d->self.id);
		*ret_value = want;
		return true;
	}
	free(have_text);
	free(want);
	cns_node_status(d->node, &st);
	for (i = 0; i < r->n_kvs; i++) {
		uint64_t id = meta_key_id(&r->kvs[i]->key);

		if (id != 0 && !in_config(&st, id) && d->changes == NULL) {
			daemon__meta_key(key, size, id);
			*ret_value = NULL;
			return true;
		}
	}
	return false;
}

void daemon__members_tick(struct daemon *d)
{
	Backstay__KvResult *r;
	char key[64], *value = NULL;

	if (d->meta_pending || (r = daemon__local_range(d, CLI_KV_MEMBERS)) == NULL)
		return;
	if (meta_owed(d, r, key, sizeof key, &value)) {
		memset(&d->meta_req, 0, sizeof d->meta_req);
		d->meta_req.data = d;
		d->meta_pending =
			daemon__propose_kv(d, &d->meta_req, key, value, meta_upkeep_done) == 0;
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

	if (d->discovery == NULL || d->node == NULL ||
	    (r = daemon__local_range(d, CLI_KV_MEMBERS)) == NULL)
		return;
	cns_node_status(d->node, &st);
	for (i = 0; i < st.n_members && i < 16; i++) {
		json_t *meta = daemon__meta_find(r, st.members[i].id);

		address_host(st.members[i].address, host, sizeof host);
		m[i].id = st.members[i].id;
		snprintf(m[i].name, sizeof m[i].name, "%s",
			 cli__jstr(meta, "name")[0] ? cli__jstr(meta, "name") : host);
		snprintf(m[i].peer_url, sizeof m[i].peer_url, "http://%s", st.members[i].address);
		snprintf(m[i].client_url, sizeof m[i].client_url, "http://%s:%lld", host,
			 client_port);
		json_decref(meta);
	}
	cli__discovery_publish(d->discovery, m, i, st.leader_id != 0);
	backstay__kv_result__free_unpacked(r, NULL);
}
