/*
 * vip/ — the VIP adapter. Puts the virtual IP on the local interface and takes
 * it off again over rtnetlink. Announces it to the segment with gratuitous ARP
 * (IPv4) or unsolicited neighbour advertisements (IPv6), so that clients'
 * neighbour caches follow the address to this node's MAC at once.
 *
 * Prefix: vip_. Depends on base, libc and the Linux UAPI headers only.
 *
 * Threads: every call is synchronous and keeps no state between calls, so any
 * thread may call, and several threads may call at once. The netlink calls
 * (add, del, present) each send one or two small requests that the kernel
 * answers at once. Each request waits at most VIP_NETLINK_TIMEOUT_MS for its
 * answer, which is why calling them from the daemon's loop thread is
 * acceptable (CONVENTIONS §8). vip_announce_once sends one packet and never
 * sleeps. Spacing the rounds is the caller's job (see below).
 *
 * Privileges: add and del need CAP_NET_ADMIN, announce needs CAP_NET_RAW,
 * present needs none. Every call acts in the network namespace of the calling
 * thread.
 *
 * Errors: 0 (or 1 for "present") on success, otherwise a negative errno, and
 * errmsg (always NUL-terminated, truncated to size) names the operation, the
 * address and the interface:
 *   -EINVAL        malformed address (not a bare IPv4/IPv6 address), missing
 *                  or over-long interface name, NULL config
 *   -ENODEV        "... interface eth9 does not exist"
 *   -EADDRNOTAVAIL (add) the address fits no network configured on the
 *                  interface; the message lists the interface's networks
 *   -EPERM         "adding 10.0.0.100/24 to eth0 needs CAP_NET_ADMIN"
 *                  (announce: "... needs CAP_NET_RAW")
 *   -ETIMEDOUT     the kernel did not answer within VIP_NETLINK_TIMEOUT_MS
 *   -EOPNOTSUPP    (announce) the interface has no Ethernet address
 *   -ENETDOWN      (announce) the interface is down
 *   other          the kernel's errno, passed through with the same context
 * No input makes these functions abort or crash.
 */
#ifndef BS_VIP_H
#define BS_VIP_H

#include <stddef.h>

enum {
	VIP_ANNOUNCE_COUNT_DEFAULT = 3,	 /* rounds after each takeover */
	VIP_ANNOUNCE_INTERVAL_MS = 1000, /* recommended gap between rounds */
	VIP_NETLINK_TIMEOUT_MS = 1000,	 /* longest wait for one kernel answer */
};

/* Borrowed for the duration of one call; the module keeps no pointer. */
struct vip_config {
	const char *interface;	 /* vip_interface, e.g. "eth0" */
	const char *address;	 /* vip, e.g. "10.0.0.100" or "fd00::100": no "/len" */
	unsigned announce_count; /* rounds per takeover; 0 = VIP_ANNOUNCE_COUNT_DEFAULT */
};

/* Check the config without touching the system: the address parses and the
 * interface name is plausible. 0 or -EINVAL + errmsg. For config loading. */
int vip_config_check(const struct vip_config *c, char *errmsg, size_t size);

/* The number of announcement rounds a takeover sends (announce_count, or the
 * default when it is 0). */
unsigned vip_announce_count(const struct vip_config *c);

/* Add the address to the interface, with the prefix length of the
 * interface's own address in the same network (the longest such prefix, if
 * several fit). IPv4: the address becomes a secondary of that network.
 * IPv6: added with IFA_F_NODAD, so it is usable at once.
 * Idempotent: an address already on the interface (with any prefix length)
 * returns 0 and changes nothing. Does not announce: call vip_announce_once
 * afterwards. */
int vip_add(const struct vip_config *c, char *errmsg, size_t size);

/* Remove the address from the interface (every entry of it, whatever its
 * prefix length). Idempotent: an address that is not there returns 0, and
 * so does one that another process removed meanwhile. Safe to call at any
 * time, including at start-up before the node knows whether it leads: the
 * leader module calls vip_present at start and vip_del unless it holds the
 * lease, so that a node never keeps the VIP from an earlier life. After 0 the
 * address is not on the interface. A missing interface is -ENODEV, not 0:
 * it is a configuration error the caller should report.
 * Caution: the module cannot tell a VIP from the node's own address; a
 * config whose vip is the node's own address would remove that address. */
int vip_del(const struct vip_config *c, char *errmsg, size_t size);

/* 1 if the address is on the interface, 0 if not, or a negative errno. */
int vip_present(const struct vip_config *c, char *errmsg, size_t size);

/* One announcement round: for IPv4 one gratuitous ARP request (sender IP =
 * target IP = the VIP, sender MAC = the interface's MAC, to broadcast); for
 * IPv6 one unsolicited neighbour advertisement (to ff02::1, Override set,
 * Solicited clear, target = the VIP, Target Link-Layer Address option = the
 * MAC, hop limit 255). Sent over an AF_PACKET socket on the interface.
 *
 * Design: one packet per call, never a sleep. After vip_add the caller (the
 * daemon's timer) calls this vip_announce_count(c) times, the first at once
 * and the rest VIP_ANNOUNCE_INTERVAL_MS apart, so that a lost packet or a
 * peer whose link was not up yet is covered without blocking the loop.
 * Neighbours only update an entry they already have (arp_accept=0), which is
 * exactly the case that matters: clients that talked to the old holder. */
int vip_announce_once(const struct vip_config *c, char *errmsg, size_t size);

/* The adapter as a table, so that the leader module's tests can replace it
 * (CONVENTIONS §9). announce is one round, as vip_announce_once. */
struct vip_ops {
	int (*add)(const struct vip_config *c, char *errmsg, size_t size);
	int (*del)(const struct vip_config *c, char *errmsg, size_t size);
	int (*present)(const struct vip_config *c, char *errmsg, size_t size);
	int (*announce)(const struct vip_config *c, char *errmsg, size_t size);
};

/* The real one: vip_add, vip_del, vip_present, vip_announce_once. */
extern const struct vip_ops vip_linux_ops;

#endif /* BS_VIP_H */
