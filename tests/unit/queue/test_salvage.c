/* Unit tests: reading entries on demand (qfs_decode_source: the verdict of
 * qfs_decode with the header alone in memory), the salvage of refused
 * images (qfs_salvage), of versions 2 and 1, reading files that are not
 * regular (entry_file.c) and the start-up scan's corrupt entries
 * (scan.c). */
#include "unit.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lib/buf.h"
#include "queue/entry.h"
#include "queue/scan.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The entry of the images: id, two pending recipients and a delivered
 * one, a note; its message (msg_len) in the body file msg.<id>. */
static void
entry(struct qentry *e, const char *id, size_t len)
{
	static const char *const notes[] = { "next_hop", "smtp://x", NULL };
	static struct qrcpt r[3] = {
		{ "a@dest.example", QRCPT_PENDING, NULL },
		{ "b@dest.example", QRCPT_DELIVERED, "250 ok" },
		{ "\"c d\"@dest.example", QRCPT_PENDING, "451 later" },
	};

	memset(e, 0, sizeof(*e));
	e->id = (char *)id;
	e->domain = "dest.example";
	e->mail_from = "sender@src.example";
	e->queue_time = 1700000000000;
	e->next_attempt = 1700000060000;
	e->attempts = 2;
	e->helo = "client.example";
	e->client_ip = "192.0.2.1";
	e->rcpts = r;
	e->nrcpts = 3;
	e->notes = (char **)notes;
	e->nnotes = 1;
	e->body = (char *)id;
	e->msg_len = len;
}

/* Its version 2 image. */
static void
image(const char *id, size_t len, struct buf *out)
{
	struct qentry e;

	entry(&e, id, len);
	qfs_encode(&e, out);
}

/*
 * Its version 1 image, the message inline: the version line
 * "OUTPOST-QUEUE 1", the header lines of version 2 less `body` and
 * `size`, "message <n>", the message, LF, the end marker.
 */
static void
image_v1(const char *id, const char *msg, size_t len, struct buf *out)
{
	struct buf v2 = BUF_INIT;
	size_t start = out->len;
	const char *hdr, *end;

	image(id, len, &v2);
	buf_addc(&v2, '\0');
	hdr = strchr(v2.p, '\n') + 1;
	end = strstr(v2.p, "\nbody ") + 1;
	buf_adds(out, "OUTPOST-QUEUE 1\n");
	buf_add(out, hdr, (size_t)(end - hdr));
	buf_printf(out, "message %zu\n", len);
	buf_add(out, msg, len);
	buf_addc(out, '\n');
	buf_printf(out, "END %08X\n", crc32c(0, out->p + start,
	    out->len - start));
	buf_free(&v2);
}

/* Version v's image, with msg inline for version 1. */
static void
image_of(unsigned v, const char *id, const char *msg, size_t len,
    struct buf *out)
{
	if (v == 1)
		image_v1(id, msg, len, out);
	else
		image(id, len, out);
}

/* A source over memory that records the largest read. */
struct mem {
	const char	*p;
	size_t		 largest;
	size_t		 fail_at;	/* a read reaching past it fails */
};

static int
mem_read(void *arg, size_t off, void *buf, size_t n)
{
	struct mem *m = arg;

	if (off + n > m->fail_at) {
		errno = EIO;
		return -1;
	}
	memcpy(buf, m->p + off, n);
	m->largest = n > m->largest ? n : m->largest;
	return 0;
}

static int
streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* qfs_decode and qfs_decode_source agree on data, whatever the step. */
static void
agree(const char *data, size_t len)
{
	static const size_t steps[] = { 1, 2, 3, 17, 0 };
	struct qentry a, b;
	const char *wa = NULL, *wb = NULL;
	int ra = qfs_decode(data, len, &a, &wa), rb, err;

	for (size_t s = 0; s < NELEM(steps); s++) {
		struct mem m = { data, 0, SIZE_MAX };
		struct qfs_source src = { len, mem_read, &m, steps[s] };

		rb = qfs_decode_source(&src, &b, &wb, &err);
		assert_int_equal(ra, rb);
		assert_int_equal(err, 0);
		if (ra == -1) {
			assert_string_equal(wa, wb);
			continue;
		}
		assert_true(streq(a.id, b.id));
		assert_true(streq(a.mail_from, b.mail_from));
		assert_true(streq(a.body, b.body));
		assert_int_equal(a.nrcpts, b.nrcpts);
		assert_int_equal(a.msg_offset, b.msg_offset);
		assert_int_equal(a.msg_len, b.msg_len);
		qentry_clear(&b);
	}
	if (ra == 0)
		qentry_clear(&a);
}

static void
test_source_agrees_with_memory(void **state)
{
	struct buf b = BUF_INIT;
	char *d;

	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&b);
		image_of(v, "Q.1.1", "Subject: x\r\n\r\nbody\r\n", 20, &b);
		d = b.p;
		agree(d, b.len);
		/* Every prefix, and every byte changed. */
		for (size_t n = 0; n < b.len; n++)
			agree(d, n);
		for (size_t i = 0; i < b.len; i++) {
			char c = d[i];

			d[i] = (char)(c ^ 0x20);
			agree(d, b.len);
			d[i] = '\n';
			agree(d, b.len);
			d[i] = c;
		}
	}
	buf_free(&b);
}

static void
test_source_read_error(void **state)
{
	struct buf b = BUF_INIT;
	struct qentry e;
	const char *why;
	int err;

	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&b);
		image_of(v, "Q.1.1", "body", 4, &b);
		for (size_t at = 0; at < b.len; at++) {
			struct mem m = { b.p, 0, at };
			struct qfs_source src = { b.len, mem_read, &m, 1 };

			assert_int_equal(qfs_decode_source(&src, &e, &why,
			    &err), -1);
			assert_int_equal(err, EIO);
			assert_string_equal(why, "read error");
			assert_null(e.id);
		}
	}
	buf_free(&b);
}

/* A file of `len` bytes made up as it is read: the header of `head`,
 * then a message of 'x', the LF and end marker (its sum computed on the
 * way), or a header that never ends. */
struct big {
	struct buf	 head;
	size_t		 len;
	char		 tail[14];
	size_t		 largest;
};

static int
big_read(void *arg, size_t off, void *buf, size_t n)
{
	struct big *g = arg;
	char *o = buf;

	g->largest = n > g->largest ? n : g->largest;
	for (size_t i = 0; i < n; i++, off++)
		if (off < g->head.len)
			o[i] = g->head.p[off];
		else if (!g->tail[0])
			o[i] = "xxxx a b\n"[(off - g->head.len) % 9];
		else if (off >= g->len - 14)
			o[i] = g->tail[off - (g->len - 14)];
		else
			o[i] = 'x';
	return 0;
}

static void
test_large_files_cost_their_header(void **state)
{
	struct big g = { BUF_INIT, 0, { 0 }, 0 };
	struct qfs_source src = { 0, big_read, &g, 0 };
	size_t body = (size_t)80 << 20;
	struct buf b = BUF_INIT;
	char *chunk = xmalloc(1 << 20);
	struct qentry e;
	const char *why;
	uint32_t crc;
	int err;

	(void)state;
	/* An 80 MiB message in a version 1 entry: decoded reading 64 KiB
	 * at a time. */
	image_v1("BIG.1.1", "", 0, &b);
	buf_add(&g.head, b.p, (size_t)(strstr(b.p, "message 0\n") - b.p));
	buf_printf(&g.head, "message %zu\n", body);
	g.len = g.head.len + body + 14;
	g.tail[0] = 1;
	crc = crc32c(0, g.head.p, g.head.len);
	memset(chunk, 'x', 1 << 20);
	for (size_t i = 0; i < body >> 20; i++)
		crc = crc32c(crc, chunk, 1 << 20);
	crc = crc32c(crc, "\n", 1);
	snprintf(g.tail, sizeof(g.tail), "\nEND %08X", crc);
	g.tail[13] = '\n';
	src.len = g.len;
	assert_int_equal(qfs_decode_source(&src, &e, &why, &err), 0);
	assert_int_equal(e.msg_len, body);
	assert_int_equal(e.nrcpts, 3);
	assert_true(g.largest <= 65536);
	qentry_clear(&e);
	/* The same with one byte off: the sum says so. */
	g.tail[5] = g.tail[5] == 'A' ? 'B' : 'A';
	assert_int_equal(qfs_decode_source(&src, &e, &why, &err), -1);
	assert_string_equal(why, "checksum mismatch");

	/* A header that never ends (either version): refused at
	 * QFS_HEAD_MAX, never read whole; the salvage reads no further
	 * either. */
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&g.head);
		buf_printf(&g.head, "OUTPOST-QUEUE %u\n", v);
		g.tail[0] = 0;
		g.largest = 0;
		src.len = g.len = (size_t)200 << 20;
		assert_int_equal(qfs_decode_source(&src, &e, &why, &err), -1);
		assert_string_equal(why, "header too large");
		assert_true(g.largest <= QFS_HEAD_MAX);
		assert_int_equal(qfs_salvage_source(&src, "BIG.1.1", &e), -1);
	}
	free(chunk);
	buf_free(&b);
	buf_free(&g.head);
}

/* --- salvage ------------------------------------------------------------ */

static void
test_salvage_prefixes(void **state)
{
	struct buf b = BUF_INIT;
	size_t e1, e2, e3, eb;
	struct qentry e;

	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&b);
		image_of(v, "Q.1.1", "Subject: x\r\n\r\nbody\r\n", 20, &b);
		buf_addc(&b, '\0');	/* for strstr; not salvaged */
		b.len--;
		/* Where each recipient line ends (its LF); the body line
		 * (version 2). */
		e1 = (size_t)(strchr(strstr(b.p, "\nrcpt pending a@") + 1,
		    '\n') - b.p);
		e2 = (size_t)(strchr(b.p + e1 + 1, '\n') - b.p);
		e3 = (size_t)(strchr(b.p + e2 + 1, '\n') - b.p);
		assert_non_null(strstr(b.p + e2, "rcpt pending \"c%20d\""));
		eb = v == 1 ? b.len : (size_t)(strchr(strstr(b.p,
		    "\nbody Q.1.1") + 1, '\n') - b.p);
		for (size_t n = 0; n <= b.len; n++) {
			int rc = qfs_salvage(b.p, n, "Q.1.1", &e);

			if (n <= e1) {		/* no pending recipient yet */
				assert_int_equal(rc, -1);
				assert_null(e.id);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_string_equal(e.id, "Q.1.1");
			assert_string_equal(e.domain, "dest.example");
			assert_string_equal(e.mail_from, "sender@src.example");
			assert_int_equal(e.queue_time, 1700000000000);
			assert_int_equal(e.attempts, 2);
			assert_string_equal(e.rcpts[0].addr, "a@dest.example");
			assert_int_equal(e.nrcpts, 1 + (n > e2) + (n > e3));
			if (e.nrcpts == 3)
				assert_string_equal(e.rcpts[2].addr,
				    "\"c d\"@dest.example");
			/* The body is named once its line is whole; the
			 * message is never read. */
			if (n > eb)
				assert_string_equal(e.body, "Q.1.1");
			else
				assert_null(e.body);
			assert_int_equal(e.msg_len, 0);
			qentry_clear(&e);
		}
	}
	buf_free(&b);
}

static void
test_salvage_cases(void **state)
{
	static const struct {
		const char	*text;
		const char	*name;
		int		 rc;
		size_t		 nrcpts;
		const char	*mail_from, *domain;
	} cases[] = {
		/* Any version; fields in any order; no id line: the name. */
		{ "OUTPOST-QUEUE 7\nrcpt pending x@Y.example\nmail_from s@t\n",
		  "N.1", 0, 1, "s@t", "Y.example" },
		/* Up to the first line that is not a good field. */
		{ "OUTPOST-QUEUE 1\nmail_from s@t\nrcpt pending a@d\nbogus x\n"
		  "rcpt pending b@d\n", "N.1", 0, 1, "s@t", "d" },
		{ "OUTPOST-QUEUE 1\nrcpt pending a@d\nrcpt pending b%zz@d\n"
		  "rcpt pending c@d\n", "N.1", 0, 1, "", "d" },
		{ "OUTPOST-QUEUE 1\nrcpt pending a@d\nmail_from s@t\n"
		  "mail_from u@v\nrcpt pending c@d\n", "N.1", 0, 1, "s@t",
		  "d" },
		{ "OUTPOST-QUEUE 1\nrcpt pending a@d\nnoline", "N.1", 0, 1, "",
		  "d" },
		{ "OUTPOST-QUEUE 1\nrcpt pending a@d\nmessage 3\nrcpt pending "
		  "b@d\n", "N.1", 0, 1, "", "d" },
		{ "OUTPOST-QUEUE 1\ndomain %41\nrcpt pending a@d\n", "N.1",
		  -1, 0, NULL, NULL },
		/* The id names the file, or nothing is certain. */
		{ "OUTPOST-QUEUE 1\nid N.1\nrcpt pending a@d\n", "N.1", 0, 1,
		  "", "d" },
		{ "OUTPOST-QUEUE 1\nid M.1\nrcpt pending a@d\n", "N.1", -1, 0,
		  NULL, NULL },
		/* Only pending recipients count. */
		{ "OUTPOST-QUEUE 1\nrcpt delivered a@d\nrcpt bounced b@d 5\n",
		  "N.1", -1, 0, NULL, NULL },
		{ "OUTPOST-QUEUE 1\nrcpt delivered a@d\nrcpt pending b@e\n",
		  "N.1", 0, 2, "", "e" },
		/* Version 2: body and size are read (the size is not
		 * kept), a bad body id is not. */
		{ "OUTPOST-QUEUE 2\nrcpt pending a@d\nbody B.1\nsize 9\n"
		  "rcpt pending b@d\n", "N.1", 0, 2, "", "d" },
		{ "OUTPOST-QUEUE 2\nrcpt pending a@d\nbody msg.B\n"
		  "rcpt pending b@d\n", "N.1", 0, 1, "", "d" },
		{ "OUTPOST-QUEUE 2\nrcpt pending a@d\nsize x\n"
		  "rcpt pending b@d\n", "N.1", 0, 1, "", "d" },
		/* No intact version line. */
		{ "OUTPOST-QUEUE x\nrcpt pending a@d\n", "N.1", -1, 0, NULL,
		  NULL },
		{ "OUTPOST-QUEUE 01\nrcpt pending a@d\n", "N.1", -1, 0, NULL,
		  NULL },
		{ "OUTPOST-QUEUE 1", "N.1", -1, 0, NULL, NULL },
		{ "XUTPOST-QUEUE 1\nrcpt pending a@d\n", "N.1", -1, 0, NULL,
		  NULL },
		{ "", "N.1", -1, 0, NULL, NULL },
		/* Not an entry name. */
		{ "OUTPOST-QUEUE 1\nrcpt pending a@d\n", "error.N.1", -1, 0,
		  NULL, NULL },
	};
	struct qentry e;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int rc = qfs_salvage(cases[i].text, strlen(cases[i].text),
		    cases[i].name, &e);

		print_message("case %zu\n", i);
		assert_int_equal(rc, cases[i].rc);
		if (rc == -1) {
			assert_null(e.id);
			assert_null(e.rcpts);
			continue;
		}
		assert_string_equal(e.id, cases[i].name);
		assert_int_equal(e.nrcpts, cases[i].nrcpts);
		assert_string_equal(e.mail_from, cases[i].mail_from);
		assert_string_equal(e.domain, cases[i].domain);
		assert_true(streq(e.body, strstr(cases[i].text, "body B.1") ?
		    "B.1" : NULL));
		assert_int_equal(e.msg_len, 0);
		qentry_clear(&e);
	}
}

/* --- files -------------------------------------------------------------- */

static void
test_files_that_are_not_regular(void **state)
{
	char *dir = tmpdir_new(), *path;
	const char *why = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qentry e;
	int err, fd;

	(void)state;
	/* A FIFO with no writer would block open(): never opened. */
	path = xasprintf("%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(qfs_read_err(path, &e, NULL, NULL, &why, &err), -1);
	assert_string_equal(why, "not a regular file");
	assert_int_equal(err, EINVAL);
	assert_int_equal(qfs_salvage_entry(dir, "fifo", &e), -1);
	free(path);
	/* A link to a good entry is not followed. */
	write_file(dir, "good", "");
	path = xasprintf("%s/link", dir);
	assert_int_equal(symlink("good", path), 0);
	assert_int_equal(qfs_read_err(path, &e, NULL, NULL, &why, &err), -1);
	assert_string_equal(why, "not a regular file");
	free(path);
	path = xasprintf("%s/sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(qfs_read_err(path, &e, NULL, NULL, &why, &err), -1);
	assert_string_equal(why, "not a regular file");
	close(fd);
	free(path);
	/* Corrupt is err 0, missing is ENOENT. */
	path = xasprintf("%s/good", dir);
	assert_int_equal(qfs_read_err(path, &e, NULL, NULL, &why, &err), -1);
	assert_int_equal(err, 0);
	assert_string_equal(why, "truncated");
	free(path);
	path = xasprintf("%s/none", dir);
	assert_int_equal(qfs_read_err(path, &e, NULL, NULL, &why, &err), -1);
	assert_int_equal(err, ENOENT);
	free(path);
	tmpdir_rm(dir);
}

struct seen {
	size_t	 loaded, lost;
	char	*why;
	char	 ids[64];	/* of the lost, in order */
};

static void
on_entry(struct qentry *e, void *arg)
{
	((struct seen *)arg)->loaded++;
	assert_non_null(e->body);
	qentry_clear(e);
	free(e);
}

static void
on_lost(struct qentry *e, const char *why, void *arg)
{
	struct seen *s = arg;

	assert_int_equal(e->nrcpts, 3);
	s->lost++;
	strcat(s->ids, e->id);
	strcat(s->ids, " ");
	free(s->why);
	s->why = xstrdup(why);
	qentry_clear(e);
	free(e);
}

static void
put(const char *dir, const char *name, const struct buf *b)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(b->p, 1, b->len, f), b->len);
	fclose(f);
	free(path);
}

static void
test_scan_hands_over_the_salvageable(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, *path, *log;
	struct seen s = { 0, 0, NULL, "" };
	struct buf b = BUF_INIT;
	struct stat st;
	FILE *cap;

	(void)state;
	/* Damaged: K (version 1) in its message, L (version 2) in its
	 * header (a value that still reads: the records carry it). */
	image_v1("K.1.1", "body", 4, &b);
	b.p[b.len - 16] ^= 1;				/* in the message */
	put(dir, "K.1.1", &b);
	buf_reset(&b);
	image("L.1.1", 4, &b);
	b.p[strstr(b.p, "helo client") - b.p + 5] ^= 1;
	put(dir, "L.1.1", &b);
	/* Good: G (version 2, its body there), H (version 1: migrated). */
	buf_reset(&b);
	image("G.1.1", 4, &b);
	put(dir, "G.1.1", &b);
	buf_reset(&b);
	qfs_body_head(4, &b);
	buf_adds(&b, "body");
	qfs_body_tail(crc32c(0, b.p, b.len), &b);
	put(dir, "msg.G.1.1", &b);
	buf_reset(&b);
	image_v1("H.1.1", "body", 4, &b);
	put(dir, "H.1.1", &b);
	write_file(dir, "R.1.1", "random bytes\n");
	path = xasprintf("%s/F.1.1", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	free(path);
	path = xasprintf("%s/D.1.1", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);

	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, on_lost, &s, &err), 2);
	log = capture_end(cap);
	assert_int_equal(s.loaded, 2);
	assert_int_equal(s.lost, 2);
	assert_string_equal(s.ids, "K.1.1 L.1.1 ");
	assert_string_equal(s.why, "checksum mismatch");
	/* The lost ones stay for their records; the random one is aside;
	 * the FIFO and the directory are left alone. */
	path = xasprintf("%s/K.1.1", dir);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	path = xasprintf("%s/L.1.1", dir);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	path = xasprintf("%s/error.R.1.1", dir);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	path = xasprintf("%s/msg.H.1.1", dir);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	assert_non_null(strstr(log, "queue: F.1.1 is a FIFO, not a queue file; "
	    "left alone (not opened)"));
	assert_non_null(strstr(log, "queue: D.1.1 is a directory, not a queue "
	    "file; left alone (not opened)"));
	assert_non_null(strstr(log, "queue: R.1.1: not an Outpost queue file; "
	    "moved aside to error.R.1.1"));
	assert_null(strstr(log, "L.1.1"));
	assert_null(strstr(log, "K.1.1"));
	free(log);
	free(s.why);
	buf_free(&b);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_agrees_with_memory),
		cmocka_unit_test(test_source_read_error),
		cmocka_unit_test(test_large_files_cost_their_header),
		cmocka_unit_test(test_salvage_prefixes),
		cmocka_unit_test(test_salvage_cases),
		cmocka_unit_test(test_files_that_are_not_regular),
		cmocka_unit_test(test_scan_hands_over_the_salvageable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
