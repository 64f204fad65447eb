/*
 * base/ — the bottom layer every other module builds on: error codes, the
 * clock (the only code that reads time or randomness), logging, small string
 * helpers, the chef-backend.rb configuration parser and the secrets file.
 *
 * Prefix: bs_. Depends on libc, libcrypto (none yet) and jansson (secrets).
 */
#ifndef BS_BASE_H
#define BS_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------------
 * Errors (CONVENTIONS §2). Fallible functions return 0 or a negative errno.
 * Project-specific conditions live in one reserved negative range starting at
 * BS_E_BASE (-10000 .. BS_E_LAST - 1), far from any errno value. bs_strerror() names
 * both kinds.
 */
enum {
	BS_E_BASE = -10000,
	BS_E_PARSE = BS_E_BASE, /* malformed input text (config, JSON) */
	BS_E_UNKNOWN_KEY,	/* config key that backstay does not know */
	BS_E_TYPE,		/* value of the wrong type for its key */
	BS_E_SECRETS_PERM,	/* secrets file readable by group/others */
	BS_E_SECRETS_CORRUPT,	/* secrets file truncated, not JSON, keys missing */
	BS_E_FRAME_TOO_BIG,	/* frame length over the limit */
	BS_E_FRAME_MALFORMED,	/* frame body is not a valid Envelope */
	BS_E_FRAME_TRUNCATED,	/* stream ended inside a frame */
	BS_E_USAGE,		/* bad command line */
	BS_E_CORRUPT,		/* stored data failed a checksum or consistency check */
	BS_E_NOT_LEADER,	/* the request needs the Raft leader; this node is not */
	BS_E_PROTOCOL,		/* a peer sent something the protocol does not allow */
	BS_E_AUTH,		/* authentication with the cluster secret failed */
	BS_E_NOT_CONFIGURED,	/* this node is not part of a cluster yet */
	BS_E_LAST		/* keep last */
};

/* Text for a negative errno or a BS_E_* code. Never NULL; static storage. */
const char *bs_strerror(int err);

/* Format into an errmsg buffer (always NUL-terminated, truncates silently). */
void bs_errf(char *errmsg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------
 * Clock and randomness (CONVENTIONS §7). Time is uint64_t milliseconds.
 * `now` is monotonic (deadlines, timeouts); `wall` is the real-time clock
 * (log timestamps, display only — never used to decide anything).
 *
 * The real clock is a process-wide singleton; never freed. Its randomness
 * comes from getrandom(2), suitable for keys and secrets.
 *
 * A virtual clock starts at `start_ms` (its now and wall are the same
 * number), moves only when told to, and its randomness is a deterministic
 * PRNG seeded with `seed`: the same seed gives the same bytes. Never use a
 * virtual clock's randomness for real secrets.
 */
struct bs_clock;

struct bs_clock *bs_clock_real(void);
/* Owned by the caller; free with bs_clock_free(). Returns 0 or -ENOMEM. */
int bs_clock_virtual_new(uint64_t start_ms, uint64_t seed, struct bs_clock **ret_clock);
void bs_clock_free(struct bs_clock *clock); /* accepts NULL and the real clock (no-op) */

bool bs_clock_is_virtual(const struct bs_clock *clock);
uint64_t bs_clock_now_ms(const struct bs_clock *clock);
uint64_t bs_clock_wall_ms(const struct bs_clock *clock);
/* `now` in nanoseconds, for records that must order events microseconds
 * apart (the fault suite's histories); a virtual clock's is now_ms * 10^6. */
uint64_t bs_clock_now_ns(const struct bs_clock *clock);
/* Virtual clocks only (aborts on the real one): move time forward. Time never
 * goes backwards; advancing by 0 is allowed. Wall time moves with it. */
void bs_clock_advance(struct bs_clock *clock, uint64_t delta_ms);
/* Fill buf with n random bytes. 0 or negative errno (real: getrandom). */
int bs_clock_random(struct bs_clock *clock, void *buf, size_t n);
/* Uniform value in [0, bound) without modulo bias; bound > 0 (0 aborts).
 * On the real clock a getrandom failure aborts (Linux does not fail it once
 * the pool is initialised). */
uint64_t bs_clock_random_below(struct bs_clock *clock, uint64_t bound);

/* ------------------------------------------------------------------------
 * Logging: one line per event on stderr (or a chosen stream):
 *   2026-11-22T02:40:00.123Z INFO  consensus: became leader term=3
 * Timestamps come from the clock set with bs_log_set_clock() (real by
 * default), so simulations log virtual time.
 */
enum bs_log_level { BS_LOG_DEBUG, BS_LOG_INFO, BS_LOG_WARN, BS_LOG_ERROR, BS_LOG_OFF };

void bs_log_set_level(enum bs_log_level level);
enum bs_log_level bs_log_get_level(void);
void bs_log_set_stream(FILE *stream); /* NULL = stderr */
/* NULL = real clock. The log keeps the pointer: set NULL before freeing it. */
void bs_log_set_clock(struct bs_clock *clock);
/* "debug", "info", "warn", "error", "off" → level. 0 or BS_E_PARSE. */
int bs_log_level_parse(const char *name, enum bs_log_level *ret_level);
void bs_log(enum bs_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define bs_debug(comp, ...) bs_log(BS_LOG_DEBUG, (comp), __VA_ARGS__)
#define bs_info(comp, ...) bs_log(BS_LOG_INFO, (comp), __VA_ARGS__)
#define bs_warn(comp, ...) bs_log(BS_LOG_WARN, (comp), __VA_ARGS__)
#define bs_error(comp, ...) bs_log(BS_LOG_ERROR, (comp), __VA_ARGS__)

/* ------------------------------------------------------------------------
 * Strings.
 */
/* Levenshtein distance between a and b (byte-wise). */
size_t bs_edit_distance(const char *a, const char *b);
/* The candidate closest to `word`, or NULL when none is close enough to be a
 * plausible typo (distance > max(2, strlen(word) / 3)). `candidates` is a
 * NULL-terminated array; the result points into it. */
const char *bs_closest(const char *word, const char *const *candidates);

/* ------------------------------------------------------------------------
 * Configuration: chef-backend.rb syntax (a Ruby subset), see docs/config.md.
 *
 *   publish_address '10.0.0.1'          # key 'value'
 *   vip = "10.0.0.100"                  # key = value
 *   postgresql.port = 5432              # dotted keys
 *   postgresql['max_connections'] = 350 # bracket keys (Mixlib style)
 *   postgresql.md5_auth_cidr_addresses = ["samehost", "samenet"]
 *   leaderl.health_check.fatal_system_checks false
 *
 * Every setting backstay knows is listed once in base/settings.def with its
 * type, default and meaning; keys that chef-backend had but backstay does
 * not use are accepted (an existing chef-backend.rb parses unchanged) and
 * marked "compat" there.
 */
enum bs_set_type {
	BS_SET_STRING,	/* 'x' or "x" */
	BS_SET_INT,	/* decimal integer, optional sign, 64-bit */
	BS_SET_FLOAT,	/* decimal number */
	BS_SET_BOOL,	/* true / false */
	BS_SET_STRLIST, /* ["a", 'b'] (possibly empty) */
	BS_SET_MAP,	/* { 'K' => 'V', "K2" => "V2" } string to string */
};

#define BS_SETTING(id, key, type, def, flags, doc) BS_SET_##id,
enum bs_setting {
#include "settings.def"
	BS_SET__COUNT
};
#undef BS_SETTING

enum {
	BS_SETF_COMPAT = 1 << 0, /* accepted for chef-backend.rb compatibility, unused */
	BS_SETF_NIL = 1 << 1
}; /* the value may be nil (any type) */

struct bs_setting_info {
	const char *key; /* "postgresql.port" */
	enum bs_set_type type;
	const char *def; /* default, in chef-backend.rb value syntax */
	unsigned flags;	 /* BS_SETF_* */
	const char *doc; /* one line */
};
const struct bs_setting_info *bs_setting_info(enum bs_setting id);
/* Lookup by key; returns BS_SET__COUNT when unknown. */
enum bs_setting bs_setting_find(const char *key);

struct bs_config;

/* A config holding every default. Owned by the caller (bs_config_free).
 * 0 or -ENOMEM. */
int bs_config_new(struct bs_config **ret_config);
void bs_config_free(struct bs_config *config); /* accepts NULL */

/* Parse text (name is used in messages, normally the file path) into
 * config, on top of what it holds. On error nothing in config changes, and
 * errmsg says "<name>:<line>: <what>" — an unknown key names the closest
 * known key, a wrong type names the expected type. Returns 0, BS_E_PARSE,
 * BS_E_UNKNOWN_KEY, BS_E_TYPE or -ENOMEM. */
int bs_config_parse(struct bs_config *config, const char *name, const char *text, size_t len,
		    char *errmsg, size_t errmsg_size);
/* Same, reading the file at path; a file that cannot be read gives the
 * negative errno with "<path>: <strerror>" in errmsg. */
int bs_config_load(struct bs_config *config, const char *path, char *errmsg, size_t errmsg_size);

/* Typed getters. The id must have that type (checked; a mismatch is a
 * programming error and aborts). Returned pointers live until the config is
 * freed or the setting is set again. A nil string returns NULL; a nil
 * number returns 0 (check bs_config_is_nil for BS_SETF_NIL settings). */
const char *bs_config_str(const struct bs_config *config, enum bs_setting id);
int64_t bs_config_int(const struct bs_config *config, enum bs_setting id);
double bs_config_float(const struct bs_config *config, enum bs_setting id);
bool bs_config_bool(const struct bs_config *config, enum bs_setting id);
/* Number of elements and element i (0 <= i < n; out of range aborts). Also
 * for MAP settings, whose elements alternate key, value (n is twice the
 * number of pairs). */
size_t bs_config_list_len(const struct bs_config *config, enum bs_setting id);
const char *bs_config_list_at(const struct bs_config *config, enum bs_setting id, size_t i);
/* Is the value nil (only possible for BS_SETF_NIL settings)? */
bool bs_config_is_nil(const struct bs_config *config, enum bs_setting id);
/* Was the setting given explicitly (rather than left at its default)? */
bool bs_config_is_set(const struct bs_config *config, enum bs_setting id);

/* Set one setting from chef-backend.rb value text ("5432", "'x'", "[...]").
 * Used by the CLI (-p ADDR) and tests. Same return codes as
 * bs_config_parse; errmsg reads "<key>: <what>". On error nothing changes. */
int bs_config_set(struct bs_config *config, enum bs_setting id, const char *value_text,
		  char *errmsg, size_t errmsg_size);

/* Write settings in chef-backend.rb syntax, one `key value` line each with
 * the doc as a comment above it; the output parses back to an equal config.
 * all=true writes every setting, all=false only explicitly set ones.
 * Returns 0 or -EIO. */
int bs_config_write(const struct bs_config *config, FILE *out, bool all);
/* Same values for every setting? */
bool bs_config_equal(const struct bs_config *a, const struct bs_config *b);

/* Write text (plus a newline) to path atomically, mode 0600: a temporary
 * file beside it, fsync, rename over path, fsync of the directory. On
 * failure path is unchanged and no temporary file remains. 0 or negative
 * errno + errmsg naming path. */
int bs_file_write_atomic(const char *path, const char *text, char *errmsg, size_t errmsg_size);

/* ------------------------------------------------------------------------
 * Secrets file (default /etc/backstay/secrets.json, mode 0600):
 *   { "backstay": { "cluster_id": "<32 hex>", "cluster_secret": "<64 hex>" },
 *     "postgresql": { "db_superuser_password": "<hex>",
 *                     "replication_password": "<hex>" } }
 */
enum { BS_CLUSTER_ID_LEN = 16, BS_CLUSTER_SECRET_LEN = 32, BS_PASSWORD_LEN = 24 };

struct bs_secrets {
	uint8_t cluster_id[BS_CLUSTER_ID_LEN];
	uint8_t cluster_secret[BS_CLUSTER_SECRET_LEN];
	char db_superuser_password[2 * BS_PASSWORD_LEN + 1]; /* hex, NUL-terminated */
	char replication_password[2 * BS_PASSWORD_LEN + 1];
};

/* Fill s with fresh random values drawn from clock. 0 or negative errno. */
int bs_secrets_generate(struct bs_clock *clock, struct bs_secrets *ret_secrets);
/* Write atomically: temp file in the same directory (mode 0600), write,
 * fsync, rename over path, fsync the directory. On failure path is
 * unchanged and no temp file remains. 0 or negative errno + errmsg. */
int bs_secrets_write(const char *path, const struct bs_secrets *secrets, char *errmsg,
		     size_t errmsg_size);
/* Read and validate. Refuses (BS_E_SECRETS_PERM) a file whose mode grants
 * anything to group or others, BS_E_SECRETS_CORRUPT for truncated, non-JSON
 * or missing/malformed keys, negative errno when unreadable. errmsg names
 * the path and the problem. ret_secrets is untouched on failure. */
int bs_secrets_read(const char *path, struct bs_secrets *ret_secrets, char *errmsg,
		    size_t errmsg_size);
/* Wipe secrets from memory (not optimised away). */
void bs_secrets_wipe(struct bs_secrets *secrets);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void bs_hex(const uint8_t *bytes, size_t n, char *out);

#endif /* BS_BASE_H */
