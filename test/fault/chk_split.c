/*
 * Split brain: at no moment may two primaries accept writes. The clients
 * cannot see primaries, but each acknowledged write carries the epoch and
 * node the primary that committed it had recorded in backstay_epoch (read in
 * the write's own transaction), and its real-time window [t_start, t_end]
 * on the clients' shared clock. Two rules follow:
 *
 * 1. One epoch, one node. An epoch is handed out once, by a Raft-committed
 *    increment of pg/epoch, to one acquirer (docs/leader.md §2): two nodes
 *    committing rows under one epoch are two primaries that both believe
 *    they hold the same lease.
 *
 * 2. Epochs never go back in real time: for ok writes a and b with
 *    a.t_end < b.t_start (a was acknowledged before b was sent),
 *    a.epoch <= b.epoch. Why: b was committed inside [b.t_start, b.t_end],
 *    after a was committed by the primary of epoch a.epoch. A primary of an
 *    older epoch b.epoch < a.epoch took b, so it accepted writes after a
 *    newer primary had begun to: either both were writable at once, or a
 *    deposed primary came back under its old epoch without fencing. Each is
 *    the split brain the lease rules out (docs/leader.md §4). The strict <
 *    (touching windows count as concurrent) and concurrent writes (which may
 *    straddle a failover in either order) can hide a violation, never
 *    invent one.
 *
 * Rule 2 by a sweep: writes by t_start, and a pointer over writes by t_end
 * carrying the highest epoch acknowledged so far; O(n log n).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chk.h"

static int cmp_epoch(const void *pa, const void *pb, void *ctx)
{
	const struct chk_write *w = ctx;
	const struct chk_write *a = &w[*(const size_t *)pa];
	const struct chk_write *b = &w[*(const size_t *)pb];

	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	return (a->line > b->line) - (a->line < b->line);
}

static int cmp_start(const void *pa, const void *pb, void *ctx)
{
	const struct chk_write *w = ctx;
	const struct chk_write *a = &w[*(const size_t *)pa];
	const struct chk_write *b = &w[*(const size_t *)pb];

	return (a->start_ns > b->start_ns) - (a->start_ns < b->start_ns);
}

static int cmp_end(const void *pa, const void *pb, void *ctx)
{
	const struct chk_write *w = ctx;
	const struct chk_write *a = &w[*(const size_t *)pa];
	const struct chk_write *b = &w[*(const size_t *)pb];

	return (a->end_ns > b->end_ns) - (a->end_ns < b->end_ns);
}

static void violation(struct chk_split_result *r, enum chk_split_rule rule, size_t a, size_t b)
{
	if (r->violations++ == 0) {
		r->rule = rule;
		r->a = a;
		r->b = b;
	}
}

/* Rule 1 over ok writes sorted by epoch. */
static void epoch_node(const struct chk_write *w, const size_t *ix, size_t n,
		       struct chk_split_result *r)
{
	size_t i, first = 0;

	for (i = 0; i < n; i++) {
		if (i == 0 || w[ix[i]].epoch != w[ix[first]].epoch) {
			first = i;
			r->n_epochs++;
		} else if (strcmp(w[ix[i]].node, w[ix[first]].node) != 0) {
			violation(r, CHK_SPLIT_EPOCH_NODE, ix[first], ix[i]);
		}
	}
}

/* Rule 2: by_start and by_end hold the same ok writes in both orders. */
static void real_time(const struct chk_write *w, const size_t *by_start, const size_t *by_end,
		      size_t n, struct chk_split_result *r)
{
	size_t i, p = 0, max_at = 0;
	bool any = false;

	for (i = 0; i < n; i++) {
		const struct chk_write *b = &w[by_start[i]];

		for (; p < n && w[by_end[p]].end_ns < b->start_ns; p++)
			if (!any || w[by_end[p]].epoch > w[max_at].epoch) {
				max_at = by_end[p];
				any = true;
			}
		if (any && w[max_at].epoch > b->epoch)
			violation(r, CHK_SPLIT_REAL_TIME, max_at, by_start[i]);
	}
}

int chk_split(const struct chk_writes *w, struct chk_split_result *ret)
{
	struct chk_split_result r = {.verdict = CHK_PASS};
	size_t *by_epoch = malloc((w->n + 1) * sizeof *by_epoch);
	size_t *by_start = malloc((w->n + 1) * sizeof *by_start);
	size_t *by_end = malloc((w->n + 1) * sizeof *by_end);
	size_t i;

	if (by_epoch == NULL || by_start == NULL || by_end == NULL) {
		free(by_epoch);
		free(by_start);
		free(by_end);
		return -ENOMEM;
	}
	for (i = 0; i < w->n; i++)
		if (w->w[i].type == CHK_W_OK)
			by_epoch[r.n_ok++] = i;
	memcpy(by_start, by_epoch, r.n_ok * sizeof *by_start);
	memcpy(by_end, by_epoch, r.n_ok * sizeof *by_end);
	qsort_r(by_epoch, r.n_ok, sizeof *by_epoch, cmp_epoch, w->w);
	qsort_r(by_start, r.n_ok, sizeof *by_start, cmp_start, w->w);
	qsort_r(by_end, r.n_ok, sizeof *by_end, cmp_end, w->w);
	epoch_node(w->w, by_epoch, r.n_ok, &r);
	real_time(w->w, by_start, by_end, r.n_ok, &r);
	if (r.violations > 0)
		r.verdict = CHK_FAIL;
	free(by_epoch);
	free(by_start);
	free(by_end);
	*ret = r;
	return 0;
}
