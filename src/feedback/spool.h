/*
 * spool (private to feedback/): the feedback spool's files. One received
 * mail is one file <spool_dir>/<arrival ms>.<transaction id>: a short
 * envelope preamble, an empty line, then the mail as received:
 *     outpost-feedback 1
 *     arrival <ms since the epoch>
 *     id <transaction id>
 *     helo <client HELO>
 *     ip <client address>
 *     from <envelope sender, empty for <>>
 *     rcpt <recipient>             (one line each)
 * Written as tmp.<name>, fsync'd, renamed and the directory fsync'd, as
 * the queue writes its entries. Blocking I/O: the worker thread's.
 */
#ifndef OUTPOST_FEEDBACK_SPOOL_H
#define OUTPOST_FEEDBACK_SPOOL_H

#include <stddef.h>

#include "lib/buf.h"

struct fb_envelope {
	long long	 arrival;
	char		*id;
	char		*helo;
	char		*ip;
	char		*from;
	char		**rcpts;
	size_t		 nrcpts;
	const char	*msg;		/* into the file's data */
	size_t		 len;
};

/* The preamble and the file's name (malloc'd) into out / *name. */
void	 spool_preamble(long long arrival, const char *id, const char *helo,
	    const char *ip, const char *from, const char *const *rcpts,
	    size_t nrcpts, struct buf *out, char **name);
/* 0, or an errno. The file is fsync'd and renamed; its directory is not
 * (spool_sync(), once for a round of writes). */
int	 spool_write(const char *dir, const char *name, const struct buf *pre,
	    const char *msg, size_t len);
int	 spool_sync(const char *dir);
/* The whole file (malloc'd); 0 or an errno. */
int	 spool_read(const char *dir, const char *name, char **data,
	    size_t *len);
/* 0, or -1 when data is no spool file. */
int	 spool_envelope(const char *data, size_t len, struct fb_envelope *);
void	 spool_envelope_free(struct fb_envelope *);
/* Moves the file to dir; 0 or an errno. */
int	 spool_move(const char *from_dir, const char *name, const char *dir);
/* 0 or an errno (ENOENT counts as done). */
int	 spool_remove(const char *dir, const char *name);
/* The spool files, oldest first (tmp.* removed); NULL-terminated. */
char	**spool_scan(const char *dir);

#endif
