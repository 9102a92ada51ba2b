/* Unit tests: delivery/scheduler.c, scheduler_hold(): while any reason
 * holds, due entries wait; the last release dispatches them. */
#include "unit.h"

#include <event2/event.h>

#include "delivery/scheduler.h"

struct seen {
	struct sched_item	*items[8];
	size_t			 n;
};

static void
dispatch(void *arg, struct sched_item *it)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold),
	};

	return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
