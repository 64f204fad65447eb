/*
 * `status` and `cluster-status` as an operator reads them: chef-backend's
 * tables (same headers, same layout: left-aligned columns as wide as their
 * widest cell, two spaces apart, no trailing blanks) filled from the nodes'
 * ctl answers, plus the JSON documents behind --json.
 *
 * What the leader module, PostgreSQL management and the Elasticsearch probe
 * will report is not built yet: those cells say so rather than guess. Text
 * that comes from the cluster (names, errors) is printed with control
 * characters replaced, so that no member's metadata can move the cursor.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

#define HOST_MAX 256 /* a member's host, from its Raft address */
#define TABLE_COLS 8 /* the widest table: cluster-status */
#define DISTRIBUTED_MAX 1024

#define NA_NOTE                                                                                    \
	"Role, PG and ES read n/a: the leader module and PostgreSQL management are not built "     \
	"yet.\n"

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

/* ---- cluster-status ------------------------------------------------------- */

enum { CS_NAME, CS_IP, CS_GUID, CS_ROLE, CS_PG, CS_ES, CS_CONSENSUS, CS_FAILOVER, CS_COLS };

static const char *const cs_header[CS_COLS] = {"Name", "IP", "GUID",	  "Role",
					       "PG",   "ES", "Consensus", "Failover"};

struct cs_row {
	char host[HOST_MAX]; /* the name and IP of a member without metadata */
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

static void cs_row_fill(struct cs_row *r, const struct cli_node_view *v)
{
	const char *name = jstr(v->member, "name"), *ip = jstr(v->member, "publish_address");
	const char *module = v->status != NULL ? "n/a" : "unreachable";

	address_host(jstr(v->member, "address"), r->host, sizeof r->host);
	r->cell[CS_NAME] = name[0] != '\0' ? name : r->host;
	r->cell[CS_IP] = ip[0] != '\0' ? ip : r->host;
	r->cell[CS_GUID] = or_dash(jstr(v->member, "guid"));
	r->cell[CS_ROLE] = r->cell[CS_PG] = r->cell[CS_ES] = module;
	r->cell[CS_CONSENSUS] = consensus_state(v);
	r->cell[CS_FAILOVER] = or_dash(jstr(v->member, "node_failover"));
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
	fputs(NA_NOTE, out);
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

static json_t *cs_node_json(const struct cli_node_view *v)
{
	const char *guid = jstr(v->member, "guid");
	bool reached = v->status != NULL;
	struct cs_row r;

	cs_row_fill(&r, v);
	return json_pack("{s:o, s:o, s:s?, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:o}",
			 "name", text_json(r.cell[CS_NAME]), "ip", text_json(r.cell[CS_IP]), "guid",
			 guid[0] != '\0' ? guid : NULL, "id", jint(v->member, "id"), "address",
			 jstr(v->member, "address"), "role", r.cell[CS_ROLE], "pg", r.cell[CS_PG],
			 "es", r.cell[CS_ES], "consensus", r.cell[CS_CONSENSUS], "voter",
			 (int)jbool(v->member, "voter"), "failover", r.cell[CS_FAILOVER],
			 "reachable", (int)reached, "error",
			 reached ? json_null() : text_json(error_text(v)));
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

/* ---- status --------------------------------------------------------------- */

enum { ST_SERVICE, ST_LOCAL, ST_TIME, ST_DISTRIBUTED, ST_COLS };

static const char *const st_header[ST_COLS] = {"Service", "Local Status", "Time in State",
					       "Distributed Node Status"};

/* The services whose modules do not exist yet: fixed rows. */
static const char *const st_leader[ST_COLS] = {"leader", "not built yet", "-",
					       "the leader module is not built yet"};
static const char *const st_postgresql[ST_COLS] = {"postgresql", "not managed yet", "-",
						   "PostgreSQL management is not built yet"};
static const char *const st_elasticsearch[ST_COLS] = {"elasticsearch", "not checked yet", "-",
						      "the Elasticsearch probe is not built yet"};

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

void cli__render_status(FILE *out, const json_t *local, const struct cli_node_view *v, size_t n)
{
	struct table t = {.ncols = ST_COLS};
	struct consensus_view c;
	const char *consensus[ST_COLS];
	const char *const *rows[] = {st_header, st_leader, consensus, st_postgresql,
				     st_elasticsearch};
	size_t i;

	consensus_fill(&c, local, v, n);
	consensus_row(&c, consensus);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		table_measure(&t, rows[i]);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
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

json_t *cli__status_json(const json_t *local, const struct cli_node_view *v, size_t n)
{
	struct consensus_view c;
	const char *consensus[ST_COLS];

	consensus_fill(&c, local, v, n);
	consensus_row(&c, consensus);
	return json_pack("{s:[o, o, o, o], s:{s:s, s:I, s:I, s:o}, s:o}", "services",
			 service_json(st_leader, 0, -1), service_json(consensus, c.pid, c.uptime_s),
			 service_json(st_postgresql, 0, -1), service_json(st_elasticsearch, 0, -1),
			 "consensus", "health", c.health, "healthy_nodes", (json_int_t)c.healthy,
			 "total_nodes", (json_int_t)c.total, "leader", text_json(c.leader),
			 "unreachable", unreachable_json(v, n));
}
