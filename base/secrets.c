/*
 * The secrets file: cluster id, cluster secret and the PostgreSQL passwords
 * as JSON (through jansson), mode 0600.
 *
 * Writing is atomic (bs_file_write_atomic, mode 0600). Reading checks the opened file (fstat on
 * the fd, no stat-then-open race) before trusting a byte of it.
 *
 * Every buffer that held a secret is wiped before it is freed, including the
 * strings inside jansson's trees.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { SECRETS_FILE_MAX = 64 * 1024 };

/* ---- generate ------------------------------------------------------------- */

static int random_password(struct bs_clock *clock, char *out)
{
	uint8_t bytes[BS_PASSWORD_LEN];
	int rv = bs_clock_random(clock, bytes, sizeof bytes);

	if (rv == 0)
		bs_hex(bytes, sizeof bytes, out);
	explicit_bzero(bytes, sizeof bytes);
	return rv;
}

int bs_secrets_generate(struct bs_clock *clock, struct bs_secrets *ret_secrets)
{
	struct bs_secrets s;
	int rv;

	rv = bs_clock_random(clock, s.cluster_id, sizeof s.cluster_id);
	if (rv == 0)
		rv = bs_clock_random(clock, s.cluster_secret, sizeof s.cluster_secret);
	if (rv == 0)
		rv = random_password(clock, s.db_superuser_password);
	if (rv == 0)
		rv = random_password(clock, s.replication_password);
	if (rv == 0)
		*ret_secrets = s;
	explicit_bzero(&s, sizeof s);
	return rv;
}

void bs_secrets_wipe(struct bs_secrets *secrets)
{
	if (secrets != NULL)
		explicit_bzero(secrets, sizeof *secrets);
}

/* Wipe every string value in a jansson tree (json_string_value points at
 * jansson's own copy) before it is freed. */
static void json_wipe(json_t *json)
{
	void *it;
	size_t i;

	if (json_is_string(json))
		explicit_bzero((char *)json_string_value(json), json_string_length(json));
	for (it = json_object_iter(json); it != NULL; it = json_object_iter_next(json, it))
		json_wipe(json_object_iter_value(it));
	for (i = 0; i < json_array_size(json); i++)
		json_wipe(json_array_get(json, i));
}

/* ---- write ---------------------------------------------------------------- */

/* The file's text (heap; the caller wipes and frees it), or NULL. */
static char *secrets_json(const struct bs_secrets *s)
{
	char id[2 * BS_CLUSTER_ID_LEN + 1], secret[2 * BS_CLUSTER_SECRET_LEN + 1];
	json_t *root;
	char *text = NULL;

	bs_hex(s->cluster_id, sizeof s->cluster_id, id);
	bs_hex(s->cluster_secret, sizeof s->cluster_secret, secret);
	root = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "backstay", "cluster_id", id,
			 "cluster_secret", secret, "postgresql", "db_superuser_password",
			 s->db_superuser_password, "replication_password", s->replication_password);
	explicit_bzero(secret, sizeof secret);
	if (root != NULL) {
		text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_wipe(root);
		json_decref(root);
	}
	return text;
}

int bs_secrets_write(const char *path, const struct bs_secrets *secrets, char *errmsg,
		     size_t errmsg_size)
{
	char *text = secrets_json(secrets);
	int rv;

	if (text == NULL) {
		bs_errf(errmsg, errmsg_size, "%s: out of memory", path);
		return -ENOMEM;
	}
	rv = bs_file_write_atomic(path, text, errmsg, errmsg_size);
	explicit_bzero(text, strlen(text));
	free(text);
	return rv;
}

/* ---- read ----------------------------------------------------------------- */

static int corrupt(char *errmsg, size_t errmsg_size, const char *path, const char *section,
		   const char *key, const char *what)
{
	bs_errf(errmsg, errmsg_size, "%s: \"%s.%s\" %s", path, section, key, what);
	return BS_E_SECRETS_CORRUPT;
}

static int get_string(json_t *root, const char *section, const char *key, const char **ret,
		      const char *path, char *errmsg, size_t errmsg_size)
{
	json_t *sec = json_object_get(root, section);
	json_t *v = json_is_object(sec) ? json_object_get(sec, key) : NULL;

	if (v == NULL) {
		bs_errf(errmsg, errmsg_size, "%s: missing \"%s.%s\"", path, section, key);
		return BS_E_SECRETS_CORRUPT;
	}
	if (!json_is_string(v))
		return corrupt(errmsg, errmsg_size, path, section, key, "is not a string");
	*ret = json_string_value(v);
	return 0;
}

static int get_bytes(json_t *root, const char *key, uint8_t *out, size_t n, const char *path,
		     char *errmsg, size_t errmsg_size)
{
	const char *s;
	char what[48];
	int rv = get_string(root, "backstay", key, &s, path, errmsg, errmsg_size);

	if (rv != 0)
		return rv;
	if (bs__unhex(s, strlen(s), out, n) == 0)
		return 0;
	snprintf(what, sizeof what, "must be %zu hex digits", 2 * n);
	return corrupt(errmsg, errmsg_size, path, "backstay", key, what);
}

static int get_password(json_t *root, const char *key, char *out, const char *path, char *errmsg,
			size_t errmsg_size)
{
	uint8_t bytes[BS_PASSWORD_LEN];
	const char *s;
	int rv = get_string(root, "postgresql", key, &s, path, errmsg, errmsg_size);

	if (rv != 0)
		return rv;
	rv = bs__unhex(s, strlen(s), bytes, sizeof bytes);
	explicit_bzero(bytes, sizeof bytes);
	if (rv != 0)
		return corrupt(errmsg, errmsg_size, path, "postgresql", key,
			       "must be 48 hex digits");
	memcpy(out, s, 2 * BS_PASSWORD_LEN + 1);
	return 0;
}

static int secrets_fields(json_t *root, struct bs_secrets *s, const char *path, char *errmsg,
			  size_t errmsg_size)
{
	int rv;

	rv = get_bytes(root, "cluster_id", s->cluster_id, sizeof s->cluster_id, path, errmsg,
		       errmsg_size);
	if (rv == 0)
		rv = get_bytes(root, "cluster_secret", s->cluster_secret, sizeof s->cluster_secret,
			       path, errmsg, errmsg_size);
	if (rv == 0)
		rv = get_password(root, "db_superuser_password", s->db_superuser_password, path,
				  errmsg, errmsg_size);
	if (rv == 0)
		rv = get_password(root, "replication_password", s->replication_password, path,
				  errmsg, errmsg_size);
	return rv;
}

/* jansson quotes the text where it stopped ("... near '\"3f9a0c'"), which
 * in this file may be part of a secret: keep only what went wrong. */
static void json_error_redact(json_error_t *jerr)
{
	char *near = strstr(jerr->text, " near '");

	if (near != NULL)
		explicit_bzero(near, strlen(near));
}

static int secrets_parse(const char *path, const char *text, size_t len,
			 struct bs_secrets *ret_secrets, char *errmsg, size_t errmsg_size)
{
	struct bs_secrets s;
	json_error_t jerr;
	json_t *root;
	int rv;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		json_error_redact(&jerr);
		bs_errf(errmsg, errmsg_size,
			"%s: not valid JSON (line %d: %s) — truncated or corrupt?", path, jerr.line,
			jerr.text);
		explicit_bzero(&jerr, sizeof jerr);
		return BS_E_SECRETS_CORRUPT;
	}
	rv = BS_E_SECRETS_CORRUPT;
	if (!json_is_object(root))
		bs_errf(errmsg, errmsg_size, "%s: not a JSON object — truncated or corrupt?", path);
	else
		rv = secrets_fields(root, &s, path, errmsg, errmsg_size);
	if (rv == 0)
		*ret_secrets = s;
	explicit_bzero(&s, sizeof s);
	json_wipe(root);
	json_decref(root);
	return rv;
}

/* Check the opened file: a regular file, private to its owner, small. */
static int check_file(int fd, const char *path, char *errmsg, size_t errmsg_size)
{
	struct stat st;
	int rv;

	if (fstat(fd, &st) != 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	if (!S_ISREG(st.st_mode)) {
		bs_errf(errmsg, errmsg_size, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		bs_errf(errmsg, errmsg_size,
			"%s: mode 0%03o lets group/others %s the cluster secret; run: chmod 600 %s",
			path, (unsigned)(st.st_mode & 0777), st.st_mode & 044 ? "read" : "access",
			path);
		return BS_E_SECRETS_PERM;
	}
	if (st.st_size > SECRETS_FILE_MAX) {
		bs_errf(errmsg, errmsg_size, "%s: %lld bytes, over the %d a secrets file can be",
			path, (long long)st.st_size, SECRETS_FILE_MAX);
		return BS_E_SECRETS_CORRUPT;
	}
	return 0;
}

/* Up to SECRETS_FILE_MAX + 1 bytes (so growth past the limit shows). */
static ssize_t read_capped(int fd, char *buf)
{
	size_t len = 0;
	ssize_t got;

	while (len <= SECRETS_FILE_MAX) {
		got = read(fd, buf + len, SECRETS_FILE_MAX + 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	return (ssize_t)len;
}

static int read_fd(int fd, const char *path, struct bs_secrets *ret_secrets, char *errmsg,
		   size_t errmsg_size)
{
	char *buf = malloc(SECRETS_FILE_MAX + 1);
	ssize_t len;
	int rv;

	if (buf == NULL) {
		bs_errf(errmsg, errmsg_size, "%s: out of memory", path);
		return -ENOMEM;
	}
	len = read_capped(fd, buf);
	if (len < 0) {
		rv = (int)len;
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
	} else if (len > SECRETS_FILE_MAX) {
		rv = BS_E_SECRETS_CORRUPT;
		bs_errf(errmsg, errmsg_size, "%s: over the %d bytes a secrets file can be", path,
			SECRETS_FILE_MAX);
	} else {
		rv = secrets_parse(path, buf, (size_t)len, ret_secrets, errmsg, errmsg_size);
	}
	explicit_bzero(buf, SECRETS_FILE_MAX + 1);
	free(buf);
	return rv;
}

int bs_secrets_read(const char *path, struct bs_secrets *ret_secrets, char *errmsg,
		    size_t errmsg_size)
{
	int fd, rv;

	/* O_NONBLOCK: a FIFO planted at path must not hang the open; it is
	 * refused by check_file. It changes nothing for a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = check_file(fd, path, errmsg, errmsg_size);
	if (rv == 0)
		rv = read_fd(fd, path, ret_secrets, errmsg, errmsg_size);
	close(fd);
	return rv;
}
