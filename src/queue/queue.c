/*
 * queue: durable commits, rewrites and removals on a writer thread, and
 * the entries loaded at start-up (scan.c) until the sink takes them. Owns
 * the writer, its jobs, the directory's fd and the count of entries per
 * body (refs.c); files go through entry.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/failpoint.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "queue/queue.h"
#include "queue/refs.h"
#include "queue/scan.h"
#include "queue/space.h"

/*
 * The loop thread hands a job (entries + message) to the writer and gets
 * it back through an eventfd; the writer touches nothing else. One round
 * takes every job waiting: a commit's message is written to its body file
 * <dir>/msg.<body> under its final name (no entry refers to it yet: a
 * crash leaves it to the start-up sweep) and each entry to an unnamed file
 * (O_TMPFILE, where the file system has it: nothing is left by a crash)
 * or else to <dir>/tmp.<id> (O_EXCL, 0600), the round's files are made
 * durable with one flush (fdatasync for a few files, syncfs for more) —
 * the body's name with them, before any entry that names it is linked or
 * renamed into place —, and the
 * directory is fsynced once. A job that fails at any
 * step leaves none of its files behind. Only then does the job report
 * success, so a session's 250 always follows a completed round. Bodies
 * whose last entry a round removed go after that directory fsync.
 */

enum job_kind { JOB_COMMIT = 0, JOB_REWRITE, JOB_REMOVE, JOB_ASIDE };

/* A round of at most this many files is flushed file by file, a larger
 * one with a single syncfs. */
#define FDATASYNC_MAX	2
/* Seconds a removed message's body may wait for a round's directory
 * fsync before it gets one of its own. */
#define BODY_LINGER	1

struct queue_job {
	struct queue_job	*next;
	enum job_kind		 kind;
	struct qentry		*entries;
	size_t			 n;
	char			*msg;		/* JOB_COMMIT: the body */
	size_t			 len;
	char			*body;		/* JOB_COMMIT: its id; JOB_REMOVE,
						 * JOB_ASIDE: the body to remove
						 * or set aside with the entry */
	int			 body_fd;
	int			*fds;
	int			 unnamed;	/* fds are O_TMPFILE files */
	int			 err;
	char			*why;		/* JOB_ASIDE: for the log */
	queue_done_fn		 done;		/* loop thread only */
	void			*arg;
};

struct queue {
	struct event_base	*base;
	char			*dir;
	int			 dirfd;
	enum fs_unnamed		 unnamed;	/* how new entries get a name */
	int			 efd;
	struct event		*ev;
	pthread_t		 writer;
	int			 writer_started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct queue_job	*pending;	/* under mu, newest first */
	struct queue_job	*finished;	/* under mu */
	int			 stop;		/* under mu */
	size_t			 busy;		/* loop thread */
	size_t			 count;		/* loop thread */
	queue_sink_fn		 sink;		/* loop thread */
	void			*sink_arg;
	struct qrefs		*refs;		/* entries per body (loop) */
	char			**dead;		/* bodies to remove (writer) */
	size_t			 ndead;
	struct qentry		**entries;	/* loaded, waiting for the sink */
	size_t			 nentries;
	size_t			 cap;
	struct qspace		*space;		/* queue_min_free */
	/* Corrupt entries found at start-up, what could be salvaged, until
	 * queue_take_lost (their files are still in place). */
	struct qentry		**lost;
	char			**lost_why;
	size_t			 nlost;
};

/* The sink's now, with a reference to m (when not NULL), or kept. */
static void
add_entry(struct queue *q, struct qentry *e, struct qmsg *m)
{
	if (q->sink != NULL) {
		q->sink(q->sink_arg, e, m != NULL ? qmsg_ref(m) : NULL);
		return;
	}
	if (q->nentries == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->entries = xreallocarray(q->entries, q->cap,
		    sizeof(*q->entries));
	}
	q->entries[q->nentries++] = e;
}

static void
loaded(struct qentry *e, void *arg)
{
	struct queue *q = arg;

	qrefs_add(q->refs, e->body, 1);
	qentry_pack(e);		/* kept for the queue's life: compact */
	add_entry(q, e, NULL);
}

static void
found_lost(struct qentry *e, const char *why, void *arg)
{
	struct queue *q = arg;

	if (e->body != NULL)		/* read from the damaged entry */
		qrefs_add(q->refs, e->body, 1);
	q->lost = xreallocarray(q->lost, q->nlost + 1, sizeof(*q->lost));
	q->lost_why = xreallocarray(q->lost_why, q->nlost + 1,
	    sizeof(*q->lost_why));
	q->lost[q->nlost] = e;
	q->lost_why[q->nlost++] = xstrdup(why);
}

static void
job_free(struct queue_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		qentry_clear(&j->entries[i]);
	free(j->entries);
	free(j->fds);
	free(j->msg);
	free(j->body);
	free(j->why);
	free(j);
}

/* --- the writer thread ----------------------------------------------------- */

static char *
tmp_name(const struct qentry *e)
{
	return xasprintf("%s%s", QFS_TMP_PREFIX, e->id);
}

static char *
body_name(const char *prefix, const char *body)
{
	return xasprintf("%s" QFS_BODY_PREFIX "%s", prefix, body);
}

/* Removes the job's files: temp names up to `upto` entries written, and
 * final names of the first `renamed` entries; a commit's body. */
static void
job_unlink(struct queue *q, struct queue_job *j, size_t upto, size_t renamed)
{
	char *b;

	for (size_t i = 0; i < upto; i++) {
		char *t = tmp_name(&j->entries[i]);

		if (i < renamed)
			unlinkat(q->dirfd, j->entries[i].id, 0);
		else if (!j->unnamed)
			unlinkat(q->dirfd, t, 0);
		free(t);
	}
	if (j->body == NULL || j->kind != JOB_COMMIT)
		return;
	b = body_name("", j->body);
	unlinkat(q->dirfd, b, 0);
	free(b);
}

static void
job_close(struct queue_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		if (j->fds[i] != -1 && close(j->fds[i]) == -1 && j->err == 0)
			j->err = errno;
		j->fds[i] = -1;
	}
	if (j->body_fd != -1 && close(j->body_fd) == -1 && j->err == 0)
		j->err = errno;
	j->body_fd = -1;
}

/* A commit's body file: head, the message (not copied), tail. */
static int
body_write(struct queue *q, struct queue_job *j)
{
	struct buf head = BUF_INIT, tail = BUF_INIT;
	char *t = body_name("", j->body);
	int rc = -1;

	qfs_body_head(j->len, &head);
	qfs_body_tail(crc32c(crc32c(0, head.p, head.len), j->msg,
	    j->len), &tail);
	j->body_fd = openat(q->dirfd, t, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (j->body_fd != -1 && writev_full(j->body_fd, (struct iovec[]){
	    { head.p, head.len }, { j->msg, j->len }, { tail.p, tail.len } },
	    3) == 0)
		rc = 0;
	else
		j->err = errno ? errno : EIO;
	free(t);
	buf_free(&head);
	buf_free(&tail);
	return rc;
}

/* Writes j's body (a commit) and every entry to temp files (fds stay
 * open): the entries written. */
static size_t
job_write(struct queue *q, struct queue_job *j)
{
	struct buf img = BUF_INIT;
	size_t i;

	if (j->kind == JOB_COMMIT && body_write(q, j) == -1)
		return 0;
	/* A rewrite replaces its entry: a name, renamed over it. */
	j->unnamed = j->kind == JOB_COMMIT && q->unnamed != FS_UNNAMED_NONE;
	for (i = 0; i < j->n; i++) {
		char *t = j->unnamed ? NULL : tmp_name(&j->entries[i]);

		buf_reset(&img);
		qfs_encode(&j->entries[i], &img);
		j->fds[i] = t == NULL ? fs_unnamed_open(q->dirfd) :
		    openat(q->dirfd, t, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		free(t);
		if (j->fds[i] == -1 || write_full(j->fds[i], img.p, img.len)) {
			j->err = errno ? errno : EIO;
			i += j->fds[i] != -1;
			break;
		}
	}
	buf_free(&img);
	return i;
}

/* A removal, or a setting aside, of one entry (and, when it was the
 * last of its body, of the body: set aside now, removed by the caller
 * after the directory fsync). */
static void
job_drop(struct queue *q, struct queue_job *j)
{
	const char *id = j->entries[0].id;
	char *to, *from;

	if (j->kind == JOB_REMOVE) {
		/* Not followed by a directory fsync of its own: a removal
		 * lost in a crash brings a finished entry back (delivered
		 * twice), never loses one. */
		if (unlinkat(q->dirfd, id, 0) == -1 && errno != ENOENT)
			j->err = errno;
		return;
	}
	/* No directory fsync either: a rename lost in a crash finds the
	 * file corrupt again (recorded twice). */
	to = xasprintf(QFS_ERROR_PREFIX "%s", id);
	if (renameat(q->dirfd, id, q->dirfd, to) == -1)
		j->err = errno;
	free(to);
	if (j->err != 0 || j->body == NULL)
		return;
	from = body_name("", j->body);
	to = body_name(QFS_ERROR_PREFIX, j->body);
	renameat(q->dirfd, from, q->dirfd, to);
	free(from);
	free(to);
}

/* Links or renames a written job's entries into place. */
static void
job_rename(struct queue *q, struct queue_job *j)
{
	size_t renamed = 0;

	/* renamed: the entries in place (a name that could not be taken is
	 * not ours to remove). */
	for (; j->err == 0 && renamed < j->n; renamed++) {
		const char *id = j->entries[renamed].id;
		char *t = j->unnamed ? NULL : tmp_name(&j->entries[renamed]);

		if (t == NULL ? fs_unnamed_link(q->unnamed, j->fds[renamed],
		    q->dirfd, id) == -1 : renameat(q->dirfd, t, q->dirfd,
		    id) == -1)
			j->err = errno;
		free(t);
		if (j->err)
			break;
		if (renamed == 0 && j->n > 1)
			FAILPOINT("queue-mid-split");
	}
	if (j->err)
		job_unlink(q, j, j->n, renamed);
}

/*
 * Bodies whose last entry is removed go only once those removals are
 * durable (a directory fsync), so that a crash never leaves an entry
 * without its body. They wait in q->dead (writer thread only) for the
 * next round that fsyncs the directory anyway (every round with new or
 * rewritten files), or, when none comes within BODY_LINGER, for one
 * fsync of their own: a busy queue pays nothing for them.
 */
static void
note_dead_bodies(struct queue *q, struct queue_job *jobs)
{
	for (struct queue_job *j = jobs; j != NULL; j = j->next)
		if (j->kind == JOB_REMOVE && j->body != NULL && j->err == 0) {
			q->dead = xreallocarray(q->dead, q->ndead + 1,
			    sizeof(*q->dead));
			q->dead[q->ndead++] = j->body;
			j->body = NULL;
		}
}

static void
drop_bodies(struct queue *q, int synced)
{
	if (q->ndead == 0 || (!synced && fsync(q->dirfd) == -1))
		return;		/* kept; or left for the start-up sweep */
	FAILPOINT("queue-before-body-removal");
	for (size_t i = 0; i < q->ndead; i++) {
		char *b = body_name("", q->dead[i]);

		unlinkat(q->dirfd, b, 0);
		free(b);
		free(q->dead[i]);
	}
	q->ndead = 0;
}

/* The round's files durable with one flush: a few by fdatasync each,
 * more by one syncfs. 0 or an errno. */
static int
flush_round(struct queue *q, struct queue_job *jobs, size_t files)
{
	struct queue_job *j;

	if (files > FDATASYNC_MAX)
		return syncfs(q->dirfd) == -1 ? errno : 0;
	for (j = jobs; j != NULL; j = j->next) {
		if (j->kind == JOB_REMOVE || j->kind == JOB_ASIDE || j->err)
			continue;
		if (j->body_fd != -1 && fdatasync(j->body_fd) == -1)
			return errno;
		for (size_t i = 0; i < j->n; i++)
			if (fdatasync(j->fds[i]) == -1)
				return errno;
	}
	return 0;
}

static void
write_round(struct queue *q, struct queue_job *jobs)
{
	struct queue_job *j;
	size_t files = 0;
	int err = 0, synced = 0;

	for (j = jobs; j != NULL; j = j->next) {
		size_t done;

		if (j->kind == JOB_REMOVE || j->kind == JOB_ASIDE)
			continue;
		done = job_write(q, j);

		if (j->err) {
			job_close(j);
			job_unlink(q, j, done, 0);
			continue;
		}
		files += j->n + (j->kind == JOB_COMMIT);
	}
	err = flush_round(q, jobs, files);
	FAILPOINT("queue-before-rename");
	for (j = jobs; j != NULL; j = j->next) {
		if (j->kind == JOB_REMOVE || j->kind == JOB_ASIDE) {
			job_drop(q, j);
			continue;
		}
		if (j->err)
			continue;
		if (!j->unnamed)	/* an unnamed file is linked by its fd */
			job_close(j);
		if (j->err == 0 && err)
			j->err = err;
		if (j->err)
			job_unlink(q, j, j->n, 0);
		else
			job_rename(q, j);
		if (j->unnamed && j->err == 0) {
			job_close(j);
			if (j->err)
				job_unlink(q, j, j->n, j->n);
		}
		job_close(j);
	}
	if (files > 0) {
		synced = fsync(q->dirfd) == 0;
		err = synced ? 0 : errno;
	}
	if (files > 0 && !synced)
		for (j = jobs; j != NULL; j = j->next)
			if (j->kind != JOB_REMOVE && j->kind != JOB_ASIDE &&
			    j->err == 0) {
				j->err = err;
				/* A new entry is taken back; a rewritten one
				 * is still the entry (old or new state). */
				if (j->kind == JOB_COMMIT)
					job_unlink(q, j, j->n, j->n);
			}
	note_dead_bodies(q, jobs);
	if (synced)
		drop_bodies(q, 1);
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_job *jobs, *j, *prev, *next;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->pending == NULL && !q->stop) {
			struct timespec until;

			if (q->ndead == 0) {
				pthread_cond_wait(&q->cv, &q->mu);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += BODY_LINGER;
			if (pthread_cond_timedwait(&q->cv, &q->mu, &until) ==
			    ETIMEDOUT) {
				pthread_mutex_unlock(&q->mu);
				drop_bodies(q, 0);
				pthread_mutex_lock(&q->mu);
			}
		}
		jobs = q->pending;
		q->pending = NULL;
		pthread_mutex_unlock(&q->mu);
		if (jobs == NULL) {
			drop_bodies(q, 0);	/* stopping */
			break;
		}
		/* Oldest first. */
		for (prev = NULL, j = jobs; j != NULL; j = next) {
			next = j->next;
			j->next = prev;
			prev = j;
		}
		jobs = prev;
		write_round(q, jobs);
		pthread_mutex_lock(&q->mu);
		for (j = jobs; j != NULL; j = next) {
			next = j->next;
			j->next = q->finished;
			q->finished = j;
		}
		pthread_mutex_unlock(&q->mu);
		while (write(q->efd, &one, sizeof(one)) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

/* --- the loop side ----------------------------------------------------------- */

static void
reap(struct queue *q, int notify)
{
	struct queue_job *j, *next;
	struct qmsg *m;

	pthread_mutex_lock(&q->mu);
	j = q->finished;
	q->finished = NULL;
	pthread_mutex_unlock(&q->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		q->busy--;
		if (j->kind == JOB_ASIDE)
			qfs_log_aside(j->entries[0].id, j->why, j->err);
		if (j->err == 0 && (j->kind == JOB_REMOVE ||
		    j->kind == JOB_ASIDE))
			q->count -= q->count > 0;
		if (j->err == 0 && j->kind == JOB_COMMIT) {
			/* One message in memory, shared by the entries. */
			qrefs_add(q->refs, j->body, j->n);
			m = qmsg_new(j->msg, j->len);
			j->msg = NULL;
			for (size_t i = 0; i < j->n; i++) {
				struct qentry *e = xmalloc(sizeof(*e));

				*e = j->entries[i];
				memset(&j->entries[i], 0, sizeof(*e));
				qentry_pack(e);
				q->count++;
				add_entry(q, e, m);
			}
			qmsg_unref(m);
		}
		if (notify && j->done != NULL)
			j->done(j->arg, j->err);
		job_free(j);
	}
}

static void
on_finished(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	reap(arg, 1);
}

struct queue *
queue_open(struct event_base *base, const char *dir, char **err)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	pthread_condattr_t ca;
	long n;

	q->base = base;
	q->dir = xstrdup(dir);
	q->dirfd = q->efd = -1;
	q->refs = qrefs_new();
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((n = qfs_scan(dir, loaded, found_lost, q, err)) < 0)
		goto fail;
	q->count = (size_t)n + q->nlost;	/* the lost ones until aside */
	if ((q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*err = xasprintf("queue directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	q->unnamed = fs_unnamed_probe(q->dirfd, QFS_TMP_PREFIX "probe");
	log_debug("core", NULL, "queue: new entries are written %s",
	    q->unnamed == FS_UNNAMED_NONE ? "under temporary names" :
	    "as unnamed files (O_TMPFILE)");
	if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*err = xasprintf("eventfd: %s", strerror(errno));
		goto fail;
	}
	q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_finished, q);
	event_add(q->ev, NULL);
	if ((errno = pthread_create(&q->writer, NULL, writer_main, q)) != 0) {
		*err = xasprintf("cannot start the queue writer: %s",
		    strerror(errno));
		goto fail;
	}
	q->writer_started = 1;
	q->space = qspace_new(base, dir);
	log_notice("core", NULL, "queue: %ld %s loaded from %s", n,
	    n == 1 ? "entry" : "entries", dir);
	return q;
fail:
	queue_close(q);
	return NULL;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->writer_started) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->writer, NULL);
		reap(q, 0);
	}
	if (q->ev != NULL)
		event_free(q->ev);
	if (q->efd != -1)
		close(q->efd);
	if (q->dirfd != -1)
		close(q->dirfd);
	for (size_t i = 0; i < q->nentries; i++) {
		qentry_clear(q->entries[i]);
		free(q->entries[i]);
	}
	free(q->entries);
	qrefs_free(q->refs);
	qspace_free(q->space);
	for (size_t i = 0; i < q->nlost; i++) {
		qentry_clear(q->lost[i]);
		free(q->lost[i]);
		free(q->lost_why[i]);
	}
	free(q->lost);
	free(q->lost_why);
	for (size_t i = 0; i < q->ndead; i++)
		free(q->dead[i]);
	free(q->dead);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->dir);
	free(q);
}

void
queue_set_sink(struct queue *q, queue_sink_fn fn, void *arg)
{
	q->sink = fn;
	q->sink_arg = arg;
	if (fn == NULL)		/* detached: entries wait in the array */
		return;
	for (size_t i = 0; i < q->nentries; i++)
		fn(arg, q->entries[i], NULL);
	free(q->entries);
	q->entries = NULL;
	q->nentries = q->cap = 0;
}

void
queue_take_lost(struct queue *q, queue_lost_fn fn, void *arg)
{
	for (size_t i = 0; i < q->nlost; i++) {
		fn(arg, q->lost[i], q->lost_why[i]);
		free(q->lost_why[i]);
	}
	free(q->lost);
	free(q->lost_why);
	q->lost = NULL;
	q->lost_why = NULL;
	q->nlost = 0;
}

static struct queue_job *
submit(struct queue *q, struct queue_job *j)
{
	q->busy++;
	pthread_mutex_lock(&q->mu);
	/* A non-empty list has had its wake-up: the writer takes it all. */
	if (q->pending == NULL)
		pthread_cond_signal(&q->cv);
	j->next = q->pending;
	q->pending = j;
	pthread_mutex_unlock(&q->mu);
	return j;
}

static struct queue_job *
job_new(enum job_kind kind, size_t n, queue_done_fn done, void *arg)
{
	struct queue_job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->entries = xcalloc(n, sizeof(*j->entries));
	j->n = n;
	j->fds = xmalloc(n * sizeof(*j->fds));
	j->body_fd = -1;
	for (size_t i = 0; i < n; i++)
		j->fds[i] = -1;
	j->done = done;
	j->arg = arg;
	return j;
}


struct queue_job *
queue_rewrite(struct queue *q, const struct qentry *e, queue_done_fn done,
    void *arg)
{
	struct queue_job *j = job_new(JOB_REWRITE, 1, done, arg);

	qentry_copy(&j->entries[0], e);
	return submit(q, j);
}

/* A removal or setting aside of e: its body goes too when e was the last
 * entry referring to it. */
static struct queue_job *
drop_job(struct queue *q, enum job_kind kind, const struct qentry *e,
    queue_done_fn done, void *arg)
{
	struct queue_job *j = job_new(kind, 1, done, arg);

	j->entries[0].id = xstrdup(e->id);
	if (e->body != NULL && qrefs_get(q->refs, e->body) > 0 &&
	    qrefs_drop(q->refs, e->body) == 0)
		j->body = xstrdup(e->body);
	return j;
}

struct queue_job *
queue_remove(struct queue *q, const struct qentry *e, queue_done_fn done,
    void *arg)
{
	return submit(q, drop_job(q, JOB_REMOVE, e, done, arg));
}

struct queue_job *
queue_set_aside(struct queue *q, const struct qentry *e, const char *why,
    queue_done_fn done, void *arg)
{
	struct queue_job *j = drop_job(q, JOB_ASIDE, e, done, arg);

	j->why = xstrdup(why);
	return submit(q, j);
}

struct queue_job *
queue_commit(struct queue *q, struct qentry *entries, size_t n, char *msg,
    size_t len, queue_done_fn done, void *arg)
{
	struct queue_job *j = job_new(JOB_COMMIT, n, done, arg);

	memcpy(j->entries, entries, n * sizeof(*entries));
	memset(entries, 0, n * sizeof(*entries));
	j->msg = msg;
	j->len = len;
	j->body = xstrdup(j->entries[0].id);
	for (size_t i = 0; i < n; i++) {
		free(j->entries[i].body);
		j->entries[i].body = xstrdup(j->body);
		j->entries[i].msg_len = len;
	}
	return submit(q, j);
}

void
queue_job_cancel(struct queue_job *j)
{
	j->done = NULL;
}

size_t
queue_busy(const struct queue *q)
{
	return q->busy;
}

size_t
queue_count(const struct queue *q)
{
	return q->count;
}

size_t
queue_bodies(const struct queue *q)
{
	return qrefs_size(q->refs);
}

const char *
queue_dir(const struct queue *q)
{
	return q->dir;
}

struct qspace *
queue_space(const struct queue *q)
{
	return q->space;
}
