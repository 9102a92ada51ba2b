/*
 * amqp_spool: the amqp_events plugin's append-only spool of events, the
 * write-ahead log between the event loop and the broker.
 *
 * Every event is appended here (and fdatasync'd) before it is published;
 * the publisher reads the spool in order and moves the confirmed position
 * forward as the broker confirms. The spool is a directory of segments
 * <16 hex digits>.spool (consecutive numbers, each run appending to new
 * ones) and `position` ("<segment> <offset>": everything before it is
 * confirmed; written by rename, not synced: a crash may only repeat
 * events). A segment wholly before the confirmed position is removed; at
 * close, when everything is confirmed, the spool is emptied.
 *
 * A record is one line: "<crc32c, 8 hex> <routing key> <event id> <json>"
 * (fields separated by one tab; the key and the id hold no tab or LF, the
 * JSON no raw control character). A line that is torn (no LF at the end of
 * an old segment) or fails its CRC is skipped (and counted).
 *
 * Not thread-safe: one thread (amqp_link's) uses a spool.
 */
#ifndef OUTPOST_AMQP_SPOOL_H
#define OUTPOST_AMQP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct aspool;

/* A place in the spool: after the record ending at (seg, off); fresh: the
 * number of records of this run (appended since open) up to there. */
struct aspool_pos {
	uint64_t	seg;
	uint64_t	off;
	uint64_t	fresh;
};

struct aspool_rec {
	struct slice		 key;	/* routing key */
	struct slice		 id;	/* event id */
	struct slice		 json;
	struct aspool_pos	 end;	/* the place after this record */
	int			 is_fresh;	/* appended in this run */
};

/* Appends one record line for (key, id, json) to out (key and id have
 * their tabs and control characters replaced by '_'). */
void		 aspool_line(struct buf *out, const char *key, const char *id,
		    const char *json, size_t json_len);

/* Opens (creates) dir, locks it (flock: one process per spool) and reads
 * what an earlier run left. seg_max: the size after which appends go to a
 * new segment. NULL with *err. */
struct aspool	*aspool_open(const char *dir, uint64_t seg_max, char **err);
/* Bytes left by earlier runs, not yet confirmed, found at open. */
uint64_t	 aspool_backlog(const struct aspool *);
/* Records skipped as torn or corrupt so far. */
uint64_t	 aspool_skipped(const struct aspool *);
/* Appends whole record lines (aspool_line) and makes them durable
 * (fdatasync; a new segment's directory entry fsync'd). 0, or -1 with
 * errno (nothing of it is then readable; try again later). */
int		 aspool_append(struct aspool *, const char *lines, size_t len);

/* The next record after the read position, for publishing: 1 (rec valid
 * until the next call), 0 when all durable records were read, -1 on a
 * read error (logged by the caller through *err). */
int		 aspool_next(struct aspool *, struct aspool_rec *, char **err);
/* Reading starts again at the confirmed position (after a lost
 * connection: what was not confirmed is published again). */
void		 aspool_rewind(struct aspool *);
/* Everything up to pos is confirmed: older segments go, position is
 * written. */
void		 aspool_confirm(struct aspool *, const struct aspool_pos *);
/* Whether every durable record is confirmed. */
int		 aspool_drained(const struct aspool *);
/* Closes; removes the segments and the position file when drained. */
void		 aspool_close(struct aspool *);

/*
 * Takes over the spool in dir, left by a process that no longer runs (a
 * worker beyond smtp.ini nodes, or the single process before workers):
 * its records not yet confirmed are appended to this spool, in order and
 * durably, then dir is emptied (and removed when nothing else is in it).
 * 0 (*n: the records taken), or -1 with *err, dir then untouched (what
 * was appended before the failure comes again at the next try). A crash
 * between the append and the emptying repeats records likewise, ids and
 * all (consumers drop repeats by id), never loses one.
 */
int		 aspool_adopt(struct aspool *, const char *dir, uint64_t *n,
		    char **err);

#endif
