/*
 * The replicated KV state machine (ARCHITECTURE §3): keys with etcd-style
 * revisions; put, delete and compare-and-swap; range by prefix; leases whose
 * keys vanish in one revision when the lease is revoked or expires; watches
 * for local subscribers. Commands, results and the snapshot are the messages
 * of proto/kv.proto, whose header comment is the reference for the revision
 * rules and the result codes.
 *
 * Pure and deterministic: no clock, no I/O, no randomness. Nodes that apply
 * the same committed commands in the same order hold the same state, and
 * cns__fsm_snapshot() gives them the same bytes. Lease deadlines are not kept
 * here: the Raft leader keeps them in memory and commits LeaseExpire.
 *
 * Reads are local. For a linearizable read the node first waits until a
 * barrier of its current term has been applied.
 *
 * Threads: none; one fsm is used from one thread (the node's loop).
 * Files: fsm.c (keys, apply, reads), fsm_lease.c, fsm_watch.c,
 * fsm_snapshot.c; fsm_internal.h holds what they share.
 */
#ifndef BS_CONSENSUS_FSM_H
#define BS_CONSENSUS_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.pb-c.h"

struct cns__fsm;

/* An empty store at revision 0. Owned by the caller; 0 or -ENOMEM. */
int cns__fsm_new(struct cns__fsm **ret_fsm);
/* Accepts NULL. Watches are dropped without a call. */
void cns__fsm_free(struct cns__fsm *f);

/*
 * Apply the data of one committed RAFT_COMMAND entry (a packed KvCommand) at
 * Raft index `index` (> 0; a LeaseGrant's lease id is this index). Bytes that
 * are not a valid command are not an error here: they give a result with code
 * -EINVAL and change nothing, identically on every node.
 *
 * Returns 0 when the command was applied (whatever its result code): when
 * ret_result is not NULL, *ret_result is a new result owned by the caller,
 * freed with backstay__kv_result__free_unpacked(result, NULL). Watches
 * matching a changed key were called before the return, after the whole
 * command had taken effect.
 *
 * Returns -ENOMEM when memory ran out: nothing changed, no watch was called,
 * *ret_result is untouched, and the entry counts as NOT applied. The caller
 * must apply it again (or stop the node): skipping it would diverge from the
 * peers.
 *
 * Must not be called from a watch callback.
 */
int cns__fsm_apply(struct cns__fsm *f, uint64_t index, const void *cmd, size_t len,
		   Backstay__KvResult **ret_result);

/* ---- reads ----------------------------------------------------------- */

/* The store's revision (0 for an empty store that never changed). */
uint64_t cns__fsm_revision(const struct cns__fsm *f);
/* Number of keys. */
size_t cns__fsm_count(const struct cns__fsm *f);

/* A copy of one key: 0, -ENOENT or -ENOMEM. The caller frees *ret_kv with
 * backstay__key_value__free_unpacked(kv, NULL); untouched on failure. */
int cns__fsm_get(const struct cns__fsm *f, const void *key, size_t len,
		 Backstay__KeyValue **ret_kv);

/* Copies of the keys starting with prefix (len 0: every key) in byte order,
 * at most `limit` of them (0: no limit), in a result with code 0, the
 * current revision, kvs, and more = true when the limit cut the list.
 * 0 or -ENOMEM. Freed like an apply result; untouched on failure. */
int cns__fsm_range(const struct cns__fsm *f, const void *prefix, size_t len, size_t limit,
		   Backstay__KvResult **ret_result);

/* TTL of a lease: 0 or -ENOENT (*ret_ttl_ms untouched). */
int cns__fsm_lease_ttl(const struct cns__fsm *f, uint64_t id, int64_t *ret_ttl_ms);

/* Leases in increasing id order, as a cursor that survives changes between
 * calls: the first lease whose id is greater than `after` (start with 0).
 * false when there is none (outputs untouched). For the leader's deadline
 * table:
 *
 *     for (id = 0; cns__fsm_lease_next(f, id, &id, &ttl_ms);)
 *             arm(id, now + ttl_ms);
 */
bool cns__fsm_lease_next(const struct cns__fsm *f, uint64_t after, uint64_t *ret_id,
			 int64_t *ret_ttl_ms);

/* ---- watches --------------------------------------------------------- */

enum cns__fsm_event_type {
	CNS__FSM_PUT = 1, /* a key was created or replaced */
	CNS__FSM_DELETE,  /* a key was deleted (delete, prefix delete, lease revoke/expiry) */
};

/*
 * One change, borrowed for the duration of the callback only.
 *   PUT:    kv = the key after; prev = the key before, NULL if it was created.
 *   DELETE: kv = the key and mod_revision = the deleting revision (etcd's
 *           tombstone; other fields 0); prev = the key before.
 * revision is the store's revision after the command (all events of one
 * command share it).
 */
struct cns__fsm_event {
	enum cns__fsm_event_type type;
	const Backstay__KeyValue *kv;
	const Backstay__KeyValue *prev;
	uint64_t revision;
};

/* Called synchronously inside cns__fsm_apply(), once the command has fully
 * taken effect, for each changed key starting with the watch's prefix, in
 * key order (and, per key, in watch id order). It may read the fsm, add
 * watches (they see changes from the next command on) and remove any watch,
 * itself included; it must not apply or restore. */
typedef void (*cns__fsm_watch_cb)(void *data, const struct cns__fsm_event *event);

/* Watch the keys starting with prefix (len 0: every key); prefix is copied.
 * 0 and a new id (never 0, never reused) in *ret_id, or -ENOMEM. */
int cns__fsm_watch(struct cns__fsm *f, const void *prefix, size_t len, cns__fsm_watch_cb cb,
		   void *data, uint64_t *ret_id);
/* Stop a watch: 0 or -ENOENT. Once it returns, cb is not called again. */
int cns__fsm_unwatch(struct cns__fsm *f, uint64_t id);

/* ---- snapshot -------------------------------------------------------- */

/* The whole state as a packed KvSnapshot: keys in byte order, leases in id
 * order, so equal states give equal bytes. On 0 ret_buf->base is from
 * malloc(3) and owned by the caller; -ENOMEM leaves *ret_buf untouched. */
int cns__fsm_snapshot(const struct cns__fsm *f, struct raft_buffer *ret_buf);

/* Replace the whole state (keys, leases, revision) with a snapshot's. The
 * bytes are only read. Returns 0, BS_E_CORRUPT (not a KvSnapshot, or one
 * that breaks its rules: keys out of order or repeated, a revision or version
 * that cannot be, a key on a lease that does not exist, ...) or -ENOMEM; on
 * failure the fsm is unchanged. Watches stay registered, and no event fires
 * for the keys a restore adds, changes or removes: a subscriber that cares
 * re-reads (cns__fsm_range) after a restore. */
int cns__fsm_restore(struct cns__fsm *f, const void *buf, size_t len);

#endif /* BS_CONSENSUS_FSM_H */
