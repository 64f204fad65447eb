/*
 * The chef-backend.rb lexer: white space and comments, keys, and the scalar
 * tokens of the Ruby subset chef-backend.rb files use. Keys are
 * `ident ('.' ident | '[' string ']')*`; strings are 'x' (only \\ and \'
 * escape) or "x" (also \n \t \r \#; interpolation is refused rather than
 * taken literally); integers are 64-bit decimal with Ruby's 1_000
 * underscores (a leading 0, octal in Ruby, is refused); floats are 0.5 or
 * 1e-3; words are true, false and nil. `#` starts a comment outside strings.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l; meson defines it project-wide */
#endif
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { NUM_MAX = 128 };

struct sbuf {
	char *p;
	size_t len, cap;
};

void bs__parser_init(struct bs__parser *ps, const char *name, const char *text, size_t len,
		     char *errmsg, size_t errmsg_size)
{
	ps->name = name;
	ps->key = NULL;
	ps->p = text;
	ps->end = text + len;
	ps->line = 1;
	ps->errmsg = errmsg;
	ps->errmsg_size = errmsg_size;
}

int bs__perr(const struct bs__parser *ps, unsigned line, int code, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (ps->key != NULL)
		bs_errf(ps->errmsg, ps->errmsg_size, "%s: %s", ps->key, what);
	else
		bs_errf(ps->errmsg, ps->errmsg_size, "%s:%u: %s", ps->name, line, what);
	return code;
}

int bs__nomem(const struct bs__parser *ps)
{
	return bs__perr(ps, ps->line, -ENOMEM, "out of memory");
}

const char *bs__show_byte(int c, char *buf, size_t size)
{
	if (c < 0)
		snprintf(buf, size, "end of text");
	else if (isprint(c))
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", (unsigned)c);
	return buf;
}

/* ---- white space ---------------------------------------------------------- */

void bs__skip_blank(struct bs__parser *ps)
{
	int c;

	while ((c = bs__peek(ps)) == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v')
		ps->p++;
}

static void skip_comment(struct bs__parser *ps)
{
	if (bs__peek(ps) != '#')
		return;
	while (bs__peek(ps) != -1 && bs__peek(ps) != '\n')
		ps->p++;
}

bool bs__at_line_end(struct bs__parser *ps)
{
	bs__skip_blank(ps);
	skip_comment(ps);
	return bs__peek(ps) == '\n' || bs__peek(ps) == -1;
}

void bs__skip_space_nl(struct bs__parser *ps)
{
	while (bs__at_line_end(ps) && bs__peek(ps) == '\n') {
		ps->p++;
		ps->line++;
	}
}

/* ---- strings -------------------------------------------------------------- */

static int sbuf_push(struct bs__parser *ps, struct sbuf *b, char c)
{
	size_t cap = b->cap ? 2 * b->cap : 16;
	char *p;

	if (b->len + 1 >= b->cap) {
		p = realloc(b->p, cap);
		if (p == NULL)
			return bs__nomem(ps);
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
	return 0;
}

/* The byte a backslash sequence stands for in a double-quoted string, or -1
 * for one we do not support (Ruby has more; better refused than misread). */
static int dq_escape(int e)
{
	switch (e) {
	case '\\':
	case '"':
	case '#':
		return e;
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	}
	return -1;
}

static int dq_backslash(struct bs__parser *ps, struct sbuf *b)
{
	char shown[24];
	int e;

	if (bs__peek(ps) == -1)
		return 0; /* the caller reports the unterminated string */
	e = dq_escape(bs__peek(ps));
	if (e < 0)
		return bs__perr(ps, ps->line, BS_E_PARSE,
				"unsupported escape: backslash before %s in a string",
				bs__show_byte(bs__peek(ps), shown, sizeof shown));
	ps->p++;
	return sbuf_push(ps, b, (char)e);
}

/* One character of a string body (not the closing quote) into b. */
static int string_char(struct bs__parser *ps, struct sbuf *b, char quote)
{
	int c = (unsigned char)*ps->p++, next = bs__peek(ps);

	if (c == '\0')
		return bs__perr(ps, ps->line, BS_E_PARSE, "NUL byte in a string");
	if (c == '\n')
		ps->line++;
	if (quote == '"' && c == '#' && (next == '{' || next == '@' || next == '$'))
		return bs__perr(ps, ps->line, BS_E_PARSE,
				"string interpolation (#%c) is not supported; use single quotes",
				next);
	if (c != '\\')
		return sbuf_push(ps, b, (char)c);
	if (quote == '"')
		return dq_backslash(ps, b);
	if (next == '\\' || next == '\'')
		c = (unsigned char)*ps->p++;
	return sbuf_push(ps, b, (char)c);
}

int bs__parse_string(struct bs__parser *ps, char **ret)
{
	char quote = *ps->p++;
	unsigned start = ps->line;
	struct sbuf b = {NULL, 0, 0};
	int rv;

	while (bs__peek(ps) != quote) {
		if (bs__peek(ps) == -1) {
			rv = bs__perr(ps, start, BS_E_PARSE, "unterminated string (no closing %c)",
				      quote);
			goto err_free_buf;
		}
		rv = string_char(ps, &b, quote);
		if (rv != 0)
			goto err_free_buf;
	}
	ps->p++;
	if (b.p == NULL && (b.p = strdup("")) == NULL)
		return bs__nomem(ps);
	*ret = b.p;
	return 0;
err_free_buf:
	free(b.p);
	return rv;
}

/* ---- numbers -------------------------------------------------------------- */

static int num_put(struct bs__parser *ps, char *buf, size_t *n, char c)
{
	if (*n + 1 >= NUM_MAX)
		return bs__perr(ps, ps->line, BS_E_PARSE, "number too long");
	buf[(*n)++] = c;
	buf[*n] = '\0';
	return 0;
}

/* digit ('_'? digit)* into buf, dropping underscores as Ruby does. */
static int num_digits(struct bs__parser *ps, char *buf, size_t *n)
{
	int rv = 0;

	while (rv == 0 && bs__is_digit(bs__peek(ps))) {
		rv = num_put(ps, buf, n, *ps->p++);
		if (bs__peek(ps) == '_' && bs__is_digit(bs__peek_at(ps, 1)))
			ps->p++;
	}
	return rv;
}

static int num_int(struct bs__parser *ps, const char *buf, int64_t *ret)
{
	bool neg = buf[0] == '-';
	const char *d = buf + (buf[0] == '-' || buf[0] == '+');
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
	unsigned digit;

	for (; *d != '\0'; d++) {
		digit = (unsigned)(*d - '0');
		if (v > (limit - digit) / 10)
			return bs__perr(ps, ps->line, BS_E_PARSE,
					"integer %s is out of range (64-bit)", buf);
		v = v * 10 + digit;
	}
	if (neg)
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*ret = (int64_t)v;
	return 0;
}

/* strtod in the C locale, whatever the process locale says. */
static int num_float(struct bs__parser *ps, const char *buf, double *ret)
{
	locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	double f;

	if (c_locale == (locale_t)0)
		return bs__nomem(ps);
	f = strtod_l(buf, NULL, c_locale);
	freelocale(c_locale);
	if (isinf(f))
		return bs__perr(ps, ps->line, BS_E_PARSE, "number %s is out of range", buf);
	*ret = f;
	return 0;
}

/* An optional '.' digits, then an optional exponent; *is_float if either. */
static int num_fraction(struct bs__parser *ps, char *buf, size_t *n, bool *is_float)
{
	int rv = 0, e1;

	if (bs__peek(ps) == '.' && bs__is_digit(bs__peek_at(ps, 1))) {
		*is_float = true;
		rv = num_put(ps, buf, n, *ps->p++);
		if (rv == 0)
			rv = num_digits(ps, buf, n);
	}
	e1 = bs__peek_at(ps, 1);
	if (rv != 0 || (bs__peek(ps) != 'e' && bs__peek(ps) != 'E'))
		return rv;
	if (!bs__is_digit(e1) && !((e1 == '+' || e1 == '-') && bs__is_digit(bs__peek_at(ps, 2))))
		return 0;
	*is_float = true;
	rv = num_put(ps, buf, n, *ps->p++);
	if (rv == 0 && !bs__is_digit(e1))
		rv = num_put(ps, buf, n, *ps->p++);
	return rv != 0 ? rv : num_digits(ps, buf, n);
}

int bs__parse_number(struct bs__parser *ps, struct bs__parsed *out)
{
	char buf[NUM_MAX] = "";
	size_t n = 0, sign;
	bool is_float = false;
	int rv = 0;

	if (bs__peek(ps) == '+' || bs__peek(ps) == '-')
		rv = num_put(ps, buf, &n, *ps->p++);
	sign = n;
	if (rv == 0)
		rv = num_digits(ps, buf, &n);
	if (rv == 0 && buf[sign] == '0' && bs__is_digit(buf[sign + 1]))
		rv = bs__perr(ps, ps->line, BS_E_PARSE,
			      "'%s': a leading 0 means octal in Ruby; write the number without it",
			      buf);
	if (rv == 0)
		rv = num_fraction(ps, buf, &n, &is_float);
	if (rv == 0 && (bs__is_ident_char(bs__peek(ps)) || bs__peek(ps) == '.'))
		rv = bs__perr(ps, ps->line, BS_E_PARSE, "malformed number after '%s'", buf);
	if (rv != 0)
		return rv;
	out->kind = is_float ? BS__FLOAT : BS__INT;
	if (is_float)
		return num_float(ps, buf, &out->v.u.f);
	return num_int(ps, buf, &out->v.u.i);
}

/* ---- words ---------------------------------------------------------------- */

int bs__parse_word(struct bs__parser *ps, struct bs__parsed *out)
{
	const char *start = ps->p;
	size_t n;

	while (bs__is_ident_char(bs__peek(ps)))
		ps->p++;
	n = (size_t)(ps->p - start);
	if (n == 4 && memcmp(start, "true", 4) == 0) {
		out->kind = BS__BOOL;
		out->v.u.b = true;
	} else if (n == 5 && memcmp(start, "false", 5) == 0) {
		out->kind = BS__BOOL;
		out->v.u.b = false;
	} else if (n == 3 && memcmp(start, "nil", 3) == 0) {
		out->kind = BS__NIL;
		out->v.nil = true;
	} else {
		return bs__perr(ps, ps->line, BS_E_PARSE,
				"bare word '%.*s' is not a value (strings need quotes)",
				(int)(n > 64 ? 64 : n), start);
	}
	return 0;
}

/* ---- keys ----------------------------------------------------------------- */

static int key_append(struct bs__parser *ps, char *key, size_t size, const char *part, size_t n)
{
	size_t len = strlen(key);

	if (len + n + 2 > size)
		return bs__perr(ps, ps->line, BS_E_PARSE, "setting name too long");
	if (len > 0)
		key[len++] = '.';
	memcpy(key + len, part, n);
	key[len + n] = '\0';
	return 0;
}

static int key_ident(struct bs__parser *ps, char *key, size_t size)
{
	const char *start = ps->p;

	while (bs__is_ident_char(bs__peek(ps)))
		ps->p++;
	return key_append(ps, key, size, start, (size_t)(ps->p - start));
}

/* `['name']` or `["name"]` at ps->p (Mixlib's hash-style access). */
static int key_bracket(struct bs__parser *ps, char *key, size_t size)
{
	char *part = NULL;
	int rv;

	ps->p++;
	bs__skip_blank(ps);
	if (bs__peek(ps) != '\'' && bs__peek(ps) != '"')
		return bs__perr(ps, ps->line, BS_E_PARSE, "expected a quoted name after '['");
	rv = bs__parse_string(ps, &part);
	if (rv != 0)
		return rv;
	bs__skip_blank(ps);
	if (bs__peek(ps) != ']')
		rv = bs__perr(ps, ps->line, BS_E_PARSE, "expected ']' after '%s'", part);
	else if (part[0] == '\0')
		rv = bs__perr(ps, ps->line, BS_E_PARSE, "empty name in []");
	else
		rv = key_append(ps, key, size, part, strlen(part));
	ps->p += rv == 0;
	free(part);
	return rv;
}

int bs__parse_key(struct bs__parser *ps, char *key, size_t size)
{
	int rv;

	key[0] = '\0';
	if (!bs__is_ident_start(bs__peek(ps)))
		return bs__perr(ps, ps->line, BS_E_PARSE, "expected a setting name");
	rv = key_ident(ps, key, size);
	while (rv == 0) {
		if (bs__peek(ps) == '.' && bs__is_ident_start(bs__peek_at(ps, 1))) {
			ps->p++;
			rv = key_ident(ps, key, size);
		} else if (bs__peek(ps) == '[') {
			rv = key_bracket(ps, key, size);
		} else {
			break;
		}
	}
	return rv;
}
