/*
 * message: pure helpers over a stored message — the header block, one
 * header's unfolded value, RFC 2047 decoding for display, and send_email's
 * normalisation (line ends, dot-stuffing, dropped headers). Nothing here
 * owns memory beyond the caller's out buffer.
 */
#include "proto/message.h"

#include <string.h>
#include <strings.h>

#include "lib/util.h"

/* One physical line: its content (without the line end) and where the
 * next one starts. A line ends at LF, CRLF or a lone CR; the last may have
 * no end at all (term == 0). */
struct mline {
	const char	*p;
	size_t		 len;
	size_t		 next;
	size_t		 term;	/* line end bytes: 0, 1 or 2 */
};

static int
next_line(const char *s, size_t len, size_t pos, struct mline *l)
{
	size_t i = pos;

	if (pos >= len)
		return 0;
	while (i < len && s[i] != '\r' && s[i] != '\n')
		i++;
	l->p = s + pos;
	l->len = i - pos;
	if (i == len)
		l->term = 0;
	else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
		l->term = 2;
	else
		l->term = 1;
	l->next = i + l->term;
	return 1;
}

/* buf_reserve leaves a fresh buffer unterminated; keep out a C string
 * even when nothing is appended. */
static void
reserve(struct buf *out, size_t n)
{
	buf_reserve(out, n);
	out->p[out->len] = '\0';
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether line is a header field named name (case-insensitive; blanks
 * before the colon allowed). *val is then the offset after the colon. */
static int
header_is(const char *p, size_t len, const char *name, size_t *val)
{
	const char *colon;
	size_t n;

	if (len == 0 || is_wsp(p[0]) ||
	    (colon = memchr(p, ':', len)) == NULL)
		return 0;
	n = (size_t)(colon - p);
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	if (n != strlen(name) || strncasecmp(p, name, n) != 0)
		return 0;
	if (val != NULL)
		*val = (size_t)(colon - p) + 1;
	return 1;
}

size_t
msg_headers_len(const char *msg, size_t len)
{
	struct mline l;

	for (size_t pos = 0; next_line(msg, len, pos, &l); pos = l.next)
		if (l.len == 0 && l.term > 0)
			return l.next;
	return len;
}

int
msg_header(const char *msg, size_t len, const char *name, struct buf *out)
{
	size_t hl = msg_headers_len(msg, len), val;
	struct buf v = BUF_INIT;
	struct slice t;
	struct mline l;
	size_t pos;

	for (pos = 0; next_line(msg, hl, pos, &l); pos = l.next) {
		if (l.len == 0)
			break;
		if (!header_is(l.p, l.len, name, &val))
			continue;
		buf_add(&v, l.p + val, l.len - val);
		/* Continuation lines: the line end goes, the blank stays. */
		for (pos = l.next; next_line(msg, hl, pos, &l) && l.len > 0 &&
		    is_wsp(l.p[0]); pos = l.next)
			buf_add(&v, l.p, l.len);
		t = slice_trim(slice_of(buf_cstr(&v), v.len));
		buf_add(out, t.p, t.len);
		buf_free(&v);
		return 1;
	}
	return 0;
}

size_t
msg_header_remove(char *msg, size_t len, const char *name, struct buf *out)
{
	size_t hl = msg_headers_len(msg, len), start, end;
	struct mline l;

	for (start = 0; next_line(msg, hl, start, &l); start = l.next) {
		if (l.len == 0)
			return 0;
		if (!header_is(l.p, l.len, name, NULL))
			continue;
		if (out != NULL)
			msg_header(msg + start, hl - start, name, out);
		for (end = l.next; next_line(msg, hl, end, &l) && l.len > 0 &&
		    is_wsp(l.p[0]); end = l.next)
			;
		memmove(msg + start, msg + end, len - end);
		return end - start;
	}
	return 0;
}

/* Charsets whose bytes are ISO-8859-1 code points (US-ASCII is a subset). */
static int
charset_latin1(const char *cs, size_t n)
{
	static const char *const names[] = { "iso-8859-1", "iso8859-1",
	    "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii",
	    NULL };

	for (int i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == n && strncasecmp(cs, names[i], n) == 0)
			return 1;
	return 0;
}

/* B text (padding optional) into raw; -1 if it is not base64. */
static int
decode_b(const char *t, size_t n, struct buf *raw)
{
	struct buf b64 = BUF_INIT;
	int rc;

	if (n % 4 == 1)
		return -1;
	buf_add(&b64, t, n);
	while (b64.len % 4 != 0)
		buf_addc(&b64, '=');
	rc = base64_decode(raw, buf_cstr(&b64), b64.len);
	buf_free(&b64);
	return rc;
}

/* Q text into raw ('_' is a space); -1 on a bad =XX escape. */
static int
decode_q(const char *t, size_t n, struct buf *raw)
{
	for (size_t k = 0; k < n; k++) {
		if (t[k] == '_')
			buf_addc(raw, ' ');
		else if (t[k] != '=')
			buf_addc(raw, t[k]);
		else if (k + 2 < n && hex_value(t[k + 1]) >= 0 &&
		    hex_value(t[k + 2]) >= 0) {
			buf_addc(raw, (char)(hex_value(t[k + 1]) * 16 +
			    hex_value(t[k + 2])));
			k += 2;
		} else
			return -1;
	}
	return 0;
}

static void
latin1_to_utf8(const char *s, size_t n, struct buf *out)
{
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c < 0x80)
			buf_addc(out, (char)c);
		else {
			buf_addc(out, (char)(0xc0 | (c >> 6)));
			buf_addc(out, (char)(0x80 | (c & 0x3f)));
		}
	}
}

/*
 * The encoded-word =?charset?enc?text?= at the start of s: decoded and
 * converted, appended to out; returns its length, or 0 (out unchanged)
 * when s does not start with a well-formed one.
 */
static size_t
encoded_word(const char *s, size_t len, struct buf *out)
{
	struct buf raw = BUF_INIT;
	size_t i = 2, csl, tx;
	const char *star;
	int rc;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	while (i < len && s[i] != '?' && (unsigned char)s[i] > ' ' &&
	    (unsigned char)s[i] < 0x7f)
		i++;
	if (i == 2 || i + 2 >= len || s[i] != '?' || s[i + 2] != '?' ||
	    s[i + 1] == '\0' || strchr("BbQq", s[i + 1]) == NULL)
		return 0;
	csl = i - 2;
	/* RFC 2231 language suffix: charset*lang. */
	if ((star = memchr(s + 2, '*', csl)) != NULL)
		csl = (size_t)(star - (s + 2));
	tx = i + 3;
	for (i = tx; i < len && s[i] != '?'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	if (i + 1 >= len || s[i + 1] != '=')
		return 0;

	if (s[tx - 2] == 'B' || s[tx - 2] == 'b')
		rc = decode_b(s + tx, i - tx, &raw);
	else
		rc = decode_q(s + tx, i - tx, &raw);
	if (rc == 0 && charset_latin1(s + 2, csl))
		latin1_to_utf8(buf_cstr(&raw), raw.len, out);
	else if (rc == 0)	/* UTF-8, or another charset: its bytes */
		buf_add(out, buf_cstr(&raw), raw.len);
	buf_free(&raw);
	return rc == 0 ? i + 2 : 0;
}

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
msg_decode_2047(const char *s, size_t len, struct buf *out)
{
	size_t i = 0, n, j;
	int after_word = 0;

	reserve(out, len);
	while (i < len) {
		if (after_word && is_fws(s[i])) {
			/* Blanks between two encoded-words are dropped. */
			for (j = i; j < len && is_fws(s[j]); j++)
				;
			if ((n = encoded_word(s + j, len - j, out)) > 0) {
				i = j + n;
				continue;
			}
			buf_add(out, s + i, j - i);
			i = j;
			after_word = 0;
			continue;
		}
		if ((n = encoded_word(s + i, len - i, out)) > 0) {
			i += n;
			after_word = 1;
			continue;
		}
		buf_addc(out, s[i++]);
		after_word = 0;
	}
}

void
msg_prepare(const char *in, size_t len, unsigned flags, struct buf *out)
{
	int headers = 1, dropping = 0;
	struct mline l;

	reserve(out, len + len / 32 + 2);
	for (size_t pos = 0; next_line(in, len, pos, &l); pos = l.next) {
		if ((flags & MSG_DOT_STUFFED) && l.len >= 2 && l.p[0] == '.' &&
		    l.p[1] == '.') {
			l.p++;
			l.len--;
		}
		if (headers) {
			if (l.len == 0)
				headers = dropping = 0;
			else if (!is_wsp(l.p[0]))
				dropping = ((flags & MSG_REMOVE_MSGID) &&
				    header_is(l.p, l.len, "Message-Id",
				    NULL)) || ((flags & MSG_REMOVE_DATE) &&
				    header_is(l.p, l.len, "Date", NULL));
			if (dropping)
				continue;
		}
		buf_add(out, l.p, l.len);
		buf_add(out, "\r\n", 2);
	}
}
