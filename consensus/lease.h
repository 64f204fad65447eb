/*
 * The Raft leader's lease clocks, as pure decisions: no clock reads (every
 * `now` is passed in, ms on the node's clock), no I/O, no Raft. The state
 * machine (fsm.h) knows each lease's TTL, never its deadline; the leader
 * keeps the deadlines here and commits LeaseExpire for the ones that pass.
 *
 * Time, precisely. A lease whose clock starts at `start` with TTL `ttl`
 * (ms, >= 1) is valid at every millisecond m with start <= m < start + ttl:
 *
 *     deadline_ms = start + ttl - 1      the LAST millisecond it is valid
 *     due         when now > deadline_ms  (now >= start + ttl)
 *     time left   deadline_ms + 1 - now   while now <= deadline_ms, else 0
 *
 * so a holder promised "valid until s + ttl" (s <= start) may use the lease
 * strictly before s + ttl, and the leader expires it at s + ttl at the
 * earliest. A clock that would pass UINT64_MAX stops there.
 *
 * The promise (consensus.h, cns_lease_keepalive) rests on three rules:
 *   - a leader arms the table when it becomes ready to serve (its own-term
 *     barrier applied), restarting the clock of every lease of an earlier
 *     term at its base: the later of the last time this node heard from a
 *     leader (or itself stopped leading) and its boot. Every earlier
 *     leader's promise dates from before that base (fsm_lease.c says why);
 *     a lease granted in this leader's own term before it was armed starts
 *     at the arming;
 *   - a lease granted while armed starts its clock when the grant is
 *     applied, which is after it was proposed;
 *   - a keep-alive confirmed by a barrier of this leader's term moves the
 *     deadline to at least its arrival + ttl, never back.
 *
 * Threads: none; a table is used from one thread.
 */
#ifndef BS_CONSENSUS_LEASE_H
#define BS_CONSENSUS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"

struct cns__lease {
	uint64_t id;
	uint64_t deadline_ms; /* the last ms the lease is valid by this clock */
	bool expiring;	      /* handed out by cns__lease_due: LeaseExpire submitted */
};

/* The leader's table. Zeroed (or cns__lease_init) = empty and disarmed. The
 * fields are readable; change them only through the functions below. */
struct cns__lease_table {
	struct cns__lease *v; /* malloc'd, unordered */
	unsigned n, cap;
	bool armed;    /* rebuilt from the fsm for `term` */
	uint64_t term; /* meaningful while armed */
};

void cns__lease_init(struct cns__lease_table *t);
/* Free the table's memory; it is left empty and disarmed (reusable).
 * Accepts NULL. */
void cns__lease_free(struct cns__lease_table *t);

/*
 * Rebuild the table from every lease in f, each with its clock started at
 * now (deadline now + ttl - 1), and mark it armed for term. 0, or -ENOMEM
 * with the table left empty and disarmed (call again later: the clocks then
 * start later, which only lengthens leases).
 */
int cns__lease_arm(struct cns__lease_table *t, const struct cns__fsm *f, uint64_t now,
		   uint64_t term);
/*
 * The same for a newly elected leader whose clock base is `base` (<= now;
 * see the rules above): a lease granted by an entry at or below old_index
 * (the last index before this leader's term; a lease's id is its grant's
 * index) gets a clock started at base, one granted in this leader's term
 * before the table was armed a clock started at now. cns__lease_arm is
 * base = now.
 */
int cns__lease_arm_from(struct cns__lease_table *t, const struct cns__fsm *f, uint64_t base,
			uint64_t old_index, uint64_t now, uint64_t term);
/* Forget every clock (this node no longer leads, or is not ready). Keeps
 * the memory for the next arm. */
void cns__lease_disarm(struct cns__lease_table *t);
/* Armed (for any term) / armed for exactly this term. */
bool cns__lease_is_armed(const struct cns__lease_table *t);
bool cns__lease_armed_for(const struct cns__lease_table *t, uint64_t term);

/*
 * A command that named lease id was applied to f (a grant, a revoke, an
 * expiry): if f holds the lease and the table does not, its clock starts at
 * now; if f no longer holds it, it leaves the table. Nothing while
 * disarmed. 0, or -ENOMEM with the table disarmed (to be re-armed, with
 * fresh and so longer clocks).
 */
int cns__lease_update(struct cns__lease_table *t, uint64_t id, const struct cns__fsm *f,
		      uint64_t now);

/*
 * A keep-alive that arrived at arrived_ms was confirmed (a barrier submitted
 * after it was applied in this leader's term): the lease is now valid at
 * least until arrived_ms + ttl_ms (exclusive). The deadline only ever grows:
 * a confirmation older than the current deadline changes nothing. 0, or
 * -ENOENT when the table is disarmed, lacks id, or id is expiring.
 */
int cns__lease_confirm_keepalive(struct cns__lease_table *t, uint64_t id, uint64_t arrived_ms,
				 int64_t ttl_ms);

/* Milliseconds lease id is still valid at now (0 once due): 0, or -ENOENT
 * (disarmed, unknown or expiring); *ret_ms untouched on failure. */
int cns__lease_time_left(const struct cns__lease_table *t, uint64_t id, uint64_t now,
			 uint64_t *ret_ms);

/*
 * Hand every lease that is due at now (now > deadline_ms) and not yet
 * expiring to cb, in table order. cb returns 0 when it submitted the
 * lease's LeaseExpire: the lease is then marked expiring and never handed
 * out again; any other value leaves it as it was (tried again on the next
 * call). cb must not change the table. Nothing while disarmed.
 */
typedef int (*cns__lease_due_cb)(void *data, uint64_t id);
void cns__lease_due(struct cns__lease_table *t, uint64_t now, cns__lease_due_cb cb, void *data);

/* The first time at which cns__lease_due would hand something out
 * (min deadline_ms + 1 over the leases not expiring); UINT64_MAX when
 * disarmed or when there is none. For arming a timer precisely. */
uint64_t cns__lease_next_due(const struct cns__lease_table *t);

#endif /* BS_CONSENSUS_LEASE_H */
