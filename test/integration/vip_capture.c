/*
 * vip_capture IF MAX_MS: the observer of test/integration/vip.sh. Runs in the
 * observer's network namespace, listens on IF with an AF_PACKET socket and
 * prints one line per frame of interest:
 *
 *   ready                                   (once the socket is bound)
 *   garp dst=MAC src=MAC sha=MAC spa=IP tpa=IP tha=MAC
 *   na dst=MAC src=MAC ip6src=IP ip6dst=IP hlim=N code=N r=0|1 s=0|1 o=0|1
 *      target=IP tlla=MAC|none cksum=ok|bad
 *   end                                     (vip_test's marker frame)
 *
 * It stops 200 ms after the marker (frames sent before it may arrive just
 * after it when the sender changed CPUs) or, failing that, after MAX_MS with
 * "timeout" and exit 1. The ICMPv6 checksum is verified here with its own
 * code, independent of vip/packet.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base.h"

enum { MARKER_ETHERTYPE = 0x88b5, GRACE_MS = 200, ETH_HDR = 14 };

static void mac_text(const unsigned char *m, char *out)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void on_arp(const unsigned char *f, size_t n)
{
	const unsigned char *a = f + ETH_HDR;
	char dst[18], src[18], sha[18], tha[18], spa[16], tpa[16];

	if (n < ETH_HDR + 28 || a[6] != 0 || a[7] != 1 || memcmp(a + 14, a + 24, 4) != 0)
		return; /* only requests whose sender and target IP agree */
	mac_text(f, dst);
	mac_text(f + 6, src);
	mac_text(a + 8, sha);
	mac_text(a + 18, tha);
	inet_ntop(AF_INET, a + 14, spa, sizeof spa);
	inet_ntop(AF_INET, a + 24, tpa, sizeof tpa);
	printf("garp dst=%s src=%s sha=%s spa=%s tpa=%s tha=%s\n", dst, src, sha, spa, tpa, tha);
}

/* RFC 4443 §2.3, written out again on purpose (not vip/packet.c's code). */
static int icmp6_sum_ok(const unsigned char *ip6, size_t plen)
{
	unsigned long sum = 0;
	size_t i;

	for (i = 8; i < 40; i += 2) /* source and destination */
		sum += (unsigned long)(ip6[i] << 8 | ip6[i + 1]);
	sum += plen;
	sum += 58;
	for (i = 0; i + 1 < plen; i += 2) /* the message, checksum included */
		sum += (unsigned long)(ip6[40 + i] << 8 | ip6[40 + i + 1]);
	if (plen % 2)
		sum += (unsigned long)ip6[40 + plen - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static void tlla_text(const unsigned char *opt, size_t n, char *out)
{
	size_t len;

	strcpy(out, "none");
	while (n >= 8) {
		len = (size_t)opt[1] * 8;
		if (len == 0 || len > n)
			return;
		if (opt[0] == 2 && len == 8)
			mac_text(opt + 2, out);
		opt += len;
		n -= len;
	}
}

static void on_ipv6(const unsigned char *f, size_t n)
{
	const unsigned char *ip6 = f + ETH_HDR, *na = ip6 + 40;
	size_t plen;
	char dst[18], src[18], s6[INET6_ADDRSTRLEN], d6[INET6_ADDRSTRLEN], tgt[INET6_ADDRSTRLEN],
		tlla[18];

	if (n < ETH_HDR + 40 + 24 || ip6[6] != 58 || na[0] != 136)
		return;
	plen = (size_t)(ip6[4] << 8 | ip6[5]);
	if (plen < 24 || ETH_HDR + 40 + plen > n)
		return;
	mac_text(f, dst);
	mac_text(f + 6, src);
	inet_ntop(AF_INET6, ip6 + 8, s6, sizeof s6);
	inet_ntop(AF_INET6, ip6 + 24, d6, sizeof d6);
	inet_ntop(AF_INET6, na + 8, tgt, sizeof tgt);
	tlla_text(na + 24, plen - 24, tlla);
	printf("na dst=%s src=%s ip6src=%s ip6dst=%s hlim=%u code=%u r=%d s=%d o=%d target=%s "
	       "tlla=%s cksum=%s\n",
	       dst, src, s6, d6, ip6[7], na[1], !!(na[4] & 0x80), !!(na[4] & 0x40),
	       !!(na[4] & 0x20), tgt, tlla, icmp6_sum_ok(ip6, plen) ? "ok" : "bad");
}

/* 1 when the frame is the end marker. */
static int on_frame(const unsigned char *f, size_t n)
{
	unsigned type;

	if (n < ETH_HDR)
		return 0;
	type = (unsigned)(f[12] << 8 | f[13]);
	if (type == ETH_P_ARP)
		on_arp(f, n);
	else if (type == ETH_P_IPV6)
		on_ipv6(f, n);
	else if (type == MARKER_ETHERTYPE && n >= ETH_HDR + 9 &&
		 memcmp(f + ETH_HDR, "bsvip-end", 9) == 0)
		return 1;
	return 0;
}

static int open_capture(const char *ifname)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int fd;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0)
		return -ENODEV;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Read frames until the marker (plus GRACE_MS) or deadline_ms. 0 after the
 * marker, -ETIMEDOUT without it. */
static int capture(int fd, uint64_t deadline_ms)
{
	unsigned char buf[2048];
	struct sockaddr_ll from;
	socklen_t fromlen;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint64_t now;
	ssize_t n;
	int seen_end = 0;

	while ((now = bs_clock_now_ms(bs_clock_real())) < deadline_ms) {
		if (poll(&pfd, 1, (int)(deadline_ms - now)) <= 0)
			continue;
		fromlen = sizeof from;
		n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (on_frame(buf, (size_t)n) && !seen_end) {
			seen_end = 1;
			printf("end\n");
			deadline_ms = now + GRACE_MS;
		}
	}
	return seen_end ? 0 : -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	int fd, rv;

	if (argc != 3) {
		fprintf(stderr, "usage: vip_capture IF MAX_MS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open_capture(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "vip_capture: %s: %s\n", argv[1], bs_strerror(fd));
		return 1;
	}
	printf("ready\n");
	rv = capture(fd, bs_clock_now_ms(bs_clock_real()) + (uint64_t)atoi(argv[2]));
	close(fd);
	if (rv != 0)
		printf("timeout\n");
	return rv == 0 ? 0 : 1;
}
