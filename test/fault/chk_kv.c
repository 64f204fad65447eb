/*
 * The KV register history: JSON lines of invocations and completions
 * (README.md, "KV register history"), paired per process into operations
 * and grouped per key.
 *
 * Pairing: a process has at most one operation open; its next line of type
 * ok, fail or info completes it (same f and key). An invoke still open at
 * the end of the file is an info: it may have taken effect at any time
 * after its invocation. Failed operations are dropped (they did not take
 * effect); so are info reads (they change nothing and return nothing).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chk.h"

/* An invocation waiting for its completion. */
struct pending {
	int64_t process;
	enum chk_f f;
	char *key;
	int64_t value, expect, call_ns;
	unsigned long line;
};

struct reader {
	struct chk_kv *h;
	json_t *index; /* key -> index into h->keys */
	struct pending *open;
	size_t n_open, cap_open;
	char *errmsg;
	size_t errmsg_size;
	unsigned long line;
};

const char *chk_verdict_name(enum chk_verdict v)
{
	switch (v) {
	case CHK_PASS:
		return "PASS";
	case CHK_FAIL:
		return "FAIL";
	default:
		return "UNKNOWN";
	}
}

void chk_kv_init(struct chk_kv *h)
{
	memset(h, 0, sizeof *h);
}

void chk_kv_free(struct chk_kv *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n_keys; i++) {
		free(h->keys[i].key);
		free(h->keys[i].ops);
	}
	free(h->keys);
	chk_kv_init(h);
}

static const char *f_name(enum chk_f f)
{
	return f == CHK_READ ? "read" : f == CHK_WRITE ? "write" : "cas";
}

static void value_format(int64_t v, char *buf, size_t size)
{
	if (v == CHK_ABSENT)
		snprintf(buf, size, "nil");
	else
		snprintf(buf, size, "%" PRId64, v);
}

void chk_op_format(const struct chk_op *op, const char *key, char *buf, size_t size)
{
	char v[24], e[24], end[24];

	value_format(op->value, v, sizeof v);
	value_format(op->expect, e, sizeof e);
	if (op->ret_ns == CHK_NEVER)
		snprintf(end, sizeof end, "info");
	else
		snprintf(end, sizeof end, "%" PRId64, op->ret_ns);
	if (op->f == CHK_CAS)
		snprintf(buf, size, "process %" PRId64 " cas %s %s->%s [%" PRId64 "..%s] line %lu",
			 op->process, key, e, v, op->call_ns, end, op->line);
	else
		snprintf(buf, size, "process %" PRId64 " %s %s %s [%" PRId64 "..%s] line %lu",
			 op->process, f_name(op->f), key, v, op->call_ns, end, op->line);
}

static int bad(struct reader *r, const char *what)
{
	snprintf(r->errmsg, r->errmsg_size, "line %lu: %s", r->line, what);
	return -EINVAL;
}

/* A value: an integer, or null (the key is absent). */
static int get_value(struct reader *r, json_t *obj, const char *name, int64_t *ret)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_null(v)) {
		*ret = CHK_ABSENT;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) == CHK_ABSENT) {
		snprintf(r->errmsg, r->errmsg_size, "line %lu: \"%s\" must be an integer or null",
			 r->line, name);
		return -EINVAL;
	}
	*ret = json_integer_value(v);
	return 0;
}

static int get_f(struct reader *r, json_t *obj, enum chk_f *ret)
{
	const char *f = json_string_value(json_object_get(obj, "f"));

	if (f != NULL && strcmp(f, "read") == 0)
		*ret = CHK_READ;
	else if (f != NULL && strcmp(f, "write") == 0)
		*ret = CHK_WRITE;
	else if (f != NULL && strcmp(f, "cas") == 0)
		*ret = CHK_CAS;
	else
		return bad(r, "\"f\" must be read, write or cas");
	return 0;
}

static struct pending *find_open(struct reader *r, int64_t process)
{
	size_t i;

	for (i = 0; i < r->n_open; i++)
		if (r->open[i].process == process)
			return &r->open[i];
	return NULL;
}

static void close_open(struct reader *r, struct pending *p)
{
	free(p->key);
	*p = r->open[--r->n_open];
}

static int key_ops(struct reader *r, const char *key, struct chk_key **ret)
{
	json_t *ix = json_object_get(r->index, key);
	struct chk_key *k;

	if (ix != NULL) {
		*ret = &r->h->keys[json_integer_value(ix)];
		return 0;
	}
	if (r->h->n_keys == r->h->cap) {
		size_t cap = r->h->cap ? 2 * r->h->cap : 16;

		k = realloc(r->h->keys, cap * sizeof *k);
		if (k == NULL)
			return -ENOMEM;
		r->h->keys = k;
		r->h->cap = cap;
	}
	k = &r->h->keys[r->h->n_keys];
	memset(k, 0, sizeof *k);
	k->key = strdup(key);
	if (k->key == NULL ||
	    json_object_set_new(r->index, key, json_integer((json_int_t)r->h->n_keys)) != 0) {
		free(k->key);
		return -ENOMEM;
	}
	r->h->n_keys++;
	*ret = k;
	return 0;
}

/* Turn an invocation into an operation ending at ret_ns with value. */
static int add_op(struct reader *r, const struct pending *p, int64_t value, int64_t ret_ns)
{
	struct chk_key *k;
	struct chk_op *op;
	int rv = key_ops(r, p->key, &k);

	if (rv != 0)
		return rv;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;

		op = realloc(k->ops, cap * sizeof *op);
		if (op == NULL)
			return -ENOMEM;
		k->ops = op;
		k->cap = cap;
	}
	op = &k->ops[k->n++];
	*op = (struct chk_op){.process = p->process,
			      .f = p->f,
			      .value = value,
			      .expect = p->expect,
			      .call_ns = p->call_ns,
			      .ret_ns = ret_ns,
			      .line = p->line};
	return 0;
}

static int invoke(struct reader *r, json_t *obj, int64_t process, enum chk_f f, const char *key,
		  int64_t t_ns)
{
	struct pending p = {.process = process, .f = f, .call_ns = t_ns, .line = r->line};
	int rv = 0;

	p.value = p.expect = CHK_ABSENT;
	if (find_open(r, process) != NULL)
		return bad(r, "the process invokes while its previous operation is open");
	if (f != CHK_READ)
		rv = get_value(r, obj, "value", &p.value);
	if (rv == 0 && f == CHK_CAS)
		rv = get_value(r, obj, "expect", &p.expect);
	if (rv != 0)
		return rv;
	if (r->n_open == r->cap_open) {
		size_t cap = r->cap_open ? 2 * r->cap_open : 16;
		struct pending *o = realloc(r->open, cap * sizeof *o);

		if (o == NULL)
			return -ENOMEM;
		r->open = o;
		r->cap_open = cap;
	}
	p.key = strdup(key);
	if (p.key == NULL)
		return -ENOMEM;
	r->open[r->n_open++] = p;
	return 0;
}

static int complete(struct reader *r, json_t *obj, const char *type, int64_t process, enum chk_f f,
		    const char *key, int64_t t_ns)
{
	struct pending *p = find_open(r, process);
	int64_t value;
	int rv = 0;

	if (p == NULL)
		return bad(r, "a completion without an open invocation of its process");
	if (p->f != f || strcmp(p->key, key) != 0)
		return bad(r, "the completion's f or key differs from its invocation's");
	if (t_ns < p->call_ns)
		return bad(r, "the completion is earlier than its invocation");
	value = p->value;
	if (strcmp(type, "ok") == 0) {
		r->h->n_ok++;
		if (f == CHK_READ)
			rv = get_value(r, obj, "value", &value);
		if (rv == 0)
			rv = add_op(r, p, value, t_ns);
	} else if (strcmp(type, "info") == 0) {
		r->h->n_info++;
		if (f != CHK_READ)
			rv = add_op(r, p, value, CHK_NEVER);
	} else {
		r->h->n_fail++;
	}
	if (rv == 0)
		close_open(r, p);
	return rv;
}

static int one_line(struct reader *r, json_t *obj)
{
	json_t *jp = json_object_get(obj, "process"), *jt = json_object_get(obj, "t_ns");
	const char *type = json_string_value(json_object_get(obj, "type"));
	const char *key = json_string_value(json_object_get(obj, "key"));
	enum chk_f f;
	int rv;

	if (!json_is_integer(jp) || !json_is_integer(jt) || key == NULL)
		return bad(r, "needs integer \"process\" and \"t_ns\" and a string \"key\"");
	rv = get_f(r, obj, &f);
	if (rv != 0)
		return rv;
	if (type != NULL && strcmp(type, "invoke") == 0)
		return invoke(r, obj, json_integer_value(jp), f, key, json_integer_value(jt));
	if (type != NULL &&
	    (strcmp(type, "ok") == 0 || strcmp(type, "fail") == 0 || strcmp(type, "info") == 0))
		return complete(r, obj, type, json_integer_value(jp), f, key,
				json_integer_value(jt));
	return bad(r, "\"type\" must be invoke, ok, fail or info");
}

/* Invocations never completed are info operations. */
static int close_all(struct reader *r)
{
	int rv = 0;

	while (rv == 0 && r->n_open > 0) {
		struct pending *p = &r->open[r->n_open - 1];

		r->h->n_info++;
		if (p->f != CHK_READ)
			rv = add_op(r, p, p->value, CHK_NEVER);
		if (rv == 0)
			close_open(r, p);
	}
	return rv;
}

int chk_kv_read(struct chk_kv *h, FILE *f, char *errmsg, size_t errmsg_size)
{
	struct reader r = {.h = h, .errmsg = errmsg, .errmsg_size = errmsg_size};
	char *line = NULL;
	size_t size = 0;
	json_error_t jerr;
	json_t *obj;
	int rv = 0;

	r.index = json_object();
	if (r.index == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < h->n_keys; k++)
		if (json_object_set_new(r.index, h->keys[k].key, json_integer((json_int_t)k)) != 0)
			rv = -ENOMEM;
	while (rv == 0 && getline(&line, &size, f) > 0) {
		r.line++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(obj))
			rv = bad(&r, obj == NULL ? jerr.text : "not a JSON object");
		else
			rv = one_line(&r, obj);
		json_decref(obj);
	}
	if (rv == 0 && ferror(f))
		rv = -EIO;
	if (rv == 0)
		rv = close_all(&r);
	while (r.n_open > 0)
		close_open(&r, &r.open[r.n_open - 1]);
	free(r.open);
	free(line);
	json_decref(r.index);
	return rv;
}
