/*
 * pgwrite's pure parts: the choice of the leader from the /leader answers,
 * the outage accounting, the acknowledged-id file, the lost-row check and
 * the --direct address.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgw.h"

static void pick_none(void **state)
{
	long codes[] = {503, 0, 503};
	unsigned n200 = 9;

	assert_int_equal(pgw_pick_leader(codes, 3, &n200), -ENOENT);
	assert_int_equal(n200, 0);
	assert_int_equal(pgw_pick_leader(codes, 0, NULL), -ENOENT);
}

static void pick_one(void **state)
{
	long codes[] = {0, 503, 200, 404, 500};
	unsigned n200;

	assert_int_equal(pgw_pick_leader(codes, 5, &n200), 2);
	assert_int_equal(n200, 1);
}

static void pick_two_reports_split(void **state)
{
	long codes[] = {503, 200, 0, 200};
	unsigned n200;

	assert_int_equal(pgw_pick_leader(codes, 4, &n200), 1);
	assert_int_equal(n200, 2);
}

static void outage_from_first_failure_to_next_ack(void **state)
{
	struct pgw_outages o;
	struct pgw_outage out;

	pgw_outages_init(&o);
	assert_false(pgw_outages_ack(&o, 50, 0, &out)); /* no outage: nothing to close */
	pgw_outages_fail(&o, 100, 0);
	pgw_outages_fail(&o, 150, 1); /* a later failure does not move the start */
	pgw_outages_fail(&o, 300, -1);
	assert_true(o.open);
	assert_true(pgw_outages_ack(&o, 400, 1, &out));
	assert_int_equal(out.ms, 300);
	assert_int_equal(out.from, 0);
	assert_int_equal(out.to, 1);
	assert_false(o.open);
	assert_false(pgw_outages_ack(&o, 410, 1, &out));

	pgw_outages_fail(&o, 1000, 1);
	assert_true(pgw_outages_ack(&o, 1100, 1, &out)); /* same host again */
	assert_int_equal(out.ms, 100);
	assert_int_equal(o.count, 2);
	assert_int_equal(o.total_ms, 400);
	assert_int_equal(o.max_ms, 300);
	assert_int_equal(o.failed_writes, 4);
}

static void outage_unfinished_at_end(void **state)
{
	struct pgw_outages o;
	struct pgw_outage out;

	pgw_outages_init(&o);
	assert_false(pgw_outages_finish(&o, 10, &out));
	pgw_outages_fail(&o, 2000, 2);
	assert_true(pgw_outages_finish(&o, 2750, &out));
	assert_int_equal(out.ms, 750);
	assert_int_equal(out.from, 2);
	assert_int_equal(out.to, -1);
	assert_int_equal(o.count, 1);
	assert_false(pgw_outages_finish(&o, 3000, &out));
}

static FILE *text(const char *s)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	fputs(s, f);
	rewind(f);
	return f;
}

static void ids_read_sorts_and_dedups(void **state)
{
	FILE *f = text("3\n1\n\n  2 \n3\n-4\r\n");
	int64_t *ids;
	size_t n;
	char errmsg[128];

	assert_int_equal(pgw_ids_read(f, &ids, &n, errmsg, sizeof errmsg), 0);
	fclose(f);
	assert_int_equal(n, 4);
	assert_int_equal(ids[0], -4);
	assert_int_equal(ids[1], 1);
	assert_int_equal(ids[3], 3);
	free(ids);
}

static void ids_read_refuses_garbage(void **state)
{
	FILE *f = text("1\n2x\n3\n");
	int64_t *ids = NULL;
	size_t n;
	char errmsg[128] = "";

	assert_int_equal(pgw_ids_read(f, &ids, &n, errmsg, sizeof errmsg), -EINVAL);
	fclose(f);
	assert_null(ids);
	assert_non_null(strstr(errmsg, "line 2"));
}

static void ids_read_empty(void **state)
{
	FILE *f = text("");
	int64_t *ids = NULL;
	size_t n = 7;
	char errmsg[128];

	assert_int_equal(pgw_ids_read(f, &ids, &n, errmsg, sizeof errmsg), 0);
	fclose(f);
	assert_int_equal(n, 0);
	free(ids);
}

static void compare_lost_and_extra(void **state)
{
	int64_t acked[] = {1, 2, 3, 5, 9};
	int64_t present[] = {1, 3, 4, 5, 6};
	int64_t lost[1];
	size_t extra;

	assert_int_equal(pgw_ids_compare(acked, 5, present, 5, lost, 1, &extra), 2);
	assert_int_equal(lost[0], 2); /* only the first max_lost are copied */
	assert_int_equal(extra, 2);
	assert_int_equal(pgw_ids_compare(acked, 5, acked, 5, NULL, 0, &extra), 0);
	assert_int_equal(extra, 0);
	assert_int_equal(pgw_ids_compare(acked, 5, NULL, 0, NULL, 0, NULL), 5);
	assert_int_equal(pgw_ids_compare(NULL, 0, present, 5, NULL, 0, &extra), 0);
	assert_int_equal(extra, 5);
}

static void direct_addresses(void **state)
{
	static const struct {
		const char *in, *host;
		unsigned port;
	} ok[] = {
		{"10.89.7.100", "10.89.7.100", 5432},
		{"10.89.7.19:6432", "10.89.7.19", 6432},
		{"haproxy.example:1", "haproxy.example", 1},
		{"fd88:7::100", "fd88:7::100", 5432}, /* bare IPv6: no port */
		{"[fd88:7::100]", "fd88:7::100", 5432},
		{"[fd88:7::100]:65535", "fd88:7::100", 65535},
	};
	static const char *const bad[] = {
		"",
		":5432",
		"10.0.0.1:",
		"10.0.0.1:0",
		"10.0.0.1:65536",
		"10.0.0.1:54x",
		"10.0.0.1:-1",
		"[fd88::1",
		"[fd88::1]5432",
		"[]:5432",
		"[fd88::1]:",
		"a b:5432",
	};
	char host[64];
	unsigned port, i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		port = 5432;
		assert_int_equal(pgw_parse_direct(ok[i].in, host, sizeof host, &port), 0);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		strcpy(host, "untouched");
		port = 7;
		assert_int_equal(pgw_parse_direct(bad[i], host, sizeof host, &port), -EINVAL);
		assert_string_equal(host, "untouched");
		assert_int_equal(port, 7);
	}
	port = 1; /* too long for the caller's buffer: refused, nothing written */
	assert_int_equal(pgw_parse_direct("10.89.7.100:5432", host, 8, &port), -EINVAL);
	assert_string_equal(host, "untouched");
	assert_int_equal(port, 1);
	assert_int_equal(pgw_parse_direct(NULL, host, sizeof host, &port), -EINVAL);
}

/* --history: what counts as ok, fail and info, and the lines' shape. */
static void history_outcomes(void **state)
{
	(void)state;
	assert_string_equal(pgw_outcome(0, false), "ok");
	assert_string_equal(pgw_outcome(-EIO, true), "fail");	     /* an ERROR: rolled back */
	assert_string_equal(pgw_outcome(-EIO, false), "info");	     /* the connection went */
	assert_string_equal(pgw_outcome(-ETIMEDOUT, false), "info"); /* no answer in time */
	assert_string_equal(pgw_outcome(-EPROTO, false), "info");    /* maybe not replicated */
	assert_string_equal(pgw_outcome(-ETIMEDOUT, true), "info");
}

static void history_lines(void **state)
{
	char buf[512];
	int n;

	(void)state;
	n = pgw_history_line(buf, sizeof buf, "vip", "vip", 1000000007, "ok", 3, "backstay_00ab",
			     10, 25);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "{\"client\":\"vip\",\"id\":1000000007,\"route\":\"vip\","
				 "\"type\":\"ok\",\"epoch\":3,\"node\":\"backstay_00ab\","
				 "\"t_start_ns\":10,\"t_end_ns\":25}\n");
	pgw_history_line(buf, sizeof buf, "c1", "haproxy", 5, "info", 3, "x", 1, 2);
	assert_string_equal(buf, "{\"client\":\"c1\",\"id\":5,\"route\":\"haproxy\","
				 "\"type\":\"info\",\"t_start_ns\":1,\"t_end_ns\":2}\n");
	pgw_history_line(buf, sizeof buf, "c", "leader", 1, "ok", 1, "a\"b\\c", 0, 0);
	assert_non_null(strstr(buf, "\"node\":\"a?b?c\""));
	assert_int_equal(pgw_history_line(buf, 20, "c", "leader", 1, "ok", 1, "n", 0, 0), -ENOSPC);
	assert_true(pgw_name_ok("haproxy"));
	assert_true(pgw_name_ok("c-1.2:x_y"));
	assert_false(pgw_name_ok(""));
	assert_false(pgw_name_ok("a b"));
	assert_false(pgw_name_ok("a\"b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pick_none),
		cmocka_unit_test(pick_one),
		cmocka_unit_test(pick_two_reports_split),
		cmocka_unit_test(outage_from_first_failure_to_next_ack),
		cmocka_unit_test(outage_unfinished_at_end),
		cmocka_unit_test(ids_read_sorts_and_dedups),
		cmocka_unit_test(ids_read_refuses_garbage),
		cmocka_unit_test(ids_read_empty),
		cmocka_unit_test(compare_lost_and_extra),
		cmocka_unit_test(direct_addresses),
		cmocka_unit_test(history_outcomes),
		cmocka_unit_test(history_lines),
	};

	return cmocka_run_group_tests_name("pgwrite", tests, NULL, NULL);
}
