/*
 * vip_test: the node side of test/integration/vip.sh. Runs inside the node's
 * network namespace (ip netns exec) and drives the vip/ adapter against the
 * real kernel:
 *
 *   vip_test cycle IF ADDR PREFIXLEN   add/present/add/del/del, each checked
 *                                      with vip_present and with getifaddrs()
 *                                      (glibc's own RTM_GETADDR dump)
 *   vip_test add IF ADDR               vip_add, and check it is there
 *   vip_test del IF ADDR               vip_del, and check it is gone
 *   vip_test announce IF ADDR COUNT MS vip_announce_count() rounds of
 *                                      vip_linux_ops.announce, MS apart (the
 *                                      daemon's timer, played here)
 *   vip_test lifetime IF ADDR          added with a 1 s lifetime, renewed
 *                                      (vip_refresh) every 100 ms for 2 s:
 *                                      still there; then not renewed: gone
 *                                      by the kernel within [0.9, 1.6] s of
 *                                      the last renewal; vip_refresh then
 *                                      says -ENOENT and adds nothing
 *   vip_test end IF                    a marker frame (ethertype 0x88b5) that
 *                                      tells vip_capture the sending is over
 *   vip_test errors IF VIP4 VIP6 NET4 NET6
 *                                      every refusal: missing interface,
 *                                      address outside the networks,
 *                                      malformed input, no CAP_NET_ADMIN /
 *                                      CAP_NET_RAW (in a child that dropped
 *                                      them), and nothing crashes
 *
 * Prints "ok - ..." / "not ok - ..." per check; exits 1 if any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "vip.h"

enum { MARKER_ETHERTYPE = 0x88b5, CHILD_ALARM_S = 10 };
static const char marker[] = "bsvip-end";

static int failures;

static void check(int ok, const char *what, int rv, const char *errmsg)
{
	if (ok) {
		printf("ok - %s\n", what);
		return;
	}
	printf("not ok - %s (rv=%d %s, errmsg \"%s\")\n", what, rv, bs_strerror(rv), errmsg);
	failures++;
}

/* rv == want and errmsg contains needle (NULL: anything). */
static void check_err(const char *what, int rv, int want, const char *errmsg, const char *needle)
{
	check(rv == want && (needle == NULL || strstr(errmsg, needle) != NULL), what, rv, errmsg);
	if (rv == want && needle != NULL && strstr(errmsg, needle) == NULL)
		printf("#   wanted \"%s\" in the message\n", needle);
}

/* How many entries of addr on ifname getifaddrs() lists, and the prefix
 * length of the last one. */
static int listed(const char *ifname, const char *addr, int *ret_prefix)
{
	struct ifaddrs *all, *i;
	unsigned char want[16], mask[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET, n = 0, b;
	size_t len = family == AF_INET ? 4 : 16, k;
	const void *p, *m;

	if (inet_pton(family, addr, want) != 1 || getifaddrs(&all) != 0)
		return -1;
	for (i = all; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family ||
		    strcmp(i->ifa_name, ifname) != 0)
			continue;
		p = family == AF_INET
			    ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
			    : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		m = family == AF_INET
			    ? (const void *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr
			    : (const void *)&((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
		if (memcmp(p, want, len) != 0)
			continue;
		memcpy(mask, m, len);
		for (k = 0, b = 0; k < len; k++)
			b += __builtin_popcount(mask[k]);
		*ret_prefix = b;
		n++;
	}
	freeifaddrs(all);
	return n;
}

static int cmd_cycle(const char *ifname, const char *addr, int prefix)
{
	struct vip_config c = {.interface = ifname, .address = addr};
	char errmsg[256] = "", what[128];
	int rv, got_prefix = -1;

	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 0, "not present before", rv, errmsg);
	rv = vip_add(&c, errmsg, sizeof errmsg);
	check(rv == 0, "add", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 1, "vip_present sees it after add", rv, errmsg);
	rv = listed(ifname, addr, &got_prefix);
	snprintf(what, sizeof what, "getifaddrs lists it once, /%d", prefix);
	check(rv == 1 && got_prefix == prefix, what, rv, "");

	rv = vip_add(&c, errmsg, sizeof errmsg);
	check(rv == 0, "add again is 0 (idempotent)", rv, errmsg);
	rv = listed(ifname, addr, &got_prefix);
	check(rv == 1, "still listed exactly once", rv, "");

	rv = vip_del(&c, errmsg, sizeof errmsg);
	check(rv == 0, "del", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 0, "vip_present: gone after del", rv, errmsg);
	rv = listed(ifname, addr, &got_prefix);
	check(rv == 0, "getifaddrs: gone after del", rv, "");
	rv = vip_del(&c, errmsg, sizeof errmsg);
	check(rv == 0, "del again is 0 (idempotent)", rv, errmsg);
	return failures ? 1 : 0;
}

static int cmd_add(const char *ifname, const char *addr)
{
	struct vip_config c = {.interface = ifname, .address = addr};
	char errmsg[256] = "";
	int rv;

	rv = vip_add(&c, errmsg, sizeof errmsg);
	check(rv == 0, "add", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 1, "present after add", rv, errmsg);
	return failures ? 1 : 0;
}

static int cmd_del(const char *ifname, const char *addr)
{
	struct vip_config c = {.interface = ifname, .address = addr};
	char errmsg[256] = "";
	int rv, prefix;

	rv = vip_del(&c, errmsg, sizeof errmsg);
	check(rv == 0, "del", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 0, "absent after del", rv, errmsg);
	rv = listed(ifname, addr, &prefix);
	check(rv == 0, "getifaddrs: no entry of it left", rv, "");
	return failures ? 1 : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cmd_announce(const char *ifname, const char *addr, unsigned count, unsigned gap_ms)
{
	struct vip_config c = {.interface = ifname, .address = addr, .announce_count = count};
	char errmsg[256] = "", what[64];
	unsigned i, n = vip_announce_count(&c);
	int rv;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sleep_ms(gap_ms); /* the daemon's timer between rounds */
		rv = vip_linux_ops.announce(&c, errmsg, sizeof errmsg);
		snprintf(what, sizeof what, "announce round %u of %u", i + 1, n);
		check(rv == 0, what, rv, errmsg);
	}
	return failures ? 1 : 0;
}

static int cmd_end(const char *ifname)
{
	struct sockaddr_ll to = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(MARKER_ETHERTYPE),
				 .sll_halen = 6,
				 .sll_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	int fd, rv = 0;

	to.sll_ifindex = (int)if_nametoindex(ifname);
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || to.sll_ifindex == 0 ||
	    sendto(fd, marker, sizeof marker, 0, (struct sockaddr *)&to, sizeof to) < 0)
		rv = -errno;
	if (fd >= 0)
		close(fd);
	check(rv == 0, "end marker sent", rv, "");
	return failures ? 1 : 0;
}

/* ---- errors ------------------------------------------------------------ */

static void errors_nodev(const char *vip4)
{
	struct vip_config c = {.interface = "eth9", .address = vip4};
	const char *want = "interface eth9 does not exist";
	char errmsg[256] = "";

	check_err("add on eth9: -ENODEV", vip_add(&c, errmsg, sizeof errmsg), -ENODEV, errmsg,
		  want);
	printf("#   %s\n", errmsg);
	check_err("del on eth9: -ENODEV", vip_del(&c, errmsg, sizeof errmsg), -ENODEV, errmsg,
		  want);
	check_err("present on eth9: -ENODEV", vip_present(&c, errmsg, sizeof errmsg), -ENODEV,
		  errmsg, want);
	check_err("announce on eth9: -ENODEV", vip_announce_once(&c, errmsg, sizeof errmsg),
		  -ENODEV, errmsg, want);
}

static void errors_outside(const char *ifname, const char *net4, const char *net6)
{
	struct vip_config c4 = {.interface = ifname, .address = "192.0.2.7"};
	struct vip_config c6 = {.interface = ifname, .address = "2001:db8::7"};
	char errmsg[256] = "";
	int rv;

	rv = vip_add(&c4, errmsg, sizeof errmsg);
	check_err("192.0.2.7: -EADDRNOTAVAIL naming the IPv4 network", rv, -EADDRNOTAVAIL, errmsg,
		  net4);
	printf("#   %s\n", errmsg);
	rv = vip_add(&c6, errmsg, sizeof errmsg);
	check_err("2001:db8::7: -EADDRNOTAVAIL naming the IPv6 network", rv, -EADDRNOTAVAIL, errmsg,
		  net6);
	printf("#   %s\n", errmsg);
	rv = vip_present(&c4, errmsg, sizeof errmsg);
	check(rv == 0, "192.0.2.7 was not added", rv, errmsg);
}

static void errors_malformed(const char *ifname)
{
	static const char *const bad[] = {"",	    "10.0.0.300", "10.0.0.1/24", "fd88::zz", "host",
					  "10.0.0", "224.0.0.1",  "0.0.0.0",	 "ff02::1",  "::"};
	char errmsg[256] = "", what[96], longname[64];
	struct vip_config c = {.interface = ifname};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c.address = bad[i];
		snprintf(what, sizeof what, "address '%s': -EINVAL", bad[i]);
		check_err(what, vip_add(&c, errmsg, sizeof errmsg), -EINVAL, errmsg, NULL);
	}
	printf("#   %s\n", errmsg);
	c.address = NULL;
	check_err("no address: -EINVAL", vip_del(&c, errmsg, sizeof errmsg), -EINVAL, errmsg, NULL);
	check_err("no config: -EINVAL", vip_present(NULL, errmsg, sizeof errmsg), -EINVAL, errmsg,
		  NULL);
	memset(longname, 'e', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	c.interface = longname;
	c.address = "10.0.0.1";
	check_err("over-long interface name: -EINVAL", vip_announce_once(&c, errmsg, sizeof errmsg),
		  -EINVAL, errmsg, NULL);
	c.interface = NULL;
	check_err("no interface: -EINVAL", vip_add(&c, errmsg, sizeof errmsg), -EINVAL, errmsg,
		  NULL);
	c.interface = "lo";
	check_err("announce on lo: -EOPNOTSUPP", vip_announce_once(&c, errmsg, sizeof errmsg),
		  -EOPNOTSUPP, errmsg, "no Ethernet address");
}

/* Remove cap from this process's effective, permitted and inheritable sets. */
static int drop_cap(int cap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	unsigned bit = 1u << (cap % 32);

	if (syscall(SYS_capget, &h, d) != 0)
		return -errno;
	d[cap / 32].effective &= ~bit;
	d[cap / 32].permitted &= ~bit;
	d[cap / 32].inheritable &= ~bit;
	if (syscall(SYS_capset, &h, d) != 0)
		return -errno;
	return 0;
}

struct child_case {
	const char *ifname;
	const char *addr;
	int cap; /* dropped before the call */
	int (*fn)(const struct vip_config *, char *, size_t);
	const char *want; /* the whole message */
};

/* Run one case in a child without the capability; the child reports with
 * its exit status (0: as expected). A signal means it crashed. */
static void run_child(const char *what, const struct child_case *k)
{
	struct vip_config c = {.interface = k->ifname, .address = k->addr};
	char errmsg[256] = "";
	int status = 0, rv;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		alarm(CHILD_ALARM_S);
		rv = drop_cap(k->cap);
		if (rv == 0)
			rv = k->fn(&c, errmsg, sizeof errmsg);
		printf("#   child: rv=%d errmsg \"%s\"\n", rv, errmsg);
		fflush(stdout);
		_exit(rv == -EPERM && strcmp(errmsg, k->want) == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	if (status != -1 && WIFSIGNALED(status))
		printf("#   child crashed: signal %d\n", WTERMSIG(status));
	check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, what, -EPERM, k->want);
}

static void errors_perm(const char *ifname, const char *vip4, const char *vip6)
{
	struct vip_config c = {.interface = ifname, .address = vip4};
	char errmsg[256] = "", want4[128], want6[128], wantdel[128], wantraw[128];
	int rv;

	snprintf(want4, sizeof want4, "adding %s/24 to %s needs CAP_NET_ADMIN", vip4, ifname);
	snprintf(want6, sizeof want6, "adding %s/64 to %s needs CAP_NET_ADMIN", vip6, ifname);
	snprintf(wantdel, sizeof wantdel, "removing %s/24 from %s needs CAP_NET_ADMIN", vip4,
		 ifname);
	snprintf(wantraw, sizeof wantraw, "announcing %s on %s needs CAP_NET_RAW", vip4, ifname);

	run_child("add without CAP_NET_ADMIN: -EPERM, named",
		  &(struct child_case){ifname, vip4, CAP_NET_ADMIN, vip_add, want4});
	run_child("IPv6 add without CAP_NET_ADMIN: -EPERM, named",
		  &(struct child_case){ifname, vip6, CAP_NET_ADMIN, vip_add, want6});
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 0, "nothing was added", rv, errmsg);
	run_child("announce without CAP_NET_RAW: -EPERM, named",
		  &(struct child_case){ifname, vip4, CAP_NET_RAW, vip_announce_once, wantraw});

	rv = vip_add(&c, errmsg, sizeof errmsg);
	check(rv == 0, "add (for the del case)", rv, errmsg);
	run_child("del without CAP_NET_ADMIN: -EPERM, named",
		  &(struct child_case){ifname, vip4, CAP_NET_ADMIN, vip_del, wantdel});
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 1, "still there after the refused del", rv, errmsg);
	rv = vip_del(&c, errmsg, sizeof errmsg);
	check(rv == 0, "del with the capability", rv, errmsg);
}

static int cmd_errors(char **argv)
{
	errors_nodev(argv[1]);
	errors_outside(argv[0], argv[3], argv[4]);
	errors_malformed(argv[0]);
	errors_perm(argv[0], argv[1], argv[2]);
	return failures ? 1 : 0;
}

static uint64_t mono_ms(void)
{
	return bs_clock_now_ms(bs_clock_real());
}

static void wait_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int cmd_lifetime(const char *ifname, const char *addr)
{
	struct vip_config c = {.interface = ifname, .address = addr, .lifetime_s = 1};
	char errmsg[256] = "", what[128];
	uint64_t t_last, t_end, gone_ms = 0;
	int rv, i, ok = 1;

	rv = vip_add(&c, errmsg, sizeof errmsg);
	check(rv == 0, "add with a 1 s lifetime", rv, errmsg);
	for (i = 0; i < 20; i++) { /* 2 s of renewals, 100 ms apart */
		wait_ms(100);
		rv = vip_refresh(&c, errmsg, sizeof errmsg);
		ok = ok && rv == 0;
	}
	t_last = mono_ms();
	check(ok, "renewed 20 times, 100 ms apart (2 s, twice the lifetime)", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 1, "still there after 2 s of renewals", rv, errmsg);
	for (t_end = t_last + 3000; mono_ms() < t_end; wait_ms(20)) {
		rv = vip_present(&c, errmsg, sizeof errmsg);
		if (rv == 0) {
			gone_ms = mono_ms() - t_last;
			break;
		}
	}
	snprintf(what, sizeof what,
		 "not renewed: the kernel removed it %llu ms after the last renewal",
		 (unsigned long long)gone_ms);
	check(rv == 0 && gone_ms >= 900 && gone_ms <= 1600, what, rv, errmsg);
	rv = vip_refresh(&c, errmsg, sizeof errmsg);
	check(rv == -ENOENT && strstr(errmsg, "no longer there") != NULL,
	      "refresh of a missing address: -ENOENT", rv, errmsg);
	rv = vip_present(&c, errmsg, sizeof errmsg);
	check(rv == 0, "and nothing added", rv, errmsg);
	return failures ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vip_test cycle IF ADDR PREFIXLEN | add IF ADDR | del IF ADDR |\n"
			"       announce IF ADDR COUNT GAP_MS | end IF | lifetime IF ADDR |\n"
			"       errors IF VIP4 VIP6 NET4 NET6\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "cycle") == 0 && argc == 5)
		return cmd_cycle(argv[2], argv[3], atoi(argv[4]));
	if (strcmp(cmd, "add") == 0 && argc == 4)
		return cmd_add(argv[2], argv[3]);
	if (strcmp(cmd, "del") == 0 && argc == 4)
		return cmd_del(argv[2], argv[3]);
	if (strcmp(cmd, "announce") == 0 && argc == 6)
		return cmd_announce(argv[2], argv[3], (unsigned)atoi(argv[4]),
				    (unsigned)atoi(argv[5]));
	if (strcmp(cmd, "lifetime") == 0 && argc == 4)
		return cmd_lifetime(argv[2], argv[3]);
	if (strcmp(cmd, "end") == 0 && argc == 3)
		return cmd_end(argv[2]);
	if (strcmp(cmd, "errors") == 0 && argc == 7)
		return cmd_errors(argv + 2);
	return usage();
}
