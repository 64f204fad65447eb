/*
 * consensus/writer.c with a real libuv loop and a real store: batching while
 * a batch is in flight, the caps, completion order, callbacks that submit or
 * close, close with pending requests, and a real full disk (tmpfs in a
 * private mount namespace) that fails, retries and recovers.
 *
 * No sleeps: the loop runs until a condition holds, bounded by an iteration
 * count and a guard timer. Checks are plain functions returning bool so the
 * same scenario can run in the test process (assert_true) and in a child on
 * its own tmpfs (FX_CHECK).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base.h"
#include "store.h"
#include "store_fixture.h"
#include "unit.h"

#define NEXT_SENTINEL ((struct cns__persist *)(uintptr_t)0x5e5e5e5e)

struct wfix {
	char *dir;
	uv_loop_t loop;
	uv_timer_t guard;
	struct cns__store *store;
	struct cns__writer w;
	char errmsg[256];
	uint64_t submitted; /* requests submitted; request i stores log entry i */
	uint64_t done;	    /* done callbacks so far */
	bool order_ok;	    /* every done came in submission order, fields untouched */
	unsigned reports;   /* failed callbacks */
	int statuses[8];
	char report_msg[512];
	bool close_called;
	bool closed;
	bool timed_out;
	/* Behaviours of the done callback. */
	uint64_t chain_until;	/* done of i submits i + 1 while i < this */
	uint64_t close_at_done; /* done number n closes the writer */
};

/* ---- callbacks ------------------------------------------------------------------ */

static void on_closed(struct cns__writer *w)
{
	struct wfix *f = w->data;

	f->closed = true;
}

static void on_done(struct cns__writer *w, struct cns__persist *p)
{
	struct wfix *f = w->data;

	f->done++;
	if ((uint64_t)(uintptr_t)p->data != f->done || p->next != NEXT_SENTINEL ||
	    p->first_index != f->done)
		f->order_ok = false;
	cns__persist_free(p);
	if (f->done == f->close_at_done) {
		f->close_called = true;
		cns__writer_close(w, on_closed);
	}
	if (f->done < f->chain_until) {
		struct cns__persist *q = fx_entries(++f->submitted, 1, 1, 256, 1);

		q->data = (void *)(uintptr_t)f->submitted;
		q->next = NEXT_SENTINEL;
		cns__writer_submit(w, q);
	}
}

static void on_failed(struct cns__writer *w, int status, const char *errmsg)
{
	struct wfix *f = w->data;

	if (f->reports < 8)
		f->statuses[f->reports] = status;
	f->reports++;
	snprintf(f->report_msg, sizeof f->report_msg, "%s", errmsg);
}

static void on_guard(uv_timer_t *t)
{
	struct wfix *f = t->data;

	f->timed_out = true;
}

/* ---- set-up and loop driving (no cmocka asserts: children use these) ------------ */

static bool wfix_start(struct wfix *f, const char *dir)
{
	memset(f, 0, sizeof *f);
	f->order_ok = true;
	if (uv_loop_init(&f->loop) != 0 ||
	    cns__store_open(dir, &f->store, f->errmsg, sizeof f->errmsg) != 0)
		return false;
	f->w.data = f;
	if (cns__writer_init(&f->w, &f->loop, f->store, on_done, on_failed) != 0)
		return false;
	/* The guard bounds every wait; unref'd, it never keeps the loop alive. */
	uv_timer_init(&f->loop, &f->guard);
	f->guard.data = f;
	uv_timer_start(&f->guard, on_guard, 60 * 1000, 0);
	uv_unref((uv_handle_t *)&f->guard);
	return true;
}

static void submit_n(struct wfix *f, unsigned n, size_t len)
{
	struct cns__persist *p;
	unsigned i;

	for (i = 0; i < n; i++) {
		f->submitted++;
		p = fx_entries(f->submitted, 1, 1, len, 1);
		p->data = (void *)(uintptr_t)f->submitted;
		p->next = NEXT_SENTINEL;
		cns__writer_submit(&f->w, p);
	}
}

typedef bool (*wfix_cond)(const struct wfix *f, uint64_t arg);

static bool cond_done(const struct wfix *f, uint64_t n)
{
	return f->done >= n;
}

static bool cond_reports(const struct wfix *f, uint64_t n)
{
	return f->reports >= n;
}

static bool cond_failures(const struct wfix *f, uint64_t n)
{
	return f->w.stats.failures >= n;
}

static bool cond_closed(const struct wfix *f, uint64_t n)
{
	(void)n;
	return f->closed;
}

static bool run_until(struct wfix *f, wfix_cond cond, uint64_t arg)
{
	unsigned i;

	for (i = 0; i < 1000000 && !cond(f, arg) && !f->timed_out; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	return cond(f, arg);
}

/* Close the writer (unless closed already), the guard, the loop, the store. */
static bool wfix_stop(struct wfix *f)
{
	bool ok;

	if (!f->close_called) {
		f->close_called = true;
		cns__writer_close(&f->w, on_closed);
	}
	ok = run_until(f, cond_closed, 0);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ok = uv_loop_close(&f->loop) == 0 && ok;
	cns__store_close(f->store);
	return ok;
}

/* Reopen the store at dir: it holds log entries 1..n, each as submitted. */
static bool stored_entries(const char *dir, uint64_t n, size_t small, size_t big, uint64_t big_lo,
			   uint64_t big_hi)
{
	struct cns__loaded *l = NULL;
	struct cns__store *s;
	char errmsg[256];
	bool ok;
	uint64_t i;

	if (cns__store_open(dir, &s, errmsg, sizeof errmsg) != 0)
		return false;
	ok = cns__store_load(s, &l, errmsg, sizeof errmsg) == 0 && l->n_entries == n;
	for (i = 1; ok && i <= n; i++)
		ok = fx_payload_ok(&l->entries[i - 1].buf, i >= big_lo && i <= big_hi ? big : small,
				   i, 1);
	cns__loaded_free(l);
	cns__store_close(s);
	return ok;
}

/* ---- fixture for tests in this process ---------------------------------------- */

static int setup(void **state)
{
	struct wfix *f = calloc(1, sizeof *f);
	char *dir = unit_tmpdir_new();

	if (f == NULL || dir == NULL || !wfix_start(f, dir))
		return -1;
	f->dir = dir;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct wfix *f = *state;

	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* ---- tests ----------------------------------------------------------------------- */

static void writer_one(void **state)
{
	struct wfix *f = *state;

	submit_n(f, 1, 256);
	assert_int_equal(f->w.stats.queued, 1);
	assert_true(run_until(f, cond_done, 1));
	assert_true(f->order_ok);
	assert_int_equal(f->w.stats.batches, 1);
	assert_int_equal(f->w.stats.requests, 1);
	assert_int_equal(f->w.stats.bytes, 256);
	assert_int_equal(f->w.stats.queued, 0);
	assert_int_equal(f->reports, 0);
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 1, 256, 0, 0, 0));
}

/* The group commit: everything submitted while a batch is in flight is
 * written as the next batch, in one transaction. */
static void writer_batches_while_in_flight(void **state)
{
	struct wfix *f = *state;

	submit_n(f, 1, 256);
	uv_run(&f->loop, UV_RUN_NOWAIT); /* the kick: batch 1 (one request) goes out */
	assert_int_equal(f->w.stats.queued, 0);
	submit_n(f, 199, 256);
	assert_int_equal(f->w.stats.queued, 199);
	assert_true(run_until(f, cond_done, 200));
	assert_true(f->order_ok);
	assert_int_equal(f->w.stats.batches, 2);
	assert_int_equal(f->w.stats.last_batch, 199);
	assert_int_equal(f->w.stats.max_batch, 199);
	assert_int_equal(f->w.stats.requests, 200);
	assert_int_equal(f->w.stats.bytes, 200 * 256);
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 200, 256, 0, 0, 0));
}

/* 10,000 requests submitted at once: batches of at most 4096 requests. */
static void writer_request_cap(void **state)
{
	struct wfix *f = *state;

	submit_n(f, 10000, 256);
	assert_true(run_until(f, cond_done, 10000));
	assert_true(f->order_ok);
	assert_int_equal(f->w.stats.batches, 3);
	assert_int_equal(f->w.stats.max_batch, CNS__WRITER_BATCH_MAX);
	assert_int_equal(f->w.stats.last_batch, 10000 - 2 * CNS__WRITER_BATCH_MAX);
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 10000, 256, 0, 0, 0));
}

/* Three 30 MiB requests: two fit the 64 MiB cap, the third waits. */
static void writer_byte_cap(void **state)
{
	struct wfix *f = *state;

	submit_n(f, 3, 30 << 20);
	assert_true(run_until(f, cond_done, 3));
	assert_true(f->order_ok);
	assert_int_equal(f->w.stats.batches, 2);
	assert_int_equal(f->w.stats.max_batch, 2);
	assert_int_equal(f->w.stats.last_batch, 1);
	assert_int_equal(f->w.stats.bytes, 3ull * (30 << 20));
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 3, 30 << 20, 0, 0, 0));
}

/* done may submit: each completion submits the next request. */
static void writer_done_submits(void **state)
{
	struct wfix *f = *state;

	f->chain_until = 50;
	submit_n(f, 1, 256);
	assert_true(run_until(f, cond_done, 50));
	assert_true(f->order_ok);
	assert_int_equal(f->w.stats.requests, 50);
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 50, 256, 0, 0, 0));
}

/* Close with requests queued behind a batch in flight: the batch completes
 * (done fires: it is durable), the queued ones are freed without done
 * (LeakSanitizer checks), then close_cb. A submit after close is freed. */
static void writer_close_pending(void **state)
{
	struct wfix *f = *state;

	submit_n(f, 1, 256);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	submit_n(f, 50, 256);
	f->close_called = true;
	cns__writer_close(&f->w, on_closed);
	assert_int_equal(f->w.stats.queued, 0);
	submit_n(f, 1, 256);
	assert_true(run_until(f, cond_closed, 0));
	assert_int_equal(f->done, 1);
	assert_true(f->order_ok);
	assert_true(wfix_stop(f));
	assert_true(stored_entries(f->dir, 1, 256, 0, 0, 0));
}

/* Closing an idle writer, and closing from inside done: the rest of that
 * batch still completes. */
static void writer_close_idle(void **state)
{
	struct wfix *f = *state;

	f->close_called = true;
	cns__writer_close(&f->w, on_closed);
	assert_true(run_until(f, cond_closed, 0));
	assert_int_equal(f->done, 0);
	assert_true(wfix_stop(f));
}

static void writer_close_in_done(void **state)
{
	struct wfix *f = *state;

	f->close_at_done = 1;
	submit_n(f, 3, 256);
	assert_true(run_until(f, cond_closed, 0));
	assert_true(wfix_stop(f));
	assert_int_equal(f->done, 3);
	assert_true(f->order_ok);
	assert_true(stored_entries(f->dir, 3, 256, 0, 0, 0));
}

/* ---- a full disk --------------------------------------------------------------------- */

/* In a 1 MiB tmpfs: 10 requests go through; the disk fills; 5 requests of
 * 64 KiB fail, are reported once, retried with backoff while 5 more queue
 * behind them; space comes back; all 20 complete in order, the recovery is
 * reported, and the store holds all 20. */
static int child_full_disk(const char *dir, void *arg)
{
	struct wfix *f = fx_alloc(sizeof *f);
	char *filler;

	(void)arg;
	FX_CHECK(wfix_start(f, dir));
	submit_n(f, 10, 256);
	FX_CHECK(run_until(f, cond_done, 10));
	FX_CHECK((filler = fx_fill(dir)) != NULL);
	submit_n(f, 5, 64 << 10);
	FX_CHECK(run_until(f, cond_reports, 1));
	FX_CHECK(f->statuses[0] == -ENOSPC);
	FX_CHECK(strcmp(f->report_msg,
			"group commit of 5 requests: lmdb commit: No space left on device") == 0);
	FX_CHECK(cns__writer_failing(&f->w));
	submit_n(f, 5, 256);
	FX_CHECK(run_until(f, cond_failures, 4)); /* retried: 10, 20, 40 ms */
	FX_CHECK(f->reports == 1 && f->done == 10);
	FX_CHECK(unlink(filler) == 0);
	FX_CHECK(run_until(f, cond_done, 20));
	FX_CHECK(f->reports == 2 && f->statuses[1] == 0 && !cns__writer_failing(&f->w));
	FX_CHECK(f->order_ok);
	FX_CHECK(f->w.stats.requests == 20);
	FX_CHECK(wfix_stop(f));
	FX_CHECK(stored_entries(dir, 20, 256, 64 << 10, 11, 15));
	free(filler);
	free(f);
	return 0;
}

/* Close during a failure streak: the failed batch is not durable, so it is
 * freed without done, and close_cb still comes. */
static int child_close_failing(const char *dir, void *arg)
{
	struct wfix *f = fx_alloc(sizeof *f);
	char *filler;

	(void)arg;
	FX_CHECK(wfix_start(f, dir));
	FX_CHECK((filler = fx_fill(dir)) != NULL);
	submit_n(f, 3, 64 << 10);
	FX_CHECK(run_until(f, cond_failures, 2));
	submit_n(f, 2, 256);
	FX_CHECK(wfix_stop(f));
	FX_CHECK(f->done == 0 && f->reports == 1);
	FX_CHECK(unlink(filler) == 0);
	FX_CHECK(stored_entries(dir, 0, 0, 0, 0, 0));
	free(filler);
	free(f);
	return 0;
}

static void in_tmpfs(const char *opts, int (*fn)(const char *dir, void *arg))
{
	char *dir = unit_tmpdir_new();
	int rc;

	assert_non_null(dir);
	rc = fx_in_tmpfs(dir, opts, fn, NULL);
	unit_tmpdir_remove(dir);
	if (rc == FX_SKIP) {
		print_message("skipped: a tmpfs in a private mount namespace needs root\n");
		skip();
	}
	assert_int_equal(rc, 0);
}

static void writer_full_disk(void **state)
{
	(void)state;
	in_tmpfs("size=1m", child_full_disk);
}

static void writer_close_failing(void **state)
{
	(void)state;
	in_tmpfs("size=512k", child_close_failing);
}

int bs_test_writer(void)
{
	/* The forked tests first: forking before this process has started
	 * libuv's pool threads keeps LeakSanitizer in the child exact. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writer_full_disk),
		cmocka_unit_test(writer_close_failing),
		cmocka_unit_test_setup_teardown(writer_one, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_batches_while_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_request_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_byte_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_done_submits, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_close_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_close_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_close_in_done, setup, teardown),
	};

	return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
