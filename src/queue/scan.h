/*
 * scan: the queue directory as the daemon finds it at start-up (qfs_scan),
 * and what the operator reports (report.c) share of reading it: the
 * sorted names and what each name is.
 */
#ifndef OUTPOST_QUEUE_SCAN_H
#define OUTPOST_QUEUE_SCAN_H

#include <stddef.h>

#include "queue/entry.h"

/*
 * Start-up scan of dir (created 0700 if missing): temp files are removed
 * (WARN), unreadable or corrupt entries renamed to error.<name> (ERROR line
 * naming the file and the reason), error.* files skipped (counted), every
 * valid entry handed to fn (which takes ownership of *e). Returns the
 * number of entries loaded, or -1 when dir is unusable (*err malloc'd).
 */
typedef void (*qfs_entry_fn)(struct qentry *, void *arg);
long	 qfs_scan(const char *dir, qfs_entry_fn, void *arg, char **err);

/* What a file of the directory is, by its name; QFS_K_CORRUPT is an
 * entry that did not read (the reports' verdict). The reports sort in
 * this order. */
enum qfs_kind {
	QFS_K_ENTRY, QFS_K_CORRUPT, QFS_K_ASIDE, QFS_K_TMP, QFS_K_OTHER
};
enum qfs_kind qfs_classify(const char *name);

/* The sorted names in dir, without . and ..; -1 with errno. */
int	 qfs_dir_names(const char *dir, char ***out, size_t *n);

#endif
