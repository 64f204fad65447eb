/*
 * The configuration object: every setting's value, parsed from
 * chef-backend.rb text. A parse stages every assignment first and commits
 * only when the whole text is good, so a bad file changes nothing. A
 * repeated key is not an error: the last one wins, as in Ruby.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { KEY_MAX = 128, CONFIG_FILE_MAX = 1 << 20 };

/* Assignments parsed but not yet committed. */
struct assignment {
	enum bs_setting id;
	struct bs__value v;
};

struct staged {
	struct assignment *a;
	size_t n, cap;
};

/* ---- values --------------------------------------------------------------- */

void bs__value_free(enum bs_set_type type, struct bs__value *v)
{
	size_t i;

	if (type == BS_SET_STRING)
		free(v->u.s);
	if (type == BS_SET_STRLIST || type == BS_SET_MAP) {
		for (i = 0; i < v->u.list.n; i++)
			free(v->u.list.items[i]);
		free(v->u.list.items);
	}
	memset(v, 0, sizeof *v);
}

/* Parse value text for one setting (defaults, bs_config_set). Messages read
 * "<key>: <what>". */
static int parse_one(enum bs_setting id, const char *text, struct bs__value *ret_value,
		     char *errmsg, size_t errmsg_size)
{
	struct bs__parser ps;
	struct bs__parsed parsed;
	char shown[24];
	int rv;

	bs__parser_init(&ps, NULL, text, strlen(text), errmsg, errmsg_size);
	ps.key = bs_setting_info(id)->key;
	bs__skip_space_nl(&ps);
	rv = bs__parse_value(&ps, &parsed);
	if (rv != 0)
		return rv;
	bs__skip_space_nl(&ps);
	if (bs__peek(&ps) != -1)
		rv = bs__perr(&ps, ps.line, BS_E_PARSE, "unexpected %s after the value",
			      bs__show_byte(bs__peek(&ps), shown, sizeof shown));
	else
		rv = bs__value_convert(&ps, ps.line, id, &parsed, ret_value);
	bs__parsed_free(&parsed);
	return rv;
}

/* ---- lifecycle ------------------------------------------------------------- */

int bs_config_new(struct bs_config **ret_config)
{
	struct bs_config *c = calloc(1, sizeof *c);
	char errmsg[256];
	size_t i;
	int rv;

	if (c == NULL)
		return -ENOMEM;
	for (i = 0; i < BS_SET__COUNT; i++) {
		rv = parse_one((enum bs_setting)i, bs_setting_info((enum bs_setting)i)->def,
			       &c->v[i], errmsg, sizeof errmsg);
		if (rv == -ENOMEM)
			goto err_free_config;
		if (rv != 0)
			bs__die("bs_config_new: bad default in settings.def: %s", errmsg);
	}
	*ret_config = c;
	return 0;
err_free_config:
	bs_config_free(c);
	return rv;
}

void bs_config_free(struct bs_config *config)
{
	size_t i;

	if (config == NULL)
		return;
	for (i = 0; i < BS_SET__COUNT; i++)
		bs__value_free(bs_setting_info((enum bs_setting)i)->type, &config->v[i]);
	free(config);
}

/* ---- parsing ----------------------------------------------------------------- */

static void staged_free(struct staged *st)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		bs__value_free(bs_setting_info(st->a[i].id)->type, &st->a[i].v);
	free(st->a);
}

static int staged_push(struct bs__parser *ps, struct staged *st, enum bs_setting id,
		       struct bs__value *v)
{
	size_t cap = st->cap ? 2 * st->cap : 16;
	struct assignment *a;

	if (st->n == st->cap) {
		a = realloc(st->a, cap * sizeof *st->a);
		if (a == NULL)
			return bs__nomem(ps);
		st->a = a;
		st->cap = cap;
	}
	st->a[st->n].id = id;
	st->a[st->n].v = *v;
	st->n++;
	return 0;
}

static void staged_commit(struct bs_config *config, struct staged *st)
{
	enum bs_setting id;
	size_t i;

	for (i = 0; i < st->n; i++) {
		id = st->a[i].id;
		bs__value_free(bs_setting_info(id)->type, &config->v[id]);
		config->v[id] = st->a[i].v;
		config->set[id] = true;
	}
	st->n = 0;
}

static int unknown_key(struct bs__parser *ps, unsigned line, const char *key)
{
	const char *keys[BS_SET__COUNT + 1], *hint;

	bs__setting_keys(keys);
	hint = bs_closest(key, keys);
	if (hint != NULL)
		return bs__perr(ps, line, BS_E_UNKNOWN_KEY,
				"unknown setting '%s'; did you mean '%s'?", key, hint);
	return bs__perr(ps, line, BS_E_UNKNOWN_KEY, "unknown setting '%s'", key);
}

/* The value of `key [=] value` and the end of its line. */
static int statement_value(struct bs__parser *ps, unsigned line, enum bs_setting id,
			   struct bs__value *ret_value)
{
	const char *key = bs_setting_info(id)->key;
	struct bs__parsed parsed;
	char shown[24];
	int rv;

	bs__skip_blank(ps);
	if (bs__peek(ps) == '=')
		ps->p++;
	if (bs__at_line_end(ps))
		return bs__perr(ps, line, BS_E_PARSE, "missing value for '%s'", key);
	rv = bs__parse_value(ps, &parsed);
	if (rv != 0)
		return rv;
	if (!bs__at_line_end(ps))
		rv = bs__perr(ps, ps->line, BS_E_PARSE, "unexpected %s after the value of '%s'",
			      bs__show_byte(bs__peek(ps), shown, sizeof shown), key);
	else
		rv = bs__value_convert(ps, line, id, &parsed, ret_value);
	bs__parsed_free(&parsed);
	return rv;
}

static int parse_statement(struct bs__parser *ps, struct staged *st)
{
	unsigned line = ps->line;
	char key[KEY_MAX];
	enum bs_setting id;
	struct bs__value v;
	int rv;

	rv = bs__parse_key(ps, key, sizeof key);
	if (rv != 0)
		return rv;
	id = bs_setting_find(key);
	if (id == BS_SET__COUNT)
		return unknown_key(ps, line, key);
	rv = statement_value(ps, line, id, &v);
	if (rv != 0)
		return rv;
	rv = staged_push(ps, st, id, &v);
	if (rv != 0)
		bs__value_free(bs_setting_info(id)->type, &v);
	return rv;
}

static int parse_text(struct bs__parser *ps, struct staged *st)
{
	char shown[24];
	int rv;

	for (;;) {
		bs__skip_space_nl(ps);
		if (bs__peek(ps) == -1)
			return 0;
		if (!bs__is_ident_start(bs__peek(ps)))
			return bs__perr(ps, ps->line, BS_E_PARSE, "expected a setting name, got %s",
					bs__show_byte(bs__peek(ps), shown, sizeof shown));
		rv = parse_statement(ps, st);
		if (rv != 0)
			return rv;
	}
}

int bs_config_parse(struct bs_config *config, const char *name, const char *text, size_t len,
		    char *errmsg, size_t errmsg_size)
{
	struct bs__parser ps;
	struct staged st = {NULL, 0, 0};
	int rv;

	bs__parser_init(&ps, name, text, len, errmsg, errmsg_size);
	rv = parse_text(&ps, &st);
	if (rv == 0)
		staged_commit(config, &st);
	staged_free(&st);
	return rv;
}

static int grow(char **buf, size_t *cap)
{
	char *p;

	if (*cap > CONFIG_FILE_MAX)
		return -EFBIG;
	p = realloc(*buf, 2 * *cap);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap *= 2;
	return 0;
}

/* Everything fd holds into a heap buffer (*ret_buf, caller frees); more than
 * CONFIG_FILE_MAX bytes is refused with -EFBIG. */
static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t got;
	int rv = -ENOMEM;

	while (buf != NULL) {
		rv = len == cap ? grow(&buf, &cap) : 0;
		if (rv != 0)
			break;
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		rv = got < 0 ? -errno : 0;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	if (rv == 0 && len > CONFIG_FILE_MAX)
		rv = -EFBIG;
	if (rv != 0) {
		free(buf);
		return rv;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int bs_config_load(struct bs_config *config, const char *path, char *errmsg, size_t errmsg_size)
{
	size_t len;
	char *text;
	int fd, rv;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = read_all(fd, &text, &len);
	close(fd);
	if (rv == -EFBIG) {
		bs_errf(errmsg, errmsg_size, "%s: larger than %d bytes; not a chef-backend.rb?",
			path, CONFIG_FILE_MAX);
		return rv;
	}
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = bs_config_parse(config, path, text, len, errmsg, errmsg_size);
	free(text);
	return rv;
}

int bs_config_set(struct bs_config *config, enum bs_setting id, const char *value_text,
		  char *errmsg, size_t errmsg_size)
{
	enum bs_set_type type = bs_setting_info(id)->type;
	struct bs__value v;
	int rv;

	rv = parse_one(id, value_text, &v, errmsg, errmsg_size);
	if (rv != 0)
		return rv;
	bs__value_free(type, &config->v[id]);
	config->v[id] = v;
	config->set[id] = true;
	return 0;
}
