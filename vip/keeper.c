/*
 * The keeper: when this node puts the VIP on its interface, renews it,
 * repairs it, announces it and takes it off (the contract is in vip.h).
 * Decisions only: every system call goes through the vip_ops table, every
 * line for the log through log(), and time through the caller's events.
 *
 * ARCHITECTURE.md §5: "the lease holder owns the address and announces it;
 * nobody else ever holds it". Hence: removed when serving stops (in the
 * fence's first step, before PostgreSQL is stopped), removed at start-up and
 * whenever a health check finds it on a node that does not serve, and given
 * a lifetime that only confirmed lease renewals extend, so that even a
 * holder killed with -9 loses it before the lease can end elsewhere.
 *
 * Errors are remembered with the operation that failed: the same failure
 * again is not logged again; a later success of that operation is logged
 * as a recovery (a success of another one says nothing about it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vip_internal.h"

enum op { OP_NONE, OP_ADD, OP_DEL, OP_PRESENT, OP_ANNOUNCE, OP_REFRESH };

static const char *const op_name[] = {
	[OP_NONE] = "",
	[OP_ADD] = "adding",
	[OP_DEL] = "removing",
	[OP_PRESENT] = "looking for",
	[OP_ANNOUNCE] = "announcing",
	[OP_REFRESH] = "renewing",
};

static void say(struct vip_keeper *k, bool warn, const char *fmt, const char *what)
{
	char line[512];

	snprintf(line, sizeof line, fmt, k->cfg.address, k->cfg.interface, what);
	k->log(k->data, warn, line);
}

/* The outcome of one operation: a new failure is logged, the same failure
 * again is not, a success after a failure of the same operation is. */
static void report(struct vip_keeper *k, enum op op, int rv, const char *errmsg)
{
	char line[512];

	if (rv == 0) {
		if (k->err != 0 && k->err_op == (int)op) {
			snprintf(line, sizeof line, "VIP %s on %s: %s works again (was: %s)",
				 k->cfg.address, k->cfg.interface, op_name[op], k->errmsg);
			k->log(k->data, false, line);
			k->err = 0;
			k->errmsg[0] = '\0';
		}
		return;
	}
	if (rv == k->err && strcmp(errmsg, k->errmsg) == 0)
		return;
	k->err = rv;
	k->err_op = (int)op;
	snprintf(k->errmsg, sizeof k->errmsg, "%s", errmsg);
	k->log(k->data, true, k->errmsg);
}

void vip_keeper_init(struct vip_keeper *k, const struct vip_ops *ops, const struct vip_config *c,
		     void (*log)(void *data, bool warn, const char *line), void *data)
{
	memset(k, 0, sizeof *k);
	k->ops = ops;
	k->cfg = *c;
	k->log = log;
	k->data = data;
}

static void announce_round(struct vip_keeper *k)
{
	char errmsg[256];
	int rv;

	if (!k->on || !k->held || k->rounds_left == 0)
		return;
	k->rounds_left--;
	rv = k->ops->announce(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_ANNOUNCE, rv, errmsg);
}

/* Add the VIP and send the first announcement; the timer sends the rest. */
static void take(struct vip_keeper *k)
{
	char errmsg[256];
	int rv;

	rv = k->ops->add(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_ADD, rv, errmsg);
	if (rv != 0)
		return;
	k->held = true;
	k->rounds_left = vip_announce_count(&k->cfg);
	say(k, false, "VIP %s added to %s%s, announcing it", "");
	announce_round(k);
}

static void repair(struct vip_keeper *k, const char *found_by)
{
	say(k, true, "VIP %s was missing from %s (found by the %s): adding it again", found_by);
	k->repairs++;
	k->held = false;
	take(k);
}

/* Not serving, yet the VIP is here: it must go. */
static void remove_stale(struct vip_keeper *k, const char *when)
{
	char errmsg[256];
	int rv;

	rv = k->ops->del(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_DEL, rv, errmsg);
	if (rv != 0)
		return;
	k->removed_stale++;
	say(k, true, "VIP %s was on %s %s: removed (this node does not hold the lease)", when);
}

void vip_keeper_start(struct vip_keeper *k)
{
	char errmsg[256];
	int rv;

	rv = k->ops->present(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_PRESENT, rv < 0 ? rv : 0, errmsg);
	if (rv == 1 && !k->on)
		remove_stale(k, "at start (left by an earlier run)");
}

void vip_keeper_serve(struct vip_keeper *k, bool on)
{
	char errmsg[256];
	bool held = k->held;
	int rv;

	if (on) {
		if (!k->on) {
			k->on = true;
			take(k);
		}
		return;
	}
	k->on = false;
	k->held = false;
	k->rounds_left = 0;
	rv = k->ops->del(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_DEL, rv, errmsg);
	if (rv == 0 && held)
		say(k, false, "VIP %s removed from %s%s", "");
}

void vip_keeper_renewed(struct vip_keeper *k)
{
	char errmsg[256];
	int rv;

	if (!k->on || !k->held)
		return;
	rv = k->ops->refresh(&k->cfg, errmsg, sizeof errmsg);
	if (rv == -ENOENT)
		repair(k, "lease renewal");
	else
		report(k, OP_REFRESH, rv, errmsg);
}

void vip_keeper_check(struct vip_keeper *k)
{
	char errmsg[256];
	int rv;

	if (k->on && !k->held) { /* adding failed before: try again */
		take(k);
		return;
	}
	rv = k->ops->present(&k->cfg, errmsg, sizeof errmsg);
	report(k, OP_PRESENT, rv < 0 ? rv : 0, errmsg);
	if (rv == 0 && k->on)
		repair(k, "health check");
	else if (rv == 1 && !k->on)
		remove_stale(k, "on a health check");
}

void vip_keeper_announce(struct vip_keeper *k)
{
	announce_round(k);
}

bool vip_keeper_announcing(const struct vip_keeper *k)
{
	return k->on && k->held && k->rounds_left > 0;
}
