/*
 * The Raft driver: one node's libraft instance in step mode (raft_step(), no
 * raft_io), with every byte of I/O done by its environment through
 * struct cns__drv_io. The node runtime plugs in LMDB + TCP; the simulation
 * plugs in an in-memory disk and network on a virtual clock.
 *
 * After each raft_step() the driver handles the update in the order the
 * libraft 0.22 step API requires (shared/reference/libraft-0.22-step-api.md §3):
 * term/vote into a persist request, and no message leaves until that request
 * is durable; entries into the in-memory log cache and the same request;
 * a follower's snapshot install; messages (AppendEntries filled from the
 * cache, InstallSnapshot from the stored snapshot); state; newly committed
 * entries applied from the cache, RAFT_CONFIGURATION stepped for each
 * committed configuration change; the timer re-armed from raft_timeout().
 *
 * Threads: none of its own; every call on the node's loop thread.
 */
#ifndef BS_CONSENSUS_DRIVER_H
#define BS_CONSENSUS_DRIVER_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

struct cns__drv;

/* What the driver needs from its environment. Every callback runs
 * synchronously inside a cns__drv_* call; none may call back into the
 * driver except where noted. */
struct cns__drv_io {
	void *data;
	/* Send m to server m->server_id (address m->server_address). m is
	 * complete (entries, snapshot conf and data filled) and valid only
	 * during the call: serialise or copy it. Delivery is best effort. */
	void (*send)(void *data, const struct raft_message *m);
	/* Make p durable asynchronously, requests in submission order; then
	 * call cns__drv_persisted(d, p, now). Ownership of p passes to the
	 * environment until that call hands it back. */
	void (*persist)(void *data, struct cns__persist *p);
	/* Entry `index` is committed; called once per index, in order, for
	 * every entry type (RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE). */
	void (*apply)(void *data, uint64_t index, const struct cns__entry *e);
	/* Serialise the state machine as of the last applied index into a
	 * malloc'd buffer. 0 or negative errno (the snapshot is skipped). */
	int (*snapshot)(void *data, struct raft_buffer *ret);
	/* Replace the state machine with snapshot data. 0 or negative errno
	 * (fatal for the node: its state would be wrong). */
	int (*restore)(void *data, const struct raft_buffer *data_buf);
	/* Raft state, term or leader changed; read them with cns__drv_*. */
	void (*state)(void *data);
	/* Call cns__drv_tick() at or after at_ms (absolute, ms). Replaces any
	 * earlier request. */
	void (*timer)(void *data, uint64_t at_ms);
};

struct cns__drv_config {
	uint64_t id;
	const char *address;
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	/* Resend a snapshot that got no answer after this long (libraft's
	 * default is 30 s: a lost InstallSnapshot would stall a follower that
	 * long). 0 = 5 s. */
	unsigned install_snapshot_timeout_ms;
	unsigned snapshot_threshold; /* applied entries between snapshots; 0 = never */
	unsigned snapshot_trailing;  /* entries kept behind a snapshot */
	unsigned seed;		     /* distinct per node (libraft pitfall §7.1) */
};

/* The persist request that bootstraps a new cluster: term 1 and log entry
 * 1 = the configuration. Every initial voter must store the same one. */
int cns__drv_bootstrap_request(const struct raft_configuration *conf,
			       struct cns__persist **ret_persist);

/* Start a node from what its store holds (taken: freed by the driver, also
 * on failure). A node whose store is empty starts too, as a non-voter that
 * waits to be added. 0 or negative errno with errmsg. */
int cns__drv_start(const struct cns__drv_config *config, const struct cns__drv_io *io,
		   struct cns__loaded *loaded, uint64_t now, struct cns__drv **ret_drv,
		   char *errmsg, size_t errmsg_size);
/* Free everything. Persist requests still held by the environment stay its
 * to free (cns__persist_free). Accepts NULL. */
void cns__drv_stop(struct cns__drv *d);

/* Events. `now` never goes backwards. Each returns 0, or a negative errno
 * when libraft failed fatally (the node must stop; cns__drv_errmsg says
 * why); client-level refusals are reported by the submit functions. */
int cns__drv_tick(struct cns__drv *d, uint64_t now);
/* m as decoded from the wire (libraft's RAFT_RECEIVE ownership: the entries'
 * batch and the snapshot's conf/data are taken by raft). */
int cns__drv_receive(struct cns__drv *d, struct raft_message *m, uint64_t now);
int cns__drv_persisted(struct cns__drv *d, struct cns__persist *p, uint64_t now);

/* Leader only. Append one entry (RAFT_COMMAND or RAFT_BARRIER); buf is
 * copied. On 0 the entry is at *ret_index in *ret_term: it is committed
 * when io->apply sees that index and cns__drv_term_at(index) == term.
 * BS_E_NOT_LEADER on a follower or during a transfer, -ENOSPC when the
 * environment reports that the disk is failing (cns__drv_set_disk_ok). */
int cns__drv_submit(struct cns__drv *d, unsigned short type, const void *buf, size_t len,
		    uint64_t now, uint64_t *ret_index, uint64_t *ret_term);
/* Leader only: propose a new configuration (alone, never batched).
 * -EBUSY while another change or a catch-up is running. */
int cns__drv_change(struct cns__drv *d, const struct raft_configuration *conf, uint64_t now);
/* Leader only: replicate to a spare/standby so it can be promoted. */
int cns__drv_catch_up(struct cns__drv *d, uint64_t id, uint64_t now);
/* RAFT_CATCH_UP_NONE/RUNNING/FINISHED/ABORTED for id, or negative errno. */
int cns__drv_catch_up_status(struct cns__drv *d, uint64_t id);
/* Leader only: hand leadership to voter id (0 = the most up-to-date
 * voter), pursued for three election timeouts (driver_transfer.c); no
 * entries are accepted meanwhile. 0 once pending, -ENOENT (not another
 * voter), BS_E_NOT_LEADER. */
int cns__drv_transfer(struct cns__drv *d, uint64_t id, uint64_t now);
/* The environment's disk writes fail (false) or work again (true). */
void cns__drv_set_disk_ok(struct cns__drv *d, bool ok);

/* Read-only views. */
enum raft_state cns__drv_state(struct cns__drv *d);
uint64_t cns__drv_term(struct cns__drv *d);
uint64_t cns__drv_leader(struct cns__drv *d, const char **ret_address); /* 0: unknown */
uint64_t cns__drv_commit_index(struct cns__drv *d);
uint64_t cns__drv_last_applied(struct cns__drv *d);
uint64_t cns__drv_last_index(struct cns__drv *d);
/* Term of entry index if the cache or snapshot knows it, else 0. */
uint64_t cns__drv_term_at(struct cns__drv *d, uint64_t index);
/* True once this leader has applied an entry of its own term, so that
 * reads from its state machine are linearizable and lease clocks may run. */
bool cns__drv_leader_ready(struct cns__drv *d);
/* A ready leader: the index of the barrier it submitted when elected.
 * Every entry of its term proposed by a client comes after it; every entry
 * before it is from an earlier term (or libraft's own barrier). */
uint64_t cns__drv_ready_index(struct cns__drv *d);
/* The committed configuration (owned by raft; valid until the next event). */
const struct raft_configuration *cns__drv_configuration(struct cns__drv *d);
const char *cns__drv_errmsg(struct cns__drv *d);
/* Entry index from the log cache, or NULL (for checkers; valid until the
 * next event). */
const struct cns__entry *cns__drv_entry(struct cns__drv *d, uint64_t index);
uint64_t cns__drv_id(struct cns__drv *d);

/* A deep copy of a raft_message (entries, snapshot conf and data, address
 * all owned by it): how the driver holds messages back while a term/vote
 * write is in flight, and how a simulated network queues them. */
struct cns__held {
	struct raft_message m;
	struct cns__held *next;
};

int cns__msg_clone(const struct raft_message *m, struct cns__held **ret_held);
void cns__held_free(struct cns__held *h); /* accepts NULL */

#endif /* BS_CONSENSUS_DRIVER_H */
