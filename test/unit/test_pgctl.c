/*
 * pgctl/'s pure pieces and its small file operations, without PostgreSQL:
 * postgresql.conf and pg_hba.conf byte for byte (pg_hba.conf against the
 * example in chef-backend's install_server_ha.md), the passfile and
 * conninfo quoting, quorum arithmetic and synchronous_standby_names, LSN
 * and progress parsing, the sentinels, and a self-signed certificate read
 * back with OpenSSL. The server side is test/integration/pgctl_test.c.
 */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgctl.h"
#include "pgctl_internal.h"
#include "unit.h"

static struct bs_config *config_with(const char *const *pairs)
{
	struct bs_config *c = NULL;
	char errmsg[256];
	size_t i;

	assert_int_equal(bs_config_new(&c), 0);
	for (i = 0; pairs != NULL && pairs[i] != NULL; i += 2)
		assert_int_equal(bs_config_set(c, bs_setting_find(pairs[i]), pairs[i + 1], errmsg,
					       sizeof errmsg),
				 0);
	return c;
}

static struct pgc_conf_in conf_in(const struct bs_config *c)
{
	struct pgc_conf_in in = {
		.config = c,
		.data_dir = "/var/lib/backstay/postgresql/15/data",
		.socket_dir = "/var/lib/backstay/pgsock",
		.cert_file = "/var/lib/backstay/ssl/postgresql.crt",
		.key_file = "/var/lib/backstay/ssl/postgresql.key",
		.passfile = "/var/lib/backstay/pgpass",
		.app_name = "be1",
		.ram_bytes = 8ULL << 30,
	};
	return in;
}

static const char conf_primary[] =
	"# postgresql.conf, written by backstay (pgctl): edits here are lost.\n"
	"# Rendered from the postgresql.* settings; postgresql.auto.conf stays empty.\n"
	"cluster_name = 'be1'\n"
	"listen_addresses = '*'\n"
	"port = 5432\n"
	"unix_socket_directories = '/var/lib/backstay/pgsock'\n"
	"max_connections = 350\n"
	"hba_file = '/var/lib/backstay/postgresql/15/data/pg_hba.conf'\n"
	"ssl = on\n"
	"ssl_cert_file = '/var/lib/backstay/ssl/postgresql.crt'\n"
	"ssl_key_file = '/var/lib/backstay/ssl/postgresql.key'\n"
	"ssl_ciphers = 'HIGH:!aNULL:!MD5'\n"
	"shared_buffers = '2048MB'\n"
	"effective_cache_size = '4096MB'\n"
	"work_mem = '8MB'\n"
	"wal_level = 'replica'\n"
	"wal_log_hints = 'on'\n"
	"max_wal_senders = 12\n"
	"max_replication_slots = 12\n"
	"wal_keep_size = '512MB'\n"
	"max_wal_size = '1024MB'\n"
	"min_wal_size = '80MB'\n"
	"checkpoint_completion_target = 0.5\n"
	"checkpoint_timeout = '5min'\n"
	"checkpoint_warning = '30s'\n"
	"archive_mode = 'off'\n"
	"archive_command = ''\n"
	"archive_timeout = 0\n"
	"hot_standby = 'on'\n"
	"wal_sender_timeout = '5s'\n"
	"wal_receiver_timeout = '5s'\n"
	"wal_receiver_status_interval = '1s'\n"
	"wal_retrieve_retry_interval = '200ms'\n"
	"tcp_keepalives_idle = 60\n"
	"tcp_keepalives_interval = 15\n"
	"tcp_keepalives_count = 2\n"
	"log_checkpoints = on\n"
	"log_min_duration_statement = -1\n"
	"synchronous_standby_names = ''\n";

static void conf_primary_defaults(void **state)
{
	struct bs_config *c = config_with(NULL);
	struct pgc_conf_in in = conf_in(c);
	char *text = NULL;

	(void)state;
	assert_int_equal(pgc_render_conf(&in, &text), 0);
	assert_string_equal(text, conf_primary);
	free(text);
	bs_config_free(c);
}

static const char conf_standby_tail[] =
	"hot_standby = 'off'\n"
	"wal_sender_timeout = '5s'\n"
	"wal_receiver_timeout = '5s'\n"
	"wal_receiver_status_interval = '1s'\n"
	"wal_retrieve_retry_interval = '200ms'\n"
	"tcp_keepalives_idle = 30\n"
	"tcp_keepalives_interval = 5\n"
	"tcp_keepalives_count = 3\n"
	"log_checkpoints = off\n"
	"log_min_duration_statement = 250\n"
	"synchronous_standby_names = 'ANY 1 (\"be2\", \"be3\")'\n"
	"primary_conninfo = 'host=10.0.0.2 port=6432 user=repl passfile=''/srv/my "
	"state/pgpass'' application_name=be1 sslmode=require connect_timeout=2'\n"
	"primary_slot_name = 'be1'\n";

/* Every setting taken from the config, and a standby's lines. */
static void conf_standby_settings(void **state)
{
	static const char *const pairs[] = {"postgresql.port",
					    "6432",
					    "postgresql.max_connections",
					    "100",
					    "postgresql.replication_user",
					    "'repl'",
					    "postgresql.shared_buffers",
					    "'256MB'",
					    "postgresql.effective_cache_size",
					    "'1GB'",
					    "postgresql.work_mem",
					    "'4MB'",
					    "postgresql.wal_level",
					    "'logical'",
					    "postgresql.wal_keep_segments",
					    "10",
					    "postgresql.max_wal_size",
					    "4",
					    "postgresql.min_wal_size",
					    "2",
					    "postgresql.max_wal_senders",
					    "5",
					    "postgresql.max_replication_slots",
					    "6",
					    "postgresql.checkpoint_completion_target",
					    "0.9",
					    "postgresql.archive_mode",
					    "'on'",
					    "postgresql.archive_command",
					    "'cp %p /arch/%f'",
					    "postgresql.archive_timeout",
					    "60",
					    "postgresql.hot_standby",
					    "'off'",
					    "postgresql.keepalives_idle",
					    "30",
					    "postgresql.keepalives_interval",
					    "5",
					    "postgresql.keepalives_count",
					    "3",
					    "postgresql.log_checkpoints",
					    "false",
					    "postgresql.log_min_duration_statement",
					    "250",
					    "ssl.ciphers",
					    "'HIGH'",
					    NULL};
	struct bs_config *c = config_with(pairs);
	struct pgc_upstream up = {.host = "10.0.0.2", .port = 6432, .slot = "be1"};
	struct pgc_conf_in in = conf_in(c);
	char *text = NULL;

	(void)state;
	in.upstream = &up;
	in.passfile = "/srv/my state/pgpass";
	in.sync_names = "ANY 1 (\"be2\", \"be3\")";
	assert_int_equal(pgc_render_conf(&in, &text), 0);
	assert_non_null(strstr(text, "\nport = 6432\nunix_socket_directories"));
	assert_non_null(strstr(text, "\nmax_connections = 100\n"));
	assert_non_null(strstr(text, "\nssl_ciphers = 'HIGH'\n"));
	assert_non_null(strstr(text, "\nshared_buffers = '256MB'\neffective_cache_size = '1GB'\n"
				     "work_mem = '4MB'\nwal_level = 'logical'\n"));
	assert_non_null(strstr(text,
			       "\nmax_wal_senders = 5\nmax_replication_slots = 6\n"
			       "wal_keep_size = '160MB'\nmax_wal_size = '64MB'\n"
			       "min_wal_size = '32MB'\ncheckpoint_completion_target = 0.9\n"));
	assert_non_null(strstr(text, "\narchive_mode = 'on'\narchive_command = 'cp %p /arch/%f'\n"
				     "archive_timeout = 60\n"));
	assert_non_null(strstr(text, conf_standby_tail));
	assert_string_equal(text + strlen(text) - strlen(conf_standby_tail), conf_standby_tail);
	free(text);
	bs_config_free(c);
}

static void conf_quotes_and_ram(void **state)
{
	static const char *const old_level[] = {"postgresql.wal_level", "'archive'", NULL};
	struct bs_config *c = config_with(old_level);
	struct pgc_upstream up = {.host = "db1", .port = 5432, .slot = ""};
	struct pgc_conf_in in = conf_in(c);
	char *text = NULL;

	(void)state;
	in.socket_dir = "/tmp/it's\\here";
	in.listen_addresses = "127.0.0.1";
	in.ram_bytes = 0; /* unknown: 128 MB each */
	in.upstream = &up;
	assert_int_equal(pgc_render_conf(&in, &text), 0);
	assert_non_null(strstr(text, "\nlisten_addresses = '127.0.0.1'\n"));
	assert_non_null(strstr(text, "\nunix_socket_directories = '/tmp/it''s\\\\here'\n"));
	assert_non_null(
		strstr(text, "\nshared_buffers = '128MB'\neffective_cache_size = '128MB'\n"));
	assert_non_null(strstr(text, "\nwal_level = 'replica'\n"));
	assert_non_null(strstr(text, "primary_conninfo = 'host=db1 port=5432 user=replicator "));
	assert_null(strstr(text, "primary_slot_name")); /* an empty slot: none */
	free(text);
	in.ram_bytes = 3ULL << 30;
	in.upstream = NULL;
	assert_int_equal(pgc_render_conf(&in, &text), 0);
	assert_non_null(
		strstr(text, "\nshared_buffers = '768MB'\neffective_cache_size = '1536MB'\n"));
	assert_null(strstr(text, "primary_conninfo"));
	free(text);
	bs_config_free(c);
}

static void conf_refuses_missing_fields(void **state)
{
	struct bs_config *c = config_with(NULL);
	struct pgc_upstream up = {.host = "", .port = 5432};
	struct pgc_conf_in in = conf_in(c);
	char *text = (char *)"untouched";

	(void)state;
	assert_int_equal(pgc_render_conf(NULL, &text), -EINVAL);
	in.socket_dir = NULL;
	assert_int_equal(pgc_render_conf(&in, &text), -EINVAL);
	in = conf_in(c);
	in.upstream = &up; /* no host */
	assert_int_equal(pgc_render_conf(&in, &text), -EINVAL);
	up.host = "h";
	in.app_name = NULL;
	assert_int_equal(pgc_render_conf(&in, &text), -EINVAL);
	assert_string_equal(text, "untouched");
	bs_config_free(c);
}

/* install_server_ha.md: md5_auth_cidr_addresses = ["samehost", "samenet",
 * "192.168.1.3/24"] "would result in the following ... entries". */
static const char hba_chef_doc[] =
	"# pg_hba.conf, written by backstay (pgctl): edits here are lost.\n"
	"local   all         postgres                           peer\n"
	"local   all         chef_pgsql                         md5\n"
	"host    all         all         samehost               md5\n"
	"hostssl replication replicator  samehost               md5\n"
	"host    all         all         samenet                md5\n"
	"hostssl replication replicator  samenet                md5\n"
	"host    all         all         192.168.1.3/24         md5\n"
	"hostssl replication replicator  192.168.1.3/24         md5\n";

static void hba_as_chef_documents(void **state)
{
	static const char *const pairs[] = {"postgresql.md5_auth_cidr_addresses",
					    "['samehost', 'samenet', '192.168.1.3/24']", NULL};
	struct bs_config *c = config_with(pairs);
	char *text = NULL;

	(void)state;
	assert_int_equal(pgc_render_hba(c, &text), 0);
	assert_string_equal(text, hba_chef_doc);
	free(text);
	bs_config_free(c);
}

static void hba_other_users_and_long_fields(void **state)
{
	static const char *const pairs[] = {"postgresql.md5_auth_cidr_addresses",
					    "['2001:db8:1234:5678:9abc::/80', 'all']",
					    "postgresql.replication_user",
					    "'replication_robot'",
					    "postgresql.db_superuser",
					    "'odd user'",
					    NULL};
	static const char want[] =
		"# pg_hba.conf, written by backstay (pgctl): edits here are lost.\n"
		"local   all         postgres                           peer\n"
		"local   all         \"odd user\"                         md5\n"
		"host    all         all         2001:db8:1234:5678:9abc::/80 md5\n"
		"hostssl replication replication_robot 2001:db8:1234:5678:9abc::/80 md5\n"
		"host    all         all         all                    md5\n"
		"hostssl replication replication_robot all                    md5\n";
	struct bs_config *c = config_with(pairs);
	char *text = NULL, errmsg[256];

	(void)state;
	assert_int_equal(pgc_render_hba(c, &text), 0);
	assert_string_equal(text, want);
	free(text);
	assert_int_equal(bs_config_set(c, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, "[]", errmsg,
				       sizeof errmsg),
			 0);
	assert_int_equal(pgc_render_hba(c, &text), 0);
	assert_string_equal(text, "# pg_hba.conf, written by backstay (pgctl): edits here are "
				  "lost.\n"
				  "local   all         postgres                           peer\n"
				  "local   all         \"odd user\"                         md5\n");
	free(text);
	assert_int_equal(pgc_render_hba(NULL, &text), -EINVAL);
	bs_config_free(c);
}

static void passfile_and_conninfo(void **state)
{
	static const char *const pairs[] = {"postgresql.replication_user", "'re:pl'", NULL};
	struct bs_config *c = config_with(pairs);
	struct bs_secrets s;
	char *text = NULL, buf[128];

	(void)state;
	memset(&s, 0, sizeof s);
	snprintf(s.replication_password, sizeof s.replication_password, "ab\\cd");
	snprintf(s.db_superuser_password, sizeof s.db_superuser_password, "0123abcd");
	assert_int_equal(pgc__render_passfile(c, &s, &text), 0);
	assert_string_equal(text, "*:*:*:re\\:pl:ab\\\\cd\n*:*:*:chef_pgsql:0123abcd\n");
	free(text);
	buf[0] = '\0';
	assert_int_equal(pgc__conninfo_add(buf, sizeof buf, "host", "10.0.0.1"), 0);
	assert_int_equal(pgc__conninfo_add(buf, sizeof buf, "passfile", "/a b/it's"), 0);
	assert_int_equal(pgc__conninfo_add(buf, sizeof buf, "options", ""), 0);
	assert_string_equal(buf, "host=10.0.0.1 passfile='/a b/it\\'s' options=''");
	assert_int_equal(pgc__conninfo_add(buf, 50, "x", "yyyyyyyyyy"), -ENOSPC);
	bs_config_free(c);
}

static void quorum_k_for_1_to_7(void **state)
{
	static const unsigned want[] = {0, 0, 0, 1, 1, 2, 2, 3};
	unsigned n;

	(void)state;
	for (n = 0; n <= 7; n++)
		assert_int_equal(pgc_quorum_k(n), want[n]);
	/* k + 1 copies meet every majority, and k - 1 would not. */
	for (n = 3; n <= 7; n++) {
		assert_true(pgc_quorum_k(n) + 1 + n / 2 + 1 > n);
		assert_false(pgc_quorum_k(n) + n / 2 + 1 > n);
	}
}

static void sync_names_quoting(void **state)
{
	const char *two[] = {"be2", "be3"}, *odd[] = {"a\"b", "c d"}, *empty[] = {"x", ""};
	char buf[64], tiny[12];

	(void)state;
	assert_int_equal(pgc_sync_names(two, 2, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "ANY 1 (\"be2\", \"be3\")");
	assert_int_equal(pgc_sync_names(two, 2, 2, buf, sizeof buf), 0);
	assert_string_equal(buf, "ANY 2 (\"be2\", \"be3\")");
	assert_int_equal(pgc_sync_names(two, 1, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "ANY 1 (\"be2\")");
	assert_int_equal(pgc_sync_names(odd, 2, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "ANY 1 (\"a\"\"b\", \"c d\")");
	assert_int_equal(pgc_sync_names(two, 2, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(pgc_sync_names(NULL, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(pgc_sync_names(two, 2, 3, buf, sizeof buf), -EINVAL);
	assert_int_equal(pgc_sync_names(empty, 2, 1, buf, sizeof buf), -EINVAL);
	assert_int_equal(pgc_sync_names(two, 2, 1, tiny, sizeof tiny), -ENOSPC);
	assert_string_equal(tiny, "");
}

static void lsn_round_trips(void **state)
{
	static const uint64_t values[] = {0,
					  1,
					  0x16B374D848ULL,
					  0xFFFFFFFFULL,
					  0x100000000ULL,
					  0xFFFFFFFFFFFFFFFFULL,
					  0x0000000A00000010ULL};
	char buf[PGC_LSN_LEN];
	uint64_t lsn;
	size_t i;

	(void)state;
	assert_int_equal(pgc_lsn_parse("16/B374D848", &lsn), 0);
	assert_true(lsn == 0x16B374D848ULL);
	pgc_lsn_format(lsn, buf);
	assert_string_equal(buf, "16/B374D848");
	assert_int_equal(pgc_lsn_parse("0/0", &lsn), 0);
	assert_true(lsn == 0);
	assert_int_equal(pgc_lsn_parse("ffffffff/ffffffff", &lsn), 0);
	pgc_lsn_format(lsn, buf);
	assert_string_equal(buf, "FFFFFFFF/FFFFFFFF");
	assert_int_equal(pgc_lsn_parse("00000001/0000000A", &lsn), 0);
	pgc_lsn_format(lsn, buf);
	assert_string_equal(buf, "1/A");
	for (i = 0; i < sizeof values / sizeof values[0]; i++) {
		pgc_lsn_format(values[i], buf);
		assert_int_equal(pgc_lsn_parse(buf, &lsn), 0);
		assert_true(lsn == values[i]);
	}
}

static void lsn_refuses_malformed(void **state)
{
	static const char *const bad[] = {"",	  "/",		 "16/",		"/B374D848", "16",
					  "G/1",  "123456789/0", "0/123456789", " 1/2",	     "1/2 ",
					  "1//2", "1/2/3",	 "-1/2",	"0x1/2",     "1/+2",
					  "1:2",  "1/2\n",	 "1\0/2"};
	uint64_t lsn = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pgc_lsn_parse(bad[i], &lsn), -EINVAL);
	assert_int_equal(pgc_lsn_parse(NULL, &lsn), -EINVAL);
	assert_true(lsn == 42); /* untouched */
}

static void state_lag(void **state)
{
	struct pgc_state s = {.flush_lsn = 0x5000, .n_standbys = 3};

	(void)state;
	assert_true(pgc_state_lag(&s) == 0); /* primary: no row streams */
	s.standbys[0] = (struct pgc_standby){"b", "streaming", "quorum", 0x4000};
	s.standbys[1] = (struct pgc_standby){"c", "streaming", "quorum", 0x3000};
	s.standbys[2] = (struct pgc_standby){"d", "catchup", "async", 0x1000};
	assert_true(pgc_state_lag(&s) == 0x2000); /* the slowest streaming one */
	s.standbys[1].flush_lsn = 0;		  /* not reported yet: not counted */
	assert_true(pgc_state_lag(&s) == 0x1000);
	s.standbys[0].flush_lsn = 0x6000; /* ahead of our sample: no lag */
	assert_true(pgc_state_lag(&s) == 0);

	s = (struct pgc_state){.in_recovery = true, .replay_lsn = 0x3000, .receive_lsn = 0x3800};
	assert_true(pgc_state_lag(&s) == 0); /* standby, no WAL receiver */
	s.sender_end_lsn = 0x4000;
	assert_true(pgc_state_lag(&s) == 0x1000);
	s.replay_lsn = 0x4100;
	assert_true(pgc_state_lag(&s) == 0);
}

static void progress_lines(void **state)
{
	struct pgc_progress pr = {1, 2, 3};

	(void)state;
	assert_int_equal(pgc_progress_parse("12345/67890 kB (18%), 0/1 tablespace", &pr), 0);
	assert_true(pr.done_kb == 12345 && pr.total_kb == 67890 && pr.percent == 18);
	assert_int_equal(
		pgc_progress_parse("    0/22561 kB (0%), 0/1 tablespace (...ata/base/1/1249)", &pr),
		0);
	assert_true(pr.done_kb == 0 && pr.total_kb == 22561 && pr.percent == 0);
	assert_int_equal(pgc_progress_parse("67890/67890 kB (100%) copied", &pr), 0);
	assert_true(pr.percent == 100);
	pr.percent = 7;
	assert_int_equal(pgc_progress_parse("pg_basebackup: checkpoint completed", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse("12/34 MB (5%)", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse("12/34 kB (101%)", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse("12/ kB (1%)", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse("12/34 kB (1", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse("", &pr), -EINVAL);
	assert_int_equal(pgc_progress_parse(NULL, &pr), -EINVAL);
	assert_true(pr.percent == 7);
}

static void sentinels(void **state)
{
	char *dir = unit_tmpdir_new(), path[512], errmsg[256];
	struct stat st;

	(void)state;
	assert_non_null(dir);
	assert_string_equal(pgc_sentinel_name(PGC_NO_START_PGSQL), "no-start-pgsql");
	assert_string_equal(pgc_sentinel_name(PGC_UNSYNCED), "unsynced");
	assert_false(pgc_sentinel_exists(dir, PGC_NO_START_PGSQL));
	assert_int_equal(pgc_sentinel_set(dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg), 0);
	assert_int_equal(pgc_sentinel_set(dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg), 0);
	assert_true(pgc_sentinel_exists(dir, PGC_NO_START_PGSQL));
	assert_false(pgc_sentinel_exists(dir, PGC_UNSYNCED));
	snprintf(path, sizeof path, "%s/no-start-pgsql", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(pgc_sentinel_set(dir, PGC_UNSYNCED, errmsg, sizeof errmsg), 0);
	assert_true(pgc_sentinel_exists(dir, PGC_UNSYNCED));
	assert_int_equal(pgc_sentinel_clear(dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg), 0);
	assert_false(pgc_sentinel_exists(dir, PGC_NO_START_PGSQL));
	assert_int_equal(pgc_sentinel_clear(dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg), 0);
	assert_int_equal(pgc_sentinel_clear(dir, PGC_UNSYNCED, errmsg, sizeof errmsg), 0);
	assert_int_equal(pgc_sentinel_set("/nonexistent/dir", PGC_UNSYNCED, errmsg, sizeof errmsg),
			 -ENOENT);
	assert_string_equal(errmsg, "writing /nonexistent/dir/unsynced: No such file or directory");
	assert_false(pgc_sentinel_exists(NULL, PGC_UNSYNCED));
	unit_tmpdir_remove(dir);
}

/* The certificate's subject field, "" when absent. */
static void subject_field(X509 *x, int nid, char *buf, int size)
{
	buf[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid, buf, size);
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void check_cert_files(const char *dir)
{
	char crt[512], key[512], text[64];
	struct stat st;
	EVP_PKEY *k;
	X509 *x;
	int days, secs;

	snprintf(crt, sizeof crt, "%s/ssl/postgresql.crt", dir);
	snprintf(key, sizeof key, "%s/ssl/postgresql.key", dir);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(crt, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	x = read_cert(crt);
	k = read_key(key);
	assert_int_equal(X509_check_private_key(x, k), 1);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	assert_int_equal(X509_verify(x, k), 1); /* self-signed */
	subject_field(x, NID_countryName, text, sizeof text);
	assert_string_equal(text, "DE");
	subject_field(x, NID_organizationName, text, sizeof text);
	assert_string_equal(text, "Example AG");
	subject_field(x, NID_organizationalUnitName, text, sizeof text);
	assert_string_equal(text, "Operations");
	subject_field(x, NID_commonName, text, sizeof text);
	assert_string_equal(text, "be1.example.com");
	assert_int_equal(
		ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	assert_int_equal(days, 30);
	assert_int_equal(secs, 0);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void cert_self_signed(void **state)
{
	char *dir = unit_tmpdir_new(), ssl[512], user[80], errmsg[256];
	struct passwd *pw = getpwuid(geteuid());
	struct bs_config *c;
	struct bs_secrets secrets;
	struct pgc_node node;

	(void)state;
	assert_non_null(dir);
	assert_non_null(pw);
	snprintf(ssl, sizeof ssl, "'%s/ssl'", dir);
	snprintf(user, sizeof user, "'%s'", pw->pw_name);
	{
		const char *pairs[] = {"ssl.data_dir",
				       ssl,
				       "ssl.duration",
				       "30",
				       "ssl.company_name",
				       "'Example AG'",
				       "ssl.country_name",
				       "'DE'",
				       "postgresql.username",
				       user,
				       NULL};
		c = config_with(pairs);
	}
	memset(&secrets, 0, sizeof secrets);
	memset(&node, 0, sizeof node);
	node.config = c;
	node.secrets = &secrets;
	node.state_dir = dir;
	node.app_name = "be1";
	node.cert_cn = "be1.example.com";
	assert_int_equal(pgc_cert_make(&node, errmsg, sizeof errmsg), 0);
	check_cert_files(dir);
	assert_int_equal(
		bs_config_set(c, BS_SET_SSL_COUNTRY_NAME, "'Germany'", errmsg, sizeof errmsg), 0);
	assert_int_equal(pgc_cert_make(&node, errmsg, sizeof errmsg), -EINVAL);
	assert_non_null(strstr(errmsg, "two letters"));
	assert_int_equal(
		bs_config_set(c, BS_SET_SSL_CERTIFICATE, "'/etc/mine.crt'", errmsg, sizeof errmsg),
		0);
	assert_int_equal(pgc_cert_make(&node, errmsg, sizeof errmsg), -EINVAL);
	assert_string_equal(errmsg, "certificate: ssl.certificate is set; not replacing it");
	bs_config_free(c);
	snprintf(ssl, sizeof ssl, "%s/ssl/postgresql.crt", dir);
	unlink(ssl);
	snprintf(ssl, sizeof ssl, "%s/ssl/postgresql.key", dir);
	unlink(ssl);
	snprintf(ssl, sizeof ssl, "%s/ssl", dir);
	rmdir(ssl);
	unit_tmpdir_remove(dir);
}

static void node_paths(void **state)
{
	static const char *const pairs[] = {"data_dir", "'/var/lib/bs'", "postgresql.port", "5433",
					    NULL};
	struct bs_config *c = config_with(pairs);
	struct pgc_node node = {.config = c, .app_name = "be1"};
	struct pgc_paths *ps = malloc(sizeof *ps);
	char errmsg[256], longdir[200];

	(void)state;
	assert_non_null(ps);
	assert_int_equal(pgc_node_paths(&node, ps, errmsg, sizeof errmsg), 0);
	assert_string_equal(ps->state_dir, "/var/lib/bs");
	assert_string_equal(ps->socket_dir, "/var/lib/bs/pgsock");
	assert_string_equal(ps->passfile, "/var/lib/bs/pgpass");
	assert_string_equal(ps->data_dir, "/var/lib/backstay/postgresql/15/data");
	assert_string_equal(ps->cert_file, "/var/lib/backstay/ssl/postgresql.crt");
	assert_string_equal(ps->key_file, "/var/lib/backstay/ssl/postgresql.key");
	assert_string_equal(ps->log_file, "/var/log/backstay/postgresql/postgresql.log");
	memset(longdir, 'x', sizeof longdir - 1);
	longdir[0] = '/';
	longdir[sizeof longdir - 1] = '\0';
	node.socket_dir = longdir;
	assert_int_equal(pgc_node_paths(&node, ps, errmsg, sizeof errmsg), -ENAMETOOLONG);
	assert_non_null(strstr(errmsg, "too long for a unix socket"));
	free(ps);
	bs_config_free(c);
}

/* ------------------------------------------------------------------------
 * The handle without a server: the request contract (no callback inside
 * the submitting call, refusals without one, exactly one otherwise,
 * -ECANCELED on close) and the errors of an unreachable PostgreSQL.
 */
struct outcome {
	int calls, status;
	bool submitting;
	char errmsg[256];
};

static void outcome_cb(struct pgc_req *req, int status)
{
	struct outcome *o = req->data;

	assert_false(o->submitting); /* never from inside the submitting call */
	o->calls++;
	o->status = status;
	snprintf(o->errmsg, sizeof o->errmsg, "%s", req->errmsg);
}

static void run_until(uv_loop_t *loop, const int *calls)
{
	while (*calls == 0)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
}

struct handle_fixture {
	uv_loop_t loop;
	char *dir;
	struct bs_config *config;
	struct bs_secrets secrets;
	struct pgc *p;
};

static void fixture_open(struct handle_fixture *f)
{
	struct passwd *pw = getpwuid(geteuid());
	char user[80], data[600], logdir[600], errmsg[256];
	const char *pairs[7];
	struct pgc_node node;

	assert_non_null(pw);
	f->dir = unit_tmpdir_new();
	assert_non_null(f->dir);
	snprintf(user, sizeof user, "'%s'", pw->pw_name);
	snprintf(data, sizeof data, "'%s/data'", f->dir);
	snprintf(logdir, sizeof logdir, "'%s/log'", f->dir);
	pairs[0] = "postgresql.username", pairs[1] = user;
	pairs[2] = "postgresql.data_dir", pairs[3] = data;
	pairs[4] = "postgresql.log_directory", pairs[5] = logdir;
	pairs[6] = NULL;
	f->config = config_with(pairs);
	memset(&f->secrets, 0, sizeof f->secrets);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	memset(&node, 0, sizeof node);
	node.loop = &f->loop;
	node.config = f->config;
	node.secrets = &f->secrets;
	node.state_dir = f->dir;
	node.app_name = "a";
	assert_int_equal(pgc_new(&node, NULL, NULL, &f->p, errmsg, sizeof errmsg), 0);
	assert_string_equal(pgc_paths(f->p)->socket_dir + strlen(f->dir), "/pgsock");
}

static void fixture_close(struct handle_fixture *f)
{
	bool closed = false;

	pgc_close(f->p, closed_cb, &closed);
	while (!closed)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	bs_config_free(f->config);
	unit_tmpdir_remove(f->dir);
}

static void handle_unreachable_server(void **state)
{
	struct handle_fixture f;
	struct outcome o = {0};
	struct pgc_req req;

	(void)state;
	fixture_open(&f);
	memset(&req, 0, sizeof req);
	req.data = &o;
	o.submitting = true;
	assert_int_equal(pgc_exec(f.p, &req, "SELECT 1", 0, outcome_cb), 0);
	o.submitting = false;
	run_until(&f.loop, &o.calls);
	assert_int_equal(o.status, -ECONNREFUSED);
	assert_non_null(strstr(o.errmsg, "exec: connecting: connection to server on socket"));

	memset(&o, 0, sizeof o);
	o.submitting = true;
	assert_int_equal(pgc_query_state(f.p, &req, outcome_cb), 0);
	o.submitting = false;
	run_until(&f.loop, &o.calls);
	assert_int_equal(o.status, 0); /* asked: the answer is "unreachable" */
	assert_false(req.state.reachable);
	assert_non_null(strstr(o.errmsg, "state query: connecting: "));

	memset(&o, 0, sizeof o);
	assert_int_equal(pgc_wait_ready(f.p, &req, 250, outcome_cb), 0);
	run_until(&f.loop, &o.calls);
	assert_int_equal(o.status, -ETIMEDOUT);
	assert_non_null(strstr(o.errmsg, "wait ready: not ready in time; last: connecting: "));

	memset(&o, 0, sizeof o);
	assert_int_equal(pgc_stop(f.p, &req, PGC_STOP_FAST, 0, outcome_cb), 0);
	run_until(&f.loop, &o.calls);
	assert_int_equal(o.status, 0); /* not running: stopped */
	assert_int_equal(o.calls, 1);
	fixture_close(&f);
}

static void handle_refusals_and_close(void **state)
{
	const char *bad_slot[] = {"Bad-Name"}, *one[] = {"b"};
	struct pgc_upstream up = {.host = "127.0.0.1", .port = 1};
	struct pgc_start_opts start = {.as_primary = true};
	struct outcome o1 = {0}, o2 = {0}, o3 = {0};
	struct pgc_req r1, r2, r3;
	struct handle_fixture f;
	char errmsg[256];

	(void)state;
	fixture_open(&f);
	memset(&r1, 0, sizeof r1);
	memset(&r2, 0, sizeof r2);
	memset(&r3, 0, sizeof r3);
	r1.data = &o1;
	r2.data = &o2;
	r3.data = &o3;
	assert_int_equal(pgc_create_slots(f.p, &r1, bad_slot, 1, outcome_cb), -EINVAL);
	assert_non_null(strstr(r1.errmsg, "'Bad-Name' is not a slot name"));
	assert_int_equal(pgc_create_slots(f.p, &r1, bad_slot, 0, outcome_cb), -EINVAL);
	assert_int_equal(pgc_set_sync_names(f.p, &r1, one, 1, 2, outcome_cb), -EINVAL);
	assert_int_equal(pgc_record_epoch(f.p, &r1, 1, "", outcome_cb), -EINVAL);
	assert_int_equal(pgc_exec(f.p, &r1, NULL, 0, outcome_cb), -EINVAL);
	up.port = 0;
	assert_int_equal(pgc_repoint(f.p, &r1, &up, outcome_cb), -EINVAL);
	assert_int_equal(pgc_sentinel_set(f.dir, PGC_NO_START_PGSQL, errmsg, sizeof errmsg), 0);
	assert_int_equal(pgc_start(f.p, &r1, &start, outcome_cb), -EPERM);
	assert_non_null(strstr(r1.errmsg, "no-start-pgsql exists"));
	assert_false(pgc_running(f.p));
	assert_int_equal(pgc_pid(f.p), 0);
	assert_false(pgc_progress(f.p, &(struct pgc_progress){0}));

	/* Queued and running requests end with -ECANCELED when the handle
	 * closes; nothing runs after. */
	assert_int_equal(pgc_wait_ready(f.p, &r1, 10000, outcome_cb), 0);
	assert_int_equal(pgc_exec(f.p, &r2, "SELECT 1", 10000, outcome_cb), 0);
	assert_int_equal(pgc_stop(f.p, &r3, PGC_STOP_IMMEDIATE, 0, outcome_cb), 0);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	fixture_close(&f);
	assert_int_equal(o1.calls, 1);
	assert_int_equal(o1.status, -ECANCELED);
	assert_int_equal(o2.calls, 1);
	assert_int_equal(o2.status, -ECANCELED);
	assert_string_equal(o2.errmsg, "exec: cancelled: the handle is closing");
	assert_int_equal(o3.calls, 1); /* the stop had ended (0) or was cancelled */
}

int bs_test_pgctl(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf_primary_defaults),
		cmocka_unit_test(conf_standby_settings),
		cmocka_unit_test(conf_quotes_and_ram),
		cmocka_unit_test(conf_refuses_missing_fields),
		cmocka_unit_test(hba_as_chef_documents),
		cmocka_unit_test(hba_other_users_and_long_fields),
		cmocka_unit_test(passfile_and_conninfo),
		cmocka_unit_test(quorum_k_for_1_to_7),
		cmocka_unit_test(sync_names_quoting),
		cmocka_unit_test(lsn_round_trips),
		cmocka_unit_test(lsn_refuses_malformed),
		cmocka_unit_test(state_lag),
		cmocka_unit_test(progress_lines),
		cmocka_unit_test(sentinels),
		cmocka_unit_test(cert_self_signed),
		cmocka_unit_test(node_paths),
		cmocka_unit_test(handle_unreachable_server),
		cmocka_unit_test(handle_refusals_and_close),
	};
	return cmocka_run_group_tests_name("pgctl", tests, NULL, NULL);
}
