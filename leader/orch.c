/*
 * The orchestrator's core: the facts the state machine reads (Raft role
 * from the consensus node, the lease holder and the switches from the
 * local KV, health from the adapters), one timer armed at the earliest of
 * the state machine's deadline and the next health check, and the step:
 * facts in, actions out (orch_act.c runs them). docs/leader.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orch_internal.h"

uint64_t ldr__now(struct ldr_orch *o)
{
	return bs_clock_now_ms(o->c.clock);
}

static void on_timer(uv_timer_t *t);

static void rearm(struct ldr_orch *o)
{
	uint64_t now = ldr__now(o), due = ldr_next_deadline(&o->sm);

	if (o->closing)
		return;
	if (o->next_health_ms < due)
		due = o->next_health_ms;
	if (o->force_pending && o->force_deadline_ms < due)
		due = o->force_deadline_ms;
	if (o->ready_poll && now + LDR_READY_POLL_MS < due)
		due = now + LDR_READY_POLL_MS;
	uv_timer_start(&o->timer, on_timer, due > now ? due - now : 0, 0);
}

void ldr__step(struct ldr_orch *o, const struct ldr_event *ev)
{
	struct ldr_actions acts = {0};
	enum ldr_state before = o->sm.state;
	unsigned i;

	if (o->closing)
		return;
	ldr_step(&o->sm, ev, ldr__now(o), &acts);
	if (o->sm.state != before)
		bs_info(LDR_COMPONENT, "%s -> %s", ldr_state_name(before),
			ldr_state_name(o->sm.state));
	for (i = 0; i < acts.n; i++)
		ldr__run(o, &acts.a[i]);
	ldr__force_check(o);
	if (o->c.ad.changed != NULL && (acts.n > 0 || o->sm.state != before))
		o->c.ad.changed(o->c.ad.data);
	rearm(o);
}

/* ---- facts from the consensus node ---------------------------------------------- */

void ldr_orch_raft_changed(struct ldr_orch *o)
{
	struct cns_status st;
	struct ldr_event ev = {.type = LDR_EV_RAFT};
	unsigned i, n = 0;

	cns_node_status(o->c.node, &st);
	/* The node tells us of role changes, not of its own-term barrier
	 * being applied: while it leads but is not ready, look again soon. */
	o->ready_poll = st.role == CNS_LEADER && !st.ready;
	ev.u.raft.leader = st.role == CNS_LEADER && st.ready;
	ev.u.raft.leader_id = st.leader_id;
	for (i = 0; i < st.n_members && n < LDR_MAX_NODES; i++)
		if (st.members[i].voter)
			ev.u.raft.voters[n++] = st.members[i].id;
	ev.u.raft.n_voters = n;
	if (ev.u.raft.leader == o->raft_leader && st.leader_id == o->raft_leader_id &&
	    n == o->n_voters && memcmp(o->voters, ev.u.raft.voters, n * sizeof *o->voters) == 0)
		return;
	o->raft_leader = ev.u.raft.leader;
	o->raft_leader_id = st.leader_id;
	o->n_voters = n;
	memcpy(o->voters, ev.u.raft.voters, n * sizeof *o->voters);
	ldr__step(o, &ev);
}

/* The value of key in the local state machine as JSON, or NULL. */
static json_t *local_json(struct ldr_orch *o, const char *key, uint64_t *ret_mod_revision)
{
	Backstay__KvResult *r = NULL;
	json_t *j = NULL;
	size_t i;

	if (ret_mod_revision != NULL)
		*ret_mod_revision = 0;
	if (cns_read_local(o->c.node, key, strlen(key), 0, &r) != 0)
		return NULL;
	for (i = 0; i < r->n_kvs; i++) {
		const Backstay__KeyValue *kv = r->kvs[i];

		if (kv->key.len != strlen(key) || memcmp(kv->key.data, key, kv->key.len) != 0)
			continue;
		j = json_loadb((const char *)kv->value.data, kv->value.len, JSON_DECODE_ANY, NULL);
		if (ret_mod_revision != NULL)
			*ret_mod_revision = kv->mod_revision;
	}
	backstay__kv_result__free_unpacked(r, NULL);
	return j;
}

static uint64_t jint(const json_t *j, const char *name)
{
	json_int_t v = json_integer_value(json_object_get(j, name));

	return v > 0 ? (uint64_t)v : 0;
}

/* "disabled" (a JSON string or the bare text) means blocked. */
static bool switch_off(struct ldr_orch *o, const char *key)
{
	Backstay__KvResult *r = NULL;
	bool off = false;
	size_t i;

	if (cns_read_local(o->c.node, key, strlen(key), 0, &r) != 0)
		return false;
	for (i = 0; i < r->n_kvs; i++)
		if (r->kvs[i]->key.len == strlen(key))
			off = r->kvs[i]->value.len >= 8 &&
			      memmem(r->kvs[i]->value.data, r->kvs[i]->value.len, "disabled", 8) !=
				      NULL;
	backstay__kv_result__free_unpacked(r, NULL);
	return off;
}

bool ldr__leader_key(struct ldr_orch *o, uint64_t *ret_id, uint64_t *ret_epoch,
		     uint64_t *ret_mod_revision)
{
	json_t *j = local_json(o, LDR_KEY_LEADER, ret_mod_revision);

	*ret_id = jint(j, "id");
	*ret_epoch = jint(j, "epoch");
	json_decref(j);
	return *ret_id != 0;
}

static void refresh_holder(struct ldr_orch *o)
{
	struct ldr_event ev = {.type = LDR_EV_HOLDER};
	uint64_t rev;

	(void)ldr__leader_key(o, &ev.u.holder.id, &ev.u.holder.epoch, &rev);
	if (ev.u.holder.id == o->holder && ev.u.holder.epoch == o->holder_epoch)
		return;
	o->holder = ev.u.holder.id;
	o->holder_epoch = ev.u.holder.epoch;
	ldr__step(o, &ev);
}

static void refresh_control(struct ldr_orch *o)
{
	char key[160];
	json_t *j = local_json(o, LDR_KEY_EPOCH, &o->epoch_mod_revision);
	struct ldr_event ev = {.type = LDR_EV_CONTROL};

	snprintf(key, sizeof key, "%s%s", LDR_KEY_NODE_FAILOVER, o->c.guid);
	ev.u.control.cluster_blocked = switch_off(o, LDR_KEY_CLUSTER_FAILOVER);
	ev.u.control.node_blocked = switch_off(o, key);
	ev.u.control.last_holder = jint(j, "id");
	ev.u.control.last_epoch = jint(j, "epoch");
	json_decref(j);
	if (o->control_known && ev.u.control.cluster_blocked == o->cluster_blocked &&
	    ev.u.control.node_blocked == o->node_blocked &&
	    ev.u.control.last_holder == o->last_holder && ev.u.control.last_epoch == o->last_epoch)
		return;
	o->control_known = true;
	o->cluster_blocked = ev.u.control.cluster_blocked;
	o->node_blocked = ev.u.control.node_blocked;
	o->last_holder = ev.u.control.last_holder;
	o->last_epoch = ev.u.control.last_epoch;
	ldr__step(o, &ev);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

void ldr__sentinels(struct ldr_orch *o)
{
	struct ldr_event ev = {.type = LDR_EV_SENTINELS};

	ev.u.sentinels.no_start = file_exists(o->c.sentinel_dir, "no-start-pgsql");
	ev.u.sentinels.unsynced = file_exists(o->c.sentinel_dir, "unsynced");
	if (o->sentinels_known && ev.u.sentinels.no_start == o->no_start &&
	    ev.u.sentinels.unsynced == o->unsynced)
		return;
	o->sentinels_known = true;
	o->no_start = ev.u.sentinels.no_start;
	o->unsynced = ev.u.sentinels.unsynced;
	ldr__step(o, &ev);
}

static void refresh(struct ldr_orch *o)
{
	refresh_control(o);
	refresh_holder(o);
}

static void on_watch(void *data, const struct cns_watch_event *event)
{
	(void)event;
	refresh(data);
}

/* ---- health and the timer -------------------------------------------------------- */

static void health(struct ldr_orch *o)
{
	o->c.ad.pg_check(o->c.ad.data);
	if (o->c.set.es_enabled && o->c.ad.es_check != NULL)
		o->c.ad.es_check(o->c.ad.data);
	if (o->c.ad.disk_check != NULL)
		o->c.ad.disk_check(o->c.ad.data);
}

static void on_timer(uv_timer_t *t)
{
	struct ldr_orch *o = t->data;
	struct ldr_event ev = {.type = LDR_EV_TICK};
	uint64_t now = ldr__now(o);

	/* A snapshot install changes keys without watch events: re-read. */
	ldr__sentinels(o);
	ldr_orch_raft_changed(o);
	refresh(o);
	if (now >= o->next_health_ms) {
		o->next_health_ms = now + o->c.health_interval_ms;
		health(o);
	}
	ldr__step(o, &ev);
}

void ldr_orch_pg_sample(struct ldr_orch *o, const struct ldr_pg_sample *s)
{
	struct ldr_event ev = {.type = LDR_EV_PG};

	o->last_sample = *s;
	o->sample_known = true;
	ev.u.pg = *s;
	ldr__step(o, &ev);
	ldr__answer_pending(o);
}

void ldr_orch_pg_exited(struct ldr_orch *o)
{
	struct ldr_event ev = {.type = LDR_EV_PG_EXIT};

	o->last_sample.ok = false;
	ldr__step(o, &ev);
}

void ldr_orch_es(struct ldr_orch *o, bool ok, const char *detail)
{
	struct ldr_event ev = {.type = LDR_EV_ES};

	o->es_ok = ok;
	snprintf(o->es_detail, sizeof o->es_detail, "%s", detail != NULL ? detail : "");
	ev.u.ok = ok;
	ldr__step(o, &ev);
}

void ldr_orch_disk(struct ldr_orch *o, bool ok)
{
	struct ldr_event ev = {.type = LDR_EV_DISK};

	ev.u.ok = ok;
	ldr__step(o, &ev);
}

void ldr_orch_progress(struct ldr_orch *o, int percent)
{
	o->progress = percent;
	if (o->c.ad.changed != NULL)
		o->c.ad.changed(o->c.ad.data);
}

void ldr_orch_done(struct ldr_orch *o, enum ldr_action_type action, int status)
{
	struct ldr_event ev = {.type = LDR_EV_DONE};

	if (status != 0 && !(action == LDR_ACT_PG_START && status == -ENODATA)) /* no data yet */
		bs_warn(LDR_COMPONENT, "%s failed: %s",
			action == LDR_ACT_PG_FOLLOW	  ? "following"
			: action == LDR_ACT_PG_PROMOTE	  ? "promotion"
			: action == LDR_ACT_PG_STOP	  ? "stopping PostgreSQL"
			: action == LDR_ACT_PG_START	  ? "starting PostgreSQL"
			: action == LDR_ACT_PG_CHECKPOINT ? "the checkpoint before a hand-over"
							  : "synchronous_standby_names",
			bs_strerror(status));
	ev.u.done.action = (int)action;
	ev.u.done.status = status;
	ldr__step(o, &ev);
	if (action == LDR_ACT_PG_FOLLOW && !o->closing) {
		o->sentinels_known = false; /* a failed copy may have put unsynced back */
		ldr__sentinels(o);
	}
}

/* ---- lifecycle -------------------------------------------------------------------- */

int ldr_orch_start(const struct ldr_orch_config *c, struct ldr_orch **ret_orch, char *errmsg,
		   size_t errmsg_size)
{
	struct ldr_orch *o = calloc(1, sizeof *o);
	int rv;

	if (o == NULL) {
		snprintf(errmsg, errmsg_size, "leader: out of memory");
		return -ENOMEM;
	}
	o->c = *c;
	o->progress = -1;
	ldr_init(&o->sm, &c->set);
	rv = cns_watch(c->node, "pg/", 3, on_watch, o, &o->watch_ids[0]);
	if (rv != 0)
		goto err_after_alloc;
	rv = cns_watch(c->node, "cluster/", 8, on_watch, o, &o->watch_ids[1]);
	if (rv != 0)
		goto err_after_watch;
	uv_timer_init(c->loop, &o->timer);
	o->timer.data = o;
	uv_timer_start(&o->timer, on_timer, 0, 0);
	*ret_orch = o;
	return 0;

err_after_watch:
	cns_unwatch(c->node, o->watch_ids[0]);
err_after_alloc:
	snprintf(errmsg, errmsg_size, "leader: watch: %s", bs_strerror(rv));
	free(o);
	return rv;
}

void ldr__maybe_free(struct ldr_orch *o)
{
	if (!o->closing || !o->timer_closed || o->inflight > 0)
		return;
	if (o->close_cb != NULL)
		o->close_cb(o->close_data);
	free(o);
}

static void on_closed(uv_handle_t *h)
{
	struct ldr_orch *o = h->data;

	o->timer_closed = true;
	ldr__maybe_free(o);
}

void ldr_orch_close(struct ldr_orch *o, void (*cb)(void *data), void *data)
{
	if (o == NULL) {
		if (cb != NULL)
			cb(data);
		return;
	}
	o->closing = true;
	o->close_cb = cb;
	o->close_data = data;
	cns_unwatch(o->c.node, o->watch_ids[0]);
	cns_unwatch(o->c.node, o->watch_ids[1]);
	uv_timer_stop(&o->timer);
	uv_close((uv_handle_t *)&o->timer, on_closed);
}

const struct ldr_sm *ldr_orch_sm(const struct ldr_orch *o)
{
	return &o->sm;
}
