/*
 * `backstay run`: one consensus node as a long-running service.
 *
 * Start: the configuration names the node (consensus.node_id), where peers
 * and tools reach it (publish_address:consensus.port) and where it listens
 * (consensus.bind_address); the secrets file authenticates every
 * connection. A data_dir without Raft state is bootstrapped from
 * consensus.initial_cluster; otherwise the node starts from its store.
 * Once it listens, systemd hears READY=1 (Type=notify).
 *
 * Signals (uv_signal, on the loop): SIGTERM and SIGINT close the node and
 * exit 0; SIGHUP re-reads the configuration, applies log_level at once and
 * logs every other changed setting as applying at the next restart.
 *
 * Only this top level logs errors, once, with the context carried up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bs_build.h"
#include "daemon.h"
#include "daemon_leader.h"
#include "discovery.h"
#include "internal.h"
#include "tools.h"

#define DAEMON_COMPONENT "daemon"
#define DAEMON_TICK_MS 2000   /* watch streams' progress notes, the disk check */
#define DAEMON_SOON_MS 50     /* the next tick, when a new leader has work */
#define DAEMON_MAX_INITIAL 16 /* members in consensus.initial_cluster */

/* ---- configuration -------------------------------------------------------------- */

/* A positive setting that fits an unsigned: 0 or -EINVAL (logged). */
static int positive(const struct bs_config *c, enum bs_setting id, unsigned long max,
		    unsigned long *ret)
{
	int64_t v = bs_config_int(c, id);

	if (v <= 0 || (uint64_t)v > max) {
		bs_error(DAEMON_COMPONENT, "%s must be from 1 to %lu, not %lld",
			 bs_setting_info(id)->key, max, (long long)v);
		return -EINVAL;
	}
	*ret = (unsigned long)v;
	return 0;
}

/* One 'ID=IP:PORT' of consensus.initial_cluster into m: 0 or -EINVAL. */
static int member_parse(const char *text, struct cns_member *m)
{
	const char *eq = strchr(text, '=');
	char *end;

	if (eq == NULL || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	m->id = strtoull(text, &end, 10);
	if (end != eq || errno != 0 || m->id == 0 || !cli__address_valid(eq + 1) ||
	    strlen(eq + 1) >= sizeof m->address)
		return -EINVAL;
	snprintf(m->address, sizeof m->address, "%s", eq + 1);
	m->voter = true;
	return 0;
}

/* Parse consensus.initial_cluster; it must list this node at its own
 * address. 0 (with *ret_n = 0 when the list is empty) or -EINVAL (logged). */
static int initial_cluster(struct daemon *d, uint64_t self, struct cns_member *members,
			   unsigned *ret_n)
{
	size_t i, n = bs_config_list_len(d->config, BS_SET_CONSENSUS_INITIAL_CLUSTER);
	const struct cns_member *me = NULL;

	if (n > DAEMON_MAX_INITIAL) {
		bs_error(DAEMON_COMPONENT, "consensus.initial_cluster: at most %d members",
			 DAEMON_MAX_INITIAL);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const char *text =
			bs_config_list_at(d->config, BS_SET_CONSENSUS_INITIAL_CLUSTER, i);

		if (member_parse(text, &members[i]) != 0) {
			bs_error(DAEMON_COMPONENT,
				 "consensus.initial_cluster: '%s' is not 'ID=IP:PORT' (a numeric "
				 "address, an id > 0)",
				 text);
			return -EINVAL;
		}
		if (members[i].id == self)
			me = &members[i];
	}
	if (n > 0 && me == NULL) {
		bs_error(DAEMON_COMPONENT,
			 "consensus.initial_cluster does not list this node (consensus.node_id "
			 "%llu)",
			 (unsigned long long)self);
		return -EINVAL;
	}
	if (me != NULL && strcmp(me->address, d->address) != 0) {
		bs_error(DAEMON_COMPONENT,
			 "consensus.initial_cluster lists node %llu at %s, but publish_address and "
			 "consensus.port make it %s",
			 (unsigned long long)self, me->address, d->address);
		return -EINVAL;
	}
	*ret_n = (unsigned)n;
	return 0;
}

/* The store directory, bootstrapped from consensus.initial_cluster when it
 * holds no Raft state yet. 0 or negative errno (logged). */
static int prepare_store(struct daemon *d, uint64_t self)
{
	const char *data_dir = bs_config_str(d->config, BS_SET_DATA_DIR);
	struct cns_member members[DAEMON_MAX_INITIAL];
	char errmsg[512];
	unsigned n = 0;
	int rv;

	rv = initial_cluster(d, self, members, &n);
	if (rv != 0)
		return rv;
	if (snprintf(d->store_dir, sizeof d->store_dir, "%s/consensus", data_dir) >=
	    (int)sizeof d->store_dir)
		rv = -ENAMETOOLONG;
	else
		rv = cli__make_dirs(data_dir, 0700);
	if (rv != 0) {
		bs_error(DAEMON_COMPONENT, "data_dir %s: %s", data_dir, bs_strerror(rv));
		return rv;
	}
	if (n == 0)
		return 0;
	rv = cns_bootstrap(d->store_dir, members, n, errmsg, sizeof errmsg);
	if (rv == 0)
		bs_info(DAEMON_COMPONENT, "bootstrapped a new cluster of %u voter(s) in %s", n,
			d->store_dir);
	else if (rv == -EEXIST)
		bs_info(DAEMON_COMPONENT, "%s holds Raft state: consensus.initial_cluster ignored",
			d->store_dir);
	else
		bs_error(DAEMON_COMPONENT, "bootstrap: %s", errmsg);
	return rv == -EEXIST ? 0 : rv;
}

static int apply_log_level(const struct bs_config *c)
{
	const char *name = bs_config_str(c, BS_SET_LOG_LEVEL);
	enum bs_log_level level;

	if (bs_log_level_parse(name, &level) != 0) {
		bs_error(DAEMON_COMPONENT, "log_level must be debug, info, warn or error, not '%s'",
			 name);
		return -EINVAL;
	}
	bs_log_set_level(level);
	return 0;
}

/*
 * Who this node is: data_dir/node.json (create-cluster, join-cluster), or
 * for a node of consensus.initial_cluster, consensus.node_id. Neither:
 * BS_E_NOT_CONFIGURED (logged), which `run` turns into exit code 78 so
 * that systemd does not restart it in a loop.
 */
static int load_identity(struct daemon *d)
{
	const struct bs_config *c = d->config;
	int64_t id = bs_config_int(c, BS_SET_CONSENSUS_NODE_ID);
	char errmsg[512];
	int rv;

	rv = cli__identity_read(d->data_dir, &d->self, errmsg, sizeof errmsg);
	if (rv == 0) {
		if (id > 0)
			bs_warn(DAEMON_COMPONENT,
				"consensus.node_id ignored: this node is %s "
				"(id %llu) by %s/node.json",
				d->self.name, (unsigned long long)d->self.id, d->data_dir);
		return 0;
	}
	if (rv != -ENOENT) {
		bs_error(DAEMON_COMPONENT, "%s", errmsg);
		return rv;
	}
	if (id <= 0) {
		bs_error(DAEMON_COMPONENT,
			 "this node is not part of a cluster yet: run "
			 "create-cluster on the first node and join-cluster on the others");
		return BS_E_NOT_CONFIGURED;
	}
	d->self.id = (uint64_t)id;
	d->self.guid[0] = '\0';
	if (cli__node_name(c, d->self.name, sizeof d->self.name) != 0)
		snprintf(d->self.name, sizeof d->self.name, "node-%lld", (long long)id);
	return 0;
}

/* Everything start needs from the configuration and the secrets file. */
static int prepare(struct daemon *d, struct cns_config *cc)
{
	const struct bs_config *c = d->config;
	const char *publish = bs_config_str(c, BS_SET_PUBLISH_ADDRESS);
	const char *secrets_path = bs_config_str(c, BS_SET_SECRETS_FILE);
	unsigned long port, hb, et, thr, trail, frame;
	char errmsg[512];
	int rv;

	if (apply_log_level(c) != 0)
		return -EINVAL;
	snprintf(d->data_dir, sizeof d->data_dir, "%s", bs_config_str(c, BS_SET_DATA_DIR));
	rv = load_identity(d);
	if (rv != 0)
		return rv;
	if (publish == NULL) {
		bs_error(DAEMON_COMPONENT, "publish_address is not set: the address every other "
					   "node and tool reaches this one at");
		return -EINVAL;
	}
	if (positive(c, BS_SET_CONSENSUS_PORT, 65535, &port) != 0 ||
	    positive(c, BS_SET_CONSENSUS_HEARTBEAT_INTERVAL_MS, 60000, &hb) != 0 ||
	    positive(c, BS_SET_CONSENSUS_ELECTION_TIMEOUT_MS, 600000, &et) != 0 ||
	    positive(c, BS_SET_CONSENSUS_SNAPSHOT_THRESHOLD, UINT32_MAX, &thr) != 0 ||
	    positive(c, BS_SET_CONSENSUS_SNAPSHOT_TRAILING, UINT32_MAX, &trail) != 0 ||
	    positive(c, BS_SET_CONSENSUS_MAX_FRAME_BYTES, 1ul << 30, &frame) != 0)
		return -EINVAL;
	cli__join_address(d->address, sizeof d->address, publish, (long long)port);
	if (!cli__address_valid(d->address)) {
		bs_error(DAEMON_COMPONENT, "publish_address must be a numeric IP address, not '%s'",
			 publish);
		return -EINVAL;
	}
	if (bs_secrets_read(secrets_path, &d->secrets, errmsg, sizeof errmsg) != 0) {
		bs_error(DAEMON_COMPONENT, "%s", errmsg);
		return -EINVAL;
	}
	*cc = (struct cns_config){
		.id = d->self.id,
		.address = d->address,
		.listen_host = bs_config_str(c, BS_SET_CONSENSUS_BIND_ADDRESS),
		.listen_port = (int)port,
		.data_dir = d->store_dir,
		.secrets = &d->secrets,
		.clock = bs_clock_real(),
		.election_timeout_ms = (unsigned)et,
		.heartbeat_ms = (unsigned)hb,
		.snapshot_threshold = (unsigned)thr,
		.snapshot_trailing = (unsigned)trail,
		.max_frame = frame,
		.on_ctl = daemon__on_ctl,
		.on_state = NULL, /* set by the caller */
		.data = d,
	};
	rv = prepare_store(d, d->self.id);
	if (rv != 0)
		return rv;
	d->pid_fd = cli__pidfile_lock(d->data_dir, errmsg, sizeof errmsg);
	if (d->pid_fd < 0) {
		bs_error(DAEMON_COMPONENT, "%s", errmsg);
		return d->pid_fd;
	}
	return 0;
}

/* ---- reload ------------------------------------------------------------------------ */

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool setting_equal(const struct bs_config *a, const struct bs_config *b, enum bs_setting id)
{
	size_t i, n;

	if (bs_config_is_nil(a, id) != bs_config_is_nil(b, id))
		return false;
	switch (bs_setting_info(id)->type) {
	case BS_SET_STRING:
		return str_equal(bs_config_str(a, id), bs_config_str(b, id));
	case BS_SET_INT:
		return bs_config_int(a, id) == bs_config_int(b, id);
	case BS_SET_FLOAT:
		return bs_config_float(a, id) == bs_config_float(b, id);
	case BS_SET_BOOL:
		return bs_config_bool(a, id) == bs_config_bool(b, id);
	default: /* lists and maps */
		n = bs_config_list_len(a, id);
		if (n != bs_config_list_len(b, id))
			return false;
		for (i = 0; i < n; i++)
			if (!str_equal(bs_config_list_at(a, id, i), bs_config_list_at(b, id, i)))
				return false;
		return true;
	}
}

/* log_level from fresh, now: it also becomes the running configuration's,
 * so that the next reload compares with what runs. */
static void reload_log_level(struct daemon *d, const struct bs_config *fresh)
{
	const char *name = bs_config_str(fresh, BS_SET_LOG_LEVEL);
	char text[32], errmsg[256];

	if (apply_log_level(fresh) != 0)
		return;				   /* logged; the level stays */
	snprintf(text, sizeof text, "'%s'", name); /* one of the level names */
	bs_config_set(d->config, BS_SET_LOG_LEVEL, text, errmsg, sizeof errmsg);
	bs_info(DAEMON_COMPONENT, "reload: log_level is now %s", name);
}

/* SIGHUP: read the file again; log_level applies now, the rest at the next
 * restart (the running configuration stays what the node started with). */
static void reload(struct daemon *d)
{
	struct bs_config *fresh;
	char errmsg[512];
	unsigned changed = 0;
	int id;

	if (bs_config_new(&fresh) != 0)
		return;
	if (d->config_path != NULL &&
	    bs_config_load(fresh, d->config_path, errmsg, sizeof errmsg) != 0) {
		bs_error(DAEMON_COMPONENT, "reload: %s; the running configuration stays", errmsg);
		bs_config_free(fresh);
		return;
	}
	for (id = 0; id < BS_SET__COUNT; id++) {
		if (setting_equal(d->config, fresh, (enum bs_setting)id))
			continue;
		changed++;
		if (id == BS_SET_LOG_LEVEL)
			reload_log_level(d, fresh);
		else
			bs_info(DAEMON_COMPONENT,
				"reload: %s changed; it applies at the next restart",
				bs_setting_info((enum bs_setting)id)->key);
	}
	if (changed == 0)
		bs_info(DAEMON_COMPONENT, "reload: %s: no setting changed",
			d->config_path != NULL ? d->config_path : "no configuration file");
	bs_config_free(fresh);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void node_closed(void *data)
{
	struct daemon *d = data;

	daemon__watches_free(d);
	d->node = NULL;
}

static void leader_closed(void *data)
{
	(void)data;
}

/* Close the node and every handle; the loop then runs dry. */
static void daemon_stop(struct daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	sd_notify(0, "STOPPING=1");
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->tick, NULL);
	uv_close((uv_handle_t *)&d->reaper, NULL);
	cli__discovery_stop(d->discovery);
	d->discovery = NULL;
	/* The leader module first (it stops asking the node), the node at
	 * once after: its close cancels the module's requests in flight. */
	daemon__leader_close(d, leader_closed, d);
	cns_node_close(d->node, node_closed, d);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (signum == SIGHUP) {
		reload(d);
		return;
	}
	bs_info(DAEMON_COMPONENT, "%s: stopping", strsignal(signum));
	daemon_stop(d, CLI_OK);
}

static void on_tick(uv_timer_t *t);

static void on_state(void *data)
{
	struct daemon *d = data;
	struct cns_status st;

	if (d->node == NULL || d->stopping)
		return; /* still inside cns_node_start, or closing */
	cns_node_status(d->node, &st);
	if (st.role == CNS_FAILED) {
		bs_error(DAEMON_COMPONENT, "the node failed (%s): stopping", st.errmsg);
		daemon_stop(d, CLI_FAIL);
		return;
	}
	sd_notifyf(0, "STATUS=%s in term %llu, leader %llu", cns_role_name(st.role),
		   (unsigned long long)st.term, (unsigned long long)st.leader_id);
	daemon__discovery_publish(d);
	daemon__leader_raft_changed(d);
	if (st.role == CNS_LEADER) /* its metadata upkeep: soon, not in 2 s */
		uv_timer_start(&d->tick, on_tick, DAEMON_SOON_MS, DAEMON_TICK_MS);
}

bool daemon__is_ready_leader(struct daemon *d)
{
	struct cns_status st;

	cns_node_status(d->node, &st);
	return st.role == CNS_LEADER && st.ready;
}

/* A leader that cannot write to its disk refuses every new entry: the
 * cluster could not write at all while it kept leading, though a majority
 * of healthy voters exists. It hands leadership to the most up-to-date
 * voter instead, and asks again at every tick while it still leads. */
static void check_disk(struct daemon *d)
{
	struct cns_status st;
	int rv;

	cns_node_status(d->node, &st);
	if (st.role != CNS_LEADER || !st.disk_failing || st.n_members < 2) {
		d->handing_off = false;
		return;
	}
	rv = cns_transfer_leadership(d->node, 0);
	if (!d->handing_off)
		bs_warn(DAEMON_COMPONENT,
			"this leader cannot write to its disk: handing leadership to another "
			"voter%s%s",
			rv != 0 ? ": " : "", rv != 0 ? bs_strerror(rv) : "");
	d->handing_off = true;
}

static void on_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;

	struct cns_status st;

	check_disk(d);
	daemon__watches_progress(d);
	daemon__cluster_tick(d);
	daemon__discovery_publish(d);
	cns_node_status(d->node, &st);
	if (st.role == CNS_LEADER && !st.ready) /* its barrier is not applied yet */
		uv_timer_start(&d->tick, on_tick, DAEMON_SOON_MS, DAEMON_TICK_MS);
}

static void on_reap(uv_check_t *c)
{
	daemon__reap(c->data);
	daemon__changes_reap(c->data, false);
}

static void start_handles(struct daemon *d)
{
	uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
	const int nums[] = {SIGTERM, SIGINT, SIGHUP};
	size_t i;

	for (i = 0; i < 3; i++) {
		uv_signal_init(&d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	uv_timer_init(&d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, on_tick, DAEMON_SOON_MS, DAEMON_TICK_MS);
	uv_check_init(&d->loop, &d->reaper);
	d->reaper.data = d;
	uv_check_start(&d->reaper, on_reap);
}

static int start(struct daemon *d)
{
	struct cns_config cc;
	struct cns_status st;
	char errmsg[512];
	int rv;

	rv = prepare(d, &cc);
	if (rv != 0)
		return rv;
	cc.on_state = on_state;
	rv = cns_node_start(&d->loop, &cc, &d->node, errmsg, sizeof errmsg);
	if (rv != 0) {
		bs_error(DAEMON_COMPONENT, "starting node %llu: %s", (unsigned long long)cc.id,
			 errmsg);
		return rv;
	}
	rv = cli__discovery_start(cc.listen_host,
				  (int)bs_config_int(d->config, BS_SET_ETCD_CLIENT_PORT),
				  BS_VERSION, &d->discovery, errmsg, sizeof errmsg);
	if (rv != 0)
		bs_error(DAEMON_COMPONENT, "member discovery (etcd.client_port): %s", errmsg);
	start_handles(d);
	if (rv == 0)
		rv = daemon__leader_start(d);
	if (rv != 0) {
		daemon_stop(d, CLI_FAIL);
		return 0; /* the loop runs the close down; the exit code says it failed */
	}
	daemon__discovery_publish(d);
	d->started_ms = bs_clock_now_ms(bs_clock_real());
	bs_info(DAEMON_COMPONENT,
		"node %s (id %llu) listening on %s port %d, advertised as %s; store %s",
		d->self.name, (unsigned long long)cc.id, cc.listen_host, cns_node_port(d->node),
		d->address, d->store_dir);
	cns_node_status(d->node, &st);
	if (st.n_members == 0)
		bs_info(DAEMON_COMPONENT, "no cluster configuration yet: waiting for the leader "
					  "to add this node");
	sd_notify(0, "READY=1");
	return 0;
}

int cli__daemon_run(struct bs_config *config, const char *config_path)
{
	struct daemon *d = calloc(1, sizeof *d);
	int rv;

	if (d == NULL) {
		bs_config_free(config);
		bs_error(DAEMON_COMPONENT, "out of memory");
		return CLI_FAIL;
	}
	d->config = config;
	d->config_path = config_path;
	d->pid_fd = -1;
	signal(SIGPIPE, SIG_IGN); /* a peer or tool that hangs up must not kill us */
	rv = uv_loop_init(&d->loop);
	if (rv == 0) {
		rv = start(d);
		if (rv == 0) {
			uv_run(&d->loop, UV_RUN_DEFAULT);
			bs_info(DAEMON_COMPONENT, "stopped");
			rv = d->exit_code;
		} else {
			rv = rv == BS_E_NOT_CONFIGURED ? CLI_NOT_CONFIGURED : CLI_FAIL;
		}
		uv_run(&d->loop, UV_RUN_DEFAULT); /* handles of a failed start */
		daemon__reap(d);
		daemon__changes_reap(d, true);
		uv_loop_close(&d->loop);
	} else {
		bs_error(DAEMON_COMPONENT, "uv loop: %s", uv_strerror(rv));
		rv = CLI_FAIL;
	}
	if (d->pid_fd >= 0) {
		char path[PATH_MAX];

		cli__pidfile_path(path, sizeof path, d->data_dir);
		unlink(path); /* while still holding the lock */
		close(d->pid_fd);
	}
	bs_secrets_wipe(&d->secrets);
	bs_config_free(d->config);
	free(d);
	return rv;
}
