/*
 * Error text: one table for backstay's own codes (BS_E_*), glibc's static
 * descriptions for errno values, and the errmsg formatter every module uses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrordesc_np; meson defines it project-wide */
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const bs_codes[] = {
	[BS_E_PARSE - BS_E_BASE] = "Malformed input",
	[BS_E_UNKNOWN_KEY - BS_E_BASE] = "Unknown configuration key",
	[BS_E_TYPE - BS_E_BASE] = "Value of the wrong type",
	[BS_E_SECRETS_PERM - BS_E_BASE] = "Secrets file readable by group or others",
	[BS_E_SECRETS_CORRUPT - BS_E_BASE] = "Secrets file truncated or corrupt",
	[BS_E_FRAME_TOO_BIG - BS_E_BASE] = "Frame too big",
	[BS_E_FRAME_MALFORMED - BS_E_BASE] = "Malformed frame",
	[BS_E_FRAME_TRUNCATED - BS_E_BASE] = "Stream ended inside a frame",
	[BS_E_USAGE - BS_E_BASE] = "Bad command line",
	[BS_E_CORRUPT - BS_E_BASE] = "Stored data is corrupt",
	[BS_E_NOT_LEADER - BS_E_BASE] = "Not the Raft leader",
	[BS_E_PROTOCOL - BS_E_BASE] = "Protocol violation by the peer",
	[BS_E_AUTH - BS_E_BASE] = "Authentication failed",
	[BS_E_NOT_CONFIGURED - BS_E_BASE] = "Not part of a cluster yet",
};

_Static_assert(sizeof bs_codes / sizeof bs_codes[0] == BS_E_LAST - BS_E_BASE,
	       "every BS_E_* code needs a text");

const char *bs_strerror(int err)
{
	const char *text;

	if (err >= BS_E_BASE && err < BS_E_LAST)
		return bs_codes[err - BS_E_BASE];
	if (err == 0)
		return "Success";
	if (err == INT_MIN)
		return "Unknown error";
	/* strerrordesc_np (glibc >= 2.32) returns static text, unlike strerror. */
	text = strerrordesc_np(err < 0 ? -err : err);
	return text != NULL ? text : "Unknown error";
}

void bs__die(const char *fmt, ...)
{
	va_list ap;

	fputs("backstay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void bs_errf(char *errmsg, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, size, fmt, ap);
	va_end(ap);
}
