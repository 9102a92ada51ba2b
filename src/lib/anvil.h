/*
 * anvil: the table of client keys (lib/penalty.h's penalty_key()) that the
 * processes of one daemon share, as Postfix's anvil server does for its
 * smtpd processes, but in memory: the connections open from each key,
 * counted per process (a column each: a process that dies is forgotten by
 * zeroing its column), their total, and the AUTH failure scores of
 * lib/penalty.h.
 *
 * One MAP_SHARED anonymous region, made before the fork and inherited by
 * every child (restarted ones too); a process-shared robust mutex guards
 * it for each call (a process that dies holding it: the next caller
 * rebuilds the index from the entries and goes on). No pointer inside:
 * offsets and indices only. Bounded: at most `keys` keys with open
 * connections (a key goes with its last connection) and `auth_keys` AUTH
 * scores (penalty.h's eviction). No I/O besides the mapping, no logging.
 */
#ifndef OUTPOST_ANVIL_H
#define OUTPOST_ANVIL_H

#include <stddef.h>

struct anvil;

/*
 * A table for `columns` processes (1..1024) and at most `keys` keys with
 * connections; auth_limit > 0: AUTH failures counted per key as
 * penalty_new(auth_limit, window, lockout, auth_keys) would; 0: none.
 * NULL (errno set) when the memory cannot be mapped.
 */
struct anvil	*anvil_new(unsigned columns, size_t keys, unsigned auth_limit,
		    double window, double lockout, size_t auth_keys);
/* Unmaps it (in this process only). */
void		 anvil_free(struct anvil *);

enum anvil_verdict {
	ANVIL_OK,		/* counted */
	ANVIL_TOTAL,		/* max_total connections open already */
	ANVIL_PER_KEY,		/* max_per_key open from this key already */
	ANVIL_FULL		/* no room for one more key */
};

/*
 * One connection from key, in column col, unless max_total are open in all
 * columns (ANVIL_TOTAL, *count: that total) or max_per_key (0: no limit)
 * from key (ANVIL_PER_KEY, *count: key's count), or the table holds `keys`
 * keys (ANVIL_FULL, *count: the total). ANVIL_OK: *slot is the handle
 * anvil_disconnect() takes.
 */
enum anvil_verdict anvil_connect(struct anvil *, unsigned col, const char *key,
		    unsigned max_total, unsigned max_per_key, unsigned *count,
		    unsigned *slot);
/* The end of a connection anvil_connect() counted in column col. */
void		 anvil_disconnect(struct anvil *, unsigned col, unsigned slot);
/* Forgets every connection of column col (its process is gone). */
void		 anvil_forget(struct anvil *, unsigned col);
/* Connections open from key, in all columns; the total. */
unsigned	 anvil_count(struct anvil *, const char *key);
unsigned	 anvil_total(struct anvil *);
/* Keys with connections. */
size_t		 anvil_keys(struct anvil *);

/* Whether AUTH failures are counted (auth_limit > 0). */
int		 anvil_auth_counts(const struct anvil *);
/* penalty_locked() and penalty_fail() on the shared scores; 0 when AUTH
 * failures are not counted. */
double		 anvil_auth_locked(struct anvil *, const char *key, double now);
int		 anvil_auth_fail(struct anvil *, const char *key, double now,
		    unsigned *failures);

enum anvil_auth {
	ANVIL_AUTH_LOCKED = -2,	/* locked out: not checked */
	ANVIL_AUTH_NONE = -1,	/* no verdict (malformed): nothing counted */
	ANVIL_AUTH_FAILED = 0,	/* counted */
	ANVIL_AUTH_OK = 1
};

/*
 * One credential check from key at now, made one step with its lockout
 * and its count, so that checks in several processes cannot all pass
 * the lockout test before any counts: key locked out, ANVIL_AUTH_LOCKED
 * and check is not called; else check(arg) runs under the table's lock
 * (it must be quick and never block: every process waits for it) and
 * answers an enum anvil_auth, returned; a failure is counted as
 * penalty_fail() does (*started: it began a lockout; *failures).
 */
int		 anvil_auth_check(struct anvil *, const char *key, double now,
		    int (*check)(void *), void *arg, unsigned *failures,
		    int *started);

#endif
