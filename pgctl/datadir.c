/*
 * The node's own files, from the handle's target (primary or the standby
 * of an upstream, the synchronous standbys): postgresql.conf and
 * pg_hba.conf in the data directory, the passfile, the certificate, the
 * socket directory, standby.signal, an empty postgresql.auto.conf after a
 * copy. Rendered on the loop thread (pure), written on the thread pool.
 *
 * Two lanes may render at once (a start, a change of synchronous
 * standbys); each rendering takes a generation number and a write never
 * replaces a newer rendering with an older one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgctl_internal.h"

struct pgc__files {
	unsigned flags;
	bool standby;
	unsigned long gen;
	char *conf, *hba, *passfile;
};

static const char boot_hba[] = "# pgc_initdb's bootstrap: the socket only, no TCP listener.\n"
			       "local all postgres trust\n";

int pgc__boot_hba_path(const struct pgc *p, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s/pg_hba.bootstrap.conf", p->paths.data_dir) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

void pgc__conf_in(const struct pgc *p, struct pgc_conf_in *in, struct pgc_upstream *up)
{
	memset(in, 0, sizeof *in);
	in->config = p->node.config;
	in->data_dir = p->paths.data_dir;
	in->socket_dir = p->paths.socket_dir;
	in->cert_file = p->paths.cert_file;
	in->key_file = p->paths.key_file;
	in->passfile = p->paths.passfile;
	in->app_name = p->node.app_name;
	in->listen_addresses = p->node.listen_addresses;
	in->ram_bytes = p->node.ram_bytes;
	in->sync_names = p->target.sync_names;
	if (!p->target.primary && p->target.has_upstream) {
		up->host = p->target.host;
		up->port = p->target.port;
		up->slot = p->target.slot;
		in->upstream = up;
	}
}

void pgc__files_free(struct pgc_req *req)
{
	struct pgc__files *f = req->render;

	if (f == NULL)
		return;
	free(f->conf);
	free(f->hba);
	if (f->passfile != NULL)
		explicit_bzero(f->passfile, strlen(f->passfile));
	free(f->passfile);
	free(f);
	req->render = NULL;
}

static int render(struct pgc *p, struct pgc__files *f)
{
	struct pgc_conf_in in;
	struct pgc_upstream up;
	int rv = 0;

	if (f->flags & PGC__F_CONF) {
		pgc__conf_in(p, &in, &up);
		rv = pgc_render_conf(&in, &f->conf);
		if (rv == 0)
			rv = pgc_render_hba(p->node.config, &f->hba);
	}
	if (rv == 0 && (f->flags & PGC__F_PASSFILE))
		rv = pgc__render_passfile(p->node.config, p->node.secrets, &f->passfile);
	return rv;
}

int pgc__files_prepare(struct pgc_req *req, unsigned flags, bool standby)
{
	struct pgc__files *f = calloc(1, sizeof *f);
	int rv;

	pgc__files_free(req);
	if (f == NULL)
		return -ENOMEM;
	f->flags = flags;
	f->standby = standby;
	f->gen = ++req->p->files_gen;
	req->render = f;
	rv = render(req->p, f);
	if (rv != 0)
		bs_errf(req->errmsg, sizeof req->errmsg, "rendering the configuration: %s",
			bs_strerror(rv));
	return rv;
}

static int write_text(struct pgc *p, const char *dir, const char *name, const char *text,
		      char *errmsg, size_t size)
{
	char path[4300];

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
		bs_errf(errmsg, size, "%s/%s: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	return pgc__write_file(path, text, strlen(text), 0600, p->owner_uid, p->gid, errmsg, size);
}

/* postgresql.conf and pg_hba.conf, unless a newer rendering is written. */
static int write_conf(struct pgc *p, struct pgc__files *f, char *errmsg, size_t size)
{
	int rv = 0;

	uv_mutex_lock(&p->files_lock);
	if (f->gen > p->files_written || (f->flags & PGC__F_TRUNCATE_AUTO)) {
		rv = write_text(p, p->paths.data_dir, "postgresql.conf", f->conf, errmsg, size);
		if (rv == 0)
			rv = write_text(p, p->paths.data_dir, "pg_hba.conf", f->hba, errmsg, size);
		if (rv == 0 && f->gen > p->files_written)
			p->files_written = f->gen;
	}
	uv_mutex_unlock(&p->files_lock);
	return rv;
}

static int write_signal(struct pgc *p, bool standby, char *errmsg, size_t size)
{
	char path[4300];
	int rv;

	if (standby)
		return write_text(p, p->paths.data_dir, "standby.signal", "", errmsg, size);
	snprintf(path, sizeof path, "%s/standby.signal", p->paths.data_dir);
	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	rv = -errno;
	bs_errf(errmsg, size, "removing %s: %s", path, bs_strerror(rv));
	return rv;
}

/* The certificate, when it is ours to make and missing. */
static int ensure_cert(struct pgc *p, char *errmsg, size_t size)
{
	if (!bs_config_is_nil(p->node.config, BS_SET_SSL_CERTIFICATE))
		return 0;
	if (access(p->paths.cert_file, F_OK) == 0 && access(p->paths.key_file, F_OK) == 0)
		return 0;
	return pgc_cert_make(&p->node, errmsg, size);
}

static int write_dirs(struct pgc *p, char *errmsg, size_t size)
{
	int rv = pgc__mkdir_owned(p->paths.socket_dir, 0700, p->owner_uid, p->gid, errmsg, size);

	if (rv == 0)
		rv = pgc__mkdir_parents(p->paths.log_file, errmsg, size);
	if (rv == 0)
		rv = pgc__mkdir_parents(p->paths.passfile, errmsg, size);
	return rv;
}

int pgc__files_write(struct pgc_req *req)
{
	struct pgc *p = req->p;
	struct pgc__files *f = req->render;
	char *e = req->errmsg;
	size_t n = sizeof req->errmsg;
	int rv = 0;

	if (f->flags & PGC__F_SOCKET_DIR)
		rv = write_dirs(p, e, n);
	if (rv == 0 && (f->flags & PGC__F_CERT))
		rv = ensure_cert(p, e, n);
	if (rv == 0 && (f->flags & PGC__F_PASSFILE))
		rv = pgc__write_file(p->paths.passfile, f->passfile, strlen(f->passfile), 0600,
				     p->owner_uid, p->gid, e, n);
	if (rv == 0 && (f->flags & PGC__F_CONF))
		rv = write_conf(p, f, e, n);
	if (rv == 0 && (f->flags & PGC__F_TRUNCATE_AUTO))
		rv = write_text(p, p->paths.data_dir, "postgresql.auto.conf", "", e, n);
	if (rv == 0 && (f->flags & PGC__F_BOOT_HBA))
		rv = write_text(p, p->paths.data_dir, "pg_hba.bootstrap.conf", boot_hba, e, n);
	if (rv == 0 && (f->flags & PGC__F_SIGNAL))
		rv = write_signal(p, f->standby, e, n);
	return rv;
}
