/*
 * Starting and stopping the daemon from the command line (`start`, `stop`,
 * create-cluster, join-cluster).
 *
 * Under systemd (it runs here, backstay.service is enabled, and the
 * default configuration file is in use) the unit is started and stopped
 * with systemctl, so that systemd keeps supervising it. Otherwise `backstay
 * run` is started as a detached child (own session, stdin /dev/null,
 * output appended to log_directory/backstay.log) and stopped with SIGTERM.
 * Either way the tool then waits, bounded, until the daemon answers on its
 * port, or until its pidfile lock is released.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tools.h"

#define SERVICE_WAIT_MS 30000 /* for the daemon to answer, or to be gone */
#define SERVICE_POLL_MS 50
#define SERVICE_UNIT "backstay.service"

bool cli__poll(unsigned timeout_ms, bool (*done)(void *data), void *data)
{
	uint64_t deadline = bs_clock_now_ms(bs_clock_real()) + timeout_ms;
	struct timespec nap = {0, SERVICE_POLL_MS * 1000000L};

	while (!done(data)) {
		if (bs_clock_now_ms(bs_clock_real()) >= deadline)
			return false;
		nanosleep(&nap, NULL);
	}
	return true;
}

bool cli__address_is_local(const char *ip)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	bool ok;
	int fd;

	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		len = sizeof *in4;
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		len = sizeof *in6;
	} else {
		return false;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&ss, len) == 0; /* EADDRNOTAVAIL: not ours */
	close(fd);
	return ok;
}

long cli__daemon_uptime_s(const char *data_dir)
{
	char path[PATH_MAX];
	struct stat sb;
	int64_t now = (int64_t)(bs_clock_wall_ms(bs_clock_real()) / 1000);

	cli__pidfile_path(path, sizeof path, data_dir);
	if (stat(path, &sb) != 0 || now < sb.st_mtime)
		return 0;
	return (long)(now - sb.st_mtime);
}

/* Run a command and wait for it: its exit status, or -1. */
static int run_command(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Does systemd run backstay here, with the configuration we use? */
static bool systemd_manages(const struct cli_ctx *ctx)
{
	char *const argv[] = {"systemctl", "is-enabled", "--quiet", SERVICE_UNIT, NULL};

	if (access("/run/systemd/system", F_OK) != 0)
		return false;
	if (ctx->config_path != NULL && cli_default_config_path() != NULL &&
	    strcmp(ctx->config_path, cli_default_config_path()) != 0)
		return false;
	return run_command(argv, true) == 0;
}

/* mkdir -p, mode for what it creates. 0 or negative errno. */
static int make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cli__make_dirs(const char *path, unsigned mode)
{
	return make_dirs(path, (mode_t)mode);
}

/* The child: a session of its own, output to the log, exec `run`. */
static void exec_daemon(const char *config_path, int log_fd)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	int null_fd = open("/dev/null", O_RDONLY);

	if (n <= 0 || null_fd < 0)
		_exit(CLI_FAIL);
	self[n] = '\0';
	setsid();
	dup2(null_fd, 0);
	dup2(log_fd, 1);
	dup2(log_fd, 2);
	if (config_path != NULL)
		execl(self, "backstay", "run", "-c", config_path, (char *)NULL);
	else
		execl(self, "backstay", "run", (char *)NULL);
	_exit(CLI_FAIL);
}

static int open_log(struct cli_ctx *ctx, const struct bs_config *config, char *path, size_t size)
{
	const char *dir = bs_config_str(config, BS_SET_LOG_DIRECTORY);
	int rv = make_dirs(dir, 0755), fd;

	snprintf(path, size, "%s/backstay.log", dir);
	if (rv == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd >= 0)
			return fd;
		rv = -errno;
	}
	fprintf(ctx->err, "%s %s: log %s: %s\n", ctx->prog, ctx->verb, path, bs_strerror(rv));
	return rv;
}

/* What waiting for a started daemon watches. */
struct starting {
	struct cli_target t; /* the daemon, asked "status" */
	bool have_target;    /* else only the child is watched */
	pid_t child;	     /* ours (> 0): its early exit ends the wait */
	bool exited;
	int exit_code; /* when exited: its code, -1 for a signal */
};

/* Does the daemon answer on its port yet, or has our child exited? */
static bool answers_or_exited(void *data)
{
	struct starting *s = data;
	json_t *st = NULL;
	char errmsg[256];
	int rv = -1, status;

	if (s->have_target) {
		rv = cli__ask_json(&s->t, s->t.endpoint, "status", 1000, &st, errmsg,
				   sizeof errmsg);
		json_decref(st);
	}
	if (rv != 0 && s->child > 0 && waitpid(s->child, &status, WNOHANG) == s->child) {
		s->exited = true;
		s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	return rv == 0 || s->exited;
}

static int wait_answers(struct cli_ctx *ctx, pid_t child, const char *log_path)
{
	struct starting s = {.child = child};
	bool done;

	s.have_target = cli__target_load(ctx, &s.t) == CLI_OK; /* once, not per poll */
	done = cli__poll(SERVICE_WAIT_MS, answers_or_exited, &s);
	bs_secrets_wipe(&s.t.secrets);
	if (!done)
		return cli__fail(ctx, "backstay does not answer after %d s; see %s",
				 SERVICE_WAIT_MS / 1000, log_path);
	if (s.exited)
		return cli__fail(ctx, "backstay run exited with code %d; see %s", s.exit_code,
				 log_path);
	return CLI_OK;
}

int cli__daemon_start(struct cli_ctx *ctx, const struct bs_config *config, long *ret_pid)
{
	const char *data_dir = bs_config_str(config, BS_SET_DATA_DIR);
	const char *config_path = ctx->config_path ? ctx->config_path : cli_default_config_path();
	char *const sd_argv[] = {"systemctl", "start", SERVICE_UNIT, NULL};
	char log_path[PATH_MAX];
	pid_t child = 0;
	int fd, rv;

	*ret_pid = cli__daemon_pid(data_dir);
	if (*ret_pid > 0)
		return CLI_OK;
	if (systemd_manages(ctx)) {
		snprintf(log_path, sizeof log_path, "journalctl -u %s", SERVICE_UNIT);
		if (run_command(sd_argv, false) != 0) {
			fprintf(ctx->err, "%s %s: systemctl start %s failed\n", ctx->prog,
				ctx->verb, SERVICE_UNIT);
			return CLI_FAIL;
		}
	} else {
		fd = open_log(ctx, config, log_path, sizeof log_path);
		if (fd < 0)
			return CLI_FAIL;
		child = fork();
		if (child == 0)
			exec_daemon(config_path, fd);
		close(fd);
		if (child < 0) {
			fprintf(ctx->err, "%s %s: fork: %s\n", ctx->prog, ctx->verb,
				strerror(errno));
			return CLI_FAIL;
		}
	}
	rv = wait_answers(ctx, child, log_path);
	*ret_pid = cli__daemon_pid(data_dir);
	return rv;
}

static bool daemon_gone(void *data_dir)
{
	return cli__daemon_pid(data_dir) <= 0;
}

int cli__daemon_stop(struct cli_ctx *ctx, const struct bs_config *config)
{
	const char *data_dir = bs_config_str(config, BS_SET_DATA_DIR);
	char *const sd_argv[] = {"systemctl", "stop", SERVICE_UNIT, NULL};
	long pid = cli__daemon_pid(data_dir);

	if (pid <= 0)
		return CLI_OK;
	if (systemd_manages(ctx))
		run_command(sd_argv, false);
	else if (kill((pid_t)pid, SIGTERM) != 0 && errno != ESRCH) {
		fprintf(ctx->err, "%s %s: kill %ld: %s\n", ctx->prog, ctx->verb, pid,
			strerror(errno));
		return CLI_FAIL;
	}
	if (!cli__poll(SERVICE_WAIT_MS, daemon_gone, (void *)data_dir))
		return cli__fail(ctx, "backstay (pid %ld) still runs after %d s", pid,
				 SERVICE_WAIT_MS / 1000);
	return CLI_OK;
}
