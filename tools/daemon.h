/*
 * The daemon behind `backstay run` (daemon.c: start, signals, reload,
 * readiness, stop; daemon_ctl.c: answering ctl requests through the
 * consensus API). One thread, one uv loop.
 */
#ifndef BS_TOOLS_DAEMON_H
#define BS_TOOLS_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <uv.h>

#include "base.h"
#include "consensus.h"

struct daemon_watch;
struct daemon_req;

struct daemon {
	uv_loop_t loop;
	struct bs_config *config;
	const char *config_path; /* re-read on SIGHUP; may be NULL */
	struct bs_secrets secrets;
	struct cns_node *node;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick;   /* watch streams' progress notes, the disk check */
	uv_check_t reaper; /* frees answered requests (see daemon__reap) */
	char address[CNS_ADDRESS_MAX];
	char store_dir[PATH_MAX];
	struct daemon_watch *watches;
	struct daemon_req *answered; /* to free after the node's dispatch loop */
	bool stopping;
	bool handing_off; /* leading with a failing disk: leadership asked away */
	int exit_code;
};

/* daemon_ctl.c */

/* config.on_ctl: answer one request (docs/ctl.md). */
void daemon__on_ctl(void *data, uint64_t conn_id, Backstay__Role role, uint64_t node_id,
		    const Backstay__CtlRequest *req);
/* Every few seconds: a progress note on every watch stream, which is how a
 * stream whose client went away is found (and its watch ended). */
void daemon__watches_progress(struct daemon *d);
/* Free the requests answered since the last call. consensus/node_req.c's
 * node__dispatch reads a request after running its callback, so a
 * request must outlive its callback: it is freed from here (a uv_check
 * handle, once per loop iteration, and once after the loop). */
void daemon__reap(struct daemon *d);
/* Forget every watch stream (the node is closed: no unwatch needed). */
void daemon__watches_free(struct daemon *d);

#endif
