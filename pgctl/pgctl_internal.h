/*
 * What pgctl/'s files share (pgc__ names).
 */
#ifndef BS_PGCTL_PGCTL_INTERNAL_H
#define BS_PGCTL_PGCTL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "pgctl.h"

/* ------------------------------------------------------------------------
 * Text (render_conf.c, render_auth.c).
 */
/* Append a conninfo keyword=value, quoting the value as libpq wants. */
int pgc__conninfo_add(char *buf, size_t size, const char *key, const char *value);
/* primary_conninfo for in->upstream (which must be set). */
int pgc__primary_conninfo(const struct pgc_conf_in *in, char *buf, size_t size);
/* The passfile: `*:*:*:<user>:<password>` for the replication user and the
 * db superuser. */
int pgc__render_passfile(const struct bs_config *config, const struct bs_secrets *secrets,
			 char **ret_text);

#endif /* BS_PGCTL_PGCTL_INTERNAL_H */
