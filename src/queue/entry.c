/*
 * entry: the queue entry file format (docs/queue-format.md): encoding,
 * decoding (versions 1 and 2) and salvage, the head and tail of body
 * files (fuzzed: tests/fuzz/fuzz_queue_fs.c), CRC-32C.
 * Decoding trusts nothing: images are bounds-checked, checksummed and
 * parsed strictly, from memory or read on demand through a qfs_source
 * (entry_file.c reads files so). Entries handed out are the receiver's;
 * no state is kept here, and no file is touched.
 */
#include "queue/entry.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

#define MAGIC		"OUTPOST-QUEUE "
#define BODY_MAGIC	"OUTPOST-BODY 1\nsize "
#define END_LEN		13		/* "END " 8 hex digits LF */

/* The header keys and what a bad one is called. */
enum ftype { T_STR, T_OPTSTR, T_FLAGS, T_TIME, T_UINT, T_RCPT, T_NOTE,
    T_MSG, T_SIZE, T_HELD };

#define V1	1u		/* the versions a key belongs to */
#define V2	2u
#define VALL	(V1 | V2)

static const struct field {
	const char	*key;
	enum ftype	 type;
	size_t		 off;		/* in struct qentry */
	const char	*missing;	/* NULL when optional */
	const char	*dup;		/* NULL when it repeats */
	const char	*bad;
	unsigned	 versions;
} fields[] = {
#define F(k, t, v) { #k, t, offsetof(struct qentry, k), "missing field '" \
	#k "'", "duplicate key '" #k "'", "bad value for '" #k "'", v }
	F(id, T_STR, VALL), F(domain, T_STR, VALL),
	F(mail_from, T_STR, VALL), F(flags, T_FLAGS, VALL),
	F(queue_time, T_TIME, VALL), F(next_attempt, T_TIME, VALL),
	F(attempts, T_UINT, VALL), F(helo, T_STR, VALL),
	F(client_ip, T_STR, VALL),
	{ "last_error", T_OPTSTR, offsetof(struct qentry, last_error), NULL,
	  "duplicate key 'last_error'", "bad value for 'last_error'", VALL },
	{ "rcpt", T_RCPT, 0, "no recipients", NULL, "bad value for 'rcpt'",
	  VALL },
	{ "note", T_NOTE, 0, NULL, NULL, "bad value for 'note'", VALL },
	F(body, T_STR, V2),
	{ "size", T_SIZE, offsetof(struct qentry, msg_len),
	  "missing field 'size'", "duplicate key 'size'",
	  "bad value for 'size'", V2 },
	{ "message", T_MSG, 0, NULL, NULL, "bad value for 'message'", V1 },
	{ "held", T_HELD, offsetof(struct qentry, held), NULL,
	  "duplicate key 'held'", "bad value for 'held'", V2 },
#undef F
};
#define NFIELDS		(sizeof(fields) / sizeof(fields[0]))
#define FIELD(e, f, t)	((t *)(void *)((char *)(e) + (f)->off))

static const char *const states[] = { "pending", "delivered", "bounced" };

int
qfs_valid_id(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n < QFS_ID_MAX && name[n] == '\0' && name[0] != '.' &&
	    strncmp(name, QFS_TMP_PREFIX, strlen(QFS_TMP_PREFIX)) != 0 &&
	    strncmp(name, QFS_ERROR_PREFIX, strlen(QFS_ERROR_PREFIX)) != 0 &&
	    strncmp(name, QFS_BODY_PREFIX, strlen(QFS_BODY_PREFIX)) != 0;
}

const char *
qrcpt_state_name(enum qrcpt_state s)
{
	return states[s <= QRCPT_BOUNCED ? s : QRCPT_PENDING];
}

/* Bytes written as %XX: controls, space, DEL and '%' itself. */
static int
must_escape(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '%';
}

/* Appends prefix, then s percent-escaped. */
static void
put_str(struct buf *b, const char *prefix, const char *s)
{
	buf_adds(b, prefix);
	for (; s != NULL && *s != '\0'; s++)
		if (must_escape((unsigned char)*s))
			buf_printf(b, "%%%02X", (unsigned char)*s);
		else
			buf_addc(b, *s);
}

void
qfs_encode(const struct qentry *e, struct buf *out)
{
	size_t start = out->len;

	buf_printf(out, MAGIC "%d\n", QFS_VERSION);
	put_str(out, "id ", e->id);
	put_str(out, "\ndomain ", e->domain);
	put_str(out, "\nmail_from ", e->mail_from);
	buf_printf(out, "\nflags %u\nqueue_time %" PRId64 "\nnext_attempt %"
	    PRId64 "\nattempts %u", e->flags,
	    e->queue_time < 0 ? 0 : e->queue_time,
	    e->next_attempt < 0 ? 0 : e->next_attempt, e->attempts);
	put_str(out, "\nhelo ", e->helo);
	put_str(out, "\nclient_ip ", e->client_ip);
	if (e->last_error != NULL)
		put_str(out, "\nlast_error ", e->last_error);
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct qrcpt *r = &e->rcpts[i];

		buf_printf(out, "\nrcpt %s", qrcpt_state_name(r->state));
		put_str(out, " ", r->addr);
		if (r->reason != NULL)
			put_str(out, " ", r->reason);
	}
	for (size_t i = 0; i < e->nnotes; i++) {
		put_str(out, "\nnote ", e->notes[2 * i]);
		put_str(out, " ", e->notes[2 * i + 1]);
	}
	put_str(out, "\nbody ", e->body);
	buf_printf(out, "\nsize %zu\n", e->msg_len);
	if (e->held)
		buf_adds(out, "held 1\n");
	buf_printf(out, "END %08" PRIX32 "\n",
	    crc32c(0, out->p + start, out->len - start));
}

void
qfs_body_head(size_t len, struct buf *out)
{
	buf_printf(out, BODY_MAGIC "%zu\n", len);
}

void
qfs_body_tail(uint32_t crc, struct buf *out)
{
	crc = crc32c(crc, "\n", 1);
	buf_printf(out, "\nEND %08" PRIX32 "\n", crc);
}

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes a canonical percent-escaped token (malloc'd), or NULL. */
static char *
get_esc(struct slice s)
{
	char *out = xmalloc(s.len + 1), *o = out;
	int hi, lo;

	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '%') {
			if (s.len - i < 3 || (hi = unhex(s.p[i + 1])) < 0 ||
			    (lo = unhex(s.p[i + 2])) < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0 || !must_escape(c))
				goto bad;	/* NUL, or not canonical */
			i += 2;
		} else if (must_escape(c))
			goto bad;
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* A canonical decimal (no sign, no leading zero) <= max. */
static int
get_num(struct slice s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (s.len == 0 || (s.p[0] == '0' && s.len > 1))
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';

		if (d > 9 || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

/* The next LF-terminated line of data[*pos..end), without the LF. */
static int
next_line(const char *data, size_t end, size_t *pos, struct slice *line)
{
	const char *nl;

	if (*pos >= end ||
	    (nl = memchr(data + *pos, '\n', end - *pos)) == NULL)
		return -1;
	*line = slice_of(data + *pos, (size_t)(nl - (data + *pos)));
	*pos = (size_t)(nl - data) + 1;
	return 0;
}

/* Splits "key value" at the first space. */
static int
split(struct slice l, struct slice *key, struct slice *val)
{
	const char *sp = memchr(l.p, ' ', l.len);

	if (sp == NULL)
		return -1;
	*key = slice_of(l.p, (size_t)(sp - l.p));
	*val = slice_of(sp + 1, l.len - key->len - 1);
	return 0;
}

/* "END " 8 upper-case hex digits LF, at p (END_LEN bytes readable). */
static int
end_marker(const char *p, uint32_t *crc)
{
	int d;

	if (memcmp(p, "END ", 4) != 0 || p[END_LEN - 1] != '\n')
		return -1;
	*crc = 0;
	for (int i = 4; i < END_LEN - 1; i++) {
		if ((d = unhex(p[i])) < 0)
			return -1;
		*crc = *crc << 4 | (uint32_t)d;
	}
	return 0;
}

int
qfs_body_parse(const char *p, size_t have, size_t flen, size_t *off,
    size_t *len, const char **why)
{
	const size_t ml = sizeof(BODY_MAGIC) - 1;
	const char *nl;
	uint64_t n;

	if (memcmp(p, BODY_MAGIC, have < ml ? have : ml) != 0)
		return *why = "not an Outpost message file", -1;
	if (have < ml || (nl = memchr(p + ml, '\n', have - ml)) == NULL)
		return *why = have < flen ? "bad size line" : "truncated", -1;
	if (get_num(slice_of(p + ml, (size_t)(nl - p) - ml), SIZE_MAX,
	    &n) == -1)
		return *why = "bad size line", -1;
	*off = (size_t)(nl - p) + 1;
	if (n > flen - *off || flen - *off - n < QFS_BODY_TAIL)
		return *why = "truncated", -1;
	if (flen - *off - n > QFS_BODY_TAIL)
		return *why = "trailing garbage after end marker", -1;
	*len = (size_t)n;
	return 0;
}

int
qfs_body_tail_crc(const char *p, uint32_t *crc)
{
	return p[0] == '\n' ? end_marker(p + 1, crc) : -1;
}

/*
 * An image being decoded: bytes [0, have) are at p, the image is len
 * bytes long. A memory image has them all; an image read through a
 * qfs_source keeps only its head (up to the message line, at most
 * QFS_HEAD_MAX) and reads the rest through the CRC and the end marker.
 */
struct img {
	const char		*p;
	size_t			 have, len;
	const struct qfs_source	*src;		/* NULL: all at p */
	char			*buf;		/* the head read so far */
	int			 err;		/* errno of a failed read */
	int			 big;		/* head past QFS_HEAD_MAX */
};

#define CRC_CHUNK	65536
#define HEAD_STEP	4096
static const char io_error[] = "read error";	/* im->err says which */

static int
img_read(struct img *im, size_t off, void *buf, size_t n)
{
	if (im->src->read(im->src->arg, off, buf, n) == 0)
		return 0;
	im->err = errno ? errno : EIO;
	return -1;
}

/* Reads more of the head: -1 when there is no more (end of the image,
 * the head limit, a read error). */
static int
img_more(struct img *im)
{
	size_t lim = im->len < QFS_HEAD_MAX ? im->len : QFS_HEAD_MAX, want;

	if (im->src == NULL || im->have >= lim) {
		im->big |= im->have >= QFS_HEAD_MAX && im->len > QFS_HEAD_MAX;
		return -1;
	}
	want = im->have ? im->have * 2 : im->src->step ? im->src->step :
	    HEAD_STEP;
	want = want > lim ? lim : want;
	im->buf = xrealloc(im->buf, want);
	if (img_read(im, im->have, im->buf + im->have, want - im->have) == -1)
		return -1;
	im->p = im->buf;
	im->have = want;
	return 0;
}

/* The next line of the head (read on demand); -1 at its end. */
static int
img_line(struct img *im, size_t *pos, struct slice *line)
{
	while (next_line(im->p, im->have, pos, line) == -1)
		if (img_more(im) == -1)
			return -1;
	if (*pos > QFS_HEAD_MAX) {	/* the same in memory */
		im->big = 1;
		return -1;
	}
	return 0;
}

/* END_LEN + 1 bytes at off (off + END_LEN + 1 <= len): in the head, or
 * read into scratch. NULL on a read error. */
static const char *
img_at(struct img *im, size_t off, char *scratch)
{
	if (off + END_LEN + 1 <= im->have)
		return im->p + off;
	return img_read(im, off, scratch, END_LEN + 1) == 0 ? scratch : NULL;
}

/* The CRC-32C of bytes [0, upto); -1 on a read error. */
static int
img_crc(struct img *im, size_t upto, uint32_t *crc)
{
	size_t off = upto < im->have ? upto : im->have;
	char *chunk;

	*crc = crc32c(0, im->p, off);
	if (off == upto)
		return 0;
	chunk = xmalloc(CRC_CHUNK);
	for (size_t n; off < upto; off += n) {
		n = upto - off < CRC_CHUNK ? upto - off : CRC_CHUNK;
		if (img_read(im, off, chunk, n) == -1)
			break;
		*crc = crc32c(*crc, chunk, n);
	}
	free(chunk);
	return off < upto ? -1 : 0;
}

/* Why the head ended early: a read error, the head limit, or the end. */
static const char *
img_short(const struct img *im)
{
	return im->err ? io_error : im->big ? "header too large" : "truncated";
}

/*
 * The framing: version line, then (version 1) header lines up to
 * "message <n>", n bytes, LF, end marker, end of file; or (version 2)
 * header lines, end marker, end of file. *hdr is set past the version
 * line, *body to the message (version 2: to the end marker), whose
 * length is *blen (version 2: 0); the head is in memory up to *body.
 */
static const char *frame_v2(struct img *, size_t, size_t *, size_t *);

static const char *
frame(struct img *im, unsigned *version, size_t *hdr, size_t *body,
    size_t *blen)
{
	static const char *const other[] = { "unsupported version 0", NULL,
	    NULL, "unsupported version 3",
	    "unsupported version 4", "unsupported version 5",
	    "unsupported version 6", "unsupported version 7",
	    "unsupported version 8", "unsupported version 9" };
	const size_t ml = sizeof(MAGIC) - 1, len = im->len;
	struct slice l, key, val = { NULL, 0 };
	char scratch[END_LEN + 1];
	const char *t;
	size_t pos = 0, end;
	uint64_t n;
	uint32_t crc, sum;

	if (len == 0)
		return "truncated";
	while (im->have < (len < ml ? len : ml))
		if (img_more(im) == -1)
			return img_short(im);
	if (memcmp(im->p, MAGIC, len < ml ? len : ml) != 0)
		return "not an Outpost queue file";
	if (img_line(im, &pos, &l) == -1)
		return img_short(im);
	if (get_num(slice_of(l.p + ml, l.len - ml), UINT32_MAX, &n) == -1)
		return "bad version line";
	if (n != 1 && n != QFS_VERSION)
		return n < 10 ? other[n] : "unsupported version";
	*version = (unsigned)n;
	*hdr = pos;
	/* When the file ends like an image, verify the sum first: damage
	 * anywhere is then reported as such, not as some odd field. */
	if (len - pos >= END_LEN + 1) {
		if ((t = img_at(im, len - END_LEN - 1, scratch)) == NULL)
			return io_error;
		if (t[0] == '\n' && end_marker(t + 1, &crc) == 0) {
			if (img_crc(im, len - END_LEN, &sum) == -1)
				return io_error;
			if (sum != crc)
				return "checksum mismatch";
		}
	}
	if (n == 2)
		return frame_v2(im, pos, body, blen);
	do {
		if (img_line(im, &pos, &l) == -1)
			return img_short(im);
		if (split(l, &key, &val) == -1)
			return "malformed header line";
	} while (!slice_eq(key, "message"));
	if (get_num(val, SIZE_MAX, &n) == -1)
		return "bad value for 'message'";
	if (n > len - pos || len - pos - n < END_LEN + 1)
		return "truncated";
	end = pos + (size_t)n;
	if ((t = img_at(im, end, scratch)) == NULL)
		return io_error;
	if (t[0] != '\n' || end_marker(t + 1, &crc) == -1)
		return "bad end marker";
	if (len - end > END_LEN + 1)
		return "trailing garbage after end marker";
	/* The end marker is the file's tail: its sum was checked above. */
	*body = pos;
	*blen = (size_t)n;
	return NULL;
}

/* Version 2 past the version line at pos: header lines up to an end
 * marker that is the file's tail (its sum was checked). */
static const char *
frame_v2(struct img *im, size_t pos, size_t *body, size_t *blen)
{
	const size_t len = im->len;
	char scratch[END_LEN + 1];
	struct slice l, key, val;
	const char *t;
	uint32_t crc;

	if (len - pos < END_LEN)
		return "truncated";
	while (pos < len - END_LEN) {
		if (img_line(im, &pos, &l) == -1)
			return img_short(im);
		if (pos > len - END_LEN)
			return "truncated";
		if (split(l, &key, &val) == -1)
			return "malformed header line";
	}
	if ((t = img_at(im, len - END_LEN - 1, scratch)) == NULL)
		return io_error;
	if (end_marker(t + 1, &crc) == -1)
		return "bad end marker";
	*body = pos;
	*blen = 0;
	return NULL;
}

/* "<state> <addr>[ <reason>]" */
static int
get_rcpt(struct slice v, struct qrcpt *r)
{
	struct slice st, rest, addr, reason = { NULL, 0 };
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	if (split(v, &st, &rest) == -1)
		return -1;
	while (i < 3 && !slice_eq(st, states[i]))
		i++;
	if (i == 3)
		return -1;
	r->state = (enum qrcpt_state)i;
	if (split(rest, &addr, &reason) == -1)
		addr = rest;
	if (addr.len == 0 || (r->addr = get_esc(addr)) == NULL)
		return -1;
	if (reason.p != NULL && (r->reason = get_esc(reason)) == NULL) {
		free(r->addr);
		return -1;
	}
	return 0;
}

/* One header line's value into e. */
static int
set_field(struct qentry *e, const struct field *f, struct slice v,
    size_t *cap)
{
	uint64_t n;
	char *s;

	switch (f->type) {
	case T_STR:
	case T_OPTSTR:
		if ((s = *FIELD(e, f, char *) = get_esc(v)) == NULL)
			return -1;
		if (f->off == offsetof(struct qentry, id) ||
		    f->off == offsetof(struct qentry, body))
			return qfs_valid_id(s) ? 0 : -1;
		return f->off == offsetof(struct qentry, domain) &&
		    *s == '\0' ? -1 : 0;
	case T_FLAGS:
	case T_UINT:
		if (get_num(v, UINT_MAX, &n) == -1 ||
		    (f->type == T_FLAGS && (n & ~(uint64_t)QE_ALL)))
			return -1;
		*FIELD(e, f, unsigned) = (unsigned)n;
		return 0;
	case T_TIME:
		if (get_num(v, INT64_MAX, &n) == -1)
			return -1;
		*FIELD(e, f, int64_t) = (int64_t)n;
		return 0;
	case T_SIZE:
		if (get_num(v, QFS_BODY_MAX, &n) == -1)
			return -1;
		*FIELD(e, f, size_t) = (size_t)n;
		return 0;
	case T_RCPT:
		if (e->nrcpts == *cap) {
			*cap = *cap ? *cap * 2 : 4;
			e->rcpts = xreallocarray(e->rcpts, *cap,
			    sizeof(*e->rcpts));
		}
		if (get_rcpt(v, &e->rcpts[e->nrcpts]) == -1)
			return -1;
		e->nrcpts++;
		return 0;
	case T_NOTE: {
		struct slice k, val;
		char *ks, *vs;

		if (split(v, &k, &val) == -1 || k.len == 0 ||
		    (ks = get_esc(k)) == NULL)
			return -1;
		if ((vs = get_esc(val)) == NULL) {
			free(ks);
			return -1;
		}
		e->notes = xreallocarray(e->notes, 2 * e->nnotes + 3,
		    sizeof(*e->notes));
		e->notes[2 * e->nnotes] = ks;
		e->notes[2 * e->nnotes + 1] = vs;
		e->notes[2 * ++e->nnotes] = NULL;
		return 0;
	}
	case T_HELD:		/* only ever "1": absent means not held */
		if (get_num(v, 1, &n) == -1 || n != 1)
			return -1;
		*FIELD(e, f, int) = 1;
		return 0;
	case T_MSG:
		break;
	}
	return -1;
}

/* The header lines between the version line and the message line
 * (version 1) or the end marker (version 2). */
static const char *
parse_header(const char *data, size_t pos, size_t end, unsigned version,
    struct qentry *e)
{
	const unsigned v = version == 1 ? V1 : V2;
	struct slice l, key, val;
	unsigned seen = 0;
	size_t cap = 0, i;

	while (next_line(data, end, &pos, &l) == 0) {
		if (split(l, &key, &val) == -1)	/* frame() checked */
			return "malformed header line";
		for (i = 0; i < NFIELDS && !slice_eq(key, fields[i].key); i++)
			;
		if (i == NFIELDS || !(fields[i].versions & v))
			return "unknown key";
		if (fields[i].type == T_MSG)
			break;
		if ((seen & 1u << i) && fields[i].dup != NULL)
			return fields[i].dup;
		seen |= 1u << i;
		if (set_field(e, &fields[i], val, &cap) == -1)
			return fields[i].bad;
	}
	for (i = 0; i < NFIELDS; i++)
		if (fields[i].missing != NULL && (fields[i].versions & v) &&
		    !(seen & 1u << i))
			return fields[i].missing;
	return NULL;
}

/* Decodes im into e (see qfs_decode); *err is im's read error. */
static int
decode(struct img *im, struct qentry *e, const char **why, int *err)
{
	size_t hdr = 0, body = 0, blen = 0;
	unsigned version = 0;

	memset(e, 0, sizeof(*e));
	*why = frame(im, &version, &hdr, &body, &blen);
	if (*why == NULL)
		*why = parse_header(im->p, hdr, body, version, e);
	*err = im->err;
	free(im->buf);
	if (*why != NULL) {
		qentry_clear(e);
		return -1;
	}
	if (version == 1) {
		e->msg_offset = body;
		e->msg_len = blen;
	}
	return 0;
}

int
qfs_decode(const char *data, size_t len, struct qentry *e, const char **why)
{
	struct img im = { .p = data, .have = len, .len = len };
	int err;

	return decode(&im, e, why, &err);
}

int
qfs_decode_source(const struct qfs_source *src, struct qentry *e,
    const char **why, int *err)
{
	struct img im = { .p = "", .len = src->len, .src = src };

	return decode(&im, e, why, err);
}

/* --- salvage ------------------------------------------------------------ */

/*
 * The header lines of a refused image, up to the first one that is not
 * a well-formed field (docs/queue-format.md, "Salvage"). Needs an intact
 * version line (any version); an id line that names another entry makes
 * the whole file uncertain.
 */
static int
salvage(struct img *im, const char *name, struct qentry *e)
{
	const size_t ml = sizeof(MAGIC) - 1;
	struct slice l, key, val;
	size_t pos = 0, cap = 0, pending = 0, i;
	unsigned seen = 0;
	uint64_t v;
	const char *at;

	memset(e, 0, sizeof(*e));
	if (img_line(im, &pos, &l) == -1 || l.len < ml ||
	    memcmp(l.p, MAGIC, ml) != 0 ||
	    get_num(slice_of(l.p + ml, l.len - ml), UINT32_MAX, &v) == -1)
		goto none;
	while (img_line(im, &pos, &l) == 0 && split(l, &key, &val) == 0) {
		for (i = 0; i < NFIELDS && !slice_eq(key, fields[i].key); i++)
			;
		if (i == NFIELDS || fields[i].type == T_MSG ||
		    ((seen & 1u << i) && fields[i].dup != NULL))
			break;
		seen |= 1u << i;
		if (set_field(e, &fields[i], val, &cap) == -1) {
			/* A bad string (an id, an empty domain) is not kept. */
			if (fields[i].type == T_STR ||
			    fields[i].type == T_OPTSTR) {
				free(*FIELD(e, &fields[i], char *));
				*FIELD(e, &fields[i], char *) = NULL;
			}
			break;
		}
	}
	if (e->id != NULL && strcmp(e->id, name) != 0)
		goto none;
	for (i = 0; i < e->nrcpts; i++)
		pending += e->rcpts[i].state == QRCPT_PENDING;
	if (pending == 0 || !qfs_valid_id(name))
		goto none;
	free(e->id);
	e->id = xstrdup(name);
	if (e->mail_from == NULL)
		e->mail_from = xstrdup("");
	if (e->domain == NULL || *e->domain == '\0') {
		for (i = 0; e->rcpts[i].state != QRCPT_PENDING; i++)
			;
		at = strrchr(e->rcpts[i].addr, '@');
		free(e->domain);
		e->domain = xstrdup(at != NULL ? at + 1 : "");
	}
	e->msg_offset = e->msg_len = 0;
	free(im->buf);
	return 0;
none:
	free(im->buf);
	qentry_clear(e);
	return -1;
}

int
qfs_salvage(const char *data, size_t len, const char *name, struct qentry *e)
{
	struct img im = { .p = data, .have = len, .len = len };

	return salvage(&im, name, e);
}

int
qfs_salvage_source(const struct qfs_source *src, const char *name,
    struct qentry *e)
{
	struct img im = { .p = "", .len = src->len, .src = src };

	return salvage(&im, name, e);
}
