/*
 * What the kernel says about the VIP's interface: its index, type and MAC
 * (RTM_GETLINK by name), and its addresses (an RTM_GETADDR dump, filtered
 * here to the interface and the VIP's family, each one handed to the scan).
 * Neither request needs a capability.
 */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "vip_internal.h"

static int on_link(const struct nlmsghdr *nh, void *data)
{
	struct vip__link *link = data;
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len;

	if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof *ifi))
		return 0;
	link->index = ifi->ifi_index;
	link->type = ifi->ifi_type;
	len = (int)IFLA_PAYLOAD(nh);
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(rta) == VIP__MAC_LEN) {
			memcpy(link->mac, RTA_DATA(rta), VIP__MAC_LEN);
			link->mac_ok = true;
		}
	}
	return 0;
}

int vip__link_get(struct vip__nl *nl, const char *ifname, struct vip__link *ret_link)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	struct vip__link link = {0};
	int rv;

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi);
	req.nh.nlmsg_type = RTM_GETLINK;
	req.ifi.ifi_family = AF_UNSPEC;
	rv = vip__nl_put(&req.nh, sizeof req, IFLA_IFNAME, ifname, strlen(ifname) + 1);
	if (rv == 0)
		rv = vip__nl_talk(nl, &req.nh, on_link, &link);
	if (rv == 0 && link.index <= 0)
		rv = -ENODEV;
	if (rv != 0)
		return rv;
	*ret_link = link;
	return 0;
}

struct addr_walk {
	int index;
	struct vip__scan *scan;
};

static int on_addr(const struct nlmsghdr *nh, void *data)
{
	struct addr_walk *w = data;
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	const struct rtattr *rta, *local = NULL, *address = NULL;
	struct vip__ifaddr a = {0};
	const struct rtattr *use;
	int len;

	if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH(sizeof *ifa))
		return 0;
	if ((int)ifa->ifa_index != w->index || ifa->ifa_family != w->scan->target->family)
		return 0;
	len = (int)IFA_PAYLOAD(nh);
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LOCAL)
			local = rta;
		else if (rta->rta_type == IFA_ADDRESS)
			address = rta;
	}
	/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's
	 * on point-to-point links); IPv6 sends IFA_ADDRESS only. */
	use = local != NULL ? local : address;
	if (use == NULL || RTA_PAYLOAD(use) != vip__addr_len(ifa->ifa_family))
		return 0;
	a.family = ifa->ifa_family;
	a.prefixlen = ifa->ifa_prefixlen;
	memcpy(a.addr, RTA_DATA(use), RTA_PAYLOAD(use));
	vip__scan_add(w->scan, &a);
	return 0;
}

int vip__addr_scan(struct vip__nl *nl, int link_index, struct vip__scan *scan)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req;
	struct addr_walk w = {.index = link_index, .scan = scan};

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.nh.nlmsg_type = RTM_GETADDR;
	req.nh.nlmsg_flags = NLM_F_DUMP;
	req.ifa.ifa_family = (unsigned char)scan->target->family;
	req.ifa.ifa_index = (unsigned)link_index; /* a hint: older kernels dump all links */
	return vip__nl_talk(nl, &req.nh, on_addr, &w);
}

int vip__open_link(const struct vip__target *t, const char *doing, struct vip__nl *ret_nl,
		   struct vip__link *ret_link, char *errmsg, size_t size)
{
	struct vip__nl nl = {.fd = -1};
	int rv;

	rv = vip__nl_open(&nl);
	if (rv != 0) {
		bs_errf(errmsg, size, "%s: opening a netlink socket: %s", doing, bs_strerror(rv));
		return rv;
	}
	rv = vip__link_get(&nl, t->ifname, ret_link);
	if (rv == -ENODEV)
		bs_errf(errmsg, size, "%s: interface %s does not exist", doing, t->ifname);
	else if (rv != 0)
		bs_errf(errmsg, size, "%s: looking up interface %s: %s", doing, t->ifname,
			bs_strerror(rv));
	if (rv != 0) {
		vip__nl_close(&nl);
		return rv;
	}
	*ret_nl = nl;
	return 0;
}
