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

#include <stdbool.h>
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
	unsigned lifetime_s;	 /* 0: permanent; else the address's valid (and preferred)
				  * lifetime: the kernel drops it this long after the last
				  * vip_add/vip_refresh, even if the process that added it
				  * died (kill -9) */
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

/* Renew the lifetime of the address (c->lifetime_s from now), which must
 * already be on the interface: 0, -ENOENT ("... no longer there": nothing is
 * added, the caller decides), -EPERM (CAP_NET_ADMIN), or as vip_add. With
 * lifetime_s 0 it only checks that the address is there. */
int vip_refresh(const struct vip_config *c, char *errmsg, size_t size);

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
	int (*refresh)(const struct vip_config *c, char *errmsg, size_t size);
};

/* The real one: vip_add, vip_del, vip_present, vip_announce_once,
 * vip_refresh. */
extern const struct vip_ops vip_linux_ops;

/* ---- The keeper (keeper.c) -------------------------------------------------
 * What a node does with the VIP over time, decided here and carried out
 * through a struct vip_ops (tests put their own in). No timer, no clock, no
 * I/O of its own: the daemon calls it on these events, all on its loop:
 *
 *   vip_keeper_start     once, before the node can hold the lease: a VIP
 *                        found on the interface is removed (left by an
 *                        earlier life: a crash, kill -9), with a log line
 *   vip_keeper_serve     the lease holder starts (on) or stops (off) serving.
 *                        on: add, then the first announcement at once;
 *                        off: remove (always, whatever the keeper believes:
 *                        removal is idempotent), synchronously, so that the
 *                        fence's first step has dropped the VIP
 *   vip_keeper_renewed   a lease renewal was confirmed: renew the address's
 *                        lifetime (cfg.lifetime_s); found missing, it is
 *                        added again and announced, with a log line
 *   vip_keeper_check     every health check: on, the VIP must be there (else
 *                        repaired as above; or added, if adding failed
 *                        before); off, it must not be (else removed)
 *   vip_keeper_announce  from a timer every VIP_ANNOUNCE_INTERVAL_MS while
 *                        vip_keeper_announcing: one more round
 *
 * Errors never stop anything (PostgreSQL failover goes on without the VIP):
 * each is kept in errmsg (for status) and logged once per change, through
 * log(); recovery is logged too. */
struct vip_keeper {
	const struct vip_ops *ops;
	struct vip_config cfg; /* strings borrowed for the keeper's lifetime */
	void (*log)(void *data, bool warn, const char *line);
	void *data;
	bool on;			      /* serving: the VIP belongs on this node */
	bool held;			      /* added, and not found missing since */
	unsigned rounds_left;		      /* announcements still to send */
	int err;			      /* the last failure, 0 if none is outstanding */
	int err_op;			      /* which operation failed (keeper.c's enum) */
	char errmsg[256];		      /* its message ("" when err is 0) */
	unsigned long repairs, removed_stale; /* counts, for status */
};

void vip_keeper_init(struct vip_keeper *k, const struct vip_ops *ops, const struct vip_config *c,
		     void (*log)(void *data, bool warn, const char *line), void *data);
void vip_keeper_start(struct vip_keeper *k);
void vip_keeper_serve(struct vip_keeper *k, bool on);
void vip_keeper_renewed(struct vip_keeper *k);
void vip_keeper_check(struct vip_keeper *k);
void vip_keeper_announce(struct vip_keeper *k);
/* More rounds are due (the caller's timer should run). */
bool vip_keeper_announcing(const struct vip_keeper *k);

#endif /* BS_VIP_H */
