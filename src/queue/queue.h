/*
 * queue: the durable outbound queue. At start-up it loads every valid
 * entry (scan.c); while running it commits new entries for the
 * SMTP sessions. A commit writes the message once, to a body file that
 * all its entries (one per recipient domain) refer to, and each entry to
 * a temp file, makes the files durable, renames them into place and
 * fsyncs the directory, on a writer thread so the event loop never waits
 * for the disk; commits that arrive while a round is on disk share the
 * next round (group commit). A body is removed with its last entry.
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

/* A message in memory, shared by the entries of one commit. */
struct qmsg {
	unsigned	 refs;
	size_t		 len;
	char		*data;		/* NUL-terminated */
};
/* Takes ownership of data (malloc'd, len + 1 bytes, NUL-terminated). */
struct qmsg	*qmsg_new(char *data, size_t len);
struct qmsg	*qmsg_ref(struct qmsg *);
/* NULL is fine. */
void		 qmsg_unref(struct qmsg *);

/* Takes ownership of a durable entry (malloc'd; qentry_clear + free),
 * and of a reference to its message when m is not NULL (just committed:
 * the bytes are still in memory). */
typedef void (*queue_sink_fn)(void *arg, struct qentry *, struct qmsg *m);

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
 * Commits n entries of the message msg/len: the message is written once,
 * as the body file named by the first entry's id, and every entry refers
 * to it (their body and msg_len are set here). Takes ownership of the
 * entries' contents (not of the array) and of msg (malloc'd). done runs
 * later, on the loop.
 */
struct queue_job *queue_commit(struct queue *, struct qentry *, size_t n,
		    char *msg, size_t len, queue_done_fn, void *arg);
/*
 * Replaces the file of entry e (same id, same body) with a new image of
 * e, durably; e is copied. The entry does not go to the sink again. done
 * may be NULL.
 */
struct queue_job *queue_rewrite(struct queue *, const struct qentry *,
		    queue_done_fn, void *arg);
/* Removes entry e's file, and its body file when no other entry refers
 * to it (after a directory fsync: a body never goes before its entries).
 * The directory is not fsynced for the entry: after a crash a removed
 * entry may come back (delivered again), never the reverse. A file
 * already gone is not an error. done may be NULL. */
struct queue_job *queue_remove(struct queue *, const struct qentry *,
		    queue_done_fn, void *arg);

/* Renames entry e's file to error.<id> (a corrupt entry, recorded) and
 * logs it with why (an ERROR line, as the start-up scan's); its body,
 * when no other entry refers to it, goes aside too (error.msg.<body>).
 * Like a removal, not followed by a directory fsync. done may be NULL. */
struct queue_job *queue_set_aside(struct queue *, const struct qentry *,
		    const char *why, queue_done_fn, void *arg);

/* The job's callback will not run; the commit itself still completes. */
void		 queue_job_cancel(struct queue_job *);

/* Jobs handed over and not yet reported. */
size_t		 queue_busy(const struct queue *);
/* Entries on disk: loaded and committed, minus removed. */
size_t		 queue_count(const struct queue *);
/* Body files referred to by those entries. */
size_t		 queue_bodies(const struct queue *);
/* The queue directory. */
const char	*queue_dir(const struct queue *);
/* Its file system's free space against queue_min_free (queue/space.h). */
struct qspace	*queue_space(const struct queue *);

#endif
