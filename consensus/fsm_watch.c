/*
 * Watches: local subscribers to the keys under a prefix, called
 * synchronously at the end of each apply with the command's changes.
 *
 * A callback may add and remove watches. Nothing is freed while events are
 * being delivered: a removed watch is only flagged (and skipped), a watch
 * added is flagged new (and skipped until the next command), and the list is
 * tidied once delivery ends. So the walk over the list never touches freed
 * memory, whatever the callbacks do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsm_internal.h"

struct cns__fsm_watch {
	uint64_t id;
	cns__fsm_watch_cb cb;
	void *data;
	bool removed; /* unwatched during delivery: skip, free afterwards */
	bool fresh;   /* added during delivery: active from the next command */
	struct cns__fsm_watch *next;
	size_t prefix_len;
	uint8_t prefix[];
};

int cns__fsm_watch(struct cns__fsm *f, const void *prefix, size_t len, cns__fsm_watch_cb cb,
		   void *data, uint64_t *ret_id)
{
	struct cns__fsm_watches *ws = &f->watches;
	struct cns__fsm_watch *w;

	if (len > SIZE_MAX - sizeof *w)
		return -ENOMEM;
	w = calloc(1, sizeof *w + len);
	if (w == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(w->prefix, prefix, len);
	w->prefix_len = len;
	w->cb = cb;
	w->data = data;
	w->id = ++ws->last_id;
	w->fresh = ws->dispatching;
	if (ws->tail != NULL)
		ws->tail->next = w;
	else
		ws->head = w;
	ws->tail = w;
	*ret_id = w->id;
	return 0;
}

/* Take w (whose predecessor is prev, NULL for the head) out of the list and
 * free it. */
static void unlink_free(struct cns__fsm_watches *ws, struct cns__fsm_watch *prev,
			struct cns__fsm_watch *w)
{
	if (prev != NULL)
		prev->next = w->next;
	else
		ws->head = w->next;
	if (ws->tail == w)
		ws->tail = prev;
	free(w);
}

int cns__fsm_unwatch(struct cns__fsm *f, uint64_t id)
{
	struct cns__fsm_watches *ws = &f->watches;
	struct cns__fsm_watch *w, *prev = NULL;

	for (w = ws->head; w != NULL; prev = w, w = w->next) {
		if (w->id != id || w->removed)
			continue;
		if (ws->dispatching)
			w->removed = true;
		else
			unlink_free(ws, prev, w);
		return 0;
	}
	return -ENOENT;
}

/* After delivery: free the removed watches, activate the new ones. */
static void tidy(struct cns__fsm_watches *ws)
{
	struct cns__fsm_watch *w = ws->head, *prev = NULL, *next;

	for (; w != NULL; w = next) {
		next = w->next;
		if (w->removed) {
			unlink_free(ws, prev, w);
			continue;
		}
		w->fresh = false;
		prev = w;
	}
}

static void deliver(struct cns__fsm_watches *ws, const struct cns__fsm_event *ev)
{
	const ProtobufCBinaryData *key = &ev->kv->key;
	struct cns__fsm_watch *w;

	for (w = ws->head; w != NULL; w = w->next) {
		if (w->removed || w->fresh)
			continue;
		if (cns__fsm_has_prefix(key->data, key->len, w->prefix, w->prefix_len))
			w->cb(w->data, ev);
	}
}

void cns__fsm_notify(struct cns__fsm *f, const Backstay__KvResult *r)
{
	struct cns__fsm_watches *ws = &f->watches;
	struct cns__fsm_event ev = {.revision = r->revision};
	Backstay__KeyValue tomb = BACKSTAY__KEY_VALUE__INIT;
	size_t i;

	if (r->code != 0 || ws->head == NULL)
		return;
	ws->dispatching = true;
	if (r->kv != NULL) {
		ev.type = CNS__FSM_PUT;
		ev.kv = r->kv;
		ev.prev = r->prev;
		deliver(ws, &ev);
	}
	ev.type = CNS__FSM_DELETE;
	ev.kv = &tomb;
	tomb.mod_revision = r->revision;
	for (i = 0; i < r->n_kvs; i++) {
		tomb.key = r->kvs[i]->key;
		ev.prev = r->kvs[i];
		deliver(ws, &ev);
	}
	ws->dispatching = false;
	tidy(ws);
}

void cns__fsm_watches_free(struct cns__fsm_watches *ws)
{
	struct cns__fsm_watch *w = ws->head, *next;

	for (; w != NULL; w = next) {
		next = w->next;
		free(w);
	}
	ws->head = ws->tail = NULL;
}
