/*
 * The acknowledged-id file (one decimal id per line, written as each commit
 * is acknowledged) and the comparison with the ids a table holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pgw.h"

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

size_t pgw_ids_normalize(int64_t *ids, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof *ids, cmp_id);
	for (i = 1; i < n; i++)
		if (ids[i] != ids[out])
			ids[++out] = ids[i];
	return out + 1;
}

/* One line: blank (1: skip), an id (0), or malformed (-EINVAL). */
static int parse_line(const char *line, int64_t *ret)
{
	char *end;
	long long v;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\n' || *line == '\0')
		return 1;
	errno = 0;
	v = strtoll(line, &end, 10);
	if (errno != 0 || end == line)
		return -EINVAL;
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (*end != '\n' && *end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int push(int64_t **ids, size_t *n, size_t *cap, int64_t v)
{
	int64_t *p;

	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		p = realloc(*ids, *cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		*ids = p;
	}
	(*ids)[(*n)++] = v;
	return 0;
}

int pgw_ids_read(FILE *f, int64_t **ret_ids, size_t *ret_n, char *errmsg, size_t errmsg_size)
{
	char line[128];
	int64_t *ids = NULL, v;
	size_t n = 0, cap = 0;
	unsigned long lineno = 0;
	int rv = 0;

	while (rv == 0 && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		rv = parse_line(line, &v);
		if (rv == 1) {
			rv = 0;
			continue;
		}
		if (rv == 0)
			rv = push(&ids, &n, &cap, v);
		else
			bs_errf(errmsg, errmsg_size, "line %lu: not an id: %.40s", lineno, line);
	}
	if (rv == 0 && ferror(f)) {
		rv = -EIO;
		bs_errf(errmsg, errmsg_size, "read error after line %lu", lineno);
	}
	if (rv != 0) {
		free(ids);
		return rv;
	}
	*ret_n = pgw_ids_normalize(ids, n);
	*ret_ids = ids;
	return 0;
}

size_t pgw_ids_compare(const int64_t *acked, size_t n_acked, const int64_t *present,
		       size_t n_present, int64_t *lost, size_t max_lost, size_t *ret_extra)
{
	size_t i = 0, j = 0, n_lost = 0, extra = 0;

	while (i < n_acked || j < n_present) {
		if (j == n_present || (i < n_acked && acked[i] < present[j])) {
			if (n_lost < max_lost)
				lost[n_lost] = acked[i];
			n_lost++;
			i++;
		} else if (i == n_acked || present[j] < acked[i]) {
			extra++;
			j++;
		} else {
			i++;
			j++;
		}
	}
	if (ret_extra != NULL)
		*ret_extra = extra;
	return n_lost;
}
