/*
 * shaper: per-destination shaping state in a bounded table — a seeded
 * hash for lookups and one list by last use (newest first) for expiry and
 * eviction — and the mode machine (normal, backoff, suspended) driven by
 * the replies through core/shaping's rules. The table owns the
 * destinations; callers hold them by reference; waiters are the callers'.
 */
#include "delivery/shaper.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"
#define EXPIRE_BATCH	8	/* destinations looked at per shaper_get */
#define NEVER		UINT64_MAX

struct shaper_dest {
	struct shaper_dest	*chain;		/* next in its bucket */
	struct shaper_dest	*prev, *next;	/* by last use */
	struct shaper		*sp;
	struct shaping_limits	 lim;
	struct shaping_limits	 base;		/* the configuration's */
	struct shaping_limits	 ovr;		/* the administrator's, */
	unsigned		 ovr_mask;	/* these keys (shaping.h) */
	int			 paced;		/* rates taken by a gate */
	unsigned		 parts;		/* of max_connections held: 1 */
	enum shaper_mode	 mode;
	unsigned		 refs;
	unsigned		 queued;	/* entries last routed here */
	unsigned		 inflight;
	unsigned		 step;		/* backoff step */
	unsigned		 clean;		/* deliveries in this step */
	uint64_t		 until;		/* suspended until */
	uint64_t		 spaced_from;	/* backoff: the last connection
						 * (or throttling reply); NEVER */
	uint64_t		 used;		/* last use */
	struct shaper_waiter	*whead, *wtail;
	unsigned		 nwait;
	char			 last[SHAPER_REPLY_MAX];
	char			 key[];
};

struct shaper {
	struct shaping		*sh;
	size_t			 capacity, n;
	uint64_t		 idle_ms;
	struct shaper_dest	**buckets;
	size_t			 nbuckets;	/* a power of two */
	uint64_t		 seed;
	struct shaper_dest	*head, *tail;	/* newest first */
};

static void	set_limits(struct shaper_dest *, const struct shaping_limits *);

const char *
shaper_mode_name(enum shaper_mode m)
{
	static const char *const names[] = { "normal", "backoff",
	    "suspended" };

	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

/* --- the table ------------------------------------------------------------------- */

struct shaper *
shaper_new(struct shaping *sh, size_t capacity, uint64_t idle_ms)
{
	struct shaper *sp = xcalloc(1, sizeof(*sp));

	sp->sh = shaping_ref(sh);
	sp->capacity = capacity > 0 ? capacity : 1;
	sp->idle_ms = idle_ms;
	for (sp->nbuckets = 16; sp->nbuckets < sp->capacity; sp->nbuckets <<= 1)
		;
	sp->buckets = xcalloc(sp->nbuckets, sizeof(*sp->buckets));
	sp->seed = util_random();
	return sp;
}

void
shaper_free(struct shaper *sp)
{
	struct shaper_dest *d, *next;

	if (sp == NULL)
		return;
	for (d = sp->head; d != NULL; d = next) {
		next = d->next;
		for (struct shaper_waiter *w = d->whead; w != NULL; w = w->next)
			w->d = NULL;
		free(d);
	}
	free(sp->buckets);
	shaping_unref(sp->sh);
	free(sp);
}

void
shaper_set_shaping(struct shaper *sp, struct shaping *sh)
{
	shaping_ref(sh);
	shaping_unref(sp->sh);
	sp->sh = sh;
	for (struct shaper_dest *d = sp->head; d != NULL; d = d->next)
		if (d->ovr_mask != 0) {	/* until the next reload */
			d->ovr_mask = 0;
			set_limits(d, &d->base);
			log_notice(SRC, NULL, "shaping %s: the administrator's "
			    "limits end with the reload", d->key);
		}
}

size_t
shaper_size(const struct shaper *sp)
{
	return sp->n;
}

/* FNV-1a from a random basis. */
static struct shaper_dest **
find(struct shaper *sp, const char *key)
{
	uint64_t h = fnv1a(FNV_BASIS ^ sp->seed, key);
	struct shaper_dest **pp;

	pp = &sp->buckets[(h ^ (h >> 32)) & (sp->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->chain)
		if (strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

static void
list_unlink(struct shaper *sp, struct shaper_dest *d)
{
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		sp->head = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	else
		sp->tail = d->prev;
	d->prev = d->next = NULL;
}

static void
list_push(struct shaper *sp, struct shaper_dest *d)
{
	d->next = sp->head;
	if (sp->head != NULL)
		sp->head->prev = d;
	else
		sp->tail = d;
	sp->head = d;
}

static int
droppable(const struct shaper_dest *d)
{
	return d->refs == 0 && d->inflight == 0 && d->whead == NULL &&
	    d->mode == SHAPER_NORMAL && d->ovr_mask == 0;
}

static void
drop(struct shaper *sp, struct shaper_dest *d)
{
	struct shaper_dest **pp = find(sp, d->key);

	*pp = d->chain;
	list_unlink(sp, d);
	free(d);
	sp->n--;
}

/* Drops a few of the destinations idle for idle_ms; one that must stay
 * goes to the head of the list, out of the way. */
static void
expire(struct shaper *sp, uint64_t now)
{
	struct shaper_dest *d;

	for (int i = 0; i < EXPIRE_BATCH && (d = sp->tail) != NULL; i++) {
		if (now < d->used || now - d->used < sp->idle_ms)
			break;
		if (droppable(d))
			drop(sp, d);
		else if (d != sp->head) {
			list_unlink(sp, d);
			list_push(sp, d);
		}
	}
}

/* Full: the least recently used destination that may go. */
static void
evict(struct shaper *sp)
{
	for (struct shaper_dest *d = sp->tail; d != NULL; d = d->prev)
		if (droppable(d)) {
			drop(sp, d);
			return;
		}
}

static void
set_limits(struct shaper_dest *d, const struct shaping_limits *lim)
{
	struct rate mr = d->lim.max_message_rate;
	struct rate cr = d->lim.max_connection_rate;

	d->base = *lim;
	d->lim = *lim;
	shaping_limits_over(&d->lim, &d->ovr, d->ovr_mask);
	rate_update(&mr, &d->lim.max_message_rate);
	rate_update(&cr, &d->lim.max_connection_rate);
	d->lim.max_message_rate = mr;
	d->lim.max_connection_rate = cr;
	if (d->lim.backoff_connections == 0)	/* as core/shaping allows */
		d->lim.backoff_connections = 1;
	if (d->lim.backoff_recover == 0)
		d->lim.backoff_recover = 1;
}

struct shaper_dest *
shaper_get(struct shaper *sp, const char *key,
    const struct shaping_limits *lim, uint64_t now)
{
	struct shaper_dest **pp, *d;
	size_t len = strlen(key);

	expire(sp, now);
	if ((d = *(pp = find(sp, key))) == NULL) {
		if (sp->n >= sp->capacity) {
			evict(sp);
			pp = find(sp, key);
		}
		d = *pp = xcalloc(1, sizeof(*d) + len + 1);
		memcpy(d->key, key, len + 1);
		d->sp = sp;
		set_limits(d, lim);
		sp->n++;
	} else {
		list_unlink(sp, d);
		set_limits(d, lim);
	}
	list_push(sp, d);
	d->used = now;
	d->refs++;
	return d;
}

void
shaper_release(struct shaper_dest *d)
{
	if (d != NULL && d->refs > 0)
		d->refs--;
}

void
shaper_queued(struct shaper_dest *d, int delta)
{
	if (delta > 0)
		d->queued++;
	else if (d->queued > 0)
		d->queued--;
}

struct shaper_dest *
shaper_hold(struct shaper_dest *d)
{
	d->refs++;
	return d;
}

const char *
shaper_key(const struct shaper_dest *d)
{
	return d->key;
}

const struct shaping_limits *
shaper_limits(const struct shaper_dest *d)
{
	return &d->lim;
}

/* --- waiters -------------------------------------------------------------------- */

void
shaper_wait(struct shaper_dest *d, struct shaper_waiter *w,
    void (*fn)(void *), void *arg)
{
	w->fn = fn;
	w->arg = arg;
	w->d = d;
	w->next = NULL;
	w->prev = d->wtail;
	if (d->wtail != NULL)
		d->wtail->next = w;
	else
		d->whead = w;
	d->wtail = w;
	d->nwait++;
}

void
shaper_cancel(struct shaper_waiter *w)
{
	struct shaper_dest *d = w->d;

	if (d == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		d->whead = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		d->wtail = w->prev;
	w->next = w->prev = NULL;
	w->d = NULL;
	d->nwait--;
}

void
shaper_wake(struct shaper_dest *d, unsigned n)
{
	struct shaper_waiter *w;

	d->refs++;		/* a callback cannot have d dropped */
	while (n-- > 0 && (w = d->whead) != NULL) {
		shaper_cancel(w);
		w->fn(w->arg);
	}
	d->refs--;
}

/* --- modes ----------------------------------------------------------------------- */

unsigned
shaper_part(unsigned max_connections, unsigned parts)
{
	unsigned part = max_connections / (parts > 1 ? parts : 1);

	return part == 0 ? 1 : part;
}

/* Connections allowed in normal mode: this process's part of the limit. */
static unsigned
part_of(const struct shaper_dest *d)
{
	return d->lim.max_connections ? shaper_part(d->lim.max_connections,
	    d->parts) : UINT_MAX;
}

/* Connections allowed in the current mode (a suspension aside). */
static unsigned
limit_of(const struct shaper_dest *d)
{
	unsigned normal = part_of(d);
	uint64_t b;

	if (d->mode == SHAPER_NORMAL)
		return normal;
	b = (uint64_t)d->lim.backoff_connections << (d->step < 32 ? d->step :
	    32);
	return b < normal ? (unsigned)b : normal;
}

/* Backoff: ms between new connections at this step. */
static uint64_t
spacing(const struct shaper_dest *d)
{
	return d->step < 32 ? (uint64_t)d->lim.backoff_interval * 1000 >>
	    d->step : 0;
}

static void
wake_free(struct shaper_dest *d)
{
	unsigned lim = limit_of(d);

	if (d->inflight < lim)
		shaper_wake(d, lim - d->inflight);
}

static void
set_last(struct shaper_dest *d, int code, const char *enhanced,
    const char *text)
{
	if (enhanced == NULL)
		enhanced = "";
	if (code == 0)		/* Outpost's own failure */
		snprintf(d->last, sizeof(d->last), "%s", text ? text : "");
	else
		snprintf(d->last, sizeof(d->last), "%03d%s%s %s", code,
		    *enhanced ? " " : "", enhanced, text ? text : "");
}

static void
enter_backoff(struct shaper_dest *d, const char *rule, uint64_t now)
{
	enum shaper_mode old = d->mode;

	d->step = 0;
	d->clean = 0;
	if (old == SHAPER_SUSPENDED)
		return;		/* backoff from its first step afterwards */
	d->mode = SHAPER_BACKOFF;
	d->spaced_from = now;
	log_notice(SRC, NULL, "shaping %s: %s -> backoff (%s: %s): %u "
	    "connection(s), %gs apart", d->key, shaper_mode_name(old), rule,
	    d->last, limit_of(d), spacing(d) / 1000.0);
}

static void
suspend(struct shaper_dest *d, unsigned secs, const char *rule, uint64_t now)
{
	enum shaper_mode old = d->mode;
	uint64_t until = now + (uint64_t)secs * 1000;

	if (old == SHAPER_SUSPENDED && d->until >= until)
		return;
	d->mode = SHAPER_SUSPENDED;
	d->until = until;
	d->step = 0;
	d->clean = 0;
	log_warn(SRC, NULL, "shaping %s: %s -> suspended for %us (%s: %s)",
	    d->key, shaper_mode_name(old), secs, rule, d->last);
}

/* A suspension that is over: backoff, from its first step. Wakes no one
 * (waiters wait for a slot, and only a connection in flight frees one). */
static void
refresh(struct shaper_dest *d, uint64_t now)
{
	if (d->mode != SHAPER_SUSPENDED || now < d->until)
		return;
	d->mode = SHAPER_BACKOFF;
	d->spaced_from = NEVER;
	log_notice(SRC, NULL, "shaping %s: suspended -> backoff: %u "
	    "connection(s), %gs apart", d->key, limit_of(d),
	    spacing(d) / 1000.0);
}

/* A clean delivery: in backoff, every backoff_recover of them is a step
 * up, and past the normal limit the end of backoff. */
static void
recover(struct shaper_dest *d)
{
	if (d->mode != SHAPER_BACKOFF || ++d->clean < d->lim.backoff_recover)
		return;
	d->clean = 0;
	d->step++;
	if (d->lim.max_connections != 0 ? limit_of(d) >= part_of(d) :
	    d->step >= SHAPER_RECOVER_STEPS) {
		d->mode = SHAPER_NORMAL;
		d->step = 0;
		d->last[0] = '\0';
		log_notice(SRC, NULL, "shaping %s: backoff -> normal",
		    d->key);
	} else
		log_info(SRC, NULL, "shaping %s: backoff step %u: %u "
		    "connection(s), %gs apart", d->key, d->step, limit_of(d),
		    spacing(d) / 1000.0);
	wake_free(d);
}

/* --- the questions ---------------------------------------------------------------- */

static uint64_t
may_connect(struct shaper_dest *d, uint64_t now, int spaced)
{
	uint64_t wait;

	refresh(d, now);
	d->used = now;
	if (d->mode == SHAPER_SUSPENDED)
		return d->until - now;
	if (d->inflight >= limit_of(d))
		return SHAPER_FULL;
	if (spaced && d->mode == SHAPER_BACKOFF && d->spaced_from != NEVER &&
	    now < d->spaced_from + spacing(d))
		return d->spaced_from + spacing(d) - now;
	if (!d->paced &&
	    (wait = rate_take(&d->lim.max_connection_rate, now)) != 0)
		return wait;
	d->inflight++;
	d->spaced_from = now;
	return 0;
}

uint64_t
shaper_may_connect(struct shaper_dest *d, uint64_t now)
{
	return may_connect(d, now, 1);
}

uint64_t
shaper_may_connect_next(struct shaper_dest *d, uint64_t now)
{
	return may_connect(d, now, 0);
}

void
shaper_closed(struct shaper_dest *d, uint64_t now)
{
	if (d->inflight > 0)
		d->inflight--;
	d->used = now;
	refresh(d, now);
	wake_free(d);
}

uint64_t
shaper_may_send(struct shaper_dest *d, uint64_t now)
{
	refresh(d, now);
	d->used = now;
	if (d->mode == SHAPER_SUSPENDED)
		return d->until - now;
	return d->paced ? 0 : rate_take(&d->lim.max_message_rate, now);
}

uint64_t
shaper_may_borrow(struct shaper_dest *d, uint64_t now)
{
	refresh(d, now);
	if (!d->paced || d->parts <= 1 || d->mode != SHAPER_NORMAL ||
	    d->lim.max_connections == 0 ||
	    d->inflight >= d->lim.max_connections)
		return SHAPER_FULL;
	d->used = now;
	d->inflight++;
	d->spaced_from = now;
	return 0;
}

void
shaper_pace(struct shaper_dest *d, unsigned parts)
{
	d->paced = 1;
	d->parts = parts;
}

enum shaping_action
shaper_result(struct shaper_dest *d, int code, const char *enhanced,
    const char *text, int at_greeting, uint64_t now)
{
	struct shaping_hit hit;

	refresh(d, now);
	d->used = now;
	if (code >= 200 && code < 300) {
		if (!at_greeting)
			recover(d);
		return SHAPING_NONE;
	}
	hit = shaping_match(d->sp->sh, code, enhanced, text, at_greeting);
	if (hit.action == SHAPING_BACKOFF || hit.action == SHAPING_SUSPEND)
		set_last(d, code, enhanced, text);
	if (hit.action == SHAPING_BACKOFF)
		enter_backoff(d, hit.rule, now);
	else if (hit.action == SHAPING_SUSPEND)
		suspend(d, hit.seconds, hit.rule, now);
	return hit.action;
}

/* --- stats ----------------------------------------------------------------------- */

struct shaper_dest *
shaper_find(struct shaper *sp, const char *key)
{
	return *find(sp, key);
}

void
shaper_suspend(struct shaper_dest *d, unsigned secs, const char *why,
    uint64_t now)
{
	snprintf(d->last, sizeof(d->last), "%s", why);
	d->mode = SHAPER_NORMAL;	/* so that suspend() always applies */
	suspend(d, secs, "administrator", now);
}

void
shaper_resume(struct shaper_dest *d, uint64_t now)
{
	refresh(d, now);
	if (d->mode != SHAPER_SUSPENDED)
		return;
	d->mode = SHAPER_NORMAL;
	d->until = 0;
	d->step = 0;
	d->last[0] = '\0';
	log_notice(SRC, NULL, "shaping %s: suspended -> normal (resumed by "
	    "the administrator)", d->key);
	wake_free(d);
}

void
shaper_override(struct shaper_dest *d, const struct shaping_limits *lim,
    unsigned mask)
{
	shaping_limits_over(&d->ovr, lim, mask);
	d->ovr_mask |= mask;
	set_limits(d, &d->base);
	wake_free(d);
}

unsigned
shaper_overridden(const struct shaper_dest *d)
{
	return d->ovr_mask;
}

void
shaper_stat(struct shaper_dest *d, uint64_t now, struct shaper_stat *st)
{
	unsigned lim;

	refresh(d, now);
	lim = limit_of(d);
	*st = (struct shaper_stat){ d->key, d->mode, d->queued, d->inflight,
	    lim == UINT_MAX ? 0 : lim, d->step, d->nwait,
	    d->mode == SHAPER_SUSPENDED ? d->until : 0, d->last, &d->lim,
	    d->ovr_mask };
}

void
shaper_foreach(struct shaper *sp, uint64_t now,
    void (*fn)(void *, const struct shaper_stat *), void *arg)
{
	struct shaper_stat st;

	for (struct shaper_dest *d = sp->head; d != NULL; d = d->next) {
		shaper_stat(d, now, &st);
		fn(arg, &st);
	}
}
