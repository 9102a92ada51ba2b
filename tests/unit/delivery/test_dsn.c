/* Unit tests: message (header lookup, RFC 2047, send_email normalisation;
 * golden tables) and bounce (the DSN: structure, fields, variables,
 * templates, HTML, header injection; checked by Python's email parser). */
#include "unit.h"

#include <ctype.h>
#include <time.h>

#include "delivery/dsn.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "proto/message.h"

/* ---- message.c ---------------------------------------------------- */

struct hl_case {
	const char	*msg;
	size_t		 want;
};

static const struct hl_case hl_cases[] = {
	{ "A: b\r\n\r\nbody\r\n", 8 },
	{ "A: b\r\n x\r\n\r\n", 12 },
	{ "\r\nbody\r\n", 2 },
	{ "A: b\n\nbody\n", 6 },
	{ "A: b\r\nC: d\r\n", 12 },	/* no empty line: all headers */
	{ "A: b", 4 },
	{ "", 0 },
};

static void
test_headers_len(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hl_cases) / sizeof(hl_cases[0]); i++) {
		const struct hl_case *c = &hl_cases[i];
		size_t got = msg_headers_len(c->msg, strlen(c->msg));

		if (got != c->want)
			fail_msg("case %zu: %zu, want %zu", i, got, c->want);
	}
}

struct hdr_case {
	const char	*msg;
	const char	*name;
	const char	*value;		/* NULL: not found */
};

static const struct hdr_case hdr_cases[] = {
	{ "Subject: Hello\r\n  world\r\n\tagain\r\nX: y\r\n\r\n", "Subject",
	  "Hello  world\tagain" },
	{ "From: a\r\nmessage-ID: <a@b>\r\n\r\n", "Message-Id", "<a@b>" },
	{ "From: a\r\nMESSAGE-ID:<a@b>\r\n\r\n", "message-id", "<a@b>" },
	{ "From: a\r\n\r\n", "Subject", NULL },
	{ "From: a\r\n\r\nSubject: in the body\r\n", "Subject", NULL },
	{ "From: a\r\nSubject: no end", "Subject", "no end" },
	{ "From: a\r\nSubject: x\r\n folded", "Subject", "x folded" },
	{ "Subjects: x\r\nSubject: y\r\n\r\n", "Subject", "y" },
	{ "Subject: first\r\nSubject: second\r\n\r\n", "Subject", "first" },
	{ "Subject :  padded \t\r\n\r\n", "Subject", "padded" },
	{ "Subject:\r\n\r\n", "Subject", "" },
	{ "Subject:\r\n   \r\n only folded\r\n\r\n", "Subject",
	  "only folded" },
	{ " Subject: a continuation\r\n\r\n", "Subject", NULL },
	{ "X-A: 1\nSubject: lf\n only\n\n", "Subject", "lf only" },
};

static void
test_header(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]);
	    i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct buf b = BUF_INIT;
		int found;

		buf_adds(&b, "pre:");
		found = msg_header(c->msg, strlen(c->msg), c->name, &b);
		if (found != (c->value != NULL))
			fail_msg("case %zu: found %d", i, found);
		if (c->value == NULL && strcmp(buf_cstr(&b), "pre:") != 0)
			fail_msg("case %zu: out changed", i);
		if (c->value != NULL && strcmp(buf_cstr(&b) + 4, c->value))
			fail_msg("case %zu: '%s'", i, buf_cstr(&b) + 4);
		buf_free(&b);
	}
}

struct dec_case {
	const char	*in;
	const char	*out;
};

static const struct dec_case dec_cases[] = {
	{ "plain text", "plain text" },
	{ "", "" },
	{ "=?UTF-8?B?w6nDqA==?=", "\xc3\xa9\xc3\xa8" },
	{ "=?utf-8?b?w6k?=", "\xc3\xa9" },		/* padding missing */
	{ "=?utf-8?q?caf=C3=A9_au_lait?=", "caf\xc3\xa9 au lait" },
	{ "=?UTF-8?Q?a=3db?=", "a=b" },
	{ "=?ISO-8859-1?Q?Gr=FC=DFe?=", "Gr\xc3\xbc\xc3\x9f" "e" },
	{ "=?latin1?B?R3L832U=?=", "Gr\xc3\xbc\xc3\x9f" "e" },
	{ "=?us-ascii?Q?hi?=", "hi" },
	{ "=?KOI8-R?Q?=F0=D2?=", "\xf0\xd2" },		/* raw bytes */
	{ "=?UTF-8*en?Q?hi?=", "hi" },			/* RFC 2231 lang */
	{ "Re: =?UTF-8?Q?caf=C3=A9?= ok", "Re: caf\xc3\xa9 ok" },
	/* Adjacent encoded-words: the blanks between them go. */
	{ "=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab" },
	{ "=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=\t=?UTF-8?B?Yw==?=", "abc" },
	{ "=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b" },
	{ "=?UTF-8?Q?a?=  ", "a  " },
	{ "x =?UTF-8?Q?a?=", "x a" },
	/* Split UTF-8 sequence across two words joins up. */
	{ "=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9" },
	/* Malformed words stay as they are. */
	{ "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=" },
	{ "=?UTF-8?Q?a=ZZ?=", "=?UTF-8?Q?a=ZZ?=" },
	{ "=?UTF-8?Q?a=4?=", "=?UTF-8?Q?a=4?=" },
	{ "=?UTF-8?B?!!!!?=", "=?UTF-8?B?!!!!?=" },
	{ "=?UTF-8?B?Y?=", "=?UTF-8?B?Y?=" },
	{ "=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated" },
	{ "=??Q?a?=", "=??Q?a?=" },
	{ "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=" },
	{ "=?UTF-8?Q?a?b?=", "=?UTF-8?Q?a?b?=" },
	{ "=?=?UTF-8?Q?ok?=", "=?ok" },
	{ "=?UTF-8?Q?a?= =?bad =?UTF-8?Q?b?=", "a =?bad b" },
};

static void
test_decode_2047(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]);
	    i++) {
		const struct dec_case *c = &dec_cases[i];
		struct buf b = BUF_INIT;

		msg_decode_2047(c->in, strlen(c->in), &b);
		if (strcmp(buf_cstr(&b), c->out) != 0)
			fail_msg("case %zu '%s': '%s'", i, c->in, buf_cstr(&b));
		buf_free(&b);
	}
}

struct prep_case {
	const char	*in;
	unsigned	 flags;
	const char	*out;
};

static const struct prep_case prep_cases[] = {
	{ "", 0, "" },
	{ "a\nb\n", 0, "a\r\nb\r\n" },
	{ "a\r\nb\r\n", 0, "a\r\nb\r\n" },
	{ "a\r\nb\nc", 0, "a\r\nb\r\nc\r\n" },		/* mixed, no end */
	{ "x", 0, "x\r\n" },
	{ "\n\n", 0, "\r\n\r\n" },
	{ "a\rb", 0, "a\r\nb\r\n" },			/* lone CR */
	{ "A: b\n\n..x\n.\n..\n...\n", 0,
	  "A: b\r\n\r\n..x\r\n.\r\n..\r\n...\r\n" },
	{ "A: b\n\n..x\n.\n..\n...\n", MSG_DOT_STUFFED,
	  "A: b\r\n\r\n.x\r\n.\r\n.\r\n..\r\n" },
	{ "Message-Id:\r\n <a@b>\r\nSubject: s\r\nmessage-id: <c@d>\r\n"
	  "\r\nMessage-Id: in the body\r\n", MSG_REMOVE_MSGID,
	  "Subject: s\r\n\r\nMessage-Id: in the body\r\n" },
	{ "Message-Id: <a@b>\nDate: Mon, 1 Jan 2024\n\t00:00 +0000\n"
	  "Date-Received: y\n\nDate: body\n", MSG_REMOVE_DATE,
	  "Message-Id: <a@b>\r\nDate-Received: y\r\n\r\nDate: body\r\n" },
	{ "Date: x\nMessage-ID : <a>\n folded\nTo: t\n\nb",
	  MSG_REMOVE_DATE | MSG_REMOVE_MSGID, "To: t\r\n\r\nb\r\n" },
	{ "From: f\nMessage-Id: <a>", MSG_REMOVE_MSGID, "From: f\r\n" },
};

static void
test_prepare(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(prep_cases) / sizeof(prep_cases[0]);
	    i++) {
		const struct prep_case *c = &prep_cases[i];
		struct buf b = BUF_INIT;

		buf_adds(&b, "pre");
		msg_prepare(c->in, strlen(c->in), c->flags, &b);
		if (strncmp(buf_cstr(&b), "pre", 3) != 0 ||
		    strcmp(buf_cstr(&b) + 3, c->out) != 0)
			fail_msg("case %zu: '%s'", i, buf_cstr(&b));
		buf_free(&b);
	}
}

/* ---- bounce.c ----------------------------------------------------- */

#define ME		"outpost.test"
#define NOW		1700000000
#define ARRIVAL_MS	1699990000123LL

static const char orig_msg[] =
	"Received: from client.test by outpost.test\r\n"
	"Message-Id: <orig-1@client.test>\r\n"
	"From: Sender <sender@client.test>\r\n"
	"To: user@remote.test, x@nullmx.test\r\n"
	"Subject: =?UTF-8?Q?Quarterly?=\r\n =?UTF-8?Q?_report?=\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"\r\n"
	"Body line 1\r\n"
	".leading dot\r\n"
	"--not-a-boundary\r\n";

static const struct dsn_rcpt two_rcpts[] = {
	{ "user@remote.test", "failed", "5.1.1", 550, "No such user", 1,
	  "mx1.remote.test", "550 5.1.1 No such user", NULL },
	{ "x@nullmx.test", "failed", "5.1.2", 550,
	  "Domain nullmx.test sends and receives no email (NULL MX)", 0,
	  NULL, "550 5.1.2 Domain nullmx.test sends and receives no email "
	  "(NULL MX)", NULL },
};

static struct dsn_params
base_params(const char *msg)
{
	struct dsn_params p;

	memset(&p, 0, sizeof(p));
	p.me = ME;
	p.mail_from = "sender@client.test";
	p.reason = "Some recipients failed";
	p.rcpts = two_rcpts;
	p.n = 2;
	p.msg = msg;
	p.msglen = strlen(msg);
	p.arrival_ms = ARRIVAL_MS;
	p.now = NOW;
	p.pid = 4242;
	return p;
}

static char *
build(const struct dsn_params *p)
{
	struct buf b = BUF_INIT;

	dsn_build(p, &b);
	return buf_release(&b);
}

static void
assert_crlf_only(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			fail_msg("bare LF at %zu", i);
		if (s[i] == '\r' && s[i + 1] != '\n')
			fail_msg("bare CR at %zu", i);
	}
}

static size_t
count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Every boundary declared is used and closed once, after its last use;
 * every delimiter line names a declared boundary. Returns how many. */
static int
assert_boundaries_closed(const char *s)
{
	char b[128], open[160], close[160];
	const char *p = s, *q, *lastopen, *cl;
	int n = 0;
	size_t declared = 0;

	while ((p = strstr(p, "boundary=\"")) != NULL) {
		p += 10;
		q = strchr(p, '"');
		assert_non_null(q);
		assert_true((size_t)(q - p) < sizeof(b));
		memcpy(b, p, (size_t)(q - p));
		b[q - p] = '\0';
		snprintf(open, sizeof(open), "\r\n--%s\r\n", b);
		snprintf(close, sizeof(close), "\r\n--%s--\r\n", b);
		assert_true(count(s, open) >= 1);
		assert_int_equal(count(s, close), 1);
		cl = strstr(s, close);
		for (lastopen = strstr(s, open); strstr(lastopen + 1, open);
		    lastopen = strstr(lastopen + 1, open))
			;
		assert_true(lastopen < cl);
		declared += count(s, open) + 1;
		n++;
	}
	/* No other delimiter-looking lines. */
	assert_int_equal(count(s, "\r\n--boundary_"), declared);
	return n;
}

/* The text between after and the next "\r\n--boundary_". */
static char *
section(const char *s, const char *after)
{
	const char *p = strstr(s, after), *e;

	if (p == NULL)
		fail_msg("no '%s'", after);
	p += strlen(after);
	e = strstr(p, "\r\n--boundary_");
	assert_non_null(e);
	return xstrndup(p, (size_t)(e - p));
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%.*s' does not start '%s'", (int)strlen(prefix), s,
		    prefix);
}

/* The header block of the DSN. */
static char *
dsn_headers(const char *s)
{
	const char *e = strstr(s, "\r\n\r\n");

	assert_non_null(e);
	return xstrndup(s, (size_t)(e - s) + 2);
}

/* s with every upper-case UUID replaced by "UUID". */
static char *
mask_uuids(const char *s)
{
	struct buf b = BUF_INIT;
	size_t i = 0, len = strlen(s);

	while (i < len) {
		int ok = len - i >= UUID_LEN;

		for (int k = 0; ok && k < UUID_LEN; k++) {
			char c = s[i + k];

			ok = (k == 8 || k == 13 || k == 18 || k == 23) ?
			    c == '-' : (isdigit((unsigned char)c) ||
			    (c >= 'A' && c <= 'F'));
		}
		if (ok) {
			buf_adds(&b, "UUID");
			i += UUID_LEN;
		} else
			buf_addc(&b, s[i++]);
	}
	return buf_release(&b);
}

static const char python_check[] =
"import email, email.policy, sys\n"
"d = sys.argv[1]\n"
"dsn = open(d + '/dsn', 'rb').read()\n"
"orig = open(d + '/orig', 'rb').read()\n"
"exp = open(d + '/expect', 'rb').read().decode().split('\\n')\n"
"first, subject, me, rcpts = exp[0], exp[1], exp[2], exp[3:]\n"
"rcpts = [r.split('|') for r in rcpts if r]\n"
"m = email.message_from_bytes(dsn, policy=email.policy.default)\n"
"for part in m.walk():\n"
"    assert not part.defects, (part.get_content_type(), part.defects)\n"
"assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
"assert m.get_param('report-type') == 'delivery-status'\n"
"assert m['MIME-Version'] == '1.0'\n"
"assert str(m['Subject']) == subject, repr(str(m['Subject']))\n"
"assert str(m['From']) == 'MAILER-DAEMON@' + me, m['From']\n"
"parts = m.get_payload()\n"
"types = [p.get_content_type() for p in parts]\n"
"assert types == [first, 'message/delivery-status', 'message/rfc822'], types\n"
"p0 = parts[0]\n"
"if first == 'multipart/related':\n"
"    sub = p0.get_payload()\n"
"    assert [p.get_content_type() for p in sub][0] == 'multipart/alternative'\n"
"    assert sub[1].get_content_maintype() == 'image', sub[1].get_content_type()\n"
"    assert len(sub[1].get_content()) > 0\n"
"    p0 = sub[0]\n"
"if p0.get_content_type() == 'multipart/alternative':\n"
"    sub = p0.get_payload()\n"
"    assert [p.get_content_type() for p in sub] == ['text/plain', 'text/html']\n"
"    assert 'html' in sub[1].get_content().lower()\n"
"    p0 = sub[0]\n"
"text = p0.get_content()\n"
"assert 'This is the Outpost mail program at ' + me in text, text\n"
"ds = parts[1].get_payload()\n"
"assert len(ds) == 1 + len(rcpts), len(ds)\n"
"assert ds[0]['Reporting-MTA'] == 'dns;' + me, ds[0]['Reporting-MTA']\n"
"assert ds[0]['Arrival-Date']\n"
"for blk, (addr, action, status, rmta) in zip(ds[1:], rcpts):\n"
"    assert blk['Final-Recipient'] == 'rfc822;' + addr, blk['Final-Recipient']\n"
"    assert blk['Action'] == action, blk['Action']\n"
"    assert blk['Status'].split()[0] == status, blk['Status']\n"
"    if rmta:\n"
"        assert blk['Remote-MTA'] == 'dns;' + rmta, blk['Remote-MTA']\n"
"        assert blk['Diagnostic-Code'].startswith('smtp;5')\n"
"    else:\n"
"        assert blk['Remote-MTA'] is None and blk['Diagnostic-Code'] is None\n"
"att = parts[2].get_payload()\n"
"assert len(att) == 1\n"
"o = email.message_from_bytes(orig, policy=email.policy.default)\n"
"assert att[0].items() == o.items(), (att[0].items(), o.items())\n"
"assert att[0].get_payload() == o.get_payload()\n"
"assert dsn.endswith(b'--\\r\\n')\n";

/* Checks dsn with Python's email package (a real MIME parser). */
static void
python_verify(const char *dsn, const char *orig, const char *first,
    const char *subject, const struct dsn_rcpt *r, size_t n)
{
	char *dir = tmpdir_new(), *cmd;
	struct buf e = BUF_INIT;

	write_file(dir, "check.py", python_check);
	write_file(dir, "dsn", dsn);
	write_file(dir, "orig", orig);
	buf_printf(&e, "%s\n%s\n%s\n", first, subject, ME);
	for (size_t i = 0; i < n; i++)
		buf_printf(&e, "%s|%s|%s|%s\n", r[i].addr, r[i].action,
		    r[i].status, r[i].remote_mta ? r[i].remote_mta : "");
	write_file(dir, "expect", buf_cstr(&e));
	cmd = xasprintf("/usr/bin/python3 '%s/check.py' '%s'", dir, dir);
	if (system(cmd) != 0)
		fail_msg("python check failed for a %s DSN", first);
	free(cmd);
	buf_free(&e);
	tmpdir_rm(dir);
}

static void
test_dsn_two_rcpts(void **state)
{
	struct dsn_params p = base_params(orig_msg);
	char *dsn, *hdr, *ds, *text, *want, date[64], arrival[64];
	const char *s;

	(void)state;
	dsn = build(&p);
	if (getenv("OUTPOST_SHOW_DSN") != NULL)
		fputs(dsn, stderr);
	assert_crlf_only(dsn);
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	assert_null(strstr(dsn, "Haraka"));
	assert_null(strchr(dsn, '{'));

	/* Headers: the template's, then the MIME ones. */
	date_rfc5322(date, sizeof(date), NOW);
	date_rfc5322(arrival, sizeof(arrival), ARRIVAL_MS / 1000);
	hdr = dsn_headers(dsn);
	want = xasprintf(
	    "Received: (Outpost 4242 invoked for bounce); %s\r\n"
	    "Date: %s\r\n"
	    "From: MAILER-DAEMON@" ME "\r\n"
	    "To: <sender@client.test>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "Subject: failure notice\r\n"
	    "Message-Id: <UUID@" ME ">\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"boundary_UUID\"\r\n"
	    "References: <orig-1@client.test>\r\n", date, date);
	{
		char *m = mask_uuids(hdr);

		assert_string_equal(m, want);
		free(m);
	}
	free(want);
	free(hdr);
	assert_non_null(strstr(dsn, "\r\n\r\nThis is a MIME-encapsulated "
	    "message.\r\n\r\n--boundary_"));

	/* The text part. */
	text = section(dsn, "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n");
	assert_string_equal(text,
	    "This is the Outpost mail program at " ME ".\r\n"
	    "I'm afraid I wasn't able to deliver your message\r\n"
	    "    \"Quarterly report\"\r\n"
	    "to the following addresses.\r\n"
	    "This is a permanent error; I've given up. Sorry it didn't work "
	    "out.\r\n"
	    "\r\n"
	    "Intended Recipients: <user@remote.test>, <x@nullmx.test>\r\n"
	    "Failure Reason: Some recipients failed\r\n"
	    "\r\n"
	    "<user@remote.test>: 550 5.1.1 No such user\r\n"
	    "<x@nullmx.test>: 550 5.1.2 Domain nullmx.test sends and receives "
	    "no email (NULL MX)\r\n");
	free(text);

	/* The delivery-status fields, exactly. */
	ds = section(dsn, "Content-Type: message/delivery-status\r\n\r\n");
	want = xasprintf(
	    "Reporting-MTA: dns;" ME "\r\n"
	    "Arrival-Date: %s\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822;user@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns;mx1.remote.test\r\n"
	    "Diagnostic-Code: smtp;550 5.1.1 No such user\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822;x@nullmx.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.2 (550 Domain nullmx.test sends and receives no "
	    "email (NULL MX))\r\n", arrival);
	assert_string_equal(ds, want);
	free(want);
	free(ds);

	/* The original, in full, then the closing delimiter. */
	s = strstr(dsn, "Content-Type: message/rfc822\r\n\r\n");
	assert_non_null(s);
	s += strlen("Content-Type: message/rfc822\r\n\r\n");
	assert_memory_equal(s, orig_msg, strlen(orig_msg));
	assert_prefix(s + strlen(orig_msg), "\r\n--boundary_");
	assert_int_equal(strlen(s + strlen(orig_msg)),
	    strlen("\r\n--boundary_--\r\n") + UUID_LEN);

	python_verify(dsn, orig_msg, "text/plain", "failure notice",
	    two_rcpts, 2);
	free(dsn);
}

/* A large message's view is its header section: returned as
 * text/rfc822-headers (RFC 6522), not as a message/rfc822 it is not. */
static void
test_dsn_headers_only(void **state)
{
	static const char head[] = "From: a@b\r\nSubject: big\r\n"
	    "Message-Id: <big@b>\r\n\r\n";
	struct dsn_params p = base_params(head);
	char *dsn;

	(void)state;
	p.headers_only = 1;
	dsn = build(&p);
	assert_crlf_only(dsn);
	assert_null(strstr(dsn, "message/rfc822"));
	assert_non_null(strstr(dsn, "Content-Type: text/rfc822-headers\r\n"
	    "\r\nFrom: a@b\r\nSubject: big\r\nMessage-Id: <big@b>\r\n"));
	assert_non_null(strstr(dsn, "References: <big@b>\r\n"));
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	free(dsn);
	p.headers_only = 0;
	dsn = build(&p);
	assert_non_null(strstr(dsn, "Content-Type: message/rfc822\r\n"));
	free(dsn);
}

/* RFC 6533: SMTPUTF8 mail with a UTF-8 address or header gets
 * message/global-delivery-status (utf-8 address type for a UTF-8
 * recipient) and message/global (or message/global-headers); SMTPUTF8
 * mail all in ASCII, and other mail, keep RFC 3464's types. */
static void
test_dsn_global(void **state)
{
	static const struct dsn_rcpt utf8_rcpt[] = {
		{ "j\xc3\xbcrgen@example.test", "failed", "5.6.7", 550,
		  "SMTPUTF8 is required, but was not offered by host mx", 0,
		  "mx", NULL, NULL },
		{ "ok@example.test", "failed", "5.6.7", 550,
		  "SMTPUTF8 is required, but was not offered by host mx", 0,
		  "mx", NULL, NULL },
	};
	static const char ascii[] = "Subject: hi\r\n\r\nb\r\n";
	static const char utf8[] = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "\r\nb\r\n";
	struct dsn_params p = base_params(ascii);
	char *dsn;

	(void)state;
	p.rcpts = utf8_rcpt;
	p.smtputf8 = 1;
	dsn = build(&p);
	assert_crlf_only(dsn);
	assert_non_null(strstr(dsn, "report-type=delivery-status"));
	assert_non_null(strstr(dsn, "Content-Type: message/global-delivery-"
	    "status\r\n"));
	assert_null(strstr(dsn, "message/delivery-status"));
	assert_non_null(strstr(dsn, "Final-Recipient: utf-8;j\xc3\xbcrgen@"
	    "example.test\r\n"));
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822;ok@example.test"
	    "\r\n"));
	assert_non_null(strstr(dsn, "Status: 5.6.7 (550 SMTPUTF8 is required"));
	assert_non_null(strstr(dsn, "Content-Type: message/global\r\n"));
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	free(dsn);
	/* Headers only. */
	p.headers_only = 1;
	dsn = build(&p);
	assert_non_null(strstr(dsn, "Content-Type: message/global-headers"
	    "\r\n"));
	free(dsn);
	/* ASCII addresses, a UTF-8 header. */
	p = base_params(utf8);
	p.smtputf8 = 1;
	dsn = build(&p);
	assert_non_null(strstr(dsn, "message/global-delivery-status"));
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822;user@remote."
	    "test"));
	free(dsn);
	/* An IDN sender: To: with its A-labels (the header stays ASCII); a
	 * UTF-8 local part stays as it is. */
	p = base_params(ascii);
	p.smtputf8 = 1;
	p.mail_from = "s@b\xc3\xbc" "cher.test";
	dsn = build(&p);
	assert_non_null(strstr(dsn, "\r\nTo: <s@xn--bcher-kva.test>\r\n"));
	free(dsn);
	p.mail_from = "j\xc3\xbcrgen@example.test";
	dsn = build(&p);
	assert_non_null(strstr(dsn, "\r\nTo: <j\xc3\xbcrgen@example.test>"
	    "\r\n"));
	free(dsn);
	/* All ASCII, or not SMTPUTF8 mail: the classic types. */
	p = base_params(ascii);
	p.smtputf8 = 1;
	dsn = build(&p);
	assert_null(strstr(dsn, "global"));
	assert_non_null(strstr(dsn, "Content-Type: message/delivery-status"));
	free(dsn);
	p = base_params(utf8);
	dsn = build(&p);
	assert_null(strstr(dsn, "global"));
	assert_non_null(strstr(dsn, "Content-Type: message/rfc822\r\n"));
	free(dsn);
}

static void
test_dsn_missing_values(void **state)
{
	static const char nosubj[] = "From: a@b\r\nTo: c@d\r\n\r\nhi\r\n";
	static const struct dsn_rcpt r[] = {
		{ "c@d", NULL, NULL, 450, "Temporary MX lookup error for d", 0,
		  NULL, NULL, NULL },
		{ "e@f", "failed", "5.4.4", 0, "Unbalanced ) paren\\", 0, NULL,
		  NULL, NULL },
		{ "g@h", NULL, NULL, 554, "Rejected\r\nX-Evil: 1", 1, "mx.h",
		  "", NULL },
		/* Retries ran out on a reply without an enhanced code: the
		 * derived status, the remote's own words. */
		{ "i@j", "failed", "5.0.0", 450, "mailbox busy", 1, "mx.j",
		  NULL, "" },
	};
	struct dsn_params p = base_params(nosubj);
	char *dsn, *ds;

	(void)state;
	p.rcpts = r;
	p.n = 4;
	p.reason = NULL;
	p.tmpl = "Subject: [{subject}] {reason}\n\n"
	    "s={subject} r={reason} x={extended_reason} u={unknown} "
	    "{not a var} {} {\n";
	dsn = build(&p);
	assert_crlf_only(dsn);
	assert_non_null(strstr(dsn, "Subject: [?] ?\r\n"));
	assert_non_null(strstr(dsn, "\r\n\r\ns=? r=? x=? u=? {not a var} {} "
	    "{\r\n"));
	/* No Message-Id in the original: no References. */
	assert_null(strstr(dsn, "References:"));
	/* Action and Status derived from the code. */
	ds = section(dsn, "Content-Type: message/delivery-status\r\n\r\n");
	assert_non_null(strstr(ds, "\r\nFinal-Recipient: rfc822;c@d\r\n"
	    "Action: delayed\r\nStatus: 4.0.0 (450 Temporary MX lookup error "
	    "for d)\r\n"));
	assert_non_null(strstr(ds, "\r\nFinal-Recipient: rfc822;e@f\r\n"
	    "Action: failed\r\nStatus: 5.4.4 (Unbalanced \\) paren\\\\)\r\n"
	    "\r\n"));
	assert_non_null(strstr(ds, "\r\nFinal-Recipient: rfc822;g@h\r\n"
	    "Action: failed\r\nStatus: 5.0.0\r\nRemote-MTA: dns;mx.h\r\n"
	    "Diagnostic-Code: smtp;554 Rejected  X-Evil: 1\r\n"));
	assert_non_null(strstr(ds, "\r\nFinal-Recipient: rfc822;i@j\r\n"
	    "Action: failed\r\nStatus: 5.0.0\r\nRemote-MTA: dns;mx.j\r\n"
	    "Diagnostic-Code: smtp;450 mailbox busy\r\n"));
	assert_int_equal(count(ds, "Diagnostic-Code"), 2);
	free(ds);
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	free(dsn);
}

static void
test_dsn_template_line_ends(void **state)
{
	static const char lf[] = "From: MAILER-DAEMON@{me}\nTo: {to}\n"
	    "Subject: failure notice\n\nbody {recipients}\n{extended_reason}\n";
	static const char crlf[] = "From: MAILER-DAEMON@{me}\r\nTo: {to}\r\n"
	    "Subject: failure notice\r\n\r\nbody {recipients}\r\n"
	    "{extended_reason}\r\n";
	struct dsn_params p = base_params(orig_msg);
	char *a, *b, *ma, *mb;

	(void)state;
	p.tmpl = lf;
	a = build(&p);
	p.tmpl = crlf;
	b = build(&p);
	assert_crlf_only(a);
	assert_crlf_only(b);
	ma = mask_uuids(a);
	mb = mask_uuids(b);
	assert_string_equal(ma, mb);
	assert_prefix(a, "From: MAILER-DAEMON@" ME "\r\nTo: "
	    "<sender@client.test>\r\nSubject: failure notice\r\n"
	    "MIME-Version: 1.0\r\n");
	assert_non_null(strstr(a, "\r\n\r\nbody <user@remote.test>, "
	    "<x@nullmx.test>\r\n<user@remote.test>: 550 5.1.1 No such user"
	    "\r\n<x@nullmx.test>: "));
	free(ma);
	free(mb);
	free(a);
	free(b);

	/* The embedded default equals config/outbound.bounce_message. */
	p.tmpl = NULL;
	a = build(&p);
	assert_non_null(strstr(a, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(a, "This is the Outpost mail program at "));
	free(a);
}

static const char html_tmpl[] =
	"<html><body>\n"
	"<p>Subject: {subject} from {from}</p>\n"
	"<p>{reason}|{unknown}|{extended_reason}</p>\n"
	"</body></html>\n";

static const char image_file[] =
	"Content-Type: image/png\n"
	"Content-Transfer-Encoding: base64\n"
	"Content-ID: <logo@outpost.test>\n"
	"\n"
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
	"hgGAWjR9awAAAABJRU5ErkJggg==\n";

static void
test_dsn_html(void **state)
{
	struct dsn_params p = base_params(orig_msg);
	char *dsn, *html;

	(void)state;
	p.reason = "it's <bad> & \"worse\"";
	p.tmpl_html = html_tmpl;
	dsn = build(&p);
	assert_crlf_only(dsn);
	assert_int_equal(assert_boundaries_closed(dsn), 2);
	assert_non_null(strstr(dsn, "Content-Type: multipart/alternative;"));
	assert_null(strstr(dsn, "multipart/related"));
	html = section(dsn, "Content-Type: text/html; charset=us-ascii\r\n"
	    "\r\n");
	assert_string_equal(html,
	    "<html><body>\r\n"
	    "<p>Subject: Quarterly report from &lt;&gt;</p>\r\n"
	    "<p>it&apos;s &lt;bad&gt; &amp; &quot;worse&quot;|?|"
	    "&lt;user@remote.test&gt;: 550 5.1.1 No such user&#10;"
	    "&lt;x@nullmx.test&gt;: 550 5.1.2 Domain nullmx.test sends and "
	    "receives no email (NULL MX)</p>\r\n"
	    "</body></html>\r\n");
	free(html);
	python_verify(dsn, orig_msg, "multipart/alternative", "failure notice",
	    two_rcpts, 2);
	free(dsn);

	/* A known empty value stays empty in HTML; CR is &#13;. */
	p.reason = "a\r\nb";
	p.msg = "From: x\r\n\r\n";
	p.msglen = strlen(p.msg);
	dsn = build(&p);
	html = section(dsn, "Content-Type: text/html; charset=us-ascii\r\n"
	    "\r\n");
	assert_non_null(strstr(html, "<p>Subject:  from &lt;&gt;</p>"));
	assert_non_null(strstr(html, "<p>a&#13;&#10;b|?|"));
	free(html);
	free(dsn);

	/* With an image: multipart/related around the alternative. */
	p = base_params(orig_msg);
	p.tmpl_html = html_tmpl;
	p.tmpl_image = image_file;
	dsn = build(&p);
	assert_crlf_only(dsn);
	assert_int_equal(assert_boundaries_closed(dsn), 3);
	assert_non_null(strstr(dsn, "Content-Type: multipart/related; "
	    "type=\"multipart/alternative\";"));
	assert_non_null(strstr(dsn, "\r\nContent-Type: image/png\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-ID: <logo@outpost.test>\r\n\r\niVBOR"));
	python_verify(dsn, orig_msg, "multipart/related", "failure notice",
	    two_rcpts, 2);
	free(dsn);

	/* One-line HTML: not used; an image without HTML: not used. */
	p.tmpl_html = "<p>{subject}</p>\n";
	dsn = build(&p);
	assert_null(strstr(dsn, "text/html"));
	assert_null(strstr(dsn, "image/png"));
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	free(dsn);
	p.tmpl_html = NULL;
	dsn = build(&p);
	assert_null(strstr(dsn, "image/png"));
	free(dsn);
}

static void
test_dsn_header_injection(void **state)
{
	static const char evil[] =
	    "Message-Id: <m@x>\r\n"
	    "Subject: =?UTF-8?Q?hi=0D=0ABcc:_victim@evil.test=0D=0A?=\r\n"
	    "\r\nbody\r\n";
	struct dsn_params p = base_params(evil);
	char *dsn, *hdr;

	(void)state;
	p.reason = "bad\r\nX-Injected: 1";
	p.tmpl = "Subject: failure: {subject}\n"
	    "X-Reason: {reason}\n"
	    "X-Extended: {extended_reason}\n"
	    "\n"
	    "Subject was {subject}.\n";
	dsn = build(&p);
	assert_crlf_only(dsn);
	hdr = dsn_headers(dsn);
	assert_null(strstr(hdr, "\r\nBcc:"));
	assert_null(strstr(hdr, "\r\nX-Injected:"));
	assert_null(strstr(hdr, "\r\n<x@nullmx.test>:"));
	assert_prefix(hdr, "Subject: failure: hi  Bcc: victim@evil.test\r\n");
	assert_non_null(strstr(hdr, "\r\nX-Reason: bad  X-Injected: 1\r\n"));
	free(hdr);
	/* In the body a value's line breaks are lines of the body. */
	assert_non_null(strstr(dsn, "\r\n\r\nSubject was hi\r\n"
	    "Bcc: victim@evil.test.\r\n"));
	assert_int_equal(assert_boundaries_closed(dsn), 1);
	free(dsn);
}

static void
test_dsn_non_ascii_subject(void **state)
{
	static const char utf[] =
	    "Message-Id: <u@x>\r\n"
	    "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
	    "\r\nbody \xc3\xa9\r\n";
	static const char longsubj[] =
	    "Subject: =?UTF-8?Q?=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_"
	    "=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t"
	    "=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_=C3=A9t=C3=A9_"
	    "=C3=A9t=C3=A9_=C3=A9t=C3=A9?=\r\n\r\nx\r\n";
	struct dsn_params p = base_params(utf);
	char *dsn, *hdr, *text;
	struct buf want = BUF_INIT;
	const char *s, *e;

	(void)state;
	p.tmpl = "From: MAILER-DAEMON@{me}\n"
	    "Subject: failure notice: {subject}\n"
	    "\n"
	    "This is the Outpost mail program at {me}.\n"
	    "Your message \"{subject}\" failed.\n";
	dsn = build(&p);
	assert_crlf_only(dsn);
	hdr = dsn_headers(dsn);
	assert_non_null(strstr(hdr, "Subject: failure notice: "
	    "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"));
	for (s = hdr; *s; s++)
		assert_true((unsigned char)*s < 0x80);
	free(hdr);
	text = section(dsn, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	assert_non_null(strstr(text, "Your message \"Gr\xc3\xbc\xc3\x9f" "e aus "
	    "K\xc3\xb6ln\" failed.\r\n"));
	free(text);
	/* The 8-bit original is labelled so. */
	assert_non_null(strstr(dsn, "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	python_verify(dsn, utf, "text/plain", "failure notice: "
	    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", two_rcpts, 2);
	free(dsn);

	/* A long one: several encoded-words, folded, UTF-8 never split. */
	p = base_params(longsubj);
	p.tmpl = "From: MAILER-DAEMON@{me}\nSubject: failure notice: "
	    "{subject}\n\nThis is the Outpost mail program at {me}.\n";
	dsn = build(&p);
	assert_crlf_only(dsn);
	hdr = dsn_headers(dsn);
	for (s = hdr; (e = strstr(s, "\r\n")) != NULL; s = e + 2)
		assert_true(e - s <= 78);
	assert_true(count(hdr, "=?UTF-8?B?") >= 2);
	free(hdr);
	buf_adds(&want, "failure notice: ");
	for (int i = 0; i < 14; i++)
		buf_adds(&want, i ? " \xc3\xa9t\xc3\xa9" : "\xc3\xa9t\xc3\xa9");
	python_verify(dsn, longsubj, "text/plain", buf_cstr(&want), two_rcpts,
	    2);
	buf_free(&want);
	free(dsn);
}

static void
test_dsn_template_mime_headers(void **state)
{
	struct dsn_params p = base_params(orig_msg);
	char *dsn, *hdr;

	(void)state;
	/* A template's own MIME headers would clash with the report's. */
	p.tmpl = "From: MAILER-DAEMON@{me}\nMIME-Version: 1.0\n"
	    "Content-Type: text/plain;\n charset=us-ascii\n"
	    "Subject: failure notice\n\nbody\n";
	dsn = build(&p);
	hdr = dsn_headers(dsn);
	assert_int_equal(count(hdr, "MIME-Version:"), 1);
	assert_int_equal(count(hdr, "Content-Type:"), 1);
	assert_null(strstr(hdr, "charset"));
	assert_non_null(strstr(hdr, "\r\nSubject: failure notice\r\n"));
	free(hdr);
	free(dsn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_len),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_decode_2047),
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_dsn_two_rcpts),
		cmocka_unit_test(test_dsn_missing_values),
		cmocka_unit_test(test_dsn_global),
		cmocka_unit_test(test_dsn_headers_only),
		cmocka_unit_test(test_dsn_template_line_ends),
		cmocka_unit_test(test_dsn_html),
		cmocka_unit_test(test_dsn_header_injection),
		cmocka_unit_test(test_dsn_non_ascii_subject),
		cmocka_unit_test(test_dsn_template_mime_headers),
	};

	return cmocka_run_group_tests_name("bounce", tests, NULL, NULL);
}
