/*
 * Unit tests: the feedback report parser over the samples in
 * tests/data/feedback (every field of each), line endings, every prefix of
 * every sample, hostile input (nesting, floods, NULs), the codes in text,
 * and parsing from several threads at once.
 */
#include "unit.h"

#include <dirent.h>
#include <pthread.h>
#include <time.h>

#include "lib/buf.h"
#include "proto/fbreport.h"
#include "proto/fbreport_text.h"

#define DIR_SAMPLES	"tests/data/feedback"	/* run from the root */

struct want_rcpt {
	const char	*final_recipient, *original_recipient, *action, *status;
	int		 code;
	const char	*remote_mta, *diagnostic;
};

struct want {
	const char	*file;
	enum fb_kind	 kind;
	const char	*reporting_mta, *arrival_date;
	const char	*feedback_type, *user_agent, *source_ip;
	const char	*original_mail_from, *original_rcpt_to, *reported_domain;
	const char	*orig_message_id, *orig_from, *orig_to;
	const char	*orig_subject, *orig_return_path;
	const char	*orig_queue_id;
	const char	*from, *subject, *message_id;
	size_t		 nrcpts;
	struct want_rcpt r[4];
};

/* What each sample holds (tests/data/feedback/README says why). */
static const struct want wants[] = {
	{ "arf-headers.eml", FB_ARF,
	  /* reporting_mta, arrival_date */ "mail.example.com", "Fri, 4 Dec 2026 19:45:10 +0000",
	  /* feedback_type, user_agent, source_ip */ "abuse", "SomeGenerator/1.0", "192.0.2.20",
	  /* original_mail_from, original_rcpt_to, reported_domain */ "b+u5e0rc8ip3y7a@bounces.example.org", "user@example.com", "example.org",
	  /* orig: message_id, from, to */ "promo-earn-31@example.org", "promo@example.org", "user@example.com",
	  /* orig: subject, return_path */ "Earn money", NULL,
	  /* orig_queue_id */ "5F7B9D1F-3A5C-4E7A-9C2E-7B9D1F3A5C7E.1",
	  /* from, subject, message_id */ "abusedesk@example.com", "FW: Earn money", "complaint-5512@abuse.example.com",
	  1, {
		{ "user@example.com", NULL, NULL, NULL, 0,
		  NULL,
		  NULL },
	  } },
	{ "arf-jmrp.eml", FB_ARF,
	  /* reporting_mta, arrival_date */ NULL, "Fri, 04 Dec 2026 11:31:08 -0800",
	  /* feedback_type, user_agent, source_ip */ "abuse", "Hotmail FBL", "192.0.2.20",
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "deals-freeship-9904@example.org", "deals@example.org", "redacted@example.net",
	  /* orig: subject, return_path */ "Last chance: free shipping", "b+y4q9lz2cs6j1b@bounces.example.org",
	  /* orig_queue_id */ "3D5F7B9D-1F3A-4C6E-9B1D-5F7C9E1A3B5D.1",
	  /* from, subject, message_id */ "staff@hotmail.example.net", "complaint about message from 192.0.2.20", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d@jmrp.example.net",
	  0, {
	  } },
	{ "arf-yahoo.eml", FB_ARF,
	  /* reporting_mta, arrival_date */ NULL, "Fri, 4 Dec 2026 18:55:01 +0000",
	  /* feedback_type, user_agent, source_ip */ "abuse", "Yahoo!-Mail-Feedback/2.0", NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ "b+z7c1mq4hv8n2x@bounces.example.org", "shopper@example.net", "example.org",
	  /* orig: message_id, from, to */ "sale-spring-2026-000417@example.org", "deals@example.org", "shopper@example.net",
	  /* orig: subject, return_path */ "Spring sale: 30% off everything", "b+z7c1mq4hv8n2x@bounces.example.org",
	  /* orig_queue_id */ "1B3D5F7A-9C0E-4A2B-8D4F-6A8C0E2B4D6F.1",
	  /* from, subject, message_id */ "feedback@arf.mail.example.net", "FW: Spring sale: 30% off everything", "fbl.1733339404.77123@arf.mail.example.net",
	  1, {
		{ "shopper@example.net", NULL, NULL, NULL, 0,
		  NULL,
		  NULL },
	  } },
	{ "dsn-base64.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "mail.example.net", "Fri, 4 Dec 2026 17:20:11 +0100",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "order-3317@example.org", "bakery@example.org", "lena@example.net",
	  /* orig: subject, return_path */ "Ihre Bestellung ist fertig", NULL,
	  /* orig_queue_id */ "6A8C0E2F-4B6D-4E9A-8C1F-5B7D9F1A3E46.1",
	  /* from, subject, message_id */ "postmaster@mail.example.net", "Unzustellbar: Ihre Bestellung ist fertig", "ndr.3317.ab12@mail.example.net",
	  1, {
		{ "lena@example.net", NULL, "failed", "5.1.2", 550,
		  "mail.example.net",
		  "550 5.1.2 Host unknown: the domain of the address does not accept mail" },
	  } },
	{ "dsn-broken.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "bounce.example.com", NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "reminder-12@example.org", "reminders@example.org", "Mixed.Case@Example.com",
	  /* orig: subject, return_path */ "Reminder", NULL,
	  /* orig_queue_id */ "C6D8E0F2-A4B6-4C8D-9E0F-4A6B8C0D2E3F.1",
	  /* from, subject, message_id */ "postmaster@bounce.example.com", "Delivery failure", NULL,
	  1, {
		{ "Mixed.Case@Example.com", NULL, "failed", "5.1.1", 550,
		  "in.example.com",
		  "550 No such user here" },
	  } },
	{ "dsn-delayed.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "mx.example.net", "Fri, 4 Dec 2026 16:14:51 +0000 (UTC)",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "album-20261204-301@example.org", "photos@example.org", "slow@example.net",
	  /* orig: subject, return_path */ "Your photo album is ready", "b+h9d5xt4mw0s6p@bounces.example.org",
	  /* orig_queue_id */ "0A2C4E6F-8193-4B5D-A7E9-0B2D4F6A8C13.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mx.example.net", "Delayed Mail (still being retried)", "20261204201508.7Hh3Kl9Pq2@mx.example.net",
	  1, {
		{ "slow@example.net", "slow@example.net", "delayed", "4.2.2", 452,
		  "store.example.net",
		  "452 4.2.2 Mailbox full" },
	  } },
	{ "dsn-global.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "mx.example.com", "Fri, 04 Dec 2026 22:20:28 +0000",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "reservierung-81@example.org", "cafe@example.org", "j\303\274rgen@example.com",
	  /* orig: subject, return_path */ "Ihre Reservierung", NULL,
	  /* orig_queue_id */ "C4E6A8C0-E2A4-4C6E-A8C0-4E6A8C0E2A4C.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender", "20261204222029.AB12C3D4@mx.example.com",
	  1, {
		{ "j\303\274rgen@example.com", "j\303\274rgen@example.com", "failed", "5.1.1", 550,
		  "mail.example.com",
		  "550 5.1.1 <j\303\274rgen@example.com>: Recipient address rejected" },
	  } },
	{ "dsn-gmail.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "googlemail.example.net", "Fri, 04 Dec 2026 02:21:06 -0800 (PST)",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "welcome-58213@example.org", "shop@example.org", "nobody@example.com",
	  /* orig: subject, return_path */ "Welcome to Example Shop \342\200\224 your account", "b+k2p9rw7tq4v1z@bounces.example.org",
	  /* orig_queue_id */ "2D8F6B13-5A7C-4E90-8B21-C3D5E7F9A1B4.1",
	  /* from, subject, message_id */ "mailer-daemon@googlemail.example.net", "Delivery Status Notification (Failure)", "6751a2e3.050a0220.1f2b3c.0042.GMR@mx.google.example.net",
	  1, {
		{ "nobody@example.com", NULL, "failed", "5.1.1", 550,
		  "mx.example.com",
		  "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. 550 5.1.1 https://support.example.net/mail/?p=NoSuchUser a1b2c3d4e5f6-000000.12 - gsmtp" },
	  } },
	{ "dsn-multi.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "gw.example.com", "Fri, 04 Dec 2026 16:44:02 +0000",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "team-update-77@example.org", "team@example.org", "ann@example.com",
	  /* orig: subject, return_path */ "Team update", NULL,
	  /* orig_queue_id */ "4E6A8C0D-2F4B-4C7E-8A9D-3F5B7D9A1C24.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@gw.example.com", "Delivery Status Notification (Failure)", "dsn-88213@gw.example.com",
	  4, {
		{ "ann@example.com", "ann@example.com", "failed", "5.1.1", 550,
		  "store1.example.com",
		  "550 5.1.1 <ann@example.com>: user unknown" },
		{ "bob@example.com", NULL, "failed", "5.2.2", 552,
		  "store2.example.com",
		  "552-5.2.2 The recipient's mailbox is full 552 5.2.2 and cannot accept messages now" },
		{ "carol@example.com", NULL, "delayed", "4.4.1", 421,
		  NULL,
		  "421 4.4.1 Connection timed out" },
		{ "dave@example.com", NULL, "relayed", "2.0.0", 250,
		  "legacy.example.com",
		  "250 2.0.0 Ok: queued as 91AB23" },
	  } },
	{ "dsn-outlook.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "BN8PR12MB1234.namprd12.prod.outlook.example.net", "Fri, 4 Dec 2026 11:03:49 +0000",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "invoice-20261204-7731@example.org", "billing@example.org", "jdoe@example.net",
	  /* orig: subject, return_path */ "Your invoice 7731", "b+m4t8cv3ns6q2y@bounces.example.org",
	  /* orig_queue_id */ "4A9C1E63-8D2F-4B70-9E15-B6D8F0A2C4E3.1",
	  /* from, subject, message_id */ "postmaster@example.net", "Undeliverable: Your invoice 7731", "c0a8d3e1-2f4b-4c6d-8e9f-0a1b2c3d4e5f@BN8PR12MB1234.namprd12.prod.outlook.example.net",
	  1, {
		{ "jdoe@example.net", NULL, "failed", "5.1.10", 550,
		  NULL,
		  "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient jdoe@example.net not found by SMTP address lookup" },
	  } },
	{ "dsn-postfix.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "mx.example.com", "Fri, 4 Dec 2026 09:12:39 +0000 (UTC)",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "news-2026-12.8841@example.org", "news@example.org", "info+news@example.com",
	  /* orig: subject, return_path */ "December newsletter", "b+q7f3kx2mzx9a1@bounces.example.org",
	  /* orig_queue_id */ "51AF09D2-3C7E-4B88-9D10-E2F4A6B8C0D1.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender", "20261204091240.5B2F11A0042@mx.example.com",
	  1, {
		{ "info+news@example.com", "info+news@example.com", "failed", "5.1.1", 0,
		  NULL,
		  "unknown user: \"info+news\"" },
	  } },
	{ "dsn-sendmail.eml", FB_DSN,
	  /* reporting_mta, arrival_date */ "relay.example.com", "Fri, 4 Dec 2026 15:29:58 GMT",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "followup-4410@example.org", "sales@example.org", "r.smith@example.com",
	  /* orig: subject, return_path */ "Following up on our call", "b+c3v7nm2kq8r4d@bounces.example.org",
	  /* orig_queue_id */ "D4F6081A-3C5E-4A7B-8193-C4E6A8B02D35.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@relay.example.com", "Returned mail: see transcript for details", "202612041530.4B4FU1Xk012345@relay.example.com",
	  1, {
		{ "r.smith@example.com", NULL, "failed", "5.7.1", 550,
		  "mail.example.com",
		  "550 5.7.1 <r.smith@example.com>... Relaying denied" },
	  } },
	{ "not-report-autoreply.eml", FB_UNKNOWN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ NULL, NULL, NULL,
	  /* orig: subject, return_path */ NULL, NULL,
	  /* orig_queue_id */ NULL,
	  /* from, subject, message_id */ "jordan@example.net", "Automatic reply: Your weekly report", "ooo-1204@example.net",
	  0, {
	  } },
	{ "not-report-mdn.eml", FB_UNKNOWN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ NULL, NULL, NULL,
	  /* orig: subject, return_path */ NULL, NULL,
	  /* orig_queue_id */ NULL,
	  /* from, subject, message_id */ "pat@example.com", "Read: Team update", "mdn-77@example.com",
	  0, {
	  } },
	{ "not-report-newsletter.eml", FB_UNKNOWN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ NULL, NULL, NULL,
	  /* orig: subject, return_path */ NULL, NULL,
	  /* orig_queue_id */ NULL,
	  /* from, subject, message_id */ "weekly@example.com", "This week: delivery tips for your team", "weekly-49@example.com",
	  0, {
	  } },
	{ "plain-exim.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "weekly-report-55120@example.org", "alerts@example.org", "someone@example.com",
	  /* orig: subject, return_path */ "Your weekly report", "b+t6h2lb9xd3f8k@bounces.example.org",
	  /* orig_queue_id */ "5C7E9A02-3D5F-4B8A-9C4E-6A8C0E2F4B57.1",
	  /* from, subject, message_id */ "Mailer-Daemon@mail.example.com", "Mail delivery failed: returning message to sender", "E1tIx9z-0004Qk-7b@mail.example.com",
	  1, {
		{ "someone@example.com", NULL, "failed", "5.1.1", 550,
		  NULL,
		  "host mx2.example.com [192.0.2.61] SMTP error from remote mail server after RCPT TO:<someone@example.com>: 550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table" },
	  } },
	{ "plain-gmail.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "invite-ye-2026-12@example.org", "events@example.org", "missing.person@example.com",
	  /* orig: subject, return_path */ "Invitation: year-end party", "b+g5h6j7k8l9m0n@bounces.example.org",
	  /* orig_queue_id */ "C2E4A6C8-E0A2-4C4E-9A6C-8E0A2C4E6A8C.1",
	  /* from, subject, message_id */ "mailer-daemon@googlemail.example.net", "Delivery Status Notification (Failure)", "0016e6d7e1a2b3c4d5e6f7@google.example.net",
	  1, {
		{ "missing.person@example.com", NULL, "failed", "5.1.1", 550,
		  NULL,
		  "550 5.1.1 <missing.person@example.com>: Recipient address rejected: User unknown in local recipient table (state 14)." },
	  } },
	{ "plain-outlook.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "stmt-q4-1193@example.org", "statements@example.org", "terry@example.com",
	  /* orig: subject, return_path */ "Quarterly statement", NULL,
	  /* orig_queue_id */ "06A8C0E2-A4C6-4E8A-92A4-C6E8A0C2E4A6.1",
	  /* from, subject, message_id */ "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com", "Undeliverable: Quarterly statement", "ndr-5ab1c2d3@exch01.example.com",
	  1, {
		{ "terry@example.com", NULL, "failed", "5.1.1", 550,
		  NULL,
		  "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##rfc822;terry@example.com" },
	  } },
	{ "plain-postfix.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "office-closed-1207@example.org", "office@example.org", "user@example.com",
	  /* orig: subject, return_path */ "Office closed on Monday", "b+v1b2n3m4q5w6e@bounces.example.org",
	  /* orig_queue_id */ "0C2E4A6C-8E0A-4C2E-86A8-C0E2A4C6E8A0.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender", "20261204223014.9F8E7D6C5B@mx.example.com",
	  2, {
		{ "user@example.com", NULL, "failed", "5.1.1", 550,
		  NULL,
		  "host store.example.com[192.0.2.26] said: 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)" },
		{ "other@example.com", NULL, "failed", NULL, 0,
		  NULL,
		  "connect to mx2.example.com[192.0.2.27]:25: Connection timed out" },
	  } },
	{ "plain-qmail.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "club-meeting-0412@example.org", "club@example.org", "old.account@example.net",
	  /* orig: subject, return_path */ "Club meeting on Friday", "b+r5n1hd8wc2e7j@bounces.example.org",
	  /* orig_queue_id */ "8E0A2C46-7B9D-4F13-A5C7-E9B1D3F5A706.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mail.example.net", "failure notice", NULL,
	  2, {
		{ "old.account@example.net", NULL, "failed", "5.1.1", 0,
		  NULL,
		  "Sorry, no mailbox here by that name. (#5.1.1)" },
		{ "full.box@example.net", NULL, "failed", "5.2.2", 552,
		  NULL,
		  "192.0.2.51 does not like recipient. Remote host said: 552 5.2.2 <full.box@example.net>: mailbox full Giving up on 192.0.2.51." },
	  } },
	{ "plain-wrongtype.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ "gw.example.net", "Fri, 4 Dec 2026 22:40:45 +0100",
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "ticket-4471-u3@example.org", "support@example.org", "quota@example.net",
	  /* orig: subject, return_path */ "Ticket 4471 updated", NULL,
	  /* orig_queue_id */ "4AC0E2A4-E6C8-4A0E-82C4-E6A8C0E2A4C6.1",
	  /* from, subject, message_id */ "postmaster@gw.example.net", "Mail System Error - Returned Mail", "gw-err-1204-0042@gw.example.net",
	  1, {
		{ "quota@example.net", NULL, "failed", "4.2.2", 452,
		  NULL,
		  "452 4.2.2 Over quota \342\200\224 try again later" },
	  } },
	{ "plain-xfailed.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "einladung-12@example.org", "verein@example.org", "kein.postfach@example.net",
	  /* orig: subject, return_path */ "Einladung", NULL,
	  /* orig_queue_id */ "8E0A2C4E-6A8C-4E0A-86C8-0A2C4E6A8C0E.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@mx.example.net", "Unzustellbare Nachricht", "E1tJ0aB-0007Zz-Q1@mx.example.net",
	  1, {
		{ "kein.postfach@example.net", NULL, "failed", "5.1.1", 550,
		  NULL,
		  "550 5.1.1 Postfach nicht vorhanden" },
	  } },
	{ "plain-yahoo.eml", FB_PLAIN,
	  /* reporting_mta, arrival_date */ NULL, NULL,
	  /* feedback_type, user_agent, source_ip */ NULL, NULL, NULL,
	  /* original_mail_from, original_rcpt_to, reported_domain */ NULL, NULL, NULL,
	  /* orig: message_id, from, to */ "booking-99021@example.org", "travel@example.org", "closed.user@example.net",
	  /* orig: subject, return_path */ "Your booking confirmation", "b+w8j4pf1gz5h0n@bounces.example.org",
	  /* orig_queue_id */ "9A1C3E46-7B9D-4F2E-A08C-0E2A4C6E8F91.1",
	  /* from, subject, message_id */ "MAILER-DAEMON@yahoo.example.net", "Failure Notice", "1733321864.882010@sonic.example.net",
	  1, {
		{ "closed.user@example.net", NULL, "failed", NULL, 554,
		  NULL,
		  "554: delivery error: dd Not a valid recipient - atlas114.free.mail.example.net" },
	  } },
};
#define NWANTS	(sizeof(wants) / sizeof(wants[0]))

static char *
slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", DIR_SAMPLES, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("%s: cannot open (run from the repository root)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	s = xmalloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

static void
field(const char *file, const char *what, const char *want, const char *got)
{
	if (want == NULL && got == NULL)
		return;
	if (want == NULL || got == NULL || strcmp(want, got) != 0)
		fail_msg("%s: %s: want %s%s%s, got %s%s%s", file, what,
		    want ? "'" : "", want ? want : "NULL", want ? "'" : "",
		    got ? "'" : "", got ? got : "NULL", got ? "'" : "");
}

static void
check_report(const struct want *w, const struct fb_report *r)
{
	const char *f = w->file;

	if (r->kind != w->kind)
		fail_msg("%s: kind %s, want %s", f, fb_kind_name(r->kind),
		    fb_kind_name(w->kind));
	field(f, "reporting_mta", w->reporting_mta, r->reporting_mta);
	field(f, "arrival_date", w->arrival_date, r->arrival_date);
	field(f, "feedback_type", w->feedback_type, r->feedback_type);
	field(f, "user_agent", w->user_agent, r->user_agent);
	field(f, "source_ip", w->source_ip, r->source_ip);
	field(f, "original_mail_from", w->original_mail_from,
	    r->original_mail_from);
	field(f, "original_rcpt_to", w->original_rcpt_to,
	    r->original_rcpt_to);
	field(f, "reported_domain", w->reported_domain, r->reported_domain);
	field(f, "orig_message_id", w->orig_message_id, r->orig_message_id);
	field(f, "orig_from", w->orig_from, r->orig_from);
	field(f, "orig_to", w->orig_to, r->orig_to);
	field(f, "orig_subject", w->orig_subject, r->orig_subject);
	field(f, "orig_return_path", w->orig_return_path,
	    r->orig_return_path);
	field(f, "orig_queue_id", w->orig_queue_id, r->orig_queue_id);
	field(f, "from", w->from, r->from);
	field(f, "subject", w->subject, r->subject);
	field(f, "message_id", w->message_id, r->message_id);
	if (r->nrcpts != w->nrcpts)
		fail_msg("%s: %zu recipients, want %zu", f, r->nrcpts,
		    w->nrcpts);
	for (size_t i = 0; i < w->nrcpts; i++) {
		const struct want_rcpt *wr = &w->r[i];
		const struct fb_rcpt *rr = &r->rcpts[i];

		field(f, "final_recipient", wr->final_recipient,
		    rr->final_recipient);
		field(f, "original_recipient", wr->original_recipient,
		    rr->original_recipient);
		field(f, "action", wr->action, rr->action);
		field(f, "status", wr->status, rr->status);
		if (rr->code != wr->code)
			fail_msg("%s: rcpt %zu code %d, want %d", f, i,
			    rr->code, wr->code);
		field(f, "remote_mta", wr->remote_mta, rr->remote_mta);
		field(f, "diagnostic", wr->diagnostic, rr->diagnostic);
	}
}

static void
test_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWANTS; i++) {
		struct fb_report r;
		size_t len;
		char *m = slurp(wants[i].file, &len);

		assert_int_equal(fb_report_parse(m, len, &r), wants[i].kind);
		check_report(&wants[i], &r);
		fb_report_free(&r);
		free(m);
	}
}

/* Every sample in the folder has its expectations here. */
static void
test_all_samples_listed(void **state)
{
	(void)state;
	DIR *d = opendir(DIR_SAMPLES);
	struct dirent *e;
	size_t n = 0, dsn = 0, arf = 0, plain = 0, unknown = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t i, l = strlen(e->d_name);

		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		for (i = 0; i < NWANTS; i++)
			if (strcmp(wants[i].file, e->d_name) == 0)
				break;
		if (i == NWANTS)
			fail_msg("%s: a sample without expectations", e->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, NWANTS);
	for (size_t i = 0; i < NWANTS; i++) {
		dsn += wants[i].kind == FB_DSN;
		arf += wants[i].kind == FB_ARF;
		plain += wants[i].kind == FB_PLAIN;
		unknown += wants[i].kind == FB_UNKNOWN;
	}
	assert_true(dsn + plain >= 10);
	assert_true(arf >= 3);
	assert_true(unknown >= 2);
}

/* LF and CRLF give the same report. */
static void
test_line_endings(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWANTS; i++) {
		struct buf b = BUF_INIT;
		struct fb_report r;
		size_t len;
		char *m = slurp(wants[i].file, &len);
		int crlf = memmem(m, len, "\r\n", 2) != NULL;

		for (size_t k = 0; k < len; k++) {
			if (crlf && m[k] == '\r' && k + 1 < len &&
			    m[k + 1] == '\n')
				continue;
			if (!crlf && m[k] == '\n')
				buf_addc(&b, '\r');
			buf_addc(&b, m[k]);
		}
		fb_report_parse(b.p, b.len, &r);
		check_report(&wants[i], &r);
		fb_report_free(&r);
		buf_free(&b);
		free(m);
	}
}

static void
sane(const struct fb_report *r)
{
	assert_true(r->kind >= FB_UNKNOWN && r->kind <= FB_PLAIN);
	assert_true(r->nrcpts == 0 || r->rcpts != NULL);
	for (size_t i = 0; i < r->nrcpts; i++)
		assert_true(r->rcpts[i].final_recipient != NULL ||
		    r->rcpts[i].original_recipient != NULL);
	assert_non_null(fb_kind_name(r->kind));
}

/* Every prefix of every sample (a report cut anywhere) parses, in a
 * buffer of exactly that size (ASan sees any read past it). */
static void
test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWANTS; i++) {
		size_t len;
		char *m = slurp(wants[i].file, &len);

		for (size_t n = 0; n <= len; n += 1 + n % 13) {
			char *cut = xmalloc(n + 1);
			struct fb_report r;

			memcpy(cut, m, n);
			fb_report_parse(n > 0 ? cut : NULL, n, &r);
			sane(&r);
			fb_report_free(&r);
			free(cut);
		}
		free(m);
	}
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum fb_kind
parse_buf(struct buf *b, struct fb_report *r)
{
	return fb_report_parse(b->p, b->len, r);
}

/* Nesting bombs, floods, NULs, an endless line: bounded time and sane
 * results. */
static void
test_hostile(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct fb_report r;
	double t0;

	/* 3,000 nested multiparts. */
	for (int i = 0; i < 3000; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\n"
		    "\n--b%d\n", i, i);
	buf_adds(&b, "\nFinal-Recipient: rfc822; x@example.com\n");
	t0 = now_s();
	parse_buf(&b, &r);
	sane(&r);
	fb_report_free(&r);
	assert_true(now_s() - t0 < 5.0);
	buf_reset(&b);

	/* 200 nested message/rfc822 parts, under the cap: parsed. */
	buf_adds(&b, "From: MAILER-DAEMON@example.net\nContent-Type: "
	    "multipart/report; report-type=delivery-status; boundary=R\n\n--R\n"
	    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; "
	    "mx.example.net\n\nFinal-Recipient: rfc822; n@example.com\n"
	    "Action: failed\nStatus: 5.1.1\n\n--R\n");
	for (int i = 0; i < 200; i++)
		buf_adds(&b, "Content-Type: message/rfc822\n\n");
	buf_adds(&b, "Subject: deep\n\nbody\n--R--\n");
	assert_int_equal(parse_buf(&b, &r), FB_DSN);
	assert_int_equal(r.nrcpts, 1);
	fb_report_free(&r);
	buf_reset(&b);

	/* 5,000 recipient blocks: the cap keeps 512. */
	buf_adds(&b, "Content-Type: multipart/report; report-type="
	    "delivery-status; boundary=R\n\n--R\nContent-Type: message/"
	    "delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n");
	for (int i = 0; i < 5000; i++)
		buf_printf(&b, "Final-Recipient: rfc822; u%d@example.com\n"
		    "Action: failed\nStatus: 5.1.1\n\n", i);
	buf_adds(&b, "--R--\n");
	t0 = now_s();
	assert_int_equal(parse_buf(&b, &r), FB_DSN);
	assert_int_equal(r.nrcpts, 512);
	assert_string_equal(r.rcpts[511].final_recipient, "u511@example.com");
	fb_report_free(&r);
	assert_true(now_s() - t0 < 5.0);
	buf_reset(&b);

	/* A plain bounce of 20,000 address lines and a 1 MB line. */
	buf_adds(&b, "From: MAILER-DAEMON@example.net\nSubject: failure "
	    "notice\n\n");
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "<p%d@example.com>:\n550 5.1.1 no\n\n", i);
	for (int i = 0; i < 1000000; i++)
		buf_addc(&b, i % 7 == 0 ? '@' : 'a');
	t0 = now_s();
	assert_int_equal(parse_buf(&b, &r), FB_PLAIN);
	assert_int_equal(r.nrcpts, 512);
	assert_int_equal(r.rcpts[0].code, 550);
	fb_report_free(&r);
	assert_true(now_s() - t0 < 10.0);
	buf_reset(&b);

	/* NULs inside fields and text. */
	buf_add(&b, "From: MAILER-DAEMON@example.net\nSubject: failure notice"
	    "\n\n<a\0b@example.com>:\n550\0 5.1.1\n\n<c@example.com>:\n"
	    "550 5.1.1 gone\0\n", 103);
	parse_buf(&b, &r);
	sane(&r);
	fb_report_free(&r);
	buf_free(&b);

	/* Nothing at all. */
	assert_int_equal(fb_report_parse(NULL, 0, &r), FB_UNKNOWN);
	assert_int_equal(r.nrcpts, 0);
	fb_report_free(&r);
	assert_int_equal(fb_report_parse("", 0, &r), FB_UNKNOWN);
	fb_report_free(&r);
	assert_int_equal(fb_report_parse("\n\n\n", 3, &r), FB_UNKNOWN);
	fb_report_free(&r);
	fb_report_free(NULL);
}

static void
test_codes(void **state)
{
	(void)state;
	static const struct { const char *in; int code; const char *st; }
	    cases[] = {
		{ "550 5.1.1 <a@example.com>: unknown", 550, "5.1.1" },
		{ "smtp; 550-5.1.1 x 550 5.1.1 y", 550, "5.1.1" },
		{ "554: delivery error: dd Not a valid recipient", 554, "" },
		{ "Sorry, no mailbox here by that name. (#5.1.1)", 0,
		  "5.1.1" },
		{ "#550 5.1.1 RESOLVER.ADR.RecipNotFound", 550, "5.1.1" },
		{ "192.0.2.51 does not like recipient.", 0, "" },
		{ "Fri, 04 Dec 2026 12:40:10 +0000", 0, "" },
		{ "Remote host said: 452 4.2.2 Mailbox full", 452, "4.2.2" },
		{ "said: 550 4.1.1 odd", 550, "4.1.1" },
		{ "queued as 550ABC", 0, "" },
		{ "5.1.10 RESOLVER", 0, "5.1.10" },
		{ "version 5.1.1.2", 0, "" },
		{ "", 0, "" },
	};
	char st[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int c = fbt_codes(cases[i].in, strlen(cases[i].in), st);

		if (c != cases[i].code || strcmp(st, cases[i].st) != 0)
			fail_msg("'%s': %d '%s', want %d '%s'", cases[i].in, c,
			    st, cases[i].code, cases[i].st);
	}
}

/* Plain-text bounces: who is a recipient, and what is not a bounce. */
static void
test_plain_cases(void **state)
{
	(void)state;
	static const struct {
		const char	*msg;
		enum fb_kind	 kind;
		const char	*rcpts;		/* "addr action status code;" */
	} cases[] = {
		/* The report's own addresses are never recipients. */
		{ "From: MAILER-DAEMON@mx.example.net\nTo: b+t@bounces.example."
		  "org\nSubject: failure notice\n\n<b+t@bounces.example.org>:\n"
		  "<postmaster@mx.example.net>:\n550 5.1.1 no\n",
		  FB_UNKNOWN, "" },
		/* A phrase naming the recipient; no code anywhere. */
		{ "From: postmaster@example.net\nSubject: Undeliverable: hi\n\n"
		  "Your message to a@example.com couldn't be delivered.\n",
		  FB_PLAIN, "a@example.com failed - 0;" },
		/* The same text from a person, no bounce words: not one. */
		{ "From: Kim <kim@example.net>\nSubject: hello\n\n"
		  "<a@example.com>:\n550 5.1.1 unknown\n", FB_UNKNOWN, "" },
		/* A Sendmail warning: delayed. */
		{ "From: MAILER-DAEMON@relay.example.com\nSubject: Warning: "
		  "could not send message for past 4 hours\n\n"
		  "<slow@example.com>... Deferred: Connection timed out\n"
		  "Will keep trying until message is 5 days old\n",
		  FB_PLAIN, "slow@example.com delayed - 0;" },
		/* X-Failed-Recipients when the text names nobody; with two,
		 * the text's code is nobody's. */
		{ "From: MAILER-DAEMON@mx.example.net\nX-Failed-Recipients: "
		  "a@example.com,\n b@example.com\nSubject: failure notice\n\n"
		  "Sorry.\n550 5.1.1 no\n", FB_PLAIN,
		  "a@example.com failed - 0;b@example.com failed - 0;" },
		{ "From: MAILER-DAEMON@mx.example.net\nX-Failed-Recipients: "
		  "a@example.com\nSubject: failure notice\n\nSorry.\n"
		  "452 4.2.2 full\n", FB_PLAIN,
		  "a@example.com delayed 4.2.2 452;" },
		/* A 4xx code makes it a delay; an address at a sentence's
		 * end loses its full stop. */
		{ "From: MAILER-DAEMON@mx.example.net\nSubject: Delivery "
		  "delayed\n\nDelivery to x.y@example.com.\n"
		  "451 4.4.1 try later\n", FB_PLAIN,
		  "x.y@example.com delayed 4.4.1 451;" },
		/* HTML only: tags dropped, references decoded. */
		{ "From: postmaster@example.net\nSubject: Undeliverable: hi\n"
		  "Content-Type: text/html\n\n<html><body><p>Delivery has "
		  "failed to these recipients or groups:</p><p><a href=\""
		  "mailto:x@example.com\">x@example.com</a><br>Not found.</p>"
		  "<p>Remote Server returned &#39;550&nbsp;5.1.1 &lt;x@example"
		  ".com&gt;&#39;</p></body></html>\n", FB_PLAIN,
		  "x@example.com failed 5.1.1 550;" },
		/* Delivery-status fields in text, from a person (a read
		 * receipt sent as text/plain): not a bounce. */
		{ "From: Pat <pat@example.com>\nSubject: Read: hi\n\n"
		  "Reporting-UA: mail.example.com\nFinal-Recipient: rfc822; "
		  "pat@example.com\nDisposition: displayed\n", FB_UNKNOWN,
		  "" },
		/* The quoted original is not read for recipients. */
		{ "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice"
		  "\n\n<a@example.com>:\n550 5.1.1 unknown\n\n--- Below this "
		  "line is a copy of the message.\n\n<c@example.com>:\nhi\n",
		  FB_PLAIN, "a@example.com failed 5.1.1 550;" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf got = BUF_INIT;
		struct fb_report r;

		fb_report_parse(cases[i].msg, strlen(cases[i].msg), &r);
		for (size_t k = 0; k < r.nrcpts; k++)
			buf_printf(&got, "%s %s %s %d;",
			    r.rcpts[k].final_recipient, r.rcpts[k].action,
			    r.rcpts[k].status ? r.rcpts[k].status : "-",
			    r.rcpts[k].code);
		if (r.kind != cases[i].kind ||
		    strcmp(buf_cstr(&got), cases[i].rcpts) != 0)
			fail_msg("case %zu: %s '%s', want %s '%s'", i,
			    fb_kind_name(r.kind), buf_cstr(&got),
			    fb_kind_name(cases[i].kind), cases[i].rcpts);
		buf_free(&got);
		fb_report_free(&r);
	}
}

/* A DSN without Action fields: the status's class gives it, and without
 * a status it stays unknown (NULL). */
static void
test_dsn_no_action(void **state)
{
	(void)state;
	static const char msg[] = "From: MAILER-DAEMON@mx.example.net\n"
	    "Content-Type: multipart/report; report-type=delivery-status; "
	    "boundary=Q\n\n--Q\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mx.example.net\n\n"
	    "Final-Recipient: rfc822; a@example.com\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 gone\n\n"
	    "Final-Recipient: rfc822; b@example.com\nStatus: 4.2.2\n\n"
	    "Final-Recipient: rfc822; c@example.com\n--Q--\n";
	struct fb_report r;

	assert_int_equal(fb_report_parse(msg, sizeof(msg) - 1, &r), FB_DSN);
	assert_int_equal(r.nrcpts, 3);
	assert_string_equal(r.rcpts[0].action, "failed");
	assert_string_equal(r.rcpts[0].status, "5.1.1");
	assert_int_equal(r.rcpts[0].code, 550);
	assert_string_equal(r.rcpts[1].action, "delayed");
	assert_null(r.rcpts[2].action);
	assert_null(r.rcpts[2].status);
	fb_report_free(&r);
}

static void
test_kind_name(void **state)
{
	(void)state;
	assert_string_equal(fb_kind_name(FB_DSN), "dsn");
	assert_string_equal(fb_kind_name(FB_ARF), "arf");
	assert_string_equal(fb_kind_name(FB_PLAIN), "plain");
	assert_string_equal(fb_kind_name(FB_UNKNOWN), "unknown");
	assert_string_equal(fb_kind_name((enum fb_kind)42), "unknown");
}

/* Worker threads parse at once (the reception calls the parser off the
 * event loop): the same results as alone. */
static void *
parse_all(void *arg)
{
	int *bad = arg;

	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < NWANTS; i++) {
			struct fb_report r;
			size_t len;
			char *m = slurp(wants[i].file, &len);

			if (fb_report_parse(m, len, &r) != wants[i].kind ||
			    r.nrcpts != wants[i].nrcpts ||
			    (wants[i].orig_queue_id != NULL &&
			    (r.orig_queue_id == NULL || strcmp(r.orig_queue_id,
			    wants[i].orig_queue_id) != 0)))
				(*bad)++;
			fb_report_free(&r);
			free(m);
		}
	return NULL;
}

static void
test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	int bad[4] = { 0 };

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parse_all,
		    &bad[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(bad[i], 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_all_samples_listed),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_plain_cases),
		cmocka_unit_test(test_dsn_no_action),
		cmocka_unit_test(test_kind_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
