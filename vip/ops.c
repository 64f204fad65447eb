/* The real adapter as a table; the leader module's tests use their own. */
#include "vip_internal.h"

const struct vip_ops vip_linux_ops = {
	.add = vip_add,
	.del = vip_del,
	.present = vip_present,
	.announce = vip_announce_once,
	.refresh = vip_refresh,
};
