/*
 * The dispatcher: `backstay <verb> [flags] [operands]`. It finds the verb,
 * parses the flags the verb declares with getopt_long, checks the operand
 * count and runs it. Anything it does not understand exits CLI_USAGE with a
 * suggestion, never a guess.
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
	&cli__verb_version,
	&cli__verb_gen_sample,
	&cli__verb_show_config,
	NULL,
};

static const struct cli_verb *verb_find(const char *name)
{
	size_t i;

	for (i = 0; verbs[i] != NULL; i++)
		if (strcmp(verbs[i]->name, name) == 0)
			return verbs[i];
	return NULL;
}

static const char *verb_suggest(const char *name)
{
	const char *names[sizeof verbs / sizeof verbs[0]];
	size_t i;

	for (i = 0; verbs[i] != NULL; i++)
		names[i] = verbs[i]->name;
	names[i] = NULL;
	return bs_closest(name, names);
}

static void print_verbs(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f, "usage: %s <command> [flags]\n\ncommands:\n", prog);
	for (i = 0; verbs[i] != NULL; i++)
		fprintf(f, "  %-28s %s\n", verbs[i]->name, verbs[i]->summary);
	fprintf(f, "\nRun '%s <command> --help' for a command's flags.\n", prog);
}

static void print_verb_help(FILE *f, const char *prog, const struct cli_verb *v)
{
	fprintf(f, "usage: %s %s%s%s%s\n\n%s.\n\n", prog, v->name, v->flags ? " [flags]" : "",
		v->usage[0] ? " " : "", v->usage, v->summary);
	if (v->help[0] != '\0')
		fprintf(f, "%s", v->help);
	if (v->flags & CLI_F_JSON)
		fprintf(f, "      --json          machine-readable output\n");
	fprintf(f, "  -h, --help          show this help\n");
}

/* Long options a verb accepts, and the matching short-option string. */
static size_t verb_options(const struct cli_verb *v, struct option *opts, char *shorts)
{
	size_t n = 0;

	strcpy(shorts, ":h");
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	if (v->flags & CLI_F_CONFIG) {
		opts[n++] = (struct option){"config", required_argument, NULL, 'c'};
		strcat(shorts, "c:");
	}
	if (v->flags & CLI_F_JSON)
		opts[n++] = (struct option){"json", no_argument, NULL, 'j'};
	opts[n] = (struct option){NULL, 0, NULL, 0};
	return n;
}

static int bad_flag(struct cli_ctx *ctx, const struct cli_verb *v, const struct option *opts,
		    const char *arg, bool missing_value)
{
	const char *names[8];
	const char *flag = arg;
	const char *hint;
	size_t i;

	if (missing_value) {
		fprintf(ctx->err, "%s %s: flag '%s' needs a value\n", ctx->prog, v->name, arg);
		return CLI_USAGE;
	}
	while (*flag == '-')
		flag++;
	for (i = 0; opts[i].name != NULL && i < 7; i++)
		names[i] = opts[i].name;
	names[i] = NULL;
	hint = bs_closest(flag, names);
	fprintf(ctx->err, "%s %s: unknown flag '%s'", ctx->prog, v->name, arg);
	if (hint != NULL)
		fprintf(ctx->err, "; did you mean '--%s'?", hint);
	fprintf(ctx->err, "\nRun '%s %s --help' for its flags.\n", ctx->prog, v->name);
	return CLI_USAGE;
}

/* Parse argv (argv[0] = verb name) into ctx. Returns -1 to go on running
 * the verb, or the exit code to return now (help printed, bad flag). */
static int parse_flags(struct cli_ctx *ctx, const struct cli_verb *v, int argc, char **argv)
{
	struct option opts[8];
	char shorts[16], unknown[3] = "-?";
	int c;

	verb_options(v, opts, shorts);
	optind = 0; /* GNU: full re-initialisation, so cli_main can run again */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_verb_help(ctx->out, ctx->prog, v);
			return CLI_OK;
		case 'c':
			ctx->config_path = optarg;
			break;
		case 'j':
			ctx->json = true;
			break;
		case ':':
			return bad_flag(ctx, v, opts, argv[optind - 1], true);
		default:
			unknown[1] = (char)optopt;
			return bad_flag(ctx, v, opts, optopt ? unknown : argv[optind - 1], false);
		}
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
		fprintf(ctx->err, "%s %s: missing operand\n", ctx->prog, v->name);
	else
		fprintf(ctx->err, "%s %s: unexpected operand '%s'\n", ctx->prog, v->name,
			ctx->argv[v->max_args]);
	fprintf(ctx->err, "usage: %s %s%s%s\n", ctx->prog, v->name, v->usage[0] ? " " : "",
		v->usage);
	return CLI_USAGE;
}

static int unknown_verb(struct cli_ctx *ctx, const char *name)
{
	const char *hint = verb_suggest(name);

	fprintf(ctx->err, "%s: unknown command '%s'", ctx->prog, name);
	if (hint != NULL)
		fprintf(ctx->err, "; did you mean '%s'?", hint);
	fprintf(ctx->err, "\nRun '%s --help' for the list of commands.\n", ctx->prog);
	return CLI_USAGE;
}

/* `help`, `--help`, `help VERB`. */
static int run_help(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_verb *v;

	if (argc < 3) {
		print_verbs(ctx->out, ctx->prog);
		return CLI_OK;
	}
	v = verb_find(argv[2]);
	if (v == NULL)
		return unknown_verb(ctx, argv[2]);
	print_verb_help(ctx->out, ctx->prog, v);
	return CLI_OK;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "help") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_ctx ctx = {.out = out, .err = err};
	const struct cli_verb *v;
	const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
	int rv;

	ctx.prog = argc < 1 ? "backstay" : slash ? slash + 1 : argv[0];
	if (argc < 2) {
		print_verbs(err, ctx.prog);
		return CLI_USAGE;
	}
	if (is_help(argv[1]))
		return run_help(&ctx, argc, argv);
	v = strcmp(argv[1], "--version") == 0 ? &cli__verb_version : verb_find(argv[1]);
	if (v == NULL)
		return unknown_verb(&ctx, argv[1]);
	rv = parse_flags(&ctx, v, argc - 1, argv + 1);
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
