/*
 * Applying a committed command: decode, dispatch on the op, put and delete
 * (leases are in fsm_lease.c), then the watches.
 *
 * Every op runs in two phases so that running out of memory changes
 * nothing: first everything that can fail (checks, the result's copies, new
 * nodes, array room), then the change itself, which cannot fail. The
 * revision rules are etcd's, written out at the top of proto/kv.proto: one
 * revision per command that changes at least one key, none otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsm_internal.h"

/* 0 when cmp holds for kv (NULL: the key does not exist; no cmp: always),
 * -ECANCELED when it does not, -EINVAL when cmp has no target this version
 * knows. Existing keys have mod_revision >= 1, so 0 means "absent". */
static int compare_check(const Backstay__KvCompare *cmp, const struct cns__fsm_kv *kv)
{
	if (cmp == NULL)
		return 0;
	switch (cmp->target_case) {
	case BACKSTAY__KV_COMPARE__TARGET_MOD_REVISION:
		return (kv != NULL ? kv->mod_revision : 0) == cmp->mod_revision ? 0 : -ECANCELED;
	case BACKSTAY__KV_COMPARE__TARGET_VALUE:
		if (kv == NULL || kv->value_len != cmp->value.len)
			return -ECANCELED;
		if (kv->value_len > 0 && memcmp(kv->value, cmp->value.data, kv->value_len) != 0)
			return -ECANCELED;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Check put's key and compare, and its lease last. 0 when the put may go
 * ahead; otherwise r->code is set, with the key as it is in r->kv after a
 * failed compare (-ENOMEM when that copy fails). */
static int put_check(const struct cns__fsm *f, const Backstay__KvPut *put,
		     const struct cns__fsm_kv *old, Backstay__KvResult *r)
{
	if (put->key.len == 0) {
		r->code = -EINVAL;
		return 0;
	}
	r->code = compare_check(put->compare, old);
	if (r->code == -ECANCELED && old != NULL) {
		r->kv = cns__fsm_kv_copy(old);
		if (r->kv == NULL)
			return -ENOMEM;
	}
	if (r->code == 0 && put->lease != 0 && cns__fsm_lease_find(f, put->lease) == NULL)
		r->code = -ENOENT;
	return 0;
}

/* Phase one of a put: the result (prev, and kv as it will be) and, for a new
 * key, its node and a free slot. */
static int put_prepare(struct cns__fsm *f, const Backstay__KvPut *put,
		       const struct cns__fsm_kv *old, Backstay__KvResult *r,
		       struct cns__fsm_kv **ret_node)
{
	uint64_t rev = f->revision + 1;
	struct cns__fsm_kv_view after = {
		.key = put->key.data,
		.key_len = put->key.len,
		.value = put->value.data,
		.value_len = put->value.len,
		.create_revision = old != NULL ? old->create_revision : rev,
		.mod_revision = rev,
		.version = old != NULL ? old->version + 1 : 1,
		.lease = put->lease,
	};

	if (old != NULL && (r->prev = cns__fsm_kv_copy(old)) == NULL)
		return -ENOMEM;
	if ((r->kv = cns__fsm_kv_build(&after)) == NULL)
		return -ENOMEM;
	if (old != NULL)
		return 0;
	if (cns__fsm_reserve((void **)&f->kvs, &f->cap_kvs, f->n_kvs + 1, sizeof *f->kvs) != 0)
		return -ENOMEM;
	*ret_node = cns__fsm_kv_new(put->key.data, put->key.len);
	return *ret_node != NULL ? 0 : -ENOMEM;
}

/* Phase two: cannot fail. kv is the existing node, or the new one to insert
 * at pos. */
static void put_commit(struct cns__fsm *f, struct cns__fsm_kv *kv, bool is_new, size_t pos,
		       uint8_t *value, size_t value_len, uint64_t lease)
{
	f->revision++;
	if (is_new) {
		memmove(&f->kvs[pos + 1], &f->kvs[pos], (f->n_kvs - pos) * sizeof *f->kvs);
		f->kvs[pos] = kv;
		f->n_kvs++;
		kv->create_revision = f->revision;
	}
	free(kv->value);
	kv->value = value;
	kv->value_len = value_len;
	kv->mod_revision = f->revision;
	kv->version++;
	if (kv->lease != lease) {
		cns__fsm_lease_detach(f, kv);
		kv->lease = lease;
		cns__fsm_lease_attach(f, kv);
	}
}

static int apply_put(struct cns__fsm *f, const Backstay__KvPut *put, Backstay__KvResult *r)
{
	size_t pos;
	struct cns__fsm_kv *old = cns__fsm_kv_find(f, put->key.data, put->key.len, &pos);
	struct cns__fsm_kv *node = old;
	uint8_t *value;
	int rv;

	rv = put_check(f, put, old, r);
	if (rv != 0 || r->code != 0)
		return rv;
	if (cns__fsm_bytes_dup(put->value.data, put->value.len, &value) != 0)
		return -ENOMEM;
	rv = put_prepare(f, put, old, r, &node);
	if (rv != 0)
		goto err_after_value;
	put_commit(f, node, old == NULL, pos, value, put->value.len, put->lease);
	return 0;

err_after_value:
	free(value);
	return rv;
}

/* Copies of the n doomed keys in kvs[lo, hi) into r->kvs: 0 or -ENOMEM. */
static int copy_doomed(const struct cns__fsm *f, size_t lo, size_t hi, size_t n,
		       Backstay__KvResult *r)
{
	size_t i;

	r->kvs = calloc(n, sizeof *r->kvs);
	if (r->kvs == NULL)
		return -ENOMEM;
	for (i = lo; i < hi; i++) {
		if (!f->kvs[i]->doomed)
			continue;
		r->kvs[r->n_kvs] = cns__fsm_kv_copy(f->kvs[i]);
		if (r->kvs[r->n_kvs] == NULL)
			return -ENOMEM;
		r->n_kvs++;
	}
	return 0;
}

int cns__fsm_delete_doomed(struct cns__fsm *f, size_t lo, size_t hi, Backstay__KvResult *r)
{
	size_t i, w, n = 0;

	for (i = lo; i < hi; i++)
		n += f->kvs[i]->doomed;
	if (n == 0)
		return 0;
	if (copy_doomed(f, lo, hi, n, r) != 0) {
		for (i = lo; i < hi; i++)
			f->kvs[i]->doomed = false;
		return -ENOMEM;
	}
	f->revision++;
	for (i = w = lo; i < hi; i++) {
		struct cns__fsm_kv *kv = f->kvs[i];

		if (!kv->doomed) {
			f->kvs[w++] = kv;
			continue;
		}
		cns__fsm_lease_detach(f, kv);
		cns__fsm_kv_free(kv);
	}
	memmove(&f->kvs[w], &f->kvs[hi], (f->n_kvs - hi) * sizeof *f->kvs);
	f->n_kvs -= hi - w;
	return 0;
}

/* Mark the keys starting with prefix; *ret_hi is one past the last. */
static void doom_prefix(struct cns__fsm *f, const Backstay__KvDelete *del, size_t lo,
			size_t *ret_hi)
{
	size_t hi = lo;

	while (hi < f->n_kvs && cns__fsm_has_prefix(f->kvs[hi]->key, f->kvs[hi]->key_len,
						    del->key.data, del->key.len))
		f->kvs[hi++]->doomed = true;
	*ret_hi = hi;
}

static int apply_delete(struct cns__fsm *f, const Backstay__KvDelete *del, Backstay__KvResult *r)
{
	size_t pos, hi;
	struct cns__fsm_kv *kv;

	if (del->prefix) {
		if (del->compare != NULL) {
			r->code = -EINVAL;
			return 0;
		}
		pos = cns__fsm_lower_bound(f, del->key.data, del->key.len);
		doom_prefix(f, del, pos, &hi);
		return cns__fsm_delete_doomed(f, pos, hi, r);
	}
	if (del->key.len == 0) {
		r->code = -EINVAL;
		return 0;
	}
	kv = cns__fsm_kv_find(f, del->key.data, del->key.len, &pos);
	r->code = compare_check(del->compare, kv);
	if (r->code != 0 || kv == NULL)
		return 0;
	kv->doomed = true;
	return cns__fsm_delete_doomed(f, pos, pos + 1, r);
}

/* Run a decoded command: 0 with its outcome in r, or -ENOMEM. */
static int dispatch(struct cns__fsm *f, uint64_t index, const Backstay__KvCommand *c,
		    Backstay__KvResult *r)
{
	switch (c->op_case) {
	case BACKSTAY__KV_COMMAND__OP_PUT:
		return apply_put(f, c->put, r);
	case BACKSTAY__KV_COMMAND__OP_DEL:
		return apply_delete(f, c->del, r);
	case BACKSTAY__KV_COMMAND__OP_LEASE_GRANT:
		return cns__fsm_apply_grant(f, index, c->lease_grant, r);
	case BACKSTAY__KV_COMMAND__OP_LEASE_REVOKE:
		return cns__fsm_apply_revoke(f, c->lease_revoke->id, r);
	case BACKSTAY__KV_COMMAND__OP_LEASE_EXPIRE:
		return cns__fsm_apply_revoke(f, c->lease_expire->id, r);
	case BACKSTAY__KV_COMMAND__OP_NOOP:
		return 0;
	default: /* no op set, or one this version does not know */
		r->code = -EINVAL;
		return 0;
	}
}

int cns__fsm_apply(struct cns__fsm *f, uint64_t index, const void *cmd, size_t len,
		   Backstay__KvResult **ret_result)
{
	ProtobufCMessage *msg = NULL;
	Backstay__KvResult *r = malloc(sizeof *r);
	int rv;

	if (r == NULL)
		return -ENOMEM;
	backstay__kv_result__init(r);
	rv = cns__fsm_unpack(&backstay__kv_command__descriptor, cmd, len, &msg);
	if (rv == -EINVAL)
		r->code = -EINVAL;
	else if (rv == 0)
		rv = dispatch(f, index, (const Backstay__KvCommand *)msg, r);
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
	if (rv == -ENOMEM)
		goto err_after_result;
	r->revision = f->revision;
	cns__fsm_notify(f, r);
	if (ret_result != NULL)
		*ret_result = r;
	else
		backstay__kv_result__free_unpacked(r, NULL);
	return 0;

err_after_result:
	backstay__kv_result__free_unpacked(r, NULL);
	return -ENOMEM;
}
