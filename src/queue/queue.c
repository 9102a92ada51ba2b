/*
 * queue: durable commits, rewrites and removals on a writer thread, and
 * the entries loaded at start-up (scan.c) until the sink takes them. Owns
 * the writer, its jobs and the directory's fd; files go through entry.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/failpoint.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "queue/queue.h"
#include "queue/scan.h"
#include "queue/space.h"

/*
 * The loop thread hands a job (entries + message) to the writer and gets
 * it back through an eventfd; the writer touches nothing else. One round
 * takes every job waiting: each entry is written to <dir>/tmp.<id>
 * (O_EXCL, 0600), the round's files are made durable with one flush
 * (fdatasync for a single file, syncfs for several), renamed into place,
 * and the directory is fsynced once. A job that fails at any step leaves
 * none of its files behind. Only then does the job report success, so a
 * session's 250 always follows a completed round.
 */

enum job_kind { JOB_COMMIT = 0, JOB_REWRITE, JOB_REMOVE, JOB_ASIDE };

struct queue_job {
	struct queue_job	*next;
	enum job_kind		 kind;
	struct qentry		*entries;
	size_t			 n;
	char			*msg;
	size_t			 len;
	int			*fds;
	int			 err;
	char			*why;		/* JOB_ASIDE: for the log */
	queue_done_fn		 done;		/* loop thread only */
	void			*arg;
};

struct queue {
	struct event_base	*base;
	char			*dir;
	int			 dirfd;
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

static void
add_entry(struct queue *q, struct qentry *e, char *msg, size_t len)
{
	if (q->sink != NULL) {
		q->sink(q->sink_arg, e, msg, len);
		return;
	}
	free(msg);
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
	add_entry(arg, e, NULL, 0);
}

static void
found_lost(struct qentry *e, const char *why, void *arg)
{
	struct queue *q = arg;

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
	free(j->why);
	free(j);
}

/* --- the writer thread ----------------------------------------------------- */

static char *
tmp_name(const struct qentry *e)
{
	return xasprintf("%s%s", QFS_TMP_PREFIX, e->id);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Removes the job's files: temp names up to `upto` entries written, and
 * final names of the first `renamed` entries. */
static void
job_unlink(struct queue *q, struct queue_job *j, size_t upto, size_t renamed)
{
	for (size_t i = 0; i < upto; i++) {
		char *t = tmp_name(&j->entries[i]);

		if (i < renamed)
			unlinkat(q->dirfd, j->entries[i].id, 0);
		else
			unlinkat(q->dirfd, t, 0);
		free(t);
	}
}

static void
job_close(struct queue_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		if (j->fds[i] != -1 && close(j->fds[i]) == -1 && j->err == 0)
			j->err = errno;
		j->fds[i] = -1;
	}
}

/* Writes every entry of j to its temp file (fds stay open). */
static size_t
job_write(struct queue *q, struct queue_job *j)
{
	struct buf img = BUF_INIT;
	size_t i;

	for (i = 0; i < j->n; i++) {
		char *t = tmp_name(&j->entries[i]);

		buf_reset(&img);
		qfs_encode(&j->entries[i], j->msg, j->len, &img);
		j->fds[i] = openat(q->dirfd, t, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		free(t);
		if (j->fds[i] == -1 || write_all(j->fds[i], img.p, img.len)) {
			j->err = errno ? errno : EIO;
			i += j->fds[i] != -1;
			break;
		}
	}
	buf_free(&img);
	return i;
}

static void
write_round(struct queue *q, struct queue_job *jobs)
{
	struct queue_job *j;
	size_t files = 0;
	int single = -1, err = 0;

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
		files += j->n;
		single = j->fds[0];
	}
	/* One flush for the whole round. */
	if (files == 1 && fdatasync(single) == -1)
		err = errno;
	else if (files > 1 && syncfs(q->dirfd) == -1)
		err = errno;
	FAILPOINT("queue-before-rename");
	for (j = jobs; j != NULL; j = j->next) {
		size_t renamed = 0;

		if (j->kind == JOB_REMOVE) {
			/* Not followed by a directory fsync of its own: a
			 * removal lost in a crash brings a finished entry
			 * back (delivered twice), never loses one. */
			if (unlinkat(q->dirfd, j->entries[0].id, 0) == -1 &&
			    errno != ENOENT)
				j->err = errno;
			continue;
		}
		if (j->kind == JOB_ASIDE) {
			/* No directory fsync either: a rename lost in a crash
			 * finds the file corrupt again (recorded twice). */
			char *to = xasprintf(QFS_ERROR_PREFIX "%s",
			    j->entries[0].id);

			if (renameat(q->dirfd, j->entries[0].id, q->dirfd,
			    to) == -1)
				j->err = errno;
			free(to);
			continue;
		}
		if (j->err)
			continue;
		job_close(j);
		if (j->err == 0 && err)
			j->err = err;
		for (; j->err == 0 && renamed < j->n; renamed++) {
			char *t = tmp_name(&j->entries[renamed]);

			if (renameat(q->dirfd, t, q->dirfd,
			    j->entries[renamed].id) == -1)
				j->err = errno;
			free(t);
			if (renamed == 0 && j->n > 1)
				FAILPOINT("queue-mid-split");
		}
		if (j->err)
			job_unlink(q, j, j->n, renamed);
	}
	if (files > 0 && fsync(q->dirfd) == -1) {
		err = errno;
		for (j = jobs; j != NULL; j = j->next)
			if (j->kind != JOB_REMOVE && j->kind != JOB_ASIDE &&
			    j->err == 0) {
				j->err = err;
				/* A new entry is taken back; a rewritten one
				 * is still the entry (old or new state). */
				if (j->kind == JOB_COMMIT)
					job_unlink(q, j, j->n, j->n);
			}
	}
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_job *jobs, *j, *prev, *next;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->pending == NULL && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		jobs = q->pending;
		q->pending = NULL;
		pthread_mutex_unlock(&q->mu);
		if (jobs == NULL)
			break;
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
	char *msg;

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
		if (j->err == 0 && j->kind == JOB_COMMIT)
			for (size_t i = 0; i < j->n; i++) {
				struct qentry *e = xmalloc(sizeof(*e));

				*e = j->entries[i];
				memset(&j->entries[i], 0, sizeof(*e));
				q->count++;
				if (i + 1 == j->n) {	/* the last one takes it */
					msg = j->msg;
					j->msg = NULL;
				} else {
					msg = xmalloc(j->len + 1);
					memcpy(msg, j->msg, j->len);
				}
				add_entry(q, e, msg, j->len);
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
	long n;

	q->base = base;
	q->dir = xstrdup(dir);
	q->dirfd = q->efd = -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if ((n = qfs_scan(dir, loaded, found_lost, q, err)) < 0)
		goto fail;
	q->count = (size_t)n + q->nlost;	/* the lost ones until aside */
	if ((q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*err = xasprintf("queue directory %s: %s", dir, strerror(errno));
		goto fail;
	}
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
	qspace_free(q->space);
	for (size_t i = 0; i < q->nlost; i++) {
		qentry_clear(q->lost[i]);
		free(q->lost[i]);
		free(q->lost_why[i]);
	}
	free(q->lost);
	free(q->lost_why);
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
		fn(arg, q->entries[i], NULL, 0);
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
	j->next = q->pending;
	q->pending = j;
	pthread_cond_signal(&q->cv);
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
	for (size_t i = 0; i < n; i++)
		j->fds[i] = -1;
	j->done = done;
	j->arg = arg;
	return j;
}


struct queue_job *
queue_rewrite(struct queue *q, const struct qentry *e, const char *msg,
    size_t len, queue_done_fn done, void *arg)
{
	struct queue_job *j = job_new(JOB_REWRITE, 1, done, arg);

	qentry_copy(&j->entries[0], e);
	j->msg = xmalloc(len + 1);
	memcpy(j->msg, msg, len);
	j->len = len;
	return submit(q, j);
}

struct queue_job *
queue_remove(struct queue *q, const char *id, queue_done_fn done, void *arg)
{
	struct queue_job *j = job_new(JOB_REMOVE, 1, done, arg);

	j->entries[0].id = xstrdup(id);
	return submit(q, j);
}

struct queue_job *
queue_set_aside(struct queue *q, const char *id, const char *why,
    queue_done_fn done, void *arg)
{
	struct queue_job *j = job_new(JOB_ASIDE, 1, done, arg);

	j->entries[0].id = xstrdup(id);
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
