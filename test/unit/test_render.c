/*
 * tools/render_*.c: status, cluster-status and gen-server-config output,
 * compared in full with golden text (the table columns line up in the
 * source), and their JSON documents field by field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "render.h"
#include "unit.h"

#define GUID1 "79d84527cf937f3daa94c1435d0a4249"
#define GUID2 "c106c88745ef13517874d7301463afb9"
#define GUID3 "4d29bcb5eec25d3674d5b8af132f75b3"

/* ---- golden outputs --------------------------------------------------------
 *
 * Laid out so that the table columns line up here as they do on a terminal;
 * clang-format would split these lines, hence the off/on markers.
 */
/* clang-format off */
#define NOT_MANAGED_NOTE "Role, PG and ES read \"not managed\" where the leader module does not run (postgresql.enable false).\n"

static const char golden_cs_three_reached[] =
	"Name       IP         GUID                              Role      PG        ES       Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader    leader    healthy  leader     enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower  follower  healthy  follower   enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  follower  follower  healthy  follower   enabled   yes\n"
	"cluster failover: enabled\n";

static const char golden_cs_one_unreachable[] =
	"Name       IP         GUID                              Role         PG           ES           Consensus    Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader       leader       healthy      leader       enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower     follower     healthy      follower     enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  unreachable  unreachable  unreachable  unreachable  enabled   unreachable\n"
	"cluster failover: enabled\n"
	"could not reach backend-3 (127.0.0.4:2380): connection refused\n";

static const char golden_cs_standby[] =
	"Name       IP         GUID                              Role          PG        ES       Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader        leader    healthy  leader     enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower      follower  healthy  follower   enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  follower      follower  healthy  follower   enabled   yes\n"
	"backend-4  127.0.0.5  0123456789abcdef0123456789abcdef  initializing  down      healthy  standby    enabled   no: postgresql unhealthy\n"
	"cluster failover: enabled\n";

static const char golden_cs_empty_metadata[] =
	"Name        IP          GUID                              Role         PG           ES           Consensus    Failover  Eligible\n"
	"backend-1   127.0.0.2   " GUID1 "  leader       leader       healthy      leader       enabled   yes\n"
	"backend-2   127.0.0.3   " GUID2 "  follower     follower     healthy      follower     enabled   yes\n"
	"backend-3   127.0.0.4   " GUID3 "  follower     follower     healthy      follower     enabled   yes\n"
	"127.0.0.15  127.0.0.15  -                                 unreachable  unreachable  unreachable  unreachable  enabled   unreachable\n"
	"cluster failover: enabled\n"
	"could not reach 127.0.0.15 (127.0.0.15:2380): connection timed out\n";

static const char golden_cs_failover_disabled[] =
	"Name       IP         GUID                              Role      PG        ES       Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader    leader    healthy  leader     enabled   no: cluster failover off\n"
	"backend-2  127.0.0.3  " GUID2 "  follower  follower  healthy  follower   disabled  no: node failover off, cluster failover off\n"
	"backend-3  127.0.0.4  " GUID3 "  follower  follower  healthy  follower   enabled   no: cluster failover off\n"
	"cluster failover: disabled\n";

/* "b\xc3\xa9-2" is 4 characters in 5 bytes. */
static const char golden_cs_sanitized[] =
	"Name       IP         GUID                              Role         PG           ES           Consensus    Failover  Eligible\n"
	"b?[2J-1    127.0.0.2  " GUID1 "  leader       leader       healthy      leader       enabled   yes\n"
	"b\xc3\xa9""-2       127.0.0.3  " GUID2 "  fol?lower    follower     healthy      follower     enabled   no: bad?[2Jreason\n"
	"backend-3  127.0.0.4  " GUID3 "  unreachable  unreachable  unreachable  unreachable  enabled   unreachable\n"
	"cluster failover: enabled\n"
	"could not reach backend-3 (127.0.0.4:2380): bad?line\n";

static const char golden_cs_deposed_syncing[] =
	"Name       IP         GUID                              Role                PG           ES       Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  deposed_leader      down         healthy  leader     enabled   no: postgresql unhealthy\n"
	"backend-2  127.0.0.3  " GUID2 "  leader              leader       healthy  follower   enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  waiting_for_leader  syncing 40%  healthy  follower   enabled   no: postgresql unhealthy, partially synced\n"
	"cluster failover: enabled\n";

static const char golden_cs_blocked[] =
	"Name       IP         GUID                              Role      PG        ES         Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader    leader    healthy    leader     enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower  follower  unhealthy  follower   enabled   no: elasticsearch unhealthy\n"
	"backend-3  127.0.0.4  " GUID3 "  follower  down      healthy    follower   disabled  no: postgresql unhealthy, node failover off\n"
	"cluster failover: enabled\n";

static const char golden_cs_mixed[] =
	"Name       IP         GUID                              Role         PG           ES           Consensus    Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader       leader       healthy      leader       enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower     follower     healthy      follower     enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  unreachable  unreachable  unreachable  unreachable  enabled   unreachable\n"
	"backend-4  127.0.0.5  0123456789abcdef0123456789abcdef  not managed  not managed  not managed  follower     enabled   -\n"
	"cluster failover: enabled\n"
	NOT_MANAGED_NOTE
	"could not reach backend-3 (127.0.0.4:2380): connection refused\n";

static const char golden_cs_none_managed[] =
	"Name       IP         GUID                              Role         PG           ES           Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  not managed  not managed  not managed  leader     enabled   -\n"
	"backend-2  127.0.0.3  " GUID2 "  not managed  not managed  not managed  follower   enabled   -\n"
	"backend-3  127.0.0.4  " GUID3 "  not managed  not managed  not managed  follower   enabled   -\n"
	"cluster failover: enabled\n"
	NOT_MANAGED_NOTE;

static const char golden_status_green[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4242)  0d 0h 43m 35s  leader: 1; waiting: 0; follower: 2; total: 3\n"
	"consensus      running (pid 4242)  0d 0h 43m 35s  health: green; healthy nodes: 3/3; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 0; syncing: 0; synced: 2\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 3/3\n";

static const char golden_status_yellow[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4243)  0d 0h 43m 30s  leader: 1; waiting: 0; follower: 1; unreachable: 1; total: 3\n"
	"consensus      running (pid 4243)  0d 0h 43m 30s  health: yellow; healthy nodes: 2/3; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 1; syncing: 0; synced: 1\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 2/3\n"
	"could not reach backend-3 (127.0.0.4:2380): connection refused\n";

static const char golden_status_red[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4242)  0d 0h 43m 35s  leader: 1; waiting: 0; follower: 2; total: 3\n"
	"consensus      running (pid 4242)  0d 0h 43m 35s  health: red; healthy nodes: 1/3; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 0; syncing: 0; synced: 2\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 3/3\n";

static const char golden_status_leader_none[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4244)  1d 1h 1m 1s    leader: 0; waiting: 3; follower: 0; total: 3\n"
	"consensus      running (pid 4244)  1d 1h 1m 1s    health: red; healthy nodes: 0/3; leader: none\n"
	"postgresql     running             -              leader: 0; offline: 3; syncing: 0; synced: 0\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 3/3\n";

static const char golden_status_local_unreachable[] =
	"Service        Local Status  Time in State  Distributed Node Status\n"
	"leader         unreachable   -              leader: 0; waiting: 0; follower: 2; unreachable: 1; total: 3\n"
	"consensus      unreachable   -              health: yellow; healthy nodes: 2/3; leader: none\n"
	"postgresql     unreachable   -              leader: 0; offline: 1; syncing: 0; synced: 2\n"
	"elasticsearch  unreachable   -              state: healthy; nodes checked: 2/3\n"
	"could not reach backend-1 (127.0.0.2:2380): connection refused\n";

static const char golden_status_deposed_syncing[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4243)  0d 0h 43m 30s  leader: 1; waiting: 2; follower: 0; total: 3\n"
	"consensus      running (pid 4243)  0d 0h 43m 30s  health: green; healthy nodes: 3/3; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 1; syncing: 1; synced: 0\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 3/3\n";

static const char golden_status_blocked[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4244)  0d 0h 43m 25s  leader: 1; waiting: 0; follower: 2; total: 3\n"
	"consensus      running (pid 4244)  0d 0h 43m 25s  health: green; healthy nodes: 3/3; leader: backend-1\n"
	"postgresql     down                -              leader: 1; offline: 1; syncing: 0; synced: 1\n"
	"elasticsearch  healthy             -              state: degraded; nodes checked: 3/3\n";

static const char golden_status_mixed[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4242)  0d 0h 43m 35s  leader: 1; waiting: 0; follower: 1; unreachable: 1; not managed: 1; total: 4\n"
	"consensus      running (pid 4242)  0d 0h 43m 35s  health: yellow; healthy nodes: 3/4; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 1; syncing: 0; synced: 1; not managed: 1\n"
	"elasticsearch  healthy             -              state: healthy; nodes checked: 2/4\n"
	"could not reach backend-3 (127.0.0.4:2380): connection refused\n";

static const char golden_status_none_managed[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         not managed         -              no reached node runs the leader module (postgresql.enable false)\n"
	"consensus      running (pid 4242)  0d 0h 43m 35s  health: green; healthy nodes: 3/3; leader: backend-1\n"
	"postgresql     not managed         -              no reached node manages PostgreSQL (postgresql.enable false)\n"
	"elasticsearch  not managed         -              no reached node checks Elasticsearch (postgresql.enable false)\n";

static const char golden_status_es_disabled[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         running (pid 4242)  0d 0h 43m 35s  leader: 1; waiting: 0; follower: 2; total: 3\n"
	"consensus      running (pid 4242)  0d 0h 43m 35s  health: green; healthy nodes: 3/3; leader: backend-1\n"
	"postgresql     running             -              leader: 1; offline: 0; syncing: 0; synced: 2\n"
	"elasticsearch  not checked         -              not checked (elasticsearch.enable false)\n";

static const char golden_status_mixed_not_managed[] =
	"Service        Local Status        Time in State  Distributed Node Status\n"
	"leader         not managed         -              leader: 1; waiting: 0; follower: 1; unreachable: 1; not managed: 1; total: 4\n"
	"consensus      running (pid 4245)  0d 0h 1m 30s   health: yellow; healthy nodes: 3/4; leader: backend-1\n"
	"postgresql     not managed         -              leader: 1; offline: 1; syncing: 0; synced: 1; not managed: 1\n"
	"elasticsearch  not managed         -              state: healthy; nodes checked: 2/4\n"
	"could not reach backend-3 (127.0.0.4:2380): connection refused\n";

static const char golden_cs_es_disabled[] =
	"Name       IP         GUID                              Role      PG        ES        Consensus  Failover  Eligible\n"
	"backend-1  127.0.0.2  " GUID1 "  leader    leader    disabled  leader     enabled   yes\n"
	"backend-2  127.0.0.3  " GUID2 "  follower  follower  disabled  follower   enabled   yes\n"
	"backend-3  127.0.0.4  " GUID3 "  follower  follower  disabled  follower   enabled   yes\n"
	"cluster failover: enabled\n";

/* 3 members, every port changed, ' and \ in the superuser and the password. */
static const char golden_server_config[] =
	"# /etc/opscode/chef-server.rb for the Chef Infra Server frontend fe1.example.com.\n"
	"# Generated by backstay gen-server-config on backend-1 for fe1.example.com.\n"
	"# It contains the database superuser's password: keep it mode 0600 and\n"
	"# never commit it to version control.\n"
	"\n"
	"api_fqdn 'fe1.example.com'\n"
	"\n"
	"# This frontend reaches the backend cluster through its own HAProxy,\n"
	"# which sends PostgreSQL and Elasticsearch traffic to the member whose\n"
	"# GET /leader health check answers 200.\n"
	"use_chef_backend true\n"
	"chef_backend_members ['127.0.0.2', '127.0.0.3', '127.0.0.4']\n"
	"haproxy['remote_postgresql_port'] = 5433\n"
	"haproxy['remote_elasticsearch_port'] = 9201\n"
	"haproxy['leaderl_healthcheck_port'] = 7332\n"
	"haproxy['etcd_port'] = 2479\n"
	"\n"
	"postgresql['external'] = true\n"
	"postgresql['vip'] = '127.0.0.1'\n"
	"postgresql['db_superuser'] = 'chef_pg\\'sql'\n"
	"postgresql['db_superuser_password'] = 'it\\'s\\\\a\\'secret\\\\'\n"
	"\n"
	"elasticsearch['external'] = true\n"
	"elasticsearch['external_url'] = 'http://127.0.0.1:9200'\n"
	"opscode_erchef['search_provider'] = 'elasticsearch'\n"
	"opscode_erchef['search_queue_mode'] = 'batch'\n"
	"\n"
	"bookshelf['storage_type'] = :sql\n"
	"\n"
	"rabbitmq['enable'] = false\n"
	"rabbitmq['management_enabled'] = false\n"
	"rabbitmq['queue_length_monitor_enabled'] = false\n"
	"opscode_expander['enable'] = false\n"
	"dark_launch['actions'] = false\n"
	"\n"
	"opscode_erchef['nginx_bookshelf_caching'] = :on\n"
	"opscode_erchef['s3_url_expiry_window_size'] = '50%'\n";
/* clang-format on */

/* ---- fixtures ------------------------------------------------------------- */

#define MAX_NODES 5

/* A cluster.members answer, each node's status answer, and the views. */
struct cluster {
	json_t *members_answer;
	json_t *status[MAX_NODES];
	struct cli_node_view v[MAX_NODES];
	size_t n;
};

static json_t *member(json_int_t id, const char *address, bool voter, const char *name,
		      const char *guid, const char *publish_address, const char *failover)
{
	json_t *m = json_pack("{s:I, s:s, s:b, s:s, s:s, s:s, s:s}", "id", id, "address", address,
			      "voter", voter, "name", name, "guid", guid, "publish_address",
			      publish_address, "node_failover", failover);

	assert_non_null(m);
	return m;
}

static json_t *status_answer(json_int_t id, const char *role, json_int_t leader_id,
			     bool disk_failing, json_int_t pid, json_int_t uptime_s)
{
	json_t *st =
		json_pack("{s:I, s:s, s:b, s:I, s:I, s:s, s:b, s:[], s:s, s:{s:I, s:I}}", "id", id,
			  "role", role, "ready", 1, "term", (json_int_t)3, "leader_id", leader_id,
			  "leader_address", "127.0.0.2:2380", "disk_failing", disk_failing,
			  "members", "error", "", "node", "pid", pid, "uptime_s", uptime_s);

	assert_non_null(st);
	return st;
}

/* A status answer's "leader" object for a node in `state`, as the leader
 * module of a healthy cluster reports it (backend-1, id 101, holds the
 * lease); tests change the fields they need with module_set(). */
static json_t *module(const char *state)
{
	bool leads = strcmp(state, "leader") == 0 || strcmp(state, "promoting") == 0;
	json_t *l =
		json_pack("{s:s, s:b, s:s, s:I, s:I, s:b, s:s, s:b, s:b, s:I, s:s, s:I, s:s, "
			  "s:I, s:I, s:b}",
			  "state", state, "eligible", 1, "blocked", "", "holder", (json_int_t)101,
			  "epoch", (json_int_t)7, "serving", strcmp(state, "leader") == 0, "why",
			  "", "pg_ok", 1, "in_recovery", !leads, "timeline", (json_int_t)3, "lsn",
			  leads ? "16/B374D848" : "16/B374D6F0", "standbys_streaming",
			  (json_int_t)(leads ? 2 : 0), "es", "healthy", "progress", (json_int_t)-1,
			  "failovers", (json_int_t)1, "partially_synced", 0);

	assert_non_null(l);
	return l;
}

/* Node i's "leader" object: replaced by l (NULL: removed, the node runs
 * without the leader module). */
static void node_module(struct cluster *c, size_t i, json_t *l)
{
	if (l == NULL)
		assert_int_equal(json_object_del(c->status[i], "leader"), 0);
	else
		assert_int_equal(json_object_set_new(c->status[i], "leader", l), 0);
}

/* Node i's leader.key = value (a new reference, taken). */
static void module_set(struct cluster *c, size_t i, const char *key, json_t *value)
{
	assert_int_equal(json_object_set_new(json_object_get(c->status[i], "leader"), key, value),
			 0);
}

/* Node i is not eligible, for `why`. */
static void module_block(struct cluster *c, size_t i, const char *why)
{
	module_set(c, i, "eligible", json_false());
	module_set(c, i, "blocked", json_string(why));
}

/* backend-1 (leader, id 101), backend-2, backend-3 (followers), all reached,
 * each running the leader module, failover enabled everywhere. Tests change
 * what they need before cluster_views(). */
static void cluster_init(struct cluster *c)
{
	memset(c, 0, sizeof *c);
	c->members_answer = json_pack(
		"{s:s, s:I, s:[o, o, o]}", "cluster_failover", "enabled", "leader_id",
		(json_int_t)101, "members",
		member(101, "127.0.0.2:2380", true, "backend-1", GUID1, "127.0.0.2", "enabled"),
		member(102, "127.0.0.3:2380", true, "backend-2", GUID2, "127.0.0.3", "enabled"),
		member(103, "127.0.0.4:2380", true, "backend-3", GUID3, "127.0.0.4", "enabled"));
	assert_non_null(c->members_answer);
	c->n = 3;
	c->status[0] = status_answer(101, "leader", 101, false, 4242, 2615);
	c->status[1] = status_answer(102, "follower", 101, false, 4243, 2610);
	c->status[2] = status_answer(103, "follower", 101, false, 4244, 2605);
	node_module(c, 0, module("leader"));
	node_module(c, 1, module("follower"));
	node_module(c, 2, module("follower"));
}

static void cluster_add(struct cluster *c, json_t *m, json_t *status)
{
	assert_true(c->n < MAX_NODES);
	assert_int_equal(json_array_append_new(json_object_get(c->members_answer, "members"), m),
			 0);
	c->status[c->n++] = status;
}

/* Node i could not be reached. */
static void cluster_unreach(struct cluster *c, size_t i, const char *error)
{
	json_decref(c->status[i]);
	c->status[i] = NULL;
	c->v[i].error = error;
}

static void cluster_views(struct cluster *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->v[i].member = json_array_get(json_object_get(c->members_answer, "members"), i);
		c->v[i].status = c->status[i];
	}
}

static void cluster_free(struct cluster *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		json_decref(c->status[i]);
	json_decref(c->members_answer);
}

/* ---- capturing output ----------------------------------------------------- */

struct capture {
	FILE *f;
	char *text;
	size_t len;
};

static FILE *capture_start(struct capture *cap)
{
	cap->text = NULL;
	cap->f = open_memstream(&cap->text, &cap->len);
	assert_non_null(cap->f);
	return cap->f;
}

/* The text written; the caller frees it. */
static char *capture_end(struct capture *cap)
{
	assert_int_equal(fclose(cap->f), 0);
	return cap->text;
}

static void assert_cluster_status(struct cluster *c, const char *expected)
{
	struct capture cap;
	char *text;

	cluster_views(c);
	cli__render_cluster_status(capture_start(&cap), c->members_answer, c->v, c->n);
	text = capture_end(&cap);
	assert_string_equal(text, expected);
	free(text);
}

static void assert_status(struct cluster *c, size_t local, const char *expected)
{
	struct capture cap;
	char *text;

	cluster_views(c);
	cli__render_status(capture_start(&cap), c->status[local], c->v, c->n);
	text = capture_end(&cap);
	assert_string_equal(text, expected);
	free(text);
}

/* The document as it will reach a reader: dumped, then parsed again. */
static json_t *round_trip(json_t *doc)
{
	char *text;
	json_t *back;

	assert_non_null(doc);
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	assert_non_null(text);
	json_decref(doc);
	back = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(back);
	return back;
}

static void assert_json_str(const json_t *obj, const char *key, const char *expected)
{
	const json_t *v = json_object_get(obj, key);

	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), expected);
}

static void assert_json_int(const json_t *obj, const char *key, json_int_t expected)
{
	const json_t *v = json_object_get(obj, key);

	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), expected);
}

static void assert_json_null(const json_t *obj, const char *key)
{
	assert_true(json_is_null(json_object_get(obj, key)));
}

/* ---- cluster-status: text ------------------------------------------------- */

static void cluster_status_three_reached(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	assert_cluster_status(&c, golden_cs_three_reached);
	cluster_free(&c);
}

static void cluster_status_one_unreachable(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	cluster_unreach(&c, 2, "connection refused");
	assert_cluster_status(&c, golden_cs_one_unreachable);
	cluster_free(&c);
}

/* A standby still starting: its PostgreSQL is not up yet. */
static void cluster_status_standby(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	cluster_add(&c,
		    member(104, "127.0.0.5:2380", false, "backend-4",
			   "0123456789abcdef0123456789abcdef", "127.0.0.5", "enabled"),
		    status_answer(104, "follower", 101, false, 4245, 3));
	node_module(&c, 3, module("initializing"));
	module_set(&c, 3, "pg_ok", json_false());
	module_block(&c, 3, "postgresql unhealthy");
	assert_cluster_status(&c, golden_cs_standby);
	cluster_free(&c);
}

/* A member whose metadata is not written yet: its address's host stands for
 * its name and IP, "-" for its GUID; unreached, it is named the same way. */
static void cluster_status_empty_metadata(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	cluster_add(&c, member(104, "127.0.0.15:2380", false, "", "", "", "enabled"), NULL);
	cluster_unreach(&c, 3, "connection timed out");
	assert_cluster_status(&c, golden_cs_empty_metadata);
	cluster_free(&c);
}

/* Failover off for the cluster and for backend-2: nobody is eligible, and
 * each says why. */
static void cluster_status_failover_disabled(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	json_object_set_new(c.members_answer, "cluster_failover", json_string("disabled"));
	json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), 1),
			    "node_failover", json_string("disabled"));
	module_block(&c, 0, "cluster failover off");
	module_block(&c, 1, "node failover off, cluster failover off");
	module_block(&c, 2, "cluster failover off");
	assert_cluster_status(&c, golden_cs_failover_disabled);
	cluster_free(&c);
}

/* Names, states and reasons come from other nodes: no escape sequence
 * reaches the terminal, and a multi-byte name is padded by characters, not
 * bytes. */
static void cluster_status_sanitizes_and_counts_characters(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), 0), "name",
			    json_string("b\x1b[2J-1"));
	json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), 1), "name",
			    json_string("b\xc3\xa9-2"));
	module_set(&c, 1, "state", json_string("fol\rlower"));
	module_block(&c, 1, "bad\x1b[2Jreason");
	cluster_unreach(&c, 2, "bad\nline");
	assert_cluster_status(&c, golden_cs_sanitized);
	cluster_free(&c);
}

/* After a failover: backend-1 deposed (its PostgreSQL stopped), backend-2
 * leads, backend-3 takes a base backup (40%) after a failed one. */
static void deposed_and_syncing(struct cluster *c)
{
	cluster_init(c);
	node_module(c, 0, module("deposed_leader"));
	module_set(c, 0, "pg_ok", json_false());
	module_set(c, 0, "in_recovery", json_false());
	module_set(c, 0, "lsn", json_string("16/B374D848"));
	module_set(c, 0, "holder", json_integer(102));
	module_set(c, 0, "epoch", json_integer(8));
	module_set(c, 0, "why", json_string("lease lost to node 102"));
	module_block(c, 0, "postgresql unhealthy");
	node_module(c, 1, module("leader"));
	module_set(c, 1, "holder", json_integer(102));
	module_set(c, 1, "epoch", json_integer(8));
	module_set(c, 1, "timeline", json_integer(4));
	module_set(c, 1, "failovers", json_integer(2));
	node_module(c, 2, module("waiting_for_leader"));
	module_set(c, 2, "pg_ok", json_false());
	module_set(c, 2, "progress", json_integer(40));
	module_set(c, 2, "partially_synced", json_true());
	module_block(c, 2, "postgresql unhealthy, partially synced");
}

static void cluster_status_deposed_and_syncing(void **state)
{
	struct cluster c;

	(void)state;
	deposed_and_syncing(&c);
	assert_cluster_status(&c, golden_cs_deposed_syncing);
	cluster_free(&c);
}

/* backend-2's Elasticsearch is unhealthy, backend-3's PostgreSQL down with
 * its node failover off: both blocked, for their reasons. */
static void blocked(struct cluster *c)
{
	cluster_init(c);
	module_set(c, 1, "es", json_string("unhealthy"));
	module_block(c, 1, "elasticsearch unhealthy");
	module_set(c, 2, "pg_ok", json_false());
	module_block(c, 2, "postgresql unhealthy, node failover off");
	json_object_set_new(json_array_get(json_object_get(c->members_answer, "members"), 2),
			    "node_failover", json_string("disabled"));
}

static void cluster_status_blocked(void **state)
{
	struct cluster c;

	(void)state;
	blocked(&c);
	assert_cluster_status(&c, golden_cs_blocked);
	cluster_free(&c);
}

/* Leader, follower, a node not reached and one without PostgreSQL
 * (postgresql.enable false: no "leader" object). */
static void mixed(struct cluster *c)
{
	cluster_init(c);
	cluster_unreach(c, 2, "connection refused");
	cluster_add(c,
		    member(104, "127.0.0.5:2380", true, "backend-4",
			   "0123456789abcdef0123456789abcdef", "127.0.0.5", "enabled"),
		    status_answer(104, "follower", 101, false, 4245, 90));
}

static void cluster_status_mixed(void **state)
{
	struct cluster c;

	(void)state;
	mixed(&c);
	assert_cluster_status(&c, golden_cs_mixed);
	cluster_free(&c);
}

/* No node runs the leader module. */
static void cluster_status_none_managed(void **state)
{
	struct cluster c;
	size_t i;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		node_module(&c, i, NULL);
	assert_cluster_status(&c, golden_cs_none_managed);
	cluster_free(&c);
}

static void member_name_falls_back_to_host(void **state)
{
	char buf[64];
	json_t *m;

	(void)state;
	m = member(1, "[fd00::1]:2380", true, "", "", "", "enabled");
	assert_string_equal(cli__member_name(m, buf, sizeof buf), "fd00::1");
	json_object_set_new(m, "address", json_string("10.1.2.3:2380"));
	assert_string_equal(cli__member_name(m, buf, sizeof buf), "10.1.2.3");
	json_object_set_new(m, "address", json_string("backend.example.com"));
	assert_string_equal(cli__member_name(m, buf, sizeof buf), "backend.example.com");
	json_object_set_new(m, "address", json_string("fd00::2"));
	assert_string_equal(cli__member_name(m, buf, sizeof buf), "fd00::2");
	json_object_set_new(m, "name", json_string("backend-9"));
	assert_string_equal(cli__member_name(m, buf, sizeof buf), "backend-9");
	json_decref(m);
}

/* ---- cluster-status: JSON ------------------------------------------------- */

static void assert_json_bool(const json_t *obj, const char *key, bool expected)
{
	const json_t *v = json_object_get(obj, key);

	assert_true(json_is_boolean(v));
	assert_int_equal(json_is_true(v), expected);
}

/* What a cluster-status node says of the leader module; NULL role: all
 * null (not reached, or not managed). */
struct cs_module_expect {
	const char *role, *pg, *es;
	bool eligible;
	const char *blocked;
	bool partially_synced;
	json_int_t epoch;
	const char *lsn;
	json_int_t timeline;
	bool serving;
	const char *why;
};

static void assert_cs_module(const json_t *node, const struct cs_module_expect *e)
{
	static const char *const keys[] = {"eligible", "blocked",  "partially_synced", "epoch",
					   "lsn",      "timeline", "serving",	       "why"};
	size_t i;

	if (e->role == NULL) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
			assert_json_null(node, keys[i]);
		return;
	}
	assert_json_str(node, "role", e->role);
	assert_json_str(node, "pg", e->pg);
	assert_json_str(node, "es", e->es);
	assert_json_bool(node, "eligible", e->eligible);
	assert_json_str(node, "blocked", e->blocked);
	assert_json_bool(node, "partially_synced", e->partially_synced);
	assert_json_int(node, "epoch", e->epoch);
	assert_json_str(node, "lsn", e->lsn);
	assert_json_int(node, "timeline", e->timeline);
	assert_json_bool(node, "serving", e->serving);
	assert_json_str(node, "why", e->why);
}

/* The member's and Raft's fields of a cluster-status node. */
static void assert_cs_node(const json_t *node, const char *name, const char *ip, const char *guid,
			   json_int_t id, const char *address, const char *consensus, bool voter,
			   const char *failover, const char *error)
{
	assert_int_equal(json_object_size(node), 21);
	assert_json_str(node, "name", name);
	assert_json_str(node, "ip", ip);
	if (guid != NULL)
		assert_json_str(node, "guid", guid);
	else
		assert_json_null(node, "guid");
	assert_json_int(node, "id", id);
	assert_json_str(node, "address", address);
	assert_json_str(node, "consensus", consensus);
	assert_json_bool(node, "voter", voter);
	assert_json_str(node, "failover", failover);
	assert_json_bool(node, "reachable", error == NULL);
	if (error != NULL)
		assert_json_str(node, "error", error);
	else
		assert_json_null(node, "error");
}

/* Role, PG and ES cells of a node without the module's fields. */
static void assert_cs_cells(const json_t *node, const char *text)
{
	assert_json_str(node, "role", text);
	assert_json_str(node, "pg", text);
	assert_json_str(node, "es", text);
}

static void cluster_status_json_fields(void **state)
{
	static const struct cs_module_expect leader = {.role = "leader",
						       .pg = "leader",
						       .es = "healthy",
						       .eligible = true,
						       .blocked = "",
						       .partially_synced = false,
						       .epoch = 7,
						       .lsn = "16/B374D848",
						       .timeline = 3,
						       .serving = true,
						       .why = ""};
	static const struct cs_module_expect blocked_follower = {
		.role = "follower",
		.pg = "follower",
		.es = "healthy",
		.eligible = false,
		.blocked = "node failover off",
		.partially_synced = false,
		.epoch = 7,
		.lsn = "16/B374D6F0",
		.timeline = 3,
		.serving = false,
		.why = "follow: upstream node 101"};
	static const struct cs_module_expect none = {.role = NULL};
	struct cluster c;
	const json_t *nodes, *unreachable;
	json_t *doc;

	(void)state;
	cluster_init(&c);
	json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), 1),
			    "node_failover", json_string("disabled"));
	/* leader/orch_ctl.c's "blocked" reads "eligible" then: "" here. */
	module_set(&c, 0, "blocked", json_string("eligible"));
	module_block(&c, 1, "node failover off");
	module_set(&c, 1, "why", json_string("follow: upstream node 101"));
	cluster_unreach(&c, 2, "connection refused");
	cluster_add(&c, member(104, "127.0.0.5:2380", false, "", "", "", "enabled"),
		    status_answer(104, "follower", 101, false, 4245, 3));
	cluster_views(&c);
	doc = round_trip(cli__cluster_status_json(c.members_answer, c.v, c.n));

	assert_int_equal(json_object_size(doc), 4);
	assert_json_str(doc, "cluster_failover", "enabled");
	assert_json_str(doc, "leader", "backend-1");
	nodes = json_object_get(doc, "nodes");
	assert_int_equal(json_array_size(nodes), 4);
	assert_cs_node(json_array_get(nodes, 0), "backend-1", "127.0.0.2", GUID1, 101,
		       "127.0.0.2:2380", "leader", true, "enabled", NULL);
	assert_cs_module(json_array_get(nodes, 0), &leader);
	assert_cs_node(json_array_get(nodes, 1), "backend-2", "127.0.0.3", GUID2, 102,
		       "127.0.0.3:2380", "follower", true, "disabled", NULL);
	assert_cs_module(json_array_get(nodes, 1), &blocked_follower);
	assert_cs_node(json_array_get(nodes, 2), "backend-3", "127.0.0.4", GUID3, 103,
		       "127.0.0.4:2380", "unreachable", true, "enabled", "connection refused");
	assert_cs_cells(json_array_get(nodes, 2), "unreachable");
	assert_cs_module(json_array_get(nodes, 2), &none);
	assert_cs_node(json_array_get(nodes, 3), "127.0.0.5", "127.0.0.5", NULL, 104,
		       "127.0.0.5:2380", "standby", false, "enabled", NULL);
	assert_cs_cells(json_array_get(nodes, 3), "not managed");
	assert_cs_module(json_array_get(nodes, 3), &none);
	unreachable = json_object_get(doc, "unreachable");
	assert_int_equal(json_array_size(unreachable), 1);
	assert_string_equal(json_string_value(json_array_get(unreachable, 0)), "backend-3");
	json_decref(doc);
	cluster_free(&c);
}

/* The deposed leader and the syncing node, field by field. */
static void cluster_status_json_deposed_and_syncing(void **state)
{
	static const struct cs_module_expect deposed = {.role = "deposed_leader",
							.pg = "down",
							.es = "healthy",
							.eligible = false,
							.blocked = "postgresql unhealthy",
							.partially_synced = false,
							.epoch = 8,
							.lsn = "16/B374D848",
							.timeline = 3,
							.serving = false,
							.why = "lease lost to node 102"};
	static const struct cs_module_expect leader = {.role = "leader",
						       .pg = "leader",
						       .es = "healthy",
						       .eligible = true,
						       .blocked = "",
						       .partially_synced = false,
						       .epoch = 8,
						       .lsn = "16/B374D848",
						       .timeline = 4,
						       .serving = true,
						       .why = ""};
	static const struct cs_module_expect syncing = {
		.role = "waiting_for_leader",
		.pg = "syncing 40%",
		.es = "healthy",
		.eligible = false,
		.blocked = "postgresql unhealthy, partially synced",
		.partially_synced = true,
		.epoch = 7,
		.lsn = "16/B374D6F0",
		.timeline = 3,
		.serving = false,
		.why = ""};
	struct cluster c;
	const json_t *nodes;
	json_t *doc;

	(void)state;
	deposed_and_syncing(&c);
	cluster_views(&c);
	doc = round_trip(cli__cluster_status_json(c.members_answer, c.v, c.n));
	nodes = json_object_get(doc, "nodes");
	assert_int_equal(json_array_size(nodes), 3);
	assert_cs_module(json_array_get(nodes, 0), &deposed);
	assert_cs_module(json_array_get(nodes, 1), &leader);
	assert_cs_module(json_array_get(nodes, 2), &syncing);
	json_decref(doc);
	cluster_free(&c);
}

/* The PG cell's other cases: promoting leads; "sync_percent" stands in for
 * a missing "progress"; a primary that does not lead says so. */
static void cluster_status_json_pg_cells(void **state)
{
	struct cluster c;
	const json_t *nodes;
	json_t *doc;

	(void)state;
	cluster_init(&c);
	node_module(&c, 0, module("promoting"));
	assert_int_equal(json_object_del(json_object_get(c.status[1], "leader"), "progress"), 0);
	module_set(&c, 1, "sync_percent", json_integer(55));
	node_module(&c, 2, module("waiting_for_leader"));
	module_set(&c, 2, "in_recovery", json_false());
	cluster_views(&c);
	doc = round_trip(cli__cluster_status_json(c.members_answer, c.v, c.n));
	nodes = json_object_get(doc, "nodes");
	assert_json_str(json_array_get(nodes, 0), "role", "promoting");
	assert_json_str(json_array_get(nodes, 0), "pg", "leader");
	assert_json_str(json_array_get(nodes, 1), "pg", "syncing 55%");
	assert_json_str(json_array_get(nodes, 2), "pg", "primary");
	json_decref(doc);
	cluster_free(&c);
}

static void cluster_status_json_no_leader(void **state)
{
	struct cluster c;
	json_t *doc;

	(void)state;
	cluster_init(&c);
	json_object_set_new(c.members_answer, "leader_id", json_integer(0));
	json_object_set_new(c.members_answer, "cluster_failover", json_string("disabled"));
	cluster_views(&c);
	doc = round_trip(cli__cluster_status_json(c.members_answer, c.v, c.n));
	assert_json_null(doc, "leader");
	assert_json_str(doc, "cluster_failover", "disabled");
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
	assert_true(json_is_array(json_object_get(doc, "unreachable")));
	assert_int_equal(json_array_size(json_object_get(doc, "unreachable")), 0);
	json_decref(doc);
	cluster_free(&c);
}

/* ---- status: text --------------------------------------------------------- */

static void status_green(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	assert_status(&c, 0, golden_status_green);
	cluster_free(&c);
}

/* With vip set, a fifth row: asked on a follower (not held, its keeper's
 * error shown), the leader holds it; two holders are counted, never hidden. */
static void status_vip(void **state)
{
	static const char want[] = "Service        Local Status                 Time in State  "
				   "Distributed Node Status\n"
				   "leader         running (pid 4243)           0d 0h 43m 30s  "
				   "leader: 1; waiting: 0; follower: 2; total: 3\n"
				   "consensus      running (pid 4243)           0d 0h 43m 30s  "
				   "health: green; healthy nodes: 3/3; leader: backend-1\n"
				   "postgresql     running                      -              "
				   "leader: 1; offline: 0; syncing: 0; synced: 2\n"
				   "elasticsearch  healthy                      -              "
				   "state: healthy; nodes checked: 3/3\n"
				   "vip            not held; no such interface  -              "
				   "10.0.0.100 on eth0; held by: backend-1\n";
	struct cluster c;
	struct capture cap;
	char *text;
	size_t i;
	json_t *doc, *svc;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		module_set(&c, i, "vip",
			   json_pack("{s:s, s:s, s:b, s:s, s:I, s:I}", "address", "10.0.0.100",
				     "interface", "eth0", "held", i == 0, "error",
				     i == 1 ? "no such interface" : "", "repairs", (json_int_t)0,
				     "removed_stale", (json_int_t)0));
	assert_status(&c, 1, want);
	doc = round_trip(cli__status_json(c.status[1], c.v, c.n));
	svc = json_array_get(json_object_get(doc, "services"), 4);
	assert_json_str(svc, "name", "vip");
	assert_json_str(svc, "distributed", "10.0.0.100 on eth0; held by: backend-1");
	json_decref(doc);
	module_set(&c, 2, "vip",
		   json_pack("{s:s, s:s, s:b, s:s}", "address", "10.0.0.100", "interface", "eth0",
			     "held", 1, "error", ""));
	cluster_views(&c);
	cli__render_status(capture_start(&cap), c.status[1], c.v, c.n);
	text = capture_end(&cap);
	assert_non_null(strstr(text, "held by: backend-1, backend-3 (2 holders)\n"));
	free(text);
	cluster_free(&c);
}

/* 2/3: one node not reached; asked on a follower. */
static void status_yellow(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	cluster_unreach(&c, 2, "connection refused");
	assert_status(&c, 1, golden_status_yellow);
	cluster_free(&c);
}

/* 1/3: one node failed, one with a failing disk. */
static void status_red(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	json_object_set_new(c.status[1], "role", json_string("failed"));
	json_object_set_new(c.status[2], "disk_failing", json_true());
	assert_status(&c, 0, golden_status_red);
	cluster_free(&c);
}

/* No leader known anywhere: nobody is healthy, and the leader is "none";
 * the leader module waits everywhere, its standbys are not synced. */
static void status_leader_none(void **state)
{
	struct cluster c;
	size_t i;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++) {
		json_object_set_new(c.status[i], "leader_id", json_integer(0));
		json_object_set_new(c.status[i], "role", json_string("candidate"));
		node_module(&c, i, module("waiting_for_leader"));
	}
	json_object_set_new(json_object_get(c.status[2], "node"), "uptime_s", json_integer(90061));
	assert_status(&c, 2, golden_status_leader_none);
	cluster_free(&c);
}

/* The local node did not answer: its rows say so, the leader is unknown. */
static void status_local_unreachable(void **state)
{
	struct cluster c;

	(void)state;
	cluster_init(&c);
	cluster_unreach(&c, 0, "connection refused");
	assert_status(&c, 0, golden_status_local_unreachable);
	cluster_free(&c);
}

/* Asked on the new leader. */
static void status_deposed_and_syncing(void **state)
{
	struct cluster c;

	(void)state;
	deposed_and_syncing(&c);
	assert_status(&c, 1, golden_status_deposed_syncing);
	cluster_free(&c);
}

/* Asked on backend-3, whose PostgreSQL is down. */
static void status_blocked(void **state)
{
	struct cluster c;

	(void)state;
	blocked(&c);
	assert_status(&c, 2, golden_status_blocked);
	cluster_free(&c);
}

/* Asked on the leader, then on the node without the module. */
static void status_mixed(void **state)
{
	struct cluster c;

	(void)state;
	mixed(&c);
	assert_status(&c, 0, golden_status_mixed);
	assert_status(&c, 3, golden_status_mixed_not_managed);
	cluster_free(&c);
}

/* No node runs the leader module: fixed rows. */
static void status_none_managed(void **state)
{
	struct cluster c;
	size_t i;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		node_module(&c, i, NULL);
	assert_status(&c, 0, golden_status_none_managed);
	cluster_free(&c);
}

/* elasticsearch.enable false everywhere. */
static void status_es_disabled(void **state)
{
	struct cluster c;
	size_t i;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		module_set(&c, i, "es", json_string("disabled"));
	assert_status(&c, 0, golden_status_es_disabled);
	assert_cluster_status(&c, golden_cs_es_disabled);
	cluster_free(&c);
}

static void format_duration_edges(void **state)
{
	char buf[64];

	(void)state;
	cli__format_duration(buf, sizeof buf, 0);
	assert_string_equal(buf, "0d 0h 0m 0s");
	cli__format_duration(buf, sizeof buf, 59);
	assert_string_equal(buf, "0d 0h 0m 59s");
	cli__format_duration(buf, sizeof buf, 60);
	assert_string_equal(buf, "0d 0h 1m 0s");
	cli__format_duration(buf, sizeof buf, 2615);
	assert_string_equal(buf, "0d 0h 43m 35s");
	cli__format_duration(buf, sizeof buf, 86399);
	assert_string_equal(buf, "0d 23h 59m 59s");
	cli__format_duration(buf, sizeof buf, 86400 + 3600 + 60 + 1);
	assert_string_equal(buf, "1d 1h 1m 1s");
	cli__format_duration(buf, sizeof buf, 107981); /* the seed's 1d 5h 59m 41s */
	assert_string_equal(buf, "1d 5h 59m 41s");
}

/* ---- status: JSON --------------------------------------------------------- */

static void assert_service(const json_t *svc, const char *name, const char *local, json_int_t pid,
			   json_int_t uptime_s, const char *distributed)
{
	assert_int_equal(json_object_size(svc), 5);
	assert_json_str(svc, "name", name);
	assert_json_str(svc, "local_status", local);
	if (pid > 0)
		assert_json_int(svc, "pid", pid);
	else
		assert_json_null(svc, "pid");
	if (uptime_s >= 0)
		assert_json_int(svc, "uptime_s", uptime_s);
	else
		assert_json_null(svc, "uptime_s");
	assert_json_str(svc, "distributed", distributed);
}

/* obj's integer members, keys[i] = values[i], and nothing else. */
static void assert_counts(const json_t *obj, const char *const *keys, const json_int_t *values,
			  size_t n)
{
	size_t i;

	assert_int_equal(json_object_size(obj), n);
	for (i = 0; i < n; i++)
		assert_json_int(obj, keys[i], values[i]);
}

static const char *const leader_keys[] = {"leader",	 "waiting",	"follower",
					  "unreachable", "not_managed", "total"};
static const char *const pg_keys[] = {"leader", "offline", "syncing", "synced", "not_managed"};
static const char *const es_keys[] = {"checked", "healthy", "total"};

/* Leader, follower, one node not reached, one not managed; asked on the
 * leader. */
static void status_json_fields(void **state)
{
	static const json_int_t leader_counts[] = {1, 0, 1, 1, 1, 4};
	static const json_int_t pg_counts[] = {1, 1, 0, 1, 1};
	static const json_int_t es_counts[] = {2, 2, 4};
	struct cluster c;
	const json_t *services, *consensus, *es, *unreachable;
	json_t *doc;

	(void)state;
	mixed(&c);
	cluster_views(&c);
	doc = round_trip(cli__status_json(c.status[0], c.v, c.n));

	assert_int_equal(json_object_size(doc), 6);
	services = json_object_get(doc, "services");
	assert_int_equal(json_array_size(services), 4);
	assert_service(json_array_get(services, 0), "leader", "running (pid 4242)", 4242, 2615,
		       "leader: 1; waiting: 0; follower: 1; unreachable: 1; not managed: 1; "
		       "total: 4");
	assert_service(json_array_get(services, 1), "consensus", "running (pid 4242)", 4242, 2615,
		       "health: yellow; healthy nodes: 3/4; leader: backend-1");
	assert_service(json_array_get(services, 2), "postgresql", "running", 0, -1,
		       "leader: 1; offline: 1; syncing: 0; synced: 1; not managed: 1");
	assert_service(json_array_get(services, 3), "elasticsearch", "healthy", 0, -1,
		       "state: healthy; nodes checked: 2/4");
	consensus = json_object_get(doc, "consensus");
	assert_int_equal(json_object_size(consensus), 4);
	assert_json_str(consensus, "health", "yellow");
	assert_json_int(consensus, "healthy_nodes", 3);
	assert_json_int(consensus, "total_nodes", 4);
	assert_json_str(consensus, "leader", "backend-1");
	assert_counts(json_object_get(doc, "leader"), leader_keys, leader_counts, 6);
	assert_counts(json_object_get(doc, "postgresql"), pg_keys, pg_counts, 5);
	es = json_object_get(doc, "elasticsearch");
	assert_json_str(es, "state", "healthy");
	assert_int_equal(json_object_del((json_t *)es, "state"), 0);
	assert_counts(es, es_keys, es_counts, 3);
	unreachable = json_object_get(doc, "unreachable");
	assert_int_equal(json_array_size(unreachable), 1);
	assert_string_equal(json_string_value(json_array_get(unreachable, 0)), "backend-3");
	json_decref(doc);
	cluster_free(&c);
}

/* Asked on a node without the module, in a cluster where none runs it: no
 * pid for the leader row, no Elasticsearch state. */
static void status_json_none_managed(void **state)
{
	static const json_int_t leader_counts[] = {0, 0, 0, 1, 2, 3};
	static const json_int_t pg_counts[] = {0, 1, 0, 0, 2};
	static const json_int_t es_counts[] = {0, 0, 3};
	struct cluster c;
	const json_t *services, *es;
	size_t i;
	json_t *doc;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		node_module(&c, i, NULL);
	cluster_unreach(&c, 1, "no route to host");
	cluster_views(&c);
	doc = round_trip(cli__status_json(c.status[0], c.v, c.n));
	services = json_object_get(doc, "services");
	assert_service(json_array_get(services, 0), "leader", "not managed", 0, -1,
		       "no reached node runs the leader module (postgresql.enable false)");
	assert_service(json_array_get(services, 2), "postgresql", "not managed", 0, -1,
		       "no reached node manages PostgreSQL (postgresql.enable false)");
	assert_service(json_array_get(services, 3), "elasticsearch", "not managed", 0, -1,
		       "no reached node checks Elasticsearch (postgresql.enable false)");
	assert_counts(json_object_get(doc, "leader"), leader_keys, leader_counts, 6);
	assert_counts(json_object_get(doc, "postgresql"), pg_keys, pg_counts, 5);
	es = json_object_get(doc, "elasticsearch");
	assert_json_null(es, "state");
	assert_int_equal(json_object_del((json_t *)es, "state"), 0);
	assert_counts(es, es_keys, es_counts, 3);
	json_decref(doc);
	cluster_free(&c);
}

static void status_json_leader_none(void **state)
{
	struct cluster c;
	const json_t *consensus;
	json_t *doc;

	(void)state;
	cluster_init(&c);
	json_object_set_new(c.status[0], "leader_id", json_integer(0));
	cluster_views(&c);
	doc = round_trip(cli__status_json(c.status[0], c.v, c.n));
	consensus = json_object_get(doc, "consensus");
	assert_json_null(consensus, "leader");
	assert_json_str(consensus, "health", "yellow");
	assert_json_int(consensus, "healthy_nodes", 2);
	assert_service(json_array_get(json_object_get(doc, "services"), 1), "consensus",
		       "running (pid 4242)", 4242, 2615,
		       "health: yellow; healthy nodes: 2/3; leader: none");
	json_decref(doc);
	cluster_free(&c);
}

/* ---- JSON when memory runs out -------------------------------------------- */

static long alloc_budget = -1; /* allocations left before failing; -1 = no limit */

static void *budget_malloc(size_t size)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(size);
}

/* Fail the 1st, 2nd, ... allocation jansson makes while building each
 * document: every attempt returns NULL or a whole document, and leaks
 * nothing (ASan's leak check runs at exit). The cluster has a node with the
 * leader module, one without and one not reached. */
static void json_out_of_memory(void **state)
{
	struct cluster c;
	json_t *doc;
	long k;
	int which;

	(void)state;
	mixed(&c);
	cluster_views(&c);
	for (which = 0; which < 2; which++) {
		for (k = 0;; k++) {
			json_set_alloc_funcs(budget_malloc, free);
			alloc_budget = k;
			doc = which == 0 ? cli__cluster_status_json(c.members_answer, c.v, c.n)
					 : cli__status_json(c.status[0], c.v, c.n);
			alloc_budget = -1;
			json_set_alloc_funcs(malloc, free);
			if (doc != NULL)
				break;
			assert_true(k < 10000);
		}
		assert_true(k > 0);
		assert_int_equal(json_object_size(doc), which == 0 ? 4 : 6);
		json_decref(doc);
	}
	cluster_free(&c);
}

/* ---- gen-server-config ---------------------------------------------------- */

static struct bs_config *config_with(const char *const *settings)
{
	struct bs_config *config;
	char errmsg[256];

	assert_int_equal(bs_config_new(&config), 0);
	for (; settings[0] != NULL; settings += 2)
		assert_int_equal(bs_config_set(config, bs_setting_find(settings[0]), settings[1],
					       errmsg, sizeof errmsg),
				 0);
	return config;
}

static void server_config_golden(void **state)
{
	static const char *const settings[] = {"postgresql.port",
					       "5433",
					       "elasticsearch.port",
					       "9201",
					       "leaderl.http_port",
					       "7332",
					       "etcd.client_port",
					       "2479",
					       "postgresql.db_superuser",
					       "'chef_pg\\'sql'",
					       NULL};
	struct bs_config *config = config_with(settings);
	struct bs_secrets secrets = {0};
	struct capture cap;
	struct cluster c;
	char *text;

	(void)state;
	cluster_init(&c);
	snprintf(secrets.db_superuser_password, sizeof secrets.db_superuser_password, "%s",
		 "it's\\a'secret\\");
	assert_int_equal(cli__render_server_config(capture_start(&cap), "fe1.example.com",
						   c.members_answer, config, &secrets, "backend-1"),
			 0);
	text = capture_end(&cap);
	assert_string_equal(text, golden_server_config);
	free(text);
	bs_config_free(config);
	cluster_free(&c);
}

/* Members without a publish_address are left out, the order is kept, and
 * names from the command line cannot break out of the header comment or
 * the api_fqdn string. */
static void server_config_skips_members_and_quotes(void **state)
{
	static const char *const defaults[] = {NULL};
	struct bs_config *config = config_with(defaults);
	struct bs_secrets secrets = {0};
	struct capture cap;
	struct cluster c;
	char *text;

	(void)state;
	cluster_init(&c);
	json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), 1),
			    "publish_address", json_string(""));
	cluster_add(&c, member(104, "127.0.0.5:2380", false, "", "", "", "enabled"), NULL);
	snprintf(secrets.db_superuser_password, sizeof secrets.db_superuser_password, "%s",
		 "0123abcd");
	assert_int_equal(cli__render_server_config(capture_start(&cap), "fe'1\nx", c.members_answer,
						   config, &secrets, "node\\1\nrm -rf /"),
			 0);
	text = capture_end(&cap);
	assert_non_null(strstr(text,
			       "# /etc/opscode/chef-server.rb for the Chef Infra Server "
			       "frontend fe'1?x.\n"
			       "# Generated by backstay gen-server-config on node\\1?rm -rf / "
			       "for fe'1?x.\n"));
	assert_non_null(strstr(text, "\napi_fqdn 'fe\\'1\nx'\n"));
	assert_non_null(strstr(text, "\nchef_backend_members ['127.0.0.2', '127.0.0.4']\n"));
	assert_non_null(strstr(text, "\nhaproxy['remote_postgresql_port'] = 5432\n"
				     "haproxy['remote_elasticsearch_port'] = 9200\n"
				     "haproxy['leaderl_healthcheck_port'] = 7331\n"
				     "haproxy['etcd_port'] = 2379\n"));
	assert_non_null(strstr(text, "\npostgresql['db_superuser'] = 'chef_pgsql'\n"
				     "postgresql['db_superuser_password'] = '0123abcd'\n"));
	free(text);
	bs_config_free(config);
	cluster_free(&c);
}

static void server_config_needs_an_address(void **state)
{
	static const char *const defaults[] = {NULL};
	struct bs_config *config = config_with(defaults);
	struct bs_secrets secrets = {0};
	struct capture cap;
	struct cluster c;
	size_t i;
	char *text;

	(void)state;
	cluster_init(&c);
	for (i = 0; i < c.n; i++)
		json_object_set_new(json_array_get(json_object_get(c.members_answer, "members"), i),
				    "publish_address", json_string(""));
	assert_int_equal(cli__render_server_config(capture_start(&cap), "fe1.example.com",
						   c.members_answer, config, &secrets, "backend-1"),
			 -EINVAL);
	text = capture_end(&cap);
	assert_string_equal(text, "");
	free(text);

	/* No members at all. */
	json_object_set_new(c.members_answer, "members", json_array());
	assert_int_equal(cli__render_server_config(capture_start(&cap), "fe1.example.com",
						   c.members_answer, config, &secrets, "backend-1"),
			 -EINVAL);
	text = capture_end(&cap);
	assert_string_equal(text, "");
	free(text);
	bs_config_free(config);
	cluster_free(&c);
}

int bs_test_render(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cluster_status_three_reached),
		cmocka_unit_test(cluster_status_one_unreachable),
		cmocka_unit_test(cluster_status_standby),
		cmocka_unit_test(cluster_status_empty_metadata),
		cmocka_unit_test(cluster_status_failover_disabled),
		cmocka_unit_test(cluster_status_sanitizes_and_counts_characters),
		cmocka_unit_test(cluster_status_deposed_and_syncing),
		cmocka_unit_test(cluster_status_blocked),
		cmocka_unit_test(cluster_status_mixed),
		cmocka_unit_test(cluster_status_none_managed),
		cmocka_unit_test(member_name_falls_back_to_host),
		cmocka_unit_test(cluster_status_json_fields),
		cmocka_unit_test(cluster_status_json_deposed_and_syncing),
		cmocka_unit_test(cluster_status_json_pg_cells),
		cmocka_unit_test(cluster_status_json_no_leader),
		cmocka_unit_test(status_green),
		cmocka_unit_test(status_vip),
		cmocka_unit_test(status_yellow),
		cmocka_unit_test(status_red),
		cmocka_unit_test(status_leader_none),
		cmocka_unit_test(status_local_unreachable),
		cmocka_unit_test(status_deposed_and_syncing),
		cmocka_unit_test(status_blocked),
		cmocka_unit_test(status_mixed),
		cmocka_unit_test(status_none_managed),
		cmocka_unit_test(status_es_disabled),
		cmocka_unit_test(format_duration_edges),
		cmocka_unit_test(status_json_fields),
		cmocka_unit_test(status_json_none_managed),
		cmocka_unit_test(status_json_leader_none),
		cmocka_unit_test(json_out_of_memory),
		cmocka_unit_test(server_config_golden),
		cmocka_unit_test(server_config_skips_members_and_quotes),
		cmocka_unit_test(server_config_needs_an_address),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
