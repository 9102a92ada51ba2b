/*
 * attempt_shape: the attempt's side of traffic shaping. Owns the park
 * records (one per item waiting for a connection slot, listed in the
 * attempt_env; freed at the item's next dispatch or at shutdown); a new
 * connection holds its destination (and its cluster lease) until it
 * closes (mta_session_on_close). With cluster.ini, the transaction waits
 * for the cluster's turn (delivery/cluster.h) inside the attempt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/shaping.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/attempt_shape.h"
#include "delivery/cluster.h"
#include "delivery/mta_error.h"
#include "delivery/mta_session.h"
#include "delivery/mx.h"
#include "delivery/pool.h"
#include "delivery/route.h"
#include "delivery/scheduler.h"
#include "delivery/shaper.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/entry.h"

#define SRC		"outbound"
/* A parked item is tried again after this anyway: wake-ups come from
 * closing and pooled connections; this bounds one that never comes. */
#define PARK_FALLBACK_MS 30000

/* An item waiting for a slot of its destination. */
struct shape_park {
	struct shape_park	*next, *prev;
	struct attempt_env	*env;
	struct sched_item	*it;
	struct shaper_waiter	 w;
};

static void
park_free(struct shape_park *p)
{
	struct attempt_env *env = p->env;

	shaper_cancel(&p->w);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		env->parked = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->it->park = NULL;
	free(p);
}

void
shape_dispatch(struct attempt *a)
{
	if (a->it == NULL)
		return;
	if (a->it->park != NULL)
		park_free(a->it->park);
	a->woken = a->it->woken;
	a->it->woken = 0;
}

void
shape_cancel_all(struct attempt_env *env)
{
	while (env->parked != NULL)
		park_free(env->parked);
}

/* A slot freed (from shaper_closed or a wake-up): the item is due. */
static void
on_slot(void *arg)
{
	struct shape_park *p = arg;

	scheduler_wake(p->env->sched, p->it);
}

/* A new connection: its destination held, its cluster lease (or NULL). */
struct shape_conn {
	struct shaper_dest	*d;
	struct cluster_lease	*lease;
};

/* A new connection closed: its slot is free. */
static void
on_conn_closed(void *arg)
{
	struct shape_conn *sc = arg;

	cluster_lease_end(sc->lease);
	shaper_closed(sc->d, util_now_ms());
	shaper_release(sc->d);
	free(sc);
}

/* The cluster's answer: go, or give the turn up (the connection closed,
 * its slot and lease freed) and try again in wait ms. */
static void
on_turn(void *arg, uint64_t wait)
{
	struct attempt *a = arg;

	a->creq = NULL;
	if (wait == 0) {
		shape_batch(a, 0);
		attempt_send_txn(a, a->shape_txn);
		return;
	}
	mta_session_close(a->sess);
	a->sess = NULL;
	log_info(SRC, a->e->id, "shaping %s: no turn from the cluster (within "
	    "max_wait, or a borrowed connection was wanted back); again in "
	    "%llu ms", shaper_key(a->dest), (unsigned long long)wait);
	a->shape_end(a, sched_now_ms() + (int64_t)wait);
}

/* The cluster's gate for the transaction on a->sess (lease: a new
 * connection's): 0 (go) or SHAPE_PENDING. */
static int64_t
cluster_gate(struct attempt *a, struct cluster_lease *lease)
{
	struct cluster *cl = a->env->cluster;

	if (cl == NULL || (a->creq = cluster_admit(cl, shaper_key(a->dest),
	    shaper_limits(a->dest), lease, on_turn, a)) == NULL)
		return 0;
	return SHAPE_PENDING;
}

void
shape_route(struct attempt *a)
{
	struct attempt_env *env = a->env;
	const struct shaping_limits *lim;
	struct shaping_limits own;	/* a route's own (route.h) */
	const char **names;
	char key[SHAPING_KEY_MAX], *full;

	if (env->shaper == NULL || env->shaping == NULL || a->dest != NULL)
		return;
	names = xcalloc(a->nmx + 1, sizeof(*names));
	for (size_t i = 0; i < a->nmx; i++) {
		const struct mx *mx = &a->mxs[i];

		names[i] = mx->from_dns != NULL ? mx->from_dns :
		    mx->exchange != NULL ? mx->exchange : "";
	}
	lim = route_shaping(a->mxs, a->nmx, env->shaping, key, &own) ? &own :
	    shaping_lookup(env->shaping, a->e->domain, names, a->nmx, key);
	free(names);
	/* From a pool's address: limits per (address, destination). */
	full = a->src_addr[0] != '\0' ? xasprintf("%s/%s", a->src_addr, key) :
	    xstrdup(key);
	a->dest = shaper_get(env->shaper, full, lim, util_now_ms());
	if (env->cluster != NULL) {	/* its gate takes the rates */
		cluster_route(env->cluster, full);
		shaper_pace(a->dest, cluster_parts(env->cluster));
	}
	free(full);
}

/* The attempt ends, to be tried again in ms. */
static int64_t
later(struct attempt *a, uint64_t ms, const char *why)
{
	log_info(SRC, a->e->id, "shaping %s: %s; waiting %llu ms",
	    shaper_key(a->dest), why, (unsigned long long)ms);
	return sched_now_ms() + (int64_t)(ms > 86400000 ? 86400000 : ms);
}

/* Every slot is taken: the item waits for one, off the scheduler's
 * concurrency. */
static int64_t
park(struct attempt *a)
{
	struct attempt_env *env = a->env;
	struct shape_park *p = xcalloc(1, sizeof(*p));

	p->env = env;
	p->it = a->it;
	p->next = env->parked;
	if (env->parked != NULL)
		env->parked->prev = p;
	env->parked = p;
	a->it->park = p;
	shaper_wait(a->dest, &p->w, on_slot, p);
	a->shaped = 1;
	log_debug(SRC, a->e->id, "shaping %s: every connection busy; waiting "
	    "for one", shaper_key(a->dest));
	return sched_now_ms() + PARK_FALLBACK_MS;
}

int64_t
shape_connect(struct attempt *a, struct mta_conf *c)
{
	struct attempt_env *env = a->env;
	struct shaper_dest *d = a->dest;
	const struct shaping_limits *lim = NULL;
	struct mta_session *s = NULL;
	struct shape_conn *sc;
	uint64_t now = util_now_ms(), w;

	if (d != NULL) {
		char *key = xasprintf("%s|%s", shaper_key(d), a->sess_key);

		free(a->sess_key);
		a->sess_key = key;
		lim = shaper_limits(d);
		if (lim->connect_timeout > 0)
			c->timeouts.connect = lim->connect_timeout;
	}
	if (!a->retried)
		s = pool_take(env->pool, a->sess_key);
	if (d == NULL || a->it == NULL) {
		a->sess = s != NULL ? s : mta_session_new(env->base, c);
		return 0;
	}
	if (s != NULL) {
		if ((w = shaper_may_send(d, now)) != 0) {
			pool_put(env->pool, a->sess_key, s, lim->idle_timeout);
			return later(a, w, "message rate or suspension");
		}
		a->shaped = 1;
		a->sess = s;
		return cluster_gate(a, NULL);
	}
	/* a->cur is past the host being tried: a host before it failed. */
	w = a->cur > 1 ? shaper_may_connect_next(d, now) :
	    shaper_may_connect(d, now);
	/* Its part in flight: one more borrowed from the other workers',
	 * when they leave it unused; else a wait for one of its own. */
	if (w == SHAPER_FULL && (!cluster_may_lend(env->cluster,
	    shaper_key(d), lim->max_connections) ||
	    (w = shaper_may_borrow(d, now)) != 0))
		return park(a);
	if (w != 0)
		return later(a, w, "connection spacing, rate or suspension");
	if ((w = shaper_may_send(d, now)) != 0) {
		shaper_closed(d, now);
		return later(a, w, "message rate");
	}
	a->shaped = 1;
	a->sess = mta_session_new(env->base, c);
	sc = xcalloc(1, sizeof(*sc));
	sc->d = shaper_hold(d);
	if (env->cluster != NULL)
		sc->lease = cluster_lease_new(env->cluster, shaper_key(d));
	mta_session_on_close(a->sess, on_conn_closed, sc);
	return cluster_gate(a, sc->lease);
}

enum shaping_action
shape_result(struct attempt *a, const struct mta_result *r)
{
	int code = 0;
	const char *ext = NULL, *text = NULL;

	if (a->dest == NULL)
		return SHAPING_NONE;
	switch (r->outcome) {
	case MTA_OK:
		if (r->reply.code == 0)		/* every RCPT refused */
			return SHAPING_NONE;
		/* FALLTHROUGH */
	case MTA_REPLY:
		code = r->reply.code;
		ext = r->reply.extc;
		text = r->reply.text;
		break;
	case MTA_IO:
	case MTA_BAD_REPLY:
		text = r->error;
		break;
	default:		/* TLS policy: ours, not the destination's */
		return SHAPING_NONE;
	}
	return shaper_result(a->dest, code, ext, text != NULL ? text : "",
	    r->step == MTA_GREETING, util_now_ms());
}

void
shape_bounce(struct attempt *a, const struct mta_result *r)
{
	struct outcome o = { 0 };

	if (r->outcome == MTA_OK || r->outcome == MTA_REPLY)
		outcome_reply(&o, &r->reply, a->host, r->remote_ip);
	else
		outcome_local(&o, FAIL_TEMP, 451, "4.4.0", "%s: %s", a->host,
		    r->error != NULL ? r->error : "connection failed");
	outcome_make_final(&o);
	o.class = FAIL_PERM;
	log_notice(SRC, a->e->id, "shaping %s: the reply bounces the mail: "
	    "%d %s %s", shaper_key(a->dest), o.code, o.status,
	    o.msg != NULL ? o.msg : "");
	for (size_t i = a->boff; i < a->n; i++)	/* not those sent before */
		outcome_copy(&a->out[i], &o);
	outcome_clear(&o);
}

void
shape_batch(struct attempt *a, size_t off)
{
	unsigned max = a->dest != NULL ?
	    shaper_limits(a->dest)->max_recipients_per_message : 0;

	a->boff = off;
	a->bcnt = a->n - off;
	if (max > 0 && a->bcnt > max)
		a->bcnt = max;
}

/* Over its part in normal mode, a worker borrowed: the loan is kept
 * while the other workers do not want it back. */
static int
loan_kept(struct attempt *a, const struct shaper_stat *st)
{
	struct cluster *cl = a->env->cluster;

	return cl != NULL && cluster_parts(cl) > 1 &&
	    st->mode == SHAPER_NORMAL &&
	    st->inflight <= st->lim->max_connections &&
	    cluster_keep_idle(cl, st->key, st->lim->max_connections);
}

void
shape_pool_put(struct attempt *a, struct mta_session *s)
{
	struct shaper_dest *d = a->dest;
	const struct shaping_limits *lim = d != NULL ? shaper_limits(d) : NULL;
	struct shaper_stat st;

	if (d != NULL)
		shaper_stat(d, util_now_ms(), &st);
	/* Over max_messages_per_connection, or over the limit of this mode
	 * (backoff) unless borrowed and not wanted back: closed, its slot
	 * freed. */
	if (lim != NULL && ((lim->max_messages_per_connection > 0 &&
	    mta_session_count(s) >= lim->max_messages_per_connection) ||
	    (st.limit > 0 && st.inflight > st.limit && !loan_kept(a, &st)))) {
		mta_session_close(s);
		return;
	}
	/* Cluster: an idle connection would keep one of the cluster's
	 * connections from the nodes (or workers) waiting for one; kept
	 * only for an item of this process that waits, or while others
	 * cannot be waiting. */
	if (a->env->cluster != NULL && lim != NULL && lim->max_connections > 0 &&
	    st.waiting == 0 && !cluster_keep_idle(a->env->cluster,
	    shaper_key(d), lim->max_connections)) {
		mta_session_close(s);
		return;
	}
	if (pool_put(a->env->pool, a->sess_key, s,
	    lim != NULL ? lim->idle_timeout : 0) && d != NULL)
		shaper_wake(d, 1);	/* a waiter may take it */
}

void
shape_track(struct shaper_dest *now, struct sched_item *it, int queued)
{
	struct shaper_dest *was = it->dest;

	if (queued && (now == NULL || now == was))
		return;		/* counted where it was last routed */
	if (was != NULL) {
		shaper_queued(was, -1);
		shaper_release(was);
		it->dest = NULL;
	}
	if (queued) {
		it->dest = shaper_hold(now);
		shaper_queued(now, 1);
	}
}

void
shape_free(struct attempt *a)
{
	if (a->creq != NULL) {
		cluster_cancel(a->creq);
		a->creq = NULL;
	}
	if (a->dest == NULL)
		return;
	if (a->woken && !a->shaped)	/* the turn passes on */
		shaper_wake(a->dest, 1);
	shaper_release(a->dest);
	a->dest = NULL;
}
