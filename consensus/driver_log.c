/*
 * The driver's in-memory log cache: entries [first, first + n) with their
 * own malloc'd buffers. Committed entries are applied from here (they can be
 * committed before they are durable locally) and outgoing AppendEntries are
 * filled from here, so the store is read only at start-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver_internal.h"

void cns__log_init(struct cns__log *log, uint64_t first)
{
	memset(log, 0, sizeof *log);
	log->first = first;
}

static void entry_clear(struct cns__entry *e)
{
	free(e->buf.base);
	e->buf.base = NULL;
	e->buf.len = 0;
}

void cns__log_close(struct cns__log *log)
{
	cns__log_truncate(log, log->first);
	free(log->entries);
	log->entries = NULL;
	log->cap = 0;
}

/* Reset to an empty log whose next entry is `first` (snapshot install). */
void cns__log_reset(struct cns__log *log, uint64_t first)
{
	cns__log_truncate(log, log->first);
	log->first = first;
}

uint64_t cns__log_last(const struct cns__log *log)
{
	return log->first + log->n - 1;
}

const struct cns__entry *cns__log_get(const struct cns__log *log, uint64_t index)
{
	if (index < log->first || index >= log->first + log->n)
		return NULL;
	return &log->entries[index - log->first];
}

/* Delete entries with index >= from. */
void cns__log_truncate(struct cns__log *log, uint64_t from)
{
	if (from < log->first)
		from = log->first;
	while (log->first + log->n > from) {
		log->n--;
		entry_clear(&log->entries[log->n]);
	}
}

/* Delete entries with index <= upto. */
void cns__log_compact(struct cns__log *log, uint64_t upto)
{
	unsigned drop, i;

	if (upto < log->first)
		return;
	drop = upto - log->first + 1 > log->n ? log->n : (unsigned)(upto - log->first + 1);
	for (i = 0; i < drop; i++)
		entry_clear(&log->entries[i]);
	memmove(log->entries, log->entries + drop, (log->n - drop) * sizeof *log->entries);
	log->n -= drop;
	log->first += drop;
}

static int log_reserve(struct cns__log *log)
{
	struct cns__entry *grown;
	unsigned cap;

	if (log->n < log->cap)
		return 0;
	cap = log->cap ? 2 * log->cap : 64;
	grown = realloc(log->entries, cap * sizeof *grown);
	if (grown == NULL)
		return -ENOMEM;
	log->entries = grown;
	log->cap = cap;
	return 0;
}

/* Append a copy of (term, type, bytes) at the end. 0 or -ENOMEM. */
int cns__log_append(struct cns__log *log, uint64_t term, unsigned short type, const void *base,
		    size_t len)
{
	struct cns__entry *e;
	int rv = log_reserve(log);

	if (rv != 0)
		return rv;
	e = &log->entries[log->n];
	e->buf.base = malloc(len > 0 ? len : 1);
	if (e->buf.base == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(e->buf.base, base, len);
	e->buf.len = len;
	e->term = term;
	e->type = type;
	log->n++;
	return 0;
}

/* Append, taking ownership of e's buffer (start-up from the store). */
int cns__log_append_owned(struct cns__log *log, struct cns__entry *e)
{
	int rv = log_reserve(log);

	if (rv != 0)
		return rv;
	log->entries[log->n++] = *e;
	e->buf.base = NULL;
	e->buf.len = 0;
	return 0;
}

/* Fill a raft_entry array (caller's, n long) with entries [from, from+n)
 * pointing into the cache (borrowed; valid until the cache changes).
 * -ENOENT when the cache does not hold them all. */
int cns__log_borrow(const struct cns__log *log, uint64_t from, unsigned n,
		    struct raft_entry *ret_entries)
{
	unsigned i;

	if (n == 0)
		return 0;
	if (from < log->first || from + n > log->first + log->n)
		return -ENOENT;
	for (i = 0; i < n; i++) {
		const struct cns__entry *e = &log->entries[from - log->first + i];

		ret_entries[i].term = e->term;
		ret_entries[i].type = (enum raft_entry_type)e->type;
		ret_entries[i].buf = e->buf;
		ret_entries[i].batch = NULL;
	}
	return 0;
}
