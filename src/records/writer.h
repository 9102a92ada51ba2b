/*
 * writer (recwriter): append-only record files written off the event loop.
 *
 * One writer thread serves every stream. A record handed to rw_append()
 * is copied into the stream's pending batch; the thread takes each
 * stream's whole batch at once, writes it with as few write(2) calls as it
 * can, and, for a sync stream, fdatasync()s it; only then does it report
 * the batch's records done, on the event loop (through an eventfd). So a
 * sync record's done callback means the record is on disk, and records
 * that arrive while a batch is on disk share the next one (group commit).
 *
 * Rotating streams (accounting files) have names
 * <prefix>.<yyyy-mm-dd-HHMMss>[.<n>].<ext> (local time; .<n> only when the
 * name is already taken in the directory or in the archive directory;
 * names are chosen under an flock on the directory, records/rotation.h,
 * so workers sharing it never use one twice): every new file starts with
 * the header. Rotation moves the current file
 * into the archive directory under its own name (never replacing a file:
 * renameat2 RENAME_NOREPLACE, or link+unlink where that is unsupported)
 * and opens a new one; it happens between batches, so between whole
 * records, after a batch that leaves the file at max_size bytes or more,
 * or when rw_rotate() asks.
 *
 * Errors never lose records and never block the loop: a failed write or
 * fdatasync is logged (ERROR, once per failing streak) and retried a
 * second later from the first byte not known to be durable (a record may
 * then be written twice, never lost); done callbacks wait meanwhile.
 * Everything logged by the thread is emitted on the loop, with the
 * stream's log source. Every function is for the loop thread; a done
 * callback may append, but must not free the writer. The bytes appended
 * and not yet written are counted, for every writer together, in
 * records/backlog.c (records_backlog_max).
 */
#ifndef OUTPOST_RECWRITER_H
#define OUTPOST_RECWRITER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct recwriter;
struct rw_stream;

typedef void (*rw_done_fn)(void *arg);

struct rw_opts {
	const char	*source;	/* log source ("accounting_files") */
	int		 fd;		/* >= 0: write to this descriptor
					 * (stdout); never closed, reopened,
					 * rotated or synced (sync, header and
					 * the file options do not apply);
					 * writes keep whole lines within
					 * PIPE_BUF where they can, so lines
					 * never interleave with other writers
					 * of a pipe; a non-blocking fd is
					 * polled, a stalled reader stalls the
					 * writer (and recwriter_free) */
	const char	*dir;		/* the directory of the file (exists) */
	const char	*name;		/* fixed name ("outbound.log"), or
					 * NULL for a rotating stream */
	const char	*prefix;	/* rotating: "d", "df", "b" */
	const char	*ext;		/* rotating: "tsv"; NULL: none */
	const char	*header;	/* with its LF: starts every new or
					 * empty file; NULL: none */
	const char	*archive_dir;	/* rotating: rotation moves files here
					 * (exists); NULL: never rotated */
	uint64_t	 max_size;	/* bytes; 0: no size limit */
	int		 sync;		/* fdatasync before done */
	int		 archive_at_close; /* rotating: recwriter_free
					 * moves the current file into the
					 * archive (a worker of smtp.ini nodes:
					 * no start-up sweep can tell another
					 * worker's live file from its own
					 * leftover) */
};

/* Starts the writer thread. NULL with *err (malloc'd) on failure. */
struct recwriter *recwriter_new(struct event_base *, char **err);
/* Writes everything queued (fsyncing sync streams), stops the thread,
 * closes the files and frees the streams. Done callbacks not yet run are
 * dropped. A stream in an error streak gets one last try at its retry
 * time; what it still cannot write is logged (ERROR) and dropped, so that
 * shutdown ends on a full disk. */
void		 recwriter_free(struct recwriter *);

/*
 * Opens a stream now, in the calling thread, so a bad directory shows at
 * start-up: a fixed name is opened for append (created 0640 when absent;
 * the header is written when the file is empty); a rotating stream always
 * creates a new file. NULL with *err (malloc'd) on failure, a header that
 * cannot be written included. The stream belongs to the writer (freed by
 * recwriter_free); opts is copied.
 */
struct rw_stream *rw_stream_open(struct recwriter *, const struct rw_opts *,
		    char **err);
/* The current file's path (NULL for an fd stream); changes at rotation
 * and reopen, read it only on the loop. */
const char	*rw_stream_path(const struct rw_stream *);

/* Queues one record (len bytes ending in LF; copied). done (may be NULL)
 * runs on the loop once the record is written (and synced for a sync
 * stream), never during the call. */
void		 rw_append(struct rw_stream *, const char *rec, size_t len,
		    rw_done_fn done, void *arg);
/* Rotates a rotating stream with an archive_dir after what is queued,
 * even when the file holds only its header; other streams ignore it.
 * When the archive already has the file's name, it goes there as the
 * next .<n> of its stamp free in both places (logged "archived as"). */
void		 rw_rotate(struct rw_stream *);
/* SIGUSR1: after what is queued, every file stream is closed and its
 * current path opened again (created, with its header, when it was moved
 * away). */
void		 recwriter_reopen(struct recwriter *);

#endif
