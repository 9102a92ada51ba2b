/*
 * scheduler: when each queued mail is tried. Waiting entries sit in a
 * binary heap ordered by next-attempt time, with one timer armed for the
 * earliest; due entries are dispatched while fewer than concurrency_max
 * attempts run, their messages fit in delivery_memory_max (bytes held by
 * attempts in flight) and delivery is neither disabled nor held. The
 * scheduler owns the entries (struct qentry) from the queue's sink until
 * they are removed.
 */
#ifndef OUTPOST_SCHEDULER_H
#define OUTPOST_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "queue/entry.h"

struct event_base;
struct scheduler;
struct qmsg;

struct sched_item {
	struct qentry	*e;
	struct qmsg	*msg;		/* the message when still in memory (a
					 * reference; the attempt may take it) */
	int64_t		 due;		/* ms since the epoch */
	size_t		 heap;		/* index in the heap; SIZE_MAX if not */
	int		 running;
	/* The memory budget: what an attempt on it holds (sched_cost),
	 * reserved from dispatch (or from scheduler_add while msg is kept)
	 * until scheduler_retry() or scheduler_remove(). */
	size_t		 size;
	int		 reserved;
	unsigned	 flushes;	/* scheduler_flush() count at dispatch */
	/* Traffic shaping (attempt_shape.c): the waiter of an item parked
	 * for a connection slot, and whether scheduler_wake() made it due. */
	void		*park;
	int		 woken;
	/* The destination its last attempt was routed to (a held struct
	 * shaper_dest, counting the entry as queued there), or NULL. */
	void		*dest;
	/* Every item, in one list (scheduler_foreach). */
	struct sched_item *all_next, *all_prev;
	/* An administrator's action (mta_admin.c) carried by a dispatch
	 * (scheduler_dispatch_now): attempt.c deletes or bounces the entry
	 * instead of trying it, then admin_done(admin_arg, err) runs once:
	 * err 0 when the entry is gone (durably), else an errno value. */
	int		 admin;		/* SCHED_ADMIN_* */
	char		*admin_reason;
	void		(*admin_done)(void *arg, int err);
	void		*admin_arg;
};

#define SCHED_ADMIN_NONE	0
#define SCHED_ADMIN_DELETE	1
#define SCHED_ADMIN_BOUNCE	2

/* Starts an attempt; the item is the callee's until scheduler_retry() or
 * scheduler_remove(). */
typedef void (*sched_dispatch_fn)(void *arg, struct sched_item *);

struct scheduler *scheduler_new(struct event_base *, sched_dispatch_fn,
		    void *arg);
/* Frees every item and entry (attempts must have been cancelled). */
void		 scheduler_free(struct scheduler *);
void		 scheduler_configure(struct scheduler *, unsigned concurrency,
		    int disabled);
/* delivery_memory_max: message bytes that attempts in flight (and
 * messages kept for them) may hold; 0 = unlimited. A due entry that does
 * not fit waits until an attempt ends; one larger than the whole budget
 * runs when nothing else holds any. */
void		 scheduler_set_budget(struct scheduler *, uint64_t bytes);
/* Message bytes reserved now. */
uint64_t	 scheduler_bytes(const struct scheduler *);
/*
 * What an attempt holds of a message of len bytes (the budget's unit):
 * all of it when it is in memory; else the hooks' view of it (at most
 * SCHED_VIEW_MAX: the whole message or its header section) and the
 * stream's buffers: at most SCHED_STREAM_COST whatever its size, and for
 * a small message no more than the connection's own (SCHED_CONN_COST:
 * its session and TLS buffers) and twice the message (dot-stuffed).
 * bench/scale.sh measured about 10 KB per connection of a 2 KB message
 * without TLS: the estimate errs on the safe side, and 256 MB
 * (delivery_memory_max's default) still lets about 4,800 such attempts
 * run at once.
 */
#define SCHED_VIEW_MAX		((size_t)64 << 10)
#define SCHED_STREAM_COST	((size_t)192 << 10)
#define SCHED_CONN_COST		((size_t)48 << 10)
size_t		 sched_cost(size_t len, int in_memory);
/* Takes ownership of e (malloc'd), and of the reference msg (may be
 * NULL), kept when e will be dispatched right away and fits in the
 * budget (else dropped: the body file is read at dispatch); e is due at
 * e->next_attempt. A message shared by several entries is counted for
 * each (the budget errs on the safe side). */
void		 scheduler_add(struct scheduler *, struct qentry *,
		    struct qmsg *msg);
/* The attempt ended; the item waits until due (ms since the epoch). */
void		 scheduler_retry(struct scheduler *, struct sched_item *,
		    int64_t due);
/* The attempt ended and the entry is gone: frees item and entry. */
void		 scheduler_remove(struct scheduler *, struct sched_item *);
/* Holds dispatching while any of the `reasons` bits (enum mta_hold) is
 * on: attempts in flight finish, due entries wait; the last release
 * dispatches what is due. */
void		 scheduler_hold(struct scheduler *, unsigned reasons, int on);
/* SIGHUP: every waiting entry is due now, and so is every entry in
 * flight when it comes back through scheduler_retry(). */
void		 scheduler_flush(struct scheduler *);
/* A waiting item is due now (a shaping slot freed: attempt_shape.c);
 * it->woken is set for its next attempt. Not for an item in flight. */
void		 scheduler_wake(struct scheduler *, struct sched_item *);
/* Every item (waiting, held or in flight), most recently added first;
 * fn must not add or remove items. */
void		 scheduler_foreach(struct scheduler *,
		    void (*fn)(void *arg, struct sched_item *), void *arg);
/* Holds (on) a waiting item: out of the heap, never dispatched, until
 * released (off): due now. it->e->held follows; the caller makes it
 * durable. Not for an item in flight. */
void		 scheduler_set_held(struct scheduler *, struct sched_item *,
		    int on);
/* A waiting (or held) item is dispatched now, whatever the limits and
 * holds (an administrator's delete or bounce, set in it->admin). */
void		 scheduler_dispatch_now(struct scheduler *,
		    struct sched_item *);
/* No more dispatching (shutdown). */
void		 scheduler_stop(struct scheduler *);
size_t		 scheduler_running(const struct scheduler *);
size_t		 scheduler_waiting(const struct scheduler *);
/* Milliseconds since the epoch. */
int64_t		 sched_now_ms(void);

#endif
