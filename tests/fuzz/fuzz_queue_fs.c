/*
 * libFuzzer target: queue entry images (versions 1 and 2) and body file
 * heads. Whatever decodes must re-encode (as version 2: a version 1 entry
 * as its start-up migration writes it, with a body) to an image that
 * decodes to the same entry, and encoding is canonical. An input starting
 * with '!' is sealed here (end marker with the right sum) so that
 * mutations reach the header parser past the checksum. Reading through a
 * qfs_source (in small steps) gives qfs_decode's verdict; the salvage
 * reader takes any input and returns only what it promises.
 * Every input is also a body file for qfs_body_parse: the verdict with 64
 * bytes read is the verdict with all of them, and what parses is exactly
 * head, message, tail; one starting with '@' is wrapped here as a valid
 * body file of the rest (and the version 1 message of a decoded entry
 * too, as the migration writes it), which must parse back.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "queue/entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int
same(const struct qentry *a, const struct qentry *b)
{
	if (!streq(a->id, b->id) || !streq(a->domain, b->domain) ||
	    !streq(a->mail_from, b->mail_from) || !streq(a->helo, b->helo) ||
	    !streq(a->client_ip, b->client_ip) ||
	    !streq(a->last_error, b->last_error) || a->flags != b->flags ||
	    a->queue_time != b->queue_time ||
	    a->next_attempt != b->next_attempt ||
	    a->attempts != b->attempts || a->nrcpts != b->nrcpts ||
	    a->nnotes != b->nnotes || !streq(a->body, b->body) ||
	    a->msg_len != b->msg_len || a->held != b->held)
		return 0;
	for (size_t i = 0; i < a->nrcpts; i++)
		if (a->rcpts[i].state != b->rcpts[i].state ||
		    !streq(a->rcpts[i].addr, b->rcpts[i].addr) ||
		    !streq(a->rcpts[i].reason, b->rcpts[i].reason))
			return 0;
	for (size_t i = 0; i < 2 * a->nnotes; i++)
		if (!streq(a->notes[i], b->notes[i]))
			return 0;
	return 1;
}

static int
mem_read(void *arg, size_t off, void *buf, size_t n)
{
	memcpy(buf, (const char *)arg + off, n);
	return 0;
}

/* An exact-size copy, so that ASan sees any read past the end. */
static char *
exact(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c == NULL)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

/* qfs_decode_source agrees with qfs_decode (rc, reason, entry). */
static void
check_source(const char *p, size_t len, size_t step, int rc,
    const char *why, const struct qentry *e)
{
	struct qfs_source src = { len, mem_read, (void *)p, step };
	const char *why2 = NULL;
	struct qentry e2;
	int err = -1;

	if (qfs_decode_source(&src, &e2, &why2, &err) != rc || err != 0)
		__builtin_trap();
	if (rc == -1) {
		if (why2 == NULL || strcmp(why, why2) != 0 || e2.id != NULL)
			__builtin_trap();
		return;
	}
	if (!same(e, &e2) || e->msg_offset != e2.msg_offset)
		__builtin_trap();
	qentry_clear(&e2);
}

/* What qfs_salvage returns: a pending recipient, the name as id, every
 * string set, no message; a decodable image salvages to its header. */
static void
check_salvage(const char *p, size_t len, const struct qentry *ok)
{
	const char *name = ok != NULL ? ok->id : "F.1.1";
	size_t pending = 0, okpending = 0;
	struct qentry s;

	if (qfs_salvage(p, len, name, &s) == -1) {
		if (s.id != NULL || s.rcpts != NULL || s.body != NULL)
			__builtin_trap();
		for (size_t i = 0; ok != NULL && i < ok->nrcpts; i++)
			okpending += ok->rcpts[i].state == QRCPT_PENDING;
		if (okpending > 0)	/* a good image always salvages */
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < s.nrcpts; i++) {
		if (s.rcpts[i].addr == NULL || *s.rcpts[i].addr == '\0')
			__builtin_trap();
		pending += s.rcpts[i].state == QRCPT_PENDING;
	}
	if (pending == 0 || strcmp(s.id, name) != 0 || s.mail_from == NULL ||
	    s.domain == NULL || s.msg_len != 0 || s.msg_offset != 0 ||
	    (s.body != NULL && !qfs_valid_id(s.body)))
		__builtin_trap();
	/* A good image: all of its header (version 2: its body too). */
	if (ok != NULL && (!streq(ok->mail_from, s.mail_from) ||
	    ok->nrcpts != s.nrcpts || ok->queue_time != s.queue_time ||
	    !streq(ok->body, s.body)))
		__builtin_trap();
	qentry_clear(&s);
}

/*
 * qfs_body_parse of p as a whole body file: the verdict reading its first
 * 64 bytes is the verdict reading all; what parses is a canonical head
 * (qfs_body_head's), the message and a tail's room, exactly. Returns the
 * parse's verdict, with the message's offset and length.
 */
static int
check_body(const char *p, size_t len, size_t *off, size_t *mlen)
{
	size_t have = len < 64 ? len : 64, off2 = 0, mlen2 = 0;
	const char *why = NULL, *why2 = NULL;
	struct buf head = BUF_INIT;
	int rc, rc2;
	uint32_t crc;

	rc = qfs_body_parse(p, have, len, off, mlen, &why);
	rc2 = qfs_body_parse(p, len, len, &off2, &mlen2, &why2);
	if (rc != rc2 || (rc == -1 && (why == NULL || why2 == NULL)))
		__builtin_trap();
	if (rc == -1)
		return -1;
	if (*off != off2 || *mlen != mlen2 || *off > have ||
	    *off + *mlen + QFS_BODY_TAIL != len)
		__builtin_trap();
	qfs_body_head(*mlen, &head);
	if (head.len != *off || memcmp(head.p, p, *off) != 0)
		__builtin_trap();
	buf_free(&head);
	/* A well-formed tail with the right sum: the file is exactly what
	 * qfs_body_tail writes for that message. */
	if (qfs_body_tail_crc(p + *off + *mlen, &crc) == 0 &&
	    crc == crc32c(0, p, *off + *mlen + 1)) {
		struct buf b = BUF_INIT;

		qfs_body_head(*mlen, &b);
		buf_add(&b, p + *off, *mlen);
		qfs_body_tail(crc32c(0, b.p, b.len), &b);
		if (b.len != len || memcmp(b.p, p, len) != 0)
			__builtin_trap();
		buf_free(&b);
	}
	return 0;
}

/* The body file of msg (as a commit or the migration writes it) parses
 * back to msg, its tail's sum right. */
static void
check_body_of(const char *msg, size_t len)
{
	struct buf b = BUF_INIT;
	size_t off, mlen;
	uint32_t crc;
	char *p;

	qfs_body_head(len, &b);
	buf_add(&b, msg, len);
	qfs_body_tail(crc32c(0, b.p, b.len), &b);
	p = exact(b.p, b.len);
	if (check_body(p, b.len, &off, &mlen) != 0 || mlen != len ||
	    memcmp(p + off, msg, len) != 0 ||
	    qfs_body_tail_crc(p + off + mlen, &crc) != 0 ||
	    crc != crc32c(0, p, off + mlen + 1))
		__builtin_trap();
	free(p);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = BUF_INIT, img = BUF_INIT, img2 = BUF_INIT;
	struct qentry e, e2;
	const char *why = NULL;
	size_t step, off, mlen;
	char *p;

	if (size > 0 && data[0] == '@') {
		check_body_of((const char *)data + 1, size - 1);
		return 0;
	}
	if (size > 0 && data[0] == '!') {
		buf_add(&in, data + 1, size - 1);
		buf_printf(&in, "END %08X\n", crc32c(0, in.p, in.len));
	} else
		buf_add(&in, data, size);
	p = exact(in.p, in.len);
	check_body(p, in.len, &off, &mlen);
	step = size > 1 ? 1 + data[size - 1] % 32 : 0;
	if (qfs_decode(p, in.len, &e, &why) == -1) {
		if (why == NULL || e.id != NULL || e.rcpts != NULL ||
		    e.body != NULL)
			__builtin_trap();
		check_source(p, in.len, step, -1, why, NULL);
		check_salvage(p, in.len, NULL);
		goto done;
	}
	check_source(p, in.len, step, 0, NULL, &e);
	check_salvage(p, in.len, &e);
	if (!qfs_valid_id(e.id) || e.nrcpts == 0 || *e.domain == '\0' ||
	    (e.flags & ~QE_ALL) || e.queue_time < 0 || e.next_attempt < 0)
		__builtin_trap();
	if (e.body != NULL) {
		/* Version 2: the message is elsewhere, of a size a body
		 * may have. */
		if (memcmp(p, "OUTPOST-QUEUE 2\n", 16) != 0 ||
		    !qfs_valid_id(e.body) || e.msg_len > QFS_BODY_MAX ||
		    e.msg_offset != 0)
			__builtin_trap();
	} else {
		/* Version 1: the message inline, then LF and the end marker;
		 * migrated, it becomes a body file and a version 2 entry
		 * naming it. */
		if (memcmp(p, "OUTPOST-QUEUE 1\n", 16) != 0 ||
		    e.msg_offset + e.msg_len + 14 != in.len ||
		    p[e.msg_offset + e.msg_len] != '\n')
			__builtin_trap();
		check_body_of(p + e.msg_offset, e.msg_len);
		e.body = xstrdup(e.id);
	}
	qfs_encode(&e, &img);
	if (qfs_decode(img.p, img.len, &e2, &why) == -1)
		__builtin_trap();
	if (!same(&e, &e2) || e2.msg_offset != 0)
		__builtin_trap();
	qfs_encode(&e2, &img2);
	if (img2.len != img.len || memcmp(img.p, img2.p, img.len) != 0)
		__builtin_trap();
	check_source(img.p, img.len, step, 0, NULL, &e2);
	check_salvage(img.p, img.len, &e2);
	qentry_clear(&e);
	qentry_clear(&e2);
done:
	free(p);
	buf_free(&in);
	buf_free(&img);
	buf_free(&img2);
	return 0;
}
