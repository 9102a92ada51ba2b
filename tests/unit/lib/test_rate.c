/* Unit tests: lib/rate — parsing "N/unit" (golden and bad cases), and the
 * GCRA limiter: spacing, the window bound, bursts, waiting without
 * consuming. */
#include "unit.h"

#include "lib/rate.h"

static void
test_parse(void **state)
{
	static const struct {
		const char	*in;
		uint32_t	 n, period;
		const char	*back;
	} good[] = {
		{ "10/s", 10, 1, "10/s" },
		{ "600/m", 600, 60, "600/m" },
		{ "3600/h", 3600, 3600, "3600/h" },
		{ "100000/d", 100000, 86400, "100000/d" },
		{ "1/h", 1, 3600, "1/h" },
		{ "7/S", 7, 1, "7/s" },
		{ "010/m", 10, 60, "10/m" },
		{ "1000000/s", 1000000, 1, "1000000/s" },
		{ "", 0, 1, "" },
	};
	static const struct {
		const char	*in;
		const char	*why;
	} bad[] = {
		{ "10", "not a rate" }, { "10/", "not a rate" },
		{ "/s", "not a rate" }, { "10/x", "not a rate" },
		{ "10/sec", "not a rate" }, { "10 /s", "not a rate" },
		{ "10/ s", "not a rate" }, { "-1/s", "not a rate" },
		{ "+1/s", "not a rate" }, { "1.5/s", "not a rate" },
		{ "ten/s", "not a rate" }, { "10/s ", "not a rate" },
		{ "0/s", "zero" }, { "000/h", "zero" },
		{ "1000001/s", "too large" },
		{ "99999999999999999999999/s", "too large" },
	};
	char out[RATE_TEXT_MAX];
	const char *why;
	struct rate r;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&r, 0xff, sizeof(r));
		why = NULL;
		assert_int_equal(rate_parse(good[i].in, &r, &why), 0);
		assert_null(why);
		assert_int_equal(r.n, good[i].n);
		assert_int_equal(r.period, good[i].period);
		assert_int_equal(r.burst, 1);
		assert_true(r.tat == 0);
		assert_string_equal(rate_format(&r, out), good[i].back);
	}
	assert_int_equal(rate_parse(NULL, &r, &why), 0);
	assert_true(rate_unlimited(&r));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rate_init(&r, 5, 60, 1);
		why = NULL;
		assert_int_equal(rate_parse(bad[i].in, &r, &why), -1);
		assert_non_null(why);
		if (strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
			fail_msg("'%s': got '%s', want '%s...'", bad[i].in, why,
			    bad[i].why);
		assert_int_equal(r.n, 5);	/* untouched */
	}
	rate_init(&r, 3, 5, 1);
	assert_string_equal(rate_format(&r, out), "3/5s");
}

/* Tries every ms over ms_total ms; counts what was allowed, and checks no
 * window of window_ms holds more than max. */
static unsigned
hammer(struct rate *r, uint64_t start, uint64_t ms_total, uint64_t window_ms,
    unsigned max)
{
	uint64_t *at = xcalloc(ms_total + 1, sizeof(*at));
	unsigned n = 0, lo = 0;

	for (uint64_t t = start; t < start + ms_total; t++) {
		if (rate_take(r, t) != 0)
			continue;
		at[n++] = t;
		while (at[lo] + window_ms <= t)
			lo++;
		if (n - lo > max)
			fail_msg("%u events in the %llu ms before %llu", n - lo,
			    (unsigned long long)window_ms,
			    (unsigned long long)t);
	}
	free(at);
	return n;
}

static void
test_window(void **state)
{
	struct rate r;
	unsigned n;

	(void)state;
	/* 10/s: never more than 10 in any second, 100 in 10 s. */
	assert_int_equal(rate_parse("10/s", &r, &(const char *){ NULL }), 0);
	n = hammer(&r, 5000, 10000, 1000, 10);
	assert_int_equal(n, 100);
	/* 7/s: T rounds up (142858 µs), so never 8 in a second. */
	assert_int_equal(rate_parse("7/s", &r, &(const char *){ NULL }), 0);
	n = hammer(&r, 0, 20000, 1000, 7);
	assert_true(n >= 139 && n <= 140);
	/* 600/m is 10/s, evenly. */
	assert_int_equal(rate_parse("600/m", &r, &(const char *){ NULL }), 0);
	n = hammer(&r, 1, 60000, 1000, 10);
	assert_int_equal(n, 600);
	/* 3600/h: one a second. */
	assert_int_equal(rate_parse("3600/h", &r, &(const char *){ NULL }), 0);
	n = hammer(&r, 1, 10000, 1000, 1);
	assert_int_equal(n, 10);
	/* Faster than a millisecond: every try passes. */
	rate_init(&r, RATE_MAX, 1, 1);
	n = hammer(&r, 0, 1000, 1000, 1000);
	assert_int_equal(n, 1000);
}

static void
test_wait(void **state)
{
	struct rate r;

	(void)state;
	rate_init(&r, 10, 1, 1);
	assert_true(rate_wait(&r, 1000) == 0);
	assert_true(rate_take(&r, 1000) == 0);
	/* The next one in 100 ms; asking does not consume. */
	assert_true(rate_wait(&r, 1000) == 100);
	assert_true(rate_take(&r, 1000) == 100);
	assert_true(rate_take(&r, 1040) == 60);
	assert_true(rate_take(&r, 1099) == 1);
	assert_true(rate_take(&r, 1100) == 0);
	/* An idle spell earns nothing beyond the burst (1). */
	assert_true(rate_take(&r, 9000) == 0);
	assert_true(rate_take(&r, 9000) == 100);
	/* 1/h: the wait is the hour. */
	rate_init(&r, 1, 3600, 1);
	assert_true(rate_take(&r, 0) == 0);
	assert_true(rate_take(&r, 1) == 3599999);
	/* Unlimited: always now. */
	rate_init(&r, 0, 1, 1);
	for (int i = 0; i < 1000; i++)
		assert_true(rate_take(&r, 5) == 0);
	assert_true(rate_unlimited(&r));
}

static void
test_burst(void **state)
{
	struct rate r;
	unsigned n = 0;

	(void)state;
	rate_init(&r, 10, 1, 5);
	/* Five at once, then one per 100 ms. */
	while (rate_take(&r, 10000) == 0)
		n++;
	assert_int_equal(n, 5);
	assert_true(rate_wait(&r, 10000) == 100);
	assert_true(rate_take(&r, 10100) == 0);
	assert_true(rate_take(&r, 10100) == 100);
	/* The window bound: N + B - 1. */
	rate_init(&r, 10, 1, 5);
	n = hammer(&r, 0, 10000, 1000, 14);
	assert_true(n >= 104 && n <= 105);
	/* A burst under RATE_MAX only. */
	rate_init(&r, 1, 1, 0);
	assert_int_equal(r.burst, 1);
	rate_init(&r, 1, 86400, UINT32_MAX);
	assert_int_equal(r.burst, RATE_MAX);
}

static void
test_update(void **state)
{
	struct rate r, slower;

	(void)state;
	rate_init(&r, 10, 1, 1);
	assert_true(rate_take(&r, 0) == 0);
	/* A reload keeps the state: the next slot is still 100 ms away, and
	 * then spacing follows the new limit. */
	rate_init(&slower, 1, 1, 1);
	rate_update(&r, &slower);
	assert_int_equal(r.n, 1);
	assert_true(rate_take(&r, 50) == 50);
	assert_true(rate_take(&r, 100) == 0);
	assert_true(rate_take(&r, 200) == 900);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_update),
	};

	return cmocka_run_group_tests_name("lib_rate", tests, NULL, NULL);
}
