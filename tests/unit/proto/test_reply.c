/* Unit tests: SMTP reply and enhanced status parsing (golden table). */
#include "unit.h"

#include "lib/buf.h"
#include "proto/reply.h"

#define WHOLE	(-1)	/* used: the whole input */

struct golden {
	const char	*in;
	int		 want;		/* reply_parse's return */
	long		 used;		/* bytes consumed, WHOLE = strlen(in) */
	int		 code;
	const char	*extc;
	const char	*text;
	const char	*lines;		/* r.lines joined with '|' */
	const char	*bad;		/* *bad on -1 */
	enum reply_fault fault;		/* *fault on -1, else 0 */
};

static const struct golden goldens[] = {
	{ "250 OK\r\n", 1, WHOLE, 250, "", "OK", "OK", NULL, 0 },
	{ "250 2.0.0 Ok: queued as ABC\r\n", 1, WHOLE, 250, "2.0.0",
	  "Ok: queued as ABC", "2.0.0 Ok: queued as ABC", NULL, 0 },
	{ "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	  "250 AUTH PLAIN LOGIN\r\n", 1, WHOLE, 250, "",
	  "mx.example PIPELINING SIZE 1000 AUTH PLAIN LOGIN",
	  "mx.example|PIPELINING|SIZE 1000|AUTH PLAIN LOGIN", NULL, 0 },
	{ "550 5.7.26 Unauthenticated email from example.com is not "
	  "accepted\r\n", 1, WHOLE, 550, "5.7.26",
	  "Unauthenticated email from example.com is not accepted",
	  "5.7.26 Unauthenticated email from example.com is not accepted",
	  NULL, 0 },
	{ "550 #5.1.1 x\r\n", 1, WHOLE, 550, "5.1.1", "x", "#5.1.1 x", NULL,
	  0 },
	{ "552 5.3.4 Message size exceeds fixed limit\r\n", 1, WHOLE, 552,
	  "5.3.4", "Message size exceeds fixed limit",
	  "5.3.4 Message size exceeds fixed limit", NULL, 0 },
	{ "250\r\n", 1, WHOLE, 250, "", "", "", NULL, 0 },
	{ "250\n", 1, WHOLE, 250, "", "", "", NULL, 0 },
	{ "250 \r\n", 1, WHOLE, 250, "", "", "", NULL, 0 },
	{ "250-\r\n250\r\n", 1, WHOLE, 250, "", "", "|", NULL, 0 },
	{ "250 OK\n", 1, WHOLE, 250, "", "OK", "OK", NULL, 0 },
	{ "250-a\n250-b\r\n250 c\n", 1, WHOLE, 250, "", "a b c", "a|b|c",
	  NULL, 0 },
	{ "354 Go ahead\r\n", 1, WHOLE, 354, "", "Go ahead", "Go ahead",
	  NULL, 0 },
	{ "421 4.7.0 Try later\r\n", 1, WHOLE, 421, "4.7.0", "Try later",
	  "4.7.0 Try later", NULL, 0 },
	{ "220 mx.example ESMTP ready\r\n", 1, WHOLE, 220, "",
	  "mx.example ESMTP ready", "mx.example ESMTP ready", NULL, 0 },
	/* Enhanced codes: the class must match, 1-3 digits, then a blank. */
	{ "250 5.1.1 x\r\n", 1, WHOLE, 250, "", "5.1.1 x", "5.1.1 x", NULL, 0 },
	{ "300 3.0.0 x\r\n", 1, WHOLE, 300, "", "3.0.0 x", "3.0.0 x", NULL, 0 },
	{ "550 3.0.0 x\r\n", 1, WHOLE, 550, "", "3.0.0 x", "3.0.0 x", NULL, 0 },
	{ "550 5.123.456 x\r\n", 1, WHOLE, 550, "5.123.456", "x",
	  "5.123.456 x", NULL, 0 },
	{ "550 5.1234.1 x\r\n", 1, WHOLE, 550, "", "5.1234.1 x",
	  "5.1234.1 x", NULL, 0 },
	{ "550 5.1.1234 x\r\n", 1, WHOLE, 550, "", "5.1.1234 x",
	  "5.1.1234 x", NULL, 0 },
	{ "550 5.1.1x\r\n", 1, WHOLE, 550, "", "5.1.1x", "5.1.1x", NULL, 0 },
	{ "550 5.1. x\r\n", 1, WHOLE, 550, "", "5.1. x", "5.1. x", NULL, 0 },
	{ "550 5..1 x\r\n", 1, WHOLE, 550, "", "5..1 x", "5..1 x", NULL, 0 },
	{ "550 5.1\r\n", 1, WHOLE, 550, "", "5.1", "5.1", NULL, 0 },
	{ "550 55.1.1 x\r\n", 1, WHOLE, 550, "", "55.1.1 x", "55.1.1 x",
	  NULL, 0 },
	{ "550 ##5.1.1 x\r\n", 1, WHOLE, 550, "", "##5.1.1 x", "##5.1.1 x",
	  NULL, 0 },
	{ "550 5.1.1\r\n", 1, WHOLE, 550, "5.1.1", "", "5.1.1", NULL, 0 },
	{ "550 5.1.1  two spaces\r\n", 1, WHOLE, 550, "5.1.1", " two spaces",
	  "5.1.1  two spaces", NULL, 0 },
	{ "550-5.1.1 first\r\n550 5.1.2 second\r\n", 1, WHOLE, 550, "5.1.2",
	  "first second", "5.1.1 first|5.1.2 second", NULL, 0 },
	{ "550-5.1.1 first\r\n550 second\r\n", 1, WHOLE, 550, "5.1.1",
	  "first second", "5.1.1 first|second", NULL, 0 },
	{ "550-5.7.1\r\n550 5.7.1 blocked\r\n", 1, WHOLE, 550, "5.7.1",
	  "blocked", "5.7.1|5.7.1 blocked", NULL, 0 },
	/* Only the first reply is consumed. */
	{ "250 OK\r\n354 go\r\n", 1, 8, 250, "", "OK", "OK", NULL, 0 },
	{ "250 8bit \xc3\xa9\r\n", 1, WHOLE, 250, "", "8bit \xc3\xa9",
	  "8bit \xc3\xa9", NULL, 0 },
	/* Not complete yet. */
	{ "", 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
	{ "250", 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
	{ "250\r", 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
	{ "250-a\r\n250-b\r\n", 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
	{ "250-a\r\n251 b", 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
	/* Malformed. */
	{ "999 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "999 x",
	  REPLY_FAULT_CODE },
	{ "2x0 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "2x0 x",
	  REPLY_FAULT_CODE },
	{ "150 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "150 x",
	  REPLY_FAULT_CODE },
	{ "55 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "55 x",
	  REPLY_FAULT_CODE },
	{ "250x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "250x",
	  REPLY_FAULT_CODE },
	{ "2500 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "2500 x",
	  REPLY_FAULT_CODE },
	{ "600 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "600 x",
	  REPLY_FAULT_CODE },
	{ "199 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "199 x",
	  REPLY_FAULT_CODE },
	{ "099 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "099 x",
	  REPLY_FAULT_CODE },
	{ "2a0 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "2a0 x",
	  REPLY_FAULT_CODE },
	{ "250\tx\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "250?x",
	  REPLY_FAULT_CODE },
	{ " 250 x\r\n", -1, WHOLE, 0, NULL, NULL, NULL, " 250 x",
	  REPLY_FAULT_CODE },
	{ "\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "", REPLY_FAULT_CODE },
	{ "25\n", -1, WHOLE, 0, NULL, NULL, NULL, "25", REPLY_FAULT_CODE },
	{ "250-a\r\n251 b\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "251 b",
	  REPLY_FAULT_MIXED },
	{ "250-a\r\n550 b\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "550 b",
	  REPLY_FAULT_MIXED },
	{ "250-a\r\n251 b\r\n250 c\r\n", -1, 14, 0, NULL, NULL, NULL,
	  "251 b", REPLY_FAULT_MIXED },
	{ "HTTP/1.1 400 Bad\r\n", -1, WHOLE, 0, NULL, NULL, NULL,
	  "HTTP/1.1 400 Bad", REPLY_FAULT_CODE },
	{ "junk\r\n250 OK", -1, 6, 0, NULL, NULL, NULL, "junk",
	  REPLY_FAULT_CODE },
	{ "250-a\r\njunk\r\n250 b", -1, 13, 0, NULL, NULL, NULL, "junk",
	  REPLY_FAULT_CODE },
	{ "250 a\x01\x7f\xff\rb\r\n", 1, WHOLE, 250, "", "a\x01\x7f\xff\rb",
	  "a\x01\x7f\xff\rb", NULL, 0 },
	{ "25\x01\x7f\xff\rb\r\n", -1, WHOLE, 0, NULL, NULL, NULL, "25???b",
	  REPLY_FAULT_CODE },
};

/* r.lines joined with '|' (malloc'd). */
static char *
joined(const struct reply *r)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			buf_addc(&b, '|');
		buf_adds(&b, r->lines[i]);
	}
	return buf_release(&b);
}

static void
test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		size_t len = strlen(g->in), used = 12345;
		size_t want_used = g->used == WHOLE ? len : (size_t)g->used;
		struct reply r;
		char *bad = (char *)"unset", *lines;
		enum reply_fault fault = (enum reply_fault)99;
		int e;

		memset(&r, 0, sizeof(r));
		e = reply_parse(g->in, len, &r, &used, &bad, &fault);
		if (e != g->want)
			fail_msg("'%s': returned %d, want %d", g->in, e,
			    g->want);
		if (used != want_used)
			fail_msg("'%s': used %zu, want %zu", g->in, used,
			    want_used);
		if (e < 0) {
			if (bad == NULL || strcmp(bad, g->bad) != 0)
				fail_msg("'%s': bad '%s', want '%s'", g->in,
				    bad ? bad : "(null)", g->bad);
			free(bad);
			if (fault != g->fault)
				fail_msg("'%s': fault %d, want %d", g->in,
				    (int)fault, (int)g->fault);
			assert_string_not_equal(reply_fault_text(fault),
			    "malformed reply");
		} else {
			assert_null(bad);
			assert_int_equal(fault, REPLY_FAULT_NONE);
		}
		if (e <= 0) {
			/* Nothing filled. */
			assert_int_equal(r.code, 0);
			assert_null(r.text);
			assert_null(r.lines);
			continue;
		}
		lines = joined(&r);
		if (r.code != g->code || strcmp(r.extc, g->extc) != 0 ||
		    strcmp(r.text, g->text) != 0 ||
		    strcmp(lines, g->lines) != 0)
			fail_msg("'%s': code %d extc '%s' text '%s' lines '%s'",
			    g->in, r.code, r.extc, r.text, lines);
		free(lines);
		reply_clear(&r);
		assert_null(r.text);
		assert_null(r.lines);
		assert_int_equal(r.nlines, 0);
		assert_int_equal(r.code, 0);
	}
}

/* Every proper prefix of a valid reply is "not yet", never an error. */
static void
test_prefixes(void **state)
{
	static const char *const valid[] = {
		"250 OK\r\n",
		"250\r\n",
		("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250 AUTH PLAIN LOGIN\r\n"),
		"550-5.7.26 Unauthenticated\n550 5.7.26 email\n",
		"550 #5.1.1 x\r\n",
		"250-\r\n250 \r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		size_t len = strlen(valid[i]), used;
		struct reply r;
		char *bad;

		for (size_t k = 0; k < len; k++) {
			/* A copy of exactly k bytes, so ASan sees overreads. */
			char *p = xmalloc(k ? k : 1);

			memcpy(p, valid[i], k);
			memset(&r, 0, sizeof(r));
			if (reply_parse(p, k, &r, &used, &bad, NULL) != 0)
				fail_msg("'%s' at %zu: not 0", valid[i], k);
			assert_int_equal(used, 0);
			assert_null(bad);
			assert_null(r.text);
			free(p);
		}
		assert_int_equal(reply_parse(valid[i], len, &r, &used, &bad,
		    NULL), 1);
		assert_int_equal(used, len);
		reply_clear(&r);
	}
	/* And an empty buffer at NULL. */
	assert_int_equal(reply_parse(NULL, 0, &(struct reply){ 0 },
	    &(size_t){ 0 }, NULL, NULL), 0);
}

static void
test_pipelined(void **state)
{
	const char *in = "250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 two\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n550 5.1";
	size_t len = strlen(in), off = 0, used;
	struct reply r = { 0 };
	char *bad;

	(void)state;
	assert_int_equal(reply_parse(in, len, &r, &used, &bad, NULL), 1);
	assert_int_equal(used, 14);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.extc, "2.1.0");
	assert_string_equal(r.text, "Ok");
	reply_clear(&r);
	off += used;
	assert_int_equal(reply_parse(in + off, len - off, &r, &used, &bad,
	    NULL), 1);
	assert_int_equal(r.nlines, 2);
	assert_string_equal(r.text, "Ok two");
	reply_clear(&r);
	off += used;
	assert_int_equal(reply_parse(in + off, len - off, &r, &used, &bad,
	    NULL), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.extc, "");
	assert_string_equal(r.text, "End data with <CR><LF>.<CR><LF>");
	reply_clear(&r);
	off += used;
	assert_int_equal(reply_parse(in + off, len - off, &r, &used, &bad,
	    NULL), 0);
	assert_string_equal(in + off, "550 5.1");
}

static void
test_nul(void **state)
{
	static const char in[] = "250 O\0K\r\n250 OK\r\n";
	struct reply r = { 0 };
	size_t used;
	char *bad;
	enum reply_fault fault;

	(void)state;
	assert_int_equal(reply_parse(in, sizeof(in) - 1, &r, &used, &bad,
	    &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_NUL);
	assert_int_equal(used, 9);
	assert_string_equal(bad, "250 O?K");
	free(bad);
	/* In a continuation line too. */
	assert_int_equal(reply_parse("250-a\r\n\0" "250 b\r\n", 15, &r, &used,
	    &bad, NULL), -1);
	assert_int_equal(used, 15);
	assert_string_equal(bad, "?250 b");
	free(bad);
	/* Not complete: not yet judged. */
	assert_int_equal(reply_parse(in, 6, &r, &used, &bad, NULL), 0);
	/* bad may be NULL. */
	assert_int_equal(reply_parse(in, sizeof(in) - 1, &r, &used, NULL,
	    NULL), -1);
	assert_null(r.text);
}

static void
test_long_lines(void **state)
{
	struct buf b = BUF_INIT;
	struct reply r = { 0 };
	size_t used;
	char *bad;
	enum reply_fault fault;

	(void)state;
	/* A line of exactly REPLY_LINE_MAX bytes (CR LF not counted). */
	buf_adds(&b, "250 ");
	while (b.len < REPLY_LINE_MAX)
		buf_addc(&b, 'x');
	buf_adds(&b, "\r");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, NULL), 0);
	buf_adds(&b, "\n");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, NULL), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(strlen(r.text), REPLY_LINE_MAX - 4);
	reply_clear(&r);

	/* One more byte: refused once complete, with *bad truncated. */
	buf_reset(&b);
	buf_adds(&b, "250 ");
	while (b.len < REPLY_LINE_MAX + 1)
		buf_addc(&b, 'y');
	buf_adds(&b, "\r\n250 next\r\n");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_LINE);
	assert_int_equal(used, REPLY_LINE_MAX + 3);
	assert_int_equal(strlen(bad), 200);
	assert_memory_equal(bad, "250 yyy", 7);
	free(bad);

	/* ... and refused before it is complete: no unbounded buffering. */
	assert_int_equal(reply_parse(b.p, REPLY_LINE_MAX + 1, &r, &used, &bad,
	    &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_LINE);
	assert_int_equal(used, REPLY_LINE_MAX + 1);
	free(bad);
	assert_int_equal(reply_parse(b.p, REPLY_LINE_MAX, &r, &used, &bad,
	    NULL), 0);

	/* A long continuation line. */
	buf_reset(&b);
	buf_adds(&b, "250-ok\r\n250-");
	for (int i = 0; i < REPLY_LINE_MAX; i++)
		buf_addc(&b, 'z');
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, NULL), -1);
	assert_int_equal(used, b.len);
	free(bad);
	assert_null(r.text);
	buf_free(&b);
}

static void
test_many_lines(void **state)
{
	struct buf b = BUF_INIT;
	struct reply r = { 0 };
	size_t used, mark;
	char *bad;
	enum reply_fault fault;

	(void)state;
	for (int i = 0; i < REPLY_LINES_MAX - 1; i++)
		buf_printf(&b, "250-L%d\r\n", i);
	mark = b.len;
	buf_adds(&b, "250 last\r\n");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, NULL), 1);
	assert_int_equal(r.nlines, REPLY_LINES_MAX);
	assert_string_equal(r.lines[REPLY_LINES_MAX - 1], "last");
	assert_string_equal(r.lines[0], "L0");
	reply_clear(&r);

	/* One line more. */
	b.len = mark;
	buf_adds(&b, "250-one more\r\n250 last\r\n");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_LINES);
	assert_int_equal(used, b.len);
	assert_string_equal(bad, "250 last");
	free(bad);
	buf_free(&b);
}

/* The whole reply is bounded too: lines under both other bounds that add
 * up to more than REPLY_SIZE_MAX are refused, complete or not. */
static void
test_size(void **state)
{
	struct buf b = BUF_INIT, line = BUF_INIT;
	struct reply r = { 0 };
	size_t used;
	char *bad;
	enum reply_fault fault;

	(void)state;
	buf_adds(&line, "250-");
	while (line.len < REPLY_LINE_MAX - 100)
		buf_addc(&line, 'w');
	buf_adds(&line, "\r\n");
	while (b.len + line.len <= REPLY_SIZE_MAX)
		buf_add(&b, line.p, line.len);
	assert_true(b.len / line.len < REPLY_LINES_MAX);
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, NULL), 0);
	/* The next line crosses the bound: refused before it is complete. */
	buf_add(&b, line.p, line.len - 2);
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_SIZE);
	assert_int_equal(used, b.len);
	free(bad);
	buf_adds(&b, "\r\n250 end\r\n");
	assert_int_equal(reply_parse(b.p, b.len, &r, &used, &bad, &fault), -1);
	assert_int_equal(fault, REPLY_FAULT_SIZE);
	assert_true(used <= b.len - 9);
	free(bad);
	assert_null(r.text);
	assert_string_equal(reply_fault_text(REPLY_FAULT_SIZE),
	    "reply longer than 65536 bytes");
	buf_free(&line);
	buf_free(&b);
}

static void
test_reason(void **state)
{
	static const struct {
		const char *in, *reason;
	} cases[] = {
		{ "250 OK\r\n", "250 OK" },
		{ "550 5.1.1 No such user\r\n", "550 5.1.1 No such user" },
		{ "550 #5.1.1 No such user\r\n", "550 5.1.1 No such user" },
		{ "250\r\n", "250" },
		{ "250 \r\n", "250" },
		{ "550 5.1.1\r\n", "550 5.1.1" },
		{ "250 5.1.1 x\r\n", "250 5.1.1 x" },
		{ "451-4.3.0 Try\r\n451 4.3.0 again later\r\n",
		  "451 4.3.0 Try again later" },
		{ "550-5.7.1\r\n550 5.7.1\r\n", "550 5.7.1" },
		{ "250-mx.example\r\n250 SIZE 10\r\n", "250 mx.example SIZE 10" },
	};
	struct reply zero = { 0 };
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		size_t used;
		char *bad;

		assert_int_equal(reply_parse(cases[i].in, strlen(cases[i].in),
		    &r, &used, &bad, NULL), 1);
		s = reply_reason(&r);
		if (strcmp(s, cases[i].reason) != 0)
			fail_msg("'%s': reason '%s', want '%s'", cases[i].in, s,
			    cases[i].reason);
		free(s);
		reply_clear(&r);
	}
	/* A cleared reply still formats. */
	s = reply_reason(&zero);
	assert_string_equal(s, "0");
	free(s);
}

static void
test_keywords(void **state)
{
	const char *in = "250-mx.example Hello client [192.0.2.1]\r\n"
	    "250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
	    "250-AUTH=LOGIN\r\n250-auth  PLAIN LOGIN\r\n250 STARTTLSX\r\n";
	static const struct {
		const char *kw;
		int has;
		const char *arg;
	} cases[] = {
		{ "PIPELINING", 1, "" },
		{ "pipelining", 1, "" },
		{ "SIZE", 1, "1000" },
		{ "8BITMIME", 1, "" },
		{ "AUTH", 1, "PLAIN LOGIN" },
		{ "AUTH=LOGIN", 1, "" },
		{ "mx.example", 1, "Hello client [192.0.2.1]" },
		{ "STARTTLS", 0, NULL },
		{ "SIZ", 0, NULL },
		{ "SMTPUTF8", 0, NULL },
		{ "", 0, NULL },
	};
	struct reply r;
	size_t used;
	char *bad;

	(void)state;
	assert_int_equal(reply_parse(in, strlen(in), &r, &used, &bad, NULL), 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *arg = "unset";
		int has = reply_has_keyword(&r, cases[i].kw, &arg);

		if (has != cases[i].has ||
		    (has && strcmp(arg, cases[i].arg) != 0))
			fail_msg("'%s': %d '%s'", cases[i].kw, has, arg);
		assert_int_equal(reply_has_keyword(&r, cases[i].kw, NULL),
		    cases[i].has);
	}
	reply_clear(&r);
	/* An empty reply has no keywords. */
	assert_false(reply_has_keyword(&r, "SIZE", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_keywords),
	};

	return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
