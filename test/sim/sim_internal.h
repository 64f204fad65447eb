/* Internals of the consensus simulation. */
#ifndef BS_TEST_SIM_INTERNAL_H
#define BS_TEST_SIM_INTERNAL_H

#include "base.h"
#include "driver.h"
#include "fsm.h"
#include "internal.h"
#include "lease.h"
#include "sim.h"

#define SIM_MAX_NODES 7

struct sim_disk {
	uint64_t term, vote;
	struct cns__snapshot *snap;
	struct cns__entry *entries;
	unsigned n, cap;
	uint64_t first;
};

bool sim_disk_apply(struct sim_disk *disk, const struct cns__persist *p);
struct cns__loaded *sim_disk_load(const struct sim_disk *disk);
void sim_disk_free(struct sim_disk *disk);

struct sim_write {
	struct cns__persist *p;
	uint64_t done_at;
};

struct sim_proposal {
	uint64_t index, term, hash;
};

/* A lease grant proposed at a leader: acknowledged when its index is
 * applied there in the same term (as cns_propose answers). */
struct sim_grant {
	uint64_t index, term, sent;
};

/* A keep-alive from a holder: in flight to node `to` until `at`, then
 * waiting at that leader for its barrier (index, term), then confirmed
 * after the event that applied the barrier (as node_req.c does). */
struct sim_ka {
	uint64_t lease, sent, at, index, term;
	unsigned to;
	struct sim_ka *next;
};

/* One lease as the clients and the checker know it (every lease some node
 * applied the grant of). A holder that sent a keep-alive at s and got it
 * acknowledged may use the lease strictly before s + ttl: `end` is the
 * latest such promise, from the grant or a keep-alive. */
struct sim_lease {
	uint64_t id;
	int64_t ttl;
	bool held;	     /* the grant was acknowledged: a holder keeps it alive */
	uint64_t end;	     /* latest promised end (exclusive); 0: none */
	uint64_t next_ka;    /* the holder's next keep-alive; UINT64_MAX: none */
	uint64_t last_ka;    /* last keep-alive that reached a leader */
	uint64_t expired_at; /* first apply of its LeaseExpire on any node; 0: none */
	uint64_t decided_at; /* when the leader decided that LeaseExpire */
	unsigned decided_by;
};

/* A LeaseExpire a leader submitted, to know when it was decided once it is
 * applied. */
struct sim_expire {
	uint64_t index, term, at, lease;
	unsigned node;
};

struct sim;

struct sim_node {
	struct sim *sim;
	unsigned id;
	char address[8];
	bool up;
	uint64_t restart_at;
	unsigned group; /* partition side: nodes talk only within a group */
	struct cns__drv *drv;
	struct sim_disk disk;
	uint64_t timer_at;
	struct sim_write *writes; /* FIFO [whead, wn) */
	unsigned whead, wn, wcap;
	uint64_t disk_free_at;
	uint64_t sm_index, sm_chain; /* what was applied, as a hash chain */
	struct cns__fsm *fsm;	     /* the replicated KV state machine */
	struct sim_proposal *props;
	unsigned nprops, capprops;
	/* The leader's lease clocks (sim_lease.c), armed like a node's. */
	struct cns__lease_table leases;
	uint64_t lease_tick_at;
	struct sim_grant *grants;
	unsigned ngrants, capgrants;
	struct sim_ka *ka_wait, *ka_done;
};

/* A message in flight, as the bytes of a packed Envelope: the simulation
 * sends every message through the real wire codec. */
struct sim_msg {
	uint64_t at, seq;
	unsigned from, to;
	uint8_t *bytes;
	size_t len;
	struct sim_msg *next;
};

struct sim {
	struct sim_options o;
	struct sim_result *r;
	struct bs_clock *rng;
	uint64_t now, seq, end_faults, end;
	bool healed;
	struct sim_node nodes[SIM_MAX_NODES + 1];
	struct sim_msg *msgs;
	uint64_t *hash_at, *chain_at, *leader_of; /* by index / by term */
	uint64_t cap_at, cap_term;
	uint64_t next_fault, next_write, next_check, writes_made, stalled;
	uint64_t heal_at;
	uint64_t armed_at; /* the latest start of a leader's lease clocks */
	/* sim_lease.c */
	uint64_t next_grant;
	struct sim_ka *ka_flight; /* holder -> node */
	struct sim_lease *leases;
	unsigned nleases, capleases;
	struct sim_expire *expires;
	unsigned nexpires, capexpires;
};

uint64_t sim_rand(struct sim *s, uint64_t bound);
void *sim_grow(void *arr, unsigned *cap, unsigned need, size_t size);
int sim_submit_command(struct sim_node *n, const Backstay__KvCommand *cmd, uint64_t *ret_index,
		       uint64_t *ret_term);
bool sim_node_ready(struct sim_node *n);
void sim_step(struct sim *s);
void sim_fault(struct sim *s);
void sim_heal(struct sim *s);
void sim_node_start(struct sim *s, struct sim_node *n);
void sim_node_crash(struct sim *s, struct sim_node *n);
void sim_violation(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sim_lease.c: lease grants and keep-alives from seeded clients, the
 * leader's lease clocks (consensus/lease.c) on every node, and the lease
 * invariants. */
uint64_t sim_lease_next_event(struct sim *s);
void sim_lease_step(struct sim *s);
/* After every driver event on n (as node.c's after_event). */
void sim_lease_after_event(struct sim *s, struct sim_node *n);
/* n applied a RAFT_COMMAND (result from the fsm) or a RAFT_BARRIER
 * (result NULL) at index. */
void sim_lease_applied(struct sim_node *n, uint64_t index, const struct cns__entry *e,
		       const Backstay__KvResult *result);
/* n stopped leading, crashed or restored a snapshot: what waits there is
 * refused. */
void sim_lease_node_reset(struct sim_node *n, bool all);
/* The grant workload's choice of a lease for a put (0: none). */
uint64_t sim_lease_pick(struct sim *s);
/* After healing and the final checks: leases left alone expire. */
void sim_lease_final(struct sim *s);
void sim_lease_free(struct sim *s);

#endif
