/*
 * The CLI dispatcher, run in-process through cli_main() with memory
 * streams: exit codes, suggestions, --help for every verb, the
 * gen-sample-backend-config → show-config round trip, the `kv` family's
 * usage errors and failures that need no running node, and `run`'s refusals
 * of a configuration it cannot start from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "cli_fixture.h"
#include "tools.h"
#include "unit.h"

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
	static const char *const verbs[] = {"version", "gen-sample-backend-config", "show-config",
					    "run"};
	static const char *const kv_verbs[] = {"put", "get", "del", "list", "watch"};
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
	for (i = 0; i < sizeof kv_verbs / sizeof kv_verbs[0]; i++) {
		struct run r = RUN("kv", kv_verbs[i], "--help");
		char want[128];

		snprintf(want, sizeof want, "usage: backstay kv %s [flags]", kv_verbs[i]);
		assert_int_equal(r.rc, CLI_OK);
		assert_non_null(strstr(r.out, want));
		assert_non_null(strstr(r.out, "--endpoint ADDR"));
		assert_non_null(strstr(r.out, "--secrets-file FILE"));
		assert_non_null(strstr(r.out, "--json"));
		assert_non_null(strstr(r.out, "--config FILE"));
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

/* ---- kv: usage --------------------------------------------------------------- */

static void kv_without_verb_is_usage(void **state)
{
	struct run r = RUN("kv");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "usage: backstay kv <command>"));
	assert_non_null(strstr(r.err, "watch"));
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void kv_help_lists_verbs(void **state)
{
	struct run r = RUN("kv", "--help");

	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "put"));
	assert_non_null(strstr(r.out, "list"));
	run_free(&r);
	r = RUN("help", "kv");
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "usage: backstay kv <command>"));
	run_free(&r);
	r = RUN("help", "kv", "get");
	assert_int_equal(r.rc, CLI_OK);
	assert_non_null(strstr(r.out, "usage: backstay kv get [flags] KEY"));
	assert_non_null(strstr(r.out, "--local"));
	run_free(&r);
	r = RUN("help", "kv", "gte");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "did you mean 'get'?"));
	run_free(&r);
	r = RUN("--help");
	assert_non_null(strstr(r.out, "kv "));
	assert_non_null(strstr(r.out, "run "));
	run_free(&r);
}

static void kv_unknown_verb_suggests(void **state)
{
	struct run r = RUN("kv", "gte", "x");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "backstay: unknown kv command 'gte'; did you mean 'get'?"));
	assert_non_null(strstr(r.err, "Run 'backstay kv --help'"));
	run_free(&r);
	r = RUN("kv", "frobnicate");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_null(strstr(r.err, "did you mean"));
	run_free(&r);
}

static void kv_operands_checked(void **state)
{
	struct run r = RUN("kv", "put", "k");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "backstay kv put: missing operand"));
	assert_non_null(strstr(r.err, "usage: backstay kv put KEY VALUE"));
	run_free(&r);
	r = RUN("kv", "get", "a", "b");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "backstay kv get: unexpected operand 'b'"));
	run_free(&r);
	r = RUN("kv", "put", "", "v");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "key must not be empty"));
	run_free(&r);
	r = RUN("kv", "del", "");
	assert_int_equal(r.rc, CLI_USAGE);
	run_free(&r);
}

static void kv_flags_checked(void **state)
{
	struct run r = RUN("kv", "get", "--lokal", "k");

	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "backstay kv get: unknown flag '--lokal'; did you mean "
				      "'--local'?"));
	run_free(&r);
	r = RUN("kv", "put", "k", "v", "--lease");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "needs a value"));
	run_free(&r);
	r = RUN("kv", "put", "--prefix", "k", "v"); /* a del flag */
	assert_int_equal(r.rc, CLI_USAGE);
	run_free(&r);
	r = RUN("kv", "put", "--lease", "-3", "k", "v");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "--lease wants a number"));
	run_free(&r);
	r = RUN("kv", "list", "--limit", "0", "p");
	assert_int_equal(r.rc, CLI_USAGE);
	run_free(&r);
	r = RUN("kv", "watch", "--count", "2x", "p");
	assert_int_equal(r.rc, CLI_USAGE);
	assert_non_null(strstr(r.err, "--count wants a number"));
	run_free(&r);
}

/* ---- kv: failures before or at the connection --------------------------------- */

static void kv_missing_secrets_fails(void **state)
{
	char *dir = unit_tmpdir_new();
	char *conf = config_with(dir, "/nonexistent/secrets.json", "");
	struct run r = RUN("kv", "get", "-c", conf, "k");

	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, "backstay kv get: /nonexistent/secrets.json"));
	run_free(&r);
	free(conf);
	unit_tmpdir_remove(dir);
}

static void kv_open_secrets_refused(void **state)
{
	char *dir = unit_tmpdir_new();
	char *secrets = secrets_in(dir, 0644);
	char *conf = config_with(dir, secrets, "");
	struct run r = RUN("kv", "put", "-c", conf, "k", "v");

	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, secrets));
	assert_non_null(
		strstr(r.err, "group/others read the cluster secret")); /* base/'s message */
	run_free(&r);
	free(conf);
	free(secrets);
	unit_tmpdir_remove(dir);
}

static void kv_unreachable_node_fails(void **state)
{
	char *dir = unit_tmpdir_new();
	char *secrets = secrets_in(dir, 0600);
	char *conf = config_with(dir, secrets, "");
	struct run r = RUN("kv", "get", "-c", conf, "--endpoint", "127.0.0.1:1", "k");

	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, "backstay kv get: 127.0.0.1:1: "));
	run_free(&r);
	r = RUN("kv", "watch", "-c", conf, "--endpoint", "not-an-address", "p");
	assert_int_equal(r.rc, CLI_FAIL);
	assert_non_null(strstr(r.err, "not-an-address: not a numeric ip:port"));
	run_free(&r);
	free(conf);
	free(secrets);
	unit_tmpdir_remove(dir);
}

/* ---- run: configurations it refuses ----------------------------------------------- */

static void run_refuses_rc(const char *extra, bool good_secrets, const char *want, int want_rc)
{
	char *dir = unit_tmpdir_new();
	char *secrets = secrets_in(dir, good_secrets ? 0600 : 0640);
	char *conf = config_with(dir, secrets, extra);
	struct run r = RUN("run", "-c", conf);

	assert_int_equal(r.rc, want_rc);
	if (strstr(r.err, want) == NULL)
		fail_msg("want '%s' in: %s", want, r.err);
	assert_string_equal(r.out, "");
	run_free(&r);
	free(conf);
	free(secrets);
	unit_tmpdir_remove(dir);
}

static void run_refuses(const char *extra, bool good_secrets, const char *want)
{
	run_refuses_rc(extra, good_secrets, want, CLI_FAIL);
}

static void run_refuses_bad_configs(void **state)
{
	/* Neither create-cluster/join-cluster nor a static id: exit 78, which
	 * backstay.service does not restart on. */
	run_refuses_rc("", true, "not part of a cluster yet: run create-cluster",
		       CLI_NOT_CONFIGURED);
	run_refuses("consensus.node_id 1\n", true, "publish_address is not set");
	run_refuses("consensus.node_id 1\npublish_address 'node1.example'\n", true,
		    "publish_address must be a numeric IP address");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\nlog_level 'loud'\n", true,
		    "log_level must be debug, info, warn or error");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\nconsensus.port 0\n", true,
		    "consensus.port must be from 1 to 65535");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\n", false,
		    "group/others read the cluster secret");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\n"
		    "consensus.initial_cluster ['1=127.0.0.1']\n",
		    true, "'1=127.0.0.1' is not 'ID=IP:PORT'");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\n"
		    "consensus.initial_cluster ['2=127.0.0.1:2380']\n",
		    true, "does not list this node (consensus.node_id 1)");
	run_refuses("consensus.node_id 1\npublish_address '127.0.0.1'\n"
		    "consensus.initial_cluster ['1=127.0.0.2:2380']\n",
		    true,
		    "lists node 1 at 127.0.0.2:2380, but publish_address and consensus.port "
		    "make it 127.0.0.1:2380");
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
		cmocka_unit_test(kv_without_verb_is_usage),
		cmocka_unit_test(kv_help_lists_verbs),
		cmocka_unit_test(kv_unknown_verb_suggests),
		cmocka_unit_test(kv_operands_checked),
		cmocka_unit_test(kv_flags_checked),
		cmocka_unit_test(kv_missing_secrets_fails),
		cmocka_unit_test(kv_open_secrets_refused),
		cmocka_unit_test(kv_unreachable_node_fails),
		cmocka_unit_test(run_refuses_bad_configs),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
