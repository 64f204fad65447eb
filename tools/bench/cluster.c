/*
 * The clusters scripts/bench.sh started: their layout on disk, their
 * processes (kill, restart, memory, CPU), and the bench's clock and loop
 * helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "bench.h"

/* A tool's timestamps: CLOCK_MONOTONIC in ns (see bench.h). */
uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void tick_closed(uv_handle_t *h)
{
	*(bool *)h->data = true;
}

bool bench_run_until(uv_loop_t *loop, bool (*pred)(void *arg), void *arg, uint64_t deadline_ns)
{
	uv_timer_t tick;
	bool ok, closed = false;

	/* The tick keeps UV_RUN_ONCE from blocking past the next check. */
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (!(ok = pred(arg)) && bench_now_ns() < deadline_ns)
		uv_run(loop, UV_RUN_ONCE);
	tick.data = &closed;
	uv_close((uv_handle_t *)&tick, tick_closed);
	while (!closed)
		uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void bench_run_for(uv_loop_t *loop, unsigned ms)
{
	bench_run_until(loop, never, NULL, bench_now_ns() + (uint64_t)ms * 1000000u);
}

/* ---- layout ---------------------------------------------------------------- */

/* First line of dir/name into buf, trailing white space cut. */
static int read_line(const char *dir, const char *name, char *buf, size_t size)
{
	char path[600];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	if (fgets(buf, (int)size, f) == NULL) {
		fclose(f);
		return -ENODATA;
	}
	fclose(f);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n > 0 ? 0 : -ENODATA;
}

static int read_pid(struct bench_node *nd)
{
	char buf[32];
	long v;
	int rv = read_line(nd->dir, "pid", buf, sizeof buf);

	if (rv != 0)
		return rv;
	v = strtol(buf, NULL, 10);
	if (v <= 1)
		return -EINVAL;
	nd->pid = (pid_t)v;
	return 0;
}

int bench_cluster_load(struct bench_cluster *c, const char *dir, char *errmsg, size_t size)
{
	int i, rv;

	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "%s", dir);
	for (i = 0; i < BENCH_NODES; i++) {
		struct bench_node *nd = &c->nodes[i];

		snprintf(nd->dir, sizeof nd->dir, "%s/n%d", dir, i + 1);
		rv = read_line(nd->dir, "endpoint", nd->endpoint, sizeof nd->endpoint);
		if (rv == 0)
			rv = read_pid(nd);
		if (rv != 0) {
			bs_errf(errmsg, size, "%s: endpoint/pid: %s", nd->dir, bs_strerror(rv));
			return rv;
		}
	}
	return 0;
}

/* ---- processes ----------------------------------------------------------- */

int bench_node_kill(struct bench_cluster *c, int i)
{
	struct bench_node *nd = &c->nodes[i];

	if (nd->pid <= 1)
		return -ESRCH;
	if (kill(nd->pid, SIGKILL) != 0)
		return -errno;
	nd->pid = 0;
	return 0;
}

int bench_node_start(struct bench_cluster *c, int i, char *errmsg, size_t size)
{
	struct bench_node *nd = &c->nodes[i];
	char script[600];
	pid_t child;
	int st, rv;

	snprintf(script, sizeof script, "%s/start", nd->dir);
	child = fork();
	if (child < 0)
		return -errno;
	if (child == 0) {
		execl(script, script, (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &st, 0) < 0)
		return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		bs_errf(errmsg, size, "%s: failed (status %d)", script, st);
		return -EIO;
	}
	rv = read_pid(nd);
	if (rv != 0)
		bs_errf(errmsg, size, "%s/pid: %s", nd->dir, bs_strerror(rv));
	return rv;
}

/* The value of field `key` ("VmRSS:") in /proc/PID/status, in its unit. */
static uint64_t status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	uint64_t v = 0;
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0) {
			v = strtoull(line + klen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

uint64_t bench_node_rss_kib(const struct bench_cluster *c, int i, uint64_t *ret_anon,
			    uint64_t *ret_file)
{
	pid_t pid = c->nodes[i].pid;

	if (ret_anon != NULL)
		*ret_anon = pid > 1 ? status_field(pid, "RssAnon:") : 0;
	if (ret_file != NULL)
		*ret_file = pid > 1 ? status_field(pid, "RssFile:") : 0;
	return pid > 1 ? status_field(pid, "VmRSS:") : 0;
}

static uint64_t pid_ticks(pid_t pid);

uint64_t bench_node_cpu_ticks(const struct bench_cluster *c, int i)
{
	return c->nodes[i].pid > 1 ? pid_ticks(c->nodes[i].pid) : 0;
}

uint64_t bench_machine_busy_ticks(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (f == NULL)
		return 0;
	/* cpu user nice system idle iowait irq softirq steal */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return 0;
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

uint64_t bench_machine_forks(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "processes %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* utime + stime of pid from /proc/PID/stat; 0 when unreadable. */
static uint64_t pid_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Fields after "(comm)": state is field 3, utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

/* A kernel thread has an empty command line. */
static bool is_user_process(pid_t pid)
{
	char path[64], c;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, &c, 1);
	close(fd);
	return n == 1;
}

uint64_t bench_foreign_ticks(const struct bench_cluster *c)
{
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");
	unsigned n = 0;
	int i;

	if (d == NULL)
		return 0;
	/* Bounded: a machine has far fewer processes than this. */
	while ((de = readdir(d)) != NULL && n++ < 100000) {
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		bool ours = pid == getpid();

		for (i = 0; i < BENCH_NODES; i++)
			ours = ours || pid == c->nodes[i].pid;
		if (pid > 0 && !ours && is_user_process(pid))
			sum += pid_ticks(pid);
	}
	closedir(d);
	return sum;
}

uint64_t bench_self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}
