/* Unit tests: the MTA-STS TXT record, policy file and MX pattern match. */
#include "unit.h"

#include "proto/mtasts_policy.h"

static void
test_txt(void **state)
{
	(void)state;
	static const struct { const char *in; int want; const char *id; }
	    cases[] = {
		{ "v=STSv1; id=20160831085700Z;", 1, "20160831085700Z" },
		{ "v=STSv1;id=abc", 1, "abc" },
		{ "v=STSv1 ; id=abc ; ext=1", 1, "abc" },
		{ "v=STSv1; id=a; id=b", 1, "a" },
		{ "v=spf1 -all", 0, "" },
		{ "v=STSv10; id=1", 0, "" },
		{ "", 0, "" },
		{ "v=STSv1;", -1, "" },
		{ "v=STSv1; id=", -1, "" },
		{ "v=STSv1; id=a-b", -1, "" },
		{ "v=STSv1; id=123456789012345678901234567890123", -1, "" },
		{ "v=STSv1; id=12345678901234567890123456789012", 1,
		  "12345678901234567890123456789012" },
		{ "v=STSv1; junk; id=1", -1, "" },
	};
	char id[MTASTS_ID_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = mtasts_txt_parse(cases[i].in, id);

		if (r != cases[i].want || (r == 1 &&
		    strcmp(id, cases[i].id) != 0))
			fail_msg("'%s': %d '%s'", cases[i].in, r, id);
	}
}

static int
parse(const char *s, struct mtasts_policy *p, const char **why)
{
	return mtasts_policy_parse(s, strlen(s), p, why);
}

static void
test_policy(void **state)
{
	(void)state;
	struct mtasts_policy p;
	const char *why;

	assert_int_equal(parse("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.Example.NET.\r\n"
	    "max_age: 604800\r\n", &p, &why), 0);
	assert_int_equal(p.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[1], "*.example.net");
	assert_true(mtasts_policy_match(&p, "MAIL.example.com."));
	assert_true(mtasts_policy_match(&p, "mx1.example.net"));
	assert_false(mtasts_policy_match(&p, "a.mx1.example.net"));
	assert_false(mtasts_policy_match(&p, "example.net"));
	assert_false(mtasts_policy_match(&p, "evil.com"));
	mtasts_policy_clear(&p);

	/* LF only, spaces, unknown keys, first value of a repeated key,
	 * max_age capped. */
	assert_int_equal(parse("version:STSv1\nmode:   testing  \nfoo: bar\n"
	    "mode: enforce\nmx: a.b\nmax_age: 9999999999\n", &p, &why), 0);
	assert_int_equal(p.mode, MTASTS_MODE_TESTING);
	assert_int_equal(p.max_age, MTASTS_MAX_AGE_MAX);
	mtasts_policy_clear(&p);

	/* mode none needs no mx. */
	assert_int_equal(parse("version: STSv1\nmode: none\nmax_age: 1\n",
	    &p, &why), 0);
	assert_int_equal(p.mode, MTASTS_MODE_NONE);
	mtasts_policy_clear(&p);
}

static void
test_policy_bad(void **state)
{
	(void)state;
	static const struct { const char *in; const char *why; } cases[] = {
		{ "mode: enforce\nmx: a.b\nmax_age: 1\n", "no version" },
		{ "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
		  "version is not STSv1" },
		{ "version: STSv1\nmx: a.b\nmax_age: 1\n", "no mode" },
		{ "version: STSv1\nmode: on\nmx: a.b\nmax_age: 1\n",
		  "mode is not enforce, testing or none" },
		{ "version: STSv1\nmode: enforce\nmx: a.b\n", "no max_age" },
		{ "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		  "max_age is not a number of seconds" },
		{ "version: STSv1\nmode: enforce\nmx: a.b\n"
		  "max_age: 12345678901\n",
		  "max_age is not a number of seconds" },
		{ "version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx" },
		{ "version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
		  "an mx pattern is not a host name" },
		{ "version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n",
		  "an mx pattern is not a host name" },
		{ "version: STSv1\nmode enforce\n", "a line is not `key: value`" },
		{ "<html><body>Not found</body></html>\n",
		  "a line is not `key: value`" },
	};
	struct mtasts_policy p;
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].in, &p, &why) != -1 ||
		    strcmp(why, cases[i].why) != 0)
			fail_msg("'%s': %s", cases[i].in, why ? why : "ok");
		assert_int_equal(p.nmx, 0);
		assert_null(p.mx);
	}
	/* A NUL byte. */
	assert_int_equal(mtasts_policy_parse("version: STS\0v1\n", 16, &p,
	    &why), -1);
}

static void
test_match(void **state)
{
	(void)state;
	assert_true(mtasts_mx_match("mx.example.com", "mx.example.com"));
	assert_true(mtasts_mx_match("*.example.com", "MX.example.com."));
	assert_false(mtasts_mx_match("*.example.com", "example.com"));
	assert_false(mtasts_mx_match("*.example.com", ".example.com"));
	assert_false(mtasts_mx_match("*.example.com", "a.b.example.com"));
	assert_false(mtasts_mx_match("mx.example.com", "mx.example.co"));
	assert_false(mtasts_mx_match("mx.example.com", "xmx.example.com"));
	assert_false(mtasts_mx_match("*.com", "example.org"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_bad),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests_name("mtasts_policy", tests, NULL,
	    NULL);
}
