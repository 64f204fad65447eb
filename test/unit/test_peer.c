/*
 * Peer calls (cns_peer_call) between the nodes of a 3-node cluster in one
 * process (node_fixture.h): answered both ways with exact contents, the
 * answer's id the caller's whatever the answering side wrote, one answer
 * per request, a silent receiver (timeout, then a late answer that is
 * dropped without harm), a stopped receiver (-ENOTCONN, before sending and
 * while waiting), and the caller closing (-ECANCELED). Real clock; every
 * wait is bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node_fixture.h"

/* What the nodes' on_ctl saw, and how they answer. */
struct peers {
	unsigned requests;
	unsigned at; /* index of the node that got the last request */
	uint64_t conn_id, from, id;
	Backstay__Role role;
	char verb[32], args[64], payload[32];
	bool silent;	 /* keep the request (conn_id) unanswered */
	bool wrong_id;	 /* answer with id 0 */
	int first_reply; /* cns_ctl_reply's result for the last answer */
	int again_reply; /* ... and for a second answer to the same request */
};

static void on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		   const Backstay__CtlRequest *req)
{
	struct node_ctx *x = data;
	struct peers *p = x->c->data;
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	char message[64];
	size_t i;

	p->requests++;
	p->at = x->index;
	p->conn_id = conn_id;
	p->from = node_id;
	p->id = req->id;
	p->role = role;
	snprintf(p->verb, sizeof p->verb, "%s", req->verb);
	p->args[0] = '\0';
	for (i = 0; i < req->n_args; i++)
		snprintf(p->args + strlen(p->args), sizeof p->args - strlen(p->args), "%s%s",
			 i ? "," : "", req->args[i]);
	snprintf(p->payload, sizeof p->payload, "%.*s", (int)req->payload.len,
		 (const char *)req->payload.data);
	if (p->silent)
		return;
	snprintf(message, sizeof message, "node %u: %s from %llu", x->index + 1, req->verb,
		 (unsigned long long)node_id);
	resp.id = p->wrong_id ? 0 : req->id;
	resp.code = (int32_t)(100 + x->index);
	resp.message = message;
	resp.payload = req->payload;
	p->first_reply = cns_ctl_reply(x->c->nodes[x->index], conn_id, &resp);
	p->again_reply = cns_ctl_reply(x->c->nodes[x->index], conn_id, &resp);
}

struct pcall {
	struct cns_peer_req req;
	unsigned runs;
	int status;
	uint64_t id;
	int32_t code;
	char message[64], payload[32];
	bool resp_null;
};

static void pcall_cb(struct cns_peer_req *req, int status, const Backstay__CtlResponse *resp)
{
	struct pcall *pc = req->data;

	pc->runs++;
	pc->status = status;
	pc->resp_null = resp == NULL;
	if (resp == NULL)
		return;
	pc->id = resp->id;
	pc->code = resp->code;
	snprintf(pc->message, sizeof pc->message, "%s", resp->message);
	snprintf(pc->payload, sizeof pc->payload, "%.*s", (int)resp->payload.len,
		 (const char *)resp->payload.data);
}

static bool pcall_done(struct cluster *c, void *arg)
{
	(void)c;
	return ((struct pcall *)arg)->runs > 0;
}

/* Call node `to` from node `from` and wait for the callback. */
static void call(struct cluster *c, unsigned from, unsigned to, uint64_t id, const char *verb,
		 unsigned timeout_ms, struct pcall *pc)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	char *args[] = {(char *)"a", (char *)"b c"};

	memset(pc, 0, sizeof *pc);
	pc->req.data = pc;
	req.id = id;
	req.verb = (char *)verb;
	req.args = args;
	req.n_args = 2;
	req.payload.data = (uint8_t *)"xyz";
	req.payload.len = 3;
	assert_int_equal(cns_peer_call(c->nodes[from], &pc->req, c->members[to].id, &req,
				       timeout_ms, pcall_cb),
			 0);
	assert_int_equal(pc->runs, 0); /* never from inside the call */
	assert_true(run_until(c, pcall_done, pc));
}

static bool time_reached(struct cluster *c, void *arg)
{
	(void)c;
	return bs_clock_now_ms(bs_clock_real()) >= *(uint64_t *)arg;
}

/* Call until the connection between the two is up (every 20 ms, for at
 * most 10 s): a node dials its peers on its own schedule, and -ENOTCONN
 * asks the caller to call again. */
static void call_connected(struct cluster *c, unsigned from, unsigned to, uint64_t id,
			   const char *verb, struct pcall *pc)
{
	unsigned tries = 0;
	uint64_t next;

	for (;;) {
		call(c, from, to, id, verb, 0, pc);
		if (pc->status != -ENOTCONN || ++tries == 500)
			return;
		next = bs_clock_now_ms(bs_clock_real()) + 20;
		assert_true(run_until(c, time_reached, &next));
	}
}

static void check_answer(const struct pcall *pc, unsigned to, uint64_t id, const char *verb,
			 uint64_t from_id)
{
	char message[64];

	snprintf(message, sizeof message, "node %u: %s from %llu", to + 1, verb,
		 (unsigned long long)from_id);
	assert_int_equal(pc->runs, 1);
	assert_int_equal(pc->status, 0);
	assert_int_equal(pc->id, id);
	assert_int_equal(pc->code, 100 + to);
	assert_string_equal(pc->message, message);
	assert_string_equal(pc->payload, "xyz");
}

static void check_request(const struct peers *p, unsigned at, uint64_t from_id, const char *verb)
{
	assert_int_equal(p->at, at);
	assert_int_equal(p->role, BACKSTAY__ROLE__PEER);
	assert_int_equal(p->from, from_id);
	assert_string_equal(p->verb, verb);
	assert_string_equal(p->args, "a,b c");
	assert_string_equal(p->payload, "xyz");
	assert_int_equal(p->first_reply, 0);
	assert_int_equal(p->again_reply, -ENOTCONN); /* one answer per request */
}

static void start(struct cluster *c, struct peers *p, unsigned *leader, unsigned *f1, unsigned *f2)
{
	memset(p, 0, sizeof *p);
	cluster_init_ctl(c, 3, 3, bs_clock_real(), on_ctl, p);
	assert_true(run_until(c, has_leader, NULL));
	*leader = (unsigned)leader_of(c);
	*f1 = (*leader + 1) % 3;
	*f2 = (*leader + 2) % 3;
}

/* Leader to follower, follower to leader, follower to follower. */
static void calls_both_ways(void **state)
{
	struct cluster c;
	struct peers p;
	struct pcall pc;
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	unsigned l, f1, f2;
	uint64_t until;

	(void)state;
	start(&c, &p, &l, &f1, &f2);
	call_connected(&c, l, f1, 501, "peer.down", &pc);
	check_answer(&pc, f1, 501, "peer.down", c.members[l].id);
	check_request(&p, f1, c.members[l].id, "peer.down");

	call_connected(&c, f1, l, 502, "peer.up", &pc);
	check_answer(&pc, l, 502, "peer.up", c.members[f1].id);
	check_request(&p, l, c.members[f1].id, "peer.up");

	/* The answering side wrote id 0: the caller still gets its own. */
	p.wrong_id = true;
	call_connected(&c, f2, f1, 503, "peer.side", &pc);
	check_answer(&pc, f1, 503, "peer.side", c.members[f2].id);
	check_request(&p, f1, c.members[f2].id, "peer.side");
	assert_int_equal(p.requests, 3);

	/* Refused calls never run their callback. */
	memset(&pc, 0, sizeof pc);
	pc.req.data = &pc;
	assert_int_equal(cns_peer_call(c.nodes[l], &pc.req, 99, &req, 0, pcall_cb), -ENOENT);
	assert_int_equal(cns_peer_call(c.nodes[l], &pc.req, c.members[l].id, &req, 0, pcall_cb),
			 -ENOENT);
	assert_int_equal(cns_peer_call(c.nodes[l], &pc.req, c.members[f1].id, NULL, 0, pcall_cb),
			 -EINVAL);
	until = bs_clock_now_ms(bs_clock_real()) + 200; /* a stray callback's chance */
	assert_true(run_until(&c, time_reached, &until));
	assert_int_equal(pc.runs, 0);
	cluster_free(&c);
}

static bool got_request(struct cluster *c, void *arg)
{
	return ((struct peers *)c->data)->requests >= *(unsigned *)arg;
}

/* A receiver that never answers: -ETIMEDOUT after timeout_ms. Its answer
 * when it comes is dropped by the caller, which carries on: the next call
 * on the same connection is answered. */
static void silent_receiver_times_out(void **state)
{
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	struct cluster c;
	struct peers p;
	struct pcall slow, after;
	uint64_t started, token;
	unsigned l, f1, f2;

	(void)state;
	start(&c, &p, &l, &f1, &f2);
	call_connected(&c, l, f1, 1, "peer.warm", &after); /* the connection is up */
	p.silent = true;
	started = bs_clock_now_ms(bs_clock_real());
	call(&c, l, f1, 601, "peer.slow", 300, &slow);
	assert_int_equal(slow.runs, 1);
	assert_int_equal(slow.status, -ETIMEDOUT);
	assert_true(slow.resp_null);
	assert_true(bs_clock_now_ms(bs_clock_real()) - started >= 300);
	assert_int_equal(p.requests, 2);
	assert_int_equal(p.at, f1);
	assert_string_equal(p.verb, "peer.slow");

	token = p.conn_id; /* answered late: the caller drops it */
	resp.id = p.id;
	resp.code = 5;
	assert_int_equal(cns_ctl_reply(c.nodes[f1], token, &resp), 0);
	assert_int_equal(cns_ctl_reply(c.nodes[f1], token, &resp), -ENOTCONN);
	p.silent = false;
	call(&c, l, f1, 602, "peer.after", 0, &after);
	check_answer(&after, f1, 602, "peer.after", c.members[l].id);
	assert_int_equal(slow.runs, 1);
	cluster_free(&c);
}

/* A stopped receiver: -ENOTCONN, whether it was gone before the call or
 * goes while the call waits. */
static void stopped_receiver_not_connected(void **state)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	struct cluster c;
	struct peers p;
	struct pcall pc;
	unsigned l, f1, f2, three = 3;

	(void)state;
	start(&c, &p, &l, &f1, &f2);
	call_connected(&c, l, f1, 1, "peer.warm", &pc);
	call_connected(&c, l, f2, 2, "peer.warm", &pc);
	p.silent = true;
	memset(&pc, 0, sizeof pc);
	pc.req.data = &pc;
	req.id = 701;
	req.verb = (char *)"peer.wait";
	assert_int_equal(cns_peer_call(c.nodes[l], &pc.req, c.members[f2].id, &req, 0, pcall_cb),
			 0);
	assert_true(run_until(&c, got_request, &three));
	close_node(&c, f2);
	assert_true(run_until(&c, pcall_done, &pc));
	assert_int_equal(pc.runs, 1);
	assert_int_equal(pc.status, -ENOTCONN);

	call(&c, l, f2, 702, "peer.gone", 0, &pc);
	assert_int_equal(pc.runs, 1);
	assert_int_equal(pc.status, -ENOTCONN);
	assert_true(pc.resp_null);
	assert_int_equal(p.requests, 3);
	cluster_free(&c);
}

struct close_watch {
	unsigned closed;
	const struct pcall *pc;
	unsigned runs_then; /* the call's callbacks when the close callback ran */
};

static void watch_closed(void *data)
{
	struct close_watch *w = data;

	w->closed++;
	w->runs_then = w->pc->runs;
}

/* The caller closes while its call waits: -ECANCELED, before the close
 * callback; a call on a closing node is refused. */
static void close_cancels_calls(void **state)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	struct cluster c;
	struct peers p;
	struct pcall pc, refused;
	struct close_watch w = {.pc = &pc};
	unsigned l, f1, f2, spins = 0, two = 2;

	(void)state;
	start(&c, &p, &l, &f1, &f2);
	call_connected(&c, f1, l, 1, "peer.warm", &pc);
	p.silent = true;
	memset(&pc, 0, sizeof pc);
	pc.req.data = &pc;
	req.id = 801;
	req.verb = (char *)"peer.never";
	assert_int_equal(cns_peer_call(c.nodes[f1], &pc.req, c.members[l].id, &req, 0, pcall_cb),
			 0);
	assert_true(run_until(&c, got_request, &two));
	cns_node_close(c.nodes[f1], watch_closed, &w);
	memset(&refused, 0, sizeof refused);
	refused.req.data = &refused;
	assert_int_equal(
		cns_peer_call(c.nodes[f1], &refused.req, c.members[l].id, &req, 0, pcall_cb),
		-ESHUTDOWN);
	assert_int_equal(pc.runs, 0); /* not from inside cns_node_close */
	while (w.closed == 0 && spins++ < 100000)
		uv_run(&c.loop, UV_RUN_ONCE);
	assert_int_equal(w.closed, 1);
	c.nodes[f1] = NULL;
	assert_int_equal(w.runs_then, 1);
	assert_int_equal(pc.runs, 1);
	assert_int_equal(pc.status, -ECANCELED);
	assert_true(pc.resp_null);
	assert_int_equal(refused.runs, 0);
	cluster_free(&c);
}

static int quiet(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_WARN);
	return 0;
}

static int loud(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_INFO);
	return 0;
}

int bs_test_peer(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_both_ways),
		cmocka_unit_test(silent_receiver_times_out),
		cmocka_unit_test(stopped_receiver_not_connected),
		cmocka_unit_test(close_cancels_calls),
	};

	return cmocka_run_group_tests_name("peer", tests, quiet, loud);
}
