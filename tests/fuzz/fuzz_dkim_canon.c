/*
 * libFuzzer target: DKIM canonicalisation (proto/dkim_canon.c). Input: a
 * message (any bytes). Oracles: the body canonicalised in random pieces
 * equals the body canonicalised whole (simple and relaxed); canonical
 * bodies end in CRLF (relaxed: or are empty) with no empty line at the
 * end; a relaxed body has no blank before a CRLF and no run of blanks;
 * simple keeps every byte of a body that already ends in exactly one
 * CRLF; relaxed canonicalisation of a body and of its relaxed form agree
 * (idempotent); every field of the header split is inside the header
 * section, in order, and its relaxed form is one line with a lower-case
 * name, no CRLF inside, no blank around the colon or at the end (of a
 * line with a colon); a
 * From domain is lower case, non-empty, without blanks or '@'.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "proto/dkim_canon.h"

static void
to_buf(void *arg, const char *p, size_t n)
{
	buf_add(arg, p, n);
}

static void
canon_body(enum dkim_canon c, const char *p, size_t len,
    struct fuzz_rng *rng, struct buf *out)
{
	static struct dkim_body b;

	dkim_body_init(&b, c, to_buf, out);
	if (rng == NULL)
		dkim_body_feed(&b, p, len);
	else
		for (size_t i = 0; i < len;) {
			size_t n = fuzz_chunk(rng, len - i);

			dkim_body_feed(&b, p + i, n);
			i += n;
		}
	dkim_body_finish(&b);
}

static int
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0);
}

static void
check_body(enum dkim_canon c, const struct buf *b)
{
	if (b->len == 0) {
		check(c == DKIM_RELAXED);
		return;
	}
	check(b->len >= 2 && b->p[b->len - 2] == '\r' &&
	    b->p[b->len - 1] == '\n');
	check(b->len < 4 || memcmp(b->p + b->len - 4, "\r\n\r\n", 4) != 0);
	if (c != DKIM_RELAXED)
		return;
	for (size_t i = 0; i + 1 < b->len; i++) {
		check(!(b->p[i] == '\t'));
		check(!(b->p[i] == ' ' && (b->p[i + 1] == ' ' ||
		    (b->p[i + 1] == '\r' && i + 2 < b->len &&
		    b->p[i + 2] == '\n'))));
	}
}

static void
check_fields(const char *msg, size_t len)
{
	struct dkim_field f[64];
	size_t n = dkim_fields(msg, len, f, 64), at = 0;

	for (size_t i = 0; i < n && i < 64; i++) {
		struct buf r = BUF_INIT;
		const char *colon;

		check(f[i].p == msg + at && f[i].len > 0);
		check(f[i].namelen <= f[i].len);
		at += f[i].len;
		check(at <= len);
		dkim_canon_header(DKIM_RELAXED, f[i].p, f[i].len, &r);
		check(r.len >= 2 && r.p[r.len - 2] == '\r' &&
		    r.p[r.len - 1] == '\n');
		for (size_t k = 0; k + 2 < r.len; k++)
			check(r.p[k] != '\r' || r.p[k + 1] != '\n');
		colon = memchr(r.p, ':', r.len);
		for (const char *q = r.p; colon != NULL && q < colon; q++)
			check(!isupper((unsigned char)*q));
		if (colon != NULL && colon > r.p) {
			check(colon[-1] != ' ' && colon[-1] != '\t');
			check(colon[1] != ' ' && colon[1] != '\t');
		}
		/* (a line without a colon is no field; it is kept) */
		check(colon == NULL || r.len < 3 || (r.p[r.len - 3] != ' ' &&
		    r.p[r.len - 3] != '\t'));
		buf_free(&r);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct fuzz_rng rng;
	char dom[256];

	fuzz_rng_init(&rng, (uint32_t)size);
	for (int c = DKIM_SIMPLE; c <= DKIM_RELAXED; c++) {
		struct buf whole = BUF_INIT, pieces = BUF_INIT, again = BUF_INIT;

		canon_body(c, msg, size, NULL, &whole);
		canon_body(c, msg, size, &rng, &pieces);
		check(same(&whole, &pieces));
		check_body(c, &whole);
		canon_body(c, whole.p != NULL ? whole.p : "", whole.len, NULL,
		    &again);
		check(same(&whole, &again));
		buf_free(&whole);
		buf_free(&pieces);
		buf_free(&again);
	}
	check_fields(msg, size);
	if (dkim_from_domain(msg, size, dom, sizeof(dom))) {
		check(dom[0] != '\0');
		for (const char *q = dom; *q != '\0'; q++)
			check(!isupper((unsigned char)*q) && *q != '@' &&
			    *q != ' ' && *q != '\t');
	}
	return 0;
}
