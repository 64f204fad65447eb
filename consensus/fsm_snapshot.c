/*
 * Snapshot and restore: the whole state as one packed KvSnapshot.
 *
 * The bytes are a function of the state alone (keys in byte order, leases in
 * id order, protobuf-c packing fields in number order), so two nodes that
 * applied the same commands produce identical snapshots; the tests rely on
 * that to compare states. A restore checks every rule the state machine
 * itself keeps before it touches anything: bytes from disk or from a peer
 * that break one are refused as corrupt, never half-loaded.
 */
#include <errno.h>
#include <stdlib.h>

#include "base.h"
#include "fsm_internal.h"

/* KvSnapshot.format: also the end marker (see kv.proto). */
#define SNAPSHOT_FORMAT 1

/* calloc that is happy with n == 0 (*ret = NULL). */
static int array_new(size_t n, size_t size, void **ret)
{
	*ret = NULL;
	if (n == 0)
		return 0;
	*ret = calloc(n, size);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* Point s->kvs at KeyValues that borrow f's bytes (pack only reads them).
 * *ret_mem is the KeyValue storage, freed by the caller with s->kvs. */
static int borrow_kvs(const struct cns__fsm *f, Backstay__KvSnapshot *s,
		      Backstay__KeyValue **ret_mem)
{
	Backstay__KeyValue *mem;
	size_t i;

	if (array_new(f->n_kvs, sizeof *mem, (void **)&mem) != 0 ||
	    array_new(f->n_kvs, sizeof *s->kvs, (void **)&s->kvs) != 0) {
		free(mem);
		return -ENOMEM;
	}
	for (i = 0; i < f->n_kvs; i++) {
		const struct cns__fsm_kv *kv = f->kvs[i];

		backstay__key_value__init(&mem[i]);
		mem[i].key = (ProtobufCBinaryData){kv->key_len, (uint8_t *)kv->key};
		mem[i].value = (ProtobufCBinaryData){kv->value_len, kv->value};
		mem[i].create_revision = kv->create_revision;
		mem[i].mod_revision = kv->mod_revision;
		mem[i].version = kv->version;
		mem[i].lease = kv->lease;
		s->kvs[i] = &mem[i];
	}
	s->n_kvs = f->n_kvs;
	*ret_mem = mem;
	return 0;
}

static int borrow_leases(const struct cns__fsm *f, Backstay__KvSnapshot *s,
			 Backstay__Lease **ret_mem)
{
	Backstay__Lease *mem;
	size_t i;

	if (array_new(f->n_leases, sizeof *mem, (void **)&mem) != 0 ||
	    array_new(f->n_leases, sizeof *s->leases, (void **)&s->leases) != 0) {
		free(mem);
		return -ENOMEM;
	}
	for (i = 0; i < f->n_leases; i++) {
		backstay__lease__init(&mem[i]);
		mem[i].id = f->leases[i].id;
		mem[i].ttl_ms = f->leases[i].ttl_ms;
		s->leases[i] = &mem[i];
	}
	s->n_leases = f->n_leases;
	*ret_mem = mem;
	return 0;
}

static int pack(const Backstay__KvSnapshot *s, struct raft_buffer *ret_buf)
{
	size_t len = backstay__kv_snapshot__get_packed_size(s);
	uint8_t *buf = malloc(len > 0 ? len : 1);

	if (buf == NULL)
		return -ENOMEM;
	backstay__kv_snapshot__pack(s, buf);
	ret_buf->base = buf;
	ret_buf->len = len;
	return 0;
}

int cns__fsm_snapshot(const struct cns__fsm *f, struct raft_buffer *ret_buf)
{
	Backstay__KvSnapshot s = BACKSTAY__KV_SNAPSHOT__INIT;
	Backstay__KeyValue *kv_mem = NULL;
	Backstay__Lease *lease_mem = NULL;
	int rv;

	s.revision = f->revision;
	s.format = SNAPSHOT_FORMAT;
	rv = borrow_kvs(f, &s, &kv_mem);
	if (rv != 0)
		return rv;
	rv = borrow_leases(f, &s, &lease_mem);
	if (rv != 0)
		goto err_after_kvs;
	rv = pack(&s, ret_buf);
	free(s.leases);
	free(lease_mem);
err_after_kvs:
	free(s.kvs);
	free(kv_mem);
	return rv;
}

/* ---- restore ---------------------------------------------------------- */

/* Ids > 0 in strictly increasing order, TTLs > 0. */
static bool leases_valid(const Backstay__KvSnapshot *s)
{
	size_t i;

	for (i = 0; i < s->n_leases; i++) {
		const Backstay__Lease *l = s->leases[i];

		if (l->id == 0 || l->ttl_ms <= 0)
			return false;
		if (i > 0 && l->id <= s->leases[i - 1]->id)
			return false;
	}
	return true;
}

static bool has_lease(const Backstay__KvSnapshot *s, uint64_t id)
{
	size_t lo = 0, hi = s->n_leases;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->leases[mid]->id == id)
			return true;
		if (s->leases[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* What the state machine keeps true of every key: a key, after the one
 * before it; created by a put (revision >= 1) no later than its last put,
 * which is no later than the store; one put per version at most one per
 * revision; a lease that exists. */
static bool kv_valid(const Backstay__KvSnapshot *s, size_t i)
{
	const Backstay__KeyValue *kv = s->kvs[i];
	const Backstay__KeyValue *prev = i > 0 ? s->kvs[i - 1] : NULL;

	if (kv->key.len == 0)
		return false;
	if (prev != NULL &&
	    cns__fsm_key_cmp(prev->key.data, prev->key.len, kv->key.data, kv->key.len) >= 0)
		return false;
	if (kv->create_revision == 0 || kv->create_revision > kv->mod_revision ||
	    kv->mod_revision > s->revision)
		return false;
	if (kv->version == 0 || kv->version - 1 > kv->mod_revision - kv->create_revision)
		return false;
	return kv->lease == 0 || has_lease(s, kv->lease);
}

static bool snapshot_valid(const Backstay__KvSnapshot *s)
{
	size_t i;

	if (s->format != SNAPSHOT_FORMAT || !leases_valid(s))
		return false;
	for (i = 0; i < s->n_kvs; i++) {
		if (!kv_valid(s, i))
			return false;
	}
	return true;
}

/* Append a node for a valid snapshot key to t (room reserved). */
static int add_kv(struct cns__fsm *t, const Backstay__KeyValue *in)
{
	struct cns__fsm_kv *kv = cns__fsm_kv_new(in->key.data, in->key.len);

	if (kv == NULL)
		return -ENOMEM;
	if (cns__fsm_bytes_dup(in->value.data, in->value.len, &kv->value) != 0) {
		cns__fsm_kv_free(kv);
		return -ENOMEM;
	}
	kv->value_len = in->value.len;
	kv->create_revision = in->create_revision;
	kv->mod_revision = in->mod_revision;
	kv->version = in->version;
	kv->lease = in->lease;
	t->kvs[t->n_kvs++] = kv;
	cns__fsm_lease_attach(t, kv);
	return 0;
}

/* Fill the empty t from a valid snapshot: 0 or -ENOMEM (t then holds part
 * of it, for cns__fsm_clear). */
static int build(struct cns__fsm *t, const Backstay__KvSnapshot *s)
{
	size_t i;

	t->revision = s->revision;
	if (cns__fsm_reserve((void **)&t->leases, &t->cap_leases, s->n_leases, sizeof *t->leases) !=
		    0 ||
	    cns__fsm_reserve((void **)&t->kvs, &t->cap_kvs, s->n_kvs, sizeof *t->kvs) != 0)
		return -ENOMEM;
	for (i = 0; i < s->n_leases; i++) {
		if (cns__fsm_lease_insert(t, s->leases[i]->id, s->leases[i]->ttl_ms) != 0)
			return -ENOMEM;
	}
	for (i = 0; i < s->n_kvs; i++) {
		if (add_kv(t, s->kvs[i]) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* Exchange everything but the watches. */
static void swap_state(struct cns__fsm *a, struct cns__fsm *b)
{
	struct cns__fsm_watches wa = a->watches, wb = b->watches;
	struct cns__fsm tmp = *a;

	*a = *b;
	*b = tmp;
	a->watches = wa;
	b->watches = wb;
}

int cns__fsm_restore(struct cns__fsm *f, const void *buf, size_t len)
{
	ProtobufCMessage *msg;
	const Backstay__KvSnapshot *s;
	struct cns__fsm t = {0};
	int rv;

	rv = cns__fsm_unpack(&backstay__kv_snapshot__descriptor, buf, len, &msg);
	if (rv != 0)
		return rv == -EINVAL ? BS_E_CORRUPT : rv;
	s = (const Backstay__KvSnapshot *)msg;
	rv = BS_E_CORRUPT;
	if (!snapshot_valid(s))
		goto err_after_msg;
	rv = build(&t, s);
	if (rv != 0)
		goto err_after_build;
	swap_state(f, &t);
	cns__fsm_clear(&t);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;

err_after_build:
	cns__fsm_clear(&t);
err_after_msg:
	protobuf_c_message_free_unpacked(msg, NULL);
	return rv;
}
