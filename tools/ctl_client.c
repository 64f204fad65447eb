/*
 * The ctl verbs' side of the ctl protocol (docs/ctl.md): where to connect,
 * with which secrets, and what to do when the node asked is not the
 * leader. A follower answers BS_E_NOT_LEADER with the leader's address
 * (empty while no leader is known); the request is then sent there, or
 * again after a short wait, a bounded number of times. Retrying is safe:
 * BS_E_NOT_LEADER means the request was not applied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "internal.h"
#include "tools.h"

#define CTL_ATTEMPTS 5	     /* sends of one request, redirects included */
#define CTL_BACKOFF_MS 150   /* first wait when no leader is known; doubles */
#define CTL_TIMEOUT_MS 10000 /* connect + answer, per attempt */
#define CTL_DEFAULT_HOST "127.0.0.1"

void cli__join_address(char *out, size_t size, const char *host, long long port)
{
	if (strchr(host, ':') != NULL && host[0] != '[')
		snprintf(out, size, "[%s]:%lld", host, port);
	else
		snprintf(out, size, "%s:%lld", host, port);
}

/* "ip:port" or "[ipv6]:port" with a numeric address and a port in
 * 1..65535? */
bool cli__address_valid(const char *address)
{
	char host[CNS_ADDRESS_MAX];
	const char *colon = strrchr(address, ':');
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len;
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - address) >= sizeof host)
		return false;
	len = (size_t)(colon - address);
	memcpy(host, address, len);
	host[len] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return false;
	if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
		host[len - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, buf) == 1;
	}
	return inet_pton(AF_INET, host, buf) == 1;
}

static int load_secrets(struct cli_ctx *ctx, const struct bs_config *config, struct bs_secrets *ret)
{
	const char *path = ctx->secrets_path;
	char errmsg[512];

	if (path == NULL)
		path = bs_config_str(config, BS_SET_SECRETS_FILE);
	if (bs_secrets_read(path, ret, errmsg, sizeof errmsg) != 0) {
		fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb, errmsg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli__target_load(struct cli_ctx *ctx, struct cli_target *t)
{
	struct bs_config *config = cli__load_config(ctx);
	const char *host;
	int rv;

	if (config == NULL)
		return CLI_FAIL;
	memset(t, 0, sizeof *t);
	t->timeout_ms = CTL_TIMEOUT_MS;
	rv = load_secrets(ctx, config, &t->secrets);
	if (rv == CLI_OK && ctx->endpoint != NULL) {
		snprintf(t->endpoint, sizeof t->endpoint, "%s", ctx->endpoint);
	} else if (rv == CLI_OK) {
		host = bs_config_str(config, BS_SET_PUBLISH_ADDRESS);
		cli__join_address(t->endpoint, sizeof t->endpoint,
				  host != NULL ? host : CTL_DEFAULT_HOST,
				  (long long)bs_config_int(config, BS_SET_CONSENSUS_PORT));
	}
	bs_config_free(config);
	return rv;
}

static void wait_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Where to send the next attempt after a BS_E_NOT_LEADER answer from
 * `at`: the leader it names, or `at` again after a wait. */
static void next_target(char *at, size_t size, const Backstay__CtlResponse *resp,
			unsigned *backoff_ms)
{
	if (resp->message != NULL && resp->message[0] != '\0' && strcmp(resp->message, at) != 0) {
		snprintf(at, size, "%s", resp->message);
		return;
	}
	wait_ms(*backoff_ms);
	*backoff_ms *= 2;
}

int cli__ctl_call(struct cli_ctx *ctx, const struct cli_target *t, const Backstay__CtlRequest *req,
		  Backstay__CtlResponse **ret_resp)
{
	Backstay__CtlResponse *resp = NULL;
	char at[CNS_ADDRESS_MAX], errmsg[512];
	unsigned backoff_ms = CTL_BACKOFF_MS;
	int attempt, rv = 0;

	snprintf(at, sizeof at, "%s", t->endpoint);
	for (attempt = 0; attempt < CTL_ATTEMPTS; attempt++) {
		rv = cns_call(&t->secrets, at, t->role ? t->role : BACKSTAY__ROLE__CTL, req,
			      t->timeout_ms, &resp, errmsg, sizeof errmsg);
		if (rv != 0 && strcmp(at, t->endpoint) != 0) {
			/* The leader we were sent to is gone (it may just have
			 * died): ask the node we started from again. */
			snprintf(at, sizeof at, "%s", t->endpoint);
			wait_ms(backoff_ms);
			backoff_ms *= 2;
			continue;
		}
		if (rv != 0)
			break;
		if (resp->code != BS_E_NOT_LEADER || attempt + 1 == CTL_ATTEMPTS) {
			*ret_resp = resp;
			return 0;
		}
		next_target(at, sizeof at, resp, &backoff_ms);
		backstay__ctl_response__free_unpacked(resp, NULL);
		resp = NULL;
	}
	fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb, errmsg);
	return rv;
}

int cli__fail(struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(ctx->err, "%s %s: ", ctx->prog, ctx->verb);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
	return CLI_FAIL;
}

void cli__print_failure(struct cli_ctx *ctx, const Backstay__CtlResponse *resp)
{
	const char *msg = resp->message != NULL ? resp->message : "";

	if (resp->code == BS_E_NOT_LEADER)
		fprintf(ctx->err, "%s %s: %s%s%s\n", ctx->prog, ctx->verb, bs_strerror(resp->code),
			msg[0] ? "; the leader is at " : " (no leader known)", msg);
	else
		fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb,
			msg[0] ? msg : bs_strerror(resp->code));
}

void cli__quiet_start(enum bs_log_level *saved)
{
	*saved = bs_log_get_level();
	if (*saved < BS_LOG_ERROR)
		bs_log_set_level(BS_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
}

void cli__kv_text_command(Backstay__KvCommand *cmd, Backstay__KvPut *put, Backstay__KvDelete *del,
			  const char *key, const char *value)
{
	if (value != NULL) {
		put->key.data = (uint8_t *)key;
		put->key.len = strlen(key);
		put->value.data = (uint8_t *)value;
		put->value.len = strlen(value);
		cmd->op_case = BACKSTAY__KV_COMMAND__OP_PUT;
		cmd->put = put;
	} else {
		del->key.data = (uint8_t *)key;
		del->key.len = strlen(key);
		cmd->op_case = BACKSTAY__KV_COMMAND__OP_DEL;
		cmd->del = del;
	}
}

int cli__kv_put_text(struct cli_ctx *ctx, const struct cli_target *t, const char *key,
		     const char *value)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	Backstay__CtlResponse *resp;
	uint8_t buf[512];
	int rv = CLI_OK;

	cli__kv_text_command(&cmd, &put, NULL, key, value);
	if (backstay__kv_command__get_packed_size(&cmd) > sizeof buf)
		return CLI_FAIL;
	req.id = 1;
	req.verb = "kv.put";
	req.payload.data = buf;
	req.payload.len = backstay__kv_command__pack(&cmd, buf);
	if (cli__ctl_call(ctx, t, &req, &resp) != 0)
		return CLI_FAIL;
	if (resp->code != 0) {
		cli__print_failure(ctx, resp);
		rv = CLI_FAIL;
	}
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv;
}

static void request_init(Backstay__CtlRequest *req, const char *verb, const char *const *args)
{
	size_t n = 0;

	while (args != NULL && args[n] != NULL)
		n++;
	req->id = 1;
	req->verb = (char *)verb;
	req->n_args = n;
	req->args = (char **)args;
}

/* resp's payload as JSON: 0 or BS_E_PARSE with errmsg. */
static int payload_json(const Backstay__CtlResponse *resp, json_t **ret, char *errmsg, size_t size)
{
	json_error_t jerr;

	*ret = json_loadb((const char *)resp->payload.data, resp->payload.len, 0, &jerr);
	if (*ret != NULL)
		return 0;
	bs_errf(errmsg, size, "the node's answer is not JSON: %s", jerr.text);
	return BS_E_PARSE;
}

int cli__call_json(struct cli_ctx *ctx, const struct cli_target *t, const char *verb,
		   const char *const *args, json_t **ret)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp;
	char errmsg[256];
	int rv = CLI_FAIL;

	request_init(&req, verb, args);
	if (cli__ctl_call(ctx, t, &req, &resp) != 0)
		return CLI_FAIL;
	if (resp->code != 0)
		cli__print_failure(ctx, resp);
	else if (payload_json(resp, ret, errmsg, sizeof errmsg) != 0)
		fprintf(ctx->err, "%s %s: %s\n", ctx->prog, ctx->verb, errmsg);
	else
		rv = CLI_OK;
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv;
}

int cli__ask_json(const struct cli_target *t, const char *address, const char *verb,
		  unsigned timeout_ms, json_t **ret, char *errmsg, size_t size)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp;
	int rv;

	request_init(&req, verb, NULL);
	rv = cns_call(&t->secrets, address, BACKSTAY__ROLE__CTL, &req, timeout_ms, &resp, errmsg,
		      size);
	if (rv != 0)
		return rv;
	rv = resp->code;
	if (rv != 0)
		bs_errf(errmsg, size, "%s", resp->message[0] ? resp->message : bs_strerror(rv));
	else
		rv = payload_json(resp, ret, errmsg, size);
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv;
}

int cli__call_ok(struct cli_ctx *ctx, const struct cli_target *t, const char *verb,
		 const char *const *args)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp;
	int rv = CLI_OK;

	request_init(&req, verb, args);
	if (cli__ctl_call(ctx, t, &req, &resp) != 0)
		return CLI_FAIL;
	if (resp->code != 0) {
		cli__print_failure(ctx, resp);
		rv = CLI_FAIL;
	}
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv;
}

const char *cli__jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}
