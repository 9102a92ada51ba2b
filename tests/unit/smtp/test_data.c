/* Unit tests: the DATA reader (smtp/data.c) — dot-unstuffing, the end,
 * smuggling, limits — and the headers added at reception and queueing. */
#include "unit.h"
#include "tx_util.h"

#include "lib/buf.h"
#include "queue/submit.h"
#include "smtp/data.h"

struct data_case {
	const char		*in;		/* DATA bytes, end included */
	enum data_result	 result;
	const char		*message;	/* when DATA_OK */
	size_t			 consumed;	/* bytes left after the end */
	size_t			 len, mlen;	/* 0: strlen() (for NULs) */
};

static const struct data_case data_cases[] = {
	{ ".\r\n", DATA_OK, "", 0, 0, 0 },
	{ "a\r\n.\r\n", DATA_OK, "a\r\n", 0, 0, 0 },
	{ "..\r\n.\r\n", DATA_OK, ".\r\n", 0, 0, 0 },
	{ "..x\r\n.y\r\nz.\r\n.\r\n", DATA_OK, ".x\r\ny\r\nz.\r\n", 0, 0, 0 },
	{ ". \r\n.\r\n", DATA_OK, " \r\n", 0, 0, 0 },
	{ "a\r\n.\r\nQUIT\r\n", DATA_OK, "a\r\n", 6, 0, 0 },
	{ "a\x00" "b\r\n.\r\n", DATA_OK, "a\x00" "b\r\n", 0, 8, 5 },
	/* Smuggling: none of these ends the message, each is refused. */
	{ "a\n.\nb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\n.\r\nb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r.\r\nb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\rb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\nb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\r\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\rb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\nb\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	/* A bare CR or LF is a byte of its line: a dot after it does not
	 * start a line, so <CRLF><LF>.<CRLF> is no end (found by fuzz_data). */
	{ "a\r\n\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n\r.\r\nMAIL FROM:<x@y>\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
	{ "\r.\r\nMAIL FROM:<x@y>\r\n.\r\n", DATA_BARE, NULL, 0, 0, 0 },
};

/* Feeds in, split at `split` (0: whole), as the session does. */
static size_t
feed(struct data_reader *r, const char *in, size_t len, size_t split, int *done)
{
	size_t used = 0;

	*done = 0;
	if (split > 0 && split < len) {
		used = data_feed(r, in, split, done);
		if (*done)
			return used;
	}
	return used + data_feed(r, in + used, len - used, done);
}

static void
test_data_reader(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		const struct data_case *c = &data_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);

		for (size_t split = 0; split < len; split++) {
			struct data_reader r;
			unsigned long mlen;
			const char *msg;
			int done;
			size_t used;

			memset(&r, 0, sizeof(r));
			data_begin(&r, 0, 0);
			used = feed(&r, c->in, len, split, &done);
			if (!done || used != len - c->consumed)
				fail_msg("case %zu split %zu: done %d used %zu",
				    i, split, done, used);
			if (data_result(&r) != c->result)
				fail_msg("case %zu split %zu: result %d", i,
				    split, data_result(&r));
			if (c->result == DATA_OK) {
				msg = r.msg.p ? r.msg.p : "";
				mlen = r.msg.len;
				if (mlen != (c->mlen ? c->mlen :
				    strlen(c->message)) ||
				    memcmp(msg, c->message, mlen) != 0)
					fail_msg("case %zu split %zu: message", i,
					    split);
			}
			data_clear(&r);
		}
	}
}

/* Whole lines go in one copy when fed together; a byte at a time they
 * cannot: both must give the same message, result, folding and end, for
 * any input and limit (pseudo-random lines of text, dots, CR, LF). */
static void
test_data_whole_lines(void **state)
{
	static const char alphabet[] = "ab.\r\n";
	static const unsigned lines[] = { 0, 4, 7, 12, 1000 };
	static const size_t sizes[] = { 0, 40, 100000 };
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		char in[96];
		size_t len = 0, used1 = 0, used2 = 0;
		struct data_reader a, b;
		int done1 = 0, done2 = 0;

		/* Lines of 0-15 bytes of "ab.", ending in CRLF but for one in
		 * 40 (a bare CR or LF), the last maybe unfinished. */
		while (len < sizeof(in) - 7) {
			size_t n;

			seed = seed * 1103515245 + 12345;
			n = (seed >> 16) % 16;
			for (size_t i = 0; i < n && len < sizeof(in) - 7; i++) {
				seed = seed * 1103515245 + 12345;
				in[len++] = alphabet[(seed >> 16) % 3];
			}
			seed = seed * 1103515245 + 12345;
			if ((seed >> 16) % 40 == 0)
				in[len++] = alphabet[3 + (seed >> 8) % 2];
			else {
				in[len++] = '\r';
				in[len++] = '\n';
			}
		}
		memcpy(in + len, "\r\n.\r\n", 5);
		len += 5;
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		data_begin(&a, sizes[round % 3], lines[round % 5]);
		data_begin(&b, sizes[round % 3], lines[round % 5]);
		used1 = data_feed(&a, in, len, &done1);
		for (size_t i = 0; i < len && !done2; i++)
			used2 += data_feed(&b, in + i, 1, &done2);
		if (done1 != done2 || used1 != used2 ||
		    data_result(&a) != data_result(&b) ||
		    a.folded != b.folded || a.msg.len != b.msg.len ||
		    (a.msg.len > 0 && memcmp(a.msg.p, b.msg.p, a.msg.len) != 0))
			fail_msg("round %d: whole and bytewise differ", round);
		data_clear(&a);
		data_clear(&b);
	}
}

static void
test_data_limits(void **state)
{
	struct data_reader r;
	int done;

	(void)state;
	memset(&r, 0, sizeof(r));
	data_begin(&r, 10, 0);
	data_feed(&r, "0123456789\r\n.\r\n", 15, &done);
	assert_true(done);
	assert_int_equal(data_result(&r), DATA_TOO_BIG);

	data_clear(&r);
}

/* Haraka's data_line_length: a line over the limit (bytes with CRLF, as
 * sent) gets CRLF SPACE after limit - 2 bytes; the rest is folded again. */
static const struct fold_case {
	unsigned	 max;
	const char	*in;		/* the end of data included */
	const char	*message;
	int		 folded;
} fold_cases[] = {
	{ 7, "12345\r\n.\r\n", "12345\r\n", 0 },		/* 7 bytes: fits */
	{ 7, "123456\r\n.\r\n", "12345\r\n 6\r\n", 1 },
	{ 7, "1234567890123\r\n.\r\n",
	    "12345\r\n 6789\r\n 0123\r\n", 1 },
	/* The stuffed dot counts as sent: "..234" is 5 bytes. */
	{ 7, "..234\r\n.\r\n", ".234\r\n", 0 },
	{ 7, "..2345\r\n.\r\n", ".234\r\n 5\r\n", 1 },
	{ 0, "12345678901234567890\r\n.\r\n", "12345678901234567890\r\n",
	    0 },
	{ 992, NULL, NULL, 1 },	/* 995 characters: built below */
};

static void
test_data_fold(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fold_cases) / sizeof(fold_cases[0]); i++) {
		const struct fold_case *c = &fold_cases[i];
		struct buf in = BUF_INIT, want = BUF_INIT;

		if (c->in != NULL) {
			buf_adds(&in, c->in);
			buf_adds(&want, c->message);
		} else {
			for (int k = 0; k < 995; k++)
				buf_addc(&in, (char)('a' + k % 26));
			buf_adds(&in, "\r\n.\r\n");
			buf_add(&want, in.p, 990);
			buf_adds(&want, "\r\n ");
			buf_add(&want, in.p + 990, 5);
			buf_adds(&want, "\r\n");
		}
		for (size_t split = 0; split < in.len; split++) {
			struct data_reader r;
			int done;

			memset(&r, 0, sizeof(r));
			data_begin(&r, 0, c->max);
			feed(&r, in.p, in.len, split, &done);
			if (!done || data_result(&r) != DATA_OK ||
			    r.msg.len != want.len ||
			    memcmp(r.msg.p, want.p, want.len) != 0)
				fail_msg("fold case %zu split %zu: '%.*s'", i,
				    split, (int)r.msg.len, r.msg.p);
			assert_int_equal(r.folded, c->folded);
			data_clear(&r);
		}
		buf_free(&in);
		buf_free(&want);
	}
}

static void
test_headers(void **state)
{
	struct trace_info ti = { "client.test", "192.0.2.1", 0, "mx.me.test",
	    "ESMTPS", "using TLSv1.3 with cipher X", "CONN.1",
	    "rcpt@example.test" };
	struct data_reader r;
	struct smtp_tx *tx = new_tx();
	size_t len;
	char *m;
	int done;

	(void)state;
	memset(&r, 0, sizeof(r));
	add_rcpt(tx, "rcpt", "example.test");
	data_begin(&r, 0, 0);
	data_feed(&r, "Subject: s\r\n\r\nbody\r\n.\r\n", 24, &done);
	data_add_trace(&r, &ti);
	tx_put_message(tx, &r.msg, r.trace_len);
	tx_add_queue_headers(tx, "Haraka outbound", "mx.me.test");
	m = tx_take_message(tx, &len);
	assert_int_equal(strlen(m), len);
	assert_true(strncmp(m, "Received: (Haraka outbound); ", 29) == 0);
	assert_non_null(strstr(m, "\r\nReceived: from client.test ([192.0.2.1])\r\n"
	    "\t(using TLSv1.3 with cipher X)\r\n"
	    "\tby mx.me.test (Outpost) with ESMTPS id CONN.1\r\n"
	    "\tfor <rcpt@example.test>; "));
	assert_non_null(strstr(m, "\r\nMessage-Id: <CONN.1@mx.me.test>\r\nDate: "));
	/* The client's message is last, unchanged. */
	assert_string_equal(m + len - 20, "Subject: s\r\n\r\nbody\r\n");
	free(m);
	tx_free(tx);

	/* Present Message-Id/Date (any case, blank before the colon) are kept;
	 * received_header disabled adds no outbound line. */
	tx = new_tx();
	add_rcpt(tx, "a", "x.test");
	add_rcpt(tx, "b", "x.test");
	data_begin(&r, 0, 0);
	data_feed(&r, "message-id : <a@b>\r\nDATE: x\r\n\r\nb\r\n.\r\n", 38,
	    &done);
	ti.v6 = 1;
	ti.ip = "2001:db8::1";
	ti.tls = NULL;
	ti.rcpt = NULL;		/* two recipients */
	data_add_trace(&r, &ti);
	tx_put_message(tx, &r.msg, r.trace_len);
	tx_add_queue_headers(tx, NULL, "mx.me.test");
	m = tx_take_message(tx, &len);
	assert_true(strncmp(m, "Received: from client.test ([IPv6:2001:db8::1])"
	    "\r\n\tby mx.me.test (Outpost) with ESMTPS id CONN.1; ", 95) == 0);
	assert_null(strstr(m, "Message-Id: <CONN"));
	assert_null(strstr(m, "\r\nDate: "));
	assert_null(strstr(m, "for <"));
	free(m);
	tx_free(tx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_reader),
		cmocka_unit_test(test_data_limits),
		cmocka_unit_test(test_data_whole_lines),
		cmocka_unit_test(test_data_fold),
		cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests_name("smtp_data", tests, NULL, NULL);
}
