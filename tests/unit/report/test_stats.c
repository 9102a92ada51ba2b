/* Unit tests: report/stats.c — totals per type, domains folded to lower
 * case, the caps' "(other)" bucket, hours and days in local time,
 * nearest-rank percentiles over known delays, the delay histogram. */
#include "unit.h"

#include <time.h>

#include "report/stats.h"

static struct rp_record
rec(enum rp_type t, const char *rcpt, long long ms, double delay)
{
	struct rp_record r;

	memset(&r, 0, sizeof(r));
	r.type = t;
	r.rcpt = rcpt;
	r.time_ms = ms;
	r.delay = delay;
	r.job = rcpt;
	return r;
}

static void
test_feedback(void **state)
{
	static const struct { enum rp_fb fb; const char *rcpt, *kind; } in[] = {
		{ RP_FB_BOUNCE, "a@Ex.com", "bad-mailbox" },
		{ RP_FB_BOUNCE, "b@ex.com", "bad-mailbox" },
		{ RP_FB_BOUNCE, "c@other.test", "quota-issues" },
		{ RP_FB_COMPLAINT, "d@ex.com", "abuse" },
		{ RP_FB_COMPLAINT, "e@ex.com", NULL },
	};
	struct rp_stats s;
	struct rp_record r;
	const struct rp_entry **v;
	size_t n;

	(void)state;
	rp_stats_init(&s);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		r = rec(RP_DELIVERED, in[i].rcpt, 1796374800000LL, -1);
		r.fb = in[i].fb;
		r.fbkind = in[i].kind;
		rp_stats_feedback(&s, &r);
	}
	/* Apart from the delivery outcomes. */
	assert_true(s.records == 0 && s.n[RP_DELIVERED] == 0);
	assert_true(s.fb[RP_FB_BOUNCE] == 3 && s.fb[RP_FB_COMPLAINT] == 2);
	v = rp_map_top(&s.fb_domains, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->key, "ex.com");
	assert_true(v[0]->n[RP_FB_BOUNCE] == 2);
	assert_true(v[0]->n[RP_FB_COMPLAINT] == 2);
	assert_string_equal(v[1]->key, "other.test");
	assert_true(v[1]->n[RP_FB_BOUNCE] == 1 && v[1]->total == 1);
	free(v);
	v = rp_map_top(&s.fb_bcats, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->key, "bad-mailbox");
	assert_true(v[0]->total == 2);
	free(v);
	v = rp_map_by_key(&s.fb_types, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->key, "(none)");
	assert_string_equal(v[1]->key, "abuse");
	free(v);
	rp_stats_free(&s);
}

static void
test_totals(void **state)
{
	struct rp_stats s;
	struct rp_record r;
	const struct rp_entry **v;
	size_t n;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	rp_stats_init(&s);
	r = rec(RP_DELIVERED, "a@Ex.COM", 1796374800000LL, 1);
	rp_stats_add(&s, &r, NULL);
	r = rec(RP_DEFERRED, "b@ex.com", 1796378400000LL, -1);
	r.status = "4.7.1";
	r.reason = "greylisted 30s";
	rp_stats_add(&s, &r, NULL);
	rp_stats_add(&s, &r, NULL);
	r = rec(RP_BOUNCED, "c@other.org", -1, -1);
	r.bcat = "bad-mailbox";
	rp_stats_add(&s, &r, NULL);
	rp_stats_add(&s, &r, "spam-related");
	assert_true(s.n[RP_DELIVERED] == 1 && s.n[RP_DEFERRED] == 2 &&
	    s.n[RP_BOUNCED] == 2 && s.records == 5 && s.no_time == 2);
	assert_true(s.hours[9][RP_DELIVERED] == 1);
	assert_true(s.hours[10][RP_DEFERRED] == 2);
	v = rp_map_top(&s.domains, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->key, "ex.com");
	assert_true(v[0]->n[0] == 1 && v[0]->n[1] == 2 && v[0]->total == 3);
	free(v);
	v = rp_map_top(&s.deferrals, 0, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->key, "4.7.1 greylisted #s");
	free(v);
	v = rp_map_top(&s.bcats, 0, &n);
	assert_int_equal(n, 2);
	free(v);
	v = rp_map_top(&s.days, 0, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->key, "2026-12-04");
	free(v);
	assert_int_equal(s.jobs.used, 3);
	rp_stats_free(&s);
}

static void
test_cap(void **state)
{
	struct rp_stats s;
	struct rp_record r;
	const struct rp_entry **v;
	char rcpt[64];
	size_t n;

	(void)state;
	rp_stats_init(&s);
	s.domains.max = 10;
	for (int i = 0; i < 25; i++) {
		snprintf(rcpt, sizeof(rcpt), "u@d%d.example", i);
		r = rec(RP_DELIVERED, rcpt, -1, -1);
		rp_stats_add(&s, &r, NULL);
	}
	assert_int_equal(s.domains.used, 10);
	assert_true(s.domains.other.total == 15);
	v = rp_map_top(&s.domains, 3, &n);
	assert_int_equal(n, 4);		/* three, then "(other)" */
	assert_string_equal(v[3]->key, "(other)");
	free(v);
	v = rp_map_by_key(&s.domains, &n);
	assert_int_equal(n, 11);
	for (size_t i = 1; i < 10; i++)
		assert_true(strcmp(v[i - 1]->key, v[i]->key) < 0);
	assert_string_equal(v[10]->key, "(other)");
	free(v);
	rp_stats_free(&s);
}

static void
test_percentiles(void **state)
{
	struct rp_stats s;
	struct rp_record r;

	(void)state;
	rp_stats_init(&s);
	assert_true(rp_stats_percentile(&s, 50) == -1);
	/* 100 delays, 1..100 s, added out of order */
	for (int i = 0; i < 100; i++) {
		r = rec(RP_DELIVERED, "a@b", -1, (double)((i * 37) % 100 + 1));
		rp_stats_add(&s, &r, NULL);
	}
	assert_true(rp_stats_percentile(&s, 50) == 50);
	assert_true(rp_stats_percentile(&s, 90) == 90);
	assert_true(rp_stats_percentile(&s, 99) == 99);
	assert_true(rp_stats_percentile(&s, 100) == 100);
	assert_true(rp_stats_percentile(&s, 0.5) == 1);
	assert_true(s.delay_max == 100);
	assert_false(rp_stats_sampled(&s));
	/* < 1s: none; 1-2s: 1; 2-5s: 3; 5-10s: 5; 10-30s: 20; 30-60s: 30;
	 * 1-5m: 41 */
	assert_true(s.delay_hist[0] == 0 && s.delay_hist[1] == 1 &&
	    s.delay_hist[2] == 3 && s.delay_hist[3] == 5 &&
	    s.delay_hist[4] == 20 && s.delay_hist[5] == 30 &&
	    s.delay_hist[6] == 41);
	/* a new value after sorting is counted */
	r = rec(RP_DELIVERED, "a@b", -1, 0.25);
	rp_stats_add(&s, &r, NULL);
	assert_true(rp_stats_percentile(&s, 0.5) == 0.25);
	rp_stats_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totals),
		cmocka_unit_test(test_feedback),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_percentiles),
	};

	return cmocka_run_group_tests_name("report_stats", tests, NULL, NULL);
}
