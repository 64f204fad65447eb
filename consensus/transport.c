/*
 * The transport's lifecycle and bookkeeping: init, listen, the configured
 * peers and their reconnect timers, one connection per peer pair, the
 * owner's API (send, dial, request, reply, hang up) and the asynchronous
 * close. The connections themselves live in transport_conn.c.
 *
 * Peers: for each configured peer we keep at most one outbound attempt in
 * flight, and none while an authenticated connection with it exists (either
 * direction). When the attempt fails or the connection drops, the peer's
 * timer retries after a jittered, doubling delay; a handshake that
 * completes resets the delay. Both nodes dial each other, so two
 * connections may come up at once: the one initiated by the lower node id
 * wins on both sides, which therefore agree without talking (tie, the same
 * initiator twice: the newer one, since the initiator only redials after
 * it dropped the old one).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport_internal.h"

#define DEFAULT_HANDSHAKE_TIMEOUT_MS 5000
#define DEFAULT_BACKOFF_MIN_MS 50
#define DEFAULT_BACKOFF_MAX_MS 2000
#define DEFAULT_MAX_HANDSHAKES 64
#define LISTEN_BACKLOG 128

/* ------------------------------------------------------------------------
 * Lookups.
 */

static struct cns__tr_peer *peer_find(const struct cns__tr *t, uint64_t id)
{
	struct cns__tr_peer *p;

	for (p = t->peers; p != NULL; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static bool conn_is_peer(const struct cns__tr_conn *c, uint64_t id)
{
	return c->state == CNS__TR_CONN_READY && c->role == BACKSTAY__ROLE__PEER &&
	       c->peer_id == id;
}

static struct cns__tr_conn *ready_peer_conn(const struct cns__tr *t, uint64_t id)
{
	struct cns__tr_conn *c;

	for (c = t->conns; c != NULL; c = c->next)
		if (conn_is_peer(c, id))
			return c;
	return NULL;
}

unsigned cns__tr_peer_conns(const struct cns__tr *t, uint64_t id)
{
	const struct cns__tr_conn *c;
	unsigned n = 0;

	for (c = t->conns; c != NULL; c = c->next)
		n += conn_is_peer(c, id);
	return n;
}

unsigned cns__tr_conn_count(const struct cns__tr *t)
{
	const struct cns__tr_conn *c;
	unsigned n = 0;

	for (c = t->conns; c != NULL; c = c->next)
		n++;
	return n;
}

static struct cns__tr_conn *conn_by_id(const struct cns__tr *t, uint64_t conn_id)
{
	struct cns__tr_conn *c;

	for (c = t->conns; c != NULL; c = c->next)
		if (c->id == conn_id)
			return c->state == CNS__TR_CONN_READY ? c : NULL;
	return NULL;
}

/* An open, authenticated CTL/JOIN connection by id, on the given side. */
static struct cns__tr_conn *ctl_conn(const struct cns__tr *t, uint64_t conn_id, bool outbound)
{
	struct cns__tr_conn *c = conn_by_id(t, conn_id);

	if (c == NULL || c->role == BACKSTAY__ROLE__PEER || c->outbound != outbound)
		return NULL;
	return c;
}

/* An open PEER connection that carries ctl frames, by id. */
static struct cns__tr_conn *peer_ctl_conn(const struct cns__tr *t, uint64_t conn_id)
{
	struct cns__tr_conn *c = conn_by_id(t, conn_id);

	if (c == NULL || c->role != BACKSTAY__ROLE__PEER || c->version < CNS__TR_VERSION_PEER_CTL)
		return NULL;
	return c;
}

/* ------------------------------------------------------------------------
 * Init and addresses.
 */

static void config_defaults(struct cns__tr_config *c)
{
	if (c->max_frame == 0)
		c->max_frame = PROTO_MAX_FRAME_DEFAULT;
	if (c->write_queue_max == 0)
		c->write_queue_max = 2 * c->max_frame + (1u << 20);
	if (c->min_version == 0)
		c->min_version = CNS__TR_PROTOCOL_MIN_VERSION;
	if (c->max_version == 0)
		c->max_version = CNS__TR_PROTOCOL_VERSION;
	if (c->handshake_timeout_ms == 0)
		c->handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
	if (c->backoff_min_ms == 0)
		c->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
	if (c->backoff_max_ms < c->backoff_min_ms)
		c->backoff_max_ms = c->backoff_min_ms > DEFAULT_BACKOFF_MAX_MS
					    ? c->backoff_min_ms
					    : DEFAULT_BACKOFF_MAX_MS;
	if (c->max_handshakes == 0)
		c->max_handshakes = DEFAULT_MAX_HANDSHAKES;
	c->self_address = NULL; /* borrowed: copied into the identity */
	c->secrets = NULL;
}

static int identity_init(struct cns__tr *t, const struct cns__tr_config *config)
{
	const char *address = config->self_address != NULL ? config->self_address : "";

	if (config->secrets == NULL || strlen(address) > CNS__TR_MAX_ADDRESS) {
		bs_errf(t->errmsg, sizeof t->errmsg, "transport: no secrets or address too long");
		return -EINVAL;
	}
	if (t->config.min_version > t->config.max_version) {
		bs_errf(t->errmsg, sizeof t->errmsg, "transport: min_version %u > max_version %u",
			t->config.min_version, t->config.max_version);
		return -EINVAL;
	}
	memcpy(t->self.cluster_id, config->secrets->cluster_id, BS_CLUSTER_ID_LEN);
	memcpy(t->self.secret, config->secrets->cluster_secret, BS_CLUSTER_SECRET_LEN);
	t->self.node_id = config->self_id;
	snprintf(t->self.address, sizeof t->self.address, "%s", address);
	t->self.min_version = t->config.min_version;
	t->self.max_version = t->config.max_version;
	return 0;
}

int cns__tr_init(struct cns__tr *t, uv_loop_t *loop, struct bs_clock *clock,
		 const struct cns__tr_config *config, const struct cns__tr_cb *cb, void *data)
{
	int rc;

	memset(t, 0, sizeof *t);
	if (loop == NULL || clock == NULL || config == NULL) {
		bs_errf(t->errmsg, sizeof t->errmsg, "transport: no loop, clock or config");
		return -EINVAL;
	}
	t->config = *config;
	config_defaults(&t->config);
	rc = identity_init(t, config);
	if (rc < 0)
		goto err_wipe;
	t->rbuf = malloc(CNS__TR_READ_BUF);
	if (t->rbuf == NULL) {
		rc = -ENOMEM;
		bs_errf(t->errmsg, sizeof t->errmsg, "transport: out of memory");
		goto err_wipe;
	}
	t->loop = loop;
	t->clock = clock;
	t->data = data;
	if (cb != NULL)
		t->cb = *cb;
	uv_timer_init(loop, &t->closer); /* last: nothing to undo after it */
	t->closer.data = t;
	t->n_live = 1;
	return 0;

err_wipe:
	OPENSSL_cleanse(&t->self, sizeof t->self);
	return rc;
}

static int parse_port(const char *s, int *ret_port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*ret_port = (int)v;
	return 0;
}

/* Numeric host (IPv4, or IPv6 with or without brackets) and port. */
static int host_addr(const char *host, size_t host_len, int port, struct sockaddr_storage *ret)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, host, host_len);
	buf[host_len] = '\0';
	memset(ret, 0, sizeof *ret);
	if (uv_ip4_addr(buf, port, (struct sockaddr_in *)ret) == 0)
		return 0;
	if (uv_ip6_addr(buf, port, (struct sockaddr_in6 *)ret) == 0)
		return 0;
	return -EINVAL;
}

int cns__tr_parse_address(const char *address, struct sockaddr_storage *ret)
{
	const char *colon = address != NULL ? strrchr(address, ':') : NULL;
	int port;

	if (colon == NULL || parse_port(colon + 1, &port) < 0)
		return -EINVAL;
	return host_addr(address, (size_t)(colon - address), port, ret);
}

/* ------------------------------------------------------------------------
 * Listening.
 */

static void on_connection(uv_stream_t *server, int status)
{
	struct cns__tr *t = server->data;

	if (status < 0) {
		bs_warn(CNS__TR_COMPONENT, "transport: accept: %s", uv_strerror(status));
		return;
	}
	cns__tr_conn_accept(t);
}

int cns__tr_listen(struct cns__tr *t, const char *host, int port)
{
	struct sockaddr_storage addr;
	int rc;

	if (t->closing)
		return -ESHUTDOWN;
	if (t->listening)
		return -EALREADY;
	if (host == NULL || port < 0 || port > 65535 ||
	    host_addr(host, strlen(host), port, &addr) < 0) {
		bs_errf(t->errmsg, sizeof t->errmsg, "listen: bad address %s port %d",
			host != NULL ? host : "(null)", port);
		return -EINVAL;
	}
	uv_tcp_init(t->loop, &t->listener);
	t->listener.data = t;
	t->listening = true; /* the handle now needs closing, even if bind fails */
	t->n_live++;
	rc = uv_tcp_bind(&t->listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG, on_connection);
	if (rc < 0)
		bs_errf(t->errmsg, sizeof t->errmsg, "listen on %s port %d: %s", host, port,
			uv_strerror(rc));
	return rc;
}

int cns__tr_port(const struct cns__tr *t)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;

	if (!t->listening || uv_tcp_getsockname(&t->listener, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
}

/* ------------------------------------------------------------------------
 * Peers and reconnecting.
 */

static void peer_timer_cb(uv_timer_t *timer);

/* Wait a delay drawn from [d/2, d], then double d up to backoff_max_ms. */
static void peer_schedule(struct cns__tr_peer *p)
{
	struct cns__tr *t = p->t;
	uint64_t d = p->backoff_ms;
	uint64_t wait = d / 2 + bs_clock_random_below(t->clock, d / 2 + 1);

	p->backoff_ms =
		d * 2 > t->config.backoff_max_ms ? t->config.backoff_max_ms : (unsigned)(d * 2);
	uv_timer_start(&p->timer, peer_timer_cb, wait, 0);
}

static void peer_dial(struct cns__tr_peer *p)
{
	struct cns__tr_conn *c;
	int rc;

	rc = cns__tr_conn_dial(p->t, &p->addr, p->address, BACKSTAY__ROLE__PEER, p->id, &c);
	if (rc < 0) {
		bs_debug(CNS__TR_COMPONENT, "transport: dial node %llu at %s: %s",
			 (unsigned long long)p->id, p->address, uv_strerror(rc));
		peer_schedule(p);
		return;
	}
	c->peer = p;
	p->dialing = c;
}

/* Dial unless connected or already dialing. */
static void peer_kick(struct cns__tr_peer *p)
{
	if (p->dialing == NULL && ready_peer_conn(p->t, p->id) == NULL && !p->t->closing)
		peer_dial(p);
}

static void peer_timer_cb(uv_timer_t *timer)
{
	peer_kick(timer->data);
}

static void peer_closed(uv_handle_t *h)
{
	struct cns__tr_peer *p = h->data;
	struct cns__tr *t = p->t;

	free(p);
	cns__tr_live_put(t);
}

/* Unlink p (lookups stop finding it) and free it once its timer closes. */
static void peer_drop(struct cns__tr_peer *p)
{
	struct cns__tr *t = p->t;
	struct cns__tr_conn *c;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		t->peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	for (c = t->conns; c != NULL; c = c->next)
		if (c->peer == p)
			c->peer = NULL;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, peer_closed);
}

static struct cns__tr_peer *peer_new(struct cns__tr *t, uint64_t id)
{
	struct cns__tr_peer *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->t = t;
	p->id = id;
	p->backoff_ms = t->config.backoff_min_ms;
	uv_timer_init(t->loop, &p->timer);
	p->timer.data = p;
	p->next = t->peers;
	if (t->peers != NULL)
		t->peers->prev = p;
	t->peers = p;
	t->n_live++;
	return p;
}

int cns__tr_set_peer(struct cns__tr *t, uint64_t id, const char *address)
{
	struct sockaddr_storage addr;
	struct cns__tr_peer *p;

	if (t->closing)
		return -ESHUTDOWN;
	if (id == 0 || id == t->self.node_id || address == NULL ||
	    strlen(address) > CNS__TR_MAX_ADDRESS || cns__tr_parse_address(address, &addr) < 0) {
		bs_errf(t->errmsg, sizeof t->errmsg, "set peer %llu: bad id or address %s",
			(unsigned long long)id, address != NULL ? address : "(null)");
		return -EINVAL;
	}
	p = peer_find(t, id);
	if (p == NULL)
		p = peer_new(t, id);
	if (p == NULL)
		return -ENOMEM;
	snprintf(p->address, sizeof p->address, "%s", address);
	p->addr = addr;
	peer_kick(p);
	return 0;
}

void cns__tr_remove_peer(struct cns__tr *t, uint64_t id)
{
	struct cns__tr_peer *p = peer_find(t, id);
	struct cns__tr_conn *c;

	if (p == NULL || t->closing)
		return;
	peer_drop(p);
	for (c = t->conns; c != NULL; c = c->next)
		if (c->role == BACKSTAY__ROLE__PEER && c->peer_id == id)
			cns__tr_conn_close(c, CNS__TR_REASON_REMOVED, true);
}

/* ------------------------------------------------------------------------
 * Hooks from transport_conn.c.
 */

static uint64_t initiator(const struct cns__tr_conn *c)
{
	return c->outbound ? c->t->self.node_id : c->peer_id;
}

/* One connection per peer pair: the one the lower node id initiated; of
 * two with the same initiator, the newer (c). */
static void resolve_duplicates(struct cns__tr_conn *c)
{
	struct cns__tr_conn *o, *loser;

	for (o = c->t->conns; o != NULL; o = o->next) {
		if (o == c || !conn_is_peer(o, c->peer_id))
			continue;
		loser = initiator(o) < initiator(c) ? c : o;
		cns__tr_conn_close(loser, CNS__TR_REASON_DUPLICATE, true);
		if (loser == c)
			return;
	}
}

static void dial_done(struct cns__tr_conn *c, int status)
{
	struct cns__tr_dial *req = c->dial;

	c->dial = NULL;
	req->conn = NULL;
	if (status == 0) {
		req->conn_id = c->id;
		req->server_id = c->peer_id;
		req->version = c->hs.version;
	} else {
		bs_errf(req->errmsg, sizeof req->errmsg, "%s: %s%s%s", c->remote,
			cns__tr_reason_text(c->reason), c->detail[0] != '\0' ? ": " : "",
			c->detail);
	}
	req->cb(req, status);
}

void cns__tr_conn_ready(struct cns__tr_conn *c)
{
	struct cns__tr *t = c->t;
	struct cns__tr_peer *p;
	bool was_up;

	if (c->role != BACKSTAY__ROLE__PEER) {
		if (c->dial != NULL)
			dial_done(c, 0);
		return;
	}
	if (c->peer != NULL && c->peer->dialing == c)
		c->peer->dialing = NULL;
	p = peer_find(t, c->peer_id);
	if (p != NULL) {
		p->backoff_ms = t->config.backoff_min_ms;
		p->failing = false;
		uv_timer_stop(&p->timer);
	}
	was_up = cns__tr_peer_conns(t, c->peer_id) > 1;
	resolve_duplicates(c);
	if (!was_up && c->state == CNS__TR_CONN_READY && t->cb.on_peer != NULL)
		t->cb.on_peer(t->data, c->peer_id, true);
}

/* A configured peer lost its connection or our attempt failed: retry later
 * unless another connection with it is up or being made. */
static void peer_retry(struct cns__tr_peer *p, const struct cns__tr_conn *c,
		       enum cns__tr_conn_state was)
{
	if (p->dialing != NULL || ready_peer_conn(p->t, p->id) != NULL)
		return;
	if (c->outbound && was != CNS__TR_CONN_READY && !p->failing) {
		p->failing = true;
		bs_info(CNS__TR_COMPONENT, "transport: node %llu at %s unreachable: %s%s%s",
			(unsigned long long)p->id, p->address, cns__tr_reason_text(c->reason),
			c->detail[0] != '\0' ? ": " : "", c->detail);
	}
	peer_schedule(p);
}

void cns__tr_conn_left(struct cns__tr_conn *c, enum cns__tr_conn_state was)
{
	struct cns__tr *t = c->t;
	uint64_t id = c->peer_id;
	struct cns__tr_peer *p;

	if (c->peer != NULL && c->peer->dialing == c)
		c->peer->dialing = NULL;
	if (t->closing)
		return;
	p = c->role == BACKSTAY__ROLE__PEER ? peer_find(t, id) : NULL;
	if (p != NULL && (was == CNS__TR_CONN_READY || c->peer == p))
		peer_retry(p, c, was);
	if (was != CNS__TR_CONN_READY)
		return;
	if (c->role == BACKSTAY__ROLE__PEER && ready_peer_conn(t, id) == NULL &&
	    t->cb.on_peer != NULL)
		t->cb.on_peer(t->data, id, false);
	if ((c->role == BACKSTAY__ROLE__PEER || c->reason != CNS__TR_REASON_HANGUP) &&
	    t->cb.on_closed != NULL)
		t->cb.on_closed(t->data, c->id, c->reason);
}

/* The async half of the dial contract: a failed request hears of it only
 * once the connection's handles are closed. */
void cns__tr_conn_freed(struct cns__tr_conn *c)
{
	if (c->dial != NULL)
		dial_done(c, cns__tr_conn_status(c));
}

static void close_finish(struct cns__tr *t)
{
	cns__tr_close_cb cb = t->close_cb;

	OPENSSL_cleanse(&t->self, sizeof t->self);
	free(t->rbuf);
	t->rbuf = NULL;
	if (cb != NULL)
		cb(t);
}

void cns__tr_live_put(struct cns__tr *t)
{
	if (--t->n_live == 0 && t->closing)
		close_finish(t);
}

/* ------------------------------------------------------------------------
 * The owner's API.
 */

int cns__tr_send(struct cns__tr *t, uint64_t to_id, const Backstay__Envelope *env)
{
	struct cns__tr_conn *c = ready_peer_conn(t, to_id);

	if (c == NULL) {
		t->stats.send_not_connected++;
		return -ENOTCONN;
	}
	return cns__tr_conn_send(c, env);
}

int cns__tr_dial(struct cns__tr *t, struct cns__tr_dial *req, const char *address,
		 Backstay__Role role, cns__tr_dial_cb cb)
{
	struct sockaddr_storage addr;
	struct cns__tr_conn *c;
	int rc;

	if (t->closing)
		return -ESHUTDOWN;
	if ((role != BACKSTAY__ROLE__CTL && role != BACKSTAY__ROLE__JOIN) || cb == NULL ||
	    cns__tr_parse_address(address, &addr) < 0)
		return -EINVAL;
	rc = cns__tr_conn_dial(t, &addr, address, role, 0, &c);
	if (rc < 0)
		return rc;
	req->conn_id = 0;
	req->server_id = 0;
	req->version = 0;
	req->errmsg[0] = '\0';
	req->cb = cb;
	req->conn = c;
	c->dial = req;
	return 0;
}

int cns__tr_request(struct cns__tr *t, uint64_t conn_id, const Backstay__CtlRequest *req)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	struct cns__tr_conn *c = ctl_conn(t, conn_id, true);

	if (c == NULL)
		return -ENOTCONN;
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = (Backstay__CtlRequest *)req; /* pack only reads it */
	return cns__tr_conn_send(c, &env);
}

int cns__tr_reply(struct cns__tr *t, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	struct cns__tr_conn *c = ctl_conn(t, conn_id, false);

	if (c == NULL)
		c = peer_ctl_conn(t, conn_id);
	if (c == NULL)
		return -ENOTCONN;
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = (Backstay__CtlResponse *)resp;
	return cns__tr_conn_send(c, &env);
}

int cns__tr_peer_request(struct cns__tr *t, uint64_t to_id, const Backstay__CtlRequest *req,
			 uint64_t *ret_conn_id)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	struct cns__tr_conn *c = ready_peer_conn(t, to_id);
	int rc;

	if (c == NULL) {
		t->stats.send_not_connected++;
		return -ENOTCONN;
	}
	if (c->version < CNS__TR_VERSION_PEER_CTL)
		return -EPROTONOSUPPORT;
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = (Backstay__CtlRequest *)req; /* pack only reads it */
	rc = cns__tr_conn_send(c, &env);
	if (rc == 0)
		*ret_conn_id = c->id;
	return rc;
}

void cns__tr_hangup(struct cns__tr *t, uint64_t conn_id)
{
	struct cns__tr_conn *c = ctl_conn(t, conn_id, true);

	if (c == NULL)
		c = ctl_conn(t, conn_id, false);
	if (c != NULL)
		cns__tr_conn_close(c, CNS__TR_REASON_HANGUP, false);
}

static int sock_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int cns__tr_peer_ports(const struct cns__tr *t, uint64_t id, int *ret_local, int *ret_remote,
		       bool *ret_outbound)
{
	struct cns__tr_conn *c = ready_peer_conn(t, id);
	struct sockaddr_storage local, remote;
	int len = sizeof local;

	if (c == NULL || uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &len) != 0)
		return -ENOTCONN;
	len = sizeof remote;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&remote, &len) != 0)
		return -ENOTCONN;
	*ret_local = sock_port(&local);
	*ret_remote = sock_port(&remote);
	*ret_outbound = c->outbound;
	return 0;
}

/* ------------------------------------------------------------------------
 * Closing.
 */

static void handle_put(uv_handle_t *h)
{
	cns__tr_live_put(h->data);
}

void cns__tr_close(struct cns__tr *t, cns__tr_close_cb cb)
{
	struct cns__tr_conn *c;

	if (t->closing)
		return;
	t->closing = true;
	t->close_cb = cb;
	if (t->listening)
		uv_close((uv_handle_t *)&t->listener, handle_put);
	while (t->peers != NULL)
		peer_drop(t->peers);
	for (c = t->conns; c != NULL; c = c->next)
		cns__tr_conn_close(c, CNS__TR_REASON_SHUTDOWN, false);
	uv_close((uv_handle_t *)&t->closer, handle_put);
}
