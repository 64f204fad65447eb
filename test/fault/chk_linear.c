/*
 * Linearizability of one register's history: the search of Wing and Gong
 * ("Testing and verifying concurrent objects", 1993) with Lowe's memo of
 * configurations ("Testing for linearizability", 2017). Keys are checked
 * one at a time: linearizability is local (Herlihy and Wing, 1990), so a
 * history is linearizable iff each key's sub-history is.
 *
 * The history is a list of entries in time order: each op's call, and its
 * return (info ops have none: they may take effect at any time after their
 * call, or never). At equal times calls come first, so that ops that touch
 * are taken as concurrent: that can only hide a violation, never invent one.
 *
 * The search walks the list from its head. At a call it tries to take that
 * op as the next in the linearization: if the register allows it (a read
 * sees the current value, a cas finds its expected one) and the
 * configuration (set of ops taken, register value) was never reached before,
 * the op's call and return are lifted out of the list and the walk restarts
 * at the head. At a return, the op it completes was not taken although its
 * time is over: the last choice is undone (its entries go back, dancing-links
 * style, in reverse order of removal) and the walk goes on after that op's
 * call. The history is linearizable when the walk runs off the end of the
 * list (no return is left: every ok op is placed; info calls left behind
 * are ops that never took effect), and is not when a return is met with
 * nothing to undo.
 *
 * The memo makes the search visit each configuration once: at most
 * 2^n x values, in practice close to linear for histories with little
 * concurrency. Each visited entry is a step; past the budget's steps, or its
 * memo size, the answer is UNKNOWN, never a guess.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chk.h"

#define NIL SIZE_MAX

struct entry {
	size_t op;
	bool call;
	size_t match; /* call: its return entry, or NIL (info) */
	size_t prev, next;
};

/* A configuration already explored: the ops taken (bitmap) and the value. */
struct memo {
	uint64_t hash;
	int64_t value;
	size_t bits; /* offset of its bitmap in the word arena */
	size_t next; /* chain */
};

struct search {
	const struct chk_op *ops;
	size_t n, words;
	struct entry *e; /* 2n entries, then the head at e[2n] */
	size_t head;
	uint64_t *taken; /* bitmap of ops taken */
	uint64_t *zobrist;
	/* memo: chained hash table over an arena of bitmaps */
	size_t *buckets, n_buckets;
	struct memo *memo;
	size_t n_memo, cap_memo;
	uint64_t *arena;
	size_t n_arena, cap_arena;
	/* the stack of choices: call entry and the value before it */
	size_t *stack_entry;
	int64_t *stack_value;
	size_t depth;
};

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finaliser: a fixed, well-spread value per op index */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct event {
	int64_t t;
	bool call;
	size_t op;
};

static int cmp_event(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->call != b->call)
		return a->call ? -1 : 1;
	return (a->op > b->op) - (a->op < b->op);
}

/* The entry list in time order; calls before returns at equal times. */
static int build_list(struct search *s)
{
	struct event *ev = malloc((2 * s->n + 1) * sizeof *ev);
	size_t *call_of = malloc((s->n + 1) * sizeof *call_of);
	size_t i, m = 0, prev;

	if (ev == NULL || call_of == NULL) {
		free(ev);
		free(call_of);
		return -ENOMEM;
	}
	for (i = 0; i < s->n; i++) {
		ev[m++] = (struct event){.t = s->ops[i].call_ns, .call = true, .op = i};
		if (s->ops[i].ret_ns != CHK_NEVER)
			ev[m++] = (struct event){.t = s->ops[i].ret_ns, .call = false, .op = i};
	}
	qsort(ev, m, sizeof *ev, cmp_event);
	s->head = 2 * s->n;
	prev = s->head;
	for (i = 0; i < m; i++) {
		s->e[i] = (struct entry){.op = ev[i].op, .call = ev[i].call, .match = NIL};
		if (ev[i].call)
			call_of[ev[i].op] = i;
		else
			s->e[call_of[ev[i].op]].match = i;
		s->e[i].prev = prev;
		s->e[prev].next = i;
		prev = i;
	}
	s->e[prev].next = NIL;
	free(ev);
	free(call_of);
	return 0;
}

static void unlink_entry(struct search *s, size_t i)
{
	struct entry *x = &s->e[i];

	s->e[x->prev].next = x->next;
	if (x->next != NIL)
		s->e[x->next].prev = x->prev;
}

/* Put back an entry removed by unlink_entry (its own links are intact). */
static void relink_entry(struct search *s, size_t i)
{
	struct entry *x = &s->e[i];

	s->e[x->prev].next = i;
	if (x->next != NIL)
		s->e[x->next].prev = i;
}

static void lift(struct search *s, size_t call)
{
	unlink_entry(s, call);
	if (s->e[call].match != NIL)
		unlink_entry(s, s->e[call].match);
}

static void unlift(struct search *s, size_t call)
{
	if (s->e[call].match != NIL)
		relink_entry(s, s->e[call].match);
	relink_entry(s, call);
}

/* The register: may op run on value, and what does it leave? */
static bool model_step(const struct chk_op *op, int64_t value, int64_t *ret_value)
{
	switch (op->f) {
	case CHK_READ:
		*ret_value = value;
		return op->value == value;
	case CHK_WRITE:
		*ret_value = op->value;
		return true;
	default: /* CHK_CAS */
		*ret_value = op->value;
		return op->expect == value;
	}
}

static void toggle(struct search *s, size_t op, uint64_t *hash)
{
	s->taken[op / 64] ^= (uint64_t)1 << (op % 64);
	*hash ^= s->zobrist[op];
}

static int memo_grow(struct search *s)
{
	size_t nb = s->n_buckets ? 2 * s->n_buckets : 1024, i;
	size_t *b = malloc(nb * sizeof *b);

	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < nb; i++)
		b[i] = NIL;
	for (i = 0; i < s->n_memo; i++) {
		size_t at = s->memo[i].hash & (nb - 1);

		s->memo[i].next = b[at];
		b[at] = i;
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
	return 0;
}

static int push_back(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t c = *cap ? *cap : first;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*arr, c * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* Record (taken, value) with hash: 1 if new, 0 if already seen, -ENOMEM. */
static int memo_add(struct search *s, uint64_t hash, int64_t value)
{
	uint64_t h = hash ^ mix((uint64_t)value);
	size_t i, bytes = s->words * sizeof *s->arena;
	int rv;

	if (s->n_buckets > 0)
		for (i = s->buckets[h & (s->n_buckets - 1)]; i != NIL; i = s->memo[i].next)
			if (s->memo[i].hash == h && s->memo[i].value == value &&
			    memcmp(s->arena + s->memo[i].bits, s->taken, bytes) == 0)
				return 0;
	if (s->n_memo >= s->n_buckets && (rv = memo_grow(s)) != 0)
		return rv;
	if (push_back((void **)&s->memo, &s->cap_memo, s->n_memo + 1, sizeof *s->memo, 1024) != 0 ||
	    push_back((void **)&s->arena, &s->cap_arena, s->n_arena + s->words, sizeof *s->arena,
		      1024) != 0)
		return -ENOMEM;
	memcpy(s->arena + s->n_arena, s->taken, bytes);
	s->memo[s->n_memo] = (struct memo){.hash = h, .value = value, .bits = s->n_arena};
	s->memo[s->n_memo].next = s->buckets[h & (s->n_buckets - 1)];
	s->buckets[h & (s->n_buckets - 1)] = s->n_memo++;
	s->n_arena += s->words;
	return 1;
}

static size_t memo_bytes(const struct search *s)
{
	return s->cap_memo * sizeof *s->memo + s->cap_arena * sizeof *s->arena +
	       s->n_buckets * sizeof *s->buckets;
}

/* FAIL: keep the deepest partial linearization and the op it stuck at. */
static int note_stuck(struct search *s, size_t ret_entry, struct chk_lin_result *r)
{
	size_t i;

	if (r->prefix != NULL && s->depth <= r->n_prefix)
		return 0;
	free(r->prefix);
	r->prefix = malloc((s->depth + 1) * sizeof *r->prefix);
	if (r->prefix == NULL)
		return -ENOMEM;
	for (i = 0; i < s->depth; i++)
		r->prefix[i] = s->e[s->stack_entry[i]].op;
	r->n_prefix = s->depth;
	r->stuck = s->e[ret_entry].op;
	return 0;
}

/* The walk; sets r->verdict. 0 or -ENOMEM. */
static int walk(struct search *s, const struct chk_lin_budget *b, struct chk_lin_result *r)
{
	size_t at = s->e[s->head].next, top;
	int64_t value = CHK_ABSENT, next_value;
	uint64_t hash = 0;
	int rv;

	for (;;) {
		if (at == NIL) {
			r->verdict = CHK_PASS;
			return 0;
		}
		if (++r->steps > b->steps || memo_bytes(s) > b->cache_bytes) {
			r->verdict = CHK_UNKNOWN;
			return 0;
		}
		if (s->e[at].call) {
			const struct chk_op *op = &s->ops[s->e[at].op];

			if (model_step(op, value, &next_value)) {
				toggle(s, s->e[at].op, &hash);
				rv = memo_add(s, hash, next_value);
				if (rv < 0)
					return rv;
				if (rv == 1) {
					s->stack_entry[s->depth] = at;
					s->stack_value[s->depth++] = value;
					value = next_value;
					lift(s, at);
					at = s->e[s->head].next;
					continue;
				}
				toggle(s, s->e[at].op, &hash);
			}
			at = s->e[at].next;
			continue;
		}
		/* a return whose op is not taken: undo the last choice */
		if ((rv = note_stuck(s, at, r)) != 0)
			return rv;
		if (s->depth == 0) {
			r->verdict = CHK_FAIL;
			return 0;
		}
		top = s->stack_entry[--s->depth];
		value = s->stack_value[s->depth];
		unlift(s, top);
		toggle(s, s->e[top].op, &hash);
		at = s->e[top].next;
	}
}

static void search_free(struct search *s)
{
	free(s->e);
	free(s->taken);
	free(s->zobrist);
	free(s->buckets);
	free(s->memo);
	free(s->arena);
	free(s->stack_entry);
	free(s->stack_value);
}

int chk_linearize(const struct chk_op *ops, size_t n, const struct chk_lin_budget *budget,
		  struct chk_lin_result *ret)
{
	struct search s = {.ops = ops, .n = n, .words = n / 64 + 1};
	struct chk_lin_result r = {.verdict = CHK_UNKNOWN};
	size_t i;
	int rv = -ENOMEM;

	s.e = malloc((2 * n + 1) * sizeof *s.e);
	s.taken = calloc(s.words, sizeof *s.taken);
	s.zobrist = malloc((n + 1) * sizeof *s.zobrist);
	s.stack_entry = malloc((n + 1) * sizeof *s.stack_entry);
	s.stack_value = malloc((n + 1) * sizeof *s.stack_value);
	if (s.e == NULL || s.taken == NULL || s.zobrist == NULL || s.stack_entry == NULL ||
	    s.stack_value == NULL)
		goto out;
	for (i = 0; i < n; i++)
		s.zobrist[i] = mix(i + 1);
	rv = build_list(&s);
	if (rv == 0)
		rv = walk(&s, budget, &r);
	if (rv == 0 && r.verdict != CHK_FAIL) {
		free(r.prefix);
		r.prefix = NULL;
		r.n_prefix = 0;
	}
out:
	search_free(&s);
	if (rv != 0) {
		free(r.prefix);
		return rv;
	}
	*ret = r;
	return 0;
}

void chk_lin_result_free(struct chk_lin_result *r)
{
	if (r == NULL)
		return;
	free(r->prefix);
	r->prefix = NULL;
	r->n_prefix = 0;
}
