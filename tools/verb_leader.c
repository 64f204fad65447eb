/*
 * Verbs that move PostgreSQL leadership: demote, promote NODE,
 * force-leader. demote and promote go to the Raft leader (redirects
 * followed); force-leader to this node, which asks the Raft leader for
 * Raft leadership first (leader/orch_ctl.c). Each is answered when a new
 * leader holds the lease, or with why not: chef-backend-ctl's exit codes —
 * 0 when the leadership moved, 1 otherwise with the reason.
 */
#include <jansson.h>
#include <stdlib.h>

#include "internal.h"
#include "tools.h"

#define MOVE_TIMEOUT_MS 40000 /* the daemon gives up at 30 s and says so */

static int move(struct cli_ctx *ctx, const char *verb, const char *const *args)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp;
	struct cli_target t;
	enum bs_log_level saved;
	int rv = CLI_OK;

	if (cli__target_load(ctx, &t) != CLI_OK)
		return CLI_FAIL;
	t.timeout_ms = MOVE_TIMEOUT_MS;
	cli__quiet_start(&saved);
	req.verb = (char *)verb;
	req.args = (char **)args;
	req.n_args = args != NULL && args[0] != NULL ? 1 : 0;
	if (cli__ctl_call(ctx, &t, &req, &resp) != 0) {
		rv = CLI_FAIL;
	} else {
		if (resp->code != 0) {
			cli__print_failure(ctx, resp);
			rv = CLI_FAIL;
		} else {
			fprintf(ctx->out, "ok: %s\n", resp->message);
		}
		backstay__ctl_response__free_unpacked(resp, NULL);
	}
	bs_secrets_wipe(&t.secrets);
	bs_log_set_level(saved);
	return rv;
}

static int run_demote(struct cli_ctx *ctx)
{
	return move(ctx, "pg.demote", NULL);
}

static int run_promote(struct cli_ctx *ctx)
{
	const char *args[] = {ctx->argv[0], NULL};

	return move(ctx, "pg.promote", args);
}

static int run_force(struct cli_ctx *ctx)
{
	return move(ctx, "pg.force", NULL);
}

const struct cli_verb cli__verb_demote = {
	.name = "demote",
	.summary = "hand PostgreSQL leadership to the most up-to-date follower",
	.usage = "",
	.help = "",
	.notes = "Writes pause while the leader stops, the chosen follower holds every WAL\n"
		 "record of it, and promotes: nothing acknowledged is lost. Exit 0 once a new\n"
		 "leader holds the lease; 1 when failover is disabled (cluster or node), no\n"
		 "follower is eligible, or no new leader came within 30 s.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 0,
	.max_args = 0,
	.run = run_demote,
};

const struct cli_verb cli__verb_promote = {
	.name = "promote",
	.summary = "make NODE (a member's name or IP) the PostgreSQL leader",
	.usage = "NODE",
	.help = "",
	.notes = "A planned switchover: NODE catches up first, nothing acknowledged is lost.\n"
		 "Exit 1 if NODE already leads, failover is disabled, NODE is not eligible, or\n"
		 "it did not lead within 30 s.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_promote,
};

const struct cli_verb cli__verb_force_leader = {
	.name = "force-leader",
	.summary = "make this node the PostgreSQL leader when there is none",
	.usage = "",
	.help = "",
	.notes = "Only when no node holds the lease (every node waiting_for_leader): this node\n"
		 "takes Raft leadership from the Raft leader and acquires the lease. It skips\n"
		 "the rule that the new leader must hold the most WAL, so writes that only a\n"
		 "missing node had are lost. Check cluster-status first. Exit 1 if a leader\n"
		 "exists.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 0,
	.max_args = 0,
	.run = run_force,
};
