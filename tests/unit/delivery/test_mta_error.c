/* Unit tests: failure classification (mta_error) — one row per reference
 * table row: DNS answers, replies at each step, per-recipient outcomes,
 * retries running out. */
#include "unit.h"

#include "delivery/mta_error.h"

static struct reply
R(int code, const char *extc, const char *text)
{
	struct reply r;

	memset(&r, 0, sizeof(r));
	r.code = code;
	snprintf(r.extc, sizeof(r.extc), "%s", extc);
	r.text = (char *)text;
	return r;
}

static void
test_dns_rows(void **state)
{
	static const struct {
		enum dns_status st;
		enum fail_class class;
		int code;
		const char *status, *msg;
	} rows[] = {
		{ DNS_NULL_MX, FAIL_PERM, 550, "5.1.2",
		  "Domain d.test sends and receives no email (NULL MX)" },
		{ DNS_NXDOMAIN, FAIL_PERM, 550, "5.1.2", "No Such Domain: d.test" },
		{ DNS_NOWHERE, FAIL_PERM, 550, "5.1.2",
		  "Nowhere to deliver mail to for domain: d.test" },
		{ DNS_TEMP, FAIL_TEMP, 450, "4.1.0",
		  "DNS lookup failure: d.test (Server failure)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_answer a = { .status = rows[i].st,
		    .error = "Server failure" };
		struct outcome o = { 0 };

		mta_error_dns(&a, "d.test", &o);
		assert_int_equal(o.class, rows[i].class);
		assert_int_equal(o.code, rows[i].code);
		assert_string_equal(o.status, rows[i].status);
		assert_string_equal(o.msg, rows[i].msg);
		assert_int_equal(o.remote, 0);
		outcome_clear(&o);
	}
}

/* A corrupt entry: a final local failure, its reason in the text. */
static void
test_lost(void **state)
{
	struct outcome o = { 0 };
	char *r;

	(void)state;
	mta_error_lost("checksum mismatch", &o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_int_equal(o.code, 554);
	assert_string_equal(o.status, "5.3.0");
	assert_string_equal(o.msg, "Queue entry corrupt: checksum mismatch");
	assert_int_equal(o.remote, 0);
	assert_string_equal(outcome_action(&o), "failed");
	r = outcome_reason(&o);
	assert_string_equal(r, "554 5.3.0 Queue entry corrupt: checksum "
	    "mismatch");
	free(r);
	outcome_clear(&o);
}

static void
test_reply_outcomes(void **state)
{
	struct outcome o = { 0 };
	struct reply r;
	char *s;

	(void)state;
	r = R(550, "5.7.26", "Unauthenticated");
	outcome_reply(&o, &r, "mx1.test", "127.0.0.2");
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.7.26");
	assert_string_equal(o.host, "mx1.test");
	s = outcome_reason(&o);
	assert_string_equal(s, "550 5.7.26 Unauthenticated");
	free(s);
	/* No enhanced code: the class's X.0.0. */
	r = R(451, "", "later");
	outcome_reply(&o, &r, NULL, NULL);
	assert_int_equal(o.class, FAIL_TEMP);
	assert_string_equal(o.status, "4.0.0");
	assert_string_equal(outcome_action(&o), "delayed");
	/* Retries ran out: 4.x.y becomes 5.x.y, the code stays. */
	r = R(451, "4.7.1", "greylisted");
	outcome_reply(&o, &r, NULL, NULL);
	outcome_make_final(&o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.7.1");
	assert_int_equal(o.code, 451);
	assert_string_equal(outcome_action(&o), "failed");
	/* 3xx where it does not belong is temporary. */
	r = R(300, "", "odd");
	outcome_reply(&o, &r, NULL, NULL);
	assert_int_equal(o.class, FAIL_TEMP);
	assert_string_equal(o.status, "4.0.0");
	r = R(250, "", "");
	outcome_reply(&o, &r, NULL, NULL);
	assert_int_equal(o.class, FAIL_NONE);
	assert_string_equal(o.status, "2.0.0");
	outcome_clear(&o);
}

static void
test_classify_steps(void **state)
{
	static const struct {
		enum mta_outcome outcome;
		enum mta_step step;
		int code;
		int timed_out, dot_sent;
		enum verdict v;
		enum fail_class class;	/* of *mail; NONE: left empty */
	} rows[] = {
		{ MTA_IO, MTA_CONNECT, 0, 0, 0, V_NEXT_MX, FAIL_NONE },
		{ MTA_IO, MTA_GREETING, 0, 0, 0, V_NEXT_MX, FAIL_NONE },
		{ MTA_IO, MTA_DOT, 0, 0, 0, V_NEXT_MX, FAIL_NONE },
		{ MTA_IO, MTA_TLS_HANDSHAKE, 0, 0, 0, V_NEXT_MX, FAIL_NONE },
		{ MTA_IO, MTA_RSET, 0, 0, 0, V_RETRY_HOST, FAIL_NONE },
		/* A stage's deadline: next MX, with a reason to record. */
		{ MTA_IO, MTA_GREETING, 0, 1, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_IO, MTA_MAIL, 0, 1, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_IO, MTA_DOT, 0, 1, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_IO, MTA_RSET, 0, 1, 0, V_RETRY_HOST, FAIL_NONE },
		/* After the final dot reached the server: this MX only. */
		{ MTA_IO, MTA_DOT, 0, 1, 1, V_RCPTS, FAIL_TEMP },
		{ MTA_IO, MTA_DOT, 0, 0, 1, V_RCPTS, FAIL_TEMP },
		{ MTA_BAD_REPLY, MTA_DOT, 0, 0, 1, V_RCPTS, FAIL_TEMP },
		/* A refusing greeting: this server failed, the next MX
		 * (Postfix smtp_skip_4xx/5xx_greeting), its reply kept. */
		{ MTA_REPLY, MTA_GREETING, 421, 0, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_REPLY, MTA_GREETING, 554, 0, 0, V_NEXT_MX, FAIL_PERM },
		{ MTA_REPLY, MTA_GREETING, 300, 0, 0, V_NEXT_MX, FAIL_TEMP },
		/* Past the greeting, a refusal is the message's. */
		{ MTA_REPLY, MTA_EHLO, 421, 0, 0, V_MAIL, FAIL_TEMP },
		{ MTA_REPLY, MTA_HELO, 550, 0, 0, V_MAIL, FAIL_PERM },
		{ MTA_REPLY, MTA_STARTTLS, 454, 0, 0, V_MAIL, FAIL_TEMP },
		{ MTA_REPLY, MTA_AUTH, 535, 0, 0, V_MAIL, FAIL_PERM },
		{ MTA_REPLY, MTA_MAIL, 451, 0, 0, V_MAIL, FAIL_TEMP },
		{ MTA_REPLY, MTA_MAIL, 300, 0, 0, V_MAIL, FAIL_TEMP },
		{ MTA_REPLY, MTA_DATA, 554, 0, 0, V_RCPTS, FAIL_PERM },
		{ MTA_REPLY, MTA_DOT, 451, 0, 0, V_RCPTS, FAIL_TEMP },
		/* A malformed reply is never a bounce (Haraka: 5.5.1). */
		{ MTA_BAD_REPLY, MTA_GREETING, 0, 0, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_BAD_REPLY, MTA_MAIL, 0, 0, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_BAD_REPLY, MTA_DOT, 0, 0, 0, V_NEXT_MX, FAIL_TEMP },
		{ MTA_TLS_UNAVAILABLE, MTA_EHLO, 0, 0, 0, V_MAIL, FAIL_TEMP },
		{ MTA_TLS_UNVERIFIED, MTA_TLS_HANDSHAKE, 0, 0, 0, V_MAIL,
		  FAIL_TEMP },
		{ MTA_NO_SMTPUTF8, MTA_MAIL, 0, 0, 0, V_MAIL, FAIL_PERM },
		{ MTA_OK, MTA_DONE, 250, 0, 0, V_RCPTS, FAIL_NONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mta_result r;
		struct outcome mail = { 0 };
		enum verdict v;

		memset(&r, 0, sizeof(r));
		r.outcome = rows[i].outcome;
		r.step = rows[i].step;
		r.timed_out = rows[i].timed_out;
		r.dot_sent = rows[i].dot_sent;
		r.reply = R(rows[i].code, "", "text");
		r.error = (char *)"no valid reply code: x";
		v = mta_error_classify(&r, "mx1.test", &mail);
		if (v != rows[i].v)
			fail_msg("row %zu: verdict %d", i, v);
		if (rows[i].class != FAIL_NONE &&
		    mail.class != rows[i].class)
			fail_msg("row %zu: class %d", i, mail.class);
		if (rows[i].class == FAIL_NONE && mail.msg != NULL)
			fail_msg("row %zu: a mail outcome '%s'", i, mail.msg);
		outcome_clear(&mail);
	}
}

/* A message that needs SMTPUTF8, a server without it: 550 5.6.7, ours,
 * naming the server (Postfix's text). */
static void
test_no_smtputf8(void **state)
{
	struct mta_result r;
	struct outcome mail = { 0 };

	(void)state;
	memset(&r, 0, sizeof(r));
	r.outcome = MTA_NO_SMTPUTF8;
	r.step = MTA_MAIL;
	snprintf(r.remote_ip, sizeof(r.remote_ip), "192.0.2.1");
	assert_int_equal(mta_error_classify(&r, "mx1.test", &mail), V_MAIL);
	assert_int_equal(mail.class, FAIL_PERM);
	assert_int_equal(mail.code, 550);
	assert_string_equal(mail.status, "5.6.7");
	assert_false(mail.remote);
	assert_string_equal(mail.msg, "SMTPUTF8 is required, but was not "
	    "offered by host mx1.test[192.0.2.1]");
	assert_string_equal(mail.host, "mx1.test");
	outcome_clear(&mail);
}

/* RCPT replies decide per recipient; a DATA failure applies to the
 * accepted ones only; LMTP answers per recipient. */
static void
test_per_recipient(void **state)
{
	struct mta_rcpt rc[4];
	struct mta_result r;
	struct outcome mail = { 0 }, o = { 0 };
	enum verdict v;

	(void)state;
	memset(rc, 0, sizeof(rc));
	memset(&r, 0, sizeof(r));
	rc[0].reply = R(250, "2.1.5", "OK");
	rc[1].reply = R(451, "4.7.1", "later");
	rc[2].reply = R(550, "5.1.1", "no such user");
	rc[3].reply = R(252, "", "cannot verify, will try");
	r.rcpts = rc;
	r.nrcpts = 4;
	r.outcome = MTA_OK;
	r.reply = R(250, "2.0.0", "queued as X");
	v = mta_error_classify(&r, "mx1.test", &mail);
	assert_int_equal(v, V_RCPTS);
	mta_error_rcpt(&r, 0, NULL, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_NONE);
	assert_string_equal(o.msg, "queued as X");
	mta_error_rcpt(&r, 1, NULL, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_TEMP);
	mta_error_rcpt(&r, 2, NULL, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.1.1");
	mta_error_rcpt(&r, 3, NULL, "mx1.test", &o);	/* 252 accepted */
	assert_int_equal(o.class, FAIL_NONE);

	/* 554 at the end of data: accepted recipients bounce with it, the
	 * refused ones keep their own reply. */
	r.outcome = MTA_REPLY;
	r.step = MTA_DOT;
	r.reply = R(554, "5.6.0", "content refused");
	v = mta_error_classify(&r, "mx1.test", &mail);
	assert_int_equal(v, V_RCPTS);
	mta_error_rcpt(&r, 0, &mail, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.6.0");
	mta_error_rcpt(&r, 1, &mail, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_TEMP);
	assert_string_equal(o.status, "4.7.1");

	/* LMTP: the per-recipient data reply decides. */
	r.outcome = MTA_OK;
	r.reply = R(0, "", "");
	rc[0].lmtp = R(552, "5.2.2", "mailbox full");
	rc[3].lmtp = R(250, "2.0.0", "delivered");
	mta_error_rcpt(&r, 0, NULL, "lmtp", &o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.2.2");
	mta_error_rcpt(&r, 3, NULL, "lmtp", &o);
	assert_int_equal(o.class, FAIL_NONE);
	outcome_clear(&o);
	outcome_clear(&mail);
}

/* What a server that broke the protocol or its deadline leaves in the
 * records: a temporary outcome naming it, the stage and the reason; after
 * the final dot, the accepted recipients get it (the refused keep their
 * reply, an LMTP answer stands) and it says the mail may have arrived. */
static void
test_server_faults(void **state)
{
	struct mta_rcpt rc[3];
	struct mta_result r;
	struct outcome mail = { 0 }, o = { 0 };

	(void)state;
	memset(&r, 0, sizeof(r));
	snprintf(r.remote_ip, sizeof(r.remote_ip), "127.0.0.2");
	r.outcome = MTA_BAD_REPLY;
	r.step = MTA_MAIL;
	r.waiting = "the reply to MAIL FROM";
	r.error = (char *)"no valid reply code: 150 go on";
	assert_int_equal(mta_error_classify(&r, "mx1.test", &mail), V_NEXT_MX);
	assert_int_equal(mail.class, FAIL_TEMP);
	assert_int_equal(mail.code, 421);
	assert_string_equal(mail.status, "4.5.0");
	assert_string_equal(mail.msg, "Malformed reply from mx1.test "
	    "[127.0.0.2] while waiting for the reply to MAIL FROM: no valid "
	    "reply code: 150 go on");
	assert_string_equal(mail.host, "mx1.test");
	assert_string_equal(mail.ip, "127.0.0.2");
	assert_int_equal(mail.remote, 0);
	/* Retries ran out: 5.5.0, still not Haraka's 5.5.1. */
	outcome_make_final(&mail);
	assert_string_equal(mail.status, "5.5.0");

	r.outcome = MTA_IO;
	r.step = MTA_GREETING;
	r.timed_out = 1;
	r.deadline = 3;
	r.waiting = "the greeting";
	r.error = (char *)"conversation with 127.0.0.2:25 timed out";
	assert_int_equal(mta_error_classify(&r, "127.0.0.2", &mail),
	    V_NEXT_MX);
	assert_string_equal(mail.status, "4.4.2");
	assert_string_equal(mail.msg, "Conversation with 127.0.0.2 timed out "
	    "while waiting for the greeting (3 s)");

	/* After the dot: this MX only, and said so. */
	memset(rc, 0, sizeof(rc));
	rc[0].reply = R(250, "2.1.5", "OK");
	rc[1].reply = R(550, "5.1.1", "no such user");
	rc[2].reply = R(250, "2.1.5", "OK");
	r.rcpts = rc;
	r.nrcpts = 3;
	r.step = MTA_DOT;
	r.dot_sent = 1;
	r.deadline = 600;
	r.waiting = "the reply to the final dot";
	assert_int_equal(mta_error_classify(&r, "mx1.test", &mail), V_RCPTS);
	assert_string_equal(mail.msg, "Conversation with mx1.test [127.0.0.2] "
	    "timed out while waiting for the reply to the final dot (600 s); "
	    "the message may have been delivered");
	mta_error_rcpt(&r, 0, &mail, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_TEMP);
	assert_string_equal(o.status, "4.4.2");
	assert_string_equal(o.msg, mail.msg);
	mta_error_rcpt(&r, 1, &mail, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_PERM);
	assert_string_equal(o.status, "5.1.1");
	rc[2].lmtp = R(250, "2.0.0", "delivered");	/* LMTP answered */
	mta_error_rcpt(&r, 2, &mail, "mx1.test", &o);
	assert_int_equal(o.class, FAIL_NONE);

	/* The connection lost after the dot. */
	r.timed_out = 0;
	assert_int_equal(mta_error_classify(&r, "mx1.test", &mail), V_RCPTS);
	assert_string_equal(mail.status, "4.4.2");
	assert_string_equal(mail.msg, "Lost connection with mx1.test "
	    "[127.0.0.2] while waiting for the reply to the final dot; the "
	    "message may have been delivered");
	outcome_clear(&o);
	outcome_clear(&mail);
}

/* A greeting's reply is recorded as the server's: the reply, its status
 * (the class's generic one when the server sent none), host and address,
 * marked remote — what the records carry once every MX failed. */
static void
test_greeting_reply(void **state)
{
	static const struct {
		int code;
		const char *extc, *text;
		enum fail_class class;
		const char *status, *reason;
	} rows[] = {
		{ 421, "4.7.0", "Try later", FAIL_TEMP, "4.7.0",
		  "421 4.7.0 Try later" },
		{ 554, "5.3.2", "No service here", FAIL_PERM, "5.3.2",
		  "554 5.3.2 No service here" },
		{ 450, "", "busy", FAIL_TEMP, "4.0.0", "450 4.0.0 busy" },
		{ 521, "", "no mail here", FAIL_PERM, "5.0.0",
		  "521 5.0.0 no mail here" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mta_result r;
		struct outcome mail = { 0 };
		char *reason;

		memset(&r, 0, sizeof(r));
		r.outcome = MTA_REPLY;
		r.step = MTA_GREETING;
		r.reply = R(rows[i].code, rows[i].extc, rows[i].text);
		snprintf(r.remote_ip, sizeof(r.remote_ip), "127.0.0.2");
		assert_int_equal(mta_error_classify(&r, "mx1.multi.test",
		    &mail), V_NEXT_MX);
		assert_int_equal(mail.class, rows[i].class);
		assert_int_equal(mail.code, rows[i].code);
		assert_string_equal(mail.status, rows[i].status);
		assert_string_equal(mail.msg, rows[i].text);
		assert_int_equal(mail.remote, 1);
		assert_string_equal(mail.host, "mx1.multi.test");
		assert_string_equal(mail.ip, "127.0.0.2");
		reason = outcome_reason(&mail);
		assert_string_equal(reason, rows[i].reason);
		free(reason);
		outcome_clear(&mail);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_rows),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_reply_outcomes),
		cmocka_unit_test(test_classify_steps),
		cmocka_unit_test(test_greeting_reply),
		cmocka_unit_test(test_per_recipient),
		cmocka_unit_test(test_no_smtputf8),
		cmocka_unit_test(test_server_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
