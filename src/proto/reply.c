/*
 * reply: reads SMTP replies (RFC 5321 §4.2) off the front of a byte range,
 * splitting off RFC 3463 enhanced status codes. Reads only p[0..len).
 * reply_parse() overwrites *r only when it returns 1 (clear a previous
 * reply first); the filled reply owns its strings until reply_clear().
 * Lines with empty text add nothing to r->text; *bad may be NULL.
 */
#include "proto/reply.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"

#define REPLY_BAD_MAX	200	/* bytes of a malformed line kept in *bad */
#define STR_(x)		#x
#define STR(x)		STR_(x)

/* One line's content (CR LF removed) and where the next one starts. */
struct line {
	struct slice	 s;
	size_t		 end;	/* offset just past the LF */
};

/* The printable rendering of a malformed line handed back in *bad. */
static char *
bad_line(const char *p, size_t n)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < n && b.len < REPLY_BAD_MAX; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\r' || ch == '\n')
			continue;
		buf_addc(&b, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
	}
	return buf_release(&b);
}

static int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/*
 * The code of a line, or -1 (*fault set) when it does not start `ddd`
 * (first digit 2-5) followed by '-', ' ' or nothing, or holds a NUL;
 * *final tells which separator.
 */
static int
line_code(struct slice s, int *final, enum reply_fault *fault)
{
	if (s.len < 3 || s.p[0] < '2' || s.p[0] > '5' || !is_digit(s.p[1]) ||
	    !is_digit(s.p[2]) || (s.len > 3 && s.p[3] != '-' &&
	    s.p[3] != ' ')) {
		*fault = REPLY_FAULT_CODE;
		return -1;
	}
	if (memchr(s.p, '\0', s.len) != NULL) {
		*fault = REPLY_FAULT_NUL;
		return -1;
	}
	*final = s.len == 3 || s.p[3] == ' ';
	return (s.p[0] - '0') * 100 + (s.p[1] - '0') * 10 + (s.p[2] - '0');
}

/* 1 to 3 digits at t[*i]; advances *i. */
static int
digits(struct slice t, size_t *i)
{
	size_t n = 0;

	while (*i < t.len && is_digit(t.p[*i]) && n < 4) {
		(*i)++;
		n++;
	}
	return n >= 1 && n <= 3;
}

/*
 * The enhanced status code at the start of t (the text after the
 * separator): `[#]c.ddd.ddd` then a space or the end, class c being the
 * reply's first digit (2, 4 or 5). Returns the bytes to skip (code, '#'
 * and one space), 0 when there is none; *code gets the code itself.
 */
static size_t
enhanced(struct slice t, int rcode, struct slice *code)
{
	size_t i = 0, start;

	if (i < t.len && t.p[i] == '#')
		i++;
	start = i;
	if (i >= t.len || (t.p[i] != '2' && t.p[i] != '4' && t.p[i] != '5') ||
	    t.p[i] - '0' != rcode / 100)
		return 0;
	i++;
	if (i >= t.len || t.p[i++] != '.' || !digits(t, &i))
		return 0;
	if (i >= t.len || t.p[i++] != '.' || !digits(t, &i))
		return 0;
	if (i < t.len && t.p[i] != ' ')
		return 0;
	*code = slice_of(t.p + start, i - start);
	return i < t.len ? i + 1 : i;
}

/*
 * Finds the line starting at off. 1 when complete, 0 when the LF has not
 * come yet, -1 when the line is (or must become) longer than allowed.
 */
static int
next_line(const char *p, size_t len, size_t off, struct line *l)
{
	const char *lf;
	size_t n;

	if (off >= len)
		return 0;
	if ((lf = memchr(p + off, '\n', len - off)) == NULL) {
		n = len - off;
		if (n > 0 && p[len - 1] == '\r')
			n--;
		l->s = slice_of(p + off, len - off);
		l->end = len;
		return n > REPLY_LINE_MAX ? -1 : 0;
	}
	n = (size_t)(lf - (p + off));
	if (n > 0 && lf[-1] == '\r')
		n--;
	l->s = slice_of(p + off, n);
	l->end = (size_t)(lf - p) + 1;
	return n > REPLY_LINE_MAX ? -1 : 1;
}

/* Fills r from the n validated lines of one reply. */
static void
fill(struct reply *r, const struct line *lines, size_t n, int code)
{
	struct buf text = BUF_INIT;

	memset(r, 0, sizeof(*r));
	r->code = code;
	r->lines = xreallocarray(NULL, n, sizeof(*r->lines));
	r->nlines = n;
	for (size_t i = 0; i < n; i++) {
		struct slice s = lines[i].s, ext, t;
		size_t skip;

		t = s.len > 3 ? slice_of(s.p + 4, s.len - 4) :
		    slice_of(s.p + s.len, 0);
		r->lines[i] = xstrndup(t.p, t.len);
		if ((skip = enhanced(t, code, &ext)) > 0) {
			memcpy(r->extc, ext.p, ext.len);
			r->extc[ext.len] = '\0';
			t = slice_of(t.p + skip, t.len - skip);
		}
		if (t.len == 0)
			continue;
		if (text.len > 0)
			buf_addc(&text, ' ');
		buf_add(&text, t.p, t.len);
	}
	r->text = buf_release(&text);
}

int
reply_parse(const char *p, size_t len, struct reply *r, size_t *used,
    char **bad, enum reply_fault *fault)
{
	struct line lines[REPLY_LINES_MAX], l;
	size_t n = 0, off = 0;
	int first = 0, code, final = 0, e;
	enum reply_fault f = REPLY_FAULT_NONE;

	*used = 0;
	if (bad != NULL)
		*bad = NULL;
	if (fault != NULL)
		*fault = REPLY_FAULT_NONE;
	for (;;) {
		e = next_line(p, len, off, &l);
		if (e == 0 && (off >= len || len <= REPLY_SIZE_MAX))
			return 0;
		if (e == 0)		/* not complete, and too big already */
			f = REPLY_FAULT_SIZE;
		else if (e < 0)
			f = REPLY_FAULT_LINE;
		else if (l.end > REPLY_SIZE_MAX)
			f = REPLY_FAULT_SIZE;
		else if (n == REPLY_LINES_MAX)
			f = REPLY_FAULT_LINES;
		else if ((code = line_code(l.s, &final, &f)) >= 0 && n > 0 &&
		    code != first)
			f = REPLY_FAULT_MIXED;
		if (f != REPLY_FAULT_NONE) {
			*used = l.end;
			if (bad != NULL)
				*bad = bad_line(l.s.p, l.s.len);
			if (fault != NULL)
				*fault = f;
			return -1;
		}
		if (n == 0)
			first = code;
		lines[n++] = l;
		off = l.end;
		if (final)
			break;
	}
	fill(r, lines, n, first);
	*used = off;
	return 1;
}

const char *
reply_fault_text(enum reply_fault f)
{
	switch (f) {
	case REPLY_FAULT_NONE:
		break;
	case REPLY_FAULT_CODE:
		return "no valid reply code";
	case REPLY_FAULT_MIXED:
		return "reply codes differ between lines";
	case REPLY_FAULT_NUL:
		return "NUL byte in the reply";
	case REPLY_FAULT_LINE:
		return "reply line longer than " STR(REPLY_LINE_MAX) " bytes";
	case REPLY_FAULT_LINES:
		return "reply of more than " STR(REPLY_LINES_MAX) " lines";
	case REPLY_FAULT_SIZE:
		return "reply longer than " STR(REPLY_SIZE_MAX) " bytes";
	}
	return "malformed reply";
}

void
reply_clear(struct reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

char *
reply_reason(const struct reply *r)
{
	const char *text = r->text != NULL ? r->text : "";

	return xasprintf("%d%s%s%s%s", r->code, r->extc[0] ? " " : "",
	    r->extc, text[0] ? " " : "", text);
}

int
reply_has_keyword(const struct reply *r, const char *kw, const char **arg)
{
	size_t kwlen = strlen(kw);

	if (kwlen == 0)
		return 0;
	for (size_t i = 0; i < r->nlines; i++) {
		const char *s = r->lines[i];

		s += strspn(s, " \t");
		if (strncasecmp(s, kw, kwlen) != 0 ||
		    (s[kwlen] != '\0' && s[kwlen] != ' ' && s[kwlen] != '\t'))
			continue;
		if (arg != NULL)
			*arg = s + kwlen + strspn(s + kwlen, " \t");
		return 1;
	}
	return 0;
}
