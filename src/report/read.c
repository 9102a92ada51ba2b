/*
 * report/read: one record file, line by line (a line over LINE_MAX_LEN
 * is skipped as malformed, so memory never follows a file's size). A
 * line is a JSON record, an accounting file's header line (whose names
 * map the columns of the lines under it; several when files are joined
 * on standard input), or an accounting record; CSV records may go on
 * over line breaks inside quotes. A file whose first line is none of
 * these is not read. Each record inside the period goes to the stats of
 * its format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "records/bouncecat.h"
#include "report/parse.h"
#include "report/run.h"

struct reader {
	FILE		*f;
	struct buf	 line;
	int		 eof;
};

/* The next line, without its LF (and CR) in r->line: 1; 0 at the end;
 * -1 for a line over LINE_MAX_LEN (skipped). */
static int
next_line(struct reader *r)
{
	char chunk[65536];
	int over = 0;

	buf_reset(&r->line);
	if (r->eof)
		return 0;
	for (;;) {
		size_t n;

		if (fgets(chunk, sizeof(chunk), r->f) == NULL) {
			r->eof = 1;
			if (r->line.len == 0 && !over)
				return 0;
			break;
		}
		n = strlen(chunk);	/* a NUL byte cuts the chunk short */
		if (n > 0 && chunk[n - 1] == '\n') {
			n--;
			if (!over)
				buf_add(&r->line, chunk, n);
			break;
		}
		if (!over && r->line.len + n > LINE_MAX_LEN) {
			over = 1;
			buf_reset(&r->line);
		}
		if (!over)
			buf_add(&r->line, chunk, n);
	}
	if (over)
		return -1;
	if (r->line.len > 0 && r->line.p[r->line.len - 1] == '\r')
		r->line.p[--r->line.len] = '\0';
	return 1;
}

/* The bounce category of a JSON bounce: by the same rules as
 * accounting_files, from the reason ("550 - text", "5.1.1 text"). */
static const char *
json_bcat(const struct run *run, const struct rp_record *r)
{
	const char *text = r->reason != NULL ? r->reason : "";
	int code = 0;

	if (strlen(text) > 6 && text[0] >= '2' && text[0] <= '5' &&
	    strncmp(text + 3, " - ", 3) == 0) {
		code = atoi(text);
		text += 6;
	} else if (r->status != NULL && *r->status != '\0' &&
	    strncmp(text, r->status, strlen(r->status)) == 0) {
		text += strlen(r->status);
		text += *text == ' ';
	}
	return bouncecat_name(bouncecat_classify(run->bc, code, r->status,
	    text));
}

static void
count(struct run *run, struct rp_file *f, const struct rp_record *r,
    int json)
{
	if ((run->since >= 0 || run->until >= 0) && (r->time_ms < 0 ||
	    (run->since >= 0 && r->time_ms < run->since) ||
	    (run->until >= 0 && r->time_ms >= run->until))) {
		f->outside++;
		return;
	}
	f->records++;
	if (r->fb != RP_FB_NONE)
		rp_stats_feedback(json ? &run->json : &run->acct, r);
	else if (json)
		rp_stats_add(&run->json, r, r->type == RP_BOUNCED ?
		    json_bcat(run, r) : NULL);
	else
		rp_stats_add(&run->acct, r, NULL);
}

/* The type of an accounting file's lines without a type column. */
static int
kind_of(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	return strncmp(base, "df.", 3) == 0 ? RP_DEFERRED :
	    strncmp(base, "d.", 2) == 0 ? RP_DELIVERED :
	    strncmp(base, "b.", 2) == 0 ? RP_BOUNCED :
	    strncmp(base, "rb.", 3) == 0 ? RP_KIND_RB :
	    strncmp(base, "f.", 2) == 0 ? RP_KIND_F : -1;
}

/* What a file held: "json", "accounting", or "json+accounting". */
static void
format(struct rp_file *f, const char *what)
{
	if (f->format == NULL)
		f->format = what;
	else if (strcmp(f->format, what) != 0)
		f->format = "json+accounting";
}

void
rp_read(struct run *run, struct rp_file *f)
{
	struct reader rd = { NULL, BUF_INIT, 0 };
	struct buf store = BUF_INIT, more = BUF_INIT;
	struct rp_cols cols;
	struct rp_record r;
	int rc, have_cols = 0, kind = kind_of(f->path);

	rd.f = strcmp(f->path, "-") == 0 ? stdin : fopen(f->path, "r");
	if (rd.f == NULL) {
		fprintf(stderr, "outpost report: %s: %s\n", f->path,
		    strerror(errno));
		f->skipped = "cannot be read";
		run->errors++;
		return;
	}
	while ((rc = next_line(&rd)) != 0) {
		if (rc < 0) {
			f->malformed++;
			continue;
		}
		if (rd.line.len == 0)
			continue;
		/* A JSON line, a header line (the first, or files joined on
		 * standard input), or a line under the last header. */
		if (rd.line.p[0] == '{') {
			rc = rp_json_line(rd.line.p, rd.line.len, &r, &store);
			if (rc >= 0) {
				format(f, "json");
				count(run, f, &r, 1);
				continue;
			}
			if (!have_cols) {	/* else: "{a}@b" may start one */
				f->malformed++;
				continue;
			}
		} else if (rp_acct_is_header(rd.line.p, rd.line.len) &&
		    rp_acct_header(rd.line.p, rd.line.len, run->sep, &cols) ==
		    0) {
			format(f, "accounting");
			have_cols = 1;
			continue;
		} else if (!have_cols) {
			if (f->format == NULL && f->malformed == 0) {
				f->skipped = "not a record file (its first "
				    "line is neither JSON nor a header line)";
				break;
			}
			f->malformed++;
			continue;
		}
		/* CSV: a quoted value may hold line breaks. */
		if (cols.csv && rp_csv_open(rd.line.p, rd.line.len)) {
			int open = 1;

			buf_reset(&more);
			buf_add(&more, rd.line.p, rd.line.len);
			while (open && more.len < LINE_MAX_LEN &&
			    next_line(&rd) > 0) {
				open ^= rp_csv_open(rd.line.p, rd.line.len);
				buf_addc(&more, '\n');
				buf_add(&more, rd.line.p, rd.line.len);
			}
			buf_reset(&rd.line);
			buf_add(&rd.line, more.p, more.len);
		}
		if (rp_acct_line(&cols, rd.line.p, rd.line.len, kind, &r,
		    &store) >= 0)
			count(run, f, &r, 0);
		else
			f->malformed++;
	}
	if (ferror(rd.f)) {
		fprintf(stderr, "outpost report: %s: %s\n", f->path,
		    strerror(errno));
		run->errors++;
	}
	if (rd.f != stdin)
		fclose(rd.f);
	buf_free(&rd.line);
	buf_free(&store);
	buf_free(&more);
}
