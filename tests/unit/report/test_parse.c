/* Unit tests: report/parse.c — outbound_logger's JSON lines (the seed's
 * three samples, escapes, what is not a record), accounting lines under
 * their header (TSV escapes, CSV quoting, custom field lists, a header
 * with an odd separator), times in each format, and the reason keys. */
#include "unit.h"

#include <time.h>

#include "report/parse.h"

static void
test_json_seed(void **state)
{
	static const char delivered[] = "{\"level\":\"info\",\"time\":"
	    "\"2023-01-11T11:13:35.987Z\",\"pid\":2576454,\"hostname\":\"h\","
	    "\"name\":\"outbound_logger\",\"type\":\"delivered\",\"job_id\":"
	    "\"B3D5.1.1\",\"queue_time\":\"2023-01-11T11:13:33.726Z\","
	    "\"smtp_host\":\"aspmx.l.google.com\",\"smtp_ip\":\"74.125.24.27\","
	    "\"smtp_response\":\"OK\",\"smtp_delay\":2.26,\"smtp_port\":25,"
	    "\"recipient\":\"user@example.com\",\"from\":\"t@x\",\"subject\":"
	    "\"Test\"}";
	static const char deferred[] = "{ \"type\" : \"deferred\", "
	    "\"time\":\"2023-01-11T11:26:44.377Z\",\"recipient\":\"u@e.com\","
	    "\"dsn_status\":\"4.7.1\",\"undelivered_reason\":\"4.7.1 <u@e.com>:"
	    " try \\\"again\\\" \\u00e9\\ud83d\\ude00\",\"delay\":\"2.5\","
	    "\"nested\":{\"a\":[1,2,{\"b\":null}],\"c\":true} }";
	struct buf store = BUF_INIT;
	struct rp_record r;

	(void)state;
	assert_int_equal(rp_json_line(delivered, strlen(delivered), &r,
	    &store), 0);
	assert_int_equal(r.type, RP_DELIVERED);
	assert_true(r.time_ms == 1673435615987LL);
	assert_string_equal(r.job, "B3D5.1.1");
	assert_string_equal(r.rcpt, "user@example.com");
	assert_true(r.delay > 2.259 && r.delay < 2.261);
	assert_int_equal(rp_json_line(deferred, strlen(deferred), &r, &store),
	    0);
	assert_int_equal(r.type, RP_DEFERRED);
	assert_string_equal(r.status, "4.7.1");
	assert_string_equal(r.reason,
	    "4.7.1 <u@e.com>: try \"again\" \xc3\xa9\xf0\x9f\x98\x80");
	assert_true(r.delay < 0);	/* deferred: delay is not a delivery's */
	assert_null(r.job);
	/* Feedback records are outbound_logger's too, counted apart. */
	assert_int_equal(rp_json_line("{\"type\":\"complaint\","
	    "\"job_id\":null}", 34, &r, &store), 1);
	assert_int_equal(r.fb, RP_FB_COMPLAINT);
	assert_null(r.fbkind);
	assert_int_equal(rp_json_line("{\"type\":\"remote_bounce\"}", 24, &r,
	    &store), 1);
	assert_int_equal(r.fb, RP_FB_BOUNCE);
	buf_free(&store);
}

static void
test_feedback_lines(void **state)
{
	static const char rb[] = "{\"type\":\"remote_bounce\",\"time\":"
	    "\"2026-12-04T10:00:00Z\",\"job_id\":\"J.1\",\"recipient\":"
	    "\"a@B.test\",\"bounce_category\":\"bad-mailbox\","
	    "\"feedback_type\":null}";
	static const char cp[] = "{\"type\":\"complaint\",\"recipient\":"
	    "\"c@d.test\",\"feedback_type\":\"abuse\"}";
	static const char hb[] = "type\ttimeLogged\ttimeQueued\torig\trcpt\t"
	    "jobId\tbounceCat";
	static const char hf[] = "timeLogged\torig\trcpt\tjobId\tfeedbackType";
	struct buf store = BUF_INIT;
	struct rp_cols c;
	struct rp_record r;
	const char *l;

	(void)state;
	assert_int_equal(rp_json_line(rb, strlen(rb), &r, &store), 1);
	assert_int_equal(r.fb, RP_FB_BOUNCE);
	assert_string_equal(r.fbkind, "bad-mailbox");
	assert_string_equal(r.rcpt, "a@B.test");
	assert_string_equal(r.job, "J.1");
	assert_true(r.time_ms == 1796378400000LL);
	assert_int_equal(rp_json_line(cp, strlen(cp), &r, &store), 1);
	assert_int_equal(r.fb, RP_FB_COMPLAINT);
	assert_string_equal(r.fbkind, "abuse");
	/* rb and f lines of accounting_files, with and without a type column */
	assert_int_equal(rp_acct_header(hb, strlen(hb), NULL, &c), 0);
	l = "rb\t2026-12-04 10:00:00+0000\t\ts@x\ta@b.test\tJ.1\tquota-issues";
	assert_int_equal(rp_acct_line(&c, l, strlen(l), -1, &r, &store), 1);
	assert_int_equal(r.fb, RP_FB_BOUNCE);
	assert_string_equal(r.fbkind, "quota-issues");
	assert_string_equal(r.rcpt, "a@b.test");
	assert_true(r.delay < 0);
	l = "f\t2026-12-04 10:00:00+0000\t\ts@x\ta@b.test\tJ.1\t";
	assert_int_equal(rp_acct_line(&c, l, strlen(l), -1, &r, &store), 1);
	assert_int_equal(r.fb, RP_FB_COMPLAINT);
	assert_null(r.fbkind);			/* no feedbackType column */
	assert_int_equal(rp_acct_header(hf, strlen(hf), NULL, &c), 0);
	l = "2026-12-04 10:00:00+0000\ts@x\ta@b.test\tJ.1\tfraud";
	assert_int_equal(rp_acct_line(&c, l, strlen(l), RP_KIND_F, &r,
	    &store), 1);
	assert_int_equal(r.fb, RP_FB_COMPLAINT);
	assert_string_equal(r.fbkind, "fraud");
	assert_int_equal(rp_acct_line(&c, l, strlen(l), -1, &r, &store), -1);
	buf_free(&store);
}

static void
test_json_bad(void **state)
{
	static const char *const bad[] = {
		"", "{}", "[]", "{\"type\":\"queued\"}", "{\"type\":1}",
		"{\"type\":\"delivered\"", "{\"type\":\"delivered\"} x",
		"{\"type\":\"delivered\",}", "{\"type\":\"deli\nvered\"}",
		"{\"type\":\"delivered\",\"a\":01}", "{\"type\":\"delivered\","
		"\"a\":\"\\x\"}", "{\"type\":\"delivered\",\"a\":[[[[[[[[[[[[["
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]}", "{\"type\":\"delivered\",\"a\":tru}",
		"not json",
	};
	struct buf store = BUF_INIT;
	struct rp_record r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rp_json_line(bad[i], strlen(bad[i]), &r,
		    &store), -1);
	buf_free(&store);
}

static void
test_acct_tsv(void **state)
{
	static const char header[] = "type\ttimeLogged\ttimeQueued\trcpt\t"
	    "jobId\tdsnStatus\tdsnMsg\tdelay";
	static const char line[] = "df\t2026-12-04 10:00:30+0100\t"
	    "2026-12-04 10:00:00+0100\ta@b.c\tJ1\t4.2.2\tfull\\tbox\\\\x\\n"
	    "y\\\t\t600";
	struct rp_cols c;
	struct buf store = BUF_INIT;
	struct rp_record r;

	(void)state;
	assert_int_equal(rp_acct_header(header, strlen(header), NULL, &c), 0);
	assert_string_equal(c.sep, "\t");
	assert_int_equal(c.ncols, 8);
	assert_int_equal(c.at[RC_BCAT], -1);
	assert_int_equal(rp_acct_line(&c, line, strlen(line), -1, &r, &store),
	    0);
	assert_int_equal(r.type, RP_DEFERRED);
	assert_true(r.time_ms == 1796374830000LL);
	assert_string_equal(r.reason, "full\tbox\\x\ny\t");
	assert_string_equal(r.job, "J1");
	assert_true(r.delay < 0);
	/* one field short, one too many, an unknown type */
	assert_int_equal(rp_acct_line(&c, "df\ta", 4, -1, &r, &store), -1);
	assert_int_equal(rp_acct_line(&c, "df\t\t\t\t\t\t\t\t", 8, -1, &r,
	    &store), -1);
	assert_int_equal(rp_acct_line(&c, "x\t\t\t\t\t\t\t", 8, -1, &r,
	    &store), -1);
	buf_free(&store);
}

static void
test_acct_custom(void **state)
{
	/* no type column: the file's kind; ";" found from the header;
	 * delivered: the delay is timeLogged - timeQueued */
	static const char header[] = "rcpt;timeQueued;custom_X-Id;timeLogged";
	static const char line[] = "a\\;b@c.d;2026-12-04 10:00:00+0000;x;"
	    "2026-12-04 10:01:30+0000";
	struct rp_cols c;
	struct buf store = BUF_INIT;
	struct rp_record r;

	(void)state;
	assert_int_equal(rp_acct_header(header, strlen(header), NULL, &c), 0);
	assert_string_equal(c.sep, ";");
	assert_int_equal(rp_acct_line(&c, line, strlen(line), -1, &r, &store),
	    -1);
	assert_int_equal(rp_acct_line(&c, line, strlen(line), RP_DELIVERED,
	    &r, &store), 0);
	assert_string_equal(r.rcpt, "a;b@c.d");
	assert_true(r.delay == 90.0);
	/* not a header */
	assert_int_equal(rp_acct_header("hello world", 11, NULL, &c), -1);
	assert_true(rp_acct_is_header(header, strlen(header)));
	assert_true(rp_acct_is_header("custom_X-Id", 11));
	assert_false(rp_acct_is_header("custom_", 7));
	assert_false(rp_acct_is_header("d\tx", 3));
	assert_false(rp_acct_is_header("types\tx", 7));
	assert_false(rp_acct_is_header(line, strlen(line)));
	buf_free(&store);
}

static void
test_acct_csv(void **state)
{
	static const char header[] = "type,rcpt,dsnMsg,bounceCat";
	static const char line[] = "b,\"x,\"\"y\"\"@z\",\"line\none\",other";
	struct rp_cols c;
	struct buf store = BUF_INIT;
	struct rp_record r;

	(void)state;
	assert_int_equal(rp_acct_header(header, strlen(header), NULL, &c), 0);
	assert_true(c.csv);
	assert_true(rp_csv_open("b,\"line", 7));
	assert_false(rp_csv_open(line, strlen(line)));
	assert_int_equal(rp_acct_line(&c, line, strlen(line), -1, &r, &store),
	    0);
	assert_string_equal(r.rcpt, "x,\"y\"@z");
	assert_string_equal(r.reason, "line\none");
	assert_string_equal(r.bcat, "other");
	assert_int_equal(rp_acct_line(&c, "b,\"x\"y,a,b", 10, -1, &r,
	    &store), -1);
	assert_int_equal(rp_acct_line(&c, "b,\"x,a,b", 8, -1, &r, &store),
	    -1);
	buf_free(&store);
}

static void
test_time(void **state)
{
	(void)state;
	assert_true(rp_time("1970-01-01T00:00:00Z") == 0);
	assert_true(rp_time("2023-01-11T11:13:35.987Z") == 1673435615987LL);
	assert_true(rp_time("2026-12-04 10:00:00+0100") == 1796374800000LL);
	assert_true(rp_time("2026-12-04 10:00:00-01:30") ==
	    1796374800000LL + 9000000LL);
	assert_true(rp_time("2026-12-04Z") == 1796342400000LL);
	setenv("TZ", "UTC", 1);
	tzset();
	assert_true(rp_time("2026-12-04 09:00") == 1796374800000LL);
	assert_true(rp_time("2026-12-04") == 1796342400000LL);
	assert_true(rp_time("2026-13-04") == -1);
	assert_true(rp_time("2026-12-04 10:00:00+01") == -1);
	assert_true(rp_time("2026-12-04x") == -1);
	assert_true(rp_time("") == -1);
}

static void
test_normalise(void **state)
{
	static const char *const cases[][2] = {
		{ "4.7.1 <user@example.com>: Recipient address rejected: "
		  "try again in 300 seconds", "<addr>: Recipient address "
		  "rejected: try again in # seconds" },
		{ "421 - connect to 10.0.0.1:25:  refused",
		  "connect to #.#.#.#:#: refused" },
		{ "550 5.1.1 user@x.org, unknown", "<addr>, unknown" },
		{ "  ", "" },
		{ "a\tb\x01", "a b?" },
	};
	struct buf b = BUF_INIT;
	char long_text[400];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		rp_normalise(cases[i][0], &b);
		assert_string_equal(buf_cstr(&b), cases[i][1]);
	}
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	buf_reset(&b);
	rp_normalise(long_text, &b);
	assert_int_equal(b.len, 100);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_seed),
		cmocka_unit_test(test_json_bad),
		cmocka_unit_test(test_feedback_lines),
		cmocka_unit_test(test_acct_tsv),
		cmocka_unit_test(test_acct_custom),
		cmocka_unit_test(test_acct_csv),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_normalise),
	};

	return cmocka_run_group_tests_name("report_parse", tests, NULL, NULL);
}
