/*
 * The node runtime in-process, for test_node.c and test_peer.c: a cluster
 * of up to MAX_NODES nodes with real LMDB files under a fresh directory,
 * real TCP on 127.0.0.1 (free ports), one uv loop for every node. Every
 * wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node_fixture.h"

/* A free loopback port for a node, below the ephemeral range (32768 and up
 * by default): a port the kernel hands out for bind(0) may be taken as the
 * source port of another process's outgoing connection before the node
 * binds it (EADDRINUSE in CI, where tests run two at a time). Random
 * candidates, each checked by binding it; bounded. */
static int free_port(void)
{
	static unsigned seed;
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd, port, tries;

	if (seed == 0)
		seed = (unsigned)getpid() ^ (unsigned)bs_clock_now_ms(bs_clock_real());
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (tries = 0; tries < 500; tries++) {
		port = 20000 + (int)(rand_r(&seed) % 12000);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		a.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			close(fd);
			return port;
		}
		close(fd);
	}
	fail_msg("no free loopback port in [20000, 32000) after 500 tries");
	return -1;
}

void node_dir(struct cluster *c, unsigned i, char *buf, size_t size)
{
	snprintf(buf, size, "%s/node%u", c->dir, i + 1);
}

void start_node(struct cluster *c, unsigned i)
{
	char dir[512], errmsg[256];
	int port = atoi(strrchr(c->members[i].address, ':') + 1);
	struct cns_config cfg = {
		.id = c->members[i].id,
		.address = c->members[i].address,
		.listen_host = "127.0.0.1",
		.listen_port = port,
		.secrets = &c->secrets,
		.clock = c->clock,
		.election_timeout_ms = 300,
		.heartbeat_ms = 50,
		.snapshot_threshold = 64,
		.snapshot_trailing = 16,
		.max_frame = 1536 * 1024, /* a bigger snapshot must go in chunks */
		.on_ctl = c->on_ctl,
		.data = &c->ctx[i],
	};

	node_dir(c, i, dir, sizeof dir);
	cfg.data_dir = dir;
	assert_int_equal(cns_node_start(&c->loop, &cfg, &c->nodes[i], errmsg, sizeof errmsg), 0);
}

void cluster_init_ctl(struct cluster *c, unsigned n, unsigned voters, struct bs_clock *clock,
		      cluster_ctl_cb on_ctl, void *data)
{
	char dir[512], errmsg[256];
	unsigned i;

	memset(c, 0, sizeof *c);
	c->on_ctl = on_ctl;
	c->data = data;
	assert_int_equal(uv_loop_init(&c->loop), 0);
	for (i = 0; i < MAX_NODES; i++)
		c->ctx[i] = (struct node_ctx){.c = c, .index = i};
	c->dir = unit_tmpdir_new();
	c->clock = clock;
	c->n = n;
	assert_int_equal(bs_secrets_generate(bs_clock_real(), &c->secrets), 0);
	for (i = 0; i < n; i++) {
		c->members[i].id = i + 1;
		c->members[i].voter = true;
		snprintf(c->members[i].address, sizeof c->members[i].address, "127.0.0.1:%d",
			 free_port());
	}
	for (i = 0; i < voters; i++) {
		node_dir(c, i, dir, sizeof dir);
		assert_int_equal(cns_bootstrap(dir, c->members, voters, errmsg, sizeof errmsg), 0);
	}
	for (i = 0; i < n; i++)
		start_node(c, i);
}

void cluster_init(struct cluster *c, unsigned n, unsigned voters, struct bs_clock *clock)
{
	cluster_init_ctl(c, n, voters, clock, NULL, NULL);
}

static void count_closed(void *data)
{
	(*(unsigned *)data)++;
}

void close_node(struct cluster *c, unsigned i)
{
	unsigned closed = 0, spins = 0;

	cns_node_close(c->nodes[i], count_closed, &closed);
	while (closed == 0 && spins++ < 100000)
		uv_run(&c->loop, UV_RUN_ONCE);
	assert_int_equal(closed, 1);
	c->nodes[i] = NULL;
}

void cluster_free(struct cluster *c)
{
	char dir[512];
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->nodes[i] != NULL)
			close_node(c, i);
		node_dir(c, i, dir, sizeof dir);
		unit_tmpdir_remove(strdup(dir)); /* data.mdb, lock.mdb */
	}
	assert_int_equal(uv_loop_close(&c->loop), 0);
	unit_tmpdir_remove(c->dir);
}

bool run_until(struct cluster *c, bool (*pred)(struct cluster *c, void *arg), void *arg)
{
	uint64_t start = uv_now(&c->loop);

	while (!pred(c, arg)) {
		uv_update_time(&c->loop);
		if (uv_now(&c->loop) - start > 20000)
			return false;
		uv_run(&c->loop, UV_RUN_ONCE); /* returns at least every node tick (50 ms) */
	}
	return true;
}

int leader_of(struct cluster *c)
{
	struct cns_status st;
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->nodes[i] == NULL)
			continue;
		cns_node_status(c->nodes[i], &st);
		if (st.role == CNS_LEADER && st.ready)
			return (int)i;
	}
	return -1;
}

bool has_leader(struct cluster *c, void *arg)
{
	(void)arg;
	return leader_of(c) >= 0;
}
