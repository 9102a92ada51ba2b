/* Unit tests: delivery/scheduler.c, scheduler_hold(): while any reason
 * holds, due entries wait; the last release dispatches them. The memory
 * budget (scheduler_set_budget) in sched_cost units (a message in memory,
 * shared by the entries of a commit, or streamed from its body file) and
 * a flush covering attempts in flight. */
#include "unit.h"

#include <event2/event.h>

#include "delivery/scheduler.h"
#include "queue/queue.h"

/* What an attempt on an entry of n message bytes holds when its message
 * is read from its body file. */
#define S(n)	sched_cost((n), 0)

struct seen {
	struct sched_item	*items[16];
	size_t			 n;
};

static void
dispatch(void *arg, struct sched_item *it)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->items[s->n++] = it;
}

static void
add(struct scheduler *s, const char *id)
{
	struct qentry *e = xcalloc(1, sizeof(*e));

	e->id = xstrdup(id);
	e->next_attempt = 0;		/* due now */
	scheduler_add(s, e, NULL);
}

/* An entry of `size` message bytes, due at `due`; with keep, its message
 * is handed over in memory as if just committed. */
static void
add_sized(struct scheduler *s, const char *id, size_t size, int64_t due,
    int keep)
{
	struct qentry *e = xcalloc(1, sizeof(*e));

	e->id = xstrdup(id);
	e->next_attempt = due;
	e->msg_len = size;		/* as the commit or the scan sets it */
	scheduler_add(s, e, keep ? qmsg_new(xcalloc(1, size + 1), size) :
	    NULL);
}

static const char *
id_of(const struct seen *seen, size_t i)
{
	return seen->items[i]->e->id;
}

static void
test_hold(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);

	(void)state;
	scheduler_configure(s, 10, 0);
	scheduler_hold(s, 1u << 0, 1);
	add(s, "a");
	add(s, "b");
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 0);
	assert_int_equal(scheduler_waiting(s), 2);

	/* Two reasons: releasing one is not enough; SIGHUP neither. */
	scheduler_hold(s, 1u << 1, 1);
	scheduler_hold(s, 1u << 0, 0);
	scheduler_flush(s);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 0);
	/* Holding again for a reason already on changes nothing. */
	scheduler_hold(s, 1u << 1, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 0);

	scheduler_hold(s, 1u << 1, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(scheduler_running(s), 2);
	assert_int_equal(scheduler_waiting(s), 0);

	/* A hold stops new attempts only: the running ones end as usual,
	 * and an entry put back waits for the release. */
	scheduler_hold(s, 1u << 0, 1);
	scheduler_retry(s, seen.items[0], 0);
	scheduler_remove(s, seen.items[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(scheduler_running(s), 0);
	assert_int_equal(scheduler_waiting(s), 1);
	scheduler_hold(s, 1u << 0, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	scheduler_remove(s, seen.items[2]);

	scheduler_free(s);
	event_base_free(base);
}

static void
test_cost(void **state)
{
	(void)state;
	/* In memory: the message itself. */
	assert_int_equal(sched_cost(0, 1), 0);
	assert_int_equal(sched_cost(100, 1), 100);
	assert_int_equal(sched_cost((size_t)1 << 30, 1), (size_t)1 << 30);
	/* Streamed: the view (at most SCHED_VIEW_MAX) and the stream's
	 * buffers: for a small message the connection's and twice the
	 * message, else SCHED_STREAM_COST whatever the size. */
	assert_int_equal(sched_cost(0, 0), SCHED_CONN_COST);
	assert_int_equal(sched_cost(100, 0), 100 + SCHED_CONN_COST + 200);
	assert_int_equal(sched_cost(2048, 0), 2048 + SCHED_CONN_COST + 4096);
	assert_int_equal(sched_cost(SCHED_VIEW_MAX, 0),
	    SCHED_VIEW_MAX + SCHED_CONN_COST + 2 * SCHED_VIEW_MAX);
	/* Never more than SCHED_STREAM_COST for the stream. */
	assert_int_equal(sched_cost(72 << 10, 0),
	    SCHED_VIEW_MAX + SCHED_STREAM_COST);
	assert_int_equal(sched_cost(SCHED_VIEW_MAX + 1, 0), SCHED_VIEW_MAX +
	    SCHED_CONN_COST + 2 * (SCHED_VIEW_MAX + 1));
	assert_int_equal(sched_cost((size_t)1 << 30, 0),
	    SCHED_VIEW_MAX + SCHED_STREAM_COST);
}

static void
test_budget(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);

	(void)state;
	scheduler_configure(s, 10, 0);
	scheduler_set_budget(s, 2 * S(40) + S(40) / 2);
	add_sized(s, "a", 40, 1, 0);
	add_sized(s, "b", 40, 2, 0);
	add_sized(s, "c", 40, 3, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* c would make 3 * S(40): it waits although a slot is free. */
	assert_int_equal(seen.n, 2);
	assert_true(scheduler_bytes(s) == 2 * S(40));
	assert_int_equal(scheduler_waiting(s), 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	/* An attempt ending releases its bytes and starts the next. */
	scheduler_remove(s, seen.items[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	assert_string_equal(id_of(&seen, 2), "c");
	assert_true(scheduler_bytes(s) == 2 * S(40));
	scheduler_retry(s, seen.items[1], sched_now_ms() + 3600000);
	assert_true(scheduler_bytes(s) == S(40));

	/* Larger than the whole budget: it waits for the others, then runs
	 * alone; nothing else starts beside it. A streamed message costs
	 * the same from SCHED_VIEW_MAX on, whatever its size. */
	scheduler_set_budget(s, S(40) + 100);
	add_sized(s, "big", (size_t)1 << 30, 4, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	scheduler_remove(s, seen.items[2]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 4);
	assert_string_equal(id_of(&seen, 3), "big");
	assert_true(scheduler_bytes(s) == S((size_t)1 << 30));
	assert_true(scheduler_bytes(s) == SCHED_VIEW_MAX + SCHED_STREAM_COST);
	add_sized(s, "small", 1, 5, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 4);
	scheduler_remove(s, seen.items[3]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 5);
	assert_string_equal(id_of(&seen, 4), "small");
	scheduler_remove(s, seen.items[4]);
	assert_true(scheduler_bytes(s) == 0);

	/* A just-committed message is kept for its attempt only when it
	 * fits (costing its size); one that does not is read from its
	 * body file at dispatch (costing a stream). */
	scheduler_set_budget(s, 100);
	add_sized(s, "kept", 60, 6, 1);
	assert_true(scheduler_bytes(s) == 60);
	add_sized(s, "dropped", 60, 7, 1);
	assert_true(scheduler_bytes(s) == 60);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 6);
	assert_string_equal(id_of(&seen, 5), "kept");
	assert_non_null(seen.items[5]->msg);
	assert_int_equal(seen.items[5]->size, 60);
	scheduler_remove(s, seen.items[5]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 7);
	assert_string_equal(id_of(&seen, 6), "dropped");
	assert_null(seen.items[6]->msg);
	assert_int_equal(seen.items[6]->size, S(60));
	assert_true(scheduler_bytes(s) == S(60));
	scheduler_remove(s, seen.items[6]);

	/* A kept message never blocks an older entry: it is given up. */
	add_sized(s, "young", 60, 9, 1);
	add_sized(s, "old", 50, 8, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 8);
	assert_string_equal(id_of(&seen, 7), "old");
	assert_true(scheduler_bytes(s) == S(50));
	scheduler_remove(s, seen.items[7]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 9);
	assert_string_equal(id_of(&seen, 8), "young");
	assert_null(seen.items[8]->msg);
	assert_true(scheduler_bytes(s) == S(60));
	scheduler_remove(s, seen.items[8]);

	/* 0: no limit; a raised budget starts what waited at once. */
	scheduler_set_budget(s, 10);
	add_sized(s, "u1", 10, 10, 0);
	add_sized(s, "u2", 10, 10, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 10);
	scheduler_set_budget(s, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 11);
	scheduler_remove(s, seen.items[9]);
	scheduler_remove(s, seen.items[10]);
	assert_true(scheduler_bytes(s) == 0);

	scheduler_free(s);
	event_base_free(base);
}

/*
 * One message in memory shared by the entries of a commit: each entry
 * holds a reference and is charged for it; a retry gives its reference
 * up (the next attempt reads the body file) and is charged a stream; so
 * does an entry that will not be dispatched at once. The message is
 * freed with its last reference (ASan: no leak, no double free).
 */
static void
test_shared_message(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);
	struct qmsg *m = qmsg_new(xstrdup("0123456789"), 10);
	int64_t later = sched_now_ms() + 3600000;
	struct qentry *e;

	(void)state;
	scheduler_configure(s, 10, 0);
	for (int i = 0; i < 3; i++) {
		e = xcalloc(1, sizeof(*e));
		e->id = xasprintf("M.1.%d", i + 1);
		e->msg_len = 10;
		e->next_attempt = i < 2 ? 0 : later;	/* the third waits */
		scheduler_add(s, e, qmsg_ref(m));
	}
	/* The waiting one gave its reference up at once. */
	assert_int_equal(m->refs, 3);
	assert_true(scheduler_bytes(s) == 20);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	assert_ptr_equal(seen.items[0]->msg, m);
	assert_ptr_equal(seen.items[1]->msg, m);
	assert_true(scheduler_bytes(s) == 20);
	scheduler_retry(s, seen.items[0], later);
	assert_int_equal(m->refs, 2);
	assert_null(seen.items[0]->msg);
	assert_int_equal(seen.items[0]->size, S(10));
	assert_true(scheduler_bytes(s) == 10);
	qmsg_unref(m);				/* the committer's */
	scheduler_remove(s, seen.items[1]);	/* the last reference */
	assert_true(scheduler_bytes(s) == 0);

	/* Held: nothing is kept, whatever the budget. */
	scheduler_hold(s, 1u << 2, 1);
	m = qmsg_new(xstrdup("abc"), 3);
	e = xcalloc(1, sizeof(*e));
	e->id = xstrdup("H.1.1");
	e->msg_len = 3;
	scheduler_add(s, e, qmsg_ref(m));
	assert_int_equal(m->refs, 1);
	qmsg_unref(m);
	assert_true(scheduler_bytes(s) == 0);
	scheduler_hold(s, 1u << 2, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	assert_string_equal(id_of(&seen, 2), "H.1.1");
	assert_null(seen.items[2]->msg);
	assert_true(scheduler_bytes(s) == S(3));
	scheduler_remove(s, seen.items[2]);

	scheduler_free(s);		/* frees the two still waiting */
	event_base_free(base);
}

/* SIGHUP: waiting entries are due at once, and so are those in flight
 * when their attempt ends (once: the next retry keeps its time). */
static void
test_flush_in_flight(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);
	int64_t later = sched_now_ms() + 3600000;

	(void)state;
	scheduler_configure(s, 10, 0);
	add(s, "a");
	add(s, "b");
	add_sized(s, "c", 1, later, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	scheduler_flush(s);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);		/* c, waiting: due now */
	scheduler_retry(s, seen.items[0], later);	/* a: in flight */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 4);
	assert_string_equal(id_of(&seen, 3), "a");
	/* Dispatched after the flush: its retry keeps its time. */
	scheduler_retry(s, seen.items[3], later);
	scheduler_retry(s, seen.items[2], later);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 4);
	assert_int_equal(scheduler_waiting(s), 2);
	scheduler_retry(s, seen.items[1], later);	/* b: in flight */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 5);
	assert_string_equal(id_of(&seen, 4), "b");
	scheduler_remove(s, seen.items[4]);

	scheduler_free(s);
	event_base_free(base);
}

/* scheduler_wake: a waiting item (parked by shaping) is due now and
 * marked woken; an item in flight is left alone. */
static void
test_wake(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);
	int64_t later = sched_now_ms() + 3600000;

	(void)state;
	scheduler_configure(s, 10, 0);
	add(s, "a");
	add_sized(s, "b", 1, later, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 1);
	scheduler_wake(s, seen.items[0]);	/* in flight: nothing */
	assert_false(seen.items[0]->woken);
	scheduler_retry(s, seen.items[0], later);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 1);
	scheduler_wake(s, seen.items[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	assert_string_equal(id_of(&seen, 1), "a");
	assert_true(seen.items[1]->woken);
	assert_int_equal(scheduler_waiting(s), 1);	/* b keeps its time */
	scheduler_remove(s, seen.items[1]);

	scheduler_free(s);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_shared_message),
		cmocka_unit_test(test_flush_in_flight),
		cmocka_unit_test(test_wake),
	};

	return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
