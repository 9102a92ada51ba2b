/*
 * report: `outpost report [-c ROOT] [--html FILE] [--since T] [--until T]
 * [--top N] [--source auto|accounting|json] [FILE|DIR|-]...`. Finds the
 * record files (named ones, the known names under named directories, or
 * the record directories ROOT/config names), reads each line by line —
 * memory bounded by the distinct keys, never by the files' size — and
 * hands the figures to text.c and html.c.
 *
 * A file's first line tells its format: "{" a JSON log, else an
 * accounting file's header line. Lines that do not parse are counted per
 * file and skipped. Both formats record the same events: the report
 * counts one source (accounting files when any was read, else the JSON
 * logs, or as --source says) and names the other's totals beside it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "records/bouncecat.h"
#include "records/record.h"
#include "report/output.h"
#include "report/parse.h"
#include "report/report.h"
#include "report/stats.h"

#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_CANTCREAT	73
#define LINE_MAX_LEN	(1u << 20)	/* longer lines are malformed */
#define MAX_DEPTH	8		/* directory levels walked */

enum { SRC_AUTO, SRC_ACCT, SRC_JSON };

struct run {
	struct rp_file		*files;
	size_t			 nfiles;
	struct { dev_t dev; ino_t ino; } *seen;
	size_t			 nseen;
	const char		*json_name;	/* the JSON log's file name */
	const char		*sep;		/* configured separator; NULL */
	struct bouncecat	*bc;
	long long		 since, until;
	struct rp_stats		 acct, json;
	int			 errors;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: outpost report [-c ROOT] [--html FILE] [--since TIME] "
	    "[--until TIME]\n"
	    "                      [--top N] [--source auto|accounting|json] "
	    "[FILE|DIR|-]...\n"
	    "Totals, destinations, bounce categories, deferral reasons, hourly\n"
	    "volume and delivery delays from outbound_logger JSON logs and\n"
	    "accounting files (archives included). Without FILE, the record\n"
	    "directories ROOT/config names. TIME: YYYY-MM-DD[ HH:MM[:SS]]\n"
	    "[Z|+hh:mm], local time without a zone; --until is exclusive.\n");
}

/* --- finding files ------------------------------------------------------ */

static void
add_file(struct run *run, const char *path, const char *skipped)
{
	struct rp_file *f;

	run->files = xreallocarray(run->files, run->nfiles + 1,
	    sizeof(*run->files));
	f = &run->files[run->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	f->skipped = skipped;
}

/* Whether a file (by device and inode) was taken already. */
static int
seen(struct run *run, const struct stat *st)
{
	for (size_t i = 0; i < run->nseen; i++)
		if (run->seen[i].dev == st->st_dev &&
		    run->seen[i].ino == st->st_ino)
			return 1;
	run->seen = xreallocarray(run->seen, run->nseen + 1,
	    sizeof(*run->seen));
	run->seen[run->nseen].dev = st->st_dev;
	run->seen[run->nseen++].ino = st->st_ino;
	return 0;
}

static int
compressed(const char *name)
{
	static const char *const exts[] = { ".gz", ".bz2", ".xz", ".zst" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (n > strlen(exts[i]) &&
		    strcmp(name + n - strlen(exts[i]), exts[i]) == 0)
			return 1;
	return 0;
}

/* <d|df|b>.<yyyy-mm-dd-HHMMss>[.<n>].<ext>: an accounting file. */
static int
acct_name(const char *name)
{
	static const char stamp[] = "dddd-dd-dd-dddddd";
	const char *p = strchr(name, '.');

	if (p == NULL || (p - name != 1 && p - name != 2) ||
	    (strncmp(name, "d.", 2) != 0 && strncmp(name, "df.", 3) != 0 &&
	    strncmp(name, "b.", 2) != 0))
		return 0;
	p++;
	for (size_t i = 0; stamp[i] != '\0'; i++, p++)
		if (stamp[i] == 'd' ? *p < '0' || *p > '9' : *p != stamp[i])
			return 0;
	return *p == '.' && p[1] != '\0';
}

/* The JSON log and its rotations: outbound.log, .1, -20261204 ... */
static int
json_name(const struct run *run, const char *name)
{
	size_t n = strlen(run->json_name);

	return strncmp(name, run->json_name, n) == 0 && (name[n] == '\0' ||
	    name[n] == '.' || name[n] == '-');
}

static void
walk(struct run *run, const char *dir, int depth)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0) {
		fprintf(stderr, "outpost report: %s: %s\n", dir,
		    strerror(errno));
		run->errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = xasprintf("%s/%s", dir, name);
		struct stat st;

		if (name[0] != '.' && lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH)
				walk(run, path, depth + 1);
			else if (S_ISREG(st.st_mode) && (acct_name(name) ||
			    json_name(run, name)) && !seen(run, &st))
				add_file(run, path, compressed(name) ?
				    "compressed: not read (decompress it, or "
				    "pipe it to outpost report -)" : NULL);
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

/* A path of the command line (or of ROOT/config); -1 when missing. */
static int
add_path(struct run *run, const char *path, int named)
{
	struct stat st;

	if (strcmp(path, "-") == 0) {
		add_file(run, path, NULL);
		return 0;
	}
	if (stat(path, &st) != 0) {
		if (!named && errno == ENOENT)
			return 0;	/* a record directory not made yet */
		fprintf(stderr, "outpost report: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		walk(run, path, 0);
	else if (!seen(run, &st))
		add_file(run, path, compressed(path) ? "compressed: not read "
		    "(decompress it, or pipe it to outpost report -)" : NULL);
	return 0;
}

static void
add_dir(void *arg, const char *dir)
{
	add_path(arg, dir, 0);
}

/* -c ROOT: the JSON log's name, the separator, the bounce rules, the
 * record directories. */
static int
from_root(struct run *run, const char *root, int dirs, struct ini **ol,
    struct ini **af)
{
	char *cdir = xasprintf("%s/config", root), *path;
	struct stat st;
	int exists;
	const char *v;

	if (stat(cdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outpost report: %s: %s\n", cdir,
		    strerror(errno ? errno : ENOTDIR));
		free(cdir);
		return -1;
	}
	path = xasprintf("%s/outbound_logger.ini", cdir);
	*ol = ini_load(path, "outbound_logger.ini", &exists, NULL, NULL);
	free(path);
	if (*ol != NULL && (v = ini_get(*ol, "file", "filename")) != NULL &&
	    *v != '\0')
		run->json_name = v;
	path = xasprintf("%s/accounting_files.ini", cdir);
	*af = ini_load(path, "accounting_files.ini", &exists, NULL, NULL);
	free(path);
	if (*af != NULL && (v = ini_get(*af, "main", "separator")) != NULL &&
	    *v != '\0')
		run->sep = strcmp(v, "\\t") == 0 ? "\t" : v;
	path = xasprintf("%s/bounce_categories", cdir);
	if (bouncecat_load(run->bc, path, NULL, NULL) < 0)
		fprintf(stderr, "outpost report: %s: %s; using the built-in "
		    "bounce categories\n", path, strerror(errno));
	free(path);
	if (dirs) {
		outbound_logger_dirs(cdir, add_dir, run);
		accounting_files_dirs(cdir, add_dir, run);
	}
	free(cdir);
	return 0;
}

/* --- reading ------------------------------------------------------------ */

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
	if (json)
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
	    strncmp(base, "b.", 2) == 0 ? RP_BOUNCED : -1;
}

static void
read_records(struct run *run, struct rp_file *f)
{
	struct reader rd = { NULL, BUF_INIT, 0 };
	struct buf store = BUF_INIT, header = BUF_INIT, more = BUF_INIT;
	struct rp_cols cols;
	struct rp_record r;
	int rc, json = -1, kind = kind_of(f->path);

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
		if (json < 0) {			/* the first line */
			json = rd.line.p[0] == '{';
			f->format = json ? "json" : "accounting";
			if (!json) {
				if (rp_acct_header(rd.line.p, rd.line.len,
				    run->sep, &cols) != 0) {
					f->skipped = "not a record file (no "
					    "header line)";
					f->format = NULL;
					break;
				}
				buf_add(&header, rd.line.p, rd.line.len);
				continue;
			}
		}
		if (json) {
			if (rp_json_line(rd.line.p, rd.line.len, &r, &store)
			    == 0)
				count(run, f, &r, 1);
			else
				f->malformed++;
			continue;
		}
		if (rd.line.len == header.len &&
		    memcmp(rd.line.p, header.p, header.len) == 0)
			continue;	/* files joined: a header again */
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
		    &store) == 0)
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
	buf_free(&header);
	buf_free(&more);
}

/* --- the command -------------------------------------------------------- */

static int
time_arg(const char *opt, const char *v, long long *out)
{
	if ((*out = rp_time(v)) < 0) {
		fprintf(stderr, "outpost report: %s '%s': not a time "
		    "(YYYY-MM-DD[ HH:MM[:SS]][Z|+hh:mm])\n", opt, v);
		return -1;
	}
	return 0;
}

static int
write_html(const char *path, struct rp_report *rep)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "outpost report: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	rp_html(f, rep);
	if (fclose(f) != 0) {
		fprintf(stderr, "outpost report: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Which source the report counts; the other is named beside it. */
static void
choose(struct run *run, int source, struct rp_report *rep)
{
	int acct = source == SRC_ACCT || (source == SRC_AUTO &&
	    run->acct.records > 0);

	rep->st = acct ? &run->acct : &run->json;
	rep->source = acct ? "accounting files" : "JSON logs";
	rep->other = acct ? &run->json : &run->acct;
	rep->other_source = acct ? "JSON logs" : "accounting files";
	if (rep->other->records == 0)
		rep->other = NULL;
}

int
report_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "html", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "top", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct run run;
	struct rp_report rep;
	struct ini *ol = NULL, *af = NULL;
	const char *root = NULL, *html = NULL;
	int ch, source = SRC_AUTO, rc = EXIT_SUCCESS;
	char *end;
	long top = 20;

	memset(&run, 0, sizeof(run));
	run.since = run.until = -1;
	run.json_name = "outbound.log";
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			root = optarg;
			break;
		case 'H':
			html = optarg;
			break;
		case 's':
			if (time_arg("--since", optarg, &run.since) != 0)
				return EXIT_USAGE;
			break;
		case 'u':
			if (time_arg("--until", optarg, &run.until) != 0)
				return EXIT_USAGE;
			break;
		case 't':
			top = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || top < 1 ||
			    top > 100000) {
				fprintf(stderr, "outpost report: --top '%s': "
				    "not a number from 1 to 100000\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (strcmp(optarg, "accounting") == 0)
				source = SRC_ACCT;
			else if (strcmp(optarg, "json") == 0)
				source = SRC_JSON;
			else if (strcmp(optarg, "auto") == 0)
				source = SRC_AUTO;
			else {
				fprintf(stderr, "outpost report: --source "
				    "'%s': auto, accounting or json\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case ':':
			fprintf(stderr, "outpost report: %s needs a value\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "outpost report: unknown option %s\n",
			    argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc && root == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	run.bc = bouncecat_new();
	rp_stats_init(&run.acct);
	rp_stats_init(&run.json);
	if (root != NULL && from_root(&run, root, optind == argc, &ol, &af) !=
	    0) {
		rc = EXIT_NOINPUT;
		goto out;
	}
	for (int i = optind; i < argc; i++)
		if (add_path(&run, argv[i], 1) != 0) {
			rc = EXIT_NOINPUT;
			goto out;
		}
	for (size_t i = 0; i < run.nfiles; i++)
		if (run.files[i].skipped == NULL)
			read_records(&run, &run.files[i]);
	memset(&rep, 0, sizeof(rep));
	choose(&run, source, &rep);
	rep.files = run.files;
	rep.nfiles = run.nfiles;
	rep.top = (size_t)top;
	rep.since = run.since;
	rep.until = run.until;
	rp_text(stdout, &rep);
	if (fflush(stdout) != 0)
		rc = EXIT_FAILURE;
	if (html != NULL && write_html(html, &rep) != 0)
		rc = EXIT_CANTCREAT;
	else if (run.errors > 0)
		rc = EXIT_FAILURE;
out:
	for (size_t i = 0; i < run.nfiles; i++)
		free(run.files[i].path);
	free(run.files);
	free(run.seen);
	rp_stats_free(&run.acct);
	rp_stats_free(&run.json);
	bouncecat_free(run.bc);
	ini_free(ol);
	ini_free(af);
	return rc;
}
