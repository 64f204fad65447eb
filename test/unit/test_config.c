/* base/config*.c: chef-backend.rb parsing, errors, set, write round trip. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "unit.h"

#define NAME "t.rb"

static struct bs_config *new_config(void)
{
	struct bs_config *c = NULL;

	assert_int_equal(bs_config_new(&c), 0);
	assert_non_null(c);
	return c;
}

static int parse(struct bs_config *c, const char *text, char *errmsg, size_t size)
{
	return bs_config_parse(c, NAME, text, strlen(text), errmsg, size);
}

static void parse_ok(struct bs_config *c, const char *text)
{
	char errmsg[256] = "";
	int rv = parse(c, text, errmsg, sizeof errmsg);

	if (rv != 0)
		fail_msg("parse failed (%d): %s", rv, errmsg);
}

static struct bs_config *parsed(const char *text)
{
	struct bs_config *c = new_config();

	parse_ok(c, text);
	return c;
}

/* ---- defaults and the table ------------------------------------------------ */

static void defaults(void **state)
{
	struct bs_config *c = new_config();
	size_t i;

	(void)state;
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 5432);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_LOG_MIN_DURATION_STATEMENT), -1);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_SHMMAX), 17179869184);
	assert_string_equal(bs_config_str(c, BS_SET_IP_VERSION), "ipv4");
	assert_string_equal(bs_config_str(c, BS_SET_POSTGRESQL_ARCHIVE_COMMAND), "");
	assert_null(bs_config_str(c, BS_SET_FQDN));
	assert_true(bs_config_is_nil(c, BS_SET_FQDN));
	assert_true(bs_config_is_nil(c, BS_SET_ELASTICSEARCH_HEAP_SIZE));
	assert_int_equal(bs_config_int(c, BS_SET_ELASTICSEARCH_HEAP_SIZE), 0);
	assert_true(bs_config_bool(c, BS_SET_HIDE_SENSITIVE));
	assert_false(bs_config_bool(c, BS_SET_LEADERL_HEALTH_CHECK_FATAL_SYSTEM_CHECKS));
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 0.5);
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES), 2);
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 1),
			    "samenet");
	assert_int_equal(bs_config_list_len(c, BS_SET_ELASTICSEARCH_JVM_OPTS), 0);
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_ENVIRONMENT), 0);
	for (i = 0; i < BS_SET__COUNT; i++)
		assert_false(bs_config_is_set(c, (enum bs_setting)i));
	bs_config_free(c);
	bs_config_free(NULL);
}

static void table_lookup(void **state)
{
	const struct bs_setting_info *info;
	size_t i;

	(void)state;
	assert_int_equal(bs_setting_find("postgresql.port"), BS_SET_POSTGRESQL_PORT);
	assert_int_equal(bs_setting_find("postgresql.prot"), BS_SET__COUNT);
	assert_int_equal(bs_setting_find(""), BS_SET__COUNT);
	info = bs_setting_info(BS_SET_ETCD_ELECTION_TIMEOUT);
	assert_string_equal(info->key, "etcd.election_timeout");
	assert_int_equal(info->type, BS_SET_INT);
	assert_true(info->flags & BS_SETF_COMPAT);
	for (i = 0; i < BS_SET__COUNT; i++) {
		info = bs_setting_info((enum bs_setting)i);
		assert_int_equal(bs_setting_find(info->key), i); /* keys are unique */
		assert_true(strlen(info->doc) > 0);
	}
}

/* ---- forms ----------------------------------------------------------------- */

static void forms(void **state)
{
	struct bs_config *c = parsed("fqdn 'be1'\n"
				     "publish_address \"10.0.0.1\"\n"
				     "vip = '10.0.0.100'\n"
				     "postgresql.port = 5433\n"
				     "postgresql.max_connections 400\n"
				     "postgresql['max_wal_senders'] = 20\n"
				     "postgresql[\"max_wal_size\"] 70\n"
				     "leaderl['health_check']['interval_seconds'] = 7\n"
				     "leaderl[ 'health_check' ].max_pgsql_failures=9\n"
				     "elasticsearch.enable=false\n");

	(void)state;
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "be1");
	assert_string_equal(bs_config_str(c, BS_SET_PUBLISH_ADDRESS), "10.0.0.1");
	assert_string_equal(bs_config_str(c, BS_SET_VIP), "10.0.0.100");
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 5433);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_MAX_CONNECTIONS), 400);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_MAX_WAL_SENDERS), 20);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_MAX_WAL_SIZE), 70);
	assert_int_equal(bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_INTERVAL_SECONDS), 7);
	assert_int_equal(bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_MAX_PGSQL_FAILURES), 9);
	assert_false(bs_config_bool(c, BS_SET_ELASTICSEARCH_ENABLE));
	assert_true(bs_config_is_set(c, BS_SET_FQDN));
	assert_true(bs_config_is_set(c, BS_SET_ELASTICSEARCH_ENABLE));
	assert_false(bs_config_is_set(c, BS_SET_IP_VERSION));
	bs_config_free(c);
}

static void strings(void **state)
{
	struct bs_config *c = parsed("fqdn 'it\\'s \\\\ \\n \"x\" #{y}'\n"
				     "vip \"a\\\"b\\\\c\\nd\\te\\r\\#{x} 'q' # kept\"\n"
				     "vip_interface ''\n"
				     "data_dir \"\"\n"
				     "log_level 'two\nlines'\n"
				     "secrets_file '\\q'\n");

	(void)state;
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "it's \\ \\n \"x\" #{y}");
	assert_string_equal(bs_config_str(c, BS_SET_VIP), "a\"b\\c\nd\te\r#{x} 'q' # kept");
	assert_string_equal(bs_config_str(c, BS_SET_VIP_INTERFACE), "");
	assert_string_equal(bs_config_str(c, BS_SET_DATA_DIR), "");
	assert_string_equal(bs_config_str(c, BS_SET_LOG_LEVEL), "two\nlines");
	assert_string_equal(bs_config_str(c, BS_SET_SECRETS_FILE), "\\q");
	bs_config_free(c);
}

static void numbers(void **state)
{
	struct bs_config *c = parsed("postgresql.port +6000\n"
				     "postgresql.max_connections 1_000\n"
				     "postgresql.log_min_duration_statement -250\n"
				     "postgresql.archive_timeout 0\n"
				     "postgresql.shmmax 9223372036854775807\n"
				     "postgresql.shmall -9223372036854775808\n"
				     "leaderl.health_check.max_bytes_behind_leader 1_048_576\n");

	(void)state;
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 6000);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_MAX_CONNECTIONS), 1000);
	assert_true(bs_config_int(c, BS_SET_POSTGRESQL_LOG_MIN_DURATION_STATEMENT) == -250);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_ARCHIVE_TIMEOUT), 0);
	assert_true(bs_config_int(c, BS_SET_POSTGRESQL_SHMMAX) == INT64_MAX);
	assert_true(bs_config_int(c, BS_SET_POSTGRESQL_SHMALL) == INT64_MIN);
	assert_int_equal(bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_MAX_BYTES_BEHIND_LEADER),
			 1048576);
	parse_ok(c, "postgresql.checkpoint_completion_target 0.75");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 0.75);
	parse_ok(c, "postgresql.checkpoint_completion_target 1 # an integer is a fine float");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 1.0);
	parse_ok(c, "postgresql.checkpoint_completion_target -1.5e-3");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == -1.5e-3);
	parse_ok(c, "postgresql.checkpoint_completion_target 2E+2");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 200.0);
	parse_ok(c, "postgresql.checkpoint_completion_target 1_0.2_5");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 10.25);
	bs_config_free(c);
}

static void bools_and_nil(void **state)
{
	struct bs_config *c = parsed("hide_sensitive false\n"
				     "postgresql.log_checkpoints = true\n"
				     "fqdn 'x'\n"
				     "fqdn nil\n"
				     "elasticsearch.heap_size 1024\n"
				     "elasticsearch.new_size = nil\n");

	(void)state;
	assert_false(bs_config_bool(c, BS_SET_HIDE_SENSITIVE));
	assert_true(bs_config_bool(c, BS_SET_POSTGRESQL_LOG_CHECKPOINTS));
	assert_null(bs_config_str(c, BS_SET_FQDN));
	assert_true(bs_config_is_nil(c, BS_SET_FQDN));
	assert_true(bs_config_is_set(c, BS_SET_FQDN));
	assert_false(bs_config_is_nil(c, BS_SET_ELASTICSEARCH_HEAP_SIZE));
	assert_int_equal(bs_config_int(c, BS_SET_ELASTICSEARCH_HEAP_SIZE), 1024);
	assert_true(bs_config_is_nil(c, BS_SET_ELASTICSEARCH_NEW_SIZE));
	parse_ok(c, "elasticsearch.heap_size nil");
	assert_true(bs_config_is_nil(c, BS_SET_ELASTICSEARCH_HEAP_SIZE));
	bs_config_free(c);
}

static void lists(void **state)
{
	struct bs_config *c = parsed("postgresql.md5_auth_cidr_addresses = [\n"
				     "  \"samehost\",   # comment inside\n"
				     "\n"
				     "  '10.0.0.0/8' ,\n"
				     "  \"a,b]\",\n"
				     "]\n"
				     "elasticsearch.jvm_opts ['-Xmx1g']\n"
				     "elasticsearch.java_opts [ ]\n"
				     "leaderl.health_check.disk_paths [\n]\n"
				     "postgresql.port 5555 # line 10 still counted\n");

	(void)state;
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES), 3);
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 0),
			    "samehost");
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 1),
			    "10.0.0.0/8");
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 2),
			    "a,b]");
	assert_int_equal(bs_config_list_len(c, BS_SET_ELASTICSEARCH_JVM_OPTS), 1);
	assert_string_equal(bs_config_list_at(c, BS_SET_ELASTICSEARCH_JVM_OPTS, 0), "-Xmx1g");
	assert_int_equal(bs_config_list_len(c, BS_SET_ELASTICSEARCH_JAVA_OPTS), 0);
	assert_int_equal(bs_config_list_len(c, BS_SET_LEADERL_HEALTH_CHECK_DISK_PATHS), 0);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 5555);
	bs_config_free(c);
}

static void hashes(void **state)
{
	struct bs_config *c =
		parsed("postgresql.environment = { 'LC_ALL' => 'C', \"TZ\" => \"UTC\" }\n"
		       "etcd.environment {}\n"
		       "leaderl.environment = {\n"
		       "  'A' => '1',  # comment\n"
		       "  'B'=>'2',\n"
		       "  'A' => '3',\n"
		       "}\n");

	(void)state;
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_ENVIRONMENT), 4);
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 0), "LC_ALL");
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 1), "C");
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 2), "TZ");
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_ENVIRONMENT, 3), "UTC");
	assert_int_equal(bs_config_list_len(c, BS_SET_ETCD_ENVIRONMENT), 0);
	/* a repeated hash key keeps its place and takes the last value */
	assert_int_equal(bs_config_list_len(c, BS_SET_LEADERL_ENVIRONMENT), 4);
	assert_string_equal(bs_config_list_at(c, BS_SET_LEADERL_ENVIRONMENT, 0), "A");
	assert_string_equal(bs_config_list_at(c, BS_SET_LEADERL_ENVIRONMENT, 1), "3");
	assert_string_equal(bs_config_list_at(c, BS_SET_LEADERL_ENVIRONMENT, 3), "2");
	bs_config_free(c);
}

static void layout(void **state)
{
	struct bs_config *c = parsed("\n\n   # indented comment\n"
				     "\tfqdn\t'tabs'\t# trailing\n"
				     "postgresql.port 1\r\n"
				     "postgresql.port 2 # a duplicate: the last one wins\r\n"
				     "   \n"
				     "publish_address '10.0.0.1'");
	struct bs_config *d = new_config();

	(void)state;
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "tabs");
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 2);
	assert_string_equal(bs_config_str(c, BS_SET_PUBLISH_ADDRESS), "10.0.0.1");
	parse_ok(d, "");
	parse_ok(d, "# only a comment");
	parse_ok(d, "\n\n");
	bs_config_free(c);
	c = new_config();
	assert_true(bs_config_equal(c, d));
	bs_config_free(c);
	bs_config_free(d);
}

static void parse_is_layered(void **state)
{
	struct bs_config *c = parsed("postgresql.port 6000\nfqdn 'a'\n");

	(void)state;
	parse_ok(c, "fqdn 'b'\n");
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 6000);
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "b");
	bs_config_free(c);
}

/* ---- an existing chef-backend.rb -------------------------------------------- */

static void existing_file(void **state)
{
	struct bs_config *c = new_config();
	char errmsg[256] = "";

	(void)state;
	if (bs_config_load(c, BS_TEST_DATA_DIR "/chef-backend.rb", errmsg, sizeof errmsg) != 0)
		fail_msg("%s", errmsg);
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "be1.example.com");
	assert_string_equal(bs_config_str(c, BS_SET_PUBLISH_ADDRESS), "10.0.1.11");
	assert_string_equal(bs_config_str(c, BS_SET_VIP), "10.0.1.100");
	assert_string_equal(bs_config_str(c, BS_SET_VIP_INTERFACE), "eth0");
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_MAX_CONNECTIONS), 500);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 5432);
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES), 4);
	assert_string_equal(bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 3),
			    "10.0.2.0/24");
	assert_true(bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET) == 0.9);
	assert_true(bs_config_is_nil(c, BS_SET_POSTGRESQL_EFFECTIVE_CACHE_SIZE));
	assert_true(bs_config_is_set(c, BS_SET_POSTGRESQL_EFFECTIVE_CACHE_SIZE));
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_ENVIRONMENT), 4);
	assert_int_equal(bs_config_int(c, BS_SET_ETCD_ELECTION_TIMEOUT), 5000);
	assert_int_equal(bs_config_int(c, BS_SET_ETCD_IONICE_CLASS), 1);
	assert_int_equal(bs_config_int(c, BS_SET_ETCD_LOG_ROTATION_FILE_MAXBYTES), 104857600);
	assert_int_equal(bs_config_int(c, BS_SET_ELASTICSEARCH_HEAP_SIZE), 4096);
	assert_int_equal(bs_config_list_len(c, BS_SET_ELASTICSEARCH_JVM_OPTS), 2);
	assert_int_equal(bs_config_int(c, BS_SET_LEADERL_HEALTH_CHECK_MAX_BYTES_BEHIND_LEADER),
			 104857600);
	assert_true(bs_config_bool(c, BS_SET_LEADERL_HEALTH_CHECK_FATAL_SYSTEM_CHECKS));
	assert_int_equal(bs_config_int(c, BS_SET_LEADERL_ETCD_POOL_HTTP_TIMEOUT_MS), 5000);
	assert_string_equal(bs_config_str(c, BS_SET_LEADERL_ETCD_POOL_IBROWSE_OPTIONS),
			    "{inactivity_timeout, infinity}");
	assert_string_equal(bs_config_str(c, BS_SET_SSL_COMPANY_NAME), "Example, Inc.");
	assert_string_equal(bs_config_str(c, BS_SET_SSL_ORGANIZATIONAL_UNIT_NAME), "Ops #3");
	assert_int_equal(bs_config_int(c, BS_SET_SSL_DURATION), 730);
	assert_false(bs_config_is_set(c, BS_SET_CONSENSUS_PORT));
	bs_config_free(c);
}

/* ---- errors ------------------------------------------------------------------ */

/* Each text is parsed after a valid first line (so every line number below
 * is one more than the case's own), into a config that already differs from
 * the defaults; after the error it must equal an untouched copy. */
struct bad_case {
	const char *text;
	int code;
	const char *msg; /* the whole errmsg */
};

static const struct bad_case bad_cases[] = {
	/* unknown keys */
	{"postgresql.prot = 5432", BS_E_UNKNOWN_KEY,
	 "t.rb:2: unknown setting 'postgresql.prot'; did you mean 'postgresql.port'?"},
	{"\n\npostgresql['prot'] 5432", BS_E_UNKNOWN_KEY,
	 "t.rb:4: unknown setting 'postgresql.prot'; did you mean 'postgresql.port'?"},
	{"zookeeper.session_timeout 5", BS_E_UNKNOWN_KEY,
	 "t.rb:2: unknown setting 'zookeeper.session_timeout'"},
	{"postgresql 5", BS_E_UNKNOWN_KEY, "t.rb:2: unknown setting 'postgresql'"},
	/* wrong types, one per class */
	{"postgresql.port = '5432'", BS_E_TYPE,
	 "t.rb:2: 'postgresql.port' expects an integer, got a string"},
	{"postgresql.port 5432.0", BS_E_TYPE,
	 "t.rb:2: 'postgresql.port' expects an integer, got a decimal number"},
	{"postgresql.port true", BS_E_TYPE,
	 "t.rb:2: 'postgresql.port' expects an integer, got a boolean"},
	{"postgresql.port [5432]", BS_E_TYPE,
	 "t.rb:2: 'postgresql.port' expects an integer, got a list"},
	{"fqdn 5", BS_E_TYPE, "t.rb:2: 'fqdn' expects a string, got an integer"},
	{"fqdn ['a']", BS_E_TYPE, "t.rb:2: 'fqdn' expects a string, got a list"},
	{"fqdn {}", BS_E_TYPE, "t.rb:2: 'fqdn' expects a string, got a hash"},
	{"hide_sensitive 'false'", BS_E_TYPE,
	 "t.rb:2: 'hide_sensitive' expects true or false, got a string"},
	{"hide_sensitive 0", BS_E_TYPE,
	 "t.rb:2: 'hide_sensitive' expects true or false, got an integer"},
	{"postgresql.checkpoint_completion_target '0.5'", BS_E_TYPE,
	 "t.rb:2: 'postgresql.checkpoint_completion_target' expects a number, got a string"},
	{"postgresql.checkpoint_completion_target false", BS_E_TYPE,
	 "t.rb:2: 'postgresql.checkpoint_completion_target' expects a number, got a boolean"},
	{"postgresql.md5_auth_cidr_addresses 'samehost'", BS_E_TYPE,
	 "t.rb:2: 'postgresql.md5_auth_cidr_addresses' expects a list of strings, got a string"},
	{"postgresql.md5_auth_cidr_addresses [\n'a',\n1]", BS_E_TYPE,
	 "t.rb:2: 'postgresql.md5_auth_cidr_addresses' expects a list of strings, got a list "
	 "containing an integer"},
	{"postgresql.md5_auth_cidr_addresses [['a']]", BS_E_TYPE,
	 "t.rb:2: 'postgresql.md5_auth_cidr_addresses' expects a list of strings, got a list "
	 "containing a list"},
	{"postgresql.md5_auth_cidr_addresses { 'a' => 'b' }", BS_E_TYPE,
	 "t.rb:2: 'postgresql.md5_auth_cidr_addresses' expects a list of strings, got a hash"},
	{"postgresql.environment ['a']", BS_E_TYPE,
	 "t.rb:2: 'postgresql.environment' expects a hash of strings, got a list"},
	{"postgresql.environment { 'A' => 1 }", BS_E_TYPE,
	 "t.rb:2: 'postgresql.environment' expects a hash of strings, got a hash containing an "
	 "integer"},
	{"postgresql.environment { nil => 'x' }", BS_E_TYPE,
	 "t.rb:2: 'postgresql.environment' expects a hash of strings, got a hash containing nil"},
	/* nil where the setting does not allow it */
	{"ip_version nil", BS_E_TYPE, "t.rb:2: 'ip_version' expects a string, got nil"},
	{"postgresql.port = nil", BS_E_TYPE,
	 "t.rb:2: 'postgresql.port' expects an integer, got nil"},
	{"postgresql.md5_auth_cidr_addresses nil", BS_E_TYPE,
	 "t.rb:2: 'postgresql.md5_auth_cidr_addresses' expects a list of strings, got nil"},
	/* unterminated */
	{"fqdn 'be1", BS_E_PARSE, "t.rb:2: unterminated string (no closing ')"},
	{"fqdn 'be1\npostgresql.port 1\n", BS_E_PARSE,
	 "t.rb:2: unterminated string (no closing ')"},
	{"\nvip \"10.0.0.1\n\n", BS_E_PARSE, "t.rb:3: unterminated string (no closing \")"},
	{"fqdn 'ends in a backslash\\", BS_E_PARSE, "t.rb:2: unterminated string (no closing ')"},
	{"fqdn \"ends in a backslash\\", BS_E_PARSE, "t.rb:2: unterminated string (no closing \")"},
	{"postgresql.md5_auth_cidr_addresses [\n  'a',\n  'b'\n", BS_E_PARSE,
	 "t.rb:2: unterminated list (no closing ])"},
	{"postgresql.md5_auth_cidr_addresses [", BS_E_PARSE,
	 "t.rb:2: unterminated list (no closing ])"},
	{"postgresql.md5_auth_cidr_addresses ['a',\npostgresql.port 1\n", BS_E_PARSE,
	 "t.rb:3: bare word 'postgresql' is not a value (strings need quotes)"},
	{"postgresql.md5_auth_cidr_addresses ['a'\npostgresql.port 1\n", BS_E_PARSE,
	 "t.rb:3: expected ',' or ']' in the list opened on line 2, got 'p'"},
	{"postgresql.environment { 'A' => 'B',\n", BS_E_PARSE,
	 "t.rb:2: unterminated hash (no closing })"},
	{"postgresql.environment { 'A' 'B' }", BS_E_PARSE,
	 "t.rb:2: expected '=>' after a key in the hash opened on line 2"},
	{"postgresql.environment { 'A' => 'B' 'C' }", BS_E_PARSE,
	 "t.rb:2: expected ',' or '}' in the hash opened on line 2, got '''"},
	/* garbage after a value */
	{"postgresql.port 5432 6000", BS_E_PARSE,
	 "t.rb:2: unexpected '6' after the value of 'postgresql.port'"},
	{"fqdn 'a' 'b'", BS_E_PARSE, "t.rb:2: unexpected ''' after the value of 'fqdn'"},
	{"fqdn 'a';", BS_E_PARSE, "t.rb:2: unexpected ';' after the value of 'fqdn'"},
	{"postgresql.md5_auth_cidr_addresses ['a'] x", BS_E_PARSE,
	 "t.rb:2: unexpected 'x' after the value of 'postgresql.md5_auth_cidr_addresses'"},
	{"hide_sensitive true.to_s", BS_E_PARSE,
	 "t.rb:2: unexpected '.' after the value of 'hide_sensitive'"},
	/* missing values */
	{"postgresql.port", BS_E_PARSE, "t.rb:2: missing value for 'postgresql.port'"},
	{"postgresql.port =\npostgresql.port 1", BS_E_PARSE,
	 "t.rb:2: missing value for 'postgresql.port'"},
	{"postgresql.port = # comment", BS_E_PARSE, "t.rb:2: missing value for 'postgresql.port'"},
	{"postgresql.md5_auth_cidr_addresses ['a',,]", BS_E_PARSE,
	 "t.rb:2: expected a value, got ','"},
	{"postgresql.environment { 'A' => }", BS_E_PARSE, "t.rb:2: expected a value, got '}'"},
	{"postgresql.port == 5", BS_E_PARSE, "t.rb:2: expected a value, got '='"},
	/* numbers */
	{"postgresql.port 9223372036854775808", BS_E_PARSE,
	 "t.rb:2: integer 9223372036854775808 is out of range (64-bit)"},
	{"postgresql.port -9223372036854775809", BS_E_PARSE,
	 "t.rb:2: integer -9223372036854775809 is out of range (64-bit)"},
	{"postgresql.port 99999999999999999999999999", BS_E_PARSE,
	 "t.rb:2: integer 99999999999999999999999999 is out of range (64-bit)"},
	{"postgresql.port 05432", BS_E_PARSE,
	 "t.rb:2: '05432': a leading 0 means octal in Ruby; write the number without it"},
	{"postgresql.port 0x10", BS_E_PARSE, "t.rb:2: malformed number after '0'"},
	{"postgresql.port 1__0", BS_E_PARSE, "t.rb:2: malformed number after '1'"},
	{"postgresql.port 10_", BS_E_PARSE, "t.rb:2: malformed number after '10'"},
	{"postgresql.port 12abc", BS_E_PARSE, "t.rb:2: malformed number after '12'"},
	{"postgresql.checkpoint_completion_target 1.5.3", BS_E_PARSE,
	 "t.rb:2: malformed number after '1.5'"},
	{"postgresql.checkpoint_completion_target 1e999", BS_E_PARSE,
	 "t.rb:2: number 1e999 is out of range"},
	{"postgresql.port - 5", BS_E_PARSE, "t.rb:2: expected a value, got '-'"},
	/* strings */
	{"fqdn \"a\\qb\"", BS_E_PARSE,
	 "t.rb:2: unsupported escape: backslash before 'q' in a string"},
	{"fqdn \"a\\\nb\"", BS_E_PARSE,
	 "t.rb:2: unsupported escape: backslash before byte 0x0a in a string"},
	{"fqdn \"#{node}\"", BS_E_PARSE,
	 "t.rb:2: string interpolation (#{) is not supported; use single quotes"},
	{"fqdn \"x#@y\"", BS_E_PARSE,
	 "t.rb:2: string interpolation (#@) is not supported; use single quotes"},
	{"fqdn be1", BS_E_PARSE, "t.rb:2: bare word 'be1' is not a value (strings need quotes)"},
	{"fqdn :be1", BS_E_PARSE, "t.rb:2: expected a value, got ':'"},
	/* keys and lines */
	{"= 5", BS_E_PARSE, "t.rb:2: expected a setting name, got '='"},
	{"'fqdn' 'x'", BS_E_PARSE, "t.rb:2: expected a setting name, got '''"},
	{"5", BS_E_PARSE, "t.rb:2: expected a setting name, got '5'"},
	{"postgresql[port] = 1", BS_E_PARSE, "t.rb:2: expected a quoted name after '['"},
	{"postgresql['port' = 1", BS_E_PARSE, "t.rb:2: expected ']' after 'port'"},
	{"postgresql[''] = 1", BS_E_PARSE, "t.rb:2: empty name in []"},
	{"postgresql['port = 1", BS_E_PARSE, "t.rb:2: unterminated string (no closing ')"},
	{"fqdn 'x'\npostgresql.port 5 ; fqdn 'y'", BS_E_PARSE,
	 "t.rb:3: unexpected ';' after the value of 'postgresql.port'"},
};

static void check_bad(const struct bad_case *bc)
{
	static const char pre[] = "postgresql.port 6000\nfqdn 'pre'\n";
	static const char first[] = "postgresql.port 7000  # valid, must not stick\n";
	struct bs_config *c = parsed(pre), *pristine = parsed(pre);
	char errmsg[256] = "", *text;
	size_t i;
	int rv;

	text = malloc(strlen(first) + strlen(bc->text) + 1);
	assert_non_null(text);
	strcpy(text, first);
	strcat(text, bc->text);
	rv = parse(c, text, errmsg, sizeof errmsg);
	if (rv != bc->code || strcmp(errmsg, bc->msg) != 0)
		fail_msg("case %s\n  want %d \"%s\"\n  got  %d \"%s\"", bc->text, bc->code, bc->msg,
			 rv, errmsg);
	assert_true(strncmp(errmsg, "t.rb:", 5) == 0);
	assert_true(bs_config_equal(c, pristine));
	for (i = 0; i < BS_SET__COUNT; i++)
		assert_int_equal(bs_config_is_set(c, (enum bs_setting)i),
				 bs_config_is_set(pristine, (enum bs_setting)i));
	free(text);
	bs_config_free(c);
	bs_config_free(pristine);
}

static void errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
		check_bad(&bad_cases[i]);
}

static void error_nul_bytes(void **state)
{
	static const char in_string[] = "fqdn 'a\0b'\n";
	static const char outside[] = "fqdn 'a'\n\0";
	struct bs_config *c = new_config(), *pristine = new_config();
	char errmsg[256];

	(void)state;
	assert_int_equal(
		bs_config_parse(c, NAME, in_string, sizeof in_string - 1, errmsg, sizeof errmsg),
		BS_E_PARSE);
	assert_string_equal(errmsg, "t.rb:1: NUL byte in a string");
	assert_int_equal(
		bs_config_parse(c, NAME, outside, sizeof outside - 1, errmsg, sizeof errmsg),
		BS_E_PARSE);
	assert_string_equal(errmsg, "t.rb:2: expected a setting name, got byte 0x00");
	assert_true(bs_config_equal(c, pristine));
	bs_config_free(c);
	bs_config_free(pristine);
}

static void error_limits(void **state)
{
	struct bs_config *c = new_config(), *pristine = new_config();
	char errmsg[256], text[512];
	size_t i, n;

	(void)state;
	n = (size_t)sprintf(text, "postgresql.md5_auth_cidr_addresses ");
	for (i = 0; i < 40; i++)
		text[n++] = '[';
	text[n] = '\0';
	assert_int_equal(parse(c, text, errmsg, sizeof errmsg), BS_E_PARSE);
	assert_string_equal(errmsg, "t.rb:1: values nested too deeply");
	memset(text, 'a', 200);
	strcpy(text + 200, " 1");
	assert_int_equal(parse(c, text, errmsg, sizeof errmsg), BS_E_PARSE);
	assert_string_equal(errmsg, "t.rb:1: setting name too long");
	n = (size_t)sprintf(text, "postgresql.port ");
	memset(text + n, '1', 200);
	text[n + 200] = '\0';
	assert_int_equal(parse(c, text, errmsg, sizeof errmsg), BS_E_PARSE);
	assert_string_equal(errmsg, "t.rb:1: number too long");
	assert_true(bs_config_equal(c, pristine));
	bs_config_free(c);
	bs_config_free(pristine);
}

/* ---- set ---------------------------------------------------------------------- */

static void set_values(void **state)
{
	struct bs_config *c = new_config(), *pristine;
	char errmsg[256];

	(void)state;
	assert_int_equal(
		bs_config_set(c, BS_SET_PUBLISH_ADDRESS, "'10.0.0.9'", errmsg, sizeof errmsg), 0);
	assert_string_equal(bs_config_str(c, BS_SET_PUBLISH_ADDRESS), "10.0.0.9");
	assert_true(bs_config_is_set(c, BS_SET_PUBLISH_ADDRESS));
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_PORT, " 6543 # why not\n", errmsg,
				       sizeof errmsg),
			 0);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 6543);
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES,
				       "[\n'a',\n'b',\n]", errmsg, sizeof errmsg),
			 0);
	assert_int_equal(bs_config_list_len(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES), 2);
	assert_int_equal(bs_config_set(c, BS_SET_FQDN, "nil", errmsg, sizeof errmsg), 0);
	assert_null(bs_config_str(c, BS_SET_FQDN));

	pristine = parsed("");
	assert_int_equal(bs_config_set(pristine, BS_SET_PUBLISH_ADDRESS, "'10.0.0.9'", NULL, 0), 0);
	assert_int_equal(bs_config_set(pristine, BS_SET_POSTGRESQL_PORT, "6543", NULL, 0), 0);
	assert_int_equal(bs_config_set(pristine, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES,
				       "['a', 'b']", NULL, 0),
			 0);
	assert_true(bs_config_equal(c, pristine));

	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_PORT, "'x'", errmsg, sizeof errmsg),
			 BS_E_TYPE);
	assert_string_equal(errmsg, "postgresql.port: expects an integer, got a string");
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_PORT, "5 6", errmsg, sizeof errmsg),
			 BS_E_PARSE);
	assert_string_equal(errmsg, "postgresql.port: unexpected '6' after the value");
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_PORT, "", errmsg, sizeof errmsg),
			 BS_E_PARSE);
	assert_string_equal(errmsg, "postgresql.port: missing value");
	assert_int_equal(bs_config_set(c, BS_SET_IP_VERSION, "nil", errmsg, sizeof errmsg),
			 BS_E_TYPE);
	assert_string_equal(errmsg, "ip_version: expects a string, got nil");
	assert_int_equal(bs_config_set(c, BS_SET_FQDN, "'open", errmsg, sizeof errmsg), BS_E_PARSE);
	assert_string_equal(errmsg, "fqdn: unterminated string (no closing ')");
	assert_true(bs_config_equal(c, pristine));
	bs_config_free(c);
	bs_config_free(pristine);
}

/* ---- write and round trip ---------------------------------------------------- */

/* bs_config_write into a heap string (caller frees). */
static char *written(const struct bs_config *c, bool all)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(bs_config_write(c, f, all), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void round_trip(const struct bs_config *c, bool all)
{
	struct bs_config *back = new_config();
	char *text = written(c, all), errmsg[256] = "";
	int rv = parse(back, text, errmsg, sizeof errmsg);

	if (rv != 0)
		fail_msg("re-parse failed: %s\n%s", errmsg, text);
	assert_true(bs_config_equal(c, back));
	free(text);
	bs_config_free(back);
}

static void write_format(void **state)
{
	struct bs_config *c = new_config();
	char *text = written(c, true);

	(void)state;
	assert_true(strncmp(text,
			    "# this node's name in the cluster (lower case); nil = the host "
			    "name\nfqdn nil\n\n# ",
			    80) == 0);
	assert_non_null(strstr(text, "\n\n# PostgreSQL port\npostgresql.port 5432\n"));
	assert_non_null(strstr(text, "\n# chef-backend's etcd peer port; backstay uses "
				     "consensus.port (chef-backend compatibility; unused by "
				     "backstay)\netcd.peer_port 2380\n"));
	assert_non_null(strstr(text, "\npostgresql.md5_auth_cidr_addresses ['samehost', "
				     "'samenet']\n"));
	assert_non_null(strstr(text, "\npostgresql.environment {}\n"));
	assert_non_null(strstr(text, "\nelasticsearch.jvm_opts []\n"));
	assert_non_null(strstr(text, "\npostgresql.checkpoint_completion_target 0.5\n"));
	assert_non_null(strstr(text, "\npostgresql.archive_command ''\n"));
	assert_non_null(strstr(text, "\nhide_sensitive true\n"));
	free(text);

	text = written(c, false);
	assert_string_equal(text, "");
	free(text);

	parse_ok(c, "postgresql.environment { \"K\" => \"it's\" }\nfqdn 'a\\\\b'\n"
		    "postgresql.checkpoint_completion_target 2");
	text = written(c, false);
	assert_string_equal(text, "# this node's name in the cluster (lower case); nil = the host "
				  "name\nfqdn 'a\\\\b'\n\n"
				  "# checkpoint_completion_target\n"
				  "postgresql.checkpoint_completion_target 2.0\n\n"
				  "# extra environment for the postgres process\n"
				  "postgresql.environment { 'K' => 'it\\'s' }\n");
	free(text);
	bs_config_free(c);
}

static void round_trip_defaults(void **state)
{
	struct bs_config *c = new_config();

	(void)state;
	round_trip(c, true);
	round_trip(c, false);
	bs_config_free(c);
}

/* Value text for a non-default value of setting i. */
static void changed_value(size_t i, char *buf, size_t size)
{
	const struct bs_setting_info *info = bs_setting_info((enum bs_setting)i);

	switch (info->type) {
	case BS_SET_STRING:
		snprintf(buf, size, "\"it's \\\"%zu\\\" \\\\ # \\#{x}\\n\\tend'\"", i);
		break;
	case BS_SET_INT:
		snprintf(buf, size, "%zu", 1000000 + i);
		break;
	case BS_SET_FLOAT:
		snprintf(buf, size, "0.1");
		break;
	case BS_SET_BOOL:
		snprintf(buf, size, "%s", strcmp(info->def, "true") == 0 ? "false" : "true");
		break;
	case BS_SET_STRLIST:
		snprintf(buf, size, "['a\\'b', \"c\\\\d\", '#x', '', 'x, y]', '%zu']", i);
		break;
	case BS_SET_MAP:
		snprintf(buf, size, "{ 'K' => 'V', \"K2\" => \"it's # %zu\", '' => '' }", i);
		break;
	}
}

static struct bs_config *all_changed(void)
{
	struct bs_config *c = new_config();
	char value[256], errmsg[256];
	size_t i;

	for (i = 0; i < BS_SET__COUNT; i++) {
		changed_value(i, value, sizeof value);
		if (bs_config_set(c, (enum bs_setting)i, value, errmsg, sizeof errmsg) != 0)
			fail_msg("%s", errmsg);
	}
	/* the extremes of the integers */
	assert_int_equal(
		bs_config_set(c, BS_SET_POSTGRESQL_SHMMAX, "-9223372036854775808", NULL, 0), 0);
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_SHMALL, "9223372036854775807", NULL, 0),
			 0);
	return c;
}

static void every_setting_changes(void **state)
{
	struct bs_config *defaults = new_config(), *c;
	char value[256];
	size_t i;

	(void)state;
	for (i = 0; i < BS_SET__COUNT; i++) {
		c = new_config();
		changed_value(i, value, sizeof value);
		assert_int_equal(bs_config_set(c, (enum bs_setting)i, value, NULL, 0), 0);
		assert_false(bs_config_equal(c, defaults));
		bs_config_free(c);
	}
	bs_config_free(defaults);
}

static void round_trip_all_changed(void **state)
{
	struct bs_config *c = all_changed();

	(void)state;
	assert_string_equal(bs_config_str(c, BS_SET_FQDN), "it's \"0\" \\ # #{x}\n\tend'");
	round_trip(c, true);
	round_trip(c, false);
	bs_config_free(c);
}

/* Set the float setting from "%.17g" text (exact), then check that the
 * writer's shorter text reads back to the same bits. */
static void float_round_trip(double value)
{
	struct bs_config *c = new_config(), *back;
	char buf[64], *text;
	double got;

	snprintf(buf, sizeof buf, "%.17g", value);
	if (strpbrk(buf, ".e") == NULL)
		strcat(buf, ".0");
	assert_int_equal(
		bs_config_set(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET, buf, NULL, 0), 0);
	text = written(c, false);
	back = parsed(text);
	got = bs_config_float(back, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET);
	assert_memory_equal(&got, &value, sizeof got);
	free(text);
	bs_config_free(back);
	bs_config_free(c);
}

static void round_trip_floats(void **state)
{
	static const double values[] = {0.1,	  1.0 / 3,
					2.5,	  -0.0,
					1e-300,	  5e-324,
					1e300,	  100.0,
					1e21,	  0.30000000000000004,
					-1.75e-7, 123456789012345678.0};
	struct bs_config *c;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof values / sizeof values[0]; i++)
		float_round_trip(values[i]);
	c = parsed("postgresql.checkpoint_completion_target -0.000000175");
	text = written(c, false);
	assert_string_equal(text, "# checkpoint_completion_target\n"
				  "postgresql.checkpoint_completion_target -1.75e-07\n");
	free(text);
	bs_config_free(c);
}

static void existing_file_round_trip(void **state)
{
	struct bs_config *c = new_config();
	char errmsg[256] = "";

	(void)state;
	if (bs_config_load(c, BS_TEST_DATA_DIR "/chef-backend.rb", errmsg, sizeof errmsg) != 0)
		fail_msg("%s", errmsg);
	round_trip(c, true);
	round_trip(c, false);
	bs_config_free(c);
}

static void equality(void **state)
{
	struct bs_config *a = parsed("postgresql.environment { 'A' => '1', 'B' => '2' }\n"
				     "elasticsearch.jvm_opts ['x', 'y']\n");
	struct bs_config *b = parsed("postgresql.environment { 'B' => '2', 'A' => '1' }\n"
				     "elasticsearch.jvm_opts ['x', 'y']\n");

	(void)state;
	assert_true(bs_config_equal(a, b)); /* a hash's order does not matter */
	parse_ok(b, "elasticsearch.jvm_opts ['y', 'x']");
	assert_false(bs_config_equal(a, b)); /* a list's does */
	parse_ok(b, "elasticsearch.jvm_opts ['x', 'y']\n"
		    "postgresql.environment { 'A' => '1', 'B' => '3' }");
	assert_false(bs_config_equal(a, b));
	parse_ok(b, "postgresql.environment { 'A' => '1', 'C' => '2' }");
	assert_false(bs_config_equal(a, b));
	parse_ok(b, "postgresql.environment { 'A' => '1' }");
	assert_false(bs_config_equal(a, b));
	parse_ok(b, "postgresql.environment { 'A' => '1', 'B' => '2' }\nfqdn ''");
	assert_false(bs_config_equal(a, b)); /* nil and '' differ */
	bs_config_free(a);
	bs_config_free(b);
}

static void write_error(void **state)
{
	struct bs_config *c = new_config();
	FILE *f = fopen("/dev/full", "w");

	(void)state;
	if (f == NULL)
		skip();
	assert_int_equal(bs_config_write(c, f, true), -EIO);
	fclose(f);
	bs_config_free(c);
}

/* ---- load -------------------------------------------------------------------- */

static void load_errors(void **state)
{
	struct bs_config *c = new_config(), *pristine = new_config();
	char errmsg[512], *dir = unit_tmpdir_new(), path[512];
	FILE *f;
	int i;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof path, "%s/missing.rb", dir);
	assert_int_equal(bs_config_load(c, path, errmsg, sizeof errmsg), -ENOENT);
	assert_true(strncmp(errmsg, path, strlen(path)) == 0);
	assert_string_equal(errmsg + strlen(path), ": No such file or directory");

	assert_int_equal(bs_config_load(c, dir, errmsg, sizeof errmsg), -EISDIR);
	assert_true(strncmp(errmsg, dir, strlen(dir)) == 0);

	snprintf(path, sizeof path, "%s/bad.rb", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("postgresql.port 1\n\npostgresql.prot 2\n", f);
	fclose(f);
	assert_int_equal(bs_config_load(c, path, errmsg, sizeof errmsg), BS_E_UNKNOWN_KEY);
	assert_true(strncmp(errmsg, path, strlen(path)) == 0);
	assert_true(strncmp(errmsg + strlen(path), ":3: unknown setting", 19) == 0);

	snprintf(path, sizeof path, "%s/huge.rb", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i < 20000; i++) /* 1.2 MB of comments */
		fputs("# a comment line that goes on and on and on and on and on and on\n", f);
	fclose(f);
	assert_int_equal(bs_config_load(c, path, errmsg, sizeof errmsg), -EFBIG);
	assert_true(strncmp(errmsg, path, strlen(path)) == 0);

	assert_true(bs_config_equal(c, pristine));
	unit_tmpdir_remove(dir);
	bs_config_free(c);
	bs_config_free(pristine);
}

static void load_large_ok(void **state)
{
	struct bs_config *c = new_config();
	char errmsg[512], *dir = unit_tmpdir_new(), path[512];
	FILE *f;
	int i;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof path, "%s/big.rb", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i < 5000; i++) /* several read() calls and buffer growths */
		fprintf(f, "postgresql.port %d\n", i);
	fclose(f);
	if (bs_config_load(c, path, errmsg, sizeof errmsg) != 0)
		fail_msg("%s", errmsg);
	assert_int_equal(bs_config_int(c, BS_SET_POSTGRESQL_PORT), 4999);
	unit_tmpdir_remove(dir);
	bs_config_free(c);
}

/* ---- programming errors abort -------------------------------------------------- */

static void expect_abort(void (*fn)(const struct bs_config *))
{
	struct bs_config *c = new_config();
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		fn(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	bs_config_free(c);
}

static void int_of_string(const struct bs_config *c)
{
	bs_config_int(c, BS_SET_FQDN);
}

static void str_of_int(const struct bs_config *c)
{
	bs_config_str(c, BS_SET_POSTGRESQL_PORT);
}

static void list_of_bool(const struct bs_config *c)
{
	bs_config_list_len(c, BS_SET_HIDE_SENSITIVE);
}

static void list_past_end(const struct bs_config *c)
{
	bs_config_list_at(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, 2);
}

static void getter_mismatch_aborts(void **state)
{
	(void)state;
	expect_abort(int_of_string);
	expect_abort(str_of_int);
	expect_abort(list_of_bool);
	expect_abort(list_past_end);
}

int bs_test_config(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(table_lookup),
		cmocka_unit_test(forms),
		cmocka_unit_test(strings),
		cmocka_unit_test(numbers),
		cmocka_unit_test(bools_and_nil),
		cmocka_unit_test(lists),
		cmocka_unit_test(hashes),
		cmocka_unit_test(layout),
		cmocka_unit_test(parse_is_layered),
		cmocka_unit_test(existing_file),
		cmocka_unit_test(errors),
		cmocka_unit_test(error_nul_bytes),
		cmocka_unit_test(error_limits),
		cmocka_unit_test(set_values),
		cmocka_unit_test(write_format),
		cmocka_unit_test(round_trip_defaults),
		cmocka_unit_test(every_setting_changes),
		cmocka_unit_test(round_trip_all_changed),
		cmocka_unit_test(round_trip_floats),
		cmocka_unit_test(existing_file_round_trip),
		cmocka_unit_test(equality),
		cmocka_unit_test(write_error),
		cmocka_unit_test(load_errors),
		cmocka_unit_test(load_large_ok),
		cmocka_unit_test(getter_mismatch_aborts),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
