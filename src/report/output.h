/*
 * report/output: a report's figures, as text (text.c, pflogsumm's
 * layout) and as one self-contained HTML file with SVG plots (html.c).
 */
#ifndef OUTPOST_REPORT_OUTPUT_H
#define OUTPOST_REPORT_OUTPUT_H

#include <stdio.h>

#include "report/stats.h"

/* One input file: what was read from it, or why not. */
struct rp_file {
	char			*path;
	const char		*format;	/* "json", "accounting", NULL */
	const char		*skipped;	/* why it was not read */
	unsigned long long	 records, malformed, outside;
};

struct rp_report {
	struct rp_stats		*st;		/* the source counted */
	const char		*source;	/* its name */
	const struct rp_stats	*other;		/* read, not counted; NULL */
	const char		*other_source;
	const struct rp_file	*files;
	size_t			 nfiles;
	size_t			 top;		/* rows per table */
	long long		 since, until;	/* ms; -1: open */
};

void	rp_text(FILE *, struct rp_report *);
void	rp_html(FILE *, struct rp_report *);

/* "2026-12-04 10:00:00 +0000" (local time) into out. */
void	rp_fmt_time(char *out, size_t size, long long ms);

#endif
