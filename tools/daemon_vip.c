/*
 * The VIP in the daemon (vip, vip_interface): the keeper of vip/ (vip.h)
 * on the daemon's loop, with a timer that spaces the announcement rounds
 * VIP_ANNOUNCE_INTERVAL_MS apart (never a sleep on the loop), the keeper's
 * lines in the daemon's log, and its state in status. The leader module
 * (daemon_leader.c) calls it when serving starts and stops, on confirmed
 * lease renewals and on health checks.
 *
 * A VIP that cannot work (a malformed address, vip without vip_interface,
 * the node's own address) is reported once at start and in status; the
 * node runs on without it: PostgreSQL failover does not depend on the VIP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "daemon_leader.h"
#include "vip.h"

#define VIP_COMPONENT "vip"

struct daemon_vip {
	struct vip_keeper k;
	uv_timer_t timer;  /* the next announcement round */
	char problem[320]; /* a config that cannot work: no keeper then */
	void (*closed_cb)(void *data);
	void *closed_data;
};

static void on_log(void *data, bool warn, const char *line)
{
	(void)data;
	if (warn)
		bs_warn(VIP_COMPONENT, "%s", line);
	else
		bs_info(VIP_COMPONENT, "%s", line);
}

static bool usable(const struct daemon_vip *v)
{
	return v != NULL && v->problem[0] == '\0';
}

static void on_round(uv_timer_t *t)
{
	struct daemon_vip *v = t->data;

	vip_keeper_announce(&v->k);
	if (!vip_keeper_announcing(&v->k))
		uv_timer_stop(&v->timer);
}

/* After a keeper call: rounds are due, the timer runs; none, it stops. */
static void pace(struct daemon_vip *v)
{
	if (!vip_keeper_announcing(&v->k))
		uv_timer_stop(&v->timer);
	else if (!uv_is_active((uv_handle_t *)&v->timer))
		uv_timer_start(&v->timer, on_round, VIP_ANNOUNCE_INTERVAL_MS,
			       VIP_ANNOUNCE_INTERVAL_MS);
}

static bool same_address(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int f = strchr(a, ':') != NULL ? AF_INET6 : AF_INET;

	return inet_pton(f, a, x) == 1 && inet_pton(f, b, y) == 1 &&
	       memcmp(x, y, f == AF_INET6 ? 16 : 4) == 0;
}

/* Why this config cannot work, in v->problem; "" if it can. */
static void check_config(struct daemon_vip *v, const struct vip_config *c, const char *publish)
{
	char errmsg[256 - 32]; /* room for the suffix in problem */

	if (c->interface == NULL)
		snprintf(v->problem, sizeof v->problem,
			 "vip is set ('%s') but vip_interface is not: the VIP is not managed",
			 c->address);
	else if (vip_config_check(c, errmsg, sizeof errmsg) != 0)
		snprintf(v->problem, sizeof v->problem, "%s: the VIP is not managed", errmsg);
	else if (publish != NULL && same_address(c->address, publish))
		snprintf(v->problem, sizeof v->problem,
			 "vip '%s' is this node's publish_address: the VIP must be an address "
			 "of its own; it is not managed",
			 c->address);
}

/* The lifetime given to the address: whole seconds within the lease's
 * validity window (valid_ms: TTL * (1 - rho) - fence budget), at least 1.
 * The kernel drops an address at most a quarter second after its lifetime
 * ends (its timer slack), so a holder killed with -9 loses the VIP within
 * about lifetime + 0.25 s of its last confirmed renewal, before the lease can
 * end elsewhere (docs/vip.md). */
static unsigned lifetime_s(uint64_t valid_ms, uint64_t renew_ms)
{
	unsigned s = (unsigned)(valid_ms > 1000 ? valid_ms / 1000 : 1);

	if (renew_ms * 2 > (uint64_t)s * 1000)
		bs_warn(VIP_COMPONENT,
			"leaderl.lease_renew_ms %llu is more than half the VIP's lifetime (%u s): "
			"the VIP may lapse between renewals",
			(unsigned long long)renew_ms, s);
	return s;
}

struct daemon_vip *daemon__vip_start(uv_loop_t *loop, const struct bs_config *c, uint64_t valid_ms,
				     uint64_t renew_ms)
{
	struct vip_config vc = {.interface = bs_config_str(c, BS_SET_VIP_INTERFACE),
				.address = bs_config_str(c, BS_SET_VIP)};
	struct daemon_vip *v;

	if (vc.address == NULL)
		return NULL;
	v = calloc(1, sizeof *v);
	if (v == NULL) {
		bs_error(VIP_COMPONENT, "out of memory: the VIP is not managed");
		return NULL;
	}
	uv_timer_init(loop, &v->timer);
	v->timer.data = v;
	check_config(v, &vc, bs_config_str(c, BS_SET_PUBLISH_ADDRESS));
	if (v->problem[0] != '\0') {
		bs_error(VIP_COMPONENT, "%s", v->problem);
		return v;
	}
	vc.lifetime_s = lifetime_s(valid_ms, renew_ms);
	vip_keeper_init(&v->k, &vip_linux_ops, &vc, on_log, v);
	bs_info(VIP_COMPONENT, "VIP %s on %s while this node holds the lease (lifetime %u s)",
		vc.address, vc.interface, vc.lifetime_s);
	vip_keeper_start(&v->k);
	return v;
}

void daemon__vip_serve(struct daemon_vip *v, bool on)
{
	if (!usable(v))
		return;
	vip_keeper_serve(&v->k, on);
	pace(v);
}

void daemon__vip_renewed(struct daemon_vip *v)
{
	if (!usable(v))
		return;
	vip_keeper_renewed(&v->k);
	pace(v);
}

void daemon__vip_check(struct daemon_vip *v)
{
	if (!usable(v))
		return;
	vip_keeper_check(&v->k);
	pace(v);
}

json_t *daemon__vip_json(const struct daemon_vip *v)
{
	if (v == NULL)
		return NULL;
	if (!usable(v))
		return json_pack("{s:b, s:s}", "held", 0, "error", v->problem);
	return json_pack("{s:s, s:s, s:b, s:s, s:I, s:I}", "address", v->k.cfg.address, "interface",
			 v->k.cfg.interface, "held", v->k.held, "error", v->k.errmsg, "repairs",
			 (json_int_t)v->k.repairs, "removed_stale", (json_int_t)v->k.removed_stale);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct daemon_vip *v = h->data;
	void (*cb)(void *data) = v->closed_cb;
	void *data = v->closed_data;

	free(v);
	cb(data);
}

void daemon__vip_close(struct daemon_vip *v, void (*cb)(void *data), void *data)
{
	if (v == NULL) {
		cb(data);
		return;
	}
	if (usable(v))
		vip_keeper_serve(&v->k, false);
	v->closed_cb = cb;
	v->closed_data = data;
	uv_close((uv_handle_t *)&v->timer, on_timer_closed);
}
