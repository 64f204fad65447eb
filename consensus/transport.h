/*
 * consensus/transport: backstay's authenticated TCP transport on libuv.
 * Prefix cns__tr_. Files: handshake.c (the handshake state machine and the
 * MACs, pure: no sockets, no clock), transport.c (lifecycle, peers, dialing,
 * sending), transport_conn.c (one connection: reading, frames, writes,
 * closing).
 *
 * A node listens on one TCP port. Raft peers connect to each other (one
 * connection per pair); operator tools (CTL) and nodes asking to join
 * (JOIN) connect too. Every connection starts with the same handshake and
 * mutual authentication by the cluster secret; after it, every frame
 * carries a MAC under a per-connection, per-direction session key.
 *
 * Handshake (C = connecting side, S = accepting side; integers big-endian):
 *
 *   C -> S  Hello{cluster_id, node_id = c_id, min_version, max_version,
 *                 role, nonce = nonce_c (32 random bytes), address}
 *   S       refuses (Goodbye, close) an unknown role, a malformed Hello
 *           (nonce not 32 bytes, cluster id not 16, address > 255 bytes,
 *           PEER/JOIN with node id 0, PEER with S's own id) or no version
 *           overlap; picks version = min(c_max, s_max), which must be
 *           >= max(c_min, s_min). A wrong cluster id is NOT refused here:
 *           it only makes the proofs fail later, exactly like a wrong
 *           secret, so an unauthenticated party cannot tell the two apart.
 *   S -> C  HelloReply{version, nonce = nonce_s (32 random bytes),
 *                      node_id = s_id, proof = proof_s}
 *   C       checks proof_s (constant time), then version within
 *           [c_min, c_max] and, when dialing a known peer, s_id
 *   C -> S  HelloProof{proof = proof_c}
 *   S       checks proof_c (constant time) and its own cluster-id match
 *
 *   T        = cluster_id (16, each side its own) || nonce_c (32) ||
 *              nonce_s (32) || c_id (u64) || s_id (u64) || role (u32) ||
 *              version (u32) || c_min (u32) || c_max (u32) ||
 *              len(address) (u32) || address (C's, as sent)
 *   proof_s  = HMAC-SHA256(secret, "backstay server proof v1" 0x00 || T)
 *   proof_c  = HMAC-SHA256(secret, "backstay client proof v1" 0x00 || T)
 *   K_cs     = HMAC-SHA256(secret, "backstay session v1" 0x00 0x01 || T)
 *   K_sc     = HMAC-SHA256(secret, "backstay session v1" 0x00 0x02 || T)
 *
 * T binds everything either side decides on (a man in the middle cannot
 * downgrade the version, change the role or the ids); fresh nonces make
 * every session's keys new. Handshake frames carry no trailer and are
 * limited to CNS__TR_HS_MAX_FRAME bytes. After the handshake, every frame in
 * direction d carries a 32-byte trailer
 *
 *   HMAC-SHA256(K_d, seq (u64) || frame header and body)
 *
 * where seq counts that direction's post-handshake frames from 0: a
 * replayed, reordered, dropped, forged or misframed frame fails the check
 * and closes the connection. C sends frames with trailers right after its
 * HelloProof; S right after accepting it. Integrity only: frames are not
 * encrypted.
 *
 * Refusals: the refusing side sends Goodbye{reason} (texts: see
 * cns__tr_reason_text) when the stream is still in a state to carry it,
 * then closes. The only text an unauthenticated party can get about
 * credentials is "authentication failed".
 *
 * Threads: everything on the loop thread of the uv_loop_t given to init.
 */
#ifndef BS_CONSENSUS_TRANSPORT_H
#define BS_CONSENSUS_TRANSPORT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "backstay.pb-c.h"
#include "base.h"

/* Protocol versions (negotiated per connection, see the handshake):
 *   1  Raft on PEER connections; ctl requests and responses on CTL/JOIN.
 *   2  also ctl requests and responses on PEER connections, both ways
 *      (cns__tr_peer_request, peer calls between nodes).
 * A frame a version does not know is never sent on a connection that
 * negotiated it (a version-1 node closes the connection on one). */
#define CNS__TR_PROTOCOL_VERSION 2     /* the highest version this build speaks */
#define CNS__TR_PROTOCOL_MIN_VERSION 1 /* the lowest (rolling upgrades from 1) */
#define CNS__TR_VERSION_PEER_CTL 2     /* first version with ctl frames between peers */
#define CNS__TR_NONCE_LEN 32
#define CNS__TR_MAC_LEN 32
#define CNS__TR_KEY_LEN 32
#define CNS__TR_HS_MAX_FRAME 4096 /* body limit until authenticated */
#define CNS__TR_MAX_ADDRESS 255	  /* bytes of an advertised "host:port" */

/* Why a connection ended (or was refused). Counted per reason in
 * struct cns__tr_stats and named in the log. */
enum cns__tr_reason {
	CNS__TR_REASON_NONE,	   /* "none" */
	CNS__TR_REASON_AUTH,	   /* "authentication failed" */
	CNS__TR_REASON_VERSION,	   /* "unsupported protocol version" */
	CNS__TR_REASON_ROLE,	   /* "unknown role" */
	CNS__TR_REASON_PROTOCOL,   /* "protocol error": a frame not allowed here */
	CNS__TR_REASON_WRONG_NODE, /* "unexpected node id": dialed a, reached b */
	CNS__TR_REASON_MALFORMED,  /* "malformed frame" */
	CNS__TR_REASON_TOO_BIG,	   /* "frame too big" */
	CNS__TR_REASON_TRUNCATED,  /* "truncated frame" */
	CNS__TR_REASON_BAD_MAC,	   /* "bad frame MAC" */
	CNS__TR_REASON_TIMEOUT,	   /* "handshake timeout" */
	CNS__TR_REASON_OVERLOAD,   /* "too many handshakes" */
	CNS__TR_REASON_EOF,	   /* "connection closed by peer" */
	CNS__TR_REASON_IO,	   /* "i/o error" (connect, read, write, internal) */
	CNS__TR_REASON_DUPLICATE,  /* "duplicate connection" */
	CNS__TR_REASON_GOODBYE,	   /* "goodbye": peer closed with another reason */
	CNS__TR_REASON_SHUTDOWN,   /* "shutting down" */
	CNS__TR_REASON_REMOVED,	   /* "peer removed" */
	CNS__TR_REASON_HANGUP,	   /* "hung up": closed by its owner */
	CNS__TR_REASON__COUNT
};

/* The text above; "unknown" out of range. Static storage. */
const char *cns__tr_reason_text(enum cns__tr_reason reason);
/* The reason a Goodbye text names (its prefix), CNS__TR_REASON_GOODBYE for
 * any other text. */
enum cns__tr_reason cns__tr_reason_from_text(const char *text);
/* Copy a peer's text for the log: printable ASCII only (others become '?'),
 * truncated to size - 1; src may be NULL. */
void cns__tr_printable(char *dst, size_t size, const char *src);

/* ------------------------------------------------------------------------
 * Handshake state machine (handshake.c): a pure function of (state,
 * received Envelope) -> (Envelope to send, new state). Randomness comes in
 * as arguments; nothing here does I/O or reads a clock.
 */

/* Who this end is. The transport owns one; handshakes borrow it. */
struct cns__tr_identity {
	uint8_t cluster_id[BS_CLUSTER_ID_LEN];
	uint8_t secret[BS_CLUSTER_SECRET_LEN];
	uint64_t node_id;		       /* 0 for a ctl tool */
	char address[CNS__TR_MAX_ADDRESS + 1]; /* advertised "host:port", may be "" */
	uint32_t min_version;		       /* versions spoken, inclusive, >= 1 */
	uint32_t max_version;
};

enum cns__tr_hs_state {
	CNS__TR_HS_CLIENT_WAIT_REPLY, /* client: Hello sent, HelloReply expected */
	CNS__TR_HS_SERVER_WAIT_HELLO, /* server: Hello expected */
	CNS__TR_HS_SERVER_WAIT_PROOF, /* server: HelloReply sent, HelloProof expected */
	CNS__TR_HS_DONE,	      /* authenticated; keys valid; terminal */
	CNS__TR_HS_FAILED,	      /* refused; reason and detail set; terminal */
};

struct cns__tr_hs {
	enum cns__tr_hs_state state;
	const struct cns__tr_identity *self; /* borrowed */
	/* The session (complete in DONE). */
	Backstay__Role role;
	uint32_t version;
	uint64_t client_id;
	uint64_t server_id;
	uint64_t expect_server_id; /* client: the id dialed, 0 = any */
	uint32_t client_min, client_max;
	char client_address[CNS__TR_MAX_ADDRESS + 1];
	uint8_t nonce_c[CNS__TR_NONCE_LEN];
	uint8_t nonce_s[CNS__TR_NONCE_LEN];
	bool cluster_ok; /* server: the Hello's cluster id is ours */
	uint8_t key_c2s[CNS__TR_KEY_LEN];
	uint8_t key_s2c[CNS__TR_KEY_LEN];
	/* In FAILED: why, and a line for the local log (may say more than the
	 * peer is told, e.g. that the cluster id differed). */
	enum cns__tr_reason reason;
	char detail[160];
	uint8_t proof[CNS__TR_MAC_LEN]; /* scratch for the frame being sent */
};

/* An outgoing handshake frame. It borrows from the cns__tr_hs that filled
 * it (nonce, proof, address) and from itself: use it in place, before the
 * next call on that handshake. env.body_case == NOT_SET: nothing to send. */
struct cns__tr_hs_out {
	Backstay__Envelope env;
	union {
		Backstay__Hello hello;
		Backstay__HelloReply reply;
		Backstay__HelloProof proof;
		Backstay__Goodbye goodbye;
	} u;
	char text[128]; /* Goodbye reason */
};

/* Start a connecting side: *out is the Hello. expect_server_id is the node
 * dialed (0 = whoever answers). */
void cns__tr_hs_client(struct cns__tr_hs *hs, const struct cns__tr_identity *self,
		       Backstay__Role role, uint64_t expect_server_id,
		       const uint8_t nonce_c[CNS__TR_NONCE_LEN], struct cns__tr_hs_out *out);
/* Start an accepting side; nothing to send until the Hello arrives. */
void cns__tr_hs_server(struct cns__tr_hs *hs, const struct cns__tr_identity *self,
		       const uint8_t nonce_s[CNS__TR_NONCE_LEN]);
/*
 * Feed one received Envelope (borrowed). Returns 0 when it was accepted:
 * *out holds the next frame to send, if any, and state is the next wait
 * state or DONE. Otherwise state is FAILED and the result is -EACCES
 * (authentication), -EPROTONOSUPPORT (version), -EPROTO (role, malformed,
 * unexpected frame, wrong node), -ECONNREFUSED (the peer said Goodbye), or
 * -ENOMEM (libcrypto failed); *out may hold a Goodbye to send before
 * closing. Calling it in DONE or FAILED returns -EPROTO.
 */
int cns__tr_hs_step(struct cns__tr_hs *hs, const Backstay__Envelope *in,
		    struct cns__tr_hs_out *out);
/* The connection failed before DONE for a reason of its own (EOF, timeout,
 * a frame error): FAILED with that reason, except that a server whose
 * client presented a wrong cluster id records CNS__TR_REASON_AUTH. *out
 * gets a Goodbye when `tell` and the reason is one worth telling. No-op in
 * DONE/FAILED. */
void cns__tr_hs_abort(struct cns__tr_hs *hs, enum cns__tr_reason reason, bool tell,
		      struct cns__tr_hs_out *out);
/* Erase keys, nonces and proofs. */
void cns__tr_hs_wipe(struct cns__tr_hs *hs);

/* Per-frame MAC for one direction of one connection. */
struct cns__tr_mac {
	EVP_MAC_CTX *ctx; /* keyed once, at init */
	uint64_t seq;	  /* of the next frame */
};

/* 0 or -ENOMEM. Close with cns__tr_mac_close (also after a failed init). */
int cns__tr_mac_init(struct cns__tr_mac *m, const uint8_t key[CNS__TR_KEY_LEN]);
/* MAC of the next frame (header + body) into out; advances seq. 0 or
 * -ENOMEM. */
int cns__tr_mac_sign(struct cns__tr_mac *m, const uint8_t *frame, size_t len,
		     uint8_t out[CNS__TR_MAC_LEN]);
/* Check the next frame's trailer; advances seq either way. 0, -EBADMSG
 * (mismatch or wrong trailer length) or -ENOMEM. Signature of
 * proto_verify_cb, with a struct cns__tr_mac * as data. */
int cns__tr_mac_verify(void *mac, const uint8_t *frame, size_t frame_len, const uint8_t *trailer,
		       size_t trailer_len);
void cns__tr_mac_close(struct cns__tr_mac *m); /* accepts a zeroed struct */

/* ------------------------------------------------------------------------
 * The transport.
 */

struct cns__tr;
struct cns__tr_conn; /* private (transport_internal.h) */
struct cns__tr_peer; /* private */

/* What the owner hears. Every member may be NULL (the event is dropped).
 * Callbacks run on the loop thread; they may call any cns__tr_* function,
 * including cns__tr_close. Borrowed arguments live for the call only. */
struct cns__tr_cb {
	/* A RaftMessage from an authenticated PEER; from_id is its node id and
	 * equals msg->server_id (others are dropped and counted). */
	void (*on_raft)(void *data, uint64_t from_id, const Backstay__RaftMessage *msg);
	/* A request on an accepted CTL or JOIN connection, or on a PEER
	 * connection of version >= CNS__TR_VERSION_PEER_CTL (either side);
	 * answer with cns__tr_reply(t, conn_id, ...), now or later. node_id
	 * is the id the client claimed in its Hello (authenticated by the
	 * secret; 0 for a ctl tool), or the peer's id. */
	void (*on_ctl)(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		       const Backstay__CtlRequest *req);
	/* A response on a connection made with cns__tr_dial, or on a PEER
	 * connection (answering cns__tr_peer_request). */
	void (*on_ctl_response)(void *data, uint64_t conn_id, const Backstay__CtlResponse *resp);
	/* The first authenticated connection with PEER id came up (true), or
	 * the last one went down (false). */
	void (*on_peer)(void *data, uint64_t id, bool up);
	/* A connection that was authenticated (either side, any role; a PEER
	 * one after its on_peer) is gone; conn_id is no longer valid. Not
	 * called during cns__tr_close, nor for a CTL/JOIN connection its owner
	 * hung up. */
	void (*on_closed)(void *data, uint64_t conn_id, enum cns__tr_reason reason);
};

struct cns__tr_config {
	uint64_t self_id;		  /* this node's Raft id; 0 for a ctl tool */
	const char *self_address;	  /* advertised "host:port"; NULL = "" */
	const struct bs_secrets *secrets; /* cluster id and secret are copied */
	size_t max_frame;		  /* body limit once authenticated; 0 = 16 MiB */
	size_t write_queue_max;	       /* bytes queued per connection; 0 = 2 * max_frame + 1 MiB */
	uint32_t min_version;	       /* 0 = CNS__TR_PROTOCOL_MIN_VERSION (tests change these) */
	uint32_t max_version;	       /* 0 = CNS__TR_PROTOCOL_VERSION */
	unsigned handshake_timeout_ms; /* connect + handshake; 0 = 5000 */
	unsigned backoff_min_ms;       /* first reconnect delay; 0 = 50 */
	unsigned backoff_max_ms;       /* doubling stops here; 0 = 2000 */
	unsigned max_handshakes;       /* accepted connections not yet authenticated; 0 = 64 */
};

struct cns__tr_stats {
	uint64_t accepted;			/* inbound TCP connections */
	uint64_t dialed;			/* outbound connection attempts */
	uint64_t authenticated;			/* handshakes completed, either side */
	uint64_t closed[CNS__TR_REASON__COUNT]; /* connections ended, by reason */
	uint64_t frames_in, frames_out;
	uint64_t bytes_in, bytes_out;
	uint64_t send_not_connected; /* cns__tr_send with no connection */
	uint64_t send_queue_full;    /* frames dropped: write queue over its limit */
	uint64_t sender_mismatch;    /* RaftMessages whose server_id was not the peer's */
};

typedef void (*cns__tr_close_cb)(struct cns__tr *t);

/* Embedded by its owner. Public fields are read-only for the owner. */
struct cns__tr {
	struct cns__tr_stats stats;
	char errmsg[256]; /* why the last failing call failed */
	void *data;	  /* passed to the callbacks */
	/* Private. */
	uv_loop_t *loop;
	struct bs_clock *clock;
	struct cns__tr_identity self;
	struct cns__tr_config config;
	struct cns__tr_cb cb;
	uv_tcp_t listener;
	uv_timer_t closer; /* closed last by cns__tr_close: makes its cb async */
	bool listening;
	bool closing;
	cns__tr_close_cb close_cb;
	struct cns__tr_conn *conns; /* every connection not yet freed */
	struct cns__tr_peer *peers; /* configured peers not yet freed */
	uint64_t next_conn_id;
	unsigned n_handshakes; /* inbound, not yet authenticated */
	unsigned n_live;       /* handles (closer, listener, conns, peers) not yet freed */
	uint8_t *rbuf;	       /* read buffer shared by all connections */
};

/*
 * Prepare t on loop. Copies what it keeps from config (secrets too: wiped
 * at close). clock gives the nonces and the backoff jitter; it must outlive
 * t. Returns 0 or -EINVAL (no secrets, address too long, min > max) /
 * -ENOMEM, with t->errmsg; on failure t needs no close.
 */
int cns__tr_init(struct cns__tr *t, uv_loop_t *loop, struct bs_clock *clock,
		 const struct cns__tr_config *config, const struct cns__tr_cb *cb, void *data);

/* Listen on host (a numeric IPv4 or IPv6 address) and port (0 = any free
 * port; see cns__tr_port). 0 or negative errno with t->errmsg. */
int cns__tr_listen(struct cns__tr *t, const char *host, int port);
/* The port listened on, or 0 when not listening. */
int cns__tr_port(const struct cns__tr *t);

/* Keep a connection with peer id at address ("ipv4:port" or "[ipv6]:port",
 * numeric): dial it now and whenever no authenticated connection with it
 * exists, backing off exponentially (backoff_min_ms doubling to
 * backoff_max_ms, each wait drawn uniformly from [d/2, d]) and starting
 * over after each successful handshake. Calling it again changes the
 * address (used from the next dial). If both sides dial, the connection
 * initiated by the lower node id is kept and the other closed.
 * 0, -EINVAL (id 0 or self, bad address) or -ENOMEM. */
int cns__tr_set_peer(struct cns__tr *t, uint64_t id, const char *address);
/* Stop dialing id and close every PEER connection with it (on_peer(id,
 * false) runs before this returns if one was up). No-op if it was not set.
 * Inbound connections from it are still accepted later. */
void cns__tr_remove_peer(struct cns__tr *t, uint64_t id);

/*
 * Send env to PEER to_id on its authenticated connection: encoded, MAC'd
 * and queued (uv_write) before returning, so env may be freed at once.
 * Best effort, as Raft expects: returns 0 when queued, -ENOTCONN when no
 * connection is authenticated, -ENOBUFS when that connection's write queue
 * is over write_queue_max (the frame is dropped and counted),
 * BS_E_FRAME_TOO_BIG, -EINVAL (env not encodable) or -ENOMEM.
 */
int cns__tr_send(struct cns__tr *t, uint64_t to_id, const Backstay__Envelope *env);

/* A connection request (CONVENTIONS §6): the caller owns it; if
 * cns__tr_dial fails cb never runs, otherwise it runs exactly once: 0 once
 * authenticated (conn_id and server_id are set), or a negative errno with
 * errmsg: -EACCES (authentication failed), -EPROTONOSUPPORT, -EPROTO,
 * -ECONNREFUSED (refused by the server, with its reason), -ETIMEDOUT,
 * -ECONNRESET, a connect error, or -ECANCELED (transport closed). */
struct cns__tr_dial;
typedef void (*cns__tr_dial_cb)(struct cns__tr_dial *req, int status);
struct cns__tr_dial {
	void *data;	    /* the caller's */
	uint64_t conn_id;   /* out: on status 0 */
	uint64_t server_id; /* out: the authenticated node id of the server */
	uint32_t version;   /* out: the protocol version negotiated */
	char errmsg[256];   /* out: on failure */
	/* Private. */
	cns__tr_dial_cb cb;
	struct cns__tr_conn *conn;
};

/* Connect to address as a CTL or JOIN client (PEER connections come from
 * cns__tr_set_peer): 0 or -EINVAL (role, address) / -ESHUTDOWN / -ENOMEM. */
int cns__tr_dial(struct cns__tr *t, struct cns__tr_dial *req, const char *address,
		 Backstay__Role role, cns__tr_dial_cb cb);
/* Send a request on a dialed connection. 0, -ENOTCONN (conn_id gone), or
 * as cns__tr_send. */
int cns__tr_request(struct cns__tr *t, uint64_t conn_id, const Backstay__CtlRequest *req);
/* Answer a request received through on_ctl, on the connection it came
 * on. 0, -ENOTCONN (the client or peer went away: drop the answer), or as
 * cns__tr_send. */
int cns__tr_reply(struct cns__tr *t, uint64_t conn_id, const Backstay__CtlResponse *resp);
/* Send a ctl request to PEER to_id on its authenticated connection (the
 * one cns__tr_send uses); the answer comes through on_ctl_response with
 * *ret_conn_id, the connection it was sent on (on_closed tells when that
 * connection ends). 0, -ENOTCONN (no connection), -EPROTONOSUPPORT (the
 * connection's version predates CNS__TR_VERSION_PEER_CTL: the peer runs an
 * older build), or as cns__tr_send. */
int cns__tr_peer_request(struct cns__tr *t, uint64_t to_id, const Backstay__CtlRequest *req,
			 uint64_t *ret_conn_id);
/* Close a CTL/JOIN connection once what is queued on it is written. on_closed
 * follows with CNS__TR_REASON_HANGUP. No-op for an unknown id. */
void cns__tr_hangup(struct cns__tr *t, uint64_t conn_id);

/* Number of authenticated PEER connections with id (1 once settled). */
unsigned cns__tr_peer_conns(const struct cns__tr *t, uint64_t id);
/* Connections open (any state), for tests and status displays. */
unsigned cns__tr_conn_count(const struct cns__tr *t);
/* Local and remote TCP ports of the (first) authenticated PEER connection
 * with id, and whether this side initiated it: 0 or -ENOTCONN. */
int cns__tr_peer_ports(const struct cns__tr *t, uint64_t id, int *ret_local, int *ret_remote,
		       bool *ret_outbound);

/* Close everything asynchronously: the listener, every connection (pending
 * dials complete with -ECANCELED), every reconnect timer. cb (may be NULL)
 * runs once all handles are closed; t's memory may be reused after it.
 * No callback of struct cns__tr_cb runs from here on. Call once; after it,
 * other calls fail (-ESHUTDOWN, or -ENOTCONN for sends) or do nothing. */
void cns__tr_close(struct cns__tr *t, cns__tr_close_cb cb);

#endif /* BS_CONSENSUS_TRANSPORT_H */
