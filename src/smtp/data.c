/*
 * smtp/data: the DATA reader, a byte state machine — dot-unstuffing, the
 * end only at <CRLF>.<CRLF>; a bare CR or LF (smuggling) refuses the message
 * while the reader keeps to the real end; lines over data_line_length
 * folded as Haraka does — and the trace header.
 */
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "smtp/data.h"

void
data_begin(struct data_reader *r, size_t max_bytes, unsigned max_line)
{
	r->max_bytes = max_bytes;
	r->max_line = max_line;
	r->dstate = D_TEXT;
	r->bol = 1;
	r->cr = 0;
	r->linelen = 0;
	r->bare = r->toobig = r->folded = 0;
	r->trace_len = 0;
	buf_reset(&r->msg);
}

void
data_clear(struct data_reader *r)
{
	buf_free(&r->msg);
	r->trace_len = 0;
}

/* Keeps message bytes while the message can still be accepted. */
static void
keep(struct data_reader *r, const char *p, size_t n)
{
	if (r->bare || r->toobig)
		return;
	if (r->max_bytes && r->msg.len + n > r->max_bytes) {
		r->toobig = 1;
		buf_free(&r->msg);
		return;
	}
	buf_add(&r->msg, p, n);
}

/* A bare CR or LF: the message is refused, and the byte is part of its
 * line, which then no longer starts (a dot after it is no end). */
static void
bare(struct data_reader *r)
{
	r->bare = 1;
	r->bol = 0;
	buf_free(&r->msg);
}

/*
 * Ordinary bytes of a line, folded as Haraka (and Sendmail) do: a line
 * whose bytes with its CRLF, as sent (dot-stuffed), would pass max_line
 * gets CRLF SPACE after its first max_line - 2 bytes, and so on for the
 * rest. Past that point any further byte proves the line too long; a CR
 * there may still end it (in which case it fits exactly).
 */
static void
text(struct data_reader *r, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = n;

		if (r->max_line >= 4) {
			if (r->linelen >= r->max_line - 2) {
				keep(r, "\r\n ", 3);
				r->folded = 1;
				r->linelen = 1;
			}
			if (room > r->max_line - 2 - r->linelen)
				room = r->max_line - 2 - r->linelen;
		}
		keep(r, p, room);
		r->linelen += room;
		p += room;
		n -= room;
	}
}

size_t
data_feed(struct data_reader *r, const char *p, size_t len, int *done)
{
	size_t i = 0;

	*done = 0;
	while (i < len) {
		char c = p[i];

		if (r->dstate == D_DOT) {
			r->dstate = D_TEXT;
			if (c == '\r') {
				r->dstate = D_DOTCR;
				i++;
				continue;
			}
			/* A stuffed dot: dropped; c is ordinary text. */
		} else if (r->dstate == D_DOTCR) {
			r->dstate = D_TEXT;
			if (c == '\n') {
				*done = 1;
				return i + 1;
			}
			/* ".<CR>x": the CR is bare. */
			bare(r);
		}
		if (r->cr) {
			r->cr = 0;
			if (c == '\n') {
				keep(r, "\r\n", 2);
				r->bol = 1;
				r->linelen = 0;
				i++;
				continue;
			}
			bare(r);
		}
		if (c == '\r') {
			r->cr = 1;
			i++;
			continue;
		}
		if (c == '\n') {
			bare(r);
			i++;
			continue;
		}
		if (r->bol && c == '.') {
			r->bol = 0;
			r->dstate = D_DOT;
			r->linelen++;	/* a byte as sent, not kept */
			i++;
			continue;
		}
		r->bol = 0;
		/* A whole line here (text, CRLF) that needs no folding: kept
		 * in one copy, as text() and the CRLF would keep it. (Not
		 * once refused: a bare CR would make each byte search on.) */
		if (!r->bare) {
			const char *nl = memchr(p + i, '\n', len - i);
			size_t n = nl != NULL ? (size_t)(nl - (p + i)) : 0;

			if (n >= 2 && nl[-1] == '\r' &&
			    memchr(p + i, '\r', n - 1) == NULL &&
			    (r->max_line < 4 ||
			    r->linelen + n - 1 <= r->max_line - 2)) {
				keep(r, p + i, n + 1);
				r->bol = 1;
				r->linelen = 0;
				i += n + 1;
				continue;
			}
		}
		/* A run of ordinary bytes in one copy. */
		{
			size_t j = i;

			while (j < len && p[j] != '\r' && p[j] != '\n')
				j++;
			text(r, p + i, j - i);
			i = j;
		}
	}
	return i;
}

enum data_result
data_result(const struct data_reader *r)
{
	if (r->bare)
		return DATA_BARE;
	if (r->toobig)
		return DATA_TOO_BIG;
	return DATA_OK;
}

/* --- the trace header ------------------------------------------------------ */

/* A HELO name as it may appear in a header: no CFWS specials. */
static void
add_helo(struct buf *b, const char *helo)
{
	for (const unsigned char *p = (const unsigned char *)helo; *p; p++)
		buf_addc(b, *p < 0x21 || *p == 0x7f || strchr("()<>;\\\"", *p) ?
		    '_' : (char)*p);
}

void
data_add_trace(struct data_reader *r, const struct trace_info *ti)
{
	struct buf h = BUF_INIT;
	char date[64];

	date_rfc5322(date, sizeof(date), time(NULL));
	buf_adds(&h, "Received: from ");
	add_helo(&h, ti->helo);
	buf_printf(&h, " ([%s%s])\r\n", ti->v6 ? "IPv6:" : "", ti->ip);
	if (ti->tls != NULL)
		buf_printf(&h, "\t(%s)\r\n", ti->tls);
	buf_printf(&h, "\tby %s (Outpost) with %s id %s", ti->me, ti->protocol,
	    ti->id);
	if (ti->rcpt != NULL)
		buf_printf(&h, "\r\n\tfor <%s>", ti->rcpt);
	buf_printf(&h, "; %s\r\n", date);
	r->trace_len = h.len;
	buf_replace_head(&r->msg, 0, h.p, h.len);
	buf_free(&h);
}
