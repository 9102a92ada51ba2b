/* Unit tests: queue entry images of version 2, and of version 1 (still
 * decoded; built here by v1_image) (round trips, damage, bad headers),
 * reading files (entry.c), the start-up scan (scan.c: loading, migration
 * of version 1 entries, body files) and --qlist/--qstat (report.c) on a
 * directory. */
#include "unit.h"
#include "queue/qfiles.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "queue/body.h"
#include "queue/entry.h"
#include "queue/refs.h"
#include "queue/report.h"
#include "queue/scan.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define MSG(s)		s, sizeof(s) - 1	/* a message with its NULs */

struct rc {
	enum qrcpt_state st;
	const char	*addr;
	const char	*reason;
};

/* An entry as constants; build() makes a struct qentry of it. */
struct ecase {
	const char	*id, *domain, *mail_from, *helo, *client_ip;
	const char	*last_error;
	unsigned	 flags, attempts;
	int64_t		 queue_time, next_attempt;
	struct rc	 rcpts[4];
	const char	*msg;
	size_t		 msglen;
};

static const struct ecase cases[] = {
	{ "q1", "example.com", "a@b.c", "client.example", "192.0.2.1", NULL,
	  0, 0, 1700000000000, 1700000000000,
	  { { QRCPT_PENDING, "x@example.com", NULL } },
	  MSG("Subject: hi\r\n\r\nbody\r\n") },
	/* Odd values: the null sender, spaces, %, UTF-8, controls; every
	 * state with and without reasons; limits of every number. */
	{ "20240101T000000.ABCdef-9._x", "b\xc3\xbc.de", "", "[192.0.2.1]",
	  "2001:db8::1", "",
	  QE_ALL, UINT_MAX, 0, INT64_MAX,
	  { { QRCPT_PENDING, "\"john doe\"@b\xc3\xbc.de", "" },
	    { QRCPT_DELIVERED, "\"100%\"@b\xc3\xbc.de", "250 2.0.0 OK id=%41" },
	    { QRCPT_BOUNCED, "us\xc3\xa9r@b\xc3\xbc.de",
	      "550 5.1.1 no\r\nsuch user\t " },
	    { QRCPT_PENDING, "\"a\\\" \x7f%%\"@x.y", NULL } },
	  MSG("a\r\n.\r\n\0\0nul\nEND 00000000\n\nmessage 5\nrcpt x\r\n.\r\n") },
	{ "x", "d", "\"sp ace\"@q", "", "", "451 4.7.1 \"greylisted\"\r\n%",
	  QE_8BITMIME, 3, 5, 6,
	  { { QRCPT_BOUNCED, "%", "%" } },
	  "", 0 },
};


static void
build(const struct ecase *c, struct qentry *e)
{
	memset(e, 0, sizeof(*e));
	e->id = xstrdup(c->id);
	e->domain = xstrdup(c->domain);
	e->mail_from = xstrdup(c->mail_from);
	e->helo = xstrdup(c->helo);
	e->client_ip = xstrdup(c->client_ip);
	e->last_error = xstrdup_null(c->last_error);
	e->flags = c->flags;
	e->attempts = c->attempts;
	e->queue_time = c->queue_time;
	e->next_attempt = c->next_attempt;
	while (e->nrcpts < NELEM(c->rcpts) && c->rcpts[e->nrcpts].addr)
		e->nrcpts++;
	e->rcpts = xcalloc(e->nrcpts, sizeof(*e->rcpts));
	for (size_t i = 0; i < e->nrcpts; i++) {
		e->rcpts[i].state = c->rcpts[i].st;
		e->rcpts[i].addr = xstrdup(c->rcpts[i].addr);
		e->rcpts[i].reason = xstrdup_null(c->rcpts[i].reason);
	}
	if (c == &cases[1]) {	/* notes: odd keys and values, an empty one */
		static const char *const kv[] = { "next_hop",
		    "smtp://u:p@h.example:2525", "k y%", "v\r\n\t\xc3\xbc",
		    "empty", "", NULL };

		qentry_set_notes(e, kv);
	}
	e->body = xstrdup(c->id);	/* as a commit names it */
	e->msg_len = c->msglen;
}

/* The (version 2) image of cases[i]. */
static void
image(size_t i, struct buf *b)
{
	struct qentry e;

	build(&cases[i], &e);
	qfs_encode(&e, b);
	qentry_clear(&e);
}

/* Seals b from byte `start`: the end marker with the CRC-32C of
 * b[start..]. */
static void
seal_from(struct buf *b, size_t start)
{
	buf_printf(b, "END %08X\n", crc32c(0, b->p + start,
	    b->len - start));
}

/*
 * A version 1 image of e (what Outpost wrote before bodies): the version
 * line "OUTPOST-QUEUE 1", the same header lines as version 2 less `body`
 * and `size`, "message <n>", the n bytes of msg, LF, the end marker
 * (test_golden checks it against a literal image).
 */
static void
v1_image(const struct qentry *e, const char *msg, size_t len, struct buf *out)
{
	struct qentry c;
	struct buf v2 = BUF_INIT;
	size_t start = out->len;
	const char *hdr, *end;

	qentry_copy(&c, e);
	if (c.body == NULL)
		c.body = xstrdup(c.id);	/* encoded, then cut off */
	qfs_encode(&c, &v2);
	qentry_clear(&c);
	buf_addc(&v2, '\0');
	hdr = strchr(v2.p, '\n') + 1;
	end = strstr(v2.p, "\nbody ") + 1;	/* LF is escaped in values */
	buf_adds(out, "OUTPOST-QUEUE 1\n");
	buf_add(out, hdr, (size_t)(end - hdr));
	buf_printf(out, "message %zu\n", len);
	buf_add(out, msg, len);
	buf_addc(out, '\n');
	seal_from(out, start);
	buf_free(&v2);
}

/* The version 1 image of cases[i]. */
static void
image_v1(size_t i, struct buf *b)
{
	struct qentry e;

	build(&cases[i], &e);
	v1_image(&e, cases[i].msg, cases[i].msglen, b);
	qentry_clear(&e);
}

/* cases[i]'s image of version v. */
static void
image_of(unsigned v, size_t i, struct buf *b)
{
	if (v == 1)
		image_v1(i, b);
	else
		image(i, b);
}

static int
streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void
assert_entry_eq(const struct qentry *a, const struct qentry *b)
{
	assert_true(streq(a->id, b->id) && streq(a->domain, b->domain));
	assert_true(streq(a->mail_from, b->mail_from));
	assert_true(streq(a->helo, b->helo) &&
	    streq(a->client_ip, b->client_ip));
	assert_true(streq(a->last_error, b->last_error));
	assert_true(streq(a->body, b->body));
	assert_int_equal(a->msg_len, b->msg_len);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->attempts, b->attempts);
	assert_true(a->queue_time == b->queue_time);
	assert_true(a->next_attempt == b->next_attempt);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		assert_int_equal(a->rcpts[i].state, b->rcpts[i].state);
		assert_true(streq(a->rcpts[i].addr, b->rcpts[i].addr));
		assert_true(streq(a->rcpts[i].reason, b->rcpts[i].reason));
	}
	assert_int_equal(a->nnotes, b->nnotes);
	for (size_t i = 0; i < 2 * a->nnotes; i++)
		assert_true(streq(a->notes[i], b->notes[i]));
	if (a->nnotes > 0)
		assert_null(b->notes[2 * b->nnotes]);
}

static void
test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283);
}

/* Bit by bit, as the polynomial says: the reference for large inputs. */
static uint32_t
crc_bits(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
	}
	return ~crc;
}

/* Large inputs go three lanes at a time: every length and start around
 * the lanes' sizes gives the reference CRC, whole or in two calls. */
static void
test_crc32c_large(void **state)
{
	static const size_t lens[] = { 12287, 12288, 12289, 12295, 24576,
	    24583, 36864, 100000, 262147 };
	unsigned char *buf = xmalloc(262147 + 8);
	unsigned seed = 7;

	(void)state;
	for (size_t i = 0; i < 262147 + 8; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (unsigned char)(seed >> 16);
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8; off += 3) {
			uint32_t want = crc_bits(0, buf + off, lens[i]);
			size_t cut = lens[i] / 3 + off;

			assert_int_equal(crc32c(0, buf + off, lens[i]), want);
			assert_int_equal(crc32c(crc32c(0, buf + off, cut),
			    buf + off + cut, lens[i] - cut), want);
			assert_int_equal(crc32c(0x12345678, buf + off, lens[i]),
			    crc_bits(0x12345678, buf + off, lens[i]));
		}
	free(buf);
}

static void
test_valid_id(void **state)
{
	static const struct {
		const char	*id;
		int		 ok;
	} ids[] = {
		{ "a", 1 }, { "abc.12-3_X", 1 }, { "a.", 1 }, { "tmp", 1 },
		{ "error", 1 }, { "tmpx.1", 1 }, { "", 0 }, { ".a", 0 },
		{ "..", 0 }, { "tmp.1", 0 }, { "error.1", 0 }, { "a b", 0 },
		{ "a/b", 0 }, { "a%b", 0 }, { "\xc3\xa9", 0 }, { "a\n", 0 },
		/* Body files are msg.<id>: no entry is called so. */
		{ "msg.1", 0 }, { "msg.", 0 }, { "msg", 1 }, { "msgx.1", 1 },
		{ "MSG.1", 1 }, { "a.msg.1", 1 },
	};
	char id[QFS_ID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < NELEM(ids); i++)
		if (qfs_valid_id(ids[i].id) != ids[i].ok)
			fail_msg("'%s': want %d", ids[i].id, ids[i].ok);
	memset(id, 'x', sizeof(id));
	id[QFS_ID_MAX - 1] = '\0';
	assert_true(qfs_valid_id(id));
	id[QFS_ID_MAX - 1] = 'x';
	id[QFS_ID_MAX] = '\0';
	assert_false(qfs_valid_id(id));
}

static void
test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT, again = BUF_INIT;
		struct qentry want, got;
		const char *why = NULL;

		build(&cases[i], &want);
		qfs_encode(&want, &b);
		if (qfs_decode(b.p, b.len, &got, &why) != 0)
			fail_msg("case %zu: %s", i, why);
		assert_entry_eq(&want, &got);
		assert_string_equal(got.body, cases[i].id);
		assert_int_equal(got.msg_len, cases[i].msglen);
		/* The message is not in the image. */
		assert_true(b.len < 1024);
		/* The encoding is canonical. */
		qfs_encode(&got, &again);
		assert_int_equal(again.len, b.len);
		assert_memory_equal(again.p, b.p, b.len);
		qentry_clear(&got);
		buf_free(&b);
		buf_free(&again);
		qentry_clear(&want);
	}
}

/* held: written only when set (so other entries are as before), after
 * size; read back; a copy keeps it. */
static void
test_held(void **state)
{
	struct buf plain = BUF_INIT, b = BUF_INIT;
	struct qentry want, got, cp;
	const char *why = NULL;

	(void)state;
	build(&cases[0], &want);
	qfs_encode(&want, &plain);
	assert_null(memmem(plain.p, plain.len, "held", 4));
	want.held = 1;
	qfs_encode(&want, &b);
	assert_non_null(memmem(b.p, b.len, "\nsize ", 6));
	assert_true(memmem(b.p, b.len, "\nheld 1\nEND ", 12) != NULL);
	if (qfs_decode(b.p, b.len, &got, &why) != 0)
		fail_msg("%s", why);
	assert_int_equal(got.held, 1);
	qentry_copy(&cp, &got);
	assert_int_equal(cp.held, 1);
	qentry_clear(&cp);
	qentry_clear(&got);
	assert_int_equal(qfs_decode(plain.p, plain.len, &got, &why), 0);
	assert_int_equal(got.held, 0);
	qentry_clear(&got);
	qentry_clear(&want);
	buf_free(&b);
	buf_free(&plain);
}

/* Version 1 images decode (the message located in the image, no body);
 * given a body, such an entry encodes as version 2 to the same entry. */
static void
test_round_trip_v1(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT, v2 = BUF_INIT;
		struct qentry want, got, again;
		const char *why = NULL;

		build(&cases[i], &want);
		v1_image(&want, cases[i].msg, cases[i].msglen, &b);
		assert_memory_equal(b.p, "OUTPOST-QUEUE 1\n", 16);
		if (qfs_decode(b.p, b.len, &got, &why) != 0)
			fail_msg("case %zu: %s", i, why);
		assert_null(got.body);
		assert_int_equal(got.msg_len, cases[i].msglen);
		assert_true(got.msg_offset + got.msg_len + 14 == b.len);
		assert_memory_equal(b.p + got.msg_offset, cases[i].msg,
		    cases[i].msglen);
		got.body = xstrdup(cases[i].id);
		assert_entry_eq(&want, &got);
		/* What the migration writes. */
		qfs_encode(&got, &v2);
		assert_memory_equal(v2.p, "OUTPOST-QUEUE 2\n", 16);
		assert_int_equal(qfs_decode(v2.p, v2.len, &again, &why), 0);
		assert_entry_eq(&want, &again);
		qentry_clear(&again);
		qentry_clear(&got);
		qentry_clear(&want);
		buf_free(&b);
		buf_free(&v2);
	}
}

/* A copy is deep: it encodes to the same image and outlives its source
 * (notes and body included). */
static void
test_copy(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		struct qentry src, dst;

		build(&cases[i], &src);
		qfs_encode(&src, &a);
		qentry_copy(&dst, &src);
		qentry_clear(&src);
		qfs_encode(&dst, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		assert_string_equal(dst.body, cases[i].id);
		qentry_clear(&dst);
		buf_free(&a);
		buf_free(&b);
	}
}

/* A packed entry (qentry_pack: one block for the fixed strings and the
 * recipients) encodes to the same image, its mutable parts (reasons,
 * last_error, notes) can still be replaced, a copy of it is unpacked,
 * and qentry_clear frees it all (ASan would name a bad free or a leak). */
static void
test_pack(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		struct qentry e, c;

		build(&cases[i], &e);
		qfs_encode(&e, &a);
		qentry_pack(&e);
		assert_true(e.packed);
		qentry_pack(&e);		/* twice: nothing */
		qfs_encode(&e, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		/* The strings are in the recipients' block. */
		assert_true(e.id > (char *)e.rcpts &&
		    e.body > (char *)e.rcpts);
		qentry_copy(&c, &e);
		assert_false(c.packed);
		assert_entry_eq(&c, &e);
		free(e.rcpts[0].reason);
		e.rcpts[0].reason = xstrdup("250 ok");
		free(e.last_error);
		e.last_error = xstrdup("later");
		qentry_set_notes(&e, (const char *const[]){ "k", "v", NULL });
		qentry_clear(&e);
		qentry_clear(&c);
		buf_free(&a);
		buf_free(&b);
	}
}

/* The first case's images, for reading by eye: version 2, and the
 * version 1 image Outpost wrote before (a literal, which v1_image must
 * reproduce). The example of docs/queue-format.md, entry and body. */
static void
test_golden(void **state)
{
	static const char want[] = "OUTPOST-QUEUE 2\n"
	    "id q1\ndomain example.com\nmail_from a@b.c\nflags 0\n"
	    "queue_time 1700000000000\nnext_attempt 1700000000000\n"
	    "attempts 0\nhelo client.example\nclient_ip 192.0.2.1\n"
	    "rcpt pending x@example.com\nbody q1\nsize 21\nEND ";
	static const char v1[] = "OUTPOST-QUEUE 1\n"
	    "id q1\ndomain example.com\nmail_from a@b.c\nflags 0\n"
	    "queue_time 1700000000000\nnext_attempt 1700000000000\n"
	    "attempts 0\nhelo client.example\nclient_ip 192.0.2.1\n"
	    "rcpt pending x@example.com\nmessage 21\n"
	    "Subject: hi\r\n\r\nbody\r\n\nEND F344C671\n";
	static const char doc_entry[] = "OUTPOST-QUEUE 2\n"
	    "id 3F9C2A1E-8D7B-4C55-9F0E-1A2B3C4D5E6F.1.1\n"
	    "domain example.com\nmail_from alice@example.org\nflags 0\n"
	    "queue_time 1700000000000\nnext_attempt 1700000300000\n"
	    "attempts 1\nhelo client.example.org\nclient_ip 192.0.2.1\n"
	    "last_error 451%204.7.1%20try%20later\n"
	    "rcpt pending \"bob%20smith\"@example.com\n"
	    "rcpt delivered carol@example.com 250%202.0.0%20OK\n"
	    "body 3F9C2A1E-8D7B-4C55-9F0E-1A2B3C4D5E6F.1.1\nsize 21\n"
	    "END 4E21F663\n";
	static const char doc_body[] = "OUTPOST-BODY 1\nsize 21\n"
	    "Subject: hi\r\n\r\nbody\r\n\nEND 5457820C\n";
	struct buf b = BUF_INIT;
	struct qentry e;
	const char *why = NULL;
	size_t off, len;
	uint32_t crc;
	char end[16];

	(void)state;
	image(0, &b);
	assert_true(b.len == sizeof(want) - 1 + 9);
	assert_memory_equal(b.p, want, sizeof(want) - 1);
	snprintf(end, sizeof(end), "%08X\n",
	    crc32c(0, b.p, sizeof(want) - 1 - 4));
	assert_string_equal(b.p + sizeof(want) - 1, end);
	buf_reset(&b);
	image_v1(0, &b);
	assert_int_equal(b.len, sizeof(v1) - 1);
	assert_memory_equal(b.p, v1, b.len);

	/* The documentation's example decodes and re-encodes to itself. */
	assert_int_equal(qfs_decode(doc_entry, sizeof(doc_entry) - 1, &e,
	    &why), 0);
	assert_int_equal(e.msg_len, 21);
	buf_reset(&b);
	qfs_encode(&e, &b);
	assert_int_equal(b.len, sizeof(doc_entry) - 1);
	assert_memory_equal(b.p, doc_entry, b.len);
	qentry_clear(&e);
	assert_int_equal(qfs_body_parse(doc_body, sizeof(doc_body) - 1,
	    sizeof(doc_body) - 1, &off, &len, &why), 0);
	assert_int_equal(off, 23);
	assert_int_equal(len, 21);
	buf_reset(&b);
	qfs_body_head(21, &b);
	buf_add(&b, "Subject: hi\r\n\r\nbody\r\n", 21);
	qfs_body_tail(crc32c(0, b.p, b.len), &b);
	assert_int_equal(b.len, sizeof(doc_body) - 1);
	assert_memory_equal(b.p, doc_body, b.len);
	assert_int_equal(qfs_body_tail_crc(b.p + off + len, &crc), 0);
	assert_int_equal(crc, 0x5457820C);
	buf_free(&b);
}

/* Every proper prefix of every image is refused. */
static void
test_truncation(void **state)
{
	(void)state;
	for (unsigned v = 1; v <= 2; v++)
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT;

		image_of(v, i, &b);
		for (size_t n = 0; n < b.len; n++) {
			char *p = xmalloc(n + 1);	/* exact, for ASan */
			const char *why = NULL;
			struct qentry e;

			memcpy(p, b.p, n);
			if (qfs_decode(p, n, &e, &why) != -1)
				fail_msg("v%u case %zu: prefix %zu decodes",
				    v, i, n);
			/* Version 2: a cut inside a line that leaves no end
			 * marker at the end is a bad one. */
			if (strcmp(why, "truncated") != 0 &&
			    strcmp(why, "checksum mismatch") != 0 &&
			    (v == 1 || strcmp(why, "bad end marker") != 0))
				fail_msg("v%u case %zu: prefix %zu: %s", v, i,
				    n, why);
			assert_null(e.id);
			free(p);
		}
		buf_free(&b);
	}
}

/* Every change of one byte, to any other value, is refused. */
static void
test_byte_flips(void **state)
{
	(void)state;
	for (unsigned v = 1; v <= 2; v++)
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT;

		image_of(v, i, &b);
		for (size_t at = 0; at < b.len; at++)
			for (int x = 1; x < 256; x++) {
				const char *why = NULL;
				struct qentry e;

				b.p[at] ^= (char)x;
				if (qfs_decode(b.p, b.len, &e, &why) != -1)
					fail_msg("v%u case %zu: byte %zu ^ %#x "
					    "decodes", v, i, at, x);
				assert_non_null(why);
				b.p[at] ^= (char)x;
			}
		buf_free(&b);
	}
}

/* A header (version line given) sealed with its end marker. */
static void
seal(struct buf *b, const char *text)
{
	buf_adds(b, text);
	buf_printf(b, "END %08X\n", crc32c(0, b->p, b->len));
}

static void
expect_why(const char *data, size_t len, const char *want)
{
	const char *why = NULL;
	struct qentry e;
	int rc = qfs_decode(data, len, &e, &why);

	if (want == NULL && rc != 0)
		fail_msg("'%.*s': %s", (int)len, data, why);
	if (want != NULL && (rc != -1 || strcmp(why, want) != 0))
		fail_msg("'%.*s': got %s, want %s", (int)len, data,
		    rc == 0 ? "success" : why, want);
	qentry_clear(&e);
}

static void
test_framing(void **state)
{
	static const struct {
		const char	*text;
		int		 sealed;
		const char	*why;
	} frames[] = {
		{ "", 0, "truncated" },
		{ "OUTPOST", 0, "truncated" },
		{ "OUTPOST-QUEUE 1", 0, "truncated" },
		{ "OUTPOST-QUEUE 2", 0, "truncated" },
		{ "From: x\n", 0, "not an Outpost queue file" },
		{ "outpost-queue 1\n", 0, "not an Outpost queue file" },
		{ "OUTPOST-BODY 1\nsize 0\n\n", 1, "not an Outpost queue file" },
		{ "OUTPOST-QUEUE 3\nwhatever", 0, "unsupported version 3" },
		{ "OUTPOST-QUEUE 0\n", 0, "unsupported version 0" },
		{ "OUTPOST-QUEUE 12\n", 0, "unsupported version" },
		{ "OUTPOST-QUEUE 01\n", 0, "bad version line" },
		{ "OUTPOST-QUEUE 02\n", 0, "bad version line" },
		{ "OUTPOST-QUEUE +1\n", 0, "bad version line" },
		{ "OUTPOST-QUEUE \n", 0, "bad version line" },
		{ "OUTPOST-QUEUE 1 \n", 0, "bad version line" },
		/* Version 1: the message inline. */
		{ "OUTPOST-QUEUE 1\nid x\n", 0, "truncated" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nabc\n", 1, NULL },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nab", 0, "truncated" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 10\nabc\n", 1, "truncated" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 2\nabc\n", 1,
		  "bad end marker" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 03\nabc\n", 1,
		  "bad value for 'message'" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nabc\nEND 1234567\n", 0,
		  "truncated" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nabc\nEND 1234567a\n", 0,
		  "bad end marker" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nabc\nEND 12345678\n", 0,
		  "checksum mismatch" },
		{ "OUTPOST-QUEUE 1\nid x\nmessage 3\nabcEND 12345678\n", 0,
		  "truncated" },
		{ "OUTPOST-QUEUE 1\nid\nmessage 3\nabc\n", 1,
		  "malformed header line" },
		/* Version 2: header lines, then the end marker. */
		{ "OUTPOST-QUEUE 2\n", 1, "missing field 'id'" },
		{ "OUTPOST-QUEUE 2\nid x\n", 1, NULL },
		{ "OUTPOST-QUEUE 2\nid x\nwhatever", 0, "bad end marker" },
		{ "OUTPOST-QUEUE 2\nid x\nwhatever and more\n", 0,
		  "truncated" },
		{ "OUTPOST-QUEUE 2\nid x", 1, "truncated" },
		{ "OUTPOST-QUEUE 2\nid x\nEND 12345678\n", 0,
		  "checksum mismatch" },
		{ "OUTPOST-QUEUE 2\nid x\nEND 1234567a\n", 0,
		  "bad end marker" },
		{ "OUTPOST-QUEUE 2\nid x\nEND 1234567\n", 0, "truncated" },
		{ "OUTPOST-QUEUE 2\nid x\nEND 1234567\n\n", 0,
		  "bad end marker" },
		{ "OUTPOST-QUEUE 2\nid\n", 1, "malformed header line" },
		{ "OUTPOST-QUEUE 2\nid x\nmessage 3\nabc\n", 1,
		  "malformed header line" },
		{ "OUTPOST-QUEUE 2\nid x\nmessage 3\n", 1, "unknown key" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(frames); i++) {
		struct buf b = BUF_INIT;

		if (frames[i].sealed)
			seal(&b, frames[i].text);
		else
			buf_adds(&b, frames[i].text);
		/* Sealed frames have only an id: past framing they fail
		 * for a missing domain. */
		expect_why(b.p, b.len, frames[i].why != NULL ? frames[i].why :
		    "missing field 'domain'");
		buf_free(&b);
	}
}

static void
test_trailing_garbage(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&b);
		/* (Version 2 reads the end marker followed by more as a
		 * last header line that runs into the end: truncated.) */
		image_of(v, 0, &b);
		buf_addc(&b, 'x');
		expect_why(b.p, b.len, v == 1 ?
		    "trailing garbage after end marker" : "truncated");
		b.p[b.len - 1] = '\n';
		expect_why(b.p, b.len, v == 1 ?
		    "trailing garbage after end marker" : "truncated");
		buf_reset(&b);
		image_of(v, 0, &b);
		buf_adds(&b, "END 00000000\n");
		expect_why(b.p, b.len, "checksum mismatch");
		buf_reset(&b);
		image_of(v, 0, &b);
		image_of(v, 0, &b);	/* two images back to back */
		expect_why(b.p, b.len, "checksum mismatch");
	}
	buf_free(&b);
}

/* A valid header, less line `skip` (-1: none), plus `extra`, sealed. */
static const char *const base[] = {
	"id q1", "domain example.com", "mail_from a@b.c", "flags 0",
	"queue_time 1", "next_attempt 2", "attempts 0", "helo h",
	"client_ip 192.0.2.1", "rcpt pending x@example.com",
	"body q1", "size 4",		/* version 2 only */
};
#define BASE_V1		10		/* base[] lines of version 1 */

static void
test_header_fields(void **state)
{
	static const struct {
		unsigned	 v;		/* the version; 0: both */
		int		 skip;
		const char	*extra;
		const char	*why;		/* NULL: decodes */
	} hc[] = {
		{ 0, -1, NULL, NULL },
		{ 0, -1, "last_error ", NULL },
		{ 0, -1, "last_error 451%20later", NULL },
		{ 0, -1, "rcpt delivered y@example.com ", NULL },
		{ 0, -1, "rcpt bounced y@example.com 550%20no%0D%0A", NULL },
		{ 0, -1, "rcpt pending \xc3\xa9@example.com", NULL },
		{ 0, 0, "id a.b-c_9", NULL },
		{ 0, 3, "flags 3", NULL },
		{ 0, 3, "flags 7", NULL },
		{ 0, 4, "queue_time 9223372036854775807", NULL },
		{ 0, 6, "attempts 4294967295", NULL },
		{ 0, 0, NULL, "missing field 'id'" },
		{ 0, 1, NULL, "missing field 'domain'" },
		{ 0, 2, NULL, "missing field 'mail_from'" },
		{ 0, 3, NULL, "missing field 'flags'" },
		{ 0, 4, NULL, "missing field 'queue_time'" },
		{ 0, 5, NULL, "missing field 'next_attempt'" },
		{ 0, 6, NULL, "missing field 'attempts'" },
		{ 0, 7, NULL, "missing field 'helo'" },
		{ 0, 8, NULL, "missing field 'client_ip'" },
		{ 0, 9, NULL, "no recipients" },
		{ 2, -1, "held 1", NULL },
		{ 2, -1, "held 0", "bad value for 'held'" },
		{ 2, -1, "held 2", "bad value for 'held'" },
		{ 2, -1, "held 01", "bad value for 'held'" },
		{ 2, -1, "held 1\nheld 1", "duplicate key 'held'" },
		{ 1, -1, "held 1", "unknown key" },
		{ 0, -1, "color red", "unknown key" },
		{ 0, -1, "ID q1", "unknown key" },
		{ 0, -1, " x", "unknown key" },
		{ 0, -1, "domain example.org", "duplicate key 'domain'" },
		{ 0, -1, "id q1", "duplicate key 'id'" },
		{ 0, -1, "last_error a\nlast_error b",
		  "duplicate key 'last_error'" },
		{ 0, 0, "id tmp.1", "bad value for 'id'" },
		{ 0, 0, "id msg.1", "bad value for 'id'" },
		{ 0, 0, "id .x", "bad value for 'id'" },
		{ 0, 0, "id a/b", "bad value for 'id'" },
		{ 0, 0, "id ", "bad value for 'id'" },
		{ 0, 0, "id a%20b", "bad value for 'id'" },
		{ 0, 1, "domain ", "bad value for 'domain'" },
		{ 0, 3, "flags 8", "bad value for 'flags'" },
		{ 0, 3, "flags -1", "bad value for 'flags'" },
		{ 0, 4, "queue_time 9223372036854775808", "bad value for "
		  "'queue_time'" },
		{ 0, 4, "queue_time -1", "bad value for 'queue_time'" },
		{ 0, 5, "next_attempt +2", "bad value for 'next_attempt'" },
		{ 0, 5, "next_attempt 02", "bad value for 'next_attempt'" },
		{ 0, 5, "next_attempt ", "bad value for 'next_attempt'" },
		{ 0, 5, "next_attempt 1e3", "bad value for 'next_attempt'" },
		{ 0, 6, "attempts 4294967296", "bad value for 'attempts'" },
		{ 0, 6, "attempts 99999999999999999999999", "bad value for "
		  "'attempts'" },
		{ 0, 2, "mail_from a b", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a%2", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a%zz", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a%2a", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a%41", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a%00", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a\tb", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a\rb", "bad value for 'mail_from'" },
		{ 0, 2, "mail_from a\x7f", "bad value for 'mail_from'" },
		{ 0, 7, "helo a%", "bad value for 'helo'" },
		{ 0, -1, "rcpt sent y@example.com", "bad value for 'rcpt'" },
		{ 0, -1, "rcpt pending", "bad value for 'rcpt'" },
		{ 0, -1, "rcpt pending ", "bad value for 'rcpt'" },
		{ 0, -1, "rcpt pending  x", "bad value for 'rcpt'" },
		{ 0, -1, "rcpt pending a b c", "bad value for 'rcpt'" },
		{ 0, -1, "rcpt Pending y@example.com", "bad value for 'rcpt'" },
		/* The keys of one version are unknown in the other. */
		{ 1, -1, "message 3", "bad end marker" },
		{ 2, -1, "message 3", "unknown key" },
		{ 1, -1, "body q1", "unknown key" },
		{ 1, -1, "size 4", "unknown key" },
		/* Version 2: the body and its size. */
		{ 2, 10, NULL, "missing field 'body'" },
		{ 2, 11, NULL, "missing field 'size'" },
		{ 2, 10, "body other.1-x_Y", NULL },
		{ 2, 11, "size 0", NULL },
		{ 2, 11, "size 1073741824", NULL },
		{ 2, -1, "body q2", "duplicate key 'body'" },
		{ 2, -1, "size 4", "duplicate key 'size'" },
		{ 2, 10, "body msg.q1", "bad value for 'body'" },
		{ 2, 10, "body tmp.q1", "bad value for 'body'" },
		{ 2, 10, "body error.q1", "bad value for 'body'" },
		{ 2, 10, "body ../q1", "bad value for 'body'" },
		{ 2, 10, "body ", "bad value for 'body'" },
		{ 2, 10, "body q%31", "bad value for 'body'" },
		{ 2, 11, "size 1073741825", "bad value for 'size'" },
		{ 2, 11, "size 04", "bad value for 'size'" },
		{ 2, 11, "size -4", "bad value for 'size'" },
		{ 2, 11, "size ", "bad value for 'size'" },
		{ 2, 11, "size 18446744073709551616", "bad value for 'size'" },
	};

	(void)state;
	for (unsigned v = 1; v <= 2; v++)
	for (size_t i = 0; i < NELEM(hc); i++) {
		struct buf text = BUF_INIT, b = BUF_INIT;
		int lines = v == 1 ? BASE_V1 : (int)NELEM(base);

		if (hc[i].v != 0 && hc[i].v != v)
			continue;
		buf_printf(&text, "OUTPOST-QUEUE %u\n", v);
		for (int l = 0; l < lines; l++)
			if (l != hc[i].skip)
				buf_printf(&text, "%s\n", base[l]);
		if (hc[i].extra != NULL)
			buf_printf(&text, "%s\n", hc[i].extra);
		if (v == 1)
			buf_adds(&text, "message 4\nbody\n");
		seal(&b, text.p);
		expect_why(b.p, b.len, hc[i].why);
		buf_free(&text);
		buf_free(&b);
	}
}

static void
test_read(void **state)
{
	char *dir = tmpdir_new(), *path, *msg = NULL;
	struct buf b = BUF_INIT;
	const char *why = NULL;
	struct qentry e;
	size_t len = 0;
	int err;

	(void)state;
	/* Version 1: the message comes with it. */
	image_v1(1, &b);
	put_file(dir, "f", b.p, b.len);
	path = xasprintf("%s/f", dir);
	assert_int_equal(qfs_read(path, &e, &msg, &len, &why), 0);
	assert_int_equal(len, cases[1].msglen);
	assert_memory_equal(msg, cases[1].msg, len);
	assert_int_equal(msg[len], '\0');
	assert_string_equal(e.id, cases[1].id);
	assert_null(e.body);
	qentry_clear(&e);
	free(msg);
	assert_int_equal(qfs_read(path, &e, NULL, NULL, &why), 0);
	assert_int_equal(e.nrcpts, 4);
	assert_int_equal(e.msg_len, cases[1].msglen);
	qentry_clear(&e);
	free(path);

	/* Version 2: the message is in its body file, not here. */
	buf_reset(&b);
	image(1, &b);
	put_file(dir, "v2", b.p, b.len);
	path = xasprintf("%s/v2", dir);
	msg = (char *)"x";
	assert_int_equal(qfs_read(path, &e, &msg, &len, &why), 0);
	assert_null(msg);
	assert_string_equal(e.body, cases[1].id);
	assert_int_equal(e.msg_len, cases[1].msglen);
	qentry_clear(&e);
	assert_int_equal(qfs_read(path, &e, NULL, NULL, &why), 0);
	assert_string_equal(e.body, cases[1].id);
	assert_int_equal(e.nrcpts, 4);
	qentry_clear(&e);
	free(path);
	/* qfs_read_entry: the id must be the name. */
	put_file(dir, cases[1].id, b.p, b.len);
	assert_int_equal(qfs_read_entry(dir, cases[1].id, &e, &why, &err), 0);
	assert_string_equal(e.body, cases[1].id);
	qentry_clear(&e);
	assert_int_equal(qfs_read_entry(dir, "v2", &e, &why, &err), -1);
	assert_string_equal(why, "id does not match the file name");
	assert_int_equal(err, 0);

	path = xasprintf("%s/missing", dir);
	assert_int_equal(qfs_read(path, &e, NULL, NULL, &why), -1);
	assert_string_equal(why, strerror(ENOENT));
	free(path);
	assert_int_equal(qfs_read(dir, &e, NULL, NULL, &why), -1);
	assert_string_equal(why, "not a regular file");
	for (unsigned v = 1; v <= 2; v++) {
		buf_reset(&b);
		image_of(v, 1, &b);
		put_file(dir, "g", b.p, b.len - 1);
		path = xasprintf("%s/g", dir);
		assert_int_equal(qfs_read(path, &e, &msg, &len, &why), -1);
		assert_string_equal(why, "truncated");
		assert_null(e.id);
		free(path);
	}
	buf_free(&b);
	tmpdir_rm(dir);
}

/* An entry image for the directory tests (its message, "m\r\n", is in the
 * body file msg.<body>, written apart: put_body). */
static size_t
put_entry(const char *dir, const char *name, const char *id,
    const char *body, const char *domain, unsigned attempts, int64_t next,
    const struct rc *rcpts, size_t n, const char *last_error)
{
	struct ecase c = { id, domain, "a@b.c", "h", "192.0.2.1", last_error,
	    0, attempts, 1, next, { { 0, NULL, NULL } }, "m\r\n", 3 };
	struct buf b = BUF_INIT;
	struct qentry e;
	size_t len;

	memcpy(c.rcpts, rcpts, n * sizeof(*rcpts));
	if (strcmp(id, "e2") == 0)
		c.mail_from = "";
	build(&c, &e);
	free(e.body);
	e.body = xstrdup(body);
	qfs_encode(&e, &b);
	len = put_file(dir, name, b.p, b.len);
	qentry_clear(&e);
	buf_free(&b);
	return len;
}

/* The body file of msg as dir/msg.<id>; returns its length. */
static size_t
put_body(const char *dir, const char *id, const char *msg, size_t len)
{
	struct buf b = BUF_INIT;
	char *name = xasprintf("msg.%s", id);
	size_t n;

	qfs_body_head(len, &b);
	buf_add(&b, msg, len);
	qfs_body_tail(crc32c(0, b.p, b.len), &b);
	n = put_file(dir, name, b.p, b.len);
	free(name);
	buf_free(&b);
	return n;
}

/* A version 1 entry file: id, one pending recipient, msg inline. */
static size_t
put_v1(const char *dir, const char *id, const char *msg, size_t len)
{
	static const struct rc r[] = { { QRCPT_PENDING, "v@example.com",
	    NULL } };
	struct ecase c = { id, "example.com", "a@b.c", "h", "192.0.2.1", NULL,
	    0, 1, 5, 6, { { 0, NULL, NULL } }, msg, len };
	struct buf b = BUF_INIT;
	struct qentry e;
	size_t n;

	memcpy(c.rcpts, r, sizeof(r));
	build(&c, &e);
	v1_image(&e, msg, len, &b);
	n = put_file(dir, id, b.p, b.len);
	qentry_clear(&e);
	buf_free(&b);
	return n;
}

/* The bytes of dir/name (malloc'd, NUL-terminated), or NULL. */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name), *p;
	FILE *f = fopen(path, "r");
	long n;

	free(path);
	if (f == NULL)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return p;
}

/* The message of body id in dir, read whole through body.c. */
static char *
read_body(const char *dir, const char *id, size_t len)
{
	char *p = xmalloc(len + 1);
	struct qbody *qb;
	const char *why;
	size_t got = 0;
	ssize_t r;
	int err;

	if (qbody_open(dir, id, len, &qb, &why, &err) != 0)
		fail_msg("body %s: %s", id, why);
	while ((r = qbody_read(qb, p + got, len - got + 1)) > 0)
		got += (size_t)r;
	assert_int_equal(r, 0);
	assert_int_equal(got, len);
	qbody_close(qb);
	p[len] = '\0';
	return p;
}

static char *
run_report(int (*fn)(const char *, FILE *), const char *dir)
{
	FILE *f = tmpfile();
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fn(dir, f), 0);
	fflush(f);
	n = ftell(f);
	s = xmalloc((size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

struct loaded {
	struct qentry	*e[8];
	size_t		 n;
	struct qrefs	*refs;		/* the bodies they refer to */
};

static void
on_entry(struct qentry *e, void *arg)
{
	struct loaded *l = arg;

	assert_true(l->n < NELEM(l->e));
	assert_non_null(e->body);
	if (l->refs != NULL)
		qrefs_add(l->refs, e->body, 1);
	l->e[l->n++] = e;
}

static void
loaded_clear(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++) {
		qentry_clear(l->e[i]);
		free(l->e[i]);
	}
	l->n = 0;
	qrefs_free(l->refs);
	l->refs = NULL;
}

static int
exists(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	int rc = lstat(path, &st);

	free(path);
	return rc == 0;
}

#define E1_LINE	"e1 example.com rcpts=2 attempts=2 " \
	"next=2023-11-14T22:13:20Z from=<a@b.c> to=<x@example.com>," \
	"<y@example.com>(delivered) last_error=\"451 4.7.1 \\\"grey\\\"" \
	"\\x0D\\x0A\"\n"
#define E2_LINE	"e2 example.org rcpts=1 attempts=0 " \
	"next=2020-09-13T12:26:40Z from=<> to=<\"odd one\"@example.org>\n"
#define E3_LINE	"e3 example.net rcpts=1 attempts=5 " \
	"next=2100-01-01T00:00:00Z from=<a@b.c> to=<z@example.net>(bounced)\n"

static void
test_directory(void **state)
{
	static const struct rc r1[] = {
		{ QRCPT_PENDING, "x@example.com", NULL },
		{ QRCPT_DELIVERED, "y@example.com", "250 ok" } };
	static const struct rc r2[] = {
		{ QRCPT_PENDING, "\"odd one\"@example.org", NULL } };
	static const struct rc r3[] = {
		{ QRCPT_BOUNCED, "z@example.net", "550 no" } };
	char *top = tmpdir_new(), *dir = xasprintf("%s/a/b/queue", top);
	char *err = NULL, *out, *log, *want, *sub;
	struct loaded l = { { NULL }, 0, NULL };
	struct buf b = BUF_INIT;
	size_t bytes = 0;
	struct stat st;
	int fd;
	FILE *cap;

	(void)state;
	log_set_level(LOG_INFO);

	/* A missing directory is created (0700), empty. */
	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 0);
	free(capture_end(cap));
	assert_null(err);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	out = run_report(qfs_list, dir);
	assert_string_equal(out, "-- 0 entries, 0 recipients (0 pending), "
	    "0 corrupt, 0 set aside, 0 being written, 0 message bodies\n");
	free(out);

	/* e1 and e2 share a body (one message, two domains), e3 has its
	 * own; msg.orphan is no entry's. */
	bytes += put_entry(dir, "e1", "e1", "e1", "example.com", 2,
	    1700000000000, r1, 2, "451 4.7.1 \"grey\"\r\n");
	bytes += put_entry(dir, "e2", "e2", "e1", "example.org", 0,
	    1600000000000, r2, 1, NULL);
	bytes += put_entry(dir, "e3", "e3", "e3", "example.net", 5,
	    4102444800000, r3, 1, NULL);
	bytes += put_body(dir, "e1", "m\r\n", 3);
	bytes += put_body(dir, "e3", "m\r\n", 3);
	bytes += put_body(dir, "orphan", "m\r\n", 3);
	bytes += put_entry(dir, "mismatch", "e9", "e9", "example.net", 0, 1,
	    r3, 1, NULL);
	bytes += put_file(dir, "tmp.123", "partial", 7);
	bytes += put_file(dir, "tmp.msg.e5", "OUTPOST-BODY 1\n", 15);
	bytes += put_file(dir, "bad1", "garbage\n", 8);
	image(0, &b);
	bytes += put_file(dir, "bad2", b.p, 20);
	bytes += put_file(dir, "Has Space", "?", 1);
	bytes += put_file(dir, "msg.a b", "?", 1);	/* no body id */
	bytes += put_file(dir, "error.old", "old", 3);
	/* A directory in the way: bad2 cannot be moved aside (and the
	 * directory is no set-aside entry: not a regular file). */
	sub = xasprintf("%s/error.bad2", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	put_file(sub, "x", "x", 1);
	free(sub);

	out = run_report(qfs_list, dir);
	assert_string_equal(out, E2_LINE E1_LINE E3_LINE
	    "bad1 CORRUPT: not an Outpost queue file\n"
	    "bad2 CORRUPT: truncated\n"
	    "mismatch CORRUPT: id does not match the file name\n"
	    "error.old SET ASIDE\n"
	    "-- 3 entries, 4 recipients (2 pending), 3 corrupt, 1 set aside, "
	    "2 being written, 3 message bodies\n");
	free(out);
	/* Body files are bodies, not "other"; a "msg." name that is no
	 * body id is. */
	out = run_report(qfs_stat, dir);
	want = xasprintf("entries 3\nrecipients 4\nrecipients_pending 2\n"
	    "recipients_delivered 1\nrecipients_bounced 1\ndeferred 2\n"
	    "due 2\ncorrupt 3\nset_aside 1\ntemp 2\nother 3\nbodies 3\n"
	    "bytes %zu\n", bytes);
	assert_string_equal(out, want);
	free(want);
	free(out);
	assert_true(exists(dir, "tmp.123"));	/* list and stat only read */
	assert_true(exists(dir, "tmp.msg.e5"));

	cap = capture_start();
	l.refs = qrefs_new();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 3);
	log = capture_end(cap);
	assert_null(err);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.e[0]->id, "e1");
	assert_string_equal(l.e[1]->id, "e2");
	assert_string_equal(l.e[2]->id, "e3");
	assert_string_equal(l.e[0]->body, "e1");
	assert_string_equal(l.e[1]->body, "e1");
	assert_string_equal(l.e[2]->body, "e3");
	assert_string_equal(l.e[0]->last_error, "451 4.7.1 \"grey\"\r\n");
	assert_int_equal(l.e[0]->msg_len, 3);
	assert_int_equal(qrefs_get(l.refs, "e1"), 2);
	assert_int_equal(qrefs_size(l.refs), 2);
	want = xasprintf(
	    "[ERROR] [-] [core] queue: unrecognised file in queue directory: "
	    "Has Space\n"
	    "[ERROR] [-] [core] queue: bad1: not an Outpost queue file; moved "
	    "aside to error.bad1\n"
	    "[ERROR] [-] [core] queue: bad2: truncated; cannot move it aside "
	    "to error.bad2: %s\n"
	    "[ERROR] [-] [core] queue: error.bad2 is a directory, not a queue "
	    "file; left alone (not opened)\n"
	    "[ERROR] [-] [core] queue: mismatch: id does not match the file "
	    "name; moved aside to error.mismatch\n"
	    "[ERROR] [-] [core] queue: unrecognised file in queue directory: "
	    "msg.a b\n"
	    "[WARN] [-] [core] queue: removing left-over temp file tmp.123\n"
	    "[WARN] [-] [core] queue: removing left-over temp file "
	    "tmp.msg.e5\n"
	    "[INFO] [-] [core] queue: removed 1 message body no entry refers "
	    "to (a crash's leftovers)\n"
	    "[WARN] [-] [core] queue: 3 corrupt entries set aside in %s as "
	    "error.*\n", strerror(EISDIR), dir);
	assert_string_equal(log, want);
	free(want);
	free(log);
	assert_false(exists(dir, "tmp.123"));
	assert_false(exists(dir, "tmp.msg.e5"));
	assert_false(exists(dir, "bad1"));
	assert_true(exists(dir, "error.bad1"));
	assert_true(exists(dir, "bad2"));
	assert_true(exists(dir, "error.mismatch"));
	assert_true(exists(dir, "Has Space"));
	assert_true(exists(dir, "error.old"));
	/* The scan ends with the sweep: what no loaded entry refers to
	 * goes, once. */
	assert_false(exists(dir, "msg.orphan"));
	cap = capture_start();
	qfs_sweep_bodies(dir, l.refs);
	log = capture_end(cap);
	assert_string_equal(log, "");
	free(log);
	assert_false(exists(dir, "msg.orphan"));
	assert_true(exists(dir, "msg.e1"));
	assert_true(exists(dir, "msg.e3"));
	assert_true(exists(dir, "msg.a b"));
	loaded_clear(&l);

	out = run_report(qfs_list, dir);
	assert_string_equal(out, E2_LINE E1_LINE E3_LINE
	    "bad2 CORRUPT: truncated\n"
	    "error.bad1 SET ASIDE\n"
	    "error.mismatch SET ASIDE\n"
	    "error.old SET ASIDE\n"
	    "-- 3 entries, 4 recipients (2 pending), 1 corrupt, 3 set aside, "
	    "0 being written, 2 message bodies\n");
	free(out);

	/* Unusable directories. */
	sub = xasprintf("%s/e1", dir);
	assert_int_equal(qfs_scan(sub, on_entry, NULL, &l, &err), -1);
	assert_non_null(strstr(err, strerror(ENOTDIR)));
	free(err);
	fflush(stderr);
	fd = dup(2);
	assert_non_null(freopen("/dev/null", "w", stderr));
	assert_int_equal(qfs_list(sub, stdout), -1);
	assert_int_equal(qfs_stat(sub, stdout), -1);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	free(sub);
	buf_free(&b);
	free(dir);
	tmpdir_rm(top);
}

static void
test_classify(void **state)
{
	static const struct {
		const char	*name;
		enum qfs_kind	 kind;
	} k[] = {
		{ "Q.1.1", QFS_K_ENTRY }, { "msg", QFS_K_ENTRY },
		{ "MSG.1", QFS_K_ENTRY }, { "msg.Q.1.1", QFS_K_BODY },
		{ "msg.x", QFS_K_BODY }, { "msg.", QFS_K_OTHER },
		{ "msg.tmp.x", QFS_K_OTHER }, { "msg.msg.x", QFS_K_OTHER },
		{ "msg.error.x", QFS_K_OTHER }, { "msg..x", QFS_K_OTHER },
		{ "msg.a b", QFS_K_OTHER }, { "tmp.msg.x", QFS_K_TMP },
		{ "error.msg.x", QFS_K_ASIDE }, { "tmp.x", QFS_K_TMP },
		{ "error.x", QFS_K_ASIDE }, { ".x", QFS_K_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(k); i++)
		if (qfs_classify(k[i].name) != k[i].kind)
			fail_msg("%s: %d, want %d", k[i].name,
			    qfs_classify(k[i].name), k[i].kind);
}

/* A message of n bytes, every byte value, NULs included. */
static char *
big_message(size_t n)
{
	char *p = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7 + i / 251);
	p[n] = '\0';
	return p;
}

/*
 * Version 1 entries are migrated at start-up: afterwards each is a
 * version 2 entry and a body msg.<id> with the same message, and the
 * entry handed over names it. A second scan changes nothing.
 */
static void
test_scan_migrates_v1(void **state)
{
	static const struct rc r[] = { { QRCPT_PENDING, "n@example.com",
	    NULL } };
	const size_t big = 200001;		/* several copy chunks */
	char *dir = tmpdir_new(), *err = NULL, *log, *msg = big_message(big);
	char *p, *q, *was, *m;
	struct loaded l = { { NULL }, 0, NULL };
	const char *why;
	struct buf b = BUF_INIT;
	struct qentry e;
	size_t len, len2;
	int errnum;
	FILE *cap;

	(void)state;
	log_set_level(LOG_INFO);
	put_v1(dir, "V.1.1", cases[1].msg, cases[1].msglen);
	put_v1(dir, "W.1.1", msg, big);
	put_v1(dir, "Z.1.1", "", 0);		/* an empty message */
	put_entry(dir, "N.1.1", "N.1.1", "N.1.1", "example.com", 0, 1, r, 1,
	    NULL);
	put_body(dir, "N.1.1", "m\r\n", 3);

	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 4);
	log = capture_end(cap);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.e[0]->id, "N.1.1");
	assert_string_equal(l.e[1]->id, "V.1.1");
	assert_string_equal(l.e[1]->body, "V.1.1");
	assert_int_equal(l.e[1]->msg_len, cases[1].msglen);
	assert_string_equal(l.e[2]->body, "W.1.1");
	assert_int_equal(l.e[2]->msg_len, big);
	assert_string_equal(l.e[3]->body, "Z.1.1");
	assert_int_equal(l.e[3]->msg_len, 0);
	assert_string_equal(l.e[1]->rcpts[0].addr, "v@example.com");
	assert_int_equal(l.e[1]->attempts, 1);
	assert_true(l.e[1]->queue_time == 5 && l.e[1]->next_attempt == 6);
	/* Nothing else is left: no temp file. */
	p = names(dir);
	assert_string_equal(p, "N.1.1\nV.1.1\nW.1.1\nZ.1.1\nmsg.N.1.1\n"
	    "msg.V.1.1\nmsg.W.1.1\nmsg.Z.1.1\n");
	free(p);
	/* The entries are version 2 (canonical), the bodies hold the
	 * messages. */
	for (size_t i = 1; i < 4; i++) {
		p = slurp(dir, l.e[i]->id, &len);
		assert_memory_equal(p, "OUTPOST-QUEUE 2\n", 16);
		buf_reset(&b);
		qfs_encode(l.e[i], &b);
		assert_int_equal(b.len, len);
		assert_memory_equal(b.p, p, len);
		assert_int_equal(qfs_read_entry(dir, l.e[i]->id, &e, &why,
		    &errnum), 0);
		assert_string_equal(e.body, l.e[i]->id);
		qentry_clear(&e);
		free(p);
	}
	m = read_body(dir, "V.1.1", cases[1].msglen);
	assert_memory_equal(m, cases[1].msg, cases[1].msglen);
	free(m);
	m = read_body(dir, "W.1.1", big);
	assert_memory_equal(m, msg, big);
	free(m);
	m = read_body(dir, "Z.1.1", 0);
	free(m);
	loaded_clear(&l);

	/* Again: loaded as they are, nothing rewritten. */
	was = slurp(dir, "V.1.1", &len);
	q = slurp(dir, "msg.W.1.1", &len2);
	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 4);
	log = capture_end(cap);
	assert_string_equal(log, "");
	free(log);
	p = slurp(dir, "V.1.1", &len);
	assert_string_equal(p, was);
	free(p);
	p = slurp(dir, "msg.W.1.1", &len);
	assert_int_equal(len, len2);
	assert_memory_equal(p, q, len);
	free(p);
	free(q);
	free(was);
	loaded_clear(&l);
	buf_free(&b);
	free(msg);
	tmpdir_rm(dir);
}

/*
 * A migration that fails leaves the version 1 entry in place, unloaded,
 * with an ERROR line: its body cannot be renamed into place (X), or the
 * new entry cannot be written (Y: its body is then no entry's, swept).
 * Once the way is clear, the next scan migrates both.
 */
static void
test_scan_migration_fails(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, *log, *p, *x, *y, *was;
	struct loaded l = { { NULL }, 0, NULL };
	FILE *cap;

	(void)state;
	log_set_level(LOG_INFO);
	put_v1(dir, "X.1.1", "x\r\n", 3);
	put_v1(dir, "Y.1.1", "y\r\n", 3);
	was = slurp(dir, "X.1.1", NULL);
	x = xasprintf("%s/msg.X.1.1", dir);
	y = xasprintf("%s/tmp.Y.1.1", dir);
	assert_int_equal(mkdir(x, 0700), 0);
	assert_int_equal(mkdir(y, 0700), 0);

	cap = capture_start();
	l.refs = qrefs_new();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 0);
	log = capture_end(cap);
	assert_null(err);
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: X.1.1: cannot "
	    "move its message to a body file (queue format 1 to 2): Is a "
	    "directory; left in place\n"));
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: Y.1.1: cannot "
	    "move its message to a body file (queue format 1 to 2): Is a "
	    "directory; left in place\n"));
	assert_null(strstr(log, "error."));	/* not corrupt: not aside */
	/* Y's body is no entry's: the scan's sweep removed it. */
	assert_non_null(strstr(log, "[INFO] [-] [core] queue: removed 1 "
	    "message body no entry refers to (a crash's leftovers)\n"));
	free(log);
	p = slurp(dir, "X.1.1", NULL);
	assert_string_equal(p, was);		/* still version 1 */
	free(p);
	p = slurp(dir, "Y.1.1", NULL);
	assert_memory_equal(p, "OUTPOST-QUEUE 1\n", 16);
	free(p);
	p = names(dir);
	assert_string_equal(p, "X.1.1\nY.1.1\nmsg.X.1.1\ntmp.Y.1.1\n");
	free(p);
	assert_false(exists(dir, "msg.Y.1.1"));
	loaded_clear(&l);

	assert_int_equal(rmdir(x), 0);
	assert_int_equal(rmdir(y), 0);
	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 2);
	free(capture_end(cap));
	assert_string_equal(l.e[0]->body, "X.1.1");
	assert_string_equal(l.e[1]->body, "Y.1.1");
	p = read_body(dir, "Y.1.1", 3);
	assert_string_equal(p, "y\r\n");
	free(p);
	loaded_clear(&l);
	free(was);
	free(x);
	free(y);
	tmpdir_rm(dir);
}

struct lost {
	struct qentry	*e[4];
	char		*why[4];
	size_t		 n;
};

static void
on_lost(struct qentry *e, const char *why, void *arg)
{
	struct lost *l = arg;

	assert_true(l->n < NELEM(l->e));
	l->e[l->n] = e;
	l->why[l->n++] = xstrdup(why);
}

/* Both callbacks' argument. */
struct both {
	struct loaded	 l;
	struct lost	 lost;
};

static void
both_entry(struct qentry *e, void *arg)
{
	on_entry(e, &((struct both *)arg)->l);
}

static void
both_lost(struct qentry *e, const char *why, void *arg)
{
	on_lost(e, why, &((struct both *)arg)->lost);
}

/* What a big scan handed over, in order. */
struct many {
	size_t	 n;
	int	 ordered;
	char	*last;
};

static void
many_entry(struct qentry *e, void *arg)
{
	struct many *m = arg;

	if (m->last != NULL && strcmp(m->last, e->id) >= 0)
		m->ordered = 0;
	free(m->last);
	m->last = xstrdup(e->id);
	m->n++;
	qentry_clear(e);
	free(e);
}

/* A directory big enough for the scan's readers (scan.c, reading ahead):
 * every valid entry is handed over once, in name order; a corrupt one,
 * one whose body is missing and a FIFO named like an entry among them
 * are dealt with as in a small scan (set aside, set aside, left alone
 * unopened), and the scan's log names them in order. */
static void
test_scan_reads_ahead(void **state)
{
	static const struct rc r[] = { { QRCPT_PENDING, "n@example.com",
	    NULL } };
	char *dir = tmpdir_new(), *err = NULL, *log, *path, *p;
	struct many m = { 0, 1, NULL };
	char name[32];
	FILE *cap;

	(void)state;
	log_set_level(LOG_INFO);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "A%04d.1.1", i);
		if (i == 700) {
			path = xasprintf("%s/%s", dir, name);
			assert_int_equal(mkfifo(path, 0600), 0);
			free(path);
			continue;
		}
		if (i == 500) {
			put_file(dir, name, "OUTPOST-QUEUE 2\nid x\n", 21);
			continue;
		}
		put_entry(dir, name, name, "A0000.1.1", "example.com", 0, 1,
		    r, 1, NULL);
	}
	snprintf(name, sizeof(name), "A%04d.1.1", 2999);
	put_entry(dir, name, name, "gone.1.1", "example.com", 0, 1, r, 1,
	    NULL);
	put_body(dir, "A0000.1.1", "m\r\n", 3);
	cap = capture_start();
	assert_int_equal(qfs_scan(dir, many_entry, NULL, &m, &err), 2997);
	log = capture_end(cap);
	assert_null(err);
	assert_int_equal(m.n, 2997);
	assert_true(m.ordered);
	assert_string_equal(m.last, "A2998.1.1");
	p = strstr(log, "A0500.1.1: truncated; moved aside");
	assert_non_null(p);
	assert_non_null(p = strstr(p, "A0700.1.1 is a FIFO"));
	assert_non_null(strstr(p, "A2999.1.1: message file missing; moved "
	    "aside"));
	path = xasprintf("%s/error.A0500.1.1", dir);
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	path = xasprintf("%s/A0700.1.1", dir);
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	free(log);
	free(m.last);
	tmpdir_rm(dir);
}

/* The sweep removes regular body files only: a link or a FIFO named like
 * a body is not ours (left alone, never followed or opened). */
static void
test_sweep_regular_only(void **state)
{
	char *dir = tmpdir_new(), *path, *log;
	struct qrefs *refs = qrefs_new();
	FILE *cap;

	(void)state;
	log_set_level(LOG_INFO);
	put_body(dir, "O.1.1", "m\r\n", 3);
	path = xasprintf("%s/msg.L.1.1", dir);
	assert_int_equal(symlink("msg.O.1.1", path), 0);
	free(path);
	path = xasprintf("%s/msg.F.1.1", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	free(path);
	cap = capture_start();
	qfs_sweep_bodies(dir, refs);
	log = capture_end(cap);
	assert_string_equal(log, "[INFO] [-] [core] queue: removed 1 message "
	    "body no entry refers to (a crash's leftovers)\n");
	free(log);
	assert_false(exists(dir, "msg.O.1.1"));
	path = names(dir);
	assert_string_equal(path, "msg.F.1.1\nmsg.L.1.1\n");
	free(path);
	qrefs_free(refs);
	tmpdir_rm(dir);
}

/*
 * Body files at start-up: an entry whose body is missing (or is not a
 * regular file) is corrupt, "message file missing" (handed over as lost
 * when it names pending recipients, else set aside); a body is kept while
 * an entry (loaded, or lost and not yet set aside) refers to it, and
 * swept otherwise.
 */
static void
test_scan_bodies(void **state)
{
	static const struct rc pend[] = {
		{ QRCPT_PENDING, "p@example.com", NULL },
		{ QRCPT_DELIVERED, "d@example.com", "250 ok" } };
	static const struct rc done[] = {
		{ QRCPT_DELIVERED, "d@example.com", "250 ok" } };
	char *dir = tmpdir_new(), *err = NULL, *log, *p, *path, *out;
	struct both s;
	struct buf b = BUF_INIT;
	FILE *cap;

	(void)state;
	memset(&s, 0, sizeof(s));
	log_set_level(LOG_INFO);
	/* A.1.1 and A.1.2 share a body; M.1.1's and D.1.1's are missing;
	 * S.1.1's is a link to a good body; L.1.1 is damaged, its body
	 * there; O.1.1 is no entry's. */
	put_entry(dir, "A.1.1", "A.1.1", "A.1.1", "a.example", 0, 1, pend, 2,
	    NULL);
	put_entry(dir, "A.1.2", "A.1.2", "A.1.1", "b.example", 0, 1, pend, 2,
	    NULL);
	put_body(dir, "A.1.1", "m\r\n", 3);
	put_entry(dir, "M.1.1", "M.1.1", "M.1.1", "a.example", 0, 1, pend, 2,
	    NULL);
	put_entry(dir, "D.1.1", "D.1.1", "D.1.1", "a.example", 0, 1, done, 1,
	    NULL);
	put_entry(dir, "S.1.1", "S.1.1", "S.1.1", "a.example", 0, 1, pend, 2,
	    NULL);
	path = xasprintf("%s/msg.S.1.1", dir);
	assert_int_equal(symlink("msg.A.1.1", path), 0);
	free(path);
	put_body(dir, "O.1.1", "m\r\n", 3);
	put_body(dir, "L.1.1", "m\r\n", 3);
	{
		struct qentry e;
		static const struct ecase c = { "L.1.1", "a.example", "s@t",
		    "h", "192.0.2.1", NULL, 0, 0, 1, 1,
		    { { QRCPT_PENDING, "p@example.com", NULL } }, "m\r\n", 3 };

		build(&c, &e);
		qfs_encode(&e, &b);
		qentry_clear(&e);
		b.p[strstr(b.p, "helo h") - b.p + 5] = 'H';
		put_file(dir, "L.1.1", b.p, b.len);
	}
	put_file(dir, "tmp.msg.T.1.1", "OUTPOST-BODY 1\nsize 9", 21);

	out = run_report(qfs_stat, dir);
	assert_non_null(strstr(out, "\ncorrupt 1\nset_aside 0\ntemp 1\n"
	    "other 1\nbodies 3\n"));		/* the link is "other" */
	assert_memory_equal(out, "entries 5\n", 10);
	free(out);

	cap = capture_start();
	s.l.refs = qrefs_new();
	assert_int_equal(qfs_scan(dir, both_entry, both_lost, &s, &err), 2);
	log = capture_end(cap);
	assert_int_equal(s.l.n, 2);
	assert_string_equal(s.l.e[0]->id, "A.1.1");
	assert_string_equal(s.l.e[1]->id, "A.1.2");
	assert_int_equal(qrefs_get(s.l.refs, "A.1.1"), 2);
	/* Lost: L (checksum), M and S (no body); D names no pending
	 * recipient: aside at once. */
	assert_int_equal(s.lost.n, 3);
	assert_string_equal(s.lost.e[0]->id, "L.1.1");
	assert_string_equal(s.lost.why[0], "checksum mismatch");
	assert_string_equal(s.lost.e[1]->id, "M.1.1");
	assert_string_equal(s.lost.why[1], "message file missing");
	assert_int_equal(s.lost.e[1]->nrcpts, 2);
	assert_string_equal(s.lost.e[1]->rcpts[0].addr, "p@example.com");
	assert_string_equal(s.lost.e[2]->id, "S.1.1");
	assert_string_equal(s.lost.why[2], "message file missing");
	/* The salvage reads the body field: the caller counts it. */
	for (size_t i = 0; i < s.lost.n; i++) {
		assert_string_equal(s.lost.e[i]->body, s.lost.e[i]->id);
		qrefs_add(s.l.refs, s.lost.e[i]->body, 1);
	}
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: D.1.1: message "
	    "file missing; moved aside to error.D.1.1\n"));
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: msg.S.1.1 is a "
	    "symbolic link, not a queue file; left alone (not followed)\n"));
	assert_non_null(strstr(log, "[WARN] [-] [core] queue: removing "
	    "left-over temp file tmp.msg.T.1.1\n"));
	free(log);
	assert_true(exists(dir, "M.1.1"));	/* until its records */
	assert_true(exists(dir, "L.1.1"));
	assert_true(exists(dir, "error.D.1.1"));
	assert_false(exists(dir, "tmp.msg.T.1.1"));

	/* The sweep: O.1.1 only (L.1.1's is still referred to; the link
	 * is not a body file). */
	cap = capture_start();
	qfs_sweep_bodies(dir, s.l.refs);
	free(capture_end(cap));
	p = names(dir);
	assert_string_equal(p, "A.1.1\nA.1.2\nL.1.1\nM.1.1\nS.1.1\n"
	    "error.D.1.1\nmsg.A.1.1\nmsg.L.1.1\nmsg.S.1.1\n");
	free(p);
	loaded_clear(&s.l);
	for (size_t i = 0; i < s.lost.n; i++) {
		qentry_clear(s.lost.e[i]);
		free(s.lost.e[i]);
		free(s.lost.why[i]);
	}

	/* Without a taker for the lost, they go aside at once. */
	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &s.l, &err), 2);
	log = capture_end(cap);
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: M.1.1: message "
	    "file missing; moved aside to error.M.1.1\n"));
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: S.1.1: message "
	    "file missing; moved aside to error.S.1.1\n"));
	free(log);
	assert_true(exists(dir, "error.M.1.1"));
	loaded_clear(&s.l);
	buf_free(&b);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_crc32c_large),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_round_trip_v1),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_pack),
		cmocka_unit_test(test_scan_reads_ahead),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_byte_flips),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_scan_migrates_v1),
		cmocka_unit_test(test_scan_migration_fails),
		cmocka_unit_test(test_scan_bodies),
		cmocka_unit_test(test_sweep_regular_only),
	};

	return cmocka_run_group_tests_name("queue_fs", tests, NULL, NULL);
}
