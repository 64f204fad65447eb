/*
 * Reading a configuration: typed getters (a type mismatch is a programming
 * error and aborts) and comparison.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool map_has(const struct bs__value *m, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i + 1 < m->u.list.n; i += 2)
		if (strcmp(m->u.list.items[i], key) == 0)
			return strcmp(m->u.list.items[i + 1], value) == 0;
	return false;
}

static bool list_equal(enum bs_set_type type, const struct bs__value *a, const struct bs__value *b)
{
	size_t i;

	if (a->u.list.n != b->u.list.n)
		return false;
	for (i = 0; i < a->u.list.n; i++) {
		if (type == BS_SET_STRLIST && strcmp(a->u.list.items[i], b->u.list.items[i]) != 0)
			return false;
		/* A hash's order does not matter (its keys are unique). */
		if (type == BS_SET_MAP && i % 2 == 0 &&
		    !map_has(b, a->u.list.items[i], a->u.list.items[i + 1]))
			return false;
	}
	return true;
}

bool bs__value_equal(enum bs_set_type type, const struct bs__value *a, const struct bs__value *b)
{
	if (a->nil || b->nil)
		return a->nil == b->nil;
	switch (type) {
	case BS_SET_STRING:
		return strcmp(a->u.s, b->u.s) == 0;
	case BS_SET_INT:
		return a->u.i == b->u.i;
	case BS_SET_FLOAT:
		return a->u.f == b->u.f;
	case BS_SET_BOOL:
		return a->u.b == b->u.b;
	case BS_SET_STRLIST:
	case BS_SET_MAP:
		return list_equal(type, a, b);
	}
	return false;
}

bool bs_config_equal(const struct bs_config *a, const struct bs_config *b)
{
	size_t i;

	for (i = 0; i < BS_SET__COUNT; i++)
		if (!bs__value_equal(bs_setting_info((enum bs_setting)i)->type, &a->v[i], &b->v[i]))
			return false;
	return true;
}

/* ---- getters ------------------------------------------------------------------ */

/* The value of id, which must be of type (a mismatch is a programming error). */
static const struct bs__value *get(const struct bs_config *config, enum bs_setting id,
				   enum bs_set_type type, const char *fn)
{
	const struct bs_setting_info *info = bs_setting_info(id);

	if (info->type != type && !(type == BS_SET_STRLIST && info->type == BS_SET_MAP))
		bs__die("%s: '%s' is %s, not %s", fn, info->key, bs__type_words(info->type),
			bs__type_words(type));
	return &config->v[id];
}

const char *bs_config_str(const struct bs_config *config, enum bs_setting id)
{
	const struct bs__value *v = get(config, id, BS_SET_STRING, "bs_config_str");

	return v->nil ? NULL : v->u.s;
}

int64_t bs_config_int(const struct bs_config *config, enum bs_setting id)
{
	const struct bs__value *v = get(config, id, BS_SET_INT, "bs_config_int");

	return v->nil ? 0 : v->u.i;
}

double bs_config_float(const struct bs_config *config, enum bs_setting id)
{
	const struct bs__value *v = get(config, id, BS_SET_FLOAT, "bs_config_float");

	return v->nil ? 0.0 : v->u.f;
}

bool bs_config_bool(const struct bs_config *config, enum bs_setting id)
{
	const struct bs__value *v = get(config, id, BS_SET_BOOL, "bs_config_bool");

	return v->nil ? false : v->u.b;
}

size_t bs_config_list_len(const struct bs_config *config, enum bs_setting id)
{
	return get(config, id, BS_SET_STRLIST, "bs_config_list_len")->u.list.n;
}

const char *bs_config_list_at(const struct bs_config *config, enum bs_setting id, size_t i)
{
	const struct bs__value *v = get(config, id, BS_SET_STRLIST, "bs_config_list_at");

	if (i >= v->u.list.n)
		bs__die("bs_config_list_at: index %zu past the end of '%s'", i,
			bs_setting_info(id)->key);
	return v->u.list.items[i];
}

bool bs_config_is_nil(const struct bs_config *config, enum bs_setting id)
{
	bs_setting_info(id); /* checks the id */
	return config->v[id].nil;
}

bool bs_config_is_set(const struct bs_config *config, enum bs_setting id)
{
	bs_setting_info(id);
	return config->set[id];
}
