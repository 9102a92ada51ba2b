/*
 * attempt: one delivery attempt per due scheduler item — send_email hook,
 * route (get_mx hook, else DNS MX), addresses, the MX walk with pooled or
 * new mta_session connections, classification into outcomes — handed to
 * verdict.c, and the item back to the scheduler when it is done.
 */
#ifndef OUTPOST_ATTEMPT_H
#define OUTPOST_ATTEMPT_H

struct attempt;
struct cluster;
struct config;
struct dns;
struct event_base;
struct inject;
struct mtasts;
struct pool;
struct qentry;
struct queue;
struct sched_item;
struct shape_park;
struct shaper;
struct shaping;
struct scheduler;
struct dane;
struct tls_outbound;
struct vmta;

/* What the attempts share: set up, kept current and freed by mta.c. */
struct attempt_env {
	struct event_base	*base;
	struct config		*cfg;		/* the current generation */
	struct queue		*q;
	struct scheduler	*sched;
	struct dns		*dns;
	struct tls_outbound	*tls;
	struct dane		*dane;		/* tls.ini dane=true, else NULL */
	struct pool		*pool;		/* idle connections, no-TLS */
	struct mtasts		*sts;		/* MTA-STS policies, NULL: off */
	struct inject		*inject;	/* queues the DSNs */
	struct attempt		*live;		/* the attempts in flight */
	/* Traffic shaping: the configuration (a reference), the state per
	 * destination, the items parked for a slot (attempt_shape.c). */
	struct shaping		*shaping;
	struct shaper		*shaper;
	struct shape_park	*parked;
	/* Cluster-wide shaping (cluster.ini; NULL: off; delivery/cluster.h). */
	struct cluster		*cluster;
	/* Source-IP pools (pools.ini; a reference; attempt_source.c). */
	struct vmta		*vmta;
	/* Runs each time an attempt ends with none left in flight. */
	void			(*emptied)(void *);
	void			*emptied_arg;
};

/* The scheduler's dispatch (sched_dispatch_fn): env is the attempt_env. */
void	 attempt_dispatch(void *env, struct sched_item *);
/* A corrupt entry found at start-up (what could be salvaged of it; the
 * attempt takes e, malloc'd): its pending recipients are recorded as lost
 * (bounce observers), then its file is set aside as error.<id>. */
void	 attempt_lost(struct attempt_env *, struct qentry *e, const char *why);
/* A metrics collector (core/metrics.h; arg: the attempt_env): the queue's
 * gauges from the waiting items and the attempts in flight. */
void	 attempt_metrics(void *env);
/* Cancels every attempt in flight (their entries stay on disk as they
 * are) and takes their items off the scheduler. */
void	 attempt_cancel_all(struct attempt_env *);

#endif
