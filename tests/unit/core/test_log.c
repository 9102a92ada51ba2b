/* Unit tests: log levels, the three line shapes, escaping, timestamps,
 * colour, holding and the sink. */
#include "unit.h"

#include <time.h>

static const struct log_field sample_fields[] = {
	LF_INT("a", 1), LF_STR("b", "x y"), LF_STR("c", ""), LF_NULL("d"),
	LF_STR("e", "q\"uo\\te"),
};

static const struct log_record sample = {
	LOG_INFO, "-", "core", "plain message", sample_fields, 5
};

static char *
render(enum log_format fmt, const struct log_record *r)
{
	struct buf b = BUF_INIT;

	log_render(&b, fmt, r);
	return buf_release(&b);
}

static void
expect(enum log_format fmt, const struct log_record *r, const char *want)
{
	char *got = render(fmt, r);

	assert_string_equal(got, want);
	free(got);
}

static void
test_levels(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("INFO"), 6);
	assert_int_equal(log_level_parse("LOGINFO"), 6);
	assert_int_equal(log_level_parse("loginfo"), 6);
	assert_int_equal(log_level_parse("emerg"), 0);
	assert_int_equal(log_level_parse("DATA"), 9);
	assert_int_equal(log_level_parse("protocol"), 8);
	assert_int_equal(log_level_parse("6"), 6);
	assert_int_equal(log_level_parse("invalid"), -1);
	assert_int_equal(log_level_parse("10"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_string_equal(log_level_name(LOG_WARN), "WARN");
	log_set_level(LOG_WARN);
	assert_false(log_would(LOG_DEBUG));
	assert_false(log_would(LOG_INFO));
	assert_false(log_would(LOG_NOTICE));
	assert_true(log_would(LOG_WARN));
	assert_true(log_would(LOG_ERROR));
	assert_true(log_would(LOG_EMERG));
	assert_int_equal(log_format_parse("JSON"), LOG_FMT_JSON);
	assert_int_equal(log_format_parse("logfmt"), LOG_FMT_LOGFMT);
	assert_int_equal(log_format_parse("default"), LOG_FMT_DEFAULT);
	assert_int_equal(log_format_parse(""), -1);
	assert_int_equal(log_format_parse("invalid"), -1);
}

static void
test_shapes(void **state)
{
	(void)state;
	expect(LOG_FMT_DEFAULT, &sample,
	    "[INFO] [-] [core] plain message a=1 b=\"x y\" c=\"\" d=\"\" "
	    "e=\"q\\\"uo\\\\te\"");
	expect(LOG_FMT_LOGFMT, &sample,
	    "level=INFO uuid=- source=core message=\"plain message\" a=1 "
	    "b=\"x y\" c=\"\" d=\"\" e=\"q\\\"uo\\\\te\"");
	expect(LOG_FMT_JSON, &sample,
	    "{\"level\":\"INFO\",\"uuid\":\"-\",\"source\":\"core\","
	    "\"message\":\"plain message\",\"a\":1,\"b\":\"x y\",\"c\":\"\","
	    "\"d\":null,\"e\":\"q\\\"uo\\\\te\"}");
}

static void
test_seed_examples(void **state)
{
	/* docs/Logging.md's logfmt and disconnect examples. */
	static const struct log_field f[] = {
		LF_STR("ip", "127.0.0.1"), LF_STR("rdns", "Unknown"),
		LF_BOOL("tls", 0), LF_INT("errors", 0), LF_STR("lr", ""),
		LF_DBL("time", 0.052),
	};
	struct log_record r = { LOG_PROTOCOL, "9FF7F70E-1", "core",
	    "S: 354 go ahead, make my day", NULL, 0 };

	(void)state;
	expect(LOG_FMT_LOGFMT, &r, "level=PROTOCOL uuid=9FF7F70E-1 "
	    "source=core message=\"S: 354 go ahead, make my day\"");
	expect(LOG_FMT_JSON, &r, "{\"level\":\"PROTOCOL\",\"uuid\":"
	    "\"9FF7F70E-1\",\"source\":\"core\",\"message\":\"S: 354 go ahead, "
	    "make my day\"}");
	r.level = LOG_NOTICE;
	r.message = "disconnect";
	r.fields = f;
	r.nfields = 6;
	expect(LOG_FMT_JSON, &r, "{\"level\":\"NOTICE\",\"uuid\":"
	    "\"9FF7F70E-1\",\"source\":\"core\",\"message\":\"disconnect\","
	    "\"ip\":\"127.0.0.1\",\"rdns\":\"Unknown\",\"tls\":false,"
	    "\"errors\":0,\"lr\":\"\",\"time\":0.052}");
	expect(LOG_FMT_DEFAULT, &r, "[NOTICE] [9FF7F70E-1] [core] disconnect "
	    "ip=127.0.0.1 rdns=Unknown tls=false errors=0 lr=\"\" time=0.052");
}

static void
test_merge_overrides(void **state)
{
	/* Merged keys replace record keys in place, later ones win. */
	static const struct log_field f[] = {
		LF_STR("source", "plugin"), LF_INT("n", 1), LF_INT("n", 2),
	};
	struct log_record r = { LOG_WARN, "-", "core", "m", f, 3 };

	(void)state;
	expect(LOG_FMT_JSON, &r, "{\"level\":\"WARN\",\"uuid\":\"-\","
	    "\"source\":\"plugin\",\"message\":\"m\",\"n\":2}");
	expect(LOG_FMT_LOGFMT, &r,
	    "level=WARN uuid=- source=plugin message=m n=2");
}

static void
test_crlf_never_breaks_a_line(void **state)
{
	static const struct log_field f[] = { LF_STR("helo", "a\r\nb") };
	struct log_record r = { LOG_INFO, "-", "core", "one\ntwo\r", f, 1 };
	struct log_record trail = { LOG_PROTOCOL, "-", "core",
	    "C: DATA\r\n", NULL, 0 };

	(void)state;
	/* Haraka quotes only for space, '=', '"' and '\\'. */
	expect(LOG_FMT_DEFAULT, &r,
	    "[INFO] [-] [core] one\\ntwo\\r helo=a\\r\\nb");
	expect(LOG_FMT_LOGFMT, &r,
	    "level=INFO uuid=- source=core message=one\\ntwo\\r "
	    "helo=a\\r\\nb");
	expect(LOG_FMT_JSON, &r, "{\"level\":\"INFO\",\"uuid\":\"-\","
	    "\"source\":\"core\",\"message\":\"one\\ntwo\\r\","
	    "\"helo\":\"a\\r\\nb\"}");
	/* A message's own trailing line break is dropped, not escaped. */
	expect(LOG_FMT_DEFAULT, &trail, "[PROTOCOL] [-] [core] C: DATA");
}

static void
test_json_always_valid(void **state)
{
	struct log_record r = { LOG_INFO, "-", "core",
	    "caf\xc3\xa9 \xff\xfe ok \x01 \xe2\x82", NULL, 0 };

	(void)state;
	expect(LOG_FMT_JSON, &r, "{\"level\":\"INFO\",\"uuid\":\"-\","
	    "\"source\":\"core\",\"message\":\"caf\xc3\xa9 \\ufffd\\ufffd ok "
	    "\\u0001 \\ufffd\\ufffd\"}");
}

static void
test_timestamps_and_colour(void **state)
{
	struct buf b = BUF_INIT;
	struct log_record r = { LOG_INFO, "-", "core", "hello", NULL, 0 };
	/* 2026-11-21T08:18:20.357Z */
	long long ts = 1795249100357LL;

	(void)state;
	log_render_line(&b, LOG_FMT_DEFAULT, ts, 0, &r);
	assert_string_equal(b.p, "2026-11-21T08:18:20.357Z [INFO] [-] [core] "
	    "hello\n");
	buf_reset(&b);
	log_render_line(&b, LOG_FMT_LOGFMT, ts, 0, &r);
	assert_string_equal(b.p, "timestamp=2026-11-21T08:18:20.357Z "
	    "level=INFO uuid=- source=core message=hello\n");
	buf_reset(&b);
	log_render_line(&b, LOG_FMT_JSON, ts, 0, &r);
	assert_string_equal(b.p, "{\"timestamp\":\"2026-11-21T08:18:20.357Z\","
	    "\"level\":\"INFO\",\"uuid\":\"-\",\"source\":\"core\","
	    "\"message\":\"hello\"}\n");
	buf_reset(&b);
	log_render_line(&b, LOG_FMT_DEFAULT, -1, 1, &r);
	assert_string_equal(b.p, "\033[36m[INFO] [-] [core] hello\033[39m\n");
	buf_reset(&b);
	r.level = LOG_ERROR;
	log_render_line(&b, LOG_FMT_DEFAULT, ts, 1, &r);
	/* The timestamp is not coloured. */
	assert_string_equal(b.p, "2026-11-21T08:18:20.357Z \033[31m[ERROR] [-] "
	    "[core] hello\033[39m\n");
	buf_free(&b);
}

static int sink_calls;
static int sink_suppress;
static char sink_seen[256];

static int
sink(void *arg, const struct log_record *r, const char *line)
{
	(void)arg;
	sink_calls++;
	snprintf(sink_seen, sizeof(sink_seen), "%s|%s", r->message, line);
	log_emit(LOG_WARN, "core", NULL, NULL, 0, "logged from the sink");
	return sink_suppress;
}

static void
test_emit_hold_and_sink(void **state)
{
	FILE *cap;
	char *out;

	(void)state;
	cap = capture_start();
	log_set_level(LOG_INFO);
	log_set_format(LOG_FMT_DEFAULT);
	log_set_timestamps(0);
	log_hold(1);
	log_info("core", NULL, "first %d", 1);
	log_debug("core", NULL, "filtered");
	log_emit(LOG_NOTICE, "relay", "abc.1", (struct log_field[]){
	    LF_STR("k", "v") }, 1, "second");
	assert_int_equal(lseek(fileno(cap), 0, SEEK_END), 0);
	/* Released records pass the sink, in order, in the format of now. */
	log_set_sink(sink, NULL);
	log_set_format(LOG_FMT_LOGFMT);
	log_hold(0);
	assert_int_equal(sink_calls, 2);
	assert_string_equal(sink_seen, "second|level=NOTICE uuid=abc.1 "
	    "source=relay message=second k=v");
	out = capture_end(cap);
	/* A record logged inside the sink bypasses it (no recursion). */
	assert_string_equal(out,
	    "level=WARN uuid=- source=core message=\"logged from the sink\"\n"
	    "level=INFO uuid=- source=core message=\"first 1\"\n"
	    "level=WARN uuid=- source=core message=\"logged from the sink\"\n"
	    "level=NOTICE uuid=abc.1 source=relay message=second k=v\n");
	free(out);

	/* A sink that takes the record suppresses the built-in output. */
	cap = capture_start();
	sink_suppress = 1;
	log_info("core", NULL, "taken");
	out = capture_end(cap);
	assert_string_equal(out, "level=WARN uuid=- source=core "
	    "message=\"logged from the sink\"\n");
	free(out);
	log_set_sink(NULL, NULL);
	log_set_format(LOG_FMT_DEFAULT);
}

static void
test_flush_exit_prints_held(void **state)
{
	FILE *cap = capture_start();
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	log_hold(1);
	log_emit(LOG_ERROR, NULL, NULL, (struct log_field[]){
	    LF_STR("file", "x") }, 1, "held");
	log_flush_exit();
	out = capture_end(cap);
	assert_string_equal(out, "[ERROR] [-] [core] held file=x\n");
	free(out);
}

/* log_iso_time is gmtime as ISO 8601 with milliseconds, for any time. */
static void
test_iso_time(void **state)
{
	static const long long at[] = { 0, 999, 1000, 951782400123LL,
	    1700000000000LL, 1733400000999LL, 4102444799999LL,
	    253402300799999LL };
	char got[32], want[32];

	(void)state;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		time_t secs = (time_t)(at[i] / 1000);
		struct tm tm;

		gmtime_r(&secs, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d."
		    "%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at[i] % 1000));
		log_iso_time(got, sizeof(got), at[i]);
		assert_string_equal(got, want);
	}
	log_iso_time(got, sizeof(got), 1700000000000LL);
	assert_string_equal(got, "2023-11-14T22:13:20.000Z");
	log_iso_time(got, 10, 1700000000000LL);	/* cut, as snprintf does */
	assert_string_equal(got, "2023-11-1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_seed_examples),
		cmocka_unit_test(test_merge_overrides),
		cmocka_unit_test(test_crlf_never_breaks_a_line),
		cmocka_unit_test(test_json_always_valid),
		cmocka_unit_test(test_timestamps_and_colour),
		cmocka_unit_test(test_emit_hold_and_sink),
		cmocka_unit_test(test_flush_exit_prints_held),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
