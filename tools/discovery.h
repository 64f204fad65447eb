/*
 * Member discovery for Chef Infra Server frontends: the read-only part of
 * etcd's v2 HTTP API they use, on etcd.client_port (2379), answered from a
 * snapshot the daemon's loop thread publishes (docs/ctl.md):
 *
 *   GET /version     200 {"etcdserver":"2.3.8","etcdcluster":"2.3.0","backstay":VERSION}
 *   GET /health      200 {"health":"true"} when this node sees a leader, else
 *                    503 {"health":"false"}
 *   GET /v2/members  200 {"members":[{"id":"<hex>","name":..,"peerURLs":[..],
 *                    "clientURLs":[..]}, ...]}; 503 before the first publish
 *
 * Threads: the answers are made on the HTTP server's thread (http.h) from
 * text rendered by cli__discovery_publish on the loop thread, swapped in
 * under a mutex. Nothing else is shared.
 */
#ifndef BS_TOOLS_DISCOVERY_H
#define BS_TOOLS_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One member as /v2/members shows it. Strings are NUL-terminated UTF-8;
 * an empty URL is left out of its list. */
struct cli_discovery_member {
	uint64_t id;	      /* shown as lower-case hex, no leading zeros */
	char name[256];	      /* "backend-1": frontends use it as the node's name */
	char peer_url[300];   /* "http://10.0.0.1:2380": frontends use its host */
	char client_url[300]; /* "http://10.0.0.1:2379" */
};

struct cli_discovery;

/*
 * Serve on host:port (see cli__http_start: numeric host, port 0 = any free
 * port); version is backstay's, copied. 0 and *ret_discovery (stop with
 * cli__discovery_stop), or negative errno with errmsg saying
 * "listen 127.0.0.1:2379: Address already in use".
 */
int cli__discovery_start(const char *host, int port, const char *version,
			 struct cli_discovery **ret_discovery, char *errmsg, size_t errmsg_size);

/* The port it listens on. */
int cli__discovery_port(const struct cli_discovery *d);

/*
 * Loop thread: from now on answer with these n members (m is copied; n may
 * be 0) and with healthy as /health (whether this node sees a leader).
 * 0, -EINVAL (a string that is not UTF-8) or -ENOMEM; on failure the
 * previous snapshot stays.
 */
int cli__discovery_publish(struct cli_discovery *d, const struct cli_discovery_member *m, size_t n,
			   bool healthy);

/* Stop serving (joins the server thread) and free d. Accepts NULL. */
void cli__discovery_stop(struct cli_discovery *d);

#endif
