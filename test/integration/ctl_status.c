/*
 * ctl_status SECRETS ADDRESS: print a node's status (the ctl request
 * "status", docs/ctl.md) as one line of JSON.
 * ctl_status SECRETS ADDRESS ctl|join VERB [ARG...]: any ctl request, as a
 * tool of that role would send it (tests craft requests the verbs never
 * send, e.g. a member.join for a node that is not running).
 * A test helper. Exit 0 with the payload, 1 with the node's message (or why
 * it cannot be asked), after at most 3 s.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base.h"
#include "consensus.h"

int main(int argc, char **argv)
{
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse *resp = NULL;
	struct bs_secrets secrets;
	char errmsg[512];
	int rv;

	Backstay__Role role = BACKSTAY__ROLE__CTL;

	if (argc == 4 ||
	    (argc > 4 && strcmp(argv[3], "ctl") != 0 && strcmp(argv[3], "join") != 0) || argc < 3) {
		fprintf(stderr, "usage: ctl_status SECRETS ADDRESS [ctl|join VERB [ARG...]]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bs_secrets_read(argv[1], &secrets, errmsg, sizeof errmsg) != 0) {
		fprintf(stderr, "ctl_status: %s\n", errmsg);
		return 1;
	}
	req.id = 1;
	req.verb = "status";
	if (argc > 4) {
		role = strcmp(argv[3], "join") == 0 ? BACKSTAY__ROLE__JOIN : BACKSTAY__ROLE__CTL;
		req.verb = argv[4];
		req.args = argv + 5;
		req.n_args = (size_t)(argc - 5);
	}
	rv = cns_call(&secrets, argv[2], role, &req, 3000, &resp, errmsg, sizeof errmsg);
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
