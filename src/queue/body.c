/*
 * body: reading the body file of a message (docs/queue-format.md) in
 * order, verifying its CRC-32C on the way: the head at open, the message
 * piece by piece, the tail before the last piece is handed over. Holds
 * one fd per open body and nothing else; writes nothing.
 */
#include "queue/body.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xmalloc.h"
#include "queue/entry.h"

#define HEAD_READ	64		/* "OUTPOST-BODY 1\nsize <20 digits>\n" */

struct qbody {
	int		 fd;
	size_t		 off;		/* the message's offset in the file */
	size_t		 len;		/* its length */
	size_t		 pos;		/* bytes of it handed over */
	uint32_t	 crc;		/* of every byte read so far */
	uint32_t	 head_crc;	/* of the head */
	int		 verified;	/* the tail matched */
	const char	*why;
	int		 err;
};

char *
qbody_path(const char *dir, const char *id)
{
	return xasprintf("%s/" QFS_BODY_PREFIX "%s", dir, id);
}

int
qbody_open(const char *dir, const char *id, size_t len, struct qbody **out,
    const char **why, int *err)
{
	char *path = qbody_path(dir, id), head[HEAD_READ];
	size_t flen, have, off, mlen;
	struct qbody *b;
	struct stat st;
	int fd;

	*out = NULL;
	fd = qfs_open_regular(path, &st, why, err);
	free(path);
	if (fd == -1)
		return -1;
	flen = (size_t)st.st_size;
	have = flen < sizeof(head) ? flen : sizeof(head);
	if (qfs_pread_all(&fd, 0, head, have) == -1) {
		*err = errno;
		*why = strerror(errno);
		goto fail;
	}
	if (qfs_body_parse(head, have, flen, &off, &mlen, why) == -1)
		goto fail;
	if (mlen != len) {
		*why = "message size does not match the entry";
		goto fail;
	}
	b = xcalloc(1, sizeof(*b));
	b->fd = fd;
	b->off = off;
	b->len = len;
	b->crc = b->head_crc = crc32c(0, head, off);
	*out = b;
	return 0;
fail:
	close(fd);
	return -1;
}

static ssize_t
fail(struct qbody *b, const char *why, int err)
{
	b->why = why;
	b->err = err;
	return -1;
}

/* The tail after the message: its CRC must be that of all before it. */
static int
tail_ok(struct qbody *b)
{
	char tail[QFS_BODY_TAIL];
	uint32_t crc;

	if (qfs_pread_all(&b->fd, b->off + b->len, tail, sizeof(tail)) == -1)
		return fail(b, strerror(errno), errno), -1;
	if (qfs_body_tail_crc(tail, &crc) == -1)
		return fail(b, "bad end marker", 0), -1;
	if (crc32c(b->crc, "\n", 1) != crc)
		return fail(b, "checksum mismatch", 0), -1;
	return 0;
}

ssize_t
qbody_read(struct qbody *b, char *buf, size_t n)
{
	size_t left = b->len - b->pos;

	if (b->why != NULL)
		return -1;
	if (left == 0) {		/* an empty message's tail, too */
		if (!b->verified && tail_ok(b) == -1)
			return -1;
		b->verified = 1;
		return 0;
	}
	if (n > left)
		n = left;
	if (qfs_pread_all(&b->fd, b->off + b->pos, buf, n) == -1)
		return fail(b, strerror(errno), errno);
	b->crc = crc32c(b->crc, buf, n);
	if (n == left) {
		if (tail_ok(b) == -1)
			return -1;
		b->verified = 1;
	}
	b->pos += n;
	return (ssize_t)n;
}

const char *
qbody_error(const struct qbody *b, int *err)
{
	*err = b->err;
	return b->why != NULL ? b->why : "no error";
}

void
qbody_close(struct qbody *b)
{
	if (b == NULL)
		return;
	close(b->fd);
	free(b);
}

/* Its empty line ends the header section; without one, its last CRLF. */
size_t
qbody_header_section(const char *p, size_t n)
{
	const char *end, *crlf = NULL;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	if ((end = memmem(p, n, "\r\n\r\n", 4)) != NULL)
		return (size_t)(end - p) + 4;
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			crlf = p + i;
	return crlf != NULL ? (size_t)(crlf - p) + 2 : n;
}

void
qbody_rewind(struct qbody *b)
{
	b->pos = 0;
	b->crc = b->head_crc;
	b->verified = 0;
}

int
qbody_view(struct qbody *b, size_t max, char **out, size_t *outlen,
    int *whole)
{
	size_t want = b->len <= max ? b->len : max, got = 0;
	char *p = xmalloc(want + 1);
	ssize_t r;

	qbody_rewind(b);
	while (got < want && (r = qbody_read(b, p + got, want - got)) > 0)
		got += (size_t)r;
	/* All of it: the read that returns 0 verified the checksum. */
	if (got < want || (b->len <= max && qbody_read(b, p, 0) != 0)) {
		free(p);
		return -1;
	}
	qbody_rewind(b);
	*whole = b->len <= max;
	if (!*whole)
		got = qbody_header_section(p, got);
	p[got] = '\0';
	*out = p;
	*outlen = got;
	return 0;
}
