/*
 * tools/ — the `backstay` command line: the verb table, flag parsing, help,
 * and the verbs themselves. `chef-backend-ctl` is a link to the same binary
 * and behaves the same (only the program name in messages differs).
 *
 * Prefix: cli_. The binary's main() is one line around cli_main(), so tests
 * run every verb in-process with their own output streams.
 */
#ifndef BS_TOOLS_H
#define BS_TOOLS_H

#include <stdio.h>

/* Exit codes shared by every verb. */
enum {
	CLI_OK = 0,
	CLI_FAIL = 1,  /* the verb ran and failed: bad config, unreachable node ... */
	CLI_USAGE = 2, /* unknown verb or flag, missing or extra argument */
	/* `kv put --expect/--create-only`: the compare failed, nothing changed */
	CLI_COMPARE = 3,
	/* `run` on a node that is not part of a cluster yet (EX_CONFIG):
	 * backstay.service does not restart on it. */
	CLI_NOT_CONFIGURED = 78,
};

/* Run one command line. argv[0] names the program in messages (its base
 * name: "backstay" or "chef-backend-ctl"). Normal output goes to out,
 * diagnostics to err; neither is closed. Returns a CLI_* exit code.
 * Not reentrant (getopt state); one call at a time per process. */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/* Default configuration file: /etc/backstay/backstay.rb, else an existing
 * /etc/chef-backend/chef-backend.rb, else NULL (defaults only). The
 * environment variable BACKSTAY_CONFIG overrides both. Static storage. */
const char *cli_default_config_path(void);

#endif /* BS_TOOLS_H */
