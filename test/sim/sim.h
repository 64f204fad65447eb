/*
 * The consensus simulation: N Raft drivers in one process on a virtual
 * clock, over an in-memory disk (writes complete after a random latency,
 * in order; a crash loses the ones in flight) and a virtual network that
 * drops, delays, reorders, duplicates and partitions messages. Every
 * random choice comes from one seeded generator, so a seed replays exactly.
 *
 * Every node runs the real KV state machine (consensus/fsm.h) on the
 * committed KvCommands, and the leader keeps lease clocks with the real
 * consensus/lease.h table, armed as the node runtime arms it. Seeded clients
 * write, grant leases and keep them alive (sometimes too late).
 *
 * Checked while it runs: at most one leader per term; every node applies
 * the same entry at each index (so the same sequence); every command
 * decodes; log matching between live nodes' caches; no acknowledged write
 * lost; no lease expired before the end its holder was promised (a
 * LeaseExpire is applied, and was decided by its leader, no earlier than
 * s + ttl for every acknowledged keep-alive sent at s and the grant). At the
 * end, after the faults heal: one leader, every node caught up, a last
 * write commits, and every lease left alone for ttl + 5 s is gone.
 */
#ifndef BS_TEST_SIM_H
#define BS_TEST_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct sim_options {
	unsigned nodes; /* 3 or 5 */
	uint64_t seed;
	uint64_t fault_ms;     /* virtual time with faults */
	uint64_t quiet_ms;     /* virtual time healed, before the final checks */
	bool crashes;	       /* kill and restart nodes (losing unsynced writes) */
	bool partitions;       /* isolate nodes / split the cluster */
	unsigned drop_pct;     /* per-message loss, percent */
	unsigned dup_pct;      /* per-message duplication, percent */
	unsigned max_delay_ms; /* messages take 1..max_delay_ms (reordering) */
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	FILE *trace; /* NULL: quiet; else one line per fault and election */
};

struct sim_result {
	bool ok;
	char why[512]; /* the first violated invariant, with time and nodes */
	uint64_t events;
	uint64_t acked;	  /* writes acknowledged to the workload */
	uint64_t leaders; /* distinct (term, leader) pairs seen */
	uint64_t snapshots_installed;
	uint64_t crashes;
	uint64_t max_commit;
	uint64_t leases_granted;   /* grants acknowledged to a client */
	uint64_t keepalives_acked; /* keep-alives acknowledged to a holder */
	uint64_t leases_expired;   /* leases removed by a committed LeaseExpire */
};

void sim_default_options(struct sim_options *o, unsigned nodes, uint64_t seed);
/* Run one seeded schedule; returns result.ok. */
bool sim_run(const struct sim_options *o, struct sim_result *ret_result);

#endif
