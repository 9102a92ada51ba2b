/* Unit tests: lib/gate — the destinations' shaping state shared by
 * processes: the connection limit and both rates taken together, two
 * processes sharing one limit and one rate, a dead process's column
 * forgotten, a full table taking back an idle key (and waiting when none
 * is idle), and a process killed while it holds the lock. */
#include "unit.h"

#include <signal.h>
#include <sys/wait.h>

#include "lib/gate.h"

static struct gate_ask
ask(int conn, unsigned max_conn, unsigned conn_per_s, unsigned msg_per_s)
{
	struct gate_ask a = { .conn = conn, .max_conn = max_conn };

	rate_init(&a.conn_rate, conn_per_s, 1, 1);
	rate_init(&a.msg_rate, msg_per_s, 1, 1);
	return a;
}

static void
test_limits_and_rates(void **state)
{
	struct gate *g = gate_new(1, 16);
	struct gate_ask two = ask(1, 2, 0, 0), msg = ask(0, 0, 0, 10);
	unsigned s1, s2, s3;

	(void)state;
	assert_non_null(g);
	assert_int_equal(gate_admit(g, 0, "a", &two, 1000, &s1), 0);
	assert_int_equal(gate_admit(g, 0, "a", &two, 1000, &s2), 0);
	assert_true(s1 != 0 && s1 == s2);
	assert_int_equal(gate_admit(g, 0, "a", &two, 1000, &s3), GATE_FULL);
	assert_int_equal(s3, 0);
	assert_int_equal(gate_count(g, "a"), 2);
	/* Another key has its own count. */
	assert_int_equal(gate_admit(g, 0, "b", &two, 1000, &s3), 0);
	assert_int_equal(gate_count(g, "b"), 1);
	gate_release(g, 0, s1);
	assert_int_equal(gate_count(g, "a"), 1);
	assert_int_equal(gate_admit(g, 0, "a", &two, 1000, &s1), 0);
	/* 10/s: one every 100 ms, nothing taken while waiting. */
	assert_int_equal(gate_admit(g, 0, "m", &msg, 5000, &s1), 0);
	assert_int_equal(gate_admit(g, 0, "m", &msg, 5000, &s1), 100);
	assert_int_equal(gate_admit(g, 0, "m", &msg, 5040, &s1), 60);
	assert_int_equal(gate_admit(g, 0, "m", &msg, 5100, &s1), 0);
	/* A connection waits for its rate and the message rate alike, and
	 * a refused one counts nothing. */
	struct gate_ask both = ask(1, 0, 1, 10);
	assert_int_equal(gate_admit(g, 0, "c", &both, 9000, &s1), 0);
	assert_int_equal(gate_admit(g, 0, "c", &both, 9100, &s2), 900);
	assert_int_equal(s2, 0);
	assert_int_equal(gate_count(g, "c"), 1);
	gate_free(g);
}

/* Parts: a column borrows beyond its own part while the others leave it
 * unused; one refused a connection of its own part wants it back, and
 * a borrow is refused (without asking anything back) until it has it. */
static void
test_parts_lend(void **state)
{
	struct gate *g = gate_new(2, 16);
	struct gate_ask a = ask(1, 4, 0, 0);
	unsigned s0[4], s1, x;

	(void)state;
	a.part = 2;
	for (int i = 0; i < 2; i++)	/* column 0's own */
		assert_int_equal(gate_admit(g, 0, "a", &a, 1000, &s0[i]), 0);
	assert_true(gate_may_lend(g, 0, "a", 4, 1000));
	for (int i = 2; i < 4; i++)	/* borrowed from column 1's part */
		assert_int_equal(gate_admit(g, 0, "a", &a, 1000, &s0[i]), 0);
	assert_false(gate_may_lend(g, 0, "a", 4, 1000));
	assert_true(gate_admit(g, 0, "a", &a, 1000, &x) == GATE_NO_LOAN);
	assert_int_equal(x, 0);
	/* A borrow refused asks nothing back: all four may be kept. */
	assert_true(gate_keep_idle(g, 0, "a", 4, 1000));
	assert_true(gate_keep_idle(g, 1, "a", 4, 1000));
	/* Column 1 is refused one of its own: column 0 must give one back,
	 * and may not borrow the one it gives. */
	assert_true(gate_admit(g, 1, "a", &a, 1100, &s1) == GATE_FULL);
	assert_false(gate_keep_idle(g, 0, "a", 4, 1200));
	gate_release(g, 0, s0[3]);
	assert_false(gate_may_lend(g, 0, "a", 4, 1200));
	assert_true(gate_admit(g, 0, "a", &a, 1200, &x) == GATE_NO_LOAN);
	assert_int_equal(gate_admit(g, 1, "a", &a, 1300, &s1), 0);
	assert_int_equal(gate_count(g, "a"), 4);
	assert_true(gate_keep_idle(g, 0, "a", 4, 1300));	/* had it */
	/* A limit lowered below the count: everyone gives back. */
	assert_false(gate_keep_idle(g, 1, "a", 3, 1300));
	/* A want is forgotten after a second. */
	gate_release(g, 1, s1);
	assert_true(gate_admit(g, 1, "a", &a, 2000, &s1) == 0);
	assert_true(gate_admit(g, 1, "a", &a, 2000, &x) == GATE_FULL);
	gate_release(g, 0, s0[2]);
	assert_false(gate_may_lend(g, 0, "a", 4, 2999));
	assert_true(gate_may_lend(g, 0, "a", 4, 3000));
	gate_free(g);
}

/* Two processes: one limit and one rate between them. */
static void
test_two_processes(void **state)
{
	struct gate *g = gate_new(2, 16);
	struct gate_ask two = ask(1, 2, 0, 10);
	unsigned s;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(gate_admit(g, 0, "d", &two, 1000, &s), 0);
	if ((pid = fork()) == 0) {
		unsigned cs;

		/* The parent's message took the slot of 1000 ms. */
		_exit(gate_admit(g, 1, "d", &two, 1000, &cs) == 100 &&
		    gate_admit(g, 1, "d", &two, 1100, &cs) == 0 && cs != 0 &&
		    gate_count(g, "d") == 2 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(gate_count(g, "d"), 2);
	assert_int_equal(gate_admit(g, 0, "d", &two, 5000, &s), GATE_FULL);
	/* The child is gone: its column is forgotten. */
	gate_forget(g, 1);
	assert_int_equal(gate_count(g, "d"), 1);
	assert_int_equal(gate_admit(g, 0, "d", &two, 5000, &s), 0);
	gate_free(g);
}

static void
test_full_table(void **state)
{
	struct gate *g = gate_new(1, 2);
	struct gate_ask one = ask(1, 1, 0, 0), msg = ask(0, 0, 0, 1);
	unsigned s1, s2, s3;

	(void)state;
	assert_int_equal(gate_admit(g, 0, "a", &one, 1000, &s1), 0);
	assert_int_equal(gate_admit(g, 0, "b", &msg, 1000, &s2), 0);
	/* Both keys matter still (a connection; a rate 1 s ahead): the
	 * third waits, and takes nothing from them. */
	assert_int_equal(gate_admit(g, 0, "c", &one, 1500, &s3),
	    GATE_POLL_MS);
	assert_int_equal(gate_count(g, "a"), 1);
	assert_int_equal(gate_admit(g, 0, "b", &msg, 1500, &s2), 500);
	/* b's rate is idle at 2000: c takes its place; a is untouched. */
	assert_int_equal(gate_admit(g, 0, "c", &one, 2000, &s3), 0);
	assert_int_equal(gate_count(g, "c"), 1);
	assert_int_equal(gate_count(g, "a"), 1);
	assert_int_equal(gate_admit(g, 0, "a", &one, 2000, &s1), GATE_FULL);
	gate_free(g);
}

/* A child killed in the middle of an admission, holding the lock: the
 * next caller repairs the table and goes on. First: the crash point is
 * read once per process, before any pass through it. */
static void
test_holder_killed(void **state)
{
	struct gate *g = gate_new(2, 8);
	struct gate_ask two = ask(1, 2, 0, 0);
	unsigned s;
	int status;
	pid_t pid;

	(void)state;
	if ((pid = fork()) == 0) {
		unsigned cs;

		setenv("OUTPOST_FAILPOINT", "gate-mid-admit", 1);
		gate_admit(g, 1, "y", &two, 1000, &cs);
		_exit(3);		/* not reached: killed above */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(gate_count(g, "y"), 0);
	assert_int_equal(gate_admit(g, 0, "x", &two, 1000, &s), 0);
	assert_int_equal(gate_admit(g, 0, "y", &two, 1000, &s), 0);
	assert_int_equal(gate_admit(g, 0, "y", &two, 1000, &s), 0);
	assert_int_equal(gate_admit(g, 0, "y", &two, 1000, &s), GATE_FULL);
	assert_int_equal(gate_count(g, "x"), 1);
	gate_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holder_killed),
		cmocka_unit_test(test_limits_and_rates),
		cmocka_unit_test(test_parts_lend),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
