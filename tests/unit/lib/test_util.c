/* Unit tests: lib/util's random numbers across fork(): a child (a worker
 * of smtp.ini nodes) draws numbers of its own, not its parent's next ones,
 * so two workers never make the same ids. */
#include "unit.h"

#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

static void
test_random_after_fork(void **state)
{
	uint64_t mine, theirs = 0;
	int p[2];
	pid_t pid;

	(void)state;
	(void)util_random();		/* seeded before the fork */
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		uint64_t v = util_random();

		_exit(write(p[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	mine = util_random();
	assert_int_equal(read(p[0], &theirs, sizeof(theirs)), sizeof(theirs));
	close(p[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_true(mine != theirs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
