/*
 * rtnetlink plumbing: a NETLINK_ROUTE socket, one request at a time, and the
 * read of its answer — reply messages, then the ACK (or the error) for a
 * plain request, or NLMSG_DONE for a dump. Every answer must come within
 * VIP_NETLINK_TIMEOUT_MS of the request (one deadline for the whole answer,
 * kept with poll(2) on a non-blocking socket), so a caller on the daemon's
 * loop thread is never held longer than that.
 *
 * Messages from anyone but the kernel, and answers to an earlier sequence
 * number, are skipped.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vip_internal.h"

enum { NL_BUF_SIZE = 32768 }; /* the kernel's largest dump batch */

int vip__nl_open(struct vip__nl *nl)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int fd, one = 1, rv;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* ACKs without a copy of the request: smaller, nothing lost. Older
	 * kernels lack the option; the copy is harmless then. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rv = -errno;
		close(fd);
		return rv;
	}
	nl->fd = fd;
	nl->seq = 0;
	return 0;
}

void vip__nl_close(struct vip__nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

int vip__nl_put(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(nh->nlmsg_len);
	struct rtattr *rta;

	if (at + RTA_SPACE(len) > cap)
		return -EMSGSIZE;
	rta = (struct rtattr *)((char *)nh + at);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
	return 0;
}

static int send_request(struct vip__nl *nl, const struct nlmsghdr *req)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n;

	do
		n = sendto(nl->fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel,
			   sizeof kernel);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == req->nlmsg_len ? 0 : -EIO;
}

/* Wait for the next datagram from the kernel until deadline_ms. Its length,
 * or -ETIMEDOUT, -EMSGSIZE (did not fit), or another negative errno. */
static ssize_t receive(struct vip__nl *nl, void *buf, size_t size, uint64_t deadline_ms)
{
	struct pollfd pfd = {.fd = nl->fd, .events = POLLIN};
	struct sockaddr_nl from;
	socklen_t fromlen;
	uint64_t now;
	ssize_t n;

	for (;;) {
		now = bs_clock_now_ms(bs_clock_real());
		if (now >= deadline_ms)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline_ms - now)) < 0 && errno != EINTR)
			return -errno;
		fromlen = sizeof from;
		n = recvfrom(nl->fd, buf, size, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from,
			     &fromlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n > size)
			return -EMSGSIZE;
		if (from.nl_pid == 0)
			return n;
	}
}

/* The end of an answer: the ACK or error of a request, DONE of a dump (which
 * may carry the dump's error). */
static int end_of_answer(const struct nlmsghdr *nh)
{
	const struct nlmsgerr *err = NLMSG_DATA(nh);
	const int *done_err = NLMSG_DATA(nh);

	if (nh->nlmsg_type == NLMSG_ERROR)
		return nh->nlmsg_len >= NLMSG_LENGTH(sizeof *err) ? err->error : -EBADMSG;
	if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof *done_err) && *done_err < 0)
		return *done_err;
	return 0;
}

/* Walk one datagram. 1 when the answer is complete (*ret_err holds its
 * result), 0 to read on. */
static int walk(const struct nlmsghdr *nh, size_t len, uint32_t seq,
		int (*cb)(const struct nlmsghdr *, void *), void *data, int *ret_err)
{
	int rv;

	for (; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
		if (nh->nlmsg_seq != seq)
			continue; /* a late answer to an earlier request */
		if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE) {
			*ret_err = end_of_answer(nh);
			return 1;
		}
		if (nh->nlmsg_type < NLMSG_MIN_TYPE || cb == NULL)
			continue; /* NOOP, OVERRUN: nothing for the caller */
		rv = cb(nh, data);
		if (rv != 0) {
			*ret_err = rv;
			return 1;
		}
	}
	return 0;
}

int vip__nl_talk(struct vip__nl *nl, struct nlmsghdr *req,
		 int (*cb)(const struct nlmsghdr *msg, void *data), void *data)
{
	union {
		struct nlmsghdr nh; /* aligns the buffer for the headers in it */
		char bytes[NL_BUF_SIZE];
	} buf;
	uint64_t deadline_ms;
	ssize_t n;
	int rv, err = 0;

	req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->nlmsg_seq = ++nl->seq;
	rv = send_request(nl, req);
	if (rv != 0)
		return rv;
	deadline_ms = bs_clock_now_ms(bs_clock_real()) + VIP_NETLINK_TIMEOUT_MS;
	for (;;) {
		n = receive(nl, buf.bytes, sizeof buf.bytes, deadline_ms);
		if (n < 0)
			return (int)n;
		if (walk(&buf.nh, (size_t)n, req->nlmsg_seq, cb, data, &err))
			return err;
	}
}
