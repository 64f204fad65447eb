/*
 * What pgctl/'s files share (pgc__ names).
 *
 * A request is a small program of steps (struct pgc__op). Each step looks
 * at the outcome of the previous action and names the next one: an SQL
 * statement on the handle's connection, a function on libuv's thread pool
 * (file writes, directory trees), a child process, or a wait. The lane
 * (lane.c) runs the actions, one request at a time per lane, and enforces
 * the deadlines; db.c, child.c and server.c are the three kinds of I/O it
 * drives.
 */
#ifndef BS_PGCTL_PGCTL_INTERNAL_H
#define BS_PGCTL_PGCTL_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "pgctl.h"

enum {
	PGC__RETRY_MS = 100,	   /* wait_ready and SHOW polls */
	PGC__KILL_GRACE_MS = 5000, /* a child's SIGTERM before SIGKILL */
	PGC__TAIL_LINES = 4,	   /* a child's last lines kept for errmsg */
	PGC__LINE_MAX = 512,	   /* a child's output line, longer ones are cut */
	PGC__DB_TIMEOUT_MS = 2000, /* leaderl.db_timeout when the config has none */
};

/* ------------------------------------------------------------------------
 * Steps and lanes (lane.c).
 */
enum pgc__lane_id { PGC__LANE_DB, PGC__LANE_PROC, PGC__LANES };

/* What a step asks for next (or a negative errno: the request ends). */
enum pgc__act {
	PGC__DONE = 0, /* the request ends with status 0 */
	PGC__SQL,      /* req->sql with req->nparams req->params (DB lane) */
	PGC__WORK,     /* req->work_fn on the thread pool; its return -> act_status */
	PGC__CHILD,    /* req->argv as the OS user; exit status -> act_status */
	PGC__WAIT,     /* until req->wait_until_ms (or pgc__lane_wake) */
};

struct pgc__op {
	const char *name; /* errmsg prefix: "state query", "base backup" */
	enum pgc__lane_id lane;
	/* false: an action that fails ends the request with its status and
	 * errmsg; true: the step sees act_status < 0 (and res NULL). */
	bool sees_errors;
	/* res: the last SQL action's result (NULL otherwise), freed after. */
	int (*step)(struct pgc_req *req, const PGresult *res);
};

struct pgc__lane {
	struct pgc *p;
	enum pgc__lane_id id;
	struct pgc_req *head, *tail; /* queued, not yet running */
	struct pgc_req *running;
	uv_timer_t timer; /* kicks, waits and deadlines */
	bool kick;
};

void pgc__lane_init(struct pgc *p, enum pgc__lane_id id);
/* Queue req (op, cb and deadline timeout_ms from now); it starts from the
 * loop, never inside this call. 0 or -ESHUTDOWN (closing). */
int pgc__submit(struct pgc *p, struct pgc_req *req, const struct pgc__op *op, unsigned timeout_ms,
		pgc_req_cb cb);
/* The running request's action finished (db.c, child.c, after_work). */
void pgc__action_done(struct pgc_req *req, int status, PGresult *res);
/* Wake the lane's running WAIT now (the postmaster exited). */
void pgc__lane_wake(struct pgc__lane *lane);
/* Closing: end every queued request and abort the running one. */
void pgc__lane_cancel(struct pgc__lane *lane);
bool pgc__lane_idle(const struct pgc__lane *lane);

/* Helpers for steps. */
int pgc__sql(struct pgc_req *req, const char *sql, int nparams);
int pgc__wait(struct pgc_req *req, unsigned ms);
int pgc__work(struct pgc_req *req, int (*fn)(struct pgc_req *req));

/* ------------------------------------------------------------------------
 * The libpq connection (db.c).
 */
enum pgc__db_state { PGC__DB_DOWN, PGC__DB_CONNECTING, PGC__DB_IDLE, PGC__DB_BUSY };

struct pgc__watch; /* a uv_poll_t on one socket, freed by its close callback */

struct pgc__db {
	PGconn *conn;
	struct pgc__watch *watch;
	enum pgc__db_state state;
	PostgresPollingStatusType polling;
	bool flushing;
	struct pgc_req *req; /* connecting for, or running */
	PGresult *last;	     /* the running statement's last result */
	int err;	     /* its first error */
	unsigned watches;    /* watches not yet closed */
};

/* Run req->sql (connecting first if needed); pgc__action_done follows. */
void pgc__db_run(struct pgc *p, struct pgc_req *req);
/* Drop the connection (a timeout, closing, the postmaster gone). The
 * request it served, if any, gets no callback from db.c. */
void pgc__db_drop(struct pgc *p);
/* libpq's outcome as a negative errno: the one translation point. */
int pgc__pq_errno(const PGresult *res);

/* ------------------------------------------------------------------------
 * Child processes (child.c): one at a time per handle.
 */
struct pgc__child {
	uv_process_t proc;
	uv_pipe_t out; /* its stdout and stderr */
	uv_timer_t kill_timer;
	struct pgc_req *req;
	bool proc_open, out_open, exited;
	int64_t exit_status;
	int term_signal;
	char prog[32];
	char chunk[4096]; /* what one read brings */
	char line[PGC__LINE_MAX];
	size_t line_len;
	char tail[PGC__TAIL_LINES][200];
	unsigned n_tail;
};

/* Spawn req->argv (frees it); pgc__action_done once it has exited and its
 * handles are closed: 0, or -EIO / -ETIMEDOUT with errmsg "<prog> exited
 * with status N: <its last lines>". */
void pgc__child_run(struct pgc *p, struct pgc_req *req);
/* req->argv = a copy of the NULL-terminated args (a previous one freed).
 * 0 or -ENOMEM. */
int pgc__set_argv(struct pgc_req *req, const char *const *args);
void pgc__free_argv(struct pgc_req *req);
/* SIGTERM now, SIGKILL after PGC__KILL_GRACE_MS (deadline, closing). */
void pgc__child_kill(struct pgc *p);
/* The environment of every child: PATH, LC_ALL=C (messages we parse). */
extern char *pgc__child_env[];
/* Spawn options common to the postmaster and the tools. */
void pgc__spawn_options(const struct pgc *p, uv_process_options_t *o, char **argv, char **env);

/* ------------------------------------------------------------------------
 * The postmaster (server.c).
 */
struct pgc__server {
	uv_process_t proc;
	uv_timer_t kill_timer; /* pgc_close's SIGKILL */
	bool running;	       /* spawned, exit not seen */
	bool proc_open;	       /* the handle is not closed yet */
	bool spawned;	       /* proc_open for a real process (report its exit) */
	bool stopping, killed;
	unsigned long exits; /* how many times it ended */
	int pid;
	int64_t exit_status;
	int term_signal;
};

/* Spawn the postmaster (the start request's last step). 0 or -EIO +
 * req->errmsg. */
int pgc__server_spawn(struct pgc *p, struct pgc_req *req);
void pgc__server_signal(struct pgc *p, int sig);
/* Closing: SIGQUIT now, SIGKILL after 5 s. */
void pgc__server_close(struct pgc *p);

/* ------------------------------------------------------------------------
 * The handle (pgc.c).
 */
struct pgc__target {
	bool primary; /* render without primary_conninfo */
	bool has_upstream;
	char host[PGC_HOST_MAX];
	int port;
	char slot[PGC_NAME_MAX];
	char sync_names[PGC_SYNC_NAMES_MAX];
};

struct pgc {
	uv_loop_t *loop;
	struct pgc_node node;
	struct pgc_paths paths;
	uid_t uid;
	gid_t gid;
	bool setuid;	 /* children run as uid/gid */
	uid_t owner_uid; /* files chowned to it; -1 when not root */
	uv_mutex_t files_lock;
	unsigned long files_gen;     /* renderings made (loop thread) */
	unsigned long files_written; /* the newest written (under files_lock) */
	unsigned db_timeout_ms;
	pgc_exit_cb on_exit;
	void *data;
	struct pgc__lane lanes[PGC__LANES];
	struct pgc__db db;
	struct pgc__child child;
	struct pgc__server server;
	struct pgc__target target;
	bool boot; /* pgc_initdb: no TCP, trust for postgres on the socket */
	bool has_progress;
	struct pgc_progress progress;
	bool closing, closing_handles;
	unsigned open_handles; /* lane timers and the kill timer, until closed */
	void (*close_cb)(void *data);
	void *close_data;
};

/* Something closed or ended while closing: finish when nothing is left. */
void pgc__close_step(struct pgc *p);
/* Copy an upstream into the target (validated). 0 or -EINVAL + errmsg. */
int pgc__target_upstream(struct pgc *p, const struct pgc_upstream *up, char *errmsg, size_t size);
/* The postgres OS user. 0 or -EINVAL/-EPERM + errmsg. */
int pgc__os_user(const struct bs_config *config, uid_t *ret_uid, gid_t *ret_gid, bool *ret_setuid,
		 char *errmsg, size_t size);
/* A program of postgresql.bin_dir: "<bin_dir>/<name>" into buf. */
int pgc__bin(const struct pgc *p, const char *name, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * The node's files (datadir.c): rendered on the loop, written on the pool.
 */
enum {
	PGC__F_CONF = 1 << 0,	       /* postgresql.conf, pg_hba.conf */
	PGC__F_PASSFILE = 1 << 1,      /* <state_dir>/pgpass */
	PGC__F_CERT = 1 << 2,	       /* the self-signed certificate, when missing */
	PGC__F_SOCKET_DIR = 1 << 3,    /* mkdir the socket directory, the log directory */
	PGC__F_SIGNAL = 1 << 4,	       /* standby.signal as the target says */
	PGC__F_TRUNCATE_AUTO = 1 << 5, /* an empty postgresql.auto.conf */
	PGC__F_BOOT_HBA = 1 << 6,      /* pgc_initdb's trust file */
	PGC__F_NODE = PGC__F_CONF | PGC__F_PASSFILE | PGC__F_CERT | PGC__F_SOCKET_DIR,
};

/* Render what flags name into req->render (freed by pgc__files_write or
 * pgc__files_free). 0, -ENOMEM or -EINVAL + req->errmsg. */
int pgc__files_prepare(struct pgc_req *req, unsigned flags, bool standby);
/* Work function: write what was prepared. */
int pgc__files_write(struct pgc_req *req);
void pgc__files_free(struct pgc_req *req);
/* What postgresql.conf is rendered from: the handle's paths and target
 * (up holds the upstream in->upstream points to, if any). */
void pgc__conf_in(const struct pgc *p, struct pgc_conf_in *in, struct pgc_upstream *up);
/* The bootstrap pg_hba.conf beside the real one. */
int pgc__boot_hba_path(const struct pgc *p, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * Files (files.c), for any thread.
 */
/* Write text to path atomically with mode, owned by uid/gid (uid -1: not
 * chowned): temp file, fsync, rename, directory fsync. */
int pgc__write_file(const char *path, const char *text, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, char *errmsg, size_t size);
/* mkdir -p of the directories above path (0755, root's). */
int pgc__mkdir_parents(const char *path, char *errmsg, size_t size);
/* mkdir path (parents as root-owned 0755); the last one with mode and
 * owner (uid -1: not chowned; an existing one is chowned and chmod'ed). */
int pgc__mkdir_owned(const char *path, mode_t mode, uid_t uid, gid_t gid, char *errmsg,
		     size_t size);
/* rm -rf path (absent is fine). */
int pgc__rmtree(const char *path, char *errmsg, size_t size);
/* Does the directory exist and hold anything? 1, 0 (missing or empty) or
 * a negative errno. */
int pgc__dir_used(const char *path);
/* The last lines of a file, newlines shown as '/' (up to size - 1 bytes). */
void pgc__file_tail(const char *path, unsigned lines, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * Text (render_conf.c, render_auth.c).
 */
/* Append a conninfo keyword=value, quoting the value as libpq wants. */
int pgc__conninfo_add(char *buf, size_t size, const char *key, const char *value);
/* primary_conninfo for in->upstream (which must be set). */
int pgc__primary_conninfo(const struct pgc_conf_in *in, char *buf, size_t size);
/* The passfile: `*:*:*:<user>:<password>` for the replication user and the
 * db superuser. */
int pgc__render_passfile(const struct bs_config *config, const struct bs_secrets *secrets,
			 char **ret_text);

#endif /* BS_PGCTL_PGCTL_INTERNAL_H */
