/*
 * pgwrite: the write client of the fault tests and failover benchmarks. Run
 * it inside the client namespace. See README.md for the whole interface.
 *
 *   pgwrite [options] HOST...            write numbered rows to the leader
 *   pgwrite --direct ADDR[:PORT] [options]
 *                                        the same, always to one address (a VIP,
 *                                        an HAProxy): no /leader polling
 *   pgwrite --verify FILE [options] HOST...
 *                                        check every id in FILE is in the table
 *
 * Exit: 0 done (write: the goal met; verify: nothing lost), 1 not (write: rows
 * missing or nothing acknowledged; verify: an acknowledged row is missing),
 * 2 bad usage, 3 could not run (no leader, database or file).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pgw.h"

#define LOST_SHOWN 20

struct opts {
	struct pgw_run_opts run;
	const char *hosts[PGW_MAX_HOSTS];
	const char *acked_path, *verify_path, *at, *secrets, *history_path;
	bool ids; /* --ids: print the table's ids at --at */
	char password[256];
	char direct[PGW_HOST_MAX];
	uint64_t connect_timeout_ms;
};

static volatile int stop_flag;

static void on_signal(int sig)
{
	stop_flag = 1;
}

static void usage(FILE *out)
{
	fputs("usage: pgwrite [options] HOST...\n"
	      "       pgwrite --direct ADDR[:PORT] [options]\n"
	      "       pgwrite --verify FILE [--at HOST] [options] HOST...\n"
	      "       pgwrite --ids --at HOST [options]\n"
	      "  --rows N | --seconds S   stop after N acknowledged rows, or S seconds\n"
	      "  --rate R                 rows per second (default: as fast as possible)\n"
	      "  --table NAME             default pgwrite\n"
	      "  --acked FILE             acknowledged ids, one a line (default pgwrite.acked)\n"
	      "  --secrets FILE           password from its postgresql.db_superuser_password\n"
	      "  --password PW            or this one (else libpq's PGPASSWORD)\n"
	      "  --user NAME              default chef_pgsql\n"
	      "  --dbname NAME            default postgres\n"
	      "  --pg-port N              default 5432\n"
	      "  --leader-port N          GET /leader port, default 7331\n"
	      "  --write-timeout-ms MS    a write unanswered this long fails (default 1000)\n"
	      "  --timeout S              hard limit on the run (default S+60, or 600)\n"
	      "  --direct ADDR[:PORT]     write to this address only (a VIP, an HAProxy;\n"
	      "                           IPv6 as [ADDR]:PORT), no /leader polling\n"
	      "  --connect-timeout-ms MS  a connection not made this long fails (default 500\n"
	      "                           with --direct, else libpq's 2 s)\n"
	      "  --verify FILE            check FILE's ids against the leader's table\n"
	      "  --at HOST                verify against HOST instead of the leader\n"
	      "  --history FILE           one JSON line per write (its outcome, epoch, server);\n"
	      "                           the table records each row's epoch and server\n"
	      "  --client NAME            the history's client (default c<pid>)\n"
	      "  --route NAME             the history's route (default leader; needed with\n"
	      "                           --direct)\n"
	      "  --id-base N              ids from N+1 (default: after the table's highest)\n"
	      "  --ids                    print every id of the table at --at, one a line\n",
	      out);
}

static int read_secrets(const char *path, char *out, size_t size)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	const char *pw = json_string_value(
		json_object_get(json_object_get(root, "postgresql"), "db_superuser_password"));
	int rv = 0;

	if (root == NULL)
		fprintf(stderr, "pgwrite: %s: %s\n", path, err.text);
	else if (pw == NULL)
		fprintf(stderr, "pgwrite: %s: no postgresql.db_superuser_password\n", path);
	else if (snprintf(out, size, "%s", pw) >= (int)size)
		fprintf(stderr, "pgwrite: %s: password too long\n", path);
	else
		rv = 1;
	json_decref(root);
	return rv ? 0 : -EINVAL;
}

static int num(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

enum {
	OPT_ROWS = 256,
	OPT_SECONDS,
	OPT_RATE,
	OPT_TABLE,
	OPT_ACKED,
	OPT_SECRETS,
	OPT_PASSWORD,
	OPT_USER,
	OPT_DBNAME,
	OPT_PGPORT,
	OPT_LPORT,
	OPT_WTIMEOUT,
	OPT_TIMEOUT,
	OPT_VERIFY,
	OPT_AT,
	OPT_DIRECT,
	OPT_CTIMEOUT,
	OPT_HISTORY,
	OPT_CLIENT,
	OPT_ROUTE,
	OPT_IDBASE,
	OPT_IDS,
	OPT_HELP
};

static const struct option longopts[] = {
	{"rows", required_argument, NULL, OPT_ROWS},
	{"seconds", required_argument, NULL, OPT_SECONDS},
	{"rate", required_argument, NULL, OPT_RATE},
	{"table", required_argument, NULL, OPT_TABLE},
	{"acked", required_argument, NULL, OPT_ACKED},
	{"secrets", required_argument, NULL, OPT_SECRETS},
	{"password", required_argument, NULL, OPT_PASSWORD},
	{"user", required_argument, NULL, OPT_USER},
	{"dbname", required_argument, NULL, OPT_DBNAME},
	{"pg-port", required_argument, NULL, OPT_PGPORT},
	{"leader-port", required_argument, NULL, OPT_LPORT},
	{"write-timeout-ms", required_argument, NULL, OPT_WTIMEOUT},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"verify", required_argument, NULL, OPT_VERIFY},
	{"at", required_argument, NULL, OPT_AT},
	{"direct", required_argument, NULL, OPT_DIRECT},
	{"connect-timeout-ms", required_argument, NULL, OPT_CTIMEOUT},
	{"history", required_argument, NULL, OPT_HISTORY},
	{"client", required_argument, NULL, OPT_CLIENT},
	{"route", required_argument, NULL, OPT_ROUTE},
	{"id-base", required_argument, NULL, OPT_IDBASE},
	{"ids", no_argument, NULL, OPT_IDS},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* One option; 0 or -EINVAL. */
static int set_opt(struct opts *o, int c, const char *arg, uint64_t *timeout_s)
{
	struct pgw_run_opts *r = &o->run;
	uint64_t v = 0;
	char *end;

	switch (c) {
	case OPT_ROWS:
		return num(arg, INT64_MAX, &r->rows);
	case OPT_SECONDS:
		return num(arg, 86400, &r->seconds);
	case OPT_RATE:
		r->rate = strtod(arg, &end);
		return *end || end == arg || !(r->rate > 0 && r->rate <= 1e6) ? -EINVAL : 0;
	case OPT_TABLE:
		r->db.table = arg;
		return 0;
	case OPT_ACKED:
		o->acked_path = arg;
		return 0;
	case OPT_SECRETS:
		o->secrets = arg;
		return 0;
	case OPT_PASSWORD:
		return snprintf(o->password, sizeof o->password, "%s", arg) <
				       (int)sizeof o->password
			       ? 0
			       : -EINVAL;
	case OPT_USER:
		r->db.user = arg;
		return 0;
	case OPT_DBNAME:
		r->db.dbname = arg;
		return 0;
	case OPT_PGPORT:
	case OPT_LPORT:
		if (num(arg, 65535, &v) != 0 || v == 0)
			return -EINVAL;
		*(c == OPT_PGPORT ? &r->db.port : &r->leader_port) = (unsigned)v;
		return 0;
	case OPT_WTIMEOUT:
		if (num(arg, 3600000, &v) != 0 || v == 0)
			return -EINVAL;
		r->write_timeout_ms = (unsigned)v;
		return 0;
	case OPT_TIMEOUT:
		return num(arg, 86400, timeout_s);
	case OPT_VERIFY:
		o->verify_path = arg;
		return 0;
	case OPT_AT:
		o->at = arg;
		return 0;
	case OPT_DIRECT:
		r->direct = true;
		return pgw_parse_direct(arg, o->direct, sizeof o->direct, &r->db.port);
	case OPT_CTIMEOUT:
		return num(arg, 600000, &o->connect_timeout_ms) != 0 || o->connect_timeout_ms == 0
			       ? -EINVAL
			       : 0;
	case OPT_HISTORY:
		o->history_path = arg;
		r->db.history = true;
		return 0;
	case OPT_CLIENT:
	case OPT_ROUTE:
		*(c == OPT_CLIENT ? &r->client : &r->route) = arg;
		return pgw_name_ok(arg) ? 0 : -EINVAL;
	case OPT_IDBASE:
		if (num(arg, INT64_MAX / 2, &v) != 0)
			return -EINVAL;
		r->id_base = (int64_t)v;
		return 0;
	case OPT_IDS:
		o->ids = true;
		return 0;
	}
	return -EINVAL;
}

/* 0, 1 (--help: exit 0) or -EINVAL (usage printed). */
static int parse(struct opts *o, int argc, char **argv)
{
	uint64_t timeout_s = 0;
	int c;

	*o = (struct opts){.acked_path = "pgwrite.acked"};
	o->run = (struct pgw_run_opts){
		.leader_port = 7331, .write_timeout_ms = 1000, .acked_fd = -1};
	o->run.db = (struct pgw_db_opts){
		.user = "chef_pgsql", .dbname = "postgres", .table = "pgwrite", .port = 5432};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == '?' || set_opt(o, c, optarg, &timeout_s) != 0) {
			if (c != '?')
				fprintf(stderr, "pgwrite: bad value for --%s: %s\n",
					longopts[c - OPT_ROWS].name, optarg);
			usage(stderr);
			return -EINVAL;
		}
	}
	if (o->run.direct && (optind < argc || o->verify_path != NULL)) {
		fprintf(stderr, "pgwrite: --direct takes no HOST and no --verify (use --at)\n");
		usage(stderr);
		return -EINVAL;
	}
	if (o->run.direct && o->history_path != NULL && o->run.route == NULL) {
		fprintf(stderr,
			"pgwrite: --history with --direct needs --route (vip, haproxy...)\n");
		return -EINVAL;
	}
	if (o->ids && o->at == NULL) {
		fprintf(stderr, "pgwrite: --ids needs --at HOST\n");
		return -EINVAL;
	}
	if (o->run.direct)
		o->hosts[o->run.n_hosts++] = o->direct;
	o->run.db.connect_timeout_ms = (unsigned)(o->connect_timeout_ms ? o->connect_timeout_ms
						  : o->run.direct ? PGW_DIRECT_CONNECT_TIMEOUT_MS
								  : 0);
	for (; optind < argc && o->run.n_hosts < PGW_MAX_HOSTS; optind++)
		o->hosts[o->run.n_hosts++] = argv[optind];
	if (optind < argc || (o->run.n_hosts == 0 && o->at == NULL) ||
	    (o->verify_path == NULL && !o->ids && (o->run.rows == 0) == (o->run.seconds == 0))) {
		fprintf(stderr, "pgwrite: give 1 to %d hosts, and --rows or --seconds (one)\n",
			PGW_MAX_HOSTS);
		usage(stderr);
		return -EINVAL;
	}
	o->run.timeout_ms = 1000 * (timeout_s		       ? timeout_s
				    : o->verify_path || o->ids ? 30
				    : o->run.seconds	       ? o->run.seconds + 60
							       : 600);
	o->run.hosts = o->hosts;
	if (o->secrets != NULL && o->password[0] == '\0' && /* --password wins */
	    read_secrets(o->secrets, o->password, sizeof o->password) != 0)
		return -EINVAL;
	o->run.db.password = o->password[0] ? o->password : NULL;
	return 0;
}

/* Connect to --at or to the leader, within the run's timeout. */
static int verify_connect(const struct opts *o, struct pgw_conn *c)
{
	const struct pgw_run_opts *r = &o->run;
	uint64_t deadline = bs_clock_now_ms(bs_clock_real()) + r->timeout_ms;
	struct pgw_poller *p;
	const char *host = o->at;
	int i = -ETIMEDOUT, rv;

	if (host == NULL) {
		rv = pgw_poller_new(r->hosts, r->n_hosts, r->leader_port, PGW_HTTP_TIMEOUT_MS, &p);
		if (rv != 0)
			return rv;
		i = pgw_find_leader(p, r->n_hosts, deadline, &stop_flag, NULL);
		pgw_poller_free(p);
		if (i < 0) {
			fprintf(stderr, "pgwrite: no node answered 200 on /leader\n");
			return i;
		}
		host = r->hosts[i];
	}
	rv = pgw_db_connect(c, &r->db, host);
	if (rv != 0)
		fprintf(stderr, "pgwrite: %s: %s\n", host, c->errmsg);
	else
		printf("verify at=%s table=%s\n", host, r->db.table);
	return rv;
}

static void print_lost(const int64_t *lost, size_t n_lost)
{
	size_t i;

	if (n_lost == 0)
		return;
	printf("lost_ids=");
	for (i = 0; i < n_lost && i < LOST_SHOWN; i++)
		printf("%s%" PRId64, i ? "," : "", lost[i]);
	printf("%s\n", n_lost > LOST_SHOWN ? ",..." : "");
}

static int verify(const struct opts *o)
{
	struct pgw_conn c = {0};
	int64_t *acked = NULL, *present = NULL, lost[LOST_SHOWN];
	size_t n_acked, n_present, n_lost, extra;
	char errmsg[256];
	FILE *f;
	int rv;

	f = fopen(o->verify_path, "re");
	if (f == NULL) {
		fprintf(stderr, "pgwrite: %s: %s\n", o->verify_path, strerror(errno));
		return 3;
	}
	rv = pgw_ids_read(f, &acked, &n_acked, errmsg, sizeof errmsg);
	fclose(f);
	if (rv != 0) {
		fprintf(stderr, "pgwrite: %s: %s\n", o->verify_path, errmsg);
		return 3;
	}
	rv = verify_connect(o, &c);
	if (rv == 0)
		rv = pgw_db_ids(&c, o->run.db.table, 10000, &present, &n_present);
	if (rv != 0) {
		if (c.pg != NULL)
			fprintf(stderr, "pgwrite: %s\n", c.errmsg);
		pgw_db_close(&c);
		free(acked);
		return 3;
	}
	pgw_db_close(&c);
	n_lost = pgw_ids_compare(acked, n_acked, present, n_present, lost, LOST_SHOWN, &extra);
	printf("acknowledged=%zu present=%zu lost=%zu\n", n_acked, n_acked - n_lost, n_lost);
	print_lost(lost, n_lost);
	printf("unacknowledged_present=%zu\n", extra);
	free(acked);
	free(present);
	return n_lost == 0 ? 0 : 1;
}

/* --ids: every id of the table at --at, one a line, sorted. */
static int print_ids(const struct opts *o)
{
	struct pgw_conn c = {0};
	int64_t *ids = NULL;
	size_t i, n = 0;
	int rv;

	rv = pgw_db_connect(&c, &o->run.db, o->at);
	if (rv == 0)
		rv = pgw_db_ids(&c, o->run.db.table, 10000, &ids, &n);
	if (rv != 0) {
		fprintf(stderr, "pgwrite: %s: %s\n", o->at, c.errmsg);
		pgw_db_close(&c);
		return 3;
	}
	pgw_db_close(&c);
	for (i = 0; i < n; i++)
		printf("%" PRId64 "\n", ids[i]);
	free(ids);
	return fflush(stdout) == 0 ? 0 : 3;
}

static int write_rows(struct opts *o)
{
	static char client[32];
	int rv;

	if (o->history_path != NULL) {
		o->run.history = fopen(o->history_path, "ae");
		if (o->run.history == NULL) {
			fprintf(stderr, "pgwrite: %s: %s\n", o->history_path, strerror(errno));
			return 3;
		}
		if (o->run.client == NULL) {
			snprintf(client, sizeof client, "c%ld", (long)getpid());
			o->run.client = client;
		}
		if (o->run.route == NULL)
			o->run.route = "leader";
	}

	o->run.acked_fd =
		open(o->acked_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (o->run.acked_fd < 0) {
		fprintf(stderr, "pgwrite: %s: %s\n", o->acked_path, strerror(errno));
		return 3;
	}
	printf("pgwrite hosts=%zu table=%s rows=%" PRIu64 " seconds=%" PRIu64 " rate=%g\n",
	       o->run.n_hosts, o->run.db.table, o->run.rows, o->run.seconds, o->run.rate);
	rv = pgw_run(&o->run);
	close(o->run.acked_fd);
	if (o->run.history != NULL)
		fclose(o->run.history);
	if (rv < 0) {
		fprintf(stderr, "pgwrite: %s\n", strerror(-rv));
		return 3;
	}
	return rv;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns */
	struct opts o;
	int rv;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rv = parse(&o, argc, argv);
	if (rv != 0)
		return rv > 0 ? 0 : 2;
	o.run.stop = &stop_flag;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o.ids)
		return print_ids(&o);
	return o.verify_path != NULL ? verify(&o) : write_rows(&o);
}
