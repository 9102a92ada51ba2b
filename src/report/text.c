/*
 * report/text: a report as plain text, laid out like pflogsumm's
 * summary: grand totals, delays, per-day and per-hour traffic, then the
 * top tables, then what was wrong with the input. Counts come first on
 * each row and keys last, so long keys never shift columns; control
 * characters from the records print as '?'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/output.h"

static const char *const type_names[RP_NTYPES] = {
	"delivered", "deferred", "bounced"
};

void
rp_fmt_time(char *out, size_t size, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(out, size, "-");
}

static void
put_safe(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static void
title(FILE *f, const char *t)
{
	size_t n = strlen(t);

	fprintf(f, "\n%s\n", t);
	while (n-- > 0)
		fputc('-', f);
	fputc('\n', f);
}

static void
totals(FILE *f, const struct rp_report *rep)
{
	const struct rp_stats *s = rep->st;

	title(f, "Grand Totals");
	for (int t = 0; t < RP_NTYPES; t++)
		fprintf(f, "  %-12s %12llu\n", type_names[t], s->n[t]);
	fprintf(f, "  %-12s %12llu\n", "records", s->records);
	fprintf(f, "  %-12s %12llu%s\n", "queue ids",
	    (unsigned long long)s->jobs.used,
	    s->jobs.other.total > 0 ? " (at least)" : "");
	fprintf(f, "  %-12s %12llu%s\n", "recipients",
	    (unsigned long long)s->rcpts.used,
	    s->rcpts.other.total > 0 ? " (at least)" : "");
	if (s->no_time > 0)
		fprintf(f, "  %-12s %12llu\n", "no time", s->no_time);
}

static void
delays(FILE *f, struct rp_report *rep)
{
	static const double ps[] = { 50, 90, 99 };
	struct rp_stats *s = rep->st;

	title(f, "Delivery Delays (delivered: seconds from queued to "
	    "delivered)");
	fprintf(f, "  %-12s %12llu%s\n", "count", s->delays_seen,
	    rp_stats_sampled(s) ? " (percentiles from a uniform sample)" :
	    "");
	if (s->delays_seen == 0)
		return;
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		fprintf(f, "  p%-11.0f %12.3f\n", ps[i],
		    rp_stats_percentile(s, ps[i]));
	fprintf(f, "  %-12s %12.3f\n", "max", s->delay_max);
	fprintf(f, "\n");
	for (int b = 0; b < RP_DELAY_BUCKETS; b++)
		fprintf(f, "  %-12s %12llu\n", rp_delay_labels[b],
		    s->delay_hist[b]);
}

static void
header3(FILE *f, const char *key)
{
	fprintf(f, "  %10s %10s %10s  %s\n", "delivered", "deferred",
	    "bounced", key);
}

static void
row3(FILE *f, const unsigned long long n[RP_NTYPES], const char *key)
{
	fprintf(f, "  %10llu %10llu %10llu  ", n[0], n[1], n[2]);
	put_safe(f, key);
	fputc('\n', f);
}

static void
days(FILE *f, const struct rp_report *rep)
{
	const struct rp_entry **v;
	size_t n;

	title(f, "Per-Day Traffic Summary");
	header3(f, "date");
	v = rp_map_by_key(&rep->st->days, &n);
	for (size_t i = 0; i < n; i++)
		row3(f, v[i]->n, v[i]->key);
	free(v);
}

static void
hours(FILE *f, const struct rp_report *rep)
{
	char h[16];

	title(f, "Per-Hour Traffic Summary (hour of day, local time)");
	header3(f, "hour");
	for (int i = 0; i < 24; i++) {
		snprintf(h, sizeof(h), "%02d:00", i);
		row3(f, rep->st->hours[i], h);
	}
}

static void
table3(FILE *f, const struct rp_map *m, size_t top, const char *name,
    const char *key)
{
	const struct rp_entry **v;
	size_t n;
	char t[128];

	snprintf(t, sizeof(t), "%s (top %zu of %zu)", name, top, m->used);
	title(f, t);
	v = rp_map_top(m, top, &n);
	if (n == 0)
		fprintf(f, "  none\n");
	else
		header3(f, key);
	for (size_t i = 0; i < n; i++)
		row3(f, v[i]->n, v[i]->key);
	free(v);
}

static void
table1(FILE *f, const struct rp_map *m, size_t top, const char *name)
{
	const struct rp_entry **v;
	size_t n;
	char t[128];

	snprintf(t, sizeof(t), "%s (top %zu of %zu)", name, top, m->used);
	title(f, t);
	v = rp_map_top(m, top, &n);
	if (n == 0)
		fprintf(f, "  none\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  %10llu  ", v[i]->total);
		put_safe(f, v[i]->key);
		fputc('\n', f);
	}
	free(v);
}

/* Remote bounces and complaints: after the delivery, counted apart. */
static void
feedback(FILE *f, const struct rp_report *rep)
{
	const struct rp_stats *s = rep->st;
	const struct rp_entry **v;
	size_t n;
	char t[128];

	title(f, "Feedback After Delivery");
	fprintf(f, "  %-15s %12llu\n", "remote bounces", s->fb[RP_FB_BOUNCE]);
	fprintf(f, "  %-15s %12llu\n", "complaints", s->fb[RP_FB_COMPLAINT]);
	snprintf(t, sizeof(t), "Feedback by Recipient Domain (top %zu of %zu)",
	    rep->top, s->fb_domains.used);
	title(f, t);
	v = rp_map_top(&s->fb_domains, rep->top, &n);
	if (n == 0)
		fprintf(f, "  none\n");
	else
		fprintf(f, "  %10s  %10s  domain\n", "rbounced", "complained");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  %10llu  %10llu  ", v[i]->n[RP_FB_BOUNCE],
		    v[i]->n[RP_FB_COMPLAINT]);
		put_safe(f, v[i]->key);
		fputc('\n', f);
	}
	free(v);
	table1(f, &s->fb_bcats, rep->top, "Remote Bounce Categories");
	table1(f, &s->fb_types, rep->top, "Complaint Feedback Types");
}

static void
files(FILE *f, const struct rp_report *rep)
{
	title(f, "Input Files");
	for (size_t i = 0; i < rep->nfiles; i++) {
		const struct rp_file *r = &rep->files[i];

		fprintf(f, "  ");
		put_safe(f, r->path);
		if (r->skipped != NULL)
			fprintf(f, ": skipped: %s\n", r->skipped);
		else
			fprintf(f, ": %s, %llu records\n", r->format != NULL ?
			    r->format : "empty", r->records);
	}
	for (size_t i = 0; i < rep->nfiles; i++) {
		const struct rp_file *r = &rep->files[i];

		if (r->malformed > 0) {
			fprintf(f, "  %llu malformed line%s in ", r->malformed,
			    r->malformed == 1 ? "" : "s");
			put_safe(f, r->path);
			fputc('\n', f);
		}
		if (r->outside > 0) {
			fprintf(f, "  %llu record%s outside the period in ",
			    r->outside, r->outside == 1 ? "" : "s");
			put_safe(f, r->path);
			fputc('\n', f);
		}
	}
}

void
rp_text(FILE *f, struct rp_report *rep)
{
	const struct rp_stats *s = rep->st;
	char a[64], b[64];

	fprintf(f, "Outpost record report\n=====================\n");
	fprintf(f, "Source:  %s (%zu file%s)\n", rep->source,
	    rep->nfiles, rep->nfiles == 1 ? "" : "s");
	if (rep->other != NULL)
		fprintf(f, "Not counted: %s (the same events): %llu delivered, "
		    "%llu deferred, %llu bounced\n", rep->other_source,
		    rep->other->n[0], rep->other->n[1], rep->other->n[2]);
	rp_fmt_time(a, sizeof(a), s->first_ms);
	rp_fmt_time(b, sizeof(b), s->last_ms);
	fprintf(f, "Records: %s .. %s\n", a, b);
	if (rep->since >= 0 || rep->until >= 0) {
		rp_fmt_time(a, sizeof(a), rep->since);
		rp_fmt_time(b, sizeof(b), rep->until);
		fprintf(f, "Period:  since %s, until %s\n", a, b);
	}
	totals(f, rep);
	delays(f, rep);
	days(f, rep);
	hours(f, rep);
	table3(f, &s->domains, rep->top, "Recipient Domains", "domain");
	table1(f, &s->bcats, rep->top, "Bounce Categories");
	table1(f, &s->deferrals, rep->top, "Deferral Reasons");
	table1(f, &s->bounces, rep->top, "Bounce Reasons");
	feedback(f, rep);
	files(f, rep);
}
