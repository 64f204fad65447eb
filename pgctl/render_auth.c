/*
 * Who may connect, and with what: pg_hba.conf, and the passfile the
 * postgres OS user's tools read. Pure.
 *
 * pg_hba.conf is chef-backend's, line for line, with two local lines in
 * front: the postgres OS user by peer (an operator's psql), and the db
 * superuser by password on the unix socket (the daemon's own connection:
 * it runs as root, so peer cannot work, and the socket does not depend on
 * md5_auth_cidr_addresses holding samehost). Then, for each entry X of
 * postgresql.md5_auth_cidr_addresses, in order (install_server_ha.md,
 * "Configuring Frontend and Backend Members on Different Networks"):
 *
 *   host    all         all         X                      md5
 *   hostssl replication replicator  X                      md5
 *
 * in the documented columns (8, 12, 12, 23 characters; a longer value
 * keeps one space). The md5 method accepts SCRAM-stored passwords.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl_internal.h"

enum { COL_TYPE = 8, COL_DB = 12, COL_USER = 12, COL_ADDR = 23 };

static bool plain_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-' ||
		      *s == '/' || *s == ':'))
			return false;
	}
	return true;
}

/* A field padded to width (at least one space after it); a name that is
 * not plain is double-quoted, as pg_hba.conf wants. */
static void put_col(FILE *f, const char *text, int width)
{
	int n;

	if (text[0] == '\0' || plain_name(text)) {
		n = fprintf(f, "%s", text);
	} else {
		n = 2;
		fputc('"', f);
		for (; *text != '\0'; text++, n++) {
			if (*text == '"') {
				fputc('"', f);
				n++;
			}
			fputc(*text, f);
		}
		fputc('"', f);
	}
	do {
		fputc(' ', f);
	} while (++n < width);
}

static void put_line(FILE *f, const char *type, const char *db, const char *user, const char *addr,
		     const char *method)
{
	put_col(f, type, COL_TYPE);
	put_col(f, db, COL_DB);
	put_col(f, user, COL_USER);
	put_col(f, addr, COL_ADDR); /* blank for local lines: methods stay aligned */
	fprintf(f, "%s\n", method);
}

/* Close the memstream whose buffer is *text (set by fclose). */
static int finish(FILE *f, char **text, char **ret_text)
{
	int rv = ferror(f) ? -ENOMEM : 0;

	if (fclose(f) != 0)
		rv = -ENOMEM;
	if (rv != 0) {
		free(*text);
		return rv;
	}
	*ret_text = *text;
	return 0;
}

int pgc_render_hba(const struct bs_config *config, char **ret_text)
{
	const char *repl, *su, *addr;
	char *text = NULL;
	size_t len = 0, i, n;
	FILE *f;

	if (config == NULL)
		return -EINVAL;
	repl = bs_config_str(config, BS_SET_POSTGRESQL_REPLICATION_USER);
	su = bs_config_str(config, BS_SET_POSTGRESQL_DB_SUPERUSER);
	f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	fputs("# pg_hba.conf, written by backstay (pgctl): edits here are lost.\n", f);
	put_line(f, "local", "all", "postgres", "", "peer");
	put_line(f, "local", "all", su, "", "md5");
	n = bs_config_list_len(config, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES);
	for (i = 0; i < n; i++) {
		addr = bs_config_list_at(config, BS_SET_POSTGRESQL_MD5_AUTH_CIDR_ADDRESSES, i);
		put_line(f, "host", "all", "all", addr, "md5");
		put_line(f, "hostssl", "replication", repl, addr, "md5");
	}
	return finish(f, &text, ret_text);
}

/* A passfile field: ':' and '\' escaped with '\'. */
static void put_pass_field(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == ':' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void put_pass_line(FILE *f, const char *user, const char *password)
{
	fputs("*:*:*:", f);
	put_pass_field(f, user);
	fputc(':', f);
	put_pass_field(f, password);
	fputc('\n', f);
}

int pgc__render_passfile(const struct bs_config *config, const struct bs_secrets *secrets,
			 char **ret_text)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (config == NULL || secrets == NULL)
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	put_pass_line(f, bs_config_str(config, BS_SET_POSTGRESQL_REPLICATION_USER),
		      secrets->replication_password);
	put_pass_line(f, bs_config_str(config, BS_SET_POSTGRESQL_DB_SUPERUSER),
		      secrets->db_superuser_password);
	return finish(f, &text, ret_text);
}
