/*
 * Offline operations on a node's store: bootstrapping a new cluster and
 * quorum-loss recovery. Both run before the node starts (no loop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

static int members_conf(const struct cns_member *members, unsigned n,
			struct raft_configuration *ret)
{
	unsigned i;

	raft_configuration_init(ret);
	for (i = 0; i < n; i++) {
		if (members[i].id == 0 ||
		    raft_configuration_add(ret, members[i].id, members[i].address,
					   members[i].voter ? RAFT_VOTER : RAFT_STANDBY) != 0) {
			raft_configuration_close(ret);
			return -EINVAL; /* id 0, a repeated id or address, or no memory */
		}
	}
	return n > 0 ? 0 : -EINVAL;
}

static bool store_is_empty(const struct cns__loaded *l)
{
	return l->term == 0 && l->snapshot == NULL && l->n_entries == 0;
}

/* Open and load; the caller closes the store and frees what was loaded. */
static int open_loaded(const char *data_dir, struct cns__store **ret_store,
		       struct cns__loaded **ret_loaded, char *errmsg, size_t size)
{
	int rv = cns__store_open(data_dir, ret_store, errmsg, size);

	if (rv != 0)
		return rv;
	rv = cns__store_load(*ret_store, ret_loaded, errmsg, size);
	if (rv != 0) {
		cns__store_close(*ret_store);
		*ret_store = NULL;
	}
	return rv;
}

/* The one write of an offline operation: the configuration `members`
 * turned into a persist request by `build` (given what the store holds),
 * applied to a store that must be empty (bootstrap) or not (recovery). */
typedef int (*request_fn)(const struct cns__loaded *l, const struct raft_configuration *conf,
			  struct cns__persist **ret);

static int offline_write(const char *data_dir, const struct cns_member *members, unsigned n,
			 bool want_empty, request_fn build, char *errmsg, size_t size)
{
	struct raft_configuration conf;
	struct cns__store *store = NULL;
	struct cns__loaded *loaded = NULL;
	struct cns__persist *p = NULL;
	int rv = members_conf(members, n, &conf);

	if (rv != 0) {
		bs_errf(errmsg, size, "invalid member list");
		return rv;
	}
	rv = open_loaded(data_dir, &store, &loaded, errmsg, size);
	if (rv == 0 && store_is_empty(loaded) != want_empty) {
		bs_errf(errmsg, size,
			want_empty ? "%s already holds Raft state"
				   : "%s holds no Raft state to recover",
			data_dir);
		rv = want_empty ? -EEXIST : -ENOENT;
	}
	if (rv == 0)
		rv = build(loaded, &conf, &p);
	if (rv == 0)
		rv = cns__store_apply(store, &p, 1, errmsg, size);
	cns__persist_free(p);
	cns__loaded_free(loaded);
	cns__store_close(store);
	raft_configuration_close(&conf);
	return rv;
}

static int bootstrap_request(const struct cns__loaded *l, const struct raft_configuration *conf,
			     struct cns__persist **ret)
{
	(void)l;
	return cns__drv_bootstrap_request(conf, ret);
}

int cns_bootstrap(const char *data_dir, const struct cns_member *members, unsigned n, char *errmsg,
		  size_t errmsg_size)
{
	return offline_write(data_dir, members, n, true, bootstrap_request, errmsg, errmsg_size);
}

/* The configuration entry that recovery appends after the last one. */
static int recovery_request(const struct cns__loaded *l, const struct raft_configuration *conf,
			    struct cns__persist **ret)
{
	struct cns__persist *p = calloc(1, sizeof *p);
	uint64_t last = l->start_index + l->n_entries - 1;
	uint64_t last_term = l->n_entries ? l->entries[l->n_entries - 1].term : 0;
	struct raft_buffer buf;

	if (l->n_entries == 0 && l->snapshot != NULL) {
		last = l->snapshot->index;
		last_term = l->snapshot->term;
	}
	if (p == NULL || (p->entries = calloc(1, sizeof *p->entries)) == NULL ||
	    raft_configuration_encode(conf, &buf) != 0) {
		cns__persist_free(p);
		return -ENOMEM;
	}
	p->entries[0].buf.base = malloc(buf.len);
	if (p->entries[0].buf.base != NULL)
		memcpy(p->entries[0].buf.base, buf.base, buf.len);
	p->entries[0].buf.len = buf.len;
	raft_free(buf.base);
	p->n_entries = p->entries[0].buf.base != NULL;
	p->entries[0].term = l->term > last_term ? l->term : last_term;
	p->entries[0].type = RAFT_CHANGE;
	p->first_index = last + 1;
	*ret = p;
	return p->n_entries ? 0 : -ENOMEM;
}

int cns_recover(const char *data_dir, const struct cns_member *members, unsigned n, char *errmsg,
		size_t errmsg_size)
{
	return offline_write(data_dir, members, n, false, recovery_request, errmsg, errmsg_size);
}
