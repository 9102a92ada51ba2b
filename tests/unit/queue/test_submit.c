/* Unit tests: a submission (queue/submit.c) split into queue entries. */
#include "unit.h"
#include "tx_util.h"

#include "proto/smtp_parse.h"
#include "queue/entry.h"
#include "queue/submit.h"

#include <stdlib.h>
#include <string.h>

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

/* IDN: U-label and A-label spellings of one domain share an entry, named
 * as first sent; an SMTPUTF8 message's header section is scanned once
 * (QE_ASCII_HEADERS when all ASCII), other messages are not flagged. */
static void
test_idn_entries(void **state)
{
	static const char ascii[] = "Subject: hi\r\n\r\nb\xc3\xa9\r\n";
	static const char utf8[] = "Subject: h\xc3\xa9\r\n\r\nb\r\n";
	struct smtp_addr from;
	struct smtp_tx *tx;
	struct qentry *e;
	size_t n;

	(void)state;
	memset(&from, 0, sizeof(from));
	strcpy(from.local, "sender");
	strcpy(from.domain, "client.test");
	tx = tx_new("CONN", 1, &from, QE_SMTPUTF8);
	add_rcpt(tx, "a", "b\xc3\xbc" "cher.test");
	add_rcpt(tx, "b", "xn--bcher-kva.test");
	add_rcpt(tx, "c", "B\xc3\x9c" "CHER.test");
	add_rcpt(tx, "d", "other.test");
	add_rcpt(tx, "e", "\xe2\x98\x83.test");	/* not an IDN: alone */
	tx_set_message(tx, ascii, sizeof(ascii) - 1);
	n = tx_entries(tx, 0, "h", "i", &e);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].domain, "b\xc3\xbc" "cher.test");
	assert_int_equal(e[0].nrcpts, 3);
	assert_string_equal(e[0].rcpts[1].addr, "b@xn--bcher-kva.test");
	assert_string_equal(e[0].rcpts[2].addr, "c@B\xc3\x9c" "CHER.test");
	assert_string_equal(e[2].domain, "\xe2\x98\x83.test");
	assert_int_equal(e[0].flags, QE_SMTPUTF8 | QE_ASCII_HEADERS);
	for (size_t i = 0; i < n; i++)
		qentry_clear(&e[i]);
	free(e);
	tx_free(tx);

	tx = tx_new("CONN", 1, &from, QE_SMTPUTF8);
	add_rcpt(tx, "a", "one.test");
	tx_set_message(tx, utf8, sizeof(utf8) - 1);
	n = tx_entries(tx, 0, "h", "i", &e);
	assert_int_equal(e[0].flags, QE_SMTPUTF8);
	qentry_clear(&e[0]);
	free(e);
	tx_free(tx);

	tx = tx_new("CONN", 1, &from, 0);
	add_rcpt(tx, "a", "one.test");
	tx_set_message(tx, ascii, sizeof(ascii) - 1);
	n = tx_entries(tx, 0, "h", "i", &e);
	assert_int_equal(e[0].flags, 0);
	qentry_clear(&e[0]);
	free(e);
	tx_free(tx);
}

/* The pool header leaves the message with its folded lines (any case,
 * the first of several; the body untouched), its value given unfolded. */
static void
test_take_header(void **state)
{
	static const char msg[] =
	    "Received: x\r\nSubject: hi\r\nx-outpost-POOL : bulk\r\n"
	    " more\r\nTo: a@b\r\nX-Outpost-Pool: two\r\n\r\n"
	    "X-Outpost-Pool: body\r\n";
	struct smtp_tx *tx = new_tx();
	struct buf v = BUF_INIT;
	size_t len;
	char *out;

	(void)state;
	tx_set_message(tx, msg, sizeof(msg) - 1);
	assert_int_equal(tx_take_header(tx, "X-Outpost-Pool", &v), 1);
	assert_string_equal(buf_cstr(&v), "bulk more");
	assert_int_equal(tx_take_header(tx, "X-Outpost-Pool", NULL), 1);
	assert_int_equal(tx_take_header(tx, "X-Outpost-Pool", NULL), 0);
	assert_int_equal(tx_take_header(tx, "Cc", NULL), 0);
	out = tx_take_message(tx, &len);
	assert_int_equal(len, strlen(out));
	assert_string_equal(out, "Received: x\r\nSubject: hi\r\nTo: a@b\r\n"
	    "\r\nX-Outpost-Pool: body\r\n");
	free(out);
	buf_free(&v);
	tx_free(tx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_idn_entries),
		cmocka_unit_test(test_take_header),
	};

	return cmocka_run_group_tests_name("queue_submit", tests, NULL, NULL);
}
