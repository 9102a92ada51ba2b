/*
 * metrics: the process's counters, gauges and histograms, and their text
 * exposition for Prometheus (version 0.0.4 of its format). One registry
 * for the process; every family is declared in metrics.c (one place to
 * read what Outpost exports) and reached through the pointers below.
 * Safe from any thread (a mutex per family). Labelled families keep at
 * most METRIC_SERIES_MAX series: later label values count under "_other",
 * so a flood of new destinations never grows memory or the scrape.
 */
#ifndef OUTPOST_METRICS_H
#define OUTPOST_METRICS_H

#include <stddef.h>

struct buf;

#define METRIC_SERIES_MAX	500
#define METRIC_OTHER		"_other"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;

/* The families (NULL before metrics_init). */
extern struct metric *m_received_messages;	/* accepted: 250 */
extern struct metric *m_received_recipients;
extern struct metric *m_delivered;		/* {destination} */
extern struct metric *m_deferred;		/* {destination} */
extern struct metric *m_bounced;		/* {destination,category} */
extern struct metric *m_feedback_reports;	/* {result}: feedback mail */
extern struct metric *m_feedback_events;	/* {type,category} */
extern struct metric *m_inbound_total;		/* SMTP connections */
extern struct metric *m_inbound_open;
extern struct metric *m_outbound_total;
extern struct metric *m_outbound_open;
extern struct metric *m_dns_seconds;		/* histogram */
extern struct metric *m_attempt_seconds;	/* histogram */
extern struct metric *m_delivery_delay;		/* histogram: queued to
						 * delivered */
extern struct metric *m_fsync_seconds;		/* histogram: records */
extern struct metric *m_record_backlog;		/* gauge, bytes */
extern struct metric *m_queue_entries;		/* gauge {state} */
extern struct metric *m_queue_recipients;	/* gauge */
extern struct metric *m_queue_oldest;		/* gauge, seconds */
extern struct metric *m_fs_free;		/* gauge {filesystem} */

/* Declares every family; version goes in outpost_build_info. */
void		 metrics_init(const char *version, double start_time);
/* Frees every family and collector. */
void		 metrics_free(void);

/* values: one per label of the family, in order (NULL for none). */
void		 metric_add(struct metric *, const char *const *values,
		    double v);
void		 metric_set(struct metric *, const char *const *values,
		    double v);
void		 metric_observe(struct metric *, const char *const *values,
		    double v);
/* A family's sum over its series (counters, gauges). */
double		 metric_total(struct metric *);
/* Drops a gauge's series (before a collector sets them anew). */
void		 metric_clear(struct metric *);

/* Called before each exposition, on the thread that renders: sets the
 * gauges it owns. Collectors run in the order added. */
typedef void (*metric_collect_fn)(void *arg);
void		 metrics_collector(metric_collect_fn, void *arg);
void		 metrics_collector_remove(metric_collect_fn, void *arg);

/* Runs the collectors. */
void		 metrics_collect(void);
/* Runs the collectors, then appends every family to out. */
void		 metrics_render(struct buf *out);
/* A series' value (counter, gauge; a histogram's sum), 0 when absent. */
double		 metric_value(struct metric *, const char *const *values);

/* Monotonic seconds, for durations. */
double		 metrics_now(void);

#endif
