/*
 * mta_admin: the administrator's actions on the delivery side (contract
 * in mta_admin.h): the scheduler's items walked once per request, each
 * action applied through the scheduler (hold, release, retry), the queue
 * writer (the `held` field made durable) or an attempt (delete, bounce:
 * attempt.c, verdict.c), every one logged at NOTICE with who asked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/shaping.h"
#include "delivery/attempt.h"
#include "delivery/attempt_shape.h"
#include "delivery/mta.h"
#include "delivery/mta_admin.h"
#include "delivery/pool.h"
#include "delivery/scheduler.h"
#include "delivery/shaper.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"

#define SRC		"admin"

static const char *const action_names[] = {
	"hold", "release", "retry", "delete", "bounce"
};

const char *
mta_action_name(enum mta_action a)
{
	return (unsigned)a < 5 ? action_names[a] : "?";
}

static unsigned
state_of(const struct sched_item *it, int64_t now)
{
	if (it->running)
		return MTA_ST_RUNNING;
	if (it->e->held)
		return MTA_ST_HELD;
	return it->due <= now ? MTA_ST_DUE : MTA_ST_DEFERRED;
}

static const char *
dest_of(const struct sched_item *it)
{
	return it->dest != NULL ? shaper_key(it->dest) : NULL;
}

/* --- listing ------------------------------------------------------------------ */

struct walk {
	const struct mta_filter	*f;
	mta_entry_fn		 fn;
	void			*arg;
	int64_t			 now;
};

static void
walk_one(void *arg, struct sched_item *it)
{
	struct walk *w = arg;
	unsigned st = state_of(it, w->now);
	const char *dest = dest_of(it);

	if (mta_filter_match(w->f, it->e, st, dest, w->now))
		w->fn(w->arg, it->e, st, dest, it->due);
}

void
mta_admin_foreach(struct mta *m, const struct mta_filter *f,
    mta_entry_fn fn, void *arg)
{
	struct walk w = { f, fn, arg, sched_now_ms() };

	scheduler_foreach(mta_env(m)->sched, walk_one, &w);
}

/* --- actions --------------------------------------------------------------------- */

struct act {
	struct mta		*m;
	struct attempt_env	*env;
	const char *const	*ids;
	size_t			 nids;
	unsigned char		*seen;		/* ids found */
	const struct mta_filter	*f;
	enum mta_action		 what;
	const char		*reason;
	const char		*who;
	struct mta_batch	*b;
	struct sched_item	**items;	/* matched, acted on after the
						 * walk (acting may free them) */
	size_t			 n, cap;
	int64_t			 now;
};

static void
batch_done(void *arg, int err)
{
	struct mta_batch *b = arg;

	b->finished++;
	if (err != 0)
		b->failed++;
	if (!b->open && b->finished == b->started && b->settled != NULL)
		b->settled(b);
}

static int
cmp_id(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static void
collect(void *arg, struct sched_item *it)
{
	struct act *c = arg;

	if (c->ids != NULL) {
		const char *const *p = bsearch(it->e->id, c->ids, c->nids,
		    sizeof(*c->ids), cmp_id);

		if (p == NULL)
			return;
		c->seen[p - c->ids] = 1;
	} else if (!mta_filter_match(c->f, it->e, state_of(it, c->now),
	    dest_of(it), c->now))
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->items = xreallocarray(c->items, c->cap, sizeof(*c->items));
	}
	c->items[c->n++] = it;
}

static void
skip(struct act *c, const char *id, const char *why)
{
	if (c->b->skip != NULL)
		c->b->skip(c->b, id, why);
}

/* One matched item: applied (started) or skipped. */
static void
act_one(struct act *c, struct sched_item *it)
{
	struct qentry *e = it->e;
	struct mta_batch *b = c->b;

	if (it->running) {
		skip(c, e->id, "in flight: try again once its attempt ends");
		return;
	}
	switch (c->what) {
	case MTA_HOLD:
	case MTA_RELEASE:
		if (e->held == (c->what == MTA_HOLD)) {
			skip(c, e->id, e->held ? "already held" : "not held");
			return;
		}
		scheduler_set_held(c->env->sched, it, c->what == MTA_HOLD);
		if (c->what == MTA_RELEASE)
			e->next_attempt = c->now;
		b->started++;
		queue_rewrite(c->env->q, e, batch_done, b);
		break;
	case MTA_RETRY:
		if (e->held) {
			skip(c, e->id, "held: release it");
			return;
		}
		b->started++;
		scheduler_wake(c->env->sched, it);
		batch_done(b, 0);
		break;
	case MTA_DELETE:
	case MTA_BOUNCE:
		b->started++;
		it->admin = c->what == MTA_DELETE ? SCHED_ADMIN_DELETE :
		    SCHED_ADMIN_BOUNCE;
		free(it->admin_reason);
		it->admin_reason = c->reason != NULL ? xstrdup(c->reason) :
		    NULL;
		it->admin_done = batch_done;
		it->admin_arg = b;
		break;
	}
	log_notice(SRC, e->id, "%s by the administrator (%s): %s, from=<%s>, "
	    "%zu pending recipient%s%s%s", mta_action_name(c->what), c->who,
	    e->domain, e->mail_from, qentry_pending(e), qentry_pending(e) == 1 ? "" : "s",
	    c->reason != NULL ? ": " : "", c->reason != NULL ? c->reason : "");
	if (c->what == MTA_DELETE || c->what == MTA_BOUNCE)
		scheduler_dispatch_now(c->env->sched, it);	/* may free it */
}

int
mta_admin_act(struct mta *m, const char *const *ids, size_t nids,
    const struct mta_filter *f, enum mta_action what, const char *reason,
    const char *who, struct mta_batch *b)
{
	struct act c;

	if (mta_draining(m))
		return -1;
	memset(&c, 0, sizeof(c));
	c.m = m;
	c.env = mta_env(m);
	c.ids = ids;
	c.nids = nids;
	c.seen = ids != NULL ? xcalloc(nids + 1, 1) : NULL;
	c.f = f;
	c.what = what;
	c.reason = what == MTA_BOUNCE ? reason : NULL;
	c.who = who;
	c.b = b;
	c.now = sched_now_ms();
	b->open = 1;
	scheduler_foreach(c.env->sched, collect, &c);
	b->matched += c.n;
	for (size_t i = 0; i < nids; i++)
		if (!c.seen[i])
			skip(&c, ids[i], "unknown id");
	for (size_t i = 0; i < c.n; i++)
		act_one(&c, c.items[i]);
	free(c.items);
	free(c.seen);
	b->open = 0;
	if (b->finished == b->started && b->settled != NULL)
		b->settled(b);
	return 0;
}

/* --- destinations ------------------------------------------------------------- */

struct dests {
	void	(*fn)(void *, const struct shaper_stat *, uint64_t);
	void	*arg;
	uint64_t now;
};

static void
dest_one(void *arg, const struct shaper_stat *st)
{
	struct dests *d = arg;

	d->fn(d->arg, st, d->now);
}

void
mta_admin_destinations(struct mta *m,
    void (*fn)(void *, const struct shaper_stat *, uint64_t), void *arg)
{
	struct dests d = { fn, arg, util_now_ms() };

	shaper_foreach(mta_env(m)->shaper, d.now, dest_one, &d);
}

int
mta_admin_suspend(struct mta *m, const char *key, unsigned secs,
    const char *why, const char *who)
{
	struct attempt_env *env = mta_env(m);
	struct shaper_dest *d = shaper_find(env->shaper, key);
	char kbuf[SHAPING_KEY_MAX];
	char *text;

	if (d == NULL) {
		const struct shaping_limits *lim = shaping_lookup(
		    env->shaping, key, NULL, 0, kbuf);

		d = shaper_get(env->shaper, key, lim, util_now_ms());
		shaper_release(d);	/* kept while suspended */
	}
	text = xasprintf("suspended by the administrator (%s)%s%s", who,
	    why != NULL && *why != '\0' ? ": " : "", why != NULL ? why : "");
	shaper_suspend(d, secs, text, util_now_ms());
	free(text);
	log_notice(SRC, NULL, "destination %s suspended for %us by the "
	    "administrator (%s)", key, secs, who);
	return 0;
}

struct wake {
	struct scheduler	*s;
	struct shaper_dest	*d;
};

static void
wake_one(void *arg, struct sched_item *it)
{
	struct wake *w = arg;

	if (it->dest == w->d && !it->running && !it->e->held)
		scheduler_wake(w->s, it);
}

int
mta_admin_resume(struct mta *m, const char *key, const char *who)
{
	struct attempt_env *env = mta_env(m);
	struct shaper_dest *d = shaper_find(env->shaper, key);
	struct wake w;

	if (d == NULL)
		return -1;
	shaper_resume(d, util_now_ms());
	w.s = env->sched;
	w.d = d;
	scheduler_foreach(env->sched, wake_one, &w);
	log_notice(SRC, NULL, "destination %s resumed by the administrator "
	    "(%s)", key, who);
	return 0;
}

int
mta_admin_limits(struct mta *m, const char *key,
    const struct shaping_limits *lim, unsigned mask, const char *who,
    struct shaping_limits *now)
{
	struct attempt_env *env = mta_env(m);
	struct shaper_dest *d = shaper_find(env->shaper, key);
	char kbuf[SHAPING_KEY_MAX], *list = xstrdup(""), *t;

	if (d == NULL) {
		d = shaper_get(env->shaper, key, shaping_lookup(env->shaping,
		    key, NULL, 0, kbuf), util_now_ms());
		shaper_release(d);	/* kept while overridden */
	}
	shaper_override(d, lim, mask);
	*now = *shaper_limits(d);
	/* Idle connections hold slots: closed, new ones open within the
	 * new limits. */
	t = xasprintf("%s|", key);
	pool_close_prefix(env->pool, t);
	free(t);
	for (unsigned i = 0; shaping_limit_name(i) != NULL; i++)
		if (mask & (1u << i)) {
			t = xasprintf("%s%s%s", list, *list ? ", " : "",
			    shaping_limit_name(i));
			free(list);
			list = t;
		}
	log_notice(SRC, NULL, "destination %s: limits %s set by the "
	    "administrator (%s), until the next reload", key, list, who);
	free(list);
	return 0;
}

struct config *
mta_admin_config(struct mta *m)
{
	return mta_env(m)->cfg;
}

struct queue *
mta_admin_queue(struct mta *m)
{
	return mta_env(m)->q;
}
