/*
 * The server of http.h over libmicrohttpd (MHD) with its internal polling
 * thread (epoll on Linux). This file creates the listening socket itself
 * rather than through MHD_OPTION_SOCK_ADDR: MHD only logs why a bind
 * failed, and an operator must read "listen 10.0.0.1:2379: Address already
 * in use", with the errno to return. MHD's own messages (a client that
 * went away, the connection limit reached) go to bs_log at debug level: a
 * client can cause them at will.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base.h"
#include "http.h"
#include "internal.h"

#define HTTP_COMPONENT "http"
#define HTTP_BACKLOG 64
#define HTTP_REASON_MAX 160 /* MHD's message when it cannot start */
#define HTTP_WHERE_MAX 128  /* "[host]:port" in messages */

struct cli_http {
	struct MHD_Daemon *mhd;
	cli_http_handler handler;
	void *data;
	int port;
};

/* While cli__http_start runs MHD_start_daemon on this thread: a buffer of
 * HTTP_REASON_MAX bytes for MHD's last message, its only account of why it
 * could not start. Thread-local, so the server thread's messages never land
 * there. */
static _Thread_local char *start_reason;

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (start_reason != NULL)
		snprintf(start_reason, HTTP_REASON_MAX, "%.*s", HTTP_REASON_MAX - 1, line);
	bs_debug(HTTP_COMPONENT, "libmicrohttpd: %s", line);
}

/* reply as an MHD response, which takes reply->body (freed here when there
 * is no response). NULL when out of memory. */
static struct MHD_Response *response_new(struct cli_http_reply *reply)
{
	size_t len = reply->body != NULL ? strlen(reply->body) : 0;
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, reply->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(reply->body);
		return NULL;
	}
	if ((reply->content_type != NULL &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type) !=
		     MHD_YES) ||
	    (reply->header_name != NULL &&
	     MHD_add_response_header(resp, reply->header_name, reply->header_value) != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* MHD's access handler: the whole request is answered on its first call,
 * once the headers are in. A body the client sends is not read (MHD
 * closes the connection after an early reply). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct cli_http *s = cls;
	struct cli_http_reply reply = {.status = 0};
	struct MHD_Response *resp;
	enum MHD_Result rv;

	s->handler(s->data, method, url, &reply);
	resp = response_new(&reply);
	if (resp == NULL)
		return MHD_NO; /* MHD closes the connection */
	rv = MHD_queue_response(conn, reply.status != 0 ? (unsigned)reply.status : 500u, resp);
	MHD_destroy_response(resp);
	return rv;
}

/* A CLOEXEC socket listening on host:port (numeric host). 0 and *ret_fd,
 * *ret_family, or negative errno with errmsg "listen WHERE: why". */
static int listen_socket(const char *host, int port, const char *where, int *ret_fd,
			 int *ret_family, char *errmsg, size_t errmsg_size)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai;
	char service[16];
	int fd, on = 1, rv;

	snprintf(service, sizeof service, "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0) {
		bs_errf(errmsg, errmsg_size, "listen %s: not a numeric IP address", where);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rv = -errno;
		goto err_after_getaddrinfo;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, HTTP_BACKLOG) != 0) {
		rv = -errno;
		goto err_after_socket;
	}
	*ret_fd = fd;
	*ret_family = ai->ai_family;
	freeaddrinfo(ai);
	return 0;

err_after_socket:
	close(fd);
err_after_getaddrinfo:
	freeaddrinfo(ai);
	bs_errf(errmsg, errmsg_size, "listen %s: %s", where, bs_strerror(rv));
	return rv;
}

/*
 * Serve s on the listening socket fd. MHD owns fd from the call on: it
 * closes it in cli__http_stop, and on almost every failure. A few early
 * failures (out of memory, out of descriptors for its wake-up eventfd)
 * leave it open; it is still not closed here, since a second close could
 * hit a descriptor another thread just opened. 0, or -EIO with MHD's
 * reason in reason (HTTP_REASON_MAX bytes; "" when it gave none).
 */
static int mhd_start(struct cli_http *s, int fd, int family, char *reason)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	reason[0] = '\0';
	start_reason = reason;
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,	      /* every request */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first: all to bs_log */
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,     /* ours, see above */
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CLI_HTTP_MAX_CONNECTIONS,   /* in all */
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CLI_HTTP_MAX_PER_IP, /* one peer */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CLI_HTTP_IDLE_TIMEOUT_S,  /* idle */
		MHD_OPTION_END);
	start_reason = NULL;
	return s->mhd != NULL ? 0 : -EIO;
}

int cli__http_start(const char *host, int port, cli_http_handler h, void *data,
		    struct cli_http **ret_server, char *errmsg, size_t errmsg_size)
{
	char where[HTTP_WHERE_MAX], reason[HTTP_REASON_MAX];
	const union MHD_DaemonInfo *info;
	struct cli_http *s;
	int fd = -1, family = AF_UNSPEC, rv;

	cli__join_address(where, sizeof where, host, port);
	if (port < 0 || port > 65535) {
		bs_errf(errmsg, errmsg_size, "listen %s: port out of range", where);
		return -EINVAL;
	}
	s = malloc(sizeof *s);
	if (s == NULL) {
		bs_errf(errmsg, errmsg_size, "listen %s: %s", where, bs_strerror(-ENOMEM));
		return -ENOMEM;
	}
	*s = (struct cli_http){.handler = h, .data = data};
	rv = listen_socket(host, port, where, &fd, &family, errmsg, errmsg_size);
	if (rv != 0)
		goto err_after_alloc;
	rv = mhd_start(s, fd, family, reason);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "listen %s: libmicrohttpd: %s", where,
			reason[0] != '\0' ? reason : "cannot start");
		goto err_after_alloc;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : port;
	*ret_server = s;
	return 0;

err_after_alloc:
	free(s);
	return rv;
}

int cli__http_port(const struct cli_http *s)
{
	return s->port;
}

void cli__http_stop(struct cli_http *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->mhd);
	free(s);
}
