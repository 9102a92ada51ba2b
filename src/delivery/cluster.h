/*
 * cluster: the shaping limits of a destination held across every Outpost
 * node sharing one Redis server (config/cluster.ini, delivery/
 * cluster_conf.h). Redis keeps, per destination, the rates as GCRA
 * theoretical arrival times and the connections as a sorted set of leases
 * (member: node and connection, score: expiry in Redis's clock), changed
 * only by server-side Lua scripts run with EVALSHA, so every check and
 * its update are one atomic step. A lease lives lease_ttl and is renewed
 * while its connection lives: a node that dies loses its leases soon.
 *
 * The gate, for a new connection (with its lease) or the next message
 * on an open one: cluster_admit asks Redis (one round trip) and calls
 * back when it is this node's turn; a rate slot up to a second ahead is
 * reserved and waited for locally; a full set of leases or a slot further
 * ahead is asked again later. Nothing blocks: hiredis runs on the event
 * loop (its libevent adapter).
 *
 * Redis unreachable (refused, no reply within timeout, an error): each
 * node keeps its share of every limit (limit / nodes, at least 1), taken
 * in the table its workers share (lib/gate.h), logged once (WARN), and
 * reconnects with backoff; once Redis answers again, logged once more
 * (INFO) and shared again. The leases of the connections opened
 * meanwhile are added to Redis at the next renewal.
 *
 * Without cluster.ini, smtp.ini nodes workers use the same gate in its
 * Redis-less mode: every limit, whole, taken in that table.
 */
#ifndef OUTPOST_CLUSTER_H
#define OUTPOST_CLUSTER_H

#include <stdint.h>

#include "core/shaping.h"

struct event_base;
struct cluster;
struct cluster_req;
struct cluster_lease;

/* NULL with *err NULL when cluster.ini turns nothing on and one process
 * runs (its own shaper holds the limits); NULL with a malloc'd one-line
 * *err on a bad file. */
struct cluster	*cluster_new(struct event_base *, const char *config_dir,
		    char **err);
/* Every request must be cancelled and every lease ended before. */
void		 cluster_free(struct cluster *);

/* A destination was routed: its record (for its gate) is kept. The
 * node's own shaper keeps its connection limit, backoff and suspension,
 * and leaves the rates to the gate (shaper_pace). */
void		 cluster_route(struct cluster *, const char *dest);

/* A connection's lease for dest, not yet counted anywhere. */
struct cluster_lease *cluster_lease_new(struct cluster *, const char *dest);
/* The connection is over: its lease removed from Redis (or left to
 * expire), and freed. */
void		 cluster_lease_end(struct cluster_lease *);

/* wait 0: go now; else the attempt gives up its turn (max_wait passed)
 * and tries again in wait ms. The request is freed before the call. */
typedef void	(*cluster_fn)(void *arg, uint64_t wait);

/*
 * The gate of dest (routed before), with the limits in force (shaping.ini
 * and the administrator's, shaper_limits), for a new connection (lease:
 * its lease) or the next message on an open connection (lease NULL): NULL
 * when none of dest's limits applies (go now); else fn runs later, from
 * the event loop, unless cluster_cancel comes first.
 */
struct cluster_req *cluster_admit(struct cluster *, const char *dest,
		    const struct shaping_limits *lim,
		    struct cluster_lease *lease, cluster_fn fn, void *arg);
void		 cluster_cancel(struct cluster_req *);

/* 1 when an idle connection to dest (counted) may stay pooled although
 * no request of this process waits for it, or a borrowed one may be kept:
 * without Redis, unless the node's connections to dest are over
 * max_connections, or at it and another worker was refused one of its
 * part within the last second. */
int		 cluster_keep_idle(struct cluster *, const char *dest,
		    unsigned max_connections);

/* The parts of a destination's connection limit this process's own
 * shaper holds (shaper_pace): without Redis, the workers' number (each
 * keeps its part and the gate holds the total exactly, so the workers
 * never contend for the slots at saturation, and borrows what the others
 * leave unused, cluster_may_lend); 1 with Redis (the leases hold the
 * total). */
unsigned	 cluster_parts(const struct cluster *);
/* 1 when this process, holding its part of dest's max_connections, may
 * borrow one more from the other workers' parts (shaper_may_borrow): they
 * leave it unused and none of them was refused one of its own part within
 * the last second. A borrowed connection is given back (closed) at the
 * end of a transaction once cluster_keep_idle says no. 0 with Redis, or
 * cl NULL. */
int		 cluster_may_lend(struct cluster *, const char *dest,
		    unsigned max_connections);

/* 1 while Redis is unreachable and the shares apply (never without
 * Redis). */
int		 cluster_fallback(const struct cluster *);

#endif
