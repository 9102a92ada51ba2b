/*
 * cluster_priv: what cluster.c (the Redis connection, the renewal) and
 * cluster_gate.c (the destinations, the leases, the gate) share. Not for
 * anyone else: delivery/cluster.h is the interface.
 */
#ifndef OUTPOST_CLUSTER_PRIV_H
#define OUTPOST_CLUSTER_PRIV_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <stdint.h>

#include "core/shaping.h"
#include "lib/gate.h"
#include "delivery/cluster_conf.h"

#define CLUSTER_BUCKETS	1024

/* One destination: its global limits (from the last route). */
struct cdest {
	struct cdest		*chain;
	struct shaping_limits	 lim;
	unsigned		 refs;		/* requests */
	uint64_t		 used;
	char			*k_lease, *k_conn, *k_msg;
	char			 name[];
};

enum cmd_kind { C_SETUP, C_ADMIT, C_OTHER };

/* A command sent, until its reply (or NULL, when the connection goes). */
struct rcmd {
	struct rcmd		*next, *prev;	/* sent, oldest first */
	struct cluster		*cl;
	enum cmd_kind		 kind;
	uint64_t		 deadline;
	int			 last_setup;
	struct cluster_req	*req;		/* C_ADMIT; NULL: cancelled */
	int			 queued;
};

struct cluster_req {
	struct cluster		*cl;
	struct cdest		*d;
	struct cluster_lease	*lease;
	void			(*fn)(void *arg, uint64_t wait);
	void			*arg;
	struct event		*timer;
	struct rcmd		*cmd;		/* in flight */
	uint64_t		 started;
	int			 granted;	/* when the timer fires: 1 go,
						 * -1 give the turn up, 0 ask
						 * again */
};

enum lease_state { L_PENDING, L_HELD, L_LOCAL };

struct cluster_lease {
	struct cluster_lease	*next, *prev;
	struct cluster		*cl;
	enum lease_state	 state;
	unsigned		 gslot;		/* counted in the gate; 0: not */
	char			*key;
	char			 member[];
};

struct cluster {
	struct event_base	*base;
	struct cluster_conf	 conf;
	int			 local;		/* no Redis: the workers' gate */
	struct gate		*gate;		/* this node's (lib/gate.h) */
	struct gate		*own_gate;	/* a single process's */
	unsigned		 col;		/* this process's column */
	char			*node;
	char			*where;		/* for logs */
	redisAsyncContext	*ac;		/* NULL: down */
	int			 up;		/* scripts loaded on ac */
	int			 fallback;	/* unreachable, logged */
	int			 freeing;
	unsigned		 backoff;
	struct event		*retry_ev, *deadline_ev, *renew_ev;
	struct rcmd		*qhead, *qtail;
	struct cluster_lease	*leases;
	uint64_t		 seq;
	char			 sha_admit[41], sha_renew[41];
	struct cdest		*buckets[CLUSTER_BUCKETS];
	uint64_t		 seed;
};


/* cluster.c */
void		 cluster_tv(struct timeval *tv, uint64_t ms);
/* Sends argv: NULL when Redis cannot be used (or now went down). */
struct rcmd	*cluster_send(struct cluster *, enum cmd_kind, int argc,
		    const char **argv);
/* Redis cannot be used: the shares apply (logged once), reconnection. */
void		 cluster_go_down(struct cluster *, const char *why);
/* Redis may be asked: connected or connecting, and not known to be
 * unreachable (then only once it answered again). */
int		 cluster_usable(const struct cluster *);

/* cluster_gate.c */
void		 cluster_dest_free(struct cdest *);
/* The records unused for a while go. */
void		 cluster_dest_sweep(struct cluster *, uint64_t now);
/* The admission script's reply (NULL: the connection went). */
void		 cluster_admit_reply(struct cluster_req *, const redisReply *);

#endif
