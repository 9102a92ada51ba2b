/*
 * libFuzzer target: queue entry images. Whatever decodes must re-encode to
 * an image that decodes to the same entry, and encoding is canonical. An
 * input starting with '!' is sealed here (end marker with the right sum)
 * so that mutations reach the header parser past the checksum.
 */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = BUF_INIT, img = BUF_INIT, img2 = BUF_INIT;
	struct qentry e, e2;
	const char *why = NULL;
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
	if (qfs_decode(p, in.len, &e, &why) == -1) {
		if (why == NULL || e.id != NULL || e.rcpts != NULL)
			__builtin_trap();
		goto done;
	}
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
