/* Unit tests: core/daemon.c — reading the holder's pid from /proc/locks,
 * the queue directory's lock, smtp.ini user and group lookups. The drop
 * itself is tested end to end (tests/e2e/test_daemon_safety.py). */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/daemon.h"

static long
holder(const char *text, unsigned major, unsigned minor, unsigned long ino)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	long pid;

	assert_non_null(f);
	pid = daemon_lock_holder(f, major, minor, ino);
	fclose(f);
	return pid;
}

static void
test_lock_holder(void **state)
{
	static const char locks[] =
	    "1: POSIX  ADVISORY  WRITE 11 fe:00:500 0 EOF\n"
	    "2: FLOCK  ADVISORY  READ 12 fe:00:500 0 EOF\n"
	    "3: FLOCK  ADVISORY  WRITE 4242 fe:00:500 0 EOF\n"
	    "3: -> FLOCK  ADVISORY  WRITE 77 fe:00:500 0 EOF\n"
	    "4: FLOCK  ADVISORY  WRITE 99 fe:01:600 0 EOF\n"
	    "5: OFDLCK ADVISORY  WRITE -1 00:2d:700 0 EOF\n";

	(void)state;
	/* The writer of that device and inode; not the waiter, not a POSIX
	 * or shared lock. */
	assert_int_equal(holder(locks, 0xfe, 0, 500), 4242);
	assert_int_equal(holder(locks, 0xfe, 1, 600), 99);
	/* Another device number (btrfs): the inode alone when unique. */
	assert_int_equal(holder(locks, 0x2a, 0, 600), 99);
	assert_int_equal(holder(locks, 0xfe, 0, 601), 0);
	assert_int_equal(holder(locks, 0x00, 0x2d, 700), 0);
	/* Two locks on that inode elsewhere: no guess. */
	assert_int_equal(holder(
	    "1: FLOCK  ADVISORY  WRITE 5 08:01:42 0 EOF\n"
	    "2: FLOCK  ADVISORY  WRITE 6 08:02:42 0 EOF\n", 0xfe, 0, 42), 0);
	/* Junk and truncated lines are skipped. */
	assert_int_equal(holder("\n1:\nFLOCK\n1: FLOCK ADVISORY WRITE x "
	    "fe:00:500 0 EOF\n1: FLOCK ADVISORY WRITE 3 fe:00:500x 0 EOF\n"
	    "1: FLOCK ADVISORY WRITE 8 fe:00:500 0 EOF\n", 0xfe, 0, 500), 8);
	assert_int_equal(holder("", 0xfe, 0, 500), 0);
}

static void
test_lock_queue(void **state)
{
	char *dir = tmpdir_new(), *qdir = xasprintf("%s/a/b/queue", dir);
	char *err = NULL, *want;
	struct daemon_ids ids;
	struct stat st;
	int fd = -1, fd2 = -1;

	(void)state;
	assert_int_equal(daemon_ids_resolve(NULL, NULL, &ids, &err), 0);
	/* Missing: created 0700 with its parents, then locked. */
	assert_int_equal(daemon_lock_queue(qdir, &ids, &fd, &err),
	    DAEMON_LOCKED);
	assert_null(err);
	assert_true(fd >= 0);
	assert_int_equal(stat(qdir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* A second lock (another open of the directory, as another daemon
	 * would) is refused, naming the holder: this process. */
	assert_int_equal(daemon_lock_queue(qdir, &ids, &fd2, &err),
	    DAEMON_LOCK_HELD);
	assert_int_equal(fd2, -1);
	want = xasprintf("queue directory %s is in use by another outpost "
	    "(pid %ld); not starting a second one", qdir, (long)getpid());
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = NULL;
	/* Released with its descriptor. */
	close(fd);
	assert_int_equal(daemon_lock_queue(qdir, &ids, &fd, &err),
	    DAEMON_LOCKED);
	close(fd);
	/* Not a directory. */
	write_file(dir, "file", "x");
	free(qdir);
	qdir = xasprintf("%s/file", dir);
	assert_int_equal(daemon_lock_queue(qdir, &ids, &fd, &err),
	    DAEMON_LOCK_ERROR);
	want = xasprintf("queue directory %s: Not a directory", qdir);
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = NULL;
	daemon_ids_clear(&ids);
	free(qdir);
	tmpdir_rm(dir);
}

static void
test_ids(void **state)
{
	struct daemon_ids ids;
	char *err = NULL;

	(void)state;
	/* Neither: this process's ids, nothing to drop. */
	assert_int_equal(daemon_ids_resolve(NULL, NULL, &ids, &err), 0);
	assert_null(ids.user);
	assert_int_equal(ids.uid, geteuid());
	assert_int_equal(daemon_will_drop(&ids), 0);
	assert_int_equal(daemon_drop(&ids, &err), 0);
	daemon_ids_clear(&ids);

	/* By name or number; the group defaults to the user's. */
	assert_int_equal(daemon_ids_resolve("root", NULL, &ids, &err), 0);
	assert_string_equal(ids.user, "root");
	assert_int_equal(ids.uid, 0);
	assert_int_equal(ids.gid, 0);
	assert_null(ids.group);
	assert_int_equal(daemon_will_drop(&ids), 0);	/* root is root */
	daemon_ids_clear(&ids);
	assert_int_equal(daemon_ids_resolve("0", "0", &ids, &err), 0);
	assert_string_equal(ids.user, "root");
	assert_string_equal(ids.group, "root");
	daemon_ids_clear(&ids);

	/* Missing ones name the key. */
	assert_int_equal(daemon_ids_resolve("no-such-user-outpost", NULL, &ids,
	    &err), -1);
	assert_string_equal(err, "config/smtp.ini: user: no user "
	    "'no-such-user-outpost' on this system");
	free(err);
	err = NULL;
	assert_int_equal(daemon_ids_resolve("root", "no-such-group-outpost",
	    &ids, &err), -1);
	assert_string_equal(err, "config/smtp.ini: group: no group "
	    "'no-such-group-outpost' on this system");
	assert_null(ids.user);
	free(err);
	err = NULL;
	assert_int_equal(daemon_ids_resolve("4294967295", NULL, &ids, &err),
	    -1);
	free(err);
}

static void
test_pidfile(void **state)
{
	char *dir = tmpdir_new(), *path = xasprintf("%s/outpost.pid", dir);
	char *err = NULL, want[32], got[32] = "";
	struct stat st;
	FILE *f;
	mode_t old = umask(077);

	(void)state;
	/* A stale one (a crashed run) is replaced; the mode is 0644 whatever
	 * the umask. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("999999\n", f);
	fclose(f);
	assert_int_equal(daemon_pidfile_write(path, &err), 0);
	umask(old);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(got, want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(daemon_pidfile_remove(path), 1);
	assert_int_equal(access(path, F_OK), -1);
	/* Another process's pid file is left alone. */
	f = fopen(path, "w");
	fputs("1\n", f);
	fclose(f);
	assert_int_equal(daemon_pidfile_remove(path), 0);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	/* A directory that is not there: one line naming the key. */
	free(path);
	path = xasprintf("%s/nowhere/outpost.pid", dir);
	assert_int_equal(daemon_pidfile_write(path, &err), -1);
	assert_non_null(strstr(err, "smtp.ini pid_file"));
	free(err);
	free(path);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_holder),
		cmocka_unit_test(test_lock_queue),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_pidfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
