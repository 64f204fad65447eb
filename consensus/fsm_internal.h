/* Internals of the KV state machine, shared by fsm*.c only. */
#ifndef BS_CONSENSUS_FSM_INTERNAL_H
#define BS_CONSENSUS_FSM_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "fsm.h"

/* One key. key[] is part of the allocation; value is malloc'd (NULL when
 * value_len is 0). */
struct cns__fsm_kv {
	uint64_t create_revision;
	uint64_t mod_revision;
	uint64_t version;
	uint64_t lease;			/* 0: none */
	struct cns__fsm_kv *lease_prev; /* the lease's keys, a doubly linked list */
	struct cns__fsm_kv *lease_next;
	uint8_t *value;
	size_t value_len;
	size_t key_len;
	bool doomed; /* chosen for deletion by the command being applied */
	uint8_t key[];
};

/* One lease; kept by value in an array sorted by id. */
struct cns__fsm_lease {
	uint64_t id; /* the Raft index of its grant */
	int64_t ttl_ms;
	struct cns__fsm_kv *keys; /* head of its keys' list, or NULL */
};

struct cns__fsm_watch;

struct cns__fsm_watches {
	struct cns__fsm_watch *head, *tail; /* in id order */
	uint64_t last_id;
	bool dispatching; /* inside cns__fsm_notify(): unwatch defers its free */
};

/*
 * The keys are a sorted array of pointers (byte order, a proper prefix before
 * its extensions), searched by bisection. Range by prefix is a bisection and
 * a walk over adjacent slots; inserting or deleting a key moves the pointers
 * after it (8 bytes each: 0.8 MB at 100,000 keys, tens of microseconds,
 * against a ~0.3 ms fsync per commit). Cluster state is small and mostly
 * updated in place; the array costs 8 bytes a key where a tree costs 24-32.
 */
struct cns__fsm {
	uint64_t revision;
	struct cns__fsm_kv **kvs;
	size_t n_kvs, cap_kvs;
	struct cns__fsm_lease *leases; /* sorted by id */
	size_t n_leases, cap_leases;
	struct cns__fsm_watches watches;
};

/* ---- fsm.c: keys ------------------------------------------------------ */

/* Grow *array (elements of `size` bytes) to hold at least `need`: 0 or
 * -ENOMEM (array untouched). */
int cns__fsm_reserve(void **array, size_t *cap, size_t need, size_t size);
/* <0, 0, >0 like memcmp: byte order, and on a common prefix the shorter key
 * first. */
int cns__fsm_key_cmp(const uint8_t *a, size_t a_len, const void *b, size_t b_len);
/* Index of the first key >= key (n_kvs when none). */
size_t cns__fsm_lower_bound(const struct cns__fsm *f, const void *key, size_t len);
bool cns__fsm_has_prefix(const uint8_t *key, size_t key_len, const void *prefix, size_t len);
/* The key equal to key, or NULL; *ret_pos is where it is or would go. */
struct cns__fsm_kv *cns__fsm_kv_find(const struct cns__fsm *f, const void *key, size_t len,
				     size_t *ret_pos);
/* A new key node with no value, or NULL. */
struct cns__fsm_kv *cns__fsm_kv_new(const void *key, size_t len);
void cns__fsm_kv_free(struct cns__fsm_kv *kv); /* accepts NULL */
/* A malloc'd copy of len bytes in *ret (NULL for 0 bytes): 0 or -ENOMEM. */
int cns__fsm_bytes_dup(const void *p, size_t len, uint8_t **ret);

/* A key's fields, borrowed: what a key is, or will be after a put. */
struct cns__fsm_kv_view {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	uint64_t create_revision;
	uint64_t mod_revision;
	uint64_t version;
	uint64_t lease;
};

/* A malloc'd KeyValue holding copies of v's bytes, or NULL; free with
 * backstay__key_value__free_unpacked(kv, NULL). */
Backstay__KeyValue *cns__fsm_kv_build(const struct cns__fsm_kv_view *v);
/* The same for a stored key. */
Backstay__KeyValue *cns__fsm_kv_copy(const struct cns__fsm_kv *kv);
/* Free every key and lease; the fsm is then empty at revision 0 (watches
 * stay). */
void cns__fsm_clear(struct cns__fsm *f);
/*
 * Delete the keys marked doomed, all within kvs[lo, hi): copies of them go
 * to r->kvs in key order, then the store moves to the next revision and they
 * go. Nothing marked: nothing happens. -ENOMEM: nothing changed, the marks
 * are cleared, r may hold some of the copies (freed with r).
 */
int cns__fsm_delete_doomed(struct cns__fsm *f, size_t lo, size_t hi, Backstay__KvResult *r);
/* Unpack a message with malloc, telling bytes protobuf-c refuses (-EINVAL)
 * from an allocation failure (-ENOMEM). Free with
 * protobuf_c_message_free_unpacked(msg, NULL). */
int cns__fsm_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
		    ProtobufCMessage **ret_msg);

/* ---- fsm_lease.c ------------------------------------------------------ */

struct cns__fsm_lease *cns__fsm_lease_find(const struct cns__fsm *f, uint64_t id);
/* Link kv into its lease's list (kv->lease names an existing lease, or 0). */
void cns__fsm_lease_attach(struct cns__fsm *f, struct cns__fsm_kv *kv);
/* Unlink kv from its lease's list and set kv->lease to 0. */
void cns__fsm_lease_detach(struct cns__fsm *f, struct cns__fsm_kv *kv);
/* Insert a lease whose id is not there yet: 0 or -ENOMEM. */
int cns__fsm_lease_insert(struct cns__fsm *f, uint64_t id, int64_t ttl_ms);
/* The ops: 0 with the outcome in r, or -ENOMEM with nothing changed. */
int cns__fsm_apply_grant(struct cns__fsm *f, uint64_t index, const Backstay__LeaseGrant *g,
			 Backstay__KvResult *r);
int cns__fsm_apply_revoke(struct cns__fsm *f, uint64_t id, Backstay__KvResult *r);

/* ---- fsm_watch.c ------------------------------------------------------ */

/* Fire the events of an applied command's result (code 0: r->kv is a put,
 * r->kvs are deletions) at the matching watches. */
void cns__fsm_notify(struct cns__fsm *f, const Backstay__KvResult *r);
void cns__fsm_watches_free(struct cns__fsm_watches *w);

#endif /* BS_CONSENSUS_FSM_INTERNAL_H */
