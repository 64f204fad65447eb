/*
 * What vip/'s files share (vip__ names). Pure pieces first (target parsing,
 * the address scan, packet building), which test/unit exercises without
 * root; then the netlink and link helpers that talk to the kernel.
 */
#ifndef BS_VIP_VIP_INTERNAL_H
#define BS_VIP_VIP_INTERNAL_H

#include <arpa/inet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "base.h"
#include "vip.h"

/* ------------------------------------------------------------------------
 * target.c: the config, parsed and checked.
 */
struct vip__target {
	const char *ifname;	     /* borrowed from the config */
	int family;		     /* AF_INET or AF_INET6 */
	uint8_t addr[16];	     /* network byte order; 4 or 16 bytes used */
	char text[INET6_ADDRSTRLEN]; /* canonical form, for messages */
};

/* Parse c into ret_target. 0, or -EINVAL + errmsg ("vip address ... is
 * malformed ..."). ret_target is untouched on failure. */
int vip__target_parse(const struct vip_config *c, struct vip__target *ret_target, char *errmsg,
		      size_t size);
/* 4 for AF_INET, 16 for AF_INET6. */
size_t vip__addr_len(int family);
/* "IPv4" or "IPv6". */
const char *vip__family_name(int family);

/* ------------------------------------------------------------------------
 * scan.c: one pass over an interface's addresses (pure; fed by the dump).
 */
struct vip__ifaddr {
	int family;
	uint8_t addr[16];
	unsigned prefixlen;
};

struct vip__scan {
	const struct vip__target *target;
	bool present;		 /* the VIP is on the interface */
	unsigned present_prefix; /* its prefix length, when present */
	int best_prefix;	 /* longest prefix of an own network holding the VIP; -1 none */
	char networks[192];	 /* the family's networks, "10.0.0.0/24, 10.1.0.0/16" */
	bool networks_truncated;
};

void vip__scan_init(struct vip__scan *scan, const struct vip__target *target);
/* Take one of the interface's addresses into account (other families are
 * ignored). */
void vip__scan_add(struct vip__scan *scan, const struct vip__ifaddr *a);
/* Do the first prefixlen bits of a and b (len bytes each) agree? */
bool vip__prefix_match(const uint8_t *a, const uint8_t *b, size_t len, unsigned prefixlen);

/* ------------------------------------------------------------------------
 * packet.c: the announcement packets (pure).
 *
 * ARP: the 28-byte payload of an Ethernet ARP request, sent to broadcast.
 * NA:  a whole IPv6 packet (40-byte header + 24-byte NA + 8-byte TLLA option)
 *      for ff02::1, checksum filled in, sent to 33:33:00:00:00:01.
 */
enum { VIP__MAC_LEN = 6, VIP__GARP_LEN = 28, VIP__NA_LEN = 40 + 24 + 8 };

extern const uint8_t vip__mac_broadcast[VIP__MAC_LEN];
extern const uint8_t vip__mac_all_nodes[VIP__MAC_LEN];

void vip__build_garp(const uint8_t mac[VIP__MAC_LEN], const uint8_t ip[4],
		     uint8_t out[VIP__GARP_LEN]);
void vip__build_na(const uint8_t mac[VIP__MAC_LEN], const uint8_t ip[16], uint8_t out[VIP__NA_LEN]);
/* The ICMPv6 checksum of an IPv6 packet whose upper layer is ICMPv6 (RFC
 * 4443 §2.3: over the pseudo-header and the message, with the checksum field
 * counted as zero). len is the whole packet's length, at least 44 (0 if not). */
uint16_t vip__icmp6_checksum(const uint8_t *packet, size_t len);

/* ------------------------------------------------------------------------
 * netlink.c: one NETLINK_ROUTE socket per call, requests answered within
 * VIP_NETLINK_TIMEOUT_MS.
 */
struct nlmsghdr;

struct vip__nl {
	int fd;
	uint32_t seq;
};

/* 0 or negative errno. Close with vip__nl_close (accepts a never-opened
 * {fd = -1}). */
int vip__nl_open(struct vip__nl *nl);
void vip__nl_close(struct vip__nl *nl);
/* Append attribute type with len bytes of data to the message nh, whose
 * buffer holds cap bytes. 0 or -EMSGSIZE. */
int vip__nl_put(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data, size_t len);
/* Send req (NLM_F_REQUEST | NLM_F_ACK are added, and the sequence number)
 * and read the answer: each reply message goes to cb (which returns 0 to go
 * on or a negative errno to stop), until the ACK or the end of a dump. 0,
 * the kernel's negative errno, cb's error, or -ETIMEDOUT. */
int vip__nl_talk(struct vip__nl *nl, struct nlmsghdr *req,
		 int (*cb)(const struct nlmsghdr *msg, void *data), void *data);

/* ------------------------------------------------------------------------
 * link.c: what the kernel says about the interface and its addresses.
 */
struct vip__link {
	int index;
	unsigned short type;	   /* ARPHRD_* */
	uint8_t mac[VIP__MAC_LEN]; /* valid when mac_ok */
	bool mac_ok;
};

/* Look the interface up by name. 0, -ENODEV, or another negative errno. */
int vip__link_get(struct vip__nl *nl, const char *ifname, struct vip__link *ret_link);
/* Dump the addresses of link_index in the target's family into scan (which
 * vip__scan_init prepared). 0 or negative errno. */
int vip__addr_scan(struct vip__nl *nl, int link_index, struct vip__scan *scan);
/* Open a socket and look the target's interface up, with errmsg "<doing>:
 * interface X does not exist" and the like on failure. On 0 the caller
 * closes nl. */
int vip__open_link(const struct vip__target *t, const char *doing, struct vip__nl *ret_nl,
		   struct vip__link *ret_link, char *errmsg, size_t size);

#endif /* BS_VIP_VIP_INTERNAL_H */
