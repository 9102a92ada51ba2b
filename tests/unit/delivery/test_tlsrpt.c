/* Unit tests: the TLS-RPT-style counters per policy domain and their log. */
#include "unit.h"

#include "delivery/tlsrpt.h"

static void
test_counts(void **state)
{
	FILE *f;
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	f = capture_start();
	tlsrpt_count("example.com", TLSRPT_POLICY_STS, TLSRPT_SUCCESS);
	tlsrpt_count("EXAMPLE.com", TLSRPT_POLICY_STS, TLSRPT_SUCCESS);
	tlsrpt_count("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_CERT_HOST_MISMATCH);
	tlsrpt_count("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_STS_POLICY_FETCH_ERROR);
	tlsrpt_count("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_CERT_HOST_MISMATCH);
	/* Another policy type of the same domain is a row of its own. */
	tlsrpt_count("example.com", TLSRPT_POLICY_TLSA, TLSRPT_TLSA_INVALID);
	out = capture_end(f);
	assert_int_equal(tlsrpt_get("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_SUCCESS), 2);
	assert_int_equal(tlsrpt_get("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_CERT_HOST_MISMATCH), 2);
	assert_int_equal(tlsrpt_get("example.com", TLSRPT_POLICY_TLSA,
	    TLSRPT_SUCCESS), 0);
	assert_int_equal(tlsrpt_get("other.com", TLSRPT_POLICY_STS,
	    TLSRPT_SUCCESS), 0);
	/* Successes are not logged; each failure is, with running counts. */
	assert_non_null(strstr(out, "TLS-RPT sts policy of example.com: "
	    "certificate-host-mismatch (successful=2 failed=1 "
	    "certificate-host-mismatch=1)"));
	assert_non_null(strstr(out, "TLS-RPT sts policy of example.com: "
	    "certificate-host-mismatch (successful=2 failed=3 "
	    "certificate-host-mismatch=2 sts-policy-fetch-error=1)"));
	assert_non_null(strstr(out, "TLS-RPT tlsa policy of example.com: "
	    "tlsa-invalid (successful=0 failed=1 tlsa-invalid=1)"));
	assert_null(strstr(out, "success "));
	free(out);

	f = capture_start();
	tlsrpt_log_all();
	out = capture_end(f);
	assert_non_null(strstr(out, "TLS-RPT sts policy of example.com: "
	    "successful=2 failed=3"));
	free(out);
	tlsrpt_reset();
	assert_int_equal(tlsrpt_get("example.com", TLSRPT_POLICY_STS,
	    TLSRPT_SUCCESS), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
	};

	return cmocka_run_group_tests_name("tlsrpt", tests, NULL, NULL);
}
