/*
 * The settings table, expanded from settings.def: the one read-only list of
 * every key, its type, default, flags and doc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BS_SETTING(id, key, type, def, flags, doc)                                                 \
	[BS_SET_##id] = {key, BS_SET_##type, def, flags, doc},
static const struct bs_setting_info settings[BS_SET__COUNT] = {
#include "settings.def"
};
#undef BS_SETTING

const struct bs_setting_info *bs_setting_info(enum bs_setting id)
{
	if ((unsigned)id >= BS_SET__COUNT)
		bs__die("bs_setting_info: no setting %d", (int)id);
	return &settings[id];
}

enum bs_setting bs_setting_find(const char *key)
{
	size_t i;

	for (i = 0; i < BS_SET__COUNT; i++)
		if (strcmp(settings[i].key, key) == 0)
			return (enum bs_setting)i;
	return BS_SET__COUNT;
}

void bs__setting_keys(const char **keys)
{
	size_t i;

	for (i = 0; i < BS_SET__COUNT; i++)
		keys[i] = settings[i].key;
	keys[i] = NULL;
}

const char *bs__type_words(enum bs_set_type type)
{
	switch (type) {
	case BS_SET_STRING:
		return "a string";
	case BS_SET_INT:
		return "an integer";
	case BS_SET_FLOAT:
		return "a number";
	case BS_SET_BOOL:
		return "true or false";
	case BS_SET_STRLIST:
		return "a list of strings";
	case BS_SET_MAP:
		return "a hash of strings";
	}
	return "a value";
}

const char *bs__kind_words(enum bs__kind kind)
{
	switch (kind) {
	case BS__NIL:
		return "nil";
	case BS__STRING:
		return "a string";
	case BS__INT:
		return "an integer";
	case BS__FLOAT:
		return "a decimal number";
	case BS__BOOL:
		return "a boolean";
	case BS__LIST:
		return "a list";
	case BS__HASH:
		return "a hash";
	}
	return "a value";
}
