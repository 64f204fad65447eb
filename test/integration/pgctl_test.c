/*
 * pgctl_test: the pgctl/ adapter against real PostgreSQL 15, two nodes on
 * 127.0.0.1 in one process and one uv loop (needs root: PostgreSQL runs as
 * the postgres OS user; exits 77 without root, PostgreSQL 15 or that user).
 *
 *   1. pgc_initdb node A, start it as the primary, a table and a row;
 *   2. a base backup of B from A (progress seen, the unsynced sentinel
 *      present during it and gone after), B starts as A's standby and
 *      streams: a new row arrives, LSNs meet, A counts one streaming
 *      standby;
 *   3. quorum commit on A, ANY 1 ("b"): B shows as a quorum standby and a
 *      write is acknowledged;
 *   4. B is promoted (timeline 2); A's next write waits for its quorum and
 *      times out; a write with synchronous_commit = local forks A;
 *   5. A stops (immediate), pg_rewind against B, A starts as B's standby:
 *      it streams, the fork's row is gone, B's new rows are there, and A's
 *      own settings are back in its postgresql.conf;
 *   6. A is re-pointed to another slot without a restart;
 *   7. a forced base backup of A from B (sentinel during, not after);
 *   8. a rewind that fails (A's pg_control removed) falls back to a base
 *      backup;
 *   9. a second handle on A's running data directory refuses to start;
 *  10. the leader's epoch: idempotent, -EEXIST for another node, -EROFS on
 *      a standby;
 *  11. no-start-pgsql refuses a start, the override does not;
 *  12. a server that cannot start (a bad setting): wait_ready says so at
 *      once, with the log's last lines;
 *  13. the handles close, stopping both servers.
 *
 * Ports come from a per-run base (the pid), checked free. Everything lives
 * in $TMPDIR/bs-pgctl-test.XXXXXX, removed at the end; a run killed before
 * its cleanup leaves a directory whose postmasters and files the next run
 * removes (only directories of this test whose owner is gone, and only
 * processes whose command line names that directory).
 *
 * Prints "ok - ..." / "not ok - ..." and "# <step> <seconds> s"; exits 1
 * at the first failure.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "pgctl.h"

#define PGBIN "/usr/lib/postgresql/15/bin"
#define PREFIX "bs-pgctl-test."

enum { WATCHDOG_S = 150, POLL_MS = 50, STREAM_WAIT_MS = 20000, READY_MS = 30000 };

struct node {
	char name[2];
	char dir[300], state[400], data[400], log[400], ssl[400];
	int port;
	struct bs_config *config;
	struct pgc_node pn;
	struct pgc *p;
	struct pgc_upstream as_upstream; /* how the other node follows this one */
	char slot_for_other[8];
};

static uv_loop_t loop;
static struct bs_secrets secrets;
static struct node nodes[2];
static char top[256];
static volatile sig_atomic_t pids[2];
static unsigned progress_calls;
static bool sentinel_seen_during;

/* ---------------------------------------------------------------------- */

static void fail(const char *what, int rv, const char *errmsg)
{
	printf("not ok - %s (rv=%d %s: %s)\n", what, rv, bs_strerror(rv), errmsg);
}

static uint64_t now_ms(void)
{
	return bs_clock_now_ms(bs_clock_real());
}

static void timing(const char *what, uint64_t start_ms)
{
	printf("# %s %.2f s\n", what, (double)(now_ms() - start_ms) / 1000.0);
}

/* Signals and the watchdog: the postmasters die with us. */
static void on_signal(int sig)
{
	char msg[] = "# pgctl_test: signal 00 (14: the watchdog); killing PostgreSQL\n";
	int i;

	for (i = 0; i < 2; i++) {
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	}
	msg[21] = (char)('0' + sig / 10 % 10);
	msg[22] = (char)('0' + sig % 10);
	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
		sig = 0;
	_exit(sig == SIGALRM ? 124 : 1);
}

static void note_pids(void)
{
	int i;

	for (i = 0; i < 2; i++)
		pids[i] = nodes[i].p != NULL ? pgc_pid(nodes[i].p) : 0;
}

/* ---------------------------------------------------------------------- */
/* Requests, run to their end on the loop (pgctl bounds each one). */

struct call {
	struct pgc_req req;
	bool done;
	int status;
};

/* Every completion stops the loop: a callback may run in the timer phase,
 * before the poll phase of the same UV_RUN_ONCE would block. */
static void call_done(struct pgc_req *req, int status)
{
	struct call *c = req->data;

	c->done = true;
	c->status = status;
	uv_stop(&loop);
}

static int wait_call(struct call *c, int submit_rv)
{
	if (submit_rv != 0)
		return submit_rv;
	while (!c->done)
		uv_run(&loop, UV_RUN_DEFAULT);
	note_pids();
	return c->status;
}

static void call_init(struct call *c)
{
	memset(c, 0, sizeof *c);
	c->req.data = c;
}

static void pause_done(uv_timer_t *t)
{
	uv_timer_stop(t);
	uv_stop(&loop);
}

/* Let the loop run for ms (between polls). */
static void pause_ms(unsigned ms)
{
	uv_timer_t t;

	uv_timer_init(&loop, &t);
	uv_timer_start(&t, pause_done, ms, 0);
	while (uv_is_active((uv_handle_t *)&t))
		uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static int exec_sql(struct node *n, const char *sql, unsigned timeout_ms, char *value, size_t size)
{
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_exec(n->p, &c.req, sql, timeout_ms, call_done));
	if (rv != 0)
		fail(sql, rv, c.req.errmsg);
	if (value != NULL)
		snprintf(value, size, "%s", c.req.value);
	return rv;
}

static int state_of(struct node *n, struct pgc_state *ret)
{
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_query_state(n->p, &c.req, call_done));
	*ret = c.req.state;
	return rv != 0 ? rv : (ret->reachable ? 0 : -ECONNREFUSED);
}

static int start_node(struct node *n, bool primary, const struct pgc_upstream *up)
{
	struct pgc_start_opts o = {.as_primary = primary, .upstream = up};
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_start(n->p, &c.req, &o, call_done));
	if (rv == 0) {
		call_init(&c);
		rv = wait_call(&c, pgc_wait_ready(n->p, &c.req, READY_MS, call_done));
	}
	if (rv != 0)
		fail("start", rv, c.req.errmsg);
	return rv;
}

static int stop_node(struct node *n, enum pgc_stop_mode mode)
{
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_stop(n->p, &c.req, mode, 0, call_done));
	if (rv != 0)
		fail("stop", rv, c.req.errmsg);
	return rv;
}

/* Poll until the standby streams and has replayed what the primary flushed
 * at the time of the first poll, the primary counts it streaming, and the
 * standby knows its sender's end of WAL to be at least that far. */
static int await_streaming(struct node *primary, struct node *standby)
{
	uint64_t deadline = now_ms() + STREAM_WAIT_MS, target = 0;
	struct pgc_state ps, ss;

	while (now_ms() < deadline) {
		if (state_of(primary, &ps) == 0 && state_of(standby, &ss) == 0) {
			if (target == 0)
				target = ps.flush_lsn;
			if (!ps.in_recovery && ss.in_recovery && ss.receiver_streaming &&
			    ss.replay_lsn >= target && ss.sender_end_lsn >= target &&
			    ps.n_streaming == 1 &&
			    strcmp(ps.standbys[0].app_name, standby->name) == 0 &&
			    strcmp(ss.receiver_host, "127.0.0.1") == 0)
				return 0;
		}
		pause_ms(POLL_MS);
	}
	fail("standby streaming within 20 s", -ETIMEDOUT, standby->name);
	return -ETIMEDOUT;
}

/* Poll a query on n until it answers want. */
static int await_value(struct node *n, const char *sql, const char *want)
{
	uint64_t deadline = now_ms() + STREAM_WAIT_MS;
	char value[PGC_VALUE_MAX];
	struct call c;

	while (now_ms() < deadline) {
		call_init(&c);
		if (wait_call(&c, pgc_exec(n->p, &c.req, sql, 0, call_done)) == 0 &&
		    strcmp(c.req.value, want) == 0)
			return 0;
		snprintf(value, sizeof value, "%s", c.req.value);
		pause_ms(POLL_MS);
	}
	printf("not ok - %s on %s: want '%s', have '%s'\n", sql, n->name, want, value);
	return -ETIMEDOUT;
}

/* ---------------------------------------------------------------------- */
/* Setup and cleanup. */

static bool port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Two free ports from a base derived from the pid, below the ephemeral range. */
static int pick_ports(int *ret_base)
{
	int base = 20000 + (int)(getpid() % 5000) * 2, tries;

	for (tries = 0; tries < 100; tries++, base += 2) {
		if (base + 1 >= 30000)
			base = 20000;
		if (port_free(base) && port_free(base + 1)) {
			*ret_base = base;
			return 0;
		}
	}
	return -EADDRINUSE;
}

static const char *tmp_root(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && t[0] != '\0' ? t : "/tmp";
}

/* Does /proc/<pid>/cmdline mention dir? */
static bool cmdline_mentions(int pid, const char *dir)
{
	char path[64], buf[4096];
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[n] = '\0';
	return strstr(buf, dir) != NULL;
}

static void kill_leftover_postmaster(const char *datadir)
{
	char path[2400];
	FILE *f;
	int pid = 0, i;

	snprintf(path, sizeof path, "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1 || !cmdline_mentions(pid, datadir))
		return;
	printf("# killing postmaster %d of an earlier run (%s)\n", pid, datadir);
	kill(pid, SIGKILL);
	for (i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(20000); /* leftover cleanup only: the process is not ours */
}

/* A directory of an earlier run whose owner is gone: its postmasters die,
 * the directory goes. */
static void remove_leftover(const char *dir)
{
	static const char *const subdirs[] = {"a/data/15", "b/data/15", "a/data/15.backstay-new",
					      "b/data/15.backstay-new"};
	char path[2200];
	FILE *f;
	int owner = 0;
	size_t i;

	snprintf(path, sizeof path, "%s/owner.pid", dir);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%d", &owner) != 1)
			owner = 0;
		fclose(f);
	}
	if (owner > 0 && kill(owner, 0) == 0)
		return; /* a run in progress */
	for (i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
		kill_leftover_postmaster(path);
	}
	printf("# removing %s, left by an earlier run\n", dir);
	snprintf(path, sizeof path, "rm -rf -- '%s'", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
}

static void remove_leftovers(void)
{
	DIR *d = opendir(tmp_root());
	struct dirent *e;
	char path[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmp_root(), e->d_name);
		remove_leftover(path);
	}
	closedir(d);
}

static int set(struct bs_config *c, const char *key, const char *value)
{
	char errmsg[256];
	int rv = bs_config_set(c, bs_setting_find(key), value, errmsg, sizeof errmsg);

	if (rv != 0)
		printf("not ok - config %s: %s\n", key, errmsg);
	return rv;
}

static int node_config(struct node *n)
{
	char q[5][700];
	const char *pairs[][2] = {
		{"data_dir", q[0]},
		{"postgresql.data_dir", q[1]},
		{"postgresql.log_directory", q[2]},
		{"ssl.data_dir", q[3]},
		{"postgresql.port", q[4]},
		{"postgresql.bin_dir", "'" PGBIN "'"},
		{"postgresql.username", "'postgres'"},
		{"postgresql.max_connections", "30"},
		{"postgresql.shared_buffers", "'32MB'"},
		{"postgresql.effective_cache_size", "'64MB'"},
		{"postgresql.md5_auth_cidr_addresses", "['samehost']"},
		{"postgresql.environment", "{ 'TZ' => 'UTC' }"},
	};
	size_t i;

	snprintf(q[0], sizeof q[0], "'%s'", n->state);
	snprintf(q[1], sizeof q[1], "'%s'", n->data);
	snprintf(q[2], sizeof q[2], "'%s'", n->log);
	snprintf(q[3], sizeof q[3], "'%s'", n->ssl);
	snprintf(q[4], sizeof q[4], "%d", n->port);
	if (bs_config_new(&n->config) != 0)
		return -ENOMEM;
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		if (set(n->config, pairs[i][0], pairs[i][1]) != 0)
			return -EINVAL;
	}
	return 0;
}

static int make_node(struct node *n, const char *name, int port)
{
	snprintf(n->name, sizeof n->name, "%s", name);
	snprintf(n->dir, sizeof n->dir, "%s/%s", top, name);
	snprintf(n->state, sizeof n->state, "%s/state", n->dir);
	snprintf(n->data, sizeof n->data, "%s/data/15", n->dir);
	snprintf(n->log, sizeof n->log, "%s/log", n->dir);
	snprintf(n->ssl, sizeof n->ssl, "%s/ssl", n->dir);
	n->port = port;
	if (mkdir(n->dir, 0755) != 0 || mkdir(n->state, 0755) != 0)
		return -errno;
	if (node_config(n) != 0)
		return -EINVAL;
	n->pn.loop = &loop;
	n->pn.config = n->config;
	n->pn.secrets = &secrets;
	n->pn.app_name = n->name;
	n->pn.listen_addresses = "127.0.0.1";
	n->as_upstream.host = "127.0.0.1";
	n->as_upstream.port = port;
	return 0;
}

static void closed(void *data);

static void on_exit_report(void *data, const struct pgc_exit *e)
{
	struct node *n = data;

	printf("# postgres of %s ended: status %lld signal %d%s (%s)\n", n->name,
	       (long long)e->exit_status, e->term_signal, e->requested ? ", requested" : "",
	       e->log_tail);
}

static int open_handle(struct node *n)
{
	char errmsg[256];
	int rv = pgc_new(&n->pn, on_exit_report, n, &n->p, errmsg, sizeof errmsg);

	if (rv != 0)
		fail("pgc_new", rv, errmsg);
	return rv;
}

static void closed(void *data)
{
	*(bool *)data = true;
	uv_stop(&loop);
}

static void cleanup(void)
{
	bool done[2] = {false, false};
	int i;

	for (i = 0; i < 2; i++) {
		if (nodes[i].p != NULL)
			pgc_close(nodes[i].p, closed, &done[i]);
		else
			done[i] = true;
	}
	while (!done[0] || !done[1])
		uv_run(&loop, UV_RUN_DEFAULT);
	for (i = 0; i < 2; i++) {
		nodes[i].p = NULL;
		bs_config_free(nodes[i].config);
	}
	pids[0] = pids[1] = 0;
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	if (top[0] != '\0' && getenv("PGCTL_TEST_KEEP") == NULL) {
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
}

static int setup(void)
{
	char path[600];
	FILE *f;
	int base;

	snprintf(top, sizeof top, "%s/" PREFIX "XXXXXX", tmp_root());
	if (mkdtemp(top) == NULL || chmod(top, 0755) != 0) {
		printf("not ok - mkdtemp: %s\n", strerror(errno));
		top[0] = '\0';
		return -1;
	}
	snprintf(path, sizeof path, "%s/owner.pid", top);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	if (pick_ports(&base) != 0 || bs_secrets_generate(bs_clock_real(), &secrets) != 0)
		return -1;
	printf("# directory %s, ports %d and %d\n", top, base, base + 1);
	if (make_node(&nodes[0], "a", base) != 0 || make_node(&nodes[1], "b", base + 1) != 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The steps. */

static struct node *A = &nodes[0], *B = &nodes[1];

static int step_initdb_primary(void)
{
	char errmsg[256];
	uint64_t t = now_ms();
	int rv = pgc_initdb(&A->pn, errmsg, sizeof errmsg);

	if (rv != 0) {
		fail("pgc_initdb A", rv, errmsg);
		return rv;
	}
	timing("initdb", t);
	printf("ok - pgc_initdb A\n");
	rv = pgc_initdb(&A->pn, errmsg, sizeof errmsg);
	if (rv != -EEXIST || strstr(errmsg, "is not empty") == NULL) {
		fail("pgc_initdb A again is -EEXIST", rv, errmsg);
		return -1;
	}
	printf("ok - pgc_initdb refuses a used data directory\n");
	if (open_handle(A) != 0 || open_handle(B) != 0)
		return -1;
	t = now_ms();
	if (start_node(A, true, NULL) != 0)
		return -1;
	timing("start A", t);
	printf("ok - A started as primary, ready\n");
	return exec_sql(A,
			"CREATE TABLE kv(k text PRIMARY KEY, v text);"
			" INSERT INTO kv VALUES ('one', '1')",
			0, NULL, 0);
}

static struct node *syncing; /* the node whose base backup runs */

static void on_progress(struct pgc_req *req, const struct pgc_progress *pr)
{
	(void)req;
	(void)pr;
	progress_calls++;
	if (pgc_sentinel_exists(syncing->state, PGC_UNSYNCED))
		sentinel_seen_during = true;
}

static int basebackup(struct node *n, struct node *from, const char *what)
{
	struct pgc_upstream up = from->as_upstream;
	struct call c;
	uint64_t t = now_ms();
	int rv;

	up.slot = n->name;
	syncing = n;
	progress_calls = 0;
	sentinel_seen_during = false;
	call_init(&c);
	c.req.progress_cb = on_progress;
	rv = wait_call(&c, pgc_basebackup(n->p, &c.req, &up, call_done));
	if (rv != 0) {
		fail(what, rv, c.req.errmsg);
		return rv;
	}
	timing(what, t);
	if (c.req.method != PGC_METHOD_BASEBACKUP || progress_calls == 0 || !sentinel_seen_during ||
	    pgc_sentinel_exists(n->state, PGC_UNSYNCED)) {
		printf("not ok - %s: progress %u, sentinel during %d, after %d\n", what,
		       progress_calls, sentinel_seen_during,
		       pgc_sentinel_exists(n->state, PGC_UNSYNCED));
		return -1;
	}
	printf("ok - %s: %u progress reports, unsynced during it, gone after\n", what,
	       progress_calls);
	return 0;
}

/* The file holds needle (node-local settings re-applied after a copy). */
static int file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static int check_local_files(struct node *n)
{
	char conf[700], autoconf[700], signal[700], sock[700], app[64];
	struct stat st;

	snprintf(conf, sizeof conf, "%s/postgresql.conf", n->data);
	snprintf(autoconf, sizeof autoconf, "%s/postgresql.auto.conf", n->data);
	snprintf(signal, sizeof signal, "%s/standby.signal", n->data);
	snprintf(sock, sizeof sock, "unix_socket_directories = '%s/pgsock'", n->state);
	snprintf(app, sizeof app, "application_name=%s ", n->name);
	if (!file_has(conf, sock) || !file_has(conf, app) || stat(autoconf, &st) != 0 ||
	    st.st_size != 0 || stat(signal, &st) != 0) {
		printf("not ok - %s's own postgresql.conf, empty auto.conf, standby.signal\n",
		       n->name);
		return -1;
	}
	printf("ok - %s's files: its own postgresql.conf, empty postgresql.auto.conf, "
	       "standby.signal\n",
	       n->name);
	return 0;
}

static int create_slot(struct node *n, const char *name)
{
	const char *names[] = {name};
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_create_slots(n->p, &c.req, names, 1, call_done));
	if (rv != 0)
		fail("create slot", rv, c.req.errmsg);
	return rv;
}

static int step_standby(void)
{
	struct pgc_upstream up = A->as_upstream;
	uint64_t t;

	up.slot = "b";
	if (create_slot(A, "b") != 0 || create_slot(A, "b") != 0)
		return -1;
	printf("ok - slot b on A, twice\n");
	if (basebackup(B, A, "base backup B from A") != 0 || check_local_files(B) != 0)
		return -1;
	t = now_ms();
	if (start_node(B, false, &up) != 0)
		return -1;
	timing("start B", t);
	if (exec_sql(A, "INSERT INTO kv VALUES ('two', '2')", 0, NULL, 0) != 0 ||
	    await_streaming(A, B) != 0 ||
	    await_value(B, "SELECT v FROM kv WHERE k = 'two'", "2") != 0)
		return -1;
	printf("ok - B streams from A, replayed A's flush LSN, has the new row\n");
	return 0;
}

static int step_quorum(void)
{
	const char *others[] = {"b"};
	struct pgc_state s;
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_set_sync_names(A->p, &c.req, others, 1, pgc_quorum_k(3), call_done));
	if (rv != 0) {
		fail("synchronous standbys on A", rv, c.req.errmsg);
		return rv;
	}
	rv = state_of(A, &s);
	if (rv != 0 || strcmp(s.sync_names, "ANY 1 (\"b\")") != 0 || s.n_standbys != 1 ||
	    strcmp(s.standbys[0].sync_state, "quorum") != 0) {
		printf("not ok - A's quorum: '%s', %u standbys, '%s'\n", s.sync_names, s.n_standbys,
		       s.standbys[0].sync_state);
		return -1;
	}
	if (exec_sql(A, "INSERT INTO kv VALUES ('three', '3')", 5000, NULL, 0) != 0)
		return -1;
	printf("ok - A: synchronous_standby_names = %s, B is a quorum standby, a write is "
	       "acknowledged\n",
	       s.sync_names);
	return 0;
}

static int step_promote(void)
{
	struct pgc_state s;
	struct call c;
	uint64_t t = now_ms();
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_promote(B->p, &c.req, call_done));
	if (rv != 0) {
		fail("promote B", rv, c.req.errmsg);
		return rv;
	}
	timing("promote", t);
	rv = state_of(B, &s);
	if (rv != 0 || s.in_recovery || s.timeline != 2) {
		printf("not ok - B after promotion: in_recovery %d, timeline %u\n", s.in_recovery,
		       s.timeline);
		return -1;
	}
	printf("ok - B promoted: not in recovery, timeline 2\n");
	call_init(&c);
	rv = wait_call(&c, pgc_exec(A->p, &c.req, "INSERT INTO kv VALUES ('blocked', 'a')", 1500,
				    call_done));
	if (rv != -ETIMEDOUT) {
		fail("a write on A without its quorum waits", rv, c.req.errmsg);
		return -1;
	}
	printf("ok - A's next write waits for its quorum (timed out: %s)\n", c.req.errmsg);
	if (exec_sql(A, "SET LOCAL synchronous_commit = local; INSERT INTO kv VALUES ('fork', 'a')",
		     0, NULL, 0) != 0)
		return -1;
	printf("ok - A forked: a row only A has\n");
	return 0;
}

static int step_rewind(void)
{
	struct pgc_upstream up = B->as_upstream;
	struct pgc_state s;
	struct call c;
	uint64_t t;
	int rv;

	up.slot = "a";
	if (create_slot(B, "a") != 0 || stop_node(A, PGC_STOP_IMMEDIATE) != 0)
		return -1;
	if (state_of(A, &s) != -ECONNREFUSED || s.reachable) {
		printf("not ok - a stopped A's state is unreachable\n");
		return -1;
	}
	printf("ok - A stopped (immediate); its state query says unreachable\n");
	t = now_ms();
	call_init(&c);
	rv = wait_call(&c, pgc_rewind(A->p, &c.req, &up, false, call_done));
	if (rv != 0 || c.req.method != PGC_METHOD_REWIND) {
		fail("pg_rewind A against B", rv, c.req.errmsg);
		return -1;
	}
	timing("rewind", t);
	printf("ok - pg_rewind A against B\n");
	if (check_local_files(A) != 0 || start_node(A, false, NULL) != 0 ||
	    exec_sql(B, "INSERT INTO kv VALUES ('four', '4')", 0, NULL, 0) != 0 ||
	    await_streaming(B, A) != 0 ||
	    await_value(A, "SELECT count(*) FROM kv WHERE k IN ('fork', 'blocked')", "0") != 0 ||
	    await_value(A, "SELECT string_agg(k, ',' ORDER BY k) FROM kv", "four,one,three,two") !=
		    0)
		return -1;
	printf("ok - A streams from B; its forked rows are gone, B's rows are there\n");
	return 0;
}

static int step_repoint(void)
{
	struct pgc_upstream up = B->as_upstream;
	int pid = pgc_pid(A->p), rv;
	char conf[700];
	struct call c;

	up.slot = "a2";
	if (create_slot(B, "a2") != 0)
		return -1;
	call_init(&c);
	rv = wait_call(&c, pgc_repoint(A->p, &c.req, &up, call_done));
	if (rv != 0) {
		fail("re-point A", rv, c.req.errmsg);
		return rv;
	}
	snprintf(conf, sizeof conf, "%s/postgresql.conf", A->data);
	if (await_value(B, "SELECT active FROM pg_replication_slots WHERE slot_name = 'a2'", "t") !=
		    0 ||
	    await_streaming(B, A) != 0)
		return -1;
	if (pgc_pid(A->p) != pid || !file_has(conf, "primary_slot_name = 'a2'")) {
		printf("not ok - re-pointed without a restart: pid %d -> %d\n", pid, pgc_pid(A->p));
		return -1;
	}
	printf("ok - A re-pointed to slot a2 without a restart (pid %d)\n", pgc_pid(A->p));
	return 0;
}

/* A standby whose primary is gone reports the timeline of the WAL it holds
 * (pgctl/ops_query.c): B is promoted once more (timeline 3) while A streams
 * from it, then stopped. A has no walreceiver left and its last restartpoint
 * is on an older timeline (checked, or this step would prove nothing); the
 * state must say 3 — an election compares (timeline, LSN), and an older
 * timeline here would lose to a node holding less WAL. */
static int step_timeline_orphan(void)
{
	char ckpt[PGC_VALUE_MAX];
	struct pgc_state s;
	struct call c;
	int rv;

	if (stop_node(B, PGC_STOP_FAST) != 0 || start_node(B, false, NULL) != 0)
		return -1;
	call_init(&c);
	rv = wait_call(&c, pgc_promote(B->p, &c.req, call_done));
	if (rv != 0) {
		fail("promote B again", rv, c.req.errmsg);
		return -1;
	}
	if (exec_sql(B, "INSERT INTO kv VALUES ('six', '6')", 0, NULL, 0) != 0 ||
	    await_value(A, "SELECT v FROM kv WHERE k = 'six'", "6") != 0 ||
	    stop_node(B, PGC_STOP_IMMEDIATE) != 0 ||
	    await_value(A, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'",
			"0") != 0 ||
	    exec_sql(A, "SELECT timeline_id FROM pg_control_checkpoint()", 0, ckpt, sizeof ckpt) !=
		    0)
		return -1;
	if (atoi(ckpt) >= 3) {
		printf("not ok - A's last restartpoint is already on timeline %s: nothing to "
		       "test\n",
		       ckpt);
		return -1;
	}
	rv = state_of(A, &s);
	if (rv != 0 || !s.in_recovery || s.timeline != 3) {
		printf("not ok - A, its primary gone: timeline %u, want 3 (restartpoint's %s)\n",
		       s.timeline, ckpt);
		return -1;
	}
	printf("ok - A, its primary gone, reports timeline 3 (its last restartpoint's: %s)\n",
	       ckpt);
	return start_node(B, true, NULL);
}

static int step_force_basebackup(void)
{
	if (stop_node(A, PGC_STOP_FAST) != 0 || basebackup(A, B, "forced base backup A from B") ||
	    check_local_files(A) != 0 || start_node(A, false, NULL) != 0 ||
	    exec_sql(B, "INSERT INTO kv VALUES ('five', '5')", 0, NULL, 0) != 0 ||
	    await_streaming(B, A) != 0 || await_value(A, "SELECT v FROM kv WHERE k = 'five'", "5"))
		return -1;
	printf("ok - A streams from B again after the base backup\n");
	return 0;
}

/* A copy whose upstream does not answer fails before its swap: A's data
 * directory is untouched and the unsynced sentinel is as it was before
 * (absent, then present when it was there first). */
static int step_basebackup_refused(void)
{
	struct pgc_upstream up = B->as_upstream;
	char version[700], ignored[256];
	bool had;
	struct call c;
	int rv, i;

	up.slot = "a";
	up.port = A->port + 7; /* nothing listens there (ports are checked free) */
	snprintf(version, sizeof version, "%s/PG_VERSION", A->data);
	if (stop_node(A, PGC_STOP_FAST) != 0)
		return -1;
	for (i = 0; i < 2; i++) {
		had = i == 1;
		if (had && pgc_sentinel_set(A->state, PGC_UNSYNCED, ignored, sizeof ignored) != 0)
			return -1;
		call_init(&c);
		rv = wait_call(&c, pgc_basebackup(A->p, &c.req, &up, call_done));
		if (rv == 0 || access(version, F_OK) != 0 ||
		    pgc_sentinel_exists(A->state, PGC_UNSYNCED) != had) {
			printf("not ok - a refused copy (sentinel before: %d): rv %d, data %s, "
			       "sentinel after %d\n",
			       had, rv, access(version, F_OK) == 0 ? "kept" : "gone",
			       pgc_sentinel_exists(A->state, PGC_UNSYNCED));
			return -1;
		}
	}
	printf("ok - a copy from a dead upstream fails (%s); A's data kept, unsynced as before\n",
	       c.req.errmsg);
	if (pgc_sentinel_clear(A->state, PGC_UNSYNCED, ignored, sizeof ignored) != 0)
		return -1;
	return start_node(A, false, NULL);
}

/* pg_rewind fails (A's pg_control is gone): the base backup takes over. */
static int step_rewind_fallback(void)
{
	struct pgc_upstream up = B->as_upstream;
	char control[700];
	struct call c;
	uint64_t t;
	int rv;

	up.slot = "a";
	snprintf(control, sizeof control, "%s/global/pg_control", A->data);
	if (stop_node(A, PGC_STOP_FAST) != 0 || unlink(control) != 0)
		return -1;
	t = now_ms();
	call_init(&c);
	rv = wait_call(&c, pgc_rewind(A->p, &c.req, &up, true, call_done));
	if (rv != 0 || c.req.method != PGC_METHOD_BASEBACKUP) {
		fail("a failed rewind falls back to a base backup", rv, c.req.errmsg);
		return -1;
	}
	timing("rewind falling back to a base backup", t);
	if (start_node(A, false, NULL) != 0 || await_streaming(B, A) != 0)
		return -1;
	printf("ok - a failed rewind fell back to a base backup; A streams again\n");
	return 0;
}

/* A second handle on A's data directory: the running postmaster is not its
 * own, so it refuses to start another. */
static int step_foreign_postmaster(void)
{
	struct pgc_start_opts o = {.as_primary = false};
	struct node other = *A;
	struct call c;
	bool done = false;
	int rv;

	other.p = NULL;
	if (open_handle(&other) != 0)
		return -1;
	call_init(&c);
	rv = wait_call(&c, pgc_start(other.p, &c.req, &o, call_done));
	pgc_close(other.p, closed, &done);
	while (!done)
		uv_run(&loop, UV_RUN_DEFAULT);
	if (rv != -EBUSY || strstr(c.req.errmsg, "did not start") == NULL || !pgc_running(A->p)) {
		fail("a second handle refuses to start on a running data directory", rv,
		     c.req.errmsg);
		return -1;
	}
	printf("ok - a second handle refuses: %s\n", c.req.errmsg);
	return 0;
}

static int record_epoch(struct node *n, uint64_t epoch, const char *who, int want)
{
	struct call c;
	int rv;

	call_init(&c);
	rv = wait_call(&c, pgc_record_epoch(n->p, &c.req, epoch, who, call_done));
	if (rv != want) {
		fail("record epoch", rv, c.req.errmsg);
		return -1;
	}
	return 0;
}

static int step_epoch(void)
{
	if (record_epoch(B, 2, "b", 0) != 0 || record_epoch(B, 2, "b", 0) != 0 ||
	    record_epoch(B, 2, "a", -EEXIST) != 0 || record_epoch(A, 3, "a", -EROFS) != 0 ||
	    await_value(A, "SELECT node FROM backstay_epoch WHERE epoch = 2", "b") != 0)
		return -1;
	printf("ok - epoch 2 recorded for b (twice), refused for a, -EROFS on a standby\n");
	return 0;
}

static int step_no_start(void)
{
	struct pgc_start_opts o = {.as_primary = false};
	char errmsg[256];
	struct call c;
	int rv;

	if (stop_node(A, PGC_STOP_FAST) != 0 ||
	    pgc_sentinel_set(A->state, PGC_NO_START_PGSQL, errmsg, sizeof errmsg) != 0)
		return -1;
	call_init(&c);
	rv = pgc_start(A->p, &c.req, &o, call_done);
	if (rv != -EPERM || strstr(c.req.errmsg, "no-start-pgsql") == NULL) {
		fail("start refused by no-start-pgsql", rv, c.req.errmsg);
		return -1;
	}
	printf("ok - no-start-pgsql refuses a start: %s\n", c.req.errmsg);
	o.override_no_start = true;
	call_init(&c);
	rv = wait_call(&c, pgc_start(A->p, &c.req, &o, call_done));
	if (rv == 0) {
		call_init(&c);
		rv = wait_call(&c, pgc_wait_ready(A->p, &c.req, READY_MS, call_done));
	}
	if (rv != 0 || !pgc_running(A->p)) {
		fail("start with the override", rv, c.req.errmsg);
		return -1;
	}
	printf("ok - the override starts it\n");
	return pgc_sentinel_clear(A->state, PGC_NO_START_PGSQL, errmsg, sizeof errmsg);
}

/* A server that cannot start: wait_ready says so at once, with its log. */
static int step_bad_config(void)
{
	struct pgc_start_opts o = {.as_primary = false};
	struct call c;
	int rv;

	if (stop_node(A, PGC_STOP_FAST) != 0 || set(A->config, "postgresql.work_mem", "'bogus'"))
		return -1;
	call_init(&c);
	rv = wait_call(&c, pgc_start(A->p, &c.req, &o, call_done));
	if (rv == 0) {
		call_init(&c);
		rv = wait_call(&c, pgc_wait_ready(A->p, &c.req, READY_MS, call_done));
	}
	if (rv != -ESRCH || strstr(c.req.errmsg, "work_mem") == NULL) {
		fail("a bad setting: wait_ready is -ESRCH naming it", rv, c.req.errmsg);
		return -1;
	}
	printf("ok - a server that cannot start: %s\n", c.req.errmsg);
	if (set(A->config, "postgresql.work_mem", "'8MB'") != 0 || start_node(A, false, NULL) != 0)
		return -1;
	printf("ok - it starts again with the setting fixed\n");
	return 0;
}

static bool can_run(void)
{
	if (geteuid() != 0) {
		printf("# skip: pgctl_test needs root (PostgreSQL runs as the postgres user)\n");
		return false;
	}
	if (access(PGBIN "/postgres", X_OK) != 0 || access(PGBIN "/pg_rewind", X_OK) != 0) {
		printf("# skip: PostgreSQL 15 is not installed in " PGBIN "\n");
		return false;
	}
	if (getpwnam("postgres") == NULL) {
		printf("# skip: no OS user postgres\n");
		return false;
	}
	return true;
}

int main(void)
{
	static int (*const steps[])(void) = {step_initdb_primary,
					     step_standby,
					     step_quorum,
					     step_promote,
					     step_rewind,
					     step_repoint,
					     step_timeline_orphan,
					     step_force_basebackup,
					     step_basebackup_refused,
					     step_rewind_fallback,
					     step_foreign_postmaster,
					     step_epoch,
					     step_no_start,
					     step_bad_config};
	struct sigaction sa;
	uint64_t t0 = now_ms();
	size_t i;
	int rv = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!can_run())
		return 77;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	remove_leftovers();
	uv_loop_init(&loop);
	if (setup() != 0)
		rv = -1;
	for (i = 0; rv == 0 && i < sizeof steps / sizeof steps[0]; i++)
		rv = steps[i]();
	if (rv != 0)
		printf("# logs: %s/{a,b}/log/postgresql.log (PGCTL_TEST_KEEP=1 keeps them)\n", top);
	cleanup();
	timing("total", t0);
	return rv == 0 ? 0 : 1;
}
