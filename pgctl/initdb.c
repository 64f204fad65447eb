/*
 * pgc_initdb: a new cluster for create-cluster. It blocks, so it runs the
 * handle's own requests on a private loop, one after the other: initdb,
 * start (bootstrap mode), wait until ready, create the two roles, stop.
 *
 * Bootstrap mode: the roles do not exist yet, so the daemon's password
 * login cannot work. The server starts with listen_addresses empty and a
 * pg_hba.conf of one line, `local all postgres trust`, given with -c
 * hba_file; its socket directory is the postgres user's, mode 0700, so
 * only root and postgres can reach it for those few seconds. The real
 * pg_hba.conf is written beside it and used from the next start on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgctl_internal.h"

enum {
	INITDB_TIMEOUT_MS = 300000,
	READY_TIMEOUT_MS = 60000,
	ROLES_TIMEOUT_MS = 30000,
	STOP_KILL_MS = 30000,
	SQL_MAX = 1024
};

struct boot {
	uv_loop_t loop;
	struct pgc *p;
	struct pgc_req req;
	bool done, closed;
	int status;
	bool created; /* the data directory is ours to remove on failure */
};

/* The loop stops at every completion: a callback may run in the timer
 * phase, before the poll phase of a UV_RUN_ONCE would block. */
static void req_done(struct pgc_req *req, int status)
{
	struct boot *b = req->data;

	b->done = true;
	b->status = status;
	uv_stop(&b->loop);
}

/* Run the loop until the request submitted with submit_rv ends. */
static int run(struct boot *b, int submit_rv, const char *step, char *errmsg, size_t size)
{
	if (submit_rv != 0) {
		bs_errf(errmsg, size, "initdb: %s: %s", step, b->req.errmsg);
		return submit_rv;
	}
	while (!b->done)
		uv_run(&b->loop, UV_RUN_DEFAULT);
	b->done = false;
	if (b->status != 0)
		bs_errf(errmsg, size, "initdb: %s", b->req.errmsg);
	return b->status;
}

static int initdb_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc *p = req->p;
	char bin[4200];
	const char *args[] = {bin,
			      "-D",
			      p->paths.data_dir,
			      "-U",
			      "postgres",
			      "--data-checksums",
			      "-E",
			      "UTF8",
			      "--locale=C",
			      "--auth-local=peer",
			      "--auth-host=scram-sha-256",
			      "--no-instructions",
			      NULL};
	int rv;

	(void)res;
	if (req->stage++ > 0)
		return PGC__DONE;
	if (pgc__bin(p, "initdb", bin, sizeof bin) != 0)
		return -ENAMETOOLONG;
	rv = pgc__set_argv(req, args);
	return rv != 0 ? rv : PGC__CHILD;
}

static const struct pgc__op initdb_op = {"initdb", PGC__LANE_PROC, false, initdb_step};

/* A role name as an SQL identifier, a password as a literal. */
static int roles_sql(const struct pgc_node *node, char *buf, size_t size)
{
	const struct bs_config *c = node->config;
	const char *su = bs_config_str(c, BS_SET_POSTGRESQL_DB_SUPERUSER);
	const char *repl = bs_config_str(c, BS_SET_POSTGRESQL_REPLICATION_USER);

	if (strpbrk(su, "\"'") != NULL || strpbrk(repl, "\"'") != NULL ||
	    strchr(node->secrets->db_superuser_password, '\'') != NULL ||
	    strchr(node->secrets->replication_password, '\'') != NULL)
		return -EINVAL;
	if (snprintf(buf, size,
		     "CREATE ROLE \"%s\" SUPERUSER LOGIN PASSWORD '%s';"
		     " CREATE ROLE \"%s\" REPLICATION LOGIN PASSWORD '%s'",
		     su, node->secrets->db_superuser_password, repl,
		     node->secrets->replication_password) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* initdb, start, ready, roles, stop: the server is down afterwards. */
static int build(struct boot *b, const struct pgc_node *node, char *errmsg, size_t size)
{
	struct pgc_start_opts start = {.as_primary = true, .override_no_start = true};
	char sql[SQL_MAX];
	int rv;

	rv = run(b, pgc__submit(b->p, &b->req, &initdb_op, INITDB_TIMEOUT_MS, req_done), "initdb",
		 errmsg, size);
	if (rv == 0)
		rv = run(b, pgc_start(b->p, &b->req, &start, req_done), "start", errmsg, size);
	if (rv == 0)
		rv = run(b, pgc_wait_ready(b->p, &b->req, READY_TIMEOUT_MS, req_done), "start",
			 errmsg, size);
	if (rv == 0 && roles_sql(node, sql, sizeof sql) != 0) {
		bs_errf(errmsg, size, "initdb: role names or passwords hold quotes");
		rv = -EINVAL;
	}
	if (rv == 0)
		rv = run(b, pgc_exec(b->p, &b->req, sql, ROLES_TIMEOUT_MS, req_done),
			 "creating the roles", errmsg, size);
	explicit_bzero(sql, sizeof sql);
	if (rv == 0)
		rv = run(b, pgc_stop(b->p, &b->req, PGC_STOP_FAST, STOP_KILL_MS, req_done), "stop",
			 errmsg, size);
	return rv;
}

static void closed(void *data)
{
	struct boot *b = data;

	b->closed = true;
	uv_stop(&b->loop);
}

/* Close the handle (a server still running is stopped) and the loop. */
static void teardown(struct boot *b)
{
	pgc_close(b->p, closed, b);
	while (!b->closed)
		uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_run(&b->loop, UV_RUN_NOWAIT);
	uv_loop_close(&b->loop);
}

static int make_data_dir(const struct pgc_node *node, struct boot *b, char *errmsg, size_t size)
{
	const char *dir = bs_config_str(node->config, BS_SET_POSTGRESQL_DATA_DIR);
	uid_t uid;
	gid_t gid;
	bool setuid;
	int used = pgc__dir_used(dir), rv;

	if (used != 0) {
		bs_errf(errmsg, size, "initdb: postgresql.data_dir %s %s", dir,
			used > 0 ? "is not empty" : bs_strerror(used));
		return used > 0 ? -EEXIST : used;
	}
	b->created = access(dir, F_OK) != 0;
	rv = pgc__os_user(node->config, &uid, &gid, &setuid, errmsg, size);
	if (rv == 0)
		rv = pgc__mkdir_owned(dir, 0700, geteuid() == 0 ? uid : (uid_t)-1, gid, errmsg,
				      size);
	return rv;
}

int pgc_initdb(const struct pgc_node *node, char *errmsg, size_t size)
{
	struct pgc_node n;
	struct boot b;
	char ignored[256], boot_hba[4300];
	int rv;

	memset(&b, 0, sizeof b);
	if (node == NULL || node->config == NULL || node->secrets == NULL) {
		bs_errf(errmsg, size, "initdb: a node needs a config and the secrets");
		return -EINVAL;
	}
	rv = make_data_dir(node, &b, errmsg, size);
	if (rv != 0)
		return rv;
	n = *node;
	if (uv_loop_init(&b.loop) != 0) {
		rv = -ENOMEM;
		goto err_after_dir;
	}
	n.loop = &b.loop;
	b.req.data = &b;
	rv = pgc_new(&n, NULL, NULL, &b.p, errmsg, size);
	if (rv != 0) {
		uv_loop_close(&b.loop);
		goto err_after_dir;
	}
	b.p->boot = true;
	rv = build(&b, node, errmsg, size);
	if (rv == 0 && pgc__boot_hba_path(b.p, boot_hba, sizeof boot_hba) == 0)
		unlink(boot_hba);
	teardown(&b);
	if (rv == 0)
		return 0;
err_after_dir:
	if (b.created)
		pgc__rmtree(bs_config_str(node->config, BS_SET_POSTGRESQL_DATA_DIR), ignored,
			    sizeof ignored);
	return rv;
}
