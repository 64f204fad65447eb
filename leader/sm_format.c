/*
 * leader/sm_format.c — the state machine's words: state names (leaderl's,
 * shown by status), blocks, and one line per action for traces and logs.
 */
#include <errno.h>
#include <stdio.h>

#include "sm_internal.h"

static const char *const state_names[LDR_N_STATES] = {
	[LDR_INITIALIZING] = "initializing", [LDR_WAITING_FOR_LEADER] = "waiting_for_leader",
	[LDR_PROMOTING] = "promoting",	     [LDR_LEADER] = "leader",
	[LDR_FOLLOWER] = "follower",	     [LDR_DEPOSED_LEADER] = "deposed_leader",
};

const char *ldr_state_name(enum ldr_state s)
{
	return (unsigned)s < LDR_N_STATES ? state_names[s] : "unknown";
}

static const char *const block_names[] = {
	"postgresql unhealthy",	     "elasticsearch unhealthy",	  "disk check failed",
	"node failover off",	     "cluster failover off",	  "partially synced",
	"too far behind the leader", "promotion failed recently",
};

void ldr_block_describe(unsigned blocks, char *out, size_t size)
{
	size_t len = 0, i;

	if (size == 0)
		return;
	out[0] = '\0';
	if (!blocks)
		snprintf(out, size, "eligible");
	for (i = 0; i < sizeof block_names / sizeof block_names[0] && len < size; i++)
		if (blocks & (1u << i))
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "",
						block_names[i]);
}

const char *ldr__cmd_name(int cmd)
{
	switch (cmd) {
	case LDR_CMD_DEMOTE:
		return "demote";
	case LDR_CMD_PROMOTE:
		return "promote";
	case LDR_CMD_FORCE:
		return "force-leader";
	}
	return "command";
}

const char *ldr__mode_name(int mode)
{
	switch (mode) {
	case LDR_FOLLOW_RECONF:
		return "reconf";
	case LDR_FOLLOW_REWIND:
		return "rewind";
	case LDR_FOLLOW_BASEBACKUP:
		return "basebackup";
	}
	return "?";
}

/* The codes CMD_DONE carries, by name. */
const char *ldr__errno_name(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case -EAGAIN:
		return "EAGAIN";
	case -EALREADY:
		return "EALREADY";
	case -EBUSY:
		return "EBUSY";
	case -EEXIST:
		return "EEXIST";
	case -EINVAL:
		return "EINVAL";
	case -EIO:
		return "EIO";
	case -ENOENT:
		return "ENOENT";
	case -EPERM:
		return "EPERM";
	case -ETIMEDOUT:
		return "ETIMEDOUT";
	}
	return "error";
}

static const char *const action_names[] = {
	[LDR_ACT_SERVE] = "SERVE",
	[LDR_ACT_PG_START] = "PG_START",
	[LDR_ACT_PG_STOP] = "PG_STOP",
	[LDR_ACT_PG_PROMOTE] = "PG_PROMOTE",
	[LDR_ACT_PG_FOLLOW] = "PG_FOLLOW",
	[LDR_ACT_PG_SYNC] = "PG_SYNC",
	[LDR_ACT_PG_CHECKPOINT] = "PG_CHECKPOINT",
	[LDR_ACT_LEASE_ACQUIRE] = "LEASE_ACQUIRE",
	[LDR_ACT_LEASE_RENEW] = "LEASE_RENEW",
	[LDR_ACT_LEASE_RELEASE] = "LEASE_RELEASE",
	[LDR_ACT_COLLECT] = "COLLECT",
	[LDR_ACT_TRANSFER] = "TRANSFER",
	[LDR_ACT_NO_START] = "NO_START",
	[LDR_ACT_CMD_DONE] = "CMD_DONE",
};

void ldr_action_format(const struct ldr_action *a, char *out, size_t size)
{
	const char *name = (unsigned)a->type < sizeof action_names / sizeof action_names[0]
				   ? action_names[a->type]
				   : NULL;
	unsigned long long target = a->target, epoch = a->epoch;

	if (!name) {
		snprintf(out, size, "? %d", (int)a->type);
		return;
	}
	switch (a->type) {
	case LDR_ACT_SERVE:
	case LDR_ACT_NO_START:
		snprintf(out, size, "%s %s", name, a->on ? "on" : "off");
		break;
	case LDR_ACT_PG_STOP:
		snprintf(out, size, "%s %s", name, a->on ? "immediate" : "fast");
		break;
	case LDR_ACT_PG_START:
	case LDR_ACT_TRANSFER:
		snprintf(out, size, "%s %llu", name, target);
		break;
	case LDR_ACT_PG_FOLLOW:
		snprintf(out, size, "%s %llu %s", name, target, ldr__mode_name(a->mode));
		break;
	case LDR_ACT_PG_SYNC:
		snprintf(out, size, "%s k=%u", name, a->k);
		break;
	case LDR_ACT_PG_PROMOTE:
	case LDR_ACT_LEASE_ACQUIRE:
	case LDR_ACT_LEASE_RELEASE:
		snprintf(out, size, "%s epoch=%llu", name, epoch);
		break;
	case LDR_ACT_CMD_DONE:
		snprintf(out, size, "%s %s %llu %s", name, ldr__cmd_name(a->cmd), target,
			 ldr__errno_name(a->status));
		break;
	default:
		snprintf(out, size, "%s", name);
	}
}
