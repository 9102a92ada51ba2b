/*
 * fbreport: one piece of feedback mail into struct fb_report. GMime 3
 * parses the MIME tree and decodes the parts (base64, quoted-printable,
 * a message/rfc822 sent encoded); this file finds the report's parts and
 * reads their fields: the message/(global-)delivery-status blocks (RFC
 * 3464, 6533), the message/feedback-report fields (RFC 5965), the original
 * message's headers. Mail with neither goes to the plain-text reader
 * (fbreport_text.c). Input that nests MIME beyond reason is read as text
 * only; the tree walk and every text pass are bounded. The only shared
 * state is GMime's initialisation, done once (pthread_once).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/fbreport.h"
#include "proto/fbreport_text.h"

#define FB_DEPTH_MAX	8	/* multipart levels walked */
#define FB_PARTS_MAX	64	/* MIME parts looked at */
#define FB_CTYPES_MAX	1000	/* Content-Type headers before MIME is
				 * not parsed at all (nesting bombs) */
#define FB_TEXT_MAX	(512 * 1024)	/* bytes of text kept per kind */
#define FB_RCPTS_MAX	512	/* recipients in one report */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_init(void)
{
	g_mime_init();
}

/* The parts a report is made of. */
struct parts {
	GMimeObject	*dsn;		/* message/(global-)delivery-status */
	GMimeObject	*arf;		/* message/feedback-report */
	GMimeObject	*orig;		/* message/rfc822, message/global */
	GMimeObject	*orig_hdrs;	/* text/rfc822-headers and global */
	struct buf	 text;		/* text/plain parts, decoded */
	struct buf	 html;		/* text/html parts, tags removed */
	int		 seen;
};

static void
set_once(char **dst, char *v)
{
	if (*dst == NULL)
		*dst = v;
	else
		free(v);
}

/* The report's own headers that are not in struct fb_report. */
struct top {
	char	*to;		/* To, bare */
	char	*failed;	/* X-Failed-Recipients (Exim, Gmail) */
};

/* A new, zeroed recipient at the end of r->rcpts; NULL at the cap. */
static struct fb_rcpt *
add_rcpt(struct fb_report *r)
{
	struct fb_rcpt *rc;

	if (r->nrcpts >= FB_RCPTS_MAX)
		return NULL;
	r->rcpts = xreallocarray(r->rcpts, r->nrcpts + 1, sizeof(*r->rcpts));
	rc = &r->rcpts[r->nrcpts++];
	memset(rc, 0, sizeof(*rc));
	return rc;
}

static int
is(const char *a, const char *b)
{
	return a != NULL && strcasecmp(a, b) == 0;
}

/* The decoded content of a leaf part, appended to out (up to max). */
static void
part_bytes(GMimeObject *o, struct buf *out, size_t max)
{
	GMimeDataWrapper *w;
	GMimeStream *ms;
	GByteArray *ba;

	if (!GMIME_IS_PART(o) || out->len >= max ||
	    (w = g_mime_part_get_content((GMimePart *)o)) == NULL)
		return;
	ms = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, ms);
	ba = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)ms);
	if (ba != NULL && ba->len > 0)
		buf_add(out, ba->data, ba->len < max - out->len ?
		    ba->len : max - out->len);
	g_object_unref(ms);
}

/* An HTML character reference at h: appends what it stands for (itself
 * when unknown); returns the bytes it takes. */
static size_t
entity(struct buf *out, const char *h, size_t n)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' },
		{ "&quot;", '"' }, { "&#39;", '\'' }, { "&apos;", '\'' },
		{ "&nbsp;", ' ' }, { "&#160;", ' ' },
	};

	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t l = strlen(ents[i].name);

		if (n >= l && strncasecmp(h, ents[i].name, l) == 0) {
			buf_addc(out, ents[i].c);
			return l;
		}
	}
	buf_addc(out, '&');
	return 1;
}

/* HTML as text: tags dropped, a line break for each block tag. */
static void
add_html(struct buf *out, const char *h, size_t n, size_t max)
{
	static const char *const breaks[] = { "br", "p>", "p ", "/p",
	    "div", "/div", "tr", "li", NULL };
	int tag = 0;

	for (size_t i = 0; i < n && out->len < max; i++) {
		if (h[i] == '<') {
			tag = 1;
			for (const char *const *b = breaks; *b != NULL; b++)
				if (n - i - 1 >= strlen(*b) && strncasecmp(h + i + 1,
				    *b, strlen(*b)) == 0) {
					buf_addc(out, '\n');
					break;
				}
		} else if (tag)
			tag = h[i] != '>';
		else if (h[i] == '&')
			i += entity(out, h + i, n - i) - 1;
		else
			buf_addc(out, h[i]);
	}
}

static void
walk(struct parts *w, GMimeObject *o, int depth)
{
	GMimeContentType *ct;
	const char *type, *sub;

	if (o == NULL || depth > FB_DEPTH_MAX || ++w->seen > FB_PARTS_MAX)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		int n = g_mime_multipart_get_count((GMimeMultipart *)o);

		for (int i = 0; i < n; i++)
			walk(w, g_mime_multipart_get_part((GMimeMultipart *)o,
			    i), depth + 1);
		return;
	}
	ct = g_mime_object_get_content_type(o);
	type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
	sub = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
	if (type == NULL || sub == NULL)
		type = "text", sub = "plain";
	if (is(type, "message")) {
		if (is(sub, "delivery-status") ||
		    is(sub, "global-delivery-status")) {
			if (w->dsn == NULL)
				w->dsn = o;
		} else if (is(sub, "feedback-report")) {
			if (w->arf == NULL)
				w->arf = o;
		} else if (is(sub, "rfc822") || is(sub, "global")) {
			if (w->orig == NULL)
				w->orig = o;
		} else if (is(sub, "global-headers") && w->orig_hdrs == NULL)
			w->orig_hdrs = o;
		return;
	}
	if (!is(type, "text"))
		return;
	if (is(sub, "rfc822-headers")) {
		if (w->orig_hdrs == NULL)
			w->orig_hdrs = o;
	} else if (is(sub, "html")) {
		struct buf h = BUF_INIT;

		part_bytes(o, &h, FB_TEXT_MAX);
		add_html(&w->html, h.p, h.len, FB_TEXT_MAX);
		buf_addc(&w->html, '\n');
		buf_free(&h);
	} else if (w->text.len < FB_TEXT_MAX) {
		part_bytes(o, &w->text, FB_TEXT_MAX);
		buf_addc(&w->text, '\n');
	}
}

/* The Outpost id in a Received header: "by host (Outpost) with ESMTP id
 * <id>; date". */
static char *
outpost_id(const char *v)
{
	const char *p = strcasestr(v, "(Outpost) with "), *e;

	if (p == NULL)
		return NULL;
	p += 15;
	p += strcspn(p, " ;");
	p += strspn(p, " ");
	if (strncasecmp(p, "id ", 3) != 0)
		return NULL;
	p += 3 + strspn(p + 3, " ");
	e = p + strcspn(p, " \t;");
	return e > p ? xstrndup(p, (size_t)(e - p)) : NULL;
}

/* The first mailbox of an address list ("A <a@b>, \"C, D\" <c@d>"). */
static char *
first_addr(const char *v)
{
	InternetAddressList *l = internet_address_list_parse(NULL, v);
	char *a = NULL;

	for (int i = 0; l != NULL && a == NULL &&
	    i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		const char *s;

		if (INTERNET_ADDRESS_IS_MAILBOX(ia) && (s =
		    internet_address_mailbox_get_addr(
		    (InternetAddressMailbox *)ia)) != NULL && *s != '\0')
			a = xstrdup(s);
	}
	if (l != NULL)
		g_object_unref(l);
	return a != NULL ? a : fbt_addr(v);
}

static char *
decoded_text(const char *v)
{
	char *g = g_mime_utils_header_decode_text(NULL, v), *s;

	s = xstrdup(g != NULL ? g : v);
	g_free(g);
	return s;
}

/* One header block: the original message's headers (orig != 0) or the
 * report's own. */
static void
read_headers(struct fb_report *r, const char *t, size_t n, int orig,
    struct top *top)
{
	const char *p = t, *end;
	char name[FBT_NAME_MAX], *v;
	int rc, seen = 0;

	if (n == 0)
		return;
	end = t + n;
	while ((rc = fbt_next_field(&p, end, name, &v)) >= 0) {
		if (rc == 0) {
			if (seen)
				break;
			continue;
		}
		seen = 1;
		if (is(name, "Message-ID"))
			set_once(orig ? &r->orig_message_id : &r->message_id,
			    fbt_msgid(v));
		else if (is(name, "From"))
			set_once(orig ? &r->orig_from : &r->from,
			    first_addr(v));
		else if (is(name, "Subject"))
			set_once(orig ? &r->orig_subject : &r->subject,
			    decoded_text(v));
		else if (is(name, "To") && orig)
			set_once(&r->orig_to, first_addr(v));
		else if (is(name, "To") && top != NULL && top->to == NULL)
			top->to = first_addr(v);
		else if (is(name, "X-Failed-Recipients") && top != NULL &&
		    top->failed == NULL)
			top->failed = xstrdup(v);
		else if (is(name, "Return-Path") && orig)
			set_once(&r->orig_return_path, fbt_addr(v));
		else if (is(name, "Received") && orig)
			set_once(&r->orig_queue_id, outpost_id(v));
		free(v);
	}
}

static void
read_original(struct fb_report *r, struct parts *w)
{
	struct buf h = BUF_INIT;

	if (w->orig != NULL && GMIME_IS_MESSAGE_PART(w->orig)) {
		GMimeMessage *m = g_mime_message_part_get_message(
		    (GMimeMessagePart *)w->orig);
		char *s = m != NULL ? g_mime_object_get_headers(
		    (GMimeObject *)m, NULL) : NULL;

		if (s != NULL)
			buf_adds(&h, s);
		g_free(s);
	} else if (w->orig != NULL)
		part_bytes(w->orig, &h, FB_TEXT_MAX);	/* sent encoded */
	if (h.len == 0 && w->orig_hdrs != NULL)
		part_bytes(w->orig_hdrs, &h, FB_TEXT_MAX);
	read_headers(r, h.p, h.len, 1, NULL);
	buf_free(&h);
}

/* An MTA name without its type, comment or final dot: "dns;
 * mx.example.com. (192.0.2.25, the server for ...)" is mx.example.com. */
static char *
mta_name(const char *v)
{
	char *s = fbt_untyped(v);
	size_t n;

	if (s == NULL)
		return NULL;
	n = strcspn(s, "(");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '.'))
		n--;
	s[n] = '\0';
	if (n == 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int
rcpt_field(const char *n)
{
	return is(n, "Original-Recipient") || is(n, "Final-Recipient") ||
	    is(n, "Action") || is(n, "Status") || is(n, "Remote-MTA") ||
	    is(n, "Diagnostic-Code") || is(n, "Last-Attempt-Date") ||
	    is(n, "Final-Log-ID") || is(n, "Will-Retry-Until");
}

/* xtext (RFC 3461 4.2) of an rfc822 Original-Recipient: "+2B" is '+'. */
static char *
unxtext(char *a)
{
	char *o = a;

	for (const char *p = a; *p; p++) {
		if (*p == '+' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			char hex[3] = { p[1], p[2], '\0' };

			*o++ = (char)strtol(hex, NULL, 16);
			p += 2;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return a;
}

static char *
first_word_lower(const char *v)
{
	size_t n = strcspn(v, " \t;(");
	char *s;

	if (n == 0)
		return NULL;
	s = xstrndup(v, n);
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return s;
}

static void
rcpt_set(struct fb_rcpt *rc, const char *name, const char *v)
{
	char st[16];

	if (is(name, "Original-Recipient")) {
		char *a = fbt_addr(v);

		set_once(&rc->original_recipient,
		    a != NULL && strncasecmp(v, "rfc822", 6) == 0 ?
		    unxtext(a) : a);
	} else if (is(name, "Final-Recipient"))
		set_once(&rc->final_recipient, fbt_addr(v));
	else if (is(name, "Action"))
		set_once(&rc->action, first_word_lower(v));
	else if (is(name, "Status")) {
		fbt_codes(v, strlen(v), st);
		if (st[0] != '\0')
			set_once(&rc->status, xstrdup(st));
	} else if (is(name, "Remote-MTA"))
		set_once(&rc->remote_mta, mta_name(v));
	else if (is(name, "Diagnostic-Code"))
		set_once(&rc->diagnostic, fbt_untyped(v));
}

static void
rcpt_clear(struct fb_rcpt *rc)
{
	free(rc->final_recipient);
	free(rc->original_recipient);
	free(rc->action);
	free(rc->status);
	free(rc->diagnostic);
	free(rc->remote_mta);
}

/* The fields of a delivery-status body: per-message fields, then one
 * block per recipient. Tolerates a missing empty line between blocks
 * (a second Final-Recipient starts a new recipient). Returns how many
 * recipients it read. */
static size_t
read_dsn(struct fb_report *r, const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	char name[FBT_NAME_MAX], *v;
	struct fb_rcpt *cur = NULL;
	size_t first = r->nrcpts, k;
	int rc;

	while ((rc = fbt_next_field(&p, end, name, &v)) >= 0) {
		if (rc == 0) {
			cur = NULL;
			continue;
		}
		if (is(name, "Reporting-MTA"))
			set_once(&r->reporting_mta, mta_name(v));
		else if (is(name, "Arrival-Date"))
			set_once(&r->arrival_date, xstrdup(v));
		else if (rcpt_field(name)) {
			if (cur == NULL || (is(name, "Final-Recipient") &&
			    cur->final_recipient != NULL) ||
			    (is(name, "Original-Recipient") &&
			    cur->original_recipient != NULL))
				cur = add_rcpt(r);
			if (cur == NULL) {
				free(v);
				break;
			}
			rcpt_set(cur, name, v);
		}
		free(v);
	}
	/* Keep the recipients that name an address; codes from the
	 * diagnostic. */
	for (size_t i = k = first; i < r->nrcpts; i++) {
		struct fb_rcpt *x = &r->rcpts[i];
		char st[16];

		if (x->final_recipient == NULL &&
		    x->original_recipient == NULL) {
			rcpt_clear(x);
			continue;
		}
		if (x->diagnostic != NULL) {
			x->code = fbt_codes(x->diagnostic,
			    strlen(x->diagnostic), st);
			if (x->status == NULL && st[0] != '\0')
				x->status = xstrdup(st);
		}
		/* A broken report without Action: its status's class says. */
		if (x->action == NULL && x->status != NULL)
			x->action = xstrdup(x->status[0] == '5' ? "failed" :
			    x->status[0] == '4' ? "delayed" : "delivered");
		r->rcpts[k++] = *x;
	}
	r->nrcpts = k;
	return k - first;
}

/* The feedback-report fields; 1 when it has any. */
static int
read_arf(struct fb_report *r, const char *t, size_t n)
{
	const char *p = t, *end = t + n;
	char name[FBT_NAME_MAX], *v;
	int rc, any = 0;

	while ((rc = fbt_next_field(&p, end, name, &v)) >= 0) {
		if (rc == 0)
			continue;
		any |= is(name, "Feedback-Type") || is(name, "User-Agent") ||
		    is(name, "Version") || is(name, "Original-Mail-From") ||
		    is(name, "Original-Rcpt-To") || is(name, "Source-IP");
		if (is(name, "Feedback-Type"))
			set_once(&r->feedback_type, first_word_lower(v));
		else if (is(name, "User-Agent"))
			set_once(&r->user_agent, xstrdup(v));
		else if (is(name, "Original-Mail-From"))
			set_once(&r->original_mail_from, fbt_addr(v));
		else if (is(name, "Original-Rcpt-To"))
			set_once(&r->original_rcpt_to, fbt_addr(v));
		else if (is(name, "Arrival-Date") || is(name, "Received-Date"))
			set_once(&r->arrival_date, xstrdup(v));
		else if (is(name, "Source-IP"))
			set_once(&r->source_ip, first_word_lower(v));
		else if (is(name, "Reported-Domain"))
			set_once(&r->reported_domain, first_word_lower(v));
		else if (is(name, "Reporting-MTA"))
			set_once(&r->reporting_mta, mta_name(v));
		free(v);
	}
	if (r->original_rcpt_to != NULL) {
		struct fb_rcpt *rc0 = add_rcpt(r);

		if (rc0 != NULL)
			rc0->final_recipient = xstrdup(r->original_rcpt_to);
	}
	return any;
}

/* Delivery-status fields in a bounce's text (a report part sent with the
 * wrong type, or quoted): from its first Reporting-MTA or recipient
 * field. */
static size_t
dsn_in_text(struct fb_report *r, const char *t, size_t n)
{
	static const char *const starts[] = { "Reporting-MTA:",
	    "Original-Recipient:", "Final-Recipient:" };
	const char *p = t, *end = t + n, *e;

	for (; p < end; p = e + 1) {
		e = memchr(p, '\n', (size_t)(end - p));
		if (e == NULL)
			e = end;
		for (size_t i = 0; i < 3; i++)
			if ((size_t)(e - p) >= strlen(starts[i]) &&
			    strncasecmp(p, starts[i], strlen(starts[i])) == 0)
				return read_dsn(r, p, (size_t)(end - p));
	}
	return 0;
}

static void
add_plain(struct fb_report *r, struct fbt_rcpt *x)
{
	struct fb_rcpt *rc = add_rcpt(r);

	if (rc == NULL) {
		free(x->addr);
		free(x->action);
		free(x->status);
		free(x->diagnostic);
		return;
	}
	rc->final_recipient = x->addr;
	rc->action = x->action;
	rc->status = x->status;
	rc->code = x->code;
	rc->diagnostic = x->diagnostic;
}

/* Failed recipients from a bounce's text (or its X-Failed-Recipients). */
static size_t
read_plain(struct fb_report *r, const struct top *top, const char *t,
    size_t n)
{
	const char *mine[] = { r->from, top->to, r->orig_from,
	    r->orig_return_path };
	struct fbt_rcpt *v = NULL;
	size_t first = r->nrcpts, nv;

	nv = fbt_plain(mine, sizeof(mine) / sizeof(mine[0]), top->failed, t,
	    n, &v, FB_RCPTS_MAX - r->nrcpts);
	for (size_t i = 0; i < nv; i++)
		add_plain(r, &v[i]);
	free(v);
	return r->nrcpts - first;
}

/* Content-Type headers in raw input (a bound on MIME nesting). */
static size_t
count_ctypes(const char *m, size_t n, size_t max)
{
	size_t c = 0;

	for (size_t i = 0; i + 12 <= n && c <= max; i++)
		if ((m[i] == 'c' || m[i] == 'C') &&
		    strncasecmp(m + i, "content-type", 12) == 0)
			c++;
	return c;
}

static enum fb_kind
read_parts(struct fb_report *r, struct parts *w, const char *report_type,
    const struct top *top)
{
	struct buf dsn = BUF_INIT, arf = BUF_INIT, *text;
	enum fb_kind k = FB_UNKNOWN;
	size_t o;

	read_original(r, w);
	if (w->dsn != NULL)
		part_bytes(w->dsn, &dsn, FB_TEXT_MAX);
	if (w->arf != NULL)
		part_bytes(w->arf, &arf, FB_TEXT_MAX);
	if (is(report_type, "feedback-report") && arf.len > 0 &&
	    read_arf(r, arf.p, arf.len))
		k = FB_ARF;
	else if (dsn.len > 0 && read_dsn(r, dsn.p, dsn.len) > 0)
		k = FB_DSN;
	else if (arf.len > 0 && read_arf(r, arf.p, arf.len))
		k = FB_ARF;
	text = w->text.len > 0 ? &w->text : &w->html;
	if (dsn.len > 0)
		buf_add(text, dsn.p, dsn.len);
	if (k == FB_UNKNOWN && text->len > 0) {
		if (r->orig_message_id == NULL && r->orig_from == NULL &&
		    (o = fbt_original(text->p, text->len)) < text->len)
			read_headers(r, text->p + o, text->len - o, 1, NULL);
		if (fbt_is_bounce(r->from, r->subject, text->p, text->len) &&
		    (dsn_in_text(r, text->p, text->len) > 0 ||
		    read_plain(r, top, text->p, text->len) > 0))
			k = FB_PLAIN;
	}
	buf_free(&dsn);
	buf_free(&arf);
	return k;
}

/* The body of raw input that GMime is not given: after the headers. */
static void
raw_body(struct parts *w, const char *msg, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *e = memchr(msg + i, '\n', len - i);
		size_t n = (size_t)((e != NULL ? e : msg + len) - (msg + i));

		if (n == 0 || (n == 1 && msg[i] == '\r')) {
			i += n + 1;
			break;
		}
		i += n + 1;
	}
	if (i < len)
		buf_add(&w->text, msg + i, len - i < FB_TEXT_MAX ?
		    len - i : FB_TEXT_MAX);
}

enum fb_kind
fb_report_parse(const char *msg, size_t len, struct fb_report *r)
{
	struct parts w;
	struct top top = { NULL, NULL };
	const char *report_type = NULL;
	GMimeStream *s = NULL;
	GMimeParser *p = NULL;
	GMimeMessage *m = NULL;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	if (msg == NULL)
		len = 0;
	pthread_once(&gmime_once, gmime_init);
	read_headers(r, msg, len, 0, &top);
	if (len > 0 && count_ctypes(msg, len, FB_CTYPES_MAX) <= FB_CTYPES_MAX) {
		s = g_mime_stream_mem_new_with_buffer(msg, len);
		p = g_mime_parser_new_with_stream(s);
		m = g_mime_parser_construct_message(p, NULL);
	}
	if (m != NULL && g_mime_message_get_mime_part(m) != NULL) {
		GMimeObject *part = g_mime_message_get_mime_part(m);
		GMimeContentType *ct = g_mime_object_get_content_type(part);

		if (ct != NULL)
			report_type = g_mime_content_type_get_parameter(ct,
			    "report-type");
		walk(&w, part, 0);
	} else
		raw_body(&w, msg, len);
	r->kind = read_parts(r, &w, report_type, &top);
	if (m != NULL)
		g_object_unref(m);
	if (p != NULL)
		g_object_unref(p);
	if (s != NULL)
		g_object_unref(s);
	buf_free(&w.text);
	buf_free(&w.html);
	free(top.to);
	free(top.failed);
	return r->kind;
}

void
fb_report_free(struct fb_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrcpts; i++)
		rcpt_clear(&r->rcpts[i]);
	free(r->rcpts);
	free(r->reporting_mta);
	free(r->arrival_date);
	free(r->feedback_type);
	free(r->user_agent);
	free(r->source_ip);
	free(r->original_mail_from);
	free(r->original_rcpt_to);
	free(r->reported_domain);
	free(r->orig_message_id);
	free(r->orig_from);
	free(r->orig_to);
	free(r->orig_subject);
	free(r->orig_return_path);
	free(r->orig_queue_id);
	free(r->from);
	free(r->subject);
	free(r->message_id);
	memset(r, 0, sizeof(*r));
}

const char *
fb_kind_name(enum fb_kind k)
{
	switch (k) {
	case FB_DSN:
		return "dsn";
	case FB_ARF:
		return "arf";
	case FB_PLAIN:
		return "plain";
	case FB_UNKNOWN:
		break;
	}
	return "unknown";
}
