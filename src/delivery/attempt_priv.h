/*
 * attempt_priv: the record of one delivery attempt, shared by the files
 * that work on it: attempt.c (the chain, owns its life), view.c (the
 * hooks' view of it), verdict.c (outcomes to new state), attempt_shape.c
 * (traffic shaping), attempt_txn.c (a transaction), attempt_metrics.c,
 * dane_attempt.c (DANE), attempt_sts.c (MTA-STS), attempt_suppress.c
 * (the suppression list), attempt_route.c (get_mx, DNS) and
 * attempt_source.c (source addresses). Nothing else includes it; it includes nothing
 * of theirs.
 */
#ifndef OUTPOST_ATTEMPT_PRIV_H
#define OUTPOST_ATTEMPT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "core/shaping_rules.h"
#include "core/vmta.h"
#include "delivery/mta_error.h"
#include "delivery/mta_session.h"

#include "plugins/plugin.h"

struct attempt_env;
struct cluster_req;
struct config;
struct dane_policy;
struct dane_query;
struct dns_query;
struct inject;
struct mta_session;
struct mx;
struct mtasts_wait;
struct outcome;
struct qbody;
struct qentry;
struct qmsg;
struct queue;
struct queue_job;
struct sched_item;
struct shaper_dest;

struct attempt {
	struct attempt		*next, *prev;
	struct attempt_env	*env;		/* attempt.c's only */
	double			 started;	/* metrics_now() */
	struct config		*cfg;
	struct sched_item	*it;
	struct qentry		*e;
	/* What the hooks (and a DSN) see of the message: all of it, or its
	 * header section when it is larger than SCHED_VIEW_MAX (malloc'd). */
	char			*msg;
	size_t			 len;
	int			 view_whole;
	/* What is sent: the message in memory (just committed), or its body
	 * file, read in pieces for each transaction. */
	struct qmsg		*m;
	struct qbody		*body;
	struct mta_body		 src;
	char			*body_why;	/* reading it failed: why */
	int			 body_err;	/* and the errno; 0: corrupt */
	/* The recipients still pending at the start: indexes into e->rcpts. */
	size_t			*idx;
	const char		**addrs;
	size_t			 n;
	struct outcome		*out;
	/* This transaction's recipients: addrs[boff, boff + bcnt). */
	size_t			 boff, bcnt;
	/* Hooks. */
	struct outbound_call	 call;
	struct op_rcpt		*hrcpts;
	char			**reasons;
	/* Route. */
	struct dns_query	*dq;
	struct mx		*mxs;
	size_t			 nmx;
	size_t			 cur;
	int			 retried;
	char			*last_error;
	struct outcome		*host_fail;	/* the last server that failed
						 * with a reason to record
						 * (deadline, bad reply,
						 * greeting reply): temporary,
						 * or permanent while every
						 * failure was */
	int			 host_temp;	/* some MX failed temporarily */
	struct mta_session	*sess;
	char			*sess_key;
	const struct mx		*mx;		/* mxs[cur - 1] */
	struct dane_query	*dane_q;	/* its DANE lookup (dane.h) */
	struct dane_policy	*dane;		/* and its answer, or NULL */
	void			(*dane_then)(struct attempt *, int go);
	/* Traffic shaping (attempt_shape.c). */
	struct shaper_dest	*dest;		/* held; NULL before the route */
	int			 woken;		/* dispatched by a freed slot */
	int			 shaped;	/* took a slot, a pooled
						 * connection, or parked */
	struct cluster_req	*creq;		/* waiting for the cluster's
						 * turn (attempt_shape.c) */
	void			(*shape_end)(struct attempt *, int64_t due);
	mta_done_fn		 shape_txn;	/* then: the end, or the txn */
	/* The source-IP pool (attempt_source.c): its name, address and
	 * HELO name ("": none, the system's or the route's own). */
	char			 src_pool[VMTA_NAME_MAX + 1];
	char			 src_addr[46];
	char			 src_helo[256];
	/* MTA-STS (attempt_sts.c): the MX list came from DNS; the policy
	 * asked for (the list held meanwhile); its mode once known. */
	int			 route_dns;
	struct mtasts_wait	*sts_wait;
	struct mx		*sts_mxs;
	size_t			 sts_nmx;
	void			(*sts_next)(struct attempt *, struct mx *,
				    size_t, const char *);
	int			 sts_mode;	/* enum mtasts_mode */
	/* The delivery, for the delivered hook. */
	char			*host;
	char			 ip[46];
	char			 local_ip[46];
	unsigned		 port;
	char			*response;
	int			 secured, authenticated;
	/* Finishing (verdict.c). */
	struct queue		*q;		/* the entry's new state */
	struct inject		*inject;	/* the DSN */
	void			(*done)(struct attempt *, int64_t due);
	unsigned		 attempts;	/* after this attempt */
	double			 delay;		/* s until the retry */
	double			 age;		/* s since queued, when delivered */
	char			*err;		/* the failure text */
	char			*temp_err;	/* the temporary failures' text */
	int			 expired;	/* retries ran out: the
						 * temporary failures bounce */
	unsigned char		*dropped;	/* by the deferred hook */
	unsigned		 recorded;	/* record phase: events done */
	int			 unreadable;	/* the message could not be
						 * read (an I/O error) */
	char			*lost;		/* the file is corrupt (why): the
						 * pending recipients are lost,
						 * the file set aside */
	struct qentry		*own_e;		/* e, when no scheduler item
						 * owns it (found corrupt at
						 * start-up) */
	struct queue_job	*job;
	int64_t			 next_attempt;
};

/* The transaction (attempt_txn.c): the current batch of recipients and
 * the message sent over a->sess; done gets the result. */
void		 attempt_send_txn(struct attempt *, mta_done_fn done);
/* The recipients from off on, not sent: they get o (a failure of the
 * message itself), else a temporary failure naming why (they wait for the
 * next attempt). */
void		 attempt_rest_failed(struct attempt *, size_t off,
		    const struct outcome *o, const char *why);

/* A failure of the host, not of the message (the next MX, or a first
 * retry on the same host): a->cur, a->last_error and a->host_fail are
 * set for the next host or tried_all; the caller tries the next MX. */
void		 attempt_host_failed(struct attempt *, const struct mta_result *r,
		    int retry, const struct outcome *mail);

/* Traffic shaping in the attempt: attempt_shape.c. */
/* At dispatch: the item's park record is dropped, its wake noted. */
void		 shape_dispatch(struct attempt *);
/* The MX list is known: the destination (key, limits), held. */
void		 shape_route(struct attempt *);
/*
 * Before a transaction: a->sess_key gets the destination's prefix, c its
 * connect_timeout; a->sess is a pooled connection or a new one within the
 * limits (0), or the attempt must end now without counting (the due time,
 * ms since the epoch: a wait, or a parked item's fallback), or
 * SHAPE_PENDING: the cluster's turn is awaited, then the transaction
 * (shape_txn its done) or the end (a->shape_end(a, the due time)).
 */
#define SHAPE_PENDING	INT64_MAX	/* a->shape_then will be called */
int64_t		 shape_connect(struct attempt *, struct mta_conf *c);
/* A transaction's end fed to the shaper: its action (SHAPING_BOUNCE: the
 * caller bounces every recipient with shape_bounce). */
enum shaping_action shape_result(struct attempt *, const struct mta_result *);
void		 shape_bounce(struct attempt *, const struct mta_result *);
/* The item's entry stays queued (queued), or is gone: counted as queued
 * at the destination now (NULL: not routed this time, where it was). */
void		 shape_track(struct shaper_dest *now, struct sched_item *it,
		    int queued);
/* The recipients of the next transaction, from off: at most the
 * destination's max_recipients_per_message. The others go in further
 * transactions over the same connection, one after the other (txn_done). */
void		 shape_batch(struct attempt *, size_t off);
/* The transaction went well: the connection is pooled (or closed after
 * max_messages_per_connection); a waiter is told. */
void		 shape_pool_put(struct attempt *, struct mta_session *);
/* attempt_free: the hold dropped, a wake-up not used passed on. */
void		 shape_free(struct attempt *);

/* Source-IP pools in the attempt: attempt_source.c. */
/* The MX list is known: the pool's next address (before shape_route,
 * whose key it prefixes), unless a plugin bound the route. */
void		 source_route(struct attempt *);
/* A connection to mx: c->bind and c->helo (the plugin's, the pool's, or
 * none and config `me`). */
void		 source_conf(struct attempt *, const struct mx *,
		    struct mta_conf *c);
/* The route name for the records (vmta): the pool's when its address
 * was used, else the route's own (a get_mx plugin's); NULL: none. */
const char	*source_route_name(const struct attempt *);

/* attempt.c: every recipient gets outcome o (or a local failure of
 * class, code, status and text); the attempt is over. */
void		 attempt_fail_all(struct attempt *, const struct outcome *o);
void		 attempt_fail_local(struct attempt *, enum fail_class class,
		    int code, const char *status, const char *text);
/* attempt.c: the next MX host of the walk, or the attempt's end. */
void		 attempt_try_next(struct attempt *);
/* attempt_route.c: get_mx's answer, then DNS, MTA-STS and the addresses;
 * the walk starts once they are known. */
void		 attempt_get_mx_done(void *arg, int code, const char *msg);

/* dane_attempt.c: when DANE applies to a->mx (an MX host from the DNS),
 * starts its lookup and returns 1; then(a, 1) connects with a->dane set
 * (or NULL: DANE does not apply), then(a, 0) tries the next MX (the host
 * failed: a->host_fail and a->last_error say why). Else 0. */
int	 dane_attempt(struct attempt *a,
	    void (*then)(struct attempt *, int go));
/* MTA-STS in the attempt: attempt_sts.c. */
/* The route goes on: mxs (taken), or the attempt defers with why. */
typedef void (*sts_next_fn)(struct attempt *, struct mx *mxs, size_t n,
		    const char *why);
/* A DNS MX list (taken when 1 is returned): the domain's policy is
 * asked for, then next runs with the hosts it allows. 0: no MTA-STS (off,
 * or a plugin's route); the caller goes on with mxs. */
int		 sts_route(struct attempt *, struct mx *mxs, size_t n,
		    sts_next_fn next);
/* A connection under an enforce policy: STARTTLS required and verified
 * against c->tls_name. */
void		 sts_conf(const struct attempt *, struct mta_conf *c);
/* A transaction's end under an enforce policy, counted in tlsrpt: 1 when
 * a TLS failure was turned into the attempt's reason to defer (the caller
 * closes the session and tries the next MX). */
int		 sts_result(struct attempt *, const struct mta_result *r);
/* attempt_free: the policy wait cancelled, the held list freed. */
void		 sts_free(struct attempt *);
/* attempt_suppress.c: when some pending recipients are on the
 * suppression list, the attempt becomes theirs (a->n of them, failed for
 * good), finish(a) runs and 1 is returned; else 0. */
int		 suppress_attempt(struct attempt *,
		    void (*finish)(struct attempt *));

#endif
