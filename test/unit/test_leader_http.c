/*
 * tools/leader_http.c over real TCP on 127.0.0.1, port 0, with libcurl's
 * easy interface as the client: GET /leader's status and body for each
 * reason (what a frontend's HAProxy acts on), HEAD, 405 with Allow, 404,
 * /status's JSON fields, /metrics' exact lines and exposition format, the
 * lease renewal quantiles, refused publishes, a publish racing requests,
 * and the bind errors an operator reads.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "http.h"
#include "leader_http.h"
#include "unit.h"

#define HOST "127.0.0.1"
#define IO_MAX_MS 5000L
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ------------------------------------------------------------------------
 * The client.
 */

struct resp {
	long status;
	char body[65536];
	size_t len;
	char type[128];	     /* Content-Type, "" when none */
	char allow[64];	     /* Allow, "" when none */
	long content_length; /* -1 when none */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct resp *r = userp;
	size_t n = size * nmemb;

	if (n >= sizeof r->body - r->len)
		return 0;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* One header line: keep Allow. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct resp *r = userp;
	size_t n = size * nmemb;

	if (n > 6 && strncasecmp(data, "Allow:", 6) == 0)
		snprintf(r->allow, sizeof r->allow, "%.*s", (int)strcspn(data + 7, "\r\n"),
			 data + 7);
	return n;
}

static void request(int port, const char *method, const char *path, struct resp *r)
{
	CURL *easy = curl_easy_init();
	char url[128], err[CURL_ERROR_SIZE] = "";
	curl_off_t length = -1;
	char *type = NULL;
	CURLcode rc;

	assert_non_null(easy);
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://" HOST ":%d%s", port, path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, IO_MAX_MS);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, err);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(easy);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, err[0] != '\0' ? err : curl_easy_strerror(rc));
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	snprintf(r->type, sizeof r->type, "%s", type != NULL ? type : "");
	r->content_length = (long)length;
	curl_easy_cleanup(easy);
}

/* GET path: status and body must be these. */
static void assert_get(int port, const char *path, long status, const char *body)
{
	struct resp r;

	request(port, "GET", path, &r);
	if (r.status != status || strcmp(r.body, body) != 0)
		fail_msg("GET %s: %ld '%s', wanted %ld '%s'", path, r.status, r.body, status, body);
}

/* ------------------------------------------------------------------------
 * Fixture: a server on 127.0.0.1, port 0, and the views tests publish.
 */

struct fx {
	struct cli_leader_http *s;
	int port;
};

static int setup(void **state)
{
	struct fx *fx = malloc(sizeof *fx);
	char errmsg[256];

	assert_non_null(fx);
	if (cli__leader_http_start(HOST, 0, &fx->s, errmsg, sizeof errmsg) != 0)
		fail_msg("start: %s", errmsg);
	fx->port = cli__leader_http_port(fx->s);
	assert_true(fx->port > 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cli__leader_http_stop(fx->s);
	free(fx);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	bs_log_set_level(getenv("BS_TEST_LOG") != NULL ? BS_LOG_DEBUG : BS_LOG_OFF);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	bs_log_set_level(BS_LOG_INFO);
	return 0;
}

/* backend-1, the leader of epoch 7, serving, with 2 of 1 required
 * followers streaming; everything healthy. */
static void view_leader(struct cli_leader_view *v)
{
	cli__leader_view_init(v);
	snprintf(v->name, sizeof v->name, "backend-1");
	snprintf(v->leader_name, sizeof v->leader_name, "backend-1");
	v->id = 0x1a2b;
	v->state = CLI_LEADER_LEADER;
	v->serving = true;
	v->epoch = 7;
	v->eligible = true;
	v->pg_healthy = true;
	v->es = CLI_LEADER_ES_HEALTHY;
	v->replication_lag_bytes = 4096;
	v->streaming_followers = 2;
	v->required_active_followers = 1;
	v->failovers_total = 3;
	v->timeline = 4;
	v->lsn = 0x3000060;
}

/* backend-2 following backend-1. */
static void view_follower(struct cli_leader_view *v)
{
	view_leader(v);
	snprintf(v->name, sizeof v->name, "backend-2");
	v->id = 0x2c;
	v->state = CLI_LEADER_FOLLOWER;
	v->serving = false;
	v->streaming_followers = 0;
}

static void publish(struct fx *fx, const struct cli_leader_view *v)
{
	assert_int_equal(cli__leader_http_publish(fx->s, v), 0);
}

/* ------------------------------------------------------------------------
 * GET /leader.
 */

/* Before the first publish: the node is initializing. */
static void test_leader_initial(void **state)
{
	struct fx *fx = *state;
	struct resp r;

	request(fx->port, "GET", "/leader", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "initializing\n");
	assert_string_equal(r.type, "text/plain; charset=utf-8");
}

static void test_leader_serving(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;
	struct resp r;

	view_leader(&v);
	publish(fx, &v);
	request(fx->port, "GET", "/leader", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "leader\n");
	assert_string_equal(r.type, "text/plain; charset=utf-8");

	/* No followers required: none needed. */
	v.required_active_followers = 0;
	v.streaming_followers = 0;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 200, "leader\n");
}

/* leaderl.required_active_followers: 503 until that many stream. */
static void test_leader_waiting_for_followers(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;

	view_leader(&v);
	v.required_active_followers = 2;
	v.streaming_followers = 0;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 503, "waiting for 2 more streaming follower(s)\n");
	v.streaming_followers = 1;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 503, "waiting for 1 more streaming follower(s)\n");
	v.streaming_followers = 2;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 200, "leader\n");
	v.streaming_followers = 3;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 200, "leader\n");
}

/* A fenced node is never the one HAProxy picks, whatever else it says. */
static void test_leader_fenced(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;

	view_leader(&v);
	v.serving = false;
	v.fenced = true;
	publish(fx, &v);
	assert_get(fx->port, "/leader", 503, "fenced\n");
	v.serving = true; /* contradictory, and still not served */
	publish(fx, &v);
	assert_get(fx->port, "/leader", 503, "fenced\n");
}

/* Every other state answers 503, promoting with its own reason. */
static void test_leader_not_serving(void **state)
{
	static const struct {
		enum cli_leader_state state;
		const char *body;
	} cases[] = {
		{CLI_LEADER_FOLLOWER, "not the leader\n"},
		{CLI_LEADER_WAITING_FOR_LEADER, "not the leader\n"},
		{CLI_LEADER_DEPOSED_LEADER, "not the leader\n"},
		{CLI_LEADER_LEADER, "not the leader\n"}, /* lease held, not serving yet */
		{CLI_LEADER_PROMOTING, "promoting\n"},
		{CLI_LEADER_INITIALIZING, "initializing\n"},
	};
	struct fx *fx = *state;
	struct cli_leader_view v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		view_follower(&v);
		v.state = cases[i].state;
		publish(fx, &v);
		assert_get(fx->port, "/leader", 503, cases[i].body);
	}
}

/* HEAD: GET's status and headers, no body. */
static void test_head(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;
	struct resp r;

	view_leader(&v);
	publish(fx, &v);
	request(fx->port, "HEAD", "/leader", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.content_length, (long)strlen("leader\n"));
	assert_string_equal(r.type, "text/plain; charset=utf-8");

	view_follower(&v);
	publish(fx, &v);
	request(fx->port, "HEAD", "/leader", &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.len, 0);

	request(fx->port, "HEAD", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_string_equal(r.type, METRICS_TYPE);
}

static void test_methods(void **state)
{
	static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS"};
	static const char *const paths[] = {"/leader", "/status", "/metrics"};
	struct fx *fx = *state;
	struct resp r;
	size_t i, j;

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		for (j = 0; j < sizeof paths / sizeof paths[0]; j++) {
			request(fx->port, methods[i], paths[j], &r);
			assert_int_equal(r.status, 405);
			assert_string_equal(r.allow, "GET, HEAD");
			assert_string_equal(r.body, "method not allowed\n");
		}
	}
}

static void test_not_found(void **state)
{
	static const char *const paths[] = {"/",	   "/leader/", "/leaderx", "/status/x",
					    "/v2/members", "/version", "/metrics/"};
	struct fx *fx = *state;
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++)
		assert_get(fx->port, paths[i], 404, "not found\n");
	request(fx->port, "DELETE", "/nothing", &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.allow, "");
	/* A query string is not part of the path. */
	assert_get(fx->port, "/leader?x=1", 503, "initializing\n");
}

/* ------------------------------------------------------------------------
 * GET /status.
 */

static json_t *get_json(int port, const char *path)
{
	json_error_t error;
	struct resp r;
	json_t *doc;

	request(port, "GET", path, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, "application/json");
	doc = json_loads(r.body, 0, &error);
	if (doc == NULL)
		fail_msg("%s is not JSON: %s: '%s'", path, error.text, r.body);
	return doc;
}

static const char *str_at(json_t *doc, const char *key)
{
	json_t *value = json_object_get(doc, key);

	if (!json_is_string(value))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(value);
}

static json_int_t int_at(json_t *doc, const char *key)
{
	json_t *value = json_object_get(doc, key);

	if (!json_is_integer(value))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(value);
}

static bool bool_at(json_t *doc, const char *key)
{
	json_t *value = json_object_get(doc, key);

	if (!json_is_boolean(value))
		fail_msg("\"%s\" is not a boolean", key);
	return json_is_true(value);
}

static void test_status(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;
	json_t *doc, *renew, *check;

	view_leader(&v);
	v.blocked = true;
	v.partially_synced = true;
	v.lsn = 0x1600000060ull; /* "16/60" */
	cli__leader_renew_add(&v, 4);
	cli__leader_renew_add(&v, 2);
	cli__leader_renew_add(&v, 9);
	publish(fx, &v);
	doc = get_json(fx->port, "/status");
	assert_string_equal(str_at(doc, "name"), "backend-1");
	assert_string_equal(str_at(doc, "id"), "1a2b");
	assert_string_equal(str_at(doc, "state"), "leader");
	assert_true(bool_at(doc, "serving"));
	assert_false(bool_at(doc, "fenced"));
	assert_int_equal(int_at(doc, "epoch"), 7);
	assert_string_equal(str_at(doc, "leader"), "backend-1");
	assert_true(bool_at(doc, "eligible"));
	assert_true(bool_at(doc, "blocked"));
	assert_true(bool_at(doc, "partially_synced"));
	assert_true(bool_at(doc, "pg_healthy"));
	assert_string_equal(str_at(doc, "es"), "healthy");
	assert_int_equal(int_at(doc, "replication_lag_bytes"), 4096);
	assert_int_equal(int_at(doc, "streaming_followers"), 2);
	assert_int_equal(int_at(doc, "required_active_followers"), 1);
	assert_int_equal(int_at(doc, "failovers_total"), 3);
	assert_int_equal(int_at(doc, "timeline"), 4);
	assert_string_equal(str_at(doc, "lsn"), "16/60");
	renew = json_object_get(doc, "lease_renew_ms");
	assert_int_equal(int_at(renew, "p50"), 4);
	assert_int_equal(int_at(renew, "p99"), 9);
	assert_int_equal(int_at(renew, "max"), 9);
	assert_int_equal(int_at(renew, "samples"), 3);
	assert_int_equal(int_at(renew, "count"), 3);
	assert_int_equal(int_at(renew, "sum"), 15);
	check = json_object_get(doc, "leader_check");
	assert_int_equal(int_at(check, "status"), 200);
	assert_string_equal(str_at(check, "reason"), "leader");
	assert_int_equal(json_object_size(doc), 20);
	json_decref(doc);
}

/* No leader known, no renewal yet, Elasticsearch not checked: null and
 * "disabled", not made-up values. */
static void test_status_unknowns(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v;
	json_t *doc, *renew, *check;

	view_follower(&v);
	v.leader_name[0] = '\0';
	v.state = CLI_LEADER_WAITING_FOR_LEADER;
	v.es = CLI_LEADER_ES_DISABLED;
	v.lsn = 0;
	publish(fx, &v);
	doc = get_json(fx->port, "/status");
	assert_string_equal(str_at(doc, "state"), "waiting_for_leader");
	assert_true(json_is_null(json_object_get(doc, "leader")));
	assert_string_equal(str_at(doc, "es"), "disabled");
	assert_string_equal(str_at(doc, "lsn"), "0/0");
	renew = json_object_get(doc, "lease_renew_ms");
	assert_true(json_is_null(json_object_get(renew, "p50")));
	assert_true(json_is_null(json_object_get(renew, "p99")));
	assert_true(json_is_null(json_object_get(renew, "max")));
	assert_int_equal(int_at(renew, "count"), 0);
	check = json_object_get(doc, "leader_check");
	assert_int_equal(int_at(check, "status"), 503);
	assert_string_equal(str_at(check, "reason"), "not the leader");
	json_decref(doc);
}

/* ------------------------------------------------------------------------
 * GET /metrics.
 */

/* Does text hold line as a whole line? */
static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *at = text;

	while ((at = strstr(at, line)) != NULL) {
		if ((at == text || at[-1] == '\n') && at[len] == '\n')
			return true;
		at += len;
	}
	return false;
}

static void assert_lines(const char *text, const char *const *lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!has_line(text, lines[i]))
			fail_msg("no line '%s' in:\n%s", lines[i], text);
}

/* The exposition format: every line a comment (# HELP / # TYPE, HELP then
 * TYPE before a family's first sample) or "name[{labels}] value"; the
 * text ends with a newline. */
static void assert_exposition(const char *text)
{
	char family[128] = "", name[128], line[512];
	const char *at = text, *eol;
	bool typed = false;

	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	for (; *at != '\0'; at = eol + 1) {
		eol = strchr(at, '\n');
		snprintf(line, sizeof line, "%.*s", (int)(eol - at), at);
		if (sscanf(line, "# HELP %127s ", family) == 1) {
			typed = false;
			continue;
		}
		if (sscanf(line, "# TYPE %127s ", name) == 1) {
			assert_string_equal(name, family);
			typed = true;
			continue;
		}
		if (sscanf(line, "%127[a-z_]", name) != 1 || strncmp(name, family, strlen(family)))
			fail_msg("sample '%s' outside its family '%s'", line, family);
		if (!typed)
			fail_msg("sample '%s' before its # TYPE", line);
		if (strchr(line, ' ') == NULL)
			fail_msg("sample '%s' has no value", line);
	}
}

static void test_metrics(void **state)
{
	static const char *const want[] = {
		"# TYPE backstay_leader_state gauge",
		"backstay_leader_state{state=\"initializing\"} 0",
		"backstay_leader_state{state=\"leader\"} 1",
		"backstay_leader_state{state=\"follower\"} 0",
		"backstay_leader_state{state=\"waiting_for_leader\"} 0",
		"backstay_leader_state{state=\"deposed_leader\"} 0",
		"backstay_leader_state{state=\"promoting\"} 0",
		"# TYPE backstay_leader_serving gauge",
		"backstay_leader_serving 1",
		"backstay_leader_fenced 0",
		"backstay_leader_epoch 7",
		"# TYPE backstay_failovers_total counter",
		"backstay_failovers_total 3",
		"backstay_replication_lag_bytes 4096",
		"backstay_pg_healthy 1",
		"backstay_es_enabled 1",
		"backstay_es_healthy 1",
		"backstay_streaming_followers 2",
		"backstay_required_active_followers 1",
		"backstay_pg_timeline 4",
		"backstay_pg_lsn_bytes 50331744",
		"# TYPE backstay_lease_renew_seconds summary",
		"backstay_lease_renew_seconds{quantile=\"0.5\"} 0.004",
		"backstay_lease_renew_seconds{quantile=\"0.99\"} 1.250",
		"backstay_lease_renew_seconds_sum 1.256",
		"backstay_lease_renew_seconds_count 3",
		"backstay_lease_renew_max_seconds 1.250",
	};
	struct fx *fx = *state;
	struct cli_leader_view v;
	struct resp r;

	view_leader(&v);
	cli__leader_renew_add(&v, 4);
	cli__leader_renew_add(&v, 1250);
	cli__leader_renew_add(&v, 2);
	publish(fx, &v);
	request(fx->port, "GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, METRICS_TYPE);
	assert_lines(r.body, want, sizeof want / sizeof want[0]);
	assert_exposition(r.body);
}

/* Elasticsearch not checked: backstay_es_healthy is left out, not 0 or 1.
 * No renewal yet: NaN quantiles. */
static void test_metrics_unknowns(void **state)
{
	static const char *const want[] = {
		"backstay_leader_state{state=\"follower\"} 1",
		"backstay_leader_serving 0",
		"backstay_es_enabled 0",
		"backstay_lease_renew_seconds{quantile=\"0.5\"} NaN",
		"backstay_lease_renew_seconds{quantile=\"0.99\"} NaN",
		"backstay_lease_renew_seconds_sum 0.000",
		"backstay_lease_renew_seconds_count 0",
		"backstay_lease_renew_max_seconds NaN",
	};
	struct fx *fx = *state;
	struct cli_leader_view v;
	struct resp r;

	view_follower(&v);
	v.es = CLI_LEADER_ES_DISABLED;
	publish(fx, &v);
	request(fx->port, "GET", "/metrics", &r);
	assert_lines(r.body, want, sizeof want / sizeof want[0]);
	assert_null(strstr(r.body, "backstay_es_healthy"));
	assert_exposition(r.body);

	v.es = CLI_LEADER_ES_UNHEALTHY;
	publish(fx, &v);
	request(fx->port, "GET", "/metrics", &r);
	assert_true(has_line(r.body, "backstay_es_healthy 0"));
}

/* The quantiles cover the last CLI_LEADER_RENEW_SAMPLES renewals; _sum and
 * _count every one. 1..300 ms: the last 256 are 45..300. */
static void test_renew_window(void **state)
{
	static const char *const want[] = {
		"backstay_lease_renew_seconds{quantile=\"0.5\"} 0.172",	 /* rank 128 */
		"backstay_lease_renew_seconds{quantile=\"0.99\"} 0.298", /* rank 254 */
		"backstay_lease_renew_seconds_sum 45.150",
		"backstay_lease_renew_seconds_count 300",
		"backstay_lease_renew_max_seconds 0.300",
	};
	struct fx *fx = *state;
	struct cli_leader_view v;
	struct resp r;
	uint32_t ms;

	view_leader(&v);
	for (ms = 1; ms <= 300; ms++)
		cli__leader_renew_add(&v, ms);
	publish(fx, &v);
	request(fx->port, "GET", "/metrics", &r);
	assert_lines(r.body, want, sizeof want / sizeof want[0]);
}

/* ------------------------------------------------------------------------
 * Publishing, starting and stopping.
 */

/* A view with a name that is not UTF-8 or not terminated, or a state out
 * of range, is refused; the previous one stays. */
static void test_publish_refused(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_view v, bad;

	view_leader(&v);
	publish(fx, &v);
	bad = v;
	snprintf(bad.name, sizeof bad.name, "backend-\xff");
	assert_int_equal(cli__leader_http_publish(fx->s, &bad), -EINVAL);
	bad = v;
	memset(bad.leader_name, 'x', sizeof bad.leader_name);
	assert_int_equal(cli__leader_http_publish(fx->s, &bad), -EINVAL);
	bad = v;
	bad.state = CLI_LEADER_STATE_COUNT;
	assert_int_equal(cli__leader_http_publish(fx->s, &bad), -EINVAL);
	assert_get(fx->port, "/leader", 200, "leader\n");
	assert_string_equal(cli__leader_state_name(CLI_LEADER_STATE_COUNT), "?");
}

struct flipper {
	struct fx *fx;
	_Atomic bool stop;
	unsigned publishes;
};

/* Publish the leader and the follower view in turn until told to stop. */
static void *flip(void *arg)
{
	struct flipper *f = arg;
	struct cli_leader_view v;

	while (!f->stop) {
		if (f->publishes % 2 == 0)
			view_leader(&v);
		else
			view_follower(&v);
		if (cli__leader_http_publish(f->fx->s, &v) != 0)
			return NULL;
		f->publishes++;
	}
	return NULL;
}

/* Requests while another thread publishes: each answer is one whole view's
 * (never a mix of the two). */
static void test_publish_during_requests(void **state)
{
	struct fx *fx = *state;
	struct flipper f = {.fx = fx};
	pthread_t thread;
	json_t *doc;
	const char *name;
	int i;

	assert_int_equal(pthread_create(&thread, NULL, flip, &f), 0);
	for (i = 0; i < 50; i++) {
		doc = get_json(fx->port, "/status");
		name = str_at(doc, "name");
		if (strcmp(name, "backend-1") == 0)
			assert_string_equal(str_at(doc, "state"), "leader");
		else if (strcmp(name, "backend-2") == 0)
			assert_string_equal(str_at(doc, "state"), "follower");
		else /* the first request may come before the first publish */
			assert_string_equal(str_at(doc, "state"), "initializing");
		json_decref(doc);
	}
	f.stop = true;
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_true(f.publishes > 0);
}

static void test_port_in_use(void **state)
{
	struct fx *fx = *state;
	struct cli_leader_http *s = NULL;
	char errmsg[256], want[256];

	assert_int_equal(cli__leader_http_start(HOST, fx->port, &s, errmsg, sizeof errmsg),
			 -EADDRINUSE);
	assert_null(s);
	snprintf(want, sizeof want, "listen 127.0.0.1:%d: %s", fx->port, bs_strerror(-EADDRINUSE));
	assert_string_equal(errmsg, want);
	assert_int_equal(cli__leader_http_start("localhost", 0, &s, errmsg, sizeof errmsg),
			 -EINVAL);
	assert_string_equal(errmsg, "listen localhost:0: not a numeric IP address");
	assert_null(s);
	cli__leader_http_stop(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int bs_test_leader_http(void)
{
	const struct CMUnitTest tests[] = {
		T(test_leader_initial),
		T(test_leader_serving),
		T(test_leader_waiting_for_followers),
		T(test_leader_fenced),
		T(test_leader_not_serving),
		T(test_head),
		T(test_methods),
		T(test_not_found),
		T(test_status),
		T(test_status_unknowns),
		T(test_metrics),
		T(test_metrics_unknowns),
		T(test_renew_window),
		T(test_publish_refused),
		T(test_publish_during_requests),
		T(test_port_in_use),
	};

	return cmocka_run_group_tests_name("leader_http", tests, group_setup, group_teardown);
}
