/*
 * report: `outpost report [-c ROOT] [--html FILE] [--since T] [--until T]
 * [--top N] [--source auto|accounting|json] [FILE|DIR|-]...`: the
 * options, then files.c finds the record files, read.c reads them and
 * text.c and html.c write what stats.c counted.
 *
 * Both formats record the same events: the report counts one source
 * (accounting files when any record was read from one, else the JSON
 * logs, or as --source says) and names the other's totals beside it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "records/bouncecat.h"
#include "report/output.h"
#include "report/parse.h"
#include "report/report.h"
#include "report/run.h"
#include "report/stats.h"

#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_CANTCREAT	73

enum { SRC_AUTO, SRC_ACCT, SRC_JSON };

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
	    run->acct.records + run->acct.fb[RP_FB_BOUNCE] +
	    run->acct.fb[RP_FB_COMPLAINT] > 0);

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
	if (root != NULL && rp_from_root(&run, root, optind == argc, &ol, &af) !=
	    0) {
		rc = EXIT_NOINPUT;
		goto out;
	}
	for (int i = optind; i < argc; i++)
		if (rp_add_path(&run, argv[i], 1) != 0) {
			rc = EXIT_NOINPUT;
			goto out;
		}
	for (size_t i = 0; i < run.nfiles; i++)
		if (run.files[i].skipped == NULL)
			rp_read(&run, &run.files[i]);
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
