/*
 * ctl_status SECRETS ADDRESS: print a node's status (the ctl request
 * "status", docs/ctl.md) as one line of JSON. A test helper: the operator's
 * `status` verb, with chef-backend's output format, is still to come.
 * Exit 0 with the JSON, 1 when the node cannot be asked.
 */
#include <signal.h>
#include <stdio.h>

#include "base.h"
#include "consensus.h"

int main(int argc, char **argv)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp = NULL;
	struct bs_secrets secrets;
	char errmsg[512];
	int rv;

	if (argc != 3) {
		fprintf(stderr, "usage: ctl_status SECRETS ADDRESS\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bs_secrets_read(argv[1], &secrets, errmsg, sizeof errmsg) != 0) {
		fprintf(stderr, "ctl_status: %s\n", errmsg);
		return 1;
	}
	req.id = 1;
	req.verb = "status";
	rv = cns_call(&secrets, argv[2], BACKSTAY__ROLE__CTL, &req, 3000, &resp, errmsg,
		      sizeof errmsg);
	bs_secrets_wipe(&secrets);
	if (rv != 0) {
		fprintf(stderr, "ctl_status: %s\n", errmsg);
		return 1;
	}
	rv = resp->code;
	if (rv == 0)
		printf("%.*s\n", (int)resp->payload.len, (const char *)resp->payload.data);
	else
		fprintf(stderr, "ctl_status: %s\n", resp->message);
	backstay__ctl_response__free_unpacked(resp, NULL);
	return rv == 0 ? 0 : 1;
}
