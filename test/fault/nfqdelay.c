/*
 * nfqdelay QUEUE_NUM DELAY_MS [MAX_HELD]: a fixed network delay for test
 * hosts, since this kernel has no netem. iptables sends packets to NFQUEUE
 * QUEUE_NUM (in the network namespace this runs in); each is held DELAY_MS
 * and then accepted, first in, first out. At most MAX_HELD (default 4096)
 * packets are held at a time: that is also the kernel queue's length, so
 * beyond it the kernel drops, as a full netem queue would.
 *
 *   ip netns exec NS nfqdelay 7 50 &
 *   ip netns exec NS iptables -A OUTPUT -d PEER -j NFQUEUE --queue-num 7 --queue-bypass
 *
 * Prints "ready ..." once bound (a script waits for that line), and at exit
 * "released=N dropped=N max_held=N". SIGTERM or SIGINT: every packet still
 * held is accepted at once, the queue unbound, exit 0. Exit 1 on a setup or
 * netlink error, 2 on bad usage.
 *
 * Only the verdict matters, so packets are queued as metadata (no payload
 * copy).
 */
/* netinet/in.h (through arpa/inet.h) before linux/netfilter.h, which would
 * otherwise pull in linux/in.h and clash with it. */
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnfnetlink/libnfnetlink.h>

#include "base.h"

#define DEFAULT_MAX_HELD 4096u
#define RCVBUF_BYTES (4u << 20)

struct held {
	uint32_t id;
	uint64_t due_ms;
};

struct delayer {
	struct bs_clock *clock;
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	uint64_t delay_ms;
	struct held *ring; /* FIFO of capacity cap */
	unsigned cap, head, count;
	unsigned long long released, dropped, enobufs;
	unsigned max_held;
	int verdict_errors;
};

static int release_head(struct delayer *d)
{
	struct held *p = &d->ring[d->head];

	d->head = (d->head + 1) % d->cap;
	d->count--;
	d->released++;
	if (nfq_set_verdict(d->qh, p->id, NF_ACCEPT, 0, NULL) < 0) {
		d->verdict_errors++;
		return -errno;
	}
	return 0;
}

/* Accept every packet whose time has come (all of them if `all`). */
static void release_due(struct delayer *d, int all)
{
	uint64_t now = bs_clock_now_ms(d->clock);

	while (d->count > 0 && (all || d->ring[d->head].due_ms <= now))
		release_head(d);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
		     void *data)
{
	struct delayer *d = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;

	if (ph == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	if (d->count == d->cap) { /* cannot happen with the kernel's maxlen = cap */
		d->dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	d->ring[(d->head + d->count) % d->cap] = (struct held){
		.id = id,
		.due_ms = bs_clock_now_ms(d->clock) + d->delay_ms,
	};
	d->count++;
	if (d->count > d->max_held)
		d->max_held = d->count;
	return 0;
}

/* Read every queued message there is now. 0, or a negative errno. */
static int drain(struct delayer *d, int fd)
{
	char buf[65536] __attribute__((aligned));
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0) {
			nfq_handle_packet(d->h, buf, (int)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n < 0 && errno == ENOBUFS) { /* the kernel dropped what it could not send */
			d->enobufs++;
			continue;
		}
		return n == 0 ? -EPIPE : -errno;
	}
}

static int bind_queue(struct delayer *d, unsigned qnum)
{
	d->h = nfq_open();
	if (d->h == NULL)
		return -errno ? -errno : -EIO;
	/* Needed before kernel 3.8 only; harmless after. */
	nfq_unbind_pf(d->h, AF_INET);
	if (nfq_bind_pf(d->h, AF_INET) < 0)
		return -errno ? -errno : -EIO;
	d->qh = nfq_create_queue(d->h, (uint16_t)qnum, on_packet, d);
	if (d->qh == NULL)
		return -errno ? -errno : -EIO;
	if (nfq_set_mode(d->qh, NFQNL_COPY_META, 0) < 0)
		return -errno ? -errno : -EIO;
	if (nfq_set_queue_maxlen(d->qh, d->cap) < 0)
		return -errno ? -errno : -EIO;
	nfnl_rcvbufsiz(nfq_nfnlh(d->h), RCVBUF_BYTES);
	return 0;
}

static void unbind_queue(struct delayer *d)
{
	if (d->qh != NULL)
		nfq_destroy_queue(d->qh);
	if (d->h != NULL)
		nfq_close(d->h);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The loop: release what is due, wait for a packet, a signal or the next
 * due time. Returns 0 on a signal, a negative errno on a netlink error. */
static int run(struct delayer *d, int sigfd)
{
	struct pollfd fds[2] = {{.fd = nfq_fd(d->h), .events = POLLIN},
				{.fd = sigfd, .events = POLLIN}};
	uint64_t now, wait;
	int rv;

	for (;;) {
		release_due(d, 0);
		wait = UINT64_MAX;
		if (d->count > 0) {
			now = bs_clock_now_ms(d->clock);
			wait = d->ring[d->head].due_ms > now ? d->ring[d->head].due_ms - now : 0;
		}
		rv = poll(fds, 2, wait > INT_MAX ? -1 : (int)wait);
		if (rv < 0 && errno != EINTR)
			return -errno;
		if (rv <= 0)
			continue;
		if (fds[1].revents & POLLIN)
			return 0;
		if (fds[0].revents & POLLIN) {
			rv = drain(d, fds[0].fd);
			if (rv != 0)
				return rv;
		}
	}
}

int main(int argc, char **argv)
{
	struct delayer d = {.clock = bs_clock_real()};
	unsigned long qnum, delay, cap = DEFAULT_MAX_HELD;
	sigset_t sigs;
	int sigfd, rv;

	if ((argc != 3 && argc != 4) || parse_uint(argv[1], 65535, &qnum) != 0 ||
	    parse_uint(argv[2], 3600000, &delay) != 0 ||
	    (argc == 4 && (parse_uint(argv[3], 1u << 20, &cap) != 0 || cap == 0))) {
		fprintf(stderr, "usage: nfqdelay QUEUE_NUM(0-65535) DELAY_MS [MAX_HELD]\n");
		return 2;
	}
	d.delay_ms = delay;
	d.cap = (unsigned)cap;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	d.ring = calloc(d.cap, sizeof *d.ring);
	if (sigfd < 0 || d.ring == NULL) {
		fprintf(stderr, "nfqdelay: %s\n", strerror(errno));
		rv = -errno;
		goto err_after_alloc;
	}
	rv = bind_queue(&d, (unsigned)qnum);
	if (rv != 0) {
		fprintf(stderr, "nfqdelay: binding queue %lu: %s\n", qnum, strerror(-rv));
		goto err_after_bind;
	}
	printf("ready queue=%lu delay_ms=%lu max_held=%u\n", qnum, delay, d.cap);
	fflush(stdout);
	rv = run(&d, sigfd);
	release_due(&d, 1);
	if (rv != 0)
		fprintf(stderr, "nfqdelay: netlink: %s\n", strerror(-rv));
	printf("released=%llu dropped=%llu max_held=%u enobufs=%llu verdict_errors=%d\n",
	       d.released, d.dropped, d.max_held, d.enobufs, d.verdict_errors);
err_after_bind:
	unbind_queue(&d);
err_after_alloc:
	free(d.ring);
	if (sigfd >= 0)
		close(sigfd);
	return rv == 0 ? 0 : 1;
}
