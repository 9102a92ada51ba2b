/*
 * amqp_spool: the amqp_events plugin's durable, append-only spool of
 * events (segments, the confirmed position, record lines with a CRC);
 * the format is in amqp_spool.h.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "records/amqp_spool.h"

#define READ_CHUNK	65536

struct seg {
	uint64_t	seq;
	uint64_t	size;		/* durable bytes */
};

struct aspool {
	char		*dir;
	int		 dirfd;
	uint64_t	 seg_max;
	struct seg	*segs;		/* ascending */
	size_t		 nsegs, cap;
	uint64_t	 run_first;	/* first segment of this run */
	int		 wfd;		/* the segment appended to, or -1 */
	/* reading */
	int		 rfd;
	uint64_t	 rseq, roff, rfresh;
	struct buf	 rbuf;		/* file bytes from roff - rstart */
	size_t		 rstart;
	struct aspool_pos confirmed;
	uint64_t	 backlog, skipped;
};

static void
put_field(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++)
		buf_addc(out, (unsigned char)*s < 0x20 || *s == 0x7f ? '_' : *s);
}

void
aspool_line(struct buf *out, const char *key, const char *id,
    const char *json, size_t json_len)
{
	size_t at = out->len;
	uint32_t crc;
	char hex[9];

	buf_adds(out, "00000000\t");
	put_field(out, key);
	buf_addc(out, '\t');
	put_field(out, id);
	buf_addc(out, '\t');
	buf_add(out, json, json_len);
	crc = crc32c(0, out->p + at + 9, out->len - at - 9);
	snprintf(hex, sizeof(hex), "%08" PRIx32, crc);
	memcpy(out->p + at, hex, 8);
	buf_addc(out, '\n');
}

static char *
seg_name(uint64_t seq)
{
	return xasprintf("%016" PRIx64 ".spool", seq);
}

static void
add_seg(struct aspool *s, uint64_t seq, uint64_t size)
{
	if (s->nsegs == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->segs = xrealloc(s->segs, s->cap * sizeof(*s->segs));
	}
	s->segs[s->nsegs].seq = seq;
	s->segs[s->nsegs].size = size;
	s->nsegs++;
}

static int
cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct seg *
find_seg(struct aspool *s, uint64_t seq)
{
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].seq == seq)
			return &s->segs[i];
	return NULL;
}

static void
unlink_seg(struct aspool *s, uint64_t seq)
{
	char *n = seg_name(seq);

	(void)unlinkat(s->dirfd, n, 0);
	free(n);
}

static int
scan(struct aspool *s, char **err)
{
	DIR *d = fdopendir(dup(s->dirfd));
	struct dirent *e;

	if (d == NULL) {
		*err = xasprintf("%s: %s", s->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		uint64_t seq = strtoull(e->d_name, &end, 16);
		struct stat st;

		if (strlen(e->d_name) != 22 || strcmp(end, ".spool") != 0)
			continue;
		if (fstatat(s->dirfd, e->d_name, &st, 0) != 0)
			continue;
		add_seg(s, seq, (uint64_t)st.st_size);
	}
	closedir(d);
	if (s->nsegs > 1)
		qsort(s->segs, s->nsegs, sizeof(*s->segs), cmp_seg);
	return 0;
}

/* The confirmed position an earlier run left; the segments before it go. */
static void
load_position(struct aspool *s)
{
	char buf[64];
	int fd = openat(s->dirfd, "position", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	unsigned long long seg, off;
	size_t keep = 0;

	if (fd >= 0)
		close(fd);
	s->confirmed.seg = s->nsegs > 0 ? s->segs[0].seq : s->run_first;
	s->confirmed.off = 0;
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%llx %llu", &seg, &off) == 2) {
			s->confirmed.seg = seg;
			s->confirmed.off = off;
		}
	}
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].seq < s->confirmed.seg)
			unlink_seg(s, s->segs[i].seq);
		else
			s->segs[keep++] = s->segs[i];
	}
	s->nsegs = keep;
	if (find_seg(s, s->confirmed.seg) == NULL) {
		s->confirmed.seg = s->nsegs > 0 ? s->segs[0].seq : s->run_first;
		s->confirmed.off = 0;
	}
	for (size_t i = 0; i < s->nsegs; i++)
		s->backlog += s->segs[i].size;
	if (s->backlog >= s->confirmed.off)
		s->backlog -= s->confirmed.off;
}

struct aspool *
aspool_open(const char *dir, uint64_t seg_max, char **err)
{
	struct aspool *s = xcalloc(1, sizeof(*s));

	s->dir = xstrdup(dir);
	s->seg_max = seg_max;
	s->wfd = s->rfd = -1;
	if (mkdirs(dir, 0750) != 0 ||
	    (s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(s->dir);
		free(s);
		return NULL;
	}
	/* One process per spool (held until the descriptor closes). */
	if (flock(s->dirfd, LOCK_EX | LOCK_NB) != 0) {
		*err = xasprintf("%s: %s", dir, errno == EWOULDBLOCK ?
		    "in use by another process (give each its own spool_dir)" :
		    strerror(errno));
		close(s->dirfd);
		free(s->dir);
		free(s);
		return NULL;
	}
	if (scan(s, err) != 0) {
		aspool_close(s);
		return NULL;
	}
	s->run_first = s->nsegs > 0 ? s->segs[s->nsegs - 1].seq + 1 : 1;
	load_position(s);
	s->rseq = s->confirmed.seg;
	s->roff = s->confirmed.off;
	return s;
}

uint64_t
aspool_backlog(const struct aspool *s)
{
	return s->backlog;
}

uint64_t
aspool_skipped(const struct aspool *s)
{
	return s->skipped;
}

static int
new_segment(struct aspool *s)
{
	uint64_t seq = s->nsegs > 0 ? s->segs[s->nsegs - 1].seq + 1 :
	    s->run_first;
	char *n;

	if (seq < s->run_first)
		seq = s->run_first;
	n = seg_name(seq);
	s->wfd = openat(s->dirfd, n, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0640);
	free(n);
	if (s->wfd < 0)
		return -1;
	if (fsync(s->dirfd) != 0) {
		close(s->wfd);
		s->wfd = -1;
		unlink_seg(s, seq);
		return -1;
	}
	add_seg(s, seq, 0);
	return 0;
}

int
aspool_append(struct aspool *s, const char *lines, size_t len)
{
	struct seg *w;
	int e;

	if (s->wfd >= 0 && s->segs[s->nsegs - 1].size >= s->seg_max) {
		close(s->wfd);
		s->wfd = -1;
	}
	if (s->wfd < 0 && new_segment(s) != 0)
		return -1;
	w = &s->segs[s->nsegs - 1];
	if (write_full(s->wfd, lines, len) == 0 && fdatasync(s->wfd) == 0) {
		w->size += len;
		return 0;
	}
	e = errno;
	/* Nothing of a failed append may be read later: cut it off. */
	if (ftruncate(s->wfd, (off_t)w->size) != 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	errno = e;
	return -1;
}

static int
is_write_seg(const struct aspool *s, uint64_t seq)
{
	return s->wfd >= 0 && s->nsegs > 0 && s->segs[s->nsegs - 1].seq == seq;
}

/* Parses the line at p (len bytes, without its LF): 0, or -1 when it is
 * not a sound record. */
static int
parse_line(const char *p, size_t len, struct aspool_rec *r)
{
	const char *t1, *t2, *end = p + len;
	unsigned long crc;
	char hex[9], *x;

	if (len < 12 || p[8] != '\t')
		return -1;
	memcpy(hex, p, 8);
	hex[8] = '\0';
	crc = strtoul(hex, &x, 16);
	if (*x != '\0' || crc != crc32c(0, p + 9, len - 9))
		return -1;
	if ((t1 = memchr(p + 9, '\t', (size_t)(end - p - 9))) == NULL ||
	    (t2 = memchr(t1 + 1, '\t', (size_t)(end - t1 - 1))) == NULL)
		return -1;
	r->key = slice_of(p + 9, (size_t)(t1 - p - 9));
	r->id = slice_of(t1 + 1, (size_t)(t2 - t1 - 1));
	r->json = slice_of(t2 + 1, (size_t)(end - t2 - 1));
	return 0;
}

static void
close_reader(struct aspool *s)
{
	if (s->rfd >= 0)
		close(s->rfd);
	s->rfd = -1;
	buf_reset(&s->rbuf);
	s->rstart = 0;
}

/* Opens the segment to read from (rseq or the first after it). 0, 1 when
 * there is none, -1 on error. */
static int
open_reader(struct aspool *s, char **err)
{
	char *n;

	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].seq < s->rseq)
			continue;
		if (s->segs[i].seq > s->rseq) {
			s->rseq = s->segs[i].seq;
			s->roff = 0;
		}
		n = seg_name(s->rseq);
		s->rfd = openat(s->dirfd, n, O_RDONLY | O_CLOEXEC);
		if (s->rfd < 0) {
			*err = xasprintf("%s/%s: %s", s->dir, n, strerror(errno));
			free(n);
			return -1;
		}
		free(n);
		return 0;
	}
	return 1;
}

int
aspool_next(struct aspool *s, struct aspool_rec *r, char **err)
{
	for (;;) {
		const struct seg *g;
		char *p, *lf;
		size_t avail;
		uint64_t have;
		ssize_t n;

		if (s->rfd < 0) {
			int rc = open_reader(s, err);

			if (rc != 0)
				return rc < 0 ? -1 : 0;
		}
		g = find_seg(s, s->rseq);
		if (g == NULL) {	/* removed under us: cannot be */
			close_reader(s);
			return 0;
		}
		p = s->rbuf.p + s->rstart;
		avail = s->rbuf.len - s->rstart;
		if (avail > 0 && (lf = memchr(p, '\n', avail)) != NULL) {
			size_t len = (size_t)(lf - p);

			s->rstart += len + 1;
			s->roff += len + 1;
			if (parse_line(p, len, r) != 0) {
				s->skipped++;
				continue;
			}
			r->is_fresh = s->rseq >= s->run_first;
			if (r->is_fresh)
				s->rfresh++;
			r->end.seg = s->rseq;
			r->end.off = s->roff;
			r->end.fresh = s->rfresh;
			return 1;
		}
		have = s->roff + avail;
		if (have < g->size) {
			if (s->rstart > 0) {
				memmove(s->rbuf.p, p, avail);
				s->rbuf.len = avail;
				s->rstart = 0;
			}
			buf_reserve(&s->rbuf, READ_CHUNK);
			n = pread(s->rfd, s->rbuf.p + s->rbuf.len,
			    (size_t)(g->size - have < READ_CHUNK ?
			    g->size - have : READ_CHUNK), (off_t)have);
			if (n <= 0) {
				*err = xasprintf("%s: segment %016" PRIx64
				    ": %s", s->dir, s->rseq, n == 0 ?
				    "shorter than expected" : strerror(errno));
				close_reader(s);
				return -1;
			}
			s->rbuf.len += (size_t)n;
			continue;
		}
		if (is_write_seg(s, s->rseq) || g == &s->segs[s->nsegs - 1])
			return 0;	/* more may be appended */
		if (avail > 0) {	/* a torn last line */
			s->skipped++;
			s->roff += avail;
		}
		close_reader(s);
		s->rseq++;
		s->roff = 0;
	}
}

void
aspool_rewind(struct aspool *s)
{
	close_reader(s);
	s->rseq = s->confirmed.seg;
	s->roff = s->confirmed.off;
	s->rfresh = s->confirmed.fresh;
}

void
aspool_confirm(struct aspool *s, const struct aspool_pos *pos)
{
	size_t keep = 0;
	char buf[64];
	int fd, n;

	s->confirmed = *pos;
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].seq < pos->seg && !is_write_seg(s, s->segs[i].seq))
			unlink_seg(s, s->segs[i].seq);
		else
			s->segs[keep++] = s->segs[i];
	}
	s->nsegs = keep;
	n = snprintf(buf, sizeof(buf), "%016" PRIx64 " %" PRIu64 "\n",
	    pos->seg, pos->off);
	fd = openat(s->dirfd, "position.tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	if (write_full(fd, buf, (size_t)n) != 0) {
		close(fd);
		return;
	}
	close(fd);
	(void)renameat(s->dirfd, "position.tmp", s->dirfd, "position");
}

int
aspool_drained(const struct aspool *s)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].seq < s->confirmed.seg)
			continue;
		if (s->segs[i].seq == s->confirmed.seg ?
		    s->confirmed.off < s->segs[i].size : s->segs[i].size > 0)
			return 0;
	}
	return 1;
}

void
aspool_close(struct aspool *s)
{
	if (s == NULL)
		return;
	close_reader(s);
	if (s->wfd >= 0)
		close(s->wfd);
	s->wfd = -1;
	if (s->dirfd >= 0 && aspool_drained(s)) {
		for (size_t i = 0; i < s->nsegs; i++)
			unlink_seg(s, s->segs[i].seq);
		(void)unlinkat(s->dirfd, "position", 0);
	}
	if (s->dirfd >= 0)
		close(s->dirfd);
	buf_free(&s->rbuf);
	free(s->segs);
	free(s->dir);
	free(s);
}

#define ADOPT_CHUNK	(1024 * 1024)

int
aspool_adopt(struct aspool *s, const char *dir, uint64_t *n, char **err)
{
	struct aspool *from = aspool_open(dir, s->seg_max, err);
	struct aspool_rec rec;
	struct aspool_pos last;
	struct buf lines = BUF_INIT;
	int r, rc = -1;

	*n = 0;
	if (from == NULL)
		return -1;
	while ((r = aspool_next(from, &rec, err)) == 1) {
		char *key = xstrndup(rec.key.p, rec.key.len);
		char *id = xstrndup(rec.id.p, rec.id.len);

		aspool_line(&lines, key, id, rec.json.p, rec.json.len);
		free(key);
		free(id);
		last = rec.end;
		(*n)++;
		if (lines.len >= ADOPT_CHUNK) {
			if (aspool_append(s, lines.p, lines.len) != 0)
				goto append_failed;
			lines.len = 0;
		}
	}
	if (r < 0)
		goto out;
	if (lines.len > 0 && aspool_append(s, lines.p, lines.len) != 0)
		goto append_failed;
	if (*n > 0)
		aspool_confirm(from, &last);
	rc = 0;
	goto out;
append_failed:
	*err = xasprintf("%s: %s", s->dir, strerror(errno));
out:
	aspool_close(from);	/* drained: its segments go */
	if (rc == 0)
		(void)rmdir(dir);	/* a worker's; not one that holds them */
	buf_free(&lines);
	return rc;
}
