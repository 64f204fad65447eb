/*
 * tools/http.c and tools/discovery.c over real TCP on 127.0.0.1 (and ::1),
 * port 0: the etcd-v2-shaped answers a Chef Infra Server frontend parses
 * (/version, /health, /v2/members), the snapshot a publish swaps in, 404,
 * 405 with Allow, HEAD, the bind errors an operator reads, and a silent
 * client that must not hold up anyone else.
 *
 * The client is a tiny blocking one: connect, send the request, read to
 * EOF (the requests say Connection: close), every wait a poll() bounded by
 * IO_MAX_MS of real time. No sleeps.
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base.h"
#include "discovery.h"
#include "http.h"
#include "unit.h"

#define IO_MAX_MS 5000
#define HOST "127.0.0.1"
#define VERSION "9.8.7-test"

/* ------------------------------------------------------------------------
 * The client.
 */

struct resp {
	int status;
	char raw[16384];  /* status line, headers, body; NUL-terminated */
	const char *body; /* into raw */
};

/* A blocking socket connected to host:port. */
static int connect_to(const char *host, int port)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	char service[16];
	int fd;

	snprintf(service, sizeof service, "%d", port);
	assert_int_equal(getaddrinfo(host, service, &hints, &ai), 0);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	/* Loopback with a listening socket: the kernel completes it at once. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		fail_msg("connect %s:%d: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static void send_all(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, text + off, len - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += (size_t)n;
	}
}

/* Read until the server closes, into buf (NUL-terminated), waiting at most
 * IO_MAX_MS in all. */
static void read_to_eof(int fd, char *buf, size_t size)
{
	uint64_t deadline = bs_clock_now_ms(bs_clock_real()) + IO_MAX_MS;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t off = 0;
	ssize_t n;

	for (;;) {
		uint64_t now = bs_clock_now_ms(bs_clock_real());

		if (now >= deadline)
			fail_msg("no EOF from the server within %d ms", IO_MAX_MS);
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		assert_true(off < size - 1);
		n = read(fd, buf + off, size - 1 - off);
		assert_true(n >= 0);
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
}

/* Parse the status line and find the body. */
static void parse(struct resp *r)
{
	const char *end = strstr(r->raw, "\r\n\r\n");

	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		fail_msg("not an HTTP response: '%.80s'", r->raw);
	assert_non_null(end);
	r->body = end + 4;
}

/* Send text as it is to host:port, read the whole answer into r. */
static void exchange(const char *host, int port, const char *text, struct resp *r)
{
	int fd = connect_to(host, port);

	send_all(fd, text);
	read_to_eof(fd, r->raw, sizeof r->raw);
	close(fd);
	parse(r);
}

static void request(int port, const char *method, const char *path, struct resp *r)
{
	char text[256];

	snprintf(text, sizeof text, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 method, path);
	exchange(HOST, port, text, r);
}

/* The value of header name ("" when absent), into out. */
static void header(const struct resp *r, const char *name, char *out, size_t size)
{
	char key[64];
	const char *at, *eol;

	snprintf(key, sizeof key, "\r\n%s:", name);
	at = strcasestr(r->raw, key);
	out[0] = '\0';
	if (at == NULL || at > r->body)
		return;
	at += strlen(key);
	at += strspn(at, " ");
	eol = strstr(at, "\r\n");
	snprintf(out, size, "%.*s", (int)(eol - at), at);
}

/* ------------------------------------------------------------------------
 * Fixture: a discovery server on 127.0.0.1, port 0.
 */

struct fx {
	struct cli_discovery *d;
	int port;
};

static int setup(void **state)
{
	struct fx *fx = malloc(sizeof *fx);
	char errmsg[256];

	assert_non_null(fx);
	if (cli__discovery_start(HOST, 0, VERSION, &fx->d, errmsg, sizeof errmsg) != 0)
		fail_msg("start: %s", errmsg);
	fx->port = cli__discovery_port(fx->d);
	assert_true(fx->port > 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cli__discovery_stop(fx->d);
	free(fx);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	bs_log_set_level(getenv("BS_TEST_LOG") != NULL ? BS_LOG_DEBUG : BS_LOG_OFF);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_INFO);
	return 0;
}

static struct cli_discovery_member member(uint64_t id, const char *name, const char *ip)
{
	struct cli_discovery_member m = {.id = id};

	snprintf(m.name, sizeof m.name, "%s", name);
	snprintf(m.peer_url, sizeof m.peer_url, "http://%s:2380", ip);
	snprintf(m.client_url, sizeof m.client_url, "http://%s:2379", ip);
	return m;
}

static void assert_json_type(const struct resp *r)
{
	char type[64];

	header(r, "Content-Type", type, sizeof type);
	assert_string_equal(type, "application/json");
}

/* ------------------------------------------------------------------------
 * The answers.
 */

/* /version: the etcd v2 shape, plus backstay's own version. */
static void test_version(void **state)
{
	struct fx *fx = *state;
	struct resp r;
	json_error_t error;
	json_t *doc;

	request(fx->port, "GET", "/version", &r);
	assert_int_equal(r.status, 200);
	assert_json_type(&r);
	doc = json_loads(r.body, 0, &error);
	if (doc == NULL)
		fail_msg("/version is not JSON: %s: '%s'", error.text, r.body);
	assert_int_equal(json_object_size(doc), 3);
	assert_string_equal(json_string_value(json_object_get(doc, "etcdserver")), "2.3.8");
	assert_string_equal(json_string_value(json_object_get(doc, "etcdcluster")), "2.3.0");
	assert_string_equal(json_string_value(json_object_get(doc, "backstay")), VERSION);
	json_decref(doc);
}

/* /health: 503 "false" until a publish says healthy, and again after one
 * that says not. */
static void test_health(void **state)
{
	static const struct cli_discovery_member none[1];
	struct fx *fx = *state;
	struct resp r;

	request(fx->port, "GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_json_type(&r);
	assert_string_equal(r.body, "{\"health\":\"false\"}");

	assert_int_equal(cli__discovery_publish(fx->d, none, 0, false), 0);
	request(fx->port, "GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "{\"health\":\"false\"}");

	assert_int_equal(cli__discovery_publish(fx->d, none, 0, true), 0);
	request(fx->port, "GET", "/health", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"health\":\"true\"}");

	assert_int_equal(cli__discovery_publish(fx->d, none, 0, false), 0);
	request(fx->port, "GET", "/health", &r);
	assert_int_equal(r.status, 503);
}

/* /v2/members before the first publish: 503 with a JSON message. */
static void test_members_before_publish(void **state)
{
	struct fx *fx = *state;
	struct resp r;
	json_t *doc;

	request(fx->port, "GET", "/v2/members", &r);
	assert_int_equal(r.status, 503);
	assert_json_type(&r);
	doc = json_loads(r.body, 0, NULL);
	assert_non_null(doc);
	assert_true(json_is_string(json_object_get(doc, "message")));
	json_decref(doc);
}

static const char members_two[] =
	"{\"members\":["
	"{\"id\":\"1a2b\",\"name\":\"backend-1\",\"peerURLs\":[\"http://10.0.0.1:2380\"],"
	"\"clientURLs\":[\"http://10.0.0.1:2379\"]},"
	"{\"id\":\"fedcba9876543210\",\"name\":\"backend-2\","
	"\"peerURLs\":[\"http://[fd00::2]:2380\"],\"clientURLs\":[\"http://[fd00::2]:2379\"]}"
	"]}";

/* /v2/members and /v2/members/: exactly the published members, ids in
 * lower-case hex without leading zeros. */
static void test_members(void **state)
{
	struct fx *fx = *state;
	struct cli_discovery_member m[2] = {
		member(0x1a2b, "backend-1", "10.0.0.1"),
		member(0xfedcba9876543210u, "backend-2", "[fd00::2]"),
	};
	struct resp r;

	assert_int_equal(cli__discovery_publish(fx->d, m, 2, true), 0);
	request(fx->port, "GET", "/v2/members", &r);
	assert_int_equal(r.status, 200);
	assert_json_type(&r);
	assert_string_equal(r.body, members_two);

	request(fx->port, "GET", "/v2/members/", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, members_two);

	/* A query string is not part of the path. */
	request(fx->port, "GET", "/v2/members?x=1", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, members_two);
}

/* A second publish replaces the first; a failed one (a name that is not
 * UTF-8) changes nothing. */
static void test_publish_replaces(void **state)
{
	struct fx *fx = *state;
	struct cli_discovery_member first[2] = {
		member(1, "backend-1", "10.0.0.1"),
		member(2, "backend-2", "10.0.0.2"),
	};
	struct cli_discovery_member second = member(3, "backend-3", "10.0.0.3");
	struct cli_discovery_member bad = member(4, "backend-\xff", "10.0.0.4");
	const char *want = "{\"members\":[{\"id\":\"3\",\"name\":\"backend-3\","
			   "\"peerURLs\":[\"http://10.0.0.3:2380\"],"
			   "\"clientURLs\":[\"http://10.0.0.3:2379\"]}]}";
	struct resp r;

	assert_int_equal(cli__discovery_publish(fx->d, first, 2, true), 0);
	assert_int_equal(cli__discovery_publish(fx->d, &second, 1, true), 0);
	request(fx->port, "GET", "/v2/members", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, want);

	assert_int_equal(cli__discovery_publish(fx->d, &bad, 1, false), -EINVAL);
	request(fx->port, "GET", "/v2/members", &r);
	assert_string_equal(r.body, want);
	request(fx->port, "GET", "/health", &r);
	assert_int_equal(r.status, 200);
}

/* No members, and a member without URLs: empty lists, still the shape. */
static void test_publish_empty(void **state)
{
	struct fx *fx = *state;
	struct cli_discovery_member bare = {.id = 0};
	struct resp r;

	assert_int_equal(cli__discovery_publish(fx->d, &bare, 0, true), 0);
	request(fx->port, "GET", "/v2/members", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"members\":[]}");

	assert_int_equal(cli__discovery_publish(fx->d, &bare, 1, true), 0);
	request(fx->port, "GET", "/v2/members", &r);
	assert_string_equal(r.body, "{\"members\":[{\"id\":\"0\",\"name\":\"\",\"peerURLs\":[],"
				    "\"clientURLs\":[]}]}");
}

static void test_not_found(void **state)
{
	static const char *const paths[] = {"/", "/v2/keys/x", "/v2/members/1", "/versions",
					    "/v2/stats/self"};
	struct fx *fx = *state;
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		request(fx->port, "GET", paths[i], &r);
		assert_int_equal(r.status, 404);
		assert_json_type(&r);
		assert_string_equal(r.body, "{\"message\":\"Not found\"}");
	}
	request(fx->port, "DELETE", "/v2/keys/x", &r);
	assert_int_equal(r.status, 404);
}

/* Any other method on a known path: 405 with Allow; a request body is
 * not read. HEAD: the headers without the body. */
static void test_methods(void **state)
{
	static const char *const methods[] = {"PUT", "DELETE", "OPTIONS"};
	static const char add[] = "{\"peerURLs\":[\"http://10.0.0.9:2380\"]}";
	struct fx *fx = *state;
	struct resp r;
	char allow[64], post[256];
	size_t i;

	snprintf(post, sizeof post,
		 "POST /v2/members HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(add), add);
	exchange(HOST, fx->port, post, &r);
	assert_int_equal(r.status, 405);
	header(&r, "Allow", allow, sizeof allow);
	assert_string_equal(allow, "GET, HEAD");
	assert_json_type(&r);

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		request(fx->port, methods[i], "/version", &r);
		assert_int_equal(r.status, 405);
		header(&r, "Allow", allow, sizeof allow);
		assert_string_equal(allow, "GET, HEAD");
	}

	request(fx->port, "HEAD", "/version", &r);
	assert_int_equal(r.status, 200);
	assert_json_type(&r);
	assert_string_equal(r.body, "");
}

/* A client that connects and says nothing does not hold up the next one. */
static void test_idle_client(void **state)
{
	struct fx *fx = *state;
	int silent = connect_to(HOST, fx->port);
	int partial = connect_to(HOST, fx->port);
	struct resp r;

	send_all(partial, "GET /vers");
	request(fx->port, "GET", "/version", &r);
	assert_int_equal(r.status, 200);
	close(partial);
	close(silent);
}

/* ------------------------------------------------------------------------
 * Starting and stopping.
 */

static void test_port_in_use(void **state)
{
	struct fx *fx = *state;
	struct cli_discovery *d = NULL;
	char errmsg[256], want[256];

	assert_int_equal(cli__discovery_start(HOST, fx->port, VERSION, &d, errmsg, sizeof errmsg),
			 -EADDRINUSE);
	assert_null(d);
	snprintf(want, sizeof want, "listen 127.0.0.1:%d: %s", fx->port, bs_strerror(-EADDRINUSE));
	assert_string_equal(errmsg, want);
}

static void test_bad_address(void **state)
{
	struct cli_discovery *d = NULL;
	char errmsg[256];

	(void)state;
	assert_int_equal(cli__discovery_start("localhost", 0, VERSION, &d, errmsg, sizeof errmsg),
			 -EINVAL);
	assert_string_equal(errmsg, "listen localhost:0: not a numeric IP address");
	assert_int_equal(cli__discovery_start(HOST, 65536, VERSION, &d, errmsg, sizeof errmsg),
			 -EINVAL);
	assert_string_equal(errmsg, "listen 127.0.0.1:65536: port out of range");
	assert_int_equal(cli__discovery_start(HOST, 0, "\xc3(", &d, errmsg, sizeof errmsg),
			 -EINVAL);
	assert_string_equal(errmsg, "discovery: version: not UTF-8 text");
	assert_null(d);
	cli__discovery_stop(NULL);
	cli__http_stop(NULL);
}

/* The same answers on ::1, where the host has IPv6 loopback. */
static void test_ipv6(void **state)
{
	struct cli_discovery *d;
	char errmsg[256];
	struct resp r;
	int rv, port;

	(void)state;
	rv = cli__discovery_start("::1", 0, VERSION, &d, errmsg, sizeof errmsg);
	if (rv == -EADDRNOTAVAIL || rv == -EAFNOSUPPORT) {
		print_message("skipped: this host cannot bind ::1 (%s): no IPv6 loopback\n",
			      errmsg);
		skip();
	}
	if (rv != 0)
		fail_msg("start on ::1: %s", errmsg);
	port = cli__discovery_port(d);
	exchange("::1", port, "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
	cli__discovery_stop(d);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"backstay\":\"" VERSION "\""));
}

/* ------------------------------------------------------------------------
 * The generic server on its own: what it makes of a handler's reply.
 */

static void bare_handler(void *data, const char *method, const char *path,
			 struct cli_http_reply *reply)
{
	unsigned *calls = data;

	++*calls;
	if (strcmp(path, "/silent") == 0)
		return; /* status 0: the server answers 500 */
	reply->status = 204;
	reply->header_name = "X-Backstay";
	reply->header_value = method;
}

static void test_http_reply_defaults(void **state)
{
	struct cli_http *s;
	unsigned calls = 0;
	char errmsg[256], value[64];
	struct resp r;
	int port;

	(void)state;
	if (cli__http_start(HOST, 0, bare_handler, &calls, &s, errmsg, sizeof errmsg) != 0)
		fail_msg("start: %s", errmsg);
	port = cli__http_port(s);

	request(port, "GET", "/silent", &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "");
	request(port, "GET", "/any", &r);
	assert_int_equal(r.status, 204);
	header(&r, "X-Backstay", value, sizeof value);
	assert_string_equal(value, "GET");
	header(&r, "Content-Type", value, sizeof value);
	assert_string_equal(value, "");

	cli__http_stop(s);
	assert_int_equal(calls, 2);
}

int bs_test_http(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members_before_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_http_reply_defaults),
	};

	return cmocka_run_group_tests_name("http", tests, group_setup, group_teardown);
}
