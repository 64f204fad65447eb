/*
 * The KV state machine when memory runs out: every allocation consensus/
 * fsm*.c makes during an operation is failed in turn (the first, then the
 * second, ... until the operation needs no more), and each time the
 * operation must return -ENOMEM with the state byte-identical, no watch
 * called and, under ASan, nothing leaked. This reaches every error label of
 * the fsm and checks cns__fsm_apply()'s promise that a failed apply changed
 * nothing, so the caller can apply the entry again.
 *
 * Its own executable: the fsm sources are compiled into it again with
 * fsm_fault_alloc.h force-included (see meson.build).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fsm.h"
#include "fsm_fault_alloc.h"
#include "unit.h"

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

/* ---- a state to break ----------------------------------------------------- */

static unsigned events;

static void count_event(void *data, const struct cns__fsm_event *e)
{
	(void)data;
	(void)e;
	events++;
}

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static int apply_cmd(struct cns__fsm *f, uint64_t index, const Backstay__KvCommand *c)
{
	size_t len = backstay__kv_command__get_packed_size(c);
	uint8_t *buf = (malloc)(len + 1);
	Backstay__KvResult *r = NULL;
	int rv;

	assert_non_null(buf);
	backstay__kv_command__pack(c, buf);
	rv = cns__fsm_apply(f, index, buf, len, &r);
	if (rv == 0)
		backstay__kv_result__free_unpacked(r, NULL);
	free(buf);
	return rv;
}

static int put(struct cns__fsm *f, uint64_t index, const char *key, const char *value,
	       uint64_t lease, const Backstay__KvCompare *cmp)
{
	Backstay__KvCommand c = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvPut p = BACKSTAY__KV_PUT__INIT;

	p.key = bin(key);
	p.value = bin(value);
	p.lease = lease;
	p.compare = (Backstay__KvCompare *)cmp;
	c.op_case = BACKSTAY__KV_COMMAND__OP_PUT;
	c.put = &p;
	return apply_cmd(f, index, &c);
}

static int grant(struct cns__fsm *f, uint64_t index)
{
	Backstay__KvCommand c = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseGrant g = BACKSTAY__LEASE_GRANT__INIT;

	g.ttl_ms = 1000;
	c.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_GRANT;
	c.lease_grant = &g;
	return apply_cmd(f, index, &c);
}

/* Leases 1 and 2; /a/1 /a/2 on lease 1, /b on lease 2, /c on none; a watch
 * on everything. */
static struct cns__fsm *make_state(void)
{
	struct cns__fsm *f;
	uint64_t id;

	assert_int_equal(cns__fsm_new(&f), 0);
	assert_int_equal(grant(f, 1), 0);
	assert_int_equal(grant(f, 2), 0);
	assert_int_equal(put(f, 3, "/a/1", "one", 1, NULL), 0);
	assert_int_equal(put(f, 4, "/a/2", "two", 1, NULL), 0);
	assert_int_equal(put(f, 5, "/b", "bee", 2, NULL), 0);
	assert_int_equal(put(f, 6, "/c", "sea", 0, NULL), 0);
	assert_int_equal(cns__fsm_watch(f, "", 0, count_event, NULL, &id), 0);
	return f;
}

static struct raft_buffer snap(const struct cns__fsm *f)
{
	struct raft_buffer b = {0};

	assert_int_equal(cns__fsm_snapshot(f, &b), 0);
	return b;
}

/*
 * Run op on a fresh state (and prepare, when not NULL, run before the
 * faults) with the k-th allocation failing, for k = 0, 1, ... until op gets
 * through without a failure. Returns how many failure points there were.
 */
static unsigned run_faults(int (*prepare)(struct cns__fsm *f), int (*op)(struct cns__fsm *f))
{
	unsigned k;

	for (k = 0;; k++) {
		struct cns__fsm *f = make_state();
		struct raft_buffer before, after;
		unsigned events_before;
		int rv;

		if (prepare != NULL)
			prepare(f);
		before = snap(f);
		events_before = events;
		fault_fired = false;
		fault_countdown = k;
		rv = op(f);
		fault_countdown = -1;
		if (!fault_fired) {
			assert_int_equal(rv, 0);
			cns__fsm_free(f);
			free(before.base);
			return k;
		}
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(events, events_before);
		after = snap(f);
		assert_int_equal(after.len, before.len);
		assert_memory_equal(after.base, before.base, before.len);
		free(after.base);
		free(before.base);
		cns__fsm_free(f);
	}
}

/* ---- the operations ---------------------------------------------------- */

static int op_put_new(struct cns__fsm *f)
{
	return put(f, 10, "/d", "new", 2, NULL);
}

static int op_put_replace(struct cns__fsm *f)
{
	return put(f, 10, "/a/1", "moved", 2, NULL); /* lease 1 -> 2 */
}

static int op_put_cas_fails(struct cns__fsm *f)
{
	Backstay__KvCompare cmp = BACKSTAY__KV_COMPARE__INIT;

	cmp.target_case = BACKSTAY__KV_COMPARE__TARGET_MOD_REVISION;
	cmp.mod_revision = 0;
	return put(f, 10, "/c", "x", 0, &cmp); /* copies the current /c */
}

static int op_delete(struct cns__fsm *f, const char *key, bool prefix)
{
	Backstay__KvCommand c = BACKSTAY__KV_COMMAND__INIT;
	Backstay__KvDelete d = BACKSTAY__KV_DELETE__INIT;

	d.key = bin(key);
	d.prefix = prefix;
	c.op_case = BACKSTAY__KV_COMMAND__OP_DEL;
	c.del = &d;
	return apply_cmd(f, 10, &c);
}

static int op_delete_one(struct cns__fsm *f)
{
	return op_delete(f, "/b", false);
}

static int op_delete_prefix(struct cns__fsm *f)
{
	return op_delete(f, "/a/", true);
}

static int op_revoke(struct cns__fsm *f)
{
	Backstay__KvCommand c = BACKSTAY__KV_COMMAND__INIT;
	Backstay__LeaseRevoke r = BACKSTAY__LEASE_REVOKE__INIT;

	r.id = 1;
	c.op_case = BACKSTAY__KV_COMMAND__OP_LEASE_REVOKE;
	c.lease_revoke = &r;
	return apply_cmd(f, 10, &c);
}

/* Fill the lease array to its capacity (8), so the next grant grows it. */
static int fill_leases(struct cns__fsm *f)
{
	uint64_t i;

	for (i = 0; i < 6; i++)
		assert_int_equal(grant(f, 20 + i), 0);
	return 0;
}

static int op_grant(struct cns__fsm *f)
{
	return grant(f, 30);
}

/* Fill the key array to its capacity (8), so the next new key grows it. */
static int fill_keys(struct cns__fsm *f)
{
	char key[16];
	uint64_t i;

	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof key, "/m/%u", (unsigned)i);
		assert_int_equal(put(f, 20 + i, key, "v", 0, NULL), 0);
	}
	return 0;
}

static int op_get_range(struct cns__fsm *f)
{
	Backstay__KeyValue *kv;
	Backstay__KvResult *r;
	int rv = cns__fsm_get(f, "/a/1", 4, &kv);

	if (rv != 0)
		return rv;
	backstay__key_value__free_unpacked(kv, NULL);
	rv = cns__fsm_range(f, "/", 1, 0, &r);
	if (rv != 0)
		return rv;
	backstay__kv_result__free_unpacked(r, NULL);
	return 0;
}

static int op_snapshot(struct cns__fsm *f)
{
	struct raft_buffer b;
	int rv = cns__fsm_snapshot(f, &b);

	if (rv == 0)
		free(b.base);
	return rv;
}

/* Restore the state of a different fsm (built before the faults start). */
static struct raft_buffer other_state;

static int op_restore(struct cns__fsm *f)
{
	return cns__fsm_restore(f, other_state.base, other_state.len);
}

static int op_watch(struct cns__fsm *f)
{
	uint64_t id;

	return cns__fsm_watch(f, "/x", 2, count_event, NULL, &id);
}

static void test_faults(void **state)
{
	static const struct {
		const char *name;
		int (*prepare)(struct cns__fsm *f);
		int (*op)(struct cns__fsm *f);
	} ops[] = {
		{"put (new key)", NULL, op_put_new},
		{"put (new key, array grows)", fill_keys, op_put_new},
		{"put (replace, move lease)", NULL, op_put_replace},
		{"put (failed compare)", NULL, op_put_cas_fails},
		{"delete", NULL, op_delete_one},
		{"delete prefix", NULL, op_delete_prefix},
		{"lease revoke", NULL, op_revoke},
		{"lease grant (array grows)", fill_leases, op_grant},
		{"get + range", NULL, op_get_range},
		{"snapshot", NULL, op_snapshot},
		{"restore", NULL, op_restore},
		{"watch", NULL, op_watch},
	};
	struct cns__fsm *other;
	size_t i;

	(void)state;
	assert_int_equal(cns__fsm_new(&other), 0);
	assert_int_equal(grant(other, 7), 0);
	assert_int_equal(put(other, 8, "/z", "zed", 7, NULL), 0);
	assert_int_equal(put(other, 9, "/y", "why", 0, NULL), 0);
	other_state = snap(other);
	cns__fsm_free(other);

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		unsigned n = run_faults(ops[i].prepare, ops[i].op);

		assert_true(n > 0);
		print_message("fsm fault: %-26s %u allocation failures, each refused cleanly\n",
			      ops[i].name, n);
	}
	free(other_state.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults),
	};

	return cmocka_run_group_tests_name("fsm_fault", tests, NULL, NULL);
}
