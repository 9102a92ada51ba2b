/*
 * dkim_canon: RFC 6376 §3.4 canonicalisation — header fields and the body
 * stream, simple and relaxed — plus the header section's split into fields
 * and the From address's domain. Pure; writes only the caller's buffers.
 */
#include "proto/dkim_canon.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int
dkim_canon_parse(const char *s, enum dkim_canon *out)
{
	if (strcasecmp(s, "simple") == 0)
		*out = DKIM_SIMPLE;
	else if (strcasecmp(s, "relaxed") == 0)
		*out = DKIM_RELAXED;
	else
		return -1;
	return 0;
}

const char *
dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_RELAXED ? "relaxed" : "simple";
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* --- header fields -------------------------------------------------------- */

void
dkim_canon_header(enum dkim_canon c, const char *f, size_t len,
    struct buf *out)
{
	size_t i = 0, name_end, j, start = out->len;
	int wsp = 0, any = 0;

	if (c == DKIM_SIMPLE) {
		buf_add(out, f, len);
		return;
	}
	while (i < len && f[i] != ':')
		i++;
	name_end = i;
	if (i == len && len >= 2 && f[len - 2] == '\r' && f[len - 1] == '\n')
		name_end -= 2;
	while (name_end > 0 && is_wsp(f[name_end - 1]))
		name_end--;
	buf_reserve(out, len + 2);
	for (j = 0; j < name_end; j++) {
		if (f[j] == '\r' && j + 1 < name_end && f[j + 1] == '\n') {
			j++;	/* a folded line without a colon */
			continue;
		}
		buf_addc(out, (char)tolower((unsigned char)f[j]));
	}
	while (out->len > start && is_wsp(out->p[out->len - 1]))
		out->len--;	/* blanks before a fold in the name */
	if (i == len) {		/* no colon: the name alone */
		buf_add(out, "\r\n", 2);
		return;
	}
	buf_addc(out, ':');
	for (i++; i < len; i++) {
		char ch = f[i];

		if (ch == '\r' && i + 1 < len && f[i + 1] == '\n') {
			i++;		/* unfolding (a lone CR or LF is text) */
			continue;
		}
		if (is_wsp(ch)) {
			wsp = 1;
			continue;
		}
		if (wsp && any)
			buf_addc(out, ' ');
		wsp = 0;
		any = 1;
		buf_addc(out, ch);
	}
	buf_add(out, "\r\n", 2);
}

/* --- body ------------------------------------------------------------------- */

void
dkim_body_init(struct dkim_body *b, enum dkim_canon c, dkim_emit_fn emit,
    void *arg)
{
	memset(b, 0, offsetof(struct dkim_body, out));
	b->canon = c;
	b->emit = emit;
	b->arg = arg;
}

static void
flush(struct dkim_body *b)
{
	if (b->n > 0)
		b->emit(b->arg, b->out, b->n);
	b->n = 0;
}

static void
put(struct dkim_body *b, char c)
{
	if (b->n == sizeof(b->out))
		flush(b);
	b->out[b->n++] = c;
}

/* A byte of line content: the held-back line ends and blank first. */
static void
content(struct dkim_body *b, char c)
{
	for (; b->crlfs > 0; b->crlfs--) {
		put(b, '\r');
		put(b, '\n');
	}
	if (b->wsp)
		put(b, ' ');
	b->wsp = 0;
	b->content = 1;
	put(b, c);
}

/* Where the run of bytes from i that canonicalise to themselves ends:
 * simple, at a CR; relaxed, also at a tab, or a space that is not one
 * blank between two other bytes of the line. */
static size_t
run_end(enum dkim_canon c, const char *p, size_t i, size_t len)
{
	const char *cr;

	if (c == DKIM_SIMPLE) {
		cr = memchr(p + i, '\r', len - i);
		return cr != NULL ? (size_t)(cr - p) : len;
	}
	for (; i < len; i++) {
		char ch = p[i];

		if (ch == '\r' || ch == '\t')
			break;
		if (ch == ' ' && (i + 1 == len || is_wsp(p[i + 1]) ||
		    p[i + 1] == '\r'))
			break;
	}
	return i;
}

void
dkim_body_feed(struct dkim_body *b, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {	/* a line end */
				b->wsp = 0;
				b->crlfs++;
				continue;
			}
			content(b, '\r');	/* a CR of the line */
		}
		if (c == '\r') {
			b->cr = 1;
			continue;
		}
		if (b->canon == DKIM_RELAXED && is_wsp(c)) {
			b->wsp = 1;
			continue;
		}
		/* Fast path: a run of plain bytes with nothing held back. */
		if (b->crlfs == 0 && !b->wsp) {
			size_t k = run_end(b->canon, p, i, len);

			if (k - i > sizeof(b->out) - b->n)
				flush(b);
			if (k - i > sizeof(b->out)) {
				b->emit(b->arg, p + i, k - i);
			} else {
				memcpy(b->out + b->n, p + i, k - i);
				b->n += k - i;
			}
			b->content = 1;
			i = k - 1;
			continue;
		}
		content(b, c);
	}
}

void
dkim_body_finish(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = 0;
		content(b, '\r');
	}
	/* Trailing empty lines go; a last line without its CRLF gets one;
	 * an empty body is CRLF (simple) or nothing (relaxed). */
	if (b->content || b->canon == DKIM_SIMPLE) {
		put(b, '\r');
		put(b, '\n');
	}
	b->crlfs = 0;
	b->wsp = 0;
	flush(b);
}

/* --- the header section ------------------------------------------------------ */

size_t
dkim_fields(const char *msg, size_t hlen, struct dkim_field *out, size_t max)
{
	size_t i = 0, n = 0;

	while (i < hlen) {
		size_t start = i, colon = (size_t)-1;

		if (msg[i] == '\r' || msg[i] == '\n')
			break;		/* the empty line */
		/* This line and its continuations. */
		for (;;) {
			while (i < hlen && msg[i] != '\n') {
				if (msg[i] == ':' && colon == (size_t)-1)
					colon = i;
				i++;
			}
			if (i < hlen)
				i++;
			if (i >= hlen || !is_wsp(msg[i]))
				break;
		}
		if (n < max) {
			size_t nl = (colon == (size_t)-1 ? i : colon) - start;

			while (nl > 0 && (is_wsp(msg[start + nl - 1]) ||
			    msg[start + nl - 1] == '\r' ||
			    msg[start + nl - 1] == '\n'))
				nl--;
			out[n].p = msg + start;
			out[n].len = i - start;
			out[n].namelen = nl;
		}
		n++;
	}
	return n;
}

/* --- the From domain ------------------------------------------------------------- */

/* Skips a quoted string or a (nested) comment starting at s[i]. */
static size_t
skip_special(const char *s, size_t len, size_t i)
{
	if (s[i] == '"') {
		for (i++; i < len && s[i] != '"'; i++)
			if (s[i] == '\\')
				i++;
		return i < len ? i + 1 : len;
	}
	if (s[i] == '(') {
		int depth = 0;

		for (; i < len; i++) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')' && --depth == 0)
				return i + 1;
		}
		return len;
	}
	return i + 1;
}

static int
domain_end(char c)
{
	return (unsigned char)c <= ' ' || c == '>' || c == ',' || c == ';' ||
	    c == '(' || c == ')' || c == '<' || c == '"' || c == '[' ||
	    c == ']' || c == '@' || c == ':';
}

static int
copy_domain(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	while (n < len && !domain_end(s[n]))
		n++;
	while (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return 0;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 1;
}

int
dkim_from_domain(const char *s, size_t len, char *out, size_t size)
{
	size_t i = 0, at = (size_t)-1;

	/* An address in angle brackets wins. */
	while (i < len) {
		if (s[i] == '"' || s[i] == '(') {
			i = skip_special(s, len, i);
			continue;
		}
		if (s[i] == '<') {
			size_t j = i + 1, last = (size_t)-1;

			while (j < len && s[j] != '>') {
				if (s[j] == '"') {
					j = skip_special(s, len, j);
					continue;
				}
				if (s[j] == '@')
					last = j;
				j++;
			}
			if (last == (size_t)-1)
				return 0;
			return copy_domain(s + last + 1, j - last - 1, out, size);
		}
		if (s[i] == '@' && at == (size_t)-1)
			at = i;
		if (s[i] == ',' && at != (size_t)-1)
			break;		/* the first mailbox only */
		i++;
	}
	if (at == (size_t)-1)
		return 0;
	return copy_domain(s + at + 1, len - at - 1, out, size);
}
