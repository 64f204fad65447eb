/*
 * Verbs that only read configuration: version, gen-sample-backend-config,
 * show-config.
 */
#include <raft.h>
#include <stdlib.h>

#include "base.h"
#include "bs_build.h"
#include "internal.h"
#include "tools.h"

static int run_version(struct cli_ctx *ctx)
{
	fprintf(ctx->out, "backstay %s (libraft %d.%d.%d)\n", BS_VERSION, RAFT_VERSION_MAJOR,
		RAFT_VERSION_MINOR, RAFT_VERSION_RELEASE);
	return 0;
}

const struct cli_verb cli__verb_version = {
	.name = "version",
	.summary = "print backstay's version",
	.usage = "",
	.help = "",
	.run = run_version,
};

static int run_gen_sample(struct cli_ctx *ctx)
{
	struct bs_config *config;
	int rv;

	if (bs_config_new(&config) != 0) {
		fprintf(ctx->err, "%s: out of memory\n", ctx->prog);
		return 1;
	}
	fprintf(ctx->out,
		"# backstay configuration: every setting with its default.\n"
		"# Settings marked as chef-backend compatibility are accepted so that an\n"
		"# existing chef-backend.rb works unchanged; backstay does not use them.\n"
		"# Settings must be identical on every node unless they describe the node\n"
		"# itself (fqdn, publish_address, vip_interface, paths).\n\n");
	rv = bs_config_write(config, ctx->out, true);
	bs_config_free(config);
	if (rv != 0) {
		fprintf(ctx->err, "%s: writing the sample: %s\n", ctx->prog, bs_strerror(rv));
		return 1;
	}
	return 0;
}

const struct cli_verb cli__verb_gen_sample = {
	.name = "gen-sample-backend-config",
	.summary = "print every setting with its default, in chef-backend.rb syntax",
	.usage = "",
	.help = "The output parses back to the same values: save it as\n"
		"/etc/backstay/backstay.rb and edit what you need.\n",
	.run = run_gen_sample,
};

static int run_show_config(struct cli_ctx *ctx)
{
	struct bs_config *config = cli__load_config(ctx);
	const char *path = ctx->config_path ? ctx->config_path : cli_default_config_path();
	int rv;

	if (config == NULL)
		return 1;
	fprintf(ctx->out, "# effective configuration (%s)\n\n",
		path ? path : "no configuration file: defaults");
	rv = bs_config_write(config, ctx->out, true);
	bs_config_free(config);
	if (rv != 0) {
		fprintf(ctx->err, "%s: writing the configuration: %s\n", ctx->prog,
			bs_strerror(rv));
		return 1;
	}
	return 0;
}

const struct cli_verb cli__verb_show_config = {
	.name = "show-config",
	.summary = "print the effective configuration",
	.usage = "",
	.help = "  -c, --config FILE   configuration file (default: /etc/backstay/backstay.rb,\n"
		"                      else /etc/chef-backend/chef-backend.rb, else defaults;\n"
		"                      $BACKSTAY_CONFIG overrides the default)\n",
	.flags = CLI_F_CONFIG,
	.run = run_show_config,
};
