/* Unit tests: queue/dkim_sign — which keys sign (the From domain's parent,
 * a plugin's domain and selector, the envelope sender's domain without a
 * From, none) and the DKIM-Signature field's tags and header list with
 * oversigning. Signatures themselves are checked by independent verifiers
 * in tests/e2e/test_dkim.py. */
#include "unit.h"

#include "dkim_util.h"
#include "queue/dkim_sign.h"

static const char MSG[] =
    "Received: from x\r\nFrom: Me <me@sub.example.com>\r\nTo: a@b.test\r\n"
    "Subject: hi\r\nTo: c@d.test\r\n\r\nbody\r\n";

static void
test_sign_choice_and_field(void **state)
{
	struct dkim_request r = { MSG, sizeof(MSG) - 1, "bounce@other.test",
	    NULL, NULL, 1700000000 };
	struct buf out = BUF_INIT, info = BUF_INIT;
	struct dkim_config *c;
	char *err = NULL;

	(void)state;
	keygen("example.com", "rsa1", DKIM_RSA_SHA256);
	keygen("example.com", "ed1", DKIM_ED25519_SHA256);
	keygen("esp.net", "esp", DKIM_RSA_SHA256);
	c = load_ok();
	/* The From domain's parent: both keys. */
	assert_int_equal(dkim_sign(c, &r, &out, &info, &err), 2);
	assert_string_equal(info.p, "d=example.com s=rsa1 a=rsa-sha256, "
	    "d=example.com s=ed1 a=ed25519-sha256");
	assert_non_null(strstr(out.p, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=example.com; s=rsa1;\r\n\tt=1700000000; "
	    "h=from:from:subject:subject:date:message-id:to:to:to;"));
	buf_reset(&out);
	buf_reset(&info);
	/* A plugin's choice: one selector of another domain. */
	r.domain = "esp.net";
	r.selector = "esp";
	assert_int_equal(dkim_sign(c, &r, &out, &info, &err), 1);
	assert_string_equal(info.p, "d=esp.net s=esp a=rsa-sha256");
	buf_reset(&out);
	buf_reset(&info);
	/* No From, an envelope domain without keys, no fallback: none. */
	r.domain = r.selector = NULL;
	r.msg = "Subject: x\r\n\r\n";
	r.len = strlen(r.msg);
	assert_int_equal(dkim_sign(c, &r, &out, &info, &err), 0);
	/* No From: the envelope sender's domain. */
	r.mail_from = "bounce@esp.net";
	assert_int_equal(dkim_sign(c, &r, &out, &info, &err), 1);
	assert_string_equal(info.p, "d=esp.net s=esp a=rsa-sha256");
	buf_free(&out);
	buf_free(&info);
	dkim_config_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sign_choice_and_field,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("dkim_sign", tests, NULL, NULL);
}
