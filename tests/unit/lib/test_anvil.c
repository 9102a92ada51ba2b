/* Unit tests: lib/anvil — the client table shared by processes: limits in
 * total and per key, a table that never outgrows its size, two processes
 * counting in one table (connections and AUTH failures), a dead process's
 * column forgotten, and a process killed while it holds the lock. */
#include "unit.h"

#include <signal.h>
#include <sys/wait.h>

#include "lib/anvil.h"

/* A child killed in the middle of a change, holding the lock: the next
 * caller finds the mutex's owner dead, repairs and goes on. First: the
 * crash point is read once per process, before any pass through it. */
static void
test_holder_killed(void **state)
{
	struct anvil *a = anvil_new(2, 8, 3, 60, 10, 16);
	unsigned n, slot;
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(a);
	if ((pid = fork()) == 0) {
		setenv("OUTPOST_FAILPOINT", "anvil-mid-connect", 1);
		anvil_connect(a, 1, "198.51.100.7", 100, 1, &n, &slot);
		_exit(3);		/* not reached: killed above */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The half-made entry counted nothing: it is gone. */
	assert_int_equal(anvil_keys(a), 0);
	assert_int_equal(anvil_count(a, "198.51.100.7"), 0);
	assert_int_equal(anvil_connect(a, 0, "198.51.100.7", 100, 1, &n,
	    &slot), ANVIL_OK);
	assert_int_equal(anvil_count(a, "198.51.100.7"), 1);
	assert_int_equal(anvil_keys(a), 1);
	assert_int_equal(anvil_total(a), 1);
	assert_int_equal(anvil_connect(a, 0, "198.51.100.7", 100, 1, &n,
	    &slot), ANVIL_PER_KEY);
	assert_int_equal(n, 1);
	/* And the lock works for another process. */
	if ((pid = fork()) == 0)
		_exit(anvil_connect(a, 1, "198.51.100.8", 100, 1, &n, &slot) ==
		    ANVIL_OK && anvil_total(a) == 2 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(anvil_count(a, "198.51.100.8"), 1);
	anvil_free(a);
}

static void
test_limits(void **state)
{
	struct anvil *a = anvil_new(1, 3, 0, 0, 0, 0);
	unsigned n, slot, s[4];

	(void)state;
	assert_non_null(a);
	assert_false(anvil_auth_counts(a));
	assert_true(anvil_auth_locked(a, "k", 1) == 0);
	assert_int_equal(anvil_auth_fail(a, "k", 1, &n), 0);
	/* Per key: two from 192.0.2.1, the third refused with the count. */
	assert_int_equal(anvil_connect(a, 0, "192.0.2.1", 5, 2, &n, &s[0]),
	    ANVIL_OK);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.1", 5, 2, &n, &s[1]),
	    ANVIL_OK);
	assert_int_equal(s[0], s[1]);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.1", 5, 2, &n, &slot),
	    ANVIL_PER_KEY);
	assert_int_equal(n, 2);
	assert_int_equal(slot, 0);
	/* 0: no limit per key. */
	assert_int_equal(anvil_connect(a, 0, "192.0.2.1", 5, 0, &n, &s[2]),
	    ANVIL_OK);
	assert_int_equal(anvil_count(a, "192.0.2.1"), 3);
	/* In total: the fourth and fifth fit, the sixth does not. */
	assert_int_equal(anvil_connect(a, 0, "2001:db8::/64", 5, 2, &n, &s[3]),
	    ANVIL_OK);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.2", 5, 2, &n, &slot),
	    ANVIL_OK);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.3", 5, 2, &n, &slot),
	    ANVIL_TOTAL);
	assert_int_equal(n, 5);
	/* The table holds three keys: a fourth has no room. */
	assert_int_equal(anvil_keys(a), 3);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.3", 100, 2, &n, &slot),
	    ANVIL_FULL);
	assert_int_equal(n, 5);
	/* A key goes with its last connection; its room is reused. */
	anvil_disconnect(a, 0, s[3]);
	assert_int_equal(anvil_count(a, "2001:db8::/64"), 0);
	assert_int_equal(anvil_keys(a), 2);
	anvil_disconnect(a, 0, s[3]);		/* twice: nothing */
	assert_int_equal(anvil_total(a), 4);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.3", 100, 2, &n, &slot),
	    ANVIL_OK);
	assert_int_equal(anvil_keys(a), 3);
	anvil_disconnect(a, 0, s[0]);
	assert_int_equal(anvil_count(a, "192.0.2.1"), 2);
	/* A process gone: its column forgotten. */
	anvil_forget(a, 0);
	assert_int_equal(anvil_total(a), 0);
	assert_int_equal(anvil_keys(a), 0);
	assert_int_equal(anvil_count(a, "192.0.2.1"), 0);
	anvil_free(a);
}

/* Waits for one byte from fd. */
static void
await(int fd)
{
	char b;

	assert_int_equal(read(fd, &b, 1), 1);
}

/* Two processes, one table: what a child (column 1) counts, the parent
 * (column 0) sees and is limited by; AUTH failures add up across both;
 * the child killed with -9 and its column forgotten, its connections
 * count no more, the lockout stays. */
static void
test_two_processes(void **state)
{
	struct anvil *a = anvil_new(2, 64, 5, 60, 10, 16);
	unsigned n, slot;
	int p[2], status;
	pid_t pid;

	(void)state;
	assert_non_null(a);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		int ok = 1;

		for (int i = 0; i < 3; i++)
			ok &= anvil_connect(a, 1, "192.0.2.9", 100, 3, &n,
			    &slot) == ANVIL_OK;
		for (int i = 0; i < 4; i++)
			ok &= anvil_auth_fail(a, "192.0.2.9", 1000 + i * 0.1,
			    &n) == 0;
		if (write(p[1], ok ? "y" : "n", 1) != 1)
			_exit(1);
		for (;;)
			pause();	/* until killed, connections held */
	}
	assert_true(pid > 0);
	close(p[1]);
	{
		char b = 0;

		assert_int_equal(read(p[0], &b, 1), 1);
		assert_int_equal(b, 'y');
	}
	assert_int_equal(anvil_count(a, "192.0.2.9"), 3);
	assert_int_equal(anvil_total(a), 3);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.9", 100, 3, &n, &slot),
	    ANVIL_PER_KEY);
	assert_int_equal(n, 3);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.10", 3, 3, &n, &slot),
	    ANVIL_TOTAL);
	assert_int_equal(n, 3);
	/* The fifth failure, here: the child's four counted. */
	assert_true(anvil_auth_locked(a, "192.0.2.9", 1000.5) == 0);
	assert_int_equal(anvil_auth_fail(a, "192.0.2.9", 1000.5, &n), 1);
	assert_int_equal(n, 5);
	assert_true(anvil_auth_locked(a, "192.0.2.9", 1001) == 9.5);
	/* Killed: its connections count until its column is forgotten (the
	 * supervisor does that when it reaps the worker). */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(anvil_count(a, "192.0.2.9"), 3);
	anvil_forget(a, 1);
	assert_int_equal(anvil_count(a, "192.0.2.9"), 0);
	assert_int_equal(anvil_total(a), 0);
	assert_int_equal(anvil_keys(a), 0);
	assert_int_equal(anvil_connect(a, 0, "192.0.2.9", 100, 3, &n, &slot),
	    ANVIL_OK);
	assert_true(anvil_auth_locked(a, "192.0.2.9", 1005) > 0);
	assert_true(anvil_auth_locked(a, "192.0.2.9", 1010.5) == 0);
	close(p[0]);
	anvil_free(a);
}

/* Both processes at once, many times: nothing lost under the lock. */
static void
test_contention(void **state)
{
	static const char *keys[] = { "a", "b", "c", "d" };
	struct anvil *a = anvil_new(2, 16, 1000000, 60, 10, 16);
	unsigned n, slot[4];
	int go[2], status;
	pid_t pid;

	(void)state;
	assert_non_null(a);
	assert_int_equal(pipe(go), 0);
	if ((pid = fork()) == 0) {
		close(go[1]);
		await(go[0]);
		for (int i = 0; i < 20000; i++) {
			unsigned k = (unsigned)i % 4;

			if (anvil_connect(a, 1, keys[k], 1000, 0, &n,
			    &slot[k]) != ANVIL_OK)
				_exit(1);
			if (i % 3 == 0)
				anvil_auth_fail(a, keys[k], 1, NULL);
			anvil_disconnect(a, 1, slot[k]);
		}
		_exit(0);
	}
	close(go[0]);
	assert_int_equal(write(go[1], "g", 1), 1);
	for (int i = 0; i < 20000; i++) {
		unsigned k = (unsigned)(i + 1) % 4;

		assert_int_equal(anvil_connect(a, 0, keys[k], 1000, 0, &n,
		    &slot[k]), ANVIL_OK);
		if (i % 3 == 0)
			anvil_auth_fail(a, keys[k], 1, NULL);
		anvil_disconnect(a, 0, slot[k]);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(anvil_total(a), 0);
	assert_int_equal(anvil_keys(a), 0);
	/* 6667 failures from each process on its keys, all counted: each
	 * key has its 3334 (rounded) within one window, from both. */
	assert_int_equal(anvil_auth_fail(a, "a", 1, &n), 0);
	assert_int_equal(n, 3335);
	close(go[1]);
	anvil_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holder_killed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test(test_contention),
	};

	return cmocka_run_group_tests_name("lib_anvil", tests, NULL, NULL);
}
