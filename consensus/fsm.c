/*
 * The KV state machine's store: the sorted key array (see fsm_internal.h for
 * why an array), key nodes and their KeyValue copies, lifecycle and the local
 * reads. Commands are applied in fsm_apply.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsm_internal.h"

int cns__fsm_new(struct cns__fsm **ret_fsm)
{
	struct cns__fsm *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -ENOMEM;
	*ret_fsm = f;
	return 0;
}

void cns__fsm_clear(struct cns__fsm *f)
{
	size_t i;

	for (i = 0; i < f->n_kvs; i++)
		cns__fsm_kv_free(f->kvs[i]);
	free(f->kvs);
	free(f->leases);
	f->kvs = NULL;
	f->leases = NULL;
	f->n_kvs = f->cap_kvs = f->n_leases = f->cap_leases = 0;
	f->revision = 0;
}

void cns__fsm_free(struct cns__fsm *f)
{
	if (f == NULL)
		return;
	cns__fsm_clear(f);
	cns__fsm_watches_free(&f->watches);
	free(f);
}

int cns__fsm_reserve(void **array, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap > 0 ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*array, n * size);
	if (p == NULL)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

int cns__fsm_key_cmp(const uint8_t *a, size_t a_len, const void *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0 || a_len == b_len)
		return c;
	return a_len < b_len ? -1 : 1;
}

size_t cns__fsm_lower_bound(const struct cns__fsm *f, const void *key, size_t len)
{
	size_t lo = 0, hi = f->n_kvs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cns__fsm_kv *kv = f->kvs[mid];

		if (cns__fsm_key_cmp(kv->key, kv->key_len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool cns__fsm_has_prefix(const uint8_t *key, size_t key_len, const void *prefix, size_t len)
{
	return key_len >= len && (len == 0 || memcmp(key, prefix, len) == 0);
}

struct cns__fsm_kv *cns__fsm_kv_find(const struct cns__fsm *f, const void *key, size_t len,
				     size_t *ret_pos)
{
	size_t pos = cns__fsm_lower_bound(f, key, len);
	struct cns__fsm_kv *kv = pos < f->n_kvs ? f->kvs[pos] : NULL;

	*ret_pos = pos;
	if (kv != NULL && cns__fsm_key_cmp(kv->key, kv->key_len, key, len) == 0)
		return kv;
	return NULL;
}

struct cns__fsm_kv *cns__fsm_kv_new(const void *key, size_t len)
{
	struct cns__fsm_kv *kv;

	if (len > SIZE_MAX - sizeof *kv)
		return NULL;
	kv = calloc(1, sizeof *kv + len);
	if (kv == NULL)
		return NULL;
	if (len > 0)
		memcpy(kv->key, key, len);
	kv->key_len = len;
	return kv;
}

void cns__fsm_kv_free(struct cns__fsm_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->value);
	free(kv);
}

int cns__fsm_bytes_dup(const void *p, size_t len, uint8_t **ret)
{
	uint8_t *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, p, len);
	}
	*ret = copy;
	return 0;
}

Backstay__KeyValue *cns__fsm_kv_build(const struct cns__fsm_kv_view *v)
{
	Backstay__KeyValue *out = malloc(sizeof *out);

	if (out == NULL)
		return NULL;
	backstay__key_value__init(out);
	if (cns__fsm_bytes_dup(v->key, v->key_len, &out->key.data) != 0)
		goto err_after_out;
	out->key.len = v->key_len;
	if (cns__fsm_bytes_dup(v->value, v->value_len, &out->value.data) != 0)
		goto err_after_key;
	out->value.len = v->value_len;
	out->create_revision = v->create_revision;
	out->mod_revision = v->mod_revision;
	out->version = v->version;
	out->lease = v->lease;
	return out;

err_after_key:
	free(out->key.data);
err_after_out:
	free(out);
	return NULL;
}

Backstay__KeyValue *cns__fsm_kv_copy(const struct cns__fsm_kv *kv)
{
	struct cns__fsm_kv_view v = {
		.key = kv->key,
		.key_len = kv->key_len,
		.value = kv->value,
		.value_len = kv->value_len,
		.create_revision = kv->create_revision,
		.mod_revision = kv->mod_revision,
		.version = kv->version,
		.lease = kv->lease,
	};

	return cns__fsm_kv_build(&v);
}

/* protobuf-c returns NULL both for bytes it refuses and when malloc fails; a
 * node must not take the second for the first (it would drop a command its
 * peers apply), so the allocator notes failures. */
struct tracked_alloc {
	ProtobufCAllocator a;
	bool failed;
};

static void *tracked_malloc(void *data, size_t size)
{
	struct tracked_alloc *t = data;
	void *p = malloc(size);

	if (p == NULL && size > 0)
		t->failed = true;
	return p;
}

static void tracked_free(void *data, void *p)
{
	(void)data;
	free(p);
}

int cns__fsm_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
		    ProtobufCMessage **ret_msg)
{
	struct tracked_alloc t = {.a = {tracked_malloc, tracked_free, NULL}};
	ProtobufCMessage *msg;

	t.a.allocator_data = &t;
	msg = protobuf_c_message_unpack(desc, &t.a, len, buf);
	if (msg == NULL)
		return t.failed ? -ENOMEM : -EINVAL;
	*ret_msg = msg;
	return 0;
}

/* ---- reads ------------------------------------------------------------ */

uint64_t cns__fsm_revision(const struct cns__fsm *f)
{
	return f->revision;
}

size_t cns__fsm_count(const struct cns__fsm *f)
{
	return f->n_kvs;
}

int cns__fsm_get(const struct cns__fsm *f, const void *key, size_t len, Backstay__KeyValue **ret_kv)
{
	size_t pos;
	const struct cns__fsm_kv *kv = cns__fsm_kv_find(f, key, len, &pos);
	Backstay__KeyValue *copy;

	if (kv == NULL)
		return -ENOENT;
	copy = cns__fsm_kv_copy(kv);
	if (copy == NULL)
		return -ENOMEM;
	*ret_kv = copy;
	return 0;
}

/* How many keys from kvs[pos] on start with prefix, counting at most
 * limit + 1 of them (limit 0: all). */
static size_t count_prefix(const struct cns__fsm *f, size_t pos, const void *prefix, size_t len,
			   size_t limit)
{
	size_t n = 0;

	while (pos + n < f->n_kvs && (limit == 0 || n <= limit)) {
		const struct cns__fsm_kv *kv = f->kvs[pos + n];

		if (!cns__fsm_has_prefix(kv->key, kv->key_len, prefix, len))
			break;
		n++;
	}
	return n;
}

int cns__fsm_range(const struct cns__fsm *f, const void *prefix, size_t len, size_t limit,
		   Backstay__KvResult **ret_result)
{
	size_t pos = cns__fsm_lower_bound(f, prefix, len);
	size_t n = count_prefix(f, pos, prefix, len, limit);
	Backstay__KvResult *r = malloc(sizeof *r);

	if (r == NULL)
		return -ENOMEM;
	backstay__kv_result__init(r);
	r->revision = f->revision;
	if (limit != 0 && n > limit) {
		n = limit;
		r->more = true;
	}
	if (n > 0 && (r->kvs = calloc(n, sizeof *r->kvs)) == NULL)
		goto err_after_result;
	for (; r->n_kvs < n; r->n_kvs++) {
		r->kvs[r->n_kvs] = cns__fsm_kv_copy(f->kvs[pos + r->n_kvs]);
		if (r->kvs[r->n_kvs] == NULL)
			goto err_after_result;
	}
	*ret_result = r;
	return 0;

err_after_result:
	backstay__kv_result__free_unpacked(r, NULL);
	return -ENOMEM;
}
