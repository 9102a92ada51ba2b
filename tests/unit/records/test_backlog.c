/* Unit tests: records/backlog.c — the limit with its hysteresis (paused
 * past records_backlog_max, resumed at half of it, logged once each way)
 * and the count the record writer keeps: appended bytes wait until
 * written, and those a failing stream never writes leave with it. */
#include "unit.h"

#include <fcntl.h>
#include <time.h>

#include <event2/event.h>

#include "records/backlog.h"
#include "records/writer.h"

struct calls {
	int	 last;
	int	 n;
};

static void
watch(void *arg, int over)
{
	struct calls *c = arg;

	c->last = over;
	c->n++;
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
test_hysteresis(void **state)
{
	struct calls c = { -1, 0 };
	FILE *f;
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	f = capture_start();
	rbacklog_configure(100);
	rbacklog_watch(watch, &c);
	rbacklog_add(60);
	rbacklog_add(40);			/* at the limit: not past it */
	assert_int_equal(c.n, 0);
	rbacklog_add(1);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.last, 1);
	rbacklog_add(500);			/* still over: nothing new */
	rbacklog_done(500);
	rbacklog_done(50);			/* 51: above half */
	assert_int_equal(c.n, 1);
	rbacklog_done(1);			/* 50: half, resumed */
	assert_int_equal(c.n, 2);
	assert_int_equal(c.last, 0);
	rbacklog_add(10);			/* 60: not past the limit */
	assert_int_equal(c.n, 2);
	assert_true(rbacklog_bytes() == 60);
	/* A lowered limit applies at once, and so does no limit. */
	rbacklog_configure(50);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.last, 1);
	rbacklog_configure(0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.last, 0);
	rbacklog_done(1000);			/* never below zero */
	assert_true(rbacklog_bytes() == 0);
	rbacklog_watch(NULL, NULL);
	out = capture_end(f);
	assert_int_equal(count(out, "[WARN] [-] [core] records: "), 2);
	assert_non_null(strstr(out, "[WARN] [-] [core] records: 101 bytes of "
	    "records wait for the disk (records_backlog_max 100); deliveries "
	    "are paused until they drain"));
	assert_int_equal(count(out, "[NOTICE] [-] [core] records: "), 2);
	assert_non_null(strstr(out, "[NOTICE] [-] [core] records: the backlog "
	    "drained to 50 bytes (records_backlog_max 100); deliveries "
	    "resume"));
	free(out);
	log_set_level(LOG_WARN);
}

static void
on_written(void *arg)
{
	(*(int *)arg)++;
}

/* Runs the loop until *n is set or ms pass. */
static void
run_until(struct event_base *base, const int *n, long ms)
{
	for (long t = 0; t < ms && (n == NULL || *n == 0); t++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
test_writer_counts(void **state)
{
	static const char rec[] = "a record\n";
	struct event_base *base = event_base_new();
	struct calls c = { -1, 0 };
	char *err = NULL, *dir = tmpdir_new(), *path;
	struct recwriter *w = recwriter_new(base, &err);
	struct rw_opts o = { .fd = -1, .source = "test" };
	struct rw_stream *ok, *full;
	int done = 0, fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	FILE *f;

	(void)state;
	assert_non_null(w);
	assert_true(fd >= 0);
	rbacklog_configure(3 * (sizeof(rec) - 1));
	rbacklog_watch(watch, &c);
	o.dir = dir;
	o.name = "ok.log";
	ok = rw_stream_open(w, &o, &err);
	assert_non_null(ok);
	memset(&o, 0, sizeof(o));
	o.fd = fd;
	o.source = "test";
	full = rw_stream_open(w, &o, &err);
	assert_non_null(full);

	/* Written: counted while it waits, gone once written. */
	rw_append(ok, rec, sizeof(rec) - 1, on_written, &done);
	assert_true(rbacklog_bytes() == sizeof(rec) - 1);
	run_until(base, &done, 5000);
	assert_int_equal(done, 1);
	assert_true(rbacklog_bytes() == 0);

	/* A disk that is full: the records stay counted; past the limit
	 * the watcher is told. */
	f = capture_start();
	for (int i = 0; i < 4; i++)
		rw_append(full, rec, sizeof(rec) - 1, NULL, NULL);
	run_until(base, NULL, 300);
	assert_true(rbacklog_bytes() == 4 * (sizeof(rec) - 1));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.last, 1);
	/* Shutdown drops what a failing stream could not write. */
	recwriter_free(w);
	free(capture_end(f));
	assert_true(rbacklog_bytes() == 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.last, 0);
	rbacklog_watch(NULL, NULL);
	rbacklog_configure(0);
	close(fd);
	event_base_free(base);
	path = xasprintf("%s/ok.log", dir);
	assert_int_equal(unlink(path), 0);
	free(path);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_writer_counts),
	};

	return cmocka_run_group_tests_name("backlog", tests, NULL, NULL);
}
