/*
 * libFuzzer target: queue entry images. Whatever decodes must re-encode to
 * an image that decodes to the same entry, and encoding is canonical. An
 * input starting with '!' is sealed here (end marker with the right sum)
 * so that mutations reach the header parser past the checksum. Reading
 * through a qfs_source (in small steps) gives qfs_decode's verdict; the
 * salvage reader takes any input and returns only what it promises.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	    a->msg_len != b->msg_len)
		return 0;
	for (size_t i = 0; i < a->nrcpts; i++)
		if (a->rcpts[i].state != b->rcpts[i].state ||
		    !streq(a->rcpts[i].addr, b->rcpts[i].addr) ||
		    !streq(a->rcpts[i].reason, b->rcpts[i].reason))
			return 0;
	return 1;
}

static int
mem_read(void *arg, size_t off, void *buf, size_t n)
{
	memcpy(buf, (const char *)arg + off, n);
	return 0;
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
		if (s.id != NULL || s.rcpts != NULL)
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
	    s.domain == NULL || s.msg_len != 0)
		__builtin_trap();
	if (ok != NULL && (!streq(ok->mail_from, s.mail_from) ||
	    ok->nrcpts != s.nrcpts || ok->queue_time != s.queue_time))
		__builtin_trap();
	qentry_clear(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = BUF_INIT, img = BUF_INIT, img2 = BUF_INIT;
	struct qentry e, e2;
	const char *why = NULL;
	size_t step;
	char *p;

	if (size > 0 && data[0] == '!') {
		buf_add(&in, data + 1, size - 1);
		buf_printf(&in, "END %08X\n", qfs_crc32c(0, in.p, in.len));
	} else
		buf_add(&in, data, size);
	/* An exact-size copy, so that ASan sees any read past the end. */
	if ((p = malloc(in.len ? in.len : 1)) == NULL)
		abort();
	if (in.len)
		memcpy(p, in.p, in.len);
	step = size > 1 ? 1 + data[size - 1] % 32 : 0;
	if (qfs_decode(p, in.len, &e, &why) == -1) {
		if (why == NULL || e.id != NULL || e.rcpts != NULL)
			__builtin_trap();
		check_source(p, in.len, step, -1, why, NULL);
		check_salvage(p, in.len, NULL);
		goto done;
	}
	check_source(p, in.len, step, 0, NULL, &e);
	check_salvage(p, in.len, &e);
	if (!qfs_valid_id(e.id) || e.nrcpts == 0 || *e.domain == '\0' ||
	    (e.flags & ~QE_ALL) || e.queue_time < 0 || e.next_attempt < 0 ||
	    e.msg_offset + e.msg_len > in.len)
		__builtin_trap();
	qfs_encode(&e, p + e.msg_offset, e.msg_len, &img);
	if (qfs_decode(img.p, img.len, &e2, &why) == -1)
		__builtin_trap();
	if (!same(&e, &e2) || memcmp(p + e.msg_offset, img.p + e2.msg_offset,
	    e.msg_len) != 0)
		__builtin_trap();
	qfs_encode(&e2, img.p + e2.msg_offset, e2.msg_len, &img2);
	if (img2.len != img.len || memcmp(img.p, img2.p, img.len) != 0)
		__builtin_trap();
	qentry_clear(&e);
	qentry_clear(&e2);
done:
	free(p);
	buf_free(&in);
	buf_free(&img);
	buf_free(&img2);
	return 0;
}
