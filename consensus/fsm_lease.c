/*
 * Leases: an array sorted by id, each with the list of its keys. The state
 * machine knows a lease's TTL, never its deadline: the Raft leader keeps the
 * deadlines by its own clock (lease.h, driven by node_req.c) and commits
 * LeaseExpire when one passes. Revoking and expiring are the same change:
 * the keys go in one revision, then the lease.
 *
 * Where a new leader's clocks start. A newly elected leader restarts the
 * clock of every lease of an earlier term at its base: the later of
 *   - the last time this node heard from a leader: received an
 *     AppendEntries (a heartbeat too), InstallSnapshot or TimeoutNow, of an
 *     earlier or equal term (a later term would have deposed it), or
 *     stopped leading itself, and
 *   - this node's start (boot), if it has heard nothing since;
 * and a lease granted in its own term before it was ready at the arming.
 * So when a lease holder dies, its lease expires about ttl after its last
 * keep-alive, not ttl after the next election.
 *
 * Why that never expires a lease early. A keep-alive the old leader
 * confirmed arrived at its time s; it was confirmed by a barrier entry
 * created after s and committed (a grant: by its own entry, proposed after
 * s). The new leader holds every committed entry (Leader Completeness), so
 * it holds that one: it received it from a leader after s (AppendEntries
 * or a snapshot that contains it), or restarted after receiving it, so its
 * boot time is after s, or created it itself, as a leader, and stopped
 * leading after s. Each of these is a moment the base is at or after:
 * base >= s, so base + ttl >= s + ttl, and the holder's own validity,
 * s + ttl less its clock-rate margin, ends no later. Comparing the two
 * nodes' times means ordering events in real time; each node measures only
 * durations on its own monotonic clock, within the holder's margin.
 *
 * A lease granted in the new leader's own term (its grant's index is above
 * the leader's election barrier) was proposed after the base, so base +
 * ttl could come before its promise: its clock starts when the table is
 * armed, after the grant was applied, hence after it was proposed. A table
 * armed again in the same term (dropped for want of memory) starts every
 * clock at now, as keep-alives confirmed meanwhile may have moved deadlines
 * past base + ttl. The rule stays: a lease never expires early.
 */
#include <errno.h>
#include <string.h>

#include "fsm_internal.h"

/* Index of the first lease whose id is >= id (n_leases when none). */
static size_t lease_lower_bound(const struct cns__fsm *f, uint64_t id)
{
	size_t lo = 0, hi = f->n_leases;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->leases[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct cns__fsm_lease *cns__fsm_lease_find(const struct cns__fsm *f, uint64_t id)
{
	size_t pos = lease_lower_bound(f, id);

	if (pos < f->n_leases && f->leases[pos].id == id)
		return &f->leases[pos];
	return NULL;
}

void cns__fsm_lease_attach(struct cns__fsm *f, struct cns__fsm_kv *kv)
{
	struct cns__fsm_lease *lease;

	if (kv->lease == 0)
		return;
	lease = cns__fsm_lease_find(f, kv->lease);
	kv->lease_prev = NULL;
	kv->lease_next = lease->keys;
	if (lease->keys != NULL)
		lease->keys->lease_prev = kv;
	lease->keys = kv;
}

void cns__fsm_lease_detach(struct cns__fsm *f, struct cns__fsm_kv *kv)
{
	if (kv->lease == 0)
		return;
	if (kv->lease_prev != NULL)
		kv->lease_prev->lease_next = kv->lease_next;
	else
		cns__fsm_lease_find(f, kv->lease)->keys = kv->lease_next;
	if (kv->lease_next != NULL)
		kv->lease_next->lease_prev = kv->lease_prev;
	kv->lease_prev = kv->lease_next = NULL;
	kv->lease = 0;
}

int cns__fsm_lease_insert(struct cns__fsm *f, uint64_t id, int64_t ttl_ms)
{
	size_t pos = lease_lower_bound(f, id);

	if (cns__fsm_reserve((void **)&f->leases, &f->cap_leases, f->n_leases + 1,
			     sizeof *f->leases) != 0)
		return -ENOMEM;
	memmove(&f->leases[pos + 1], &f->leases[pos], (f->n_leases - pos) * sizeof *f->leases);
	f->leases[pos] = (struct cns__fsm_lease){.id = id, .ttl_ms = ttl_ms};
	f->n_leases++;
	return 0;
}

/* The lease id is the grant entry's index: the same on every node, and never
 * reused since Raft applies each index once. */
int cns__fsm_apply_grant(struct cns__fsm *f, uint64_t index, const Backstay__LeaseGrant *g,
			 Backstay__KvResult *r)
{
	int rv;

	if (g->ttl_ms <= 0 || index == 0) {
		r->code = -EINVAL;
		return 0;
	}
	if (cns__fsm_lease_find(f, index) != NULL) {
		r->code = -EEXIST;
		return 0;
	}
	rv = cns__fsm_lease_insert(f, index, g->ttl_ms);
	if (rv != 0)
		return rv;
	r->lease_id = index;
	r->ttl_ms = g->ttl_ms;
	return 0;
}

/* LeaseRevoke and LeaseExpire. An unknown id is a successful no-op (a
 * client's revoke racing the leader's expiry, or a repeated decision). */
int cns__fsm_apply_revoke(struct cns__fsm *f, uint64_t id, Backstay__KvResult *r)
{
	struct cns__fsm_lease *lease = cns__fsm_lease_find(f, id);
	struct cns__fsm_kv *kv;
	size_t pos;
	int rv;

	r->lease_id = id;
	if (lease == NULL)
		return 0;
	for (kv = lease->keys; kv != NULL; kv = kv->lease_next)
		kv->doomed = true;
	r->ttl_ms = lease->ttl_ms;
	/* Keys go in key order: the result and the watches' events are the same
	 * on every node, whatever order the keys joined the lease in. */
	if (lease->keys != NULL) {
		rv = cns__fsm_delete_doomed(f, 0, f->n_kvs, r);
		if (rv != 0)
			return rv;
	}
	pos = lease_lower_bound(f, id);
	memmove(&f->leases[pos], &f->leases[pos + 1], (f->n_leases - pos - 1) * sizeof *f->leases);
	f->n_leases--;
	return 0;
}

int cns__fsm_lease_ttl(const struct cns__fsm *f, uint64_t id, int64_t *ret_ttl_ms)
{
	const struct cns__fsm_lease *lease = cns__fsm_lease_find(f, id);

	if (lease == NULL)
		return -ENOENT;
	*ret_ttl_ms = lease->ttl_ms;
	return 0;
}

bool cns__fsm_lease_next(const struct cns__fsm *f, uint64_t after, uint64_t *ret_id,
			 int64_t *ret_ttl_ms)
{
	size_t pos;

	if (after == UINT64_MAX)
		return false;
	pos = lease_lower_bound(f, after + 1);
	if (pos == f->n_leases)
		return false;
	*ret_id = f->leases[pos].id;
	*ret_ttl_ms = f->leases[pos].ttl_ms;
	return true;
}
