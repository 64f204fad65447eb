/*
 * es_fixture as a test's child process (es_fixture_proc.h). posix_spawn
 * with its stdout on a pipe, from which the "listening on" line gives the
 * port; stopped with SIGTERM and waited for through a pidfd, so that every
 * wait has a deadline and none sleeps.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "es_fixture_proc.h"
#include "unit.h"

#ifndef BS_ES_FIXTURE
#error "BS_ES_FIXTURE: the path of the built es_fixture (test/unit/meson.build)"
#endif

extern char **environ;

/* Read the fixture's "ready" line from fd into line, waiting at most
 * UNIT_ES_FIXTURE_MAX_MS. */
static void ready_line(int fd, char *line, size_t size)
{
	uint64_t deadline = bs_clock_now_ms(bs_clock_real()) + UNIT_ES_FIXTURE_MAX_MS;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t off = 0;
	ssize_t n;

	while (off == 0 || line[off - 1] != '\n') {
		uint64_t now = bs_clock_now_ms(bs_clock_real());

		if (now >= deadline)
			fail_msg("es_fixture said nothing within %d ms", UNIT_ES_FIXTURE_MAX_MS);
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		assert_true(off < size - 1);
		n = read(fd, line + off, size - 1 - off);
		if (n <= 0)
			fail_msg("es_fixture exited before it was ready");
		off += (size_t)n;
		line[off] = '\0';
	}
}

/* Start es_fixture on host, port 0; fx->port is the one it got. */
void unit_es_fixture_start(struct unit_es_fixture *fx, const char *host)
{
	char *argv[] = {"es_fixture", "--exit-with-parent", (char *)host, "0", fx->mode_path, NULL};
	posix_spawn_file_actions_t actions;
	char line[256], want[64];
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO), 0);
	assert_int_equal(posix_spawn(&fx->pid, BS_ES_FIXTURE, &actions, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&actions);
	close(fds[1]);
	ready_line(fds[0], line, sizeof line);
	close(fds[0]);
	snprintf(want, sizeof want, "es_fixture listening on %s:%%d", host);
	if (sscanf(line, want, &fx->port) != 1 || fx->port <= 0)
		fail_msg("es_fixture's first line: '%s'", line);
}

/* Wait for pid to exit, at most UNIT_ES_FIXTURE_MAX_MS (pidfd + poll); its status. */
static int reap(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int status = 0;

	if (pidfd >= 0) {
		if (poll(&p, 1, UNIT_ES_FIXTURE_MAX_MS) <= 0)
			kill(pid, SIGKILL); /* ours, and stuck: the wait below fails it */
		close(pidfd);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* SIGTERM the fixture we started and reap it: it must exit 0. */
static void fixture_stop(struct unit_es_fixture *fx)
{
	int status;

	if (fx->pid <= 0)
		return;
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	status = reap(fx->pid);
	fx->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("es_fixture did not exit cleanly (wait status %#x)", (unsigned)status);
}

/* Switch the fixture's behaviour: the mode file replaced at once (rename),
 * so that no request reads half of it. */
void unit_es_fixture_mode(struct unit_es_fixture *fx, const char *mode)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.new", fx->mode_path);
	f = fopen(tmp, "we");
	assert_non_null(f);
	fprintf(f, "%s\n", mode);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, fx->mode_path), 0);
}

void unit_es_fixture_init(struct unit_es_fixture *fx)
{
	*fx = (struct unit_es_fixture){.pid = 0};
	fx->dir = unit_tmpdir_new();
	assert_non_null(fx->dir);
	snprintf(fx->mode_path, sizeof fx->mode_path, "%s/mode", fx->dir);
}

void unit_es_fixture_fini(struct unit_es_fixture *fx)
{
	fixture_stop(fx);
	unit_tmpdir_remove(fx->dir);
	fx->dir = NULL;
}
