/*
 * The dispatcher: `backstay <verb> [flags] [operands]`, or for a verb
 * family `backstay <family> <verb> [flags] [operands]` (`backstay kv put`).
 * It finds the verb, parses the flags the verb declares with getopt_long,
 * checks the operand count and runs it. Anything it does not understand
 * exits CLI_USAGE with a suggestion, never a guess.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "internal.h"
#include "tools.h"

static const struct cli_verb *const verbs[] = {
	&cli__verb_create_cluster,
	&cli__verb_join_cluster,
	&cli__verb_remove_node,
	&cli__verb_status,
	&cli__verb_cluster_status,
	&cli__verb_set_cluster_failover,
	&cli__verb_set_node_failover,
	&cli__verb_demote,
	&cli__verb_promote,
	&cli__verb_force_leader,
	&cli__verb_pgsql_follow,
	&cli__verb_gen_server_config,
	&cli__verb_gen_sample,
	&cli__verb_show_config,
	&cli__verb_start,
	&cli__verb_stop,
	&cli__verb_restart,
	&cli__verb_service_list,
	&cli__verb_run,
	&cli__verb_kv,
	&cli__verb_version,
	NULL,
};

/* The top-level table, seen as a family (its name is empty). */
static const struct cli_verb top = {.name = "", .sub = verbs};

static const struct cli_verb *verb_find(const struct cli_verb *family, const char *name)
{
	size_t i;

	for (i = 0; family->sub[i] != NULL; i++)
		if (strcmp(family->sub[i]->name, name) == 0)
			return family->sub[i];
	return NULL;
}

static const char *verb_suggest(const struct cli_verb *family, const char *name)
{
	const char *names[32];
	size_t i;

	for (i = 0; family->sub[i] != NULL && i < 31; i++)
		names[i] = family->sub[i]->name;
	names[i] = NULL;
	return bs_closest(name, names);
}

/* "kv" + " " + "put", or just "put" at the top. */
static void verb_path(char *out, size_t size, const struct cli_verb *family,
		      const struct cli_verb *v)
{
	snprintf(out, size, "%s%s%s", family->name, family->name[0] ? " " : "", v->name);
}

static void print_verbs(FILE *f, const char *prog, const struct cli_verb *family)
{
	const char *sp = family->name[0] ? " " : "";
	size_t i;

	fprintf(f, "usage: %s %s%s<command> [flags]\n\n", prog, family->name, sp);
	if (family->summary != NULL)
		fprintf(f, "%s.\n\n", family->summary);
	fprintf(f, "commands:\n");
	for (i = 0; family->sub[i] != NULL; i++)
		fprintf(f, "  %-28s %s\n", family->sub[i]->name, family->sub[i]->summary);
	fprintf(f, "\nRun '%s %s%s<command> --help' for a command's flags.\n", prog, family->name,
		sp);
}

static void print_verb_help(FILE *f, const char *prog, const char *path, const struct cli_verb *v)
{
	fprintf(f, "usage: %s %s%s%s%s\n\n%s.\n\n", prog, path,
		v->flags || v->opts ? " [flags]" : "", v->usage[0] ? " " : "", v->usage,
		v->summary);
	if (v->help[0] != '\0')
		fprintf(f, "%s", v->help);
	if (v->flags & CLI_F_CLIENT)
		fprintf(f, "      --endpoint ADDR the node to ask (ip:port; default: "
			   "publish_address,\n"
			   "                      else 127.0.0.1, with consensus.port)\n"
			   "  -s, --secrets-file FILE\n"
			   "                      cluster secrets (default: secrets_file)\n");
	if (v->flags & CLI_F_JSON)
		fprintf(f, "      --json          machine-readable output\n");
	fprintf(f, "  -h, --help          show this help\n");
	if (v->notes != NULL)
		fprintf(f, "\n%s", v->notes);
}

enum { OPT_JSON = 0x100, OPT_ENDPOINT, OPT_VERB = 0x200 /* + index in v->opts */ };

static void add_option(struct option *opts, size_t *n, char *shorts, const char *name, bool has_arg,
		       int short_name, int val)
{
	opts[(*n)++] = (struct option){name, has_arg ? required_argument : no_argument, NULL,
				       short_name ? short_name : val};
	if (short_name) {
		size_t len = strlen(shorts);

		shorts[len++] = (char)short_name;
		if (has_arg)
			shorts[len++] = ':';
		shorts[len] = '\0';
	}
}

/* Long options a verb accepts, and the matching short-option string. */
static void verb_options(const struct cli_verb *v, struct option *opts, char *shorts)
{
	size_t n = 0, i;

	strcpy(shorts, ":");
	add_option(opts, &n, shorts, "help", false, 'h', 0);
	if (v->flags & CLI_F_CONFIG)
		add_option(opts, &n, shorts, "config", true, 'c', 0);
	if (v->flags & CLI_F_JSON)
		add_option(opts, &n, shorts, "json", false, 0, OPT_JSON);
	if (v->flags & CLI_F_CLIENT) {
		add_option(opts, &n, shorts, "endpoint", true, 0, OPT_ENDPOINT);
		add_option(opts, &n, shorts, "secrets-file", true, 's', 0);
	}
	for (i = 0; v->opts != NULL && v->opts[i].name != NULL && i < CLI_MAX_OPTS; i++)
		add_option(opts, &n, shorts, v->opts[i].name, v->opts[i].has_arg,
			   v->opts[i].short_name, OPT_VERB + (int)i);
	opts[n] = (struct option){NULL, 0, NULL, 0};
}

/* Which of the verb's own flags getopt returned, or -1. */
static int verb_opt_index(const struct cli_verb *v, int c)
{
	int i;

	for (i = 0; v->opts != NULL && v->opts[i].name != NULL && i < CLI_MAX_OPTS; i++)
		if (c == OPT_VERB + i || (v->opts[i].short_name && c == v->opts[i].short_name))
			return i;
	return -1;
}

static int bad_flag(struct cli_ctx *ctx, const struct option *opts, const char *arg,
		    bool missing_value)
{
	const char *names[16];
	const char *flag = arg;
	const char *hint;
	size_t i;

	if (missing_value) {
		fprintf(ctx->err, "%s %s: flag '%s' needs a value\n", ctx->prog, ctx->verb, arg);
		return CLI_USAGE;
	}
	while (*flag == '-')
		flag++;
	for (i = 0; opts[i].name != NULL && i < 15; i++)
		names[i] = opts[i].name;
	names[i] = NULL;
	hint = bs_closest(flag, names);
	fprintf(ctx->err, "%s %s: unknown flag '%s'", ctx->prog, ctx->verb, arg);
	if (hint != NULL)
		fprintf(ctx->err, "; did you mean '--%s'?", hint);
	fprintf(ctx->err, "\nRun '%s %s --help' for its flags.\n", ctx->prog, ctx->verb);
	return CLI_USAGE;
}

static void set_flag(struct cli_ctx *ctx, const struct cli_verb *v, int c)
{
	int i;

	switch (c) {
	case 'c':
		ctx->config_path = optarg;
		return;
	case OPT_JSON:
		ctx->json = true;
		return;
	case OPT_ENDPOINT:
		ctx->endpoint = optarg;
		return;
	case 's':
		ctx->secrets_path = optarg;
		return;
	}
	i = verb_opt_index(v, c);
	if (i >= 0)
		ctx->opt[i] = v->opts[i].has_arg ? optarg : "";
}

/* Parse argv (argv[0] = verb name) into ctx. Returns -1 to go on running
 * the verb, or the exit code to return now (help printed, bad flag). */
static int parse_flags(struct cli_ctx *ctx, const struct cli_verb *v, int argc, char **argv)
{
	struct option opts[16];
	char shorts[32], unknown[3] = "-?";
	int c;

	verb_options(v, opts, shorts);
	optind = 0; /* GNU: full re-initialisation, so cli_main can run again */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		if (c == 'h') {
			print_verb_help(ctx->out, ctx->prog, ctx->verb, v);
			return CLI_OK;
		}
		if (c == ':')
			return bad_flag(ctx, opts, argv[optind - 1], true);
		if (c == '?') {
			unknown[1] = (char)optopt;
			return bad_flag(ctx, opts, optopt ? unknown : argv[optind - 1], false);
		}
		set_flag(ctx, v, c);
	}
	ctx->argc = argc - optind;
	ctx->argv = argv + optind;
	return -1;
}

static int check_operands(struct cli_ctx *ctx, const struct cli_verb *v)
{
	if (ctx->argc >= v->min_args && ctx->argc <= v->max_args)
		return -1;
	if (ctx->argc < v->min_args)
		fprintf(ctx->err, "%s %s: missing operand\n", ctx->prog, ctx->verb);
	else
		fprintf(ctx->err, "%s %s: unexpected operand '%s'\n", ctx->prog, ctx->verb,
			ctx->argv[v->max_args]);
	fprintf(ctx->err, "usage: %s %s%s%s\n", ctx->prog, ctx->verb, v->usage[0] ? " " : "",
		v->usage);
	return CLI_USAGE;
}

static int unknown_verb(struct cli_ctx *ctx, const struct cli_verb *family, const char *name)
{
	const char *hint = verb_suggest(family, name);
	const char *sp = family->name[0] ? " " : "";

	fprintf(ctx->err, "%s: unknown %s%scommand '%s'", ctx->prog, family->name, sp, name);
	if (hint != NULL)
		fprintf(ctx->err, "; did you mean '%s'?", hint);
	fprintf(ctx->err, "\nRun '%s %s%s--help' for the list of commands.\n", ctx->prog,
		family->name, sp);
	return CLI_USAGE;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "help") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* `help`, `help VERB`, `help FAMILY VERB`: argv[0] is "help". */
static int run_help(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_verb *family = &top, *v = NULL;
	char path[64];
	int i;

	for (i = 1; i < argc; i++) {
		v = verb_find(family, argv[i]);
		if (v == NULL)
			return unknown_verb(ctx, family, argv[i]);
		if (v->sub == NULL || i + 1 == argc)
			break;
		family = v;
	}
	if (v == NULL || v->sub != NULL) {
		print_verbs(ctx->out, ctx->prog, v != NULL ? v : &top);
		return CLI_OK;
	}
	verb_path(path, sizeof path, family, v);
	print_verb_help(ctx->out, ctx->prog, path, v);
	return CLI_OK;
}

/* Find the verb argv[0] names in family, descending into sub-families. On
 * success *ret_v is the verb, *ret_family its family, and the return value
 * the index in argv of the verb's name; otherwise the exit code, negated
 * and less one (the usage or help was printed). */
static int find_verb(struct cli_ctx *ctx, int argc, char **argv, const struct cli_verb **ret_family,
		     const struct cli_verb **ret_v)
{
	const struct cli_verb *family = &top, *v;
	int i = 0;

	for (;;) {
		v = strcmp(argv[i], "--version") == 0 && family == &top
			    ? &cli__verb_version
			    : verb_find(family, argv[i]);
		if (v == NULL)
			return -1 - unknown_verb(ctx, family, argv[i]);
		if (v->sub == NULL)
			break;
		family = v;
		if (++i == argc) {
			print_verbs(ctx->err, ctx->prog, family);
			return -1 - CLI_USAGE;
		}
		if (is_help(argv[i])) {
			print_verbs(ctx->out, ctx->prog, family);
			return -1 - CLI_OK;
		}
	}
	*ret_family = family;
	*ret_v = v;
	return i;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_ctx ctx = {.out = out, .err = err};
	const struct cli_verb *v = NULL, *family = NULL;
	const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
	char path[64];
	int rv, at;

	ctx.prog = argc < 1 ? "backstay" : slash ? slash + 1 : argv[0];
	if (argc < 2) {
		print_verbs(err, ctx.prog, &top);
		return CLI_USAGE;
	}
	if (is_help(argv[1]))
		return run_help(&ctx, argc - 1, argv + 1);
	at = find_verb(&ctx, argc - 1, argv + 1, &family, &v);
	if (at < 0)
		return -1 - at;
	verb_path(path, sizeof path, family, v);
	ctx.verb = path;
	rv = parse_flags(&ctx, v, argc - 1 - at, argv + 1 + at);
	if (rv < 0)
		rv = check_operands(&ctx, v);
	return rv < 0 ? v->run(&ctx) : rv;
}

const char *cli_default_config_path(void)
{
	static const char *const candidates[] = {
		"/etc/backstay/backstay.rb",
		"/etc/chef-backend/chef-backend.rb",
	};
	const char *env = getenv("BACKSTAY_CONFIG");
	size_t i;

	if (env != NULL && env[0] != '\0')
		return env;
	for (i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
		if (access(candidates[i], F_OK) == 0)
			return candidates[i];
	return NULL;
}

struct bs_config *cli__load_config(struct cli_ctx *ctx)
{
	const char *path = ctx->config_path ? ctx->config_path : cli_default_config_path();
	struct bs_config *config;
	char errmsg[512];

	if (bs_config_new(&config) != 0) {
		fprintf(ctx->err, "%s: out of memory\n", ctx->prog);
		return NULL;
	}
	if (path != NULL && bs_config_load(config, path, errmsg, sizeof errmsg) != 0) {
		fprintf(ctx->err, "%s: %s\n", ctx->prog, errmsg);
		bs_config_free(config);
		return NULL;
	}
	return config;
}
