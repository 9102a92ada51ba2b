/* Unit tests: delivery/scheduler.c, scheduler_hold(): while any reason
 * holds, due entries wait; the last release dispatches them. The memory
 * budget (scheduler_set_budget) and a flush covering attempts in
 * flight. */
#include "unit.h"

#include <event2/event.h>

#include "delivery/scheduler.h"

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
	scheduler_add(s, e, NULL, 0);
}

/* An entry of `size` message bytes, due at `due`; with keep, its message
 * is handed over as if just committed. */
static void
add_sized(struct scheduler *s, const char *id, size_t size, int64_t due,
    int keep)
{
	struct qentry *e = xcalloc(1, sizeof(*e));

	e->id = xstrdup(id);
	e->next_attempt = due;
	if (keep) {
		scheduler_add(s, e, xcalloc(1, size + 1), size);
		return;
	}
	e->msg_len = size;		/* as the start-up scan knows it */
	scheduler_add(s, e, NULL, 0);
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
test_budget(void **state)
{
	struct event_base *base = event_base_new();
	struct seen seen = { { NULL }, 0 };
	struct scheduler *s = scheduler_new(base, dispatch, &seen);

	(void)state;
	scheduler_configure(s, 10, 0);
	scheduler_set_budget(s, 100);
	add_sized(s, "a", 40, 1, 0);
	add_sized(s, "b", 40, 2, 0);
	add_sized(s, "c", 40, 3, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* c would make 120 bytes: it waits although a slot is free. */
	assert_int_equal(seen.n, 2);
	assert_true(scheduler_bytes(s) == 80);
	assert_int_equal(scheduler_waiting(s), 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 2);
	/* An attempt ending releases its bytes and starts the next. */
	scheduler_remove(s, seen.items[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	assert_string_equal(id_of(&seen, 2), "c");
	assert_true(scheduler_bytes(s) == 80);
	scheduler_retry(s, seen.items[1], sched_now_ms() + 3600000);
	assert_true(scheduler_bytes(s) == 40);

	/* Larger than the whole budget: it waits for the others, then runs
	 * alone; nothing else starts beside it. */
	add_sized(s, "big", 500, 4, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 3);
	scheduler_remove(s, seen.items[2]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 4);
	assert_string_equal(id_of(&seen, 3), "big");
	assert_true(scheduler_bytes(s) == 500);
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
	 * fits; one that does not is read again at dispatch. */
	add_sized(s, "kept", 60, 6, 1);
	assert_true(scheduler_bytes(s) == 60);
	add_sized(s, "dropped", 60, 7, 1);
	assert_true(scheduler_bytes(s) == 60);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 6);
	assert_string_equal(id_of(&seen, 5), "kept");
	assert_non_null(seen.items[5]->msg);
	scheduler_remove(s, seen.items[5]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 7);
	assert_string_equal(id_of(&seen, 6), "dropped");
	assert_null(seen.items[6]->msg);
	scheduler_remove(s, seen.items[6]);

	/* A kept message never blocks an older entry: it is given up. */
	add_sized(s, "young", 60, 9, 1);
	add_sized(s, "old", 50, 8, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 8);
	assert_string_equal(id_of(&seen, 7), "old");
	assert_true(scheduler_bytes(s) == 50);
	scheduler_remove(s, seen.items[7]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(seen.n, 9);
	assert_string_equal(id_of(&seen, 8), "young");
	assert_null(seen.items[8]->msg);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_flush_in_flight),
	};

	return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
