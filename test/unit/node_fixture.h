/*
 * A cluster of nodes in one process (node_fixture.c), shared by the node
 * tests. Failures are cmocka assertions.
 */
#ifndef BS_TEST_NODE_FIXTURE_H
#define BS_TEST_NODE_FIXTURE_H

#include <stdbool.h>

#include "consensus.h"
#include "unit.h"

#define MAX_NODES 4

struct cluster;

typedef void (*cluster_ctl_cb)(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
			       const Backstay__CtlRequest *req);

/* What config.data points at for node `index`. */
struct node_ctx {
	struct cluster *c;
	unsigned index;
};

struct cluster {
	uv_loop_t loop;
	char *dir;
	struct bs_secrets secrets;
	struct bs_clock *clock;
	struct cns_member members[MAX_NODES];
	struct cns_node *nodes[MAX_NODES];
	unsigned n;
	cluster_ctl_cb on_ctl; /* every node's config.on_ctl, data = &ctx[its index] */
	struct node_ctx ctx[MAX_NODES];
	void *data; /* the test's */
};

/* n members (ids 1..n), the first `voters` bootstrapped as the initial
 * cluster, all started on clock (which must outlive the cluster). */
void cluster_init(struct cluster *c, unsigned n, unsigned voters, struct bs_clock *clock);
/* The same with config.on_ctl = on_ctl on every node; data is the test's
 * (c->data). */
void cluster_init_ctl(struct cluster *c, unsigned n, unsigned voters, struct bs_clock *clock,
		      cluster_ctl_cb on_ctl, void *data);
/* Close the running nodes, remove their stores, close the loop. */
void cluster_free(struct cluster *c);
void node_dir(struct cluster *c, unsigned i, char *buf, size_t size);
/* (Re)start node i on its store; close it (waits for the close callback). */
void start_node(struct cluster *c, unsigned i);
void close_node(struct cluster *c, unsigned i);

/* Run the loop until pred holds, for at most 20 s of real time whatever the
 * test's clock is: false when it never did. */
bool run_until(struct cluster *c, bool (*pred)(struct cluster *c, void *arg), void *arg);
/* The index of a ready leader, or -1; has_leader is its predicate. */
int leader_of(struct cluster *c);
bool has_leader(struct cluster *c, void *arg);

#endif
