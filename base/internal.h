/* base/ internals shared between its files; nothing here leaves the module. */
#ifndef BS_BASE_INTERNAL_H
#define BS_BASE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base.h"

/* A programming error (a broken contract, not bad input): print
 * "backstay: <message>" to stderr and abort. */
void bs__die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* ---- config values ------------------------------------------------------
 * A setting's value, typed by its table entry. Strings and list items are
 * heap copies owned by the value. A MAP is stored as a list whose items
 * alternate key, value.
 */
struct bs__value {
	bool nil;
	union {
		char *s;
		int64_t i;
		double f;
		bool b;
		struct {
			char **items;
			size_t n;
		} list;
	} u;
};

/* What the text said, before it is checked against the setting's type. */
enum bs__kind { BS__NIL, BS__STRING, BS__INT, BS__FLOAT, BS__BOOL, BS__LIST, BS__HASH };

struct bs__parsed {
	enum bs__kind kind;
	/* LIST/HASH: kind of the first element that is not a string, or
	 * BS__STRING when every element is one (only strings are kept). */
	enum bs__kind bad_elem;
	struct bs__value v;
};

/* Parser state over one text. In "set" mode (key != NULL) messages read
 * "<key>: <what>"; otherwise "<name>:<line>: <what>". */
struct bs__parser {
	const char *name;
	const char *key;
	const char *p;
	const char *end;
	unsigned line;
	char *errmsg;
	size_t errmsg_size;
};

void bs__parser_init(struct bs__parser *ps, const char *name, const char *text, size_t len,
		     char *errmsg, size_t errmsg_size);
/* Format "<prefix><what>" into ps->errmsg, returning code. */
int bs__perr(const struct bs__parser *ps, unsigned line, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Lexing (config_lex.c). */
void bs__skip_blank(struct bs__parser *ps);
/* Blanks, comments and newlines (inside brackets). */
void bs__skip_space_nl(struct bs__parser *ps);
/* Skip blanks and a comment; true when the line (or text) ends here. */
bool bs__at_line_end(struct bs__parser *ps);
/* Parse `ident ('.' ident | '[' string ']')*` into key (size bytes). */
int bs__parse_key(struct bs__parser *ps, char *key, size_t size);
/* Tokens at ps->p, which the caller has checked starts one. */
int bs__parse_string(struct bs__parser *ps, char **ret); /* heap, caller frees */
int bs__parse_number(struct bs__parser *ps, struct bs__parsed *out);
int bs__parse_word(struct bs__parser *ps, struct bs__parsed *out); /* true/false/nil */
int bs__nomem(const struct bs__parser *ps);
/* "'x'" for a printable byte, "byte 0x01" or "end of text" otherwise. */
const char *bs__show_byte(int c, char *buf, size_t size);

static inline int bs__peek_at(const struct bs__parser *ps, size_t k)
{
	return ps->p + k < ps->end ? (unsigned char)ps->p[k] : -1;
}

static inline int bs__peek(const struct bs__parser *ps)
{
	return bs__peek_at(ps, 0);
}

static inline bool bs__is_ident_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool bs__is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool bs__is_ident_char(int c)
{
	return bs__is_ident_start(c) || bs__is_digit(c);
}

/* Values (config_value.c): parse one value of any kind at ps->p. On error
 * out holds nothing to free. */
int bs__parse_value(struct bs__parser *ps, struct bs__parsed *out);
void bs__parsed_free(struct bs__parsed *p);

/* Check a parsed value against setting id and move it into ret_value
 * (config_value.c). On error parsed still owns what it held. */
int bs__value_convert(const struct bs__parser *ps, unsigned line, enum bs_setting id,
		      struct bs__parsed *parsed, struct bs__value *ret_value);
/* (config.c) */
void bs__value_free(enum bs_set_type type, struct bs__value *v);
bool bs__value_equal(enum bs_set_type type, const struct bs__value *a, const struct bs__value *b);
/* Plain words for messages: "an integer", "a list of strings", ... */
const char *bs__type_words(enum bs_set_type type);
const char *bs__kind_words(enum bs__kind kind);

/* Every known key, NULL-terminated, into keys (BS_SET__COUNT + 1 slots). */
void bs__setting_keys(const char **keys);

/* ---- config object ------------------------------------------------------ */
struct bs_config {
	struct bs__value v[BS_SET__COUNT];
	bool set[BS_SET__COUNT];
};

/* ---- hex ------------------------------------------------------------------ */
/* Decode exactly 2n hex digits (either case) from hex into bytes.
 * 0 or -EINVAL (bytes may be partly written on error). */
int bs__unhex(const char *hex, size_t hex_len, uint8_t *bytes, size_t n);

#endif
