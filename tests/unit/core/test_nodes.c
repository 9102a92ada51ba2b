/* Unit tests: smtp.ini nodes values (numbers, cpus, refused ones), the
 * per-worker paths, and the queue partitions' adoption both ways (every
 * regular file moved once, nothing replaced, partitions still owned kept),
 * and which files predate a run (accounting leftovers). */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/nodes.h"
#include "core/worker.h"
#include "lib/xmalloc.h"

static void
test_parse(void **state)
{
	unsigned n = 99;
	char *err = NULL;

	(void)state;
	assert_int_equal(nodes_parse("0", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(nodes_parse("4", &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(nodes_parse("cpus", &n), 0);
	assert_true(n >= 1 && n <= NODES_MAX);
	assert_int_equal(nodes_parse("65", &n), -1);
	assert_int_equal(nodes_parse("-1", &n), -1);
	assert_int_equal(nodes_parse("2x", &n), -1);
	assert_int_equal(nodes_parse("", &n), -1);
	n = 3;
	nodes_load(NULL, 0, &n, &err);
	assert_null(err);
	assert_int_equal(n, 3);
	nodes_load("many", 7, &n, &err);
	assert_non_null(err);
	assert_string_equal(err, "config/smtp.ini:7: nodes: 'many' is not a "
	    "number (0..64) or 'cpus'");
	free(err);
}

static void
test_single_process_paths(void **state)
{
	char *p;

	(void)state;
	assert_int_equal(nodes_worker(), -1);
	assert_int_equal(nodes_count(), 1);
	p = nodes_path(xstrdup("/spool"));
	assert_string_equal(p, "/spool");
	free(p);
}

static void
touch(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, name, strlen(name)), (ssize_t)strlen(name));
	close(fd);
	free(p);
}

static int
count(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *p = xasprintf("%s/%s", dir, de->d_name);

		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			n++;
		free(p);
	}
	closedir(d);
	return n;
}

static int
exists(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int rc = access(p, F_OK) == 0;

	free(p);
	return rc;
}

static void
test_adopt(void **state)
{
	char tmpl[] = "/tmp/outpost-nodes-XXXXXX";
	char *top, *w0, *w1, *w2, *err = NULL;

	(void)state;
	top = mkdtemp(tmpl);
	assert_non_null(top);
	w0 = xasprintf("%s/w0", top);
	w1 = xasprintf("%s/w1", top);
	w2 = xasprintf("%s/w2", top);
	assert_int_equal(mkdir(w0, 0700), 0);
	assert_int_equal(mkdir(w1, 0700), 0);
	assert_int_equal(mkdir(w2, 0700), 0);
	touch(top, "a");
	touch(top, "msg.a");
	touch(w1, "b");
	touch(w2, "c");
	touch(w2, "msg.c");
	touch(w0, "c");		/* a name taken: left where it is */

	/* nodes=2: the top directory's and w2's files go to w0; w1 is kept. */
	assert_int_equal(nodes_adopt(top, 2, &err), 3);
	assert_null(err);
	assert_int_equal(count(top), 0);
	assert_int_equal(count(w1), 1);
	assert_int_equal(count(w2), 1);		/* "c": not replaced */
	assert_true(exists(w0, "a") && exists(w0, "msg.a") &&
	    exists(w0, "msg.c"));
	assert_int_equal(count(w0), 4);

	/* nodes=1: every partition back to the top. */
	{
		char *c = xasprintf("%s/c", w2);

		assert_int_equal(unlink(c), 0);
		free(c);
	}
	assert_int_equal(nodes_adopt(top, 1, &err), 5);
	assert_int_equal(count(top), 5);
	assert_int_equal(count(w0) + count(w1) + count(w2), 0);
	/* Again: nothing left to move. */
	assert_int_equal(nodes_adopt(top, 1, &err), 0);
	assert_int_equal(nodes_adopt("/nonexistent/outpost-queue", 2, &err), 0);

	for (const char *const *n = (const char *const[]){ "a", "msg.a", "b",
	    "c", "msg.c", NULL }; *n != NULL; n++) {
		char *p = xasprintf("%s/%s", top, *n);

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	rmdir(w0);
	rmdir(w1);
	rmdir(w2);
	assert_int_equal(rmdir(top), 0);
	free(w0);
	free(w1);
	free(w2);
}

/* A single process takes every file as a leftover; a worker only those
 * last written before the supervisor noted the run's start. */
static void
test_before_run(void **state)
{
	char tmpl[] = "/tmp/outpost-nodes-XXXXXX";
	struct timespec old = { 1000, 0 }, t;
	struct stat st;
	char *dir, *path;
	int fd;

	(void)state;
	assert_true(nodes_before_run(&old));
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 3600;
	assert_true(nodes_before_run(&t));	/* no run: anything goes */

	nodes_mark_start();
	nodes_become(0, 2, -1, NULL, NULL);		/* this process: worker 0 */
	assert_true(nodes_before_run(&old));
	assert_false(nodes_before_run(&t));
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	path = xasprintf("%s/d.new", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	assert_false(nodes_before_run(&st.st_mtim));	/* written by this run */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_single_process_paths),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_before_run),	/* last: a worker */
	};

	return cmocka_run_group_tests_name("core_nodes", tests, NULL, NULL);
}
