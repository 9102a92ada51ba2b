/* Unit tests: core/notify.c — NOTIFY_SOCKET addresses (paths, abstract
 * names), the watchdog interval from WATCHDOG_USEC/WATCHDOG_PID, message
 * formatting, and datagrams arriving on a real socket. The daemon's use
 * of it is tested end to end (tests/e2e/test_service.py). */
#include "unit.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "core/notify.h"

static void
test_addr(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char longname[200];

	(void)state;
	assert_int_equal(notify_addr("/run/systemd/notify", &sa, &len), 0);
	assert_string_equal(sa.sun_path, "/run/systemd/notify");
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 20);
	/* Abstract: a NUL first, no NUL counted at the end. */
	assert_int_equal(notify_addr("@abc", &sa, &len), 0);
	assert_int_equal(sa.sun_path[0], '\0');
	assert_memory_equal(sa.sun_path + 1, "abc", 3);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 4);
	assert_int_equal(notify_addr("", &sa, &len), -1);
	assert_int_equal(notify_addr("@", &sa, &len), -1);
	assert_int_equal(notify_addr("relative/path", &sa, &len), -1);
	assert_int_equal(notify_addr(NULL, &sa, &len), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(notify_addr(longname, &sa, &len), -1);
}

static void
test_watchdog_interval(void **state)
{
	(void)state;
	assert_int_equal(notify_watchdog_interval("30000000", NULL, 42),
	    15000000);
	assert_int_equal(notify_watchdog_interval("30000000", "42", 42),
	    15000000);
	/* Meant for another process (the manager's main pid is not us). */
	assert_int_equal(notify_watchdog_interval("30000000", "43", 42), 0);
	assert_int_equal(notify_watchdog_interval("30000000", "x", 42), 0);
	assert_int_equal(notify_watchdog_interval(NULL, NULL, 42), 0);
	assert_int_equal(notify_watchdog_interval("", NULL, 42), 0);
	assert_int_equal(notify_watchdog_interval("-5", NULL, 42), 0);
	assert_int_equal(notify_watchdog_interval("12abc", NULL, 42), 0);
}

static void
test_format(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(notify_format(buf, sizeof(buf), "READY=1", NULL), 7);
	assert_string_equal(buf, "READY=1");
	assert_int_equal(notify_format(buf, sizeof(buf), "READY=1", "ok"),
	    17);
	assert_string_equal(buf, "READY=1\nSTATUS=ok");
	/* A status is one line: a newline in it would start a new key. */
	notify_format(buf, sizeof(buf), "STOPPING=1", "a\nWATCHDOG=1\tb");
	assert_string_equal(buf, "STOPPING=1\nSTATUS=a WATCHDOG=1 b");
	/* Too long for the buffer: nothing is cut. */
	assert_int_equal(notify_format(buf, 7, "READY=1", NULL), -1);
	assert_int_equal(notify_format(buf, 20, "READY=1", "0123456789"), -1);
}

/* A datagram socket bound to an abstract name; its name in *env. */
static int
listener(char *env, size_t n)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	snprintf(env, n, "@outpost-test-notify-%ld", (long)getpid());
	assert_int_equal(notify_addr(env, &sa, &len), 0);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void
test_send(void **state)
{
	char env[64], buf[128], *err = NULL;
	ssize_t n;
	int fd;

	(void)state;
	/* No NOTIFY_SOCKET: nothing to do, nothing fails. */
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_open(&err), 0);
	assert_false(notify_enabled());
	assert_int_equal(notify_send("READY=1", NULL), 0);
	notify_close();

	fd = listener(env, sizeof(env));
	setenv("NOTIFY_SOCKET", env, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	assert_int_equal(notify_open(&err), 0);
	assert_true(notify_enabled());
	/* Read and removed from the environment: children do not see it. */
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_null(getenv("WATCHDOG_USEC"));
	assert_int_equal(notify_send("READY=1", "serving"), 0);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_int_equal(n, 22);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1\nSTATUS=serving");
	notify_close();
	close(fd);

	/* Named but nobody listens: an error to log, no crash. */
	setenv("NOTIFY_SOCKET", "@outpost-test-nobody-listens", 1);
	assert_int_equal(notify_open(&err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "NOTIFY_SOCKET=@outpost-test-nobody"));
	free(err);
	err = NULL;
	assert_false(notify_enabled());
	setenv("NOTIFY_SOCKET", "not-absolute", 1);
	assert_int_equal(notify_open(&err), -1);
	free(err);
	notify_close();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_watchdog_interval),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_send),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
