/*
 * backstay-check's checkers fed crafted histories: each rule passes what it
 * must pass and fails what it must fail (a stale read, a lost write, a cas
 * that won twice, a missing row, two primaries, a slow recovery), and a
 * search past its budget answers UNKNOWN.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chk.h"

/* One line of a KV history; values are JSON text (a number or null). */
#define OP(p, type, f, key, v, t)                                                                  \
	"{\"process\":" #p ",\"type\":\"" type "\",\"f\":\"" f "\",\"key\":\"" key                 \
	"\",\"value\":" #v ",\"t_ns\":" #t "}\n"
#define INV(p, f, v, t) OP(p, "invoke", f, "a", v, t)
#define OK(p, f, v, t) OP(p, "ok", f, "a", v, t)
#define INFO(p, f, t) OP(p, "info", f, "a", null, t)
#define FAILED(p, f, t) OP(p, "fail", f, "a", null, t)
#define CAS(p, e, v, t)                                                                            \
	"{\"process\":" #p ",\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"expect\":" #e       \
	",\"value\":" #v ",\"t_ns\":" #t "}\n"

static const struct chk_lin_budget big = {10000000, (size_t)256 << 20};

static int kv_parse(const char *text, struct chk_kv *h, char *errmsg, size_t size)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rv;

	assert_non_null(f);
	chk_kv_init(h);
	rv = chk_kv_read(h, f, errmsg, size);
	fclose(f);
	return rv;
}

/* The verdict over every key of a history (FAIL beats UNKNOWN beats PASS);
 * *ret_stuck (may be NULL) gets the line of the op a failing search stuck
 * at. */
static enum chk_verdict lin(const char *text, const struct chk_lin_budget *b,
			    unsigned long *ret_stuck)
{
	struct chk_kv h;
	char errmsg[128];
	enum chk_verdict v = CHK_PASS;
	size_t i;

	assert_int_equal(kv_parse(text, &h, errmsg, sizeof errmsg), 0);
	for (i = 0; i < h.n_keys; i++) {
		struct chk_lin_result r;

		assert_int_equal(chk_linearize(h.keys[i].ops, h.keys[i].n, b, &r), 0);
		if (r.verdict == CHK_FAIL) {
			assert_true(r.n_prefix < h.keys[i].n);
			if (ret_stuck != NULL && v != CHK_FAIL)
				*ret_stuck = h.keys[i].ops[r.stuck].line;
			v = CHK_FAIL;
		} else if (r.verdict == CHK_UNKNOWN && v == CHK_PASS) {
			v = CHK_UNKNOWN;
		}
		chk_lin_result_free(&r);
	}
	chk_kv_free(&h);
	return v;
}

/* ---- parsing ------------------------------------------------------------- */

static void kv_pairs_and_counts(void **state)
{
	const char *text = INV(0, "write", 1, 0) INV(1, "read", null, 1) OK(0, "write", 1, 5)
		OK(1, "read", 1, 6) INV(2, "write", 2, 7) FAILED(2, "write", 8)
			INV(2, "read", null, 9) INFO(2, "read", 10)
				INV(3, "write", 3, 11) "\n" OP(4, "invoke", "write", "b", 9, 12);
	struct chk_kv h;
	char errmsg[128];

	assert_int_equal(kv_parse(text, &h, errmsg, sizeof errmsg), 0);
	assert_int_equal(h.n_ok, 2);
	assert_int_equal(h.n_fail, 1);
	assert_int_equal(h.n_info, 3); /* the info read, and two invokes left open */
	assert_int_equal(h.n_keys, 2);
	/* key a: the write, the read, the open write 3 (info); not the failed
	 * write nor the info read */
	assert_int_equal(h.keys[0].n, 3);
	assert_int_equal(h.keys[0].ops[1].f, CHK_READ);
	assert_int_equal(h.keys[0].ops[1].value, 1);
	assert_int_equal(h.keys[0].ops[1].call_ns, 1);
	assert_int_equal(h.keys[0].ops[1].ret_ns, 6);
	assert_int_equal(h.keys[0].ops[2].ret_ns, CHK_NEVER);
	assert_int_equal(h.keys[0].ops[2].value, 3);
	assert_string_equal(h.keys[1].key, "b");
	assert_int_equal(h.keys[1].ops[0].ret_ns, CHK_NEVER);
	chk_kv_free(&h);
}

static void kv_malformed(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{INV(0, "write", 1, 0) INV(0, "write", 2, 1), "line 2: the process invokes"},
		{OK(0, "write", 1, 5), "line 1: a completion without"},
		{INV(0, "write", 1, 0) OK(0, "read", 1, 5), "line 2: the completion's f"},
		{INV(0, "write", 1, 9) OK(0, "write", 1, 5), "line 2: the completion is earlier"},
		{OP(0, "done", "write", "a", 1, 0), "line 1: \"type\""},
		{OP(0, "invoke", "incr", "a", 1, 0), "line 1: \"f\""},
		{OP(0, "invoke", "write", "a", "x", 0), "line 1: \"value\" must"},
		{"{\"process\":0}\n", "line 1: needs"},
		{"\n[1]\n", "line 2: not a JSON object"},
		{"{oops\n", "line 1: "},
	};
	struct chk_kv h;
	char errmsg[128];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(kv_parse(cases[i].text, &h, errmsg, sizeof errmsg), -EINVAL);
		assert_memory_equal(errmsg, cases[i].err, strlen(cases[i].err));
		chk_kv_free(&h);
	}
}

/* ---- linearizability ------------------------------------------------------ */

static void lin_sequential_and_concurrent_pass(void **state)
{
	/* a read concurrent with a write may see either value; a cas that
	 * failed is dropped; the empty history passes */
	const char *text = INV(0, "write", 1, 0) INV(1, "read", null, 1) OK(1, "read", null, 2)
		INV(2, "read", null, 3) OK(2, "read", 1, 4) OK(0, "write", 1, 5) CAS(0, 1, 2, 10)
			OK(0, "cas", 2, 11) CAS(1, 1, 3, 12) FAILED(1, "cas", 13)
				INV(1, "read", null, 20) OK(1, "read", 2, 21)
					INV(2, "write", null, 30) OK(2, "write", null, 31)
						INV(2, "read", 0, 40) OK(2, "read", null, 41);

	assert_int_equal(lin(text, &big, NULL), CHK_PASS);
	assert_int_equal(lin("", &big, NULL), CHK_PASS);
}

static void lin_touching_ops_are_concurrent(void **state)
{
	/* the read begins the nanosecond the write returns: taken as
	 * concurrent, so it may precede the write */
	const char *text = INV(0, "write", 1, 0) OK(0, "write", 1, 10) INV(1, "read", null, 10)
		OK(1, "read", null, 12);

	assert_int_equal(lin(text, &big, NULL), CHK_PASS);
	/* one nanosecond later it may not */
	text = INV(0, "write", 1, 0) OK(0, "write", 1, 10) INV(1, "read", null, 11)
		OK(1, "read", null, 12);
	assert_int_equal(lin(text, &big, NULL), CHK_FAIL);
}

static void lin_stale_read_fails(void **state)
{
	/* write 1, write 2, both done; a later read sees 1 */
	const char *text = INV(0, "write", 1, 0) OK(0, "write", 1, 1) INV(0, "write", 2, 2)
		OK(0, "write", 2, 3) INV(1, "read", null, 4) OK(1, "read", 1, 5);
	unsigned long stuck = 0;

	assert_int_equal(lin(text, &big, &stuck), CHK_FAIL);
	assert_int_equal(stuck, 5); /* the invoke line of the stale read */
	/* the same read concurrent with write 2 is fine */
	text = INV(0, "write", 1, 0) OK(0, "write", 1, 1) INV(0, "write", 2, 2)
		INV(1, "read", null, 2) OK(1, "read", 1, 5) OK(0, "write", 2, 6);
	assert_int_equal(lin(text, &big, NULL), CHK_PASS);
}

static void lin_lost_write_fails(void **state)
{
	/* an acknowledged write, then a read of the value before it */
	const char *text = INV(0, "write", 7, 0) OK(0, "write", 7, 10) INV(1, "read", null, 11)
		OK(1, "read", null, 12);

	assert_int_equal(lin(text, &big, NULL), CHK_FAIL);
	/* the other key is not involved: the violation stays on a */
	text = OP(0, "invoke", "write", "b", 7, 0) OP(0, "ok", "write", "b", 7, 10)
		INV(1, "read", null, 11) OK(1, "read", null, 12);
	assert_int_equal(lin(text, &big, NULL), CHK_PASS);
}

static void lin_cas_twice_fails(void **state)
{
	/* two concurrent cas 0->1 and 0->2 both succeed: only one can find 0 */
	const char *text = INV(0, "write", 0, 0) OK(0, "write", 0, 1) CAS(1, 0, 1, 2)
		CAS(2, 0, 2, 2) OK(1, "cas", 1, 5) OK(2, "cas", 2, 6);

	assert_int_equal(lin(text, &big, NULL), CHK_FAIL);
	/* with the second failed instead, it passes */
	text = INV(0, "write", 0, 0) OK(0, "write", 0, 1) CAS(1, 0, 1, 2) CAS(2, 0, 2, 2)
		OK(1, "cas", 1, 5) FAILED(2, "cas", 6);
	assert_int_equal(lin(text, &big, NULL), CHK_PASS);
	/* a cas whose expectation can never hold */
	text = CAS(1, 5, 6, 0) OK(1, "cas", 6, 1);
	assert_int_equal(lin(text, &big, NULL), CHK_FAIL);
}

static void lin_info_either_way(void **state)
{
	/* an info write may have happened ... */
	const char *took = INV(0, "write", 5, 0) INFO(0, "write", 1) INV(1, "read", null, 10)
		OK(1, "read", 5, 11);
	/* ... or not */
	const char *not_took = INV(0, "write", 5, 0) INFO(0, "write", 1) INV(1, "read", null, 10)
		OK(1, "read", null, 11);
	/* ... or later than anything its process did next: an info op's end is
	 * at infinity */
	const char *late = INV(0, "write", 1, 0) OK(0, "write", 1, 1) INV(1, "write", 2, 2)
		INFO(1, "write", 3) INV(1, "read", null, 4) OK(1, "read", 1, 5)
			INV(1, "read", null, 6) OK(1, "read", 2, 7);
	/* but once seen it cannot be undone */
	const char *undone = INV(0, "write", 5, 0) INFO(0, "write", 1) INV(1, "read", null, 10)
		OK(1, "read", 5, 11) INV(1, "read", null, 12) OK(1, "read", null, 13);
	/* an invoke never completed is an info op */
	const char *open = INV(0, "write", 5, 0) INV(1, "read", null, 10) OK(1, "read", 5, 11);
	/* a failed write did not happen */
	const char *failed = INV(0, "write", 5, 0) FAILED(0, "write", 1) INV(1, "read", null, 10)
		OK(1, "read", 5, 11);

	/* an info cas that could never find its value simply never happened */
	const char *never =
		CAS(0, 9, 10, 0) INFO(0, "cas", 1) INV(1, "read", null, 10) OK(1, "read", null, 11);

	assert_int_equal(lin(never, &big, NULL), CHK_PASS);
	assert_int_equal(lin(took, &big, NULL), CHK_PASS);
	assert_int_equal(lin(not_took, &big, NULL), CHK_PASS);
	assert_int_equal(lin(late, &big, NULL), CHK_PASS);
	assert_int_equal(lin(undone, &big, NULL), CHK_FAIL);
	assert_int_equal(lin(open, &big, NULL), CHK_PASS);
	assert_int_equal(lin(failed, &big, NULL), CHK_FAIL);
}

/* n writes of distinct values, all concurrent, then a read of a value
 * nobody wrote: every order of the writes must be ruled out. */
static char *wide_history(unsigned n)
{
	size_t size = 128 * (2 * n + 2), len = 0;
	char *text = malloc(size);
	unsigned i;

	assert_non_null(text);
	for (i = 0; i < n; i++)
		len += snprintf(text + len, size - len,
				"{\"process\":%u,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\","
				"\"value\":%u,\"t_ns\":%u}\n",
				i, i, i);
	for (i = 0; i < n; i++)
		len += snprintf(text + len, size - len,
				"{\"process\":%u,\"type\":\"ok\",\"f\":\"write\",\"key\":\"a\","
				"\"value\":%u,\"t_ns\":%u}\n",
				i, i, 1000 + i);
	snprintf(text + len, size - len, INV(999, "read", null, 2000) OK(999, "read", 4242, 2001));
	return text;
}

static void lin_budget_gives_unknown(void **state)
{
	struct chk_lin_budget small = {1000, (size_t)256 << 20};
	struct chk_lin_budget tiny_memo = {10000000, 4096};
	char *wide = wide_history(16), *narrow = wide_history(4);

	/* 2^16 subsets to rule out: past 1000 steps, UNKNOWN, not a guess */
	assert_int_equal(lin(wide, &small, NULL), CHK_UNKNOWN);
	assert_int_equal(lin(wide, &tiny_memo, NULL), CHK_UNKNOWN);
	/* the same shape, small enough for the budget, is decided */
	assert_int_equal(lin(narrow, &big, NULL), CHK_FAIL);
	free(wide);
	free(narrow);
}

static void lin_memo_keeps_wide_pass_fast(void **state)
{
	/* 16 concurrent writes then a read of one of them: linearizable, found
	 * without exploring every order */
	char *text = wide_history(16);
	char *read = strstr(text, "4242");
	struct chk_lin_budget b = {20000, (size_t)256 << 20};

	memcpy(read, "7   ", 4); /* read 7 (spaces are valid JSON) */
	assert_int_equal(lin(text, &b, NULL), CHK_PASS);
	free(text);
}

/* ---- writes: lost ---------------------------------------------------------- */

static void writes_parse(void **state)
{
	const char *text =
		"{\"client\":\"c1\",\"id\":1,\"route\":\"vip\",\"type\":\"ok\",\"epoch\":2,"
		"\"node\":\"backend-2\",\"t_start_ns\":10,\"t_end_ns\":20}\n"
		"{\"client\":3,\"id\":2,\"route\":\"haproxy\",\"type\":\"info\","
		"\"t_start_ns\":30,\"t_end_ns\":40}\n";
	const char *no_epoch = "{\"client\":\"c1\",\"id\":1,\"type\":\"ok\",\"node\":\"b\","
			       "\"t_start_ns\":10,\"t_end_ns\":20}\n";
	struct chk_writes w = {0};
	char errmsg[128];
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_int_equal(chk_writes_read(&w, f, errmsg, sizeof errmsg), 0);
	fclose(f);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.w[0].epoch, 2);
	assert_string_equal(w.w[0].node, "backend-2");
	assert_string_equal(w.w[1].client, "3");
	assert_string_equal(w.w[1].route, "haproxy");
	assert_int_equal(w.w[1].type, CHK_W_INFO);
	assert_int_equal(w.w[1].epoch, -1);
	f = fmemopen((void *)no_epoch, strlen(no_epoch), "r");
	assert_int_equal(chk_writes_read(&w, f, errmsg, sizeof errmsg), -EINVAL);
	fclose(f);
	assert_string_equal(errmsg, "line 1: an ok write needs \"epoch\" (>= 1) and \"node\"");
	chk_writes_free(&w);
}

static void writes_ids_duplicate(void **state)
{
	struct chk_write ws[] = {{.id = 3, .type = CHK_W_OK},
				 {.id = 1, .type = CHK_W_OK},
				 {.id = 2, .type = CHK_W_FAIL},
				 {.id = 2, .type = CHK_W_FAIL},
				 {.id = 3, .type = CHK_W_OK}};
	struct chk_writes w = {.w = ws, .n = 5};
	int64_t *ids = NULL, dup = 0;
	size_t n = 0;

	assert_int_equal(chk_writes_ids(&w, CHK_W_OK, &ids, &n, &dup), -EEXIST);
	assert_int_equal(dup, 3);
	assert_int_equal(chk_writes_ids(&w, CHK_W_FAIL, &ids, &n, &dup), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 2);
	free(ids);
}

static void lost_all_present_passes(void **state)
{
	int64_t acked[] = {1, 2, 3}, failed[] = {9}, l[] = {1, 2, 3, 4}, f[] = {1, 2, 3, 4};
	struct chk_lost_node nodes[] = {{.name = "b1", .leader = true, .ids = l, .n = 4},
					{.name = "b2", .ids = f, .n = 4}};

	assert_int_equal(chk_lost(acked, 3, failed, 1, nodes, 2, false), CHK_PASS);
	assert_int_equal(nodes[0].missing + nodes[1].missing, 0);
}

static void lost_missing_fails_or_counts(void **state)
{
	int64_t acked[] = {1, 2, 3, 4}, l[] = {1, 2, 4}, f1[] = {1, 2, 3, 4}, f2[] = {1, 2};
	struct chk_lost_node nodes[] = {{.name = "b1", .leader = true, .ids = l, .n = 3},
					{.name = "b2", .ids = f1, .n = 4},
					{.name = "b3", .ids = f2, .n = 2}};

	assert_int_equal(chk_lost(acked, 4, NULL, 0, nodes, 3, false), CHK_FAIL);
	assert_int_equal(nodes[0].missing, 1);
	assert_int_equal(nodes[0].shown[0], 3);
	assert_int_equal(nodes[1].missing, 0);
	assert_int_equal(nodes[1].divergent, 1); /* b2 has 3, the leader has not */
	/* async: missing rows are counted, not failed; without b2's divergence
	 * it passes */
	nodes[1].n = 2;
	assert_int_equal(chk_lost(acked, 4, NULL, 0, nodes, 3, true), CHK_PASS);
	assert_int_equal(nodes[0].missing, 1);
	assert_int_equal(nodes[2].missing, 2);
	assert_int_equal(nodes[2].n_shown, 2);
	assert_int_equal(nodes[2].shown[1], 4);
	assert_int_equal(chk_lost(acked, 4, NULL, 0, nodes, 3, false), CHK_FAIL);
}

static void lost_divergent_or_phantom_fails_even_async(void **state)
{
	int64_t acked[] = {1}, failed[] = {5}, l[] = {1}, f[] = {1, 7}, p[] = {1, 5};
	struct chk_lost_node nodes[] = {{.name = "b1", .leader = true, .ids = l, .n = 1},
					{.name = "b2", .ids = f, .n = 2}};

	assert_int_equal(chk_lost(acked, 1, failed, 1, nodes, 2, true), CHK_FAIL);
	assert_int_equal(nodes[1].divergent, 1);
	nodes[1].ids = p;
	assert_int_equal(chk_lost(acked, 1, failed, 1, nodes, 2, true), CHK_FAIL);
	assert_int_equal(nodes[1].phantom, 1);
	assert_int_equal(nodes[1].divergent, 1); /* 5 is not on the leader either */
	nodes[1].ids = l;
	nodes[1].n = 1;
	assert_int_equal(chk_lost(acked, 1, failed, 1, nodes, 2, true), CHK_PASS);
}

/* ---- split brain -------------------------------------------------------------- */

static struct chk_write ok_write(int64_t id, int64_t epoch, const char *node, int64_t start,
				 int64_t end)
{
	struct chk_write w = {.id = id, .type = CHK_W_OK, .epoch = epoch};

	snprintf(w.node, sizeof w.node, "%s", node);
	w.start_ns = start;
	w.end_ns = end;
	w.line = (unsigned long)id;
	return w;
}

static void split_clean_failover_passes(void **state)
{
	struct chk_write ws[] = {
		ok_write(1, 1, "b1", 0, 10),
		ok_write(2, 1, "b1", 20, 30),
		/* concurrent with the failover: either epoch may land */
		ok_write(3, 2, "b2", 35, 60),
		ok_write(4, 1, "b1", 40, 50),
		{.id = 5, .type = CHK_W_INFO, .epoch = -1, .start_ns = 41, .end_ns = 1000},
		ok_write(6, 2, "b2", 70, 80),
		/* windows that touch count as concurrent */
		ok_write(7, 3, "b1", 90, 100),
		ok_write(8, 2, "b2", 100, 110),
		/* the same node may lead again under a new epoch */
		ok_write(9, 4, "b2", 200, 210)};
	struct chk_writes w = {.w = ws, .n = sizeof ws / sizeof ws[0]};
	struct chk_split_result r;

	assert_int_equal(chk_split(&w, &r), 0);
	assert_int_equal(r.verdict, CHK_PASS);
	assert_int_equal(r.n_ok, 8);
	assert_int_equal(r.n_epochs, 4);
	assert_int_equal(r.violations, 0);
}

static void split_epoch_going_back_fails(void **state)
{
	/* epoch 2 acknowledged at 30; a write sent at 40 lands on epoch 1's
	 * primary: the old primary still accepts writes */
	struct chk_write ws[] = {ok_write(1, 1, "b1", 0, 10), ok_write(2, 2, "b2", 20, 30),
				 ok_write(3, 1, "b1", 40, 50), ok_write(4, 2, "b2", 45, 55)};
	struct chk_writes w = {.w = ws, .n = 4};
	struct chk_split_result r;

	assert_int_equal(chk_split(&w, &r), 0);
	assert_int_equal(r.verdict, CHK_FAIL);
	assert_int_equal(r.rule, CHK_SPLIT_REAL_TIME);
	assert_int_equal(r.a, 1);
	assert_int_equal(r.b, 2);
	assert_int_equal(r.violations, 1);
}

static void split_one_epoch_two_nodes_fails(void **state)
{
	struct chk_write ws[] = {ok_write(1, 1, "b1", 0, 10), ok_write(2, 2, "b2", 20, 30),
				 ok_write(3, 2, "b3", 20, 31), ok_write(4, 3, "b3", 40, 50)};
	struct chk_writes w = {.w = ws, .n = 4};
	struct chk_split_result r;

	assert_int_equal(chk_split(&w, &r), 0);
	assert_int_equal(r.verdict, CHK_FAIL);
	assert_int_equal(r.rule, CHK_SPLIT_EPOCH_NODE);
	assert_int_equal(r.a, 1);
	assert_int_equal(r.b, 2);
}

/* ---- recovery ---------------------------------------------------------------- */

#define NODE(n, role, ep, st, lag)                                                                 \
	"{\"node\":\"" n "\",\"role\":\"" role "\",\"epoch\":" #ep ",\"streaming\":" #st           \
	",\"lag_bytes\":" #lag "}"
#define GOOD NODE("b1", "leader", 2, false, 0) "," NODE("b2", "follower", 2, true, 0)
#define SAMPLE(t, nodes) "{\"t_ns\":" #t ",\"nodes\":[" nodes "]}\n"
#define MS 1000000LL

static void samples_parse(const char *text, struct chk_samples *s)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	char errmsg[128];

	assert_non_null(f);
	memset(s, 0, sizeof *s);
	assert_int_equal(chk_samples_read(s, f, errmsg, sizeof errmsg), 0);
	fclose(f);
}

static enum chk_verdict recovery(const char *text, int64_t heal, int64_t bound,
				 int64_t *ret_recovered)
{
	struct chk_recovery_opts o = {.heal_ns = heal, .bound_ns = bound, .max_lag_bytes = 1000};
	struct chk_recovery_result r;
	struct chk_samples s;

	samples_parse(text, &s);
	chk_recovery(&s, &o, &r);
	chk_samples_free(&s);
	if (ret_recovered != NULL)
		*ret_recovered = r.recovered_ns;
	return r.verdict;
}

static void recovery_within_bound_passes(void **state)
{
	const char *text = SAMPLE(0, GOOD) SAMPLE(1000000000, NODE("b1", "leader", 2, false, 0))
		SAMPLE(2000000000,
		       NODE("b1", "waiting", 2, false, 0) "," NODE("b2", "promoting", 3, false, 0))
			SAMPLE(3000000000, GOOD) SAMPLE(4000000000, GOOD);
	int64_t rec;

	/* heal at 1.5 s; settled at 3 s: 1.5 s */
	assert_int_equal(recovery(text, 1500 * MS, 2000 * MS, &rec), CHK_PASS);
	assert_int_equal(rec, 1500 * MS);
	assert_int_equal(recovery(text, 1500 * MS, 1000 * MS, &rec), CHK_FAIL);
	assert_int_equal(rec, 1500 * MS);
}

static void recovery_flap_is_timed_to_settling(void **state)
{
	const char *text = SAMPLE(1000000000, GOOD)
		SAMPLE(2000000000,
		       NODE("b1", "leader", 2, false, 0) "," NODE("b2", "follower", 2, false, 0))
			SAMPLE(3000000000, GOOD) SAMPLE(4000000000, GOOD);
	int64_t rec;

	assert_int_equal(recovery(text, 500 * MS, 10000 * MS, &rec), CHK_PASS);
	assert_int_equal(rec, 2500 * MS);
}

static void recovery_never_fails_or_unknown(void **state)
{
	const char *two_leaders = SAMPLE(1000000000, GOOD)
		SAMPLE(5000000000,
		       NODE("b1", "leader", 2, false, 0) "," NODE("b2", "leader", 3, false, 0));
#define LAGGING NODE("b1", "leader", 2, false, 0) "," NODE("b2", "follower", 2, true, 5000)
#define OLD_EPOCH NODE("b1", "leader", 3, false, 0) "," NODE("b2", "follower", 2, true, 0)
	/* each unrecovered from 1 s to 5 s, the bound 3 s */
	const char *lagging = SAMPLE(1000000000, LAGGING) SAMPLE(5000000000, LAGGING);
	const char *old_epoch = SAMPLE(1000000000, OLD_EPOCH) SAMPLE(5000000000, OLD_EPOCH);
	const char *missing_node = SAMPLE(1000000000, GOOD "," NODE("b3", "follower", 2, true, 0))
		SAMPLE(5000000000, GOOD);
	int64_t rec;

	assert_int_equal(recovery(two_leaders, 0, 3000 * MS, &rec), CHK_FAIL);
	assert_int_equal(rec, -1);
	assert_int_equal(recovery(lagging, 0, 3000 * MS, NULL), CHK_FAIL);
	assert_int_equal(recovery(old_epoch, 0, 3000 * MS, NULL), CHK_FAIL);
	assert_int_equal(recovery(missing_node, 0, 3000 * MS, NULL), CHK_FAIL);
	/* samples that end before the bound, unrecovered: cannot tell */
	assert_int_equal(recovery(two_leaders, 0, 10000 * MS, NULL), CHK_UNKNOWN);
	/* no sample after the heal */
	assert_int_equal(recovery(two_leaders, 6000 * MS, 1000 * MS, NULL), CHK_UNKNOWN);
}

static void recovery_says_why(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{SAMPLE(0, NODE("b1", "leader", 2, false, 0) "," NODE("b2", "leader", 3, false, 0)),
		 "two leaders: b1 and b2"},
		{SAMPLE(0, NODE("b1", "waiting", 2, false, 0)), "no leader"},
		{SAMPLE(0,
			NODE("b1", "leader", 2, false, 0) "," NODE("b2", "deposed", 1, false, 0)),
		 "b2 is deposed, not streaming"},
		{SAMPLE(0,
			NODE("b1", "leader", 3, false, 0) "," NODE("b2", "follower", 2, true, 0)),
		 "b2 follows epoch 2, the leader's is 3"},
		{SAMPLE(0, NODE("b1", "leader", 2, false, 0) "," NODE("b2", "follower", 2, true,
								      5000)),
		 "b2 lags 5000 bytes"},
		{SAMPLE(0, NODE("b1", "leader", 2, false, 0)), "1 of 2 nodes answered"},
	};
	struct chk_recovery_opts o = {.max_lag_bytes = 1000};
	struct chk_samples s;
	char why[128];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		samples_parse(cases[i].text, &s);
		assert_false(chk_sample_recovered(&s.s[0], &o, 2, why, sizeof why));
		assert_string_equal(why, cases[i].why);
		chk_samples_free(&s);
	}
	samples_parse(SAMPLE(0, GOOD), &s);
	assert_true(chk_sample_recovered(&s.s[0], &o, 2, why, sizeof why));
	chk_samples_free(&s);
}

static void schedule_heal_time(void **state)
{
	const char *ok =
		"{\"t_ns\":100,\"fault\":\"partition\",\"target\":\"b1\",\"phase\":\"start\"}\n"
		"{\"t_ns\":150,\"fault\":\"kill\",\"target\":\"b2\",\"phase\":\"start\"}\n"
		"{\"t_ns\":300,\"fault\":\"partition\",\"target\":\"b1\",\"phase\":\"end\"}\n"
		"{\"t_ns\":250,\"fault\":\"kill\",\"target\":\"b2\",\"phase\":\"end\"}\n";
	const char *open =
		"{\"t_ns\":100,\"fault\":\"partition\",\"target\":\"b1\",\"phase\":\"start\"}\n";
	const char *orphan =
		"{\"t_ns\":100,\"fault\":\"pause\",\"target\":\"b1\",\"phase\":\"end\"}\n";
	char errmsg[128];
	int64_t heal = 0;
	FILE *f;

	f = fmemopen((void *)ok, strlen(ok), "r");
	assert_int_equal(chk_schedule_heal(f, &heal, errmsg, sizeof errmsg), 0);
	fclose(f);
	assert_int_equal(heal, 300);
	f = fmemopen((void *)open, strlen(open), "r");
	assert_int_equal(chk_schedule_heal(f, &heal, errmsg, sizeof errmsg), -EINVAL);
	fclose(f);
	assert_string_equal(errmsg, "fault 'partition b1' never ends");
	f = fmemopen((void *)orphan, strlen(orphan), "r");
	assert_int_equal(chk_schedule_heal(f, &heal, errmsg, sizeof errmsg), -EINVAL);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kv_pairs_and_counts),
		cmocka_unit_test(kv_malformed),
		cmocka_unit_test(lin_sequential_and_concurrent_pass),
		cmocka_unit_test(lin_touching_ops_are_concurrent),
		cmocka_unit_test(lin_stale_read_fails),
		cmocka_unit_test(lin_lost_write_fails),
		cmocka_unit_test(lin_cas_twice_fails),
		cmocka_unit_test(lin_info_either_way),
		cmocka_unit_test(lin_budget_gives_unknown),
		cmocka_unit_test(lin_memo_keeps_wide_pass_fast),
		cmocka_unit_test(writes_parse),
		cmocka_unit_test(writes_ids_duplicate),
		cmocka_unit_test(lost_all_present_passes),
		cmocka_unit_test(lost_missing_fails_or_counts),
		cmocka_unit_test(lost_divergent_or_phantom_fails_even_async),
		cmocka_unit_test(split_clean_failover_passes),
		cmocka_unit_test(split_epoch_going_back_fails),
		cmocka_unit_test(split_one_epoch_two_nodes_fails),
		cmocka_unit_test(recovery_within_bound_passes),
		cmocka_unit_test(recovery_flap_is_timed_to_settling),
		cmocka_unit_test(recovery_never_fails_or_unknown),
		cmocka_unit_test(recovery_says_why),
		cmocka_unit_test(schedule_heal_time),
	};

	return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
