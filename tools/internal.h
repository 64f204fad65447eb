/* tools/ internals shared between the dispatcher and the verb files. */
#ifndef BS_TOOLS_INTERNAL_H
#define BS_TOOLS_INTERNAL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

struct bs_config;

/* What a verb handler gets: its operands (argv after the flags) and the
 * values of the flags the dispatcher parsed for it. */
struct cli_ctx {
	const char *prog; /* "backstay" or "chef-backend-ctl" */
	FILE *out;
	FILE *err;
	int argc; /* operands only */
	char **argv;
	const char *config_path; /* -c/--config, or NULL */
	bool json;		 /* --json */
};

struct cli_verb {
	const char *name;
	const char *summary;	/* one line, for the verb list */
	const char *usage;	/* operands after the verb name, "" for none */
	const char *help;	/* the rest of --help: flags and notes */
	unsigned flags;		/* CLI_F_*: which common flags the verb takes */
	int min_args, max_args; /* operand count bounds */
	int (*run)(struct cli_ctx *ctx);
};

enum { CLI_F_CONFIG = 1 << 0, CLI_F_JSON = 1 << 1 };

/* Verbs, one file per family. */
extern const struct cli_verb cli__verb_version;
extern const struct cli_verb cli__verb_gen_sample;
extern const struct cli_verb cli__verb_show_config;

/* Load the configuration a verb runs with: ctx->config_path, else the
 * default path, else defaults. On failure prints the reason to ctx->err and
 * returns NULL. Caller frees with bs_config_free(). */
struct bs_config *cli__load_config(struct cli_ctx *ctx);

#endif
