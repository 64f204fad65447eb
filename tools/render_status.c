/*
 * `status` and `cluster-status` as an operator reads them: chef-backend's
 * tables (same headers, same layout: left-aligned columns as wide as their
 * widest cell, two spaces apart, no trailing blanks) filled from the nodes'
 * ctl answers, plus the JSON documents behind --json.
 *
 * The leader module's cells (Role, PG, ES, Eligible; the leader, postgresql
 * and elasticsearch rows) come from the "leader" object of each node's
 * status answer; a node without one runs without PostgreSQL
 * (postgresql.enable false) and reads "not managed". Text that comes from
 * the cluster (names, states, errors, reasons) is printed with control
 * characters replaced, so that no member's answer can move the cursor.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

#define HOST_MAX 256 /* a member's host, from its Raft address */
#define TABLE_COLS 9 /* the widest table: cluster-status */
#define DISTRIBUTED_MAX 1024
#define CELL_MAX 512 /* a cell built here: "syncing 40%", "no: <why>" */

#define NOT_MANAGED_NOTE                                                                           \
	"Role, PG and ES read \"not managed\" where the leader module does not run "               \
	"(postgresql.enable false).\n"

/* ---- reading the answers ------------------------------------------------- */

/* obj[key] as a string; "" when absent or not a string. */
static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* obj[key] as an integer; 0 when absent or not an integer. */
static json_int_t jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static bool jbool(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

static const char *or_dash(const char *s)
{
	return s[0] != '\0' ? s : "-";
}

/* The host of "ip:port", "[ipv6]:port" or a bare host, into buf. */
static void address_host(const char *address, char *buf, size_t size)
{
	const char *start = address, *end, *colon = strrchr(address, ':');

	if (address[0] == '[') {
		start = address + 1;
		end = strchr(start, ']');
	} else {
		/* A second colon means a bare IPv6 address: no port to cut. */
		end = colon != NULL && strchr(address, ':') == colon ? colon : NULL;
	}
	if (end == NULL)
		end = start + strlen(start);
	snprintf(buf, size, "%.*s", (int)(end - start), start);
}

const char *cli__member_name(const json_t *member, char *buf, size_t size)
{
	const char *name = jstr(member, "name");

	if (name[0] != '\0')
		return name;
	address_host(jstr(member, "address"), buf, size);
	return buf;
}

void cli__format_duration(char *buf, size_t size, uint64_t seconds)
{
	snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", seconds / 86400,
		 seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
}

static const char *error_text(const struct cli_node_view *v)
{
	return v->error != NULL && v->error[0] != '\0' ? v->error : "unknown error";
}

/* ---- text ----------------------------------------------------------------- */

/* Columns counted in UTF-8 code points (continuation bytes are skipped). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* s with C0 controls and DEL shown as '?'. */
static void put_text(FILE *out, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

struct table {
	size_t ncols;
	size_t width[TABLE_COLS];
};

static void table_measure(struct table *t, const char *const *cells)
{
	size_t i, w;

	for (i = 0; i < t->ncols; i++) {
		w = text_width(cells[i]);
		if (w > t->width[i])
			t->width[i] = w;
	}
}

/* One row; the last column is not padded (no trailing blanks). */
static void table_print(const struct table *t, FILE *out, const char *const *cells)
{
	size_t i, pad;

	for (i = 0; i < t->ncols; i++) {
		put_text(out, cells[i]);
		if (i + 1 == t->ncols)
			break;
		for (pad = text_width(cells[i]); pad < t->width[i] + 2; pad++)
			fputc(' ', out);
	}
	fputc('\n', out);
}

/* "could not reach NAME (ADDRESS): ERROR", one line per node not reached. */
static void print_unreachable(FILE *out, const struct cli_node_view *v, size_t n)
{
	char host[HOST_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].status != NULL)
			continue;
		fputs("could not reach ", out);
		put_text(out, cli__member_name(v[i].member, host, sizeof host));
		fputs(" (", out);
		put_text(out, jstr(v[i].member, "address"));
		fputs("): ", out);
		put_text(out, error_text(&v[i]));
		fputc('\n', out);
	}
}

/* ---- JSON ----------------------------------------------------------------- */

/* A JSON string for text that may not be UTF-8 (an error message): bytes
 * outside ASCII become '?' then. json_null() for NULL; NULL when out of
 * memory. */
static json_t *text_json(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL || (copy = strdup(s)) == NULL)
		return j;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* [names of the nodes not reached]; NULL when out of memory. */
static json_t *unreachable_json(const struct cli_node_view *v, size_t n)
{
	json_t *list = json_array();
	char host[HOST_MAX];
	size_t i;

	for (i = 0; list != NULL && i < n; i++) {
		if (v[i].status != NULL)
			continue;
		if (json_array_append_new(list, text_json(cli__member_name(v[i].member, host,
									   sizeof host))) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return list;
}

/* ---- the leader module's report ------------------------------------------- */

/* What a node's PostgreSQL is doing, as its PG cell and the postgresql row
 * tell it; the first that applies wins. */
enum pg_kind {
	PG_LEADER,  /* leader.state is leader or promoting */
	PG_SYNCING, /* a base backup is under way */
	PG_DOWN,    /* the health check failed */
	PG_STANDBY, /* running in recovery */
	PG_PRIMARY, /* running, out of recovery, yet not the leader */
};

/* A status answer's "leader" object; NULL when there is no answer or the
 * node runs without the leader module. */
static const json_t *module_in(const json_t *status)
{
	const json_t *l = json_object_get(status, "leader");

	return json_is_object(l) ? l : NULL;
}

static const json_t *module_of(const struct cli_node_view *v)
{
	return module_in(v->status);
}

static bool state_is(const json_t *l, const char *state)
{
	return strcmp(jstr(l, "state"), state) == 0;
}

/* The percent of the base backup under way: "progress", else
 * "sync_percent"; -1 when neither tells of one. */
static json_int_t sync_percent(const json_t *l)
{
	const json_t *p = json_object_get(l, "progress");

	if (json_is_integer(p) && json_integer_value(p) >= 0)
		return json_integer_value(p);
	p = json_object_get(l, "sync_percent");
	return json_is_integer(p) && json_integer_value(p) >= 0 ? json_integer_value(p) : -1;
}

static enum pg_kind pg_kind(const json_t *l)
{
	if (state_is(l, "leader") || state_is(l, "promoting"))
		return PG_LEADER;
	if (sync_percent(l) >= 0)
		return PG_SYNCING;
	if (!jbool(l, "pg_ok"))
		return PG_DOWN;
	return jbool(l, "in_recovery") ? PG_STANDBY : PG_PRIMARY;
}

/* The PG cell: "leader", "syncing 40%", "down", "follower" or "primary". */
static const char *pg_text(const json_t *l, char *buf, size_t size)
{
	static const char *const text[] = {[PG_LEADER] = "leader",
					   [PG_DOWN] = "down",
					   [PG_STANDBY] = "follower",
					   [PG_PRIMARY] = "primary"};
	enum pg_kind k = pg_kind(l);

	if (k != PG_SYNCING)
		return text[k];
	snprintf(buf, size, "syncing %lld%%", (long long)sync_percent(l));
	return buf;
}

/* The Eligible cell: "yes", or "no: " and why ("no" when the node gave no
 * reason). */
static const char *eligible_text(const json_t *l, char *buf, size_t size)
{
	const char *blocked = jstr(l, "blocked");

	if (jbool(l, "eligible"))
		return "yes";
	if (blocked[0] == '\0')
		return "no";
	snprintf(buf, size, "no: %s", blocked);
	return buf;
}

/* ---- cluster-status ------------------------------------------------------- */

enum {
	CS_NAME,
	CS_IP,
	CS_GUID,
	CS_ROLE,
	CS_PG,
	CS_ES,
	CS_CONSENSUS,
	CS_FAILOVER,
	CS_ELIGIBLE,
	CS_COLS
};

/* Eligible comes last: its reasons are the longest cells, and the last
 * column is not padded. */
static const char *const cs_header[CS_COLS] = {"Name", "IP",	    "GUID",	"Role",	   "PG",
					       "ES",   "Consensus", "Failover", "Eligible"};

struct cs_row {
	char host[HOST_MAX]; /* the name and IP of a member without metadata */
	char pg[CELL_MAX];
	char eligible[CELL_MAX];
	const char *cell[CS_COLS];
};

/* The node's Raft role; "standby" while it is not a voter. */
static const char *consensus_state(const struct cli_node_view *v)
{
	if (v->status == NULL)
		return "unreachable";
	if (!jbool(v->member, "voter"))
		return "standby";
	return or_dash(jstr(v->status, "role"));
}

/* Role, PG, ES and Eligible: what the node's leader module reports. */
static void cs_module_cells(struct cs_row *r, const struct cli_node_view *v)
{
	const json_t *l = module_of(v);

	if (v->status == NULL) {
		r->cell[CS_ROLE] = r->cell[CS_PG] = r->cell[CS_ES] = "unreachable";
		r->cell[CS_ELIGIBLE] = "unreachable";
	} else if (l == NULL) {
		r->cell[CS_ROLE] = r->cell[CS_PG] = r->cell[CS_ES] = "not managed";
		r->cell[CS_ELIGIBLE] = "-";
	} else {
		r->cell[CS_ROLE] = or_dash(jstr(l, "state"));
		r->cell[CS_PG] = pg_text(l, r->pg, sizeof r->pg);
		r->cell[CS_ES] = or_dash(jstr(l, "es"));
		r->cell[CS_ELIGIBLE] = eligible_text(l, r->eligible, sizeof r->eligible);
	}
}

static void cs_row_fill(struct cs_row *r, const struct cli_node_view *v)
{
	const char *name = jstr(v->member, "name"), *ip = jstr(v->member, "publish_address");

	address_host(jstr(v->member, "address"), r->host, sizeof r->host);
	r->cell[CS_NAME] = name[0] != '\0' ? name : r->host;
	r->cell[CS_IP] = ip[0] != '\0' ? ip : r->host;
	r->cell[CS_GUID] = or_dash(jstr(v->member, "guid"));
	cs_module_cells(r, v);
	r->cell[CS_CONSENSUS] = consensus_state(v);
	r->cell[CS_FAILOVER] = or_dash(jstr(v->member, "node_failover"));
}

/* Whether some node answered without a "leader" object. */
static bool any_not_managed(const struct cli_node_view *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].status != NULL && module_of(&v[i]) == NULL)
			return true;
	return false;
}

void cli__render_cluster_status(FILE *out, const json_t *cluster, const struct cli_node_view *v,
				size_t n)
{
	struct table t = {.ncols = CS_COLS};
	struct cs_row r;
	size_t i;

	table_measure(&t, cs_header);
	for (i = 0; i < n; i++) {
		cs_row_fill(&r, &v[i]);
		table_measure(&t, r.cell);
	}
	table_print(&t, out, cs_header);
	for (i = 0; i < n; i++) {
		cs_row_fill(&r, &v[i]);
		table_print(&t, out, r.cell);
	}
	fputs("cluster failover: ", out);
	put_text(out, or_dash(jstr(cluster, "cluster_failover")));
	fputc('\n', out);
	if (any_not_managed(v, n))
		fputs(NOT_MANAGED_NOTE, out);
	print_unreachable(out, v, n);
}

/* The member of `members` (a JSON array) with Raft id `id`, or NULL. */
static const json_t *member_by_id(const json_t *members, json_int_t id)
{
	size_t i;

	for (i = 0; id != 0 && i < json_array_size(members); i++)
		if (jint(json_array_get(members, i), "id") == id)
			return json_array_get(members, i);
	return NULL;
}

/* A node's leader-module fields: null each when l is NULL. "blocked" is ""
 * while the node is eligible. NULL when out of memory. */
static json_t *cs_module_json(const json_t *l)
{
	bool eligible = jbool(l, "eligible");

	if (l == NULL)
		return json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}", "eligible", "blocked",
				 "partially_synced", "epoch", "lsn", "timeline", "serving", "why");
	return json_pack("{s:b, s:o, s:b, s:I, s:o, s:I, s:b, s:o}", "eligible", (int)eligible,
			 "blocked", text_json(eligible ? "" : jstr(l, "blocked")),
			 "partially_synced", (int)jbool(l, "partially_synced"), "epoch",
			 jint(l, "epoch"), "lsn", text_json(jstr(l, "lsn")), "timeline",
			 jint(l, "timeline"), "serving", (int)jbool(l, "serving"), "why",
			 text_json(jstr(l, "why")));
}

static json_t *cs_node_json(const struct cli_node_view *v)
{
	const char *guid = jstr(v->member, "guid");
	bool reached = v->status != NULL;
	struct cs_row r;
	json_t *node;

	cs_row_fill(&r, v);
	node = json_pack("{s:o, s:o, s:s?, s:I, s:s, s:o, s:o, s:o, s:s, s:b, s:s, s:b, s:o}",
			 "name", text_json(r.cell[CS_NAME]), "ip", text_json(r.cell[CS_IP]), "guid",
			 guid[0] != '\0' ? guid : NULL, "id", jint(v->member, "id"), "address",
			 jstr(v->member, "address"), "role", text_json(r.cell[CS_ROLE]), "pg",
			 text_json(r.cell[CS_PG]), "es", text_json(r.cell[CS_ES]), "consensus",
			 r.cell[CS_CONSENSUS], "voter", (int)jbool(v->member, "voter"), "failover",
			 r.cell[CS_FAILOVER], "reachable", (int)reached, "error",
			 reached ? json_null() : text_json(error_text(v)));
	/* json_object_update_new takes the fields, NULL included. */
	if (node != NULL && json_object_update_new(node, cs_module_json(module_of(v))) != 0) {
		json_decref(node);
		node = NULL;
	}
	return node;
}

json_t *cli__cluster_status_json(const json_t *cluster, const struct cli_node_view *v, size_t n)
{
	const json_t *leader =
		member_by_id(json_object_get(cluster, "members"), jint(cluster, "leader_id"));
	json_t *nodes = json_array();
	char host[HOST_MAX];
	size_t i;

	for (i = 0; nodes != NULL && i < n; i++) {
		if (json_array_append_new(nodes, cs_node_json(&v[i])) != 0) {
			json_decref(nodes);
			nodes = NULL;
		}
	}
	/* json_pack takes the "o" references, on failure too (jansson 2.14; the
	 * render group's json_out_of_memory test checks it under ASan). */
	return json_pack("{s:s, s:o, s:o, s:o}", "cluster_failover",
			 jstr(cluster, "cluster_failover"), "leader",
			 leader != NULL ? text_json(cli__member_name(leader, host, sizeof host))
					: json_null(),
			 "nodes", nodes, "unreachable", unreachable_json(v, n));
}

/* ---- status: consensus ---------------------------------------------------- */

enum { ST_SERVICE, ST_LOCAL, ST_TIME, ST_DISTRIBUTED, ST_COLS };

static const char *const st_header[ST_COLS] = {"Service", "Local Status", "Time in State",
					       "Distributed Node Status"};

/* The consensus row and the cluster's health, as both outputs show them. */
struct consensus_view {
	json_int_t pid, uptime_s; /* 0 / -1: not known */
	size_t healthy, total;
	const char *health; /* "green", "yellow", "red" */
	const char *leader; /* NULL: none known */
	char leader_buf[HOST_MAX];
	char local_status[64];
	char uptime[64];
	char distributed[DISTRIBUTED_MAX];
};

static bool node_healthy(const struct cli_node_view *v)
{
	return v->status != NULL && strcmp(jstr(v->status, "role"), "failed") != 0 &&
	       jint(v->status, "leader_id") != 0 && !jbool(v->status, "disk_failing");
}

/* The member named by local's leader_id: its name, else the leader's
 * address as local knows it; NULL when local knows no leader. */
static const char *leader_name(const json_t *local, const struct cli_node_view *v, size_t n,
			       char *buf, size_t size)
{
	json_int_t id = jint(local, "leader_id");
	size_t i;

	if (id == 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (jint(v[i].member, "id") == id)
			return cli__member_name(v[i].member, buf, size);
	return or_dash(jstr(local, "leader_address"));
}

static void consensus_fill(struct consensus_view *c, const json_t *local,
			   const struct cli_node_view *v, size_t n)
{
	const json_t *node = json_object_get(local, "node");
	const json_t *uptime = json_object_get(node, "uptime_s");
	size_t i;

	c->pid = jint(node, "pid");
	c->uptime_s = json_is_integer(uptime) ? json_integer_value(uptime) : -1;
	for (c->healthy = 0, i = 0; i < n; i++)
		c->healthy += node_healthy(&v[i]);
	c->total = n;
	c->health = n > 0 && c->healthy == n ? "green" : 2 * c->healthy > n ? "yellow" : "red";
	c->leader = leader_name(local, v, n, c->leader_buf, sizeof c->leader_buf);

	if (local == NULL)
		snprintf(c->local_status, sizeof c->local_status, "unreachable");
	else if (c->pid > 0)
		snprintf(c->local_status, sizeof c->local_status, "running (pid %lld)",
			 (long long)c->pid);
	else
		snprintf(c->local_status, sizeof c->local_status, "running");
	if (c->uptime_s >= 0)
		cli__format_duration(c->uptime, sizeof c->uptime, (uint64_t)c->uptime_s);
	else
		snprintf(c->uptime, sizeof c->uptime, "-");
	snprintf(c->distributed, sizeof c->distributed,
		 "health: %s; healthy nodes: %zu/%zu; leader: %s", c->health, c->healthy, c->total,
		 c->leader != NULL ? c->leader : "none");
}

static void consensus_row(const struct consensus_view *c, const char **row)
{
	row[ST_SERVICE] = "consensus";
	row[ST_LOCAL] = c->local_status;
	row[ST_TIME] = c->uptime;
	row[ST_DISTRIBUTED] = c->distributed;
}

/* ---- status: the leader module's rows ------------------------------------- */

enum { MR_LEADER, MR_POSTGRESQL, MR_ELASTICSEARCH, MR_ROWS };

/* The leader, postgresql and elasticsearch rows, counted over every member
 * (chef-backend's leaderl, postgresql and elasticsearch rows). */
struct module_view {
	const json_t *local; /* this node's "leader"; NULL: none */
	size_t total, unreachable, not_managed;
	size_t leader, waiting, follower;		     /* by leader.state */
	size_t pg_leader, pg_offline, pg_syncing, pg_synced; /* by pg_kind */
	size_t es_checked, es_healthy;
	const char *es_state; /* NULL: no node checks Elasticsearch */
	char distributed[MR_ROWS][DISTRIBUTED_MAX];
	const char *row[MR_ROWS][ST_COLS];
};

/* Where the node counts in the postgresql row (leaderl's rule): the leader,
 * a base backup under way, a follower's standby; anything else, and a node
 * not reached, is offline. */
static void module_count_pg(struct module_view *m, const json_t *l)
{
	switch (pg_kind(l)) {
	case PG_LEADER:
		m->pg_leader++;
		break;
	case PG_SYNCING:
		m->pg_syncing++;
		break;
	case PG_STANDBY:
		if (state_is(l, "follower")) {
			m->pg_synced++;
			break;
		}
		/* fall through */
	default:
		m->pg_offline++;
	}
}

/* One member into the counts. States other than leader and follower
 * (waiting_for_leader, initializing, deposed_leader, promoting) wait. */
static void module_count(struct module_view *m, const struct cli_node_view *v)
{
	const json_t *l = module_of(v);
	const char *es = jstr(l, "es");

	m->total++;
	if (v->status == NULL) {
		m->unreachable++;
		m->pg_offline++;
		return;
	}
	if (l == NULL) {
		m->not_managed++;
		return;
	}
	if (state_is(l, "leader"))
		m->leader++;
	else if (state_is(l, "follower"))
		m->follower++;
	else
		m->waiting++;
	module_count_pg(m, l);
	m->es_checked += strcmp(es, "healthy") == 0 || strcmp(es, "unhealthy") == 0;
	m->es_healthy += strcmp(es, "healthy") == 0;
}

/* Appends to buf (size bytes, truncated to fit). */
static void appendf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* The Distributed Node Status of the three rows. */
static void module_distributed(struct module_view *m)
{
	char *leader = m->distributed[MR_LEADER], *pg = m->distributed[MR_POSTGRESQL];
	char *es = m->distributed[MR_ELASTICSEARCH];

	if (m->total == m->unreachable + m->not_managed) {
		snprintf(leader, DISTRIBUTED_MAX,
			 "no reached node runs the leader module (postgresql.enable false)");
		snprintf(pg, DISTRIBUTED_MAX,
			 "no reached node manages PostgreSQL (postgresql.enable false)");
		snprintf(es, DISTRIBUTED_MAX,
			 "no reached node checks Elasticsearch (postgresql.enable false)");
		return;
	}
	snprintf(leader, DISTRIBUTED_MAX, "leader: %zu; waiting: %zu; follower: %zu", m->leader,
		 m->waiting, m->follower);
	if (m->unreachable > 0)
		appendf(leader, DISTRIBUTED_MAX, "; unreachable: %zu", m->unreachable);
	if (m->not_managed > 0)
		appendf(leader, DISTRIBUTED_MAX, "; not managed: %zu", m->not_managed);
	appendf(leader, DISTRIBUTED_MAX, "; total: %zu", m->total);
	snprintf(pg, DISTRIBUTED_MAX, "leader: %zu; offline: %zu; syncing: %zu; synced: %zu",
		 m->pg_leader, m->pg_offline, m->pg_syncing, m->pg_synced);
	if (m->not_managed > 0)
		appendf(pg, DISTRIBUTED_MAX, "; not managed: %zu", m->not_managed);
	if (m->es_state == NULL)
		snprintf(es, DISTRIBUTED_MAX, "not checked (elasticsearch.enable false)");
	else
		snprintf(es, DISTRIBUTED_MAX, "state: %s; nodes checked: %zu/%zu", m->es_state,
			 m->es_checked, m->total);
}

/* This node's Elasticsearch check, as its Local Status. */
static const char *es_local(const json_t *l)
{
	const char *es = jstr(l, "es");

	return strcmp(es, "disabled") == 0 ? "not checked" : or_dash(es);
}

/* The three rows' Local Status and Time in State: the leader module runs
 * in the daemon, so its row shows the daemon's pid and uptime. */
static void module_local(struct module_view *m, const struct consensus_view *c, const json_t *local)
{
	const char *absent = local == NULL ? "unreachable" : "not managed";
	const json_t *l = m->local;

	m->row[MR_LEADER][ST_LOCAL] = l != NULL ? c->local_status : absent;
	m->row[MR_LEADER][ST_TIME] = l != NULL ? c->uptime : "-";
	m->row[MR_POSTGRESQL][ST_LOCAL] = l == NULL	      ? absent
					  : jbool(l, "pg_ok") ? "running"
							      : "down";
	m->row[MR_POSTGRESQL][ST_TIME] = "-";
	m->row[MR_ELASTICSEARCH][ST_LOCAL] = l != NULL ? es_local(l) : absent;
	m->row[MR_ELASTICSEARCH][ST_TIME] = "-";
}

static void module_fill(struct module_view *m, const struct consensus_view *c, const json_t *local,
			const struct cli_node_view *v, size_t n)
{
	static const char *const names[MR_ROWS] = {"leader", "postgresql", "elasticsearch"};
	size_t i;

	memset(m, 0, sizeof *m);
	m->local = module_in(local);
	for (i = 0; i < n; i++)
		module_count(m, &v[i]);
	if (m->es_checked > 0)
		m->es_state = m->es_healthy == m->es_checked ? "healthy"
			      : m->es_healthy == 0	     ? "unhealthy"
							     : "degraded";
	module_distributed(m);
	module_local(m, c, local);
	for (i = 0; i < MR_ROWS; i++) {
		m->row[i][ST_SERVICE] = names[i];
		m->row[i][ST_DISTRIBUTED] = m->distributed[i];
	}
}

/* ---- status: the VIP row, where a node manages one ------------------------- */

struct vip_view {
	bool shown; /* some node reports a VIP (vip set in its backstay.rb) */
	char local[160];
	char distributed[DISTRIBUTED_MAX];
	const char *row[ST_COLS];
};

static const json_t *vip_in(const json_t *status)
{
	const json_t *x = json_object_get(module_in(status), "vip");

	return json_is_object(x) ? x : NULL;
}

/* Local Status: held / not held / the keeper's error; Distributed: the
 * address, and which members hold it (one, or none between holders). */
static void vip_fill(struct vip_view *w, const json_t *local, const struct cli_node_view *v,
		     size_t n)
{
	const json_t *lv = vip_in(local), *any = lv;
	char holders[DISTRIBUTED_MAX / 2] = "", name[HOST_MAX];
	size_t i, held = 0;

	memset(w, 0, sizeof *w);
	for (i = 0; i < n; i++) {
		const json_t *x = vip_in(v[i].status);

		if (x == NULL)
			continue;
		any = any != NULL ? any : x;
		if (jbool(x, "held") && held++ < 4)
			appendf(holders, sizeof holders, "%s%s", holders[0] ? ", " : "",
				cli__member_name(v[i].member, name, sizeof name));
	}
	if (any == NULL)
		return;
	w->shown = true;
	if (lv == NULL)
		snprintf(w->local, sizeof w->local, "%s",
			 local == NULL ? "unreachable" : "not managed");
	else if (jstr(lv, "error")[0] != '\0')
		snprintf(w->local, sizeof w->local, "%s; %s",
			 jbool(lv, "held") ? "held" : "not held", jstr(lv, "error"));
	else
		snprintf(w->local, sizeof w->local, "%s", jbool(lv, "held") ? "held" : "not held");
	snprintf(w->distributed, sizeof w->distributed, "%s on %s; held by: %s",
		 or_dash(jstr(any, "address")), or_dash(jstr(any, "interface")),
		 held ? holders : "none");
	if (held > 1)
		appendf(w->distributed, sizeof w->distributed, " (%zu holders)", held);
	w->row[ST_SERVICE] = "vip";
	w->row[ST_LOCAL] = w->local;
	w->row[ST_TIME] = "-";
	w->row[ST_DISTRIBUTED] = w->distributed;
}

/* ---- status: output ------------------------------------------------------- */

void cli__render_status(FILE *out, const json_t *local, const struct cli_node_view *v, size_t n)
{
	struct table t = {.ncols = ST_COLS};
	struct consensus_view c;
	struct module_view m;
	const char *consensus[ST_COLS];
	struct vip_view w;
	const char *const *rows[] = {st_header,
				     m.row[MR_LEADER],
				     consensus,
				     m.row[MR_POSTGRESQL],
				     m.row[MR_ELASTICSEARCH],
				     w.row};
	size_t i, nrows;

	consensus_fill(&c, local, v, n);
	consensus_row(&c, consensus);
	module_fill(&m, &c, local, v, n);
	vip_fill(&w, local, v, n);
	nrows = sizeof rows / sizeof rows[0] - !w.shown;
	for (i = 0; i < nrows; i++)
		table_measure(&t, rows[i]);
	for (i = 0; i < nrows; i++)
		table_print(&t, out, rows[i]);
	print_unreachable(out, v, n);
}

/* {"name", "local_status", "pid", "uptime_s", "distributed"}: pid and
 * uptime_s null when not known (<= 0, < 0). */
static json_t *service_json(const char *const *row, json_int_t pid, json_int_t uptime_s)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", row[ST_SERVICE], "local_status",
			 text_json(row[ST_LOCAL]), "pid", pid > 0 ? json_integer(pid) : json_null(),
			 "uptime_s", uptime_s >= 0 ? json_integer(uptime_s) : json_null(),
			 "distributed", text_json(row[ST_DISTRIBUTED]));
}

static json_t *services_json(const struct consensus_view *c, const struct module_view *m,
			     const struct vip_view *w)
{
	const char *consensus[ST_COLS];
	bool here = m->local != NULL; /* the leader module runs on this node */
	json_t *a;

	consensus_row(c, consensus);
	a = json_pack("[o, o, o, o]",
		      service_json(m->row[MR_LEADER], here ? c->pid : 0, here ? c->uptime_s : -1),
		      service_json(consensus, c->pid, c->uptime_s),
		      service_json(m->row[MR_POSTGRESQL], 0, -1),
		      service_json(m->row[MR_ELASTICSEARCH], 0, -1));
	if (a != NULL && w->shown)
		json_array_append_new(a, service_json(w->row, 0, -1));
	return a;
}

json_t *cli__status_json(const json_t *local, const struct cli_node_view *v, size_t n)
{
	struct consensus_view c;
	struct module_view m;
	struct vip_view w;

	consensus_fill(&c, local, v, n);
	module_fill(&m, &c, local, v, n);
	vip_fill(&w, local, v, n);
	return json_pack("{s:o, s:{s:s, s:I, s:I, s:o}, "
			 "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, "
			 "s:{s:s?, s:I, s:I, s:I}, s:o}",
			 "services", services_json(&c, &m, &w), "consensus", "health", c.health,
			 "healthy_nodes", (json_int_t)c.healthy, "total_nodes", (json_int_t)c.total,
			 "leader", text_json(c.leader), "leader", "leader", (json_int_t)m.leader,
			 "waiting", (json_int_t)m.waiting, "follower", (json_int_t)m.follower,
			 "unreachable", (json_int_t)m.unreachable, "not_managed",
			 (json_int_t)m.not_managed, "total", (json_int_t)m.total, "postgresql",
			 "leader", (json_int_t)m.pg_leader, "offline", (json_int_t)m.pg_offline,
			 "syncing", (json_int_t)m.pg_syncing, "synced", (json_int_t)m.pg_synced,
			 "not_managed", (json_int_t)m.not_managed, "elasticsearch", "state",
			 m.es_state, "checked", (json_int_t)m.es_checked, "healthy",
			 (json_int_t)m.es_healthy, "total", (json_int_t)m.total, "unreachable",
			 unreachable_json(v, n));
}
