/*
 * libFuzzer target: message header handling (proto/message.c) — header
 * lookup with unfolding, RFC 2047 decoding, send_email's normalisation.
 * Input: [flags] then a message (any bytes). Oracles: msg_prepare leaves
 * only CRLF line ends, is idempotent, and drops the headers it is asked
 * to; a header reads the same before and after normalisation, unfolded
 * (no CR or LF) and trimmed; text without "=?" decodes to itself; any
 * bytes encoded as one B or Q encoded-word (or two, split, with folding
 * between them) decode back to themselves (Q in ISO-8859-1: to UTF-8).
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "proto/message.h"

#define ROUND_TRIP_MAX	512	/* bytes of the input encoded and decoded */

static int
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0);
}

/* Every CR starts a CRLF and every LF ends one; the text ends in CRLF. */
static void
crlf_only(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] == '\r')
			check(i + 1 < b->len && b->p[i + 1] == '\n');
		if (b->p[i] == '\n')
			check(i > 0 && b->p[i - 1] == '\r');
	}
	check(b->len == 0 || (b->len >= 2 && b->p[b->len - 1] == '\n'));
}

/* A header of the original and of its normalised form: the same. */
static void
header_same(const char *msg, size_t len, const struct buf *norm,
    const char *name)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	int fa = msg_header(msg, len, name, &a);
	int fb = msg_header(norm->p != NULL ? norm->p : "", norm->len, name,
	    &b);

	check(fa == fb && same(&a, &b));
	if (fa) {
		check(memchr(a.p != NULL ? a.p : "", '\r', a.len) == NULL &&
		    memchr(a.p != NULL ? a.p : "", '\n', a.len) == NULL);
		check(a.len == 0 || (!isspace((unsigned char)a.p[0]) &&
		    !isspace((unsigned char)a.p[a.len - 1])));
	} else
		check(a.len == 0);
	buf_free(&a);
	buf_free(&b);
}

static void
q_encode(struct buf *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "=%02X", p[i]);
}

static void
latin1_utf8(struct buf *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x80)
			buf_addc(out, (char)p[i]);
		else {
			buf_addc(out, (char)(0xc0 | (p[i] >> 6)));
			buf_addc(out, (char)(0x80 | (p[i] & 0x3f)));
		}
	}
}

static void
round_trips(const uint8_t *p, size_t n)
{
	struct buf enc = BUF_INIT, dec = BUF_INIT, want = BUF_INIT;
	size_t half;

	if (n > ROUND_TRIP_MAX)
		n = ROUND_TRIP_MAX;
	half = n / 2;
	buf_add(&want, p, n);

	buf_adds(&enc, "=?UTF-8?B?");
	base64_encode(&enc, p, n);
	buf_adds(&enc, "?=");
	msg_decode_2047(enc.p, enc.len, &dec);
	check(same(&dec, &want));

	/* Two words, folded between: the blanks between them go. */
	buf_reset(&enc);
	buf_reset(&dec);
	buf_adds(&enc, "=?utf-8*en?b?");
	base64_encode(&enc, p, half);
	buf_adds(&enc, "?=\r\n \t=?X-UNKNOWN?Q?");
	q_encode(&enc, p + half, n - half);
	buf_adds(&enc, "?=");
	msg_decode_2047(enc.p, enc.len, &dec);
	check(same(&dec, &want));

	buf_reset(&enc);
	buf_reset(&dec);
	buf_reset(&want);
	buf_adds(&enc, "=?ISO-8859-1?Q?");
	q_encode(&enc, p, n);
	buf_adds(&enc, "?=");
	latin1_utf8(&want, p, n);
	msg_decode_2047(enc.p, enc.len, &dec);
	check(same(&dec, &want));
	buf_free(&enc);
	buf_free(&dec);
	buf_free(&want);
}

/* msg_header_remove: it removes exactly when msg_header finds one, gives
 * msg_header's value, takes bytes from the header block only (the body
 * is unchanged), and a second field of that name is found after it. */
static void
removes(const char *msg, size_t len, const char *name)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t hl = msg_headers_len(msg, len), n;
	char *copy = malloc(len + 1);
	int found = msg_header(msg, len, name, &a);

	check(copy != NULL);
	memcpy(copy, msg, len);
	n = msg_header_remove(copy, len, name, &b);
	check((n > 0) == (found != 0));
	check(n <= hl);
	if (found)
		check(same(&a, &b));
	check(memcmp(copy + hl - n, msg + hl, len - hl) == 0);
	free(copy);
	buf_free(&a);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf norm = BUF_INIT, again = BUF_INIT, dec = BUF_INIT;
	struct buf subject = BUF_INIT;
	const char *msg, *colon;
	unsigned flags;
	size_t len;
	char name[64];

	if (size < 1)
		return 0;
	flags = data[0] & (MSG_DOT_STUFFED | MSG_REMOVE_MSGID |
	    MSG_REMOVE_DATE);
	msg = (const char *)data + 1;
	len = size - 1;

	check(msg_headers_len(msg, len) <= len);
	msg_prepare(msg, len, flags, &norm);
	crlf_only(&norm);
	msg_prepare(norm.p != NULL ? norm.p : "", norm.len,
	    flags & ~MSG_DOT_STUFFED, &again);
	check(same(&norm, &again));
	if (flags & MSG_REMOVE_MSGID)
		check(!msg_header(norm.p, norm.len, "message-id", &dec));
	if (flags & MSG_REMOVE_DATE)
		check(!msg_header(norm.p, norm.len, "DATE", &dec));

	buf_reset(&norm);
	msg_prepare(msg, len, 0, &norm);
	header_same(msg, len, &norm, "Subject");
	header_same(msg, len, &norm, "Message-Id");
	/* And the first line's own name, whatever it is. */
	if ((colon = memchr(msg, ':', len < sizeof(name) ? len :
	    sizeof(name) - 1)) != NULL && memchr(msg, '\0',
	    (size_t)(colon - msg)) == NULL) {
		size_t n = (size_t)(colon - msg);

		while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t'))
			n--;
		memcpy(name, msg, n);
		name[n] = '\0';
		header_same(msg, len, &norm, name);
	}

	/* Decoding: anything goes in; plain text comes out unchanged. */
	buf_reset(&dec);
	msg_decode_2047(msg, len, &dec);
	check(dec.p != NULL && dec.p[dec.len] == '\0');
	if (memmem(msg, len, "=?", 2) == NULL)
		check(dec.len == len && memcmp(dec.p, msg, len) == 0);
	if (msg_header(msg, len, "Subject", &subject)) {
		buf_reset(&dec);
		msg_decode_2047(subject.p, subject.len, &dec);
	}
	removes(msg, len, "Subject");
	round_trips(data + 1, len);
	buf_free(&norm);
	buf_free(&again);
	buf_free(&dec);
	buf_free(&subject);
	return 0;
}
