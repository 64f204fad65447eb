/* Internals of the node runtime (node*.c): the pieces of consensus/ wired
 * onto one uv loop. */
#ifndef BS_CONSENSUS_NODE_INTERNAL_H
#define BS_CONSENSUS_NODE_INTERNAL_H

#include "consensus.h"
#include "driver.h"
#include "fsm.h"
#include "lease.h"
#include "store.h"
#include "transport.h"
#include "wire.h"

enum { NODE_REQ_PROPOSE = 1, NODE_REQ_READ, NODE_REQ_KEEPALIVE, NODE_REQ_MEMBER };

struct node_watch;
struct node_inbound;

/* A membership change in progress (one at a time). */
struct node_change {
	struct cns_req *req;
	struct cns_member member;
	int phase; /* NODE_CHANGE_* */
	bool removing;
	uint64_t index; /* of the submitted configuration entry */
	uint64_t deadline_ms;
};

enum { NODE_CHANGE_ADDED = 1, NODE_CHANGE_CATCHING_UP, NODE_CHANGE_PROMOTED };

struct cns_node {
	uv_loop_t *loop;
	struct cns_config cfg;
	char *address, *data_dir, *listen_host;
	struct bs_secrets secrets;
	struct cns__store *store;
	struct cns__writer writer;
	struct cns__tr tr;
	struct cns__drv *drv;
	struct cns__fsm *fsm;
	uv_timer_t raft_timer; /* the driver's timeout */
	uv_timer_t tick;       /* lease clocks, request deadlines, membership */
	bool closing;
	bool tr_open, writer_open, timers_open;
	unsigned open; /* handles and sub-objects still to close */
	void (*close_cb)(void *data);
	void *close_data;
	char errmsg[256];

	struct cns_req *done_head, *done_tail; /* completed, callbacks not yet run */
	struct cns_req *proposals;	       /* waiting for their index to be applied */
	struct cns_req *reads_next;	       /* waiting for a barrier not yet submitted */
	struct cns_req *reads_wait;	       /* waiting for barrier_index */
	uint64_t barrier_index, barrier_term;
	bool barrier_pending;

	struct cns__lease_table leases; /* leader only, armed while ready */
	/* The lease clocks' base (fsm_lease.c): node clock times. */
	uint64_t boot_ms;	    /* this node's start */
	uint64_t leader_contact_ms; /* last AppendEntries/InstallSnapshot/TimeoutNow
				     * received, or the end of this node's own
				     * leadership; 0: none since boot */
	bool leading;		    /* led at the last look (note_leading) */
	uint64_t lease_base_ms;	    /* the base the table was armed with */
	uint64_t lease_base_term;   /* ... in this term (0: never armed) */

	struct node_change change;
	struct node_watch *watches;
	struct {
		uint64_t from, term, last_index;
		uint8_t *buf;
		size_t len, cap;
	} rx; /* a snapshot arriving in chunks (node_snap.c) */
	uint64_t applied_conf_index;
	struct raft_configuration peers; /* what the transport was last told */
	enum cns_role last_role;
	uint64_t last_term, last_leader;

	/* Peer calls (node_peer.c). */
	struct cns_peer_req *peer_calls;		      /* sent, waiting for an answer */
	struct cns_peer_req *peer_done_head, *peer_done_tail; /* failed, callbacks to run */
	uint64_t peer_seq;				      /* the last wire id used */
	struct node_inbound *peer_inbound;		      /* peers' requests to answer */
	unsigned n_inbound;
	uint64_t inbound_seq;
};

/* node_req.c. Completions are queued (node__complete) and their callbacks
 * run from node__dispatch(), called after every driver event, outside
 * raft_step(): a callback may submit again. */
void node__requests_applied(struct cns_node *n, uint64_t index, const struct cns__entry *e,
			    Backstay__KvResult **result);
void node__dispatch(struct cns_node *n);
void node__requests_fail_all(struct cns_node *n, int status);
void node__requests_tick(struct cns_node *n, uint64_t now);
void node__leases_tick(struct cns_node *n, uint64_t now);
void node__leases_state(struct cns_node *n, uint64_t now);
void node__lease_granted(struct cns_node *n, uint64_t id, int64_t ttl_ms, uint64_t now);
void node__change_tick(struct cns_node *n, uint64_t now);
void node__watches_free(struct cns_node *n);
/* Queue req's completion; result (may be NULL) is taken. */
void node__complete(struct cns_req *req, int status, Backstay__KvResult *result);

/* node_snap.c */
bool node__snapshot_needs_chunks(const struct raft_message *m);
void node__send_chunked(struct cns_node *n, uint64_t to, struct cns__wire_msg *w);
bool node__snapshot_chunk(struct cns_node *n, uint64_t from, const Backstay__RaftMessage *pb,
			  Backstay__RaftMessage *msg_store, Backstay__InstallSnapshot *is_store);
void node__snapshot_rx_reset(struct cns_node *n);

/* node_peer.c: the transport's PEER ctl frames and connection ends, the
 * tick's deadlines, the queued failures' callbacks, close. */
void node__peer_request(struct cns_node *n, uint64_t conn_id, uint64_t from,
			const Backstay__CtlRequest *req);
void node__peer_response(struct cns_node *n, uint64_t conn_id, const Backstay__CtlResponse *resp);
void node__peer_conn_closed(struct cns_node *n, uint64_t conn_id);
void node__peer_tick(struct cns_node *n, uint64_t now);
void node__peer_dispatch(struct cns_node *n);
void node__peer_fail_all(struct cns_node *n, int status);
void node__peer_free(struct cns_node *n);
/* A conn_id given to on_ctl for a peer's request; answering it. */
bool node__is_peer_token(uint64_t conn_id);
int node__peer_reply(struct cns_node *n, uint64_t token, const Backstay__CtlResponse *resp);

/* node.c */
uint64_t node__now(struct cns_node *n);
/* Run the tick (and so the queued callbacks) on the next loop iteration. */
void node__soon(struct cns_node *n);
void node__update_peers(struct cns_node *n, const struct raft_configuration *conf);
bool node__is_ready(struct cns_node *n);

#endif
