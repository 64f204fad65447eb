/*
 * Verbs that look at the cluster, or flip its switches: status,
 * cluster-status, set-cluster-failover, set-node-failover,
 * gen-server-config.
 *
 * status and cluster-status ask this node for the member list
 * (cluster.members) and then every member for its own status, directly,
 * each within a short timeout: what they show is what each node says of
 * itself, and the nodes that did not answer are named. The drawing is
 * render_status.c's.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "render.h"
#include "tools.h"

#define PROBE_MS 2000 /* one member's status */

/* What status and cluster-status show. */
struct view {
	struct cli_target t;
	json_t *local;	 /* this node's status */
	json_t *cluster; /* its cluster.members */
	size_t n;
	struct cli_node_view *nodes;
	json_t **answers;
	char (*errors)[256];
};

static void view_free(struct view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		json_decref(v->answers[i]);
	free(v->nodes);
	free(v->answers);
	free(v->errors);
	json_decref(v->local);
	json_decref(v->cluster);
	bs_secrets_wipe(&v->t.secrets);
}

/* This node's status and member list: CLI_OK, or CLI_FAIL printed. */
static int ask_local(struct cli_ctx *ctx, struct view *v)
{
	char errmsg[256];

	if (cli__target_load(ctx, &v->t) != CLI_OK)
		return CLI_FAIL;
	if (cli__ask_json(&v->t, v->t.endpoint, "status", 5000, &v->local, errmsg, sizeof errmsg) !=
		    0 ||
	    cli__ask_json(&v->t, v->t.endpoint, "cluster.members", 5000, &v->cluster, errmsg,
			  sizeof errmsg) != 0) {
		fprintf(ctx->err,
			"%s %s: this node's backstay at %s: %s\n(is it running? backstay start; is "
			"this node in a cluster? create-cluster / join-cluster)\n",
			ctx->prog, ctx->verb, v->t.endpoint, errmsg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Member i's own status, or why it did not answer (without the address the
 * table prints beside it). */
static void ask_member(struct view *v, const json_t *m, size_t i)
{
	const char *address = cli__jstr(m, "address");
	size_t len = strlen(address);
	char *e = v->errors[i];

	if (cli__ask_json(&v->t, address, "status", PROBE_MS, &v->answers[i], e,
			  sizeof v->errors[i]) != 0 &&
	    strncmp(e, address, len) == 0 && strncmp(e + len, ": ", 2) == 0)
		memmove(e, e + len + 2, strlen(e + len + 2) + 1);
}

/* Every member's own status (this node's is the one already asked). */
static int gather(struct cli_ctx *ctx, struct view *v)
{
	const json_t *members, *m;
	json_int_t self;
	size_t i;

	if (ask_local(ctx, v) != CLI_OK)
		return CLI_FAIL;
	members = json_object_get(v->cluster, "members");
	v->n = json_array_size(members);
	v->nodes = calloc(v->n + 1, sizeof *v->nodes);
	v->answers = calloc(v->n + 1, sizeof *v->answers);
	v->errors = calloc(v->n + 1, sizeof *v->errors);
	if (v->nodes == NULL || v->answers == NULL || v->errors == NULL) {
		v->n = 0;
		return CLI_FAIL;
	}
	self = json_integer_value(json_object_get(v->local, "id"));
	json_array_foreach(members, i, m)
	{
		v->nodes[i].member = m;
		if (json_integer_value(json_object_get(m, "id")) == self)
			v->answers[i] = json_incref(v->local);
		else
			ask_member(v, m, i);
		v->nodes[i].status = v->answers[i];
		v->nodes[i].error = v->errors[i];
	}
	return CLI_OK;
}

/* ---- status ---------------------------------------------------------------------------- */

/* runit's `sv status` shape, from the pidfile alone: works with every other
 * node (and this node's port) down. */
static int status_simple(struct cli_ctx *ctx)
{
	struct bs_config *c = cli__load_config(ctx);
	const char *data_dir;
	long pid;

	if (c == NULL)
		return CLI_FAIL;
	data_dir = bs_config_str(c, BS_SET_DATA_DIR);
	pid = cli__daemon_pid(data_dir);
	if (pid > 0)
		fprintf(ctx->out, "run: backstay: (pid %ld) %lds\nrun: consensus: (pid %ld) %lds\n",
			pid, cli__daemon_uptime_s(data_dir), pid, cli__daemon_uptime_s(data_dir));
	else
		fprintf(ctx->out, "down: backstay: 0s, normally up\ndown: consensus: 0s, normally "
				  "up\n");
	bs_config_free(c);
	return pid > 0 ? CLI_OK : CLI_FAIL;
}

/* status --json also carries this node's own answer as "local" (term,
 * commit and applied indexes...: what an operator compares between
 * survivors before a quorum-loss recovery). */
static json_t *with_local(json_t *obj, const struct view *v)
{
	if (obj != NULL && json_object_set(obj, "local", v->local) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static int run_status(struct cli_ctx *ctx)
{
	struct view v = {0};
	enum bs_log_level saved;
	int rv;

	if (ctx->opt[0] != NULL)
		return status_simple(ctx);
	cli__quiet_start(&saved);
	rv = gather(ctx, &v);
	if (rv == CLI_OK && ctx->json)
		rv = cli__print_json(ctx, with_local(cli__status_json(v.local, v.nodes, v.n), &v));
	else if (rv == CLI_OK)
		cli__render_status(ctx->out, v.local, v.nodes, v.n);
	view_free(&v);
	bs_log_set_level(saved);
	return rv;
}

static const struct cli_opt status_opts[] = {
	{"simple", 0, false},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_status = {
	.name = "status",
	.summary = "this node's services and the cluster's health",
	.usage = "",
	.help = "      --simple        runit-style lines from this node alone (works when\n"
		"                      the daemon or the other nodes are down)\n",
	.notes = "Asks every member for its own status (2 s each) and names those that do not\n"
		 "answer. Exit 1 when this node's daemon does not answer.\n",
	.flags = CLI_F_CONFIG | CLI_F_JSON | CLI_F_CLIENT,
	.min_args = 0,
	.max_args = 0,
	.run = run_status,
	.opts = status_opts,
};

/* ---- cluster-status -------------------------------------------------------------------- */

static int run_cluster_status(struct cli_ctx *ctx)
{
	struct view v = {0};
	enum bs_log_level saved;
	int rv;

	cli__quiet_start(&saved);
	rv = gather(ctx, &v);
	if (rv == CLI_OK && ctx->json)
		rv = cli__print_json(ctx, cli__cluster_status_json(v.cluster, v.nodes, v.n));
	else if (rv == CLI_OK)
		cli__render_cluster_status(ctx->out, v.cluster, v.nodes, v.n);
	view_free(&v);
	bs_log_set_level(saved);
	return rv;
}

const struct cli_verb cli__verb_cluster_status = {
	.name = "cluster-status",
	.summary = "every member: name, IP, GUID, role, PostgreSQL, Elasticsearch",
	.usage = "",
	.help = "",
	.notes = "Works from any member. Exit 0 when the table could be drawn (members that\n"
		 "did not answer are named under it); 1 when this node's daemon does not\n"
		 "answer.\n",
	.flags = CLI_F_CONFIG | CLI_F_JSON | CLI_F_CLIENT,
	.min_args = 0,
	.max_args = 0,
	.run = run_cluster_status,
};

/* ---- failover switches ------------------------------------------------------------------ */

/* chef-backend-ctl's STATE words: "enabled", "disabled" or NULL. */
static const char *parse_state(const char *s)
{
	static const char *const on[] = {"on", "true", "enabled"}, *const off[] = {"off", "false",
										   "disabled"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcmp(s, on[i]) == 0)
			return "enabled";
		if (strcmp(s, off[i]) == 0)
			return "disabled";
	}
	return NULL;
}

static int bad_state(struct cli_ctx *ctx)
{
	fprintf(ctx->err,
		"%s %s: STATE must be one of on off true false enabled disabled, not "
		"'%s'\n",
		ctx->prog, ctx->verb, ctx->argv[0]);
	return CLI_USAGE;
}

static int run_set_cluster(struct cli_ctx *ctx)
{
	const char *state = parse_state(ctx->argv[0]);
	struct cli_target t;
	enum bs_log_level saved;
	int rv;

	if (state == NULL)
		return bad_state(ctx);
	if (cli__target_load(ctx, &t) != CLI_OK)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	rv = cli__kv_put_text(ctx, &t, CLI_KV_FAILOVER, state);
	if (rv == CLI_OK)
		fprintf(ctx->out, "ok: cluster failover %s\n", state);
	bs_secrets_wipe(&t.secrets);
	bs_log_set_level(saved);
	return rv;
}

const struct cli_verb cli__verb_set_cluster_failover = {
	.name = "set-cluster-failover",
	.summary = "allow or block failover for the whole cluster",
	.usage = "STATE",
	.help = "",
	.notes = "STATE: on, off, true, false, enabled or disabled. Stored in the replicated\n"
		 "state; shown by cluster-status.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_set_cluster,
};

/* The GUID of NODE (by name or address), else of this node: CLI_OK. */
static int node_guid(struct cli_ctx *ctx, struct view *v, const char *node, char *guid, char *name)
{
	const json_t *m = v->local != NULL ? json_object_get(v->local, "node") : NULL;

	if (node != NULL) {
		m = cli__member_find(ctx, v->cluster, node);
		if (m == NULL)
			return CLI_FAIL;
	}
	snprintf(guid, CLI_GUID_LEN + 1, "%s", cli__jstr(m, "guid"));
	snprintf(name, 256, "%s", cli__jstr(m, "name"));
	if (guid[0] == '\0') {
		fprintf(ctx->err,
			"%s %s: %s has no GUID (a node of consensus.initial_cluster): "
			"its failover cannot be set\n",
			ctx->prog, ctx->verb, name);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int run_set_node(struct cli_ctx *ctx)
{
	const char *state = parse_state(ctx->argv[0]);
	struct view v = {0};
	enum bs_log_level saved;
	char guid[CLI_GUID_LEN + 1], name[256], key[128];
	int rv;

	if (state == NULL)
		return bad_state(ctx);
	cli__quiet_start(&saved);
	rv = ask_local(ctx, &v);
	if (rv == CLI_OK)
		rv = node_guid(ctx, &v, ctx->argc > 1 ? ctx->argv[1] : NULL, guid, name);
	if (rv == CLI_OK) {
		snprintf(key, sizeof key, "%s%s", CLI_KV_NODE_FAILOVER, guid);
		rv = cli__kv_put_text(ctx, &v.t, key, state);
	}
	if (rv == CLI_OK)
		fprintf(ctx->out, "ok: failover %s for %s\n", state, name);
	view_free(&v);
	bs_log_set_level(saved);
	return rv;
}

const struct cli_verb cli__verb_set_node_failover = {
	.name = "set-node-failover",
	.summary = "allow or block failover to and from one node (default: this one)",
	.usage = "STATE [NODE]",
	.help = "",
	.notes = "STATE: on, off, true, false, enabled or disabled; NODE: a member's name or\n"
		 "IP. Stored in the replicated state; shown by cluster-status.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 2,
	.run = run_set_node,
};

/* ---- gen-server-config -------------------------------------------------------------------- */

static int write_server_config(struct cli_ctx *ctx, struct view *v, const struct bs_config *c)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(v->local, "node"), "name"));
	char *text = NULL, errmsg[512];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rv;

	if (f == NULL)
		return CLI_FAIL;
	rv = cli__render_server_config(f, ctx->argv[0], v->cluster, c, &v->t.secrets,
				       cli__or(name, ""));
	fclose(f);
	if (rv != 0) {
		fprintf(ctx->err, "%s %s: no member has a publish_address yet\n", ctx->prog,
			ctx->verb);
	} else if (ctx->opt[0] == NULL) {
		fputs(text, ctx->out);
	} else {
		if (len > 0 && text[len - 1] == '\n')
			text[len - 1] = '\0'; /* bs_file_write_atomic adds it */
		rv = bs_file_write_atomic(ctx->opt[0], text, errmsg, sizeof errmsg);
		if (rv != 0)
			fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb, errmsg);
		else
			fprintf(ctx->out,
				"ok: wrote %s (mode 0600: it holds the database "
				"password)\n",
				ctx->opt[0]);
	}
	if (text != NULL)
		explicit_bzero(text, len);
	free(text);
	return rv == 0 ? CLI_OK : CLI_FAIL;
}

static int run_gen_server_config(struct cli_ctx *ctx)
{
	struct bs_config *c = cli__load_config(ctx);
	struct view v = {0};
	enum bs_log_level saved;
	int rv;

	if (c == NULL)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	rv = ask_local(ctx, &v);
	if (rv == CLI_OK)
		rv = write_server_config(ctx, &v, c);
	view_free(&v);
	bs_config_free(c);
	bs_log_set_level(saved);
	return rv;
}

static const struct cli_opt gen_opts[] = {
	{"file", 'f', true},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_gen_server_config = {
	.name = "gen-server-config",
	.summary = "print the chef-server.rb a Chef Infra Server frontend needs",
	.usage = "FQDN",
	.help = "  -f, --file FILE     write it to FILE (mode 0600) instead of printing it\n",
	.notes = "Run on any member, once per frontend; the members listed are the cluster's\n"
		 "now. The output holds the database superuser's password.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_gen_server_config,
	.opts = gen_opts,
};
