/*
 * leader/es_probe.c against es_fixture (test/fixtures/), a stand-in that
 * answers GET /_cluster/health in Elasticsearch 6.8's shape and whose
 * behaviour a mode file switches: every colour, an HTTP error, a body that
 * is not JSON or lacks "status", an over-long answer, a closed connection,
 * a request never answered, nothing listening; several checks at once;
 * closing the probe with checks in flight.
 *
 * Each test starts its own fixture on 127.0.0.1, port 0 (it prints the port
 * it got), and stops it with SIGTERM; the fixture must exit 0. Waits are
 * bounded by IO_MAX_MS of real time (poll, a uv timer); assertions are on
 * error codes and messages, never on how long anything took.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base.h"
#include "es_fixture_proc.h"
#include "es_probe.h"
#include "unit.h"

#define IO_MAX_MS 10000 /* longest wait for the loop */
#define HOST "127.0.0.1"

/* ------------------------------------------------------------------------
 * A loop, a probe, and what the callbacks saw.
 */

struct outcome {
	int calls;
	int status;
	struct ldr_es_health h;
};

struct fx {
	struct unit_es_fixture es;
	struct unit_es_fixture other; /* a second one, for the tests that need it */
	uv_loop_t loop;
	uv_timer_t guard;
	struct ldr_es_probe *probe;
	bool closed; /* the probe's close callback ran */
	unsigned close_calls;
};

static void on_guard(uv_timer_t *t)
{
	(void)t;
	fail_msg("the loop did not finish within %d ms", IO_MAX_MS);
}

static int setup(void **state)
{
	struct fx *fx = malloc(sizeof *fx);

	assert_non_null(fx);
	*fx = (struct fx){.probe = NULL};
	unit_es_fixture_init(&fx->es);
	unit_es_fixture_init(&fx->other);
	unit_es_fixture_mode(&fx->es, "green");
	unit_es_fixture_start(&fx->es, HOST);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->guard), 0);
	uv_unref((uv_handle_t *)&fx->guard); /* never what keeps the loop alive */
	assert_int_equal(ldr_es_probe_new(&fx->loop, &fx->probe), 0);
	*state = fx;
	return 0;
}

static void on_closed(void *data)
{
	struct fx *fx = data;

	fx->closed = true;
	fx->close_calls++;
}

/* Run the loop until nothing is left in it, at most IO_MAX_MS. */
static void run(struct fx *fx)
{
	assert_int_equal(uv_timer_start(&fx->guard, on_guard, IO_MAX_MS, 0), 0);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&fx->guard);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->probe != NULL && !fx->closed) {
		ldr_es_probe_close(fx->probe, on_closed, fx);
		run(fx);
		assert_true(fx->closed);
	}
	uv_close((uv_handle_t *)&fx->guard, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	unit_es_fixture_fini(&fx->other);
	unit_es_fixture_fini(&fx->es);
	free(fx);
	return 0;
}

static void on_check(struct ldr_es_req *req, int status, const struct ldr_es_health *h)
{
	struct outcome *o = req->data;

	assert_non_null(h);
	o->calls++;
	o->status = status;
	o->h = *h;
}

/* One check of host:port, run to its callback. */
static void check_at(struct fx *fx, const char *host, int port, unsigned timeout_ms,
		     struct outcome *o)
{
	struct ldr_es_req req = {.data = o};

	*o = (struct outcome){.calls = 0};
	assert_int_equal(ldr_es_check(fx->probe, &req, host, port, timeout_ms, on_check), 0);
	assert_int_equal(o->calls, 0); /* never from inside the submitting call */
	run(fx);
	assert_int_equal(o->calls, 1);
}

/* One check of the fixture in mode. */
static void check_mode(struct fx *fx, const char *mode, struct outcome *o)
{
	unit_es_fixture_mode(&fx->es, mode);
	check_at(fx, HOST, fx->es.port, 5000, o);
}

/* errmsg is "elasticsearch 127.0.0.1:PORT: " + rest. */
static void assert_errmsg(const struct fx *fx, const char *errmsg, const char *rest)
{
	char want[512];

	snprintf(want, sizeof want, "elasticsearch " HOST ":%d: %s", fx->es.port, rest);
	assert_string_equal(errmsg, want);
}

/* errmsg starts with "elasticsearch 127.0.0.1:PORT: " + start. */
static void assert_errmsg_starts(const struct fx *fx, const char *errmsg, const char *start)
{
	char want[512];

	snprintf(want, sizeof want, "elasticsearch " HOST ":%d: %s", fx->es.port, start);
	if (strncmp(errmsg, want, strlen(want)) != 0)
		fail_msg("errmsg '%s' does not start with '%s'", errmsg, want);
}

/* ------------------------------------------------------------------------
 * The colours.
 */

static void test_green(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "green", &o);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.h.status, LDR_ES_GREEN);
	assert_true(o.h.healthy);
	assert_string_equal(o.h.cluster_name, "es_fixture");
	assert_int_equal(o.h.number_of_nodes, 3);
	assert_false(o.h.timed_out);
	assert_string_equal(o.h.errmsg, "");
	assert_string_equal(ldr_es_status_name(o.h.status), "green");
}

static void test_yellow(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "yellow", &o);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.h.status, LDR_ES_YELLOW);
	assert_true(o.h.healthy);
	assert_int_equal(o.h.number_of_nodes, 1);
	assert_string_equal(ldr_es_status_name(o.h.status), "yellow");
}

static void test_red(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "red", &o);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.h.status, LDR_ES_RED);
	assert_false(o.h.healthy);
	assert_string_equal(o.h.cluster_name, "es_fixture");
	assert_string_equal(o.h.errmsg, "");
	assert_string_equal(ldr_es_status_name(o.h.status), "red");
}

/* The same probe (and connection cache) sees each switch of the mode. */
static void test_mode_switch(void **state)
{
	static const struct {
		const char *mode;
		int status;
		bool healthy;
	} steps[] = {{"green", 0, true},
		     {"red", 0, false},
		     {"error", -EIO, false},
		     {"yellow", 0, true},
		     {"garbage", BS_E_PARSE, false},
		     {"green", 0, true}};
	struct fx *fx = *state;
	struct outcome o;
	size_t i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		check_mode(fx, steps[i].mode, &o);
		if (o.status != steps[i].status || o.h.healthy != steps[i].healthy)
			fail_msg("step %zu (%s): status %d healthy %d (%s)", i, steps[i].mode,
				 o.status, o.h.healthy, o.h.errmsg);
	}
}

/* ------------------------------------------------------------------------
 * The failures, each with its code and message.
 */

static void test_http_error(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "error", &o);
	assert_int_equal(o.status, -EIO);
	assert_false(o.h.healthy);
	assert_errmsg(fx, o.h.errmsg, "HTTP 500: es_fixture: mode error");
}

/* Not the fixture's health answer at all: its own 500 in plain text. */
static void test_http_error_plain(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "no-such-mode", &o);
	assert_int_equal(o.status, -EIO);
	assert_errmsg(fx, o.h.errmsg, "HTTP 500");
}

static void test_garbage(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "garbage", &o);
	assert_int_equal(o.status, BS_E_PARSE);
	assert_false(o.h.healthy);
	assert_errmsg_starts(fx, o.h.errmsg, "answer is not JSON: ");
}

static void test_no_status(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "nostatus", &o);
	assert_int_equal(o.status, BS_E_PARSE);
	assert_errmsg(fx, o.h.errmsg, "answer has no \"status\"");
	assert_string_equal(o.h.cluster_name, ""); /* nothing filled on an error */
	assert_int_equal(o.h.number_of_nodes, 0);
}

static void test_unknown_status(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "badstatus", &o);
	assert_int_equal(o.status, BS_E_PARSE);
	assert_errmsg(fx, o.h.errmsg, "unknown status \"purple\"");
}

static void test_too_long(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "huge", &o);
	assert_int_equal(o.status, -EMSGSIZE);
	assert_errmsg(fx, o.h.errmsg, "answer longer than 65536 bytes");
}

static void test_connection_closed(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "close", &o);
	assert_int_equal(o.status, -ECONNRESET);
	assert_errmsg_starts(fx, o.h.errmsg, "connection closed: ");
}

/* Accepted, never answered: -ETIMEDOUT naming the check's own timeout. */
static void test_hang(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	unit_es_fixture_mode(&fx->es, "hang");
	check_at(fx, HOST, fx->es.port, 300, &o);
	assert_int_equal(o.status, -ETIMEDOUT);
	assert_false(o.h.healthy);
	assert_errmsg(fx, o.h.errmsg, "timed out after 300 ms");

	/* The fixture answers again once the mode says so. */
	check_mode(fx, "green", &o);
	assert_int_equal(o.status, 0);
}

/* Nothing listening: a port held by a bound socket that does not listen,
 * so that no one else can take it meanwhile. */
static void test_refused(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	struct outcome o;
	char want[128];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	check_at(fx, HOST, ntohs(sin.sin_port), 5000, &o);
	close(fd);
	assert_int_equal(o.status, -ECONNREFUSED);
	snprintf(want, sizeof want, "elasticsearch " HOST ":%d: connect: Connection refused",
		 ntohs(sin.sin_port));
	assert_string_equal(o.h.errmsg, want);
}

/* ------------------------------------------------------------------------
 * Several checks, submission errors, closing.
 */

#define MANY 8

/* MANY checks at once, half to a red fixture: each its own answer. */
static void test_many_at_once(void **state)
{
	struct fx *fx = *state;
	struct unit_es_fixture *other = &fx->other;
	struct ldr_es_req req[MANY];
	struct outcome o[MANY];
	int i;

	unit_es_fixture_mode(other, "red");
	unit_es_fixture_start(other, HOST);
	for (i = 0; i < MANY; i++) {
		o[i] = (struct outcome){.calls = 0};
		req[i] = (struct ldr_es_req){.data = &o[i]};
		assert_int_equal(ldr_es_check(fx->probe, &req[i], HOST,
					      i % 2 ? other->port : fx->es.port, 5000, on_check),
				 0);
	}
	run(fx);
	for (i = 0; i < MANY; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].status, 0);
		assert_int_equal(o[i].h.status, i % 2 ? LDR_ES_RED : LDR_ES_GREEN);
	}
}

static void test_bad_arguments(void **state)
{
	static const struct {
		const char *host;
		int port;
	} bad[] = {{"", 9200}, {"a/b", 9200}, {"x@y", 9200},
		   {HOST, 0},  {HOST, 65536}, {NULL, 9200}};
	struct fx *fx = *state;
	struct outcome o = {.calls = 0};
	struct ldr_es_req req = {.data = &o};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(
			ldr_es_check(fx->probe, &req, bad[i].host, bad[i].port, 0, on_check),
			-EINVAL);
	assert_string_equal(
		ldr_es_probe_errmsg(fx->probe),
		"elasticsearch '(null)' port 9200: not a host name or address and a port");
	assert_int_equal(ldr_es_check(fx->probe, &req, "a/b", 9200, 0, on_check), -EINVAL);
	assert_string_equal(ldr_es_probe_errmsg(fx->probe),
			    "elasticsearch 'a/b' port 9200: not a host name or address and a port");
	run(fx);
	assert_int_equal(o.calls, 0);

	/* A good one clears the message. */
	check_at(fx, HOST, fx->es.port, 5000, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(ldr_es_probe_errmsg(fx->probe), "");
}

struct cancel_seen {
	struct fx *fx;
	int calls, status;
	bool closed_before; /* the close callback had run already */
	int resubmit;	    /* what ldr_es_check said from inside the callback */
	char errmsg[256];
};

static void on_cancel(struct ldr_es_req *req, int status, const struct ldr_es_health *h)
{
	struct cancel_seen *seen = req->data;

	seen->calls++;
	seen->status = status;
	seen->closed_before = seen->fx->closed;
	snprintf(seen->errmsg, sizeof seen->errmsg, "%s", h->errmsg);
	seen->resubmit = ldr_es_check(seen->fx->probe, req, HOST, seen->fx->es.port, 0, on_cancel);
	ldr_es_probe_close(seen->fx->probe, on_closed, seen->fx); /* a second close: ignored */
}

/* Close right after the submit: -ECANCELED before the close callback, not
 * from inside the close call; a check submitted then is refused. */
static void test_close_at_once(void **state)
{
	struct fx *fx = *state;
	struct cancel_seen seen = {.fx = fx};
	struct ldr_es_req req = {.data = &seen};

	unit_es_fixture_mode(&fx->es, "hang");
	assert_int_equal(ldr_es_check(fx->probe, &req, HOST, fx->es.port, 60000, on_cancel), 0);
	ldr_es_probe_close(fx->probe, on_closed, fx);
	assert_int_equal(seen.calls, 0);
	assert_false(fx->closed);
	run(fx);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.status, -ECANCELED);
	assert_false(seen.closed_before);
	assert_int_equal(seen.resubmit, -ECANCELED);
	assert_errmsg(fx, seen.errmsg, "the probe closed");
	assert_true(fx->closed);
	assert_int_equal(fx->close_calls, 1);
}

struct two {
	struct fx *fx;
	struct cancel_seen hung;
	struct outcome answered;
};

/* The answered check's callback closes the probe. */
static void on_answered_close(struct ldr_es_req *req, int status, const struct ldr_es_health *h)
{
	struct two *two = req->data;

	two->answered.calls++;
	two->answered.status = status;
	two->answered.h = *h;
	ldr_es_probe_close(two->fx->probe, on_closed, two->fx);
}

/* A check in flight (sent, unanswered) when a callback closes the probe. */
static void test_close_in_flight(void **state)
{
	struct fx *fx = *state;
	struct unit_es_fixture *hanging = &fx->other;
	struct two two = {.fx = fx, .hung = {.fx = fx}};
	struct ldr_es_req hung = {.data = &two.hung}, answered = {.data = &two};

	unit_es_fixture_mode(hanging, "hang");
	unit_es_fixture_start(hanging, HOST);
	unit_es_fixture_mode(&fx->es, "green");
	assert_int_equal(ldr_es_check(fx->probe, &hung, HOST, hanging->port, 60000, on_cancel), 0);
	assert_int_equal(
		ldr_es_check(fx->probe, &answered, HOST, fx->es.port, 5000, on_answered_close), 0);
	run(fx);
	assert_int_equal(two.answered.calls, 1);
	assert_int_equal(two.answered.status, 0);
	assert_int_equal(two.hung.calls, 1);
	assert_int_equal(two.hung.status, -ECANCELED);
	assert_int_equal(two.hung.resubmit, -ECANCELED);
	assert_true(fx->closed);
	assert_int_equal(fx->close_calls, 1);
}

/* Close with nothing in flight; close(NULL) does nothing. */
static void test_close_idle(void **state)
{
	struct fx *fx = *state;
	struct outcome o;

	check_mode(fx, "green", &o);
	ldr_es_probe_close(fx->probe, on_closed, fx);
	assert_false(fx->closed);
	run(fx);
	assert_int_equal(fx->close_calls, 1);
	ldr_es_probe_close(NULL, on_closed, fx);
	assert_int_equal(fx->close_calls, 1);
}

/* The same over IPv6 where the host has a loopback for it: the address
 * bracketed in the URL and in the messages. */
static void test_ipv6(void **state)
{
	struct fx *fx = *state;
	struct unit_es_fixture *six = &fx->other;
	struct outcome o;
	char want[128];
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof sin6) != 0) {
		if (fd >= 0)
			close(fd);
		print_message("skipped: this host cannot bind ::1: no IPv6 loopback\n");
		skip();
	}
	close(fd);
	unit_es_fixture_mode(six, "error");
	unit_es_fixture_start(six, "::1");
	check_at(fx, "::1", six->port, 5000, &o);
	assert_int_equal(o.status, -EIO);
	snprintf(want, sizeof want, "elasticsearch [::1]:%d: HTTP 500: es_fixture: mode error",
		 six->port);
	assert_string_equal(o.h.errmsg, want);
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int bs_test_es_probe(void)
{
	const struct CMUnitTest tests[] = {
		T(test_green),
		T(test_yellow),
		T(test_red),
		T(test_mode_switch),
		T(test_http_error),
		T(test_http_error_plain),
		T(test_garbage),
		T(test_no_status),
		T(test_unknown_status),
		T(test_too_long),
		T(test_connection_closed),
		T(test_hang),
		T(test_refused),
		T(test_many_at_once),
		T(test_bad_arguments),
		T(test_close_at_once),
		T(test_close_in_flight),
		T(test_close_idle),
		T(test_ipv6),
	};

	return cmocka_run_group_tests_name("es_probe", tests, group_setup, group_teardown);
}
