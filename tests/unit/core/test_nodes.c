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
	nodes_become(0, 2, -1, NULL, NULL, NULL);		/* this process: worker 0 */
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

/* The spools no process of the run owns: "got" (NULL-terminated, freed)
 * names, relative to base, in order. */
static void
check_orphans(const char *base, char **got, const char *const *want)
{
	size_t i = 0;

	for (; got[i] != NULL; i++) {
		char *w;

		assert_non_null(want[i]);
		w = *want[i] ? xasprintf("%s/%s", base, want[i]) :
		    xstrdup(base);
		assert_string_equal(got[i], w);
		free(w);
		free(got[i]);
	}
	assert_null(want[i]);
	free(got);
}

/* A single process takes over every worker's spool; worker 0 of 2 the
 * single process's (base) and those of workers 2 and up; worker 1 none. */
static void
test_orphans(void **state)
{
	char tmpl[] = "/tmp/outpost-orphans.XXXXXX", *base = mkdtemp(tmpl);
	const char *subs[] = { "w0", "w1", "w2", "w5", "wx" };
	char *p;

	(void)state;
	assert_non_null(base);
	for (size_t i = 0; i < 5; i++) {
		p = xasprintf("%s/%s", base, subs[i]);
		assert_int_equal(mkdir(p, 0700), 0);
		free(p);
	}
	touch(base, "w3");		/* a file, not a spool */
	check_orphans(base, nodes_orphans(base),
	    (const char *[]){ "w0", "w1", "w2", "w5", NULL });
	nodes_become(1, 2, -1, NULL, NULL, NULL);
	check_orphans(base, nodes_orphans(base), (const char *[]){ NULL });
	nodes_become(0, 2, -1, NULL, NULL, NULL);
	check_orphans(base, nodes_orphans(base),
	    (const char *[]){ "", "w2", "w5", NULL });
	nodes_become(-1, 1, -1, NULL, NULL, NULL);	/* the single process again */
	p = xasprintf("rm -rf '%s'", base);
	assert_int_equal(system(p), 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_single_process_paths),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_orphans),
		cmocka_unit_test(test_before_run),	/* last: a worker */
	};

	return cmocka_run_group_tests_name("core_nodes", tests, NULL, NULL);
}
