/* Unit tests: delivery/mta_filter — the admin API's queue filters: each
 * criterion parsed from its API name (bad values refused with a reason,
 * unknown names told apart), and matched against entries. */
#include "unit.h"

#include <string.h>

#include "delivery/mta_admin.h"
#include "queue/entry.h"

static struct qrcpt rcpts[] = {
	{ "Bob@Example.COM", QRCPT_PENDING, NULL },
	{ "carol@example.com", QRCPT_DELIVERED, NULL },
};

static struct qentry
entry(const char *from)
{
	struct qentry e;

	memset(&e, 0, sizeof(e));
	e.id = "id.1.1";
	e.domain = "example.com";
	e.mail_from = (char *)from;
	e.rcpts = rcpts;
	e.nrcpts = 2;
	e.queue_time = 1000000;		/* ms */
	return e;
}

static void
test_parse(void **state)
{
	struct mta_filter f;
	const char *why = NULL;

	(void)state;
	mta_filter_init(&f);
	assert_int_equal(f.min_age, -1);
	assert_int_equal(mta_filter_set(&f, "domain", "example.com", &why), 0);
	assert_string_equal(f.domain, "example.com");
	assert_int_equal(mta_filter_set(&f, "state", "held,due", &why), 0);
	assert_int_equal(f.states, MTA_ST_HELD | MTA_ST_DUE);
	assert_int_equal(mta_filter_set(&f, "state", "HELD", &why), 0);
	assert_int_equal(f.states, MTA_ST_HELD);
	assert_int_equal(mta_filter_set(&f, "min_age", "90", &why), 0);
	assert_int_equal(f.min_age, 90);
	assert_int_equal(mta_filter_set(&f, "max_age", "2h", &why), 0);
	assert_int_equal(f.max_age, 7200);
	assert_int_equal(mta_filter_set(&f, "max_age", "15m", &why), 0);
	assert_int_equal(f.max_age, 900);
	assert_int_equal(mta_filter_set(&f, "min_age", "1d", &why), 0);
	assert_int_equal(f.min_age, 86400);
	/* Bad values: refused with a reason, nothing changed. */
	why = NULL;
	assert_int_equal(mta_filter_set(&f, "state", "frozen", &why), -1);
	assert_non_null(why);
	assert_int_equal(f.states, MTA_ST_HELD);
	assert_int_equal(mta_filter_set(&f, "state", "held,", &why), -1);
	assert_int_equal(mta_filter_set(&f, "state", ",", &why), -1);
	assert_int_equal(mta_filter_set(&f, "min_age", "-5", &why), -1);
	assert_int_equal(mta_filter_set(&f, "min_age", "5x", &why), -1);
	assert_int_equal(mta_filter_set(&f, "min_age", "5hh", &why), -1);
	assert_int_equal(mta_filter_set(&f, "min_age", "h", &why), -1);
	assert_int_equal(mta_filter_set(&f, "min_age",
	    "99999999999999999999", &why), -1);
	assert_int_equal(mta_filter_set(&f, "max_age", "", &why), -1);
	assert_int_equal(mta_filter_set(&f, "domain", "", &why), -1);
	assert_int_equal(f.min_age, 86400);
	/* Not a criterion: 1 (the caller says so). */
	assert_int_equal(mta_filter_set(&f, "colour", "red", &why), 1);
	/* The null sender may be asked for as "" or "<>". */
	assert_int_equal(mta_filter_set(&f, "sender", "", &why), 0);
}

static void
test_match(void **state)
{
	struct qentry e = entry("alice@senders.test"), n = entry("");
	struct mta_filter f;
	const char *why;
	int64_t now = 1000000 + 120 * 1000;	/* 120 s old */

	(void)state;
	mta_filter_init(&f);
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	assert_true(mta_filter_match(NULL, &e, MTA_ST_DUE, NULL, now));
	f.domain = "EXAMPLE.com";
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.domain = "example.org";
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	mta_filter_init(&f);
	/* sender: an address, or its domain */
	f.sender = "Alice@senders.test";
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.sender = "senders.test";
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.sender = "ders.test";
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.sender = "<>";
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	assert_true(mta_filter_match(&f, &n, MTA_ST_DUE, NULL, now));
	mta_filter_init(&f);
	/* recipient: pending ones only */
	f.recipient = "bob@example.com";
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.recipient = "carol@example.com";
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.recipient = "example.com";
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	mta_filter_init(&f);
	/* state bits */
	assert_int_equal(mta_filter_set(&f, "state", "held,running", &why), 0);
	assert_true(mta_filter_match(&f, &e, MTA_ST_HELD, NULL, now));
	assert_true(mta_filter_match(&f, &e, MTA_ST_RUNNING, NULL, now));
	assert_false(mta_filter_match(&f, &e, MTA_ST_DEFERRED, NULL, now));
	mta_filter_init(&f);
	/* ages, inclusive */
	f.min_age = 120;
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.min_age = 121;
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.min_age = -1;
	f.max_age = 119;
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	f.max_age = 120;
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	mta_filter_init(&f);
	/* destination: not routed yet never matches a key */
	f.dest = "mx:big";
	assert_false(mta_filter_match(&f, &e, MTA_ST_DUE, NULL, now));
	assert_true(mta_filter_match(&f, &e, MTA_ST_DUE, "mx:big", now));
	assert_string_equal(mta_state_name(MTA_ST_DEFERRED), "deferred");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
