/*
 * join-cluster PEER [-s SECRETS] [-p ADDR] [-i IFACE] [--recovery] [--yes]
 *
 * Refusals come first and change nothing (chef-backend-ctl's list): the
 * secrets file missing or invalid, an address that is not this node's, an
 * interface that does not exist, -p/-i against a configuration that says
 * otherwise, a node already configured (without --recovery), --recovery
 * with nothing to recover, secrets that would replace other secrets
 * (without --yes), the leader's "check" (wrong secret, this node or its
 * address or name already a member). Then the local files are written, the
 * daemon started and the leader asked to add the node; if that fails, every
 * local change is undone.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "tools.h"

#define JOIN_CHECK_MS 10000
#define JOIN_ADD_MS 180000 /* other joins queued first + catch-up (60 s each) */
#define JOIN_SETTLE_MS 10000
#define DEFAULT_CONFIG_PATH "/etc/backstay/backstay.rb" /* cli.c looks for it first */

enum { J_PUBLISH, J_IFACE, J_RECOVERY, J_YES, J_SECRETS_PATH, J_LICENSE, J_QUIET, J_VERBOSE };

/* Everything a join changes locally, to undo it on failure. */
struct join {
	struct cli_ctx *ctx;
	char config_path[PATH_MAX];
	struct bs_config *config;
	struct cli_target target; /* the peer, role JOIN, the new secrets */
	struct cli_identity idn, old_idn;
	char address[CNS_ADDRESS_MAX];
	bool wrote_config, config_existed, wrote_secrets, had_secrets, wrote_identity, started;
	char secrets_backup[PATH_MAX + 16]; /* the old secrets_file, set aside */
	bool keep;			    /* the outcome is unknown: undo nothing */
	json_t *members; /* the check's answer: who else to ask if the leader goes */
	struct bs_secrets old_secrets;
};

static bool file_empty(const char *path)
{
	struct stat sb;

	return stat(path, &sb) != 0 || sb.st_size == 0;
}

/* -p / -i against the configuration file: written when the file is empty
 * or missing, refused when it says something else. */
static int settle_config(struct join *j)
{
	const char *p = j->ctx->opt[J_PUBLISH], *i = j->ctx->opt[J_IFACE];
	const char *path = cli__or(j->ctx->config_path, cli_default_config_path());
	char text[512], errmsg[512];
	const char *have;

	snprintf(j->config_path, sizeof j->config_path, "%s", cli__or(path, DEFAULT_CONFIG_PATH));
	j->ctx->config_path = j->config_path;
	if (access(j->config_path, F_OK) != 0 && p == NULL && i == NULL)
		return cli__fail(
			j->ctx,
			"%s does not exist: pass -p ADDR (this node's address) to write it, "
			"or write publish_address there",
			j->config_path);
	if (file_empty(j->config_path) && (p != NULL || i != NULL)) {
		j->config_existed = access(j->config_path, F_OK) == 0;
		snprintf(text, sizeof text, "%s%s%s%s%s%s", p ? "publish_address '" : "",
			 cli__or(p, ""), p ? "'\n" : "", i ? "vip_interface '" : "", cli__or(i, ""),
			 i ? "'" : "");
		if (text[strlen(text) - 1] == '\n')
			text[strlen(text) - 1] = '\0';
		if (bs_file_write_atomic(j->config_path, text, errmsg, sizeof errmsg) != 0)
			return cli__fail(j->ctx, "%s", errmsg);
		chmod(j->config_path, 0644);
		j->wrote_config = true;
	}
	j->config = cli__load_config(j->ctx);
	if (j->config == NULL)
		return CLI_FAIL;
	have = bs_config_str(j->config, BS_SET_PUBLISH_ADDRESS);
	if (p != NULL && (have == NULL || strcmp(have, p) != 0))
		return cli__fail(j->ctx,
				 "%s already exists and sets publish_address '%s': it is not "
				 "overwritten; edit it or leave out -p",
				 j->config_path, cli__or(have, "(nil)"));
	have = bs_config_str(j->config, BS_SET_VIP_INTERFACE);
	if (i != NULL && (have == NULL || strcmp(have, i) != 0))
		return cli__fail(j->ctx,
				 "%s already exists and sets vip_interface '%s': it is not "
				 "overwritten; edit it or leave out -i",
				 j->config_path, cli__or(have, "(nil)"));
	return CLI_OK;
}

static int check_flags(struct join *j)
{
	const char *p = j->ctx->opt[J_PUBLISH], *i = j->ctx->opt[J_IFACE];

	if (i != NULL && if_nametoindex(i) == 0)
		return cli__fail(j->ctx, "interface %s does not exist on this node", i);
	if (p != NULL && !cli__address_is_local(p))
		return cli__fail(j->ctx,
				 "%s is not an address of this node (-p wants one of its own IPs)",
				 p);
	if (j->ctx->opt[J_RECOVERY] && (p != NULL || i != NULL))
		return cli__fail(j->ctx,
				 "--recovery uses this node's configuration as it is: leave out -p "
				 "and -i");
	return CLI_OK;
}

static const char *secrets_source(const struct join *j)
{
	if (j->ctx->secrets_path != NULL)
		return j->ctx->secrets_path;
	if (j->ctx->opt[J_SECRETS_PATH] != NULL)
		return j->ctx->opt[J_SECRETS_PATH];
	return NULL;
}

/* The secrets to join with; the node's secrets_file must not hold other
 * ones unless --yes. */
static int load_secrets(struct join *j)
{
	const char *src = secrets_source(j), *dst = bs_config_str(j->config, BS_SET_SECRETS_FILE);
	char errmsg[512];

	if (src == NULL)
		src = dst;
	if (bs_secrets_read(src, &j->target.secrets, errmsg, sizeof errmsg) != 0)
		return cli__fail(j->ctx, "%s", errmsg);
	if (strcmp(src, dst) == 0 || access(dst, F_OK) != 0)
		return CLI_OK;
	if (bs_secrets_read(dst, &j->old_secrets, errmsg, sizeof errmsg) == 0 &&
	    memcmp(&j->old_secrets, &j->target.secrets, sizeof j->old_secrets) == 0)
		return CLI_OK;
	if (!j->ctx->opt[J_YES])
		return cli__fail(j->ctx, "%s already holds other secrets: --yes replaces them",
				 dst);
	return CLI_OK;
}

/* Who this node will be: a new identity, or with --recovery its old name
 * and GUID under a new Raft id. */
static int settle_identity(struct join *j)
{
	const char *data_dir = bs_config_str(j->config, BS_SET_DATA_DIR);
	char errmsg[512], name[256];
	int rv = cli__identity_read(data_dir, &j->old_idn, errmsg, sizeof errmsg);

	if (rv != 0 && rv != -ENOENT)
		return cli__fail(j->ctx, "%s", errmsg);
	if (!j->ctx->opt[J_RECOVERY]) {
		if (rv == 0 || cli__store_exists(j->config))
			return cli__fail(
				j->ctx,
				"this node is already configured (%s holds its cluster "
				"state): join-cluster --recovery rejoins it after remove-node",
				data_dir);
		if (cli__node_name(j->config, name, sizeof name) != 0 ||
		    cli__identity_new(name, &j->idn) != 0)
			return cli__fail(j->ctx, "cannot name this node: set fqdn");
		return CLI_OK;
	}
	if (rv == -ENOENT)
		return cli__fail(j->ctx,
				 "--recovery: nothing to recover: %s/node.json does not exist; "
				 "join without --recovery",
				 data_dir);
	if (cli__daemon_pid(data_dir) > 0)
		return cli__fail(j->ctx,
				 "backstay is running on this node: stop it first (backstay stop)");
	j->idn = j->old_idn;
	j->idn.id = cli__new_raft_id();
	return CLI_OK;
}

static int settle_addresses(struct join *j, const char *peer)
{
	const char *publish = bs_config_str(j->config, BS_SET_PUBLISH_ADDRESS);
	long long port = bs_config_int(j->config, BS_SET_CONSENSUS_PORT);

	if (publish == NULL)
		return cli__fail(
			j->ctx,
			"publish_address is not set: pass -p ADDR (this node's address) or "
			"set it in %s",
			j->config_path);
	if (!cli__address_is_local(publish))
		return cli__fail(j->ctx, "publish_address %s is not an address of this node",
				 publish);
	cli__join_address(j->address, sizeof j->address, publish, port);
	if (cli__address_valid(peer))
		snprintf(j->target.endpoint, sizeof j->target.endpoint, "%s", peer);
	else
		cli__join_address(j->target.endpoint, sizeof j->target.endpoint, peer, port);
	if (!cli__address_valid(j->target.endpoint))
		return cli__fail(j->ctx, "PEER must be a numeric IP address (or IP:PORT), not '%s'",
				 peer);
	j->target.role = BACKSTAY__ROLE__JOIN;
	j->target.timeout_ms = JOIN_CHECK_MS;
	return CLI_OK;
}

/*
 * member.join PHASE through the leader. CLI_OK and *ret; CLI_FAIL when the
 * leader said no (nothing was changed in the cluster); JOIN_UNKNOWN when no
 * answer came, so that the node may or may not be a member now.
 */
enum { JOIN_UNKNOWN = 100 };

static int ask_leader(struct join *j, const char *phase, json_t **ret)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp;
	json_error_t jerr;
	char id[24];
	const char *args[] = {phase,	   id,
			      j->address,  j->idn.name,
			      j->idn.guid, bs_config_str(j->config, BS_SET_PUBLISH_ADDRESS),
			      NULL};
	int rv = CLI_FAIL;

	snprintf(id, sizeof id, "%llu", (unsigned long long)j->idn.id);
	req.id = 1;
	req.verb = "member.join";
	req.args = (char **)args;
	req.n_args = 6;
	if (cli__ctl_call(j->ctx, &j->target, &req, &resp) != 0)
		return JOIN_UNKNOWN;
	if (resp->code == -ETIMEDOUT || resp->code == -ECANCELED) {
		cli__print_failure(j->ctx, resp);
		rv = JOIN_UNKNOWN;
	} else if (resp->code != 0) {
		cli__print_failure(j->ctx, resp);
	} else {
		*ret = json_loadb((const char *)resp->payload.data, resp->payload.len, 0, &jerr);
		rv = *ret != NULL ? CLI_OK : JOIN_UNKNOWN;
	}
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv;
}

/*
 * The add's answer was lost (the leader may have died while the node was
 * catching up): ask again through every other member the check listed. A
 * new leader finishes the add (the standby is promoted) or finds it done;
 * either way it answers for the same id. JOIN_UNKNOWN when none answers.
 */
static int ask_others(struct join *j, json_t **ret)
{
	const json_t *m;
	char first[CNS_ADDRESS_MAX];
	size_t i;
	int rv = JOIN_UNKNOWN;

	snprintf(first, sizeof first, "%s", j->target.endpoint);
	json_array_foreach(json_object_get(j->members, "members"), i, m)
	{
		const char *address = cli__jstr(m, "address");

		if (rv != JOIN_UNKNOWN || strcmp(address, first) == 0 ||
		    strcmp(address, j->address) == 0 || !cli__address_valid(address))
			continue;
		fprintf(j->ctx->err, "%s %s: no answer from %s; asking %s\n", j->ctx->prog,
			j->ctx->verb, first, address);
		snprintf(j->target.endpoint, sizeof j->target.endpoint, "%s", address);
		rv = ask_leader(j, "add", ret);
	}
	return rv;
}

/* The local half: secrets, old store gone (--recovery), identity, daemon. */
static int write_local(struct join *j)
{
	const char *data_dir = bs_config_str(j->config, BS_SET_DATA_DIR);
	const char *dst = bs_config_str(j->config, BS_SET_SECRETS_FILE);
	char errmsg[512];
	long pid;
	int rv;

	if (secrets_source(j) != NULL && strcmp(secrets_source(j), dst) != 0) {
		/* Whatever was there (even unreadable) is set aside, to be put
		 * back as it was if the join fails. */
		snprintf(j->secrets_backup, sizeof j->secrets_backup, "%s.join-backup", dst);
		j->had_secrets = rename(dst, j->secrets_backup) == 0;
		if (bs_secrets_write(dst, &j->target.secrets, errmsg, sizeof errmsg) != 0) {
			if (j->had_secrets)
				rename(j->secrets_backup, dst);
			return cli__fail(j->ctx, "%s", errmsg);
		}
		j->wrote_secrets = true;
	}
	rv = cli__make_dirs(data_dir, 0700);
	if (rv != 0)
		return cli__fail(j->ctx, "data_dir %s: %s", data_dir, bs_strerror(rv));
	if (j->ctx->opt[J_RECOVERY]) /* the removed member's log is of no use */
		cli__store_remove(j->config);
	if (cli__identity_write(data_dir, &j->idn, errmsg, sizeof errmsg) != 0)
		return cli__fail(j->ctx, "%s", errmsg);
	j->wrote_identity = true;
	j->started = true;
	return cli__daemon_start(j->ctx, j->config, &pid);
}

static void undo(struct join *j)
{
	const char *data_dir;
	char errmsg[512];

	if (j->config == NULL)
		goto config;
	data_dir = bs_config_str(j->config, BS_SET_DATA_DIR);
	if (j->started)
		cli__daemon_stop(j->ctx, j->config);
	if (j->wrote_identity) {
		cli__store_remove(j->config);
		if (j->ctx->opt[J_RECOVERY])
			cli__identity_write(data_dir, &j->old_idn, errmsg, sizeof errmsg);
		else
			cli__identity_remove(data_dir);
	}
	if (j->wrote_secrets && j->had_secrets)
		rename(j->secrets_backup, bs_config_str(j->config, BS_SET_SECRETS_FILE));
	else if (j->wrote_secrets)
		unlink(bs_config_str(j->config, BS_SET_SECRETS_FILE));
config:
	if (j->wrote_config && j->config_existed)
		close(open(j->config_path, O_WRONLY | O_TRUNC | O_CLOEXEC)); /* empty, as it was */
	else if (j->wrote_config)
		unlink(j->config_path);
}

/* Until this node has applied its own member metadata (written by the
 * leader at the end of the add), so that status and cluster-status on it
 * name it at once. Bounded; a slow node is not a failed join. */
struct knows_itself {
	struct cli_target local;
	const char *guid;
};

static bool knows_itself(void *data)
{
	struct knows_itself *k = data;
	const json_t *m;
	char errmsg[256];
	json_t *cluster = NULL;
	bool yes = false;
	size_t i;

	if (cli__ask_json(&k->local, k->local.endpoint, "cluster.members", 1000, &cluster, errmsg,
			  sizeof errmsg) == 0)
		json_array_foreach(json_object_get(cluster, "members"), i, m)
		{
			yes = yes || strcmp(cli__jstr(m, "guid"), k->guid) == 0;
		}
	json_decref(cluster);
	return yes;
}

static void wait_knows_itself(struct join *j)
{
	struct knows_itself k = {.local = j->target, .guid = j->idn.guid};

	cli__join_address(k.local.endpoint, sizeof k.local.endpoint,
			  bs_config_str(j->config, BS_SET_PUBLISH_ADDRESS),
			  (long long)bs_config_int(j->config, BS_SET_CONSENSUS_PORT));
	cli__poll(JOIN_SETTLE_MS, knows_itself, &k);
}

/* chef-backend's join-cluster writes the cluster's vip into the file it
 * writes: so does this one, when -i made the file (a node without
 * vip_interface could not hold the VIP, and an existing file is the
 * operator's). */
static int take_vip(struct join *j)
{
	const char *vip = cli__jstr(j->members, "vip");
	char text[512], errmsg[512];
	int n;

	if (!j->wrote_config || j->ctx->opt[J_IFACE] == NULL || vip[0] == '\0' ||
	    bs_config_str(j->config, BS_SET_VIP) != NULL)
		return CLI_OK;
	n = snprintf(text, sizeof text, "%s%s%s\nvip_interface '%s'\nvip '%s'",
		     j->ctx->opt[J_PUBLISH] ? "publish_address '" : "",
		     cli__or(j->ctx->opt[J_PUBLISH], ""), j->ctx->opt[J_PUBLISH] ? "'" : "",
		     j->ctx->opt[J_IFACE], vip);
	if (n < 0 || (size_t)n >= sizeof text || strchr(vip, '\'') != NULL)
		return cli__fail(j->ctx, "the cluster's vip '%s' cannot be written", vip);
	if (bs_file_write_atomic(j->config_path, text + (text[0] == '\n'), errmsg, sizeof errmsg) !=
	    0)
		return cli__fail(j->ctx, "%s", errmsg);
	bs_config_free(j->config);
	j->config = cli__load_config(j->ctx);
	return j->config != NULL ? CLI_OK : CLI_FAIL;
}

static int join_run(struct join *j, const char *peer)
{
	json_t *answer = NULL;
	size_t n;
	int rv;

	if (check_flags(j) != CLI_OK || settle_config(j) != CLI_OK || load_secrets(j) != CLI_OK ||
	    settle_identity(j) != CLI_OK || settle_addresses(j, peer) != CLI_OK ||
	    ask_leader(j, "check", &answer) != CLI_OK)
		return CLI_FAIL;
	j->members = answer;
	if (take_vip(j) != CLI_OK || write_local(j) != CLI_OK)
		return CLI_FAIL;
	j->target.timeout_ms = JOIN_ADD_MS;
	rv = ask_leader(j, "add", &answer);
	if (rv == JOIN_UNKNOWN)
		rv = ask_others(j, &answer);
	if (rv == JOIN_UNKNOWN) {
		j->keep = true; /* it may be a voter already: stopping it could cost quorum */
		fprintf(j->ctx->err,
			"%s %s: no answer from the leader: %s may or may not be a member now. It "
			"keeps running; see cluster-status (from another node), and remove-node "
			"it there if it is listed but should not be.\n",
			j->ctx->prog, j->ctx->verb, j->idn.name);
	}
	if (rv != CLI_OK)
		return CLI_FAIL;
	n = json_array_size(json_object_get(answer, "members"));
	json_decref(answer);
	wait_knows_itself(j);
	if (j->had_secrets)
		unlink(j->secrets_backup); /* the secrets it held were replaced (--yes) */
	fprintf(j->ctx->out, "ok: %s (%s) joined the cluster through %s; it has %zu members\n",
		j->idn.name, j->address, j->target.endpoint, n);
	return CLI_OK;
}

static int run_join(struct cli_ctx *ctx)
{
	struct join *j = calloc(1, sizeof *j);
	enum bs_log_level saved;
	int rv;

	if (j == NULL)
		return CLI_FAIL;
	j->ctx = ctx;
	cli__quiet_start(&saved);
	rv = join_run(j, ctx->argv[0]);
	if (rv != CLI_OK && !j->keep) {
		undo(j);
		if (j->wrote_identity)
			fprintf(ctx->err, "%s %s: the join was undone on this node\n", ctx->prog,
				ctx->verb);
	}
	bs_log_set_level(saved);
	bs_secrets_wipe(&j->target.secrets);
	bs_secrets_wipe(&j->old_secrets);
	json_decref(j->members);
	bs_config_free(j->config);
	free(j);
	return rv;
}

static const struct cli_opt join_opts[] = {
	[J_PUBLISH] = {"publish-address", 'p', true},
	[J_IFACE] = {"vip-interface", 'i', true},
	[J_RECOVERY] = {"recovery", 0, false},
	[J_YES] = {"yes", 'y', false},
	[J_SECRETS_PATH] = {"secrets-file-path", 0, true},
	[J_LICENSE] = {"accept-license", 0, false},
	[J_QUIET] = {"quiet", 0, false},
	[J_VERBOSE] = {"verbose", 0, false},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_join_cluster = {
	.name = "join-cluster",
	.summary = "join this node to the cluster PEER belongs to",
	.usage = "PEER",
	.help = "  -p, --publish-address ADDR  this node's address (first join, empty config)\n"
		"  -i, --vip-interface IFACE   interface for the VIP (first join, empty config)\n"
		"      --recovery      rejoin after remove-node, with this node's configuration\n"
		"  -y, --yes           replace a secrets file that holds other secrets\n"
		"      --secrets-file-path FILE  the same as -s\n"
		"      --accept-license, --quiet, --verbose  accepted; no effect\n",
	.notes = "PEER is any member's IP (or IP:PORT); the leader is found from it. The\n"
		 "cluster's secrets file (-s, else secrets_file) authenticates the join and\n"
		 "is copied to secrets_file. Joins started together are run one at a time.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_join,
	.opts = join_opts,
};
