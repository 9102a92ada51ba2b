/* Unit tests: core/space.c, free-space thresholds (queue_min_free,
 * records_min_free): the syntax, the arithmetic, the wording, and one
 * WARN/NOTICE per episode of a space_watch. */
#include "unit.h"

#include <errno.h>

#include <sys/stat.h>

#include "core/config.h"
#include "core/space.h"

static void
test_parse(void **state)
{
	static const struct {
		const char	*s;
		int		 bytes;
		enum space_kind	 kind;
		double		 v;
	} good[] = {
		{ "0", 1, SPACE_OFF, 0 },
		{ "0%", 1, SPACE_OFF, 0 },
		{ "123", 1, SPACE_ABS, 123 },
		{ "64k", 1, SPACE_ABS, 65536 },
		{ "64K", 1, SPACE_ABS, 65536 },
		{ "4M", 1, SPACE_ABS, 4194304 },
		{ "1.5G", 1, SPACE_ABS, 1610612736 },
		{ "2t", 1, SPACE_ABS, 2199023255552.0 },
		{ "5%", 1, SPACE_PCT, 5 },
		{ "0.5%", 0, SPACE_PCT, 0.5 },
		{ "99.9%", 1, SPACE_PCT, 99.9 },
		{ "1000", 0, SPACE_ABS, 1000 },
	};
	static const struct {
		const char	*s;
		int		 bytes;
	} bad[] = {
		{ "", 1 }, { "-1", 1 }, { "5 %", 1 }, { "100%", 1 },
		{ "150%", 1 }, { "5x", 1 }, { "4MB", 1 }, { "M", 1 },
		{ ".", 1 }, { "1.2.3", 1 }, { "1.5", 1 }, { "1e6", 1 },
		{ "0x10", 1 }, { "inf", 1 }, { "%", 1 }, { "64k", 0 },
		{ "10000000T", 1 }, { " 5", 1 },
		{ "12345678901234567890123", 1 },
	};
	struct space_min m;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (space_min_parse(good[i].s, good[i].bytes, &m) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(m.kind, good[i].kind);
		if (m.kind != SPACE_OFF && m.v != good[i].v)
			fail_msg("'%s': %f, not %f", good[i].s, m.v, good[i].v);
		assert_string_equal(m.text, good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (space_min_parse(bad[i].s, bad[i].bytes, &m) == 0)
			fail_msg("'%s' accepted", bad[i].s);
	assert_int_equal(space_min_parse(NULL, 1, &m), -1);
}

static void
rule(struct space_rule *r, const char *bytes, const char *inodes)
{
	assert_int_equal(space_min_parse(bytes, 1, &r->bytes), 0);
	assert_int_equal(space_min_parse(inodes, 0, &r->inodes), 0);
}

static void
test_arithmetic(void **state)
{
	struct space_stat st = { 5000, 100000, 30, 1000, 0 };
	struct space_rule r;
	struct space_min m;
	char out[256];

	(void)state;
	assert_int_equal(space_min_parse("5%", 1, &m), 0);
	assert_int_equal(space_min_value(&m, 100000), 5000);
	assert_int_equal(space_min_value(&m, 100001), 5001);	/* rounds up */
	assert_int_equal(space_min_parse("0", 1, &m), 0);
	assert_int_equal(space_min_value(&m, 100000), 0);

	/* Exactly at the threshold is not low; one byte under is. */
	rule(&r, "5%", "3%");
	assert_int_equal(space_test(&st, &r, 0), 0);
	assert_int_equal(space_test(&st, &r, 1), SPACE_LOW_BYTES);
	st.avail = 4999;
	assert_int_equal(space_test(&st, &r, 0), SPACE_LOW_BYTES);
	/* extra beyond what is free. */
	st.avail = 5000;
	assert_int_equal(space_test(&st, &r, 10000), SPACE_LOW_BYTES);
	st.ifree = 29;
	assert_int_equal(space_test(&st, &r, 0), SPACE_LOW_INODES);
	st.avail = 10;
	assert_int_equal(space_test(&st, &r, 0),
	    SPACE_LOW_BYTES | SPACE_LOW_INODES);
	/* Off is never low, whatever the size; uncounted inodes neither. */
	rule(&r, "0", "0");
	assert_int_equal(space_test(&st, &r, 1u << 30), 0);
	rule(&r, "1", "50%");
	st.itotal = 0;
	st.ifree = 0;
	assert_int_equal(space_test(&st, &r, 0), 0);

	st = (struct space_stat){ 3145728, 16777216, 39, 200, 0 };
	rule(&r, "4M", "25%");
	space_describe(out, sizeof(out), &st, &r, "queue_min_free");
	assert_string_equal(out, "3145728 bytes free (queue_min_free 4M = "
	    "4194304), 39 inodes free (queue_min_free_inodes 25% = 50)");
	rule(&r, "0", "100");
	st.itotal = 0;
	space_describe(out, sizeof(out), &st, &r, "records_min_free");
	assert_string_equal(out, "3145728 bytes free (records_min_free off), "
	    "inodes not counted");
	/* A short buffer is cut, still terminated. */
	space_describe(out, 10, &st, &r, "records_min_free");
	assert_string_equal(out, "3145728 b");
}

static void
test_measure(void **state)
{
	char *dir = tmpdir_new(), *missing = xasprintf("%s/a/b/c", dir);
	struct space_stat st, st2;

	(void)state;
	assert_int_equal(space_measure(dir, &st), 0);
	assert_true(st.total > 0 && st.avail <= st.total);
	/* Not created yet: the file system it will be on. */
	assert_int_equal(space_measure(missing, &st2), 0);
	assert_true(st2.dev == st.dev && st2.total == st.total);
	write_file(dir, "file", "x");
	free(missing);
	missing = xasprintf("%s/file/below", dir);
	assert_int_equal(space_measure(missing, &st2), -1);
	assert_int_equal(errno, ENOTDIR);
	free(missing);
	tmpdir_rm(dir);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_watch_episodes(void **state)
{
	char *dir = tmpdir_new(), *log;
	struct space_watch w;
	struct space_rule r;
	FILE *f;

	(void)state;
	log_set_level(LOG_INFO);
	f = capture_start();
	space_watch_init(&w, dir, "queue", "queue_min_free",
	    "refusing", "accepting");
	rule(&r, "0", "0");
	assert_int_equal(space_watch_poll(&w, &r), 0);	/* ok: no line */
	rule(&r, "1000000T", "0");			/* more than any disk */
	assert_int_equal(space_watch_poll(&w, &r), 1);
	assert_int_equal(space_watch_poll(&w, &r), 1);
	assert_int_equal(space_watch_poll(&w, &r), 1);
	rule(&r, "1", "0");
	assert_int_equal(space_watch_poll(&w, &r), 0);
	assert_int_equal(space_watch_poll(&w, &r), 0);
	/* A directory that goes away: one WARN, the state is kept. */
	rule(&r, "1000000T", "0");
	assert_int_equal(space_watch_poll(&w, &r), 1);
	write_file(dir, "file", "x");
	free(w.path);
	w.path = xasprintf("%s/file/below", dir);
	assert_int_equal(space_watch_poll(&w, &r), 1);
	assert_int_equal(space_watch_poll(&w, &r), 1);
	space_watch_clear(&w);
	log = capture_end(f);
	assert_int_equal(count(log, "[WARN] [-] [core] queue: free space low "
	    "on "), 2);
	assert_int_equal(count(log, "[NOTICE] [-] [core] queue: free space "
	    "back on "), 1);
	assert_int_equal(count(log, "; refusing\n"), 2);
	assert_int_equal(count(log, "; accepting\n"), 1);
	assert_int_equal(count(log, "(queue_min_free 1000000T = "
	    "1099511627776000000)"), 2);
	assert_int_equal(count(log, "queue: cannot measure the free space "
	    "of "), 1);
	assert_int_equal(count(log, "/file/below: Not a directory\n"), 1);
	free(log);
	tmpdir_rm(dir);
}

/* outbound.ini's four keys through config_load: defaults, values, and
 * the one-line error of a bad one. */
static void
test_config_keys(void **state)
{
	char *root = tmpdir_new(), *dir = xasprintf("%s/config", root);
	char *err = NULL;
	struct config *cfg;

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	cfg = config_load(root, &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->outbound->queue_min_free.bytes.text, "5%");
	assert_string_equal(cfg->outbound->queue_min_free.inodes.text, "5%");
	assert_string_equal(cfg->outbound->records_min_free.bytes.text, "1%");
	assert_int_equal(cfg->outbound->records_min_free.inodes.kind,
	    SPACE_PCT);
	config_unref(cfg);

	write_file(dir, "outbound.ini", "queue_min_free=64M\n"
	    "queue_min_free_inodes=0\nrecords_min_free=0.5%\n"
	    "records_min_free_inodes=1000\n");
	cfg = config_load(root, &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->outbound->queue_min_free.bytes.kind, SPACE_ABS);
	assert_true(cfg->outbound->queue_min_free.bytes.v == 67108864.0);
	assert_int_equal(cfg->outbound->queue_min_free.inodes.kind, SPACE_OFF);
	assert_true(cfg->outbound->records_min_free.bytes.v == 0.5);
	assert_true(cfg->outbound->records_min_free.inodes.v == 1000.0);
	config_unref(cfg);

	write_file(dir, "outbound.ini", "[main]\ndisabled=true\n"
	    "records_min_free_inodes=2k\n");
	assert_null(config_load(root, &err));
	assert_string_equal(err, "config/outbound.ini:3: "
	    "records_min_free_inodes: expected a number of inodes or a "
	    "percentage below 100 (5%), got '2k'");
	free(err);
	free(dir);
	tmpdir_rm(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_arithmetic),
		cmocka_unit_test(test_measure),
		cmocka_unit_test(test_watch_episodes),
		cmocka_unit_test(test_config_keys),
	};

	return cmocka_run_group_tests_name("space", tests, NULL, NULL);
}
