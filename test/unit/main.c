/*
 * The unit-test executable: one binary for the whole layer, one cmocka group
 * per module. `unit GROUP` runs one group (meson registers each as its own
 * test); `unit` alone runs them all.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"

static const struct {
	const char *name;
	int (*run)(void);
} groups[] = {
	{"clock", bs_test_clock},
	{"log", bs_test_log},
	{"strings", bs_test_strings},
	{"config", bs_test_config},
	{"secrets", bs_test_secrets},
	{"codec", bs_test_codec},
	{"cli", bs_test_cli},
	{"store", bs_test_store},
	{"writer", bs_test_writer},
	{"fsm", bs_test_fsm},
	{"wire", bs_test_wire},
	{"transport", bs_test_transport},
	{"driver", bs_test_driver},
	{"node", bs_test_node},
	{"peer", bs_test_peer},
	{"lease", bs_test_lease},
	{"render", bs_test_render},
	{"http", bs_test_http},
	{"cli_cluster", bs_test_cli_cluster},
	{"vip", bs_test_vip},
	{"vip_keeper", bs_test_vip_keeper},
	{"es_probe", bs_test_es_probe},
	{"leader_http", bs_test_leader_http},
	{"leader", bs_test_leader},
	{"pgctl", bs_test_pgctl},
};

int main(int argc, char **argv)
{
	size_t n = sizeof groups / sizeof groups[0];
	int failed = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], groups[i].name) != 0)
			continue;
		failed += groups[i].run();
		if (argc > 1)
			return failed ? 1 : 0;
	}
	if (argc > 1) {
		fprintf(stderr, "unit: no test group '%s'\n", argv[1]);
		return 2;
	}
	return failed ? 1 : 0;
}
