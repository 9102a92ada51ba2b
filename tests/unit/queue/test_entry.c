/* Unit tests: queue entry images (round trips, damage, bad headers), reading
 * files (entry.c), the start-up scan (scan.c) and --qlist/--qstat
 * (report.c) on a directory. */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "queue/entry.h"
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
}

/* The image of cases[i]. */
static void
image(size_t i, struct buf *b)
{
	struct qentry e;

	build(&cases[i], &e);
	qfs_encode(&e, cases[i].msg, cases[i].msglen, b);
	qentry_clear(&e);
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
	assert_int_equal(qfs_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(qfs_crc32c(0, "", 0), 0);
	assert_int_equal(qfs_crc32c(qfs_crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283);
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
		qfs_encode(&want, cases[i].msg, cases[i].msglen, &b);
		if (qfs_decode(b.p, b.len, &got, &why) != 0)
			fail_msg("case %zu: %s", i, why);
		assert_entry_eq(&want, &got);
		assert_int_equal(got.msg_len, cases[i].msglen);
		assert_memory_equal(b.p + got.msg_offset, cases[i].msg,
		    cases[i].msglen);
		/* The encoding is canonical. */
		qfs_encode(&got, b.p + got.msg_offset, got.msg_len, &again);
		assert_int_equal(again.len, b.len);
		assert_memory_equal(again.p, b.p, b.len);
		qentry_clear(&want);
		qentry_clear(&got);
		buf_free(&b);
		buf_free(&again);
	}
}

/* A copy is deep: it encodes to the same image and outlives its source
 * (notes included). */
static void
test_copy(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		struct qentry src, dst;

		build(&cases[i], &src);
		qfs_encode(&src, cases[i].msg, cases[i].msglen, &a);
		qentry_copy(&dst, &src);
		qentry_clear(&src);
		qfs_encode(&dst, cases[i].msg, cases[i].msglen, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		qentry_clear(&dst);
		buf_free(&a);
		buf_free(&b);
	}
}

/* The first case's image, for reading by eye. */
static void
test_golden(void **state)
{
	static const char want[] = "OUTPOST-QUEUE 1\n"
	    "id q1\ndomain example.com\nmail_from a@b.c\nflags 0\n"
	    "queue_time 1700000000000\nnext_attempt 1700000000000\n"
	    "attempts 0\nhelo client.example\nclient_ip 192.0.2.1\n"
	    "rcpt pending x@example.com\nmessage 21\n"
	    "Subject: hi\r\n\r\nbody\r\n\nEND ";
	struct buf b = BUF_INIT;
	char end[16];

	(void)state;
	image(0, &b);
	assert_true(b.len == sizeof(want) - 1 + 9);
	assert_memory_equal(b.p, want, sizeof(want) - 1);
	snprintf(end, sizeof(end), "%08X\n",
	    qfs_crc32c(0, b.p, sizeof(want) - 1 - 4));
	assert_string_equal(b.p + sizeof(want) - 1, end);
	buf_free(&b);
}

/* Every proper prefix of every image is refused. */
static void
test_truncation(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT;

		image(i, &b);
		for (size_t n = 0; n < b.len; n++) {
			char *p = xmalloc(n + 1);	/* exact, for ASan */
			const char *why = NULL;
			struct qentry e;

			memcpy(p, b.p, n);
			if (qfs_decode(p, n, &e, &why) != -1)
				fail_msg("case %zu: prefix %zu decodes", i, n);
			if (strcmp(why, "truncated") != 0 &&
			    strcmp(why, "checksum mismatch") != 0)
				fail_msg("case %zu: prefix %zu: %s", i, n, why);
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
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct buf b = BUF_INIT;

		image(i, &b);
		for (size_t at = 0; at < b.len; at++)
			for (int x = 1; x < 256; x++) {
				const char *why = NULL;
				struct qentry e;

				b.p[at] ^= (char)x;
				if (qfs_decode(b.p, b.len, &e, &why) != -1)
					fail_msg("case %zu: byte %zu ^ %#x "
					    "decodes", i, at, x);
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
	buf_printf(b, "END %08X\n", qfs_crc32c(0, b->p, b->len));
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
		{ "From: x\n", 0, "not an Outpost queue file" },
		{ "outpost-queue 1\n", 0, "not an Outpost queue file" },
		{ "OUTPOST-QUEUE 2\nwhatever", 0, "unsupported version 2" },
		{ "OUTPOST-QUEUE 0\n", 0, "unsupported version 0" },
		{ "OUTPOST-QUEUE 12\n", 0, "unsupported version" },
		{ "OUTPOST-QUEUE 01\n", 0, "bad version line" },
		{ "OUTPOST-QUEUE +1\n", 0, "bad version line" },
		{ "OUTPOST-QUEUE \n", 0, "bad version line" },
		{ "OUTPOST-QUEUE 1 \n", 0, "bad version line" },
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
	image(0, &b);
	buf_addc(&b, 'x');
	expect_why(b.p, b.len, "trailing garbage after end marker");
	b.p[b.len - 1] = '\n';
	expect_why(b.p, b.len, "trailing garbage after end marker");
	buf_reset(&b);
	image(0, &b);
	buf_adds(&b, "END 00000000\n");
	expect_why(b.p, b.len, "checksum mismatch");
	buf_reset(&b);
	image(0, &b);
	image(0, &b);	/* two images back to back */
	expect_why(b.p, b.len, "checksum mismatch");
	buf_free(&b);
}

/* A valid header, less line `skip` (-1: none), plus `extra`, sealed. */
static const char *const base[] = {
	"id q1", "domain example.com", "mail_from a@b.c", "flags 0",
	"queue_time 1", "next_attempt 2", "attempts 0", "helo h",
	"client_ip 192.0.2.1", "rcpt pending x@example.com",
};

static void
test_header_fields(void **state)
{
	static const struct {
		int		 skip;
		const char	*extra;
		const char	*why;		/* NULL: decodes */
	} hc[] = {
		{ -1, NULL, NULL },
		{ -1, "last_error ", NULL },
		{ -1, "last_error 451%20later", NULL },
		{ -1, "rcpt delivered y@example.com ", NULL },
		{ -1, "rcpt bounced y@example.com 550%20no%0D%0A", NULL },
		{ -1, "rcpt pending \xc3\xa9@example.com", NULL },
		{ 0, "id a.b-c_9", NULL },
		{ 3, "flags 3", NULL },
		{ 4, "queue_time 9223372036854775807", NULL },
		{ 6, "attempts 4294967295", NULL },
		{ 0, NULL, "missing field 'id'" },
		{ 1, NULL, "missing field 'domain'" },
		{ 2, NULL, "missing field 'mail_from'" },
		{ 3, NULL, "missing field 'flags'" },
		{ 4, NULL, "missing field 'queue_time'" },
		{ 5, NULL, "missing field 'next_attempt'" },
		{ 6, NULL, "missing field 'attempts'" },
		{ 7, NULL, "missing field 'helo'" },
		{ 8, NULL, "missing field 'client_ip'" },
		{ 9, NULL, "no recipients" },
		{ -1, "color red", "unknown key" },
		{ -1, "ID q1", "unknown key" },
		{ -1, " x", "unknown key" },
		{ -1, "domain example.org", "duplicate key 'domain'" },
		{ -1, "id q1", "duplicate key 'id'" },
		{ -1, "last_error a\nlast_error b",
		  "duplicate key 'last_error'" },
		{ 0, "id tmp.1", "bad value for 'id'" },
		{ 0, "id .x", "bad value for 'id'" },
		{ 0, "id a/b", "bad value for 'id'" },
		{ 0, "id ", "bad value for 'id'" },
		{ 0, "id a%20b", "bad value for 'id'" },
		{ 1, "domain ", "bad value for 'domain'" },
		{ 3, "flags 4", "bad value for 'flags'" },
		{ 3, "flags -1", "bad value for 'flags'" },
		{ 4, "queue_time 9223372036854775808", "bad value for "
		  "'queue_time'" },
		{ 4, "queue_time -1", "bad value for 'queue_time'" },
		{ 5, "next_attempt +2", "bad value for 'next_attempt'" },
		{ 5, "next_attempt 02", "bad value for 'next_attempt'" },
		{ 5, "next_attempt ", "bad value for 'next_attempt'" },
		{ 5, "next_attempt 1e3", "bad value for 'next_attempt'" },
		{ 6, "attempts 4294967296", "bad value for 'attempts'" },
		{ 6, "attempts 99999999999999999999999", "bad value for "
		  "'attempts'" },
		{ 2, "mail_from a b", "bad value for 'mail_from'" },
		{ 2, "mail_from a%2", "bad value for 'mail_from'" },
		{ 2, "mail_from a%zz", "bad value for 'mail_from'" },
		{ 2, "mail_from a%2a", "bad value for 'mail_from'" },
		{ 2, "mail_from a%41", "bad value for 'mail_from'" },
		{ 2, "mail_from a%00", "bad value for 'mail_from'" },
		{ 2, "mail_from a\tb", "bad value for 'mail_from'" },
		{ 2, "mail_from a\rb", "bad value for 'mail_from'" },
		{ 2, "mail_from a\x7f", "bad value for 'mail_from'" },
		{ 7, "helo a%", "bad value for 'helo'" },
		{ -1, "rcpt sent y@example.com", "bad value for 'rcpt'" },
		{ -1, "rcpt pending", "bad value for 'rcpt'" },
		{ -1, "rcpt pending ", "bad value for 'rcpt'" },
		{ -1, "rcpt pending  x", "bad value for 'rcpt'" },
		{ -1, "rcpt pending a b c", "bad value for 'rcpt'" },
		{ -1, "rcpt Pending y@example.com", "bad value for 'rcpt'" },
		{ -1, "message 3", "bad end marker" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(hc); i++) {
		struct buf text = BUF_INIT, b = BUF_INIT;

		buf_adds(&text, "OUTPOST-QUEUE 1\n");
		for (int l = 0; l < (int)NELEM(base); l++)
			if (l != hc[i].skip)
				buf_printf(&text, "%s\n", base[l]);
		if (hc[i].extra != NULL)
			buf_printf(&text, "%s\n", hc[i].extra);
		buf_adds(&text, "message 4\nbody\n");
		seal(&b, text.p);
		expect_why(b.p, b.len, hc[i].why);
		buf_free(&text);
		buf_free(&b);
	}
}

/* Writes an image (or any bytes) as dir/name; returns its length. */
static size_t
put_file(const char *dir, const char *name, const char *p, size_t n)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(path);
	return n;
}

static void
test_read(void **state)
{
	char *dir = tmpdir_new(), *path, *msg = NULL;
	struct buf b = BUF_INIT;
	const char *why = NULL;
	struct qentry e;
	size_t len = 0;

	(void)state;
	image(1, &b);
	put_file(dir, "f", b.p, b.len);
	path = xasprintf("%s/f", dir);
	assert_int_equal(qfs_read(path, &e, &msg, &len, &why), 0);
	assert_int_equal(len, cases[1].msglen);
	assert_memory_equal(msg, cases[1].msg, len);
	assert_int_equal(msg[len], '\0');
	assert_string_equal(e.id, cases[1].id);
	qentry_clear(&e);
	free(msg);
	assert_int_equal(qfs_read(path, &e, NULL, NULL, &why), 0);
	assert_int_equal(e.nrcpts, 4);
	qentry_clear(&e);
	free(path);

	path = xasprintf("%s/missing", dir);
	assert_int_equal(qfs_read(path, &e, NULL, NULL, &why), -1);
	assert_string_equal(why, strerror(ENOENT));
	free(path);
	assert_int_equal(qfs_read(dir, &e, NULL, NULL, &why), -1);
	assert_string_equal(why, "not a regular file");
	put_file(dir, "g", b.p, b.len - 1);
	path = xasprintf("%s/g", dir);
	assert_int_equal(qfs_read(path, &e, &msg, &len, &why), -1);
	assert_string_equal(why, "truncated");
	assert_null(e.id);
	free(path);
	buf_free(&b);
	tmpdir_rm(dir);
}

/* An entry image for the directory tests. */
static size_t
put_entry(const char *dir, const char *name, const char *id,
    const char *domain, unsigned attempts, int64_t next,
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
	qfs_encode(&e, c.msg, c.msglen, &b);
	len = put_file(dir, name, b.p, b.len);
	qentry_clear(&e);
	buf_free(&b);
	return len;
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
};

static void
on_entry(struct qentry *e, void *arg)
{
	struct loaded *l = arg;

	assert_true(l->n < NELEM(l->e));
	l->e[l->n++] = e;
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
	struct loaded l = { { NULL }, 0 };
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
	    "0 corrupt, 0 set aside, 0 being written\n");
	free(out);

	bytes += put_entry(dir, "e1", "e1", "example.com", 2, 1700000000000,
	    r1, 2, "451 4.7.1 \"grey\"\r\n");
	bytes += put_entry(dir, "e2", "e2", "example.org", 0, 1600000000000,
	    r2, 1, NULL);
	bytes += put_entry(dir, "e3", "e3", "example.net", 5, 4102444800000,
	    r3, 1, NULL);
	bytes += put_entry(dir, "mismatch", "e9", "example.net", 0, 1, r3, 1,
	    NULL);
	bytes += put_file(dir, "tmp.123", "partial", 7);
	bytes += put_file(dir, "bad1", "garbage\n", 8);
	image(0, &b);
	bytes += put_file(dir, "bad2", b.p, 20);
	bytes += put_file(dir, "Has Space", "?", 1);
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
	    "1 being written\n");
	free(out);
	out = run_report(qfs_stat, dir);
	want = xasprintf("entries 3\nrecipients 4\nrecipients_pending 2\n"
	    "recipients_delivered 1\nrecipients_bounced 1\ndeferred 2\n"
	    "due 2\ncorrupt 3\nset_aside 1\ntemp 1\nother 2\nbytes %zu\n",
	    bytes);
	assert_string_equal(out, want);
	free(want);
	free(out);
	assert_true(exists(dir, "tmp.123"));	/* list and stat only read */

	cap = capture_start();
	assert_int_equal(qfs_scan(dir, on_entry, NULL, &l, &err), 3);
	log = capture_end(cap);
	assert_null(err);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.e[0]->id, "e1");
	assert_string_equal(l.e[1]->id, "e2");
	assert_string_equal(l.e[2]->id, "e3");
	assert_string_equal(l.e[0]->last_error, "451 4.7.1 \"grey\"\r\n");
	assert_int_equal(l.e[0]->msg_len, 3);
	for (size_t i = 0; i < l.n; i++) {
		qentry_clear(l.e[i]);
		free(l.e[i]);
	}
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
	    "[WARN] [-] [core] queue: removing left-over temp file tmp.123\n"
	    "[WARN] [-] [core] queue: 3 corrupt entries set aside in %s as "
	    "error.*\n", strerror(EISDIR), dir);
	assert_string_equal(log, want);
	free(want);
	free(log);
	assert_false(exists(dir, "tmp.123"));
	assert_false(exists(dir, "bad1"));
	assert_true(exists(dir, "error.bad1"));
	assert_true(exists(dir, "bad2"));
	assert_true(exists(dir, "error.mismatch"));
	assert_true(exists(dir, "Has Space"));
	assert_true(exists(dir, "error.old"));

	out = run_report(qfs_list, dir);
	assert_string_equal(out, E2_LINE E1_LINE E3_LINE
	    "bad2 CORRUPT: truncated\n"
	    "error.bad1 SET ASIDE\n"
	    "error.mismatch SET ASIDE\n"
	    "error.old SET ASIDE\n"
	    "-- 3 entries, 4 recipients (2 pending), 1 corrupt, 3 set aside, "
	    "0 being written\n");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_byte_flips),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_directory),
	};

	return cmocka_run_group_tests_name("queue_fs", tests, NULL, NULL);
}
