/*
 * writer (recwriter): the writer thread behind rw_append() (see writer.h).
 *
 * The loop appends to each stream's pending chunks under mu; the thread
 * splices them onto its own work list, writes them without the lock and
 * posts what the loop must see (done callbacks, a new path, log lines) to
 * one FIFO, announced through an eventfd. Options never change after
 * rw_stream_open(); the fd, the thread's path and the work list belong to
 * the thread, the published path to the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/failpoint.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "records/backlog.h"
#include "records/rotation.h"
#include "records/writer.h"

#define AFTER_ROTATE	0x1
#define AFTER_REOPEN	0x2

/* The strings of rw_opts, of which a stream keeps copies. */
#define OPT_STRINGS(o)	{ &(o)->source, &(o)->dir, &(o)->name, \
	&(o)->prefix, &(o)->ext, &(o)->header, &(o)->archive_dir }

struct rw_cb {
	rw_done_fn	 fn;
	void		*arg;
};

/* Records, then at most one action once written and synced, ending it. */
struct chunk {
	struct chunk	*next;
	struct buf	 data;
	struct buf	 cbs;		/* struct rw_cb[] */
	size_t		 off;		/* thread: bytes written */
	int		 after;
};

/* One thing for the loop, in the order the thread did it. */
struct post {
	struct post	*next;
	struct rw_stream *st;
	struct buf	 cbs;		/* done callbacks to run */
	uint64_t	 bytes;		/* records written (the backlog) */
	char		*path;		/* the stream's new current path */
	int		 level;
	char		*msg;		/* a log line */
};

struct rw_stream {
	struct rw_stream *next;		/* set before the stream is linked */
	struct recwriter *w;
	struct rw_opts	 o;		/* our copies; never change */
	char		*path;		/* loop */
	struct chunk	*pend, *pend_tail;	/* under mu */
	struct chunk	*work, *work_tail;	/* thread, from here on */
	int		 fd;
	char		*tpath;		/* NULL: create the next file */
	struct rot	 rot;		/* rotating: tpath's name */
	uint64_t	 size;
	int		 failing;	/* in an error streak */
	int		 sync_due;	/* head chunk written, not synced */
	struct timespec	 retry_at;	/* CLOCK_MONOTONIC */
};

struct recwriter {
	int		 efd;
	struct event	*ev;
	pthread_t	 thread;
	int		 started;
	int		 posted;	/* thread: posts since the last wake */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct rw_stream *streams;	/* under mu; new ones go first */
	struct post	*posts, **posts_tail;	/* under mu */
	int		 stop;		/* under mu */
	int		 kicked;	/* under mu: signalled, records not yet taken */
	uint64_t	 pending;	/* loop: appended, not yet written */
};

static int	ensure_open(struct rw_stream *);

/* --- the thread: posting to the loop ------------------------------------ */

static void
post_link(struct recwriter *w, struct post *p)
{
	pthread_mutex_lock(&w->mu);
	*w->posts_tail = p;
	w->posts_tail = &p->next;
	pthread_mutex_unlock(&w->mu);
	w->posted = 1;
}

/* Queues callbacks (taken from cbs), a new path (taken) or a log line. */
static void __attribute__((format(printf, 5, 6)))
post(struct rw_stream *st, struct buf *cbs, char *path, int level,
    const char *fmt, ...)
{
	struct post *p = xcalloc(1, sizeof(*p));
	va_list ap;

	p->st = st;
	if (cbs != NULL) {
		p->cbs = *cbs;
		*cbs = (struct buf)BUF_INIT;
	}
	p->path = path;
	p->level = level;
	if (fmt != NULL) {
		va_start(ap, fmt);
		p->msg = xvasprintf(fmt, ap);
		va_end(ap);
	}
	post_link(st->w, p);
}

/* A chunk is written: its callbacks (taken from cbs) and its bytes. */
static void
post_written(struct rw_stream *st, struct buf *cbs, uint64_t bytes)
{
	struct post *p = xcalloc(1, sizeof(*p));

	p->st = st;
	p->cbs = *cbs;
	*cbs = (struct buf)BUF_INIT;
	p->bytes = bytes;
	post_link(st->w, p);
}

/* What the stream writes to, for messages. */
static const char *
where(const struct rw_stream *st, char *b, size_t size)
{
	if (st->o.fd >= 0)
		snprintf(b, size, "descriptor %d", st->o.fd);
	else if (st->tpath != NULL)
		snprintf(b, size, "%s", st->tpath);
	else
		snprintf(b, size, "%s/%s.*%s%s", st->o.dir, st->o.prefix,
		    *st->o.ext ? "." : "", st->o.ext);
	return b;
}

/* Starts or continues an error streak: logged once, retried in a second
 * (so a full disk costs one attempt a second, not a spinning CPU). */
static void
fail(struct rw_stream *st, const char *what, int err)
{
	char at[PATH_MAX], eb[128];

	if (!st->failing)
		post(st, NULL, NULL, LOG_ERROR, "cannot %s %s: %s (records "
		    "wait; retrying every second)", what,
		    where(st, at, sizeof(at)), strerror_r(err, eb, sizeof(eb)));
	st->failing = 1;
	clock_gettime(CLOCK_MONOTONIC, &st->retry_at);
	st->retry_at.tv_sec += 1;
}

/* --- the thread (and rw_stream_open): files ---------------------------- */

/* Writes p[*off..len), advancing *off as bytes go out. With lines set
 * (pipes), each write(2) is whole lines of at most PIPE_BUF bytes where
 * the lines allow it, so they never interleave with other writers. */
static int
write_out(int fd, const char *p, size_t len, size_t *off, int lines)
{
	while (*off < len) {
		const char *s = p + *off, *nl;
		size_t n = len - *off;
		ssize_t r;

		if (lines && n > PIPE_BUF) {
			if ((nl = memrchr(s, '\n', PIPE_BUF)) == NULL)
				nl = memchr(s + PIPE_BUF, '\n', n - PIPE_BUF);
			if (nl != NULL)
				n = (size_t)(nl - s) + 1;
		}
		if ((r = write(fd, s, n)) >= 0) {
			*off += (size_t)r;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, -1);
		} else if (errno != EINTR)
			return errno;
	}
	return 0;
}

/* Takes fd, open on tpath, and writes the header into an empty file. On
 * failure a file we created is removed and forgotten, and a half-written
 * header cut off, so that a retry starts clean. */
static int
adopt(struct rw_stream *st, int fd, int created)
{
	struct stat sb;
	size_t off = 0;
	int err = 0;

	if (fstat(fd, &sb) == -1)
		err = errno;
	else if (sb.st_size == 0 && st->o.header != NULL)
		err = write_out(fd, st->o.header, strlen(st->o.header), &off,
		    0);
	/* A new file's name must be as durable as the records fdatasync
	 * will make durable in it. */
	if (err == 0 && sb.st_size == 0 && st->o.sync) {
		int dfd = open(st->o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd == -1 || fsync(dfd) == -1)
			err = errno;
		if (dfd != -1)
			close(dfd);
	}
	if (err == 0) {
		st->fd = fd;
		st->size = (uint64_t)sb.st_size + off;
		return 0;
	}
	if (created) {
		unlink(st->tpath);
		free(st->tpath);
		st->tpath = NULL;
	} else if (off > 0 && ftruncate(fd, 0) == -1)
		off = 0;	/* then the retry appends after it */
	close(fd);
	return err;
}

/* A rotating stream's next file (rotation.c chooses a free name). */
static int
create_next(struct rw_stream *st)
{
	int fd;

	free(st->tpath);
	st->tpath = NULL;
	if ((fd = rot_create(&st->rot, &st->tpath)) == -1)
		return errno;
	return adopt(st, fd, 1);
}

/* Opens the file records go to next: the current path again, or a new
 * rotating file, whose path the loop is told. */
static int
ensure_open(struct rw_stream *st)
{
	int fd, err;

	if (st->fd != -1)
		return 0;
	if (st->tpath == NULL) {
		if ((err = create_next(st)) == 0)
			post(st, NULL, xstrdup(st->tpath), 0, NULL);
		return err;
	}
	fd = open(st->tpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd == -1 ? errno : adopt(st, fd, 0);
}

/* Moves the closed current file into the archive; a taken name gets the
 * next free .<n> of its stamp. A file that cannot move stays where it is,
 * records and all, and rotation goes on. */
static void
archive(struct rw_stream *st)
{
	const char *base = strrchr(st->tpath, '/') + 1;
	char *as = NULL, eb[128];
	int err = rot_archive(&st->rot, st->tpath, &as);

	if (err)
		post(st, NULL, NULL, LOG_ERROR, "cannot archive %s into %s: %s",
		    st->tpath, st->o.archive_dir,
		    strerror_r(err, eb, sizeof(eb)));
	else if (strcmp(as, base) != 0)
		post(st, NULL, NULL, LOG_INFO, "File '%s' archived as '%s'",
		    base, as);
	else
		post(st, NULL, NULL, LOG_INFO, "File '%s' archived", base);
	free(as);
}

static int
rotates(const struct rw_stream *st)
{
	return st->o.fd < 0 && st->o.name == NULL && st->o.archive_dir != NULL;
}

/* Rotation or reopening, between chunks. A file that does not open is
 * tried again before the next chunk. */
static void
act(struct rw_stream *st, int after)
{
	int err;

	if (!rotates(st))
		after &= ~AFTER_ROTATE;
	if (st->o.fd >= 0 || st->fd == -1 || after == 0)
		return;
	close(st->fd);
	st->fd = -1;
	if (after & AFTER_ROTATE) {
		archive(st);
		FAILPOINT("records-mid-rotation");
		free(st->tpath);
		st->tpath = NULL;
	}
	if ((err = ensure_open(st)) != 0)
		fail(st, st->tpath != NULL ? "open" : "create", err);
}

/* --- the thread: batches ------------------------------------------------ */

/* Frees a list of chunks; returns the bytes they had not written. */
static unsigned long long
chunks_free(struct chunk *c)
{
	struct chunk *next;
	unsigned long long n = 0;

	for (; c != NULL; c = next) {
		next = c->next;
		n += c->data.len - c->off;
		buf_free(&c->data);
		buf_free(&c->cbs);
		free(c);
	}
	return n;
}

/* The head chunk is written: sync it where asked, report it done, then
 * rotate or reopen. -1 when the sync failed. */
static int
finish(struct rw_stream *st)
{
	struct chunk *c = st->work;
	int after = c->after;
	char at[PATH_MAX];
	double t0 = metrics_now();

	if (st->o.sync && st->o.fd < 0 && c->data.len > 0) {
		if (fdatasync(st->fd) == -1) {
			c->off = 0;	/* the pages may be dropped */
			fail(st, "fdatasync", errno);
			return -1;
		}
		metric_observe(m_fsync_seconds, NULL, metrics_now() - t0);
	}
	if ((st->work = c->next) == NULL)
		st->work_tail = NULL;
	if (c->cbs.len > 0 || c->data.len > 0)
		post_written(st, &c->cbs, c->data.len);
	c->next = NULL;
	chunks_free(c);
	if (st->failing) {
		st->failing = 0;
		post(st, NULL, NULL, LOG_INFO, "writing to %s resumed",
		    where(st, at, sizeof(at)));
	}
	if (st->o.max_size > 0 && st->size >= st->o.max_size)
		after |= AFTER_ROTATE;
	act(st, after);
	return 0;
}

/* Writes the stream's work; the last chunk's sync waits for the end of
 * the round, so that it follows every stream's writes. -1 on failure. */
static int
run_stream(struct rw_stream *st)
{
	struct chunk *c;
	size_t before;
	int err;

	while ((c = st->work) != NULL) {
		if ((err = ensure_open(st)) != 0) {
			fail(st, st->tpath != NULL ? "open" : "create", err);
			return -1;
		}
		before = c->off;
		err = write_out(st->fd, c->data.p, c->data.len, &c->off,
		    st->o.fd >= 0);
		st->size += c->off - before;
		if (err) {
			fail(st, "write to", err);
			return -1;
		}
		if (c->next == NULL && c->after == 0 && st->o.sync &&
		    st->o.fd < 0) {
			st->sync_due = 1;
			return 0;
		}
		if (finish(st) == -1)
			return -1;
	}
	return 0;
}

/* At shutdown, a stream that still fails gives up what it holds. */
static void
drop(struct rw_stream *st)
{
	unsigned long long n = chunks_free(st->work);
	char at[PATH_MAX];

	st->work = st->work_tail = NULL;
	post(st, NULL, NULL, LOG_ERROR, "stopping: %llu bytes of records "
	    "for %s were not written", n, where(st, at, sizeof(at)));
}

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void
write_round(struct recwriter *w, struct rw_stream *head,
    const struct timespec *now, int stopping)
{
	struct rw_stream *st;
	uint64_t one = 1;

	for (st = head; st != NULL; st = st->next)
		if (st->work != NULL && !ts_before(now, &st->retry_at) &&
		    run_stream(st) == -1 && stopping)
			drop(st);
	for (st = head; st != NULL; st = st->next)
		if (st->sync_due) {
			st->sync_due = 0;
			if (finish(st) == -1 && stopping)
				drop(st);
		}
	if (w->posted) {
		w->posted = 0;
		while (write(w->efd, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			;
	}
}

/* Rounds until stopped with nothing left: a stream in an error streak
 * waits for its retry time, and at shutdown gets one last try. */
static void *
writer_main(void *arg)
{
	struct recwriter *w = arg;
	struct rw_stream *st;
	struct timespec now, wake = { 0, 0 };
	int ready, waiting, stopping;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ready = waiting = 0;
		w->kicked = 0;
		for (st = w->streams; st != NULL; st = st->next) {
			if (st->pend != NULL) {
				if (st->work == NULL)
					st->work = st->pend;
				else
					st->work_tail->next = st->pend;
				st->work_tail = st->pend_tail;
				st->pend = st->pend_tail = NULL;
			}
			if (st->work == NULL)
				continue;
			if (!ts_before(&now, &st->retry_at))
				ready = 1;
			else if (waiting++ == 0 ||
			    ts_before(&st->retry_at, &wake))
				wake = st->retry_at;
		}
		stopping = w->stop;
		if (ready) {
			st = w->streams;
			pthread_mutex_unlock(&w->mu);
			write_round(w, st, &now, stopping);
			pthread_mutex_lock(&w->mu);
		} else if (waiting)
			pthread_cond_timedwait(&w->cv, &w->mu, &wake);
		else if (stopping)
			break;
		else
			pthread_cond_wait(&w->cv, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* --- the loop ------------------------------------------------------------ */

static void
deliver(struct recwriter *w, int run)
{
	struct post *p, *next;
	struct rw_cb *cb;

	pthread_mutex_lock(&w->mu);
	p = w->posts;
	w->posts = NULL;
	w->posts_tail = &w->posts;
	pthread_mutex_unlock(&w->mu);
	for (; p != NULL; p = next) {
		next = p->next;
		if (p->bytes > 0) {
			w->pending -= p->bytes;
			rbacklog_done(p->bytes);
		}
		if (p->path != NULL) {
			free(p->st->path);
			p->st->path = p->path;
		}
		if (p->msg != NULL)
			log_at(p->level, p->st->o.source, NULL, "%s", p->msg);
		cb = (struct rw_cb *)(void *)p->cbs.p;
		for (size_t i = 0; run && i < p->cbs.len / sizeof(*cb); i++)
			cb[i].fn(cb[i].arg);
		buf_free(&p->cbs);
		free(p->msg);
		free(p);
	}
}

static void
on_posted(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	deliver(arg, 1);
}

struct recwriter *
recwriter_new(struct event_base *base, char **err)
{
	struct recwriter *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t ca;

	w->posts_tail = &w->posts;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);	/* retries keep off the wall clock */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*err = xasprintf("eventfd: %s", strerror(errno));
		goto fail;
	}
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_posted, w);
	event_add(w->ev, NULL);
	if ((errno = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		*err = xasprintf("cannot start the record writer: %s",
		    strerror(errno));
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	recwriter_free(w);
	return NULL;
}

static void
stream_free(struct rw_stream *st)
{
	const char **s[] = OPT_STRINGS(&st->o);

	chunks_free(st->pend);
	chunks_free(st->work);
	if (st->o.fd < 0 && st->fd != -1)
		close(st->fd);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		free((char *)*s[i]);
	free(st->path);
	free(st->tpath);
	free(st);
}

void
recwriter_free(struct recwriter *w)
{
	struct rw_stream *st;

	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	for (st = w->streams; st != NULL; st = st->next)
		if (st->o.archive_at_close && rotates(st) && st->fd != -1) {
			close(st->fd);
			st->fd = -1;
			archive(st);
		}
	deliver(w, 0);		/* the log lines; callbacks are dropped */
	rbacklog_done(w->pending);	/* what was never written */
	while ((st = w->streams) != NULL) {
		w->streams = st->next;
		stream_free(st);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->efd != -1)
		close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

struct rw_stream *
rw_stream_open(struct recwriter *w, const struct rw_opts *o, char **err)
{
	struct rw_stream *st = xcalloc(1, sizeof(*st));
	const char **s[] = OPT_STRINGS(&st->o);
	char at[PATH_MAX];
	int e;

	st->w = w;
	st->o = *o;
	st->o.source = o->source != NULL ? o->source : "recwriter";
	st->o.ext = o->ext != NULL ? o->ext : "";
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		*s[i] = xstrdup_null(*s[i]);
	st->rot = (struct rot){ .dir = st->o.dir, .archive_dir =
	    st->o.archive_dir, .prefix = st->o.prefix, .ext = st->o.ext };
	st->fd = o->fd >= 0 ? o->fd : -1;
	if (o->fd < 0 && (o->dir == NULL || (o->name == NULL &&
	    o->prefix == NULL))) {
		*err = xstrdup("record stream: no directory, name or prefix");
		goto fail;
	}
	if (o->fd < 0) {
		if (o->name != NULL)
			st->tpath = xasprintf("%s/%s", o->dir, o->name);
		/* Not linked yet: create_next(), which posts nothing. */
		if ((e = st->tpath ? ensure_open(st) : create_next(st)) != 0) {
			*err = xasprintf("cannot %s %s: %s", o->name ? "open" :
			    "create", where(st, at, sizeof(at)), strerror(e));
			goto fail;
		}
		st->path = xstrdup(st->tpath);
	}
	pthread_mutex_lock(&w->mu);
	st->next = w->streams;
	w->streams = st;
	pthread_mutex_unlock(&w->mu);
	return st;
fail:
	stream_free(st);
	return NULL;
}

const char *
rw_stream_path(const struct rw_stream *st)
{
	return st->path;
}

/* The chunk open for records at the tail of the pending list (mu). */
static struct chunk *
open_chunk(struct rw_stream *st)
{
	struct chunk *c = st->pend_tail;

	if (c != NULL && c->after == 0)
		return c;
	c = xcalloc(1, sizeof(*c));
	if (st->pend_tail != NULL)
		st->pend_tail->next = c;
	else
		st->pend = c;
	return st->pend_tail = c;
}

void
rw_append(struct rw_stream *st, const char *rec, size_t len, rw_done_fn done,
    void *arg)
{
	struct recwriter *w = st->w;
	struct rw_cb cb = { done, arg };
	struct chunk *c;

	pthread_mutex_lock(&w->mu);
	c = open_chunk(st);
	buf_add(&c->data, rec, len);
	if (done != NULL)
		buf_add(&c->cbs, &cb, sizeof(cb));
	if (!w->kicked)		/* once per batch: it takes all pending */
		pthread_cond_signal(&w->cv);
	w->kicked = 1;
	pthread_mutex_unlock(&w->mu);
	w->pending += len;
	rbacklog_add(len);
}

void
rw_rotate(struct rw_stream *st)
{
	if (!rotates(st))
		return;
	pthread_mutex_lock(&st->w->mu);
	open_chunk(st)->after = AFTER_ROTATE;
	pthread_cond_signal(&st->w->cv);
	pthread_mutex_unlock(&st->w->mu);
}

void
recwriter_reopen(struct recwriter *w)
{
	struct rw_stream *st;

	pthread_mutex_lock(&w->mu);
	for (st = w->streams; st != NULL; st = st->next)
		if (st->o.fd < 0)
			open_chunk(st)->after = AFTER_REOPEN;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}
