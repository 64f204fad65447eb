/*
 * Supervision of the postmaster: `postgres -D <data_dir>` spawned as the
 * postgres OS user with stdout and stderr appended to its log file, its
 * end reported to the handle's exit callback, stopped by signal (SIGINT
 * fast, SIGQUIT immediate) with SIGKILL after a bound.
 *
 * Starting and stopping are requests of the process lane, so that they
 * keep the caller's order with each other and with rewinds and base
 * backups. Before every start the node's files are written again: the
 * certificate if missing, the passfile, postgresql.conf, pg_hba.conf, and
 * standby.signal (removed instead when the node starts as a primary).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgctl_internal.h"

enum { START_TIMEOUT_MS = 60000, CLOSE_KILL_MS = 5000, ARGS_MAX = 16 };
#define PGC__SETPRIV "/usr/bin/setpriv"

static void server_closed(uv_handle_t *h)
{
	struct pgc *p = h->data;
	struct pgc__server *srv = &p->server;
	struct pgc_exit e;

	srv->proc_open = false;
	uv_timer_stop(&srv->kill_timer);
	if (srv->spawned && !p->closing && p->on_exit != NULL) {
		memset(&e, 0, sizeof e);
		e.exit_status = srv->exit_status;
		e.term_signal = srv->term_signal;
		e.requested = srv->stopping;
		e.killed = srv->killed;
		pgc__file_tail(p->paths.log_file, 2, e.log_tail, sizeof e.log_tail);
		p->on_exit(p->data, &e);
	}
	srv->spawned = false;
	srv->stopping = false;
	if (p->db.state == PGC__DB_IDLE)
		pgc__db_drop(p); /* its backend is gone */
	pgc__lane_wake(&p->lanes[PGC__LANE_PROC]);
	if (p->closing)
		pgc__close_step(p);
}

static void server_exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct pgc *p = proc->data;
	struct pgc__server *srv = &p->server;

	srv->running = false;
	srv->pid = 0;
	srv->exits++;
	srv->exit_status = exit_status;
	srv->term_signal = term_signal;
	uv_close((uv_handle_t *)proc, server_closed);
}

static void kill_timer_cb(uv_timer_t *t)
{
	struct pgc *p = t->data;

	if (p->server.running) {
		p->server.killed = true;
		uv_process_kill(&p->server.proc, SIGKILL);
	}
}

void pgc__server_signal(struct pgc *p, int sig)
{
	if (p->server.running)
		uv_process_kill(&p->server.proc, sig);
}

void pgc__server_close(struct pgc *p)
{
	if (!p->server.running)
		return;
	p->server.stopping = true;
	pgc__server_signal(p, SIGQUIT);
	uv_timer_start(&p->server.kill_timer, kill_timer_cb, CLOSE_KILL_MS, 0);
}

static void free_strings(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* The environment: ours, and postgresql.environment's pairs; NULL when
 * memory runs out. */
static char **server_env(const struct bs_config *c, size_t *ret_n)
{
	size_t pairs = bs_config_list_len(c, BS_SET_POSTGRESQL_ENVIRONMENT) / 2, i, n = 0;
	char **env = calloc(pairs + 3, sizeof *env);

	if (env == NULL)
		return NULL;
	for (i = 0; pgc__child_env[i] != NULL; i++) {
		env[n] = strdup(pgc__child_env[i]);
		if (env[n++] == NULL)
			goto err_free_env;
	}
	for (i = 0; i < pairs; i++) {
		if (asprintf(&env[n], "%s=%s",
			     bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 2 * i),
			     bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 2 * i + 1)) < 0) {
			env[n] = NULL;
			goto err_free_env;
		}
		n++;
	}
	*ret_n = n;
	return env;
err_free_env:
	free_strings(env, n);
	return NULL;
}

/*
 * argv: postgres -D <data_dir>, and pgc_initdb's bootstrap options; run
 * through util-linux's setpriv --pdeathsig SIGQUIT when it exists, so that
 * the postmaster shuts down at once (immediate mode) if the process that
 * started it dies without stopping it — a backstay killed with SIGKILL
 * must not leave a primary running that nobody fences. setpriv sets the
 * signal after the spawn's setuid (which clears it) and execs postgres,
 * which keeps it.
 */
static int server_argv(struct pgc *p, char **argv)
{
	char bin[4200], boot[4300], hba[4200];
	int n = 0;

	if (pgc__bin(p, "postgres", bin, sizeof bin) != 0)
		return -ENAMETOOLONG;
	if (access(PGC__SETPRIV, X_OK) == 0) {
		argv[n++] = strdup(PGC__SETPRIV);
		argv[n++] = strdup("--pdeathsig");
		argv[n++] = strdup("SIGQUIT");
		argv[n++] = strdup("--");
	}
	argv[n++] = strdup(bin);
	argv[n++] = strdup("-D");
	argv[n++] = strdup(p->paths.data_dir);
	if (p->boot) {
		pgc__boot_hba_path(p, hba, sizeof hba);
		snprintf(boot, sizeof boot, "hba_file=%s", hba);
		argv[n++] = strdup("-c");
		argv[n++] = strdup("listen_addresses=");
		argv[n++] = strdup("-c");
		argv[n++] = strdup(boot);
	}
	argv[n] = NULL;
	while (n-- > 0) {
		if (argv[n] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int spawn(struct pgc *p, char **argv, char **env, int log_fd)
{
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	int rv;

	pgc__spawn_options(p, &o, argv, env);
	o.cwd = p->paths.data_dir;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
	stdio[1].data.fd = stdio[2].data.fd = log_fd;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.exit_cb = server_exit_cb;
	p->server.proc.data = p;
	rv = uv_spawn(p->loop, &p->server.proc, &o);
	p->server.proc_open = true; /* closed even when uv_spawn failed */
	if (rv < 0) {
		uv_close((uv_handle_t *)&p->server.proc, server_closed);
		return rv;
	}
	p->server.spawned = true;
	p->server.running = true;
	p->server.pid = p->server.proc.pid;
	p->server.killed = false;
	p->server.stopping = false;
	return 0;
}

int pgc__server_spawn(struct pgc *p, struct pgc_req *req)
{
	char *argv[ARGS_MAX] = {NULL};
	size_t n_env = 0, i;
	char **env = server_env(p->node.config, &n_env);
	int log_fd, rv = env != NULL ? server_argv(p, argv) : -ENOMEM;

	if (rv != 0) {
		bs_errf(req->errmsg, sizeof req->errmsg, "postgres: %s", bs_strerror(rv));
		goto free_args;
	}
	log_fd = open(p->paths.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log_fd < 0) {
		rv = -errno;
		bs_errf(req->errmsg, sizeof req->errmsg, "log file %s: %s", p->paths.log_file,
			bs_strerror(rv));
		goto free_args;
	}
	rv = spawn(p, argv, env, log_fd);
	if (rv < 0)
		bs_errf(req->errmsg, sizeof req->errmsg, "cannot run %s: %s", argv[0],
			uv_strerror(rv));
	close(log_fd);
free_args:
	free_strings(env, n_env);
	for (i = 0; i < ARGS_MAX; i++)
		free(argv[i]);
	return rv < 0 ? -EIO : 0;
}

/* ------------------------------------------------------------------------
 * Start.
 */

/* The pid of a postmaster that holds data_dir's lock file and is not ours
 * (a daemon that died and left it running), or 0. */
static int foreign_postmaster(const struct pgc *p)
{
	char path[4300], comm[32] = "";
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof path, "%s/postmaster.pid", p->paths.data_dir);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1 || pid == p->server.pid || kill(pid, 0) != 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(comm, sizeof comm, f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	return strncmp(comm, "postgres", 8) == 0 ? pid : 0;
}

static int start_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc *p = req->p;
	unsigned flags = PGC__F_NODE | PGC__F_SIGNAL;
	int rv;

	(void)res;
	switch (req->stage++) {
	case 0:
		if (p->boot)
			flags |= PGC__F_BOOT_HBA | PGC__F_TRUNCATE_AUTO;
		rv = pgc__files_prepare(req, flags, !req->u.start.as_primary);
		return rv != 0 ? rv : pgc__work(req, pgc__files_write);
	case 1:
		if (!req->u.start.override &&
		    pgc_sentinel_exists(p->paths.state_dir, PGC_NO_START_PGSQL)) {
			bs_errf(req->errmsg, sizeof req->errmsg,
				"the no-start-pgsql sentinel appeared in %s", p->paths.state_dir);
			return -EPERM;
		}
		if (p->server.running || p->server.proc_open) {
			bs_errf(req->errmsg, sizeof req->errmsg, "PostgreSQL runs already");
			return -EALREADY;
		}
		rv = foreign_postmaster(p);
		if (rv > 0) {
			bs_errf(req->errmsg, sizeof req->errmsg,
				"a postmaster this handle did not start (pid %d) holds %s", rv,
				p->paths.data_dir);
			return -EBUSY;
		}
		return pgc__server_spawn(p, req) == 0 ? PGC__DONE : -EIO;
	default:
		return -EINVAL;
	}
}

static const struct pgc__op start_op = {"start", PGC__LANE_PROC, false, start_step};

int pgc_start(struct pgc *p, struct pgc_req *req, const struct pgc_start_opts *opt, pgc_req_cb cb)
{
	int rv;

	req->errmsg[0] = '\0';
	if (!opt->override_no_start &&
	    pgc_sentinel_exists(p->paths.state_dir, PGC_NO_START_PGSQL)) {
		bs_errf(req->errmsg, sizeof req->errmsg,
			"start: refused: %s/no-start-pgsql exists (this node was deposed; remove "
			"the file to allow PostgreSQL to start)",
			p->paths.state_dir);
		return -EPERM;
	}
	if (p->server.running) {
		bs_errf(req->errmsg, sizeof req->errmsg, "start: PostgreSQL runs already (pid %d)",
			p->server.pid);
		return -EALREADY;
	}
	if (opt->upstream != NULL) {
		rv = pgc__target_upstream(p, opt->upstream, req->errmsg, sizeof req->errmsg);
		if (rv != 0)
			return rv;
	}
	p->target.primary = opt->as_primary;
	req->u.start.as_primary = opt->as_primary;
	req->u.start.override = opt->override_no_start;
	return pgc__submit(p, req, &start_op, START_TIMEOUT_MS, cb);
}

/* ------------------------------------------------------------------------
 * Stop: signal, wait for the exit (server_closed wakes the lane), SIGKILL
 * when the bound passes.
 */
static int stop_step(struct pgc_req *req, const PGresult *res)
{
	struct pgc__server *srv = &req->p->server;
	uint64_t now = uv_now(req->p->loop);

	(void)res;
	if (!srv->running && !srv->proc_open)
		return PGC__DONE;
	if (!srv->running)
		return pgc__wait(req, 20); /* exited, handle closing */
	if (req->stage++ == 0) {
		srv->stopping = true;
		pgc__server_signal(req->p, req->u.stop.mode == PGC_STOP_FAST ? SIGINT : SIGQUIT);
		req->u.stop.kill_at_ms = now + req->u.stop.kill_after_ms;
		return pgc__wait(req, req->u.stop.kill_after_ms);
	}
	if (now >= req->u.stop.kill_at_ms && !srv->killed) {
		srv->killed = true;
		pgc__server_signal(req->p, SIGKILL);
	}
	if (srv->killed)
		return pgc__wait(req, PGC__KILL_GRACE_MS);
	return pgc__wait(req, (unsigned)(req->u.stop.kill_at_ms - now));
}

static const struct pgc__op stop_op = {"stop", PGC__LANE_PROC, false, stop_step};

int pgc_stop(struct pgc *p, struct pgc_req *req, enum pgc_stop_mode mode, unsigned kill_after_ms,
	     pgc_req_cb cb)
{
	if (kill_after_ms == 0)
		kill_after_ms = mode == PGC_STOP_FAST ? PGC_STOP_FAST_MS : PGC_STOP_IMMEDIATE_MS;
	req->u.stop.mode = mode;
	req->u.stop.kill_after_ms = kill_after_ms;
	return pgc__submit(p, req, &stop_op, kill_after_ms + PGC__KILL_GRACE_MS + 1000, cb);
}

bool pgc_running(const struct pgc *p)
{
	return p->server.running;
}

int pgc_pid(const struct pgc *p)
{
	return p->server.running ? p->server.pid : 0;
}
