/* Unit tests: body files (msg.<body>): their head and tail (entry.c:
 * qfs_body_head/_tail/_parse/_tail_crc), reading them in pieces with the
 * checksum verified before the last piece (body.c), the hooks' view of a
 * message (qbody_view); and the count of entries per body (refs.c). */
#include "unit.h"
#include "queue/qfiles.h"

#include <errno.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "queue/body.h"
#include "queue/entry.h"
#include "queue/refs.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The body file image of msg. */
static void
body_image(const char *msg, size_t len, struct buf *out)
{
	qfs_body_head(len, out);
	buf_add(out, msg, len);
	qfs_body_tail(crc32c(0, out->p, out->len), out);
}

/* dir/msg.<id> holding msg; with `flip`, byte flip (of the file) ^ 1. */
static size_t
put_body(const char *dir, const char *id, const char *msg, size_t len,
    size_t flip)
{
	struct buf b = BUF_INIT;
	char *name = xasprintf("msg.%s", id);
	size_t off;

	body_image(msg, len, &b);
	off = b.len - len - QFS_BODY_TAIL;
	if (flip != SIZE_MAX)
		b.p[flip] ^= 1;
	put_file(dir, name, b.p, b.len);
	free(name);
	buf_free(&b);
	return off;
}

/* A message of n bytes, every byte value, NULs included. */
static char *
message(size_t n)
{
	char *p = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 13 + i / 509);
	p[n] = '\0';
	return p;
}

/* --- head and tail -------------------------------------------------------- */

static void
test_head_tail_round_trip(void **state)
{
	static const size_t lens[] = { 0, 1, 21, 65536, 1000000,
	    QFS_BODY_MAX };

	(void)state;
	for (size_t i = 0; i < NELEM(lens); i++) {
		struct buf h = BUF_INIT, t = BUF_INIT;
		const char *why = NULL;
		size_t off = 0, len = 0, flen;
		uint32_t crc = 0;
		char want[64];

		qfs_body_head(lens[i], &h);
		snprintf(want, sizeof(want), "OUTPOST-BODY 1\nsize %zu\n",
		    lens[i]);
		assert_string_equal(h.p, want);
		flen = h.len + lens[i] + QFS_BODY_TAIL;
		/* Its head alone is enough, and 64 bytes always hold it. */
		assert_true(h.len <= 64);
		assert_int_equal(qfs_body_parse(h.p, h.len, flen, &off, &len,
		    &why), 0);
		assert_int_equal(off, h.len);
		assert_int_equal(len, lens[i]);
		qfs_body_tail(0x12345678, &t);
		assert_int_equal(t.len, QFS_BODY_TAIL);
		assert_int_equal(qfs_body_tail_crc(t.p, &crc), 0);
		/* The tail's CRC covers the LF before END. */
		assert_int_equal(crc, crc32c(0x12345678, "\n", 1));
		buf_free(&h);
		buf_free(&t);
	}
}

/* A whole body file: parsed with 64 bytes of it, or all; its tail's CRC
 * is that of every byte before END. */
static void
test_body_image(void **state)
{
	char *msg = message(1000);
	struct buf b = BUF_INIT;
	const char *why;
	size_t off, len;
	uint32_t crc;

	(void)state;
	body_image(msg, 1000, &b);
	assert_int_equal(qfs_body_parse(b.p, 64, b.len, &off, &len, &why), 0);
	assert_int_equal(len, 1000);
	assert_memory_equal(b.p + off, msg, 1000);
	assert_int_equal(qfs_body_parse(b.p, b.len, b.len, &off, &len, &why),
	    0);
	assert_int_equal(qfs_body_tail_crc(b.p + off + len, &crc), 0);
	assert_int_equal(crc, crc32c(0, b.p, off + len + 1));
	assert_memory_equal(b.p + off + len, "\nEND ", 5);
	assert_int_equal(b.p[b.len - 1], '\n');
	buf_free(&b);
	free(msg);
}

static void
test_parse_refusals(void **state)
{
	static const struct {
		const char	*head;
		size_t		 extra;	/* flen: the head's length + extra */
		const char	*why;	/* NULL: parses */
	} pc[] = {
		{ "OUTPOST-BODY 1\nsize 3\n", 3 + 14, NULL },
		{ "OUTPOST-BODY 1\nsize 0\n", 14, NULL },
		/* Wrong magic. */
		{ "OUTPOST-BODY 2\nsize 3\n", 17, "not an Outpost message file" },
		{ "OUTPOST-QUEUE 1\n", 17, "not an Outpost message file" },
		{ "outpost-body 1\nsize 3\n", 17, "not an Outpost message file" },
		{ "OUTPOST-BODY 1\nSize 3\n", 17, "not an Outpost message file" },
		{ "OUTPOST-BODY 1 \nsize 3\n", 17,
		  "not an Outpost message file" },
		{ "X", 0, "not an Outpost message file" },
		/* Truncated: the file ends in the head, the message or the
		 * tail. */
		{ "", 0, "truncated" },
		{ "OUTPOST-BO", 0, "truncated" },
		{ "OUTPOST-BODY 1\nsize ", 0, "truncated" },
		{ "OUTPOST-BODY 1\nsize 3", 0, "truncated" },
		{ "OUTPOST-BODY 1\nsize 3\n", 0, "truncated" },
		{ "OUTPOST-BODY 1\nsize 3\n", 3, "truncated" },
		{ "OUTPOST-BODY 1\nsize 3\n", 3 + 13, "truncated" },
		{ "OUTPOST-BODY 1\nsize 0\n", 13, "truncated" },
		{ "OUTPOST-BODY 1\nsize 18446744073709551615\n", 100,
		  "truncated" },
		/* Bad size line. */
		{ "OUTPOST-BODY 1\nsize 03\n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize \n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize -3\n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize +3\n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize 3 \n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize 3\r\n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize 0x3\n", 17, "bad size line" },
		{ "OUTPOST-BODY 1\nsize 18446744073709551616\n", 100,
		  "bad size line" },
		/* No LF in what was read, the file going on. */
		{ "OUTPOST-BODY 1\nsize 3", 17, "bad size line" },
		/* More than head, message and tail. */
		{ "OUTPOST-BODY 1\nsize 3\n", 3 + 15,
		  "trailing garbage after end marker" },
		{ "OUTPOST-BODY 1\nsize 0\n", 1000,
		  "trailing garbage after end marker" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(pc); i++) {
		size_t have = strlen(pc[i].head), off = 0, len = 0;
		char *p = xmalloc(have + 1);	/* exact, for ASan */
		const char *why = NULL;
		int rc;

		memcpy(p, pc[i].head, have);
		rc = qfs_body_parse(p, have, have + pc[i].extra, &off, &len,
		    &why);
		if (pc[i].why == NULL && rc != 0)
			fail_msg("case %zu: %s", i, why);
		if (pc[i].why != NULL && (rc != -1 ||
		    strcmp(why, pc[i].why) != 0))
			fail_msg("case %zu: got %s, want %s", i,
			    rc == 0 ? "success" : why, pc[i].why);
		if (rc == 0)
			assert_int_equal(off + len + QFS_BODY_TAIL,
			    have + pc[i].extra);
		free(p);
	}
}

static void
test_tail_refusals(void **state)
{
	static const struct {
		const char	*tail;
		int		 rc;
	} tc[] = {
		{ "\nEND 0123ABCD\n", 0 }, { "\nEND FFFFFFFF\n", 0 },
		{ "\nEND 0123abcd\n", -1 }, { "XEND 0123ABCD\n", -1 },
		{ "\nEND 0123ABCDX", -1 }, { "\nend 0123ABCD\n", -1 },
		{ "\nEND 0123ABC \n", -1 }, { "\nEND  123ABCD\n", -1 },
		{ "\nEND\t0123ABCD\n", -1 }, { "\nENDX0123ABCD\n", -1 },
		{ "\nEND -123ABCD\n", -1 }, { "\nEND 0123ABCG\n", -1 },
	};
	uint32_t crc;

	(void)state;
	for (size_t i = 0; i < NELEM(tc); i++) {
		crc = 7;
		assert_int_equal(strlen(tc[i].tail), QFS_BODY_TAIL);
		if (qfs_body_tail_crc(tc[i].tail, &crc) != tc[i].rc)
			fail_msg("'%s': want %d", tc[i].tail, tc[i].rc);
	}
	assert_int_equal(qfs_body_tail_crc(tc[0].tail, &crc), 0);
	assert_int_equal(crc, 0x0123ABCD);
}

/* --- reading -------------------------------------------------------------- */

static void
test_path(void **state)
{
	char *p = qbody_path("/q", "A.1.1");

	(void)state;
	assert_string_equal(p, "/q/msg.A.1.1");
	free(p);
}

/*
 * Reads body id (len bytes) in pieces of `piece`: every read gives all
 * it may (min(piece, what is left)), none is held back, until all is
 * read and verified (0) or the read fails (-1: the return). *got gets
 * what was handed over, *last the size of the read that failed.
 */
static int
read_pieces(struct qbody *qb, size_t len, size_t piece, char *out,
    size_t *got, size_t *last)
{
	char *buf = xmalloc(piece);
	ssize_t r;

	*got = 0;
	for (;;) {
		size_t want = len - *got < piece ? len - *got : piece;

		r = qbody_read(qb, buf, piece);
		if (r <= 0) {
			*last = want;
			break;
		}
		assert_int_equal((size_t)r, want);
		memcpy(out + *got, buf, (size_t)r);
		*got += (size_t)r;
	}
	free(buf);
	return (int)r;
}

static void
test_read_in_pieces(void **state)
{
	static const size_t pieces[] = { 1, 7, 65536, 1 << 20 };
	const size_t len = 150001;		/* over two 64 KiB pieces */
	char *dir = tmpdir_new(), *msg = message(len), *out = xmalloc(len);
	struct qbody *qb;
	const char *why;
	size_t got, last;
	int err;

	(void)state;
	put_body(dir, "A.1.1", msg, len, SIZE_MAX);
	for (size_t i = 0; i < NELEM(pieces); i++) {
		assert_int_equal(qbody_open(dir, "A.1.1", len, &qb, &why,
		    &err), 0);
		memset(out, 0, len);
		assert_int_equal(read_pieces(qb, len, pieces[i], out, &got,
		    &last), 0);
		assert_int_equal(got, len);
		assert_memory_equal(out, msg, len);
		/* Done stays done. */
		assert_int_equal(qbody_read(qb, out, 10), 0);
		assert_string_equal(qbody_error(qb, &err), "no error");
		assert_int_equal(err, 0);
		qbody_close(qb);
	}
	qbody_close(NULL);
	free(out);
	free(msg);
	tmpdir_rm(dir);
}

/*
 * A damaged byte anywhere in the message: every piece before the last is
 * handed over as it comes (it cannot be known yet); the last never is:
 * its read fails with "checksum mismatch" (corrupt: err 0), and so does
 * every read after it.
 */
static void
test_damage_fails_the_last_read(void **state)
{
	static const size_t pieces[] = { 1, 7, 65536 };
	const size_t len = 70001;
	const size_t at[] = { 0, 1, 12345, 65536, len - 2, len - 1 };
	char *dir = tmpdir_new(), *msg = message(len), *out = xmalloc(len);
	struct qbody *qb;
	const char *why;
	size_t off, got, last;
	int err;

	(void)state;
	for (size_t a = 0; a < NELEM(at); a++) {
		off = put_body(dir, "D.1.1", msg, len, SIZE_MAX);
		put_body(dir, "D.1.1", msg, len, off + at[a]);
		for (size_t i = 0; i < NELEM(pieces); i++) {
			assert_int_equal(qbody_open(dir, "D.1.1", len, &qb,
			    &why, &err), 0);
			assert_int_equal(read_pieces(qb, len, pieces[i], out,
			    &got, &last), -1);
			/* All but the last piece, which is what was left. */
			assert_int_equal(got + last, len);
			assert_true(last > 0 && last <= pieces[i]);
			assert_string_equal(qbody_error(qb, &err),
			    "checksum mismatch");
			assert_int_equal(err, 0);
			assert_int_equal(qbody_read(qb, out, 1), -1);
			qbody_close(qb);
		}
	}
	free(out);
	free(msg);
	tmpdir_rm(dir);
}

/* Damage outside the message: in the tail (at the last read), in the
 * head (at the open). */
static void
test_damaged_head_and_tail(void **state)
{
	char *dir = tmpdir_new(), buf[64];
	const char *msg = "Subject: x\r\n\r\nbody\r\n";
	struct buf b = BUF_INIT;
	struct qbody *qb;
	const char *why;
	int err;

	(void)state;
	body_image(msg, 20, &b);
	/* The CRC's digits. */
	b.p[b.len - 2] = b.p[b.len - 2] == '0' ? '1' : '0';
	put_file(dir, "msg.T.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "T.1.1", 20, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, 10), 10);
	assert_int_equal(qbody_read(qb, buf, 64), -1);
	assert_string_equal(qbody_error(qb, &err), "checksum mismatch");
	qbody_close(qb);
	/* The end marker itself. */
	b.p[b.len - 10] = 'e';
	put_file(dir, "msg.T.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "T.1.1", 20, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, 64), -1);
	assert_string_equal(qbody_error(qb, &err), "bad end marker");
	assert_int_equal(err, 0);
	qbody_close(qb);
	/* The LF before it. */
	buf_reset(&b);
	body_image(msg, 20, &b);
	b.p[b.len - QFS_BODY_TAIL] = 'x';
	put_file(dir, "msg.T.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "T.1.1", 20, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, 64), -1);
	assert_string_equal(qbody_error(qb, &err), "bad end marker");
	qbody_close(qb);

	/* The head: refused at the open (corrupt: err 0). */
	buf_reset(&b);
	body_image(msg, 20, &b);
	b.p[3] ^= 1;
	put_file(dir, "msg.H.1.1", b.p, b.len);
	err = -1;
	assert_int_equal(qbody_open(dir, "H.1.1", 20, &qb, &why, &err), -1);
	assert_string_equal(why, "not an Outpost message file");
	assert_int_equal(err, 0);
	assert_null(qb);
	b.p[3] ^= 1;
	b.p[21] = '1';				/* size 21 */
	put_file(dir, "msg.H.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "H.1.1", 20, &qb, &why, &err), -1);
	assert_string_equal(why, "truncated");
	assert_int_equal(qbody_open(dir, "H.1.1", 21, &qb, &why, &err), -1);
	assert_string_equal(why, "truncated");
	b.p[21] = '9';				/* size 29 */
	put_file(dir, "msg.H.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "H.1.1", 20, &qb, &why, &err), -1);
	assert_string_equal(why, "truncated");
	buf_reset(&b);
	body_image(msg, 20, &b);
	buf_addc(&b, '\n');
	put_file(dir, "msg.H.1.1", b.p, b.len);
	assert_int_equal(qbody_open(dir, "H.1.1", 20, &qb, &why, &err), -1);
	assert_string_equal(why, "trailing garbage after end marker");
	assert_int_equal(err, 0);
	put_file(dir, "msg.H.1.1", "", 0);
	assert_int_equal(qbody_open(dir, "H.1.1", 0, &qb, &why, &err), -1);
	assert_string_equal(why, "truncated");
	buf_free(&b);
	tmpdir_rm(dir);
}

static void
test_open_refusals(void **state)
{
	char *dir = tmpdir_new(), *path;
	struct qbody *qb = (struct qbody *)&qb;
	const char *why;
	int err = 0;

	(void)state;
	put_body(dir, "S.1.1", "abc", 3, SIZE_MAX);
	/* Not the entry's size. */
	assert_int_equal(qbody_open(dir, "S.1.1", 4, &qb, &why, &err), -1);
	assert_string_equal(why, "message size does not match the entry");
	assert_int_equal(err, 0);
	assert_null(qb);
	assert_int_equal(qbody_open(dir, "S.1.1", 2, &qb, &why, &err), -1);
	assert_string_equal(why, "message size does not match the entry");
	/* Missing. */
	assert_int_equal(qbody_open(dir, "none", 3, &qb, &why, &err), -1);
	assert_int_equal(err, ENOENT);
	assert_string_equal(why, strerror(ENOENT));
	/* Not a regular file: never opened, a link never followed. */
	path = xasprintf("%s/msg.L.1.1", dir);
	assert_int_equal(symlink("msg.S.1.1", path), 0);
	free(path);
	assert_int_equal(qbody_open(dir, "L.1.1", 3, &qb, &why, &err), -1);
	assert_int_equal(err, EINVAL);
	assert_string_equal(why, "not a regular file");
	path = xasprintf("%s/msg.F.1.1", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	free(path);
	assert_int_equal(qbody_open(dir, "F.1.1", 3, &qb, &why, &err), -1);
	assert_int_equal(err, EINVAL);
	tmpdir_rm(dir);
}

/* A file that gets shorter under the reader: a read error (EIO), not
 * corrupt. */
static void
test_read_error(void **state)
{
	char *dir = tmpdir_new(), *path, buf[100];
	struct qbody *qb;
	const char *why;
	int err;

	(void)state;
	put_body(dir, "E.1.1", "0123456789", 10, SIZE_MAX);
	assert_int_equal(qbody_open(dir, "E.1.1", 10, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, 3), 3);
	path = xasprintf("%s/msg.E.1.1", dir);
	assert_int_equal(truncate(path, 25), 0);
	free(path);
	assert_int_equal(qbody_read(qb, buf, 100), -1);
	assert_string_equal(qbody_error(qb, &err), strerror(EIO));
	assert_int_equal(err, EIO);
	qbody_close(qb);
	tmpdir_rm(dir);
}

static void
test_empty_message(void **state)
{
	char *dir = tmpdir_new(), buf[8], *out = NULL;
	struct buf b = BUF_INIT;
	struct qbody *qb;
	const char *why;
	size_t n = 99;
	int err, whole = 0;

	(void)state;
	put_body(dir, "Z.1.1", "", 0, SIZE_MAX);
	assert_int_equal(qbody_open(dir, "Z.1.1", 0, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, sizeof(buf)), 0);
	assert_int_equal(qbody_read(qb, buf, sizeof(buf)), 0);
	assert_int_equal(qbody_view(qb, 100, &out, &n, &whole), 0);
	assert_int_equal(n, 0);
	assert_true(whole);
	assert_string_equal(out, "");
	free(out);
	qbody_close(qb);
	/* Its tail is still verified. */
	body_image("", 0, &b);
	b.p[30] = b.p[30] == '0' ? '1' : '0';		/* a CRC digit */
	put_file(dir, "msg.Z.1.1", b.p, b.len);
	buf_free(&b);
	assert_int_equal(qbody_open(dir, "Z.1.1", 0, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, buf, sizeof(buf)), -1);
	assert_string_equal(qbody_error(qb, &err), "checksum mismatch");
	qbody_close(qb);
	tmpdir_rm(dir);
}

/* Back to the first byte: for a new transaction, whether the last one
 * stopped half way or read it all. */
static void
test_rewind(void **state)
{
	const size_t len = 100000;
	char *dir = tmpdir_new(), *msg = message(len), *out = xmalloc(len);
	struct qbody *qb;
	const char *why;
	size_t got, last;
	int err;

	(void)state;
	put_body(dir, "R.1.1", msg, len, SIZE_MAX);
	assert_int_equal(qbody_open(dir, "R.1.1", len, &qb, &why, &err), 0);
	assert_int_equal(qbody_read(qb, out, 777), 777);
	qbody_rewind(qb);
	assert_int_equal(read_pieces(qb, len, 4096, out, &got, &last), 0);
	assert_memory_equal(out, msg, len);
	qbody_rewind(qb);
	memset(out, 0, len);
	assert_int_equal(read_pieces(qb, len, 65536, out, &got, &last), 0);
	assert_int_equal(got, len);
	assert_memory_equal(out, msg, len);
	/* Rewound at the very end: read again, verified again. */
	qbody_rewind(qb);
	qbody_rewind(qb);
	assert_int_equal(read_pieces(qb, len, len, out, &got, &last), 0);
	assert_memory_equal(out, msg, len);
	qbody_close(qb);
	free(out);
	free(msg);
	tmpdir_rm(dir);
}

/* --- the view ------------------------------------------------------------- */

static void
expect_view(const char *dir, const char *msg, size_t max, int ok,
    const char *want, int want_whole)
{
	size_t len = strlen(msg), n = 0, got, last;
	char *out = NULL, *all = xmalloc(len + 1);
	struct qbody *qb;
	const char *why;
	int err, whole = -1;

	put_body(dir, "V.1.1", msg, len, SIZE_MAX);
	assert_int_equal(qbody_open(dir, "V.1.1", len, &qb, &why, &err), 0);
	/* Half read: the view starts from the first byte anyway. */
	assert_int_equal(qbody_read(qb, all, 3), 3);
	assert_int_equal(qbody_view(qb, max, &out, &n, &whole), ok);
	if (ok == 0) {
		assert_int_equal(n, strlen(want));
		assert_string_equal(out, want);
		assert_int_equal(whole, want_whole);
		free(out);
		/* Rewound: the whole message reads after it. */
		assert_int_equal(read_pieces(qb, len, 5, all, &got, &last), 0);
		assert_memory_equal(all, msg, len);
	}
	qbody_close(qb);
	free(all);
}

static void
test_view(void **state)
{
	static const char msg[] = "Subject: x\r\nTo: y\r\n\r\nbody\r\n";
	char *dir = tmpdir_new(), *out = (char *)"x";
	struct qbody *qb;
	const char *why;
	size_t n = 0, len = sizeof(msg) - 1;
	int err, whole = 0;

	(void)state;
	/* Whole when it fits. */
	expect_view(dir, msg, len, 0, msg, 1);
	expect_view(dir, msg, 1 << 20, 0, msg, 1);
	/* Else its header section, with the empty line. */
	expect_view(dir, msg, len - 1, 0, "Subject: x\r\nTo: y\r\n\r\n", 0);
	expect_view(dir, msg, 21, 0, "Subject: x\r\nTo: y\r\n\r\n", 0);
	/* Cut before the empty line: the whole lines. */
	expect_view(dir, msg, 20, 0, "Subject: x\r\nTo: y\r\n", 0);
	expect_view(dir, msg, 18, 0, "Subject: x\r\n", 0);
	/* Not one whole line: what there is. */
	expect_view(dir, msg, 11, 0, "Subject: x\r", 0);
	expect_view(dir, msg, 0, 0, "", 0);
	/* No header section at all. */
	expect_view(dir, "\r\nbody\r\n", 5, 0, "\r\n", 0);
	expect_view(dir, "no line end at all", 5, 0, "no li", 0);
	expect_view(dir, "A: 1\r\nB: 2\r\nno empty line", 20, 0,
	    "A: 1\r\nB: 2\r\n", 0);

	/* Damage: a whole view is verified; a header section cannot be. */
	put_body(dir, "V.1.1", msg, len, 23 + 22);	/* "body" */
	assert_int_equal(qbody_open(dir, "V.1.1", len, &qb, &why, &err), 0);
	assert_int_equal(qbody_view(qb, len, &out, &n, &whole), -1);
	assert_string_equal(qbody_error(qb, &err), "checksum mismatch");
	qbody_close(qb);
	assert_int_equal(qbody_open(dir, "V.1.1", len, &qb, &why, &err), 0);
	assert_int_equal(qbody_view(qb, 22, &out, &n, &whole), 0);
	assert_string_equal(out, "Subject: x\r\nTo: y\r\n\r\n");
	assert_false(whole);
	free(out);
	qbody_close(qb);
	tmpdir_rm(dir);
}

static void
test_header_section(void **state)
{
	static const struct {
		const char	*p;
		size_t		 want;
	} hs[] = {
		{ "", 0 }, { "\r\n", 2 }, { "\r\nx", 2 }, { "\r\n\r\n", 2 },
		{ "a\r\n\r\nb\r\n\r\n", 5 }, { "a\r\nb", 3 }, { "ab", 2 },
		{ "a\n\nb", 4 }, { "a\r\n\r", 3 }, { "a: b\r\n c\r\n\r\nx", 12 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(hs); i++)
		if (qbody_header_section(hs[i].p, strlen(hs[i].p)) !=
		    hs[i].want)
			fail_msg("case %zu: %zu, want %zu", i,
			    qbody_header_section(hs[i].p, strlen(hs[i].p)),
			    hs[i].want);
}

/* --- refs ----------------------------------------------------------------- */

static void
test_refs(void **state)
{
	struct qrefs *r = qrefs_new();

	(void)state;
	assert_int_equal(qrefs_size(r), 0);
	assert_int_equal(qrefs_get(r, "a"), 0);
	assert_int_equal(qrefs_drop(r, "a"), 0);	/* never known */
	qrefs_add(r, "a", 2);
	qrefs_add(r, "b", 1);
	qrefs_add(r, "a", 1);
	assert_int_equal(qrefs_size(r), 2);
	assert_int_equal(qrefs_get(r, "a"), 3);
	assert_int_equal(qrefs_get(r, "b"), 1);
	assert_int_equal(qrefs_get(r, "A"), 0);
	assert_int_equal(qrefs_drop(r, "a"), 2);
	assert_int_equal(qrefs_drop(r, "a"), 1);
	assert_int_equal(qrefs_size(r), 2);
	assert_int_equal(qrefs_drop(r, "a"), 0);	/* the last: forgotten */
	assert_int_equal(qrefs_size(r), 1);
	assert_int_equal(qrefs_get(r, "a"), 0);
	assert_int_equal(qrefs_drop(r, "a"), 0);
	assert_int_equal(qrefs_size(r), 1);
	qrefs_add(r, "a", 1);				/* known again */
	assert_int_equal(qrefs_get(r, "a"), 1);
	assert_int_equal(qrefs_size(r), 2);
	qrefs_free(r);
	qrefs_free(NULL);
}

/* Past 64 keys (the table grows, more than once): every count kept. */
static void
test_refs_growth(void **state)
{
	const size_t n = 5000;
	struct qrefs *r = qrefs_new();
	char id[32];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "C%zu.1.%zu", i / 7, i % 7);
		qrefs_add(r, id, 1 + i % 3);
		assert_int_equal(qrefs_size(r), i + 1);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "C%zu.1.%zu", i / 7, i % 7);
		assert_int_equal(qrefs_get(r, id), 1 + i % 3);
	}
	/* Drop every entry of every other key: those are forgotten, the
	 * rest kept. */
	for (size_t i = 0; i < n; i += 2) {
		snprintf(id, sizeof(id), "C%zu.1.%zu", i / 7, i % 7);
		for (size_t k = 1 + i % 3; k-- > 0;)
			assert_int_equal(qrefs_drop(r, id), k);
	}
	assert_int_equal(qrefs_size(r), n / 2);
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "C%zu.1.%zu", i / 7, i % 7);
		assert_int_equal(qrefs_get(r, id), i % 2 ? 1 + i % 3 : 0);
	}
	qrefs_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_tail_round_trip),
		cmocka_unit_test(test_body_image),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_tail_refusals),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_read_in_pieces),
		cmocka_unit_test(test_damage_fails_the_last_read),
		cmocka_unit_test(test_damaged_head_and_tail),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_rewind),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_header_section),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_refs_growth),
	};

	return cmocka_run_group_tests_name("queue_body", tests, NULL, NULL);
}
