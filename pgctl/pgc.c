/*
 * The handle: a node's paths and OS user resolved once, its two lanes, the
 * connection, the child and the postmaster, and what it should currently
 * be (the target: primary, or the standby of an upstream, with its
 * synchronous standbys). Closing ends everything in order: requests are
 * cancelled, a child is killed, a running postmaster is stopped
 * (PostgreSQL never runs unsupervised), the connection dropped, and the
 * handles closed before the memory goes.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "pgctl_internal.h"

static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int copy_path(char *buf, size_t size, const char *path)
{
	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	if (snprintf(buf, size, "%s", path) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* The socket file's path must fit sun_path. */
static int check_socket_dir(const struct pgc_node *node, const char *dir, char *errmsg, size_t size)
{
	struct sockaddr_un sun;
	int n = snprintf(NULL, 0, "%s/.s.PGSQL.%lld", dir,
			 (long long)bs_config_int(node->config, BS_SET_POSTGRESQL_PORT));

	if (n >= (int)sizeof sun.sun_path) {
		bs_errf(errmsg, size, "socket directory %s is too long for a unix socket", dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

static int tls_paths(const struct pgc_node *node, struct pgc_paths *ps)
{
	const struct bs_config *c = node->config;
	const char *ssl_dir = bs_config_str(c, BS_SET_SSL_DATA_DIR);
	int rv;

	if (!bs_config_is_nil(c, BS_SET_SSL_CERTIFICATE)) {
		rv = copy_path(ps->cert_file, sizeof ps->cert_file,
			       bs_config_str(c, BS_SET_SSL_CERTIFICATE));
		if (rv == 0)
			rv = copy_path(ps->key_file, sizeof ps->key_file,
				       bs_config_str(c, BS_SET_SSL_CERTIFICATE_KEY));
		return rv;
	}
	rv = path_join(ps->cert_file, sizeof ps->cert_file, ssl_dir, "postgresql.crt");
	if (rv == 0)
		rv = path_join(ps->key_file, sizeof ps->key_file, ssl_dir, "postgresql.key");
	return rv;
}

int pgc_node_paths(const struct pgc_node *node, struct pgc_paths *ps, char *errmsg, size_t size)
{
	const struct bs_config *c = node->config;
	const char *state =
		node->state_dir != NULL ? node->state_dir : bs_config_str(c, BS_SET_DATA_DIR);
	int rv = copy_path(ps->state_dir, sizeof ps->state_dir, state);

	if (rv == 0)
		rv = copy_path(ps->data_dir, sizeof ps->data_dir,
			       bs_config_str(c, BS_SET_POSTGRESQL_DATA_DIR));
	if (rv == 0 && node->socket_dir != NULL)
		rv = copy_path(ps->socket_dir, sizeof ps->socket_dir, node->socket_dir);
	else if (rv == 0)
		rv = path_join(ps->socket_dir, sizeof ps->socket_dir, state, "pgsock");
	if (rv == 0)
		rv = path_join(ps->passfile, sizeof ps->passfile, state, "pgpass");
	if (rv == 0)
		rv = path_join(ps->log_file, sizeof ps->log_file,
			       bs_config_str(c, BS_SET_POSTGRESQL_LOG_DIRECTORY), "postgresql.log");
	if (rv == 0)
		rv = tls_paths(node, ps);
	if (rv != 0) {
		bs_errf(errmsg, size,
			"PostgreSQL paths: %s (data_dir, postgresql.data_dir, "
			"postgresql.log_directory, ssl.*)",
			bs_strerror(rv));
		return rv;
	}
	return check_socket_dir(node, ps->socket_dir, errmsg, size);
}

int pgc__os_user(const struct bs_config *config, uid_t *ret_uid, gid_t *ret_gid, bool *ret_setuid,
		 char *errmsg, size_t size)
{
	const char *name = bs_config_str(config, BS_SET_POSTGRESQL_USERNAME);
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (name == NULL || getpwnam_r(name, &pw, buf, sizeof buf, &found) != 0 || found == NULL) {
		bs_errf(errmsg, size, "postgresql.username: no OS user '%s'",
			name != NULL ? name : "");
		return -EINVAL;
	}
	*ret_uid = pw.pw_uid;
	*ret_gid = pw.pw_gid;
	*ret_setuid = geteuid() == 0 && pw.pw_uid != 0;
	return 0;
}

int pgc__bin(const struct pgc *p, const char *name, char *buf, size_t size)
{
	return path_join(buf, size, bs_config_str(p->node.config, BS_SET_POSTGRESQL_BIN_DIR), name);
}

static uint64_t physical_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

static int check_node(const struct pgc_node *node, char *errmsg, size_t size)
{
	if (node == NULL || node->loop == NULL || node->config == NULL || node->secrets == NULL) {
		bs_errf(errmsg, size, "pgctl: a node needs a loop, a config and the secrets");
		return -EINVAL;
	}
	if (node->app_name == NULL || node->app_name[0] == '\0' ||
	    strlen(node->app_name) >= PGC_NAME_MAX) {
		bs_errf(errmsg, size, "pgctl: the node's application name is missing or too long");
		return -EINVAL;
	}
	return 0;
}

/* Identity and paths of a new handle. */
static int resolve(struct pgc *p, char *errmsg, size_t size)
{
	int64_t timeout = bs_config_int(p->node.config, BS_SET_LEADERL_DB_TIMEOUT);
	int rv = pgc_node_paths(&p->node, &p->paths, errmsg, size);

	if (rv == 0)
		rv = pgc__os_user(p->node.config, &p->uid, &p->gid, &p->setuid, errmsg, size);
	if (rv == 0 && geteuid() != 0 && p->uid != geteuid()) {
		bs_errf(errmsg, size, "pgctl: PostgreSQL runs as %s: run as root or as that user",
			bs_config_str(p->node.config, BS_SET_POSTGRESQL_USERNAME));
		rv = -EPERM;
	}
	p->owner_uid = geteuid() == 0 ? p->uid : (uid_t)-1;
	p->db_timeout_ms =
		timeout > 0 && timeout < 3600000 ? (unsigned)timeout : PGC__DB_TIMEOUT_MS;
	if (p->node.ram_bytes == 0)
		p->node.ram_bytes = physical_ram();
	return rv;
}

int pgc_new(const struct pgc_node *node, pgc_exit_cb on_exit, void *data, struct pgc **ret_pgc,
	    char *errmsg, size_t size)
{
	struct pgc *p;
	int rv = check_node(node, errmsg, size);

	if (rv != 0)
		return rv;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return -ENOMEM;
	p->node = *node;
	p->loop = node->loop;
	p->on_exit = on_exit;
	p->data = data;
	rv = resolve(p, errmsg, size);
	if (rv == 0 && uv_mutex_init(&p->files_lock) != 0)
		rv = -ENOMEM;
	if (rv != 0) {
		free(p);
		return rv;
	}
	pgc__lane_init(p, PGC__LANE_DB);
	pgc__lane_init(p, PGC__LANE_PROC);
	uv_timer_init(p->loop, &p->child.kill_timer);
	p->child.kill_timer.data = p;
	uv_timer_init(p->loop, &p->server.kill_timer);
	p->server.kill_timer.data = p;
	p->open_handles = 4;
	*ret_pgc = p;
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct pgc *p = h->data;

	if (--p->open_handles > 0)
		return;
	uv_mutex_destroy(&p->files_lock);
	if (p->close_cb != NULL)
		p->close_cb(p->close_data);
	free(p);
}

void pgc__close_step(struct pgc *p)
{
	int i;

	if (!p->closing || p->closing_handles)
		return;
	for (i = 0; i < PGC__LANES; i++) {
		if (!pgc__lane_idle(&p->lanes[i]))
			return;
	}
	if (p->child.proc_open || p->child.out_open || p->server.proc_open || p->db.watches > 0)
		return;
	p->closing_handles = true;
	for (i = 0; i < PGC__LANES; i++) {
		p->lanes[i].timer.data = p; /* it will not fire again */
		uv_close((uv_handle_t *)&p->lanes[i].timer, handle_closed);
	}
	uv_close((uv_handle_t *)&p->child.kill_timer, handle_closed);
	uv_close((uv_handle_t *)&p->server.kill_timer, handle_closed);
}

void pgc_close(struct pgc *p, void (*cb)(void *data), void *data)
{
	int i;

	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->close_cb = cb;
	p->close_data = data;
	for (i = 0; i < PGC__LANES; i++)
		pgc__lane_cancel(&p->lanes[i]);
	pgc__child_kill(p);
	pgc__server_close(p);
	pgc__db_drop(p);
	pgc__close_step(p);
}

int pgc__target_upstream(struct pgc *p, const struct pgc_upstream *up, char *errmsg, size_t size)
{
	const char *slot = up->slot != NULL ? up->slot : "";

	if (up->host == NULL || up->host[0] == '\0' || strlen(up->host) >= PGC_HOST_MAX ||
	    up->port <= 0 || up->port > 65535 || strlen(slot) >= PGC_NAME_MAX) {
		bs_errf(errmsg, size,
			"upstream: a host, a port and a slot name that fit are needed");
		return -EINVAL;
	}
	p->target.has_upstream = true;
	snprintf(p->target.host, sizeof p->target.host, "%s", up->host);
	p->target.port = up->port;
	snprintf(p->target.slot, sizeof p->target.slot, "%s", slot);
	return 0;
}

const struct pgc_paths *pgc_paths(const struct pgc *p)
{
	return &p->paths;
}

bool pgc_progress(const struct pgc *p, struct pgc_progress *ret_progress)
{
	if (!p->has_progress || p->lanes[PGC__LANE_PROC].running == NULL)
		return false;
	*ret_progress = p->progress;
	return true;
}
