/*
 * How `status`, `cluster-status` and `gen-server-config` show what the
 * verbs gathered: pure functions from the nodes' JSON answers to text on a
 * FILE * (or to a JSON document). They do no I/O besides writing to `out`,
 * keep no state, and never fail on a malformed answer: a missing field reads
 * as empty, zero or false.
 *
 * Inputs (the daemon's ctl answers):
 *  - a node's `status` answer: {"id", "role", "leader_id", "disk_failing",
 *    "members", ..., "node": {"name", "guid", "publish_address", "pid",
 *    "uptime_s", "version"}, "leader": {...}}; "leader" is the leader
 *    module's report, absent on a node without PostgreSQL
 *    (postgresql.enable false): {"state", "eligible", "blocked", "holder",
 *    "epoch", "serving", "why", "pg_ok", "in_recovery", "timeline", "lsn",
 *    "standbys_streaming", "es", "progress", "failovers",
 *    "partially_synced", and optionally "sync_percent"};
 *  - the `cluster.members` answer: {"cluster_failover", "leader_id",
 *    "members": [{"id", "address", "voter", "name", "guid",
 *    "publish_address", "node_failover"}]}.
 *
 * Every pointer argument is borrowed for the duration of the call.
 */
#ifndef BS_TOOLS_RENDER_H
#define BS_TOOLS_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bs_config;
struct bs_secrets;

/* One cluster member as the verb saw it. */
struct cli_node_view {
	const json_t *member; /* one element of cluster["members"] */
	const json_t *status; /* that node's status answer; NULL when it could not be reached */
	const char *error;    /* why it could not be reached (when status == NULL); NULL reads
				 "unknown error" */
};

/*
 * A member's name for an operator: its "name", or the host part of its Raft
 * "address" while its metadata is not written yet ("" name). The result
 * points into member or into buf (size bytes, truncated to fit).
 */
const char *cli__member_name(const json_t *member, char *buf, size_t size);

/* Seconds as chef-backend's "Time in State": "1d 5h 59m 41s". */
void cli__format_duration(char *buf, size_t size, uint64_t seconds);

/* ---- cluster-status ------------------------------------------------------
 *
 * The table `Name  IP  GUID  Role  PG  ES  Consensus  Failover  Eligible`,
 * one row per view in the order given, then the cluster failover state, a
 * note when some reached node runs without the leader module, and one
 * `could not reach NAME (ADDRESS): ERROR` line per node not reached.
 * v[i].member must be an element of cluster["members"] (n may be 0).
 *
 * From the node's "leader" object: Role = its state; PG = "leader" (state
 * leader or promoting), else "syncing N%" (a base backup under way:
 * "progress", else "sync_percent", >= 0), else "down" (!pg_ok), else
 * "follower" (in recovery), else "primary"; ES = its "es" (healthy,
 * unhealthy, disabled); Eligible = "yes", or "no: " and its "blocked" text.
 * A node without the object reads "not managed" (Eligible "-"), one not
 * reached "unreachable".
 */
void cli__render_cluster_status(FILE *out, const json_t *cluster, const struct cli_node_view *v,
				size_t n);
/* The same as {"cluster_failover", "leader", "nodes": [...], "unreachable":
 * [names]}; each node {"name", "ip", "guid", "id", "address", "role", "pg",
 * "es", "consensus", "voter", "failover", "reachable", "error", "eligible",
 * "blocked" ("" when eligible), "partially_synced", "epoch", "lsn",
 * "timeline", "serving", "why"}, the last eight null where the leader
 * module's report is missing. A new reference, or NULL when out of
 * memory. */
json_t *cli__cluster_status_json(const json_t *cluster, const struct cli_node_view *v, size_t n);

/* ---- status --------------------------------------------------------------
 *
 * chef-backend's four-row table (`Service  Local Status  Time in State
 * Distributed Node Status`): leader, consensus, postgresql, elasticsearch.
 * local is this node's status answer (NULL when it did not answer: its rows
 * then read "unreachable" and the leader is unknown); v lists every member,
 * this node included.
 *
 * consensus: a node counts as healthy when it was reached, its role is not
 * "failed", it knows a leader and its disk is not failing; health is green
 * when every member is healthy (and there is at least one), yellow when
 * more than half are, red otherwise.
 *
 * The leader module's rows count every member by its "leader" object:
 *  - leader: "leader: L; waiting: W; follower: F[; unreachable: U][; not
 *    managed: M]; total: T" by state (waiting: any state but leader and
 *    follower); Local Status and Time in State are the daemon's;
 *  - postgresql: "leader: L; offline: O; syncing: S; synced: N[; not
 *    managed: M]": leader = PG "leader", syncing = PG "syncing", synced =
 *    PG "follower" in state follower, offline = anything else and the
 *    nodes not reached; Local Status "running" or "down" (pg_ok);
 *  - elasticsearch: "state: S; nodes checked: K/T", K the nodes whose
 *    probe answered (es healthy or unhealthy), S healthy (all K healthy),
 *    unhealthy (none) or degraded; "not checked (elasticsearch.enable
 *    false)" when K = 0; Local Status this node's es ("not checked" when
 *    disabled).
 * A node without the object counts as not managed; when no reached node
 * has one the three rows say so instead of counting. Local Status reads
 * "not managed" when this node has none.
 */
void cli__render_status(FILE *out, const json_t *local, const struct cli_node_view *v, size_t n);
/* {"services": [{"name", "local_status", "pid", "uptime_s", "distributed"}],
 *  "consensus": {"health", "healthy_nodes", "total_nodes", "leader"},
 *  "leader": {"leader", "waiting", "follower", "unreachable", "not_managed",
 *             "total"},
 *  "postgresql": {"leader", "offline", "syncing", "synced", "not_managed"},
 *  "elasticsearch": {"state" (null when K = 0), "checked", "healthy",
 *                    "total"},
 *  "unreachable": [names]}. A new reference, or NULL when out of memory. */
json_t *cli__status_json(const json_t *local, const struct cli_node_view *v, size_t n);

/* ---- gen-server-config ---------------------------------------------------
 *
 * /etc/opscode/chef-server.rb for the Chef Infra Server frontend `fqdn`:
 * HAProxy on the frontend in front of every member's publish_address
 * (members without one are skipped, order kept), ports from config, the
 * database superuser's name from config and password from secrets, and the
 * settings a frontend needs with an external PostgreSQL and Elasticsearch.
 * generator_name (this node's name) appears in the header comment. Strings
 * are written as single-quoted Ruby literals with ' and \ escaped.
 * Returns 0; -EINVAL, writing nothing, when no member has a publish_address
 * (the caller words the message); -EIO when out reports a write error.
 */
int cli__render_server_config(FILE *out, const char *fqdn, const json_t *cluster,
			      const struct bs_config *config, const struct bs_secrets *secrets,
			      const char *generator_name);

#endif /* BS_TOOLS_RENDER_H */
