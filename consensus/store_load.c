/*
 * Reading a node's store back at start-up (cns__store_load, contract in
 * store.h; record layout at the top of store.c). Everything is read in one
 * read-only transaction and copied out before it ends. Nothing is trusted:
 * each record's checksum, size and fields are checked, then the log's shape
 * (contiguous, terms never decreasing, joined to the snapshot), and the
 * first violation is reported as BS_E_CORRUPT naming the record.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "store_internal.h"

static int corrupt(char *errmsg, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int corrupt(char *errmsg, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (errmsg != NULL && size > 0) {
		va_start(ap, fmt);
		vsnprintf(errmsg, size, fmt, ap);
		va_end(ap);
	}
	return BS_E_CORRUPT;
}

/* A malloc'd copy of len bytes (NULL for none) into dst. */
static int buf_copy(struct raft_buffer *dst, const uint8_t *src, size_t len)
{
	dst->base = NULL;
	dst->len = 0;
	if (len == 0)
		return 0;
	dst->base = malloc(len);
	if (dst->base == NULL)
		return -ENOMEM;
	memcpy(dst->base, src, len);
	dst->len = len;
	return 0;
}

static int nomem(char *errmsg, size_t size, const char *what)
{
	bs_errf(errmsg, size, "%s: %s", what, bs_strerror(-ENOMEM));
	return -ENOMEM;
}

/* ---- meta ------------------------------------------------------------------ */

int cns__version_check(struct cns__store *s, MDB_txn *txn, char *errmsg, size_t size)
{
	MDB_val key = CNS__KEY_VERSION, val;
	uint32_t format;
	int rc;

	rc = mdb_get(txn, s->meta, &key, &val);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "meta version: lmdb get");
	if (val.mv_size != CNS__VERSION_LEN)
		return corrupt(errmsg, size, "meta version: record of %zu bytes", val.mv_size);
	if (!cns__record_intact(&key, &val))
		return corrupt(errmsg, size, "meta version: checksum mismatch");
	format = cns__get_be32((const uint8_t *)val.mv_data + CNS__CRC_LEN);
	if (format != CNS__STORE_FORMAT)
		return corrupt(errmsg, size, "meta version: format %u, this build reads format %d",
			       format, CNS__STORE_FORMAT);
	return 0;
}

static int term_vote_load(struct cns__store *s, MDB_txn *txn, struct cns__loaded *l, char *errmsg,
			  size_t size)
{
	MDB_val key = CNS__KEY_TERM_VOTE, val;
	const uint8_t *rec;
	int rc;

	rc = mdb_get(txn, s->meta, &key, &val);
	if (rc == MDB_NOTFOUND)
		return 0; /* never written: term 0, no vote */
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "meta term_vote: lmdb get");
	if (val.mv_size != CNS__TERM_VOTE_LEN)
		return corrupt(errmsg, size, "meta term_vote: record of %zu bytes", val.mv_size);
	if (!cns__record_intact(&key, &val))
		return corrupt(errmsg, size, "meta term_vote: checksum mismatch");
	rec = val.mv_data;
	l->term = cns__get_be64(rec + CNS__CRC_LEN);
	l->vote = cns__get_be64(rec + CNS__CRC_LEN + 8);
	return 0;
}

/* ---- snapshot --------------------------------------------------------------- */

static int snapshot_decode(const MDB_val *val, struct cns__snapshot *snap, char *errmsg,
			   size_t size)
{
	const uint8_t *rec = val->mv_data;
	size_t conf_len = cns__get_be32(rec + 4);

	if (conf_len > val->mv_size - CNS__SNAP_HDR)
		return corrupt(errmsg, size,
			       "snapshot: configuration of %zu bytes in a record of %zu", conf_len,
			       val->mv_size);
	snap->index = cns__get_be64(rec + 8);
	snap->term = cns__get_be64(rec + 16);
	snap->conf_index = cns__get_be64(rec + 24);
	if (snap->index == 0 || snap->term == 0)
		return corrupt(errmsg, size, "snapshot: index %llu, term %llu",
			       (unsigned long long)snap->index, (unsigned long long)snap->term);
	if (snap->conf_index == 0 || snap->conf_index > snap->index)
		return corrupt(
			errmsg, size, "snapshot: configuration index %llu, snapshot index %llu",
			(unsigned long long)snap->conf_index, (unsigned long long)snap->index);
	if (buf_copy(&snap->conf, rec + CNS__SNAP_HDR, conf_len) != 0 ||
	    buf_copy(&snap->data, rec + CNS__SNAP_HDR + conf_len,
		     val->mv_size - CNS__SNAP_HDR - conf_len) != 0)
		return nomem(errmsg, size, "snapshot");
	return 0;
}

static int snapshot_load(struct cns__store *s, MDB_txn *txn, struct cns__snapshot **ret,
			 char *errmsg, size_t size)
{
	MDB_val key = CNS__KEY_SNAPSHOT, val;
	struct cns__snapshot *snap;
	int rc, rv;

	rc = mdb_get(txn, s->snap, &key, &val);
	if (rc == MDB_NOTFOUND)
		return 0; /* none ever stored: *ret stays NULL */
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "snapshot: lmdb get");
	if (val.mv_size < CNS__SNAP_HDR)
		return corrupt(errmsg, size, "snapshot: record of %zu bytes", val.mv_size);
	if (!cns__record_intact(&key, &val))
		return corrupt(errmsg, size, "snapshot: checksum mismatch");
	snap = calloc(1, sizeof *snap);
	if (snap == NULL)
		return nomem(errmsg, size, "snapshot");
	rv = snapshot_decode(&val, snap, errmsg, size);
	if (rv != 0) {
		cns__snapshot_free(snap);
		return rv;
	}
	*ret = snap;
	return 0;
}

/* ---- log ----------------------------------------------------------------------- */

/* The walk over the log in index order. */
struct log_walk {
	struct cns__loaded *l;
	const struct cns__snapshot *snap;
	uint64_t prev_index; /* 0 until the first entry */
	uint64_t prev_term;
	unsigned cap; /* entries allocated in l->entries */
};

/* The record on its own: key, size, checksum, type, term. */
static int entry_check(const MDB_val *key, const MDB_val *val, uint64_t *ret_index, char *errmsg,
		       size_t size)
{
	const uint8_t *rec = val->mv_data;
	unsigned long long index;
	unsigned type;

	if (key->mv_size != 8)
		return corrupt(errmsg, size, "log: key of %zu bytes", key->mv_size);
	index = cns__get_be64(key->mv_data);
	if (index == 0)
		return corrupt(errmsg, size, "log entry 0: index 0 is not a log index");
	if (val->mv_size < CNS__ENTRY_HDR)
		return corrupt(errmsg, size, "log entry %llu: record of %zu bytes", index,
			       val->mv_size);
	if (!cns__record_intact(key, val))
		return corrupt(errmsg, size, "log entry %llu: checksum mismatch", index);
	type = cns__get_be16(rec + 4);
	if (type != RAFT_COMMAND && type != RAFT_BARRIER && type != RAFT_CHANGE)
		return corrupt(errmsg, size, "log entry %llu: unknown type %u", index, type);
	if (cns__get_be64(rec + 8) == 0)
		return corrupt(errmsg, size, "log entry %llu: term 0", index);
	*ret_index = index;
	return 0;
}

/* Where the first entry may start: at 1 without a snapshot, at or before
 * the snapshot's index + 1 with one. */
static int log_start_check(const struct log_walk *w, uint64_t index, char *errmsg, size_t size)
{
	unsigned long long i = index;

	if (w->snap == NULL && index != 1)
		return corrupt(errmsg, size, "log entry %llu: the log starts after 1, no snapshot",
			       i);
	if (w->snap != NULL && index - 1 > w->snap->index)
		return corrupt(errmsg, size, "log entry %llu: gap after the snapshot at %llu", i,
			       (unsigned long long)w->snap->index);
	return 0;
}

/* The entry's place in the log: contiguous, terms never decreasing, agreeing
 * with the snapshot where the two meet. */
static int entry_order_check(const struct log_walk *w, uint64_t index, uint64_t term, char *errmsg,
			     size_t size)
{
	unsigned long long i = index, t = term;
	const struct cns__snapshot *snap = w->snap;

	if (w->prev_index == 0) {
		int rv = log_start_check(w, index, errmsg, size);

		if (rv != 0)
			return rv;
	} else if (index != w->prev_index + 1) {
		return corrupt(errmsg, size, "log entry %llu: gap after log entry %llu", i,
			       (unsigned long long)w->prev_index);
	} else if (term < w->prev_term) {
		return corrupt(errmsg, size, "log entry %llu: term %llu after term %llu", i, t,
			       (unsigned long long)w->prev_term);
	}
	if (snap != NULL && index == snap->index && term != snap->term)
		return corrupt(errmsg, size, "log entry %llu: term %llu, the snapshot's is %llu", i,
			       t, (unsigned long long)snap->term);
	if (snap != NULL && index > snap->index && term < snap->term)
		return corrupt(errmsg, size, "log entry %llu: term %llu below the snapshot's %llu",
			       i, t, (unsigned long long)snap->term);
	return 0;
}

static int entry_keep(struct log_walk *w, const MDB_val *val, char *errmsg, size_t size)
{
	const uint8_t *rec = val->mv_data;
	struct cns__loaded *l = w->l;
	struct cns__entry *grown, *e;
	unsigned cap;

	if (l->n_entries == w->cap) {
		if (w->cap > UINT_MAX / 2)
			return nomem(errmsg, size, "log");
		cap = w->cap ? 2 * w->cap : 64;
		grown = realloc(l->entries, cap * sizeof *grown);
		if (grown == NULL)
			return nomem(errmsg, size, "log");
		l->entries = grown;
		w->cap = cap;
	}
	e = &l->entries[l->n_entries];
	e->type = cns__get_be16(rec + 4);
	e->term = cns__get_be64(rec + 8);
	if (buf_copy(&e->buf, rec + CNS__ENTRY_HDR, val->mv_size - CNS__ENTRY_HDR) != 0)
		return nomem(errmsg, size, "log");
	l->n_entries++;
	return 0;
}

/* One stored entry: verify it, keep it when the snapshot does not cover it. */
static int entry_load(struct log_walk *w, const MDB_val *key, const MDB_val *val, char *errmsg,
		      size_t size)
{
	uint64_t index = 0, term;
	int rv;

	rv = entry_check(key, val, &index, errmsg, size);
	if (rv != 0)
		return rv;
	term = cns__get_be64((const uint8_t *)val->mv_data + 8);
	rv = entry_order_check(w, index, term, errmsg, size);
	if (rv == 0 && (w->snap == NULL || index > w->snap->index))
		rv = entry_keep(w, val, errmsg, size);
	w->prev_index = index;
	w->prev_term = term;
	return rv;
}

static int log_load(struct cns__store *s, MDB_txn *txn, struct cns__loaded *l, char *errmsg,
		    size_t size)
{
	struct log_walk w = {.l = l, .snap = l->snapshot};
	MDB_cursor *cur;
	MDB_val key, val;
	int rc, rv = 0;

	rc = mdb_cursor_open(txn, s->log, &cur);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "log: lmdb cursor");
	rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	while (rc == 0 && rv == 0) {
		rv = entry_load(&w, &key, &val, errmsg, size);
		if (rv == 0)
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rv == 0 && rc != MDB_NOTFOUND)
		rv = cns__lmdb_fail(rc, errmsg, size, "log: lmdb read after entry %llu",
				    (unsigned long long)w.prev_index);
	return rv;
}

/* ---- load ---------------------------------------------------------------------- */

int cns__store_load(struct cns__store *store, struct cns__loaded **ret, char *errmsg, size_t size)
{
	struct cns__loaded *l;
	MDB_txn *txn;
	int rc, rv;

	rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb begin");
	l = calloc(1, sizeof *l);
	rv = l != NULL ? cns__version_check(store, txn, errmsg, size) : nomem(errmsg, size, "load");
	if (rv == -ENOENT)
		rv = corrupt(errmsg, size, "meta version: missing");
	if (rv == 0)
		rv = term_vote_load(store, txn, l, errmsg, size);
	if (rv == 0)
		rv = snapshot_load(store, txn, &l->snapshot, errmsg, size);
	if (rv == 0)
		rv = log_load(store, txn, l, errmsg, size);
	if (rv != 0)
		goto err_after_txn_begin;
	mdb_txn_abort(txn); /* read-only: ending it is all a commit would do */
	l->start_index = l->snapshot != NULL ? l->snapshot->index + 1 : 1;
	*ret = l;
	return 0;

err_after_txn_begin:
	mdb_txn_abort(txn);
	cns__loaded_free(l); /* accepts NULL */
	return rv;
}
