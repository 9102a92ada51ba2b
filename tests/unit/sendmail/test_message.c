/* Unit tests: sendmail/message.c — address lists (display names,
 * comments, quoting, groups, routes, unqualified names), the end of the
 * input with and without -i, -t's recipients and Bcc's removal, the added
 * From/Date/Message-ID, and dot-stuffing. The whole program is tested end
 * to end against the daemon (tests/e2e/test_sendmail.py). */
#include "unit.h"

#include "sendmail/message.h"

static struct addrs
parse(const char *list, int want_rc)
{
	struct addrs a = { NULL, 0 };
	const char *bad = NULL;

	assert_int_equal(addrs_parse(&a, list, strlen(list), "host.test",
	    &bad), want_rc);
	return a;
}

static void
test_addrs(void **state)
{
	struct addrs a;

	(void)state;
	a = parse("a@x.test, \"Doe, John\" <j@x.test> (the boss), "
	    "c@x.test (C, really)", 0);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.v[0], "a@x.test");
	assert_string_equal(a.v[1], "j@x.test");
	assert_string_equal(a.v[2], "c@x.test");
	addrs_free(&a);
	a = parse("team: one@x.test, <two@x.test>;, root, "
	    "<@relay.test:three@x.test>, \"q u\"@x.test", 0);
	assert_int_equal(a.n, 5);
	assert_string_equal(a.v[0], "one@x.test");
	assert_string_equal(a.v[1], "two@x.test");
	assert_string_equal(a.v[2], "root@host.test");
	assert_string_equal(a.v[3], "three@x.test");
	assert_string_equal(a.v[4], "\"q u\"@x.test");
	addrs_free(&a);
	a = parse("undisclosed-recipients:;", 0);
	assert_int_equal(a.n, 0);
	addrs_free(&a);
	a = parse("<a@x.test", -1);
	addrs_free(&a);
	a = parse("a@x.test>", -1);
	addrs_free(&a);
	a = parse("\"unclosed@x.test", -1);
	addrs_free(&a);
}

static const struct msg_opts base = {
	.sender = "app@host.test", .domain = "host.test",
	.msgid_host = "host.test", .now = 1700000000, .pid = 42,
	.nonce = 0xabcdef
};

static char *
prepare(const char *in, struct msg_opts o, struct addrs *rcpts, int want)
{
	struct buf out = BUF_INIT;
	char *bad = NULL;
	int has_8bit;

	assert_int_equal(msg_prepare(in, strlen(in), &o, &out, rcpts,
	    &has_8bit, &bad), want);
	if (want != 0) {
		assert_non_null(bad);
		free(bad);
	}
	return buf_release(&out);
}

static void
test_extract(void **state)
{
	struct addrs r = { NULL, 0 };
	struct msg_opts o = base;
	char *m;

	(void)state;
	o.extract = 1;
	m = prepare("From: me@host.test\nTo: a@x.test,\n b@x.test\n"
	    "Bcc: hidden@x.test,\n\tlater@x.test\nCc: c@x.test\n"
	    "Date: today\nMessage-ID: <1@x>\nSubject: s\n\nbody\n", o, &r, 0);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.v[0], "hidden@x.test");
	assert_string_equal(r.v[1], "later@x.test");
	assert_string_equal(r.v[2], "a@x.test");
	assert_string_equal(r.v[3], "b@x.test");
	assert_string_equal(r.v[4], "c@x.test");
	/* Bcc and its fold are gone; everything else as it was, CRLF. */
	assert_string_equal(m, "From: me@host.test\r\nTo: a@x.test,\r\n "
	    "b@x.test\r\nCc: c@x.test\r\nDate: today\r\nMessage-ID: <1@x>\r\n"
	    "Subject: s\r\n\r\nbody\r\n");
	free(m);
	addrs_free(&r);
	/* Without -t: Bcc still never leaves, nothing is extracted. */
	o.extract = 0;
	m = prepare("Bcc: hidden@x.test\nTo: a@x.test\nFrom: f@x\nDate: d\n"
	    "Message-ID: <m>\n\nbody", o, &r, 0);
	assert_int_equal(r.n, 0);
	assert_null(strstr(m, "hidden"));
	assert_string_equal(m, "To: a@x.test\r\nFrom: f@x\r\nDate: d\r\n"
	    "Message-ID: <m>\r\n\r\nbody\r\n");
	free(m);
	o.extract = 1;
	m = prepare("To: <broken@x.test\n\nbody\n", o, &r, -1);
	free(m);
	addrs_free(&r);
}

static void
test_dots_and_added(void **state)
{
	struct addrs r = { NULL, 0 };
	struct msg_opts o = base;
	char *m;

	(void)state;
	/* A lone dot ends the input; what follows is not read. */
	o.fullname = "App \"X\"";
	m = prepare("From root Mon Jan 1\nSubject: s\n\none\n.\ntwo\n", o, &r,
	    0);
	assert_non_null(strstr(m, "From: \"App \\\"X\\\"\" <app@host.test>\r\n"));
	assert_non_null(strstr(m, "Date: "));
	assert_non_null(strstr(m, "Message-ID: <1700000000.42.00abcdef@"
	    "host.test>\r\n"));
	assert_non_null(strstr(m, "Subject: s\r\n\r\none\r\n"));
	assert_null(strstr(m, "two"));
	assert_null(strstr(m, "From root"));
	free(m);
	/* -i: the dot is data. */
	o.ignore_dots = 1;
	m = prepare("Subject: s\n\none\n.\ntwo\n", o, &r, 0);
	assert_non_null(strstr(m, "\r\n\r\none\r\n.\r\ntwo\r\n"));
	free(m);
	/* No header at all: the added ones, a blank line, the body. */
	m = prepare("just text\n", o, &r, 0);
	assert_non_null(strstr(m, ">\r\n\r\njust text\r\n"));
	free(m);
	addrs_free(&r);
}

static void
test_dot_stuff(void **state)
{
	struct buf out = BUF_INIT;
	const char *m = "A: b\r\n\r\n.\r\n..x\r\nend";

	(void)state;
	msg_dot_stuff(m, strlen(m), &out);
	assert_string_equal(buf_cstr(&out),
	    "A: b\r\n\r\n..\r\n...x\r\nend\r\n.\r\n");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_dots_and_added),
		cmocka_unit_test(test_dot_stuff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
