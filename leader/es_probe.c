/*
 * The Elasticsearch health probe of es_probe.h: libcurl's multi-socket
 * API on the uv loop, the standard integration. libcurl tells us which
 * sockets to watch (on_socket: one uv_poll_t each, made on first sight and
 * closed when libcurl says REMOVE) and when to wake it (on_curl_timer: one
 * uv_timer_t); we tell it what happened (curl_multi_socket_action) and then
 * collect finished transfers (drain). libcurl is never called from inside
 * one of its own callbacks, and no check's callback runs from inside
 * ldr_es_check: adding a transfer only arms the timer, which fires on the
 * next loop iteration.
 *
 * Closing stops every poll before libcurl closes its sockets (a watched
 * descriptor must not be closed under the loop), cancels the checks in
 * flight, and finishes once every uv handle is closed: then the cancelled
 * callbacks run, then the close callback, then the memory goes.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bs_build.h"
#include "es_probe.h"

#define ES_PATH "/_cluster/health"
#define ES_USER_AGENT "backstay/" BS_VERSION
#define ES_URL_MAX (LDR_ES_HOST_MAX + 64)

_Static_assert(sizeof(((struct ldr_es_req *)0)->curl_err) >= CURL_ERROR_SIZE,
	       "libcurl's error buffer must fit");

/* One socket libcurl asked us to watch. */
struct es_sock {
	uv_poll_t poll; /* first: on_handle_closed frees through it */
	curl_socket_t fd;
	struct ldr_es_probe *p;
	struct es_sock *prev, *next;
};

struct ldr_es_probe {
	uv_loop_t *loop;
	CURLM *multi; /* NULL once closing */
	uv_timer_t timer;
	struct es_sock *socks;
	struct ldr_es_req *reqs;      /* in flight */
	struct ldr_es_req *cancelled; /* closing: their callbacks still to run */
	unsigned handles_open;	      /* the timer and the polls, until closed */
	bool closing;
	void (*close_cb)(void *data);
	void *close_data;
	char errmsg[256]; /* why the last ldr_es_check failed */
};

const char *ldr_es_status_name(enum ldr_es_status status)
{
	switch (status) {
	case LDR_ES_GREEN:
		return "green";
	case LDR_ES_YELLOW:
		return "yellow";
	case LDR_ES_RED:
		return "red";
	}
	return "?";
}

const char *ldr_es_probe_errmsg(const struct ldr_es_probe *p)
{
	return p->errmsg;
}

/* ---- the list of checks in flight ----------------------------------------------- */

static void req_link(struct ldr_es_req **head, struct ldr_es_req *req)
{
	req->prev = NULL;
	req->next = *head;
	if (*head != NULL)
		(*head)->prev = req;
	*head = req;
}

static void req_unlink(struct ldr_es_req **head, struct ldr_es_req *req)
{
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		*head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

/* ---- libcurl on the uv loop ----------------------------------------------------- */

static void finish(struct ldr_es_req *req, CURLcode res);

/* The first check in flight whose socket we could not watch, or NULL. */
static struct ldr_es_req *req_failed(const struct ldr_es_probe *p)
{
	struct ldr_es_req *req;

	for (req = p->reqs; req != NULL; req = req->next)
		if (req->failed != 0)
			return req;
	return NULL;
}

/* Every finished transfer, each to its callback, then every check whose
 * socket could not be watched. A callback may close the probe: then the
 * rest waits for the cancellation. */
static void drain(struct ldr_es_probe *p)
{
	struct ldr_es_req *req;
	CURLMsg *msg;
	int left;

	while (!p->closing && (msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		req = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
		finish(req, msg->data.result);
	}
	while (!p->closing && (req = req_failed(p)) != NULL)
		finish(req, CURLE_OK); /* its req->failed says why */
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct es_sock *sk = (struct es_sock *)poll;
	struct ldr_es_probe *p = sk->p;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (status == 0 && (events & UV_WRITABLE))
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(p->multi, sk->fd, flags, &running);
	drain(p);
}

static void on_timer(uv_timer_t *timer)
{
	struct ldr_es_probe *p = timer->data;
	int running;

	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(p);
}

/* CURLMOPT_TIMERFUNCTION: wake libcurl after timeout_ms (-1: never). 0
 * means on the next loop iteration, never from inside libcurl. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct ldr_es_probe *p = userp;

	(void)multi;
	if (p->closing)
		return 0;
	if (timeout_ms < 0)
		return uv_timer_stop(&p->timer) == 0 ? 0 : -1;
	return uv_timer_start(&p->timer, on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static void on_handle_closed(uv_handle_t *handle);

/* Stop watching sk's socket and close its poll (freed once closed). */
static void sock_forget(struct ldr_es_probe *p, struct es_sock *sk)
{
	if (sk->prev != NULL)
		sk->prev->next = sk->next;
	else
		p->socks = sk->next;
	if (sk->next != NULL)
		sk->next->prev = sk->prev;
	uv_poll_stop(&sk->poll);
	uv_close((uv_handle_t *)&sk->poll, on_handle_closed);
}

/* A poll for fd, in p's list: 0 and *ret, or -ENOMEM (or libuv's refusal). */
static int sock_new(struct ldr_es_probe *p, curl_socket_t fd, struct es_sock **ret)
{
	struct es_sock *sk = malloc(sizeof *sk);
	int rv;

	if (sk == NULL)
		return -ENOMEM;
	*sk = (struct es_sock){.fd = fd, .p = p};
	rv = uv_poll_init_socket(p->loop, &sk->poll, fd);
	if (rv != 0) {
		free(sk);
		return rv;
	}
	sk->poll.data = p;
	sk->next = p->socks;
	if (p->socks != NULL)
		p->socks->prev = sk;
	p->socks = sk;
	p->handles_open++;
	*ret = sk;
	return 0;
}

/* Watch fd (sk: its poll, NULL the first time) for what libcurl waits on.
 * 0 or a negative errno. */
static int sock_watch(struct ldr_es_probe *p, curl_socket_t fd, int what, struct es_sock *sk)
{
	int events = 0, rv;

	if (sk == NULL) {
		rv = sock_new(p, fd, &sk);
		if (rv != 0)
			return rv;
		curl_multi_assign(p->multi, fd, sk);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&sk->poll, events, on_poll);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl waits on, or forget
 * it. A watch that cannot be set up fails its check alone, once libcurl
 * has returned (drain): answering -1 would make libcurl abort every
 * transfer of the multi handle, without reporting them done. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ldr_es_probe *p = userp;
	struct es_sock *sk = socketp;
	struct ldr_es_req *req = NULL;
	int rv;

	if (p->closing) /* every poll is stopped already */
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (sk != NULL) {
			curl_multi_assign(p->multi, fd, NULL);
			sock_forget(p, sk);
		}
		return 0;
	}
	rv = sock_watch(p, fd, what, sk);
	if (rv != 0) {
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
		if (req != NULL && req->failed == 0)
			req->failed = rv;
	}
	return 0;
}

/* ---- one check ------------------------------------------------------------------ */

/* CURLOPT_WRITEFUNCTION: append to req->body, up to LDR_ES_BODY_MAX bytes.
 * Anything short of n fails the transfer. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct ldr_es_req *req = userp;
	size_t n = size * nmemb, cap;
	char *body;

	if (n > LDR_ES_BODY_MAX - req->body_len) {
		req->body_too_big = true;
		return 0;
	}
	if (req->body_len + n + 1 > req->body_cap) {
		cap = req->body_cap != 0 ? req->body_cap : 4096;
		while (cap < req->body_len + n + 1)
			cap *= 2;
		body = realloc(req->body, cap);
		if (body == NULL)
			return 0;
		req->body = body;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return n;
}

/* Could host be a host name or an address in a URL? Letters, digits, '.',
 * '-', '_' and ':' (IPv6) only: nothing that would end the host part. */
static bool host_valid(const char *host)
{
	size_t len = strlen(host);

	return len > 0 && len < LDR_ES_HOST_MAX &&
	       strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-_:") == len;
}

/* libcurl's options for one check of url. CURLE_OK or what refused. */
static CURLcode easy_configure(CURL *easy, struct ldr_es_req *req, const char *url)
{
	CURLcode rc;

	if ((rc = curl_easy_setopt(easy, CURLOPT_URL, url)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http")) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_PROXY, "")) != CURLE_OK || /* not $http_proxy */
	    (rc = curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_MAXFILESIZE, (long)LDR_ES_BODY_MAX)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_USERAGENT, ES_USER_AGENT)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_WRITEDATA, req)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->curl_err)) != CURLE_OK ||
	    (rc = curl_easy_setopt(easy, CURLOPT_PRIVATE, req)) != CURLE_OK)
		return rc;
	return CURLE_OK;
}

/* req's fields for a new check of host:port; its URL into url. */
static void req_init(struct ldr_es_req *req, struct ldr_es_probe *p, const char *host, int port,
		     unsigned timeout_ms, ldr_es_cb cb, char *url, size_t url_size)
{
	bool v6 = strchr(host, ':') != NULL;

	req->cb = cb;
	req->probe = p;
	req->easy = NULL;
	req->timeout_ms = timeout_ms != 0 ? timeout_ms : LDR_ES_TIMEOUT_DEFAULT_MS;
	req->body = NULL;
	req->body_len = req->body_cap = 0;
	req->body_too_big = false;
	req->failed = 0;
	req->curl_err[0] = '\0';
	snprintf(req->where, sizeof req->where, v6 ? "[%s]:%d" : "%s:%d", host, port);
	snprintf(url, url_size, "http://%s" ES_PATH, req->where);
}

/* Refuse a check: errmsg on p, the error returned. */
static int refuse(struct ldr_es_probe *p, int rv, const char *where, const char *why)
{
	bs_errf(p->errmsg, sizeof p->errmsg, "elasticsearch %s: %s", where, why);
	return rv;
}

/* req's transfer, added to p's: 0, -ENOMEM or -EIO with p->errmsg. */
static int req_start(struct ldr_es_probe *p, struct ldr_es_req *req, const char *url)
{
	CURL *easy = curl_easy_init();
	CURLMcode mrc;
	CURLcode rc;

	if (easy == NULL)
		return refuse(p, -ENOMEM, req->where, bs_strerror(-ENOMEM));
	rc = easy_configure(easy, req, url);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(easy);
		return refuse(p, rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO, req->where,
			      curl_easy_strerror(rc));
	}
	mrc = curl_multi_add_handle(p->multi, easy);
	if (mrc != CURLM_OK) {
		curl_easy_cleanup(easy);
		return refuse(p, mrc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO, req->where,
			      curl_multi_strerror(mrc));
	}
	req->easy = easy;
	return 0;
}

int ldr_es_check(struct ldr_es_probe *p, struct ldr_es_req *req, const char *host, int port,
		 unsigned timeout_ms, ldr_es_cb cb)
{
	char url[ES_URL_MAX];
	int rv;

	if (host == NULL || !host_valid(host) || port < 1 || port > 65535) {
		bs_errf(p->errmsg, sizeof p->errmsg,
			"elasticsearch '%.64s' port %d: not a host name or address and a port",
			host != NULL ? host : "(null)", port);
		return -EINVAL;
	}
	req_init(req, p, host, port, timeout_ms, cb, url, sizeof url);
	if (p->closing)
		return refuse(p, -ECANCELED, req->where, "the probe is closing");
	rv = req_start(p, req, url);
	if (rv != 0)
		return rv;
	req_link(&p->reqs, req);
	p->errmsg[0] = '\0';
	return 0;
}

/* ---- what a check found --------------------------------------------------------- */

/* h->errmsg = "elasticsearch WHERE: " + the rest; rv returned. */
__attribute__((format(printf, 4, 5))) static int fail(struct ldr_es_health *h,
						      const struct ldr_es_req *req, int rv,
						      const char *fmt, ...)
{
	char why[sizeof h->errmsg];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	bs_errf(h->errmsg, sizeof h->errmsg, "elasticsearch %s: %s", req->where, why);
	return rv;
}

/* libcurl's own account of a failure, or its code's text. */
static const char *curl_detail(const struct ldr_es_req *req, CURLcode res)
{
	return req->curl_err[0] != '\0' ? req->curl_err : curl_easy_strerror(res);
}

/* A transfer that did not complete, as an errno (see ldr_es_cb). os_errno
 * is the connect's errno, when libcurl knows it. */
static int transfer_error(const struct ldr_es_req *req, CURLcode res, long os_errno,
			  struct ldr_es_health *h)
{
	int err;

	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return fail(h, req, -ETIMEDOUT, "timed out after %u ms", req->timeout_ms);
	case CURLE_COULDNT_CONNECT:
		err = os_errno > 0 && os_errno < 4096 ? -(int)os_errno : -ECONNREFUSED;
		return fail(h, req, err, "connect: %s", bs_strerror(err));
	case CURLE_COULDNT_RESOLVE_HOST:
		return fail(h, req, -EHOSTUNREACH, "cannot resolve host: %s",
			    curl_detail(req, res));
	case CURLE_FILESIZE_EXCEEDED:
		return fail(h, req, -EMSGSIZE, "answer longer than %u bytes", LDR_ES_BODY_MAX);
	case CURLE_WRITE_ERROR: /* on_body refused: too long, or out of memory */
		if (req->body_too_big)
			return fail(h, req, -EMSGSIZE, "answer longer than %u bytes",
				    LDR_ES_BODY_MAX);
		return fail(h, req, -ENOMEM, "%s", bs_strerror(-ENOMEM));
	case CURLE_OUT_OF_MEMORY:
		return fail(h, req, -ENOMEM, "%s", bs_strerror(-ENOMEM));
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return fail(h, req, -ECONNRESET, "connection closed: %s", curl_detail(req, res));
	default:
		return fail(h, req, -EIO, "%s", curl_detail(req, res));
	}
}

/* An answer other than 200: -EIO, with Elasticsearch's error reason when
 * the body is its error shape ({"error":{"reason":..},"status":..}, or
 * "error" a string in older versions). */
static int http_error(const struct ldr_es_req *req, long http, struct ldr_es_health *h)
{
	json_t *doc = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, NULL);
	json_t *error = json_object_get(doc, "error");
	const char *reason = json_is_string(error)
				     ? json_string_value(error)
				     : json_string_value(json_object_get(error, "reason"));
	int rv;

	if (reason != NULL)
		rv = fail(h, req, -EIO, "HTTP %ld: %.160s", http, reason);
	else
		rv = fail(h, req, -EIO, "HTTP %ld", http);
	json_decref(doc);
	return rv;
}

/* Elasticsearch's colour: 0 or -EINVAL. */
static int status_parse(const char *text, enum ldr_es_status *ret)
{
	static const enum ldr_es_status all[] = {LDR_ES_GREEN, LDR_ES_YELLOW, LDR_ES_RED};
	size_t i;

	for (i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (strcmp(text, ldr_es_status_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

/* h from a 200 answer's fields; BS_E_PARSE when it is not one. */
static int health_fill(const struct ldr_es_req *req, json_t *doc, struct ldr_es_health *h)
{
	const char *status = json_string_value(json_object_get(doc, "status"));
	const char *name = json_string_value(json_object_get(doc, "cluster_name"));
	json_int_t nodes = json_integer_value(json_object_get(doc, "number_of_nodes"));

	if (status == NULL)
		return fail(h, req, BS_E_PARSE, "answer has no \"status\"");
	if (status_parse(status, &h->status) != 0)
		return fail(h, req, BS_E_PARSE, "unknown status \"%.32s\"", status);
	h->healthy = h->status != LDR_ES_RED;
	snprintf(h->cluster_name, sizeof h->cluster_name, "%s", name != NULL ? name : "");
	h->number_of_nodes = nodes >= 0 && nodes <= 1000000 ? (int)nodes : 0;
	h->timed_out = json_is_true(json_object_get(doc, "timed_out"));
	return 0;
}

static int health_parse(const struct ldr_es_req *req, struct ldr_es_health *h)
{
	json_error_t error;
	json_t *doc = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &error);
	int rv;

	if (doc == NULL)
		return fail(h, req, BS_E_PARSE, "answer is not JSON: %s", error.text);
	rv = health_fill(req, doc, h);
	json_decref(doc);
	return rv;
}

static int outcome(const struct ldr_es_req *req, CURLcode res, long http, long os_errno,
		   struct ldr_es_health *h)
{
	if (req->failed != 0)
		return fail(h, req, req->failed, "watching its socket: %s",
			    bs_strerror(req->failed));
	if (res != CURLE_OK)
		return transfer_error(req, res, os_errno, h);
	if (http != 200)
		return http_error(req, http, h);
	return health_parse(req, h);
}

/* req's transfer out of libcurl and of p's list; its body freed. */
static void req_detach(struct ldr_es_probe *p, struct ldr_es_req *req)
{
	curl_multi_remove_handle(p->multi, req->easy);
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	req_unlink(&p->reqs, req);
}

/* A transfer libcurl finished with res: to the callback. */
static void finish(struct ldr_es_req *req, CURLcode res)
{
	struct ldr_es_health h = {.status = LDR_ES_GREEN};
	long http = 0, os_errno = 0;
	int status;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &http);
	curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os_errno);
	req_detach(req->probe, req);
	status = outcome(req, res, http, os_errno, &h);
	free(req->body);
	req->body = NULL;
	req->cb(req, status, &h); /* last: it may reuse or free req */
}

/* ---- lifecycle ------------------------------------------------------------------ */

static CURLMcode multi_configure(struct ldr_es_probe *p)
{
	CURLMcode rc;

	if ((rc = curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket)) != CURLM_OK ||
	    (rc = curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p)) != CURLM_OK ||
	    (rc = curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer)) != CURLM_OK ||
	    (rc = curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p)) != CURLM_OK)
		return rc;
	return CURLM_OK;
}

int ldr_es_probe_new(uv_loop_t *loop, struct ldr_es_probe **ret)
{
	struct ldr_es_probe *p = malloc(sizeof *p);
	int rv;

	if (p == NULL)
		return -ENOMEM;
	*p = (struct ldr_es_probe){.loop = loop};
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rv = -EIO;
		goto err_after_alloc;
	}
	p->multi = curl_multi_init();
	if (p->multi == NULL) {
		rv = -ENOMEM;
		goto err_after_global_init;
	}
	if (multi_configure(p) != CURLM_OK) {
		rv = -EIO;
		goto err_after_multi;
	}
	rv = uv_timer_init(loop, &p->timer);
	if (rv != 0)
		goto err_after_multi;
	p->timer.data = p;
	p->handles_open = 1;
	*ret = p;
	return 0;

err_after_multi:
	curl_multi_cleanup(p->multi);
err_after_global_init:
	curl_global_cleanup();
err_after_alloc:
	free(p);
	return rv;
}

/* Every handle is closed: the cancelled checks' callbacks, the close
 * callback, then p goes. */
static void close_finish(struct ldr_es_probe *p)
{
	struct ldr_es_req *req, *next;
	struct ldr_es_health h;

	for (req = p->cancelled; req != NULL; req = next) {
		next = req->next; /* the callback may free req */
		h = (struct ldr_es_health){.status = LDR_ES_GREEN};
		req->cb(req, fail(&h, req, -ECANCELED, "the probe closed"), &h);
	}
	if (p->close_cb != NULL)
		p->close_cb(p->close_data);
	free(p);
	curl_global_cleanup();
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct ldr_es_probe *p = handle->data;

	if (handle->type == UV_POLL)
		free(handle); /* the first member of its struct es_sock */
	if (--p->handles_open == 0)
		close_finish(p); /* the timer closes only with the probe */
}

void ldr_es_probe_close(struct ldr_es_probe *p, void (*cb)(void *data), void *data)
{
	struct ldr_es_req *req;
	struct es_sock *sk;

	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->close_cb = cb;
	p->close_data = data;
	/* Stop watching first: libcurl closes its sockets below. */
	for (sk = p->socks; sk != NULL; sk = sk->next)
		uv_poll_stop(&sk->poll);
	while ((req = p->reqs) != NULL) {
		req_detach(p, req);
		free(req->body);
		req->body = NULL;
		req_link(&p->cancelled, req);
	}
	curl_multi_cleanup(p->multi);
	p->multi = NULL;
	while (p->socks != NULL)
		sock_forget(p, p->socks);
	uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}
