/*
 * pgctl/ — the PostgreSQL 15 adapter: the files PostgreSQL reads, cluster
 * creation, supervision of the postmaster, a non-blocking libpq connection,
 * and following a leader (re-point, pg_rewind, pg_basebackup). It knows
 * nothing of Raft or of the leader module: the daemon decides, pgctl does.
 *
 * Prefix pgc_. Depends on base.
 *
 * So far the pure functions (renderers, quorum arithmetic, LSN and progress
 * parsing; no I/O, any thread) and the sentinel files. Errors: 0 or a
 * negative errno, with errmsg naming the cause where there is one.
 */
#ifndef BS_PGCTL_H
#define BS_PGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* BS_PGCTL_H */
