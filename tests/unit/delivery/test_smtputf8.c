/* Unit tests: delivery/smtputf8 — when a transaction needs SMTPUTF8 and
 * the ASCII envelope it can go with otherwise: not flagged (as it always
 * went), flagged and all ASCII (as it is), IDN domains (A-labels), UTF-8
 * local parts, UTF-8 or unscanned headers, an invalid sender domain. */
#include "unit.h"

#include "delivery/smtputf8.h"
#include "queue/entry.h"

#define UL	"b\xc3\xbc" "cher.test"
#define AL	"xn--bcher-kva.test"

static int
run(unsigned flags, const char *from, const char **rcpts, size_t n,
    struct mta_msg *msg, struct smtputf8_env *env)
{
	memset(msg, 0, sizeof(*msg));
	msg->mail_from = from;
	msg->rcpts = rcpts;
	msg->nrcpts = n;
	return smtputf8_envelope(flags, msg, env);
}

static void
test_not_flagged(void **state)
{
	const char *r[] = { "a@example.com" };
	struct mta_msg m;
	struct smtputf8_env env;

	(void)state;
	assert_int_equal(run(0, "s@example.org", r, 1, &m, &env), 0);
	assert_false(m.smtputf8);
	assert_null(m.ascii_from);
	assert_null(m.ascii_rcpts);
	smtputf8_env_free(&env);
	/* 8BITMIME alone changes nothing. */
	assert_int_equal(run(QE_8BITMIME, "s@example.org", r, 1, &m, &env), 0);
	assert_false(m.smtputf8);
	smtputf8_env_free(&env);
}

static void
test_ascii_and_idn_downgrade(void **state)
{
	const char *r[] = { "a@example.com", "ok-1@" UL };
	struct mta_msg m;
	struct smtputf8_env env;

	(void)state;
	assert_int_equal(run(QE_SMTPUTF8 | QE_ASCII_HEADERS, "s@" UL, r, 2,
	    &m, &env), 0);
	assert_true(m.smtputf8);	/* still asked for when offered */
	assert_non_null(m.ascii_from);
	assert_string_equal(m.ascii_from, "s@" AL);
	assert_string_equal(m.ascii_rcpts[0], "a@example.com");
	assert_string_equal(m.ascii_rcpts[1], "ok-1@" AL);
	smtputf8_env_free(&env);
	/* The null sender. */
	assert_int_equal(run(QE_SMTPUTF8 | QE_ASCII_HEADERS, "", r, 1, &m,
	    &env), 0);
	assert_string_equal(m.ascii_from, "");
	smtputf8_env_free(&env);
}

static void
test_needs(void **state)
{
	const char *ascii[] = { "a@example.com" };
	const char *utf8l[] = { "a@example.com", "j\xc3\xbcrgen@" UL };
	const char *bad[] = { "a@\xe2\x98\x83.test" };
	struct mta_msg m;
	struct smtputf8_env env;

	(void)state;
	/* UTF-8 headers, or an entry from before the scan. */
	assert_int_equal(run(QE_SMTPUTF8, "s@example.org", ascii, 1, &m,
	    &env), 1);
	assert_true(m.smtputf8);
	assert_null(m.ascii_from);
	assert_null(m.ascii_rcpts);
	smtputf8_env_free(&env);
	/* A UTF-8 local part: recipient, then sender. */
	assert_int_equal(run(QE_SMTPUTF8 | QE_ASCII_HEADERS, "s@example.org",
	    utf8l, 2, &m, &env), 1);
	assert_null(m.ascii_from);
	assert_null(m.ascii_rcpts);
	smtputf8_env_free(&env);
	assert_int_equal(run(QE_SMTPUTF8 | QE_ASCII_HEADERS,
	    "gr\xc3\xbc\xc3\x9f" "e@example.org", ascii, 1, &m, &env), 1);
	assert_null(m.ascii_from);
	smtputf8_env_free(&env);
	/* A domain that has no A-label form. */
	assert_int_equal(run(QE_SMTPUTF8 | QE_ASCII_HEADERS, "s@example.org",
	    bad, 1, &m, &env), 1);
	assert_null(m.ascii_rcpts);
	smtputf8_env_free(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_flagged),
		cmocka_unit_test(test_ascii_and_idn_downgrade),
		cmocka_unit_test(test_needs),
	};

	return cmocka_run_group_tests_name("delivery_smtputf8", tests, NULL,
	    NULL);
}
