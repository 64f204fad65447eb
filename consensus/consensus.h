/*
 * consensus/ — backstay's replicated state, replacing etcd: one Raft node
 * (libraft 0.22's raft_step() core) persisted in LMDB, talking to its peers
 * over authenticated TCP, applying commands to a KV state machine with
 * revisions, compare-and-swap and leases.
 *
 * Prefix cns_. Threads: everything on the uv loop given to cns_node_start,
 * except LMDB writes, which run on the libuv thread pool one batch at a time.
 *
 * Requests follow one contract (CONVENTIONS §6): the caller owns the
 * struct cns_req; if the submitting call fails, cb never runs; otherwise it
 * runs exactly once, on the loop thread, never from inside the submitting
 * call; -ECANCELED when the node closes first.
 */
#ifndef BS_CONSENSUS_H
#define BS_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "backstay.pb-c.h"
#include "base.h"
#include "kv.pb-c.h"

#define CNS_ADDRESS_MAX 256

struct cns_member {
	uint64_t id;		       /* > 0, unique in the cluster */
	char address[CNS_ADDRESS_MAX]; /* "ip:port" or "[ipv6]:port" of its Raft/ctl port */
	bool voter;		       /* false: replicated to, not counted (joining) */
};

struct cns_node;

struct cns_config {
	uint64_t id;		 /* this node's id */
	const char *address;	 /* "ip:port" peers and tools use to reach it */
	const char *listen_host; /* numeric address to listen on */
	int listen_port;	 /* 0 = any free port (tests): see cns_node_port */
	const char *data_dir;	 /* LMDB environment */
	const struct bs_secrets *secrets;
	struct bs_clock *clock; /* real in production; must outlive the node */
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	size_t max_frame;
	/* A request arrived: from a ctl tool (role CTL or JOIN) on this
	 * node's port, or from another member (role PEER, node_id its id,
	 * see cns_peer_call). Answer it with cns_ctl_reply(), now or later;
	 * conn_id is opaque. May be NULL (peers then get -EOPNOTSUPP). */
	void (*on_ctl)(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		       const Backstay__CtlRequest *req);
	/* Role, term or leader changed, or the node failed. May be NULL. */
	void (*on_state)(void *data);
	void *data;
};

/*
 * Make data_dir the store of a new cluster whose first voters are members
 * (every one of them must be bootstrapped with the same list). -EEXIST when
 * data_dir already holds Raft state; 0 or negative errno with errmsg.
 */
int cns_bootstrap(const char *data_dir, const struct cns_member *members, unsigned n, char *errmsg,
		  size_t errmsg_size);

/*
 * Quorum-loss recovery, offline (the node is stopped): append to data_dir's
 * log a configuration holding only `members` (normally this node alone),
 * in the stored term, so that the node elects itself on start. The other
 * nodes must never come back with their old data; they rejoin. 0 or
 * negative errno with errmsg.
 */
int cns_recover(const char *data_dir, const struct cns_member *members, unsigned n, char *errmsg,
		size_t errmsg_size);

/* Open the store, load it, listen and start. 0 or negative errno with
 * errmsg ("data_dir: lmdb: ...", "listen 127.0.0.1:2380: ..."). */
int cns_node_start(uv_loop_t *loop, const struct cns_config *config, struct cns_node **ret_node,
		   char *errmsg, size_t errmsg_size);
/* Close asynchronously: pending requests complete with -ECANCELED, the
 * transport and the writer close (a write in flight finishes), then cb. */
void cns_node_close(struct cns_node *n, void (*cb)(void *data), void *data);

/* The port listened on. */
int cns_node_port(const struct cns_node *n);

/* ---- status ------------------------------------------------------------ */

enum cns_role { CNS_FOLLOWER, CNS_CANDIDATE, CNS_LEADER, CNS_FAILED };

struct cns_status {
	enum cns_role role;
	bool ready; /* leader whose own-term barrier is applied */
	uint64_t id, term, leader_id;
	char leader_address[CNS_ADDRESS_MAX];
	uint64_t commit_index, last_applied, last_index;
	uint64_t revision; /* of the KV state machine */
	bool disk_failing; /* the last write failed: new entries are refused */
	/* When (node clock) this node last heard from a leader: received an
	 * AppendEntries (heartbeats too), InstallSnapshot or TimeoutNow, or
	 * stopped leading itself; 0: not since it started. */
	uint64_t leader_contact_ms;
	/* A ready leader: when (node clock) the lease clocks of leases from
	 * earlier terms started, the later of leader_contact_ms before its
	 * election and its start; 0 otherwise. */
	uint64_t lease_base_ms;
	unsigned n_members;
	struct cns_member members[16];
	char errmsg[256]; /* why the node failed, when role is CNS_FAILED */
};

void cns_node_status(struct cns_node *n, struct cns_status *ret_status);
const char *cns_role_name(enum cns_role role);

/* ---- requests ------------------------------------------------------------ */

struct cns_req;
/* result is the state machine's answer (its code says whether a compare
 * failed), valid during the call only; NULL when status != 0. */
typedef void (*cns_req_cb)(struct cns_req *req, int status, const Backstay__KvResult *result);

struct cns_req {
	void *data; /* the caller's */
	/* Private. */
	cns_req_cb cb;
	struct cns_node *node;
	int kind;
	uint64_t index, term, arrived_ms, deadline_ms, lease;
	Backstay__KvResult *result;
	const void *key;
	size_t key_len, limit;
	int status;
	struct cns_req *next;
};

/*
 * Replicate cmd (a KvCommand: put, delete, lease grant/revoke) and apply it.
 * Leader only: BS_E_NOT_LEADER elsewhere (cns_node_status names the
 * leader). cb gets 0 and the result once the command is applied; or
 * BS_E_NOT_LEADER when leadership moved and the command was not applied;
 * or -ETIMEDOUT when its fate is unknown after timeout_ms (0 = 10 s): the
 * command may still be applied later, so the caller must re-read.
 */
int cns_propose(struct cns_node *n, struct cns_req *req, const Backstay__KvCommand *cmd,
		unsigned timeout_ms, cns_req_cb cb);

/*
 * Linearizable read of every key under prefix (a key itself is a prefix),
 * at most limit keys (0 = all): leader only; answered once a barrier
 * submitted after the call is applied, so it sees every write acknowledged
 * before the call. Reads waiting at the same time share one barrier.
 */
int cns_read(struct cns_node *n, struct cns_req *req, const void *prefix, size_t len, size_t limit,
	     cns_req_cb cb);

/* A stale local read for status displays (no Raft round): *ret_result is
 * the caller's (backstay__kv_result__free_unpacked). Any node. */
int cns_read_local(struct cns_node *n, const void *prefix, size_t len, size_t limit,
		   Backstay__KvResult **ret_result);

/*
 * Keep lease id alive: leader only. The arrival time t is recorded, then,
 * once a barrier submitted after it is applied (this node still led after
 * t), the lease's deadline becomes at least t + ttl and cb gets 0 with
 * result->ttl_ms = the lease's TTL. -ENOENT (in status) when the lease does
 * not exist or has expired. The holder that sent the keep-alive at its own
 * time s <= t may count its lease valid until s + ttl, less its clock-rate
 * margin: a new leader restarts the lease's clock from the last time it
 * heard from a leader (or its own start), which is after s (see
 * consensus/fsm_lease.c); so a lease whose holder stops sending expires
 * about ttl after its last keep-alive, whoever leads by then.
 */
int cns_lease_keepalive(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb);

/* Time left on lease id by this leader's clock: 0 or BS_E_NOT_LEADER /
 * -ENOENT. */
int cns_lease_time_left(struct cns_node *n, uint64_t id, uint64_t *ret_ms);

/* ---- watches -------------------------------------------------------------- */

/* A change to a watched key, borrowed for the call. PUT: kv after, prev
 * before (NULL when created). DELETE: kv is the tombstone (key and the
 * deleting mod_revision), prev the key before. */
struct cns_watch_event {
	bool deleted;
	const Backstay__KeyValue *kv;
	const Backstay__KeyValue *prev;
	uint64_t revision;
};
typedef void (*cns_watch_cb)(void *data, const struct cns_watch_event *event);

/* Watch keys under prefix as this node applies them (any node; a local
 * subscriber). A snapshot install changes keys without events: watchers
 * should re-read when cns_status.last_applied jumps. 0 and an id, or
 * -ENOMEM. cb may unwatch. */
int cns_watch(struct cns_node *n, const void *prefix, size_t len, cns_watch_cb cb, void *data,
	      uint64_t *ret_id);
int cns_unwatch(struct cns_node *n, uint64_t id);

/* ---- membership ---------------------------------------------------------- */

/* Add a member as a non-voter, catch it up, promote it to voter: cb gets 0
 * once it votes. Leader only; -EBUSY while another change runs; -EEXIST if
 * the id or address is already a member. */
int cns_add_member(struct cns_node *n, struct cns_req *req, const struct cns_member *m,
		   cns_req_cb cb);
/* Catch up standby id and promote it to voter: what cns_add_member does
 * after the add, for a standby whose add did not finish (leadership moved
 * while it was catching up). cb gets 0 once it votes, -ETIMEDOUT when it
 * did not catch up in time (it stays a standby). Leader only; -EBUSY while
 * another change runs; -ENOENT if id is not a member, -EINVAL if it votes
 * already. */
int cns_promote_member(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb);
/* Remove member id (may be this node: it steps down once committed). */
int cns_remove_member(struct cns_node *n, struct cns_req *req, uint64_t id, cns_req_cb cb);
/* Hand leadership to voter id (0 = the most up-to-date voter). Leader
 * only. 0 means the transfer is under way, not done: it is pursued (the
 * target first gets the whole log, a lost hand-over is tried again) for
 * three election timeouts, during which this leader accepts no new
 * entries (BS_E_NOT_LEADER); watch the status for the new leader. Asking
 * again (same id, or 0) while one is pending changes nothing; a new id
 * replaces the target and restarts the clock. -ENOENT when id is not
 * another voter (or there is none). */
int cns_transfer_leadership(struct cns_node *n, uint64_t id);

/* ---- ctl ------------------------------------------------------------------ */

/* Answer a request received through config.on_ctl, on the connection it
 * came on; resp is borrowed for the call. A peer's request (role PEER) is
 * answered once, and the answer carries the request's id whatever
 * resp->id says. 0 or -ENOTCONN (the tool or peer went away, or the
 * peer's request was answered already), or the transport's refusal
 * (-ENOBUFS, BS_E_FRAME_TOO_BIG, -ENOMEM). */
int cns_ctl_reply(struct cns_node *n, uint64_t conn_id, const Backstay__CtlResponse *resp);

/* ---- peer calls ----------------------------------------------------------- */

struct cns_peer_req;
/* status 0: resp is the peer's answer, its id the caller's request id,
 * borrowed for the call; otherwise resp is NULL. */
typedef void (*cns_peer_cb)(struct cns_peer_req *req, int status,
			    const Backstay__CtlResponse *resp);

struct cns_peer_req {
	void *data; /* the caller's */
	/* Private. */
	struct cns_node *node;
	cns_peer_cb cb;
	uint64_t peer_id, id, wire_id, conn_id, deadline_ms;
	int status;
	struct cns_peer_req *next;
};

/*
 * Send req_msg (a CtlRequest, borrowed for the call: it is sent before the
 * call returns) to member peer_id over the authenticated peer connection
 * and wait for its one answer. On the peer it arrives through
 * config.on_ctl with role BACKSTAY__ROLE__PEER and node_id = this node's
 * id, and is answered there with cns_ctl_reply. Ids: the node sends one of
 * its own and puts req_msg->id back into the answer.
 *
 * If the call fails, cb never runs: -ENOENT (peer_id is not a member, or is
 * this node), -EINVAL, -ESHUTDOWN (closing), -ENOMEM, -ENOBUFS (the
 * connection's write queue is full), BS_E_FRAME_TOO_BIG. Otherwise cb runs
 * exactly once, on the loop thread, never from inside this call: 0 and the
 * answer; -ETIMEDOUT when none came within timeout_ms (0 = 10 s, on the
 * node's clock, checked every 50 ms); -ENOTCONN when there is no
 * connection to the peer, or the one the request left on ended before the
 * answer (the caller may call again); -EPROTONOSUPPORT when the peer runs a
 * build without peer calls (protocol version 1, during a rolling upgrade);
 * -ECANCELED when this node closes first. An answer that comes after the
 * call ended is logged and dropped.
 */
int cns_peer_call(struct cns_node *n, struct cns_peer_req *req, uint64_t peer_id,
		  const Backstay__CtlRequest *req_msg, unsigned timeout_ms, cns_peer_cb cb);

/* ---- clients ------------------------------------------------------------- */

/*
 * A ctl call from a tool: connect to address as role (CTL or JOIN) with the
 * cluster secret, send req, wait for one response (at most timeout_ms),
 * close. Runs its own loop: for command-line tools, not for the daemon.
 * 0 and *ret_resp (the caller frees it with
 * backstay__ctl_response__free_unpacked), or negative errno with errmsg
 * ("127.0.0.1:2380: authentication failed", "...: connection refused").
 */
int cns_call(const struct bs_secrets *secrets, const char *address, Backstay__Role role,
	     const Backstay__CtlRequest *req, unsigned timeout_ms, Backstay__CtlResponse **ret_resp,
	     char *errmsg, size_t errmsg_size);

/*
 * The same, delivering every response to cb until cb returns false or the
 * connection ends (kv watch streams). 0 when cb ended it, else negative
 * errno with errmsg.
 */
int cns_call_stream(const struct bs_secrets *secrets, const char *address, Backstay__Role role,
		    const Backstay__CtlRequest *req, unsigned timeout_ms,
		    bool (*cb)(void *data, const Backstay__CtlResponse *resp), void *data,
		    char *errmsg, size_t errmsg_size);

#endif /* BS_CONSENSUS_H */
