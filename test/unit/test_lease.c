/*
 * consensus/lease.c, the leader's lease clocks: arming from a state machine
 * that holds leases (at now, or at a new leader's base), keep-alives that extend and never shorten, expiry on
 * the first millisecond after the deadline (the deadline is the last valid
 * one), disarm, grants and ends, time left, and a clock that saturates.
 *
 * The fsm is real (fed packed LeaseGrant/LeaseRevoke commands); every time
 * is a plain number.
 */
#include <errno.h>
#include <stdlib.h>

#include "fsm.h"
#include "lease.h"
#include "unit.h"

struct fx {
	struct cns__fsm *f;
	struct cns__lease_table t;
	uint64_t index; /* Raft index of the next command */
};

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	assert_non_null(fx);
	assert_int_equal(cns__fsm_new(&fx->f), 0);
	cns__lease_init(&fx->t);
	fx->index = 1;
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	cns__lease_free(&fx->t);
	cns__lease_free(NULL);
	cns__fsm_free(fx->f);
	free(fx);
	return 0;
}

static void apply(struct fx *fx, const Backstay__KvCommand *cmd)
{
	size_t len = backstay__kv_command__get_packed_size(cmd);
	uint8_t *buf = malloc(len + 1);
	Backstay__KvResult *r = NULL;

	assert_non_null(buf);
	backstay__kv_command__pack(cmd, buf);
	assert_int_equal(cns__fsm_apply(fx->f, fx->index++, buf, len, &r), 0);
	assert_int_equal(r->code, 0);
	backstay__kv_result__free_unpacked(r, NULL);
	free(buf);
}

/* A lease in the fsm: its id is the grant's index. */
static uint64_t grant(struct fx *fx, int64_t ttl_ms)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseGrant g = BACKSTAY__LEASE_GRANT__INIT;
	uint64_t id = fx->index;

	g.ttl_ms = ttl_ms;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_GRANT;
	cmd.lease_grant = &g;
	apply(fx, &cmd);
	return id;
}

static void revoke(struct fx *fx, uint64_t id)
{
	Backstay__KvCommand cmd = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseRevoke rv = BACKSTAY__LEASE_REVOKE__INIT;

	rv.id = id;
	cmd.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_REVOKE;
	cmd.lease_revoke = &rv;
	apply(fx, &cmd);
}

static uint64_t left(struct fx *fx, uint64_t id, uint64_t now)
{
	uint64_t ms = 12345;

	assert_int_equal(cns__lease_time_left(&fx->t, id, now, &ms), 0);
	return ms;
}

/* The due callback records what it was handed; `refuse` plays a submit
 * that failed. */
struct due_log {
	uint64_t ids[8];
	unsigned n;
	bool refuse;
};

static int record_due(void *data, uint64_t id)
{
	struct due_log *log = data;

	assert_true(log->n < 8);
	log->ids[log->n++] = id;
	return log->refuse ? -ENOSPC : 0;
}

static unsigned due(struct fx *fx, uint64_t now, struct due_log *log)
{
	log->n = 0;
	cns__lease_due(&fx->t, now, record_due, log);
	return log->n;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_arm_from_fsm(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 1000), b = grant(fx, 3000);

	assert_false(cns__lease_is_armed(&fx->t));
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 100, 7), 0);
	assert_true(cns__lease_is_armed(&fx->t));
	assert_true(cns__lease_armed_for(&fx->t, 7));
	assert_false(cns__lease_armed_for(&fx->t, 8));
	assert_int_equal(fx->t.n, 2);
	/* Every clock starts at the arming time, whatever came before. */
	assert_int_equal(left(fx, a, 100), 1000);
	assert_int_equal(left(fx, b, 100), 3000);
	assert_int_equal(cns__lease_next_due(&fx->t), 1100);

	/* Re-arming (a later term) restarts them later: never shorter. */
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 900, 8), 0);
	assert_true(cns__lease_armed_for(&fx->t, 8));
	assert_int_equal(fx->t.n, 2);
	assert_int_equal(left(fx, a, 900), 1000);
	assert_int_equal(cns__lease_next_due(&fx->t), 1900);
}

/* A new leader's base: leases of earlier terms (id <= old_index) start at
 * the base, one granted in its own term at the arming; a lease whose base
 * + ttl has passed is due at once. */
static void test_arm_from_base(void **state)
{
	struct fx *fx = *state;
	struct due_log log = {0};
	uint64_t a = grant(fx, 1000), b = grant(fx, 3000), own;

	fx->index = 10; /* the new leader's election barrier is 9 */
	own = grant(fx, 1000);
	assert_int_equal(cns__lease_arm_from(&fx->t, fx->f, 400, 9, 1500, 4), 0);
	assert_true(cns__lease_armed_for(&fx->t, 4));
	assert_int_equal(fx->t.n, 3);
	assert_int_equal(left(fx, b, 1500), 400 + 3000 - 1500);
	assert_int_equal(left(fx, own, 1500), 1000);
	assert_int_equal(left(fx, a, 1500), 0); /* 400 + 1000 is past */
	assert_int_equal(due(fx, 1500, &log), 1);
	assert_int_equal(log.ids[0], a);
	assert_int_equal(cns__lease_next_due(&fx->t), 2500);
	assert_int_equal(due(fx, 2500, &log), 1);
	assert_int_equal(log.ids[0], own);
	assert_int_equal(due(fx, 3399, &log), 0);
	assert_int_equal(due(fx, 3400, &log), 1);
	assert_int_equal(log.ids[0], b);
	/* cns__lease_arm is a base of now for every lease. */
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 1500, 5), 0);
	assert_int_equal(left(fx, a, 1500), 1000);
	assert_int_equal(left(fx, b, 1500), 3000);
}

static void test_arm_empty(void **state)
{
	struct fx *fx = *state;
	struct due_log log = {0};
	uint64_t ms;

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 1), 0);
	assert_true(cns__lease_is_armed(&fx->t));
	assert_int_equal(fx->t.n, 0);
	assert_int_equal(cns__lease_next_due(&fx->t), UINT64_MAX);
	assert_int_equal(due(fx, 1000000, &log), 0);
	assert_int_equal(cns__lease_time_left(&fx->t, 1, 0, &ms), -ENOENT);
}

static void test_keepalive_extends_never_shortens(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 1000);

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 1), 0);
	assert_int_equal(left(fx, a, 0), 1000);

	/* Arrived at 500: valid until 1500 (exclusive). */
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 500, 1000), 0);
	assert_int_equal(left(fx, a, 500), 1000);
	assert_int_equal(cns__lease_next_due(&fx->t), 1500);

	/* An older arrival confirmed later changes nothing. */
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 200, 1000), 0);
	assert_int_equal(cns__lease_next_due(&fx->t), 1500);
	/* So does the same one twice. */
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 500, 1000), 0);
	assert_int_equal(cns__lease_next_due(&fx->t), 1500);
	/* A later one moves it. */
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 1499, 1000), 0);
	assert_int_equal(cns__lease_next_due(&fx->t), 2499);

	/* Unknown lease. */
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a + 1, 1499, 1000), -ENOENT);
}

/* Due on the first millisecond after the deadline, never at it. */
static void test_expiry_after_deadline(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 500), b = grant(fx, 800);
	struct due_log log = {0};
	uint64_t ms;

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 1000, 1), 0);
	assert_int_equal(fx->t.v[0].deadline_ms, 1499); /* 1000 + 500 - 1: last valid */
	assert_int_equal(due(fx, 1499, &log), 0);
	assert_int_equal(left(fx, a, 1499), 1);
	assert_int_equal(left(fx, a, 1500), 0);

	assert_int_equal(due(fx, 1500, &log), 1);
	assert_int_equal(log.ids[0], a);
	/* Expiring: handed out once, no longer kept alive nor timed. */
	assert_int_equal(due(fx, 1800, &log), 1);
	assert_int_equal(log.ids[0], b);
	assert_int_equal(due(fx, 100000, &log), 0);
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 1500, 500), -ENOENT);
	assert_int_equal(cns__lease_time_left(&fx->t, a, 1500, &ms), -ENOENT);
	assert_int_equal(cns__lease_next_due(&fx->t), UINT64_MAX);
}

/* A submit that failed leaves the lease due: tried again next time. */
static void test_due_refused_retries(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 100);
	struct due_log log = {.refuse = true};

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 1), 0);
	assert_int_equal(due(fx, 100, &log), 1);
	assert_int_equal(due(fx, 150, &log), 1);
	assert_int_equal(cns__lease_next_due(&fx->t), 100);
	assert_int_equal(left(fx, a, 150), 0);
	log.refuse = false;
	assert_int_equal(due(fx, 200, &log), 1);
	assert_int_equal(due(fx, 250, &log), 0);
}

static void test_disarm_clears(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 1000), ms;
	struct due_log log = {0};

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 3), 0);
	cns__lease_disarm(&fx->t);
	assert_false(cns__lease_is_armed(&fx->t));
	assert_false(cns__lease_armed_for(&fx->t, 3));
	assert_int_equal(fx->t.n, 0);
	assert_int_equal(cns__lease_time_left(&fx->t, a, 0, &ms), -ENOENT);
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, a, 0, 1000), -ENOENT);
	assert_int_equal(due(fx, 100000, &log), 0);
	assert_int_equal(cns__lease_next_due(&fx->t), UINT64_MAX);
	/* Grants applied while disarmed are picked up by the next arm. */
	assert_int_equal(cns__lease_update(&fx->t, grant(fx, 50), fx->f, 10), 0);
	assert_int_equal(fx->t.n, 0);
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 20, 4), 0);
	assert_int_equal(fx->t.n, 2);
}

/* Granted: the clock starts when the grant is applied; ended: removed. */
static void test_granted_and_ended(void **state)
{
	struct fx *fx = *state;
	uint64_t a, b, ms;

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 1), 0);
	a = grant(fx, 1000);
	assert_int_equal(cns__lease_update(&fx->t, a, fx->f, 200), 0);
	assert_int_equal(left(fx, a, 200), 1000);
	/* Named again (a put on it, a repeated grant result): clock kept. */
	assert_int_equal(cns__lease_update(&fx->t, a, fx->f, 900), 0);
	assert_int_equal(left(fx, a, 900), 300);

	b = grant(fx, 2000);
	assert_int_equal(cns__lease_update(&fx->t, b, fx->f, 300), 0);
	assert_int_equal(fx->t.n, 2);

	revoke(fx, a);
	assert_int_equal(cns__lease_update(&fx->t, a, fx->f, 400), 0);
	assert_int_equal(fx->t.n, 1);
	assert_int_equal(cns__lease_time_left(&fx->t, a, 400, &ms), -ENOENT);
	assert_int_equal(left(fx, b, 400), 1900);
	/* An id the fsm never held: nothing to do. */
	assert_int_equal(cns__lease_update(&fx->t, 999, fx->f, 400), 0);
	assert_int_equal(fx->t.n, 1);
}

static void test_time_left(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, 3000), ms = 77;

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 10000, 1), 0);
	assert_int_equal(left(fx, a, 10000), 3000);
	assert_int_equal(left(fx, a, 11000), 2000);
	assert_int_equal(left(fx, a, 12999), 1);
	assert_int_equal(left(fx, a, 13000), 0);
	assert_int_equal(left(fx, a, 99999), 0);
	assert_int_equal(cns__lease_time_left(&fx->t, a + 1, 10000, &ms), -ENOENT);
	assert_int_equal(ms, 77); /* untouched on failure */
}

/* A clock that would run past UINT64_MAX stops there and is never due. */
static void test_saturates(void **state)
{
	struct fx *fx = *state;
	uint64_t a = grant(fx, INT64_MAX), b = grant(fx, 10);
	struct due_log log = {0};

	assert_int_equal(cns__lease_arm(&fx->t, fx->f, UINT64_MAX - 10, 1), 0);
	assert_int_equal(fx->t.v[0].deadline_ms, UINT64_MAX);
	assert_int_equal(cns__lease_next_due(&fx->t), UINT64_MAX);
	assert_int_equal(due(fx, UINT64_MAX, &log), 1); /* b only */
	assert_int_equal(log.ids[0], b);
	assert_int_equal(left(fx, a, UINT64_MAX - 10), 11);
	/* A TTL below 1 (never in the fsm) counts as 1 ms. */
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 2), 0);
	assert_int_equal(cns__lease_confirm_keepalive(&fx->t, b, 5000, 0), 0);
	assert_int_equal(left(fx, b, 5000), 1);
	assert_int_equal(left(fx, b, 5001), 0);
}

/* Many leases: the table grows, and removal keeps the others intact. */
static void test_many(void **state)
{
	struct fx *fx = *state;
	uint64_t ids[40];
	unsigned i;

	for (i = 0; i < 40; i++)
		ids[i] = grant(fx, 100 + i);
	assert_int_equal(cns__lease_arm(&fx->t, fx->f, 0, 1), 0);
	assert_int_equal(fx->t.n, 40);
	for (i = 0; i < 40; i += 2) {
		revoke(fx, ids[i]);
		assert_int_equal(cns__lease_update(&fx->t, ids[i], fx->f, 0), 0);
	}
	assert_int_equal(fx->t.n, 20);
	for (i = 1; i < 40; i += 2)
		assert_int_equal(left(fx, ids[i], 0), 100 + i);
	assert_int_equal(cns__lease_next_due(&fx->t), 101);
}

int bs_test_lease(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_arm_from_fsm, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_arm_from_base, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_arm_empty, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_extends_never_shortens, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_expiry_after_deadline, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_due_refused_retries, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_disarm_clears, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_granted_and_ended, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_time_left, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_saturates, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests_name("lease", tests, NULL, NULL);
}
