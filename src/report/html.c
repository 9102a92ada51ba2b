/*
 * report/html: a report as one self-contained HTML file — inline CSS,
 * two inline SVG plots drawn here (hourly volume by type, stacked; the
 * delivery delay distribution), the tables of the text report. Every
 * string that comes from a record is escaped (esc()): they are the
 * senders' and receivers' words, not ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "report/output.h"

static const char *const type_names[RP_NTYPES] = {
	"delivered", "deferred", "bounced"
};
static const char *const colours[RP_NTYPES] = {
	"#2e7d32", "#f9a825", "#c62828"
};

/* Text for HTML content and attribute values: &<>"' as entities,
 * control characters as '?', bytes that are not UTF-8 as U+FFFD. */
static void
esc(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t avail = strlen(s), n;

	while (avail > 0) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fputc('?', f);
				break;
			}
			if (*p < 0x80) {
				fputc(*p, f);
				break;
			}
			if ((n = utf8_len(p, avail)) == 0) {
				fputs("&#xfffd;", f);
				break;
			}
			fwrite(p, 1, n, f);
			p += n;
			avail -= n;
			continue;
		}
		p++;
		avail--;
	}
}

static void
head(FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Outpost record report</title>\n<style>\n"
	    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\n"
	    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;"
	    "border-bottom:1px solid #ccc}\n"
	    "table{border-collapse:collapse}td,th{padding:2px 10px;"
	    "border-bottom:1px solid #eee;text-align:left}\n"
	    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	    "svg{background:#fafafa;border:1px solid #ddd}\n"
	    ".key span{display:inline-block;width:10px;height:10px;"
	    "margin:0 4px 0 12px}\n"
	    "</style></head><body>\n<h1>Outpost record report</h1>\n", f);
}

static void
row_n(FILE *f, const char *label, unsigned long long n)
{
	fprintf(f, "<tr><th>%s</th><td class=\"n\">%llu</td></tr>\n", label, n);
}

static void
summary(FILE *f, struct rp_report *rep)
{
	const struct rp_stats *s = rep->st;
	char a[64], b[64];

	rp_fmt_time(a, sizeof(a), s->first_ms);
	rp_fmt_time(b, sizeof(b), s->last_ms);
	fprintf(f, "<p>Source: %s. Records from %s to %s.</p>\n", rep->source,
	    a, b);
	if (rep->other != NULL)
		fprintf(f, "<p>Not counted: %s (the same events): %llu "
		    "delivered, %llu deferred, %llu bounced.</p>\n",
		    rep->other_source, rep->other->n[0], rep->other->n[1],
		    rep->other->n[2]);
	fputs("<h2>Grand totals</h2>\n<table>\n", f);
	for (int t = 0; t < RP_NTYPES; t++)
		row_n(f, type_names[t], s->n[t]);
	row_n(f, "records", s->records);
	row_n(f, "queue ids", s->jobs.used);
	row_n(f, "recipients", s->rcpts.used);
	fputs("</table>\n", f);
}

/* Bars of one or more series, stacked: v[i][k], n bars, k < series. */
static void
bars(FILE *f, size_t n, int series, const unsigned long long (*v)[3],
    const char *const *labels, int label_every)
{
	const int w = 760, h = 260, left = 60, bottom = 40, top = 10;
	double max = 0, bw = (double)(w - left - 10) / (double)n;

	for (size_t i = 0; i < n; i++) {
		double t = 0;

		for (int k = 0; k < series; k++)
			t += (double)v[i][k];
		if (t > max)
			max = t;
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", w, h, w, h);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
	    "stroke=\"#888\"/>\n", left, h - bottom, w - 10, h - bottom);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
	    "text-anchor=\"end\">%.0f</text>\n", left - 4, top + 10, max);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
	    "text-anchor=\"end\">0</text>\n", left - 4, h - bottom);
	for (size_t i = 0; i < n; i++) {
		double y = h - bottom, x = left + bw * (double)i;

		for (int k = 0; k < series && max > 0; k++) {
			double bh = (double)v[i][k] / max *
			    (double)(h - bottom - top);

			if (v[i][k] == 0)
				continue;
			y -= bh;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\"><title>%s %s: %llu"
			    "</title></rect>\n", x + 1, y, bw - 2, bh,
			    series == 1 ? colours[0] : colours[k], labels[i],
			    series == 1 ? "" : type_names[k], v[i][k]);
		}
		if (i % (size_t)label_every == 0)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
			    "text-anchor=\"middle\">%s</text>\n", x + bw / 2,
			    h - bottom + 15, labels[i]);
	}
	fputs("</svg>\n", f);
}

static void
plots(FILE *f, struct rp_report *rep)
{
	static const char *const hour_labels[24] = {
		"00", "01", "02", "03", "04", "05", "06", "07", "08", "09",
		"10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
		"20", "21", "22", "23"
	};
	unsigned long long hist[RP_DELAY_BUCKETS][3];
	struct rp_stats *s = rep->st;

	fputs("<h2>Hourly volume (hour of day, local time)</h2>\n"
	    "<p class=\"key\">", f);
	for (int t = 0; t < RP_NTYPES; t++)
		fprintf(f, "<span style=\"background:%s\"></span>%s",
		    colours[t], type_names[t]);
	fputs("</p>\n", f);
	bars(f, 24, RP_NTYPES, (const unsigned long long (*)[3])s->hours,
	    hour_labels, 1);
	fputs("<h2>Delivery delay (seconds from queued to delivered)</h2>\n",
	    f);
	memset(hist, 0, sizeof(hist));
	for (int b = 0; b < RP_DELAY_BUCKETS; b++)
		hist[b][0] = s->delay_hist[b];
	bars(f, RP_DELAY_BUCKETS, 1, (const unsigned long long (*)[3])hist,
	    rp_delay_labels, 1);
	fprintf(f, "<table>\n<tr><th>count</th><td class=\"n\">%llu</td></tr>\n",
	    s->delays_seen);
	if (s->delays_seen > 0)
		fprintf(f, "<tr><th>p50</th><td class=\"n\">%.3f</td></tr>\n"
		    "<tr><th>p90</th><td class=\"n\">%.3f</td></tr>\n"
		    "<tr><th>p99</th><td class=\"n\">%.3f</td></tr>\n"
		    "<tr><th>max</th><td class=\"n\">%.3f</td></tr>\n",
		    rp_stats_percentile(s, 50), rp_stats_percentile(s, 90),
		    rp_stats_percentile(s, 99), s->delay_max);
	fputs("</table>\n", f);
}

static void
table(FILE *f, const struct rp_map *m, size_t top, const char *name,
    int per_type)
{
	const struct rp_entry **v;
	size_t n;

	if (top > 0)
		fprintf(f, "<h2>%s (top %zu of %zu)</h2>\n", name, top,
		    m->used);
	else
		fprintf(f, "<h2>%s</h2>\n", name);
	fputs("<table>\n<tr>", f);
	if (per_type)
		fputs("<th>delivered</th><th>deferred</th><th>bounced</th>", f);
	else
		fputs("<th>count</th>", f);
	fputs("<th></th></tr>\n", f);
	v = top > 0 ? rp_map_top(m, top, &n) : rp_map_by_key(m, &n);
	for (size_t i = 0; i < n; i++) {
		fputs("<tr>", f);
		if (per_type)
			for (int t = 0; t < RP_NTYPES; t++)
				fprintf(f, "<td class=\"n\">%llu</td>",
				    v[i]->n[t]);
		else
			fprintf(f, "<td class=\"n\">%llu</td>", v[i]->total);
		fputs("<td>", f);
		esc(f, v[i]->key);
		fputs("</td></tr>\n", f);
	}
	free(v);
	fputs("</table>\n", f);
}

/* Remote bounces and complaints: after the delivery, counted apart. */
static void
feedback(FILE *f, const struct rp_report *rep)
{
	const struct rp_stats *s = rep->st;
	const struct rp_entry **v;
	size_t n;

	fputs("<h2>Feedback after delivery</h2>\n<table>\n", f);
	row_n(f, "remote bounces", s->fb[RP_FB_BOUNCE]);
	row_n(f, "complaints", s->fb[RP_FB_COMPLAINT]);
	fputs("</table>\n", f);
	fprintf(f, "<h2>Feedback by recipient domain (top %zu of %zu)</h2>\n"
	    "<table>\n<tr><th>remote bounces</th><th>complaints</th><th></th>"
	    "</tr>\n", rep->top, s->fb_domains.used);
	v = rp_map_top(&s->fb_domains, rep->top, &n);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "<tr><td class=\"n\">%llu</td><td class=\"n\">%llu"
		    "</td><td>", v[i]->n[RP_FB_BOUNCE], v[i]->n[RP_FB_COMPLAINT]);
		esc(f, v[i]->key);
		fputs("</td></tr>\n", f);
	}
	free(v);
	fputs("</table>\n", f);
	table(f, &s->fb_bcats, rep->top, "Remote bounce categories", 0);
	table(f, &s->fb_types, rep->top, "Complaint feedback types", 0);
}

static void
files(FILE *f, const struct rp_report *rep)
{
	fputs("<h2>Input files</h2>\n<table>\n<tr><th>file</th><th>format"
	    "</th><th>records</th><th>malformed lines</th><th>outside the "
	    "period</th></tr>\n", f);
	for (size_t i = 0; i < rep->nfiles; i++) {
		const struct rp_file *r = &rep->files[i];

		fputs("<tr><td>", f);
		esc(f, r->path);
		fputs("</td><td>", f);
		esc(f, r->skipped != NULL ? r->skipped : r->format != NULL ?
		    r->format : "empty");
		fprintf(f, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
		    "</td><td class=\"n\">%llu</td></tr>\n", r->records,
		    r->malformed, r->outside);
	}
	fputs("</table>\n", f);
}

void
rp_html(FILE *f, struct rp_report *rep)
{
	head(f);
	summary(f, rep);
	plots(f, rep);
	table(f, &rep->st->days, 0, "Per day", 1);
	table(f, &rep->st->domains, rep->top, "Recipient domains", 1);
	table(f, &rep->st->bcats, rep->top, "Bounce categories", 0);
	table(f, &rep->st->deferrals, rep->top, "Deferral reasons", 0);
	table(f, &rep->st->bounces, rep->top, "Bounce reasons", 0);
	feedback(f, rep);
	files(f, rep);
	fputs("</body></html>\n", f);
}
