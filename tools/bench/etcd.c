/*
 * etcd 3.4 through its v3 JSON gateway (grpc-gateway): POST /v3/kv/put and
 * /v3/kv/range with base64 keys and values, over HTTP/1.1 keep-alive
 * connections. libcurl's multi-socket API runs on the bench's uv loop (one
 * uv_poll_t per socket libcurl opens, one uv_timer_t for its timeouts); each
 * client owns one easy handle, re-added per request, and the multi handle's
 * connection cache keeps the connections open between requests.
 *
 * Control calls (status, version) are blocking easy requests made between
 * phases, when no client runs.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bench.h"

#define RESP_MAX (1u << 20)
#define CONTROL_TIMEOUT_MS 1000

struct etcd_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct etcd *e;
	struct etcd_sock *prev, *next;
};

struct etcd {
	struct bench_sys sys;
	CURLM *multi;
	uv_timer_t timer;
	unsigned handles_open; /* timer + polls not yet closed */
	bool closing;
	struct etcd_sock *socks;
	char url[BENCH_NODES][96];
};

struct etcd_client {
	struct bench_client *c;
	struct etcd *e;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	char *resp;
	size_t resp_len, resp_cap;
	bool active, get;
	char url[160];
	char err[CURL_ERROR_SIZE];
};

/* ---- libcurl on the uv loop ---------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
	struct etcd *e = h->data;

	if (h->type == UV_POLL)
		free(h); /* struct etcd_sock starts with its poll handle */
	e->handles_open--;
}

static void sock_forget(struct etcd *e, struct etcd_sock *sk)
{
	if (sk->prev != NULL)
		sk->prev->next = sk->next;
	else
		e->socks = sk->next;
	if (sk->next != NULL)
		sk->next->prev = sk->prev;
	uv_poll_stop(&sk->poll);
	uv_close((uv_handle_t *)&sk->poll, handle_closed);
}

static int finish(struct etcd_client *ec, CURLcode res, long http);

static void check_done(struct etcd *e)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		struct etcd_client *ec = NULL;
		long http = 0;
		bench_cb cb;
		int status;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&ec);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
		curl_multi_remove_handle(e->multi, easy);
		ec->active = false;
		status = finish(ec, res, http);
		cb = ec->c->cb;
		ec->c->cb = NULL;
		if (cb != NULL)
			cb(ec->c, status);
	}
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct etcd_sock *sk = (struct etcd_sock *)h;
	struct etcd *e = sk->e;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (status == 0 && (events & UV_READABLE))
		flags |= CURL_CSELECT_IN;
	if (status == 0 && (events & UV_WRITABLE))
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(e->multi, sk->fd, flags, &running);
	check_done(e);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
	struct etcd *e = userp;
	struct etcd_sock *sk = socketp;
	int events = 0;

	(void)easy;
	if (e->closing)
		return 0;
	if (action == CURL_POLL_REMOVE) {
		if (sk != NULL) {
			curl_multi_assign(e->multi, fd, NULL);
			sock_forget(e, sk);
		}
		return 0;
	}
	if (sk == NULL) {
		sk = calloc(1, sizeof *sk);
		if (sk == NULL || uv_poll_init_socket(e->sys.loop, &sk->poll, fd) != 0) {
			free(sk);
			return -1;
		}
		sk->fd = fd;
		sk->e = e;
		sk->poll.data = e;
		sk->next = e->socks;
		if (e->socks != NULL)
			e->socks->prev = sk;
		e->socks = sk;
		e->handles_open++;
		curl_multi_assign(e->multi, fd, sk);
	}
	if (action & CURL_POLL_IN)
		events |= UV_READABLE;
	if (action & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&sk->poll, events, poll_cb);
	return 0;
}

static void timer_cb(uv_timer_t *t)
{
	struct etcd *e = t->data;
	int running;

	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(e);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct etcd *e = userp;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&e->timer);
	else /* 0: on the next loop iteration, never from inside libcurl */
		uv_timer_start(&e->timer, timer_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- requests ------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct etcd_client *ec = userdata;
	size_t n = size * nmemb;

	if (ec->resp_len + n + 1 > ec->resp_cap) {
		size_t cap = ec->resp_cap ? ec->resp_cap : 1024;
		char *p;

		while (cap < ec->resp_len + n + 1)
			cap *= 2;
		if (cap > RESP_MAX || (p = realloc(ec->resp, cap)) == NULL)
			return 0; /* libcurl fails the transfer */
		ec->resp = p;
		ec->resp_cap = cap;
	}
	memcpy(ec->resp + ec->resp_len, ptr, n);
	ec->resp_len += n;
	ec->resp[ec->resp_len] = '\0';
	return n;
}

/* The outcome of a finished transfer: 0, -ENOENT (read of a missing key),
 * -ETIMEDOUT, -ECONNREFUSED or -EIO, with c->errmsg. */
static int finish(struct etcd_client *ec, CURLcode res, long http)
{
	struct bench_client *c = ec->c;
	json_t *doc, *kvs;
	int rv = 0;

	if (res != CURLE_OK) {
		bs_errf(c->errmsg, sizeof c->errmsg, "%s%s%s", curl_easy_strerror(res),
			ec->err[0] ? ": " : "", ec->err);
		if (res == CURLE_OPERATION_TIMEDOUT)
			return -ETIMEDOUT;
		return res == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
	}
	if (http != 200) {
		bs_errf(c->errmsg, sizeof c->errmsg, "HTTP %ld: %.120s", http,
			ec->resp ? ec->resp : "");
		return -EIO;
	}
	doc = json_loadb(ec->resp ? ec->resp : "", ec->resp_len, 0, NULL);
	if (doc == NULL || json_object_get(doc, "header") == NULL) {
		bs_errf(c->errmsg, sizeof c->errmsg, "unexpected answer: %.120s",
			ec->resp ? ec->resp : "");
		rv = -EIO;
	} else if (ec->get) {
		kvs = json_object_get(doc, "kvs");
		if (!json_is_array(kvs) || json_array_size(kvs) != 1) {
			bs_errf(c->errmsg, sizeof c->errmsg, "key not found");
			rv = -ENOENT;
		}
	}
	json_decref(doc);
	return rv;
}

/* Base64 of n bytes, from malloc. */
static char *b64(const void *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	return out;
}

static int submit(struct bench_client *c, const char *path, const void *key, size_t key_len,
		  const void *value, size_t value_len, bench_cb cb)
{
	struct etcd_client *ec = c->impl;
	char *k = b64(key, key_len), *v = value ? b64(value, value_len) : NULL;
	json_t *obj = NULL;
	int rv = -ENOMEM;

	if (ec->active || c->node < 0 || c->node >= BENCH_NODES) {
		rv = -EINVAL;
		goto out;
	}
	if (k == NULL || (value != NULL && v == NULL))
		goto out;
	obj = v ? json_pack("{s:s, s:s}", "key", k, "value", v) : json_pack("{s:s}", "key", k);
	free(ec->body);
	ec->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (ec->body == NULL)
		goto out;
	snprintf(ec->url, sizeof ec->url, "%s%s", ec->e->url[c->node], path);
	curl_easy_setopt(ec->easy, CURLOPT_URL, ec->url);
	curl_easy_setopt(ec->easy, CURLOPT_POSTFIELDS, ec->body);
	curl_easy_setopt(ec->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(ec->body));
	curl_easy_setopt(ec->easy, CURLOPT_TIMEOUT_MS,
			 (long)(c->timeout_ms ? c->timeout_ms : 10000));
	ec->resp_len = 0;
	ec->err[0] = '\0';
	ec->get = value == NULL;
	c->cb = cb;
	if (curl_multi_add_handle(ec->e->multi, ec->easy) != CURLM_OK) {
		c->cb = NULL;
		rv = -EIO;
		goto out;
	}
	ec->active = true;
	rv = 0;
out:
	json_decref(obj);
	free(k);
	free(v);
	return rv;
}

static int etcd_put(struct bench_client *c, const void *key, size_t key_len, const void *value,
		    size_t value_len, bench_cb cb)
{
	return submit(c, "/v3/kv/put", key, key_len, value, value_len, cb);
}

static int etcd_get(struct bench_client *c, const void *key, size_t key_len, bench_cb cb)
{
	/* A range request is linearizable unless it asks for serializable. */
	return submit(c, "/v3/kv/range", key, key_len, NULL, 0, cb);
}

static int etcd_client_init(struct bench_sys *s, struct bench_client *c)
{
	struct etcd_client *ec = calloc(1, sizeof *ec);

	if (ec == NULL)
		return -ENOMEM;
	ec->c = c;
	ec->e = (struct etcd *)s;
	ec->easy = curl_easy_init();
	ec->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (ec->hdrs != NULL)
		ec->hdrs = curl_slist_append(ec->hdrs, "Expect:");
	if (ec->easy == NULL || ec->hdrs == NULL) {
		curl_slist_free_all(ec->hdrs);
		curl_easy_cleanup(ec->easy);
		free(ec);
		return -ENOMEM;
	}
	curl_easy_setopt(ec->easy, CURLOPT_PRIVATE, ec);
	curl_easy_setopt(ec->easy, CURLOPT_HTTPHEADER, ec->hdrs);
	curl_easy_setopt(ec->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(ec->easy, CURLOPT_WRITEDATA, ec);
	curl_easy_setopt(ec->easy, CURLOPT_ERRORBUFFER, ec->err);
	curl_easy_setopt(ec->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ec->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(ec->easy, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	c->impl = ec;
	c->cb = NULL;
	return 0;
}

static void etcd_client_close(struct bench_client *c)
{
	struct etcd_client *ec = c->impl;

	if (ec == NULL)
		return;
	if (ec->active)
		curl_multi_remove_handle(ec->e->multi, ec->easy);
	curl_easy_cleanup(ec->easy);
	curl_slist_free_all(ec->hdrs);
	free(ec->body);
	free(ec->resp);
	free(ec);
	c->impl = NULL;
	c->cb = NULL;
}

/* ---- control calls (blocking, between phases) ----------------------------- */

/* POST (body != NULL) or GET url + path; the parsed JSON answer or NULL. */
static json_t *control(struct etcd *e, int node, const char *path, const char *body)
{
	struct etcd_client ec = {0};
	struct bench_client c = {0};
	json_t *doc = NULL;
	char url[160];
	CURL *easy = curl_easy_init();
	long http = 0;

	if (easy == NULL)
		return NULL;
	ec.c = &c;
	snprintf(url, sizeof url, "%s%s", e->url[node], path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	if (body != NULL)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &ec);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)CONTROL_TIMEOUT_MS);
	if (curl_easy_perform(easy) == CURLE_OK &&
	    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http) == CURLE_OK && http == 200)
		doc = json_loadb(ec.resp ? ec.resp : "", ec.resp_len, 0, NULL);
	curl_easy_cleanup(easy);
	free(ec.resp);
	return doc;
}

struct member_status {
	char id[32], leader[32];
	unsigned long long term;
};

static bool member_status(struct etcd *e, int i, struct member_status *ret)
{
	json_t *doc, *hdr;
	const char *id, *leader, *term;
	bool ok = false;

	if (e->sys.cluster->nodes[i].pid == 0)
		return false;
	doc = control(e, i, "/v3/maintenance/status", "{}");
	hdr = json_object_get(doc, "header");
	id = json_string_value(json_object_get(hdr, "member_id"));
	leader = json_string_value(json_object_get(doc, "leader"));
	term = json_string_value(json_object_get(doc, "raftTerm"));
	if (id != NULL && leader != NULL && strcmp(leader, "0") != 0) {
		snprintf(ret->id, sizeof ret->id, "%s", id);
		snprintf(ret->leader, sizeof ret->leader, "%s", leader);
		ret->term = term ? strtoull(term, NULL, 10) : 0;
		ok = true;
	}
	json_decref(doc);
	return ok;
}

static int etcd_leader(struct bench_sys *s, int *ret_node)
{
	struct etcd *e = (struct etcd *)s;
	struct member_status st;
	unsigned long long best_term = 0;
	int i, found = -1;

	for (i = 0; i < BENCH_NODES; i++) {
		if (member_status(e, i, &st) && strcmp(st.id, st.leader) == 0 &&
		    (found < 0 || st.term > best_term)) {
			found = i;
			best_term = st.term;
		}
	}
	if (found < 0)
		return -EAGAIN;
	*ret_node = found;
	return 0;
}

static bool etcd_node_ready(struct bench_sys *s, int i)
{
	struct member_status st;

	return member_status((struct etcd *)s, i, &st);
}

static void etcd_version(struct bench_sys *s, char *buf, size_t size)
{
	struct etcd *e = (struct etcd *)s;
	json_t *doc = NULL;
	const char *v = NULL;
	int i;

	for (i = 0; i < BENCH_NODES && v == NULL; i++) {
		json_decref(doc);
		doc = s->cluster->nodes[i].pid ? control(e, i, "/version", NULL) : NULL;
		v = json_string_value(json_object_get(doc, "etcdserver"));
	}
	snprintf(buf, size, "%s", v ? v : "?");
	json_decref(doc);
}

static bool all_closed(void *arg)
{
	return ((struct etcd *)arg)->handles_open == 0;
}

static void etcd_close(struct bench_sys *s)
{
	struct etcd *e = (struct etcd *)s;

	/* Stop watching first: libcurl closes its sockets in cleanup. */
	e->closing = true;
	while (e->socks != NULL)
		sock_forget(e, e->socks);
	uv_close((uv_handle_t *)&e->timer, handle_closed);
	curl_multi_cleanup(e->multi);
	bench_run_until(s->loop, all_closed, e, bench_now_ns() + 2000000000ull);
	free(e);
	curl_global_cleanup();
}

static const struct bench_sys_ops etcd_ops = {
	.name = "etcd",
	.version = etcd_version,
	.client_init = etcd_client_init,
	.client_close = etcd_client_close,
	.put = etcd_put,
	.get = etcd_get,
	.leader = etcd_leader,
	.node_ready = etcd_node_ready,
	.close = etcd_close,
};

int bench_etcd_open(uv_loop_t *loop, struct bench_cluster *cluster, struct bench_sys **ret_sys,
		    char *errmsg, size_t size)
{
	struct etcd *e;
	int i;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		bs_errf(errmsg, size, "curl_global_init failed");
		return -EIO;
	}
	e = calloc(1, sizeof *e);
	if (e == NULL || (e->multi = curl_multi_init()) == NULL) {
		free(e);
		curl_global_cleanup();
		bs_errf(errmsg, size, "out of memory");
		return -ENOMEM;
	}
	e->sys.ops = &etcd_ops;
	e->sys.loop = loop;
	e->sys.cluster = cluster;
	for (i = 0; i < BENCH_NODES; i++)
		snprintf(e->url[i], sizeof e->url[i], "http://%s", cluster->nodes[i].endpoint);
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	e->handles_open = 1;
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	/* Keep one idle connection per client, and then some. */
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 4L * BENCH_MAX_CLIENTS);
	*ret_sys = &e->sys;
	return 0;
}
