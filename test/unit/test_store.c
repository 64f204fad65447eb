/*
 * consensus/store.c, store_load.c: round trips of every request part,
 * batches equal to their requests one by one, crashes before, inside and
 * after a commit, corruption and bad log shapes refused at load, the map
 * growing, and a real full disk (tmpfs in a private mount namespace).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base.h"
#include "store.h"
#include "store_fixture.h"
#include "unit.h"

struct fixture {
	char *dir;
	struct cns__store *store;
	char errmsg[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL || (f->dir = unit_tmpdir_new()) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cns__store_close(f->store);
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static void check_rv(int rv, int want, const char *errmsg)
{
	if (rv != want)
		print_error("rv %d (%s): %s\n", rv, bs_strerror(rv), errmsg);
	assert_int_equal(rv, want);
}

static void store_open(struct fixture *f)
{
	check_rv(cns__store_open(f->dir, &f->store, f->errmsg, sizeof f->errmsg), 0, f->errmsg);
}

static void store_close(struct fixture *f)
{
	cns__store_close(f->store);
	f->store = NULL;
}

static void store_reopen(struct fixture *f)
{
	store_close(f);
	store_open(f);
}

/* Apply one request (and free it). */
static void apply1(struct fixture *f, struct cns__persist *p)
{
	check_rv(cns__store_apply(f->store, &p, 1, f->errmsg, sizeof f->errmsg), 0, f->errmsg);
	cns__persist_free(p);
}

static struct cns__loaded *load(struct fixture *f)
{
	struct cns__loaded *l = NULL;

	check_rv(cns__store_load(f->store, &l, f->errmsg, sizeof f->errmsg), 0, f->errmsg);
	assert_non_null(l);
	return l;
}

static struct cns__persist *term_vote(uint64_t term, uint64_t vote)
{
	struct cns__persist *p = fx_alloc(sizeof *p);

	p->has_term_vote = true;
	p->term = term;
	p->vote = vote;
	return p;
}

/* entries[from - start_index ...] hold indexes from..from+n-1, term and
 * payload (len, gen) as fx_entries wrote them. */
static void expect_entries(const struct cns__loaded *l, uint64_t from, unsigned n, uint64_t term,
			   size_t len, uint64_t gen)
{
	uint64_t i;

	assert_true(from >= l->start_index);
	assert_true(from - l->start_index + n <= l->n_entries);
	for (i = from; i < from + n; i++) {
		const struct cns__entry *e = &l->entries[i - l->start_index];

		assert_int_equal(e->term, term);
		assert_int_equal(e->type, RAFT_COMMAND);
		assert_true(fx_payload_ok(&e->buf, len, i, gen));
	}
}

static bool file_exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* ---- raw LMDB access, independent of the store's code ----------------------- */

static MDB_env *raw_open(const char *dir)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 3), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	return env;
}

/* Put (val != NULL) or delete key in database db of the closed store at dir. */
static void raw_put(const char *dir, const char *db, const char *key, const void *val, size_t len)
{
	MDB_env *env = raw_open(dir);
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (val != NULL)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* How many log records the closed store at dir holds; first and last key. */
static size_t raw_log(const char *dir, uint64_t *first, uint64_t *last)
{
	MDB_env *env = raw_open(dir);
	MDB_val k, v;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_dbi dbi;
	size_t n = 0;
	int i;

	*first = *last = 0;
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, n == 0 ? MDB_FIRST : MDB_NEXT) == 0) {
		uint64_t index = 0;

		assert_int_equal(k.mv_size, 8);
		for (i = 0; i < 8; i++)
			index = index << 8 | ((const uint8_t *)k.mv_data)[i];
		if (n++ == 0)
			*first = index;
		*last = index;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/* The documented layout: crc32 of key, then of the value after the crc. */
static void raw_seal(const char *key, uint8_t *val, size_t len)
{
	uLong crc = crc32(0L, (const Bytef *)key, (uInt)strlen(key));

	crc = crc32(crc, val + 4, (uInt)(len - 4));
	val[0] = (uint8_t)(crc >> 24);
	val[1] = (uint8_t)(crc >> 16);
	val[2] = (uint8_t)(crc >> 8);
	val[3] = (uint8_t)crc;
}

/* Flip one bit at `offset` into every copy of pattern in dir/data.mdb
 * (LMDB's copy-on-write may have left stale copies in free pages). */
static int flip_all(const char *dir, const void *pattern, size_t len, size_t offset)
{
	char path[512];
	struct stat st;
	uint8_t *buf, *at, *from;
	int fd, n = 0;

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = fx_alloc((size_t)st.st_size);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	for (from = buf; (at = memmem(from, (size_t)(buf + st.st_size - from), pattern, len));
	     from = at + len) {
		at[offset] ^= 0x10;
		n++;
	}
	assert_int_equal(pwrite(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	free(buf);
	return n;
}

/* ---- open ---------------------------------------------------------------------- */

static void store_empty(void **state)
{
	struct fixture *f = *state;
	struct cns__loaded *l;

	store_open(f);
	assert_true(file_exists(f->dir, "data.mdb"));
	assert_true(file_exists(f->dir, "lock.mdb"));
	assert_int_equal(cns__store_map_size(f->store), CNS__STORE_MAP_SIZE);
	l = load(f);
	assert_int_equal(l->term, 0);
	assert_int_equal(l->vote, 0);
	assert_null(l->snapshot);
	assert_int_equal(l->start_index, 1);
	assert_int_equal(l->n_entries, 0);
	cns__loaded_free(l);
	/* Nothing to apply is a no-op. */
	assert_int_equal(cns__store_apply(f->store, NULL, 0, f->errmsg, sizeof f->errmsg), 0);
	cns__store_close(NULL);
}

/* Every descriptor the store opens is close-on-exec (CONVENTIONS §13):
 * LMDB sets it on lock.mdb, the store on data.mdb. */
static void store_fds_cloexec(void **state)
{
	struct fixture *f = *state;
	bool before[4096] = {false};
	struct dirent *e;
	DIR *d;
	int fd, n_new = 0;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		skip();
	while ((e = readdir(d)) != NULL)
		if ((fd = atoi(e->d_name)) > 0 && fd < 4096)
			before[fd] = true;
	closedir(d);
	store_open(f);
	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		fd = atoi(e->d_name);
		if (fd <= 0 || fd >= 4096 || before[fd] || fd == dirfd(d))
			continue;
		n_new++;
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	closedir(d);
	assert_true(n_new >= 2);
}

static void store_open_errors(void **state)
{
	struct fixture *f = *state;
	char path[512];
	uint8_t junk[16384];
	int fd;

	/* The directory is a file. */
	snprintf(path, sizeof path, "%s/file", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cns__store_open(path, &f->store, f->errmsg, sizeof f->errmsg), -ENOTDIR);
	assert_non_null(strstr(f->errmsg, path));
	assert_null(f->store);
	/* A parent that does not exist: one level is created, not two. */
	snprintf(path, sizeof path, "%s/a/b", f->dir);
	assert_int_equal(cns__store_open(path, &f->store, f->errmsg, sizeof f->errmsg), -ENOENT);
	assert_non_null(strstr(f->errmsg, "mkdir"));
	/* data.mdb that is not an LMDB file. */
	snprintf(path, sizeof path, "%s/junk", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/junk/data.mdb", f->dir);
	memset(junk, 0xab, sizeof junk);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	snprintf(path, sizeof path, "%s/junk", f->dir);
	assert_int_equal(cns__store_open(path, &f->store, f->errmsg, sizeof f->errmsg),
			 BS_E_CORRUPT);
	assert_null(f->store);
	snprintf(path, sizeof path, "%s/junk/data.mdb", f->dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/junk/lock.mdb", f->dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/junk", f->dir);
	rmdir(path);
}

/* The format-version record: another format, a damaged record, or data
 * without one are all refused at open. */
static void store_version(void **state)
{
	struct fixture *f = *state;
	uint8_t rec[8] = {0, 0, 0, 0, 0, 0, 0, 99};

	store_open(f);
	apply1(f, term_vote(1, 0));
	store_close(f);
	raw_seal("version", rec, sizeof rec);
	raw_put(f->dir, "meta", "version", rec, sizeof rec);
	assert_int_equal(cns__store_open(f->dir, &f->store, f->errmsg, sizeof f->errmsg),
			 BS_E_CORRUPT);
	assert_string_equal(f->errmsg, "meta version: format 99, this build reads format 1");
	rec[7] = 1; /* format 1 but the checksum of format 99 */
	raw_put(f->dir, "meta", "version", rec, sizeof rec);
	assert_int_equal(cns__store_open(f->dir, &f->store, f->errmsg, sizeof f->errmsg),
			 BS_E_CORRUPT);
	assert_string_equal(f->errmsg, "meta version: checksum mismatch");
	raw_put(f->dir, "meta", "version", NULL, 0);
	assert_int_equal(cns__store_open(f->dir, &f->store, f->errmsg, sizeof f->errmsg),
			 BS_E_CORRUPT);
	assert_string_equal(f->errmsg, "meta version: missing in a store that holds data");
	raw_seal("version", rec, sizeof rec);
	raw_put(f->dir, "meta", "version", rec, sizeof rec);
	store_open(f); /* and the test's own record of format 1 is accepted */
}

/* ---- round trips ----------------------------------------------------------------- */

static void store_term_vote(void **state)
{
	struct fixture *f = *state;
	struct cns__loaded *l;

	store_open(f);
	apply1(f, term_vote(7, 3));
	l = load(f);
	assert_int_equal(l->term, 7);
	assert_int_equal(l->vote, 3);
	cns__loaded_free(l);
	apply1(f, term_vote(8, 0));
	apply1(f, fx_entries(1, 1, 8, 16, 1)); /* no has_term_vote: term untouched */
	store_reopen(f);
	l = load(f);
	assert_int_equal(l->term, 8);
	assert_int_equal(l->vote, 0);
	assert_int_equal(l->n_entries, 1);
	cns__loaded_free(l);
}

static void store_entries(void **state)
{
	static const size_t lens[] = {0, 1, 8, 256, 5000, 70000};
	static const unsigned short types[] = {RAFT_CHANGE,  RAFT_COMMAND, RAFT_BARRIER,
					       RAFT_COMMAND, RAFT_COMMAND, RAFT_COMMAND};
	struct fixture *f = *state;
	struct cns__persist *p = fx_alloc(sizeof *p);
	struct cns__loaded *l;
	unsigned i;

	p->first_index = 1;
	p->n_entries = 6;
	p->entries = fx_alloc(6 * sizeof *p->entries);
	for (i = 0; i < 6; i++) {
		fx_entry_init(&p->entries[i], i + 1, 1 + i / 2, lens[i], 1);
		p->entries[i].type = types[i];
	}
	store_open(f);
	apply1(f, p);
	store_reopen(f);
	l = load(f);
	assert_int_equal(l->start_index, 1);
	assert_int_equal(l->n_entries, 6);
	for (i = 0; i < 6; i++) {
		assert_int_equal(l->entries[i].term, 1 + i / 2);
		assert_int_equal(l->entries[i].type, types[i]);
		assert_true(fx_payload_ok(&l->entries[i].buf, lens[i], i + 1, 1));
	}
	assert_null(l->entries[0].buf.base); /* no bytes, no buffer */
	cns__loaded_free(l);
}

static void expect_snapshot(const struct cns__snapshot *s, uint64_t index, uint64_t term,
			    uint64_t conf_index, size_t len, uint64_t gen)
{
	char conf[32];

	assert_non_null(s);
	assert_int_equal(s->index, index);
	assert_int_equal(s->term, term);
	assert_int_equal(s->conf_index, conf_index);
	snprintf(conf, sizeof conf, "conf@%llu", (unsigned long long)conf_index);
	assert_int_equal(s->conf.len, strlen(conf));
	assert_memory_equal(s->conf.base, conf, strlen(conf));
	assert_true(fx_payload_ok(&s->data, len, index, gen));
}

static struct cns__persist *snapshot_req(struct cns__snapshot *snap, bool drop_log,
					 uint64_t compact_upto)
{
	struct cns__persist *p = fx_alloc(sizeof *p);

	p->snapshot = snap;
	p->drop_log = drop_log;
	p->compact_upto = compact_upto;
	return p;
}

/* A snapshot replaces the previous one; load returns the entries after it. */
static void store_snapshot(void **state)
{
	struct fixture *f = *state;
	struct cns__loaded *l;

	store_open(f);
	apply1(f, fx_entries(1, 10, 1, 100, 1));
	apply1(f, snapshot_req(fx_snapshot(6, 1, 1, 3000, 1), false, 0));
	l = load(f);
	expect_snapshot(l->snapshot, 6, 1, 1, 3000, 1);
	assert_int_equal(l->start_index, 7);
	assert_int_equal(l->n_entries, 4);
	expect_entries(l, 7, 4, 1, 100, 1);
	cns__loaded_free(l);
	apply1(f, snapshot_req(fx_snapshot(9, 1, 1, 0, 2), false, 0));
	store_reopen(f);
	l = load(f);
	expect_snapshot(l->snapshot, 9, 1, 1, 0, 2);
	assert_null(l->snapshot->data.base);
	assert_int_equal(l->start_index, 10);
	expect_entries(l, 10, 1, 1, 100, 1);
	cns__loaded_free(l);
}

/* Installing a leader's snapshot: drop_log empties the log first, then the
 * request's entries land after it. */
static void store_snapshot_drop_log(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *p;
	struct cns__loaded *l;
	uint64_t first, last;

	store_open(f);
	apply1(f, fx_entries(1, 10, 1, 100, 1));
	p = fx_entries(21, 2, 3, 50, 2);
	p->snapshot = fx_snapshot(20, 3, 15, 500, 2);
	p->drop_log = true;
	apply1(f, p);
	l = load(f);
	expect_snapshot(l->snapshot, 20, 3, 15, 500, 2);
	assert_int_equal(l->start_index, 21);
	assert_int_equal(l->n_entries, 2);
	expect_entries(l, 21, 2, 3, 50, 2);
	cns__loaded_free(l);
	store_close(f);
	assert_int_equal(raw_log(f->dir, &first, &last), 2);
	assert_int_equal(first, 21);
}

/* compact_upto deletes the head of the log; load hides the trailing
 * entries the snapshot covers but verifies them. */
static void store_compaction(void **state)
{
	struct fixture *f = *state;
	struct cns__loaded *l;
	uint64_t first, last;

	store_open(f);
	apply1(f, fx_entries(1, 10, 1, 100, 1));
	apply1(f, snapshot_req(fx_snapshot(8, 1, 1, 10, 1), false, 6));
	l = load(f);
	assert_int_equal(l->start_index, 9);
	assert_int_equal(l->n_entries, 2);
	expect_entries(l, 9, 2, 1, 100, 1);
	cns__loaded_free(l);
	store_close(f);
	assert_int_equal(raw_log(f->dir, &first, &last), 4);
	assert_int_equal(first, 7);
	assert_int_equal(last, 10);
	store_open(f);
	apply1(f, snapshot_req(fx_snapshot(10, 1, 1, 10, 2), false, 100));
	l = load(f);
	assert_int_equal(l->start_index, 11);
	assert_int_equal(l->n_entries, 0);
	cns__loaded_free(l);
	store_close(f);
	assert_int_equal(raw_log(f->dir, &first, &last), 0);
}

/* A conflicting suffix replaced: truncate_from, then the new entries. */
static void store_truncate(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *p;
	struct cns__loaded *l;

	store_open(f);
	apply1(f, fx_entries(1, 5, 1, 64, 1));
	p = fx_entries(3, 2, 2, 80, 2);
	p->truncate_from = 3;
	apply1(f, p);
	l = load(f);
	assert_int_equal(l->n_entries, 4);
	expect_entries(l, 1, 2, 1, 64, 1);
	expect_entries(l, 3, 2, 2, 80, 2);
	cns__loaded_free(l);
	p = fx_alloc(sizeof *p);
	p->truncate_from = 50; /* past the end: nothing */
	apply1(f, p);
	p = fx_alloc(sizeof *p);
	p->truncate_from = 1; /* everything */
	apply1(f, p);
	l = load(f);
	assert_int_equal(l->n_entries, 0);
	cns__loaded_free(l);
}

/* Within one request: term/vote, snapshot (+drop_log), compact_upto,
 * truncate_from, entries — in that order. */
static void store_request_order(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *p;
	struct cns__loaded *l;

	store_open(f);
	apply1(f, fx_entries(1, 9, 1, 32, 1));
	/* drop_log before entries: the new entries survive; truncate and
	 * compact before entries: they do not touch them either. */
	p = fx_entries(11, 3, 5, 32, 2);
	p->has_term_vote = true;
	p->term = 5;
	p->vote = 2;
	p->snapshot = fx_snapshot(10, 4, 1, 64, 2);
	p->drop_log = true;
	p->compact_upto = 12;
	p->truncate_from = 11;
	apply1(f, p);
	l = load(f);
	assert_int_equal(l->term, 5);
	assert_int_equal(l->vote, 2);
	expect_snapshot(l->snapshot, 10, 4, 1, 64, 2);
	assert_int_equal(l->n_entries, 3);
	expect_entries(l, 11, 3, 5, 32, 2);
	cns__loaded_free(l);
}

static void expect_equal_loaded(const struct cns__loaded *a, const struct cns__loaded *b)
{
	unsigned i;

	assert_int_equal(a->term, b->term);
	assert_int_equal(a->vote, b->vote);
	assert_int_equal(a->start_index, b->start_index);
	assert_int_equal(a->n_entries, b->n_entries);
	assert_int_equal(a->snapshot == NULL, b->snapshot == NULL);
	if (a->snapshot != NULL) {
		assert_int_equal(a->snapshot->index, b->snapshot->index);
		assert_int_equal(a->snapshot->term, b->snapshot->term);
		assert_int_equal(a->snapshot->conf_index, b->snapshot->conf_index);
		assert_int_equal(a->snapshot->data.len, b->snapshot->data.len);
		assert_memory_equal(a->snapshot->data.base, b->snapshot->data.base,
				    a->snapshot->data.len);
	}
	for (i = 0; i < a->n_entries; i++) {
		assert_int_equal(a->entries[i].term, b->entries[i].term);
		assert_int_equal(a->entries[i].type, b->entries[i].type);
		assert_int_equal(a->entries[i].buf.len, b->entries[i].buf.len);
		if (a->entries[i].buf.len > 0)
			assert_memory_equal(a->entries[i].buf.base, b->entries[i].buf.base,
					    a->entries[i].buf.len);
	}
}

/* A Raft-shaped sequence: elections, appends, conflicting suffixes,
 * snapshots with compaction, snapshot installs. Deterministic. */
struct gen {
	uint64_t rng, term, last, snap;
	uint64_t terms[1024]; /* term of each index in the model log */
};

static uint64_t gen_next(struct gen *g)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return g->rng;
}

static struct cns__persist *gen_append(struct gen *g, uint64_t from, unsigned n)
{
	struct cns__persist *p = fx_entries(from, n, g->term, 20 + gen_next(g) % 300, g->term);
	unsigned i;

	for (i = 0; i < n; i++)
		g->terms[from + i] = g->term;
	g->last = from + n - 1;
	return p;
}

static struct cns__persist *gen_request(struct gen *g)
{
	uint64_t r = gen_next(g) % 10, from;
	struct cns__persist *p;

	if (r < 3) {
		g->term++;
		return term_vote(g->term, r);
	}
	if (r < 7 || g->last < 3)
		return gen_append(g, g->last + 1, 1 + (unsigned)(gen_next(g) % 4));
	if (r == 7) {
		/* Never into what the snapshot covers: that is committed. */
		from = g->last - gen_next(g) % 2;
		if (from <= g->snap)
			from = g->snap + 1;
		p = gen_append(g, from, 2);
		p->truncate_from = from;
		return p;
	}
	if (r == 8 && g->last - 1 > g->snap) {
		g->snap = g->last - 1;
		return snapshot_req(fx_snapshot(g->snap, g->terms[g->snap], 1, 100, g->snap), false,
				    g->snap - 2);
	}
	from = g->last + 5;
	g->snap = from - 1;
	g->terms[g->snap] = g->term;
	p = gen_append(g, from, 1);
	p->snapshot = fx_snapshot(g->snap, g->term, 1, 200, g->snap);
	p->drop_log = true;
	return p;
}

/* n requests in one apply leave the same store as the same n applied one
 * by one. */
static void store_batch_equals_sequence(void **state)
{
	enum { N = 120 };
	struct fixture *f = *state;
	struct fixture g = {0};
	struct gen gen = {.rng = 0x9e3779b97f4a7c15ull, .term = 1};
	struct cns__persist *reqs[N];
	struct cns__loaded *a, *b;
	size_t i;

	for (i = 0; i < N; i++)
		reqs[i] = gen_request(&gen);
	assert_true(gen.last < 1000);
	store_open(f);
	check_rv(cns__store_apply(f->store, reqs, N, f->errmsg, sizeof f->errmsg), 0, f->errmsg);
	a = load(f);
	g.dir = unit_tmpdir_new();
	assert_non_null(g.dir);
	store_open(&g);
	for (i = 0; i < N; i++)
		check_rv(cns__store_apply(g.store, &reqs[i], 1, g.errmsg, sizeof g.errmsg), 0,
			 g.errmsg);
	b = load(&g);
	expect_equal_loaded(a, b);
	assert_int_equal(a->start_index + a->n_entries - 1, gen.last);
	cns__loaded_free(a);
	cns__loaded_free(b);
	for (i = 0; i < N; i++)
		cns__persist_free(reqs[i]);
	store_close(&g);
	unit_tmpdir_remove(g.dir);
}

/* ---- refusals -------------------------------------------------------------------- */

static void expect_refused(struct fixture *f, struct cns__persist *p, int want, const char *text)
{
	struct cns__persist *reqs[2] = {term_vote(9, 9), p};

	assert_int_equal(cns__store_apply(f->store, reqs, 2, f->errmsg, sizeof f->errmsg), want);
	assert_non_null(strstr(f->errmsg, text));
	cns__persist_free(reqs[0]);
	cns__persist_free(p);
}

/* Requests that cannot be stored are refused before anything is written:
 * the valid request batched with them is not applied either. */
static void store_invalid(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *p;
	struct cns__loaded *l;
	void *base;

	store_open(f);
	expect_refused(f, fx_entries(0, 1, 1, 8, 1), -EINVAL, "request 1: 1 entries at index 0");
	p = fx_entries(1, 2, 1, 8, 1);
	p->entries[1].type = 9;
	expect_refused(f, p, -EINVAL, "log entry 2: unknown type 9");
	p = fx_alloc(sizeof *p);
	p->drop_log = true;
	expect_refused(f, p, -EINVAL, "drop_log without a snapshot");
	expect_refused(f, snapshot_req(fx_snapshot(0, 1, 1, 8, 1), false, 0), -EINVAL,
		       "snapshot at index 0");
	p = fx_entries(UINT64_MAX, 2, 1, 8, 1);
	expect_refused(f, p, -EINVAL, "2 entries at index");
	p = fx_entries(1, 1, 1, 8, 1);
	base = p->entries[0].buf.base;
	p->entries[0].buf.len = UINT32_MAX; /* refused before a byte is read */
	assert_int_equal(cns__store_apply(f->store, &p, 1, f->errmsg, sizeof f->errmsg), -EFBIG);
	p->entries[0].buf.len = 8;
	assert_ptr_equal(p->entries[0].buf.base, base);
	cns__persist_free(p);
	l = load(f);
	assert_int_equal(l->term, 0);
	assert_int_equal(l->n_entries, 0);
	cns__loaded_free(l);
}

/* ---- map growth ---------------------------------------------------------------- */

/* MDB_MAP_FULL: the map doubles, the batch is retried whole, and a store
 * that grew keeps its size when reopened. */
static void store_map_growth(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *reqs[2];
	struct cns__loaded *l;
	size_t grown;

	check_rv(cns__store_open_map(f->dir, 1 << 20, &f->store, f->errmsg, sizeof f->errmsg), 0,
		 f->errmsg);
	assert_int_equal(cns__store_map_size(f->store), 1 << 20);
	apply1(f, fx_entries(1, 1, 1, 3 << 20, 1)); /* one 3 MiB entry: 1 -> 4 MiB */
	assert_true(cns__store_map_size(f->store) >= (4 << 20));
	reqs[0] = term_vote(2, 1);
	reqs[1] = fx_entries(2, 20, 2, 512 << 10, 2); /* 10 MiB in one batch */
	check_rv(cns__store_apply(f->store, reqs, 2, f->errmsg, sizeof f->errmsg), 0, f->errmsg);
	cns__persist_free(reqs[0]);
	cns__persist_free(reqs[1]);
	grown = cns__store_map_size(f->store);
	assert_true(grown >= (16 << 20));
	store_close(f);
	check_rv(cns__store_open_map(f->dir, 1 << 20, &f->store, f->errmsg, sizeof f->errmsg), 0,
		 f->errmsg);
	assert_int_equal(cns__store_map_size(f->store), grown);
	l = load(f);
	assert_int_equal(l->term, 2);
	assert_int_equal(l->n_entries, 21);
	expect_entries(l, 1, 1, 1, 3 << 20, 1);
	expect_entries(l, 2, 20, 2, 512 << 10, 2);
	cns__loaded_free(l);
}

/* ---- crashes -------------------------------------------------------------------- */

static pid_t fork_child(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static struct cns__persist *batch_b(void)
{
	struct cns__persist *p = fx_entries(4, 1, 2, 1 << 20, 2);

	p->has_term_vote = true;
	p->term = 2;
	p->vote = 2;
	return p;
}

static void expect_a(struct fixture *f, bool with_b)
{
	struct cns__loaded *l = load(f);

	assert_int_equal(l->term, with_b ? 2 : 1);
	assert_int_equal(l->vote, with_b ? 2 : 1);
	assert_int_equal(l->n_entries, with_b ? 4 : 3);
	expect_entries(l, 1, 3, 1, 200, 1);
	if (with_b)
		expect_entries(l, 4, 1, 2, 1 << 20, 2);
	cns__loaded_free(l);
}

static void apply_a(struct fixture *f)
{
	struct cns__persist *p = fx_entries(1, 3, 1, 200, 1);

	p->has_term_vote = true;
	p->term = 1;
	p->vote = 1;
	store_open(f);
	apply1(f, p);
	store_close(f);
}

/* Applies batch B, then dies by SIGKILL with the environment open. */
static int child_commit_then_die(void *arg)
{
	const char *dir = arg;
	struct cns__store *s;
	struct cns__persist *p = batch_b();
	char errmsg[256];

	FX_CHECK(cns__store_open(dir, &s, errmsg, sizeof errmsg) == 0);
	FX_CHECK(cns__store_apply(s, &p, 1, errmsg, sizeof errmsg) == 0);
	raise(SIGKILL);
	return 3;
}

static void store_crash_after_commit(void **state)
{
	struct fixture *f = *state;

	apply_a(f);
	assert_int_equal(fx_wait(fork_child(child_commit_then_die, f->dir)), 128 + SIGKILL);
	store_open(f);
	expect_a(f, true);
	apply1(f, term_vote(3, 0)); /* the dead writer's lock is recovered */
}

/* Dies inside mdb_txn_commit: RLIMIT_FSIZE at data.mdb's size makes the
 * kernel kill the process (SIGXFSZ) when the commit writes the batch's new
 * pages past it, before the meta page that would publish them. */
static int child_die_in_commit(void *arg)
{
	const char *dir = arg;
	struct rlimit core = {0, 0}, fsize;
	struct cns__store *s;
	struct cns__persist *p = batch_b();
	char errmsg[256], path[512];
	struct stat st;
	int rv;

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	FX_CHECK(cns__store_open(dir, &s, errmsg, sizeof errmsg) == 0);
	FX_CHECK(stat(path, &st) == 0);
	FX_CHECK(getrlimit(RLIMIT_FSIZE, &fsize) == 0);
	fsize.rlim_cur = (rlim_t)st.st_size;
	FX_CHECK(setrlimit(RLIMIT_CORE, &core) == 0);
	FX_CHECK(setrlimit(RLIMIT_FSIZE, &fsize) == 0);
	signal(SIGXFSZ, SIG_DFL);
	rv = cns__store_apply(s, &p, 1, errmsg, sizeof errmsg);
	fprintf(stderr, "child survived the commit: %d %s\n", rv, errmsg);
	return 3;
}

static void store_crash_inside_commit(void **state)
{
	struct fixture *f = *state;

	apply_a(f);
	assert_int_equal(fx_wait(fork_child(child_die_in_commit, f->dir)), 128 + SIGXFSZ);
	store_open(f);
	expect_a(f, false);
	apply1(f, batch_b()); /* the same batch, after the crash */
	expect_a(f, true);
}

/*
 * Killed anywhere: a child applies batches 1..KILL_BATCHES of two requests
 * each, acknowledging each commit on a pipe; the parent SIGKILLs it after k
 * acknowledgements, wherever it is. After batch j the store holds exactly:
 * term j, vote j % 3; log 1..2j+1 where entry x has term (and payload
 * generation) min(j, (x+1)/2) — each batch truncates the previous last
 * entry and writes three; every 10th batch s also stores a snapshot at
 * 2s-2 and compacts up to 2s-4. The reloaded store must be exactly the
 * state after some batch j >= k.
 */
enum { KILL_BATCHES = 100 };

static uint64_t model_term(uint64_t x, uint64_t j)
{
	return (x + 1) / 2 < j ? (x + 1) / 2 : j;
}

static size_t model_len(uint64_t x)
{
	return 40 + x % 50;
}

static void kill_batch(uint64_t j, struct cns__persist *reqs[2])
{
	struct cns__persist *a = term_vote(j, j % 3), *b = fx_alloc(sizeof *b);
	unsigned i;

	if (j % 10 == 0) {
		a->snapshot = fx_snapshot(2 * j - 2, j - 1, 1, 100, j);
		a->compact_upto = 2 * j - 4;
	}
	b->truncate_from = 2 * j - 1;
	b->first_index = 2 * j - 1;
	b->n_entries = 3;
	b->entries = fx_alloc(3 * sizeof *b->entries);
	for (i = 0; i < 3; i++)
		fx_entry_init(&b->entries[i], 2 * j - 1 + i, j, model_len(2 * j - 1 + i), j);
	reqs[0] = a;
	reqs[1] = b;
}

static void kill_expect(const struct cns__loaded *l, uint64_t j)
{
	uint64_t s = j / 10 * 10, start = s > 0 ? 2 * s - 1 : 1, x;

	assert_int_equal(l->term, j);
	assert_int_equal(l->vote, j % 3);
	if (s > 0)
		expect_snapshot(l->snapshot, 2 * s - 2, s - 1, 1, 100, s);
	else
		assert_null(l->snapshot);
	assert_int_equal(l->start_index, start);
	assert_int_equal(l->n_entries, 2 * j + 1 - start + 1);
	for (x = start; x <= 2 * j + 1; x++) {
		const struct cns__entry *e = &l->entries[x - start];

		assert_int_equal(e->term, model_term(x, j));
		assert_true(fx_payload_ok(&e->buf, model_len(x), x, model_term(x, j)));
	}
}

struct kill_child {
	const char *dir;
	int ack_fd;
};

static int child_batches(void *arg)
{
	struct kill_child *k = arg;
	struct cns__persist *reqs[2];
	struct cns__store *s;
	char errmsg[256];
	uint64_t j;

	FX_CHECK(cns__store_open(k->dir, &s, errmsg, sizeof errmsg) == 0);
	for (j = 1; j <= KILL_BATCHES; j++) {
		kill_batch(j, reqs);
		FX_CHECK(cns__store_apply(s, reqs, 2, errmsg, sizeof errmsg) == 0);
		cns__persist_free(reqs[0]);
		cns__persist_free(reqs[1]);
		FX_CHECK(write(k->ack_fd, "x", 1) == 1);
	}
	return 0;
}

static void kill_trial(unsigned acks)
{
	struct fixture g = {0};
	struct kill_child k;
	struct cns__persist *reqs[2];
	struct cns__loaded *l;
	unsigned got = 0;
	int fds[2], status;
	pid_t pid;
	char c;

	g.dir = unit_tmpdir_new();
	assert_non_null(g.dir);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	k.dir = g.dir;
	k.ack_fd = fds[1];
	pid = fork_child(child_batches, &k);
	close(fds[1]);
	while (got < acks && read(fds[0], &c, 1) == 1)
		got++;
	kill(pid, SIGKILL);
	status = fx_wait(pid);
	close(fds[0]);
	assert_int_equal(got, acks);
	assert_true(status == 128 + SIGKILL || status == 0);
	store_open(&g);
	l = load(&g);
	assert_true(l->term >= acks && l->term <= KILL_BATCHES);
	kill_expect(l, l->term);
	if (l->term < KILL_BATCHES) { /* and the store goes on from there */
		kill_batch(l->term + 1, reqs);
		check_rv(cns__store_apply(g.store, reqs, 2, g.errmsg, sizeof g.errmsg), 0,
			 g.errmsg);
		cns__persist_free(reqs[0]);
		cns__persist_free(reqs[1]);
		cns__loaded_free(l);
		l = load(&g);
		kill_expect(l, l->term);
	}
	cns__loaded_free(l);
	store_close(&g);
	unit_tmpdir_remove(g.dir);
}

static void store_crash_anywhere(void **state)
{
	static const unsigned acks[] = {1, 7, 23, 61, 99};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof acks / sizeof acks[0]; i++)
		kill_trial(acks[i]);
}

/* ---- corruption ---------------------------------------------------------------- */

static void expect_corrupt(struct fixture *f, const char *text)
{
	struct cns__loaded *l = NULL;

	assert_int_equal(cns__store_load(f->store, &l, f->errmsg, sizeof f->errmsg), BS_E_CORRUPT);
	assert_null(l);
	assert_string_equal(f->errmsg, text);
}

/* One flipped bit inside a stored entry's payload is found by its
 * checksum, and the message names the entry. */
static void store_corrupt_entry(void **state)
{
	struct fixture *f = *state;
	struct cns__persist *p = fx_entries(1, 5, 1, 300, 1);
	uint8_t pattern[60];

	store_open(f);
	apply1(f, p);
	store_close(f);
	fx_payload_fill(pattern, sizeof pattern, 3, 1);
	assert_true(flip_all(f->dir, pattern, sizeof pattern, 30) >= 1);
	store_open(f);
	expect_corrupt(f, "log entry 3: checksum mismatch");
}

static void store_corrupt_snapshot(void **state)
{
	struct fixture *f = *state;
	uint8_t pattern[60];

	store_open(f);
	apply1(f, fx_entries(1, 5, 1, 30, 1));
	apply1(f, snapshot_req(fx_snapshot(4, 1, 1, 2000, 7), false, 0));
	store_close(f);
	fx_payload_fill(pattern, sizeof pattern, 4, 7);
	assert_true(flip_all(f->dir, pattern, sizeof pattern, 10) >= 1);
	store_open(f);
	expect_corrupt(f, "snapshot: checksum mismatch");
}

static void store_corrupt_term_vote(void **state)
{
	struct fixture *f = *state;
	static const char pattern[] = "QRSTUVWXabcdefgh"; /* the two big-endian fields */

	store_open(f);
	apply1(f, term_vote(0x5152535455565758ull, 0x6162636465666768ull));
	store_close(f);
	assert_true(flip_all(f->dir, pattern, 16, 12) >= 1);
	store_open(f);
	expect_corrupt(f, "meta term_vote: checksum mismatch");
}

/* A log whose shape breaks Raft's rules, written through deliberately bad
 * applies (apply stores what it is told), is refused at load. */
static void bad_shape(struct cns__persist *first, struct cns__persist *second, const char *text)
{
	struct fixture g = {0};

	g.dir = unit_tmpdir_new();
	assert_non_null(g.dir);
	store_open(&g);
	apply1(&g, first);
	apply1(&g, second);
	store_reopen(&g);
	expect_corrupt(&g, text);
	store_close(&g);
	unit_tmpdir_remove(g.dir);
}

static void store_bad_shapes(void **state)
{
	struct cns__persist *p;

	(void)state;
	bad_shape(fx_entries(1, 3, 1, 8, 1), fx_entries(5, 1, 1, 8, 1),
		  "log entry 5: gap after log entry 3");
	bad_shape(fx_entries(1, 3, 2, 8, 1), fx_entries(4, 1, 1, 8, 1),
		  "log entry 4: term 1 after term 2");
	bad_shape(term_vote(1, 0), fx_entries(2, 2, 1, 8, 1),
		  "log entry 2: the log starts after 1, no snapshot");
	p = snapshot_req(fx_snapshot(5, 2, 1, 8, 1), true, 0);
	bad_shape(p, fx_entries(8, 1, 2, 8, 1), "log entry 8: gap after the snapshot at 5");
	bad_shape(fx_entries(1, 5, 1, 8, 1), snapshot_req(fx_snapshot(4, 2, 1, 8, 1), false, 0),
		  "log entry 4: term 1, the snapshot's is 2");
	p = snapshot_req(fx_snapshot(5, 3, 1, 8, 1), true, 0);
	bad_shape(p, fx_entries(6, 1, 2, 8, 1), "log entry 6: term 2 below the snapshot's 3");
}

/* ---- a full disk ------------------------------------------------------------------ */

static struct cns__persist *enospc_batch(void)
{
	struct cns__persist *p = fx_entries(21, 2, 4, 64 << 10, 2);

	p->has_term_vote = true;
	p->term = 4;
	p->vote = 2;
	return p;
}

static void enospc_expect(struct cns__store *s, bool with_batch)
{
	struct cns__loaded *l = NULL;
	char errmsg[256];
	unsigned i;

	FX_CHECK(cns__store_load(s, &l, errmsg, sizeof errmsg) == 0);
	FX_CHECK(l->term == (with_batch ? 4u : 3u));
	FX_CHECK(l->n_entries == (with_batch ? 22u : 20u));
	for (i = 0; i < l->n_entries; i++)
		FX_CHECK(i < 20 ? fx_payload_ok(&l->entries[i].buf, 256, i + 1, 1)
				: fx_payload_ok(&l->entries[i].buf, 64 << 10, i + 1, 2));
	cns__loaded_free(l);
}

/* In a 512 KiB tmpfs: commit some entries, fill the disk, expect the next
 * batch to fail with -ENOSPC and change nothing, free the space, and the
 * same batch goes through. */
static int child_enospc(const char *dir, void *arg)
{
	struct cns__persist *p = fx_entries(1, 20, 3, 256, 1), *b = enospc_batch();
	struct cns__store *s;
	char errmsg[256], *filler;
	int attempt;

	(void)arg;
	p->has_term_vote = true;
	p->term = 3;
	p->vote = 1;
	FX_CHECK(cns__store_open(dir, &s, errmsg, sizeof errmsg) == 0);
	FX_CHECK(cns__store_apply(s, &p, 1, errmsg, sizeof errmsg) == 0);
	filler = fx_fill(dir);
	FX_CHECK(filler != NULL);
	for (attempt = 0; attempt < 2; attempt++) {
		FX_CHECK(cns__store_apply(s, &b, 1, errmsg, sizeof errmsg) == -ENOSPC);
		FX_CHECK(strcmp(errmsg, "lmdb commit: No space left on device") == 0);
		enospc_expect(s, false);
	}
	FX_CHECK(unlink(filler) == 0);
	FX_CHECK(cns__store_apply(s, &b, 1, errmsg, sizeof errmsg) == 0);
	enospc_expect(s, true);
	cns__store_close(s);
	FX_CHECK(cns__store_open(dir, &s, errmsg, sizeof errmsg) == 0);
	enospc_expect(s, true);
	cns__store_close(s);
	cns__persist_free(p);
	cns__persist_free(b);
	free(filler);
	return 0;
}

static void store_enospc(void **state)
{
	struct fixture *f = *state;
	int rc = fx_in_tmpfs(f->dir, "size=512k", child_enospc, NULL);

	if (rc == FX_SKIP) {
		print_message("skipped: a tmpfs in a private mount namespace needs root\n");
		skip();
	}
	assert_int_equal(rc, 0);
}

int bs_test_store(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(store_fds_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(store_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(store_version, setup, teardown),
		cmocka_unit_test_setup_teardown(store_term_vote, setup, teardown),
		cmocka_unit_test_setup_teardown(store_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(store_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(store_snapshot_drop_log, setup, teardown),
		cmocka_unit_test_setup_teardown(store_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(store_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(store_request_order, setup, teardown),
		cmocka_unit_test_setup_teardown(store_batch_equals_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(store_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(store_map_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(store_crash_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(store_crash_inside_commit, setup, teardown),
		cmocka_unit_test(store_crash_anywhere),
		cmocka_unit_test_setup_teardown(store_corrupt_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(store_corrupt_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(store_corrupt_term_vote, setup, teardown),
		cmocka_unit_test(store_bad_shapes),
		cmocka_unit_test_setup_teardown(store_enospc, setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
