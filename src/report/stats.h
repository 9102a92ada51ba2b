/*
 * report/stats: what a report counts, record by record, in memory bounded
 * by caps on the distinct keys (domains, reasons, days, ids): past a cap
 * new keys count under "(other)", and delays past DELAY_KEEP are sampled.
 */
#ifndef OUTPOST_REPORT_STATS_H
#define OUTPOST_REPORT_STATS_H

#include <stddef.h>

#include "report/parse.h"

/* Counts per key, one per record type. */
struct rp_entry {
	char			*key;
	unsigned long long	 n[RP_NTYPES];
	unsigned long long	 total;
};

struct rp_map {
	struct rp_entry	*slots;
	size_t		 cap, used, max;	/* max: distinct keys kept */
	struct rp_entry	 other;			/* keys past max */
};

/* Delivery delay buckets (seconds), upper bounds; the last is open. */
#define RP_DELAY_BUCKETS	12
extern const double rp_delay_bounds[RP_DELAY_BUCKETS - 1];
extern const char *const rp_delay_labels[RP_DELAY_BUCKETS];

struct rp_stats {
	unsigned long long	 n[RP_NTYPES];
	unsigned long long	 records, no_time;
	long long		 first_ms, last_ms;	/* -1: none */
	struct rp_map		 domains;	/* recipient domain */
	struct rp_map		 bcats;		/* bounced: category */
	struct rp_map		 deferrals;	/* deferred: reason */
	struct rp_map		 bounces;	/* bounced: reason */
	struct rp_map		 days;		/* "2026-12-04" (local) */
	struct rp_map		 jobs;		/* distinct job ids */
	struct rp_map		 rcpts;		/* distinct recipients */
	unsigned long long	 hours[24][RP_NTYPES];	/* local hour */
	/* delivered delays, s: all of them up to DELAY_KEEP, then a
	 * uniform sample of that many (reservoir) */
	double			*delays;
	size_t			 ndelays, delays_cap;
	int			 delays_sorted;
	unsigned long long	 delays_seen;
	double			 delay_max;
	unsigned long long	 delay_hist[RP_DELAY_BUCKETS];
	unsigned long long	 rng;
	/* feedback after delivery (rp_stats_feedback): n[] of the entries
	 * is by enum rp_fb (n[RP_FB_BOUNCE], n[RP_FB_COMPLAINT]) */
	unsigned long long	 fb[RP_NFB];
	struct rp_map		 fb_domains;	/* recipient domain */
	struct rp_map		 fb_bcats;	/* remote bounce: category */
	struct rp_map		 fb_types;	/* complaint: feedback type */
};

void	rp_stats_init(struct rp_stats *);
void	rp_stats_free(struct rp_stats *);
/* Counts one record; bcat: its bounce category when bounced (NULL:
 * the record's own). */
void	rp_stats_add(struct rp_stats *, const struct rp_record *,
	    const char *bcat);

/* Counts one remote bounce or complaint (r->fb), apart from the
 * delivery outcomes. */
void	rp_stats_feedback(struct rp_stats *, const struct rp_record *);

/* Entries of a map (the "(other)" bucket last when it counted
 * anything), most records first, then by key; *n of them, at most
 * limit (0: all). Free the array, not the entries. */
const struct rp_entry **rp_map_top(const struct rp_map *, size_t limit,
	    size_t *n);

/* The same, every entry, by key ("(other)" last). */
const struct rp_entry **rp_map_by_key(const struct rp_map *, size_t *n);

/* Percentile p (0 < p <= 100) of the delays, nearest rank: the smallest
 * value with at least p% of the values at or below it; -1 when none.
 * Sorts the delays (once). */
double	rp_stats_percentile(struct rp_stats *, double p);
/* Whether the percentiles come from a sample (more delays than kept). */
int	rp_stats_sampled(const struct rp_stats *);

#endif
