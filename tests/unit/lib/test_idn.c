/* Unit tests: lib/idn — U-labels to A-labels (IDNA2008 with UTS #46
 * non-transitional mapping: case folded, NFC, ß kept), ASCII untouched and
 * not copied, invalid names refused with a reason, whole addresses, and
 * the header-section scan. */
#include "unit.h"

#include "lib/idn.h"

static void
test_domain(void **state)
{
	static const struct {
		const char	*in, *out;	/* NULL: ASCII, as is */
	} good[] = {
		{ "b\xc3\xbc" "cher.test", "xn--bcher-kva.test" },
		/* UTS #46 folds case. */
		{ "B\xc3\x9c" "CHER.test", "xn--bcher-kva.test" },
		/* Decomposed: NFC first. */
		{ "bu\xcc\x88" "cher.test", "xn--bcher-kva.test" },
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.test",
		  "xn--wgv71a119e.test" },
		/* Non-transitional: ß stays (transitional would give ss). */
		{ "fa\xc3\x9f.de", "xn--fa-hia.de" },
		{ "example.com", NULL },
		{ "xn--bcher-kva.test", NULL },
		{ "", NULL },
	};
	static const char *const bad[] = {
		"\xe2\x98\x83.test",		/* a symbol: not IDNA2008 */
	};
	char *out;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		assert_int_equal(idn_domain_ascii(good[i].in, &out, &why), 0);
		if (good[i].out == NULL)
			assert_null(out);
		else {
			assert_non_null(out);
			assert_string_equal(out, good[i].out);
		}
		free(out);
	}
	why = NULL;
	out = (char *)"x";
	assert_int_equal(idn_domain_ascii(bad[0], &out, &why), -1);
	assert_null(out);
	assert_non_null(why);
	assert_non_null(strstr(why, "disallowed"));
	/* Not UTF-8 at all. */
	assert_int_equal(idn_domain_ascii("\xff\xfe.test", &out, &why), -1);
	assert_null(out);
	/* A label too long once converted (over 63 octets). */
	{
		char big[400] = "";

		memset(big, 'a', 62);
		big[62] = '\0';
		strcat(big, "\xc3\xbc");
		strcat(big, ".test");
		assert_int_equal(idn_domain_ascii(big, &out, &why), -1);
		assert_null(out);
	}
}

static void
test_addr(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(idn_addr_ascii("ok-1@b\xc3\xbc" "cher.test", &out),
	    0);
	assert_string_equal(out, "ok-1@xn--bcher-kva.test");
	free(out);
	assert_int_equal(idn_addr_ascii("a@example.com", &out), 0);
	assert_string_equal(out, "a@example.com");
	free(out);
	assert_int_equal(idn_addr_ascii("", &out), 0);	/* <> */
	assert_string_equal(out, "");
	free(out);
	/* The last @ splits: a quoted local part may hold one. */
	assert_int_equal(idn_addr_ascii("\"a@b\"@b\xc3\xbc" "cher.test", &out),
	    0);
	assert_string_equal(out, "\"a@b\"@xn--bcher-kva.test");
	free(out);
	/* A UTF-8 local part has no ASCII form. */
	assert_int_equal(idn_addr_ascii("j\xc3\xbcrgen@example.com", &out),
	    -1);
	assert_null(out);
	assert_int_equal(idn_addr_ascii("a@\xe2\x98\x83.test", &out), -1);
	assert_null(out);
	assert_int_equal(idn_addr_ascii("postm\xc3\xa4ster", &out), -1);
	assert_null(out);
}

static void
test_header_scan(void **state)
{
	static const char ascii[] = "Subject: hi\r\nFrom: <a@b>\r\n\r\n"
	    "body \xc3\xa9\r\n";
	static const char utf8[] = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "\r\nb\r\n";
	static const char fold[] = "Subject: a\r\n\tb \xc3\xa9\r\n\r\n";
	static const char nobody[] = "Subject: a\r\nX: \xc3\xa9";
	static const char lf[] = "Subject: a\n\nb\xc3\xa9\n";

	(void)state;
	assert_false(idn_header_nonascii(ascii, sizeof(ascii) - 1));
	assert_true(idn_header_nonascii(utf8, sizeof(utf8) - 1));
	assert_true(idn_header_nonascii(fold, sizeof(fold) - 1));
	assert_true(idn_header_nonascii(nobody, sizeof(nobody) - 1));
	assert_false(idn_header_nonascii(lf, sizeof(lf) - 1));
	assert_false(idn_header_nonascii("", 0));
	assert_true(idn_is_ascii("abc"));
	assert_true(idn_is_ascii(""));
	assert_false(idn_is_ascii("a\xc3\xa9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_header_scan),
	};

	return cmocka_run_group_tests_name("lib_idn", tests, NULL, NULL);
}
