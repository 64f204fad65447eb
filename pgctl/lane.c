/*
 * The lanes: each runs its requests one at a time, in submission order, as
 * programs of steps (struct pgc__op). A step names the next action; the
 * lane performs it (db.c, child.c, the thread pool, its timer) and calls
 * the step again with the outcome.
 *
 * One timer per lane does three jobs: it starts requests (a submission
 * only arms it, so a callback never runs inside the submitting call), it
 * ends waits, and it enforces deadlines — of the running request and of
 * queued ones alike. An expired action is aborted by its kind: an SQL
 * statement by dropping the connection (PQcancel would block), a child by
 * SIGTERM then SIGKILL (the request ends when it has exited), thread-pool
 * work by waiting for it to finish (it cannot be interrupted; it is short).
 *
 * Any user callback may submit or close; the timer callback therefore
 * handles one event per pass and looks again from the start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl_internal.h"

static void lane_timer_cb(uv_timer_t *t);

void pgc__lane_init(struct pgc *p, enum pgc__lane_id id)
{
	struct pgc__lane *lane = &p->lanes[id];

	lane->p = p;
	lane->id = id;
	uv_timer_init(p->loop, &lane->timer);
	lane->timer.data = lane;
}

bool pgc__lane_idle(const struct pgc__lane *lane)
{
	return lane->running == NULL && lane->head == NULL;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Set the timer for the next thing the lane must do. */
static void arm(struct pgc__lane *lane)
{
	uint64_t now = uv_now(lane->p->loop), wake = UINT64_MAX;
	struct pgc_req *r;

	if (lane->p->closing_handles)
		return;
	if (lane->kick)
		wake = now;
	for (r = lane->head; r != NULL; r = r->next)
		wake = earliest(wake, r->deadline_ms);
	r = lane->running;
	if (r != NULL && r->abort == 0)
		wake = earliest(wake, r->deadline_ms);
	if (r != NULL && r->act == PGC__WAIT && r->abort == 0)
		wake = earliest(wake, r->wait_until_ms);
	if (wake == UINT64_MAX) {
		uv_timer_stop(&lane->timer);
		return;
	}
	uv_timer_start(&lane->timer, lane_timer_cb, wake > now ? wake - now : 0, 0);
}

/* "<op>: <what>" once; status 0 clears what a failed attempt left. */
static void final_errmsg(struct pgc_req *req, int status)
{
	char what[sizeof req->errmsg];

	if (status == 0 && !req->keep_errmsg) {
		req->errmsg[0] = '\0';
		return;
	}
	if (req->errmsg[0] == '\0')
		snprintf(req->errmsg, sizeof req->errmsg, "%s", bs_strerror(status));
	memcpy(what, req->errmsg, sizeof what);
	bs_errf(req->errmsg, sizeof req->errmsg, "%s: %s", req->op->name, what);
}

static void finish(struct pgc_req *req, int status)
{
	struct pgc *p = req->p;
	struct pgc__lane *lane = &p->lanes[req->op->lane];

	if (lane->running == req)
		lane->running = NULL;
	pgc__files_free(req);
	pgc__free_argv(req);
	final_errmsg(req, status);
	lane->kick = true;
	arm(lane);
	req->cb(req, status);
	if (p->closing)
		pgc__close_step(p);
}

static void work_cb(uv_work_t *w)
{
	struct pgc_req *req = w->data;

	req->act_status = req->work_fn(req);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct pgc_req *req = w->data;

	pgc__action_done(req, status < 0 ? status : req->act_status, NULL);
}

static void start_work(struct pgc_req *req)
{
	int rv;

	req->work.data = req;
	rv = uv_queue_work(req->p->loop, &req->work, work_cb, after_work_cb);
	if (rv < 0) {
		bs_errf(req->errmsg, sizeof req->errmsg, "thread pool: %s", uv_strerror(rv));
		pgc__action_done(req, -ENOMEM, NULL);
	}
}

/* Run the step and perform what it asks for. */
static void advance(struct pgc_req *req, const PGresult *res)
{
	int next = req->op->step(req, res);

	if (next > 0 && req->abort != 0)
		next = req->abort; /* past the deadline: no further action */
	req->act = next > 0 ? next : PGC__DONE;
	switch (next) {
	case PGC__DONE:
		finish(req, 0);
		break;
	case PGC__SQL:
		pgc__db_run(req->p, req);
		break;
	case PGC__WORK:
		start_work(req);
		break;
	case PGC__CHILD:
		pgc__child_run(req->p, req);
		break;
	case PGC__WAIT:
		arm(&req->p->lanes[req->op->lane]);
		break;
	default:
		finish(req, next);
	}
}

void pgc__action_done(struct pgc_req *req, int status, PGresult *res)
{
	if (req->abort != 0 && !(req->op->sees_errors && req->act == PGC__SQL)) {
		PQclear(res);
		finish(req, req->abort);
		return;
	}
	req->act_status = req->abort != 0 ? req->abort : status;
	if (req->act_status < 0 && !req->op->sees_errors) {
		PQclear(res);
		finish(req, req->act_status);
		return;
	}
	advance(req, req->act_status < 0 ? NULL : res);
	PQclear(res);
}

/* The running request must end with status (deadline, close). */
static void abort_running(struct pgc_req *req, int status)
{
	req->abort = status;
	if (!req->op->sees_errors || req->errmsg[0] == '\0')
		snprintf(req->errmsg, sizeof req->errmsg, "%s",
			 status == -ETIMEDOUT ? "timed out" : "cancelled: the handle is closing");
	switch (req->act) {
	case PGC__SQL:
		pgc__db_drop(req->p);
		pgc__action_done(req, status, NULL);
		break;
	case PGC__WAIT:
		req->act_status = status;
		if (req->op->sees_errors)
			advance(req, NULL);
		else
			finish(req, status);
		break;
	case PGC__CHILD:
		pgc__child_kill(req->p); /* ends through pgc__action_done */
		break;
	default:
		break; /* thread-pool work: ends when it returns */
	}
}

/* One event: an expired queued request, the running one's deadline or
 * wait, or the next request. false when there was nothing to do. */
static bool lane_event(struct pgc__lane *lane, uint64_t now)
{
	struct pgc_req **pp, *r;

	for (pp = &lane->head; (r = *pp) != NULL; pp = &r->next) {
		if (r->deadline_ms > now)
			continue;
		*pp = r->next;
		if (lane->tail == r)
			lane->tail = NULL;
		snprintf(r->errmsg, sizeof r->errmsg, "timed out waiting for its turn");
		finish(r, -ETIMEDOUT);
		return true;
	}
	r = lane->running;
	if (r != NULL && r->abort == 0 && r->deadline_ms <= now) {
		abort_running(r, -ETIMEDOUT);
		return true;
	}
	if (r != NULL && r->act == PGC__WAIT && r->abort == 0 && r->wait_until_ms <= now) {
		advance(r, NULL);
		return true;
	}
	if (r != NULL || lane->head == NULL || lane->p->closing)
		return false;
	r = lane->head;
	lane->head = r->next;
	if (lane->head == NULL)
		lane->tail = NULL;
	lane->running = r;
	advance(r, NULL);
	return true;
}

static void lane_timer_cb(uv_timer_t *t)
{
	struct pgc__lane *lane = t->data;

	lane->kick = false;
	while (lane_event(lane, uv_now(lane->p->loop)))
		;
	arm(lane);
}

int pgc__submit(struct pgc *p, struct pgc_req *req, const struct pgc__op *op, unsigned timeout_ms,
		pgc_req_cb cb)
{
	struct pgc__lane *lane = &p->lanes[op->lane];

	if (p->closing) {
		bs_errf(req->errmsg, sizeof req->errmsg, "%s: the handle is closing", op->name);
		return -ESHUTDOWN;
	}
	req->p = p;
	req->op = op;
	req->cb = cb;
	req->next = NULL;
	req->deadline_ms = uv_now(p->loop) + timeout_ms;
	req->stage = 0;
	req->act = PGC__DONE;
	req->act_status = 0;
	req->abort = 0;
	req->keep_errmsg = false;
	req->errmsg[0] = '\0';
	req->render = NULL;
	req->argv = NULL;
	req->line_cb = NULL;
	if (lane->tail != NULL)
		lane->tail->next = req;
	else
		lane->head = req;
	lane->tail = req;
	lane->kick = true;
	arm(lane);
	return 0;
}

void pgc__lane_wake(struct pgc__lane *lane)
{
	struct pgc_req *r = lane->running;

	if (r != NULL && r->act == PGC__WAIT) {
		r->wait_until_ms = 0;
		arm(lane);
	}
}

void pgc__lane_cancel(struct pgc__lane *lane)
{
	struct pgc_req *r;

	while ((r = lane->head) != NULL) {
		lane->head = r->next;
		if (lane->head == NULL)
			lane->tail = NULL;
		snprintf(r->errmsg, sizeof r->errmsg, "cancelled: the handle is closing");
		finish(r, -ECANCELED);
	}
	r = lane->running;
	if (r != NULL && r->abort == 0)
		abort_running(r, -ECANCELED);
}

int pgc__sql(struct pgc_req *req, const char *sql, int nparams)
{
	req->sql = sql;
	req->nparams = nparams;
	return PGC__SQL;
}

int pgc__wait(struct pgc_req *req, unsigned ms)
{
	req->wait_until_ms = uv_now(req->p->loop) + ms;
	return PGC__WAIT;
}

int pgc__work(struct pgc_req *req, int (*fn)(struct pgc_req *req))
{
	req->work_fn = fn;
	return PGC__WORK;
}
