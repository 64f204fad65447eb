/*
 * vip_announce_once: one gratuitous ARP (IPv4) or one unsolicited neighbour
 * advertisement (IPv6) for the VIP, sent over an AF_PACKET socket on the
 * interface (packet.c builds them). SOCK_DGRAM: the kernel writes the
 * Ethernet header from the destination MAC given here and the interface's own
 * MAC, which is also the MAC the packets announce.
 *
 * One packet per call, sent without waiting (MSG_DONTWAIT): the caller's
 * timer spaces the rounds (vip.h), and a full transmit queue is an error
 * (-EAGAIN) rather than a wait on the loop thread.
 */
#include <errno.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vip_internal.h"

struct frame {
	uint16_t proto; /* ETHERTYPE_ARP or ETHERTYPE_IPV6 */
	const uint8_t *dst;
	uint8_t bytes[VIP__NA_LEN > VIP__GARP_LEN ? VIP__NA_LEN : VIP__GARP_LEN];
	size_t len;
};

static void build_frame(const struct vip__target *t, const struct vip__link *link, struct frame *f)
{
	if (t->family == AF_INET) {
		f->proto = ETHERTYPE_ARP;
		f->dst = vip__mac_broadcast;
		vip__build_garp(link->mac, t->addr, f->bytes);
		f->len = VIP__GARP_LEN;
	} else {
		f->proto = ETHERTYPE_IPV6;
		f->dst = vip__mac_all_nodes;
		vip__build_na(link->mac, t->addr, f->bytes);
		f->len = VIP__NA_LEN;
	}
}

static int send_frame(int ifindex, const struct frame *f)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(f->proto),
		.sll_ifindex = ifindex,
		.sll_halen = VIP__MAC_LEN,
	};
	ssize_t n;
	int fd, rv = 0;

	/* Protocol 0: this socket only sends, it never queues received frames. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(to.sll_addr, f->dst, VIP__MAC_LEN);
	do
		n = sendto(fd, f->bytes, f->len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rv = -errno;
	else if ((size_t)n != f->len)
		rv = -EIO;
	close(fd);
	return rv;
}

static int send_error(const struct vip__target *t, const char *doing, int rv, char *errmsg,
		      size_t size)
{
	if (rv == -EPERM)
		bs_errf(errmsg, size, "%s needs CAP_NET_RAW", doing);
	else if (rv == -ENETDOWN)
		bs_errf(errmsg, size, "%s: interface %s is down", doing, t->ifname);
	else
		bs_errf(errmsg, size, "%s: sending: %s", doing, bs_strerror(rv));
	return rv;
}

int vip_announce_once(const struct vip_config *c, char *errmsg, size_t size)
{
	struct vip__target t;
	struct vip__nl nl;
	struct vip__link link;
	struct frame f;
	char doing[96];
	int rv;

	rv = vip__target_parse(c, &t, errmsg, size);
	if (rv != 0)
		return rv;
	snprintf(doing, sizeof doing, "announcing %s on %s", t.text, t.ifname);
	rv = vip__open_link(&t, doing, &nl, &link, errmsg, size);
	if (rv != 0)
		return rv;
	vip__nl_close(&nl);
	if (link.type != ARPHRD_ETHER || !link.mac_ok) {
		bs_errf(errmsg, size, "%s: %s has no Ethernet address (link type %u)", doing,
			t.ifname, link.type);
		return -EOPNOTSUPP;
	}
	build_frame(&t, &link, &f);
	rv = send_frame(link.index, &f);
	if (rv != 0)
		return send_error(&t, doing, rv, errmsg, size);
	return 0;
}
