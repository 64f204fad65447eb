/* Internals of the Raft driver, shared by driver*.c only. */
#ifndef BS_CONSENSUS_DRIVER_INTERNAL_H
#define BS_CONSENSUS_DRIVER_INTERNAL_H

#include "driver.h"

/* The in-memory log cache (driver_log.c). */
struct cns__log {
	struct cns__entry *entries;
	unsigned n, cap;
	uint64_t first; /* index of entries[0] (the next index when n == 0) */
};

void cns__log_init(struct cns__log *log, uint64_t first);
void cns__log_close(struct cns__log *log);
void cns__log_reset(struct cns__log *log, uint64_t first);
uint64_t cns__log_last(const struct cns__log *log); /* first - 1 when empty */
const struct cns__entry *cns__log_get(const struct cns__log *log, uint64_t index);
void cns__log_truncate(struct cns__log *log, uint64_t from);
void cns__log_compact(struct cns__log *log, uint64_t upto);
int cns__log_append(struct cns__log *log, uint64_t term, unsigned short type, const void *base,
		    size_t len);
int cns__log_append_owned(struct cns__log *log, struct cns__entry *e);
int cns__log_borrow(const struct cns__log *log, uint64_t from, unsigned n,
		    struct raft_entry *ret_entries);

struct cns__drv {
	struct raft raft;
	struct cns__drv_io io;
	struct cns__drv_config cfg;
	char *address;
	uint64_t now;
	char errmsg[256];
	bool failed;
	bool disk_ok;
	int depth;	   /* raft_step nesting: follow-ups run at depth 0 only */
	bool in_followups; /* follow-up steps do not start follow-ups again */
	int raft_rv;	   /* what the last raft_step() returned */

	struct cns__log log;
	struct cns__snapshot *snap; /* last durable snapshot, or NULL */
	uint64_t last_applied;
	uint64_t reported;		 /* highest index reported as persisted */
	struct raft_buffer applied_conf; /* configuration as of last_applied */
	uint64_t applied_conf_index;

	struct cns__persist *inflight_head, *inflight_tail;
	unsigned term_vote_inflight;
	struct cns__held *held_head, *held_tail;
	bool snapshot_taking;

	uint64_t *conf_pending; /* committed RAFT_CHANGE indexes to report */
	unsigned conf_pending_n, conf_pending_cap;
	bool want_barrier; /* just became leader: submit our own barrier */
	uint64_t ready_index, ready_term;

	uint64_t transfer_id;	     /* leadership transfer pending to this voter, 0: none */
	uint64_t transfer_until;     /* given up at this time */
	uint64_t transfer_abandoned; /* the last target that did not take over */
};

/* driver.c: one raft_step() and its update, follow-ups included at depth
 * 0; the follow-ups alone (after an API call that changed what is due) and
 * the timer re-armed. */
int cns__drv_step(struct cns__drv *d, struct raft_event *ev);
int cns__drv_step_followups(struct cns__drv *d);

/* driver_transfer.c: a transfer pending / ready to hand to raft (this also
 * forgets one that is over) / handed to raft (errors other than fatal ones
 * end the transfer). */
bool cns__drv_transferring(const struct cns__drv *d);
bool cns__drv_transfer_due(struct cns__drv *d);
int cns__drv_transfer_start(struct cns__drv *d);

/* driver_msg.c: fill an outgoing message from the cache/snapshot and send
 * it, or hold a copy while a term/vote write is in flight. */
void cns__drv_send(struct cns__drv *d, struct raft_message *m);
void cns__drv_flush_held(struct cns__drv *d);

#endif
