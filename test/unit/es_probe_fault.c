/*
 * leader/es_probe.c when memory runs out: each allocation it makes during a
 * probe's life (new, one check against es_fixture, close) is failed in turn,
 * the first, then the second, ... until a whole life needs no more. Each
 * time the failure must surface as the documented error (-ENOMEM from
 * ldr_es_probe_new, or the check's callback with -ENOMEM or -EIO), exactly
 * once, and the loop must close with nothing left in it; under ASan,
 * nothing leaks.
 *
 * Its own executable: es_probe.c is compiled into it again with
 * fsm_fault_alloc.h force-included (the same malloc/calloc/realloc hooks
 * the fsm's fault test uses; see meson.build).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base.h"
#include "es_fixture_proc.h"
#include "es_probe.h"
#include "fsm_fault_alloc.h"
#include "unit.h"

#define HOST "127.0.0.1"

/* Calls left before the one that fails; -1: none fails. */
static long fault_countdown = -1;
static bool fault_fired;

static bool fault_now(void)
{
	if (fault_countdown < 0)
		return false;
	if (fault_countdown-- > 0)
		return false;
	fault_fired = true;
	return true;
}

/* The hooks, declared in fsm_fault_alloc.h. Parenthesised names call the
 * libc functions, not the macros. */
void *fault_malloc(size_t size)
{
	return fault_now() ? NULL : (malloc)(size);
}

void *fault_calloc(size_t n, size_t size)
{
	return fault_now() ? NULL : (calloc)(n, size);
}

void *fault_realloc(void *p, size_t size)
{
	return fault_now() ? NULL : (realloc)(p, size);
}

struct outcome {
	int calls, status;
	bool closed;
};

static void on_check(struct ldr_es_req *req, int status, const struct ldr_es_health *h)
{
	struct outcome *o = req->data;

	(void)h;
	o->calls++;
	o->status = status;
}

static void on_closed(void *data)
{
	((struct outcome *)data)->closed = true;
}

/* One probe's life against the fixture on port, the n-th allocation
 * failing (-1: none). Whether one did fail. */
static bool life(int port, long n)
{
	struct ldr_es_req req;
	struct ldr_es_probe *p;
	struct outcome o = {.calls = 0};
	uv_loop_t loop;
	int rv;

	assert_int_equal(uv_loop_init(&loop), 0);
	fault_countdown = n;
	fault_fired = false;
	rv = ldr_es_probe_new(&loop, &p);
	if (rv != 0) {
		assert_int_equal(rv, -ENOMEM);
		assert_true(fault_fired);
		goto out;
	}
	req = (struct ldr_es_req){.data = &o};
	assert_int_equal(ldr_es_check(p, &req, HOST, port, 5000, on_check), 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* ends when nothing is left to wait for */
	if (o.calls != 1)
		fail_msg("allocation %ld failed: the check's callback ran %d times", n, o.calls);
	if (o.status != 0 && !(fault_fired && (o.status == -ENOMEM || o.status == -EIO)))
		fail_msg("allocation %ld failed: the check ended with %d", n, o.status);
	ldr_es_probe_close(p, on_closed, &o);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(o.closed);
out:
	fault_countdown = -1;
	assert_int_equal(uv_loop_close(&loop), 0);
	return fault_fired;
}

static void test_every_allocation(void **state)
{
	struct unit_es_fixture es;
	long n;

	(void)state;
	unit_es_fixture_init(&es);
	unit_es_fixture_mode(&es, "green");
	unit_es_fixture_start(&es, HOST);
	for (n = 0; life(es.port, n); n++)
		;
	unit_es_fixture_fini(&es);
	/* The probe, a socket's poll, the answer's buffer at least: the
	 * probe's -ENOMEM, a watch's, the body's. */
	assert_true(n >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation),
	};

	bs_log_set_level(BS_LOG_OFF);
	return cmocka_run_group_tests_name("es_probe_fault", tests, NULL, NULL);
}
