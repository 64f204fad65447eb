/*
 * The Raft driver: raft_step() and the handling of each update, in the
 * order libraft 0.22's step API requires (see driver.h and
 * shared/reference/libraft-0.22-step-api.md §3):
 *
 *   1. term/vote        -> a persist request; messages wait for it
 *   2. entries          -> log cache + the same persist request
 *   3. snapshot install -> persist (drop the log), restore on completion
 *   4. messages         -> filled from cache/snapshot, sent or held
 *   5. state            -> io->state; a new leader submits its own barrier
 *   6. commit index     -> apply from the cache; RAFT_CONFIGURATION follow-ups
 *   7. timer            -> io->timer(raft_timeout())
 *
 * Follow-up events (RAFT_CONFIGURATION, the leader's barrier, snapshots)
 * are stepped only after the update that caused them has been consumed:
 * raft_step() is not reentrant and reuses its message array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "driver_internal.h"

static int followups(struct cns__drv *d);

/* libraft's codes: client refusals are answers, anything else is fatal for
 * this instance (step API §3). */
static int raft_rv_to_errno(int rv)
{
	switch (rv) {
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return BS_E_NOT_LEADER;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return -EBUSY;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return -ENOENT;
	case RAFT_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static bool raft_rv_is_fatal(int rv)
{
	return rv == RAFT_NOMEM || rv == RAFT_SHUTDOWN || rv == RAFT_MALFORMED ||
	       raft_rv_to_errno(rv) == -EIO;
}

static int fail(struct cns__drv *d, int rv, const char *what)
{
	if (!d->failed)
		bs_errf(d->errmsg, sizeof d->errmsg, "%s: %s", what, bs_strerror(rv));
	d->failed = true;
	if (d->io.state != NULL)
		d->io.state(d->io.data);
	return rv;
}

static struct cns__persist *persist_new(void)
{
	return calloc(1, sizeof(struct cns__persist));
}

static void persist_submit(struct cns__drv *d, struct cns__persist *p)
{
	p->next = NULL;
	if (d->inflight_tail != NULL)
		d->inflight_tail->next = p;
	else
		d->inflight_head = p;
	d->inflight_tail = p;
	if (p->has_term_vote)
		d->term_vote_inflight++;
	d->io.persist(d->io.data, p);
}

/* Free each distinct data batch of raft's entries (step API §6). */
static void free_batches(struct raft_entry *entries, unsigned n)
{
	void *last = NULL;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (entries[i].batch != NULL && entries[i].batch != last) {
			last = entries[i].batch;
			raft_free(last);
		}
	}
}

static int entry_copy(struct cns__entry *dst, const struct raft_entry *src)
{
	dst->term = src->term;
	dst->type = (unsigned short)src->type;
	dst->buf.len = src->buf.len;
	dst->buf.base = malloc(src->buf.len > 0 ? src->buf.len : 1);
	if (dst->buf.base == NULL)
		return -ENOMEM;
	memcpy(dst->buf.base, src->buf.base, src->buf.len);
	return 0;
}

/*
 * libraft 0.22.1 records a configuration entry that a follower appends as
 * uncommitted at the index of the first new entry of the AppendEntries
 * (replicationAppend passes `index`, not `index + i`, to
 * membershipUncommittedChange), so a change that is not first in its batch
 * sits at a wrong configuration_uncommitted_index: RAFT_CONFIGURATION for
 * its real index no longer matches and never clears it. Once elected, such
 * a follower refuses every membership change and catch-up for good (the
 * node test standby_promoted_by_next_leader: a new leader that got
 * "2^2..3^2" in one message never promoted its standby), and a later
 * truncation between the two indexes would keep a configuration whose entry
 * was deleted. raft applies each change of the batch in order, so the
 * uncommitted configuration is the last change's: put its index there. A
 * leader's own submissions (always alone) are already right.
 */
static void fix_uncommitted_index(struct cns__drv *d, const struct raft_update *u)
{
	unsigned i = u->entries.n;

	while (i > 0 && u->entries.batch[i - 1].type != RAFT_CHANGE)
		i--;
	if (i > 0)
		d->raft.configuration_uncommitted_index = u->entries.index + i - 1;
}

/* Copy new entries into the cache and into p (RAFT_UPDATE_ENTRIES). */
static int take_entries(struct cns__drv *d, struct raft_update *u, struct cns__persist *p)
{
	uint64_t index = u->entries.index;
	unsigned i, n = u->entries.n;
	int rv = 0;

	if (index <= cns__log_last(&d->log)) {
		cns__log_truncate(&d->log, index);
		p->truncate_from = index;
		if (d->reported >= index)
			d->reported = index - 1;
	}
	fix_uncommitted_index(d, u);
	p->first_index = index;
	p->entries = calloc(n, sizeof *p->entries);
	if (p->entries == NULL)
		rv = -ENOMEM;
	for (i = 0; rv == 0 && i < n; i++) {
		const struct raft_entry *e = &u->entries.batch[i];

		rv = entry_copy(&p->entries[i], e);
		if (rv == 0) {
			p->n_entries = i + 1;
			rv = cns__log_append(&d->log, e->term, (unsigned short)e->type, e->buf.base,
					     e->buf.len);
		}
	}
	free_batches(u->entries.batch, n);
	return rv;
}

/* A leader's snapshot arrived (RAFT_UPDATE_SNAPSHOT, followers): store it
 * and drop the log; the state machine is restored once it is durable. */
static int take_snapshot(struct cns__drv *d, struct raft_update *u, struct cns__persist *p)
{
	struct raft_snapshot_metadata *meta = &u->snapshot.metadata;
	struct cns__snapshot *s = calloc(1, sizeof *s);
	int rv = -ENOMEM;

	if (s != NULL && raft_configuration_encode(&meta->configuration, &s->conf) == 0) {
		s->index = meta->index;
		s->term = meta->term;
		s->conf_index = meta->configuration_index;
		s->data.base = malloc(u->snapshot.chunk.len > 0 ? u->snapshot.chunk.len : 1);
		if (s->data.base != NULL) {
			memcpy(s->data.base, u->snapshot.chunk.base, u->snapshot.chunk.len);
			s->data.len = u->snapshot.chunk.len;
			rv = 0;
		}
	}
	if (s != NULL && s->conf.base != NULL) {
		/* raft_configuration_encode allocates with raft_malloc. */
		void *conf = malloc(s->conf.len);

		if (conf != NULL)
			memcpy(conf, s->conf.base, s->conf.len);
		raft_free(s->conf.base);
		s->conf.base = conf;
		rv = conf == NULL ? -ENOMEM : rv;
	}
	raft_configuration_close(&meta->configuration);
	raft_free(u->snapshot.chunk.base);
	if (rv != 0) {
		cns__snapshot_free(s);
		return rv;
	}
	p->snapshot = s;
	p->drop_log = true;
	cns__log_reset(&d->log, s->index + 1);
	d->reported = s->index;
	return 0;
}

static int persist_update(struct cns__drv *d, struct raft_update *u)
{
	unsigned want = RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR | RAFT_UPDATE_ENTRIES |
			RAFT_UPDATE_SNAPSHOT;
	struct cns__persist *p;
	int rv = 0;

	if ((u->flags & want) == 0)
		return 0;
	p = persist_new();
	if (p == NULL)
		return -ENOMEM;
	if (u->flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR)) {
		p->has_term_vote = true;
		p->term = raft_current_term(&d->raft);
		p->vote = raft_voted_for(&d->raft);
	}
	if (u->flags & RAFT_UPDATE_ENTRIES)
		rv = take_entries(d, u, p);
	if (rv == 0 && (u->flags & RAFT_UPDATE_SNAPSHOT))
		rv = take_snapshot(d, u, p);
	if (rv != 0) {
		cns__persist_free(p);
		return rv;
	}
	persist_submit(d, p);
	return 0;
}

static int queue_conf(struct cns__drv *d, uint64_t index)
{
	uint64_t *grown;
	unsigned cap;

	if (d->conf_pending_n == d->conf_pending_cap) {
		cap = d->conf_pending_cap ? 2 * d->conf_pending_cap : 4;
		grown = realloc(d->conf_pending, cap * sizeof *grown);
		if (grown == NULL)
			return -ENOMEM;
		d->conf_pending = grown;
		d->conf_pending_cap = cap;
	}
	d->conf_pending[d->conf_pending_n++] = index;
	return 0;
}

static int set_applied_conf(struct cns__drv *d, uint64_t index, const struct raft_buffer *buf)
{
	void *copy = malloc(buf->len > 0 ? buf->len : 1);

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, buf->base, buf->len);
	free(d->applied_conf.base);
	d->applied_conf.base = copy;
	d->applied_conf.len = buf->len;
	d->applied_conf_index = index;
	return 0;
}

/* Apply (last_applied, commit index] from the cache (step API §4.4). */
static int apply_committed(struct cns__drv *d)
{
	uint64_t commit = raft_commit_index(&d->raft);
	const struct cns__entry *e;
	int rv;

	while (d->last_applied < commit) {
		e = cns__log_get(&d->log, d->last_applied + 1);
		if (e == NULL)
			break; /* not received yet: the commit index runs ahead */
		if (e->type == RAFT_CHANGE) {
			rv = set_applied_conf(d, d->last_applied + 1, &e->buf);
			if (rv == 0)
				rv = queue_conf(d, d->last_applied + 1);
			if (rv != 0)
				return rv;
		}
		d->last_applied++;
		d->io.apply(d->io.data, d->last_applied, e);
	}
	return 0;
}

static int handle_update(struct cns__drv *d, struct raft_update *u)
{
	unsigned i;
	int rv;

	rv = persist_update(d, u);
	if (rv != 0)
		return rv;
	if (u->flags & RAFT_UPDATE_MESSAGES)
		for (i = 0; i < u->messages.n; i++)
			cns__drv_send(d, &u->messages.batch[i]);
	if (u->flags & RAFT_UPDATE_STATE) {
		if (raft_state(&d->raft) == RAFT_LEADER)
			d->want_barrier = true;
		d->io.state(d->io.data);
	}
	if (u->flags & RAFT_UPDATE_COMMIT_INDEX)
		return apply_committed(d);
	return 0;
}

/* One raft_step() and its update. rv < 0 is an errno for the caller;
 * fatal libraft errors also mark the driver failed. */
static int step(struct cns__drv *d, struct raft_event *ev)
{
	struct raft_update u;
	int rv;

	if (d->failed)
		return -EIO;
	memset(&u, 0, sizeof u);
	ev->time = d->now;
	d->depth++;
	rv = raft_step(&d->raft, ev, &u);
	d->raft_rv = rv;
	if (rv == 0) {
		rv = handle_update(d, &u);
		if (rv != 0)
			fail(d, rv, "handling a raft update");
	} else {
		int err = raft_rv_to_errno(rv);

		if (raft_rv_is_fatal(rv) && !(ev->type == RAFT_RECEIVE && rv == RAFT_MALFORMED))
			fail(d, err, raft_errmsg(&d->raft));
		rv = err;
	}
	d->depth--;
	if (d->depth == 0) {
		int frv = cns__drv_step_followups(d);

		if (frv != 0 && rv == 0)
			rv = frv;
	}
	return rv;
}

int cns__drv_step(struct cns__drv *d, struct raft_event *ev)
{
	return step(d, ev);
}

int cns__drv_step_followups(struct cns__drv *d)
{
	int rv = 0;

	if (!d->in_followups && !d->failed) {
		d->in_followups = true;
		rv = followups(d);
		d->in_followups = false;
	}
	if (!d->failed)
		d->io.timer(d->io.data, raft_timeout(&d->raft));
	return rv;
}

static int step_configuration(struct cns__drv *d, uint64_t index)
{
	const struct cns__entry *e = cns__log_get(&d->log, index);
	struct raft_event ev;

	if (e == NULL)
		return 0; /* compacted: raft has learned it from the snapshot */
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_CONFIGURATION;
	ev.configuration.index = index;
	raft_configuration_init(&ev.configuration.conf);
	if (raft_configuration_decode(&e->buf, &ev.configuration.conf) != 0)
		return fail(d, -EPROTO, "committed configuration entry does not decode");
	return step(d, &ev); /* raft takes the configuration */
}

static int submit_entry(struct cns__drv *d, unsigned short type, const void *buf, size_t len,
			uint64_t *ret_index, uint64_t *ret_term)
{
	struct raft_entry e;
	struct raft_event ev;
	int rv;

	memset(&e, 0, sizeof e);
	e.term = raft_current_term(&d->raft);
	e.type = (enum raft_entry_type)type;
	e.buf.base = raft_malloc(len > 0 ? len : 1);
	if (e.buf.base == NULL)
		return -ENOMEM;
	memcpy(e.buf.base, buf, len);
	e.buf.len = len;
	e.batch = e.buf.base;
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_SUBMIT;
	ev.submit.entries = &e;
	ev.submit.n = 1;
	rv = step(d, &ev);
	if (d->raft_rv != 0)
		raft_free(e.batch); /* refused: the caller still owns it (§6) */
	if (rv == 0) {
		*ret_index = raft_last_index(&d->raft);
		*ret_term = e.term;
	}
	return rv;
}

/* A leader serves linearizable reads and runs lease clocks only after an
 * entry of its own term is applied (step API §4.5: libraft appends its
 * barrier only sometimes). */
static int submit_own_barrier(struct cns__drv *d)
{
	static const uint8_t zero[8];
	uint64_t index, term;
	int rv;

	d->want_barrier = false;
	if (raft_state(&d->raft) != RAFT_LEADER)
		return 0;
	rv = submit_entry(d, RAFT_BARRIER, zero, sizeof zero, &index, &term);
	if (rv == 0) {
		d->ready_index = index;
		d->ready_term = term;
	}
	return rv == BS_E_NOT_LEADER ? 0 : rv;
}

static bool snapshot_due(struct cns__drv *d)
{
	uint64_t snap_index = d->snap ? d->snap->index : 0;

	return d->cfg.snapshot_threshold > 0 && !d->snapshot_taking &&
	       !d->raft.snapshot.installing && d->applied_conf.base != NULL &&
	       d->last_applied >= snap_index + d->cfg.snapshot_threshold;
}

/* Take a snapshot at last_applied and store it with the compaction it
 * allows; raft hears of it (RAFT_SNAPSHOT) once it is durable. */
static int take_own_snapshot(struct cns__drv *d)
{
	const struct cns__entry *e = cns__log_get(&d->log, d->last_applied);
	struct cns__snapshot *s;
	struct cns__persist *p;

	if (e == NULL)
		return 0;
	s = calloc(1, sizeof *s);
	p = persist_new();
	if (s == NULL || p == NULL || d->io.snapshot(d->io.data, &s->data) != 0 ||
	    (s->conf.base = malloc(d->applied_conf.len)) == NULL) {
		cns__snapshot_free(s);
		free(p);
		bs_warn("consensus", "snapshot at %llu skipped: out of memory",
			(unsigned long long)d->last_applied);
		return 0;
	}
	memcpy(s->conf.base, d->applied_conf.base, d->applied_conf.len);
	s->conf.len = d->applied_conf.len;
	s->index = d->last_applied;
	s->term = e->term;
	s->conf_index = d->applied_conf_index;
	p->snapshot = s;
	if (s->index > d->cfg.snapshot_trailing)
		p->compact_upto = s->index - d->cfg.snapshot_trailing;
	d->snapshot_taking = true;
	persist_submit(d, p);
	return 0;
}

static int followups(struct cns__drv *d)
{
	int rv = 0;

	while (rv == 0 && !d->failed) {
		if (d->conf_pending_n > 0) {
			uint64_t index = d->conf_pending[0];

			memmove(d->conf_pending, d->conf_pending + 1,
				--d->conf_pending_n * sizeof *d->conf_pending);
			rv = step_configuration(d, index);
		} else if (d->want_barrier) {
			rv = submit_own_barrier(d);
		} else if (snapshot_due(d)) {
			rv = take_own_snapshot(d);
		} else if (cns__drv_transfer_due(d)) {
			rv = cns__drv_transfer_start(d);
		} else {
			break;
		}
	}
	return rv;
}

/* ---- start and stop ------------------------------------------------------ */

int cns__drv_bootstrap_request(const struct raft_configuration *conf,
			       struct cns__persist **ret_persist)
{
	struct cns__persist *p = persist_new();
	struct raft_buffer buf;

	if (p == NULL)
		return -ENOMEM;
	p->entries = calloc(1, sizeof *p->entries);
	if (p->entries == NULL || raft_configuration_encode(conf, &buf) != 0) {
		cns__persist_free(p);
		return -ENOMEM;
	}
	p->entries[0].buf.base = malloc(buf.len);
	if (p->entries[0].buf.base != NULL)
		memcpy(p->entries[0].buf.base, buf.base, buf.len);
	p->entries[0].buf.len = buf.len;
	raft_free(buf.base);
	if (p->entries[0].buf.base == NULL) {
		cns__persist_free(p);
		return -ENOMEM;
	}
	p->has_term_vote = true;
	p->term = 1;
	p->entries[0].term = 1;
	p->entries[0].type = RAFT_CHANGE;
	p->n_entries = 1;
	p->first_index = 1;
	*ret_persist = p;
	return 0;
}

/* Move the loaded snapshot and entries into the driver's cache. */
static int adopt_loaded(struct cns__drv *d, struct cns__loaded *loaded)
{
	uint64_t first = loaded->start_index ? loaded->start_index : 1, index;
	unsigned i;
	int rv = 0;

	d->snap = loaded->snapshot;
	loaded->snapshot = NULL;
	if (d->snap != NULL) {
		rv = d->io.restore(d->io.data, &d->snap->data);
		if (rv != 0)
			return rv;
		d->last_applied = d->snap->index;
		d->reported = d->snap->index;
		rv = set_applied_conf(d, d->snap->conf_index, &d->snap->conf);
		if (first <= d->snap->index)
			first = d->snap->index + 1;
	}
	if (rv == 0 && loaded->n_entries > 0 && loaded->start_index > first)
		rv = BS_E_CORRUPT; /* a gap between the snapshot and the log */
	cns__log_init(&d->log, first);
	for (i = 0; rv == 0 && i < loaded->n_entries; i++) {
		index = loaded->start_index + i;
		if (index >= first)
			rv = cns__log_append_owned(&d->log, &loaded->entries[i]);
	}
	if (d->log.n > 0)
		d->reported = cns__log_last(&d->log);
	return rv;
}

/* RAFT_START's entries, in raft_malloc'd memory (step API §6). */
static struct raft_entry *start_entries(struct cns__drv *d)
{
	struct raft_entry *entries = raft_calloc(d->log.n ? d->log.n : 1, sizeof *entries);
	unsigned i;

	for (i = 0; entries != NULL && i < d->log.n; i++) {
		const struct cns__entry *e = &d->log.entries[i];

		entries[i].term = e->term;
		entries[i].type = (enum raft_entry_type)e->type;
		entries[i].buf.len = e->buf.len;
		entries[i].buf.base = raft_malloc(e->buf.len > 0 ? e->buf.len : 1);
		if (entries[i].buf.base == NULL) {
			while (i-- > 0)
				raft_free(entries[i].buf.base);
			raft_free(entries);
			return NULL;
		}
		memcpy(entries[i].buf.base, e->buf.base, e->buf.len);
		entries[i].batch = entries[i].buf.base;
	}
	return entries;
}

static int step_start(struct cns__drv *d, uint64_t term, uint64_t vote)
{
	struct raft_snapshot_metadata meta;
	struct raft_entry *entries = start_entries(d);
	struct raft_event ev;
	unsigned i;
	int rv;

	if (entries == NULL)
		return -ENOMEM;
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_START;
	ev.start.term = term;
	ev.start.voted_for = vote;
	ev.start.start_index = d->log.first;
	ev.start.entries = entries;
	ev.start.n_entries = d->log.n;
	if (d->snap != NULL) {
		memset(&meta, 0, sizeof meta);
		meta.index = d->snap->index;
		meta.term = d->snap->term;
		meta.configuration_index = d->snap->conf_index;
		raft_configuration_init(&meta.configuration);
		if (raft_configuration_decode(&d->snap->conf, &meta.configuration) != 0) {
			free_batches(entries, d->log.n);
			raft_free(entries);
			return -EPROTO;
		}
		ev.start.metadata = &meta; /* raft takes meta.configuration */
	}
	rv = step(d, &ev); /* may append (a lone voter leads at once) */
	if (d->raft_rv == 0) {
		for (i = 0; i < ev.start.n_entries; i++)
			raft_free(entries[i].buf.base);
		raft_free(entries); /* on success the caller frees (§6) */
	}
	return rv;
}

static int drv_alloc(const struct cns__drv_config *config, const struct cns__drv_io *io,
		     uint64_t now, struct cns__drv **ret_drv)
{
	struct cns__drv *d = calloc(1, sizeof *d);

	if (d == NULL)
		return -ENOMEM;
	d->address = strdup(config->address);
	if (d->address == NULL) {
		free(d);
		return -ENOMEM;
	}
	d->cfg = *config;
	d->cfg.address = d->address;
	d->io = *io;
	d->now = now;
	d->disk_ok = true;
	*ret_drv = d;
	return 0;
}

static int raft_setup(struct cns__drv *d)
{
	int rv = raft_init(&d->raft, NULL, NULL, d->cfg.id, d->address);

	if (rv != 0)
		return raft_rv_to_errno(rv);
	raft_seed(&d->raft, d->cfg.seed);
	raft_set_election_timeout(&d->raft, d->cfg.election_timeout_ms);
	raft_set_heartbeat_timeout(&d->raft, d->cfg.heartbeat_ms);
	raft_set_pre_vote(&d->raft, true);
	raft_set_install_snapshot_timeout(&d->raft, d->cfg.install_snapshot_timeout_ms
							    ? d->cfg.install_snapshot_timeout_ms
							    : 5000);
	return 0;
}

int cns__drv_start(const struct cns__drv_config *config, const struct cns__drv_io *io,
		   struct cns__loaded *loaded, uint64_t now, struct cns__drv **ret_drv,
		   char *errmsg, size_t errmsg_size)
{
	struct cns__drv *d;
	int rv = drv_alloc(config, io, now, &d);

	if (rv != 0)
		goto err_free_loaded;
	rv = adopt_loaded(d, loaded);
	if (rv != 0)
		goto err_free_drv;
	rv = raft_setup(d);
	if (rv != 0)
		goto err_free_drv;
	rv = step_start(d, loaded->term, loaded->vote);
	if (rv != 0)
		goto err_free_drv;
	cns__loaded_free(loaded);
	*ret_drv = d;
	return 0;

err_free_drv:
	bs_errf(errmsg, errmsg_size, "starting raft: %s%s%s", bs_strerror(rv),
		d->errmsg[0] ? ": " : "", d->errmsg);
	cns__drv_stop(d);
	cns__loaded_free(loaded);
	return rv;
err_free_loaded:
	bs_errf(errmsg, errmsg_size, "starting raft: %s", bs_strerror(rv));
	cns__loaded_free(loaded);
	return rv;
}

void cns__drv_stop(struct cns__drv *d)
{
	struct cns__held *h;

	if (d == NULL)
		return;
	if (d->raft.address != NULL)
		raft_close(&d->raft, NULL); /* synchronous with io == NULL (§7.12) */
	while ((h = d->held_head) != NULL) {
		d->held_head = h->next;
		cns__held_free(h);
	}
	cns__log_close(&d->log);
	cns__snapshot_free(d->snap);
	free(d->applied_conf.base);
	free(d->conf_pending);
	free(d->address);
	free(d);
}

/* ---- events --------------------------------------------------------------- */

int cns__drv_tick(struct cns__drv *d, uint64_t now)
{
	struct raft_event ev;

	d->now = now;
	if (now < raft_timeout(&d->raft)) {
		d->io.timer(d->io.data, raft_timeout(&d->raft));
		return 0;
	}
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_TIMEOUT;
	return step(d, &ev);
}

/* What RAFT_RECEIVE would have taken, when the message never reaches raft. */
static void release_unstepped(struct raft_message *m)
{
	if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0)
		raft_free(m->append_entries.entries[0].batch);
	if (m->type == RAFT_INSTALL_SNAPSHOT) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
	}
}

/*
 * A follower that compacted its log behind its own snapshot cannot check an
 * AppendEntries whose previous entry it no longer holds, and libraft 0.22
 * rejects such a message ("missing previous entry"); a leader whose view of
 * us lags (its pipeline guessed low) then probes below our compaction point
 * forever. Entries up to our snapshot are committed, so by Leader
 * Completeness every current leader has the same ones: drop them from the
 * message and anchor it at our snapshot, as etcd's raft does when a leader
 * sends entries below the follower's commit index. Raft still checks the
 * leader's term first, so a stale leader gains nothing from this.
 */
static void trim_to_snapshot(struct cns__drv *d, struct raft_message *m)
{
	struct raft_append_entries *ae = &m->append_entries;
	unsigned skip;

	if (m->type != RAFT_APPEND_ENTRIES || d->snap == NULL ||
	    ae->prev_log_index >= d->snap->index || cns__drv_term_at(d, ae->prev_log_index) != 0)
		return;
	skip = d->snap->index - ae->prev_log_index;
	if (skip >= ae->n_entries) {
		if (ae->n_entries > 0)
			raft_free(ae->entries[0].batch);
		skip = ae->n_entries;
	}
	/* Shift within the caller's array (it frees the array it allocated);
	 * every entry points into the one batch raft frees via entries[0]. */
	if (ae->n_entries > skip)
		memmove(ae->entries, ae->entries + skip,
			(ae->n_entries - skip) * sizeof *ae->entries);
	ae->n_entries -= skip;
	ae->prev_log_index = d->snap->index;
	ae->prev_log_term = d->snap->term;
}

/*
 * A rejection at or below what the follower already acknowledged is stale
 * (it was overtaken on the network by a later success): the follower holds
 * a matching log up to its match index. libraft 0.22.1 checks this only in
 * pipeline mode; in probe mode a delayed "rejected N" after "matched N" sets
 * the follower's next index back for good and the leader then sends it only
 * empty AppendEntries (seen in the simulation, seed 2635 on 3 nodes).
 */
static bool stale_rejection(struct cns__drv *d, const struct raft_message *m)
{
	raft_index match;

	return m->type == RAFT_APPEND_ENTRIES_RESULT && m->append_entries_result.rejected != 0 &&
	       raft_state(&d->raft) == RAFT_LEADER &&
	       m->append_entries_result.term == raft_current_term(&d->raft) &&
	       raft_match_index(&d->raft, m->server_id, &match) == 0 &&
	       m->append_entries_result.rejected <= match;
}

int cns__drv_receive(struct cns__drv *d, struct raft_message *m, uint64_t now)
{
	struct raft_event ev;
	int rv;

	if (d->failed) {
		release_unstepped(m);
		return -EIO;
	}
	/* libraft 0.22.1 ignores an InstallSnapshot that arrives while it is
	 * installing one but then neither frees its conf and data nor replies
	 * (replicationInstallSnapshot sets *async on that path): drop it here,
	 * which is what raft would do, without the leak. Also drop one while our
	 * own snapshot is being stored, so RAFT_SNAPSHOT never lands in the
	 * middle of an install. The leader resends after its snapshot timeout. */
	if (stale_rejection(d, m))
		return 0;
	if (m->type == RAFT_INSTALL_SNAPSHOT &&
	    (d->raft.snapshot.installing || d->snapshot_taking)) {
		release_unstepped(m);
		return 0;
	}
	d->now = now;
	trim_to_snapshot(d, m);
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_RECEIVE;
	ev.receive.message = m;
	rv = step(d, &ev);
	return d->failed ? rv : 0; /* a refused message is not the caller's error */
}

/* The follower's snapshot install is durable: restore, then tell raft. */
static int snapshot_installed(struct cns__drv *d, struct cns__persist *p)
{
	struct cns__snapshot *s = p->snapshot;
	struct raft_event ev;
	int rv = d->io.restore(d->io.data, &s->data);

	if (rv != 0)
		return fail(d, rv, "restoring an installed snapshot");
	d->last_applied = s->index;
	rv = set_applied_conf(d, s->conf_index, &s->conf);
	if (rv != 0)
		return fail(d, rv, "installing a snapshot");
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_PERSISTED_SNAPSHOT;
	ev.persisted_snapshot.metadata.index = s->index;
	ev.persisted_snapshot.metadata.term = s->term;
	ev.persisted_snapshot.metadata.configuration_index = s->conf_index;
	raft_configuration_init(&ev.persisted_snapshot.metadata.configuration);
	if (raft_configuration_decode(&s->conf, &ev.persisted_snapshot.metadata.configuration))
		return fail(d, -EPROTO, "installed snapshot's configuration does not decode");
	ev.persisted_snapshot.last = true;
	cns__snapshot_free(d->snap);
	d->snap = s;
	p->snapshot = NULL;
	return step(d, &ev); /* raft takes the configuration */
}

/* Our own snapshot is durable: tell raft, then trim the cache as the store
 * was trimmed (keeping the trailing entries raft may still send). */
static int snapshot_stored(struct cns__drv *d, struct cns__persist *p)
{
	struct cns__snapshot *s = p->snapshot;
	struct raft_event ev;

	d->snapshot_taking = false;
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_SNAPSHOT;
	ev.snapshot.metadata.index = s->index;
	ev.snapshot.metadata.term = s->term;
	ev.snapshot.metadata.configuration_index = s->conf_index;
	raft_configuration_init(&ev.snapshot.metadata.configuration);
	if (raft_configuration_decode(&s->conf, &ev.snapshot.metadata.configuration) != 0)
		return fail(d, -EPROTO, "own snapshot's configuration does not decode");
	ev.snapshot.trailing = d->cfg.snapshot_trailing;
	cns__snapshot_free(d->snap);
	d->snap = s;
	p->snapshot = NULL;
	cns__log_compact(&d->log, p->compact_upto);
	return step(d, &ev);
}

/* Report entries durable only if the cache still holds them with the same
 * terms and the index moves forward (step API §7.7). */
static int entries_persisted(struct cns__drv *d, struct cns__persist *p)
{
	uint64_t last = p->first_index + p->n_entries - 1;
	const struct cns__entry *e = cns__log_get(&d->log, last);
	struct raft_event ev;

	if (e == NULL || e->term != p->entries[p->n_entries - 1].term || last <= d->reported)
		return 0;
	d->reported = last;
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_PERSISTED_ENTRIES;
	ev.persisted_entries.index = last;
	return step(d, &ev);
}

int cns__drv_persisted(struct cns__drv *d, struct cns__persist *p, uint64_t now)
{
	int rv = 0;

	d->now = now;
	if (p != d->inflight_head) {
		cns__persist_free(p);
		return fail(d, -EINVAL, "persist requests completed out of order");
	}
	d->inflight_head = p->next;
	if (d->inflight_head == NULL)
		d->inflight_tail = NULL;
	if (p->has_term_vote && --d->term_vote_inflight == 0)
		cns__drv_flush_held(d);
	if (p->snapshot != NULL && p->drop_log)
		rv = snapshot_installed(d, p);
	else if (p->snapshot != NULL)
		rv = snapshot_stored(d, p);
	if (rv == 0 && p->n_entries > 0)
		rv = entries_persisted(d, p);
	cns__persist_free(p);
	(void)rv; /* refusals of follow-up events are not the caller's concern */
	return d->failed ? -EIO : 0;
}

/* ---- client and admin actions ---------------------------------------------- */

static bool is_leader(struct cns__drv *d)
{
	return !d->failed && raft_state(&d->raft) == RAFT_LEADER;
}

int cns__drv_submit(struct cns__drv *d, unsigned short type, const void *buf, size_t len,
		    uint64_t now, uint64_t *ret_index, uint64_t *ret_term)
{
	d->now = now;
	if (!is_leader(d) || cns__drv_transferring(d))
		return BS_E_NOT_LEADER;
	if (!d->disk_ok)
		return -ENOSPC;
	if (type != RAFT_COMMAND && type != RAFT_BARRIER)
		return -EINVAL;
	return submit_entry(d, type, buf, len, ret_index, ret_term);
}

static bool catching_up(struct cns__drv *d)
{
	return d->raft.leader_state.promotee_id != 0;
}

int cns__drv_change(struct cns__drv *d, const struct raft_configuration *conf, uint64_t now)
{
	struct raft_buffer buf;
	uint64_t index, term;
	int rv;

	d->now = now;
	if (!is_leader(d) || cns__drv_transferring(d))
		return BS_E_NOT_LEADER;
	/* Changes go alone, one at a time (step API §7.5, §9). */
	if (d->raft.configuration_uncommitted_index != 0 || catching_up(d))
		return -EBUSY;
	if (raft_configuration_encode(conf, &buf) != 0)
		return -ENOMEM;
	rv = submit_entry(d, RAFT_CHANGE, buf.base, buf.len, &index, &term);
	raft_free(buf.base);
	return rv;
}

static bool in_configuration(struct cns__drv *d, uint64_t id)
{
	unsigned i;

	for (i = 0; i < d->raft.configuration.n; i++)
		if (d->raft.configuration.servers[i].id == id)
			return true;
	return false;
}

/*
 * libraft ends a catch-up round when an AppendEntries result moves the
 * member's match index past the round's target. A member fully replicated
 * before the catch-up starts (a standby whose add was cut short by a leader
 * change: replication does not wait for catch-ups) never moves it again on
 * an idle cluster, and the catch-up would run until its caller's deadline.
 * One entry after the start gives it a result to count. A failure here only
 * leaves the deadline to decide.
 */
static void nudge_catch_up(struct cns__drv *d)
{
	static const uint8_t zero[8];
	uint64_t index, term;

	if (d->disk_ok)
		submit_entry(d, RAFT_BARRIER, zero, sizeof zero, &index, &term);
}

int cns__drv_catch_up(struct cns__drv *d, uint64_t id, uint64_t now)
{
	struct raft_event ev;
	int rv;

	d->now = now;
	if (!is_leader(d))
		return BS_E_NOT_LEADER;
	/* RAFT_CATCH_UP checks nothing itself and crashes on a bad id (§7.4). */
	if (!in_configuration(d, id) || id == d->cfg.id)
		return -ENOENT;
	if (catching_up(d) || d->raft.configuration_uncommitted_index != 0)
		return -EBUSY;
	memset(&ev, 0, sizeof ev);
	ev.type = RAFT_CATCH_UP;
	ev.catch_up.server_id = id;
	rv = step(d, &ev);
	if (rv == 0)
		nudge_catch_up(d);
	return rv;
}

int cns__drv_catch_up_status(struct cns__drv *d, uint64_t id)
{
	int status;
	int rv;

	if (!is_leader(d))
		return BS_E_NOT_LEADER;
	if (!in_configuration(d, id))
		return -ENOENT;
	rv = raft_catch_up(&d->raft, id, &status);
	return rv != 0 ? raft_rv_to_errno(rv) : status;
}

void cns__drv_set_disk_ok(struct cns__drv *d, bool ok)
{
	d->disk_ok = ok;
}

/* ---- views ------------------------------------------------------------------ */

enum raft_state cns__drv_state(struct cns__drv *d)
{
	return d->failed ? RAFT_UNAVAILABLE : raft_state(&d->raft);
}

uint64_t cns__drv_term(struct cns__drv *d)
{
	return raft_current_term(&d->raft);
}

uint64_t cns__drv_leader(struct cns__drv *d, const char **ret_address)
{
	raft_id id = 0;
	const char *address = NULL;

	raft_leader(&d->raft, &id, &address);
	if (ret_address != NULL)
		*ret_address = address;
	return id;
}

uint64_t cns__drv_commit_index(struct cns__drv *d)
{
	return raft_commit_index(&d->raft);
}

uint64_t cns__drv_last_applied(struct cns__drv *d)
{
	return d->last_applied;
}

uint64_t cns__drv_last_index(struct cns__drv *d)
{
	return raft_last_index(&d->raft);
}

uint64_t cns__drv_term_at(struct cns__drv *d, uint64_t index)
{
	const struct cns__entry *e = cns__log_get(&d->log, index);

	if (e != NULL)
		return e->term;
	if (d->snap != NULL && d->snap->index == index)
		return d->snap->term;
	return 0;
}

bool cns__drv_leader_ready(struct cns__drv *d)
{
	/* A leader never overwrites its own entries, so while it leads in
	 * ready_term its barrier at ready_index stands. */
	return is_leader(d) && d->ready_term == raft_current_term(&d->raft) &&
	       d->last_applied >= d->ready_index;
}

uint64_t cns__drv_ready_index(struct cns__drv *d)
{
	return d->ready_index;
}

const struct raft_configuration *cns__drv_configuration(struct cns__drv *d)
{
	return &d->raft.configuration;
}

const char *cns__drv_errmsg(struct cns__drv *d)
{
	return d->errmsg;
}

const struct cns__entry *cns__drv_entry(struct cns__drv *d, uint64_t index)
{
	return cns__log_get(&d->log, index);
}

uint64_t cns__drv_id(struct cns__drv *d)
{
	return d->cfg.id;
}
