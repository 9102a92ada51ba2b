/*
 * fanout_merge: the workers' answers to one admin request made into the
 * daemon's (admin/fanout.c asks; the kinds are listed in fanout.h). An
 * answer that is not the route's usual 200 (a 400 for a bad query, a 503)
 * is passed on as it came, the first one found: every worker checked the
 * same request.
 */
#ifndef OUTPOST_ADMIN_FANOUT_MERGE_H
#define OUTPOST_ADMIN_FANOUT_MERGE_H

#include <stddef.h>

struct admin_req;

enum fan_kind {
	FAN_QUEUE,	/* GET /api/queue */
	FAN_ENTRIES,	/* GET /api/queue/entries */
	FAN_ACTION,	/* POST /api/queue/<action> */
	FAN_DESTS,	/* GET /api/destinations */
	FAN_DEST_SET,	/* POST /api/destinations/KEY/... */
	FAN_STATUS,	/* GET /api/status */
	FAN_METRICS,	/* GET /metrics */
	FAN_RELOAD,	/* POST /api/reload */
	FAN_OVERVIEW	/* GET /api/overview: the status page's */
};

/* One worker's answer. */
struct fan_reply {
	int	 code;
	char	*type;		/* Content-Type, or NULL */
	char	*body;
	size_t	 len;
};

/* Answers r from rep[0..n) (rep[i]: worker i's); offset, limit: the
 * page FAN_ENTRIES asked for (each worker gave its first offset + limit
 * entries). */
void	fanout_merge(struct admin_req *r, enum fan_kind,
	    const struct fan_reply *rep, unsigned n, long offset, long limit);

/* /metrics (fanout_metrics.c): the series of every worker, summed. */
void	fanout_merge_metrics(struct admin_req *r, const struct fan_reply *,
	    unsigned n);

#endif
