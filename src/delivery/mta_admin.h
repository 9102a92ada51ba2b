/*
 * mta_admin: the administrator's actions on the delivery side (the admin
 * API's, src/admin/): the queue entries as the scheduler holds them,
 * listed through a filter; hold, release, retry now, delete and bounce one
 * entry at a time by id or filter; suspend and resume a destination of
 * the shaper. Every action goes through the owners of the state — the
 * scheduler (entries in memory), attempt.c and verdict.c (delete, bounce),
 * the queue writer (the entry files) — and is logged at NOTICE with who
 * asked. An entry whose attempt is in flight is skipped ("in flight"):
 * the caller asks again once it is back.
 */
#ifndef OUTPOST_MTA_ADMIN_H
#define OUTPOST_MTA_ADMIN_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct mta;
struct qentry;
struct queue;
struct shaper_stat;

/* An entry's state in the scheduler (one bit each, for filters). */
#define MTA_ST_HELD	0x01	/* held by the administrator */
#define MTA_ST_DEFERRED	0x02	/* waiting, next attempt in the future */
#define MTA_ST_DUE	0x04	/* waiting, due now */
#define MTA_ST_RUNNING	0x08	/* an attempt in flight */
#define MTA_ST_ALL	0x0f

/* Which entries an action or a listing concerns; every criterion set
 * must hold. Strings are borrowed. */
struct mta_filter {
	const char	*domain;	/* the entry's domain (no case) */
	const char	*sender;	/* address, or a domain without '@';
					 * "<>" the null sender */
	const char	*recipient;	/* a pending recipient: address, or
					 * a domain without '@' */
	unsigned	 states;	/* MTA_ST_* bits; 0: any */
	int64_t		 min_age;	/* s since queued; -1: none */
	int64_t		 max_age;	/* s; -1: none */
	const char	*dest;		/* the destination key; NULL: any */
};

void		 mta_filter_init(struct mta_filter *);
/* One criterion from its API name (domain, sender, recipient, state —
 * a comma list of held|deferred|due|running —, min_age, max_age —
 * seconds, or a number with s, m, h, d —, destination): 0, 1 when key is
 * not a criterion, or -1 with a static reason for a bad value. value is
 * borrowed. */
int		 mta_filter_set(struct mta_filter *, const char *key,
		    const char *value, const char **why);
/* Whether e, in state st (MTA_ST_*) at destination dest (NULL: not
 * routed yet) matches at now (ms since the epoch). */
int		 mta_filter_match(const struct mta_filter *,
		    const struct qentry *e, unsigned st, const char *dest,
		    int64_t now);
/* "held", "deferred", "due", "running". */
const char	*mta_state_name(unsigned st);

/* Every entry the filter matches (NULL: all): fn gets it (valid during
 * the call), its state and its destination key (NULL: not routed). */
typedef void (*mta_entry_fn)(void *arg, const struct qentry *, unsigned st,
		    const char *dest, int64_t due);
void		 mta_admin_foreach(struct mta *, const struct mta_filter *,
		    mta_entry_fn, void *arg);

enum mta_action {
	MTA_HOLD,	/* out of the schedule, `held 1` in its file */
	MTA_RELEASE,	/* back in the schedule, due now */
	MTA_RETRY,	/* a waiting entry due now */
	MTA_DELETE,	/* its file removed (its body with the last entry);
			 * no record, no DSN (as postsuper -d) */
	MTA_BOUNCE	/* every pending recipient fails permanently with
			 * 5.0.0 "bounced by the administrator: <reason>":
			 * bounce hook, DSN, one bounce record each */
};
const char	*mta_action_name(enum mta_action);

/*
 * A batch of actions: which entries (sorted ids, or a filter), what, and
 * who asked (for the log). Each entry either starts (counted in started;
 * its durable end counted in finished, failed when the queue writer or
 * the verdict could not complete it) or is skipped with a reason (skip,
 * NULL: ignored). settled runs once every started one finished (from
 * inside mta_admin_act when nothing had to wait).
 */
struct mta_batch {
	size_t		 matched, started, finished, failed;
	void		(*skip)(struct mta_batch *, const char *id,
			    const char *why);
	void		(*settled)(struct mta_batch *);
	int		 open;		/* mta_admin_act's */
};
/* -1 when delivery is shutting down (nothing done), else 0. ids must be
 * sorted (strcmp); an id not queued is skipped as "unknown id". */
int		 mta_admin_act(struct mta *, const char *const *ids,
		    size_t nids, const struct mta_filter *f, enum mta_action,
		    const char *reason, const char *who, struct mta_batch *);

/* The destinations the shaper knows (shaper_foreach); now is the shaper's
 * clock (shaper_stat's until). */
void		 mta_admin_destinations(struct mta *,
		    void (*fn)(void *arg, const struct shaper_stat *,
		    uint64_t now), void *arg);
/* Suspends the destination key (made if the shaper has none: its limits
 * as for a domain of that name) for secs: 0. Entries waiting for it stay
 * queued. */
int		 mta_admin_suspend(struct mta *, const char *key,
		    unsigned secs, const char *why, const char *who);
/* Ends its suspension and makes its waiting entries due: 0, or -1 when
 * the key is unknown (nothing to resume). */
int		 mta_admin_resume(struct mta *, const char *key,
		    const char *who);

/* Sets the keys in mask (core/shaping.h's bits) of the destination key's
 * limits from lim, over shaping.ini's until the next reload (made if the
 * shaper has none, as for suspend); entries waiting for a connection
 * slot that a higher limit frees are woken. 0, and the destination's
 * limits now in *now. */
struct shaping_limits;
int		 mta_admin_limits(struct mta *, const char *key,
		    const struct shaping_limits *lim, unsigned mask,
		    const char *who, struct shaping_limits *now);

/* What HTTP injection needs: the current configuration and the queue. */
struct config	*mta_admin_config(struct mta *);
struct queue	*mta_admin_queue(struct mta *);

#endif
