/*
 * Who leads: GET /leader on every node at once (libcurl's multi interface,
 * one reusable handle per node, each request limited to timeout_ms), and the
 * choice among the answers. A node leads when it answers 200 — what a Chef
 * frontend's HAProxy health check asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "pgw.h"

int pgw_pick_leader(const long *codes, size_t n, unsigned *ret_n200)
{
	unsigned n200 = 0;
	int first = -ENOENT;
	size_t i;

	for (i = 0; i < n; i++) {
		if (codes[i] != 200)
			continue;
		if (n200++ == 0)
			first = (int)i;
	}
	if (ret_n200 != NULL)
		*ret_n200 = n200;
	return first;
}

struct pgw_poller {
	CURLM *multi;
	size_t n;
	CURL *easy[PGW_MAX_HOSTS];
	char url[PGW_MAX_HOSTS][160];
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *data)
{
	return size * nmemb;
}

static int easy_setup(struct pgw_poller *p, size_t i, const char *host, unsigned port,
		      unsigned timeout_ms)
{
	CURL *e = curl_easy_init();
	int w;

	if (e == NULL)
		return -ENOMEM;
	p->easy[i] = e;
	w = snprintf(p->url[i], sizeof p->url[i],
		     strchr(host, ':') ? "http://[%s]:%u/leader" : "http://%s:%u/leader", host,
		     port);
	if (w < 0 || (size_t)w >= sizeof p->url[i])
		return -ENAMETOOLONG;
	if (curl_easy_setopt(e, CURLOPT_URL, p->url[i]) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK || /* never an env proxy */
	    curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK)
		return -EIO;
	return 0;
}

int pgw_poller_new(const char *const *hosts, size_t n, unsigned port, unsigned timeout_ms,
		   struct pgw_poller **ret_poller)
{
	struct pgw_poller *p;
	size_t i;
	int rv = 0;

	if (n == 0 || n > PGW_MAX_HOSTS)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	p->n = n;
	p->multi = curl_multi_init();
	if (p->multi == NULL)
		rv = -ENOMEM;
	for (i = 0; rv == 0 && i < n; i++)
		rv = easy_setup(p, i, hosts[i], port, timeout_ms);
	if (rv != 0) {
		pgw_poller_free(p);
		return rv;
	}
	*ret_poller = p;
	return 0;
}

void pgw_poller_free(struct pgw_poller *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		if (p->easy[i] != NULL)
			curl_easy_cleanup(p->easy[i]);
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	free(p);
	curl_global_cleanup();
}

/* The answers of the finished transfers: codes[i] for the handle's node. */
static void collect(struct pgw_poller *p, long *codes)
{
	CURLMsg *m;
	int left;
	size_t i;

	while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		for (i = 0; i < p->n; i++) {
			if (p->easy[i] != m->easy_handle)
				continue;
			if (m->data.result == CURLE_OK)
				curl_easy_getinfo(p->easy[i], CURLINFO_RESPONSE_CODE, &codes[i]);
		}
	}
}

int pgw_poller_round(struct pgw_poller *p, long *codes)
{
	int running = 0, rv = 0;
	size_t i;

	for (i = 0; i < p->n; i++) {
		codes[i] = 0;
		if (curl_multi_add_handle(p->multi, p->easy[i]) != CURLM_OK)
			rv = -EIO;
	}
	/* Bounded: every handle has its own CURLOPT_TIMEOUT_MS, so each ends
	 * (done, failed or timed out) within timeout_ms. */
	while (rv == 0) {
		if (curl_multi_perform(p->multi, &running) != CURLM_OK)
			rv = -EIO;
		else if (running == 0)
			break;
		else if (curl_multi_poll(p->multi, NULL, 0, PGW_POLL_INTERVAL_MS, NULL) != CURLM_OK)
			rv = -EIO;
	}
	collect(p, codes);
	for (i = 0; i < p->n; i++)
		curl_multi_remove_handle(p->multi, p->easy[i]);
	return rv;
}
