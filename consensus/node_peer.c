/*
 * Peer calls: one ctl request to another member over the authenticated
 * PEER connection, one answer back (cns_peer_call), and the other side of
 * it, requests from peers handed to config.on_ctl and answered with
 * cns_ctl_reply (protocol version 2, CNS__TR_VERSION_PEER_CTL).
 *
 * Outgoing: each call gets a wire id of this node's (unique while the node
 * runs; the caller's own id goes back into the answer) and remembers the
 * connection it left on. An answer is matched by (wire id, connection): a
 * connection that ends fails its calls with -ENOTCONN, since nothing sent
 * on it can be answered on another. A call not answered by its deadline
 * fails with -ETIMEDOUT, checked on the node's tick; an answer that finds
 * nobody waiting (it came too late) is logged and dropped.
 *
 * Incoming: a peer's request is handed to config.on_ctl with a conn_id of
 * its own (a token with NODE_PEER_TOKEN set, never a transport connection
 * id) that names the connection and the request; cns_ctl_reply with it
 * answers once, on that connection, with the request's id. A connection
 * that ends drops the tokens of its requests.
 *
 * Completions other than answers are queued and run from the node's tick,
 * which node__soon() fires at once: a callback never runs inside the call
 * that submitted it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

#define PEER_DEFAULT_TIMEOUT_MS 10000
#define PEER_INBOUND_MAX 1024		    /* requests from peers not yet answered */
#define NODE_PEER_TOKEN (UINT64_C(1) << 63) /* marks a peer request's conn_id */

/* A peer's request handed to config.on_ctl, waiting for its answer. */
struct node_inbound {
	uint64_t token;	  /* the conn_id on_ctl was given */
	uint64_t conn_id; /* the transport connection it came on */
	uint64_t req_id;  /* the id the answer must carry */
	struct node_inbound *next;
};

/* ---- outgoing calls ------------------------------------------------------------ */

static bool is_member(struct cns_node *n, uint64_t id)
{
	const struct raft_configuration *conf = cns__drv_configuration(n->drv);
	unsigned i;

	for (i = 0; i < conf->n; i++)
		if (conf->servers[i].id == id)
			return true;
	return false;
}

static void calls_unlink(struct cns_node *n, struct cns_peer_req *req)
{
	struct cns_peer_req **pp;

	for (pp = &n->peer_calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			return;
		}
}

/* Queue req's failure (it is in no list); its callback runs soon. */
static void call_complete(struct cns_node *n, struct cns_peer_req *req, int status)
{
	req->status = status;
	req->next = NULL;
	if (n->peer_done_tail != NULL)
		n->peer_done_tail->next = req;
	else
		n->peer_done_head = req;
	n->peer_done_tail = req;
	node__soon(n);
}

int cns_peer_call(struct cns_node *n, struct cns_peer_req *req, uint64_t peer_id,
		  const Backstay__CtlRequest *req_msg, unsigned timeout_ms, cns_peer_cb cb)
{
	Backstay__CtlRequest wire;
	void *data = req->data;
	int rv;

	if (n->closing)
		return -ESHUTDOWN;
	if (req_msg == NULL || cb == NULL)
		return -EINVAL;
	if (peer_id == 0 || peer_id == n->cfg.id || !is_member(n, peer_id))
		return -ENOENT;
	memset(req, 0, sizeof *req);
	req->data = data;
	req->node = n;
	req->cb = cb;
	req->peer_id = peer_id;
	req->id = req_msg->id;
	req->wire_id = ++n->peer_seq;
	req->deadline_ms = node__now(n) + (timeout_ms ? timeout_ms : PEER_DEFAULT_TIMEOUT_MS);
	wire = *req_msg; /* shallow: packed before the send returns */
	wire.id = req->wire_id;
	rv = cns__tr_peer_request(&n->tr, peer_id, &wire, &req->conn_id);
	if (rv == -ENOTCONN || rv == -EPROTONOSUPPORT) {
		call_complete(n, req, rv);
		return 0;
	}
	if (rv != 0)
		return rv;
	req->next = n->peer_calls;
	n->peer_calls = req;
	return 0;
}

void node__peer_response(struct cns_node *n, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	Backstay__CtlResponse answer;
	struct cns_peer_req *req;

	for (req = n->peer_calls; req != NULL; req = req->next)
		if (req->wire_id == resp->id && req->conn_id == conn_id)
			break;
	if (req == NULL) {
		bs_info("consensus", "an answer to peer request %llu nobody waits for: ignored",
			(unsigned long long)resp->id);
		return;
	}
	calls_unlink(n, req);
	answer = *resp;
	answer.id = req->id;
	req->cb(req, 0, &answer); /* may free req */
}

void node__peer_tick(struct cns_node *n, uint64_t now)
{
	struct cns_peer_req **pp = &n->peer_calls, *req;

	while ((req = *pp) != NULL) {
		if (req->deadline_ms > now) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		call_complete(n, req, -ETIMEDOUT);
	}
}

void node__peer_dispatch(struct cns_node *n)
{
	struct cns_peer_req *req;

	while ((req = n->peer_done_head) != NULL) {
		n->peer_done_head = req->next;
		if (n->peer_done_head == NULL)
			n->peer_done_tail = NULL;
		req->cb(req, req->status, NULL); /* may free req */
	}
}

void node__peer_fail_all(struct cns_node *n, int status)
{
	struct cns_peer_req *req;

	while ((req = n->peer_calls) != NULL) {
		n->peer_calls = req->next;
		call_complete(n, req, status);
	}
}

/* ---- incoming requests ---------------------------------------------------------- */

static void answer_now(struct cns_node *n, uint64_t conn_id, uint64_t id, int code,
		       const char *message)
{
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;

	resp.id = id;
	resp.code = code;
	resp.message = (char *)message;
	cns__tr_reply(&n->tr, conn_id, &resp); /* best effort: the caller times out */
}

void node__peer_request(struct cns_node *n, uint64_t conn_id, uint64_t from,
			const Backstay__CtlRequest *req)
{
	struct node_inbound *in;

	if (n->cfg.on_ctl == NULL) {
		answer_now(n, conn_id, req->id, -EOPNOTSUPP, "this node takes no peer requests");
		return;
	}
	in = n->n_inbound < PEER_INBOUND_MAX ? malloc(sizeof *in) : NULL;
	if (in == NULL) {
		answer_now(n, conn_id, req->id, -EBUSY, "too many peer requests in progress");
		return;
	}
	in->token = NODE_PEER_TOKEN | ++n->inbound_seq;
	in->conn_id = conn_id;
	in->req_id = req->id;
	in->next = n->peer_inbound;
	n->peer_inbound = in;
	n->n_inbound++;
	n->cfg.on_ctl(n->cfg.data, in->token, BACKSTAY__ROLE__PEER, from, req);
}

bool node__is_peer_token(uint64_t conn_id)
{
	return (conn_id & NODE_PEER_TOKEN) != 0;
}

/* Unlink and return the inbound request with token (NULL: none). */
static struct node_inbound *inbound_take(struct cns_node *n, uint64_t token)
{
	struct node_inbound **pp, *in;

	for (pp = &n->peer_inbound; (in = *pp) != NULL; pp = &in->next)
		if (in->token == token) {
			*pp = in->next;
			n->n_inbound--;
			return in;
		}
	return NULL;
}

int node__peer_reply(struct cns_node *n, uint64_t token, const Backstay__CtlResponse *resp)
{
	struct node_inbound *in = inbound_take(n, token);
	Backstay__CtlResponse answer;
	int rv;

	if (in == NULL)
		return -ENOTCONN; /* answered already, or its connection ended */
	answer = *resp;
	answer.id = in->req_id;
	rv = cns__tr_reply(&n->tr, in->conn_id, &answer);
	free(in);
	return rv;
}

/* ---- connections and close ---------------------------------------------------------- */

void node__peer_conn_closed(struct cns_node *n, uint64_t conn_id)
{
	struct cns_peer_req **pp = &n->peer_calls, *req;
	struct node_inbound **ip = &n->peer_inbound, *in;

	while ((req = *pp) != NULL) {
		if (req->conn_id != conn_id) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		call_complete(n, req, -ENOTCONN);
	}
	while ((in = *ip) != NULL) {
		if (in->conn_id != conn_id) {
			ip = &in->next;
			continue;
		}
		*ip = in->next;
		n->n_inbound--;
		free(in);
	}
}

void node__peer_free(struct cns_node *n)
{
	struct node_inbound *in;

	while ((in = n->peer_inbound) != NULL) {
		n->peer_inbound = in->next;
		free(in);
	}
	n->n_inbound = 0;
}
