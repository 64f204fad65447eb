/*
 * libFuzzer target: the chef-backend.rb parser (base/config*.c) on any
 * bytes. Properties checked on every input:
 *
 *  - it returns 0 or one of its documented codes, never crashes, leaks or
 *    reads out of bounds (ASan, UBSan);
 *  - a refusal names the input ("fuzz.rb:<line>: ...") and leaves the
 *    configuration as it was (still equal to the defaults);
 *  - an accepted input round-trips: bs_config_write of the result parses
 *    back to an equal configuration (what show-config promises).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(const struct bs_config *c, const struct bs_config *defaults, int rv,
			  const char *errmsg)
{
	if (rv != BS_E_PARSE && rv != BS_E_UNKNOWN_KEY && rv != BS_E_TYPE && rv != -ENOMEM)
		abort();
	if (rv != -ENOMEM && strncmp(errmsg, "fuzz.rb:", 8) != 0)
		abort();
	if (!bs_config_equal(c, defaults))
		abort(); /* "on error nothing in config changes" */
}

static void check_round_trip(const struct bs_config *c)
{
	struct bs_config *again;
	char *text = NULL, errmsg[512];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL || bs_config_write(c, f, false) != 0 || fclose(f) != 0)
		abort();
	if (bs_config_new(&again) != 0)
		abort();
	if (bs_config_parse(again, "written.rb", text, len, errmsg, sizeof errmsg) != 0 ||
	    !bs_config_equal(c, again)) {
		fprintf(stderr, "round trip failed: %s\n--- written:\n%s\n", errmsg, text);
		abort();
	}
	bs_config_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_config *c, *defaults;
	char errmsg[512] = "";
	int rv;

	bs_log_set_level(BS_LOG_ERROR);
	if (bs_config_new(&c) != 0 || bs_config_new(&defaults) != 0)
		abort();
	rv = bs_config_parse(c, "fuzz.rb", (const char *)data, size, errmsg, sizeof errmsg);
	if (rv != 0)
		check_refusal(c, defaults, rv, errmsg);
	else
		check_round_trip(c);
	bs_config_free(c);
	bs_config_free(defaults);
	return 0;
}
