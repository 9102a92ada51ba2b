/*
 * metrics: the registry of families and series, their updates from any
 * thread, and the text exposition (contract in metrics.h). A family is a
 * hash table of series keyed by their joined label values, behind its
 * own mutex; the registry's list of families is fixed once metrics_init
 * ran.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "lib/util.h"

#define LABELS_MAX	3
#define BUCKETS		64	/* hash buckets per family */

struct series {
	struct series	*next;		/* in its hash bucket */
	struct series	*order;		/* in creation order */
	char		*values[LABELS_MAX];
	double		 value;		/* counter, gauge; histogram sum */
	uint64_t	 count;		/* histogram */
	uint64_t	*le;		/* histogram: per bound, not cumulative */
};

struct metric {
	struct metric		*next;
	enum metric_kind	 kind;
	char			*name;
	char			*help;
	char			*labels[LABELS_MAX];
	size_t			 nlabels;
	const double		*bounds;	/* histogram, ascending */
	size_t			 nbounds;
	pthread_mutex_t		 mu;
	struct series		*table[BUCKETS];
	struct series		*first, **last;
	size_t			 nseries;
};

struct collector {
	metric_collect_fn	 fn;
	void			*arg;
};

static struct metric	*families, **families_last = &families;
static struct collector	*collectors;
static size_t		 ncollectors;
static pthread_mutex_t	 collect_mu = PTHREAD_MUTEX_INITIALIZER;

struct metric *m_received_messages, *m_received_recipients, *m_delivered,
    *m_deferred, *m_bounced, *m_inbound_total, *m_inbound_open,
    *m_outbound_total, *m_outbound_open, *m_dns_seconds, *m_attempt_seconds,
    *m_delivery_delay, *m_fsync_seconds, *m_record_backlog, *m_queue_entries,
    *m_queue_recipients, *m_queue_oldest, *m_fs_free, *m_feedback_reports,
    *m_feedback_events;
static struct metric *m_build_info, *m_start_time;

static const double dns_bounds[] = { .001, .005, .01, .05, .1, .5, 1, 5 };
static const double attempt_bounds[] = { .01, .05, .1, .25, .5, 1, 2.5, 5,
    10, 30, 60 };
static const double delay_bounds[] = { 1, 10, 60, 300, 900, 3600, 14400,
    86400 };
static const double fsync_bounds[] = { .0005, .001, .0025, .005, .01, .025,
    .05, .1, .5, 1 };

static struct metric *
family(enum metric_kind kind, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds)
{
	struct metric *m = xcalloc(1, sizeof(*m));

	m->kind = kind;
	m->name = xstrdup(name);
	m->help = xstrdup(help);
	if (labels != NULL) {
		char *copy = xstrdup(labels), *save = NULL;

		for (char *l = strtok_r(copy, ",", &save); l != NULL &&
		    m->nlabels < LABELS_MAX; l = strtok_r(NULL, ",", &save))
			m->labels[m->nlabels++] = xstrdup(l);
		free(copy);
	}
	m->bounds = bounds;
	m->nbounds = nbounds;
	pthread_mutex_init(&m->mu, NULL);
	m->last = &m->first;
	*families_last = m;
	families_last = &m->next;
	return m;
}

#define N(a)	(sizeof(a) / sizeof((a)[0]))

void
metrics_init(const char *version, double start_time)
{
	if (families != NULL)
		return;
	m_build_info = family(METRIC_GAUGE, "outpost_build_info",
	    "Always 1; the version of the running daemon.", "version", NULL,
	    0);
	metric_set(m_build_info, (const char *[]){ version }, 1);
	m_start_time = family(METRIC_GAUGE, "outpost_start_time_seconds",
	    "When the daemon started, in seconds since the epoch.", NULL,
	    NULL, 0);
	metric_set(m_start_time, NULL, start_time);
	m_received_messages = family(METRIC_COUNTER,
	    "outpost_received_messages_total",
	    "Messages accepted for delivery (answered 250).", NULL, NULL, 0);
	m_received_recipients = family(METRIC_COUNTER,
	    "outpost_received_recipients_total",
	    "Recipients of the messages accepted.", NULL, NULL, 0);
	m_delivered = family(METRIC_COUNTER,
	    "outpost_delivered_recipients_total",
	    "Recipients delivered, by recipient domain.", "destination",
	    NULL, 0);
	m_deferred = family(METRIC_COUNTER,
	    "outpost_deferred_recipients_total",
	    "Recipients deferred (temporary failures), by recipient domain.",
	    "destination", NULL, 0);
	m_bounced = family(METRIC_COUNTER, "outpost_bounced_recipients_total",
	    "Recipients bounced, by recipient domain and bounce category.",
	    "destination,category", NULL, 0);
	m_feedback_reports = family(METRIC_COUNTER,
	    "outpost_feedback_reports_total",
	    "Feedback mail read from the spool, by result (events: remote "
	    "bounces or complaints; none: a report of nothing to record, "
	    "such as a delayed DSN; quarantined).", "result", NULL, 0);
	m_feedback_events = family(METRIC_COUNTER,
	    "outpost_feedback_events_total",
	    "Remote bounces by bounce category and complaints by feedback "
	    "type.", "type,category", NULL, 0);
	m_inbound_total = family(METRIC_COUNTER,
	    "outpost_inbound_connections_total",
	    "SMTP connections accepted by the listeners.", NULL, NULL, 0);
	m_inbound_open = family(METRIC_GAUGE, "outpost_inbound_connections",
	    "SMTP sessions open now.", NULL, NULL, 0);
	m_outbound_total = family(METRIC_COUNTER,
	    "outpost_outbound_connections_total",
	    "Connections opened to deliver mail.", NULL, NULL, 0);
	m_outbound_open = family(METRIC_GAUGE, "outpost_outbound_connections",
	    "Delivery connections open now (idle pooled ones included).",
	    NULL, NULL, 0);
	m_dns_seconds = family(METRIC_HISTOGRAM,
	    "outpost_dns_lookup_duration_seconds",
	    "MX and address lookups, from the question to the answer.", NULL,
	    dns_bounds, N(dns_bounds));
	m_attempt_seconds = family(METRIC_HISTOGRAM,
	    "outpost_delivery_attempt_duration_seconds",
	    "Delivery attempts, from their start to their outcome.", NULL,
	    attempt_bounds, N(attempt_bounds));
	m_delivery_delay = family(METRIC_HISTOGRAM,
	    "outpost_delivery_delay_seconds",
	    "Delivered recipients: seconds from queued to delivered.", NULL,
	    delay_bounds, N(delay_bounds));
	m_fsync_seconds = family(METRIC_HISTOGRAM,
	    "outpost_record_fsync_duration_seconds",
	    "Record files made durable (fdatasync).", NULL, fsync_bounds,
	    N(fsync_bounds));
	m_record_backlog = family(METRIC_GAUGE, "outpost_record_backlog_bytes",
	    "Record lines handed to the writers and not yet written.", NULL,
	    NULL, 0);
	m_queue_entries = family(METRIC_GAUGE, "outpost_queue_entries",
	    "Queue entries (one per message and recipient domain), by state.",
	    "state", NULL, 0);
	m_queue_recipients = family(METRIC_GAUGE, "outpost_queue_recipients",
	    "Recipients not yet delivered nor bounced.", NULL, NULL, 0);
	m_queue_oldest = family(METRIC_GAUGE,
	    "outpost_queue_oldest_entry_age_seconds",
	    "Age of the oldest queue entry (0: the queue is empty).", NULL,
	    NULL, 0);
	m_fs_free = family(METRIC_GAUGE, "outpost_filesystem_free_bytes",
	    "Bytes free to Outpost on the queue and record file systems.",
	    "filesystem", NULL, 0);
}

static void
series_free(struct series *s)
{
	for (size_t i = 0; i < LABELS_MAX; i++)
		free(s->values[i]);
	free(s->le);
	free(s);
}

void
metric_clear(struct metric *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	while (m->first != NULL) {
		struct series *s = m->first;

		m->first = s->order;
		series_free(s);
	}
	memset(m->table, 0, sizeof(m->table));
	m->last = &m->first;
	m->nseries = 0;
	pthread_mutex_unlock(&m->mu);
}

void
metrics_free(void)
{
	while (families != NULL) {
		struct metric *m = families;

		families = m->next;
		metric_clear(m);
		pthread_mutex_destroy(&m->mu);
		for (size_t i = 0; i < m->nlabels; i++)
			free(m->labels[i]);
		free(m->name);
		free(m->help);
		free(m);
	}
	families_last = &families;
	pthread_mutex_lock(&collect_mu);
	free(collectors);
	collectors = NULL;
	ncollectors = 0;
	pthread_mutex_unlock(&collect_mu);
}

/* The series of values (created; "_other" once the family is full).
 * Called with m->mu held. */
static struct series *
series_get(struct metric *m, const char *const *values)
{
	const char *v[LABELS_MAX] = { 0 };
	uint64_t h = 1469598103934665603ULL;
	struct series *s, **slot;
	int retry = 0;

again:
	h = FNV_BASIS;
	for (size_t i = 0; i < m->nlabels; i++) {
		v[i] = retry ? METRIC_OTHER : values != NULL &&
		    values[i] != NULL ? values[i] : "";
		h = fnv1a(fnv1a(h, v[i]), "\xff");	/* 0xff ends a value */
	}
	slot = &m->table[h % BUCKETS];
	for (s = *slot; s != NULL; s = s->next) {
		size_t i = 0;

		while (i < m->nlabels && strcmp(s->values[i], v[i]) == 0)
			i++;
		if (i == m->nlabels)
			return s;
	}
	if (m->nseries >= METRIC_SERIES_MAX && m->nlabels > 0 && !retry) {
		retry = 1;
		goto again;
	}
	s = xcalloc(1, sizeof(*s));
	for (size_t i = 0; i < m->nlabels; i++)
		s->values[i] = xstrdup(v[i]);
	if (m->kind == METRIC_HISTOGRAM)
		s->le = xcalloc(m->nbounds + 1, sizeof(*s->le));
	s->next = *slot;
	*slot = s;
	*m->last = s;
	m->last = &s->order;
	m->nseries++;
	return s;
}

void
metric_add(struct metric *m, const char *const *values, double v)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	series_get(m, values)->value += v;
	pthread_mutex_unlock(&m->mu);
}

void
metric_set(struct metric *m, const char *const *values, double v)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	series_get(m, values)->value = v;
	pthread_mutex_unlock(&m->mu);
}

void
metric_observe(struct metric *m, const char *const *values, double v)
{
	struct series *s;
	size_t i = 0;

	if (m == NULL || isnan(v))
		return;
	pthread_mutex_lock(&m->mu);
	s = series_get(m, values);
	while (i < m->nbounds && v > m->bounds[i])
		i++;
	s->le[i]++;
	s->count++;
	s->value += v;
	pthread_mutex_unlock(&m->mu);
}

double
metric_total(struct metric *m)
{
	double t = 0;

	if (m == NULL)
		return 0;
	pthread_mutex_lock(&m->mu);
	for (struct series *s = m->first; s != NULL; s = s->order)
		t += m->kind == METRIC_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&m->mu);
	return t;
}

void
metrics_collector(metric_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&collect_mu);
	collectors = xreallocarray(collectors, ncollectors + 1,
	    sizeof(*collectors));
	collectors[ncollectors++] = (struct collector){ fn, arg };
	pthread_mutex_unlock(&collect_mu);
}

void
metrics_collector_remove(metric_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&collect_mu);
	for (size_t i = 0; i < ncollectors; i++)
		if (collectors[i].fn == fn && collectors[i].arg == arg) {
			memmove(&collectors[i], &collectors[i + 1],
			    (ncollectors - i - 1) * sizeof(*collectors));
			ncollectors--;
			break;
		}
	pthread_mutex_unlock(&collect_mu);
}

/* --- exposition ----------------------------------------------------------- */

static void
number(struct buf *b, double v)
{
	if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, "%.0f", v);
	else
		buf_printf(b, "%.15g", v);
}

/* HELP text: backslash and newline escaped; label values also '"'. */
static void
escaped(struct buf *b, const char *s, int quotes)
{
	for (; *s != '\0'; s++)
		if (*s == '\\')
			buf_adds(b, "\\\\");
		else if (*s == '\n')
			buf_adds(b, "\\n");
		else if (*s == '"' && quotes)
			buf_adds(b, "\\\"");
		else
			buf_add(b, s, 1);
}

/* {a="x",b="y"} plus an optional le; nothing when there is no label. */
static void
labels(struct buf *b, const struct metric *m, const struct series *s,
    const char *le)
{
	if (m->nlabels == 0 && le == NULL)
		return;
	buf_adds(b, "{");
	for (size_t i = 0; i < m->nlabels; i++) {
		buf_printf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
		escaped(b, s->values[i], 1);
		buf_adds(b, "\"");
	}
	if (le != NULL)
		buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
	buf_adds(b, "}");
}

static void
render_family(struct buf *b, struct metric *m)
{
	static const char *kind[] = { "counter", "gauge", "histogram" };

	pthread_mutex_lock(&m->mu);
	buf_printf(b, "# HELP %s ", m->name);
	escaped(b, m->help, 0);
	buf_printf(b, "\n# TYPE %s %s\n", m->name, kind[m->kind]);
	if (m->first == NULL && m->nlabels == 0) {
		/* An unlabelled family always has its one series. */
		struct series *s = series_get(m, NULL);

		(void)s;
	}
	for (struct series *s = m->first; s != NULL; s = s->order) {
		uint64_t cum = 0;
		char le[32];

		if (m->kind != METRIC_HISTOGRAM) {
			buf_adds(b, m->name);
			labels(b, m, s, NULL);
			buf_adds(b, " ");
			number(b, s->value);
			buf_adds(b, "\n");
			continue;
		}
		for (size_t i = 0; i <= m->nbounds; i++) {
			cum += s->le[i];
			if (i < m->nbounds)
				snprintf(le, sizeof(le), "%g", m->bounds[i]);
			else
				snprintf(le, sizeof(le), "+Inf");
			buf_printf(b, "%s_bucket", m->name);
			labels(b, m, s, le);
			buf_printf(b, " %llu\n", (unsigned long long)cum);
		}
		buf_printf(b, "%s_sum", m->name);
		labels(b, m, s, NULL);
		buf_adds(b, " ");
		number(b, s->value);
		buf_printf(b, "\n%s_count", m->name);
		labels(b, m, s, NULL);
		buf_printf(b, " %llu\n", (unsigned long long)s->count);
	}
	pthread_mutex_unlock(&m->mu);
}

double
metric_value(struct metric *m, const char *const *values)
{
	double v;

	if (m == NULL)
		return 0;
	pthread_mutex_lock(&m->mu);
	v = series_get(m, values)->value;
	pthread_mutex_unlock(&m->mu);
	return v;
}

void
metrics_collect(void)
{
	struct collector *list;
	size_t n;

	pthread_mutex_lock(&collect_mu);
	n = ncollectors;
	list = xcalloc(n + 1, sizeof(*list));
	if (n > 0)
		memcpy(list, collectors, n * sizeof(*list));
	pthread_mutex_unlock(&collect_mu);
	for (size_t i = 0; i < n; i++)
		list[i].fn(list[i].arg);
	free(list);
}

void
metrics_render(struct buf *out)
{
	metrics_collect();
	for (struct metric *m = families; m != NULL; m = m->next)
		render_family(out, m);
}

double
metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
