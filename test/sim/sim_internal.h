/* Internals of the consensus simulation. */
#ifndef BS_TEST_SIM_INTERNAL_H
#define BS_TEST_SIM_INTERNAL_H

#include "base.h"
#include "driver.h"
#include "internal.h"
#include "sim.h"

#define SIM_MAX_NODES 7

struct sim_disk {
	uint64_t term, vote;
	struct cns__snapshot *snap;
	struct cns__entry *entries;
	unsigned n, cap;
	uint64_t first;
};

bool sim_disk_apply(struct sim_disk *disk, const struct cns__persist *p);
struct cns__loaded *sim_disk_load(const struct sim_disk *disk);
void sim_disk_free(struct sim_disk *disk);

struct sim_write {
	struct cns__persist *p;
	uint64_t done_at;
};

struct sim_proposal {
	uint64_t index, term, hash;
};

struct sim;

struct sim_node {
	struct sim *sim;
	unsigned id;
	char address[8];
	bool up;
	uint64_t restart_at;
	unsigned group; /* partition side: nodes talk only within a group */
	struct cns__drv *drv;
	struct sim_disk disk;
	uint64_t timer_at;
	struct sim_write *writes; /* FIFO [whead, wn) */
	unsigned whead, wn, wcap;
	uint64_t disk_free_at;
	uint64_t sm_index, sm_chain; /* the replicated state machine */
	struct sim_proposal *props;
	unsigned nprops, capprops;
};

/* A message in flight, as the bytes of a packed Envelope: the simulation
 * sends every message through the real wire codec. */
struct sim_msg {
	uint64_t at, seq;
	unsigned from, to;
	uint8_t *bytes;
	size_t len;
	struct sim_msg *next;
};

struct sim {
	struct sim_options o;
	struct sim_result *r;
	struct bs_clock *rng;
	uint64_t now, seq, end_faults, end;
	bool healed;
	struct sim_node nodes[SIM_MAX_NODES + 1];
	struct sim_msg *msgs;
	uint64_t *hash_at, *chain_at, *leader_of; /* by index / by term */
	uint64_t cap_at, cap_term;
	uint64_t next_fault, next_write, next_check, writes_made, stalled;
};

uint64_t sim_rand(struct sim *s, uint64_t bound);
void sim_step(struct sim *s);
void sim_fault(struct sim *s);
void sim_heal(struct sim *s);
void sim_node_start(struct sim *s, struct sim_node *n);
void sim_node_crash(struct sim *s, struct sim_node *n);
void sim_violation(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
