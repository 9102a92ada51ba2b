/*
 * root: ROOT, the install directory (Haraka's layout: ROOT/config). -i
 * creates it with the default configuration; root_open() checks it and
 * loads its configuration for the daemon; --qlist and --qstat read its
 * queue directory without a running daemon and change nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtins/builtin.h"
#include "core/config.h"
#include "core/defaults.h"
#include "core/log.h"
#include "delivery/shaper_file.h"
#include "lib/xmalloc.h"
#include "queue/report.h"
#include "queue/space.h"
#include "records/space.h"
#include "outpost.h"

/* Checks ROOT and loads its configuration; an exit status on failure. */
int
root_open(const char *root, struct config **cfg)
{
	struct stat st;
	char *err = NULL;

	if (stat(root, &st) == -1) {
		fprintf(stderr, "outpost: %s: %s\n", root, strerror(errno));
		return EXIT_NOINPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outpost: %s: not a directory\n", root);
		return EXIT_NOINPUT;
	}
	err = xasprintf("%s/config", root);
	errno = 0;
	if (stat(err, &st) == -1 || !S_ISDIR(st.st_mode)) {
		const char *why = errno ? strerror(errno) : "not a directory";

		fprintf(stderr, "outpost: %s: %s (create it with outpost -i "
		    "%s)\n", err, why, root);
		free(err);
		return EXIT_NOINPUT;
	}
	free(err);
	err = NULL;
	if ((*cfg = config_load(root, &err)) == NULL) {
		log_flush_exit();
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		return EXIT_CONFIG;
	}
	return 0;
}

/* --qlist, --qstat: read the queue directory, change nothing. */
int
root_queue_report(const char *root, int list)
{
	struct config *cfg = NULL;
	int rc;

	log_set_level(LOG_WARN);
	if ((rc = root_open(root, &cfg)) != 0)
		return rc;
	rc = list ? qfs_list(cfg->core->queue_dir, stdout) :
	    qfs_stat(cfg->core->queue_dir, stdout);
	if (rc == 0 && !list) {
		qspace_report(stdout, cfg->core->queue_dir,
		    &cfg->outbound->queue_min_free);
		records_space_report(stdout, cfg);
		shaper_file_report(stdout, root, cfg->core->nodes);
		suppression_report(stdout, cfg);
	}
	config_unref(cfg);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
root_init(const char *root)
{
	char *err = NULL;

	if (defaults_install(root, &err) != 0) {
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		return EXIT_CANTCREAT;
	}
	printf("Created %s/config; run: outpost -c %s\n", root, root);
	return EXIT_SUCCESS;
}
