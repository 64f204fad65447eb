/*
 * pgctl/ — the PostgreSQL 15 adapter: the files PostgreSQL reads
 * (postgresql.conf, pg_hba.conf, the passfile, the certificate), cluster
 * creation, supervision of the postmaster, a non-blocking libpq connection
 * for the daemon's questions and orders, and the three ways of following a
 * leader (re-point, pg_rewind, pg_basebackup). It knows nothing of Raft or
 * of the leader module: the daemon decides, pgctl does.
 *
 * Prefix pgc_. Depends on base, libuv, libpq and libcrypto.
 *
 * Three kinds of functions:
 *  - pure ones (renderers, quorum arithmetic, LSN and progress parsing):
 *    no I/O, any thread;
 *  - small synchronous file operations (sentinels, pgc_cert_make) and the
 *    blocking pgc_initdb, for command-line verbs;
 *  - requests on a struct pgc, which lives on one uv loop and never blocks
 *    it: libpq through PQconnectStart/PQconnectPoll/PQsendQuery* on a
 *    uv_poll_t, child processes through uv_spawn, file writes (each one
 *    fsync'ed) and directory trees on libuv's thread pool.
 *
 * Requests follow one contract (CONVENTIONS §6): the caller owns the struct
 * pgc_req and keeps it alive until its callback; if the submitting call
 * fails (negative errno, req->errmsg says why) the callback never runs;
 * otherwise it runs exactly once, on the loop thread, never from inside the
 * submitting call; -ECANCELED when the handle closes first. Every request
 * has a deadline counted from its submission (time spent queued included);
 * -ETIMEDOUT when it passes.
 *
 * Requests run in two lanes, one request at a time in each, in submission
 * order: the database lane (one libpq connection, kept open between
 * requests and opened again after a failure) and the process lane (start,
 * stop, rewind, base backup: whatever spawns or signals a process or
 * rewrites the data directory). A state query therefore answers while a
 * base backup runs (that PostgreSQL is down: reachable = false).
 *
 * Errors: 0 or a negative errno, with req->errmsg (or errmsg) naming the
 * step and the cause, e.g. "base backup: pg_basebackup exited with status
 * 1: pg_basebackup: error: could not connect to server: ...". libpq's
 * outcomes are translated in one place: a connection that cannot be made
 * -ECONNREFUSED; a connection lost mid-request -ECONNRESET; SQLSTATE class
 * 57P03 (starting up) -EAGAIN; 25006 (read-only transaction) -EROFS; 42501
 * (privilege) -EACCES; 57014 (canceled) -ECANCELED; other SQL errors -EIO
 * with PostgreSQL's message.
 */
#ifndef BS_PGCTL_H
#define BS_PGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base.h"

enum {
	PGC_LSN_LEN = 18,	       /* "FFFFFFFF/FFFFFFFF" and its NUL */
	PGC_NAME_MAX = 64,	       /* application, slot and role names (NAMEDATALEN) */
	PGC_HOST_MAX = 256,	       /* an upstream's address */
	PGC_STANDBYS_MAX = 16,	       /* pg_stat_replication rows kept by a state query */
	PGC_SLOTS_MAX = 16,	       /* names per pgc_create_slots */
	PGC_SYNC_NAMES_MAX = 1280,     /* synchronous_standby_names, with its NUL */
	PGC_VALUE_MAX = 256,	       /* pgc_exec's first value, with its NUL */
	PGC_WAL_SEGMENT_MB = 16,       /* chef-backend counted WAL sizes in 16 MB segments */
	PGC_REPLICATION_TIMEOUT_S = 5, /* wal_sender_timeout and wal_receiver_timeout */
	PGC_CONNECT_TIMEOUT_S = 2,     /* connect_timeout of every connection to a peer */
	PGC_PROMOTE_WAIT_S = 60,       /* pg_promote(true, 60) */
	PGC_STOP_FAST_MS = 30000,      /* default bound before SIGKILL: fast stop */
	PGC_STOP_IMMEDIATE_MS = 5000,  /* default bound before SIGKILL: immediate stop */
	PGC_REWIND_TIMEOUT_MS = 30 * 60 * 1000,
	PGC_BASEBACKUP_TIMEOUT_MS = 24 * 60 * 60 * 1000,
};

/* ------------------------------------------------------------------------
 * Pure: quorum commit, LSNs, progress lines.
 */

/* The k of "ANY k (...)" for a cluster of n voters: the smallest k for which
 * the primary and k standbys (k + 1 copies) meet every majority of the n,
 * k = n - floor(n/2) - 1. 0 for n <= 2 (no synchronous standby needed). */
unsigned pgc_quorum_k(unsigned n_voters);

/* synchronous_standby_names for quorum commit: `ANY k ("a", "b")` over the
 * n names in the order given, each double-quoted (an embedded '"' doubled);
 * "" when k == 0. 0, -EINVAL (k > n, an empty name, a NUL-less name longer
 * than PGC_NAME_MAX - 1) or -ENOSPC (buf too small). buf is always
 * NUL-terminated when size > 0. */
int pgc_sync_names(const char *const *names, size_t n, unsigned k, char *buf, size_t size);

/* "16/B374D848" <-> 0x16B374D848. parse: 1 to 8 hex digits, '/', 1 to 8
 * hex digits, nothing else: 0 or -EINVAL (ret untouched). format: upper
 * case, no leading zeros, as PostgreSQL prints pg_lsn. */
int pgc_lsn_parse(const char *text, uint64_t *ret_lsn);
void pgc_lsn_format(uint64_t lsn, char buf[PGC_LSN_LEN]);

/* One progress report of pg_basebackup -P or pg_rewind --progress,
 * "  12345/67890 kB (18%), 0/1 tablespace" or "12345/67890 kB (18%) copied". */
struct pgc_progress {
	uint64_t done_kb;
	uint64_t total_kb;
	unsigned percent;
};
/* 0 or -EINVAL when the line is not a progress report (ret untouched). */
int pgc_progress_parse(const char *line, struct pgc_progress *ret_progress);

/* ------------------------------------------------------------------------
 * Pure: the files PostgreSQL reads.
 */

/* Where this node's PostgreSQL replicates from. Strings are copied by
 * whoever takes one. */
struct pgc_upstream {
	const char *host; /* the leader's publish_address */
	int port;	  /* its postgresql.port */
	const char *slot; /* primary_slot_name there; NULL or "" = none */
};

/* Everything postgresql.conf is rendered from. Borrowed for the call. */
struct pgc_conf_in {
	const struct bs_config *config; /* postgresql.*, ssl.ciphers */
	const char *data_dir;		/* hba_file is <data_dir>/pg_hba.conf */
	const char *socket_dir;		/* unix_socket_directories */
	const char *cert_file;		/* ssl_cert_file */
	const char *key_file;		/* ssl_key_file */
	const char *passfile;		/* primary_conninfo's passfile */
	const char *app_name;		/* primary_conninfo's application_name */
	const char *listen_addresses;	/* NULL = '*' */
	uint64_t ram_bytes;	/* for nil shared_buffers (1/4) and effective_cache_size (1/2) */
	const char *sync_names; /* synchronous_standby_names; NULL = "" */
	const struct pgc_upstream *upstream; /* NULL: no primary_conninfo (a primary) */
};

/* postgresql.conf, whole (backstay owns the file). *ret_text is the
 * caller's (free). 0, -EINVAL (a required field is NULL) or -ENOMEM. */
int pgc_render_conf(const struct pgc_conf_in *in, char **ret_text);

/* pg_hba.conf: `local all postgres peer`, `local all <db_superuser> md5`
 * (the daemon's own connection, see README), then for each entry X of
 * postgresql.md5_auth_cidr_addresses, in order, chef-backend's two lines
 * `host all all X md5` and `hostssl replication <replication_user> X md5`,
 * in chef-backend's documented column layout. *ret_text is the caller's. */
int pgc_render_hba(const struct bs_config *config, char **ret_text);

/* ------------------------------------------------------------------------
 * Sentinels (chef-backend's leaderl/data files), in a directory the caller
 * names: backstay's data_dir.
 *   no-start-pgsql  written when a leader is deposed; pgc_start refuses to
 *                   start PostgreSQL while it exists (unless overridden).
 *   unsynced        written before a base backup, removed when it succeeds:
 *                   while it exists the data directory is partial and the
 *                   node is not eligible to lead.
 * set: created (or kept) and fsync'ed with its directory; clear: removed
 * (absent is fine). 0 or negative errno + errmsg naming the path.
 */
enum pgc_sentinel { PGC_NO_START_PGSQL, PGC_UNSYNCED };

const char *pgc_sentinel_name(enum pgc_sentinel s);
int pgc_sentinel_set(const char *dir, enum pgc_sentinel s, char *errmsg, size_t size);
int pgc_sentinel_clear(const char *dir, enum pgc_sentinel s, char *errmsg, size_t size);
bool pgc_sentinel_exists(const char *dir, enum pgc_sentinel s);

/* ------------------------------------------------------------------------
 * A node: how one PostgreSQL is laid out. Borrowed: the strings and the
 * config must outlive whatever was given the node (pgc_new copies the
 * paths it derives, not these). Requests read the config as they run, on
 * the thread pool too: change it only while none is under way.
 */
struct pgc_node {
	uv_loop_t *loop;		  /* pgc_new only; pgc_initdb runs its own */
	const struct bs_config *config;	  /* postgresql.*, ssl.*, leaderl.db_timeout */
	const struct bs_secrets *secrets; /* the two PostgreSQL passwords */
	struct bs_clock *clock;		  /* certificate dates and serials; NULL = real */
	const char *state_dir;		  /* backstay's data_dir; NULL = the config's */
	const char *socket_dir;		  /* NULL = <state_dir>/pgsock */
	const char *app_name;		  /* application_name towards the upstream */
	const char *cert_cn;		  /* CN of a self-signed certificate; NULL = app_name */
	const char *listen_addresses;	  /* NULL = '*' (nodes sharing a machine: their own) */
	uint64_t ram_bytes;		  /* 0 = this machine's physical memory */
};

/* Derived paths, for status displays and tests. */
struct pgc_paths {
	char data_dir[4096];   /* postgresql.data_dir */
	char socket_dir[4096]; /* unix_socket_directories */
	char passfile[4096];   /* <state_dir>/pgpass: replicator and db superuser */
	char cert_file[4096];  /* ssl.certificate or <ssl.data_dir>/postgresql.crt */
	char key_file[4096];   /* ssl.certificate_key or <ssl.data_dir>/postgresql.key */
	char log_file[4096];   /* <postgresql.log_directory>/postgresql.log */
	char state_dir[4096];
};
int pgc_node_paths(const struct pgc_node *node, struct pgc_paths *ret_paths, char *errmsg,
		   size_t size);

/* A self-signed certificate for PostgreSQL's ssl = on: an RSA key of
 * ssl.key_length bits, subject C/O/OU from ssl.country_name, company_name,
 * organizational_unit_name and CN = node->cert_cn (or app_name), valid
 * ssl.duration days from now, SHA-256. Written to the node's cert_file and
 * key_file atomically (key 0600, certificate 0644, both owned by
 * postgresql.username when running as root), the directory created if
 * missing. Refuses (-EINVAL) when ssl.certificate is set: that one is the
 * operator's. Synchronous (a 2048-bit key takes ~0.1 s). */
int pgc_cert_make(const struct pgc_node *node, char *errmsg, size_t size);

/* create-cluster's step: a new PostgreSQL in postgresql.data_dir (missing
 * or empty, else -EEXIST), run as postgresql.username: initdb
 * --data-checksums -U postgres -E UTF8 --locale=C; the certificate (unless
 * ssl.certificate is set or it exists), the passfile, postgresql.conf (as
 * a primary) and pg_hba.conf; then PostgreSQL is started with no TCP
 * listener and a one-line trust pg_hba for the postgres role on its
 * private socket, postgresql.db_superuser (SUPERUSER LOGIN) and
 * postgresql.replication_user (REPLICATION LOGIN) are created with the
 * secrets' passwords, and it is stopped again. BLOCKS (seconds): for
 * command-line verbs, not the daemon. On failure the data directory, if
 * this call made it, is removed and errmsg names the step ("initdb: initdb
 * exited with status 1: initdb: error: ..."). Needs root, or to run as
 * postgresql.username itself. */
int pgc_initdb(const struct pgc_node *node, char *errmsg, size_t size);

/* ------------------------------------------------------------------------
 * The handle on the loop.
 */
struct pgc;

/* Report of the postmaster's end: on its own (crash, someone else's
 * signal) or after pgc_stop (requested). */
struct pgc_exit {
	int64_t exit_status;
	int term_signal;    /* 0 = exited */
	bool requested;	    /* a pgc_stop was under way */
	bool killed;	    /* pgc_stop had to send SIGKILL */
	char log_tail[256]; /* the server log's last two lines, for messages */
};

/* Called on the loop thread whenever the postmaster started by pgc_start
 * ends. May be NULL. */
typedef void (*pgc_exit_cb)(void *data, const struct pgc_exit *exit);

/* A new handle. Nothing is started or connected yet. node is copied (its
 * strings stay borrowed, see struct pgc_node). 0, -EINVAL (no loop, no
 * app_name, unknown postgresql.username), -ENOMEM; errmsg says which. */
int pgc_new(const struct pgc_node *node, pgc_exit_cb on_exit, void *data, struct pgc **ret_pgc,
	    char *errmsg, size_t size);

/* Close: every request under way or queued ends with -ECANCELED, a child
 * process (pg_rewind, pg_basebackup) is killed, and a postmaster still
 * running is stopped (immediate, then SIGKILL): a PostgreSQL must never run
 * unsupervised. cb runs once everything is closed; then the memory is
 * freed. Call pgc_stop(FAST) first for a clean shutdown. */
void pgc_close(struct pgc *p, void (*cb)(void *data), void *data);

bool pgc_running(const struct pgc *p); /* the postmaster we started is alive */
int pgc_pid(const struct pgc *p);      /* its pid, or 0 */
const struct pgc_paths *pgc_paths(const struct pgc *p);

/* The server log's newest PANIC, FATAL or ERROR line among its last few KB
 * ("" when none): why a server that just died did, for messages. */
void pgc_log_last_error(const struct pgc *p, char *buf, size_t size);
/* The last progress report of a base backup or rewind under way (false
 * when none runs), for status displays. */
bool pgc_progress(const struct pgc *p, struct pgc_progress *ret_progress);

/* ------------------------------------------------------------------------
 * Requests.
 */
struct pgc_standby {
	char app_name[PGC_NAME_MAX];
	char state[16];	     /* "streaming", "catchup", ... */
	char sync_state[16]; /* "async", "quorum", "sync", "potential" */
	uint64_t flush_lsn;
};

struct pgc_state {
	bool reachable;	  /* the query answered; false: errmsg says why not */
	bool in_recovery; /* a standby */
	uint32_t timeline;
	uint64_t receive_lsn;		  /* pg_last_wal_receive_lsn (standby; 0 = none) */
	uint64_t replay_lsn;		  /* pg_last_wal_replay_lsn (standby) */
	uint64_t flush_lsn;		  /* pg_current_wal_flush_lsn (primary) */
	bool receiver_streaming;	  /* pg_stat_wal_receiver.status = 'streaming', on the
					   * newest timeline whose history it has */
	char receiver_host[PGC_HOST_MAX]; /* its sender_host */
	uint64_t sender_end_lsn;	  /* pg_stat_wal_receiver.latest_end_lsn: the end
					   * of the sender's WAL at its last message
					   * (standby; 0 = no receiver) */
	unsigned n_standbys;		  /* pg_stat_replication rows (primary) */
	unsigned n_streaming;		  /* of those, state = 'streaming' */
	struct pgc_standby standbys[PGC_STANDBYS_MAX]; /* the first 16 of those rows */
	char sync_names[PGC_SYNC_NAMES_MAX];	       /* synchronous_standby_names in effect */
};

/* Replication lag in bytes from one state: on a primary, the slowest
 * streaming standby's (its flush_lsn behind ours; rows past the first
 * PGC_STANDBYS_MAX are not seen); on a standby, its replay behind the end
 * of its sender's WAL as last reported. 0 when nothing is known (no
 * standby streams, no WAL receiver). */
uint64_t pgc_state_lag(const struct pgc_state *s);

enum pgc_stop_mode {
	PGC_STOP_FAST,	    /* SIGINT: roll back, checkpoint, exit */
	PGC_STOP_IMMEDIATE, /* SIGQUIT: exit now, crash recovery at the next start */
};

enum pgc_method { PGC_METHOD_NONE, PGC_METHOD_REWIND, PGC_METHOD_BASEBACKUP };

struct pgc_req;
struct pgc__op;
typedef void (*pgc_req_cb)(struct pgc_req *req, int status);

struct pgc_req {
	void *data; /* the caller's */
	/* Optional, set before submitting a rewind or base backup: each
	 * progress report, on the loop thread. */
	void (*progress_cb)(struct pgc_req *req, const struct pgc_progress *progress);

	/* Results, valid in the callback. */
	struct pgc_state state;	   /* pgc_query_state */
	char value[PGC_VALUE_MAX]; /* pgc_exec: first column of the first row ("" if none) */
	int rows;		   /* pgc_exec: rows of the last statement */
	enum pgc_method method;	   /* pgc_rewind: what brought the node in line */
	char errmsg[256];	   /* why, when status != 0 */

	/* Private. */
	struct pgc *p;
	const struct pgc__op *op;
	pgc_req_cb cb;
	struct pgc_req *next;
	uint64_t deadline_ms, wait_until_ms;
	int stage, act, act_status;
	int abort;	  /* the status a deadline or close imposed, or 0 */
	bool keep_errmsg; /* status 0 with something to say (unreachable) */
	uv_work_t work;
	int (*work_fn)(struct pgc_req *req);
	char **argv; /* a child's, built by a step */
	void (*line_cb)(struct pgc_req *req, const char *line);
	const char *sql;
	int nparams;
	const char *params[3];
	char param_buf[3][PGC_NAME_MAX];
	void *render; /* rendered files waiting for the thread pool */
	union {
		struct {
			bool as_primary, override;
		} start;
		struct {
			enum pgc_stop_mode mode;
			unsigned kill_after_ms;
			uint64_t kill_at_ms;
		} stop;
		struct {
			unsigned long exits;
		} ready;
		struct {
			char names[PGC_SLOTS_MAX][PGC_NAME_MAX];
			size_t n, i;
		} slots;
		struct {
			char names[PGC_SYNC_NAMES_MAX]; /* the setting */
			char array[PGC_SYNC_NAMES_MAX]; /* the standbys, as a text[] literal */
			bool none;			/* k = 0 */
		} sync;
		struct {
			char node[PGC_NAME_MAX];
			char found[PGC_NAME_MAX]; /* the node the epoch is recorded for */
		} epoch;
		struct {
			bool fallback, basebackup;
			bool had_unsynced; /* the sentinel existed before this copy */
			int status;
			char conninfo[1024];
		} follow;
	} u;
};

/* Start the postmaster (process lane): unless opt->as_primary, write
 * standby.signal (as_primary removes it); write the certificate if it is
 * missing (and ssl.certificate is unset), the passfile, postgresql.conf
 * and pg_hba.conf; then spawn `postgres -D data_dir` as
 * postgresql.username, stdout and stderr appended to
 * <postgresql.log_directory>/postgresql.log. cb(0) once it runs; whether
 * it accepts connections is pgc_wait_ready's question, its end goes to the
 * exit callback. Refused before anything is queued: -EPERM while the
 * no-start-pgsql sentinel exists (unless opt->override_no_start),
 * -EALREADY when it runs. A postmaster this handle did not start that still
 * holds the data directory (a daemon died and left it) ends the request
 * with -EBUSY: pgctl does not adopt it. upstream: the standby's (copied;
 * NULL = keep the last one given to this handle). */
struct pgc_start_opts {
	bool as_primary;
	bool override_no_start;
	const struct pgc_upstream *upstream;
};
int pgc_start(struct pgc *p, struct pgc_req *req, const struct pgc_start_opts *opt, pgc_req_cb cb);

/* Stop it (process lane): SIGINT (fast) or SIGQUIT (immediate), then
 * SIGKILL after kill_after_ms (0 = PGC_STOP_FAST_MS / PGC_STOP_IMMEDIATE_MS).
 * cb(0) once it has exited (also when it was not running). */
int pgc_stop(struct pgc *p, struct pgc_req *req, enum pgc_stop_mode mode, unsigned kill_after_ms,
	     pgc_req_cb cb);

/* Database lane: connect and SELECT 1 until it works, every 100 ms, for at
 * most timeout_ms; -ESRCH at once when the postmaster we started exits
 * meanwhile (errmsg: the last two lines of its log). */
int pgc_wait_ready(struct pgc *p, struct pgc_req *req, unsigned timeout_ms, pgc_req_cb cb);

/* Database lane, leaderl.db_timeout: fill req->state. cb's status is 0
 * whenever the question was asked: an unreachable PostgreSQL is
 * state.reachable = false with errmsg saying why. */
int pgc_query_state(struct pgc *p, struct pgc_req *req, pgc_req_cb cb);

/* Database lane: SELECT pg_promote(true, 60) (its end-of-recovery WAL
 * record makes the new timeline durable; no CHECKPOINT to wait for: a
 * rewind against this node asks for one, see pgc_rewind). A node that is
 * not in recovery is already promoted: nothing runs. Later
 * renderings of postgresql.conf leave primary_conninfo out. Deadline:
 * PGC_PROMOTE_WAIT_S + leaderl.db_timeout. -EIO when pg_promote returns
 * false (not promoted within the wait). */
int pgc_promote(struct pgc *p, struct pgc_req *req, pgc_req_cb cb);

/* Database lane: quorum commit over the n named standbys with k
 * confirmations (pgc_sync_names; k = 0: none). The string becomes this
 * node's synchronous_standby_names: postgresql.conf is rendered again and
 * written, then pg_reload_conf(); cb(0) once the server shows the new value
 * (SHOW) and the walsender of every listed standby that is connected has
 * reloaded it too (pg_stat_replication.sync_priority). The checkpointer,
 * which turns the waiting of commits on and off, reloads at the same signal;
 * PostgreSQL exposes no view of it, so a window of milliseconds remains.
 * The value is kept by the handle for every later rendering. -EINVAL: see
 * pgc_sync_names. */
int pgc_set_sync_names(struct pgc *p, struct pgc_req *req, const char *const *names, size_t n,
		       unsigned k, pgc_req_cb cb);

/* Database lane: a physical replication slot for each of the n names
 * (n <= PGC_SLOTS_MAX), unless it exists. On a primary, or on a standby
 * (PostgreSQL 15 allows it; such slots are not replicated). */
int pgc_create_slots(struct pgc *p, struct pgc_req *req, const char *const *names, size_t n,
		     pgc_req_cb cb);

/* Database lane: record that node leads at epoch: CREATE TABLE IF NOT
 * EXISTS backstay_epoch(epoch bigint primary key, node text, at timestamptz
 * default now()), and the row (epoch, node) unless the epoch is there.
 * Idempotent; -EEXIST when the epoch is recorded for another node. Runs
 * with synchronous_commit off: it waits for no flush and no standby. */
int pgc_record_epoch(struct pgc *p, struct pgc_req *req, uint64_t epoch, const char *node,
		     pgc_req_cb cb);

/* Database lane: run sql (one or more statements; borrowed until cb),
 * timeout_ms (0 = leaderl.db_timeout). req->value and req->rows describe
 * the last statement's result. For tests and tools. */
int pgc_exec(struct pgc *p, struct pgc_req *req, const char *sql, unsigned timeout_ms,
	     pgc_req_cb cb);

/* Database lane: a running standby follows upstream without a restart:
 * postgresql.conf rendered with the new primary_conninfo and
 * primary_slot_name, pg_reload_conf(), cb(0) once the server shows the new
 * primary_conninfo (its walreceiver restarts by itself). */
int pgc_repoint(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
		pgc_req_cb cb);

/* Process lane, PostgreSQL stopped (-EBUSY otherwise): CHECKPOINT on the
 * upstream (psql; its pg_control then names a timeline it was just
 * promoted to), pg_rewind --progress against it, connecting as
 * postgresql.db_superuser with
 * sslmode=require; then postgresql.conf and pg_hba.conf rendered again
 * (the source's copies are gone), postgresql.auto.conf emptied,
 * standby.signal written. With fallback, a failed rewind is followed by a
 * base backup (req->method tells which one brought the node in line).
 * Deadline: PGC_REWIND_TIMEOUT_MS (+ PGC_BASEBACKUP_TIMEOUT_MS). */
int pgc_rewind(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
	       bool fallback, pgc_req_cb cb);

/* Process lane, PostgreSQL stopped (-EBUSY otherwise): the unsynced
 * sentinel is written; pg_basebackup -X stream -P -c fast as
 * postgresql.replication_user (sslmode=require) into a fresh sibling
 * directory (<data_dir>.backstay-new), which then replaces data_dir
 * (renameat2 RENAME_EXCHANGE, the old one removed); the node's files are
 * rendered again, postgresql.auto.conf emptied, standby.signal written and
 * the sentinel removed. On failure the sentinel stays (the node is
 * partially synced and not eligible) and data_dir is as it was. Progress
 * goes to req->progress_cb. */
int pgc_basebackup(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
		   pgc_req_cb cb);

#endif /* BS_PGCTL_H */
