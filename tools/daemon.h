/*
 * The daemon behind `backstay run` (daemon.c: start, signals, reload,
 * readiness, stop; daemon_ctl.c: answering ctl requests through the
 * consensus API). One thread, one uv loop.
 */
#ifndef BS_TOOLS_DAEMON_H
#define BS_TOOLS_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <uv.h>

#include "base.h"
#include "consensus.h"
#include "internal.h"

struct daemon_watch;
struct daemon_req;
struct daemon_change;
struct daemon_pg;

struct daemon {
	uv_loop_t loop;
	struct bs_config *config;
	const char *config_path; /* re-read on SIGHUP; may be NULL */
	struct bs_secrets secrets;
	struct cns_node *node;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick;   /* watch streams' progress notes, the disk check */
	uv_check_t reaper; /* frees answered requests (see daemon__reap) */
	char address[CNS_ADDRESS_MAX];
	char store_dir[PATH_MAX];
	char data_dir[PATH_MAX];
	struct cli_identity self; /* guid "" for a node of consensus.initial_cluster */
	int pid_fd;		  /* data_dir/backstay.pid, locked; -1 before */
	uint64_t started_ms;
	/* Membership changes asked for by tools (daemon_cluster.c): one at a
	 * time, in arrival order; finished ones wait for daemon__reap. */
	struct daemon_change *changes, *changes_done;
	struct cli_discovery *discovery; /* etcd.client_port: /v2/members ... */
	struct daemon_pg *pg; /* the leader module (daemon_leader.h); NULL without PostgreSQL */
	bool meta_pending;    /* meta_req (the leader's metadata upkeep) in flight */
	struct cns_req meta_req;
	struct daemon_watch *watches;
	struct daemon_req *answered; /* to free after the node's dispatch loop */
	bool stopping;
	bool handing_off; /* leading with a failing disk: leadership asked away */
	int exit_code;
};

/* daemon_ctl.c */

/* config.on_ctl: answer one request (docs/ctl.md). */
void daemon__on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		    const Backstay__CtlRequest *req);
/* Every few seconds: a progress note on every watch stream, which is how a
 * stream whose client went away is found (and its watch ended). */
void daemon__watches_progress(struct daemon *d);
/* Free the requests answered since the last call. consensus/node_req.c's
 * node__dispatch reads a request after running its callback, so a
 * request must outlive its callback: it is freed from here (a uv_check
 * handle, once per loop iteration, and once after the loop). */
void daemon__reap(struct daemon *d);
/* Forget every watch stream (the node is closed: no unwatch needed). */
void daemon__watches_free(struct daemon *d);
/* Answer with a payload as is (JSON text): cns_ctl_reply's result. */
int daemon__reply_raw(struct daemon *d, uint64_t conn_id, uint64_t id, int code, const char *msg,
		      const uint8_t *payload, size_t len);
/* Answer a failed request (the leader's address for BS_E_NOT_LEADER). */
void daemon__reply_error(struct daemon *d, uint64_t conn_id, uint64_t id, int code);
/* The `status` answer's "node" object: name, guid, publish_address, pid,
 * uptime_s, version. A new reference or NULL. */
struct json_t *daemon__node_json(struct daemon *d);

/* Leading, with this term's barrier applied (reads are current)? */
bool daemon__is_ready_leader(struct daemon *d);

/* daemon_members.c: the cluster's own KV entries (docs/ctl.md, "Files"). */

/* "cluster/members/<id as 16 hex>" into out. */
void daemon__meta_key(char *out, size_t size, uint64_t id);
/* A member's metadata JSON text (malloc'd), or NULL when out of memory. */
char *daemon__meta_value(uint64_t id, const char *name, const char *guid, const char *publish,
			 const char *address);
/* Propose a put of key = value, or its deletion when value is NULL. */
int daemon__propose_kv(struct daemon *d, struct cns_req *req, const char *key, const char *value,
		       cns_req_cb cb);
/* This node's KV entries under prefix (local state); NULL when out of
 * memory. Free with backstay__kv_result__free_unpacked. */
Backstay__KvResult *daemon__local_range(struct daemon *d, const char *prefix);
/* Member id's metadata in r (a new reference), or NULL. */
struct json_t *daemon__meta_find(const Backstay__KvResult *r, uint64_t id);
/* The cluster.members answer (a new reference), or NULL. */
struct json_t *daemon__cluster_json(struct daemon *d);
/* Answer with obj as JSON text (takes the reference; NULL = -ENOMEM). */
void daemon__reply_json(struct daemon *d, uint64_t conn_id, uint64_t id, struct json_t *obj);
/* The leader's metadata upkeep, one write at a time: on a ready leader
 * (daemon__cluster_tick calls it after checking). */
void daemon__members_tick(struct daemon *d);

/* daemon_cluster.c: cluster.members, member.join (role JOIN),
 * member.remove. Returns false when verb is not one of them. */
bool daemon__cluster_ctl(struct daemon *d, uint64_t conn_id, Backstay__Role role,
			 const Backstay__CtlRequest *req);
/* Every tick, on the leader: its own member metadata written, the
 * metadata of members no longer in the configuration deleted, a change
 * that could not start (busy) tried again. */
void daemon__cluster_tick(struct daemon *d);
/* What /v2/members and /health on etcd.client_port answer: the members
 * (names from their metadata) and whether a leader is known. */
void daemon__discovery_publish(struct daemon *d);
/* Free finished changes (see daemon__reap); with the node closed, every
 * queued change too. */
void daemon__changes_reap(struct daemon *d, bool all);

#endif
