/*
 * libFuzzer target: the DATA reader (smtp/data.c) over any byte stream.
 * Input: [max_bytes/4][max_line][chunk seed] then the bytes after DATA.
 * Oracles: fed in one piece or in random chunks (as the socket delivers
 * them) the reader consumes the same bytes and gives the same verdict and
 * message; both agree with a plain reference reading of RFC 5321 §4.1.1.4
 * and §4.5.2 (the end only at <CRLF>.<CRLF>, a leading dot removed, any
 * bare CR or LF refuses the message, then the size limit; a line over
 * max_line (from 4) folded as Haraka does);
 * an accepted message, dot-stuffed again and ended, reads back the same.
 */
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "smtp/data.h"

struct outcome {
	size_t			 used;
	int			 done;
	enum data_result	 result;
	struct buf		 msg;
};

static void
run(const char *p, size_t len, size_t max_bytes, unsigned max_line,
    struct fuzz_rng *rng, struct outcome *o)
{
	struct data_reader r;
	size_t off = 0;

	memset(&r, 0, sizeof(r));
	data_begin(&r, max_bytes, max_line);
	o->used = 0;
	o->done = 0;
	while (off < len && !o->done) {
		size_t n = rng != NULL ? fuzz_chunk(rng, len - off) : len - off;
		size_t k = data_feed(&r, p + off, n, &o->done);

		/* All of a chunk is taken unless the end came in it. */
		check(k <= n && (o->done || k == n));
		off += k;
	}
	o->used = off;
	o->result = data_result(&r);
	o->msg = r.msg;		/* handed over; data_clear not called */
}

/* The reference: where the end is (0: none), per RFC 5321. */
static size_t
ref_end(const char *p, size_t len)
{
	if (len >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return 3;
	for (size_t i = 0; i + 5 <= len; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* The reference verdict and message for p[0..len), the lines before the
 * end line (each ending CRLF unless bare). */
static enum data_result
ref_read(const char *p, size_t len, size_t max_bytes, unsigned max_line,
    struct buf *msg)
{
	for (size_t i = 0; i < len; i++)
		if ((p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n')) ||
		    (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')))
			return DATA_BARE;
	for (size_t i = 0; i < len; ) {
		const char *crlf = memmem(p + i, len - i, "\r\n", 2);
		size_t n = (size_t)(crlf - (p + i));

		const char *l = p + i;
		size_t pos = n > 0 && l[0] == '.';	/* the stuffed dot */
		int cont = 0;

		/* Folded as sent (Haraka): while the rest of the line (after
		 * a space when it continues one), with its CRLF, is over
		 * max_line, its first max_line - 2 bytes are a line. The
		 * stuffed dot counts as sent but is not kept. */
		while (max_line >= 4 && cont + (n - (cont ? pos : 0)) + 2 >
		    max_line) {
			size_t take = max_line - 2 - (size_t)cont;

			if (cont)
				buf_addc(msg, ' ');
			else
				take -= pos;	/* the dot was one of them */
			buf_add(msg, l + pos, take);
			buf_add(msg, "\r\n", 2);
			pos += take;
			cont = 1;
		}
		if (cont)
			buf_addc(msg, ' ');
		buf_add(msg, l + pos, n - pos);
		buf_add(msg, "\r\n", 2);
		i += n + 2;
	}
	if (max_bytes && msg->len > max_bytes)
		return DATA_TOO_BIG;
	return DATA_OK;
}

static int
same_msg(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome one, many, again;
	struct buf ref = BUF_INIT, stuffed = BUF_INIT;
	struct fuzz_rng rng;
	const char *p;
	size_t len, max_bytes, end;
	unsigned max_line;

	if (size < 3)
		return 0;
	max_bytes = (size_t)data[0] * 4;
	max_line = data[1];
	fuzz_rng_init(&rng, data[2]);
	p = (const char *)data + 3;
	len = size - 3;

	run(p, len, max_bytes, max_line, NULL, &one);
	run(p, len, max_bytes, max_line, &rng, &many);
	check(one.used == many.used && one.done == many.done);
	check(one.result == many.result && same_msg(&one.msg, &many.msg));

	end = ref_end(p, len);
	check(one.done == (end != 0));
	check(one.used == (end != 0 ? end : len));
	if (one.done) {
		enum data_result want = ref_read(p, end - 3, max_bytes,
		    max_line, &ref);

		check(one.result == want);
		if (want == DATA_OK)
			check(same_msg(&one.msg, &ref));
		else	/* a refused message is not kept */
			check(one.msg.len == 0);
	}
	if (one.done && one.result == DATA_OK) {
		/* Stuffed again (RFC 5321 §4.5.2) it reads back the same. */
		for (size_t i = 0; i < one.msg.len; i++) {
			if (one.msg.p[i] == '.' && (i == 0 ||
			    one.msg.p[i - 1] == '\n'))
				buf_addc(&stuffed, '.');
			buf_addc(&stuffed, one.msg.p[i]);
		}
		buf_add(&stuffed, ".\r\n", 3);
		run(stuffed.p, stuffed.len, max_bytes, max_line, &rng, &again);
		check(again.done && again.used == stuffed.len);
		check(again.result == DATA_OK && same_msg(&again.msg, &one.msg));
		buf_free(&again.msg);
	}
	buf_free(&one.msg);
	buf_free(&many.msg);
	buf_free(&ref);
	buf_free(&stuffed);
	return 0;
}
