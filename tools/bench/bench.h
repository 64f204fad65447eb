/*
 * tools/bench — backstay-bench: the same workload against a 3-node backstay
 * cluster and a 3-node etcd 3.4 cluster on loopback, side by side
 * (scripts/bench.sh starts the clusters and runs it). A tool: not installed,
 * not a test.
 *
 * Prefix bench_. One thread, one libuv loop; both systems' clients are
 * driven by it (etcd through libcurl's multi-socket API on uv_poll handles,
 * backstay through the consensus transport's ctl connections).
 *
 * A benchmark needs sub-millisecond timestamps, which base/clock.c (time in
 * milliseconds, CONVENTIONS §7) does not give: bench_now_ns() reads
 * CLOCK_MONOTONIC itself. Nothing here decides anything from time except
 * how long to run.
 */
#ifndef BS_TOOLS_BENCH_H
#define BS_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <uv.h>

#define BENCH_NODES 3
#define BENCH_MAX_CLIENTS 64

/* ---- time and the loop (cluster.c) -------------------------------------- */

uint64_t bench_now_ns(void);

/* Run loop until pred(arg) holds or deadline_ns passes (checked every 5 ms
 * and after every loop iteration). true when pred held. */
bool bench_run_until(uv_loop_t *loop, bool (*pred)(void *arg), void *arg, uint64_t deadline_ns);
/* Run loop for ms milliseconds (a bounded pause that keeps I/O flowing). */
void bench_run_for(uv_loop_t *loop, unsigned ms);

/* ---- a cluster on this machine (cluster.c) -------------------------------
 *
 * scripts/bench.sh lays out one directory per cluster:
 *   DIR/nK/endpoint   "127.0.0.1:PORT": etcd's client URL, backstay's ctl port
 *   DIR/nK/pid        the node's pid, written by its start script
 *   DIR/nK/start      starts the node in the background and writes pid
 * for K = 1..3.
 */
struct bench_node {
	char dir[512];
	char endpoint[64];
	pid_t pid; /* 0 when not running (killed by us) */
};

struct bench_cluster {
	char dir[512];
	struct bench_node nodes[BENCH_NODES];
};

/* Read DIR's layout. 0 or negative errno with errmsg. */
int bench_cluster_load(struct bench_cluster *c, const char *dir, char *errmsg, size_t size);
/* kill -9 node i; 0 or negative errno. Records pid = 0. */
int bench_node_kill(struct bench_cluster *c, int i);
/* Run node i's start script and read its new pid. 0 or negative errno. */
int bench_node_start(struct bench_cluster *c, int i, char *errmsg, size_t size);
/* VmRSS of node i in KiB, 0 when unreadable; its anonymous and
 * file-backed parts (RssAnon, RssFile: LMDB's or bbolt's map) when the
 * pointers are not NULL. */
uint64_t bench_node_rss_kib(const struct bench_cluster *c, int i, uint64_t *ret_anon,
			    uint64_t *ret_file);
/* utime + stime of node i in clock ticks, 0 when unreadable. */
uint64_t bench_node_cpu_ticks(const struct bench_cluster *c, int i);
/* This process's user + system CPU in ns. */
uint64_t bench_self_cpu_ns(void);
/* CPU time the whole machine used (/proc/stat: all but idle and iowait), in
 * clock ticks; 0 when unreadable. */
uint64_t bench_machine_busy_ticks(void);
/* Processes created since boot (/proc/stat), 0 when unreadable: a phase
 * during which other work starts processes shows it. */
uint64_t bench_machine_forks(void);
/* CPU time (ticks) of every user-space process except this one and c's
 * nodes: work that is not the benchmark's. */
uint64_t bench_foreign_ticks(const struct bench_cluster *c);

/* ---- a system under test ---------------------------------------------------
 *
 * Clients issue one request at a time to one node. A request follows
 * CONVENTIONS §6: if put/get returns an error the callback never runs,
 * otherwise it runs exactly once, never from inside the call, with 0, a
 * negative errno, or BENCH_REDIRECT when the node is not the leader (then
 * redirect is the leader's node index, or -1 when unknown).
 */
enum { BENCH_REDIRECT = 1 };

struct bench_client;
typedef void (*bench_cb)(struct bench_client *c, int status);

struct bench_client {
	void *data;	     /* the caller's */
	int node;	     /* node index it talks to; change it between requests */
	unsigned timeout_ms; /* per request; 0 = 10 s */
	int redirect;	     /* out, with BENCH_REDIRECT */
	char errmsg[160];    /* out, with a negative status */
	/* Private. */
	bench_cb cb;
	void *impl;
};

struct bench_sys;

struct bench_sys_ops {
	const char *name; /* "backstay", "etcd" */
	/* The version the servers report ("3.4.23"), into buf. */
	void (*version)(struct bench_sys *s, char *buf, size_t size);
	/* Prepare c (fields set by the caller: data, node, timeout_ms). 0 or
	 * -ENOMEM. */
	int (*client_init)(struct bench_sys *s, struct bench_client *c);
	/* Release c; no callback runs afterwards. Pending requests are
	 * abandoned. */
	void (*client_close)(struct bench_client *c);
	int (*put)(struct bench_client *c, const void *key, size_t key_len, const void *value,
		   size_t value_len, bench_cb cb);
	/* Linearizable read of one key. */
	int (*get)(struct bench_client *c, const void *key, size_t key_len, bench_cb cb);
	/* Which node leads: 0 and *ret_node, or -EAGAIN when none is known (a
	 * bounded probe of every running node; runs the loop). */
	int (*leader)(struct bench_sys *s, int *ret_node);
	/* Is node i up and following a known leader? (runs the loop) */
	bool (*node_ready)(struct bench_sys *s, int i);
	/* Close everything (runs the loop until done) and free s. */
	void (*close)(struct bench_sys *s);
};

struct bench_sys {
	const struct bench_sys_ops *ops;
	uv_loop_t *loop;
	struct bench_cluster *cluster;
};

/* etcd.c: 0 or negative errno with errmsg. */
int bench_etcd_open(uv_loop_t *loop, struct bench_cluster *cluster, struct bench_sys **ret_sys,
		    char *errmsg, size_t size);
/* bsys.c: secrets_path is the cluster's secrets file. */
int bench_bsys_open(uv_loop_t *loop, struct bench_cluster *cluster, const char *secrets_path,
		    struct bench_sys **ret_sys, char *errmsg, size_t size);

/* ---- workloads (phase.c) -------------------------------------------------- */

enum bench_op { BENCH_PUT, BENCH_GET, BENCH_LOAD };

struct bench_phase {
	enum bench_op op;
	const char *tag;      /* key prefix component: "c16" */
	unsigned clients;     /* 1 .. BENCH_MAX_CLIENTS */
	int node;	      /* node every client starts on */
	unsigned warmup_ms;   /* PUT/GET: not measured */
	unsigned duration_ms; /* PUT/GET: measured; LOAD: time limit */
	uint64_t keys;	      /* LOAD: how many; GET: read among the loaded ones */
	size_t value_len;
};

struct bench_stats {
	uint64_t ops;	    /* measured successes */
	uint64_t errors;    /* failed requests (all retried) */
	uint64_t redirects; /* NOT_LEADER answers */
	double seconds;	    /* measured wall time */
	double ops_per_s;   /* ops / seconds */
	double p50_ms;	    /* latency of measured successes */
	double p99_ms;
	double server_cores; /* CPU of all nodes / wall during the measured window */
	double leader_cores; /* CPU of the phase's start node */
	double client_cores; /* CPU of this process */
	double kernel_cores; /* CPU charged to no process alive throughout the window:
			      * interrupts, kernel threads, processes that came and went */
	double other_cores;  /* CPU of every other user-space process */
	double forks_per_s;  /* processes started on the machine (the bench starts none) */
	char last_error[160];
};

/* Run a closed-loop phase. 0, or negative errno when it could not run at
 * all (errmsg); a LOAD that stops short returns -ETIMEDOUT. */
int bench_phase_run(struct bench_sys *s, const struct bench_phase *p, struct bench_stats *ret,
		    char *errmsg, size_t size);

/* Failover: a 1-client put loop against every member, kill -9 the leader,
 * time to the first put that succeeds after it (sent after the kill).
 * retry_timeout_ms bounds each request. Restarts the killed node and waits
 * for it to follow a leader before returning. 0 and *ret_ms, or negative
 * errno with errmsg. */
int bench_failover_run(struct bench_sys *s, unsigned retry_timeout_ms, double *ret_ms, char *errmsg,
		       size_t size);

/* ---- results (report.c) ----------------------------------------------------- */

#define BENCH_LEVELS 3 /* 1, 16, 64 clients */
#define BENCH_FAILOVERS 3

struct bench_result {
	bool ran;
	char version[64];
	struct bench_stats put[BENCH_LEVELS];
	struct bench_stats get;
	struct bench_stats load;
	double rss_idle_mib[BENCH_NODES];
	double rss_loaded_mib[BENCH_NODES];
	double anon_loaded_mib[BENCH_NODES], file_loaded_mib[BENCH_NODES];
	double failover_ms[BENCH_FAILOVERS];
	unsigned n_failover;
	char notes[512];
};

struct bench_settings {
	unsigned levels[BENCH_LEVELS];
	unsigned warmup_ms, duration_ms;
	uint64_t keys;
	size_t value_len;
	unsigned election_timeout_ms, heartbeat_ms;
	unsigned retry_timeout_ms;
};

/* Write the markdown table and the details below it. */
void bench_report(FILE *out, const struct bench_settings *set, const struct bench_result *bs,
		  const struct bench_result *etcd);

#endif /* BS_TOOLS_BENCH_H */
