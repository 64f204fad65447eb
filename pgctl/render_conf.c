/*
 * postgresql.conf, rendered whole from the postgresql.* settings and the
 * node's own facts (paths, upstream, synchronous standbys). Pure.
 *
 * backstay owns the file: it is rewritten at every start, after every base
 * backup or rewind (which copy the source's file, netns-test-hosts §3.5
 * gotcha 2) and whenever the upstream or the synchronous standbys change.
 * Everything node-local is here, so one rendering puts all of it back.
 *
 * chef-backend's settings keep their 9.5-era meaning and are translated:
 * wal_level 'hot_standby' (and 'archive') is 'replica' since 9.6; WAL sizes
 * counted in 16 MB segments become sizes (wal_keep_segments became
 * wal_keep_size in 13).
 *
 * Replication timeouts are short on purpose (PGC_REPLICATION_TIMEOUT_S):
 * PostgreSQL's 60 s defaults keep a cut connection "streaming" in
 * pg_stat_replication for a minute (netns-test-hosts §3.5 gotcha 4), and
 * the leader counts streaming standbys. The walreceiver reports every
 * second so that the primary's flush LSNs are fresh, and a standby whose
 * upstream is gone retries every 500 ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl_internal.h"

enum { MB = 1024 * 1024 };

/* 'text' with ' doubled and \ escaped, as postgresql.conf reads it. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\'')
			fputs("''", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static void put_str(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s = ", key);
	put_quoted(f, value);
	fputc('\n', f);
}

static void put_int(FILE *f, const char *key, int64_t value)
{
	fprintf(f, "%s = %" PRId64 "\n", key, value);
}

static void put_mb(FILE *f, const char *key, uint64_t mb)
{
	fprintf(f, "%s = '%" PRIu64 "MB'\n", key, mb);
}

/* A nil memory setting: a share of RAM in MB (128 MB when RAM is unknown). */
static void put_ram_share(FILE *f, const struct pgc_conf_in *in, enum bs_setting id,
			  const char *key, unsigned divisor)
{
	uint64_t mb = in->ram_bytes / divisor / MB;

	if (!bs_config_is_nil(in->config, id)) {
		put_str(f, key, bs_config_str(in->config, id));
		return;
	}
	put_mb(f, key, mb > 0 ? mb : 128);
}

static const char *wal_level(const char *level)
{
	if (level == NULL || strcmp(level, "hot_standby") == 0 || strcmp(level, "archive") == 0)
		return "replica";
	return level;
}

int pgc__conninfo_add(char *buf, size_t size, const char *key, const char *value)
{
	size_t len = strlen(buf);
	bool quote = value[0] == '\0' || strpbrk(value, " '\\\t\n") != NULL;
	const char *s;

	if (len + strlen(key) + 2 >= size)
		return -ENOSPC;
	len += (size_t)snprintf(buf + len, size - len, "%s%s=", len > 0 ? " " : "", key);
	if (quote && len + 1 < size)
		buf[len++] = '\'';
	for (s = value; *s != '\0' && len + 2 < size; s++) {
		if (quote && (*s == '\'' || *s == '\\'))
			buf[len++] = '\\';
		buf[len++] = *s;
	}
	if (quote && len + 1 < size)
		buf[len++] = '\'';
	if (*s != '\0' || len + 1 >= size)
		return -ENOSPC;
	buf[len] = '\0';
	return 0;
}

/* primary_conninfo: the replication user with the passfile, our name for
 * pg_stat_replication and synchronous_standby_names, TLS required. */
int pgc__primary_conninfo(const struct pgc_conf_in *in, char *buf, size_t size)
{
	char port[16];
	int rv;

	buf[0] = '\0';
	snprintf(port, sizeof port, "%d", in->upstream->port);
	rv = pgc__conninfo_add(buf, size, "host", in->upstream->host);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "port", port);
	if (rv == 0)
		rv = pgc__conninfo_add(
			buf, size, "user",
			bs_config_str(in->config, BS_SET_POSTGRESQL_REPLICATION_USER));
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "passfile", in->passfile);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "application_name", in->app_name);
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "sslmode", "require");
	if (rv == 0)
		rv = pgc__conninfo_add(buf, size, "connect_timeout", "2");
	return rv;
}

static void put_memory(FILE *f, const struct pgc_conf_in *in)
{
	put_ram_share(f, in, BS_SET_POSTGRESQL_SHARED_BUFFERS, "shared_buffers", 4);
	put_ram_share(f, in, BS_SET_POSTGRESQL_EFFECTIVE_CACHE_SIZE, "effective_cache_size", 2);
	put_str(f, "work_mem", bs_config_str(in->config, BS_SET_POSTGRESQL_WORK_MEM));
}

static void put_wal(FILE *f, const struct bs_config *c)
{
	put_str(f, "wal_level", wal_level(bs_config_str(c, BS_SET_POSTGRESQL_WAL_LEVEL)));
	put_str(f, "wal_log_hints", bs_config_str(c, BS_SET_POSTGRESQL_WAL_LOG_HINTS));
	put_int(f, "max_wal_senders", bs_config_int(c, BS_SET_POSTGRESQL_MAX_WAL_SENDERS));
	put_int(f, "max_replication_slots",
		bs_config_int(c, BS_SET_POSTGRESQL_MAX_REPLICATION_SLOTS));
	put_mb(f, "wal_keep_size",
	       (uint64_t)bs_config_int(c, BS_SET_POSTGRESQL_WAL_KEEP_SEGMENTS) *
		       PGC_WAL_SEGMENT_MB);
	put_mb(f, "max_wal_size",
	       (uint64_t)bs_config_int(c, BS_SET_POSTGRESQL_MAX_WAL_SIZE) * PGC_WAL_SEGMENT_MB);
	put_mb(f, "min_wal_size",
	       (uint64_t)bs_config_int(c, BS_SET_POSTGRESQL_MIN_WAL_SIZE) * PGC_WAL_SEGMENT_MB);
	fprintf(f, "checkpoint_completion_target = %g\n",
		bs_config_float(c, BS_SET_POSTGRESQL_CHECKPOINT_COMPLETION_TARGET));
	put_str(f, "checkpoint_timeout", bs_config_str(c, BS_SET_POSTGRESQL_CHECKPOINT_TIMEOUT));
	put_str(f, "checkpoint_warning", bs_config_str(c, BS_SET_POSTGRESQL_CHECKPOINT_WARNING));
	put_str(f, "archive_mode", bs_config_str(c, BS_SET_POSTGRESQL_ARCHIVE_MODE));
	put_str(f, "archive_command", bs_config_str(c, BS_SET_POSTGRESQL_ARCHIVE_COMMAND));
	put_int(f, "archive_timeout", bs_config_int(c, BS_SET_POSTGRESQL_ARCHIVE_TIMEOUT));
}

static void put_replication(FILE *f, const struct bs_config *c)
{
	char t[16];

	put_str(f, "hot_standby", bs_config_str(c, BS_SET_POSTGRESQL_HOT_STANDBY));
	snprintf(t, sizeof t, "%ds", PGC_REPLICATION_TIMEOUT_S);
	put_str(f, "wal_sender_timeout", t);
	put_str(f, "wal_receiver_timeout", t);
	put_str(f, "wal_receiver_status_interval", "1s");
	put_str(f, "wal_retrieve_retry_interval", "200ms");
	put_int(f, "tcp_keepalives_idle", bs_config_int(c, BS_SET_POSTGRESQL_KEEPALIVES_IDLE));
	put_int(f, "tcp_keepalives_interval",
		bs_config_int(c, BS_SET_POSTGRESQL_KEEPALIVES_INTERVAL));
	put_int(f, "tcp_keepalives_count", bs_config_int(c, BS_SET_POSTGRESQL_KEEPALIVES_COUNT));
	fprintf(f, "log_checkpoints = %s\n",
		bs_config_bool(c, BS_SET_POSTGRESQL_LOG_CHECKPOINTS) ? "on" : "off");
	put_int(f, "log_min_duration_statement",
		bs_config_int(c, BS_SET_POSTGRESQL_LOG_MIN_DURATION_STATEMENT));
}

static int put_standby(FILE *f, const struct pgc_conf_in *in)
{
	char conninfo[1024];
	int rv;

	put_str(f, "synchronous_standby_names", in->sync_names != NULL ? in->sync_names : "");
	if (in->upstream == NULL)
		return 0;
	rv = pgc__primary_conninfo(in, conninfo, sizeof conninfo);
	if (rv != 0)
		return rv;
	put_str(f, "primary_conninfo", conninfo);
	if (in->upstream->slot != NULL && in->upstream->slot[0] != '\0')
		put_str(f, "primary_slot_name", in->upstream->slot);
	return 0;
}

static bool conf_in_ok(const struct pgc_conf_in *in)
{
	if (in == NULL || in->config == NULL || in->data_dir == NULL || in->socket_dir == NULL ||
	    in->cert_file == NULL || in->key_file == NULL)
		return false;
	if (in->upstream == NULL)
		return true;
	return in->upstream->host != NULL && in->upstream->host[0] != '\0' &&
	       in->passfile != NULL && in->app_name != NULL && in->app_name[0] != '\0';
}

static void put_header(FILE *f)
{
	fputs("# postgresql.conf, written by backstay (pgctl): edits here are lost.\n"
	      "# Rendered from the postgresql.* settings; postgresql.auto.conf stays empty.\n",
	      f);
}

static void put_tls(FILE *f, const struct pgc_conf_in *in)
{
	fputs("ssl = on\n", f);
	put_str(f, "ssl_cert_file", in->cert_file);
	put_str(f, "ssl_key_file", in->key_file);
	put_str(f, "ssl_ciphers", bs_config_str(in->config, BS_SET_SSL_CIPHERS));
}

static int render(FILE *f, const struct pgc_conf_in *in)
{
	char hba[4200];

	put_header(f);
	/* This node's name in the server itself (SELECT current_setting('cluster_name'))
	 * and in its process titles: the fault suite's writes say which primary took them. */
	if (in->app_name != NULL)
		put_str(f, "cluster_name", in->app_name);
	put_str(f, "listen_addresses", in->listen_addresses != NULL ? in->listen_addresses : "*");
	put_int(f, "port", bs_config_int(in->config, BS_SET_POSTGRESQL_PORT));
	put_str(f, "unix_socket_directories", in->socket_dir);
	put_int(f, "max_connections", bs_config_int(in->config, BS_SET_POSTGRESQL_MAX_CONNECTIONS));
	if (snprintf(hba, sizeof hba, "%s/pg_hba.conf", in->data_dir) >= (int)sizeof hba)
		return -ENAMETOOLONG;
	put_str(f, "hba_file", hba);
	put_tls(f, in);
	put_memory(f, in);
	put_wal(f, in->config);
	put_replication(f, in->config);
	return put_standby(f, in);
}

int pgc_render_conf(const struct pgc_conf_in *in, char **ret_text)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rv;

	if (!conf_in_ok(in))
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	rv = render(f, in);
	if (ferror(f) && rv == 0)
		rv = -ENOMEM;
	if (fclose(f) != 0 && rv == 0)
		rv = -ENOMEM;
	if (rv != 0) {
		free(text);
		return rv;
	}
	*ret_text = text;
	return 0;
}
