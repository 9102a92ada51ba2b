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
 * Start-up scan of dir (created 0700 if missing): what is not a regular
 * file (FIFO, socket, device, directory, symbolic link) is left alone
 * without being opened (ERROR line naming it and its type), temp files
 * are removed (WARN), unreadable entries left in place (ERROR), error.*
 * files skipped (counted), body files no entry refers to removed
 * (qfs_sweep_bodies), every
 * valid entry handed to fn (which takes ownership of *e). A version 1
 * entry is first migrated (its message moved to a body file, the entry
 * rewritten as version 2; left in place with an ERROR line when that
 * fails). An entry whose body file is missing is corrupt ("message file
 * missing"). A corrupt entry whose salvage (qfs_salvage_entry)
 * names pending recipients goes to lost, when not NULL, with the reason
 * it was refused: the callee owns *e and sets the file aside once its
 * records are written (queue_set_aside); any other corrupt entry is
 * renamed to error.<name> at once (ERROR line naming the file and the
 * reason). Returns the number of entries loaded, or -1 when dir is
 * unusable (*err malloc'd).
 */
typedef void (*qfs_entry_fn)(struct qentry *, void *arg);
typedef void (*qfs_lost_fn)(struct qentry *, const char *why, void *arg);
long	 qfs_scan(const char *dir, qfs_entry_fn, qfs_lost_fn, void *arg,
	    char **err);

/* Removes the body files (regular files only) that no entry refers to
 * (refs: the count per body of the entries loaded, and of the corrupt
 * ones not yet set aside): left by a crash between a body's write and
 * its entries', or between an entry's removal and its body's. qfs_scan
 * calls it at its end, unless an entry could not be read (its body is
 * then kept). */
struct qrefs;
void	 qfs_sweep_bodies(const char *dir, const struct qrefs *refs);

/* The ERROR line of a corrupt entry set aside (err 0) or not (errno). */
void	 qfs_log_aside(const char *name, const char *why, int err);

/* What a file of the directory is, by its name; QFS_K_CORRUPT is an
 * entry that did not read (the reports' verdict). The reports sort in
 * this order. */
enum qfs_kind {
	QFS_K_ENTRY, QFS_K_CORRUPT, QFS_K_ASIDE, QFS_K_BODY, QFS_K_TMP,
	QFS_K_OTHER
};
enum qfs_kind qfs_classify(const char *name);

/* The sorted names in dir, without . and ..; -1 with errno. */
int	 qfs_dir_names(const char *dir, char ***out, size_t *n);
/* The same, sorted or in the directory's order, with each name's d_type
 * (DT_REG ...; DT_UNKNOWN when the file system does not say) in *types
 * (malloc'd) when types is not NULL. */
int	 qfs_dir_list(const char *dir, int sorted, char ***out,
	    unsigned char **types, size_t *n);

#endif
