/*
 * chef-backend.rb values: parsing any value (lists and hashes here, scalars
 * in config_lex.c) without knowing the setting, then checking the result
 * against the setting's type so a type error can name both sides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { NEST_MAX = 32 };

static int parse_value(struct bs__parser *ps, struct bs__parsed *out, unsigned depth);

static void parsed_init(struct bs__parsed *p)
{
	memset(p, 0, sizeof *p);
	p->kind = BS__NIL;
	p->bad_elem = BS__STRING;
}

void bs__parsed_free(struct bs__parsed *p)
{
	size_t i;

	if (p->kind == BS__STRING)
		free(p->v.u.s);
	if (p->kind == BS__LIST || p->kind == BS__HASH) {
		for (i = 0; i < p->v.u.list.n; i++)
			free(p->v.u.list.items[i]);
		free(p->v.u.list.items);
	}
	parsed_init(p);
}

/* ---- lists and hashes ------------------------------------------------------ */

static int items_push(struct bs__parser *ps, struct bs__value *v, size_t *cap, char **s)
{
	size_t new_cap = *cap ? 2 * *cap : 4;
	char **items;

	if (v->u.list.n == *cap) {
		items = realloc(v->u.list.items, new_cap * sizeof *items);
		if (items == NULL)
			return bs__nomem(ps);
		v->u.list.items = items;
		*cap = new_cap;
	}
	v->u.list.items[v->u.list.n++] = *s;
	*s = NULL;
	return 0;
}

/* Note the first element that is not a string (only strings are kept). */
static void note_bad(struct bs__parsed *out, enum bs__kind kind)
{
	if (kind != BS__STRING && out->bad_elem == BS__STRING)
		out->bad_elem = kind;
}

/* Before an element: white space, then the closer (1) or an element (0). */
static int slot_open(struct bs__parser *ps, char closer, const char *what, unsigned open)
{
	bs__skip_space_nl(ps);
	if (bs__peek(ps) == -1)
		return bs__perr(ps, open, BS_E_PARSE, "unterminated %s (no closing %c)", what,
				closer);
	if (bs__peek(ps) != closer)
		return 0;
	ps->p++;
	return 1;
}

/* After an element: ',' (0; a closer may follow, Ruby allows the trailing
 * comma) or the closer (1). */
static int slot_close(struct bs__parser *ps, char closer, const char *what, unsigned open)
{
	char shown[24];

	bs__skip_space_nl(ps);
	if (bs__peek(ps) == ',' || bs__peek(ps) == closer)
		return *ps->p++ == closer;
	if (bs__peek(ps) == -1)
		return bs__perr(ps, open, BS_E_PARSE, "unterminated %s (no closing %c)", what,
				closer);
	return bs__perr(ps, ps->line, BS_E_PARSE,
			"expected ',' or '%c' in the %s opened on line %u, got %s", closer, what,
			open, bs__show_byte(bs__peek(ps), shown, sizeof shown));
}

static int list_element(struct bs__parser *ps, struct bs__parsed *out, size_t *cap, unsigned depth)
{
	struct bs__parsed elem;
	int rv = parse_value(ps, &elem, depth + 1);

	if (rv != 0)
		return rv;
	note_bad(out, elem.kind);
	if (elem.kind == BS__STRING)
		rv = items_push(ps, &out->v, cap, &elem.v.u.s);
	bs__parsed_free(&elem);
	return rv;
}

static int parse_list(struct bs__parser *ps, struct bs__parsed *out, unsigned depth)
{
	unsigned open = ps->line;
	size_t cap = 0;
	int rv;

	ps->p++;
	out->kind = BS__LIST;
	do {
		rv = slot_open(ps, ']', "list", open);
		if (rv == 0)
			rv = list_element(ps, out, &cap, depth);
		if (rv == 0)
			rv = slot_close(ps, ']', "list", open);
	} while (rv == 0);
	if (rv < 0)
		bs__parsed_free(out);
	return rv < 0 ? rv : 0;
}

/* Store K => V; a repeated key replaces the value (Ruby: the last one wins). */
static int hash_put(struct bs__parser *ps, struct bs__parsed *out, size_t *cap, char **k, char **v)
{
	struct bs__value *h = &out->v;
	size_t i;
	int rv;

	for (i = 0; i + 1 < h->u.list.n; i += 2) {
		if (strcmp(h->u.list.items[i], *k) == 0) {
			free(h->u.list.items[i + 1]);
			h->u.list.items[i + 1] = *v;
			*v = NULL;
			return 0;
		}
	}
	rv = items_push(ps, h, cap, k);
	return rv != 0 ? rv : items_push(ps, h, cap, v);
}

static int hash_pair(struct bs__parser *ps, struct bs__parsed *out, size_t *cap, unsigned open,
		     unsigned depth)
{
	struct bs__parsed k, v;
	int rv;

	parsed_init(&v);
	rv = parse_value(ps, &k, depth + 1);
	if (rv != 0)
		return rv;
	bs__skip_space_nl(ps);
	if (bs__peek(ps) != '=' || bs__peek_at(ps, 1) != '>') {
		rv = bs__perr(ps, ps->line, BS_E_PARSE,
			      "expected '=>' after a key in the hash opened on line %u", open);
		goto out_free;
	}
	ps->p += 2;
	bs__skip_space_nl(ps);
	rv = parse_value(ps, &v, depth + 1);
	if (rv != 0)
		goto out_free;
	note_bad(out, k.kind);
	note_bad(out, v.kind);
	if (k.kind == BS__STRING && v.kind == BS__STRING)
		rv = hash_put(ps, out, cap, &k.v.u.s, &v.v.u.s);
out_free:
	bs__parsed_free(&v);
	bs__parsed_free(&k);
	return rv;
}

static int parse_hash(struct bs__parser *ps, struct bs__parsed *out, unsigned depth)
{
	unsigned open = ps->line;
	size_t cap = 0;
	int rv;

	ps->p++;
	out->kind = BS__HASH;
	do {
		rv = slot_open(ps, '}', "hash", open);
		if (rv == 0)
			rv = hash_pair(ps, out, &cap, open, depth);
		if (rv == 0)
			rv = slot_close(ps, '}', "hash", open);
	} while (rv == 0);
	if (rv < 0)
		bs__parsed_free(out);
	return rv < 0 ? rv : 0;
}

static int parse_value(struct bs__parser *ps, struct bs__parsed *out, unsigned depth)
{
	int c = bs__peek(ps);
	char shown[24];

	parsed_init(out);
	if (depth > NEST_MAX)
		return bs__perr(ps, ps->line, BS_E_PARSE, "values nested too deeply");
	if (c == '\'' || c == '"') {
		out->kind = BS__STRING;
		return bs__parse_string(ps, &out->v.u.s);
	}
	if (c == '[')
		return parse_list(ps, out, depth);
	if (c == '{')
		return parse_hash(ps, out, depth);
	if (bs__is_digit(c) || ((c == '-' || c == '+') && bs__is_digit(bs__peek_at(ps, 1))))
		return bs__parse_number(ps, out);
	if (bs__is_ident_start(c))
		return bs__parse_word(ps, out);
	if (c == -1 || c == '\n' || c == '#')
		return bs__perr(ps, ps->line, BS_E_PARSE, "missing value");
	return bs__perr(ps, ps->line, BS_E_PARSE, "expected a value, got %s",
			bs__show_byte(c, shown, sizeof shown));
}

int bs__parse_value(struct bs__parser *ps, struct bs__parsed *out)
{
	return parse_value(ps, out, 0);
}

/* ---- type check ------------------------------------------------------------- */

static int type_error(const struct bs__parser *ps, unsigned line,
		      const struct bs_setting_info *info, const struct bs__parsed *parsed)
{
	bool container = (info->type == BS_SET_STRLIST && parsed->kind == BS__LIST) ||
			 (info->type == BS_SET_MAP && parsed->kind == BS__HASH);
	char got[64];

	if (container)
		snprintf(got, sizeof got, "%s containing %s", bs__kind_words(parsed->kind),
			 bs__kind_words(parsed->bad_elem));
	else
		snprintf(got, sizeof got, "%s", bs__kind_words(parsed->kind));
	if (ps->key != NULL) /* set mode: the prefix already names the key */
		return bs__perr(ps, line, BS_E_TYPE, "expects %s, got %s",
				bs__type_words(info->type), got);
	return bs__perr(ps, line, BS_E_TYPE, "'%s' expects %s, got %s", info->key,
			bs__type_words(info->type), got);
}

static bool kind_fits(enum bs_set_type type, const struct bs__parsed *p)
{
	switch (type) {
	case BS_SET_STRING:
		return p->kind == BS__STRING;
	case BS_SET_INT:
		return p->kind == BS__INT;
	case BS_SET_FLOAT:
		return p->kind == BS__FLOAT || p->kind == BS__INT;
	case BS_SET_BOOL:
		return p->kind == BS__BOOL;
	case BS_SET_STRLIST:
		return p->kind == BS__LIST && p->bad_elem == BS__STRING;
	case BS_SET_MAP:
		return p->kind == BS__HASH && p->bad_elem == BS__STRING;
	}
	return false;
}

int bs__value_convert(const struct bs__parser *ps, unsigned line, enum bs_setting id,
		      struct bs__parsed *parsed, struct bs__value *ret_value)
{
	const struct bs_setting_info *info = bs_setting_info(id);

	if (parsed->kind == BS__NIL && !(info->flags & BS_SETF_NIL))
		return type_error(ps, line, info, parsed);
	if (parsed->kind != BS__NIL && !kind_fits(info->type, parsed))
		return type_error(ps, line, info, parsed);
	*ret_value = parsed->v;
	if (info->type == BS_SET_FLOAT && parsed->kind == BS__INT)
		ret_value->u.f = (double)parsed->v.u.i;
	parsed_init(parsed); /* moved */
	return 0;
}
