/*
 * The simulated disk: what a node keeps across a crash. A persist request
 * becomes durable, atomically, when its write completes; requests complete
 * in order (as the LMDB writer guarantees).
 */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static void *dup_bytes(const void *base, size_t len)
{
	void *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, base, len);
	return p;
}

static struct cns__snapshot *snapshot_copy(const struct cns__snapshot *s)
{
	struct cns__snapshot *c = calloc(1, sizeof *c);

	if (c == NULL)
		abort();
	*c = *s;
	c->conf.base = dup_bytes(s->conf.base, s->conf.len);
	c->data.base = dup_bytes(s->data.base, s->data.len);
	return c;
}

static void disk_truncate(struct sim_disk *disk, uint64_t from)
{
	while (disk->n > 0 && disk->first + disk->n > from)
		free(disk->entries[--disk->n].buf.base);
}

static void disk_compact(struct sim_disk *disk, uint64_t upto)
{
	unsigned drop = 0, i;

	while (drop < disk->n && disk->first + drop <= upto)
		drop++;
	for (i = 0; i < drop; i++)
		free(disk->entries[i].buf.base);
	memmove(disk->entries, disk->entries + drop, (disk->n - drop) * sizeof *disk->entries);
	disk->n -= drop;
	disk->first += drop;
}

/* Returns false when the request breaks the log's contiguity. */
static bool disk_append(struct sim_disk *disk, const struct cns__persist *p)
{
	unsigned i;

	if (disk->n == 0)
		disk->first = p->first_index;
	if (p->first_index != disk->first + disk->n)
		return false;
	if (disk->n + p->n_entries > disk->cap) {
		disk->cap = (disk->n + p->n_entries) * 2;
		disk->entries = realloc(disk->entries, disk->cap * sizeof *disk->entries);
		if (disk->entries == NULL)
			abort();
	}
	for (i = 0; i < p->n_entries; i++) {
		disk->entries[disk->n] = p->entries[i];
		disk->entries[disk->n].buf.base =
			dup_bytes(p->entries[i].buf.base, p->entries[i].buf.len);
		disk->n++;
	}
	return true;
}

bool sim_disk_apply(struct sim_disk *disk, const struct cns__persist *p)
{
	if (p->has_term_vote) {
		disk->term = p->term;
		disk->vote = p->vote;
	}
	if (p->snapshot != NULL) {
		cns__snapshot_free(disk->snap);
		disk->snap = snapshot_copy(p->snapshot);
		if (p->drop_log) {
			disk_truncate(disk, 0);
			disk->first = p->snapshot->index + 1;
		}
	}
	if (p->compact_upto > 0)
		disk_compact(disk, p->compact_upto);
	if (p->truncate_from > 0)
		disk_truncate(disk, p->truncate_from);
	return p->n_entries == 0 || disk_append(disk, p);
}

struct cns__loaded *sim_disk_load(const struct sim_disk *disk)
{
	struct cns__loaded *l = calloc(1, sizeof *l);
	unsigned i;

	if (l == NULL)
		abort();
	l->term = disk->term;
	l->vote = disk->vote;
	l->snapshot = disk->snap ? snapshot_copy(disk->snap) : NULL;
	l->start_index = disk->n ? disk->first : 1;
	l->n_entries = disk->n;
	l->entries = calloc(disk->n ? disk->n : 1, sizeof *l->entries);
	if (l->entries == NULL)
		abort();
	for (i = 0; i < disk->n; i++) {
		l->entries[i] = disk->entries[i];
		l->entries[i].buf.base =
			dup_bytes(disk->entries[i].buf.base, disk->entries[i].buf.len);
	}
	return l;
}

void sim_disk_free(struct sim_disk *disk)
{
	disk_truncate(disk, 0);
	free(disk->entries);
	cns__snapshot_free(disk->snap);
	memset(disk, 0, sizeof *disk);
}
