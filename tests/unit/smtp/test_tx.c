/* Unit tests: the transaction — DATA reader, added headers, queue entries;
 * and the AUTH offer policy. */
#include "unit.h"

#include "plugins/plugin.h"
#include "queue/entry.h"
#include "smtp/policy.h"
#include "smtp/tx.h"

static struct smtp_tx *
new_tx(void)
{
	struct smtp_addr from;

	memset(&from, 0, sizeof(from));
	strcpy(from.local, "sender");
	strcpy(from.domain, "client.test");
	return tx_new("CONN", 1, &from, 0);
}

static void
add_rcpt(struct smtp_tx *tx, const char *local, const char *domain)
{
	struct smtp_addr a;

	memset(&a, 0, sizeof(a));
	snprintf(a.local, sizeof(a.local), "%s", local);
	snprintf(a.domain, sizeof(a.domain), "%s", domain);
	tx_add_rcpt(tx, &a);
}

struct data_case {
	const char		*in;		/* DATA bytes, end included */
	enum tx_data_result	 result;
	const char		*message;	/* when TX_DATA_OK */
	size_t			 consumed;	/* bytes left after the end */
	size_t			 len, mlen;	/* 0: strlen() (for NULs) */
};

static const struct data_case data_cases[] = {
	{ ".\r\n", TX_DATA_OK, "", 0, 0, 0 },
	{ "a\r\n.\r\n", TX_DATA_OK, "a\r\n", 0, 0, 0 },
	{ "..\r\n.\r\n", TX_DATA_OK, ".\r\n", 0, 0, 0 },
	{ "..x\r\n.y\r\nz.\r\n.\r\n", TX_DATA_OK, ".x\r\ny\r\nz.\r\n", 0, 0, 0 },
	{ ". \r\n.\r\n", TX_DATA_OK, " \r\n", 0, 0, 0 },
	{ "a\r\n.\r\nQUIT\r\n", TX_DATA_OK, "a\r\n", 6, 0, 0 },
	{ "a\x00" "b\r\n.\r\n", TX_DATA_OK, "a\x00" "b\r\n", 0, 8, 5 },
	/* Smuggling: none of these ends the message, each is refused. */
	{ "a\n.\nb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\n.\r\nb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r.\r\nb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\rb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\nb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\n.\r\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\rb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\nb\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
	{ "a\r\r\n.\r\n", TX_DATA_BARE, NULL, 0, 0, 0 },
};

/* Feeds in, split at `split` (0: whole), as the session does. */
static size_t
feed(struct smtp_tx *tx, const char *in, size_t len, size_t split, int *done)
{
	size_t used = 0;

	*done = 0;
	if (split > 0 && split < len) {
		used = tx_data_feed(tx, in, split, done);
		if (*done)
			return used;
	}
	return used + tx_data_feed(tx, in + used, len - used, done);
}

static void
test_data_reader(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		const struct data_case *c = &data_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);

		for (size_t split = 0; split < len; split++) {
			struct smtp_tx *tx = new_tx();
			unsigned long mlen;
			struct op_txn v;
			int done;
			size_t used;

			tx_data_begin(tx, 0, 0);
			used = feed(tx, c->in, len, split, &done);
			if (!done || used != len - c->consumed)
				fail_msg("case %zu split %zu: done %d used %zu",
				    i, split, done, used);
			if (tx_data_result(tx) != c->result)
				fail_msg("case %zu split %zu: result %d", i,
				    split, tx_data_result(tx));
			if (c->result == TX_DATA_OK) {
				tx_view(tx, &v, "127.0.0.1", "h");
				mlen = v.msglen;
				if (mlen != (c->mlen ? c->mlen :
				    strlen(c->message)) ||
				    memcmp(v.msg, c->message, mlen) != 0)
					fail_msg("case %zu split %zu: message", i,
					    split);
			}
			tx_free(tx);
		}
	}
}

static void
test_data_limits(void **state)
{
	struct smtp_tx *tx;
	int done;

	(void)state;
	tx = new_tx();
	tx_data_begin(tx, 10, 0);
	tx_data_feed(tx, "0123456789\r\n.\r\n", 15, &done);
	assert_true(done);
	assert_int_equal(tx_data_result(tx), TX_DATA_TOO_BIG);
	tx_free(tx);

	tx = new_tx();
	tx_data_begin(tx, 12, 5);
	tx_data_feed(tx, "12345\r\n.\r\n", 10, &done);
	assert_int_equal(tx_data_result(tx), TX_DATA_OK);
	tx_free(tx);

	tx = new_tx();
	tx_data_begin(tx, 0, 5);
	/* A stuffed dot is not counted twice: "..2345" is 5 characters. */
	tx_data_feed(tx, "..2345\r\n123456\r\n.\r\n", 19, &done);
	assert_true(done);
	assert_int_equal(tx_data_result(tx), TX_DATA_LONG_LINE);
	tx_free(tx);
}

static void
test_headers(void **state)
{
	struct trace_info ti = { "client.test", "192.0.2.1", 0, "mx.me.test",
	    "ESMTPS", "using TLSv1.3 with cipher X" };
	struct smtp_tx *tx = new_tx();
	size_t len;
	char *m;
	int done;

	(void)state;
	add_rcpt(tx, "rcpt", "example.test");
	tx_data_begin(tx, 0, 0);
	tx_data_feed(tx, "Subject: s\r\n\r\nbody\r\n.\r\n", 24, &done);
	tx_add_trace(tx, &ti);
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
	tx_data_begin(tx, 0, 0);
	tx_data_feed(tx, "message-id : <a@b>\r\nDATE: x\r\n\r\nb\r\n.\r\n", 38,
	    &done);
	ti.v6 = 1;
	ti.ip = "2001:db8::1";
	ti.tls = NULL;
	tx_add_trace(tx, &ti);
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

static void
test_entries(void **state)
{
	struct smtp_tx *tx = new_tx();
	struct qentry *e;
	size_t n;

	(void)state;
	add_rcpt(tx, "a", "one.test");
	add_rcpt(tx, "b", "two.test");
	add_rcpt(tx, "c", "one.test");
	n = tx_entries(tx, 0, "helo.test", "192.0.2.1", &e);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].id, "CONN.1.1");
	assert_string_equal(e[0].domain, "one.test");
	assert_int_equal(e[0].nrcpts, 2);
	assert_string_equal(e[0].rcpts[0].addr, "a@one.test");
	assert_string_equal(e[0].rcpts[1].addr, "c@one.test");
	assert_string_equal(e[1].id, "CONN.1.2");
	assert_string_equal(e[1].rcpts[0].addr, "b@two.test");
	assert_string_equal(e[1].mail_from, "sender@client.test");
	assert_string_equal(e[1].helo, "helo.test");
	assert_string_equal(e[1].client_ip, "192.0.2.1");
	assert_int_equal(e[1].attempts, 0);
	assert_true(e[1].queue_time == e[1].next_attempt);
	for (size_t i = 0; i < n; i++)
		qentry_clear(&e[i]);
	free(e);
	n = tx_entries(tx, 1, "h", "i", &e);
	assert_int_equal(n, 3);
	assert_string_equal(e[2].id, "CONN.1.3");
	assert_string_equal(e[2].rcpts[0].addr, "c@one.test");
	for (size_t i = 0; i < n; i++)
		qentry_clear(&e[i]);
	free(e);
	tx_free(tx);
}

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
		cmocka_unit_test(test_data_reader),
		cmocka_unit_test(test_data_limits),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_auth_policy),
	};

	return cmocka_run_group_tests_name("smtp_tx", tests, NULL, NULL);
}
