/* Unit tests: delivery/shaper — connection slots and waiters, rates,
 * backoff and its recovery, suspension, bounces, stats, and a table that
 * drops only what may go. */
#include "unit.h"

#include "delivery/shaper.h"

#define RULES \
	"backoff code 421 greeting\n" \
	"suspend 10m code 4xx /daily quota/\n" \
	"bounce status 5.7.1 /blocked/\n" \
	"backoff status 4.7\n"

static struct shaping *
shaping_of(const char *ini)
{
	char *err = NULL;
	struct shaping *sh = shaping_parse(ini, RULES, &err);

	if (sh == NULL)
		fail_msg("%s", err);
	return sh;
}

/* A table over one shaping.ini; the caller frees both. */
static struct shaper *
table(const char *ini, struct shaping **sh, size_t capacity)
{
	struct shaper *sp;

	*sh = shaping_of(ini);
	sp = shaper_new(*sh, capacity, 60000);
	shaping_unref(*sh);		/* the table holds it */
	return sp;
}

static struct shaper_dest *
dest(struct shaper *sp, struct shaping *sh, const char *domain,
    uint64_t now)
{
	char key[SHAPING_KEY_MAX];
	const struct shaping_limits *l = shaping_lookup(sh, domain, NULL, 0,
	    key);

	return shaper_get(sp, key, l, now);
}

struct woken {
	int	 n;
	int	 order[8];
};

static struct woken woken;

static void
on_slot(void *arg)
{
	woken.order[woken.n++] = (int)(intptr_t)arg;
}

static void
test_slots(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=2\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 1000);
	struct shaper_waiter w[3];

	(void)state;
	memset(&woken, 0, sizeof(woken));
	assert_string_equal(shaper_key(d), "a.test");
	assert_true(shaper_may_connect(d, 1000) == 0);
	assert_true(shaper_may_connect(d, 1000) == 0);
	assert_true(shaper_may_connect(d, 1000) == SHAPER_FULL);
	for (int i = 0; i < 3; i++)
		shaper_wait(d, &w[i], on_slot, (void *)(intptr_t)(i + 1));
	shaper_cancel(&w[1]);
	shaper_cancel(&w[1]);		/* twice is harmless */
	/* One slot frees: the first waiter, and only it. */
	shaper_closed(d, 1001);
	assert_int_equal(woken.n, 1);
	assert_int_equal(woken.order[0], 1);
	assert_null(w[0].d);
	assert_true(shaper_may_connect(d, 1002) == 0);
	/* Both free: the one left. */
	shaper_closed(d, 1003);
	shaper_closed(d, 1003);
	assert_int_equal(woken.n, 2);
	assert_int_equal(woken.order[1], 3);
	/* A manual wake with nobody waiting does nothing. */
	shaper_wake(d, 5);
	assert_int_equal(woken.n, 2);
	/* Another domain has its own slots. */
	assert_true(shaper_may_connect(dest(sp, sh, "b.test", 1004),
	    1004) == 0);
	shaper_release(d);
	shaper_free(sp);
}

static void
test_rates(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=0\n"
	    "max_connection_rate=10/s\nmax_message_rate=2/s\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);

	(void)state;
	assert_true(shaper_may_connect(d, 5000) == 0);
	assert_true(shaper_may_connect(d, 5000) == 100);
	assert_true(shaper_may_connect(d, 5060) == 40);
	assert_true(shaper_may_connect(d, 5100) == 0);
	assert_true(shaper_may_send(d, 5100) == 0);
	assert_true(shaper_may_send(d, 5100) == 500);
	assert_true(shaper_may_send(d, 5600) == 0);
	/* A reload with other limits keeps the rates' state. */
	{
		struct shaping *sh2 = shaping_of("max_message_rate=1/s\n");
		char key[SHAPING_KEY_MAX];
		const struct shaping_limits *l = shaping_lookup(sh2, "a.test",
		    NULL, 0, key);

		shaper_set_shaping(sp, sh2);
		shaping_unref(sh2);
		assert_ptr_equal(shaper_get(sp, key, l, 5700), d);
		assert_int_equal(shaper_limits(d)->max_message_rate.n, 1);
		assert_int_equal(shaper_limits(d)->max_connections, 20);
		assert_true(shaper_may_send(d, 5700) == 400);
		assert_true(shaper_may_send(d, 6100) == 0);
		assert_true(shaper_may_send(d, 6200) == 900);
		shaper_release(d);
	}
	shaper_release(d);
	shaper_free(sp);
}

/* Paced: the rates are a gate's, shown but not taken here; this
 * process's part of the connection limit still is. */
static void
test_paced(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=4\n"
	    "max_connection_rate=1/s\nmax_message_rate=1/s\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_stat st;

	(void)state;
	shaper_pace(d, 2);		/* one of two workers: 2 of 4 */
	assert_true(shaper_may_connect(d, 5000) == 0);
	assert_true(shaper_may_connect(d, 5000) == 0);
	assert_true(shaper_may_connect(d, 5000) == SHAPER_FULL);
	shaper_stat(d, 5000, &st);
	assert_int_equal(st.limit, 2);
	assert_int_equal(shaper_limits(d)->max_connections, 4);
	shaper_pace(d, 8);		/* a part is one at least */
	shaper_closed(d, 5000);
	shaper_closed(d, 5000);
	assert_true(shaper_may_connect(d, 5000) == 0);
	assert_true(shaper_may_connect(d, 5000) == SHAPER_FULL);
	assert_true(shaper_may_send(d, 5000) == 0);
	assert_true(shaper_may_send(d, 5000) == 0);
	assert_int_equal(shaper_limits(d)->max_message_rate.n, 1);
	assert_int_equal(shaper_limits(d)->max_connection_rate.n, 1);
	shaper_release(d);
	shaper_free(sp);
}

/* Paced in parts: beyond its part a process borrows up to the whole
 * limit, in normal mode only; and a backoff ends once its step reaches
 * the part (not the whole limit, which a part never reaches). */
static void
test_paced_borrow(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=4\nbackoff_interval=0\n"
	    "backoff_recover=1\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_stat st;
	uint64_t t = 5000;

	(void)state;
	assert_true(shaper_may_borrow(d, t) == SHAPER_FULL);	/* unpaced */
	shaper_pace(d, 1);
	assert_true(shaper_may_borrow(d, t) == SHAPER_FULL);	/* no parts */
	shaper_pace(d, 2);
	assert_true(shaper_may_connect(d, t) == 0);
	assert_true(shaper_may_connect(d, t) == 0);
	assert_true(shaper_may_connect(d, t) == SHAPER_FULL);
	assert_true(shaper_may_borrow(d, t) == 0);
	assert_true(shaper_may_borrow(d, t) == 0);
	assert_true(shaper_may_borrow(d, t) == SHAPER_FULL);	/* the whole */
	shaper_stat(d, t, &st);
	assert_int_equal(st.inflight, 4);
	assert_int_equal(st.limit, 2);
	for (int i = 0; i < 4; i++)
		shaper_closed(d, t);
	/* Backoff: no borrowing; one clean delivery a step (1 -> 2), and 2
	 * is the part: normal again. */
	assert_true(shaper_may_connect(d, t) == 0);
	assert_int_equal(shaper_result(d, 421, "", "Too busy", 1, t),
	    SHAPING_BACKOFF);
	assert_true(shaper_may_borrow(d, t) == SHAPER_FULL);
	shaper_result(d, 250, NULL, "ok", 0, t);
	shaper_stat(d, t, &st);
	assert_int_equal(st.mode, SHAPER_NORMAL);
	assert_int_equal(st.limit, 2);
	assert_true(shaper_may_connect(d, t) == 0);
	assert_true(shaper_may_borrow(d, t) == 0);
	shaper_release(d);
	shaper_free(sp);
}

static void
test_backoff(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=4\nbackoff_interval=60\n"
	    "backoff_recover=2\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_stat st;
	FILE *cap = capture_start();
	char *log;
	uint64_t t = 10000;

	(void)state;
	log_set_level(LOG_INFO);
	assert_true(shaper_may_connect(d, t) == 0);
	assert_int_equal(shaper_result(d, 421, "", "Too busy", 1, t),
	    SHAPING_BACKOFF);
	shaper_closed(d, t);
	shaper_stat(d, t, &st);
	assert_int_equal(st.mode, SHAPER_BACKOFF);
	assert_int_equal(st.limit, 1);
	assert_string_equal(st.last, "421 Too busy");
	/* Spaced: the first connection a backoff_interval later; but the
	 * attempt that met the 421 tries its next MX at once (within the
	 * limit of 1). */
	assert_true(shaper_may_connect(d, t) == 60000);
	assert_true(shaper_may_connect_next(d, t) == 0);
	assert_true(shaper_may_connect_next(d, t) == SHAPER_FULL);
	shaper_closed(d, t);
	t += 60000;
	assert_true(shaper_may_connect(d, t) == 0);
	assert_true(shaper_may_connect(d, t + 70000) == SHAPER_FULL);
	/* A 220 greeting is not a delivery; two 250s are a step: two
	 * connections, 30 s apart. */
	shaper_result(d, 220, NULL, "hello", 1, t);
	shaper_result(d, 250, "2.0.0", "ok", 0, t);
	shaper_stat(d, t, &st);
	assert_int_equal(st.limit, 1);
	shaper_result(d, 250, "2.0.0", "ok", 0, t + 1);
	shaper_stat(d, t + 1, &st);
	assert_int_equal(st.step, 1);
	assert_int_equal(st.limit, 2);
	assert_true(shaper_may_connect(d, t + 1000) == 29000);
	assert_true(shaper_may_connect(d, t + 30000) == 0);
	/* A new throttling reply starts over. */
	assert_int_equal(shaper_result(d, 451, "4.7.0", "slow down", 0,
	    t + 30000), SHAPING_BACKOFF);
	shaper_stat(d, t + 30000, &st);
	assert_int_equal(st.step, 0);
	assert_int_equal(st.limit, 1);
	assert_string_equal(st.last, "451 4.7.0 slow down");
	shaper_closed(d, t + 30000);
	shaper_closed(d, t + 30000);
	/* Four clean deliveries: 1 -> 2 -> 4, the normal limit. */
	for (int i = 0; i < 4; i++)
		shaper_result(d, 250, NULL, "ok", 0, t + 31000);
	shaper_stat(d, t + 31000, &st);
	assert_int_equal(st.mode, SHAPER_NORMAL);
	assert_int_equal(st.limit, 4);
	assert_string_equal(st.last, "");
	/* Normal: no spacing. */
	for (int i = 0; i < 4; i++)
		assert_true(shaper_may_connect(d, t + 31000) == 0);
	/* Ordinary failures change nothing. */
	assert_int_equal(shaper_result(d, 550, "5.1.1", "no such user", 0,
	    t + 31000), SHAPING_NONE);
	assert_int_equal(shaper_result(d, 0, NULL, "Connection refused", 0,
	    t + 31000), SHAPING_NONE);
	shaper_stat(d, t + 31000, &st);
	assert_int_equal(st.mode, SHAPER_NORMAL);
	log = capture_end(cap);
	log_set_level(LOG_WARN);
	assert_non_null(strstr(log, "shaping a.test: normal -> backoff "
	    "(config/shaping_rules:1: 421 Too busy): 1 connection(s), 60s "
	    "apart"));
	assert_non_null(strstr(log, "shaping a.test: backoff step 1: 2 "
	    "connection(s), 30s apart"));
	assert_non_null(strstr(log, "shaping a.test: backoff -> normal"));
	free(log);
	shaper_release(d);
	shaper_free(sp);
}

static void
test_recovery_wakes(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=0\nbackoff_interval=0\n"
	    "backoff_recover=1\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_waiter w[3];
	struct shaper_stat st;

	(void)state;
	memset(&woken, 0, sizeof(woken));
	shaper_result(d, 421, "4.7.0", "later", 0, 0);
	assert_true(shaper_may_connect(d, 0) == 0);	/* no spacing */
	assert_true(shaper_may_connect(d, 0) == SHAPER_FULL);
	for (int i = 0; i < 3; i++)
		shaper_wait(d, &w[i], on_slot, (void *)(intptr_t)(i + 1));
	/* A step raises the limit to 2: one waiter goes. */
	shaper_result(d, 250, NULL, "ok", 0, 1);
	assert_int_equal(woken.n, 1);
	/* Unlimited normally: normal after SHAPER_RECOVER_STEPS steps. */
	for (int i = 1; i < SHAPER_RECOVER_STEPS; i++) {
		shaper_stat(d, 2, &st);
		assert_int_equal(st.mode, SHAPER_BACKOFF);
		shaper_result(d, 250, NULL, "ok", 0, 2);
	}
	shaper_stat(d, 2, &st);
	assert_int_equal(st.mode, SHAPER_NORMAL);
	assert_int_equal(st.limit, 0);
	assert_int_equal(woken.n, 3);
	shaper_release(d);
	shaper_free(sp);
}

static void
test_suspend(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("backoff_interval=10\n", &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_stat st;
	FILE *cap = capture_start();
	char *log;

	(void)state;
	log_set_level(LOG_INFO);
	assert_true(shaper_may_connect(d, 1000) == 0);
	assert_int_equal(shaper_result(d, 452, "4.5.3", "Daily quota "
	    "exceeded", 0, 1000), SHAPING_SUSPEND);
	/* No connection, no message on the open one. */
	assert_true(shaper_may_connect(d, 1000) == 600000);
	assert_true(shaper_may_send(d, 301000) == 300000);
	/* A backoff reply meanwhile does not end it; a longer suspension
	 * extends it, a shorter one does not shorten it. */
	shaper_result(d, 421, "4.7.0", "x", 0, 2000);
	shaper_result(d, 452, NULL, "daily quota", 0, 2000);
	shaper_stat(d, 2000, &st);
	assert_int_equal(st.mode, SHAPER_SUSPENDED);
	assert_true(st.until == 602000);
	assert_int_equal(st.inflight, 1);
	shaper_closed(d, 2000);
	/* Over: backoff, from its first step, no spacing at first. */
	assert_true(shaper_may_connect(d, 602000) == 0);
	shaper_stat(d, 602000, &st);
	assert_int_equal(st.mode, SHAPER_BACKOFF);
	assert_int_equal(st.limit, 1);
	assert_true(st.until == 0);
	log = capture_end(cap);
	log_set_level(LOG_WARN);
	assert_non_null(strstr(log, "shaping a.test: normal -> suspended for "
	    "600s (config/shaping_rules:2: 452 4.5.3 Daily quota "
	    "exceeded)"));
	assert_non_null(strstr(log, "shaping a.test: suspended -> backoff"));
	free(log);
	shaper_release(d);
	shaper_free(sp);
}

static void
test_bounce(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table(NULL, &sh, 100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaper_stat st;

	(void)state;
	assert_int_equal(shaper_result(d, 554, "5.7.1", "Blocked by policy",
	    0, 1), SHAPING_BOUNCE);
	shaper_stat(d, 1, &st);
	assert_int_equal(st.mode, SHAPER_NORMAL);
	assert_int_equal(st.limit, 20);
	assert_string_equal(shaper_mode_name(SHAPER_SUSPENDED), "suspended");
	shaper_release(d);
	shaper_free(sp);
}

struct seen {
	int	 n;
	char	 keys[8][32];
	int	 modes[8];
};

static void
collect(void *arg, const struct shaper_stat *st)
{
	struct seen *s = arg;

	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", st->key);
	s->modes[s->n++] = st->mode;
}

static void
test_table(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table(NULL, &sh, 3);
	struct shaper_dest *a, *b, *c;
	struct seen seen = { 0 };
	char key[32];

	(void)state;
	a = dest(sp, sh, "a.test", 0);		/* held */
	b = dest(sp, sh, "b.test", 1);
	shaper_result(b, 421, NULL, "busy", 1, 1);	/* backoff */
	shaper_release(b);
	c = dest(sp, sh, "c.test", 2);
	shaper_release(c);
	assert_int_equal(shaper_size(sp), 3);
	shaper_foreach(sp, 3, collect, &seen);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.keys[0], "c.test");
	assert_string_equal(seen.keys[2], "a.test");
	assert_int_equal(seen.modes[1], SHAPER_BACKOFF);
	/* Full: the least recently used that may go goes (c), never the held
	 * one (a) nor one in backoff (b). */
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "x%d.test", i);
		shaper_release(dest(sp, sh, key, 10 + i));
		assert_int_equal(shaper_size(sp), 3);
	}
	assert_true(dest(sp, sh, "a.test", 100) == a);
	shaper_release(a);
	/* Idle for idle_ms: dropped, but for what must stay. */
	shaper_release(a);
	shaper_release(dest(sp, sh, "z.test", 200000));
	assert_int_equal(shaper_size(sp), 2);		/* b and z */
	shaper_free(sp);
	/* A waiter keeps its destination; shaper_free forgets it. */
	{
		struct shaper_waiter w;
		struct shaper_dest *d;

		sp = table("max_connections=1\n", &sh, 1);
		d = dest(sp, sh, "w.test", 0);
		assert_true(shaper_may_connect(d, 0) == 0);
		shaper_wait(d, &w, on_slot, NULL);
		shaper_release(d);
		shaper_release(dest(sp, sh, "v.test", 1000000));
		assert_int_equal(shaper_size(sp), 2);
		shaper_free(sp);
		assert_null(w.d);
	}
}

/* The administrator's limits: over the configuration's at every
 * shaper_get, parsed as shaping.ini is, kept until a new shaping. */
static void
test_override(void **state)
{
	struct shaping *sh;
	struct shaper *sp = table("max_connections=4\nidle_timeout=30\n", &sh,
	    100);
	struct shaper_dest *d = dest(sp, sh, "a.test", 0);
	struct shaping_limits lim;
	struct shaper_waiter w;
	unsigned mask = 0;
	char *why = NULL;

	(void)state;
	memset(&woken, 0, sizeof(woken));
	memset(&lim, 0, sizeof(lim));
	assert_int_equal(shaping_limit_set(&lim, &mask, "max_connections", "1",
	    &why), 0);
	assert_int_equal(shaping_limit_set(&lim, &mask, "max_message_rate",
	    "2/s", &why), 0);
	assert_int_equal(shaping_limit_set(&lim, &mask, "max_connections",
	    "x", &why), -1);
	assert_string_equal(why, "max_connections: expected a whole number "
	    "from 0 to 100000, got 'x'");
	free(why);
	assert_int_equal(shaping_limit_set(&lim, &mask, "nope", "1", &why), -1);
	assert_string_equal(why, "nope: not a limit of shaping.ini");
	free(why);
	assert_string_equal(shaping_limit_name(0), "max_connections");
	shaper_override(d, &lim, mask);
	assert_int_equal(shaper_overridden(d), mask);
	assert_int_equal(shaper_limits(d)->max_connections, 1);
	assert_int_equal(shaper_limits(d)->idle_timeout, 30);
	assert_int_equal(shaper_limits(d)->max_message_rate.n, 2);
	/* The configuration's limits come again with each get: the override
	 * stays over them. */
	shaper_release(d);
	d = dest(sp, sh, "a.test", 10);
	assert_int_equal(shaper_limits(d)->max_connections, 1);
	assert_true(shaper_may_connect(d, 10) == 0);
	assert_true(shaper_may_connect(d, 10) == SHAPER_FULL);
	shaper_wait(d, &w, on_slot, (void *)(intptr_t)7);
	/* A higher limit wakes the waiter. */
	mask = 0;
	assert_int_equal(shaping_limit_set(&lim, &mask, "max_connections", "3",
	    &why), 0);
	shaper_override(d, &lim, mask);
	assert_int_equal(woken.n, 1);
	assert_int_equal(shaper_limits(d)->max_connections, 3);
	assert_int_equal(shaper_limits(d)->max_message_rate.n, 2);
	/* Kept while overridden, even idle and released. */
	shaper_closed(d, 20);
	shaper_release(d);
	shaper_release(dest(sp, sh, "z.test", 500000));
	assert_non_null(shaper_find(sp, "a.test"));
	/* A reload (new shaping) ends it. */
	sh = shaping_of("max_connections=5\n");
	shaper_set_shaping(sp, sh);
	shaping_unref(sh);
	d = shaper_find(sp, "a.test");
	assert_int_equal(shaper_overridden(d), 0);
	assert_int_equal(shaper_limits(d)->max_connections, 4);	/* until a get */
	assert_int_equal(shaper_limits(d)->max_message_rate.n, 0);
	shaper_free(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_paced),
		cmocka_unit_test(test_paced_borrow),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_recovery_wakes),
		cmocka_unit_test(test_suspend),
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests_name("delivery_shaper", tests, NULL,
	    NULL);
}
