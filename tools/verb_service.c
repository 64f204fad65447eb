/*
 * Service verbs, as chef-backend-ctl had them over runit: `start`, `stop`,
 * `restart [SERVICE]`, `service-list`.
 *
 * What backstay supervises today: itself (the daemon: ctl, member
 * discovery) and its consensus engine, which runs inside it and so starts
 * and stops with it. PostgreSQL joins the list with the leader module.
 * Output keeps runit's shape: "ok: run: backstay: (pid 1234) 5s",
 * "ok: down: backstay: 0s, normally up".
 */
#include <string.h>

#include "internal.h"
#include "tools.h"

static const struct {
	const char *name, *what;
} services[] = {
	{"backstay", "the node daemon: ctl and member discovery (etcd.client_port)"},
	{"consensus", "the Raft engine and the replicated state; runs inside backstay"},
};

#define N_SERVICES (sizeof services / sizeof services[0])

/* ctx->argv[0] names a known service (or is absent)? Prints why not. */
static int check_service(struct cli_ctx *ctx)
{
	const char *names[N_SERVICES + 1];
	const char *hint;
	size_t i;

	if (ctx->argc == 0)
		return CLI_OK;
	for (i = 0; i < N_SERVICES; i++) {
		if (strcmp(ctx->argv[0], services[i].name) == 0)
			return CLI_OK;
		names[i] = services[i].name;
	}
	names[i] = NULL;
	if (strcmp(ctx->argv[0], "postgresql") == 0 || strcmp(ctx->argv[0], "elasticsearch") == 0)
		fprintf(ctx->err, "%s %s: %s is not supervised by backstay yet\n", ctx->prog,
			ctx->verb, ctx->argv[0]);
	else {
		hint = bs_closest(ctx->argv[0], names);
		fprintf(ctx->err, "%s %s: no service '%s'%s%s%s (see service-list)\n", ctx->prog,
			ctx->verb, ctx->argv[0], hint ? "; did you mean '" : "", hint ? hint : "",
			hint ? "'?" : "");
	}
	return CLI_FAIL;
}

static void print_run(struct cli_ctx *ctx, const char *data_dir, long pid)
{
	size_t i;

	for (i = 0; i < N_SERVICES; i++)
		if (ctx->argc == 0 || strcmp(ctx->argv[0], services[i].name) == 0)
			fprintf(ctx->out, "ok: run: %s: (pid %ld) %lds\n", services[i].name, pid,
				cli__daemon_uptime_s(data_dir));
}

static void print_down(struct cli_ctx *ctx)
{
	size_t i;

	for (i = 0; i < N_SERVICES; i++)
		if (ctx->argc == 0 || strcmp(ctx->argv[0], services[i].name) == 0)
			fprintf(ctx->out, "ok: down: %s: 0s, normally up\n", services[i].name);
}

static int service_run(struct cli_ctx *ctx, bool stop, bool start)
{
	struct bs_config *config;
	enum bs_log_level saved;
	long pid = 0;
	int rv;

	if (check_service(ctx) != CLI_OK)
		return CLI_FAIL;
	config = cli__load_config(ctx);
	if (config == NULL)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	rv = stop ? cli__daemon_stop(ctx, config) : CLI_OK;
	if (rv == CLI_OK && !start)
		print_down(ctx);
	if (rv == CLI_OK && start)
		rv = cli__daemon_start(ctx, config, &pid);
	if (rv == CLI_OK && start)
		print_run(ctx, bs_config_str(config, BS_SET_DATA_DIR), pid);
	bs_log_set_level(saved);
	bs_config_free(config);
	return rv;
}

static int run_start(struct cli_ctx *ctx)
{
	return service_run(ctx, false, true);
}

static int run_stop(struct cli_ctx *ctx)
{
	return service_run(ctx, true, false);
}

static int run_restart(struct cli_ctx *ctx)
{
	return service_run(ctx, true, true);
}

static int run_list(struct cli_ctx *ctx)
{
	char name[32];
	size_t i;

	for (i = 0; i < N_SERVICES; i++) { /* '*': enabled, as runit's list marked it */
		snprintf(name, sizeof name, "%s*", services[i].name);
		fprintf(ctx->out, "%-12s %s\n", name, services[i].what);
	}
	return CLI_OK;
}

static const char service_notes[] =
	"Services: backstay (the daemon) and consensus (inside it; it starts and stops\n"
	"with the daemon). Without systemd managing backstay.service, start runs the\n"
	"daemon detached, logging to log_directory/backstay.log.\n";

const struct cli_verb cli__verb_start = {
	.name = "start",
	.summary = "start the backstay daemon (and the services inside it)",
	.usage = "[SERVICE]",
	.help = "",
	.notes = service_notes,
	.flags = CLI_F_CONFIG,
	.min_args = 0,
	.max_args = 1,
	.run = run_start,
};

const struct cli_verb cli__verb_stop = {
	.name = "stop",
	.summary = "stop the backstay daemon on this node",
	.usage = "[SERVICE]",
	.help = "",
	.notes = service_notes,
	.flags = CLI_F_CONFIG,
	.min_args = 0,
	.max_args = 1,
	.run = run_stop,
};

const struct cli_verb cli__verb_restart = {
	.name = "restart",
	.summary = "stop and start the backstay daemon (a leader's restart means an election)",
	.usage = "[SERVICE]",
	.help = "",
	.notes = service_notes,
	.flags = CLI_F_CONFIG,
	.min_args = 0,
	.max_args = 1,
	.run = run_restart,
};

const struct cli_verb cli__verb_service_list = {
	.name = "service-list",
	.summary = "list the services backstay supervises",
	.usage = "",
	.help = "",
	.flags = 0,
	.min_args = 0,
	.max_args = 0,
	.run = run_list,
};
