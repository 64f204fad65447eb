/*
 * Recovery: after the last fault heals, the cluster must be back to one
 * leader with every other node a streaming follower within a bound.
 *
 * Input: status samples the harness takes periodically (one JSON line per
 * round: every node's role, epoch, streaming flag, lag), and the heal time
 * (the schedule's last event once every fault has ended). The recovery time
 * is from the heal to the first sample after which every sample is
 * recovered: a cluster that recovers, flaps and recovers again is timed to
 * its second recovery. When the samples end unrecovered before heal + bound
 * the answer is UNKNOWN (the harness stopped looking too soon), never FAIL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chk.h"

void chk_samples_free(struct chk_samples *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->s[i].nodes);
	free(s->s);
	memset(s, 0, sizeof *s);
}

static int bad(char *errmsg, size_t size, unsigned long line, const char *what)
{
	snprintf(errmsg, size, "line %lu: %s", line, what);
	return -EINVAL;
}

static int parse_node(json_t *o, struct chk_node_state *ns)
{
	const char *node = json_string_value(json_object_get(o, "node"));
	const char *role = json_string_value(json_object_get(o, "role"));
	json_t *ep = json_object_get(o, "epoch"), *lag = json_object_get(o, "lag_bytes");

	if (node == NULL || role == NULL)
		return -EINVAL;
	memset(ns, 0, sizeof *ns);
	snprintf(ns->node, sizeof ns->node, "%s", node);
	snprintf(ns->role, sizeof ns->role, "%s", role);
	ns->epoch = json_is_integer(ep) ? json_integer_value(ep) : -1;
	ns->lag_bytes = json_is_integer(lag) ? json_integer_value(lag) : -1;
	ns->streaming = json_is_true(json_object_get(o, "streaming"));
	return 0;
}

static int parse_sample(json_t *obj, struct chk_sample *s)
{
	json_t *t = json_object_get(obj, "t_ns"), *nodes = json_object_get(obj, "nodes");
	size_t i;

	if (!json_is_integer(t) || !json_is_array(nodes))
		return -EINVAL;
	s->t_ns = json_integer_value(t);
	s->n = json_array_size(nodes);
	s->nodes = calloc(s->n + 1, sizeof *s->nodes);
	if (s->nodes == NULL)
		return -ENOMEM;
	for (i = 0; i < s->n; i++)
		if (parse_node(json_array_get(nodes, i), &s->nodes[i]) != 0)
			return -EINVAL;
	return 0;
}

int chk_samples_read(struct chk_samples *s, FILE *f, char *errmsg, size_t errmsg_size)
{
	char *line = NULL;
	size_t size = 0;
	unsigned long lineno = 0;
	json_error_t jerr;
	json_t *obj;
	int rv = 0;

	while (rv == 0 && getline(&line, &size, f) > 0) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 256;
			struct chk_sample *p = realloc(s->s, cap * sizeof *p);

			if (p == NULL) {
				rv = -ENOMEM;
				break;
			}
			s->s = p;
			s->cap = cap;
		}
		obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		memset(&s->s[s->n], 0, sizeof s->s[s->n]);
		if (!json_is_object(obj))
			rv = bad(errmsg, errmsg_size, lineno,
				 obj == NULL ? jerr.text : "not a JSON object");
		else
			rv = parse_sample(obj, &s->s[s->n]);
		s->n++; /* kept even when half parsed: chk_samples_free frees it */
		if (rv == -EINVAL)
			bad(errmsg, errmsg_size, lineno,
			    "needs integer \"t_ns\" and \"nodes\": [{\"node\",\"role\",...}]");
		if (rv == 0 && s->n > 1 && s->s[s->n - 1].t_ns < s->s[s->n - 2].t_ns)
			rv = bad(errmsg, errmsg_size, lineno, "samples must be in time order");
		json_decref(obj);
	}
	if (rv == 0 && ferror(f))
		rv = -EIO;
	free(line);
	return rv;
}

/* ---- the schedule's heal time ------------------------------------------- */

/* Open faults: "fault target" keys counted up at start, down at end. */
static int schedule_event(json_t *obj, json_t *open, int64_t *t)
{
	const char *fault = json_string_value(json_object_get(obj, "fault"));
	const char *target = json_string_value(json_object_get(obj, "target"));
	const char *phase = json_string_value(json_object_get(obj, "phase"));
	json_t *jt = json_object_get(obj, "t_ns");
	char key[2 * CHK_NAME_MAX + 2];
	json_int_t count;

	if (fault == NULL || phase == NULL || !json_is_integer(jt))
		return -EINVAL;
	snprintf(key, sizeof key, "%s %s", fault, target != NULL ? target : "");
	count = json_integer_value(json_object_get(open, key));
	if (strcmp(phase, "start") == 0)
		count++;
	else if (strcmp(phase, "end") == 0 && count > 0)
		count--;
	else
		return -EINVAL;
	if (json_integer_value(jt) > *t)
		*t = json_integer_value(jt);
	if (count == 0)
		return json_object_del(open, key) == 0 ? 0 : -ENOMEM;
	return json_object_set_new(open, key, json_integer(count)) == 0 ? 0 : -ENOMEM;
}

int chk_schedule_heal(FILE *f, int64_t *ret_heal_ns, char *errmsg, size_t errmsg_size)
{
	json_t *open = json_object(), *obj;
	char *line = NULL;
	size_t size = 0;
	unsigned long lineno = 0, events = 0;
	int64_t t = INT64_MIN;
	json_error_t jerr;
	int rv = open == NULL ? -ENOMEM : 0;

	while (rv == 0 && getline(&line, &size, f) > 0) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		rv = json_is_object(obj) ? schedule_event(obj, open, &t) : -EINVAL;
		if (rv == -EINVAL)
			bad(errmsg, errmsg_size, lineno,
			    "needs \"t_ns\", \"fault\", \"phase\" start|end (an end after its "
			    "start)");
		events++;
		json_decref(obj);
	}
	if (rv == 0 && json_object_size(open) > 0) {
		snprintf(errmsg, errmsg_size, "fault '%s' never ends",
			 json_object_iter_key(json_object_iter(open)));
		rv = -EINVAL;
	}
	if (rv == 0 && events == 0)
		rv = -ENOENT;
	if (rv == 0)
		*ret_heal_ns = t;
	free(line);
	json_decref(open);
	return rv;
}

/* ---- the rule --------------------------------------------------------------- */

bool chk_sample_recovered(const struct chk_sample *s, const struct chk_recovery_opts *o,
			  size_t n_nodes, char *why, size_t why_size)
{
	const struct chk_node_state *leader = NULL;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->nodes[i].role, "leader") == 0) {
			if (leader != NULL) {
				snprintf(why, why_size, "two leaders: %s and %s", leader->node,
					 s->nodes[i].node);
				return false;
			}
			leader = &s->nodes[i];
		}
	if (leader == NULL) {
		snprintf(why, why_size, "no leader");
		return false;
	}
	if (s->n < n_nodes) {
		snprintf(why, why_size, "%zu of %zu nodes answered", s->n, n_nodes);
		return false;
	}
	for (i = 0; i < s->n; i++) {
		const struct chk_node_state *ns = &s->nodes[i];

		if (ns == leader)
			continue;
		if (strcmp(ns->role, "follower") != 0 || !ns->streaming)
			snprintf(why, why_size, "%s is %s%s", ns->node, ns->role,
				 ns->streaming ? "" : ", not streaming");
		else if (ns->epoch >= 0 && leader->epoch >= 0 && ns->epoch != leader->epoch)
			snprintf(why, why_size,
				 "%s follows epoch %" PRId64 ", the leader's is %" PRId64, ns->node,
				 ns->epoch, leader->epoch);
		else if (o->max_lag_bytes >= 0 &&
			 (ns->lag_bytes < 0 || ns->lag_bytes > o->max_lag_bytes))
			snprintf(why, why_size, "%s lags %" PRId64 " bytes", ns->node,
				 ns->lag_bytes);
		else
			continue;
		return false;
	}
	return true;
}

/* Distinct node names over every sample. */
static size_t count_nodes(const struct chk_samples *s)
{
	json_t *seen = json_object();
	size_t i, j, n;

	if (seen == NULL)
		return 0;
	for (i = 0; i < s->n; i++)
		for (j = 0; j < s->s[i].n; j++)
			json_object_set_new(seen, s->s[i].nodes[j].node, json_true());
	n = json_object_size(seen);
	json_decref(seen);
	return n;
}

void chk_recovery(const struct chk_samples *s, const struct chk_recovery_opts *o,
		  struct chk_recovery_result *ret)
{
	size_t n_nodes = o->n_nodes ? o->n_nodes : count_nodes(s), i, first = s->n;
	const struct chk_sample *last;

	memset(ret, 0, sizeof *ret);
	ret->recovered_ns = -1;
	for (i = 0; i < s->n; i++)
		if (s->s[i].t_ns >= o->heal_ns)
			ret->n_after_heal++;
	for (i = s->n; i-- > 0 && s->s[i].t_ns >= o->heal_ns;) {
		if (!chk_sample_recovered(&s->s[i], o, n_nodes, ret->why, sizeof ret->why))
			break;
		first = i;
	}
	if (ret->n_after_heal == 0) {
		ret->verdict = CHK_UNKNOWN;
		snprintf(ret->why, sizeof ret->why, "no sample after the heal");
		return;
	}
	last = &s->s[s->n - 1];
	if (first == s->n) {
		bool short_run = last->t_ns - o->heal_ns < o->bound_ns;

		ret->verdict = short_run ? CHK_UNKNOWN : CHK_FAIL;
		return;
	}
	ret->recovered_ns = s->s[first].t_ns - o->heal_ns;
	ret->verdict = ret->recovered_ns <= o->bound_ns ? CHK_PASS : CHK_FAIL;
}
