/*
 * The simulation executable.
 *
 *   sim                         the CI-size run, as cmocka tests
 *   sim --nodes N --seeds K [--first S] [--trace] [--quiet]
 *                               K seeded schedules on N nodes (nightly size:
 *                               --seeds 5000), one line per failure and a
 *                               summary; exit 1 if any schedule failed
 *
 * A failure names its seed; `sim --nodes N --first SEED --seeds 1 --trace`
 * replays it with a line per fault and election.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

struct totals {
	unsigned runs, failed;
	uint64_t events, acked, leaders, snapshots, crashes;
	uint64_t granted, keepalives, expired;
};

static bool run_seeds(unsigned nodes, uint64_t first, unsigned count, FILE *trace, struct totals *t)
{
	struct sim_options o;
	struct sim_result r;
	unsigned i;

	for (i = 0; i < count; i++) {
		sim_default_options(&o, nodes, first + i);
		o.trace = trace;
		t->runs++;
		if (!sim_run(&o, &r)) {
			t->failed++;
			fprintf(stderr, "FAIL %u nodes: %s\n", nodes, r.why);
		}
		t->events += r.events;
		t->acked += r.acked;
		t->leaders += r.leaders;
		t->snapshots += r.snapshots_installed;
		t->crashes += r.crashes;
		t->granted += r.leases_granted;
		t->keepalives += r.keepalives_acked;
		t->expired += r.leases_expired;
	}
	return t->failed == 0;
}

static void print_totals(const char *what, const struct totals *t)
{
	printf("%s: %u schedules, %u failed; %llu events, %llu acknowledged writes, "
	       "%llu leaders elected, %llu crashes, %llu snapshot restores; "
	       "%llu leases granted, %llu keep-alives acknowledged, %llu leases expired\n",
	       what, t->runs, t->failed, (unsigned long long)t->events,
	       (unsigned long long)t->acked, (unsigned long long)t->leaders,
	       (unsigned long long)t->crashes, (unsigned long long)t->snapshots,
	       (unsigned long long)t->granted, (unsigned long long)t->keepalives,
	       (unsigned long long)t->expired);
}

static unsigned ci_seeds(unsigned dflt)
{
	const char *env = getenv("BS_SIM_SEEDS");

	return env != NULL ? (unsigned)strtoul(env, NULL, 10) : dflt;
}

static void three_nodes(void **state)
{
	struct totals t = {0};
	bool ok = run_seeds(3, 1000, ci_seeds(500), NULL, &t);

	(void)state;
	print_totals("3 nodes", &t);
	assert_true(ok);
	assert_true(t.acked > 0);
	assert_true(t.granted > 0 && t.keepalives > 0 && t.expired > 0);
}

static void five_nodes(void **state)
{
	struct totals t = {0};
	bool ok = run_seeds(5, 5000, ci_seeds(250), NULL, &t);

	(void)state;
	print_totals("5 nodes", &t);
	assert_true(ok);
	assert_true(t.acked > 0);
	assert_true(t.granted > 0 && t.keepalives > 0 && t.expired > 0);
}

/* The same seed replays the same schedule exactly. */
static void replay_is_exact(void **state)
{
	struct sim_options o;
	struct sim_result a, b;

	(void)state;
	sim_default_options(&o, 3, 77);
	assert_true(sim_run(&o, &a));
	assert_true(sim_run(&o, &b));
	assert_int_equal(a.events, b.events);
	assert_int_equal(a.acked, b.acked);
	assert_int_equal(a.max_commit, b.max_commit);
	assert_int_equal(a.crashes, b.crashes);
	assert_int_equal(a.leases_granted, b.leases_granted);
	assert_int_equal(a.keepalives_acked, b.keepalives_acked);
	assert_int_equal(a.leases_expired, b.leases_expired);
}

static int cli(int argc, char **argv)
{
	unsigned nodes = 3, seeds = 100;
	uint64_t first = 0;
	FILE *trace = NULL;
	struct totals t = {0};
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
			nodes = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
			seeds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--trace") == 0)
			trace = stdout;
		else {
			fprintf(stderr,
				"usage: sim [--nodes N] [--seeds K] [--first S] [--trace]\n");
			return 2;
		}
	}
	run_seeds(nodes, first, seeds, trace, &t);
	print_totals(nodes == 5 ? "5 nodes" : "nodes", &t);
	return t.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replay_is_exact),
		cmocka_unit_test(three_nodes),
		cmocka_unit_test(five_nodes),
	};

	if (argc > 1)
		return cli(argc, argv);
	return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
