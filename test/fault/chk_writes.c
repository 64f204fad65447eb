/*
 * The PostgreSQL write history (README.md, "PostgreSQL write history") and
 * the lost-write rule.
 *
 * The rule, quorum-synchronous mode (docs/leader.md §3): a commit is
 * acknowledged only once k + 1 nodes hold it, and the next primary is chosen
 * among a majority at the highest position, so after healing every
 * acknowledged row is on the final leader, and every follower, streaming from
 * it, has it too. Async mode acknowledges on the primary alone: what a
 * failover loses is counted, not failed. In both modes, after healing with
 * the workload stopped, a follower holds nothing its leader lacks (it would
 * be on a timeline of its own: rewind missed it), and no row whose write the
 * client saw fail exists (a definite failure must have had no effect).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chk.h"
#include "pgw.h"

void chk_writes_free(struct chk_writes *w)
{
	if (w == NULL)
		return;
	free(w->w);
	memset(w, 0, sizeof *w);
}

static int bad(char *errmsg, size_t size, unsigned long line, const char *what)
{
	snprintf(errmsg, size, "line %lu: %s", line, what);
	return -EINVAL;
}

/* A string or an integer field, as text. */
static bool get_name(json_t *obj, const char *name, char *buf, size_t size)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else
		return false;
	return true;
}

static int parse_type(const char *type, enum chk_wtype *ret)
{
	if (type == NULL)
		return -EINVAL;
	if (strcmp(type, "ok") == 0)
		*ret = CHK_W_OK;
	else if (strcmp(type, "fail") == 0)
		*ret = CHK_W_FAIL;
	else if (strcmp(type, "info") == 0)
		*ret = CHK_W_INFO;
	else
		return -EINVAL;
	return 0;
}

static int parse_write(json_t *obj, unsigned long line, struct chk_write *w, char *errmsg,
		       size_t size)
{
	json_t *id = json_object_get(obj, "id"), *ep = json_object_get(obj, "epoch");
	json_t *ts = json_object_get(obj, "t_start_ns"), *te = json_object_get(obj, "t_end_ns");

	memset(w, 0, sizeof *w);
	w->line = line;
	w->epoch = -1;
	if (!json_is_integer(id) || !json_is_integer(ts) || !json_is_integer(te))
		return bad(errmsg, size, line,
			   "needs integer \"id\", \"t_start_ns\", \"t_end_ns\"");
	if (parse_type(json_string_value(json_object_get(obj, "type")), &w->type) != 0)
		return bad(errmsg, size, line, "\"type\" must be ok, fail or info");
	w->id = json_integer_value(id);
	w->start_ns = json_integer_value(ts);
	w->end_ns = json_integer_value(te);
	if (w->end_ns < w->start_ns)
		return bad(errmsg, size, line, "t_end_ns is before t_start_ns");
	if (!get_name(obj, "client", w->client, sizeof w->client))
		return bad(errmsg, size, line, "needs \"client\" (string or integer)");
	get_name(obj, "route", w->route, sizeof w->route);
	get_name(obj, "node", w->node, sizeof w->node);
	if (json_is_integer(ep))
		w->epoch = json_integer_value(ep);
	if (w->type == CHK_W_OK && (w->epoch < 1 || w->node[0] == '\0'))
		return bad(errmsg, size, line, "an ok write needs \"epoch\" (>= 1) and \"node\"");
	return 0;
}

int chk_writes_read(struct chk_writes *w, FILE *f, char *errmsg, size_t errmsg_size)
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
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 1024;
			struct chk_write *p = realloc(w->w, cap * sizeof *p);

			if (p == NULL) {
				rv = -ENOMEM;
				break;
			}
			w->w = p;
			w->cap = cap;
		}
		obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(obj))
			rv = bad(errmsg, errmsg_size, lineno,
				 obj == NULL ? jerr.text : "not a JSON object");
		else
			rv = parse_write(obj, lineno, &w->w[w->n], errmsg, errmsg_size);
		if (rv == 0)
			w->n++;
		json_decref(obj);
	}
	if (rv == 0 && ferror(f))
		rv = -EIO;
	free(line);
	return rv;
}

static int cmp_id(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return (a > b) - (a < b);
}

int chk_writes_ids(const struct chk_writes *w, enum chk_wtype type, int64_t **ret_ids,
		   size_t *ret_n, int64_t *ret_dup)
{
	int64_t *ids = malloc((w->n + 1) * sizeof *ids);
	size_t i, n = 0;

	if (ids == NULL)
		return -ENOMEM;
	for (i = 0; i < w->n; i++)
		if (w->w[i].type == type)
			ids[n++] = w->w[i].id;
	qsort(ids, n, sizeof *ids, cmp_id);
	for (i = 1; type == CHK_W_OK && i < n; i++)
		if (ids[i] == ids[i - 1]) {
			*ret_dup = ids[i];
			free(ids);
			return -EEXIST;
		}
	*ret_ids = ids;
	*ret_n = pgw_ids_normalize(ids, n);
	return 0;
}

enum chk_verdict chk_lost(const int64_t *acked, size_t n_acked, const int64_t *failed,
			  size_t n_failed, struct chk_lost_node *nodes, size_t n_nodes, bool async)
{
	const struct chk_lost_node *leader = NULL;
	bool bad_found = false;
	size_t i;

	for (i = 0; i < n_nodes; i++)
		if (nodes[i].leader)
			leader = &nodes[i];
	for (i = 0; i < n_nodes; i++) {
		struct chk_lost_node *nd = &nodes[i];

		nd->missing =
			pgw_ids_compare(acked, n_acked, nd->ids, nd->n, nd->shown, CHK_SHOWN, NULL);
		nd->n_shown = nd->missing < CHK_SHOWN ? nd->missing : CHK_SHOWN;
		nd->phantom =
			n_failed - pgw_ids_compare(failed, n_failed, nd->ids, nd->n, NULL, 0, NULL);
		nd->divergent = 0;
		if (leader != NULL && nd != leader)
			nd->divergent = pgw_ids_compare(nd->ids, nd->n, leader->ids, leader->n,
							NULL, 0, NULL);
		if ((nd->missing > 0 && !async) || nd->divergent > 0 || nd->phantom > 0)
			bad_found = true;
	}
	return bad_found ? CHK_FAIL : CHK_PASS;
}
