/*
 * Quorum commit: how many standbys must confirm a commit, and the
 * synchronous_standby_names that says so. Pure.
 *
 * A commit acknowledged by the primary and k standbys exists on k + 1
 * nodes. The leader module promotes the most advanced node of a Raft
 * majority (floor(n/2) + 1 voters); that majority holds a copy whenever
 * k + 1 + floor(n/2) + 1 > n, so k = n - floor(n/2) - 1 is the smallest k
 * that loses no acknowledged commit: 0 for 1 or 2 voters, 1 for 3 or 4, 2
 * for 5 or 6, 3 for 7.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pgctl_internal.h"

unsigned pgc_quorum_k(unsigned n_voters)
{
	if (n_voters == 0)
		return 0;
	return n_voters - n_voters / 2 - 1;
}

/* Append s; -ENOSPC when it does not fit (with its NUL). */
static int append(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > size)
		return -ENOSPC;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* "name", with '"' doubled. */
static int append_quoted(char *buf, size_t size, size_t *len, const char *name)
{
	int rv = append(buf, size, len, "\"", 1);

	for (; rv == 0 && *name != '\0'; name++) {
		if (*name == '"')
			rv = append(buf, size, len, "\"", 1);
		if (rv == 0)
			rv = append(buf, size, len, name, 1);
	}
	if (rv == 0)
		rv = append(buf, size, len, "\"", 1);
	return rv;
}

static bool names_ok(const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (names[i] == NULL || names[i][0] == '\0' ||
		    strnlen(names[i], PGC_NAME_MAX) >= PGC_NAME_MAX)
			return false;
	}
	return true;
}

int pgc_sync_names(const char *const *names, size_t n, unsigned k, char *buf, size_t size)
{
	char head[32];
	size_t len = 0, i;
	int rv;

	if (size > 0)
		buf[0] = '\0';
	if (k > n || !names_ok(names, n))
		return -EINVAL;
	if (size == 0)
		return -ENOSPC;
	if (k == 0)
		return 0;
	snprintf(head, sizeof head, "ANY %u (", k);
	rv = append(buf, size, &len, head, strlen(head));
	for (i = 0; rv == 0 && i < n; i++) {
		if (i > 0)
			rv = append(buf, size, &len, ", ", 2);
		if (rv == 0)
			rv = append_quoted(buf, size, &len, names[i]);
	}
	if (rv == 0)
		rv = append(buf, size, &len, ")", 1);
	if (rv != 0)
		buf[0] = '\0';
	return rv;
}
