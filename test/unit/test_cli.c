/*
 * The CLI dispatcher, run in-process through cli_main() with memory
 * streams: exit codes, suggestions, --help for every verb, and the
 * gen-sample-backend-config → show-config round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "tools.h"
#include "unit.h"

struct run {
	int rc;
	char *out, *err;
};

/* Run `backstay ARGS...` (NULL-terminated) and capture both streams. */
static struct run run_argv(const char *prog, const char *const *args)
{
	struct run r = {0};
	char *argv[16];
	size_t out_len, err_len;
	FILE *out = open_memstream(&r.out, &out_len);
	FILE *err = open_memstream(&r.err, &err_len);
	int argc = 0;

	assert_non_null(out);
	assert_non_null(err);
	argv[argc++] = (char *)prog;
	while (args[argc - 1] != NULL && argc < 15) {
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

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void no_args_is_usage(void **state)
{
	struct run r = run_argv("backstay", (const char *const[]){NULL});

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "usage: backstay <command>"));
	run_free(&r);
}

static void unknown_verb_suggests(void **state)
{
	struct run r = RUN("shwo-config");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(
		strstr(r.err, "unknown command 'shwo-config'; did you mean 'show-config'?"));
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void unknown_verb_far_has_no_suggestion(void **state)
{
	struct run r = RUN("frobnicate-everything");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "unknown command 'frobnicate-everything'"));
	assert_null(strstr(r.err, "did you mean"));
	run_free(&r);
}

static void unknown_long_flag_suggests(void **state)
{
	struct run r = RUN("show-config", "--confg", "x.rb");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "unknown flag '--confg'; did you mean '--config'?"));
	run_free(&r);
}

static void unknown_short_flag(void **state)
{
	struct run r = RUN("version", "-x");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "unknown flag '-x'"));
	run_free(&r);
}

static void flag_missing_value(void **state)
{
	struct run r = RUN("show-config", "-c");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "needs a value"));
	run_free(&r);
}

static void extra_operand_is_usage(void **state)
{
	struct run r = RUN("version", "extra");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "unexpected operand 'extra'"));
	run_free(&r);
}

static void every_verb_has_help(void **state)
{
	static const char *const verbs[] = {"version", "gen-sample-backend-config", "show-config"};
	size_t i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		struct run r = RUN(verbs[i], "--help");
		char want[128];

		snprintf(want, sizeof want, "usage: backstay %s", verbs[i]);
		assert_int_equal(r.rc, CLI_OK);
		assert_non_null(strstr(r.out, want));
		assert_string_equal(r.err, "");
		run_free(&r);
	}
}

static void help_lists_verbs(void **state)
{
	struct run r = RUN("--help");

	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "gen-sample-backend-config"));
	assert_non_null(strstr(r.out, "show-config"));
	run_free(&r);
	r = RUN("help", "show-config");
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "--config FILE"));
	run_free(&r);
}

static void version_prints(void **state)
{
	struct run r = RUN("version");

	assert_int_equal(r.rc, CLI_OK);
	assert_true(strncmp(r.out, "backstay ", 9) == 0);
	assert_non_null(strstr(r.out, "libraft 0.22"));
	run_free(&r);
}

/* Write text to a file in dir; returns the malloc'd path. */
static char *write_file(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void sample_parses_back_to_defaults(void **state)
{
	char *dir = unit_tmpdir_new();
	struct bs_config *defaults, *parsed;
	struct run r = RUN("gen-sample-backend-config");
	char errmsg[512] = "";
	char *path;

	assert_int_equal(r.rc, CLI_OK);
	path = write_file(dir, "sample.rb", r.out);
	assert_int_equal(bs_config_new(&defaults), 0);
	assert_int_equal(bs_config_new(&parsed), 0);
	assert_int_equal(bs_config_load(parsed, path, errmsg, sizeof errmsg), 0);
	assert_true(bs_config_equal(defaults, parsed));
	run_free(&r);

	r = RUN("show-config", "-c", path);
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "postgresql.port 5432"));
	run_free(&r);
	bs_config_free(defaults);
	bs_config_free(parsed);
	free(path);
	unit_tmpdir_remove(dir);
}

static void show_config_reports_file_line(void **state)
{
	char *dir = unit_tmpdir_new();
	char *path = write_file(dir, "bad.rb", "# comment\nvip_interfce 'eth0'\n");
	struct run r = RUN("show-config", "--config", path);
	char want[512];

	snprintf(want, sizeof want,
		 "%s:2: unknown setting 'vip_interfce'; did you mean 'vip_interface'?", path);
	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, want));
	assert_string_equal(r.out, "");
	run_free(&r);
	free(path);
	unit_tmpdir_remove(dir);
}

static void show_config_missing_file(void **state)
{
	struct run r = RUN("show-config", "-c", "/nonexistent/backstay.rb");

	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, "/nonexistent/backstay.rb"));
	run_free(&r);
}

static void chef_backend_ctl_name(void **state)
{
	struct run r = run_argv("/usr/bin/chef-backend-ctl", (const char *const[]){"nope", NULL});

	assert_int_equal(r.rc, CLI_USAGE);
	assert_true(strncmp(r.err, "chef-backend-ctl: unknown command 'nope'", 40) == 0);
	run_free(&r);
}

int bs_test_cli(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_args_is_usage),
		cmocka_unit_test(unknown_verb_suggests),
		cmocka_unit_test(unknown_verb_far_has_no_suggestion),
		cmocka_unit_test(unknown_long_flag_suggests),
		cmocka_unit_test(unknown_short_flag),
		cmocka_unit_test(flag_missing_value),
		cmocka_unit_test(extra_operand_is_usage),
		cmocka_unit_test(every_verb_has_help),
		cmocka_unit_test(help_lists_verbs),
		cmocka_unit_test(version_prints),
		cmocka_unit_test(sample_parses_back_to_defaults),
		cmocka_unit_test(show_config_reports_file_line),
		cmocka_unit_test(show_config_missing_file),
		cmocka_unit_test(chef_backend_ctl_name),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
