/*
 * What transport.c (lifecycle, peers, API) and transport_conn.c (one
 * connection) share. Not for other files: use transport.h.
 */
#ifndef BS_CONSENSUS_TRANSPORT_INTERNAL_H
#define BS_CONSENSUS_TRANSPORT_INTERNAL_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "proto.h"
#include "transport.h"

#define CNS__TR_COMPONENT "consensus"
#define CNS__TR_READ_BUF (64u << 10)
#define CNS__TR_LINGER_MS 1000 /* most time given to a Goodbye to leave */

/* A connection's life; moves only forward, in this order (a step may be
 * skipped: a refused handshake goes to LINGER, a connect error to CLOSING). */
enum cns__tr_conn_state {
	CNS__TR_CONN_CONNECTING, /* outbound: uv_tcp_connect pending */
	CNS__TR_CONN_HANDSHAKE,	 /* handshake frames, no trailers yet */
	CNS__TR_CONN_READY,	 /* authenticated; frames MAC'd both ways */
	CNS__TR_CONN_LINGER,	 /* reading stopped; closes once writes finish */
	CNS__TR_CONN_CLOSING,	 /* uv_close() called; freed when handles are */
};

struct cns__tr_conn {
	struct cns__tr *t;
	struct cns__tr_conn *next, *prev; /* t->conns */
	enum cns__tr_conn_state state;
	uint64_t id;	    /* conn id: unique per transport, never reused */
	bool outbound;	    /* this side connected (is the handshake client) */
	bool in_handshakes; /* counted in t->n_handshakes */
	Backstay__Role role;
	uint64_t peer_id;	   /* the other side's node id, once known */
	uint32_t version;	   /* negotiated, once READY */
	struct cns__tr_peer *peer; /* outbound PEER: the peer dialed */
	struct cns__tr_dial *dial; /* outbound CTL/JOIN: request not yet answered */
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake deadline, then linger bound */
	uv_connect_t connect;
	unsigned open_handles; /* uv handles to close before freeing */
	struct proto_decoder dec;
	struct cns__tr_hs hs;
	struct cns__tr_mac send_mac; /* ctx != NULL once READY */
	struct cns__tr_mac recv_mac;
	unsigned n_writes;	    /* uv_write requests not yet completed */
	enum cns__tr_reason reason; /* why it closed */
	int err;		    /* negative errno behind CNS__TR_REASON_IO */
	char detail[160];	    /* more about reason, for the log and dial errmsg */
	char remote[64];	    /* "ip:port" of the other side */
};

struct cns__tr_peer {
	struct cns__tr *t;
	struct cns__tr_peer *next, *prev; /* t->peers */
	uint64_t id;
	char address[CNS__TR_MAX_ADDRESS + 1];
	struct sockaddr_storage addr;
	uv_timer_t timer;	      /* reconnect backoff */
	unsigned backoff_ms;	      /* upper bound of the next wait */
	struct cns__tr_conn *dialing; /* our outbound attempt, not yet READY */
	bool failing;		      /* last attempt failed (log once) */
};

/* transport.c: parse "ipv4:port" / "[ipv6]:port". 0 or -EINVAL. */
int cns__tr_parse_address(const char *address, struct sockaddr_storage *ret);
/* transport.c: hooks from the connection code. */
void cns__tr_conn_ready(struct cns__tr_conn *c);
void cns__tr_conn_left(struct cns__tr_conn *c, enum cns__tr_conn_state was);
void cns__tr_conn_freed(struct cns__tr_conn *c);
void cns__tr_live_put(struct cns__tr *t);

/* transport_conn.c. */
/* A new inbound connection from the listener: accepted and handshaking,
 * or closed (counted) on failure. */
void cns__tr_conn_accept(struct cns__tr *t);
/* Dial addr as role; the conn is linked into t->conns. 0 or negative errno
 * (nothing to clean up). */
int cns__tr_conn_dial(struct cns__tr *t, const struct sockaddr_storage *addr, const char *address,
		      Backstay__Role role, uint64_t expect_id, struct cns__tr_conn **ret_conn);
/* Encode, MAC (when READY) and queue env. 0, -ENOBUFS, -ENOTCONN (not
 * READY), BS_E_FRAME_TOO_BIG, -EINVAL or -ENOMEM. */
int cns__tr_conn_send(struct cns__tr_conn *c, const Backstay__Envelope *env);
/* Close c for reason; `tell` sends a Goodbye first when the stream can
 * carry one. c lingers (reading stopped) until what is queued on it is
 * written, at most CNS__TR_LINGER_MS, except while the transport closes.
 * No-op once closing. */
void cns__tr_conn_close(struct cns__tr_conn *c, enum cns__tr_reason reason, bool tell);
/* Map a connection's end to the errno a dial request reports. */
int cns__tr_conn_status(const struct cns__tr_conn *c);

#endif /* BS_CONSENSUS_TRANSPORT_INTERNAL_H */
