/*
 * vip/ — VIP adapter: rtnetlink address add/del, gratuitous ARP, IPv6 unsolicited NA.
 *
 * Public prefix: vip_. Nothing is exported yet (issue 6).
 */
#ifndef BS_VIP_H
#define BS_VIP_H

#endif /* BS_VIP_H */
