/*
 * es_fixture (test/fixtures/) as a child process of a test: started on a
 * numeric host, port 0, with a mode file in a fresh scratch directory;
 * stopped with SIGTERM and reaped, and it must then exit 0. Only the pid a
 * test started is ever signalled. Failures fail the running cmocka test.
 * Waits are bounded by UNIT_ES_FIXTURE_MAX_MS of real time.
 */
#ifndef BS_TEST_ES_FIXTURE_PROC_H
#define BS_TEST_ES_FIXTURE_PROC_H

#include <sys/types.h>

#define UNIT_ES_FIXTURE_MAX_MS 10000

struct unit_es_fixture {
	pid_t pid; /* 0: not running */
	int port;  /* the one it listens on, once started */
	char *dir; /* scratch directory holding the mode file */
	char mode_path[512];
};

/* A scratch directory and the mode file's path; nothing runs yet. */
void unit_es_fixture_init(struct unit_es_fixture *fx);

/* Start the fixture on host (numeric), port 0; fx->port is the port it got. */
void unit_es_fixture_start(struct unit_es_fixture *fx, const char *host);

/* Switch what it answers ("green", "hang", ...): the mode file replaced at
 * once (rename), so that no request reads half of it. */
void unit_es_fixture_mode(struct unit_es_fixture *fx, const char *mode);

/* Stop it if it runs (SIGTERM, reaped; it must exit 0) and remove the
 * scratch directory. */
void unit_es_fixture_fini(struct unit_es_fixture *fx);

#endif
