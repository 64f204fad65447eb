/*
 * The announcement packets, built byte for byte (pure; announce.c sends them).
 *
 * IPv4 gratuitous ARP: an ARP request whose sender and target protocol
 * addresses are both the VIP, sender hardware address the interface's MAC,
 * target hardware address zero (RFC 5227 §3 "ARP Announcement"), to
 * broadcast. Linux neighbours update an existing entry from it even within
 * locktime (arp_is_garp()).
 *
 * IPv6 unsolicited neighbour advertisement (RFC 4861 §7.2.6): to the
 * all-nodes address ff02::1, Solicited flag clear (it must be, to a multicast
 * destination), Override flag set so that receivers replace the cached
 * link-layer address, the Target Link-Layer Address option carrying the MAC,
 * hop limit 255 (receivers drop NDP packets with any other, §7.1.2). The
 * source is the VIP itself, an address assigned to the interface.
 */
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/ip6.h>
#include <string.h>

#include "vip_internal.h"

const uint8_t vip__mac_broadcast[VIP__MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
/* RFC 2464 §7: 33:33 followed by the low 32 bits of ff02::1. */
const uint8_t vip__mac_all_nodes[VIP__MAC_LEN] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

_Static_assert(sizeof(struct ether_arp) == VIP__GARP_LEN, "ARP payload layout");
_Static_assert(sizeof(struct ip6_hdr) + sizeof(struct nd_neighbor_advert) +
			       sizeof(struct nd_opt_hdr) + VIP__MAC_LEN ==
		       VIP__NA_LEN,
	       "NA packet layout");

void vip__build_garp(const uint8_t mac[VIP__MAC_LEN], const uint8_t ip[4],
		     uint8_t out[VIP__GARP_LEN])
{
	struct ether_arp arp;

	memset(&arp, 0, sizeof arp);
	arp.arp_hrd = htons(ARPHRD_ETHER);
	arp.arp_pro = htons(ETHERTYPE_IP);
	arp.arp_hln = VIP__MAC_LEN;
	arp.arp_pln = 4;
	arp.arp_op = htons(ARPOP_REQUEST);
	memcpy(arp.arp_sha, mac, VIP__MAC_LEN);
	memcpy(arp.arp_spa, ip, 4);
	memcpy(arp.arp_tpa, ip, 4); /* arp_tha stays zero */
	memcpy(out, &arp, sizeof arp);
}

/* One's complement sum of n bytes, as 16-bit big-endian words, added to sum. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n % 2)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

uint16_t vip__icmp6_checksum(const uint8_t *packet, size_t len)
{
	const size_t hdr = sizeof(struct ip6_hdr);
	const size_t off = offsetof(struct icmp6_hdr, icmp6_cksum);
	size_t ulen = len - hdr;
	uint8_t tail[8] = {(uint8_t)(ulen >> 24),
			   (uint8_t)(ulen >> 16),
			   (uint8_t)(ulen >> 8),
			   (uint8_t)ulen,
			   0,
			   0,
			   0,
			   IPPROTO_ICMPV6};
	uint32_t sum;

	if (len < hdr + off + 2)
		return 0;
	/* Pseudo-header: source and destination (bytes 8..39 of the IPv6
	 * header), upper-layer length, three zero bytes, next header. */
	sum = sum16(0, packet + 8, 32);
	sum = sum16(sum, tail, sizeof tail);
	/* The message, skipping the checksum field (counted as zero). */
	sum = sum16(sum, packet + hdr, off);
	sum = sum16(sum, packet + hdr + off + 2, ulen - off - 2);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void vip__build_na(const uint8_t mac[VIP__MAC_LEN], const uint8_t ip[16], uint8_t out[VIP__NA_LEN])
{
	struct ip6_hdr ip6;
	struct nd_neighbor_advert na;
	struct nd_opt_hdr opt;
	uint16_t cksum;

	memset(&ip6, 0, sizeof ip6);
	ip6.ip6_flow = htonl(6u << 28); /* version 6, traffic class and flow label 0 */
	ip6.ip6_plen = htons(VIP__NA_LEN - sizeof ip6);
	ip6.ip6_nxt = IPPROTO_ICMPV6;
	ip6.ip6_hlim = 255;
	memcpy(&ip6.ip6_src, ip, 16);
	inet_pton(AF_INET6, "ff02::1", &ip6.ip6_dst);

	memset(&na, 0, sizeof na);
	na.nd_na_type = ND_NEIGHBOR_ADVERT;
	na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE; /* Router and Solicited clear */
	memcpy(&na.nd_na_target, ip, 16);

	opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
	opt.nd_opt_len = 1; /* in units of 8 bytes: type, length, 6-byte MAC */

	memcpy(out, &ip6, sizeof ip6);
	memcpy(out + sizeof ip6, &na, sizeof na);
	memcpy(out + sizeof ip6 + sizeof na, &opt, sizeof opt);
	memcpy(out + sizeof ip6 + sizeof na + sizeof opt, mac, VIP__MAC_LEN);

	cksum = htons(vip__icmp6_checksum(out, VIP__NA_LEN));
	memcpy(out + sizeof ip6 + offsetof(struct icmp6_hdr, icmp6_cksum), &cksum, sizeof cksum);
}
