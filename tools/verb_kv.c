/*
 * `backstay kv put|get|del|list|watch`: the replicated key-value store from
 * the command line, through a node's ctl port (docs/ctl.md). Writes and
 * linearizable reads go to the leader (a follower's redirect is followed);
 * --local reads and watches are answered by the node asked.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "internal.h"
#include "tools.h"

#define KV_CONFIG_HELP                                                                             \
	"  -c, --config FILE   configuration file (default: /etc/backstay/backstay.rb,\n"          \
	"                      else /etc/chef-backend/chef-backend.rb, else defaults)\n"

#define KV_FLAGS (CLI_F_CONFIG | CLI_F_JSON | CLI_F_CLIENT)

/* ---- shared --------------------------------------------------------------- */

/* A decimal number in [min, max] from flag `name`: CLI_OK or CLI_USAGE. */
static int parse_number(struct cli_ctx *ctx, const char *name, const char *text, uint64_t min,
			uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(ctx->err,
			"%s %s: --%s wants a number from %" PRIu64 " to %" PRIu64 ", not '%s'\n",
			ctx->prog, ctx->verb, name, min, max, text);
		return CLI_USAGE;
	}
	*ret = v;
	return CLI_OK;
}

/* Send req; on success *ret_result is the node's KvResult (the caller frees
 * it). CLI_OK, or CLI_FAIL with the reason printed. */
static int kv_call(struct cli_ctx *ctx, const Backstay__CtlRequest *req,
		   Backstay__KvResult **ret_result)
{
	struct cli_target t;
	Backstay__CtlResponse *resp = NULL;
	enum bs_log_level saved;
	int rv = cli__target_load(ctx, &t);

	if (rv != CLI_OK)
		return rv;
	cli__quiet_start(&saved);
	if (cli__ctl_call(ctx, &t, req, &resp) != 0) {
		rv = CLI_FAIL;
	} else if (resp->code == -ECANCELED) { /* a put's or del's compare: nothing changed */
		fprintf(ctx->err, "%s %s: the compare failed: nothing changed\n", ctx->prog,
			ctx->verb);
		rv = CLI_COMPARE;
	} else if (resp->code != 0) {
		cli__print_failure(ctx, resp);
		rv = CLI_FAIL;
	} else {
		*ret_result =
			backstay__kv_result__unpack(NULL, resp->payload.len, resp->payload.data);
		if (*ret_result == NULL) {
			fprintf(ctx->err, "%s %s: the node's answer is not a KvResult\n", ctx->prog,
				ctx->verb);
			rv = CLI_FAIL;
		}
	}
	if (resp != NULL)
		backstay__ctl_response__free_unpacked(resp, NULL);
	bs_secrets_wipe(&t.secrets);
	bs_log_set_level(saved);
	return rv;
}

/* A write: cmd packed into the payload of verb. */
static int kv_write(struct cli_ctx *ctx, const char *verb, const Backstay__KvCommand *cmd,
		    Backstay__KvResult **ret_result)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	size_t len = backstay__kv_command__get_packed_size(cmd);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	int rv;

	if (buf == NULL) {
		fprintf(ctx->err, "%s %s: out of memory\n", ctx->prog, ctx->verb);
		return CLI_FAIL;
	}
	backstay__kv_command__pack(cmd, buf);
	req.id = 1;
	req.verb = (char *)verb;
	req.payload.data = buf;
	req.payload.len = len;
	rv = kv_call(ctx, &req, ret_result);
	free(buf);
	return rv;
}

/* A read: args = [key or prefix, "linearizable" | "local", limit]. */
static int kv_read(struct cli_ctx *ctx, const char *verb, const char *key, bool local,
		   uint64_t limit, Backstay__KvResult **ret_result)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	char limit_text[24];
	char *args[3];

	snprintf(limit_text, sizeof limit_text, "%" PRIu64, limit);
	args[0] = (char *)key;
	args[1] = local ? "local" : "linearizable";
	args[2] = limit_text;
	req.id = 1;
	req.verb = (char *)verb;
	req.args = args;
	req.n_args = limit ? 3 : 2;
	return kv_call(ctx, &req, ret_result);
}

static json_t *result_json(const Backstay__KvResult *r, const Backstay__KeyValue *kv)
{
	json_t *obj = kv != NULL ? cli__kv_json(kv) : json_object();

	if (obj != NULL &&
	    json_object_set_new(obj, "revision", json_integer((json_int_t)r->revision)) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *kvs_json(const Backstay__KvResult *r)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < r->n_kvs; i++) {
		if (json_array_append_new(arr, cli__kv_json(r->kvs[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- put ------------------------------------------------------------------ */

enum { PUT_LEASE, PUT_EXPECT, PUT_CREATE };

static int run_put(struct cli_ctx *ctx)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	Backstay__KvCompare cmp = BACKSTAY__KV_COMPARE__INIT;
	Backstay__KvResult *r = NULL;
	uint64_t lease = 0;
	int rv;

	if (ctx->argv[0][0] == '\0') {
		fprintf(ctx->err, "%s %s: the key must not be empty\n", ctx->prog, ctx->verb);
		return CLI_USAGE;
	}
	if (ctx->opt[PUT_LEASE] != NULL &&
	    parse_number(ctx, "lease", ctx->opt[PUT_LEASE], 1, UINT64_MAX, &lease) != CLI_OK)
		return CLI_USAGE;
	put.key.data = (uint8_t *)ctx->argv[0];
	put.key.len = strlen(ctx->argv[0]);
	put.value.data = (uint8_t *)ctx->argv[1];
	put.value.len = strlen(ctx->argv[1]);
	put.lease = lease;
	if (ctx->opt[PUT_EXPECT] != NULL && ctx->opt[PUT_CREATE] != NULL) {
		fprintf(ctx->err, "%s %s: --expect and --create-only exclude each other\n",
			ctx->prog, ctx->verb);
		return CLI_USAGE;
	}
	if (ctx->opt[PUT_EXPECT] != NULL) { /* the key must hold exactly these bytes */
		cmp.target_case = BACKSTAY__KV_COMPARE__TARGET_VALUE;
		cmp.value.data = (uint8_t *)ctx->opt[PUT_EXPECT];
		cmp.value.len = strlen(ctx->opt[PUT_EXPECT]);
		put.compare = &cmp;
	} else if (ctx->opt[PUT_CREATE] != NULL) { /* mod_revision 0: must not exist */
		cmp.target_case = BACKSTAY__KV_COMPARE__TARGET_MOD_REVISION;
		cmp.mod_revision = 0;
		put.compare = &cmp;
	}
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &put;
	rv = kv_write(ctx, "kv.put", &cmd, &r);
	if (rv != CLI_OK)
		return rv;
	if (ctx->json)
		rv = cli__print_json(ctx, result_json(r, r->kv));
	else
		fprintf(ctx->out, "OK revision %" PRIu64 "\n", r->revision);
	backstay__kv_result__free_unpacked(r, NULL);
	return rv;
}

static const struct cli_opt put_opts[] = {
	[PUT_LEASE] = {"lease", 0, true},
	[PUT_EXPECT] = {"expect", 0, true},
	[PUT_CREATE] = {"create-only", 0, false},
	{NULL, 0, false},
};

static const struct cli_verb verb_put = {
	.name = "put",
	.summary = "set KEY to VALUE (through the leader)",
	.usage = "KEY VALUE",
	.help = "      --lease ID      attach the key to lease ID (it goes when the lease "
		"ends)\n"
		"      --expect OLD    only if KEY exists and holds exactly OLD "
		"(compare-and-swap)\n"
		"      --create-only   only if KEY does not exist\n" KV_CONFIG_HELP,
	.notes = "Exits 3 when --expect or --create-only does not hold (nothing changed), 1 on\n"
		 "any other failure (the put may or may not have been applied when the\n"
		 "answer was lost).\n",
	.flags = KV_FLAGS,
	.opts = put_opts,
	.min_args = 2,
	.max_args = 2,
	.run = run_put,
};

/* ---- get ------------------------------------------------------------------ */

enum { READ_LOCAL, READ_LIMIT };

static int run_get(struct cli_ctx *ctx)
{
	Backstay__KvResult *r = NULL;
	int rv = kv_read(ctx, "kv.get", ctx->argv[0], ctx->opt[READ_LOCAL] != NULL, 0, &r);

	if (rv != CLI_OK)
		return rv;
	if (r->n_kvs == 0) {
		fprintf(ctx->err, "%s %s: ", ctx->prog, ctx->verb);
		cli__print_bytes(ctx->err, (const uint8_t *)ctx->argv[0], strlen(ctx->argv[0]));
		fprintf(ctx->err, ": not found\n");
		rv = CLI_FAIL;
	} else if (ctx->json) {
		rv = cli__print_json(ctx, result_json(r, r->kvs[0]));
	} else {
		cli__print_kv(ctx->out, r->kvs[0]);
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return rv;
}

static const struct cli_opt get_opts[] = {
	[READ_LOCAL] = {"local", 0, false},
	{NULL, 0, false},
};

static const struct cli_verb verb_get = {
	.name = "get",
	.summary = "print KEY's value (linearizable: through the leader)",
	.usage = "KEY",
	.help = "      --local         this node's copy, without asking the leader (may be "
		"stale)\n" KV_CONFIG_HELP,
	.notes = "Exits 1 when the key does not exist.\n",
	.flags = KV_FLAGS,
	.opts = get_opts,
	.min_args = 1,
	.max_args = 1,
	.run = run_get,
};

/* ---- del ------------------------------------------------------------------ */

enum { DEL_PREFIX };

static int run_del(struct cli_ctx *ctx)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvDelete del = BACKSTAY__KV_DELETE__INIT;
	Backstay__KvResult *r = NULL;
	json_t *obj;
	int rv;

	del.prefix = ctx->opt[DEL_PREFIX] != NULL;
	if (ctx->argv[0][0] == '\0' && !del.prefix) {
		fprintf(ctx->err, "%s %s: the key must not be empty\n", ctx->prog, ctx->verb);
		return CLI_USAGE;
	}
	del.key.data = (uint8_t *)ctx->argv[0];
	del.key.len = strlen(ctx->argv[0]);
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_DEL;
	cmd.del = &del;
	rv = kv_write(ctx, "kv.del", &cmd, &r);
	if (rv != CLI_OK)
		return rv;
	if (ctx->json) {
		obj = result_json(r, NULL);
		if (obj != NULL &&
		    (json_object_set_new(obj, "deleted", json_integer((json_int_t)r->n_kvs)) != 0 ||
		     json_object_set_new(obj, "kvs", kvs_json(r)) != 0)) {
			json_decref(obj);
			obj = NULL;
		}
		rv = cli__print_json(ctx, obj);
	} else {
		fprintf(ctx->out, "deleted %zu (revision %" PRIu64 ")\n", r->n_kvs, r->revision);
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return rv;
}

static const struct cli_opt del_opts[] = {
	[DEL_PREFIX] = {"prefix", 0, false},
	{NULL, 0, false},
};

static const struct cli_verb verb_del = {
	.name = "del",
	.summary = "delete KEY, or every key under a prefix (through the leader)",
	.usage = "KEY",
	.help = "      --prefix        delete every key that starts with KEY ('' = all "
		"keys)\n" KV_CONFIG_HELP,
	.flags = KV_FLAGS,
	.opts = del_opts,
	.min_args = 1,
	.max_args = 1,
	.run = run_del,
};

/* ---- list ----------------------------------------------------------------- */

static int run_list(struct cli_ctx *ctx)
{
	Backstay__KvResult *r = NULL;
	uint64_t limit = 0;
	json_t *obj;
	size_t i;
	int rv;

	if (ctx->opt[READ_LIMIT] != NULL &&
	    parse_number(ctx, "limit", ctx->opt[READ_LIMIT], 1, UINT32_MAX, &limit) != CLI_OK)
		return CLI_USAGE;
	rv = kv_read(ctx, "kv.list", ctx->argv[0], ctx->opt[READ_LOCAL] != NULL, limit, &r);
	if (rv != CLI_OK)
		return rv;
	if (ctx->json) {
		obj = result_json(r, NULL);
		if (obj != NULL && (json_object_set_new(obj, "more", json_boolean(r->more)) != 0 ||
				    json_object_set_new(obj, "kvs", kvs_json(r)) != 0)) {
			json_decref(obj);
			obj = NULL;
		}
		rv = cli__print_json(ctx, obj);
	} else {
		for (i = 0; i < r->n_kvs; i++)
			cli__print_kv(ctx->out, r->kvs[i]);
		if (r->more)
			fprintf(ctx->err, "%s %s: more keys follow (raise --limit)\n", ctx->prog,
				ctx->verb);
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return rv;
}

static const struct cli_opt list_opts[] = {
	[READ_LOCAL] = {"local", 0, false},
	[READ_LIMIT] = {"limit", 0, true},
	{NULL, 0, false},
};

static const struct cli_verb verb_list = {
	.name = "list",
	.summary = "print every key under PREFIX, in key order ('' = all keys)",
	.usage = "PREFIX",
	.help = "      --local         this node's copy, without asking the leader (may be stale)\n"
		"      --limit N       at most N keys\n" KV_CONFIG_HELP,
	.notes = "Prints 'KEY = VALUE' lines; keys and values that are not printable UTF-8\n"
		 "are shown as '[hex] ...'.\n",
	.flags = KV_FLAGS,
	.opts = list_opts,
	.min_args = 1,
	.max_args = 1,
	.run = run_list,
};

/* ---- watch ---------------------------------------------------------------- */

enum { WATCH_COUNT };

struct watch_state {
	struct cli_ctx *ctx;
	const char *endpoint;
	uint64_t want; /* events to print; 0 = until interrupted */
	uint64_t seen;
	int rv;
};

static int print_event(struct cli_ctx *ctx, const char *type, const Backstay__KvResult *r)
{
	json_t *obj;

	if (ctx->json) {
		obj = result_json(r, r->kv);
		if (obj != NULL && json_object_set_new(obj, "type", json_string(type)) != 0) {
			json_decref(obj);
			obj = NULL;
		}
		return cli__print_json(ctx, obj);
	}
	if (strcmp(type, "put") == 0) {
		fputs("put ", ctx->out);
		cli__print_kv(ctx->out, r->kv);
	} else {
		fputs("delete ", ctx->out);
		cli__print_bytes(ctx->out, r->kv->key.data, r->kv->key.len);
		fputc('\n', ctx->out);
	}
	fflush(ctx->out);
	return CLI_OK;
}

/* One response of the stream: the node's acknowledgement, a progress
 * note, or an event. false ends the call. */
static bool on_watch(void *data, const Backstay__CtlResponse *resp)
{
	struct watch_state *w = data;
	struct cli_ctx *ctx = w->ctx;
	const char *type = resp->message != NULL ? resp->message : "";
	Backstay__KvResult *r;

	if (resp->code != 0) {
		cli__print_failure(ctx, resp);
		w->rv = CLI_FAIL;
		return false;
	}
	if (strcmp(type, "watching") == 0) {
		fprintf(ctx->err, "%s %s: watching at %s\n", ctx->prog, ctx->verb, w->endpoint);
		fflush(ctx->err);
		return true;
	}
	if (strcmp(type, "put") != 0 && strcmp(type, "delete") != 0)
		return true; /* "progress", or a kind this version does not know */
	r = backstay__kv_result__unpack(NULL, resp->payload.len, resp->payload.data);
	if (r == NULL || r->kv == NULL) {
		fprintf(ctx->err, "%s %s: malformed event from the node\n", ctx->prog, ctx->verb);
		w->rv = CLI_FAIL;
	} else {
		w->rv = print_event(ctx, type, r);
	}
	if (r != NULL)
		backstay__kv_result__free_unpacked(r, NULL);
	return w->rv == CLI_OK && (w->want == 0 || ++w->seen < w->want);
}

static int run_watch(struct cli_ctx *ctx)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	struct watch_state w = {.ctx = ctx};
	enum bs_log_level saved;
	struct cli_target t;
	char errmsg[512];
	char *args[1] = {ctx->argv[0]};
	int rv;

	if (ctx->opt[WATCH_COUNT] != NULL &&
	    parse_number(ctx, "count", ctx->opt[WATCH_COUNT], 1, UINT64_MAX, &w.want) != CLI_OK)
		return CLI_USAGE;
	if (cli__target_load(ctx, &t) != CLI_OK)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	w.endpoint = t.endpoint;
	req.id = 1;
	req.verb = "kv.watch";
	req.args = args;
	req.n_args = 1;
	rv = cns_call_stream(&t.secrets, t.endpoint, BACKSTAY__ROLE__CTL, &req, t.timeout_ms,
			     on_watch, &w, errmsg, sizeof errmsg);
	bs_secrets_wipe(&t.secrets);
	bs_log_set_level(saved);
	if (rv != 0) {
		fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb, errmsg);
		return CLI_FAIL;
	}
	return w.rv;
}

static const struct cli_opt watch_opts[] = {
	[WATCH_COUNT] = {"count", 0, true},
	{NULL, 0, false},
};

static const struct cli_verb verb_watch = {
	.name = "watch",
	.summary = "print every change under PREFIX as the node applies it",
	.usage = "PREFIX",
	.help = "      --count N       exit 0 after N changes (default: until "
		"interrupted)\n" KV_CONFIG_HELP,
	.notes = "Prints 'put KEY = VALUE' and 'delete KEY' lines. The node asked answers,\n"
		 "leader or not; it says 'watching' on stderr once the watch is in place.\n",
	.flags = KV_FLAGS,
	.opts = watch_opts,
	.min_args = 1,
	.max_args = 1,
	.run = run_watch,
};

/* ---- the family ------------------------------------------------------------- */

static const struct cli_verb *const kv_verbs[] = {
	&verb_put, &verb_get, &verb_del, &verb_list, &verb_watch, NULL,
};

const struct cli_verb cli__verb_kv = {
	.name = "kv",
	.summary = "read, write and watch keys in the replicated store",
	.usage = "<put|get|del|list|watch> ...",
	.help = "",
	.sub = kv_verbs,
};
