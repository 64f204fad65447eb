/*
 * consensus/ internals shared between its files (prefix cns__). The pieces:
 *
 *   driver.c    the Raft driver over libraft's raft_step(); owns the
 *               in-memory log cache; talks to everything below through
 *               struct cns__driver_io, so simulations replace all I/O
 *   store.c     LMDB storage, synchronous (runs on the writer's thread)
 *   writer.c    group commit: batches pending cns__persist requests into one
 *               LMDB transaction (one fsync) on the libuv work queue
 *   fsm*.c      the KV state machine: revisions, CAS, leases, watches
 *               (fsm.h; fsm_internal.h is shared by its files only)
 *   wire.c      struct raft_message <-> protobuf RaftMessage
 *   transport*.c, handshake.c  libuv TCP, handshake with mutual
 *               authentication, MAC'd frames (transport.h)
 *
 * Threads: everything runs on the node's loop thread except store.c's
 * writes, which run on the libuv work queue, one batch at a time.
 */
#ifndef BS_CONSENSUS_INTERNAL_H
#define BS_CONSENSUS_INTERNAL_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A stored snapshot: metadata plus the state machine's serialised bytes.
 * conf is raft_configuration_encode()'d, i.e. the same bytes as a
 * RAFT_CHANGE entry; every buffer is malloc'd and owned by the struct. */
struct cns__snapshot {
	uint64_t index;	     /* last log index the snapshot covers */
	uint64_t term;	     /* term of that entry */
	uint64_t conf_index; /* index of the configuration entry it holds */
	struct raft_buffer conf;
	struct raft_buffer data;
};

void cns__snapshot_free(struct cns__snapshot *snapshot); /* accepts NULL */

/* One log entry as the driver and the store hold it: buf.base is malloc'd
 * and owned by whoever holds the entry. type is RAFT_COMMAND, RAFT_BARRIER
 * or RAFT_CHANGE. */
struct cns__entry {
	uint64_t term;
	unsigned short type;
	struct raft_buffer buf;
};

/*
 * One durable write, produced by the driver after a raft_step() and applied
 * by the store in submission order. All parts are optional; within one
 * request they apply in this order:
 *
 *   1. term/vote        (has_term_vote)
 *   2. snapshot         (snapshot != NULL): replace the stored snapshot; when
 *                       drop_log is set also delete every log entry (a
 *                       follower installing a leader's snapshot)
 *   3. compact_upto     delete entries with index <= compact_upto (0: none)
 *   4. truncate_from    delete entries with index >= truncate_from (0: none)
 *   5. entries          store entries[i] at index first_index + i
 *
 * The request owns everything it points to (entries' buffers, snapshot);
 * cns__persist_free() releases it all.
 */
struct cns__persist {
	bool has_term_vote;
	uint64_t term;
	uint64_t vote;
	struct cns__snapshot *snapshot;
	bool drop_log;
	uint64_t compact_upto;
	uint64_t truncate_from;
	uint64_t first_index;
	struct cns__entry *entries;
	unsigned n_entries;
	/* Driver bookkeeping, ignored by the store. */
	void *data;
	struct cns__persist *next;
};

void cns__persist_free(struct cns__persist *persist); /* accepts NULL */

/* What a node finds in its store at start-up. Owned by the caller, freed
 * with cns__loaded_free(). Entries are contiguous from start_index. */
struct cns__loaded {
	uint64_t term;
	uint64_t vote;
	struct cns__snapshot *snapshot; /* NULL when none was ever stored */
	uint64_t start_index;		/* index of entries[0] */
	struct cns__entry *entries;
	unsigned n_entries;
};

void cns__loaded_free(struct cns__loaded *loaded); /* accepts NULL */

#endif /* BS_CONSENSUS_INTERNAL_H */
