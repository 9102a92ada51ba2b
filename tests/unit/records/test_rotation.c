/* Unit tests: records/rotation — names never used twice across a shared
 * directory and its archive: a free .<n> in the archive skips another
 * worker's current file, the directory's lock holds another process's
 * choice back, and two processes rotating at once in one second never
 * take one name. */
#include "unit.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "records/rotation.h"

struct dirs {
	char	*dir, *arch;
};

static void
dirs_init(struct dirs *d)
{
	d->dir = tmpdir_new();
	d->arch = xasprintf("%s/archive", d->dir);
	assert_int_equal(mkdir(d->arch, 0755), 0);
}

static void
dirs_done(struct dirs *d)
{
	free(d->arch);
	tmpdir_rm(d->dir);
}

static struct rot
rot_of(const struct dirs *d)
{
	return (struct rot){ .dir = d->dir, .archive_dir = d->arch,
	    .prefix = "d", .ext = "tsv" };
}

/* Regular files of dir, appended to names[*n] (each malloc'd). */
static void
list(const char *dir, char **names, size_t max, size_t *n)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		if (de->d_type == DT_REG) {
			assert_true(*n < max);
			names[(*n)++] = xstrdup(de->d_name);
		}
	closedir(dp);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir and archive has its own name; returns how many. */
static size_t
assert_unique(const struct dirs *d)
{
	char *names[4096];
	size_t n = 0;

	list(d->dir, names, 4096, &n);
	list(d->arch, names, 4096, &n);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			fail_msg("name used twice: %s", names[i]);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return n;
}

static void
test_create_and_archive(void **state)
{
	struct dirs d;
	struct rot a, b;
	char *pa, *pb, *as = NULL, *want;
	int fa, fb;

	(void)state;
	dirs_init(&d);
	a = rot_of(&d);
	b = rot_of(&d);
	assert_true((fa = rot_create(&a, &pa)) >= 0);
	assert_true((fb = rot_create(&b, &pb)) >= 0);
	close(fa);
	close(fb);
	assert_string_not_equal(pa, pb);
	/* a's name is free in the archive: it keeps it. */
	assert_int_equal(rot_archive(&a, pa, &as), 0);
	assert_string_equal(as, strrchr(pa, '/') + 1);
	free(as);
	free(pa);
	/* The next file of a, in the same second or not, is a new name. */
	assert_true((fa = rot_create(&a, &pa)) >= 0);
	close(fa);
	assert_int_equal(assert_unique(&d), 3);
	free(pa);
	free(pb);
	dirs_done(&d);
	/* The archive has the name, and the next .<n> is another worker's
	 * current file in the directory: that one is skipped too. */
	dirs_init(&d);
	a = rot_of(&d);
	assert_true((fa = rot_create(&a, &pa)) >= 0);
	close(fa);
	assert_int_equal(a.seq, 0);
	want = xasprintf("d.%s.tsv", a.stamp);
	write_file(d.arch, want, "taken\n");
	free(want);
	want = xasprintf("d.%s.1.tsv", a.stamp);
	write_file(d.dir, want, "another worker's current file\n");
	free(want);
	assert_int_equal(rot_archive(&a, pa, &as), 0);
	want = xasprintf("d.%s.2.tsv", a.stamp);
	assert_string_equal(as, want);
	free(want);
	free(as);
	free(pa);
	assert_int_equal(assert_unique(&d), 3);
	dirs_done(&d);
}

/* While one holds the directory's lock, another process cannot choose a
 * name; it does as soon as the lock goes. */
static void
test_lock_holds_others_back(void **state)
{
	struct dirs d;
	struct pollfd pfd;
	int p[2], lk, status;
	char c;
	pid_t pid;

	(void)state;
	dirs_init(&d);
	assert_true((lk = rot_lock(d.dir)) >= 0);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		struct rot r = rot_of(&d);
		char *path;

		close(p[0]);
		close(lk);	/* the parent's lock, not this process's */
		_exit(rot_create(&r, &path) >= 0 && write(p[1], "x", 1) == 1 ?
		    0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 300), 0);	/* still waiting */
	rot_unlock(lk);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	assert_int_equal(assert_unique(&d), 1);
	dirs_done(&d);
}

#define ROUNDS	300

/* Two processes create and archive files as fast as they can, mostly
 * within one second: no name is ever used twice. (A property check: the
 * race it guards against is narrow, so the two tests above are the ones
 * that fail without the lock and the check of dir.) */
static void
test_two_processes_rotating(void **state)
{
	struct dirs d;
	pid_t pid[2];
	int status;

	(void)state;
	dirs_init(&d);
	for (int k = 0; k < 2; k++)
		if ((pid[k] = fork()) == 0) {
			struct rot r = rot_of(&d);
			char *path, *as;
			int fd;

			for (int i = 0; i < ROUNDS; i++) {
				if ((fd = rot_create(&r, &path)) < 0)
					_exit(1);
				close(fd);
				if (rot_archive(&r, path, &as) != 0)
					_exit(2);
				free(as);
				free(path);
			}
			_exit(0);
		}
	for (int k = 0; k < 2; k++) {
		assert_true(pid[k] > 0);
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(assert_unique(&d), 2 * ROUNDS);
	dirs_done(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_archive),
		cmocka_unit_test(test_lock_holds_others_back),
		cmocka_unit_test(test_two_processes_rotating),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
