/*
 * Cluster lifecycle verbs: create-cluster, join-cluster, remove-node
 * (chef-backend-ctl's, with its flags and its refusals).
 *
 * create-cluster: the first node. Writes the secrets file (or uses one
 * placed there before), draws this node's identity (data_dir/node.json),
 * bootstraps a Raft configuration of this node alone, starts the daemon and
 * waits until it leads. --quorum-loss-recovery: the survivor of a cluster
 * that lost its majority becomes the whole cluster again (offline rewrite
 * of its configuration, then start).
 *
 * join-cluster PEER: every check first, so that a refused join changes
 * nothing; then the leader's "check"; then the local files, the daemon, and
 * the leader's "add" (standby, catch-up, voter). A failure after the local
 * files were written undoes them.
 *
 * remove-node NAME|IP: from another node, once the named node is down.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "pgctl.h"
#include "tools.h"

#define LEAD_WAIT_MS 30000 /* create-cluster: until the new node leads */
#define REMOVED_PROBE_MS 2000

/* This node as a one-member configuration. */
static int self_member(struct cli_ctx *ctx, const struct bs_config *c, uint64_t id,
		       struct cns_member *m)
{
	const char *publish = bs_config_str(c, BS_SET_PUBLISH_ADDRESS);

	if (publish == NULL)
		return cli__fail(ctx, "publish_address is not set: it is this node's address, "
				      "reachable by every other node");
	if (!cli__address_is_local(publish))
		return cli__fail(ctx, "publish_address %s is not an address of this node", publish);
	m->id = id;
	m->voter = true;
	cli__join_address(m->address, sizeof m->address, publish,
			  (long long)bs_config_int(c, BS_SET_CONSENSUS_PORT));
	return CLI_OK;
}

/* Does the local daemon lead, with its barrier applied? */
static bool leads(void *data)
{
	const struct cli_target *t = data;
	char errmsg[256];
	json_t *st = NULL;
	bool yes = cli__ask_json(t, t->endpoint, "status", 1000, &st, errmsg, sizeof errmsg) == 0 &&
		   json_is_true(json_object_get(st, "ready")) &&
		   strcmp(cli__jstr(st, "role"), "leader") == 0;

	json_decref(st);
	return yes;
}

static int wait_leading(struct cli_ctx *ctx, const struct cli_target *t)
{
	if (cli__poll(LEAD_WAIT_MS, leads, (void *)t))
		return CLI_OK;
	return cli__fail(ctx, "the node does not lead after %d s; see its log",
			 LEAD_WAIT_MS / 1000);
}

/* Start the daemon and wait until it leads. */
static int start_leading(struct cli_ctx *ctx, const struct bs_config *c)
{
	struct cli_target t;
	long pid;
	int rv = cli__daemon_start(ctx, c, &pid);

	if (rv != CLI_OK)
		return rv;
	rv = cli__target_load(ctx, &t);
	if (rv == CLI_OK)
		rv = wait_leading(ctx, &t);
	bs_secrets_wipe(&t.secrets);
	return rv;
}

/* ---- create-cluster ----------------------------------------------------------------- */

enum {
	CREATE_QLR,
	CREATE_YES,
	CREATE_LICENSE,
	CREATE_QUIET,
	CREATE_VERBOSE,
	CREATE_ES_WAIT,
	CREATE_ETCD_WAIT
};

/* The secrets file: the one placed there before, else a new one. */
static int ensure_secrets(struct cli_ctx *ctx, const struct bs_config *c, bool *ret_made)
{
	const char *path = bs_config_str(c, BS_SET_SECRETS_FILE);
	struct bs_secrets s;
	char errmsg[512], dir[PATH_MAX];
	int rv;

	*ret_made = false;
	if (access(path, F_OK) == 0) {
		rv = bs_secrets_read(path, &s, errmsg, sizeof errmsg);
		bs_secrets_wipe(&s);
		return rv == 0 ? CLI_OK : cli__fail(ctx, "%s", errmsg);
	}
	snprintf(dir, sizeof dir, "%s", path);
	if (strrchr(dir, '/') != NULL && strrchr(dir, '/') != dir)
		*strrchr(dir, '/') = '\0';
	rv = cli__make_dirs(dir, 0700);
	if (rv == 0)
		rv = bs_secrets_generate(bs_clock_real(), &s);
	if (rv != 0)
		return cli__fail(ctx, "%s: %s", path, bs_strerror(rv));
	rv = bs_secrets_write(path, &s, errmsg, sizeof errmsg);
	bs_secrets_wipe(&s);
	if (rv != 0)
		return cli__fail(ctx, "%s", errmsg);
	*ret_made = true;
	return CLI_OK;
}

/* A new PostgreSQL for the cluster's first member (postgresql.enable):
 * initdb, certificate, roles (pgctl/). An existing data directory is
 * kept as it is: the operator's data. */
static int init_postgresql(struct cli_ctx *ctx, const struct bs_config *c,
			   const struct cli_identity *idn, char *errmsg, size_t size)
{
	struct bs_secrets s;
	char app[32];
	struct pgc_node node = {.config = c, .secrets = &s, .app_name = app, .cert_cn = idn->name};
	int rv;

	if (!bs_config_bool(c, BS_SET_POSTGRESQL_ENABLE))
		return 0;
	rv = bs_secrets_read(bs_config_str(c, BS_SET_SECRETS_FILE), &s, errmsg, size);
	if (rv != 0)
		return rv;
	snprintf(app, sizeof app, "backstay_%016" PRIx64, idn->id);
	fprintf(ctx->out, "initialising PostgreSQL in %s ...\n",
		bs_config_str(c, BS_SET_POSTGRESQL_DATA_DIR));
	fflush(ctx->out);
	rv = pgc_initdb(&node, errmsg, size);
	if (rv == -EEXIST) {
		fprintf(ctx->out, "PostgreSQL data directory %s exists: kept as it is\n",
			bs_config_str(c, BS_SET_POSTGRESQL_DATA_DIR));
		rv = 0;
	}
	bs_secrets_wipe(&s);
	return rv;
}

static int create_new(struct cli_ctx *ctx, const struct bs_config *c)
{
	const char *data_dir = bs_config_str(c, BS_SET_DATA_DIR);
	struct cli_identity idn;
	struct cns_member self;
	char name[256], store[PATH_MAX], errmsg[512];
	bool made_secrets;
	int rv;

	if (cli__identity_exists(data_dir) || cli__store_exists(c))
		return cli__fail(ctx,
				 "this node is already part of a cluster (%s holds its state); "
				 "--quorum-loss-recovery makes it the whole cluster again after "
				 "the others are lost",
				 data_dir);
	if (cli__node_name(c, name, sizeof name) != 0 || cli__identity_new(name, &idn) != 0)
		return cli__fail(ctx, "cannot name this node: set fqdn");
	if (self_member(ctx, c, idn.id, &self) != CLI_OK)
		return CLI_FAIL;
	if (ensure_secrets(ctx, c, &made_secrets) != CLI_OK)
		return CLI_FAIL;
	cli__store_dir(store, sizeof store, c);
	rv = cli__make_dirs(store, 0700); /* and data_dir */
	if (rv == 0)
		rv = cns_bootstrap(store, &self, 1, errmsg, sizeof errmsg);
	else
		bs_errf(errmsg, sizeof errmsg, "%s: %s", store, bs_strerror(rv));
	if (rv == 0)
		rv = cli__identity_write(data_dir, &idn, errmsg, sizeof errmsg);
	if (rv == 0)
		rv = init_postgresql(ctx, c, &idn, errmsg, sizeof errmsg);
	if (rv != 0) {
		cli__identity_remove(data_dir);
		cli__store_remove(c);
		if (made_secrets)
			unlink(bs_config_str(c, BS_SET_SECRETS_FILE));
		return cli__fail(ctx, "%s", errmsg);
	}
	if (start_leading(ctx, c) != CLI_OK)
		return CLI_FAIL;
	fprintf(ctx->out,
		"ok: created a cluster with %s (%s) as its first member and leader\n"
		"secrets: %s%s; copy it to every node that joins (join-cluster %s -s FILE)\n",
		idn.name, self.address, bs_config_str(c, BS_SET_SECRETS_FILE),
		made_secrets ? " (new)" : " (placed before, kept)",
		bs_config_str(c, BS_SET_PUBLISH_ADDRESS));
	return CLI_OK;
}

/* The survivor of a lost majority becomes the whole cluster: stop it,
 * rewrite its configuration to itself alone (cns_recover), start it. */
static int create_recover(struct cli_ctx *ctx, const struct bs_config *c)
{
	const char *data_dir = bs_config_str(c, BS_SET_DATA_DIR);
	struct cli_identity idn;
	struct cns_member self;
	char store[PATH_MAX], errmsg[512];
	int rv;

	rv = cli__identity_read(data_dir, &idn, errmsg, sizeof errmsg);
	if (rv == -ENOENT || !cli__store_exists(c))
		return cli__fail(ctx,
				 "--quorum-loss-recovery: nothing to recover: %s holds no "
				 "cluster state (create-cluster without it starts a new cluster)",
				 data_dir);
	if (rv != 0)
		return cli__fail(ctx, "%s", errmsg);
	if (self_member(ctx, c, idn.id, &self) != CLI_OK || cli__daemon_stop(ctx, c) != CLI_OK)
		return CLI_FAIL;
	cli__store_dir(store, sizeof store, c);
	rv = cns_recover(store, &self, 1, errmsg, sizeof errmsg);
	if (rv != 0)
		return cli__fail(ctx, "%s", errmsg);
	/* The operator names this node the survivor with the freshest data
	 * (seed 004): a leader that fenced itself when its quorum went may
	 * start its PostgreSQL again, and leads with it. */
	rv = pgc_sentinel_clear(data_dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg);
	if (rv != 0)
		return cli__fail(ctx, "%s", errmsg);
	if (start_leading(ctx, c) != CLI_OK)
		return CLI_FAIL;
	fprintf(ctx->out,
		"ok: %s (%s) is now the only member of the cluster and its leader\n"
		"The lost nodes must not come back with their old state: join new or cleaned "
		"nodes with join-cluster %s -s SECRETS.\n",
		idn.name, self.address, bs_config_str(c, BS_SET_PUBLISH_ADDRESS));
	return CLI_OK;
}

static int run_create(struct cli_ctx *ctx)
{
	struct bs_config *c = cli__load_config(ctx);
	enum bs_log_level saved;
	int rv;

	if (c == NULL)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	rv = ctx->opt[CREATE_QLR] ? create_recover(ctx, c) : create_new(ctx, c);
	bs_log_set_level(saved);
	bs_config_free(c);
	return rv;
}

static const struct cli_opt create_opts[] = {
	[CREATE_QLR] = {"quorum-loss-recovery", 0, false},
	[CREATE_YES] = {"yes", 'y', false},
	[CREATE_LICENSE] = {"accept-license", 0, false},
	[CREATE_QUIET] = {"quiet", 0, false},
	[CREATE_VERBOSE] = {"verbose", 0, false},
	[CREATE_ES_WAIT] = {"elasticsearch-wait-time", 0, true},
	[CREATE_ETCD_WAIT] = {"etcd-wait-time", 0, true},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_create_cluster = {
	.name = "create-cluster",
	.summary = "make this node the first member (and leader) of a new cluster",
	.usage = "",
	.help = "      --quorum-loss-recovery  make this surviving node the whole cluster again\n"
		"                      after the others are lost for good\n"
		"  -y, --yes           no questions (there are none; accepted for scripts)\n"
		"      --accept-license, --quiet, --verbose, --elasticsearch-wait-time N,\n"
		"      --etcd-wait-time N  accepted as chef-backend-ctl had them; no effect\n",
	.notes = "Needs publish_address. Writes secrets_file unless one is there already\n"
		 "(then it is used), data_dir/node.json and the Raft store, then starts the\n"
		 "daemon and waits until it leads.\n",
	.flags = CLI_F_CONFIG,
	.min_args = 0,
	.max_args = 0,
	.run = run_create,
	.opts = create_opts,
};

/* ---- remove-node ---------------------------------------------------------------------- */

static bool member_is(const json_t *m, const char *what)
{
	const char *keys[] = {"name", "publish_address", "address"};
	char id[24];
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(cli__jstr(m, keys[i]), what) == 0)
			return true;
	snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(m, "id")));
	return strcmp(id, what) == 0;
}

const json_t *cli__member_find(struct cli_ctx *ctx, const json_t *cluster, const char *what)
{
	const json_t *members = json_object_get(cluster, "members"), *m, *found = NULL;
	size_t i, hits = 0;

	json_array_foreach(members, i, m)
	{
		if (member_is(m, what)) {
			found = m;
			hits++;
		}
	}
	if (hits == 1)
		return found;
	fprintf(ctx->err, "%s %s: %s '%s'; the members are:", ctx->prog, ctx->verb,
		hits == 0 ? "no member is named or at" : "more than one member matches", what);
	json_array_foreach(members, i, m)
	{
		fprintf(ctx->err, " %s (%s)",
			cli__or(json_string_value(json_object_get(m, "name")), "?"),
			cli__or(json_string_value(json_object_get(m, "address")), "?"));
	}
	fputc('\n', ctx->err);
	return NULL;
}

static int remove_member(struct cli_ctx *ctx, const struct cli_target *t, const json_t *cluster,
			 uint64_t self_id)
{
	const json_t *m = cli__member_find(ctx, cluster, ctx->argv[0]);
	const char *name, *address;
	char id[24], errmsg[256];
	const char *args[] = {id, NULL};
	json_t *st = NULL;

	if (m == NULL)
		return CLI_FAIL;
	name = cli__jstr(m, "name");
	address = cli__jstr(m, "address");
	snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(m, "id")));
	if ((uint64_t)json_integer_value(json_object_get(m, "id")) == self_id)
		return cli__fail(ctx, "%s is this node: run remove-node on another member", name);
	if (cli__ask_json(t, address, "status", REMOVED_PROBE_MS, &st, errmsg, sizeof errmsg) ==
	    0) {
		json_decref(st);
		return cli__fail(ctx,
				 "%s is still running (it answers at %s): stop it first "
				 "(backstay stop on %s) or power it off",
				 name, address, name);
	}
	if (cli__call_ok(ctx, t, "member.remove", args) != CLI_OK)
		return CLI_FAIL;
	fprintf(ctx->out,
		"ok: removed %s (%s) from the cluster; it can come back with "
		"join-cluster PEER --recovery\n",
		name[0] ? name : address, address);
	return CLI_OK;
}

static int run_remove(struct cli_ctx *ctx)
{
	struct cli_target t;
	enum bs_log_level saved;
	json_t *cluster = NULL, *st = NULL;
	char errmsg[256];
	int rv;

	if (cli__target_load(ctx, &t) != CLI_OK)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	rv = cli__ask_json(&t, t.endpoint, "status", 5000, &st, errmsg, sizeof errmsg);
	if (rv != 0)
		rv = cli__fail(ctx,
			       "this node's backstay at %s: %s (remove-node runs on a member "
			       "that is up)",
			       t.endpoint, errmsg);
	else
		rv = cli__call_json(ctx, &t, "cluster.members", NULL, &cluster);
	if (rv == CLI_OK)
		rv = remove_member(ctx, &t, cluster,
				   (uint64_t)json_integer_value(json_object_get(st, "id")));
	json_decref(cluster);
	json_decref(st);
	bs_secrets_wipe(&t.secrets);
	bs_log_set_level(saved);
	return rv;
}

static const struct cli_opt remove_opts[] = {
	{"yes", 'y', false},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_remove_node = {
	.name = "remove-node",
	.summary = "remove a member that is down for good (from another node)",
	.usage = "NAME|IP",
	.help = "  -y, --yes           no questions (there are none; accepted for scripts)\n",
	.notes = "Refused on the node itself and while the named node still answers. The\n"
		 "removed node can come back later with join-cluster PEER --recovery.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_remove,
	.opts = remove_opts,
};
