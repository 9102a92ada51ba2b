/*
 * dsn: builds the DSN (RFC 3464 inside RFC 6522's multipart/report):
 * the text of outbound.bounce_message with its {variables}, an optional
 * HTML alternative (+ image, multipart/related), message/delivery-status
 * and the original message as message/rfc822. Pure; everything it
 * allocates is freed before dsn_build returns. Every line ends in CRLF and
 * every boundary opened is closed.
 */
#include "delivery/dsn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/defaults.h"
#include "lib/idn.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "proto/message.h"

#define HDR_FOLD	78	/* fold header lines longer than this */
#define EW_CHUNK	45	/* bytes per encoded-word: 60 base64 chars */
#define DSN_TMPL_NAME	"outbound.bounce_message"

enum var {
	V_PID, V_DATE, V_ME, V_FROM, V_TO, V_SUBJECT, V_RECIPIENTS,
	V_REASON, V_EXTENDED_REASON, V_MSGID, V_COUNT
};

static const char *const var_names[V_COUNT] = {
	"pid", "date", "me", "from", "to", "subject", "recipients",
	"reason", "extended_reason", "msgid"
};

/* Addresses and identifiers: never RFC 2047-encoded (an encoded-word is
 * not allowed in an addr-spec or msg-id; RFC 6532 allows UTF-8 there). */
static const int var_is_address[V_COUNT] = {
	[V_ME] = 1, [V_FROM] = 1, [V_TO] = 1, [V_RECIPIENTS] = 1,
	[V_MSGID] = 1,
};

enum ctx { CTX_HEADER, CTX_TEXT, CTX_HTML };

struct dsn {
	const struct dsn_params	*p;
	struct buf		 val[V_COUNT];
	int			 global;	/* RFC 6533's types */
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

static void
new_boundary(char out[UUID_LEN + 16])
{
	char uuid[UUID_LEN + 1];

	uuid_v4(uuid);
	snprintf(out, UUID_LEN + 16, "boundary_%s", uuid);
}

static void
vars_fill(struct dsn *d)
{
	const struct dsn_params *p = d->p;
	const char *me = p->me != NULL ? p->me : "";
	char date[64], uuid[UUID_LEN + 1];
	struct buf raw = BUF_INIT, dec = BUF_INIT;
	struct slice t;
	int first = 1;

	buf_printf(&d->val[V_PID], "%ld", p->pid);
	date_rfc5322(date, sizeof(date), (time_t)p->now);
	buf_adds(&d->val[V_DATE], date);
	buf_adds(&d->val[V_ME], me);
	buf_adds(&d->val[V_FROM], "<>");
	if (p->mail_from != NULL && p->mail_from[0] != '\0') {
		char *ascii = NULL;

		/* An IDN sender with its A-labels: the DSN's header stays
		 * ASCII, so it can go to a server without SMTPUTF8. */
		if (!idn_is_ascii(p->mail_from))
			(void)idn_addr_ascii(p->mail_from, &ascii);
		buf_printf(&d->val[V_TO], "<%s>", ascii != NULL ? ascii :
		    p->mail_from);
		free(ascii);
	}
	if (p->msg != NULL && msg_header(p->msg, p->msglen, "Subject", &raw)) {
		msg_decode_2047(buf_cstr(&raw), raw.len, &dec);
		t = slice_trim(slice_of(buf_cstr(&dec), dec.len));
		buf_add(&d->val[V_SUBJECT], t.p, t.len);
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];

		buf_printf(&d->val[V_RECIPIENTS], "%s<%s>", i ? ", " : "",
		    r->addr);
		if (r->reason == NULL || r->reason[0] == '\0')
			continue;
		buf_printf(&d->val[V_EXTENDED_REASON], "%s<%s>: %s",
		    first ? "" : "\n", r->addr, r->reason);
		first = 0;
	}
	if (p->reason != NULL)
		buf_adds(&d->val[V_REASON], p->reason);
	uuid_v4(uuid);
	buf_printf(&d->val[V_MSGID], "<%s@%s>", uuid, me);
	buf_free(&raw);
	buf_free(&dec);
}

static int
var_find(const char *name, size_t n)
{
	for (int i = 0; i < V_COUNT; i++)
		if (strlen(var_names[i]) == n &&
		    memcmp(var_names[i], name, n) == 0)
			return i;
	return -1;
}

/* A value in a header line: CR and LF become blanks (no injected line),
 * NULs go, and non-ASCII text becomes RFC 2047 encoded-words. */
static void
add_value_header(struct buf *out, const char *v, size_t n, int encode)
{
	struct buf clean = BUF_INIT;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			buf_addc(&clean, ' ');
		else if (v[i] != '\0')
			buf_addc(&clean, v[i]);
	}
	if (!encode || is_ascii(buf_cstr(&clean), clean.len)) {
		buf_add(out, buf_cstr(&clean), clean.len);
		buf_free(&clean);
		return;
	}
	for (i = 0; i < clean.len; i = k) {
		k = i + EW_CHUNK < clean.len ? i + EW_CHUNK : clean.len;
		/* Never split a UTF-8 sequence between two words. */
		while (k < clean.len && k > i + 1 &&
		    ((unsigned char)clean.p[k] & 0xc0) == 0x80)
			k--;
		buf_adds(out, i ? " =?UTF-8?B?" : "=?UTF-8?B?");
		base64_encode(out, clean.p + i, k - i);
		buf_adds(out, "?=");
	}
	buf_free(&clean);
}

/* A value in the text body: its line breaks become CRLF, NULs go. */
static void
add_value_text(struct buf *out, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r') {
			if (i + 1 < n && v[i + 1] == '\n')
				i++;
			buf_add(out, "\r\n", 2);
		} else if (v[i] == '\n')
			buf_add(out, "\r\n", 2);
		else if (v[i] != '\0')
			buf_addc(out, v[i]);
	}
}

static void
add_value_html(struct buf *out, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (v[i]) {
		case '&':	buf_adds(out, "&amp;"); break;
		case '<':	buf_adds(out, "&lt;"); break;
		case '>':	buf_adds(out, "&gt;"); break;
		case '"':	buf_adds(out, "&quot;"); break;
		case '\'':	buf_adds(out, "&apos;"); break;
		case '\r':	buf_adds(out, "&#13;"); break;
		case '\n':	buf_adds(out, "&#10;"); break;
		case '\0':	break;
		default:	buf_addc(out, v[i]); break;
		}
	}
}

static int
is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* One template line with each {word} replaced, appended to out. */
static void
subst_line(const struct dsn *d, const char *s, size_t n, enum ctx ctx,
    struct buf *out)
{
	size_t i = 0, j;
	int v;

	while (i < n) {
		if (s[i] != '{') {
			buf_addc(out, s[i++]);
			continue;
		}
		for (j = i + 1; j < n && is_word(s[j]); j++)
			;
		if (j == i + 1 || j == n || s[j] != '}') {
			buf_addc(out, s[i++]);
			continue;
		}
		v = var_find(s + i + 1, j - i - 1);
		i = j + 1;
		if (v < 0) {
			buf_addc(out, '?');
			continue;
		}
		if (d->val[v].len == 0) {
			if (ctx != CTX_HTML)
				buf_addc(out, '?');
			continue;
		}
		switch (ctx) {
		case CTX_HEADER:
			add_value_header(out, d->val[v].p, d->val[v].len,
			    !var_is_address[v]);
			break;
		case CTX_TEXT:
			add_value_text(out, d->val[v].p, d->val[v].len);
			break;
		case CTX_HTML:
			add_value_html(out, d->val[v].p, d->val[v].len);
			break;
		}
	}
}

/* A header line, folded before blanks to keep lines near HDR_FOLD. */
static void
add_header_line(struct buf *out, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t start = 0, min = colon ? (size_t)(colon - s) + 2 : 1, k, cut;

	while (n - start > HDR_FOLD) {
		cut = 0;
		for (k = start + HDR_FOLD; k > start && k >= min; k--)
			if (is_wsp(s[k]) && !is_wsp(s[k - 1])) {
				cut = k;
				break;
			}
		for (k = start + HDR_FOLD + 1; cut == 0 && k < n; k++)
			if (k >= min && is_wsp(s[k]) && !is_wsp(s[k - 1]))
				cut = k;
		if (cut == 0)
			break;
		buf_add(out, s + start, cut - start);
		buf_add(out, "\r\n", 2);
		start = cut;
	}
	buf_add(out, s + start, n - start);
	buf_add(out, "\r\n", 2);
}

/* Lines of a file as Haraka counts them (a final newline ends the last
 * line, it does not start another). */
static size_t
count_lines(const char *s)
{
	size_t n = 0, len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	if (len > 0 && s[len - 1] != '\n')
		n++;
	return n;
}

/* Header fields the DSN's own structure defines; a template's are
 * dropped. */
static int
structural_header(const char *s, size_t n)
{
	static const char *const names[] = { "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", NULL };
	const char *colon = memchr(s, ':', n);
	size_t k;

	if (colon == NULL)
		return 0;
	k = (size_t)(colon - s);
	while (k > 0 && is_wsp(s[k - 1]))
		k--;
	for (int i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == k && strncasecmp(s, names[i], k) == 0)
			return 1;
	return 0;
}

/* The text template: header lines to hdr (substituted, folded), body
 * lines to body (substituted). */
static void
render_template(const struct dsn *d, struct buf *hdr, struct buf *body)
{
	const struct dsn_params *p = d->p;
	const struct default_file *f;
	struct buf t = BUF_INIT, line = BUF_INIT;
	const char *s, *eol;
	int in_headers = 1, skipping = 0;
	size_t pos, n;

	if (p->tmpl != NULL)
		msg_prepare(p->tmpl, strlen(p->tmpl), 0, &t);
	else
		for (f = default_files; f->name != NULL; f++)
			if (strcmp(f->name, DSN_TMPL_NAME) == 0) {
				msg_prepare((const char *)f->data, f->len, 0,
				    &t);
				break;
			}
	s = buf_cstr(&t);
	for (pos = 0; pos < t.len; pos = (size_t)(eol - s) + 2) {
		eol = strstr(s + pos, "\r\n");	/* msg_prepare ends each */
		n = (size_t)(eol - s) - pos;
		if (in_headers && n == 0) {
			in_headers = 0;
			continue;
		}
		if (in_headers) {
			if (!is_wsp(s[pos]))
				skipping = structural_header(s + pos, n);
			if (skipping)
				continue;
			buf_reset(&line);
			subst_line(d, s + pos, n, CTX_HEADER, &line);
			add_header_line(hdr, buf_cstr(&line), line.len);
		} else {
			subst_line(d, s + pos, n, CTX_TEXT, body);
			buf_add(body, "\r\n", 2);
		}
	}
	buf_free(&t);
	buf_free(&line);
}

static void
render_html(const struct dsn *d, struct buf *html)
{
	struct buf t = BUF_INIT;
	const char *s, *eol;
	size_t pos;

	msg_prepare(d->p->tmpl_html, strlen(d->p->tmpl_html), 0, &t);
	s = buf_cstr(&t);
	for (pos = 0; pos < t.len; pos = (size_t)(eol - s) + 2) {
		eol = strstr(s + pos, "\r\n");
		subst_line(d, s + pos, (size_t)(eol - s) - pos, CTX_HTML,
		    html);
		buf_add(html, "\r\n", 2);
	}
	buf_free(&t);
}

/* A leaf part after its delimiter line: headers, empty line, content and
 * the line end that the next delimiter takes. */
static void
add_leaf(struct buf *out, const char *type, const struct buf *content)
{
	int ascii = is_ascii(buf_cstr(content), content->len);

	buf_printf(out, "Content-Type: %s; charset=%s\r\n", type,
	    ascii ? "us-ascii" : "utf-8");
	if (!ascii)
		buf_adds(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_adds(out, "\r\n");
	buf_add(out, buf_cstr(content), content->len);
	buf_adds(out, "\r\n");
}

/* "Name: value" with CR and LF in the value turned into blanks. */
static void
add_field(struct buf *out, const char *name, const char *value)
{
	buf_adds(out, name);
	buf_adds(out, ": ");
	add_value_header(out, value, strlen(value), 0);
	buf_adds(out, "\r\n");
}

/* The status class ('2', '4', '5') of a recipient's outcome. */
static char
rcpt_class(const struct dsn_rcpt *r)
{
	if (r->status != NULL && r->status[0] >= '2' && r->status[0] <= '5')
		return r->status[0];
	if (r->code >= 200 && r->code < 600)
		return (char)('0' + r->code / 100);
	if (r->action != NULL && strcmp(r->action, "delayed") == 0)
		return '4';
	if (r->action != NULL && strcmp(r->action, "delivered") == 0)
		return '2';
	return '5';
}

static const char *
rcpt_action(const struct dsn_rcpt *r)
{
	char c = rcpt_class(r);

	if (r->action != NULL && r->action[0] != '\0')
		return r->action;
	return c == '4' ? "delayed" : c == '2' ? "delivered" : "failed";
}

/* Whether the parentheses of s nest properly (a comment may hold them). */
static int
parens_balanced(const char *s)
{
	int depth = 0;

	for (; *s != '\0' && depth >= 0; s++)
		depth += *s == '(' ? 1 : *s == ')' ? -1 : 0;
	return depth == 0;
}

/* "<code> <status> <msg>", each when present, one blank between. In a
 * comment, unbalanced parentheses and backslashes are quoted. */
static void
add_code_text(struct buf *v, int code, const char *status, const char *msg,
    int comment)
{
	const char *sep = "";

	if (code > 0) {
		buf_printf(v, "%d", code);
		sep = " ";
	}
	if (status != NULL && status[0] != '\0') {
		buf_printf(v, "%s%s", sep, status);
		sep = " ";
	}
	if (msg == NULL || msg[0] == '\0')
		return;
	buf_adds(v, sep);
	if (!comment || (parens_balanced(msg) && strchr(msg, '\\') == NULL)) {
		buf_adds(v, msg);
		return;
	}
	for (; *msg != '\0'; msg++) {
		if (*msg == '(' || *msg == ')' || *msg == '\\')
			buf_addc(v, '\\');
		buf_addc(v, *msg);
	}
}

static void
add_delivery_status(const struct dsn *d, struct buf *out)
{
	const struct dsn_params *p = d->p;
	struct buf v = BUF_INIT;
	char date[64];

	buf_printf(&v, "dns;%s", buf_cstr(&d->val[V_ME]));
	add_field(out, "Reporting-MTA", buf_cstr(&v));
	if (p->arrival_ms > 0) {
		date_rfc5322(date, sizeof(date),
		    (time_t)(p->arrival_ms / 1000));
		add_field(out, "Arrival-Date", date);
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];

		buf_adds(out, "\r\n");
		buf_reset(&v);
		/* RFC 6533 3: the utf-8 type, raw in the global type. */
		buf_printf(&v, "%s;%s", d->global && !idn_is_ascii(r->addr) ?
		    "utf-8" : "rfc822", r->addr);
		add_field(out, "Final-Recipient", buf_cstr(&v));
		add_field(out, "Action", rcpt_action(r));
		buf_reset(&v);
		if (r->status != NULL && r->status[0] != '\0')
			buf_adds(&v, r->status);
		else
			buf_printf(&v, "%c.0.0", rcpt_class(r));
		if (!r->remote && (r->code > 0 || (r->msg && r->msg[0]))) {
			buf_adds(&v, " (");
			add_code_text(&v, r->code, NULL, r->msg, 1);
			buf_adds(&v, ")");
		}
		add_field(out, "Status", buf_cstr(&v));
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			buf_reset(&v);
			buf_printf(&v, "dns;%s", r->remote_mta);
			add_field(out, "Remote-MTA", buf_cstr(&v));
		}
		if (r->remote) {
			buf_reset(&v);
			buf_adds(&v, "smtp;");
			/* The remote's words: no status it did not send. */
			add_code_text(&v, r->code, r->sent != NULL ? r->sent :
			    r->status, r->msg, 0);
			add_field(out, "Diagnostic-Code", buf_cstr(&v));
		}
	}
	buf_free(&v);
}

/* RFC 6533: SMTPUTF8 mail with a UTF-8 address or header. */
static int
is_global(const struct dsn_params *p)
{
	if (!p->smtputf8)
		return 0;
	if (p->mail_from != NULL && !idn_is_ascii(p->mail_from))
		return 1;
	for (size_t i = 0; i < p->n; i++)
		if (!idn_is_ascii(p->rcpts[i].addr))
			return 1;
	return p->msg != NULL && idn_header_nonascii(p->msg, p->msglen);
}

void
dsn_build(const struct dsn_params *p, struct buf *out)
{
	struct dsn d;
	struct buf hdr = BUF_INIT, text = BUF_INIT, html = BUF_INIT;
	struct buf ref = BUF_INIT, img = BUF_INIT;
	char b[UUID_LEN + 16], alt[UUID_LEN + 16], rel[UUID_LEN + 16];
	int with_html, with_image;

	memset(&d, 0, sizeof(d));
	d.p = p;
	d.global = is_global(p);
	vars_fill(&d);
	render_template(&d, &hdr, &text);
	with_html = p->tmpl_html != NULL && count_lines(p->tmpl_html) > 1;
	with_image = with_html && p->tmpl_image != NULL &&
	    count_lines(p->tmpl_image) > 1;
	if (with_html)
		render_html(&d, &html);
	new_boundary(b);
	new_boundary(alt);
	new_boundary(rel);

	buf_reserve(out, hdr.len + text.len + html.len + p->msglen + 2048);
	buf_add(out, buf_cstr(&hdr), hdr.len);
	buf_adds(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", b);
	if (p->msg != NULL && msg_header(p->msg, p->msglen, "Message-Id",
	    &ref) && ref.len > 0)
		add_field(out, "References", buf_cstr(&ref));
	buf_adds(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1. The human-readable part. */
	buf_printf(out, "--%s\r\n", b);
	if (!with_html)
		add_leaf(out, "text/plain", &text);
	else {
		if (with_image)
			buf_printf(out, "Content-Type: multipart/related; "
			    "type=\"multipart/alternative\";\r\n"
			    "\tboundary=\"%s\"\r\n\r\n--%s\r\n", rel, rel);
		buf_printf(out, "Content-Type: multipart/alternative;\r\n"
		    "\tboundary=\"%s\"\r\n\r\n--%s\r\n", alt, alt);
		add_leaf(out, "text/plain", &text);
		buf_printf(out, "--%s\r\n", alt);
		add_leaf(out, "text/html", &html);
		buf_printf(out, "--%s--\r\n", alt);
		if (with_image) {
			msg_prepare(p->tmpl_image, strlen(p->tmpl_image), 0,
			    &img);
			buf_printf(out, "--%s\r\n", rel);
			buf_add(out, buf_cstr(&img), img.len);
			buf_printf(out, "\r\n--%s--\r\n", rel);
		}
	}

	/* 2. The machine-readable part. */
	buf_printf(out, "--%s\r\nContent-Type: message/%sdelivery-status"
	    "\r\n\r\n", b, d.global ? "global-" : "");
	add_delivery_status(&d, out);
	buf_adds(out, "\r\n");

	/* 3. The original message, or its header section (RFC 6522) when
	 * delivery holds only that of a large one. */
	buf_printf(out, "--%s\r\nContent-Type: %s\r\n", b, d.global ?
	    (p->headers_only ? "message/global-headers" : "message/global") :
	    p->headers_only ? "text/rfc822-headers" : "message/rfc822");
	if (p->msg != NULL && !is_ascii(p->msg, p->msglen))
		buf_adds(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_adds(out, "\r\n");
	if (p->msg != NULL)
		msg_prepare(p->msg, p->msglen, 0, out);
	buf_printf(out, "\r\n--%s--\r\n", b);

	for (int i = 0; i < V_COUNT; i++)
		buf_free(&d.val[i]);
	buf_free(&hdr);
	buf_free(&text);
	buf_free(&html);
	buf_free(&ref);
	buf_free(&img);
}
