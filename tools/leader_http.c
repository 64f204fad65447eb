/*
 * The leader endpoint of leader_http.h on the server of http.h. The loop
 * thread's view is copied in under the mutex at each publish; a request
 * copies it out under the same mutex and renders its answer from the copy
 * (leader_http_render.c) with the mutex released, so a slow render never
 * holds up a publish and the loop thread never waits on a client.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "http.h"
#include "leader_http.h"

#define TEXT_TYPE "text/plain; charset=utf-8"
#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8" /* Prometheus 0.0.4 */

struct cli_leader_http {
	struct cli_http *http;
	pthread_mutex_t mu;
	struct cli_leader_view view; /* under mu */
};

enum route { ROUTE_NONE, ROUTE_LEADER, ROUTE_STATUS, ROUTE_METRICS };

/* ---- answering (server thread) -------------------------------------------------- */

/* status with text (malloc'd, taken; NULL: out of memory, answered 500). */
static void reply_take(struct cli_http_reply *reply, int status, const char *type, char *text)
{
	reply->content_type = type;
	reply->status = text != NULL ? status : 500;
	reply->body = text;
}

static void reply_text(struct cli_http_reply *reply, int status, const char *text)
{
	reply_take(reply, status, TEXT_TYPE, strdup(text));
}

static void view_copy(struct cli_leader_http *s, struct cli_leader_view *ret)
{
	pthread_mutex_lock(&s->mu);
	*ret = s->view;
	pthread_mutex_unlock(&s->mu);
}

static void answer(struct cli_leader_http *s, enum route route, struct cli_http_reply *reply)
{
	struct cli_leader_view v;
	const char *body;
	char buf[96];
	int status;

	view_copy(s, &v);
	switch (route) {
	case ROUTE_LEADER:
		status = cli__leader_answer(&v, buf, sizeof buf, &body);
		reply_text(reply, status, body);
		break;
	case ROUTE_STATUS:
		reply_take(reply, 200, JSON_TYPE, cli__leader_status_json(&v));
		break;
	case ROUTE_METRICS:
		reply_take(reply, 200, METRICS_TYPE, cli__leader_metrics_text(&v));
		break;
	case ROUTE_NONE:
		break;
	}
}

static enum route route_of(const char *path)
{
	if (strcmp(path, "/leader") == 0)
		return ROUTE_LEADER;
	if (strcmp(path, "/status") == 0)
		return ROUTE_STATUS;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_METRICS;
	return ROUTE_NONE;
}

/* cli_http_handler: an unknown path is 404 whatever the method; a known
 * one answers GET and HEAD only (the server leaves out HEAD's body). */
static void on_request(void *data, const char *method, const char *path,
		       struct cli_http_reply *reply)
{
	enum route route = route_of(path);

	if (route == ROUTE_NONE) {
		reply_text(reply, 404, "not found\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply->header_name = "Allow";
		reply->header_value = "GET, HEAD";
		reply_text(reply, 405, "method not allowed\n");
		return;
	}
	answer(data, route, reply);
}

/* ---- publishing (loop thread) --------------------------------------------------- */

/* Is s NUL-terminated within size bytes, and UTF-8? */
static bool text_valid(const char *s, size_t size)
{
	json_t *str;

	if (strnlen(s, size) == size)
		return false;
	str = json_string(s); /* NULL for text that is not UTF-8 */
	json_decref(str);
	return str != NULL;
}

static bool view_valid(const struct cli_leader_view *v)
{
	return (unsigned)v->state < CLI_LEADER_STATE_COUNT &&
	       (v->es == CLI_LEADER_ES_UNHEALTHY || v->es == CLI_LEADER_ES_HEALTHY ||
		v->es == CLI_LEADER_ES_DISABLED) &&
	       text_valid(v->name, sizeof v->name) &&
	       text_valid(v->leader_name, sizeof v->leader_name);
}

int cli__leader_http_publish(struct cli_leader_http *s, const struct cli_leader_view *v)
{
	if (!view_valid(v))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	s->view = *v;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int cli__leader_http_start(const char *host, int port, struct cli_leader_http **ret_server,
			   char *errmsg, size_t errmsg_size)
{
	struct cli_leader_http *s = malloc(sizeof *s);
	int rv;

	if (s == NULL) {
		bs_errf(errmsg, errmsg_size, "leader http: %s", bs_strerror(-ENOMEM));
		return -ENOMEM;
	}
	cli__leader_view_init(&s->view);
	rv = -pthread_mutex_init(&s->mu, NULL);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "leader http: mutex: %s", bs_strerror(rv));
		goto err_after_alloc;
	}
	rv = cli__http_start(host, port, on_request, s, &s->http, errmsg, errmsg_size);
	if (rv != 0)
		goto err_after_mutex;
	*ret_server = s;
	return 0;

err_after_mutex:
	pthread_mutex_destroy(&s->mu);
err_after_alloc:
	free(s);
	return rv;
}

int cli__leader_http_port(const struct cli_leader_http *s)
{
	return cli__http_port(s->http);
}

void cli__leader_http_stop(struct cli_leader_http *s)
{
	if (s == NULL)
		return;
	cli__http_stop(s->http); /* no handler runs after it */
	pthread_mutex_destroy(&s->mu);
	free(s);
}
