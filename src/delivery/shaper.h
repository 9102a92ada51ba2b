/*
 * shaper: the running state of traffic shaping, one struct shaper_dest
 * per destination key (core/shaping.h says how a domain gets its key and
 * limits): connections in flight against the current limit, the
 * connection and message rates (lib/rate.h), and the mode —
 *   normal      the limits of shaping.ini;
 *   backoff     after a throttling reply: backoff_connections, new
 *               connections backoff_interval apart; every backoff_recover
 *               clean deliveries one step up (the limit doubles, the
 *               spacing halves) until the normal limit (with none, after
 *               SHAPER_RECOVER_STEPS steps): normal again;
 *   suspended   a suspend rule matched: nothing until it ends, then
 *               backoff from its first step.
 * Every change of mode is logged. Pure but for logging: the caller passes
 * the time (monotonic milliseconds) and runs its own timers.
 *
 * Use, for one connection:
 *   d = shaper_get(sp, key, limits, now);
 *   switch (wait = shaper_may_connect(d, now)) {
 *   case 0:		connect; ... shaper_closed(d, now) when it ends
 *   case SHAPER_FULL:	shaper_wait(d, &w, fn, arg): fn runs when a slot
 *			frees; then ask again
 *   default:		ask again in `wait` ms (a timer of the caller's)
 *   }
 *   before each message: shaper_may_send(d, now), the same way (never
 *   SHAPER_FULL); after each message or failure: shaper_result();
 *   shaper_release(d) when the pointer is no longer kept.
 * A destination is held (never dropped) while the caller holds it, has a
 * connection in flight or a waiter, or is not in normal mode; others are
 * dropped once idle for idle_ms, or when the table is at its capacity.
 */
#ifndef OUTPOST_SHAPER_H
#define OUTPOST_SHAPER_H

#include <stddef.h>
#include <stdint.h>

#include "core/shaping.h"

#define SHAPER_FULL		UINT64_MAX	/* no slot: shaper_wait */
#define SHAPER_RECOVER_STEPS	6	/* with no normal limit: 1 -> 64 */
#define SHAPER_REPLY_MAX	200	/* bytes of the reply kept */

enum shaper_mode {
	SHAPER_NORMAL = 0,
	SHAPER_BACKOFF,
	SHAPER_SUSPENDED
};

struct shaper;
struct shaper_dest;

/* A waiter for a free slot, the caller's memory: FIFO per destination. */
struct shaper_waiter {
	struct shaper_waiter	*next, *prev;
	struct shaper_dest	*d;		/* NULL: not waiting */
	void			(*fn)(void *arg);
	void			*arg;
};

/* One destination, for --qstat and logs. */
struct shaper_stat {
	const char		*key;
	enum shaper_mode	 mode;
	unsigned		 queued;	/* entries last routed here */
	unsigned		 inflight;	/* connections */
	unsigned		 limit;		/* connections allowed in this
						 * mode (backoff: this step's);
						 * 0: no limit */
	unsigned		 step;		/* backoff step */
	unsigned		 waiting;	/* waiters */
	uint64_t		 until;		/* suspended until (ms) */
	const char		*last;		/* the reply that set backoff
						 * or suspension; "" */
	const struct shaping_limits *lim;	/* in force */
	unsigned		 overridden;	/* shaper_overridden() */
};

/* A table of at most about capacity destinations (more only while held,
 * see above); takes a reference to sh, whose rules shaper_result applies. */
struct shaper	*shaper_new(struct shaping *sh, size_t capacity,
		    uint64_t idle_ms);
/* Waiters still queued are dropped without a call. */
void		 shaper_free(struct shaper *);
/* A new configuration's rules; limits change at each shaper_get. */
void		 shaper_set_shaping(struct shaper *, struct shaping *);
size_t		 shaper_size(const struct shaper *);

/* The destination key (created in normal mode if new) with limits
 * (copied; a rate keeps its state), held until shaper_release. */
struct shaper_dest *shaper_get(struct shaper *, const char *key,
		    const struct shaping_limits *limits, uint64_t now);
void		 shaper_release(struct shaper_dest *);
/* Another hold on d (a connection that outlives the attempt); d. */
struct shaper_dest *shaper_hold(struct shaper_dest *);
/* The count of queue entries whose last attempt was routed to d, for
 * --qstat: +1 or -1 (the caller holds d while it counts an entry). */
void		 shaper_queued(struct shaper_dest *, int delta);
const char	*shaper_key(const struct shaper_dest *);
const struct shaping_limits *shaper_limits(const struct shaper_dest *);

/*
 * 0: a connection may open now, and counts in flight from now on (the
 * caller must call shaper_closed once it is over, connected or not);
 * SHAPER_FULL: every slot is taken (some connection in flight will free
 * one); else the milliseconds to wait (suspension, backoff spacing,
 * connection rate).
 */
uint64_t	 shaper_may_connect(struct shaper_dest *, uint64_t now);
/* The same for the next MX host of an attempt whose previous host just
 * failed (a 421 greeting, say): the backoff spacing, which spaces
 * attempts, does not hold back the MX walk (the backup MX is tried at
 * once); the limit, the connection rate and a suspension still apply. */
uint64_t	 shaper_may_connect_next(struct shaper_dest *, uint64_t now);
/* A connection counted by shaper_may_connect is over; wakes the waiters
 * that the freed slot (or slots) allow. */
void		 shaper_closed(struct shaper_dest *, uint64_t now);
/* 0: a message may be sent now (and is counted); else ms to wait. */
uint64_t	 shaper_may_send(struct shaper_dest *, uint64_t now);
/* d's rates are taken by a gate outside (delivery/cluster.h, shared by
 * workers or nodes) from shaper_limits(d): from now on d keeps backoff,
 * suspension and its part of the connection limit (max_connections over
 * parts, at least 1; the limits it shows stay whole), and no rate. */
void		 shaper_pace(struct shaper_dest *, unsigned parts);
/* A process's part of max_connections (not 0) shared by parts: one at
 * least. The gate of the workers (delivery/cluster.h) counts the same. */
unsigned	 shaper_part(unsigned max_connections, unsigned parts);
/* Paced in parts, in normal mode, with its part in flight: one more
 * connection borrowed from the other parts (the gate lends it, and says
 * when it is wanted back), up to the whole max_connections: 0, counted
 * as by shaper_may_connect; SHAPER_FULL otherwise. */
uint64_t	 shaper_may_borrow(struct shaper_dest *, uint64_t now);
/*
 * A reply from the destination, or Outpost's own failure (code 0): a 2xx
 * after a message (not at the greeting) is a clean delivery, counting
 * towards recovery; a failure goes through the rules, whose action is
 * applied (backoff, suspend) and returned (bounce: the caller bounces the
 * recipients it concerns).
 */
enum shaping_action shaper_result(struct shaper_dest *, int code,
		    const char *enhanced, const char *text, int at_greeting,
		    uint64_t now);

/*
 * Queues w (not already waiting) for d's next free slot: fn(arg) runs
 * once, from shaper_closed, shaper_result (a recovery step) or
 * shaper_wake, with w already off the queue; it should ask
 * shaper_may_connect again (from the event loop). A woken caller that
 * then does not connect should pass the turn on: shaper_wake(d, 1).
 */
void		 shaper_wait(struct shaper_dest *, struct shaper_waiter *,
		    void (*fn)(void *), void *arg);
/* Takes w off its queue if it is queued. */
void		 shaper_cancel(struct shaper_waiter *);
/* Wakes up to n waiters (e.g. a pooled connection fell idle). */
void		 shaper_wake(struct shaper_dest *, unsigned n);

/* The destination key, or NULL when the table has none. */
struct shaper_dest *shaper_find(struct shaper *, const char *key);
/* An administrator's suspension of d for secs (why is kept as its last
 * reply), replacing any running one; shaper_resume ends a suspension at
 * once (normal mode, the waiters woken). Both logged. */
void		 shaper_suspend(struct shaper_dest *, unsigned secs,
		    const char *why, uint64_t now);
void		 shaper_resume(struct shaper_dest *, uint64_t now);

/* An administrator's limits for d: the keys in mask (shaping.h's bits)
 * taken from lim over the configuration's, kept (and d with them) until
 * the next shaper_set_shaping; waiters a higher limit lets in are woken. */
void		 shaper_override(struct shaper_dest *,
		    const struct shaping_limits *lim, unsigned mask);
/* The keys the administrator set (bits), 0 for none. */
unsigned	 shaper_overridden(const struct shaper_dest *);

/* "normal", "backoff", "suspended". */
const char	*shaper_mode_name(enum shaper_mode);
void		 shaper_stat(struct shaper_dest *, uint64_t now,
		    struct shaper_stat *);
/* Every destination, most recently used first; fn must not change the
 * table. */
void		 shaper_foreach(struct shaper *, uint64_t now,
		    void (*fn)(void *arg, const struct shaper_stat *), void *arg);

#endif
