/* tools/ internals shared between the dispatcher and the verb files. */
#ifndef BS_TOOLS_INTERNAL_H
#define BS_TOOLS_INTERNAL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "consensus.h"

struct bs_config;

#define CLI_MAX_OPTS 4 /* verb-specific flags per verb */

/* A flag only some verbs take (--lease ID, --local). Its value lands in
 * cli_ctx.opt[i], i being its place in the verb's list. */
struct cli_opt {
	const char *name; /* long name, without "--" */
	char short_name;  /* 0 = long form only */
	bool has_arg;
};

/* What a verb handler gets: its operands (argv after the flags) and the
 * values of the flags the dispatcher parsed for it. */
struct cli_ctx {
	const char *prog; /* "backstay" or "chef-backend-ctl" */
	const char *verb; /* "show-config", "kv put": for messages */
	FILE *out;
	FILE *err;
	int argc; /* operands only */
	char **argv;
	const char *config_path;  /* -c/--config, or NULL */
	bool json;		  /* --json */
	const char *endpoint;	  /* --endpoint ADDR, or NULL */
	const char *secrets_path; /* -s/--secrets-file FILE, or NULL */
	/* The verb's own flags, by index in cli_verb.opts: NULL when absent,
	 * the value when given ("" for a flag without one). */
	const char *opt[CLI_MAX_OPTS];
};

struct cli_verb {
	const char *name;
	const char *summary;	/* one line, for the verb list */
	const char *usage;	/* operands after the verb name, "" for none */
	const char *help;	/* the rest of --help: the verb's own flags */
	const char *notes;	/* after the flags in --help; may be NULL */
	unsigned flags;		/* CLI_F_*: which common flags the verb takes */
	int min_args, max_args; /* operand count bounds */
	int (*run)(struct cli_ctx *ctx);
	/* The verb's own flags, {NULL}-terminated; NULL for none. */
	const struct cli_opt *opts;
	/* A verb family (`backstay kv put ...`): its sub-verbs,
	 * NULL-terminated; run, flags and operands are then unused. */
	const struct cli_verb *const *sub;
};

enum {
	CLI_F_CONFIG = 1 << 0, /* -c/--config FILE */
	CLI_F_JSON = 1 << 1,   /* --json */
	CLI_F_CLIENT = 1 << 2, /* --endpoint ADDR, -s/--secrets-file FILE */
};

/* Verbs, one file per family. */
extern const struct cli_verb cli__verb_version;
extern const struct cli_verb cli__verb_gen_sample;
extern const struct cli_verb cli__verb_show_config;
extern const struct cli_verb cli__verb_run;
extern const struct cli_verb cli__verb_kv;

/* Load the configuration a verb runs with: ctx->config_path, else the
 * default path, else defaults. On failure prints the reason to ctx->err and
 * returns NULL. Caller frees with bs_config_free(). */
struct bs_config *cli__load_config(struct cli_ctx *ctx);

/* ---- the daemon (daemon.c, daemon_ctl.c) --------------------------------- */

/* Run the node `config` describes until SIGTERM/SIGINT or a fatal error;
 * config_path (may be NULL) is re-read on SIGHUP. Logs through bs_log;
 * returns CLI_OK after a clean stop, CLI_FAIL otherwise. Takes config
 * (freed before returning). */
int cli__daemon_run(struct bs_config *config, const char *config_path);

/* "ip:port" with the IPv6 form bracketed, into out. */
void cli__join_address(char *out, size_t size, const char *host, long long port);

/* ---- talking to a node (ctl_client.c) ------------------------------------ */

/* Where and how a ctl verb connects. */
struct cli_target {
	struct bs_secrets secrets;
	char endpoint[CNS_ADDRESS_MAX];
	unsigned timeout_ms;
};

/* Fill t from ctx's flags and configuration: --endpoint, else
 * publish_address:consensus.port, else 127.0.0.1:consensus.port; secrets
 * from -s, else secrets_file. Prints the reason to ctx->err and returns
 * CLI_FAIL, or CLI_OK. Wipe t->secrets after use. */
int cli__target_load(struct cli_ctx *ctx, struct cli_target *t);

/*
 * Send req to the target. When the node answers BS_E_NOT_LEADER, follow
 * its message (the leader's address) or, when the leader is unknown, wait
 * and ask again: a bounded number of times. 0 and *ret_resp (the caller
 * frees it with backstay__ctl_response__free_unpacked), or negative errno
 * with the reason printed to ctx->err.
 */
int cli__ctl_call(struct cli_ctx *ctx, const struct cli_target *t, const Backstay__CtlRequest *req,
		  Backstay__CtlResponse **ret_resp);

/* Print "<prog> <verb>: <what>" and the node's message for a response
 * whose code is not 0. */
void cli__print_failure(struct cli_ctx *ctx, const Backstay__CtlResponse *resp);

/* ---- showing keys (kv_print.c) ------------------------------------------ */

/* "KEY = VALUE\n": key and value as text when they are printable UTF-8,
 * else as "[hex] 0a1b..." */
void cli__print_kv(FILE *f, const Backstay__KeyValue *kv);
/* Bytes as text or "[hex] ..." (as above), without a newline. */
void cli__print_bytes(FILE *f, const uint8_t *p, size_t n);
/* {"key", "value", "create_revision", "mod_revision", "version", "lease"};
 * key/value become "key_hex"/"value_hex" when not UTF-8 text. A new
 * reference, or NULL when out of memory. */
struct json_t *cli__kv_json(const Backstay__KeyValue *kv);
/* Print obj compactly on one line and release it (NULL: out of memory).
 * CLI_OK or CLI_FAIL. */
int cli__print_json(struct cli_ctx *ctx, struct json_t *obj);

#endif
