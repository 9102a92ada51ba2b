/* Unit tests: delivery/shaper_file — the state file's text (one line per
 * destination, suspended-until in Unix seconds, the last reply without
 * tabs) and --qstat's "destination" lines read back from it, the workers'
 * files of smtp.ini nodes summed into one line per destination. */
#include "unit.h"

#include <sys/stat.h>

#include <stdio.h>
#include <unistd.h>

#include "delivery/shaper.h"
#include "delivery/shaper_file.h"
#include "lib/buf.h"

static void
test_text_and_report(void **state)
{
	char *err = NULL, dir[] = "/tmp/shaper_file.XXXXXX", *run, *path;
	struct shaping *sh = shaping_parse("[a.test]\nmax_connections=3\n",
	    "suspend 1m code 4xx /quota/\n", &err);
	struct shaper *sp;
	struct shaper_dest *d;
	struct buf b = BUF_INIT;
	char out[2048] = "";
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(sh);
	sp = shaper_new(sh, 16, 60000);
	d = shaper_get(sp, "a.test", shaping_lookup(sh, "a.test", NULL, 0,
	    (char[SHAPING_KEY_MAX]){ 0 }), 1000);
	assert_int_equal(shaper_may_connect(d, 1000), 0);
	shaper_queued(d, 1);
	shaper_queued(d, 1);
	shaper_queued(d, -1);
	assert_int_equal(shaper_result(d, 451, "4.3.2", "Daily\tquota", 0,
	    1000), SHAPING_SUSPEND);
	shaper_file_text(sp, 1000, 1700000000000LL, &b);
	assert_string_equal(buf_cstr(&b), "# outpost shaping 2\n"
	    "a.test\tsuspended\t1\t1\t1\t0\t0\t1700000060\t"
	    "451 4.3.2 Daily quota\n");

	assert_non_null(mkdtemp(dir));
	run = xasprintf("%s/run", dir);
	path = xasprintf("%s/shaping.tsv", run);
	assert_int_equal(mkdir(run, 0755), 0);
	assert_int_equal(shaper_file_write(path, buf_cstr(&b), b.len), 0);
	f = fmemopen(out, sizeof(out), "w");
	shaper_file_report(f, dir, 1);
	fclose(f);
	assert_string_equal(out, "destination a.test mode=suspended "
	    "queued=1 inflight=1 limit=1 step=0 waiting=0 "
	    "suspended_until=2023-11-14T22:14:20Z last=451 4.3.2 Daily quota\n");
	n = strlen(out);
	assert_true(n > 0);

	unlink(path);
	rmdir(run);
	rmdir(dir);
	free(path);
	free(run);
	buf_free(&b);
	shaper_release(d);
	shaper_closed(d, 2000);
	shaper_free(sp);
	shaping_unref(sh);
}

static void
test_workers_summed(void **state)
{
	char dir[] = "/tmp/shaper_file.XXXXXX", *run, out[2048] = "";
	const char *names[] = { "shaping.tsv", "shaping.w0.tsv",
	    "shaping.w1.tsv", "shaping.w2.tsv" };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	run = xasprintf("%s/run", dir);
	assert_int_equal(mkdir(run, 0755), 0);
	write_file(run, names[0], "# outpost shaping 2\n"	/* stale */
	    "old.test\tnormal\t9\t0\t20\t0\t0\t0\t\n");
	write_file(run, names[1], "# outpost shaping 2\n"
	    "a.test\tnormal\t2\t1\t1\t0\t1\t0\t\n"
	    "b.test\tnormal\t1\t0\t0\t0\t0\t0\t\n");
	write_file(run, names[2], "# outpost shaping 2\n"
	    "c.test\tnormal\t1\t1\t10\t0\t0\t0\t\n"
	    "a.test\tsuspended\t1\t0\t1\t0\t0\t1700000060\t"
	    "451 4.3.2 quota\n"
	    "b.test\tnormal\t1\t1\t5\t0\t0\t0\t\n");
	write_file(run, names[3], "# outpost shaping 2\n"	/* nodes=2: */
	    "a.test\tnormal\t7\t0\t1\t0\t0\t0\t\n");	/* not read */
	f = fmemopen(out, sizeof(out), "w");
	shaper_file_report(f, dir, 2);
	fclose(f);
	assert_string_equal(out,
	    "destination a.test mode=suspended queued=3 inflight=1 limit=2 "
	    "step=0 waiting=1 suspended_until=2023-11-14T22:14:20Z "
	    "last=451 4.3.2 quota\n"
	    "destination b.test mode=normal queued=2 inflight=1 limit=none "
	    "step=0 waiting=0 suspended_until=- last=-\n"
	    "destination c.test mode=normal queued=1 inflight=1 limit=10 "
	    "step=0 waiting=0 suspended_until=- last=-\n");
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char *path = xasprintf("%s/%s", run, names[i]);

		unlink(path);
		free(path);
	}
	rmdir(run);
	rmdir(dir);
	free(run);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_and_report),
		cmocka_unit_test(test_workers_summed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
