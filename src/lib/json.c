/* json: JSON string encoding as JSON.stringify writes it, UTF-8 checked. */
#include "lib/json.h"

#include <string.h>

/* UTF-8 sequence length at p (1..4), or 0 when invalid. */
size_t
utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void
json_string(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t avail = strlen(s), n;

	buf_addc(b, '"');
	while (avail) {
		/* Printable ASCII other than '"' and '\\' goes as it is: a
		 * run of it in one copy. */
		for (n = 0; n < avail && p[n] >= 0x20 && p[n] < 0x7f &&
		    p[n] != '"' && p[n] != '\\'; n++)
			;
		if (n > 0) {
			buf_add(b, p, n);
			p += n;
			avail -= n;
			continue;
		}
		switch (*p) {
		case '"':  buf_adds(b, "\\\""); n = 1; break;
		case '\\': buf_adds(b, "\\\\"); n = 1; break;
		case '\b': buf_adds(b, "\\b"); n = 1; break;
		case '\f': buf_adds(b, "\\f"); n = 1; break;
		case '\n': buf_adds(b, "\\n"); n = 1; break;
		case '\r': buf_adds(b, "\\r"); n = 1; break;
		case '\t': buf_adds(b, "\\t"); n = 1; break;
		default:
			if (*p < 0x20) {
				buf_printf(b, "\\u%04x", *p);
				n = 1;
			} else if ((n = utf8_len(p, avail)) == 0) {
				buf_adds(b, "\\ufffd");
				n = 1;
			} else
				buf_add(b, p, n);
		}
		p += n;
		avail -= n;
	}
	buf_addc(b, '"');
}

