/* Unit tests: configuration loading, validation, reload precedence, and
 * temp_fail_intervals against every row of the reference table. */
#include "unit.h"

#include <sys/stat.h>

#include "core/config.h"

static const double defaults13[] = {
	64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072
};

static void
expect_intervals(const char *spec, const double *want, size_t nwant,
    int want_errors)
{
	FILE *cap = capture_start();
	double *got;
	size_t n;
	char *out;

	log_set_level(LOG_INFO);
	config_temp_fail_intervals(spec, 13, &got, &n);
	out = capture_end(cap);
	if (n != nwant)
		fail_msg("'%s': %zu intervals, want %zu", spec, n, nwant);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("'%s': [%zu] = %g, want %g", spec, i, got[i],
			    want[i]);
	if (want_errors) {
		if (strstr(out, "[ERROR] [-] [core] temp_fail_intervals syntax "
		    "error parsing element ") == NULL ||
		    strstr(out, "[WARN] [-] [core] Setting outbound "
		    "temp_fail_intervals to old defaults") == NULL)
			fail_msg("'%s': missing fallback lines in: %s", spec, out);
	} else if (*out != '\0')
		fail_msg("'%s': unexpected log: %s", spec, out);
	free(out);
	free(got);
}

static void
test_intervals_valid(void **state)
{
	static const double a[] = { 60, 300, 300, 3600, 3600, 3600 };
	static const double b[] = { 10, 60, 60 };
	static const double c[] = { 30, 60, 300, 540, 900, 900, 900, 1800,
	    1800, 3600, 3600, 3600, 7200, 7200, 7200, 86400 };
	static const double five[] = { 5 }, min[] = { 60 }, day[] = { 86400 };
	static const double js[] = { 90, 16, 10 };

	(void)state;
	expect_intervals("1m, 5m*2, 1h*3", a, 6, 0);
	expect_intervals("10s, 1m*2", b, 3, 0);
	expect_intervals("30s, 1m, 5m, 9m, 15m*3, 30m*2, 1h*3, 2h*3, 1d", c,
	    16, 0);
	expect_intervals("none", NULL, 0, 0);
	expect_intervals("NONE", NULL, 0, 0);
	expect_intervals(" None ", NULL, 0, 0);
	expect_intervals("5s", five, 1, 0);
	expect_intervals("1M", min, 1, 0);
	expect_intervals("1d", day, 1, 0);
	/* Numbers follow JavaScript's Number(). */
	expect_intervals("1.5m, 0x10s, 1e1s", js, 3, 0);
}

static void
test_intervals_fallback(void **state)
{
	static const char *const bad[] = {
		"60 min", "4s", "5", "s", "abc", "5m*0", "5m*", "5m*-1",
		"5m*2*3", "5m*1.5", "2h*2,", ",1m", "1m,,1m",
		/* purely numeric: a bad value, never a crash */
		"60", "0", "-5", "5m*100000", "5x", "1e400s*2",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_intervals(bad[i], defaults13, 12, 1);
}

static void
test_intervals_messages(void **state)
{
	FILE *cap;
	double *got;
	size_t n;
	char *out;

	(void)state;
	cap = capture_start();
	log_set_level(LOG_INFO);
	config_temp_fail_intervals("1m,5m*2*3", 13, &got, &n);
	out = capture_end(cap);
	assert_non_null(strstr(out, "[ERROR] [-] [core] temp_fail_intervals "
	    "syntax error parsing element 1: too many *\n"));
	free(out);
	free(got);

	/* A time part under two characters is reported, then the element is
	 * still evaluated (Haraka's quirk): two errors for "s". */
	cap = capture_start();
	config_temp_fail_intervals("s", 13, &got, &n);
	out = capture_end(cap);
	assert_non_null(strstr(out, "element 0: invalid time span\n"));
	assert_non_null(strstr(out, "element 0: delay time too small, should "
	    "be >=5 seconds\n"));
	free(out);
	free(got);

	cap = capture_start();
	config_temp_fail_intervals("60 min", 13, &got, &n);
	out = capture_end(cap);
	assert_non_null(strstr(out, "element 0: invalid number or symbol\n"));
	free(out);
	free(got);
}

static void
test_default_intervals(void **state)
{
	double *got;
	size_t n;

	(void)state;
	config_default_intervals(13, &got, &n);
	assert_int_equal(n, 12);
	assert_memory_equal(got, defaults13, sizeof(defaults13));
	free(got);
	config_default_intervals(1, &got, &n);
	assert_int_equal(n, 0);
	free(got);
	config_default_intervals(3, &got, &n);
	assert_int_equal(n, 2);
	assert_true(got[0] == 64 && got[1] == 128);
	free(got);
}

/* --- loading ROOT/config --------------------------------------------- */

static char *root;

static int
setup_root(void **state)
{
	(void)state;
	char *dir;

	root = tmpdir_new();
	dir = xasprintf("%s/config", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	free(dir);
	return 0;
}

static int
teardown_root(void **state)
{
	(void)state;
	tmpdir_rm(root);
	return 0;
}

static void
put(const char *name, const char *text)
{
	char *dir = xasprintf("%s/config", root);

	write_file(dir, name, text);
	free(dir);
}

static void
rm(const char *name)
{
	char *path = xasprintf("%s/config/%s", root, name);

	assert_int_equal(unlink(path), 0);
	free(path);
}

/* Asserts that path is root + "/" + rel. */
static void
assert_under_root(const char *path, const char *rel)
{
	char *want = xasprintf("%s/%s", root, rel);

	assert_string_equal(path, want);
	free(want);
}

static struct config *
load_ok(void)
{
	char *err = NULL;
	struct config *cfg = config_load(root, &err);

	if (cfg == NULL)
		fail_msg("config_load: %s", err);
	return cfg;
}

static char *
load_err(void)
{
	char *err = NULL;
	struct config *cfg = config_load(root, &err);

	if (cfg != NULL)
		fail_msg("config_load succeeded");
	return err;
}

static void
test_empty_config_defaults(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok();
	assert_string_equal(cfg->root, root);
	assert_int_equal(cfg->nplugins, 0);
	assert_int_equal(cfg->core->nlisten, 1);
	assert_string_equal(cfg->core->listen[0].host, "::0");
	assert_string_equal(cfg->core->listen[0].port, "25");
	assert_non_null(cfg->core->me);
	assert_true(strlen(cfg->core->me) > 0);
	assert_under_root(cfg->core->queue_dir, "queue");
	/* No log.ini: Haraka's state — WARN, timestamps on, default format. */
	assert_int_equal(cfg->log.level, LOG_WARN);
	assert_int_equal(cfg->log.timestamps, 1);
	assert_int_equal(cfg->log.format, LOG_FMT_DEFAULT);
	assert_int_equal(cfg->outbound->concurrency_max, 10000);
	assert_int_equal(cfg->outbound->max_temp_failures, 13);
	assert_int_equal(cfg->outbound->nintervals, 12);
	assert_int_equal(cfg->outbound->enable_tls, 1);
	assert_int_equal(cfg->outbound->disabled, 0);
	assert_int_equal(cfg->outbound->always_split, 0);
	assert_int_equal(cfg->outbound->local_mx_ok, 0);
	assert_string_equal(cfg->outbound->received_header, "Haraka outbound");
	assert_true(cfg->outbound->timeouts.connect == 30);
	assert_int_equal(cfg->outbound->inet_prefer, INET_PREFER_DEFAULT);
	config_unref(cfg);
}

static void
test_files_read(void **state)
{
	struct config *cfg;

	(void)state;
	put("me", "mx.example.net\n");
	put("queue_dir", "spool\n");
	put("plugins", "# comment\nfirst\nsecond/nested\n");
	put("smtp.ini", "listen=127.0.0.1:2525, [::1]:2526\n"
	    "inactivity_timeout=60\n");
	put("outbound.ini", "disabled=yes\nconcurrency_max=7\n"
	    "maxTempFailures=3\nalways_split=on\nreceived_header=disabled\n"
	    "connect_timeout=2.5\nlocal_mx_ok=1\ninet_prefer=v4\n"
	    "enable_tls=false\n");
	cfg = load_ok();
	assert_string_equal(cfg->core->me, "mx.example.net");
	assert_under_root(cfg->core->queue_dir, "spool");
	assert_int_equal(cfg->nplugins, 2);
	assert_string_equal(cfg->plugins[1], "second/nested");
	assert_int_equal(cfg->core->nlisten, 2);
	assert_string_equal(cfg->core->listen[1].host, "::1");
	assert_string_equal(cfg->core->listen[1].port, "2526");
	assert_int_equal(cfg->core->inactivity_timeout, 60);
	assert_int_equal(cfg->outbound->disabled, 1);
	assert_int_equal(cfg->outbound->concurrency_max, 7);
	assert_int_equal(cfg->outbound->max_temp_failures, 3);
	assert_int_equal(cfg->outbound->nintervals, 2);
	assert_int_equal(cfg->outbound->always_split, 1);
	assert_null(cfg->outbound->received_header);
	assert_true(cfg->outbound->timeouts.connect == 2.5);
	assert_int_equal(cfg->outbound->local_mx_ok, 1);
	assert_int_equal(cfg->outbound->inet_prefer, INET_PREFER_V4);
	assert_int_equal(cfg->outbound->enable_tls, 0);
	config_unref(cfg);
}

static void
test_legacy_flat_files(void **state)
{
	struct config *cfg;

	(void)state;
	put("outbound.ini", "concurrency_max=0\n");
	put("outbound.concurrency_max", "12\n");
	put("outbound.disabled", "true\n");
	put("outbound.received_header", "Legacy text\n");
	put("outbound.temp_fail_intervals", "10s*2\n");
	cfg = load_ok();
	assert_int_equal(cfg->outbound->concurrency_max, 12);
	assert_int_equal(cfg->outbound->disabled, 1);
	assert_string_equal(cfg->outbound->received_header, "Legacy text");
	assert_int_equal(cfg->outbound->nintervals, 2);
	assert_true(cfg->outbound->intervals[1] == 10);
	config_unref(cfg);
	rm("outbound.concurrency_max");
	rm("outbound.disabled");
	rm("outbound.received_header");
	rm("outbound.temp_fail_intervals");
}

static void
test_bad_values(void **state)
{
	static const struct { const char *file, *text, *want; } cases[] = {
		{ "outbound.ini", "; x\nconcurrency_max=abc\n",
		  "config/outbound.ini:2: concurrency_max: expected a whole "
		  "number from 0 to 1000000, got 'abc'" },
		{ "outbound.ini", "maxTempFailures=-1\n",
		  "config/outbound.ini:1: maxTempFailures: expected a whole "
		  "number from 0 to 50, got '-1'" },
		{ "outbound.ini", "connect_timeout=soon\n",
		  "config/outbound.ini:1: connect_timeout: expected seconds "
		  "from 0 to 3600, got 'soon'" },
		{ "smtp.ini", "listen=127.0.0.1\n",
		  "config/smtp.ini:1: listen: '127.0.0.1' is not an "
		  "address:port (IPv6 as [addr]:port)" },
		{ "smtp.ini", "listen=127.0.0.1:25,::1:25\n",
		  "config/smtp.ini:1: listen: '::1:25' is not an address:port "
		  "(IPv6 as [addr]:port)" },
		{ "smtp.ini", "listen=mail.example.com:25\n",
		  "config/smtp.ini:1: listen: 'mail.example.com:25' is not an "
		  "address:port (IPv6 as [addr]:port)" },
		{ "smtp.ini", "listen=127.0.0.1:70000\n",
		  "config/smtp.ini:1: listen: '127.0.0.1:70000' is not an "
		  "address:port (IPv6 as [addr]:port)" },
		{ "smtp.ini", "inactivity_timeout=0\n",
		  "config/smtp.ini:1: inactivity_timeout: expected a whole "
		  "number from 1 to 86400, got '0'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err;

		put("outbound.ini", "");
		put("smtp.ini", "");
		put(cases[i].file, cases[i].text);
		err = load_err();
		assert_string_equal(err, cases[i].want);
		free(err);
	}
	put("smtp.ini", "");
}

static void
test_lenient_values(void **state)
{
	struct config *cfg;
	FILE *cap;
	char *out;

	(void)state;
	put("outbound.ini", "inet_prefer=V4\ntemp_fail_intervals=60\n");
	put("log.ini", "level=chatty\nformat=xml\n");
	cap = capture_start();
	cfg = load_ok();
	out = capture_end(cap);
	assert_int_equal(cfg->outbound->inet_prefer, INET_PREFER_DEFAULT);
	assert_int_equal(cfg->outbound->nintervals, 12);
	assert_int_equal(cfg->log.level, LOG_WARN);
	assert_int_equal(cfg->log.format, LOG_FMT_DEFAULT);
	assert_non_null(strstr(out, "[WARN] [-] [core] inet_prefer is set to "
	    "an invalid value: V4"));
	assert_non_null(strstr(out, "[WARN] [-] [core] invalid loglevel: "
	    "chatty defaulting to LOGWARN"));
	assert_non_null(strstr(out, "[WARN] [-] [core] invalid log format: "
	    "xml defaulting to DEFAULT"));
	free(out);
	config_unref(cfg);
	put("log.ini", "");
	put("outbound.ini", "");
}

static void
test_log_precedence(void **state)
{
	struct config *cfg, *next;
	char *err = NULL;

	(void)state;
	put("log.ini", "[main]\nlevel=info\ntimestamps=false\nformat=json\n");
	put("loglevel", "LOGDEBUG\n");
	cfg = load_ok();
	/* At start-up the loglevel file overrides log.ini. */
	assert_int_equal(cfg->log.level, LOG_DEBUG);
	assert_int_equal(cfg->log.timestamps, 0);
	assert_int_equal(cfg->log.format, LOG_FMT_JSON);

	/* Editing log.ini later makes it win... */
	put("log.ini", "level=notice\ntimestamps=false\nformat=logfmt\n");
	next = config_reload(cfg, CONFIG_LOG_INI, &err);
	assert_non_null(next);
	assert_int_equal(next->log.level, LOG_NOTICE);
	assert_int_equal(next->log.format, LOG_FMT_LOGFMT);
	/* ...and reloads share what is read only at start-up. */
	assert_ptr_equal(next->core, cfg->core);
	assert_ptr_equal(next->outbound, cfg->outbound);
	config_unref(cfg);

	/* ...until loglevel is edited again. */
	put("loglevel", "7\n");
	cfg = config_reload(next, CONFIG_LOGLEVEL, &err);
	assert_int_equal(cfg->log.level, LOG_DEBUG);
	assert_int_equal(cfg->log.format, LOG_FMT_LOGFMT);
	config_unref(next);

	/* log_timestamps can only turn timestamps on. */
	put("log_timestamps", "true\n");
	next = config_reload(cfg, CONFIG_LOG_TIMESTAMPS, &err);
	assert_int_equal(next->log.timestamps, 1);
	config_unref(cfg);
	put("log_timestamps", "false\n");
	cfg = config_reload(next, CONFIG_LOG_TIMESTAMPS, &err);
	assert_int_equal(cfg->log.timestamps, 1);
	config_unref(next);

	/* A log.ini without a timestamps key means on (Haraka's +timestamps);
	 * a log.ini without level keeps the current level. */
	put("log.ini", "format=default\n");
	next = config_reload(cfg, CONFIG_LOG_INI, &err);
	assert_int_equal(next->log.timestamps, 1);
	assert_int_equal(next->log.level, LOG_DEBUG);
	config_unref(cfg);
	config_unref(next);
	put("loglevel", "");
	put("log_timestamps", "");
	put("log.ini", "");
}

static void
test_reload_outbound(void **state)
{
	struct config *cfg, *next;
	char *err = NULL;

	(void)state;
	put("outbound.ini", "disabled=false\n");
	cfg = load_ok();
	put("outbound.ini", "disabled=true\ntemp_fail_intervals=5s*2\n");
	next = config_reload(cfg, CONFIG_OUTBOUND_INI, &err);
	assert_non_null(next);
	assert_int_equal(next->outbound->disabled, 1);
	assert_int_equal(next->outbound->nintervals, 2);
	assert_int_equal(cfg->outbound->disabled, 0);	/* old is untouched */
	config_unref(next);

	/* A bad value on reload keeps the running generation. */
	put("outbound.ini", "concurrency_max=lots\n");
	assert_null(config_reload(cfg, CONFIG_OUTBOUND_INI, &err));
	assert_non_null(strstr(err, "concurrency_max"));
	free(err);
	config_unref(cfg);
	put("outbound.ini", "");
}

/* outbound.ini's timeout_<stage> keys: RFC 5321 §4.5.3.2's defaults,
 * seconds (fractions too), 0 for the default, bad values refused, and
 * reloaded with the file. */
static void
test_stage_timeouts(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "timeout_dot=-1\n", "config/outbound.ini:1: timeout_dot: "
		  "expected seconds from 0 to 3600, got '-1'" },
		{ "\ntimeout_greeting=5m\n", "config/outbound.ini:2: "
		  "timeout_greeting: expected seconds from 0 to 3600, got "
		  "'5m'" },
		{ "timeout_data_block=3601\n", "config/outbound.ini:1: "
		  "timeout_data_block: expected seconds from 0 to 3600, got "
		  "'3601'" },
	};
	struct config *cfg, *next;
	const struct config_outbound *o;
	char *err = NULL;

	(void)state;
	put("outbound.ini", "");
	cfg = load_ok();
	o = cfg->outbound;
	assert_true(o->timeouts.greeting == 300 && o->timeouts.ehlo == 300 &&
	    o->timeouts.starttls == 300 && o->timeouts.auth == 300 &&
	    o->timeouts.mail == 300 && o->timeouts.rcpt == 300);
	assert_true(o->timeouts.data == 120 && o->timeouts.data_block == 180 &&
	    o->timeouts.dot == 600 && o->timeouts.rset == 20 &&
	    o->timeouts.quit == 5);
	put("outbound.ini", "timeout_greeting=1\ntimeout_ehlo=2\n"
	    "timeout_starttls=3\ntimeout_auth=4\ntimeout_rset=5\n"
	    "timeout_mail=6\ntimeout_rcpt=7\ntimeout_data=8\n"
	    "timeout_data_block=9\ntimeout_dot=10.5\ntimeout_quit=0\n");
	next = config_reload(cfg, CONFIG_OUTBOUND_INI, &err);
	assert_non_null(next);
	o = next->outbound;
	assert_true(o->timeouts.greeting == 1 && o->timeouts.ehlo == 2 &&
	    o->timeouts.starttls == 3 && o->timeouts.auth == 4 &&
	    o->timeouts.rset == 5 && o->timeouts.mail == 6 &&
	    o->timeouts.rcpt == 7 && o->timeouts.data == 8 &&
	    o->timeouts.data_block == 9 && o->timeouts.dot == 10.5);
	assert_true(o->timeouts.quit == 5);		/* 0: the default */
	assert_true(cfg->outbound->timeouts.dot == 600);	/* old untouched */
	config_unref(next);
	config_unref(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("outbound.ini", bad[i].text);
		err = load_err();
		assert_string_equal(err, bad[i].want);
		free(err);
	}
	put("outbound.ini", "");
}

static void
test_watched_names(void **state)
{
	(void)state;
	assert_int_equal(config_file_by_name("log.ini"), CONFIG_LOG_INI);
	assert_int_equal(config_file_by_name("loglevel"), CONFIG_LOGLEVEL);
	assert_int_equal(config_file_by_name("log_timestamps"),
	    CONFIG_LOG_TIMESTAMPS);
	assert_int_equal(config_file_by_name("outbound.ini"),
	    CONFIG_OUTBOUND_INI);
	assert_int_equal(config_file_by_name("smtp.ini"), 0);
	assert_string_equal(config_file_name(CONFIG_OUTBOUND_INI),
	    "outbound.ini");
}

/* delivery_memory_max, records_backlog_max: bytes with suffixes, 0 for
 * no limit, a percentage or a word refused. */
static void
test_memory_bounds(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "delivery_memory_max=5%\n",
		  "config/outbound.ini:1: delivery_memory_max: expected bytes "
		  "(k, M, G, T suffixes) or 0 for no limit, got '5%'" },
		{ "\nrecords_backlog_max=lots\n",
		  "config/outbound.ini:2: records_backlog_max: expected bytes "
		  "(k, M, G, T suffixes) or 0 for no limit, got 'lots'" },
	};
	struct config *cfg;

	(void)state;
	put("outbound.ini", "");
	cfg = load_ok();
	assert_true(cfg->outbound->delivery_memory_max == 256u << 20);
	assert_true(cfg->outbound->records_backlog_max == 64u << 20);
	config_unref(cfg);
	put("outbound.ini", "delivery_memory_max=4M\nrecords_backlog_max=0\n");
	cfg = load_ok();
	assert_true(cfg->outbound->delivery_memory_max == 4u << 20);
	assert_true(cfg->outbound->records_backlog_max == 0);
	config_unref(cfg);
	put("outbound.ini", "delivery_memory_max=0\nrecords_backlog_max=1500\n");
	cfg = load_ok();
	assert_true(cfg->outbound->delivery_memory_max == 0);
	assert_true(cfg->outbound->records_backlog_max == 1500);
	config_unref(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err;

		put("outbound.ini", bad[i].text);
		err = load_err();
		assert_string_equal(err, bad[i].want);
		free(err);
	}
	put("outbound.ini", "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intervals_valid),
		cmocka_unit_test(test_intervals_fallback),
		cmocka_unit_test(test_intervals_messages),
		cmocka_unit_test(test_default_intervals),
		cmocka_unit_test(test_empty_config_defaults),
		cmocka_unit_test(test_files_read),
		cmocka_unit_test(test_legacy_flat_files),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_lenient_values),
		cmocka_unit_test(test_log_precedence),
		cmocka_unit_test(test_reload_outbound),
		cmocka_unit_test(test_stage_timeouts),
		cmocka_unit_test(test_watched_names),
		cmocka_unit_test(test_memory_bounds),
	};

	return cmocka_run_group_tests_name("config", tests, setup_root,
	    teardown_root);
}
