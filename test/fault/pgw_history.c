/*
 * pgwrite --history: the outcome of each write and its JSON line, the
 * format of test/fault/README.md ("PostgreSQL write history"). Pure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pgw.h"

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("_.:-", ch) != NULL;
}

bool pgw_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

const char *pgw_outcome(int rv, bool stmt_error)
{
	if (rv == 0)
		return "ok";
	return rv == -EIO && stmt_error ? "fail" : "info";
}

int pgw_history_line(char *buf, size_t size, const char *client, const char *route, int64_t id,
		     const char *type, int64_t epoch, const char *node, uint64_t t_start_ns,
		     uint64_t t_end_ns)
{
	char safe[64];
	size_t i;
	int n;

	for (i = 0; node != NULL && node[i] != '\0' && i < sizeof safe - 1; i++)
		safe[i] = name_char(node[i]) ? node[i] : '?';
	safe[i] = '\0';
	if (strcmp(type, "ok") == 0)
		n = snprintf(buf, size,
			     "{\"client\":\"%s\",\"id\":%" PRId64
			     ",\"route\":\"%s\",\"type\":\"ok\","
			     "\"epoch\":%" PRId64 ",\"node\":\"%s\",\"t_start_ns\":%" PRIu64
			     ",\"t_end_ns\":%" PRIu64 "}\n",
			     client, id, route, epoch, safe, t_start_ns, t_end_ns);
	else
		n = snprintf(buf, size,
			     "{\"client\":\"%s\",\"id\":%" PRId64
			     ",\"route\":\"%s\",\"type\":\"%s\","
			     "\"t_start_ns\":%" PRIu64 ",\"t_end_ns\":%" PRIu64 "}\n",
			     client, id, route, type, t_start_ns, t_end_ns);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}
