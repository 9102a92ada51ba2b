/* Unit tests: the feedback spool's envelope round trip, and correlation —
 * VERP token (in RCPT TO, in the report), forged tokens, unreadable
 * reports, delayed DSNs, complaints, stable event ids. */
#include "unit.h"

#include "core/verp.h"
#include "feedback/correlate.h"
#include "feedback/spool.h"
#include "proto/fbreport.h"
#include "records/bouncecat.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const char *jid = "4F1A2B3C-0D4E-4F60-8A7B-9C0D1E2F3A4B.1.1";

static void
test_spool_envelope(void **state)
{
	const char *rcpts[] = { "a@b.test", "c@b.test" };
	struct buf pre = BUF_INIT, all = BUF_INIT;
	struct fb_envelope e;
	char *name;

	(void)state;
	spool_preamble(1733350000123LL, "UUID.1", "mx.example", "192.0.2.1",
	    "", rcpts, 2, &pre, &name);
	assert_string_equal(name, "1733350000123.UUID.1");
	buf_add(&all, pre.p, pre.len);
	buf_adds(&all, "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(spool_envelope(all.p, all.len, &e), 0);
	assert_true(e.arrival == 1733350000123LL);
	assert_string_equal(e.id, "UUID.1");
	assert_string_equal(e.helo, "mx.example");
	assert_string_equal(e.from, "");
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.rcpts[1], "c@b.test");
	assert_int_equal(e.len, strlen("Subject: x\r\n\r\nbody\r\n"));
	assert_memory_equal(e.msg, "Subject: x", 10);
	spool_envelope_free(&e);
	/* Not a spool file, or cut short. */
	assert_int_equal(spool_envelope("Subject: x\n\n", 12, &e), -1);
	assert_int_equal(spool_envelope(all.p, pre.len - 1, &e), -1);
	free(name);
	buf_free(&pre);
	buf_free(&all);
}

struct fixture {
	struct fb_envelope	 env;
	struct fb_report	 r;
	struct fb_rcpt		 rc[3];
	struct fb_keys		 k;
	struct fb_outcome	 out;
	char			*rcpt_to[1];
	char			*verp;
};

static void
fixture(struct fixture *f, const char *token_rcpt, enum fb_kind kind)
{
	memset(f, 0, sizeof(*f));
	f->verp = verp_encode("b", "bounces.test", key, 32, jid, token_rcpt);
	f->rcpt_to[0] = f->verp;
	f->env.arrival = 1000;
	f->env.helo = "mx.example";
	f->env.from = "";
	f->env.rcpts = f->rcpt_to;
	f->env.nrcpts = 1;
	f->r.kind = kind;
	f->r.rcpts = f->rc;
	f->k.prefix = "b";
	f->k.key = key;
	f->k.keylen = 32;
	f->k.bc = bouncecat_new();
}

static void
fixture_free(struct fixture *f)
{
	fb_outcome_free(&f->out);
	bouncecat_free((struct bouncecat *)f->k.bc);
	free(f->verp);
}

static void
test_verp_bounce(void **state)
{
	struct fixture f;

	(void)state;
	fixture(&f, "user@x.test", FB_DSN);
	f.rc[0] = (struct fb_rcpt){ .final_recipient = "other@x.test",
	    .action = "failed", .status = "5.1.1", .code = 550,
	    .diagnostic = "550 5.1.1 no such user" };
	f.rc[1] = (struct fb_rcpt){ .final_recipient = "user@x.test",
	    .action = "failed", .status = "5.2.2", .code = 552,
	    .diagnostic = "552 5.2.2 mailbox full" };
	f.r.nrcpts = 2;
	f.r.orig_message_id = "m@x";
	correlate(&f.env, &f.r, &f.k, "00112233445566778899aabbccddeeff00", &f.out);
	assert_null(f.out.quarantine);
	/* The token's recipient, with the report's block about it. */
	assert_int_equal(f.out.nev, 1);
	assert_string_equal(f.out.ev[0].pub.type, "remote_bounce");
	assert_string_equal(f.out.ev[0].pub.id, jid);
	assert_string_equal(f.out.ev[0].pub.recipient, "user@x.test");
	assert_string_equal(f.out.ev[0].pub.status, "5.2.2");
	assert_string_equal(f.out.ev[0].pub.category, "quota-issues");
	assert_string_equal(f.out.ev[0].pub.correlation, "verp");
	assert_string_equal(f.out.ev[0].pub.reporting_mta, "mx.example");
	assert_string_equal(f.out.ev[0].pub.event_id,
	    "00112233445566778899aabbccddeeff.0");
	fixture_free(&f);
}

static void
test_job_token_many_failed(void **state)
{
	struct fixture f;

	(void)state;
	fixture(&f, NULL, FB_DSN);
	f.rc[0] = (struct fb_rcpt){ .final_recipient = "a@x.test",
	    .original_recipient = "A@x.test", .action = "failed",
	    .status = "5.1.1" };
	f.rc[1] = (struct fb_rcpt){ .final_recipient = "b@x.test",
	    .action = "delayed", .status = "4.4.1" };
	f.rc[2] = (struct fb_rcpt){ .final_recipient = "c@x.test",
	    .action = "failed", .status = "5.7.1",
	    .diagnostic = "blocked as spam" };
	f.r.nrcpts = 3;
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_int_equal(f.out.nev, 2);
	assert_string_equal(f.out.ev[0].pub.recipient, "A@x.test");
	assert_string_equal(f.out.ev[1].pub.recipient, "c@x.test");
	assert_string_equal(f.out.ev[1].pub.id, jid);
	assert_string_not_equal(f.out.ev[0].pub.event_id,
	    f.out.ev[1].pub.event_id);
	fixture_free(&f);
}

static void
test_forged_and_unreadable(void **state)
{
	struct fixture f;

	(void)state;
	fixture(&f, "user@x.test", FB_DSN);
	f.verp[3] = f.verp[3] == 'a' ? 'b' : 'a';	/* in the MAC */
	f.rc[0] = (struct fb_rcpt){ .final_recipient = "user@x.test",
	    .action = "failed", .status = "5.1.1" };
	f.r.nrcpts = 1;
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_non_null(f.out.quarantine);
	assert_non_null(strstr(f.out.quarantine, "forged"));
	assert_int_equal(f.out.nev, 0);
	fixture_free(&f);

	fixture(&f, "user@x.test", FB_UNKNOWN);
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_non_null(f.out.quarantine);
	assert_int_equal(f.out.nev, 0);
	fixture_free(&f);
}

static void
test_delayed_only(void **state)
{
	struct fixture f;

	(void)state;
	fixture(&f, "user@x.test", FB_DSN);
	f.rc[0] = (struct fb_rcpt){ .final_recipient = "user@x.test",
	    .action = "delayed", .status = "4.2.2" };
	f.r.nrcpts = 1;
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_int_equal(f.out.nev, 0);
	assert_null(f.out.quarantine);
	assert_non_null(strstr(f.out.note, "delayed"));
	fixture_free(&f);
}

static void
test_complaint_token_in_report(void **state)
{
	struct fixture f;
	char *inner;

	(void)state;
	fixture(&f, "user@x.test", FB_ARF);
	inner = f.verp;
	f.verp = xstrdup("fbl@bounces.test");	/* RCPT TO: no token */
	f.rcpt_to[0] = f.verp;
	f.r.original_mail_from = inner;
	f.r.feedback_type = "abuse";
	f.r.source_ip = "192.0.2.1";
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_int_equal(f.out.nev, 1);
	assert_string_equal(f.out.ev[0].pub.type, "complaint");
	assert_string_equal(f.out.ev[0].pub.category, "complaint");
	assert_string_equal(f.out.ev[0].pub.correlation, "verp");
	assert_string_equal(f.out.ev[0].pub.id, jid);
	assert_string_equal(f.out.ev[0].pub.recipient, "user@x.test");
	assert_null(f.out.ev[0].pub.mail_from);	/* our return path */
	fixture_free(&f);
	free(inner);

	/* No token anywhere: Outpost's Received id. */
	fixture(&f, NULL, FB_ARF);
	free(f.verp);
	f.verp = xstrdup("fbl@bounces.test");
	f.rcpt_to[0] = f.verp;
	f.r.original_rcpt_to = "u@x.test";
	f.r.original_mail_from = "news@example.org";
	f.r.orig_queue_id = "UUID.1";
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_int_equal(f.out.nev, 1);
	assert_string_equal(f.out.ev[0].pub.correlation, "received-id");
	assert_string_equal(f.out.ev[0].pub.id, "UUID.1");
	assert_string_equal(f.out.ev[0].pub.recipient, "u@x.test");
	assert_string_equal(f.out.ev[0].pub.mail_from, "news@example.org");
	fixture_free(&f);

	/* No recipient at all: kept aside. */
	fixture(&f, NULL, FB_ARF);
	free(f.verp);
	f.verp = xstrdup("fbl@bounces.test");
	f.rcpt_to[0] = f.verp;
	correlate(&f.env, &f.r, &f.k, "ab", &f.out);
	assert_int_equal(f.out.nev, 0);
	assert_non_null(f.out.quarantine);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spool_envelope),
		cmocka_unit_test(test_verp_bounce),
		cmocka_unit_test(test_job_token_many_failed),
		cmocka_unit_test(test_forged_and_unreadable),
		cmocka_unit_test(test_delayed_only),
		cmocka_unit_test(test_complaint_token_in_report),
	};

	return cmocka_run_group_tests_name("feedback_correlate", tests, NULL,
	    NULL);
}
