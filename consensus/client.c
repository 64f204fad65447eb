/*
 * ctl calls from command-line tools (cns_call, cns_call_stream): one
 * connection to one node, on a private uv loop that lives for the call.
 * The transport does the handshake and authentication; this file sends the
 * request, waits for the answer(s) under a timeout and closes everything
 * before returning.
 *
 * The caller's process should ignore SIGPIPE (a node that closes the
 * connection while a frame is being written would otherwise kill it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus.h"
#include "transport.h"

#define CALL_DEFAULT_TIMEOUT_MS 10000

struct call {
	uv_loop_t loop;
	struct cns__tr tr;
	struct cns__tr_dial dial;
	uv_timer_t timer;
	const char *address;
	const Backstay__CtlRequest *req;
	unsigned timeout_ms;
	uint64_t conn_id; /* 0 until authenticated */
	/* One answer (cns_call) or a stream (cns_call_stream). */
	Backstay__CtlResponse *resp;
	bool (*stream_cb)(void *data, const Backstay__CtlResponse *resp);
	void *stream_data;
	bool answered; /* a first response arrived */
	bool done;
	int status;
	char errmsg[256];
};

static void timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* The end of the call, once: record the outcome and close everything; the
 * loop then runs dry and call_run returns. */
static void call_end(struct call *c, int status)
{
	if (c->done)
		return;
	c->done = true;
	c->status = status;
	uv_close((uv_handle_t *)&c->timer, timer_closed);
	cns__tr_close(&c->tr, NULL);
}

static void call_fail(struct call *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void call_fail(struct call *c, int status, const char *fmt, ...)
{
	va_list ap;

	if (c->done)
		return;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	call_end(c, status);
}

/* A deep copy of a borrowed response, through its wire form. */
static int response_copy(const Backstay__CtlResponse *resp, Backstay__CtlResponse **ret)
{
	size_t len = backstay__ctl_response__get_packed_size(resp);
	uint8_t *buf = malloc(len > 0 ? len : 1);

	if (buf == NULL)
		return -ENOMEM;
	backstay__ctl_response__pack(resp, buf);
	*ret = backstay__ctl_response__unpack(NULL, len, buf);
	free(buf);
	return *ret != NULL ? 0 : -ENOMEM;
}

static void on_ctl_response(void *data, uint64_t conn_id, const Backstay__CtlResponse *resp)
{
	struct call *c = data;
	int rv;

	if (c->done || conn_id != c->conn_id)
		return;
	if (resp->id != c->req->id) {
		call_fail(c, BS_E_PROTOCOL, "%s: response to request %llu, expected %llu",
			  c->address, (unsigned long long)resp->id, (unsigned long long)c->req->id);
		return;
	}
	if (!c->answered) {
		c->answered = true;
		uv_timer_stop(&c->timer); /* the timeout covers the first answer only */
	}
	if (c->stream_cb == NULL) {
		rv = response_copy(resp, &c->resp);
		if (rv != 0)
			call_fail(c, rv, "%s: out of memory", c->address);
		else
			call_end(c, 0);
	} else if (!c->stream_cb(c->stream_data, resp)) {
		call_end(c, 0);
	}
}

static void on_closed(void *data, uint64_t conn_id, enum cns__tr_reason reason)
{
	struct call *c = data;

	if (conn_id == c->conn_id)
		call_fail(c, -ECONNRESET, "%s: %s", c->address, cns__tr_reason_text(reason));
}

static void dial_cb(struct cns__tr_dial *req, int status)
{
	struct call *c = req->data;
	int rv;

	if (c->done)
		return; /* -ECANCELED from our own close */
	if (status != 0) {
		call_fail(c, status, "%s", req->errmsg);
		return;
	}
	c->conn_id = req->conn_id;
	rv = cns__tr_request(&c->tr, c->conn_id, c->req);
	if (rv != 0)
		call_fail(c, rv, "%s: sending the request: %s", c->address, bs_strerror(rv));
}

static void timer_cb(uv_timer_t *t)
{
	struct call *c = t->data;

	call_fail(c, -ETIMEDOUT, "%s: no answer within %u ms", c->address, c->timeout_ms);
}

static int call_run(struct call *c, const struct bs_secrets *secrets, Backstay__Role role,
		    char *errmsg, size_t errmsg_size)
{
	struct cns__tr_config tc = {.self_id = 0, .secrets = secrets};
	struct cns__tr_cb cb = {.on_ctl_response = on_ctl_response, .on_closed = on_closed};
	int rv;

	rv = uv_loop_init(&c->loop);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "uv loop: %s", uv_strerror(rv));
		return rv;
	}
	rv = cns__tr_init(&c->tr, &c->loop, bs_clock_real(), &tc, &cb, c);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "%s", c->tr.errmsg);
		goto err_after_loop_init;
	}
	uv_timer_init(&c->loop, &c->timer);
	c->timer.data = c;
	c->dial.data = c;
	rv = cns__tr_dial(&c->tr, &c->dial, c->address, role, dial_cb);
	if (rv != 0)
		call_fail(c, rv, "%s: %s", c->address,
			  rv == -EINVAL ? "not a numeric ip:port" : bs_strerror(rv));
	else
		uv_timer_start(&c->timer, timer_cb, c->timeout_ms, 0);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	rv = c->status;
	if (rv != 0)
		bs_errf(errmsg, errmsg_size, "%s", c->errmsg);
err_after_loop_init:
	if (uv_loop_close(&c->loop) != 0)
		abort(); /* a handle left open: a bug here, not a runtime condition */
	return rv;
}

int cns_call(const struct bs_secrets *secrets, const char *address, Backstay__Role role,
	     const Backstay__CtlRequest *req, unsigned timeout_ms, Backstay__CtlResponse **ret_resp,
	     char *errmsg, size_t errmsg_size)
{
	struct call *c = calloc(1, sizeof *c);
	int rv;

	if (c == NULL)
		return -ENOMEM;
	c->address = address;
	c->req = req;
	c->timeout_ms = timeout_ms ? timeout_ms : CALL_DEFAULT_TIMEOUT_MS;
	rv = call_run(c, secrets, role, errmsg, errmsg_size);
	if (rv == 0)
		*ret_resp = c->resp;
	else if (c->resp != NULL)
		backstay__ctl_response__free_unpacked(c->resp, NULL);
	free(c);
	return rv;
}

int cns_call_stream(const struct bs_secrets *secrets, const char *address, Backstay__Role role,
		    const Backstay__CtlRequest *req, unsigned timeout_ms,
		    bool (*cb)(void *data, const Backstay__CtlResponse *resp), void *data,
		    char *errmsg, size_t errmsg_size)
{
	struct call *c = calloc(1, sizeof *c);
	int rv;

	if (c == NULL)
		return -ENOMEM;
	c->address = address;
	c->req = req;
	c->timeout_ms = timeout_ms ? timeout_ms : CALL_DEFAULT_TIMEOUT_MS;
	c->stream_cb = cb;
	c->stream_data = data;
	rv = call_run(c, secrets, role, errmsg, errmsg_size);
	free(c);
	return rv;
}
