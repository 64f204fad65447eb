/*
 * What PostgreSQL and its tools print, read back: pg_lsn text, and the
 * progress reports of pg_basebackup -P and pg_rewind --progress. Pure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pgctl_internal.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 to 8 hex digits at *s; *s moves past them. */
static int hex32(const char **s, uint32_t *ret)
{
	uint32_t v = 0;
	int n = 0, d;

	while ((d = hex_digit(**s)) >= 0) {
		if (++n > 8)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
		(*s)++;
	}
	if (n == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int pgc_lsn_parse(const char *text, uint64_t *ret_lsn)
{
	uint32_t hi, lo;
	const char *s = text;

	if (s == NULL || hex32(&s, &hi) != 0 || *s++ != '/' || hex32(&s, &lo) != 0 || *s != '\0')
		return -EINVAL;
	*ret_lsn = (uint64_t)hi << 32 | lo;
	return 0;
}

void pgc_lsn_format(uint64_t lsn, char buf[PGC_LSN_LEN])
{
	snprintf(buf, PGC_LSN_LEN, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

uint64_t pgc_state_lag(const struct pgc_state *s)
{
	uint64_t lag = 0;
	unsigned i, n = s->n_standbys < PGC_STANDBYS_MAX ? s->n_standbys : PGC_STANDBYS_MAX;

	if (s->in_recovery)
		return s->sender_end_lsn > s->replay_lsn ? s->sender_end_lsn - s->replay_lsn : 0;
	for (i = 0; i < n; i++) {
		const struct pgc_standby *sb = &s->standbys[i];

		if (strcmp(sb->state, "streaming") == 0 && sb->flush_lsn != 0 &&
		    sb->flush_lsn < s->flush_lsn && s->flush_lsn - sb->flush_lsn > lag)
			lag = s->flush_lsn - sb->flush_lsn;
	}
	return lag;
}

/* Decimal digits at *s (at least one); *s moves past them. */
static int decimal(const char **s, uint64_t *ret)
{
	uint64_t v = 0;
	const char *start = *s;

	while (**s >= '0' && **s <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(**s - '0');
		(*s)++;
	}
	if (*s == start)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "<done>/<total> kB (<percent>%)" after optional spaces; anything may
 * follow (", 0/1 tablespace", " copied", a file name). */
int pgc_progress_parse(const char *line, struct pgc_progress *ret_progress)
{
	uint64_t done, total, pct;
	const char *s = line;

	if (s == NULL)
		return -EINVAL;
	while (*s == ' ')
		s++;
	if (decimal(&s, &done) != 0 || *s++ != '/' || decimal(&s, &total) != 0)
		return -EINVAL;
	if (strncmp(s, " kB (", 5) != 0)
		return -EINVAL;
	s += 5;
	if (decimal(&s, &pct) != 0 || strncmp(s, "%)", 2) != 0 || pct > 100)
		return -EINVAL;
	ret_progress->done_kb = done;
	ret_progress->total_kb = total;
	ret_progress->percent = (unsigned)pct;
	return 0;
}
