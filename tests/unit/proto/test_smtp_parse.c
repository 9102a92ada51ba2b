/* Unit tests: SMTP command, path and parameter parsing (golden table). */
#include "unit.h"

#include "proto/smtp_parse.h"

static struct slice
S(const char *z)
{
	return slice_of(z, strlen(z));
}

static void
test_commands(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} cases[] = {
		{ "EHLO client.example", SMTP_EHLO, "client.example" },
		{ "ehlo   client.example  ", SMTP_EHLO, "client.example" },
		{ "MAIL FROM:<a@b.c> SIZE=10", SMTP_MAIL, "FROM:<a@b.c> SIZE=10" },
		{ "quit", SMTP_QUIT, "" },
		{ "StartTLS", SMTP_STARTTLS, "" },
		{ "DATA", SMTP_DATA, "" },
		{ "AUTH PLAIN AGFAYg==", SMTP_AUTH, "PLAIN AGFAYg==" },
		{ "XYZZY foo", SMTP_UNKNOWN, "foo" },
		{ "", SMTP_UNKNOWN, "" },
		{ "MAILFROM:<a@b>", SMTP_UNKNOWN, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_cmd cmd;

		smtp_parse_command(S(cases[i].line), &cmd);
		if (cmd.verb != cases[i].verb || !slice_eq(cmd.arg, cases[i].arg))
			fail_msg("'%s': verb %d arg '%.*s'", cases[i].line,
			    cmd.verb, (int)cmd.arg.len, cmd.arg.p);
	}
}

struct path_case {
	const char	*arg;
	int		 utf8_ok;
	enum smtp_perr	 want;
	const char	*addr;		/* formatted, on success */
	const char	*params;
};

static void
run_paths(const char *kw, const struct path_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct smtp_addr a;
		struct slice params;
		const char *why = NULL;
		enum smtp_perr e = smtp_parse_mail_rcpt(S(cases[i].arg), kw,
		    cases[i].utf8_ok, &a, &params, &why);
		struct buf b = BUF_INIT;

		if (e != cases[i].want)
			fail_msg("%s '%s': got %d (%s), want %d", kw,
			    cases[i].arg, e, why ? why : "", cases[i].want);
		if (e != SMTP_P_OK) {
			assert_non_null(why);
			continue;
		}
		smtp_addr_format(&a, &b);
		if (strcmp(buf_cstr(&b), cases[i].addr) != 0 ||
		    !slice_eq(params, cases[i].params))
			fail_msg("%s '%s': addr '%s' params '%.*s'", kw,
			    cases[i].arg, buf_cstr(&b), (int)params.len,
			    params.p);
		buf_free(&b);
	}
}

static void
test_mail_from(void **state)
{
	static const struct path_case cases[] = {
		{ "FROM:<user@Example.COM>", 0, SMTP_P_OK, "user@example.com", "" },
		{ "from:<a.b+c@d-e.f> SIZE=100 BODY=8BITMIME", 0, SMTP_P_OK,
		  "a.b+c@d-e.f", "SIZE=100 BODY=8BITMIME" },
		{ "FROM: <a@b.c>", 0, SMTP_P_OK, "a@b.c", "" },
		{ "FROM:<>", 0, SMTP_P_OK, "", "" },
		{ "FROM:<> SIZE=5", 0, SMTP_P_OK, "", "SIZE=5" },
		{ "FROM:a@b.c", 0, SMTP_P_OK, "a@b.c", "" },
		{ "FROM:<\"quoted \\\" local\"@b.c>", 0, SMTP_P_OK,
		  "\"quoted \\\" local\"@b.c", "" },
		{ "FROM:<\"a>b\"@c.d>", 0, SMTP_P_OK, "\"a>b\"@c.d", "" },
		{ "FROM:<@relay.a,@relay.b:u@d.e>", 0, SMTP_P_OK, "u@d.e", "" },
		{ "FROM:<u@[192.0.2.1]>", 0, SMTP_P_OK, "u@[192.0.2.1]", "" },
		{ "FROM:<u@[IPv6:2001:db8::1]>", 0, SMTP_P_OK,
		  "u@[IPv6:2001:db8::1]", "" },
		{ "FROM:<us\xc3\xa9r@b\xc3\xbc.de>", 1, SMTP_P_OK,
		  "us\xc3\xa9r@b\xc3\xbc.de", "" },
		{ "FROM:<us\xc3\xa9r@b.de>", 0, SMTP_P_UTF8, NULL, NULL },
		{ "FROM:<user@b\xc3\xbc.de>", 0, SMTP_P_UTF8, NULL, NULL },
		{ "FROM:<us\xff@b.de>", 1, SMTP_P_SYNTAX, NULL, NULL },
		{ "TO:<a@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM<a@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b.c", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b.c>junk", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a..b@c.d>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<.a@c.d>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a.@c.d>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a b@c.d>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@-b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b-.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b..c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b_c.d>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@[300.1.1.1]>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@[IPv6:zz]>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<\"unterminated@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a\r\n@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaa@b.c>", 0, SMTP_P_TOO_LONG, NULL, NULL },
	};

	(void)state;
	run_paths("FROM", cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_rcpt_to(void **state)
{
	static const struct path_case cases[] = {
		{ "TO:<ok-1@Multi.Test>", 0, SMTP_P_OK, "ok-1@multi.test", "" },
		{ "To:<Postmaster>", 0, SMTP_P_OK, "Postmaster", "" },
		{ "TO:<a@b.c> NOTIFY=NEVER ORCPT=rfc822;a@b.c", 0, SMTP_P_OK,
		  "a@b.c", "NOTIFY=NEVER ORCPT=rfc822;a@b.c" },
		{ "TO:<>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "TO:<user>", 0, SMTP_P_SYNTAX, NULL, NULL },
		{ "FROM:<a@b.c>", 0, SMTP_P_SYNTAX, NULL, NULL },
	};

	(void)state;
	run_paths("TO", cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_length_limits(void **state)
{
	struct buf arg = BUF_INIT, dom = BUF_INIT;
	struct smtp_addr a;
	struct slice params;
	const char *why;

	(void)state;
	/* A 64-octet local part is fine, 65 is not. */
	buf_adds(&arg, "FROM:<");
	for (int i = 0; i < 64; i++)
		buf_addc(&arg, 'x');
	buf_adds(&arg, "@b.c>");
	assert_int_equal(smtp_parse_mail_rcpt(slice_of(arg.p, arg.len), "FROM",
	    0, &a, &params, &why), SMTP_P_OK);
	assert_int_equal(strlen(a.local), 64);
	/* A label may have 63 characters, not 64. */
	for (int i = 0; i < 64; i++)
		buf_addc(&dom, 'd');
	assert_true(smtp_valid_domain(slice_of(dom.p, 63), 0));
	assert_true(smtp_valid_domain(S("a.b"), 0));
	assert_false(smtp_valid_domain(slice_of(dom.p, dom.len), 0));
	assert_false(smtp_valid_domain(S(""), 0));
	assert_false(smtp_valid_domain(S("a."), 0));
	/* An address literal is all of its bytes: a NUL does not end it
	 * early (found by fuzz_smtp_parse). */
	assert_true(smtp_valid_domain(S("[192.0.2.1]"), 0));
	assert_false(smtp_valid_domain(slice_of("[192.0.2.1\0x]", 13), 0));
	assert_false(smtp_valid_domain(slice_of("[IPv6:::1\0x]", 12), 0));
	assert_int_equal(smtp_parse_mail_rcpt(slice_of("TO:<u@[192.0.2.1\0x]>",
	    20), "TO", 0, &a, &params, &why), SMTP_P_SYNTAX);
	/* A path over 256 octets is refused before anything else. */
	buf_reset(&arg);
	buf_adds(&arg, "TO:<u@");
	for (int i = 0; i < 5; i++)
		buf_adds(&arg, "ddddddddddddddddddddddddddddddddddddddddddddddddd.");
	buf_adds(&arg, "example>");
	assert_int_equal(smtp_parse_mail_rcpt(slice_of(arg.p, arg.len), "TO",
	    0, &a, &params, &why), SMTP_P_TOO_LONG);
	buf_free(&arg);
	buf_free(&dom);
}

static void
test_params(void **state)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct buf many = BUF_INIT;
	const char *why;
	size_t n;

	(void)state;
	assert_int_equal(smtp_parse_params(S("SIZE=100  BODY=8BITMIME SMTPUTF8"),
	    0, p, &n, &why), SMTP_P_OK);
	assert_int_equal(n, 3);
	assert_true(slice_eq(p[0].key, "SIZE") && slice_eq(p[0].value, "100"));
	assert_true(slice_eq(p[1].key, "BODY") &&
	    slice_eq(p[1].value, "8BITMIME"));
	assert_true(slice_eq(p[2].key, "SMTPUTF8") && p[2].value.p == NULL);
	assert_int_equal(smtp_parse_params(S(""), 0, p, &n, &why), SMTP_P_OK);
	assert_int_equal(n, 0);
	assert_int_equal(smtp_parse_params(S("SIZE="), 0, p, &n, &why),
	    SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_params(S("=5"), 0, p, &n, &why),
	    SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_params(S("A=b=c"), 0, p, &n, &why),
	    SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_params(S("K_EY=1"), 0, p, &n, &why),
	    SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_params(S("ORCPT=\xc3\xa9"), 0, p, &n, &why),
	    SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_params(S("ORCPT=\xc3\xa9"), 1, p, &n, &why),
	    SMTP_P_OK);
	for (int i = 0; i <= SMTP_PARAMS_MAX; i++)
		buf_adds(&many, "X=1 ");
	assert_int_equal(smtp_parse_params(slice_of(many.p, many.len), 0, p,
	    &n, &why), SMTP_P_TOO_MANY);
	buf_free(&many);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_mail_from),
		cmocka_unit_test(test_rcpt_to),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests_name("smtp_parse", tests, NULL, NULL);
}
