/* Unit tests: lib/penalty — client keys, scores that drain, lockouts that
 * end, and a table that never outgrows its capacity. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/penalty.h"

static const char *
key_of(const char *ip)
{
	static char out[PENALTY_KEY_LEN];
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	assert_int_equal(penalty_key((struct sockaddr *)&ss, out), 0);
	return out;
}

static void
test_keys(void **state)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char out[PENALTY_KEY_LEN];

	(void)state;
	assert_string_equal(key_of("192.0.2.1"), "192.0.2.1");
	assert_string_equal(key_of("127.0.0.2"), "127.0.0.2");
	/* IPv6: the /64, whatever the interface identifier. */
	assert_string_equal(key_of("2001:db8:1:2::1"), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"),
	    "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:3::1"), "2001:db8:1:3::/64");
	assert_string_equal(key_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	    "ffff:ffff:ffff:ffff::/64");
	assert_string_equal(key_of("::1"), "::/64");
	/* IPv4-mapped: the IPv4 address it carries. */
	assert_string_equal(key_of("::ffff:192.0.2.1"), "192.0.2.1");
	assert_int_equal(penalty_key((struct sockaddr *)&un, out), -1);
	assert_string_equal(out, "?");
}

static void
test_burst_locks_out(void **state)
{
	struct penalty *p = penalty_new(5, 60, 300, 100);
	unsigned n = 0;

	(void)state;
	for (unsigned i = 1; i <= 4; i++) {
		assert_int_equal(penalty_fail(p, "192.0.2.1", 1000 + i * 0.1, &n),
		    0);
		assert_int_equal(n, i);
		assert_true(penalty_locked(p, "192.0.2.1", 1000 + i * 0.1) == 0);
	}
	/* The fifth in quick succession. */
	assert_int_equal(penalty_fail(p, "192.0.2.1", 1000.5, &n), 1);
	assert_int_equal(n, 5);
	assert_true(penalty_locked(p, "192.0.2.1", 1000.5) == 300);
	assert_true(penalty_locked(p, "192.0.2.1", 1100.5) == 200);
	/* Another address is not affected. */
	assert_true(penalty_locked(p, "192.0.2.2", 1100.5) == 0);
	assert_int_equal(penalty_fail(p, "192.0.2.2", 1100.5, &n), 0);
	assert_int_equal(n, 1);
	/* Failures during the lockout do not count nor extend it. */
	assert_int_equal(penalty_fail(p, "192.0.2.1", 1200, &n), 0);
	assert_int_equal(n, 5);
	assert_true(penalty_locked(p, "192.0.2.1", 1300.4) > 0);
	/* Over: a clean slate. */
	assert_true(penalty_locked(p, "192.0.2.1", 1300.5) == 0);
	assert_int_equal(penalty_fail(p, "192.0.2.1", 1301, &n), 0);
	assert_int_equal(n, 1);
	penalty_free(p);
}

static void
test_score_drains(void **state)
{
	struct penalty *p = penalty_new(5, 60, 300, 100);
	unsigned n = 0;

	(void)state;
	/* One every window/limit seconds, or slower, never locks out. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(penalty_fail(p, "k", i * 12.0, &n), 0);
	assert_int_equal(n, 1);
	/* A little faster does, eventually. */
	for (int i = 0; i < 100; i++)
		if (penalty_fail(p, "j", 2000 + i * 11.0, &n) == 1)
			break;
	assert_true(penalty_locked(p, "j", 2500) > 0);
	assert_true(n > 5);
	/* Four quick ones, then 24 s (two drained), then three more: the
	 * score reaches the limit at the third. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(penalty_fail(p, "m", 5000, NULL), 0);
	assert_int_equal(penalty_fail(p, "m", 5024, NULL), 0);
	assert_int_equal(penalty_fail(p, "m", 5024, NULL), 0);
	assert_int_equal(penalty_fail(p, "m", 5024, &n), 1);
	assert_int_equal(n, 7);
	penalty_free(p);
}

static void
test_limit_one(void **state)
{
	struct penalty *p = penalty_new(1, 60, 10, 100);

	(void)state;
	assert_int_equal(penalty_fail(p, "a", 1, NULL), 1);
	assert_true(penalty_locked(p, "a", 5) == 6);
	assert_true(penalty_locked(p, "a", 11) == 0);
	penalty_free(p);
}

static void
test_expiry_and_capacity(void **state)
{
	struct penalty *p = penalty_new(3, 60, 300, 4);
	char key[32];

	(void)state;
	/* Drained scores are dropped as time goes by. */
	assert_int_equal(penalty_fail(p, "a", 0, NULL), 0);
	assert_int_equal(penalty_fail(p, "b", 10, NULL), 0);
	assert_int_equal(penalty_size(p), 2);
	assert_true(penalty_locked(p, "x", 65) == 0);
	assert_int_equal(penalty_size(p), 1);		/* a went */
	assert_true(penalty_locked(p, "x", 70) == 0);
	assert_int_equal(penalty_size(p), 0);

	/* Lock "locked" out, then spray addresses: the table stays at 4, the
	 * oldest counting key goes first, the lockout stays. */
	for (int i = 0; i < 3; i++)
		penalty_fail(p, "locked", 100, NULL);
	assert_true(penalty_locked(p, "locked", 100) > 0);
	penalty_fail(p, "c", 101, NULL);
	penalty_fail(p, "c", 101, NULL);	/* two: c is about to lock */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "198.51.100.%d", i);
		penalty_fail(p, key, 102 + i * 0.001, NULL);
		assert_true(penalty_size(p) <= 4);
	}
	assert_true(penalty_locked(p, "locked", 103) > 0);
	/* c was forgotten: it starts over. */
	assert_int_equal(penalty_fail(p, "c", 103, NULL), 0);
	/* Full of lockouts: the oldest lockout goes. */
	for (int k = 0; k < 4; k++) {
		snprintf(key, sizeof(key), "l%d", k);
		for (int i = 0; i < 3; i++)
			penalty_fail(p, key, 104 + k, NULL);
	}
	assert_int_equal(penalty_size(p), 4);
	assert_true(penalty_locked(p, "locked", 110) == 0);
	for (int k = 0; k < 4; k++) {
		snprintf(key, sizeof(key), "l%d", k);
		assert_true(penalty_locked(p, key, 110) > 0);
	}
	assert_int_equal(penalty_fail(p, "new", 110, NULL), 0);
	assert_true(penalty_locked(p, "l0", 110) == 0);
	assert_true(penalty_locked(p, "l1", 110) > 0);
	/* All over after the lockout: the table empties. */
	assert_true(penalty_locked(p, "x", 1000) == 0);
	assert_int_equal(penalty_size(p), 0);
	penalty_free(p);
}

/* A table placed in the caller's memory, rebuilt from its entries between
 * calls (as after a writer died): the same scores, lockouts and order of
 * eviction. */
static void
test_placed_and_repaired(void **state)
{
	void *mem = xcalloc(1, penalty_footprint(3));
	struct penalty *p = penalty_place(mem, 3, 60, 300, 3, 42);
	unsigned n = 0;

	(void)state;
	assert_true(penalty_footprint(3) % 8 == 0);
	for (int i = 0; i < 3; i++)
		penalty_fail(p, "locked", 100, NULL);
	penalty_fail(p, "old", 101, NULL);
	penalty_fail(p, "new", 102, NULL);
	penalty_fail(p, "new", 103, &n);
	assert_int_equal(n, 2);
	penalty_repair(p);
	assert_int_equal(penalty_size(p), 3);
	assert_true(penalty_locked(p, "locked", 104) == 296);
	/* Full: "old" (the oldest last failure) goes, not "new". */
	assert_int_equal(penalty_fail(p, "third", 104, NULL), 0);
	penalty_repair(p);
	assert_int_equal(penalty_size(p), 3);
	assert_int_equal(penalty_fail(p, "new", 104, &n), 1);	/* its third */
	assert_int_equal(n, 3);
	assert_int_equal(penalty_fail(p, "old", 105, &n), 0);	/* forgotten */
	assert_int_equal(n, 1);
	/* "third", the one key counting, made room for it. */
	assert_true(penalty_locked(p, "locked", 105) > 0);
	assert_true(penalty_locked(p, "new", 105) > 0);
	/* Three lockouts; then the oldest lockout goes first. */
	penalty_fail(p, "old", 106, NULL);
	assert_int_equal(penalty_fail(p, "old", 106, NULL), 1);
	penalty_repair(p);
	assert_int_equal(penalty_fail(p, "x", 107, NULL), 0);
	assert_true(penalty_locked(p, "locked", 107) == 0);
	assert_true(penalty_locked(p, "new", 107) > 0);
	assert_true(penalty_locked(p, "old", 107) > 0);
	penalty_free(p);		/* not its memory: nothing */
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_burst_locks_out),
		cmocka_unit_test(test_score_drains),
		cmocka_unit_test(test_limit_one),
		cmocka_unit_test(test_expiry_and_capacity),
		cmocka_unit_test(test_placed_and_repaired),
	};

	return cmocka_run_group_tests_name("lib_penalty", tests, NULL, NULL);
}
