/*
 * The config, parsed and checked before anything touches the system: a bare
 * unicast IPv4 or IPv6 address (the prefix length comes from the interface,
 * never from the config) and a name the kernel could accept for an interface.
 */
#include <errno.h>
#include <string.h>

#include "vip_internal.h"

size_t vip__addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

const char *vip__family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':'
 * or white space. */
static bool ifname_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strpbrk(name, "/: \t\n\r\v\f") == NULL;
}

static int check_interface(const char *ifname, char *errmsg, size_t size)
{
	if (ifname == NULL || ifname[0] == '\0') {
		bs_errf(errmsg, size, "vip_interface is not set");
		return -EINVAL;
	}
	if (!ifname_valid(ifname)) {
		bs_errf(errmsg, size,
			"vip_interface '%.64s' is not a valid interface name (1 to %d characters, "
			"no '/', ':' or spaces)",
			ifname, IFNAMSIZ - 1);
		return -EINVAL;
	}
	return 0;
}

static bool is_unicast(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	if (memcmp(a, zero, vip__addr_len(family)) == 0)
		return false;
	if (family == AF_INET)
		return a[0] < 224; /* not multicast (224/4) nor reserved/broadcast (240/4) */
	return a[0] != 0xff;	   /* ff00::/8 is multicast */
}

static int parse_address(const char *text, struct vip__target *t, char *errmsg, size_t size)
{
	if (text == NULL || text[0] == '\0') {
		bs_errf(errmsg, size, "vip is not set");
		return -EINVAL;
	}
	if (inet_pton(AF_INET, text, t->addr) == 1)
		t->family = AF_INET;
	else if (inet_pton(AF_INET6, text, t->addr) == 1)
		t->family = AF_INET6;
	else {
		bs_errf(errmsg, size,
			"vip address '%.64s' is malformed (want a bare IPv4 or IPv6 address, "
			"without a prefix length)",
			text);
		return -EINVAL;
	}
	if (!is_unicast(t->family, t->addr)) {
		bs_errf(errmsg, size, "vip address '%.64s' is not a unicast address", text);
		return -EINVAL;
	}
	inet_ntop(t->family, t->addr, t->text, sizeof t->text);
	return 0;
}

int vip__target_parse(const struct vip_config *c, struct vip__target *ret_target, char *errmsg,
		      size_t size)
{
	struct vip__target t;
	int rv;

	if (c == NULL) {
		bs_errf(errmsg, size, "vip: no config");
		return -EINVAL;
	}
	memset(&t, 0, sizeof t);
	rv = check_interface(c->interface, errmsg, size);
	if (rv == 0)
		rv = parse_address(c->address, &t, errmsg, size);
	if (rv != 0)
		return rv;
	t.ifname = c->interface;
	*ret_target = t;
	return 0;
}

int vip_config_check(const struct vip_config *c, char *errmsg, size_t size)
{
	struct vip__target t;

	return vip__target_parse(c, &t, errmsg, size);
}

unsigned vip_announce_count(const struct vip_config *c)
{
	if (c == NULL || c->announce_count == 0)
		return VIP_ANNOUNCE_COUNT_DEFAULT;
	return c->announce_count;
}
