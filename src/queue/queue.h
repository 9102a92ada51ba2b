/*
 * queue: the durable outbound queue. At start-up it loads every valid
 * entry (scan.c); while running it commits new entries for the
 * SMTP sessions. A commit writes each entry to a temp file, makes the
 * files durable, renames them into place and fsyncs the directory, on a
 * writer thread so the event loop never waits for the disk; commits that
 * arrive while a round is on disk share the next round (group commit).
 * Every entry loaded at start-up or committed later is handed to the
 * sink (the scheduler), which owns it from then on. Rewrites (delivery
 * state) and removals go through the same writer, in order.
 */
#ifndef OUTPOST_QUEUE_H
#define OUTPOST_QUEUE_H

#include <stddef.h>

#include "queue/entry.h"

struct event_base;
struct queue;
struct queue_job;
struct qspace;

/* err: 0 when every entry of the job is durable, else an errno value
 * (ENOSPC, EDQUOT, EFBIG mean out of space; nothing of the job is left). */
typedef void (*queue_done_fn)(void *arg, int err);

/* Takes ownership of a durable entry (malloc'd; qentry_clear + free),
 * and of its message when msg is not NULL (just committed: the bytes are
 * still in memory; malloc'd). */
typedef void (*queue_sink_fn)(void *arg, struct qentry *, char *msg,
    size_t len);

/* Scans dir and starts the writer. NULL with *err (malloc'd) on failure.
 * Loaded entries wait for queue_set_sink(). */
struct queue	*queue_open(struct event_base *, const char *dir, char **err);
/* Hands the loaded entries to sink, then every newly committed one.
 * A NULL sink detaches (entries are then kept until queue_close). */
void		 queue_set_sink(struct queue *, queue_sink_fn, void *arg);
/*
 * The corrupt entries found at start-up that name pending recipients
 * (qfs_scan's lost): fn gets each, once, with what could be salvaged (it
 * owns e, malloc'd) and why it was refused (valid during the call). The
 * files stay in place until fn's owner sets each aside (queue_set_aside)
 * after recording its recipients.
 */
typedef void (*queue_lost_fn)(void *arg, struct qentry *e, const char *why);
void		 queue_take_lost(struct queue *, queue_lost_fn, void *arg);
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
/*
 * Replaces the file of entry e (same id) with a new image of e and the
 * message msg/len, durably; both are copied. The entry does not go to
 * the sink again. done may be NULL.
 */
struct queue_job *queue_rewrite(struct queue *, const struct qentry *,
		    const char *msg, size_t len, queue_done_fn, void *arg);
/* Removes entry id's file. The directory is not fsynced for it: after a
 * crash a removed entry may come back (delivered again), never the
 * reverse. A file already gone is not an error. done may be NULL. */
struct queue_job *queue_remove(struct queue *, const char *id,
		    queue_done_fn, void *arg);

/* Renames entry id's file to error.<id> (a corrupt entry, recorded) and
 * logs it with why (an ERROR line, as the start-up scan's). Like a
 * removal, not followed by a directory fsync. done may be NULL. */
struct queue_job *queue_set_aside(struct queue *, const char *id,
		    const char *why, queue_done_fn, void *arg);

/* The job's callback will not run; the commit itself still completes. */
void		 queue_job_cancel(struct queue_job *);

/* Jobs handed over and not yet reported. */
size_t		 queue_busy(const struct queue *);
/* Entries on disk: loaded and committed, minus removed. */
size_t		 queue_count(const struct queue *);
/* The queue directory. */
const char	*queue_dir(const struct queue *);
/* Its file system's free space against queue_min_free (queue/space.h). */
struct qspace	*queue_space(const struct queue *);

#endif
