/*
 * report/run: what one `outpost report` run holds while it finds and
 * reads its files — shared by report.c (the command), files.c (which
 * files) and read.c (their lines).
 */
#ifndef OUTPOST_REPORT_RUN_H
#define OUTPOST_REPORT_RUN_H

#include <sys/types.h>

#include "lib/ini.h"
#include "records/bouncecat.h"
#include "report/output.h"
#include "report/stats.h"

#define LINE_MAX_LEN	(1u << 20)	/* longer lines are malformed */

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

/* A path of the command line (named) or of ROOT/config: a file, "-"
 * (standard input) or a directory walked for record files. -1 (told on
 * stderr) when a named one is missing. */
int	rp_add_path(struct run *, const char *path, int named);
/* -c ROOT: the JSON log's name, the separator and the bounce rules of
 * ROOT/config; with dirs, the record directories it names. -1 (told)
 * when ROOT/config is missing. The inis hold strings run points to. */
int	rp_from_root(struct run *, const char *root, int dirs,
	    struct ini **ol, struct ini **af);
/* Reads one file into run->acct or run->json, noting in f what it held. */
void	rp_read(struct run *, struct rp_file *f);

#endif
