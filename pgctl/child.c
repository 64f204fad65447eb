/*
 * Child processes: initdb, pg_rewind, pg_basebackup, run through uv_spawn
 * as the postgres OS user, with stdin on /dev/null and stdout and stderr
 * on one pipe that the loop reads line by line. Lines ending in '\r' count
 * (progress reports end so on a terminal). Each line goes to the request's
 * line_cb (progress parsing); the last few that are not progress reports
 * are kept for the error message.
 *
 * The action ends once the process has exited and both handles are
 * closed, so that the next child may reuse them at once. After the exit
 * the pipe gets a moment to deliver what is left; a grandchild that keeps
 * it open does not hold the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgctl_internal.h"

enum { DRAIN_MS = 200 };

char *pgc__child_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};

void pgc__spawn_options(const struct pgc *p, uv_process_options_t *o, char **argv, char **env)
{
	memset(o, 0, sizeof *o);
	o->file = argv[0];
	o->args = argv;
	o->env = env;
	o->cwd = "/";
	if (p->setuid) {
		o->flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
		o->uid = p->uid;
		o->gid = p->gid;
	}
}

static void keep_line(struct pgc__child *c, const char *line)
{
	struct pgc_progress progress;
	unsigned i;
	size_t n;

	if (line[0] == '\0' || pgc_progress_parse(line, &progress) == 0)
		return;
	if (c->n_tail == PGC__TAIL_LINES) {
		for (i = 1; i < PGC__TAIL_LINES; i++)
			memcpy(c->tail[i - 1], c->tail[i], sizeof c->tail[i]);
		c->n_tail--;
	}
	n = strnlen(line, sizeof c->tail[0] - 1); /* longer lines are cut */
	memcpy(c->tail[c->n_tail], line, n);
	c->tail[c->n_tail++][n] = '\0';
}

static void end_line(struct pgc__child *c)
{
	c->line[c->line_len] = '\0';
	c->line_len = 0;
	keep_line(c, c->line);
	if (c->req != NULL && c->req->line_cb != NULL)
		c->req->line_cb(c->req, c->line);
}

static void feed(struct pgc__child *c, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || buf[i] == '\r')
			end_line(c);
		else if (c->line_len + 1 < sizeof c->line)
			c->line[c->line_len++] = buf[i];
	}
}

static const char *why(const struct pgc_req *req)
{
	if (req->abort == -ETIMEDOUT)
		return "timed out: ";
	return req->abort != 0 ? "cancelled: " : "";
}

/* status and errmsg for the request, from the exit and the tail. */
static int outcome(struct pgc__child *c)
{
	struct pgc_req *req = c->req;
	char last[420] = "";

	if (c->exit_status == 0 && c->term_signal == 0)
		return 0;
	if (c->n_tail >= 2)
		snprintf(last, sizeof last, ": %s / %s", c->tail[c->n_tail - 2],
			 c->tail[c->n_tail - 1]);
	else if (c->n_tail == 1)
		snprintf(last, sizeof last, ": %s", c->tail[0]);
	if (c->term_signal != 0)
		bs_errf(req->errmsg, sizeof req->errmsg, "%s%s killed by signal %d%s", why(req),
			c->prog, c->term_signal, last);
	else
		bs_errf(req->errmsg, sizeof req->errmsg, "%s%s exited with status %lld%s", why(req),
			c->prog, (long long)c->exit_status, last);
	return -EIO;
}

static void maybe_done(struct pgc *p)
{
	struct pgc__child *c = &p->child;
	struct pgc_req *req = c->req;
	int status;

	if (c->proc_open || c->out_open || req == NULL)
		return;
	if (c->line_len > 0)
		end_line(c);
	uv_timer_stop(&c->kill_timer);
	status = outcome(c);
	c->req = NULL;
	pgc__action_done(req, status, NULL);
	if (p->closing)
		pgc__close_step(p);
}

static void proc_closed(uv_handle_t *h)
{
	struct pgc *p = h->data;

	p->child.proc_open = false;
	maybe_done(p);
}

static void out_closed(uv_handle_t *h)
{
	struct pgc *p = h->data;

	p->child.out_open = false;
	maybe_done(p);
}

static void close_out(struct pgc__child *c)
{
	if (c->out_open && !uv_is_closing((uv_handle_t *)&c->out))
		uv_close((uv_handle_t *)&c->out, out_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct pgc *p = h->data;

	(void)suggested;
	buf->base = p->child.chunk; /* consumed before the next read */
	buf->len = sizeof p->child.chunk;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pgc *p = s->data;

	if (n > 0)
		feed(&p->child, buf->base, (size_t)n);
	else if (n < 0)
		close_out(&p->child);
}

static void kill_timer_cb(uv_timer_t *t)
{
	struct pgc *p = t->data;
	struct pgc__child *c = &p->child;

	if (c->exited)
		close_out(c); /* drained long enough */
	else if (c->proc_open)
		uv_process_kill(&c->proc, SIGKILL);
}

static void exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct pgc *p = proc->data;
	struct pgc__child *c = &p->child;

	c->exited = true;
	c->exit_status = exit_status;
	c->term_signal = term_signal;
	uv_close((uv_handle_t *)proc, proc_closed);
	uv_timer_start(&c->kill_timer, kill_timer_cb, DRAIN_MS, 0);
}

static void set_prog(struct pgc__child *c, const char *path)
{
	const char *slash = strrchr(path, '/');

	snprintf(c->prog, sizeof c->prog, "%s", slash != NULL ? slash + 1 : path);
}

/* The pipe for stdout/stderr: our end on c->out, theirs in *ret_fd. */
static int open_pipe(struct pgc *p, int *ret_fd)
{
	struct pgc__child *c = &p->child;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	uv_pipe_init(p->loop, &c->out, 0);
	c->out.data = p;
	c->out_open = true;
	if (uv_pipe_open(&c->out, fds[0]) < 0) {
		close(fds[0]);
		close(fds[1]);
		close_out(c);
		return -EBADF;
	}
	*ret_fd = fds[1];
	return 0;
}

static void spawn(struct pgc *p, struct pgc_req *req, int out_fd)
{
	struct pgc__child *c = &p->child;
	uv_stdio_container_t stdio[3];
	uv_process_options_t o;
	int rv;

	pgc__spawn_options(p, &o, req->argv, pgc__child_env);
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
	stdio[1].data.fd = stdio[2].data.fd = out_fd;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.exit_cb = exit_cb;
	c->proc.data = p;
	rv = uv_spawn(p->loop, &c->proc, &o);
	c->proc_open = true; /* closed even when uv_spawn failed */
	if (rv < 0) {
		c->exited = true;
		c->exit_status = 127;
		snprintf(c->tail[0], sizeof c->tail[0], "cannot run %s: %s", req->argv[0],
			 uv_strerror(rv));
		c->n_tail = 1;
		uv_close((uv_handle_t *)&c->proc, proc_closed);
		close_out(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->out, alloc_cb, read_cb);
}

void pgc__child_run(struct pgc *p, struct pgc_req *req)
{
	struct pgc__child *c = &p->child;
	int out_fd = -1, rv;

	c->req = req;
	c->exited = false;
	c->exit_status = 0;
	c->term_signal = 0;
	c->n_tail = 0;
	c->line_len = 0;
	set_prog(c, req->argv[0]);
	rv = open_pipe(p, &out_fd);
	if (rv != 0) {
		c->req = NULL;
		bs_errf(req->errmsg, sizeof req->errmsg, "%s: pipe: %s", c->prog, bs_strerror(rv));
		pgc__free_argv(req);
		pgc__action_done(req, rv, NULL);
		return;
	}
	spawn(p, req, out_fd);
	close(out_fd);
	pgc__free_argv(req); /* the child has its copy */
}

void pgc__child_kill(struct pgc *p)
{
	struct pgc__child *c = &p->child;

	if (!c->proc_open || c->exited)
		return;
	uv_process_kill(&c->proc, SIGTERM);
	uv_timer_start(&c->kill_timer, kill_timer_cb, PGC__KILL_GRACE_MS, 0);
}

void pgc__free_argv(struct pgc_req *req)
{
	size_t i;

	for (i = 0; req->argv != NULL && req->argv[i] != NULL; i++)
		free(req->argv[i]);
	free(req->argv);
	req->argv = NULL;
}

int pgc__set_argv(struct pgc_req *req, const char *const *args)
{
	size_t n = 0, i;
	char **v;

	while (args[n] != NULL)
		n++;
	v = calloc(n + 1, sizeof *v);
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		v[i] = strdup(args[i]);
		if (v[i] == NULL) {
			while (i-- > 0)
				free(v[i]);
			free(v);
			return -ENOMEM;
		}
	}
	pgc__free_argv(req);
	req->argv = v;
	return 0;
}
