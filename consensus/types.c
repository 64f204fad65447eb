/* Destructors of the value types that consensus/ files hand each other. */
#include <stdlib.h>

#include "internal.h"

void cns__snapshot_free(struct cns__snapshot *snapshot)
{
	if (snapshot == NULL)
		return;
	free(snapshot->conf.base);
	free(snapshot->data.base);
	free(snapshot);
}

static void entries_free(struct cns__entry *entries, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		free(entries[i].buf.base);
	free(entries);
}

void cns__persist_free(struct cns__persist *persist)
{
	if (persist == NULL)
		return;
	cns__snapshot_free(persist->snapshot);
	entries_free(persist->entries, persist->n_entries);
	free(persist);
}

void cns__loaded_free(struct cns__loaded *loaded)
{
	if (loaded == NULL)
		return;
	cns__snapshot_free(loaded->snapshot);
	entries_free(loaded->entries, loaded->n_entries);
	free(loaded);
}
