/*
 * fanout: the admin API of a daemon of several workers (smtp.ini nodes),
 * on worker 0, the one with the listeners. A request whose answer
 * depends on a worker's own state (its queue partition, shaper, metrics,
 * pid) is sent as it came to every worker's socket, ROOT/run/
 * admin.w<i>.sock, worker 0's own included, and the answers are merged
 * into one for the whole daemon (fanout_merge.h):
 *
 *   GET  /api/queue, /api/queue/entries    summed; the page over all
 *   POST /api/queue/<action>                the owners' results together
 *   GET  /api/destinations, /metrics        summed by key, by series
 *   POST /api/destinations/..., /api/reload done by every worker
 *   GET  /api/status                        the supervisor's pid, and
 *                                           each worker's
 *   GET  /api/overview                      the status page's data, summed
 *
 * Everything else (injection, suppression: the LMDB is shared; the
 * status page's HTML) is answered by worker 0 alone. A worker that does not
 * answer within FANOUT_TIMEOUT_S, or cannot be reached, makes the
 * answer a 503 naming it: never a partial view passed off as the whole.
 */
#ifndef OUTPOST_ADMIN_FANOUT_H
#define OUTPOST_ADMIN_FANOUT_H

#define FANOUT_TIMEOUT_S	15
#define FANOUT_BODY_MAX		(256u << 20)	/* a worker's answer */

struct admin;
struct event_base;
struct fanout;

/* On worker 0 when nodes_count() > 1 (NULL otherwise): hooks the
 * listener's requests (admin_fanout). */
struct fanout	*fanout_new(struct admin *, struct event_base *,
		    const char *config_dir);
/* After admin_free(): requests still waiting for workers are dropped. */
void		 fanout_free(struct fanout *);

#endif
