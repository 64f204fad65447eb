/*
 * pgwrite --direct ADDR[:PORT]: the one address it writes to (a VIP, an
 * HAProxy), parsed. Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgw.h"

static int port_of(const char *s, unsigned *ret_port)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*ret_port = (unsigned)v;
	return 0;
}

static int host_of(const char *s, size_t len, char *host, size_t size)
{
	if (len == 0 || len >= size || memchr(s, ' ', len) != NULL)
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

int pgw_parse_direct(const char *s, char *host, size_t size, unsigned *port)
{
	const char *colon, *close;
	char h[PGW_HOST_MAX];
	unsigned p = *port;
	int rv;

	if (s == NULL || s[0] == '\0')
		return -EINVAL;
	if (s[0] == '[') { /* [v6]:port or [v6] */
		close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -EINVAL;
		rv = host_of(s + 1, (size_t)(close - s - 1), h, sizeof h);
		if (rv == 0 && close[1] == ':')
			rv = port_of(close + 2, &p);
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		rv = host_of(s, (size_t)(colon - s), h, sizeof h); /* v4 or name, one colon */
		if (rv == 0)
			rv = port_of(colon + 1, &p);
	} else { /* no colon, or a bare IPv6 address: no port */
		rv = host_of(s, strlen(s), h, sizeof h);
	}
	if (rv != 0 || strlen(h) >= size)
		return -EINVAL;
	memcpy(host, h, strlen(h) + 1);
	*port = p;
	return 0;
}
