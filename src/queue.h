/*
 * queue: the durable outbound queue. At start-up it loads every valid
 * entry (queue_fs scan); while running it commits new entries for the
 * SMTP sessions. A commit writes each entry to a temp file, makes the
 * files durable, renames them into place and fsyncs the directory, on a
 * writer thread so the event loop never waits for the disk; commits that
 * arrive while a round is on disk share the next round (group commit).
 * The queue owns the loaded entries (the scheduler's input).
 */
#ifndef OUTPOST_QUEUE_H
#define OUTPOST_QUEUE_H

#include <stddef.h>

#include "queue_fs.h"

struct event_base;
struct queue;
struct queue_job;

/* err: 0 when every entry of the job is durable, else an errno value
 * (ENOSPC, EDQUOT, EFBIG mean out of space; nothing of the job is left). */
typedef void (*queue_done_fn)(void *arg, int err);

/* Scans dir and starts the writer. NULL with *err (malloc'd) on failure. */
struct queue	*queue_open(struct event_base *, const char *dir, char **err);
/* Stops the writer after the jobs already handed to it; their callbacks
 * do not run. Frees everything. */
void		 queue_close(struct queue *);

/*
 * Commits n entries, each with the message msg/len; takes ownership of
 * the entries' contents (not of the array) and of msg (malloc'd). done
 * runs later, on the loop.
 */
struct queue_job *queue_commit(struct queue *, struct qentry *, size_t n,
		    char *msg, size_t len, queue_done_fn, void *arg);
/* The job's callback will not run; the commit itself still completes. */
void		 queue_job_cancel(struct queue_job *);

/* Jobs handed over and not yet reported. */
size_t		 queue_busy(const struct queue *);
/* Entries in the queue. */
size_t		 queue_count(const struct queue *);

#endif
