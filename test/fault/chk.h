/*
 * backstay-check's parts (prefix chk_): the checkers of the fault suite.
 * They read the histories the harness's clients write (JSON lines, formats
 * in README.md) and decide PASS, FAIL or UNKNOWN. Everything here is pure:
 * no clock, no network, files only through the FILE * the caller opens.
 *
 *   chk_kv.c        the KV register history: invoke/complete pairs -> ops per key
 *   chk_linear.c    linearizability of one key's ops (Wing-Gong search, memoized)
 *   chk_writes.c    the PostgreSQL write history; the lost-write rule
 *   chk_split.c     the split-brain rules (epoch <-> node, epochs monotonic in real time)
 *   chk_recovery.c  the status samples, the schedule's heal time; the recovery rule
 *   backstay_check.c  options, files, verdict lines, main
 *
 * Time in histories is nanoseconds (int64, `_ns`) of one clock every client
 * shares (CLOCK_MONOTONIC of the machine, never a faked clock): two
 * operations a few microseconds apart must be ordered, which milliseconds
 * cannot do.
 */
#ifndef CHK_H
#define CHK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum chk_verdict {
	CHK_PASS,
	CHK_FAIL,
	CHK_UNKNOWN, /* the check could not decide (budget spent, samples too short) */
};

/* "PASS", "FAIL", "UNKNOWN". */
const char *chk_verdict_name(enum chk_verdict v);

/* How many offending ids or operations a result keeps to show. */
#define CHK_SHOWN 10

#define CHK_NAME_MAX 64

/* ---- chk_kv.c: the KV register history ------------------------------------ */

enum chk_f { CHK_READ, CHK_WRITE, CHK_CAS };

/* The value of a key that does not exist (JSON null); never a real value. */
#define CHK_ABSENT INT64_MIN
/* The completion time of an operation whose outcome is unknown (info). */
#define CHK_NEVER INT64_MAX

/* One operation that may have taken effect: ok, or info (ret_ns CHK_NEVER).
 * Failed operations did not take effect and are not kept; neither are info
 * reads (they change nothing and tell nothing). */
struct chk_op {
	int64_t process;
	enum chk_f f;
	int64_t value;	/* read: the value read; write, cas: the value written */
	int64_t expect; /* cas: the value it required */
	int64_t call_ns, ret_ns;
	unsigned long line; /* the invoke's line in its file */
};

struct chk_key {
	char *key;
	struct chk_op *ops;
	size_t n, cap;
};

struct chk_kv {
	struct chk_key *keys;
	size_t n_keys, cap;
	size_t n_ok, n_info, n_fail; /* completions seen (an invoke left open counts as info) */
};

void chk_kv_init(struct chk_kv *h);
/* Append the operations of one history file (several files may be read into
 * one history: their process numbers must not collide). 0, -ENOMEM, or
 * -EINVAL with errmsg naming the line ("line 12: ..."). On -EINVAL the
 * operations read so far stay in h; the caller frees h either way. */
int chk_kv_read(struct chk_kv *h, FILE *f, char *errmsg, size_t errmsg_size);
void chk_kv_free(struct chk_kv *h); /* accepts an initialised, empty h */
/* "process 3 cas r1 1->2 [100..250]" (times in ns, "info" for CHK_NEVER). */
void chk_op_format(const struct chk_op *op, const char *key, char *buf, size_t size);

/* ---- chk_linear.c: linearizability of one register ------------------------- */

struct chk_lin_budget {
	uint64_t steps;	    /* search steps (one per entry visited) before UNKNOWN */
	size_t cache_bytes; /* memo table size before UNKNOWN */
};

struct chk_lin_result {
	enum chk_verdict verdict;
	uint64_t steps; /* spent */
	/* FAIL only: the deepest partial linearization the search built before
	 * it met the completion of an op it could not place (stuck). */
	size_t *prefix; /* op indexes in linearization order (malloc'd) */
	size_t n_prefix;
	size_t stuck; /* op index */
};

/* Is there a total order of ops (one register, initially CHK_ABSENT) that
 * respects real time (an op completed before another began comes first)
 * and the register's rules, in which every ok op appears and each info op
 * appears or not? ops need not be sorted. 0 with *ret filled (the caller
 * frees it with chk_lin_result_free), or -ENOMEM. */
int chk_linearize(const struct chk_op *ops, size_t n, const struct chk_lin_budget *budget,
		  struct chk_lin_result *ret);
void chk_lin_result_free(struct chk_lin_result *r); /* accepts a zeroed r */

/* ---- chk_writes.c: PostgreSQL writes and the lost-write rule ---------------- */

enum chk_wtype { CHK_W_OK, CHK_W_FAIL, CHK_W_INFO };

struct chk_write {
	int64_t id;
	enum chk_wtype type;
	int64_t epoch; /* ok: >= 1; else -1 when not given */
	char node[CHK_NAME_MAX], client[CHK_NAME_MAX], route[16];
	int64_t start_ns, end_ns;
	unsigned long line;
};

struct chk_writes {
	struct chk_write *w;
	size_t n, cap;
};

/* Append one file's writes. 0, -ENOMEM or -EINVAL (errmsg names the line).
 * An ok write must carry epoch and node. The caller frees w either way. */
int chk_writes_read(struct chk_writes *w, FILE *f, char *errmsg, size_t errmsg_size);
void chk_writes_free(struct chk_writes *w); /* accepts a zeroed w */
/* The ids of the writes of one type, sorted and unique (*ret_ids malloc'd,
 * the caller frees; set only on 0). -ENOMEM; -EEXIST if an ok id appears
 * twice (*ret_dup gets it): the harness gave two writes one id. */
int chk_writes_ids(const struct chk_writes *w, enum chk_wtype type, int64_t **ret_ids,
		   size_t *ret_n, int64_t *ret_dup);

/* One node's rows after healing (in: name, leader, ids sorted and unique)
 * and what the rule found there (out). */
struct chk_lost_node {
	const char *name;
	bool leader;
	const int64_t *ids;
	size_t n;
	size_t missing;		  /* acknowledged ids not on this node */
	size_t divergent;	  /* follower: ids the leader does not have */
	size_t phantom;		  /* ids of writes reported failed, present here */
	int64_t shown[CHK_SHOWN]; /* the first missing ids */
	size_t n_shown;
};

/* Every acknowledged write must be on every node (the leader and each
 * follower); followers hold nothing the leader lacks; no write the client
 * saw fail is present. In async mode missing ids are counted, not failed
 * (divergence and phantoms still fail). acked and failed: sorted, unique. */
enum chk_verdict chk_lost(const int64_t *acked, size_t n_acked, const int64_t *failed,
			  size_t n_failed, struct chk_lost_node *nodes, size_t n_nodes, bool async);

/* ---- chk_split.c: never two writable primaries ------------------------------ */

enum chk_split_rule {
	CHK_SPLIT_NONE,
	CHK_SPLIT_EPOCH_NODE, /* one epoch, two nodes */
	CHK_SPLIT_REAL_TIME,  /* a: acknowledged before b began, but a.epoch > b.epoch */
};

struct chk_split_result {
	enum chk_verdict verdict;
	size_t n_ok;		  /* acknowledged writes checked */
	size_t n_epochs;	  /* distinct epochs among them */
	size_t violations;	  /* writes b that break a rule (each counted once per rule) */
	enum chk_split_rule rule; /* of the first pair found */
	size_t a, b;		  /* indexes into w->w of that pair */
};

/* Checks both rules (README.md, "split brain") over the ok writes.
 * 0 with *ret filled, or -ENOMEM. */
int chk_split(const struct chk_writes *w, struct chk_split_result *ret);

/* ---- chk_recovery.c: back to one leader and streaming followers ------------ */

struct chk_node_state {
	char node[CHK_NAME_MAX];
	char role[16];	   /* leader, follower, promoting, waiting, deposed, down, ... */
	int64_t epoch;	   /* -1: not given */
	bool streaming;	   /* a follower's PostgreSQL streams from the leader */
	int64_t lag_bytes; /* -1: not given */
};

struct chk_sample {
	int64_t t_ns;
	struct chk_node_state *nodes;
	size_t n;
};

struct chk_samples {
	struct chk_sample *s;
	size_t n, cap;
};

/* One sample per line, in time order. 0, -ENOMEM, -EINVAL (errmsg). The
 * caller frees s either way. */
int chk_samples_read(struct chk_samples *s, FILE *f, char *errmsg, size_t errmsg_size);
void chk_samples_free(struct chk_samples *s); /* accepts a zeroed s */

/* The heal time of a schedule file: the t_ns of its last event, once every
 * fault it started has ended. 0, -ENOMEM, -EINVAL (malformed, or a fault
 * never ends: errmsg says which), -ENOENT (no events). */
int chk_schedule_heal(FILE *f, int64_t *ret_heal_ns, char *errmsg, size_t errmsg_size);

struct chk_recovery_opts {
	int64_t heal_ns;
	int64_t bound_ns;
	int64_t max_lag_bytes; /* -1: lag not judged */
	size_t n_nodes;	       /* nodes a sample must list (0: every node any sample names) */
};

struct chk_recovery_result {
	enum chk_verdict verdict;
	int64_t recovered_ns; /* from heal to the settled sample; -1 if never */
	size_t n_after_heal;  /* samples at or after heal */
	char why[256];	      /* the last unrecovered sample's reason, or why UNKNOWN */
};

/* Is this sample "one leader, every other node a streaming follower of its
 * epoch, lag within bound"? false with the reason in why. */
bool chk_sample_recovered(const struct chk_sample *s, const struct chk_recovery_opts *o,
			  size_t n_nodes, char *why, size_t why_size);
/* Recovery time = from heal to the first sample after which every sample is
 * recovered; PASS within bound_ns. */
void chk_recovery(const struct chk_samples *s, const struct chk_recovery_opts *o,
		  struct chk_recovery_result *ret);

#endif
