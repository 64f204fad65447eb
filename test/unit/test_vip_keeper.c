/*
 * vip/keeper.c against a fake vip_ops: an interface modelled as one bool
 * (the VIP there or not), every call counted and recorded in order, and
 * failures injected per operation. Checks the start-up rule, takeover and
 * its announcement rounds, removal whatever the keeper believed, the
 * renewal and health-check repairs, the removal of a VIP on a node that
 * does not serve, and that each failure is logged once per change.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "vip.h"

enum { F_ADD, F_DEL, F_PRESENT, F_ANNOUNCE, F_REFRESH, F_N };

static struct fake {
	bool there;
	int fail[F_N]; /* the errno each operation returns, 0: works */
	unsigned calls[F_N];
	char trace[512]; /* "add,announce,del,..." */
	unsigned warns, infos;
	char last_log[512];
} fk;

static void trace(const char *what)
{
	size_t n = strlen(fk.trace);

	snprintf(fk.trace + n, sizeof fk.trace - n, "%s%s", n ? "," : "", what);
}

static int fake_call(int op, char *errmsg, size_t size, const char *what)
{
	fk.calls[op]++;
	trace(what);
	if (fk.fail[op] == 0)
		return 0;
	snprintf(errmsg, size, "%s 10.0.0.100 on eth0: %s", what, strerror(fk.fail[op]));
	return -fk.fail[op];
}

static int f_add(const struct vip_config *c, char *errmsg, size_t size)
{
	int rv = fake_call(F_ADD, errmsg, size, "add");

	if (rv == 0)
		fk.there = true;
	return rv;
}

static int f_del(const struct vip_config *c, char *errmsg, size_t size)
{
	int rv = fake_call(F_DEL, errmsg, size, "del");

	if (rv == 0)
		fk.there = false;
	return rv;
}

static int f_present(const struct vip_config *c, char *errmsg, size_t size)
{
	int rv = fake_call(F_PRESENT, errmsg, size, "present");

	return rv != 0 ? rv : fk.there;
}

static int f_announce(const struct vip_config *c, char *errmsg, size_t size)
{
	return fake_call(F_ANNOUNCE, errmsg, size, "announce");
}

static int f_refresh(const struct vip_config *c, char *errmsg, size_t size)
{
	int rv = fake_call(F_REFRESH, errmsg, size, "refresh");

	if (rv == 0 && !fk.there) {
		snprintf(errmsg, size, "renewing: no longer there");
		return -ENOENT;
	}
	return rv;
}

static const struct vip_ops fake_ops = {
	.add = f_add,
	.del = f_del,
	.present = f_present,
	.announce = f_announce,
	.refresh = f_refresh,
};

static void on_log(void *data, bool warn, const char *line)
{
	(void)data;
	if (warn)
		fk.warns++;
	else
		fk.infos++;
	snprintf(fk.last_log, sizeof fk.last_log, "%s", line);
}

static void keeper(struct vip_keeper *k, unsigned announce_count)
{
	struct vip_config c = {.interface = "eth0",
			       .address = "10.0.0.100",
			       .announce_count = announce_count,
			       .lifetime_s = 1};

	memset(&fk, 0, sizeof fk);
	vip_keeper_init(k, &fake_ops, &c, on_log, NULL);
}

static void clear_trace(void)
{
	fk.trace[0] = '\0';
}

static void start_removes_a_left_vip(void **state)
{
	struct vip_keeper k;

	(void)state;
	keeper(&k, 0);
	fk.there = true; /* left by a crash */
	vip_keeper_start(&k);
	assert_false(fk.there);
	assert_string_equal(fk.trace, "present,del");
	assert_int_equal(k.removed_stale, 1);
	assert_int_equal(fk.warns, 1);
	assert_non_null(strstr(fk.last_log, "at start"));

	keeper(&k, 0); /* nothing there: nothing removed, nothing logged */
	vip_keeper_start(&k);
	assert_string_equal(fk.trace, "present");
	assert_int_equal(fk.warns + fk.infos, 0);
}

static void takeover_announces_in_rounds(void **state)
{
	struct vip_keeper k;
	unsigned i;

	(void)state;
	keeper(&k, 0);
	vip_keeper_serve(&k, true);
	assert_true(fk.there);
	assert_true(k.held);
	assert_string_equal(fk.trace, "add,announce"); /* the first round at once */
	for (i = 1; i < VIP_ANNOUNCE_COUNT_DEFAULT; i++) {
		assert_true(vip_keeper_announcing(&k));
		vip_keeper_announce(&k);
	}
	assert_false(vip_keeper_announcing(&k));
	vip_keeper_announce(&k); /* a late timer: nothing more */
	assert_int_equal(fk.calls[F_ANNOUNCE], VIP_ANNOUNCE_COUNT_DEFAULT);

	keeper(&k, 5);
	vip_keeper_serve(&k, true);
	vip_keeper_serve(&k, true); /* again: no second takeover */
	while (vip_keeper_announcing(&k))
		vip_keeper_announce(&k);
	assert_int_equal(fk.calls[F_ADD], 1);
	assert_int_equal(fk.calls[F_ANNOUNCE], 5);
}

static void serve_off_removes_whatever_it_believed(void **state)
{
	struct vip_keeper k;

	(void)state;
	keeper(&k, 0);
	vip_keeper_serve(&k, true);
	vip_keeper_serve(&k, false);
	assert_false(fk.there);
	assert_false(vip_keeper_announcing(&k)); /* rounds left are dropped */
	vip_keeper_announce(&k);
	assert_int_equal(fk.calls[F_ANNOUNCE], 1);

	/* Never held (adding failed), yet someone put it there: removed. */
	keeper(&k, 0);
	fk.fail[F_ADD] = EADDRNOTAVAIL;
	vip_keeper_serve(&k, true);
	assert_false(k.held);
	fk.there = true;
	vip_keeper_serve(&k, false);
	assert_false(fk.there);
}

static void renewal_refreshes_and_repairs(void **state)
{
	struct vip_keeper k;

	(void)state;
	keeper(&k, 1);
	vip_keeper_renewed(&k); /* not serving: nothing */
	assert_string_equal(fk.trace, "");
	vip_keeper_serve(&k, true);
	clear_trace();
	vip_keeper_renewed(&k);
	assert_string_equal(fk.trace, "refresh");
	fk.there = false; /* removed behind its back (or its lifetime ran out) */
	clear_trace();
	vip_keeper_renewed(&k);
	assert_string_equal(fk.trace, "refresh,add,announce");
	assert_true(fk.there);
	assert_int_equal(k.repairs, 1);
	assert_non_null(strstr(fk.last_log, "added to eth0"));
	assert_int_equal(fk.warns, 1); /* "was missing ..." */
}

static void health_check_repairs_and_removes(void **state)
{
	struct vip_keeper k;

	(void)state;
	keeper(&k, 1);
	fk.there = true; /* on a node that does not serve */
	vip_keeper_check(&k);
	assert_false(fk.there);
	assert_int_equal(k.removed_stale, 1);
	vip_keeper_check(&k); /* nothing there, nothing done */
	assert_string_equal(fk.trace, "present,del,present");

	vip_keeper_serve(&k, true);
	fk.there = false;
	clear_trace();
	vip_keeper_check(&k);
	assert_string_equal(fk.trace, "present,add,announce");
	assert_true(fk.there);
	assert_int_equal(k.repairs, 1);
	clear_trace();
	vip_keeper_check(&k); /* there: only looked at */
	assert_string_equal(fk.trace, "present");
}

static void errors_logged_once_per_change(void **state)
{
	struct vip_keeper k;
	int i;

	(void)state;
	keeper(&k, 1);
	fk.fail[F_ADD] = ENODEV;
	vip_keeper_serve(&k, true);
	for (i = 0; i < 5; i++)
		vip_keeper_check(&k); /* tried again each time, logged once */
	assert_int_equal(fk.calls[F_ADD], 6);
	assert_int_equal(fk.warns, 1);
	assert_int_equal(k.err, -ENODEV);
	assert_non_null(strstr(k.errmsg, "add 10.0.0.100"));

	fk.fail[F_ADD] = EPERM; /* another failure: logged */
	vip_keeper_check(&k);
	assert_int_equal(fk.warns, 2);
	assert_int_equal(k.err, -EPERM);

	fk.fail[F_ADD] = 0; /* it works again: said once, error cleared */
	vip_keeper_check(&k);
	assert_true(k.held);
	assert_int_equal(k.err, 0);
	assert_string_equal(k.errmsg, "");
	assert_int_equal(fk.infos, 2); /* "works again", "added" */
	vip_keeper_check(&k);
	assert_int_equal(fk.warns + fk.infos, 4);

	/* An announce failure is not cleared by another operation's success. */
	keeper(&k, 3);
	fk.fail[F_ANNOUNCE] = EPERM;
	vip_keeper_serve(&k, true);
	vip_keeper_check(&k);
	vip_keeper_announce(&k);
	vip_keeper_announce(&k);
	assert_int_equal(fk.warns, 1);
	assert_int_equal(k.err, -EPERM);
	assert_true(fk.there); /* the VIP stays: clients that ask ARP still find it */
}

static void ops_table_has_refresh(void **state)
{
	(void)state;
	assert_ptr_equal(vip_linux_ops.refresh, vip_refresh);
}

int bs_test_vip_keeper(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(start_removes_a_left_vip),
		cmocka_unit_test(takeover_announces_in_rounds),
		cmocka_unit_test(serve_off_removes_whatever_it_believed),
		cmocka_unit_test(renewal_refreshes_and_repairs),
		cmocka_unit_test(health_check_repairs_and_removes),
		cmocka_unit_test(errors_logged_once_per_change),
		cmocka_unit_test(ops_table_has_refresh),
	};

	return cmocka_run_group_tests_name("vip_keeper", tests, NULL, NULL);
}
