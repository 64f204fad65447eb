/* tools/ internals shared between the dispatcher and the verb files. */
#ifndef BS_TOOLS_INTERNAL_H
#define BS_TOOLS_INTERNAL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "consensus.h"

struct bs_config;
struct json_t;

#define CLI_MAX_OPTS 8 /* verb-specific flags per verb */

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
extern const struct cli_verb cli__verb_create_cluster;
extern const struct cli_verb cli__verb_join_cluster;
extern const struct cli_verb cli__verb_remove_node;
extern const struct cli_verb cli__verb_status;
extern const struct cli_verb cli__verb_cluster_status;
extern const struct cli_verb cli__verb_set_cluster_failover;
extern const struct cli_verb cli__verb_set_node_failover;
extern const struct cli_verb cli__verb_gen_server_config;
extern const struct cli_verb cli__verb_start;
extern const struct cli_verb cli__verb_stop;
extern const struct cli_verb cli__verb_restart;
extern const struct cli_verb cli__verb_service_list;
extern const struct cli_verb cli__verb_demote;
extern const struct cli_verb cli__verb_promote;
extern const struct cli_verb cli__verb_force_leader;
extern const struct cli_verb cli__verb_pgsql_follow;

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

/* "ip:port" or "[ipv6]:port" with a numeric address and a port in
 * 1..65535? */
bool cli__address_valid(const char *address);

/* Keys of the replicated KV that hold the cluster's own state. */
#define CLI_KV_PREFIX "cluster/"
#define CLI_KV_MEMBERS "cluster/members/"	      /* + id as 16 hex: metadata JSON */
#define CLI_KV_FAILOVER "cluster/failover"	      /* "enabled" | "disabled" */
#define CLI_KV_NODE_FAILOVER "cluster/node_failover/" /* + guid: the same */

/* "ip:port" with the IPv6 form bracketed, into out. */
void cli__join_address(char *out, size_t size, const char *host, long long port);

/* ---- this node's identity (identity.c) ---------------------------------- */

#define CLI_GUID_LEN 32

/* data_dir/node.json: written by create-cluster and join-cluster. */
struct cli_identity {
	uint64_t id;		     /* Raft id: new at every join */
	char name[256];		     /* fqdn (lower case) or the host name */
	char guid[CLI_GUID_LEN + 1]; /* lasting: kept across --recovery */
};

bool cli__identity_exists(const char *data_dir);
/* 0, -ENOENT when there is none, BS_E_PARSE when it is malformed; errmsg
 * names the file. */
int cli__identity_read(const char *data_dir, struct cli_identity *ret, char *errmsg, size_t size);
/* Atomically (mode 0600). 0 or negative errno + errmsg. */
int cli__identity_write(const char *data_dir, const struct cli_identity *idn, char *errmsg,
			size_t size);
void cli__identity_remove(const char *data_dir);
/* A new identity named name: random GUID and Raft id. 0 or negative errno. */
int cli__identity_new(const char *name, struct cli_identity *ret);
/* A fresh Raft id: positive, fits a JSON integer. */
uint64_t cli__new_raft_id(void);
/* The Raft store: data_dir/consensus (an LMDB environment). */
void cli__store_dir(char *out, size_t size, const struct bs_config *config);
/* Does it hold Raft state (data.mdb)? */
bool cli__store_exists(const struct bs_config *config);
/* Delete it: data.mdb, lock.mdb and the directory (nothing else is there). */
void cli__store_remove(const struct bs_config *config);
/* This node's name: fqdn, else the host name, lower-cased. 0 or -errno. */
int cli__node_name(const struct bs_config *config, char *out, size_t size);

/* ---- the daemon's files (pidfile.c) -------------------------------------- */

/* data_dir/backstay.pid, locked (flock) by the running daemon. */
void cli__pidfile_path(char *out, size_t size, const char *data_dir);
/* The daemon: take the lock and write our pid. An fd to keep open for the
 * life of the process, or negative errno + errmsg ("another backstay (pid
 * N) runs on data_dir"). */
int cli__pidfile_lock(const char *data_dir, char *errmsg, size_t size);
/* Tools: the pid of the daemon running on data_dir (the lock is held),
 * or 0 when none runs. */
long cli__daemon_pid(const char *data_dir);

/* ---- talking to a node (ctl_client.c) ------------------------------------ */

/* Where and how a ctl verb connects. */
struct cli_target {
	struct bs_secrets secrets;
	char endpoint[CNS_ADDRESS_MAX];
	unsigned timeout_ms;
	Backstay__Role role; /* 0 = CTL */
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

/* Print "<prog> <verb>: <what>\n" to ctx->err; returns CLI_FAIL. */
int cli__fail(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A tool reports failures itself: the transport's log lines about its own
 * connection would be noise (level raised to error; *saved to restore).
 * Also, a node that hangs up must not kill the tool with SIGPIPE. */
void cli__quiet_start(enum bs_log_level *saved);
/* cmd = a put of key = value (text), or with value NULL a delete of key;
 * put and del are the caller's storage, borrowed by cmd. */
void cli__kv_text_command(Backstay__KvCommand *cmd, Backstay__KvPut *put, Backstay__KvDelete *del,
			  const char *key, const char *value);
/* Put key = value (short text) through the leader: CLI_OK or CLI_FAIL. */
int cli__kv_put_text(struct cli_ctx *ctx, const struct cli_target *t, const char *key,
		     const char *value);

/*
 * verb + args to the target (following leader redirects), expecting a JSON
 * answer: CLI_OK and *ret (a new reference), or CLI_FAIL with the reason
 * printed. args is NULL-terminated (may be NULL).
 */
int cli__call_json(struct cli_ctx *ctx, const struct cli_target *t, const char *verb,
		   const char *const *args, struct json_t **ret);
/* The same without redirects, to one address, quietly: 0 and *ret, or
 * negative errno with errmsg ("connection refused", the node's message). */
int cli__ask_json(const struct cli_target *t, const char *address, const char *verb,
		  unsigned timeout_ms, struct json_t **ret, char *errmsg, size_t size);
/* verb + args, expecting code 0: CLI_OK or CLI_FAIL (printed). */
int cli__call_ok(struct cli_ctx *ctx, const struct cli_target *t, const char *verb,
		 const char *const *args);

/* obj[key] as a string; "" when missing or not a string. */
const char *cli__jstr(const struct json_t *obj, const char *key);
static inline const char *cli__or(const char *s, const char *otherwise)
{
	return s != NULL ? s : otherwise;
}

/* The member of cluster (a cluster.members answer) named, or at the
 * address, or with the id `what`; NULL with the reason and the list of
 * members printed. Borrowed from cluster. */
const struct json_t *cli__member_find(struct cli_ctx *ctx, const struct json_t *cluster,
				      const char *what);

/* ---- the daemon process (service.c) -------------------------------------- */

/* Start the daemon for config (its file: ctx->config_path or the default)
 * and wait until it answers on its port: through systemd when systemd runs
 * backstay.service with the default configuration, else as a detached
 * child logging to log_directory/backstay.log. Already running: nothing to
 * do. CLI_OK with *ret_pid, or CLI_FAIL (printed). */
int cli__daemon_start(struct cli_ctx *ctx, const struct bs_config *config, long *ret_pid);
/* Stop it (SIGTERM, or systemctl stop) and wait until it is gone (30 s).
 * Not running: CLI_OK. */
int cli__daemon_stop(struct cli_ctx *ctx, const struct bs_config *config);
/* Call done(data) every 50 ms until it returns true, for at most
 * timeout_ms: true when it did. */
bool cli__poll(unsigned timeout_ms, bool (*done)(void *data), void *data);
/* Seconds since the daemon on data_dir started (its pidfile's age). */
long cli__daemon_uptime_s(const char *data_dir);
/* mkdir -p; mode for what it creates. 0 or negative errno. */
int cli__make_dirs(const char *path, unsigned mode);
/* Is the numeric address one of this machine's (can it be bound)? */
bool cli__address_is_local(const char *ip);

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
