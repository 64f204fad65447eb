/*
 * The leader's lease clocks (lease.h): an unordered array of {id, deadline,
 * expiring}, searched linearly (a leader holds tens of leases, not
 * thousands). Every rule about time is in the helpers at the top; the rest
 * is bookkeeping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"

/* The last millisecond a clock started at `start` with `ttl` is valid:
 * start + ttl - 1, saturating; a TTL below 1 counts as 1 (the fsm holds
 * none: grants need ttl_ms > 0). */
static uint64_t last_valid_ms(uint64_t start, int64_t ttl_ms)
{
	uint64_t ttl = ttl_ms < 1 ? 1 : (uint64_t)ttl_ms;

	return start > UINT64_MAX - (ttl - 1) ? UINT64_MAX : start + (ttl - 1);
}

/* Due once now has passed the last valid millisecond. */
static bool is_due(const struct cns__lease *l, uint64_t now)
{
	return now > l->deadline_ms;
}

static struct cns__lease *find(const struct cns__lease_table *t, uint64_t id)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].id == id)
			return &t->v[i];
	return NULL;
}

static int add(struct cns__lease_table *t, uint64_t id, uint64_t deadline_ms)
{
	struct cns__lease *grown;

	if (t->n == t->cap) {
		unsigned cap = t->cap ? 2 * t->cap : 16;

		grown = realloc(t->v, cap * sizeof *grown);
		if (grown == NULL)
			return -ENOMEM;
		t->v = grown;
		t->cap = cap;
	}
	t->v[t->n++] = (struct cns__lease){.id = id, .deadline_ms = deadline_ms};
	return 0;
}

/* The last entry takes the removed one's place. */
static void remove_entry(struct cns__lease_table *t, struct cns__lease *l)
{
	*l = t->v[--t->n];
}

void cns__lease_init(struct cns__lease_table *t)
{
	memset(t, 0, sizeof *t);
}

void cns__lease_free(struct cns__lease_table *t)
{
	if (t == NULL)
		return;
	free(t->v);
	cns__lease_init(t);
}

void cns__lease_disarm(struct cns__lease_table *t)
{
	t->n = 0;
	t->armed = false;
	t->term = 0;
}

bool cns__lease_is_armed(const struct cns__lease_table *t)
{
	return t->armed;
}

bool cns__lease_armed_for(const struct cns__lease_table *t, uint64_t term)
{
	return t->armed && t->term == term;
}

int cns__lease_arm(struct cns__lease_table *t, const struct cns__fsm *f, uint64_t now,
		   uint64_t term)
{
	return cns__lease_arm_from(t, f, now, UINT64_MAX, now, term);
}

int cns__lease_arm_from(struct cns__lease_table *t, const struct cns__fsm *f, uint64_t base,
			uint64_t old_index, uint64_t now, uint64_t term)
{
	uint64_t id = 0;
	int64_t ttl;

	cns__lease_disarm(t);
	while (cns__fsm_lease_next(f, id, &id, &ttl)) {
		if (add(t, id, last_valid_ms(id <= old_index ? base : now, ttl)) != 0) {
			cns__lease_disarm(t);
			return -ENOMEM;
		}
	}
	t->armed = true;
	t->term = term;
	return 0;
}

int cns__lease_update(struct cns__lease_table *t, uint64_t id, const struct cns__fsm *f,
		      uint64_t now)
{
	struct cns__lease *l;
	int64_t ttl;

	if (!t->armed)
		return 0;
	l = find(t, id);
	if (cns__fsm_lease_ttl(f, id, &ttl) != 0) {
		if (l != NULL)
			remove_entry(t, l);
		return 0;
	}
	if (l != NULL)
		return 0;
	if (add(t, id, last_valid_ms(now, ttl)) != 0) {
		cns__lease_disarm(t);
		return -ENOMEM;
	}
	return 0;
}

int cns__lease_confirm_keepalive(struct cns__lease_table *t, uint64_t id, uint64_t arrived_ms,
				 int64_t ttl_ms)
{
	struct cns__lease *l = t->armed ? find(t, id) : NULL;
	uint64_t deadline;

	if (l == NULL || l->expiring)
		return -ENOENT;
	deadline = last_valid_ms(arrived_ms, ttl_ms);
	if (l->deadline_ms < deadline) /* never shortens */
		l->deadline_ms = deadline;
	return 0;
}

int cns__lease_time_left(const struct cns__lease_table *t, uint64_t id, uint64_t now,
			 uint64_t *ret_ms)
{
	const struct cns__lease *l = t->armed ? find(t, id) : NULL;

	if (l == NULL || l->expiring)
		return -ENOENT;
	*ret_ms = is_due(l, now) ? 0 : l->deadline_ms - now + 1;
	return 0;
}

void cns__lease_due(struct cns__lease_table *t, uint64_t now, cns__lease_due_cb cb, void *data)
{
	unsigned i;

	if (!t->armed)
		return;
	for (i = 0; i < t->n; i++) {
		struct cns__lease *l = &t->v[i];

		if (!l->expiring && is_due(l, now) && cb(data, l->id) == 0)
			l->expiring = true;
	}
}

uint64_t cns__lease_next_due(const struct cns__lease_table *t)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	if (!t->armed)
		return UINT64_MAX;
	for (i = 0; i < t->n; i++) {
		const struct cns__lease *l = &t->v[i];

		if (l->expiring || l->deadline_ms == UINT64_MAX)
			continue; /* never due */
		if (l->deadline_ms + 1 < next)
			next = l->deadline_ms + 1;
	}
	return next;
}
