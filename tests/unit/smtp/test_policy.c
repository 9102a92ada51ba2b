/* Unit tests: the reception policy (smtp/policy.c) — the AUTH offer. */
#include "unit.h"

#include "smtp/policy.h"

static void
test_auth_policy(void **state)
{
	unsigned all = AUTH_PLAIN | AUTH_LOGIN | AUTH_CRAM_MD5;

	(void)state;
	/* Clear-text mechanisms: TLS or loopback. */
	assert_false(auth_method_allowed(all, AUTH_PLAIN, 0, 0));
	assert_false(auth_method_allowed(all, AUTH_LOGIN, 0, 0));
	assert_true(auth_method_allowed(all, AUTH_PLAIN, 1, 0));
	assert_true(auth_method_allowed(all, AUTH_LOGIN, 0, 1));
	/* CRAM-MD5 sends no password. */
	assert_true(auth_method_allowed(all, AUTH_CRAM_MD5, 0, 0));
	/* Only configured methods. */
	assert_false(auth_method_allowed(AUTH_CRAM_MD5, AUTH_PLAIN, 1, 1));
	assert_false(auth_method_allowed(AUTH_PLAIN, AUTH_CRAM_MD5, 1, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_policy),
	};

	return cmocka_run_group_tests_name("smtp_policy", tests, NULL, NULL);
}
