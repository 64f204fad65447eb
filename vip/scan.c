/*
 * One pass over an interface's addresses, as the address dump delivers them:
 * is the VIP there, which of the interface's own networks holds it (its
 * prefix length is the one the VIP gets), and the list of networks for the
 * message when none does. Pure: no I/O, fed one address at a time.
 */
#include <stdio.h>
#include <string.h>

#include "vip_internal.h"

bool vip__prefix_match(const uint8_t *a, const uint8_t *b, size_t len, unsigned prefixlen)
{
	size_t whole = prefixlen / 8;
	unsigned rest = prefixlen % 8;
	uint8_t mask;

	if (prefixlen > len * 8)
		return false;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

void vip__scan_init(struct vip__scan *scan, const struct vip__target *target)
{
	memset(scan, 0, sizeof *scan);
	scan->target = target;
	scan->best_prefix = -1;
}

/* "10.88.5.0/24": a's network, host bits cleared. */
static void network_text(const struct vip__ifaddr *a, char *out, size_t size)
{
	uint8_t net[16] = {0};
	char text[INET6_ADDRSTRLEN];
	size_t len = vip__addr_len(a->family);
	unsigned i;

	for (i = 0; i < a->prefixlen && i < len * 8; i++)
		net[i / 8] |= (uint8_t)(a->addr[i / 8] & (0x80 >> (i % 8)));
	inet_ntop(a->family, net, text, sizeof text);
	snprintf(out, size, "%s/%u", text, a->prefixlen);
}

/* Append one network to the list unless it is there already. */
static void list_network(struct vip__scan *scan, const char *net)
{
	size_t used = strlen(scan->networks), n = strlen(net);
	const char *p;

	for (p = strstr(scan->networks, net); p != NULL; p = strstr(p + 1, net)) {
		if ((p == scan->networks || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return;
	}
	if (used + (used ? 2 : 0) + n + 1 > sizeof scan->networks) {
		scan->networks_truncated = true;
		return;
	}
	snprintf(scan->networks + used, sizeof scan->networks - used, "%s%s", used ? ", " : "",
		 net);
}

void vip__scan_add(struct vip__scan *scan, const struct vip__ifaddr *a)
{
	const struct vip__target *t = scan->target;
	size_t len = vip__addr_len(t->family);
	char net[INET6_ADDRSTRLEN + 5];

	if (a->family != t->family)
		return;
	if (memcmp(a->addr, t->addr, len) == 0) {
		/* The VIP itself is no evidence of a network. */
		scan->present = true;
		scan->present_prefix = a->prefixlen;
		return;
	}
	network_text(a, net, sizeof net);
	list_network(scan, net);
	if (vip__prefix_match(a->addr, t->addr, len, a->prefixlen) &&
	    (int)a->prefixlen > scan->best_prefix)
		scan->best_prefix = (int)a->prefixlen;
}
