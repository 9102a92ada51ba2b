/*
 * scheduler: a binary min-heap of waiting entries keyed by due time, one
 * timer for the earliest, and a dispatch pass that starts due entries up
 * to the concurrency limit and the memory budget (message bytes reserved
 * per item until its attempt ends). Passes run from an event (never
 * inside the caller's stack), so dispatch callbacks never re-enter each
 * other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include <event2/event.h>

#include "lib/xmalloc.h"
#include "delivery/scheduler.h"
#include "queue/queue.h"

struct scheduler {
	struct event_base	*base;
	sched_dispatch_fn	 dispatch;
	void			*arg;
	struct sched_item	**heap;
	size_t			 n;
	size_t			 cap;
	size_t			 running;
	unsigned		 concurrency;
	int			 disabled;
	unsigned		 held;		/* scheduler_hold() reasons */
	int			 stopped;
	uint64_t		 budget;	/* bytes; 0 = unlimited */
	uint64_t		 bytes;		/* reserved by items */
	uint64_t		 kept;		/* of which by waiting items'
						 * kept messages */
	unsigned		 flushes;	/* scheduler_flush() calls */
	struct sched_item	*all;		/* every item */
	struct event		*timer;
	struct event		*pass;
};

int64_t
sched_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* --- the heap ----------------------------------------------------------- */

static void
place(struct scheduler *s, size_t i, struct sched_item *it)
{
	s->heap[i] = it;
	it->heap = i;
}

static void
sift_up(struct scheduler *s, size_t i)
{
	struct sched_item *it = s->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (s->heap[p]->due <= it->due)
			break;
		place(s, i, s->heap[p]);
		i = p;
	}
	place(s, i, it);
}

static void
sift_down(struct scheduler *s, size_t i)
{
	struct sched_item *it = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->n)
			break;
		if (c + 1 < s->n && s->heap[c + 1]->due < s->heap[c]->due)
			c++;
		if (it->due <= s->heap[c]->due)
			break;
		place(s, i, s->heap[c]);
		i = c;
	}
	place(s, i, it);
}

static void
heap_push(struct scheduler *s, struct sched_item *it)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->heap = xreallocarray(s->heap, s->cap, sizeof(*s->heap));
	}
	s->heap[s->n] = it;
	it->heap = s->n++;
	sift_up(s, it->heap);
}

static struct sched_item *
heap_pop(struct scheduler *s)
{
	struct sched_item *top = s->heap[0];

	s->n--;
	if (s->n > 0) {
		place(s, 0, s->heap[s->n]);
		sift_down(s, 0);
	}
	top->heap = SIZE_MAX;
	return top;
}

/* Takes the item at index i out of the heap. */
static void
heap_delete(struct scheduler *s, size_t i)
{
	struct sched_item *it = s->heap[i], *moved;

	s->n--;
	if (i < s->n) {
		moved = s->heap[s->n];
		place(s, i, moved);
		sift_down(s, i);
		if (moved->heap == i)
			sift_up(s, i);
	}
	it->heap = SIZE_MAX;
}

/* --- the memory budget ---------------------------------------------------- */

/* Whether n more bytes may be reserved: within the budget, or alone (an
 * entry larger than the whole budget must not starve). */
static int
fits(const struct scheduler *s, size_t n)
{
	return s->budget == 0 || s->bytes == 0 || s->bytes + n <= s->budget;
}

static void
reserve(struct scheduler *s, struct sched_item *it)
{
	it->reserved = 1;
	s->bytes += it->size;
}

static void
release(struct scheduler *s, struct sched_item *it)
{
	if (!it->reserved)
		return;
	it->reserved = 0;
	s->bytes -= it->size;
}

size_t
sched_cost(size_t len, int in_memory)
{
	size_t stream = SCHED_STREAM_COST;

	if (in_memory)
		return len;
	if (len < (SCHED_STREAM_COST - SCHED_CONN_COST) / 2)
		stream = SCHED_CONN_COST + 2 * len;
	return (len < SCHED_VIEW_MAX ? len : SCHED_VIEW_MAX) + stream;
}

/* A waiting item's message kept in memory goes (read from its body file
 * at dispatch), and its bytes with it. */
static void
spill(struct scheduler *s, struct sched_item *it)
{
	if (it->msg == NULL)
		return;
	qmsg_unref(it->msg);
	it->msg = NULL;
	s->kept -= it->size;
	release(s, it);
	it->size = sched_cost(it->e->msg_len, 0);
}

/* --- dispatching --------------------------------------------------------- */

static void
kick(struct scheduler *s)
{
	if (!s->stopped)
		event_active(s->pass, 0, 0);
}

/* Reserves the top item's bytes for its attempt: 0, or -1 when they do
 * not fit (kept messages of other waiting items are given up first). */
static int
admit(struct scheduler *s, struct sched_item *it)
{
	if (it->reserved) {		/* its message is kept: already counted */
		if (it->msg != NULL)
			s->kept -= it->size;
		return 0;
	}
	if (!fits(s, it->size) && s->kept > 0)
		for (size_t i = 0; i < s->n; i++)
			spill(s, s->heap[i]);
	if (!fits(s, it->size))
		return -1;
	reserve(s, it);
	return 0;
}

static void
on_pass(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	int64_t now = sched_now_ms();

	(void)fd;
	(void)what;
	evtimer_del(s->timer);
	if (s->stopped || s->disabled || s->held)
		return;
	while (s->n > 0 && s->running < s->concurrency &&
	    s->heap[0]->due <= now) {
		struct sched_item *it = s->heap[0];

		/* Over the budget: an ending attempt kicks the next pass. */
		if (admit(s, it) != 0)
			return;
		heap_pop(s);
		it->running = 1;
		it->flushes = s->flushes;
		s->running++;
		s->dispatch(s->arg, it);
		if (s->stopped)
			return;
	}
	if (s->n > 0 && s->running < s->concurrency) {
		int64_t wait = s->heap[0]->due - now;
		struct timeval tv;

		if (wait < 1)
			wait = 1;
		/* Bound the sleep: the clock may be changed under us. */
		if (wait > 60000)
			wait = 60000;
		tv.tv_sec = (time_t)(wait / 1000);
		tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
		evtimer_add(s->timer, &tv);
	}
}

struct scheduler *
scheduler_new(struct event_base *base, sched_dispatch_fn dispatch, void *arg)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->dispatch = dispatch;
	s->arg = arg;
	s->concurrency = 1;
	s->timer = evtimer_new(base, on_pass, s);
	s->pass = event_new(base, -1, 0, on_pass, s);
	return s;
}

static void
item_free(struct scheduler *s, struct sched_item *it)
{
	if (it->all_prev != NULL)
		it->all_prev->all_next = it->all_next;
	else if (s->all == it)
		s->all = it->all_next;
	if (it->all_next != NULL)
		it->all_next->all_prev = it->all_prev;
	free(it->admin_reason);
	qmsg_unref(it->msg);
	qentry_clear(it->e);
	free(it->e);
	free(it);
}

void
scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	while (s->all != NULL)		/* held ones too */
		item_free(s, s->all);
	free(s->heap);
	event_free(s->timer);
	event_free(s->pass);
	free(s);
}

void
scheduler_configure(struct scheduler *s, unsigned concurrency, int disabled)
{
	s->concurrency = concurrency ? concurrency : 1;
	s->disabled = disabled;
	kick(s);
}

void
scheduler_add(struct scheduler *s, struct qentry *e, struct qmsg *msg)
{
	struct sched_item *it = xcalloc(1, sizeof(*it));

	it->size = sched_cost(msg != NULL ? msg->len : e->msg_len,
	    msg != NULL);
	/* Keep the bytes only for an entry about to be dispatched, within
	 * the budget, so that a backlog never sits in memory. */
	if (msg != NULL && (s->disabled || s->held || s->stopped ||
	    s->running >= s->concurrency ||
	    e->next_attempt > sched_now_ms() || !fits(s, it->size))) {
		qmsg_unref(msg);
		msg = NULL;
		it->size = sched_cost(e->msg_len, 0);
	}
	if (msg != NULL) {
		reserve(s, it);
		s->kept += it->size;
	}
	it->msg = msg;
	it->e = e;
	it->due = e->next_attempt;
	it->all_next = s->all;
	if (s->all != NULL)
		s->all->all_prev = it;
	s->all = it;
	if (e->held) {			/* kept aside until released */
		spill(s, it);
		it->heap = SIZE_MAX;
		return;
	}
	heap_push(s, it);
	if (it->heap == 0)
		kick(s);
}

void
scheduler_set_budget(struct scheduler *s, uint64_t bytes)
{
	s->budget = bytes;
	kick(s);
}

uint64_t
scheduler_bytes(const struct scheduler *s)
{
	return s->bytes;
}

void
scheduler_retry(struct scheduler *s, struct sched_item *it, int64_t due)
{
	it->running = 0;
	s->running--;
	release(s, it);
	qmsg_unref(it->msg);		/* the next attempt reads the body */
	it->msg = NULL;
	it->size = sched_cost(it->e->msg_len, 0);
	/* A flush while the attempt was in flight covers it too. */
	if (it->flushes != s->flushes)
		due = 0;
	it->due = due;
	if (it->e->held)		/* held while in flight */
		it->heap = SIZE_MAX;
	else
		heap_push(s, it);
	kick(s);
}

void
scheduler_remove(struct scheduler *s, struct sched_item *it)
{
	s->running--;
	release(s, it);
	item_free(s, it);
	kick(s);
}

void
scheduler_hold(struct scheduler *s, unsigned reasons, int on)
{
	unsigned was = s->held;

	s->held = on ? s->held | reasons : s->held & ~reasons;
	if (was && !s->held)
		kick(s);
}

void
scheduler_flush(struct scheduler *s)
{
	s->flushes++;
	for (size_t i = 0; i < s->n; i++)
		s->heap[i]->due = 0;
	kick(s);
}

void
scheduler_wake(struct scheduler *s, struct sched_item *it)
{
	if (it->running || it->heap == SIZE_MAX)
		return;
	it->woken = 1;
	if (it->due > 0) {
		it->due = 0;
		sift_up(s, it->heap);
	}
	kick(s);
}

void
scheduler_foreach(struct scheduler *s,
    void (*fn)(void *arg, struct sched_item *), void *arg)
{
	for (struct sched_item *it = s->all; it != NULL; it = it->all_next)
		fn(arg, it);
}

void
scheduler_set_held(struct scheduler *s, struct sched_item *it, int on)
{
	if (it->running)
		return;
	if (on && !it->e->held) {
		it->e->held = 1;
		if (it->heap != SIZE_MAX)
			heap_delete(s, it->heap);
		spill(s, it);
	} else if (!on && it->e->held) {
		it->e->held = 0;
		it->due = 0;
		if (it->heap == SIZE_MAX)
			heap_push(s, it);
		kick(s);
	}
}

void
scheduler_dispatch_now(struct scheduler *s, struct sched_item *it)
{
	if (it->running)
		return;
	if (it->heap != SIZE_MAX)
		heap_delete(s, it->heap);
	if (!it->reserved)
		reserve(s, it);
	else if (it->msg != NULL)
		s->kept -= it->size;
	it->running = 1;
	it->flushes = s->flushes;
	s->running++;
	s->dispatch(s->arg, it);
}

void
scheduler_stop(struct scheduler *s)
{
	s->stopped = 1;
	evtimer_del(s->timer);
	event_del(s->pass);
}

size_t
scheduler_running(const struct scheduler *s)
{
	return s->running;
}

size_t
scheduler_waiting(const struct scheduler *s)
{
	return s->n;
}
