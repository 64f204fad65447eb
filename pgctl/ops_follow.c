/*
 * Bringing a stopped node in line with a leader (process lane): pg_rewind,
 * or a base backup, and the node's own files put back afterwards (both
 * tools copy the source's postgresql.conf, pg_hba.conf and
 * postgresql.auto.conf; netns-test-hosts §3.5 gotcha 2).
 *
 * pg_rewind connects as the db superuser, pg_basebackup as the replication
 * user, both over TCP with sslmode=require and the passfile. A base backup
 * goes into a fresh sibling directory; only a complete one replaces the
 * data directory (one renameat2 RENAME_EXCHANGE), so a failure leaves the
 * old data where it was. chef-backend's `unsynced` sentinel covers the
 * whole operation: written first, removed last, kept on a failure after
 * the swap; a failure before it puts the sentinel back as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgctl_internal.h"

/* How a tool reaches the upstream: the replication user (pg_basebackup) or
 * the db superuser (pg_rewind), with the passfile, over TLS. */
static int peer_conninfo(const struct pgc *p, const struct pgc__target *t, bool replication,
			 char *buf, size_t size)
{
	const struct bs_config *c = p->node.config;
	char port[16];
	int rv;

	buf[0] = '\0';
	snprintf(port, sizeof port, "%d", t->port);
	rv = pgc__conninfo_add(buf, size, "host", t->host);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "port", port);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "user",
				       bs_config_str(c, replication
								? BS_SET_POSTGRESQL_REPLICATION_USER
								: BS_SET_POSTGRESQL_DB_SUPERUSER));
	if (rv == 0 && !replication)
		rv = pgc__conninfo_add(buf, size, "dbname", "postgres");
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "passfile", p->paths.passfile);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "sslmode", "require");
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "connect_timeout", "2");
	return rv;
}

static void progress_line(struct pgc_req *req, const char *line)
{
	struct pgc *p = req->p;
	struct pgc_progress progress;

	if (pgc_progress_parse(line, &progress) != 0)
		return;
	p->progress = progress;
	p->has_progress = true;
	if (req->progress_cb != NULL)
		req->progress_cb(req, &progress);
}

static int new_dir(const struct pgc *p, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s.backstay-new", p->paths.data_dir) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* Stopped PostgreSQL, the passfile and certificate written. */
static int prepare(struct pgc_req *req, int (*work)(struct pgc_req *req))
{
	int rv;

	if (req->p->server.running || req->p->server.proc_open) {
		bs_errf(req->errmsg, sizeof req->errmsg, "PostgreSQL is running: stop it first");
		return -EBUSY;
	}
	req->p->has_progress = false;
	rv = pgc__files_prepare(req, PGC__F_PASSFILE | PGC__F_CERT | PGC__F_SOCKET_DIR, true);
	return rv != 0 ? rv : pgc__work(req, work);
}

/* After a copy: our postgresql.conf and pg_hba.conf, an empty
 * postgresql.auto.conf, standby.signal. */
static int local_files(struct pgc_req *req, int (*work)(struct pgc_req *req))
{
	int rv = pgc__files_prepare(
		req, PGC__F_CONF | PGC__F_SIGNAL | PGC__F_TRUNCATE_AUTO | PGC__F_PASSFILE, true);

	return rv != 0 ? rv : pgc__work(req, work);
}

static int child(struct pgc_req *req, const char *const *args)
{
	int rv = pgc__set_argv(req, args);

	if (rv != 0)
		return rv;
	req->line_cb = progress_line;
	return PGC__CHILD;
}

/* ------------------------------------------------------------------------
 * Base backup.
 */
enum { BB_PREPARE, BB_RUN, BB_RAN, BB_SWAPPED, BB_CLEANED };

static int bb_prepare(struct pgc_req *req)
{
	struct pgc *p = req->p;
	char dir[4300];
	int rv;

	req->u.follow.had_unsynced = pgc_sentinel_exists(p->paths.state_dir, PGC_UNSYNCED);
	rv = pgc_sentinel_set(p->paths.state_dir, PGC_UNSYNCED, req->errmsg, sizeof req->errmsg);

	if (rv == 0)
		rv = pgc__files_write(req);
	if (rv == 0)
		rv = new_dir(p, dir, sizeof dir);
	if (rv == 0)
		rv = pgc__rmtree(dir, req->errmsg, sizeof req->errmsg);
	if (rv == 0)
		rv = pgc__mkdir_owned(dir, 0700, p->owner_uid, p->gid, req->errmsg,
				      sizeof req->errmsg);
	return rv;
}

/* A copy that failed before the swap left the data directory as it was:
 * when that directory holds a cluster, the sentinel goes back to what it
 * was before (a node whose data is whole must not stay partially synced,
 * and so ineligible, because its upstream went away during the copy);
 * with no data directory it stays (chef-backend's meaning: nothing usable
 * here until a copy finishes). */
static int bb_cleanup(struct pgc_req *req)
{
	char dir[4300], version[4200], ignored[256];

	if (new_dir(req->p, dir, sizeof dir) == 0)
		pgc__rmtree(dir, ignored, sizeof ignored);
	snprintf(version, sizeof version, "%s/PG_VERSION", req->p->paths.data_dir);
	if (!req->u.follow.had_unsynced && access(version, F_OK) == 0)
		pgc_sentinel_clear(req->p->paths.state_dir, PGC_UNSYNCED, ignored, sizeof ignored);
	return 0;
}

/* The new directory takes the data directory's place; the old one goes. */
static int swap(struct pgc *p, char *errmsg, size_t size)
{
	char dir[4300], parent[4300], *slash;
	int fd, rv = new_dir(p, dir, sizeof dir);

	if (rv != 0)
		return rv;
	if (renameat2(AT_FDCWD, dir, AT_FDCWD, p->paths.data_dir, RENAME_EXCHANGE) != 0) {
		if (errno != ENOENT || rename(dir, p->paths.data_dir) != 0) {
			rv = -errno;
			bs_errf(errmsg, size, "moving %s to %s: %s", dir, p->paths.data_dir,
				bs_strerror(rv));
			return rv;
		}
	}
	snprintf(parent, sizeof parent, "%s", p->paths.data_dir);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent)
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd); /* the exchange survives a crash */
		close(fd);
	}
	return pgc__rmtree(dir, errmsg, size);
}

static int bb_finish(struct pgc_req *req)
{
	struct pgc *p = req->p;
	int rv = swap(p, req->errmsg, sizeof req->errmsg);

	if (rv == 0)
		rv = pgc__files_write(req);
	if (rv == 0)
		rv = pgc_sentinel_clear(p->paths.state_dir, PGC_UNSYNCED, req->errmsg,
					sizeof req->errmsg);
	return rv;
}

static int bb_run(struct pgc_req *req)
{
	struct pgc *p = req->p;
	char bin[4200], dir[4300];
	const char *args[] = {bin,
			      "-D",
			      dir,
			      "-X",
			      "stream",
			      "-P",
			      "-c",
			      "fast",
			      "-w",
			      "-d",
			      req->u.follow.conninfo,
			      NULL};

	if (pgc__bin(p, "pg_basebackup", bin, sizeof bin) != 0 ||
	    new_dir(p, dir, sizeof dir) != 0 ||
	    peer_conninfo(p, &p->target, true, req->u.follow.conninfo,
			  sizeof req->u.follow.conninfo) != 0)
		return -ENAMETOOLONG;
	return child(req, args);
}

/* Before the swap: the new directory goes, the sentinel is put back. */
static int bb_failed(struct pgc_req *req)
{
	req->u.follow.status = req->act_status;
	req->stage = BB_CLEANED;
	return pgc__work(req, bb_cleanup);
}

static int bb_step(struct pgc_req *req)
{
	switch (req->stage) {
	case BB_PREPARE:
		req->stage = BB_RUN;
		return prepare(req, bb_prepare);
	case BB_RUN:
		if (req->act_status < 0)
			return bb_failed(req); /* the preparation */
		req->stage = BB_RAN;
		return bb_run(req);
	case BB_RAN:
		if (req->act_status < 0)
			return bb_failed(req);
		req->stage = BB_SWAPPED;
		return local_files(req, bb_finish);
	case BB_SWAPPED:
		if (req->act_status < 0)
			return req->act_status;
		req->method = PGC_METHOD_BASEBACKUP;
		return PGC__DONE;
	default:
		return req->u.follow.status;
	}
}

/* ------------------------------------------------------------------------
 * Rewind, with a base backup as the fallback.
 */
enum { RW_PREPARE, RW_CHECKPOINT, RW_RUN, RW_RAN, RW_FILES };

/* A CHECKPOINT on the source first: pg_rewind reads the source's timeline
 * from its pg_control, which a promotion updates only at its next
 * checkpoint; without one, a rewind against a just-promoted primary would
 * find "no rewind required". (Here rather than after every promotion, where
 * it would hold up the first writes: PostgreSQL's end-of-recovery
 * checkpoint takes ~150 ms.) */
static int rw_checkpoint(struct pgc_req *req)
{
	struct pgc *p = req->p;
	char bin[4200];
	const char *args[] = {bin,  "-X",	  "-q", "-d", req->u.follow.conninfo,
			      "-c", "CHECKPOINT", NULL};

	if (pgc__bin(p, "psql", bin, sizeof bin) != 0 ||
	    peer_conninfo(p, &p->target, false, req->u.follow.conninfo,
			  sizeof req->u.follow.conninfo) != 0)
		return -ENAMETOOLONG;
	return child(req, args);
}

static int rw_run(struct pgc_req *req)
{
	struct pgc *p = req->p;
	char bin[4200], target[4300], source[1100];
	const char *args[] = {bin, target, source, "--progress", NULL};

	if (pgc__bin(p, "pg_rewind", bin, sizeof bin) != 0 ||
	    snprintf(target, sizeof target, "--target-pgdata=%s", p->paths.data_dir) >=
		    (int)sizeof target ||
	    peer_conninfo(p, &p->target, false, req->u.follow.conninfo,
			  sizeof req->u.follow.conninfo) != 0 ||
	    snprintf(source, sizeof source, "--source-server=%s", req->u.follow.conninfo) >=
		    (int)sizeof source)
		return -ENAMETOOLONG;
	return child(req, args);
}

static int fall_back(struct pgc_req *req)
{
	req->u.follow.basebackup = true;
	req->stage = BB_PREPARE;
	return bb_step(req);
}

static int rewind_step(struct pgc_req *req, const PGresult *res)
{
	(void)res;
	if (req->u.follow.basebackup)
		return bb_step(req);
	switch (req->stage) {
	case RW_PREPARE:
		req->stage = RW_CHECKPOINT;
		return prepare(req, pgc__files_write);
	case RW_CHECKPOINT:
		if (req->act_status < 0)
			return req->act_status;
		req->stage = RW_RUN;
		return rw_checkpoint(req);
	case RW_RUN:
		if (req->act_status < 0)
			return req->act_status;
		req->stage = RW_RAN;
		return rw_run(req);
	case RW_RAN:
		if (req->act_status < 0)
			return req->u.follow.fallback ? fall_back(req) : req->act_status;
		req->stage = RW_FILES;
		return local_files(req, pgc__files_write);
	default:
		if (req->act_status < 0)
			return req->act_status;
		req->method = PGC_METHOD_REWIND;
		return PGC__DONE;
	}
}

static const struct pgc__op rewind_op = {"rewind", PGC__LANE_PROC, true, rewind_step};

static int bb_op_step(struct pgc_req *req, const PGresult *res)
{
	(void)res;
	return bb_step(req);
}

static const struct pgc__op basebackup_op = {"base backup", PGC__LANE_PROC, true, bb_op_step};

static int follow_submit(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
			 const struct pgc__op *op, unsigned timeout_ms, pgc_req_cb cb)
{
	int rv = pgc__target_upstream(p, upstream, req->errmsg, sizeof req->errmsg);

	if (rv != 0)
		return rv;
	if (p->server.running) {
		bs_errf(req->errmsg, sizeof req->errmsg, "%s: PostgreSQL is running: stop it first",
			op->name);
		return -EBUSY;
	}
	p->target.primary = false;
	req->method = PGC_METHOD_NONE;
	req->u.follow.status = 0;
	return pgc__submit(p, req, op, timeout_ms, cb);
}

int pgc_rewind(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
	       bool fallback, pgc_req_cb cb)
{
	unsigned timeout = PGC_REWIND_TIMEOUT_MS + (fallback ? PGC_BASEBACKUP_TIMEOUT_MS : 0);

	req->u.follow.fallback = fallback;
	req->u.follow.basebackup = false;
	return follow_submit(p, req, upstream, &rewind_op, timeout, cb);
}

int pgc_basebackup(struct pgc *p, struct pgc_req *req, const struct pgc_upstream *upstream,
		   pgc_req_cb cb)
{
	req->u.follow.fallback = false;
	req->u.follow.basebackup = true;
	return follow_submit(p, req, upstream, &basebackup_op, PGC_BASEBACKUP_TIMEOUT_MS, cb);
}
