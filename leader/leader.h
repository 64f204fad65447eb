/*
 * leader/ — the leader module: which node runs the PostgreSQL primary.
 * Design and proofs: docs/leader.md. Public prefix ldr_.
 *
 * This header is the pure state machine: ldr_step(sm, event, now) decides,
 * returns actions, and never does I/O or reads a clock; the orchestrator
 * (in the daemon) runs the actions through its adapters (pgctl, vip, the
 * KV) and feeds their outcomes back as events. Every decision is therefore
 * a function of (state, event, now) and is tested on a virtual clock with
 * golden traces (test/unit/test_leader.c).
 *
 * Node ids are Raft ids. Times are milliseconds of the monotonic clock.
 */
#ifndef BS_LEADER_H
#define BS_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LDR_MAX_NODES 16
#define LDR_MAX_ACTIONS 8
#define LDR_MAX_MOVES 4 /* state moves one ldr_step records (sm->moves) */

/* States shown by status and cluster-status (leaderl's names). */
enum ldr_state {
	LDR_INITIALIZING,	/* started; PostgreSQL's state not known yet */
	LDR_WAITING_FOR_LEADER, /* no holder to follow, or following failed */
	LDR_PROMOTING,		/* holds the lease, PostgreSQL being promoted */
	LDR_LEADER,		/* holds the lease, PostgreSQL primary serving */
	LDR_FOLLOWER,		/* PostgreSQL is a standby of the holder */
	LDR_DEPOSED_LEADER,	/* was primary, lost the lease; not yet rejoined */
	LDR_N_STATES
};

const char *ldr_state_name(enum ldr_state s);

/* The transition table: true when `from -> to` is a move the rules may make
 * (docs/leader.md §7). ldr_step checks every move against it. */
bool ldr_transition_allowed(enum ldr_state from, enum ldr_state to);

/* Why this node may not acquire the lease (a bit set; 0 = eligible). */
enum ldr_block {
	LDR_BLOCK_PG = 1u << 0,	      /* max_pgsql_failures consecutive failures */
	LDR_BLOCK_ES = 1u << 1,	      /* max_elasticsearch_failures consecutive failures */
	LDR_BLOCK_DISK = 1u << 2,     /* disk check failed and fatal_system_checks */
	LDR_BLOCK_NODE = 1u << 3,     /* set-node-failover off */
	LDR_BLOCK_CLUSTER = 1u << 4,  /* set-cluster-failover off (and not the last holder) */
	LDR_BLOCK_UNSYNCED = 1u << 5, /* the unsynced sentinel: partially synced */
	LDR_BLOCK_LAG = 1u << 6,      /* more than max_bytes_behind_leader behind */
	LDR_BLOCK_PROMOTE = 1u << 7,  /* its promotion failed less than promote_hold_ms ago */
};

/* Describe blocks (a bit set) as "postgresql unhealthy, failover off". */
void ldr_block_describe(unsigned blocks, char *out, size_t size);

struct ldr_settings {
	uint64_t self_id;
	uint64_t ttl_ms;		/* lease TTL */
	uint64_t renew_ms;		/* keep-alive period */
	uint64_t fence_budget_ms;	/* time the fence needs (docs/leader.md §4) */
	uint32_t rho_ppm;		/* clock-rate bound, parts per million */
	uint64_t collect_timeout_ms;	/* one report round */
	uint64_t retry_ms;		/* leaderless Raft leader: next round after */
	uint64_t follow_timeout_ms;	/* standby not streaming after re-point: rewind */
	uint64_t switchover_timeout_ms; /* demote/promote: target catch-up limit */
	uint64_t promote_hold_ms; /* a node whose promotion failed: no candidate for this long */
	unsigned max_pg_failures;
	unsigned max_es_failures;
	bool es_enabled;
	bool fatal_system_checks;
	uint64_t max_bytes_behind; /* 0: no limit */
	bool quorum_sync;	   /* false: asynchronous replication */
};

/* A health sample of PostgreSQL on this node. */
struct ldr_pg_sample {
	bool ok;	  /* the check succeeded (connect + query) */
	bool in_recovery; /* a standby */
	uint32_t timeline;
	uint64_t lsn;	   /* highest WAL on disk: receive/replay (standby), flush (primary) */
	bool streaming;	   /* standby: WAL receiver streaming */
	uint64_t upstream; /* standby: the node it streams from (0 unknown) */
	unsigned standbys_streaming; /* primary: pg_stat_replication rows streaming */
};

/* One node's answer in a report round (docs/leader.md §3). */
struct ldr_report {
	uint64_t id;
	bool has_lsn; /* PostgreSQL up and its position known; else it does not count */
	uint32_t timeline;
	uint64_t lsn;
	unsigned blocks; /* 0 = eligible */
};

enum ldr_cmd { LDR_CMD_DEMOTE, LDR_CMD_PROMOTE, LDR_CMD_FORCE };

enum ldr_event_type {
	LDR_EV_TICK,	     /* a deadline (ldr_next_deadline) passed */
	LDR_EV_RAFT,	     /* raft: this node's Raft role or the leader changed */
	LDR_EV_HOLDER,	     /* holder: pg/leader changed (id 0: no holder) */
	LDR_EV_CONTROL,	     /* control: failover switches, last holder */
	LDR_EV_PG,	     /* pg: a health sample */
	LDR_EV_PG_EXIT,	     /* PostgreSQL exited without being asked to */
	LDR_EV_ES,	     /* ok: Elasticsearch check result */
	LDR_EV_DISK,	     /* ok: disk check result */
	LDR_EV_RENEWED,	     /* sent_ms: a keep-alive sent then was confirmed */
	LDR_EV_RENEW_FAILED, /* the last keep-alive was refused */
	LDR_EV_ACQUIRED,     /* epoch: the lease and pg/leader are ours */
	LDR_EV_ACQUIRE_FAILED,
	LDR_EV_REPORTS,	  /* reports: a round finished */
	LDR_EV_DONE,	  /* done: an LDR_ACT_PG_* action finished */
	LDR_EV_CMD,	  /* cmd: an operator's demote / promote / force-leader */
	LDR_EV_SENTINELS, /* sentinels: the files as found at start (or changed by hand) */
};

struct ldr_event {
	enum ldr_event_type type;
	union {
		struct {
			bool leader;	    /* this node is Raft leader, own-term barrier applied */
			uint64_t leader_id; /* 0 = none known */
			unsigned n_voters;
			uint64_t voters[LDR_MAX_NODES];
		} raft;
		struct {
			uint64_t id; /* 0 = no holder */
			uint64_t epoch;
		} holder;
		struct {
			bool cluster_blocked;
			bool node_blocked;    /* this node */
			uint64_t last_holder; /* from pg/epoch; 0 = never */
			uint64_t last_epoch;
		} control;
		/* Taken after the DONE of the last PG action it follows (the pgctl adapter
		 * serialises its checks with its actions): a sample from before a stop must
		 * not arrive after the stop's DONE. */
		struct ldr_pg_sample pg;
		bool ok; /* LDR_EV_ES, LDR_EV_DISK */
		uint64_t sent_ms;
		uint64_t epoch;
		struct {
			unsigned n;
			struct ldr_report r[LDR_MAX_NODES];
		} reports;
		struct {
			int action; /* enum ldr_action_type */
			int status; /* 0 or negative errno */
		} done;
		struct {
			enum ldr_cmd kind;
			uint64_t target; /* LDR_CMD_PROMOTE */
		} cmd;
		struct {
			bool no_start; /* no-start-pgsql exists */
			bool unsynced; /* unsynced exists: a base backup did not finish */
		} sentinels;
	} u;
};

enum ldr_follow_mode {
	LDR_FOLLOW_RECONF,     /* (re)start as a standby of the target, no data copy */
	LDR_FOLLOW_REWIND,     /* pg_rewind against the target, then start as standby */
	LDR_FOLLOW_BASEBACKUP, /* fresh base backup from the target (unsynced sentinel) */
};

enum ldr_action_type {
	LDR_ACT_SERVE,	       /* on: /leader 200 + VIP; off: 503 + VIP dropped. First in a fence */
	LDR_ACT_PG_START,      /* start PostgreSQL as a standby (target: follow; 0: none) */
	LDR_ACT_PG_STOP,       /* immediate: fence; else fast (switchover: WAL shipped first) */
	LDR_ACT_PG_PROMOTE,    /* promote, record epoch, create slots for the others */
	LDR_ACT_PG_FOLLOW,     /* follow target by mode */
	LDR_ACT_PG_SYNC,       /* synchronous_standby_names for the voters (k from ldr) */
	LDR_ACT_PG_CHECKPOINT, /* CHECKPOINT while still serving: a hand-over's stop is then short */
	LDR_ACT_LEASE_ACQUIRE, /* epoch: grant, pg/epoch, pg/leader create-only */
	LDR_ACT_LEASE_RENEW,
	LDR_ACT_LEASE_RELEASE, /* epoch: delete pg/leader if it still names this node at epoch,
				  revoke the lease (best effort: harmless when not Raft leader) */
	LDR_ACT_COLLECT,       /* start a report round over the voters */
	LDR_ACT_TRANSFER,      /* target: hand Raft leadership over */
	LDR_ACT_NO_START,      /* on: write the no-start-pgsql sentinel; off: remove it */
	LDR_ACT_CMD_DONE,      /* cmd, target, status: answer the operator's command (0 or -errno;
				  why says more) */
};

struct ldr_action {
	enum ldr_action_type type;
	bool on; /* SERVE, NO_START; PG_STOP: immediate */
	uint64_t target;
	uint64_t epoch; /* LEASE_ACQUIRE, PG_PROMOTE */
	enum ldr_follow_mode mode;
	unsigned k; /* PG_SYNC: quorum size (0 = asynchronous) */
	int cmd;    /* CMD_DONE: enum ldr_cmd */
	int status; /* CMD_DONE: 0 done; -EBUSY, -EAGAIN, -EALREADY, -EEXIST, -EINVAL,
			   -ENOENT, -EPERM refused; -ETIMEDOUT no new leader in time */
};

struct ldr_actions {
	unsigned n;
	struct ldr_action a[LDR_MAX_ACTIONS];
};

/* One state move made by a step: after `after` of the step's actions. */
struct ldr_move {
	enum ldr_state from, to;
	unsigned after;
};

/* The state machine's state: plain data, copied freely, no pointers. */
struct ldr_sm {
	struct ldr_settings set;
	enum ldr_state state;
	unsigned blocks;
	/* facts last heard */
	bool raft_leader;
	uint64_t raft_leader_id;
	unsigned n_voters;
	uint64_t voters[LDR_MAX_NODES];
	uint64_t holder, holder_epoch;
	bool cluster_blocked, node_blocked;
	uint64_t last_holder, last_epoch;
	struct ldr_pg_sample pg;
	bool pg_known;
	unsigned pg_failures, es_failures;
	bool disk_ok, unsynced;
	uint64_t promote_hold_until_ms; /* LDR_BLOCK_PROMOTE until then (0: none) */
	/* this node as holder */
	uint64_t epoch;		 /* ours while PROMOTING/LEADER */
	uint64_t valid_until_ms; /* fence when now reaches it */
	uint64_t renew_due_ms;
	bool renew_in_flight;
	uint64_t renew_sent_ms;
	/* pending work */
	bool collecting, acquiring;
	int pg_busy; /* the LDR_ACT_PG_* in flight, -1 none */
	uint64_t next_round_ms;
	uint64_t follow_deadline_ms;
	uint64_t following; /* target of the current follow */
	enum ldr_follow_mode follow_mode;
	/* operator commands */
	int cmd; /* enum ldr_cmd in progress, -1 none */
	uint64_t cmd_target;
	uint64_t cmd_deadline_ms;
	char why[128];	    /* last reason for not acquiring / not following, for status */
	uint64_t failovers; /* acquisitions seen (holder changes to a new epoch) */
	/* Fields below: internal bookkeeping of the rules (read-only for others). */
	bool serve;		      /* SERVE on is in force */
	bool pg_down;		      /* PostgreSQL is not running (exit, stop, failed check) */
	bool pg_exited;		      /* it exited by itself; a sample of it running clears */
	uint64_t restart_until_ms;    /* a follower restarting a PostgreSQL that exited:
				       * RECONF failures retried until then, 0 none */
	bool no_start;		      /* the no-start-pgsql sentinel exists */
	bool must_stop;		      /* a fence's PG_STOP immediate has not succeeded yet */
	int fence_cause;	      /* this step: an event that fences a holder (rule 1) */
	uint64_t acquire_sent_ms;     /* LEASE_ACQUIRE emitted: valid_until's base */
	uint64_t collect_deadline_ms; /* a report round unanswered by then is dropped */
	uint64_t pg_retry_ms;	      /* no PG_START, PG_SYNC retry or fence re-stop before */
	int sync_k, sync_sent_k;      /* PG_SYNC k in force (-1 none), k in flight */
	uint64_t handover_target;     /* LEADER handing over: SERVE off, PG_STOP fast sent */
	uint64_t following_epoch;     /* the holder epoch `following` was for */
	bool follow_active;	      /* a PG_FOLLOW chain is running (not yet streaming) */
	bool follow_timing;	      /* follow_deadline_ms is set */
	bool follow_failed;	      /* gave up on (following, following_epoch) */
	int follow_status;	      /* last PG_FOLLOW's error (0: timed out) */
	bool cmd_wait_reports;	      /* the command waits for a report round */
	uint64_t cmd_epoch;	      /* holder epoch when the command started */
	uint64_t ignored;	      /* events that made no sense in their state */
	uint64_t bad_moves;	      /* illegal moves refused (NDEBUG builds; asserts otherwise) */
	unsigned n_moves;	      /* moves made by the last ldr_step */
	struct ldr_move moves[LDR_MAX_MOVES];
};

void ldr_init(struct ldr_sm *sm, const struct ldr_settings *set);

/* Decide. Appends to *ret_actions (the caller zeroes it) and runs them in
 * order. Never fails: an event that makes no sense in the state is ignored
 * (and counted in sm->ignored); the moves it made are in sm->moves. */
void ldr_step(struct ldr_sm *sm, const struct ldr_event *ev, uint64_t now_ms,
	      struct ldr_actions *ret_actions);

/* This node's answer to a report round (ctl verb pg.report), from its last
 * PostgreSQL sample and its blocks. */
void ldr_self_report(const struct ldr_sm *sm, struct ldr_report *ret_report);

/* A report round can be decided: reports[i] (id 0: that voter gave up)
 * with answered[i] for each of the n voters asked (docs/leader.md §3). */
bool ldr_round_settled(const struct ldr_sm *sm, const struct ldr_report *reports,
		       const bool *answered, unsigned n);

/* docs/leader.md §4: sent + ttl*(1 - rho_ppm/1e6) - fence_budget, in integers,
 * the drift rounded up, saturating (never before sent, never past UINT64_MAX). */
uint64_t ldr_valid_until(const struct ldr_settings *set, uint64_t sent_ms);

/* The earliest time ldr_step wants an LDR_EV_TICK; UINT64_MAX for none.
 * After ldr_step(..., now, ...) it is always later than now. */
uint64_t ldr_next_deadline(const struct ldr_sm *sm);

/* This node serves writes: holder, promoted, not fenced. */
bool ldr_serving(const struct ldr_sm *sm);

/* k of ANY k (...) for n voters: n - floor(n/2) - 1 (docs/leader.md §3). */
unsigned ldr_quorum_k(unsigned n_voters);

/* One line per action ("SERVE off", "PG_FOLLOW 2 rewind") for traces and logs. */
void ldr_action_format(const struct ldr_action *a, char *out, size_t size);

#endif /* BS_LEADER_H */
