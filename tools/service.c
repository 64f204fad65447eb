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

static uint64_t now_ms(void)
{
	return bs_clock_now_ms(bs_clock_real());
}

static void nap(void)
{
	struct timespec ts = {0, SERVICE_POLL_MS * 1000000L};

	nanosleep(&ts, NULL);
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
	time_t now = time(NULL);

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

/* Does the daemon answer on its port yet? */
static bool answers(struct cli_ctx *ctx)
{
	struct cli_target t;
	json_t *st = NULL;
	char errmsg[256];
	int rv;

	if (cli__target_load(ctx, &t) != CLI_OK)
		return false;
	rv = cli__ask_json(&t, t.endpoint, "status", 1000, &st, errmsg, sizeof errmsg);
	bs_secrets_wipe(&t.secrets);
	json_decref(st);
	return rv == 0;
}

/* Wait until the daemon answers; child (> 0) is ours: its early exit ends
 * the wait. */
static int wait_answers(struct cli_ctx *ctx, pid_t child, const char *log_path)
{
	uint64_t deadline = now_ms() + SERVICE_WAIT_MS;
	int status;

	while (now_ms() < deadline) {
		if (answers(ctx))
			return CLI_OK;
		if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
			fprintf(ctx->err, "%s %s: backstay run exited with code %d; see %s\n",
				ctx->prog, ctx->verb, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				log_path);
			return CLI_FAIL;
		}
		nap();
	}
	fprintf(ctx->err, "%s %s: backstay does not answer after %d s; see %s\n", ctx->prog,
		ctx->verb, SERVICE_WAIT_MS / 1000, log_path);
	return CLI_FAIL;
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

int cli__daemon_stop(struct cli_ctx *ctx, const struct bs_config *config)
{
	const char *data_dir = bs_config_str(config, BS_SET_DATA_DIR);
	char *const sd_argv[] = {"systemctl", "stop", SERVICE_UNIT, NULL};
	long pid = cli__daemon_pid(data_dir);
	uint64_t deadline = now_ms() + SERVICE_WAIT_MS;

	if (pid <= 0)
		return CLI_OK;
	if (systemd_manages(ctx))
		run_command(sd_argv, false);
	else if (kill((pid_t)pid, SIGTERM) != 0 && errno != ESRCH) {
		fprintf(ctx->err, "%s %s: kill %ld: %s\n", ctx->prog, ctx->verb, pid,
			strerror(errno));
		return CLI_FAIL;
	}
	while (cli__daemon_pid(data_dir) > 0) {
		if (now_ms() >= deadline) {
			fprintf(ctx->err, "%s %s: backstay (pid %ld) still runs after %d s\n",
				ctx->prog, ctx->verb, pid, SERVICE_WAIT_MS / 1000);
			return CLI_FAIL;
		}
		nap();
	}
	return CLI_OK;
}
