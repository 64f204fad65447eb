/*
 * One connection of the transport, from accept or connect to free: socket
 * options, the handshake frames (handshake.c decides, this file carries
 * them), then MAC'd frames both ways, and the asynchronous close.
 *
 * Lifecycle (enum cns__tr_conn_state, forward only):
 *
 *   CONNECTING -> HANDSHAKE -> READY -> LINGER -> CLOSING -> freed
 *
 * Every way out goes through cns__tr_conn_close(), which counts and logs
 * the reason once, tells the peer when it can (Goodbye), tells transport.c
 * (cns__tr_conn_left), and closes both handles once queued writes are done.
 * Memory is freed only in the handles' close callbacks, so a connection
 * stays valid across any callback it runs, even one that closes it.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport_internal.h"

/* A dead peer is noticed after about IDLE + INTVL * CNT seconds of silence. */
#define KEEPALIVE_IDLE_S 5
#define KEEPALIVE_INTVL_S 2
#define KEEPALIVE_CNT 3

struct write_req {
	uv_write_t req;
	struct cns__tr_conn *conn;
	uint8_t *frame; /* header + body, from proto_frame_encode */
	uint8_t mac[CNS__TR_MAC_LEN];
};

static void timer_cb(uv_timer_t *timer);

/* ------------------------------------------------------------------------
 * Creation and freeing.
 */

static struct cns__tr_conn *conn_new(struct cns__tr *t, bool outbound)
{
	struct cns__tr_conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->t = t;
	c->outbound = outbound;
	c->id = ++t->next_conn_id;
	c->state = CNS__TR_CONN_CONNECTING;
	proto_decoder_init(&c->dec, CNS__TR_HS_MAX_FRAME);
	uv_tcp_init(t->loop, &c->tcp); /* cannot fail without flags */
	uv_timer_init(t->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->connect.data = c;
	c->open_handles = 2;
	snprintf(c->remote, sizeof c->remote, "?");
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	t->n_live++;
	return c;
}

static void conn_free(struct cns__tr_conn *c)
{
	struct cns__tr *t = c->t;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	cns__tr_conn_freed(c);
	proto_decoder_close(&c->dec);
	cns__tr_hs_wipe(&c->hs);
	cns__tr_mac_close(&c->send_mac);
	cns__tr_mac_close(&c->recv_mac);
	free(c);
	cns__tr_live_put(t);
}

static void handle_closed(uv_handle_t *h)
{
	struct cns__tr_conn *c = h->data;

	if (--c->open_handles == 0)
		conn_free(c);
}

static void close_now(struct cns__tr_conn *c)
{
	c->state = CNS__TR_CONN_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

/* ------------------------------------------------------------------------
 * Writing.
 */

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct cns__tr_conn *c = w->conn;

	c->n_writes--;
	free(w->frame);
	free(w);
	if (status < 0 && c->state < CNS__TR_CONN_LINGER) {
		c->err = status;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
	} else if (c->state == CNS__TR_CONN_LINGER && c->n_writes == 0) {
		close_now(c);
	}
}

/* A READY connection whose frame could not be handed to libuv: its MAC
 * sequence has moved past what the peer will see, so it must close; but
 * not from inside the owner's cns__tr_send (its callbacks would run
 * re-entrantly): the timer closes it on the next loop iteration, and
 * nothing more is sent meanwhile. */
static void fail_soon(struct cns__tr_conn *c, int err)
{
	c->err = err;
	if (c->state == CNS__TR_CONN_READY)
		uv_timer_start(&c->timer, timer_cb, 0, 0);
}

/* Hand a built frame to libuv (w is consumed either way). Past this point
 * the sequence number has moved: on failure the connection must close,
 * which the caller does outside READY and fail_soon() does in READY. */
static int write_frame(struct cns__tr_conn *c, struct write_req *w, size_t len)
{
	uv_buf_t bufs[2];
	unsigned nbufs = 1;
	int rc = 0;

	bufs[0] = uv_buf_init((char *)w->frame, (unsigned)len);
	if (c->send_mac.ctx != NULL) {
		rc = cns__tr_mac_sign(&c->send_mac, w->frame, len, w->mac);
		bufs[nbufs++] = uv_buf_init((char *)w->mac, CNS__TR_MAC_LEN);
	}
	w->conn = c;
	if (rc == 0)
		rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, write_cb);
	if (rc < 0) {
		free(w->frame);
		free(w);
		fail_soon(c, rc);
		return rc;
	}
	c->n_writes++;
	c->t->stats.frames_out++;
	c->t->stats.bytes_out += len + (nbufs - 1) * CNS__TR_MAC_LEN;
	return 0;
}

/* Encode env and queue it: with a trailer once the send MAC exists. */
static int queue_frame(struct cns__tr_conn *c, const Backstay__Envelope *env)
{
	struct cns__tr *t = c->t;
	size_t limit = c->send_mac.ctx != NULL ? t->config.max_frame : CNS__TR_HS_MAX_FRAME;
	size_t len, backlog = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
	struct write_req *w;
	int rc;

	w = malloc(sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	rc = proto_frame_encode(env, limit, &w->frame, &len);
	if (rc < 0)
		goto err_free_req;
	if (backlog > 0 && backlog + len > t->config.write_queue_max) {
		t->stats.send_queue_full++;
		rc = -ENOBUFS;
		goto err_free_frame;
	}
	return write_frame(c, w, len);

err_free_frame:
	free(w->frame);
err_free_req:
	free(w);
	return rc;
}

int cns__tr_conn_send(struct cns__tr_conn *c, const Backstay__Envelope *env)
{
	if (c->state != CNS__TR_CONN_READY || c->err != 0)
		return -ENOTCONN;
	return queue_frame(c, env);
}

/* ------------------------------------------------------------------------
 * Closing.
 */

/* Reasons that mean something is wrong: logged as warnings. */
static bool reason_is_failure(enum cns__tr_reason r)
{
	switch (r) {
	case CNS__TR_REASON_AUTH:
	case CNS__TR_REASON_VERSION:
	case CNS__TR_REASON_ROLE:
	case CNS__TR_REASON_PROTOCOL:
	case CNS__TR_REASON_WRONG_NODE:
	case CNS__TR_REASON_MALFORMED:
	case CNS__TR_REASON_TOO_BIG:
	case CNS__TR_REASON_TRUNCATED:
	case CNS__TR_REASON_BAD_MAC:
	case CNS__TR_REASON_TIMEOUT:
	case CNS__TR_REASON_OVERLOAD:
		return true;
	default:
		return false;
	}
}

/* Reasons worth a Goodbye on an authenticated connection. */
static bool reason_told_ready(enum cns__tr_reason r)
{
	return r == CNS__TR_REASON_PROTOCOL || r == CNS__TR_REASON_MALFORMED ||
	       r == CNS__TR_REASON_TOO_BIG || r == CNS__TR_REASON_BAD_MAC ||
	       r == CNS__TR_REASON_DUPLICATE || r == CNS__TR_REASON_REMOVED;
}

static void send_goodbye(struct cns__tr_conn *c, enum cns__tr_reason reason)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Goodbye bye = BACKSTAY__GOODBYE__INIT;

	bye.reason = (char *)cns__tr_reason_text(reason);
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	env.goodbye = &bye;
	queue_frame(c, &env); /* best effort */
}

/* The Goodbye, if any, while the state still says how to frame it. Mid-
 * handshake, handshake.c decides the reason (a wrong cluster id turns any
 * end of the handshake into "authentication failed") and what to say. */
static enum cns__tr_reason say_goodbye(struct cns__tr_conn *c, enum cns__tr_reason reason,
				       bool tell)
{
	struct cns__tr_hs_out out;

	if (c->state == CNS__TR_CONN_HANDSHAKE) {
		cns__tr_hs_abort(&c->hs, reason, tell, &out);
		if (out.env.body_case != BACKSTAY__ENVELOPE__BODY__NOT_SET)
			queue_frame(c, &out.env);
		if (c->detail[0] == '\0')
			snprintf(c->detail, sizeof c->detail, "%s", c->hs.detail);
		return c->hs.reason;
	}
	if (c->state == CNS__TR_CONN_READY && tell && reason_told_ready(reason))
		send_goodbye(c, reason);
	return reason;
}

static void log_close(const struct cns__tr_conn *c)
{
	enum bs_log_level level = reason_is_failure(c->reason) ? BS_LOG_WARN : BS_LOG_INFO;
	/* Before the session, what the Hello claimed (inbound) is all we know. */
	Backstay__Role role = c->role != 0 ? c->role : c->hs.role;
	uint64_t id = c->peer_id != 0 || c->outbound ? c->peer_id : c->hs.client_id;
	char who[48] = "";

	if (id != 0)
		snprintf(who, sizeof who, ", node %llu", (unsigned long long)id);
	if (c->outbound && c->state == CNS__TR_CONN_CONNECTING)
		level = BS_LOG_DEBUG; /* a peer that is down: transport.c says it once */
	if (role != BACKSTAY__ROLE__PEER && level == BS_LOG_INFO)
		level = BS_LOG_DEBUG; /* a tool that got its answer and went: routine */
	bs_log(level, CNS__TR_COMPONENT, "transport: %s %s (%s%s): closed: %s%s%s",
	       c->outbound ? "connection to" : "connection from", c->remote, proto_role_name(role),
	       who, cns__tr_reason_text(c->reason), c->detail[0] != '\0' ? ": " : "", c->detail);
}

void cns__tr_conn_close(struct cns__tr_conn *c, enum cns__tr_reason reason, bool tell)
{
	enum cns__tr_conn_state was = c->state;
	struct cns__tr *t = c->t;

	if (was >= CNS__TR_CONN_LINGER) {
		if (was == CNS__TR_CONN_LINGER && t->closing)
			close_now(c);
		return;
	}
	if (c->err != 0 && c->detail[0] == '\0')
		snprintf(c->detail, sizeof c->detail, "%s", bs_strerror(c->err));
	c->reason = say_goodbye(c, reason, tell);
	t->stats.closed[c->reason]++;
	if (c->in_handshakes) {
		t->n_handshakes--;
		c->in_handshakes = false;
	}
	log_close(c);
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_stop(&c->timer);
	c->state = CNS__TR_CONN_LINGER;
	cns__tr_conn_left(c, was);
	if (c->state != CNS__TR_CONN_LINGER)
		return; /* the owner closed the transport from a callback */
	if (c->n_writes == 0 || t->closing)
		close_now(c);
	else
		uv_timer_start(&c->timer, timer_cb, CNS__TR_LINGER_MS, 0);
}

/* The handshake deadline (connect included), the end of a linger, or a
 * READY connection that failed a write (fail_soon). */
static void timer_cb(uv_timer_t *timer)
{
	struct cns__tr_conn *c = timer->data;

	if (c->state == CNS__TR_CONN_LINGER)
		close_now(c);
	else if (c->state == CNS__TR_CONN_READY)
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
	else
		cns__tr_conn_close(c, CNS__TR_REASON_TIMEOUT, true);
}

int cns__tr_conn_status(const struct cns__tr_conn *c)
{
	switch (c->reason) {
	case CNS__TR_REASON_AUTH:
		return -EACCES;
	case CNS__TR_REASON_VERSION:
		return -EPROTONOSUPPORT;
	case CNS__TR_REASON_TIMEOUT:
		return -ETIMEDOUT;
	case CNS__TR_REASON_EOF:
		return -ECONNRESET;
	case CNS__TR_REASON_IO:
		return c->err != 0 ? c->err : -EIO;
	case CNS__TR_REASON_SHUTDOWN:
		return c->t->closing ? -ECANCELED : -ECONNREFUSED;
	case CNS__TR_REASON_GOODBYE:
	case CNS__TR_REASON_OVERLOAD:
	case CNS__TR_REASON_DUPLICATE:
	case CNS__TR_REASON_REMOVED:
	case CNS__TR_REASON_HANGUP:
		return -ECONNREFUSED;
	default:
		return -EPROTO;
	}
}

/* ------------------------------------------------------------------------
 * Frames once authenticated.
 */

static void on_raft(struct cns__tr_conn *c, const Backstay__RaftMessage *msg)
{
	struct cns__tr *t = c->t;

	if (msg->server_id != c->peer_id) {
		t->stats.sender_mismatch++;
		bs_warn(CNS__TR_COMPONENT,
			"transport: node %llu at %s sent a Raft message as node %llu: dropped",
			(unsigned long long)c->peer_id, c->remote,
			(unsigned long long)msg->server_id);
		return;
	}
	if (t->cb.on_raft != NULL)
		t->cb.on_raft(t->data, c->peer_id, msg);
}

static void on_goodbye(struct cns__tr_conn *c, const Backstay__Goodbye *bye)
{
	char text[96];

	cns__tr_printable(text, sizeof text, bye->reason);
	snprintf(c->detail, sizeof c->detail, "peer said: %s", text);
	cns__tr_conn_close(c, cns__tr_reason_from_text(bye->reason), false);
}

/* What each role may send once authenticated: PEER both ways Raft, and
 * from version CNS__TR_VERSION_PEER_CTL ctl requests and responses both
 * ways; CTL and JOIN requests from the client, responses from the server. */
static void on_frame(struct cns__tr_conn *c, const Backstay__Envelope *env)
{
	struct cns__tr *t = c->t;
	bool peer = c->role == BACKSTAY__ROLE__PEER;
	bool peer_ctl = peer && c->version >= CNS__TR_VERSION_PEER_CTL;

	if (env->body_case == BACKSTAY__ENVELOPE__BODY_GOODBYE) {
		on_goodbye(c, env->goodbye);
	} else if (env->body_case == BACKSTAY__ENVELOPE__BODY_RAFT && peer) {
		on_raft(c, env->raft);
	} else if (env->body_case == BACKSTAY__ENVELOPE__BODY_CTL_REQUEST &&
		   ((!peer && !c->outbound) || peer_ctl)) {
		if (t->cb.on_ctl != NULL)
			t->cb.on_ctl(t->data, c->id, c->role, c->peer_id, env->ctl_request);
	} else if (env->body_case == BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE &&
		   ((!peer && c->outbound) || peer_ctl)) {
		if (t->cb.on_ctl_response != NULL)
			t->cb.on_ctl_response(t->data, c->id, env->ctl_response);
	} else {
		snprintf(c->detail, sizeof c->detail, "frame with body %d not allowed here",
			 (int)env->body_case);
		cns__tr_conn_close(c, CNS__TR_REASON_PROTOCOL, true);
	}
}

/* ------------------------------------------------------------------------
 * The handshake's frames.
 */

/* Switch to the session: MACs both ways, the full frame limit. The decoder
 * applies the new settings from the next frame it cuts. */
static int session_start(struct cns__tr_conn *c)
{
	const struct cns__tr_hs *hs = &c->hs;
	int rc;

	rc = cns__tr_mac_init(&c->send_mac, c->outbound ? hs->key_c2s : hs->key_s2c);
	if (rc == 0)
		rc = cns__tr_mac_init(&c->recv_mac, c->outbound ? hs->key_s2c : hs->key_c2s);
	if (rc < 0)
		return rc;
	c->dec.max_frame = c->t->config.max_frame;
	c->dec.trailer_len = CNS__TR_MAC_LEN;
	c->dec.verify = cns__tr_mac_verify;
	c->dec.verify_data = &c->recv_mac;
	c->role = hs->role;
	c->peer_id = c->outbound ? hs->server_id : hs->client_id;
	c->version = hs->version;
	return 0;
}

static void authenticated(struct cns__tr_conn *c)
{
	struct cns__tr *t = c->t;

	if (session_start(c) < 0) {
		c->err = -ENOMEM;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
		return;
	}
	cns__tr_hs_wipe(&c->hs);
	uv_timer_stop(&c->timer);
	if (c->in_handshakes) {
		t->n_handshakes--;
		c->in_handshakes = false;
	}
	c->state = CNS__TR_CONN_READY;
	t->stats.authenticated++;
	bs_debug(CNS__TR_COMPONENT, "transport: %s %s (%s, node %llu): authenticated, version %u",
		 c->outbound ? "connection to" : "connection from", c->remote,
		 proto_role_name(c->role), (unsigned long long)c->peer_id, c->hs.version);
	cns__tr_conn_ready(c);
}

/* A handshake frame: handshake.c decides; its answer (a reply, a proof or
 * a Goodbye) leaves before the session's trailers start. */
static void on_handshake_frame(struct cns__tr_conn *c, const Backstay__Envelope *env)
{
	struct cns__tr_hs_out out;
	int rc = cns__tr_hs_step(&c->hs, env, &out);
	int wrc = 0;

	if (out.env.body_case != BACKSTAY__ENVELOPE__BODY__NOT_SET)
		wrc = queue_frame(c, &out.env);
	if (wrc < 0) {
		c->err = wrc;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
	} else if (rc < 0) {
		cns__tr_conn_close(c, c->hs.reason, false);
	} else if (c->hs.state == CNS__TR_HS_DONE) {
		authenticated(c);
	}
}

/* ------------------------------------------------------------------------
 * Reading.
 */

static enum cns__tr_reason frame_reason(int err)
{
	switch (err) {
	case BS_E_FRAME_TOO_BIG:
		return CNS__TR_REASON_TOO_BIG;
	case BS_E_FRAME_MALFORMED:
		return CNS__TR_REASON_MALFORMED;
	case BS_E_FRAME_TRUNCATED:
		return CNS__TR_REASON_TRUNCATED;
	case -EBADMSG:
		return CNS__TR_REASON_BAD_MAC;
	default:
		return CNS__TR_REASON_IO;
	}
}

static void frame_error(struct cns__tr_conn *c, int err)
{
	if (frame_reason(err) == CNS__TR_REASON_IO)
		c->err = err;
	cns__tr_conn_close(c, frame_reason(err), true);
}

/* Take every complete frame, for as long as the connection is open: a
 * callback may close it (or the whole transport). */
static void drain(struct cns__tr_conn *c)
{
	Backstay__Envelope *env;
	int rc;

	while (c->state == CNS__TR_CONN_HANDSHAKE || c->state == CNS__TR_CONN_READY) {
		rc = proto_decoder_next(&c->dec, &env);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			frame_error(c, rc);
			return;
		}
		c->t->stats.frames_in++;
		if (c->state == CNS__TR_CONN_HANDSHAKE)
			on_handshake_frame(c, env);
		else
			on_frame(c, env);
		backstay__envelope__free_unpacked(env, NULL);
	}
}

static void read_end(struct cns__tr_conn *c, int err)
{
	int rc;

	if (err != UV_EOF) {
		c->err = err;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
		return;
	}
	rc = proto_decoder_finish(&c->dec);
	cns__tr_conn_close(c, rc == 0 ? CNS__TR_REASON_EOF : frame_reason(rc), false);
}

/* All connections share one buffer: the decoder copies what it is fed
 * before the next read can start. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct cns__tr_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->t->rbuf, CNS__TR_READ_BUF);
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct cns__tr_conn *c = stream->data;
	int rc;

	if (n == 0 || c->state >= CNS__TR_CONN_LINGER)
		return;
	if (n < 0) {
		read_end(c, (int)n);
		return;
	}
	c->t->stats.bytes_in += (uint64_t)n;
	rc = proto_decoder_feed(&c->dec, buf->base, (size_t)n);
	if (rc < 0)
		frame_error(c, rc);
	else
		drain(c);
}

/* ------------------------------------------------------------------------
 * Starting: socket options, then the handshake.
 */

static void name_remote(struct cns__tr_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		uv_ip6_name(a, ip, sizeof ip);
		snprintf(c->remote, sizeof c->remote, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		uv_ip4_name(a, ip, sizeof ip);
		snprintf(c->remote, sizeof c->remote, "%s:%u", ip, ntohs(a->sin_port));
	}
}

/* TCP_NODELAY (frames are small and latency-bound) and keepalive tuned to
 * notice a dead host in seconds. Best effort; libuv made the fd CLOEXEC. */
static void socket_setup(struct cns__tr_conn *c)
{
	int intvl = KEEPALIVE_INTVL_S, cnt = KEEPALIVE_CNT;
	uv_os_fd_t fd;

	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_IDLE_S);
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	}
	name_remote(c);
}

static int read_start(struct cns__tr_conn *c)
{
	int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);

	if (rc < 0) {
		c->err = rc;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
	}
	return rc;
}

void cns__tr_conn_accept(struct cns__tr *t)
{
	uint8_t nonce[CNS__TR_NONCE_LEN];
	struct cns__tr_conn *c = conn_new(t, false);
	int rc;

	if (c == NULL) {
		bs_error(CNS__TR_COMPONENT, "transport: out of memory accepting a connection");
		return; /* libuv pauses the listener until the next accept */
	}
	rc = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp);
	if (rc == 0)
		rc = bs_clock_random(t->clock, nonce, sizeof nonce);
	if (rc < 0) {
		c->err = rc;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
		return;
	}
	t->stats.accepted++;
	socket_setup(c);
	cns__tr_hs_server(&c->hs, &t->self, nonce);
	c->state = CNS__TR_CONN_HANDSHAKE;
	c->in_handshakes = true;
	if (++t->n_handshakes > t->config.max_handshakes) {
		cns__tr_conn_close(c, CNS__TR_REASON_OVERLOAD, true);
		return;
	}
	uv_timer_start(&c->timer, timer_cb, t->config.handshake_timeout_ms, 0);
	read_start(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct cns__tr_conn *c = req->data;
	struct cns__tr *t = c->t;
	uint8_t nonce[CNS__TR_NONCE_LEN];
	struct cns__tr_hs_out out;

	if (c->state != CNS__TR_CONN_CONNECTING)
		return; /* closed while connecting (UV_ECANCELED) */
	if (status == 0)
		status = bs_clock_random(t->clock, nonce, sizeof nonce);
	if (status < 0) {
		c->err = status;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
		return;
	}
	socket_setup(c);
	cns__tr_hs_client(&c->hs, &t->self, c->role, c->peer_id, nonce, &out);
	c->state = CNS__TR_CONN_HANDSHAKE;
	status = queue_frame(c, &out.env);
	if (status < 0) {
		c->err = status;
		cns__tr_conn_close(c, CNS__TR_REASON_IO, false);
		return;
	}
	read_start(c);
}

int cns__tr_conn_dial(struct cns__tr *t, const struct sockaddr_storage *addr, const char *address,
		      Backstay__Role role, uint64_t expect_id, struct cns__tr_conn **ret_conn)
{
	struct cns__tr_conn *c = conn_new(t, true);
	int rc;

	if (c == NULL)
		return -ENOMEM;
	c->role = role;
	c->peer_id = expect_id;
	snprintf(c->remote, sizeof c->remote, "%s", address);
	rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)addr, connect_cb);
	if (rc < 0) {
		close_now(c); /* nobody knows it yet: no reason, no log, no count */
		return rc;
	}
	uv_timer_start(&c->timer, timer_cb, t->config.handshake_timeout_ms, 0);
	t->stats.dialed++;
	*ret_conn = c;
	return 0;
}
