/*
 * LMDB storage of one node's Raft state: open, apply (the group commit's
 * transaction), close. Reading everything back with verification is in
 * store_load.c. Contract: store.h.
 *
 * One environment per node directory, three named databases; every integer
 * is big-endian (log keys then sort by index):
 *
 *   meta  "version"    crc32 | u32 format                             8 bytes
 *         "term_vote"  crc32 | u64 term | u64 vote                    20 bytes
 *   log   u64 index    crc32 | u16 type | u16 0 | u64 term | payload  16 + len
 *   snap  "snapshot"   crc32 | u32 conf_len | u64 index | u64 term
 *                      | u64 conf_index | conf | data                 32 + ...
 *
 * A record's crc32 (zlib) covers its key, then every value byte after the
 * checksum: a flipped bit anywhere, or a record moved under another key
 * (another index), fails the check. LMDB checksums nothing itself.
 *
 * Every mdb_* result that is an error passes through lmdb_fail(), the one
 * place where LMDB's codes become negative errnos or BS_E_CORRUPT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "store_internal.h"

/* ---- records ------------------------------------------------------------ */

void cns__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void cns__put_be32(uint8_t *p, uint32_t v)
{
	cns__put_be16(p, (uint16_t)(v >> 16));
	cns__put_be16(p + 2, (uint16_t)v);
}

void cns__put_be64(uint8_t *p, uint64_t v)
{
	cns__put_be32(p, (uint32_t)(v >> 32));
	cns__put_be32(p + 4, (uint32_t)v);
}

uint16_t cns__get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t cns__get_be32(const uint8_t *p)
{
	return (uint32_t)cns__get_be16(p) << 16 | cns__get_be16(p + 2);
}

uint64_t cns__get_be64(const uint8_t *p)
{
	return (uint64_t)cns__get_be32(p) << 32 | cns__get_be32(p + 4);
}

static uint32_t record_crc(const MDB_val *key, const uint8_t *value, size_t len)
{
	uLong crc = crc32_z(0L, Z_NULL, 0);

	crc = crc32_z(crc, key->mv_data, key->mv_size);
	return (uint32_t)crc32_z(crc, value + CNS__CRC_LEN, len - CNS__CRC_LEN);
}

void cns__record_seal(const MDB_val *key, uint8_t *value, size_t len)
{
	cns__put_be32(value, record_crc(key, value, len));
}

bool cns__record_intact(const MDB_val *key, const MDB_val *value)
{
	const uint8_t *v = value->mv_data;

	return value->mv_size >= CNS__CRC_LEN &&
	       cns__get_be32(v) == record_crc(key, v, value->mv_size);
}

/* ---- the LMDB boundary --------------------------------------------------- */

static int lmdb_errno(int rc)
{
	switch (rc) {
	case MDB_MAP_FULL:
		return CNS__E_MAP_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
		return BS_E_CORRUPT;
	case MDB_VERSION_MISMATCH:
		return -EPROTONOSUPPORT;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -E2BIG;
	case MDB_DBS_FULL:
	case MDB_READERS_FULL:
	case MDB_TLS_FULL:
		return -EMFILE;
	case MDB_MAP_RESIZED:
		return -ESTALE;
	case MDB_PANIC:
		return -EIO;
	case MDB_BAD_RSLOT:
	case MDB_BAD_TXN:
	case MDB_BAD_VALSIZE:
	case MDB_BAD_DBI:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

int cns__lmdb_fail(int rc, char *errmsg, size_t size, const char *fmt, ...)
{
	char what[128];
	int err = lmdb_errno(rc);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	/* System errors read like every other errno in backstay; LMDB's own
	 * codes keep LMDB's text, which names the code. */
	bs_errf(errmsg, size, "%s: %s", what, rc > 0 ? bs_strerror(-rc) : mdb_strerror(rc));
	return err;
}

/* ---- open ------------------------------------------------------------------ */

static int mkdir_once(const char *dir, char *errmsg, size_t size)
{
	int rv;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	rv = -errno;
	bs_errf(errmsg, size, "mkdir %s: %s", dir, bs_strerror(rv));
	return rv;
}

/* LMDB opens lock.mdb and the meta fd close-on-exec, but not data.mdb (it
 * hands that one out through mdb_env_get_fd): set it here. */
static int env_cloexec(MDB_env *env, char *errmsg, size_t size)
{
	int fd, flags, rc;

	rc = mdb_env_get_fd(env, &fd);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb get fd");
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
		rc = -errno;
		bs_errf(errmsg, size, "fcntl data.mdb: %s", bs_strerror(rc));
		return rc;
	}
	return 0;
}

static int env_open(struct cns__store *s, const char *dir, char *errmsg, size_t size)
{
	int rc, rv;

	rc = mdb_env_create(&s->env);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb env create");
	rc = mdb_env_set_maxdbs(s->env, 3);
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	if (rc != 0) {
		rv = cns__lmdb_fail(rc, errmsg, size, "lmdb open %s", dir);
		goto err_after_env_create;
	}
	rv = env_cloexec(s->env, errmsg, size);
	if (rv != 0)
		goto err_after_env_create;
	return 0;

err_after_env_create:
	mdb_env_close(s->env);
	return rv;
}

/* Keep a map the store grew to earlier (LMDB reads it from the meta page),
 * but never start below map_size. */
static int map_reserve(struct cns__store *s, size_t map_size, char *errmsg, size_t size)
{
	MDB_envinfo info;
	int rc;

	rc = mdb_env_info(s->env, &info);
	if (rc == 0 && info.me_mapsize < map_size) {
		rc = mdb_env_set_mapsize(s->env, map_size);
		info.me_mapsize = map_size;
	}
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb map size");
	s->map_size = info.me_mapsize;
	return 0;
}

static int db_entries(MDB_txn *txn, MDB_dbi dbi, size_t *ret, char *errmsg, size_t size)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbi, &st);

	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb stat");
	*ret = st.ms_entries;
	return 0;
}

static int version_write(struct cns__store *s, MDB_txn *txn, char *errmsg, size_t size)
{
	MDB_val key = CNS__KEY_VERSION, val;
	uint8_t rec[CNS__VERSION_LEN];
	int rc;

	cns__put_be32(rec + CNS__CRC_LEN, CNS__STORE_FORMAT);
	cns__record_seal(&key, rec, sizeof rec);
	val.mv_data = rec;
	val.mv_size = sizeof rec;
	rc = mdb_put(txn, s->meta, &key, &val, 0);
	return rc != 0 ? cns__lmdb_fail(rc, errmsg, size, "meta version: lmdb put") : 0;
}

/* A new environment gets its version record; an existing one must carry
 * ours. "New" means: no record in any of the three databases. */
static int version_settle(struct cns__store *s, MDB_txn *txn, char *errmsg, size_t size)
{
	size_t n_meta = 0, n_log = 0, n_snap = 0;
	int rv;

	rv = cns__version_check(s, txn, errmsg, size);
	if (rv != -ENOENT)
		return rv;
	rv = db_entries(txn, s->meta, &n_meta, errmsg, size);
	if (rv == 0)
		rv = db_entries(txn, s->log, &n_log, errmsg, size);
	if (rv == 0)
		rv = db_entries(txn, s->snap, &n_snap, errmsg, size);
	if (rv != 0)
		return rv;
	if (n_meta + n_log + n_snap > 0) {
		bs_errf(errmsg, size, "meta version: missing in a store that holds data");
		return BS_E_CORRUPT;
	}
	return version_write(s, txn, errmsg, size);
}

/* Create or open the three databases and settle the version, in one write
 * transaction (it writes, and syncs, only for a new environment). */
static int dbs_open(struct cns__store *s, char *errmsg, size_t size)
{
	MDB_txn *txn;
	int rc, rv;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb begin");
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "snap", MDB_CREATE, &s->snap);
	if (rc != 0) {
		rv = cns__lmdb_fail(rc, errmsg, size, "lmdb open databases");
		goto err_after_txn_begin;
	}
	rv = version_settle(s, txn, errmsg, size);
	if (rv != 0)
		goto err_after_txn_begin;
	rc = mdb_txn_commit(txn);
	return rc != 0 ? cns__lmdb_fail(rc, errmsg, size, "lmdb commit") : 0;

err_after_txn_begin:
	mdb_txn_abort(txn);
	return rv;
}

int cns__store_open_map(const char *dir, size_t map_size, struct cns__store **ret, char *errmsg,
			size_t size)
{
	struct cns__store *s;
	int rv;

	rv = mkdir_once(dir, errmsg, size);
	if (rv != 0)
		return rv;
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		bs_errf(errmsg, size, "store: %s", bs_strerror(-ENOMEM));
		return -ENOMEM;
	}
	rv = env_open(s, dir, errmsg, size);
	if (rv != 0)
		goto err_after_alloc;
	rv = map_reserve(s, map_size, errmsg, size);
	if (rv == 0)
		rv = dbs_open(s, errmsg, size);
	if (rv != 0)
		goto err_after_env_open;
	*ret = s;
	return 0;

err_after_env_open:
	mdb_env_close(s->env);
err_after_alloc:
	free(s);
	return rv;
}

int cns__store_open(const char *dir, struct cns__store **ret, char *errmsg, size_t size)
{
	return cns__store_open_map(dir, CNS__STORE_MAP_SIZE, ret, errmsg, size);
}

void cns__store_close(struct cns__store *store)
{
	if (store == NULL)
		return;
	mdb_env_close(store->env);
	free(store);
}

size_t cns__store_map_size(const struct cns__store *store)
{
	return store->map_size;
}

/* ---- apply: checks ---------------------------------------------------------- */

static bool entry_type_known(unsigned short type)
{
	return type == RAFT_COMMAND || type == RAFT_BARRIER || type == RAFT_CHANGE;
}

static int entries_check(const struct cns__persist *p, size_t i, char *errmsg, size_t size)
{
	unsigned k;

	if (p->first_index == 0 || p->entries == NULL ||
	    p->first_index - 1 > UINT64_MAX - p->n_entries) {
		bs_errf(errmsg, size, "request %zu: %u entries at index %llu", i, p->n_entries,
			(unsigned long long)p->first_index);
		return -EINVAL;
	}
	for (k = 0; k < p->n_entries; k++) {
		if (!entry_type_known(p->entries[k].type)) {
			bs_errf(errmsg, size, "request %zu: log entry %llu: unknown type %u", i,
				(unsigned long long)(p->first_index + k), p->entries[k].type);
			return -EINVAL;
		}
		if (p->entries[k].buf.len > UINT32_MAX - CNS__ENTRY_HDR) {
			bs_errf(errmsg, size, "request %zu: log entry %llu: %zu bytes, over 4 GiB",
				i, (unsigned long long)(p->first_index + k), p->entries[k].buf.len);
			return -EFBIG;
		}
	}
	return 0;
}

static int snapshot_check(const struct cns__snapshot *snap, size_t i, char *errmsg, size_t size)
{
	if (snap->index == 0) {
		bs_errf(errmsg, size, "request %zu: snapshot at index 0", i);
		return -EINVAL;
	}
	if (snap->conf.len > UINT32_MAX - CNS__SNAP_HDR ||
	    snap->data.len > UINT32_MAX - CNS__SNAP_HDR - snap->conf.len) {
		bs_errf(errmsg, size, "request %zu: snapshot of %zu + %zu bytes, over 4 GiB", i,
			snap->conf.len, snap->data.len);
		return -EFBIG;
	}
	return 0;
}

/* Refuse what cannot be stored before the transaction starts, so that a
 * bad request never leaves half a batch behind. */
static int batch_check(struct cns__persist *const *reqs, size_t n, char *errmsg, size_t size)
{
	const struct cns__persist *p;
	size_t i;
	int rv = 0;

	for (i = 0; i < n && rv == 0; i++) {
		p = reqs[i];
		if (p->drop_log && p->snapshot == NULL) {
			bs_errf(errmsg, size, "request %zu: drop_log without a snapshot", i);
			rv = -EINVAL;
		} else if (p->snapshot != NULL) {
			rv = snapshot_check(p->snapshot, i, errmsg, size);
		}
		if (rv == 0 && p->n_entries > 0)
			rv = entries_check(p, i, errmsg, size);
	}
	return rv;
}

/* ---- apply: writes ------------------------------------------------------------ */

static int term_vote_put(struct cns__store *s, MDB_txn *txn, const struct cns__persist *p,
			 char *errmsg, size_t size)
{
	MDB_val key = CNS__KEY_TERM_VOTE, val;
	uint8_t rec[CNS__TERM_VOTE_LEN];
	int rc;

	cns__put_be64(rec + CNS__CRC_LEN, p->term);
	cns__put_be64(rec + CNS__CRC_LEN + 8, p->vote);
	cns__record_seal(&key, rec, sizeof rec);
	val.mv_data = rec;
	val.mv_size = sizeof rec;
	rc = mdb_put(txn, s->meta, &key, &val, 0);
	return rc != 0 ? cns__lmdb_fail(rc, errmsg, size, "meta term_vote: lmdb put") : 0;
}

/* Write the record in place (MDB_RESERVE): no copy of the data in between. */
static int snapshot_put(struct cns__store *s, MDB_txn *txn, const struct cns__snapshot *snap,
			char *errmsg, size_t size)
{
	MDB_val key = CNS__KEY_SNAPSHOT, val;
	uint8_t *rec;
	int rc;

	val.mv_size = CNS__SNAP_HDR + snap->conf.len + snap->data.len;
	rc = mdb_put(txn, s->snap, &key, &val, MDB_RESERVE);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "snapshot: lmdb put");
	rec = val.mv_data;
	cns__put_be32(rec + 4, (uint32_t)snap->conf.len);
	cns__put_be64(rec + 8, snap->index);
	cns__put_be64(rec + 16, snap->term);
	cns__put_be64(rec + 24, snap->conf_index);
	if (snap->conf.len > 0)
		memcpy(rec + CNS__SNAP_HDR, snap->conf.base, snap->conf.len);
	if (snap->data.len > 0)
		memcpy(rec + CNS__SNAP_HDR + snap->conf.len, snap->data.base, snap->data.len);
	cns__record_seal(&key, rec, val.mv_size);
	return 0;
}

static int log_drop(struct cns__store *s, MDB_txn *txn, char *errmsg, size_t size)
{
	int rc = mdb_drop(txn, s->log, 0);

	return rc != 0 ? cns__lmdb_fail(rc, errmsg, size, "log: lmdb drop") : 0;
}

/* Delete the entries with lo <= index <= hi. The cursor seeks afresh after
 * each delete rather than relying on where mdb_cursor_del leaves it. */
static int log_delete(struct cns__store *s, MDB_txn *txn, uint64_t lo, uint64_t hi, char *errmsg,
		      size_t size)
{
	uint8_t k[8];
	MDB_val key, val;
	MDB_cursor *cur;
	int rc;

	rc = mdb_cursor_open(txn, s->log, &cur);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "log: lmdb cursor");
	for (;;) {
		cns__put_be64(k, lo);
		key.mv_data = k;
		key.mv_size = sizeof k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc != 0 || key.mv_size != 8 || cns__get_be64(key.mv_data) > hi)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return cns__lmdb_fail(rc, errmsg, size, "log: lmdb delete");
	return 0;
}

static int entry_put(struct cns__store *s, MDB_txn *txn, uint64_t index, const struct cns__entry *e,
		     char *errmsg, size_t size)
{
	uint8_t k[8], *rec;
	MDB_val key = {sizeof k, k}, val;
	int rc;

	cns__put_be64(k, index);
	val.mv_size = CNS__ENTRY_HDR + e->buf.len;
	rc = mdb_put(txn, s->log, &key, &val, MDB_RESERVE);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "log entry %llu: lmdb put",
				      (unsigned long long)index);
	rec = val.mv_data;
	cns__put_be16(rec + 4, e->type);
	cns__put_be16(rec + 6, 0);
	cns__put_be64(rec + 8, e->term);
	if (e->buf.len > 0)
		memcpy(rec + CNS__ENTRY_HDR, e->buf.base, e->buf.len);
	cns__record_seal(&key, rec, val.mv_size);
	return 0;
}

/* One request, its parts in internal.h's order. */
static int request_write(struct cns__store *s, MDB_txn *txn, const struct cns__persist *p,
			 char *errmsg, size_t size)
{
	unsigned i;
	int rv = 0;

	if (p->has_term_vote)
		rv = term_vote_put(s, txn, p, errmsg, size);
	if (rv == 0 && p->snapshot != NULL)
		rv = snapshot_put(s, txn, p->snapshot, errmsg, size);
	if (rv == 0 && p->snapshot != NULL && p->drop_log)
		rv = log_drop(s, txn, errmsg, size);
	if (rv == 0 && p->compact_upto > 0)
		rv = log_delete(s, txn, 0, p->compact_upto, errmsg, size);
	if (rv == 0 && p->truncate_from > 0)
		rv = log_delete(s, txn, p->truncate_from, UINT64_MAX, errmsg, size);
	for (i = 0; rv == 0 && i < p->n_entries; i++)
		rv = entry_put(s, txn, p->first_index + i, &p->entries[i], errmsg, size);
	return rv;
}

/* One attempt: the whole batch in one transaction, or nothing. */
static int batch_write(struct cns__store *s, struct cns__persist *const *reqs, size_t n,
		       char *errmsg, size_t size)
{
	MDB_txn *txn;
	size_t i;
	int rc, rv = 0;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb begin");
	for (i = 0; i < n && rv == 0; i++)
		rv = request_write(s, txn, reqs[i], errmsg, size);
	if (rv != 0)
		goto err_after_txn_begin;
	rc = mdb_txn_commit(txn); /* frees txn, also when it fails */
	return rc != 0 ? cns__lmdb_fail(rc, errmsg, size, "lmdb commit") : 0;

err_after_txn_begin:
	mdb_txn_abort(txn);
	return rv;
}

/* Double the map. Safe only because no transaction is open in the process
 * (store.h's single-user contract): mdb_env_set_mapsize remaps the file. */
static int map_grow(struct cns__store *s, char *errmsg, size_t size)
{
	size_t next = s->map_size * 2;
	int rc;

	if (s->map_size >= CNS__STORE_MAP_MAX) {
		bs_errf(errmsg, size, "lmdb map full at %zu MiB, the store's limit",
			s->map_size >> 20);
		return -ENOSPC;
	}
	rc = mdb_env_set_mapsize(s->env, next);
	if (rc != 0)
		return cns__lmdb_fail(rc, errmsg, size, "lmdb grow map to %zu MiB", next >> 20);
	s->map_size = next;
	return 0;
}

int cns__store_apply(struct cns__store *store, struct cns__persist *const *reqs, size_t n,
		     char *errmsg, size_t size)
{
	int rv;

	if (n == 0)
		return 0;
	rv = batch_check(reqs, n, errmsg, size);
	while (rv == 0) {
		rv = batch_write(store, reqs, n, errmsg, size);
		if (rv != CNS__E_MAP_FULL)
			break;
		rv = map_grow(store, errmsg, size);
	}
	return rv;
}
