/*
 * Outage accounting for pgwrite: an outage begins with the first failed
 * write (at the moment that write was sent: from then on nothing was
 * acknowledged) and ends when the next write is acknowledged, whatever
 * happened in between (more failures, leader searches, reconnections).
 */
#include "pgw.h"

void pgw_outages_init(struct pgw_outages *o)
{
	*o = (struct pgw_outages){.from = -1};
}

void pgw_outages_fail(struct pgw_outages *o, uint64_t started_ms, int host)
{
	o->failed_writes++;
	if (o->open)
		return;
	o->open = true;
	o->start_ms = started_ms;
	o->from = host;
}

static void close_outage(struct pgw_outages *o, uint64_t now_ms, int to, struct pgw_outage *ret)
{
	uint64_t ms = now_ms > o->start_ms ? now_ms - o->start_ms : 0;

	*ret = (struct pgw_outage){.ms = ms, .from = o->from, .to = to};
	o->open = false;
	o->from = -1;
	o->count++;
	o->total_ms += ms;
	if (ms > o->max_ms)
		o->max_ms = ms;
}

bool pgw_outages_ack(struct pgw_outages *o, uint64_t now_ms, int host,
		     struct pgw_outage *ret_outage)
{
	if (!o->open)
		return false;
	close_outage(o, now_ms, host, ret_outage);
	return true;
}

bool pgw_outages_finish(struct pgw_outages *o, uint64_t now_ms, struct pgw_outage *ret_outage)
{
	if (!o->open)
		return false;
	close_outage(o, now_ms, -1, ret_outage);
	return true;
}
