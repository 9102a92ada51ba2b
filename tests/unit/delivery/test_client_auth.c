/* Unit tests: client_auth.c, the client's SASL encoder — mechanisms read
 * from EHLO, the choice among them, the AUTH command and the answers to
 * 334 challenges (CRAM-MD5 from RFC 2195's example). */
#include "unit.h"

#include "lib/buf.h"
#include "delivery/client_auth.h"

#define ALL	(CLIENT_AUTH_CRAM | CLIENT_AUTH_PLAIN | CLIENT_AUTH_LOGIN)

static void
test_offered(void **state)
{
	static const struct {
		const char	*list;
		unsigned	 bits;
	} cases[] = {
		{ "PLAIN LOGIN", CLIENT_AUTH_PLAIN | CLIENT_AUTH_LOGIN },
		{ "cram-md5 XOAUTH2", CLIENT_AUTH_CRAM },
		{ "LOGIN\tPLAIN  CRAM-MD5", ALL },
		{ "PLAINX LOGI", 0 },
		{ "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(client_auth_offered(cases[i].list),
		    cases[i].bits);
}

static void
test_pick(void **state)
{
	static const struct {
		unsigned	 offered;
		const char	*type;
		unsigned	 mech;
		int		 missing;
	} cases[] = {
		{ ALL, NULL, CLIENT_AUTH_CRAM, 0 },
		{ CLIENT_AUTH_PLAIN | CLIENT_AUTH_LOGIN, NULL,
		    CLIENT_AUTH_PLAIN, 0 },
		{ ALL, "login", CLIENT_AUTH_LOGIN, 0 },
		{ CLIENT_AUTH_PLAIN, "CRAM-MD5", CLIENT_AUTH_PLAIN, 1 },
		{ 0, NULL, 0, 0 },
		{ 0, "PLAIN", 0, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int missing = -1;

		assert_int_equal(client_auth_pick(cases[i].offered,
		    cases[i].type, &missing), cases[i].mech);
		assert_int_equal(missing, cases[i].missing);
	}
}

static void
test_command(void **state)
{
	struct buf line = BUF_INIT;

	(void)state;
	assert_string_equal(client_auth_command(CLIENT_AUTH_PLAIN, "u", "p",
	    &line), "AUTH PLAIN ****");
	assert_string_equal(buf_cstr(&line), "AUTH PLAIN AHUAcA==");
	buf_reset(&line);
	assert_null(client_auth_command(CLIENT_AUTH_CRAM, "u", "p", &line));
	assert_string_equal(buf_cstr(&line), "AUTH CRAM-MD5");
	buf_reset(&line);
	assert_null(client_auth_command(CLIENT_AUTH_LOGIN, "u", "p", &line));
	assert_string_equal(buf_cstr(&line), "AUTH LOGIN");
	buf_free(&line);
}

static void
test_answer(void **state)
{
	static const struct {
		unsigned	 mech;
		int		 round;
		const char	*challenge;
		const char	*user, *pass;
		const char	*answer;	/* NULL: -1 */
	} cases[] = {
		/* PLAIN: once more when the initial response was ignored. */
		{ CLIENT_AUTH_PLAIN, 1, "", "u", "p", "AHUAcA==" },
		{ CLIENT_AUTH_PLAIN, 2, "", "u", "p", NULL },
		/* LOGIN: the prompt decides, else the round. */
		{ CLIENT_AUTH_LOGIN, 1, "VXNlcm5hbWU6", "u", "p", "dQ==" },
		{ CLIENT_AUTH_LOGIN, 1, "UGFzc3dvcmQ6", "u", "p", "cA==" },
		{ CLIENT_AUTH_LOGIN, 2, "VXNlcm5hbWU6 \t", "u", "p", "dQ==" },
		{ CLIENT_AUTH_LOGIN, 1, "", "u", "p", "dQ==" },
		{ CLIENT_AUTH_LOGIN, 2, "", "u", "p", "cA==" },
		{ CLIENT_AUTH_LOGIN, 3, "UGFzc3dvcmQ6", "u", "p", NULL },
		{ CLIENT_AUTH_LOGIN, 1, "!!!", "u", "p", NULL },
		/* RFC 2195 section 2. */
		{ CLIENT_AUTH_CRAM, 1,
		    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
		    "tim", "tanstaaftanstaaf",
		    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" },
		{ CLIENT_AUTH_CRAM, 2, "", "tim", "tanstaaftanstaaf", NULL },
		{ 0, 1, "", "u", "p", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf line = BUF_INIT;
		int rv = client_auth_answer(cases[i].mech, cases[i].round,
		    cases[i].challenge, cases[i].user, cases[i].pass, &line);

		if (cases[i].answer == NULL)
			assert_int_equal(rv, -1);
		else {
			assert_int_equal(rv, 0);
			assert_string_equal(buf_cstr(&line), cases[i].answer);
		}
		buf_free(&line);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offered),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_answer),
	};

	return cmocka_run_group_tests_name("client_auth", tests, NULL, NULL);
}
