/* Unit tests: DKIM canonicalisation (RFC 6376 §3.4.5's examples and
 * edge cases), the body fed in pieces, the header split, the From domain. */
#include "unit.h"

#include "lib/buf.h"
#include "proto/dkim_canon.h"

static void
to_buf(void *arg, const char *p, size_t n)
{
	buf_add(arg, p, n);
}

/* The body canonicalised, fed in pieces of step bytes (0: at once). */
static char *
body(enum dkim_canon c, const char *in, size_t step)
{
	struct buf out = BUF_INIT;
	struct dkim_body *b = xcalloc(1, sizeof(*b));
	size_t len = strlen(in);

	dkim_body_init(b, c, to_buf, &out);
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step)
		dkim_body_feed(b, in + i, len - i < step ? len - i : step);
	dkim_body_finish(b);
	free(b);
	buf_addc(&out, '\0');
	return buf_release(&out);
}

static char *
header(enum dkim_canon c, const char *in)
{
	struct buf out = BUF_INIT;

	dkim_canon_header(c, in, strlen(in), &out);
	return buf_release(&out);
}

static void
test_rfc6376_examples(void **state)
{
	char *s;

	(void)state;
	/* §3.4.5: headers. */
	s = header(DKIM_RELAXED, "A: X\r\n");
	assert_string_equal(s, "a:X\r\n");
	free(s);
	s = header(DKIM_RELAXED, "B : Y\t\r\n\tZ  \r\n");
	assert_string_equal(s, "b:Y Z\r\n");
	free(s);
	s = header(DKIM_SIMPLE, "B : Y\t\r\n\tZ  \r\n");
	assert_string_equal(s, "B : Y\t\r\n\tZ  \r\n");
	free(s);
	/* §3.4.5: the body. */
	s = body(DKIM_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", 0);
	assert_string_equal(s, " C\r\nD E\r\n");
	free(s);
	s = body(DKIM_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", 0);
	assert_string_equal(s, " C \r\nD \t E\r\n");
	free(s);
}

struct bodycase {
	const char	*in, *simple, *relaxed;
};

static const struct bodycase bodies[] = {
	{ "", "\r\n", "" },				/* §3.4.3, §3.4.4 */
	{ "\r\n", "\r\n", "" },
	{ "\r\n\r\n", "\r\n", "" },
	{ " \r\n\t\r\n", " \r\n\t\r\n", "" },		/* blank lines are empty */
	{ "abc", "abc\r\n", "abc\r\n" },		/* a CRLF is added */
	{ "abc\r\n", "abc\r\n", "abc\r\n" },
	{ "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n" },
	{ "  lead  and  trail  \r\n", "  lead  and  trail  \r\n",
	  " lead and trail\r\n" },
	{ ".dot\r\n..two\r\n.\r\n", ".dot\r\n..two\r\n.\r\n",
	  ".dot\r\n..two\r\n.\r\n" },
	{ "caf\xc3\xa9 8-bit\r\n", "caf\xc3\xa9 8-bit\r\n",
	  "caf\xc3\xa9 8-bit\r\n" },
	{ "a\rb\r\n", "a\rb\r\n", "a\rb\r\n" },		/* a lone CR is text */
	{ "a\r", "a\r\r\n", "a\r\r\n" },
	{ "x \t\r\n\r\n \r\ny", "x \t\r\n\r\n \r\ny\r\n", "x\r\n\r\n\r\ny\r\n" },
};

static void
test_bodies_in_every_piece_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (size_t step = 0; step < 8; step++) {
			char *s = body(DKIM_SIMPLE, bodies[i].in, step);
			char *r = body(DKIM_RELAXED, bodies[i].in, step);

			if (strcmp(s, bodies[i].simple) != 0 ||
			    strcmp(r, bodies[i].relaxed) != 0)
				fail_msg("case %zu step %zu: simple '%s' relaxed "
				    "'%s'", i, step, s, r);
			free(s);
			free(r);
		}
}

/* A body larger than the canonicaliser's buffer, long runs included. */
static void
test_large_body(void **state)
{
	struct buf in = BUF_INIT, want = BUF_INIT;
	char *got;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		buf_printf(&in, "line %d   with   blanks \t\r\n", i);
		buf_printf(&want, "line %d with blanks\r\n", i);
	}
	for (int i = 0; i < 20000; i++)
		buf_addc(&in, 'x');
	for (int i = 0; i < 20000; i++)
		buf_addc(&want, 'x');
	buf_adds(&in, "\r\n\r\n\r\n");
	buf_adds(&want, "\r\n");
	got = body(DKIM_RELAXED, buf_cstr(&in), 0);
	assert_string_equal(got, buf_cstr(&want));
	free(got);
	got = body(DKIM_RELAXED, buf_cstr(&in), 4097);
	assert_string_equal(got, buf_cstr(&want));
	free(got);
	buf_free(&in);
	buf_free(&want);
}

static void
test_relaxed_headers(void **state)
{
	static const char *const cases[][2] = {
		{ "SUBJect:   many   blanks   \r\n", "subject:many blanks\r\n" },
		{ "To: a,\r\n b,\r\n\t c\r\n", "to:a, b, c\r\n" },
		{ "X-Empty:\r\n", "x-empty:\r\n" },
		{ "X-Empty:   \r\n", "x-empty:\r\n" },
		{ "DKIM-Signature: v=1;\r\n\tb=", "dkim-signature:v=1; b=\r\n" },
		{ "Odd\r\n", "odd\r\n" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = header(DKIM_RELAXED, cases[i][0]);

		assert_string_equal(s, cases[i][1]);
		free(s);
	}
}

static void
test_fields(void **state)
{
	const char *m = "From: a@b.test\r\nTo: x,\r\n y\r\nSubject : s\r\n"
	    "\r\nbody: not a header\r\n";
	struct dkim_field f[4];
	size_t n;

	(void)state;
	n = dkim_fields(m, strlen(m), f, 4);
	assert_int_equal(n, 3);
	assert_int_equal(f[0].namelen, 4);
	assert_memory_equal(f[0].p, "From: a@b.test\r\n", f[0].len);
	assert_int_equal(f[1].len, strlen("To: x,\r\n y\r\n"));
	assert_int_equal(f[2].namelen, strlen("Subject"));
	/* Counting only, and more fields than room. */
	assert_int_equal(dkim_fields(m, strlen(m), NULL, 0), 3);
	assert_int_equal(dkim_fields(m, strlen(m), f, 1), 3);
	assert_int_equal(dkim_fields("", 0, f, 4), 0);
}

static void
test_from_domain(void **state)
{
	static const char *const cases[][2] = {
		{ "Sender Name <Sender@Example.COM>", "example.com" },
		{ "sender@example.com", "example.com" },
		{ "\"a@evil.test\" <me@good.test>", "good.test" },
		{ "(comment <x@evil.test>) me@good.test", "good.test" },
		{ "<@route.test:me@good.test>", "good.test" },
		{ "first@one.test, second@two.test", "one.test" },
		{ "me@trailing.test.", "trailing.test" },
		{ "no address here", NULL },
		{ "<>", NULL },
		{ "me@[192.0.2.1]", NULL },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = dkim_from_domain(cases[i][0], strlen(cases[i][0]), out,
		    sizeof(out));

		if (cases[i][1] == NULL)
			assert_int_equal(ok, 0);
		else {
			assert_int_equal(ok, 1);
			assert_string_equal(out, cases[i][1]);
		}
	}
	assert_int_equal(dkim_from_domain("a@example.com", 13, out, 5), 0);
}

static void
test_canon_names(void **state)
{
	enum dkim_canon c;

	(void)state;
	assert_int_equal(dkim_canon_parse("Relaxed", &c), 0);
	assert_int_equal(c, DKIM_RELAXED);
	assert_int_equal(dkim_canon_parse("simple", &c), 0);
	assert_int_equal(c, DKIM_SIMPLE);
	assert_int_equal(dkim_canon_parse("nofws", &c), -1);
	assert_string_equal(dkim_canon_name(DKIM_RELAXED), "relaxed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6376_examples),
		cmocka_unit_test(test_bodies_in_every_piece_size),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_relaxed_headers),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_canon_names),
	};

	return cmocka_run_group_tests_name("dkim_canon", tests, NULL, NULL);
}
