/*
 * The group-commit writer: requests queue on the loop thread; one batch at
 * a time goes to the libuv thread pool, where cns__store_apply() writes it
 * in one LMDB transaction (one fsync). Whatever is submitted while that
 * batch is on the disk becomes the next batch, so the throughput comes from
 * batching, not from skipping the fsync. Contract: store.h.
 *
 * States, all on the loop thread (the pool thread touches only batch,
 * n_batch, status and errmsg, and only while in_flight):
 *
 *   idle         nothing in flight, no failed batch; a submit starts the
 *                kick (uv_idle), which takes a batch at the next iteration
 *   in flight    uv_queue_work running the batch; submits only queue
 *   retry wait   the last attempt failed; the same batch is kept and the
 *                retry timer re-sends it (10 ms doubling to 1 s)
 *   closing      queued requests freed; waiting for the batch in flight and
 *                for the two handles to close, then close_cb
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "store.h"

enum { BACKOFF_FIRST_MS = 10, BACKOFF_MAX_MS = 1000, RING_FIRST = 4096 };

static void batch_start(struct cns__writer *w);

/* ---- the queue: a ring of pointers --------------------------------------- */

static int ring_grow(struct cns__writer *w)
{
	size_t cap = w->ring_cap ? 2 * w->ring_cap : RING_FIRST, i;
	struct cns__persist **ring;

	ring = malloc(cap * sizeof *ring);
	if (ring == NULL)
		return -ENOMEM;
	for (i = 0; i < w->stats.queued; i++)
		ring[i] = w->ring[(w->ring_head + i) % w->ring_cap];
	free(w->ring);
	w->ring = ring;
	w->ring_cap = cap;
	w->ring_head = 0;
	return 0;
}

static void ring_push(struct cns__writer *w, struct cns__persist *p)
{
	if (w->stats.queued == w->ring_cap && ring_grow(w) != 0) {
		/* store.h: submit never fails; without memory for one more
		 * pointer the node cannot make progress anyway. */
		bs_error("consensus", "writer: out of memory queueing a persist request");
		abort();
	}
	w->ring[(w->ring_head + w->stats.queued) % w->ring_cap] = p;
	w->stats.queued++;
}

static struct cns__persist *ring_pop(struct cns__writer *w)
{
	struct cns__persist *p = w->ring[w->ring_head];

	w->ring_head = (w->ring_head + 1) % w->ring_cap;
	w->stats.queued--;
	return p;
}

static void ring_free_all(struct cns__writer *w)
{
	while (w->stats.queued > 0)
		cns__persist_free(ring_pop(w));
}

/* ---- batches ----------------------------------------------------------------- */

static uint64_t persist_bytes(const struct cns__persist *p)
{
	uint64_t bytes = 0;
	unsigned i;

	for (i = 0; i < p->n_entries; i++)
		bytes += p->entries[i].buf.len;
	if (p->snapshot != NULL)
		bytes += p->snapshot->conf.len + p->snapshot->data.len;
	return bytes;
}

/* Move the oldest queued requests into the batch, up to the caps (at least
 * one request, however big). */
static void batch_take(struct cns__writer *w)
{
	uint64_t bytes;

	w->n_batch = 0;
	w->batch_bytes = 0;
	while (w->stats.queued > 0 && w->n_batch < CNS__WRITER_BATCH_MAX) {
		bytes = persist_bytes(w->ring[w->ring_head]);
		if (w->n_batch > 0 && w->batch_bytes + bytes > CNS__WRITER_BATCH_BYTES)
			break;
		w->batch[w->n_batch++] = ring_pop(w);
		w->batch_bytes += bytes;
	}
}

static void batch_free(struct cns__writer *w)
{
	unsigned i;

	for (i = 0; i < w->n_batch; i++)
		cns__persist_free(w->batch[i]);
	w->n_batch = 0;
}

static void kick_cb(uv_idle_t *kick)
{
	struct cns__writer *w = kick->data;

	uv_idle_stop(kick);
	if (w->in_flight || w->n_batch > 0 || w->closing || w->stats.queued == 0)
		return;
	batch_take(w);
	batch_start(w);
}

/* Start a batch at the next loop iteration, so that everything submitted in
 * this one joins it. Only when idle: otherwise the completion of the batch
 * in flight (or of the retry) takes the queue. */
static void writer_kick(struct cns__writer *w)
{
	if (w->in_flight || w->n_batch > 0 || w->closing || w->stats.queued == 0)
		return;
	uv_idle_start(&w->kick, kick_cb); /* no-op when already started */
}

/* ---- completion ------------------------------------------------------------------ */

static void report(struct cns__writer *w, int status, const char *errmsg)
{
	if (w->failed != NULL)
		w->failed(w, status, errmsg);
}

static void batch_succeeded(struct cns__writer *w)
{
	unsigned i, n = w->n_batch;

	w->stats.batches++;
	w->stats.requests += n;
	w->stats.bytes += w->batch_bytes;
	w->stats.last_batch = n;
	if (n > w->stats.max_batch)
		w->stats.max_batch = n;
	w->backoff_ms = BACKOFF_FIRST_MS;
	if (w->failing) {
		w->failing = false;
		if (!w->closing)
			report(w, 0, "");
	}
	/* done may submit (the batch array is not the queue) or close (which
	 * leaves a batch in flight alone). */
	for (i = 0; i < n; i++)
		w->done(w, w->batch[i]);
	w->n_batch = 0;
}

static void batch_failed(struct cns__writer *w, int status)
{
	char msg[sizeof w->errmsg + 64];

	w->stats.failures++;
	if (!w->failing && !w->closing) {
		w->failing = true;
		snprintf(msg, sizeof msg, "group commit of %u requests: %s", w->n_batch, w->errmsg);
		report(w, status, msg);
	}
	if (w->closing)
		batch_free(w); /* not durable, and nobody to retry for */
}

static void retry_cb(uv_timer_t *retry)
{
	struct cns__writer *w = retry->data;

	if (!w->closing && !w->in_flight && w->n_batch > 0)
		batch_start(w);
}

static void retry_arm(struct cns__writer *w)
{
	uv_timer_start(&w->retry, retry_cb, w->backoff_ms, 0);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void close_maybe_finish(struct cns__writer *w)
{
	if (!w->closing || w->in_flight || w->open_handles > 0 || w->batch == NULL)
		return;
	free(w->batch);
	w->batch = NULL;
	free(w->ring);
	w->ring = NULL;
	if (w->close_cb != NULL)
		w->close_cb(w);
}

/* ---- the thread pool side --------------------------------------------------------- */

static void work_cb(uv_work_t *work)
{
	struct cns__writer *w = work->data;

	w->status = cns__store_apply(w->store, w->batch, w->n_batch, w->errmsg, sizeof w->errmsg);
}

static void after_work_cb(uv_work_t *work, int status)
{
	struct cns__writer *w = work->data;

	/* status is libuv's: only UV_ECANCELED, and nothing cancels. */
	if (status == 0 && w->status == 0)
		batch_succeeded(w);
	else
		batch_failed(w, status != 0 ? status : w->status);
	w->in_flight = false;
	if (w->closing)
		close_maybe_finish(w);
	else if (w->n_batch > 0)
		retry_arm(w);
	else
		writer_kick(w);
}

static void batch_start(struct cns__writer *w)
{
	w->in_flight = true;
	/* Fails only without a work callback. */
	(void)uv_queue_work(w->loop, &w->work, work_cb, after_work_cb);
}

/* ---- API -------------------------------------------------------------------------------- */

int cns__writer_init(struct cns__writer *w, uv_loop_t *loop, struct cns__store *store,
		     cns__writer_done_cb done, cns__writer_failed_cb failed)
{
	void *data = w->data;

	memset(w, 0, sizeof *w);
	w->data = data;
	w->batch = malloc(CNS__WRITER_BATCH_MAX * sizeof *w->batch);
	if (w->batch == NULL)
		return -ENOMEM;
	if (ring_grow(w) != 0) {
		free(w->batch);
		w->batch = NULL;
		return -ENOMEM;
	}
	w->loop = loop;
	w->store = store;
	w->done = done;
	w->failed = failed;
	w->backoff_ms = BACKOFF_FIRST_MS;
	w->work.data = w;
	/* Neither can fail on Unix (libuv 1.44 returns 0 unconditionally), so
	 * no error path has to close a handle asynchronously. */
	(void)uv_idle_init(loop, &w->kick);
	(void)uv_timer_init(loop, &w->retry);
	w->kick.data = w;
	w->retry.data = w;
	return 0;
}

void cns__writer_submit(struct cns__writer *w, struct cns__persist *p)
{
	if (w->closing) {
		cns__persist_free(p);
		return;
	}
	ring_push(w, p);
	writer_kick(w);
}

bool cns__writer_failing(const struct cns__writer *w)
{
	return w->failing;
}

static void handle_closed(uv_handle_t *handle)
{
	struct cns__writer *w = handle->data;

	w->open_handles--;
	close_maybe_finish(w);
}

void cns__writer_close(struct cns__writer *w, cns__writer_close_cb close_cb)
{
	if (w->closing)
		return;
	w->closing = true;
	w->close_cb = close_cb;
	ring_free_all(w);
	if (!w->in_flight)
		batch_free(w); /* a failed batch waiting for its retry */
	w->open_handles = 2;
	uv_close((uv_handle_t *)&w->kick, handle_closed);
	uv_close((uv_handle_t *)&w->retry, handle_closed);
}
