/*
 * vip/'s pure pieces, without root and without touching the system: the
 * config checks, the address scan that picks the VIP's prefix length, the
 * GARP and NA packets byte for byte (the NA checksum against a value worked
 * out separately), and the ops table. The kernel side is test/integration/
 * vip.sh.
 */
#include <errno.h>
#include <string.h>

#include "unit.h"
#include "vip.h"
#include "vip_internal.h"

static struct vip__target parse_ok(const char *ifname, const char *addr)
{
	struct vip_config c = {.interface = ifname, .address = addr};
	struct vip__target t;
	char errmsg[256];

	assert_int_equal(vip__target_parse(&c, &t, errmsg, sizeof errmsg), 0);
	return t;
}

static void target_parses_both_families(void **state)
{
	struct vip__target t;

	(void)state;
	t = parse_ok("eth0", "10.0.0.100");
	assert_int_equal(t.family, AF_INET);
	assert_string_equal(t.text, "10.0.0.100");
	assert_memory_equal(t.addr, "\x0a\x00\x00\x64", 4);
	assert_string_equal(t.ifname, "eth0");
	t = parse_ok("eth0", "FD00:0:0::0100");
	assert_int_equal(t.family, AF_INET6);
	assert_string_equal(t.text, "fd00::100");    /* canonical, for messages */
	t = parse_ok("a23456789012345", "10.0.0.1"); /* 15 characters: the longest */
	assert_string_equal(t.ifname, "a23456789012345");
}

static void target_refuses_malformed(void **state)
{
	static const char *const bad[] = {"",	       "10.0.0.300", "10.0.0.1/24",	"fd00::zz",
					  "10.0.0",    " 10.0.0.1",  "10.0.0.1 ",	"host",
					  "224.0.0.1", "0.0.0.0",    "255.255.255.255", "ff02::1",
					  "::"};
	struct vip_config c = {.interface = "eth0"};
	struct vip__target t;
	char errmsg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c.address = bad[i];
		memset(&t, 0x5a, sizeof t);
		assert_int_equal(vip__target_parse(&c, &t, errmsg, sizeof errmsg), -EINVAL);
		assert_true(strstr(errmsg, "vip") != NULL);
		assert_int_equal(t.family, 0x5a5a5a5a); /* untouched on failure */
	}
	c.address = "10.0.0.300";
	vip__target_parse(&c, &t, errmsg, sizeof errmsg);
	assert_string_equal(errmsg, "vip address '10.0.0.300' is malformed (want a bare IPv4 or "
				    "IPv6 address, without a prefix length)");
	c.address = NULL;
	assert_int_equal(vip__target_parse(&c, &t, errmsg, sizeof errmsg), -EINVAL);
	assert_string_equal(errmsg, "vip is not set");
	assert_int_equal(vip__target_parse(NULL, &t, errmsg, sizeof errmsg), -EINVAL);
}

static void target_refuses_bad_interface(void **state)
{
	static const char *const bad[] = {"",  "a234567890123456", "eth0:1", "a/b", "e th", ".",
					  ".."};
	struct vip_config c = {.address = "10.0.0.1"};
	char errmsg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c.interface = bad[i];
		assert_int_equal(vip_config_check(&c, errmsg, sizeof errmsg), -EINVAL);
		assert_true(strstr(errmsg, "vip_interface") != NULL);
	}
	c.interface = NULL;
	assert_int_equal(vip_config_check(&c, errmsg, sizeof errmsg), -EINVAL);
	assert_string_equal(errmsg, "vip_interface is not set");
	c.interface = "eth0";
	assert_int_equal(vip_config_check(&c, errmsg, sizeof errmsg), 0);
}

/* The public calls refuse a bad config before any system call. */
static void public_calls_refuse_bad_config(void **state)
{
	struct vip_config c = {.interface = "eth0", .address = "10.0.0.1/24"};
	char errmsg[256], tiny[8];

	(void)state;
	assert_int_equal(vip_add(&c, errmsg, sizeof errmsg), -EINVAL);
	assert_int_equal(vip_del(&c, errmsg, sizeof errmsg), -EINVAL);
	assert_int_equal(vip_present(&c, errmsg, sizeof errmsg), -EINVAL);
	assert_int_equal(vip_announce_once(&c, errmsg, sizeof errmsg), -EINVAL);
	assert_int_equal(vip_add(NULL, errmsg, sizeof errmsg), -EINVAL);
	assert_int_equal(vip_add(&c, tiny, sizeof tiny), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof tiny - 1); /* truncated, terminated */
}

static void announce_count_defaults(void **state)
{
	struct vip_config c = {.interface = "eth0", .address = "10.0.0.1"};

	(void)state;
	assert_int_equal(vip_announce_count(&c), VIP_ANNOUNCE_COUNT_DEFAULT);
	assert_int_equal(VIP_ANNOUNCE_COUNT_DEFAULT, 3);
	c.announce_count = 5;
	assert_int_equal(vip_announce_count(&c), 5);
	assert_int_equal(vip_announce_count(NULL), VIP_ANNOUNCE_COUNT_DEFAULT);
}

static void prefix_match_bits(void **state)
{
	const uint8_t a[4] = {10, 0, 0, 100}, b[4] = {10, 0, 0, 1}, c[4] = {10, 0, 1, 1};

	(void)state;
	assert_true(vip__prefix_match(a, b, 4, 24));
	assert_true(vip__prefix_match(a, b, 4, 25)); /* 100 and 1 agree in the top bit */
	assert_false(vip__prefix_match(a, b, 4, 26));
	assert_false(vip__prefix_match(a, c, 4, 24));
	assert_true(vip__prefix_match(a, c, 4, 23));
	assert_true(vip__prefix_match(a, c, 4, 0));
	assert_false(vip__prefix_match(a, b, 4, 33));
	assert_true(vip__prefix_match(a, a, 4, 32));
}

static struct vip__ifaddr ifaddr(const char *text, unsigned prefixlen)
{
	struct vip__ifaddr a = {.prefixlen = prefixlen};

	a.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, text, a.addr), 1);
	return a;
}

static void scan_all(struct vip__scan *s, const struct vip__target *t,
		     const struct vip__ifaddr *list, size_t n)
{
	size_t i;

	vip__scan_init(s, t);
	for (i = 0; i < n; i++)
		vip__scan_add(s, &list[i]);
}

static void scan_picks_longest_own_network(void **state)
{
	const struct vip__ifaddr list[] = {
		ifaddr("10.1.0.1", 16), ifaddr("10.0.0.1", 24), ifaddr("10.0.0.9", 24),
		ifaddr("10.0.0.5", 29), ifaddr("fd00::1", 64),	ifaddr("10.0.0.200", 32),
	};
	struct vip__target t = parse_ok("eth0", "10.0.0.100");
	struct vip__scan s;

	(void)state;
	scan_all(&s, &t, list, sizeof list / sizeof list[0]);
	assert_false(s.present);
	assert_int_equal(s.best_prefix, 24); /* not /29 (10.0.0.0-7), not /32 */
	assert_string_equal(s.networks, "10.1.0.0/16, 10.0.0.0/24, 10.0.0.0/29, 10.0.0.200/32");

	t = parse_ok("eth0", "10.0.0.3");
	scan_all(&s, &t, list, sizeof list / sizeof list[0]);
	assert_int_equal(s.best_prefix, 29);
	t = parse_ok("eth0", "10.1.200.3");
	scan_all(&s, &t, list, sizeof list / sizeof list[0]);
	assert_int_equal(s.best_prefix, 16);
	t = parse_ok("eth0", "192.0.2.7");
	scan_all(&s, &t, list, sizeof list / sizeof list[0]);
	assert_int_equal(s.best_prefix, -1);
}

static void scan_sees_the_vip(void **state)
{
	const struct vip__ifaddr list[] = {ifaddr("fd00::1", 64), ifaddr("fe80::1", 64),
					   ifaddr("fd00::100", 128), ifaddr("10.0.0.1", 24)};
	struct vip__target t = parse_ok("eth0", "fd00::100");
	struct vip__scan s;

	(void)state;
	scan_all(&s, &t, list, sizeof list / sizeof list[0]);
	assert_true(s.present);
	assert_int_equal(s.present_prefix, 128);
	assert_int_equal(s.best_prefix, 64); /* the VIP itself is not a network */
	assert_string_equal(s.networks, "fd00::/64, fe80::/64"); /* IPv6 only */
}

static void scan_truncates_the_list(void **state)
{
	struct vip__target t = parse_ok("eth0", "192.0.2.7");
	struct vip__ifaddr a;
	struct vip__scan s;
	char text[32];
	int i;

	(void)state;
	vip__scan_init(&s, &t);
	for (i = 0; i < 40; i++) {
		snprintf(text, sizeof text, "10.%d.0.1", i);
		a = ifaddr(text, 16);
		vip__scan_add(&s, &a);
	}
	assert_true(s.networks_truncated);
	assert_true(strlen(s.networks) < sizeof s.networks);
	assert_true(strncmp(s.networks, "10.0.0.0/16, 10.1.0.0/16, ", 26) == 0);
	assert_int_equal(s.best_prefix, -1);
}

static const uint8_t mac[VIP__MAC_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static void garp_bytes(void **state)
{
	const uint8_t ip[4] = {10, 0, 0, 100};
	const uint8_t want[VIP__GARP_LEN] = {
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, /* Ethernet, IPv4, request */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,		/* sender MAC */
		10,   0,    0,	  100,				/* sender IP = VIP */
		0,    0,    0,	  0,	0,    0,		/* target MAC: zero */
		10,   0,    0,	  100,				/* target IP = VIP */
	};
	uint8_t out[VIP__GARP_LEN];

	(void)state;
	vip__build_garp(mac, ip, out);
	assert_memory_equal(out, want, sizeof want);
}

static void na_bytes_and_checksum(void **state)
{
	struct vip__target t = parse_ok("eth0", "fd00::100");
	uint8_t out[VIP__NA_LEN], dst[16];
	const uint8_t *na = out + 40;

	(void)state;
	vip__build_na(mac, t.addr, out);
	assert_int_equal(out[0] >> 4, 6);
	assert_int_equal(out[4] << 8 | out[5], 32); /* payload: NA 24 + option 8 */
	assert_int_equal(out[6], 58);		    /* ICMPv6 */
	assert_int_equal(out[7], 255);		    /* hop limit */
	assert_memory_equal(out + 8, t.addr, 16);   /* source: the VIP */
	inet_pton(AF_INET6, "ff02::1", dst);
	assert_memory_equal(out + 24, dst, 16);
	assert_int_equal(na[0], 136); /* neighbour advertisement */
	assert_int_equal(na[1], 0);
	assert_int_equal(na[4], 0x20); /* Override only: R and S clear */
	assert_memory_equal(na + 8, t.addr, 16);
	assert_int_equal(na[24], 2); /* Target Link-Layer Address */
	assert_int_equal(na[25], 1);
	assert_memory_equal(na + 26, mac, VIP__MAC_LEN);
	/* Worked out separately (Python, RFC 4443 §2.3) for this MAC and VIP. */
	assert_int_equal(na[2] << 8 | na[3], 0x589d);
	assert_int_equal(vip__icmp6_checksum(out, sizeof out), 0x589d);
	assert_int_equal(vip__icmp6_checksum(out, 10), 0); /* too short: refused */
	assert_memory_equal(vip__mac_all_nodes, "\x33\x33\x00\x00\x00\x01", 6);
}

static void ops_table_is_the_real_adapter(void **state)
{
	(void)state;
	assert_ptr_equal(vip_linux_ops.add, vip_add);
	assert_ptr_equal(vip_linux_ops.del, vip_del);
	assert_ptr_equal(vip_linux_ops.present, vip_present);
	assert_ptr_equal(vip_linux_ops.announce, vip_announce_once);
}

int bs_test_vip(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(target_parses_both_families),
		cmocka_unit_test(target_refuses_malformed),
		cmocka_unit_test(target_refuses_bad_interface),
		cmocka_unit_test(public_calls_refuse_bad_config),
		cmocka_unit_test(announce_count_defaults),
		cmocka_unit_test(prefix_match_bits),
		cmocka_unit_test(scan_picks_longest_own_network),
		cmocka_unit_test(scan_sees_the_vip),
		cmocka_unit_test(scan_truncates_the_list),
		cmocka_unit_test(garp_bytes),
		cmocka_unit_test(na_bytes_and_checksum),
		cmocka_unit_test(ops_table_is_the_real_adapter),
	};

	return cmocka_run_group_tests_name("vip", tests, NULL, NULL);
}
