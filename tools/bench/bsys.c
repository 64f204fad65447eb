/*
 * backstay through its ctl protocol (docs/ctl.md): authenticated CTL
 * connections made with the consensus transport on the bench's uv loop,
 * one request in flight per client. kv.put carries a packed KvCommand,
 * kv.get the key as its argument (a linearizable read on the leader); the
 * answer's payload is a packed KvResult. A follower answers
 * BS_E_NOT_LEADER naming the leader's address, which becomes
 * BENCH_REDIRECT.
 *
 * A client dials lazily, and keeps one connection per node it has talked
 * to (as libcurl keeps one per host for etcd): a client that moves between
 * members during a failover does not pay a handshake per attempt.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bench.h"
#include "bs_build.h"
#include "consensus.h"
#include "transport.h"

#define PROBE_TIMEOUT_MS 2000

struct bsys_client;

struct bsys {
	struct bench_sys sys;
	struct cns__tr tr;
	struct bs_secrets secrets;
	struct bsys_client *clients; /* every open client, for conn lookups */
	uint64_t next_id;
	bool closed;
};

/* A dial outlives a client closed while it runs: the transport calls back
 * exactly once, and then the dial is freed (and its connection hung up
 * when nobody wants it any more). */
struct bsys_dial {
	struct cns__tr_dial req;
	struct bsys *b;
	struct bsys_client *owner; /* NULL: orphaned */
	int node;
};

struct bsys_client {
	struct bench_client *c;
	struct bsys *b;
	struct bsys_client *prev, *next;
	struct bsys_dial *dial[BENCH_NODES]; /* in progress */
	uint64_t conn[BENCH_NODES];	     /* 0: none */
	/* The request in flight (pending) or waiting for its connection to
	 * node `to`. */
	bool pending;
	int to;
	uint64_t req_id;
	Backstay__CtlRequest req;
	char *args[1];
	uint8_t *buf;
	size_t buf_cap;
	char key[128];
	/* Times the request out, or delivers an outcome known at submit time
	 * (the callback never runs inside the submitting call). */
	uv_timer_t timer;
	int deferred;
};

static struct bsys_client *by_conn(struct bsys *b, uint64_t conn_id, int *ret_node)
{
	struct bsys_client *cl;
	int i;

	if (conn_id == 0) /* never a connection's id: 0 marks "none" here */
		return NULL;
	for (cl = b->clients; cl != NULL; cl = cl->next) {
		for (i = 0; i < BENCH_NODES; i++) {
			if (cl->conn[i] == conn_id) {
				*ret_node = i;
				return cl;
			}
		}
	}
	return NULL;
}

static void complete(struct bsys_client *cl, int status)
{
	struct bench_client *c = cl->c;
	bench_cb cb = c->cb;

	cl->pending = false;
	uv_timer_stop(&cl->timer);
	c->cb = NULL;
	if (cb != NULL)
		cb(c, status);
}

static void hang_up(struct bsys_client *cl, int node)
{
	if (cl->conn[node] != 0)
		cns__tr_hangup(&cl->b->tr, cl->conn[node]);
	cl->conn[node] = 0;
}

static void deferred_cb(uv_timer_t *t)
{
	struct bsys_client *cl = t->data;

	complete(cl, cl->deferred);
}

static void timeout_cb(uv_timer_t *t)
{
	struct bsys_client *cl = t->data;

	/* A late answer must not be taken for the next request's. */
	hang_up(cl, cl->to);
	bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "no answer within %u ms",
		cl->c->timeout_ms ? cl->c->timeout_ms : 10000);
	complete(cl, -ETIMEDOUT);
}

static void defer(struct bsys_client *cl, int status)
{
	cl->deferred = status;
	uv_timer_start(&cl->timer, deferred_cb, 0, 0);
}

static void send_pending(struct bsys_client *cl)
{
	int rv = cns__tr_request(&cl->b->tr, cl->conn[cl->to], &cl->req);

	if (rv != 0) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "send: %s", bs_strerror(rv));
		hang_up(cl, cl->to);
		defer(cl, rv);
	}
}

static void dial_cb(struct cns__tr_dial *req, int status)
{
	struct bsys_dial *d = req->data;
	struct bsys_client *cl = d->owner;

	if (cl == NULL) {
		if (status == 0)
			cns__tr_hangup(&d->b->tr, req->conn_id);
		free(d);
		return;
	}
	cl->dial[d->node] = NULL;
	if (status == 0) {
		cl->conn[d->node] = req->conn_id;
		if (cl->pending && cl->to == d->node)
			send_pending(cl);
	} else if (cl->pending && cl->to == d->node) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "%s", req->errmsg);
		complete(cl, status);
	}
	free(d);
}

static int start_dial(struct bsys_client *cl, int node)
{
	struct bsys_dial *d = calloc(1, sizeof *d);
	int rv;

	if (d == NULL)
		return -ENOMEM;
	d->b = cl->b;
	d->owner = cl;
	d->node = node;
	d->req.data = d;
	rv = cns__tr_dial(&cl->b->tr, &d->req, cl->b->sys.cluster->nodes[d->node].endpoint,
			  BACKSTAY__ROLE__CTL, dial_cb);
	if (rv != 0) {
		free(d);
		return rv;
	}
	cl->dial[node] = d;
	return 0;
}

/* Send cl->req now, or once connected to c->node. */
static int submit(struct bsys_client *cl, bench_cb cb)
{
	struct bench_client *c = cl->c;
	int rv;

	if (cl->pending || c->node < 0 || c->node >= BENCH_NODES)
		return -EINVAL;
	if (cl->conn[c->node] == 0 && cl->dial[c->node] == NULL) {
		rv = start_dial(cl, c->node);
		if (rv != 0)
			return rv;
	}
	cl->to = c->node;
	cl->req_id = ++cl->b->next_id;
	cl->req.id = cl->req_id;
	cl->pending = true;
	c->cb = cb;
	c->redirect = -1;
	uv_timer_start(&cl->timer, timeout_cb, c->timeout_ms ? c->timeout_ms : 10000, 0);
	if (cl->conn[cl->to] != 0)
		send_pending(cl);
	return 0;
}

static int bsys_put(struct bench_client *c, const void *key, size_t key_len, const void *value,
		    size_t value_len, bench_cb cb)
{
	struct bsys_client *cl = c->impl;
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut put = BACKSTAY__KV_PUT__INIT;
	size_t len;

	if (cl->pending)
		return -EBUSY;
	put.key.data = (uint8_t *)key;
	put.key.len = key_len;
	put.value.data = (uint8_t *)value;
	put.value.len = value_len;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	cmd.put = &put;
	len = backstay__kv_command__get_packed_size(&cmd);
	if (len > cl->buf_cap) {
		uint8_t *p = realloc(cl->buf, len);

		if (p == NULL)
			return -ENOMEM;
		cl->buf = p;
		cl->buf_cap = len;
	}
	backstay__kv_command__pack(&cmd, cl->buf);
	cl->req.verb = (char *)"kv.put";
	cl->req.n_args = 0;
	cl->req.payload.data = cl->buf;
	cl->req.payload.len = len;
	return submit(cl, cb);
}

static int bsys_get(struct bench_client *c, const void *key, size_t key_len, bench_cb cb)
{
	struct bsys_client *cl = c->impl;

	if (cl->pending)
		return -EBUSY;
	if (key_len >= sizeof cl->key || memchr(key, '\0', key_len) != NULL)
		return -EINVAL;
	memcpy(cl->key, key, key_len);
	cl->key[key_len] = '\0';
	cl->args[0] = cl->key;
	cl->req.verb = (char *)"kv.get";
	cl->req.n_args = 1;
	cl->req.args = cl->args;
	cl->req.payload.len = 0;
	return submit(cl, cb);
}

/* ---- answers ------------------------------------------------------------------ */

static int node_of_address(struct bsys *b, const char *address)
{
	int i;

	for (i = 0; address != NULL && i < BENCH_NODES; i++)
		if (strcmp(b->sys.cluster->nodes[i].endpoint, address) == 0)
			return i;
	return -1;
}

/* 0, -ENOENT (a read found nothing) or -EIO for an answer with code 0. */
static int check_result(struct bsys_client *cl, const Backstay__CtlResponse *resp)
{
	Backstay__KvResult *res;
	int rv = 0;

	res = backstay__kv_result__unpack(NULL, resp->payload.len, resp->payload.data);
	if (res == NULL) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "undecodable KvResult");
		return -EIO;
	}
	if (res->code != 0) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "kv: %s", bs_strerror(res->code));
		rv = -EIO;
	} else if (cl->req.n_args == 1 && res->n_kvs != 1) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "key not found");
		rv = -ENOENT;
	}
	backstay__kv_result__free_unpacked(res, NULL);
	return rv;
}

static void on_ctl_response(void *data, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	int node = -1;
	struct bsys_client *cl = by_conn(data, conn_id, &node);
	struct bench_client *c;

	if (cl == NULL || !cl->pending || node != cl->to || resp->id != cl->req_id)
		return;
	c = cl->c;
	if (resp->code == 0) {
		complete(cl, check_result(cl, resp));
	} else if (resp->code == BS_E_NOT_LEADER) {
		c->redirect = node_of_address(cl->b, resp->message);
		complete(cl, BENCH_REDIRECT);
	} else {
		bs_errf(c->errmsg, sizeof c->errmsg, "code %d: %s", resp->code,
			resp->message ? resp->message : "");
		complete(cl, -EIO);
	}
}

static void on_closed(void *data, uint64_t conn_id, enum cns__tr_reason reason)
{
	int node = -1;
	struct bsys_client *cl = by_conn(data, conn_id, &node);

	if (cl == NULL)
		return;
	cl->conn[node] = 0;
	if (cl->pending && cl->to == node) {
		bs_errf(cl->c->errmsg, sizeof cl->c->errmsg, "connection closed: %s",
			cns__tr_reason_text(reason));
		complete(cl, -ECONNRESET);
	}
}

/* ---- clients ------------------------------------------------------------------ */

static int bsys_client_init(struct bench_sys *s, struct bench_client *c)
{
	struct bsys *b = (struct bsys *)s;
	struct bsys_client *cl = calloc(1, sizeof *cl);

	if (cl == NULL)
		return -ENOMEM;
	backstay__ctl_request__init(&cl->req);
	cl->c = c;
	cl->b = b;
	uv_timer_init(s->loop, &cl->timer);
	cl->timer.data = cl;
	cl->next = b->clients;
	if (b->clients != NULL)
		b->clients->prev = cl;
	b->clients = cl;
	c->impl = cl;
	c->cb = NULL;
	return 0;
}

static void client_freed(uv_handle_t *h)
{
	struct bsys_client *cl = h->data;

	free(cl->buf);
	free(cl);
}

static void bsys_client_close(struct bench_client *c)
{
	struct bsys_client *cl = c->impl;
	struct bsys *b;
	int i;

	if (cl == NULL)
		return;
	b = cl->b;
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		b->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	for (i = 0; i < BENCH_NODES; i++) {
		if (cl->dial[i] != NULL)
			cl->dial[i]->owner = NULL;
		hang_up(cl, i);
	}
	uv_timer_stop(&cl->timer);
	uv_close((uv_handle_t *)&cl->timer, client_freed);
	c->impl = NULL;
	c->cb = NULL;
}

/* ---- probes: who leads ------------------------------------------------------ */

struct probe {
	struct bench_client c;
	bool done;
	int status;
};

static void probe_cb(struct bench_client *c, int status)
{
	struct probe *p = c->data;

	p->done = true;
	p->status = status;
}

static bool probe_done(void *arg)
{
	return ((struct probe *)arg)->done;
}

/* Ask node i to read a key: 0 when it leads (an answer, found or not),
 * BENCH_REDIRECT with *ret_redirect when it follows, else an error. */
static int probe(struct bsys *b, int i, int *ret_redirect)
{
	struct probe p = {0};
	const char key[] = "bench/probe";
	int rv;

	if (b->sys.cluster->nodes[i].pid == 0)
		return -ESRCH;
	p.c.data = &p;
	p.c.node = i;
	p.c.timeout_ms = PROBE_TIMEOUT_MS;
	rv = bsys_client_init(&b->sys, &p.c);
	if (rv != 0)
		return rv;
	rv = bsys_get(&p.c, key, sizeof key - 1, probe_cb);
	if (rv == 0) {
		bench_run_until(b->sys.loop, probe_done, &p,
				bench_now_ns() + (PROBE_TIMEOUT_MS + 500) * 1000000ull);
		rv = p.done ? p.status : -ETIMEDOUT;
	}
	*ret_redirect = p.c.redirect;
	bsys_client_close(&p.c);
	bench_run_for(b->sys.loop, 0);
	return rv == -ENOENT ? 0 : rv;
}

static int bsys_leader(struct bench_sys *s, int *ret_node)
{
	int i, redirect;

	for (i = 0; i < BENCH_NODES; i++) {
		if (probe((struct bsys *)s, i, &redirect) == 0) {
			*ret_node = i;
			return 0;
		}
	}
	return -EAGAIN;
}

static bool bsys_node_ready(struct bench_sys *s, int i)
{
	int redirect = -1, rv = probe((struct bsys *)s, i, &redirect);

	return rv == 0 || (rv == BENCH_REDIRECT && redirect >= 0);
}

static void bsys_version(struct bench_sys *s, char *buf, size_t size)
{
	(void)s;
	snprintf(buf, size, "%s", BS_VERSION);
}

static void tr_closed(struct cns__tr *t)
{
	struct bsys *b = t->data;

	b->closed = true;
}

static bool is_closed(void *arg)
{
	return ((struct bsys *)arg)->closed;
}

static void bsys_close(struct bench_sys *s)
{
	struct bsys *b = (struct bsys *)s;

	cns__tr_close(&b->tr, tr_closed);
	bench_run_until(s->loop, is_closed, b, bench_now_ns() + 5000000000ull);
	bs_secrets_wipe(&b->secrets);
	free(b);
}

static const struct bench_sys_ops bsys_ops = {
	.name = "backstay",
	.version = bsys_version,
	.client_init = bsys_client_init,
	.client_close = bsys_client_close,
	.put = bsys_put,
	.get = bsys_get,
	.leader = bsys_leader,
	.node_ready = bsys_node_ready,
	.close = bsys_close,
};

static const struct cns__tr_cb tr_cb = {
	.on_ctl_response = on_ctl_response,
	.on_closed = on_closed,
};

int bench_bsys_open(uv_loop_t *loop, struct bench_cluster *cluster, const char *secrets_path,
		    struct bench_sys **ret_sys, char *errmsg, size_t size)
{
	struct cns__tr_config cfg = {0};
	struct bsys *b = calloc(1, sizeof *b);
	int rv;

	if (b == NULL)
		return -ENOMEM;
	rv = bs_secrets_read(secrets_path, &b->secrets, errmsg, size);
	if (rv != 0)
		goto err_after_alloc;
	b->sys.ops = &bsys_ops;
	b->sys.loop = loop;
	b->sys.cluster = cluster;
	cfg.secrets = &b->secrets;
	rv = cns__tr_init(&b->tr, loop, bs_clock_real(), &cfg, &tr_cb, b);
	if (rv != 0) {
		bs_errf(errmsg, size, "transport: %s", b->tr.errmsg);
		goto err_after_secrets;
	}
	*ret_sys = &b->sys;
	return 0;

err_after_secrets:
	bs_secrets_wipe(&b->secrets);
err_after_alloc:
	free(b);
	return rv;
}
