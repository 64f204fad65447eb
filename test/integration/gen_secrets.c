/*
 * gen_secrets PATH: write a fresh secrets file (mode 0600) for a test
 * cluster. A test helper, not a backstay verb: clusters get their secrets
 * from create-cluster.
 */
#include <stdio.h>

#include "base.h"

int main(int argc, char **argv)
{
	struct bs_secrets secrets;
	char errmsg[512];
	int rv;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_secrets PATH\n");
		return 2;
	}
	rv = bs_secrets_generate(bs_clock_real(), &secrets);
	if (rv == 0)
		rv = bs_secrets_write(argv[1], &secrets, errmsg, sizeof errmsg);
	else
		snprintf(errmsg, sizeof errmsg, "generating: %s", bs_strerror(rv));
	bs_secrets_wipe(&secrets);
	if (rv != 0) {
		fprintf(stderr, "gen_secrets: %s\n", errmsg);
		return 1;
	}
	return 0;
}
