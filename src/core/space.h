/*
 * space: free space of a file system against a threshold, as
 * queue_min_free and records_min_free (outbound.ini) set it: the
 * threshold syntax, one statvfs, the test, and the words the log and
 * --qstat use. A space_watch keeps one directory's last figures and its
 * low/ok state, and logs each change of state once (WARN entering the
 * low state, NOTICE leaving it); its owner polls it on a timer.
 */
#ifndef OUTPOST_SPACE_H
#define OUTPOST_SPACE_H

#include <stdint.h>
#include <stdio.h>

#include <sys/types.h>

enum space_kind { SPACE_OFF = 0, SPACE_ABS, SPACE_PCT };

/* One threshold: off ("0"), an amount, or a percentage of the total. */
struct space_min {
	enum space_kind	 kind;
	double		 v;		/* SPACE_ABS: bytes or inodes;
					 * SPACE_PCT: percent */
	char		 text[24];	/* as written ("64M", "5%") */
};

/* A key's two thresholds: <key> in bytes, <key>_inodes in inodes. */
struct space_rule {
	struct space_min bytes;
	struct space_min inodes;
};

/* What statvfs tells of a file system. */
struct space_stat {
	uint64_t	 avail;		/* bytes free for unprivileged users */
	uint64_t	 total;		/* bytes */
	uint64_t	 ifree;		/* inodes free for unprivileged users */
	uint64_t	 itotal;	/* 0: the file system does not count */
	dev_t		 dev;
};

/* The low bits of space_test(). */
#define SPACE_LOW_BYTES		0x1
#define SPACE_LOW_INODES	0x2

/*
 * Parses a threshold: "0" (off), a whole amount, or a percentage of the
 * file system ("5%", "0.5%"; below 100). With bytes, an amount may end in
 * k, M, G or T (binary multiples: 64M = 67108864). 0, or -1 when s is
 * not one of these.
 */
int		 space_min_parse(const char *s, int bytes, struct space_min *);
/* The threshold in bytes or inodes on a file system of `total` of them
 * (0 when off). */
uint64_t	 space_min_value(const struct space_min *, uint64_t total);

/* statvfs of path or, when it does not exist yet, of its nearest
 * existing parent (the file system it will be on). 0, or -1 with errno. */
int		 space_measure(const char *path, struct space_stat *);
/* SPACE_LOW_* bits: what is below its threshold once `extra` more bytes
 * are used (a message's announced SIZE); 0 when both are above. */
unsigned	 space_test(const struct space_stat *,
		    const struct space_rule *, uint64_t extra);
/* "123 bytes free (queue_min_free 5% = 4096), 45 inodes free
 * (queue_min_free_inodes 5% = 100)": the figures against key's rule. */
void		 space_describe(char *out, size_t size,
		    const struct space_stat *, const struct space_rule *,
		    const char *key);
/*
 * --qstat's two lines for one file system: "<what>_space ok|low|unknown"
 * and "<what>_free <figures>[ on <path>]" (st NULL: measuring failed with
 * errno err).
 */
void		 space_print(FILE *, const char *what, const char *key,
		    const char *path, const struct space_stat *, int err,
		    const struct space_rule *);

/* One directory's file system, polled by its owner. */
struct space_watch {
	char		*path;
	const char	*what;		/* log prefix: "queue", "records" */
	const char	*key;		/* "queue_min_free" */
	const char	*when_low;	/* "new mail gets 452 4.3.1" */
	const char	*when_ok;	/* "mail is accepted again" */
	struct space_stat st;		/* the last figures */
	int		 measured;	/* st holds figures */
	int		 low;
	int		 err;		/* errno of a failing streak */
};

void		 space_watch_init(struct space_watch *, const char *path,
		    const char *what, const char *key, const char *when_low,
		    const char *when_ok);
void		 space_watch_clear(struct space_watch *);
/* Measures now and logs a change of state (or a failing statvfs, once
 * per streak: the state is then kept); with smtp.ini nodes only worker 0
 * logs a change (the workers watch the same file systems). Returns the
 * state: 1 low. */
int		 space_watch_poll(struct space_watch *,
		    const struct space_rule *);

#endif
