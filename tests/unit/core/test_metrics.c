/* Unit tests: core/metrics.c, the registry and its exposition: counters
 * with labels (escaped), histograms (cumulative buckets, sum, count),
 * collectors run before each render, and a labelled family that stops
 * growing at METRIC_SERIES_MAX series ("_other"). */
#include "unit.h"

#include <stdio.h>

#include "core/metrics.h"
#include "lib/buf.h"

static char *
render(void)
{
	struct buf b = BUF_INIT;

	metrics_render(&b);
	return (char *)buf_cstr(&b);	/* the caller frees b.p */
}

static int collected;

static void
collect(void *arg)
{
	(void)arg;
	collected++;
	metric_set(m_queue_recipients, NULL, 42);
}

static void
test_exposition(void **state)
{
	char *text;

	(void)state;
	metrics_init("1.2.3", 1000);
	metric_add(m_delivered, (const char *[]){ "a.test" }, 1);
	metric_add(m_delivered, (const char *[]){ "a.test" }, 2);
	metric_add(m_bounced, (const char *[]){ "b\"x\\y\n", "bad-mailbox" }, 1);
	metric_observe(m_dns_seconds, NULL, 0.002);
	metric_observe(m_dns_seconds, NULL, 0.002);
	metric_observe(m_dns_seconds, NULL, 99);
	metrics_collector(collect, NULL);
	text = render();
	assert_int_equal(collected, 1);
	assert_non_null(strstr(text, "# TYPE outpost_delivered_recipients_total "
	    "counter\noutpost_delivered_recipients_total{destination=\"a.test\"} "
	    "3\n"));
	assert_non_null(strstr(text, "outpost_bounced_recipients_total{"
	    "destination=\"b\\\"x\\\\y\\n\",category=\"bad-mailbox\"} 1\n"));
	assert_non_null(strstr(text, "outpost_build_info{version=\"1.2.3\"} 1\n"));
	assert_non_null(strstr(text,
	    "outpost_dns_lookup_duration_seconds_bucket{le=\"0.001\"} 0\n"
	    "outpost_dns_lookup_duration_seconds_bucket{le=\"0.005\"} 2\n"));
	assert_non_null(strstr(text,
	    "outpost_dns_lookup_duration_seconds_bucket{le=\"5\"} 2\n"
	    "outpost_dns_lookup_duration_seconds_bucket{le=\"+Inf\"} 3\n"
	    "outpost_dns_lookup_duration_seconds_sum 99.004\n"
	    "outpost_dns_lookup_duration_seconds_count 3\n"));
	assert_non_null(strstr(text, "outpost_queue_recipients 42\n"));
	/* An unlabelled counter shows 0 before its first event. */
	assert_non_null(strstr(text, "outpost_received_messages_total 0\n"));
	assert_true(metric_total(m_delivered) == 3);
	assert_true(metric_value(m_queue_recipients, NULL) == 42);
	free(text);
	metrics_collector_remove(collect, NULL);
	text = render();
	assert_int_equal(collected, 1);
	free(text);
	metrics_free();
}

static void
test_series_are_bounded(void **state)
{
	char name[32], *text;
	size_t lines = 0;

	(void)state;
	metrics_init("x", 0);
	for (int i = 0; i < METRIC_SERIES_MAX + 100; i++) {
		snprintf(name, sizeof(name), "d%d.test", i);
		metric_add(m_deferred, (const char *[]){ name }, 1);
	}
	text = render();
	for (char *p = text; (p = strstr(p, "\noutpost_deferred_recipients_total{"))
	    != NULL; p++)
		lines++;
	assert_int_equal(lines, METRIC_SERIES_MAX + 1);
	assert_non_null(strstr(text, "outpost_deferred_recipients_total{"
	    "destination=\"_other\"} 100\n"));
	assert_true(metric_total(m_deferred) == METRIC_SERIES_MAX + 100);
	free(text);
	metrics_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_series_are_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
