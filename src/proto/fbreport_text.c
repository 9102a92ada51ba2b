/*
 * fbreport_text: header blocks, addresses and SMTP codes in report text,
 * and plain-text bounces (qmail, Exim, Outlook/Exchange, Gmail, Yahoo,
 * Postfix and Sendmail prose): a failed recipient is an address that opens
 * a line ("<a@b>:", "  a@b", "a@b (a@b)") or follows a phrase such as
 * "wasn't delivered to"; its diagnostic is the text under it, up to an
 * empty line. Reading stops where the bounce quotes the original message.
 * Every loop advances through its input: work is linear in the text.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/fbreport_text.h"

#define FBT_VALUE_MAX	16384	/* bytes kept of one unfolded value */
#define FBT_DIAG_MAX	1000	/* bytes kept of a plain diagnostic */
#define FBT_LINE_MAX	4096	/* bytes of one line searched */
#define FBT_ADDR_MAX	320

struct line {
	const char	*p;
	size_t		 n;	/* without the line end */
	const char	*next;
};

static int
next_line(const char *p, const char *end, struct line *l)
{
	const char *e;

	if (p >= end)
		return 0;
	e = memchr(p, '\n', (size_t)(end - p));
	l->p = p;
	l->next = e != NULL ? e + 1 : end;
	l->n = (size_t)((e != NULL ? e : end) - p);
	if (l->n > 0 && p[l->n - 1] == '\r')
		l->n--;
	return 1;
}

static int
blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* Appends p..n, whitespace runs (and NULs) as one space, up to max. */
static void
add_folded(struct buf *b, const char *p, size_t n, size_t max)
{
	for (size_t i = 0; i < n && b->len < max; i++) {
		char c = p[i];

		if (c == '\t' || c == '\r' || c == '\n' || c == '\0')
			c = ' ';
		if (c == ' ' && (b->len == 0 || b->p[b->len - 1] == ' '))
			continue;
		buf_addc(b, c);
	}
}

static char *
release_trimmed(struct buf *b)
{
	while (b->len > 0 && b->p[b->len - 1] == ' ')
		b->p[--b->len] = '\0';
	return buf_release(b);
}

int
fbt_next_field(const char **pp, const char *end, char *name, char **value)
{
	struct line l;
	const char *p = *pp, *colon;
	size_t nlen;
	struct buf v = BUF_INIT;

	while (next_line(p, end, &l)) {
		p = l.next;
		if (blank(l.p, l.n)) {
			*pp = p;
			return 0;
		}
		if (l.p[0] == ' ' || l.p[0] == '\t')
			continue;	/* a fold without its field */
		colon = memchr(l.p, ':', l.n);
		if (colon == NULL)
			continue;
		nlen = (size_t)(colon - l.p);
		while (nlen > 0 && (l.p[nlen - 1] == ' ' || l.p[nlen - 1] == '\t'))
			nlen--;
		if (nlen == 0 || nlen >= FBT_NAME_MAX ||
		    memchr(l.p, ' ', nlen) != NULL || memchr(l.p, '\0', nlen))
			continue;
		memcpy(name, l.p, nlen);
		name[nlen] = '\0';
		add_folded(&v, colon + 1, (size_t)(l.p + l.n - colon - 1),
		    FBT_VALUE_MAX);
		while (next_line(p, end, &l) && l.n > 0 &&
		    (l.p[0] == ' ' || l.p[0] == '\t') && !blank(l.p, l.n)) {
			buf_addc(&v, ' ');
			add_folded(&v, l.p, l.n, FBT_VALUE_MAX);
			p = l.next;
		}
		*pp = p;
		*value = release_trimmed(&v);
		return 1;
	}
	*pp = p;
	return -1;
}

static char *
dup_trim(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n > 0 ? xstrndup(s, n) : NULL;
}

char *
fbt_untyped(const char *v)
{
	const char *semi = strchr(v, ';');

	if (semi != NULL) {
		for (const char *c = v; c < semi; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' &&
			    *c != '_' && *c != ' ' && *c != '.')
				return dup_trim(v, strlen(v));
		v = semi + 1;
	}
	return dup_trim(v, strlen(v));
}

/* Address bytes: ASCII atext, and any UTF-8 byte (RFC 6531). */
static int
local_char(int c)
{
	return isalnum(c) || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static int
domain_char(int c)
{
	return isalnum(c) || c >= 0x80 || c == '.' || c == '-' || c == '_';
}

/* The first address in s..n: [*a, *b). Linear: each byte is looked at a
 * bounded number of times (left runs stop at the previous '@'). */
static int
find_addr(const char *s, size_t n, size_t *a, size_t *b)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = i, r = i + 1;

		if (s[i] != '@')
			continue;
		while (l > 0 && local_char((unsigned char)s[l - 1]))
			l--;
		while (r < n && domain_char((unsigned char)s[r]))
			r++;
		while (r > i + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
			r--;	/* a sentence's full stop */
		while (l < i && s[l] == '.')
			l++;
		if (l < i && r > i + 1 && r - l <= FBT_ADDR_MAX &&
		    memchr(s + i + 1, '.', r - i - 1) != NULL) {
			*a = l;
			*b = r;
			return 1;
		}
		i = r - 1;
	}
	return 0;
}

char *
fbt_addr(const char *v)
{
	const char *lt, *gt, *p = v;
	size_t a, b, n;

	/* Drop an address type ("rfc822;", "utf-8;"). */
	if ((lt = strchr(v, ';')) != NULL && memchr(v, '@', (size_t)(lt - v))
	    == NULL && memchr(v, '<', (size_t)(lt - v)) == NULL)
		p = lt + 1;
	if ((lt = strchr(p, '<')) != NULL &&
	    (gt = strchr(lt + 1, '>')) != NULL)
		return dup_trim(lt + 1, (size_t)(gt - lt - 1));
	n = strlen(p);
	if (find_addr(p, n, &a, &b))
		return xstrndup(p + a, b - a);
	/* No '@' (a local name, "MAILER-DAEMON"): the first word. */
	while (*p == ' ')
		p++;
	n = strcspn(p, " \t,");
	return n > 0 ? xstrndup(p, n) : NULL;
}

char *
fbt_msgid(const char *v)
{
	const char *lt = strchr(v, '<'), *gt;

	if (lt != NULL && (gt = strchr(lt + 1, '>')) != NULL)
		return dup_trim(lt + 1, (size_t)(gt - lt - 1));
	return dup_trim(v, strcspn(v, " \t"));
}

/* An enhanced status code at s[i] ("5.1.1"): its length, or 0. */
static size_t
enhanced_at(const char *s, size_t n, size_t i)
{
	size_t j = i + 2, d;

	if (i + 4 >= n || (s[i] != '2' && s[i] != '4' && s[i] != '5') ||
	    s[i + 1] != '.')
		return 0;
	if (i > 0 && (isdigit((unsigned char)s[i - 1]) || s[i - 1] == '.'))
		return 0;
	for (int part = 0; part < 2; part++) {
		for (d = 0; j < n && isdigit((unsigned char)s[j]) && d < 4; d++)
			j++;
		if (d == 0 || d > 3)
			return 0;
		if (part == 0) {
			if (j >= n || s[j] != '.')
				return 0;
			j++;
		}
	}
	if (j < n && (isdigit((unsigned char)s[j]) || (s[j] == '.' &&
	    j + 1 < n && isdigit((unsigned char)s[j + 1]))))
		return 0;
	return j - i;
}

/* A 3-digit reply code at s[i], not part of a longer number. */
static int
code_at(const char *s, size_t n, size_t i)
{
	if (i + 3 > n || (s[i] != '2' && s[i] != '4' && s[i] != '5') ||
	    !isdigit((unsigned char)s[i + 1]) ||
	    !isdigit((unsigned char)s[i + 2]))
		return 0;
	if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.' ||
	    s[i - 1] == '-' || s[i - 1] == ':' ||
	    s[i - 1] == '/'))
		return 0;
	if (i + 3 < n && s[i + 3] != ' ' && s[i + 3] != '-' && s[i + 3] != ':' &&
	    s[i + 3] != '\r' && s[i + 3] != '\n')
		return 0;
	return (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
}

int
fbt_codes(const char *s, size_t n, char *status)
{
	size_t k, first_enh = n, first_code = n;

	status[0] = '\0';
	/* "550 5.1.1" (classes agreeing) wins; then the first of each. */
	for (size_t i = 0; i < n; i++) {
		int c = code_at(s, n, i);

		if (c != 0) {
			size_t j = i + 4;

			if (j < n && s[i + 3] == ' ' &&
			    (k = enhanced_at(s, n, j)) > 0 && s[j] == s[i] &&
			    k < 16) {
				memcpy(status, s + j, k);
				status[k] = '\0';
				return c;
			}
			if (first_code == n) {
				size_t b = i;

				/* A bare code opens the text or a line, or
				 * follows "said:", "was:", a quote. */
				while (b > 0 && (s[b - 1] == ' ' ||
				    s[b - 1] == '\t'))
					b--;
				if (b == 0 || s[b - 1] == '\n' ||
				    s[b - 1] == '\'' || s[b - 1] == '"' ||
				    s[b - 1] == '#' ||
				    (b < i && s[b - 1] == ':') ||
				    (b < i && s[b - 1] == '('))
					first_code = i;
			}
			i += 2;
		} else if (first_enh == n && enhanced_at(s, n, i) > 0)
			first_enh = i;
	}
	if (first_enh < n && (k = enhanced_at(s, n, first_enh)) < 16) {
		memcpy(status, s + first_enh, k);
		status[k] = '\0';
	}
	return first_code < n ? code_at(s, n, first_code) : 0;
}

/* Case-insensitive search of a NUL-free needle in s..n. */
static const char *
find_ci(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++)
		if (tolower((unsigned char)s[i]) == needle[0] &&
		    strncasecmp(s + i, needle, m) == 0)
			return s + i;
	return NULL;
}

static int
any_ci(const char *s, size_t n, const char *const *list)
{
	for (; *list != NULL; list++)
		if (find_ci(s, n, *list) != NULL)
			return 1;
	return 0;
}

static const char *const bounce_senders[] = {
	"mailer-daemon", "postmaster@", "mail-daemon", "mailerdaemon", NULL
};
static const char *const bounce_subjects[] = {
	"undeliver", "delivery status notification", "failure notice",
	"returned mail", "mail delivery failed", "delivery failure",
	"not delivered", "delivery has failed", "could not be delivered",
	"non-delivery", "delivery notification", "could not send message",
	"delivery delayed", "delayed mail", "mail delivery system",
	"delivery problem", NULL
};
static const char *const bounce_phrases[] = {
	"this is the qmail-send program", "created automatically by mail "
	"delivery software", "could not be delivered to one or more",
	"delivery to the following recipient", "delivery has failed to these",
	"following addresses had permanent fatal errors",
	"the following address(es) failed", "your message wasn't delivered",
	"your message couldn't be delivered", "your message could not be "
	"delivered", "unable to deliver your message", "i'm sorry to have to "
	"inform you", "message could not be delivered", "delivery to the "
	"following recipients failed", "undeliverable", "permanent error",
	"i'm afraid i wasn't able to deliver", NULL
};

int
fbt_is_bounce(const char *from, const char *subject, const char *t, size_t n)
{
	if (from != NULL && any_ci(from, strlen(from), bounce_senders))
		return 1;
	if (subject != NULL && any_ci(subject, strlen(subject), bounce_subjects))
		return 1;
	return any_ci(t, n < 65536 ? n : 65536, bounce_phrases);
}

static const char *const copy_markers[] = {
	"copy of the message", "copy of your message", "original message "
	"follows", "original message headers", "message headers follow",
	"below this line", "original message -", "returned message",
	"headers of the original", "undelivered message", "message text "
	"follows", "forwarded message", "headers are attached",
	"returned mail follows", NULL
};

static int
is_marker(const struct line *l)
{
	return any_ci(l->p, l->n < FBT_LINE_MAX ? l->n : FBT_LINE_MAX,
	    copy_markers);
}

/* Where the recipients' part of a bounce's text ends. */
static const char *
body_end(const char *t, size_t n)
{
	struct line l;
	const char *p = t, *end = t + n;

	while (next_line(p, end, &l)) {
		if (is_marker(&l))
			return l.p;
		p = l.next;
	}
	return end;
}

static int
header_line(const struct line *l)
{
	static const char *const names[] = {
		"received:", "return-path:", "message-id:", "from:", "to:",
		"subject:", "date:", "mime-version:", "dkim-signature:",
		"content-type:", "x-", "reply-to:", "delivered-to:", NULL
	};

	for (const char *const *s = names; *s != NULL; s++)
		if (l->n >= strlen(*s) && strncasecmp(l->p, *s, strlen(*s)) == 0)
			return 1;
	return 0;
}

size_t
fbt_original(const char *t, size_t n)
{
	const char *from = body_end(t, n), *end = t + n, *p;
	struct line l;
	int lines = 0;

	/* After the marker: the first header line within a few lines; with
	 * no marker, the first "Received:" or "Message-ID:" line. */
	for (p = from < end ? from : t; next_line(p, end, &l); p = l.next) {
		if (from < end && ++lines > 12)
			break;
		if (from < end ? header_line(&l) : (l.n > 9 &&
		    (strncasecmp(l.p, "received:", 9) == 0 ||
		    strncasecmp(l.p, "message-id:", 11) == 0)))
			return (size_t)(l.p - t);
	}
	return n;
}

static const char *const rcpt_phrases[] = {
	"delivered to ", "deliver to ", "delivery to ", "message to ",
	"mail to ", "failed for ", "recipient: ", "recipient ",
	"deliver your message to ", NULL
};

/* The address opening a line ("<a@b>:", "a@b (a@b)"), or following a
 * recipient phrase; *rest is what follows it. */
static char *
line_rcpt(const struct line *l, size_t *rest)
{
	size_t n = l->n < FBT_LINE_MAX ? l->n : FBT_LINE_MAX, i = 0, a, b;
	const char *ph;

	while (i < n && (l->p[i] == ' ' || l->p[i] == '\t'))
		i++;
	if (i < n && l->p[i] == '<')
		i++;
	if (find_addr(l->p + i, n - i, &a, &b) && a == 0) {
		*rest = i + b;
		if (*rest < n && l->p[*rest] == '>')
			(*rest)++;
		return xstrndup(l->p + i, b);
	}
	/* Exchange: "Terry Example (terry@example.com)". */
	if (n > 0 && l->p[n - 1] == ')') {
		const char *open = NULL;

		for (size_t j = n - 1; j > 0 && open == NULL; j--)
			if (l->p[j - 1] == '(')
				open = l->p + j;
		if (open != NULL && find_addr(open, (size_t)(l->p + n - 1 -
		    open), &a, &b) && a == 0 && open + b == l->p + n - 1) {
			*rest = n;
			return xstrndup(open, b);
		}
	}
	for (const char *const *s = rcpt_phrases; *s != NULL; s++) {
		if ((ph = find_ci(l->p, n, *s)) == NULL)
			continue;
		i = (size_t)(ph - l->p) + strlen(*s);
		if (i < n && l->p[i] == '<')
			i++;
		if (find_addr(l->p + i, n - i, &a, &b) && a <= 1) {
			*rest = i + b;
			return xstrndup(l->p + i + a, b - a);
		}
	}
	return NULL;
}

static int
excluded(const char *const *mine, size_t nmine, const char *a)
{
	for (size_t i = 0; i < nmine; i++)
		if (mine[i] != NULL && strcasecmp(mine[i], a) == 0)
			return 1;
	return strncasecmp(a, "mailer-daemon@", 14) == 0 ||
	    strncasecmp(a, "postmaster@", 11) == 0;
}

static void
set_codes(struct fbt_rcpt *rc, const char *s, size_t n, int temp_words)
{
	char st[16];

	rc->code = fbt_codes(s, n, st);
	if (st[0] != '\0') {
		free(rc->status);
		rc->status = xstrdup(st);
	}
	free(rc->action);
	if (rc->code / 100 == 4 || (rc->code == 0 && st[0] == '4') ||
	    (rc->code == 0 && st[0] == '\0' && temp_words))
		rc->action = xstrdup("delayed");
	else
		rc->action = xstrdup("failed");
}

/* The text under a recipient becomes its diagnostic, unless it has one
 * already that gives a code. */
static void
flush(struct fbt_rcpt *rc, struct buf *diag)
{
	char st[16];

	if (diag->len > 0 && (rc->diagnostic == NULL ||
	    (fbt_codes(rc->diagnostic, strlen(rc->diagnostic), st) == 0 &&
	    st[0] == '\0' && fbt_codes(diag->p, diag->len, st) != 0))) {
		free(rc->diagnostic);
		rc->diagnostic = release_trimmed(diag);
	}
	buf_reset(diag);
}

static const char *const temp_phrases[] = {
	"delayed", "will retry", "will continue", "still trying",
	"not yet been delivered", "temporar", "deferred", "will keep trying",
	"warning message only", "still being retried", NULL
};

size_t
fbt_plain(const char *const *mine, size_t nmine, const char *failed,
    const char *t, size_t n, struct fbt_rcpt **out, size_t max)
{
	const char *end = body_end(t, n), *p = t, *f;
	struct fbt_rcpt *v = NULL;
	size_t nv = 0, cur = (size_t)-1, rest;
	struct buf diag = BUF_INIT;
	struct line l;
	char *a;
	int temp = any_ci(t, (size_t)(end - t), temp_phrases);

	while (next_line(p, end, &l)) {
		p = l.next;
		a = line_rcpt(&l, &rest);
		if (a != NULL && excluded(mine, nmine, a)) {
			free(a);
			a = NULL;
		}
		if (a != NULL) {
			size_t i;

			for (i = 0; i < nv; i++)
				if (strcasecmp(v[i].addr, a) == 0)
					break;
			if (i == cur) {
				/* Its own address in its diagnostic. */
				free(a);
				buf_addc(&diag, ' ');
				add_folded(&diag, l.p, l.n, FBT_DIAG_MAX);
				continue;
			}
			if (cur != (size_t)-1)
				flush(&v[cur], &diag);
			if (i == nv) {
				if (nv >= max) {
					free(a);
					cur = (size_t)-1;
					break;
				}
				v = xreallocarray(v, nv + 1, sizeof(*v));
				memset(&v[nv], 0, sizeof(*v));
				v[nv++].addr = a;
			} else
				free(a);
			cur = i;
			while (rest < l.n && l.p[rest] != '\0' &&
			    strchr(":.> ", l.p[rest]) != NULL)
				rest++;
			add_folded(&diag, l.p + rest, l.n - rest, FBT_DIAG_MAX);
			continue;
		}
		if (cur == (size_t)-1)
			continue;
		if (blank(l.p, l.n)) {
			flush(&v[cur], &diag);
			cur = (size_t)-1;
			continue;
		}
		if (diag.len > 0)
			buf_addc(&diag, ' ');
		add_folded(&diag, l.p, l.n, FBT_DIAG_MAX);
	}
	if (cur != (size_t)-1)
		flush(&v[cur], &diag);
	buf_reset(&diag);
	/* None in the text: the X-Failed-Recipients header's. */
	for (f = nv == 0 ? failed : NULL; f != NULL && *f != '\0';
	    f += strspn(f, ", \t")) {
		size_t k = strcspn(f, ", \t"), a0, b0;

		if (nv < max && find_addr(f, k, &a0, &b0)) {
			v = xreallocarray(v, nv + 1, sizeof(*v));
			memset(&v[nv], 0, sizeof(*v));
			v[nv++].addr = xstrndup(f + a0, b0 - a0);
		}
		f += k;
	}

	/* Codes: the recipient's own text, else, for a lone recipient, the
	 * first line of the bounce that gives a code (as the diagnostic). */
	for (p = t; nv == 1 && next_line(p, end, &l); p = l.next) {
		char st[16];

		if (fbt_codes(l.p, l.n, st) != 0) {
			add_folded(&diag, l.p, l.n, FBT_DIAG_MAX);
			break;
		}
	}
	for (size_t i = 0; i < nv; i++) {
		struct fbt_rcpt *rc = &v[i];
		char st[16];

		if ((rc->diagnostic == NULL || (fbt_codes(rc->diagnostic,
		    strlen(rc->diagnostic), st) == 0 && st[0] == '\0')) &&
		    diag.len > 0) {
			free(rc->diagnostic);
			rc->diagnostic = xstrdup(buf_cstr(&diag));
		}
		if (rc->diagnostic != NULL)
			set_codes(rc, rc->diagnostic, strlen(rc->diagnostic),
			    temp);
		else
			set_codes(rc, "", 0, temp);
	}
	buf_free(&diag);
	*out = v;
	return nv;
}
