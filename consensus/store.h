/*
 * consensus/store.h — a node's durable Raft state in LMDB (cns__store_*) and
 * the asynchronous group-commit writer over it (cns__writer_*).
 *
 * The store is synchronous and single-user: one thread at a time calls it,
 * never two calls at once. In a running node that thread is whichever libuv
 * pool thread runs the writer's one batch in flight; cns__store_load() runs
 * before the writer starts. The store relies on this contract: when a batch
 * does not fit the LMDB map it grows the map with mdb_env_set_mapsize(),
 * which LMDB only allows while no transaction (read or write) is open in the
 * process.
 *
 * A process must not open the same directory twice (LMDB's POSIX locks would
 * be released by the second close), and must not use a store across fork().
 */
#ifndef BS_CONSENSUS_STORE_H
#define BS_CONSENSUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal.h"

/* ---- store ---------------------------------------------------------------- */

enum {
	CNS__STORE_FORMAT = 1, /* on-disk layout version, checked at open and load */
};
#define CNS__STORE_MAP_SIZE ((size_t)64 << 20) /* initial LMDB map */
#define CNS__STORE_MAP_MAX ((size_t)1 << 40)   /* the map doubles up to this */

struct cns__store;

/* Open (creating if needed) the LMDB environment in dir: data.mdb and
 * lock.mdb directly inside it, mode 0600; dir itself is created (0700, one
 * level) when missing. A new environment gets the format-version record; an
 * existing one must carry CNS__STORE_FORMAT. The map starts at
 * CNS__STORE_MAP_SIZE, or at the size the store had grown to before.
 *
 * On 0, *ret is the caller's, freed with cns__store_close(). On failure ret
 * is untouched and errmsg says what failed: a negative errno (mkdir, open,
 * mmap, a full disk while writing the version record) or BS_E_CORRUPT (not
 * an LMDB file, another format version, data without a version record). */
int cns__store_open(const char *dir, struct cns__store **ret, char *errmsg, size_t size);

/* The same with an initial map of at least map_size bytes (tests, tools). */
int cns__store_open_map(const char *dir, size_t map_size, struct cns__store **ret, char *errmsg,
			size_t size);

/* Close the environment. Accepts NULL. */
void cns__store_close(struct cns__store *store);

/* The current LMDB map size in bytes (grows by doubling, see apply). */
size_t cns__store_map_size(const struct cns__store *store);

/*
 * Apply reqs[0..n) in order in ONE write transaction, made durable by ONE
 * LMDB commit (fdatasync of the data, then the O_DSYNC meta page; never
 * MDB_NOSYNC/NOMETASYNC). Each request's parts apply as internal.h lists
 * them: term/vote, snapshot (+ drop_log: empty the log), compact_upto,
 * truncate_from, entries.
 *
 * apply stores what it is told: it does not check the log's shape
 * (contiguity, term order), which is the driver's rule and load's check. It
 * refuses only requests that cannot be stored (-EINVAL: entries at index 0
 * or wrapping past 2^64, an entry type other than RAFT_COMMAND, RAFT_BARRIER
 * and RAFT_CHANGE, drop_log without a snapshot, a snapshot at index 0;
 * -EFBIG: a record over LMDB's 4 GiB value limit), before writing anything.
 *
 * When the batch does not fit the map (MDB_MAP_FULL) the transaction is
 * aborted, the map doubled and the whole batch retried, up to
 * CNS__STORE_MAP_MAX (then -ENOSPC).
 *
 * The requests stay the caller's and are not modified. Returns 0, or on
 * failure with nothing of the batch applied (LMDB transactions are atomic)
 * and the same batch retryable: -EINVAL, -EFBIG, -ENOMEM, the commit's
 * errno (-ENOSPC, -EDQUOT, -EFBIG, -EIO, with errmsg e.g. "lmdb commit: No
 * space left on device"), BS_E_CORRUPT when LMDB finds the file damaged.
 * (LMDB 0.9 reports a short write as EIO, so a disk that fills in the
 * middle of one of the commit's writes gives -EIO rather than -ENOSPC.)
 * n == 0 is a no-op.
 */
int cns__store_apply(struct cns__store *store, struct cns__persist *const *reqs, size_t n,
		     char *errmsg, size_t size);

/*
 * Read and verify everything: format version, term and vote (0 and 0 when
 * never written), the snapshot (NULL when none), the log. Every record's
 * crc32 must match its key and bytes; log keys are 8-byte indexes >= 1; the
 * log is contiguous, its terms are >= 1 and never decrease; without a
 * snapshot it starts at index 1; with one it starts at or before
 * snapshot->index + 1, an entry at snapshot->index has the snapshot's term,
 * and entries after it have terms >= the snapshot's term.
 *
 * Entries covered by the snapshot (index <= snapshot->index: the trailing
 * entries kept for lagging followers) are verified but not returned, so
 * (*ret)->start_index is always snapshot->index + 1, or 1 without a
 * snapshot, and entries[0..n_entries) are the stored entries from there on.
 *
 * On 0, *ret is the caller's (cns__loaded_free); every buffer is a copy.
 * On failure ret is untouched: BS_E_CORRUPT with errmsg naming the record
 * ("log entry 1234: checksum mismatch", "snapshot: checksum mismatch",
 * "meta term_vote: record of 3 bytes"), -ENOMEM, or an LMDB error.
 */
int cns__store_load(struct cns__store *store, struct cns__loaded **ret, char *errmsg, size_t size);

/* ---- writer (group commit) ----------------------------------------------------
 *
 * Requests submitted on the loop thread are written by cns__store_apply()
 * on the libuv thread pool, one batch in flight at a time. Everything
 * submitted while a batch is in flight (or earlier in the same loop
 * iteration, when idle) forms the next batch: one transaction, one fsync.
 * A batch holds at most CNS__WRITER_BATCH_MAX requests and, unless a single
 * request is bigger, CNS__WRITER_BATCH_BYTES of payload, so its latency
 * stays bounded.
 *
 * Completion: done(w, p) runs on the loop thread once p is durable, exactly
 * once per request, in submission order; ownership of p returns to the
 * caller there. Callbacks may submit; done may close.
 *
 * Failure: a batch whose write fails (a full disk...) is kept whole and
 * retried after 10 ms, doubling to 1 s, until it succeeds; requests
 * submitted meanwhile queue behind it. Nothing is dropped, reordered or
 * partially completed. failed(w, status, errmsg) reports the first failure
 * of a streak (status < 0, errmsg "group commit of 12 requests: lmdb
 * commit: No space left on device") and its end (status 0, errmsg ""),
 * once each; cns__writer_failing() is true in between, so the driver can
 * refuse new client entries.
 *
 * The writer never touches a request's next and data fields (the driver's
 * bookkeeping): it queues pointers in its own ring.
 */
enum {
	CNS__WRITER_BATCH_MAX = 4096, /* requests per batch */
};
#define CNS__WRITER_BATCH_BYTES ((uint64_t)64 << 20) /* payload per batch */

struct cns__writer;

typedef void (*cns__writer_done_cb)(struct cns__writer *w, struct cns__persist *p);
typedef void (*cns__writer_failed_cb)(struct cns__writer *w, int status, const char *errmsg);
typedef void (*cns__writer_close_cb)(struct cns__writer *w);

/* Counters, updated on the loop thread; read them there. */
struct cns__writer_stats {
	uint64_t batches;    /* transactions committed (one fsync each) */
	uint64_t requests;   /* requests made durable */
	uint64_t bytes;	     /* payload made durable: entry bytes, snapshot conf + data */
	uint64_t failures;   /* failed write attempts (each one retried) */
	unsigned last_batch; /* requests in the latest committed batch */
	unsigned max_batch;  /* largest committed batch */
	size_t queued;	     /* submitted, not yet in a batch */
};

struct cns__writer {
	void *data;			/* the caller's; init leaves it alone */
	struct cns__writer_stats stats; /* read-only for the caller */
	/* Private. */
	uv_loop_t *loop;
	struct cns__store *store;
	cns__writer_done_cb done;
	cns__writer_failed_cb failed;
	cns__writer_close_cb close_cb;
	struct cns__persist **ring;  /* queued requests, oldest at ring[head] */
	size_t ring_cap, ring_head;  /* stats.queued is the ring's count */
	struct cns__persist **batch; /* in flight, or failed and awaiting retry */
	unsigned n_batch;
	uint64_t batch_bytes;
	uv_work_t work;
	uv_idle_t kick; /* starts a batch at the next loop iteration */
	uv_timer_t retry;
	uint64_t backoff_ms;
	int status;	  /* the last attempt's result (pool thread) */
	char errmsg[256]; /* and its message */
	bool in_flight, failing, closing;
	unsigned open_handles;
};

/* Initialise w over store (which must outlive the writer's close_cb).
 * done is required, failed may be NULL. 0 or -ENOMEM; on failure nothing
 * needs closing. */
int cns__writer_init(struct cns__writer *w, uv_loop_t *loop, struct cns__store *store,
		     cns__writer_done_cb done, cns__writer_failed_cb failed);

/* Queue p (taken: the writer owns it until done hands it back). Never
 * fails: the queue grows as needed, and a process that cannot grow it by a
 * pointer is out of memory and aborts. After close, p is freed at once and
 * done never fires for it. Loop thread only; callbacks may call it. */
void cns__writer_submit(struct cns__writer *w, struct cns__persist *p);

/* Is the writer in a failure streak (see above)? */
bool cns__writer_failing(const struct cns__writer *w);

/*
 * Close asynchronously:
 *   - queued requests, and a failed batch waiting for its retry, are not
 *     durable: they are freed with cns__persist_free() and done never fires
 *     for them;
 *   - a batch in flight finishes: if it commits, done fires for each of its
 *     requests (they ARE durable); if it fails, its requests are freed like
 *     the queued ones and failed is not called;
 *   - then close_cb(w) runs on the loop thread, after which nothing touches
 *     w and the caller may free it (and close the store).
 * Call once (later calls do nothing); a submit after it frees its request
 * at once. close_cb may be NULL.
 */
void cns__writer_close(struct cns__writer *w, cns__writer_close_cb close_cb);

#endif /* BS_CONSENSUS_STORE_H */
