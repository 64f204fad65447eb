/*
 * The etcd-v2-shaped member discovery of discovery.h. Stock Chef Infra
 * Server frontends' `chef-server-ctl reconfigure` GETs /v2/members on a
 * backend's port 2379 and takes each member's `name` and the host of its
 * `peerURLs[0]`; automation (chef-ingredient) probes /version.
 *
 * Every answer is text rendered ahead of time: /version at start, the
 * member list at each publish. The server thread only copies it under the
 * mutex, so a request never waits on the loop thread and the loop thread
 * never waits on a client.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "discovery.h"
#include "http.h"

/* The etcd fields of /version are the shape clients parse, with the
 * versions of the etcd chef-backend shipped: not a claim that etcd runs.
 * "backstay" says what does. */
#define ETCD_SERVER_VERSION "2.3.8"
#define ETCD_CLUSTER_VERSION "2.3.0"

#define JSON_TYPE "application/json"

struct cli_discovery {
	struct cli_http *http;
	char *version_json; /* set before the server starts, then read-only */
	pthread_mutex_t mu;
	/* Under mu: */
	char *members_json; /* NULL until the first publish */
	bool healthy;
};

enum route { ROUTE_NONE, ROUTE_VERSION, ROUTE_HEALTH, ROUTE_MEMBERS };

/* ---- rendering (loop thread) ---------------------------------------------------- */

/* jansson's failure as an errno: it refuses text that is not UTF-8. */
static int json_errno(const json_error_t *error)
{
	return json_error_code(error) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
}

/* obj as compact text, then released: 0 and *ret_text (malloc'd) or -ENOMEM. */
static int render(json_t *obj, char **ret_text)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (text == NULL)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}

static int version_render(const char *version, char **ret_text)
{
	json_error_t error;
	json_t *obj = json_pack_ex(&error, 0, "{s:s, s:s, s:s}", "etcdserver", ETCD_SERVER_VERSION,
				   "etcdcluster", ETCD_CLUSTER_VERSION, "backstay", version);

	if (obj == NULL)
		return json_errno(&error);
	return render(obj, ret_text);
}

/* Does s end within its array of size bytes? */
static bool terminated(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

/* One /v2/members entry; an empty URL makes an empty list. 0 and *ret (a
 * new reference), -EINVAL or -ENOMEM. */
static int member_json(const struct cli_discovery_member *m, json_t **ret)
{
	char id[17];
	json_error_t error;
	json_t *obj;

	if (!terminated(m->name, sizeof m->name) || !terminated(m->peer_url, sizeof m->peer_url) ||
	    !terminated(m->client_url, sizeof m->client_url))
		return -EINVAL;
	snprintf(id, sizeof id, "%" PRIx64, m->id);
	obj = json_pack_ex(&error, 0, "{s:s, s:s, s:[s*], s:[s*]}", "id", id, "name", m->name,
			   "peerURLs", m->peer_url[0] != '\0' ? m->peer_url : NULL, "clientURLs",
			   m->client_url[0] != '\0' ? m->client_url : NULL);
	if (obj == NULL)
		return json_errno(&error);
	*ret = obj;
	return 0;
}

/* {"members":[...]}: 0 and *ret_text (malloc'd), -EINVAL or -ENOMEM. */
static int members_render(const struct cli_discovery_member *m, size_t n, char **ret_text)
{
	json_t *doc = json_pack("{s:[]}", "members");
	json_t *list, *member;
	size_t i;
	int rv;

	if (doc == NULL)
		return -ENOMEM;
	list = json_object_get(doc, "members");
	for (i = 0; i < n; i++) {
		rv = member_json(&m[i], &member);
		if (rv != 0)
			goto err_after_doc;
		if (json_array_append_new(list, member) != 0) {
			rv = -ENOMEM;
			goto err_after_doc;
		}
	}
	return render(doc, ret_text);

err_after_doc:
	json_decref(doc);
	return rv;
}

/* ---- answering (server thread) -------------------------------------------------- */

/* status with text as the body, which reply takes (NULL: out of memory,
 * answered 500). */
static void reply_take(struct cli_http_reply *reply, int status, char *text)
{
	reply->content_type = JSON_TYPE;
	reply->status = text != NULL ? status : 500;
	reply->body = text;
}

static void reply_text(struct cli_http_reply *reply, int status, const char *text)
{
	reply_take(reply, status, strdup(text));
}

static void answer_health(struct cli_discovery *d, struct cli_http_reply *reply)
{
	bool healthy;

	pthread_mutex_lock(&d->mu);
	healthy = d->healthy;
	pthread_mutex_unlock(&d->mu);
	/* etcd v2 answers the strings "true" and "false". */
	if (healthy)
		reply_text(reply, 200, "{\"health\":\"true\"}");
	else
		reply_text(reply, 503, "{\"health\":\"false\"}");
}

static void answer_members(struct cli_discovery *d, struct cli_http_reply *reply)
{
	bool published;
	char *text = NULL;

	pthread_mutex_lock(&d->mu);
	published = d->members_json != NULL;
	if (published)
		text = strdup(d->members_json);
	pthread_mutex_unlock(&d->mu);
	if (published)
		reply_take(reply, 200, text);
	else
		reply_text(reply, 503, "{\"message\":\"the member list is not known yet\"}");
}

static enum route route_of(const char *path)
{
	if (strcmp(path, "/version") == 0)
		return ROUTE_VERSION;
	if (strcmp(path, "/health") == 0)
		return ROUTE_HEALTH;
	if (strcmp(path, "/v2/members") == 0 || strcmp(path, "/v2/members/") == 0)
		return ROUTE_MEMBERS;
	return ROUTE_NONE;
}

/* cli_http_handler: an unknown path is 404 whatever the method; a known
 * one answers GET and HEAD only (the server leaves out HEAD's body). */
static void on_request(void *data, const char *method, const char *path,
		       struct cli_http_reply *reply)
{
	struct cli_discovery *d = data;
	enum route route = route_of(path);

	if (route == ROUTE_NONE) {
		reply_text(reply, 404, "{\"message\":\"Not found\"}");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply->header_name = "Allow";
		reply->header_value = "GET, HEAD";
		reply_text(reply, 405, "{\"message\":\"Method not allowed\"}");
		return;
	}
	if (route == ROUTE_VERSION)
		reply_text(reply, 200, d->version_json);
	else if (route == ROUTE_HEALTH)
		answer_health(d, reply);
	else
		answer_members(d, reply);
}

/* ---- lifecycle ------------------------------------------------------------------ */

int cli__discovery_start(const char *host, int port, const char *version,
			 struct cli_discovery **ret_discovery, char *errmsg, size_t errmsg_size)
{
	struct cli_discovery *d = malloc(sizeof *d);
	int rv;

	if (d == NULL) {
		bs_errf(errmsg, errmsg_size, "discovery: %s", bs_strerror(-ENOMEM));
		return -ENOMEM;
	}
	*d = (struct cli_discovery){.healthy = false};
	rv = version_render(version, &d->version_json);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "discovery: version: %s",
			rv == -EINVAL ? "not UTF-8 text" : bs_strerror(rv));
		goto err_after_alloc;
	}
	rv = -pthread_mutex_init(&d->mu, NULL);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "discovery: mutex: %s", bs_strerror(rv));
		goto err_after_version;
	}
	rv = cli__http_start(host, port, on_request, d, &d->http, errmsg, errmsg_size);
	if (rv != 0)
		goto err_after_mutex;
	*ret_discovery = d;
	return 0;

err_after_mutex:
	pthread_mutex_destroy(&d->mu);
err_after_version:
	free(d->version_json);
err_after_alloc:
	free(d);
	return rv;
}

int cli__discovery_port(const struct cli_discovery *d)
{
	return cli__http_port(d->http);
}

int cli__discovery_publish(struct cli_discovery *d, const struct cli_discovery_member *m, size_t n,
			   bool healthy)
{
	char *text, *old;
	int rv = members_render(m, n, &text);

	if (rv != 0)
		return rv;
	pthread_mutex_lock(&d->mu);
	old = d->members_json;
	d->members_json = text;
	d->healthy = healthy;
	pthread_mutex_unlock(&d->mu);
	free(old);
	return 0;
}

void cli__discovery_stop(struct cli_discovery *d)
{
	if (d == NULL)
		return;
	cli__http_stop(d->http); /* no handler runs after it */
	pthread_mutex_destroy(&d->mu);
	free(d->members_json);
	free(d->version_json);
	free(d);
}
