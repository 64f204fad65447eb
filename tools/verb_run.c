/*
 * `backstay run`: the service itself (tools/daemon.c). systemd starts it
 * from tools/backstay.service.
 */
#include "base.h"
#include "internal.h"
#include "tools.h"

static int run_run(struct cli_ctx *ctx)
{
	const char *path = ctx->config_path ? ctx->config_path : cli_default_config_path();
	struct bs_config *config = cli__load_config(ctx);
	int rv;

	if (config == NULL)
		return CLI_FAIL;
	bs_log_set_stream(ctx->err);
	rv = cli__daemon_run(config, path); /* takes config */
	bs_log_set_stream(NULL);
	return rv;
}

const struct cli_verb cli__verb_run = {
	.name = "run",
	.summary = "run this node: the consensus service (systemd starts it)",
	.usage = "",
	.help = "  -c, --config FILE   configuration file (default: /etc/backstay/backstay.rb,\n"
		"                      else /etc/chef-backend/chef-backend.rb, else defaults);\n"
		"                      re-read on SIGHUP\n",
	.notes = "Needs consensus.node_id, publish_address and the secrets file. A data_dir\n"
		 "without Raft state starts the cluster listed in consensus.initial_cluster.\n"
		 "Logs to stderr; SIGTERM or SIGINT stop it (exit 0). Tells systemd READY=1\n"
		 "once it listens (Type=notify).\n",
	.flags = CLI_F_CONFIG,
	.min_args = 0,
	.max_args = 0,
	.run = run_run,
};
