/* base/secrets.c: generate, atomic write, validated read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "unit.h"

struct fixture {
	char *dir;
	char path[512];
	char errmsg[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL || (f->dir = unit_tmpdir_new()) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/secrets.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void sample(struct bs_secrets *s, uint64_t seed)
{
	struct bs_clock *c;

	assert_int_equal(bs_clock_virtual_new(0, seed, &c), 0);
	assert_int_equal(bs_secrets_generate(c, s), 0);
	bs_clock_free(c);
}

/* Entries in dir other than . and .., names joined by spaces into out. */
static size_t dir_entries(const char *dir, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	out[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ > 0)
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, e->d_name, size - strlen(out) - 1);
	}
	closedir(d);
	return n;
}

static void write_text(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *read_text(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	if (strlen(s) != len)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- generate ---------------------------------------------------------------- */

static void generate_real_differs(void **state)
{
	struct bs_secrets a, b;

	(void)state;
	assert_int_equal(bs_secrets_generate(bs_clock_real(), &a), 0);
	assert_int_equal(bs_secrets_generate(bs_clock_real(), &b), 0);
	assert_memory_not_equal(a.cluster_id, b.cluster_id, sizeof a.cluster_id);
	assert_memory_not_equal(a.cluster_secret, b.cluster_secret, sizeof a.cluster_secret);
	assert_string_not_equal(a.db_superuser_password, b.db_superuser_password);
	assert_string_not_equal(a.replication_password, b.replication_password);
	assert_true(is_hex(a.db_superuser_password, 48));
	assert_true(is_hex(a.replication_password, 48));
	assert_string_not_equal(a.db_superuser_password, a.replication_password);
	bs_secrets_wipe(&a);
	bs_secrets_wipe(&b);
}

static void generate_virtual_replays(void **state)
{
	struct bs_secrets a, b, c;
	static const struct bs_secrets zero;

	(void)state;
	sample(&a, 99);
	sample(&b, 99);
	sample(&c, 100);
	assert_memory_equal(&a, &b, sizeof a);
	assert_memory_not_equal(a.cluster_secret, c.cluster_secret, sizeof a.cluster_secret);
	bs_secrets_wipe(&a);
	assert_memory_equal(&a, &zero, sizeof a);
	bs_secrets_wipe(NULL);
}

/* ---- write and read ---------------------------------------------------------- */

static void round_trip(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s, back;
	struct stat st;

	assert_int_equal(bs_secrets_generate(bs_clock_real(), &s), 0);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	memset(&back, 0xaa, sizeof back);
	if (bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg) != 0)
		fail_msg("%s", f->errmsg);
	assert_memory_equal(&s, &back, sizeof s);
}

static void file_format(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s;
	char id[33], secret[65], want[1024];

	sample(&s, 5);
	bs_hex(s.cluster_id, sizeof s.cluster_id, id);
	bs_hex(s.cluster_secret, sizeof s.cluster_secret, secret);
	snprintf(want, sizeof want,
		 "{\n  \"backstay\": {\n    \"cluster_id\": \"%s\",\n"
		 "    \"cluster_secret\": \"%s\"\n  },\n  \"postgresql\": {\n"
		 "    \"db_superuser_password\": \"%s\",\n"
		 "    \"replication_password\": \"%s\"\n  }\n}\n",
		 id, secret, s.db_superuser_password, s.replication_password);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	assert_string_equal(read_text(f->path), want);
}

static void mode_ignores_umask(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s;
	struct stat st;
	mode_t old = umask(0);

	sample(&s, 1);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	umask(077);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void replaces_existing(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets a, b, back;
	char names[256];
	struct stat st;

	sample(&a, 1);
	sample(&b, 2);
	write_text(f->path, "old, and readable by all", 24, 0644);
	assert_int_equal(bs_secrets_write(f->path, &a, f->errmsg, sizeof f->errmsg), 0);
	assert_int_equal(bs_secrets_write(f->path, &b, f->errmsg, sizeof f->errmsg), 0);
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), 0);
	assert_memory_equal(&b, &back, sizeof b);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 1);
	assert_string_equal(names, "secrets.json");
}

static void relative_path(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s, back;
	char cwd[4096];

	sample(&s, 3);
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(bs_secrets_write("s.json", &s, f->errmsg, sizeof f->errmsg), 0);
	assert_int_equal(bs_secrets_read("s.json", &back, f->errmsg, sizeof f->errmsg), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_memory_equal(&s, &back, sizeof s);
}

static void write_missing_dir(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s;
	char path[600], names[256];

	sample(&s, 1);
	snprintf(path, sizeof path, "%s/nope/secrets.json", f->dir);
	assert_int_equal(bs_secrets_write(path, &s, f->errmsg, sizeof f->errmsg), -ENOENT);
	assert_true(strncmp(f->errmsg, path, strlen(path)) == 0);
	assert_non_null(strstr(f->errmsg, "No such file or directory"));
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 0);
}

static void write_over_directory(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s;
	char names[256];
	int rv;

	/* rename(2) fails, after the temporary file was written: it must go */
	sample(&s, 1);
	assert_int_equal(mkdir(f->path, 0700), 0);
	rv = bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg);
	assert_int_equal(rv, -EISDIR);
	assert_true(strncmp(f->errmsg, f->path, strlen(f->path)) == 0);
	assert_non_null(strstr(f->errmsg, "renaming"));
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 1);
	assert_string_equal(names, "secrets.json");
	assert_int_equal(rmdir(f->path), 0);
}

static void write_bad_paths(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s;
	char path[600], names[256];

	sample(&s, 1);
	snprintf(path, sizeof path, "%s/", f->dir);
	assert_int_equal(bs_secrets_write(path, &s, f->errmsg, sizeof f->errmsg), -EISDIR);
	assert_true(strncmp(f->errmsg, path, strlen(path)) == 0);
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 0);
}

static void failed_write_keeps_old_file(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets a, b;
	char path[600], names[512];

	/* a 250-byte name is fine, but leaves no room for the temporary name
	 * beside it: the write fails before anything is renamed */
	sample(&a, 1);
	sample(&b, 2);
	snprintf(path, sizeof path, "%s/%0250d", f->dir, 0);
	assert_int_equal(bs_secrets_write(path, &a, f->errmsg, sizeof f->errmsg), -ENAMETOOLONG);
	assert_non_null(strstr(f->errmsg, "creating a temporary file"));
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 0);
	write_text(path, "{}", 2, 0600);
	assert_int_equal(bs_secrets_write(path, &b, f->errmsg, sizeof f->errmsg), -ENAMETOOLONG);
	assert_string_equal(read_text(path), "{}");
	assert_int_equal(dir_entries(f->dir, names, sizeof names), 1);
	assert_int_equal(unlink(path), 0);
}

static void read_refuses_modes(void **state)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0602, 0620, 0601};
	struct fixture *f = *state;
	struct bs_secrets s, back, untouched;
	char want[1200];
	size_t i;

	sample(&s, 1);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	memset(&back, 0x5a, sizeof back);
	untouched = back;
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		assert_int_equal(chmod(f->path, modes[i]), 0);
		assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
				 BS_E_SECRETS_PERM);
		snprintf(
			want, sizeof want,
			"%s: mode 0%03o lets group/others %s the cluster secret; run: chmod 600 %s",
			f->path, (unsigned)modes[i], modes[i] & 044 ? "read" : "access", f->path);
		assert_string_equal(f->errmsg, want);
		assert_memory_equal(&back, &untouched, sizeof back);
	}
	assert_int_equal(chmod(f->path, 0400), 0); /* owner-only read is fine */
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), 0);
}

static void read_truncated(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets s, back, untouched;
	size_t cuts[8], len, i;
	char *full, secret[65];

	sample(&s, 1);
	bs_hex(s.cluster_secret, sizeof s.cluster_secret, secret);
	assert_int_equal(bs_secrets_write(f->path, &s, f->errmsg, sizeof f->errmsg), 0);
	full = strdup(read_text(f->path));
	assert_non_null(full);
	len = strlen(full);
	cuts[0] = 0, cuts[1] = 1, cuts[2] = 2, cuts[3] = 20, cuts[4] = len / 2;
	cuts[5] = len / 2 + 1, cuts[6] = len - 3, cuts[7] = len - 2; /* [len-2] is the '}' */
	memset(&back, 0x11, sizeof back);
	untouched = back;
	for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		write_text(f->path, full, cuts[i], 0600);
		assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
				 BS_E_SECRETS_CORRUPT);
		assert_true(strncmp(f->errmsg, f->path, strlen(f->path)) == 0);
		assert_true(strncmp(f->errmsg + strlen(f->path), ": not valid JSON (line ", 23) ==
			    0);
		assert_non_null(strstr(f->errmsg, ") — truncated or corrupt?"));
		assert_null(strstr(f->errmsg, " near '")); /* no quoted file content */
		assert_memory_equal(&back, &untouched, sizeof back);
	}
	/* cut inside the cluster secret: no part of it may reach the message */
	assert_non_null(strstr(full, secret));
	write_text(f->path, full, (size_t)(strstr(full, secret) - full) + 10, 0600);
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
			 BS_E_SECRETS_CORRUPT);
	secret[6] = '\0';
	assert_null(strstr(f->errmsg, secret));
	write_text(f->path, full, len - 1, 0600); /* only the newline gone: still good */
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), 0);
	free(full);
}

struct bad_json {
	const char *json;
	const char *what; /* errmsg after "<path>: " */
};

#define ID "00112233445566778899aabbccddeeff"
#define SECRET ID ID
#define PW "0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct bad_json bad_jsons[] = {
	{"{\"backstay\": {\"cluster_secret\": \"" SECRET "\"}, \"postgresql\": {"
	 "\"db_superuser_password\": \"" PW "\", \"replication_password\": \"" PW "\"}}",
	 "missing \"backstay.cluster_id\""},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\"}, \"postgresql\": {"
	 "\"db_superuser_password\": \"" PW "\", \"replication_password\": \"" PW "\"}}",
	 "missing \"backstay.cluster_secret\""},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}, "
	 "\"postgresql\": {\"replication_password\": \"" PW "\"}}",
	 "missing \"postgresql.db_superuser_password\""},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}, "
	 "\"postgresql\": {\"db_superuser_password\": \"" PW "\"}}",
	 "missing \"postgresql.replication_password\""},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}}",
	 "missing \"postgresql.db_superuser_password\""},
	{"{\"backstay\": [], \"postgresql\": {}}", "missing \"backstay.cluster_id\""},
	{"{}", "missing \"backstay.cluster_id\""},
	{"[]", "not a JSON object — truncated or corrupt?"},
	{"{\"backstay\": {\"cluster_id\": 12, \"cluster_secret\": \"" SECRET "\"}}",
	 "\"backstay.cluster_id\" is not a string"},
	{"{\"backstay\": {\"cluster_id\": \"" ID "0\", \"cluster_secret\": \"" SECRET "\"}}",
	 "\"backstay.cluster_id\" must be 32 hex digits"},
	{"{\"backstay\": {\"cluster_id\": \"zz112233445566778899aabbccddeeff\", "
	 "\"cluster_secret\": \"" SECRET "\"}}",
	 "\"backstay.cluster_id\" must be 32 hex digits"},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" ID "\"}}",
	 "\"backstay.cluster_secret\" must be 64 hex digits"},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}, "
	 "\"postgresql\": {\"db_superuser_password\": \"secret\", "
	 "\"replication_password\": \"" PW "\"}}",
	 "\"postgresql.db_superuser_password\" must be 48 hex digits"},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}, "
	 "\"postgresql\": {\"db_superuser_password\": \"" PW "\", "
	 "\"replication_password\": \"" PW "g\"}}",
	 "\"postgresql.replication_password\" must be 48 hex digits"},
	{"{\"backstay\": {\"cluster_id\": \"" ID "\", \"cluster_secret\": \"" SECRET "\"}, "
	 "\"postgresql\": {\"db_superuser_password\": \"" PW "\", "
	 "\"replication_password\": \"x123456789abcdef0123456789abcdef0123456789abcdef\"}}",
	 "\"postgresql.replication_password\" must be 48 hex digits"},
};

static void read_bad_content(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets back, untouched;
	char want[1200];
	size_t i;

	memset(&back, 0x22, sizeof back);
	untouched = back;
	for (i = 0; i < sizeof bad_jsons / sizeof bad_jsons[0]; i++) {
		write_text(f->path, bad_jsons[i].json, strlen(bad_jsons[i].json), 0600);
		assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
				 BS_E_SECRETS_CORRUPT);
		snprintf(want, sizeof want, "%s: %s", f->path, bad_jsons[i].what);
		assert_string_equal(f->errmsg, want);
		assert_memory_equal(&back, &untouched, sizeof back);
	}
}

static void read_not_json(void **state)
{
	static const char *const texts[] = {
		"not json at all", "{\"backstay\": {}, \"backstay\": {}}", /* duplicate keys */
		"{} {}",						   /* trailing garbage */
	};
	struct fixture *f = *state;
	struct bs_secrets back;
	size_t i;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		write_text(f->path, texts[i], strlen(texts[i]), 0600);
		assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
				 BS_E_SECRETS_CORRUPT);
		assert_non_null(strstr(f->errmsg, ": not valid JSON (line 1: "));
	}
}

static void read_accepts_upper_hex_and_extra_keys(void **state)
{
	static const char text[] =
		"{\"backstay\": {\"cluster_id\": \"00112233445566778899AABBCCDDEEFF\", "
		"\"cluster_secret\": \"" SECRET "\", \"future\": 1}, "
		"\"postgresql\": {\"db_superuser_password\": \"" PW "\", "
		"\"replication_password\": \"" PW "\"}, \"etcd\": {}}";
	struct fixture *f = *state;
	struct bs_secrets back;

	write_text(f->path, text, strlen(text), 0600);
	if (bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg) != 0)
		fail_msg("%s", f->errmsg);
	assert_int_equal(back.cluster_id[0], 0x00);
	assert_int_equal(back.cluster_id[15], 0xff);
	assert_string_equal(back.replication_password, PW);
}

static void read_not_regular_or_missing(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets back;
	char path[600];

	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), -ENOENT);
	snprintf(path, sizeof path, "%s: No such file or directory", f->path);
	assert_string_equal(f->errmsg, path);

	assert_int_equal(mkfifo(f->path, 0600), 0); /* must not block in open */
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), -EINVAL);
	snprintf(path, sizeof path, "%s: not a regular file", f->path);
	assert_string_equal(f->errmsg, path);
	assert_int_equal(unlink(f->path), 0);

	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg), -EINVAL);
	assert_int_equal(rmdir(f->path), 0);
}

static void read_too_big(void **state)
{
	struct fixture *f = *state;
	struct bs_secrets back;
	size_t len = 70000;
	char *big = malloc(len);

	assert_non_null(big);
	memset(big, ' ', len);
	write_text(f->path, big, len, 0600);
	assert_int_equal(bs_secrets_read(f->path, &back, f->errmsg, sizeof f->errmsg),
			 BS_E_SECRETS_CORRUPT);
	assert_true(strncmp(f->errmsg, f->path, strlen(f->path)) == 0);
	assert_non_null(strstr(f->errmsg, "70000 bytes"));
	free(big);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int bs_test_secrets(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate_real_differs),
		cmocka_unit_test(generate_virtual_replays),
		T(round_trip),
		T(file_format),
		T(mode_ignores_umask),
		T(replaces_existing),
		T(relative_path),
		T(write_missing_dir),
		T(write_over_directory),
		T(write_bad_paths),
		T(failed_write_keeps_old_file),
		T(read_refuses_modes),
		T(read_truncated),
		T(read_bad_content),
		T(read_not_json),
		T(read_accepts_upper_hex_and_extra_keys),
		T(read_not_regular_or_missing),
		T(read_too_big),
	};

	return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
