/*
 * consensus/transport over real TCP on 127.0.0.1, ephemeral ports, a real
 * uv loop: authentication both ways, Raft frames both ways, refusals (wrong
 * secret, wrong cluster id, no common version, unknown role, garbage,
 * oversized header, truncated handshake, handshake timeout), tampered,
 * replayed and dropped frames after the handshake (a raw client that runs
 * the real handshake code), reconnect after a restart, simultaneous connect,
 * ctl request/response, write-queue limit. Also the handshake state machine
 * driven directly, without sockets.
 *
 * No sleeps: the loop runs until a condition holds, at most RUN_MAX_ITERS
 * iterations and RUN_MAX_MS of real time; a 5 ms ticker keeps UV_RUN_ONCE
 * from blocking. Teardown closes everything and uv_loop_close() must
 * succeed (no handle left behind); ASan/LSan catch the rest.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "proto.h"
#include "transport.h"
#include "unit.h"

#define RUN_MAX_MS 10000
#define RUN_MAX_ITERS 200000u
#define HOST "127.0.0.1"

static uv_loop_t loop;
static uv_timer_t ticker;
static struct bs_clock *vclock;

static const struct bs_secrets good_secrets = {
	.cluster_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	.cluster_secret = {0x5e, 0xc3, 0xe7, 1,	 2,  3,	 4,  5,	 6,  7,	 8,  9,	 10, 11, 12, 13,
			   14,	 15,   16,   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29},
};

/* ------------------------------------------------------------------------
 * Running the loop.
 */

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* One iteration while the budget lasts: false once it is spent. */
static bool loop_once(uint64_t deadline, unsigned *iters)
{
	if (++*iters > RUN_MAX_ITERS || bs_clock_now_ms(bs_clock_real()) > deadline)
		return false;
	uv_run(&loop, UV_RUN_ONCE);
	return true;
}

#define RUN_UNTIL(cond)                                                                            \
	do {                                                                                       \
		uint64_t deadline_ = bs_clock_now_ms(bs_clock_real()) + RUN_MAX_MS;                \
		unsigned iters_ = 0;                                                               \
		while (!(cond) && loop_once(deadline_, &iters_))                                   \
			;                                                                          \
		if (!(cond))                                                                       \
			fail_msg("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond);    \
	} while (0)

static int setup(void **state)
{
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &ticker);
	uv_timer_start(&ticker, tick, 5, 5);
	assert_int_equal(bs_clock_virtual_new(0, 42, &vclock), 0);
	bs_log_set_level(getenv("BS_TEST_LOG") != NULL ? BS_LOG_DEBUG : BS_LOG_OFF);
	return 0;
}

static int teardown(void **state)
{
	unsigned i;

	(void)state;
	uv_close((uv_handle_t *)&ticker, NULL);
	for (i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT) != 0; i++)
		;
	assert_int_equal(uv_loop_close(&loop), 0);
	bs_clock_free(vclock);
	bs_log_set_level(BS_LOG_INFO);
	return 0;
}

/* ------------------------------------------------------------------------
 * A node: a transport and what it heard.
 */

struct node {
	struct cns__tr t; /* first: the close callback casts back */
	bool open;
	int port;
	char address[32];
	unsigned raft_in;
	uint64_t raft_from;
	uint64_t raft_term;
	size_t raft_bytes; /* snapshot data bytes received */
	unsigned ups, downs;
	unsigned ctl_in;
	uint64_t ctl_conn;
	Backstay__Role ctl_role;
	uint64_t ctl_node;
	char ctl_verb[32];
	uint64_t ctl_req_id;
	bool ctl_silent; /* leave requests unanswered */
	unsigned ctl_resp;
	uint64_t ctl_resp_conn, ctl_resp_id;
	int32_t ctl_code;
	char ctl_message[32];
	uint64_t closed_conn;
	unsigned closed_cbs;
	enum cns__tr_reason closed_reason;
};

static void on_raft(void *data, uint64_t from, const Backstay__RaftMessage *msg)
{
	struct node *n = data;

	n->raft_in++;
	n->raft_from = from;
	if (msg->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE)
		n->raft_term = msg->request_vote->term;
	if (msg->msg_case == BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT)
		n->raft_bytes += msg->install_snapshot->data.len;
}

static void on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		   const Backstay__CtlRequest *req)
{
	struct node *n = data;
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;

	n->ctl_in++;
	n->ctl_conn = conn_id;
	n->ctl_role = role;
	n->ctl_node = node_id;
	snprintf(n->ctl_verb, sizeof n->ctl_verb, "%s", req->verb);
	n->ctl_req_id = req->id;
	if (n->ctl_silent)
		return;
	resp.id = req->id;
	resp.code = 7;
	resp.message = (char *)"done";
	assert_int_equal(cns__tr_reply(&n->t, conn_id, &resp), 0);
}

static void on_ctl_response(void *data, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	struct node *n = data;

	n->ctl_resp++;
	n->ctl_resp_conn = conn_id;
	n->ctl_resp_id = resp->id;
	n->ctl_code = resp->code;
	snprintf(n->ctl_message, sizeof n->ctl_message, "%s", resp->message);
}

static void on_peer(void *data, uint64_t id, bool up)
{
	struct node *n = data;

	(void)id;
	if (up)
		n->ups++;
	else
		n->downs++;
}

static void on_closed(void *data, uint64_t conn_id, enum cns__tr_reason reason)
{
	struct node *n = data;

	n->closed_cbs++;
	n->closed_conn = conn_id;
	n->closed_reason = reason;
}

static const struct cns__tr_cb node_cb = {
	.on_raft = on_raft,
	.on_ctl = on_ctl,
	.on_ctl_response = on_ctl_response,
	.on_peer = on_peer,
	.on_closed = on_closed,
};

static struct cns__tr_config node_config(uint64_t id, const struct bs_secrets *secrets)
{
	return (struct cns__tr_config){
		.self_id = id,
		.self_address = "127.0.0.1:0",
		.secrets = secrets,
		.backoff_min_ms = 20,
		.backoff_max_ms = 100,
		.handshake_timeout_ms = 3000,
	};
}

/* Init with cfg and listen on an ephemeral port (port < 0: don't listen;
 * port > 0: that port). */
static void node_start_cfg(struct node *n, const struct cns__tr_config *cfg, int port)
{
	memset(n, 0, sizeof *n);
	assert_int_equal(cns__tr_init(&n->t, &loop, vclock, cfg, &node_cb, n), 0);
	n->open = true;
	if (port < 0)
		return;
	assert_int_equal(cns__tr_listen(&n->t, HOST, port), 0);
	n->port = cns__tr_port(&n->t);
	assert_true(n->port > 0);
	snprintf(n->address, sizeof n->address, HOST ":%d", n->port);
}

static void node_start(struct node *n, uint64_t id, const struct bs_secrets *secrets)
{
	struct cns__tr_config cfg = node_config(id, secrets);

	node_start_cfg(n, &cfg, 0);
}

static void node_closed(struct cns__tr *t)
{
	((struct node *)t)->open = false;
}

static void node_stop(struct node *n)
{
	cns__tr_close(&n->t, node_closed);
	RUN_UNTIL(!n->open);
}

/* A RequestVote from `from` in `term`, as the driver would send it. */
static void send_vote(struct node *n, uint64_t to, uint64_t from, uint64_t term, int want)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__RaftMessage raft = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__RequestVote rv = BACKSTAY__REQUEST_VOTE__INIT;

	rv.term = term;
	rv.candidate_id = from;
	raft.server_id = from;
	raft.server_address = (char *)"x";
	raft.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE;
	raft.request_vote = &rv;
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = &raft;
	assert_int_equal(cns__tr_send(&n->t, to, &env), want);
}

static int send_snapshot(struct node *n, uint64_t to, uint64_t from, uint8_t *data, size_t len)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__RaftMessage raft = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__InstallSnapshot is = BACKSTAY__INSTALL_SNAPSHOT__INIT;

	is.term = 1;
	is.data.data = data;
	is.data.len = len;
	raft.server_id = from;
	raft.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT;
	raft.install_snapshot = &is;
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = &raft;
	return cns__tr_send(&n->t, to, &env);
}

/* ------------------------------------------------------------------------
 * A raw client: plain uv TCP, its own decoder, and optionally the real
 * handshake code (cns__tr_hs_*) to reach a session and then misbehave.
 */

struct raw {
	uv_tcp_t tcp;
	uv_connect_t connect;
	bool connected, eof, closed;
	struct proto_decoder dec;
	struct cns__tr_identity id;
	struct cns__tr_hs hs;
	bool handshaking, session;
	int hs_rc;
	struct cns__tr_mac send, recv;
	unsigned frames_in;
	char goodbye[128];
	uint32_t version; /* spoken (only); 0 = CNS__TR_PROTOCOL_VERSION */
	unsigned resps;	  /* CtlResponses received, the last one's id and code */
	uint64_t resp_id;
	int32_t resp_code;
};

struct raw_write {
	uv_write_t req;
	uint8_t bytes[];
};

static void raw_write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void raw_write(struct raw *r, const void *bytes, size_t len)
{
	struct raw_write *w = malloc(sizeof *w + len);
	uv_buf_t buf;

	assert_non_null(w);
	memcpy(w->bytes, bytes, len);
	buf = uv_buf_init((char *)w->bytes, (unsigned)len);
	assert_int_equal(uv_write(&w->req, (uv_stream_t *)&r->tcp, &buf, 1, raw_write_cb), 0);
}

/* Frame env; with the session's MAC once there is one. *ret_len bytes in
 * a malloc'd buffer. */
static uint8_t *raw_frame(struct raw *r, const Backstay__Envelope *env, size_t *ret_len)
{
	uint8_t *frame, *out;
	size_t len;

	assert_int_equal(proto_frame_encode(env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), 0);
	if (!r->session) {
		*ret_len = len;
		return frame;
	}
	out = realloc(frame, len + CNS__TR_MAC_LEN);
	assert_non_null(out);
	assert_int_equal(cns__tr_mac_sign(&r->send, out, len, out + len), 0);
	*ret_len = len + CNS__TR_MAC_LEN;
	return out;
}

static void raw_send(struct raw *r, const Backstay__Envelope *env)
{
	size_t len;
	uint8_t *bytes = raw_frame(r, env, &len);

	raw_write(r, bytes, len);
	free(bytes);
}

static void raw_session(struct raw *r)
{
	assert_int_equal(cns__tr_mac_init(&r->send, r->hs.key_c2s), 0);
	assert_int_equal(cns__tr_mac_init(&r->recv, r->hs.key_s2c), 0);
	r->dec.trailer_len = CNS__TR_MAC_LEN;
	r->dec.verify = cns__tr_mac_verify;
	r->dec.verify_data = &r->recv;
	r->session = true;
	r->handshaking = false;
}

static void raw_on_env(struct raw *r, const Backstay__Envelope *env)
{
	struct cns__tr_hs_out out;

	r->frames_in++;
	if (env->body_case == BACKSTAY__ENVELOPE__BODY_GOODBYE)
		snprintf(r->goodbye, sizeof r->goodbye, "%s", env->goodbye->reason);
	if (env->body_case == BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE) {
		r->resps++;
		r->resp_id = env->ctl_response->id;
		r->resp_code = env->ctl_response->code;
	}
	if (!r->handshaking)
		return;
	r->hs_rc = cns__tr_hs_step(&r->hs, env, &out);
	if (out.env.body_case != BACKSTAY__ENVELOPE__BODY__NOT_SET)
		raw_send(r, &out.env);
	if (r->hs.state == CNS__TR_HS_DONE)
		raw_session(r);
	else
		r->handshaking = false;
}

static void raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char mem[65536];

	(void)h;
	(void)size;
	*buf = uv_buf_init(mem, sizeof mem);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct raw *r = s->data;
	Backstay__Envelope *env;

	if (n < 0) {
		r->eof = true;
		uv_read_stop(s);
		return;
	}
	if (proto_decoder_feed(&r->dec, buf->base, (size_t)n) < 0)
		return;
	while (proto_decoder_next(&r->dec, &env) == 0) {
		raw_on_env(r, env);
		backstay__envelope__free_unpacked(env, NULL);
	}
}

static void raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;

	assert_int_equal(status, 0);
	r->connected = true;
	assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
}

static void raw_open(struct raw *r, int port)
{
	struct sockaddr_in addr;

	memset(r, 0, sizeof *r);
	proto_decoder_init(&r->dec, PROTO_MAX_FRAME_DEFAULT);
	uv_tcp_init(&loop, &r->tcp);
	r->tcp.data = r;
	r->connect.data = r;
	assert_int_equal(uv_ip4_addr(HOST, port, &addr), 0);
	assert_int_equal(
		uv_tcp_connect(&r->connect, &r->tcp, (struct sockaddr *)&addr, raw_connected), 0);
	RUN_UNTIL(r->connected);
}

/* Start the real client handshake as node `id` in `role`; `mutate` may
 * change the Hello before it leaves. */
static void raw_hello(struct raw *r, const struct bs_secrets *s, uint64_t id, Backstay__Role role,
		      void (*mutate)(Backstay__Hello *h))
{
	static const uint8_t nonce[CNS__TR_NONCE_LEN] = {9, 9, 9};
	struct cns__tr_hs_out out;

	memcpy(r->id.cluster_id, s->cluster_id, BS_CLUSTER_ID_LEN);
	memcpy(r->id.secret, s->cluster_secret, BS_CLUSTER_SECRET_LEN);
	r->id.node_id = id;
	snprintf(r->id.address, sizeof r->id.address, "raw");
	r->id.min_version = r->id.max_version = r->version ? r->version : CNS__TR_PROTOCOL_VERSION;
	cns__tr_hs_client(&r->hs, &r->id, role, 0, nonce, &out);
	if (mutate != NULL)
		mutate(&out.u.hello);
	r->handshaking = true;
	raw_send(r, &out.env);
}

static void raw_closed(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static void raw_close(struct raw *r)
{
	uv_close((uv_handle_t *)&r->tcp, raw_closed);
	RUN_UNTIL(r->closed);
	proto_decoder_close(&r->dec);
	cns__tr_mac_close(&r->send);
	cns__tr_mac_close(&r->recv);
}

/* ------------------------------------------------------------------------
 * Two nodes, both dialing: one connection, frames both ways.
 */

static bool settled(const struct node *a, uint64_t a_id, const struct node *b, uint64_t b_id)
{
	return cns__tr_peer_conns(&a->t, b_id) == 1 && cns__tr_peer_conns(&b->t, a_id) == 1 &&
	       cns__tr_conn_count(&a->t) == 1 && cns__tr_conn_count(&b->t) == 1;
}

static void test_pair_exchanges_frames(void **state)
{
	struct node a, b;
	int a_local, a_remote, b_local, b_remote;
	bool a_out, b_out;
	unsigned i;

	(void)state;
	node_start(&a, 1, &good_secrets);
	node_start(&b, 2, &good_secrets);
	/* Both dial at once: the connection node 1 initiated must win. */
	assert_int_equal(cns__tr_set_peer(&a.t, 2, b.address), 0);
	assert_int_equal(cns__tr_set_peer(&b.t, 1, a.address), 0);
	RUN_UNTIL(settled(&a, 1, &b, 2));
	assert_int_equal(cns__tr_peer_ports(&a.t, 2, &a_local, &a_remote, &a_out), 0);
	assert_int_equal(cns__tr_peer_ports(&b.t, 1, &b_local, &b_remote, &b_out), 0);
	assert_true(a_out);
	assert_false(b_out);
	assert_int_equal(a_local, b_remote);
	assert_int_equal(a_remote, b_local);
	assert_int_equal(a.ups - a.downs, 1);
	assert_int_equal(b.ups - b.downs, 1);

	for (i = 1; i <= 50; i++) {
		send_vote(&a, 2, 1, i, 0);
		send_vote(&b, 1, 2, 100 + i, 0);
	}
	RUN_UNTIL(a.raft_in == 50 && b.raft_in == 50);
	assert_int_equal(b.raft_from, 1);
	assert_int_equal(b.raft_term, 50);
	assert_int_equal(a.raft_from, 2);
	assert_int_equal(a.raft_term, 150);
	assert_int_equal(a.t.stats.sender_mismatch + b.t.stats.sender_mismatch, 0);
	assert_int_equal(a.t.stats.closed[CNS__TR_REASON_BAD_MAC], 0);
	send_vote(&a, 3, 1, 1, -ENOTCONN);
	assert_int_equal(a.t.stats.send_not_connected, 1);

	node_stop(&a);
	node_stop(&b);
}

/* A frame larger than the read buffer and the handshake limit arrives in
 * many reads and passes its MAC. */
static void test_large_frame(void **state)
{
	struct node a, b;
	size_t len = 3u << 20;
	uint8_t *data = malloc(len);

	(void)state;
	assert_non_null(data);
	memset(data, 0xab, len);
	node_start(&a, 1, &good_secrets);
	node_start(&b, 2, &good_secrets);
	assert_int_equal(cns__tr_set_peer(&a.t, 2, b.address), 0);
	RUN_UNTIL(cns__tr_peer_conns(&b.t, 1) == 1 && cns__tr_peer_conns(&a.t, 2) == 1);
	assert_int_equal(send_snapshot(&a, 2, 1, data, len), 0);
	RUN_UNTIL(b.raft_in == 1);
	assert_int_equal(b.raft_bytes, len);
	free(data);
	node_stop(&a);
	node_stop(&b);
}

/* Over the write-queue limit frames are dropped, and the MAC sequence of
 * the ones that were sent stays in step. */
static void test_write_queue_limit(void **state)
{
	struct cns__tr_config cfg = node_config(1, &good_secrets);
	struct node a, b;
	size_t len = 256u << 10;
	uint8_t *data = calloc(1, len);
	unsigned i, sent = 0;

	(void)state;
	assert_non_null(data);
	cfg.write_queue_max = 1;
	node_start_cfg(&a, &cfg, 0);
	node_start(&b, 2, &good_secrets);
	assert_int_equal(cns__tr_set_peer(&a.t, 2, b.address), 0);
	RUN_UNTIL(cns__tr_peer_conns(&b.t, 1) == 1 && cns__tr_peer_conns(&a.t, 2) == 1);
	for (i = 0; i < 200; i++) {
		int rc = send_snapshot(&a, 2, 1, data, len);

		assert_true(rc == 0 || rc == -ENOBUFS);
		sent += rc == 0;
	}
	assert_true(a.t.stats.send_queue_full > 0);
	assert_int_equal(sent + a.t.stats.send_queue_full, 200);
	RUN_UNTIL(b.raft_in == sent);
	assert_int_equal(b.t.stats.closed[CNS__TR_REASON_BAD_MAC], 0);
	free(data);
	node_stop(&a);
	node_stop(&b);
}

/* ------------------------------------------------------------------------
 * Refused handshakes; the server carries on.
 */

struct dial_result {
	bool done;
	int status;
	uint32_t version;
	char errmsg[256];
};

static void dial_cb(struct cns__tr_dial *req, int status)
{
	struct dial_result *res = req->data;

	res->done = true;
	res->status = status;
	res->version = req->version;
	snprintf(res->errmsg, sizeof res->errmsg, "%s", status == 0 ? "" : req->errmsg);
}

/* Dial server `to` as a ctl client configured by cfg; return the result. */
static struct dial_result dial_with(const struct cns__tr_config *cfg, const struct node *to,
				    Backstay__Role role)
{
	struct node c;
	struct cns__tr_dial req = {0};
	struct dial_result res = {0};

	node_start_cfg(&c, cfg, -1);
	req.data = &res;
	assert_int_equal(cns__tr_dial(&c.t, &req, to->address, role, dial_cb), 0);
	RUN_UNTIL(res.done);
	node_stop(&c);
	return res;
}

/* A correct node still gets in. */
static void check_server_fine(struct node *s)
{
	struct cns__tr_config cfg = node_config(0, &good_secrets);
	struct dial_result res = dial_with(&cfg, s, BACKSTAY__ROLE__CTL);

	assert_int_equal(res.status, 0);
}

static void test_wrong_secret(void **state)
{
	struct bs_secrets bad = good_secrets;
	struct cns__tr_config cfg = node_config(0, &bad);
	struct node s, peer;
	struct dial_result res;

	(void)state;
	bad.cluster_secret[31] ^= 1;
	node_start(&s, 1, &good_secrets);
	res = dial_with(&cfg, &s, BACKSTAY__ROLE__CTL);
	assert_int_equal(res.status, -EACCES);
	assert_non_null(strstr(res.errmsg, "authentication failed"));
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_AUTH] == 1);
	/* A peer with the wrong secret keeps failing; a good one gets in. */
	node_start(&peer, 2, &bad);
	assert_int_equal(cns__tr_set_peer(&peer.t, 1, s.address), 0);
	RUN_UNTIL(peer.t.stats.closed[CNS__TR_REASON_AUTH] >= 2 &&
		  s.t.stats.closed[CNS__TR_REASON_AUTH] >= 3);
	assert_int_equal(cns__tr_peer_conns(&s.t, 2), 0);
	node_stop(&peer);
	node_start(&peer, 2, &good_secrets);
	assert_int_equal(cns__tr_set_peer(&peer.t, 1, s.address), 0);
	RUN_UNTIL(cns__tr_peer_conns(&s.t, 2) == 1);
	check_server_fine(&s);
	node_stop(&peer);
	node_stop(&s);
}

static void test_wrong_cluster_id(void **state)
{
	struct bs_secrets bad_id = good_secrets, bad_secret = good_secrets;
	struct cns__tr_config cfg_id = node_config(0, &bad_id);
	struct cns__tr_config cfg_secret = node_config(0, &bad_secret);
	struct dial_result by_id, by_secret;
	struct node s;

	(void)state;
	bad_id.cluster_id[0] ^= 0x80;
	bad_secret.cluster_secret[0] ^= 0x80;
	node_start(&s, 1, &good_secrets);
	by_id = dial_with(&cfg_id, &s, BACKSTAY__ROLE__CTL);
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_AUTH] == 1);
	by_secret = dial_with(&cfg_secret, &s, BACKSTAY__ROLE__CTL);
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_AUTH] == 2);
	/* The client cannot tell which credential was wrong. */
	assert_int_equal(by_id.status, -EACCES);
	assert_int_equal(by_secret.status, -EACCES);
	assert_string_equal(by_id.errmsg, by_secret.errmsg);
	check_server_fine(&s);
	node_stop(&s);
}

static void test_versions(void **state)
{
	struct cns__tr_config cfg = node_config(0, &good_secrets);
	struct cns__tr_config scfg = node_config(1, &good_secrets);
	struct dial_result res;
	struct node s, s2;

	(void)state;
	scfg.max_version = 1; /* a node of the first release: speaks 1..1 */
	node_start_cfg(&s, &scfg, 0);
	cfg.min_version = 2;
	cfg.max_version = 3;
	res = dial_with(&cfg, &s, BACKSTAY__ROLE__CTL);
	assert_int_equal(res.status, -EPROTONOSUPPORT);
	assert_non_null(strstr(res.errmsg, "server speaks 1..1"));
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_VERSION] == 1);
	/* A newer client with an overlapping range runs at the old version. */
	cfg.min_version = 1;
	res = dial_with(&cfg, &s, BACKSTAY__ROLE__CTL);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.version, 1);
	/* Two new ones pick the highest common version. */
	scfg.min_version = 1;
	scfg.max_version = 2;
	node_start_cfg(&s2, &scfg, 0);
	res = dial_with(&cfg, &s2, BACKSTAY__ROLE__CTL);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.version, 2);
	/* This build speaks 1..CNS__TR_PROTOCOL_VERSION by default. */
	cfg = node_config(0, &good_secrets);
	cfg.min_version = cfg.max_version = 1;
	res = dial_with(&cfg, &s2, BACKSTAY__ROLE__CTL);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.version, 1);
	node_stop(&s2);
	node_stop(&s);
}

static void role_seven(Backstay__Hello *h)
{
	h->role = (Backstay__Role)7;
}

static void test_unknown_role(void **state)
{
	struct node s;
	struct raw r;

	(void)state;
	node_start(&s, 1, &good_secrets);
	raw_open(&r, s.port);
	raw_hello(&r, &good_secrets, 2, BACKSTAY__ROLE__PEER, role_seven);
	RUN_UNTIL(r.eof);
	assert_string_equal(r.goodbye, "unknown role");
	assert_int_equal(s.t.stats.closed[CNS__TR_REASON_ROLE], 1);
	raw_close(&r);
	check_server_fine(&s);
	node_stop(&s);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

/* Raw bytes at a fresh connection: the server closes it for `reason`. */
static void expect_raw_refused(struct node *s, const void *bytes, size_t len, bool half_close,
			       enum cns__tr_reason reason)
{
	uint64_t before = s->t.stats.closed[reason];
	struct raw r;

	raw_open(&r, s->port);
	if (len > 0)
		raw_write(&r, bytes, len);
	if (half_close) {
		uv_shutdown_t *req = malloc(sizeof *req);

		assert_int_equal(uv_shutdown(req, (uv_stream_t *)&r.tcp, shutdown_cb), 0);
	}
	RUN_UNTIL(s->t.stats.closed[reason] >= before + 1 && r.eof);
	raw_close(&r);
	check_server_fine(s);
}

static void test_garbage(void **state)
{
	static const uint8_t garbage[] = {0, 0, 0, 6, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa};
	static const uint8_t oversized[] = {0, 0x10, 0, 0}; /* 1 MiB before authentication */
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Hello h = BACKSTAY__HELLO__INIT;
	uint8_t *hello;
	size_t hello_len;
	struct node s;

	(void)state;
	node_start(&s, 1, &good_secrets);
	expect_raw_refused(&s, garbage, sizeof garbage, false, CNS__TR_REASON_MALFORMED);
	expect_raw_refused(&s, oversized, sizeof oversized, false, CNS__TR_REASON_TOO_BIG);
	expect_raw_refused(&s, http, strlen(http), false, CNS__TR_REASON_TOO_BIG);
	/* A Hello cut in half, then end of stream. */
	h.role = BACKSTAY__ROLE__CTL;
	h.address = (char *)"truncated";
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	assert_int_equal(proto_frame_encode(&env, 4096, &hello, &hello_len), 0);
	expect_raw_refused(&s, hello, hello_len / 2, true, CNS__TR_REASON_TRUNCATED);
	free(hello);
	/* A connection that closes at once is only an end of stream. */
	expect_raw_refused(&s, NULL, 0, true, CNS__TR_REASON_EOF);
	node_stop(&s);
}

static void test_handshake_timeout(void **state)
{
	struct cns__tr_config cfg = node_config(1, &good_secrets);
	struct node s;
	struct raw r;

	(void)state;
	cfg.handshake_timeout_ms = 100;
	node_start_cfg(&s, &cfg, 0);
	raw_open(&r, s.port); /* and says nothing */
	RUN_UNTIL(r.eof);
	assert_string_equal(r.goodbye, "handshake timeout");
	assert_int_equal(s.t.stats.closed[CNS__TR_REASON_TIMEOUT], 1);
	raw_close(&r);
	check_server_fine(&s);
	node_stop(&s);
}

/* ------------------------------------------------------------------------
 * After the handshake: tampered, replayed, dropped frames.
 */

static void vote_env(Backstay__Envelope *env, Backstay__RaftMessage *raft,
		     Backstay__RequestVote *rv, uint64_t from, uint64_t term)
{
	backstay__envelope__init(env);
	backstay__raft_message__init(raft);
	backstay__request_vote__init(rv);
	rv->term = term;
	rv->candidate_id = from;
	raft->server_id = from;
	raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE;
	raft->request_vote = rv;
	env->body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env->raft = raft;
}

/* A raw peer (node 2) in session with s (node 1). */
/* A raw PEER node 2 speaking only `version` (0 = this build's). */
static void raw_peer_v(struct raw *r, struct node *s, uint32_t version)
{
	raw_open(r, s->port);
	r->version = version;
	raw_hello(r, &good_secrets, 2, BACKSTAY__ROLE__PEER, NULL);
	RUN_UNTIL(r->session && cns__tr_peer_conns(&s->t, 2) == 1);
}

static void raw_peer(struct raw *r, struct node *s)
{
	raw_peer_v(r, s, 0);
}

enum misdeed { TAMPER, REPLAY, DROP };

static void misbehave(enum misdeed what)
{
	Backstay__Envelope env;
	Backstay__RaftMessage raft;
	Backstay__RequestVote rv;
	struct node s;
	struct raw r;
	uint8_t *f1, *f2;
	size_t l1, l2;

	node_start(&s, 1, &good_secrets);
	raw_peer(&r, &s);
	vote_env(&env, &raft, &rv, 2, 5);
	f1 = raw_frame(&r, &env, &l1); /* seq 0 */
	rv.term = 6;
	f2 = raw_frame(&r, &env, &l2); /* seq 1 */
	raw_write(&r, f1, l1);
	RUN_UNTIL(s.raft_in == 1);
	if (what == TAMPER) {
		f2[PROTO_FRAME_HEADER_LEN + 3] ^= 0x01;
		raw_write(&r, f2, l2);
	} else if (what == REPLAY) {
		raw_write(&r, f1, l1);
	} else {
		free(f2);
		rv.term = 7;
		f2 = raw_frame(&r, &env, &l2); /* seq 2, after a dropped seq 1 */
		raw_write(&r, f2, l2);
	}
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_BAD_MAC] == 1 && r.eof);
	assert_int_equal(s.raft_in, 1);
	assert_string_equal(r.goodbye, "bad frame MAC"); /* itself MAC'd: it verified */
	free(f1);
	free(f2);
	raw_close(&r);
	check_server_fine(&s);
	node_stop(&s);
}

static void test_tampered_frame(void **state)
{
	(void)state;
	misbehave(TAMPER);
}

static void test_replayed_frame(void **state)
{
	(void)state;
	misbehave(REPLAY);
}

static void test_dropped_frame(void **state)
{
	(void)state;
	misbehave(DROP);
}

/* A peer speaking for another node is dropped and counted; a frame its
 * role may not send at its version (a ctl response at version 1) closes
 * the connection. */
static void test_peer_misdeeds(void **state)
{
	Backstay__Envelope env;
	Backstay__RaftMessage raft;
	Backstay__RequestVote rv;
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	struct node s;
	struct raw r;

	(void)state;
	node_start(&s, 1, &good_secrets);
	raw_peer_v(&r, &s, 1);
	vote_env(&env, &raft, &rv, 3, 5); /* claims to be node 3 */
	raw_send(&r, &env);
	RUN_UNTIL(s.t.stats.sender_mismatch == 1);
	assert_int_equal(s.raft_in, 0);
	vote_env(&env, &raft, &rv, 2, 5);
	raw_send(&r, &env);
	RUN_UNTIL(s.raft_in == 1);
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &resp;
	raw_send(&r, &env);
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_PROTOCOL] == 1 && r.eof);
	assert_string_equal(r.goodbye, "protocol error");
	assert_int_equal(s.ctl_resp, 0);
	raw_close(&r);
	node_stop(&s);
}

/* From version 2 ctl frames cross PEER connections both ways: a response
 * reaches on_ctl_response (whether anyone waits for it is the owner's
 * business), a request reaches on_ctl as the peer's and is answered on the
 * same connection; a handshake frame is still a protocol error. */
static void test_peer_ctl_frames(void **state)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	struct node s;
	struct raw r;

	(void)state;
	node_start(&s, 1, &good_secrets);
	raw_peer(&r, &s);
	resp.id = 77;
	resp.code = -3;
	resp.message = (char *)"late";
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &resp;
	raw_send(&r, &env);
	RUN_UNTIL(s.ctl_resp == 1);
	assert_int_equal(s.ctl_resp_id, 77);
	assert_int_equal(s.ctl_code, -3);
	assert_string_equal(s.ctl_message, "late");
	req.id = 78;
	req.verb = (char *)"peer.ping";
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	raw_send(&r, &env);
	RUN_UNTIL(r.resps == 1);
	assert_int_equal(s.ctl_role, BACKSTAY__ROLE__PEER);
	assert_int_equal(s.ctl_node, 2);
	assert_string_equal(s.ctl_verb, "peer.ping");
	assert_int_equal(r.resp_id, 78);
	assert_int_equal(r.resp_code, 7);
	assert_int_equal(cns__tr_peer_conns(&s.t, 2), 1);
	assert_int_equal(s.t.stats.closed[CNS__TR_REASON_PROTOCOL], 0);
	/* A handshake frame is not a session frame. */
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_PROOF;
	env.hello_proof = &(Backstay__HelloProof)BACKSTAY__HELLO_PROOF__INIT;
	raw_send(&r, &env);
	RUN_UNTIL(s.t.stats.closed[CNS__TR_REASON_PROTOCOL] == 1 && r.eof);
	raw_close(&r);
	node_stop(&s);
}

/* ------------------------------------------------------------------------
 * Reconnecting, ctl, peers.
 */

static void test_reconnect_after_restart(void **state)
{
	struct cns__tr_config cfg = node_config(2, &good_secrets);
	struct node a, b;
	uint64_t dialed;
	int port;

	(void)state;
	node_start(&a, 1, &good_secrets);
	node_start(&b, 2, &good_secrets); /* b does not dial: a must come back */
	port = b.port;
	assert_int_equal(cns__tr_set_peer(&a.t, 2, b.address), 0);
	RUN_UNTIL(cns__tr_peer_conns(&a.t, 2) == 1 && a.ups == 1);
	node_stop(&b);
	RUN_UNTIL(a.downs == 1);
	dialed = a.t.stats.dialed;
	RUN_UNTIL(a.t.stats.dialed >= dialed + 2); /* retrying, refused */
	node_start_cfg(&b, &cfg, port);
	RUN_UNTIL(cns__tr_peer_conns(&a.t, 2) == 1 && cns__tr_peer_conns(&b.t, 1) == 1);
	assert_int_equal(a.ups, 2);
	send_vote(&a, 2, 1, 9, 0);
	RUN_UNTIL(b.raft_in == 1);
	cns__tr_remove_peer(&a.t, 2);
	RUN_UNTIL(cns__tr_conn_count(&a.t) == 0 && cns__tr_conn_count(&b.t) == 0);
	assert_int_equal(b.t.stats.closed[CNS__TR_REASON_REMOVED], 1);
	node_stop(&a);
	node_stop(&b);
}

static void test_ctl_and_join(void **state)
{
	struct cns__tr_config cfg = node_config(0, &good_secrets);
	struct cns__tr_dial req = {0};
	struct dial_result res = {0};
	Backstay__CtlRequest creq = BACKSTAY__CTL_REQUEST__INIT;
	struct node s, c;

	(void)state;
	node_start(&s, 1, &good_secrets);
	node_start_cfg(&c, &cfg, -1);
	req.data = &res;
	assert_int_equal(cns__tr_dial(&c.t, &req, s.address, BACKSTAY__ROLE__CTL, dial_cb), 0);
	RUN_UNTIL(res.done);
	assert_int_equal(res.status, 0);
	assert_int_equal(req.server_id, 1);
	creq.id = 42;
	creq.verb = (char *)"status";
	assert_int_equal(cns__tr_request(&c.t, req.conn_id, &creq), 0);
	RUN_UNTIL(c.ctl_resp == 1);
	assert_int_equal(c.ctl_code, 7);
	assert_int_equal(s.ctl_role, BACKSTAY__ROLE__CTL);
	assert_int_equal(s.ctl_node, 0);
	assert_string_equal(s.ctl_verb, "status");
	assert_int_equal(cns__tr_request(&c.t, req.conn_id + 1000, &creq), -ENOTCONN);
	cns__tr_hangup(&c.t, req.conn_id);
	RUN_UNTIL(s.closed_cbs == 1);
	assert_int_equal(s.closed_reason, CNS__TR_REASON_EOF);
	assert_int_equal(c.closed_cbs, 0); /* the owner hung up itself */
	assert_int_equal(cns__tr_reply(&s.t, s.ctl_conn,
				       &(Backstay__CtlResponse)BACKSTAY__CTL_RESPONSE__INIT),
			 -ENOTCONN);
	node_stop(&c);

	/* A joining node, id 5. */
	cfg.self_id = 5;
	memset(&res, 0, sizeof res);
	node_start_cfg(&c, &cfg, -1);
	assert_int_equal(cns__tr_dial(&c.t, &req, s.address, BACKSTAY__ROLE__JOIN, dial_cb), 0);
	RUN_UNTIL(res.done);
	assert_int_equal(res.status, 0);
	creq.verb = (char *)"join";
	assert_int_equal(cns__tr_request(&c.t, req.conn_id, &creq), 0);
	RUN_UNTIL(c.ctl_resp == 1);
	assert_int_equal(s.ctl_role, BACKSTAY__ROLE__JOIN);
	assert_int_equal(s.ctl_node, 5);
	/* The server going away tells the client. */
	node_stop(&s);
	RUN_UNTIL(c.closed_cbs == 1);
	node_stop(&c);
}

/* Two nodes of this build: ctl requests both ways on their one PEER
 * connection, each answered on it; on_closed names that connection when
 * it ends. A node of the first release (version 1) gets none: the request
 * is refused before anything is sent. */
static void test_peer_requests(void **state)
{
	struct cns__tr_config old = node_config(3, &good_secrets);
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	uint64_t a_conn = 0, b_conn = 0;
	struct node a, b, c;
	unsigned closed;

	(void)state;
	node_start(&a, 1, &good_secrets);
	node_start(&b, 2, &good_secrets);
	assert_int_equal(cns__tr_peer_request(&a.t, 2, &req, &a_conn), -ENOTCONN);
	assert_int_equal(cns__tr_set_peer(&a.t, 2, b.address), 0);
	assert_int_equal(cns__tr_set_peer(&b.t, 1, a.address), 0);
	RUN_UNTIL(settled(&a, 1, &b, 2));
	req.id = 11;
	req.verb = (char *)"peer.one";
	assert_int_equal(cns__tr_peer_request(&a.t, 2, &req, &a_conn), 0);
	RUN_UNTIL(a.ctl_resp == 1);
	assert_int_equal(b.ctl_role, BACKSTAY__ROLE__PEER);
	assert_int_equal(b.ctl_node, 1);
	assert_int_equal(b.ctl_req_id, 11);
	assert_string_equal(b.ctl_verb, "peer.one");
	assert_int_equal(a.ctl_resp_conn, a_conn);
	assert_int_equal(a.ctl_resp_id, 11);
	assert_int_equal(a.ctl_code, 7);
	assert_string_equal(a.ctl_message, "done");
	/* The other way, on the same connection. */
	req.id = 12;
	req.verb = (char *)"peer.two";
	assert_int_equal(cns__tr_peer_request(&b.t, 1, &req, &b_conn), 0);
	RUN_UNTIL(b.ctl_resp == 1);
	assert_int_equal(b_conn, b.ctl_conn);
	assert_int_equal(a.ctl_node, 2);
	assert_string_equal(a.ctl_verb, "peer.two");
	assert_int_equal(b.ctl_resp_id, 12);
	assert_int_equal(cns__tr_conn_count(&a.t), 1);
	assert_int_equal(cns__tr_conn_count(&b.t), 1);
	/* Its end reaches on_closed, with its id (the duplicate connection
	 * closed while settling may have been counted already). */
	closed = a.closed_cbs;
	node_stop(&b);
	RUN_UNTIL(a.closed_cbs == closed + 1);
	assert_int_equal(a.closed_conn, a_conn);
	assert_int_equal(cns__tr_reply(&a.t, a.ctl_conn,
				       &(Backstay__CtlResponse)BACKSTAY__CTL_RESPONSE__INIT),
			 -ENOTCONN);

	old.max_version = 1;
	node_start_cfg(&c, &old, 0);
	assert_int_equal(cns__tr_set_peer(&a.t, 3, c.address), 0);
	RUN_UNTIL(cns__tr_peer_conns(&a.t, 3) == 1 && cns__tr_peer_conns(&c.t, 1) == 1);
	assert_int_equal(cns__tr_peer_request(&a.t, 3, &req, &a_conn), -EPROTONOSUPPORT);
	send_vote(&a, 3, 1, 9, 0); /* Raft still flows */
	RUN_UNTIL(c.raft_in == 1);
	assert_int_equal(c.ctl_in, 0);
	assert_int_equal(c.t.stats.closed[CNS__TR_REASON_PROTOCOL], 0);
	node_stop(&c);
	node_stop(&a);
}

/* A dial still in progress when its transport closes ends in -ECANCELED,
 * after cns__tr_close returned (asynchronously). */
static void test_dial_cancelled(void **state)
{
	struct cns__tr_config cfg = node_config(0, &good_secrets);
	struct cns__tr_dial req = {0};
	struct dial_result res = {0};
	struct node s, c;

	(void)state;
	node_start(&s, 1, &good_secrets);
	node_start_cfg(&c, &cfg, -1);
	req.data = &res;
	assert_int_equal(cns__tr_dial(&c.t, &req, s.address, BACKSTAY__ROLE__CTL, dial_cb), 0);
	cns__tr_close(&c.t, node_closed);
	assert_false(res.done);
	RUN_UNTIL(!c.open);
	assert_true(res.done);
	assert_int_equal(res.status, -ECANCELED);
	assert_int_equal(cns__tr_dial(&c.t, &req, s.address, BACKSTAY__ROLE__CTL, dial_cb),
			 -ESHUTDOWN);
	node_stop(&s);
}

static void test_bad_arguments(void **state)
{
	struct cns__tr_config cfg = node_config(1, &good_secrets);
	struct cns__tr_dial req = {0};
	struct node n;

	(void)state;
	cfg.min_version = 3;
	cfg.max_version = 2;
	assert_int_equal(cns__tr_init(&n.t, &loop, vclock, &cfg, NULL, NULL), -EINVAL);
	cfg = node_config(1, NULL);
	assert_int_equal(cns__tr_init(&n.t, &loop, vclock, &cfg, NULL, NULL), -EINVAL);
	node_start(&n, 1, &good_secrets);
	assert_int_equal(cns__tr_listen(&n.t, HOST, 0), -EALREADY);
	assert_int_equal(cns__tr_set_peer(&n.t, 1, "127.0.0.1:1"), -EINVAL); /* self */
	assert_int_equal(cns__tr_set_peer(&n.t, 0, "127.0.0.1:1"), -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "localhost:1"), -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "127.0.0.1"), -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "127.0.0.1:0"), -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "127.0.0.1:65536"), -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "[::1]:2380x"), -EINVAL);
	assert_int_equal(cns__tr_dial(&n.t, &req, "127.0.0.1:1", BACKSTAY__ROLE__PEER, dial_cb),
			 -EINVAL);
	assert_int_equal(cns__tr_set_peer(&n.t, 2, "127.0.0.1:1"), 0); /* refused: retries */
	RUN_UNTIL(n.t.stats.dialed >= 2);
	cns__tr_remove_peer(&n.t, 2);
	cns__tr_remove_peer(&n.t, 9);
	node_stop(&n);
}

/* ------------------------------------------------------------------------
 * The handshake state machine alone, both sides in memory.
 */

static void identity(struct cns__tr_identity *id, uint64_t node, const struct bs_secrets *s)
{
	memset(id, 0, sizeof *id);
	memcpy(id->cluster_id, s->cluster_id, BS_CLUSTER_ID_LEN);
	memcpy(id->secret, s->cluster_secret, BS_CLUSTER_SECRET_LEN);
	id->node_id = node;
	snprintf(id->address, sizeof id->address, "10.0.0.%llu:2380", (unsigned long long)node);
	id->min_version = id->max_version = 1;
}

/* Pass `out` through pack/unpack, as the wire would. */
static Backstay__Envelope *carry(const struct cns__tr_hs_out *out)
{
	uint8_t buf[4096];
	size_t len = backstay__envelope__pack(&out->env, buf);

	return backstay__envelope__unpack(NULL, len, buf);
}

static void test_handshake_pure(void **state)
{
	static const uint8_t nc[CNS__TR_NONCE_LEN] = {1}, ns[CNS__TR_NONCE_LEN] = {2};
	struct cns__tr_identity ci, si;
	struct cns__tr_hs c, s;
	struct cns__tr_hs_out out;
	Backstay__Envelope *env;

	(void)state;
	identity(&ci, 2, &good_secrets);
	identity(&si, 1, &good_secrets);
	cns__tr_hs_client(&c, &ci, BACKSTAY__ROLE__PEER, 1, nc, &out);
	cns__tr_hs_server(&s, &si, ns);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&s, env, &out), 0);
	backstay__envelope__free_unpacked(env, NULL);
	assert_int_equal(s.state, CNS__TR_HS_SERVER_WAIT_PROOF);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&c, env, &out), 0);
	backstay__envelope__free_unpacked(env, NULL);
	assert_int_equal(c.state, CNS__TR_HS_DONE);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&s, env, &out), 0);
	assert_int_equal(s.state, CNS__TR_HS_DONE);
	assert_int_equal(out.env.body_case, BACKSTAY__ENVELOPE__BODY__NOT_SET);
	/* Same keys on both sides, different per direction. */
	assert_memory_equal(c.key_c2s, s.key_c2s, CNS__TR_KEY_LEN);
	assert_memory_equal(c.key_s2c, s.key_s2c, CNS__TR_KEY_LEN);
	assert_memory_not_equal(c.key_c2s, c.key_s2c, CNS__TR_KEY_LEN);
	assert_int_equal(s.client_id, 2);
	assert_string_equal(s.client_address, "10.0.0.2:2380");
	/* Terminal states refuse more input. */
	assert_int_equal(cns__tr_hs_step(&s, env, &out), -EPROTO);
	backstay__envelope__free_unpacked(env, NULL);
}

/* A client that dialed node 3 but reached node 1 refuses it. */
static void test_handshake_wrong_node(void **state)
{
	static const uint8_t nc[CNS__TR_NONCE_LEN] = {1}, ns[CNS__TR_NONCE_LEN] = {2};
	struct cns__tr_identity ci, si;
	struct cns__tr_hs c, s;
	struct cns__tr_hs_out out;
	Backstay__Envelope *env;

	(void)state;
	identity(&ci, 2, &good_secrets);
	identity(&si, 1, &good_secrets);
	cns__tr_hs_client(&c, &ci, BACKSTAY__ROLE__PEER, 3, nc, &out);
	cns__tr_hs_server(&s, &si, ns);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&s, env, &out), 0);
	backstay__envelope__free_unpacked(env, NULL);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&c, env, &out), -EPROTO);
	backstay__envelope__free_unpacked(env, NULL);
	assert_int_equal(c.reason, CNS__TR_REASON_WRONG_NODE);
	assert_string_equal(out.u.goodbye.reason, "unexpected node id");
	/* A PEER Hello with our own id or id 0 is malformed. */
	cns__tr_hs_client(&c, &si, BACKSTAY__ROLE__PEER, 0, nc, &out);
	cns__tr_hs_server(&s, &si, ns);
	env = carry(&out);
	assert_int_equal(cns__tr_hs_step(&s, env, &out), -EPROTO);
	backstay__envelope__free_unpacked(env, NULL);
	assert_int_equal(s.reason, CNS__TR_REASON_PROTOCOL);
}

/* The per-frame MAC is HMAC-SHA256(K, seq (u64 BE) || frame), frame after
 * frame, with the key set once: checked against a one-shot HMAC. */
static void test_mac_known_answer(void **state)
{
	const char *frames[] = {"first frame", "", "a third, longer frame of some bytes"};
	uint8_t key[CNS__TR_KEY_LEN], got[CNS__TR_MAC_LEN], want[CNS__TR_MAC_LEN], buf[64];
	struct cns__tr_mac m;
	size_t i, len, want_len;

	(void)state;
	for (i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(cns__tr_mac_init(&m, key), 0);
	for (i = 0; i < 3; i++) {
		len = strlen(frames[i]);
		memset(buf, 0, 8);
		buf[7] = (uint8_t)i; /* seq, big-endian */
		memcpy(buf + 8, frames[i], len);
		assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key, buf,
					  8 + len, want, sizeof want, &want_len));
		assert_int_equal(cns__tr_mac_sign(&m, (const uint8_t *)frames[i], len, got), 0);
		assert_memory_equal(got, want, CNS__TR_MAC_LEN);
	}
	cns__tr_mac_close(&m);
}

int bs_test_transport(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_known_answer),
		cmocka_unit_test(test_handshake_pure),
		cmocka_unit_test(test_handshake_wrong_node),
		cmocka_unit_test_setup_teardown(test_pair_exchanges_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_queue_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_cluster_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_misdeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_ctl_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_and_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dial_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
