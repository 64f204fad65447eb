/*
 * Outgoing messages. libraft 0.22 fills only the headers of AppendEntries
 * and InstallSnapshot (step API §7.9, §7.10): the entries come from our log
 * cache and the snapshot's configuration and data from our stored snapshot.
 * A message produced while a term/vote write is in flight must not leave
 * before that write is durable (a vote or a term we forget after a crash
 * could be given twice), so it is deep-copied and held, in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "driver_internal.h"

static int clone_entries(struct raft_append_entries *dst, const struct raft_append_entries *src)
{
	unsigned i;

	dst->entries = NULL;
	if (src->n_entries == 0)
		return 0;
	dst->entries = calloc(src->n_entries, sizeof *dst->entries);
	if (dst->entries == NULL)
		return -ENOMEM;
	for (i = 0; i < src->n_entries; i++) {
		struct raft_entry *e = &dst->entries[i];

		*e = src->entries[i];
		e->batch = NULL;
		e->buf.base = malloc(e->buf.len > 0 ? e->buf.len : 1);
		if (e->buf.base == NULL)
			return -ENOMEM; /* the caller frees what was copied */
		memcpy(e->buf.base, src->entries[i].buf.base, e->buf.len);
	}
	return 0;
}

static int clone_snapshot(struct raft_install_snapshot *dst,
			  const struct raft_install_snapshot *src)
{
	struct raft_buffer conf;
	int rv;

	raft_configuration_init(&dst->conf);
	dst->data.base = NULL;
	if (raft_configuration_encode(&src->conf, &conf) != 0)
		return -ENOMEM;
	rv = raft_configuration_decode(&conf, &dst->conf);
	raft_free(conf.base);
	if (rv != 0)
		return -ENOMEM;
	dst->data.base = malloc(src->data.len > 0 ? src->data.len : 1);
	if (dst->data.base == NULL)
		return -ENOMEM;
	memcpy(dst->data.base, src->data.base, src->data.len);
	return 0;
}

void cns__held_free(struct cns__held *h)
{
	unsigned i;

	if (h == NULL)
		return;
	if (h->m.type == RAFT_APPEND_ENTRIES && h->m.append_entries.entries != NULL) {
		for (i = 0; i < h->m.append_entries.n_entries; i++)
			free(h->m.append_entries.entries[i].buf.base);
		free(h->m.append_entries.entries);
	}
	if (h->m.type == RAFT_INSTALL_SNAPSHOT) {
		raft_configuration_close(&h->m.install_snapshot.conf);
		free(h->m.install_snapshot.data.base);
	}
	free((char *)h->m.server_address);
	free(h);
}

int cns__msg_clone(const struct raft_message *m, struct cns__held **ret_held)
{
	struct cns__held *h = calloc(1, sizeof *h);
	int rv = 0;

	if (h == NULL)
		return -ENOMEM;
	h->m = *m;
	h->m.server_address = NULL;
	if (m->type == RAFT_APPEND_ENTRIES)
		rv = clone_entries(&h->m.append_entries, &m->append_entries);
	else if (m->type == RAFT_INSTALL_SNAPSHOT)
		rv = clone_snapshot(&h->m.install_snapshot, &m->install_snapshot);
	if (rv == 0 && m->server_address != NULL) {
		h->m.server_address = strdup(m->server_address);
		rv = h->m.server_address == NULL ? -ENOMEM : 0;
	}
	if (rv != 0) {
		cns__held_free(h);
		return rv;
	}
	*ret_held = h;
	return 0;
}

static void send_or_hold(struct cns__drv *d, const struct raft_message *m)
{
	struct cns__held *h;

	if (d->term_vote_inflight == 0 && d->held_head == NULL) {
		d->io.send(d->io.data, m);
		return;
	}
	if (cns__msg_clone(m, &h) != 0) {
		bs_warn("consensus", "dropping a message to node %llu: out of memory",
			(unsigned long long)m->server_id);
		return; /* Raft retransmits */
	}
	if (d->held_tail != NULL)
		d->held_tail->next = h;
	else
		d->held_head = h;
	d->held_tail = h;
}

static void send_append_entries(struct cns__drv *d, struct raft_message *m)
{
	struct raft_append_entries *ae = &m->append_entries;
	struct raft_entry stack[16], *entries = stack;

	if (ae->n_entries > 16) {
		entries = calloc(ae->n_entries, sizeof *entries);
		if (entries == NULL)
			return; /* dropped; Raft retransmits */
	}
	if (cns__log_borrow(&d->log, ae->prev_log_index + 1, ae->n_entries, entries) != 0) {
		bs_error("consensus",
			 "AppendEntries to %llu needs entries %llu..%llu we no longer hold",
			 (unsigned long long)m->server_id,
			 (unsigned long long)ae->prev_log_index + 1,
			 (unsigned long long)(ae->prev_log_index + ae->n_entries));
	} else {
		ae->entries = ae->n_entries ? entries : NULL;
		send_or_hold(d, m);
	}
	ae->entries = NULL;
	if (entries != stack)
		free(entries);
}

static void send_install_snapshot(struct cns__drv *d, struct raft_message *m)
{
	struct raft_install_snapshot *is = &m->install_snapshot;

	if (d->snap == NULL || d->snap->index != is->last_index) {
		bs_error("consensus", "InstallSnapshot to %llu at %llu: no such snapshot stored",
			 (unsigned long long)m->server_id, (unsigned long long)is->last_index);
		return;
	}
	raft_configuration_init(&is->conf);
	if (raft_configuration_decode(&d->snap->conf, &is->conf) != 0) {
		bs_error("consensus", "InstallSnapshot: stored configuration does not decode");
		return;
	}
	is->data = d->snap->data;
	send_or_hold(d, m);
	raft_configuration_close(&is->conf);
	is->data.base = NULL;
	is->data.len = 0;
}

void cns__drv_send(struct cns__drv *d, struct raft_message *m)
{
	if (m->type == RAFT_APPEND_ENTRIES)
		send_append_entries(d, m);
	else if (m->type == RAFT_INSTALL_SNAPSHOT)
		send_install_snapshot(d, m);
	else
		send_or_hold(d, m);
}

void cns__drv_flush_held(struct cns__drv *d)
{
	struct cns__held *h;

	while (d->term_vote_inflight == 0 && (h = d->held_head) != NULL) {
		d->held_head = h->next;
		if (d->held_head == NULL)
			d->held_tail = NULL;
		d->io.send(d->io.data, &h->m);
		cns__held_free(h);
	}
}
