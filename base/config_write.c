/*
 * Writing a configuration back as chef-backend.rb text: one `key value` line
 * per setting with its doc as a comment above. Strings are single-quoted
 * (only \\ and \' need escaping there), floats use the shortest text that
 * reads back to the same double, so the output parses to an equal config.
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char compat_note[] = " (chef-backend compatibility; unused by backstay)";

static void write_quoted(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '\'')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

/* Shortest %g text that strtod reads back as f, in the C locale; with a
 * ".0" when it would otherwise read as an integer. */
static void format_float(double f, char *buf, size_t size)
{
	locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0), old = (locale_t)0;
	int prec;

	if (c_locale != (locale_t)0)
		old = uselocale(c_locale);
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	snprintf(buf, size, "%.*g", prec, f);
	if (c_locale != (locale_t)0) {
		uselocale(old);
		freelocale(c_locale);
	}
	if (strpbrk(buf, ".e") == NULL)
		strncat(buf, ".0", size - strlen(buf) - 1);
}

static void write_items(FILE *out, const struct bs__value *v, bool map)
{
	size_t i;

	if (v->u.list.n == 0) {
		fputs(map ? "{}" : "[]", out);
		return;
	}
	fputs(map ? "{ " : "[", out);
	for (i = 0; i < v->u.list.n; i++) {
		if (i > 0)
			fputs(map && i % 2 == 1 ? " => " : ", ", out);
		write_quoted(out, v->u.list.items[i]);
	}
	fputs(map ? " }" : "]", out);
}

static void write_value(FILE *out, enum bs_set_type type, const struct bs__value *v)
{
	char buf[64];

	if (v->nil) {
		fputs("nil", out);
		return;
	}
	switch (type) {
	case BS_SET_STRING:
		write_quoted(out, v->u.s);
		break;
	case BS_SET_INT:
		fprintf(out, "%" PRId64, v->u.i);
		break;
	case BS_SET_FLOAT:
		format_float(v->u.f, buf, sizeof buf);
		fputs(buf, out);
		break;
	case BS_SET_BOOL:
		fputs(v->u.b ? "true" : "false", out);
		break;
	case BS_SET_STRLIST:
	case BS_SET_MAP:
		write_items(out, v, type == BS_SET_MAP);
		break;
	}
}

int bs_config_write(const struct bs_config *config, FILE *out, bool all)
{
	const struct bs_setting_info *info;
	bool first = true;
	size_t i;

	for (i = 0; i < BS_SET__COUNT; i++) {
		if (!all && !config->set[i])
			continue;
		info = bs_setting_info((enum bs_setting)i);
		fprintf(out, "%s# %s%s\n%s ", first ? "" : "\n", info->doc,
			info->flags & BS_SETF_COMPAT ? compat_note : "", info->key);
		write_value(out, info->type, &config->v[i]);
		fputc('\n', out);
		first = false;
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
