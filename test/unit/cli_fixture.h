/*
 * Fixtures shared by test_cli.c and test_cli_cluster.c: run a command line
 * in-process (cli_main() with memory streams), write the configuration and
 * secrets files it reads, and look at what it left behind.
 *
 * Every helper asserts with cmocka (they run in the test process, never in
 * a child). Paths and texts returned are malloc'd: the caller frees them.
 */
#ifndef BS_TEST_CLI_FIXTURE_H
#define BS_TEST_CLI_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "tools.h"
#include "unit.h"

#define RUN_MAX_ARGS 24

struct run {
	int rc;
	char *out, *err;
};

/* Run `backstay ARGS...` (NULL-terminated) and capture both streams. */
static inline struct run run_argv(const char *prog, const char *const *args)
{
	struct run r = {0};
	char *argv[RUN_MAX_ARGS + 2];
	size_t out_len, err_len;
	FILE *out = open_memstream(&r.out, &out_len);
	FILE *err = open_memstream(&r.err, &err_len);
	int argc = 0;

	assert_non_null(out);
	assert_non_null(err);
	argv[argc++] = (char *)prog;
	while (args[argc - 1] != NULL) {
		assert_true(argc <= RUN_MAX_ARGS);
		argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	argv[argc] = NULL;
	r.rc = cli_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return r;
}

#define RUN(...) run_argv("/usr/bin/backstay", (const char *const[]){__VA_ARGS__, NULL})

static inline void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* dir/name, malloc'd. */
static inline char *path_in(const char *dir, const char *name)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

/* Write text to a file in dir; returns the malloc'd path. */
static inline char *write_file(const char *dir, const char *name, const char *text)
{
	char *path = path_in(dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A config in dir naming secrets_file path (and extra lines); returns its
 * malloc'd path. */
static inline char *config_with(const char *dir, const char *secrets, const char *extra)
{
	char *text, *path;

	assert_true(asprintf(&text, "secrets_file '%s'\n%s", secrets, extra) > 0);
	path = write_file(dir, "backstay.rb", text);
	free(text);
	return path;
}

/* New secrets in dir/name with the given mode; returns the malloc'd path. */
static inline char *secrets_at(const char *dir, const char *name, mode_t mode)
{
	struct bs_secrets s;
	char errmsg[256], *path = path_in(dir, name);

	assert_int_equal(bs_secrets_generate(bs_clock_real(), &s), 0);
	assert_int_equal(bs_secrets_write(path, &s, errmsg, sizeof errmsg), 0);
	bs_secrets_wipe(&s);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static inline char *secrets_in(const char *dir, mode_t mode)
{
	return secrets_at(dir, "secrets.json", mode);
}

static inline bool path_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* The whole content of a file (malloc'd, NUL-terminated), or NULL when
 * it does not exist. */
static inline char *file_text(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem, *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (f == NULL) {
		assert_int_equal(errno, ENOENT);
		return NULL;
	}
	mem = open_memstream(&text, &len);
	assert_non_null(mem);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		assert_int_equal(fwrite(buf, 1, n, mem), n);
	assert_int_equal(ferror(f), 0);
	fclose(f);
	assert_int_equal(fclose(mem), 0);
	return text;
}

/* path holds exactly `before` (a file_text() result), then frees before. */
static inline void assert_file_unchanged(const char *path, char *before)
{
	char *now = file_text(path);

	assert_non_null(before);
	if (now == NULL)
		fail_msg("%s is gone", path);
	if (strcmp(now, before) != 0)
		fail_msg("%s changed:\n--- before\n%s\n--- after\n%s", path, before, now);
	free(now);
	free(before);
}

static inline int tree_remove_one(const char *path, const struct stat *sb, int flag,
				  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -r dir, then free it: for tests whose files nest deeper than
 * unit_tmpdir_remove() reaches. */
static inline void tree_remove(char *dir)
{
	if (dir == NULL)
		return;
	assert_int_equal(nftw(dir, tree_remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(dir);
}

#endif
