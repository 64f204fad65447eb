/*
 * vip_add, vip_del, vip_present, vip_refresh: the VIP on the interface, over
 * rtnetlink.
 *
 * Each call opens its own NETLINK_ROUTE socket, looks the interface up,
 * dumps its addresses (is the VIP there? which network holds it?), then
 * sends at most a few RTM_NEWADDR/RTM_DELADDR requests, each ACKed, and
 * closes the socket. Nothing is kept between calls.
 *
 * The VIP takes the prefix length of the interface's own network that holds
 * it, so it behaves like any other address of that network (an IPv4
 * secondary: routes and source selection unchanged). An address in none of
 * the interface's networks is refused (-EADDRNOTAVAIL) rather than guessed.
 *
 * With a lifetime (vip_config.lifetime_s), the address carries it as its
 * valid and preferred lifetime (IFA_CACHEINFO): the kernel removes it on its
 * own unless vip_refresh renews it (RTM_NEWADDR with NLM_F_REPLACE resets
 * the address's timestamp).
 */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "vip_internal.h"

enum { DEL_ROUNDS = 4 }; /* entries of the VIP removed at most, one per round */

/* Everything one call works with. */
struct op {
	struct vip__target t;
	struct vip__nl nl;
	struct vip__link link;
	struct vip__scan scan;
	unsigned lifetime_s; /* 0: permanent */
	char doing[96];	     /* "adding 10.0.0.100 to eth0", for messages */
};

/* Parse the config, open the socket, find the interface, scan its
 * addresses. On 0 the caller closes op->nl. */
static int op_begin(struct op *op, const struct vip_config *c, const char *verb, const char *prep,
		    char *errmsg, size_t size)
{
	int rv;

	rv = vip__target_parse(c, &op->t, errmsg, size);
	if (rv != 0)
		return rv;
	snprintf(op->doing, sizeof op->doing, "%s %s %s %s", verb, op->t.text, prep, op->t.ifname);
	op->lifetime_s = c->lifetime_s;
	return vip__open_link(&op->t, op->doing, &op->nl, &op->link, errmsg, size);
}

static int op_scan(struct op *op, char *errmsg, size_t size)
{
	int rv;

	vip__scan_init(&op->scan, &op->t);
	rv = vip__addr_scan(&op->nl, op->link.index, &op->scan);
	if (rv != 0)
		bs_errf(errmsg, size, "%s: listing the addresses of %s: %s", op->doing,
			op->t.ifname, bs_strerror(rv));
	return rv;
}

/* One RTM_NEWADDR or RTM_DELADDR for the VIP with prefixlen, ACKed. */
static int modify(struct op *op, int type, unsigned flags, unsigned prefixlen)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		char attrs[96];
	} req;
	struct ifa_cacheinfo ci = {.ifa_prefered = op->lifetime_s, .ifa_valid = op->lifetime_s};
	size_t len = vip__addr_len(op->t.family);
	uint32_t ifa_flags = 0;
	int rv;

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.nh.nlmsg_type = (unsigned short)type;
	req.nh.nlmsg_flags = (unsigned short)flags;
	req.ifa.ifa_family = (unsigned char)op->t.family;
	req.ifa.ifa_prefixlen = (unsigned char)prefixlen;
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.ifa.ifa_index = (unsigned)op->link.index;
	if (type == RTM_NEWADDR && op->t.family == AF_INET6)
		ifa_flags = IFA_F_NODAD; /* usable at once: no tentative phase */
	req.ifa.ifa_flags = (unsigned char)ifa_flags;
	rv = vip__nl_put(&req.nh, sizeof req, IFA_LOCAL, op->t.addr, len);
	if (rv == 0)
		rv = vip__nl_put(&req.nh, sizeof req, IFA_ADDRESS, op->t.addr, len);
	if (rv == 0 && ifa_flags != 0)
		rv = vip__nl_put(&req.nh, sizeof req, IFA_FLAGS, &ifa_flags, sizeof ifa_flags);
	if (rv == 0 && type == RTM_NEWADDR && op->lifetime_s != 0)
		rv = vip__nl_put(&req.nh, sizeof req, IFA_CACHEINFO, &ci, sizeof ci);
	if (rv == 0)
		rv = vip__nl_talk(&op->nl, &req.nh, NULL, NULL);
	return rv;
}

static int no_network(const struct op *op, char *errmsg, size_t size)
{
	const char *fam = vip__family_name(op->t.family);

	if (op->scan.networks[0] == '\0')
		bs_errf(errmsg, size,
			"%s: %s has no %s address, so no network to take the prefix length from",
			op->doing, op->t.ifname, fam);
	else
		bs_errf(errmsg, size,
			"%s: the address is in none of %s's %s networks (%s%s); the VIP must lie "
			"in a network the interface already has",
			op->doing, op->t.ifname, fam, op->scan.networks,
			op->scan.networks_truncated ? ", ..." : "");
	return -EADDRNOTAVAIL;
}

static int add_new(struct op *op, char *errmsg, size_t size)
{
	unsigned prefix;
	int rv;

	if (op->scan.best_prefix < 0)
		return no_network(op, errmsg, size);
	prefix = (unsigned)op->scan.best_prefix;
	rv = modify(op, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, prefix);
	if (rv == -EEXIST) /* added by someone else since the scan */
		rv = 0;
	if (rv == -EPERM)
		bs_errf(errmsg, size, "adding %s/%u to %s needs CAP_NET_ADMIN", op->t.text, prefix,
			op->t.ifname);
	else if (rv != 0)
		bs_errf(errmsg, size, "adding %s/%u to %s: %s", op->t.text, prefix, op->t.ifname,
			bs_strerror(rv));
	return rv;
}

int vip_add(const struct vip_config *c, char *errmsg, size_t size)
{
	struct op op;
	int rv;

	rv = op_begin(&op, c, "adding", "to", errmsg, size);
	if (rv != 0)
		return rv;
	rv = op_scan(&op, errmsg, size);
	if (rv == 0 && !op.scan.present)
		rv = add_new(&op, errmsg, size);
	vip__nl_close(&op.nl);
	return rv;
}

/* Remove the entry the scan found. -EAGAIN when it went meanwhile. */
static int del_entry(struct op *op, char *errmsg, size_t size)
{
	unsigned prefix = op->scan.present_prefix;
	int rv;

	rv = modify(op, RTM_DELADDR, 0, prefix);
	if (rv == -EADDRNOTAVAIL) /* removed by someone else since the scan */
		return -EAGAIN;
	if (rv == -EPERM)
		bs_errf(errmsg, size, "removing %s/%u from %s needs CAP_NET_ADMIN", op->t.text,
			prefix, op->t.ifname);
	else if (rv != 0)
		bs_errf(errmsg, size, "removing %s/%u from %s: %s", op->t.text, prefix,
			op->t.ifname, bs_strerror(rv));
	return rv;
}

/* Rescan after each removal: an address may sit on the interface more than
 * once (with different prefix lengths), and every entry must go. */
static int del_all(struct op *op, char *errmsg, size_t size)
{
	int i, rv;

	for (i = 0; i < DEL_ROUNDS; i++) {
		rv = op_scan(op, errmsg, size);
		if (rv != 0 || !op->scan.present)
			return rv;
		rv = del_entry(op, errmsg, size);
		if (rv != 0 && rv != -EAGAIN)
			return rv;
	}
	rv = op_scan(op, errmsg, size);
	if (rv == 0 && op->scan.present) {
		bs_errf(errmsg, size, "%s: still there after %d removals", op->doing, DEL_ROUNDS);
		rv = -EBUSY;
	}
	return rv;
}

int vip_del(const struct vip_config *c, char *errmsg, size_t size)
{
	struct op op;
	int rv;

	rv = op_begin(&op, c, "removing", "from", errmsg, size);
	if (rv != 0)
		return rv;
	rv = del_all(&op, errmsg, size);
	vip__nl_close(&op.nl);
	return rv;
}

int vip_present(const struct vip_config *c, char *errmsg, size_t size)
{
	struct op op;
	int rv;

	rv = op_begin(&op, c, "looking for", "on", errmsg, size);
	if (rv != 0)
		return rv;
	rv = op_scan(&op, errmsg, size);
	vip__nl_close(&op.nl);
	if (rv != 0)
		return rv;
	return op.scan.present ? 1 : 0;
}

int vip_refresh(const struct vip_config *c, char *errmsg, size_t size)
{
	struct op op;
	int rv;

	rv = op_begin(&op, c, "renewing", "on", errmsg, size);
	if (rv != 0)
		return rv;
	rv = op_scan(&op, errmsg, size);
	if (rv == 0 && !op.scan.present) {
		bs_errf(errmsg, size, "%s: the address is no longer there", op.doing);
		rv = -ENOENT;
	} else if (rv == 0 && op.lifetime_s != 0) {
		rv = modify(&op, RTM_NEWADDR, NLM_F_REPLACE, op.scan.present_prefix);
		if (rv == -EPERM)
			bs_errf(errmsg, size, "%s needs CAP_NET_ADMIN", op.doing);
		else if (rv != 0)
			bs_errf(errmsg, size, "%s: %s", op.doing, bs_strerror(rv));
	}
	vip__nl_close(&op.nl);
	return rv;
}
