/*
 * pgsql-follow LEADER: chef-backend-ctl's internal verb, run by hand when a
 * node's own sync failed (seed 004 "partially_synced"): make this node's
 * PostgreSQL data directory a standby of LEADER, with the daemon stopped.
 *
 *   PSQL_INTERNAL_OK=true backstay pgsql-follow LEADER [--force-basebackup]
 *                                                       [--verbose]
 *
 * Guards, as chef-backend had them: the environment variable (the verb
 * replaces this node's data with LEADER's), and no daemon on this data_dir
 * (its pidfile lock: it supervises PostgreSQL and would fight over it).
 *
 * Then, on a private uv loop, synchronously: a postmaster left running
 * (started by hand; the daemon's own ends with the daemon) is stopped;
 * pg_rewind against LEADER, falling back to a base backup; or a base
 * backup at once with
 * --force-basebackup, when the `unsynced` sentinel says the last sync did
 * not finish (what the daemon would do), or when there is no data
 * directory. pgctl writes and clears `unsynced` around a base backup.
 * Exit 0 once the data directory is a standby of LEADER ready to start; the
 * daemon starts it (`backstay start`).
 *
 * no-start-pgsql is removed on success: it keeps a deposed primary from
 * starting, and the data directory is now LEADER's standby, which cannot
 * take writes. Left in place, the daemon would run pg_rewind again at its
 * start, and after a base backup (never shut down cleanly) that rewind
 * fails and a second base backup follows. docs/ctl.md has the procedure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pgctl.h"
#include "tools.h"

#define GUARD_ENV "PSQL_INTERNAL_OK"
#define LEADER_PROBE_MS 2000
#define FOREIGN_FAST_MS PGC_STOP_FAST_MS
#define FOREIGN_QUIT_MS PGC_STOP_IMMEDIATE_MS
#define FOREIGN_KILL_MS 5000

enum { OPT_FORCE_BASEBACKUP, OPT_VERBOSE, OPT_YES };

struct follow {
	struct cli_ctx *ctx;
	struct bs_config *config;
	struct cli_target t; /* the secrets; --endpoint to look a name up */
	struct cli_identity idn;
	char app_name[32];
	char host[PGC_HOST_MAX]; /* LEADER's publish address */
	int port;		 /* postgresql.port, the same on every node */
	bool verbose, force;
	uv_loop_t loop;
	struct pgc *pgc;
	struct pgc_req req;
	bool basebackup; /* the request under way */
	int status;
	enum pgc_method method;
	char errmsg[256];
	unsigned shown_percent;
};

static void say(struct follow *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A progress line with --verbose. */
static void say(struct follow *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->verbose)
		return;
	fprintf(f->ctx->out, "%s %s: ", f->ctx->prog, f->ctx->verb);
	va_start(ap, fmt);
	vfprintf(f->ctx->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->ctx->out);
	fflush(f->ctx->out);
}

/* ---- guards ------------------------------------------------------------------------ */

static int check_guards(struct follow *f)
{
	const char *ok = getenv(GUARD_ENV);
	const char *data_dir = bs_config_str(f->config, BS_SET_DATA_DIR);
	char errmsg[512];
	long pid;

	if (ok == NULL || strcmp(ok, "true") != 0)
		return cli__fail(f->ctx,
				 "refused: an internal verb that replaces this node's PostgreSQL "
				 "data with LEADER's; run it as chef-backend did, with the daemon "
				 "stopped (backstay stop) and " GUARD_ENV
				 "=true in the environment");
	if (!bs_config_bool(f->config, BS_SET_POSTGRESQL_ENABLE))
		return cli__fail(f->ctx, "postgresql.enable is false: backstay does not manage "
					 "PostgreSQL on this node");
	pid = cli__daemon_pid(data_dir);
	if (pid > 0)
		return cli__fail(f->ctx,
				 "refused: the backstay daemon (pid %ld) runs on %s and supervises "
				 "PostgreSQL; stop it first (backstay stop)",
				 pid, data_dir);
	if (cli__identity_read(data_dir, &f->idn, errmsg, sizeof errmsg) != 0)
		return cli__fail(f->ctx, "this node is not a cluster member (%s)", errmsg);
	snprintf(f->app_name, sizeof f->app_name, "backstay_%016" PRIx64, f->idn.id);
	return CLI_OK;
}

/* ---- LEADER: an IP, or a member's name ----------------------------------------------- */

static bool is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A name among the members the node at --endpoint knows. */
static int name_from_members(struct follow *f, const char *name)
{
	json_t *cluster = NULL;
	const json_t *m;
	int rv = cli__call_json(f->ctx, &f->t, "cluster.members", NULL, &cluster);

	if (rv != CLI_OK)
		return rv;
	m = cli__member_find(f->ctx, cluster, name);
	if (m != NULL && cli__jstr(m, "publish_address")[0] == '\0')
		rv = cli__fail(f->ctx, "member %s has no publish_address on record", name);
	else if (m != NULL)
		snprintf(f->host, sizeof f->host, "%s", cli__jstr(m, "publish_address"));
	json_decref(cluster);
	return m != NULL ? rv : CLI_FAIL;
}

/* A name through the resolver (this node's daemon, which knows the
 * members, is down). */
static int name_from_dns(struct follow *f, const char *name)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rv = getaddrinfo(name, NULL, &hints, &res);

	if (rv != 0)
		return cli__fail(f->ctx,
				 "LEADER %s: %s; give its IP, or --endpoint IP:PORT of a running "
				 "member to look the name up among the members",
				 name, gai_strerror(rv));
	rv = getnameinfo(res->ai_addr, res->ai_addrlen, f->host, sizeof f->host, NULL, 0,
			 NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rv != 0)
		return cli__fail(f->ctx, "LEADER %s: %s", name, gai_strerror(rv));
	return CLI_OK;
}

static int resolve_leader(struct follow *f, const char *leader)
{
	const char *self = bs_config_str(f->config, BS_SET_PUBLISH_ADDRESS);
	int rv = CLI_OK;

	if (is_ip(leader))
		snprintf(f->host, sizeof f->host, "%s", leader);
	else if (f->ctx->endpoint != NULL)
		rv = name_from_members(f, leader);
	else
		rv = name_from_dns(f, leader);
	if (rv != CLI_OK)
		return rv;
	if (strcasecmp(leader, f->idn.name) == 0 || (self != NULL && strcmp(f->host, self) == 0))
		return cli__fail(f->ctx, "LEADER %s is this node", leader);
	if (strcmp(f->host, leader) != 0)
		say(f, "%s is %s", leader, f->host);
	return CLI_OK;
}

/* Does LEADER's daemon say it leads? A warning, not a refusal: a standby
 * can be copied too, and once started the daemon follows whoever leads. */
static void probe_leader(struct follow *f)
{
	char address[CNS_ADDRESS_MAX], errmsg[256];
	const char *state;
	json_t *st = NULL;

	cli__join_address(address, sizeof address, f->host,
			  (long long)bs_config_int(f->config, BS_SET_CONSENSUS_PORT));
	if (cli__ask_json(&f->t, address, "status", LEADER_PROBE_MS, &st, errmsg, sizeof errmsg) !=
	    0) {
		say(f, "%s's backstay does not answer (%s); going on with its PostgreSQL", address,
		    errmsg);
		return;
	}
	state = cli__jstr(json_object_get(st, "leader"), "state");
	if (strcmp(state, "leader") == 0)
		say(f, "%s is the PostgreSQL leader (its backstay says so)", f->host);
	else
		fprintf(f->ctx->err,
			"%s %s: warning: %s is %s, not the PostgreSQL leader; following it "
			"anyway (once started, the daemon follows whichever node leads)\n",
			f->ctx->prog, f->ctx->verb, f->host, state[0] ? state : "not managed");
	json_decref(st);
}

/* ---- a postmaster left running ------------------------------------------------------ */

/* The pid in data_dir/postmaster.pid if that process runs postgres in
 * data_dir (its working directory, compared by device and inode: the path
 * it shows may be another mount namespace's). A stale file's pid may be
 * anyone's. */
static pid_t postmaster_of(const char *data_dir)
{
	char path[PATH_MAX + 32], comm[32] = "";
	struct stat cwd, dir;
	FILE *fp;
	int pid = 0;

	snprintf(path, sizeof path, "%s/postmaster.pid", data_dir);
	fp = fopen(path, "re");
	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%d", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(fp);
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	fp = pid > 0 ? fopen(path, "re") : NULL;
	if (fp == NULL)
		return 0;
	if (fgets(comm, sizeof comm, fp) == NULL)
		comm[0] = '\0';
	fclose(fp);
	snprintf(path, sizeof path, "/proc/%d/cwd", pid);
	if (strncmp(comm, "postgres", 8) != 0 || stat(path, &cwd) != 0 || stat(data_dir, &dir) != 0)
		return 0;
	return cwd.st_dev == dir.st_dev && cwd.st_ino == dir.st_ino ? (pid_t)pid : 0;
}

/* Gone, or a zombie waiting for its parent (not us: it was the daemon's). */
static bool gone(void *data)
{
	pid_t pid = *(pid_t *)data;
	char path[64], buf[512], *paren;
	FILE *fp;
	bool zombie = false;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fp = fopen(path, "re");
	if (fp == NULL)
		return true;
	if (fgets(buf, sizeof buf, fp) != NULL && (paren = strrchr(buf, ')')) != NULL)
		zombie = paren[1] == ' ' && paren[2] == 'Z';
	fclose(fp);
	return zombie;
}

/* Fast shutdown (it checkpoints: pg_rewind wants a clean stop), then
 * immediate, then SIGKILL: each with its bound. */
static int stop_foreign(struct follow *f, const char *data_dir)
{
	static const struct {
		int sig;
		unsigned ms;
		const char *how;
	} steps[] = {{SIGINT, FOREIGN_FAST_MS, "fast"},
		     {SIGQUIT, FOREIGN_QUIT_MS, "immediate"},
		     {SIGKILL, FOREIGN_KILL_MS, "SIGKILL"}};
	pid_t pid = postmaster_of(data_dir);
	size_t i;

	if (pid == 0)
		return CLI_OK;
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		say(f, "stopping the PostgreSQL left running on this node (pid %d, %s)", (int)pid,
		    steps[i].how);
		if (kill(pid, steps[i].sig) != 0 && errno == ESRCH)
			return CLI_OK;
		if (cli__poll(steps[i].ms, gone, &pid))
			return CLI_OK;
	}
	return cli__fail(f->ctx, "the PostgreSQL left running (pid %d) did not stop", (int)pid);
}

/* ---- the sync, on a private loop ------------------------------------------------------ */

static void sync_done(struct pgc_req *req, int status);

static void on_progress(struct pgc_req *req, const struct pgc_progress *p)
{
	struct follow *f = req->data;

	if (p->percent == f->shown_percent)
		return;
	f->shown_percent = p->percent;
	say(f, "  %" PRIu64 "/%" PRIu64 " kB (%u%%)", p->done_kb, p->total_kb, p->percent);
}

/* pg_rewind, or a base backup. 0, or negative errno with f->errmsg. */
static int submit(struct follow *f, bool basebackup)
{
	struct pgc_upstream up = {.host = f->host, .port = f->port, .slot = f->app_name};
	int rv;

	f->req = (struct pgc_req){.data = f, .progress_cb = on_progress};
	f->shown_percent = UINT_MAX;
	f->basebackup = basebackup;
	if (basebackup) {
		say(f, "base backup from %s:%d (the unsynced sentinel stays until it completes)",
		    f->host, f->port);
		rv = pgc_basebackup(f->pgc, &f->req, &up, sync_done);
	} else {
		say(f, "pg_rewind against %s:%d", f->host, f->port);
		rv = pgc_rewind(f->pgc, &f->req, &up, false, sync_done);
	}
	if (rv != 0)
		snprintf(f->errmsg, sizeof f->errmsg, "%s", f->req.errmsg);
	return rv;
}

static void closed(void *data)
{
	(void)data; /* the loop has no handle left: uv_run returns */
}

static void finish(struct follow *f, int status)
{
	f->status = status;
	pgc_close(f->pgc, closed, f);
}

/* A failed rewind is followed by a base backup (the daemon's chain does
 * the same: REWIND, then BASEBACKUP). */
static void sync_done(struct pgc_req *req, int status)
{
	struct follow *f = req->data;

	if (status == 0) {
		f->method = req->method;
		finish(f, 0);
		return;
	}
	snprintf(f->errmsg, sizeof f->errmsg, "%s", req->errmsg);
	if (!f->basebackup && status != -ECANCELED) {
		say(f, "%s; taking a base backup instead", req->errmsg);
		status = submit(f, true);
		if (status == 0)
			return;
	}
	finish(f, status);
}

/* Which way: a base backup when asked, when the last sync did not finish
 * (the daemon would do the same), or when there is nothing to rewind. */
static bool wants_basebackup(struct follow *f)
{
	const char *state_dir = bs_config_str(f->config, BS_SET_DATA_DIR);
	char path[sizeof pgc_paths(f->pgc)->data_dir + 16];
	struct stat st;

	if (f->force)
		return true;
	if (pgc_sentinel_exists(state_dir, PGC_UNSYNCED)) {
		say(f, "the unsynced sentinel is there: the last sync did not finish");
		return true;
	}
	snprintf(path, sizeof path, "%s/PG_VERSION", pgc_paths(f->pgc)->data_dir);
	if (stat(path, &st) != 0) {
		say(f, "no PostgreSQL data directory in %s yet", pgc_paths(f->pgc)->data_dir);
		return true;
	}
	return false;
}

static int run_sync(struct follow *f)
{
	struct pgc_node node = {.loop = &f->loop,
				.config = f->config,
				.secrets = &f->t.secrets,
				.app_name = f->app_name,
				.cert_cn = f->idn.name};
	int rv = uv_loop_init(&f->loop);

	if (rv != 0) {
		snprintf(f->errmsg, sizeof f->errmsg, "uv loop: %s", uv_strerror(rv));
		return CLI_FAIL;
	}
	if (pgc_new(&node, NULL, NULL, &f->pgc, f->errmsg, sizeof f->errmsg) != 0) {
		uv_loop_close(&f->loop);
		return CLI_FAIL;
	}
	rv = stop_foreign(f, pgc_paths(f->pgc)->data_dir);
	if (rv == CLI_OK && submit(f, wants_basebackup(f)) != 0)
		rv = CLI_FAIL;
	if (rv != CLI_OK)
		pgc_close(f->pgc, closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	if (rv == CLI_OK && f->status != 0)
		rv = CLI_FAIL;
	return rv;
}

/* ---- the verb ------------------------------------------------------------------------ */

static int report(struct follow *f, int rv)
{
	const char *state_dir = bs_config_str(f->config, BS_SET_DATA_DIR);
	char errmsg[256];

	if (rv != CLI_OK) {
		if (f->errmsg[0] != '\0')
			cli__fail(f->ctx, "%s", f->errmsg);
		if (pgc_sentinel_exists(state_dir, PGC_UNSYNCED))
			fprintf(f->ctx->err,
				"%s/%s stays: this node is partially synced and not eligible "
				"to lead until a sync succeeds\n",
				state_dir, pgc_sentinel_name(PGC_UNSYNCED));
		return CLI_FAIL;
	}
	if (pgc_sentinel_exists(state_dir, PGC_NO_START_PGSQL)) {
		if (pgc_sentinel_clear(state_dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg) != 0)
			return cli__fail(f->ctx, "%s", errmsg);
		say(f, "removed %s/%s: the data directory is a standby now", state_dir,
		    pgc_sentinel_name(PGC_NO_START_PGSQL));
	}
	fprintf(f->ctx->out,
		"ok: PostgreSQL in %s is a standby of %s (%s); start it with backstay start\n",
		bs_config_str(f->config, BS_SET_POSTGRESQL_DATA_DIR), f->host,
		f->method == PGC_METHOD_REWIND ? "pg_rewind" : "base backup");
	return CLI_OK;
}

static int run_follow(struct cli_ctx *ctx)
{
	struct follow f = {.ctx = ctx};
	enum bs_log_level saved;
	int rv;

	f.verbose = ctx->opt[OPT_VERBOSE] != NULL;
	f.force = ctx->opt[OPT_FORCE_BASEBACKUP] != NULL;
	f.config = cli__load_config(ctx);
	if (f.config == NULL)
		return CLI_FAIL;
	cli__quiet_start(&saved);
	f.port = (int)bs_config_int(f.config, BS_SET_POSTGRESQL_PORT);
	rv = check_guards(&f);
	if (rv == CLI_OK)
		rv = cli__target_load(ctx, &f.t);
	if (rv == CLI_OK)
		rv = resolve_leader(&f, ctx->argv[0]);
	if (rv == CLI_OK) {
		probe_leader(&f);
		rv = report(&f, run_sync(&f));
	}
	bs_secrets_wipe(&f.t.secrets);
	bs_log_set_level(saved);
	bs_config_free(f.config);
	return rv;
}

static const struct cli_opt follow_opts[] = {
	[OPT_FORCE_BASEBACKUP] = {"force-basebackup", 0, false},
	[OPT_VERBOSE] = {"verbose", 0, false},
	[OPT_YES] = {"yes", 'y', false},
	{NULL, 0, false},
};

const struct cli_verb cli__verb_pgsql_follow = {
	.name = "pgsql-follow",
	.summary = "(internal) make this node's PostgreSQL a standby of LEADER, daemon stopped",
	.usage = "LEADER",
	.help = "      --force-basebackup  a full base backup, no pg_rewind (the WAL needed\n"
		"                      was removed on the leader)\n"
		"      --verbose       say each step, and the copy's progress\n"
		"  -y, --yes           no questions (there are none; accepted for scripts)\n",
	.notes = "LEADER: a member's IP, or its name (looked up among the members at\n"
		 "--endpoint, else through the resolver). Needs " GUARD_ENV "=true and the\n"
		 "daemon stopped (backstay stop). A PostgreSQL left running is stopped;\n"
		 "pg_rewind against LEADER, falling back to a base backup (a base backup at\n"
		 "once with --force-basebackup or while the unsynced sentinel exists). On\n"
		 "success unsynced and no-start-pgsql are gone and backstay start runs the\n"
		 "standby; on failure unsynced stays (after a base backup attempt) and the\n"
		 "old data directory is untouched.\n",
	.flags = CLI_F_CONFIG | CLI_F_CLIENT,
	.min_args = 1,
	.max_args = 1,
	.run = run_follow,
	.opts = follow_opts,
};
