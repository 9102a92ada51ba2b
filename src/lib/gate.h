/*
 * gate: the destinations' shaping state that the processes of one node
 * share (smtp.ini nodes workers), as one process keeps it for itself: per
 * destination key, the connections open (counted per process, a column
 * each: a process that dies is forgotten by zeroing its column) and the
 * GCRA state of the connection and message rates (lib/rate.h). One
 * admission checks the connection limit and both rates and takes them
 * together, under the table's lock, so workers asking at once can never
 * pass the same slot.
 *
 * Parts: each column may be given a part of a key's connections that is
 * its own (gate_ask part). Beyond its part a column borrows what the
 * others leave unused, but only while no other column was refused one of
 * its own part within the last second (gate_may_lend); such a refusal
 * asks the borrowers to give theirs back (gate_keep_idle).
 *
 * One MAP_SHARED anonymous region, made before the fork and inherited by
 * every child; a process-shared robust mutex guards each call (a process
 * that dies holding it: the next caller rebuilds the index and goes on).
 * No pointer inside. Bounded: at most `keys` destinations; a full table
 * takes back one whose state no longer matters (no connection, rates
 * idle), and when none is, the caller waits. Times are CLOCK_MONOTONIC
 * milliseconds, the same clock in every process. No I/O, no logging.
 */
#ifndef OUTPOST_GATE_H
#define OUTPOST_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/rate.h"

#define GATE_FULL	UINT64_MAX	/* every connection taken: ask again */
#define GATE_NO_LOAN	(UINT64_MAX - 1) /* beyond the part, none to lend */
#define GATE_KEY_LEN	320		/* "<address>/<domain>", with its NUL */
#define GATE_POLL_MS	100		/* full, or no room in the table */
#define GATE_KEYS	10000		/* destinations a node's table holds */

struct gate;

/* What one admission asks. */
struct gate_ask {
	int		 conn;		/* a connection, counted from now */
	unsigned	 max_conn;	/* connections of the key; 0: none */
	unsigned	 part;		/* of them, this column's own; 0: no
					 * parts (every one is anyone's) */
	struct rate	 conn_rate;	/* limits only; state is the table's */
	struct rate	 msg_rate;
};

/* A table for `columns` processes (1..1024) and about `keys` keys. NULL
 * (errno set) when the memory cannot be mapped. */
struct gate	*gate_new(unsigned columns, size_t keys);
/* Unmaps it (in this process only). */
void		 gate_free(struct gate *);

/*
 * At now_ms, for key in column col: 0 when admitted (a message and, with
 * conn, a connection taken: *slot is the handle gate_release() takes, 0
 * when the table had no room to count it); GATE_FULL when max_conn
 * connections are open (nothing taken); GATE_NO_LOAN when the column
 * holds its part and may not borrow (nothing taken); else the
 * milliseconds until the rates allow it (nothing taken).
 */
uint64_t	 gate_admit(struct gate *, unsigned col, const char *key,
		    const struct gate_ask *, uint64_t now_ms, unsigned *slot);
/* Whether column col, holding its part of key's max_conn connections,
 * may borrow one more: fewer than max_conn are open and no other column
 * was refused one of its part within the last second. */
int		 gate_may_lend(struct gate *, unsigned col, const char *key,
		    unsigned max_conn, uint64_t now_ms);
/* Whether column col may keep a connection to key (idle, or borrowed):
 * not when more than max_conn are open (the limit was lowered), nor when
 * max_conn are and another column was refused one of its part within the
 * last second; yes otherwise. */
int		 gate_keep_idle(struct gate *, unsigned col, const char *key,
		    unsigned max_conn, uint64_t now_ms);
/* A connection gate_admit() counted in column col is over. */
void		 gate_release(struct gate *, unsigned col, unsigned slot);
/* Forgets every connection of column col (its process is gone). */
void		 gate_forget(struct gate *, unsigned col);
/* Connections open to key, in all columns. */
unsigned	 gate_count(struct gate *, const char *key);

#endif
