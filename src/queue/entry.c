/*
 * queue_fs: the queue entry file format (docs/queue-format.md), the
 * start-up scan of the queue directory, and --qlist/--qstat. Decoding
 * trusts nothing: images are bounds-checked, checksummed and parsed
 * strictly. Entries handed out are the receiver's; no state is kept here.
 */
#include "queue/entry.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "core/log.h"

#define MAGIC		"OUTPOST-QUEUE "
#define END_LEN		13		/* "END " 8 hex digits LF */

/* The header keys and what a bad one is called. */
enum ftype { T_STR, T_OPTSTR, T_FLAGS, T_TIME, T_UINT, T_RCPT, T_NOTE,
    T_MSG };

static const struct field {
	const char	*key;
	enum ftype	 type;
	size_t		 off;		/* in struct qentry */
	const char	*missing;	/* NULL when optional */
	const char	*dup;		/* NULL when it repeats */
	const char	*bad;
} fields[] = {
#define F(k, t) { #k, t, offsetof(struct qentry, k), "missing field '" #k \
	"'", "duplicate key '" #k "'", "bad value for '" #k "'" }
	F(id, T_STR), F(domain, T_STR), F(mail_from, T_STR),
	F(flags, T_FLAGS), F(queue_time, T_TIME), F(next_attempt, T_TIME),
	F(attempts, T_UINT), F(helo, T_STR), F(client_ip, T_STR),
	{ "last_error", T_OPTSTR, offsetof(struct qentry, last_error), NULL,
	  "duplicate key 'last_error'", "bad value for 'last_error'" },
	{ "rcpt", T_RCPT, 0, "no recipients", NULL, "bad value for 'rcpt'" },
	{ "note", T_NOTE, 0, NULL, NULL, "bad value for 'note'" },
	{ "message", T_MSG, 0, NULL, NULL, "bad value for 'message'" },
#undef F
};
#define NFIELDS		(sizeof(fields) / sizeof(fields[0]))
#define FIELD(e, f, t)	((t *)(void *)((char *)(e) + (f)->off))

static const char *const states[] = { "pending", "delivered", "bounced" };

static uint32_t crc_table[256];

/* Built before main(): the writer thread and the loop both use it. */
__attribute__((constructor)) static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
		crc_table[i] = c;
	}
}

#if defined(__x86_64__)
/* SSE 4.2 computes CRC-32C (the Castagnoli polynomial) in hardware. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

uint32_t
qfs_crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(crc, p, len);
#endif
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int
qfs_valid_id(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n < QFS_ID_MAX && name[n] == '\0' && name[0] != '.' &&
	    strncmp(name, QFS_TMP_PREFIX, strlen(QFS_TMP_PREFIX)) != 0 &&
	    strncmp(name, QFS_ERROR_PREFIX, strlen(QFS_ERROR_PREFIX)) != 0;
}

void
qentry_clear(struct qentry *e)
{
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].reason);
	}
	free(e->rcpts);
	free(e->id);
	free(e->domain);
	free(e->mail_from);
	free(e->helo);
	free(e->client_ip);
	free(e->last_error);
	for (size_t i = 0; i < 2 * e->nnotes; i++)
		free(e->notes[i]);
	free(e->notes);
	memset(e, 0, sizeof(*e));
}

void
qentry_copy(struct qentry *dst, const struct qentry *src)
{
	*dst = *src;
	dst->id = xstrdup(src->id);
	dst->domain = xstrdup(src->domain);
	dst->mail_from = xstrdup(src->mail_from);
	dst->helo = xstrdup_null(src->helo);
	dst->client_ip = xstrdup_null(src->client_ip);
	dst->last_error = xstrdup_null(src->last_error);
	dst->rcpts = xcalloc(src->nrcpts ? src->nrcpts : 1,
	    sizeof(*dst->rcpts));
	for (size_t i = 0; i < src->nrcpts; i++) {
		dst->rcpts[i].addr = xstrdup(src->rcpts[i].addr);
		dst->rcpts[i].state = src->rcpts[i].state;
		dst->rcpts[i].reason = xstrdup_null(src->rcpts[i].reason);
	}
	dst->notes = NULL;
	dst->nnotes = 0;
	qentry_set_notes(dst, (const char *const *)src->notes);
}

void
qentry_set_notes(struct qentry *e, const char *const *kv)
{
	size_t n = 0;

	for (size_t i = 0; i < 2 * e->nnotes; i++)
		free(e->notes[i]);
	free(e->notes);
	e->notes = NULL;
	e->nnotes = 0;
	while (kv != NULL && kv[2 * n] != NULL && kv[2 * n + 1] != NULL)
		n++;
	if (n == 0)
		return;
	e->notes = xcalloc(2 * n + 1, sizeof(*e->notes));
	for (size_t i = 0; i < 2 * n; i++)
		e->notes[i] = xstrdup(kv[i]);
	e->nnotes = n;
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
qfs_encode(const struct qentry *e, const char *msg, size_t len,
    struct buf *out)
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

		buf_printf(out, "\nrcpt %s", states[r->state <= QRCPT_BOUNCED ?
		    r->state : QRCPT_PENDING]);
		put_str(out, " ", r->addr);
		if (r->reason != NULL)
			put_str(out, " ", r->reason);
	}
	for (size_t i = 0; i < e->nnotes; i++) {
		put_str(out, "\nnote ", e->notes[2 * i]);
		put_str(out, " ", e->notes[2 * i + 1]);
	}
	buf_printf(out, "\nmessage %zu\n", len);
	buf_add(out, msg, len);
	buf_addc(out, '\n');
	buf_printf(out, "END %08" PRIX32 "\n",
	    qfs_crc32c(0, out->p + start, out->len - start));
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

/*
 * The framing: version line, header lines up to "message <n>", n bytes,
 * LF, end marker, end of file. *hdr is set past the version line, *body
 * to the message, whose length is *blen.
 */
static const char *
frame(const char *data, size_t len, size_t *hdr, size_t *body, size_t *blen)
{
	static const char *const other[] = { "unsupported version 0", NULL,
	    "unsupported version 2", "unsupported version 3",
	    "unsupported version 4", "unsupported version 5",
	    "unsupported version 6", "unsupported version 7",
	    "unsupported version 8", "unsupported version 9" };
	const size_t ml = sizeof(MAGIC) - 1;
	struct slice l, key, val = { NULL, 0 };
	size_t pos = 0, end;
	uint64_t n;
	uint32_t crc;

	if (len == 0)
		return "truncated";
	if (memcmp(data, MAGIC, len < ml ? len : ml) != 0)
		return "not an Outpost queue file";
	if (next_line(data, len, &pos, &l) == -1)
		return "truncated";
	if (get_num(slice_of(l.p + ml, l.len - ml), UINT32_MAX, &n) == -1)
		return "bad version line";
	if (n != QFS_VERSION)
		return n < 10 ? other[n] : "unsupported version";
	*hdr = pos;
	/* When the file ends like an image, verify the sum first: damage
	 * anywhere is then reported as such, not as some odd field. */
	if (len - pos >= END_LEN + 1 && data[len - END_LEN - 1] == '\n' &&
	    end_marker(data + len - END_LEN, &crc) == 0 &&
	    qfs_crc32c(0, data, len - END_LEN) != crc)
		return "checksum mismatch";
	do {
		if (next_line(data, len, &pos, &l) == -1)
			return "truncated";
		if (split(l, &key, &val) == -1)
			return "malformed header line";
	} while (!slice_eq(key, "message"));
	if (get_num(val, SIZE_MAX, &n) == -1)
		return "bad value for 'message'";
	if (n > len - pos || len - pos - n < END_LEN + 1)
		return "truncated";
	end = pos + (size_t)n;
	if (data[end] != '\n' || end_marker(data + end + 1, &crc) == -1)
		return "bad end marker";
	if (len - end > END_LEN + 1)
		return "trailing garbage after end marker";
	/* The end marker is the file's tail: its sum was checked above. */
	*body = pos;
	*blen = (size_t)n;
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
		if (f->off == offsetof(struct qentry, id))
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
	case T_MSG:
		break;
	}
	return -1;
}

/* The header lines between the version line and the message line. */
static const char *
parse_header(const char *data, size_t pos, size_t end, struct qentry *e)
{
	struct slice l, key, val;
	unsigned seen = 0;
	size_t cap = 0, i;

	while (next_line(data, end, &pos, &l) == 0) {
		if (split(l, &key, &val) == -1)	/* frame() checked */
			return "malformed header line";
		for (i = 0; i < NFIELDS && !slice_eq(key, fields[i].key); i++)
			;
		if (i == NFIELDS)
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
		if (fields[i].missing != NULL && !(seen & 1u << i))
			return fields[i].missing;
	return NULL;
}

int
qfs_decode(const char *data, size_t len, struct qentry *e, const char **why)
{
	size_t hdr = 0, body = 0, blen = 0;

	memset(e, 0, sizeof(*e));
	if ((*why = frame(data, len, &hdr, &body, &blen)) != NULL)
		return -1;
	if ((*why = parse_header(data, hdr, body, e)) != NULL) {
		qentry_clear(e);
		return -1;
	}
	e->msg_offset = body;
	e->msg_len = blen;
	return 0;
}

/* qfs_read, with *err set to the errno of a failed system call, or 0. */
static int
load(const char *path, struct qentry *e, char **msg, size_t *msglen,
    const char **why, int *err)
{
	struct stat st;
	char *p = NULL;
	size_t n = 0;
	ssize_t r = 1;
	int fd;

	memset(e, 0, sizeof(*e));
	*err = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1)
		goto syserr;
	*why = !S_ISREG(st.st_mode) ? "not a regular file" :
	    (uintmax_t)st.st_size > QFS_FILE_MAX ? "file too large" : NULL;
	if (*why != NULL)
		goto fail;
	p = xmalloc((size_t)st.st_size + 1);
	while (n < (size_t)st.st_size && r != 0)
		if ((r = read(fd, p + n, (size_t)st.st_size - n)) > 0)
			n += (size_t)r;
		else if (r == -1 && errno != EINTR)
			goto syserr;
	if (qfs_decode(p, n, e, why) == -1)
		goto fail;
	close(fd);
	if (msg == NULL) {
		free(p);
		return 0;
	}
	memmove(p, p + e->msg_offset, e->msg_len);
	p[e->msg_len] = '\0';
	*msg = p;
	if (msglen != NULL)
		*msglen = e->msg_len;
	return 0;
syserr:
	*err = errno;
	*why = strerror(errno);
fail:
	free(p);
	if (fd != -1)
		close(fd);
	return -1;
}

int
qfs_read(const char *path, struct qentry *e, char **msg, size_t *msglen,
    const char **why)
{
	int err;

	return load(path, e, msg, msglen, why, &err);
}

/* dir/name as the entry called name (without the message). */
static int
read_entry(const char *dir, const char *name, struct qentry *e,
    const char **why, int *err)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = load(path, e, NULL, NULL, why, err);

	free(path);
	if (rc == 0 && strcmp(e->id, name) != 0) {
		qentry_clear(e);
		*why = "id does not match the file name";
		rc = -1;
	}
	return rc;
}

enum kind { K_ENTRY, K_CORRUPT, K_ASIDE, K_TMP, K_OTHER };

static enum kind
classify(const char *name)
{
	if (strncmp(name, QFS_TMP_PREFIX, strlen(QFS_TMP_PREFIX)) == 0)
		return K_TMP;
	if (strncmp(name, QFS_ERROR_PREFIX, strlen(QFS_ERROR_PREFIX)) == 0)
		return K_ASIDE;
	return qfs_valid_id(name) ? K_ENTRY : K_OTHER;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir, without . and ..; -1 with errno. */
static int
list_names(const char *dir, char ***out, size_t *n)
{
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
	DIR *d;
	int err;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap)
			v = xreallocarray(v, cap = cap ? cap * 2 : 16, sizeof(*v));
		v[(*n)++] = xstrdup(de->d_name);
	}
	err = errno;
	closedir(d);
	if (err != 0) {
		while (*n > 0)
			free(v[--*n]);
		free(v);
		errno = err;
		return -1;
	}
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_str);
	*out = v;
	return 0;
}

/* Renames a corrupt entry to error.<name>, logging why. */
static int
set_aside(const char *dir, const char *name, const char *reason)
{
	char *from = xasprintf("%s/%s", dir, name), *why = xstrdup(reason);
	char *to = xasprintf("%s/" QFS_ERROR_PREFIX "%s", dir, name);
	int rc = rename(from, to);

	if (rc == 0)
		log_error("core", NULL, "queue: %s: %s; moved aside to "
		    QFS_ERROR_PREFIX "%s", name, why, name);
	else
		log_error("core", NULL, "queue: %s: %s; cannot move it aside "
		    "to " QFS_ERROR_PREFIX "%s: %s", name, why, name,
		    strerror(errno));
	free(from);
	free(to);
	free(why);
	return rc;
}

long
qfs_scan(const char *dir, qfs_entry_fn fn, void *arg, char **err)
{
	long loaded = 0, aside = 0;
	char **names = NULL, *path;
	struct qentry *e;
	const char *why;
	size_t n = 0;
	int errnum;

	*err = NULL;
	if (list_names(dir, &names, &n) == -1 && (errno != ENOENT ||
	    mkdirs(dir, 0700) == -1 || list_names(dir, &names, &n) == -1)) {
		*err = xasprintf("queue directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		switch (classify(names[i])) {
		case K_TMP:
			log_warn("core", NULL, "queue: removing left-over temp "
			    "file %s", names[i]);
			path = xasprintf("%s/%s", dir, names[i]);
			if (unlink(path) == -1 && errno != ENOENT)
				log_error("core", NULL, "queue: %s: %s",
				    names[i], strerror(errno));
			free(path);
			break;
		case K_OTHER:
			log_error("core", NULL, "queue: unrecognised file in "
			    "queue directory: %s", names[i]);
			break;
		case K_ENTRY:
			e = xmalloc(sizeof(*e));
			if (read_entry(dir, names[i], e, &why, &errnum) == 0) {
				fn(e, arg);
				loaded++;
				break;
			}
			free(e);
			if (errnum == ENOENT)		/* removed meanwhile */
				break;
			if (errnum != 0) {
				/* Unreadable is not corrupt: leave it. */
				log_error("core", NULL, "queue: %s: cannot read: "
				    "%s; left in place", names[i], why);
				break;
			}
			if (set_aside(dir, names[i], why) == 0)
				aside++;
			break;
		default:
			aside++;
			break;
		}
		free(names[i]);
	}
	free(names);
	if (aside > 0)
		log_warn("core", NULL, "queue: %ld corrupt entr%s set aside in "
		    "%s as " QFS_ERROR_PREFIX "*", aside, aside == 1 ? "y" :
		    "ies", dir);
	return loaded;
}

/* A file of the directory, as --qlist and --qstat see it. */
struct item {
	enum kind	 kind;
	char		*name;
	char		*why;		/* K_CORRUPT */
	struct qentry	 e;		/* K_ENTRY */
};

/* Entries by next attempt then id; then corrupt, then set-aside files. */
static int
cmp_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == K_ENTRY && a->e.next_attempt != b->e.next_attempt)
		return a->e.next_attempt < b->e.next_attempt ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* s on one line: controls as \xHH; when quoted also \" and \\. */
static void
show(FILE *out, const char *s, int quoted)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			fprintf(out, "\\x%02X", (unsigned char)*s);
		else if (quoted && (*s == '"' || *s == '\\'))
			fprintf(out, "\\%c", *s);
		else
			fputc(*s, out);
}

/* One line of --qlist. */
static void
show_item(FILE *out, const struct item *it)
{
	const struct qentry *e = &it->e;
	time_t t = (time_t)(e->next_attempt / 1000);
	char when[64];
	struct tm tm;

	if (it->kind != K_ENTRY) {
		show(out, it->name, 0);
		if (it->kind == K_CORRUPT)
			fprintf(out, " CORRUPT: %s\n", it->why);
		else
			fputs(" SET ASIDE\n", out);
		return;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "@%" PRId64, e->next_attempt);
	fprintf(out, "%s ", e->id);
	show(out, e->domain, 0);
	fprintf(out, " rcpts=%zu attempts=%u next=%s from=<", e->nrcpts,
	    e->attempts, when);
	show(out, e->mail_from, 0);
	fputs("> to=", out);
	for (size_t r = 0; r < e->nrcpts; r++) {
		fputs(r > 0 ? ",<" : "<", out);
		show(out, e->rcpts[r].addr, 0);
		fputc('>', out);
		if (e->rcpts[r].state != QRCPT_PENDING)
			fprintf(out, "(%s)", states[e->rcpts[r].state]);
	}
	if (e->last_error != NULL) {
		fputs(" last_error=\"", out);
		show(out, e->last_error, 1);
		fputc('"', out);
	}
	fputc('\n', out);
}

/* qfs_list (counts == 0) and qfs_stat: read everything, then report. */
static int
report(const char *dir, FILE *out, int counts)
{
	long c[K_OTHER + 1] = { 0 }, rc[3] = { 0 }, deferred = 0, due = 0;
	struct item *v;
	char **names = NULL, *path;
	uint64_t bytes = 0;
	struct timespec ts;
	struct stat st;
	size_t n, nv = 0;
	int64_t now;
	int err;

	if (list_names(dir, &names, &n) == -1) {
		fprintf(stderr, "outpost: queue directory %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		struct item *it = &v[nv];
		const char *why;

		path = xasprintf("%s/%s", dir, names[i]);
		err = lstat(path, &st) == -1 ? errno : 0;
		free(path);
		it->kind = classify(names[i]);
		if (err == 0 && it->kind == K_ENTRY &&
		    read_entry(dir, names[i], &it->e, &why, &err) == -1 &&
		    err != ENOENT) {
			it->kind = K_CORRUPT;
			it->why = xstrdup(why);
		}
		if (err != 0 && it->kind != K_CORRUPT) {
			free(names[i]);		/* gone since readdir */
			continue;
		}
		bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
		c[it->kind]++;
		if (it->kind == K_TMP || it->kind == K_OTHER) {
			free(names[i]);
			continue;
		}
		it->name = names[i];
		nv++;
		for (size_t r = 0; r < it->e.nrcpts; r++)
			rc[it->e.rcpts[r].state]++;
		deferred += it->kind == K_ENTRY && it->e.attempts > 0;
		due += it->kind == K_ENTRY && it->e.next_attempt <= now;
	}
	free(names);
	if (nv > 0)
		qsort(v, nv, sizeof(*v), cmp_item);
	for (size_t i = 0; i < nv && !counts; i++)
		show_item(out, &v[i]);
	if (counts)
		fprintf(out, "entries %ld\nrecipients %ld\n"
		    "recipients_pending %ld\nrecipients_delivered %ld\n"
		    "recipients_bounced %ld\ndeferred %ld\ndue %ld\n"
		    "corrupt %ld\nset_aside %ld\ntemp %ld\nother %ld\n"
		    "bytes %" PRIu64 "\n", c[K_ENTRY], rc[0] + rc[1] + rc[2],
		    rc[0], rc[1], rc[2], deferred, due, c[K_CORRUPT],
		    c[K_ASIDE], c[K_TMP], c[K_OTHER], bytes);
	else
		fprintf(out, "-- %ld entr%s, %ld recipient%s (%ld pending), "
		    "%ld corrupt, %ld set aside, %ld being written\n",
		    c[K_ENTRY], c[K_ENTRY] == 1 ? "y" : "ies",
		    rc[0] + rc[1] + rc[2], rc[0] + rc[1] + rc[2] == 1 ? "" :
		    "s", rc[0], c[K_CORRUPT], c[K_ASIDE], c[K_TMP]);
	for (size_t i = 0; i < nv; i++) {
		qentry_clear(&v[i].e);
		free(v[i].name);
		free(v[i].why);
	}
	free(v);
	return 0;
}

int
qfs_list(const char *dir, FILE *out)
{
	return report(dir, out, 0);
}

int
qfs_stat(const char *dir, FILE *out)
{
	return report(dir, out, 1);
}
