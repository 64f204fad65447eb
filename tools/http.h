/*
 * A small read-only HTTP server (libmicrohttpd underneath, kept out of this
 * header): one listening socket, one server thread, one handler that maps a
 * request line to a reply. Used for the etcd-v2-shaped member discovery
 * (discovery.h) and the leader probe.
 *
 * Threads: the handler runs on the server's own thread, never on the uv
 * loop. It must not block and must not touch the loop; whatever it reads
 * the loop thread publishes under a mutex of the handler's owner.
 *
 * Limits: at most CLI_HTTP_MAX_CONNECTIONS connections (CLI_HTTP_MAX_PER_IP from
 * one address), each closed after CLI_HTTP_IDLE_TIMEOUT_S seconds without
 * progress, so a slow or silent client cannot pin the server. Request
 * bodies are never read.
 */
#ifndef BS_TOOLS_HTTP_H
#define BS_TOOLS_HTTP_H

#include <stddef.h>

#define CLI_HTTP_MAX_CONNECTIONS 64
#define CLI_HTTP_MAX_PER_IP 16
#define CLI_HTTP_IDLE_TIMEOUT_S 10

struct cli_http;

/* What a handler answers. The server zeroes it before the call; status 0
 * (the handler said nothing) is sent as 500. */
struct cli_http_reply {
	int status;
	const char *content_type; /* static string, or NULL for none */
	char *body;		  /* NUL-terminated text, malloc'd; the server frees
				   * it (also on failure). NULL: an empty body */
	/* One optional extra header (both static strings, or both NULL):
	 * "Allow" / "GET, HEAD" for a 405. */
	const char *header_name;
	const char *header_value;
};

/* Runs on the server's thread, once per request, with the request's method
 * ("GET") and path without the query string ("/v2/members"). Must not
 * block; see the file comment. */
typedef void (*cli_http_handler)(void *data, const char *method, const char *path,
				 struct cli_http_reply *reply);

/*
 * Listen on host:port and serve. host is a numeric IPv4 or IPv6 address
 * (no brackets; "0.0.0.0" and "::" for every interface); port 0 picks a
 * free port (cli_http_port tells which). h and data must outlive the
 * server. 0 and *ret_server (stop with cli__http_stop), or negative errno with
 * errmsg saying "listen 127.0.0.1:2379: Address already in use"; nothing
 * then needs stopping.
 */
int cli__http_start(const char *host, int port, cli_http_handler h, void *data,
		    struct cli_http **ret_server, char *errmsg, size_t errmsg_size);

/* The port the server listens on. */
int cli__http_port(const struct cli_http *s);

/* Close the listening socket and every connection, join the thread, free
 * s. No handler runs after it returns. Accepts NULL. */
void cli__http_stop(struct cli_http *s);

#endif
