/*
 * The Elasticsearch health probe of the leader module: an asynchronous
 * GET /_cluster/health against one Elasticsearch node (elasticsearch.host
 * and elasticsearch.port), on the daemon's uv loop. A leader whose
 * Elasticsearch is red fails its health check (chef-backend's behaviour:
 * the frontends talk to the leader's Elasticsearch only).
 *
 * Prefix ldr_ (the leader module). This header is separate from leader.h
 * for now; leader.h will include it once the module's orchestrator uses it.
 *
 * Threads: every call and every callback on the loop given to
 * ldr_es_probe_new. libcurl's multi-socket API does the HTTP, driven by the
 * loop (one uv_poll_t per socket libcurl opens, one uv_timer_t for its
 * timeouts), so nothing here blocks the loop; a host name (rather than an
 * address) is resolved on libcurl's resolver thread.
 *
 * Requests follow CONVENTIONS §6: the caller owns the struct ldr_es_req;
 * if ldr_es_check fails, cb never runs; otherwise it runs exactly once, on
 * the loop thread, never from inside ldr_es_check; -ECANCELED when the
 * probe closes first.
 */
#ifndef BS_LEADER_ES_PROBE_H
#define BS_LEADER_ES_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define LDR_ES_TIMEOUT_DEFAULT_MS 2000u /* a check's timeout when it gives 0 */
#define LDR_ES_BODY_MAX (64u * 1024u)	/* a longer answer is refused (-EMSGSIZE) */
#define LDR_ES_HOST_MAX 256		/* host name or address, with its NUL */

/* Elasticsearch's own colours (the "status" field). */
enum ldr_es_status {
	LDR_ES_GREEN,  /* every shard allocated */
	LDR_ES_YELLOW, /* every primary allocated, some replicas not: serves everything */
	LDR_ES_RED,    /* some primary unallocated: some searches fail */
};

/* What a check found. On status 0 every field is filled from the answer;
 * on an error only errmsg is (the rest is zero). Valid during the callback
 * only. */
struct ldr_es_health {
	enum ldr_es_status status;
	bool healthy;		/* green or yellow */
	char cluster_name[128]; /* "" when the answer has none; truncated */
	int number_of_nodes;	/* 0 when the answer has none */
	bool timed_out;		/* Elasticsearch's own timed_out (its wait_for_*) */
	/* Why the check failed, "" on success:
	 * "elasticsearch 10.0.0.1:9200: HTTP 503". */
	char errmsg[256];
};

struct ldr_es_probe;
struct ldr_es_req;

/*
 * status: 0 (h says green, yellow or red), or a negative error, with
 * h->errmsg naming the node and the reason:
 *   -ECONNREFUSED (or the connect's own errno, e.g. -EHOSTUNREACH)
 *                 "...: connect: Connection refused"
 *   -EHOSTUNREACH "...: cannot resolve host"
 *   -ETIMEDOUT    "...: timed out after 2000 ms" (connect and answer
 *                 together took longer than the check's timeout)
 *   -ECONNRESET   the connection closed before a whole answer
 *   -EIO          "...: HTTP 503" (with Elasticsearch's error reason when
 *                 its body has one), or another transfer failure
 *   -EMSGSIZE     an answer longer than LDR_ES_BODY_MAX
 *   BS_E_PARSE    "...: answer is not JSON", "...: answer has no
 *                 \"status\"", "...: unknown status \"purple\""
 *   -ENOMEM
 *   -ENOMEM, or libuv's errno: "...: watching its socket: ..." (a socket
 *                 libcurl opened could not be polled)
 *   -ECANCELED    the probe closed first
 * h is never NULL. req may be reused (or freed) from inside cb.
 */
typedef void (*ldr_es_cb)(struct ldr_es_req *req, int status, const struct ldr_es_health *h);

struct ldr_es_req {
	void *data; /* the caller's */
	/* Private. */
	ldr_es_cb cb;
	struct ldr_es_probe *probe;
	void *easy;			 /* libcurl's easy handle */
	char where[LDR_ES_HOST_MAX + 8]; /* "10.0.0.1:9200", "[fd00::1]:9200" */
	unsigned timeout_ms;
	char *body; /* the answer so far, malloc'd; NUL-terminated */
	size_t body_len, body_cap;
	bool body_too_big;
	int failed;	    /* a socket we could not watch: the check fails with it */
	char curl_err[256]; /* libcurl's CURLOPT_ERRORBUFFER */
	struct ldr_es_req *prev, *next;
};

/*
 * A probe on loop: 0 and *ret (close with ldr_es_probe_close), or -ENOMEM /
 * -EIO (libcurl could not start). One probe serves any number of checks, to
 * any number of nodes, at once; its connections are kept open between
 * checks (HTTP keep-alive).
 */
int ldr_es_probe_new(uv_loop_t *loop, struct ldr_es_probe **ret);

/*
 * Close p: every check in flight gets -ECANCELED, then cb(data) runs (cb may
 * be NULL), after which p is freed. Both on later loop iterations, never
 * from inside this call; ldr_es_check refuses new checks (-ECANCELED) from
 * now on. Accepts NULL (then cb is not called). Call it once: a second call
 * (from a cancelled check's callback, say) does nothing, and its cb never
 * runs.
 */
void ldr_es_probe_close(struct ldr_es_probe *p, void (*cb)(void *data), void *data);

/*
 * GET http://host:port/_cluster/health, at most timeout_ms (0:
 * LDR_ES_TIMEOUT_DEFAULT_MS) for connecting and answering together. host is
 * an IPv4 or IPv6 address (no brackets) or a name. Proxy settings of the
 * environment are ignored; redirects are not followed.
 * req must not be in flight already. 0 (cb will run), or, with cb never
 * run: -EINVAL (a host that is empty, over-long or has characters no host
 * name has; a port outside 1..65535), -ECANCELED (p is closing), -ENOMEM,
 * -EIO (libcurl refused the request); ldr_es_probe_errmsg then says why.
 */
int ldr_es_check(struct ldr_es_probe *p, struct ldr_es_req *req, const char *host, int port,
		 unsigned timeout_ms, ldr_es_cb cb);

/* Why the last ldr_es_check on p failed ("" if none has); static until the
 * next call on p. */
const char *ldr_es_probe_errmsg(const struct ldr_es_probe *p);

/* "green", "yellow", "red". */
const char *ldr_es_status_name(enum ldr_es_status status);

#endif /* BS_LEADER_ES_PROBE_H */
